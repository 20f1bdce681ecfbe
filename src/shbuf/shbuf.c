// SPDX-License-Identifier: BSD-3-Clause
/*
 * Page-directory shared buffers: Linux drivers/xen/xen-front-pgdir-shbuf.c
 * (the frontend, both allocation modes) and what the PV display and sound
 * backends do with a buffer's directory (walk gref_dir_next_page until 0),
 * in the wire format of xen/io/displif.h and xen/io/sndif.h. Built only on
 * the public grant API (grant.h).
 *
 * Differences from the Linux helper, all on purpose (see shbuf.h):
 * 4 KiB directory pages on any host (Linux used PAGE_SIZE, wrong on 64 KiB
 * pages), unused slots UIOMMU_GRANT_INVALID_REF (Linux's zeroed slots
 * ended access to the console's reference 0 after a partial failure),
 * 32-bit reference counts (Linux's u16 truncates), the reservation freed
 * when a claim fails (Linux leaked it), a failed backend-allocated map
 * unmaps exactly what was mapped, and zero pages refused.
 */
#include <string.h>
#include <sys/mman.h>

#include <uiommu/shbuf.h>

#include "../internal.h"

#define PAGE UIOMMU_SHBUF_PAGE_SIZE
#define PER_PAGE UIOMMU_SHBUF_GREFS_PER_PAGE

_Static_assert(sizeof(struct uiommu_shbuf_page_directory) == PAGE, "a directory page is 4 KiB");

struct uiommu_shbuf {
	struct uiommu_gntshr *gs;
	struct uiommu_ctx *ctx;
	uint16_t domid;
	uint32_t flags;
	uint32_t npages;
	uint32_t ndir;
	uint32_t num_grefs; /* ndir, plus npages when frontend-allocated */
	uint32_t *grefs;    /* [0, ndir): directory pages; then buffer pages */
	char *directory;
	char *pages;	    /* frontend-allocated: ours; backend-allocated: the mapping */
	/* Backend-allocated, while mapped. */
	struct uiommu_gnttab *gt;
	uint32_t *handles;
};

struct uiommu_shbuf_be {
	struct uiommu_gnttab *gt;
	struct uiommu_gntshr *gs; /* backend-allocated: our table */
	uint32_t npages;
	char *hva;
};

static struct uiommu_shbuf_page_directory *dir_page(char *directory, uint32_t i)
{
	return (struct uiommu_shbuf_page_directory *)(void *)(directory + (size_t)i * PAGE);
}

UIOMMU_EXPORT uint32_t uiommu_shbuf_dir_pages(uint32_t npages)
{
	return (uint32_t)(((uint64_t)npages + PER_PAGE - 1) / PER_PAGE);
}

/* ---- frontend ---- */

/* Claim and grant @n frames from @frame on, into grefs[*j...]. */
static int grant_frames(struct uiommu_shbuf *buf, uint32_t *head, uint64_t frame, uint32_t n,
			uint32_t *j)
{
	for (uint32_t i = 0; i < n; i++) {
		int ref = uiommu_gntshr_claim_grant_reference(buf->gs, head);

		if (ref < 0)
			return ref;
		/* Recorded at once, so that freeing ends (or frees) exactly the claimed ones. */
		buf->grefs[(*j)++] = (uint32_t)ref;
		ref = uiommu_gntshr_grant_foreign_access_ref(buf->gs, (uint32_t)ref, buf->domid,
							     frame + i, 0);
		if (ref)
			return ref;
	}
	return 0;
}

/* Fill the directory: the chain, and (frontend-allocated) the buffer's references. */
static void fill_directory(struct uiommu_shbuf *buf)
{
	bool local = !(buf->flags & UIOMMU_SHBUF_BE_ALLOC);
	uint32_t left = buf->npages;

	for (uint32_t i = 0; i < buf->ndir; i++) {
		struct uiommu_shbuf_page_directory *d = dir_page(buf->directory, i);
		uint32_t n = MIN(left, PER_PAGE);

		d->gref_dir_next_page = i + 1 < buf->ndir ? buf->grefs[i + 1]
							  : UIOMMU_SHBUF_GREF_LIST_END;
		if (local)
			memcpy(d->gref, &buf->grefs[buf->ndir + (size_t)i * PER_PAGE],
			       n * sizeof(uint32_t));
		left -= n;
	}
}

UIOMMU_EXPORT int uiommu_shbuf_alloc(struct uiommu_gntshr *gs, uint16_t domid, uint32_t npages,
				     uint32_t flags, struct uiommu_shbuf **ret_buf)
{
	struct uiommu_shbuf *buf;
	uint64_t dir_frame, pages_frame = 0;
	uint32_t head = UIOMMU_GRANT_INVALID_REF, j = 0;
	struct uiommu_ctx *ctx;
	void *p;
	int ret;

	if (!gs || !ret_buf || !npages || npages > UIOMMU_SHBUF_MAX_PAGES ||
	    (flags & ~UIOMMU_SHBUF_BE_ALLOC) || domid >= UIOMMU_DOMID_FIRST_RESERVED)
		return -EINVAL;
	ctx = grant_gntshr_ctx(gs);
	buf = ctx_alloc(ctx, sizeof(*buf));
	if (!buf)
		return -ENOMEM;
	buf->gs = gs;
	buf->ctx = ctx;
	buf->domid = domid;
	buf->flags = flags;
	buf->npages = npages;
	buf->ndir = uiommu_shbuf_dir_pages(npages);
	buf->num_grefs = buf->ndir + (flags & UIOMMU_SHBUF_BE_ALLOC ? 0 : npages);
	buf->grefs = ctx_alloc_array(ctx, buf->num_grefs, sizeof(uint32_t));
	if (!buf->grefs) {
		ret = -ENOMEM;
		goto err;
	}
	for (uint32_t i = 0; i < buf->num_grefs; i++)
		buf->grefs[i] = UIOMMU_GRANT_INVALID_REF;

	/*
	 * References first: a failure after this point (the pages) must give
	 * the reservation back, which Linux did not do when a claim failed.
	 */
	ret = uiommu_gntshr_alloc_grant_references(gs, buf->num_grefs, &head);
	if (ret)
		goto err;
	ret = uiommu_gntshr_alloc_pages(gs, domid, buf->ndir, 1, &p, &dir_frame);
	if (ret)
		goto err_head;
	buf->directory = p;
	if (!(flags & UIOMMU_SHBUF_BE_ALLOC)) {
		ret = uiommu_gntshr_alloc_pages(gs, domid, npages, 1, &p, &pages_frame);
		if (ret)
			goto err_head;
		buf->pages = p;
	}
	/* Directory pages first, then the buffer's, as the Linux helper grants them. */
	ret = grant_frames(buf, &head, dir_frame, buf->ndir, &j);
	if (!ret && buf->pages)
		ret = grant_frames(buf, &head, pages_frame, npages, &j);
err_head:
	uiommu_gntshr_free_grant_references(gs, head); /* empty, unless something failed */
	if (ret)
		goto err;
	fill_directory(buf);
	*ret_buf = buf;
	return 0;

err:
	uiommu_shbuf_free(buf);
	return ret;
}

UIOMMU_EXPORT uint32_t uiommu_shbuf_get_dir_start(const struct uiommu_shbuf *buf)
{
	return buf && buf->grefs ? buf->grefs[0] : UIOMMU_GRANT_INVALID_REF;
}

UIOMMU_EXPORT void *uiommu_shbuf_hva(const struct uiommu_shbuf *buf)
{
	return buf->pages;
}

/* Unmap the backend-allocated buffer's mapped pages (INVALID handles skipped). */
static void be_alloc_unmap(struct uiommu_shbuf *buf)
{
	struct uiommu_gnttab_unmap_op one, *ops = ctx_alloc_array(buf->ctx, buf->npages,
								  sizeof(*ops));
	uint32_t n = 0;

	for (uint32_t k = 0; k < buf->npages; k++) {
		if (buf->handles[k] == UIOMMU_GRANT_INVALID_HANDLE)
			continue;
		one = (struct uiommu_gnttab_unmap_op){ .handle = buf->handles[k] };
		if (ops) {
			ops[n++] = one;
			continue;
		}
		uiommu_gnttab_unmap_refs(buf->gt, &one, 1); /* no memory for a batch */
		if (one.status)
			ctx_warn(buf->ctx, "shbuf: unmapping page %u failed: status %d", k, one.status);
	}
	if (ops) {
		uiommu_gnttab_unmap_refs(buf->gt, ops, n);
		for (uint32_t i = 0; i < n; i++)
			if (ops[i].status)
				ctx_warn(buf->ctx, "shbuf: unmapping handle %u failed: status %d",
					 ops[i].handle, ops[i].status);
		ctx_free(buf->ctx, ops);
	}
	munmap(buf->pages, (size_t)buf->npages * PAGE);
	ctx_free(buf->ctx, buf->handles);
	buf->handles = NULL;
	buf->pages = NULL;
	buf->gt = NULL;
}

UIOMMU_EXPORT int uiommu_shbuf_map(struct uiommu_shbuf *buf, struct uiommu_gnttab *gt)
{
	struct uiommu_gnttab_map_op *ops;
	uint32_t failed = 0;
	char *base;
	int ret;

	if (!(buf->flags & UIOMMU_SHBUF_BE_ALLOC))
		return 0; /* our own references: nothing to map */
	if (!gt)
		return -EINVAL;
	if (buf->handles)
		return -EBUSY;
	ops = ctx_alloc_array(buf->ctx, buf->npages, sizeof(*ops));
	buf->handles = ctx_alloc_array(buf->ctx, buf->npages, sizeof(uint32_t));
	base = ctx_fault(buf->ctx, UIOMMU_FAULT_MAP) ? MAP_FAILED
		: mmap(NULL, (size_t)buf->npages * PAGE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!ops || !buf->handles || base == MAP_FAILED) {
		ret = -ENOMEM;
		goto err;
	}
	/*
	 * The backend's references, from our own directory pages: the chain is
	 * ours (we allocated it contiguously), so it is not followed. Each
	 * reference is read once: the backend can still write the page.
	 */
	for (uint32_t k = 0; k < buf->npages; k++) {
		const struct uiommu_shbuf_page_directory *d = dir_page(buf->directory, k / PER_PAGE);

		ops[k] = (struct uiommu_gnttab_map_op){
			.host_addr = base + (size_t)k * PAGE, .flags = UIOMMU_GNTMAP_HOST_MAP,
			.ref = ((volatile const uint32_t *)d->gref)[k % PER_PAGE], .dom = buf->domid };
	}
	ret = uiommu_gnttab_map_refs(gt, ops, buf->npages);
	if (ret)
		goto err;
	/* Handles even of failed pages (INVALID), so that unmapping skips exactly those. */
	for (uint32_t k = 0; k < buf->npages; k++) {
		buf->handles[k] = ops[k].handle;
		if (ops[k].status && !failed++)
			ctx_warn(buf->ctx, "shbuf: page %u of domain %u's buffer not mapped: "
				 "status %d", k, buf->domid, ops[k].status);
	}
	buf->pages = base;
	buf->gt = gt;
	ctx_free(buf->ctx, ops);
	if (failed) {
		be_alloc_unmap(buf);
		return -ENXIO;
	}
	return 0;

err:
	if (base != MAP_FAILED)
		munmap(base, (size_t)buf->npages * PAGE);
	ctx_free(buf->ctx, ops);
	ctx_free(buf->ctx, buf->handles);
	buf->handles = NULL;
	return ret;
}

UIOMMU_EXPORT int uiommu_shbuf_unmap(struct uiommu_shbuf *buf)
{
	if (buf->handles)
		be_alloc_unmap(buf);
	return 0;
}

UIOMMU_EXPORT int uiommu_shbuf_free(struct uiommu_shbuf *buf)
{
	int pending = 0;

	if (!buf)
		return 0;
	if (buf->handles)
		return -EBUSY;
	/* Only what was claimed: never a slot still INVALID_GRANT_REF. */
	for (uint32_t i = 0; buf->grefs && i < buf->num_grefs; i++)
		if (buf->grefs[i] != UIOMMU_GRANT_INVALID_REF)
			pending += uiommu_gntshr_end_foreign_access(buf->gs, buf->grefs[i]) == 1;
	/* Pages the backend still maps go when it lets go. */
	if (buf->directory)
		uiommu_gntshr_free_pages(buf->gs, buf->directory);
	if (buf->pages)
		uiommu_gntshr_free_pages(buf->gs, buf->pages);
	ctx_free(buf->ctx, buf->grefs);
	ctx_free(buf->ctx, buf);
	return pending;
}

/* ---- backend ---- */

/*
 * Walk a frontend's directory from @gref as real backends do: follow
 * gref_dir_next_page until 0. Each directory page is mapped (writable if
 * @dirs is not NULL: its mapping is kept there, for uiommu_shbuf_be_alloc())
 * and read once; @grefs, if not NULL, gets the @npages buffer references.
 */
static int walk_directory(struct uiommu_gnttab *gt, uint16_t domid, uint32_t gref,
			  uint32_t npages, uint32_t *grefs, char **dirs)
{
	struct uiommu_ctx *ctx = grant_gnttab_ctx(gt);
	uint32_t ndir = uiommu_shbuf_dir_pages(npages), d = 0, got = 0;
	uint32_t *visited = ctx_alloc_array(ctx, ndir, sizeof(uint32_t));
	int ret = 0;

	if (!visited)
		return -ENOMEM;
	while (got < npages) {
		const volatile struct uiommu_shbuf_page_directory *dp;
		uint32_t n = MIN(npages - got, PER_PAGE);
		void *addr;

		if (gref == UIOMMU_SHBUF_GREF_LIST_END) {
			ctx_guest_error(ctx, "shbuf: domain %u's directory ends after %u of %u pages",
					domid, got, npages);
			ret = -ENODATA;
			break;
		}
		for (uint32_t i = 0; i < d; i++)
			if (visited[i] == gref)
				ret = -ELOOP;
		if (ret) {
			ctx_guest_error(ctx, "shbuf: domain %u's directory loops back to reference %u",
					domid, gref);
			break;
		}
		visited[d] = gref;
		ret = uiommu_gnttab_map_domain_grant_refs(gt, 1, domid, &gref,
							  PROT_READ | (dirs ? PROT_WRITE : 0), NULL,
							  &addr);
		if (ret)
			break;
		dp = addr;
		if (grefs)
			for (uint32_t i = 0; i < n; i++)
				grefs[got + i] = dp->gref[i];
		gref = dp->gref_dir_next_page;
		if (dirs)
			dirs[d] = addr;
		else
			uiommu_gnttab_unmap(gt, addr, 1);
		d++;
		got += n;
	}
	if (!ret && gref != UIOMMU_SHBUF_GREF_LIST_END) {
		ctx_guest_error(ctx, "shbuf: domain %u's directory goes on past its %u pages", domid,
				npages);
		ret = -EFBIG;
	}
	if (ret && dirs)
		for (uint32_t i = 0; i < d; i++)
			uiommu_gnttab_unmap(gt, dirs[i], 1);
	ctx_free(ctx, visited);
	return ret;
}

static int be_check(struct uiommu_gnttab *gt, uint32_t npages, struct uiommu_shbuf_be **ret_be)
{
	return gt && ret_be && npages && npages <= UIOMMU_SHBUF_MAX_PAGES ? 0 : -EINVAL;
}

UIOMMU_EXPORT int uiommu_shbuf_be_map(struct uiommu_gnttab *gt, uint16_t domid,
				      uint32_t gref_directory, uint32_t npages, int prot,
				      struct uiommu_shbuf_be **ret_be)
{
	struct uiommu_shbuf_be *be = NULL;
	struct uiommu_ctx *ctx;
	uint32_t *grefs;
	void *hva;
	int ret;

	if (be_check(gt, npages, ret_be) || (prot != PROT_READ && prot != (PROT_READ | PROT_WRITE)))
		return -EINVAL;
	ctx = grant_gnttab_ctx(gt);
	grefs = ctx_alloc_array(ctx, npages, sizeof(uint32_t));
	if (!grefs)
		return -ENOMEM;
	ret = walk_directory(gt, domid, gref_directory, npages, grefs, NULL);
	if (!ret)
		ret = uiommu_gnttab_map_domain_grant_refs(gt, npages, domid, grefs, prot, NULL, &hva);
	if (!ret) {
		be = ctx_alloc(ctx, sizeof(*be));
		if (!be) {
			uiommu_gnttab_unmap(gt, hva, npages);
			ret = -ENOMEM;
		}
	}
	ctx_free(ctx, grefs);
	if (ret)
		return ret;
	*be = (struct uiommu_shbuf_be){ .gt = gt, .npages = npages, .hva = hva };
	*ret_be = be;
	return 0;
}

UIOMMU_EXPORT int uiommu_shbuf_be_alloc(struct uiommu_gnttab *gt, struct uiommu_gntshr *gs,
					uint16_t domid, uint32_t gref_directory, uint32_t npages,
					struct uiommu_shbuf_be **ret_be)
{
	uint32_t ndir = uiommu_shbuf_dir_pages(npages), *refs = NULL;
	struct uiommu_shbuf_be *be = NULL;
	struct uiommu_ctx *ctx;
	char **dirs = NULL;
	void *hva = NULL;
	int ret;

	if (be_check(gt, npages, ret_be) || !gs)
		return -EINVAL;
	ctx = grant_gnttab_ctx(gt);
	dirs = ctx_alloc_array(ctx, ndir, sizeof(*dirs));
	refs = ctx_alloc_array(ctx, npages, sizeof(*refs));
	be = ctx_alloc(ctx, sizeof(*be));
	if (!dirs || !refs || !be) {
		ret = -ENOMEM;
		goto out;
	}
	ret = walk_directory(gt, domid, gref_directory, npages, NULL, dirs);
	if (ret)
		goto out;
	ret = uiommu_gntshr_share_pages(gs, domid, npages, refs, 1, &hva);
	if (!ret)
		for (uint32_t d = 0; d < ndir; d++) {
			uint32_t n = MIN(npages - d * PER_PAGE, PER_PAGE);

			memcpy(((struct uiommu_shbuf_page_directory *)(void *)dirs[d])->gref,
			       &refs[(size_t)d * PER_PAGE], n * sizeof(uint32_t));
		}
	for (uint32_t d = 0; d < ndir; d++)
		uiommu_gnttab_unmap(gt, dirs[d], 1);
	if (ret)
		goto out;
	*be = (struct uiommu_shbuf_be){ .gt = gt, .gs = gs, .npages = npages, .hva = hva };
	*ret_be = be;
	be = NULL;
out:
	ctx_free(ctx, be);
	ctx_free(ctx, refs);
	ctx_free(ctx, dirs);
	return ret;
}

UIOMMU_EXPORT void *uiommu_shbuf_be_hva(const struct uiommu_shbuf_be *be)
{
	return be->hva;
}

UIOMMU_EXPORT int uiommu_shbuf_be_free(struct uiommu_shbuf_be *be)
{
	struct uiommu_ctx *ctx;
	int ret = 0;

	if (!be)
		return 0;
	ctx = grant_gnttab_ctx(be->gt);
	if (be->gs)
		ret = uiommu_gntshr_unshare(be->gs, be->hva, be->npages);
	else
		uiommu_gnttab_unmap(be->gt, be->hva, be->npages);
	ctx_free(ctx, be);
	return ret < 0 ? 0 : ret;
}
