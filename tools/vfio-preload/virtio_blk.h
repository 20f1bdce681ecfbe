/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio_blk.h - a virtio 1.x block device (a "modern" virtio-pci function,
 * OASIS virtio v1.1 sections 4.1 and 5.2) whose every guest memory access
 * is DMA through a uiommu device (device.h): rings, indirect descriptor
 * tables, request headers, data and status bytes are read and written by
 * bus address, through the PE's windows and TCE tables, never by guest
 * physical address. Its disk is a file.
 *
 * What the guest sees: vendor 1af4, device 1042, one 16 KiB memory BAR
 * (BAR0) with the common configuration at 0x0000, the ISR at 0x1000, the
 * device configuration (struct virtio_blk_config) at 0x2000 and the queue
 * notification area at 0x3000 (notify_off_multiplier 4), the four vendor
 * capabilities that locate them, INTA# and no MSI-X (the driver falls back
 * to INTx). One request queue of up to 256 entries, split ring.
 * Features offered: VIRTIO_F_VERSION_1 and VIRTIO_F_ACCESS_PLATFORM (both
 * required: FEATURES_OK is refused without them, since every access goes
 * through the IOMMU), VIRTIO_RING_F_INDIRECT_DESC, VIRTIO_BLK_F_SEG_MAX,
 * VIRTIO_BLK_F_BLK_SIZE (512) and VIRTIO_BLK_F_FLUSH (fdatasync(2) of the
 * file). Requests: IN, OUT, FLUSH, GET_ID; anything else is
 * VIRTIO_BLK_S_UNSUPP. Not modelled: VIRTIO_PCI_CAP_PCI_CFG (no Linux
 * driver uses it), event index, packed rings, MSI-X.
 *
 * A kick is processed at once, in the thread that wrote the notification
 * (with the function's lock held): the used ring is updated, then the ISR
 * and INTx. A DMA fault, a malformed descriptor chain or a queue set up
 * out of spec puts the device in DEVICE_NEEDS_RESET (status bit 0x40, a
 * configuration interrupt) until the driver resets it, and is logged: the
 * device never reads or writes anything but what the TCEs allow.
 */
#ifndef UIOMMU_VFIO_PRELOAD_VIRTIO_BLK_H
#define UIOMMU_VFIO_PRELOAD_VIRTIO_BLK_H

#include <stdint.h>

#include <uiommu/uiommu.h>

#include "pcifn.h"

/* BAR0 layout (offsets in BAR0). */
#define VBLK_BAR_SIZE		0x4000u
#define VBLK_COMMON_OFF		0x0000u
#define VBLK_ISR_OFF		0x1000u
#define VBLK_DEVICE_OFF		0x2000u
#define VBLK_NOTIFY_OFF		0x3000u
#define VBLK_NOTIFY_MULT	4u
#define VBLK_QUEUE_MAX		256u

/* A log line from the model (no newline). */
typedef void vblk_log_fn(void *opaque, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * struct virtio_blk_stats - what the device did.
 * @requests: requests completed (any status).
 * @reads: IN requests; @writes: OUT; @flushes: FLUSH.
 * @bytes_read: bytes read from the disk (and written to guest memory).
 * @bytes_written: bytes written to the disk.
 * @errors: requests completed with VIRTIO_BLK_S_IOERR or _UNSUPP.
 * @interrupts: INTx assertions.
 * @needs_reset: times the device entered DEVICE_NEEDS_RESET.
 */
struct virtio_blk_stats {
	uint64_t requests, reads, writes, flushes;
	uint64_t bytes_read, bytes_written;
	uint64_t errors, interrupts, needs_reset;
};

/**
 * virtio_blk_new() - Create the device.
 * @dev: the uiommu device its DMA goes through.
 * @disk_fd: the disk (read-write); owned by the device from now on.
 * @log: log callback; @log_opaque for it.
 *
 * The capacity is the file's size in whole 512-byte sectors.
 *
 * Return: the function, or NULL (out of memory, or the file cannot be
 * sized).
 */
struct pcifn *virtio_blk_new(struct uiommu_dev *dev, int disk_fd, vblk_log_fn *log,
			     void *log_opaque);

/** virtio_blk_get_stats() - Counters of a virtio_blk_new() function. */
void virtio_blk_get_stats(struct pcifn *fn, struct virtio_blk_stats *st);

#endif /* UIOMMU_VFIO_PRELOAD_VIRTIO_BLK_H */
