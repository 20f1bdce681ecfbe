// SPDX-License-Identifier: BSD-3-Clause
/*
 * Pinning, as the kernel pins user pages for DMA and charges locked_vm
 * (mm/gup.c pin_user_pages, mm/util.c account_locked_vm).
 *
 * Each call charges its bytes to UIOMMU_RES_LOCKED_BYTES; pin counts are
 * kept per 4 KiB page of the vrange that was pinned, and a page is
 * mlock(2)ed on its first pin and munlock(2)ed on its last unpin, so that
 * overlapping pins nest (mlock itself does not count). Usage always equals
 * the sum of the charged pins' counts times 4 KiB: mem_pin() without a
 * charge is for a user that charged up front (a VFIO v1 container charges
 * its whole 32-bit window at ENABLE and pins per MAP, as Linux does).
 */
#include <sys/mman.h>

#include "mem.h"

static struct pin_chunk *pin_chunk_of(const struct vrange *vr, uint64_t page)
{
	uint64_t c = page >> PIN_CHUNK_SHIFT;

	return vr->pins && c < vr->pin_nchunks ? vr->pins[c] : NULL;
}

static uint32_t pin_count(const struct vrange *vr, uint64_t page)
{
	struct pin_chunk *chunk = pin_chunk_of(vr, page);

	return chunk ? chunk->count[page & (PIN_CHUNK_PAGES - 1)] : 0;
}

bool pins_in_range_locked(const struct vrange *vr, uintptr_t start, uintptr_t last)
{
	uint64_t first = (start - vr->start) >> SYS_PAGE_SHIFT;
	uint64_t end = (last - vr->start) >> SYS_PAGE_SHIFT;

	if (!atomic_load(&vr->pinned_pages))
		return false;
	for (uint64_t p = first; p <= end; p++) {
		struct pin_chunk *chunk = pin_chunk_of(vr, p);

		if (!chunk || !chunk->nonzero) {
			p |= PIN_CHUNK_PAGES - 1; /* skip the rest of this chunk */
			continue;
		}
		if (chunk->count[p & (PIN_CHUNK_PAGES - 1)])
			return true;
	}
	return false;
}

void pins_free(struct uiommu_ctx *ctx, struct vrange *vr)
{
	for (uint64_t c = 0; vr->pins && c < vr->pin_nchunks; c++)
		ctx_free(ctx, vr->pins[c]);
	ctx_free(ctx, vr->pins);
	vr->pins = NULL;
}

/* Free the chunks of [first, end] that hold no count (after a failure or unpin). */
static void pins_trim(struct uiommu_ctx *ctx, struct vrange *vr, uint64_t first, uint64_t end)
{
	for (uint64_t c = first >> PIN_CHUNK_SHIFT; vr->pins && c <= end >> PIN_CHUNK_SHIFT; c++) {
		if (vr->pins[c] && !vr->pins[c]->nonzero) {
			ctx_free(ctx, vr->pins[c]);
			vr->pins[c] = NULL;
		}
	}
}

/* Make sure every chunk of [first, end] exists; -ENOMEM leaves no new chunk behind. */
static int pins_prepare(struct uiommu_ctx *ctx, struct vrange *vr, uint64_t first, uint64_t end)
{
	if (!vr->pins) {
		uint64_t n = ((vr->last - vr->start) >> SYS_PAGE_SHIFT >> PIN_CHUNK_SHIFT) + 1;

		vr->pins = ctx_alloc_array(ctx, n, sizeof(*vr->pins));
		if (!vr->pins)
			return -ENOMEM;
		vr->pin_nchunks = n;
	}
	for (uint64_t c = first >> PIN_CHUNK_SHIFT; c <= end >> PIN_CHUNK_SHIFT; c++) {
		if (vr->pins[c])
			continue;
		vr->pins[c] = ctx_alloc(ctx, sizeof(struct pin_chunk));
		if (!vr->pins[c]) {
			pins_trim(ctx, vr, first, end);
			if (!atomic_load(&vr->pinned_pages))
				pins_free(ctx, vr);
			return -ENOMEM;
		}
	}
	return 0;
}

/*
 * Call @fn on each maximal run of pages in [first, end] whose count equals
 * @count (0: pages to mlock on pin; 1: pages to munlock on unpin). Stops at
 * the first failure and returns it; *ret_done is the first page not handled.
 */
static int for_each_run(struct vrange *vr, uint64_t first, uint64_t end, uint32_t count,
			int (*fn)(struct uiommu_ctx *ctx, uintptr_t addr, uint64_t len),
			uint64_t *ret_done)
{
	uint64_t p = first;

	while (p <= end) {
		uint64_t q;
		int ret;

		if (pin_count(vr, p) != count) {
			p++;
			continue;
		}
		q = p;
		while (q + 1 <= end && pin_count(vr, q + 1) == count)
			q++;
		ret = fn(vr->ctx, vr->start + (p << SYS_PAGE_SHIFT), (q - p + 1) << SYS_PAGE_SHIFT);
		if (ret) {
			*ret_done = p;
			return ret;
		}
		p = q + 1;
	}
	*ret_done = end + 1;
	return 0;
}

static int do_mlock(struct uiommu_ctx *ctx, uintptr_t addr, uint64_t len)
{
	if (ctx_fault(ctx, UIOMMU_FAULT_PIN))
		return -ENOMEM;
	if (ctx->flags & UIOMMU_CTX_PIN_SIMULATE)
		return 0;
	return mlock((void *)addr, len) ? -ENOMEM : 0;
}

static int do_munlock(struct uiommu_ctx *ctx, uintptr_t addr, uint64_t len)
{
	if (!(ctx->flags & UIOMMU_CTX_PIN_SIMULATE))
		munlock((void *)addr, len);
	return 0;
}

/* Check a (hva, size) pin range and find its vrange; under mem->lock. */
static int pin_range(struct uiommu_ctx *ctx, void *hva, uint64_t size, struct vrange **ret_vr,
		     uint64_t *ret_first, uint64_t *ret_end)
{
	uintptr_t start = (uintptr_t)hva;
	uint64_t last;
	struct vrange *vr;
	int ret;

	if (!is_aligned_u64(start, SYS_PAGE_SIZE) || !is_aligned_u64(size, SYS_PAGE_SIZE))
		return -EINVAL;
	ret = range_from_len(start, size, &last);
	if (ret)
		return ret;
	vr = vrange_lookup_rcu(mem_peek(ctx), start);
	if (!vr || last > vr->last)
		return -EFAULT;
	*ret_vr = vr;
	*ret_first = (start - vr->start) >> SYS_PAGE_SHIFT;
	*ret_end = (last - vr->start) >> SYS_PAGE_SHIFT;
	return 0;
}

int mem_pin(struct uiommu_ctx *ctx, void *hva, uint64_t size, uint64_t *ret_hpas, bool charge)
{
	struct mem_state *mem = mem_peek(ctx);
	uint64_t first, end, done, newly = 0;
	struct vrange *vr;
	int ret;

	if (!mem) /* nothing is registered yet: the same errors, and never success */
		return pin_range(ctx, hva, size, &vr, &first, &end);
	pthread_mutex_lock(&mem->lock);
	ret = pin_range(ctx, hva, size, &vr, &first, &end);
	if (ret)
		goto out_unlock;
	for (uint64_t p = first; p <= end; p++) {
		if (pin_count(vr, p) == UINT32_MAX) {
			ret = -ENOMEM;
			goto out_unlock;
		}
	}
	ret = charge ? ctx_charge(ctx, UIOMMU_RES_LOCKED_BYTES, size) : 0;
	if (ret)
		goto out_unlock;
	ret = pins_prepare(ctx, vr, first, end);
	if (ret)
		goto err_uncharge;
	ret = for_each_run(vr, first, end, 0, do_mlock, &done);
	if (ret) {
		uint64_t ignored;

		/* munlock what this call locked: the pages before @done still at 0. */
		if (done > first)
			for_each_run(vr, first, done - 1, 0, do_munlock, &ignored);
		pins_trim(ctx, vr, first, end);
		if (!atomic_load(&vr->pinned_pages))
			pins_free(ctx, vr);
		goto err_uncharge;
	}
	for (uint64_t p = first; p <= end; p++) {
		struct pin_chunk *chunk = vr->pins[p >> PIN_CHUNK_SHIFT];
		uint32_t *count = &chunk->count[p & (PIN_CHUNK_PAGES - 1)];

		if ((*count)++ == 0) {
			chunk->nonzero++;
			newly++;
		}
		if (ret_hpas)
			ret_hpas[p - first] = vrange_hpa(vr, vr->start + (p << SYS_PAGE_SHIFT));
	}
	atomic_fetch_add(&vr->pinned_pages, newly);
	pthread_mutex_unlock(&mem->lock);
	return 0;

err_uncharge:
	if (charge)
		ctx_uncharge(ctx, UIOMMU_RES_LOCKED_BYTES, size);
out_unlock:
	pthread_mutex_unlock(&mem->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_pin(struct uiommu_ctx *ctx, void *hva, uint64_t size,
			     uint64_t *ret_hpas)
{
	return mem_pin(ctx, hva, size, ret_hpas, true);
}

int mem_unpin(struct uiommu_ctx *ctx, void *hva, uint64_t size, bool charge)
{
	struct mem_state *mem = mem_peek(ctx);
	uint64_t first, end, done, gone = 0;
	struct vrange *vr;
	int ret;

	if (!mem) /* nothing is registered yet: the same errors, and never success */
		return pin_range(ctx, hva, size, &vr, &first, &end);
	pthread_mutex_lock(&mem->lock);
	ret = pin_range(ctx, hva, size, &vr, &first, &end);
	if (ret)
		goto out_unlock;
	for (uint64_t p = first; p <= end; p++) {
		if (!pin_count(vr, p)) {
			ret = -EINVAL;
			goto out_unlock;
		}
	}
	/* Pages whose last pin this is are exactly those at 1 now. */
	for_each_run(vr, first, end, 1, do_munlock, &done);
	for (uint64_t p = first; p <= end; p++) {
		struct pin_chunk *chunk = vr->pins[p >> PIN_CHUNK_SHIFT];

		if (--chunk->count[p & (PIN_CHUNK_PAGES - 1)] == 0) {
			chunk->nonzero--;
			gone++;
		}
	}
	atomic_fetch_sub(&vr->pinned_pages, gone);
	pins_trim(ctx, vr, first, end);
	if (!atomic_load(&vr->pinned_pages))
		pins_free(ctx, vr);
	if (charge)
		ctx_uncharge(ctx, UIOMMU_RES_LOCKED_BYTES, size);
out_unlock:
	pthread_mutex_unlock(&mem->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_unpin(struct uiommu_ctx *ctx, void *hva, uint64_t size)
{
	return mem_unpin(ctx, hva, size, true);
}
