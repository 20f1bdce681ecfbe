// SPDX-License-Identifier: BSD-3-Clause
/*
 * TCE-cache invalidation ("kill") callbacks of a table: what Linux does by
 * walking it_group_list (an RCU list of table groups) in
 * pnv_pci_ioda2_tce_invalidate(), with link and unlink as
 * pnv_pci_link_table_and_group() / pnv_pci_unlink_table_and_group().
 *
 * The callbacks live in a fixed array of slots in the table, so that
 * neither linking nor unlinking allocates or can fail for want of memory.
 * Kills read the slots inside an RCU read-side critical section; an unlink
 * empties its slot and waits for a grace period, after which no kill can
 * still be calling it, and only then may the slot be reused.
 */
#include "tce.h"

void tce_kill_rcu(struct uiommu_tce_table *tbl, uint64_t entry, uint64_t npages)
{
	uint32_t nr = atomic_load_explicit(&tbl->kill_nr, memory_order_acquire);

	for (uint32_t i = 0; i < nr; i++) {
		uiommu_tce_kill_fn *fn = atomic_load_explicit(&tbl->kill[i].fn,
							      memory_order_acquire);

		if (fn)
			fn(atomic_load_explicit(&tbl->kill[i].opaque, memory_order_relaxed), tbl,
			   entry, npages);
	}
}

void tce_kill_call(struct uiommu_tce_table *tbl, uint64_t entry, uint64_t npages)
{
	if (likely(!atomic_load_explicit(&tbl->kill_nr, memory_order_acquire)))
		return;
	rcu_read_enter();
	tce_kill_rcu(tbl, entry, npages);
	rcu_read_exit();
}

uint32_t tce_kill_links(const struct uiommu_tce_table *tbl)
{
	struct uiommu_tce_table *t = (struct uiommu_tce_table *)tbl;
	uint32_t nr = atomic_load_explicit(&t->kill_nr, memory_order_acquire), n = 0;

	for (uint32_t i = 0; i < nr; i++)
		n += atomic_load_explicit(&t->kill[i].fn, memory_order_relaxed) != NULL;
	return n;
}

UIOMMU_EXPORT int uiommu_tce_table_kill_link(struct uiommu_tce_table *tbl,
					     uiommu_tce_kill_fn *fn, void *opaque)
{
	uint32_t nr, free_slot = UIOMMU_TCE_KILL_LINKS_MAX;
	int ret = 0;

	if (!fn)
		return -EINVAL;
	pthread_mutex_lock(&tbl->kill_lock);
	nr = atomic_load_explicit(&tbl->kill_nr, memory_order_relaxed);
	for (uint32_t i = 0; i < UIOMMU_TCE_KILL_LINKS_MAX; i++) {
		struct kill_slot *s = &tbl->kill[i];
		uiommu_tce_kill_fn *cur = atomic_load_explicit(&s->fn, memory_order_relaxed);

		if (!cur) {
			if (free_slot == UIOMMU_TCE_KILL_LINKS_MAX)
				free_slot = i;
		} else if (cur == fn &&
			   atomic_load_explicit(&s->opaque, memory_order_relaxed) == opaque) {
			ret = -EEXIST;
			goto out;
		}
	}
	if (free_slot == UIOMMU_TCE_KILL_LINKS_MAX) {
		ret = -ENOSPC;
		goto out;
	}
	atomic_store_explicit(&tbl->kill[free_slot].opaque, opaque, memory_order_relaxed);
	atomic_store_explicit(&tbl->kill[free_slot].fn, fn, memory_order_release);
	if (free_slot >= nr)
		atomic_store_explicit(&tbl->kill_nr, free_slot + 1, memory_order_release);
out:
	pthread_mutex_unlock(&tbl->kill_lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_tce_table_kill_unlink(struct uiommu_tce_table *tbl,
					       uiommu_tce_kill_fn *fn, void *opaque)
{
	uint32_t nr;
	int ret = -ENOENT;

	pthread_mutex_lock(&tbl->kill_lock);
	nr = atomic_load_explicit(&tbl->kill_nr, memory_order_relaxed);
	for (uint32_t i = 0; i < nr; i++) {
		struct kill_slot *s = &tbl->kill[i];

		if (fn && atomic_load_explicit(&s->fn, memory_order_relaxed) == fn &&
		    atomic_load_explicit(&s->opaque, memory_order_relaxed) == opaque) {
			atomic_store_explicit(&s->fn, NULL, memory_order_release);
			ret = 0;
			break;
		}
	}
	if (!ret) {
		while (nr && !atomic_load_explicit(&tbl->kill[nr - 1].fn, memory_order_relaxed))
			nr--;
		atomic_store_explicit(&tbl->kill_nr, nr, memory_order_release);
		/*
		 * Under the lock, so that the slot is not reused before every
		 * kill that may have seen the old callback has finished.
		 */
		rcu_wait_grace();
	}
	pthread_mutex_unlock(&tbl->kill_lock);
	return ret;
}
