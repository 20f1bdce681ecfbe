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
 * Each operation is 4 bytes: op, a, b, c (6 with an armed fault), at most
 * MAX_OPS of them. FUZZ_GRANT_TRACE=1 prints them.
 * A shared buffer of about a directory page (1,021-1,024 pages) is rare
 * and at most one per input; the others are 1-32 pages.
 *
 * The two tables, their mappers and connections are made once and kept
 * across inputs (making them costs more than a whole input); each input
 * starts from them with nothing granted, allocated or mapped, and ends by
 * proving that again: every usage of both contexts is back at what the
 * empty world holds. Every WORLD_INPUTS inputs the world is freed (each
 * free must find nothing left, the contexts then hold nothing) and made
 * again. The library hands out free references in FIFO order, so their
 * numbers depend on the inputs before; the driver picks references by the
 * model's own order (the order they were taken), so that what an input
 * does does not.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include <uiommu/uiommu.h>

#include "grant/grant.h"

#include "fuzz.h"

#define FE 1
#define BE 2
#define OTHER 3
#define NR_ENTRIES 2048
#define PAGE 4096
#define MAX_POOLS 8
#define MAX_MAPS 16
#define WORLD_INPUTS 256
/*
 * Operations per input, the rest ignored: every state the model knows is a
 * few operations from empty (8 pools, 16 mappings), and libFuzzer grows its
 * inputs over a campaign (its length limit was 362 bytes, 90 operations,
 * after a few minutes), each costing in proportion.
 */
#define MAX_OPS 24
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
	uint32_t order; /* taken: its index in world.live */
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
	uint32_t live[NR_ENTRIES]; /* the references taken (not free), oldest first */
	uint32_t nlive;
	uint32_t seen[NR_ENTRIES]; /* every reference taken in this input, once */
	uint32_t nseen;
	bool was_seen[NR_ENTRIES];
	uint64_t pending; /* references in REF_PENDING */
	uint64_t pins;	  /* the granter's mappings: every pin_ro + pin_rw */
	bool detached; /* disconnected; attach again (a fault may have refused it) */
	bool big_shbuf; /* this input had its shared buffer of ~1,023 pages */
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

/*
 * Requests go straight to the granting side in this thread (grant_loopback())
 * unless FUZZ_GRANT_SOCKETS is set: a round trip through the socket and the
 * granter's thread is two context switches, about a quarter of the time of an
 * input, and what crosses it is the library's own messages, not the input
 * (fuzz_grant_wire fuzzes those). The connections are still real sockets
 * (attach, hang-ups, disconnects); the corpus replay test sets
 * FUZZ_GRANT_SOCKETS, so the committed corpus and its random inputs go
 * over them too.
 */
static bool use_sockets(void)
{
	static int sockets = -1;

	if (sockets < 0)
		sockets = getenv("FUZZ_GRANT_SOCKETS") != NULL;
	return sockets;
}

static int try_attach(struct uiommu_gntshr *gs, uint16_t peer, struct uiommu_gnttab *gt)
{
	int fd, ret = uiommu_gntshr_connect(gs, peer, &fd);

	if (!ret)
		ret = uiommu_gnttab_attach(gt, fd, NULL);
	if (ret) /* a connection the mapper did not take is dropped at once */
		uiommu_gntshr_disconnect(gs, peer);
	if (!ret && !use_sockets())
		FUZZ_CHECK(!grant_loopback(gt, gs), "loopback");
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
FUZZ_UNTRACED
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

/* A free reference is taken (claimed or granted): it joins the model's order. */
static void ref_take(struct world *w, uint32_t ref)
{
	w->refs[ref].order = w->nlive;
	w->live[w->nlive++] = ref;
	if (!w->was_seen[ref]) {
		w->was_seen[ref] = true;
		w->seen[w->nseen++] = ref;
	}
}

FUZZ_UNTRACED
static void ref_release(struct world *w, uint32_t ref)
{
	int pool = w->refs[ref].pool;

	if (w->refs[ref].state == REF_PENDING)
		w->pending--;
	w->nlive--;
	for (uint32_t k = w->refs[ref].order; k < w->nlive; k++) {
		w->live[k] = w->live[k + 1];
		w->refs[w->live[k]].order = k;
	}
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
	w->pins--;
	if (r->state == REF_PENDING && !r->pin_ro && !r->pin_rw)
		ref_release(w, ref);
}

/*
 * The model's own counts, kept as it goes (the references taken, pending,
 * pinned), against a walk of every reference: once per input, while check()
 * after every operation compares the library with the counts.
 */
FUZZ_UNTRACED
static void check_model(const struct world *w)
{
	uint64_t in_use = 0, pins = 0, pending = 0;

	for (uint32_t ref = 0; ref < NR_ENTRIES; ref++) {
		in_use += w->refs[ref].state != REF_FREE;
		pending += w->refs[ref].state == REF_PENDING;
		pins += w->refs[ref].pin_ro + w->refs[ref].pin_rw;
	}
	FUZZ_CHECK(in_use == w->nlive, "model: %llu references taken, %u in its order",
		   (unsigned long long)in_use, w->nlive);
	FUZZ_CHECK(pending == w->pending, "model: %llu pending, counted %llu",
		   (unsigned long long)pending, (unsigned long long)w->pending);
	FUZZ_CHECK(pins == w->pins, "model: %llu pins, counted %llu", (unsigned long long)pins,
		   (unsigned long long)w->pins);
}

FUZZ_UNTRACED
static void check(struct world *w)
{
	uint64_t local_maps = 0;

	/*
	 * Every reference this input took, and the first 16 (reserved, or
	 * free, or taken): the references it did not take are free, and
	 * nothing may map them.
	 */
	for (uint32_t k = 0; k < w->nseen + 16; k++) {
		uint32_t ref = k < 16 ? k : w->seen[k - 16];
		struct m_ref *r = &w->refs[ref];
		int want = (r->pin_ro || r->pin_rw ? UIOMMU_GTF_READING : 0) |
			   (r->pin_rw ? UIOMMU_GTF_WRITING : 0);

		if (k >= 16 && ref < 16)
			continue;
		FUZZ_CHECK(uiommu_gntshr_query_foreign_access(w->gs, ref) == want,
			   "ref %u flags %d, model %d", ref,
			   uiommu_gntshr_query_foreign_access(w->gs, ref), want);
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
	{
		uint64_t n = 99;

		uiommu_gntshr_get_pending(w->gs, &n);
		FUZZ_CHECK(n == w->pending, "pending %llu, model %llu", (unsigned long long)n,
			   (unsigned long long)w->pending);
	}
	FUZZ_CHECK(usage(w->fe, UIOMMU_RES_GRANTS) == w->nlive, "grants %llu, model %u",
		   (unsigned long long)usage(w->fe, UIOMMU_RES_GRANTS), w->nlive);
	FUZZ_CHECK(usage(w->fe, UIOMMU_RES_GRANT_MAPS) == w->pins, "granter's maps");
	FUZZ_CHECK(usage(w->be, UIOMMU_RES_GRANT_MAPS) == local_maps, "mapper's maps");
}

/* Is pool @i granted (not ended) through any reference? */
FUZZ_UNTRACED
static bool pool_granted(const struct world *w, int i)
{
	for (int r = 0; r < NR_ENTRIES; r++)
		if (w->refs[r].state == REF_GRANTED && w->refs[r].pool == i)
			return true;
	return false;
}

/* The mapper went: nothing is mapped any more, pending references go, its maps are dead. */
FUZZ_UNTRACED
static void peer_gone(struct world *w)
{
	w->pins = 0;
	for (uint32_t r = 0; r < NR_ENTRIES; r++) {
		w->refs[r].pin_ro = w->refs[r].pin_rw = 0;
		if (w->refs[r].state == REF_PENDING)
			ref_release(w, r);
	}
	for (int i = 0; i < MAX_MAPS; i++)
		w->maps[i].dead = w->maps[i].live;
}

/* A free reference the driver may name (its number depends on the inputs before). */
FUZZ_UNTRACED
static uint32_t free_ref(const struct world *w)
{
	for (uint32_t ref = UIOMMU_GNTTAB_NR_RESERVED_ENTRIES; ref < NR_ENTRIES; ref++)
		if (w->refs[ref].state == REF_FREE)
			return ref;
	return 0; /* all taken: a reserved one */
}

static uint32_t pick_ref(struct world *w, uint8_t b)
{
	/*
	 * Mostly references the model knows of (by the order they were
	 * taken); sometimes a reserved or a free one, or one past the table.
	 */
	if (b == 0xff)
		return NR_ENTRIES + 1;
	if (b & 0x80)
		return (b & 0x7f) < UIOMMU_GNTTAB_NR_RESERVED_ENTRIES ? b & 0x7f : free_ref(w);
	return w->nlive ? w->live[b % w->nlive] : free_ref(w);
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
	uint32_t order;

	if (w->refs[ref].state == REF_FREE)
		ref_take(w, ref);
	order = w->refs[ref].order;
	w->refs[ref] = (struct m_ref){ .state = REF_GRANTED, .pool = p, .page = page, .ro = ro,
				       .domid = domid, .order = order };
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
	w->pins++;
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

/*
 * A shared buffer's size: mostly 1-32 pages; for 4 values of 256, the
 * sizes around a full directory page (UIOMMU_SHBUF_GREFS_PER_PAGE): one
 * page two and one short of full, one full page, and a second page with
 * one reference.
 * These cost ~7x a small cycle (1,024 grants and mappings), so they are
 * rare, at most one per input, and only where the directory's layout
 * changes.
 */
static uint32_t shbuf_pages(struct world *w, uint8_t a)
{
	if (a < 252 || w->big_shbuf)
		return 1u + a % 32u;
	w->big_shbuf = true; /* one per input: libFuzzer keeps what it finds, and repeats it */
	return UIOMMU_SHBUF_GREFS_PER_PAGE - 2u + (a - 252u);
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
		ref = pick_ref(w, 0);
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

		if (!want && pool_granted(w, p))
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
			ref_take(w, (uint32_t)r);
			w->refs[r].state = REF_CLAIMED;
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
		peer_gone(w);
		w->detached = try_attach(w->gs, BE, w->gt) != 0;
		FUZZ_CHECK(!w->detached || armed, "attach");
		return;
	case 12:
		op_shbuf_local(w, shbuf_pages(w, a));
		return;
	case 13:
		op_shbuf_be_alloc(w, shbuf_pages(w, a));
		return;
	}
}

/* The world kept across inputs: both tables, both mappers, connected both ways. */
static struct world world;
static uint64_t world_usage[2][UIOMMU_RES_NR]; /* what the empty world holds */
static unsigned int world_inputs;

static void world_new(void)
{
	if (!world.fe) {
		FUZZ_CHECK(!uiommu_ctx_new(NULL, &world.fe) && !uiommu_ctx_new(NULL, &world.be),
			   "ctx_new");
	}
	FUZZ_CHECK(!uiommu_gntshr_new(world.fe, FE, NR_ENTRIES, &world.gs), "gntshr_new");
	FUZZ_CHECK(!uiommu_gntshr_new(world.be, BE, 2048, &world.be_gs), "gntshr_new");
	FUZZ_CHECK(!uiommu_gnttab_open(world.be, &world.gt) &&
			   !uiommu_gnttab_open(world.fe, &world.fe_gt), "open");
	attach(world.gs, BE, world.gt);
	attach(world.be_gs, FE, world.fe_gt);
	rcu_wait_callbacks();
	for (int r = 0; r < UIOMMU_RES_NR; r++) {
		world_usage[0][r] = usage(world.fe, (enum uiommu_resource)r);
		world_usage[1][r] = usage(world.be, (enum uiommu_resource)r);
	}
	FUZZ_CHECK(!world_usage[0][UIOMMU_RES_GRANTS] && !world_usage[1][UIOMMU_RES_GRANTS] &&
			   !world_usage[0][UIOMMU_RES_GRANT_MAPS] &&
			   !world_usage[1][UIOMMU_RES_GRANT_MAPS], "an empty world holds references");
}

/* Free the world: nothing may be left in either table, then both contexts hold nothing. */
static void world_free(void)
{
	FUZZ_CHECK(!uiommu_gnttab_close(world.gt) && !uiommu_gnttab_close(world.fe_gt), "close");
	FUZZ_CHECK(!uiommu_gntshr_free(world.gs), "gntshr_free: something left");
	FUZZ_CHECK(!uiommu_gntshr_free(world.be_gs), "backend's gntshr_free: something left");
	fuzz_check_clean(world.fe);
	fuzz_check_clean(world.be);
}

/* As fuzz_check_clean(), against what the empty world holds: every usage but the heap. */
FUZZ_UNTRACED
static void world_check_clean(void)
{
	struct uiommu_ctx *ctx[2] = { world.fe, world.be };

	rcu_wait_callbacks();
	for (int k = 0; k < 2; k++)
		for (int r = 0; r < UIOMMU_RES_NR; r++) {
			if (r == UIOMMU_RES_HEAP_BYTES)
				continue;
			FUZZ_CHECK(usage(ctx[k], (enum uiommu_resource)r) == world_usage[k][r],
				   "%s's %s left at %llu, the empty world holds %llu",
				   k ? "backend" : "frontend",
				   uiommu_resource_name((enum uiommu_resource)r),
				   (unsigned long long)usage(ctx[k], (enum uiommu_resource)r),
				   (unsigned long long)world_usage[k][r]);
		}
}

/* The model of an empty world. */
FUZZ_UNTRACED
static void world_reset(struct world *w)
{
	struct uiommu_ctx *fe = w->fe, *be = w->be;
	struct uiommu_gntshr *gs = w->gs, *be_gs = w->be_gs;
	struct uiommu_gnttab *gt = w->gt, *fe_gt = w->fe_gt;

	memset(w, 0, sizeof(*w));
	w->fe = fe;
	w->be = be;
	w->gs = gs;
	w->be_gs = be_gs;
	w->gt = gt;
	w->fe_gt = fe_gt;
	for (int r = 0; r < NR_ENTRIES; r++)
		w->refs[r].pool = -1;
}

/*
 * The same, at the end of an input: only the references it took (every
 * one is in w->seen) were touched, and they go back to free.
 */
FUZZ_UNTRACED
static void world_empty(struct world *w)
{
	for (uint32_t k = 0; k < w->nseen; k++) {
		w->refs[w->seen[k]] = (struct m_ref){ .state = REF_FREE, .pool = -1 };
		w->was_seen[w->seen[k]] = false;
	}
	w->nseen = w->nlive = 0;
	w->pending = w->pins = 0;
	w->detached = false;
	w->big_shbuf = false;
	memset(w->pools, 0, sizeof(w->pools));
	memset(w->maps, 0, sizeof(w->maps));
}

/* End every reference still granted or claimed. */
FUZZ_UNTRACED
static void end_all(struct world *w)
{
	for (uint32_t r = UIOMMU_GNTTAB_NR_RESERVED_ENTRIES; r < NR_ENTRIES; r++)
		if (w->refs[r].state == REF_CLAIMED || w->refs[r].state == REF_GRANTED)
			FUZZ_CHECK(uiommu_gntshr_end_foreign_access(w->gs, r) == 0, "final end %u", r);
}

int fuzz_grant(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size, 0 };
	struct world *w = &world;
	static int tracing = -1;
	struct uiommu_ctx *fe, *be;

	if (tracing < 0)
		tracing = getenv("FUZZ_GRANT_TRACE") != NULL;
	if (!world.gs) {
		world_new();
		world_reset(w);
	}
	fe = w->fe;
	be = w->be;

	for (unsigned int nops = 0; !fuzz_done(&in) && nops < MAX_OPS; nops++) {
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
		if (tracing)
			fprintf(stderr, "op %u a %u b %u c %u%s\n", op, a, b, c, armed ? " armed" : "");
		step(w, op, a, b, c, armed);
		uiommu_ctx_inject_fault(fe, 0, 0);
		uiommu_ctx_inject_fault(be, 0, 0);
		if (armed)
			reconnect(w);
		check(w);
	}
	check_model(w);

	/* Tear everything down: every reference and page comes back. */
	for (int i = 0; i < MAX_MAPS; i++)
		op_unmap(w, i);
	end_all(w);
	for (int p = 0; p < MAX_POOLS; p++)
		if (w->pools[p].live)
			FUZZ_CHECK(w->pools[p].share ? uiommu_gntshr_unshare(w->gs, w->pools[p].hva,
									     w->pools[p].npages) >= 0
						      : !uiommu_gntshr_free_pages(w->gs, w->pools[p].hva),
				   "final free");
	FUZZ_CHECK(!w->detached, "the input ended disconnected");
	world_empty(w);
	check(w); /* nothing granted, mapped or pending */
	world_check_clean();
	if (++world_inputs % WORLD_INPUTS == 0) {
		world_free();
		w->gs = w->be_gs = NULL;
		w->gt = w->fe_gt = NULL;
	}
	return 0;
}
