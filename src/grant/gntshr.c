// SPDX-License-Identifier: BSD-3-Clause
/*
 * The granting side of grant tables: the table, references, shareable
 * pages, granting and ending access.
 *
 * Semantics: Linux drivers/xen/grant-table.c (the free list, batches of
 * references, gnttab_grant_foreign_access_ref(), gnttab_end_foreign_access*()
 * after the XSA-396 rework, v1 entries) and libxengntshr (share / unshare);
 * the mapper's half of the entry protocol is Xen's
 * xen/common/grant_table.c (_set_status_v1(), reduce_status_for_pin()).
 *
 * An entry's flags and domid are one 32-bit word, changed only by
 * compare-and-exchange once granted: the mapper sets GTF_reading (and
 * GTF_writing) only if the entry still permits this domain, and the
 * revoker clears the flags only if neither bit is set, so exactly one of
 * a racing map and end of access wins.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "grant.h"

#define GNT_ENTRY_SIZE sizeof(struct uiommu_grant_entry_v1)
#define GNT_MAX_PAGES (1u << UIOMMU_FRAME_MAX_ORDER)

_Static_assert(sizeof(struct uiommu_grant_entry_v1) == 8, "v1 grant entries are 8 bytes");

/* flags and domid as one word, whatever the byte order (Xen's union grant_combo). */
union gnt_combo {
	uint32_t word;
	struct {
		uint16_t flags;
		uint16_t domid;
	} s;
};

static _Atomic uint32_t *entry_word(struct uiommu_gntshr *gs, uint32_t ref)
{
	return (_Atomic uint32_t *)(void *)&gs->table[ref];
}

static _Atomic uint32_t *entry_frame(struct uiommu_gntshr *gs, uint32_t ref)
{
	return (_Atomic uint32_t *)(void *)&gs->table[ref].frame;
}

static uint16_t entry_flags(struct uiommu_gntshr *gs, uint32_t ref)
{
	union gnt_combo c = { .word = atomic_load_explicit(entry_word(gs, ref),
							   memory_order_acquire) };

	return c.s.flags;
}

/* Linux gnttab_update_entry_v1(): frame and domid first, then (release) the flags. */
static void entry_grant(struct uiommu_gntshr *gs, uint32_t ref, uint16_t domid, uint32_t frame,
			bool readonly)
{
	union gnt_combo c = { .s = { .flags = (uint16_t)(UIOMMU_GTF_PERMIT_ACCESS |
							(readonly ? UIOMMU_GTF_READONLY : 0)),
				     .domid = domid } };

	atomic_store_explicit(entry_frame(gs, ref), frame, memory_order_relaxed);
	atomic_store_explicit(entry_word(gs, ref), c.word, memory_order_release);
}

/* Linux gnttab_end_foreign_access_ref_v1(): clear the flags unless the peer maps it. */
static bool entry_end_access(struct uiommu_gntshr *gs, uint32_t ref)
{
	_Atomic uint32_t *w = entry_word(gs, ref);
	union gnt_combo c = { .word = atomic_load_explicit(w, memory_order_relaxed) }, n;

	do {
		if (c.s.flags & (UIOMMU_GTF_READING | UIOMMU_GTF_WRITING))
			return false;
		n = c;
		n.s.flags = 0;
	} while (!atomic_compare_exchange_weak_explicit(w, &c.word, n.word, memory_order_acq_rel,
							memory_order_relaxed));
	return true;
}

/*
 * Xen _set_status_v1(): set GTF_reading (and GTF_writing) if the entry
 * permits @domid (and writing). Xen gives up after five lost races with a
 * misbehaving granter; here only this process writes the table.
 */
static int entry_set_status(struct uiommu_gntshr *gs, uint32_t ref, uint16_t domid, bool rw)
{
	_Atomic uint32_t *w = entry_word(gs, ref);
	union gnt_combo c = { .word = atomic_load_explicit(w, memory_order_acquire) }, n;

	for (unsigned int retries = 0;; retries++) {
		if ((c.s.flags & UIOMMU_GTF_TYPE_MASK) != UIOMMU_GTF_PERMIT_ACCESS ||
		    c.s.domid != domid)
			return UIOMMU_GNTST_GENERAL_ERROR;
		n = c;
		n.s.flags |= UIOMMU_GTF_READING;
		if (rw) {
			if (c.s.flags & UIOMMU_GTF_READONLY)
				return UIOMMU_GNTST_GENERAL_ERROR;
			n.s.flags |= UIOMMU_GTF_WRITING;
		}
		if (atomic_compare_exchange_strong_explicit(w, &c.word, n.word, memory_order_acq_rel,
							    memory_order_acquire))
			return UIOMMU_GNTST_OKAY;
		if (retries == 4)
			return UIOMMU_GNTST_GENERAL_ERROR;
	}
}

/* Xen reduce_status_for_pin(): clear what no pin needs any more. */
static void entry_reduce_status(struct uiommu_gntshr *gs, uint32_t ref, const struct gnt_ref *r)
{
	union gnt_combo m = { .s = { .flags = 0, .domid = 0 } };

	if (!r->pin_ro && !r->pin_rw)
		m.s.flags |= UIOMMU_GTF_READING;
	if (!r->pin_rw)
		m.s.flags |= UIOMMU_GTF_WRITING;
	if (m.s.flags)
		atomic_fetch_and_explicit(entry_word(gs, ref), ~m.word, memory_order_release);
}

/* ---- small tables ---- */

int gnt_grow(struct uiommu_ctx *ctx, void *arr, size_t n, size_t *cap)
{
	void **old, **new;
	size_t c = *cap ? 2 * *cap : 4;

	if (n < *cap)
		return 0;
	memcpy(&old, arr, sizeof(old));
	new = ctx_alloc_array(ctx, c, sizeof(void *));
	if (!new)
		return -ENOMEM;
	if (n)
		memcpy(new, old, n * sizeof(void *));
	ctx_free(ctx, old);
	memcpy(arr, &new, sizeof(new));
	*cap = c;
	return 0;
}

void gnt_handles_init(struct gnt_handles *t)
{
	*t = (struct gnt_handles){ .free = UIOMMU_GRANT_INVALID_HANDLE };
}

static uint32_t *slot_next(const struct gnt_handles *t, size_t slot_size, uint32_t h)
{
	return (uint32_t *)(void *)((char *)t->slots + (size_t)h * slot_size);
}

uint32_t gnt_handle_get(struct uiommu_ctx *ctx, struct gnt_handles *t, size_t slot_size)
{
	uint32_t h;

	if (ctx_charge(ctx, UIOMMU_RES_GRANT_MAPS, 1))
		return UIOMMU_GRANT_INVALID_HANDLE;
	if (t->free == UIOMMU_GRANT_INVALID_HANDLE) {
		uint32_t len = t->len ? 2 * t->len : 64;
		void *n;

		if (len <= t->len || !(n = ctx_alloc_array(ctx, len, slot_size))) {
			ctx_uncharge(ctx, UIOMMU_RES_GRANT_MAPS, 1);
			return UIOMMU_GRANT_INVALID_HANDLE;
		}
		if (t->len)
			memcpy(n, t->slots, (size_t)t->len * slot_size);
		ctx_free(ctx, t->slots);
		t->slots = n;
		for (uint32_t i = t->len; i < len; i++)
			*slot_next(t, slot_size, i) = i + 1 < len ? i + 1 : UIOMMU_GRANT_INVALID_HANDLE;
		t->free = t->len;
		t->len = len;
	}
	h = t->free;
	t->free = *slot_next(t, slot_size, h);
	t->nused++;
	return h;
}

void gnt_handle_put(struct uiommu_ctx *ctx, struct gnt_handles *t, size_t slot_size, uint32_t h)
{
	memset((char *)t->slots + (size_t)h * slot_size, 0, slot_size);
	*slot_next(t, slot_size, h) = t->free;
	t->free = h;
	t->nused--;
	ctx_uncharge(ctx, UIOMMU_RES_GRANT_MAPS, 1);
}

/* ---- pools ---- */

static size_t pool_index_locked(struct uiommu_gntshr *gs, uint64_t hpa)
{
	size_t lo = 0, hi = gs->npools;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct gnt_pool *p = gs->pools[mid];

		if (hpa < p->hpa)
			hi = mid;
		else if (hpa - p->hpa >= (uint64_t)p->npages << UIOMMU_FRAME_SHIFT)
			lo = mid + 1;
		else
			return mid;
	}
	return SIZE_MAX;
}

int gnt_pool_export_locked(struct uiommu_gntshr *gs, struct gnt_pool *p)
{
	if (p->exported)
		return 0;
	/* No more seals; read-only pages can be mapped writable only by us (already). */
	if (fcntl(p->fd, F_ADD_SEALS, F_SEAL_SEAL | (p->writable ? 0 : F_SEAL_FUTURE_WRITE))) {
		int err = errno;

		ctx_err(gs->ctx, "grant: cannot seal the pages at hpa 0x%llx (errno %d)",
			(unsigned long long)p->hpa, err);
		return -err;
	}
	p->exported = true;
	return 0;
}

static void spare_free(struct uiommu_gntshr *gs, const struct gnt_spare *sp)
{
	if (mem_frames_free_parked(gs->ctx, sp->hpa, sp->order, sp->fd))
		ctx_warn(gs->ctx, "grant: spare pages at hpa 0x%llx not freed",
			 (unsigned long long)sp->hpa);
}

/* Keep @p's run as a spare if it may be (struct gnt_spare); the oldest spare makes room. */
static bool pool_park_locked(struct uiommu_gntshr *gs, const struct gnt_pool *p)
{
	if (p->exported || p->npages > GNT_SPARE_MAX_PAGES ||
	    mem_frames_park_shared(gs->ctx, p->hpa, p->order, p->npages, p->fd))
		return false;
	if (gs->nspares == GNT_SPARES) {
		spare_free(gs, &gs->spares[0]);
		memmove(&gs->spares[0], &gs->spares[1], (GNT_SPARES - 1) * sizeof(gs->spares[0]));
		gs->nspares--;
	}
	gs->spares[gs->nspares++] = (struct gnt_spare){ .hpa = p->hpa, .hva = p->hva,
							.fd = p->fd, .order = p->order,
							.npages = p->npages };
	return true;
}

/*
 * Free @p's frames and forget it. If they cannot be freed (pinned, or the
 * library's mapping could not be put back) it stays registered, freed, and
 * uiommu_gntshr_free() tries again.
 */
static int pool_destroy_locked(struct uiommu_gntshr *gs, struct gnt_pool *p)
{
	size_t i = pool_index_locked(gs, p->hpa);
	int ret = pool_park_locked(gs, p) ? 0
					  : mem_frames_free_shared(gs->ctx, p->hpa, p->order, p->fd);

	if (ret) {
		ctx_warn(gs->ctx, "grant: pages at hpa 0x%llx not freed: %s",
			 (unsigned long long)p->hpa, uiommu_strerror(ret));
		return ret;
	}
	memmove(&gs->pools[i], &gs->pools[i + 1], (gs->npools - i - 1) * sizeof(gs->pools[0]));
	gs->npools--;
	ctx_free(gs->ctx, p->share_refs);
	ctx_free(gs->ctx, p);
	return 0;
}

static void pool_unref_locked(struct uiommu_gntshr *gs, struct gnt_pool *p)
{
	if (!--p->nrefs && p->freed)
		pool_destroy_locked(gs, p);
}

static int pool_new_locked(struct uiommu_gntshr *gs, uint16_t domid, uint32_t npages,
			   bool writable, struct gnt_pool **ret_pool)
{
	unsigned int order = npages > 1 ? ilog2_u64(npages - 1) + 1 : 0;
	struct gnt_pool *p;
	unsigned int k;
	void *hva;
	size_t i;
	int ret;

	if (gnt_grow(gs->ctx, &gs->pools, gs->npools, &gs->pools_cap))
		return -ENOMEM;
	p = ctx_alloc(gs->ctx, sizeof(*p));
	if (!p)
		return -ENOMEM;
	/* The newest spare of this size (zero already, and not sealed yet), or fresh frames. */
	for (k = gs->nspares; k-- > 0 && gs->spares[k].npages != npages;)
		;
	if (k < gs->nspares) {
		ret = mem_frames_unpark_shared(gs->ctx, order);
		if (ret)
			goto err_free;
		p->hpa = gs->spares[k].hpa;
		p->fd = gs->spares[k].fd;
		hva = gs->spares[k].hva;
		memmove(&gs->spares[k], &gs->spares[k + 1],
			(gs->nspares - k - 1) * sizeof(gs->spares[0]));
		gs->nspares--;
	} else {
		ret = mem_frames_alloc_shared(gs->ctx, order, npages, &p->hpa, &hva, &p->fd);
		if (ret)
			goto err_free;
	}
	p->hva = hva;
	p->order = order;
	p->npages = npages;
	p->domid = domid;
	p->writable = writable;
	for (i = 0; i < gs->npools && gs->pools[i]->hpa < p->hpa; i++)
		;
	memmove(&gs->pools[i + 1], &gs->pools[i], (gs->npools - i) * sizeof(gs->pools[0]));
	gs->pools[i] = p;
	gs->npools++;
	*ret_pool = p;
	return 0;

err_free:
	ctx_free(gs->ctx, p);
	return ret;
}

/* The live pool that starts at @hva. */
static struct gnt_pool *pool_at_locked(struct uiommu_gntshr *gs, const void *hva)
{
	uint64_t hpa;
	size_t i;

	if (!hva || uiommu_hva_to_hpa(gs->ctx, hva, &hpa))
		return NULL;
	i = pool_index_locked(gs, hpa);
	if (i == SIZE_MAX || gs->pools[i]->hva != hva || gs->pools[i]->freed)
		return NULL;
	return gs->pools[i];
}

/* ---- references ---- */

static bool ref_is_valid(const struct uiommu_gntshr *gs, uint32_t ref)
{
	return ref >= UIOMMU_GNTTAB_NR_RESERVED_ENTRIES && ref < gs->nr_entries;
}

/* Put @ref at the back of the free list: a stale reference is reused late. */
static void ref_free_locked(struct uiommu_gntshr *gs, uint32_t ref)
{
	struct gnt_ref *r = &gs->refs[ref];

	if (r->pool) {
		pool_unref_locked(gs, r->pool);
		r->pool = NULL;
	}
	r->state = GNT_REF_FREE;
	r->batch_head = false;
	r->next = UIOMMU_GRANT_INVALID_REF;
	if (gs->free_tail == UIOMMU_GRANT_INVALID_REF)
		gs->free_head = ref;
	else
		gs->refs[gs->free_tail].next = ref;
	gs->free_tail = ref;
	gs->nfree++;
	ctx_uncharge(gs->ctx, UIOMMU_RES_GRANTS, 1);
}

/* Take @count references off the free list as a chain; the caller checked nfree. */
static uint32_t refs_take_locked(struct uiommu_gntshr *gs, uint32_t count, uint8_t state)
{
	uint32_t head = gs->free_head, ref = head;

	for (uint32_t i = 0; i < count; i++) {
		gs->refs[ref].state = state;
		if (i + 1 < count)
			ref = gs->refs[ref].next;
	}
	gs->free_head = gs->refs[ref].next;
	if (gs->free_head == UIOMMU_GRANT_INVALID_REF)
		gs->free_tail = UIOMMU_GRANT_INVALID_REF;
	gs->refs[ref].next = UIOMMU_GRANT_INVALID_REF;
	gs->nfree -= count;
	return head;
}

static int refs_charge_locked(struct uiommu_gntshr *gs, uint32_t count)
{
	int ret;

	if (gs->nfree < count) {
		ctx_warn(gs->ctx, "grant: %u references asked for, %u free in domain %u's table",
			 count, gs->nfree, gs->domid);
		return -ENOSPC;
	}
	ret = ctx_charge(gs->ctx, UIOMMU_RES_GRANTS, count);
	if (ret)
		ctx_warn(gs->ctx, "grant: %u references refused by the grants limit", count);
	return ret;
}

static bool ref_is_claimed_locked(struct uiommu_gntshr *gs, uint32_t ref)
{
	return ref_is_valid(gs, ref) && gs->refs[ref].state == GNT_REF_CLAIMED;
}

/* Complete the end of access of a pending reference whose last pin went. */
static void ref_revoke_pending_locked(struct uiommu_gntshr *gs, uint32_t ref)
{
	if (!entry_end_access(gs, ref)) {
		/* Only this process writes the table: no pin, no flag. */
		ctx_err(gs->ctx, "grant: reference %u still flagged after its last unmap", ref);
		return;
	}
	gs->pending--;
	gs->refs[ref].pool->npending--;
	atomic_fetch_sub_explicit(&gs->ctx->counters[UIOMMU_COUNTER_GRANTS_PENDING], 1,
				  memory_order_relaxed);
	ref_free_locked(gs, ref);
}

int gnt_ref_pin_locked(struct uiommu_gntshr *gs, uint16_t domid, uint32_t ref, bool rw,
		       struct gnt_pool **ret_pool, uint64_t *ret_offset)
{
	struct gnt_ref *r;
	uint64_t frame;
	int st;

	if (ref >= gs->nr_entries)
		return UIOMMU_GNTST_BAD_GNTREF;
	r = &gs->refs[ref];
	/* A pending reference takes no new mappings, so that its revocation ends. */
	if (r->state != GNT_REF_CLAIMED || !r->pool)
		return UIOMMU_GNTST_GENERAL_ERROR;
	if ((!r->pin_ro && !r->pin_rw) || (rw && !r->pin_rw)) {
		st = entry_set_status(gs, ref, domid, rw);
		if (st)
			return st;
	} else if (r->pool->domid != domid) {
		return UIOMMU_GNTST_GENERAL_ERROR;
	}
	if (rw)
		r->pin_rw++;
	else
		r->pin_ro++;
	frame = atomic_load_explicit(entry_frame(gs, ref), memory_order_relaxed);
	*ret_pool = r->pool;
	*ret_offset = (frame << UIOMMU_FRAME_SHIFT) - r->pool->hpa;
	return UIOMMU_GNTST_OKAY;
}

void gnt_ref_unpin_locked(struct uiommu_gntshr *gs, uint32_t ref, bool rw)
{
	struct gnt_ref *r = &gs->refs[ref];

	if (rw)
		r->pin_rw--;
	else
		r->pin_ro--;
	entry_reduce_status(gs, ref, r);
	if (r->state == GNT_REF_PENDING && !r->pin_ro && !r->pin_rw)
		ref_revoke_pending_locked(gs, ref);
}

/* ---- public: the table ---- */

UIOMMU_EXPORT int uiommu_gntshr_new(struct uiommu_ctx *ctx, uint16_t domid, uint32_t nr_entries,
				    struct uiommu_gntshr **ret_gs)
{
	uint64_t bytes, npages;
	struct uiommu_gntshr *gs;
	void *hva;
	int ret;

	if (!ctx || !ret_gs || domid >= UIOMMU_DOMID_FIRST_RESERVED ||
	    nr_entries <= UIOMMU_GNTTAB_NR_RESERVED_ENTRIES || nr_entries > UIOMMU_GNTTAB_MAX_ENTRIES)
		return -EINVAL;
	ret = ctx_charge(ctx, UIOMMU_RES_GRANT_TABLES, 1);
	if (ret) {
		ctx_warn(ctx, "grant: table refused by the grant_tables limit");
		return ret;
	}
	gs = ctx_alloc(ctx, sizeof(*gs));
	if (!gs) {
		ret = -ENOMEM;
		goto err_uncharge;
	}
	gs->ctx = ctx;
	gs->domid = domid;
	gs->nr_entries = nr_entries;
	gs->epoll_fd = gs->wake_fd = -1;
	gs->refs = ctx_alloc_array(ctx, nr_entries, sizeof(*gs->refs));
	if (!gs->refs) {
		ret = -ENOMEM;
		goto err_free;
	}
	bytes = (uint64_t)nr_entries * GNT_ENTRY_SIZE;
	npages = (bytes + UIOMMU_FRAME_SIZE - 1) >> UIOMMU_FRAME_SHIFT;
	gs->table_order = npages > 1 ? ilog2_u64(npages - 1) + 1 : 0;
	ret = mem_frames_alloc_shared(ctx, gs->table_order, npages, &gs->table_hpa, &hva,
				      &gs->table_fd);
	if (ret)
		goto err_free_refs;
	/* We keep our writable mapping; nobody can make another. */
	if (fcntl(gs->table_fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SEAL)) {
		ret = -ENOMEM;
		goto err_table;
	}
	gs->table = hva;

	/* References 0..7 are reserved; the rest start free, in order. */
	gs->free_head = gs->free_tail = UIOMMU_GRANT_INVALID_REF;
	for (uint32_t ref = 0; ref < nr_entries; ref++)
		gs->refs[ref].next = UIOMMU_GRANT_INVALID_REF;
	for (uint32_t ref = UIOMMU_GNTTAB_NR_RESERVED_ENTRIES; ref + 1 < nr_entries; ref++)
		gs->refs[ref].next = ref + 1;
	gs->free_head = UIOMMU_GNTTAB_NR_RESERVED_ENTRIES;
	gs->free_tail = nr_entries - 1;
	gs->nfree = nr_entries - UIOMMU_GNTTAB_NR_RESERVED_ENTRIES;
	pthread_mutex_init(&gs->lock, NULL);
	*ret_gs = gs;
	return 0;

err_table:
	mem_frames_free_shared(ctx, gs->table_hpa, gs->table_order, gs->table_fd);
err_free_refs:
	ctx_free(ctx, gs->refs);
err_free:
	ctx_free(ctx, gs);
err_uncharge:
	ctx_uncharge(ctx, UIOMMU_RES_GRANT_TABLES, 1);
	return ret;
}

UIOMMU_EXPORT int uiommu_gntshr_free(struct uiommu_gntshr *gs)
{
	struct uiommu_ctx *ctx;

	if (!gs)
		return 0;
	ctx = gs->ctx;
	pthread_mutex_lock(&gs->lock);
	/* Pages freed while pinned (and since unpinned) go now. */
	for (size_t i = gs->npools; i-- > 0;)
		if (gs->pools[i]->freed && !gs->pools[i]->nrefs)
			pool_destroy_locked(gs, gs->pools[i]);
	if (gs->nfree != gs->nr_entries - UIOMMU_GNTTAB_NR_RESERVED_ENTRIES || gs->npools) {
		ctx_err(ctx, "grant: table of domain %u freed with %u references in use and "
			"%zu page allocations", gs->domid,
			gs->nr_entries - UIOMMU_GNTTAB_NR_RESERVED_ENTRIES - gs->nfree, gs->npools);
		pthread_mutex_unlock(&gs->lock);
		return -EBUSY;
	}
	while (gs->npeers)
		gnt_peer_drop_locked(gs, gs->peers[0]);
	pthread_mutex_unlock(&gs->lock);
	gnt_server_stop(gs);

	while (gs->nspares)
		spare_free(gs, &gs->spares[--gs->nspares]);
	mem_frames_free_shared(ctx, gs->table_hpa, gs->table_order, gs->table_fd);
	pthread_mutex_destroy(&gs->lock);
	ctx_free(ctx, gs->peers);
	ctx_free(ctx, gs->pools);
	ctx_free(ctx, gs->refs);
	ctx_free(ctx, gs);
	ctx_uncharge(ctx, UIOMMU_RES_GRANT_TABLES, 1);
	return 0;
}

struct uiommu_ctx *grant_gntshr_ctx(const struct uiommu_gntshr *gs)
{
	return gs->ctx;
}

UIOMMU_EXPORT uint16_t uiommu_gntshr_domid(const struct uiommu_gntshr *gs)
{
	return gs->domid;
}

/* ---- public: pages ---- */

static bool domid_is_peer(const struct uiommu_gntshr *gs, uint16_t domid)
{
	return domid < UIOMMU_DOMID_FIRST_RESERVED && domid != gs->domid;
}

UIOMMU_EXPORT int uiommu_gntshr_alloc_pages(struct uiommu_gntshr *gs, uint16_t domid,
					    uint32_t npages, int writable, void **ret_hva,
					    uint64_t *ret_frame)
{
	struct gnt_pool *p;
	int ret;

	if (!ret_hva || !npages || npages > GNT_MAX_PAGES || !domid_is_peer(gs, domid))
		return -EINVAL;
	pthread_mutex_lock(&gs->lock);
	ret = pool_new_locked(gs, domid, npages, writable, &p);
	pthread_mutex_unlock(&gs->lock);
	if (ret)
		return ret;
	*ret_hva = p->hva;
	if (ret_frame)
		*ret_frame = p->hpa >> UIOMMU_FRAME_SHIFT;
	return 0;
}

/* Free @p for its owner: now (-EBUSY if pinned), or when its last pending reference goes. */
static int pool_release_locked(struct uiommu_gntshr *gs, struct gnt_pool *p)
{
	int ret;

	if (p->nrefs) {
		p->freed = true;
		return 0;
	}
	ret = pool_destroy_locked(gs, p);
	if (ret == -EBUSY)
		return ret;
	if (ret)
		p->freed = true; /* could not be unmapped: kept, never reused */
	return 0;
}

UIOMMU_EXPORT int uiommu_gntshr_free_pages(struct uiommu_gntshr *gs, void *hva)
{
	struct gnt_pool *p;
	int ret = 0;

	pthread_mutex_lock(&gs->lock);
	p = pool_at_locked(gs, hva);
	if (!p || p->share_refs)
		ret = -ENOENT;
	else if (p->nrefs != p->npending) /* a frame is still granted, not pending */
		ret = -EBUSY;
	else
		ret = pool_release_locked(gs, p);
	pthread_mutex_unlock(&gs->lock);
	return ret;
}

/* ---- public: references ---- */

UIOMMU_EXPORT int uiommu_gntshr_alloc_grant_references(struct uiommu_gntshr *gs, uint32_t count,
						       uint32_t *ret_head)
{
	int ret;

	if (!count || !ret_head)
		return -EINVAL;
	pthread_mutex_lock(&gs->lock);
	ret = refs_charge_locked(gs, count);
	if (!ret) {
		*ret_head = refs_take_locked(gs, count, GNT_REF_RESERVED);
		gs->refs[*ret_head].batch_head = true;
	}
	pthread_mutex_unlock(&gs->lock);
	return ret;
}

static bool is_batch_head_locked(struct uiommu_gntshr *gs, uint32_t head)
{
	return ref_is_valid(gs, head) && gs->refs[head].state == GNT_REF_RESERVED &&
	       gs->refs[head].batch_head;
}

UIOMMU_EXPORT int uiommu_gntshr_claim_grant_reference(struct uiommu_gntshr *gs, uint32_t *head)
{
	uint32_t ref;
	int ret;

	if (!head)
		return -EINVAL;
	if (*head == UIOMMU_GRANT_INVALID_REF)
		return -ENOSPC;
	pthread_mutex_lock(&gs->lock);
	ref = *head;
	if (!is_batch_head_locked(gs, ref)) {
		ret = -EINVAL;
	} else {
		struct gnt_ref *r = &gs->refs[ref];

		*head = r->next;
		if (*head != UIOMMU_GRANT_INVALID_REF)
			gs->refs[*head].batch_head = true;
		r->state = GNT_REF_CLAIMED;
		r->batch_head = false;
		r->next = UIOMMU_GRANT_INVALID_REF;
		ret = (int)ref;
	}
	pthread_mutex_unlock(&gs->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_gntshr_free_grant_references(struct uiommu_gntshr *gs, uint32_t head)
{
	int ret = 0;

	if (head == UIOMMU_GRANT_INVALID_REF)
		return 0;
	pthread_mutex_lock(&gs->lock);
	if (!is_batch_head_locked(gs, head)) {
		ret = -EINVAL;
	} else {
		while (head != UIOMMU_GRANT_INVALID_REF) {
			uint32_t next = gs->refs[head].next;

			ref_free_locked(gs, head);
			head = next;
		}
	}
	pthread_mutex_unlock(&gs->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_gntshr_free_grant_reference(struct uiommu_gntshr *gs, uint32_t ref)
{
	int ret = 0;

	pthread_mutex_lock(&gs->lock);
	if (!ref_is_claimed_locked(gs, ref))
		ret = -EINVAL;
	else if (gs->refs[ref].pool)
		ret = -EBUSY;
	else
		ref_free_locked(gs, ref);
	pthread_mutex_unlock(&gs->lock);
	return ret;
}

/* The pool a frame may be granted from to @domid, or the reason it may not. */
static int frame_pool_locked(struct uiommu_gntshr *gs, uint16_t domid, uint64_t frame,
			     bool readonly, struct gnt_pool **ret_pool)
{
	size_t i;

	if (frame > UINT32_MAX) /* v1 entries hold 32-bit frame numbers */
		return -EFAULT;
	i = pool_index_locked(gs, frame << UIOMMU_FRAME_SHIFT);
	if (i == SIZE_MAX || gs->pools[i]->freed)
		return -EFAULT;
	if (gs->pools[i]->domid != domid || gs->pools[i]->writable == readonly)
		return -EPERM;
	*ret_pool = gs->pools[i];
	return 0;
}

static int grant_locked(struct uiommu_gntshr *gs, uint32_t ref, uint16_t domid, uint64_t frame,
			bool readonly)
{
	struct gnt_pool *p;
	int ret;

	if (!ref_is_claimed_locked(gs, ref))
		return -EINVAL;
	if (gs->refs[ref].pool)
		return -EBUSY;
	ret = frame_pool_locked(gs, domid, frame, readonly, &p);
	if (ret) {
		ctx_warn(gs->ctx, "grant: frame 0x%llx cannot be granted %s to domain %u: %s",
			 (unsigned long long)frame, readonly ? "read-only" : "read-write", domid,
			 ret == -EFAULT ? "not a shareable page of this table"
					: "its pages are for another domain or access");
		return ret;
	}
	gs->refs[ref].pool = p;
	p->nrefs++;
	entry_grant(gs, ref, domid, (uint32_t)frame, readonly);
	return 0;
}

UIOMMU_EXPORT int uiommu_gntshr_grant_foreign_access_ref(struct uiommu_gntshr *gs, uint32_t ref,
							 uint16_t domid, uint64_t frame,
							 int readonly)
{
	int ret;

	pthread_mutex_lock(&gs->lock);
	ret = grant_locked(gs, ref, domid, frame, readonly);
	pthread_mutex_unlock(&gs->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_gntshr_grant_foreign_access(struct uiommu_gntshr *gs, uint16_t domid,
						     uint64_t frame, int readonly)
{
	uint32_t ref;
	int ret;

	pthread_mutex_lock(&gs->lock);
	ret = refs_charge_locked(gs, 1);
	if (ret)
		goto out;
	ref = refs_take_locked(gs, 1, GNT_REF_CLAIMED);
	ret = grant_locked(gs, ref, domid, frame, readonly);
	if (ret)
		ref_free_locked(gs, ref);
	else
		ret = (int)ref;
out:
	pthread_mutex_unlock(&gs->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_gntshr_query_foreign_access(struct uiommu_gntshr *gs, uint32_t ref)
{
	if (ref >= gs->nr_entries)
		return -EINVAL;
	return entry_flags(gs, ref) & (UIOMMU_GTF_READING | UIOMMU_GTF_WRITING);
}

/* End access to a claimed @ref (granted or not): true if it ended. */
static bool end_access_locked(struct uiommu_gntshr *gs, uint32_t ref)
{
	struct gnt_ref *r = &gs->refs[ref];

	if (!r->pool)
		return true;
	if (!entry_end_access(gs, ref))
		return false;
	pool_unref_locked(gs, r->pool);
	r->pool = NULL;
	return true;
}

UIOMMU_EXPORT int uiommu_gntshr_end_foreign_access_ref(struct uiommu_gntshr *gs, uint32_t ref)
{
	int ret = 0;

	pthread_mutex_lock(&gs->lock);
	if (!ref_is_claimed_locked(gs, ref) || !gs->refs[ref].pool)
		ret = -EINVAL;
	else if (!end_access_locked(gs, ref))
		ret = -EBUSY;
	pthread_mutex_unlock(&gs->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_gntshr_try_end_foreign_access(struct uiommu_gntshr *gs, uint32_t ref)
{
	int ret = 0;

	pthread_mutex_lock(&gs->lock);
	if (!ref_is_claimed_locked(gs, ref))
		ret = -EINVAL;
	else if (!end_access_locked(gs, ref))
		ret = -EBUSY;
	else
		ref_free_locked(gs, ref);
	pthread_mutex_unlock(&gs->lock);
	return ret;
}

static int end_foreign_access_locked(struct uiommu_gntshr *gs, uint32_t ref)
{
	if (!ref_is_claimed_locked(gs, ref)) {
		/* A caller bug worth a word: Linux's pgdir helper ended reference 0 so. */
		ctx_warn(gs->ctx, "grant: end of access to reference %u, which is %s", ref,
			 ref < UIOMMU_GNTTAB_NR_RESERVED_ENTRIES ? "reserved" : "not claimed");
		return -EINVAL;
	}
	if (end_access_locked(gs, ref)) {
		ref_free_locked(gs, ref);
		return 0;
	}
	/* XSA-396: the peer maps it; the reference and its page wait for it. */
	gs->refs[ref].state = GNT_REF_PENDING;
	gs->refs[ref].pool->npending++;
	gs->pending++;
	ctx_count(gs->ctx, UIOMMU_COUNTER_GRANTS_PENDING, 1);
	ctx_debug(gs->ctx, "grant: domain %u still maps reference %u: access ends when it "
		 "unmaps it", gs->refs[ref].pool->domid, ref);
	return 1;
}

UIOMMU_EXPORT int uiommu_gntshr_end_foreign_access(struct uiommu_gntshr *gs, uint32_t ref)
{
	int ret;

	pthread_mutex_lock(&gs->lock);
	ret = end_foreign_access_locked(gs, ref);
	pthread_mutex_unlock(&gs->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_gntshr_get_pending(struct uiommu_gntshr *gs, uint64_t *ret_count)
{
	if (!ret_count)
		return -EINVAL;
	pthread_mutex_lock(&gs->lock);
	*ret_count = gs->pending;
	pthread_mutex_unlock(&gs->lock);
	return 0;
}

/* ---- public: libxengntshr's share / unshare ---- */

UIOMMU_EXPORT int uiommu_gntshr_share_pages(struct uiommu_gntshr *gs, uint16_t domid,
					    uint32_t count, uint32_t *refs, int writable,
					    void **ret_addr)
{
	struct gnt_pool *p;
	uint32_t head;
	int ret;

	if (!refs || !ret_addr || !count || count > GNT_MAX_PAGES || !domid_is_peer(gs, domid))
		return -EINVAL;
	pthread_mutex_lock(&gs->lock);
	ret = refs_charge_locked(gs, count);
	if (ret)
		goto out;
	ret = pool_new_locked(gs, domid, count, writable, &p);
	if (ret)
		goto err_uncharge;
	p->share_refs = ctx_alloc_array(gs->ctx, count, sizeof(uint32_t));
	if (!p->share_refs) {
		ret = -ENOMEM;
		pool_destroy_locked(gs, p);
		goto err_uncharge;
	}
	head = refs_take_locked(gs, count, GNT_REF_CLAIMED);
	for (uint32_t i = 0; i < count; i++) {
		uint32_t next = gs->refs[head].next;

		gs->refs[head].next = UIOMMU_GRANT_INVALID_REF;
		/* Cannot fail: a claimed reference and a frame of a pool for @domid. */
		(void)grant_locked(gs, head, domid, (p->hpa >> UIOMMU_FRAME_SHIFT) + i, !writable);
		p->share_refs[i] = refs[i] = head;
		head = next;
	}
	*ret_addr = p->hva;
	goto out;

err_uncharge:
	ctx_uncharge(gs->ctx, UIOMMU_RES_GRANTS, count);
out:
	pthread_mutex_unlock(&gs->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_gntshr_unshare(struct uiommu_gntshr *gs, void *start_address,
					uint32_t count)
{
	struct gnt_pool *p;
	uint32_t *refs;
	int pending = 0;

	pthread_mutex_lock(&gs->lock);
	p = pool_at_locked(gs, start_address);
	if (!p || !p->share_refs) {
		pthread_mutex_unlock(&gs->lock);
		return -ENOENT;
	}
	if (count != p->npages) {
		pthread_mutex_unlock(&gs->lock);
		return -EINVAL;
	}
	/*
	 * Free it for its owner, holding a reference of our own meanwhile: the
	 * last of its references may go in the loop. References of the share
	 * that the caller ended one by one (and that may grant other pages by
	 * now) are left alone.
	 */
	refs = p->share_refs;
	p->freed = true;
	p->nrefs++;
	for (uint32_t i = 0; i < count; i++)
		if (gs->refs[refs[i]].pool == p && gs->refs[refs[i]].state == GNT_REF_CLAIMED)
			pending += end_foreign_access_locked(gs, refs[i]);
	pool_unref_locked(gs, p);
	pthread_mutex_unlock(&gs->lock);
	return pending;
}
