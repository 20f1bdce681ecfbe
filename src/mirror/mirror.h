/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private state of mirrored user ranges (src/mirror/). See uiommu/mirror.h
 * and doc/design/mirror.md.
 *
 * notifier.c: the mirror side of address spaces (struct mirror_mm, in
 *	the MM_EXT_MIRROR slot of a struct uiommu_mm), the interval tree
 *	(libbsd's red-black tree, augmented with each subtree's largest last
 *	byte), the sequence protocol and its deferred inserts and removes.
 * uffd.c: the userfaultfd's registrations and the monitor thread, which
 *	holds the address space's device accesses (mm/dma.c).
 * pages.c: mirrors: population, the DMA array, the invalidate callback,
 *	TCE bindings and fault mode.
 * resolve.c: user address -> address a device uses (hpa, or the kernel's
 *	physical address).
 *
 * Lock order: a mirror's populate mutex, then its driver lock (rwlock),
 * then the address space's lock (mm->lock, never held across a callback),
 * then the memory model's locks. The hold of device accesses (mm/dma.c)
 * is taken by the monitor alone, before it reads an event; device
 * accesses wait on it and hold no other mirror lock meanwhile.
 */
#ifndef UIOMMU_MIRROR_PRIV_H
#define UIOMMU_MIRROR_PRIV_H

#include <bsd/sys/queue.h>
#include <bsd/sys/tree.h>

#include "../internal.h"

#define MIRROR_PAGE_SHIFT 12
#define MIRROR_PAGE_SIZE (1ULL << MIRROR_PAGE_SHIFT)

struct uiommu_interval_notifier {
	RB_ENTRY(uiommu_interval_notifier) rb;
	uint64_t start;
	uint64_t last;		/* inclusive */
	uint64_t subtree_last;	/* largest last in this subtree */
	bool in_tree;		/* Linux: !RB_EMPTY_NODE() */
	bool on_deferred;	/* queued on mm->deferred */
	/*
	 * An UNMAP or RELEASE invalidation overlapped it while its insert was
	 * deferred (under mm->lock): it got no callback (as in Linux), but a
	 * mirror on it must learn that its range was unmapped.
	 */
	_Atomic bool missed_unmap;
	SLIST_ENTRY(uiommu_interval_notifier) deferred_item;
	const struct uiommu_interval_notifier_ops *ops;
	void *opaque;
	struct mirror_mm *mm;
	_Atomic uint64_t invalidate_seq;
};

RB_HEAD(mirror_itree, uiommu_interval_notifier);
SLIST_HEAD(mirror_deferred, uiommu_interval_notifier);

struct mirror_uffd;

/*
 * The mirror side of an address space (its MM_EXT_MIRROR state): Linux's
 * mmu_notifier_subscriptions, the userfaultfd monitor and the mirrors, for
 * migration. Created by the first notifier or mirror of the address space
 * (mirror_mm_get()); it outlives uiommu_mm_free() while notifiers remain,
 * and grabs the address space meanwhile (mm_grab()).
 */
struct mirror_mm {
	struct uiommu_mm *mm;	/* the address space, grabbed */
	struct uiommu_ctx *ctx;

	/* Linux mmu_notifier_subscriptions; all under lock. */
	pthread_mutex_t lock;
	pthread_cond_t wq;
	_Atomic uint64_t invalidate_seq;
	uint64_t active_invalidate_ranges;
	struct mirror_itree itree;
	struct mirror_deferred deferred;
	uint64_t nintervals;	/* in the tree or deferred for insertion */
	_Atomic bool released;

	/* The address space's reference and one per notifier (Linux mmgrab()). */
	_Atomic uint64_t refs;

	struct mirror_uffd *uffd; /* NULL without UIOMMU_MM_USERFAULTFD, or once stopped */

	/* Mirrors of this address space, for migration (under mirrors_lock). */
	pthread_mutex_t mirrors_lock;
	pthread_cond_t mirrors_cond; /* a mirror's last fault-handling user is gone */
	LIST_HEAD(, uiommu_mirror) mirrors;
	/*
	 * Test hook (Xe's CONFIG_DRM_XE_USERPTR_INVAL_INJECT): called by a
	 * population after faulting and resolving, before it commits, so that a
	 * test can invalidate exactly there. Set before use; never in production.
	 */
	void (*test_populate_hook)(void *opaque, struct uiommu_mirror *m);
	void *test_populate_opaque;
	/* The running migration's invalidations (one at a time: mem's migrate lock). */
	struct uiommu_mmu_range mig_ranges[16];
	size_t mig_n;

	/* Statistics (relaxed atomics). */
	_Atomic uint64_t st_events[5];
	_Atomic uint64_t st_invalidations[UIOMMU_MMU_NOTIFY_NR];
	_Atomic uint64_t st_refused;
};

/* notifier.c */
/*
 * mirror_mm_get() - The mirror side of @mm, created on first use (which
 * starts the userfaultfd monitor of UIOMMU_MM_USERFAULTFD). 0, -EINVAL
 * (@mm was freed), -ENOMEM. No reference is taken: it lives while @mm
 * does, and beyond as long as the caller's notifiers.
 */
int mirror_mm_get(struct uiommu_mm *mm, struct mirror_mm **ret_mm);
/* The mirror side of @mm if it has one, else NULL. Lock-free. */
static inline struct mirror_mm *mirror_mm_of(const struct uiommu_mm *mm)
{
	return ext_get(&mm->ext[MM_EXT_MIRROR]);
}
void mirror_mm_put(struct mirror_mm *mm);
/*
 * An invalidation of a checked @range (uiommu_mm_invalidate_range_start()
 * and _end() on the mirror side): 0, or -EAGAIN (refused; undone, no end).
 */
int mirror_invalidate_start(struct mirror_mm *mm, const struct uiommu_mmu_range *range);
void mirror_invalidate_end(struct mirror_mm *mm);
/* uiommu_interval_notifier_insert() of the checked range [start, last]. */
int mirror_notifier_insert(struct mirror_mm *mm, uint64_t start, uint64_t last,
			   const struct uiommu_interval_notifier_ops *ops, void *opaque,
			   struct uiommu_interval_notifier **ret_sub);
/* The address space this thread is running an invalidate callback of, or NULL. */
struct mirror_mm *mirror_tls_invalidating(void);
/* Count of mirror driver locks this thread holds (read or write). */
unsigned int *mirror_tls_driver_locks(void);
/* Interval tree queries, in order of start; under mm->lock or while the tree is frozen. */
struct uiommu_interval_notifier *mm_itree_first(struct mirror_itree *t, uint64_t start,
						uint64_t last);
struct uiommu_interval_notifier *mm_itree_next(struct uiommu_interval_notifier *n,
					       uint64_t start, uint64_t last);

/* uffd.c */
int uffd_open(struct mirror_mm *mm);
void uffd_close(struct mirror_mm *mm);
/* Registrations, and the coverage they follow, change under the reg lock. */
void uffd_reg_lock(struct mirror_mm *mm);
void uffd_reg_unlock(struct mirror_mm *mm);
int uffd_register(struct mirror_mm *mm, uint64_t start, uint64_t last);
/* Unregister the pages of [start, last] that no interval in the tree covers. */
void uffd_unregister_uncovered(struct mirror_mm *mm, uint64_t start, uint64_t last);

/* resolve.c */
struct mirror_page {
	uint64_t addr;	/* hpa or physical address of the 4 KiB page */
	uint8_t proto;	/* enum uiommu_mirror_proto */
	uint8_t order;	/* natural order of the CPU mapping holding it */
};
/*
 * mirror_fault_in() - hmm_range_fault()'s fault step: make every page of
 * [ua, ua + size) present (and writable unless @read_only). 0, -EFAULT,
 * -EPERM or -ENOMEM as uiommu_mirror_populate() documents.
 */
int mirror_fault_in(struct uiommu_ctx *ctx, uint64_t ua, uint64_t size, bool read_only);
/*
 * mirror_resolve() - The address of every 4 KiB page of [ua, ua + npages
 * pages) into @pages. 0, or -EFAULT (a page vanished), -ENOMEM.
 */
int mirror_resolve(struct uiommu_ctx *ctx, uint64_t ua, uint64_t npages,
		   struct mirror_page *pages);

/* A line of /proc/self/maps. */
struct mirror_vma {
	uint64_t start, last, offset, ino;
	unsigned int major, minor;
	char perms[5]; /* "rw-p" */
};
/*
 * mirror_maps_walk() - Call @cb for every mapping of /proc/self/maps, in
 * address order, until it returns false. 0, or -ENOMEM (a fault point),
 * -EFAULT if the file cannot be read. Allocates (stdio).
 */
int mirror_maps_walk(struct uiommu_ctx *ctx, bool (*cb)(void *opaque, const struct mirror_vma *vma),
		     void *opaque);

/* pages.c */
/* The memory model's migration hook (mem.h, mem_migrate_hook). */
void mirror_migrate_hook(void *opaque, uint64_t old_hpa, uint64_t len, bool end);

#endif /* UIOMMU_MIRROR_PRIV_H */
