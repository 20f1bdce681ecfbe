// SPDX-License-Identifier: BSD-3-Clause
/*
 * Address spaces and interval notifiers: the sequence protocol of Linux
 * mm/mmu_notifier.c (mmu_interval_notifier_*, mn_itree_*), over an interval
 * tree made of libbsd's red-black tree (<bsd/sys/tree.h>) augmented with
 * the largest last byte of each subtree. See uiommu/mirror.h.
 */
#include <string.h>

#include "mirror.h"

/* ---- the interval tree ---- */

static int itree_cmp(const struct uiommu_interval_notifier *a,
		     const struct uiommu_interval_notifier *b)
{
	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	if (a->last != b->last)
		return a->last < b->last ? -1 : 1;
	/* Equal intervals are distinct notifiers: order them by identity. */
	return (uintptr_t)a < (uintptr_t)b ? -1 : (uintptr_t)a > (uintptr_t)b;
}

/*
 * libbsd calls RB_AUGMENT on a node whose children changed, but only on
 * that node: recompute it and every ancestor, so that subtree_last is right
 * whichever node the tree code names.
 */
static void itree_augment(struct uiommu_interval_notifier *n)
{
	for (; n; n = RB_PARENT(n, rb)) {
		uint64_t m = n->last;
		struct uiommu_interval_notifier *l = RB_LEFT(n, rb), *r = RB_RIGHT(n, rb);

		if (l && l->subtree_last > m)
			m = l->subtree_last;
		if (r && r->subtree_last > m)
			m = r->subtree_last;
		n->subtree_last = m;
	}
}

#undef RB_AUGMENT
#define RB_AUGMENT(x) itree_augment(x)
/* Static (some generated functions are unused; libbsd leaves __unused undefined). */
RB_GENERATE_INTERNAL(mirror_itree, uiommu_interval_notifier, rb, itree_cmp,
		     static __attribute__((unused)))

/* The leftmost node of the subtree at @n that overlaps [start, last]. */
static struct uiommu_interval_notifier *itree_subtree_first(struct uiommu_interval_notifier *n,
							    uint64_t start, uint64_t last)
{
	while (n) {
		struct uiommu_interval_notifier *l = RB_LEFT(n, rb);

		if (l && l->subtree_last >= start) {
			n = l;
			continue;
		}
		if (n->start > last)
			return NULL;
		if (n->last >= start)
			return n;
		n = RB_RIGHT(n, rb);
		if (!n || n->subtree_last < start)
			return NULL;
	}
	return NULL;
}

struct uiommu_interval_notifier *mm_itree_first(struct mirror_itree *t, uint64_t start,
						    uint64_t last)
{
	struct uiommu_interval_notifier *root = RB_ROOT(t);

	if (!root || root->subtree_last < start)
		return NULL;
	return itree_subtree_first(root, start, last);
}

/* The next node after @n, in order, that overlaps [start, last]. */
struct uiommu_interval_notifier *mm_itree_next(struct uiommu_interval_notifier *n,
						   uint64_t start, uint64_t last)
{
	for (;;) {
		struct uiommu_interval_notifier *r = RB_RIGHT(n, rb), *from;

		if (r && r->subtree_last >= start)
			return itree_subtree_first(r, start, last);
		/* Climb until we arrive from a left child. */
		do {
			from = n;
			n = RB_PARENT(n, rb);
			if (!n)
				return NULL;
		} while (RB_RIGHT(n, rb) == from);
		if (n->start > last)
			return NULL;
		if (n->last >= start)
			return n;
	}
}

/* ---- thread-local context, for the deadlock checks ---- */

static _Thread_local struct mirror_mm *tls_invalidating;
static _Thread_local unsigned int tls_driver_locks;

struct mirror_mm *mirror_tls_invalidating(void)
{
	return tls_invalidating;
}

unsigned int *mirror_tls_driver_locks(void)
{
	return &tls_driver_locks;
}

/* ---- address spaces ---- */

static bool mm_is_invalidating(const struct mirror_mm *mm)
{
	return atomic_load_explicit(&mm->invalidate_seq, memory_order_relaxed) & 1;
}

static void mm_destroy(struct mirror_mm *mm)
{
	struct uiommu_mm *owner = mm->mm;

	pthread_mutex_destroy(&mm->lock);
	pthread_cond_destroy(&mm->wq);
	pthread_mutex_destroy(&mm->mirrors_lock);
	pthread_cond_destroy(&mm->mirrors_cond);
	ctx_free(mm->ctx, mm);
	mm_drop(owner);
}

void mirror_mm_put(struct mirror_mm *mm)
{
	if (atomic_fetch_sub_explicit(&mm->refs, 1, memory_order_acq_rel) == 1)
		mm_destroy(mm);
}

static void mirror_mm_fini(void *owner, void *state);
static int mirror_mm_busy(struct uiommu_mm *owner, void *state);
static int mirror_mm_create(struct uiommu_mm *owner, struct mirror_mm **ret_mm);

/*
 * Making a mirror side is rare and starts a thread: one at a time, so that
 * two racing first notifiers never start two monitors on one userfaultfd
 * (the loser's could read an event that the winner's tree needs).
 */
static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;

int mirror_mm_get(struct uiommu_mm *owner, struct mirror_mm **ret_mm)
{
	struct mirror_mm *mm = mirror_mm_of(owner);
	int ret;

	if (likely(mm)) {
		*ret_mm = mm;
		return 0;
	}
	pthread_mutex_lock(&create_lock);
	ret = mirror_mm_create(owner, ret_mm);
	pthread_mutex_unlock(&create_lock);
	return ret;
}

/* Under create_lock. */
static int mirror_mm_create(struct uiommu_mm *owner, struct mirror_mm **ret_mm)
{
	struct uiommu_ctx *ctx = owner->ctx;
	struct mirror_mm *mm = mirror_mm_of(owner);
	int ret;

	if (mm) {
		*ret_mm = mm;
		return 0;
	}
	if (atomic_load_explicit(&owner->released, memory_order_acquire)) {
		ctx_err(ctx, "mirror: an address space that was freed has no new notifier");
		return -EINVAL;
	}
	mm = ctx_alloc(ctx, sizeof(*mm));
	if (!mm)
		return -ENOMEM;
	mm->mm = owner;
	mm->ctx = ctx;
	pthread_mutex_init(&mm->lock, NULL);
	pthread_cond_init(&mm->wq, NULL);
	pthread_mutex_init(&mm->mirrors_lock, NULL);
	pthread_cond_init(&mm->mirrors_cond, NULL);
	RB_INIT(&mm->itree);
	SLIST_INIT(&mm->deferred);
	LIST_INIT(&mm->mirrors);
	atomic_init(&mm->invalidate_seq, 2); /* even: idle (Linux starts at 2) */
	atomic_init(&mm->refs, 1);
	mm_grab(owner);
	ret = mem_migrate_hook_add(ctx, mirror_migrate_hook, mm);
	if (ret) {
		mm_destroy(mm);
		return ret;
	}
	if (owner->uffd >= 0) {
		ret = uffd_open(mm);
		if (ret) {
			mem_migrate_hook_remove(ctx, mirror_migrate_hook, mm);
			mm_destroy(mm);
			return ret;
		}
	}
	/* The slot is empty and stays so: every maker holds create_lock. */
	mm_ext_install(owner, MM_EXT_MIRROR, mm, mirror_mm_fini, mirror_mm_busy);
	*ret_mm = mm;
	return 0;
}

/* ---- invalidation (Linux mn_itree_inv_start_range / mn_itree_invalidate / mn_itree_inv_end) ---- */

static int range_check(const struct uiommu_mmu_range *range)
{
	if (range->last < range->start || (unsigned int)range->event >= UIOMMU_MMU_NOTIFY_NR ||
	    (range->flags & ~UIOMMU_MMU_RANGE_BLOCKABLE))
		return -EINVAL;
	return 0;
}

static void inv_end(struct mirror_mm *mm)
{
	struct uiommu_interval_notifier *n;

	pthread_mutex_lock(&mm->lock);
	if (--mm->active_invalidate_ranges || !mm_is_invalidating(mm)) {
		pthread_mutex_unlock(&mm->lock);
		return;
	}
	/* The last end: even again, then the deferred work, then wake. */
	atomic_fetch_add_explicit(&mm->invalidate_seq, 1, memory_order_release);
	while ((n = SLIST_FIRST(&mm->deferred))) {
		SLIST_REMOVE_HEAD(&mm->deferred, deferred_item);
		n->on_deferred = false;
		if (!n->in_tree) {
			mirror_itree_RB_INSERT(&mm->itree, n);
			n->in_tree = true;
		} else {
			mirror_itree_RB_REMOVE(&mm->itree, n);
			n->in_tree = false;
		}
	}
	pthread_mutex_unlock(&mm->lock);
	pthread_cond_broadcast(&mm->wq);
}

/*
 * A deferred insert is not in the frozen tree, so an invalidation that
 * starts after the insert returned gives it no callback (Linux
 * mmu_interval_notifier_insert() does the same). Its sequence makes its
 * first read wait for the last end, which covers the pages' contents, but
 * not what an UNMAP leaves behind: with mmap(MAP_FIXED) the range is
 * mapped again, and a mirror made before the unmap would silently mirror
 * the new mapping. Mark it instead (read by the mirror with its unmapped
 * flag). Under mm->lock.
 */
static void mark_deferred_unmapped(struct mirror_mm *mm, const struct uiommu_mmu_range *range)
{
	struct uiommu_interval_notifier *d;

	SLIST_FOREACH(d, &mm->deferred, deferred_item)
		if (!d->in_tree && range_overlaps(d->start, d->last, range->start, range->last))
			atomic_store_explicit(&d->missed_unmap, true, memory_order_relaxed);
}

/* uiommu_mm_invalidate_range_start() of a checked @range: 0 or -EAGAIN. */
int mirror_invalidate_start(struct mirror_mm *mm, const struct uiommu_mmu_range *range)
{
	struct uiommu_interval_notifier *n;
	struct mirror_mm *outer;
	uint64_t cur_seq = 0;
	bool blockable;

	blockable = range->flags & UIOMMU_MMU_RANGE_BLOCKABLE;
	atomic_fetch_add_explicit(&mm->st_invalidations[range->event], 1, memory_order_relaxed);

	pthread_mutex_lock(&mm->lock);
	mm->active_invalidate_ranges++;
	if (range->event == UIOMMU_MMU_NOTIFY_UNMAP || range->event == UIOMMU_MMU_NOTIFY_RELEASE)
		mark_deferred_unmapped(mm, range);
	n = mm_itree_first(&mm->itree, range->start, range->last);
	if (n) {
		atomic_fetch_or_explicit(&mm->invalidate_seq, 1, memory_order_relaxed);
		cur_seq = atomic_load_explicit(&mm->invalidate_seq, memory_order_relaxed);
	}
	pthread_mutex_unlock(&mm->lock);

	/* The tree is frozen while the sequence is odd: walk it without the lock. */
	outer = tls_invalidating;
	tls_invalidating = mm;
	for (; n; n = mm_itree_next(n, range->start, range->last)) {
		if (n->ops->invalidate(n, range, cur_seq))
			continue;
		if (blockable) {
			ctx_warn(mm->ctx, "mirror: an invalidate callback refused a blockable "
					  "invalidation of [0x%llx, 0x%llx]; treated as done",
				 (unsigned long long)range->start, (unsigned long long)range->last);
			continue;
		}
		tls_invalidating = outer;
		atomic_fetch_add_explicit(&mm->st_refused, 1, memory_order_relaxed);
		inv_end(mm);
		return -EAGAIN;
	}
	tls_invalidating = outer;
	return 0;
}

UIOMMU_EXPORT int uiommu_mm_invalidate_range_start(struct uiommu_mm *owner,
						   const struct uiommu_mmu_range *range)
{
	struct mirror_mm *mm;
	int ret;

	if (!owner || !range || range_check(range))
		return -EINVAL;
	/* The mirror side first: the matching end must find what this start counted. */
	ret = mirror_mm_get(owner, &mm);
	if (ret)
		return ret;
	return mirror_invalidate_start(mm, range);
}

UIOMMU_EXPORT void uiommu_mm_invalidate_range_end(struct uiommu_mm *owner,
						  const struct uiommu_mmu_range *range)
{
	struct mirror_mm *mm = owner ? mirror_mm_of(owner) : NULL;

	(void)range;
	if (mm)
		inv_end(mm);
}

void mirror_invalidate_end(struct mirror_mm *mm)
{
	inv_end(mm);
}

UIOMMU_EXPORT int uiommu_mm_invalidate(struct uiommu_mm *owner, uint64_t ua, uint64_t length,
				       enum uiommu_mmu_event event)
{
	struct uiommu_mmu_range range = { .start = ua, .event = event,
					  .flags = UIOMMU_MMU_RANGE_BLOCKABLE };
	struct mirror_mm *mm;
	int ret;

	if (!owner || (unsigned int)event >= UIOMMU_MMU_NOTIFY_NR)
		return -EINVAL;
	ret = range_from_len(ua, length, &range.last);
	if (ret)
		return ret;
	mm = mirror_mm_of(owner);
	if (!mm)
		return 0; /* no notifier was ever inserted: nothing to tell */
	mirror_invalidate_start(mm, &range); /* blockable: never refused */
	inv_end(mm);
	return 0;
}

/* Linux mn_itree_release(): one blockable RELEASE of everything; callbacks cannot refuse. */
static void mm_release(struct mirror_mm *mm)
{
	const struct uiommu_mmu_range range = {
		.start = 0, .last = UINT64_MAX, .event = UIOMMU_MMU_NOTIFY_RELEASE,
		.flags = UIOMMU_MMU_RANGE_BLOCKABLE,
	};

	pthread_mutex_lock(&mm->lock);
	mm->released = true;
	pthread_mutex_unlock(&mm->lock);
	mirror_invalidate_start(mm, &range);
	inv_end(mm);
}

/* uiommu_mm_free() asks first: not from an invalidate callback of the same address space. */
static int mirror_mm_busy(struct uiommu_mm *owner, void *state)
{
	(void)owner;
	if (tls_invalidating == state) {
		ctx_err(owner->ctx, "mirror: uiommu_mm_free() from an invalidate callback of "
				    "the same address space would wait for itself");
		return -EDEADLK;
	}
	return 0;
}

/* The MM_EXT_MIRROR finaliser, run by uiommu_mm_free(): the address space goes away. */
static void mirror_mm_fini(void *owner, void *state)
{
	struct mirror_mm *mm = state;

	(void)owner;
	/* Stop the kernel's events and migrations first: nothing invalidates after the release. */
	uffd_close(mm);
	mem_migrate_hook_remove(mm->ctx, mirror_migrate_hook, mm);
	mm_release(mm);
	mirror_mm_put(mm);
}

UIOMMU_EXPORT int uiommu_mm_get_stats(const struct uiommu_mm *owner,
				      struct uiommu_mm_stats *ret_stats)
{
	const struct mirror_mm *mm;

	if (!owner || !ret_stats)
		return -EINVAL;
	memset(ret_stats, 0, sizeof(*ret_stats));
	ret_stats->dma_holds = atomic_load_explicit(&owner->dma.holds, memory_order_relaxed);
	ret_stats->seq = 2; /* no notifier yet: the first sequence */
	mm = mirror_mm_of(owner);
	if (!mm)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(ret_stats->events); i++)
		ret_stats->events[i] = atomic_load_explicit(&mm->st_events[i], memory_order_relaxed);
	for (size_t i = 0; i < UIOMMU_MMU_NOTIFY_NR; i++)
		ret_stats->invalidations[i] =
			atomic_load_explicit(&mm->st_invalidations[i], memory_order_relaxed);
	ret_stats->refused = atomic_load_explicit(&mm->st_refused, memory_order_relaxed);
	ret_stats->seq = atomic_load_explicit(&mm->invalidate_seq, memory_order_relaxed);
	return 0;
}

/* ---- interval notifiers ---- */

UIOMMU_EXPORT int uiommu_interval_notifier_insert(struct uiommu_mm *owner, uint64_t start,
						  uint64_t length,
						  const struct uiommu_interval_notifier_ops *ops,
						  void *opaque,
						  struct uiommu_interval_notifier **ret_sub)
{
	struct mirror_mm *mm;
	uint64_t last;
	int ret;

	if (!owner || !ops || !ops->invalidate || !ret_sub)
		return -EINVAL;
	/* Linux: a zero length or a wrapping range is -EOVERFLOW. */
	if (range_from_len(start, length, &last))
		return -EOVERFLOW;
	ret = mirror_mm_get(owner, &mm);
	if (ret)
		return ret;
	return mirror_notifier_insert(mm, start, last, ops, opaque, ret_sub);
}

int mirror_notifier_insert(struct mirror_mm *mm, uint64_t start, uint64_t last,
			   const struct uiommu_interval_notifier_ops *ops, void *opaque,
			   struct uiommu_interval_notifier **ret_sub)
{
	struct uiommu_interval_notifier *sub;
	int ret;

	ret = ctx_charge(mm->ctx, UIOMMU_RES_NOTIFIERS, 1);
	if (ret) {
		ctx_err(mm->ctx, "mirror: no new interval notifier: the %s limit",
			uiommu_resource_name(UIOMMU_RES_NOTIFIERS));
		return ret;
	}
	sub = ctx_alloc(mm->ctx, sizeof(*sub));
	if (!sub) {
		ret = -ENOMEM;
		goto err_uncharge;
	}
	sub->start = start;
	sub->last = last;
	sub->subtree_last = last;
	sub->ops = ops;
	sub->opaque = opaque;
	sub->mm = mm;
	if (mm->uffd) {
		uffd_reg_lock(mm);
		ret = uffd_register(mm, start, last);
		if (ret) {
			uffd_reg_unlock(mm);
			goto err_free;
		}
	}

	pthread_mutex_lock(&mm->lock);
	if (mm->released) {
		pthread_mutex_unlock(&mm->lock);
		ctx_err(mm->ctx, "mirror: insert into an address space that was released");
		ret = -EINVAL;
		goto err_unregister;
	}
	atomic_fetch_add_explicit(&mm->refs, 1, memory_order_relaxed); /* mmgrab() */
	mm->nintervals++;
	if (mm->active_invalidate_ranges) {
		if (mm_is_invalidating(mm)) {
			/* The tree is frozen: insert at the last end. */
			SLIST_INSERT_HEAD(&mm->deferred, sub, deferred_item);
			sub->on_deferred = true;
		} else {
			atomic_fetch_or_explicit(&mm->invalidate_seq, 1, memory_order_relaxed);
			mirror_itree_RB_INSERT(&mm->itree, sub);
			sub->in_tree = true;
		}
		/* Equal to the current odd sequence: the first read_begin waits. */
		atomic_store_explicit(&sub->invalidate_seq,
				      atomic_load_explicit(&mm->invalidate_seq,
							   memory_order_relaxed),
				      memory_order_relaxed);
	} else {
		/* Odd and never the current one. */
		atomic_store_explicit(&sub->invalidate_seq,
				      atomic_load_explicit(&mm->invalidate_seq,
							   memory_order_relaxed) - 1,
				      memory_order_relaxed);
		mirror_itree_RB_INSERT(&mm->itree, sub);
		sub->in_tree = true;
	}
	pthread_mutex_unlock(&mm->lock);
	if (mm->uffd)
		uffd_reg_unlock(mm);
	*ret_sub = sub;
	return 0;

err_unregister:
	if (mm->uffd) {
		uffd_unregister_uncovered(mm, start, last);
		uffd_reg_unlock(mm);
	}
err_free:
	ctx_free(mm->ctx, sub);
err_uncharge:
	ctx_uncharge(mm->ctx, UIOMMU_RES_NOTIFIERS, 1);
	return ret;
}

UIOMMU_EXPORT int uiommu_interval_notifier_remove(struct uiommu_interval_notifier *sub)
{
	struct mirror_mm *mm = sub->mm;
	struct uiommu_ctx *ctx = mm->ctx;
	uint64_t seq = 0;

	if (tls_invalidating == mm) {
		ctx_err(ctx, "mirror: interval notifier remove from an invalidate callback of the "
			     "same address space would wait for that invalidation to end");
		return -EDEADLK;
	}
	if (tls_driver_locks) {
		ctx_err(ctx, "mirror: interval notifier remove with a mirror's driver lock held: "
			     "a running invalidate callback needs that lock");
		return -EDEADLK;
	}

	pthread_mutex_lock(&mm->lock);
	if (mm_is_invalidating(mm)) {
		if (!sub->in_tree) {
			/* Its insert is still deferred: drop it, no callback can run. */
			SLIST_REMOVE(&mm->deferred, sub, uiommu_interval_notifier, deferred_item);
			sub->on_deferred = false;
		} else {
			SLIST_INSERT_HEAD(&mm->deferred, sub, deferred_item);
			sub->on_deferred = true;
			seq = atomic_load_explicit(&mm->invalidate_seq, memory_order_relaxed);
		}
	} else {
		mirror_itree_RB_REMOVE(&mm->itree, sub);
		sub->in_tree = false;
	}
	/* Wait until the invalidation sequence that saw it in the tree is released. */
	while (seq && atomic_load_explicit(&mm->invalidate_seq, memory_order_relaxed) == seq)
		pthread_cond_wait(&mm->wq, &mm->lock);
	mm->nintervals--;
	pthread_mutex_unlock(&mm->lock);
	if (mm->uffd) {
		uffd_reg_lock(mm);
		uffd_unregister_uncovered(mm, sub->start, sub->last);
		uffd_reg_unlock(mm);
	}

	ctx_free(ctx, sub);
	ctx_uncharge(ctx, UIOMMU_RES_NOTIFIERS, 1);
	mirror_mm_put(mm); /* mmdrop() */
	return 0;
}

UIOMMU_EXPORT void *uiommu_interval_notifier_opaque(const struct uiommu_interval_notifier *sub)
{
	return sub->opaque;
}

UIOMMU_EXPORT uint64_t uiommu_interval_read_begin(struct uiommu_interval_notifier *sub)
{
	struct mirror_mm *mm = sub->mm;
	uint64_t seq;

	pthread_mutex_lock(&mm->lock);
	seq = atomic_load_explicit(&sub->invalidate_seq, memory_order_relaxed);
	/*
	 * seq equals the address space's only while an invalidation that hit
	 * (or a deferred insert of) this interval runs: wait for its end.
	 */
	while (seq == atomic_load_explicit(&mm->invalidate_seq, memory_order_relaxed))
		pthread_cond_wait(&mm->wq, &mm->lock);
	pthread_mutex_unlock(&mm->lock);
	return seq;
}

UIOMMU_EXPORT bool uiommu_interval_read_retry(const struct uiommu_interval_notifier *sub,
					      uint64_t seq)
{
	return atomic_load_explicit(&sub->invalidate_seq, memory_order_relaxed) != seq;
}

UIOMMU_EXPORT bool uiommu_interval_check_retry(const struct uiommu_interval_notifier *sub,
					       uint64_t seq)
{
	return atomic_load_explicit(&sub->invalidate_seq, memory_order_acquire) != seq;
}

UIOMMU_EXPORT void uiommu_interval_set_seq(struct uiommu_interval_notifier *sub, uint64_t cur_seq)
{
	atomic_store_explicit(&sub->invalidate_seq, cur_seq, memory_order_release);
}
