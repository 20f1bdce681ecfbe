// SPDX-License-Identifier: BSD-3-Clause
/*
 * PHBs, PEs, table groups and compound groups: every error listed in
 * uiommu/pe.h, the host configuration and ownership, windows and their
 * TVE rules, tables shared by reference with exact counts and links,
 * single-TVE PEs, compound groups with their capabilities, fan-out and
 * rollback, EEH, a table group implemented by the user, the EEH constants
 * against <linux/vfio.h>, and fault injection at every allocation.
 */
#include <linux/vfio.h>

#include "test_util.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

#define PS(n) (1ULL << (n))

static struct uiommu_phb *phb_new(struct uiommu_ctx *ctx, uint32_t domain, uint32_t flags,
				  uint64_t pgsizes)
{
	struct uiommu_phb_config cfg;
	struct uiommu_phb *phb = NULL;

	uiommu_phb_config_default(&cfg, domain);
	cfg.flags = flags;
	if (pgsizes)
		cfg.pgsizes = pgsizes;
	assert_int_equal(uiommu_phb_new(ctx, &cfg, &phb), 0);
	return phb;
}

static struct uiommu_pe *pe_new(struct uiommu_phb *phb, unsigned int n)
{
	struct uiommu_pe *pe = NULL;

	assert_int_equal(uiommu_pe_new(phb, n, &pe), 0);
	return pe;
}

static struct uiommu_tce_table_info tinfo(const struct uiommu_tce_table *tbl)
{
	struct uiommu_tce_table_info info = { .size = sizeof(info) };

	assert_int_equal(uiommu_tce_table_info(tbl, &info), 0);
	return info;
}

static struct uiommu_pe_info pinfo(const struct uiommu_pe *pe)
{
	struct uiommu_pe_info info = { .size = sizeof(info) };

	assert_int_equal(uiommu_pe_info(pe, &info), 0);
	return info;
}

/* ---- the constants are <linux/vfio.h>'s ---- */

static void test_vfio_constants(void **state)
{
	(void)state;
	assert_int_equal(UIOMMU_EEH_PE_DISABLE, VFIO_EEH_PE_DISABLE);
	assert_int_equal(UIOMMU_EEH_PE_ENABLE, VFIO_EEH_PE_ENABLE);
	assert_int_equal(UIOMMU_EEH_PE_UNFREEZE_IO, VFIO_EEH_PE_UNFREEZE_IO);
	assert_int_equal(UIOMMU_EEH_PE_UNFREEZE_DMA, VFIO_EEH_PE_UNFREEZE_DMA);
	assert_int_equal(UIOMMU_EEH_PE_GET_STATE, VFIO_EEH_PE_GET_STATE);
	assert_int_equal(UIOMMU_EEH_PE_RESET_DEACTIVATE, VFIO_EEH_PE_RESET_DEACTIVATE);
	assert_int_equal(UIOMMU_EEH_PE_RESET_HOT, VFIO_EEH_PE_RESET_HOT);
	assert_int_equal(UIOMMU_EEH_PE_RESET_FUNDAMENTAL, VFIO_EEH_PE_RESET_FUNDAMENTAL);
	assert_int_equal(UIOMMU_EEH_PE_CONFIGURE, VFIO_EEH_PE_CONFIGURE);
	assert_int_equal(UIOMMU_EEH_PE_INJECT_ERR, VFIO_EEH_PE_INJECT_ERR);
	assert_int_equal(UIOMMU_EEH_PE_STATE_NORMAL, VFIO_EEH_PE_STATE_NORMAL);
	assert_int_equal(UIOMMU_EEH_PE_STATE_RESET, VFIO_EEH_PE_STATE_RESET);
	assert_int_equal(UIOMMU_EEH_PE_STATE_STOPPED, VFIO_EEH_PE_STATE_STOPPED);
	assert_int_equal(UIOMMU_EEH_PE_STATE_STOPPED_DMA, VFIO_EEH_PE_STATE_STOPPED_DMA);
	assert_int_equal(UIOMMU_EEH_PE_STATE_UNAVAIL, VFIO_EEH_PE_STATE_UNAVAIL);
	/* struct uiommu_eeh_pe_err has vfio_eeh_pe_err's layout. */
	assert_int_equal(sizeof(struct uiommu_eeh_pe_err), sizeof(struct vfio_eeh_pe_err));
	assert_int_equal(offsetof(struct uiommu_eeh_pe_err, addr),
			 offsetof(struct vfio_eeh_pe_err, addr));
	assert_int_equal(offsetof(struct uiommu_eeh_pe_err, mask),
			 offsetof(struct vfio_eeh_pe_err, mask));
}

/* ---- PHBs ---- */

static void test_phb_errors(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_phb_config cfg, good;
	struct uiommu_phb *phb = NULL;
	struct {
		struct uiommu_phb_config c;
		uint64_t future;
	} big;

	(void)state;
	uiommu_phb_config_default(&good, 3);
	assert_int_equal(good.size, sizeof(good));
	assert_int_equal(uiommu_phb_new(NULL, &good, &phb), -EINVAL);
	assert_int_equal(uiommu_phb_new(ctx, NULL, &phb), -EINVAL);
	assert_int_equal(uiommu_phb_new(ctx, &good, NULL), -EINVAL);
#define BAD(field, value)                                                   \
	do {                                                                \
		cfg = good;                                                 \
		cfg.field = value;                                          \
		assert_int_equal(uiommu_phb_new(ctx, &cfg, &phb), -EINVAL); \
	} while (0)
	BAD(size, 8);
	BAD(flags, 2);
	BAD(reserved, 1);
	BAD(domain, 0x10000);
	BAD(num_pes, 0);
	BAD(num_pes, UIOMMU_PHB_MAX_PES + 1);
	BAD(tce32_size, 3 * GiB);	 /* not a power of two */
	BAD(tce32_size, 32 * KiB);	 /* too small */
	BAD(tce32_start, 64 * KiB);	 /* not aligned to the window */
	BAD(tce32_size, 8 * GiB);	 /* past 4 GiB */
	BAD(pgsizes, 0);
	BAD(pgsizes, PS(12) | PS(16) | PS(11));	/* outside 12..34 */
	BAD(pgsizes, PS(16) | PS(35));
	BAD(pgsizes, PS(12) | PS(24));	 /* no host page (64 KiB) */
	BAD(max_levels, 1);
	BAD(max_levels, 6);
	BAD(tce_cache_entries, 100);
	BAD(tce_cache_entries, UIOMMU_TCE_CACHE_MAX_ENTRIES * 2);
	BAD(tce_cache_entries, 0); /* with a mode that caches */
	BAD(tce_cache_mode, 3);
#undef BAD
	/* No cache is fine with the cache off. */
	cfg = good;
	cfg.tce_cache_entries = 0;
	cfg.tce_cache_mode = UIOMMU_TCE_CACHE_OFF;
	assert_int_equal(uiommu_phb_new(ctx, &cfg, &phb), 0);
	assert_int_equal(uiommu_phb_free(phb), 0);
	/* -E2BIG, and a larger struct with a zero tail is fine. */
	big.c = good;
	big.c.size = sizeof(big);
	big.future = 1;
	assert_int_equal(uiommu_phb_new(ctx, &big.c, &phb), -E2BIG);
	big.future = 0;
	assert_int_equal(uiommu_phb_new(ctx, &big.c, &phb), 0);
	assert_int_equal(uiommu_phb_free(phb), 0);
	/* -ENOSPC: the PHB limit. */
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_PHBS, 1), 0);
	assert_int_equal(uiommu_phb_new(ctx, &good, &phb), 0);
	{
		struct uiommu_phb *second;

		assert_int_equal(uiommu_phb_new(ctx, &good, &second), -ENOSPC);
	}
	assert_int_equal(uiommu_phb_free(phb), 0);
	assert_int_equal(uiommu_phb_free(NULL), 0);
	test_ctx_free(ctx);
}

/* ---- PEs and the host's configuration ---- */

static void test_pe_lifecycle(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_phb *phb = phb_new(ctx, 0x1a, 0, 0);
	struct uiommu_pe *pe, *other;
	struct uiommu_table_group *grp;
	struct uiommu_tce_table_info ti;
	struct uiommu_pe_info info;
	uint64_t table_size = uiommu_tce_table_size(16, 16, UIOMMU_PHB_DEFAULT_TCE32_SIZE,
						    UIOMMU_PE_DEFAULT_TABLE_LEVELS);

	(void)state;
	assert_int_equal(uiommu_pe_new(NULL, 0, &pe), -EINVAL);
	assert_int_equal(uiommu_pe_new(phb, 0, NULL), -EINVAL);
	assert_int_equal(uiommu_pe_new(phb, UIOMMU_PHB_DEFAULT_PES, &pe), -EINVAL);
	pe = pe_new(phb, 0x42);
	assert_int_equal(uiommu_pe_new(phb, 0x42, &other), -EEXIST);
	grp = uiommu_pe_table_group(pe);
	/* Capabilities (powernv's), name (Linux's). */
	assert_string_equal(grp->name, "domain26-pe42");
	assert_int_equal(grp->domain, 0x1a);
	assert_int_equal(grp->pe_number, 0x42);
	assert_ptr_equal(grp->ctx, ctx);
	assert_true(grp->tce32_start == 0 && grp->tce32_size == UIOMMU_PHB_DEFAULT_TCE32_SIZE);
	assert_true(grp->pgsizes == UIOMMU_PHB_DEFAULT_PGSIZES);
	assert_int_equal(grp->max_dynamic_windows_supported, 2);
	assert_int_equal(grp->max_levels, 5);
	/* Owned by the host: its default window and the bypass. */
	assert_non_null(grp->tables[0]);
	assert_null(grp->tables[1]);
	ti = tinfo(grp->tables[0]);
	assert_true(ti.bus_offset == 0 && ti.page_shift == 16 && ti.levels == 2);
	assert_true(ti.window_size == UIOMMU_PHB_DEFAULT_TCE32_SIZE);
	assert_int_equal(ti.refs, 1);	    /* the PE's */
	assert_int_equal(ti.kill_links, 1); /* the PE's */
	info = pinfo(pe);
	assert_int_equal(info.flags, UIOMMU_PE_BYPASS);
	assert_int_equal(info.domain, 0x1a);
	assert_int_equal(info.pe_number, 0x42);
	assert_int_equal(info.eeh_state, UIOMMU_EEH_PE_STATE_NORMAL);
	assert_int_equal(info.window_tables, 1);
	assert_int_equal(info.tce_cache_entries, UIOMMU_TCE_CACHE_DEFAULT_ENTRIES);
	assert_int_equal(info.tce_cache_mode, UIOMMU_TCE_CACHE_ON);
	/* Charges: one table group, one window, its table. */
	assert_true(ctx_usage(ctx, UIOMMU_RES_TABLE_GROUPS) == 1);
	assert_true(ctx_usage(ctx, UIOMMU_RES_WINDOWS) == 1);
	assert_true(ctx_usage(ctx, UIOMMU_RES_TABLE_BYTES) == table_size);
	/* uiommu_pe_info() -EINVAL */
	assert_int_equal(uiommu_pe_info(pe, NULL), -EINVAL);
	info.size = 4;
	assert_int_equal(uiommu_pe_info(pe, &info), -EINVAL);
	{
		struct {
			struct uiommu_pe_info i;
			uint64_t future;
		} big = { .i.size = sizeof(big), .future = 9 };

		assert_int_equal(uiommu_pe_info(pe, &big.i), 0);
		assert_true(big.future == 0 && big.i.pe_number == 0x42);
	}
	/* The PHB cannot go while it has PEs. */
	assert_int_equal(uiommu_phb_free(phb), -EBUSY);
	/* -EBUSY for a user-owned PE. */
	assert_int_equal(uiommu_table_group_take_ownership(grp), 0);
	assert_int_equal(uiommu_pe_free(pe), -EBUSY);
	assert_int_equal(uiommu_table_group_release_ownership(grp), 0);
	assert_int_equal(uiommu_pe_free(pe), 0);
	assert_int_equal(uiommu_pe_free(NULL), 0);
	assert_int_equal(uiommu_phb_free(phb), 0);
	test_ctx_free(ctx);
}

static void test_pe_limits(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_phb *phb = phb_new(ctx, 0, 0, 0);
	struct uiommu_pe *pe;
	uint64_t table_size = uiommu_tce_table_size(16, 16, UIOMMU_PHB_DEFAULT_TCE32_SIZE, 2);

	(void)state;
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_TABLE_GROUPS, 0), 0);
	assert_int_equal(uiommu_pe_new(phb, 0, &pe), -ENOSPC);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_TABLE_GROUPS, 10), 0);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_WINDOWS, 0), 0);
	assert_int_equal(uiommu_pe_new(phb, 0, &pe), -ENOSPC);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_WINDOWS, 10), 0);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_TABLE_BYTES, table_size - 1), 0);
	assert_int_equal(uiommu_pe_new(phb, 0, &pe), -ENOMEM);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_TABLE_BYTES, GiB), 0);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_FRAME_BYTES, 64 * KiB), 0);
	assert_int_equal(uiommu_pe_new(phb, 0, &pe), -ENOMEM);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_FRAME_BYTES, GiB), 0);
	/* Nothing was left by the refusals. */
	assert_true(ctx_usage(ctx, UIOMMU_RES_TABLE_GROUPS) == 0);
	assert_true(ctx_usage(ctx, UIOMMU_RES_WINDOWS) == 0);
	assert_true(ctx_usage(ctx, UIOMMU_RES_TABLE_BYTES) == 0);
	assert_true(ctx_usage(ctx, UIOMMU_RES_FRAME_BYTES) == 0);
	assert_int_equal(uiommu_phb_free(phb), 0);
	test_ctx_free(ctx);
}

/* ---- ownership ---- */

static void test_ownership(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_phb *phb = phb_new(ctx, 0, 0, 0);
	struct uiommu_pe *pe = pe_new(phb, 1);
	struct uiommu_table_group *grp = uiommu_pe_table_group(pe);
	struct uiommu_tce_table *host, *tbl;
	uint64_t host_bytes = ctx_usage(ctx, UIOMMU_RES_TABLE_BYTES);

	(void)state;
	assert_int_equal(uiommu_table_group_take_ownership(NULL), -EINVAL);
	assert_int_equal(uiommu_table_group_release_ownership(NULL), -EINVAL);
	/* Release what was not taken. */
	assert_int_equal(uiommu_table_group_release_ownership(grp), -EINVAL);
	/* A host-owned group's windows are the host's. */
	host = grp->tables[0];
	assert_int_equal(uiommu_table_group_unset_window(grp, 0), -EBUSY);
	assert_int_equal(uiommu_table_group_set_window(grp, 1, host), -EBUSY);
	uiommu_tce_table_ref(host);
	assert_int_equal(uiommu_table_group_take_ownership(grp), 0);
	/* Bypass off, window 0 unset: the host table lost the PE's reference and link. */
	assert_int_equal(pinfo(pe).flags, UIOMMU_PE_USER_OWNED);
	assert_null(grp->tables[0]);
	assert_int_equal(tinfo(host).refs, 1);
	assert_int_equal(tinfo(host).kill_links, 0);
	uiommu_tce_table_unref(host); /* the last: freed and uncharged now */
	assert_true(ctx_usage(ctx, UIOMMU_RES_TABLE_BYTES) == 0);
	assert_true(ctx_usage(ctx, UIOMMU_RES_WINDOWS) == 0);
	/* Double take. */
	assert_int_equal(uiommu_table_group_take_ownership(grp), -EBUSY);
	/* Release with a window still set. */
	assert_int_equal(uiommu_table_group_create_table(grp, 1, 16, GiB, 2, &tbl), 0);
	assert_int_equal(uiommu_table_group_set_window(grp, 1, tbl), 0);
	assert_int_equal(uiommu_table_group_release_ownership(grp), -EBUSY);
	assert_int_equal(uiommu_table_group_unset_window(grp, 1), 0);
	uiommu_tce_table_unref(tbl);
	/* Release fails when the default table cannot be made: still user-owned. */
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_TABLE_BYTES, host_bytes - 1), 0);
	assert_int_equal(uiommu_table_group_release_ownership(grp), -ENOMEM);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_TABLE_BYTES, GiB), 0);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_WINDOWS, 0), 0);
	assert_int_equal(uiommu_table_group_release_ownership(grp), -ENOSPC);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_WINDOWS, 100), 0);
	assert_int_equal(pinfo(pe).flags, UIOMMU_PE_USER_OWNED);
	assert_true(ctx_usage(ctx, UIOMMU_RES_TABLE_BYTES) == 0);
	/* Release restores the host configuration. */
	assert_int_equal(uiommu_table_group_release_ownership(grp), 0);
	assert_int_equal(pinfo(pe).flags, UIOMMU_PE_BYPASS);
	assert_non_null(grp->tables[0]);
	assert_true(tinfo(grp->tables[0]).page_shift == 16);
	assert_true(ctx_usage(ctx, UIOMMU_RES_TABLE_BYTES) == host_bytes);
	assert_int_equal(uiommu_pe_free(pe), 0);
	assert_int_equal(uiommu_phb_free(phb), 0);
	test_ctx_free(ctx);
}

/* ---- windows ---- */

static void test_create_table(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_phb *phb = phb_new(ctx, 0, 0, 0);
	struct uiommu_pe *pe = pe_new(phb, 2);
	struct uiommu_table_group *grp = uiommu_pe_table_group(pe);
	struct uiommu_tce_table *tbl;
	struct uiommu_tce_table_info ti;
	uint64_t bytes;

	(void)state;
	assert_int_equal(uiommu_table_group_take_ownership(grp), 0);
	/* get_table_size: as uiommu_tce_table_size() on the context's host page. */
	assert_true(uiommu_table_group_get_table_size(grp, 16, GiB, 2) ==
		    uiommu_tce_table_size(16, 16, GiB, 2));
	assert_true(uiommu_table_group_get_table_size(grp, 21, GiB, 2) == 0); /* 2M not offered */
	assert_true(uiommu_table_group_get_table_size(grp, 16, GiB, 6) == 0);
	assert_true(uiommu_table_group_get_table_size(grp, 16, 3 * GiB, 2) == 0);
	assert_true(uiommu_table_group_get_table_size(NULL, 16, GiB, 2) == 0);
	/* The platform picks the bus offset. */
	assert_int_equal(uiommu_table_group_create_table(grp, 0, 12, GiB, 1, &tbl), 0);
	ti = tinfo(tbl);
	assert_true(ti.bus_offset == 0 && ti.page_shift == 12 && ti.refs == 1 && !ti.kill_links);
	bytes = ctx_usage(ctx, UIOMMU_RES_TABLE_BYTES);
	assert_true(bytes == uiommu_tce_table_size(16, 12, GiB, 1));
	uiommu_tce_table_unref(tbl);
	assert_int_equal(uiommu_table_group_create_table(grp, 1, 24, 64 * GiB, 2, &tbl), 0);
	assert_true(tinfo(tbl).bus_offset == UIOMMU_PE_BUS_OFFSET_64);
	uiommu_tce_table_unref(tbl);
	/* -EINVAL */
	assert_int_equal(uiommu_table_group_create_table(NULL, 0, 12, GiB, 1, &tbl), -EINVAL);
	assert_int_equal(uiommu_table_group_create_table(grp, 0, 12, GiB, 1, NULL), -EINVAL);
	assert_int_equal(uiommu_table_group_create_table(grp, 2, 12, GiB, 1, &tbl), -EINVAL);
	assert_int_equal(uiommu_table_group_create_table(grp, -1, 12, GiB, 1, &tbl), -EINVAL);
	assert_int_equal(uiommu_table_group_create_table(grp, 1, 21, GiB, 1, &tbl), -EINVAL);
	assert_int_equal(uiommu_table_group_create_table(grp, 1, 99, GiB, 1, &tbl), -EINVAL);
	assert_int_equal(uiommu_table_group_create_table(grp, 1, 16, GiB, 6, &tbl), -EINVAL);
	assert_int_equal(uiommu_table_group_create_table(grp, 1, 16, 3 * GiB, 2, &tbl), -EINVAL);
	assert_int_equal(uiommu_table_group_create_table(grp, 1, 16, GiB, 0, &tbl), -EINVAL);
	/* Windows that reach 55 bits of bus address (so no window can leave its TVE). */
	assert_int_equal(uiommu_table_group_create_table(grp, 0, 28, 1ULL << 60, 2, &tbl), -EINVAL);
	assert_int_equal(uiommu_table_group_create_table(grp, 1, 28, 1ULL << 60, 2, &tbl), -EINVAL);
	/* -ENOSPC and -ENOMEM: the table's charges. */
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_WINDOWS, 0), 0);
	assert_int_equal(uiommu_table_group_create_table(grp, 1, 16, GiB, 2, &tbl), -ENOSPC);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_WINDOWS, 100), 0);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_TABLE_BYTES, 4 * KiB), 0);
	assert_int_equal(uiommu_table_group_create_table(grp, 1, 16, GiB, 2, &tbl), -ENOMEM);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_TABLE_BYTES, GiB), 0);
	assert_int_equal(uiommu_table_group_release_ownership(grp), 0);
	assert_int_equal(uiommu_pe_free(pe), 0);
	assert_int_equal(uiommu_phb_free(phb), 0);
	test_ctx_free(ctx);
}

static void test_set_unset_window(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new(), *ctx2 = test_ctx_new();
	struct uiommu_phb *phb = phb_new(ctx, 0, 0, PS(12) | PS(16));
	struct uiommu_pe *pe = pe_new(phb, 3), *pe2 = pe_new(phb, 4);
	struct uiommu_table_group *grp = uiommu_pe_table_group(pe);
	struct uiommu_table_group *grp2 = uiommu_pe_table_group(pe2);
	struct uiommu_tce_table *w0, *w1, *t, *foreign;
	struct uiommu_tce_table_info ti;

	(void)state;
	assert_int_equal(uiommu_table_group_take_ownership(grp), 0);
	assert_int_equal(uiommu_table_group_take_ownership(grp2), 0);
	assert_int_equal(uiommu_table_group_create_table(grp, 0, 12, 256 * MiB, 1, &w0), 0);
	assert_int_equal(uiommu_table_group_create_table(grp, 1, 16, 16 * GiB, 2, &w1), 0);
	/* -EINVAL */
	assert_int_equal(uiommu_table_group_set_window(NULL, 0, w0), -EINVAL);
	assert_int_equal(uiommu_table_group_set_window(grp, 0, NULL), -EINVAL);
	assert_int_equal(uiommu_table_group_set_window(grp, 2, w0), -EINVAL);
	assert_int_equal(uiommu_table_group_set_window(grp, 1, w0), -EINVAL); /* below 2^59 */
	assert_int_equal(uiommu_table_group_set_window(grp, 0, w1), -EINVAL); /* above it */
	assert_int_equal(uiommu_tce_table_new(ctx2, 0, 12, 64 * KiB, 1, &foreign), 0);
	assert_int_equal(uiommu_table_group_set_window(grp, 0, foreign), -EINVAL);
	uiommu_tce_table_unref(foreign);
	assert_int_equal(uiommu_tce_table_new(ctx, 0, 24, 16 * MiB, 1, &t), 0); /* 16M: not offered */
	assert_int_equal(uiommu_table_group_set_window(grp, 0, t), -EINVAL);
	uiommu_tce_table_unref(t);
	{
		/* More levels than the PHB allows. */
		struct uiommu_phb_config c2;
		struct uiommu_phb *two;
		struct uiommu_pe *p2;

		uiommu_phb_config_default(&c2, 5);
		c2.max_levels = 2;
		assert_int_equal(uiommu_phb_new(ctx, &c2, &two), 0);
		p2 = pe_new(two, 0);
		assert_int_equal(uiommu_table_group_take_ownership(uiommu_pe_table_group(p2)), 0);
		assert_int_equal(uiommu_tce_table_new(ctx, UIOMMU_PE_BUS_OFFSET_64, 12, 64 * GiB, 3,
						      &t), 0);
		assert_int_equal(uiommu_table_group_set_window(uiommu_pe_table_group(p2), 1, t),
				 -EINVAL);
		assert_int_equal(uiommu_table_group_create_table(uiommu_pe_table_group(p2), 1, 12,
								 64 * GiB, 3, &foreign), -EINVAL);
		uiommu_tce_table_unref(t);
		assert_int_equal(uiommu_table_group_release_ownership(uiommu_pe_table_group(p2)), 0);
		assert_int_equal(uiommu_pe_free(p2), 0);
		assert_int_equal(uiommu_phb_free(two), 0);
	}
	/* Set: the group holds a reference and a link, tables[] shows it. */
	assert_int_equal(uiommu_table_group_set_window(grp, 0, w0), 0);
	assert_int_equal(uiommu_table_group_set_window(grp, 1, w1), 0);
	assert_ptr_equal(grp->tables[0], w0);
	assert_ptr_equal(grp->tables[1], w1);
	assert_int_equal(pinfo(pe).window_tables, 3);
	ti = tinfo(w0);
	assert_true(ti.refs == 2 && ti.kill_links == 1);
	/* -EBUSY: window in use. */
	assert_int_equal(uiommu_table_group_set_window(grp, 0, w0), -EBUSY);
	/* Shared by reference: the same table backs window 1 of another group. */
	assert_int_equal(uiommu_table_group_set_window(grp2, 1, w1), 0);
	ti = tinfo(w1);
	assert_true(ti.refs == 3 && ti.kill_links == 2);
	/* find_table: which table serves a bus address, and the default window. */
	{
		struct uiommu_tce_table *found = NULL;
		int num = -1;

		assert_int_equal(uiommu_table_group_find_table(grp, 0x1000, &num, &found), 0);
		assert_ptr_equal(found, w0);
		assert_int_equal(num, 0);
		assert_int_equal(tinfo(w0).refs, 3); /* found with a reference */
		uiommu_tce_table_unref(found);
		assert_int_equal(uiommu_table_group_find_table(grp, UIOMMU_PE_BUS_OFFSET_64 + GiB,
							       &num, &found), 0);
		assert_ptr_equal(found, w1);
		assert_int_equal(num, 1);
		uiommu_tce_table_unref(found);
		assert_int_equal(uiommu_table_group_find_table(grp, UIOMMU_TABLE_GROUP_DEFAULT_WINDOW,
							       NULL, &found), 0);
		assert_ptr_equal(found, w0);
		uiommu_tce_table_unref(found);
		assert_int_equal(uiommu_table_group_find_table(grp, 256 * MiB, &num, &found), -ENOENT);
		assert_int_equal(uiommu_table_group_find_table(grp2, 0, &num, &found), -ENOENT);
		assert_int_equal(uiommu_table_group_find_table(grp2, UIOMMU_TABLE_GROUP_DEFAULT_WINDOW,
							       &num, &found), -ENOENT);
		assert_int_equal(uiommu_table_group_find_table(NULL, 0, &num, &found), -EINVAL);
		assert_int_equal(uiommu_table_group_find_table(grp, 0, &num, NULL), -EINVAL);
	}
	/* Unset: -EINVAL, -ENOENT, then the references and links go exactly. */
	assert_int_equal(uiommu_table_group_unset_window(NULL, 0), -EINVAL);
	assert_int_equal(uiommu_table_group_unset_window(grp, 5), -EINVAL);
	assert_int_equal(uiommu_table_group_unset_window(grp2, 0), -ENOENT);
	assert_int_equal(uiommu_table_group_unset_window(grp, 1), 0);
	assert_null(grp->tables[1]);
	ti = tinfo(w1);
	assert_true(ti.refs == 2 && ti.kill_links == 1);
	assert_int_equal(uiommu_table_group_unset_window(grp, 1), -ENOENT);
	assert_int_equal(uiommu_table_group_unset_window(grp2, 1), 0);
	assert_int_equal(uiommu_table_group_unset_window(grp, 0), 0);
	assert_true(tinfo(w0).refs == 1 && tinfo(w1).refs == 1);
	/* The last put frees, and not before. */
	uiommu_tce_table_unref(w1);
	uiommu_tce_table_unref(w0);
	assert_true(ctx_usage(ctx, UIOMMU_RES_WINDOWS) == 0);
	assert_int_equal(uiommu_table_group_release_ownership(grp), 0);
	assert_int_equal(uiommu_table_group_release_ownership(grp2), 0);
	assert_int_equal(uiommu_pe_free(pe), 0);
	assert_int_equal(uiommu_pe_free(pe2), 0);
	assert_int_equal(uiommu_phb_free(phb), 0);
	test_ctx_free(ctx);
	test_ctx_free(ctx2);
}

/* -ENOSPC: a table linked to UIOMMU_TCE_KILL_LINKS_MAX callbacks already. */
static void kill_nop(void *opaque, struct uiommu_tce_table *tbl, uint64_t entry, uint64_t npages)
{
	(void)opaque;
	(void)tbl;
	(void)entry;
	(void)npages;
}

static void test_set_window_links_full(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_phb *phb = phb_new(ctx, 0, 0, 0);
	struct uiommu_pe *pe = pe_new(phb, 0);
	struct uiommu_table_group *grp = uiommu_pe_table_group(pe);
	static char tags[UIOMMU_TCE_KILL_LINKS_MAX];
	struct uiommu_tce_table *tbl;

	(void)state;
	assert_int_equal(uiommu_table_group_take_ownership(grp), 0);
	assert_int_equal(uiommu_table_group_create_table(grp, 1, 16, GiB, 2, &tbl), 0);
	for (unsigned int i = 0; i < UIOMMU_TCE_KILL_LINKS_MAX; i++)
		assert_int_equal(uiommu_tce_table_kill_link(tbl, kill_nop, &tags[i]), 0);
	assert_int_equal(uiommu_table_group_set_window(grp, 1, tbl), -ENOSPC);
	assert_null(grp->tables[1]);
	assert_int_equal(tinfo(tbl).refs, 1);
	for (unsigned int i = 0; i < UIOMMU_TCE_KILL_LINKS_MAX; i++)
		assert_int_equal(uiommu_tce_table_kill_unlink(tbl, kill_nop, &tags[i]), 0);
	uiommu_tce_table_unref(tbl);
	assert_int_equal(uiommu_table_group_release_ownership(grp), 0);
	assert_int_equal(uiommu_pe_free(pe), 0);
	assert_int_equal(uiommu_phb_free(phb), 0);
	test_ctx_free(ctx);
}

/* An NVLink bridge PE has one TVE: setting one window drops the other. */
static void test_single_tve(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_phb *phb = phb_new(ctx, 1, UIOMMU_PHB_NPU, 0);
	struct uiommu_pe *pe = pe_new(phb, 0);
	struct uiommu_table_group *grp = uiommu_pe_table_group(pe);
	struct uiommu_tce_table *w0, *w1, *bad;

	(void)state;
	assert_true(pinfo(pe).flags & UIOMMU_PE_SINGLE_TVE);
	/* Linux gives NPU PEs two dynamic windows anyway. */
	assert_int_equal(grp->max_dynamic_windows_supported, 2);
	assert_int_equal(uiommu_table_group_take_ownership(grp), 0);
	assert_int_equal(uiommu_table_group_create_table(grp, 0, 16, GiB, 2, &w0), 0);
	assert_int_equal(uiommu_table_group_create_table(grp, 1, 16, GiB, 2, &w1), 0);
	assert_int_equal(uiommu_table_group_set_window(grp, 0, w0), 0);
	/* A set that fails does not drop the other window (Linux's does). */
	assert_int_equal(uiommu_tce_table_new(ctx, UIOMMU_PE_BUS_OFFSET_64, 21, 2 * GiB, 1, &bad), 0);
	assert_int_equal(uiommu_table_group_set_window(grp, 1, bad), -EINVAL);
	assert_ptr_equal(grp->tables[0], w0);
	uiommu_tce_table_unref(bad);
	/* Setting window 1 silently drops window 0, with its reference and link. */
	assert_int_equal(uiommu_table_group_set_window(grp, 1, w1), 0);
	assert_null(grp->tables[0]);
	assert_ptr_equal(grp->tables[1], w1);
	assert_int_equal(pinfo(pe).window_tables, 2);
	assert_true(tinfo(w0).refs == 1 && tinfo(w0).kill_links == 0);
	assert_true(tinfo(w1).refs == 2 && tinfo(w1).kill_links == 1);
	/* And back. */
	assert_int_equal(uiommu_table_group_set_window(grp, 0, w0), 0);
	assert_null(grp->tables[1]);
	assert_int_equal(tinfo(w1).refs, 1);
	assert_int_equal(uiommu_table_group_unset_window(grp, 0), 0);
	uiommu_tce_table_unref(w0);
	uiommu_tce_table_unref(w1);
	assert_int_equal(uiommu_table_group_release_ownership(grp), 0);
	assert_int_equal(uiommu_pe_free(pe), 0);
	assert_int_equal(uiommu_phb_free(phb), 0);
	test_ctx_free(ctx);
}

/* ---- the TCE cache controls ---- */

static void test_tce_cache_mode(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_phb_config cfg;
	struct uiommu_phb *phb = phb_new(ctx, 0, 0, 0), *nocache;
	struct uiommu_pe *pe = pe_new(phb, 0), *pe2;
	uint64_t kills;

	(void)state;
	kills = pinfo(pe).kills;
	assert_int_equal(uiommu_pe_set_tce_cache_mode(pe, UIOMMU_TCE_CACHE_STRICT), 0);
	assert_int_equal(pinfo(pe).tce_cache_mode, UIOMMU_TCE_CACHE_STRICT);
	assert_true(pinfo(pe).kills == kills + 1); /* a flush */
	assert_int_equal(uiommu_pe_set_tce_cache_mode(pe, 3), -EINVAL);
	assert_int_equal(uiommu_pe_tce_cache_flush(pe), 0);
	assert_true(pinfo(pe).kills == kills + 2);
	/* A PHB without cache entries: only OFF. */
	uiommu_phb_config_default(&cfg, 1);
	cfg.tce_cache_entries = 0;
	cfg.tce_cache_mode = UIOMMU_TCE_CACHE_OFF;
	assert_int_equal(uiommu_phb_new(ctx, &cfg, &nocache), 0);
	pe2 = pe_new(nocache, 0);
	assert_int_equal(pinfo(pe2).tce_cache_entries, 0);
	assert_int_equal(uiommu_pe_set_tce_cache_mode(pe2, UIOMMU_TCE_CACHE_ON), -EINVAL);
	assert_int_equal(uiommu_pe_set_tce_cache_mode(pe2, UIOMMU_TCE_CACHE_OFF), 0);
	assert_int_equal(uiommu_pe_free(pe2), 0);
	assert_int_equal(uiommu_phb_free(nocache), 0);
	assert_int_equal(uiommu_pe_free(pe), 0);
	assert_int_equal(uiommu_phb_free(phb), 0);
	test_ctx_free(ctx);
}

/* ---- EEH ---- */

static int eeh(struct uiommu_table_group *grp, unsigned int op)
{
	return uiommu_table_group_eeh_op(grp, op, NULL);
}

static void test_eeh(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_phb *phb = phb_new(ctx, 0, 0, 0);
	struct uiommu_pe *pe = pe_new(phb, 0);
	struct uiommu_table_group *grp = uiommu_pe_table_group(pe);
	struct uiommu_eeh_pe_err err = { .type = UIOMMU_EEH_ERR_TYPE_64,
					 .func = UIOMMU_EEH_ERR_FUNC_MIN };

	(void)state;
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_GET_STATE), UIOMMU_EEH_PE_STATE_NORMAL);
	assert_false(pinfo(pe).flags & UIOMMU_PE_EEH_ENABLED);
	/* -EINVAL */
	assert_int_equal(uiommu_table_group_eeh_op(NULL, UIOMMU_EEH_PE_GET_STATE, NULL), -EINVAL);
	assert_int_equal(eeh(grp, 10), -EINVAL);
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_INJECT_ERR), -EINVAL); /* no error given */
	err.type = 2;
	assert_int_equal(uiommu_table_group_eeh_op(grp, UIOMMU_EEH_PE_INJECT_ERR, &err), -EINVAL);
	err.type = UIOMMU_EEH_ERR_TYPE_32;
	err.func = UIOMMU_EEH_ERR_FUNC_MAX + 1;
	assert_int_equal(uiommu_table_group_eeh_op(grp, UIOMMU_EEH_PE_INJECT_ERR, &err), -EINVAL);
	/* A load error with EEH disabled: nothing freezes. */
	err.func = UIOMMU_EEH_ERR_FUNC_MIN;
	assert_int_equal(uiommu_table_group_eeh_op(grp, UIOMMU_EEH_PE_INJECT_ERR, &err), 0);
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_GET_STATE), UIOMMU_EEH_PE_STATE_NORMAL);
	/* Enabled, it freezes MMIO and DMA. */
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_ENABLE), 0);
	assert_true(pinfo(pe).flags & UIOMMU_PE_EEH_ENABLED);
	assert_int_equal(uiommu_table_group_eeh_op(grp, UIOMMU_EEH_PE_INJECT_ERR, &err), 0);
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_GET_STATE), UIOMMU_EEH_PE_STATE_STOPPED);
	/* Thaw MMIO: DMA stopped only; thaw DMA: normal (eeh_pe_get_state()'s mapping). */
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_UNFREEZE_IO), 0);
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_GET_STATE), UIOMMU_EEH_PE_STATE_STOPPED_DMA);
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_UNFREEZE_DMA), 0);
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_GET_STATE), UIOMMU_EEH_PE_STATE_NORMAL);
	/* The other order: MMIO stopped, DMA enabled is "unavailable". */
	assert_int_equal(uiommu_table_group_eeh_op(grp, UIOMMU_EEH_PE_INJECT_ERR, &err), 0);
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_UNFREEZE_DMA), 0);
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_GET_STATE), UIOMMU_EEH_PE_STATE_UNAVAIL);
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_UNFREEZE_IO), 0);
	/* Resets: frozen and in reset until deactivated; then normal. */
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_RESET_HOT), 0);
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_GET_STATE), UIOMMU_EEH_PE_STATE_RESET);
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_UNFREEZE_DMA), 0); /* reset dominates */
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_GET_STATE), UIOMMU_EEH_PE_STATE_RESET);
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_CONFIGURE), 0);
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_RESET_DEACTIVATE), 0);
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_GET_STATE), UIOMMU_EEH_PE_STATE_NORMAL);
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_RESET_FUNDAMENTAL), 0);
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_GET_STATE), UIOMMU_EEH_PE_STATE_RESET);
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_RESET_DEACTIVATE), 0);
	/* The windows survive a reset. */
	assert_non_null(grp->tables[0]);
	/* Disable: errors no longer freeze. */
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_DISABLE), 0);
	assert_int_equal(uiommu_table_group_eeh_op(grp, UIOMMU_EEH_PE_INJECT_ERR, &err), 0);
	assert_int_equal(eeh(grp, UIOMMU_EEH_PE_GET_STATE), UIOMMU_EEH_PE_STATE_NORMAL);
	assert_int_equal(uiommu_pe_free(pe), 0);
	assert_int_equal(uiommu_phb_free(phb), 0);
	test_ctx_free(ctx);
}

/* ---- a table group the user implements ---- */

struct my_group {
	struct uiommu_table_group grp;
	int creates, sets;
};

static int my_create(struct uiommu_table_group *grp, int num, unsigned int page_shift,
		     uint64_t window_size, unsigned int levels, struct uiommu_tce_table **ret_tbl)
{
	struct my_group *g = (struct my_group *)grp;

	g->creates++;
	return uiommu_tce_table_new(grp->ctx, num ? 1ULL << 40 : 0, page_shift, window_size,
				    levels, ret_tbl);
}

static int my_set(struct uiommu_table_group *grp, int num, struct uiommu_tce_table *tbl)
{
	((struct my_group *)grp)->sets++;
	grp->tables[num] = uiommu_tce_table_ref(tbl);
	return 0;
}

static const struct uiommu_table_group_ops my_ops = {
	.create_table = my_create,
	.set_window = my_set,
};

static void test_user_group(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct my_group g;
	struct uiommu_tce_table *tbl, *found;

	(void)state;
	assert_int_equal(uiommu_table_group_init(NULL, ctx, &my_ops, 0, 0), -EINVAL);
	assert_int_equal(uiommu_table_group_init(&g.grp, NULL, &my_ops, 0, 0), -EINVAL);
	assert_int_equal(uiommu_table_group_init(&g.grp, ctx, NULL, 0, 0), -EINVAL);
	memset(&g, 0x77, sizeof(g));
	assert_int_equal(uiommu_table_group_init(&g.grp, ctx, &my_ops, 7, 0x1f), 0);
	assert_string_equal(g.grp.name, "domain7-pe1f");
	assert_null(g.grp.tables[0]);
	assert_true(g.grp.pgsizes == 0 && g.grp.reserved[3] == 0);
	g.creates = g.sets = 0;
	g.grp.pgsizes = PS(12);
	/* The wrappers drive the user's ops... */
	assert_int_equal(uiommu_table_group_create_table(&g.grp, 1, 12, MiB, 1, &tbl), 0);
	assert_int_equal(uiommu_table_group_set_window(&g.grp, 1, tbl), 0);
	assert_true(g.creates == 1 && g.sets == 1);
	assert_int_equal(uiommu_table_group_find_table(&g.grp, (1ULL << 40) + 0x5000, NULL, &found),
			 0);
	assert_ptr_equal(found, tbl);
	uiommu_tce_table_unref(found);
	/* ...and refuse what it lacks, as VFIO does. */
	assert_true(uiommu_table_group_get_table_size(&g.grp, 12, MiB, 1) == 0);
	assert_int_equal(uiommu_table_group_unset_window(&g.grp, 1), -EPERM);
	assert_int_equal(uiommu_table_group_take_ownership(&g.grp), -EPERM);
	assert_int_equal(uiommu_table_group_release_ownership(&g.grp), -EPERM);
	assert_int_equal(uiommu_table_group_eeh_op(&g.grp, UIOMMU_EEH_PE_GET_STATE, NULL), -ENODEV);
	{
		struct my_group empty;

		uiommu_table_group_init(&empty.grp, ctx, &(const struct uiommu_table_group_ops){ 0 },
					0, 0);
		assert_int_equal(uiommu_table_group_create_table(&empty.grp, 0, 12, MiB, 1, &found),
				 -EPERM);
		assert_int_equal(uiommu_table_group_set_window(&empty.grp, 0, tbl), -EPERM);
	}
	uiommu_tce_table_unref(g.grp.tables[1]);
	uiommu_tce_table_unref(tbl);
	test_ctx_free(ctx);
}

/* ---- compound groups ---- */

struct npu_sys {
	struct uiommu_ctx *ctx;
	struct uiommu_phb *gpu_phb, *npu_phb;
	struct uiommu_pe *gpu[3], *npu[3];
	struct uiommu_compound *comp;
	struct uiommu_table_group *grp;
};

/* A POWER9-like compound: 1 GPU + 1 NPU bridge, or more. */
static void npu_sys_new(struct npu_sys *s, unsigned int ngpu, unsigned int nnpu, uint64_t npu_pgsizes)
{
	memset(s, 0, sizeof(*s));
	s->ctx = test_ctx_new();
	s->gpu_phb = phb_new(s->ctx, 0, 0, PS(12) | PS(16) | PS(24));
	s->npu_phb = phb_new(s->ctx, 7, UIOMMU_PHB_NPU, npu_pgsizes);
	assert_int_equal(uiommu_compound_new(s->ctx, &s->comp), 0);
	s->grp = uiommu_compound_table_group(s->comp);
	for (unsigned int i = 0; i < ngpu; i++) {
		s->gpu[i] = pe_new(s->gpu_phb, 0x10 + i);
		assert_int_equal(uiommu_compound_attach(s->comp, s->gpu[i]), 0);
	}
	for (unsigned int i = 0; i < nnpu; i++) {
		s->npu[i] = pe_new(s->npu_phb, i);
		assert_int_equal(uiommu_compound_attach(s->comp, s->npu[i]), 0);
	}
}

static void npu_sys_free(struct npu_sys *s)
{
	assert_int_equal(uiommu_compound_free(s->comp), 0);
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(uiommu_pe_free(s->gpu[i]), 0);
		assert_int_equal(uiommu_pe_free(s->npu[i]), 0);
	}
	assert_int_equal(uiommu_phb_free(s->gpu_phb), 0);
	assert_int_equal(uiommu_phb_free(s->npu_phb), 0);
	test_ctx_free(s->ctx);
}

static void test_compound_attach(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new(), *ctx2 = test_ctx_new();
	struct uiommu_phb *gpus = phb_new(ctx, 0, 0, 0), *npus = phb_new(ctx, 1, UIOMMU_PHB_NPU,
									   PS(12) | PS(16));
	struct uiommu_phb *other = phb_new(ctx2, 0, 0, 0);
	struct uiommu_phb_config cfg;
	struct uiommu_phb *odd_phb, *pg_phb;
	struct uiommu_compound *comp, *comp2;
	struct uiommu_table_group *grp;
	struct uiommu_pe *pes[UIOMMU_COMPOUND_MAX_PES + 1], *npu, *foreign, *odd, *pg;

	(void)state;
	assert_int_equal(uiommu_compound_new(NULL, &comp), -EINVAL);
	assert_int_equal(uiommu_compound_new(ctx, NULL), -EINVAL);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_TABLE_GROUPS, 0), 0);
	assert_int_equal(uiommu_compound_new(ctx, &comp), -ENOSPC);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_TABLE_GROUPS, 100), 0);
	assert_int_equal(uiommu_compound_new(ctx, &comp), 0);
	grp = uiommu_compound_table_group(comp);
	assert_null(uiommu_compound_member(comp, 0));
	/* An empty compound has no create_table to delegate to (Linux: -EFAULT). */
	{
		struct uiommu_tce_table *t;

		assert_int_equal(uiommu_table_group_create_table(grp, 0, 12, MiB, 1, &t), -ENODEV);
		assert_int_equal(uiommu_table_group_take_ownership(grp), -ENODEV);
		assert_int_equal(uiommu_table_group_eeh_op(grp, UIOMMU_EEH_PE_GET_STATE, NULL), -ENODEV);
		assert_int_equal(uiommu_table_group_unset_window(grp, 0), -ENODEV);
		assert_int_equal(uiommu_table_group_release_ownership(grp), -ENODEV);
		assert_int_equal(uiommu_tce_table_new(ctx, 0, 12, MiB, 1, &t), 0);
		assert_int_equal(uiommu_table_group_set_window(grp, 0, t), -ENODEV);
		uiommu_tce_table_unref(t);
	}
	npu = pe_new(npus, 0);
	foreign = pe_new(other, 0);
	/* -EINVAL: NULLs, another context, an NVLink bridge first. */
	assert_int_equal(uiommu_compound_attach(NULL, npu), -EINVAL);
	assert_int_equal(uiommu_compound_attach(comp, NULL), -EINVAL);
	assert_int_equal(uiommu_compound_attach(comp, foreign), -EINVAL);
	assert_int_equal(uiommu_compound_attach(comp, npu), -EINVAL);
	/* Up to 16 members; the 17th is refused (Linux ignores it silently). */
	for (unsigned int i = 0; i <= UIOMMU_COMPOUND_MAX_PES; i++)
		pes[i] = pe_new(gpus, i);
	for (unsigned int i = 0; i < UIOMMU_COMPOUND_MAX_PES; i++)
		assert_int_equal(uiommu_compound_attach(comp, pes[i]), 0);
	assert_int_equal(uiommu_compound_attach(comp, pes[UIOMMU_COMPOUND_MAX_PES]), -ENOSPC);
	assert_ptr_equal(uiommu_compound_member(comp, 15), pes[15]);
	assert_null(uiommu_compound_member(comp, 16));
	/* Registered under its first GPU PE. */
	assert_string_equal(grp->name, "domain0-pe0");
	assert_true(pinfo(pes[3]).flags & UIOMMU_PE_COMPOUND_MEMBER);
	/* -EBUSY: a member elsewhere, an owned PE, an owned compound. */
	assert_int_equal(uiommu_compound_new(ctx, &comp2), 0);
	assert_int_equal(uiommu_compound_attach(comp2, pes[0]), -EBUSY);
	assert_int_equal(uiommu_table_group_take_ownership(uiommu_pe_table_group(
				 pes[UIOMMU_COMPOUND_MAX_PES])), 0);
	assert_int_equal(uiommu_compound_attach(comp2, pes[UIOMMU_COMPOUND_MAX_PES]), -EBUSY);
	assert_int_equal(uiommu_table_group_release_ownership(uiommu_pe_table_group(
				 pes[UIOMMU_COMPOUND_MAX_PES])), 0);
	assert_int_equal(uiommu_compound_attach(comp2, pes[UIOMMU_COMPOUND_MAX_PES]), 0);
	assert_int_equal(uiommu_table_group_take_ownership(uiommu_compound_table_group(comp2)), 0);
	assert_int_equal(uiommu_compound_attach(comp2, npu), -EBUSY);
	assert_int_equal(uiommu_compound_free(comp2), -EBUSY);
	assert_int_equal(uiommu_table_group_release_ownership(uiommu_compound_table_group(comp2)), 0);
	/* A member's own ops refuse; it cannot be freed. */
	{
		struct uiommu_table_group *own = uiommu_pe_table_group(pes[1]);
		struct uiommu_tce_table *t;

		assert_int_equal(uiommu_table_group_take_ownership(own), -EBUSY);
		assert_int_equal(uiommu_table_group_release_ownership(own), -EBUSY);
		assert_int_equal(uiommu_table_group_create_table(own, 0, 12, MiB, 1, &t), -EBUSY);
		assert_int_equal(uiommu_table_group_set_window(own, 0, own->tables[0]), -EBUSY);
		assert_int_equal(uiommu_table_group_unset_window(own, 0), -EBUSY);
		assert_int_equal(uiommu_table_group_eeh_op(own, UIOMMU_EEH_PE_GET_STATE, NULL), -EBUSY);
		assert_int_equal(uiommu_pe_free(pes[1]), -EBUSY);
	}
	/* Capabilities: a GPU with another 32-bit window, a PE with no page size in common. */
	uiommu_phb_config_default(&cfg, 9);
	cfg.tce32_size = GiB;
	assert_int_equal(uiommu_phb_new(ctx, &cfg, &odd_phb), 0);
	odd = pe_new(odd_phb, 0);
	assert_int_equal(uiommu_compound_attach(comp2, odd), -EINVAL);
	uiommu_phb_config_default(&cfg, 10);
	cfg.flags = UIOMMU_PHB_NPU;
	cfg.pgsizes = PS(16);
	assert_int_equal(uiommu_phb_new(ctx, &cfg, &pg_phb), 0);
	pg = pe_new(pg_phb, 0);
	assert_int_equal(uiommu_compound_attach(comp2, pg), 0); /* 4K|64K|16M|256M & 64K */
	assert_true(uiommu_compound_table_group(comp2)->pgsizes == PS(16));
	assert_int_equal(uiommu_compound_free(comp2), 0);
	assert_int_equal(uiommu_compound_free(comp), 0);
	assert_int_equal(uiommu_compound_free(NULL), 0);
	assert_false(pinfo(pes[3]).flags & UIOMMU_PE_COMPOUND_MEMBER);
	for (unsigned int i = 0; i <= UIOMMU_COMPOUND_MAX_PES; i++)
		assert_int_equal(uiommu_pe_free(pes[i]), 0);
	assert_int_equal(uiommu_pe_free(npu), 0);
	assert_int_equal(uiommu_pe_free(odd), 0);
	assert_int_equal(uiommu_pe_free(pg), 0);
	assert_int_equal(uiommu_pe_free(foreign), 0);
	assert_int_equal(uiommu_phb_free(odd_phb), 0);
	assert_int_equal(uiommu_phb_free(pg_phb), 0);
	assert_int_equal(uiommu_phb_free(gpus), 0);
	assert_int_equal(uiommu_phb_free(npus), 0);
	assert_int_equal(uiommu_phb_free(other), 0);
	test_ctx_free(ctx);
	test_ctx_free(ctx2);
}

/* A 16M-only PE and a 4K-only one have nothing in common. */
static void test_compound_no_common_pgsize(void **state)
{
	struct uiommu_ctx *ctx;
	struct uiommu_ctx_config cc = { .size = sizeof(cc), .host_page_shift = 12 };
	struct uiommu_phb *a, *b;
	struct uiommu_phb_config cfg;
	struct uiommu_compound *comp;
	struct uiommu_pe *pa, *pb;

	(void)state;
	assert_int_equal(uiommu_ctx_new(&cc, &ctx), 0);
	uiommu_phb_config_default(&cfg, 0);
	cfg.pgsizes = PS(12) | PS(24);
	assert_int_equal(uiommu_phb_new(ctx, &cfg, &a), 0);
	uiommu_phb_config_default(&cfg, 1);
	cfg.pgsizes = PS(12);
	cfg.flags = UIOMMU_PHB_NPU;
	assert_int_equal(uiommu_phb_new(ctx, &cfg, &b), 0);
	pa = pe_new(a, 0);
	pb = pe_new(b, 0);
	assert_int_equal(uiommu_compound_new(ctx, &comp), 0);
	assert_int_equal(uiommu_compound_attach(comp, pa), 0);
	uiommu_compound_table_group(comp)->pgsizes = PS(24); /* as if only 16M were left */
	assert_int_equal(uiommu_compound_attach(comp, pb), -EINVAL);
	assert_int_equal(uiommu_compound_free(comp), 0);
	assert_int_equal(uiommu_pe_free(pa), 0);
	assert_int_equal(uiommu_pe_free(pb), 0);
	assert_int_equal(uiommu_phb_free(a), 0);
	assert_int_equal(uiommu_phb_free(b), 0);
	test_ctx_free(ctx);
}

static void test_compound_ops(void **state)
{
	struct npu_sys s;
	struct uiommu_tce_table *w0, *w1;
	struct uiommu_table_group *gpu, *npu;

	(void)state;
	npu_sys_new(&s, 2, 1, 0);
	gpu = uiommu_pe_table_group(s.gpu[0]);
	npu = uiommu_pe_table_group(s.npu[0]);
	/* Host-owned: no windows through the compound. */
	assert_int_equal(uiommu_table_group_unset_window(s.grp, 0), -EBUSY);
	assert_int_equal(uiommu_table_group_release_ownership(s.grp), -EINVAL);
	assert_int_equal(uiommu_table_group_take_ownership(s.grp), 0);
	assert_int_equal(uiommu_table_group_take_ownership(s.grp), -EBUSY);
	for (unsigned int i = 0; i < 2; i++)
		assert_int_equal(pinfo(s.gpu[i]).flags & ~UIOMMU_PE_COMPOUND_MEMBER,
				 UIOMMU_PE_USER_OWNED);
	assert_int_equal(pinfo(s.npu[0]).flags & UIOMMU_PE_USER_OWNED, UIOMMU_PE_USER_OWNED);
	/* create_table: once, by the first member; the compound's page sizes rule. */
	assert_int_equal(uiommu_table_group_create_table(s.grp, 0, 28, GiB, 1, &w0), -EINVAL);
	assert_int_equal(uiommu_table_group_create_table(s.grp, 0, 12, GiB, 6, &w0), -EINVAL);
	assert_int_equal(uiommu_table_group_create_table(s.grp, 0, 12, 256 * MiB, 1, &w0), 0);
	assert_int_equal(uiommu_table_group_create_table(s.grp, 1, 16, 16 * GiB, 2, &w1), 0);
	assert_int_equal(tinfo(w0).refs, 1);
	/* set_window: every member, plus the compound's own reference. */
	assert_int_equal(uiommu_table_group_set_window(s.grp, 0, w0), 0);
	assert_int_equal(uiommu_table_group_set_window(s.grp, 0, w0), -EBUSY);
	assert_ptr_equal(s.grp->tables[0], w0);
	assert_true(tinfo(w0).refs == 1 + 3 + 1 && tinfo(w0).kill_links == 3);
	assert_ptr_equal(gpu->tables[0], w0);
	assert_ptr_equal(npu->tables[0], w0);
	/* Window 1: the NPU member drops window 0 (one TVE); the compound's tables disagree, as Linux. */
	assert_int_equal(uiommu_table_group_set_window(s.grp, 1, w1), 0);
	assert_ptr_equal(s.grp->tables[0], w0);
	assert_null(npu->tables[0]);
	assert_ptr_equal(npu->tables[1], w1);
	assert_true(tinfo(w0).refs == 1 + 2 + 1 && tinfo(w0).kill_links == 2);
	/* Unset skips the member that dropped it. */
	assert_int_equal(uiommu_table_group_unset_window(s.grp, 0), 0);
	assert_int_equal(uiommu_table_group_unset_window(s.grp, 0), -ENOENT);
	assert_true(tinfo(w0).refs == 1 && tinfo(w0).kill_links == 0);
	assert_int_equal(uiommu_table_group_release_ownership(s.grp), -EBUSY);
	assert_int_equal(uiommu_table_group_unset_window(s.grp, 1), 0);
	assert_true(tinfo(w1).refs == 1 && tinfo(w1).kill_links == 0);
	uiommu_tce_table_unref(w0);
	uiommu_tce_table_unref(w1);
	/* EEH through the compound: every member. */
	assert_int_equal(uiommu_table_group_eeh_op(s.grp, UIOMMU_EEH_PE_ENABLE, NULL), 0);
	assert_true(pinfo(s.npu[0]).flags & UIOMMU_PE_EEH_ENABLED);
	assert_int_equal(uiommu_table_group_eeh_op(s.grp, 42, NULL), -EINVAL);
	{
		struct uiommu_eeh_pe_err err = { .type = 0, .func = 3 };

		assert_int_equal(uiommu_table_group_eeh_op(s.grp, UIOMMU_EEH_PE_INJECT_ERR, &err), 0);
	}
	assert_int_equal(uiommu_table_group_eeh_op(s.grp, UIOMMU_EEH_PE_GET_STATE, NULL),
			 UIOMMU_EEH_PE_STATE_STOPPED);
	assert_int_equal(uiommu_table_group_eeh_op(s.grp, UIOMMU_EEH_PE_UNFREEZE_IO, NULL), 0);
	assert_int_equal(uiommu_table_group_eeh_op(s.grp, UIOMMU_EEH_PE_UNFREEZE_DMA, NULL), 0);
	/* GET_STATE: the most severe member's. */
	assert_int_equal(pinfo(s.gpu[1]).eeh_state, UIOMMU_EEH_PE_STATE_NORMAL);
	assert_int_equal(uiommu_table_group_eeh_op(s.grp, UIOMMU_EEH_PE_RESET_HOT, NULL), 0);
	assert_int_equal(uiommu_table_group_eeh_op(s.grp, UIOMMU_EEH_PE_GET_STATE, NULL),
			 UIOMMU_EEH_PE_STATE_RESET);
	assert_int_equal(uiommu_table_group_eeh_op(s.grp, UIOMMU_EEH_PE_RESET_DEACTIVATE, NULL), 0);
	assert_int_equal(uiommu_table_group_eeh_op(s.grp, UIOMMU_EEH_PE_GET_STATE, NULL),
			 UIOMMU_EEH_PE_STATE_NORMAL);
	assert_int_equal(uiommu_table_group_release_ownership(s.grp), 0);
	assert_int_equal(pinfo(s.gpu[0]).flags & UIOMMU_PE_USER_OWNED, 0);
	assert_non_null(gpu->tables[0]); /* the host's default window again */
	npu_sys_free(&s);
}

/* A member that fails set_window: the first error, every changed member restored. */
static void test_compound_set_window_rollback(void **state)
{
	struct npu_sys s;
	struct uiommu_tce_table *w0, *big;
	struct uiommu_table_group *gpu0, *gpu1, *npu0, *npu1;

	(void)state;
	/* GPUs and the first NVLink bridge take 16M pages; a second bridge will not. */
	npu_sys_new(&s, 2, 1, 0);
	/* Use a dedicated 64K-only bridge for the failing member. */
	{
		struct uiommu_phb_config cfg;
		struct uiommu_phb *p64;
		struct uiommu_pe *bridge;
		struct uiommu_tce_table_info ti;

		uiommu_phb_config_default(&cfg, 20);
		cfg.flags = UIOMMU_PHB_NPU;
		cfg.pgsizes = PS(12) | PS(16);
		assert_int_equal(uiommu_phb_new(s.ctx, &cfg, &p64), 0);
		bridge = pe_new(p64, 0);
		assert_int_equal(uiommu_compound_attach(s.comp, bridge), 0);
		gpu0 = uiommu_pe_table_group(s.gpu[0]);
		gpu1 = uiommu_pe_table_group(s.gpu[1]);
		npu0 = uiommu_pe_table_group(s.npu[0]);
		npu1 = uiommu_pe_table_group(bridge);
		assert_int_equal(uiommu_table_group_take_ownership(s.grp), 0);
		assert_int_equal(uiommu_table_group_create_table(s.grp, 0, 12, 256 * MiB, 1, &w0), 0);
		assert_int_equal(uiommu_table_group_set_window(s.grp, 0, w0), 0);
		/*
		 * A 16M-page table on window 1: the GPUs and npu[0] take it (npu[0]
		 * dropping window 0), the 64K-only bridge refuses it. Linux's
		 * rollback would report 0 here.
		 */
		assert_int_equal(uiommu_tce_table_new(s.ctx, UIOMMU_PE_BUS_OFFSET_64, 24, 64 * GiB, 1,
						      &big), 0);
		assert_int_equal(uiommu_table_group_set_window(s.grp, 1, big), -EINVAL);
		assert_null(s.grp->tables[1]);
		assert_null(gpu0->tables[1]);
		assert_null(gpu1->tables[1]);
		assert_null(npu0->tables[1]);
		/* npu[0] got window 0 back. */
		assert_ptr_equal(npu0->tables[0], w0);
		assert_ptr_equal(npu1->tables[0], w0);
		ti = tinfo(big);
		assert_true(ti.refs == 1 && ti.kill_links == 0);
		ti = tinfo(w0);
		assert_true(ti.refs == 1 + 4 + 1 && ti.kill_links == 4);
		uiommu_tce_table_unref(big);
		assert_int_equal(uiommu_table_group_unset_window(s.grp, 0), 0);
		uiommu_tce_table_unref(w0);
		assert_int_equal(uiommu_table_group_release_ownership(s.grp), 0);
		assert_int_equal(uiommu_compound_free(s.comp), 0);
		assert_int_equal(uiommu_compound_new(s.ctx, &s.comp), 0);
		assert_int_equal(uiommu_pe_free(bridge), 0);
		assert_int_equal(uiommu_phb_free(p64), 0);
	}
	npu_sys_free(&s);
}

/* A member whose release fails (no room for its default table): the others are taken back. */
static void test_compound_release_rollback(void **state)
{
	struct npu_sys s;
	uint64_t host = uiommu_tce_table_size(16, 16, UIOMMU_PHB_DEFAULT_TCE32_SIZE, 2);

	(void)state;
	npu_sys_new(&s, 3, 0, 0);
	assert_int_equal(uiommu_table_group_take_ownership(s.grp), 0);
	assert_true(ctx_usage(s.ctx, UIOMMU_RES_TABLE_BYTES) == 0);
	assert_int_equal(uiommu_ctx_set_limit(s.ctx, UIOMMU_RES_TABLE_BYTES, 2 * host), 0);
	assert_int_equal(uiommu_table_group_release_ownership(s.grp), -ENOMEM);
	/* Nobody was left half-way: every member is still the user's, nothing charged. */
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(pinfo(s.gpu[i]).flags & UIOMMU_PE_USER_OWNED, UIOMMU_PE_USER_OWNED);
		assert_null(uiommu_pe_table_group(s.gpu[i])->tables[0]);
	}
	assert_true(ctx_usage(s.ctx, UIOMMU_RES_TABLE_BYTES) == 0);
	assert_true(ctx_usage(s.ctx, UIOMMU_RES_WINDOWS) == 0);
	assert_int_equal(uiommu_compound_free(s.comp), -EBUSY);
	assert_int_equal(uiommu_ctx_set_limit(s.ctx, UIOMMU_RES_TABLE_BYTES, GiB), 0);
	assert_int_equal(uiommu_table_group_release_ownership(s.grp), 0);
	assert_true(ctx_usage(s.ctx, UIOMMU_RES_TABLE_BYTES) == 3 * host);
	npu_sys_free(&s);
}

/* ---- fault injection ---- */

/* Run @fn with every fault point failed in turn; nothing may leak at any of them. */
static void fail_at_n_flags(struct uiommu_ctx *ctx, unsigned int flags, int (*fn)(void *arg),
			    void (*undo)(void *arg), void *arg)
{
	uint64_t base[UIOMMU_RES_NR], allocs = ctx_counter(ctx, UIOMMU_COUNTER_HEAP_ALLOCS);
	unsigned int n;

	for (int r = 0; r < UIOMMU_RES_NR; r++)
		base[r] = ctx_usage(ctx, (enum uiommu_resource)r);
	for (n = 1;; n++) {
		int ret;

		assert_int_equal(uiommu_ctx_inject_fault(ctx, n, flags), 0);
		ret = fn(arg);
		if (!ctx_counter(ctx, UIOMMU_COUNTER_FAULTS_INJECTED)) {
			assert_int_equal(ret, 0);
			break;
		}
		assert_int_equal(ret, -ENOMEM);
		for (int r = 0; r < UIOMMU_RES_NR; r++)
			if (r != UIOMMU_RES_HEAP_BYTES)
				assert_true(ctx_usage(ctx, (enum uiommu_resource)r) == base[r]);
		assert_true(ctx_counter(ctx, UIOMMU_COUNTER_HEAP_ALLOCS) == allocs);
	}
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
	assert_true(n > 1); /* there was a fault point to fail */
	undo(arg);
}

/* Each fault point alone, then each with every later one failing too. */
static void fail_at_n(struct uiommu_ctx *ctx, int (*fn)(void *arg), void (*undo)(void *arg),
		      void *arg)
{
	fail_at_n_flags(ctx, UIOMMU_FAULT_ALL, fn, undo, arg);
	fail_at_n_flags(ctx, UIOMMU_FAULT_ALL | UIOMMU_FAULT_PERSIST, fn, undo, arg);
}

struct fi {
	struct uiommu_ctx *ctx;
	struct uiommu_phb *phb;
	struct uiommu_pe *pe;
	struct uiommu_compound *comp;
};

static int fi_phb_new(void *arg)
{
	struct fi *f = arg;
	struct uiommu_phb_config cfg;

	uiommu_phb_config_default(&cfg, 0);
	return uiommu_phb_new(f->ctx, &cfg, &f->phb);
}

static void fi_phb_free(void *arg)
{
	struct fi *f = arg;

	assert_int_equal(uiommu_phb_free(f->phb), 0);
}

static int fi_pe_new(void *arg)
{
	struct fi *f = arg;

	return uiommu_pe_new(f->phb, 5, &f->pe);
}

static void fi_pe_free(void *arg)
{
	struct fi *f = arg;

	assert_int_equal(uiommu_pe_free(f->pe), 0);
}

static int fi_release(void *arg)
{
	struct fi *f = arg;

	return uiommu_table_group_release_ownership(uiommu_pe_table_group(f->pe));
}

static void fi_take(void *arg)
{
	struct fi *f = arg;

	assert_int_equal(uiommu_table_group_take_ownership(uiommu_pe_table_group(f->pe)), 0);
}

static int fi_comp_new(void *arg)
{
	struct fi *f = arg;

	return uiommu_compound_new(f->ctx, &f->comp);
}

static void fi_comp_free(void *arg)
{
	struct fi *f = arg;

	assert_int_equal(uiommu_compound_free(f->comp), 0);
}

static int fi_comp_release(void *arg)
{
	struct fi *f = arg;

	return uiommu_table_group_release_ownership(uiommu_compound_table_group(f->comp));
}

static void fi_comp_take(void *arg)
{
	struct fi *f = arg;

	assert_int_equal(uiommu_table_group_take_ownership(uiommu_compound_table_group(f->comp)), 0);
}

static void test_faults(void **state)
{
	struct fi f = { .ctx = test_ctx_new() };
	struct uiommu_pe *more[3];
	uint64_t hpa;

	(void)state;
	/* The memory model is made on first use: make it before counting. */
	assert_int_equal(uiommu_frames_alloc(f.ctx, 0, &hpa), 0);
	assert_int_equal(uiommu_frames_free(f.ctx, hpa, 0), 0);
	fail_at_n(f.ctx, fi_phb_new, fi_phb_free, &f);
	assert_int_equal(fi_phb_new(&f), 0);
	fail_at_n(f.ctx, fi_pe_new, fi_pe_free, &f);
	assert_int_equal(fi_pe_new(&f), 0);
	fi_take(&f);
	fail_at_n(f.ctx, fi_release, fi_take, &f);
	assert_int_equal(fi_release(&f), 0);
	fail_at_n(f.ctx, fi_comp_new, fi_comp_free, &f);
	assert_int_equal(fi_comp_new(&f), 0);
	for (unsigned int i = 0; i < 3; i++) {
		more[i] = pe_new(f.phb, 10 + i);
		assert_int_equal(uiommu_compound_attach(f.comp, more[i]), 0);
	}
	fi_comp_take(&f);
	/* Every member's default table, at every failure point: all or nothing. */
	fail_at_n(f.ctx, fi_comp_release, fi_comp_take, &f);
	assert_int_equal(fi_comp_release(&f), 0);
	assert_int_equal(uiommu_compound_free(f.comp), 0);
	for (unsigned int i = 0; i < 3; i++)
		assert_int_equal(uiommu_pe_free(more[i]), 0);
	fi_pe_free(&f);
	fi_phb_free(&f);
	test_ctx_free(f.ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vfio_constants),
		cmocka_unit_test(test_phb_errors),
		cmocka_unit_test(test_pe_lifecycle),
		cmocka_unit_test(test_pe_limits),
		cmocka_unit_test(test_ownership),
		cmocka_unit_test(test_create_table),
		cmocka_unit_test(test_set_unset_window),
		cmocka_unit_test(test_set_window_links_full),
		cmocka_unit_test(test_single_tve),
		cmocka_unit_test(test_tce_cache_mode),
		cmocka_unit_test(test_eeh),
		cmocka_unit_test(test_user_group),
		cmocka_unit_test(test_compound_attach),
		cmocka_unit_test(test_compound_no_common_pgsize),
		cmocka_unit_test(test_compound_ops),
		cmocka_unit_test(test_compound_set_window_rollback),
		cmocka_unit_test(test_compound_release_rollback),
		cmocka_unit_test(test_faults),
	};

	test_require_memfd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
