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
 * holds the container's entries from begin to end (the container's
 * vfio_entries_tryhold()) and gathers the kill range and the releases.
 *
 * papr hands a batch whole lists (validate_list, put_list): one pass
 * validates every TCE, one pass writes every entry, walking each tree once
 * per last-level page (tce_leaf()) and reading and storing the words
 * directly (the batch holds the entries: nobody else writes them).
 */
#include <endian.h>

#include "accel.h"

/* Registrations whose counts one batch gathers before it must kill and release. */
#define ACCEL_REL_MAX 4

struct accel_batch {
	struct accel_table *at;
	uint64_t token;			 /* vfio_entries_tryhold()'s */
	uint64_t kill_first, kill_last;	 /* host entries changed since the last kill */
	int64_t tces;			 /* change of the container's TCE count */
	struct vfio_reg reg;		 /* the registration last used (reg.h NULL: none) */
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

/*
 * The container's registration holding [ua, ua + size), in b->reg, or
 * false. A new one is checked once for pages of the host table's size
 * (mm_iommu_ua_to_hpa()'s page-shift check), which holds for all of it.
 */
static inline bool batch_reg(struct accel_batch *b, uint64_t ua, uint64_t size)
{
	if (likely(b->reg.h && ua >= b->reg.ua && ua <= b->reg.last &&
		   size - 1 <= b->reg.last - ua))
		return true;
	return vfio_reg_find_rcu(b->at->c, ua, size, &b->reg) &&
	       !prereg_ua_to_hpa(b->reg.mem, ua, b->at->host_shift, &(uint64_t){ 0 });
}

/*
 * The guest pages a run can take without a lookup: those wholly in both
 * the memslot and the registration the batch remembers, as one range of
 * first bytes [*ret_lo, *ret_lo + *ret_lim], so that a gpa is checked
 * with one compare (gpa - lo <= lim) and its user address is
 * slot_hva + (gpa - slot_first). False if there are none.
 */
static inline bool run_window(const struct papr_hw_batch *pb, const struct accel_batch *b,
			      uint64_t size, uint64_t *ret_lo, uint64_t *ret_lim)
{
	uint64_t ua_lo, ua_hi;

	if (!b->reg.h || pb->slot_first > pb->slot_last)
		return false;
	ua_lo = MAX(pb->slot_hva, b->reg.ua);
	ua_hi = MIN(pb->slot_hva + (pb->slot_last - pb->slot_first), b->reg.last);
	if (ua_hi < ua_lo || ua_hi - ua_lo < size - 1)
		return false;
	*ret_lo = pb->slot_first + (ua_lo - pb->slot_hva);
	*ret_lim = (ua_hi - ua_lo) - (size - 1);
	return true;
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
		vfio_hold_sub(b->rel[i].h, b->rel[i].n);
	b->nrel = 0;
	b->kill_first = 1;
	b->kill_last = 0;
}

/* An entry stopped pointing at @ua: take its TCE back from its registration after the kill. */
static void batch_release(struct accel_batch *b, uint64_t ua)
{
	struct accel_table *at = b->at;
	struct vfio_hold *h;

	if (likely(b->reg.h && ua >= b->reg.ua && ua <= b->reg.last)) {
		h = b->reg.h;
	} else {
		struct vfio_reg r;

		if (unlikely(!vfio_reg_find_rcu(at->c, ua, 1ULL << at->host_shift, &r))) {
			/* A TCE of ours always points into a registration the container holds. */
			ctx_err(at->ctx,
				"accel: LIOBN 0x%llx: a host TCE pointed at 0x%llx, in no region",
				(unsigned long long)at->liobn, (unsigned long long)ua);
			return;
		}
		h = r.h;
	}
	for (uint64_t i = b->nrel; i-- > 0;) {
		if (b->rel[i].h == h) {
			b->rel[i].n++;
			return;
		}
	}
	if (b->nrel == ACCEL_REL_MAX)
		batch_flush(b); /* more regions than that in one hcall: a kill of its own */
	b->rel[b->nrel].h = h;
	b->rel[b->nrel].n = 1;
	b->nrel++;
}

/*
 * kvmppc_tce_validate() for one attached table, of every TCE with R/W of
 * @tces: the page is in one of the container's registrations, of pages
 * large enough.
 */
static long accel_validate_list(struct papr_hw_batch *pb, const uint64_t *tces, uint64_t n)
{
	struct accel_batch *b = batch_of(pb);
	struct accel_table *at = b->at;
	const uint64_t size = 1ULL << at->guest_shift;

	for (uint64_t i = 0; i < n; i++) {
		/* A run in the memslot and registration remembered, with one compare a TCE. */
		uint64_t lo, lim, ua;

		if (run_window(pb, b, size, &lo, &lim))
			while (i < n && (!(tces[i] & UIOMMU_TCE_PERM_MASK) ||
					 (tces[i] & ~(size - 1)) - lo <= lim))
				i++;
		if (i == n)
			break;
		if (!(tces[i] & UIOMMU_TCE_PERM_MASK))
			continue;
		if (!batch_ua(pb, tces[i] & ~(size - 1), size, &ua) || !batch_reg(b, ua, size))
			return too_hard(at);
	}
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
	    !vfio_entries_tryhold(at->c, at->num, at->tbl, first,
				  first + (npages << at->sub_shift) - 1, &b->token))
		return too_hard(at);
	b->at = at;
	b->kill_first = 1;
	b->kill_last = 0;
	b->tces = 0;
	b->reg.h = NULL;
	b->res_h = NULL;
	b->res_n = 0;
	b->left = npages << at->sub_shift;
	b->nrel = 0;
	return UIOMMU_H_SUCCESS;
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
		vfio_hold_sub(b->res_h, b->res_n);
	b->res_h = NULL;
	b->res_n = 0;
	if (vfio_hold_add(h, MAX(n, b->left)))
		return false;
	b->res_h = h;
	b->res_n = MAX(n, b->left) - n;
	return true;
}

/*
 * The words of host entry @e in both trees, through the last-level pages
 * a list walks once each: [l->first, l->end) are at l->hw and l->ua.
 */
struct leaf {
	uint64_t first, end;
	_Atomic uint64_t *hw, *ua; /* NULL: that level is not allocated */
};

static inline bool leaf_get(struct uiommu_tce_table *tbl, struct leaf *l, uint64_t e)
{
	if (unlikely(e < l->first || e >= l->end)) {
		uint64_t n = 1;

		if (!tce_leaf(tbl, e, &l->hw, &l->ua, &n))
			l->hw = l->ua = NULL;
		l->first = e;
		l->end = e + n;
	}
	return l->hw != NULL;
}

/* Host entry @e to nothing, releasing what it held. */
static inline void unmap_one(struct accel_batch *b, struct leaf *l, uint64_t e)
{
	uint64_t old, old_ua = 0;

	/* Clearing never needs a level: an absent one holds an empty entry. */
	if (!leaf_get(b->at->tbl, l, e))
		return;
	/*
	 * The batch holds the entry: nobody else writes it, so a load and a
	 * store do what an exchange would. Most entries a guest clears are
	 * empty (Linux stuffs whole windows).
	 */
	old = be64toh(atomic_load_explicit(&l->hw[e - l->first], memory_order_relaxed));
	if (!old)
		return;
	atomic_store_explicit(&l->hw[e - l->first], 0, memory_order_release);
	if (!(old & UIOMMU_TCE_PERM_MASK))
		return;
	if (l->ua) {
		old_ua = be64toh(atomic_load_explicit(&l->ua[e - l->first], memory_order_relaxed));
		atomic_store_explicit(&l->ua[e - l->first], 0, memory_order_relaxed);
	}
	kill_add(b, e);
	b->tces--;
	batch_release(b, old_ua);
}

/*
 * kvmppc_tce_iommu_map(): every host entry of guest entry @entry; false:
 * H_TOO_HARD, the entry untouched if its page is not one the fast path can
 * map (accel_validate_list()'s refusal), else cleared. An entry that pointed into the same
 * registration keeps its TCE count (the region's mapped and the
 * container's do not change, so they need no atomic); one that pointed
 * elsewhere gives its count back after the kill.
 */
static inline bool map_one(struct papr_hw_batch *pb, struct leaf *l, uint64_t entry,
			   uint64_t tce)
{
	struct accel_batch *b = batch_of(pb);
	struct accel_table *at = b->at;
	const uint64_t size = 1ULL << at->guest_shift, n = 1ULL << at->sub_shift;
	const uint64_t first = entry << at->sub_shift;
	/* The hardware's permission bits (a write-only TCE is stored read-write). */
	const uint64_t perm = at->perm[tce & UIOMMU_TCE_PERM_MASK];
	uint64_t ua, hpa, i;

	/*
	 * As the VMM path maps it (QEMU's notifier masks the gpa to the page);
	 * this is accel_validate_list()'s check, made before anything is
	 * written, so that a single table needs no separate validation.
	 */
	if (!batch_ua(pb, tce & ~(size - 1), size, &ua) || !batch_reg(b, ua, size))
		return false;
	for (i = 0; i < n; i++) {
		uint64_t e = first + i, ua_i = ua + (i << at->host_shift), cur, cur_ua;
		bool same;

		if (hcall_fault(at->ctx) || prereg_ua_to_hpa(b->reg.mem, ua_i, at->host_shift, &hpa))
			break;
		/* A missing level of either tree: the VMM path allocates it. */
		if (!leaf_get(at->tbl, l, e) || !l->ua)
			break;
		/* The batch holds the entry: nobody else writes it (see unmap_one()). */
		cur = be64toh(atomic_load_explicit(&l->hw[e - l->first], memory_order_relaxed));
		cur_ua = be64toh(atomic_load_explicit(&l->ua[e - l->first], memory_order_relaxed));
		same = (cur & UIOMMU_TCE_PERM_MASK) && cur_ua >= b->reg.ua && cur_ua <= b->reg.last;
		/* One count per host TCE, reserved for the rest of the batch at once. */
		if (!same && !batch_reserve(b, b->reg.h, 1))
			break; /* the region is being unregistered */
		atomic_store_explicit(&l->ua[e - l->first], htobe64(ua_i), memory_order_relaxed);
		atomic_store_explicit(&l->hw[e - l->first], htobe64(hpa | perm),
				      memory_order_release);
		b->left -= MIN(b->left, 1);
		kill_add(b, e);
		if (!(cur & UIOMMU_TCE_PERM_MASK))
			b->tces++;
		else if (!same)
			batch_release(b, cur_ua);
	}
	if (i == n)
		return true;
	/* The failing entry is cleared whole (host entries before i were mapped). */
	for (i = 0; i < n; i++)
		unmap_one(b, l, first + i);
	return false;
}

/*
 * The common case of a list, with the batch's state in locals (the
 * stores are barriers that would reload it from memory at every entry):
 * guest and host pages of one size, maps into the registration and
 * memslot last used, over entries that were empty (with counts reserved)
 * or pointed into the same registration, in a leaf page walked already,
 * no fault armed. From @i on while that holds; returns where it stopped,
 * for the general path to take that entry.
 */
static inline uint64_t map_run(struct papr_hw_batch *pb, struct leaf *l, uint64_t entry,
			       const uint64_t *tces, bool be, uint64_t i, uint64_t n)
{
	struct accel_batch *b = batch_of(pb);
	struct accel_table *at = b->at;
	const uint64_t mask = (1ULL << at->guest_shift) - 1;
	const uint64_t sf = pb->slot_first, shva = pb->slot_hva;
	const uint64_t rua = b->reg.ua, rlast = b->reg.last;
	const struct uiommu_prereg *mem = b->reg.mem;
	const bool reserved = b->reg.h && b->res_h == b->reg.h;
	uint64_t res_n = reserved ? b->res_n : 0, kf = b->kill_first, kl = b->kill_last, done = 0;
	/* An empty range unless both leaves are there. */
	const uint64_t lf = l->first, le = l->hw && l->ua && l->end > lf ? l->end : lf;
	const uint64_t perm_r = at->perm[1];
	const uint64_t perm_w = at->perm[2], perm_rw = at->perm[3];
	_Atomic uint64_t *const lhw = l->hw, *const lua = l->ua;
	const unsigned int host_shift = at->host_shift;
	int64_t tces_d = 0;
	_Atomic const uint32_t *faults = &at->ctx->fault_flags;
	uint64_t lo, lim;

	if (!run_window(pb, b, mask + 1, &lo, &lim) ||
	    atomic_load_explicit(faults, memory_order_relaxed))
		return i;
	for (; i < n; i++, done++) {
		uint64_t tce = be ? (uint64_t)be64toh(tces[i]) : tces[i];
		uint64_t gpa = tce & ~mask, e = entry + i, ua, hpa, cur;

		if (!(tce & UIOMMU_TCE_PERM_MASK) || gpa - lo > lim || e - lf >= le - lf ||
		    atomic_load_explicit(faults, memory_order_relaxed))
			break;
		ua = shva + (gpa - sf);
		if (prereg_ua_to_hpa(mem, ua, host_shift, &hpa))
			break;
		cur = be64toh(atomic_load_explicit(&lhw[e - lf], memory_order_relaxed));
		if (cur & UIOMMU_TCE_PERM_MASK) {
			uint64_t cur_ua = be64toh(atomic_load_explicit(&lua[e - lf],
								       memory_order_relaxed));

			if (cur_ua < rua || cur_ua > rlast)
				break; /* a count to give back elsewhere */
		} else if (!res_n) {
			break;
		} else {
			res_n--;
			tces_d++;
		}
		hpa |= (tce & UIOMMU_TCE_PERM_MASK) == UIOMMU_TCE_PERM_MASK ? perm_rw :
		       (tce & UIOMMU_TCE_WRITE) ? perm_w : perm_r;
		atomic_store_explicit(&lua[e - lf], htobe64(ua), memory_order_relaxed);
		atomic_store_explicit(&lhw[e - lf], htobe64(hpa), memory_order_release);
		if (kf > kl)
			kf = kl = e;
		kf = MIN(kf, e);
		kl = MAX(kl, e);
	}
	if (reserved)
		b->res_n = res_n;
	b->kill_first = kf;
	b->kill_last = kl;
	b->tces += tces_d;
	b->left -= MIN(b->left, done);
	return i;
}

/*
 * Guest entries [entry, entry + n) to @tces (big-endian if @be): a map for
 * a TCE with R/W, an unmap otherwise. H_SUCCESS, or H_TOO_HARD with
 * *ret_done the entries done before the failing one, which is cleared
 * (kvmppc_clear_tce(), releasing what it held).
 */
static long accel_put_list(struct papr_hw_batch *pb, uint64_t entry, const uint64_t *tces,
			   bool be, uint64_t n, uint64_t *ret_done)
{
	struct accel_batch *b = batch_of(pb);
	struct accel_table *at = b->at;
	const uint64_t sub = 1ULL << at->sub_shift;
	struct leaf l = { .first = 1, .end = 0 };

	for (uint64_t i = 0; i < n; i++) {
		uint64_t tce;

		/* After an entry of the general path, which looked up what the run needs. */
		if (!at->sub_shift && i) {
			i = map_run(pb, &l, entry, tces, be, i, n);
			if (i == n)
				break;
		}
		tce = be ? (uint64_t)be64toh(tces[i]) : tces[i];
		if (tce & UIOMMU_TCE_PERM_MASK) {
			if (likely(map_one(pb, &l, entry + i, tce)))
				continue;
		} else {
			uint64_t e = (entry + i) << at->sub_shift, k;

			b->left -= MIN(b->left, sub);
			for (k = 0; k < sub && !hcall_fault(at->ctx); k++)
				unmap_one(b, &l, e + k);
			if (k == sub)
				continue;
			for (; k < sub; k++)
				unmap_one(b, &l, e + k);
		}
		*ret_done = i;
		return too_hard(at);
	}
	*ret_done = n;
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

static void accel_end(struct papr_hw_batch *pb)
{
	struct accel_batch *b = batch_of(pb);

	if (b->res_n)
		vfio_hold_sub(b->res_h, b->res_n);
	batch_flush(b);
	vfio_entries_release(b->at->c, b->token, b->tces);
}

const struct papr_hw_ops accel_hw_ops = {
	.begin = accel_begin,
	.validate_list = accel_validate_list,
	.put_list = accel_put_list,
	.unmap_range = accel_unmap_range,
	.end = accel_end,
};
