// SPDX-License-Identifier: BSD-3-Clause
/*
 * Example: an emulated PCI device behind a PE. The PE is handed to a user
 * (as a VFIO container takes a group), a window of 64 KiB TCEs is created
 * where the platform puts it and set on the PE, RAM pages are mapped with
 * one kill for the batch, and a device thread, not the mapping thread,
 * writes through the window; then a bad DMA is reported with its fault
 * record, and strict mode catches a TCE changed without a kill.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <uiommu/uiommu.h>

#define PAGE_SHIFT 16

struct job {
	struct uiommu_dev *dev;
	uint64_t ioba;
	const char *msg;
	int ret;
};

/* The device's side: a DMA write of a message, as a NIC receiving a packet would. */
static void *device_thread(void *arg)
{
	struct job *j = arg;

	j->ret = uiommu_dev_dma_write(j->dev, j->ioba, j->msg, strlen(j->msg) + 1, NULL);
	return NULL;
}

static void log_line(void *opaque, enum uiommu_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	printf("  log: %s\n", msg);
}

int main(void)
{
	struct uiommu_phb_config cfg;
	struct uiommu_dev_config dcfg = { .size = sizeof(dcfg), .bdf = UIOMMU_PCI_BDF(1, 0, 0) };
	struct uiommu_tce_table_info info = { .size = sizeof(info) };
	struct uiommu_dma_fault fault = { .size = sizeof(fault) };
	struct uiommu_table_group *grp;
	struct uiommu_tce_table *tbl = NULL;
	struct uiommu_ctx *ctx;
	struct uiommu_phb *phb = NULL;
	struct uiommu_pe *pe = NULL;
	struct uiommu_dev *dev = NULL;
	uint64_t ram_hpa;
	char *ram, buf[32];
	pthread_t t;
	struct job job;
	int ret;

	if (uiommu_ctx_new(NULL, &ctx))
		return 1;
	uiommu_ctx_set_log(ctx, log_line, NULL, 0);
	uiommu_phb_config_default(&cfg, 0);
	ret = uiommu_phb_new(ctx, &cfg, &phb);
	if (!ret)
		ret = uiommu_pe_new(phb, 2, &pe);
	if (!ret)
		ret = uiommu_dev_new(pe, &dcfg, &dev);
	if (ret) {
		fprintf(stderr, "setup: %s\n", uiommu_strerror(ret));
		return 1;
	}
	grp = uiommu_pe_table_group(pe);
	printf("device %s in IOMMU group %s\n", uiommu_dev_name(dev), grp->name);

	/* Take the PE from the host, make a 1 GiB window of 64 KiB pages, set it. */
	ret = uiommu_table_group_take_ownership(grp);
	if (!ret)
		ret = uiommu_table_group_create_table(grp, 1, PAGE_SHIFT, 1ULL << 30, 2, &tbl);
	if (!ret)
		ret = uiommu_table_group_set_window(grp, 1, tbl);
	if (!ret)
		ret = uiommu_tce_table_info(tbl, &info);
	if (!ret)
		ret = uiommu_ram_create(ctx, 4 << PAGE_SHIFT, &ram_hpa, (void **)&ram);
	if (ret) {
		fprintf(stderr, "window: %s\n", uiommu_strerror(ret));
		return 1;
	}
	printf("window 1 at bus address 0x%" PRIx64 "\n", info.bus_offset);

	/* Map four pages (exchanges without a kill), then one kill for the batch. */
	for (int i = 0; i < 4 && !ret; i++)
		ret = uiommu_tce_table_xchg_no_kill(tbl, info.it_offset + i,
						    ram_hpa + ((uint64_t)i << PAGE_SHIFT),
						    UIOMMU_DMA_FROM_DEVICE, NULL, NULL);
	if (!ret)
		ret = uiommu_tce_table_kill(tbl, info.it_offset, 4);

	/* The device writes from its own thread. */
	job = (struct job){ dev, info.bus_offset + (2 << PAGE_SHIFT) + 100, "hello from the device", 0 };
	if (!ret && (pthread_create(&t, NULL, device_thread, &job) || pthread_join(t, NULL)))
		ret = -1;
	if (ret || job.ret) {
		fprintf(stderr, "DMA: %s\n", uiommu_strerror(ret ? ret : job.ret));
		return 1;
	}
	printf("host memory at page 2 + 100: \"%s\"\n", ram + (2 << PAGE_SHIFT) + 100);

	/* A DMA to an unmapped page: a fault, reported, never a wrong byte. */
	ret = uiommu_dev_dma_write(dev, info.bus_offset + (9 << PAGE_SHIFT), "x", 1, &fault);
	printf("DMA to page 9: %s; fault: device %s, ioba 0x%" PRIx64 ", reason %u\n",
	       uiommu_strerror(ret), fault.dev_name, fault.ioba, fault.reason);

	/* Strict mode: a TCE changed without a kill is reported when a DMA uses it. */
	uiommu_pe_set_tce_cache_mode(pe, UIOMMU_TCE_CACHE_STRICT);
	ret = uiommu_dev_dma_read(dev, info.bus_offset, buf, sizeof(buf), NULL); /* cached now */
	if (!ret)
		ret = uiommu_tce_table_xchg_no_kill(tbl, info.it_offset, ram_hpa + (3 << PAGE_SHIFT),
						    UIOMMU_DMA_BIDIRECTIONAL, NULL, NULL);
	if (ret)
		return 1;
	ret = uiommu_dev_dma_read(dev, info.bus_offset, buf, sizeof(buf), &fault);
	printf("DMA after a change without a kill: %s (reason %u: stale TCE)\n",
	       uiommu_strerror(ret), fault.reason);
	/* With the kill, the device sees the new entry. */
	uiommu_tce_table_kill(tbl, info.it_offset, 1);
	ret = uiommu_dev_dma_read(dev, info.bus_offset, buf, sizeof(buf), NULL);
	printf("after the kill: %s\n", uiommu_strerror(ret));
	if (ret)
		return 1;

	/* Teardown: unmap, unset, give the PE back; nothing may be left. */
	ret = uiommu_tce_table_clear(tbl, info.it_offset, 4, NULL, NULL, NULL);
	if (!ret)
		ret = uiommu_table_group_unset_window(grp, 1);
	uiommu_tce_table_unref(tbl);
	if (!ret)
		ret = uiommu_table_group_release_ownership(grp);
	if (!ret)
		ret = uiommu_dev_free(dev);
	if (!ret)
		ret = uiommu_pe_free(pe);
	if (!ret)
		ret = uiommu_phb_free(phb);
	if (!ret)
		ret = uiommu_ram_remove(ctx, ram_hpa);
	if (!ret)
		ret = uiommu_ctx_free(ctx);
	if (ret) {
		fprintf(stderr, "teardown: %s\n", uiommu_strerror(ret));
		return 1;
	}
	return 0;
}
