/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uiommu/types.h - types and constants shared by every uiommu mechanism.
 *
 * Concepts:
 * - Every address space has its own name and is a plain 64-bit integer:
 *   "hpa" (host physical address, see mem.h), "gpa" (guest physical
 *   address, see guest.h), "ioba" (I/O bus address, the address a device
 *   puts on the bus; PAPR's name), "ua"/"hva" (a host virtual address, a
 *   pointer in this process).
 * - A range crosses the API as (start, length in bytes). The library checks
 *   it once, at the edge: a zero length is -EINVAL, and a range whose last
 *   byte would lie past 2^64 - 1 is -EOVERFLOW.
 * - Sizes carry their unit in their name: *_shift is log2 of bytes,
 *   *_size and *_len are bytes, npages is a count of pages of the size
 *   the function documents.
 * - Library calls return a negative errno on failure; PAPR entry points
 *   return H_* codes (papr.h). The two never mix.
 */
#ifndef UIOMMU_TYPES_H
#define UIOMMU_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Access permissions, from the device's point of view, as in the TCE
 * permission bits (PAPR, Linux asm/tce.h TCE_PCI_READ / TCE_PCI_WRITE):
 * READ lets the device read memory (DMA to the device), WRITE lets it
 * write memory (DMA from the device).
 */
#define UIOMMU_PROT_NONE	0x0u
#define UIOMMU_PROT_READ	0x1u
#define UIOMMU_PROT_WRITE	0x2u
#define UIOMMU_PROT_RW		(UIOMMU_PROT_READ | UIOMMU_PROT_WRITE)

/**
 * enum uiommu_dma_dir - DMA direction, as Linux enum dma_data_direction.
 * @UIOMMU_DMA_BIDIRECTIONAL: device reads and writes memory (R|W).
 * @UIOMMU_DMA_TO_DEVICE: device reads memory (R).
 * @UIOMMU_DMA_FROM_DEVICE: device writes memory (W).
 * @UIOMMU_DMA_NONE: no access; an empty TCE.
 *
 * The numeric values are those of Linux, so that traces and logs compare
 * directly.
 */
enum uiommu_dma_dir {
	UIOMMU_DMA_BIDIRECTIONAL = 0,
	UIOMMU_DMA_TO_DEVICE = 1,
	UIOMMU_DMA_FROM_DEVICE = 2,
	UIOMMU_DMA_NONE = 3,
};

/* The smallest page the library knows: a host frame, 4 KiB. */
#define UIOMMU_FRAME_SHIFT	12
#define UIOMMU_FRAME_SIZE	(1ULL << UIOMMU_FRAME_SHIFT)

#ifdef __cplusplus
}
#endif

#endif /* UIOMMU_TYPES_H */
