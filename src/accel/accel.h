/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private state of the accelerated hypercalls (src/accel/). See
 * uiommu/accel.h and doc/design/accel.md.
 *
 * A guest's attachments hang off its GUEST_EXT_ACCEL slot: a list of
 * attached tables (struct accel_table, Linux's kvmppc_spapr_tce_iommu_table),
 * one per (LIOBN, host table), each with the groups that use it. The list
 * and the groups are under accel_guest.lock (attach and detach write it,
 * the VMM path and info read it). The fast path never sees the list: papr
 * hands it the accel_table it attached (the seam's opaque), inside the
 * hypercall's read-side section; detach unhooks it from papr, which waits
 * for a grace period of both RCU flavours, and only then drops the table
 * reference and frees it.
 *
 * Locks, in order: accel_guest.lock -> the container's (shared) -> the
 * guest's PAPR lock.
 */
#ifndef UIOMMU_ACCEL_PRIV_H
#define UIOMMU_ACCEL_PRIV_H

#include <uiommu/accel.h>
#include <uiommu/vfio.h>

#include "../internal.h"

/* A group using an attached table. */
struct accel_link {
	struct uiommu_table_group *grp;
	struct accel_link *next;
};

/* One host table attached to one LIOBN. Set once at attach but for the lists. */
struct accel_table {
	struct uiommu_guest *guest;
	struct uiommu_ctx *ctx;
	uint64_t liobn;
	struct uiommu_tce_table *tbl;	 /* one reference */
	struct uiommu_vfio_container *c; /* whose window num tbl is */
	int num;
	unsigned int host_shift;	/* the host table's IOMMU page */
	unsigned int guest_shift;	/* the LIOBN's */
	unsigned int sub_shift;		/* guest_shift - host_shift: 2^sub_shift host entries per TCE */
	uint64_t perm[4];		/* a guest TCE's R/W bits -> the host TCE's */
	struct accel_link *links;	/* under accel_guest.lock */
	struct accel_table *next;	/* under accel_guest.lock */
	_Atomic uint64_t too_hard, vmm_hcalls, vmm_failures;
};

/* The guest's attachments (GUEST_EXT_ACCEL). */
struct accel_guest {
	struct uiommu_ctx *ctx;
	pthread_rwlock_t lock;
	struct accel_table *tables;
};

/* fast.c: the ops papr calls in the hypercalls' fast path. */
extern const struct papr_hw_ops accel_hw_ops;

/* The LIOBN's window, which a host table must cover (attach.c). */
struct accel_geometry {
	uint64_t bus_offset, bus_last; /* the LIOBN's window */
	unsigned int page_shift;
};
/* vfio_group_window()'s test: an accel_geometry as @arg. */
bool accel_compatible(const struct uiommu_tce_table_info *ti, const void *arg);

/* attach.c */
struct accel_guest *accel_guest_peek(struct uiommu_guest *guest);

#endif /* UIOMMU_ACCEL_PRIV_H */
