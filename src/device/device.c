// SPDX-License-Identifier: BSD-3-Clause
/*
 * Emulated PCI devices: attachment to a PE, names (as Linux pci_name()),
 * fault mode, the MMIO check of a frozen PE, statistics and the last fault
 * record. The DMA engine is dma.c.
 */
#include <stdio.h>
#include <string.h>

#include "device.h"

#define DEV_CONFIG_SIZE_V1 sizeof(struct uiommu_dev_config)
#define DEV_INFO_SIZE_V1 sizeof(struct uiommu_dev_info)

UIOMMU_EXPORT int uiommu_dev_new(struct uiommu_pe *pe, const struct uiommu_dev_config *cfg,
				 struct uiommu_dev **ret_dev)
{
	char name[UIOMMU_DEV_NAME_MAX];
	struct uiommu_ctx *ctx;
	struct uiommu_dev *dev;
	int ret;

	if (!pe || !ret_dev)
		return -EINVAL;
	ret = struct_size_check(cfg, DEV_CONFIG_SIZE_V1);
	if (ret)
		return ret;
	if (cfg->flags || cfg->reserved || cfg->bdf > 0xffff)
		return -EINVAL;
	ctx = uiommu_pe_table_group(pe)->ctx;
	snprintf(name, sizeof(name), "%04x:%02x:%02x.%x", pe_domain(pe) & 0xffff,
		 (cfg->bdf >> 8) & 0xff, (cfg->bdf >> 3) & 0x1f, cfg->bdf & 7);
	ret = ctx_charge(ctx, UIOMMU_RES_DEVICES, 1);
	if (ret) {
		ctx_guest_error(ctx, "device %s refused: the %s limit", name,
				uiommu_resource_name(UIOMMU_RES_DEVICES));
		return ret;
	}
	/* The number first: a duplicate is -EEXIST whatever else would fail. */
	ret = pe_dev_attach(pe, cfg->bdf);
	if (ret) {
		ctx_guest_error(ctx, "device %s exists already", name);
		goto err_uncharge;
	}
	dev = ctx_alloc(ctx, sizeof(*dev));
	if (!dev) {
		pe_dev_detach(pe, cfg->bdf);
		ret = -ENOMEM;
		goto err_uncharge;
	}
	dev->ctx = ctx;
	dev->pe = pe;
	dev->bdf = cfg->bdf;
	memcpy(dev->name, name, sizeof(name));
	dev->fault_fn = cfg->fault_fn;
	dev->fault_opaque = cfg->fault_opaque;
	pthread_mutex_init(&dev->fault_lock, NULL);
	*ret_dev = dev;
	return 0;

err_uncharge:
	ctx_uncharge(ctx, UIOMMU_RES_DEVICES, 1);
	return ret;
}

UIOMMU_EXPORT int uiommu_dev_free(struct uiommu_dev *dev)
{
	struct uiommu_ctx *ctx;

	if (!dev)
		return 0;
	ctx = dev->ctx;
	pe_dev_detach(dev->pe, dev->bdf);
	pthread_mutex_destroy(&dev->fault_lock);
	ctx_free(ctx, dev);
	ctx_uncharge(ctx, UIOMMU_RES_DEVICES, 1);
	return 0;
}

UIOMMU_EXPORT const char *uiommu_dev_name(const struct uiommu_dev *dev)
{
	return dev->name;
}

UIOMMU_EXPORT struct uiommu_pe *uiommu_dev_pe(const struct uiommu_dev *dev)
{
	return dev->pe;
}

UIOMMU_EXPORT struct uiommu_table_group *uiommu_dev_table_group(const struct uiommu_dev *dev)
{
	return pe_iommu_group(dev->pe);
}

UIOMMU_EXPORT int uiommu_dev_set_fault_handler(struct uiommu_dev *dev, uiommu_dev_fault_fn *fn,
					       void *opaque)
{
	dev->fault_fn = fn;
	dev->fault_opaque = opaque;
	return 0;
}

UIOMMU_EXPORT int uiommu_dev_mmio_check(const struct uiommu_dev *dev)
{
	return pe_mmio_stopped(dev->pe) ? -EIO : 0;
}

UIOMMU_EXPORT int uiommu_dev_info(const struct uiommu_dev *dev, struct uiommu_dev_info *ret_info)
{
	struct uiommu_dev *d = (struct uiommu_dev *)dev;
	struct uiommu_dev_info out = {
		.size = DEV_INFO_SIZE_V1,
		.bdf = dev->bdf,
		.domain = pe_domain(dev->pe),
		.pe_number = pe_num(dev->pe),
		.bytes_read = atomic_load_explicit(&d->bytes_read, memory_order_relaxed),
		.bytes_written = atomic_load_explicit(&d->bytes_written, memory_order_relaxed),
		.faults = atomic_load_explicit(&d->faults, memory_order_relaxed),
		.faults_resolved = atomic_load_explicit(&d->faults_resolved, memory_order_relaxed),
	};

	if (!ret_info || ret_info->size < DEV_INFO_SIZE_V1)
		return -EINVAL;
	struct_copy_out(ret_info, &out, sizeof(out));
	return 0;
}

UIOMMU_EXPORT int uiommu_dev_last_fault(struct uiommu_dev *dev, struct uiommu_dma_fault *ret_fault)
{
	int ret = 0;

	if (!ret_fault || ret_fault->size < DMA_FAULT_SIZE_V1)
		return -EINVAL;
	pthread_mutex_lock(&dev->fault_lock);
	if (dev->has_fault)
		struct_copy_out(ret_fault, &dev->last_fault, sizeof(dev->last_fault));
	else
		ret = -ENOENT;
	pthread_mutex_unlock(&dev->fault_lock);
	return ret;
}
