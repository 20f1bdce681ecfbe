// SPDX-License-Identifier: BSD-3-Clause
/*
 * TCE table geometry: which tables can exist, their shape, and what they
 * cost. The semantics are Linux powernv's (pnv_pci_ioda2_table_alloc_pages()
 * in pci-ioda-tce.c and pnv_pci_ioda2_get_table_size() in pci-ioda.c), as
 * documented in doc/design/tce.md; PAGE_SHIFT there is the modelled host's
 * page shift here.
 */
#include <string.h>

#include "tce.h"

int tce_geometry(unsigned int host_page_shift, unsigned int page_shift, uint64_t window_size,
		 unsigned int levels, struct tce_geom *g)
{
	unsigned int window_shift, entries_shift, per_level, level_shift;
	uint64_t level_bytes, need, bytes = 0;

	if (host_page_shift != 12 && host_page_shift != 16)
		return -EINVAL;
	if (levels < 1 || levels > UIOMMU_TCE_LEVELS_MAX)
		return -EINVAL;
	if (page_shift < UIOMMU_TCE_PAGE_SHIFT_MIN || page_shift > UIOMMU_TCE_PAGE_SHIFT_MAX)
		return -EINVAL;
	if (!is_power_of_2_u64(window_size))
		return -EINVAL;
	window_shift = ilog2_u64(window_size);
	/* Linux's unsigned subtraction would wrap here; a window is at least a page. */
	if (window_shift < page_shift)
		return -EINVAL;
	entries_shift = window_shift - page_shift; /* <= 51 */

	/* Levels share the index bits evenly, and a level page is at least a host page. */
	per_level = (entries_shift + levels - 1) / levels;
	level_shift = MAX(per_level + 3, host_page_shift);
	g->level_shift = level_shift;
	g->level_bits = level_shift - 3;
	g->bus_addr_bits = (level_shift - 3) * levels + page_shift;
	/* The table has at least one host page of TCEs: it_size can exceed the window. */
	g->it_size = 1ULL << (MAX(entries_shift + 3, host_page_shift) - 3);

	/*
	 * What a fully populated table takes, as Linux counts it: the last
	 * level holds the TCEs (at least 4 KiB of them), rounded up to whole
	 * level pages; each level above holds one 8-byte pointer per page
	 * below, and at least one page.
	 */
	level_bytes = 1ULL << level_shift;
	need = MAX(0x1000ULL, 1ULL << (entries_shift + 3));
	for (unsigned int l = 0; l < levels; l++) {
		bytes += (need + level_bytes - 1) & ~(level_bytes - 1);
		need = MAX(need / level_bytes * UIOMMU_TCE_ENTRY_SIZE, level_bytes);
	}
	g->hw_size = bytes;

	if (g->bus_addr_bits >= UIOMMU_TCE_ADDR_BITS_MAX)
		return -ERANGE;
	return 0;
}

UIOMMU_EXPORT uint64_t uiommu_tce_table_size(unsigned int host_page_shift,
					     unsigned int page_shift, uint64_t window_size,
					     unsigned int levels)
{
	struct tce_geom g;

	if (tce_geometry(host_page_shift, page_shift, window_size, levels, &g))
		return 0;
	/* One copy for the hardware table, one for the userspace shadow (Linux too). */
	return 2 * g.hw_size;
}

/* The first published layout of struct uiommu_tce_geometry. */
#define GEOMETRY_SIZE_V1 sizeof(struct uiommu_tce_geometry)

UIOMMU_EXPORT int uiommu_tce_geometry(unsigned int host_page_shift, unsigned int page_shift,
				      uint64_t window_size, unsigned int levels,
				      struct uiommu_tce_geometry *ret_geo)
{
	struct uiommu_tce_geometry out = { 0 };
	struct tce_geom g;
	uint32_t size;
	int ret;

	if (!ret_geo || ret_geo->size < GEOMETRY_SIZE_V1)
		return -EINVAL;
	size = ret_geo->size;
	ret = tce_geometry(host_page_shift, page_shift, window_size, levels, &g);
	if (ret && ret != -ERANGE)
		return ret;
	out.size = (uint32_t)GEOMETRY_SIZE_V1;
	out.level_shift = g.level_shift;
	out.bus_addr_bits = g.bus_addr_bits;
	out.it_size = g.it_size;
	out.it_level_size = 1ULL << g.level_bits;
	out.hw_size = g.hw_size;
	out.table_size = ret ? 0 : 2 * g.hw_size;
	memset(ret_geo, 0, size);
	memcpy(ret_geo, &out, sizeof(out));
	return ret;
}
