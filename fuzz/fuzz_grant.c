// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fuzz driver: grant tables and page-directory buffers from both sides
 * (a granting domain 1 and a mapping domain 2, connected as two processes
 * would be) against a model of every reference, page allocation and
 * mapping: allocate and free shareable pages, grant, end access (now,
 * try, deferred), reserve/claim/free batches, share and unshare, map and
 * unmap, disconnect the peer, whole shared-buffer cycles in both modes,
 * and a fault injected into the next operation on either side.
 *
 * After every operation: each entry's GTF_reading / GTF_writing bits, the
 * pending count and every usage agree with the model; a mapped page still
 * holds what the granting side put in it (no page is freed while mapped).
 * At the end everything is torn down and both contexts are clean: every
 * reference returned, nothing leaked.
 *
 * Each operation is 4 bytes: op, a, b, c. FUZZ_GRANT_TRACE=1 prints them.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include <uiommu/uiommu.h>

#include "fuzz.h"

#define FE 1
#define BE 2
#define OTHER 3
#define NR_ENTRIES 2048
#define PAGE 4096
#define MAX_POOLS 8
#define MAX_MAPS 16
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

enum { REF_FREE, REF_CLAIMED, REF_GRANTED, REF_PENDING };

struct m_pool {
	bool live;	/* allocated, not freed by its owner */
	char *hva;
	uint64_t frame;
	uint32_t npages;
	uint16_t domid;
	bool writable;
	bool share;
	uint32_t share_refs[4]; /* a share's own references (others may grant its frames too) */
};

struct m_ref {
	int state;
	int pool;	/* granted or pending */
	uint32_t page;
	bool ro;
	uint16_t domid;
	uint32_t pin_ro, pin_rw;
};

struct m_map {
	bool live;
	bool dead; /* the granting side forgot it (disconnect): local only */
	uint32_t handle, ref;
	bool rw;
	char *addr;
};

struct world {
	struct uiommu_ctx *fe, *be;
	struct uiommu_gntshr *gs, *be_gs;
	struct uiommu_gnttab *gt, *fe_gt;
	struct m_pool pools[MAX_POOLS];
	struct m_ref refs[NR_ENTRIES];
	struct m_map maps[MAX_MAPS];
	uint64_t pending;
	bool detached; /* disconnected; attach again (a fault may have refused it) */
	uint32_t hw;   /* above every reference the model has seen (they come in order) */
};

static uint64_t usage(struct uiommu_ctx *ctx, enum uiommu_resource r)
{
	uint64_t v = 0;

	uiommu_ctx_get_usage(ctx, r, &v);
	return v;
}

static uint64_t faults(struct world *w)
{
	uint64_t a = 0, b = 0;

	uiommu_ctx_get_counter(w->fe, UIOMMU_COUNTER_FAULTS_INJECTED, &a);
	uiommu_ctx_get_counter(w->be, UIOMMU_COUNTER_FAULTS_INJECTED, &b);
	return a + b;
}

static int try_attach(struct uiommu_gntshr *gs, uint16_t peer, struct uiommu_gnttab *gt)
{
	int fd, ret = uiommu_gntshr_connect(gs, peer, &fd);

	if (!ret)
		ret = uiommu_gnttab_attach(gt, fd, NULL);
	if (ret) /* a connection the mapper did not take is dropped at once */
		uiommu_gntshr_disconnect(gs, peer);
	return ret;
}

static void attach(struct uiommu_gntshr *gs, uint16_t peer, struct uiommu_gnttab *gt)
{
	FUZZ_CHECK(!try_attach(gs, peer, gt), "connect and attach");
}

/* Stamp each page of a pool with its frame number. */
static void stamp(struct m_pool *p)
{
	for (uint32_t i = 0; i < p->npages; i++)
		memcpy(p->hva + (size_t)i * PAGE, &(uint64_t){ p->frame + i }, sizeof(uint64_t));
}

static int free_pool_slot(struct world *w)
{
	for (int i = 0; i < MAX_POOLS; i++)
		if (!w->pools[i].live && !w->pools[i].hva)
			return i;
	return -1;
}

/* Does any reference (granted or pending) still hold pool @i? */
static bool pool_held(const struct world *w, int i)
{
	for (int r = 0; r < NR_ENTRIES; r++)
		if ((w->refs[r].state == REF_GRANTED || w->refs[r].state == REF_PENDING) &&
		    w->refs[r].pool == i)
			return true;
	return false;
}

/* A freed pool whose last reference went is gone: its slot is free again. */
static void pool_maybe_gone(struct world *w, int i)
{
	if (i >= 0 && !w->pools[i].live && !pool_held(w, i))
		w->pools[i] = (struct m_pool){ 0 };
}

static void ref_release(struct world *w, uint32_t ref)
{
	int pool = w->refs[ref].pool;

	if (w->refs[ref].state == REF_PENDING)
		w->pending--;
	w->refs[ref] = (struct m_ref){ .state = REF_FREE, .pool = -1 };
	pool_maybe_gone(w, pool);
}

static void unpin(struct world *w, uint32_t ref, bool rw)
{
	struct m_ref *r = &w->refs[ref];

	if (rw)
		r->pin_rw--;
	else
		r->pin_ro--;
	if (r->state == REF_PENDING && !r->pin_ro && !r->pin_rw)
		ref_release(w, ref);
}

FUZZ_UNTRACED
static void check(struct world *w)
{
	uint64_t in_use = 0, server_maps = 0, local_maps = 0, pending = 0;

	for (uint32_t ref = 0; ref < MIN(w->hw + 16, NR_ENTRIES); ref++) {
		struct m_ref *r = &w->refs[ref];
		int want = (r->pin_ro || r->pin_rw ? UIOMMU_GTF_READING : 0) |
			   (r->pin_rw ? UIOMMU_GTF_WRITING : 0);

		FUZZ_CHECK(uiommu_gntshr_query_foreign_access(w->gs, ref) == want,
			   "ref %u flags %d, model %d", ref,
			   uiommu_gntshr_query_foreign_access(w->gs, ref), want);
	}
	for (uint32_t ref = 0; ref < NR_ENTRIES; ref++) {
		in_use += w->refs[ref].state != REF_FREE;
		pending += w->refs[ref].state == REF_PENDING;
		server_maps += w->refs[ref].pin_ro + w->refs[ref].pin_rw;
	}
	for (int i = 0; i < MAX_MAPS; i++) {
		struct m_map *m = &w->maps[i];

		if (!m->live)
			continue;
		local_maps++;
		/* Whatever the frontend did since, a mapped page is still the granted one. */
		FUZZ_CHECK(m->dead ||
				   !memcmp(m->addr, &(uint64_t){ w->pools[w->refs[m->ref].pool].frame +
								 w->refs[m->ref].page }, 8),
			   "mapping %d lost its page", i);
	}
	FUZZ_CHECK(pending == w->pending, "model pending");
	{
		uint64_t n = 99;

		uiommu_gntshr_get_pending(w->gs, &n);
		FUZZ_CHECK(n == pending, "pending %llu, model %llu", (unsigned long long)n,
			   (unsigned long long)pending);
	}
	FUZZ_CHECK(usage(w->fe, UIOMMU_RES_GRANTS) == in_use, "grants %llu, model %llu",
		   (unsigned long long)usage(w->fe, UIOMMU_RES_GRANTS), (unsigned long long)in_use);
	FUZZ_CHECK(usage(w->fe, UIOMMU_RES_GRANT_MAPS) == server_maps, "granter's maps");
	FUZZ_CHECK(usage(w->be, UIOMMU_RES_GRANT_MAPS) == local_maps, "mapper's maps");
}

static uint32_t pick_ref(struct world *w, uint8_t b)
{
	/* Mostly references the model knows of; sometimes anything, or past the table. */
	if (b == 0xff)
		return NR_ENTRIES + 1;
	if (b & 0x80)
		return b & 0x7f;
	for (uint32_t k = 0; k < NR_ENTRIES; k++) {
		uint32_t ref = (b + k) % NR_ENTRIES;

		if (w->refs[ref].state != REF_FREE)
			return ref;
	}
	return b % NR_ENTRIES;
}

/* Claim and grant: what the library must answer for a frame of pool @p, page @page. */
static int expect_grant(struct world *w, int p, uint16_t domid, bool ro)
{
	if (p < 0 || !w->pools[p].live)
		return -EFAULT;
	if (w->pools[p].domid != domid || w->pools[p].writable == ro)
		return -EPERM;
	return 0;
}

static void record_grant(struct world *w, uint32_t ref, int p, uint32_t page, uint16_t domid,
			 bool ro)
{
	w->hw = MAX(w->hw, ref + 1);
	w->refs[ref] = (struct m_ref){ .state = REF_GRANTED, .pool = p, .page = page, .ro = ro,
				       .domid = domid };
}

static void op_map(struct world *w, uint32_t ref, bool rw, bool armed)
{
	struct uiommu_gnttab_map_op op = { .ref = ref, .dom = FE,
					   .flags = UIOMMU_GNTMAP_HOST_MAP |
						    (rw ? 0 : UIOMMU_GNTMAP_READONLY) };
	struct m_ref *r = ref < NR_ENTRIES ? &w->refs[ref] : NULL;
	int slot = -1, want, ret;

	for (int i = 0; i < MAX_MAPS; i++)
		if (!w->maps[i].live)
			slot = i;
	if (slot < 0)
		return;
	if (!r)
		want = UIOMMU_GNTST_BAD_GNTREF;
	else if (r->state != REF_GRANTED || r->domid != BE || (rw && r->ro))
		want = UIOMMU_GNTST_GENERAL_ERROR;
	else
		want = UIOMMU_GNTST_OKAY;
	ret = uiommu_gnttab_map_refs(w->gt, &op, 1);
	if (armed && faults(w) && (ret || op.status != UIOMMU_GNTST_OKAY))
		return; /* the injected fault refused it: nothing happened */
	FUZZ_CHECK(!ret, "map_refs %d", ret);
	FUZZ_CHECK(op.status == want, "map of %u: status %d, model %d", ref, op.status, want);
	if (op.status)
		return;
	if (rw)
		r->pin_rw++;
	else
		r->pin_ro++;
	w->maps[slot] = (struct m_map){ .live = true, .handle = op.handle, .ref = ref, .rw = rw,
					.addr = op.host_addr };
	if (rw) { /* shared both ways */
		struct m_pool *p = &w->pools[r->pool];

		op.host_addr = (char *)op.host_addr + 100;
		*(char *)op.host_addr = 'w';
		FUZZ_CHECK(p->hva[(size_t)r->page * PAGE + 100] == 'w', "not shared");
	}
}

static void op_unmap(struct world *w, int i)
{
	struct m_map *m = &w->maps[i % MAX_MAPS];
	struct uiommu_gnttab_unmap_op op = { .handle = m->handle, .host_addr = m->addr };

	if (!m->live)
		return;
	FUZZ_CHECK(!uiommu_gnttab_unmap_refs(w->gt, &op, 1), "unmap_refs");
	FUZZ_CHECK(op.status == UIOMMU_GNTST_OKAY, "unmap status %d", op.status);
	if (!m->dead)
		unpin(w, m->ref, m->rw);
	*m = (struct m_map){ 0 };
}

/* A frontend-allocated buffer, mapped by the backend, checked, torn down in order. */
static void op_shbuf_local(struct world *w, uint32_t npages)
{
	struct uiommu_shbuf *buf = NULL;
	struct uiommu_shbuf_be *be = NULL;
	int ret;

	ret = uiommu_shbuf_alloc(w->gs, BE, npages, 0, &buf);
	if (!ret) {
		char *fe = uiommu_shbuf_hva(buf);

		fe[0] = 'a';
		fe[(size_t)(npages - 1) * PAGE + 1] = 'z';
		ret = uiommu_shbuf_be_map(w->gt, FE, uiommu_shbuf_get_dir_start(buf), npages,
					  PROT_READ, &be);
	}
	if (!ret) {
		char *bv = uiommu_shbuf_be_hva(be);

		FUZZ_CHECK(bv[0] == 'a' && bv[(size_t)(npages - 1) * PAGE + 1] == 'z', "shbuf bytes");
	}
	uiommu_shbuf_be_free(be);
	FUZZ_CHECK(uiommu_shbuf_free(buf) == 0, "shbuf free left references pending");
}

/* A backend-allocated buffer: the frontend grants the directory, the backend fills it. */
static void op_shbuf_be_alloc(struct world *w, uint32_t npages)
{
	struct uiommu_shbuf *buf = NULL;
	struct uiommu_shbuf_be *be = NULL;
	int ret;

	ret = uiommu_shbuf_alloc(w->gs, BE, npages, UIOMMU_SHBUF_BE_ALLOC, &buf);
	if (!ret)
		ret = uiommu_shbuf_be_alloc(w->gt, w->be_gs, FE, uiommu_shbuf_get_dir_start(buf),
					    npages, &be);
	if (!ret) {
		((char *)uiommu_shbuf_be_hva(be))[(size_t)(npages - 1) * PAGE] = 'b';
		ret = uiommu_shbuf_map(buf, w->fe_gt);
	}
	if (!ret)
		FUZZ_CHECK(((char *)uiommu_shbuf_hva(buf))[(size_t)(npages - 1) * PAGE] == 'b',
			   "be_alloc bytes");
	if (buf)
		uiommu_shbuf_unmap(buf);
	FUZZ_CHECK(uiommu_shbuf_be_free(be) == 0, "be_alloc free left references pending");
	FUZZ_CHECK(uiommu_shbuf_free(buf) == 0, "shbuf free left references pending");
	FUZZ_CHECK(usage(w->be, UIOMMU_RES_GRANTS) == 0, "backend's references");
}

/* Attach again after a disconnect that a fault left without its new connection. */
static void reconnect(struct world *w)
{
	if (w->detached)
		attach(w->gs, BE, w->gt);
	w->detached = false;
}

static void step(struct world *w, unsigned int op, uint8_t a, uint8_t b, uint8_t c, bool armed)
{
	int p = a % MAX_POOLS, ret;
	uint32_t ref = pick_ref(w, b);

	if (ref >= NR_ENTRIES && op != 5)
		ref = 8;
	switch (op) {
	case 0: { /* allocate pages */
		int slot = free_pool_slot(w);
		struct m_pool np = { .live = true, .npages = 1 + b % 4, .domid = a & 1 ? OTHER : BE,
				     .writable = c & 1 };
		void *hva;

		if (slot < 0)
			return;
		ret = uiommu_gntshr_alloc_pages(w->gs, np.domid, np.npages, np.writable, &hva,
						&np.frame);
		if (armed && faults(w) && ret)
			return;
		FUZZ_CHECK(!ret, "alloc_pages %d", ret);
		np.hva = hva;
		w->pools[slot] = np;
		stamp(&w->pools[slot]);
		return;
	}
	case 1: { /* free pages */
		struct m_pool *mp = &w->pools[p];
		int want = !mp->live || mp->share ? -ENOENT : 0;

		for (int r = 0; !want && r < NR_ENTRIES; r++)
			if (w->refs[r].state == REF_GRANTED && w->refs[r].pool == p)
				want = -EBUSY;
		ret = uiommu_gntshr_free_pages(w->gs, mp->hva ? mp->hva : (void *)w);
		FUZZ_CHECK(ret == want, "free_pages %d, model %d", ret, want);
		if (!ret) {
			mp->live = false;
			pool_maybe_gone(w, p);
		}
		return;
	}
	case 2: { /* claim a free reference and grant a frame */
		uint16_t domid = c & 2 ? OTHER : BE;
		bool ro = c & 1;
		struct m_pool *mp = &w->pools[p];
		uint32_t page = mp->live ? b % mp->npages : 0;
		int want = mp->live ? expect_grant(w, p, domid, ro) : -EFAULT;
		uint64_t frame = mp->live ? mp->frame + page : 1;

		ret = uiommu_gntshr_grant_foreign_access(w->gs, domid, frame, ro);
		if (ret == -ENOSPC && usage(w->fe, UIOMMU_RES_GRANTS) == NR_ENTRIES - 8)
			return;
		if (want) {
			FUZZ_CHECK(ret == want, "grant %d, model %d", ret, want);
			return;
		}
		FUZZ_CHECK(ret >= 8 && ret < NR_ENTRIES && w->refs[ret].state == REF_FREE,
			   "grant gave %d", ret);
		record_grant(w, (uint32_t)ret, p, page, domid, ro);
		return;
	}
	case 3: { /* end access, deferred if mapped */
		struct m_ref *r = &w->refs[ref];
		int want = r->state == REF_CLAIMED || r->state == REF_GRANTED ? 0 : -EINVAL;

		if (!want && r->state == REF_GRANTED && (r->pin_ro || r->pin_rw))
			want = 1;
		if (ref < 8)
			want = -EINVAL;
		ret = uiommu_gntshr_end_foreign_access(w->gs, ref);
		FUZZ_CHECK(ret == want, "end of %u: %d, model %d", ref, ret, want);
		if (ret == 1) {
			r->state = REF_PENDING;
			w->pending++;
		} else if (!ret) {
			ref_release(w, ref);
		}
		return;
	}
	case 4: { /* try to end access */
		struct m_ref *r = &w->refs[ref];
		int want = r->state == REF_CLAIMED || r->state == REF_GRANTED ? 0 : -EINVAL;

		if (!want && (r->pin_ro || r->pin_rw))
			want = -EBUSY;
		if (ref < 8)
			want = -EINVAL;
		ret = uiommu_gntshr_try_end_foreign_access(w->gs, ref);
		FUZZ_CHECK(ret == want, "try end of %u: %d, model %d", ref, ret, want);
		if (!ret)
			ref_release(w, ref);
		return;
	}
	case 5: /* map */
		op_map(w, ref, c & 1, armed);
		return;
	case 6: /* unmap */
		op_unmap(w, a);
		return;
	case 7: { /* share pages */
		int slot = free_pool_slot(w);
		struct m_pool np = { .live = true, .npages = 1 + b % 4, .domid = a & 1 ? OTHER : BE,
				     .writable = c & 1, .share = true };
		uint32_t refs[4];
		void *hva;

		if (slot < 0)
			return;
		ret = uiommu_gntshr_share_pages(w->gs, np.domid, np.npages, refs, np.writable, &hva);
		if (ret == -ENOSPC && usage(w->fe, UIOMMU_RES_GRANTS) + np.npages > NR_ENTRIES - 8)
			return;
		if (armed && faults(w) && ret)
			return;
		FUZZ_CHECK(!ret, "share %d", ret);
		np.hva = hva;
		FUZZ_CHECK(!uiommu_hva_to_hpa(w->fe, hva, &np.frame), "share hpa");
		np.frame >>= 12;
		w->pools[slot] = np;
		stamp(&w->pools[slot]);
		for (uint32_t i = 0; i < np.npages; i++) {
			record_grant(w, refs[i], slot, i, np.domid, !np.writable);
			w->pools[slot].share_refs[i] = refs[i];
		}
		return;
	}
	case 8: { /* unshare */
		struct m_pool *mp = &w->pools[p];
		int want = 0;

		if (!mp->live || !mp->share) {
			FUZZ_CHECK(uiommu_gntshr_unshare(w->gs, mp->hva ? mp->hva : (void *)w, 1) ==
					   -ENOENT, "unshare of nothing");
			return;
		}
		/* Its own references that still grant its pages (not ended one by one). */
		for (uint32_t i = 0; i < mp->npages; i++) {
			struct m_ref *r = &w->refs[mp->share_refs[i]];

			if (r->state == REF_GRANTED && r->pool == p && (r->pin_ro || r->pin_rw))
				want++;
		}
		ret = uiommu_gntshr_unshare(w->gs, mp->hva, mp->npages);
		FUZZ_CHECK(ret == want, "unshare %d, model %d", ret, want);
		mp->live = false;
		for (uint32_t i = 0; i < mp->npages; i++) {
			uint32_t r = mp->share_refs[i];

			if (w->refs[r].state != REF_GRANTED || w->refs[r].pool != p)
				continue;
			if (w->refs[r].pin_ro || w->refs[r].pin_rw) {
				w->refs[r].state = REF_PENDING;
				w->pending++;
			} else {
				ref_release(w, r);
			}
		}
		pool_maybe_gone(w, p);
		return;
	}
	case 9: { /* a batch: reserve, claim some, give the rest back */
		uint32_t head, k = 1 + a % 4, claims = b % 6;
		uint64_t before = usage(w->fe, UIOMMU_RES_GRANTS);

		ret = uiommu_gntshr_alloc_grant_references(w->gs, k, &head);
		if (ret) {
			FUZZ_CHECK(ret == -ENOSPC && before + k > NR_ENTRIES - 8, "batch %d", ret);
			return;
		}
		for (uint32_t i = 0; i < claims; i++) {
			int r = uiommu_gntshr_claim_grant_reference(w->gs, &head);

			if (i >= k) {
				FUZZ_CHECK(r == -ENOSPC, "claim past the batch: %d", r);
				continue;
			}
			FUZZ_CHECK(r >= 8 && r < NR_ENTRIES && w->refs[r].state == REF_FREE, "claim %d",
				   r);
			w->refs[r] = (struct m_ref){ .state = REF_CLAIMED, .pool = -1 };
			w->hw = MAX(w->hw, (uint32_t)r + 1);
		}
		FUZZ_CHECK(!uiommu_gntshr_free_grant_references(w->gs, head), "free batch");
		return;
	}
	case 10: { /* grant through a claimed reference, or free it */
		struct m_ref *r = &w->refs[ref];
		struct m_pool *mp = &w->pools[p];
		uint16_t domid = c & 2 ? OTHER : BE;

		if (c & 4) {
			int want = r->state == REF_CLAIMED && ref >= 8 ? 0
				 : r->state == REF_GRANTED ? -EBUSY : -EINVAL;

			ret = uiommu_gntshr_free_grant_reference(w->gs, ref);
			FUZZ_CHECK(ret == want, "free ref %d, model %d", ret, want);
			if (!ret)
				ref_release(w, ref);
			return;
		}
		if (r->state != REF_CLAIMED || !mp->live)
			return;
		ret = uiommu_gntshr_grant_foreign_access_ref(w->gs, ref, domid, mp->frame, c & 1);
		FUZZ_CHECK(ret == expect_grant(w, p, domid, c & 1), "grant_ref %d", ret);
		if (!ret)
			record_grant(w, ref, p, 0, domid, c & 1);
		return;
	}
	case 11: /* the frontend drops the backend (its process died, say) */
		uiommu_gntshr_disconnect(w->gs, BE);
		for (uint32_t r = 0; r < NR_ENTRIES; r++) {
			w->refs[r].pin_ro = w->refs[r].pin_rw = 0;
			if (w->refs[r].state == REF_PENDING)
				ref_release(w, r);
		}
		for (int i = 0; i < MAX_MAPS; i++)
			w->maps[i].dead = w->maps[i].live;
		w->detached = try_attach(w->gs, BE, w->gt) != 0;
		FUZZ_CHECK(!w->detached || armed, "attach");
		return;
	case 12: /* mostly small; now and then across a directory page (1023) */
		op_shbuf_local(w, a < 240 ? 1u + a % 32u : 1000u + (a - 240u) * 4u);
		return;
	case 13:
		op_shbuf_be_alloc(w, a < 240 ? 1u + a % 32u : 1000u + (a - 240u) * 4u);
		return;
	}
}

int fuzz_grant(const uint8_t *data, size_t size)
{
	static struct uiommu_ctx *fe, *be;
	struct fuzz_input in = { data, size, 0 };
	struct world *w;

	if (!fe) {
		FUZZ_CHECK(!uiommu_ctx_new(NULL, &fe) && !uiommu_ctx_new(NULL, &be), "ctx_new");
	}
	w = calloc(1, sizeof(*w));
	FUZZ_CHECK(w, "calloc");
	w->fe = fe;
	w->be = be;
	for (int r = 0; r < NR_ENTRIES; r++)
		w->refs[r].pool = -1;
	FUZZ_CHECK(!uiommu_gntshr_new(fe, FE, NR_ENTRIES, &w->gs), "gntshr_new");
	FUZZ_CHECK(!uiommu_gntshr_new(be, BE, 2048, &w->be_gs), "gntshr_new");
	FUZZ_CHECK(!uiommu_gnttab_open(be, &w->gt) && !uiommu_gnttab_open(fe, &w->fe_gt), "open");
	attach(w->gs, BE, w->gt);
	attach(w->be_gs, FE, w->fe_gt);

	while (!fuzz_done(&in)) {
		unsigned int op = (unsigned int)fuzz_take(&in, 1) % 16;
		uint8_t a = (uint8_t)fuzz_take(&in, 1), b = (uint8_t)fuzz_take(&in, 1);
		uint8_t c = (uint8_t)fuzz_take(&in, 1);
		bool armed = false;

		if (op >= 14) { /* a fault in the next operation, on one side */
			uiommu_ctx_inject_fault(op == 14 ? fe : be, 1 + a % 24, UIOMMU_FAULT_ALL);
			armed = true;
			op = b % 14;
			a = c;
			b = (uint8_t)fuzz_take(&in, 1);
			c = (uint8_t)fuzz_take(&in, 1);
		}
		if (getenv("FUZZ_GRANT_TRACE"))
			fprintf(stderr, "op %u a %u b %u c %u%s\n", op, a, b, c, armed ? " armed" : "");
		step(w, op, a, b, c, armed);
		uiommu_ctx_inject_fault(fe, 0, 0);
		uiommu_ctx_inject_fault(be, 0, 0);
		if (armed)
			reconnect(w);
		check(w);
	}

	/* Tear everything down: every reference and page comes back. */
	for (int i = 0; i < MAX_MAPS; i++)
		op_unmap(w, i);
	for (uint32_t r = 8; r < NR_ENTRIES; r++)
		if (w->refs[r].state == REF_CLAIMED || w->refs[r].state == REF_GRANTED)
			FUZZ_CHECK(uiommu_gntshr_end_foreign_access(w->gs, r) == 0, "final end %u", r);
	for (int p = 0; p < MAX_POOLS; p++)
		if (w->pools[p].live)
			FUZZ_CHECK(w->pools[p].share ? uiommu_gntshr_unshare(w->gs, w->pools[p].hva,
									     w->pools[p].npages) >= 0
						      : !uiommu_gntshr_free_pages(w->gs, w->pools[p].hva),
				   "final free");
	FUZZ_CHECK(!uiommu_gnttab_close(w->gt) && !uiommu_gnttab_close(w->fe_gt), "close");
	FUZZ_CHECK(!uiommu_gntshr_free(w->gs), "gntshr_free: something left");
	FUZZ_CHECK(!uiommu_gntshr_free(w->be_gs), "backend's gntshr_free: something left");
	fuzz_check_clean(fe);
	fuzz_check_clean(be);
	free(w);
	return 0;
}
