// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fault scenarios of the PAPR guest interface, in both profiles: a guest's
 * PAPR state, a VIO LIOBN, a PHB with its default window, the TCE
 * hypercalls that allocate guest-view pages (PUT, INDIRECT, STUFF), a DDW
 * window created, used and removed, and hardware tables attached to a
 * LIOBN and detached (the seam of src/internal.h). An hcall or RTAS call
 * that runs out of memory answers H_HARDWARE or RTAS hardware error: the
 * scenario reports that as -ENOMEM, after checking that the guest sees
 * nothing of the failed call.
 */
#define _DEFAULT_SOURCE /* htobe64() */
#include <endian.h>

#include "fault.h"

#include "internal.h"

#define RAM_SIZE (1u << 20)
#define VIO_LIOBN 0x71000002u

struct papr_objs {
	uint64_t ram_hpa;
	char *ram;
	struct uiommu_guest *guest;
	int hw_attached; /* how many of hw[] */
};

/* A hardware table that accepts everything. */
static long hw_begin(struct papr_hw_batch *b, uint64_t entry, uint64_t npages)
{
	(void)b, (void)entry, (void)npages;
	return UIOMMU_H_SUCCESS;
}

static long hw_validate(struct papr_hw_batch *b, uint64_t tce)
{
	(void)b, (void)tce;
	return UIOMMU_H_SUCCESS;
}

static long hw_map(struct papr_hw_batch *b, uint64_t entry, uint64_t tce)
{
	(void)b, (void)entry, (void)tce;
	return UIOMMU_H_SUCCESS;
}

static long hw_unmap(struct papr_hw_batch *b, uint64_t entry)
{
	(void)b, (void)entry;
	return UIOMMU_H_SUCCESS;
}

static void hw_clear(struct papr_hw_batch *b, uint64_t entry)
{
	(void)b, (void)entry;
}

static void hw_end(struct papr_hw_batch *b)
{
	(void)b;
}

static const struct papr_hw_ops hw_ops = {
	.begin = hw_begin, .validate = hw_validate, .map = hw_map, .unmap = hw_unmap,
	.clear = hw_clear, .end = hw_end,
};
static int hw[2];

/* An hcall that stores TCEs: H_HARDWARE is its out-of-memory answer, and then the guest sees no change. */
static int hcall_step(struct uiommu_guest *g, long ret, uint64_t liobn, uint64_t ioba)
{
	uint64_t tce = ~0ULL;

	if (ret == UIOMMU_H_SUCCESS)
		return 0;
	assert_int_equal(ret, UIOMMU_H_HARDWARE);
	assert_int_equal(uiommu_liobn_get_tce(g, liobn, ioba, &tce), 0);
	assert_true(tce == 0);
	return -ENOMEM;
}

static int papr_run_profile(struct uiommu_ctx *ctx, struct papr_objs *o,
			    enum uiommu_papr_profile profile)
{
	struct uiommu_papr_phb_config phb;
	uint64_t list[16], tce = 0;
	uint32_t args[5], rets[6];
	uint64_t win;
	int ret;

	FAULT_STEP(uiommu_ram_create(ctx, RAM_SIZE, &o->ram_hpa, (void **)&o->ram));
	FAULT_STEP(uiommu_guest_new(ctx, &o->guest));
	FAULT_STEP(uiommu_guest_set_memslot(o->guest, 0, 0, RAM_SIZE, o->ram, 0));
	FAULT_STEP(uiommu_papr_set_profile(o->guest, profile));
	FAULT_STEP(uiommu_liobn_create_vio(o->guest, VIO_LIOBN));
	uiommu_papr_phb_config_default(&phb, 0);
	FAULT_STEP(uiommu_papr_phb_add(o->guest, &phb));

	/* PUT, INDIRECT (two guest-view pages' worth of entries apart), STUFF. */
	FAULT_STEP(hcall_step(o->guest, uiommu_h_put_tce(o->guest, VIO_LIOBN, 0x1000, 0x2003),
			      VIO_LIOBN, 0x1000));
	for (int i = 0; i < 16; i++)
		list[i] = htobe64((0x4000 + (uint64_t)i * 4096) | 3);
	memcpy(o->ram + 0x10000, list, sizeof(list));
	FAULT_STEP(hcall_step(o->guest, uiommu_h_put_tce_indirect(o->guest, VIO_LIOBN, 0x8000000,
								  0x10000, 16),
			      VIO_LIOBN, 0x8000000));
	FAULT_STEP(hcall_step(o->guest, uiommu_h_stuff_tce(o->guest, VIO_LIOBN, 0x4000000, 0, 512),
			      VIO_LIOBN, 0x4000000));
	assert_int_equal(uiommu_h_get_tce(o->guest, VIO_LIOBN, 0x1000, &tce), UIOMMU_H_SUCCESS);
	assert_true(tce == 0x2003);

	/* DDW: a 64-bit window of 64 KiB pages, a TCE in it, then back to the default window. */
	args[0] = 0;
	args[1] = (uint32_t)(phb.buid >> 32);
	args[2] = (uint32_t)phb.buid;
	args[3] = 16;
	args[4] = 30;
	ret = uiommu_papr_rtas(o->guest, UIOMMU_RTAS_CREATE_PE_DMA_WINDOW, 5, args, 4, rets);
	if (ret == UIOMMU_RTAS_HW_ERROR) {
		assert_int_equal(uiommu_liobn_info(o->guest, uiommu_papr_pci_liobn(0, 1), NULL,
						   NULL, NULL), -ENOENT);
		return -ENOMEM;
	}
	assert_int_equal(ret, UIOMMU_RTAS_SUCCESS);
	win = (uint64_t)rets[2] << 32 | rets[3];
	FAULT_STEP(hcall_step(o->guest, uiommu_h_put_tce(o->guest, rets[1], win, 0x10003), rets[1],
			      win));

	/* Hardware tables on the VIO LIOBN: attach two, detach one (a smaller set). */
	FAULT_STEP(papr_liobn_attach_hw(o->guest, VIO_LIOBN, &hw_ops, &hw[0]));
	o->hw_attached = 1;
	FAULT_STEP(papr_liobn_attach_hw(o->guest, VIO_LIOBN, &hw_ops, &hw[1]));
	o->hw_attached = 2;
	FAULT_STEP(papr_liobn_detach_hw(o->guest, VIO_LIOBN, &hw_ops, &hw[1]));
	o->hw_attached = 1;
	FAULT_STEP(hcall_step(o->guest, uiommu_h_put_tce(o->guest, VIO_LIOBN, 0x2000, 0x3003),
			      VIO_LIOBN, 0x2000));

	args[3] = rets[1];
	ret = uiommu_papr_rtas(o->guest, UIOMMU_RTAS_REMOVE_PE_DMA_WINDOW, 1, args + 3, 1, rets);
	if (ret == UIOMMU_RTAS_HW_ERROR) { /* the window stays, whole */
		assert_int_equal(uiommu_liobn_get_tce(o->guest, args[3], win, &tce), 0);
		assert_true(tce == 0x10003);
		return -ENOMEM;
	}
	assert_int_equal(ret, UIOMMU_RTAS_SUCCESS);
	ret = uiommu_papr_rtas(o->guest, UIOMMU_RTAS_RESET_PE_DMA_WINDOW, 3, args, 1, rets);
	if (ret == UIOMMU_RTAS_HW_ERROR)
		return -ENOMEM; /* the default window could not be made again */
	assert_int_equal(ret, UIOMMU_RTAS_SUCCESS);
	return 0;
}

static void papr_undo(struct uiommu_ctx *ctx, void *state)
{
	struct papr_objs *o = state;

	while (o->hw_attached > 0) {
		o->hw_attached--;
		FAULT_RETRY(ctx, papr_liobn_detach_hw(o->guest, VIO_LIOBN, &hw_ops,
						      &hw[o->hw_attached]));
	}
	if (o->guest)
		uiommu_guest_free(o->guest);
	if (o->ram)
		FAULT_RETRY(ctx, uiommu_ram_remove(ctx, o->ram_hpa));
}

static int papr_run_qemu(struct uiommu_ctx *ctx, void *state)
{
	return papr_run_profile(ctx, state, UIOMMU_PAPR_PROFILE_QEMU);
}

static int papr_run_kvm(struct uiommu_ctx *ctx, void *state)
{
	return papr_run_profile(ctx, state, UIOMMU_PAPR_PROFILE_KVM);
}

FAULT_SCENARIO(papr_qemu_scenario) = {
	.name = "PAPR, QEMU profile: LIOBNs, hcalls, PHB, DDW, hardware tables",
	.state_size = sizeof(struct papr_objs),
	.run = papr_run_qemu,
	.undo = papr_undo,
	.min_points = 20,
};

FAULT_SCENARIO(papr_kvm_scenario) = {
	.name = "PAPR, KVM profile: LIOBNs, hcalls, PHB, DDW, hardware tables",
	.state_size = sizeof(struct papr_objs),
	.host_page_shift = 12,
	.run = papr_run_kvm,
	.undo = papr_undo,
	.min_points = 20,
};
