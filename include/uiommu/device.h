/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uiommu/device.h - emulated PCI devices that DMA through a PE.
 *
 * Concepts:
 * - A device is named by its PCI address "dddd:bb:dd.f" (domain of its PHB,
 *   bus, device, function) and attached to one PE (pe.h). It reads and
 *   writes host memory only through the PE, as a device behind a POWER PHB
 *   does: bus address -> TVE (window) -> TCE table -> TCE -> hpa -> the
 *   bytes of the host memory model (mem.h). Or, while the host owns the PE,
 *   through the 64-bit bypass (bus address UIOMMU_PE_BYPASS_BASE + hpa).
 * - Directions are the device's: a DMA read moves memory to the device
 *   (UIOMMU_DMA_TO_DEVICE) and needs UIOMMU_TCE_READ in the TCE; a DMA
 *   write moves data into memory (UIOMMU_DMA_FROM_DEVICE) and needs
 *   UIOMMU_TCE_WRITE.
 * - A transfer (one bus range, or a scatter-gather list of them) is cut at
 *   IOMMU page boundaries and each page is translated on its own, possibly
 *   from the PE's TCE cache. A bad DMA is a reported fault, never a wrong
 *   byte: the bytes before the faulting IOMMU page are moved, nothing at or
 *   after it; the fault record (struct uiommu_dma_fault) names the device,
 *   bus address, direction and reason; the context's log callback
 *   (UIOMMU_LOG_GUEST_ERROR, rate-limited) and UIOMMU_COUNTER_DMA_FAULTS see
 *   it. With EEH enabled on the PE the fault freezes the PE: every later
 *   DMA of its devices fails (UIOMMU_DMA_FAULT_FROZEN) until the PE is
 *   unfrozen or reset (uiommu_table_group_eeh_op()).
 * - Fault mode: a device created with a fault handler (recoverable device
 *   page faults, as a GPU's) gets every translation fault first; the
 *   handler may resolve it (map the TCEs, then kill) and ask for a retry of
 *   the faulting page. Only a fault the handler does not resolve is
 *   reported.
 *
 * Thread safety: any number of threads may run DMA on one device, or on
 * devices of one PE, concurrently with each other and with every table and
 * group operation (exchanges, clears, kills, set/unset_window, ownership,
 * EEH). A translation is never torn: each page uses the TCE before or after
 * a concurrent exchange. After a kill (or unset_window) returns, no DMA
 * reaches the pages the killed entries pointed at. uiommu_dev_free() must
 * not race with DMA on the device.
 */
#ifndef UIOMMU_DEVICE_H
#define UIOMMU_DEVICE_H

#include <stdint.h>
#include <stddef.h>

#include <uiommu/types.h>
#include <uiommu/ctx.h>
#include <uiommu/pe.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uiommu_dev;

/* A PCI bus/device/function number: bus 0..255, dev 0..31, fn 0..7. */
#define UIOMMU_PCI_BDF(bus, dev, fn)	(((bus) << 8) | ((dev) << 3) | (fn))
/* Bytes of a device's name "dddd:bb:dd.f", with its NUL. */
#define UIOMMU_DEV_NAME_MAX		16

/**
 * enum uiommu_dma_fault_reason - why a DMA page was refused.
 * @UIOMMU_DMA_FAULT_NONE: no fault.
 * @UIOMMU_DMA_FAULT_NO_WINDOW: no TVE covers the bus address (and it is
 *	not in the bypass window of a host-owned PE).
 * @UIOMMU_DMA_FAULT_INVALID_TCE: the TCE is empty (neither READ nor WRITE).
 * @UIOMMU_DMA_FAULT_PERMISSION: the TCE does not allow the direction (a
 *	read needs UIOMMU_TCE_READ, a write UIOMMU_TCE_WRITE).
 * @UIOMMU_DMA_FAULT_BAD_HPA: the TCE (or the bypass) gives an hpa range
 *	that is not RAM.
 * @UIOMMU_DMA_FAULT_STALE_TCE: strict TCE-cache mode: the cached TCE no
 *	longer matches the table (it was changed without a kill).
 * @UIOMMU_DMA_FAULT_FROZEN: the PE is frozen or in reset (EEH).
 * @UIOMMU_DMA_FAULT_INJECTED: an injected EEH error matched this DMA.
 */
enum uiommu_dma_fault_reason {
	UIOMMU_DMA_FAULT_NONE = 0,
	UIOMMU_DMA_FAULT_NO_WINDOW = 1,
	UIOMMU_DMA_FAULT_INVALID_TCE = 2,
	UIOMMU_DMA_FAULT_PERMISSION = 3,
	UIOMMU_DMA_FAULT_BAD_HPA = 4,
	UIOMMU_DMA_FAULT_STALE_TCE = 5,
	UIOMMU_DMA_FAULT_FROZEN = 6,
	UIOMMU_DMA_FAULT_INJECTED = 7,
};

/* Fault flags (struct uiommu_dma_fault). */
#define UIOMMU_DMA_FAULT_CACHED		(1u << 0) /* the TCE came from the TCE cache */
#define UIOMMU_DMA_FAULT_FROZE		(1u << 1) /* this fault froze the PE */
#define UIOMMU_DMA_FAULT_BYPASS		(1u << 2) /* the address was in the bypass window */

/**
 * struct uiommu_dma_fault - a DMA fault record.
 * @size: in: sizeof(struct uiommu_dma_fault) as the caller knows it; the
 *	library fills that many bytes at most (and zeroes a tail it does not
 *	know). A handler receives a record of the library's size.
 * @reason: enum uiommu_dma_fault_reason.
 * @dir: UIOMMU_DMA_TO_DEVICE (the device read memory) or
 *	UIOMMU_DMA_FROM_DEVICE (it wrote memory).
 * @flags: UIOMMU_DMA_FAULT_* flags.
 * @window: the window (TVE) number used, or -1 (no window, bypass, frozen).
 * @retries: times the device's fault handler had this page retried.
 * @ioba: bus address of the first byte not moved (in the faulting page).
 * @done: bytes of the transfer moved before it.
 * @tce: the TCE that was used (from the cache or the table), or 0.
 * @table_tce: for UIOMMU_DMA_FAULT_STALE_TCE, the TCE the table holds.
 * @hpa: the hpa the translation gave (UIOMMU_DMA_FAULT_BAD_HPA), or 0.
 * @dev_name: the device, "dddd:bb:dd.f", NUL-terminated.
 */
struct uiommu_dma_fault {
	uint32_t size;
	uint32_t reason;
	uint32_t dir;
	uint32_t flags;
	int32_t window;
	uint32_t retries;
	uint64_t ioba;
	uint64_t done;
	uint64_t tce;
	uint64_t table_tce;
	uint64_t hpa;
	char dev_name[UIOMMU_DEV_NAME_MAX];
};

/* What a fault handler returns. */
#define UIOMMU_DEV_FAULT_ABORT		0	/* report the fault */
#define UIOMMU_DEV_FAULT_RETRY		1	/* translate the page again */
/* Retries of one page before the fault is reported anyway. */
#define UIOMMU_DEV_FAULT_RETRIES_MAX	16u

/**
 * typedef uiommu_dev_fault_fn - a device's fault handler (fault mode).
 * @opaque: as configured.
 * @dev: the device.
 * @fault: the fault (its @done counts the bytes moved so far).
 *
 * Called for UIOMMU_DMA_FAULT_NO_WINDOW, _INVALID_TCE, _PERMISSION,
 * _BAD_HPA and _STALE_TCE (not for EEH freezes), in the thread doing the
 * DMA, outside any lock and RCU read-side critical section: it may call
 * into the library (exchange TCEs, kill, even set a window) but not free
 * @dev. It returns UIOMMU_DEV_FAULT_RETRY to have the page translated
 * again (at most UIOMMU_DEV_FAULT_RETRIES_MAX times in a row), or
 * UIOMMU_DEV_FAULT_ABORT to have the fault reported.
 */
typedef int uiommu_dev_fault_fn(void *opaque, struct uiommu_dev *dev,
				const struct uiommu_dma_fault *fault);

/**
 * struct uiommu_dev_config - an emulated PCI device.
 * @size: sizeof(struct uiommu_dev_config), for extensibility: smaller than
 *	the first version is -EINVAL; larger is accepted only if the bytes
 *	this library does not know are zero (else -E2BIG).
 * @bdf: UIOMMU_PCI_BDF(bus, dev, fn); unique on the PHB.
 * @flags: must be 0.
 * @reserved: must be 0.
 * @fault_fn: fault handler, or NULL (faults are reported at once).
 * @fault_opaque: passed to @fault_fn.
 */
struct uiommu_dev_config {
	uint32_t size;
	uint32_t bdf;
	uint32_t flags;
	uint32_t reserved;
	uiommu_dev_fault_fn *fault_fn;
	void *fault_opaque;
};

/**
 * uiommu_dev_new() - Attach an emulated device to a PE.
 * @pe: the PE its DMA goes through.
 * @cfg: configuration (copied).
 * @ret_dev: on success, the device.
 *
 * The device holds the PE: uiommu_pe_free() fails while it exists.
 * Charges one UIOMMU_RES_DEVICES.
 *
 * Context: takes the PHB's lock; allocates.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @pe, @cfg or @ret_dev, a @cfg->size too small, non-zero
 *   flags, a @bdf above 0xffff;
 * * -E2BIG @cfg is larger than this library knows and its tail is not zero;
 * * -EEXIST a device with this @bdf is attached to the PHB;
 * * -ENOSPC the UIOMMU_RES_DEVICES limit;
 * * -ENOMEM out of memory.
 */
int uiommu_dev_new(struct uiommu_pe *pe, const struct uiommu_dev_config *cfg,
		   struct uiommu_dev **ret_dev);

/**
 * uiommu_dev_free() - Detach and destroy a device.
 * @dev: device, or NULL (nothing happens).
 *
 * Context: must not race with DMA or any other call on @dev; takes the
 * PHB's lock.
 *
 * Return: 0.
 */
int uiommu_dev_free(struct uiommu_dev *dev);

/**
 * uiommu_dev_name() - A device's PCI address.
 * @dev: device.
 *
 * Return: "dddd:bb:dd.f" (as Linux pci_name()), valid while @dev exists.
 */
const char *uiommu_dev_name(const struct uiommu_dev *dev);

/**
 * uiommu_dev_pe() - The PE a device is attached to.
 * @dev: device.
 *
 * Return: the PE.
 */
struct uiommu_pe *uiommu_dev_pe(const struct uiommu_dev *dev);

/**
 * uiommu_dev_table_group() - The IOMMU group a device belongs to.
 * @dev: device.
 *
 * What a container attaches and a mirror looks its windows up in: the
 * compound group if the device's PE is a member of one, else the PE's own
 * group.
 *
 * Context: the caller serializes with uiommu_compound_attach() and
 * uiommu_compound_free() of the PE's compound.
 *
 * Return: the group.
 */
struct uiommu_table_group *uiommu_dev_table_group(const struct uiommu_dev *dev);

/**
 * uiommu_dev_set_fault_handler() - Enter or leave fault mode.
 * @dev: device.
 * @fn: handler, or NULL to leave fault mode.
 * @opaque: passed to @fn.
 *
 * Context: must not race with DMA on @dev (quiesce the device first).
 *
 * Return: 0.
 */
int uiommu_dev_set_fault_handler(struct uiommu_dev *dev, uiommu_dev_fault_fn *fn,
				 void *opaque);

/**
 * uiommu_dev_dma_read() - The device reads host memory (DMA to the device).
 * @dev: device.
 * @ioba: bus address of the first byte.
 * @buf: the device's buffer, @len bytes, receives the data.
 * @len: bytes, not 0.
 * @ret_fault: optional; on a fault, the record (its @size set by the
 *	caller); untouched on success.
 *
 * Each IOMMU page of [@ioba, @ioba + @len) is translated in turn (the PE's
 * TCE cache first, then the table) and needs UIOMMU_TCE_READ. On a fault,
 * @buf holds the bytes of the pages before the faulting one (counted in
 * @ret_fault->done) and nothing else is written.
 *
 * Through a window a mirror is bound to (mirror.h), each chunk is also a
 * device access of the mirror's address space (uiommu_mm_dma_begin(),
 * mm.h), entered and left by the DMA itself: the caller need not bracket
 * it, and may (accesses nest).
 *
 * Context: lock-free (RCU read-side sections, never a mutex) except on the
 * fault path, which logs, may call the fault handler and takes the
 * device's fault lock, and through a mirror-bound window, where a chunk
 * waits (sleeps) while the userfaultfd monitor holds the address space
 * and its end may take a mutex to wake an invalidation: not inside an RCU
 * read-side critical section. Does not allocate. Never waits for a kill
 * (kills wait for DMA, in chunks of at most 64 KiB).
 *
 * Return: 0 when every byte moved, or a negative errno:
 * * -EINVAL NULL @dev or @buf, @len 0, or a @ret_fault whose @size is below
 *   the first version's (nothing moved, no fault record);
 * * -EOVERFLOW @ioba + @len - 1 wraps past 2^64 - 1 (nothing moved);
 * * -EFAULT a translation fault (UIOMMU_DMA_FAULT_NO_WINDOW, _INVALID_TCE,
 *   _PERMISSION, _BAD_HPA, _STALE_TCE);
 * * -EIO the PE is frozen or in reset (UIOMMU_DMA_FAULT_FROZEN), or an
 *   injected error matched (UIOMMU_DMA_FAULT_INJECTED).
 */
int uiommu_dev_dma_read(struct uiommu_dev *dev, uint64_t ioba, void *buf, uint64_t len,
			struct uiommu_dma_fault *ret_fault);

/**
 * uiommu_dev_dma_write() - The device writes host memory (DMA from the device).
 * @dev: device.
 * @ioba: bus address of the first byte.
 * @buf: the device's data, @len bytes.
 * @len: bytes, not 0.
 * @ret_fault: optional; on a fault, the record; untouched on success.
 *
 * As uiommu_dev_dma_read() in the other direction: each IOMMU page needs
 * UIOMMU_TCE_WRITE; on a fault, the pages before the faulting one are
 * written to memory and nothing else is.
 *
 * Context: as uiommu_dev_dma_read().
 *
 * Return: as uiommu_dev_dma_read().
 */
int uiommu_dev_dma_write(struct uiommu_dev *dev, uint64_t ioba, const void *buf, uint64_t len,
			 struct uiommu_dma_fault *ret_fault);

/**
 * struct uiommu_dma_sg - one segment of a scatter-gather list.
 * @ioba: bus address of its first byte.
 * @len: bytes, not 0.
 */
struct uiommu_dma_sg {
	uint64_t ioba;
	uint64_t len;
};

/* Segments of one scatter-gather transfer, at most. */
#define UIOMMU_DMA_SG_MAX		65536u

/**
 * uiommu_dev_dma_read_sg() - Read a scatter-gather list into one buffer.
 * @dev: device.
 * @sg: segments, in order.
 * @nsg: number of segments, 1..UIOMMU_DMA_SG_MAX.
 * @buf: receives the segments back to back (their total length).
 * @ret_done: optional; bytes moved (all of them on success; on a fault,
 *	those before the faulting page).
 * @ret_fault: optional; on a fault, the record; untouched on success.
 *
 * As uiommu_dev_dma_read() for each segment in turn, stopping at the first
 * fault. Every segment is checked (length, wrap) before anything moves.
 *
 * Context: as uiommu_dev_dma_read().
 *
 * Return: as uiommu_dev_dma_read(); -EINVAL also for a NULL @sg, @nsg 0
 * or above UIOMMU_DMA_SG_MAX, a zero-length segment, or a total length
 * that wraps; -EOVERFLOW for a segment that wraps.
 */
int uiommu_dev_dma_read_sg(struct uiommu_dev *dev, const struct uiommu_dma_sg *sg,
			   unsigned int nsg, void *buf, uint64_t *ret_done,
			   struct uiommu_dma_fault *ret_fault);

/**
 * uiommu_dev_dma_write_sg() - Write one buffer out to a scatter-gather list.
 * @dev: device.
 * @sg: segments, in order.
 * @nsg: number of segments, 1..UIOMMU_DMA_SG_MAX.
 * @buf: the data, the segments' total length.
 * @ret_done: optional; bytes moved.
 * @ret_fault: optional; on a fault, the record; untouched on success.
 *
 * As uiommu_dev_dma_read_sg() in the other direction.
 *
 * Context: as uiommu_dev_dma_read().
 *
 * Return: as uiommu_dev_dma_read_sg().
 */
int uiommu_dev_dma_write_sg(struct uiommu_dev *dev, const struct uiommu_dma_sg *sg,
			    unsigned int nsg, const void *buf, uint64_t *ret_done,
			    struct uiommu_dma_fault *ret_fault);

/**
 * uiommu_dev_mmio_check() - May the device's MMIO be accessed now?
 * @dev: device.
 *
 * A device model calls this on each MMIO access: while the PE's MMIO is
 * stopped (frozen, or in reset), loads must return all ones (Linux
 * EEH_IO_ERROR_VALUE) and stores be dropped, as on a frozen PHB.
 *
 * Context: lock-free.
 *
 * Return: 0, or -EIO while the PE's MMIO is stopped.
 */
int uiommu_dev_mmio_check(const struct uiommu_dev *dev);

/**
 * struct uiommu_dev_info - what a device has done.
 * @size: in: sizeof(struct uiommu_dev_info) as the caller knows it; the
 *	library fills that many bytes at most (and zeroes a tail it does not
 *	know).
 * @bdf: its bus/device/function.
 * @domain: its PHB's PCI domain.
 * @pe_number: its PE.
 * @bytes_read: bytes it read from memory.
 * @bytes_written: bytes it wrote to memory.
 * @faults: faults reported (not resolved by the handler).
 * @faults_resolved: faults its handler resolved (the retry succeeded).
 */
struct uiommu_dev_info {
	uint32_t size;
	uint32_t bdf;
	uint32_t domain;
	uint32_t pe_number;
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t faults;
	uint64_t faults_resolved;
};

/**
 * uiommu_dev_info() - Describe a device.
 * @dev: device.
 * @ret_info: on success, the description; its @size must be set by the
 *	caller.
 *
 * Context: lock-free (the counters are read one by one).
 *
 * Return: 0, or -EINVAL for a NULL @ret_info or a @ret_info->size below
 * the first version's.
 */
int uiommu_dev_info(const struct uiommu_dev *dev, struct uiommu_dev_info *ret_info);

/**
 * uiommu_dev_last_fault() - The last fault a device reported.
 * @dev: device.
 * @ret_fault: on success, the record; its @size must be set by the caller.
 *
 * Context: takes the device's fault lock.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL a NULL @ret_fault or a @ret_fault->size below the first
 *   version's;
 * * -ENOENT the device has reported no fault.
 */
int uiommu_dev_last_fault(struct uiommu_dev *dev, struct uiommu_dma_fault *ret_fault);

#ifdef __cplusplus
}
#endif

#endif /* UIOMMU_DEVICE_H */
