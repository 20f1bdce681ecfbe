/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private state of the PAPR guest interface (src/papr/). See uiommu/papr.h
 * and doc/design/papr.md.
 *
 * A guest's LIOBNs are an RCU-published, copy-on-write array sorted by
 * LIOBN: hypercalls look a LIOBN up with a binary search inside one RCU
 * read-side section and take no lock. Creating and destroying LIOBNs, PHBs
 * and the RTAS calls are serialized by papr_guest.lock.
 *
 * A table's guest view is an array of pointers to host frames of the
 * context's host page size, each holding 2^view_shift native-endian TCEs,
 * allocated when a non-zero TCE first lands in it and never freed before
 * the table. Pointers are published with compare-and-swap (a loser frees
 * its frame); entries are read and written with relaxed 8-byte atomics.
 *
 * Lifetime: a table holds a reference for being published; a hypercall
 * that must allocate a frame takes another one (get-unless-zero) before it
 * leaves its RCU read-side section, so that the table outlives the
 * allocation. The last put defers the free past a grace period.
 */
#ifndef UIOMMU_PAPR_PRIV_H
#define UIOMMU_PAPR_PRIV_H

#include <uiommu/papr.h>
#include <uiommu/vcpu.h>

#include "../internal.h"

/* Attached hardware tables (the seam, internal.h): an immutable array. */
struct papr_hw_entry {
	const struct papr_hw_ops *ops;
	void *opaque;
};
struct papr_hw_set {
	size_t n;
	struct uiommu_ctx *ctx;
	struct rcu_node rcu;
	struct papr_hw_entry hw[];
};

struct liobn_table {
	uint64_t liobn;
	uint64_t offset;     /* first entry, in IOMMU pages */
	uint64_t size;	     /* entries */
	uint64_t bus_offset; /* offset << page_shift */
	uint64_t page_mask;	 /* (1 << page_shift) - 1 */
	uint64_t view_mask;	 /* (1 << view_shift) - 1 */
	unsigned int page_shift;
	unsigned int view_shift; /* log2 of the TCEs in one guest-view page */
	uint64_t view_npages;	 /* guest-view pages */
	uint64_t locked_bytes;	 /* UIOMMU_RES_LOCKED_BYTES charged */
	bool phb_window;	 /* a PHB's window: under papr_guest.lock */
	struct uiommu_ctx *ctx;
	struct papr_hw_set *_Atomic hw;
	_Atomic uint32_t refs;
	_Atomic uint64_t view_allocated; /* guest-view pages allocated */
	struct rcu_node rcu;
	_Atomic uint64_t *_Atomic view[];
};

struct papr_phb {
	struct uiommu_papr_phb_config cfg;
	uint64_t liobn[UIOMMU_PAPR_MAX_WINDOWS];
	bool active[UIOMMU_PAPR_MAX_WINDOWS];
};

struct papr_guest {
	struct uiommu_ctx *ctx;
	struct uiommu_guest *guest;
	_Atomic int profile;
	_Atomic uint32_t vcpus; /* handles not freed yet */
	pthread_mutex_t lock; /* LIOBN and PHB changes, RTAS calls */
	struct rcu_array *_Atomic liobns; /* by LIOBN (start = last = liobn); ptr: liobn_table */
	struct papr_phb *phbs[UIOMMU_PAPR_MAX_PHBS]; /* under lock */
	unsigned int nphbs;
};

/*
 * A vCPU handle (uiommu/vcpu.h). Every field but the guest's is the
 * handle's thread's alone, so the counters are plain.
 *
 * The vCPU remembers what its last hypercall looked up, as a TLB would:
 * the LIOBN array it searched and the table it found, the memslot array
 * and the slot's gpa range. An entry is used only while the array it came
 * from is still the published one; and since nothing is freed before the
 * vCPU reports a quiescent state, an array it remembers cannot be freed
 * and its address reused meanwhile. So it forgets everything whenever it
 * goes offline or reports a quiescent state (vcpu_forget()).
 */
struct uiommu_vcpu {
	struct uiommu_guest *guest;
	struct papr_guest *pg;
	bool online; /* in guest context: an online QSBR reader */
	uint64_t slow, too_hard;
	const struct rcu_array *c_liobns; /* the LIOBN array c_t was found in */
	uint64_t c_liobn;
	struct liobn_table *c_t;
	const struct rcu_array *c_slots; /* the memslot array [c_first, c_last] came from */
	uint64_t c_first, c_last;
	uint64_t c_hva; /* the host address of c_first */
};

/* Forget what the vCPU remembers; an offline vCPU remembers nothing (its fast path relies on it). */
static inline void vcpu_forget(struct uiommu_vcpu *v)
{
	v->c_liobns = NULL;
	v->c_t = NULL;
	v->c_slots = NULL;
}

/* The guest's PAPR state, creating it on first use; NULL if out of memory. */
struct papr_guest *papr_guest_get(struct uiommu_guest *guest);

static inline struct papr_guest *papr_guest_peek(struct uiommu_guest *guest)
{
	return ext_get(&guest->ext[GUEST_EXT_PAPR]);
}

/* The table of @liobn, or NULL. Inside an RCU read-side section. */
static inline struct liobn_table *liobn_find_rcu(struct papr_guest *pg, uint64_t liobn)
{
	const struct rcu_array *a = rcu_deref(pg->liobns);
	size_t i = rcu_array_find(a, liobn);

	return i == SIZE_MAX ? NULL : a->e[i].ptr;
}

/* Entry @idx (relative to the window's first entry) as stored; 0 in an absent page. */
static inline uint64_t liobn_view_read(const struct liobn_table *t, uint64_t idx)
{
	_Atomic uint64_t *page =
		atomic_load_explicit(&t->view[idx >> t->view_shift], memory_order_acquire);

	if (!page)
		return 0;
	return atomic_load_explicit(&page[idx & t->view_mask], memory_order_relaxed);
}

/* liobn.c */
int liobn_create_locked(struct papr_guest *pg, uint64_t liobn, unsigned int page_shift,
			uint64_t offset, uint64_t size, struct liobn_table **ret_t);
int liobn_destroy_locked(struct papr_guest *pg, uint64_t liobn);
bool liobn_tryget(struct liobn_table *t);
void liobn_put(struct liobn_table *t);
/*
 * Allocate the absent guest-view pages [first, last] of @t. Outside any
 * RCU read-side section, holding a reference on @t. 0 or -ENOMEM.
 */
int liobn_view_alloc(struct liobn_table *t, uint64_t first, uint64_t last);
/* Number of guest-view pages allocated (tests). */
uint64_t papr_liobn_view_pages(struct uiommu_guest *guest, uint64_t liobn);

#endif /* UIOMMU_PAPR_PRIV_H */
