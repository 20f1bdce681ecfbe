// SPDX-License-Identifier: BSD-3-Clause
/*
 * Guest TCE tables (LIOBNs): creation with the checks and the locked-memory
 * charge of KVM_CREATE_SPAPR_TCE_64 (Linux arch/powerpc/kvm/book3s_64_vio.c,
 * kvm_vm_ioctl_create_spapr_tce()), lazily allocated guest-view pages
 * (kvmppc_tce_put(), kvm_spapr_get_tce_page()), RCU-deferred destruction
 * (kvm_spapr_tce_release()), lock-free lookup, the library-side reads, and
 * the seam for hardware tables. See papr.h.
 */
#include <string.h>

#include "papr.h"

/* ---- the guest's PAPR state ---- */

static void papr_guest_fini(void *owner, void *state);

/* The guest's PAPR state, hung off its GUEST_EXT_PAPR slot on first use. */
struct papr_guest *papr_guest_get(struct uiommu_guest *guest)
{
	struct papr_guest *pg = papr_guest_peek(guest), *won;

	if (pg)
		return pg;
	pg = ctx_alloc(guest->ctx, sizeof(*pg));
	if (!pg)
		return NULL;
	pg->ctx = guest->ctx;
	pg->guest = guest;
	atomic_init(&pg->profile, UIOMMU_PAPR_PROFILE_QEMU);
	pthread_mutex_init(&pg->lock, NULL);
	won = ext_install(&guest->ext[GUEST_EXT_PAPR], pg, papr_guest_fini);
	if (won != pg) {
		pthread_mutex_destroy(&pg->lock);
		ctx_free(guest->ctx, pg);
	}
	return won;
}

UIOMMU_EXPORT int uiommu_papr_set_profile(struct uiommu_guest *guest,
					  enum uiommu_papr_profile profile)
{
	struct papr_guest *pg;

	if (profile != UIOMMU_PAPR_PROFILE_QEMU && profile != UIOMMU_PAPR_PROFILE_KVM)
		return -EINVAL;
	pg = papr_guest_get(guest);
	if (!pg)
		return -ENOMEM;
	atomic_store_explicit(&pg->profile, (int)profile, memory_order_relaxed);
	return 0;
}

UIOMMU_EXPORT enum uiommu_papr_profile uiommu_papr_get_profile(struct uiommu_guest *guest)
{
	struct papr_guest *pg = papr_guest_peek(guest);

	if (!pg)
		return UIOMMU_PAPR_PROFILE_QEMU;
	return (enum uiommu_papr_profile)atomic_load_explicit(&pg->profile, memory_order_relaxed);
}

/* ---- lifetime of a table ---- */

static void hw_set_free_rcu(struct rcu_node *node)
{
	struct papr_hw_set *s = container_of(node, struct papr_hw_set, rcu);

	ctx_free(s->ctx, s);
}

static void liobn_free_rcu(struct rcu_node *node)
{
	struct liobn_table *t = container_of(node, struct liobn_table, rcu);
	struct uiommu_ctx *ctx = t->ctx;
	unsigned int order = ctx->host_page_shift - UIOMMU_FRAME_SHIFT;
	struct papr_hw_set *hw = atomic_load_explicit(&t->hw, memory_order_relaxed);

	for (uint64_t i = 0; i < t->view_npages; i++) {
		_Atomic uint64_t *page = atomic_load_explicit(&t->view[i], memory_order_relaxed);
		uint64_t hpa;

		if (!page)
			continue;
		if (uiommu_hva_to_hpa(ctx, (const void *)page, &hpa) ||
		    mem_frames_free(ctx, hpa, order))
			ctx_err(ctx, "LIOBN 0x%llx: cannot free a guest-view page",
				(unsigned long long)t->liobn);
	}
	ctx_free(ctx, hw);
	ctx_free(ctx, t);
}

bool liobn_tryget(struct liobn_table *t)
{
	uint32_t r = atomic_load_explicit(&t->refs, memory_order_relaxed);

	do {
		if (!r)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&t->refs, &r, r + 1, memory_order_acquire,
							memory_order_relaxed));
	return true;
}

void liobn_put(struct liobn_table *t)
{
	if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		rcu_defer(&t->rcu, liobn_free_rcu);
}

int liobn_view_alloc(struct liobn_table *t, uint64_t first, uint64_t last)
{
	struct uiommu_ctx *ctx = t->ctx;
	unsigned int order = ctx->host_page_shift - UIOMMU_FRAME_SHIFT;

	for (uint64_t i = first; i <= last; i++) {
		_Atomic uint64_t *expected = NULL;
		void *hva;
		uint64_t hpa;

		if (atomic_load_explicit(&t->view[i], memory_order_acquire))
			continue;
		/* Host frames are zero when allocated. */
		if (mem_frames_alloc(ctx, order, &hpa, &hva))
			return -ENOMEM;
		if (atomic_compare_exchange_strong_explicit(&t->view[i], &expected,
							    (_Atomic uint64_t *)hva,
							    memory_order_acq_rel,
							    memory_order_acquire))
			atomic_fetch_add_explicit(&t->view_allocated, 1, memory_order_relaxed);
		else
			mem_frames_free(ctx, hpa, order); /* another hcall won */
	}
	return 0;
}

/* ---- create and destroy ---- */

/* kvmppc_stt_pages(kvmppc_tce_pages(size)) host pages, in bytes. */
static uint64_t liobn_locked_bytes(const struct uiommu_ctx *ctx, uint64_t view_npages)
{
	uint64_t page = 1ULL << ctx->host_page_shift;
	uint64_t header = sizeof(struct liobn_table) + view_npages * sizeof(void *);

	return (view_npages + (header + page - 1) / page) * page;
}

int liobn_create_locked(struct papr_guest *pg, uint64_t liobn, unsigned int page_shift,
			uint64_t offset, uint64_t size, struct liobn_table **ret_t)
{
	struct uiommu_ctx *ctx = pg->ctx;
	unsigned int view_shift = ctx->host_page_shift - 3;
	struct rcu_array *old, *new;
	struct rcu_array_entry e;
	struct liobn_table *t;
	uint64_t end, view_npages, locked;
	int ret;

	/* KVM's checks, with the sum checked for wrapping too. */
	if (!size || page_shift < UIOMMU_LIOBN_MIN_PAGE_SHIFT ||
	    page_shift > UIOMMU_LIOBN_MAX_PAGE_SHIFT || __builtin_add_overflow(offset, size, &end) ||
	    end > (UINT64_MAX >> page_shift))
		return -EINVAL;
	if (size > UIOMMU_LIOBN_MAX_ENTRIES)
		return -E2BIG;
	view_npages = (size + (1ULL << view_shift) - 1) >> view_shift;
	locked = liobn_locked_bytes(ctx, view_npages);

	ret = ctx_charge(ctx, UIOMMU_RES_LIOBNS, 1);
	if (ret)
		return ret;
	ret = ctx_charge(ctx, UIOMMU_RES_LOCKED_BYTES, locked);
	if (ret)
		goto err_liobns;
	old = atomic_load_explicit(&pg->liobns, memory_order_relaxed);
	if (rcu_array_find(old, liobn) != SIZE_MAX) {
		ret = -EBUSY;
		goto err_locked;
	}
	ret = -ENOMEM;
	t = ctx_alloc(ctx, sizeof(*t) + view_npages * sizeof(t->view[0]));
	if (!t)
		goto err_locked;
	t->liobn = liobn;
	t->offset = offset;
	t->size = size;
	t->bus_offset = offset << page_shift;
	t->page_shift = page_shift;
	t->page_mask = (1ULL << page_shift) - 1;
	t->view_shift = view_shift;
	t->view_mask = (1ULL << view_shift) - 1;
	t->view_npages = view_npages;
	t->locked_bytes = locked;
	t->ctx = ctx;
	atomic_init(&t->refs, 1);
	e = (struct rcu_array_entry){ .start = liobn, .last = liobn, .ptr = t };
	ret = rcu_array_edit(ctx, old, SIZE_MAX, &e, &new);
	if (ret) {
		ctx_free(ctx, t);
		goto err_locked;
	}
	rcu_array_publish(&pg->liobns, new);
	if (ret_t)
		*ret_t = t;
	return 0;

err_locked:
	ctx_uncharge(ctx, UIOMMU_RES_LOCKED_BYTES, locked);
err_liobns:
	ctx_uncharge(ctx, UIOMMU_RES_LIOBNS, 1);
	return ret;
}

/* Unpublish and release a table; the caller checked it may go. */
static int liobn_remove_locked(struct papr_guest *pg, size_t idx)
{
	struct rcu_array *old = atomic_load_explicit(&pg->liobns, memory_order_relaxed);
	struct liobn_table *t = old->e[idx].ptr;
	struct rcu_array *new;

	if (rcu_array_edit(pg->ctx, old, idx, NULL, &new))
		return -ENOMEM;
	rcu_array_publish(&pg->liobns, new);
	/* As KVM's release: the charges go now, the memory after a grace period. */
	ctx_uncharge(pg->ctx, UIOMMU_RES_LOCKED_BYTES, t->locked_bytes);
	ctx_uncharge(pg->ctx, UIOMMU_RES_LIOBNS, 1);
	liobn_put(t);
	return 0;
}

int liobn_destroy_locked(struct papr_guest *pg, uint64_t liobn)
{
	struct rcu_array *a = atomic_load_explicit(&pg->liobns, memory_order_relaxed);
	size_t idx = rcu_array_find(a, liobn);
	struct liobn_table *t;

	if (idx == SIZE_MAX)
		return -ENOENT;
	t = a->e[idx].ptr;
	if (atomic_load_explicit(&t->hw, memory_order_relaxed))
		return -EBUSY;
	return liobn_remove_locked(pg, idx);
}

UIOMMU_EXPORT int uiommu_liobn_create(struct uiommu_guest *guest, uint64_t liobn,
				      unsigned int page_shift, uint64_t offset, uint64_t size)
{
	struct papr_guest *pg = papr_guest_get(guest);
	int ret;

	if (!pg)
		return -ENOMEM;
	pthread_mutex_lock(&pg->lock);
	ret = liobn_create_locked(pg, liobn, page_shift, offset, size, NULL);
	pthread_mutex_unlock(&pg->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_liobn_create_legacy(struct uiommu_guest *guest, uint64_t liobn,
					     uint32_t window_size)
{
	return uiommu_liobn_create(guest, liobn, UIOMMU_PAPR_TCE_PAGE_SHIFT, 0,
				   window_size >> UIOMMU_PAPR_TCE_PAGE_SHIFT);
}

UIOMMU_EXPORT int uiommu_liobn_create_vio(struct uiommu_guest *guest, uint32_t reg)
{
	return uiommu_liobn_create(guest, uiommu_papr_vio_liobn(reg), UIOMMU_PAPR_TCE_PAGE_SHIFT,
				   0, UIOMMU_PAPR_VIO_DMA_WIN_SIZE >> UIOMMU_PAPR_TCE_PAGE_SHIFT);
}

UIOMMU_EXPORT int uiommu_liobn_destroy(struct uiommu_guest *guest, uint64_t liobn)
{
	struct papr_guest *pg = papr_guest_peek(guest);
	struct rcu_array *a;
	size_t idx;
	int ret;

	if (!pg)
		return -ENOENT;
	pthread_mutex_lock(&pg->lock);
	a = atomic_load_explicit(&pg->liobns, memory_order_relaxed);
	idx = rcu_array_find(a, liobn);
	if (idx != SIZE_MAX && ((struct liobn_table *)a->e[idx].ptr)->phb_window)
		ret = -EBUSY;
	else
		ret = liobn_destroy_locked(pg, liobn);
	pthread_mutex_unlock(&pg->lock);
	return ret;
}

UIOMMU_EXPORT uint64_t uiommu_papr_pci_liobn(uint32_t phb_index, uint32_t window)
{
	return 0x80000000ULL | (uint64_t)phb_index << 8 | window;
}

UIOMMU_EXPORT uint64_t uiommu_papr_vio_liobn(uint32_t reg)
{
	return reg;
}

/* The GUEST_EXT_PAPR finaliser: free the guest's LIOBNs and PHBs. */
static void papr_guest_fini(void *owner, void *state)
{
	struct papr_guest *pg = state;
	struct rcu_array *a;

	(void)owner;
	if (atomic_load_explicit(&pg->vcpus, memory_order_relaxed))
		ctx_err(pg->ctx, "guest freed with %u vCPU handles left",
			atomic_load_explicit(&pg->vcpus, memory_order_relaxed));
	for (unsigned int i = 0; i < pg->nphbs; i++)
		ctx_free(pg->ctx, pg->phbs[i]);
	/* No hcall runs any more (uiommu_guest_free()'s contract): drop everything at once. */
	a = atomic_load_explicit(&pg->liobns, memory_order_relaxed);
	for (size_t i = 0; a && i < a->n; i++) {
		struct liobn_table *t = a->e[i].ptr;
		struct papr_hw_set *hw = atomic_load_explicit(&t->hw, memory_order_relaxed);

		if (hw) {
			ctx_err(pg->ctx, "LIOBN 0x%llx freed with hardware tables attached",
				(unsigned long long)t->liobn);
			atomic_store_explicit(&t->hw, NULL, memory_order_relaxed);
			rcu_defer(&hw->rcu, hw_set_free_rcu);
		}
		ctx_uncharge(pg->ctx, UIOMMU_RES_LOCKED_BYTES, t->locked_bytes);
		ctx_uncharge(pg->ctx, UIOMMU_RES_LIOBNS, 1);
		liobn_put(t);
	}
	rcu_array_publish(&pg->liobns, NULL); /* the array goes after a grace period */
	pthread_mutex_destroy(&pg->lock);
	ctx_free(pg->ctx, pg);
}

/* ---- reads ---- */

/* The table of @liobn and the index of @ioba in it; -ENOENT, -ERANGE. Inside RCU. */
static int liobn_locate_rcu(struct uiommu_guest *guest, uint64_t liobn, uint64_t ioba,
			    struct liobn_table **ret_t, uint64_t *ret_idx)
{
	struct papr_guest *pg = papr_guest_peek(guest);
	struct liobn_table *t = pg ? liobn_find_rcu(pg, liobn) : NULL;
	uint64_t idx;

	if (!t)
		return -ENOENT;
	if (ioba < t->bus_offset)
		return -ERANGE;
	idx = (ioba - t->bus_offset) >> t->page_shift;
	if (idx >= t->size)
		return -ERANGE;
	*ret_t = t;
	*ret_idx = idx;
	return 0;
}

UIOMMU_EXPORT int uiommu_liobn_get_tce(struct uiommu_guest *guest, uint64_t liobn, uint64_t ioba,
				       uint64_t *ret_tce)
{
	struct liobn_table *t;
	uint64_t idx;
	int ret;

	if (!ret_tce)
		return -EINVAL;
	rcu_read_enter();
	ret = liobn_locate_rcu(guest, liobn, ioba, &t, &idx);
	if (!ret)
		*ret_tce = liobn_view_read(t, idx);
	rcu_read_exit();
	return ret;
}

UIOMMU_EXPORT int uiommu_liobn_get_tces(struct uiommu_guest *guest, uint64_t liobn,
					uint64_t ioba, uint64_t npages, uint64_t *ret_tces)
{
	struct liobn_table *t;
	uint64_t idx;
	int ret;

	if (!ret_tces || !npages)
		return -EINVAL;
	rcu_read_enter();
	ret = liobn_locate_rcu(guest, liobn, ioba, &t, &idx);
	if (!ret && npages > t->size - idx)
		ret = -ERANGE;
	for (uint64_t k = 0; !ret && k < npages; k++)
		ret_tces[k] = liobn_view_read(t, idx + k);
	rcu_read_exit();
	return ret;
}

UIOMMU_EXPORT int uiommu_liobn_translate(struct uiommu_guest *guest, uint64_t liobn,
					 uint64_t ioba, uint64_t *ret_gpa,
					 unsigned int *ret_prot)
{
	struct liobn_table *t;
	uint64_t idx, tce, page_mask;
	int ret;

	if (!ret_gpa || !ret_prot)
		return -EINVAL;
	rcu_read_enter();
	ret = liobn_locate_rcu(guest, liobn, ioba, &t, &idx);
	if (!ret) {
		tce = liobn_view_read(t, idx);
		page_mask = ~((1ULL << t->page_shift) - 1);
		*ret_gpa = (tce & page_mask) | (ioba & ~page_mask);
		*ret_prot = (unsigned int)(tce & (UIOMMU_TCE_PCI_READ | UIOMMU_TCE_PCI_WRITE));
	}
	rcu_read_exit();
	return ret;
}

UIOMMU_EXPORT int uiommu_liobn_info(struct uiommu_guest *guest, uint64_t liobn,
				    uint64_t *ret_bus_offset, unsigned int *ret_page_shift,
				    uint64_t *ret_size)
{
	struct papr_guest *pg = papr_guest_peek(guest);
	struct liobn_table *t;
	int ret = -ENOENT;

	rcu_read_enter();
	t = pg ? liobn_find_rcu(pg, liobn) : NULL;
	if (t) {
		if (ret_bus_offset)
			*ret_bus_offset = t->bus_offset;
		if (ret_page_shift)
			*ret_page_shift = t->page_shift;
		if (ret_size)
			*ret_size = t->size;
		ret = 0;
	}
	rcu_read_exit();
	return ret;
}

uint64_t papr_liobn_view_pages(struct uiommu_guest *guest, uint64_t liobn)
{
	struct papr_guest *pg = papr_guest_peek(guest);
	struct liobn_table *t;
	uint64_t n = 0;

	rcu_read_enter();
	t = pg ? liobn_find_rcu(pg, liobn) : NULL;
	if (t)
		n = atomic_load_explicit(&t->view_allocated, memory_order_relaxed);
	rcu_read_exit();
	return n;
}

/* ---- the seam for hardware tables ---- */

static int hw_edit(struct uiommu_guest *guest, uint64_t liobn, const struct papr_hw_ops *ops,
		   void *opaque, bool attach)
{
	struct papr_guest *pg = attach ? papr_guest_get(guest) : papr_guest_peek(guest);
	struct rcu_array *a;
	struct liobn_table *t;
	struct papr_hw_set *old, *new = NULL;
	size_t idx, n, found = SIZE_MAX;
	int ret = 0;

	if (!pg)
		return attach ? -ENOMEM : -ENOENT;
	pthread_mutex_lock(&pg->lock);
	a = atomic_load_explicit(&pg->liobns, memory_order_relaxed);
	idx = rcu_array_find(a, liobn);
	if (idx == SIZE_MAX) {
		ret = -ENOENT;
		goto out;
	}
	t = a->e[idx].ptr;
	old = atomic_load_explicit(&t->hw, memory_order_relaxed);
	n = old ? old->n : 0;
	for (size_t i = 0; i < n; i++)
		if (old->hw[i].ops == ops && old->hw[i].opaque == opaque)
			found = i;
	if (attach ? found != SIZE_MAX : found == SIZE_MAX) {
		ret = attach ? -EEXIST : -ENOENT;
		goto out;
	}
	if (attach && n == PAPR_HW_MAX) {
		ret = -ENOSPC;
		goto out;
	}
	n = attach ? n + 1 : n - 1;
	if (n) {
		size_t j = 0;

		new = ctx_alloc(pg->ctx, sizeof(*new) + n * sizeof(new->hw[0]));
		if (!new) {
			ret = -ENOMEM;
			goto out;
		}
		new->n = n;
		new->ctx = pg->ctx;
		for (size_t i = 0; old && i < old->n; i++)
			if (i != found)
				new->hw[j++] = old->hw[i];
		if (attach)
			new->hw[j] = (struct papr_hw_entry){ ops, opaque };
	}
	rcu_publish(t->hw, new);
	if (old)
		rcu_defer(&old->rcu, hw_set_free_rcu);
out:
	pthread_mutex_unlock(&pg->lock);
	/* No hcall (of either RCU flavour) may still use a detached table when this returns. */
	if (!ret && !attach)
		rcu_wait_grace();
	return ret;
}

int papr_liobn_attach_hw(struct uiommu_guest *guest, uint64_t liobn,
			 const struct papr_hw_ops *ops, void *opaque)
{
	return hw_edit(guest, liobn, ops, opaque, true);
}

int papr_liobn_detach_hw(struct uiommu_guest *guest, uint64_t liobn,
			 const struct papr_hw_ops *ops, void *opaque)
{
	return hw_edit(guest, liobn, ops, opaque, false);
}
