// SPDX-License-Identifier: BSD-3-Clause
/*
 * The PAPR guest interface: LIOBN tables, every return code of every TCE
 * hypercall in both profiles (built from the checks of QEMU
 * hw/ppc/spapr_iommu.c and Linux arch/powerpc/kvm/book3s_64_vio.c),
 * the dispatcher, the seam for hardware tables (a mock), PHBs and every
 * status of every DDW RTAS call (QEMU hw/ppc/spapr_rtas_ddw.c).
 *
 * The model test of random hcall streams is the fuzz driver
 * fuzz/fuzz_papr.c (and fuzz_ddw.c for RTAS sequences), which every build
 * runs on its corpus and on random inputs (suite fuzz-corpus).
 */
#include <endian.h>
#include <sys/mman.h>

#include "test_util.h"

#include "internal.h"
#include "papr/papr.h"

#define MiB (1024ULL * 1024)
#define MEM_SIZE (4 * MiB)		 /* guest RAM at gpa 0 */
#define GPA_NOWHERE 0x40000000ULL	 /* no memslot there */
#define VIO 0x71000002ULL		 /* 256 MiB at 0, 4 KiB pages */
#define DDW 0x90000001ULL		 /* 64 KiB pages at 1 << 59 */
#define DDW_BASE (1ULL << 59)
#define DDW_SIZE 1024ULL
#define HIGH (1ULL << 32 | 0x71000003ULL) /* a LIOBN QEMU cannot name */
#define LIST_GPA 0x200000ULL

#define QEMU UIOMMU_PAPR_PROFILE_QEMU
#define KVM UIOMMU_PAPR_PROFILE_KVM
#define H_SUCCESS UIOMMU_H_SUCCESS
#define H_PARAMETER UIOMMU_H_PARAMETER
#define H_HARDWARE UIOMMU_H_HARDWARE
#define H_TOO_HARD UIOMMU_H_TOO_HARD
#define RW (UIOMMU_TCE_PCI_READ | UIOMMU_TCE_PCI_WRITE)

struct fx {
	struct uiommu_ctx *ctx;
	struct uiommu_guest *g;
	char *mem;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->ctx = test_ctx_new();
	assert_int_equal(uiommu_ctx_set_limit(f->ctx, UIOMMU_RES_LOCKED_BYTES, UIOMMU_LIMIT_NONE), 0);
	f->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(f->mem != MAP_FAILED);
	assert_int_equal(uiommu_guest_new(f->ctx, &f->g), 0);
	assert_int_equal(uiommu_guest_set_memslot(f->g, 0, 0, MEM_SIZE, f->mem, 0), 0);
	assert_int_equal(uiommu_liobn_create_vio(f->g, (uint32_t)VIO), 0);
	assert_int_equal(uiommu_liobn_create(f->g, DDW, 16, DDW_BASE >> 16, DDW_SIZE), 0);
	assert_int_equal(uiommu_liobn_create(f->g, HIGH, 12, 0, 16), 0);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	uiommu_guest_free(f->g);
	munmap(f->mem, MEM_SIZE);
	rcu_wait_callbacks(); /* the guest-view frames go after a grace period */
	test_ctx_free(f->ctx);
	free(f);
	return 0;
}

static uint64_t tce_at(struct fx *f, uint64_t liobn, uint64_t ioba)
{
	uint64_t tce = 0xdeadbeef;

	assert_int_equal(uiommu_liobn_get_tce(f->g, liobn, ioba, &tce), 0);
	return tce;
}

/* Write a big-endian TCE list into guest memory. */
static void put_list(struct fx *f, uint64_t gpa, const uint64_t *tces, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t be = htobe64(tces[i]);

		assert_int_equal(uiommu_guest_write(f->g, gpa + 8 * i, &be, 8), 0);
	}
}

/* ---- LIOBN tables ---- */

static void test_liobn_create(void **state)
{
	struct fx *f = *state;
	uint64_t bus, size, locked_before = ctx_usage(f->ctx, UIOMMU_RES_LOCKED_BYTES);
	unsigned int shift;

	assert_int_equal(uiommu_liobn_info(f->g, VIO, &bus, &shift, &size), 0);
	assert_true(bus == 0 && shift == 12 && size == 65536);
	assert_int_equal(uiommu_liobn_info(f->g, DDW, &bus, &shift, &size), 0);
	assert_true(bus == DDW_BASE && shift == 16 && size == DDW_SIZE);
	assert_int_equal(uiommu_liobn_info(f->g, DDW, NULL, NULL, NULL), 0);
	assert_int_equal(uiommu_liobn_info(f->g, 0x1234, NULL, NULL, NULL), -ENOENT);
	assert_true(ctx_usage(f->ctx, UIOMMU_RES_LIOBNS) == 3);

	/* KVM's checks. */
	assert_int_equal(uiommu_liobn_create(f->g, VIO, 12, 0, 1), -EBUSY);
	assert_int_equal(uiommu_liobn_create(f->g, 1, 12, 0, 0), -EINVAL);
	assert_int_equal(uiommu_liobn_create(f->g, 1, 11, 0, 1), -EINVAL);
	assert_int_equal(uiommu_liobn_create(f->g, 1, 35, 0, 1), -EINVAL);
	assert_int_equal(uiommu_liobn_create(f->g, 1, 12, UINT64_MAX >> 12, 1), -EINVAL);
	assert_int_equal(uiommu_liobn_create(f->g, 1, 12, UINT64_MAX, 2), -EINVAL); /* wraps */
	assert_int_equal(uiommu_liobn_create(f->g, 1, 12, (UINT64_MAX >> 12) - 1, 1), 0);
	assert_int_equal(uiommu_liobn_destroy(f->g, 1), 0);
	assert_int_equal(uiommu_liobn_create(f->g, 1, 12, 0, UIOMMU_LIOBN_MAX_ENTRIES + 1), -E2BIG);
	/* The legacy and VIO forms. */
	assert_int_equal(uiommu_liobn_create_legacy(f->g, 2, 4095), -EINVAL);
	assert_int_equal(uiommu_liobn_create_legacy(f->g, 2, 0x10000fff), 0);
	assert_int_equal(uiommu_liobn_info(f->g, 2, &bus, &shift, &size), 0);
	assert_true(bus == 0 && shift == 12 && size == 0x10000);
	assert_int_equal(uiommu_liobn_destroy(f->g, 2), 0);
	assert_true(uiommu_papr_vio_liobn(0x71000001) == 0x71000001);
	assert_true(uiommu_papr_pci_liobn(0, 0) == 0x80000000);
	assert_true(uiommu_papr_pci_liobn(1, 0) == 0x80000100);
	assert_true(uiommu_papr_pci_liobn(2, 1) == 0x80000201);
	assert_true(ctx_usage(f->ctx, UIOMMU_RES_LOCKED_BYTES) == locked_before);
	assert_true(ctx_usage(f->ctx, UIOMMU_RES_LIOBNS) == 3);
}

static void test_liobn_charges(void **state)
{
	struct fx *f = *state;
	uint64_t before = ctx_usage(f->ctx, UIOMMU_RES_LOCKED_BYTES);
	uint64_t page = 1ULL << uiommu_ctx_host_page_shift(f->ctx);
	/* kvmppc_stt_pages(): 65536 TCEs are 8 pages of 64 KiB, plus 1 for the header. */
	uint64_t want = (65536 * 8 / page + 1) * page;

	assert_int_equal(uiommu_liobn_create(f->g, 5, 12, 0, 65536), 0);
	assert_true(ctx_usage(f->ctx, UIOMMU_RES_LOCKED_BYTES) - before == want);
	assert_int_equal(uiommu_liobn_destroy(f->g, 5), 0);
	assert_true(ctx_usage(f->ctx, UIOMMU_RES_LOCKED_BYTES) == before);

	/* Limits: LIOBNs, locked bytes, heap. Nothing is left behind. */
	assert_int_equal(uiommu_ctx_set_limit(f->ctx, UIOMMU_RES_LIOBNS, 3), 0);
	assert_int_equal(uiommu_liobn_create(f->g, 5, 12, 0, 1), -ENOSPC);
	assert_int_equal(uiommu_ctx_set_limit(f->ctx, UIOMMU_RES_LIOBNS, 1024), 0);
	assert_int_equal(uiommu_ctx_set_limit(f->ctx, UIOMMU_RES_LOCKED_BYTES, before + want - 1), 0);
	assert_int_equal(uiommu_liobn_create(f->g, 5, 12, 0, 65536), -ENOMEM);
	assert_int_equal(uiommu_ctx_set_limit(f->ctx, UIOMMU_RES_LOCKED_BYTES, UIOMMU_LIMIT_NONE), 0);
	for (uint64_t n = 1;; n++) {
		int ret;

		assert_int_equal(uiommu_ctx_inject_fault(f->ctx, n, UIOMMU_FAULT_HEAP), 0);
		ret = uiommu_liobn_create(f->g, 5, 12, 0, 65536);
		if (ret == 0)
			break;
		assert_int_equal(ret, -ENOMEM);
		assert_true(ctx_usage(f->ctx, UIOMMU_RES_LIOBNS) == 3);
		assert_true(ctx_usage(f->ctx, UIOMMU_RES_LOCKED_BYTES) == before);
	}
	assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 0, 0), 0);
	assert_int_equal(uiommu_liobn_destroy(f->g, 5), 0);
	assert_true(ctx_usage(f->ctx, UIOMMU_RES_LIOBNS) == 3);
}

static void test_liobn_destroy_and_reads(void **state)
{
	struct fx *f = *state;
	uint64_t tce, gpa;
	unsigned int prot;

	assert_int_equal(uiommu_liobn_destroy(f->g, 0x999), -ENOENT);
	/* Reads: absolute IOBAs, in-page offsets ignored (get) or kept (translate). */
	assert_int_equal(uiommu_h_put_tce(f->g, DDW, DDW_BASE + 0x30000, 0x120000 | 1), H_SUCCESS);
	assert_int_equal(uiommu_liobn_get_tce(f->g, DDW, DDW_BASE + 0x3abcd, &tce), 0);
	assert_true(tce == (0x120000 | 1));
	assert_int_equal(uiommu_liobn_translate(f->g, DDW, DDW_BASE + 0x3abcd, &gpa, &prot), 0);
	assert_true(gpa == 0x12abcd && prot == UIOMMU_PROT_READ);
	assert_int_equal(uiommu_liobn_translate(f->g, DDW, DDW_BASE + 0x40000, &gpa, &prot), 0);
	assert_true(gpa == 0 && prot == UIOMMU_PROT_NONE);
	assert_int_equal(uiommu_liobn_get_tce(f->g, DDW, DDW_BASE, NULL), -EINVAL);
	assert_int_equal(uiommu_liobn_translate(f->g, DDW, DDW_BASE, NULL, &prot), -EINVAL);
	assert_int_equal(uiommu_liobn_translate(f->g, DDW, DDW_BASE, &gpa, NULL), -EINVAL);
	assert_int_equal(uiommu_liobn_get_tce(f->g, 0x999, 0, &tce), -ENOENT);
	assert_int_equal(uiommu_liobn_translate(f->g, 0x999, 0, &gpa, &prot), -ENOENT);
	assert_int_equal(uiommu_liobn_get_tce(f->g, DDW, DDW_BASE - 1, &tce), -ERANGE);
	assert_int_equal(uiommu_liobn_get_tce(f->g, DDW, DDW_BASE + (DDW_SIZE << 16), &tce),
			 -ERANGE);
	assert_int_equal(uiommu_liobn_translate(f->g, DDW, 0, &gpa, &prot), -ERANGE);
	/* Destroy: gone at once, charges back at once, frames after a grace period. */
	assert_true(ctx_usage(f->ctx, UIOMMU_RES_FRAME_BYTES) > 0);
	assert_int_equal(uiommu_liobn_destroy(f->g, DDW), 0);
	assert_int_equal(uiommu_liobn_get_tce(f->g, DDW, DDW_BASE, &tce), -ENOENT);
	assert_true(ctx_usage(f->ctx, UIOMMU_RES_LIOBNS) == 2);
	rcu_wait_callbacks();
	assert_true(ctx_usage(f->ctx, UIOMMU_RES_FRAME_BYTES) == 0);
}

/*
 * uiommu_liobn_get_tces() against uiommu_liobn_get_tce() of each entry:
 * ranges inside, across and over absent guest-view pages, and every error
 * (which writes nothing).
 */
static void check_tces(struct fx *f, uint64_t liobn, uint64_t ioba, unsigned int shift,
		       uint64_t npages)
{
	static uint64_t tces[4096];

	assert_true(npages < 4096);
	memset(tces, 0xa5, sizeof(tces));
	assert_int_equal(uiommu_liobn_get_tces(f->g, liobn, ioba, npages, tces), 0);
	for (uint64_t k = 0; k < npages; k++)
		assert_true(tces[k] == tce_at(f, liobn, ioba + (k << shift)));
	assert_true(tces[npages] == 0xa5a5a5a5a5a5a5a5ULL);
}

static void test_liobn_get_tces(void **state)
{
	struct fx *f = *state;
	uint64_t tce = 7, seed = test_seed(), vio_size = 256 * MiB >> 12;

	for (uint64_t k = 0; k < 3000; k++)
		if (test_rand(&seed) % 4 == 0)
			assert_int_equal(uiommu_h_put_tce(f->g, VIO, k << 12,
							  ((k % 1024) << 12) | (1 + k % 3)),
					 H_SUCCESS);
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, (vio_size - 1) << 12, 0x3000 | 2), H_SUCCESS);
	assert_int_equal(uiommu_h_put_tce(f->g, DDW, DDW_BASE + 0x30000, 0x120000 | 1), H_SUCCESS);
	check_tces(f, VIO, 0, 12, 4000);
	check_tces(f, VIO, 0x1abc, 12, 3);   /* in-page offset ignored */
	check_tces(f, VIO, 511 << 12, 12, 1030);
	check_tces(f, VIO, (vio_size - 4000) << 12, 12, 4000); /* absent pages, then the last */
	check_tces(f, VIO, (vio_size - 1) << 12, 12, 1);
	check_tces(f, DDW, DDW_BASE, 16, DDW_SIZE);
	for (int i = 0; i < 100; i++) {
		uint64_t first = test_rand(&seed) % 3000;

		check_tces(f, VIO, first << 12, 12, 1 + test_rand(&seed) % 1000);
	}
	/* Errors, nothing written. */
	assert_int_equal(uiommu_liobn_get_tces(f->g, VIO, 0, 1, NULL), -EINVAL);
	assert_int_equal(uiommu_liobn_get_tces(f->g, VIO, 0, 0, &tce), -EINVAL);
	assert_int_equal(uiommu_liobn_get_tces(f->g, 0x999, 0, 1, &tce), -ENOENT);
	assert_int_equal(uiommu_liobn_get_tces(f->g, DDW, DDW_BASE - 1, 1, &tce), -ERANGE);
	assert_int_equal(uiommu_liobn_get_tces(f->g, DDW, DDW_BASE + (DDW_SIZE << 16), 1, &tce),
			 -ERANGE);
	assert_int_equal(uiommu_liobn_get_tces(f->g, DDW, DDW_BASE + 0x10000, DDW_SIZE, &tce),
			 -ERANGE);
	assert_int_equal(uiommu_liobn_get_tces(f->g, DDW, DDW_BASE, UINT64_MAX, &tce), -ERANGE);
	assert_true(tce == 7);
}

static void test_profile(void **state)
{
	struct fx *f = *state;

	assert_int_equal(uiommu_papr_get_profile(f->g), QEMU);
	assert_int_equal(uiommu_papr_set_profile(f->g, KVM), 0);
	assert_int_equal(uiommu_papr_get_profile(f->g), KVM);
	assert_int_equal(uiommu_papr_set_profile(f->g, (enum uiommu_papr_profile)7), -EINVAL);
	assert_int_equal(uiommu_papr_get_profile(f->g), KVM);
}

/* ---- H_PUT_TCE ---- */

static void test_put_tce_qemu(void **state)
{
	struct fx *f = *state;

	/* H_SUCCESS; a zero TCE into an absent page allocates nothing. */
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x5000, 0), H_SUCCESS);
	assert_true(papr_liobn_view_pages(f->g, VIO) == 0);
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x5000, 0x123000 | RW), H_SUCCESS);
	assert_true(tce_at(f, VIO, 0x5000) == (0x123000 | RW));
	assert_true(papr_liobn_view_pages(f->g, VIO) == 1);
	/* The IOBA is masked to its page; any TCE is stored, even outside memory. */
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x6fff, GPA_NOWHERE | 3), H_SUCCESS);
	assert_true(tce_at(f, VIO, 0x6000) == (GPA_NOWHERE | 3));
	assert_int_equal(uiommu_h_put_tce(f->g, DDW, DDW_BASE + 0x11234, 0x1000 | 3), H_SUCCESS);
	assert_true(tce_at(f, DDW, DDW_BASE + 0x10000) == (0x1000 | 3));
	/* H_PARAMETER: unknown LIOBN, LIOBN >= 2^32, outside the window (both sides). */
	assert_int_equal(uiommu_h_put_tce(f->g, 0x1234, 0, 1), H_PARAMETER);
	assert_int_equal(uiommu_h_put_tce(f->g, HIGH, 0, 1), H_PARAMETER);
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x10000000, 1), H_PARAMETER);
	assert_int_equal(uiommu_h_put_tce(f->g, DDW, DDW_BASE - 0x10000, 1), H_PARAMETER);
	assert_int_equal(uiommu_h_put_tce(f->g, DDW, DDW_BASE + (DDW_SIZE << 16), 1), H_PARAMETER);
	assert_true(ctx_counter(f->ctx, UIOMMU_COUNTER_GUEST_ERRORS) >= 5);
	/* H_HARDWARE: no frame for the page; nothing changed. */
	assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 1, UIOMMU_FAULT_FRAME), 0);
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x8000000, 0x1000 | 1), H_HARDWARE);
	assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 0, 0), 0);
	assert_true(tce_at(f, VIO, 0x8000000) == 0);
	assert_int_equal(uiommu_ctx_set_limit(f->ctx, UIOMMU_RES_FRAME_BYTES, 0), 0);
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x8000000, 0x1000 | 1), H_HARDWARE);
	/* ... but a present page needs nothing. */
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x5000, 0x2000 | 1), H_SUCCESS);
	assert_int_equal(uiommu_ctx_set_limit(f->ctx, UIOMMU_RES_FRAME_BYTES, 1ULL << 30), 0);
}

static void test_put_tce_kvm(void **state)
{
	struct fx *f = *state;

	assert_int_equal(uiommu_papr_set_profile(f->g, KVM), 0);
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x5000, 0x123000 | RW), H_SUCCESS);
	assert_true(tce_at(f, VIO, 0x5000) == (0x123000 | RW));
	/* LIOBNs above 2^32 are fine for KVM. */
	assert_int_equal(uiommu_h_put_tce(f->g, HIGH, 0x1000, 0x1000 | 1), H_SUCCESS);
	/* Poison: no R/W, any other bits, even outside memory. */
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x6000, 0xdead000000000000ULL | 4), H_SUCCESS);
	assert_true(tce_at(f, VIO, 0x6000) == (0xdead000000000000ULL | 4));
	/* H_PARAMETER: misaligned IOBA, outside the window. */
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x6001, 0), H_PARAMETER);
	assert_int_equal(uiommu_h_put_tce(f->g, DDW, DDW_BASE + 0x1000, 0), H_PARAMETER);
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x10000000, 0), H_PARAMETER);
	assert_int_equal(uiommu_h_put_tce(f->g, DDW, DDW_BASE - 0x10000, 0), H_PARAMETER);
	assert_int_equal(uiommu_h_put_tce(f->g, DDW, DDW_BASE + (DDW_SIZE << 16), 0), H_PARAMETER);
	assert_true(tce_at(f, VIO, 0x6000) == (0xdead000000000000ULL | 4));
	/* H_TOO_HARD: unknown LIOBN; gpa not aligned to the IOMMU page; gpa outside memory. */
	assert_int_equal(uiommu_h_put_tce(f->g, 0x1234, 0, 1), H_TOO_HARD);
	assert_int_equal(uiommu_h_put_tce(f->g, DDW, DDW_BASE, 0x1000 | 1), H_TOO_HARD);
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x7000, GPA_NOWHERE | 2), H_TOO_HARD);
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x7000, 0x1004 | 1), H_TOO_HARD);
	assert_true(tce_at(f, VIO, 0x7000) == 0);
	/* H_HARDWARE. */
	assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 1, UIOMMU_FAULT_FRAME), 0);
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x8000000, 0x1000 | 1), H_HARDWARE);
	assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 0, 0), 0);
	assert_true(tce_at(f, VIO, 0x8000000) == 0);
}

/* ---- H_GET_TCE ---- */

static void test_get_tce(void **state)
{
	struct fx *f = *state;
	uint64_t tce = 77;

	assert_int_equal(uiommu_h_put_tce(f->g, DDW, DDW_BASE + 0x20000, 0x30000 | 2), H_SUCCESS);
	for (int p = QEMU; p <= KVM; p++) {
		assert_int_equal(uiommu_papr_set_profile(f->g, (enum uiommu_papr_profile)p), 0);
		assert_int_equal(uiommu_h_get_tce(f->g, DDW, DDW_BASE + 0x20000, &tce), H_SUCCESS);
		assert_true(tce == (0x30000 | 2));
		/* An absent page reads 0. */
		assert_int_equal(uiommu_h_get_tce(f->g, VIO, 0x9000000, &tce), H_SUCCESS);
		assert_true(tce == 0);
		assert_int_equal(uiommu_h_get_tce(f->g, DDW, DDW_BASE, NULL), H_PARAMETER);
		tce = 77;
		assert_int_equal(uiommu_h_get_tce(f->g, DDW, DDW_BASE + (DDW_SIZE << 16), &tce),
				 H_PARAMETER);
		assert_int_equal(uiommu_h_get_tce(f->g, DDW, 0, &tce), H_PARAMETER);
		assert_true(tce == 77); /* untouched on failure */
	}
	/* Profile differences: misaligned IOBA, unknown and high LIOBNs. */
	assert_int_equal(uiommu_h_get_tce(f->g, DDW, DDW_BASE + 0x20008, &tce), H_PARAMETER);
	assert_int_equal(uiommu_h_get_tce(f->g, 0x1234, 0, &tce), H_TOO_HARD);
	assert_int_equal(uiommu_h_get_tce(f->g, HIGH, 0, &tce), H_SUCCESS);
	assert_int_equal(uiommu_papr_set_profile(f->g, QEMU), 0);
	assert_int_equal(uiommu_h_get_tce(f->g, DDW, DDW_BASE + 0x20008, &tce), H_SUCCESS);
	assert_true(tce == (0x30000 | 2));
	assert_int_equal(uiommu_h_get_tce(f->g, 0x1234, 0, &tce), H_PARAMETER);
	assert_int_equal(uiommu_h_get_tce(f->g, HIGH, 0, &tce), H_PARAMETER);
}

/* ---- H_PUT_TCE_INDIRECT ---- */

static void test_indirect_qemu(void **state)
{
	struct fx *f = *state;
	uint64_t list[512];

	for (int i = 0; i < 512; i++)
		list[i] = (0x100000 + (uint64_t)i * 0x1000) | 3;
	put_list(f, LIST_GPA, list, 512);
	/* H_SUCCESS, big-endian list, masked IOBA; 512 entries cross a guest-view page. */
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x1ff0123, LIST_GPA, 512), H_SUCCESS);
	for (int i = 0; i < 512; i++)
		assert_true(tce_at(f, VIO, 0x1ff0000 + (uint64_t)i * 0x1000) == list[i]);
	/* H_PARAMETER, nothing written: > 512, misaligned list, npages 0, unknown, high. */
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0, LIST_GPA, 513), H_PARAMETER);
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0, LIST_GPA + 8, 1), H_PARAMETER);
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0, LIST_GPA, 0), H_PARAMETER);
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, 0x1234, 0, LIST_GPA, 1), H_PARAMETER);
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, HIGH, 0, LIST_GPA, 1), H_PARAMETER);
	assert_true(tce_at(f, VIO, 0) == 0);
	/* H_PARAMETER after writing the entries inside the window: stop at the first failure. */
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x10000000 - 0x3000, LIST_GPA, 5),
			 H_PARAMETER);
	for (int i = 0; i < 3; i++)
		assert_true(tce_at(f, VIO, 0x10000000 - 0x3000 + (uint64_t)i * 0x1000) == list[i]);
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, DDW, DDW_BASE - 0x10000, LIST_GPA, 2),
			 H_PARAMETER);
	assert_true(tce_at(f, DDW, DDW_BASE) == 0);
	/* A list outside guest memory reads as zeros (QEMU's unassigned memory). */
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x1ff0000, GPA_NOWHERE, 4), H_SUCCESS);
	for (int i = 0; i < 4; i++)
		assert_true(tce_at(f, VIO, 0x1ff0000 + (uint64_t)i * 0x1000) == 0);
	assert_true(tce_at(f, VIO, 0x1ff4000) == list[4]);
	/* H_HARDWARE: nothing written. */
	assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 1, UIOMMU_FAULT_FRAME), 0);
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x4000000, LIST_GPA, 8), H_HARDWARE);
	assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 0, 0), 0);
	assert_true(tce_at(f, VIO, 0x4000000) == 0);
}

static void test_indirect_kvm(void **state)
{
	struct fx *f = *state;
	uint64_t list[16];
	uint64_t pages = papr_liobn_view_pages(f->g, VIO);

	assert_int_equal(uiommu_papr_set_profile(f->g, KVM), 0);
	for (int i = 0; i < 16; i++)
		list[i] = (0x100000 + (uint64_t)i * 0x1000) | 1;
	put_list(f, LIST_GPA, list, 16);
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x10000, LIST_GPA, 16), H_SUCCESS);
	for (int i = 0; i < 16; i++)
		assert_true(tce_at(f, VIO, 0x10000 + (uint64_t)i * 0x1000) == list[i]);
	assert_true(papr_liobn_view_pages(f->g, VIO) == pages + 1);
	/* npages 0: H_SUCCESS (KVM's ret starts as H_SUCCESS), list still looked up. */
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x10000, LIST_GPA, 0), H_SUCCESS);
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x10000, GPA_NOWHERE, 0), H_TOO_HARD);
	/* H_PARAMETER, nothing written. */
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x20000, LIST_GPA, 513), H_PARAMETER);
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x20000, LIST_GPA + 0x800, 1),
			 H_PARAMETER);
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x20800, LIST_GPA, 1), H_PARAMETER);
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x10000000 - 0x3000, LIST_GPA, 5),
			 H_PARAMETER);
	assert_true(tce_at(f, VIO, 0x10000000 - 0x3000) == 0);
	/* H_TOO_HARD: unknown, list outside memory, one bad TCE: nothing written (validate-all). */
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, 0x1234, 0, LIST_GPA, 1), H_TOO_HARD);
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x20000, GPA_NOWHERE, 1), H_TOO_HARD);
	list[7] = GPA_NOWHERE | 1;
	put_list(f, LIST_GPA, list, 16);
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x20000, LIST_GPA, 16), H_TOO_HARD);
	list[7] = 0x1100 | 1; /* misaligned gpa */
	put_list(f, LIST_GPA, list, 16);
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x20000, LIST_GPA, 16), H_TOO_HARD);
	assert_true(tce_at(f, VIO, 0x20000) == 0);
	/* [QUIRK] a poison TCE outside memory fails KVM's second pass: earlier entries stay. */
	list[7] = GPA_NOWHERE; /* no R/W */
	put_list(f, LIST_GPA, list, 16);
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x20000, LIST_GPA, 16), H_PARAMETER);
	for (int i = 0; i < 7; i++)
		assert_true(tce_at(f, VIO, 0x20000 + (uint64_t)i * 0x1000) == list[i]);
	assert_true(tce_at(f, VIO, 0x27000) == 0);
	/* H_HARDWARE. */
	assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 1, UIOMMU_FAULT_FRAME), 0);
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x4000000, LIST_GPA, 4), H_HARDWARE);
	assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 0, 0), 0);
	assert_true(tce_at(f, VIO, 0x4000000) == 0);
}

/* ---- H_STUFF_TCE ---- */

static void test_stuff_qemu(void **state)
{
	struct fx *f = *state;

	/* H_SUCCESS: clearing an empty table allocates nothing (the boot-time clear). */
	for (uint64_t ioba = 0; ioba < 0x10000000; ioba += 512 * 0x1000)
		assert_int_equal(uiommu_h_stuff_tce(f->g, VIO, ioba, 0, 512), H_SUCCESS);
	assert_true(papr_liobn_view_pages(f->g, VIO) == 0);
	/* Any value, R/W included; the IOBA is masked. */
	assert_int_equal(uiommu_h_stuff_tce(f->g, VIO, 0x3fff, 0x5000 | 3, 4), H_SUCCESS);
	for (int i = 0; i < 4; i++)
		assert_true(tce_at(f, VIO, 0x3000 + (uint64_t)i * 0x1000) == (0x5000 | 3));
	assert_int_equal(uiommu_h_stuff_tce(f->g, VIO, 0x3000, 0, 2), H_SUCCESS);
	assert_true(tce_at(f, VIO, 0x4000) == 0 && tce_at(f, VIO, 0x5000) == (0x5000 | 3));
	/* H_PARAMETER, nothing written: npages 0, npages > window, unknown, high. */
	assert_int_equal(uiommu_h_stuff_tce(f->g, VIO, 0x5000, 0, 0), H_PARAMETER);
	assert_int_equal(uiommu_h_stuff_tce(f->g, DDW, DDW_BASE, 7, DDW_SIZE + 1), H_PARAMETER);
	assert_int_equal(uiommu_h_stuff_tce(f->g, 0x1234, 0, 0, 1), H_PARAMETER);
	assert_int_equal(uiommu_h_stuff_tce(f->g, HIGH, 0, 0, 1), H_PARAMETER);
	assert_true(tce_at(f, VIO, 0x5000) == (0x5000 | 3));
	assert_true(tce_at(f, DDW, DDW_BASE) == 0);
	/* H_PARAMETER after the entries inside the window. */
	assert_int_equal(uiommu_h_stuff_tce(f->g, DDW, DDW_BASE + ((DDW_SIZE - 2) << 16), 9, 4),
			 H_PARAMETER);
	assert_true(tce_at(f, DDW, DDW_BASE + ((DDW_SIZE - 2) << 16)) == 9);
	assert_true(tce_at(f, DDW, DDW_BASE + ((DDW_SIZE - 1) << 16)) == 9);
	/* H_HARDWARE for a non-zero value; nothing written. */
	assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 1, UIOMMU_FAULT_FRAME), 0);
	assert_int_equal(uiommu_h_stuff_tce(f->g, VIO, 0x8000000, 4, 512), H_HARDWARE);
	assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 0, 0), 0);
	assert_true(tce_at(f, VIO, 0x8000000) == 0);
}

static void test_stuff_kvm(void **state)
{
	struct fx *f = *state;

	assert_int_equal(uiommu_papr_set_profile(f->g, KVM), 0);
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x3000, 0x3000 | 3), H_SUCCESS);
	assert_int_equal(uiommu_h_stuff_tce(f->g, VIO, 0x2000, 0, 3), H_SUCCESS);
	assert_true(tce_at(f, VIO, 0x3000) == 0);
	assert_int_equal(uiommu_h_stuff_tce(f->g, VIO, 0x2000, 0xbad0, 3), H_SUCCESS); /* poison */
	assert_true(tce_at(f, VIO, 0x4000) == 0xbad0);
	assert_int_equal(uiommu_h_stuff_tce(f->g, VIO, 0x10000000, 0, 0), H_SUCCESS);
	/* H_PARAMETER, nothing written: R/W bits, misaligned, range past the end. */
	assert_int_equal(uiommu_h_stuff_tce(f->g, VIO, 0x2000, 1, 1), H_PARAMETER);
	assert_int_equal(uiommu_h_stuff_tce(f->g, VIO, 0x2000, 2, 1), H_PARAMETER);
	assert_int_equal(uiommu_h_stuff_tce(f->g, VIO, 0x2008, 0, 1), H_PARAMETER);
	assert_int_equal(uiommu_h_stuff_tce(f->g, DDW, DDW_BASE + ((DDW_SIZE - 2) << 16), 0, 4),
			 H_PARAMETER);
	assert_int_equal(uiommu_h_stuff_tce(f->g, DDW, DDW_BASE, 0, UINT64_MAX), H_PARAMETER);
	assert_true(tce_at(f, VIO, 0x2000) == 0xbad0);
	/* H_TOO_HARD: unknown. */
	assert_int_equal(uiommu_h_stuff_tce(f->g, 0x1234, 0, 0, 1), H_TOO_HARD);
	/* H_HARDWARE: a poison value needs pages. */
	assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 1, UIOMMU_FAULT_FRAME), 0);
	assert_int_equal(uiommu_h_stuff_tce(f->g, VIO, 0x8000000, 4, 512), H_HARDWARE);
	assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 0, 0), 0);
}

/* ---- the dispatcher ---- */

static void test_dispatcher(void **state)
{
	struct fx *f = *state;
	uint64_t args[4], rets[2] = { 0, 0 }, list = htobe64(0x7000 | 1);

	assert_int_equal(uiommu_guest_write(f->g, LIST_GPA, &list, 8), 0);
	args[0] = VIO, args[1] = 0x1000, args[2] = 0x6000 | 3;
	assert_int_equal(uiommu_papr_hcall(f->g, UIOMMU_H_PUT_TCE, args, 3, NULL, 0), H_SUCCESS);
	assert_int_equal(uiommu_papr_hcall(f->g, UIOMMU_H_GET_TCE, args, 2, rets, 1), H_SUCCESS);
	assert_true(rets[0] == (0x6000 | 3) && rets[1] == 0);
	args[1] = 0x2000, args[2] = LIST_GPA, args[3] = 1;
	assert_int_equal(uiommu_papr_hcall(f->g, UIOMMU_H_PUT_TCE_INDIRECT, args, 4, NULL, 0),
			 H_SUCCESS);
	assert_true(tce_at(f, VIO, 0x2000) == (0x7000 | 1));
	args[1] = 0x1000, args[2] = 0, args[3] = 2;
	assert_int_equal(uiommu_papr_hcall(f->g, UIOMMU_H_STUFF_TCE, args, 4, NULL, 0), H_SUCCESS);
	assert_true(tce_at(f, VIO, 0x2000) == 0);
	/* Failures pass through; GET leaves rets alone then. */
	args[1] = 0x10000000;
	rets[0] = 5;
	assert_int_equal(uiommu_papr_hcall(f->g, UIOMMU_H_GET_TCE, args, 2, rets, 1), H_PARAMETER);
	assert_true(rets[0] == 5);
	assert_int_equal(uiommu_papr_set_profile(f->g, KVM), 0);
	args[0] = 0x1234;
	assert_int_equal(uiommu_papr_hcall(f->g, UIOMMU_H_PUT_TCE, args, 3, NULL, 0), H_TOO_HARD);
	/* H_FUNCTION, and missing registers. */
	assert_int_equal(uiommu_papr_hcall(f->g, 0x104, args, 4, rets, 2), UIOMMU_H_FUNCTION);
	assert_int_equal(uiommu_papr_hcall(f->g, UIOMMU_H_PUT_TCE, args, 2, rets, 1), H_PARAMETER);
	assert_int_equal(uiommu_papr_hcall(f->g, UIOMMU_H_PUT_TCE, NULL, 3, rets, 1), H_PARAMETER);
	assert_int_equal(uiommu_papr_hcall(f->g, UIOMMU_H_GET_TCE, args, 2, rets, 0), H_PARAMETER);
	assert_int_equal(uiommu_papr_hcall(f->g, UIOMMU_H_GET_TCE, args, 2, NULL, 1), H_PARAMETER);
	assert_int_equal(uiommu_papr_hcall(f->g, UIOMMU_H_STUFF_TCE, args, 3, NULL, 0), H_PARAMETER);
	assert_int_equal(uiommu_papr_hcall(f->g, UIOMMU_H_PUT_TCE_INDIRECT, args, 3, NULL, 0),
			 H_PARAMETER);
}

/* ---- the seam for hardware tables: a mock ---- */

struct mock_hw {
	long validate_ret, map_ret, unmap_ret;
	uint64_t fail_entry; /* map/unmap fail only there (UINT64_MAX: everywhere) */
	uint64_t hw[64];      /* mapped TCE per entry (entries of the VIO window) */
	int validates, maps, unmaps, clears, begins, ends;
	uint64_t view_at_map; /* the guest view at the last map: must be the old value */
	struct fx *f;
};

static long mock_validate(struct papr_hw_batch *b, uint64_t tce)
{
	struct mock_hw *m = b->opaque;

	(void)tce;
	m->validates++;
	return m->validate_ret;
}

static bool mock_fails(struct mock_hw *m, uint64_t entry)
{
	return m->fail_entry == UINT64_MAX || m->fail_entry == entry;
}

static long mock_begin(struct papr_hw_batch *b, uint64_t entry, uint64_t npages)
{
	struct mock_hw *m = b->opaque;

	assert_true(npages >= 1 && entry + npages > entry);
	m->begins++;
	return H_SUCCESS;
}

static void mock_end(struct papr_hw_batch *b)
{
	struct mock_hw *m = b->opaque;

	m->ends++;
}

static long mock_map(struct papr_hw_batch *b, uint64_t entry, uint64_t tce)
{
	struct mock_hw *m = b->opaque;

	m->maps++;
	m->view_at_map = tce_at(m->f, VIO, entry << 12);
	if (mock_fails(m, entry) && m->map_ret != H_SUCCESS)
		return m->map_ret;
	m->hw[entry % 64] = tce;
	return H_SUCCESS;
}

static long mock_unmap(struct papr_hw_batch *b, uint64_t entry)
{
	struct mock_hw *m = b->opaque;

	m->unmaps++;
	if (mock_fails(m, entry) && m->unmap_ret != H_SUCCESS)
		return m->unmap_ret;
	m->hw[entry % 64] = 0;
	return H_SUCCESS;
}

static void mock_clear(struct papr_hw_batch *b, uint64_t entry)
{
	struct mock_hw *m = b->opaque;

	m->clears++;
	m->hw[entry % 64] = 0;
}

static const struct papr_hw_ops mock_ops = {
	.begin = mock_begin, .validate = mock_validate, .map = mock_map, .unmap = mock_unmap,
	.clear = mock_clear, .end = mock_end,
};

static void test_hw_seam(void **state)
{
	struct fx *f = *state;
	struct mock_hw m = { .fail_entry = UINT64_MAX, .f = f };
	uint64_t list[8];

	assert_int_equal(papr_liobn_attach_hw(f->g, 0x1234, &mock_ops, &m), -ENOENT);
	assert_int_equal(papr_liobn_attach_hw(f->g, VIO, &mock_ops, &m), 0);
	assert_int_equal(papr_liobn_attach_hw(f->g, VIO, &mock_ops, &m), -EEXIST);
	assert_int_equal(uiommu_liobn_destroy(f->g, VIO), -EBUSY);

	/* PUT: the table first, then the view. */
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x1000, 0x9000 | 3), H_SUCCESS);
	assert_true(m.maps == 1 && m.hw[1] == (0x9000 | 3) && m.view_at_map == 0);
	assert_true(tce_at(f, VIO, 0x1000) == (0x9000 | 3));
	/* A failing table: cleared, the failure returned, the view unchanged. */
	m.map_ret = H_TOO_HARD;
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x1000, 0xa000 | 3), H_TOO_HARD);
	assert_true(m.clears == 1 && m.hw[1] == 0);
	assert_true(tce_at(f, VIO, 0x1000) == (0x9000 | 3));
	m.map_ret = H_SUCCESS;
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x1000, 0), H_SUCCESS);
	assert_true(m.unmaps == 1);

	/* INDIRECT: entries before the failing one are committed. */
	for (int i = 0; i < 8; i++)
		list[i] = (0x10000 + (uint64_t)i * 0x1000) | 1;
	put_list(f, LIST_GPA, list, 8);
	m.map_ret = H_HARDWARE;
	m.fail_entry = 5;
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x2000, LIST_GPA, 8), H_HARDWARE);
	for (int i = 0; i < 3; i++)
		assert_true(tce_at(f, VIO, 0x2000 + (uint64_t)i * 0x1000) == list[i]);
	assert_true(tce_at(f, VIO, 0x5000) == 0 && m.hw[5] == 0);

	/* KVM: validate is asked first; H_TOO_HARD there changes nothing. */
	assert_int_equal(uiommu_papr_set_profile(f->g, KVM), 0);
	m.map_ret = H_SUCCESS;
	m.validate_ret = H_TOO_HARD;
	m.maps = 0;
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x2000, LIST_GPA, 8), H_TOO_HARD);
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x2000, 0x1000 | 1), H_TOO_HARD);
	assert_true(m.maps == 0 && m.validates == 2);
	m.validate_ret = H_SUCCESS;
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x2000, LIST_GPA, 8), H_SUCCESS);
	assert_true(m.maps == 8 && tce_at(f, VIO, 0x9000) == list[7]);

	/* STUFF (KVM): H_TOO_HARD at once leaves the view alone... */
	m.unmap_ret = H_TOO_HARD;
	m.fail_entry = 4;
	assert_int_equal(uiommu_h_stuff_tce(f->g, VIO, 0x2000, 0, 8), H_TOO_HARD);
	assert_true(tce_at(f, VIO, 0x2000) == list[0]);
	/* ... another failure clears that entry and goes on; the view is written. */
	m.unmap_ret = H_HARDWARE;
	m.clears = 0;
	assert_int_equal(uiommu_h_stuff_tce(f->g, VIO, 0x2000, 0, 8), H_SUCCESS);
	assert_true(m.clears == 1 && tce_at(f, VIO, 0x2000) == 0 && tce_at(f, VIO, 0x9000) == 0);
	m.fail_entry = 9; /* the last entry: the hcall returns the last op's code */
	assert_int_equal(uiommu_h_stuff_tce(f->g, VIO, 0x2000, 0, 8), H_HARDWARE);

	/* STUFF (QEMU): per entry, stop at the failure. */
	assert_int_equal(uiommu_papr_set_profile(f->g, QEMU), 0);
	m.map_ret = H_HARDWARE;
	m.fail_entry = 4;
	assert_int_equal(uiommu_h_stuff_tce(f->g, VIO, 0x2000, 0x1000 | 1, 4), H_HARDWARE);
	assert_true(tce_at(f, VIO, 0x3000) == (0x1000 | 1) && tce_at(f, VIO, 0x4000) == 0);

	assert_int_equal(papr_liobn_detach_hw(f->g, VIO, &mock_ops, &m), 0);
	assert_int_equal(papr_liobn_detach_hw(f->g, VIO, &mock_ops, &m), -ENOENT);
	/* Every hcall that changed a table did so in one batch, begun and ended. */
	assert_true(m.begins > 0 && m.begins == m.ends);

	/* A PHB whose window has hardware tables stays. */
	{
		struct uiommu_papr_phb_config c;
		uint64_t pci = uiommu_papr_pci_liobn(7, 0);

		uiommu_papr_phb_config_default(&c, 7);
		assert_int_equal(uiommu_papr_phb_add(f->g, &c), 0);
		assert_int_equal(papr_liobn_attach_hw(f->g, pci, &mock_ops, &m), 0);
		assert_int_equal(uiommu_papr_phb_remove(f->g, c.buid), -EBUSY);
		assert_int_equal(uiommu_liobn_info(f->g, pci, NULL, NULL, NULL), 0);
		assert_int_equal(papr_liobn_detach_hw(f->g, pci, &mock_ops, &m), 0);
		assert_int_equal(uiommu_papr_phb_remove(f->g, c.buid), 0);
	}
	m.maps = 0;
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x1000, 0x9000 | 3), H_SUCCESS);
	assert_true(m.maps == 0);
}

/* ---- the seam's list form: a mock ---- */

struct mock_list {
	long validate_ret;
	uint64_t fail_at; /* put_list does entries before it, then H_TOO_HARD (UINT64_MAX: none) */
	uint64_t hw[64];
	int validates, puts, begins, ends;
	uint64_t last_n, validated_n;
	struct fx *f;
};

static long ml_begin(struct papr_hw_batch *b, uint64_t entry, uint64_t npages)
{
	struct mock_list *m = b->opaque;

	(void)entry, (void)npages;
	m->begins++;
	return H_SUCCESS;
}

static void ml_end(struct papr_hw_batch *b)
{
	struct mock_list *m = b->opaque;

	m->ends++;
}

static long ml_validate_list(struct papr_hw_batch *b, const uint64_t *tces, uint64_t n)
{
	struct mock_list *m = b->opaque;

	(void)tces;
	m->validates++;
	m->validated_n = n;
	return m->validate_ret;
}

static long ml_put_list(struct papr_hw_batch *b, uint64_t entry, const uint64_t *tces, bool be,
			uint64_t n, uint64_t *ret_done)
{
	struct mock_list *m = b->opaque;

	m->puts++;
	m->last_n = n;
	for (uint64_t i = 0; i < n; i++) {
		if (entry + i == m->fail_at) {
			m->hw[(entry + i) % 64] = 0; /* the failing entry is cleared */
			*ret_done = i;
			return H_TOO_HARD;
		}
		m->hw[(entry + i) % 64] = be ? be64toh(tces[i]) : tces[i];
	}
	*ret_done = n;
	return H_SUCCESS;
}

static long ml_unmap_range(struct papr_hw_batch *b, uint64_t entry, uint64_t npages)
{
	struct mock_list *m = b->opaque;

	for (uint64_t i = 0; i < npages; i++)
		m->hw[(entry + i) % 64] = 0;
	return H_SUCCESS;
}

static const struct papr_hw_ops list_ops = {
	.begin = ml_begin, .validate_list = ml_validate_list, .put_list = ml_put_list,
	.unmap_range = ml_unmap_range, .end = ml_end,
};

/* One call per table and hcall; the view takes only the entries the tables did. */
static void test_hw_seam_lists(void **state)
{
	struct fx *f = *state;
	struct mock_list m = { .fail_at = UINT64_MAX, .f = f };
	uint64_t list[8];

	assert_int_equal(papr_liobn_attach_hw(f->g, VIO, &list_ops, &m), 0);
	assert_int_equal(uiommu_h_put_tce(f->g, VIO, 0x1000, 0x9000 | 3), H_SUCCESS);
	assert_true(m.puts == 1 && m.last_n == 1 && m.hw[1] == (0x9000 | 3));
	assert_true(tce_at(f, VIO, 0x1000) == (0x9000 | 3));

	for (int i = 0; i < 8; i++)
		list[i] = (0x10000 + (uint64_t)i * 0x1000) | 1;
	put_list(f, LIST_GPA, list, 8);
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x10000, LIST_GPA, 8), H_SUCCESS);
	assert_true(m.puts == 2 && m.last_n == 8 && m.hw[16 + 7] == list[7]);
	assert_true(tce_at(f, VIO, 0x17000) == list[7]);
	/* A failure at entry 0x15: 0x10..0x14 written in the view, 0x15.. as they were. */
	for (int i = 0; i < 8; i++)
		list[i] = (0x20000 + (uint64_t)i * 0x1000) | 3;
	put_list(f, LIST_GPA, list, 8);
	m.fail_at = 0x15;
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x10000, LIST_GPA, 8), H_TOO_HARD);
	assert_true(tce_at(f, VIO, 0x14000) == list[4] && m.hw[0x15] == 0);
	assert_true(tce_at(f, VIO, 0x15000) == ((0x10000 + 5 * 0x1000) | 1));
	m.fail_at = UINT64_MAX;

	/* KVM: one validation of the whole list first; H_TOO_HARD there writes nothing. */
	assert_int_equal(uiommu_papr_set_profile(f->g, KVM), 0);
	m.validate_ret = H_TOO_HARD;
	m.puts = 0;
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x10000, LIST_GPA, 8), H_TOO_HARD);
	assert_true(m.validates == 1 && m.validated_n == 8 && m.puts == 0);
	assert_true(tce_at(f, VIO, 0x17000) != list[7]);
	m.validate_ret = H_SUCCESS;
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, VIO, 0x10000, LIST_GPA, 8), H_SUCCESS);
	assert_true(m.validates == 2 && m.puts == 1 && tce_at(f, VIO, 0x17000) == list[7]);
	/* STUFF: the range form. */
	assert_int_equal(uiommu_h_stuff_tce(f->g, VIO, 0x10000, 0, 8), H_SUCCESS);
	assert_true(m.hw[0x17] == 0 && tce_at(f, VIO, 0x17000) == 0);

	assert_int_equal(papr_liobn_detach_hw(f->g, VIO, &list_ops, &m), 0);
	assert_true(m.begins > 0 && m.begins == m.ends);
}

/* ---- PHBs ---- */

static void test_phb_add_remove(void **state)
{
	struct fx *f = *state;
	struct uiommu_papr_phb_config c, big[2];
	uint64_t bus, size;
	unsigned int shift;

	uiommu_papr_phb_config_default(&c, 0);
	assert_true(c.buid == 0x800000020000000ULL && c.dma_win_size == 0x40000000 &&
		    c.dma64_win_addr == 1ULL << 59 && c.page_size_mask == 0x1211000 &&
		    c.ddw_enabled == 1 && c.size == sizeof(c));
	assert_int_equal(uiommu_papr_phb_add(f->g, &c), 0);
	/* QEMU's device tree: ibm,dma-window = 80000000 0 0 0 40000000. */
	assert_int_equal(uiommu_liobn_info(f->g, 0x80000000, &bus, &shift, &size), 0);
	assert_true(bus == 0 && shift == 12 && size == 0x40000);
	assert_int_equal(uiommu_liobn_destroy(f->g, 0x80000000), -EBUSY);
	assert_int_equal(uiommu_papr_phb_add(f->g, &c), -EEXIST);
	c.index = 1;
	assert_int_equal(uiommu_papr_phb_add(f->g, &c), -EEXIST); /* same buid */
	uiommu_papr_phb_config_default(&c, 1);
	assert_int_equal(uiommu_papr_phb_add(f->g, &c), 0);
	assert_int_equal(uiommu_liobn_info(f->g, 0x80000100, &bus, &shift, &size), 0);
	assert_true(bus == 0 && size == 0x40000);

	/* Bad configurations. */
	assert_int_equal(uiommu_papr_phb_add(f->g, NULL), -EINVAL);
	uiommu_papr_phb_config_default(&c, 2);
	c.size = 8;
	assert_int_equal(uiommu_papr_phb_add(f->g, &c), -EINVAL);
	memset(big, 0, sizeof(big));
	uiommu_papr_phb_config_default(&big[0], 2);
	big[0].size = sizeof(big);
	((char *)big)[sizeof(big) - 1] = 1;
	assert_int_equal(uiommu_papr_phb_add(f->g, &big[0]), -E2BIG);
	((char *)big)[sizeof(big) - 1] = 0;
	assert_int_equal(uiommu_papr_phb_add(f->g, &big[0]), 0);
	assert_int_equal(uiommu_papr_phb_remove(f->g, big[0].buid), 0);
#define BAD_CFG(field, value, err)                                    \
	do {                                                          \
		uiommu_papr_phb_config_default(&c, 3);                \
		c.field = value;                                      \
		assert_int_equal(uiommu_papr_phb_add(f->g, &c), err); \
	} while (0)
	BAD_CFG(flags, 1, -EINVAL);
	BAD_CFG(ddw_enabled, 2, -EINVAL);
	BAD_CFG(index, 1u << 23, -EINVAL);
	BAD_CFG(page_size_mask, 1ULL << 40, -EINVAL);
	BAD_CFG(page_size_mask, 1ULL << 11, -EINVAL);
	BAD_CFG(dma_win_size, 0, -EINVAL);
	BAD_CFG(dma_win_size, 0x1800, -EINVAL);
	BAD_CFG(dma_win_addr, 0x1000, -EINVAL); /* not aligned to the 16M pages of a DDW */
	BAD_CFG(dma64_win_addr, 0x1000000000001000ULL, -EINVAL);
	BAD_CFG(dma_win_addr, 0xffffffffff000000ULL, -EINVAL); /* wraps */
	BAD_CFG(dma_win_size, 0x100000000000ULL, -E2BIG);
	/* Collisions and limits. */
	assert_int_equal(uiommu_liobn_create(f->g, 0x80000300, 12, 0, 1), 0);
	BAD_CFG(flags, 0, -EBUSY);
	assert_int_equal(uiommu_liobn_destroy(f->g, 0x80000300), 0);
	assert_int_equal(uiommu_ctx_set_limit(f->ctx, UIOMMU_RES_LIOBNS,
					      ctx_usage(f->ctx, UIOMMU_RES_LIOBNS)), 0);
	BAD_CFG(flags, 0, -ENOSPC);
	assert_int_equal(uiommu_ctx_set_limit(f->ctx, UIOMMU_RES_LIOBNS, 1024), 0);
	assert_int_equal(uiommu_ctx_set_limit(f->ctx, UIOMMU_RES_LOCKED_BYTES,
					      ctx_usage(f->ctx, UIOMMU_RES_LOCKED_BYTES)), 0);
	BAD_CFG(flags, 0, -ENOMEM);
	assert_int_equal(uiommu_ctx_set_limit(f->ctx, UIOMMU_RES_LOCKED_BYTES, UIOMMU_LIMIT_NONE), 0);
	for (uint32_t i = 2; i < UIOMMU_PAPR_MAX_PHBS; i++) {
		uiommu_papr_phb_config_default(&c, i);
		c.dma_win_size = 0x1000;
		assert_int_equal(uiommu_papr_phb_add(f->g, &c), 0);
	}
	uiommu_papr_phb_config_default(&c, 9999);
	assert_int_equal(uiommu_papr_phb_add(f->g, &c), -ENOSPC);
	for (uint32_t i = 2; i < UIOMMU_PAPR_MAX_PHBS; i++)
		assert_int_equal(uiommu_papr_phb_remove(f->g, UIOMMU_PAPR_PCI_BUID_BASE + i), 0);
#undef BAD_CFG

	assert_int_equal(uiommu_papr_phb_remove(f->g, 0x800000020000001ULL), 0);
	assert_int_equal(uiommu_papr_phb_remove(f->g, 0x800000020000001ULL), -ENOENT);
	assert_int_equal(uiommu_liobn_info(f->g, 0x80000100, NULL, NULL, NULL), -ENOENT);
	/* uiommu_guest_free() removes the other one. */
}

/* ---- DDW RTAS calls ---- */

#define BUID_HI ((uint32_t)(0x800000020000000ULL >> 32))
#define BUID_LO ((uint32_t)0x800000020000000ULL)
#define PARAM UIOMMU_RTAS_PARAM_ERROR
#define HWERR UIOMMU_RTAS_HW_ERROR

static int rtas_query(struct fx *f, uint32_t nret, uint32_t *rets)
{
	uint32_t args[3] = { 0, BUID_HI, BUID_LO };

	return uiommu_papr_rtas(f->g, UIOMMU_RTAS_QUERY_PE_DMA_WINDOW, 3, args, nret, rets);
}

static int rtas_create(struct fx *f, uint32_t page_shift, uint32_t window_shift, uint32_t *rets)
{
	uint32_t args[5] = { 0, BUID_HI, BUID_LO, page_shift, window_shift };

	return uiommu_papr_rtas(f->g, UIOMMU_RTAS_CREATE_PE_DMA_WINDOW, 5, args, 4, rets);
}

static int rtas_remove(struct fx *f, uint32_t liobn)
{
	uint32_t ret = 77;
	int st = uiommu_papr_rtas(f->g, UIOMMU_RTAS_REMOVE_PE_DMA_WINDOW, 1, &liobn, 1, &ret);

	assert_int_equal((int)ret, st);
	return st;
}

static int rtas_reset(struct fx *f)
{
	uint32_t args[3] = { 0, BUID_HI, BUID_LO }, ret = 77;
	int st = uiommu_papr_rtas(f->g, UIOMMU_RTAS_RESET_PE_DMA_WINDOW, 3, args, 1, &ret);

	assert_int_equal((int)ret, st);
	return st;
}

static int phb_setup(void **state)
{
	struct uiommu_papr_phb_config c;
	struct fx *f;

	fx_setup(state);
	f = *state;
	uiommu_papr_phb_config_default(&c, 0);
	assert_int_equal(uiommu_papr_phb_add(f->g, &c), 0);
	uiommu_papr_phb_config_default(&c, 5);
	c.ddw_enabled = 0;
	assert_int_equal(uiommu_papr_phb_add(f->g, &c), 0);
	return 0;
}

static void test_rtas_query(void **state)
{
	struct fx *f = *state;
	uint32_t r[6] = { 0 };
	uint32_t args[3] = { 0, BUID_HI, BUID_LO };

	assert_int_equal(rtas_query(f, 5, r), UIOMMU_RTAS_SUCCESS);
	/* The trace's "1 windows available ... mask=0x107". */
	assert_true(r[0] == 0 && r[1] == 1 && r[2] == 0x80000000 && r[3] == 0x107 && r[4] == 0);
	assert_int_equal(rtas_query(f, 6, r), UIOMMU_RTAS_SUCCESS);
	assert_true(r[1] == 1 && r[2] == 0x20 && r[3] == 0 && r[4] == 0x107 && r[5] == 0);
	assert_int_equal(rtas_query(f, 4, r), PARAM);
	assert_true(r[0] == (uint32_t)PARAM);
	assert_int_equal(uiommu_papr_rtas(f->g, UIOMMU_RTAS_QUERY_PE_DMA_WINDOW, 2, args, 5, r), PARAM);
	args[2] = BUID_LO + 1;
	assert_int_equal(uiommu_papr_rtas(f->g, UIOMMU_RTAS_QUERY_PE_DMA_WINDOW, 3, args, 5, r), PARAM);
	args[2] = BUID_LO + 5; /* PHB 5: DDW off */
	assert_int_equal(uiommu_papr_rtas(f->g, UIOMMU_RTAS_QUERY_PE_DMA_WINDOW, 3, args, 5, r), PARAM);
	/* Unknown token (QEMU: PARAM_ERROR), NULL arrays. */
	r[0] = 0;
	assert_int_equal(uiommu_papr_rtas(f->g, 0x2030, 3, args, 1, r), PARAM);
	assert_true(r[0] == (uint32_t)PARAM);
	assert_int_equal(uiommu_papr_rtas(f->g, 0x2030, 0, NULL, 0, NULL), PARAM);
	assert_int_equal(uiommu_papr_rtas(f->g, UIOMMU_RTAS_QUERY_PE_DMA_WINDOW, 3, NULL, 5, r), PARAM);
	assert_int_equal(uiommu_papr_rtas(f->g, UIOMMU_RTAS_QUERY_PE_DMA_WINDOW, 3, args, 5, NULL),
			 PARAM);
}

static void test_rtas_create(void **state)
{
	struct fx *f = *state;
	uint32_t r[6], args[5] = { 0, BUID_HI, BUID_LO, 24, 30 };
	uint64_t bus, size, list[64];
	unsigned int shift;

	/* What Linux does (doc/traces.md): 16M pages, 2^30 bytes, at 1 << 59. */
	assert_int_equal(rtas_create(f, 24, 30, r), UIOMMU_RTAS_SUCCESS);
	assert_true(r[0] == 0 && r[1] == 0x80000001 && r[2] == 0x08000000 && r[3] == 0);
	assert_int_equal(uiommu_liobn_info(f->g, 0x80000001, &bus, &shift, &size), 0);
	assert_true(bus == 1ULL << 59 && shift == 24 && size == 64);
	/* ... then maps all of RAM with one INDIRECT of 64 TCEs. */
	for (int i = 0; i < 64; i++)
		list[i] = ((uint64_t)i << 24) | 3;
	put_list(f, LIST_GPA, list, 64);
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, 0x80000001, 1ULL << 59, LIST_GPA, 64),
			 H_SUCCESS);
	assert_true(tce_at(f, 0x80000001, (1ULL << 59) + (63ULL << 24)) == list[63]);
	assert_int_equal(rtas_query(f, 5, r), 0);
	assert_true(r[1] == 0);
	/* Two windows active: HW_ERROR. */
	assert_int_equal(rtas_create(f, 16, 30, r), HWERR);
	assert_true(r[0] == (uint32_t)HWERR);
	assert_int_equal(rtas_remove(f, 0x80000001), 0);

	/* PARAM_ERROR: page size not in the mask (or absurd), window smaller than a page. */
	assert_int_equal(rtas_create(f, 13, 30, r), PARAM);
	assert_int_equal(rtas_create(f, 64, 70, r), PARAM);
	assert_int_equal(rtas_create(f, 0xffffffff, 0xffffffff, r), PARAM);
	assert_int_equal(rtas_create(f, 16, 15, r), PARAM);
	assert_int_equal(uiommu_papr_rtas(f->g, UIOMMU_RTAS_CREATE_PE_DMA_WINDOW, 4, args, 4, r), PARAM);
	assert_int_equal(uiommu_papr_rtas(f->g, UIOMMU_RTAS_CREATE_PE_DMA_WINDOW, 5, args, 3, r), PARAM);
	args[2] = BUID_LO + 5;
	assert_int_equal(uiommu_papr_rtas(f->g, UIOMMU_RTAS_CREATE_PE_DMA_WINDOW, 5, args, 4, r), PARAM);
	/* HW_ERROR: too many entries (QEMU's 32-bit nb_table), past 2^64, limits. */
	assert_int_equal(rtas_create(f, 12, 44, r), HWERR);
	assert_int_equal(rtas_create(f, 24, 63, r), HWERR);
	assert_int_equal(rtas_create(f, 24, 0xffffffff, r), HWERR);
	assert_int_equal(uiommu_ctx_set_limit(f->ctx, UIOMMU_RES_LOCKED_BYTES,
					      ctx_usage(f->ctx, UIOMMU_RES_LOCKED_BYTES)), 0);
	assert_int_equal(rtas_create(f, 12, 40, r), HWERR); /* 2^28 TCEs: 2 GiB locked */
	assert_int_equal(uiommu_ctx_set_limit(f->ctx, UIOMMU_RES_LOCKED_BYTES, UIOMMU_LIMIT_NONE), 0);
	/* The largest window QEMU can make: 2^31 entries, pages allocated lazily. */
	assert_int_equal(rtas_create(f, 16, 47, r), UIOMMU_RTAS_SUCCESS);
	assert_int_equal(uiommu_liobn_info(f->g, 0x80000001, NULL, NULL, &size), 0);
	assert_true(size == 1ULL << 31);
	assert_true(papr_liobn_view_pages(f->g, 0x80000001) == 0);
}

static void test_rtas_remove_reset(void **state)
{
	struct fx *f = *state;
	uint32_t r[6], liobn = 0x80000000;
	uint64_t bus;
	unsigned int shift;

	/* PARAM_ERROR: not a PHB window, inactive, DDW off, bad counts. */
	assert_int_equal(rtas_remove(f, (uint32_t)VIO), PARAM);
	assert_int_equal(rtas_remove(f, 0x80000001), PARAM);
	assert_int_equal(rtas_remove(f, 0x80000500), PARAM);
	assert_int_equal(uiommu_papr_rtas(f->g, UIOMMU_RTAS_REMOVE_PE_DMA_WINDOW, 2, &liobn, 1, r),
			 PARAM);
	assert_int_equal(uiommu_papr_rtas(f->g, UIOMMU_RTAS_REMOVE_PE_DMA_WINDOW, 1, &liobn, 2, r),
			 PARAM);
	/* Remove the default window: nothing is restored (it was the default). */
	assert_int_equal(rtas_remove(f, 0x80000000), UIOMMU_RTAS_SUCCESS);
	assert_int_equal(uiommu_liobn_info(f->g, 0x80000000, NULL, NULL, NULL), -ENOENT);
	assert_int_equal(uiommu_h_put_tce(f->g, 0x80000000, 0, 0), H_PARAMETER);
	assert_int_equal(rtas_query(f, 5, r), 0);
	assert_true(r[1] == 2);
	/* With no window, the first goes at dma_win_addr, as the lowest free LIOBN. */
	assert_int_equal(rtas_create(f, 16, 32, r), 0);
	assert_true(r[1] == 0x80000000 && r[2] == 0 && r[3] == 0);
	assert_int_equal(uiommu_liobn_info(f->g, 0x80000000, &bus, &shift, NULL), 0);
	assert_true(bus == 0 && shift == 16);
	assert_int_equal(rtas_create(f, 21, 32, r), 0);
	assert_true(r[1] == 0x80000001 && r[2] == 0x08000000);
	assert_int_equal(rtas_remove(f, 0x80000000), 0);
	/* Removing the last window, not the default one: the default comes back. */
	assert_int_equal(rtas_remove(f, 0x80000001), 0);
	assert_int_equal(uiommu_liobn_info(f->g, 0x80000000, &bus, &shift, NULL), 0);
	assert_true(bus == 0 && shift == 12);
	assert_int_equal(uiommu_liobn_info(f->g, 0x80000001, NULL, NULL, NULL), -ENOENT);
	/*
	 * QEMU's def_win belongs to window 0 whatever made it: a DDW created
	 * there once the default window is gone counts as the default one, and
	 * removing it last restores nothing (found by the QEMU-oracle traces).
	 */
	assert_int_equal(rtas_remove(f, 0x80000000), 0);
	assert_int_equal(rtas_create(f, 24, 32, r), 0);
	assert_true(r[1] == 0x80000000 && r[2] == 0 && r[3] == 0);
	assert_int_equal(rtas_remove(f, 0x80000000), 0);
	assert_int_equal(uiommu_liobn_info(f->g, 0x80000000, NULL, NULL, NULL), -ENOENT);
	assert_int_equal(rtas_query(f, 5, r), 0);
	assert_true(r[1] == 2);
	/* The same window in window 1, removed last: the default comes back. */
	assert_int_equal(rtas_create(f, 24, 32, r), 0);
	assert_int_equal(rtas_create(f, 16, 32, r), 0);
	assert_true(r[1] == 0x80000001);
	assert_int_equal(rtas_remove(f, 0x80000000), 0);
	assert_int_equal(rtas_remove(f, 0x80000001), 0);
	assert_int_equal(uiommu_liobn_info(f->g, 0x80000000, &bus, &shift, NULL), 0);
	assert_true(bus == 0 && shift == 12);
	/* HW_ERROR: the default window cannot be restored. */
	assert_int_equal(rtas_create(f, 16, 32, r), 0);
	assert_int_equal(rtas_remove(f, 0x80000000), 0);
	assert_int_equal(uiommu_ctx_set_limit(f->ctx, UIOMMU_RES_LIOBNS,
					      ctx_usage(f->ctx, UIOMMU_RES_LIOBNS) - 1), 0);
	assert_int_equal(rtas_remove(f, 0x80000001), HWERR);
	assert_int_equal(rtas_reset(f), HWERR);
	assert_int_equal(uiommu_ctx_set_limit(f->ctx, UIOMMU_RES_LIOBNS, 1024), 0);
	/* Reset: every window off, the default back. */
	assert_int_equal(rtas_create(f, 16, 32, r), 0);
	assert_int_equal(rtas_reset(f), UIOMMU_RTAS_SUCCESS);
	assert_int_equal(uiommu_liobn_info(f->g, 0x80000000, &bus, &shift, NULL), 0);
	assert_true(bus == 0 && shift == 12);
	assert_int_equal(rtas_query(f, 5, r), 0);
	assert_true(r[1] == 1);
	{
		uint32_t a3[3] = { 0, BUID_HI, BUID_LO + 5 };

		assert_int_equal(uiommu_papr_rtas(f->g, UIOMMU_RTAS_RESET_PE_DMA_WINDOW, 3, a3, 1, r),
				 PARAM);
		a3[2] = BUID_LO + 9;
		assert_int_equal(uiommu_papr_rtas(f->g, UIOMMU_RTAS_RESET_PE_DMA_WINDOW, 3, a3, 1, r),
				 PARAM);
		a3[2] = BUID_LO;
		assert_int_equal(uiommu_papr_rtas(f->g, UIOMMU_RTAS_RESET_PE_DMA_WINDOW, 2, a3, 1, r),
				 PARAM);
		assert_int_equal(uiommu_papr_rtas(f->g, UIOMMU_RTAS_RESET_PE_DMA_WINDOW, 3, a3, 0, NULL),
				 UIOMMU_RTAS_PARAM_ERROR);
	}
	/* A PHB removal takes its DDW with it. */
	assert_int_equal(rtas_create(f, 16, 32, r), 0);
	assert_int_equal(uiommu_papr_phb_remove(f->g, 0x800000020000000ULL), 0);
	assert_int_equal(uiommu_liobn_info(f->g, 0x80000001, NULL, NULL, NULL), -ENOENT);
	assert_int_equal(rtas_query(f, 5, r), PARAM);
}

/* A guest with no PAPR state at all answers like one with no LIOBN. */
static void test_fresh_guest(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_guest *g;
	uint64_t tce, args[3] = { 1, 0, 0 };
	uint32_t r = 0;

	(void)state;
	assert_int_equal(uiommu_guest_new(ctx, &g), 0);
	assert_int_equal(uiommu_h_put_tce(g, 1, 0, 0), H_PARAMETER);
	assert_int_equal(uiommu_h_get_tce(g, 1, 0, &tce), H_PARAMETER);
	assert_int_equal(uiommu_h_stuff_tce(g, 1, 0, 0, 1), H_PARAMETER);
	assert_int_equal(uiommu_h_put_tce_indirect(g, 1, 0, 0, 1), H_PARAMETER);
	assert_int_equal(uiommu_papr_hcall(g, UIOMMU_H_PUT_TCE, args, 3, NULL, 0), H_PARAMETER);
	assert_int_equal(uiommu_papr_rtas(g, UIOMMU_RTAS_RESET_PE_DMA_WINDOW, 1, &r, 1, &r), PARAM);
	assert_int_equal(uiommu_liobn_destroy(g, 1), -ENOENT);
	assert_int_equal(uiommu_papr_phb_remove(g, 1), -ENOENT);
	assert_int_equal(uiommu_liobn_info(g, 1, NULL, NULL, NULL), -ENOENT);
	assert_int_equal(uiommu_papr_get_profile(g), QEMU);
	/* The first PAPR call of a guest allocates its PAPR state. */
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 1, UIOMMU_FAULT_HEAP), 0);
	assert_int_equal(uiommu_papr_set_profile(g, KVM), -ENOMEM);
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
	assert_int_equal(uiommu_papr_get_profile(g), QEMU);
	assert_int_equal(uiommu_papr_set_profile(g, KVM), 0);
	uiommu_guest_free(g);
	test_ctx_free(ctx);
}

/* Removals copy the LIOBN array: out of memory, nothing changes. */
static void test_removal_enomem(void **state)
{
	struct fx *f = *state;
	struct uiommu_papr_phb_config c;

	uiommu_papr_phb_config_default(&c, 3);
	assert_int_equal(uiommu_papr_phb_add(f->g, &c), 0);
	assert_int_equal(uiommu_liobn_create(f->g, 0x5000, 12, 0, 16), 0);

	assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 1, UIOMMU_FAULT_HEAP), 0);
	assert_int_equal(uiommu_liobn_destroy(f->g, 0x5000), -ENOMEM);
	assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 1, UIOMMU_FAULT_HEAP), 0);
	assert_int_equal(uiommu_papr_phb_remove(f->g, c.buid), -ENOMEM);
	assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 0, 0), 0);
	assert_int_equal(uiommu_liobn_info(f->g, 0x5000, NULL, NULL, NULL), 0);
	assert_int_equal(uiommu_liobn_info(f->g, uiommu_papr_pci_liobn(3, 0), NULL, NULL, NULL),
			 0);

	assert_int_equal(uiommu_liobn_destroy(f->g, 0x5000), 0);
	assert_int_equal(uiommu_papr_phb_remove(f->g, c.buid), 0);
	assert_int_equal(uiommu_liobn_info(f->g, uiommu_papr_pci_liobn(3, 0), NULL, NULL, NULL),
			 -ENOENT);
}

/* Fault injection over creation, hcalls and RTAS: no failure leaves anything behind. */
static void test_fault_loops(void **state)
{
	struct fx *f = *state;
	struct uiommu_papr_phb_config c;
	uint32_t r[6];
	int ret;

	uint64_t heap;

	uiommu_papr_phb_config_default(&c, 0);
	rcu_wait_callbacks();
	heap = ctx_counter(f->ctx, UIOMMU_COUNTER_HEAP_ALLOCS);
	for (uint64_t n = 1;; n++) {
		assert_int_equal(uiommu_ctx_inject_fault(f->ctx, n, UIOMMU_FAULT_ALL), 0);
		ret = uiommu_papr_phb_add(f->g, &c);
		if (!ret)
			break;
		assert_int_equal(ret, -ENOMEM);
		assert_true(ctx_usage(f->ctx, UIOMMU_RES_LIOBNS) == 3);
		rcu_wait_callbacks();
		assert_true(ctx_counter(f->ctx, UIOMMU_COUNTER_HEAP_ALLOCS) == heap); /* no block left */
	}
	rcu_wait_callbacks();
	heap = ctx_counter(f->ctx, UIOMMU_COUNTER_HEAP_ALLOCS);
	for (uint64_t n = 1;; n++) {
		assert_int_equal(uiommu_ctx_inject_fault(f->ctx, n, UIOMMU_FAULT_ALL), 0);
		ret = rtas_create(f, 16, 32, r);
		if (!ret)
			break;
		assert_int_equal(ret, HWERR);
		assert_true(ctx_usage(f->ctx, UIOMMU_RES_LIOBNS) == 4);
		rcu_wait_callbacks();
		assert_true(ctx_counter(f->ctx, UIOMMU_COUNTER_HEAP_ALLOCS) == heap);
	}
	for (uint64_t n = 1;; n++) {
		assert_int_equal(uiommu_ctx_inject_fault(f->ctx, n, UIOMMU_FAULT_ALL), 0);
		ret = rtas_reset(f);
		assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 0, 0), 0);
		if (!ret)
			break;
		assert_int_equal(ret, HWERR);
		assert_int_equal(rtas_reset(f), 0); /* recovers */
		assert_int_equal(rtas_create(f, 16, 32, r), 0);
	}
	for (uint64_t n = 1;; n++) {
		long h;

		assert_int_equal(uiommu_ctx_inject_fault(f->ctx, n, UIOMMU_FAULT_ALL), 0);
		h = uiommu_h_stuff_tce(f->g, 0x80000000, 0x100000, 0xbad0, 20000);
		if (h == H_SUCCESS)
			break;
		assert_int_equal(h, H_HARDWARE);
		assert_true(tce_at(f, 0x80000000, 0x100000) == 0);
	}
	assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 0, 0), 0);
	assert_true(tce_at(f, 0x80000000, 0x100000 + 19999 * 0x1000ULL) == 0xbad0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_liobn_create, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_liobn_charges, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_liobn_destroy_and_reads, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_liobn_get_tces, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_profile, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_put_tce_qemu, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_put_tce_kvm, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_get_tce, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_indirect_qemu, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_indirect_kvm, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_stuff_qemu, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_stuff_kvm, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_dispatcher, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_hw_seam, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_hw_seam_lists, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_removal_enomem, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_phb_add_remove, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rtas_query, phb_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rtas_create, phb_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rtas_remove_reset, phb_setup, fx_teardown),
		cmocka_unit_test(test_fresh_guest),
		cmocka_unit_test_setup_teardown(test_fault_loops, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
