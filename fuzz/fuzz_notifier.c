// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fuzz driver: the interval notifier protocol (insert, remove, nested and
 * parallel invalidation start/end, non-blockable refusals, read_begin,
 * read_retry) against a plain model of Linux mm/mmu_notifier.c: a list of
 * intervals, the address space's sequence, the count of running
 * invalidations and the deferred inserts and removes. Each operation is 4
 * bytes: op, notifier or range id, and two parameters. Fault injection
 * makes some inserts fail, which must change nothing.
 *
 * Single-threaded, so the operations that would sleep (read_begin of an
 * interval being invalidated, the removal of one in the frozen tree) are
 * checked to be predicted as such and skipped.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <uiommu/uiommu.h>

#include "fuzz.h"

#define NSUBS 12
#define NRANGES 6
#define SPACE 64 /* the address space, in pages of 4 KiB */
#define PAGE 4096ULL

struct model_sub {
	bool used;	/* inserted and not removed */
	bool in_tree;	/* visible to new invalidations */
	bool pending_insert, pending_remove;
	uint64_t start, last;
	uint64_t seq;	/* the notifier's sequence */
	bool refuse;	/* its callback refuses non-blockable ranges */
	struct uiommu_interval_notifier *sub;
	unsigned int calls, expected_calls;
	uint64_t last_cur_seq;
	uint64_t read_seq;	/* from the last read_begin */
	bool have_read_seq;
};

struct model {
	uint64_t seq;
	unsigned int active;
	struct model_sub s[NSUBS];
	struct uiommu_mmu_range open[NRANGES];
	bool open_used[NRANGES];
};

static bool cb(struct uiommu_interval_notifier *sub, const struct uiommu_mmu_range *range,
	       uint64_t cur_seq)
{
	struct model_sub *ms = uiommu_interval_notifier_opaque(sub);

	if (ms->refuse && !(range->flags & UIOMMU_MMU_RANGE_BLOCKABLE))
		return false;
	uiommu_interval_set_seq(sub, cur_seq);
	ms->calls++;
	ms->last_cur_seq = cur_seq;
	return true;
}

static const struct uiommu_interval_notifier_ops ops = { .invalidate = cb };

static bool overlaps(const struct model_sub *s, const struct uiommu_mmu_range *r)
{
	return s->start <= r->last && r->start <= s->last;
}

static uint64_t lib_seq(struct uiommu_mm *mm)
{
	struct uiommu_mm_stats st;

	FUZZ_CHECK(uiommu_mm_get_stats(mm, &st) == 0, "stats");
	return st.seq;
}

/* The model's last end: even again, then the deferred work. */
static void model_end(struct model *m)
{
	if (--m->active || !(m->seq & 1))
		return;
	m->seq++;
	for (int i = 0; i < NSUBS; i++) {
		struct model_sub *s = &m->s[i];

		if (s->pending_insert) {
			s->pending_insert = false;
			s->in_tree = true;
		}
		if (s->pending_remove) {
			s->pending_remove = false;
			s->in_tree = false;
			s->used = false;
		}
	}
}

static void check_calls(const struct model *m)
{
	for (int i = 0; i < NSUBS; i++) {
		const struct model_sub *s = &m->s[i];

		FUZZ_CHECK(s->calls == s->expected_calls, "sub %d: %u callbacks, model %u", i,
			   s->calls, s->expected_calls);
	}
}

int fuzz_notifier(const uint8_t *data, size_t size)
{
	static struct uiommu_ctx *ctx;
	struct fuzz_input in = { data, size, 0 };
	static struct model m;
	struct uiommu_mm *mm;

	if (!ctx && uiommu_ctx_new(NULL, &ctx))
		abort();
	memset(&m, 0, sizeof(m));
	FUZZ_CHECK(uiommu_mm_new(ctx, 0, &mm) == 0, "mm_new");
	m.seq = 2;

	while (!fuzz_done(&in)) {
		unsigned int op = (unsigned int)fuzz_take(&in, 1) % 8;
		unsigned int id = (unsigned int)fuzz_take(&in, 1);
		uint64_t a = fuzz_take(&in, 1) % SPACE, b = fuzz_take(&in, 1);
		struct model_sub *s = &m.s[id % NSUBS];
		int ret;

		switch (op) {
		case 0: /* insert */
		case 1: {
			uint64_t len = (b % 8 + 1) * PAGE - (b & 0x40 ? 1 : 0);
			bool fail = (b & 0x80) && (b & 0x20);

			if (s->used)
				break;
			s->start = a * PAGE + (b & 0x10 ? 7 : 0);
			s->last = s->start + len - 1;
			s->refuse = b & 0x08;
			s->calls = s->expected_calls = 0;
			s->have_read_seq = false;
			if (fail)
				uiommu_ctx_inject_fault(ctx, 1, UIOMMU_FAULT_HEAP);
			ret = uiommu_interval_notifier_insert(mm, s->start, len, &ops, s, &s->sub);
			uiommu_ctx_inject_fault(ctx, 0, 0);
			if (fail) {
				FUZZ_CHECK(ret == -ENOMEM, "injected insert: %d", ret);
				break;
			}
			FUZZ_CHECK(ret == 0, "insert: %d", ret);
			s->used = true;
			if (m.active) {
				if (m.seq & 1) {
					s->pending_insert = true;
					s->in_tree = false;
				} else {
					m.seq |= 1;
					s->in_tree = true;
				}
				s->seq = m.seq;
			} else {
				s->in_tree = true;
				s->seq = m.seq - 1;
			}
			break;
		}
		case 2: /* remove, when it would not sleep */
			if (!s->used || s->pending_remove)
				break;
			if ((m.seq & 1) && s->in_tree)
				break; /* deferred: would wait for the last end */
			FUZZ_CHECK(uiommu_interval_notifier_remove(s->sub) == 0, "remove");
			s->used = s->in_tree = s->pending_insert = false;
			break;
		case 3: /* invalidate start */
		case 4: {
			unsigned int r = id % NRANGES;
			struct uiommu_mmu_range range = {
				.start = a * PAGE + (b & 7) * 512,
				.event = (enum uiommu_mmu_event)(b % UIOMMU_MMU_NOTIFY_NR),
				.flags = (b & 0x80) ? 0 : UIOMMU_MMU_RANGE_BLOCKABLE };
			bool hit = false, refused = false;

			if (m.open_used[r])
				break;
			range.last = range.start + ((b >> 3) % 8 + 1) * PAGE - 1;
			for (int i = 0; i < NSUBS; i++)
				if (m.s[i].used && m.s[i].in_tree && overlaps(&m.s[i], &range))
					hit = true;
			m.active++;
			if (hit)
				m.seq |= 1;
			/* Callbacks in order until the first refusal (the tree's order: by start). */
			for (int i = 0; i < NSUBS; i++) {
				struct model_sub *t = &m.s[i];

				if (!t->used || !t->in_tree || !overlaps(t, &range))
					continue;
				if (t->refuse && !(range.flags & UIOMMU_MMU_RANGE_BLOCKABLE))
					refused = true;
			}
			ret = uiommu_mm_invalidate_range_start(mm, &range);
			FUZZ_CHECK(ret == (refused ? -EAGAIN : 0), "start: %d", ret);
			/* Which callbacks ran is the tree's order; count what the library says ran. */
			for (int i = 0; i < NSUBS; i++) {
				struct model_sub *t = &m.s[i];

				if (t->used && t->in_tree && overlaps(t, &range) && !refused) {
					t->expected_calls++;
					t->seq = m.seq;
				}
				if (refused && t->calls != t->expected_calls) {
					/* Ran before the refusal: accept it, it set its seq. */
					FUZZ_CHECK(t->calls == t->expected_calls + 1 &&
							   t->used && t->in_tree && overlaps(t, &range),
						   "sub %d called outside the range", i);
					t->expected_calls++;
					t->seq = m.seq;
				}
				if (t->used && t->calls == t->expected_calls && t->expected_calls &&
				    t->seq == m.seq)
					FUZZ_CHECK(t->last_cur_seq == m.seq, "cur_seq %llu, model %llu",
						   (unsigned long long)t->last_cur_seq,
						   (unsigned long long)m.seq);
			}
			if (refused) {
				model_end(&m); /* undone at once; no end from the caller */
				break;
			}
			m.open[r] = range;
			m.open_used[r] = true;
			break;
		}
		case 5: { /* invalidate end */
			unsigned int r = id % NRANGES;

			if (!m.open_used[r])
				break;
			uiommu_mm_invalidate_range_end(mm, &m.open[r]);
			m.open_used[r] = false;
			model_end(&m);
			break;
		}
		case 6: /* read_begin, when it would not sleep */
			if (!s->used)
				break;
			if (s->seq == m.seq)
				break; /* predicted to sleep until the last end */
			s->read_seq = uiommu_interval_read_begin(s->sub);
			FUZZ_CHECK(s->read_seq == s->seq, "read_begin %llu, model %llu",
				   (unsigned long long)s->read_seq, (unsigned long long)s->seq);
			s->have_read_seq = true;
			break;
		case 7: /* read_retry / check_retry */
			if (!s->used || !s->have_read_seq)
				break;
			FUZZ_CHECK(uiommu_interval_read_retry(s->sub, s->read_seq) ==
					   (s->seq != s->read_seq), "read_retry");
			FUZZ_CHECK(uiommu_interval_check_retry(s->sub, s->read_seq) ==
					   (s->seq != s->read_seq), "check_retry");
			break;
		}
		check_calls(&m);
		FUZZ_CHECK(lib_seq(mm) == m.seq, "seq %llu, model %llu",
			   (unsigned long long)lib_seq(mm), (unsigned long long)m.seq);
	}

	/* Close what is open, remove what is left, release. */
	for (int r = 0; r < NRANGES; r++)
		if (m.open_used[r]) {
			uiommu_mm_invalidate_range_end(mm, &m.open[r]);
			model_end(&m);
		}
	FUZZ_CHECK(lib_seq(mm) == m.seq && !(m.seq & 1), "final seq");
	for (int i = 0; i < NSUBS; i++)
		if (m.s[i].used)
			FUZZ_CHECK(uiommu_interval_notifier_remove(m.s[i].sub) == 0, "final remove");
	FUZZ_CHECK(uiommu_mm_free(mm) == 0, "mm_free");
	fuzz_check_clean(ctx);
	return 0;
}
