// SPDX-License-Identifier: BSD-3-Clause
/*
 * TCE tables: geometry and sizes against values derived by hand and in
 * closed form from the documented algorithm, every error listed in
 * uiommu/tce.h, the semantics of each operation, a walk of the table by raw
 * hpa reads in another process, and the memory a sparse 1 TiB window
 * really takes. Fault injection: tests/fault/fault_tce.c.
 */
#include <endian.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define TiB (1ULL << 40)
#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static struct uiommu_ctx *ctx_with_host(unsigned int host_page_shift)
{
	struct uiommu_ctx_config cfg = { .size = sizeof(cfg), .host_page_shift = host_page_shift };
	struct uiommu_ctx *ctx = NULL;

	assert_int_equal(uiommu_ctx_new(&cfg, &ctx), 0);
	/* Big sparse windows: tables are charged what they would take full. */
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_TABLE_BYTES, 64 * GiB), 0);
	return ctx;
}

static struct uiommu_tce_table_info table_info(const struct uiommu_tce_table *tbl)
{
	struct uiommu_tce_table_info info = { .size = sizeof(info) };

	assert_int_equal(uiommu_tce_table_info(tbl, &info), 0);
	return info;
}

/* ---- geometry and size ---- */

/*
 * The size of a table, in closed form from the documented algorithm: with
 * E = log2(window) - page_shift index bits and b = max(ceil(E / levels),
 * host_page_shift - 3) bits per level, the k-th level from the bottom has
 * 2^max(0, E - b(k + 1)) pages of 2^(b + 3) bytes; the table is twice that
 * (hardware + shadow). Valid when b * levels + page_shift < 55.
 */
static uint64_t expected_size(unsigned int host, unsigned int ps, uint64_t window,
			      unsigned int levels)
{
	unsigned int e, b;
	uint64_t pages = 0;

	if ((host != 12 && host != 16) || levels < 1 || levels > 5 || ps < 12 || ps > 34 ||
	    !window || (window & (window - 1)) || (unsigned int)__builtin_ctzll(window) < ps)
		return 0;
	e = (unsigned int)__builtin_ctzll(window) - ps;
	b = (e + levels - 1) / levels;
	if (b < host - 3)
		b = host - 3;
	if (b * levels + ps >= 55)
		return 0;
	for (unsigned int k = 0; k < levels; k++)
		pages += (int)e - (int)(b * (k + 1)) > 0 ? 1ULL << (e - b * (k + 1)) : 1;
	return 2 * (pages << (b + 3));
}

static void test_size_known_values(void **state)
{
	/* Worked by hand from the algorithm in doc/design/tce.md. */
	static const struct {
		unsigned int host, ps;
		uint64_t window;
		unsigned int levels;
		uint64_t bytes;
	} v[] = {
		{ 16, 12, 1 * GiB, 1, 4194304 },   /* one 2 MiB level, twice */
		{ 16, 12, 1 * GiB, 2, 4325376 },   /* 32 + 1 pages of 64 KiB, twice */
		{ 16, 12, 1 * GiB, 3, 4456448 },   /* 32 + 1 + 1 pages */
		{ 16, 12, 2 * GiB, 1, 8388608 },   /* Linux's default 32-bit window */
		{ 16, 16, 1 * TiB, 2, 268566528 }, /* 2048 + 1 pages of 64 KiB */
		{ 12, 16, 1 * TiB, 4, 268976128 }, /* 32768 + 64 + 1 + 1 pages of 4 KiB */
		{ 16, 12, 4 * KiB, 1, 131072 },	   /* a host page of TCEs at least */
		{ 12, 12, 4 * KiB, 3, 24576 },	   /* three 4 KiB levels */
		{ 16, 24, 1 * TiB, 1, 1048576 },   /* 16 MiB pages: 2^16 TCEs */
		{ 16, 16, 1 * TiB, 3, 0 },	   /* 13 * 3 + 16 = 55 bits: refused */
		{ 12, 12, 4 * KiB, 5, 0 },	   /* five levels never fit in 55 bits */
		{ 16, 16, 1 * TiB, 4, 0 },
		{ 16, 12, 3 * GiB, 1, 0 }, /* not a power of two */
		{ 16, 16, 32 * KiB, 1, 0 }, /* smaller than a page */
		{ 16, 12, 1 * GiB, 0, 0 },
		{ 16, 12, 1 * GiB, 6, 0 },
		{ 16, 11, 1 * GiB, 1, 0 },
		{ 16, 35, 1ULL << 40, 1, 0 },
		{ 14, 12, 1 * GiB, 1, 0 }, /* not a host page size */
	};

	(void)state;
	for (size_t i = 0; i < NELEMS(v); i++) {
		uint64_t got = uiommu_tce_table_size(v[i].host, v[i].ps, v[i].window, v[i].levels);

		if (got != v[i].bytes)
			fail_msg("size(%u, %u, 0x%llx, %u) = %llu, expected %llu", v[i].host, v[i].ps,
				 (unsigned long long)v[i].window, v[i].levels,
				 (unsigned long long)got, (unsigned long long)v[i].bytes);
	}
}

static void test_size_sweep(void **state)
{
	unsigned int valid = 0, checked = 0;

	(void)state;
	for (unsigned int host = 11; host <= 17; host++)
		for (unsigned int ps = 10; ps <= 36; ps++)
			for (unsigned int levels = 0; levels <= 6; levels++)
				for (unsigned int w = 0; w < 64; w++) {
					uint64_t window = 1ULL << w;
					uint64_t want = expected_size(host, ps, window, levels);
					uint64_t got = uiommu_tce_table_size(host, ps, window, levels);

					if (got != want)
						fail_msg("size(%u, %u, 2^%u, %u) = %llu, expected %llu",
							 host, ps, w, levels, (unsigned long long)got,
							 (unsigned long long)want);
					/* Not a power of two: always refused. */
					assert_true(uiommu_tce_table_size(host, ps, window + 4096,
									  levels) == 0 ||
						    w == 12);
					valid += want != 0;
					checked++;
				}
	assert_true(uiommu_tce_table_size(16, 12, 0, 1) == 0);
	print_message("%u geometries, %u valid\n", checked, valid);
	assert_true(valid > 1000);
}

static void test_geometry(void **state)
{
	struct uiommu_tce_geometry g = { .size = sizeof(g) };

	(void)state;
	/* 1 TiB of 64 KiB pages, 2 levels, 64 KiB host pages. */
	assert_int_equal(uiommu_tce_geometry(16, 16, TiB, 2, &g), 0);
	assert_true(g.it_size == 1ULL << 24);
	assert_true(g.it_level_size == 8192);
	assert_int_equal(g.level_shift, 16);
	assert_int_equal(g.bus_addr_bits, 13 * 2 + 16);
	assert_true(g.table_size == 268566528 && g.hw_size == g.table_size / 2);
	/* A window smaller than a host page of TCEs: it_size exceeds it (as Linux reports). */
	assert_int_equal(uiommu_tce_geometry(16, 12, 4 * KiB, 1, &g), 0);
	assert_true(g.it_size == 8192);
	/* The 55-bit rule: -ERANGE, but the shape is there to explain it. */
	assert_int_equal(uiommu_tce_geometry(16, 16, TiB, 3, &g), -ERANGE);
	assert_int_equal(g.bus_addr_bits, 55);
	assert_true(g.table_size == 0 && g.level_shift == 16);
	/* -EINVAL: bad geometry, NULL, a size below the first version's. */
	assert_int_equal(uiommu_tce_geometry(16, 16, TiB, 0, &g), -EINVAL);
	assert_int_equal(uiommu_tce_geometry(16, 16, 3 * GiB, 1, &g), -EINVAL);
	assert_int_equal(uiommu_tce_geometry(16, 16, TiB, 1, NULL), -EINVAL);
	g.size = 8;
	assert_int_equal(uiommu_tce_geometry(16, 16, TiB, 1, &g), -EINVAL);
	/* A larger struct from a newer caller: the tail is zeroed. */
	{
		struct {
			struct uiommu_tce_geometry g;
			uint64_t future;
		} big = { .g.size = sizeof(big), .future = 0xff };

		assert_int_equal(uiommu_tce_geometry(16, 16, TiB, 2, &big.g), 0);
		assert_true(big.future == 0 && big.g.it_size == 1ULL << 24);
	}
}

/* ---- creation ---- */

static void test_new_errors(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_tce_table *tbl = NULL;

	(void)state;
	/* -EINVAL */
	assert_int_equal(uiommu_tce_table_new(NULL, 0, 12, GiB, 1, &tbl), -EINVAL);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, GiB, 1, NULL), -EINVAL);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, GiB, 0, &tbl), -EINVAL);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, GiB, 6, &tbl), -EINVAL);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 11, GiB, 1, &tbl), -EINVAL);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 35, 1ULL << 40, 1, &tbl), -EINVAL);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, 3 * GiB, 1, &tbl), -EINVAL);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 16, 32 * KiB, 1, &tbl), -EINVAL);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 16, TiB, 3, &tbl), -EINVAL); /* 55 bits */
	assert_int_equal(uiommu_tce_table_new(ctx, 4096, 16, GiB, 1, &tbl), -EINVAL);
	/* -EOVERFLOW: the window would run past 2^64 - 1. */
	assert_int_equal(uiommu_tce_table_new(ctx, 0 - GiB / 2, 12, GiB, 2, &tbl), -EOVERFLOW);
	/* ... but a window ending exactly at 2^64 - 1 is fine. */
	assert_int_equal(uiommu_tce_table_new(ctx, 0 - GiB, 12, GiB, 2, &tbl), 0);
	tbl = uiommu_tce_table_unref(tbl);
	/* -ENOSPC: the windows limit. */
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_WINDOWS, 0), 0);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, GiB, 1, &tbl), -ENOSPC);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_WINDOWS, 1024), 0);
	/* -ENOMEM: the table-bytes limit counts the whole table... */
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_TABLE_BYTES, 4325376 - 1), 0);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, GiB, 2, &tbl), -ENOMEM);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_TABLE_BYTES, 4325376), 0);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, GiB, 2, &tbl), 0);
	assert_true(ctx_usage(ctx, UIOMMU_RES_TABLE_BYTES) == 4325376);
	assert_true(ctx_usage(ctx, UIOMMU_RES_WINDOWS) == 1);
	/* ... while frames count what is really allocated: the two first levels. */
	assert_true(ctx_usage(ctx, UIOMMU_RES_FRAME_BYTES) == 2 * 64 * KiB);
	tbl = uiommu_tce_table_unref(tbl);
	assert_ctx_clean(ctx);
	/* -ENOMEM: the frame limit. */
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_FRAME_BYTES, 3 * MiB), 0);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, GiB, 1, &tbl), -ENOMEM);
	assert_ctx_clean(ctx);
	/* -ENOMEM: a level page larger than the largest run of frames (1 GiB). */
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_TABLE_BYTES, UIOMMU_LIMIT_NONE), 0);
	assert_true(uiommu_tce_table_size(16, 12, TiB, 1) == 4 * GiB);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, TiB, 1, &tbl), -ENOMEM);
	assert_ctx_clean(ctx);
	assert_null(tbl);
	test_ctx_free(ctx);
}

static void test_new_info(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_tce_table *tbl;
	struct uiommu_tce_table_info info;

	(void)state;
	/* A 64 KiB window of 4 KiB pages on a 64 KiB host: one host page of TCEs. */
	assert_int_equal(uiommu_tce_table_new(ctx, UIOMMU_TCE_BUS_OFFSET_64, 12, 64 * KiB, 1, &tbl),
			 0);
	info = table_info(tbl);
	assert_true(info.size == sizeof(info));
	assert_int_equal(info.page_shift, 12);
	assert_int_equal(info.levels, 1);
	assert_int_equal(info.level_shift, 16);
	assert_int_equal(info.host_page_shift, 16);
	assert_true(info.bus_offset == 1ULL << 59);
	assert_true(info.it_offset == 1ULL << 47);
	assert_true(info.window_size == 64 * KiB);
	assert_true(info.it_size == 8192); /* larger than the 16 pages asked for */
	assert_true(info.it_level_size == 8192);
	assert_true(info.allocated_size == uiommu_tce_table_size(16, 12, 64 * KiB, 1));
	assert_true(info.level_bytes == 2 * 64 * KiB);
	assert_true(info.base_hpa >= UIOMMU_HPA_LIBRARY_BASE && info.ua_base_hpa != info.base_hpa);
	assert_ptr_equal(uiommu_tce_table_ctx(tbl), ctx);
	/* The whole it_size is usable, as Linux reports it. */
	assert_int_equal(uiommu_tce_table_check_ioba(tbl, (1ULL << 59) + 8191 * 4096, 1), 0);
	/* -EINVAL */
	assert_int_equal(uiommu_tce_table_info(tbl, NULL), -EINVAL);
	info.size = 4;
	assert_int_equal(uiommu_tce_table_info(tbl, &info), -EINVAL);
	{
		struct {
			struct uiommu_tce_table_info i;
			uint64_t future;
		} big = { .i.size = sizeof(big), .future = 7 };

		assert_int_equal(uiommu_tce_table_info(tbl, &big.i), 0);
		assert_true(big.future == 0 && big.i.it_size == 8192);
	}
	uiommu_tce_table_unref(tbl);
	test_ctx_free(ctx);
}

static void test_ref_unref(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_tce_table *tbl;
	uint64_t tce;

	(void)state;
	assert_null(uiommu_tce_table_unref(NULL));
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 16, GiB, 2, &tbl), 0);
	assert_ptr_equal(uiommu_tce_table_ref(tbl), tbl);
	assert_ptr_equal(uiommu_tce_table_ref(tbl), tbl);
	assert_int_equal(uiommu_tce_table_xchg(tbl, 77, 1ULL << 40, UIOMMU_DMA_TO_DEVICE, NULL,
					       NULL), 0);
	assert_null(uiommu_tce_table_unref(tbl));
	assert_null(uiommu_tce_table_unref(tbl));
	/* Still alive with the last reference, levels and all. */
	assert_int_equal(uiommu_tce_table_get(tbl, 77, &tce), 0);
	assert_true(tce == ((1ULL << 40) | UIOMMU_TCE_READ));
	assert_true(ctx_usage(ctx, UIOMMU_RES_WINDOWS) == 1);
	/* The last one frees every level, even with mappings left, and uncharges. */
	uiommu_tce_table_unref(tbl);
	test_ctx_free(ctx);
}

/* ---- entries ---- */

struct kills {
	int calls;
	uint64_t entry, npages;
	struct uiommu_tce_table *tbl;
};

static void count_kill(void *opaque, struct uiommu_tce_table *tbl, uint64_t entry,
		       uint64_t npages)
{
	struct kills *k = opaque;

	k->calls++;
	k->entry = entry;
	k->npages = npages;
	k->tbl = tbl;
}

static void test_directions(void **state)
{
	(void)state;
	assert_int_equal(uiommu_tce_direction(0), UIOMMU_DMA_NONE);
	assert_int_equal(uiommu_tce_direction(1), UIOMMU_DMA_TO_DEVICE);
	assert_int_equal(uiommu_tce_direction(2), UIOMMU_DMA_FROM_DEVICE);
	assert_int_equal(uiommu_tce_direction(3), UIOMMU_DMA_BIDIRECTIONAL);
	assert_int_equal(uiommu_tce_direction(0x12345000 | 3), UIOMMU_DMA_BIDIRECTIONAL);
	assert_true(uiommu_tce_perm(UIOMMU_DMA_BIDIRECTIONAL) == 3);
	assert_true(uiommu_tce_perm(UIOMMU_DMA_TO_DEVICE) == 1);
	assert_true(uiommu_tce_perm(UIOMMU_DMA_FROM_DEVICE) == 2); /* the direction, not storage */
	assert_true(uiommu_tce_perm(UIOMMU_DMA_NONE) == 0);
	assert_true(uiommu_tce_perm((enum uiommu_dma_dir)9) == 0);
	/* The permission bits are the device-view protections of types.h. */
	assert_true(UIOMMU_TCE_READ == UIOMMU_PROT_READ && UIOMMU_TCE_WRITE == UIOMMU_PROT_WRITE);
}

static void test_xchg(void **state)
{
	struct uiommu_ctx *ctx = ctx_with_host(12);
	struct uiommu_tce_table *tbl;
	struct kills k = { 0 };
	uint64_t hpa = 0, tce, e0 = (1ULL << 59) >> 16, before;
	enum uiommu_dma_dir dir = UIOMMU_DMA_BIDIRECTIONAL;

	(void)state;
	/* 64 KiB pages in the 64-bit window, 3 levels of 4 KiB. */
	assert_int_equal(uiommu_tce_table_new(ctx, UIOMMU_TCE_BUS_OFFSET_64, 16, 64 * GiB, 3, &tbl),
			 0);
	assert_int_equal(uiommu_tce_table_kill_link(tbl, count_kill, &k), 0);
	before = table_info(tbl).level_bytes;

	/* Clearing an entry whose levels are absent allocates nothing. */
	assert_int_equal(uiommu_tce_table_xchg(tbl, e0 + 5, 0, UIOMMU_DMA_NONE, &hpa, &dir), 0);
	assert_true(hpa == 0 && dir == UIOMMU_DMA_NONE);
	assert_true(table_info(tbl).level_bytes == before);
	assert_int_equal(k.calls, 1); /* xchg kills, even when nothing changed (as Linux) */
	assert_true(k.entry == e0 + 5 && k.npages == 1 && k.tbl == tbl);

	/* The no-kill form's own checks: outside the table, misaligned, NONE with an hpa. */
	assert_int_equal(uiommu_tce_table_xchg_no_kill(tbl, e0 - 1, 0x10000, UIOMMU_DMA_TO_DEVICE,
						       NULL, NULL), -EINVAL);
	assert_int_equal(uiommu_tce_table_xchg_no_kill(tbl, e0, 0x10001, UIOMMU_DMA_TO_DEVICE,
						       NULL, NULL), -EINVAL);
	assert_int_equal(uiommu_tce_table_xchg_no_kill(tbl, e0, 0x10000, UIOMMU_DMA_NONE, NULL,
						       NULL), -EINVAL);
	assert_int_equal(uiommu_tce_table_xchg_no_kill(tbl, e0, 0x10000, (enum uiommu_dma_dir)9,
						       NULL, NULL), -EINVAL);

	/* Mapping allocates the two levels under the first. */
	assert_int_equal(uiommu_tce_table_xchg_no_kill(tbl, e0 + 5, 0x123450000,
						       UIOMMU_DMA_FROM_DEVICE, &hpa, &dir), 0);
	assert_true(hpa == 0 && dir == UIOMMU_DMA_NONE);
	assert_true(table_info(tbl).level_bytes == before + 2 * 4096);
	assert_int_equal(k.calls, 1); /* no kill */
	/* Write implies read: stored R|W, so it comes back BIDIRECTIONAL. */
	assert_int_equal(uiommu_tce_table_get(tbl, e0 + 5, &tce), 0);
	assert_true(tce == (0x123450000 | UIOMMU_TCE_READ | UIOMMU_TCE_WRITE));
	assert_int_equal(uiommu_tce_table_xchg(tbl, e0 + 5, 0x777770000, UIOMMU_DMA_TO_DEVICE, &hpa,
					       &dir), 0);
	assert_true(hpa == 0x123450000 && dir == UIOMMU_DMA_BIDIRECTIONAL);
	assert_int_equal(uiommu_tce_table_get(tbl, e0 + 5, &tce), 0);
	assert_true(tce == (0x777770000 | UIOMMU_TCE_READ));
	assert_int_equal(uiommu_tce_table_xchg(tbl, e0 + 5, 0, UIOMMU_DMA_NONE, &hpa, &dir), 0);
	assert_true(hpa == 0x777770000 && dir == UIOMMU_DMA_TO_DEVICE);
	assert_int_equal(uiommu_tce_table_get(tbl, e0 + 5, &tce), 0);
	assert_true(tce == 0);
	/* The out parameters are optional. */
	assert_int_equal(uiommu_tce_table_xchg(tbl, e0, 1ULL << 51, UIOMMU_DMA_BIDIRECTIONAL, NULL,
					       NULL), 0);
	assert_int_equal(k.calls, 4);

	/* -EINVAL, and out parameters untouched. */
	hpa = 42;
	dir = (enum uiommu_dma_dir)42;
	assert_int_equal(uiommu_tce_table_xchg(tbl, e0 - 1, 0x10000, UIOMMU_DMA_TO_DEVICE, &hpa,
					       &dir), -EINVAL);
	assert_int_equal(uiommu_tce_table_xchg(tbl, e0 + (1 << 20), 0x10000, UIOMMU_DMA_TO_DEVICE,
					       &hpa, &dir), -EINVAL);
	assert_int_equal(uiommu_tce_table_xchg(tbl, 0, 0x10000, UIOMMU_DMA_TO_DEVICE, &hpa, &dir),
			 -EINVAL);
	assert_int_equal(uiommu_tce_table_xchg(tbl, e0, 0x11000, UIOMMU_DMA_TO_DEVICE, &hpa, &dir),
			 -EINVAL); /* not aligned to the 64 KiB page */
	assert_int_equal(uiommu_tce_table_xchg(tbl, e0, UIOMMU_HPA_LIMIT, UIOMMU_DMA_TO_DEVICE,
					       &hpa, &dir), -EINVAL);
	assert_int_equal(uiommu_tce_table_xchg(tbl, e0, 0x10000, (enum uiommu_dma_dir)4, &hpa, &dir),
			 -EINVAL);
	assert_int_equal(uiommu_tce_table_xchg(tbl, e0, 0x10000, UIOMMU_DMA_NONE, &hpa, &dir),
			 -EINVAL); /* unlike Linux, no hpa|0 "poison" entries */
	assert_int_equal(uiommu_tce_table_get(tbl, e0 - 1, &tce), -EINVAL);
	assert_int_equal(uiommu_tce_table_get(tbl, e0 + (1 << 20), &tce), -EINVAL);
	assert_true(hpa == 42 && dir == 42);
	assert_int_equal(k.calls, 4); /* failures kill nothing */
	assert_int_equal(uiommu_tce_table_get(tbl, e0, NULL), 0);

	uiommu_tce_table_unref(tbl);
	test_ctx_free(ctx);
}

static void test_xchg_enomem(void **state)
{
	struct uiommu_ctx *ctx = ctx_with_host(12);
	struct uiommu_tce_table *tbl;
	uint64_t tce = 1, ua = 1;

	(void)state;
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, 64 * GiB, 3, &tbl), 0);
	/* Room for one more 4 KiB level page: the path needs two. */
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_FRAME_BYTES, 3 * 4096), 0);
	assert_int_equal(uiommu_tce_table_xchg(tbl, 99, 0x1000, UIOMMU_DMA_BIDIRECTIONAL, NULL,
					       NULL), -ENOMEM);
	assert_int_equal(uiommu_tce_table_get(tbl, 99, &tce), 0);
	assert_true(tce == 0);
	/* The middle level stayed (as in Linux), empty. */
	assert_true(table_info(tbl).level_bytes == 3 * 4096);
	assert_int_equal(uiommu_tce_table_xchg_no_kill(tbl, 99, 0x1000, UIOMMU_DMA_TO_DEVICE, NULL,
						       NULL), -ENOMEM);
	assert_int_equal(uiommu_tce_table_ua_xchg(tbl, 99, 0xabc000, NULL), -ENOMEM);
	assert_int_equal(uiommu_tce_table_ua_get(tbl, 99, &ua), 0);
	assert_true(ua == 0);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_FRAME_BYTES, GiB), 0);
	assert_int_equal(uiommu_tce_table_xchg(tbl, 99, 0x1000, UIOMMU_DMA_BIDIRECTIONAL, NULL,
					       NULL), 0);
	assert_true(table_info(tbl).level_bytes == 4 * 4096);
	uiommu_tce_table_unref(tbl);
	test_ctx_free(ctx);
}

static void test_translate(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_tce_table *tbl;
	uint64_t hpa = 1, base = UIOMMU_TCE_BUS_OFFSET_64, page = 16 * MiB;
	unsigned int prot = 9;

	(void)state;
	/* 16 MiB pages, 2 levels. */
	assert_int_equal(uiommu_tce_table_new(ctx, base, 24, 64 * GiB, 2, &tbl), 0);
	assert_int_equal(uiommu_tce_table_xchg(tbl, (base >> 24) + 3, 3 * GiB,
					       UIOMMU_DMA_TO_DEVICE, NULL, NULL), 0);
	assert_int_equal(uiommu_tce_table_xchg(tbl, (base >> 24) + 4, 5 * GiB,
					       UIOMMU_DMA_FROM_DEVICE, NULL, NULL), 0);
	/* The byte's hpa: the page's hpa plus the offset in the 16 MiB page. */
	assert_int_equal(uiommu_tce_table_translate(tbl, base + 3 * page + 0x123456, &hpa, &prot),
			 0);
	assert_true(hpa == 3 * GiB + 0x123456);
	assert_int_equal(prot, UIOMMU_PROT_READ);
	assert_int_equal(uiommu_tce_table_translate(tbl, base + 5 * page - 1, &hpa, &prot), 0);
	assert_true(hpa == 5 * GiB + page - 1);
	assert_int_equal(prot, UIOMMU_PROT_READ | UIOMMU_PROT_WRITE); /* write implies read */
	assert_int_equal(uiommu_tce_table_translate(tbl, base + 3 * page, NULL, NULL), 0);
	/* -EFAULT: an empty entry, and an entry whose level was never allocated. */
	hpa = 1;
	prot = 9;
	assert_int_equal(uiommu_tce_table_translate(tbl, base + 5 * page, &hpa, &prot), -EFAULT);
	assert_int_equal(uiommu_tce_table_translate(tbl, base + 64 * GiB - 1, &hpa, &prot),
			 -EFAULT);
	/* -ERANGE: outside the window, at both ends and far away. */
	assert_int_equal(uiommu_tce_table_translate(tbl, base - 1, &hpa, &prot), -ERANGE);
	/* The window is it_size pages: 8192 (a 64 KiB host page of TCEs), 128 GiB. */
	assert_true(table_info(tbl).it_size == 8192);
	assert_int_equal(uiommu_tce_table_translate(tbl, base + 128 * GiB - 1, &hpa, &prot),
			 -EFAULT);
	assert_int_equal(uiommu_tce_table_translate(tbl, base + 128 * GiB, &hpa, &prot), -ERANGE);
	assert_int_equal(uiommu_tce_table_translate(tbl, 0, &hpa, &prot), -ERANGE);
	assert_int_equal(uiommu_tce_table_translate(tbl, UINT64_MAX, &hpa, &prot), -ERANGE);
	assert_true(hpa == 1 && prot == 9);
	uiommu_tce_table_unref(tbl);

	/* A window at the very top of the bus: no wrap-around anywhere. */
	assert_int_equal(uiommu_tce_table_new(ctx, 0 - GiB, 12, GiB, 2, &tbl), 0);
	assert_int_equal(uiommu_tce_table_xchg(tbl, (0 - GiB) >> 12, 0x5000, UIOMMU_DMA_TO_DEVICE,
					       NULL, NULL), 0);
	assert_int_equal(uiommu_tce_table_xchg(tbl, UINT64_MAX >> 12, 0x6000,
					       UIOMMU_DMA_BIDIRECTIONAL, NULL, NULL), 0);
	assert_int_equal(uiommu_tce_table_translate(tbl, 0 - GiB + 7, &hpa, &prot), 0);
	assert_true(hpa == 0x5007);
	assert_int_equal(uiommu_tce_table_translate(tbl, UINT64_MAX, &hpa, &prot), 0);
	assert_true(hpa == 0x6fff);
	assert_int_equal(uiommu_tce_table_translate(tbl, 0, &hpa, &prot), -ERANGE);
	assert_int_equal(uiommu_tce_table_translate(tbl, 0 - GiB - 1, &hpa, &prot), -ERANGE);
	uiommu_tce_table_unref(tbl);

	/* 16 GiB pages: one entry is one naturally aligned 16 GiB of hpa. */
	assert_int_equal(uiommu_tce_table_new(ctx, base, 34, TiB, 1, &tbl), 0);
	assert_int_equal(uiommu_tce_table_xchg(tbl, (base >> 34) + 1, 16 * GiB,
					       UIOMMU_DMA_BIDIRECTIONAL, NULL, NULL), 0);
	assert_int_equal(uiommu_tce_table_translate(tbl, base + 16 * GiB + 12345 * MiB, &hpa,
						    &prot), 0);
	assert_true(hpa == 16 * GiB + 12345 * MiB);
	uiommu_tce_table_unref(tbl);
	test_ctx_free(ctx);
}

static void test_check_ioba(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_tce_table *tbl;
	uint64_t base = UIOMMU_TCE_BUS_OFFSET_64, n = GiB >> 16; /* entries */

	(void)state;
	assert_int_equal(uiommu_tce_table_new(ctx, base, 16, GiB, 1, &tbl), 0);
	assert_int_equal(uiommu_tce_table_check_ioba(tbl, base, 1), 0);
	assert_int_equal(uiommu_tce_table_check_ioba(tbl, base, n), 0);
	assert_int_equal(uiommu_tce_table_check_ioba(tbl, base + GiB - 65536, 1), 0);
	/* The whole range is checked: Linux's iommu_tce_check_ioba() passed these. */
	assert_int_equal(uiommu_tce_table_check_ioba(tbl, base, n + 1), -EINVAL);
	assert_int_equal(uiommu_tce_table_check_ioba(tbl, base + GiB - 65536, 2), -EINVAL);
	assert_int_equal(uiommu_tce_table_check_ioba(tbl, base + 65536, UINT64_MAX), -EINVAL);
	assert_int_equal(uiommu_tce_table_check_ioba(tbl, base + 65536, UINT64_MAX >> 16),
			 -EINVAL); /* npages << shift would wrap */
	/* The rest, as Linux: misaligned, below, past the end; and npages 0. */
	assert_int_equal(uiommu_tce_table_check_ioba(tbl, base + 4096, 1), -EINVAL);
	assert_int_equal(uiommu_tce_table_check_ioba(tbl, base - 65536, 1), -EINVAL);
	assert_int_equal(uiommu_tce_table_check_ioba(tbl, base + GiB, 1), -EINVAL);
	assert_int_equal(uiommu_tce_table_check_ioba(tbl, 0, 1), -EINVAL);
	assert_int_equal(uiommu_tce_table_check_ioba(tbl, base, 0), -EINVAL);
	assert_int_equal(uiommu_tce_table_check_ioba(tbl, UINT64_MAX & ~0xffffULL, 1), -EINVAL);
	uiommu_tce_table_unref(tbl);
	test_ctx_free(ctx);
}

struct cleared {
	int calls;
	uint64_t entries[8], hpas[8];
	enum uiommu_dma_dir dirs[8];
};

static void record_clear(void *opaque, uint64_t entry, uint64_t old_hpa,
			 enum uiommu_dma_dir old_dir)
{
	struct cleared *c = opaque;

	if (c->calls < 8) {
		c->entries[c->calls] = entry;
		c->hpas[c->calls] = old_hpa;
		c->dirs[c->calls] = old_dir;
	}
	c->calls++;
}

static void test_clear(void **state)
{
	struct uiommu_ctx *ctx = ctx_with_host(12);
	struct uiommu_tce_table *tbl;
	struct kills k = { 0 };
	struct cleared c = { 0 };
	uint64_t n = 0, tce, before, e0 = UIOMMU_TCE_BUS_OFFSET_64 >> 12;

	(void)state;
	/* 1 TiB of 4 KiB pages, 4 levels: 2^28 entries. */
	assert_int_equal(uiommu_tce_table_new(ctx, UIOMMU_TCE_BUS_OFFSET_64, 12, TiB, 4, &tbl), 0);
	assert_int_equal(uiommu_tce_table_kill_link(tbl, count_kill, &k), 0);
	assert_int_equal(uiommu_tce_table_xchg_no_kill(tbl, e0 + 10, 0x1000, UIOMMU_DMA_TO_DEVICE,
						       NULL, NULL), 0);
	assert_int_equal(uiommu_tce_table_xchg_no_kill(tbl, e0 + 511, 0x2000,
						       UIOMMU_DMA_FROM_DEVICE, NULL, NULL), 0);
	assert_int_equal(uiommu_tce_table_xchg_no_kill(tbl, e0 + (1ULL << 27), 0x3000,
						       UIOMMU_DMA_BIDIRECTIONAL, NULL, NULL), 0);
	assert_int_equal(uiommu_tce_table_xchg_no_kill(tbl, e0 + (1ULL << 28) - 1, 0x4000,
						       UIOMMU_DMA_BIDIRECTIONAL, NULL, NULL), 0);
	before = table_info(tbl).level_bytes;

	/* A range whose levels are absent: nothing cleared, nothing allocated, one kill. */
	assert_int_equal(uiommu_tce_table_clear(tbl, e0 + 4096, 1ULL << 20, record_clear, &c, &n),
			 0);
	assert_true(n == 0 && c.calls == 0);
	assert_true(table_info(tbl).level_bytes == before);
	assert_true(k.calls == 1 && k.entry == e0 + 4096 && k.npages == 1ULL << 20);

	/* Part of a page: only what is inside. */
	assert_int_equal(uiommu_tce_table_clear(tbl, e0 + 11, 500, record_clear, &c, &n), 0);
	assert_true(n == 0);
	assert_int_equal(uiommu_tce_table_clear(tbl, e0 + 11, 501, record_clear, &c, &n), 0);
	assert_true(n == 1 && c.calls == 1);
	assert_true(c.entries[0] == e0 + 511 && c.hpas[0] == 0x2000 &&
		    c.dirs[0] == UIOMMU_DMA_BIDIRECTIONAL);

	/* The whole window: the rest, in entry order, one kill, no allocation. */
	c.calls = 0;
	assert_int_equal(uiommu_tce_table_clear(tbl, e0, 1ULL << 28, record_clear, &c, &n), 0);
	assert_true(n == 3 && c.calls == 3);
	assert_true(c.entries[0] == e0 + 10 && c.hpas[0] == 0x1000 &&
		    c.dirs[0] == UIOMMU_DMA_TO_DEVICE);
	assert_true(c.entries[1] == e0 + (1ULL << 27) && c.entries[2] == e0 + (1ULL << 28) - 1);
	assert_true(k.calls == 4 && k.entry == e0 && k.npages == 1ULL << 28);
	assert_int_equal(uiommu_tce_table_get(tbl, e0 + 10, &tce), 0);
	assert_true(tce == 0);
	assert_true(table_info(tbl).level_bytes == before); /* levels stay until the table goes */
	/* Callback and count are optional. */
	assert_int_equal(uiommu_tce_table_clear(tbl, e0, 1, NULL, NULL, NULL), 0);

	/* -EINVAL: npages 0, past the end, outside; nothing killed. */
	n = 42;
	assert_int_equal(uiommu_tce_table_clear(tbl, e0, 0, NULL, NULL, &n), -EINVAL);
	assert_int_equal(uiommu_tce_table_clear(tbl, e0 + 1, 1ULL << 28, NULL, NULL, &n), -EINVAL);
	assert_int_equal(uiommu_tce_table_clear(tbl, e0 - 1, 2, NULL, NULL, &n), -EINVAL);
	assert_int_equal(uiommu_tce_table_clear(tbl, e0 + 5, UINT64_MAX, NULL, NULL, &n), -EINVAL);
	assert_true(n == 42 && k.calls == 5);
	uiommu_tce_table_unref(tbl);
	test_ctx_free(ctx);
}

static void test_userspace_shadow(void **state)
{
	struct uiommu_ctx *ctx = ctx_with_host(12);
	struct uiommu_tce_table *tbl;
	uint64_t ua = 1, old = 1, before, tce;

	(void)state;
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, 64 * GiB, 3, &tbl), 0);
	before = table_info(tbl).level_bytes;
	/* Zero into an absent level: nothing allocated. */
	assert_int_equal(uiommu_tce_table_ua_xchg(tbl, 1000, 0, &old), 0);
	assert_true(old == 0 && table_info(tbl).level_bytes == before);
	assert_int_equal(uiommu_tce_table_ua_get(tbl, 1000, &ua), 0);
	assert_true(ua == 0);
	/* A user address: its own levels, the hardware table untouched. */
	assert_int_equal(uiommu_tce_table_ua_xchg(tbl, 1000, 0x7f0012345000, &old), 0);
	assert_true(old == 0 && table_info(tbl).level_bytes == before + 2 * 4096);
	assert_int_equal(uiommu_tce_table_get(tbl, 1000, &tce), 0);
	assert_true(tce == 0);
	assert_int_equal(uiommu_tce_table_ua_xchg(tbl, 1000, 0x7f0099999000, &old), 0);
	assert_true(old == 0x7f0012345000);
	assert_int_equal(uiommu_tce_table_ua_get(tbl, 1000, &ua), 0);
	assert_true(ua == 0x7f0099999000);
	assert_int_equal(uiommu_tce_table_ua_xchg(tbl, 1000, 0, NULL), 0);
	assert_int_equal(uiommu_tce_table_ua_get(tbl, 1000, &ua), 0);
	assert_true(ua == 0);
	/* Stored big-endian in host frames, like the table. */
	assert_int_equal(uiommu_tce_table_ua_xchg(tbl, 0, 0x0102030405060708ULL, NULL), 0);
	{
		struct uiommu_tce_table_info info = table_info(tbl);
		uint64_t *root, l1, *lvl1, l2;
		unsigned char *leaf;

		assert_int_equal(uiommu_hpa_to_hva(ctx, info.ua_base_hpa, 4096, (void **)&root), 0);
		l1 = be64toh(root[0]);
		assert_true((l1 & 3) == 3);
		assert_int_equal(uiommu_hpa_to_hva(ctx, l1 & ~3ULL, 4096, (void **)&lvl1), 0);
		l2 = be64toh(lvl1[0]);
		assert_int_equal(uiommu_hpa_to_hva(ctx, l2 & ~3ULL, 4096, (void **)&leaf), 0);
		for (int i = 0; i < 8; i++)
			assert_int_equal(leaf[i], i + 1);
	}
	/* -EINVAL */
	assert_int_equal(uiommu_tce_table_ua_xchg(tbl, 1ULL << 24, 1, NULL), -EINVAL);
	assert_int_equal(uiommu_tce_table_ua_get(tbl, 1ULL << 24, &ua), -EINVAL);
	assert_int_equal(uiommu_tce_table_ua_get(tbl, 5, NULL), 0);
	uiommu_tce_table_unref(tbl);
	test_ctx_free(ctx);
}

/*
 * uiommu_tce_table_get_range() against uiommu_tce_table_get() and
 * uiommu_tce_table_ua_get() of each entry: ranges starting and ending
 * inside a level page, across pages, over absent levels, shorter and
 * longer than eight words; a flat table; every error, which writes nothing.
 */
static void check_range(const struct uiommu_tce_table *tbl, uint64_t entry, uint64_t npages)
{
	static uint64_t tces[2048], uas[2048];

	assert_true(npages <= NELEMS(tces));
	memset(tces, 0xa5, sizeof(tces));
	memset(uas, 0xa5, sizeof(uas));
	assert_int_equal(uiommu_tce_table_get_range(tbl, entry, npages, tces, uas), 0);
	for (uint64_t k = 0; k < npages; k++) {
		uint64_t tce = 1, ua = 1;

		assert_int_equal(uiommu_tce_table_get(tbl, entry + k, &tce), 0);
		assert_int_equal(uiommu_tce_table_ua_get(tbl, entry + k, &ua), 0);
		assert_true(tces[k] == tce && uas[k] == ua);
	}
	/* Nothing written past the range. */
	assert_true(npages == NELEMS(tces) || (tces[npages] == 0xa5a5a5a5a5a5a5a5ULL &&
					       uas[npages] == 0xa5a5a5a5a5a5a5a5ULL));
	/* Either array alone gives the same words. */
	assert_int_equal(uiommu_tce_table_get_range(tbl, entry, npages, NULL, uas), 0);
	assert_int_equal(uiommu_tce_table_get_range(tbl, entry, npages, tces, NULL), 0);
}

static void test_get_range(void **state)
{
	struct uiommu_ctx *ctx = ctx_with_host(12);
	struct uiommu_tce_table *tbl;
	uint64_t e0 = (1ULL << 59) >> 12, tce = 7, end, seed = test_seed();

	(void)state;
	/* 4 KiB pages in the 64-bit window, 3 levels of 512 entries. */
	assert_int_equal(uiommu_tce_table_new(ctx, UIOMMU_TCE_BUS_OFFSET_64, 12, 64 * GiB, 3, &tbl),
			 0);
	end = e0 + table_info(tbl).it_size;
	/* Entries in the leaves of [e0, e0 + 1536), none in [e0 + 1536, e0 + 2048). */
	for (uint64_t k = 0; k < 1536; k++) {
		if (test_rand(&seed) % 3 == 0)
			continue;
		assert_int_equal(uiommu_tce_table_xchg(tbl, e0 + k, (1 + k) << 12,
						       UIOMMU_DMA_BIDIRECTIONAL, NULL, NULL), 0);
		if (k % 5)
			assert_int_equal(uiommu_tce_table_ua_xchg(tbl, e0 + k,
								  0x7f0000000000 + (k << 12), NULL),
					 0);
	}
	/* And the last entry of the table, far away. */
	assert_int_equal(uiommu_tce_table_xchg(tbl, end - 1, 0x5000, UIOMMU_DMA_TO_DEVICE, NULL,
					       NULL), 0);
	check_range(tbl, e0, 2048);
	check_range(tbl, e0 + 3, 5);
	check_range(tbl, e0 + 1, 8);
	check_range(tbl, e0 + 500, 30);
	check_range(tbl, e0 + 511, 1027);
	check_range(tbl, e0 + 1530, 17);
	check_range(tbl, end - 2048, 2048);
	check_range(tbl, end - 1, 1);
	for (int i = 0; i < 200; i++) {
		uint64_t first = e0 + test_rand(&seed) % 2048;

		check_range(tbl, first, 1 + test_rand(&seed) % 2048 % (e0 + 2048 - first));
	}
	/* -EINVAL, nothing written: npages of 0, below the table, past its end, wrapping. */
	assert_int_equal(uiommu_tce_table_get_range(tbl, e0, 0, &tce, NULL), -EINVAL);
	assert_int_equal(uiommu_tce_table_get_range(tbl, e0 - 1, 1, &tce, NULL), -EINVAL);
	assert_int_equal(uiommu_tce_table_get_range(tbl, end - 1, 2, &tce, NULL), -EINVAL);
	assert_int_equal(uiommu_tce_table_get_range(tbl, end, 1, &tce, NULL), -EINVAL);
	assert_int_equal(uiommu_tce_table_get_range(tbl, e0 + 1, UINT64_MAX, &tce, NULL),
			 -EINVAL);
	assert_true(tce == 7);
	assert_int_equal(uiommu_tce_table_get_range(tbl, e0, 4, NULL, NULL), 0);
	uiommu_tce_table_unref(tbl);

	/* A flat table: one level page, every range inside it. */
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, 16 * MiB, 1, &tbl), 0);
	for (uint64_t k = 0; k < 2048; k += 3)
		assert_int_equal(uiommu_tce_table_xchg(tbl, k, (1 + k) << 12,
						       UIOMMU_DMA_FROM_DEVICE, NULL, NULL), 0);
	check_range(tbl, 0, 2048);
	check_range(tbl, 7, 9);
	check_range(tbl, table_info(tbl).it_size - 2048, 2048);
	uiommu_tce_table_unref(tbl);
	test_ctx_free(ctx);
}

/* ---- kill callbacks ---- */

static void test_kill_links(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_tce_table *tbl;
	struct kills k[UIOMMU_TCE_KILL_LINKS_MAX + 1] = { { 0 } };

	(void)state;
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, GiB, 1, &tbl), 0);
	/* No link: kill is a no-op, but still checks its range. */
	assert_int_equal(uiommu_tce_table_kill(tbl, 0, 1), 0);
	assert_int_equal(uiommu_tce_table_kill(tbl, 0, 0), -EINVAL);
	assert_int_equal(uiommu_tce_table_kill(tbl, (GiB >> 12) - 1, 2), -EINVAL);
	assert_int_equal(uiommu_tce_table_kill(tbl, GiB >> 12, 1), -EINVAL);

	assert_int_equal(uiommu_tce_table_kill_link(tbl, count_kill, &k[0]), 0);
	assert_int_equal(uiommu_tce_table_kill_link(tbl, count_kill, &k[1]), 0);
	assert_int_equal(uiommu_tce_table_kill_link(tbl, count_kill, &k[0]), -EEXIST);
	assert_int_equal(uiommu_tce_table_kill_link(tbl, NULL, &k[2]), -EINVAL);
	assert_int_equal(uiommu_tce_table_kill(tbl, 100, 50), 0);
	assert_true(k[0].calls == 1 && k[1].calls == 1);
	assert_true(k[0].entry == 100 && k[0].npages == 50 && k[1].tbl == tbl);

	/* Unlinked: never called again; the slot is reused. */
	assert_int_equal(uiommu_tce_table_kill_unlink(tbl, count_kill, &k[0]), 0);
	assert_int_equal(uiommu_tce_table_kill_unlink(tbl, count_kill, &k[0]), -ENOENT);
	assert_int_equal(uiommu_tce_table_kill_unlink(tbl, NULL, &k[0]), -ENOENT);
	assert_int_equal(uiommu_tce_table_kill(tbl, 7, 1), 0);
	assert_true(k[0].calls == 1 && k[1].calls == 2);

	/* At most UIOMMU_TCE_KILL_LINKS_MAX. */
	for (unsigned int i = 2; i <= UIOMMU_TCE_KILL_LINKS_MAX; i++)
		assert_int_equal(uiommu_tce_table_kill_link(tbl, count_kill, &k[i]), 0);
	assert_int_equal(uiommu_tce_table_kill_link(tbl, count_kill, &k[0]), -ENOSPC);
	assert_int_equal(uiommu_tce_table_kill(tbl, 1, 1), 0);
	for (unsigned int i = 1; i <= UIOMMU_TCE_KILL_LINKS_MAX; i++)
		assert_int_equal(k[i].calls, i == 1 ? 3 : 1);
	assert_int_equal(uiommu_tce_table_kill_unlink(tbl, count_kill, &k[UIOMMU_TCE_KILL_LINKS_MAX]),
			 0);
	assert_int_equal(uiommu_tce_table_kill_link(tbl, count_kill, &k[0]), 0);
	/* The last reference drops whatever is still linked. */
	uiommu_tce_table_unref(tbl);
	test_ctx_free(ctx);
}

/* ---- a table as a PHB sees it ---- */

struct mapping {
	uint64_t entry, tce;
};

/*
 * In a child process, walk the table by hpa with pread(2) on the library's
 * memfd only, as a PHB (or a device emulator in another process) would:
 * report every TCE found, and read the data of the first mapping through
 * the RAM region's memfd.
 */
static void child_walk(int out, int lib_fd, uint64_t lib_hpa, uint64_t lib_off, int ram_fd,
		       uint64_t ram_hpa, uint64_t ram_off, uint64_t root, unsigned int levels,
		       unsigned int level_shift, uint64_t it_offset, uint64_t depth_base,
		       unsigned int depth)
{
	uint64_t n = 1ULL << (level_shift - 3), below = levels - 1 - depth;
	uint64_t *page = malloc(n * 8);

	if (!page || pread(lib_fd, page, n * 8, (off_t)(root - lib_hpa + lib_off)) != (ssize_t)(n * 8))
		_exit(10);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t v = be64toh(page[i]);
		uint64_t idx = depth_base + (i << (below * (level_shift - 3)));

		if (!v)
			continue;
		if (below) {
			if ((v & 3) != 3)
				_exit(11);
			child_walk(out, lib_fd, lib_hpa, lib_off, ram_fd, ram_hpa, ram_off, v & ~3ULL,
				   levels, level_shift, it_offset, idx, depth + 1);
		} else {
			struct mapping m = { it_offset + idx, v };
			char data[16];

			if (write(out, &m, sizeof(m)) != sizeof(m))
				_exit(12);
			/* The page's data, through the RAM's fd: what the device would DMA. */
			if (pread(ram_fd, data, 16, (off_t)((v & ~0xfffULL) - ram_hpa + ram_off)) != 16 ||
			    memcmp(data, "page-", 5))
				_exit(13);
		}
	}
	free(page);
}

static void walk_in_child(unsigned int host, unsigned int ps, uint64_t window,
			  unsigned int levels)
{
	struct uiommu_ctx *ctx = ctx_with_host(host);
	struct uiommu_tce_table *tbl;
	struct uiommu_tce_table_info info;
	struct mapping want[64], got;
	uint64_t ram_hpa, lib_off, ram_off, rng = test_seed() + ps, page = 1ULL << ps, found = 0;
	char *ram;
	int lib_fd, ram_fd, pipefd[2], status, nwant = 0;
	pid_t pid;

	assert_int_equal(uiommu_ram_create(ctx, 64 * page, &ram_hpa, (void **)&ram), 0);
	assert_int_equal(uiommu_tce_table_new(ctx, UIOMMU_TCE_BUS_OFFSET_64, ps, window, levels,
					      &tbl), 0);
	info = table_info(tbl);
	/* Scattered entries, each mapping a distinct page of RAM that says which it is. */
	for (int i = 0; i < 64; i++) {
		uint64_t idx = test_rand(&rng) % info.it_size, hpa = ram_hpa + (uint64_t)i * page;
		enum uiommu_dma_dir dir = (enum uiommu_dma_dir)(test_rand(&rng) % 3);
		uint64_t old;

		snprintf(ram + (uint64_t)i * page, 16, "page-%d", i);
		assert_int_equal(uiommu_tce_table_xchg(tbl, info.it_offset + idx, hpa, dir, &old,
						       NULL), 0);
		if (old) { /* the same index twice: the later mapping wins */
			for (int j = 0; j < nwant; j++)
				if (want[j].entry == info.it_offset + idx)
					want[j] = want[--nwant];
		}
		want[nwant++] = (struct mapping){ info.it_offset + idx,
						  hpa | (dir == UIOMMU_DMA_TO_DEVICE ? 1 : 3) };
	}
	assert_int_equal(uiommu_ram_get_fd(ctx, info.base_hpa, &lib_fd, &lib_off, NULL), 0);
	lib_off -= info.base_hpa - UIOMMU_HPA_LIBRARY_BASE; /* offset of the region's first hpa */
	assert_int_equal(uiommu_ram_get_fd(ctx, ram_hpa, &ram_fd, &ram_off, NULL), 0);
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pipefd[0]);
		child_walk(pipefd[1], lib_fd, UIOMMU_HPA_LIBRARY_BASE, lib_off, ram_fd, ram_hpa,
			   ram_off, info.base_hpa, info.levels, info.level_shift, info.it_offset, 0,
			   0);
		_exit(0);
	}
	close(pipefd[1]);
	while (read(pipefd[0], &got, sizeof(got)) == sizeof(got)) {
		bool match = false;

		for (int j = 0; j < nwant; j++)
			match |= want[j].entry == got.entry && want[j].tce == got.tce;
		if (!match)
			fail_msg("the walk found entry 0x%llx = 0x%llx, not mapped",
				 (unsigned long long)got.entry, (unsigned long long)got.tce);
		found++;
	}
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(found == (uint64_t)nwant);
	print_message("host %u KiB, %u-level table of 2^%u pages: %llu mappings found by raw "
		      "reads in another process\n", (1u << host) >> 10, levels, ps,
		      (unsigned long long)found);
	uiommu_tce_table_unref(tbl);
	assert_int_equal(uiommu_ram_remove(ctx, ram_hpa), 0);
	test_ctx_free(ctx);
}

static void test_raw_walk(void **state)
{
	(void)state;
	walk_in_child(16, 12, 2 * GiB, 1);
	walk_in_child(16, 16, TiB, 2);
	walk_in_child(12, 12, 64 * GiB, 3);
	walk_in_child(12, 16, TiB, 4);
	walk_in_child(16, 21, 64 * GiB, 1); /* 2 MiB pages */
}

/* ---- memory ---- */

/* A full table takes exactly what uiommu_tce_table_size() charged for it. */
static void test_full_table_is_its_size(void **state)
{
	static const struct {
		unsigned int host, ps;
		uint64_t window;
		unsigned int levels;
	} v[] = {
		{ 12, 12, 4 * MiB, 1 }, { 12, 12, 4 * MiB, 2 }, { 12, 12, 4 * MiB, 3 },
		{ 12, 12, 4 * MiB, 4 }, { 12, 12, 64 * MiB, 2 }, { 16, 16, 512 * MiB, 1 },
		{ 16, 16, 512 * MiB, 2 }, { 16, 12, 4 * KiB, 1 }, { 12, 12, 4 * KiB, 3 },
	};

	(void)state;
	for (size_t i = 0; i < NELEMS(v); i++) {
		struct uiommu_ctx *ctx = ctx_with_host(v[i].host);
		struct uiommu_tce_table *tbl;
		struct uiommu_tce_table_info info;

		assert_int_equal(uiommu_tce_table_new(ctx, 0, v[i].ps, v[i].window, v[i].levels,
						      &tbl), 0);
		info = table_info(tbl);
		for (uint64_t e = 0; e < info.it_size; e++) {
			assert_int_equal(uiommu_tce_table_xchg_no_kill(tbl, e, 1ULL << 40,
								       UIOMMU_DMA_TO_DEVICE, NULL,
								       NULL), 0);
			assert_int_equal(uiommu_tce_table_ua_xchg(tbl, e, 0x1000, NULL), 0);
		}
		info = table_info(tbl);
		if (info.level_bytes != info.allocated_size)
			fail_msg("host %u, ps %u, window 0x%llx, %u levels: full table holds %llu, "
				 "charged %llu", v[i].host, v[i].ps,
				 (unsigned long long)v[i].window, v[i].levels,
				 (unsigned long long)info.level_bytes,
				 (unsigned long long)info.allocated_size);
		assert_true(ctx_usage(ctx, UIOMMU_RES_FRAME_BYTES) == info.level_bytes);
		uiommu_tce_table_unref(tbl);
		test_ctx_free(ctx);
	}
}

static void sparse_window(unsigned int host, unsigned int levels)
{
	struct uiommu_ctx *ctx = ctx_with_host(host);
	struct uiommu_tce_table *tbl;
	struct uiommu_tce_table_info info;
	uint64_t rng = test_seed(), e0 = UIOMMU_TCE_BUS_OFFSET_64 >> 16, cleared, mapped = 0;
	uint64_t empty, flat, page = 1ULL << host;

	assert_int_equal(uiommu_tce_table_new(ctx, UIOMMU_TCE_BUS_OFFSET_64, 16, TiB, levels, &tbl),
			 0);
	info = table_info(tbl);
	empty = info.level_bytes;
	flat = info.it_size * 8; /* one flat level of the window's TCEs */
	for (int i = 0; i < 1000; i++) {
		uint64_t old;

		assert_int_equal(uiommu_tce_table_xchg_no_kill(tbl, e0 + test_rand(&rng) % info.it_size,
							       (uint64_t)(i + 1) << 16,
							       UIOMMU_DMA_BIDIRECTIONAL, &old, NULL), 0);
		mapped += !old;
	}
	info = table_info(tbl);
	print_message("1 TiB window of 64 KiB pages, %u levels of %llu KiB, %llu mappings: "
		      "charged %llu bytes (flat table %llu), holds %llu bytes "
		      "(%llu when empty, %llu per mapping)\n",
		      levels, (unsigned long long)(1ULL << info.level_shift) >> 10,
		      (unsigned long long)mapped, (unsigned long long)info.allocated_size,
		      (unsigned long long)flat, (unsigned long long)info.level_bytes,
		      (unsigned long long)empty,
		      (unsigned long long)((info.level_bytes - empty) / mapped));
	/* Proportional to the mappings: at most a path of level pages per mapping ... */
	assert_true(info.level_bytes - empty <= mapped * (levels - 1) * (1ULL << info.level_shift));
	/* ... and far below the window's flat table when level pages are small. */
	if (page == 4096)
		assert_true(info.level_bytes < flat / 16);
	assert_true(ctx_usage(ctx, UIOMMU_RES_FRAME_BYTES) == info.level_bytes);
	/* Clearing the whole window finds them all and allocates nothing. */
	assert_int_equal(uiommu_tce_table_clear(tbl, e0, info.it_size, NULL, NULL, &cleared), 0);
	assert_true(cleared == mapped);
	assert_true(table_info(tbl).level_bytes == info.level_bytes);
	uiommu_tce_table_unref(tbl);
	test_ctx_free(ctx);
}

static void test_sparse_1tib(void **state)
{
	(void)state;
	/* 4 levels are within the 55-bit rule only with 4 KiB level pages... */
	sparse_window(12, 4);
	/* ... on a 64 KiB host (13 bits a level), 2 levels is the most for 64 KiB pages. */
	sparse_window(16, 2);
}

/* The fast-path exchanges never allocate; populate gives them their levels. */
static void test_no_alloc_and_populate(void **state)
{
	struct uiommu_ctx *ctx = ctx_with_host(12);
	struct uiommu_tce_table *tbl, *flat;
	enum uiommu_dma_dir dir = UIOMMU_DMA_BIDIRECTIONAL;
	uint64_t old = 1, tce = 0, ua = 1, frames;
	/* 4 KiB pages, 3 levels of 512 entries: a last-level page covers 512 entries. */
	const uint64_t e0 = 1000, n = 1100;

	(void)state;
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, 64 * GiB, 3, &tbl), 0);
	frames = ctx_usage(ctx, UIOMMU_RES_FRAME_BYTES);
	/* Absent levels: -EAGAIN, nothing allocated, nothing changed. */
	assert_int_equal(uiommu_tce_table_xchg_no_alloc(tbl, e0, 0x1000, UIOMMU_DMA_TO_DEVICE, NULL,
							NULL), -EAGAIN);
	assert_int_equal(uiommu_tce_table_ua_xchg_no_alloc(tbl, e0, 0xabc000, NULL), -EAGAIN);
	assert_true(ctx_usage(ctx, UIOMMU_RES_FRAME_BYTES) == frames);
	/* Clearing an absent entry is fine: it is empty. */
	assert_int_equal(uiommu_tce_table_xchg_no_alloc(tbl, e0, 0, UIOMMU_DMA_NONE, &old, &dir), 0);
	assert_true(old == 0 && dir == UIOMMU_DMA_NONE);
	assert_int_equal(uiommu_tce_table_ua_xchg_no_alloc(tbl, e0, 0, &ua), 0);
	assert_true(ua == 0);
	/* -EINVAL, as xchg_no_kill. */
	assert_int_equal(uiommu_tce_table_xchg_no_alloc(tbl, 1ULL << 40, 0x1000,
							UIOMMU_DMA_TO_DEVICE, NULL, NULL), -EINVAL);
	assert_int_equal(uiommu_tce_table_xchg_no_alloc(tbl, e0, 0x1001, UIOMMU_DMA_TO_DEVICE, NULL,
							NULL), -EINVAL);
	assert_int_equal(uiommu_tce_table_xchg_no_alloc(tbl, e0, 0x1000, UIOMMU_DMA_NONE, NULL,
							NULL), -EINVAL);
	assert_int_equal(uiommu_tce_table_xchg_no_alloc(tbl, e0, 0x1000, (enum uiommu_dma_dir)7,
							NULL, NULL), -EINVAL);
	assert_int_equal(uiommu_tce_table_ua_xchg_no_alloc(tbl, 1ULL << 40, 1, NULL), -EINVAL);
	/* populate: -EINVAL */
	assert_int_equal(uiommu_tce_table_populate(tbl, e0, 0, UIOMMU_TCE_POPULATE_HW), -EINVAL);
	assert_int_equal(uiommu_tce_table_populate(tbl, e0, n, 0), -EINVAL);
	assert_int_equal(uiommu_tce_table_populate(tbl, e0, n, 4), -EINVAL);
	assert_int_equal(uiommu_tce_table_populate(tbl, (1ULL << 24) - 1, 2,
						   UIOMMU_TCE_POPULATE_HW), -EINVAL);
	/* -ENOMEM: room for one level page; what was allocated stays, empty. */
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_FRAME_BYTES, frames + 4096), 0);
	assert_int_equal(uiommu_tce_table_populate(tbl, e0, n, UIOMMU_TCE_POPULATE_HW), -ENOMEM);
	assert_true(ctx_usage(ctx, UIOMMU_RES_FRAME_BYTES) == frames + 4096);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_FRAME_BYTES, GiB), 0);
	/*
	 * Entries 1000..2099 span last-level pages 1..4 (512 entries each),
	 * all under one middle-level page: 1 + 4 pages per tree.
	 */
	assert_int_equal(uiommu_tce_table_populate(tbl, e0, n, UIOMMU_TCE_POPULATE_HW), 0);
	assert_true(ctx_usage(ctx, UIOMMU_RES_FRAME_BYTES) == frames + 5 * 4096);
	assert_int_equal(uiommu_tce_table_populate(tbl, e0, n,
						   UIOMMU_TCE_POPULATE_HW | UIOMMU_TCE_POPULATE_UA), 0);
	assert_true(ctx_usage(ctx, UIOMMU_RES_FRAME_BYTES) == frames + 10 * 4096);
	/* Every entry of the range now exchanges without allocating. */
	for (uint64_t e = e0; e < e0 + n; e++) {
		assert_int_equal(uiommu_tce_table_xchg_no_alloc(tbl, e, e << 12,
								UIOMMU_DMA_FROM_DEVICE, &old,
								&dir), 0);
		assert_int_equal(uiommu_tce_table_ua_xchg_no_alloc(tbl, e, e << 20, NULL), 0);
	}
	assert_true(ctx_usage(ctx, UIOMMU_RES_FRAME_BYTES) == frames + 10 * 4096);
	assert_int_equal(uiommu_tce_table_get(tbl, e0 + n - 1, &tce), 0);
	assert_true(tce == (((e0 + n - 1) << 12) | UIOMMU_TCE_READ | UIOMMU_TCE_WRITE));
	assert_int_equal(uiommu_tce_table_ua_get(tbl, e0, &ua), 0);
	assert_true(ua == e0 << 20);
	/* The entry after the range is still absent. */
	assert_int_equal(uiommu_tce_table_xchg_no_alloc(tbl, 2560, 0x1000, UIOMMU_DMA_TO_DEVICE,
							NULL, NULL), -EAGAIN);
	/* No kill: the exchanges are for batches. */
	uiommu_tce_table_unref(tbl);
	/* A flat table has every level already. */
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, 64 * KiB, 1, &flat), 0);
	frames = ctx_usage(ctx, UIOMMU_RES_FRAME_BYTES);
	assert_int_equal(uiommu_tce_table_populate(flat, 0, 16, UIOMMU_TCE_POPULATE_HW), 0);
	assert_true(ctx_usage(ctx, UIOMMU_RES_FRAME_BYTES) == frames);
	assert_int_equal(uiommu_tce_table_xchg_no_alloc(flat, 3, 0x3000, UIOMMU_DMA_TO_DEVICE, NULL,
							NULL), 0);
	uiommu_tce_table_unref(flat);
	test_ctx_free(ctx);
}

/* The info's reference and link counts, and a caller that knows only the first version. */
static void kill_nop(void *opaque, struct uiommu_tce_table *tbl, uint64_t entry, uint64_t npages)
{
	(void)opaque;
	(void)tbl;
	(void)entry;
	(void)npages;
}

static void test_info_refs_links(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_tce_table *tbl;
	struct uiommu_tce_table_info info;
	int a, b;

	(void)state;
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, 64 * KiB, 1, &tbl), 0);
	info = table_info(tbl);
	assert_int_equal(info.refs, 1);
	assert_int_equal(info.kill_links, 0);
	uiommu_tce_table_ref(tbl);
	assert_int_equal(uiommu_tce_table_kill_link(tbl, kill_nop, &a), 0);
	assert_int_equal(uiommu_tce_table_kill_link(tbl, kill_nop, &b), 0);
	info = table_info(tbl);
	assert_int_equal(info.refs, 2);
	assert_int_equal(info.kill_links, 2);
	assert_int_equal(uiommu_tce_table_kill_unlink(tbl, kill_nop, &a), 0);
	assert_int_equal(table_info(tbl).kill_links, 1);
	/* The first version's size: filled up to refs, no further. */
	{
		struct uiommu_tce_table_info v1;

		memset(&v1, 0x5a, sizeof(v1));
		v1.size = (uint32_t)offsetof(struct uiommu_tce_table_info, refs);
		assert_int_equal(uiommu_tce_table_info(tbl, &v1), 0);
		assert_true(v1.size == offsetof(struct uiommu_tce_table_info, refs));
		assert_true(v1.ua_base_hpa == info.ua_base_hpa);
		assert_true(v1.refs == 0x5a5a5a5a && v1.kill_links == 0x5a5a5a5a);
	}
	assert_int_equal(uiommu_tce_table_kill_unlink(tbl, kill_nop, &b), 0);
	uiommu_tce_table_unref(tbl);
	uiommu_tce_table_unref(tbl);
	test_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_known_values),
		cmocka_unit_test(test_size_sweep),
		cmocka_unit_test(test_geometry),
		cmocka_unit_test(test_new_errors),
		cmocka_unit_test(test_new_info),
		cmocka_unit_test(test_ref_unref),
		cmocka_unit_test(test_directions),
		cmocka_unit_test(test_xchg),
		cmocka_unit_test(test_xchg_enomem),
		cmocka_unit_test(test_translate),
		cmocka_unit_test(test_check_ioba),
		cmocka_unit_test(test_clear),
		cmocka_unit_test(test_userspace_shadow),
		cmocka_unit_test(test_get_range),
		cmocka_unit_test(test_kill_links),
		cmocka_unit_test(test_raw_walk),
		cmocka_unit_test(test_full_table_is_its_size),
		cmocka_unit_test(test_sparse_1tib),
		cmocka_unit_test(test_no_alloc_and_populate),
		cmocka_unit_test(test_info_refs_links),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
