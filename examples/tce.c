// SPDX-License-Identifier: BSD-3-Clause
/*
 * Example: a DMA window with a 2-level TCE table, four pages of RAM mapped
 * for a device, the device's view of a bus address, a TCE-cache kill per
 * batch, and the unmap that tells which pages to release.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <uiommu/uiommu.h>

#define PAGE_SHIFT 16 /* 64 KiB IOMMU pages */

static void kill_cb(void *opaque, struct uiommu_tce_table *tbl, uint64_t entry, uint64_t npages)
{
	(void)tbl;
	printf("%s: invalidate %" PRIu64 " TCE(s) from entry 0x%" PRIx64 "\n",
	       (const char *)opaque, npages, entry);
}

static void unmapped(void *opaque, uint64_t entry, uint64_t old_hpa, enum uiommu_dma_dir old_dir)
{
	(void)opaque;
	printf("unmapped entry 0x%" PRIx64 ": hpa 0x%" PRIx64 ", direction %d\n", entry, old_hpa,
	       old_dir);
}

int main(void)
{
	static char phb[] = "PHB";
	struct uiommu_tce_table_info info = { .size = sizeof(info) };
	struct uiommu_tce_table *tbl = NULL;
	struct uiommu_ctx *ctx;
	uint64_t ram_hpa, hpa, entry;
	unsigned int prot;
	char *ram, *data;
	int ret;

	ret = uiommu_ctx_new(NULL, &ctx);
	if (ret) {
		fprintf(stderr, "context: %s\n", uiommu_strerror(ret));
		return 1;
	}
	/* What the table will cost, before making it. */
	printf("a 1 GiB window of 64 KiB pages, 2 levels, costs %" PRIu64 " bytes\n",
	       uiommu_tce_table_size(uiommu_ctx_host_page_shift(ctx), PAGE_SHIFT, 1ULL << 30, 2));

	ret = uiommu_ram_create(ctx, 4 << PAGE_SHIFT, &ram_hpa, (void **)&ram);
	/* The 64-bit DMA window of a powernv PE. */
	if (!ret)
		ret = uiommu_tce_table_new(ctx, UIOMMU_TCE_BUS_OFFSET_64, PAGE_SHIFT, 1ULL << 30, 2,
					   &tbl);
	if (!ret)
		ret = uiommu_tce_table_info(tbl, &info);
	if (!ret)
		ret = uiommu_tce_table_kill_link(tbl, kill_cb, phb);
	/* Map the four pages at entries 16..19 of the window, then kill once. */
	for (int i = 0; !ret && i < 4; i++) {
		snprintf(ram + ((size_t)i << PAGE_SHIFT), 32, "page %d of the buffer", i);
		ret = uiommu_tce_table_xchg_no_kill(tbl, info.it_offset + 16 + (uint64_t)i,
						    ram_hpa + ((uint64_t)i << PAGE_SHIFT),
						    UIOMMU_DMA_BIDIRECTIONAL, NULL, NULL);
	}
	if (!ret)
		ret = uiommu_tce_table_kill(tbl, info.it_offset + 16, 4);
	/* The device reads the window's byte 0x12000a: entry 18, offset 10. */
	if (!ret)
		ret = uiommu_tce_table_translate(tbl, info.bus_offset + (18 << PAGE_SHIFT) + 10,
						 &hpa, &prot);
	if (!ret)
		ret = uiommu_hpa_to_hva(ctx, hpa, 16, (void **)&data);
	if (!ret)
		printf("bus 0x%" PRIx64 " -> hpa 0x%" PRIx64 " (%s%s): \"%.10s\"\n",
		       info.bus_offset + (18 << PAGE_SHIFT) + 10, hpa,
		       prot & UIOMMU_PROT_READ ? "r" : "-", prot & UIOMMU_PROT_WRITE ? "w" : "-",
		       data);
	/* Unmap the whole window: only the four mappings are reported. */
	if (!ret)
		ret = uiommu_tce_table_clear(tbl, info.it_offset, info.it_size, unmapped, NULL, NULL);
	if (!ret) {
		entry = info.it_offset + 18;
		ret = uiommu_tce_table_translate(tbl, info.bus_offset + (18 << PAGE_SHIFT), &hpa,
						 &prot) == -EFAULT ? 0 : -1;
		printf("entry 0x%" PRIx64 " after the unmap: %s\n", entry,
		       ret ? "still mapped" : "a TCE fault, as it should be");
	}
	if (ret) {
		fprintf(stderr, "failed: %s\n", uiommu_strerror(ret));
		return 1;
	}
	uiommu_tce_table_unref(tbl);
	uiommu_ram_remove(ctx, ram_hpa);
	return uiommu_ctx_free(ctx) ? 1 : 0;
}
