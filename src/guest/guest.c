// SPDX-License-Identifier: BSD-3-Clause
/*
 * Guests and memslots, with the semantics of KVM_SET_USER_MEMORY_REGION
 * (Linux virt/kvm/kvm_main.c): create, move, delete; no overlap; readers
 * see an immutable sorted array published with RCU, so that the hot path
 * (a TCE hcall reading a TCE list, a DMA translation) takes no lock.
 */
#include <string.h>

#include "../internal.h"

/*
 * The memslots are an RCU sorted array (core/rcu_array.h): an entry's
 * range is the slot's gpa range, its ptr the host address of its first
 * byte, its tag the slot id.
 */
/* struct uiommu_guest is in internal.h: upper modules hang their state off it. */

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

UIOMMU_EXPORT struct uiommu_guest *uiommu_guest_free(struct uiommu_guest *guest)
{
	struct uiommu_ctx *ctx;
	struct rcu_array *ms;

	if (!guest)
		return NULL;
	ctx = guest->ctx;
	/* Upper modules' state first: it may still read the memslots. */
	for (int i = GUEST_EXT_NR - 1; i >= 0; i--)
		ext_fini(&guest->ext[i], guest);
	ms = atomic_load(&guest->slots);
	if (ms)
		ctx_uncharge(ctx, UIOMMU_RES_MEMSLOTS, ms->n);
	rcu_array_publish(&guest->slots, NULL);
	pthread_mutex_destroy(&guest->lock);
	ctx_free(ctx, guest);
	ctx_uncharge(ctx, UIOMMU_RES_GUESTS, 1);
	return NULL;
}

UIOMMU_EXPORT struct uiommu_ctx *uiommu_guest_ctx(const struct uiommu_guest *guest)
{
	return guest->ctx;
}

UIOMMU_EXPORT int uiommu_guest_set_memslot(struct uiommu_guest *guest, uint32_t slot,
					   uint64_t gpa, uint64_t size, void *hva,
					   uint32_t flags)
{
	struct uiommu_ctx *ctx = guest->ctx;
	struct rcu_array_entry add = { .start = gpa, .ptr = hva, .tag = slot };
	struct rcu_array *old, *new;
	size_t existing = SIZE_MAX;
	uint64_t hva_last;
	int ret;

	if (slot >= UIOMMU_MEMSLOT_ID_MAX || flags || !is_aligned_u64(gpa, UIOMMU_MEMSLOT_ALIGN) ||
	    !is_aligned_u64(size, UIOMMU_MEMSLOT_ALIGN) ||
	    !is_aligned_u64((uintptr_t)hva, UIOMMU_MEMSLOT_ALIGN) || (size && !hva))
		return -EINVAL;
	if (size && (range_from_len(gpa, size, &add.last) ||
		     range_from_len((uintptr_t)hva, size, &hva_last)))
		return -EOVERFLOW;

	pthread_mutex_lock(&guest->lock);
	old = atomic_load_explicit(&guest->slots, memory_order_relaxed);
	for (size_t i = 0; old && i < old->n; i++)
		if (old->e[i].tag == slot)
			existing = i;

	if (!size) { /* delete */
		if (existing == SIZE_MAX) {
			ret = -EINVAL;
			goto out_unlock;
		}
		ret = rcu_array_edit(ctx, old, existing, NULL, &new);
		if (ret)
			goto out_unlock;
		rcu_array_publish(&guest->slots, new);
		ctx_uncharge(ctx, UIOMMU_RES_MEMSLOTS, 1);
		goto out_unlock;
	}

	if (existing != SIZE_MAX) {
		const struct rcu_array_entry *cur = &old->e[existing];

		/* Only a move (same size and memory, other gpa) or nothing. */
		if (cur->last - cur->start != size - 1 || cur->ptr != add.ptr) {
			ret = -EINVAL;
			goto out_unlock;
		}
		if (cur->start == gpa) {
			ret = 0;
			goto out_unlock;
		}
	}
	for (size_t i = 0; old && i < old->n; i++) {
		if (i != existing && range_overlaps(gpa, add.last, old->e[i].start, old->e[i].last)) {
			ret = -EEXIST;
			goto out_unlock;
		}
	}
	if (existing == SIZE_MAX) {
		ret = ctx_charge(ctx, UIOMMU_RES_MEMSLOTS, 1);
		if (ret)
			goto out_unlock;
	}
	ret = rcu_array_edit(ctx, old, existing, &add, &new);
	if (ret) {
		if (existing == SIZE_MAX)
			ctx_uncharge(ctx, UIOMMU_RES_MEMSLOTS, 1);
		goto out_unlock;
	}
	rcu_array_publish(&guest->slots, new);
out_unlock:
	pthread_mutex_unlock(&guest->lock);
	return ret;
}

/* The slot holding @gpa in @ms, or NULL; the hint (the slot used last) is tried first. */
static const struct rcu_array_entry *memslot_find(struct uiommu_guest *g, const struct rcu_array *ms,
				   uint64_t gpa)
{
	uint32_t h = atomic_load_explicit(&g->hint, memory_order_relaxed);
	size_t i;

	if (ms && h < ms->n && gpa >= ms->e[h].start && gpa <= ms->e[h].last)
		return &ms->e[h];
	i = rcu_array_find(ms, gpa);
	if (i == SIZE_MAX)
		return NULL;
	atomic_store_explicit(&g->hint, (uint32_t)i, memory_order_relaxed);
	return &ms->e[i];
}

/* Host address of @gpa in slot @s. */
static char *memslot_hva(const struct rcu_array_entry *s, uint64_t gpa)
{
	return (char *)s->ptr + (gpa - s->start);
}

void *guest_gpa_to_hva_rcu(struct uiommu_guest *guest, uint64_t gpa, uint64_t len)
{
	const struct rcu_array_entry *s = memslot_find(guest, rcu_deref(guest->slots), gpa);

	if (!s || len - 1 > s->last - gpa)
		return NULL;
	return memslot_hva(s, gpa);
}

bool guest_memslot_rcu(struct uiommu_guest *guest, uint64_t gpa, uint64_t *ret_first,
		       uint64_t *ret_last)
{
	const struct rcu_array_entry *s = memslot_find(guest, rcu_deref(guest->slots), gpa);

	if (!s)
		return false;
	*ret_first = s->start;
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
	const struct rcu_array *ms;
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
		const struct rcu_array_entry *s = memslot_find(guest, ms, pos);

		if (!s) {
			rcu_read_exit();
			return -EFAULT;
		}
		if (s->last >= last)
			break;
		pos = s->last + 1;
	}
	for (pos = gpa;;) {
		const struct rcu_array_entry *s = memslot_find(guest, ms, pos);
		uint64_t chunk_last = MIN(s->last, last);
		size_t n = (size_t)(chunk_last - pos + 1);
		char *host = memslot_hva(s, pos);
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
