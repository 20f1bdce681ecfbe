// SPDX-License-Identifier: BSD-3-Clause
/*
 * Hostmem buffers: virtually contiguous buffers made of host frames that
 * need not be physically contiguous, as user memory is on a real host.
 *
 * Each backing page (1 << page_shift bytes) is one naturally aligned run of
 * frames from the library's region. The buffer's address range is reserved
 * first, then every maximal physically contiguous stretch of pages is
 * mapped over it (MAP_FIXED, MAP_SHARED on the region's memfd), so the same
 * bytes are reachable through the buffer, through the region's mapping and
 * from another process that maps the memfd.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mem.h"

#define HOSTMEM_FLAGS_KNOWN UIOMMU_HOSTMEM_SCATTER
#define HOSTMEM_MAX_PAGE_SHIFT 30

static int cmp_hpa_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

static void free_pages(struct uiommu_ctx *ctx, uint64_t *page_hpa, uint64_t n, unsigned int order)
{
	for (uint64_t i = 0; i < n; i++)
		if (page_hpa[i])
			frames_free(ctx, page_hpa[i], order, false);
}

/* Map pages [0, npages) of @vr over its reserved range, one mmap per contiguous stretch. */
static int map_pages(struct uiommu_ctx *ctx, struct vrange *vr, int fd, uint64_t fd_base)
{
	uint64_t psize = 1ULL << vr->page_shift;

	for (uint64_t i = 0; i < vr->npages;) {
		uint64_t j = i + 1;
		void *p;

		while (j < vr->npages && vr->page_hpa[j] == vr->page_hpa[j - 1] + psize)
			j++;
		if (ctx_fault(ctx, UIOMMU_FAULT_MAP))
			return -ENOMEM;
		p = mmap((void *)(vr->start + i * psize), (j - i) * psize, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, fd, (off_t)(vr->page_hpa[i] - fd_base));
		if (p == MAP_FAILED)
			return -ENOMEM;
		i = j;
	}
	return 0;
}

UIOMMU_EXPORT int uiommu_hostmem_alloc(struct uiommu_ctx *ctx, uint64_t size,
				       unsigned int page_shift, unsigned int flags,
				       void **ret_hva)
{
	struct mem_state *mem;
	struct ram_region *lib;
	struct vrange *vr = NULL;
	uint64_t psize, npages, reserve_len;
	unsigned int order;
	char *reserve = MAP_FAILED, *start;
	int ret;

	if (!ret_hva || page_shift < UIOMMU_FRAME_SHIFT || page_shift > HOSTMEM_MAX_PAGE_SHIFT ||
	    (flags & ~HOSTMEM_FLAGS_KNOWN))
		return -EINVAL;
	psize = 1ULL << page_shift;
	if (!size || !is_aligned_u64(size, psize))
		return -EINVAL;
	/* Beyond the library's region it could never be satisfied. */
	if (size > UIOMMU_HPA_LIBRARY_SIZE)
		return -ENOMEM;
	npages = size >> page_shift;
	order = page_shift - UIOMMU_FRAME_SHIFT;
	reserve_len = size + psize;
	mem = mem_get(ctx);
	if (!mem)
		return -ENOMEM;

	ret = ctx_charge(ctx, UIOMMU_RES_HOSTMEM, 1);
	if (ret)
		return ret;
	vr = ctx_alloc(ctx, sizeof(*vr));
	if (!vr) {
		ret = -ENOMEM;
		goto err_uncharge;
	}
	vr->ctx = ctx;
	vr->kind = VRANGE_HOSTMEM;
	vr->page_shift = page_shift;
	vr->npages = npages;
	vr->page_hpa = ctx_alloc_array(ctx, npages, sizeof(uint64_t));
	if (!vr->page_hpa) {
		ret = -ENOMEM;
		goto err_free_vr;
	}
	for (uint64_t i = 0; i < npages; i++) {
		ret = frames_alloc(ctx, order, false, &vr->page_hpa[i],
				   FAULT_POINT(UIOMMU_FAULT_FRAME));
		if (ret)
			goto err_free_frames;
	}
	/*
	 * SCATTER: hand the pages out in descending hpa order, so that no page
	 * is physically followed by the next page of the buffer.
	 */
	if (flags & UIOMMU_HOSTMEM_SCATTER)
		qsort(vr->page_hpa, npages, sizeof(uint64_t), cmp_hpa_desc);

	if (ctx_fault(ctx, UIOMMU_FAULT_MAP)) {
		ret = -ENOMEM;
		goto err_free_frames;
	}
	reserve = mmap(NULL, reserve_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	if (reserve == MAP_FAILED) {
		ret = -ENOMEM;
		goto err_free_frames;
	}
	start = (char *)(((uintptr_t)reserve + psize - 1) & ~(uintptr_t)(psize - 1));
	vr->start = (uintptr_t)start;
	vr->last = vr->start + (size - 1);
	lib = atomic_load(&mem->lib);
	ret = map_pages(ctx, vr, lib->fd, lib->hpa);
	if (ret)
		goto err_unmap;
	/* Give back the alignment slack on both sides. */
	if (start > reserve)
		munmap(reserve, (size_t)(start - reserve));
	if (reserve + reserve_len > start + size)
		munmap(start + size, (size_t)(reserve + reserve_len - (start + size)));

	pthread_mutex_lock(&mem->lock);
	ret = vrange_insert_locked(ctx, vr);
	pthread_mutex_unlock(&mem->lock);
	if (ret) {
		reserve = start;
		reserve_len = size;
		goto err_unmap;
	}
	*ret_hva = start;
	return 0;

err_unmap:
	munmap(reserve, reserve_len);
err_free_frames:
	free_pages(ctx, vr->page_hpa, npages, order);
	ctx_free(ctx, vr->page_hpa);
err_free_vr:
	ctx_free(ctx, vr);
err_uncharge:
	ctx_uncharge(ctx, UIOMMU_RES_HOSTMEM, 1);
	return ret;
}

UIOMMU_EXPORT int uiommu_hostmem_free(struct uiommu_ctx *ctx, void *hva)
{
	struct mem_state *mem = mem_peek(ctx);
	struct ram_region *lib;
	struct vrange *vr;
	uint64_t psize;
	int ret;

	if (!mem)
		return -ENOENT; /* nothing was ever allocated */
	lib = atomic_load(&mem->lib);
	pthread_mutex_lock(&mem->lock);
	vr = vrange_lookup_rcu(mem, (uintptr_t)hva); /* writer: the lock keeps it */
	if (!vr || vr->kind != VRANGE_HOSTMEM || vr->start != (uintptr_t)hva) {
		ret = -ENOENT;
		goto out_unlock;
	}
	psize = 1ULL << vr->page_shift;
	if (atomic_load(&vr->pinned_pages)) {
		ret = -EBUSY;
		goto out_unlock;
	}
	/* Pinned through the library region's mapping? */
	for (uint64_t i = 0; atomic_load(&lib->vr->pinned_pages) && i < vr->npages; i++) {
		uintptr_t s = (uintptr_t)lib->hva + (vr->page_hpa[i] - lib->hpa);

		if (pins_in_range_locked(lib->vr, s, s + (psize - 1))) {
			ret = -EBUSY;
			goto out_unlock;
		}
	}
	ret = vrange_remove_locked(ctx, vr);
	if (ret)
		goto out_unlock;
	pthread_mutex_unlock(&mem->lock);

	munmap((void *)vr->start, vr->last - vr->start + 1);
	free_pages(ctx, vr->page_hpa, vr->npages, vr->page_shift - UIOMMU_FRAME_SHIFT);
	ctx_uncharge(ctx, UIOMMU_RES_HOSTMEM, 1);
	vrange_free(vr);
	return 0;

out_unlock:
	pthread_mutex_unlock(&mem->lock);
	return ret;
}
