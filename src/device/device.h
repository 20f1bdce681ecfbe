/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private state of emulated devices (src/device/). See uiommu/device.h and
 * doc/design/pe.md. A device reaches its PE only through the pe_*()
 * functions of src/internal.h.
 */
#ifndef UIOMMU_DEVICE_PRIV_H
#define UIOMMU_DEVICE_PRIV_H

#include "../internal.h"

struct uiommu_dev {
	struct uiommu_ctx *ctx;
	struct uiommu_pe *pe;
	uint32_t bdf;
	char name[UIOMMU_DEV_NAME_MAX];
	/* Fault mode; set while no DMA runs (uiommu_dev_set_fault_handler()). */
	uiommu_dev_fault_fn *fault_fn;
	void *fault_opaque;

	_Atomic uint64_t bytes_read, bytes_written, faults, faults_resolved;

	pthread_mutex_t fault_lock; /* the last fault record */
	bool has_fault;
	struct uiommu_dma_fault last_fault;
};

/* The first published layout of struct uiommu_dma_fault. */
#define DMA_FAULT_SIZE_V1 sizeof(struct uiommu_dma_fault)


#endif /* UIOMMU_DEVICE_PRIV_H */
