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

struct vfio_hold;

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

/*
 * vfio_shim.c: what the fast path needs from a container. The container
 * does not offer these yet; the shim implements them on its private
 * structures (src/vfio/vfio.h), to be replaced by the container's own.
 *
 * - accel_vfio_table(): under the container's lock (shared), the first of
 *   @grp's windows whose table accel_compatible() accepts, with a
 *   reference, and its window number; -EINVAL if none.
 * - accel_vfio_begin(): lock-free and never blocking: the container is v2,
 *   enabled, has @tbl as window @num, and no MAP/UNMAP of it holds an
 *   entry of [first, last] (host entries); then those entries are the
 *   caller's until accel_vfio_end(), which also adds @tces to the
 *   container's TCE count. False (nothing held) if any of it fails.
 * - accel_vfio_hold_rcu(): the container's registration holding [ua, ua +
 *   size), or NULL; inside a read-side section.
 * - accel_vfio_hold_add() / _sub(): count TCEs into a registration (its
 *   region's mapped and the container's own count); add fails (-ENXIO)
 *   if the region is dying.
 * - accel_vfio_hold_hpa(): prereg_ua_to_hpa() of the registration's region.
 * - accel_vfio_hold_range(): its user addresses [*ret_ua, *ret_last].
 */
struct accel_geometry {
	uint64_t bus_offset, bus_last; /* the LIOBN's window */
	unsigned int page_shift;
};
bool accel_compatible(const struct uiommu_tce_table_info *ti, const struct accel_geometry *g);
int accel_vfio_table(struct uiommu_vfio_container *c, struct uiommu_table_group *grp,
		     const struct accel_geometry *g, struct uiommu_tce_table **ret_tbl,
		     int *ret_num);
bool accel_vfio_begin(struct uiommu_vfio_container *c, int num, struct uiommu_tce_table *tbl,
		      uint64_t first, uint64_t last, uint64_t *ret_token);
void accel_vfio_end(struct uiommu_vfio_container *c, uint64_t token, int64_t tces);
struct vfio_hold *accel_vfio_hold_rcu(struct uiommu_vfio_container *c, uint64_t ua,
				      uint64_t size);
int accel_vfio_hold_add(struct vfio_hold *h, uint64_t n);
void accel_vfio_hold_sub(struct vfio_hold *h, uint64_t n);
int accel_vfio_hold_hpa(const struct vfio_hold *h, uint64_t ua, unsigned int page_shift,
			uint64_t *ret_hpa);
void accel_vfio_hold_range(const struct vfio_hold *h, uint64_t *ret_ua, uint64_t *ret_last);

/* attach.c */
struct accel_guest *accel_guest_peek(struct uiommu_guest *guest);

#endif /* UIOMMU_ACCEL_PRIV_H */
