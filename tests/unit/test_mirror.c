// SPDX-License-Identifier: BSD-3-Clause
/*
 * Mirrors without the kernel's events: the interval notifier contract of
 * Linux mm/mmu_notifier.c (sequence, nesting, deferred insert and remove,
 * non-blockable refusals, release, the deadlock refusals), population as
 * drm_gpusvm_get_pages() (chunks, retries, -EBUSY, -EFAULT, -EPERM,
 * read-only), the binding to a TCE window with fault mode, migration, and
 * fault injection at every allocation. Every error of uiommu/mirror.h that
 * does not need userfaultfd is provoked here; test_mirror_uffd.c does the
 * rest.
 */
#include <pthread.h>
#include <sched.h>
#include <fcntl.h>
#include <sys/mman.h>

#include "test_util.h"

#include "mirror/mirror.h" /* internals: the test hook, the deferred flags */

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define PAGE 4096ULL

/* ---- a recording notifier ---- */

struct rec {
	struct uiommu_interval_notifier *sub;
	unsigned int calls;
	uint64_t last_seq;
	struct uiommu_mmu_range last_range;
	bool refuse;	     /* return false for non-blockable ranges */
	bool refuse_always;  /* return false even for blockable ones */
	struct uiommu_interval_notifier *remove_in_cb; /* try a removal from the callback */
	int remove_ret;
	struct uiommu_mm *free_in_cb; /* try to free the address space from the callback */
	int free_ret;
	pthread_mutex_t lock; /* the "driver lock" */
};

static bool rec_invalidate(struct uiommu_interval_notifier *sub, const struct uiommu_mmu_range *r,
			   uint64_t cur_seq)
{
	struct rec *rec = uiommu_interval_notifier_opaque(sub);

	if (rec->refuse_always || (rec->refuse && !(r->flags & UIOMMU_MMU_RANGE_BLOCKABLE)))
		return false;
	pthread_mutex_lock(&rec->lock);
	uiommu_interval_set_seq(sub, cur_seq);
	rec->calls++;
	rec->last_seq = cur_seq;
	rec->last_range = *r;
	pthread_mutex_unlock(&rec->lock);
	if (rec->remove_in_cb)
		rec->remove_ret = uiommu_interval_notifier_remove(rec->remove_in_cb);
	if (rec->free_in_cb)
		rec->free_ret = uiommu_mm_free(rec->free_in_cb);
	return true;
}

static const struct uiommu_interval_notifier_ops rec_ops = { .invalidate = rec_invalidate };

static void rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
}

static uint64_t mm_seq(struct uiommu_mm *mm)
{
	struct uiommu_mm_stats st;

	assert_int_equal(uiommu_mm_get_stats(mm, &st), 0);
	return st.seq;
}

static struct uiommu_mmu_range range_of(uint64_t start, uint64_t last, bool blockable)
{
	return (struct uiommu_mmu_range){ .start = start, .last = last,
					  .event = UIOMMU_MMU_NOTIFY_CLEAR,
					  .flags = blockable ? UIOMMU_MMU_RANGE_BLOCKABLE : 0 };
}

/* ---- the notifier contract ---- */

static void test_notifier_errors(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_interval_notifier *sub = NULL, *sub2;
	struct uiommu_mm *mm;
	struct rec rec;
	const struct uiommu_interval_notifier_ops no_cb = { 0 };
	struct uiommu_mmu_range bad = range_of(10, 5, true);

	(void)state;
	rec_init(&rec);
	assert_int_equal(uiommu_mm_new(NULL, 0, &mm), -EINVAL);
	assert_int_equal(uiommu_mm_new(ctx, 0, NULL), -EINVAL);
	assert_int_equal(uiommu_mm_new(ctx, 0x80, &mm), -EINVAL);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_ADDRESS_SPACES, 0), 0);
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), -ENOSPC);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_ADDRESS_SPACES, 64), 0);
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);

	assert_int_equal(uiommu_interval_notifier_insert(NULL, 0, 1, &rec_ops, &rec, &sub), -EINVAL);
	assert_int_equal(uiommu_interval_notifier_insert(mm, 0, 1, NULL, &rec, &sub), -EINVAL);
	assert_int_equal(uiommu_interval_notifier_insert(mm, 0, 1, &no_cb, &rec, &sub), -EINVAL);
	assert_int_equal(uiommu_interval_notifier_insert(mm, 0, 1, &rec_ops, &rec, NULL), -EINVAL);
	/* As Linux: a zero length or a wrapping range is -EOVERFLOW. */
	assert_int_equal(uiommu_interval_notifier_insert(mm, 4096, 0, &rec_ops, &rec, &sub),
			 -EOVERFLOW);
	assert_int_equal(uiommu_interval_notifier_insert(mm, UINT64_MAX, 2, &rec_ops, &rec, &sub),
			 -EOVERFLOW);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_NOTIFIERS, 1), 0);
	assert_int_equal(uiommu_interval_notifier_insert(mm, 0, 4096, &rec_ops, &rec, &sub), 0);
	assert_int_equal(uiommu_interval_notifier_insert(mm, 0, 4096, &rec_ops, &rec, &sub2),
			 -ENOSPC);
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_NOTIFIERS), 1);

	assert_int_equal(uiommu_mm_invalidate_range_start(NULL, &bad), -EINVAL);
	assert_int_equal(uiommu_mm_invalidate_range_start(mm, NULL), -EINVAL);
	assert_int_equal(uiommu_mm_invalidate_range_start(mm, &bad), -EINVAL);
	bad = range_of(0, 1, true);
	bad.event = UIOMMU_MMU_NOTIFY_NR;
	assert_int_equal(uiommu_mm_invalidate_range_start(mm, &bad), -EINVAL);
	bad = range_of(0, 1, true);
	bad.flags = 0x10;
	assert_int_equal(uiommu_mm_invalidate_range_start(mm, &bad), -EINVAL);
	assert_int_equal(uiommu_mm_invalidate(NULL, 0, 1, UIOMMU_MMU_NOTIFY_CLEAR), -EINVAL);
	assert_int_equal(uiommu_mm_invalidate(mm, 0, 0, UIOMMU_MMU_NOTIFY_CLEAR), -EINVAL);
	assert_int_equal(uiommu_mm_invalidate(mm, 0, 1, UIOMMU_MMU_NOTIFY_NR), -EINVAL);
	assert_int_equal(uiommu_mm_invalidate(mm, UINT64_MAX, 2, UIOMMU_MMU_NOTIFY_CLEAR),
			 -EOVERFLOW);
	assert_int_equal(uiommu_mm_get_stats(NULL, NULL), -EINVAL);
	assert_int_equal(rec.calls, 0);

	/* Released: insert is -EINVAL, removal still works. */
	assert_int_equal(uiommu_mm_free(mm), 0);
	assert_int_equal(rec.calls, 1);
	assert_int_equal(rec.last_range.event, UIOMMU_MMU_NOTIFY_RELEASE);
	assert_int_equal(rec.last_range.start, 0);
	assert_true(rec.last_range.last == UINT64_MAX);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_NOTIFIERS, 10), 0);
	assert_int_equal(uiommu_interval_notifier_insert(mm, 0, 4096, &rec_ops, &rec, &sub2),
			 -EINVAL);
	assert_int_equal(uiommu_interval_notifier_remove(sub), 0);
	assert_int_equal(uiommu_mm_free(NULL), 0);
	test_ctx_free(ctx);
}

static void test_notifier_seq(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_interval_notifier *a, *b;
	struct uiommu_mm *mm;
	struct rec ra, rb;
	uint64_t seq, s0;
	struct uiommu_mmu_range r;

	(void)state;
	rec_init(&ra);
	rec_init(&rb);
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);
	s0 = mm_seq(mm);
	assert_int_equal(s0, 2); /* Linux starts at 2, even = idle */
	assert_int_equal(uiommu_interval_notifier_insert(mm, 0x10000, 0x10000, &rec_ops, &ra, &a), 0);
	assert_int_equal(uiommu_interval_notifier_insert(mm, 0x30000, 0x1000, &rec_ops, &rb, &b), 0);
	assert_ptr_equal(uiommu_interval_notifier_opaque(a), &ra);

	/* Idle insert: seq - 1, odd and never current; read_begin does not wait. */
	seq = uiommu_interval_read_begin(a);
	assert_int_equal(seq, s0 - 1);
	assert_false(uiommu_interval_read_retry(a, seq));
	assert_false(uiommu_interval_check_retry(a, seq));

	/* An invalidation that misses every interval leaves the sequence even. */
	assert_int_equal(uiommu_mm_invalidate(mm, 0x20000, 0x1000, UIOMMU_MMU_NOTIFY_CLEAR), 0);
	assert_int_equal(mm_seq(mm), s0);
	assert_int_equal(ra.calls + rb.calls, 0);

	/* One that hits: odd while it runs, cur_seq is that odd value, even after. */
	r = range_of(0x1f000, 0x30fff, true);
	assert_int_equal(uiommu_mm_invalidate_range_start(mm, &r), 0);
	assert_int_equal(mm_seq(mm), s0 + 1);
	assert_int_equal(ra.calls, 1);
	assert_int_equal(rb.calls, 1);
	assert_int_equal(ra.last_seq, s0 + 1);
	assert_true(uiommu_interval_read_retry(a, seq));
	assert_true(uiommu_interval_check_retry(a, seq));
	uiommu_mm_invalidate_range_end(mm, &r);
	assert_int_equal(mm_seq(mm), s0 + 2);

	/* read_begin now returns the callback's seq, which is valid until the next hit. */
	seq = uiommu_interval_read_begin(a);
	assert_int_equal(seq, s0 + 1);
	assert_false(uiommu_interval_read_retry(a, seq));
	assert_int_equal(uiommu_mm_invalidate(mm, 0x30000, 1, UIOMMU_MMU_NOTIFY_CLEAR), 0);
	assert_false(uiommu_interval_read_retry(a, seq)); /* only b was hit */
	assert_int_equal(rb.calls, 2);

	/* Nested and parallel: only the last end publishes. */
	{
		struct uiommu_mmu_range r1 = range_of(0x10000, 0x10fff, true);
		struct uiommu_mmu_range r2 = range_of(0x18000, 0x18fff, true);
		uint64_t before = mm_seq(mm);

		assert_int_equal(uiommu_mm_invalidate_range_start(mm, &r1), 0);
		assert_int_equal(uiommu_mm_invalidate_range_start(mm, &r2), 0);
		assert_int_equal(mm_seq(mm), before + 1);
		assert_int_equal(ra.last_seq, before + 1);
		uiommu_mm_invalidate_range_end(mm, &r1);
		assert_int_equal(mm_seq(mm), before + 1); /* still invalidating */
		uiommu_mm_invalidate_range_end(mm, &r2);
		assert_int_equal(mm_seq(mm), before + 2);
	}
	assert_int_equal(uiommu_interval_notifier_remove(a), 0);
	assert_int_equal(uiommu_interval_notifier_remove(b), 0);
	assert_int_equal(uiommu_mm_free(mm), 0);
	test_ctx_free(ctx);
}

static void test_notifier_deferred_insert(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_interval_notifier *a, *b, *c;
	struct uiommu_mm *mm;
	struct rec ra, rb, rc;
	struct uiommu_mmu_range r = range_of(0, 0xffff, true), r2 = range_of(0, 0xffff, true);

	(void)state;
	rec_init(&ra);
	rec_init(&rb);
	rec_init(&rc);
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);
	assert_int_equal(uiommu_interval_notifier_insert(mm, 0, 0x1000, &rec_ops, &ra, &a), 0);
	assert_int_equal(uiommu_mm_invalidate_range_start(mm, &r), 0);

	/* Inserted while invalidating: deferred, and its seq is the current odd one. */
	assert_int_equal(uiommu_interval_notifier_insert(mm, 0x2000, 0x1000, &rec_ops, &rb, &b), 0);
	assert_true(b->on_deferred);
	assert_false(b->in_tree);
	assert_int_equal(atomic_load(&b->invalidate_seq), mm_seq(mm));
	/* A nested invalidation does not see it (the tree is frozen). */
	assert_int_equal(uiommu_mm_invalidate_range_start(mm, &r2), 0);
	assert_int_equal(rb.calls, 0);
	uiommu_mm_invalidate_range_end(mm, &r2);
	/* Inserted then removed before the end: dropped, nothing waits. */
	assert_int_equal(uiommu_interval_notifier_insert(mm, 0x4000, 0x1000, &rec_ops, &rc, &c), 0);
	assert_int_equal(uiommu_interval_notifier_remove(c), 0);
	uiommu_mm_invalidate_range_end(mm, &r);
	assert_true(b->in_tree);
	assert_false(b->on_deferred);
	/* Now read_begin returns at once, and the next invalidation reaches it. */
	assert_false(uiommu_interval_read_retry(b, uiommu_interval_read_begin(b)));
	assert_int_equal(uiommu_mm_invalidate(mm, 0x2000, 1, UIOMMU_MMU_NOTIFY_UNMAP), 0);
	assert_int_equal(rb.calls, 1);
	assert_int_equal(rc.calls, 0);
	assert_int_equal(uiommu_interval_notifier_remove(a), 0);
	assert_int_equal(uiommu_interval_notifier_remove(b), 0);
	assert_int_equal(uiommu_mm_free(mm), 0);
	test_ctx_free(ctx);
}

/*
 * A mirror made while the tree is frozen is a deferred insert: an UNMAP
 * that starts before the last end gives it no callback (as in Linux), yet
 * it must still come out unmapped. With mmap(MAP_FIXED) the range is mapped
 * again by then, and the mirror would otherwise write TCEs for the new
 * mapping after the unmap returned (the race test's "TCE left after munmap").
 * A deferred mirror that only a CLEAR overlapped populates as usual.
 */
static void test_mirror_deferred_unmap(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_mmu_range r;
	struct uiommu_mirror_info info = { 0 };
	struct uiommu_mirror *a, *b, *c;
	struct uiommu_tce_table *tbl;
	struct uiommu_mm *mm;
	unsigned int prot;
	uint64_t hpa, got;
	char *hva;

	(void)state;
	assert_int_equal(uiommu_ram_create(ctx, 1 * MiB, &hpa, (void **)&hva), 0);
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, 1ULL << 30, 2, &tbl), 0);
	assert_int_equal(uiommu_mirror_new(mm, hva, PAGE, 0, &a), 0);
	r = range_of((uintptr_t)hva, (uintptr_t)hva + PAGE - 1, true);
	assert_int_equal(uiommu_mm_invalidate_range_start(mm, &r), 0);

	assert_int_equal(uiommu_mirror_new(mm, hva + PAGE, PAGE, 0, &b), 0);
	assert_int_equal(uiommu_mirror_bind(b, tbl, 0, 0), 0);
	assert_int_equal(uiommu_mirror_new(mm, hva + 2 * PAGE, PAGE, 0, &c), 0);
	assert_int_equal(uiommu_mirror_bind(c, tbl, PAGE, 0), 0);
	assert_int_equal(uiommu_mm_invalidate(mm, (uintptr_t)hva + PAGE, PAGE,
					      UIOMMU_MMU_NOTIFY_UNMAP), 0);
	assert_int_equal(uiommu_mm_invalidate(mm, (uintptr_t)hva + 2 * PAGE, PAGE,
					      UIOMMU_MMU_NOTIFY_CLEAR), 0);
	uiommu_mm_invalidate_range_end(mm, &r);

	assert_int_equal(uiommu_mirror_get_info(b, &info), 0);
	assert_true(info.unmapped);
	assert_int_equal(info.invalidations, 0); /* no callback: it was not in the tree */
	assert_int_equal(uiommu_mirror_populate(b), -EFAULT);
	assert_int_not_equal(uiommu_tce_table_translate(tbl, 0, &got, &prot), 0);

	assert_int_equal(uiommu_mirror_get_info(c, &info), 0);
	assert_false(info.unmapped);
	assert_int_equal(uiommu_mirror_populate(c), 0);
	assert_int_equal(uiommu_tce_table_translate(tbl, PAGE, &got, &prot), 0);
	assert_true(got == hpa + 2 * PAGE);

	assert_int_equal(uiommu_mirror_free(a), 0);
	assert_int_equal(uiommu_mirror_free(b), 0);
	assert_int_equal(uiommu_mirror_free(c), 0);
	assert_int_equal(uiommu_mm_free(mm), 0);
	assert_null(uiommu_tce_table_unref(tbl));
	assert_int_equal(uiommu_ram_remove(ctx, hpa), 0);
	test_ctx_free(ctx);
}

/* A thread that removes a notifier or waits in read_begin, and says when it returned. */
struct waiter {
	struct uiommu_interval_notifier *sub;
	bool remove;
	_Atomic bool done;
	int ret;
	uint64_t seq;
};

static void *waiter_thread(void *arg)
{
	struct waiter *w = arg;

	if (w->remove)
		w->ret = uiommu_interval_notifier_remove(w->sub);
	else
		w->seq = uiommu_interval_read_begin(w->sub);
	atomic_store(&w->done, true);
	return NULL;
}

static bool deferred(struct uiommu_mm *mm, struct uiommu_interval_notifier *sub)
{
	bool d;

	pthread_mutex_lock(&mirror_mm_of(mm)->lock);
	d = sub->on_deferred;
	pthread_mutex_unlock(&mirror_mm_of(mm)->lock);
	return d;
}

static void test_notifier_waits(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_interval_notifier *a, *b;
	struct uiommu_mm *mm;
	struct rec ra, rb;
	struct uiommu_mmu_range r = range_of(0, 0xffff, true);
	struct waiter wr = { 0 }, wb = { 0 };
	pthread_t tr, tb;

	(void)state;
	rec_init(&ra);
	rec_init(&rb);
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);
	assert_int_equal(uiommu_interval_notifier_insert(mm, 0, 0x1000, &rec_ops, &ra, &a), 0);
	assert_int_equal(uiommu_interval_notifier_insert(mm, 0x1000, 0x1000, &rec_ops, &rb, &b), 0);
	assert_int_equal(uiommu_mm_invalidate_range_start(mm, &r), 0);

	/* Remove during the invalidation: deferred, and the caller waits for the end. */
	wr.sub = a;
	wr.remove = true;
	assert_int_equal(pthread_create(&tr, NULL, waiter_thread, &wr), 0);
	/* read_begin of an interval the invalidation hit waits too. */
	wb.sub = b;
	assert_int_equal(pthread_create(&tb, NULL, waiter_thread, &wb), 0);
	/*
	 * No bound on this wait: a loaded machine may start the thread late
	 * (a bounded spin failed once in CI under ASan). A library that never
	 * defers the remove hangs here, and the test's timeout reports it.
	 */
	while (!deferred(mm, a))
		sched_yield();
	for (int i = 0; i < 1000; i++)
		sched_yield();
	assert_false(atomic_load(&wr.done));
	assert_false(atomic_load(&wb.done));
	uiommu_mm_invalidate_range_end(mm, &r);
	pthread_join(tr, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(wr.ret, 0);
	assert_int_equal(wb.seq, rb.last_seq);
	/* The removed notifier gets no more callbacks. */
	assert_int_equal(uiommu_mm_invalidate(mm, 0, 0x10000, UIOMMU_MMU_NOTIFY_CLEAR), 0);
	assert_int_equal(ra.calls, 1);
	assert_int_equal(rb.calls, 2);
	assert_int_equal(uiommu_interval_notifier_remove(b), 0);
	assert_int_equal(uiommu_mm_free(mm), 0);
	test_ctx_free(ctx);
}

static void test_notifier_nonblockable(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_interval_notifier *a;
	struct uiommu_mm *mm;
	struct uiommu_mm_stats st;
	struct rec ra;
	struct uiommu_mmu_range r = range_of(0, 0xfff, false);
	uint64_t s0;

	(void)state;
	rec_init(&ra);
	ra.refuse = true;
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);
	assert_int_equal(uiommu_interval_notifier_insert(mm, 0, 0x1000, &rec_ops, &ra, &a), 0);
	s0 = mm_seq(mm);
	/* Refused: -EAGAIN, undone (even again, seq moved on), the caller calls no end. */
	assert_int_equal(uiommu_mm_invalidate_range_start(mm, &r), -EAGAIN);
	assert_int_equal(mm_seq(mm), s0 + 2);
	assert_int_equal(uiommu_mm_get_stats(mm, &st), 0);
	assert_int_equal(st.refused, 1);
	assert_int_equal(ra.calls, 0);
	/* Blockable: a refusal is not allowed; it is logged and treated as done. */
	ra.refuse_always = true;
	assert_int_equal(uiommu_mm_invalidate(mm, 0, 0x1000, UIOMMU_MMU_NOTIFY_CLEAR), 0);
	assert_int_equal(mm_seq(mm), s0 + 4);
	ra.refuse_always = false;
	r.flags = UIOMMU_MMU_RANGE_BLOCKABLE;
	assert_int_equal(uiommu_mm_invalidate_range_start(mm, &r), 0);
	uiommu_mm_invalidate_range_end(mm, &r);
	assert_int_equal(ra.calls, 1);
	assert_int_equal(uiommu_interval_notifier_remove(a), 0);
	assert_int_equal(uiommu_mm_free(mm), 0);
	test_ctx_free(ctx);
}

static void test_notifier_deadlock_refusals(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_interval_notifier *a, *b;
	struct uiommu_mm *mm;
	struct rec ra, rb;

	(void)state;
	rec_init(&ra);
	rec_init(&rb);
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);
	assert_int_equal(uiommu_interval_notifier_insert(mm, 0, 0x1000, &rec_ops, &ra, &a), 0);
	assert_int_equal(uiommu_interval_notifier_insert(mm, 0x1000, 0x1000, &rec_ops, &rb, &b), 0);
	/* Removal from a callback of the same address space would wait for itself. */
	ra.remove_in_cb = b;
	assert_int_equal(uiommu_mm_invalidate(mm, 0, 0x1000, UIOMMU_MMU_NOTIFY_CLEAR), 0);
	assert_int_equal(ra.remove_ret, -EDEADLK);
	ra.remove_in_cb = NULL;
	/* So would freeing the address space. */
	ra.free_in_cb = mm;
	assert_int_equal(uiommu_mm_invalidate(mm, 0, 0x1000, UIOMMU_MMU_NOTIFY_CLEAR), 0);
	assert_int_equal(ra.free_ret, -EDEADLK);
	ra.free_in_cb = NULL;
	assert_int_equal(uiommu_interval_notifier_remove(b), 0);
	assert_int_equal(uiommu_interval_notifier_remove(a), 0);
	assert_int_equal(uiommu_mm_free(mm), 0);
	test_ctx_free(ctx);
}

/* ---- mirrors over real memory ---- */

static struct uiommu_mirror_info minfo(struct uiommu_mirror *m)
{
	struct uiommu_mirror_info i;

	assert_int_equal(uiommu_mirror_get_info(m, &i), 0);
	return i;
}

static void test_mirror_region(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	const struct uiommu_mirror_addr *addrs;
	struct uiommu_mirror *m;
	struct uiommu_mm *mm;
	uint64_t hpa, seq;
	size_t n;
	char *hva;

	(void)state;
	assert_int_equal(uiommu_ram_create(ctx, 1 * MiB, &hpa, (void **)&hva), 0);
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);

	assert_int_equal(uiommu_mirror_new(NULL, hva, PAGE, 0, &m), -EINVAL);
	assert_int_equal(uiommu_mirror_new(mm, hva + 1, PAGE, 0, &m), -EINVAL);
	assert_int_equal(uiommu_mirror_new(mm, hva, 100, 0, &m), -EINVAL);
	assert_int_equal(uiommu_mirror_new(mm, hva, 0, 0, &m), -EINVAL);
	assert_int_equal(uiommu_mirror_new(mm, hva, PAGE, 0x10, &m), -EINVAL);
	assert_int_equal(uiommu_mirror_new(mm, hva, PAGE, 0, NULL), -EINVAL);
	assert_int_equal(uiommu_mirror_new(mm, (void *)(uintptr_t)(UINT64_MAX - PAGE + 1), 2 * PAGE,
					   0, &m), -EOVERFLOW);
	assert_int_equal(uiommu_mirror_populate(NULL), -EINVAL);

	assert_int_equal(uiommu_mirror_new(mm, hva + 16 * KiB, 64 * KiB, 0, &m), 0);
	assert_false(uiommu_mirror_valid(m));
	uiommu_mirror_read_lock(m);
	assert_int_equal(uiommu_mirror_addrs(m, &addrs, &n), -EAGAIN);
	assert_int_equal(uiommu_mirror_addrs(NULL, &addrs, &n), -EINVAL);
	uiommu_mirror_read_unlock(m);
	assert_int_equal(uiommu_mirror_populate(m), 0);
	assert_true(uiommu_mirror_valid(m));
	uiommu_mirror_read_lock(m);
	assert_int_equal(uiommu_mirror_addrs(m, &addrs, &n), 0);
	/* A region mapping is 4 KiB pages: one chunk per page, hpa = region hpa + offset. */
	assert_int_equal(n, 16);
	for (size_t i = 0; i < n; i++) {
		assert_true(addrs[i].addr == hpa + 16 * KiB + i * PAGE);
		assert_int_equal(addrs[i].order, 0);
		assert_int_equal(addrs[i].dir, UIOMMU_DMA_BIDIRECTIONAL);
		assert_int_equal(addrs[i].proto, UIOMMU_MIRROR_ADDR_HPA);
	}
	/* Read and write through the mirror: the device's view is the CPU's. */
	{
		void *dev;

		memset(hva + 16 * KiB, 0x5a, PAGE);
		assert_int_equal(uiommu_hpa_to_hva(ctx, addrs[0].addr, PAGE, &dev), 0);
		assert_int_equal(((unsigned char *)dev)[100], 0x5a);
		memset(dev, 0xa5, 16);
		assert_int_equal((unsigned char)hva[16 * KiB + 3], 0xa5);
	}
	/* The driver lock is held: populate and free refuse. */
	assert_int_equal(uiommu_mirror_populate(m), -EDEADLK);
	assert_int_equal(uiommu_mirror_free(m), -EDEADLK);
	uiommu_mirror_read_unlock(m);

	/* Fast path: a second populate commits nothing new. */
	seq = minfo(m).notifier_seq;
	assert_int_equal(uiommu_mirror_populate(m), 0);
	assert_int_equal(minfo(m).populates, 1);
	assert_int_equal(minfo(m).notifier_seq, seq);

	/* An invalidation elsewhere does nothing; one inside makes it invalid. */
	assert_int_equal(uiommu_mm_invalidate(mm, (uintptr_t)hva, 16 * KiB, UIOMMU_MMU_NOTIFY_CLEAR), 0);
	assert_true(uiommu_mirror_valid(m));
	assert_int_equal(uiommu_mm_invalidate(mm, (uintptr_t)hva + 20 * KiB, 1,
					      UIOMMU_MMU_NOTIFY_PROTECTION_VMA), 0);
	assert_false(uiommu_mirror_valid(m));
	assert_int_equal(minfo(m).invalidations, 1);
	assert_int_equal(minfo(m).nchunks, 0);
	assert_int_equal(uiommu_mirror_populate(m), 0);
	assert_int_equal(minfo(m).populates, 2);
	/* UNMAP: the range is gone for good (drm_gpusvm's unmapped flag). */
	assert_int_equal(uiommu_mm_invalidate(mm, (uintptr_t)hva + 16 * KiB, PAGE,
					      UIOMMU_MMU_NOTIFY_UNMAP), 0);
	assert_true(minfo(m).unmapped);
	assert_int_equal(uiommu_mirror_populate(m), -EFAULT);
	assert_int_equal(uiommu_mirror_get_info(NULL, NULL), -EINVAL);

	assert_int_equal(uiommu_mirror_free(m), 0);
	assert_int_equal(uiommu_mirror_free(NULL), 0);
	assert_int_equal(uiommu_mm_free(mm), 0);
	assert_int_equal(uiommu_ram_remove(ctx, hpa), 0);
	test_ctx_free(ctx);
}

static void test_mirror_hostmem_chunks(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	const struct uiommu_mirror_addr *addrs;
	struct uiommu_mirror *m;
	struct uiommu_mm *mm;
	uint64_t hpa0, hpa1;
	size_t n;
	char *buf;

	(void)state;
	assert_int_equal(uiommu_hostmem_alloc(ctx, 4 * MiB, 21, UIOMMU_HOSTMEM_SCATTER,
					      (void **)&buf), 0);
	assert_int_equal(uiommu_hva_to_hpa(ctx, buf, &hpa0), 0);
	assert_int_equal(uiommu_hva_to_hpa(ctx, buf + 2 * MiB, &hpa1), 0);
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);

	/* Two whole 2 MiB pages: two chunks of order 9. */
	assert_int_equal(uiommu_mirror_new(mm, buf, 4 * MiB, 0, &m), 0);
	assert_int_equal(uiommu_mirror_populate(m), 0);
	uiommu_mirror_read_lock(m);
	assert_int_equal(uiommu_mirror_addrs(m, &addrs, &n), 0);
	assert_int_equal(n, 2);
	assert_true(addrs[0].addr == hpa0 && addrs[0].order == 9);
	assert_true(addrs[1].addr == hpa1 && addrs[1].order == 9);
	uiommu_mirror_read_unlock(m);
	assert_int_equal(uiommu_mirror_free(m), 0);

	/*
	 * [1 MiB + 4 KiB, 3 MiB): clamped to natural alignment and to the range:
	 * orders 0,1,2,...,7 up to 2 MiB, then 8 (1 MiB) in the second page.
	 */
	assert_int_equal(uiommu_mirror_new(mm, buf + 1 * MiB + PAGE, 2 * MiB - PAGE, 0, &m), 0);
	assert_int_equal(uiommu_mirror_populate(m), 0);
	uiommu_mirror_read_lock(m);
	assert_int_equal(uiommu_mirror_addrs(m, &addrs, &n), 0);
	{
		uint64_t off = 1 * MiB + PAGE, total = 0;

		for (size_t i = 0; i < n; i++) {
			uint64_t len = PAGE << addrs[i].order;
			uint64_t want = off < 2 * MiB ? hpa0 + off : hpa1 + (off - 2 * MiB);

			assert_true(addrs[i].addr == want);
			assert_true((off & (len - 1)) == 0); /* natural alignment */
			off += len;
			total += len;
		}
		assert_true(total == 2 * MiB - PAGE);
		assert_int_equal(addrs[n - 1].order, 8);
	}
	uiommu_mirror_read_unlock(m);
	assert_int_equal(uiommu_mirror_free(m), 0);
	assert_int_equal(uiommu_mm_free(mm), 0);
	assert_int_equal(uiommu_hostmem_free(ctx, buf), 0);
	test_ctx_free(ctx);
}

/* Another mapping of a region's file (a process's own view of shared memory). */
static void test_mirror_memfd_other_mapping(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	const struct uiommu_mirror_addr *addrs;
	struct uiommu_mirror *m;
	struct uiommu_mm *mm;
	uint64_t hpa;
	size_t n;
	char *ua;
	int fd;

	(void)state;
	fd = memfd_create("mirror-test", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 * MiB), 0);
	assert_int_equal(uiommu_ram_add(ctx, fd, 0, 1 * MiB, NULL, &hpa), 0);
	ua = mmap(NULL, 1 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(ua != MAP_FAILED);
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);
	assert_int_equal(uiommu_mirror_new(mm, ua + 8 * PAGE, 4 * PAGE, 0, &m), 0);
	assert_int_equal(uiommu_mirror_populate(m), 0);
	uiommu_mirror_read_lock(m);
	assert_int_equal(uiommu_mirror_addrs(m, &addrs, &n), 0);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++)
		assert_true(addrs[i].addr == hpa + (8 + i) * PAGE);
	uiommu_mirror_read_unlock(m);
	assert_int_equal(uiommu_mirror_free(m), 0);
	assert_int_equal(uiommu_mm_free(mm), 0);
	munmap(ua, 1 * MiB);
	assert_int_equal(uiommu_ram_remove(ctx, hpa), 0);
	close(fd);
	test_ctx_free(ctx);
}

static uint64_t pagemap_phys(const void *p)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &e, 8, (off_t)(((uintptr_t)p >> 12) * 8)), 8);
	close(fd);
	return (e >> 63) ? (e & ((1ULL << 55) - 1)) << 12 : 0;
}

static void test_mirror_anonymous_readonly(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	const struct uiommu_mirror_addr *addrs;
	struct uiommu_mirror *m;
	struct uiommu_mm *mm;
	size_t n;
	char *anon, *ro;

	(void)state;
	anon = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(anon != MAP_FAILED && ro != MAP_FAILED);
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);

	/* Anonymous memory: faulted in, the kernel's physical address (pagemap). */
	assert_int_equal(uiommu_mirror_new(mm, anon, 8 * PAGE, 0, &m), 0);
	assert_int_equal(uiommu_mirror_populate(m), 0);
	uiommu_mirror_read_lock(m);
	assert_int_equal(uiommu_mirror_addrs(m, &addrs, &n), 0);
	{
		uint64_t off = 0;

		for (size_t i = 0; i < n; i++) {
			assert_int_equal(addrs[i].proto, UIOMMU_MIRROR_ADDR_PHYS);
			assert_true(addrs[i].addr == pagemap_phys(anon + off));
			off += PAGE << addrs[i].order;
		}
		assert_true(off == 8 * PAGE);
	}
	uiommu_mirror_read_unlock(m);
	assert_int_equal(uiommu_mirror_free(m), 0);

	/* Read-only memory: a writable mirror is -EPERM, a read-only one is TO_DEVICE. */
	assert_int_equal(uiommu_mirror_new(mm, ro, 4 * PAGE, 0, &m), 0);
	assert_int_equal(uiommu_mirror_populate(m), -EPERM);
	assert_int_equal(uiommu_mirror_free(m), 0);
	assert_int_equal(uiommu_mirror_new(mm, ro, 4 * PAGE, UIOMMU_MIRROR_READ_ONLY, &m), 0);
	assert_int_equal(uiommu_mirror_populate(m), 0);
	uiommu_mirror_read_lock(m);
	assert_int_equal(uiommu_mirror_addrs(m, &addrs, &n), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(addrs[i].dir, UIOMMU_DMA_TO_DEVICE);
	uiommu_mirror_read_unlock(m);
	assert_int_equal(uiommu_mirror_free(m), 0);

	/* A hole: -EFAULT. */
	munmap(anon + 2 * PAGE, PAGE);
	assert_int_equal(uiommu_mirror_new(mm, anon, 8 * PAGE, 0, &m), 0);
	assert_int_equal(uiommu_mirror_populate(m), -EFAULT);
	assert_int_equal(uiommu_mirror_free(m), 0);

	assert_int_equal(uiommu_mm_free(mm), 0);
	munmap(anon, 8 * PAGE);
	munmap(ro, 4 * PAGE);
	test_ctx_free(ctx);
}

/*
 * Huge pages: a transparent huge page of anonymous memory is one 2 MiB
 * chunk of the kernel's frames; a hugetlbfs RAM region is one 2 MiB chunk
 * of hpas. Each part skips where the machine gives no huge page.
 */
static void test_mirror_huge_pages(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	const struct uiommu_mirror_addr *addrs;
	struct uiommu_mirror *m;
	struct uiommu_mm *mm;
	bool thp = false, hugetlb = false;
	size_t n;
	char *raw, *p;
	int fd;

	(void)state;
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);

	raw = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(raw != MAP_FAILED);
	p = (char *)(((uintptr_t)raw + 2 * MiB - 1) & ~(uintptr_t)(2 * MiB - 1));
	madvise(p, 2 * MiB, MADV_HUGEPAGE);
	assert_int_equal(uiommu_mirror_new(mm, p, 2 * MiB, 0, &m), 0);
	assert_int_equal(uiommu_mirror_populate(m), 0);
	uiommu_mirror_read_lock(m);
	assert_int_equal(uiommu_mirror_addrs(m, &addrs, &n), 0);
	{
		uint64_t off = 0;

		for (size_t i = 0; i < n; i++) {
			assert_true(addrs[i].addr == pagemap_phys(p + off));
			off += PAGE << addrs[i].order;
		}
		assert_true(off == 2 * MiB);
		thp = n == 1 && addrs[0].order == 9;
	}
	uiommu_mirror_read_unlock(m);
	assert_int_equal(uiommu_mirror_free(m), 0);
	munmap(raw, 4 * MiB);

	fd = memfd_create("mirror-huge", MFD_CLOEXEC | MFD_HUGETLB);
	if (fd >= 0 && !ftruncate(fd, 2 * MiB)) {
		uint64_t hpa;
		void *ua = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);

		if (ua != MAP_FAILED && !uiommu_ram_add(ctx, fd, 0, 2 * MiB, NULL, &hpa)) {
			unsigned int shift;
			void *lib;

			assert_int_equal(uiommu_hpa_to_hva(ctx, hpa, 2 * MiB, &lib), 0);
			assert_int_equal(uiommu_hostmem_page_shift(ctx, lib, &shift), 0);
			assert_int_equal(shift, 21);
			assert_int_equal(uiommu_mirror_new(mm, ua, 2 * MiB, 0, &m), 0);
			assert_int_equal(uiommu_mirror_populate(m), 0);
			uiommu_mirror_read_lock(m);
			assert_int_equal(uiommu_mirror_addrs(m, &addrs, &n), 0);
			assert_int_equal(n, 1);
			assert_true(addrs[0].addr == hpa && addrs[0].order == 9);
			uiommu_mirror_read_unlock(m);
			assert_int_equal(uiommu_mirror_free(m), 0);
			assert_int_equal(uiommu_ram_remove(ctx, hpa), 0);
			hugetlb = true;
		}
		if (ua != MAP_FAILED)
			munmap(ua, 2 * MiB);
	}
	if (fd >= 0)
		close(fd);
	assert_int_equal(uiommu_mm_free(mm), 0);
	test_ctx_free(ctx);
	if (!thp || !hugetlb)
		fprintf(stderr, "huge pages: transparent %s, hugetlbfs %s\n",
			thp ? "tested" : "not given by this machine (checked as 4 KiB chunks)",
			hugetlb ? "tested" : "not available (no reserved huge pages): skipped");
}

/* The retry path, exactly: invalidate between the fault and the commit. */
struct inject {
	struct uiommu_mm *mm;
	uint64_t ua;
	int times; /* -1: always */
	int done;
};

static void inject_hook(void *opaque, struct uiommu_mirror *m)
{
	struct inject *in = opaque;

	(void)m;
	if (in->times < 0 || in->done < in->times) {
		in->done++;
		assert_int_equal(uiommu_mm_invalidate(in->mm, in->ua, PAGE,
						      UIOMMU_MMU_NOTIFY_CLEAR), 0);
	}
}

static void test_mirror_retry_and_busy(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_mirror *m;
	struct uiommu_mm *mm;
	struct inject in = { 0 };
	uint64_t hpa;
	char *hva;

	(void)state;
	assert_int_equal(uiommu_ram_create(ctx, 64 * KiB, &hpa, (void **)&hva), 0);
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);
	assert_int_equal(uiommu_mirror_new(mm, hva, 64 * KiB, 0, &m), 0);
	in.mm = mm;
	in.ua = (uintptr_t)hva;
	in.times = 3;
	mirror_mm_of(mm)->test_populate_opaque = &in;
	mirror_mm_of(mm)->test_populate_hook = inject_hook;
	/* Three invalidations race the population: three retries, then it commits. */
	assert_int_equal(uiommu_mirror_populate(m), 0);
	assert_int_equal(minfo(m).retries, 3);
	assert_int_equal(minfo(m).populates, 1);
	assert_true(uiommu_mirror_valid(m));

	/* Continuous invalidation: -EBUSY after the limit (here 20 ms, 0 ms). */
	in.times = -1;
	assert_int_equal(uiommu_mm_invalidate(mm, in.ua, PAGE, UIOMMU_MMU_NOTIFY_CLEAR), 0);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_MIRROR_BUSY_MS, 20), 0);
	assert_int_equal(uiommu_mirror_populate(m), -EBUSY);
	assert_true(minfo(m).retries > 4);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_MIRROR_BUSY_MS, 0), 0);
	assert_int_equal(uiommu_mirror_populate(m), -EBUSY);
	mirror_mm_of(mm)->test_populate_hook = NULL;
	assert_int_equal(uiommu_mirror_populate(m), 0);
	assert_int_equal(uiommu_mirror_free(m), 0);
	assert_int_equal(uiommu_mm_free(mm), 0);
	assert_int_equal(uiommu_ram_remove(ctx, hpa), 0);
	test_ctx_free(ctx);
}

static void test_mirror_release(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_mirror *m;
	struct uiommu_mm *mm;
	uint64_t hpa;
	char *hva;

	(void)state;
	assert_int_equal(uiommu_ram_create(ctx, 64 * KiB, &hpa, (void **)&hva), 0);
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);
	assert_int_equal(uiommu_mirror_new(mm, hva, 64 * KiB, 0, &m), 0);
	assert_int_equal(uiommu_mirror_populate(m), 0);
	/* The address space goes away: RELEASE, the mirror is unmapped and stays usable to free. */
	assert_int_equal(uiommu_mm_free(mm), 0);
	assert_false(uiommu_mirror_valid(m));
	assert_true(minfo(m).unmapped);
	assert_int_equal(uiommu_mirror_populate(m), -EFAULT);
	assert_int_equal(uiommu_mirror_free(m), 0);
	assert_int_equal(uiommu_ram_remove(ctx, hpa), 0);
	test_ctx_free(ctx);
}

/* ---- the device side: a TCE window ---- */

/* What a device does: translate through the window, then reach the hpa. */
static int dev_read(struct uiommu_ctx *ctx, struct uiommu_mm *mm, struct uiommu_tce_table *tbl,
		    uint64_t ioba, void *buf, size_t len)
{
	unsigned int prot;
	uiommu_mm_dma_begin(mm);
	uint64_t hpa;
	void *p;
	int ret = uiommu_tce_table_translate(tbl, ioba, &hpa, &prot);

	if (!ret)
		ret = uiommu_hpa_to_hva(ctx, hpa, len, &p);
	if (!ret)
		memcpy(buf, p, len);
	uiommu_mm_dma_end(mm);
	return ret;
}

static void test_mirror_bind(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_tce_table *tbl, *tbl64;
	struct uiommu_mirror *m, *ro;
	struct uiommu_mm *mm;
	const uint64_t ioba = 0x100000;
	uint64_t hpa, tce, ro_off;
	char *hva, buf[16];

	(void)state;
	assert_int_equal(uiommu_ram_create(ctx, 1 * MiB, &hpa, (void **)&hva), 0);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, 1ULL << 30, 2, &tbl), 0);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 16, 1ULL << 30, 2, &tbl64), 0);
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);
	assert_int_equal(uiommu_mirror_new(mm, hva, 64 * KiB, 0, &m), 0);

	assert_int_equal(uiommu_mirror_bind(NULL, tbl, ioba, 0), -EINVAL);
	assert_int_equal(uiommu_mirror_bind(m, NULL, ioba, 0), -EINVAL);
	assert_int_equal(uiommu_mirror_bind(m, tbl, ioba, 0x8), -EINVAL);
	assert_int_equal(uiommu_mirror_bind(m, tbl, ioba + 1, 0), -EINVAL);
	assert_int_equal(uiommu_mirror_bind(m, tbl, (1ULL << 30) - PAGE, 0), -EINVAL);
	assert_int_equal(uiommu_mirror_unbind(m), -ENOENT);
	assert_int_equal(uiommu_mirror_unbind(NULL), -EINVAL);
	assert_int_equal(uiommu_mirror_bind(m, tbl, ioba, 0), 0);
	assert_int_equal(uiommu_mirror_bind(m, tbl, ioba, 0), -EBUSY);

	/* Population writes the TCEs. */
	assert_int_equal(uiommu_mirror_populate(m), 0);
	for (uint64_t i = 0; i < 16; i++) {
		assert_int_equal(uiommu_tce_table_get(tbl, (ioba >> 12) + i, &tce), 0);
		assert_true(tce == ((hpa + i * PAGE) | UIOMMU_TCE_READ | UIOMMU_TCE_WRITE));
	}
	strcpy(hva + 3 * PAGE, "mirrored");
	assert_int_equal(dev_read(ctx, mm, tbl, ioba + 3 * PAGE, buf, 9), 0);
	assert_string_equal(buf, "mirrored");

	/* An invalidation clears them before it returns; without fault mode the DMA faults. */
	assert_int_equal(uiommu_mm_invalidate(mm, (uintptr_t)hva + PAGE, PAGE,
					      UIOMMU_MMU_NOTIFY_CLEAR), 0);
	for (uint64_t i = 0; i < 16; i++) {
		assert_int_equal(uiommu_tce_table_get(tbl, (ioba >> 12) + i, &tce), 0);
		assert_true(tce == 0);
	}
	assert_int_equal(dev_read(ctx, mm, tbl, ioba + 3 * PAGE, buf, 9), -EFAULT);
	assert_int_equal(uiommu_mm_handle_fault(mm, tbl, ioba + 3 * PAGE), -EFAULT);
	assert_int_equal(uiommu_mm_handle_fault(NULL, tbl, ioba), -EINVAL);
	uiommu_mirror_read_lock(m);
	assert_int_equal(uiommu_mm_handle_fault(mm, tbl, ioba), -EDEADLK);
	uiommu_mirror_read_unlock(m);
	{
		struct uiommu_ctx *other = test_ctx_new();
		struct uiommu_tce_table *otbl;

		assert_int_equal(uiommu_tce_table_new(other, 0, 12, 1ULL << 30, 2, &otbl), 0);
		assert_int_equal(uiommu_mirror_unbind(m), 0);
		assert_int_equal(uiommu_mirror_bind(m, otbl, ioba, 0), -EINVAL); /* another context */
		assert_int_equal(uiommu_mirror_bind(m, tbl, ioba, 0), 0);
		assert_null(uiommu_tce_table_unref(otbl));
		test_ctx_free(other);
	}

	/* Fault mode: the fault repopulates, the retried DMA succeeds. */
	assert_int_equal(uiommu_mirror_unbind(m), 0);
	assert_int_equal(uiommu_mirror_bind(m, tbl, ioba, UIOMMU_MIRROR_BIND_FAULT), 0);
	assert_int_equal(dev_read(ctx, mm, tbl, ioba + 3 * PAGE, buf, 9), -EFAULT);
	assert_int_equal(uiommu_mm_handle_fault(mm, tbl, ioba + 3 * PAGE), 0);
	assert_int_equal(dev_read(ctx, mm, tbl, ioba + 3 * PAGE, buf, 9), 0);
	assert_string_equal(buf, "mirrored");
	assert_int_equal(uiommu_mm_handle_fault(mm, tbl, ioba + 64 * KiB), -EFAULT);

	/*
	 * A fault handler runs inside the faulting DMA. Its population may race
	 * an invalidation whose callback waits for the DMAs in flight: the
	 * handler steps out of this thread's access, or it would wait for itself.
	 */
	{
		struct inject in = { .mm = mm, .ua = (uintptr_t)hva + 256 * KiB, .times = 1 };
		struct uiommu_mirror *m2;

		/* m2: bound and valid, so that its invalidation waits for DMAs in flight. */
		assert_int_equal(uiommu_mirror_new(mm, hva + 256 * KiB, 16 * KiB, 0, &m2), 0);
		assert_int_equal(uiommu_mirror_bind(m2, tbl, 0x300000, 0), 0);
		assert_int_equal(uiommu_mirror_populate(m2), 0);
		assert_int_equal(uiommu_mm_invalidate(mm, (uintptr_t)hva, PAGE,
						      UIOMMU_MMU_NOTIFY_CLEAR), 0);
		mirror_mm_of(mm)->test_populate_opaque = &in;
		mirror_mm_of(mm)->test_populate_hook = inject_hook;
		uiommu_mm_dma_begin(mm);
		assert_int_equal(uiommu_mm_handle_fault(mm, tbl, ioba + 3 * PAGE), 0);
		uiommu_mm_dma_end(mm);
		mirror_mm_of(mm)->test_populate_hook = NULL;
		assert_int_equal(in.done, 1);
		assert_false(uiommu_mirror_valid(m2));
		assert_int_equal(dev_read(ctx, mm, tbl, ioba + 3 * PAGE, buf, 9), 0);
		assert_int_equal(uiommu_mirror_free(m2), 0);
	}

	/* 64 KiB IOMMU pages over 4 KiB region pages: refused at populate. */
	ro_off = 128 * KiB + ((64 * KiB - ((uintptr_t)hva & (64 * KiB - 1))) & (64 * KiB - 1));
	assert_int_equal(uiommu_mirror_new(mm, hva + ro_off, 64 * KiB, UIOMMU_MIRROR_READ_ONLY,
					   &ro), 0);
	assert_int_equal(uiommu_mirror_bind(ro, tbl64, 0, 0), 0);
	assert_int_equal(uiommu_mirror_populate(ro), -EFAULT);
	assert_int_equal(uiommu_mirror_unbind(ro), 0);
	/* Over 64 KiB hostmem pages they fit: one TCE per page. */
	{
		struct uiommu_mirror *big;
		uint64_t bhpa;
		char *b;

		assert_int_equal(uiommu_hostmem_alloc(ctx, 256 * KiB, 16, UIOMMU_HOSTMEM_SCATTER,
						      (void **)&b), 0);
		assert_int_equal(uiommu_mirror_new(mm, b, 256 * KiB, 0, &big), 0);
		assert_int_equal(uiommu_mirror_bind(big, tbl64, 0x40000, 0), 0);
		assert_int_equal(uiommu_mirror_populate(big), 0);
		for (uint64_t i = 0; i < 4; i++) {
			assert_int_equal(uiommu_hva_to_hpa(ctx, b + i * 64 * KiB, &bhpa), 0);
			assert_int_equal(uiommu_tce_table_get(tbl64, 4 + i, &tce), 0);
			assert_true(tce == (bhpa | UIOMMU_TCE_READ | UIOMMU_TCE_WRITE));
		}
		assert_int_equal(uiommu_mirror_free(big), 0);
		assert_int_equal(uiommu_hostmem_free(ctx, b), 0);
	}
	/* Read-only: TCEs grant reads only. */
	assert_int_equal(uiommu_mirror_bind(ro, tbl, 0x200000, 0), 0);
	assert_int_equal(uiommu_mirror_populate(ro), 0);
	assert_int_equal(uiommu_tce_table_get(tbl, 0x200, &tce), 0);
	assert_true(tce == ((hpa + ro_off) | UIOMMU_TCE_READ));
	/* Free clears the TCEs and drops the table. */
	assert_int_equal(uiommu_mirror_free(ro), 0);
	assert_int_equal(uiommu_tce_table_get(tbl, 0x200, &tce), 0);
	assert_true(tce == 0);

	assert_int_equal(uiommu_mirror_free(m), 0);
	assert_int_equal(uiommu_tce_table_get(tbl, (ioba >> 12) + 3, &tce), 0);
	assert_true(tce == 0);
	assert_int_equal(uiommu_mm_free(mm), 0);
	assert_null(uiommu_tce_table_unref(tbl));
	assert_null(uiommu_tce_table_unref(tbl64));
	assert_int_equal(uiommu_ram_remove(ctx, hpa), 0);
	test_ctx_free(ctx);
}

/* ---- migration ---- */

static void test_mirror_migrate(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_tce_table *tbl;
	struct uiommu_mirror *m;
	struct uiommu_mm *mm;
	struct uiommu_mm_stats st;
	uint64_t hpa, new_hpa, newer, got, tce, lib;
	char *hva, buf[8];
	void *p;

	(void)state;
	assert_int_equal(uiommu_ram_create(ctx, 1 * MiB, &hpa, (void **)&hva), 0);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, 1ULL << 30, 2, &tbl), 0);
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);
	assert_int_equal(uiommu_mirror_new(mm, hva, 64 * KiB, 0, &m), 0);
	assert_int_equal(uiommu_mirror_bind(m, tbl, 0, UIOMMU_MIRROR_BIND_FAULT), 0);
	assert_int_equal(uiommu_mirror_populate(m), 0);
	strcpy(hva + 2 * PAGE, "page");

	assert_int_equal(uiommu_ram_migrate(ctx, hpa + 2 * PAGE, NULL), -EINVAL);
	assert_int_equal(uiommu_ram_migrate(ctx, hpa + 1, &new_hpa), -EINVAL);
	assert_int_equal(uiommu_ram_migrate(ctx, 0x1000, &new_hpa), -EFAULT);
	assert_int_equal(uiommu_frames_alloc(ctx, 0, &lib), 0);
	assert_int_equal(uiommu_ram_migrate(ctx, lib, &new_hpa), -EFAULT);
	assert_int_equal(uiommu_frames_free(ctx, lib, 0), 0);

	/* MIGRATE: the mirror is invalidated first, the TCEs are gone, the old hpa faults. */
	assert_int_equal(uiommu_ram_migrate(ctx, hpa + 2 * PAGE, &new_hpa), 0);
	assert_true(new_hpa != hpa + 2 * PAGE);
	assert_int_equal(uiommu_mm_get_stats(mm, &st), 0);
	assert_int_equal(st.invalidations[UIOMMU_MMU_NOTIFY_MIGRATE], 1);
	assert_false(uiommu_mirror_valid(m));
	assert_int_equal(uiommu_tce_table_get(tbl, 2, &tce), 0);
	assert_true(tce == 0);
	assert_int_equal(uiommu_hpa_to_hva(ctx, hpa + 2 * PAGE, 1, &p), -EFAULT);
	assert_int_equal(uiommu_hpa_to_hva(ctx, hpa + PAGE, 2 * PAGE, &p), -EFAULT);
	assert_int_equal(uiommu_hpa_to_hva(ctx, hpa + 3 * PAGE, PAGE, &p), 0);
	assert_int_equal(uiommu_ram_migrate(ctx, hpa + 2 * PAGE, &newer), -EFAULT);
	/* The CPU sees the same bytes; the new hpa reaches them. */
	assert_int_equal(uiommu_hva_to_hpa(ctx, hva + 2 * PAGE + 5, &got), 0);
	assert_true(got == new_hpa + 5);
	assert_int_equal(uiommu_hpa_to_hva(ctx, new_hpa, 5, &p), 0);
	assert_memory_equal(p, "page", 5);
	assert_int_equal(uiommu_hpa_to_hva(ctx, new_hpa, PAGE + 1, &p), -EFAULT);
	/* The device faults, repopulates, and reads through the new hpa. */
	assert_int_equal(dev_read(ctx, mm, tbl, 2 * PAGE, buf, 5), -EFAULT);
	assert_int_equal(uiommu_mm_handle_fault(mm, tbl, 2 * PAGE), 0);
	assert_int_equal(uiommu_tce_table_get(tbl, 2, &tce), 0);
	assert_true((tce & ~3ULL) == new_hpa);
	assert_int_equal(dev_read(ctx, mm, tbl, 2 * PAGE, buf, 5), 0);
	assert_string_equal(buf, "page");
	/* A migrated page migrates again; its previous hpa is poisoned too. */
	assert_int_equal(uiommu_ram_migrate(ctx, new_hpa, &newer), 0);
	assert_int_equal(uiommu_hpa_to_hva(ctx, new_hpa, 1, &p), -EFAULT);
	assert_int_equal(uiommu_hpa_to_hva(ctx, newer, 5, &p), 0);
	assert_memory_equal(p, "page", 5);
	/* Pinned: -EBUSY (the kernel cannot migrate a pinned page either). */
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_LOCKED_BYTES, UIOMMU_LIMIT_NONE), 0);
	assert_int_equal(uiommu_pin(ctx, hva + 4 * PAGE, PAGE, NULL), 0);
	assert_int_equal(uiommu_ram_migrate(ctx, hpa + 4 * PAGE, &newer), -EBUSY);
	assert_int_equal(uiommu_unpin(ctx, hva + 4 * PAGE, PAGE), 0);
	assert_int_equal(uiommu_mirror_free(m), 0);
	assert_int_equal(uiommu_mm_free(mm), 0);
	assert_null(uiommu_tce_table_unref(tbl));
	/* Removal forgets the region's moved pages. */
	assert_int_equal(uiommu_ram_remove(ctx, hpa), 0);
	assert_int_equal(uiommu_hpa_to_hva(ctx, newer, 1, &p), -EFAULT);
	test_ctx_free(ctx);
}

/* ---- one address space: preregistered memory and mirrors (mm.h) ---- */

static void test_mm_prereg_and_mirror(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_interval_notifier *sub;
	struct uiommu_mm *mm, *many[9];
	struct uiommu_mirror *m, *mirrors[9];
	struct uiommu_tce_table *tbl;
	struct uiommu_prereg *mem, *found;
	struct rec rec;
	uint64_t hpa;
	char *hva;

	(void)state;
	rec_init(&rec);
	assert_int_equal(uiommu_ram_create(ctx, 1 * MiB, &hpa, (void **)&hva), 0);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, 1ULL << 30, 2, &tbl), 0);
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_ADDRESS_SPACES), 1);
	/* Before any registration or notifier: nothing to find, nothing to tell. */
	assert_int_equal(uiommu_prereg_lookup(mm, (uintptr_t)hva, PAGE, &found), -ENOENT);
	assert_int_equal(uiommu_prereg_get(mm, (uintptr_t)hva, 64 * KiB, &found), -ENOENT);
	assert_int_equal(uiommu_mm_invalidate(mm, (uintptr_t)hva, PAGE, UIOMMU_MMU_NOTIFY_CLEAR), 0);
	assert_int_equal(mm_seq(mm), 2);
	assert_int_equal(uiommu_mm_handle_fault(mm, tbl, 0), -EFAULT);

	/* The same address space holds a registration and a mirror. */
	assert_int_equal(uiommu_prereg_new(mm, (uintptr_t)hva, 64 * KiB, &mem), 0);
	assert_int_equal(uiommu_prereg_lookup(mm, (uintptr_t)hva + PAGE, PAGE, &found), 0);
	assert_ptr_equal(found, mem);
	assert_int_equal(uiommu_mirror_new(mm, hva + 512 * KiB, 64 * KiB, 0, &m), 0);
	assert_int_equal(uiommu_mirror_bind(m, tbl, 0, 0), 0);
	assert_int_equal(uiommu_mirror_populate(m), 0);
	assert_int_equal(uiommu_interval_notifier_insert(mm, (uintptr_t)hva, MiB, &rec_ops, &rec,
							 &sub), 0);
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_ADDRESS_SPACES), 1);

	/* A registration remains: the free refuses and does nothing (no release). */
	assert_int_equal(uiommu_mm_free(mm), -EBUSY);
	assert_int_equal(rec.calls, 0);
	assert_true(uiommu_mirror_valid(m));
	assert_int_equal(uiommu_prereg_put(mem), 0);
	/* Now it goes: the mirrors get the full-range release, then nothing new. */
	assert_int_equal(uiommu_mm_free(mm), 0);
	assert_int_equal(rec.calls, 1);
	assert_int_equal(rec.last_range.event, UIOMMU_MMU_NOTIFY_RELEASE);
	assert_false(uiommu_mirror_valid(m));
	assert_int_equal(uiommu_mirror_populate(m), -EFAULT);
	/* Its memory stays while notifiers remain (mmgrab), charged once. */
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_ADDRESS_SPACES), 1);
	assert_int_equal(uiommu_mm_invalidate_range_start(mm, &(struct uiommu_mmu_range){
				.start = 0, .last = 1, .event = UIOMMU_MMU_NOTIFY_CLEAR }), -EINVAL);
	assert_int_equal(uiommu_mirror_new(mm, hva, 64 * KiB, 0, &mirrors[0]), -EINVAL);
	assert_int_equal(uiommu_interval_notifier_remove(sub), 0);
	assert_int_equal(uiommu_mirror_free(m), 0);
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_ADDRESS_SPACES), 0);

	/* A table takes the hooks of 8 address spaces; the 9th binding is refused. */
	for (int i = 0; i < 9; i++) {
		assert_int_equal(uiommu_mm_new(ctx, 0, &many[i]), 0);
		assert_int_equal(uiommu_mirror_new(many[i], hva + (uint64_t)i * 64 * KiB, 64 * KiB,
						   0, &mirrors[i]), 0);
		assert_int_equal(uiommu_mirror_bind(mirrors[i], tbl, (uint64_t)i * 64 * KiB, 0),
				 i < 8 ? 0 : -ENOSPC);
	}
	/* One more mirror of a hooked address space shares its hook. */
	assert_int_equal(uiommu_mirror_new(many[0], hva + 576 * KiB, 64 * KiB, 0, &m), 0);
	assert_int_equal(uiommu_mirror_bind(m, tbl, 576 * KiB, 0), 0);
	assert_int_equal(uiommu_mirror_unbind(m), 0);
	assert_int_equal(uiommu_mirror_free(m), 0);
	assert_int_equal(uiommu_mirror_unbind(mirrors[3]), 0);
	assert_int_equal(uiommu_mirror_bind(mirrors[8], tbl, 8 * 64 * KiB, 0), 0);
	for (int i = 0; i < 9; i++) {
		assert_int_equal(uiommu_mirror_free(mirrors[i]), 0);
		assert_int_equal(uiommu_mm_free(many[i]), 0);
	}

	/* The first invalidation of an address space makes its mirror side: may be -ENOMEM. */
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 1, UIOMMU_FAULT_HEAP), 0);
	assert_int_equal(uiommu_mm_invalidate_range_start(mm, &(struct uiommu_mmu_range){
				.start = 0, .last = 1, .event = UIOMMU_MMU_NOTIFY_CLEAR }), -ENOMEM);
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
	assert_int_equal(uiommu_mm_free(mm), 0);

	assert_null(uiommu_tce_table_unref(tbl));
	assert_int_equal(uiommu_ram_remove(ctx, hpa), 0);
	test_ctx_free(ctx);
}

/* ---- fault injection: every allocation of the mirror's paths ---- */

static int mirror_scenario(struct uiommu_ctx *ctx, char *hva, uint64_t hpa)
{
	struct uiommu_tce_table *tbl = NULL;
	struct uiommu_mirror *m = NULL;
	struct uiommu_mm *mm = NULL;
	uint64_t new_hpa;
	int ret;

	ret = uiommu_tce_table_new(ctx, 0, 12, 1ULL << 30, 2, &tbl);
	if (ret)
		return ret;
	ret = uiommu_mm_new(ctx, 0, &mm);
	if (ret)
		goto out;
	ret = uiommu_mirror_new(mm, hva, 64 * KiB, 0, &m);
	if (ret)
		goto out;
	ret = uiommu_mirror_bind(m, tbl, 0x10000, 0);
	if (!ret)
		ret = uiommu_mirror_populate(m);
	if (!ret)
		ret = uiommu_ram_migrate(ctx, hpa + PAGE, &new_hpa);
	if (!ret)
		ret = uiommu_mirror_populate(m);
out:
	if (m)
		assert_int_equal(uiommu_mirror_free(m), 0);
	if (mm)
		assert_int_equal(uiommu_mm_free(mm), 0);
	uiommu_tce_table_unref(tbl);
	return ret;
}

static void test_mirror_fault_loop(void **state)
{
	int ret = -1;

	(void)state;
	for (uint64_t nth = 1; ret; nth++) {
		struct uiommu_ctx *ctx = test_ctx_new();
		uint64_t hpa, faults;
		char *hva;

		assert_int_equal(uiommu_ram_create(ctx, 1 * MiB, &hpa, (void **)&hva), 0);
		assert_int_equal(uiommu_ctx_inject_fault(ctx, nth, UIOMMU_FAULT_ALL), 0);
		ret = mirror_scenario(ctx, hva, hpa);
		faults = ctx_counter(ctx, UIOMMU_COUNTER_FAULTS_INJECTED);
		assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
		if (ret)
			assert_int_equal(ret, -ENOMEM);
		else
			assert_int_equal(faults, 0);
		assert_int_equal(uiommu_ram_remove(ctx, hpa), 0);
		/* Nothing leaked: every resource back at zero, every heap block freed. */
		assert_ctx_clean(ctx);
		assert_int_equal(uiommu_ctx_free(ctx), 0);
		assert_true(nth < 1000);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notifier_errors),
		cmocka_unit_test(test_mm_prereg_and_mirror),
		cmocka_unit_test(test_notifier_seq),
		cmocka_unit_test(test_notifier_deferred_insert),
		cmocka_unit_test(test_mirror_deferred_unmap),
		cmocka_unit_test(test_notifier_waits),
		cmocka_unit_test(test_notifier_nonblockable),
		cmocka_unit_test(test_notifier_deadlock_refusals),
		cmocka_unit_test(test_mirror_region),
		cmocka_unit_test(test_mirror_hostmem_chunks),
		cmocka_unit_test(test_mirror_memfd_other_mapping),
		cmocka_unit_test(test_mirror_anonymous_readonly),
		cmocka_unit_test(test_mirror_huge_pages),
		cmocka_unit_test(test_mirror_retry_and_busy),
		cmocka_unit_test(test_mirror_release),
		cmocka_unit_test(test_mirror_bind),
		cmocka_unit_test(test_mirror_migrate),
		cmocka_unit_test(test_mirror_fault_loop),
	};

	test_require_memfd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
