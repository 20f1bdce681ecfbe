// SPDX-License-Identifier: BSD-3-Clause
/*
 * Real events from the kernel: a userfaultfd(2) with the non-cooperative
 * events, registered over the mirrored ranges in write-protect mode (so
 * that no page fault is ever handed to us), and a monitor thread that turns
 * each event into an invalidation. The userfaultfd is the address space's
 * (opened by uiommu_mm_new(), src/mm/uffd.c); the monitor starts with the
 * address space's mirror side, on its first notifier. See mirror.h for
 * what the kernel waits for and why device accesses are held while an
 * event is pending.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mirror.h"

/* Events read at once; the kernel hands out as many as are queued. */
#define UFFD_BATCH 32
/* REMOVEs kept open at once. */
#define UFFD_PENDING 32
/* The longest a REMOVE stays open waiting for its madvise to return, in ms. */
#define UFFD_PENDING_MAX_MS 1000

/* A thread that may be in madvise(start, len) (len 0: unknown), and its user time then. */
struct madvise_caller {
	pid_t tid;
	uint64_t start, len;
	unsigned long long utime;
};

/* Threads that may be a REMOVE's caller, when it was not seen blocked. */
#define UFFD_CANDIDATES 8

/* A REMOVE whose invalidation stays open until the kernel is done with it. */
struct pending_remove {
	struct uiommu_mmu_range range;
	struct madvise_caller cand[UFFD_CANDIDATES];
	size_t ncand;
	bool unfollowed; /* too many candidates: wait for the bound */
	uint64_t since_ms;
};

struct mirror_uffd {
	int fd;			  /* the address space's userfaultfd (not ours to close) */
	int stop_fd;		  /* eventfd: the monitor's signal to stop */
	pthread_t thread;
	pthread_mutex_t reg_lock; /* UFFDIO_(UN)REGISTER and the coverage they follow */
	/* The monitor's own (no lock): */
	struct pending_remove pending[UFFD_PENDING];
	size_t npending;
};

static uint64_t page_down(uint64_t a)
{
	return a & ~(MIRROR_PAGE_SIZE - 1);
}

/* Last byte of the page holding @a. */
static uint64_t page_last(uint64_t a)
{
	return a | (MIRROR_PAGE_SIZE - 1);
}

/* ---- when is the kernel done with a REMOVE? ---- */

/*
 * UFFD_EVENT_REMOVE comes before the kernel zaps the pages, and the kernel
 * goes on as soon as the event is read: a repopulation right after our
 * invalidation could fault in a page that the kernel then takes away (for
 * MADV_REMOVE, punches out of the file while a device copies it). So the
 * invalidation of a REMOVE stays open, as between Linux's
 * invalidate_range_start() and _end(), until the madvise(2) call that
 * caused it has returned. Right after the read that thread is either
 * runnable or running ("running" in /proc/self/task/TID/syscall), blocked
 * in that madvise (a lock on the way), or already back: so every thread
 * that is running or blocked in an overlapping madvise is a candidate, and
 * the invalidation ends once each has left: shows another syscall, has
 * exited, or has run user code (its utime grew). UFFD_PENDING_MAX_MS bounds
 * the wait.
 */
/*
 * Between poll() and read() the monitor must not allocate: a thread in
 * fork(2) holds glibc's malloc locks while it waits for us to read its
 * UFFD_EVENT_FORK. So /proc is read with raw syscalls, stack buffers and
 * a parser of our own.
 */
static ssize_t read_proc(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = 0;
	return n;
}

/* "/proc/self/task/" + decimal @tid + @leaf, into @buf. */
static void task_path(char *buf, pid_t tid, const char *leaf)
{
	static const char prefix[] = "/proc/self/task/";
	char digits[16];
	size_t n = 0, len = sizeof(prefix) - 1;

	memcpy(buf, prefix, len);
	do
		digits[n++] = (char)('0' + tid % 10);
	while ((tid /= 10) && n < sizeof(digits));
	while (n)
		buf[len++] = digits[--n];
	strcpy(buf + len, leaf);
}

/* Parse a number at *@p (decimal, or hex after "0x"), then skip one space. */
static uint64_t parse_num(const char **p)
{
	const char *s = *p;
	unsigned int base = 10;
	uint64_t v = 0;

	if (s[0] == '0' && s[1] == 'x') {
		base = 16;
		s += 2;
	}
	for (;; s++) {
		unsigned int d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned int)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned int)(*s - 'a' + 10);
		else
			break;
		v = v * base + d;
	}
	if (*s == ' ')
		s++;
	*p = s;
	return v;
}

static bool task_syscall(pid_t tid, long *nr, uint64_t *a0, uint64_t *a1, bool *running)
{
	char path[64], buf[256];
	const char *p = buf;

	task_path(path, tid, "/syscall");
	if (read_proc(path, buf, sizeof(buf)) <= 0)
		return false;
	*running = !strncmp(buf, "running", 7);
	if (*running)
		return true;
	if (buf[0] < '0' || buf[0] > '9') {
		*nr = -1; /* "-1 ...": blocked outside a syscall */
		*a0 = *a1 = 0;
		return true;
	}
	*nr = (long)parse_num(&p);
	*a0 = parse_num(&p);
	*a1 = parse_num(&p);
	return true;
}

static unsigned long long task_utime(pid_t tid)
{
	char path[64], buf[1024];
	const char *p;

	task_path(path, tid, "/stat");
	if (read_proc(path, buf, sizeof(buf)) <= 0)
		return 0;
	/* After "pid (comm) ", utime is the 12th field from the state. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	p += 2;
	for (int field = 0; field < 11 && *p; p++)
		if (*p == ' ')
			field++;
	return parse_num(&p);
}

/* Call @fn for each thread of this process (raw getdents64, no allocation). */
static void for_each_task(void (*fn)(void *opaque, pid_t tid), void *opaque)
{
	char buf[4096] __attribute__((aligned(8)));
	long n;
	int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return;
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			unsigned short reclen;
			const char *name = buf + off + 19; /* d_ino 8, d_off 8, d_reclen 2, d_type 1 */

			memcpy(&reclen, buf + off + 16, sizeof(reclen));
			if (name[0] >= '1' && name[0] <= '9')
				fn(opaque, (pid_t)parse_num(&name));
			off += reclen;
		}
	}
	close(fd);
}

struct cand_scan {
	uint64_t start, last;
	pid_t self;
	struct madvise_caller *cand;
	size_t n;
};

static void cand_one(void *opaque, pid_t tid)
{
	struct cand_scan *c = opaque;
	uint64_t a0 = 0, a1 = 0;
	bool running;
	long nr;

	if (c->n == SIZE_MAX || tid == c->self || !task_syscall(tid, &nr, &a0, &a1, &running))
		return;
	if (!running && (nr != SYS_madvise || !a1 ||
			 !range_overlaps(c->start, c->last, a0, a0 + a1 - 1)))
		return;
	if (c->n == UFFD_CANDIDATES) {
		c->n = SIZE_MAX; /* too many to follow: the bound decides */
		return;
	}
	c->cand[c->n++] = (struct madvise_caller){ .tid = tid, .start = running ? 0 : a0,
						   .len = running ? 0 : a1,
						   .utime = task_utime(tid) };
}

/* After the read: the threads that may still be in the madvise of [start, last]. */
static size_t candidates_now(uint64_t start, uint64_t last, struct madvise_caller *cand)
{
	struct cand_scan c = { .start = start, .last = last,
			       .self = (pid_t)syscall(SYS_gettid), .cand = cand };

	for_each_task(cand_one, &c);
	return c.n;
}

static bool caller_returned(const struct madvise_caller *c)
{
	uint64_t a0, a1;
	bool running;
	long nr;

	if (!task_syscall(c->tid, &nr, &a0, &a1, &running))
		return true; /* gone */
	if (!running) {
		if (!c->len) /* args unknown: any madvise may still be it */
			return nr != SYS_madvise;
		return nr != SYS_madvise || a0 != c->start || a1 != c->len;
	}
	return task_utime(c->tid) > c->utime;
}

static bool pending_done(const struct pending_remove *p)
{
	if (p->unfollowed)
		return false;
	for (size_t i = 0; i < p->ncand; i++)
		if (!caller_returned(&p->cand[i]))
			return false;
	return true;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* End the REMOVEs whose madvise has returned (all of them with @all). */
static void end_pending(struct mirror_mm *mm, bool all)
{
	struct mirror_uffd *u = mm->uffd;
	uint64_t now = mono_ms();

	for (size_t i = 0; i < u->npending;) {
		struct pending_remove *p = &u->pending[i];

		if (!all && !pending_done(p) && now - p->since_ms < UFFD_PENDING_MAX_MS) {
			i++;
			continue;
		}
		if (!all && now - p->since_ms >= UFFD_PENDING_MAX_MS)
			ctx_warn(mm->ctx, "mirror: madvise of [0x%llx, 0x%llx] not seen to return after "
					  "%u ms: ending its invalidation",
				 (unsigned long long)p->range.start, (unsigned long long)p->range.last,
				 UFFD_PENDING_MAX_MS);
		mirror_invalidate_end(mm);
		*p = u->pending[--u->npending];
	}
}

/* ---- events ---- */

static void invalidate(struct mirror_mm *mm, uint64_t start, uint64_t last,
		       enum uiommu_mmu_event event)
{
	const struct uiommu_mmu_range range = { .start = start, .last = last, .event = event,
						.flags = UIOMMU_MMU_RANGE_BLOCKABLE };

	if (!mirror_invalidate_start(mm, &range))
		mirror_invalidate_end(mm);
}

/* Invalidate, with PROTECTION_PAGE, the private writable mappings fork made copy-on-write. */
static bool fork_vma_cb(void *opaque, const struct mirror_vma *vma)
{
	struct mirror_mm *mm = opaque;

	if (vma->perms[1] == 'w' && vma->perms[3] == 'p')
		invalidate(mm, vma->start, vma->last, UIOMMU_MMU_NOTIFY_PROTECTION_PAGE);
	return true;
}

static void handle_event(struct mirror_mm *mm, const struct uffd_msg *msg)
{
	struct mirror_uffd *u = mm->uffd;

	switch (msg->event) {
	case UFFD_EVENT_UNMAP:
		atomic_fetch_add_explicit(&mm->st_events[0], 1, memory_order_relaxed);
		if (msg->arg.remove.end > msg->arg.remove.start)
			invalidate(mm, msg->arg.remove.start, msg->arg.remove.end - 1,
				   UIOMMU_MMU_NOTIFY_UNMAP);
		break;
	case UFFD_EVENT_REMOVE: {
		const struct uiommu_mmu_range range = {
			.start = msg->arg.remove.start, .last = msg->arg.remove.end - 1,
			.event = UIOMMU_MMU_NOTIFY_CLEAR, .flags = UIOMMU_MMU_RANGE_BLOCKABLE };
		struct pending_remove *pend;

		atomic_fetch_add_explicit(&mm->st_events[1], 1, memory_order_relaxed);
		if (msg->arg.remove.end <= msg->arg.remove.start)
			break;
		if (mirror_invalidate_start(mm, &range))
			break;
		if (u->npending == UFFD_PENDING)
			end_pending(mm, true);
		pend = &u->pending[u->npending++];
		*pend = (struct pending_remove){ .range = range, .since_ms = mono_ms() };
		pend->ncand = candidates_now(range.start, range.last, pend->cand);
		if (pend->ncand == SIZE_MAX) {
			pend->ncand = 0;
			pend->unfollowed = true;
		}
		break;
	}
	case UFFD_EVENT_REMAP:
		/* The old range no longer maps what was mirrored (Linux move_page_tables: UNMAP). */
		atomic_fetch_add_explicit(&mm->st_events[2], 1, memory_order_relaxed);
		if (msg->arg.remap.len)
			invalidate(mm, msg->arg.remap.from, msg->arg.remap.from + msg->arg.remap.len - 1,
				   UIOMMU_MMU_NOTIFY_UNMAP);
		break;
	case UFFD_EVENT_FORK:
		/*
		 * The child's mappings came with a userfaultfd of their own: we do
		 * not follow the child, and closing it unregisters them. Our own
		 * private writable pages are now copy-on-write (Linux
		 * copy_page_range() invalidates them with PROTECTION_PAGE).
		 */
		atomic_fetch_add_explicit(&mm->st_events[3], 1, memory_order_relaxed);
		close((int)msg->arg.fork.ufd);
		if (mirror_maps_walk(mm->ctx, fork_vma_cb, mm))
			invalidate(mm, 0, UINT64_MAX, UIOMMU_MMU_NOTIFY_PROTECTION_PAGE);
		break;
	default: {
		/* A page fault: impossible in write-protect mode without protection. Let it go. */
		struct uffdio_range r = { .start = page_down(msg->arg.pagefault.address),
					  .len = MIRROR_PAGE_SIZE };

		atomic_fetch_add_explicit(&mm->st_events[4], 1, memory_order_relaxed);
		if (msg->event == UFFD_EVENT_PAGEFAULT)
			ioctl(u->fd, UFFDIO_WAKE, &r);
		ctx_warn(mm->ctx, "mirror: unexpected userfaultfd event %u", msg->event);
		break;
	}
	}
}

/* Read one batch of queued events and handle it; false when nothing was queued. */
static bool drain_events(struct mirror_mm *mm)
{
	struct uffd_msg msgs[UFFD_BATCH];
	ssize_t n;

	do
		n = read(mm->uffd->fd, msgs, sizeof(msgs));
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return false;
	for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++)
		handle_event(mm, &msgs[i]);
	return true;
}

static void *monitor_thread(void *arg)
{
	struct mirror_mm *mm = arg;
	struct mirror_uffd *u = mm->uffd;

	for (;;) {
		struct pollfd p[2] = { { .fd = u->fd, .events = POLLIN },
				       { .fd = u->stop_fd, .events = POLLIN } };

		if (poll(p, 2, u->npending ? 1 : -1) < 0)
			continue; /* EINTR */
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN)) {
			if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL))
				break;
			end_pending(mm, false);
			continue;
		}
		/*
		 * An event is pending and its thread waits until we read it. Hold
		 * device accesses first, and keep holding until every event read
		 * meanwhile is invalidated: then nothing reaches a page the kernel
		 * goes on to take away once read() has let it go.
		 */
		mm_dma_hold(mm->mm);
		while (drain_events(mm))
			;
		mm_dma_release(mm->mm);
		end_pending(mm, false);
	}
	end_pending(mm, true);
	return NULL;
}

/* ---- start and stop ---- */

/* Start following the kernel: the monitor, on the address space's userfaultfd (mm/uffd.c). */
int uffd_open(struct mirror_mm *mm)
{
	struct uiommu_ctx *ctx = mm->ctx;
	struct mirror_uffd *u;
	sigset_t all, old;
	int ret;

	u = ctx_alloc(ctx, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->fd = mm->mm->uffd;
	pthread_mutex_init(&u->reg_lock, NULL);
	u->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (u->stop_fd < 0) {
		ret = -ENOMEM;
		goto err;
	}
	mm->uffd = u;
	/* The monitor takes no signal: they belong to the application's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&u->thread, NULL, monitor_thread, mm);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret || ctx_fault(ctx, UIOMMU_FAULT_HEAP)) {
		if (!ret) {
			eventfd_write(u->stop_fd, 1);
			pthread_join(u->thread, NULL);
		}
		mm->uffd = NULL;
		ret = -ENOMEM;
		goto err;
	}
	return 0;

err:
	if (u->stop_fd >= 0)
		close(u->stop_fd);
	pthread_mutex_destroy(&u->reg_lock);
	ctx_free(ctx, u);
	return ret;
}

void uffd_close(struct mirror_mm *mm)
{
	struct mirror_uffd *u = mm->uffd;
	struct uiommu_interval_notifier *n;

	if (!u)
		return;
	eventfd_write(u->stop_fd, 1);
	pthread_join(u->thread, NULL);
	/*
	 * Unregister explicitly: a child process that inherited the descriptor
	 * keeps the kernel's context alive after our close, and the kernel would
	 * then wait forever for someone to read our events.
	 */
	pthread_mutex_lock(&u->reg_lock);
	pthread_mutex_lock(&mm->lock);
	for (n = mm_itree_first(&mm->itree, 0, UINT64_MAX); n;
	     n = mm_itree_next(n, 0, UINT64_MAX)) {
		struct uffdio_range r = { .start = page_down(n->start) };

		r.len = page_last(MIN(n->last, (uint64_t)UINTPTR_MAX)) - r.start + 1;
		ioctl(u->fd, UFFDIO_UNREGISTER, &r);
	}
	mm->uffd = NULL;
	pthread_mutex_unlock(&mm->lock);
	pthread_mutex_unlock(&u->reg_lock);
	close(u->stop_fd); /* the userfaultfd is the address space's: uiommu_mm_free() closes it */
	pthread_mutex_destroy(&u->reg_lock);
	ctx_free(mm->ctx, u);
}

/* ---- registrations ---- */

void uffd_reg_lock(struct mirror_mm *mm)
{
	pthread_mutex_lock(&mm->uffd->reg_lock);
}

void uffd_reg_unlock(struct mirror_mm *mm)
{
	pthread_mutex_unlock(&mm->uffd->reg_lock);
}

int uffd_register(struct mirror_mm *mm, uint64_t start, uint64_t last)
{
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_WP };
	uint64_t first = page_down(start);

	if (last > (uint64_t)INTPTR_MAX) {
		ctx_err(mm->ctx, "mirror: [0x%llx, 0x%llx] is not a user address range",
			(unsigned long long)start, (unsigned long long)last);
		return -EFAULT;
	}
	reg.range.start = first;
	reg.range.len = page_last(last) - first + 1;
	if (!ioctl(mm->uffd->fd, UFFDIO_REGISTER, &reg))
		return 0;
	switch (errno) {
	case EBUSY:
		ctx_err(mm->ctx, "mirror: [0x%llx, 0x%llx] is registered with another userfaultfd",
			(unsigned long long)start, (unsigned long long)last);
		return -EBUSY;
	case ENOMEM:
		return -ENOMEM;
	default:
		ctx_err(mm->ctx, "mirror: cannot follow [0x%llx, 0x%llx] with userfaultfd: %s "
				 "(nothing mapped, or a mapping it cannot register)",
			(unsigned long long)start, (unsigned long long)last, strerror(errno));
		return -EFAULT;
	}
}

/*
 * Unregister the pages of [start, last] that no interval covers. The
 * intervals come in order of start, so the gaps between their page spans
 * are the runs to unregister. Under reg_lock (the caller's).
 */
void uffd_unregister_uncovered(struct mirror_mm *mm, uint64_t start, uint64_t last)
{
	uint64_t cursor = page_down(start), end = page_last(MIN(last, (uint64_t)INTPTR_MAX));
	struct uiommu_interval_notifier *n, *d;
	struct uffdio_range r;

	pthread_mutex_lock(&mm->lock);
	/* A deferred insert is not in the tree yet: keep everything registered. */
	SLIST_FOREACH(d, &mm->deferred, deferred_item)
		if (!d->in_tree && range_overlaps(d->start, d->last, cursor, end))
			goto out;
	for (n = mm_itree_first(&mm->itree, cursor, end); n && cursor <= end;
	     n = mm_itree_next(n, cursor, end)) {
		uint64_t ns = page_down(n->start), nl = page_last(MIN(n->last, end));

		if (ns > cursor) {
			r = (struct uffdio_range){ .start = cursor, .len = ns - cursor };
			ioctl(mm->uffd->fd, UFFDIO_UNREGISTER, &r);
		}
		if (nl >= cursor)
			cursor = nl + 1;
		if (nl == end)
			goto out;
	}
	if (cursor <= end) {
		r = (struct uffdio_range){ .start = cursor, .len = end - cursor + 1 };
		ioctl(mm->uffd->fd, UFFDIO_UNREGISTER, &r);
	}
out:
	pthread_mutex_unlock(&mm->lock);
}
