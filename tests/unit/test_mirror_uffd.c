// SPDX-License-Identifier: BSD-3-Clause
/*
 * Mirrors following the real kernel through userfaultfd(2): what the kernel
 * waits for on UFFD_EVENT_REMOVE and UFFD_EVENT_UNMAP (proved on a raw
 * userfaultfd), that registration changes nothing the process sees, that
 * munmap, madvise, mremap and fork become the right invalidations, and that
 * no device access reaches a page after the kernel has begun to take it
 * away; and, under a seccomp filter, what a process without userfaultfd
 * is told. Skips (77) where userfaultfd is not available.
 */
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "test_util.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define PAGE 4096ULL

static struct uiommu_mm *uffd_mm(struct uiommu_ctx *ctx)
{
	struct uiommu_mm *mm = NULL;

	assert_int_equal(uiommu_mm_new(ctx, UIOMMU_MM_USERFAULTFD, &mm), 0);
	return mm;
}

static struct uiommu_mm_stats stats(struct uiommu_mm *mm)
{
	struct uiommu_mm_stats st;

	assert_int_equal(uiommu_mm_get_stats(mm, &st), 0);
	return st;
}

/* Wait until everything the monitor has read is invalidated: a hold cycle is done. */
static void monitor_sync(struct uiommu_mm *mm)
{
	uiommu_mm_dma_begin(mm);
	uiommu_mm_dma_end(mm);
}

/* ---- the kernel's side, on a raw userfaultfd ---- */

struct op {
	char *p;
	size_t len;
	int what; /* 0 madvise(DONTNEED), 1 munmap */
	_Atomic bool done;
};

static void *op_thread(void *arg)
{
	struct op *op = arg;

	if (op->what == 0)
		madvise(op->p, op->len, MADV_DONTNEED);
	else
		munmap(op->p, op->len);
	atomic_store(&op->done, true);
	return NULL;
}

static void wait_pollin(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	assert_int_equal(poll(&p, 1, -1), 1);
}

static void test_kernel_waits_for_read(void **state)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_WP };
	struct op op = { 0 };
	struct uffd_msg msg;
	unsigned char vec;
	pthread_t t;
	char *p;
	int fd;

	(void)state;
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

		if (dev >= 0) {
			fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
			close(dev);
		}
	}
	if (fd < 0)
		skip();
	assert_int_equal(ioctl(fd, UFFDIO_API, &api), 0);
	p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	memset(p, 7, 2 * PAGE);
	reg.range.start = (uintptr_t)p;
	reg.range.len = 2 * PAGE;
	assert_int_equal(ioctl(fd, UFFDIO_REGISTER, &reg), 0);

	/*
	 * REMOVE: the event is queued before the pages are zapped, and the
	 * thread waits. While it is unread, the page is intact and madvise has
	 * not returned.
	 */
	op = (struct op){ .p = p, .len = PAGE, .what = 0 };
	assert_int_equal(pthread_create(&t, NULL, op_thread, &op), 0);
	wait_pollin(fd);
	for (int i = 0; i < 1000; i++)
		sched_yield();
	assert_false(atomic_load(&op.done));
	assert_int_equal(p[0], 7);
	/* Reading it, and nothing else, lets the kernel go on: it waits for the read only. */
	assert_int_equal(read(fd, &msg, sizeof(msg)), (ssize_t)sizeof(msg));
	assert_int_equal(msg.event, UFFD_EVENT_REMOVE);
	pthread_join(t, NULL);
	assert_true(atomic_load(&op.done));
	assert_int_equal(p[0], 0); /* zapped after the read */

	/*
	 * UNMAP: the event is queued after the range is unmapped (mincore says
	 * ENOMEM while it is pending), and munmap returns only once it is read.
	 */
	op = (struct op){ .p = p + PAGE, .len = PAGE, .what = 1 };
	assert_int_equal(pthread_create(&t, NULL, op_thread, &op), 0);
	wait_pollin(fd);
	for (int i = 0; i < 1000; i++)
		sched_yield();
	assert_false(atomic_load(&op.done));
	assert_int_equal(mincore(p + PAGE, PAGE, &vec), -1);
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(read(fd, &msg, sizeof(msg)), (ssize_t)sizeof(msg));
	assert_int_equal(msg.event, UFFD_EVENT_UNMAP);
	pthread_join(t, NULL);
	close(fd); /* first: a munmap of a registered range would wait for a reader */
	munmap(p, PAGE);
}

/* ---- the library ---- */

static void test_uffd_errors_and_invisible(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_mirror *m, *m2;
	struct uiommu_mm *mm = uffd_mm(ctx), *other = uffd_mm(ctx);
	char *anon, *gap;

	(void)state;
	anon = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(anon != MAP_FAILED);
	/* Registered (write-protect mode, nothing protected): the process sees no difference. */
	assert_int_equal(uiommu_mirror_new(mm, anon, 16 * PAGE, 0, &m), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(anon[i * PAGE], 0); /* never-touched pages fault in as usual */
	memset(anon, 3, 16 * PAGE);
	assert_int_equal(anon[5 * PAGE + 7], 3);
	assert_int_equal(uiommu_mirror_populate(m), 0);
	monitor_sync(mm);
	assert_int_equal(stats(mm).events[4], 0); /* no page fault was handed to us */

	/* Another userfaultfd holds that range: -EBUSY. */
	assert_int_equal(uiommu_mirror_new(other, anon, PAGE, 0, &m2), -EBUSY);
	/* Nothing mapped: -EFAULT. */
	gap = mmap(NULL, 4 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(gap, 4 * PAGE);
	assert_int_equal(uiommu_mirror_new(mm, gap, 4 * PAGE, 0, &m2), -EFAULT);
	/* Not a user address: -EFAULT. */
	assert_int_equal(uiommu_mirror_new(mm, (void *)(uintptr_t)(1ULL << 63), PAGE, 0, &m2),
			 -EFAULT);
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_NOTIFIERS), 1);

	assert_int_equal(uiommu_mirror_free(m), 0);
	assert_int_equal(uiommu_mm_free(mm), 0);
	assert_int_equal(uiommu_mm_free(other), 0);
	munmap(anon, 16 * PAGE);
	test_ctx_free(ctx);
}

/* A RAM region, and this process's own mapping of its file at another address. */
struct shm {
	int fd;
	uint64_t hpa;
	char *ua;
	size_t size;
};

static void shm_new(struct uiommu_ctx *ctx, struct shm *s, size_t size)
{
	s->size = size;
	s->fd = memfd_create("mirror-uffd", MFD_CLOEXEC);
	assert_true(s->fd >= 0);
	assert_int_equal(ftruncate(s->fd, (off_t)size), 0);
	assert_int_equal(uiommu_ram_add(ctx, s->fd, 0, size, NULL, &s->hpa), 0);
	s->ua = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	assert_true(s->ua != MAP_FAILED);
}

static void shm_free(struct uiommu_ctx *ctx, struct shm *s)
{
	munmap(s->ua, s->size);
	assert_int_equal(uiommu_ram_remove(ctx, s->hpa), 0);
	close(s->fd);
}

static int dev_translate(struct uiommu_mm *mm, struct uiommu_tce_table *tbl, uint64_t ioba)
{
	unsigned int prot;
	uint64_t hpa;
	int ret;

	uiommu_mm_dma_begin(mm);
	ret = uiommu_tce_table_translate(tbl, ioba, &hpa, &prot);
	uiommu_mm_dma_end(mm);
	return ret;
}

static void test_uffd_munmap(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_mm *mm = uffd_mm(ctx);
	struct uiommu_tce_table *tbl;
	struct uiommu_mirror *m;
	struct uiommu_mm_stats st;
	struct shm s;

	(void)state;
	shm_new(ctx, &s, 256 * KiB);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, 1ULL << 30, 2, &tbl), 0);
	assert_int_equal(uiommu_mirror_new(mm, s.ua, 64 * KiB, 0, &m), 0);
	assert_int_equal(uiommu_mirror_bind(m, tbl, 0, UIOMMU_MIRROR_BIND_FAULT), 0);
	assert_int_equal(uiommu_mirror_populate(m), 0);
	assert_int_equal(dev_translate(mm, tbl, 5 * PAGE), 0);

	/*
	 * munmap returns once the monitor has read the event, and the monitor
	 * holds device accesses from then until the invalidation is done: the
	 * first access after munmap finds the TCEs gone.
	 */
	assert_int_equal(munmap(s.ua + 5 * PAGE, PAGE), 0);
	assert_int_equal(dev_translate(mm, tbl, 5 * PAGE), -EFAULT);
	assert_int_equal(dev_translate(mm, tbl, 0), -EFAULT);
	st = stats(mm);
	assert_int_equal(st.events[0], 1);
	assert_true(st.invalidations[UIOMMU_MMU_NOTIFY_UNMAP] >= 1);
	assert_true(st.dma_holds >= 1);
	/* The range was unmapped: no re-fault, the device fault is not recoverable. */
	assert_int_equal(uiommu_mirror_populate(m), -EFAULT);
	assert_int_equal(uiommu_mm_handle_fault(mm, tbl, 0), -EFAULT);
	assert_int_equal(uiommu_mirror_free(m), 0);
	assert_int_equal(uiommu_mm_free(mm), 0);
	assert_null(uiommu_tce_table_unref(tbl));
	shm_free(ctx, &s);
	test_ctx_free(ctx);
}

struct madv {
	char *p;
	size_t len;
	int advice;
	_Atomic bool done;
};

static void *madv_thread(void *arg)
{
	struct madv *a = arg;

	assert_int_equal(madvise(a->p, a->len, a->advice), 0);
	atomic_store(&a->done, true);
	return NULL;
}

/*
 * The guarantee: while a device access is in flight, the kernel cannot
 * begin to take the page away (the monitor holds the event unread until the
 * access ends), and no access starts again until the invalidation is done.
 */
static void test_uffd_hold(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_mm *mm = uffd_mm(ctx);
	struct uiommu_tce_table *tbl;
	struct uiommu_mirror *m, *anon_m;
	struct madv a = { 0 };
	struct shm s;
	pthread_t t;
	uint64_t holds;
	char *anon;

	(void)state;
	shm_new(ctx, &s, 64 * KiB);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, 1ULL << 30, 2, &tbl), 0);
	assert_int_equal(uiommu_mirror_new(mm, s.ua, 64 * KiB, 0, &m), 0);
	assert_int_equal(uiommu_mirror_bind(m, tbl, 0, 0), 0);
	assert_int_equal(uiommu_mirror_populate(m), 0);
	memset(s.ua, 9, 64 * KiB);

	/* MADV_REMOVE (a hole in the file) while a device access is in flight. */
	holds = stats(mm).dma_holds;
	uiommu_mm_dma_begin(mm);
	a = (struct madv){ .p = s.ua + PAGE, .len = PAGE, .advice = MADV_REMOVE };
	assert_int_equal(pthread_create(&t, NULL, madv_thread, &a), 0);
	/* The monitor saw the event pending and waits for our access to end... */
	/* Unbounded, as the thread may start late; a hang is the test's timeout. */
	while (stats(mm).dma_holds == holds)
		sched_yield();
	assert_true(stats(mm).dma_holds > holds);
	for (int i = 0; i < 1000; i++)
		sched_yield();
	/* ...so the kernel has not begun: the page is intact, madvise has not returned. */
	assert_false(atomic_load(&a.done));
	assert_int_equal(s.ua[PAGE], 9);
	assert_true(uiommu_mirror_valid(m));
	uiommu_mm_dma_end(mm);
	pthread_join(t, NULL);
	/* The next access starts only once the TCEs are gone. */
	assert_int_equal(dev_translate(mm, tbl, PAGE), -EFAULT);
	assert_false(uiommu_mirror_valid(m));
	assert_int_equal(s.ua[PAGE], 0);
	assert_int_equal(stats(mm).events[1], 1);
	/* CLEAR, not UNMAP: the range repopulates. */
	assert_int_equal(uiommu_mirror_populate(m), 0);
	assert_int_equal(dev_translate(mm, tbl, PAGE), 0);

	/* MADV_DONTNEED on anonymous memory: CLEAR, new pages after. */
	anon = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(anon != MAP_FAILED);
	memset(anon, 1, 8 * PAGE);
	assert_int_equal(uiommu_mirror_new(mm, anon, 8 * PAGE, 0, &anon_m), 0);
	assert_int_equal(uiommu_mirror_populate(anon_m), 0);
	assert_int_equal(madvise(anon, 8 * PAGE, MADV_DONTNEED), 0);
	monitor_sync(mm);
	assert_false(uiommu_mirror_valid(anon_m));
	assert_int_equal(anon[0], 0);
	assert_int_equal(uiommu_mirror_populate(anon_m), 0);
	assert_int_equal(uiommu_mirror_free(anon_m), 0);
	munmap(anon, 8 * PAGE);

	assert_int_equal(uiommu_mirror_free(m), 0);
	assert_int_equal(uiommu_mm_free(mm), 0);
	assert_null(uiommu_tce_table_unref(tbl));
	shm_free(ctx, &s);
	test_ctx_free(ctx);
}

static void test_uffd_mremap(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_mm *mm = uffd_mm(ctx);
	struct uiommu_mirror *m;
	char *p, *q;

	(void)state;
	p = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	memset(p, 4, 8 * PAGE);
	assert_int_equal(uiommu_mirror_new(mm, p, 8 * PAGE, 0, &m), 0);
	assert_int_equal(uiommu_mirror_populate(m), 0);
	q = mremap(p, 8 * PAGE, 16 * PAGE, MREMAP_MAYMOVE);
	assert_true(q != MAP_FAILED);
	monitor_sync(mm);
	if (q != p) {
		/* Moved: REMAP, the old range no longer maps the pages. */
		assert_int_equal(stats(mm).events[2], 1);
		struct uiommu_mirror_info info;

		assert_int_equal(uiommu_mirror_get_info(m, &info), 0);
		assert_true(info.unmapped);
		assert_int_equal(uiommu_mirror_populate(m), -EFAULT);
	}
	assert_int_equal(q[5 * PAGE], 4);
	assert_int_equal(uiommu_mirror_free(m), 0);
	assert_int_equal(uiommu_mm_free(mm), 0);
	munmap(q, 16 * PAGE);
	test_ctx_free(ctx);
}

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

static void test_uffd_fork(void **state)
{
#ifdef UNDER_TSAN
	/*
	 * ThreadSanitizer holds its runtime's locks across fork(), and the
	 * monitor, instrumented, needs them before it can read the FORK event
	 * the forking thread waits for: the same deadlock that glibc's malloc
	 * locks would cause if the monitor allocated there.
	 */
	(void)state;
	skip();
#endif
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_mm *mm = uffd_mm(ctx);
	struct uiommu_mirror *priv, *shared;
	struct shm s;
	char *anon;
	pid_t pid;
	int status;

	(void)state;
	shm_new(ctx, &s, 64 * KiB);
	anon = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(anon != MAP_FAILED);
	memset(anon, 2, 8 * PAGE);
	assert_int_equal(uiommu_mirror_new(mm, anon, 8 * PAGE, 0, &priv), 0);
	assert_int_equal(uiommu_mirror_new(mm, s.ua, 64 * KiB, 0, &shared), 0);
	assert_int_equal(uiommu_mirror_populate(priv), 0);
	assert_int_equal(uiommu_mirror_populate(shared), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/*
		 * The child's mappings came with a userfaultfd of their own, which
		 * the parent's monitor closes: this munmap must not wait forever.
		 */
		_exit(anon[0] == 2 && munmap(anon, 8 * PAGE) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	monitor_sync(mm);
	/* FORK: private writable pages are copy-on-write now; shared ones are not. */
	assert_int_equal(stats(mm).events[3], 1);
	assert_false(uiommu_mirror_valid(priv));
	assert_true(uiommu_mirror_valid(shared));
	assert_int_equal(uiommu_mirror_populate(priv), 0);
	assert_int_equal(uiommu_mirror_free(priv), 0);
	assert_int_equal(uiommu_mirror_free(shared), 0);
	assert_int_equal(uiommu_mm_free(mm), 0);
	munmap(anon, 8 * PAGE);
	shm_free(ctx, &s);
	test_ctx_free(ctx);
}

/*
 * A child that inherited the userfaultfd keeps the kernel's context alive:
 * uiommu_mm_free() must unregister, or our own munmap would wait forever.
 */
static void test_uffd_free_unregisters(void **state)
{
#ifdef UNDER_TSAN
	(void)state;
	skip(); /* it forks: see test_uffd_fork */
#endif
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_mm *mm = uffd_mm(ctx);
	struct uiommu_mirror *m;
	int pipefd[2], status;
	char *p, c;
	pid_t pid;

	(void)state;
	p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	assert_int_equal(uiommu_mirror_new(mm, p, 4 * PAGE, 0, &m), 0);
	assert_int_equal(uiommu_mirror_free(m), 0);
	assert_int_equal(uiommu_mirror_new(mm, p, 4 * PAGE, 0, &m), 0);
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pipefd[1]);
		_exit(read(pipefd[0], &c, 1) < 0);
	}
	close(pipefd[0]);
	assert_int_equal(uiommu_mirror_free(m), 0);
	assert_int_equal(uiommu_mm_free(mm), 0);
	assert_int_equal(munmap(p, 4 * PAGE), 0); /* would hang if still registered */
	close(pipefd[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	test_ctx_free(ctx);
}

static void test_uffd_fault_loop(void **state)
{
	int ret = -1;

	(void)state;
	for (uint64_t nth = 1; ret; nth++) {
		struct uiommu_ctx *ctx = test_ctx_new();
		struct uiommu_mirror *m = NULL;
		struct uiommu_mm *mm = NULL;
		char *p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		assert_int_equal(uiommu_ctx_inject_fault(ctx, nth, UIOMMU_FAULT_ALL), 0);
		ret = uiommu_mm_new(ctx, UIOMMU_MM_USERFAULTFD, &mm);
		if (!ret)
			ret = uiommu_mirror_new(mm, p, 4 * PAGE, 0, &m);
		if (!ret)
			ret = uiommu_mirror_populate(m);
		assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
		if (ret)
			assert_int_equal(ret, -ENOMEM);
		if (m)
			assert_int_equal(uiommu_mirror_free(m), 0);
		if (mm)
			assert_int_equal(uiommu_mm_free(mm), 0);
		munmap(p, 4 * PAGE); /* would hang if a failed path left it registered */
		assert_ctx_clean(ctx);
		assert_int_equal(uiommu_ctx_free(ctx), 0);
		assert_true(nth < 200);
	}
}

/* ---- a process without userfaultfd ---- */

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define TEST_AUDIT_ARCH AUDIT_ARCH_PPC64LE
#endif

static void log_keep(void *opaque, enum uiommu_log_level level, const char *msg)
{
	(void)level;
	snprintf(opaque, 256, "%s", msg);
}

/*
 * As on a kernel built without userfaultfd: a seccomp filter answers the
 * syscall ENOSYS and /dev/userfaultfd's USERFAULTFD_IOC_NEW ENOTTY.
 * uiommu_mm_new(UIOMMU_MM_USERFAULTFD) is -EOPNOTSUPP, says why, and
 * charges nothing; without the flag it still works. In a fork() child,
 * which the filter goes with.
 */
static void test_uffd_unavailable(void **state)
{
#ifdef TEST_AUDIT_ARCH
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_userfaultfd, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 3),
		/* The request's low 32 bits (little-endian). */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, USERFAULTFD_IOC_NEW, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOTTY),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };
	int status;
	pid_t pid;

	(void)state;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct uiommu_ctx *ctx = NULL;
		struct uiommu_mm *mm = NULL;
		char msg[256] = "";
		uint64_t used = 1;

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
			_exit(TEST_SKIP_EXIT); /* no seccomp here: nothing to prove */
		if (syscall(SYS_userfaultfd, O_CLOEXEC) >= 0 || errno != ENOSYS ||
		    uiommu_ctx_new(NULL, &ctx) ||
		    uiommu_ctx_set_log(ctx, log_keep, msg, UIOMMU_LOG_ERR))
			_exit(2);
		if (uiommu_mm_new(ctx, UIOMMU_MM_USERFAULTFD, &mm) != -EOPNOTSUPP || mm ||
		    !strstr(msg, "userfaultfd is not available") ||
		    uiommu_ctx_get_usage(ctx, UIOMMU_RES_ADDRESS_SPACES, &used) || used)
			_exit(3);
		if (uiommu_mm_new(ctx, 0, &mm) || uiommu_mm_free(mm) || uiommu_ctx_free(ctx))
			_exit(4);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == TEST_SKIP_EXIT)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
#else
	(void)state;
	skip(); /* no seccomp architecture number for this build */
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_waits_for_read),
		cmocka_unit_test(test_uffd_errors_and_invisible),
		cmocka_unit_test(test_uffd_munmap),
		cmocka_unit_test(test_uffd_hold),
		cmocka_unit_test(test_uffd_mremap),
		cmocka_unit_test(test_uffd_fork),
		cmocka_unit_test(test_uffd_free_unregisters),
		cmocka_unit_test(test_uffd_fault_loop),
		cmocka_unit_test(test_uffd_unavailable),
	};
	struct uiommu_ctx *ctx;
	struct uiommu_mm *mm;
	int ret;

	test_require_memfd();
	ctx = test_ctx_new();
	ret = uiommu_mm_new(ctx, UIOMMU_MM_USERFAULTFD, &mm);
	if (ret) {
		fprintf(stderr, "userfaultfd with non-cooperative events is not available (%s): "
				"skipping\n", uiommu_strerror(ret));
		uiommu_ctx_free(ctx);
		return TEST_SKIP_EXIT;
	}
	uiommu_mm_free(mm);
	uiommu_ctx_free(ctx);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
