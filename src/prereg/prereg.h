/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private state of address spaces and preregistered memory (src/prereg/).
 * See uiommu/prereg.h and doc/design/vfio.md.
 *
 * An address space's regions are an RCU-published, copy-on-write sorted
 * array (core/rcu_array.h) keyed by user address: lookups are a binary
 * search inside an RCU read-side section, with no lock. Registrations are
 * serialized by the address space's lock, which also guards each region's
 * used count (written under it, read atomically by info).
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

struct uiommu_prereg_mm {
	struct uiommu_ctx *ctx;
	pthread_mutex_t lock;		    /* registrations, used counts */
	struct rcu_array *_Atomic regions;  /* by ua; ptr: struct uiommu_prereg */
	uint64_t nregions;		    /* live regions, under lock */
	_Atomic uint32_t users;		    /* bound containers and threads using it */
	unsigned int fork_gen;		    /* the process it belongs to */
	bool process;			    /* the context's process address space */
};

struct uiommu_prereg {
	struct uiommu_prereg_mm *mm;
	struct uiommu_ctx *ctx;		/* for a free deferred past the address space */
	uint64_t ua, last;		/* inclusive */
	unsigned int page_shift;	/* largest IOMMU page it backs (Linux pageshift) */
	unsigned int granule_shift;	/* hpas[] has one hpa per 1 << granule_shift bytes */
	_Atomic uint64_t mapped;	/* 1 idle, 0 dead, 1 + TCEs */
	_Atomic uint64_t used;		/* registrations; written under mm->lock */
	uint64_t *hpas;
	struct rcu_node rcu;
};

/* mm.c */
/* The fork generation of this process (bumped in every fork() child). */
unsigned int prereg_fork_gen(void);
/* Register the fork handler; once per process, before the first address space. */
void prereg_fork_setup(void);

/* region.c */
/* Free every region of @mm (dead ones and, at context teardown, any left). */
void prereg_regions_fini(struct uiommu_prereg_mm *mm);

#endif /* UIOMMU_PREREG_PRIV_H */
