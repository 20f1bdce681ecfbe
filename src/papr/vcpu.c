// SPDX-License-Identifier: BSD-3-Clause
/*
 * vCPU handles (uiommu/vcpu.h): a thread registered as a QSBR reader
 * (core/rcu_qsbr.c), online while its vCPU is in guest context. The
 * hypercalls through a handle are in hcall.c, beside the handle-less ones
 * whose bodies they share.
 *
 * What an online vCPU reads without a lock, and why each is safe (every
 * one is freed through rcu_defer() or after rcu_wait_grace(), which wait
 * for both flavours once a vCPU has registered):
 * - the guest's PAPR state: freed with the guest, after every handle
 *   (uiommu_vcpu.h's rule; papr_guest's count of handles reports a
 *   violation);
 * - the LIOBN array, each table and its guest-view pages: rcu_defer();
 * - the attached hardware-table array: rcu_defer(), and detach waits for
 *   a grace period before its owner may free what it points at;
 * - the memslot array: rcu_defer();
 * - what the vCPU remembers from one hypercall to the next (papr.h): the
 *   same objects, forgotten at every quiescent state;
 * - what an attached table's ops read (src/accel/: a container's
 *   registrations, their regions, a host table and its kill links): the
 *   same two ways.
 */
#include <string.h>

#include "papr.h"

/* The calling thread's handle, for the one-per-thread rule. */
static _Thread_local struct uiommu_vcpu *thread_vcpu;

static inline bool on_thread(const struct uiommu_vcpu *vcpu)
{
	return thread_vcpu == vcpu;
}

UIOMMU_EXPORT int uiommu_vcpu_new(struct uiommu_guest *guest, struct uiommu_vcpu **ret_vcpu)
{
	struct papr_guest *pg;
	struct uiommu_vcpu *v;
	int ret;

	if (!guest || !ret_vcpu)
		return -EINVAL;
	if (thread_vcpu)
		return -EBUSY;
	pg = papr_guest_get(guest);
	if (!pg)
		return -ENOMEM;
	ret = ctx_charge(guest->ctx, UIOMMU_RES_VCPUS, 1);
	if (ret) {
		ctx_warn(guest->ctx, "vCPU handle refused: the %s limit",
			 uiommu_resource_name(UIOMMU_RES_VCPUS));
		return ret;
	}
	v = ctx_alloc(guest->ctx, sizeof(*v));
	if (!v) {
		ctx_uncharge(guest->ctx, UIOMMU_RES_VCPUS, 1);
		return -ENOMEM;
	}
	v->guest = guest;
	v->pg = pg;
	atomic_fetch_add_explicit(&pg->vcpus, 1, memory_order_relaxed);
	rcu_qsbr_register();
	thread_vcpu = v;
	*ret_vcpu = v;
	return 0;
}

UIOMMU_EXPORT int uiommu_vcpu_free(struct uiommu_vcpu *vcpu)
{
	struct uiommu_ctx *ctx;

	if (!vcpu)
		return 0;
	if (!on_thread(vcpu))
		return -EPERM;
	uiommu_vcpu_exit(vcpu);
	rcu_qsbr_unregister();
	thread_vcpu = NULL;
	ctx = vcpu->guest->ctx;
	atomic_fetch_sub_explicit(&vcpu->pg->vcpus, 1, memory_order_relaxed);
	ctx_free(ctx, vcpu);
	ctx_uncharge(ctx, UIOMMU_RES_VCPUS, 1);
	return 0;
}

UIOMMU_EXPORT int uiommu_vcpu_enter(struct uiommu_vcpu *vcpu)
{
	if (!on_thread(vcpu))
		return -EPERM;
	if (!vcpu->online) {
		rcu_qsbr_online();
		vcpu->online = true;
	}
	return 0;
}

UIOMMU_EXPORT int uiommu_vcpu_exit(struct uiommu_vcpu *vcpu)
{
	if (!on_thread(vcpu))
		return -EPERM;
	if (vcpu->online) {
		vcpu->online = false;
		vcpu_forget(vcpu);
		rcu_qsbr_offline();
	}
	return 0;
}

UIOMMU_EXPORT int uiommu_vcpu_quiescent(struct uiommu_vcpu *vcpu)
{
	if (!on_thread(vcpu))
		return -EPERM;
	if (vcpu->online) {
		vcpu_forget(vcpu);
		rcu_qsbr_quiescent();
	}
	return 0;
}

/* The first published layout of struct uiommu_vcpu_info. */
#define INFO_SIZE_V1 sizeof(struct uiommu_vcpu_info)

UIOMMU_EXPORT int uiommu_vcpu_info(const struct uiommu_vcpu *vcpu,
				   struct uiommu_vcpu_info *ret_info)
{
	struct uiommu_vcpu_info out = { .size = (uint32_t)INFO_SIZE_V1 };

	if (!vcpu || !ret_info || ret_info->size < INFO_SIZE_V1)
		return -EINVAL;
	out.in_guest = vcpu->online;
	out.too_hard = vcpu->too_hard;
	out.slow = vcpu->slow;
	struct_copy_out(ret_info, &out, INFO_SIZE_V1);
	return 0;
}
