// SPDX-License-Identifier: BSD-3-Clause
/*
 * The VMM's path: a TCE hypercall handled as QEMU handles one that exits
 * to it (hw/ppc/spapr_iommu.c h_put_tce() and friends, put_tce_emu() and
 * the IOMMU notifier, hw/vfio/common.c vfio_iommu_map_notify(): one
 * VFIO_IOMMU_MAP_DMA or UNMAP_DMA per TCE). See uiommu/accel.h.
 */
#include "accel.h"

/* The TCE permissions as VFIO MAP_DMA flags (TCE_PCI_READ: the device reads memory). */
static unsigned int map_flags(uint64_t tce)
{
	return ((tce & UIOMMU_TCE_PCI_READ) ? UIOMMU_VFIO_DMA_MAP_FLAG_READ : 0) |
	       ((tce & UIOMMU_TCE_PCI_WRITE) ? UIOMMU_VFIO_DMA_MAP_FLAG_WRITE : 0);
}

/* UNMAP_DMA of [iova, iova + len) on every table's container; empty entries are fine. */
static void unmap_all(struct accel_table *const *at, unsigned int n, uint64_t iova, uint64_t len)
{
	for (unsigned int k = 0; k < n; k++)
		uiommu_vfio_unmap_dma(at[k]->c, iova, len);
}

/*
 * Apply entries [0, chg->n) of the change to the containers of @at[0..n),
 * one MAP_DMA or UNMAP_DMA per TCE as QEMU's IOMMU notifier makes them
 * (an H_STUFF_TCE of 512 clears is 512 UNMAP_DMA calls there too). A
 * mapping one of them refuses leaves the entry unmapped in all of them
 * (never the page it held before).
 */
static void apply(struct accel_table *const *at, unsigned int n, const struct papr_change *chg)
{
	const uint64_t size = 1ULL << chg->page_shift;

	for (uint64_t i = 0; i < chg->n; i++) {
		uint64_t tce = papr_change_tce(chg, i);
		uint64_t iova = (chg->entry + i) << chg->page_shift, gpa = tce & ~(size - 1);
		unsigned int k = 0;
		void *hva;

		if (!(tce & (UIOMMU_TCE_PCI_READ | UIOMMU_TCE_PCI_WRITE))) {
			unmap_all(at, n, iova, size);
			continue;
		}
		rcu_read_enter();
		hva = guest_gpa_to_hva_rcu(at[0]->guest, gpa, size);
		rcu_read_exit();
		while (hva && k < n &&
		       !uiommu_vfio_map_dma(at[k]->c, (uint64_t)(uintptr_t)hva, iova, size,
					    map_flags(tce)))
			k++;
		if (k == n)
			continue;
		/* As QEMU's notifier: reported, the hcall goes on; a DMA there faults. */
		ctx_guest_error(at[0]->ctx, "accel: LIOBN 0x%llx IOBA 0x%llx: gpa 0x%llx cannot be "
				"mapped (not in memory a container registered); left unmapped",
				(unsigned long long)chg->liobn, (unsigned long long)iova,
				(unsigned long long)gpa);
		atomic_fetch_add_explicit(&at[k < n ? k : 0]->vmm_failures, 1, memory_order_relaxed);
		unmap_all(at, n, iova, size);
	}
}

UIOMMU_EXPORT long uiommu_accel_vmm_hcall(struct uiommu_guest *guest, uint64_t opcode,
					  const uint64_t *args, unsigned int nargs, uint64_t *rets,
					  unsigned int nrets)
{
	struct accel_table *at[PAPR_HW_MAX];
	struct papr_change chg;
	struct accel_guest *ag;
	unsigned int n = 0;
	long ret = papr_hcall_vmm(guest, opcode, args, nargs, rets, nrets, &chg);

	if (!chg.n)
		return ret;
	ag = accel_guest_peek(guest);
	if (ag) {
		pthread_rwlock_rdlock(&ag->lock);
		for (struct accel_table *t = ag->tables; t && n < PAPR_HW_MAX; t = t->next) {
			if (t->liobn == chg.liobn) {
				atomic_fetch_add_explicit(&t->vmm_hcalls, 1, memory_order_relaxed);
				at[n++] = t;
			}
		}
		if (n)
			apply(at, n, &chg);
		pthread_rwlock_unlock(&ag->lock);
	}
	papr_change_done(&chg);
	return ret;
}
