// SPDX-License-Identifier: BSD-3-Clause
/*
 * RCU sorted arrays, copy on write. See rcu_array.h.
 */
#include "../internal.h"

static void rcu_array_free_rcu(struct rcu_node *node)
{
	struct rcu_array *a = container_of(node, struct rcu_array, rcu);

	ctx_free(a->ctx, a);
}

int rcu_array_edit(struct uiommu_ctx *ctx, const struct rcu_array *old, size_t skip,
		   const struct rcu_array_entry *add, struct rcu_array **ret)
{
	size_t n = old ? old->n : 0, nn, j = 0;
	bool placed = add == NULL;
	struct rcu_array *a;

	nn = n - (skip < n) + (add != NULL);
	if (!nn) {
		*ret = NULL;
		return 0;
	}
	if (nn > (SIZE_MAX - sizeof(*a)) / sizeof(a->e[0]))
		return -ENOMEM;
	a = ctx_alloc(ctx, sizeof(*a) + nn * sizeof(a->e[0]));
	if (!a)
		return -ENOMEM;
	a->n = nn;
	a->ctx = ctx;
	for (size_t i = 0; i < n; i++) {
		if (i == skip)
			continue;
		if (!placed && add->start < old->e[i].start) {
			a->e[j++] = *add;
			placed = true;
		}
		a->e[j++] = old->e[i];
	}
	if (!placed)
		a->e[j++] = *add;
	*ret = a;
	return 0;
}

void rcu_array_publish(struct rcu_array *_Atomic *slot, struct rcu_array *new)
{
	struct rcu_array *old = atomic_load_explicit(slot, memory_order_relaxed);

	rcu_publish(*slot, new);
	if (old)
		rcu_defer(&old->rcu, rcu_array_free_rcu);
}

void rcu_array_discard(struct rcu_array *a)
{
	if (a)
		ctx_free(a->ctx, a);
}
