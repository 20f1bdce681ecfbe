// SPDX-License-Identifier: BSD-3-Clause
/*
 * Guests and memslots, with the semantics of KVM_SET_USER_MEMORY_REGION
 * (Linux virt/kvm/kvm_main.c): create, move, delete; no overlap; readers
 * see an immutable sorted array published with RCU, so that the hot path
 * (a TCE hcall reading a TCE list, a DMA translation) takes no lock.
 */
#include <string.h>

#include "../internal.h"

struct memslot {
	uint32_t id;
	uint64_t gpa;
	uint64_t last; /* inclusive */
	uintptr_t hva;
};

struct memslots {
	size_t n;
	struct uiommu_ctx *ctx;
	struct rcu_node rcu;
	struct memslot slots[]; /* sorted by gpa, disjoint */
};

/* struct uiommu_guest is in internal.h: src/papr/ hangs its state off it. */

UIOMMU_EXPORT int uiommu_guest_new(struct uiommu_ctx *ctx, struct uiommu_guest **ret_guest)
{
	struct uiommu_guest *g;
	int ret;

	if (!ret_guest)
		return -EINVAL;
	ret = ctx_charge(ctx, UIOMMU_RES_GUESTS, 1);
	if (ret)
		return ret;
	g = ctx_alloc(ctx, sizeof(*g));
	if (!g) {
		ctx_uncharge(ctx, UIOMMU_RES_GUESTS, 1);
		return -ENOMEM;
	}
	g->ctx = ctx;
	pthread_mutex_init(&g->lock, NULL);
	*ret_guest = g;
	return 0;
}

static void memslots_free_rcu(struct rcu_node *node)
{
	struct memslots *ms = container_of(node, struct memslots, rcu);

	ctx_free(ms->ctx, ms);
}

UIOMMU_EXPORT struct uiommu_guest *uiommu_guest_free(struct uiommu_guest *guest)
{
	struct uiommu_ctx *ctx;
	struct memslots *ms;

	if (!guest)
		return NULL;
	ctx = guest->ctx;
	papr_guest_fini(guest);
	ms = atomic_load(&guest->slots);
	if (ms) {
		ctx_uncharge(ctx, UIOMMU_RES_MEMSLOTS, ms->n);
		rcu_defer(&ms->rcu, memslots_free_rcu);
	}
	pthread_mutex_destroy(&guest->lock);
	ctx_free(ctx, guest);
	ctx_uncharge(ctx, UIOMMU_RES_GUESTS, 1);
	return NULL;
}

UIOMMU_EXPORT struct uiommu_ctx *uiommu_guest_ctx(const struct uiommu_guest *guest)
{
	return guest->ctx;
}

static struct memslots *memslots_new(struct uiommu_ctx *ctx, size_t n)
{
	struct memslots *ms;

	if (n > (SIZE_MAX - sizeof(*ms)) / sizeof(struct memslot))
		return NULL;
	ms = ctx_alloc(ctx, sizeof(*ms) + n * sizeof(struct memslot));
	if (ms) {
		ms->n = n;
		ms->ctx = ctx;
	}
	return ms;
}

/* A copy of @old without slot index @skip (SIZE_MAX: none) and with @add (NULL: none). */
static struct memslots *memslots_edit(struct uiommu_ctx *ctx, const struct memslots *old,
				      size_t skip, const struct memslot *add)
{
	size_t n = old ? old->n : 0, j = 0;
	struct memslots *ms = memslots_new(ctx, n - (skip != SIZE_MAX) + (add != NULL));
	bool placed = add == NULL;

	if (!ms)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (i == skip)
			continue;
		if (!placed && add->gpa < old->slots[i].gpa) {
			ms->slots[j++] = *add;
			placed = true;
		}
		ms->slots[j++] = old->slots[i];
	}
	if (!placed)
		ms->slots[j++] = *add;
	return ms;
}

static void memslots_publish(struct uiommu_guest *g, struct memslots *new)
{
	struct memslots *old = atomic_load_explicit(&g->slots, memory_order_relaxed);

	rcu_publish(g->slots, new);
	if (old)
		rcu_defer(&old->rcu, memslots_free_rcu);
}

UIOMMU_EXPORT int uiommu_guest_set_memslot(struct uiommu_guest *guest, uint32_t slot,
					   uint64_t gpa, uint64_t size, void *hva,
					   uint32_t flags)
{
	struct uiommu_ctx *ctx = guest->ctx;
	struct memslot add = { .id = slot, .gpa = gpa, .hva = (uintptr_t)hva };
	struct memslots *old, *new;
	size_t existing = SIZE_MAX;
	uint64_t hva_last;
	int ret;

	if (slot >= UIOMMU_MEMSLOT_ID_MAX || flags || !is_aligned_u64(gpa, UIOMMU_MEMSLOT_ALIGN) ||
	    !is_aligned_u64(size, UIOMMU_MEMSLOT_ALIGN) ||
	    !is_aligned_u64((uintptr_t)hva, UIOMMU_MEMSLOT_ALIGN))
		return -EINVAL;
	if (size && (range_from_len(gpa, size, &add.last) ||
		     range_from_len((uintptr_t)hva, size, &hva_last)))
		return -EOVERFLOW;

	pthread_mutex_lock(&guest->lock);
	old = atomic_load_explicit(&guest->slots, memory_order_relaxed);
	for (size_t i = 0; old && i < old->n; i++)
		if (old->slots[i].id == slot)
			existing = i;

	if (!size) { /* delete */
		if (existing == SIZE_MAX) {
			ret = -EINVAL;
			goto out_unlock;
		}
		new = old->n == 1 ? NULL : memslots_edit(ctx, old, existing, NULL);
		if (old->n != 1 && !new) {
			ret = -ENOMEM;
			goto out_unlock;
		}
		memslots_publish(guest, new);
		ctx_uncharge(ctx, UIOMMU_RES_MEMSLOTS, 1);
		ret = 0;
		goto out_unlock;
	}

	if (existing != SIZE_MAX) {
		const struct memslot *cur = &old->slots[existing];

		/* Only a move (same size and memory, other gpa) or nothing. */
		if (cur->last - cur->gpa != size - 1 || cur->hva != add.hva) {
			ret = -EINVAL;
			goto out_unlock;
		}
		if (cur->gpa == gpa) {
			ret = 0;
			goto out_unlock;
		}
	}
	for (size_t i = 0; old && i < old->n; i++) {
		if (i != existing &&
		    range_overlaps(gpa, add.last, old->slots[i].gpa, old->slots[i].last)) {
			ret = -EEXIST;
			goto out_unlock;
		}
	}
	if (existing == SIZE_MAX) {
		ret = ctx_charge(ctx, UIOMMU_RES_MEMSLOTS, 1);
		if (ret)
			goto out_unlock;
	}
	new = memslots_edit(ctx, old, existing, &add);
	if (!new) {
		if (existing == SIZE_MAX)
			ctx_uncharge(ctx, UIOMMU_RES_MEMSLOTS, 1);
		ret = -ENOMEM;
		goto out_unlock;
	}
	memslots_publish(guest, new);
	ret = 0;
out_unlock:
	pthread_mutex_unlock(&guest->lock);
	return ret;
}

/* The slot holding @gpa in @ms, or NULL. */
static const struct memslot *memslot_find(struct uiommu_guest *g, const struct memslots *ms,
					  uint64_t gpa)
{
	uint32_t h = atomic_load_explicit(&g->hint, memory_order_relaxed);
	size_t lo = 0, hi;

	if (!ms)
		return NULL;
	if (h < ms->n && gpa >= ms->slots[h].gpa && gpa <= ms->slots[h].last)
		return &ms->slots[h];
	hi = ms->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct memslot *s = &ms->slots[mid];

		if (gpa < s->gpa) {
			hi = mid;
		} else if (gpa > s->last) {
			lo = mid + 1;
		} else {
			atomic_store_explicit(&g->hint, (uint32_t)mid, memory_order_relaxed);
			return s;
		}
	}
	return NULL;
}

void *guest_gpa_to_hva_rcu(struct uiommu_guest *guest, uint64_t gpa, uint64_t len)
{
	const struct memslot *s = memslot_find(guest, rcu_deref(guest->slots), gpa);

	if (!s || len - 1 > s->last - gpa)
		return NULL;
	return (void *)(s->hva + (gpa - s->gpa));
}

bool guest_memslot_rcu(struct uiommu_guest *guest, uint64_t gpa, uint64_t *ret_first,
		       uint64_t *ret_last)
{
	const struct memslot *s = memslot_find(guest, rcu_deref(guest->slots), gpa);

	if (!s)
		return false;
	*ret_first = s->gpa;
	*ret_last = s->last;
	return true;
}

UIOMMU_EXPORT int uiommu_guest_gpa_to_hva(struct uiommu_guest *guest, uint64_t gpa,
					  uint64_t len, void **ret_hva)
{
	uint64_t last;
	void *hva;
	int ret;

	if (!ret_hva)
		return -EINVAL;
	ret = range_from_len(gpa, len, &last);
	if (ret)
		return ret;
	rcu_read_enter();
	hva = guest_gpa_to_hva_rcu(guest, gpa, len);
	rcu_read_exit();
	if (!hva)
		return -EFAULT;
	*ret_hva = hva;
	return 0;
}

/*
 * Copy between @buf and [gpa, gpa + len - 1], which may span adjacent
 * memslots. The whole range is checked against one snapshot of the
 * memslots before a byte moves.
 */
static int guest_copy(struct uiommu_guest *guest, uint64_t gpa, void *buf, size_t len,
		      bool to_guest)
{
	const struct memslots *ms;
	uint64_t last, pos;
	int ret;

	if (!buf)
		return -EINVAL;
	ret = range_from_len(gpa, len, &last);
	if (ret)
		return ret;
	rcu_read_enter();
	ms = rcu_deref(guest->slots);
	for (pos = gpa;;) {
		const struct memslot *s = memslot_find(guest, ms, pos);

		if (!s) {
			rcu_read_exit();
			return -EFAULT;
		}
		if (s->last >= last)
			break;
		pos = s->last + 1;
	}
	for (pos = gpa;;) {
		const struct memslot *s = memslot_find(guest, ms, pos);
		uint64_t chunk_last = MIN(s->last, last);
		size_t n = (size_t)(chunk_last - pos + 1);
		char *host = (char *)(s->hva + (pos - s->gpa));
		char *b = (char *)buf + (pos - gpa);

		if (to_guest)
			memcpy(host, b, n);
		else
			memcpy(b, host, n);
		if (chunk_last == last)
			break;
		pos = chunk_last + 1;
	}
	rcu_read_exit();
	return 0;
}

UIOMMU_EXPORT int uiommu_guest_read(struct uiommu_guest *guest, uint64_t gpa, void *buf,
				    size_t len)
{
	return guest_copy(guest, gpa, buf, len, false);
}

UIOMMU_EXPORT int uiommu_guest_write(struct uiommu_guest *guest, uint64_t gpa, const void *buf,
				     size_t len)
{
	return guest_copy(guest, gpa, (void *)(uintptr_t)buf, len, true);
}
