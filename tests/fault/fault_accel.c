// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fault scenario of the accelerated hcall path: on the fixture of the accel
 * tests (a guest in the KVM profile, a PHB with two PEs in a VFIO
 * container with two windows, LIOBNs over them), a vCPU handle, the two
 * groups attached to a LIOBN (one table, joined by the second group),
 * hcalls from the vCPU through the attached table, and the groups
 * detached again.
 */
#include "fault.h"

#include "accel_util.h"

struct accel_objs {
	struct acc_fx f;
	struct uiommu_vcpu *vcpu;
};

static void accel_setup(struct uiommu_ctx *ctx, void *state)
{
	struct accel_objs *o = state;

	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_LOCKED_BYTES, 4 * GiB), 0);
	acc_fx_setup_in(&o->f, ctx);
}

/* An accelerated hcall that ran out of memory answers H_HARDWARE, or H_TOO_HARD for the VMM. */
static int hcall_step(long ret)
{
	if (ret == UIOMMU_H_SUCCESS)
		return 0;
	assert_true(ret == UIOMMU_H_HARDWARE || ret == UIOMMU_H_TOO_HARD);
	return -ENOMEM;
}

static int accel_run(struct uiommu_ctx *ctx, void *state)
{
	struct accel_objs *o = state;
	uint64_t tce = 0;

	(void)ctx;
	FAULT_STEP(uiommu_vcpu_new(o->f.g, &o->vcpu));
	FAULT_STEP(uiommu_accel_attach(o->f.g, ACC_L4K, acc_grp(&o->f, 0)));
	FAULT_STEP(uiommu_accel_attach(o->f.g, ACC_L4K, acc_grp(&o->f, 1)));
	assert_int_equal(uiommu_vcpu_enter(o->vcpu), 0);
	FAULT_STEP(hcall_step(uiommu_vcpu_h_put_tce(o->vcpu, ACC_L4K, 0x3000, 0x5000 | 3)));
	FAULT_STEP(hcall_step(uiommu_vcpu_h_get_tce(o->vcpu, ACC_L4K, 0x3000, &tce)));
	assert_true(tce == (0x5000 | 3));
	FAULT_STEP(hcall_step(uiommu_vcpu_h_stuff_tce(o->vcpu, ACC_L4K, 0x3000, 0, 1)));
	assert_int_equal(uiommu_vcpu_exit(o->vcpu), 0);
	return 0;
}

static void accel_undo(struct uiommu_ctx *ctx, void *state)
{
	struct accel_objs *o = state;

	/* The fixture's teardown wants every step to work: no faults from here. */
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
	if (o->vcpu) {
		uiommu_vcpu_exit(o->vcpu); /* if an hcall step stopped the run inside */
		assert_int_equal(uiommu_vcpu_free(o->vcpu), 0);
	}
	acc_fx_teardown_in(&o->f); /* releases the groups from every LIOBN */
}

FAULT_SCENARIO(accel_scenario) = {
	.name = "accelerated hcalls: vCPU, groups attached to a LIOBN, hcalls through them",
	.state_size = sizeof(struct accel_objs),
	.simulate_pins = true,
	.setup = accel_setup,
	.run = accel_run,
	.undo = accel_undo,
	.min_points = 4,
};
