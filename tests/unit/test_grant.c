// SPDX-License-Identifier: BSD-3-Clause
/*
 * Grant tables in one process: a granting domain (1) and a mapping domain
 * (2) with contexts of their own, connected by a socket as two processes
 * would be. Every documented error, Xen's entry protocol, the XSA-396
 * rule, the limits, fault injection, and a real race between ending
 * access and mapping. The two-process tests are test_grant_peer.c.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "grant/grant.h"
#include "test_util.h"
#include "grant_test_util.h"

#define FE 1
#define BE 2
#define PAGE 4096

struct pair {
	struct uiommu_ctx *fe_ctx, *be_ctx;
	struct uiommu_gntshr *gs;
	struct uiommu_gnttab *gt;
};


static struct uiommu_ctx *log_ctx_new(void)
{
	struct uiommu_ctx *ctx = test_log_ctx_new(0);

	assert_non_null(ctx);
	return ctx;
}

static void pair_attach(struct pair *p)
{
	uint16_t dom = 0;
	int fd;

	assert_int_equal(uiommu_gntshr_connect(p->gs, BE, &fd), 0);
	assert_int_equal(uiommu_gnttab_attach(p->gt, fd, &dom), 0);
	assert_int_equal(dom, FE);
}

static int pair_setup(void **state)
{
	struct pair *p = calloc(1, sizeof(*p));

	p->fe_ctx = log_ctx_new();
	p->be_ctx = log_ctx_new();
	assert_int_equal(uiommu_gntshr_new(p->fe_ctx, FE, 256, &p->gs), 0);
	assert_int_equal(uiommu_gnttab_open(p->be_ctx, &p->gt), 0);
	pair_attach(p);
	test_log_errors = 0;
	*state = p;
	return 0;
}

static int pair_teardown(void **state)
{
	struct pair *p = *state;

	assert_int_equal(uiommu_gnttab_close(p->gt), 0);
	assert_int_equal(uiommu_gntshr_free(p->gs), 0);
	test_ctx_free(p->fe_ctx);
	test_ctx_free(p->be_ctx);
	assert_int_equal(test_log_errors, 0);
	free(p);
	return 0;
}

/* Map one reference; the status, and the address on success. */
static int16_t map1(struct pair *p, uint32_t ref, uint32_t flags, void **addr, uint32_t *handle)
{
	struct uiommu_gnttab_map_op op = { .flags = flags, .ref = ref, .dom = FE };

	assert_int_equal(uiommu_gnttab_map_refs(p->gt, &op, 1), 0);
	if (addr)
		*addr = op.host_addr;
	if (handle)
		*handle = op.handle;
	if (op.status)
		assert_int_equal(op.handle, UIOMMU_GRANT_INVALID_HANDLE);
	return op.status;
}

static int16_t unmap1(struct pair *p, uint32_t handle, void *addr)
{
	struct uiommu_gnttab_unmap_op op = { .handle = handle, .host_addr = addr };

	assert_int_equal(uiommu_gnttab_unmap_refs(p->gt, &op, 1), 0);
	return op.status;
}

static uint16_t entry_flags(struct pair *p, uint32_t ref)
{
	struct uiommu_grant_entry_v1 e;

	assert_int_equal(uiommu_gnttab_read_entry(p->gt, FE, ref, &e), 0);
	return e.flags;
}

static uint64_t pending(struct uiommu_gntshr *gs)
{
	uint64_t n = 99;

	assert_int_equal(uiommu_gntshr_get_pending(gs, &n), 0);
	return n;
}

/* ---- the basic round trip ---- */

static void test_share_map_roundtrip(void **state)
{
	struct pair *p = *state;
	uint32_t refs[3];
	int16_t st[3];
	char *fe, *be;

	assert_int_equal(uiommu_gntshr_share_pages(p->gs, BE, 3, refs, 1, (void **)&fe), 0);
	for (int i = 0; i < 3; i++) {
		assert_true(refs[i] >= UIOMMU_GNTTAB_NR_RESERVED_ENTRIES);
		assert_int_equal(entry_flags(p, refs[i]), UIOMMU_GTF_PERMIT_ACCESS);
		snprintf(fe + i * PAGE, 16, "page %d", i);
	}
	assert_int_equal(uiommu_gnttab_map_domain_grant_refs(p->gt, 3, FE, refs,
							     PROT_READ | PROT_WRITE, st, (void **)&be), 0);
	for (int i = 0; i < 3; i++) {
		char want[16];

		snprintf(want, sizeof(want), "page %d", i);
		assert_int_equal(st[i], UIOMMU_GNTST_OKAY);
		assert_string_equal(be + i * PAGE, want);
		/* The mapper's mapping sets reading and writing, which the granter sees. */
		assert_int_equal(uiommu_gntshr_query_foreign_access(p->gs, refs[i]),
				 UIOMMU_GTF_READING | UIOMMU_GTF_WRITING);
	}
	strcpy(be + PAGE, "from the backend");
	assert_string_equal(fe + PAGE, "from the backend");
	assert_int_equal(ctx_usage(p->be_ctx, UIOMMU_RES_GRANT_MAPS), 3);
	assert_int_equal(ctx_usage(p->fe_ctx, UIOMMU_RES_GRANT_MAPS), 3);
	assert_int_equal(ctx_usage(p->fe_ctx, UIOMMU_RES_GRANTS), 3);

	assert_int_equal(uiommu_gnttab_unmap(p->gt, be, 3), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(uiommu_gntshr_query_foreign_access(p->gs, refs[i]), 0);
	assert_int_equal(uiommu_gntshr_unshare(p->gs, fe, 3), 0);
	assert_int_equal(entry_flags(p, refs[0]), 0);
	assert_int_equal(ctx_usage(p->fe_ctx, UIOMMU_RES_GRANTS), 0);
}

/* Pages are host frames: hpa lookups find them, frame numbers are hpa >> 12. */
static void test_pages_are_host_frames(void **state)
{
	struct pair *p = *state;
	uint64_t frame, hpa;
	void *hva, *back;
	int ref;

	assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, 2, 1, &hva, &frame), 0);
	assert_int_equal(uiommu_hva_to_hpa(p->fe_ctx, (char *)hva + PAGE, &hpa), 0);
	assert_true(hpa == (frame + 1) << 12);
	assert_int_equal(uiommu_hpa_to_hva(p->fe_ctx, hpa, PAGE, &back), 0);
	assert_ptr_equal(back, (char *)hva + PAGE);
	assert_int_equal(ctx_usage(p->fe_ctx, UIOMMU_RES_FRAME_BYTES) >= 2 * PAGE, 1);
	ref = uiommu_gntshr_grant_foreign_access(p->gs, BE, frame + 1, 0);
	assert_true(ref >= UIOMMU_GNTTAB_NR_RESERVED_ENTRIES);
	{
		struct uiommu_grant_entry_v1 e;

		assert_int_equal(uiommu_gnttab_read_entry(p->gt, FE, (uint32_t)ref, &e), 0);
		assert_int_equal(e.domid, BE);
		assert_int_equal(e.frame, frame + 1);
	}
	assert_int_equal(uiommu_gntshr_try_end_foreign_access(p->gs, (uint32_t)ref), 0);
	assert_int_equal(uiommu_gntshr_free_pages(p->gs, hva), 0);
}

/* ---- references ---- */

static void test_batches(void **state)
{
	struct pair *p = *state;
	uint32_t head = 0, head2 = 0;
	int a, b;

	assert_int_equal(uiommu_gntshr_alloc_grant_references(p->gs, 2, &head), 0);
	assert_int_equal(ctx_usage(p->fe_ctx, UIOMMU_RES_GRANTS), 2);
	a = uiommu_gntshr_claim_grant_reference(p->gs, &head);
	b = uiommu_gntshr_claim_grant_reference(p->gs, &head);
	assert_true(a >= 8 && b >= 8 && a != b);
	assert_int_equal(head, UIOMMU_GRANT_INVALID_REF);
	/* Claims past the batch fail, they do not wrap (Linux's u16 quirk aside). */
	assert_int_equal(uiommu_gntshr_claim_grant_reference(p->gs, &head), -ENOSPC);
	assert_int_equal(uiommu_gntshr_free_grant_references(p->gs, head), 0);

	/* Not a head: a claimed reference, the middle of a batch, nonsense. */
	assert_int_equal(uiommu_gntshr_alloc_grant_references(p->gs, 3, &head2), 0);
	{
		uint32_t mid = head2 + 1, bad = (uint32_t)a;

		assert_int_equal(uiommu_gntshr_claim_grant_reference(p->gs, &bad), -EINVAL);
		assert_int_equal(uiommu_gntshr_claim_grant_reference(p->gs, &mid), -EINVAL);
		assert_int_equal(uiommu_gntshr_free_grant_references(p->gs, mid), -EINVAL);
		assert_int_equal(uiommu_gntshr_free_grant_references(p->gs, 3), -EINVAL);
		assert_int_equal(uiommu_gntshr_claim_grant_reference(p->gs, NULL), -EINVAL);
	}
	/* Freeing a batch returns every unclaimed reference. */
	assert_true(uiommu_gntshr_claim_grant_reference(p->gs, &head2) >= 8);
	assert_int_equal(uiommu_gntshr_free_grant_references(p->gs, head2), 0);
	assert_int_equal(ctx_usage(p->fe_ctx, UIOMMU_RES_GRANTS), 3);

	assert_int_equal(uiommu_gntshr_alloc_grant_references(p->gs, 0, &head), -EINVAL);
	assert_int_equal(uiommu_gntshr_alloc_grant_references(p->gs, 1, NULL), -EINVAL);
	/* 256 entries, 8 reserved, 3 in use. */
	assert_int_equal(uiommu_gntshr_alloc_grant_references(p->gs, 246, &head), -ENOSPC);
	assert_int_equal(uiommu_gntshr_alloc_grant_references(p->gs, 245, &head), 0);
	{
		/* No free reference left for a one-shot grant either. */
		uint64_t frame;
		void *hva;

		assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, 1, 1, &hva, &frame), 0);
		assert_int_equal(uiommu_gntshr_grant_foreign_access(p->gs, BE, frame, 0), -ENOSPC);
		assert_int_equal(uiommu_gntshr_free_pages(p->gs, hva), 0);
	}
	assert_int_equal(uiommu_gntshr_free_grant_references(p->gs, head), 0);

	assert_int_equal(uiommu_gntshr_free_grant_reference(p->gs, (uint32_t)a), 0);
	assert_int_equal(uiommu_gntshr_free_grant_reference(p->gs, (uint32_t)a), -EINVAL);
	assert_int_equal(uiommu_gntshr_free_grant_reference(p->gs, 0), -EINVAL);
	assert_int_equal(uiommu_gntshr_free_grant_reference(p->gs, 256), -EINVAL);
	/* The first claimed of the second batch is still out. */
	for (uint32_t r = 8; r < 256; r++)
		if (r != (uint32_t)b)
			uiommu_gntshr_free_grant_reference(p->gs, r);
	assert_int_equal(uiommu_gntshr_free_grant_reference(p->gs, (uint32_t)b), 0);
	assert_int_equal(ctx_usage(p->fe_ctx, UIOMMU_RES_GRANTS), 0);
}

/* More than 65535 references in one batch: Linux's u16 count would truncate. */
static void test_batch_past_u16(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_gntshr *gs;
	uint32_t head, n = 70000, last = 0;

	(void)state;
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_GRANTS, n), 0);
	assert_int_equal(uiommu_gntshr_new(ctx, FE, n + 8, &gs), 0);
	assert_int_equal(uiommu_gntshr_alloc_grant_references(gs, n, &head), 0);
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_GRANTS), n);
	for (uint32_t i = 0; i < n; i++) {
		int ref = uiommu_gntshr_claim_grant_reference(gs, &head);

		assert_true(ref >= 8);
		last = (uint32_t)ref;
	}
	assert_int_equal(uiommu_gntshr_claim_grant_reference(gs, &head), -ENOSPC);
	assert_int_equal(last, n + 7);
	for (uint32_t r = 8; r < n + 8; r++)
		assert_int_equal(uiommu_gntshr_free_grant_reference(gs, r), 0);
	assert_int_equal(uiommu_gntshr_free(gs), 0);
	test_ctx_free(ctx);
}

static void test_reserved_refs(void **state)
{
	struct pair *p = *state;
	uint32_t head;
	void *hva;
	uint64_t frame;

	/* Every reference handed out is 8 or more, and reserved ones do nothing. */
	assert_int_equal(uiommu_gntshr_alloc_grant_references(p->gs, 248, &head), 0);
	for (int i = 0; i < 248; i++)
		assert_true(uiommu_gntshr_claim_grant_reference(p->gs, &head) >= 8);
	assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, 1, 1, &hva, &frame), 0);
	for (uint32_t r = 0; r < UIOMMU_GNTTAB_NR_RESERVED_ENTRIES; r++) {
		assert_int_equal(uiommu_gntshr_grant_foreign_access_ref(p->gs, r, BE, frame, 0),
				 -EINVAL);
		assert_int_equal(uiommu_gntshr_end_foreign_access(p->gs, r), -EINVAL);
		assert_int_equal(uiommu_gntshr_end_foreign_access_ref(p->gs, r), -EINVAL);
		assert_int_equal(uiommu_gntshr_try_end_foreign_access(p->gs, r), -EINVAL);
		assert_int_equal(map1(p, r, UIOMMU_GNTMAP_HOST_MAP, NULL, NULL),
				 UIOMMU_GNTST_GENERAL_ERROR);
	}
	for (uint32_t r = 8; r < 256; r++)
		assert_int_equal(uiommu_gntshr_free_grant_reference(p->gs, r), 0);
	assert_int_equal(uiommu_gntshr_free_pages(p->gs, hva), 0);
}

static void test_grant_errors(void **state)
{
	struct pair *p = *state;
	uint64_t frame, ro_frame, other_frame;
	void *hva, *ro, *other;
	uint32_t head;
	int ref;

	assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, 1, 1, &hva, &frame), 0);
	assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, 1, 0, &ro, &ro_frame), 0);
	assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, 3, 1, 1, &other, &other_frame), 0);
	assert_int_equal(uiommu_gntshr_alloc_grant_references(p->gs, 1, &head), 0);
	ref = uiommu_gntshr_claim_grant_reference(p->gs, &head);

	/* Not claimed, or out of range. */
	assert_int_equal(uiommu_gntshr_grant_foreign_access_ref(p->gs, (uint32_t)ref + 1, BE, frame,
								0), -EINVAL);
	assert_int_equal(uiommu_gntshr_grant_foreign_access_ref(p->gs, 1000, BE, frame, 0), -EINVAL);
	/* Frames that are not shareable pages of this table: a plain host frame, ... */
	{
		uint64_t hpa;

		assert_int_equal(uiommu_frames_alloc(p->fe_ctx, 0, &hpa), 0);
		assert_int_equal(uiommu_gntshr_grant_foreign_access_ref(p->gs, (uint32_t)ref, BE,
									hpa >> 12, 0), -EFAULT);
		assert_int_equal(uiommu_frames_free(p->fe_ctx, hpa, 0), 0);
	}
	assert_int_equal(uiommu_gntshr_grant_foreign_access_ref(p->gs, (uint32_t)ref, BE, 1, 0),
			 -EFAULT);
	assert_int_equal(uiommu_gntshr_grant_foreign_access_ref(p->gs, (uint32_t)ref, BE,
								1ULL << 40, 0), -EFAULT);
	/* Pages for another domain, or another access. */
	assert_int_equal(uiommu_gntshr_grant_foreign_access_ref(p->gs, (uint32_t)ref, BE,
								other_frame, 0), -EPERM);
	assert_int_equal(uiommu_gntshr_grant_foreign_access_ref(p->gs, (uint32_t)ref, 3, frame, 0),
			 -EPERM);
	assert_int_equal(uiommu_gntshr_grant_foreign_access_ref(p->gs, (uint32_t)ref, BE, frame, 1),
			 -EPERM);
	assert_int_equal(uiommu_gntshr_grant_foreign_access_ref(p->gs, (uint32_t)ref, BE, ro_frame,
								0), -EPERM);
	assert_int_equal(uiommu_gntshr_grant_foreign_access(p->gs, BE, other_frame, 0), -EPERM);
	assert_int_equal(uiommu_gntshr_grant_foreign_access(p->gs, BE, 2, 0), -EFAULT);
	assert_int_equal(ctx_usage(p->fe_ctx, UIOMMU_RES_GRANTS), 1);

	/* Granted once; again is -EBUSY, not an overwrite. */
	assert_int_equal(uiommu_gntshr_grant_foreign_access_ref(p->gs, (uint32_t)ref, BE, frame, 0),
			 0);
	assert_int_equal(uiommu_gntshr_grant_foreign_access_ref(p->gs, (uint32_t)ref, BE, frame, 0),
			 -EBUSY);
	assert_int_equal(uiommu_gntshr_free_grant_reference(p->gs, (uint32_t)ref), -EBUSY);
	assert_int_equal(uiommu_gntshr_free_pages(p->gs, hva), -EBUSY);
	/* End access keeping the reference, grant it again, end and free it. */
	assert_int_equal(uiommu_gntshr_end_foreign_access_ref(p->gs, (uint32_t)ref), 0);
	assert_int_equal(uiommu_gntshr_end_foreign_access_ref(p->gs, (uint32_t)ref), -EINVAL);
	assert_int_equal(uiommu_gntshr_grant_foreign_access_ref(p->gs, (uint32_t)ref, BE, ro_frame,
								1), 0);
	assert_int_equal(uiommu_gntshr_end_foreign_access(p->gs, (uint32_t)ref), 0);
	assert_int_equal(uiommu_gntshr_end_foreign_access(p->gs, (uint32_t)ref), -EINVAL);
	assert_int_equal(uiommu_gntshr_try_end_foreign_access(p->gs, (uint32_t)ref), -EINVAL);
	assert_int_equal(uiommu_gntshr_query_foreign_access(p->gs, 256), -EINVAL);
	assert_int_equal(uiommu_gntshr_get_pending(p->gs, NULL), -EINVAL);

	assert_int_equal(uiommu_gntshr_free_pages(p->gs, hva), 0);
	assert_int_equal(uiommu_gntshr_free_pages(p->gs, hva), -ENOENT);
	assert_int_equal(uiommu_gntshr_free_pages(p->gs, (char *)ro + 64), -ENOENT);
	assert_int_equal(uiommu_gntshr_free_pages(p->gs, NULL), -ENOENT);
	assert_int_equal(uiommu_gntshr_free_pages(p->gs, ro), 0);
	assert_int_equal(uiommu_gntshr_free_pages(p->gs, other), 0);
}

/* Open file descriptors of this process. */
static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* opendir's own */
}

/*
 * Freed pages that no peer saw are kept (zeroed, uncharged, a descriptor
 * each) for the next allocation of as many pages, at most 8, the oldest
 * going first; pages a peer mapped are freed; uiommu_gntshr_free() closes
 * the rest.
 */
static void test_spare_pages(void **state)
{
	struct pair *p = *state;
	int base = open_fds();
	uint64_t frames = ctx_usage(p->fe_ctx, UIOMMU_RES_FRAME_BYTES), limit;
	char *a, *b, *many[9];
	uint32_t ref, h;
	void *m;

	/* Kept: the same pages come back, zeroed, and uncharged meanwhile. */
	assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, 2, 1, (void **)&a, NULL), 0);
	assert_int_equal(open_fds(), base + 1);
	memset(a, 'x', 2 * PAGE);
	assert_int_equal(uiommu_gntshr_free_pages(p->gs, a), 0);
	assert_int_equal(ctx_usage(p->fe_ctx, UIOMMU_RES_FRAME_BYTES), frames);
	assert_int_equal(open_fds(), base + 1);
	/* A reuse is charged: the limit refuses it as it would fresh pages. */
	assert_int_equal(uiommu_ctx_get_limit(p->fe_ctx, UIOMMU_RES_FRAME_BYTES, &limit), 0);
	assert_int_equal(uiommu_ctx_set_limit(p->fe_ctx, UIOMMU_RES_FRAME_BYTES, frames), 0);
	assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, 2, 1, (void **)&b, NULL), -ENOMEM);
	assert_int_equal(uiommu_ctx_set_limit(p->fe_ctx, UIOMMU_RES_FRAME_BYTES, limit), 0);
	assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, 2, 1, (void **)&b, NULL), 0);
	assert_ptr_equal(b, a);
	for (int i = 0; i < 2 * PAGE; i++)
		assert_int_equal(b[i], 0);
	assert_int_equal(open_fds(), base + 1);
	/* Another size: fresh pages (one more descriptor). */
	assert_int_equal(uiommu_gntshr_free_pages(p->gs, b), 0);
	assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, 3, 1, (void **)&b, NULL), 0);
	assert_int_equal(open_fds(), base + 2);
	assert_int_equal(uiommu_gntshr_free_pages(p->gs, b), 0);
	assert_int_equal(open_fds(), base + 2);

	/* Read-only pages no peer saw are kept too, and serve either access. */
	assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, 1, 0, (void **)&a, NULL), 0);
	assert_int_equal(open_fds(), base + 3);
	assert_int_equal(uiommu_gntshr_free_pages(p->gs, a), 0);
	assert_int_equal(open_fds(), base + 3);
	assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, 1, 1, (void **)&b, NULL), 0);
	assert_ptr_equal(b, a);
	assert_int_equal(uiommu_gntshr_free_pages(p->gs, b), 0);

	/*
	 * Pages a peer mapped: their memfd was sealed when it went out (read-only
	 * ones against writable mappings), and it is never reused, whatever the
	 * peer kept.
	 */
	for (int rw = 0; rw < 2; rw++) {
		uint64_t frame;
		int fd = -1, seals;

		assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, 4, rw, (void **)&a, &frame), 0);
		assert_int_equal(open_fds(), base + 4);
		for (size_t i = 0; i < p->gs->npools; i++)
			if (p->gs->pools[i]->hva == a)
				fd = p->gs->pools[i]->fd;
		assert_true(fd >= 0);
		assert_int_equal(fcntl(fd, F_GET_SEALS) & (F_SEAL_SEAL | F_SEAL_FUTURE_WRITE), 0);
		ref = (uint32_t)uiommu_gntshr_grant_foreign_access(p->gs, BE, frame, !rw);
		assert_true(ref >= UIOMMU_GNTTAB_NR_RESERVED_ENTRIES);
		assert_int_equal(map1(p, ref, UIOMMU_GNTMAP_HOST_MAP | UIOMMU_GNTMAP_READONLY, &m, &h),
				 UIOMMU_GNTST_OKAY);
		seals = fcntl(fd, F_GET_SEALS);
		assert_true(seals & F_SEAL_SEAL);
		assert_int_equal(!!(seals & F_SEAL_FUTURE_WRITE), !rw);
		if (!rw)
			assert_ptr_equal(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0),
					 MAP_FAILED);
		assert_int_equal(unmap1(p, h, m), UIOMMU_GNTST_OKAY);
		assert_int_equal(uiommu_gntshr_end_foreign_access(p->gs, ref), 0);
		assert_int_equal(uiommu_gntshr_free_pages(p->gs, a), 0);
		assert_int_equal(open_fds(), base + 3);
	}

	/* At most 8 kept. */
	for (int i = 0; i < 9; i++)
		assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, 5, 1, (void **)&many[i], NULL),
				 0);
	for (int i = 0; i < 9; i++)
		assert_int_equal(uiommu_gntshr_free_pages(p->gs, many[i]), 0);
	assert_int_equal(open_fds(), base + 8); /* the oldest went first */
	assert_int_equal(ctx_usage(p->fe_ctx, UIOMMU_RES_FRAME_BYTES), frames);

	/* The table's end closes them. */
	{
		struct uiommu_gntshr *gs;
		int before = open_fds();

		assert_int_equal(uiommu_gntshr_new(p->fe_ctx, 7, 64, &gs), 0);
		assert_int_equal(uiommu_gntshr_alloc_pages(gs, BE, 1, 1, (void **)&a, NULL), 0);
		assert_int_equal(uiommu_gntshr_free_pages(gs, a), 0);
		assert_true(open_fds() > before);
		assert_int_equal(uiommu_gntshr_free(gs), 0);
		assert_int_equal(open_fds(), before);
	}
}

static void test_pages_errors(void **state)
{
	struct pair *p = *state;
	uint32_t refs[2];
	void *hva;

	assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, 0, 1, &hva, NULL), -EINVAL);
	assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, (1u << 18) + 1, 1, &hva, NULL),
			 -EINVAL);
	assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, 1, 1, NULL, NULL), -EINVAL);
	assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, FE, 1, 1, &hva, NULL), -EINVAL);
	assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, UIOMMU_DOMID_FIRST_RESERVED, 1, 1, &hva,
						   NULL), -EINVAL);
	assert_int_equal(uiommu_gntshr_share_pages(p->gs, BE, 2, NULL, 1, &hva), -EINVAL);
	assert_int_equal(uiommu_gntshr_share_pages(p->gs, BE, 0, refs, 1, &hva), -EINVAL);
	assert_int_equal(uiommu_gntshr_share_pages(p->gs, FE, 2, refs, 1, &hva), -EINVAL);
	assert_int_equal(uiommu_gntshr_share_pages(p->gs, BE, 249, refs, 1, &hva), -ENOSPC);

	/* The frame limit. */
	assert_int_equal(uiommu_ctx_set_limit(p->fe_ctx, UIOMMU_RES_FRAME_BYTES,
					      ctx_usage(p->fe_ctx, UIOMMU_RES_FRAME_BYTES) + PAGE), 0);
	assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, 2, 1, &hva, NULL), -ENOMEM);
	assert_int_equal(uiommu_gntshr_share_pages(p->gs, BE, 2, refs, 1, &hva), -ENOMEM);
	assert_int_equal(ctx_usage(p->fe_ctx, UIOMMU_RES_GRANTS), 0);
	assert_int_equal(uiommu_ctx_set_limit(p->fe_ctx, UIOMMU_RES_FRAME_BYTES, 1ULL << 30), 0);

	/* A share is unshared whole, and only through unshare. */
	assert_int_equal(uiommu_gntshr_share_pages(p->gs, BE, 2, refs, 1, &hva), 0);
	assert_int_equal(uiommu_gntshr_free_pages(p->gs, hva), -ENOENT);
	assert_int_equal(uiommu_gntshr_unshare(p->gs, hva, 1), -EINVAL);
	assert_int_equal(uiommu_gntshr_unshare(p->gs, (char *)hva + PAGE, 1), -ENOENT);
	assert_int_equal(uiommu_gntshr_unshare(p->gs, hva, 2), 0);
	assert_int_equal(uiommu_gntshr_unshare(p->gs, hva, 2), -ENOENT);
}

/* Pinned shareable pages cannot be freed (as any host frame). */
static void test_pinned_pages(void **state)
{
	struct pair *p = *state;
	struct uiommu_ctx_config cfg = { .size = sizeof(cfg), .flags = UIOMMU_CTX_PIN_SIMULATE };
	struct uiommu_ctx *ctx;
	struct uiommu_gntshr *gs;
	void *hva;

	(void)p;
	assert_int_equal(uiommu_ctx_new(&cfg, &ctx), 0);
	assert_int_equal(uiommu_gntshr_new(ctx, FE, 64, &gs), 0);
	assert_int_equal(uiommu_gntshr_alloc_pages(gs, BE, 2, 1, &hva, NULL), 0);
	assert_int_equal(uiommu_pin(ctx, (char *)hva + PAGE, PAGE, NULL), 0);
	assert_int_equal(uiommu_gntshr_free_pages(gs, hva), -EBUSY);
	assert_int_equal(uiommu_unpin(ctx, (char *)hva + PAGE, PAGE), 0);
	assert_int_equal(uiommu_gntshr_free_pages(gs, hva), 0);
	/* Freed while pending, pinned when the peer let go: the table's free gets them. */
	assert_int_equal(uiommu_gntshr_free(gs), 0);
	test_ctx_free(ctx);
}

/* ---- the table and its connections ---- */

static void test_table_errors(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_gntshr *gs, *more[2];
	uint32_t head;
	void *hva;
	int fd;

	(void)state;
	assert_int_equal(uiommu_gntshr_new(NULL, FE, 64, &gs), -EINVAL);
	assert_int_equal(uiommu_gntshr_new(ctx, FE, 64, NULL), -EINVAL);
	assert_int_equal(uiommu_gntshr_new(ctx, UIOMMU_DOMID_FIRST_RESERVED, 64, &gs), -EINVAL);
	assert_int_equal(uiommu_gntshr_new(ctx, FE, 8, &gs), -EINVAL);
	assert_int_equal(uiommu_gntshr_new(ctx, FE, UIOMMU_GNTTAB_MAX_ENTRIES + 1, &gs), -EINVAL);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_GRANT_TABLES, 2), 0);
	assert_int_equal(uiommu_gntshr_new(ctx, FE, 9, &more[0]), 0);
	assert_int_equal(uiommu_gntshr_new(ctx, FE, UIOMMU_GNTTAB_MAX_ENTRIES, &more[1]), 0);
	assert_int_equal(uiommu_gntshr_new(ctx, FE, 64, &gs), -ENOSPC);
	assert_int_equal(uiommu_gntshr_domid(more[0]), FE);
	assert_int_equal(uiommu_gntshr_free(more[0]), 0);
	assert_int_equal(uiommu_gntshr_free(more[1]), 0);
	assert_int_equal(uiommu_gntshr_free(NULL), 0);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_FRAME_BYTES, PAGE), 0);
	assert_int_equal(uiommu_gntshr_new(ctx, FE, 1024, &gs), -ENOMEM);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_FRAME_BYTES, 1ULL << 30), 0);

	/* Freeing a table in use does nothing. */
	assert_int_equal(uiommu_gntshr_new(ctx, FE, 64, &gs), 0);
	assert_int_equal(uiommu_gntshr_alloc_grant_references(gs, 1, &head), 0);
	assert_int_equal(uiommu_gntshr_free(gs), -EBUSY);
	assert_int_equal(uiommu_gntshr_free_grant_references(gs, head), 0);
	assert_int_equal(uiommu_gntshr_alloc_pages(gs, BE, 1, 1, &hva, NULL), 0);
	assert_int_equal(uiommu_gntshr_free(gs), -EBUSY);
	assert_int_equal(uiommu_gntshr_free_pages(gs, hva), 0);

	/* Connections. */
	assert_int_equal(uiommu_gntshr_connect(gs, BE, NULL), -EINVAL);
	assert_int_equal(uiommu_gntshr_connect(gs, FE, &fd), -EINVAL);
	assert_int_equal(uiommu_gntshr_connect(gs, UIOMMU_DOMID_FIRST_RESERVED, &fd), -EINVAL);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_GRANT_PEERS, 1), 0);
	assert_int_equal(uiommu_gntshr_connect(gs, BE, &fd), 0);
	assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_int_equal(uiommu_gntshr_connect(gs, BE, &fd), -EEXIST);
	assert_int_equal(uiommu_gntshr_connect(gs, 3, &fd), -ENOSPC);
	assert_int_equal(uiommu_gntshr_disconnect(gs, BE), 0);
	assert_int_equal(uiommu_gntshr_disconnect(gs, BE), -ENOENT);
	close(fd);
	assert_int_equal(uiommu_gntshr_connect(gs, BE, &fd), 0);
	close(fd); /* the thread sees the hang-up; free waits for it */
	assert_int_equal(uiommu_gntshr_free(gs), 0);
	test_ctx_free(ctx);
}

/* Out of descriptors: memfds, sockets. */
static void test_emfile(void **state)
{
	struct pair *p = *state;
	struct rlimit old, low;
	uint32_t refs[1];
	void *hva;
	int fd;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	fd = dup(0);
	assert_true(fd >= 0);
	close(fd);
	low = old;
	low.rlim_cur = (rlim_t)fd; /* the lowest free descriptor is the first refused */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, 1, 1, &hva, NULL), -EMFILE);
	assert_int_equal(uiommu_gntshr_share_pages(p->gs, BE, 1, refs, 1, &hva), -EMFILE);
	assert_int_equal(uiommu_gntshr_connect(p->gs, 3, &fd), -EMFILE);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	{
		struct uiommu_gntshr *gs;

		assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
		assert_int_equal(uiommu_gntshr_new(p->fe_ctx, 5, 64, &gs), -EMFILE);
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	}
	assert_int_equal(ctx_usage(p->fe_ctx, UIOMMU_RES_GRANTS), 0);
}

static void test_gnttab_errors(void **state)
{
	struct pair *p = *state;
	struct uiommu_gnttab *gt, *more;
	struct uiommu_grant_entry_v1 e;
	int sv[2], fd;

	assert_int_equal(uiommu_gnttab_open(NULL, &gt), -EINVAL);
	assert_int_equal(uiommu_gnttab_open(p->be_ctx, NULL), -EINVAL);
	assert_int_equal(uiommu_ctx_set_limit(p->be_ctx, UIOMMU_RES_GRANT_TABLES, 2), 0);
	assert_int_equal(uiommu_gnttab_open(p->be_ctx, &gt), 0);
	assert_int_equal(uiommu_gnttab_open(p->be_ctx, &more), -ENOSPC);
	assert_int_equal(uiommu_ctx_set_limit(p->be_ctx, UIOMMU_RES_GRANT_TABLES, 64), 0);
	assert_int_equal(uiommu_gnttab_set_timeout(gt, -2), -EINVAL);
	assert_int_equal(uiommu_gnttab_set_timeout(gt, 50), 0);

	/* Not a socket, not open. */
	assert_int_equal(uiommu_gnttab_attach(gt, -1, NULL), -EBADF);
	fd = memfd_create("not-a-socket", MFD_CLOEXEC);
	assert_int_equal(uiommu_gnttab_attach(gt, fd, NULL), -EBADF);
	assert_int_equal(fcntl(fd, F_GETFD), -1); /* taken over: closed */
	/* Nothing comes. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(uiommu_gnttab_attach(gt, sv[0], NULL), -ETIMEDOUT);
	/* A malformed greeting, and one without the table. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv + 0), 0);
	assert_int_equal(write(sv[1], "hello", 5), 5);
	assert_int_equal(uiommu_gnttab_attach(gt, sv[0], NULL), -EPROTO);
	close(sv[1]);
	{
		struct {
			uint32_t op, seq, count, version;
			uint16_t granter, peer;
			uint32_t nr;
		} h = { 1, 0, 1, 1, FE, BE, 64 };
		int pair2[2];

		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pair2), 0);
		assert_int_equal(write(pair2[1], &h, sizeof(h)), (ssize_t)sizeof(h));
		assert_int_equal(uiommu_gnttab_attach(gt, pair2[0], NULL), -EPROTO);
		close(pair2[1]);
	}
	/* The same granting domain twice. */
	assert_int_equal(uiommu_gntshr_disconnect(p->gs, BE), 0);
	assert_int_equal(uiommu_gntshr_connect(p->gs, BE, &fd), 0);
	assert_int_equal(uiommu_gnttab_attach(gt, fd, NULL), 0);
	assert_int_equal(uiommu_gntshr_connect(p->gs, 3, &fd), 0);
	assert_int_equal(uiommu_gnttab_attach(gt, fd, NULL), -EEXIST);
	/* The refused descriptor is closed: the granter drops it, or we do. */
	assert_true(uiommu_gntshr_disconnect(p->gs, 3) <= 0);
	/* The peers limit. */
	{
		struct uiommu_gntshr *gs2;

		assert_int_equal(uiommu_gntshr_new(p->fe_ctx, 7, 64, &gs2), 0);
		assert_int_equal(uiommu_gntshr_connect(gs2, BE, &fd), 0);
		assert_int_equal(uiommu_ctx_set_limit(p->be_ctx, UIOMMU_RES_GRANT_PEERS, 2), 0);
		assert_int_equal(uiommu_gnttab_attach(gt, fd, NULL), -ENOSPC);
		assert_int_equal(uiommu_ctx_set_limit(p->be_ctx, UIOMMU_RES_GRANT_PEERS, 1024), 0);
		assert_int_equal(uiommu_gntshr_free(gs2), 0);
	}
	/* Entries. */
	assert_int_equal(uiommu_gnttab_read_entry(gt, FE, 0, NULL), -EINVAL);
	assert_int_equal(uiommu_gnttab_read_entry(gt, 9, 0, &e), -ENOENT);
	assert_int_equal(uiommu_gnttab_read_entry(gt, FE, 256, &e), -ERANGE);
	assert_int_equal(uiommu_gnttab_read_entry(gt, FE, 255, &e), 0);
	assert_int_equal(uiommu_gnttab_close(gt), 0);
	assert_int_equal(uiommu_gnttab_close(NULL), 0);
	/* Our own handle lost its connection above: give it a new one. */
	pair_attach(p);
}

/* The peer's table is read-only for it, and cannot be made writable. */
static void test_table_is_read_only(void **state)
{
	struct pair *p = *state;
	struct {
		uint32_t op, seq, count, version;
		uint16_t granter, peer;
		uint32_t nr;
	} h;
	int fd, table_fd;
	void *m;

	/* Receive the greeting as a hostile peer would, without the library. */
	assert_int_equal(uiommu_gntshr_connect(p->gs, 3, &fd), 0);
	assert_int_equal(test_recv_fd(fd, &h, sizeof(h), &table_fd), (ssize_t)sizeof(h));
	assert_true(table_fd >= 0);
	assert_int_equal(h.nr, 256);
	assert_ptr_equal(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, table_fd, 0),
			 MAP_FAILED);
	m = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, table_fd, 0);
	assert_ptr_not_equal(m, MAP_FAILED);
	assert_int_equal(mprotect(m, PAGE, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(write(table_fd, "x", 1), -1);
	assert_int_equal(ftruncate(table_fd, 0), -1);
	assert_int_equal(fcntl(table_fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	munmap(m, PAGE);
	close(table_fd);
	assert_int_equal(uiommu_gntshr_disconnect(p->gs, 3), 0);
	close(fd);
}

/* ---- mapping: every status ---- */

static void test_map_statuses(void **state)
{
	struct pair *p = *state;
	uint32_t refs[1], ro_refs[1], other_refs[1];
	void *rw, *ro, *other, *addr;
	uint32_t h;

	assert_int_equal(uiommu_gntshr_share_pages(p->gs, BE, 1, refs, 1, &rw), 0);
	assert_int_equal(uiommu_gntshr_share_pages(p->gs, BE, 1, ro_refs, 0, &ro), 0);
	assert_int_equal(uiommu_gntshr_share_pages(p->gs, 3, 1, other_refs, 1, &other), 0);

	assert_int_equal(map1(p, 256, UIOMMU_GNTMAP_HOST_MAP, NULL, NULL),
			 UIOMMU_GNTST_BAD_GNTREF);
	assert_int_equal(map1(p, UINT32_MAX, UIOMMU_GNTMAP_HOST_MAP, NULL, NULL),
			 UIOMMU_GNTST_BAD_GNTREF);
	assert_int_equal(map1(p, refs[0], 0, NULL, NULL), UIOMMU_GNTST_BAD_GNTREF);
	assert_int_equal(map1(p, refs[0], UIOMMU_GNTMAP_READONLY, NULL, NULL),
			 UIOMMU_GNTST_BAD_GNTREF);
	assert_int_equal(map1(p, refs[0], UIOMMU_GNTMAP_HOST_MAP | UIOMMU_GNTMAP_DEVICE_MAP, NULL,
			      NULL), UIOMMU_GNTST_GENERAL_ERROR);
	assert_int_equal(map1(p, refs[0], UIOMMU_GNTMAP_HOST_MAP | (1u << 9), NULL, NULL),
			 UIOMMU_GNTST_GENERAL_ERROR);
	/* Granted to another domain; never granted; a writable map of a read-only grant. */
	assert_int_equal(map1(p, other_refs[0], UIOMMU_GNTMAP_HOST_MAP, NULL, NULL),
			 UIOMMU_GNTST_GENERAL_ERROR);
	assert_int_equal(map1(p, 200, UIOMMU_GNTMAP_HOST_MAP, NULL, NULL),
			 UIOMMU_GNTST_GENERAL_ERROR);
	assert_int_equal(map1(p, ro_refs[0], UIOMMU_GNTMAP_HOST_MAP, NULL, NULL),
			 UIOMMU_GNTST_GENERAL_ERROR);
	assert_int_equal(uiommu_gntshr_query_foreign_access(p->gs, ro_refs[0]), 0);
	/* Where there is no connection, and at a misaligned address. */
	{
		struct uiommu_gnttab_map_op op = { .flags = UIOMMU_GNTMAP_HOST_MAP, .ref = refs[0],
						   .dom = 9 };

		assert_int_equal(uiommu_gnttab_map_refs(p->gt, &op, 1), 0);
		assert_int_equal(op.status, UIOMMU_GNTST_BAD_DOMAIN);
		op.dom = FE;
		op.host_addr = (char *)rw + 1;
		assert_int_equal(uiommu_gnttab_map_refs(p->gt, &op, 1), 0);
		assert_int_equal(op.status, UIOMMU_GNTST_BAD_VIRT_ADDR);
	}
	assert_int_equal(uiommu_gnttab_map_refs(p->gt, NULL, 1), -EINVAL);
	assert_int_equal(uiommu_gnttab_map_refs(p->gt, NULL, 0), 0);
	assert_int_equal(uiommu_gnttab_unmap_refs(p->gt, NULL, 1), -EINVAL);
	assert_int_equal(uiommu_gnttab_unmap_refs(p->gt, NULL, 0), 0);

	/* A read-only map of a read-only grant: reading works, writing is impossible. */
	assert_int_equal(map1(p, ro_refs[0], UIOMMU_GNTMAP_HOST_MAP | UIOMMU_GNTMAP_READONLY, &addr,
			      &h), UIOMMU_GNTST_OKAY);
	assert_int_equal(uiommu_gntshr_query_foreign_access(p->gs, ro_refs[0]), UIOMMU_GTF_READING);
	strcpy(ro, "read me");
	assert_string_equal(addr, "read me");
	assert_int_equal(mprotect(addr, PAGE, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(unmap1(p, h, (char *)addr + PAGE), UIOMMU_GNTST_BAD_VIRT_ADDR);
	assert_int_equal(unmap1(p, h, addr), UIOMMU_GNTST_OKAY);
	assert_int_equal(unmap1(p, h, NULL), UIOMMU_GNTST_BAD_HANDLE);
	assert_int_equal(unmap1(p, 12345, NULL), UIOMMU_GNTST_BAD_HANDLE);
	assert_int_equal(uiommu_gntshr_query_foreign_access(p->gs, ro_refs[0]), 0);

	/* Read-only and read-write maps of one grant: writing goes with the last writer. */
	{
		void *a1, *a2;
		uint32_t h1, h2;

		assert_int_equal(map1(p, refs[0], UIOMMU_GNTMAP_HOST_MAP | UIOMMU_GNTMAP_READONLY,
				      &a1, &h1), 0);
		assert_int_equal(map1(p, refs[0], UIOMMU_GNTMAP_HOST_MAP, &a2, &h2), 0);
		assert_int_equal(uiommu_gntshr_query_foreign_access(p->gs, refs[0]),
				 UIOMMU_GTF_READING | UIOMMU_GTF_WRITING);
		assert_int_equal(unmap1(p, h2, NULL), 0);
		assert_int_equal(uiommu_gntshr_query_foreign_access(p->gs, refs[0]),
				 UIOMMU_GTF_READING);
		assert_int_equal(unmap1(p, h1, NULL), 0);
		assert_int_equal(uiommu_gntshr_query_foreign_access(p->gs, refs[0]), 0);
	}
	/* A contiguous mapping fails whole, and says why. */
	{
		uint32_t two[2] = { refs[0], other_refs[0] };
		int16_t st[2];
		void *m = NULL;

		assert_int_equal(uiommu_gnttab_map_domain_grant_refs(p->gt, 2, FE, two,
								     PROT_READ | PROT_WRITE, st, &m),
				 -ENXIO);
		assert_int_equal(st[0], UIOMMU_GNTST_OKAY);
		assert_int_equal(st[1], UIOMMU_GNTST_GENERAL_ERROR);
		assert_null(m);
		assert_int_equal(uiommu_gntshr_query_foreign_access(p->gs, refs[0]), 0);
		assert_int_equal(ctx_usage(p->be_ctx, UIOMMU_RES_GRANT_MAPS), 0);
		assert_int_equal(uiommu_gnttab_map_domain_grant_refs(p->gt, 0, FE, two, PROT_READ,
								     NULL, &m), -EINVAL);
		assert_int_equal(uiommu_gnttab_map_domain_grant_refs(p->gt, 1, FE, two, PROT_WRITE,
								     NULL, &m), -EINVAL);
		assert_int_equal(uiommu_gnttab_map_domain_grant_refs(p->gt, 1, FE, two, PROT_READ,
								     NULL, NULL), -EINVAL);
		assert_int_equal(uiommu_gnttab_map_grant_refs(p->gt, 1, NULL, two, PROT_READ, NULL,
							      &m), -EINVAL);
		assert_int_equal(uiommu_gnttab_map_domain_grant_refs(p->gt, 1, FE, refs, PROT_READ,
								     NULL, &m), 0);
		/* Its pages are not single mappings, and it is unmapped whole. */
		assert_int_equal(uiommu_gnttab_unmap(p->gt, m, 2), -EINVAL);
		assert_int_equal(uiommu_gnttab_unmap(p->gt, (char *)m + PAGE, 1), -EINVAL);
		assert_int_equal(uiommu_gnttab_unmap(p->gt, m, 1), 0);
		assert_int_equal(uiommu_gnttab_unmap(p->gt, m, 1), -EINVAL);
	}
	assert_int_equal(uiommu_gntshr_unshare(p->gs, rw, 1), 0);
	assert_int_equal(uiommu_gntshr_unshare(p->gs, ro, 1), 0);
	assert_int_equal(uiommu_gntshr_unshare(p->gs, other, 1), 0);
}

/* A map at the caller's own address replaces its page; unmapping leaves it reserved. */
static void test_map_at_caller_address(void **state)
{
	struct pair *p = *state;
	char *mine = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct uiommu_gnttab_map_op op[2];
	uint32_t refs[2];
	char *fe;

	assert_int_equal(uiommu_gntshr_share_pages(p->gs, BE, 2, refs, 1, (void **)&fe), 0);
	strcpy(fe, "zero");
	strcpy(fe + PAGE, "one");
	for (int i = 0; i < 2; i++)
		op[i] = (struct uiommu_gnttab_map_op){ .host_addr = mine + i * PAGE,
						       .flags = UIOMMU_GNTMAP_HOST_MAP,
						       .ref = refs[i], .dom = FE };
	assert_int_equal(uiommu_gnttab_map_refs(p->gt, op, 2), 0);
	assert_int_equal(op[0].status, 0);
	assert_int_equal(op[1].status, 0);
	assert_ptr_equal(op[0].host_addr, mine);
	assert_string_equal(mine + PAGE, "one");
	{
		struct uiommu_gnttab_unmap_op u[2] = { { .handle = op[0].handle },
						       { .handle = op[1].handle } };

		assert_int_equal(uiommu_gnttab_unmap_refs(p->gt, u, 2), 0);
		assert_int_equal(u[0].status, 0);
		assert_int_equal(u[1].status, 0);
	}
	/* Still reserved, now inaccessible: mprotect works on it, nothing else maps there. */
	assert_int_equal(mprotect(mine, 2 * PAGE, PROT_READ), 0);
	assert_int_equal(mine[0], 0);
	munmap(mine, 2 * PAGE);
	assert_int_equal(uiommu_gntshr_unshare(p->gs, fe, 2), 0);
}

/* Many references in one call: more than one request, neighbours in one mmap. */
static void test_map_many(void **state)
{
	struct pair *p = *state;
	uint32_t refs[200];
	int16_t st[200];
	char *fe, *be;

	assert_int_equal(uiommu_gntshr_share_pages(p->gs, BE, 200, refs, 1, (void **)&fe), 0);
	for (int i = 0; i < 200; i++)
		fe[i * PAGE] = (char)i;
	assert_int_equal(uiommu_gnttab_map_domain_grant_refs(p->gt, 200, FE, refs, PROT_READ, st,
							     (void **)&be), 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(be[i * PAGE], (char)i);
	assert_int_equal(uiommu_gnttab_unmap(p->gt, be, 200), 0);
	/* In reverse: no two neighbours merge. */
	for (int i = 0; i < 100; i++) {
		uint32_t t = refs[i];

		refs[i] = refs[199 - i];
		refs[199 - i] = t;
	}
	assert_int_equal(uiommu_gnttab_map_domain_grant_refs(p->gt, 200, FE, refs, PROT_READ, st,
							     (void **)&be), 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(be[i * PAGE], (char)(199 - i));
	assert_int_equal(uiommu_gnttab_unmap(p->gt, be, 200), 0);
	assert_int_equal(uiommu_gntshr_unshare(p->gs, fe, 200), 0);
}

/* ---- limits ---- */

static void test_map_limits(void **state)
{
	struct pair *p = *state;
	uint32_t refs[3];
	int16_t st[3];
	void *fe, *m;

	assert_int_equal(uiommu_gntshr_share_pages(p->gs, BE, 3, refs, 1, &fe), 0);
	/* Here: the mapper's own limit. */
	assert_int_equal(uiommu_ctx_set_limit(p->be_ctx, UIOMMU_RES_GRANT_MAPS, 2), 0);
	test_log_reset();
	assert_int_equal(uiommu_gnttab_map_domain_grant_refs(p->gt, 3, FE, refs, PROT_READ, st, &m),
			 -ENXIO);
	assert_int_equal(st[2], UIOMMU_GNTST_NO_SPACE);
	assert_true(test_log_contains("grant_maps"));
	assert_int_equal(uiommu_ctx_set_limit(p->be_ctx, UIOMMU_RES_GRANT_MAPS, 1000), 0);
	/* There: the granting side's maptrack for this peer. */
	assert_int_equal(uiommu_ctx_set_limit(p->fe_ctx, UIOMMU_RES_GRANT_MAPS, 1), 0);
	assert_int_equal(uiommu_gnttab_map_domain_grant_refs(p->gt, 3, FE, refs, PROT_READ, st, &m),
			 -ENXIO);
	assert_int_equal(st[0], UIOMMU_GNTST_OKAY);
	assert_int_equal(st[1], UIOMMU_GNTST_NO_SPACE);
	assert_int_equal(ctx_usage(p->fe_ctx, UIOMMU_RES_GRANT_MAPS), 0);
	assert_int_equal(ctx_usage(p->be_ctx, UIOMMU_RES_GRANT_MAPS), 0);
	assert_int_equal(uiommu_ctx_set_limit(p->fe_ctx, UIOMMU_RES_GRANT_MAPS, 1000), 0);
	assert_int_equal(uiommu_gntshr_unshare(p->gs, fe, 3), 0);

	/* References: the grants limit names itself. */
	assert_int_equal(uiommu_ctx_set_limit(p->fe_ctx, UIOMMU_RES_GRANTS, 2), 0);
	test_log_reset();
	assert_int_equal(uiommu_gntshr_share_pages(p->gs, BE, 3, refs, 1, &fe), -ENOSPC);
	assert_true(test_log_contains("grants limit"));
	assert_int_equal(uiommu_ctx_set_limit(p->fe_ctx, UIOMMU_RES_GRANTS, 65536), 0);
}

/* ---- XSA-396: ending access to what the peer still maps ---- */

static void test_end_access_while_mapped(void **state)
{
	struct pair *p = *state;
	uint64_t frame;
	uint32_t h;
	char *fe, *be;
	void *fresh;
	int ref;

	assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, 1, 1, (void **)&fe, &frame), 0);
	ref = uiommu_gntshr_grant_foreign_access(p->gs, BE, frame, 0);
	strcpy(fe, "granted data");
	assert_int_equal(map1(p, (uint32_t)ref, UIOMMU_GNTMAP_HOST_MAP, (void **)&be, &h), 0);

	/* Try-ends change nothing while it is mapped. */
	assert_int_equal(uiommu_gntshr_end_foreign_access_ref(p->gs, (uint32_t)ref), -EBUSY);
	assert_int_equal(uiommu_gntshr_try_end_foreign_access(p->gs, (uint32_t)ref), -EBUSY);
	assert_int_equal(entry_flags(p, (uint32_t)ref),
			 UIOMMU_GTF_PERMIT_ACCESS | UIOMMU_GTF_READING | UIOMMU_GTF_WRITING);
	/* The deferred end: pending, counted, the reference and the page kept. */
	assert_int_equal(uiommu_gntshr_end_foreign_access(p->gs, (uint32_t)ref), 1);
	assert_int_equal(pending(p->gs), 1);
	assert_int_equal(ctx_counter(p->fe_ctx, UIOMMU_COUNTER_GRANTS_PENDING), 1);
	assert_int_equal(uiommu_gntshr_free_pages(p->gs, fe), 0);
	assert_int_equal(ctx_usage(p->fe_ctx, UIOMMU_RES_GRANTS), 1);
	/* A pending reference takes no new mapping. */
	assert_int_equal(map1(p, (uint32_t)ref, UIOMMU_GNTMAP_HOST_MAP, NULL, NULL),
			 UIOMMU_GNTST_GENERAL_ERROR);
	/* The frontend reuses memory: what the backend maps is still the old page. */
	assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, 1, 1, &fresh, NULL), 0);
	strcpy(fresh, "secret");
	assert_string_equal(be, "granted data");

	/* The backend lets go: access ends, the reference and the page are freed. */
	assert_int_equal(unmap1(p, h, be), 0);
	assert_int_equal(pending(p->gs), 0);
	assert_int_equal(ctx_counter(p->fe_ctx, UIOMMU_COUNTER_GRANTS_PENDING), 0);
	assert_int_equal(entry_flags(p, (uint32_t)ref), 0);
	assert_int_equal(ctx_usage(p->fe_ctx, UIOMMU_RES_GRANTS), 0);
	assert_int_equal(uiommu_gntshr_free_pages(p->gs, fresh), 0);
}

/*
 * A backend that keeps its mapping while the frontend thinks it is gone (a
 * lie, or a disconnect): the frontend frees and reuses the memory, and the
 * backend's mapping never shows what the frontend writes there.
 */
static void test_kept_mapping_never_sees_reuse(void **state)
{
	struct pair *p = *state;
	uint32_t refs[4];
	char *fe, *be;
	int16_t st[4];

	assert_int_equal(uiommu_gntshr_share_pages(p->gs, BE, 4, refs, 1, (void **)&fe), 0);
	memset(fe, 'g', 4 * PAGE);
	assert_int_equal(uiommu_gnttab_map_domain_grant_refs(p->gt, 4, FE, refs,
							     PROT_READ | PROT_WRITE, st, (void **)&be), 0);
	assert_int_equal(uiommu_gntshr_unshare(p->gs, fe, 4), 4);
	assert_int_equal(pending(p->gs), 4);
	/* The frontend drops the peer (say it crashed): everything is revoked and freed. */
	assert_int_equal(uiommu_gntshr_disconnect(p->gs, BE), 0);
	assert_int_equal(pending(p->gs), 0);
	assert_int_equal(ctx_usage(p->fe_ctx, UIOMMU_RES_GRANTS), 0);
	assert_int_equal(ctx_usage(p->fe_ctx, UIOMMU_RES_GRANT_MAPS), 0);
	/* The same frames, most likely, reused for new data. */
	for (int i = 0; i < 8; i++) {
		char *again;

		assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, 3, 4, 1, (void **)&again, NULL), 0);
		memset(again, 's', 4 * PAGE);
		for (int k = 0; k < 4 * PAGE; k += 512)
			assert_int_equal(be[k], i ? 'w' + (k ? 'g' - 'w' : 0) : 'g');
		be[0] = 'w'; /* and its writes go nowhere the frontend looks */
		assert_int_equal(again[0], 's');
		assert_int_equal(uiommu_gntshr_free_pages(p->gs, again), 0);
	}
	/* The backend cannot tell the granter anything any more; it unmaps locally. */
	assert_int_equal(uiommu_gnttab_unmap(p->gt, be, 4), 0);
	assert_int_equal(ctx_usage(p->be_ctx, UIOMMU_RES_GRANT_MAPS), 0);
	assert_int_equal(map1(p, refs[0], UIOMMU_GNTMAP_HOST_MAP, NULL, NULL),
			 UIOMMU_GNTST_BAD_DOMAIN);
	pair_attach(p);
}

/*
 * The loopback transport (grant_loopback(), for the fuzz driver): requests
 * answered in the caller's thread, the same answers as over the socket,
 * and a disconnected peer is a hung-up one.
 */
static void test_loopback(void **state)
{
	struct pair *p = *state;
	struct uiommu_gnttab *other;
	uint32_t refs[2];
	int16_t st[2];
	char *fe, *be;

	assert_int_equal(uiommu_gnttab_open(p->be_ctx, &other), 0);
	assert_int_equal(grant_loopback(other, p->gs), -ENOENT);
	assert_int_equal(uiommu_gnttab_close(other), 0);
	assert_int_equal(grant_loopback(p->gt, p->gs), 0);

	assert_int_equal(uiommu_gntshr_share_pages(p->gs, BE, 2, refs, 1, (void **)&fe), 0);
	fe[PAGE] = 'f';
	assert_int_equal(uiommu_gnttab_map_domain_grant_refs(p->gt, 2, FE, refs,
							     PROT_READ | PROT_WRITE, st, (void **)&be), 0);
	assert_int_equal(st[0], UIOMMU_GNTST_OKAY);
	assert_int_equal(be[PAGE], 'f');
	be[0] = 'b';
	assert_int_equal(fe[0], 'b');
	assert_int_equal(entry_flags(p, refs[0]) & (UIOMMU_GTF_READING | UIOMMU_GTF_WRITING),
			 UIOMMU_GTF_READING | UIOMMU_GTF_WRITING);
	assert_int_equal(uiommu_gnttab_unmap(p->gt, be, 2), 0);
	assert_int_equal(entry_flags(p, refs[0]) & (UIOMMU_GTF_READING | UIOMMU_GTF_WRITING), 0);
	assert_int_equal(map1(p, 1, UIOMMU_GNTMAP_HOST_MAP, NULL, NULL),
			 UIOMMU_GNTST_GENERAL_ERROR); /* reserved: the granter's answer */

	/* Disconnected: as over a socket the granter closed. */
	assert_int_equal(uiommu_gntshr_disconnect(p->gs, BE), 0);
	assert_int_equal(map1(p, refs[0], UIOMMU_GNTMAP_HOST_MAP, NULL, NULL),
			 UIOMMU_GNTST_BAD_DOMAIN);
	assert_int_equal(uiommu_gntshr_unshare(p->gs, fe, 2), 0);
	assert_int_equal(ctx_usage(p->be_ctx, UIOMMU_RES_GRANT_MAPS), 0);
	pair_attach(p);
}

/* Closing a mapping handle drops everything it mapped, on both sides. */
static void test_close_unmaps(void **state)
{
	struct pair *p = *state;
	uint32_t refs[2], h;
	int16_t st[2];
	void *fe, *m, *one;

	assert_int_equal(uiommu_gntshr_share_pages(p->gs, BE, 2, refs, 1, &fe), 0);
	assert_int_equal(uiommu_gnttab_map_domain_grant_refs(p->gt, 2, FE, refs, PROT_READ, st, &m),
			 0);
	assert_int_equal(map1(p, refs[0], UIOMMU_GNTMAP_HOST_MAP, &one, &h), 0);
	assert_int_equal(uiommu_gnttab_close(p->gt), 0);
	assert_int_equal(ctx_usage(p->be_ctx, UIOMMU_RES_GRANT_MAPS), 0);
	assert_int_equal(ctx_usage(p->be_ctx, UIOMMU_RES_GRANT_PEERS), 0);
	assert_int_equal(uiommu_gntshr_unshare(p->gs, fe, 2), 0);
	assert_int_equal(uiommu_gnttab_open(p->be_ctx, &p->gt), 0);
	/* The granter sees the hang-up (if its thread has not yet): connect again. */
	pair_attach(p);
}

/* ---- a granting side that misbehaves ---- */

struct fake_granter {
	int fd;
	int mode;
};

/* Answer one map request badly, per @mode. */
static void *fake_granter_main(void *arg)
{
	struct fake_granter *f = arg;
	struct {
		uint32_t op, seq, count, version;
		uint32_t body[64];
	} req;
	struct {
		uint32_t op, seq, count, version;
		int16_t status;
		uint16_t fd_index;
		uint32_t handle;
		uint64_t offset;
	} rsp;
	ssize_t n = recv(f->fd, &req, sizeof(req), 0);
	int memfd;

	if (n < 16)
		return NULL;
	memset(&rsp, 0, sizeof(rsp));
	rsp.op = req.op;
	rsp.seq = req.seq;
	rsp.count = req.count;
	rsp.version = req.version;
	switch (f->mode) {
	case 0: /* never answers: the timeout */
		return NULL;
	case 1: /* the wrong sequence number */
		rsp.seq++;
		send(f->fd, &rsp, sizeof(rsp), 0);
		return NULL;
	case 2: /* OK, but an unsealed memfd it could shrink under us */
	case 3: /* OK, a sealed memfd, but the frame is past its end */
		memfd = memfd_create("hostile", MFD_ALLOW_SEALING);
		assert_int_equal(ftruncate(memfd, PAGE), 0);
		if (f->mode == 3) {
			fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
			rsp.offset = PAGE;
		}
		test_send_fd(f->fd, &rsp, sizeof(rsp), memfd);
		close(memfd);
		/* The mapper tells us it could not map it. */
		recv(f->fd, &req, sizeof(req), 0);
		rsp.seq = req.seq;
		rsp.count = req.count;
		rsp.op = req.op;
		send(f->fd, &rsp, 16 + 4, 0);
		return NULL;
	}
	return NULL;
}

static void test_hostile_granter(void **state)
{
	struct pair *p = *state;

	for (int mode = 0; mode < 4; mode++) {
		struct uiommu_gnttab *gt;
		struct fake_granter f = { .mode = mode };
		pthread_t t;
		int sv[2];
		struct {
			uint32_t op, seq, count, version;
			uint16_t granter, peer;
			uint32_t nr;
		} h = { 1, 0, 1, 1, 5, BE, 64 };
		int table = memfd_create("table", MFD_ALLOW_SEALING);
		struct uiommu_gnttab_map_op op = { .flags = UIOMMU_GNTMAP_HOST_MAP, .ref = 9,
						   .dom = 5 };

		assert_int_equal(ftruncate(table, PAGE), 0);
		assert_int_equal(fcntl(table, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
		assert_int_equal(test_send_fd(sv[1], &h, sizeof(h), table), (ssize_t)sizeof(h));
		close(table);
		assert_int_equal(uiommu_gnttab_open(p->be_ctx, &gt), 0);
		assert_int_equal(uiommu_gnttab_set_timeout(gt, 100), 0);
		assert_int_equal(uiommu_gnttab_attach(gt, sv[0], NULL), 0);
		f.fd = sv[1];
		pthread_create(&t, NULL, fake_granter_main, &f);
		assert_int_equal(uiommu_gnttab_map_refs(gt, &op, 1), 0);
		pthread_join(t, NULL);
		/* Never mapped; after a timeout or a bad answer the peer is gone. */
		assert_int_not_equal(op.status, UIOMMU_GNTST_OKAY);
		assert_int_equal(op.status, mode < 2 ? UIOMMU_GNTST_BAD_DOMAIN
						     : UIOMMU_GNTST_GENERAL_ERROR);
		assert_int_equal(ctx_usage(p->be_ctx, UIOMMU_RES_GRANT_MAPS), 0);
		assert_int_equal(uiommu_gnttab_close(gt), 0);
		close(sv[1]);
	}
	assert_int_equal(ctx_usage(p->be_ctx, UIOMMU_RES_GRANT_PEERS), 1);
	test_log_errors = 0;
}

/* A peer that speaks garbage is disconnected, its mappings dropped. */
static void test_hostile_peer_requests(void **state)
{
	struct pair *p = *state;
	static const struct {
		uint32_t len;
		uint32_t words[6];
	} bad[] = {
		{ 3, { 0 } },				/* shorter than a header */
		{ 16, { 2, 1, 0, 7 } },			/* unknown version */
		{ 16, { 9, 1, 0, 1 } },			/* unknown operation */
		{ 16, { 2, 1, 200, 1 } },		/* too many operations */
		{ 20, { 2, 1, 1, 1, 8 } },		/* a map op cut short */
		{ 24, { 3, 1, 1, 1, 0, 0 } },		/* an unmap with a stray word */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t refs[1];
		void *fe;
		char buf[64];
		int fd;

		assert_int_equal(uiommu_gntshr_connect(p->gs, 3, &fd), 0);
		assert_int_equal(uiommu_gntshr_share_pages(p->gs, 3, 1, refs, 1, &fe), 0);
		assert_true(recv(fd, buf, sizeof(buf), 0) > 0); /* the greeting */
		{
			/* A valid map first, so that there is something to drop. */
			uint32_t req[6] = { 2, 1, 1, 1, refs[0], UIOMMU_GNTMAP_HOST_MAP };
			int memfd;

			assert_int_equal(send(fd, req, sizeof(req), 0), (ssize_t)sizeof(req));
			assert_int_equal(test_recv_fd(fd, buf, sizeof(buf), &memfd), 32);
			assert_true(memfd >= 0);
			close(memfd);
			assert_int_equal(uiommu_gntshr_query_foreign_access(p->gs, refs[0]),
					 UIOMMU_GTF_READING | UIOMMU_GTF_WRITING);
		}
		test_log_reset();
		assert_int_equal(send(fd, bad[i].words, bad[i].len, 0), (ssize_t)bad[i].len);
		/* The answer is the hang-up. */
		assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
		assert_true(test_log_contains("disconnected"));
		assert_int_equal(uiommu_gntshr_query_foreign_access(p->gs, refs[0]), 0);
		assert_int_equal(uiommu_gntshr_unshare(p->gs, fe, 1), 0);
		close(fd);
		assert_int_equal(uiommu_gntshr_disconnect(p->gs, 3), -ENOENT);
	}
	/* Descriptors are never accepted from a peer. */
	{
		uint32_t req[4] = { 3, 1, 0, 1 };
		char buf[64];
		int fd, mine = dup(1);

		assert_int_equal(uiommu_gntshr_connect(p->gs, 3, &fd), 0);
		assert_true(recv(fd, buf, sizeof(buf), 0) > 0);
		assert_int_equal(test_send_fd(fd, req, sizeof(req), mine), (ssize_t)sizeof(req));
		assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
		close(fd);
		close(mine);
	}
}

/* ---- fault injection ---- */

/* Fail every fault point of a whole share + connect + map + unmap cycle in turn. */
static void test_fault_loop(void **state)
{
	struct pair *p = *state;

	for (uint64_t nth = 1;; nth++) {
		uint64_t fe_faults, be_faults;
		uint32_t refs[3];
		int16_t st[3];
		void *fe = NULL, *m = NULL;
		int ret;

		assert_int_equal(uiommu_ctx_inject_fault(p->fe_ctx, nth, UIOMMU_FAULT_ALL), 0);
		assert_int_equal(uiommu_ctx_inject_fault(p->be_ctx, nth, UIOMMU_FAULT_ALL), 0);
		ret = uiommu_gntshr_share_pages(p->gs, BE, 3, refs, 1, &fe);
		if (!ret)
			ret = uiommu_gnttab_map_domain_grant_refs(p->gt, 3, FE, refs, PROT_READ, st, &m);
		if (!ret)
			assert_int_equal(uiommu_gnttab_unmap(p->gt, m, 3), 0);
		if (fe)
			assert_int_equal(uiommu_gntshr_unshare(p->gs, fe, 3), 0);
		fe_faults = ctx_counter(p->fe_ctx, UIOMMU_COUNTER_FAULTS_INJECTED);
		be_faults = ctx_counter(p->be_ctx, UIOMMU_COUNTER_FAULTS_INJECTED);
		uiommu_ctx_inject_fault(p->fe_ctx, 0, 0);
		uiommu_ctx_inject_fault(p->be_ctx, 0, 0);
		/* Nothing left behind, whatever failed. */
		assert_int_equal(ctx_usage(p->fe_ctx, UIOMMU_RES_GRANTS), 0);
		assert_int_equal(ctx_usage(p->fe_ctx, UIOMMU_RES_GRANT_MAPS), 0);
		assert_int_equal(ctx_usage(p->be_ctx, UIOMMU_RES_GRANT_MAPS), 0);
		assert_int_equal(pending(p->gs), 0);
		if (ret)
			assert_true(fe_faults + be_faults > 0);
		if (!fe_faults && !be_faults) {
			assert_int_equal(ret, 0);
			break;
		}
		/* A failed request may have cost the connection: make a new one. */
		if (uiommu_gnttab_read_entry(p->gt, FE, 8, &(struct uiommu_grant_entry_v1){ 0 })) {
			uiommu_gntshr_disconnect(p->gs, BE);
			pair_attach(p);
		}
	}
	test_log_errors = 0;
}

/* Tables, connections and attaching under fault injection. */
static void test_fault_loop_setup(void **state)
{
	struct uiommu_ctx *fe = test_ctx_new(), *be = test_ctx_new();

	(void)state;
	for (uint64_t nth = 1;; nth++) {
		struct uiommu_gntshr *gs = NULL;
		struct uiommu_gnttab *gt = NULL;
		uint64_t faults;
		int fd = -1, ret;

		uiommu_ctx_inject_fault(fe, nth, UIOMMU_FAULT_ALL);
		uiommu_ctx_inject_fault(be, nth, UIOMMU_FAULT_ALL);
		ret = uiommu_gntshr_new(fe, FE, 512, &gs);
		if (!ret)
			ret = uiommu_gntshr_connect(gs, BE, &fd);
		if (!ret)
			ret = uiommu_gnttab_open(be, &gt);
		if (!ret) {
			ret = uiommu_gnttab_attach(gt, fd, NULL);
			fd = -1;
		}
		faults = ctx_counter(fe, UIOMMU_COUNTER_FAULTS_INJECTED) +
			 ctx_counter(be, UIOMMU_COUNTER_FAULTS_INJECTED);
		uiommu_ctx_inject_fault(fe, 0, 0);
		uiommu_ctx_inject_fault(be, 0, 0);
		if (fd >= 0)
			close(fd);
		uiommu_gnttab_close(gt);
		assert_int_equal(uiommu_gntshr_free(gs), 0);
		assert_ctx_clean(fe);
		assert_ctx_clean(be);
		if (!faults) {
			assert_int_equal(ret, 0);
			break;
		}
		assert_int_not_equal(ret, 0);
	}
	test_ctx_free(fe);
	test_ctx_free(be);
}

/* ---- a real race: ending access against mapping ---- */

struct racer {
	struct pair *p;
	uint32_t ref;
	_Atomic bool stop;
	_Atomic bool ended;
	_Atomic unsigned long attempts, maps;
	unsigned long maps_after_end;
};

static void *race_mapper(void *arg)
{
	struct racer *r = arg;

	while (!atomic_load(&r->stop)) {
		struct uiommu_gnttab_map_op op = { .flags = UIOMMU_GNTMAP_HOST_MAP, .ref = r->ref,
						   .dom = FE };
		bool ended_before = atomic_load(&r->ended);

		assert_int_equal(uiommu_gnttab_map_refs(r->p->gt, &op, 1), 0);
		atomic_fetch_add(&r->attempts, 1);
		if (op.status == UIOMMU_GNTST_OKAY) {
			struct uiommu_gnttab_unmap_op u = { .handle = op.handle };

			atomic_fetch_add(&r->maps, 1);
			if (ended_before)
				r->maps_after_end++;
			assert_int_equal(uiommu_gnttab_unmap_refs(r->p->gt, &u, 1), 0);
			assert_int_equal(u.status, 0);
		} else {
			assert_int_equal(op.status, UIOMMU_GNTST_GENERAL_ERROR);
		}
	}
	return NULL;
}

static void test_race_end_against_map(void **state)
{
	struct pair *p = *state;

	for (int round = 0; round < 20; round++) {
		struct racer r = { .p = p };
		unsigned long seen;
		uint64_t frame;
		pthread_t t;
		void *fe;
		int ref;

		assert_int_equal(uiommu_gntshr_alloc_pages(p->gs, BE, 1, 1, &fe, &frame), 0);
		ref = uiommu_gntshr_grant_foreign_access(p->gs, BE, frame, 0);
		r.ref = (uint32_t)ref;
		pthread_create(&t, NULL, race_mapper, &r);
		/* Let the mapper in at least once before racing it (waiting for progress, not time). */
		while (!atomic_load(&r.maps))
			sched_yield();
		while (uiommu_gntshr_try_end_foreign_access(p->gs, r.ref) == -EBUSY)
			;
		atomic_store(&r.ended, true);
		/* Exactly one wins each time: once ended, no map can succeed; let it try a few times. */
		seen = atomic_load(&r.attempts);
		while (atomic_load(&r.attempts) < seen + 5)
			sched_yield();
		atomic_store(&r.stop, true);
		pthread_join(t, NULL);
		assert_int_equal(r.maps_after_end, 0);
		assert_int_equal(uiommu_gntshr_query_foreign_access(p->gs, r.ref), 0);
		assert_int_equal(ctx_usage(p->fe_ctx, UIOMMU_RES_GRANT_MAPS), 0);
		assert_int_equal(uiommu_gntshr_free_pages(p->gs, fe), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_share_map_roundtrip, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_pages_are_host_frames, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_batches, pair_setup, pair_teardown),
		cmocka_unit_test(test_batch_past_u16),
		cmocka_unit_test_setup_teardown(test_reserved_refs, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_grant_errors, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_pages_errors, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_spare_pages, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_pinned_pages, pair_setup, pair_teardown),
		cmocka_unit_test(test_table_errors),
		cmocka_unit_test_setup_teardown(test_emfile, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_gnttab_errors, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_table_is_read_only, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_map_statuses, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_map_at_caller_address, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_map_many, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_map_limits, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_end_access_while_mapped, pair_setup,
						pair_teardown),
		cmocka_unit_test_setup_teardown(test_kept_mapping_never_sees_reuse, pair_setup,
						pair_teardown),
		cmocka_unit_test_setup_teardown(test_close_unmaps, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_loopback, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_granter, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_peer_requests, pair_setup,
						pair_teardown),
		cmocka_unit_test_setup_teardown(test_fault_loop, pair_setup, pair_teardown),
		cmocka_unit_test(test_fault_loop_setup),
		cmocka_unit_test_setup_teardown(test_race_end_against_map, pair_setup, pair_teardown),
	};

	test_require_memfd();
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
