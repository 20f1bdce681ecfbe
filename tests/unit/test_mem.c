// SPDX-License-Identifier: BSD-3-Clause
/*
 * Host memory model: RAM regions, hpa <-> host pointer, host frames (with a
 * model test of the buddy allocator), hostmem buffers, pinning. Every error
 * listed in mem.h is provoked here.
 */
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* ---- RAM regions ---- */

static void test_ram_create(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	uint64_t hpa, hpa2, off, len, back;
	char *hva, *p;
	int fd;

	(void)state;
	assert_int_equal(uiommu_ram_create(ctx, 4 * MiB, &hpa, (void **)&hva), 0);
	assert_true(hpa % UIOMMU_HPA_REGION_ALIGN == 0);
	assert_true(hpa >= UIOMMU_HPA_LIBRARY_BASE + UIOMMU_HPA_LIBRARY_SIZE);
	assert_true(ctx_usage(ctx, UIOMMU_RES_RAM_REGIONS) == 1);
	assert_int_equal(hva[12345], 0);

	/* hpa <-> host pointer, both ways. */
	assert_int_equal(uiommu_hpa_to_hva(ctx, hpa + 0x1234, 16, (void **)&p), 0);
	assert_ptr_equal(p, hva + 0x1234);
	assert_int_equal(uiommu_hva_to_hpa(ctx, hva + 4 * MiB - 1, &back), 0);
	assert_true(back == hpa + 4 * MiB - 1);

	/* The memfd sees what the mapping wrote, and the other way round. */
	memcpy(hva + 8192, "hello", 6);
	assert_int_equal(uiommu_ram_get_fd(ctx, hpa + 8192, &fd, &off, &len), 0);
	assert_true(off == 8192);
	assert_true(len == 4 * MiB - 8192);
	{
		char buf[6];

		assert_int_equal(pread(fd, buf, 6, (off_t)off), 6);
		assert_string_equal(buf, "hello");
		assert_int_equal(pwrite(fd, "HI", 2, 100), 2);
		assert_int_equal(hva[100], 'H');
	}
	assert_int_equal(uiommu_ram_get_fd(ctx, hpa, &fd, &off, NULL), 0);
	assert_true(off == 0);

	/* The next region's hpa is aligned and above. */
	assert_int_equal(uiommu_ram_create(ctx, 4096, &hpa2, NULL), 0);
	assert_true(hpa2 > hpa && hpa2 % UIOMMU_HPA_REGION_ALIGN == 0);

	/* Removal allocates the new lookup arrays: out of memory, nothing changes. */
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 1, UIOMMU_FAULT_HEAP), 0);
	assert_int_equal(uiommu_ram_remove(ctx, hpa), -ENOMEM);
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 2, UIOMMU_FAULT_HEAP), 0);
	assert_int_equal(uiommu_ram_remove(ctx, hpa), -ENOMEM);
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
	assert_int_equal(uiommu_hpa_to_hva(ctx, hpa, 1, (void **)&p), 0);
	assert_int_equal(uiommu_ram_remove(ctx, hpa), 0);
	assert_int_equal(uiommu_ram_remove(ctx, hpa), -ENOENT);
	assert_int_equal(uiommu_hpa_to_hva(ctx, hpa, 1, (void **)&p), -EFAULT);
	assert_int_equal(uiommu_ram_remove(ctx, hpa2 + 4096), -ENOENT);
	assert_int_equal(uiommu_ram_remove(ctx, hpa2), 0);
	assert_int_equal(uiommu_ram_remove(ctx, UIOMMU_HPA_LIBRARY_BASE), -ENOENT);
	test_ctx_free(ctx);
}

static void test_ram_create_errors(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	uint64_t hpa;

	(void)state;
	assert_int_equal(uiommu_ram_create(ctx, 0, &hpa, NULL), -EINVAL);
	assert_int_equal(uiommu_ram_create(ctx, 100, &hpa, NULL), -EINVAL);
	assert_int_equal(uiommu_ram_create(ctx, 4096, NULL, NULL), -EINVAL);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_RAM_REGIONS, 0), 0);
	assert_int_equal(uiommu_ram_create(ctx, 4096, &hpa, NULL), -ENOSPC);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_RAM_REGIONS, 8), 0);
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 1, UIOMMU_FAULT_MAP), 0);
	assert_int_equal(uiommu_ram_create(ctx, 4096, &hpa, NULL), -ENOMEM);
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
	test_ctx_free(ctx);
}

static void test_ram_add(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	int fd = memfd_create("test", MFD_CLOEXEC), pipefd[2];
	uint64_t hpa, hpa2, back;
	char *map;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 * MiB), 0);
	map = mmap(NULL, 1 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);

	/* The caller's own mapping, from offset 64 KiB. */
	assert_int_equal(uiommu_ram_add(ctx, fd, 65536, 65536, map + 65536, &hpa), 0);
	assert_int_equal(uiommu_hva_to_hpa(ctx, map + 65536 + 10, &back), 0);
	assert_true(back == hpa + 10);
	/* The library duplicated the fd: closing ours changes nothing. */
	{
		int fd2, lfd;
		uint64_t off;

		fd2 = dup(fd);
		assert_int_equal(uiommu_ram_get_fd(ctx, hpa, &lfd, &off, NULL), 0);
		assert_true(lfd != fd);
		assert_true(off == 65536);
		close(fd2);
	}
	/* The same memory again: -EEXIST. A library mapping of the same fd is fine. */
	assert_int_equal(uiommu_ram_add(ctx, fd, 65536, 65536, map + 65536, &hpa2), -EEXIST);
	assert_int_equal(uiommu_ram_add(ctx, fd, 0, 65536, map + 65536 - 4096, &hpa2), -EEXIST);
	assert_int_equal(uiommu_ram_add(ctx, fd, 0, 65536, NULL, &hpa2), 0);
	assert_int_equal(uiommu_ram_remove(ctx, hpa2), 0);

	/* Argument errors. */
	assert_int_equal(uiommu_ram_add(ctx, -1, 0, 4096, NULL, &hpa2), -EINVAL);
	assert_int_equal(uiommu_ram_add(ctx, fd, 1, 4096, NULL, &hpa2), -EINVAL);
	assert_int_equal(uiommu_ram_add(ctx, fd, 0, 4095, NULL, &hpa2), -EINVAL);
	assert_int_equal(uiommu_ram_add(ctx, fd, 0, 0, NULL, &hpa2), -EINVAL);
	assert_int_equal(uiommu_ram_add(ctx, fd, 0, 4096, map + 1, &hpa2), -EINVAL);
	assert_int_equal(uiommu_ram_add(ctx, fd, 0, 4096, NULL, NULL), -EINVAL);
	assert_int_equal(uiommu_ram_add(ctx, fd, UINT64_MAX & ~4095ULL, 8192, NULL, &hpa2),
			 -EOVERFLOW);
	assert_int_equal(uiommu_ram_add(ctx, fd, 0, 8192, (void *)(UINTPTR_MAX & ~4095UL), &hpa2),
			 -EOVERFLOW);
	assert_int_equal(uiommu_ram_add(ctx, 1000, 0, 4096, NULL, &hpa2), -EBADF);
	/* Out of memory at each of its steps: nothing added, nothing charged. */
	for (uint64_t n = 1;; n++) {
		int ret;

		assert_int_equal(uiommu_ctx_inject_fault(ctx, n, UIOMMU_FAULT_ALL), 0);
		ret = uiommu_ram_add(ctx, fd, 0, 65536, NULL, &hpa2);
		if (!ret && !ctx_counter(ctx, UIOMMU_COUNTER_FAULTS_INJECTED))
			break;
		assert_int_equal(ret, -ENOMEM);
		assert_true(ctx_usage(ctx, UIOMMU_RES_RAM_REGIONS) == 1);
	}
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
	assert_int_equal(uiommu_ram_remove(ctx, hpa2), 0);
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(uiommu_ram_add(ctx, pipefd[0], 0, 4096, NULL, &hpa2), -ENODEV);
	close(pipefd[0]);
	close(pipefd[1]);
	/* A region too big for the hpa space (the library never touches a caller's hva). */
	assert_int_equal(uiommu_ram_add(ctx, fd, 0, 1ULL << 52, (void *)(1ULL << 40), &hpa2),
			 -ENOSPC);
	assert_true(ctx_usage(ctx, UIOMMU_RES_RAM_REGIONS) == 1);

	assert_int_equal(uiommu_ram_remove(ctx, hpa), 0);
	munmap(map, 1 * MiB);
	close(fd);
	test_ctx_free(ctx);
}

static void test_hpa_lookup_errors(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	uint64_t hpa, back, off;
	void *p;
	int fd;
	char *heap = malloc(64);

	(void)state;
	assert_int_equal(uiommu_ram_create(ctx, 8192, &hpa, NULL), 0);
	assert_int_equal(uiommu_hpa_to_hva(ctx, hpa, 0, &p), -EINVAL);
	assert_int_equal(uiommu_hpa_to_hva(ctx, hpa, 1, NULL), -EINVAL);
	assert_int_equal(uiommu_hpa_to_hva(ctx, UINT64_MAX, 2, &p), -EOVERFLOW);
	assert_int_equal(uiommu_hpa_to_hva(ctx, 0, 1, &p), -EFAULT);
	assert_int_equal(uiommu_hpa_to_hva(ctx, hpa + 8192, 1, &p), -EFAULT);
	/* Crossing the end of the region. */
	assert_int_equal(uiommu_hpa_to_hva(ctx, hpa + 8191, 2, &p), -EFAULT);
	assert_int_equal(uiommu_hpa_to_hva(ctx, hpa + 8191, 1, &p), 0);
	assert_int_equal(uiommu_hva_to_hpa(ctx, heap, &back), -EFAULT);
	assert_int_equal(uiommu_hva_to_hpa(ctx, heap, NULL), -EINVAL);
	assert_int_equal(uiommu_ram_get_fd(ctx, 0, &fd, &off, NULL), -EFAULT);
	assert_int_equal(uiommu_ram_get_fd(ctx, hpa, NULL, &off, NULL), -EINVAL);
	assert_int_equal(uiommu_ram_get_fd(ctx, hpa, &fd, NULL, NULL), -EINVAL);
	assert_int_equal(uiommu_hostmem_page_shift(ctx, heap, &(unsigned int){ 0 }), -EFAULT);
	assert_int_equal(uiommu_hostmem_page_shift(ctx, heap, NULL), -EINVAL);
	free(heap);
	assert_int_equal(uiommu_ram_remove(ctx, hpa), 0);
	test_ctx_free(ctx);
}

/* Another process maps the region's memfd and reaches the same bytes by hpa. */
static void test_ram_shared_with_child(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	uint64_t hpa, frame, off;
	volatile uint64_t *p;
	int fd, status;
	pid_t pid;

	(void)state;
	assert_int_equal(uiommu_frames_alloc(ctx, 0, &frame), 0);
	assert_int_equal(uiommu_hpa_to_hva(ctx, frame, 8, (void **)&p), 0);
	*p = 0x1122334455667788ULL;
	assert_int_equal(uiommu_ram_get_fd(ctx, frame, &fd, &off, NULL), 0);
	hpa = frame;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The child: map the frame through the fd, check, and answer. */
		volatile uint64_t *q = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
					    (off_t)off);

		if (q == MAP_FAILED || *q != 0x1122334455667788ULL)
			_exit(1);
		q[1] = hpa;
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(p[1] == hpa);
	assert_int_equal(uiommu_frames_free(ctx, frame, 0), 0);
	test_ctx_free(ctx);
}

/* ---- host frames ---- */

static uint64_t frame_blocks(struct uiommu_ctx *ctx)
{
	struct stat st;
	uint64_t off;
	int fd;

	assert_int_equal(uiommu_ram_get_fd(ctx, UIOMMU_HPA_LIBRARY_BASE, &fd, &off, NULL), 0);
	assert_int_equal(fstat(fd, &st), 0);
	return (uint64_t)st.st_blocks;
}

static void test_frames(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	uint64_t a, b, c, hpa;
	char *p;

	(void)state;
	assert_int_equal(uiommu_frames_alloc(ctx, UIOMMU_FRAME_MAX_ORDER + 1, &a), -EINVAL);
	assert_int_equal(uiommu_frames_alloc(ctx, 0, NULL), -EINVAL);
	/* Nothing allocated yet: no region to free into. */
	assert_int_equal(uiommu_frames_free(ctx, UIOMMU_HPA_LIBRARY_BASE, 0), -EINVAL);

	assert_int_equal(uiommu_frames_alloc(ctx, 4, &a), 0);
	assert_true(a % (16 * 4096) == 0);
	assert_true(a >= UIOMMU_HPA_LIBRARY_BASE);
	assert_true(ctx_usage(ctx, UIOMMU_RES_FRAME_BYTES) == 65536);
	assert_int_equal(uiommu_hpa_to_hva(ctx, a, 65536, (void **)&p), 0);
	for (int i = 0; i < 65536; i += 512)
		assert_int_equal(p[i], 0);
	memset(p, 0xa5, 65536);
	assert_true(frame_blocks(ctx) >= 65536 / 512);

	/* Misuse is refused and changes nothing. */
	assert_int_equal(uiommu_frames_free(ctx, a, 3), -EINVAL);	  /* wrong order */
	assert_int_equal(uiommu_frames_free(ctx, a + 4096, 0), -EINVAL); /* not a head */
	assert_int_equal(uiommu_frames_free(ctx, a + 1, 4), -EINVAL);	  /* misaligned */
	assert_int_equal(uiommu_frames_free(ctx, 0, 0), -EINVAL);	  /* not the region */
	assert_int_equal(uiommu_frames_free(ctx, a, 19), -EINVAL);
	/* An order that is no shift count at all: refused before it sizes anything. */
	assert_int_equal(uiommu_frames_free(ctx, a, 99), -EINVAL);
	assert_int_equal(uiommu_frames_free(ctx, a, UINT_MAX), -EINVAL);
	assert_int_equal(uiommu_frames_free(ctx, a, 4), 0);
	assert_int_equal(uiommu_frames_free(ctx, a, 4), -EINVAL); /* double free */
	assert_true(ctx_usage(ctx, UIOMMU_RES_FRAME_BYTES) == 0);
	/* Freed memory went back to the system and reads zero again. */
	assert_true(frame_blocks(ctx) == 0);
	assert_int_equal(uiommu_frames_alloc(ctx, 4, &b), 0);
	assert_true(b == a);
	for (int i = 0; i < 65536; i += 512)
		assert_int_equal(p[i], 0);

	/* The limit. */
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_FRAME_BYTES, 65536 + 8192), 0);
	assert_int_equal(uiommu_frames_alloc(ctx, 2, &c), -ENOMEM);
	assert_int_equal(uiommu_frames_alloc(ctx, 1, &c), 0);
	assert_int_equal(uiommu_frames_alloc(ctx, 0, &hpa), -ENOMEM);
	assert_int_equal(uiommu_frames_free(ctx, c, 1), 0);
	assert_int_equal(uiommu_frames_free(ctx, b, 4), 0);

	/* 1 GiB runs: the first fills chunk 0, the second needs another chunk. */
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_FRAME_BYTES, 3 * GiB), 0);
	assert_int_equal(uiommu_frames_alloc(ctx, 18, &a), 0);
	assert_int_equal(uiommu_frames_alloc(ctx, 18, &b), 0);
	assert_true(a % GiB == 0 && b % GiB == 0 && a != b);
	assert_int_equal(uiommu_frames_alloc(ctx, 0, &c), 0);
	assert_true(c != a && c != b);
	assert_int_equal(uiommu_frames_free(ctx, a, 18), 0);
	assert_int_equal(uiommu_frames_free(ctx, b, 18), 0);
	assert_int_equal(uiommu_frames_free(ctx, c, 0), 0);

	/* Fault injection on the frame class. */
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 1, UIOMMU_FAULT_FRAME), 0);
	assert_int_equal(uiommu_frames_alloc(ctx, 0, &a), -ENOMEM);
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
	test_ctx_free(ctx);
}

/* The region is created on first use: failures there leave nothing behind. */
static void test_frames_region_failure(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	uint64_t a;

	(void)state;
	for (uint64_t n = 1;; n++) {
		int ret;

		assert_int_equal(uiommu_ctx_inject_fault(ctx, n, UIOMMU_FAULT_ALL), 0);
		ret = uiommu_frames_alloc(ctx, 0, &a);
		if (!ret && !ctx_counter(ctx, UIOMMU_COUNTER_FAULTS_INJECTED))
			break;
		assert_int_equal(ret, -ENOMEM);
		assert_true(ctx_usage(ctx, UIOMMU_RES_FRAME_BYTES) == 0);
	}
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
	assert_int_equal(uiommu_frames_free(ctx, a, 0), 0);
	test_ctx_free(ctx);
}

/*
 * Model test: random allocations and frees of orders 0..7 against a plain
 * list of live runs. Runs never overlap, are naturally aligned, read zero
 * when allocated, and keep their contents while allocated.
 */
struct live_run {
	uint64_t hpa;
	unsigned int order;
	uint8_t tag;
};

static void test_frames_model(void **state)
{
	enum { STEPS = 4000, MAXLIVE = 256 };
	struct uiommu_ctx *ctx = test_ctx_new();
	struct live_run live[MAXLIVE];
	uint64_t seed = test_seed(), rng = seed;
	int nlive = 0;

	(void)state;
	for (int step = 0; step < STEPS; step++) {
		bool do_alloc = nlive == 0 || (nlive < MAXLIVE && test_rand(&rng) % 3 != 0);

		if (do_alloc) {
			unsigned int order = (unsigned int)(test_rand(&rng) % 8);
			uint64_t hpa, size = 4096ULL << order;
			uint8_t *p;

			assert_int_equal(uiommu_frames_alloc(ctx, order, &hpa), 0);
			assert_true(hpa % size == 0);
			for (int i = 0; i < nlive; i++) {
				uint64_t s = 4096ULL << live[i].order;

				if (hpa < live[i].hpa + s && live[i].hpa < hpa + size) {
					print_error("overlap at step %d (seed 0x%llx)\n", step,
						    (unsigned long long)seed);
					fail();
				}
			}
			assert_int_equal(uiommu_hpa_to_hva(ctx, hpa, size, (void **)&p), 0);
			for (uint64_t i = 0; i < size; i += 1024)
				assert_int_equal(p[i], 0);
			live[nlive] = (struct live_run){ hpa, order, (uint8_t)(step | 1) };
			memset(p, live[nlive].tag, size);
			nlive++;
		} else {
			int k = (int)(test_rand(&rng) % (uint64_t)nlive);
			uint64_t size = 4096ULL << live[k].order;
			uint8_t *p;

			assert_int_equal(uiommu_hpa_to_hva(ctx, live[k].hpa, size, (void **)&p), 0);
			for (uint64_t i = 0; i < size; i += 1024)
				assert_int_equal(p[i], live[k].tag);
			assert_int_equal(uiommu_frames_free(ctx, live[k].hpa, live[k].order), 0);
			live[k] = live[--nlive];
		}
	}
	while (nlive) {
		nlive--;
		assert_int_equal(uiommu_frames_free(ctx, live[nlive].hpa, live[nlive].order), 0);
	}
	/* Everything merged back: a 1 GiB run is available at the start again. */
	{
		uint64_t hpa;

		assert_int_equal(uiommu_frames_alloc(ctx, 18, &hpa), 0);
		assert_true(hpa == UIOMMU_HPA_LIBRARY_BASE);
		assert_int_equal(uiommu_frames_free(ctx, hpa, 18), 0);
	}
	test_ctx_free(ctx);
}

/* ---- hostmem ---- */

static void test_hostmem(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	unsigned int shift;
	char *buf;
	void *p;

	(void)state;
	assert_int_equal(uiommu_hostmem_alloc(ctx, 4096, 11, 0, &p), -EINVAL);
	assert_int_equal(uiommu_hostmem_alloc(ctx, 1ULL << 31, 31, 0, &p), -EINVAL);
	assert_int_equal(uiommu_hostmem_alloc(ctx, 0, 12, 0, &p), -EINVAL);
	assert_int_equal(uiommu_hostmem_alloc(ctx, 4096 + 512, 12, 0, &p), -EINVAL);
	assert_int_equal(uiommu_hostmem_alloc(ctx, 65536, 16, 0, NULL), -EINVAL);
	assert_int_equal(uiommu_hostmem_alloc(ctx, 65536, 16, 1u << 5, &p), -EINVAL);
	assert_int_equal(uiommu_hostmem_alloc(ctx, 128 * GiB, 30, 0, &p), -ENOMEM);

	/* 64 KiB pages: each is one aligned, physically contiguous run. */
	assert_int_equal(uiommu_hostmem_alloc(ctx, 8 * 65536, 16, 0, (void **)&buf), 0);
	assert_true((uintptr_t)buf % 65536 == 0);
	assert_true(ctx_usage(ctx, UIOMMU_RES_HOSTMEM) == 1);
	assert_true(ctx_usage(ctx, UIOMMU_RES_FRAME_BYTES) == 8 * 65536);
	assert_int_equal(uiommu_hostmem_page_shift(ctx, buf + 70000, &shift), 0);
	assert_int_equal(shift, 16);
	for (int pg = 0; pg < 8; pg++) {
		uint64_t h0, h1;
		char *alias;

		assert_int_equal(uiommu_hva_to_hpa(ctx, buf + pg * 65536, &h0), 0);
		assert_int_equal(uiommu_hva_to_hpa(ctx, buf + pg * 65536 + 65535, &h1), 0);
		assert_true(h0 % 65536 == 0 && h1 == h0 + 65535);
		/* The buffer and the region's mapping alias the same bytes. */
		buf[pg * 65536 + 7] = (char)pg;
		assert_int_equal(uiommu_hpa_to_hva(ctx, h0, 65536, (void **)&alias), 0);
		assert_int_equal(alias[7], pg);
	}
	/* The region's mapping reports the host page size. */
	{
		uint64_t h;
		char *alias;

		assert_int_equal(uiommu_hva_to_hpa(ctx, buf, &h), 0);
		assert_int_equal(uiommu_hpa_to_hva(ctx, h, 1, (void **)&alias), 0);
		assert_int_equal(uiommu_hostmem_page_shift(ctx, alias, &shift), 0);
		assert_int_equal(shift, 12);
		/* Library-owned frames are not the user's to free. */
		assert_int_equal(uiommu_frames_free(ctx, h, 4), -EINVAL);
	}
	assert_int_equal(uiommu_hostmem_free(ctx, buf + 4096), -ENOENT);
	assert_int_equal(uiommu_hostmem_free(ctx, NULL), -ENOENT);
	/* Removal allocates the new lookup array: out of memory, nothing changes. */
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 1, UIOMMU_FAULT_HEAP), 0);
	assert_int_equal(uiommu_hostmem_free(ctx, buf), -ENOMEM);
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
	assert_int_equal(buf[7], 0);
	assert_int_equal(uiommu_hostmem_free(ctx, buf), 0);
	assert_int_equal(uiommu_hostmem_free(ctx, buf), -ENOENT);

	/* Limits. */
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_HOSTMEM, 0), 0);
	assert_int_equal(uiommu_hostmem_alloc(ctx, 4096, 12, 0, &p), -ENOSPC);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_HOSTMEM, 10), 0);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_FRAME_BYTES, 3 * 4096), 0);
	assert_int_equal(uiommu_hostmem_alloc(ctx, 4 * 4096, 12, 0, &p), -ENOMEM);
	test_ctx_free(ctx);
}

/* SCATTER: virtually adjacent pages are never physically contiguous. */
static void test_hostmem_scatter(void **state)
{
	static const unsigned int shifts[] = { 12, 16, 21 };
	struct uiommu_ctx *ctx = test_ctx_new();

	(void)state;
	for (size_t s = 0; s < sizeof(shifts) / sizeof(shifts[0]); s++) {
		uint64_t psize = 1ULL << shifts[s], prev = 0;
		int npages = 33;
		char *buf;

		assert_int_equal(uiommu_hostmem_alloc(ctx, (uint64_t)npages * psize, shifts[s],
						      UIOMMU_HOSTMEM_SCATTER, (void **)&buf), 0);
		for (int i = 0; i < npages; i++) {
			uint64_t h;

			assert_int_equal(uiommu_hva_to_hpa(ctx, buf + i * psize, &h), 0);
			assert_true(h % psize == 0);
			if (i)
				assert_true(h != prev + psize);
			prev = h;
			buf[i * psize] = (char)i; /* every page is really mapped */
		}
		for (int i = 0; i < npages; i++)
			assert_int_equal(buf[i * psize], i);
		assert_int_equal(uiommu_hostmem_free(ctx, buf), 0);
	}
	test_ctx_free(ctx);
}

static void test_hostmem_fault_loop(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	uint64_t heap0;
	void *buf;

	(void)state;
	/* Create the library region first so the heap baseline is stable. */
	assert_int_equal(uiommu_hostmem_alloc(ctx, 4096, 12, 0, &buf), 0);
	assert_int_equal(uiommu_hostmem_free(ctx, buf), 0);
	heap0 = ctx_counter(ctx, UIOMMU_COUNTER_HEAP_ALLOCS);
	for (uint64_t n = 1;; n++) {
		int ret;

		assert_int_equal(uiommu_ctx_inject_fault(ctx, n, UIOMMU_FAULT_ALL), 0);
		ret = uiommu_hostmem_alloc(ctx, 5 * 4096, 12, UIOMMU_HOSTMEM_SCATTER, &buf);
		if (!ret && !ctx_counter(ctx, UIOMMU_COUNTER_FAULTS_INJECTED))
			break;
		assert_int_equal(ret, -ENOMEM);
		assert_ctx_clean(ctx);
		/* Deferred frees aside, the heap is as before. */
		assert_true(ctx_counter(ctx, UIOMMU_COUNTER_HEAP_ALLOCS) <= heap0 + 1);
	}
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
	assert_int_equal(uiommu_hostmem_free(ctx, buf), 0);
	test_ctx_free(ctx);
}

/* ---- pinning ---- */

static void test_pin_real_mlock(void **state)
{
	struct uiommu_ctx *ctx;
	long base;
	char *buf;

	(void)state;
	if (!test_can_mlock())
		skip();
	ctx = test_ctx_new();
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_LOCKED_BYTES, 4 * MiB), 0);
	assert_int_equal(uiommu_hostmem_alloc(ctx, 1 * MiB, 12, UIOMMU_HOSTMEM_SCATTER,
					      (void **)&buf), 0);
	base = test_vmlck_kib();
	assert_int_equal(uiommu_pin(ctx, buf, 256 * 1024, NULL), 0);
	assert_int_equal(test_vmlck_kib(), base + 256);
	/* Overlapping pins nest: charged twice, locked once. */
	assert_int_equal(uiommu_pin(ctx, buf + 128 * 1024, 256 * 1024, NULL), 0);
	assert_int_equal(test_vmlck_kib(), base + 384);
	assert_true(ctx_usage(ctx, UIOMMU_RES_LOCKED_BYTES) == 512 * 1024);
	assert_int_equal(uiommu_unpin(ctx, buf, 256 * 1024), 0);
	/* The overlap is still pinned by the second pin. */
	assert_int_equal(test_vmlck_kib(), base + 256);
	assert_int_equal(uiommu_unpin(ctx, buf + 128 * 1024, 256 * 1024), 0);
	assert_int_equal(test_vmlck_kib(), base);
	assert_int_equal(uiommu_hostmem_free(ctx, buf), 0);
	test_ctx_free(ctx);
}

static void test_pin(void **state)
{
	struct uiommu_ctx_config cfg = { .size = sizeof(cfg), .flags = UIOMMU_CTX_PIN_SIMULATE };
	struct uiommu_ctx *ctx;
	uint64_t hpas[16], frame, ram;
	char *buf, *heap = malloc(8192), *fp, *ramp;
	long base = test_vmlck_kib();

	(void)state;
	assert_int_equal(uiommu_ctx_new(&cfg, &ctx), 0);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_LOCKED_BYTES, 64 * 1024), 0);
	assert_int_equal(uiommu_hostmem_alloc(ctx, 16 * 4096, 12, UIOMMU_HOSTMEM_SCATTER,
					      (void **)&buf), 0);
	assert_int_equal(uiommu_pin(ctx, buf, 16 * 4096, hpas), 0);
	/* Simulated: accounted, not mlocked. */
	assert_int_equal(test_vmlck_kib(), base);
	for (int i = 0; i < 16; i++) {
		uint64_t h;

		assert_int_equal(uiommu_hva_to_hpa(ctx, buf + i * 4096, &h), 0);
		assert_true(hpas[i] == h);
	}
	assert_true(ctx_usage(ctx, UIOMMU_RES_LOCKED_BYTES) == 64 * 1024);
	/* Past the limit. */
	assert_int_equal(uiommu_pin(ctx, buf, 4096, NULL), -ENOMEM);
	/* Pinned memory cannot go away. */
	assert_int_equal(uiommu_hostmem_free(ctx, buf), -EBUSY);
	/* Argument errors. */
	assert_int_equal(uiommu_pin(ctx, buf + 1, 4096, NULL), -EINVAL);
	assert_int_equal(uiommu_pin(ctx, buf, 100, NULL), -EINVAL);
	assert_int_equal(uiommu_pin(ctx, buf, 0, NULL), -EINVAL);
	assert_int_equal(uiommu_pin(ctx, (void *)(UINTPTR_MAX & ~4095UL), 8192, NULL), -EOVERFLOW);
	assert_int_equal(uiommu_pin(ctx, (void *)(((uintptr_t)heap + 4095) & ~4095UL), 4096, NULL),
			 -EFAULT);
	assert_int_equal(uiommu_pin(ctx, buf + 15 * 4096, 8192, NULL), -EFAULT); /* past the end */
	assert_int_equal(uiommu_unpin(ctx, buf + 1, 4096), -EINVAL);
	assert_int_equal(uiommu_unpin(ctx, buf, 0), -EINVAL);
	assert_int_equal(uiommu_unpin(ctx, (void *)(UINTPTR_MAX & ~4095UL), 8192), -EOVERFLOW);
	assert_int_equal(uiommu_unpin(ctx, (void *)(((uintptr_t)heap + 4095) & ~4095UL), 4096),
			 -EFAULT);
	/* Partial unpins are fine; unpinning what is not pinned is not, and changes nothing. */
	assert_int_equal(uiommu_unpin(ctx, buf + 4096, 4096), 0);
	assert_int_equal(uiommu_unpin(ctx, buf, 3 * 4096), -EINVAL);
	assert_true(ctx_usage(ctx, UIOMMU_RES_LOCKED_BYTES) == 15 * 4096);
	assert_int_equal(uiommu_unpin(ctx, buf, 4096), 0);
	assert_int_equal(uiommu_unpin(ctx, buf + 2 * 4096, 14 * 4096), 0);
	assert_true(ctx_usage(ctx, UIOMMU_RES_LOCKED_BYTES) == 0);
	assert_int_equal(uiommu_hostmem_free(ctx, buf), 0);

	/* Frames pinned through the library region's mapping cannot be freed. */
	assert_int_equal(uiommu_frames_alloc(ctx, 1, &frame), 0);
	assert_int_equal(uiommu_hpa_to_hva(ctx, frame, 8192, (void **)&fp), 0);
	assert_int_equal(uiommu_pin(ctx, fp + 4096, 4096, NULL), 0);
	assert_int_equal(uiommu_frames_free(ctx, frame, 1), -EBUSY);
	assert_int_equal(uiommu_unpin(ctx, fp + 4096, 4096), 0);
	assert_int_equal(uiommu_frames_free(ctx, frame, 1), 0);

	/* Nor can a pinned RAM region be removed. */
	assert_int_equal(uiommu_ram_create(ctx, 65536, &ram, (void **)&ramp), 0);
	assert_int_equal(uiommu_pin(ctx, ramp + 8192, 8192, hpas), 0);
	assert_true(hpas[0] == ram + 8192 && hpas[1] == ram + 12288);
	assert_int_equal(uiommu_ram_remove(ctx, ram), -EBUSY);
	assert_int_equal(uiommu_unpin(ctx, ramp + 8192, 8192), 0);
	assert_int_equal(uiommu_ram_remove(ctx, ram), 0);

	/* An mlock failure (injected) unwinds: nothing charged, nothing counted. */
	assert_int_equal(uiommu_hostmem_alloc(ctx, 4 * 4096, 12, UIOMMU_HOSTMEM_SCATTER,
					      (void **)&buf), 0);
	assert_int_equal(uiommu_pin(ctx, buf + 4096, 4096, NULL), 0);
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 2, UIOMMU_FAULT_PIN), 0);
	assert_int_equal(uiommu_pin(ctx, buf, 4 * 4096, NULL), -ENOMEM);
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
	assert_true(ctx_usage(ctx, UIOMMU_RES_LOCKED_BYTES) == 4096);
	assert_int_equal(uiommu_unpin(ctx, buf, 4096), -EINVAL);
	assert_int_equal(uiommu_unpin(ctx, buf + 4096, 4096), 0);
	assert_int_equal(uiommu_hostmem_free(ctx, buf), 0);
	free(heap);
	test_ctx_free(ctx);
}

/* A real mlock failure: a child without CAP_IPC_LOCK and a tiny RLIMIT_MEMLOCK. */
static void test_pin_mlock_refused(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { 0, 0 };
		struct uiommu_ctx *ctx;
		void *buf;
		int ret;

		/* Drop to an unprivileged uid so that the rlimit applies. */
		if (setrlimit(RLIMIT_MEMLOCK, &rl) || (getuid() == 0 && setuid(65534)))
			_exit(TEST_SKIP_EXIT);
		/* mlock(2) must really refuse here (AddressSanitizer makes it a no-op). */
		{
			void *q = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (q == MAP_FAILED || mlock(q, 4096) == 0)
				_exit(TEST_SKIP_EXIT);
			munmap(q, 4096);
		}
		if (uiommu_ctx_new(NULL, &ctx) ||
		    uiommu_hostmem_alloc(ctx, 8192, 12, 0, &buf))
			_exit(10);
		/* The library limit is the rlimit (0): refused before mlock. */
		if (uiommu_pin(ctx, buf, 4096, NULL) != -ENOMEM)
			_exit(11);
		/* With the library limit raised, mlock(2) itself refuses. */
		uiommu_ctx_set_limit(ctx, UIOMMU_RES_LOCKED_BYTES, 1 << 20);
		ret = uiommu_pin(ctx, buf, 4096, NULL);
		if (ret != -ENOMEM)
			_exit(12);
		{
			uint64_t locked = 1;

			if (uiommu_ctx_get_usage(ctx, UIOMMU_RES_LOCKED_BYTES, &locked) || locked)
				_exit(13);
		}
		uiommu_hostmem_free(ctx, buf);
		_exit(uiommu_ctx_free(ctx) ? 14 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == TEST_SKIP_EXIT)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ram_create),
		cmocka_unit_test(test_ram_create_errors),
		cmocka_unit_test(test_ram_add),
		cmocka_unit_test(test_hpa_lookup_errors),
		cmocka_unit_test(test_ram_shared_with_child),
		cmocka_unit_test(test_frames),
		cmocka_unit_test(test_frames_region_failure),
		cmocka_unit_test(test_frames_model),
		cmocka_unit_test(test_hostmem),
		cmocka_unit_test(test_hostmem_scatter),
		cmocka_unit_test(test_hostmem_fault_loop),
		cmocka_unit_test(test_pin_real_mlock),
		cmocka_unit_test(test_pin),
		cmocka_unit_test(test_pin_mlock_refused),
	};

	test_require_memfd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
