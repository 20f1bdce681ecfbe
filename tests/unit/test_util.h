/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers shared by the cmocka tests (cmocka 1.1 API only).
 */
#ifndef UIOMMU_TEST_UTIL_H
#define UIOMMU_TEST_UTIL_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <uiommu/uiommu.h>

#include "../../tools/common/proc_status.h"

/* meson treats exit status 77 as "skipped". */
#define TEST_SKIP_EXIT 77

static inline struct uiommu_ctx *test_ctx_new(void)
{
	struct uiommu_ctx *ctx = NULL;

	assert_int_equal(uiommu_ctx_new(NULL, &ctx), 0);
	assert_non_null(ctx);
	return ctx;
}

/* Every resource but the heap is back at zero, and so are outstanding frames. */
static inline void assert_ctx_clean(struct uiommu_ctx *ctx)
{
	for (int r = 0; r < UIOMMU_RES_NR; r++) {
		uint64_t usage = 1;

		if (r == UIOMMU_RES_HEAP_BYTES)
			continue;
		assert_int_equal(uiommu_ctx_get_usage(ctx, (enum uiommu_resource)r, &usage), 0);
		if (usage) {
			print_error("%s still at %llu\n", uiommu_resource_name((enum uiommu_resource)r),
				    (unsigned long long)usage);
			fail();
		}
	}
}

static inline uint64_t ctx_usage(struct uiommu_ctx *ctx, enum uiommu_resource r)
{
	uint64_t v = 0;

	assert_int_equal(uiommu_ctx_get_usage(ctx, r, &v), 0);
	return v;
}

static inline uint64_t ctx_counter(struct uiommu_ctx *ctx, enum uiommu_counter c)
{
	uint64_t v = 0;

	assert_int_equal(uiommu_ctx_get_counter(ctx, c, &v), 0);
	return v;
}

static inline void test_ctx_free(struct uiommu_ctx *ctx)
{
	assert_ctx_clean(ctx);
	assert_int_equal(uiommu_ctx_free(ctx), 0);
}

/* A deterministic PRNG (splitmix64) for model tests; seeds are printed on failure. */
static inline uint64_t test_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A seed from UIOMMU_TEST_SEED or a fixed default, so runs reproduce. */
static inline uint64_t test_seed(void)
{
	const char *s = getenv("UIOMMU_TEST_SEED");

	return s ? strtoull(s, NULL, 0) : 0x5eed5eedULL;
}

/* VmLck of this process in KiB, or -1. */
static inline long test_vmlck_kib(void)
{
	return proc_status_kib("VmLck");
}

/*
 * Can this process mlock(2) 1 MiB more (root, CAP_IPC_LOCK, or a large
 * enough RLIMIT_MEMLOCK), and does VmLck show it? (AddressSanitizer turns
 * mlock into a no-op.) Tests of real pinning skip when not.
 */
static inline bool test_can_mlock(void)
{
	void *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long before = test_vmlck_kib();
	bool ok;

	if (p == MAP_FAILED)
		return false;
	ok = before >= 0 && mlock(p, 1 << 20) == 0 && test_vmlck_kib() >= before + 1024;
	munmap(p, 1 << 20);
	return ok;
}

/*
 * The host memory model needs memfd_create(2). A test binary that uses RAM
 * regions or frames calls this first and exits 77 (skipped) without it.
 */
static inline void test_require_memfd(void)
{
	int fd = memfd_create("uiommu-test-probe", MFD_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "memfd_create() is not available: skipping\n");
		exit(TEST_SKIP_EXIT);
	}
	close(fd);
}

#endif /* UIOMMU_TEST_UTIL_H */
