// SPDX-License-Identifier: BSD-3-Clause
/*
 * TCE tables: the hot paths, each against the cheapest thing that does the
 * same job, measured in this run:
 * - exchange of one TCE (uiommu_tce_table_xchg_no_kill(), through the
 *   shared library) against a raw 8-byte atomic exchange in a flat array:
 *   target 3x, for 1 and 4 levels;
 * - translation of a bus address (uiommu_tce_table_translate()) against a
 *   bounds-checked 8-byte load from a flat array: target 3x for 1 level,
 *   6x for 4 levels;
 * - clearing a sparse 1 TiB window (1000 scattered mappings, 4 levels),
 *   against reading once the level pages the table holds, and against
 *   reading the flat table the window would need without levels.
 *
 * A trivial call into the library is measured too, as the floor of any
 * out-of-line operation against an inlined baseline.
 *
 * The same 4096 entries (32 KiB of TCEs, 8 last-level pages) are used by
 * the table and by the flat baselines, visited in the order (i * 7) mod
 * 4096. Run with --callgrind N for instruction counts (bench/callgrind.sh).
 */
#include <stdatomic.h>
#include <stdlib.h>

#include <uiommu/uiommu.h>

#include "bench.h"

#define N 4096
#define IDX(i) (((i) * 7) & (N - 1))
#define SPARSE_MAPPINGS 1000

struct state {
	struct uiommu_ctx *ctx16, *ctx12;
	struct uiommu_tce_table *t1, *t4, *sparse;
	uint64_t off1, off4, bus1, bus4;
	_Atomic uint64_t *raw; /* baseline of the exchange */
	uint64_t *flat;	       /* baseline of the translation */
	uint64_t n;	       /* bound of the baseline's check, not a constant */
	uint64_t *scan;	       /* baseline of the clear */
	uint64_t scan_words;
};

static void raw_xchg(void *arg, uint64_t iters)
{
	struct state *s = arg;
	uint64_t sum = 0;

	for (uint64_t i = 0; i < iters; i++)
		sum += atomic_exchange_explicit(&s->raw[IDX(i)], ((i & 0xfffff) + 1) << 12 | 3,
						memory_order_acq_rel);
	bench_use(sum);
}

static inline void tce_xchg(struct uiommu_tce_table *tbl, uint64_t off, uint64_t iters)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < iters; i++) {
		uint64_t old;

		if (uiommu_tce_table_xchg_no_kill(tbl, off + IDX(i), ((i & 0xfffff) + 1) << 12,
						  UIOMMU_DMA_BIDIRECTIONAL, &old, NULL))
			abort();
		sum += old;
	}
	bench_use(sum);
}

static void tce_xchg_1level(void *arg, uint64_t iters)
{
	struct state *s = arg;

	tce_xchg(s->t1, s->off1, iters);
}

static void tce_xchg_4level(void *arg, uint64_t iters)
{
	struct state *s = arg;

	tce_xchg(s->t4, s->off4, iters);
}

static void raw_load(void *arg, uint64_t iters)
{
	struct state *s = arg;
	uint64_t sum = 0, n = s->n;

	for (uint64_t i = 0; i < iters; i++) {
		uint64_t idx = IDX(i);

		if (idx < n)
			sum += s->flat[idx];
	}
	bench_use(sum);
}

static inline void tce_translate(struct uiommu_tce_table *tbl, uint64_t bus, uint64_t iters)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < iters; i++) {
		uint64_t hpa;
		unsigned int prot;

		if (!uiommu_tce_table_translate(tbl, bus + ((uint64_t)IDX(i) << 12) + 8, &hpa,
						&prot))
			sum += hpa + prot;
	}
	bench_use(sum);
}

static void tce_translate_1level(void *arg, uint64_t iters)
{
	struct state *s = arg;

	tce_translate(s->t1, s->bus1, iters);
}

static void tce_translate_4level(void *arg, uint64_t iters)
{
	struct state *s = arg;

	tce_translate(s->t4, s->bus4, iters);
}

/*
 * The floor of any call into the library from here: a trivial exported
 * function (a table lookup) through the PLT, with its result used.
 */
static void library_call(void *arg, uint64_t iters)
{
	uint64_t sum = 0;

	(void)arg;
	for (uint64_t i = 0; i < iters; i++)
		sum += (uint64_t)uiommu_tce_direction(IDX(i));
	bench_use(sum);
}

/* ---- the sparse window ---- */

static void sparse_map(struct state *s)
{
	struct uiommu_tce_table_info info = { .size = sizeof(info) };
	uint64_t rng = 0x5eed;

	uiommu_tce_table_info(s->sparse, &info);
	for (int i = 0; i < SPARSE_MAPPINGS; i++) {
		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		if (uiommu_tce_table_xchg_no_kill(s->sparse,
						  info.it_offset + (rng >> 20) % info.it_size,
						  (uint64_t)(i + 1) << 16, UIOMMU_DMA_TO_DEVICE,
						  NULL, NULL))
			abort();
	}
}

static void sparse_clear(void *arg, uint64_t iters)
{
	struct state *s = arg;
	struct uiommu_tce_table_info info = { .size = sizeof(info) };

	uiommu_tce_table_info(s->sparse, &info);
	for (uint64_t i = 0; i < iters; i++)
		if (uiommu_tce_table_clear(s->sparse, info.it_offset, info.it_size, NULL, NULL,
					   NULL))
			abort();
}

/* The clear's time alone, best of BENCH_REPEATS, mapping again between runs. */
static double time_sparse_clear(struct state *s)
{
	double best = 1e300;

	for (int r = 0; r < BENCH_REPEATS; r++) {
		uint64_t t0;
		double ns;

		sparse_map(s);
		t0 = bench_now_ns();
		sparse_clear(s, 1);
		ns = (double)(bench_now_ns() - t0);
		if (ns < best)
			best = ns;
	}
	return best;
}

/* Read every word of a buffer once, testing it: the least a scan can do. */
static void scan(void *arg, uint64_t iters)
{
	struct state *s = arg;
	uint64_t found = 0;

	for (uint64_t it = 0; it < iters; it++)
		for (uint64_t w = 0; w < s->scan_words; w++)
			found += s->scan[w] != 0;
	bench_use(found);
}

static double time_scan(struct state *s, uint64_t bytes)
{
	free(s->scan);
	s->scan_words = bytes / 8;
	s->scan = malloc(bytes);
	if (!s->scan)
		abort();
	memset(s->scan, 0, bytes); /* really allocated, as table pages are */
	for (int i = 0; i < SPARSE_MAPPINGS; i++)
		s->scan[(uint64_t)i * 7919 % s->scan_words] = 1;
	return bench_run(scan, s, 1);
}

static int setup(struct state *s)
{
	struct uiommu_ctx_config cfg12 = { .size = sizeof(cfg12), .host_page_shift = 12 };
	struct uiommu_tce_table_info info = { .size = sizeof(info) };

	if (uiommu_ctx_new(NULL, &s->ctx16) || uiommu_ctx_new(&cfg12, &s->ctx12) ||
	    uiommu_ctx_set_limit(s->ctx12, UIOMMU_RES_TABLE_BYTES, 1ULL << 40))
		return -1;
	/* 1 level: 2^16 entries of 4 KiB, in one 512 KiB level (64 KiB host). */
	if (uiommu_tce_table_new(s->ctx16, UIOMMU_TCE_BUS_OFFSET_64, 12, 1ULL << 28, 1, &s->t1))
		return -1;
	/* 4 levels of 4 KiB (4 KiB host): 2^28 entries of 4 KiB. */
	if (uiommu_tce_table_new(s->ctx12, UIOMMU_TCE_BUS_OFFSET_64, 12, 1ULL << 40, 4, &s->t4))
		return -1;
	/* The sparse window: 1 TiB of 64 KiB pages, 4 levels of 4 KiB. */
	if (uiommu_tce_table_new(s->ctx12, UIOMMU_TCE_BUS_OFFSET_64, 16, 1ULL << 40, 4,
				 &s->sparse))
		return -1;
	uiommu_tce_table_info(s->t1, &info);
	s->off1 = info.it_offset;
	s->bus1 = info.bus_offset;
	uiommu_tce_table_info(s->t4, &info);
	s->off4 = info.it_offset;
	s->bus4 = info.bus_offset;
	s->n = N;
	s->raw = calloc(N, sizeof(*s->raw));
	s->flat = calloc(N, sizeof(*s->flat));
	if (!s->raw || !s->flat)
		return -1;
	for (uint64_t i = 0; i < N; i++)
		s->flat[i] = (i + 1) << 12;
	/* Every entry mapped, every level present: no allocation while measuring. */
	tce_xchg_1level(s, N);
	tce_xchg_4level(s, N);
	return 0;
}

static int teardown(struct state *s)
{
	uiommu_tce_table_unref(s->t1);
	uiommu_tce_table_unref(s->t4);
	uiommu_tce_table_unref(s->sparse);
	free(s->raw);
	free(s->flat);
	free(s->scan);
	return uiommu_ctx_free(s->ctx16) || uiommu_ctx_free(s->ctx12);
}

int main(int argc, char **argv)
{
	uint64_t cg = bench_callgrind_iters(argc, argv);
	struct uiommu_tce_table_info info = { .size = sizeof(info) };
	struct state s = { 0 };
	double base, ns, flat_ns;
	int misses = 0;

	if (setup(&s))
		return 1;
	if (cg) {
		bench_callgrind_run(raw_xchg, &s, cg);
		bench_callgrind_run(tce_xchg_1level, &s, cg);
		bench_callgrind_run(tce_xchg_4level, &s, cg);
		bench_callgrind_run(raw_load, &s, cg);
		bench_callgrind_run(tce_translate_1level, &s, cg);
		bench_callgrind_run(tce_translate_4level, &s, cg);
		bench_callgrind_run(library_call, &s, cg);
		sparse_map(&s);
		bench_callgrind_run(sparse_clear, &s, 1);
		return teardown(&s) ? 1 : 0;
	}

	printf("# uiommu bench_tce: ratios to limits measured in this run\n");
	base = bench_run(raw_xchg, &s, 4000000);
	ns = bench_run(tce_xchg_1level, &s, 4000000);
	misses += bench_report("xchg_no_kill, 1 level", ns, "raw 8-byte atomic exchange", base,
			       3.0);
	ns = bench_run(tce_xchg_4level, &s, 4000000);
	misses += bench_report("xchg_no_kill, 4 levels", ns, "raw 8-byte atomic exchange", base,
			       3.0);
	base = bench_run(raw_load, &s, 4000000);
	ns = bench_run(tce_translate_1level, &s, 4000000);
	misses += bench_report("translate, 1 level", ns, "bounds-checked 8-byte load", base, 3.0);
	ns = bench_run(tce_translate_4level, &s, 4000000);
	misses += bench_report("translate, 4 levels", ns, "bounds-checked 8-byte load", base, 6.0);
	ns = bench_run(library_call, &s, 4000000);
	bench_report("(any library call: the floor)", ns, "bounds-checked 8-byte load", base, 0);

	ns = time_sparse_clear(&s);
	uiommu_tce_table_info(s.sparse, &info);
	base = time_scan(&s, info.level_bytes);
	flat_ns = time_scan(&s, info.it_size * 8);
	printf("# clear of a 1 TiB window of 64 KiB pages, 4 levels, %d mappings: %.0f us; "
	       "the table holds %llu KiB of levels, a flat table would be %llu MiB\n",
	       SPARSE_MAPPINGS, ns / 1000, (unsigned long long)info.level_bytes >> 10,
	       (unsigned long long)(info.it_size * 8) >> 20);
	misses += bench_report("clear, sparse 1 TiB window", ns, "read the levels it holds", base,
			       0);
	misses += bench_report("clear, sparse 1 TiB window", ns, "read a flat table of it",
			       flat_ns, 0);
	printf("# %d target(s) missed\n", misses);
	return teardown(&s) ? 1 : 0;
}
