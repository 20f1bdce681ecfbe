// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fault scenarios of grant tables and page-directory buffers: a frontend
 * and a backend domain, each with its own context, its grant table and a
 * mapping handle attached to the other's table (both directions of
 * connect and attach), a share mapped and unmapped by reference, a map and
 * an unmap by operations (libxengnttab's map_grant_refs), and a buffer of
 * each kind (frontend- and backend-allocated) mapped through its page
 * directory. Faults are armed on one side's context at a time, so that
 * each side's fault points are numbered in the order it meets them; the
 * other side's context is the scenario's own, unarmed.
 */
#include <sys/mman.h>

#include "fault.h"

#define FE 1
#define BE 2
#define SHBUF_PAGES 1030 /* a directory of two pages */

struct grant_objs {
	bool armed_be; /* faults on the backend's context (else the frontend's) */
	struct uiommu_ctx *fe_ctx, *be_ctx, *other;
	struct uiommu_gntshr *fe_gs, *be_gs;
	struct uiommu_gnttab *fe_gt, *be_gt;
	uint32_t refs[3];
	void *share, *map;
	void *op_page; /* where map_refs() puts a frame */
	struct uiommu_gnttab_map_op op;
	struct uiommu_shbuf *buf, *buf2;
	struct uiommu_shbuf_be *be, *be2;
};

/*
 * A map that ran out of memory answers, per reference, UIOMMU_GNTST_NO_SPACE
 * (no handle could be made: Xen's GNTST_no_device_space) or, when the
 * frame itself could not be mapped, UIOMMU_GNTST_GENERAL_ERROR (as
 * gnttab.c says); a map by reference then returns -ENXIO. That is its
 * -ENOMEM.
 */
static bool oom_status(int16_t st)
{
	return st == UIOMMU_GNTST_NO_SPACE || st == UIOMMU_GNTST_GENERAL_ERROR;
}

static int map_step(int ret, const int16_t *st, unsigned int n)
{
	if (ret != -ENXIO)
		return ret;
	for (unsigned int i = 0; i < n; i++)
		assert_true(st[i] == UIOMMU_GNTST_OKAY || oom_status(st[i]));
	return -ENOMEM;
}

/*
 * Mapping a buffer through its directory maps grants: when a page cannot be
 * mapped (a map that ran out of memory, on either side) the answer is
 * -ENXIO, as shbuf.h says.
 */
static int shbuf_step(int ret)
{
	return ret == -ENXIO ? -ENOMEM : ret;
}

/* One side connects, the other attaches: what connect() and attach() allocate, on both. */
static int grant_link(struct uiommu_gntshr *gs, uint16_t peer, struct uiommu_ctx *ctx,
		      struct uiommu_gnttab **ret_gt)
{
	int fd, ret;

	FAULT_STEP(uiommu_gnttab_open(ctx, ret_gt));
	FAULT_STEP(uiommu_gntshr_connect(gs, peer, &fd));
	ret = uiommu_gnttab_attach(*ret_gt, fd, NULL); /* it owns @fd from here */
	return ret;
}

static int grant_run(struct uiommu_ctx *ctx, struct grant_objs *o)
{
	int16_t st[3];
	uint8_t *p;

	FAULT_STEP(uiommu_ctx_new(NULL, &o->other));
	o->fe_ctx = o->armed_be ? o->other : ctx;
	o->be_ctx = o->armed_be ? ctx : o->other;
	/* Room for the share and both buffers (data and directory pages). */
	FAULT_STEP(uiommu_gntshr_new(o->fe_ctx, FE, 4096, &o->fe_gs));
	FAULT_STEP(uiommu_gntshr_new(o->be_ctx, BE, 4096, &o->be_gs));
	FAULT_STEP(grant_link(o->fe_gs, BE, o->be_ctx, &o->be_gt));
	FAULT_STEP(grant_link(o->be_gs, FE, o->fe_ctx, &o->fe_gt));

	/* A share, mapped by the backend and unmapped. */
	FAULT_STEP(uiommu_gntshr_share_pages(o->fe_gs, BE, 3, o->refs, 1, &o->share));
	memcpy(o->share, "grant", 6);
	FAULT_STEP(map_step(uiommu_gnttab_map_domain_grant_refs(o->be_gt, 3, FE, o->refs,
								 PROT_READ | PROT_WRITE, st, &o->map),
			    st, 3));
	assert_memory_equal(o->map, "grant", 6);
	FAULT_STEP(uiommu_gnttab_unmap(o->be_gt, o->map, 3));
	o->map = NULL;

	/* libxengnttab's operations: one frame over a page of ours, and off again. */
	o->op = (struct uiommu_gnttab_map_op){ .host_addr = o->op_page,
					       .flags = UIOMMU_GNTMAP_HOST_MAP,
					       .ref = o->refs[1], .dom = FE,
					       .status = UIOMMU_GNTST_GENERAL_ERROR,
					       .handle = UIOMMU_GRANT_INVALID_HANDLE };
	FAULT_STEP(uiommu_gnttab_map_refs(o->be_gt, &o->op, 1));
	if (o->op.status != UIOMMU_GNTST_OKAY) { /* nothing mapped: the page is still ours */
		assert_true(oom_status(o->op.status));
		return -ENOMEM;
	}
	{
		struct uiommu_gnttab_unmap_op un = { .host_addr = o->op_page,
						     .handle = o->op.handle };

		FAULT_STEP(uiommu_gnttab_unmap_refs(o->be_gt, &un, 1));
		/* Unmapped here whatever the granting side answered: the handle is gone. */
		o->op.handle = UIOMMU_GRANT_INVALID_HANDLE;
		if (un.status != UIOMMU_GNTST_OKAY) {
			assert_true(oom_status(un.status));
			return -ENOMEM;
		}
	}

	/* A frontend-allocated buffer, mapped by the backend through its directory. */
	FAULT_STEP(uiommu_shbuf_alloc(o->fe_gs, BE, SHBUF_PAGES, 0, &o->buf));
	p = uiommu_shbuf_hva(o->buf);
	p[SHBUF_PAGES * 4096 - 1] = 0x5a;
	FAULT_STEP(shbuf_step(uiommu_shbuf_be_map(o->be_gt, FE, uiommu_shbuf_get_dir_start(o->buf),
						  SHBUF_PAGES, PROT_READ, &o->be)));
	assert_int_equal(((uint8_t *)uiommu_shbuf_be_hva(o->be))[SHBUF_PAGES * 4096 - 1], 0x5a);

	/* A backend-allocated one: the backend fills it, the frontend maps it. */
	FAULT_STEP(uiommu_shbuf_alloc(o->fe_gs, BE, SHBUF_PAGES, UIOMMU_SHBUF_BE_ALLOC, &o->buf2));
	FAULT_STEP(shbuf_step(uiommu_shbuf_be_alloc(o->be_gt, o->be_gs, FE,
						    uiommu_shbuf_get_dir_start(o->buf2), SHBUF_PAGES,
						    &o->be2)));
	FAULT_STEP(shbuf_step(uiommu_shbuf_map(o->buf2, o->fe_gt)));
	return 0;
}

static void grant_undo(struct uiommu_ctx *ctx, void *state)
{
	struct grant_objs *o = state;

	if (o->buf2)
		uiommu_shbuf_unmap(o->buf2);
	FAULT_RETRY(ctx, uiommu_shbuf_be_free(o->be2));
	/* Freeing a buffer returns how many references stay pending (0 here, or a peer's). */
	assert_true(uiommu_shbuf_free(o->buf2) >= 0);
	FAULT_RETRY(ctx, uiommu_shbuf_be_free(o->be));
	assert_true(uiommu_shbuf_free(o->buf) >= 0);
	if (o->op.handle != UIOMMU_GRANT_INVALID_HANDLE && o->op.status == UIOMMU_GNTST_OKAY) {
		struct uiommu_gnttab_unmap_op un = { .host_addr = o->op_page,
						     .handle = o->op.handle };

		assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
		assert_int_equal(uiommu_gnttab_unmap_refs(o->be_gt, &un, 1), 0);
		assert_int_equal(un.status, UIOMMU_GNTST_OKAY);
	}
	if (o->map)
		FAULT_RETRY(ctx, uiommu_gnttab_unmap(o->be_gt, o->map, 3));
	if (o->share)
		FAULT_RETRY(ctx, uiommu_gntshr_unshare(o->fe_gs, o->share, 3));
	uiommu_gnttab_close(o->fe_gt);
	uiommu_gnttab_close(o->be_gt);
	FAULT_RETRY(ctx, uiommu_gntshr_free(o->be_gs));
	FAULT_RETRY(ctx, uiommu_gntshr_free(o->fe_gs));
	if (o->op_page)
		munmap(o->op_page, 4096);
	if (o->other)
		assert_int_equal(uiommu_ctx_free(o->other), 0); /* -EBUSY if anything was left */
}

static int grant_run_side(struct uiommu_ctx *ctx, void *state, bool armed_be)
{
	struct grant_objs *o = state;

	o->armed_be = armed_be;
	o->op.handle = UIOMMU_GRANT_INVALID_HANDLE;
	o->op_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(o->op_page != MAP_FAILED);
	return grant_run(ctx, o);
}

static int grant_run_fe(struct uiommu_ctx *ctx, void *state)
{
	return grant_run_side(ctx, state, false);
}

static int grant_run_be(struct uiommu_ctx *ctx, void *state)
{
	return grant_run_side(ctx, state, true);
}

FAULT_SCENARIO(grant_fe_scenario) = {
	.name = "grants and page-directory buffers, faults on the frontend",
	.state_size = sizeof(struct grant_objs),
	.run = grant_run_fe,
	.undo = grant_undo,
	.min_points = 15,
};

FAULT_SCENARIO(grant_be_scenario) = {
	.name = "grants and page-directory buffers, faults on the backend",
	.state_size = sizeof(struct grant_objs),
	.run = grant_run_be,
	.undo = grant_undo,
	.min_points = 15,
};
