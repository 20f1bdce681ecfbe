// SPDX-License-Identifier: BSD-3-Clause
/*
 * The accelerated hypercalls' work on a host table: the ops of the seam
 * (internal.h) that papr calls inside the hypercall's read-side section,
 * with the semantics of Linux arch/powerpc/kvm/book3s_64_vio.c
 * (kvmppc_tce_validate(), kvmppc_tce_iommu_map() / _do_map(),
 * kvmppc_tce_iommu_unmap() / _do_unmap(), kvmppc_clear_tce(), and the
 * iommu_tce_kill() after each hcall's loop), fixed where Linux loses
 * counts:
 * - kvmppc_clear_tce() (the error path) empties the hardware entries
 *   without decrementing the regions' mapped counts or clearing the
 *   userspace view, so the VFIO clear that follows finds the entries
 *   empty and the counts leak; here a clear is a full unmap.
 * - Linux decrements mapped for a replaced entry before its kill; here
 *   what a replaced entry held is released after the hcall's kill, as the
 *   container does, so that no cached translation outlives its pin.
 *
 * Every index given to the host table, to its userspace view and to its
 * kill is a host index: guest entry e is host entries [e << sub_shift,
 * (e + 1) << sub_shift) (26a62b750a4e). A batch (one hcall on one table)
 * holds the container's entries from begin to end (vfio_shim.c) and
 * gathers the kill range and the releases.
 */
#include "accel.h"

/* Registrations whose counts one batch gathers before it must kill and release. */
#define ACCEL_REL_MAX 5

struct accel_batch {
	struct accel_table *at;
	uint64_t token;			 /* accel_vfio_begin()'s */
	uint64_t kill_first, kill_last;	 /* host entries changed since the last kill */
	int64_t tces;			 /* change of the container's TCE count */
	struct vfio_hold *hold;		 /* the registration last used */
	uint64_t hold_ua, hold_last;
	/*
	 * TCE counts taken from a registration ahead of the entries that use
	 * them (one atomic per run, not per entry); what is left goes back at
	 * the end. @left: host entries of the batch not done yet.
	 */
	struct vfio_hold *res_h;
	uint64_t res_n, left;
	uint64_t nrel;
	struct {
		struct vfio_hold *h;
		uint64_t n;
	} rel[ACCEL_REL_MAX]; /* TCEs to take back from registrations after the kill */
};

_Static_assert(sizeof(struct accel_batch) <= sizeof(((struct papr_hw_batch *)0)->priv),
	       "struct accel_batch must fit the seam's batch");

static inline struct accel_batch *batch_of(struct papr_hw_batch *pb)
{
	return (struct accel_batch *)(void *)pb->priv;
}

/* A UIOMMU_FAULT_HCALL fault point, its test inline: the loops run it per host entry. */
static inline bool hcall_fault(struct uiommu_ctx *ctx)
{
	return unlikely(atomic_load_explicit(&ctx->fault_flags, memory_order_relaxed)) &&
	       ctx_fault(ctx, UIOMMU_FAULT_HCALL);
}

static long too_hard(struct accel_table *at)
{
	atomic_fetch_add_explicit(&at->too_hard, 1, memory_order_relaxed);
	ctx_count(at->ctx, UIOMMU_COUNTER_ACCEL_TOO_HARD, 1);
	return UIOMMU_H_TOO_HARD;
}

/*
 * The user address of guest page @gpa (@size bytes, in one memslot), or
 * false. The memslot is remembered in the seam's batch (which may come
 * with the hcall's own).
 */
static inline bool batch_ua(struct papr_hw_batch *pb, uint64_t gpa, uint64_t size,
			    uint64_t *ret_ua)
{
	if (unlikely(gpa < pb->slot_first || gpa > pb->slot_last || size - 1 > pb->slot_last - gpa)) {
		struct uiommu_guest *guest = batch_of(pb)->at->guest;
		uint64_t first, last;
		void *hva;

		if (!guest_memslot_rcu(guest, gpa, &first, &last) || size - 1 > last - gpa ||
		    !(hva = guest_gpa_to_hva_rcu(guest, first, 1)))
			return false;
		pb->slot_first = first;
		pb->slot_last = last;
		pb->slot_hva = (uint64_t)(uintptr_t)hva;
	}
	*ret_ua = pb->slot_hva + (gpa - pb->slot_first);
	return true;
}

/* The container's registration holding [ua, ua + size), or NULL. */
static inline struct vfio_hold *batch_hold(struct accel_batch *b, uint64_t ua, uint64_t size)
{
	if (unlikely(!b->hold || ua < b->hold_ua || ua > b->hold_last ||
		     size - 1 > b->hold_last - ua)) {
		struct vfio_hold *h = accel_vfio_hold_rcu(b->at->c, ua, size);

		if (!h)
			return NULL;
		b->hold = h;
		accel_vfio_hold_range(h, &b->hold_ua, &b->hold_last);
	}
	return b->hold;
}

static inline void kill_add(struct accel_batch *b, uint64_t e)
{
	if (b->kill_first > b->kill_last) {
		b->kill_first = b->kill_last = e;
	} else {
		b->kill_first = MIN(b->kill_first, e);
		b->kill_last = MAX(b->kill_last, e);
	}
}

/* The kill of what changed, then the releases it allows. */
static void batch_flush(struct accel_batch *b)
{
	if (b->kill_first <= b->kill_last)
		tce_kill_rcu(b->at->tbl, b->kill_first, b->kill_last - b->kill_first + 1);
	for (uint64_t i = 0; i < b->nrel; i++)
		accel_vfio_hold_sub(b->rel[i].h, b->rel[i].n);
	b->nrel = 0;
	b->kill_first = 1;
	b->kill_last = 0;
}

/* An entry stopped pointing at @ua: take its TCE back from its registration after the kill. */
static void batch_release(struct accel_batch *b, uint64_t ua)
{
	struct accel_table *at = b->at;
	struct vfio_hold *h = batch_hold(b, ua, 1ULL << at->host_shift);

	if (unlikely(!h)) {
		/* A TCE of ours always points into a registration the container holds. */
		ctx_err(at->ctx, "accel: LIOBN 0x%llx: a host TCE pointed at 0x%llx, in no region",
			(unsigned long long)at->liobn, (unsigned long long)ua);
		return;
	}
	if (b->nrel && b->rel[b->nrel - 1].h == h) {
		b->rel[b->nrel - 1].n++;
		return;
	}
	if (b->nrel == ACCEL_REL_MAX)
		batch_flush(b);
	b->rel[b->nrel].h = h;
	b->rel[b->nrel].n = 1;
	b->nrel++;
}

/* kvmppc_tce_validate() for one attached table: the page is preregistered, large enough. */
static long accel_validate(struct papr_hw_batch *pb, uint64_t tce)
{
	struct accel_batch *b = batch_of(pb);
	struct accel_table *at = b->at;
	uint64_t size = 1ULL << at->guest_shift, ua, hpa;
	struct vfio_hold *h;

	if (!batch_ua(pb, tce & ~(size - 1), size, &ua))
		return too_hard(at);
	h = batch_hold(b, ua, size);
	if (!h || accel_vfio_hold_hpa(h, ua, at->host_shift, &hpa))
		return too_hard(at);
	return UIOMMU_H_SUCCESS;
}

static long accel_begin(struct papr_hw_batch *pb, uint64_t entry, uint64_t npages)
{
	struct accel_table *at = pb->opaque;
	struct accel_batch *b = batch_of(pb);
	uint64_t first = entry << at->sub_shift;

	/* A huge H_STUFF_TCE is the VMM's: its clear skips absent levels, ours could not. */
	if (npages > (UIOMMU_ACCEL_MAX_BATCH >> at->sub_shift) ||
	    hcall_fault(at->ctx) ||
	    !accel_vfio_begin(at->c, at->num, at->tbl, first,
			      first + (npages << at->sub_shift) - 1, &b->token))
		return too_hard(at);
	b->at = at;
	b->kill_first = 1;
	b->kill_last = 0;
	b->tces = 0;
	b->hold = NULL;
	b->res_h = NULL;
	b->res_n = 0;
	b->left = npages << at->sub_shift;
	b->nrel = 0;
	return UIOMMU_H_SUCCESS;
}

/* Host entry @e to nothing, releasing what it held. */
static void unmap_one(struct accel_batch *b, uint64_t e)
{
	struct uiommu_tce_table *tbl = b->at->tbl;
	enum uiommu_dma_dir old_dir = UIOMMU_DMA_NONE;
	uint64_t old_ua = 0, cur = 0;

	/*
	 * Most entries a guest clears are empty (Linux stuffs whole windows):
	 * look before exchanging. The batch holds the entry: nobody else writes it.
	 */
	uiommu_tce_table_get(tbl, e, &cur);
	if (!cur)
		return;
	/* Clearing never needs a level: an absent one holds an empty entry. */
	uiommu_tce_table_xchg_no_alloc(tbl, e, 0, UIOMMU_DMA_NONE, NULL, &old_dir);
	if (old_dir == UIOMMU_DMA_NONE)
		return;
	uiommu_tce_table_ua_xchg_no_alloc(tbl, e, 0, &old_ua);
	kill_add(b, e);
	b->tces--;
	batch_release(b, old_ua);
}

/*
 * @n TCE counts from @h for entries about to point into it: from what the
 * batch took already, or taken now for every host entry the batch has
 * left (the region's mapped and the container's counts, one atomic each).
 * False if the region is being unregistered.
 */
static inline bool batch_reserve(struct accel_batch *b, struct vfio_hold *h, uint64_t n)
{
	if (likely(b->res_h == h && b->res_n >= n)) {
		b->res_n -= n;
		return true;
	}
	if (b->res_n)
		accel_vfio_hold_sub(b->res_h, b->res_n);
	b->res_h = NULL;
	b->res_n = 0;
	if (accel_vfio_hold_add(h, MAX(n, b->left)))
		return false;
	b->res_h = h;
	b->res_n = MAX(n, b->left) - n;
	return true;
}

/* kvmppc_tce_iommu_map(): every host entry of guest entry @entry. */
static inline long map_one(struct papr_hw_batch *pb, uint64_t entry, uint64_t tce)
{
	struct accel_batch *b = batch_of(pb);
	struct accel_table *at = b->at;
	const uint64_t size = 1ULL << at->guest_shift, n = 1ULL << at->sub_shift;
	const uint64_t first = entry << at->sub_shift;
	const enum uiommu_dma_dir dir = uiommu_tce_direction(tce);
	struct vfio_hold *h;
	uint64_t ua, hpa, i;

	/* As the VMM path maps it (QEMU's notifier masks the gpa to the page). */
	if (!batch_ua(pb, tce & ~(size - 1), size, &ua))
		return too_hard(at);
	h = batch_hold(b, ua, size);
	if (!h || accel_vfio_hold_hpa(h, ua, at->host_shift, &hpa))
		return too_hard(at);
	/* One count per host TCE, for the whole page at once; what is not used goes back. */
	if (!batch_reserve(b, h, n))
		return too_hard(at); /* the region is being unregistered */
	b->left -= MIN(b->left, n);
	for (i = 0; i < n; i++) {
		uint64_t e = first + i, ua_i = ua + (i << at->host_shift), old_ua, old_hpa;
		enum uiommu_dma_dir old_dir;

		if (hcall_fault(at->ctx) ||
		    (i && accel_vfio_hold_hpa(h, ua_i, at->host_shift, &hpa)))
			break;
		/* A missing level of either tree: the VMM path allocates it. */
		if (uiommu_tce_table_ua_xchg_no_alloc(at->tbl, e, ua_i, &old_ua))
			break;
		if (uiommu_tce_table_xchg_no_alloc(at->tbl, e, hpa, dir, &old_hpa, &old_dir)) {
			/* A word that held something has its level: this cannot fail. */
			uiommu_tce_table_ua_xchg_no_alloc(at->tbl, e, old_ua, NULL);
			break;
		}
		kill_add(b, e);
		if (old_dir != UIOMMU_DMA_NONE)
			batch_release(b, old_ua);
		else
			b->tces++;
	}
	if (i == n)
		return UIOMMU_H_SUCCESS;
	b->res_n += n - i; /* the counts not used stay with the batch */
	return too_hard(at); /* the host entries before i are mapped: a redo overwrites them */
}

static long accel_map(struct papr_hw_batch *pb, uint64_t entry, uint64_t tce)
{
	return map_one(pb, entry, tce);
}

/* kvmppc_tce_iommu_unmap(): every host entry of guest entry @entry. */
static long accel_unmap(struct papr_hw_batch *pb, uint64_t entry)
{
	struct accel_batch *b = batch_of(pb);
	struct accel_table *at = b->at;
	const uint64_t n = 1ULL << at->sub_shift, first = entry << at->sub_shift;

	b->left -= MIN(b->left, n);
	for (uint64_t i = 0; i < n; i++) {
		if (hcall_fault(at->ctx))
			return too_hard(at);
		unmap_one(b, first + i);
	}
	return UIOMMU_H_SUCCESS;
}

/* uiommu_tce_table_clear()'s word for each entry that held a TCE. */
static void unmap_range_one(void *opaque, uint64_t e, uint64_t old_hpa, enum uiommu_dma_dir old_dir)
{
	struct accel_batch *b = opaque;
	uint64_t old_ua = 0;

	(void)old_hpa;
	(void)old_dir;
	/* The word exists since the TCE did: clearing it never needs a level. */
	uiommu_tce_table_ua_xchg_no_alloc(b->at->tbl, e, 0, &old_ua);
	/* No kill_add(): the clear kills its whole range before the batch releases anything. */
	b->tces--;
	batch_release(b, old_ua);
}

/*
 * kvmppc_tce_iommu_unmap() of guest entries [entry, entry + npages): the
 * table's own clear, which skips absent levels and looks at empty entries
 * eight at a time (and kills the range it cleared).
 */
static long accel_unmap_range(struct papr_hw_batch *pb, uint64_t entry, uint64_t npages)
{
	struct accel_batch *b = batch_of(pb);
	struct accel_table *at = b->at;

	if (hcall_fault(at->ctx))
		return too_hard(at);
	uiommu_tce_table_clear(at->tbl, entry << at->sub_shift, npages << at->sub_shift,
			       unmap_range_one, b, NULL);
	return UIOMMU_H_SUCCESS;
}

/* kvmppc_clear_tce(), but releasing what the entries held (see the top). */
static void accel_clear(struct papr_hw_batch *pb, uint64_t entry)
{
	struct accel_batch *b = batch_of(pb);
	const uint64_t n = 1ULL << b->at->sub_shift, first = entry << b->at->sub_shift;

	for (uint64_t i = 0; i < n; i++)
		unmap_one(b, first + i);
}

static void accel_end(struct papr_hw_batch *pb)
{
	struct accel_batch *b = batch_of(pb);

	if (b->res_n)
		accel_vfio_hold_sub(b->res_h, b->res_n);
	batch_flush(b);
	accel_vfio_end(b->at->c, b->token, b->tces);
}

const struct papr_hw_ops accel_hw_ops = {
	.begin = accel_begin,
	.validate = accel_validate,
	.map = accel_map,
	.unmap = accel_unmap,
	.unmap_range = accel_unmap_range,
	.clear = accel_clear,
	.end = accel_end,
};
