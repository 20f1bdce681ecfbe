/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fixture of the accelerated-hypercall tests: a KVM-profile guest with
 * 64 MiB of preregistered RAM at gpa 0 (and 16 MiB more, not registered,
 * at gpa 1 GiB), a v2 container holding two PEs of a host PHB, with a
 * window of 4 KiB TCEs at bus 0 (one level) and one of 64 KiB TCEs at
 * 1 << 59 (two levels, so that levels are allocated on demand), and three
 * LIOBNs for them: 4 KiB pages over the first, 64 KiB and 16 MiB pages
 * over the second. Nothing is attached yet.
 *
 * acc_check() is the invariant every test ends on: every host TCE is the
 * hpa of the user address its userspace view records, with no TCE there
 * is no record, and the container's TCE count and the region's mapped
 * count agree with the TCEs.
 */
#ifndef UIOMMU_TEST_ACCEL_UTIL_H
#define UIOMMU_TEST_ACCEL_UTIL_H

#include "vfio_util.h"

#include "internal.h"

#define ACC_RAM (64 * MiB)
#define ACC_RAM2_GPA (1 * GiB)
#define ACC_RAM2 (16 * MiB)
#define ACC_L4K 0x80000000ULL
#define ACC_L64K 0x80000001ULL
#define ACC_L16M 0x80000002ULL
#define ACC_BUS64 (1ULL << 59)
#define ACC_W0_SIZE (256 * MiB)
#define ACC_W1_SIZE (1 * GiB)

struct acc_fx {
	struct uiommu_ctx *ctx;
	struct vt_ram ram, ram2;
	struct uiommu_guest *g;
	struct uiommu_phb *phb;
	struct uiommu_pe *pe[2];
	struct uiommu_vfio_container *c;
};

static inline struct uiommu_table_group *acc_grp(struct acc_fx *f, int i)
{
	return uiommu_pe_table_group(f->pe[i]);
}

/* The container's host table of window @num (shared by its groups). */
static inline struct uiommu_tce_table *acc_tbl(struct acc_fx *f, int num)
{
	return acc_grp(f, 0)->tables[num];
}

static inline uint64_t acc_ua(struct acc_fx *f, uint64_t gpa)
{
	return (uint64_t)(uintptr_t)f->ram.hva + gpa;
}

/* The fixture in @ctx (a context that simulates pins, with room to lock). */
static inline void acc_fx_setup_in(struct acc_fx *f, struct uiommu_ctx *ctx)
{
	uint64_t start = 0;

	memset(f, 0, sizeof(*f));
	f->ctx = ctx;
	vt_ram_new(f->ctx, ACC_RAM, 16 * MiB, &f->ram);
	vt_ram_new(f->ctx, ACC_RAM2, 16 * MiB, &f->ram2);
	assert_int_equal(uiommu_guest_new(f->ctx, &f->g), 0);
	assert_int_equal(uiommu_guest_set_memslot(f->g, 0, 0, ACC_RAM, f->ram.hva, 0), 0);
	assert_int_equal(uiommu_guest_set_memslot(f->g, 1, ACC_RAM2_GPA, ACC_RAM2, f->ram2.hva, 0),
			 0);
	assert_int_equal(uiommu_papr_set_profile(f->g, UIOMMU_PAPR_PROFILE_KVM), 0);
	f->phb = vt_phb_new(f->ctx, 0);
	f->pe[0] = vt_pe_new(f->phb, 1);
	f->pe[1] = vt_pe_new(f->phb, 2);
	assert_int_equal(uiommu_vfio_container_new(f->ctx, &f->c), 0);
	assert_int_equal(uiommu_vfio_group_set_container(acc_grp(f, 0), f->c), 0);
	assert_int_equal(uiommu_vfio_group_set_container(acc_grp(f, 1), f->c), 0);
	assert_int_equal(uiommu_vfio_set_iommu(f->c, UIOMMU_VFIO_SPAPR_TCE_v2_IOMMU), 0);
	assert_int_equal(uiommu_vfio_register_memory(f->c, acc_ua(f, 0), ACC_RAM), 0);
	/* The pending default window cancelled, as QEMU does, then the guest's two. */
	assert_int_equal(uiommu_vfio_remove_window(f->c, 0), 0);
	assert_int_equal(uiommu_vfio_create_window(f->c, 12, ACC_W0_SIZE, 1, &start), 0);
	assert_true(start == 0);
	assert_int_equal(uiommu_vfio_create_window(f->c, 16, ACC_W1_SIZE, 2, &start), 0);
	assert_true(start == ACC_BUS64);
	assert_int_equal(uiommu_liobn_create(f->g, ACC_L4K, 12, 0, ACC_W0_SIZE >> 12), 0);
	assert_int_equal(uiommu_liobn_create(f->g, ACC_L64K, 16, ACC_BUS64 >> 16, ACC_W1_SIZE >> 16),
			 0);
	assert_int_equal(uiommu_liobn_create(f->g, ACC_L16M, 24, ACC_BUS64 >> 24, ACC_W1_SIZE >> 24),
			 0);
}

static inline void acc_fx_setup(struct acc_fx *f)
{
	acc_fx_setup_in(f, vt_ctx_new(16));
}

static inline uint64_t acc_mapped(struct acc_fx *f)
{
	struct uiommu_prereg *mem = NULL;
	struct uiommu_prereg_info ri = { .size = sizeof(ri) };

	assert_int_equal(uiommu_prereg_lookup(uiommu_mm_current(f->ctx), acc_ua(f, 0), ACC_RAM,
					      &mem), 0);
	assert_int_equal(uiommu_prereg_info(mem, &ri), 0);
	return ri.mapped;
}

static inline uint64_t acc_container_tces(struct acc_fx *f)
{
	struct uiommu_vfio_info ci = { .size = sizeof(ci) };

	assert_int_equal(uiommu_vfio_info(f->c, &ci), 0);
	return ci.tces;
}

/* Host TCE @entry of window @num: its hpa | perm, and the user address recorded beside it. */
static inline uint64_t acc_host(struct acc_fx *f, int num, uint64_t entry, uint64_t *ret_ua)
{
	uint64_t tce = 0;

	assert_int_equal(uiommu_tce_table_get(acc_tbl(f, num), entry, &tce), 0);
	if (ret_ua)
		assert_int_equal(uiommu_tce_table_ua_get(acc_tbl(f, num), entry, ret_ua), 0);
	return tce;
}

/* The invariant of the file comment; returns the number of host TCEs. */
static inline uint64_t acc_check(struct acc_fx *f)
{
	uint64_t n = 0;

	for (int num = 0; num < 2; num++) {
		struct uiommu_tce_table_info ti = { .size = sizeof(ti) };

		assert_int_equal(uiommu_tce_table_info(acc_tbl(f, num), &ti), 0);
		for (uint64_t e = ti.it_offset; e < ti.it_offset + ti.it_size; e++) {
			uint64_t ua = 0, hpa = 0, tce = acc_host(f, num, e, &ua);

			if (!tce) {
				if (ua)
					fail_msg("window %d entry 0x%llx: no TCE but ua 0x%llx", num,
						 (unsigned long long)e, (unsigned long long)ua);
				continue;
			}
			assert_int_equal(uiommu_hva_to_hpa(f->ctx, (void *)(uintptr_t)ua, &hpa), 0);
			if ((tce & ~UIOMMU_TCE_PERM_MASK) != hpa)
				fail_msg("window %d entry 0x%llx: TCE 0x%llx, ua 0x%llx is hpa 0x%llx",
					 num, (unsigned long long)e, (unsigned long long)tce,
					 (unsigned long long)ua, (unsigned long long)hpa);
			n++;
		}
	}
	assert_int_equal(acc_container_tces(f), n);
	assert_int_equal(acc_mapped(f), 1 + n);
	return n;
}

/* Everything but the context, which is left clean. */
static inline void acc_fx_teardown_in(struct acc_fx *f)
{
	for (int i = 0; i < 2; i++)
		uiommu_accel_release_group(f->g, acc_grp(f, i));
	assert_int_equal(uiommu_vfio_container_free(f->c), 0);
	uiommu_guest_free(f->g);
	assert_int_equal(uiommu_pe_free(f->pe[0]), 0);
	assert_int_equal(uiommu_pe_free(f->pe[1]), 0);
	assert_int_equal(uiommu_phb_free(f->phb), 0);
	vt_ram_free(f->ctx, &f->ram);
	vt_ram_free(f->ctx, &f->ram2);
	rcu_wait_callbacks(); /* the guest-view frames go after a grace period */
}

static inline void acc_fx_teardown(struct acc_fx *f)
{
	acc_fx_teardown_in(f);
	test_ctx_free(f->ctx);
}

#endif /* UIOMMU_TEST_ACCEL_UTIL_H */
