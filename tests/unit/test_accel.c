// SPDX-License-Identifier: BSD-3-Clause
/*
 * Host tables attached to LIOBNs (uiommu/accel.h) and vCPU handles
 * (uiommu/vcpu.h): attach compatibility and every documented error, the
 * reference counts upstream leaks, the fast path's TCEs, userspace view,
 * mapped counts and kills, a STUFF wider than the stripes it tries (16 MiB guest TCEs over 64 KiB host TCEs
 * included, error paths too: host indexes, 26a62b750a4e), every fallback
 * point redone by the VMM path with the same result, levels allocated once
 * by the VMM path, memory that is not preregistered, a window the
 * container removed, a v1 container, and freeing a guest with tables
 * attached.
 */
#include <endian.h>
#include <pthread.h>

#include "accel_util.h"

#include "internal.h"
#include "vfio/vfio.h" /* the container's busy stripes, for test_stuff_wide */

#define H_SUCCESS UIOMMU_H_SUCCESS
#define H_PARAMETER UIOMMU_H_PARAMETER
#define H_TOO_HARD UIOMMU_H_TOO_HARD
#define RW (UIOMMU_TCE_PCI_READ | UIOMMU_TCE_PCI_WRITE)
#define LIST_GPA 0x3f00000ULL /* a TCE list page in guest RAM */

static int setup(void **state)
{
	struct acc_fx *f = malloc(sizeof(*f));

	acc_fx_setup(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct acc_fx *f = *state;

	acc_fx_teardown(f);
	free(f);
	return 0;
}

static uint64_t tbl_refs(struct uiommu_tce_table *tbl)
{
	struct uiommu_tce_table_info ti = { .size = sizeof(ti) };

	assert_int_equal(uiommu_tce_table_info(tbl, &ti), 0);
	return ti.refs;
}

static uint64_t view(struct acc_fx *f, uint64_t liobn, uint64_t ioba)
{
	uint64_t tce = 1;

	assert_int_equal(uiommu_liobn_get_tce(f->g, liobn, ioba, &tce), 0);
	return tce;
}

/* An hcall by the fast path, redone by the VMM path when it hands it over. */
static long hcall(struct acc_fx *f, uint64_t opcode, uint64_t a0, uint64_t a1, uint64_t a2,
		  uint64_t a3, bool *ret_punted)
{
	uint64_t args[4] = { a0, a1, a2, a3 };
	long ret = uiommu_papr_hcall(f->g, opcode, args, 4, NULL, 0);

	if (ret_punted)
		*ret_punted = ret == H_TOO_HARD;
	if (ret == H_TOO_HARD)
		ret = uiommu_accel_vmm_hcall(f->g, opcode, args, 4, NULL, 0);
	return ret;
}

static void put_list(struct acc_fx *f, const uint64_t *tces, unsigned int n)
{
	uint64_t be[512];

	for (unsigned int i = 0; i < n; i++)
		be[i] = htobe64(tces[i]);
	assert_int_equal(uiommu_guest_write(f->g, LIST_GPA, be, n * 8), 0);
}

/* ---- attach ---- */

static void test_attach_errors(void **state)
{
	struct acc_fx *f = *state;
	struct uiommu_ctx *other = vt_ctx_new(16);
	struct uiommu_phb *ophb = vt_phb_new(other, 0);
	struct uiommu_pe *ope = vt_pe_new(ophb, 1), *lone = vt_pe_new(f->phb, 3);

	assert_int_equal(uiommu_accel_attach(NULL, ACC_L4K, acc_grp(f, 0)), -EINVAL);
	assert_int_equal(uiommu_accel_attach(f->g, ACC_L4K, NULL), -EINVAL);
	assert_int_equal(uiommu_accel_attach(f->g, ACC_L4K, uiommu_pe_table_group(ope)), -EINVAL);
	assert_int_equal(uiommu_accel_attach(f->g, 0x1234, acc_grp(f, 0)), -ENOENT);
	/* A group in no container. */
	assert_int_equal(uiommu_accel_attach(f->g, ACC_L4K, uiommu_pe_table_group(lone)), -ENOENT);

	/* Compatibility: a host page larger than the guest's... */
	assert_int_equal(uiommu_liobn_create(f->g, 0x10, 12, ACC_BUS64 >> 12, 16), 0);
	assert_int_equal(uiommu_accel_attach(f->g, 0x10, acc_grp(f, 0)), -EINVAL);
	/* ... another bus start... */
	assert_int_equal(uiommu_liobn_create(f->g, 0x11, 16, (ACC_BUS64 >> 16) + 1, 16), 0);
	assert_int_equal(uiommu_accel_attach(f->g, 0x11, acc_grp(f, 0)), -EINVAL);
	/* ... a guest window larger than the host's. */
	assert_int_equal(uiommu_liobn_create(f->g, 0x12, 12, 0, (ACC_W0_SIZE >> 12) + 1), 0);
	assert_int_equal(uiommu_accel_attach(f->g, 0x12, acc_grp(f, 0)), -EINVAL);
	/* The same page size, a smaller window inside: fine. */
	assert_int_equal(uiommu_liobn_create(f->g, 0x13, 16, ACC_BUS64 >> 16, 4), 0);
	assert_int_equal(uiommu_accel_attach(f->g, 0x13, acc_grp(f, 0)), 0);
	assert_int_equal(uiommu_accel_attach(f->g, 0x13, acc_grp(f, 0)), -EEXIST);
	/* A LIOBN with a table attached cannot go, and says so. */
	assert_int_equal(uiommu_liobn_destroy(f->g, 0x13), -EBUSY);

	assert_int_equal(uiommu_accel_detach(NULL, 0x13, acc_grp(f, 0)), -EINVAL);
	assert_int_equal(uiommu_accel_detach(f->g, 0x13, NULL), -EINVAL);
	assert_int_equal(uiommu_accel_detach(f->g, 0x13, acc_grp(f, 1)), -ENOENT);
	assert_int_equal(uiommu_accel_detach(f->g, 0x12, acc_grp(f, 0)), -ENOENT);
	assert_int_equal(uiommu_accel_detach(f->g, 0x13, acc_grp(f, 0)), 0);
	assert_int_equal(uiommu_accel_detach(f->g, 0x13, acc_grp(f, 0)), -ENOENT);
	assert_int_equal(uiommu_accel_release_group(NULL, acc_grp(f, 0)), -EINVAL);
	assert_int_equal(uiommu_accel_release_group(f->g, NULL), -EINVAL);
	for (uint64_t l = 0x10; l <= 0x13; l++)
		assert_int_equal(uiommu_liobn_destroy(f->g, l), 0);

	assert_int_equal(uiommu_pe_free(lone), 0);
	assert_int_equal(uiommu_pe_free(ope), 0);
	assert_int_equal(uiommu_phb_free(ophb), 0);
	test_ctx_free(other);
}

/* At most UIOMMU_ACCEL_MAX_TABLES tables per LIOBN: the fifth container is refused. */
static void test_attach_enospc(void **state)
{
	struct acc_fx *f = *state;
	struct uiommu_vfio_container *c[UIOMMU_ACCEL_MAX_TABLES];
	struct uiommu_pe *pe[UIOMMU_ACCEL_MAX_TABLES];
	uint64_t start;

	/* The fixture's container is the first table. */
	assert_int_equal(uiommu_accel_attach(f->g, ACC_L64K, acc_grp(f, 0)), 0);
	for (int i = 0; i < UIOMMU_ACCEL_MAX_TABLES; i++) {
		struct uiommu_table_group *grp;

		pe[i] = vt_pe_new(f->phb, 8 + (unsigned int)i);
		grp = uiommu_pe_table_group(pe[i]);
		assert_int_equal(uiommu_vfio_container_new(f->ctx, &c[i]), 0);
		assert_int_equal(uiommu_vfio_group_set_container(grp, c[i]), 0);
		assert_int_equal(uiommu_vfio_set_iommu(c[i], UIOMMU_VFIO_SPAPR_TCE_v2_IOMMU), 0);
		assert_int_equal(uiommu_vfio_register_memory(c[i], acc_ua(f, 0), ACC_RAM), 0);
		assert_int_equal(uiommu_vfio_create_window(c[i], 16, ACC_W1_SIZE, 1, &start), 0);
		assert_int_equal(uiommu_accel_attach(f->g, ACC_L64K, grp),
				 i < UIOMMU_ACCEL_MAX_TABLES - 1 ? 0 : -ENOSPC);
	}
	for (int i = 0; i < UIOMMU_ACCEL_MAX_TABLES; i++) {
		assert_int_equal(uiommu_accel_release_group(f->g, uiommu_pe_table_group(pe[i])),
				 i < UIOMMU_ACCEL_MAX_TABLES - 1 ? 1 : 0);
		assert_int_equal(uiommu_vfio_container_free(c[i]), 0);
		assert_int_equal(uiommu_pe_free(pe[i]), 0);
	}
}

/*
 * Two groups of one container share its table: one attached table, one
 * reference for it (Linux takes one more per attach of a table already
 * attached, and never drops it).
 */
static void test_attach_refs(void **state)
{
	struct acc_fx *f = *state;
	struct uiommu_tce_table *tbl = acc_tbl(f, 1);
	struct uiommu_accel_info ai = { .size = sizeof(ai) };
	uint64_t refs = tbl_refs(tbl);

	assert_int_equal(uiommu_accel_attach(f->g, ACC_L64K, acc_grp(f, 0)), 0);
	assert_int_equal(tbl_refs(tbl), refs + 1);
	assert_int_equal(uiommu_accel_attach(f->g, ACC_L64K, acc_grp(f, 1)), 0);
	assert_int_equal(tbl_refs(tbl), refs + 1);
	assert_int_equal(uiommu_accel_attach(f->g, ACC_L16M, acc_grp(f, 1)), 0);
	assert_int_equal(tbl_refs(tbl), refs + 2);
	assert_int_equal(uiommu_accel_info(f->g, ACC_L64K, &ai), 0);
	assert_true(ai.tables == 1 && ai.groups == 2);
	assert_int_equal(uiommu_accel_info(f->g, ACC_L4K, &ai), 0);
	assert_true(ai.tables == 0 && ai.groups == 0);
	ai.size = 4;
	assert_int_equal(uiommu_accel_info(f->g, ACC_L4K, &ai), -EINVAL);
	assert_int_equal(uiommu_accel_info(NULL, ACC_L4K, &ai), -EINVAL);

	assert_int_equal(uiommu_accel_detach(f->g, ACC_L64K, acc_grp(f, 0)), 0);
	assert_int_equal(tbl_refs(tbl), refs + 2);
	assert_int_equal(uiommu_accel_release_group(f->g, acc_grp(f, 1)), 2);
	assert_int_equal(tbl_refs(tbl), refs);
	assert_int_equal(uiommu_accel_release_group(f->g, acc_grp(f, 1)), 0);
}

/* ---- the fast path ---- */

/* PUT maps, overwrites and unmaps; INDIRECT and STUFF; counts follow; no fallback. */
static void test_put_indirect_stuff(void **state)
{
	struct acc_fx *f = *state;
	uint64_t ua, list[512], base = acc_mapped(f);
	bool punted;

	assert_int_equal(uiommu_accel_attach(f->g, ACC_L4K, acc_grp(f, 0)), 0);
	/* Window 0 has one level: nothing to allocate, nothing falls back. */
	assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE, ACC_L4K, 0x5000, 0x10000 | RW, 0, &punted),
			 H_SUCCESS);
	assert_false(punted);
	assert_true((acc_host(f, 0, 5, &ua) & UIOMMU_TCE_PERM_MASK) == RW && ua == acc_ua(f, 0x10000));
	assert_int_equal(acc_mapped(f), base + 1);
	/* Write-only is stored read-write (powernv), read-only as read. */
	assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE, ACC_L4K, 0x5000, 0x20000 | 2, 0, &punted),
			 H_SUCCESS);
	assert_true((acc_host(f, 0, 5, &ua) & UIOMMU_TCE_PERM_MASK) == RW && ua == acc_ua(f, 0x20000));
	assert_int_equal(acc_mapped(f), base + 1);
	assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE, ACC_L4K, 0x6000, 0x20000 | 1, 0, &punted),
			 H_SUCCESS);
	assert_true((acc_host(f, 0, 6, NULL) & UIOMMU_TCE_PERM_MASK) == 1);
	assert_int_equal(acc_check(f), 2);
	/* A poison TCE (no R/W) unmaps and is stored verbatim. */
	assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE, ACC_L4K, 0x5000, 0xdead0000, 0, &punted),
			 H_SUCCESS);
	assert_true(acc_host(f, 0, 5, NULL) == 0 && view(f, ACC_L4K, 0x5000) == 0xdead0000);
	assert_int_equal(acc_check(f), 1);

	for (unsigned int i = 0; i < 512; i++)
		list[i] = (0x100000 + (uint64_t)i * 0x1000) | RW;
	list[7] = 0; /* an unmap inside the list */
	put_list(f, list, 512);
	assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE_INDIRECT, ACC_L4K, 0x100000, LIST_GPA, 512,
			       &punted), H_SUCCESS);
	assert_false(punted);
	assert_true(acc_host(f, 0, 0x100 + 7, NULL) == 0);
	assert_true(acc_host(f, 0, 0x100 + 8, &ua) && ua == acc_ua(f, 0x108000));
	assert_int_equal(acc_check(f), 1 + 511);
	/*
	 * A list entry outside registered memory: the fast path writes nothing
	 * (pass 1) and hands the hcall over; the VMM maps the rest and leaves
	 * that entry unmapped, as QEMU's notifier, the view holding the TCE.
	 */
	list[3] = ACC_RAM2_GPA | RW;
	put_list(f, list, 512);
	assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE_INDIRECT, ACC_L4K, 0x300000, LIST_GPA, 512,
			       &punted), H_SUCCESS);
	assert_true(punted && view(f, ACC_L4K, 0x303000) == list[3]);
	assert_true(acc_host(f, 0, 0x303, NULL) == 0 && acc_host(f, 0, 0x304, NULL) != 0);
	assert_int_equal(acc_check(f), 1 + 511 + 510);

	assert_int_equal(hcall(f, UIOMMU_H_STUFF_TCE, ACC_L4K, 0, 0, 0x500, &punted), H_SUCCESS);
	assert_false(punted);
	assert_int_equal(acc_check(f), 0);
	assert_int_equal(acc_mapped(f), base);
}

/*
 * A STUFF over the whole window holds every stripe of the container's
 * entries with one try: with one of them held by a MAP/UNMAP under way it
 * hands the hcall over; a narrow one still goes through; with the
 * container's lock held exclusively, none does; the wide one then does,
 * every entry unmapped.
 */
static void test_stuff_wide(void **state)
{
	struct acc_fx *f = *state;
	static const uint64_t entries[] = { 0, 5000, 20000, 40000, 65535 };
	uint64_t base = acc_mapped(f);
	bool punted;

	assert_int_equal(uiommu_accel_attach(f->g, ACC_L4K, acc_grp(f, 0)), 0);
	for (unsigned int i = 0; i < 5; i++)
		assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE, ACC_L4K, entries[i] << 12,
				       (0x10000 + i * 0x1000) | RW, 0, NULL), H_SUCCESS);
	assert_int_equal(acc_check(f), 5);

	/*
	 * A MAP/UNMAP holding the stripe of entry 20000 (its bit in the
	 * container's busy word, either window number): a STUFF of entry 0
	 * goes through, one of the whole window cannot hold every stripe.
	 */
	const uint64_t busy = 1ULL << ((20000 >> VFIO_STRIPE_SHIFT) % VFIO_STRIPES) |
			      1ULL << ((20000 >> VFIO_STRIPE_SHIFT) + 1) % VFIO_STRIPES;

	atomic_fetch_or(&f->c->busy, busy);
	assert_int_equal(hcall(f, UIOMMU_H_STUFF_TCE, ACC_L4K, 0, 0, 1, &punted), H_SUCCESS);
	assert_false(punted);
	{
		uint64_t args[4] = { ACC_L4K, 0, 0, 0x10000 };

		assert_int_equal(uiommu_papr_hcall(f->g, UIOMMU_H_STUFF_TCE, args, 4, NULL, 0),
				 H_TOO_HARD);
	}
	atomic_fetch_and(&f->c->busy, ~busy);
	assert_int_equal(acc_check(f), 4);
	/* The container's lock exclusively (a window or registration changing): hcalls punt. */
	vfio_wrlock(f->c);
	{
		uint64_t args[4] = { ACC_L4K, 5000 << 12, 0, 1 };

		assert_int_equal(uiommu_papr_hcall(f->g, UIOMMU_H_STUFF_TCE, args, 4, NULL, 0),
				 H_TOO_HARD);
	}
	vfio_wrunlock(f->c);
	assert_int_equal(acc_check(f), 4);
	assert_int_equal(hcall(f, UIOMMU_H_STUFF_TCE, ACC_L4K, 0, 0, 0x10000, &punted), H_SUCCESS);
	assert_false(punted);
	assert_int_equal(acc_check(f), 0);
	assert_int_equal(acc_mapped(f), base);
}

/*
 * 16 MiB guest TCEs over 64 KiB host TCEs: one guest TCE is 256 host TCEs
 * of consecutive hpas; the kill of the hcall names the host entries; a
 * fault after k host entries clears all 256 (host indexes, not the guest
 * entry number: 26a62b750a4e) and leaves every count balanced.
 */
struct kill_rec {
	uint64_t first, npages;
	unsigned int n;
};

static void record_kill(void *opaque, struct uiommu_tce_table *tbl, uint64_t entry,
			uint64_t npages)
{
	struct kill_rec *k = opaque;

	(void)tbl;
	k->first = entry;
	k->npages = npages;
	k->n++;
}

static void test_fanout_16m(void **state)
{
	struct acc_fx *f = *state;
	struct kill_rec k = { 0 };
	const uint64_t ioba = ACC_BUS64 + 3 * (16 * MiB), host0 = ioba >> 16;
	const uint64_t gpa = 2 * 16 * MiB;
	uint64_t ua;
	bool punted;

	assert_int_equal(uiommu_accel_attach(f->g, ACC_L16M, acc_grp(f, 0)), 0);
	assert_int_equal(uiommu_tce_table_kill_link(acc_tbl(f, 1), record_kill, &k), 0);
	/* The first use of the level falls back once; the VMM path allocates it. */
	assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE, ACC_L16M, ioba, gpa | RW, 0, &punted),
			 H_SUCCESS);
	assert_true(punted);
	assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE, ACC_L16M, ioba, 0, 0, &punted), H_SUCCESS);
	assert_false(punted);
	k.n = 0;
	assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE, ACC_L16M, ioba, gpa | RW, 0, &punted),
			 H_SUCCESS);
	assert_false(punted);
	assert_true(k.n == 1 && k.first == host0 && k.npages == 256);
	for (uint64_t i = 0; i < 256; i++) {
		uint64_t hpa;

		acc_host(f, 1, host0 + i, &ua);
		assert_true(ua == acc_ua(f, gpa + i * 64 * KiB));
		assert_int_equal(uiommu_hva_to_hpa(f->ctx, (void *)(uintptr_t)ua, &hpa), 0);
		assert_true(acc_host(f, 1, host0 + i, NULL) == (hpa | RW));
	}
	assert_true(acc_host(f, 1, host0 - 1, NULL) == 0 && acc_host(f, 1, host0 + 256, NULL) == 0);
	assert_int_equal(acc_check(f), 256);

	/* A fault after 100 host entries of a remap: the entry is cleared, whole, by host index. */
	assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 101, UIOMMU_FAULT_HCALL), 0);
	assert_int_equal(uiommu_h_put_tce(f->g, ACC_L16M, ioba, (gpa + 16 * MiB) | RW), H_TOO_HARD);
	assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 0, 0), 0);
	for (uint64_t i = 0; i < 256; i++)
		assert_true(acc_host(f, 1, host0 + i, NULL) == 0);
	assert_true(view(f, ACC_L16M, ioba) == (gpa | RW)); /* unchanged, as KVM */
	assert_int_equal(acc_check(f), 0);
	/* The VMM path redoes it: the same state as if the fast path had finished. */
	assert_int_equal(uiommu_accel_vmm_hcall(f->g, UIOMMU_H_PUT_TCE,
						(uint64_t[3]){ ACC_L16M, ioba, (gpa + 16 * MiB) | RW },
						3, NULL, 0),
			 H_SUCCESS);
	assert_true(acc_host(f, 1, host0 + 255, &ua) && ua == acc_ua(f, gpa + 32 * MiB - 64 * KiB));
	assert_int_equal(acc_check(f), 256);
	/* STUFF over 64 guest entries: one kill, of all their host entries. */
	k.n = 0;
	assert_int_equal(hcall(f, UIOMMU_H_STUFF_TCE, ACC_L16M, ACC_BUS64, 0, 64, &punted),
			 H_SUCCESS);
	assert_true(!punted && k.n == 1 && k.first == ACC_BUS64 >> 16 && k.npages == 64 * 256);
	assert_int_equal(acc_check(f), 0);
	assert_int_equal(uiommu_tce_table_kill_unlink(acc_tbl(f, 1), record_kill, &k), 0);
}

/* Snapshot of everything the model of an hcall stream compares. */
struct snap {
	uint64_t view[64], host[64], ua[64], mapped, tces;
};

static void snap_take(struct acc_fx *f, struct snap *s)
{
	memset(s, 0, sizeof(*s));
	for (uint64_t i = 0; i < 64; i++)
		s->view[i] = view(f, ACC_L64K, ACC_BUS64 + (i << 16));
	for (uint64_t i = 0; i < 64; i++)
		s->host[i] = acc_host(f, 1, (ACC_BUS64 >> 16) + i, &s->ua[i]);
	s->mapped = acc_mapped(f);
	s->tces = acc_container_tces(f);
}

/*
 * Fallback idempotence: an INDIRECT (that replaces live entries) and a
 * STUFF, failed at every fault point of the fast path in turn and redone
 * by the VMM path, end exactly where the fast path ends without a fault.
 */
static void test_fallback_every_point(void **state)
{
	struct acc_fx *f = *state;
	struct snap want, got;
	uint64_t list[48];
	unsigned int points = 0;

	assert_int_equal(uiommu_accel_attach(f->g, ACC_L64K, acc_grp(f, 0)), 0);
	/* Populate the levels and 16 live entries first. */
	for (unsigned int i = 0; i < 48; i++)
		list[i] = ((uint64_t)(i + 100) << 16) | RW;
	put_list(f, list, 16);
	assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE_INDIRECT, ACC_L64K, ACC_BUS64, LIST_GPA, 16,
			       NULL), H_SUCCESS);
	for (unsigned int i = 0; i < 48; i++)
		list[i] = (i % 5 == 4) ? 0 : ((uint64_t)(i + 300) << 16) | (1 + i % 3);
	put_list(f, list, 48);

	/* The reference: no fault. */
	assert_int_equal(uiommu_h_put_tce_indirect(f->g, ACC_L64K, ACC_BUS64 + (8 << 16), LIST_GPA,
						   48), H_SUCCESS);
	assert_int_equal(uiommu_h_stuff_tce(f->g, ACC_L64K, ACC_BUS64 + (40 << 16), 0, 12),
			 H_SUCCESS);
	snap_take(f, &want);
	acc_check(f);

	for (uint64_t nth = 1;; nth++) {
		long r1, r2;
		uint64_t injected = 0;

		/* Back to the start: the 16 entries, nothing else. */
		assert_int_equal(hcall(f, UIOMMU_H_STUFF_TCE, ACC_L64K, ACC_BUS64, 0, 64, NULL),
				 H_SUCCESS);
		{
			uint64_t l16[16];

			for (unsigned int i = 0; i < 16; i++)
				l16[i] = ((uint64_t)(i + 100) << 16) | RW;
			put_list(f, l16, 16);
			assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE_INDIRECT, ACC_L64K, ACC_BUS64,
					       LIST_GPA, 16, NULL), H_SUCCESS);
			put_list(f, list, 48);
		}
		assert_int_equal(uiommu_ctx_inject_fault(f->ctx, nth, UIOMMU_FAULT_HCALL), 0);
		r1 = hcall(f, UIOMMU_H_PUT_TCE_INDIRECT, ACC_L64K, ACC_BUS64 + (8 << 16), LIST_GPA,
			   48, NULL);
		r2 = hcall(f, UIOMMU_H_STUFF_TCE, ACC_L64K, ACC_BUS64 + (40 << 16), 0, 12, NULL);
		assert_int_equal(uiommu_ctx_get_counter(f->ctx, UIOMMU_COUNTER_FAULTS_INJECTED,
							&injected), 0);
		assert_int_equal(uiommu_ctx_inject_fault(f->ctx, 0, 0), 0);
		assert_int_equal(r1, H_SUCCESS);
		assert_int_equal(r2, H_SUCCESS);
		snap_take(f, &got);
		assert_memory_equal(&want, &got, sizeof(want));
		acc_check(f);
		if (!injected)
			break;
		points++;
	}
	/* begin, then one point per host entry mapped or unmapped: plenty. */
	assert_true(points > 48);
}

/*
 * Memory the container has not registered: the fast path hands it over;
 * the VMM path leaves the entry unmapped (not with the page it held
 * before) and counts the refusal, and the hcall succeeds, as QEMU's.
 */
static void test_not_preregistered(void **state)
{
	struct acc_fx *f = *state;
	struct uiommu_accel_info ai = { .size = sizeof(ai) };
	bool punted;

	assert_int_equal(uiommu_accel_attach(f->g, ACC_L4K, acc_grp(f, 0)), 0);
	assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE, ACC_L4K, 0x7000, 0x7000 | RW, 0, NULL),
			 H_SUCCESS);
	assert_true(acc_host(f, 0, 7, NULL) != 0);
	assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE, ACC_L4K, 0x7000, ACC_RAM2_GPA | RW, 0,
			       &punted), H_SUCCESS);
	assert_true(punted);
	assert_true(view(f, ACC_L4K, 0x7000) == (ACC_RAM2_GPA | RW) && acc_host(f, 0, 7, NULL) == 0);
	/* Outside guest memory altogether: KVM hands it to the VMM, which cannot map it either. */
	assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE, ACC_L4K, 0x7000, 0x7fff0000 | RW, 0, &punted),
			 H_SUCCESS);
	assert_true(punted && view(f, ACC_L4K, 0x7000) == (0x7fff0000 | RW));
	assert_int_equal(uiommu_accel_info(f->g, ACC_L4K, &ai), 0);
	/* The second was handed over by KVM's own check, before the table was asked. */
	assert_true(ai.vmm_hcalls == 2 && ai.vmm_failures == 2 && ai.too_hard == 1);
	/* KVM's own H_PARAMETER is not handed over. */
	assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE, ACC_L4K, 0x7001, 0x7000 | RW, 0, &punted),
			 H_PARAMETER);
	assert_false(punted);
	acc_check(f);
}

/* A removed window: hcalls hand over, the VMM path counts the container's refusal. */
static void test_window_removed(void **state)
{
	struct acc_fx *f = *state;
	uint64_t start = 0;
	bool punted;

	assert_int_equal(uiommu_accel_attach(f->g, ACC_L64K, acc_grp(f, 0)), 0);
	assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE, ACC_L64K, ACC_BUS64, 0x10000 | RW, 0, NULL),
			 H_SUCCESS);
	assert_int_equal(uiommu_vfio_remove_window(f->c, ACC_BUS64), 0);
	assert_int_equal(acc_mapped(f), 1);
	assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE, ACC_L64K, ACC_BUS64, 0x10000 | RW, 0, &punted),
			 H_SUCCESS);
	assert_true(punted);
	assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE, ACC_L64K, ACC_BUS64, 0, 0, &punted), H_SUCCESS);
	assert_int_equal(acc_mapped(f), 1);
	assert_int_equal(uiommu_accel_detach(f->g, ACC_L64K, acc_grp(f, 0)), 0);
	assert_int_equal(uiommu_vfio_create_window(f->c, 16, ACC_W1_SIZE, 2, &start), 0);
}

/* A v1 container: attached, but the fast path hands everything over; the VMM pins. */
static void test_v1(void **state)
{
	struct acc_fx *f = *state;
	struct uiommu_pe *pe = vt_pe_new(f->phb, 9);
	struct uiommu_table_group *grp = uiommu_pe_table_group(pe);
	struct uiommu_vfio_container *c;
	bool punted;

	assert_int_equal(uiommu_vfio_container_new(f->ctx, &c), 0);
	assert_int_equal(uiommu_vfio_group_set_container(grp, c), 0);
	assert_int_equal(uiommu_vfio_set_iommu(c, UIOMMU_VFIO_SPAPR_TCE_IOMMU), 0);
	assert_int_equal(uiommu_vfio_enable(c), 0);
	/* The 32-bit window appears with the first MAP: create it. */
	assert_int_equal(uiommu_vfio_unmap_dma(c, 0, 4096), 0);
	assert_int_equal(uiommu_accel_attach(f->g, ACC_L4K, grp), 0);
	assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE, ACC_L4K, 0x1000, 0x9000 | RW, 0, &punted),
			 H_SUCCESS);
	assert_true(punted);
	assert_true(grp->tables[0] && view(f, ACC_L4K, 0x1000) == (0x9000 | RW));
	assert_int_equal(hcall(f, UIOMMU_H_PUT_TCE, ACC_L4K, 0x1000, 0, 0, &punted), H_SUCCESS);
	assert_true(punted);
	assert_int_equal(uiommu_accel_release_group(f->g, grp), 1);
	assert_int_equal(uiommu_vfio_container_free(c), 0);
	assert_int_equal(uiommu_pe_free(pe), 0);
}

/* Freeing the guest detaches what is attached; nothing is left referenced. */
static void test_guest_free_detaches(void **state)
{
	struct acc_fx *f = *state;
	struct uiommu_tce_table *tbl = acc_tbl(f, 1);
	uint64_t refs = tbl_refs(tbl);
	struct uiommu_guest *g2;

	assert_int_equal(uiommu_guest_new(f->ctx, &g2), 0);
	assert_int_equal(uiommu_guest_set_memslot(g2, 0, 0, ACC_RAM, f->ram.hva, 0), 0);
	assert_int_equal(uiommu_liobn_create(g2, 7, 16, ACC_BUS64 >> 16, 64), 0);
	assert_int_equal(uiommu_accel_attach(g2, 7, acc_grp(f, 0)), 0);
	assert_int_equal(uiommu_h_put_tce(g2, 7, ACC_BUS64, 0 | RW), H_TOO_HARD); /* level */
	assert_int_equal(tbl_refs(tbl), refs + 1);
	uiommu_guest_free(g2);
	assert_int_equal(tbl_refs(tbl), refs);
}

/* ---- vCPU handles ---- */

struct other_thread {
	struct uiommu_vcpu *vcpu;
	struct uiommu_guest *g;
	int enter, exit, quiescent, free, info, mine;
};

static void *other_thread(void *arg)
{
	struct other_thread *o = arg;
	struct uiommu_vcpu *mine = NULL;

	o->enter = uiommu_vcpu_enter(o->vcpu);
	o->exit = uiommu_vcpu_exit(o->vcpu);
	o->quiescent = uiommu_vcpu_quiescent(o->vcpu);
	o->free = uiommu_vcpu_free(o->vcpu);
	/* A thread of its own may have one. */
	o->mine = uiommu_vcpu_new(o->g, &mine);
	if (!o->mine)
		o->mine = uiommu_vcpu_free(mine);
	return NULL;
}

static void test_vcpu(void **state)
{
	struct acc_fx *f = *state;
	struct uiommu_vcpu_info vi = { .size = sizeof(vi) };
	struct uiommu_vcpu *v = NULL, *v2 = NULL;
	struct other_thread o;
	pthread_t th;
	uint64_t tce = 0, args[4];

	assert_int_equal(uiommu_vcpu_new(NULL, &v), -EINVAL);
	assert_int_equal(uiommu_vcpu_new(f->g, NULL), -EINVAL);
	assert_int_equal(uiommu_ctx_set_limit(f->ctx, UIOMMU_RES_VCPUS, 0), 0);
	assert_int_equal(uiommu_vcpu_new(f->g, &v), -ENOSPC);
	assert_int_equal(uiommu_ctx_set_limit(f->ctx, UIOMMU_RES_VCPUS, 8), 0);
	assert_int_equal(uiommu_vcpu_new(f->g, &v), 0);
	assert_int_equal(uiommu_vcpu_new(f->g, &v2), -EBUSY);
	o = (struct other_thread){ .vcpu = v, .g = f->g };
	assert_int_equal(pthread_create(&th, NULL, other_thread, &o), 0);
	pthread_join(th, NULL);
	assert_true(o.enter == -EPERM && o.exit == -EPERM && o.quiescent == -EPERM &&
		    o.free == -EPERM && o.mine == 0);

	/* Not entered: the handle-less path, same answers. */
	assert_int_equal(uiommu_vcpu_h_put_tce(v, ACC_L4K, 0x1000, 0x2000 | RW), H_SUCCESS);
	assert_int_equal(uiommu_vcpu_enter(v), 0);
	assert_int_equal(uiommu_vcpu_enter(v), 0);
	assert_int_equal(uiommu_vcpu_h_get_tce(v, ACC_L4K, 0x1000, &tce), H_SUCCESS);
	assert_true(tce == (0x2000 | RW));
	assert_int_equal(uiommu_vcpu_h_put_tce(v, ACC_L4K, 0x1001, 0x2000 | RW), H_PARAMETER);
	assert_int_equal(uiommu_vcpu_h_get_tce(v, ACC_L4K, 0x1000, NULL), H_PARAMETER);
	assert_int_equal(uiommu_vcpu_h_put_tce(v, 0x9999, 0x1000, 0), H_TOO_HARD);
	/* A page of the view to allocate: the vCPU leaves guest context for it. */
	assert_int_equal(uiommu_vcpu_h_put_tce(v, ACC_L4K, 0x8000000, 0x3000 | RW), H_SUCCESS);
	assert_int_equal(uiommu_vcpu_h_stuff_tce(v, ACC_L4K, 0x8000000, 0, 16), H_SUCCESS);
	put_list(f, (uint64_t[2]){ 0x4000 | RW, 0x5000 | 1 }, 2);
	assert_int_equal(uiommu_vcpu_h_put_tce_indirect(v, ACC_L4K, 0x10000, LIST_GPA, 2),
			 H_SUCCESS);
	args[0] = ACC_L4K;
	args[1] = 0x11000;
	assert_int_equal(uiommu_vcpu_hcall(v, UIOMMU_H_GET_TCE, args, 2, &tce, 1), H_SUCCESS);
	assert_true(tce == (0x5000 | 1));
	assert_int_equal(uiommu_vcpu_hcall(v, 0x9, args, 2, &tce, 1), UIOMMU_H_FUNCTION);
	assert_int_equal(uiommu_vcpu_hcall(v, UIOMMU_H_GET_TCE, args, 1, &tce, 1), H_PARAMETER);
	/* With a host table: the same answers, the host table updated. */
	assert_int_equal(uiommu_vcpu_exit(v), 0);
	assert_int_equal(uiommu_accel_attach(f->g, ACC_L4K, acc_grp(f, 0)), 0);
	assert_int_equal(uiommu_vcpu_enter(v), 0);
	assert_int_equal(uiommu_vcpu_h_put_tce(v, ACC_L4K, 0x1000, 0x2000 | RW), H_SUCCESS);
	assert_true(acc_host(f, 0, 1, NULL) != 0);
	assert_int_equal(uiommu_vcpu_quiescent(v), 0);
	assert_int_equal(uiommu_vcpu_h_put_tce(v, ACC_L4K, 0x1000, ACC_RAM2_GPA | RW), H_TOO_HARD);
	assert_int_equal(uiommu_vcpu_exit(v), 0);
	assert_int_equal(uiommu_vcpu_exit(v), 0);
	assert_int_equal(uiommu_accel_vmm_hcall(f->g, UIOMMU_H_PUT_TCE,
						(uint64_t[3]){ ACC_L4K, 0x1000, 0 }, 3, NULL, 0),
			 H_SUCCESS);
	assert_int_equal(uiommu_vcpu_info(v, &vi), 0);
	assert_true(vi.in_guest == 0 && vi.too_hard == 2 && vi.slow >= 6);
	vi.size = 8;
	assert_int_equal(uiommu_vcpu_info(v, &vi), -EINVAL);
	assert_int_equal(uiommu_vcpu_info(NULL, &vi), -EINVAL);
	assert_int_equal(uiommu_vcpu_free(v), 0);
	assert_int_equal(uiommu_vcpu_free(NULL), 0);
	acc_check(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_attach_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_enospc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_refs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_indirect_stuff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stuff_wide, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fanout_16m, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fallback_every_point, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_preregistered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_free_detaches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vcpu, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
