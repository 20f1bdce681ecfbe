// SPDX-License-Identifier: BSD-3-Clause
/*
 * Page-directory shared buffers: a frontend (domain 1) and a backend
 * (domain 2), each with a grant table and a mapping handle attached to the
 * other's, in one process. Directory sizing at the edges and at 1 GiB, the
 * wire format, both allocation modes, every documented error, chains a
 * hostile frontend builds, the Linux helper's failure paths fixed, fault
 * injection.
 */
#include <sys/resource.h>

#include "test_util.h"
#include "grant_test_util.h"

#define FE 1
#define BE 2
#define PAGE 4096
#define PER_PAGE UIOMMU_SHBUF_GREFS_PER_PAGE
#define MIN(a, b) ((a) < (b) ? (a) : (b))

struct doms {
	struct uiommu_ctx *fe_ctx, *be_ctx;
	struct uiommu_gntshr *fe_gs, *be_gs;
	struct uiommu_gnttab *fe_gt, *be_gt; /* each attached to the other's table */
};

/* Ending access to a reserved or unclaimed reference (the Linux helper's reference-0 bug). */
#define bad_ends test_log_watched

static struct uiommu_ctx *ctx_with(unsigned int host_page_shift)
{
	struct uiommu_ctx *ctx = test_log_ctx_new(host_page_shift);

	assert_non_null(ctx);
	test_log_watch = "end of access to reference";
	return ctx;
}

static void attach(struct uiommu_gntshr *gs, uint16_t peer, struct uiommu_gnttab *gt)
{
	int fd;

	assert_int_equal(uiommu_gntshr_connect(gs, peer, &fd), 0);
	assert_int_equal(uiommu_gnttab_attach(gt, fd, NULL), 0);
}

static struct doms *doms_new(unsigned int host_page_shift, uint32_t nr_entries)
{
	struct doms *d = calloc(1, sizeof(*d));

	d->fe_ctx = ctx_with(host_page_shift);
	d->be_ctx = ctx_with(host_page_shift);
	assert_int_equal(uiommu_gntshr_new(d->fe_ctx, FE, nr_entries, &d->fe_gs), 0);
	assert_int_equal(uiommu_gntshr_new(d->be_ctx, BE, nr_entries, &d->be_gs), 0);
	assert_int_equal(uiommu_gnttab_open(d->fe_ctx, &d->fe_gt), 0);
	assert_int_equal(uiommu_gnttab_open(d->be_ctx, &d->be_gt), 0);
	attach(d->fe_gs, BE, d->be_gt);
	attach(d->be_gs, FE, d->fe_gt);
	return d;
}

static void doms_free(struct doms *d)
{
	assert_int_equal(uiommu_gnttab_close(d->fe_gt), 0);
	assert_int_equal(uiommu_gnttab_close(d->be_gt), 0);
	assert_int_equal(uiommu_gntshr_free(d->fe_gs), 0);
	assert_int_equal(uiommu_gntshr_free(d->be_gs), 0);
	test_ctx_free(d->fe_ctx);
	test_ctx_free(d->be_ctx);
	free(d);
}

static int setup(void **state)
{
	*state = doms_new(0, 8192);
	test_log_warnings = 0;
	return 0;
}

static int teardown(void **state)
{
	doms_free(*state);
	return 0;
}

/* ---- sizing ---- */

static void test_dir_sizing(void **state)
{
	static const uint32_t npages[] = { 0, 1, 1023, 1024, 2046, 2047, 1u << 18 };
	static const uint32_t ndir[] = { 0, 1, 1, 2, 2, 3, 257 };

	(void)state;
	for (size_t i = 0; i < sizeof(npages) / sizeof(npages[0]); i++)
		assert_int_equal(uiommu_shbuf_dir_pages(npages[i]), ndir[i]);
	assert_int_equal(uiommu_shbuf_dir_pages(UINT32_MAX), 4198405);
	/* The wire layout: a 4-byte next reference, then 1023 references. */
	assert_int_equal(offsetof(struct uiommu_shbuf_page_directory, gref), 4);
	assert_int_equal(sizeof(struct uiommu_shbuf_page_directory), 4096);
}

/* Read the frontend's directory through the backend, as raw pages. */
static void check_directory(struct doms *d, uint32_t dir, uint32_t npages, uint32_t ndir)
{
	uint32_t g = dir, seen = 0;

	for (uint32_t i = 0; i < ndir; i++) {
		const struct uiommu_shbuf_page_directory *p;
		void *addr;

		assert_int_not_equal(g, UIOMMU_SHBUF_GREF_LIST_END);
		assert_int_equal(uiommu_gnttab_map_domain_grant_refs(d->be_gt, 1, FE, &g, PROT_READ,
								     NULL, &addr), 0);
		p = addr;
		for (uint32_t k = 0; k < MIN(npages - seen, PER_PAGE); k++) {
			assert_true(p->gref[k] >= UIOMMU_GNTTAB_NR_RESERVED_ENTRIES);
			assert_int_not_equal(p->gref[k], UIOMMU_GRANT_INVALID_REF);
		}
		seen += MIN(npages - seen, PER_PAGE);
		g = p->gref_dir_next_page;
		assert_int_equal(uiommu_gnttab_unmap(d->be_gt, addr, 1), 0);
	}
	/* The terminator is 0, never INVALID_GRANT_REF. */
	assert_int_equal(g, UIOMMU_SHBUF_GREF_LIST_END);
	assert_int_equal(seen, npages);
}

/* Allocate, check the directory, map it from the backend, check the bytes, tear down. */
static void roundtrip(struct doms *d, uint32_t npages)
{
	uint32_t ndir = uiommu_shbuf_dir_pages(npages);
	struct uiommu_shbuf *buf;
	struct uiommu_shbuf_be *be;
	char *fe, *bv;

	assert_int_equal(uiommu_shbuf_alloc(d->fe_gs, BE, npages, 0, &buf), 0);
	assert_int_equal(ctx_usage(d->fe_ctx, UIOMMU_RES_GRANTS), ndir + npages);
	fe = uiommu_shbuf_hva(buf);
	/* Touch only a few pages: a 1 GiB buffer stays sparse. */
	for (uint32_t i = 0; i < npages; i = i < 3 ? i + 1 : i * 2 + 1)
		snprintf(fe + (size_t)i * PAGE, 16, "page %u", i);
	snprintf(fe + (size_t)(npages - 1) * PAGE, 16, "page %u", npages - 1);
	check_directory(d, uiommu_shbuf_get_dir_start(buf), npages, ndir);

	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, FE, uiommu_shbuf_get_dir_start(buf), npages,
					     PROT_READ | PROT_WRITE, &be), 0);
	bv = uiommu_shbuf_be_hva(be);
	for (uint32_t i = 0; i < npages; i = i < 3 ? i + 1 : i * 2 + 1) {
		char want[16];

		snprintf(want, sizeof(want), "page %u", i);
		assert_string_equal(bv + (size_t)i * PAGE, want);
	}
	strcpy(bv + (size_t)(npages - 1) * PAGE + 100, "backend");
	assert_string_equal(fe + (size_t)(npages - 1) * PAGE + 100, "backend");
	/* In order: backend unmaps, frontend ends access: nothing pending. */
	assert_int_equal(uiommu_shbuf_be_free(be), 0);
	assert_int_equal(uiommu_shbuf_free(buf), 0);
	assert_int_equal(ctx_usage(d->fe_ctx, UIOMMU_RES_GRANTS), 0);
	assert_int_equal(ctx_usage(d->be_ctx, UIOMMU_RES_GRANT_MAPS), 0);
}

static void test_sizes(void **state)
{
	static const uint32_t npages[] = { 1, 2, 1022, 1023, 1024, 2046, 2047, 3000 };

	for (size_t i = 0; i < sizeof(npages) / sizeof(npages[0]); i++)
		roundtrip(*state, npages[i]);
}

/* Directory pages are 4 KiB with 1023 references on a 64 KiB-page host too. */
static void test_sizes_64k_host(void **state)
{
	struct doms *d = doms_new(16, 4096);

	(void)state;
	assert_int_equal(uiommu_ctx_host_page_shift(d->fe_ctx), 16);
	roundtrip(d, 1023);
	roundtrip(d, 1024);
	roundtrip(d, 2047);
	doms_free(d);
}

/* 1 GiB of pages: 257 directory pages, 262401 references (past Linux's u16). */
static void test_one_gib(void **state)
{
	struct doms *d = doms_new(0, 1u << 19);
	uint32_t n = 1u << 18;

	(void)state;
	for (int i = 0; i < 2; i++) {
		struct uiommu_ctx *ctx = i ? d->be_ctx : d->fe_ctx;

		assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_FRAME_BYTES, 2ULL << 30), 0);
		assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_GRANTS, 1u << 19), 0);
		assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_GRANT_MAPS, 1u << 19), 0);
	}
	roundtrip(d, n);
	assert_int_equal(uiommu_shbuf_alloc(d->fe_gs, BE, n + 1, 0,
					    &(struct uiommu_shbuf *){ NULL }), -EINVAL);
	doms_free(d);
}

/* ---- backend-allocated ---- */

static void test_be_alloc(void **state)
{
	struct doms *d = *state;
	static const uint32_t sizes[] = { 1, 1023, 1024, 2047 };

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint32_t n = sizes[s], ndir = uiommu_shbuf_dir_pages(n);
		struct uiommu_shbuf *buf;
		struct uiommu_shbuf_be *be;
		char *fe, *bv;

		assert_int_equal(uiommu_shbuf_alloc(d->fe_gs, BE, n, UIOMMU_SHBUF_BE_ALLOC, &buf), 0);
		/* Only the directory is granted, chained, gref[] left to the backend. */
		assert_int_equal(ctx_usage(d->fe_ctx, UIOMMU_RES_GRANTS), ndir);
		assert_null(uiommu_shbuf_hva(buf));
		assert_int_equal(uiommu_shbuf_be_alloc(d->be_gt, d->be_gs, FE,
						       uiommu_shbuf_get_dir_start(buf), n, &be), 0);
		assert_int_equal(ctx_usage(d->be_ctx, UIOMMU_RES_GRANTS), n);
		check_directory(d, uiommu_shbuf_get_dir_start(buf), n, ndir);
		bv = uiommu_shbuf_be_hva(be);
		for (uint32_t i = 0; i < n; i++)
			bv[(size_t)i * PAGE] = (char)i;
		assert_int_equal(uiommu_shbuf_map(buf, d->fe_gt), 0);
		assert_int_equal(uiommu_shbuf_map(buf, d->fe_gt), -EBUSY);
		fe = uiommu_shbuf_hva(buf);
		for (uint32_t i = 0; i < n; i++)
			assert_int_equal(fe[(size_t)i * PAGE], (char)i);
		fe[1] = 'f';
		assert_int_equal(bv[1], 'f');
		/* The frontend may not free what it still maps. */
		assert_int_equal(uiommu_shbuf_free(buf), -EBUSY);
		/* The right order: frontend unmaps, backend ends access, frontend ends its own. */
		assert_int_equal(uiommu_shbuf_unmap(buf), 0);
		assert_int_equal(uiommu_shbuf_unmap(buf), 0);
		assert_null(uiommu_shbuf_hva(buf));
		assert_int_equal(uiommu_shbuf_be_free(be), 0);
		assert_int_equal(uiommu_shbuf_free(buf), 0);
	}
	/* A frontend-allocated buffer has nothing to map. */
	{
		struct uiommu_shbuf *buf;

		assert_int_equal(uiommu_shbuf_alloc(d->fe_gs, BE, 3, 0, &buf), 0);
		assert_int_equal(uiommu_shbuf_map(buf, NULL), 0);
		assert_int_equal(uiommu_shbuf_unmap(buf), 0);
		assert_int_equal(uiommu_shbuf_free(buf), 0);
	}
}

/* The other order: the backend ends access while the frontend maps: pending. */
static void test_be_alloc_pending(void **state)
{
	struct doms *d = *state;
	struct uiommu_shbuf *buf;
	struct uiommu_shbuf_be *be;
	uint64_t pending;

	assert_int_equal(uiommu_shbuf_alloc(d->fe_gs, BE, 10, UIOMMU_SHBUF_BE_ALLOC, &buf), 0);
	assert_int_equal(uiommu_shbuf_be_alloc(d->be_gt, d->be_gs, FE,
					       uiommu_shbuf_get_dir_start(buf), 10, &be), 0);
	assert_int_equal(uiommu_shbuf_map(buf, d->fe_gt), 0);
	assert_int_equal(uiommu_shbuf_be_free(be), 10);
	assert_int_equal(uiommu_gntshr_get_pending(d->be_gs, &pending), 0);
	assert_int_equal(pending, 10);
	assert_int_equal(uiommu_shbuf_unmap(buf), 0);
	assert_int_equal(uiommu_gntshr_get_pending(d->be_gs, &pending), 0);
	assert_int_equal(pending, 0);
	assert_int_equal(uiommu_shbuf_free(buf), 0);
	/* Frontend-allocated, backend still mapping: free leaves it all pending. */
	assert_int_equal(uiommu_shbuf_alloc(d->fe_gs, BE, 1500, 0, &buf), 0);
	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, FE, uiommu_shbuf_get_dir_start(buf), 1500,
					     PROT_READ, &be), 0);
	assert_int_equal(uiommu_shbuf_free(buf), 1500);
	assert_int_equal(ctx_counter(d->fe_ctx, UIOMMU_COUNTER_GRANTS_PENDING), 1500);
	assert_int_equal(uiommu_shbuf_be_free(be), 0);
	assert_int_equal(ctx_counter(d->fe_ctx, UIOMMU_COUNTER_GRANTS_PENDING), 0);
	assert_int_equal(ctx_usage(d->fe_ctx, UIOMMU_RES_GRANTS), 0);
}

/* A backend-allocated map that fails part-way unmaps everything, -ENXIO. */
static void test_be_alloc_map_fails(void **state)
{
	struct doms *d = *state;
	struct uiommu_shbuf *buf;
	struct uiommu_shbuf_be *be;
	uint32_t bad_ref;
	void *page;

	assert_int_equal(uiommu_shbuf_alloc(d->fe_gs, BE, 1100, UIOMMU_SHBUF_BE_ALLOC, &buf), 0);
	assert_int_equal(uiommu_shbuf_be_alloc(d->be_gt, d->be_gs, FE,
					       uiommu_shbuf_get_dir_start(buf), 1100, &be), 0);
	/* A hostile backend puts a reference it granted to someone else into gref[1050]. */
	assert_int_equal(uiommu_gntshr_share_pages(d->be_gs, 7, 1, &bad_ref, 1, &page), 0);
	{
		uint32_t g = uiommu_shbuf_get_dir_start(buf), next;
		struct uiommu_shbuf_page_directory *p;
		void *addr;

		assert_int_equal(uiommu_gnttab_map_domain_grant_refs(d->be_gt, 1, FE, &g,
								     PROT_READ | PROT_WRITE, NULL,
								     &addr), 0);
		next = ((struct uiommu_shbuf_page_directory *)addr)->gref_dir_next_page;
		assert_int_equal(uiommu_gnttab_unmap(d->be_gt, addr, 1), 0);
		assert_int_equal(uiommu_gnttab_map_domain_grant_refs(d->be_gt, 1, FE, &next,
								     PROT_READ | PROT_WRITE, NULL,
								     &addr), 0);
		p = addr;
		p->gref[1050 - PER_PAGE] = bad_ref;
		assert_int_equal(uiommu_gnttab_unmap(d->be_gt, addr, 1), 0);
	}
	test_log_reset();
	assert_int_equal(uiommu_shbuf_map(buf, d->fe_gt), -ENXIO);
	assert_null(uiommu_shbuf_hva(buf));
	assert_int_equal(ctx_usage(d->fe_ctx, UIOMMU_RES_GRANT_MAPS), 0);
	assert_int_equal(ctx_usage(d->be_ctx, UIOMMU_RES_GRANT_MAPS), 0);
	assert_int_equal(uiommu_gntshr_query_foreign_access(d->be_gs, bad_ref), 0);
	assert_true(test_log_contains("page 1050"));
	assert_int_equal(uiommu_shbuf_map(buf, NULL), -EINVAL);
	assert_int_equal(uiommu_shbuf_be_free(be), 0);
	assert_int_equal(uiommu_shbuf_free(buf), 0);
	assert_int_equal(uiommu_gntshr_unshare(d->be_gs, page, 1), 0);
	test_log_warnings = 0;
}

/* ---- errors ---- */

static void test_alloc_errors(void **state)
{
	struct doms *d = *state;
	struct uiommu_shbuf *buf;

	assert_int_equal(uiommu_shbuf_alloc(NULL, BE, 1, 0, &buf), -EINVAL);
	assert_int_equal(uiommu_shbuf_alloc(d->fe_gs, BE, 1, 0, NULL), -EINVAL);
	/* Zero pages: Linux would grant nothing and read grefs[0] of an empty array. */
	assert_int_equal(uiommu_shbuf_alloc(d->fe_gs, BE, 0, 0, &buf), -EINVAL);
	assert_int_equal(uiommu_shbuf_alloc(d->fe_gs, BE, UIOMMU_SHBUF_MAX_PAGES + 1, 0, &buf),
			 -EINVAL);
	assert_int_equal(uiommu_shbuf_alloc(d->fe_gs, BE, 1, 2, &buf), -EINVAL);
	assert_int_equal(uiommu_shbuf_alloc(d->fe_gs, UIOMMU_DOMID_FIRST_RESERVED, 1, 0, &buf),
			 -EINVAL);
	assert_int_equal(uiommu_shbuf_alloc(d->fe_gs, FE, 1, 0, &buf), -EINVAL);
	/* Not enough references (8192 entries) or the grants limit. */
	assert_int_equal(uiommu_shbuf_alloc(d->fe_gs, BE, 8180, 0, &buf), -ENOSPC);
	assert_int_equal(uiommu_ctx_set_limit(d->fe_ctx, UIOMMU_RES_GRANTS, 100), 0);
	assert_int_equal(uiommu_shbuf_alloc(d->fe_gs, BE, 100, 0, &buf), -ENOSPC);
	assert_int_equal(uiommu_ctx_set_limit(d->fe_ctx, UIOMMU_RES_GRANTS, 65536), 0);
	/* Out of frames. */
	assert_int_equal(uiommu_ctx_set_limit(d->fe_ctx, UIOMMU_RES_FRAME_BYTES, 1 << 20), 0);
	assert_int_equal(uiommu_shbuf_alloc(d->fe_gs, BE, 512, 0, &buf), -ENOMEM);
	assert_int_equal(uiommu_ctx_set_limit(d->fe_ctx, UIOMMU_RES_FRAME_BYTES, 1ULL << 30), 0);
	/* Out of descriptors. */
	{
		struct rlimit old, low;
		int fd = dup(0);

		close(fd);
		getrlimit(RLIMIT_NOFILE, &old);
		low = old;
		low.rlim_cur = (rlim_t)fd;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
		assert_int_equal(uiommu_shbuf_alloc(d->fe_gs, BE, 1, 0, &buf), -EMFILE);
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	}
	assert_int_equal(ctx_usage(d->fe_ctx, UIOMMU_RES_GRANTS), 0);
	assert_int_equal(uiommu_shbuf_get_dir_start(NULL), UIOMMU_GRANT_INVALID_REF);
	assert_int_equal(uiommu_shbuf_free(NULL), 0);
	assert_int_equal(uiommu_shbuf_be_free(NULL), 0);
	/* No end of access to reference 0 or an unclaimed one, ever. */
	assert_int_equal(bad_ends, 0);
}

static void test_be_map_errors(void **state)
{
	struct doms *d = *state;
	struct uiommu_shbuf_be *be;
	struct uiommu_shbuf *buf;
	uint32_t dir;

	assert_int_equal(uiommu_shbuf_alloc(d->fe_gs, BE, 5, 0, &buf), 0);
	dir = uiommu_shbuf_get_dir_start(buf);
	assert_int_equal(uiommu_shbuf_be_map(NULL, FE, dir, 5, PROT_READ, &be), -EINVAL);
	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, FE, dir, 5, PROT_READ, NULL), -EINVAL);
	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, FE, dir, 0, PROT_READ, &be), -EINVAL);
	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, FE, dir, UIOMMU_SHBUF_MAX_PAGES + 1,
					     PROT_READ, &be), -EINVAL);
	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, FE, dir, 5, PROT_WRITE, &be), -EINVAL);
	assert_int_equal(uiommu_shbuf_be_alloc(d->be_gt, NULL, FE, dir, 5, &be), -EINVAL);
	assert_int_equal(uiommu_shbuf_be_alloc(NULL, d->be_gs, FE, dir, 5, &be), -EINVAL);
	/* The buffer's size says more pages than the chain names, or fewer. */
	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, FE, dir, 6, PROT_READ, &be), -ENXIO);
	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, FE, dir, 1024, PROT_READ, &be), -ENODATA);
	/* A directory that is not one: reference 0, INVALID_GRANT_REF, a stranger's. */
	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, FE, 0, 5, PROT_READ, &be), -ENODATA);
	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, FE, UIOMMU_GRANT_INVALID_REF, 5, PROT_READ,
					     &be), -ENXIO);
	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, 9, dir, 5, PROT_READ, &be), -ENXIO);
	/* A backend-allocated buffer for a directory that does not need one. */
	assert_int_equal(uiommu_shbuf_be_alloc(d->be_gt, d->be_gs, FE, dir, 1024, &be), -ENODATA);
	assert_int_equal(ctx_usage(d->be_ctx, UIOMMU_RES_GRANT_MAPS), 0);
	assert_int_equal(ctx_usage(d->be_ctx, UIOMMU_RES_GRANTS), 0);
	/* The backend's own table is full. */
	assert_int_equal(uiommu_ctx_set_limit(d->be_ctx, UIOMMU_RES_GRANTS, 4), 0);
	assert_int_equal(uiommu_shbuf_be_alloc(d->be_gt, d->be_gs, FE, dir, 5, &be), -ENOSPC);
	assert_int_equal(uiommu_ctx_set_limit(d->be_ctx, UIOMMU_RES_GRANTS, 65536), 0);
	assert_int_equal(uiommu_shbuf_free(buf), 0);
	test_log_warnings = 0;
}

/*
 * Chains a hostile frontend builds with the low-level API: directory pages
 * whose next references loop, go on too long, end too soon, or name
 * references that are not granted. Each is an error, never a hang.
 */
static void test_hostile_chains(void **state)
{
	struct doms *d = *state;
	struct uiommu_shbuf_be *be;
	uint32_t refs[4], data_refs[4];
	char *dir, *data;

	/* Four directory pages A B C D, four data pages. */
	assert_int_equal(uiommu_gntshr_share_pages(d->fe_gs, BE, 4, refs, 1, (void **)&dir), 0);
	assert_int_equal(uiommu_gntshr_share_pages(d->fe_gs, BE, 4, data_refs, 1, (void **)&data),
			 0);
#define DIRP(i) ((struct uiommu_shbuf_page_directory *)(void *)(dir + (i) * PAGE))
	for (int i = 0; i < 4; i++)
		for (uint32_t k = 0; k < PER_PAGE; k++)
			DIRP(i)->gref[k] = data_refs[k % 4];

	/* A -> B -> A: a loop. */
	DIRP(0)->gref_dir_next_page = refs[1];
	DIRP(1)->gref_dir_next_page = refs[0];
	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, FE, refs[0], 3 * PER_PAGE, PROT_READ, &be),
			 -ELOOP);
	/* A -> A with one page: the chain goes on past the buffer. */
	DIRP(0)->gref_dir_next_page = refs[0];
	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, FE, refs[0], 1, PROT_READ, &be), -EFBIG);
	/* A -> B -> C -> D -> 0 for two pages' worth: over-long. */
	DIRP(0)->gref_dir_next_page = refs[1];
	DIRP(1)->gref_dir_next_page = refs[2];
	DIRP(2)->gref_dir_next_page = refs[3];
	DIRP(3)->gref_dir_next_page = UIOMMU_SHBUF_GREF_LIST_END;
	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, FE, refs[0], 1500, PROT_READ, &be), -EFBIG);
	/* ... and exactly four pages' worth is fine (every data page four times over). */
	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, FE, refs[0], 4 * PER_PAGE, PROT_READ, &be),
			 0);
	assert_int_equal(uiommu_shbuf_be_free(be), 0);
	/* Too short: B ends the chain. */
	DIRP(1)->gref_dir_next_page = UIOMMU_SHBUF_GREF_LIST_END;
	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, FE, refs[0], 3 * PER_PAGE, PROT_READ, &be),
			 -ENODATA);
	/* INVALID_GRANT_REF as a terminator is not one (the 2022 regression). */
	DIRP(1)->gref_dir_next_page = UIOMMU_GRANT_INVALID_REF;
	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, FE, refs[0], 2 * PER_PAGE, PROT_READ, &be),
			 -EFBIG);
	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, FE, refs[0], 3 * PER_PAGE, PROT_READ, &be),
			 -ENXIO);
	/* A next page the backend may not map, and a data reference that is not granted. */
	DIRP(1)->gref_dir_next_page = 4000;
	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, FE, refs[0], 3 * PER_PAGE, PROT_READ, &be),
			 -ENXIO);
	DIRP(0)->gref_dir_next_page = UIOMMU_SHBUF_GREF_LIST_END;
	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, FE, refs[0], 10, PROT_READ, &be), 0);
	assert_int_equal(uiommu_shbuf_be_free(be), 0);
	DIRP(0)->gref[7] = 0;
	assert_int_equal(uiommu_shbuf_be_map(d->be_gt, FE, refs[0], 10, PROT_READ, &be), -ENXIO);
#undef DIRP
	assert_int_equal(ctx_usage(d->be_ctx, UIOMMU_RES_GRANT_MAPS), 0);
	assert_int_equal(ctx_usage(d->fe_ctx, UIOMMU_RES_GRANT_MAPS), 0);
	assert_int_equal(uiommu_gntshr_unshare(d->fe_gs, dir, 4), 0);
	assert_int_equal(uiommu_gntshr_unshare(d->fe_gs, data, 4), 0);
	test_log_warnings = 0;
}

/* ---- fault injection: the failure paths leave nothing ---- */

static void fault_loop(struct doms *d, int mode)
{
	for (uint64_t nth = 1;; nth++) {
		struct uiommu_shbuf *buf = NULL;
		struct uiommu_shbuf_be *be = NULL;
		uint64_t faults;
		int ret;

		uiommu_ctx_inject_fault(d->fe_ctx, nth, UIOMMU_FAULT_ALL);
		uiommu_ctx_inject_fault(d->be_ctx, nth, UIOMMU_FAULT_ALL);
		ret = uiommu_shbuf_alloc(d->fe_gs, BE, 1030, mode ? UIOMMU_SHBUF_BE_ALLOC : 0, &buf);
		if (!ret && !mode)
			ret = uiommu_shbuf_be_map(d->be_gt, FE, uiommu_shbuf_get_dir_start(buf), 1030,
						  PROT_READ, &be);
		if (!ret && mode)
			ret = uiommu_shbuf_be_alloc(d->be_gt, d->be_gs, FE,
						    uiommu_shbuf_get_dir_start(buf), 1030, &be);
		if (!ret && mode)
			ret = uiommu_shbuf_map(buf, d->fe_gt);
		faults = ctx_counter(d->fe_ctx, UIOMMU_COUNTER_FAULTS_INJECTED) +
			 ctx_counter(d->be_ctx, UIOMMU_COUNTER_FAULTS_INJECTED);
		uiommu_ctx_inject_fault(d->fe_ctx, 0, 0);
		uiommu_ctx_inject_fault(d->be_ctx, 0, 0);
		if (buf)
			uiommu_shbuf_unmap(buf);
		uiommu_shbuf_be_free(be);
		assert_true(uiommu_shbuf_free(buf) >= 0);
		assert_int_equal(ctx_usage(d->fe_ctx, UIOMMU_RES_GRANTS), 0);
		assert_int_equal(ctx_usage(d->be_ctx, UIOMMU_RES_GRANTS), 0);
		assert_int_equal(ctx_usage(d->fe_ctx, UIOMMU_RES_GRANT_MAPS), 0);
		assert_int_equal(ctx_usage(d->be_ctx, UIOMMU_RES_GRANT_MAPS), 0);
		/* The Linux helper ended reference 0 here: never an end of access to it. */
		assert_int_equal(bad_ends, 0);
		if (!faults) {
			assert_int_equal(ret, 0);
			break;
		}
		assert_int_not_equal(ret, 0);
		/* A failed request may have cost a connection: reconnect. */
		if (uiommu_gnttab_read_entry(d->be_gt, FE, 8, &(struct uiommu_grant_entry_v1){ 0 })) {
			uiommu_gntshr_disconnect(d->fe_gs, BE);
			attach(d->fe_gs, BE, d->be_gt);
		}
		if (uiommu_gnttab_read_entry(d->fe_gt, BE, 8, &(struct uiommu_grant_entry_v1){ 0 })) {
			uiommu_gntshr_disconnect(d->be_gs, FE);
			attach(d->be_gs, FE, d->fe_gt);
		}
	}
}

static void test_fault_loops(void **state)
{
	fault_loop(*state, 0);
	fault_loop(*state, 1);
	test_log_warnings = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dir_sizing),
		cmocka_unit_test_setup_teardown(test_sizes, setup, teardown),
		cmocka_unit_test(test_sizes_64k_host),
		cmocka_unit_test(test_one_gib),
		cmocka_unit_test_setup_teardown(test_be_alloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_be_alloc_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_be_alloc_map_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_be_map_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_chains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_loops, setup, teardown),
	};

	test_require_memfd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
