// SPDX-License-Identifier: BSD-3-Clause
/*
 * Guests and memslots: KVM_SET_USER_MEMORY_REGION semantics, reads and
 * writes across slots, every documented error. The model test of random
 * slot changes is the fuzz driver fuzz/fuzz_memslots.c, which every build
 * runs on its corpus and on random inputs (suite fuzz-corpus).
 */
#include <sys/mman.h>

#include "test_util.h"

#define KiB 1024ULL
#define MiB (1024ULL * 1024)

static void test_guest_new_free(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_guest *g, *h;

	(void)state;
	assert_int_equal(uiommu_guest_new(ctx, NULL), -EINVAL);
	assert_int_equal(uiommu_guest_new(ctx, &g), 0);
	assert_ptr_equal(uiommu_guest_ctx(g), ctx);
	assert_true(ctx_usage(ctx, UIOMMU_RES_GUESTS) == 1);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_GUESTS, 1), 0);
	assert_int_equal(uiommu_guest_new(ctx, &h), -ENOSPC);
	assert_null(uiommu_guest_free(g));
	assert_null(uiommu_guest_free(NULL));
	test_ctx_free(ctx);
}

static void test_memslots(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	char *mem = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct uiommu_guest *g;
	char buf[64];
	void *p;

	(void)state;
	assert_true(mem != MAP_FAILED);
	assert_int_equal(uiommu_guest_new(ctx, &g), 0);
	/* Two adjacent slots: [0, 1M) and [1M, 2M), and one far away. */
	assert_int_equal(uiommu_guest_set_memslot(g, 0, 0, 1 * MiB, mem, 0), 0);
	assert_int_equal(uiommu_guest_set_memslot(g, 1, 1 * MiB, 1 * MiB, mem + 2 * MiB, 0), 0);
	assert_int_equal(uiommu_guest_set_memslot(g, 7, 1ULL << 40, 4096, mem + MiB, 0), 0);
	assert_true(ctx_usage(ctx, UIOMMU_RES_MEMSLOTS) == 3);

	assert_int_equal(uiommu_guest_gpa_to_hva(g, 0x1234, 16, &p), 0);
	assert_ptr_equal(p, mem + 0x1234);
	assert_int_equal(uiommu_guest_gpa_to_hva(g, 1 * MiB + 5, 1, &p), 0);
	assert_ptr_equal(p, mem + 2 * MiB + 5);
	assert_int_equal(uiommu_guest_gpa_to_hva(g, (1ULL << 40) + 4095, 1, &p), 0);
	assert_ptr_equal(p, mem + MiB + 4095);
	/* One slot only for gpa_to_hva; reads and writes may span adjacent slots. */
	assert_int_equal(uiommu_guest_gpa_to_hva(g, 1 * MiB - 4, 8, &p), -EFAULT);
	assert_int_equal(uiommu_guest_write(g, 1 * MiB - 4, "abcdefgh", 8), 0);
	assert_memory_equal(mem + 1 * MiB - 4, "abcd", 4);
	assert_memory_equal(mem + 2 * MiB, "efgh", 4);
	assert_int_equal(uiommu_guest_read(g, 1 * MiB - 4, buf, 8), 0);
	assert_memory_equal(buf, "abcdefgh", 8);
	/* A read that runs off the end copies nothing. */
	memset(buf, 'z', sizeof(buf));
	assert_int_equal(uiommu_guest_read(g, 2 * MiB - 4, buf, 8), -EFAULT);
	assert_int_equal(buf[0], 'z');
	assert_int_equal(uiommu_guest_write(g, 2 * MiB - 4, "12345678", 8), -EFAULT);
	assert_int_not_equal(mem[3 * MiB - 4], '1');

	/* Errors of the lookups. */
	assert_int_equal(uiommu_guest_gpa_to_hva(g, 0, 0, &p), -EINVAL);
	assert_int_equal(uiommu_guest_gpa_to_hva(g, 0, 1, NULL), -EINVAL);
	assert_int_equal(uiommu_guest_gpa_to_hva(g, UINT64_MAX, 2, &p), -EOVERFLOW);
	assert_int_equal(uiommu_guest_gpa_to_hva(g, 3 * MiB, 1, &p), -EFAULT);
	assert_int_equal(uiommu_guest_read(g, 0, buf, 0), -EINVAL);
	assert_int_equal(uiommu_guest_read(g, 0, NULL, 1), -EINVAL);
	assert_int_equal(uiommu_guest_read(g, UINT64_MAX, buf, 2), -EOVERFLOW);
	assert_int_equal(uiommu_guest_write(g, 0, NULL, 1), -EINVAL);

	/* Errors of set_memslot. */
	assert_int_equal(uiommu_guest_set_memslot(g, UIOMMU_MEMSLOT_ID_MAX, 8 * MiB, 4096, mem, 0),
			 -EINVAL);
	assert_int_equal(uiommu_guest_set_memslot(g, 2, 8 * MiB, 4096, mem, 1), -EINVAL);
	assert_int_equal(uiommu_guest_set_memslot(g, 2, 8 * MiB + 1, 4096, mem, 0), -EINVAL);
	assert_int_equal(uiommu_guest_set_memslot(g, 2, 8 * MiB, 100, mem, 0), -EINVAL);
	assert_int_equal(uiommu_guest_set_memslot(g, 2, 8 * MiB, 4096, mem + 1, 0), -EINVAL);
	assert_int_equal(uiommu_guest_set_memslot(g, 2, 8 * MiB, 4096, NULL, 0), -EINVAL); /* no memory */
	assert_int_equal(uiommu_guest_set_memslot(g, 2, UINT64_MAX & ~4095ULL, 8192, mem, 0),
			 -EOVERFLOW);
	assert_int_equal(uiommu_guest_set_memslot(g, 2, 8 * MiB, 8192,
						  (void *)(UINTPTR_MAX & ~4095UL), 0), -EOVERFLOW);
	assert_int_equal(uiommu_guest_set_memslot(g, 2, 512 * KiB, 1 * MiB, mem, 0), -EEXIST);
	assert_int_equal(uiommu_guest_set_memslot(g, 2, 0, 0, NULL, 0), -EINVAL); /* no slot 2 */
	/* An existing slot may only move. */
	assert_int_equal(uiommu_guest_set_memslot(g, 7, 1ULL << 40, 8192, mem + MiB, 0), -EINVAL);
	assert_int_equal(uiommu_guest_set_memslot(g, 7, 1ULL << 40, 4096, mem, 0), -EINVAL);
	assert_int_equal(uiommu_guest_set_memslot(g, 7, 1ULL << 40, 4096, mem + MiB, 0), 0);
	assert_int_equal(uiommu_guest_set_memslot(g, 7, 4 * MiB, 4096, mem + MiB, 0), 0);
	assert_int_equal(uiommu_guest_gpa_to_hva(g, 1ULL << 40, 1, &p), -EFAULT);
	assert_int_equal(uiommu_guest_gpa_to_hva(g, 4 * MiB, 1, &p), 0);
	assert_int_equal(uiommu_guest_set_memslot(g, 7, 1 * MiB, 4096, mem + MiB, 0), -EEXIST);
	assert_true(ctx_usage(ctx, UIOMMU_RES_MEMSLOTS) == 3);
	/* Limit. */
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_MEMSLOTS, 3), 0);
	assert_int_equal(uiommu_guest_set_memslot(g, 3, 16 * MiB, 4096, mem, 0), -ENOSPC);
	/* Delete (and move) copy the slots: out of memory, nothing changes. */
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 1, UIOMMU_FAULT_HEAP), 0);
	assert_int_equal(uiommu_guest_set_memslot(g, 1, 0, 0, NULL, 0), -ENOMEM);
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 1, UIOMMU_FAULT_HEAP), 0);
	assert_int_equal(uiommu_guest_set_memslot(g, 7, 5 * MiB, 4096, mem + MiB, 0), -ENOMEM);
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
	assert_int_equal(uiommu_guest_gpa_to_hva(g, 1 * MiB, 1, &p), 0);
	assert_int_equal(uiommu_guest_gpa_to_hva(g, 4 * MiB, 1, &p), 0);
	/* Delete. */
	assert_int_equal(uiommu_guest_set_memslot(g, 1, 0, 0, NULL, 0), 0);
	assert_int_equal(uiommu_guest_gpa_to_hva(g, 1 * MiB, 1, &p), -EFAULT);
	assert_int_equal(uiommu_guest_set_memslot(g, 3, 16 * MiB, 4096, mem, 0), 0);
	uiommu_guest_free(g);
	assert_true(ctx_usage(ctx, UIOMMU_RES_MEMSLOTS) == 0);
	munmap(mem, 4 * MiB);
	test_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guest_new_free),
		cmocka_unit_test(test_memslots),
	};

	test_require_memfd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
