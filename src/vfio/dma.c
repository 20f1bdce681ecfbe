// SPDX-License-Identifier: BSD-3-Clause
/*
 * MAP_DMA and UNMAP_DMA, with the semantics of Linux
 * drivers/vfio/vfio_iommu_spapr_tce.c: tce_iommu_build() (v1: a pin per
 * IOMMU page), tce_iommu_build_v2() (v2: a lookup in preregistered
 * memory), tce_iommu_clear(), tce_iommu_use_page()/unuse_page*() and
 * tce_page_is_contained(); the checks of arch/powerpc/kernel/iommu.c's
 * iommu_tce_put_param_check() and iommu_tce_clear_param_check(). Where we
 * differ, uiommu/vfio.h says so.
 *
 * Each TCE has a word in the table's userspace shadow (Linux it_userspace)
 * holding the user address behind it: v2 finds the region to decrement
 * from it, v1 the page to unpin. An entry and its word change together
 * under the entry's stripe lock, so that concurrent MAP/UNMAP of the same
 * entries cannot pair a TCE with another call's record (upstream takes no
 * lock and can: a leaked mapped count, or a region freed under a TCE).
 *
 * The pages a TCE stops pointing at are released only after a TCE-cache
 * kill that covers it (at the latest every RELEASE_BATCH entries), so that
 * no cached translation outlives its pin.
 */
#include "vfio.h"

#define RELEASE_BATCH 512

/* ---- stripes ---- */

/* The mutexes of @mask in index order, then their bits (entry.c: excludes the hypercalls). */
static void stripes_lock(struct uiommu_vfio_container *c, uint64_t mask)
{
	for (unsigned int i = 0; i < VFIO_STRIPES; i++)
		if (mask & (1ULL << i))
			pthread_mutex_lock(&c->stripe[i]);
	vfio_stripes_claim(c, mask);
}

static void stripes_unlock(struct uiommu_vfio_container *c, uint64_t mask)
{
	vfio_stripes_unclaim(c, mask);
	for (unsigned int i = VFIO_STRIPES; i-- > 0;)
		if (mask & (1ULL << i))
			pthread_mutex_unlock(&c->stripe[i]);
}

/* ---- releasing the pages TCEs no longer point at ---- */

struct release_buf {
	struct uiommu_vfio_container *c;
	struct uiommu_tce_table *tbl;
	unsigned int page_shift;
	uint64_t kill_first, kill_last; /* entries changed since the last kill */
	unsigned int n;
	uint64_t ua[RELEASE_BATCH];
};

static void host_page_unpin(struct uiommu_ctx *ctx, uint64_t ua)
{
	uint64_t page = 1ULL << ctx->host_page_shift;

	if (mem_unpin(ctx, (void *)(uintptr_t)(ua & ~(page - 1)), page, false))
		ctx_err(ctx, "vfio: the page at 0x%llx was not pinned", (unsigned long long)ua);
}

/* Release what the buffer holds; a kill of the entries it came from must have been issued. */
static void release_run(struct release_buf *rb)
{
	struct uiommu_vfio_container *c = rb->c;
	struct vfio_hold *h = NULL;
	uint64_t n = 0;

	for (unsigned int i = 0; i < rb->n; i++) {
		uint64_t ua = rb->ua[i];

		if (!c->v2) {
			host_page_unpin(c->ctx, ua);
			continue;
		}
		if (!h || ua < h->ua || ua > h->last) {
			if (n)
				vfio_hold_sub(h, n);
			n = 0;
			h = vfio_prereg_find(c, ua, 1ULL << rb->page_shift);
			if (!h) {
				ctx_err(c->ctx, "vfio: a TCE pointed at 0x%llx, in no region",
					(unsigned long long)ua);
				continue;
			}
		}
		n++;
	}
	if (n)
		vfio_hold_sub(h, n);
	rb->n = 0;
}

/* Remember that @entry no longer points at @ua; kill and release when the buffer is full. */
static void release_add(struct release_buf *rb, uint64_t entry, uint64_t ua)
{
	if (rb->n == RELEASE_BATCH) {
		uiommu_tce_table_kill(rb->tbl, rb->kill_first, rb->kill_last - rb->kill_first + 1);
		release_run(rb);
	}
	if (!rb->n || entry < rb->kill_first)
		rb->kill_first = entry;
	if (!rb->n || entry > rb->kill_last)
		rb->kill_last = entry;
	rb->ua[rb->n++] = ua;
}

static void release_init(struct release_buf *rb, struct uiommu_vfio_container *c,
			 const struct vfio_window *w)
{
	rb->c = c;
	rb->tbl = w->tbl;
	rb->page_shift = w->page_shift;
	rb->n = 0;
}

/* ---- clearing ---- */

struct clear_state {
	struct release_buf rb;
	int err;
};

static void clear_one(void *opaque, uint64_t entry, uint64_t old_hpa, enum uiommu_dma_dir old_dir)
{
	struct clear_state *cs = opaque;
	uint64_t ua = 0;

	(void)old_hpa;
	(void)old_dir;
	/* Storing 0 never allocates: the word exists since the TCE did. */
	uiommu_tce_table_ua_xchg(cs->rb.tbl, entry, 0, &ua);
	release_add(&cs->rb, entry, ua);
}

int vfio_clear(struct uiommu_vfio_container *c, int num, uint64_t entry, uint64_t npages)
{
	struct clear_state cs;
	uint64_t cleared = 0;
	int ret;

	release_init(&cs.rb, c, &c->win[num]);
	/* The table's clear skips absent levels, and kills the whole range at the end. */
	ret = uiommu_tce_table_clear(cs.rb.tbl, entry, npages, clear_one, &cs, &cleared);
	release_run(&cs.rb);
	atomic_fetch_sub_explicit(&c->tces, cleared, memory_order_relaxed);
	return ret;
}

void vfio_clear_window_locked(struct uiommu_vfio_container *c, int num)
{
	struct uiommu_tce_table_info info = { .size = sizeof(info) };

	uiommu_tce_table_info(c->win[num].tbl, &info);
	vfio_clear(c, num, info.it_offset, info.it_size);
}

/* ---- the lock and the checks of MAP and UNMAP ---- */

/*
 * Take the lock shared, with the checks MAP and UNMAP start with, and the
 * pending default window created (Linux creates it with no lock at all).
 * @late_err: returned where Linux reads the struct and checks argsz and
 * flags (after the enabled check, before the default window). Returns 0
 * with the lock held shared, or an error with no lock held.
 */
static int dma_lock(struct uiommu_vfio_container *c, int late_err)
{
	int ret;

	for (;;) {
		pthread_rwlock_rdlock(&c->lock);
		ret = vfio_iommu_check(c);
		if (!ret && !c->enabled)
			ret = -EPERM;
		if (!ret)
			ret = late_err;
		if (!ret && !c->def_window_pending)
			return 0;
		pthread_rwlock_unlock(&c->lock);
		if (ret)
			return ret;
		vfio_wrlock(c);
		ret = vfio_iommu_check(c);
		if (!ret && !c->enabled)
			ret = -EPERM;
		if (!ret)
			ret = vfio_default_window_locked(c);
		vfio_wrunlock(c);
		if (ret)
			return ret;
	}
}

/*
 * The window of [iova, iova + size): -ENXIO if none holds @iova (Linux
 * tce_iommu_find_table()), -EINVAL unless @size is a non-zero multiple of
 * its page and the whole range lies in it (Linux checks only the first
 * page, and reports the failure as 1).
 */
static int dma_window(struct uiommu_vfio_container *c, uint64_t iova, uint64_t size,
		      uint64_t vaddr, bool check_vaddr, int *ret_num, uint64_t *ret_npages)
{
	const struct vfio_window *w;
	uint64_t page;
	int num = vfio_find_window(c, iova);

	if (num < 0) {
		ctx_guest_error(c->ctx, "vfio: DMA at 0x%llx: no window", (unsigned long long)iova);
		return -ENXIO;
	}
	w = &c->win[num];
	page = 1ULL << w->page_shift;
	if (!is_aligned_u64(size, page) || (check_vaddr && !is_aligned_u64(vaddr, page)))
		return -EINVAL;
	*ret_num = num;
	*ret_npages = size >> w->page_shift;
	return 0;
}

static int dma_range_check(struct uiommu_vfio_container *c, const struct vfio_window *w,
			   uint64_t iova, uint64_t npages)
{
	if (uiommu_tce_table_check_ioba(w->tbl, iova, npages)) {
		ctx_guest_error(c->ctx, "vfio: DMA of %llu pages at 0x%llx: outside the window "
				"0x%llx..0x%llx or misaligned", (unsigned long long)npages,
				(unsigned long long)iova, (unsigned long long)w->bus_offset,
				(unsigned long long)w->bus_last);
		return -EINVAL;
	}
	return 0;
}

/* ---- MAP: v2 ---- */

/*
 * The pages [ua, ua + npages pages) all lie in regions this container
 * registered, whose page shift is at least the window's (Linux refuses
 * page by page with -EINVAL; we refuse before anything changes).
 */
static int map_v2_check(struct uiommu_vfio_container *c, unsigned int shift, uint64_t ua,
			uint64_t npages)
{
	while (npages) {
		struct vfio_hold *h = vfio_prereg_find(c, ua, 1ULL << shift);
		uint64_t hpa, k;

		if (!h || prereg_ua_to_hpa(h->mem, ua, shift, &hpa)) {
			ctx_guest_error(c->ctx, "vfio: MAP of 0x%llx: not in memory this container "
					"registered with pages of 2^%u bytes",
					(unsigned long long)ua, shift);
			return -EINVAL;
		}
		k = MIN(npages, (h->last - ua + 1) >> shift);
		npages -= k;
		ua += k << shift;
	}
	return 0;
}

static int map_v2(struct uiommu_vfio_container *c, const struct vfio_window *w, uint64_t entry,
		  uint64_t ua, uint64_t npages, enum uiommu_dma_dir dir, struct release_buf *rb,
		  uint64_t *ret_done, uint64_t *ret_new)
{
	const unsigned int shift = w->page_shift;
	struct vfio_hold *h = NULL;
	uint64_t reserved = 0, i;
	int ret = 0;

	for (i = 0; i < npages; i++, ua += 1ULL << shift) {
		uint64_t hpa, old_ua, old_hpa;
		enum uiommu_dma_dir old_dir;

		if (!h || ua > h->last) {
			/* Checked by map_v2_check(), and kept by the shared lock. */
			h = vfio_prereg_find(c, ua, 1ULL << shift);
			/* One count per TCE, taken for the whole run in this region at once. */
			reserved = MIN(npages - i, (h->last - ua + 1) >> shift);
			ret = vfio_hold_add(h, reserved);
			if (ret) {
				reserved = 0;
				ret = -EINVAL;
				break;
			}
		}
		prereg_ua_to_hpa(h->mem, ua, shift, &hpa);
		ret = uiommu_tce_table_ua_xchg(w->tbl, entry + i, ua, &old_ua);
		if (ret)
			break;
		ret = uiommu_tce_table_xchg_no_kill(w->tbl, entry + i, hpa, dir, &old_hpa, &old_dir);
		if (ret) {
			uiommu_tce_table_ua_xchg(w->tbl, entry + i, old_ua, NULL);
			break;
		}
		reserved--;
		if (old_dir != UIOMMU_DMA_NONE)
			release_add(rb, entry + i, old_ua);
		else
			(*ret_new)++;
	}
	if (reserved)
		vfio_hold_sub(h, reserved);
	*ret_done = i;
	return ret;
}

/* ---- MAP: v1 ---- */

/*
 * Every IOMMU page is memory the model resolves (-EFAULT, Linux: the pin
 * failed) whose backing page holds it whole (-EPERM, Linux
 * tce_page_is_contained()); the host page each pins lies in one piece.
 */
static int map_v1_check(struct uiommu_vfio_container *c, unsigned int shift, uint64_t ua,
			uint64_t npages)
{
	const uint64_t host_page = 1ULL << c->ctx->host_page_shift;
	struct mem_backing b = { .first = 1, .last = 0 };

	for (uint64_t i = 0; i < npages; i++, ua += 1ULL << shift) {
		uint64_t page = ua & ~(host_page - 1);

		if (page < b.first || page + (host_page - 1) > b.last) {
			if (mem_backing(c->ctx, (uintptr_t)ua, &b) || page < b.first ||
			    page + (host_page - 1) > b.last) {
				ctx_guest_error(c->ctx, "vfio: MAP of 0x%llx: no memory there",
						(unsigned long long)ua);
				return -EFAULT;
			}
		}
		if (b.page_shift < shift) {
			ctx_guest_error(c->ctx, "vfio: MAP of 0x%llx: its pages (2^%u bytes) are "
					"smaller than the IOMMU page (2^%u)",
					(unsigned long long)ua, b.page_shift, shift);
			return -EPERM;
		}
	}
	return 0;
}

static int map_v1(struct uiommu_vfio_container *c, const struct vfio_window *w, uint64_t entry,
		  uint64_t ua, uint64_t npages, enum uiommu_dma_dir dir, struct release_buf *rb,
		  uint64_t *ret_done, uint64_t *ret_new)
{
	const unsigned int shift = w->page_shift;
	const uint64_t host_page = 1ULL << c->ctx->host_page_shift;
	uint64_t hpas[1u << (16 - UIOMMU_FRAME_SHIFT)], i;
	int ret = 0;

	for (i = 0; i < npages; i++, ua += 1ULL << shift) {
		void *page = (void *)(uintptr_t)(ua & ~(host_page - 1));
		uint64_t hpa, old_ua, old_hpa;
		enum uiommu_dma_dir old_dir;

		/* Linux pins the one host page holding the IOMMU page's first byte. */
		ret = mem_pin(c->ctx, page, host_page, hpas, false);
		if (ret)
			break;
		hpa = hpas[(ua - (uintptr_t)page) >> UIOMMU_FRAME_SHIFT];
		ret = uiommu_tce_table_ua_xchg(w->tbl, entry + i, ua, &old_ua);
		if (!ret) {
			ret = uiommu_tce_table_xchg_no_kill(w->tbl, entry + i, hpa, dir, &old_hpa,
							    &old_dir);
			if (ret)
				uiommu_tce_table_ua_xchg(w->tbl, entry + i, old_ua, NULL);
		}
		if (ret) {
			mem_unpin(c->ctx, page, host_page, false);
			break;
		}
		if (old_dir != UIOMMU_DMA_NONE)
			release_add(rb, entry + i, old_ua);
		else
			(*ret_new)++;
	}
	*ret_done = i;
	return ret;
}

/* ---- public ---- */

int vfio_map_dma(struct uiommu_vfio_container *c, uint64_t vaddr, uint64_t iova,
		 uint64_t size, unsigned int flags, int late_err)
{
	const unsigned int rw = UIOMMU_VFIO_DMA_MAP_FLAG_READ | UIOMMU_VFIO_DMA_MAP_FLAG_WRITE;
	static const enum uiommu_dma_dir dirs[4] = {
		[UIOMMU_VFIO_DMA_MAP_FLAG_READ | UIOMMU_VFIO_DMA_MAP_FLAG_WRITE] =
			UIOMMU_DMA_BIDIRECTIONAL,
		[UIOMMU_VFIO_DMA_MAP_FLAG_READ] = UIOMMU_DMA_TO_DEVICE,
		[UIOMMU_VFIO_DMA_MAP_FLAG_WRITE] = UIOMMU_DMA_FROM_DEVICE,
		[0] = UIOMMU_DMA_NONE,
	};
	struct release_buf rb;
	const struct vfio_window *w;
	uint64_t npages, entry, mask, last, done = 0, fresh = 0;
	int num, ret;

	if (!late_err && (flags & ~rw))
		late_err = -EINVAL;
	ret = dma_lock(c, late_err);
	if (ret)
		return ret;
	ret = dma_window(c, iova, size, vaddr, true, &num, &npages);
	if (ret)
		goto out_unlock;
	w = &c->win[num];
	if (dirs[flags] == UIOMMU_DMA_NONE || !size || range_from_len(vaddr, size, &last)) {
		ret = -EINVAL;
		goto out_unlock;
	}
	ret = dma_range_check(c, w, iova, npages);
	if (ret)
		goto out_unlock;
	/* Every page is checked before anything changes. */
	ret = c->v2 ? map_v2_check(c, w->page_shift, vaddr, npages) :
		      map_v1_check(c, w->page_shift, vaddr, npages);
	if (ret)
		goto out_unlock;

	entry = iova >> w->page_shift;
	mask = vfio_stripe_mask(num, entry, entry + (npages - 1));
	release_init(&rb, c, w);
	stripes_lock(c, mask);
	ret = c->v2 ? map_v2(c, w, entry, vaddr, npages, dirs[flags], &rb, &done, &fresh) :
		      map_v1(c, w, entry, vaddr, npages, dirs[flags], &rb, &done, &fresh);
	atomic_fetch_add_explicit(&c->tces, fresh, memory_order_relaxed);
	if (ret) {
		/* As Linux: what was mapped is cleared (its kill covers the pages replaced). */
		if (done)
			vfio_clear(c, num, entry, done);
		else if (rb.n)
			uiommu_tce_table_kill(w->tbl, rb.kill_first, rb.kill_last - rb.kill_first + 1);
	} else {
		uiommu_tce_table_kill(w->tbl, entry, npages);
		atomic_fetch_add_explicit(&c->map_calls, 1, memory_order_relaxed);
	}
	release_run(&rb);
	stripes_unlock(c, mask);
out_unlock:
	pthread_rwlock_unlock(&c->lock);
	return ret;
}

int vfio_unmap_dma(struct uiommu_vfio_container *c, uint64_t iova, uint64_t size, int late_err)
{
	const struct vfio_window *w;
	uint64_t npages, entry, mask;
	int num, ret;

	ret = dma_lock(c, late_err);
	if (ret)
		return ret;
	ret = dma_window(c, iova, size, 0, false, &num, &npages);
	if (ret)
		goto out_unlock;
	w = &c->win[num];
	ret = size ? dma_range_check(c, w, iova, npages) : -EINVAL;
	if (ret)
		goto out_unlock;
	entry = iova >> w->page_shift;
	mask = vfio_stripe_mask(num, entry, entry + (npages - 1));
	stripes_lock(c, mask);
	vfio_clear(c, num, entry, npages);
	stripes_unlock(c, mask);
	atomic_fetch_add_explicit(&c->unmap_calls, 1, memory_order_relaxed);
out_unlock:
	pthread_rwlock_unlock(&c->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_vfio_map_dma(struct uiommu_vfio_container *c, uint64_t vaddr,
				      uint64_t iova, uint64_t size, unsigned int flags)
{
	if (!c)
		return -EINVAL;
	return vfio_map_dma(c, vaddr, iova, size, flags, 0);
}

UIOMMU_EXPORT int uiommu_vfio_unmap_dma(struct uiommu_vfio_container *c, uint64_t iova,
					uint64_t size)
{
	if (!c)
		return -EINVAL;
	return vfio_unmap_dma(c, iova, size, 0);
}
