/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private state of VFIO sPAPR TCE containers (src/vfio/). See
 * uiommu/vfio.h and doc/design/vfio.md.
 *
 * One struct is both of Linux's objects: VFIO's container (its groups,
 * its IOMMU driver) and the driver's tce_container (windows, address
 * space, registrations). Locks, in order:
 *   vfio_state.lock (which container each group is in)
 *   -> container.lock (rwlock: exclusive for changes of windows, groups,
 *      registrations and the IOMMU; shared for MAP/UNMAP/GET_INFO/EEH)
 *   -> container.stripe[] (entries being mapped or unmapped; in index order)
 *   -> the groups' own locks, the address space's lock, the memory model's.
 */
#ifndef UIOMMU_VFIO_PRIV_H
#define UIOMMU_VFIO_PRIV_H

#include <uiommu/prereg.h>
#include <uiommu/vfio.h>

#include "../internal.h"

/*
 * A group in a container: on VFIO's list (group->container_next), and on
 * the IOMMU's once it attached it (Linux tce_iommu_group). Both lists are
 * newest first, as Linux's list_add(): the IOMMU's "first group" (whose
 * capabilities GET_INFO reports and whose create_table makes tables) is
 * the one it attached last.
 */
struct vfio_group_link {
	struct uiommu_table_group *grp;
	struct vfio_group_link *next;	  /* VFIO's list */
	struct vfio_group_link *tce_next; /* the IOMMU's list */
	bool attached;
};

/* A window: the table and its geometry, read on every MAP/UNMAP. */
struct vfio_window {
	struct uiommu_tce_table *tbl; /* the container's reference; NULL: no window */
	uint64_t bus_offset;	      /* it_offset << page_shift */
	uint64_t bus_last;	      /* last bus address of its it_size entries */
	uint64_t it_offset;
	unsigned int page_shift;
	unsigned int levels;
	uint64_t charged;	      /* bytes charged to UIOMMU_RES_LOCKED_BYTES */
};

/*
 * A registration this container holds (Linux tce_iommu_prereg), with the
 * count of the container's own TCEs into it, which UNREGISTER must find 0.
 * Freed after a grace period (lock-free readers).
 */
struct vfio_hold {
	struct uiommu_prereg *mem;
	uint64_t ua, last;
	_Atomic uint64_t tces;
	struct uiommu_ctx *ctx;
	struct rcu_node rcu;
};

/*
 * Entries are serialized in stripes: entry e of window w is in stripe
 * ((e >> VFIO_STRIPE_SHIFT) + w) % VFIO_STRIPES, so one MAP of up to 512
 * entries takes one or two, and a whole window all of them (32, so that a
 * thread never holds more locks than ThreadSanitizer follows: 64).
 */
#define VFIO_STRIPES 32u
#define VFIO_STRIPE_SHIFT 9u

struct uiommu_vfio_container {
	struct uiommu_ctx *ctx;
	struct uiommu_vfio_container *next; /* in vfio_state's list, under its lock */
	pthread_rwlock_t lock;

	/* Under lock (exclusive to write). */
	struct vfio_group_link *groups;	    /* VFIO's group list */
	struct vfio_group_link *tce_groups; /* the IOMMU's */
	unsigned int ngroups;
	unsigned int type;		/* 0, UIOMMU_VFIO_SPAPR_TCE_IOMMU or _v2 */
	bool v2;
	bool enabled;
	bool def_window_pending;
	uint64_t enable_charge;		/* v1: bytes ENABLE charged */
	struct uiommu_mm *mm;		/* the bound address space, held */
	struct vfio_window win[UIOMMU_TABLE_GROUP_MAX_TABLES];
	/* Registrations this container holds, by ua; ptr: struct vfio_hold. */
	struct rcu_array *_Atomic prereg;

	pthread_mutex_t stripe[VFIO_STRIPES];

	_Atomic uint64_t tces;
	_Atomic uint64_t map_calls, unmap_calls;
};

/* The context's VFIO state (CTX_EXT_VFIO): which group is in which container. */
struct vfio_state {
	pthread_mutex_t lock;
	struct uiommu_vfio_container *containers;
};

/* container.c */
/*
 * vfio_iommu_check() - The checks every IOMMU request starts with: an
 * IOMMU type (-EINVAL), and the address space (-EPERM if one is bound and
 * the caller is not in it). Under the container's lock.
 */
int vfio_iommu_check(struct uiommu_vfio_container *c);
/* vfio_mm_set() - Bind the caller's address space, or check it (Linux tce_iommu_mm_set()). */
int vfio_mm_set(struct uiommu_vfio_container *c);
/*
 * vfio_lock_v2() - What every v2-only request starts with: the lock
 * (exclusive, held on return whatever the result), vfio_iommu_check(),
 * -ENOTTY on v1, and, if @bind, vfio_mm_set().
 */
int vfio_lock_v2(struct uiommu_vfio_container *c, bool bind);
/* The first group the IOMMU attached (Linux list_first_entry of group_list), or NULL. */
struct uiommu_table_group *vfio_first_group(struct uiommu_vfio_container *c);

/* window.c */
/* Create the pending default window (Linux tce_iommu_create_default_window()); exclusive lock. */
int vfio_default_window_locked(struct uiommu_vfio_container *c);
int vfio_create_window_locked(struct uiommu_vfio_container *c, unsigned int page_shift,
			      uint64_t window_size, unsigned int levels, uint64_t *ret_start);
/* Free window @num's table and its charge (Linux tce_iommu_free_table()); already cleared and unset. */
void vfio_window_free_locked(struct uiommu_vfio_container *c, int num);
/* The window holding bus address @ioba, or -1 (Linux tce_iommu_find_table()). */
int vfio_find_window(const struct uiommu_vfio_container *c, uint64_t ioba);
/* Set every window on @grp (Linux tce_iommu_take_ownership()); all or nothing. */
int vfio_windows_set_on(struct uiommu_vfio_container *c, struct uiommu_table_group *grp);
/* Clear every window and unset it on @grp (Linux tce_iommu_release_ownership()). */
void vfio_windows_unset_on(struct uiommu_vfio_container *c, struct uiommu_table_group *grp);

/* dma.c */
/*
 * MAP_DMA and UNMAP_DMA; @late_err is the ioctl's error of reading its
 * struct (a NULL pointer, argsz, flags), returned where Linux would.
 */
int vfio_map_dma(struct uiommu_vfio_container *c, uint64_t vaddr, uint64_t iova,
		 uint64_t size, unsigned int flags, int late_err);
int vfio_unmap_dma(struct uiommu_vfio_container *c, uint64_t iova, uint64_t size, int late_err);
/* Clear [entry, entry + npages) of window @num, releasing every page; 0 or -EINVAL (range). */
int vfio_clear(struct uiommu_vfio_container *c, int num, uint64_t entry, uint64_t npages);
/* Clear a whole window; the caller holds the lock exclusively (no stripes needed). */
void vfio_clear_window_locked(struct uiommu_vfio_container *c, int num);

/* prereg.c */
/* The registration of this container holding [ua, ua + size), or NULL. Shared lock or RCU. */
struct vfio_hold *vfio_prereg_find(struct uiommu_vfio_container *c, uint64_t ua, uint64_t size);
/* Count @n TCEs into @h (its region's mapped and the container's own), or take them back. */
int vfio_hold_add(struct vfio_hold *h, uint64_t n);
void vfio_hold_sub(struct vfio_hold *h, uint64_t n);
/* Drop every registration (release of the IOMMU); the windows are gone. */
void vfio_prereg_release_locked(struct uiommu_vfio_container *c);

#endif /* UIOMMU_VFIO_PRIV_H */
