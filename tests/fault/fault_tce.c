// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fault scenario of TCE tables: a 3-level table on a 4 KiB host (its first
 * levels, then a level page per tree on the first map of an entry and of
 * its user address), translated as a PHB would.
 */
#include "fault.h"

#define GiB (1ULL << 30)
#define ENTRY ((UIOMMU_TCE_BUS_OFFSET_64 >> 12) + 123456)

struct tce_objs {
	struct uiommu_tce_table *tbl;
};

static int tce_run(struct uiommu_ctx *ctx, void *state)
{
	struct tce_objs *o = state;
	unsigned int prot;
	uint64_t hpa;

	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_TABLE_BYTES, GiB), 0);
	FAULT_STEP(uiommu_tce_table_new(ctx, UIOMMU_TCE_BUS_OFFSET_64, 12, 64 * GiB, 3, &o->tbl));
	FAULT_STEP(uiommu_tce_table_xchg(o->tbl, ENTRY, 0x42000, UIOMMU_DMA_BIDIRECTIONAL, NULL,
					 NULL));
	FAULT_STEP(uiommu_tce_table_ua_xchg(o->tbl, ENTRY, 0x7f0000042000, NULL));
	assert_int_equal(uiommu_tce_table_translate(o->tbl, UIOMMU_TCE_BUS_OFFSET_64 +
							     123456 * 4096ULL + 5, &hpa, &prot), 0);
	assert_true(hpa == 0x42005);
	return 0;
}

static void tce_undo(struct uiommu_ctx *ctx, void *state)
{
	struct tce_objs *o = state;

	(void)ctx;
	uiommu_tce_table_unref(o->tbl);
}

FAULT_SCENARIO(tce_scenario) = {
	.name = "TCE table: levels on demand, userspace shadow",
	.state_size = sizeof(struct tce_objs),
	.host_page_shift = 12,
	.run = tce_run,
	.undo = tce_undo,
	/* heap, region (memfd, mmap), two first levels, two levels per tree: at least 7. */
	.min_points = 7,
};
