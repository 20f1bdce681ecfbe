// SPDX-License-Identifier: BSD-3-Clause
/*
 * EEH (Enhanced Error Handling) of a PE: the state machine behind
 * VFIO_EEH_PE_OP, with Linux's semantics (arch/powerpc/kernel/eeh.c:
 * eeh_pe_set_option(), eeh_pe_get_state(), eeh_pe_reset(),
 * eeh_pe_configure(), eeh_pe_inject_err(); the powernv PHB freezes a PE on
 * a DMA error). The state is a word of atomic bits read by the DMA path;
 * the ops change it under the PE's lock.
 */
#include "pe.h"

int eeh_op_check(unsigned int op, const struct uiommu_eeh_pe_err *err)
{
	if (op > UIOMMU_EEH_PE_INJECT_ERR)
		return -EINVAL;
	if (op != UIOMMU_EEH_PE_INJECT_ERR)
		return 0;
	/* As eeh_pe_inject_err(). */
	if (!err || (err->type != UIOMMU_EEH_ERR_TYPE_32 && err->type != UIOMMU_EEH_ERR_TYPE_64) ||
	    err->func > UIOMMU_EEH_ERR_FUNC_MAX)
		return -EINVAL;
	return 0;
}

unsigned int pe_eeh_state(const struct uiommu_pe *pe)
{
	uint32_t e = atomic_load_explicit(&((struct uiommu_pe *)pe)->eeh, memory_order_acquire);
	bool mmio = !(e & PE_EEH_MMIO_STOPPED), dma = !(e & PE_EEH_DMA_STOPPED);

	/* The order of eeh_pe_get_state(). */
	if (e & PE_EEH_RESET)
		return UIOMMU_EEH_PE_STATE_RESET;
	if (mmio && dma)
		return UIOMMU_EEH_PE_STATE_NORMAL;
	if (!mmio && !dma)
		return UIOMMU_EEH_PE_STATE_STOPPED;
	if (mmio)
		return UIOMMU_EEH_PE_STATE_STOPPED_DMA;
	return UIOMMU_EEH_PE_STATE_UNAVAIL;
}

bool pe_dma_error(struct uiommu_pe *pe)
{
	uint32_t e = atomic_load_explicit(&pe->eeh, memory_order_relaxed);

	while ((e & PE_EEH_ENABLED) && (e & PE_EEH_FROZEN) != PE_EEH_FROZEN)
		if (atomic_compare_exchange_weak(&pe->eeh, &e, e | PE_EEH_FROZEN))
			return true;
	return false;
}

bool pe_mmio_stopped(const struct uiommu_pe *pe)
{
	return atomic_load_explicit(&((struct uiommu_pe *)pe)->eeh, memory_order_acquire) &
	       (PE_EEH_MMIO_STOPPED | PE_EEH_RESET);
}

/* Arm (or, with @err NULL, disarm) a DMA error injection. */
static void inject_set(struct uiommu_pe *pe, const struct uiommu_eeh_pe_err *err)
{
	struct eeh_inject *in = &pe->inject;
	uint32_t seq = atomic_load_explicit(&in->seq, memory_order_relaxed);

	atomic_store_explicit(&in->armed, 0, memory_order_relaxed);
	if (!err)
		return;
	atomic_store_explicit(&in->seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&in->write, err->func >= UIOMMU_EEH_ERR_FUNC_DMA_WR_ADDR,
			      memory_order_relaxed);
	atomic_store_explicit(&in->addr, err->addr, memory_order_relaxed);
	atomic_store_explicit(&in->mask, err->mask, memory_order_relaxed);
	atomic_store_explicit(&in->seq, seq + 2, memory_order_release);
	atomic_store_explicit(&in->armed, 1, memory_order_release);
}

int pe_eeh_op_locked(struct uiommu_pe *pe, unsigned int op, const struct uiommu_eeh_pe_err *err)
{
	switch (op) {
	case UIOMMU_EEH_PE_DISABLE:
		atomic_fetch_and(&pe->eeh, ~PE_EEH_ENABLED);
		return 0;
	case UIOMMU_EEH_PE_ENABLE:
		atomic_fetch_or(&pe->eeh, PE_EEH_ENABLED);
		return 0;
	case UIOMMU_EEH_PE_UNFREEZE_IO:
		atomic_fetch_and(&pe->eeh, ~PE_EEH_MMIO_STOPPED);
		return 0;
	case UIOMMU_EEH_PE_UNFREEZE_DMA:
		atomic_fetch_and(&pe->eeh, ~PE_EEH_DMA_STOPPED);
		return 0;
	case UIOMMU_EEH_PE_GET_STATE:
		return (int)pe_eeh_state(pe);
	case UIOMMU_EEH_PE_RESET_DEACTIVATE:
		/* eeh_pe_reset(DEACTIVATE) then eeh_pe_reenable_devices(): unfrozen. */
		inject_set(pe, NULL);
		atomic_fetch_and(&pe->eeh, ~(PE_EEH_RESET | PE_EEH_FROZEN));
		return 0;
	case UIOMMU_EEH_PE_RESET_HOT:
	case UIOMMU_EEH_PE_RESET_FUNDAMENTAL:
		/* eeh_pe_reset() freezes the PE first, then asserts the reset. */
		atomic_fetch_or(&pe->eeh, PE_EEH_RESET | PE_EEH_FROZEN);
		return 0;
	case UIOMMU_EEH_PE_CONFIGURE:
		return 0;
	case UIOMMU_EEH_PE_INJECT_ERR:
		if (err->func >= UIOMMU_EEH_ERR_FUNC_DMA_RD_ADDR) {
			inject_set(pe, err);
			return 0;
		}
		/* A load or store error: the PE freezes at once (when EEH is enabled). */
		if (pe_dma_error(pe))
			ctx_info(pe->ctx, "%s: injected EEH error (function %u): PE frozen",
				 pe->grp.name, err->func);
		return 0;
	default:
		return -EINVAL;
	}
}
