// SPDX-License-Identifier: BSD-3-Clause
/*
 * TCE tables: creation, lifetime, and the entry operations (exchange, get,
 * clear, translate, the userspace shadow), with the semantics of Linux
 * powernv (arch/powerpc/platforms/powernv/pci-ioda-tce.c: pnv_tce(),
 * pnv_tce_xchg(), pnv_tce_get(), pnv_tce_useraddrptr(), the table
 * allocation and free) and arch/powerpc/kernel/iommu.c (parameter checks,
 * directions). Where we deliberately differ, uiommu/tce.h says so.
 *
 * No lock on the entry paths: an entry changes with one atomic exchange,
 * a missing level is installed with one compare-and-swap (the loser frees
 * its page and follows the winner's), and levels are never freed before the
 * table, so a walker needs neither a lock nor RCU to follow an indirect
 * entry. Indirect entries are read with acquire ordering, pairing with the
 * release of the compare-and-swap that installed them.
 */
#include <string.h>

#include "tce.h"

/* What an entry stores for each direction: powernv's write implies read. */
static const uint64_t stored_perm[4] = {
	[UIOMMU_DMA_BIDIRECTIONAL] = UIOMMU_TCE_READ | UIOMMU_TCE_WRITE,
	[UIOMMU_DMA_TO_DEVICE] = UIOMMU_TCE_READ,
	[UIOMMU_DMA_FROM_DEVICE] = UIOMMU_TCE_READ | UIOMMU_TCE_WRITE,
	[UIOMMU_DMA_NONE] = 0,
};

static inline enum uiommu_dma_dir tce_dir(uint64_t tce)
{
	static const enum uiommu_dma_dir dirs[4] = {
		[0] = UIOMMU_DMA_NONE,
		[UIOMMU_TCE_READ] = UIOMMU_DMA_TO_DEVICE,
		[UIOMMU_TCE_WRITE] = UIOMMU_DMA_FROM_DEVICE,
		[UIOMMU_TCE_READ | UIOMMU_TCE_WRITE] = UIOMMU_DMA_BIDIRECTIONAL,
	};

	return dirs[tce & UIOMMU_TCE_PERM_MASK];
}

UIOMMU_EXPORT enum uiommu_dma_dir uiommu_tce_direction(uint64_t tce)
{
	return tce_dir(tce);
}

UIOMMU_EXPORT uint64_t uiommu_tce_perm(enum uiommu_dma_dir dir)
{
	switch (dir) {
	case UIOMMU_DMA_BIDIRECTIONAL:
		return UIOMMU_TCE_READ | UIOMMU_TCE_WRITE;
	case UIOMMU_DMA_TO_DEVICE:
		return UIOMMU_TCE_READ;
	case UIOMMU_DMA_FROM_DEVICE:
		return UIOMMU_TCE_WRITE;
	default:
		return 0;
	}
}

/* ---- walking ---- */

/* Host pointer of a level page (a frame of the library's region). */
static inline _Atomic uint64_t *level_hva(const struct uiommu_tce_table *tbl, uint64_t hpa)
{
	return (_Atomic uint64_t *)(uintptr_t)(hpa + tbl->hva_delta);
}

/* The hpa an indirect entry (big-endian, as stored) points at. */
static inline uint64_t indirect_hpa(uint64_t stored)
{
	return be64toh(stored) & ~UIOMMU_TCE_PERM_MASK;
}

static inline unsigned int level_order(const struct uiommu_tce_table *tbl)
{
	return tbl->level_shift - UIOMMU_FRAME_SHIFT;
}

/*
 * Install a level page in the empty indirect entry *@slot. Returns the
 * entry now there (ours, or the one another thread installed first), or 0
 * with *@err set if no page could be allocated.
 */
static uint64_t level_install(struct uiommu_tce_table *tbl, _Atomic uint64_t *slot, int *err)
{
	uint64_t hpa, expected = 0, e;
	int ret;

	ret = mem_frames_alloc(tbl->ctx, level_order(tbl), &hpa, NULL);
	if (ret) {
		*err = ret;
		return 0;
	}
	/* Frames are zero: the page is a level of empty entries already. */
	e = htobe64(hpa | UIOMMU_TCE_READ | UIOMMU_TCE_WRITE);
	if (atomic_compare_exchange_strong_explicit(slot, &expected, e, memory_order_acq_rel,
						    memory_order_acquire)) {
		atomic_fetch_add_explicit(&tbl->level_pages, 1, memory_order_relaxed);
		return e;
	}
	/* Another thread installed a page first: follow it, free ours. */
	if (mem_frames_free(tbl->ctx, hpa, level_order(tbl)))
		ctx_err(tbl->ctx, "TCE level page 0x%llx could not be freed",
			(unsigned long long)hpa);
	return expected;
}

/*
 * The word of relative index @idx in the tree whose first level is @lvl,
 * allocating missing levels. NULL with *@err set if that failed.
 *
 * The walks are the hot path of every operation: the shifts and masks are
 * precomputed, and the loop runs levels - 1 times (not at all for a flat
 * table).
 */
static __attribute__((noinline, cold)) _Atomic uint64_t *
slot_alloc(struct uiommu_tce_table *tbl, _Atomic uint64_t *lvl, uint64_t idx, int *err)
{
	for (unsigned int shift = tbl->top_shift; shift; shift -= tbl->level_bits) {
		_Atomic uint64_t *slot = &lvl[(idx >> shift) & tbl->level_mask];
		uint64_t e = atomic_load_explicit(slot, memory_order_acquire);

		if (unlikely(!e)) {
			e = level_install(tbl, slot, err);
			if (!e)
				return NULL;
		}
		lvl = level_hva(tbl, indirect_hpa(e));
	}
	return &lvl[idx & tbl->level_mask];
}

/* As slot_alloc() without allocating: NULL if a level is absent. */
static inline _Atomic uint64_t *slot_find(const struct uiommu_tce_table *tbl,
					  _Atomic uint64_t *lvl, uint64_t idx)
{
	for (unsigned int shift = tbl->top_shift; shift; shift -= tbl->level_bits) {
		uint64_t e = atomic_load_explicit(&lvl[(idx >> shift) & tbl->level_mask],
						  memory_order_acquire);

		if (unlikely(!e))
			return NULL;
		lvl = level_hva(tbl, indirect_hpa(e));
	}
	return &lvl[idx & tbl->level_mask];
}

/* ---- creation and release ---- */

/* Free the level page at @hpa and, @below levels deep, everything under it. */
/* Are the eight entries from @e all empty? One test for a sparse level's common case. */
static inline bool empty8(_Atomic uint64_t *e)
{
	return !(atomic_load_explicit(&e[0], memory_order_relaxed) |
		 atomic_load_explicit(&e[1], memory_order_relaxed) |
		 atomic_load_explicit(&e[2], memory_order_relaxed) |
		 atomic_load_explicit(&e[3], memory_order_relaxed) |
		 atomic_load_explicit(&e[4], memory_order_relaxed) |
		 atomic_load_explicit(&e[5], memory_order_relaxed) |
		 atomic_load_explicit(&e[6], memory_order_relaxed) |
		 atomic_load_explicit(&e[7], memory_order_relaxed));
}

/*
 * Free the level page at @hpa and the pages below it. *@left counts the
 * pages below the first levels not found yet (level_pages says how many
 * there are): a scan stops when it reaches 0, so that a table with few
 * lower levels is not read through, which would also fill in the frames'
 * holes only to punch them out again.
 */
static void level_free(struct uiommu_tce_table *tbl, uint64_t hpa, unsigned int below,
		       uint64_t *left)
{
	if (below) {
		_Atomic uint64_t *lvl = level_hva(tbl, hpa);

		/* Few entries of an upper level point anywhere: look eight at a time. */
		for (uint64_t n = 0; n < (1ULL << tbl->level_bits) && *left; n += 8) {
			if (empty8(&lvl[n]))
				continue;
			for (uint64_t k = n; k < n + 8; k++) {
				uint64_t e = atomic_load_explicit(&lvl[k], memory_order_relaxed);

				if (e) {
					(*left)--;
					level_free(tbl, indirect_hpa(e), below - 1, left);
				}
			}
		}
	}
	if (mem_frames_free(tbl->ctx, hpa, level_order(tbl)))
		ctx_err(tbl->ctx, "TCE level page 0x%llx could not be freed",
			(unsigned long long)hpa);
}

static void table_release(struct uiommu_tce_table *tbl)
{
	struct uiommu_ctx *ctx = tbl->ctx;
	uint64_t left = atomic_load_explicit(&tbl->level_pages, memory_order_relaxed) -
			!!tbl->base_hpa - !!tbl->ua_base_hpa;

	if (tbl->ua_base_hpa)
		level_free(tbl, tbl->ua_base_hpa, tbl->levels - 1, &left);
	if (tbl->base_hpa)
		level_free(tbl, tbl->base_hpa, tbl->levels - 1, &left);
	if (left)
		ctx_err(ctx, "TCE table: %llu level pages not found when freeing it",
			(unsigned long long)left);
	pthread_mutex_destroy(&tbl->kill_lock);
	ctx_uncharge(ctx, UIOMMU_RES_TABLE_BYTES, tbl->allocated_size);
	ctx_uncharge(ctx, UIOMMU_RES_WINDOWS, 1);
	ctx_free(ctx, tbl);
}

UIOMMU_EXPORT int uiommu_tce_table_new(struct uiommu_ctx *ctx, uint64_t bus_offset,
				       unsigned int page_shift, uint64_t window_size,
				       unsigned int levels, struct uiommu_tce_table **ret_tbl)
{
	struct uiommu_tce_table *tbl;
	struct tce_geom g;
	uint64_t bus_last, table_size;
	void *hva;
	int ret;

	if (!ctx || !ret_tbl)
		return -EINVAL;
	/* As Linux: every geometry failure, the 55-bit rule included, is -EINVAL. */
	if (tce_geometry(ctx->host_page_shift, page_shift, window_size, levels, &g))
		return -EINVAL;
	if (!is_aligned_u64(bus_offset, 1ULL << page_shift))
		return -EINVAL;
	if (range_from_len(bus_offset, g.it_size << page_shift, &bus_last))
		return -EOVERFLOW;
	/* A level page is one run of frames (Linux: one alloc_pages_node()). */
	if (g.level_shift - UIOMMU_FRAME_SHIFT > UIOMMU_FRAME_MAX_ORDER)
		return -ENOMEM;
	table_size = 2 * g.hw_size;

	ret = ctx_charge(ctx, UIOMMU_RES_WINDOWS, 1);
	if (ret)
		return ret;
	ret = ctx_charge(ctx, UIOMMU_RES_TABLE_BYTES, table_size);
	if (ret)
		goto err_windows;
	tbl = ctx_alloc(ctx, sizeof(*tbl));
	if (!tbl) {
		ret = -ENOMEM;
		goto err_table_bytes;
	}
	tbl->ctx = ctx;
	tbl->it_offset = bus_offset >> page_shift;
	tbl->it_size = g.it_size;
	tbl->bus_offset = bus_offset;
	tbl->bus_last_rel = bus_last - bus_offset;
	tbl->hpa_reject = ((1ULL << page_shift) - 1) | ~(UIOMMU_HPA_LIMIT - 1);
	tbl->page_offset_mask = (1ULL << page_shift) - 1;
	tbl->level_mask = (1ULL << g.level_bits) - 1;
	tbl->page_shift = page_shift;
	tbl->levels = levels;
	tbl->level_bits = g.level_bits;
	tbl->top_shift = (levels - 1) * g.level_bits;
	tbl->level_shift = g.level_shift;
	tbl->host_page_shift = ctx->host_page_shift;
	tbl->window_size = window_size;
	tbl->allocated_size = table_size;
	atomic_init(&tbl->refcount, 1);
	pthread_mutex_init(&tbl->kill_lock, NULL);

	ret = mem_frames_alloc(ctx, level_order(tbl), &tbl->base_hpa, &hva);
	if (ret)
		goto err_release;
	/* Every library frame is at the same distance from its host pointer. */
	tbl->hva_delta = (uintptr_t)hva - (uintptr_t)tbl->base_hpa;
	tbl->root = hva;
	atomic_store_explicit(&tbl->level_pages, 1, memory_order_relaxed);
	ret = mem_frames_alloc(ctx, level_order(tbl), &tbl->ua_base_hpa, &hva);
	if (ret)
		goto err_release;
	tbl->ua_root = hva;
	atomic_store_explicit(&tbl->level_pages, 2, memory_order_relaxed);
	*ret_tbl = tbl;
	return 0;

err_release:
	table_release(tbl); /* frees what was allocated, uncharges both */
	return ret;
err_table_bytes:
	ctx_uncharge(ctx, UIOMMU_RES_TABLE_BYTES, table_size);
err_windows:
	ctx_uncharge(ctx, UIOMMU_RES_WINDOWS, 1);
	return ret;
}

UIOMMU_EXPORT struct uiommu_tce_table *uiommu_tce_table_ref(struct uiommu_tce_table *tbl)
{
	atomic_fetch_add_explicit(&tbl->refcount, 1, memory_order_relaxed);
	return tbl;
}

UIOMMU_EXPORT struct uiommu_tce_table *uiommu_tce_table_unref(struct uiommu_tce_table *tbl)
{
	if (!tbl)
		return NULL;
	/* Release: every use by this holder happens before the free. */
	if (atomic_fetch_sub_explicit(&tbl->refcount, 1, memory_order_acq_rel) == 1)
		table_release(tbl);
	return NULL;
}

/* The first published layout of struct uiommu_tce_table_info (before refs). */
#define INFO_SIZE_V1 offsetof(struct uiommu_tce_table_info, refs)

UIOMMU_EXPORT int uiommu_tce_table_info(const struct uiommu_tce_table *tbl,
					struct uiommu_tce_table_info *ret_info)
{
	struct uiommu_tce_table_info out = { 0 };
	uint32_t size;

	if (!ret_info || ret_info->size < INFO_SIZE_V1)
		return -EINVAL;
	size = ret_info->size;
	out.size = (uint32_t)MIN(size, sizeof(out));
	out.page_shift = tbl->page_shift;
	out.levels = tbl->levels;
	out.level_shift = tbl->level_shift;
	out.host_page_shift = tbl->host_page_shift;
	out.bus_offset = tbl->bus_offset;
	out.window_size = tbl->window_size;
	out.it_offset = tbl->it_offset;
	out.it_size = tbl->it_size;
	out.it_level_size = 1ULL << tbl->level_bits;
	out.allocated_size = tbl->allocated_size;
	out.level_bytes = atomic_load_explicit(&tbl->level_pages, memory_order_relaxed)
			  << tbl->level_shift;
	out.base_hpa = tbl->base_hpa;
	out.ua_base_hpa = tbl->ua_base_hpa;
	out.refs = atomic_load_explicit(&((struct uiommu_tce_table *)tbl)->refcount,
					memory_order_relaxed);
	out.kill_links = tce_kill_links(tbl);
	memset(ret_info, 0, size);
	memcpy(ret_info, &out, out.size);
	return 0;
}

UIOMMU_EXPORT struct uiommu_ctx *uiommu_tce_table_ctx(const struct uiommu_tce_table *tbl)
{
	return tbl->ctx;
}

/* ---- parameter checks ---- */

/* [@entry, @entry + @npages) is a non-empty range of the table's entries. */
static inline bool entries_ok(const struct uiommu_tce_table *tbl, uint64_t entry,
			      uint64_t npages)
{
	/* Below it_offset wraps to a huge index: one compare rejects both sides. */
	uint64_t idx = entry - tbl->it_offset;

	return npages && idx < tbl->it_size && npages <= tbl->it_size - idx;
}

UIOMMU_EXPORT int uiommu_tce_table_check_ioba(const struct uiommu_tce_table *tbl, uint64_t ioba,
					      uint64_t npages)
{
	uint64_t rel = ioba - tbl->bus_offset;

	if (!is_aligned_u64(ioba, 1ULL << tbl->page_shift))
		return -EINVAL;
	/*
	 * The window does not wrap (checked at creation), so an ioba below
	 * bus_offset gives a rel above bus_last_rel.
	 */
	if (rel > tbl->bus_last_rel)
		return -EINVAL;
	return entries_ok(tbl, tbl->it_offset + (rel >> tbl->page_shift), npages) ? 0 : -EINVAL;
}

/* ---- entry operations ---- */

UIOMMU_EXPORT int uiommu_tce_table_xchg_no_kill(struct uiommu_tce_table *tbl, uint64_t entry,
						uint64_t hpa, enum uiommu_dma_dir dir,
						uint64_t *ret_old_hpa,
						enum uiommu_dma_dir *ret_old_dir)
{
	uint64_t idx = entry - tbl->it_offset, old;
	_Atomic uint64_t *slot;

	if (unlikely(idx >= tbl->it_size || (unsigned int)dir > UIOMMU_DMA_NONE ||
		     (hpa & tbl->hpa_reject)))
		return -EINVAL;
	if (unlikely(dir == UIOMMU_DMA_NONE && hpa))
		return -EINVAL;
	/* The common case finds every level; allocating is out of line. */
	slot = slot_find(tbl, tbl->root, idx);
	if (unlikely(!slot)) {
		int err = 0;

		/* Clearing: an absent level is an empty entry; allocate nothing. */
		if (dir == UIOMMU_DMA_NONE) {
			old = 0;
			goto out;
		}
		slot = slot_alloc(tbl, tbl->root, idx, &err);
		if (!slot)
			return err;
	}
	old = be64toh(atomic_exchange_explicit(slot, htobe64(hpa | stored_perm[dir]),
					       memory_order_acq_rel));
out:
	if (ret_old_hpa)
		*ret_old_hpa = old & ~UIOMMU_TCE_PERM_MASK;
	if (ret_old_dir)
		*ret_old_dir = tce_dir(old);
	return 0;
}

UIOMMU_EXPORT int uiommu_tce_table_xchg_no_alloc(struct uiommu_tce_table *tbl, uint64_t entry,
						 uint64_t hpa, enum uiommu_dma_dir dir,
						 uint64_t *ret_old_hpa,
						 enum uiommu_dma_dir *ret_old_dir)
{
	uint64_t idx = entry - tbl->it_offset, old = 0;
	_Atomic uint64_t *slot;

	if (unlikely(idx >= tbl->it_size || (unsigned int)dir > UIOMMU_DMA_NONE ||
		     (hpa & tbl->hpa_reject) || (dir == UIOMMU_DMA_NONE && hpa)))
		return -EINVAL;
	slot = slot_find(tbl, tbl->root, idx);
	if (unlikely(!slot) && dir != UIOMMU_DMA_NONE)
		return -EAGAIN;
	if (slot)
		old = be64toh(atomic_exchange_explicit(slot, htobe64(hpa | stored_perm[dir]),
						       memory_order_acq_rel));
	if (ret_old_hpa)
		*ret_old_hpa = old & ~UIOMMU_TCE_PERM_MASK;
	if (ret_old_dir)
		*ret_old_dir = tce_dir(old);
	return 0;
}

bool tce_leaf(struct uiommu_tce_table *tbl, uint64_t entry, _Atomic uint64_t **ret_hw,
	      _Atomic uint64_t **ret_ua, uint64_t *ret_n)
{
	uint64_t idx = entry - tbl->it_offset;

	if (unlikely(idx >= tbl->it_size))
		return false;
	*ret_hw = slot_find(tbl, tbl->root, idx);
	*ret_ua = slot_find(tbl, tbl->ua_root, idx);
	*ret_n = MIN(tbl->it_size - idx, tbl->level_mask + 1 - (idx & tbl->level_mask));
	return true;
}

UIOMMU_EXPORT int uiommu_tce_table_populate(struct uiommu_tce_table *tbl, uint64_t entry,
					    uint64_t npages, unsigned int flags)
{
	_Atomic uint64_t *roots[2] = { tbl->root, tbl->ua_root };
	uint64_t first = entry - tbl->it_offset, last = first + (npages - 1);

	if (!entries_ok(tbl, entry, npages) || !flags ||
	    (flags & ~(UIOMMU_TCE_POPULATE_HW | UIOMMU_TCE_POPULATE_UA)))
		return -EINVAL;
	if (tbl->levels == 1)
		return 0;
	for (unsigned int t = 0; t < 2; t++) {
		if (!(flags & (t ? UIOMMU_TCE_POPULATE_UA : UIOMMU_TCE_POPULATE_HW)))
			continue;
		/* One walk per last-level page of the range. */
		for (uint64_t idx = first;; idx = (idx | tbl->level_mask) + 1) {
			int err = 0;

			if (!slot_find(tbl, roots[t], idx) && !slot_alloc(tbl, roots[t], idx, &err))
				return err;
			if ((idx | tbl->level_mask) >= last)
				break;
		}
	}
	return 0;
}

UIOMMU_EXPORT int uiommu_tce_table_xchg(struct uiommu_tce_table *tbl, uint64_t entry,
					uint64_t hpa, enum uiommu_dma_dir dir,
					uint64_t *ret_old_hpa, enum uiommu_dma_dir *ret_old_dir)
{
	int ret = uiommu_tce_table_xchg_no_kill(tbl, entry, hpa, dir, ret_old_hpa, ret_old_dir);

	if (!ret)
		tce_kill_call(tbl, entry, 1);
	return ret;
}

/* Entry @entry of the tree at @root (the TCEs or their shadow), 0 where a level is absent. */
static int tree_read(const struct uiommu_tce_table *tbl, _Atomic uint64_t *root, uint64_t entry,
		     uint64_t *ret)
{
	uint64_t idx = entry - tbl->it_offset;
	_Atomic uint64_t *slot;

	if (unlikely(idx >= tbl->it_size))
		return -EINVAL;
	slot = slot_find(tbl, root, idx);
	if (ret)
		*ret = slot ? be64toh(atomic_load_explicit(slot, memory_order_acquire)) : 0;
	return 0;
}

UIOMMU_EXPORT int uiommu_tce_table_get(const struct uiommu_tce_table *tbl, uint64_t entry,
				       uint64_t *ret_tce)
{
	return tree_read(tbl, tbl->root, entry, ret_tce);
}

UIOMMU_EXPORT int uiommu_tce_table_translate(const struct uiommu_tce_table *tbl, uint64_t ioba,
					     uint64_t *ret_hpa, unsigned int *ret_prot)
{
	uint64_t rel = ioba - tbl->bus_offset, idx, tce;
	_Atomic uint64_t *lvl = tbl->root;

	/* See uiommu_tce_table_check_ioba(): one compare for both ends. */
	if (unlikely(rel > tbl->bus_last_rel))
		return -ERANGE;
	idx = rel >> tbl->page_shift;
	/* slot_find(), written out: this is what a device does for every access. */
	for (unsigned int shift = tbl->top_shift; shift; shift -= tbl->level_bits) {
		uint64_t e = atomic_load_explicit(&lvl[(idx >> shift) & tbl->level_mask],
						  memory_order_acquire);

		if (unlikely(!e))
			return -EFAULT;
		lvl = level_hva(tbl, indirect_hpa(e));
	}
	tce = be64toh(atomic_load_explicit(&lvl[idx & tbl->level_mask], memory_order_acquire));
	if (unlikely(!(tce & UIOMMU_TCE_PERM_MASK)))
		return -EFAULT;
	if (ret_hpa)
		*ret_hpa = (tce & ~tbl->page_offset_mask) | (ioba & tbl->page_offset_mask);
	if (ret_prot)
		*ret_prot = (unsigned int)(tce & UIOMMU_TCE_PERM_MASK);
	return 0;
}

/* Word @j of @p, native byte order. */
#define WORD(p, j) be64toh(atomic_load_explicit(&(p)[j], memory_order_acquire))

/*
 * Words [@idx, @idx + @n) (relative, inside the table) of the tree at @root
 * into @out in native byte order, 0 under absent levels: one walk per
 * last-level page, not per entry.
 */
static void tree_read_range(const struct uiommu_tce_table *tbl, _Atomic uint64_t *root,
			    uint64_t idx, uint64_t n, uint64_t *out)
{
	while (n) {
		uint64_t run = MIN(n, tbl->level_mask + 1 - (idx & tbl->level_mask)), k = 0;
		_Atomic uint64_t *slot = slot_find(tbl, root, idx);

		if (!slot) {
			memset(out, 0, run * sizeof(*out));
		} else {
			/*
			 * Eight words a step, each at a constant offset, stored
			 * with one copy: with bounds-checking instrumentation
			 * (the sanitizer and fuzzing builds) a loop over the
			 * words costs several checks per word, this one per
			 * step.
			 */
			for (; run - k >= 8; k += 8) {
				const _Atomic uint64_t *p = &slot[k];
				uint64_t w[8] = { WORD(p, 0), WORD(p, 1), WORD(p, 2), WORD(p, 3),
						  WORD(p, 4), WORD(p, 5), WORD(p, 6), WORD(p, 7) };

				memcpy(&out[k], w, sizeof(w));
			}
			for (; k < run; k++)
				out[k] = WORD(slot, k);
		}
		idx += run;
		out += run;
		n -= run;
	}
}

UIOMMU_EXPORT int uiommu_tce_table_get_range(const struct uiommu_tce_table *tbl, uint64_t entry,
					     uint64_t npages, uint64_t *ret_tces,
					     uint64_t *ret_uas)
{
	if (!entries_ok(tbl, entry, npages))
		return -EINVAL;
	if (ret_tces)
		tree_read_range(tbl, tbl->root, entry - tbl->it_offset, npages, ret_tces);
	if (ret_uas)
		tree_read_range(tbl, tbl->ua_root, entry - tbl->it_offset, npages, ret_uas);
	return 0;
}

/* ---- the userspace shadow ---- */

UIOMMU_EXPORT int uiommu_tce_table_ua_xchg(struct uiommu_tce_table *tbl, uint64_t entry,
					   uint64_t ua, uint64_t *ret_old_ua)
{
	uint64_t idx = entry - tbl->it_offset, old = 0;
	_Atomic uint64_t *slot;

	if (unlikely(idx >= tbl->it_size))
		return -EINVAL;
	slot = slot_find(tbl, tbl->ua_root, idx);
	if (unlikely(!slot) && ua) {
		int err = 0;

		slot = slot_alloc(tbl, tbl->ua_root, idx, &err);
		if (!slot)
			return err;
	}
	if (slot)
		old = be64toh(atomic_exchange_explicit(slot, htobe64(ua), memory_order_acq_rel));
	if (ret_old_ua)
		*ret_old_ua = old;
	return 0;
}

UIOMMU_EXPORT int uiommu_tce_table_ua_xchg_no_alloc(struct uiommu_tce_table *tbl,
						    uint64_t entry, uint64_t ua,
						    uint64_t *ret_old_ua)
{
	uint64_t idx = entry - tbl->it_offset, old = 0;
	_Atomic uint64_t *slot;

	if (unlikely(idx >= tbl->it_size))
		return -EINVAL;
	slot = slot_find(tbl, tbl->ua_root, idx);
	if (unlikely(!slot) && ua)
		return -EAGAIN;
	if (slot)
		old = be64toh(atomic_exchange_explicit(slot, htobe64(ua), memory_order_acq_rel));
	if (ret_old_ua)
		*ret_old_ua = old;
	return 0;
}

UIOMMU_EXPORT int uiommu_tce_table_ua_get(const struct uiommu_tce_table *tbl, uint64_t entry,
					  uint64_t *ret_ua)
{
	return tree_read(tbl, tbl->ua_root, entry, ret_ua);
}

/* ---- clearing ---- */

struct clear_state {
	uint64_t first, last; /* relative indexes, inclusive */
	uint64_t cleared;
	uiommu_tce_clear_fn *fn;
	void *opaque;
};

/*
 * Clear [cs->first, cs->last] in the level page @lvl, which covers the
 * relative indexes from @base, each of its entries covering
 * 1 << (@below * level_bits) of them. Absent levels are skipped whole.
 */
static void clear_level(struct uiommu_tce_table *tbl, _Atomic uint64_t *lvl, unsigned int below,
			uint64_t base, struct clear_state *cs)
{
	const unsigned int shift = below * tbl->level_bits;
	const uint64_t span = 1ULL << (shift + tbl->level_bits); /* what @lvl covers */
	uint64_t n = (MAX(cs->first, base) - base) >> shift;
	uint64_t n_last = (MIN(cs->last, base + (span - 1)) - base) >> shift;

	for (; n <= n_last; n++) {
		uint64_t e;

		if (below) {
			e = atomic_load_explicit(&lvl[n], memory_order_acquire);
			if (e)
				clear_level(tbl, level_hva(tbl, indirect_hpa(e)), below - 1,
					    base + (n << shift), cs);
			continue;
		}
		/*
		 * Most entries of a sparse table are empty: look before
		 * exchanging, eight at a time where the range allows.
		 */
		if (!(n & 7) && n + 7 <= n_last && empty8(&lvl[n])) {
			n += 7;
			continue;
		}
		if (!atomic_load_explicit(&lvl[n], memory_order_relaxed))
			continue;
		e = be64toh(atomic_exchange_explicit(&lvl[n], 0, memory_order_acq_rel));
		if (!e)
			continue;
		cs->cleared++;
		if (cs->fn)
			cs->fn(cs->opaque, tbl->it_offset + base + n, e & ~UIOMMU_TCE_PERM_MASK,
			       tce_dir(e));
	}
}

UIOMMU_EXPORT int uiommu_tce_table_clear(struct uiommu_tce_table *tbl, uint64_t entry,
					 uint64_t npages, uiommu_tce_clear_fn *fn, void *opaque,
					 uint64_t *ret_cleared)
{
	struct clear_state cs = { .fn = fn, .opaque = opaque };

	if (!entries_ok(tbl, entry, npages))
		return -EINVAL;
	cs.first = entry - tbl->it_offset;
	cs.last = cs.first + (npages - 1);
	clear_level(tbl, tbl->root, tbl->levels - 1, 0, &cs);
	tce_kill_call(tbl, entry, npages);
	if (ret_cleared)
		*ret_cleared = cs.cleared;
	return 0;
}

/* ---- kill ---- */

UIOMMU_EXPORT int uiommu_tce_table_kill(struct uiommu_tce_table *tbl, uint64_t entry,
					uint64_t npages)
{
	if (!entries_ok(tbl, entry, npages))
		return -EINVAL;
	tce_kill_call(tbl, entry, npages);
	return 0;
}
