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

static _Thread_local struct uiommu_mm *tls_invalidating;
static _Thread_local unsigned int tls_driver_locks;

struct uiommu_mm *mirror_tls_invalidating(void)
{
	return tls_invalidating;
}

unsigned int *mirror_tls_driver_locks(void)
{
	return &tls_driver_locks;
}

/* ---- address spaces ---- */

static bool mm_is_invalidating(const struct uiommu_mm *mm)
{
	return atomic_load_explicit(&mm->invalidate_seq, memory_order_relaxed) & 1;
}

static void mm_destroy(struct uiommu_mm *mm)
{
	struct uiommu_ctx *ctx = mm->ctx;

	pthread_mutex_destroy(&mm->lock);
	pthread_cond_destroy(&mm->wq);
	pthread_mutex_destroy(&mm->gate_lock);
	pthread_cond_destroy(&mm->gate_cond);
	pthread_mutex_destroy(&mm->mirrors_lock);
	pthread_cond_destroy(&mm->mirrors_cond);
	pthread_mutex_destroy(&mm->quiesce_lock);
	ctx_free(ctx, mm);
	ctx_uncharge(ctx, UIOMMU_RES_ADDRESS_SPACES, 1);
}

void mm_put(struct uiommu_mm *mm)
{
	if (atomic_fetch_sub_explicit(&mm->refs, 1, memory_order_acq_rel) == 1)
		mm_destroy(mm);
}

UIOMMU_EXPORT int uiommu_mm_new(struct uiommu_ctx *ctx, unsigned int flags,
				struct uiommu_mm **ret_mm)
{
	struct uiommu_mm *mm;
	int ret;

	if (!ctx || !ret_mm || (flags & ~UIOMMU_MM_USERFAULTFD))
		return -EINVAL;
	ret = ctx_charge(ctx, UIOMMU_RES_ADDRESS_SPACES, 1);
	if (ret) {
		ctx_err(ctx, "mirror: no new address space: the %s limit",
			uiommu_resource_name(UIOMMU_RES_ADDRESS_SPACES));
		return ret;
	}
	mm = ctx_alloc(ctx, sizeof(*mm));
	if (!mm) {
		ctx_uncharge(ctx, UIOMMU_RES_ADDRESS_SPACES, 1);
		return -ENOMEM;
	}
	mm->ctx = ctx;
	mm->flags = flags;
	pthread_mutex_init(&mm->lock, NULL);
	pthread_cond_init(&mm->wq, NULL);
	pthread_mutex_init(&mm->gate_lock, NULL);
	pthread_cond_init(&mm->gate_cond, NULL);
	pthread_mutex_init(&mm->mirrors_lock, NULL);
	pthread_cond_init(&mm->mirrors_cond, NULL);
	pthread_mutex_init(&mm->quiesce_lock, NULL);
	RB_INIT(&mm->itree);
	SLIST_INIT(&mm->deferred);
	LIST_INIT(&mm->mirrors);
	atomic_init(&mm->invalidate_seq, 2); /* even: idle (Linux starts at 2) */
	atomic_init(&mm->refs, 1);
	ret = mem_migrate_hook_add(ctx, mirror_migrate_hook, mm);
	if (ret) {
		mm_destroy(mm);
		return ret;
	}
	if (flags & UIOMMU_MM_USERFAULTFD) {
		ret = uffd_open(mm);
		if (ret) {
			mem_migrate_hook_remove(ctx, mirror_migrate_hook, mm);
			mm_destroy(mm);
			return ret;
		}
	}
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

static void inv_end(struct uiommu_mm *mm)
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

UIOMMU_EXPORT int uiommu_mm_invalidate_range_start(struct uiommu_mm *mm,
						   const struct uiommu_mmu_range *range)
{
	struct uiommu_interval_notifier *n;
	struct uiommu_mm *outer;
	uint64_t cur_seq = 0;
	bool blockable;

	if (!mm || !range || range_check(range))
		return -EINVAL;
	blockable = range->flags & UIOMMU_MMU_RANGE_BLOCKABLE;
	atomic_fetch_add_explicit(&mm->st_invalidations[range->event], 1, memory_order_relaxed);

	pthread_mutex_lock(&mm->lock);
	mm->active_invalidate_ranges++;
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

UIOMMU_EXPORT void uiommu_mm_invalidate_range_end(struct uiommu_mm *mm,
						  const struct uiommu_mmu_range *range)
{
	(void)range;
	if (mm)
		inv_end(mm);
}

UIOMMU_EXPORT int uiommu_mm_invalidate(struct uiommu_mm *mm, uint64_t ua, uint64_t length,
				       enum uiommu_mmu_event event)
{
	struct uiommu_mmu_range range = { .start = ua, .event = event,
					  .flags = UIOMMU_MMU_RANGE_BLOCKABLE };
	int ret;

	if (!mm || (unsigned int)event >= UIOMMU_MMU_NOTIFY_NR)
		return -EINVAL;
	ret = range_from_len(ua, length, &range.last);
	if (ret)
		return ret;
	ret = uiommu_mm_invalidate_range_start(mm, &range);
	if (!ret)
		uiommu_mm_invalidate_range_end(mm, &range);
	return ret;
}

/* Linux mn_itree_release(): one blockable RELEASE of everything; callbacks cannot refuse. */
static void mm_release(struct uiommu_mm *mm)
{
	const struct uiommu_mmu_range range = {
		.start = 0, .last = UINT64_MAX, .event = UIOMMU_MMU_NOTIFY_RELEASE,
		.flags = UIOMMU_MMU_RANGE_BLOCKABLE,
	};

	pthread_mutex_lock(&mm->lock);
	mm->released = true;
	pthread_mutex_unlock(&mm->lock);
	uiommu_mm_invalidate_range_start(mm, &range);
	uiommu_mm_invalidate_range_end(mm, &range);
}

UIOMMU_EXPORT int uiommu_mm_free(struct uiommu_mm *mm)
{
	if (!mm)
		return 0;
	if (tls_invalidating == mm) {
		ctx_err(mm->ctx, "mirror: uiommu_mm_free() from an invalidate callback of "
				 "the same address space would wait for itself");
		return -EDEADLK;
	}
	/* Stop the kernel's events and migrations first: nothing invalidates after the release. */
	uffd_close(mm);
	mem_migrate_hook_remove(mm->ctx, mirror_migrate_hook, mm);
	mm_release(mm);
	mm_put(mm);
	return 0;
}

/* ---- device accesses ---- */

static void dma_put(struct uiommu_mm *mm, unsigned int idx)
{
	if (atomic_fetch_sub_explicit(&mm->dma_count[idx], 1, memory_order_seq_cst) == 1 &&
	    atomic_load_explicit(&mm->dma_waiters, memory_order_seq_cst)) {
		pthread_mutex_lock(&mm->gate_lock);
		pthread_cond_broadcast(&mm->gate_cond);
		pthread_mutex_unlock(&mm->gate_lock);
	}
}

/*
 * This thread's open device accesses, innermost last: which address space
 * and which epoch bucket each counts in, so that uiommu_mm_handle_fault()
 * can step out of them while it populates, and back in.
 */
#define DMA_NEST_MAX 16
static _Thread_local struct {
	struct uiommu_mm *mm[DMA_NEST_MAX];
	unsigned char idx[DMA_NEST_MAX];
	unsigned int depth;
} tls_dma;

static unsigned int dma_get(struct uiommu_mm *mm)
{
	for (;;) {
		unsigned int idx = atomic_load_explicit(&mm->dma_epoch, memory_order_seq_cst) & 1;

		atomic_fetch_add_explicit(&mm->dma_count[idx], 1, memory_order_seq_cst);
		if (likely(!atomic_load_explicit(&mm->gate_held, memory_order_seq_cst)))
			return idx;
		/* Held: back out, so that the monitor's quiesce can finish, and wait. */
		dma_put(mm, idx);
		pthread_mutex_lock(&mm->gate_lock);
		while (atomic_load_explicit(&mm->gate_held, memory_order_seq_cst))
			pthread_cond_wait(&mm->gate_cond, &mm->gate_lock);
		pthread_mutex_unlock(&mm->gate_lock);
	}
}

UIOMMU_EXPORT void uiommu_mm_dma_begin(struct uiommu_mm *mm)
{
	unsigned int idx = dma_get(mm);

	if (likely(tls_dma.depth < DMA_NEST_MAX)) {
		tls_dma.mm[tls_dma.depth] = mm;
		tls_dma.idx[tls_dma.depth] = (unsigned char)idx;
	} else {
		dma_put(mm, idx); /* too deep to track: count it in the outermost's bucket */
		idx = tls_dma.idx[0];
		atomic_fetch_add_explicit(&mm->dma_count[idx], 1, memory_order_seq_cst);
	}
	tls_dma.depth++;
}

UIOMMU_EXPORT void uiommu_mm_dma_end(struct uiommu_mm *mm)
{
	unsigned int d = --tls_dma.depth;

	dma_put(mm, d < DMA_NEST_MAX ? tls_dma.idx[d] : tls_dma.idx[0]);
}

/* Leave this thread's accesses of @mm (to wait for an invalidation), and come back. */
unsigned int mm_dma_step_out(struct uiommu_mm *mm)
{
	unsigned int n = 0;

	for (unsigned int d = 0; d < MIN(tls_dma.depth, DMA_NEST_MAX); d++) {
		if (tls_dma.mm[d] == mm) {
			dma_put(mm, tls_dma.idx[d]);
			n++;
		}
	}
	return n;
}

void mm_dma_step_in(struct uiommu_mm *mm, unsigned int n)
{
	for (unsigned int d = 0; n && d < MIN(tls_dma.depth, DMA_NEST_MAX); d++) {
		if (tls_dma.mm[d] == mm) {
			tls_dma.idx[d] = (unsigned char)dma_get(mm);
			n--;
		}
	}
}

void mm_dma_quiesce(struct uiommu_mm *mm)
{
	/*
	 * Nothing in flight: an access that begins after these loads comes
	 * after the caller's TCE clear (all seq_cst), so it cannot use the old
	 * TCEs, and there is nothing to wait for.
	 */
	if (!atomic_load_explicit(&mm->dma_count[0], memory_order_seq_cst) &&
	    !atomic_load_explicit(&mm->dma_count[1], memory_order_seq_cst))
		return;
	pthread_mutex_lock(&mm->quiesce_lock);
	atomic_fetch_add_explicit(&mm->dma_waiters, 1, memory_order_seq_cst);
	/* Two flips: each bucket is seen empty once after this call began. */
	for (int round = 0; round < 2; round++) {
		unsigned int idx =
			atomic_fetch_add_explicit(&mm->dma_epoch, 1, memory_order_seq_cst) & 1;

		pthread_mutex_lock(&mm->gate_lock);
		while (atomic_load_explicit(&mm->dma_count[idx], memory_order_seq_cst))
			pthread_cond_wait(&mm->gate_cond, &mm->gate_lock);
		pthread_mutex_unlock(&mm->gate_lock);
	}
	atomic_fetch_sub_explicit(&mm->dma_waiters, 1, memory_order_seq_cst);
	pthread_mutex_unlock(&mm->quiesce_lock);
}

void mm_dma_hold(struct uiommu_mm *mm)
{
	atomic_store_explicit(&mm->gate_held, 1, memory_order_seq_cst);
	atomic_fetch_add_explicit(&mm->st_dma_holds, 1, memory_order_relaxed);
	mm_dma_quiesce(mm);
}

void mm_dma_release(struct uiommu_mm *mm)
{
	pthread_mutex_lock(&mm->gate_lock);
	atomic_store_explicit(&mm->gate_held, 0, memory_order_seq_cst);
	pthread_cond_broadcast(&mm->gate_cond);
	pthread_mutex_unlock(&mm->gate_lock);
}

UIOMMU_EXPORT int uiommu_mm_get_stats(const struct uiommu_mm *mm,
				      struct uiommu_mm_stats *ret_stats)
{
	if (!mm || !ret_stats)
		return -EINVAL;
	memset(ret_stats, 0, sizeof(*ret_stats));
	for (size_t i = 0; i < ARRAY_SIZE(ret_stats->events); i++)
		ret_stats->events[i] = atomic_load_explicit(&mm->st_events[i], memory_order_relaxed);
	for (size_t i = 0; i < UIOMMU_MMU_NOTIFY_NR; i++)
		ret_stats->invalidations[i] =
			atomic_load_explicit(&mm->st_invalidations[i], memory_order_relaxed);
	ret_stats->refused = atomic_load_explicit(&mm->st_refused, memory_order_relaxed);
	ret_stats->dma_holds = atomic_load_explicit(&mm->st_dma_holds, memory_order_relaxed);
	ret_stats->seq = atomic_load_explicit(&mm->invalidate_seq, memory_order_relaxed);
	return 0;
}

/* ---- interval notifiers ---- */

UIOMMU_EXPORT int uiommu_interval_notifier_insert(struct uiommu_mm *mm, uint64_t start,
						  uint64_t length,
						  const struct uiommu_interval_notifier_ops *ops,
						  void *opaque,
						  struct uiommu_interval_notifier **ret_sub)
{
	struct uiommu_interval_notifier *sub;
	uint64_t last;
	int ret;

	if (!mm || !ops || !ops->invalidate || !ret_sub)
		return -EINVAL;
	/* Linux: a zero length or a wrapping range is -EOVERFLOW. */
	if (range_from_len(start, length, &last))
		return -EOVERFLOW;
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
	struct uiommu_mm *mm = sub->mm;
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
	mm_put(mm); /* mmdrop() */
	return 0;
}

UIOMMU_EXPORT void *uiommu_interval_notifier_opaque(const struct uiommu_interval_notifier *sub)
{
	return sub->opaque;
}

UIOMMU_EXPORT uint64_t uiommu_interval_read_begin(struct uiommu_interval_notifier *sub)
{
	struct uiommu_mm *mm = sub->mm;
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
