// SPDX-License-Identifier: BSD-3-Clause
/*
 * TCE tables under real concurrency, with no table lock (run under ASan
 * and TSan, -Drcu=mutex, too):
 * - writers exchange interleaved entries of fresh level pages at once, so
 *   that level installs race, while translators and readers check that
 *   whatever they see is a whole value some writer stored there; afterwards
 *   every entry holds its owner's last value and the table holds exactly
 *   the level pages it needs (a losing racer freed its page);
 * - clears race with exchanges of the same entries, and every mapping is
 *   accounted for exactly once (replaced, cleared, or still there);
 * - kill callbacks are unlinked and their data freed while other threads
 *   kill: after an unlink returns, the callback never runs again;
 * - references are taken and dropped concurrently.
 *
 * Nothing is timed: each thread does a fixed amount of work, and readers
 * run until the writers are done.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "test_util.h"

#include "internal.h"
#include "mem/mem.h" /* white box: the frame allocator's lock */

#define WRITERS 4
#define READERS 2
#define ROUNDS 64
#define ROUND_ENTRIES 4096 /* 8 last-level pages of 512 */

static struct uiommu_ctx *ctx_4k(void)
{
	struct uiommu_ctx_config cfg = { .size = sizeof(cfg), .host_page_shift = 12 };
	struct uiommu_ctx *ctx = NULL;

	assert_int_equal(uiommu_ctx_new(&cfg, &ctx), 0);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_TABLE_BYTES, 8ULL << 30), 0);
	return ctx;
}

/*
 * What a writer stores at relative index idx in generation gen: a 4 KiB
 * page whose number says both, and a direction from the generation's
 * parity. A reader can tell a whole value from anything else.
 */
static uint64_t tag_hpa(uint64_t idx, uint64_t gen)
{
	return (idx << 8 | gen) << 12;
}

static enum uiommu_dma_dir tag_dir(uint64_t gen)
{
	return gen & 1 ? UIOMMU_DMA_TO_DEVICE : UIOMMU_DMA_FROM_DEVICE;
}

static bool tag_ok(uint64_t idx, uint64_t hpa, unsigned int prot)
{
	uint64_t gen = (hpa >> 12) & 0xff;

	return (hpa >> 20) == idx && gen >= 1 && gen <= 3 && (hpa & 0xfff) == 0 &&
	       prot == (gen & 1 ? UIOMMU_PROT_READ : UIOMMU_PROT_READ | UIOMMU_PROT_WRITE);
}

struct race {
	struct uiommu_tce_table *tbl;
	uint64_t it_offset, bus_offset;
	pthread_barrier_t start;
	_Atomic uint32_t rounds_started;
	_Atomic int stop;
	_Atomic uint64_t seen, faults;
};

struct writer {
	struct race *r;
	int id;
};

/* Round r uses the 4096 entries from r << 18: a fresh middle-level page and 8 last-level pages. */
static uint64_t round_idx(int round, uint64_t i)
{
	return ((uint64_t)round << 18) + i;
}

static void *race_writer(void *arg)
{
	struct writer *w = arg;
	struct race *r = w->r;

	for (int round = 0; round < ROUNDS; round++) {
		/* Everyone starts a round together, on levels nobody has allocated yet. */
		pthread_barrier_wait(&r->start);
		if (w->id == 0)
			atomic_store(&r->rounds_started, (uint32_t)round + 1);
		for (uint64_t gen = 1; gen <= 3; gen++) {
			/*
			 * This writer owns the entries i with i % WRITERS == id, and
			 * visits them across the 8 last-level pages in turn, so that
			 * its first 8 exchanges all race with the others' to install
			 * those pages.
			 */
			for (uint64_t k = 0; k < ROUND_ENTRIES / WRITERS; k++) {
				uint64_t i = (k % 8) * 512 + (k / 8) * WRITERS + (uint64_t)w->id;
				uint64_t idx = round_idx(round, i), old = 1;
				enum uiommu_dma_dir old_dir;
				int ret = uiommu_tce_table_xchg_no_kill(r->tbl, r->it_offset + idx,
									tag_hpa(idx, gen),
									tag_dir(gen), &old,
									&old_dir);

				/* Only this thread writes idx: the old value is its previous one. */
				if (ret || old != (gen == 1 ? 0 : tag_hpa(idx, gen - 1)))
					abort();
				if (gen > 1 && old_dir != (gen & 1 ? UIOMMU_DMA_BIDIRECTIONAL :
									  UIOMMU_DMA_TO_DEVICE))
					abort();
			}
		}
		/* Clear every fourth entry again. */
		for (uint64_t i = (uint64_t)w->id; i < ROUND_ENTRIES; i += 4 * WRITERS)
			if (uiommu_tce_table_xchg_no_kill(r->tbl, r->it_offset + round_idx(round, i),
							  0, UIOMMU_DMA_NONE, NULL, NULL))
				abort();
	}
	return NULL;
}

static void *race_reader(void *arg)
{
	struct race *r = arg;
	uint64_t rng = (uint64_t)(uintptr_t)&rng;

	while (!atomic_load(&r->stop)) {
		uint32_t rounds = atomic_load(&r->rounds_started);
		uint64_t idx, hpa, tce;
		unsigned int prot;
		int ret;

		if (!rounds)
			continue;
		idx = round_idx((int)(test_rand(&rng) % rounds), test_rand(&rng) % ROUND_ENTRIES);
		ret = uiommu_tce_table_translate(r->tbl, r->bus_offset + (idx << 12) + 5, &hpa,
						 &prot);
		if (ret == 0) {
			if (!tag_ok(idx, hpa - 5, prot))
				abort();
			atomic_fetch_add(&r->seen, 1);
		} else if (ret == -EFAULT) {
			atomic_fetch_add(&r->faults, 1);
		} else {
			abort();
		}
		if (uiommu_tce_table_get(r->tbl, r->it_offset + idx, &tce))
			abort();
		if (tce && !tag_ok(idx, tce & ~3ULL, (unsigned int)(tce & 3)))
			abort();
	}
	return NULL;
}

static void test_writers_and_translators(void **state)
{
	struct uiommu_ctx *ctx = ctx_4k();
	struct race r = { .bus_offset = UIOMMU_TCE_BUS_OFFSET_64 };
	struct writer w[WRITERS];
	pthread_t wt[WRITERS], rt[READERS];
	struct uiommu_tce_table_info info = { .size = sizeof(info) };
	uint64_t pages;

	(void)state;
	/* 2^27 entries of 4 KiB in 3 levels of 512. */
	assert_int_equal(uiommu_tce_table_new(ctx, r.bus_offset, 12, 1ULL << 39, 3, &r.tbl), 0);
	r.it_offset = r.bus_offset >> 12;
	pthread_barrier_init(&r.start, NULL, WRITERS);
	for (int i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&rt[i], NULL, race_reader, &r), 0);
	for (int i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){ &r, i };
		assert_int_equal(pthread_create(&wt[i], NULL, race_writer, &w[i]), 0);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(wt[i], NULL);
	atomic_store(&r.stop, 1);
	for (int i = 0; i < READERS; i++)
		pthread_join(rt[i], NULL);
	pthread_barrier_destroy(&r.start);

	/* Every entry holds its owner's last value. */
	for (int round = 0; round < ROUNDS; round++)
		for (uint64_t i = 0; i < ROUND_ENTRIES; i++) {
			uint64_t idx = round_idx(round, i), tce;

			assert_int_equal(uiommu_tce_table_get(r.tbl, r.it_offset + idx, &tce), 0);
			if (i % (4 * WRITERS) < WRITERS)
				assert_true(tce == 0);
			else
				assert_true(tce == (tag_hpa(idx, 3) | UIOMMU_TCE_READ));
		}
	/* Exactly the pages needed: two first levels, and per round 1 + 8; losers freed theirs. */
	pages = 2 + ROUNDS * (1 + ROUND_ENTRIES / 512);
	assert_int_equal(uiommu_tce_table_info(r.tbl, &info), 0);
	assert_true(info.level_bytes == pages * 4096);
	assert_true(ctx_usage(ctx, UIOMMU_RES_FRAME_BYTES) == pages * 4096);
	print_message("%llu translations of a mapping, %llu of an empty entry, all consistent\n",
		      (unsigned long long)atomic_load(&r.seen),
		      (unsigned long long)atomic_load(&r.faults));
	uiommu_tce_table_unref(r.tbl);
	test_ctx_free(ctx);
}

/* ---- the losing side of a level install ---- */

struct install_race {
	struct uiommu_tce_table *tbl;
	uint64_t entry;
};

static void *install_one(void *arg)
{
	struct install_race *ir = arg;

	if (uiommu_tce_table_xchg_no_kill(ir->tbl, ir->entry, ir->entry << 12,
					  UIOMMU_DMA_BIDIRECTIONAL, NULL, NULL))
		abort();
	return NULL;
}

/*
 * Deterministically: two threads find the same indirect entry empty and
 * both allocate a page for it. The frame allocator's lock, held here, stops
 * them after they have looked (an armed fault class that never fires
 * counts their allocation attempts); released, one installs its page and
 * the other must free its own and use the winner's.
 */
static void test_install_race(void **state)
{
	struct uiommu_ctx *ctx = ctx_4k();
	struct uiommu_tce_table *tbl;
	struct install_race ir[2];
	pthread_t t[2];
	uint64_t attempts = 0, tce;

	(void)state;
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, 1ULL << 30, 2, &tbl), 0);
	assert_int_equal(uiommu_ctx_inject_fault(ctx, UINT64_MAX, UIOMMU_FAULT_FRAME), 0);
	pthread_mutex_lock(&mem_peek(ctx)->frame_lock);
	for (int i = 0; i < 2; i++) {
		ir[i] = (struct install_race){ tbl, 1000 + (uint64_t)i }; /* the same leaf */
		assert_int_equal(pthread_create(&t[i], NULL, install_one, &ir[i]), 0);
	}
	while (attempts < 2)
		assert_int_equal(uiommu_ctx_get_counter(ctx, UIOMMU_COUNTER_FAULT_POINTS, &attempts),
				 0);
	pthread_mutex_unlock(&mem_peek(ctx)->frame_lock);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(uiommu_ctx_get_counter(ctx, UIOMMU_COUNTER_FAULT_POINTS, &attempts), 0);
	assert_true(attempts == 2); /* two pages allocated ... */
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
	/* ... one installed, one freed, and both entries in the winner's page. */
	assert_true(ctx_usage(ctx, UIOMMU_RES_FRAME_BYTES) == 3 * 4096);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(uiommu_tce_table_get(tbl, ir[i].entry, &tce), 0);
		assert_true(tce == (ir[i].entry << 12 | 3));
	}
	uiommu_tce_table_unref(tbl);
	test_ctx_free(ctx);
}

/* ---- clears against exchanges ---- */

#define CLEAR_ENTRIES 2048
#define CLEAR_ROUNDS 300

struct clear_race {
	struct uiommu_tce_table *tbl;
	_Atomic int stop;
	/* Mappings in and out, by count and by a checksum of their hpas. */
	_Atomic uint64_t installed, installed_sum;
	_Atomic uint64_t replaced, replaced_sum;
	_Atomic uint64_t cleared, cleared_sum;
};

static void on_cleared(void *opaque, uint64_t entry, uint64_t old_hpa,
		       enum uiommu_dma_dir old_dir)
{
	struct clear_race *c = opaque;

	if (old_dir != UIOMMU_DMA_BIDIRECTIONAL || (old_hpa >> 20) != entry)
		abort();
	atomic_fetch_add(&c->cleared, 1);
	atomic_fetch_add(&c->cleared_sum, old_hpa);
}

static void *clear_mapper(void *arg)
{
	struct clear_race *c = arg;
	uint64_t rng = (uint64_t)(uintptr_t)&rng;

	for (int n = 0; n < CLEAR_ROUNDS * 16; n++) {
		uint64_t e = test_rand(&rng) % CLEAR_ENTRIES, gen = 1 + test_rand(&rng) % 255;
		uint64_t hpa = (e << 8 | gen) << 12, old;

		if (uiommu_tce_table_xchg(c->tbl, e, hpa, UIOMMU_DMA_BIDIRECTIONAL, &old, NULL))
			abort();
		atomic_fetch_add(&c->installed, 1);
		atomic_fetch_add(&c->installed_sum, hpa);
		if (old) {
			atomic_fetch_add(&c->replaced, 1);
			atomic_fetch_add(&c->replaced_sum, old);
		}
	}
	return NULL;
}

static void *clear_clearer(void *arg)
{
	struct clear_race *c = arg;
	uint64_t rng = 99;

	while (!atomic_load(&c->stop)) {
		uint64_t first = test_rand(&rng) % CLEAR_ENTRIES;
		uint64_t n = 1 + test_rand(&rng) % (CLEAR_ENTRIES - first);

		if (uiommu_tce_table_clear(c->tbl, first, n, on_cleared, c, NULL))
			abort();
	}
	return NULL;
}

static void test_clear_vs_xchg(void **state)
{
	struct uiommu_ctx *ctx = ctx_4k();
	struct clear_race c = { 0 };
	pthread_t mt[2], ct;
	uint64_t left = 0, left_sum = 0;

	(void)state;
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, 1ULL << 30, 2, &c.tbl), 0);
	assert_int_equal(pthread_create(&ct, NULL, clear_clearer, &c), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&mt[i], NULL, clear_mapper, &c), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(mt[i], NULL);
	atomic_store(&c.stop, 1);
	pthread_join(ct, NULL);
	for (uint64_t e = 0; e < CLEAR_ENTRIES; e++) {
		uint64_t tce;

		assert_int_equal(uiommu_tce_table_get(c.tbl, e, &tce), 0);
		if (tce) {
			left++;
			left_sum += tce & ~3ULL;
		}
	}
	/* Every mapping went exactly one way: replaced, cleared, or still there. */
	assert_true(c.installed == c.replaced + c.cleared + left);
	assert_true(c.installed_sum == c.replaced_sum + c.cleared_sum + left_sum);
	print_message("%llu mappings: %llu replaced, %llu cleared, %llu left\n",
		      (unsigned long long)c.installed, (unsigned long long)c.replaced,
		      (unsigned long long)c.cleared, (unsigned long long)left);
	uiommu_tce_table_unref(c.tbl);
	test_ctx_free(ctx);
}

/* ---- kill callbacks against unlink ---- */

struct kill_target {
	_Atomic int dead;
	_Atomic uint64_t calls;
};

static void on_kill(void *opaque, struct uiommu_tce_table *tbl, uint64_t entry, uint64_t npages)
{
	struct kill_target *k = opaque;

	(void)tbl;
	if (atomic_load(&k->dead) || npages != 1 || entry >= 64)
		abort(); /* called after its unlink returned */
	atomic_fetch_add(&k->calls, 1);
}

struct kill_race {
	struct uiommu_tce_table *tbl;
	_Atomic int stop;
};

static void *kill_mapper(void *arg)
{
	struct kill_race *k = arg;
	uint64_t e = 0;

	while (!atomic_load(&k->stop)) {
		e = (e + 1) % 64;
		if (uiommu_tce_table_xchg(k->tbl, e, 0x10000, UIOMMU_DMA_TO_DEVICE, NULL, NULL))
			abort();
	}
	return NULL;
}

static void test_kill_vs_unlink(void **state)
{
	struct uiommu_ctx *ctx = ctx_4k();
	struct kill_race k = { 0 };
	pthread_t t[2];
	uint64_t calls = 0;

	(void)state;
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 16, 1ULL << 30, 1, &k.tbl), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, kill_mapper, &k), 0);
	/* Each unlink waits for a grace period: with busy readers, liburcu-bp sleeps ~10 ms. */
	for (int round = 0; round < 30; round++) {
		struct kill_target *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));

		assert_int_equal(uiommu_tce_table_kill_link(k.tbl, on_kill, a), 0);
		assert_int_equal(uiommu_tce_table_kill_link(k.tbl, on_kill, b), 0);
		while (atomic_load(&a->calls) < 3)
			;
		assert_int_equal(uiommu_tce_table_kill_unlink(k.tbl, on_kill, a), 0);
		atomic_store(&a->dead, 1);
		calls += atomic_load(&a->calls);
		free(a); /* ASan reports any later call */
		assert_int_equal(uiommu_tce_table_kill_unlink(k.tbl, on_kill, b), 0);
		atomic_store(&b->dead, 1);
		free(b);
	}
	atomic_store(&k.stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_true(calls >= 90);
	uiommu_tce_table_unref(k.tbl);
	test_ctx_free(ctx);
}

/* ---- references ---- */

static void *ref_user(void *arg)
{
	struct uiommu_tce_table *tbl = arg;

	for (int i = 0; i < 20000; i++) {
		struct uiommu_tce_table *t = uiommu_tce_table_ref(tbl);
		uint64_t hpa;

		if (uiommu_tce_table_translate(t, 0x3000, &hpa, NULL) || hpa != 0x7000)
			abort();
		uiommu_tce_table_unref(t);
	}
	uiommu_tce_table_unref(tbl); /* the reference the creator gave this thread */
	return NULL;
}

static void test_refs(void **state)
{
	struct uiommu_ctx *ctx = ctx_4k();
	struct uiommu_tce_table *tbl;
	pthread_t t[4];

	(void)state;
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, 1ULL << 30, 2, &tbl), 0);
	assert_int_equal(uiommu_tce_table_xchg(tbl, 3, 0x7000, UIOMMU_DMA_TO_DEVICE, NULL, NULL), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, ref_user, uiommu_tce_table_ref(tbl)),
				 0);
	uiommu_tce_table_unref(tbl); /* the threads' references keep it */
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	/* The last thread freed it. */
	test_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writers_and_translators),
		cmocka_unit_test(test_install_race),
		cmocka_unit_test(test_clear_vs_xchg),
		cmocka_unit_test(test_kill_vs_unlink),
		cmocka_unit_test(test_refs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
