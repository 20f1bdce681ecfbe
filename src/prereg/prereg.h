/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private state of preregistered memory (src/prereg/). See
 * uiommu/prereg.h and doc/design/vfio.md.
 *
 * The regions of an address space hang off its MM_EXT_PREREG slot
 * (struct prereg_state, made by its first registration; uiommu_mm_free()
 * asks prereg_state_busy() first). They are an RCU-published, copy-on-write
 * sorted array (core/rcu_array.h) keyed by user address: lookups are a
 * binary search inside an RCU read-side section, with no lock.
 * Registrations are serialized by the prereg_state's lock, which also guards
 * each region's used count (written under it, read atomically by info).
 *
 * Removing a region from the array allocates the new array. So that the
 * last put never fails for want of memory, a region whose array could not
 * be rebuilt stays in it dead (mapped 0: lookups skip it, its pins and
 * charges are gone) until the next successful edit drops it; the array is
 * then still sorted and its live ranges disjoint, which is all a lookup
 * needs.
 */
#ifndef UIOMMU_PREREG_PRIV_H
#define UIOMMU_PREREG_PRIV_H

#include <uiommu/prereg.h>

#include "../internal.h"

/* The preregistered side of an address space (Linux mm->context.iommu_group_mem_list). */
struct prereg_state {
	struct uiommu_ctx *ctx;
	pthread_mutex_t lock;		    /* registrations, used counts */
	struct rcu_array *_Atomic regions;  /* by ua; ptr: struct uiommu_prereg */
	uint64_t nregions;		    /* live regions, under lock */
};

struct uiommu_prereg {
	struct prereg_state *ps;
	struct uiommu_ctx *ctx;		/* for a free deferred past the address space */
	uint64_t ua, last;		/* inclusive */
	unsigned int page_shift;	/* largest IOMMU page it backs (Linux pageshift) */
	unsigned int granule_shift;	/* hpas[] has one hpa per 1 << granule_shift bytes */
	_Atomic uint64_t mapped;	/* 1 idle, 0 dead, 1 + TCEs */
	_Atomic uint64_t used;		/* registrations; written under mm->lock */
	uint64_t *hpas;
	struct rcu_node rcu;
};


#endif /* UIOMMU_PREREG_PRIV_H */
