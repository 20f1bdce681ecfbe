/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RCU sorted arrays: the library's registries read on hot paths (RAM
 * regions by hpa, host ranges by address, memslots by gpa, LIOBN tables).
 *
 * An array holds entries sorted by @start, their [start, last] ranges
 * disjoint (an exact key is a range of one). It is never changed once
 * published: a writer, under its own lock, builds an edited copy with
 * rcu_array_edit(), publishes it with rcu_array_publish(), and the old one
 * is freed after a grace period. Readers look entries up with
 * rcu_array_find() inside an RCU read-side section, without locks.
 */
#ifndef UIOMMU_CORE_RCU_ARRAY_H
#define UIOMMU_CORE_RCU_ARRAY_H

#include <stddef.h>
#include <stdint.h>

#include "rcu.h"

struct uiommu_ctx;

struct rcu_array_entry {
	uint64_t start;
	uint64_t last; /* inclusive */
	void *ptr;     /* what the entry stands for */
	uint64_t tag;  /* for the owner (a memslot's id) */
};

struct rcu_array {
	size_t n;
	struct uiommu_ctx *ctx;
	struct rcu_node rcu;
	struct rcu_array_entry e[];
};

/*
 * rcu_array_find() - Index of the entry whose range holds @key, or
 * SIZE_MAX. @a may be NULL (an empty registry). Binary search.
 */
static inline size_t rcu_array_find(const struct rcu_array *a, uint64_t key)
{
	size_t lo = 0, hi = a ? a->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (key < a->e[mid].start)
			hi = mid;
		else if (key > a->e[mid].last)
			lo = mid + 1;
		else
			return mid;
	}
	return SIZE_MAX;
}

/*
 * rcu_array_edit() - A copy of @old (NULL: empty) without entry @skip
 * (SIZE_MAX: none) and with @add (NULL: none) in its place by @start.
 * *@ret is the copy, or NULL when it is empty. The caller keeps ranges
 * disjoint. Return: 0, or -ENOMEM (a fault point) with nothing changed.
 */
int rcu_array_edit(struct uiommu_ctx *ctx, const struct rcu_array *old, size_t skip,
		   const struct rcu_array_entry *add, struct rcu_array **ret);

/*
 * rcu_array_publish() - Make @new (may be NULL) the array in *@slot; the
 * one it replaces is freed after a grace period. Under the writer's lock.
 */
void rcu_array_publish(struct rcu_array *_Atomic *slot, struct rcu_array *new);

/* rcu_array_discard() - Free an array that was never published. NULL is fine. */
void rcu_array_discard(struct rcu_array *a);

#endif /* UIOMMU_CORE_RCU_ARRAY_H */
