/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uiommu/vcpu.h - vCPU handles: the TCE hypercalls at the cost of a store.
 *
 * A VMM runs its guest's hypercalls on vCPU threads it owns. A handle-less
 * hypercall (papr.h) enters and leaves an RCU read-side section of
 * liburcu-bp each time, which costs more than the rest of an H_PUT_TCE. A
 * vCPU handle (struct uiommu_vcpu) registers its thread as a reader of
 * liburcu's QSBR flavour instead: while the vCPU is in guest context
 * (between uiommu_vcpu_enter() and uiommu_vcpu_exit()) its thread is inside
 * a read-side section all the time, so its hypercalls take no lock and
 * enter nothing, as KVM's in-kernel handlers relied on a CPU in guest
 * context not being in a quiescent state. The price: everything the
 * library frees waits until every entered vCPU has left guest context or
 * reported a quiescent state, so a VMM calls uiommu_vcpu_exit() when the
 * vCPU exits to it or idles, and uiommu_vcpu_quiescent() now and then when
 * a vCPU stays in guest context for long.
 *
 * Rules:
 * - A handle belongs to the thread that created it: create, enter, exit,
 *   quiescent, every uiommu_vcpu_h_*() call and free happen on that
 *   thread. A thread has at most one handle.
 * - Between enter and exit the thread calls only the uiommu_vcpu_h_*()
 *   functions and lock-free reads; anything else (a container ioctl, a
 *   LIOBN change, a handle-less call that may wait for a grace period)
 *   comes after exit, as a VMM handles an exit after leaving guest context.
 *   A uiommu_vcpu_h_*() call made while the vCPU is not entered runs as the
 *   handle-less call does.
 * - The semantics are those of the handle-less calls of papr.h (the same
 *   profile, the same codes, the same attached hardware tables): a handle
 *   changes only what a call costs. Where a call cannot finish without
 *   blocking (a guest-view page to allocate, a guest error to log), the
 *   library leaves guest context for that moment itself.
 * - Free every handle of a guest before the guest.
 *
 * Builds with -Drcu=mutex (ThreadSanitizer) have no QSBR flavour: there a
 * vCPU in guest context holds the lock-based read side from enter to exit
 * (quiescent releases and retakes it), so that breaking the rule above
 * shows as a lock-order report or a deadlock, not as a silent use after
 * free.
 */
#ifndef UIOMMU_VCPU_H
#define UIOMMU_VCPU_H

#include <stdint.h>

#include <uiommu/types.h>
#include <uiommu/guest.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uiommu_vcpu;

/**
 * uiommu_vcpu_new() - Create a vCPU handle for the calling thread.
 * @guest: the guest whose hypercalls the vCPU makes.
 * @ret_vcpu: on success, the handle; the vCPU is not in guest context.
 *
 * Registers the calling thread as a QSBR reader of liburcu (offline until
 * uiommu_vcpu_enter()). Charges one UIOMMU_RES_VCPUS.
 *
 * Context: allocates; creates the guest's PAPR state on first use.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @guest or @ret_vcpu;
 * * -EBUSY the calling thread has a vCPU handle already;
 * * -ENOSPC the UIOMMU_RES_VCPUS limit;
 * * -ENOMEM out of memory.
 */
int uiommu_vcpu_new(struct uiommu_guest *guest, struct uiommu_vcpu **ret_vcpu);

/**
 * uiommu_vcpu_free() - Destroy a vCPU handle.
 * @vcpu: handle, or NULL (nothing happens).
 *
 * Leaves guest context if the vCPU is in it and unregisters the thread.
 *
 * Context: on the handle's thread.
 *
 * Return: 0, or -EPERM on another thread (nothing changes).
 */
int uiommu_vcpu_free(struct uiommu_vcpu *vcpu);

/**
 * uiommu_vcpu_enter() - The vCPU enters guest context.
 * @vcpu: handle.
 *
 * The thread goes online (liburcu's rcu_thread_online()): from now on its
 * hypercalls read the library's state without a lock, and deferred frees
 * wait for it. One full memory barrier. Entering twice is harmless.
 *
 * Context: on the handle's thread, which must not hold any library lock
 * or be inside a handle-less call.
 *
 * Return: 0, or -EPERM on another thread.
 */
int uiommu_vcpu_enter(struct uiommu_vcpu *vcpu);

/**
 * uiommu_vcpu_exit() - The vCPU leaves guest context (an exit to the VMM, or idle).
 * @vcpu: handle.
 *
 * The thread goes offline (rcu_thread_offline()): it may block and call
 * the rest of the library, and grace periods no longer wait for it. One
 * full memory barrier. Exiting twice is harmless.
 *
 * Context: on the handle's thread.
 *
 * Return: 0, or -EPERM on another thread.
 */
int uiommu_vcpu_exit(struct uiommu_vcpu *vcpu);

/**
 * uiommu_vcpu_quiescent() - Report a quiescent state without leaving guest context.
 * @vcpu: handle.
 *
 * For a vCPU that stays in guest context a long time: grace periods that
 * started before this call no longer wait for it (rcu_quiescent_state()).
 * Nothing happens if the vCPU is not in guest context.
 *
 * Context: on the handle's thread, between hypercalls.
 *
 * Return: 0, or -EPERM on another thread.
 */
int uiommu_vcpu_quiescent(struct uiommu_vcpu *vcpu);

/**
 * struct uiommu_vcpu_info - what a vCPU did.
 * @size: in: sizeof(struct uiommu_vcpu_info) as the caller knows it; the
 *	library fills that many bytes at most (and zeroes a tail it does not
 *	know).
 * @in_guest: 1 between enter and exit, else 0.
 * @reserved: zero.
 * @slow: hypercalls made through the handle in guest context that its
 *	inline common case did not finish (no other is counted, so that the
 *	common case costs nothing more): H_PUT_TCE_INDIRECT, H_STUFF_TCE,
 *	hardware tables attached, a first use, an error.
 * @too_hard: of them, those that returned UIOMMU_H_TOO_HARD.
 */
struct uiommu_vcpu_info {
	uint32_t size;
	uint32_t in_guest;
	uint64_t slow;
	uint64_t too_hard;
};

/**
 * uiommu_vcpu_info() - Describe a vCPU handle.
 * @vcpu: handle.
 * @ret_info: on success, the description; its @size must be set.
 *
 * Context: on the handle's thread.
 *
 * Return: 0, or -EINVAL for NULL arguments or a @ret_info->size below the
 * first version's.
 */
int uiommu_vcpu_info(const struct uiommu_vcpu *vcpu, struct uiommu_vcpu_info *ret_info);

/**
 * uiommu_vcpu_h_put_tce() - H_PUT_TCE on a vCPU.
 * @vcpu: handle, on its thread.
 * @liobn: as uiommu_h_put_tce().
 * @ioba: as uiommu_h_put_tce().
 * @tce: as uiommu_h_put_tce().
 *
 * uiommu_h_put_tce() of the handle's guest, without a read-side lock when
 * the vCPU is in guest context.
 *
 * Context: the handle's thread; never blocks in guest context (see the
 * file comment).
 *
 * Return: as uiommu_h_put_tce().
 */
long uiommu_vcpu_h_put_tce(struct uiommu_vcpu *vcpu, uint64_t liobn, uint64_t ioba,
			   uint64_t tce);

/**
 * uiommu_vcpu_h_get_tce() - H_GET_TCE on a vCPU.
 * @vcpu: handle, on its thread.
 * @liobn: as uiommu_h_get_tce().
 * @ioba: as uiommu_h_get_tce().
 * @ret_tce: as uiommu_h_get_tce().
 *
 * Context: as uiommu_vcpu_h_put_tce().
 *
 * Return: as uiommu_h_get_tce().
 */
long uiommu_vcpu_h_get_tce(struct uiommu_vcpu *vcpu, uint64_t liobn, uint64_t ioba,
			   uint64_t *ret_tce);

/**
 * uiommu_vcpu_h_put_tce_indirect() - H_PUT_TCE_INDIRECT on a vCPU.
 * @vcpu: handle, on its thread.
 * @liobn: as uiommu_h_put_tce_indirect().
 * @ioba: as uiommu_h_put_tce_indirect().
 * @tce_list_gpa: as uiommu_h_put_tce_indirect().
 * @npages: as uiommu_h_put_tce_indirect().
 *
 * Context: as uiommu_vcpu_h_put_tce().
 *
 * Return: as uiommu_h_put_tce_indirect().
 */
long uiommu_vcpu_h_put_tce_indirect(struct uiommu_vcpu *vcpu, uint64_t liobn, uint64_t ioba,
				    uint64_t tce_list_gpa, uint64_t npages);

/**
 * uiommu_vcpu_h_stuff_tce() - H_STUFF_TCE on a vCPU.
 * @vcpu: handle, on its thread.
 * @liobn: as uiommu_h_stuff_tce().
 * @ioba: as uiommu_h_stuff_tce().
 * @tce_value: as uiommu_h_stuff_tce().
 * @npages: as uiommu_h_stuff_tce().
 *
 * Context: as uiommu_vcpu_h_put_tce().
 *
 * Return: as uiommu_h_stuff_tce().
 */
long uiommu_vcpu_h_stuff_tce(struct uiommu_vcpu *vcpu, uint64_t liobn, uint64_t ioba,
			     uint64_t tce_value, uint64_t npages);

/**
 * uiommu_vcpu_hcall() - A TCE hypercall on a vCPU, by opcode.
 * @vcpu: handle, on its thread.
 * @opcode: as uiommu_papr_hcall().
 * @args: as uiommu_papr_hcall().
 * @nargs: as uiommu_papr_hcall().
 * @rets: as uiommu_papr_hcall().
 * @nrets: as uiommu_papr_hcall().
 *
 * uiommu_papr_hcall() through the handle.
 *
 * Context: as uiommu_vcpu_h_put_tce().
 *
 * Return: as uiommu_papr_hcall().
 */
long uiommu_vcpu_hcall(struct uiommu_vcpu *vcpu, uint64_t opcode, const uint64_t *args,
		       unsigned int nargs, uint64_t *rets, unsigned int nrets);

#ifdef __cplusplus
}
#endif

#endif /* UIOMMU_VCPU_H */
