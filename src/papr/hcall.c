// SPDX-License-Identifier: BSD-3-Clause
/*
 * The TCE hypercalls H_PUT_TCE, H_GET_TCE, H_PUT_TCE_INDIRECT, H_STUFF_TCE
 * (PAPR+ "hcall-tce", "hcall-multi-tce") and their dispatcher, in two
 * profiles: QEMU hw/ppc/spapr_iommu.c (h_put_tce, h_get_tce,
 * h_put_tce_indirect, h_stuff_tce, put_tce_emu) and Linux
 * arch/powerpc/kvm/book3s_64_vio.c (kvmppc_h_put_tce and friends,
 * kvmppc_ioba_validate, kvmppc_tce_validate). doc/design/papr.md lists
 * every difference.
 *
 * Shape of every hcall: one read-side section does the lookup, every
 * check, then the attached hardware tables (the seam in internal.h, one
 * batch per table), then the guest view. The only thing the fast path
 * cannot do is allocate a guest-view page (it may not block there): it
 * returns NEED_PAGES before it has changed anything, having named the
 * pages; the caller takes a reference on the table, leaves the section,
 * allocates, and runs the hcall again from the start. Hcalls are
 * idempotent up to the point where they may return NEED_PAGES, so the
 * rerun is exact. Guest errors are logged after the section (logging
 * takes a mutex).
 *
 * Three modes run the same bodies: a handle-less hcall (one urcu-bp
 * read-side section), a vCPU's (uiommu/vcpu.h: its thread is an online
 * QSBR reader, so the section costs nothing; it goes offline for what may
 * block), and the VMM's redo after UIOMMU_H_TOO_HARD (papr_hcall_vmm():
 * no hardware table, the entries written recorded for the caller).
 */
#include <endian.h>
#include <string.h>

#include "papr.h"

/* Not a PAPR code: "allocate the pages in h->need_* and run me again". */
#define NEED_PAGES 0x7e7e7e7eL
/* Reruns after allocation; more means LIOBNs are recreated under us endlessly. */
#define NEED_PAGES_MAX_ROUNDS 64

#define TCE_RW (UIOMMU_TCE_PCI_READ | UIOMMU_TCE_PCI_WRITE)

enum hcall_err {
	ERR_NONE,
	ERR_UNKNOWN_LIOBN,
	ERR_LIOBN_HIGH,
	ERR_IOBA_RANGE,
	ERR_IOBA_ALIGN,
	ERR_NPAGES,
	ERR_LIST_ALIGN,
	ERR_STUFF_RW,
	ERR_TCE_MEMORY,
	ERR_NR
};

static const char *const err_text[ERR_NR] = {
	[ERR_UNKNOWN_LIOBN] = "unknown LIOBN",
	[ERR_LIOBN_HIGH] = "LIOBN above 32 bits",
	[ERR_IOBA_RANGE] = "IOBA range outside the window",
	[ERR_IOBA_ALIGN] = "IOBA not aligned to the IOMMU page",
	[ERR_NPAGES] = "bad npages",
	[ERR_LIST_ALIGN] = "TCE list not 4 KiB aligned",
	[ERR_STUFF_RW] = "TCE value with R/W bits",
	[ERR_TCE_MEMORY] = "TCE outside guest memory",
};

enum hcall_mode {
	MODE_BP,   /* a handle-less hcall: one urcu-bp read-side section */
	MODE_VCPU, /* a vCPU's: its thread is an online QSBR reader */
	MODE_VMM,  /* the VMM's redo: no hardware table, the change recorded */
};

struct hcall {
	const char *name;
	struct uiommu_guest *guest;
	struct papr_guest *pg;
	uint64_t liobn, ioba;
	enum hcall_err err;
	enum hcall_mode mode;
	struct uiommu_vcpu *vcpu; /* MODE_VCPU */
	bool kvm; /* the guest's profile, read once per run of the body by hcall_table() */
	bool force_qemu; /* MODE_VMM: QEMU's rules, after KVM's handed the hcall over */
	/* NEED_PAGES: allocate the absent guest-view pages [need_first, need_last] of need_t. */
	struct liobn_table *need_t;
	uint64_t need_first, need_last;
	/* MODE_VMM: entries [chg_idx, chg_idx + chg_n) of chg_t were written. */
	struct liobn_table *chg_t;
	uint64_t chg_idx, chg_n;
};

static inline long hcall_fail(struct hcall *h, enum hcall_err err, long ret)
{
	h->err = err;
	return ret;
}

static inline bool profile_kvm(const struct papr_guest *pg)
{
	return atomic_load_explicit(&pg->profile, memory_order_relaxed) == UIOMMU_PAPR_PROFILE_KVM;
}

static inline _Atomic uint64_t *view_page(const struct liobn_table *t, uint64_t idx)
{
	return atomic_load_explicit(&t->view[idx >> t->view_shift], memory_order_acquire);
}

static inline uint64_t view_mask(const struct liobn_table *t)
{
	return t->view_mask;
}

/*
 * The table of an hcall's LIOBN, or NULL with the profile's code in *ret:
 * KVM hands an unknown LIOBN to the VMM; QEMU knows only 32-bit LIOBNs
 * (spapr_tce_find_by_liobn()).
 */
static inline struct liobn_table *hcall_table(struct hcall *h, long *ret)
{
	const struct uiommu_vcpu *v = h->vcpu;
	struct liobn_table *t = NULL;

	/* What a vCPU remembers, if its LIOBN array is still the published one (papr.h). */
	if (h->pg) {
		const struct rcu_array *a = rcu_deref(h->pg->liobns);

		if (v && v->c_t && a == v->c_liobns && h->liobn == v->c_liobn) {
			t = v->c_t;
		} else {
			size_t i = rcu_array_find(a, h->liobn);

			t = i == SIZE_MAX ? NULL : a->e[i].ptr;
		}
	}

	h->kvm = h->pg && !h->force_qemu && profile_kvm(h->pg);
	if (h->kvm) {
		if (unlikely(!t))
			*ret = UIOMMU_H_TOO_HARD;
		return t;
	}
	if (unlikely(h->liobn >> 32)) {
		*ret = hcall_fail(h, ERR_LIOBN_HIGH, UIOMMU_H_PARAMETER);
		return NULL;
	}
	if (unlikely(!t))
		*ret = hcall_fail(h, ERR_UNKNOWN_LIOBN, UIOMMU_H_PARAMETER);
	return t;
}

/*
 * kvmppc_ioba_validate(): @ioba aligned, [idx, idx + npages) inside the
 * window; written without sums that could wrap. On success *ret_idx is the
 * index relative to the window's first entry.
 */
static inline bool kvm_ioba_ok(const struct liobn_table *t, uint64_t ioba, uint64_t npages,
			       uint64_t *ret_idx)
{
	uint64_t idx = ioba >> t->page_shift;

	if ((ioba & t->page_mask) || idx < t->offset)
		return false;
	idx -= t->offset;
	if (idx > t->size || npages > t->size - idx)
		return false;
	*ret_idx = idx;
	return true;
}

/*
 * QEMU's index of a masked @ioba (put_tce_emu(), get_tce_emu()): unsigned
 * arithmetic, so an ioba below the window wraps to a huge index.
 */
static inline uint64_t qemu_index(const struct liobn_table *t, uint64_t ioba)
{
	ioba &= ~t->page_mask;
	return (ioba - t->bus_offset) >> t->page_shift;
}

/*
 * How many of @npages consecutive entries from @idx QEMU writes before one
 * falls outside the window (it stops there). Indexes advance by one per
 * entry modulo 2^(64 - page_shift); since the first out-of-range entry
 * stops the loop, the count is min(npages, size - idx) or 0.
 */
static inline uint64_t qemu_prefix(const struct liobn_table *t, uint64_t idx, uint64_t npages)
{
	if (idx >= t->size)
		return 0;
	return MIN(npages, t->size - idx);
}

/*
 * kvmppc_tce_validate() but for the tables (hw_validate()): a TCE without
 * R/W is always accepted ("poison"); one with R/W needs a gpa aligned to
 * the IOMMU page, in guest memory. Inside RCU.
 */
static inline long kvm_tce_validate(struct uiommu_guest *guest, const struct liobn_table *t,
				    uint64_t tce, uint64_t *slot_first, uint64_t *slot_last)
{
	uint64_t gpa = tce & ~TCE_RW;

	if (!(tce & TCE_RW))
		return UIOMMU_H_SUCCESS;
	if (gpa & t->page_mask)
		return UIOMMU_H_TOO_HARD;
	if ((gpa < *slot_first || gpa > *slot_last) &&
	    !guest_memslot_rcu(guest, gpa, slot_first, slot_last))
		return UIOMMU_H_TOO_HARD;
	return UIOMMU_H_SUCCESS;
}

/* kvmppc_tce_to_ua() succeeds: the (4 KiB) page of @tce is guest memory. */
static inline bool kvm_tce_in_memory(struct hcall *h, uint64_t tce, uint64_t *slot_first,
				     uint64_t *slot_last)
{
	uint64_t gpa = tce & ~(uint64_t)(UIOMMU_MEMSLOT_ALIGN - 1);

	return (gpa >= *slot_first && gpa <= *slot_last) ||
	       guest_memslot_rcu(h->guest, gpa, slot_first, slot_last);
}

/* The hardware tables this run of an hcall updates: none in the VMM's redo. */
static inline const struct papr_hw_set *hcall_hw(const struct hcall *h, const struct liobn_table *t)
{
	return h->mode == MODE_VMM ? NULL : rcu_deref(t->hw);
}

/* MODE_VMM: entries [idx, idx + n) of @t are written (the caller applies them to the tables). */
static inline void hcall_written(struct hcall *h, struct liobn_table *t, uint64_t idx, uint64_t n)
{
	if (h->mode == MODE_VMM && n) {
		h->chg_t = t;
		h->chg_idx = idx;
		h->chg_n = n;
	}
}

/*
 * Begin a batch on every attached table for entries [entry, entry + n)
 * (absolute, n >= 1): all of them, or none (a refusal ends the ones begun
 * and is returned).
 */
/* Inline (with hw_end() and hw_put()): a vCPU's host-table H_PUT_TCE is made of them. */
__attribute__((always_inline)) static inline long
hw_begin(struct uiommu_guest *guest, const struct uiommu_vcpu *v, const struct papr_hw_set *hw,
	 struct papr_hw_batch *b, uint64_t entry, uint64_t n)
{
	/* The vCPU's memslot, if it still is one. */
	bool hint = v && v->c_slots && rcu_deref(guest->slots) == v->c_slots;

	for (size_t i = 0; i < hw->n; i++) {
		long ret;

		b[i].opaque = hw->hw[i].opaque;
		b[i].slot_first = hint ? v->c_first : 1;
		b[i].slot_last = hint ? v->c_last : 0;
		b[i].slot_hva = hint ? v->c_hva : 0;
		ret = hw->hw[i].ops->begin(&b[i], entry, n);
		if (ret != UIOMMU_H_SUCCESS) {
			while (i--)
				hw->hw[i].ops->end(&b[i]);
			return ret;
		}
	}
	return UIOMMU_H_SUCCESS;
}

__attribute__((always_inline)) static inline void hw_end(const struct papr_hw_set *hw,
							 struct papr_hw_batch *b)
{
	for (size_t i = 0; i < hw->n; i++)
		hw->hw[i].ops->end(&b[i]);
}

/* KVM: every attached table accepts every TCE (with R/W) of @tces, in the batches begun. */
static long hw_validate(const struct papr_hw_set *hw, struct papr_hw_batch *b,
			const uint64_t *tces, uint64_t n)
{
	for (size_t i = 0; i < hw->n; i++) {
		const struct papr_hw_ops *ops = hw->hw[i].ops;

		if (ops->validate_list) {
			if (ops->validate_list(&b[i], tces, n) != UIOMMU_H_SUCCESS)
				return UIOMMU_H_TOO_HARD;
			continue;
		}
		for (uint64_t k = 0; k < n; k++)
			if ((tces[k] & TCE_RW) && ops->validate(&b[i], tces[k]) != UIOMMU_H_SUCCESS)
				return UIOMMU_H_TOO_HARD;
	}
	return UIOMMU_H_SUCCESS;
}

/* Every attached table takes lists (put_list). */
static inline bool hw_lists(const struct papr_hw_set *hw)
{
	for (size_t i = 0; i < hw->n; i++)
		if (!hw->hw[i].ops->put_list)
			return false;
	return true;
}

/*
 * Entries [entry, entry + n) of every attached table to @tces, a list per
 * table (hw_lists()); *@ret_done: the entries every table did (all of them
 * on success).
 */
static long hw_put_list(const struct papr_hw_set *hw, struct papr_hw_batch *b, uint64_t entry,
			const uint64_t *tces, bool be, uint64_t n, uint64_t *ret_done)
{
	*ret_done = n;
	for (size_t i = 0; i < hw->n; i++) {
		long ret = hw->hw[i].ops->put_list(&b[i], entry, tces, be, n, ret_done);

		if (ret != UIOMMU_H_SUCCESS)
			return ret;
	}
	return UIOMMU_H_SUCCESS;
}

/*
 * Entry @entry (absolute) of every attached table to @tce: map or unmap.
 * On a failure the failing table's entry is cleared and its code returned
 * (earlier tables keep the update, as KVM).
 */
__attribute__((always_inline)) static inline long
hw_put(const struct papr_hw_set *hw, struct papr_hw_batch *b, uint64_t entry, uint64_t tce)
{
	for (size_t i = 0; i < hw->n; i++) {
		const struct papr_hw_ops *ops = hw->hw[i].ops;
		uint64_t done;
		long ret;

		if (ops->put_list) {
			ret = ops->put_list(&b[i], entry, &tce, false, 1, &done);
			if (ret != UIOMMU_H_SUCCESS)
				return ret;
			continue;
		}
		ret = (tce & TCE_RW) ? ops->map(&b[i], entry, tce) : ops->unmap(&b[i], entry);

		if (ret != UIOMMU_H_SUCCESS) {
			ops->clear(&b[i], entry);
			return ret;
		}
	}
	return UIOMMU_H_SUCCESS;
}

/*
 * Can @n entries from @idx take @tces (or @value when @tces is NULL)
 * without allocating? Zero TCEs never need a page. If not, the absent
 * pages that non-zero TCEs need are named for the caller.
 */
static bool view_ready(struct hcall *h, struct liobn_table *t, uint64_t idx, uint64_t n,
		       const uint64_t *tces_be, uint64_t value)
{
	uint64_t first = UINT64_MAX, last = 0;

	if (!n || (!tces_be && !value))
		return true;
	for (uint64_t pos = 0; pos < n;) {
		uint64_t p = (idx + pos) >> t->view_shift;
		uint64_t run = MIN(n - pos, (1ULL << t->view_shift) - ((idx + pos) & view_mask(t)));
		bool needed = !tces_be;

		if (!atomic_load_explicit(&t->view[p], memory_order_acquire)) {
			for (uint64_t i = 0; !needed && i < run; i++)
				needed = tces_be[pos + i] != 0;
			if (needed) {
				first = MIN(first, p);
				last = p;
			}
		}
		pos += run;
	}
	if (first == UINT64_MAX)
		return true;
	h->need_t = t;
	h->need_first = first;
	h->need_last = last;
	return false;
}

/*
 * Store @value into @n entries from @idx, skipping absent pages (only
 * zeros go there: view_ready() said so). Relaxed 8-byte atomic stores: a
 * concurrent reader sees the old or the new TCE, never a mix.
 */
static void view_fill(struct liobn_table *t, uint64_t idx, uint64_t n, uint64_t value)
{
	while (n) {
		_Atomic uint64_t *page = view_page(t, idx);
		uint64_t off = idx & view_mask(t);
		uint64_t run = MIN(n, (1ULL << t->view_shift) - off);

		if (page) {
			_Atomic uint64_t *p = page + off;

			/* Unrolled: the loop is store-bound, its bookkeeping should not add. */
#pragma GCC unroll 8
			for (uint64_t i = 0; i < run; i++)
				atomic_store_explicit(&p[i], value, memory_order_relaxed);
		}
		idx += run;
		n -= run;
	}
}

/*
 * Store big-endian @tces_be[0..n) into @n entries from @idx. A zero TCE
 * for an absent page needs no store. A non-zero one can only meet an
 * absent page if the guest rewrote its list since view_ready() looked:
 * then the pages are named and false returned, the entries before written;
 * the caller reruns the hcall, which rewrites them with what the list holds
 * then (the guest raced itself; any mix of old and new list was allowed).
 */
static inline bool view_copy(struct hcall *h, struct liobn_table *t, uint64_t idx, uint64_t n,
			     const uint64_t *tces_be, bool be)
{
	while (n) {
		_Atomic uint64_t *page = view_page(t, idx);
		uint64_t off = idx & view_mask(t);
		uint64_t run = MIN(n, (1ULL << t->view_shift) - off);

		if (page) {
			_Atomic uint64_t *p = page + off;

			if (be) {
#pragma GCC unroll 8
				for (uint64_t i = 0; i < run; i++)
					atomic_store_explicit(&p[i], be64toh(tces_be[i]),
							      memory_order_relaxed);
			} else {
#pragma GCC unroll 8
				for (uint64_t i = 0; i < run; i++)
					atomic_store_explicit(&p[i], tces_be[i], memory_order_relaxed);
			}
		} else {
			for (uint64_t i = 0; i < run; i++) {
				if (tces_be[i]) {
					h->need_t = t;
					h->need_first = h->need_last = idx >> t->view_shift;
					return false;
				}
			}
		}
		tces_be += run;
		idx += run;
		n -= run;
	}
	return true;
}

/* A vCPU is in its read-side section all along; other hcalls enter one each. */
static inline void reader_enter(const struct hcall *h)
{
	if (h->mode != MODE_VCPU)
		rcu_read_enter();
}

static inline void reader_exit(const struct hcall *h)
{
	if (h->mode != MODE_VCPU)
		rcu_read_exit();
}

/* A vCPU leaves guest context for what may block, and comes back. */
static inline void vcpu_block_begin(const struct hcall *h)
{
	if (h->mode == MODE_VCPU) {
		vcpu_forget(h->vcpu);
		rcu_qsbr_offline();
	}
}

static inline void vcpu_block_end(const struct hcall *h)
{
	if (h->mode == MODE_VCPU)
		rcu_qsbr_online();
}

/*
 * Run @body inside a read-side section; when it asks for guest-view
 * pages, allocate them outside the section (holding a reference on the
 * table) and run it again. Then log the guest error it recorded. In the
 * VMM's redo, KVM's rules that hand the hcall to the VMM make it run
 * again by QEMU's, and the table written keeps a reference for the caller.
 */
static long hcall_run(struct hcall *h, long (*body)(struct hcall *h, void *arg), void *arg)
{
	long ret;

	for (int round = 0;; round++) {
		struct liobn_table *t;

		h->err = ERR_NONE;
		h->chg_t = NULL;
		h->chg_n = 0;
		reader_enter(h);
		ret = body(h, arg);
		if (likely(ret != NEED_PAGES)) {
			if (unlikely(h->chg_t) && !liobn_tryget(h->chg_t))
				h->chg_t = NULL; /* being destroyed: no table can be attached */
			reader_exit(h);
			if (unlikely(h->mode == MODE_VMM && ret == UIOMMU_H_TOO_HARD && h->kvm)) {
				h->force_qemu = true;
				continue;
			}
			break;
		}
		t = h->need_t;
		if (!liobn_tryget(t)) { /* being destroyed: the rerun will not find it */
			reader_exit(h);
			continue;
		}
		reader_exit(h);
		vcpu_block_begin(h);
		if (round >= NEED_PAGES_MAX_ROUNDS || liobn_view_alloc(t, h->need_first, h->need_last)) {
			/* A guest can hit the frame limit at will: rate-limited. */
			ctx_guest_error(t->ctx, "%s: LIOBN 0x%llx: cannot allocate a guest-view page",
					h->name, (unsigned long long)t->liobn);
			liobn_put(t);
			vcpu_block_end(h);
			return UIOMMU_H_HARDWARE;
		}
		liobn_put(t);
		vcpu_block_end(h);
	}
	if (unlikely(h->err != ERR_NONE)) {
		vcpu_block_begin(h);
		ctx_guest_error(h->guest->ctx, "%s: LIOBN 0x%llx IOBA 0x%llx: %s", h->name,
				(unsigned long long)h->liobn, (unsigned long long)h->ioba,
				err_text[h->err]);
		vcpu_block_end(h);
	}
	return ret;
}

/* ---- H_PUT_TCE ---- */

static long put_tce_body(struct hcall *h, void *arg)
{
	uint64_t tce = *(const uint64_t *)arg;
	struct papr_hw_batch b[PAPR_HW_MAX];
	const struct papr_hw_set *hw;
	struct liobn_table *t;
	_Atomic uint64_t *page;
	uint64_t idx;
	long ret;

	t = hcall_table(h, &ret);
	if (unlikely(!t))
		return ret;
	if (h->kvm) {
		const struct uiommu_vcpu *v = h->vcpu;
		bool hint = v && v->c_slots && rcu_deref(h->guest->slots) == v->c_slots;
		uint64_t first = hint ? v->c_first : 1, last = hint ? v->c_last : 0;

		if (unlikely(!kvm_ioba_ok(t, h->ioba, 1, &idx)))
			return hcall_fail(h, (h->ioba & t->page_mask) ?
						     ERR_IOBA_ALIGN : ERR_IOBA_RANGE,
					  UIOMMU_H_PARAMETER);
		ret = kvm_tce_validate(h->guest, t, tce, &first, &last);
		if (unlikely(ret != UIOMMU_H_SUCCESS))
			return ret;
	} else {
		idx = qemu_index(t, h->ioba);
		if (unlikely(idx >= t->size))
			return hcall_fail(h, ERR_IOBA_RANGE, UIOMMU_H_PARAMETER);
	}
	hw = hcall_hw(h, t);
	if (unlikely(hw)) {
		ret = hw_begin(h->guest, h->vcpu, hw, b, t->offset + idx, 1);
		if (ret != UIOMMU_H_SUCCESS)
			return ret;
		if (h->kvm) {
			ret = hw_validate(hw, b, &tce, 1);
			if (ret != UIOMMU_H_SUCCESS)
				goto out;
		}
	}
	page = view_page(t, idx);
	if (unlikely(!page) && tce) {
		h->need_t = t;
		h->need_first = h->need_last = idx >> t->view_shift;
		ret = NEED_PAGES;
		goto out;
	}
	if (unlikely(hw)) {
		ret = hw_put(hw, b, t->offset + idx, tce);
		if (ret != UIOMMU_H_SUCCESS)
			goto out;
	}
	if (page)
		atomic_store_explicit(&page[idx & view_mask(t)], tce, memory_order_relaxed);
	hcall_written(h, t, idx, 1);
	ret = UIOMMU_H_SUCCESS;
out:
	if (unlikely(hw))
		hw_end(hw, b);
	return ret;
}

/*
 * The common case of H_PUT_TCE and H_GET_TCE, inline: a known LIOBN, the
 * entry inside the window, its guest-view page present (or a zero TCE),
 * no hardware table, and for KVM a TCE without R/W or with a gpa in the
 * memslot of the last lookup. Anything else returns false having changed
 * nothing, and the hcall runs the general path, which says why.
 */
static inline bool fast_index(struct papr_guest *pg, uint64_t liobn, uint64_t ioba,
			      struct liobn_table **ret_t, uint64_t *ret_idx, bool *ret_kvm)
{
	struct liobn_table *t = liobn_find_rcu(pg, liobn);
	bool kvm = profile_kvm(pg);
	uint64_t idx;

	if (unlikely(!t))
		return false;
	if (kvm) {
		if (unlikely(!kvm_ioba_ok(t, ioba, 1, &idx)))
			return false;
	} else {
		idx = qemu_index(t, ioba);
		if (unlikely(idx >= t->size || (liobn >> 32)))
			return false;
	}
	*ret_t = t;
	*ret_idx = idx;
	*ret_kvm = kvm;
	return true;
}

/* H_PUT_TCE's common case (see fast_index()), inside a read-side section. */
__attribute__((always_inline)) static inline bool put_tce_fast(struct uiommu_guest *guest, struct papr_guest *pg,
				uint64_t liobn, uint64_t ioba, uint64_t tce)
{
	struct liobn_table *t;
	uint64_t idx, first = 1, last = 0;
	bool kvm;

	if (likely(fast_index(pg, liobn, ioba, &t, &idx, &kvm))) {
		_Atomic uint64_t *page = view_page(t, idx);

		if (likely((page || !tce) && !atomic_load_explicit(&t->hw, memory_order_relaxed) &&
			   (!kvm || !(tce & TCE_RW) ||
			    kvm_tce_validate(guest, t, tce, &first, &last) ==
				    UIOMMU_H_SUCCESS))) {
			if (page)
				atomic_store_explicit(&page[idx & view_mask(t)], tce,
						      memory_order_relaxed);
			return true;
		}
	}
	return false;
}

/* Everything but the common case; out of line, so that it costs the fast path nothing. */
__attribute__((noinline, cold)) static long put_tce_slow(struct uiommu_guest *guest,
							 struct papr_guest *pg, uint64_t liobn,
							 uint64_t ioba, uint64_t tce,
							 struct uiommu_vcpu *vcpu)
{
	struct hcall h = { .name = "H_PUT_TCE", .guest = guest, .pg = pg, .liobn = liobn,
			   .ioba = ioba, .mode = vcpu ? MODE_VCPU : MODE_BP, .vcpu = vcpu };

	return hcall_run(&h, put_tce_body, &tce);
}

UIOMMU_EXPORT long uiommu_h_put_tce(struct uiommu_guest *guest, uint64_t liobn, uint64_t ioba,
				    uint64_t tce)
{
	struct papr_guest *pg = papr_guest_peek(guest);

	if (likely(pg)) {
		bool done;

		rcu_read_enter();
		done = put_tce_fast(guest, pg, liobn, ioba, tce);
		rcu_read_exit();
		if (likely(done))
			return UIOMMU_H_SUCCESS;
	}
	return put_tce_slow(guest, pg, liobn, ioba, tce, NULL);
}

/* ---- H_GET_TCE ---- */

static long get_tce_body(struct hcall *h, void *arg)
{
	struct liobn_table *t;
	uint64_t idx;
	long ret;

	t = hcall_table(h, &ret);
	if (unlikely(!t))
		return ret;
	if (h->kvm) {
		if (unlikely(!kvm_ioba_ok(t, h->ioba, 1, &idx)))
			return hcall_fail(h, (h->ioba & t->page_mask) ?
						     ERR_IOBA_ALIGN : ERR_IOBA_RANGE,
					  UIOMMU_H_PARAMETER);
	} else {
		idx = qemu_index(t, h->ioba);
		if (unlikely(idx >= t->size))
			return hcall_fail(h, ERR_IOBA_RANGE, UIOMMU_H_PARAMETER);
	}
	*(uint64_t *)arg = liobn_view_read(t, idx);
	return UIOMMU_H_SUCCESS;
}

/* H_GET_TCE's common case, inside a read-side section. */
__attribute__((always_inline)) static inline bool get_tce_fast(struct papr_guest *pg, uint64_t liobn, uint64_t ioba,
				uint64_t *ret_tce)
{
	struct liobn_table *t;
	uint64_t idx;
	bool kvm;

	if (likely(fast_index(pg, liobn, ioba, &t, &idx, &kvm))) {
		*ret_tce = liobn_view_read(t, idx);
		return true;
	}
	return false;
}

__attribute__((noinline, cold)) static long get_tce_slow(struct uiommu_guest *guest,
							 struct papr_guest *pg, uint64_t liobn,
							 uint64_t ioba, uint64_t *ret_tce,
							 struct uiommu_vcpu *vcpu)
{
	struct hcall h = { .name = "H_GET_TCE", .guest = guest, .pg = pg, .liobn = liobn,
			   .ioba = ioba, .mode = vcpu ? MODE_VCPU : MODE_BP, .vcpu = vcpu };
	uint64_t tce;
	long ret = hcall_run(&h, get_tce_body, &tce);

	if (ret == UIOMMU_H_SUCCESS)
		*ret_tce = tce;
	return ret;
}

UIOMMU_EXPORT long uiommu_h_get_tce(struct uiommu_guest *guest, uint64_t liobn, uint64_t ioba,
				    uint64_t *ret_tce)
{
	struct papr_guest *pg = papr_guest_peek(guest);

	if (unlikely(!ret_tce))
		return UIOMMU_H_PARAMETER;
	if (likely(pg)) {
		bool done;

		rcu_read_enter();
		done = get_tce_fast(pg, liobn, ioba, ret_tce);
		rcu_read_exit();
		if (likely(done))
			return UIOMMU_H_SUCCESS;
	}
	return get_tce_slow(guest, pg, liobn, ioba, ret_tce, NULL);
}

/* ---- H_PUT_TCE_INDIRECT ---- */

struct indirect_args {
	uint64_t tce_list, npages;
};

/*
 * Entries [0, n) of @tces_be through the attached tables (@hw, batches @b
 * begun for the range; NULL: none) and into the view.
 */
static long indirect_commit(struct hcall *h, struct liobn_table *t, uint64_t idx, uint64_t n,
			    const uint64_t *tces_be, bool be, const struct papr_hw_set *hw,
			    struct papr_hw_batch *b)
{
	if (likely(!hw)) {
		if (!view_copy(h, t, idx, n, tces_be, be))
			return NEED_PAGES;
		hcall_written(h, t, idx, n);
		return UIOMMU_H_SUCCESS;
	}
	if (hw_lists(hw)) {
		/* The callers made the view ready for [idx, idx + n): no page can be missing. */
		uint64_t done;
		long ret = hw_put_list(hw, b, t->offset + idx, tces_be, be, n, &done);

		view_copy(h, t, idx, done, tces_be, be);
		return ret;
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t tce = be ? be64toh(tces_be[i]) : tces_be[i];
		_Atomic uint64_t *page = view_page(t, idx + i);
		long ret;

		/* The page first: no table may change for an entry the view cannot take. */
		if (tce && !page) {
			h->need_t = t;
			h->need_first = h->need_last = (idx + i) >> t->view_shift;
			return NEED_PAGES;
		}
		ret = hw_put(hw, b, t->offset + idx + i, tce);
		if (ret != UIOMMU_H_SUCCESS)
			return ret;
		if (page)
			atomic_store_explicit(&page[(idx + i) & view_mask(t)], tce,
					      memory_order_relaxed);
	}
	return UIOMMU_H_SUCCESS;
}

static long indirect_body_kvm(struct hcall *h, struct liobn_table *t,
			      const struct indirect_args *a)
{
	uint64_t slot_first = 1, slot_last = 0, idx, n;
	uint64_t tces[UIOMMU_PAPR_MAX_INDIRECT_NPAGES];
	const struct papr_hw_set *hw = hcall_hw(h, t);
	struct papr_hw_batch b[PAPR_HW_MAX];
	const uint64_t *list_be;
	long ret;

	if (a->npages > UIOMMU_PAPR_MAX_INDIRECT_NPAGES)
		return hcall_fail(h, ERR_NPAGES, UIOMMU_H_PARAMETER);
	if (a->tce_list & (UIOMMU_PAPR_TCE_LIST_ALIGN - 1))
		return hcall_fail(h, ERR_LIST_ALIGN, UIOMMU_H_PARAMETER);
	if (!kvm_ioba_ok(t, h->ioba, a->npages, &idx))
		return hcall_fail(h, (h->ioba & t->page_mask) ? ERR_IOBA_ALIGN : ERR_IOBA_RANGE,
				  UIOMMU_H_PARAMETER);
	/* The list is in one 4 KiB page, so in one memslot or none. */
	list_be = guest_gpa_to_hva_rcu(h->guest, a->tce_list, a->npages ? a->npages * 8 : 8);
	if (!list_be)
		return UIOMMU_H_TOO_HARD;
	/*
	 * Pass 1: every TCE, before anything changes. KVM reads the list twice
	 * (validate, then write) and accepts that a guest rewriting it meanwhile
	 * gets "a messier failure mode"; one copy makes what was validated
	 * exactly what is written.
	 *
	 * KVM's pass 2 also asks kvmppc_tce_to_ua() of every TCE, R/W-less ones
	 * included, and fails with H_PARAMETER at the first whose page is not
	 * guest memory, the entries before it written: note that point (n) now.
	 * A TCE with R/W that passed validation is in guest memory.
	 */
	n = a->npages;
	for (uint64_t i = 0; i < a->npages; i++) {
		uint64_t tce = be64toh(list_be[i]);

		tces[i] = tce;
		if (tce & TCE_RW) {
			uint64_t gpa = tce & ~TCE_RW;

			if ((gpa & t->page_mask) ||
			    ((gpa < slot_first || gpa > slot_last) &&
			     kvm_tce_validate(h->guest, t, tce, &slot_first, &slot_last)))
				return UIOMMU_H_TOO_HARD;
		} else if (n == a->npages &&
			   !kvm_tce_in_memory(h, tce, &slot_first, &slot_last)) {
			n = i;
		}
	}
	if (unlikely(hw) && a->npages) {
		/* The tables' part of the validation, in the batches that will write them. */
		ret = hw_begin(h->guest, h->vcpu, hw, b, t->offset + idx, a->npages);
		if (ret != UIOMMU_H_SUCCESS)
			return ret;
		ret = hw_validate(hw, b, tces, a->npages);
		if (ret != UIOMMU_H_SUCCESS)
			goto out;
	} else {
		hw = NULL;
	}
	if (!view_ready(h, t, idx, n, tces, 0)) { /* a zero test: byte order does not matter */
		ret = NEED_PAGES;
		goto out;
	}
	ret = indirect_commit(h, t, idx, n, tces, false, hw, b);
	if (ret == UIOMMU_H_SUCCESS && n < a->npages)
		ret = hcall_fail(h, ERR_TCE_MEMORY, UIOMMU_H_PARAMETER);
out:
	if (hw)
		hw_end(hw, b);
	return ret;
}

/* An all-zero TCE list: what QEMU's ldq_be_phys() reads from unassigned memory. */
static const uint64_t zero_list[UIOMMU_PAPR_MAX_INDIRECT_NPAGES];

static long indirect_body_qemu(struct hcall *h, struct liobn_table *t,
			       const struct indirect_args *a)
{
	const struct papr_hw_set *hw = hcall_hw(h, t);
	struct papr_hw_batch b[PAPR_HW_MAX];
	const uint64_t *tces_be;
	uint64_t idx, n;
	long ret;

	if (a->npages > UIOMMU_PAPR_MAX_INDIRECT_NPAGES)
		return hcall_fail(h, ERR_NPAGES, UIOMMU_H_PARAMETER);
	if (a->tce_list & (UIOMMU_PAPR_TCE_LIST_ALIGN - 1))
		return hcall_fail(h, ERR_LIST_ALIGN, UIOMMU_H_PARAMETER);
	/* QEMU's ret starts as H_PARAMETER: an empty list fails. */
	if (!a->npages)
		return hcall_fail(h, ERR_NPAGES, UIOMMU_H_PARAMETER);
	idx = qemu_index(t, h->ioba);
	n = qemu_prefix(t, idx, a->npages);
	tces_be = n ? guest_gpa_to_hva_rcu(h->guest, a->tce_list, n * 8) : zero_list;
	if (!tces_be)
		tces_be = zero_list;
	if (!view_ready(h, t, idx, n, tces_be, 0))
		return NEED_PAGES;
	if (unlikely(hw) && n) {
		ret = hw_begin(h->guest, h->vcpu, hw, b, t->offset + idx, n);
		if (ret != UIOMMU_H_SUCCESS)
			return ret;
	} else {
		hw = NULL;
	}
	ret = indirect_commit(h, t, idx, n, tces_be, true, hw, b);
	if (hw)
		hw_end(hw, b);
	if (ret != UIOMMU_H_SUCCESS)
		return ret;
	if (n < a->npages)
		return hcall_fail(h, ERR_IOBA_RANGE, UIOMMU_H_PARAMETER);
	return UIOMMU_H_SUCCESS;
}

static long indirect_body(struct hcall *h, void *arg)
{
	struct liobn_table *t;
	long ret;

	t = hcall_table(h, &ret);
	if (unlikely(!t))
		return ret;
	return h->kvm ? indirect_body_kvm(h, t, arg) : indirect_body_qemu(h, t, arg);
}

UIOMMU_EXPORT long uiommu_h_put_tce_indirect(struct uiommu_guest *guest, uint64_t liobn,
					     uint64_t ioba, uint64_t tce_list_gpa,
					     uint64_t npages)
{
	struct hcall h = { .name = "H_PUT_TCE_INDIRECT", .guest = guest,
			   .pg = papr_guest_peek(guest), .liobn = liobn, .ioba = ioba };
	struct indirect_args a = { tce_list_gpa, npages };

	return hcall_run(&h, indirect_body, &a);
}

/* ---- H_STUFF_TCE ---- */

struct stuff_args {
	uint64_t value, npages;
};

/*
 * STUFF's tables (KVM's order: every table, every entry): @unmap over
 * [entry, entry + n) on each, a range at a time where the table can.
 * UIOMMU_H_TOO_HARD returns at once; another failure gets @clear and the
 * loop goes on; the last op's code is returned.
 */
static long hw_unmap_all(const struct papr_hw_set *hw, struct papr_hw_batch *b, uint64_t entry,
			 uint64_t n)
{
	long ret = UIOMMU_H_SUCCESS;

	for (size_t k = 0; k < hw->n; k++) {
		const struct papr_hw_ops *ops = hw->hw[k].ops;

		if (ops->unmap_range) {
			ret = ops->unmap_range(&b[k], entry, n);
			if (ret == UIOMMU_H_TOO_HARD)
				return ret;
			continue;
		}
		for (uint64_t i = 0; i < n; i++) {
			ret = ops->unmap(&b[k], entry + i);
			if (ret == UIOMMU_H_SUCCESS)
				continue;
			if (ret == UIOMMU_H_TOO_HARD)
				return ret;
			ops->clear(&b[k], entry + i);
		}
	}
	return ret;
}

static long stuff_body_kvm(struct hcall *h, struct liobn_table *t, const struct stuff_args *a)
{
	struct papr_hw_batch b[PAPR_HW_MAX];
	const struct papr_hw_set *hw;
	long ret = UIOMMU_H_SUCCESS;
	uint64_t idx;

	if (!kvm_ioba_ok(t, h->ioba, a->npages, &idx))
		return hcall_fail(h, (h->ioba & t->page_mask) ? ERR_IOBA_ALIGN
										: ERR_IOBA_RANGE,
				  UIOMMU_H_PARAMETER);
	/* "Check permission bits only to allow userspace poison TCE for debug". */
	if (a->value & TCE_RW)
		return hcall_fail(h, ERR_STUFF_RW, UIOMMU_H_PARAMETER);
	if (!view_ready(h, t, idx, a->npages, NULL, a->value))
		return NEED_PAGES;
	hw = hcall_hw(h, t);
	if (unlikely(hw) && a->npages) {
		ret = hw_begin(h->guest, h->vcpu, hw, b, t->offset + idx, a->npages);
		if (ret != UIOMMU_H_SUCCESS)
			return ret;
		ret = hw_unmap_all(hw, b, t->offset + idx, a->npages);
		hw_end(hw, b);
		if (ret == UIOMMU_H_TOO_HARD)
			return ret; /* the guest view untouched */
	}
	view_fill(t, idx, a->npages, a->value);
	hcall_written(h, t, idx, a->npages);
	return ret;
}

static long stuff_body_qemu(struct hcall *h, struct liobn_table *t, const struct stuff_args *a)
{
	struct papr_hw_batch b[PAPR_HW_MAX];
	const struct papr_hw_set *hw;
	uint64_t idx, n;

	if (a->npages > t->size || !a->npages)
		return hcall_fail(h, ERR_NPAGES, UIOMMU_H_PARAMETER);
	idx = qemu_index(t, h->ioba);
	n = qemu_prefix(t, idx, a->npages);
	if (!view_ready(h, t, idx, n, NULL, a->value))
		return NEED_PAGES;
	hw = hcall_hw(h, t);
	if (unlikely(hw) && n) {
		long ret = hw_begin(h->guest, h->vcpu, hw, b, t->offset + idx, n);

		if (ret != UIOMMU_H_SUCCESS)
			return ret;
		if (!(a->value & TCE_RW)) {
			/* Clearing: the tables a range at a time, then the view. */
			ret = hw_unmap_all(hw, b, t->offset + idx, n);
			if (ret == UIOMMU_H_SUCCESS)
				view_fill(t, idx, n, a->value);
		} else {
			/* put_tce_emu() per entry: tables, then the view, stopping at a failure. */
			for (uint64_t i = 0; i < n; i++) {
				ret = hw_put(hw, b, t->offset + idx + i, a->value);
				if (ret != UIOMMU_H_SUCCESS)
					break;
				view_fill(t, idx + i, 1, a->value);
			}
		}
		hw_end(hw, b);
		if (ret != UIOMMU_H_SUCCESS)
			return ret;
	} else {
		view_fill(t, idx, n, a->value);
		hcall_written(h, t, idx, n);
	}
	if (n < a->npages)
		return hcall_fail(h, ERR_IOBA_RANGE, UIOMMU_H_PARAMETER);
	return UIOMMU_H_SUCCESS;
}

static long stuff_body(struct hcall *h, void *arg)
{
	struct liobn_table *t;
	long ret;

	t = hcall_table(h, &ret);
	if (unlikely(!t))
		return ret;
	return h->kvm ? stuff_body_kvm(h, t, arg) : stuff_body_qemu(h, t, arg);
}

UIOMMU_EXPORT long uiommu_h_stuff_tce(struct uiommu_guest *guest, uint64_t liobn, uint64_t ioba,
				      uint64_t tce_value, uint64_t npages)
{
	struct hcall h = { .name = "H_STUFF_TCE", .guest = guest, .pg = papr_guest_peek(guest),
			   .liobn = liobn, .ioba = ioba };
	struct stuff_args a = { tce_value, npages };

	return hcall_run(&h, stuff_body, &a);
}

/* ---- vCPU handles: the same hcalls, no read-side lock in guest context ---- */

/* Remember the table of @liobn (the vCPU is online), if there is one. */
static void vcpu_table_fill(struct uiommu_vcpu *v, uint64_t liobn)
{
	const struct rcu_array *a = rcu_deref(v->pg->liobns);
	size_t i = rcu_array_find(a, liobn);

	if (i != SIZE_MAX) {
		v->c_liobns = a;
		v->c_liobn = liobn;
		v->c_t = a->e[i].ptr;
	}
}

/* Remember the memslot of @gpa (the vCPU is online), if any. */
static void vcpu_slot_fill(struct uiommu_vcpu *v, uint64_t gpa)
{
	const struct rcu_array *slots = rcu_deref(v->guest->slots);
	uint64_t first, last;

	void *hva;

	/* A newer array than @slots may answer: then @slots is never current again. */
	if (guest_memslot_rcu(v->guest, gpa, &first, &last) &&
	    (hva = guest_gpa_to_hva_rcu(v->guest, first, 1))) {
		v->c_slots = slots;
		v->c_first = first;
		v->c_last = last;
		v->c_hva = (uint64_t)(uintptr_t)hva;
	}
}

/*
 * The table of @liobn if the vCPU remembers it, else NULL: the LIOBN array
 * it was found in is still the published one. An offline vCPU remembers
 * nothing (vcpu_forget()), so this is also its check of being online.
 */
static inline struct liobn_table *vcpu_table(const struct uiommu_vcpu *v,
					     const struct rcu_array *liobns, uint64_t liobn)
{
	return likely(liobns == v->c_liobns && liobn == v->c_liobn) ? v->c_t : NULL;
}

/*
 * An entered vCPU's KVM checks of one H_PUT_TCE entry, from what it
 * remembers: kvm_ioba_ok() (the window is page aligned, so rel is if ioba
 * is) and kvmppc_tce_validate() without tables (an aligned gpa in the
 * memslot remembered). True with *@idx the entry's index in @t.
 */
__attribute__((always_inline)) static inline bool vcpu_kvm_entry_ok(const struct uiommu_vcpu *v,
								      const struct liobn_table *t,
								      uint64_t ioba, uint64_t tce,
								      uint64_t *idx)
{
	uint64_t rel = ioba - t->bus_offset, gpa = tce & ~TCE_RW;

	*idx = rel >> t->page_shift;
	if ((rel & t->page_mask) || *idx >= t->size)
		return false;
	return !(tce & TCE_RW) ||
	       !((gpa & t->page_mask) || rcu_deref(v->guest->slots) != v->c_slots ||
		 gpa < v->c_first || gpa > v->c_last);
}

/*
 * put_tce_fast() for an entered vCPU, from what it remembers only: a leaf
 * with no call and no loop, so that it saves no register. False changes
 * nothing; the caller learns what was missing and tries again, or runs
 * the general path.
 */
__attribute__((always_inline)) static inline bool vcpu_put_fast(struct uiommu_vcpu *v,
								 uint64_t liobn, uint64_t ioba,
								 uint64_t tce)
{
	struct papr_guest *pg = v->pg;
	bool kvm = profile_kvm(pg);
	struct liobn_table *t = vcpu_table(v, rcu_deref(pg->liobns), liobn);
	_Atomic uint64_t *page;
	uint64_t idx;

	if (unlikely(!t))
		return false;
	if (kvm) {
		if (!vcpu_kvm_entry_ok(v, t, ioba, tce, &idx))
			return false;
	} else {
		idx = qemu_index(t, ioba);
		if (idx >= t->size || (liobn >> 32))
			return false;
	}
	if (atomic_load_explicit(&t->hw, memory_order_relaxed))
		return false;
	page = view_page(t, idx);
	if (likely(page)) {
		atomic_store_explicit(&page[idx & t->view_mask], tce, memory_order_relaxed);
		return true;
	}
	return !tce; /* a zero TCE needs no page */
}

/* get_tce_fast() for an entered vCPU, from what it remembers only. */
__attribute__((always_inline)) static inline bool vcpu_get_fast(struct uiommu_vcpu *v,
								 uint64_t liobn, uint64_t ioba,
								 uint64_t *ret_tce)
{
	struct papr_guest *pg = v->pg;
	bool kvm = profile_kvm(pg);
	struct liobn_table *t = vcpu_table(v, rcu_deref(pg->liobns), liobn);
	uint64_t idx;

	if (unlikely(!t))
		return false;
	if (kvm) {
		uint64_t rel = ioba - t->bus_offset;

		idx = rel >> t->page_shift;
		if ((rel & t->page_mask) || idx >= t->size)
			return false;
	} else {
		idx = qemu_index(t, ioba);
		if (idx >= t->size || (liobn >> 32))
			return false;
	}
	*ret_tce = liobn_view_read(t, idx);
	return true;
}

/*
 * What a vCPU's H_PUT_TCE or H_GET_TCE does when its common case does not
 * apply: the memslot learnt and the common case tried again, else the
 * general path; out of line, so that the common case tail-calls it.
 */
/*
 * H_PUT_TCE through an entered vCPU on a LIOBN with hardware tables that
 * take lists (KVM profile): put_tce_body()'s work on what the vCPU
 * remembers, without the general path's set-up, inside the vCPU's
 * read-side section. False, nothing changed, for anything else (the
 * general path then runs the hcall and says why); true with *@ret, the
 * code put_tce_body() returns for it.
 */
__attribute__((noinline)) static bool vcpu_put_hw(struct uiommu_vcpu *v, uint64_t liobn,
						  uint64_t ioba, uint64_t tce, long *ret)
{
	struct liobn_table *t = vcpu_table(v, rcu_deref(v->pg->liobns), liobn);
	struct papr_hw_batch b[PAPR_HW_MAX];
	const struct papr_hw_set *hw;
	uint64_t idx;
	_Atomic uint64_t *page;

	if (!t || !profile_kvm(v->pg) || !vcpu_kvm_entry_ok(v, t, ioba, tce, &idx))
		return false;
	hw = rcu_deref(t->hw);
	page = view_page(t, idx);
	if (!hw || !hw_lists(hw) || (!page && tce))
		return false;
	*ret = hw_begin(v->guest, v, hw, b, t->offset + idx, 1);
	if (*ret != UIOMMU_H_SUCCESS)
		return true;
	/* One table checks the TCE before it writes anything (put_list's rule). */
	*ret = hw->n > 1 ? hw_validate(hw, b, &tce, 1) : UIOMMU_H_SUCCESS;
	if (*ret == UIOMMU_H_SUCCESS)
		*ret = hw_put(hw, b, t->offset + idx, tce);
	if (*ret == UIOMMU_H_SUCCESS && page)
		atomic_store_explicit(&page[idx & t->view_mask], tce, memory_order_relaxed);
	hw_end(hw, b);
	return true;
}

__attribute__((noinline)) static long vcpu_put_tce_slow(struct uiommu_vcpu *vcpu, uint64_t liobn,
							uint64_t ioba, uint64_t tce)
{
	long ret;

	uint64_t gpa = tce & ~TCE_RW;
	bool learnt = false;

	if (!vcpu->online)
		return uiommu_h_put_tce(vcpu->guest, liobn, ioba, tce);
	/* What the vCPU did not remember, learnt; then the common case again. */
	if (!vcpu_table(vcpu, rcu_deref(vcpu->pg->liobns), liobn)) {
		vcpu_table_fill(vcpu, liobn);
		learnt = true;
	}
	if ((tce & TCE_RW) && (rcu_deref(vcpu->guest->slots) != vcpu->c_slots ||
			       gpa < vcpu->c_first || gpa > vcpu->c_last)) {
		vcpu_slot_fill(vcpu, gpa);
		learnt = true;
	}
	if (learnt && vcpu_put_fast(vcpu, liobn, ioba, tce))
		return UIOMMU_H_SUCCESS;
	vcpu->slow++;
	if (vcpu_put_hw(vcpu, liobn, ioba, tce, &ret)) {
		vcpu->too_hard += ret == UIOMMU_H_TOO_HARD;
		return ret;
	}
	ret = put_tce_slow(vcpu->guest, vcpu->pg, liobn, ioba, tce, vcpu);
	vcpu->too_hard += ret == UIOMMU_H_TOO_HARD;
	return ret;
}

__attribute__((noinline)) static long vcpu_get_tce_slow(struct uiommu_vcpu *vcpu, uint64_t liobn,
							uint64_t ioba, uint64_t *ret_tce)
{
	long ret;

	if (!vcpu->online || !ret_tce)
		return uiommu_h_get_tce(vcpu->guest, liobn, ioba, ret_tce);
	vcpu_table_fill(vcpu, liobn);
	if (vcpu_get_fast(vcpu, liobn, ioba, ret_tce))
		return UIOMMU_H_SUCCESS;
	vcpu->slow++;
	ret = get_tce_slow(vcpu->guest, vcpu->pg, liobn, ioba, ret_tce, vcpu);
	vcpu->too_hard += ret == UIOMMU_H_TOO_HARD;
	return ret;
}

UIOMMU_EXPORT long uiommu_vcpu_h_put_tce(struct uiommu_vcpu *vcpu, uint64_t liobn, uint64_t ioba,
					 uint64_t tce)
{
	if (likely(vcpu_put_fast(vcpu, liobn, ioba, tce)))
		return UIOMMU_H_SUCCESS;
	return vcpu_put_tce_slow(vcpu, liobn, ioba, tce);
}

UIOMMU_EXPORT long uiommu_vcpu_h_get_tce(struct uiommu_vcpu *vcpu, uint64_t liobn, uint64_t ioba,
					 uint64_t *ret_tce)
{
	if (likely(ret_tce && vcpu_get_fast(vcpu, liobn, ioba, ret_tce)))
		return UIOMMU_H_SUCCESS;
	return vcpu_get_tce_slow(vcpu, liobn, ioba, ret_tce);
}

UIOMMU_EXPORT long uiommu_vcpu_h_put_tce_indirect(struct uiommu_vcpu *vcpu, uint64_t liobn,
						  uint64_t ioba, uint64_t tce_list_gpa,
						  uint64_t npages)
{
	struct hcall h = { .name = "H_PUT_TCE_INDIRECT", .guest = vcpu->guest, .pg = vcpu->pg,
			   .liobn = liobn, .ioba = ioba,
			   .mode = vcpu->online ? MODE_VCPU : MODE_BP, .vcpu = vcpu };
	struct indirect_args a = { tce_list_gpa, npages };
	long ret;

	vcpu->slow++;
	ret = hcall_run(&h, indirect_body, &a);
	vcpu->too_hard += ret == UIOMMU_H_TOO_HARD;
	return ret;
}

UIOMMU_EXPORT long uiommu_vcpu_h_stuff_tce(struct uiommu_vcpu *vcpu, uint64_t liobn,
					   uint64_t ioba, uint64_t tce_value, uint64_t npages)
{
	struct hcall h = { .name = "H_STUFF_TCE", .guest = vcpu->guest, .pg = vcpu->pg,
			   .liobn = liobn, .ioba = ioba,
			   .mode = vcpu->online ? MODE_VCPU : MODE_BP, .vcpu = vcpu };
	struct stuff_args a = { tce_value, npages };
	long ret;

	vcpu->slow++;
	ret = hcall_run(&h, stuff_body, &a);
	vcpu->too_hard += ret == UIOMMU_H_TOO_HARD;
	return ret;
}

/* ---- the dispatcher ---- */

/*
 * An hcall by opcode: the handle-less one (@vcpu and @chg NULL), a vCPU's,
 * or the VMM's redo (@chg). The argument checks are the dispatcher's.
 */
static long hcall_dispatch(struct uiommu_guest *guest, struct uiommu_vcpu *vcpu,
			   struct papr_change *chg, uint64_t opcode, const uint64_t *args,
			   unsigned int nargs, uint64_t *rets, unsigned int nrets)
{
	static const unsigned int need_args[] = { 3, 2, 4, 4 };
	struct hcall h = { .guest = guest, .pg = papr_guest_peek(guest), .mode = MODE_VMM };
	int op;
	long ret;

	switch (opcode) {
	case UIOMMU_H_PUT_TCE:
		op = 0;
		break;
	case UIOMMU_H_GET_TCE:
		op = 1;
		break;
	case UIOMMU_H_PUT_TCE_INDIRECT:
		op = 2;
		break;
	case UIOMMU_H_STUFF_TCE:
		op = 3;
		break;
	default:
		ctx_guest_error(guest->ctx, "hcall 0x%llx is not a TCE hypercall",
				(unsigned long long)opcode);
		return UIOMMU_H_FUNCTION;
	}
	if (!args || nargs < need_args[op] || (op == 1 && (!rets || nrets < 1))) {
		ctx_guest_error(guest->ctx, "hcall 0x%llx: too few argument or return registers",
				(unsigned long long)opcode);
		return UIOMMU_H_PARAMETER;
	}
	if (vcpu) {
		switch (op) {
		case 0:
			return uiommu_vcpu_h_put_tce(vcpu, args[0], args[1], args[2]);
		case 1:
			return uiommu_vcpu_h_get_tce(vcpu, args[0], args[1], &rets[0]);
		case 2:
			return uiommu_vcpu_h_put_tce_indirect(vcpu, args[0], args[1], args[2], args[3]);
		default:
			return uiommu_vcpu_h_stuff_tce(vcpu, args[0], args[1], args[2], args[3]);
		}
	}
	if (!chg) {
		switch (op) {
		case 0:
			return uiommu_h_put_tce(guest, args[0], args[1], args[2]);
		case 1:
			return uiommu_h_get_tce(guest, args[0], args[1], &rets[0]);
		case 2:
			return uiommu_h_put_tce_indirect(guest, args[0], args[1], args[2], args[3]);
		default:
			return uiommu_h_stuff_tce(guest, args[0], args[1], args[2], args[3]);
		}
	}
	/* The VMM's redo: the general path always, recording what it wrote. */
	h.liobn = args[0];
	h.ioba = args[1];
	switch (op) {
	case 0:
		h.name = "H_PUT_TCE";
		ret = hcall_run(&h, put_tce_body, (void *)&args[2]);
		break;
	case 1: {
		uint64_t tce;

		h.name = "H_GET_TCE";
		ret = hcall_run(&h, get_tce_body, &tce);
		if (ret == UIOMMU_H_SUCCESS)
			rets[0] = tce;
		break;
	}
	case 2: {
		struct indirect_args a = { args[2], args[3] };

		h.name = "H_PUT_TCE_INDIRECT";
		ret = hcall_run(&h, indirect_body, &a);
		break;
	}
	default: {
		struct stuff_args a = { args[2], args[3] };

		h.name = "H_STUFF_TCE";
		ret = hcall_run(&h, stuff_body, &a);
		break;
	}
	}
	*chg = (struct papr_change){ .t = h.chg_t };
	if (h.chg_t) {
		chg->liobn = h.chg_t->liobn;
		chg->entry = h.chg_t->offset + h.chg_idx;
		chg->n = h.chg_n;
		chg->page_shift = h.chg_t->page_shift;
	}
	return ret;
}

UIOMMU_EXPORT long uiommu_papr_hcall(struct uiommu_guest *guest, uint64_t opcode,
				     const uint64_t *args, unsigned int nargs, uint64_t *rets,
				     unsigned int nrets)
{
	return hcall_dispatch(guest, NULL, NULL, opcode, args, nargs, rets, nrets);
}

UIOMMU_EXPORT long uiommu_vcpu_hcall(struct uiommu_vcpu *vcpu, uint64_t opcode,
				     const uint64_t *args, unsigned int nargs, uint64_t *rets,
				     unsigned int nrets)
{
	return hcall_dispatch(vcpu->guest, vcpu, NULL, opcode, args, nargs, rets, nrets);
}

long papr_hcall_vmm(struct uiommu_guest *guest, uint64_t opcode, const uint64_t *args,
		    unsigned int nargs, uint64_t *rets, unsigned int nrets, struct papr_change *chg)
{
	*chg = (struct papr_change){ 0 };
	return hcall_dispatch(guest, NULL, chg, opcode, args, nargs, rets, nrets);
}

uint64_t papr_change_tce(const struct papr_change *chg, uint64_t i)
{
	return liobn_view_read(chg->t, chg->entry - chg->t->offset + i);
}

void papr_change_done(struct papr_change *chg)
{
	if (chg->t)
		liobn_put(chg->t);
	*chg = (struct papr_change){ 0 };
}
