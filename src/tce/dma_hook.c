// SPDX-License-Identifier: BSD-3-Clause
/*
 * DMA hooks of a table: what a device's DMA through the table's TCEs must
 * enter and leave, chunk by chunk, registered by an upper layer that
 * guards the memory those TCEs point to (a mirror bound to the table: the
 * device accesses of its address space, mm.h). The table never knows who
 * registered; a device's DMA engine asks tce_dma_hooked() once per
 * translated run (a load and a branch) and enters the hooks only when
 * there are some. See src/internal.h.
 *
 * Slots are fixed, as the kill callbacks' (kill.c): adding never
 * allocates; a slot emptied by the last remove of its pair waits for a
 * grace period before reuse, so that a DMA chunk never pairs one
 * registration's ops with another's opaque.
 */
#include "tce.h"

_Static_assert(offsetof(struct uiommu_tce_table, dma) == 0,
	       "tce_dma_hooked() reads the table's first member");

int tce_dma_hook_add(struct uiommu_tce_table *tbl, const struct tce_dma_hook_ops *ops,
		     void *opaque)
{
	uint32_t nr, free_slot = TCE_DMA_HOOKS_MAX;
	int ret = 0;

	pthread_mutex_lock(&tbl->kill_lock);
	nr = atomic_load_explicit(&tbl->dma.nhooks, memory_order_relaxed);
	for (uint32_t i = 0; i < TCE_DMA_HOOKS_MAX; i++) {
		struct dma_hook_slot *s = &tbl->dma_hook[i];
		const struct tce_dma_hook_ops *cur = atomic_load_explicit(&s->ops,
									  memory_order_relaxed);

		if (!cur) {
			if (free_slot == TCE_DMA_HOOKS_MAX)
				free_slot = i;
		} else if (cur == ops &&
			   atomic_load_explicit(&s->opaque, memory_order_relaxed) == opaque) {
			s->users++;
			goto out;
		}
	}
	if (free_slot == TCE_DMA_HOOKS_MAX) {
		ret = -ENOSPC;
		goto out;
	}
	tbl->dma_hook[free_slot].users = 1;
	atomic_store_explicit(&tbl->dma_hook[free_slot].opaque, opaque, memory_order_relaxed);
	atomic_store_explicit(&tbl->dma_hook[free_slot].ops, ops, memory_order_release);
	if (free_slot >= nr)
		atomic_store_explicit(&tbl->dma.nhooks, free_slot + 1, memory_order_release);
out:
	pthread_mutex_unlock(&tbl->kill_lock);
	return ret;
}

void tce_dma_hook_remove(struct uiommu_tce_table *tbl, const struct tce_dma_hook_ops *ops,
			 void *opaque)
{
	uint32_t nr;

	pthread_mutex_lock(&tbl->kill_lock);
	nr = atomic_load_explicit(&tbl->dma.nhooks, memory_order_relaxed);
	for (uint32_t i = 0; i < nr; i++) {
		struct dma_hook_slot *s = &tbl->dma_hook[i];

		if (atomic_load_explicit(&s->ops, memory_order_relaxed) != ops ||
		    atomic_load_explicit(&s->opaque, memory_order_relaxed) != opaque)
			continue;
		if (--s->users)
			break;
		atomic_store_explicit(&s->ops, NULL, memory_order_release);
		while (nr && !atomic_load_explicit(&tbl->dma_hook[nr - 1].ops, memory_order_relaxed))
			nr--;
		atomic_store_explicit(&tbl->dma.nhooks, nr, memory_order_release);
		/* Under the lock: the slot is not reused before every chunk that saw it is done. */
		rcu_wait_grace();
		break;
	}
	pthread_mutex_unlock(&tbl->kill_lock);
}

bool tce_dma_hooks_enter(struct uiommu_tce_table *tbl, struct tce_dma_entered *e)
{
	uint32_t nr = atomic_load_explicit(&tbl->dma.nhooks, memory_order_acquire);

	e->n = 0;
	e->held_ops = NULL;
	for (uint32_t i = 0; i < nr; i++) {
		const struct tce_dma_hook_ops *ops = atomic_load_explicit(&tbl->dma_hook[i].ops,
									  memory_order_acquire);
		void *opaque;

		if (!ops)
			continue;
		opaque = atomic_load_explicit(&tbl->dma_hook[i].opaque, memory_order_relaxed);
		e->ops[e->n] = ops;
		e->opaque[e->n++] = opaque;
		if (!ops->try_begin(opaque)) {
			/* Held: entered all the same; the caller exits outside RCU, then waits. */
			e->held_ops = ops;
			e->held_opaque = opaque;
			return false;
		}
	}
	return true;
}

void tce_dma_hooks_exit(struct tce_dma_entered *e)
{
	while (e->n) {
		e->n--;
		e->ops[e->n]->end(e->opaque[e->n]);
	}
}

void tce_dma_hooks_wait(struct tce_dma_entered *e)
{
	e->held_ops->wait(e->held_opaque);
	e->held_ops = NULL;
}
