/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shim.h - the core of libuiommu-vfio-preload: the files of Linux VFIO
 * (/dev/vfio/vfio, /dev/vfio/<group>, a device fd) served to an unmodified
 * client (QEMU) from a uiommu context, so that the client's VFIO sPAPR
 * code drives uiommu's container, PE and an emulated device exactly as it
 * drives the kernel's.
 *
 *   client (QEMU hw/vfio)          the shim (this folder)           libuiommu
 *   ---------------------          ----------------------           ---------
 *   open("/dev/vfio/vfio")  -----> container fd ---- ioctl -------> container (container.h)
 *   open("/dev/vfio/<N>")   -----> group fd: the PE's table group ----> PE (pe.h)
 *   GROUP_GET_DEVICE_FD     -----> device fd: regions, IRQs, reset
 *   pread/pwrite(device fd) -----> struct pcifn (pcifn.h): config space, BARs
 *                                      virtio-blk or null  ---- DMA --> uiommu_dev (device.h)
 *   eventfd (SET_IRQS)      <----- INTx, level-triggered and automasked as vfio-pci
 *
 * Every fd the shim hands out is a real descriptor (a memfd named after
 * what it is), so that the client's close(), fcntl() and /proc listing
 * work; the shim keeps a table of them. A call on one of them that the
 * shim does not implement is logged as an error and refused, never
 * silently accepted.
 *
 * preload.c is the only file that interposes libc: it forwards the calls
 * on the shim's paths and fds here and everything else to libc. Tests
 * call these functions directly (no LD_PRELOAD).
 *
 * Thread safety: every function may be called from any thread; the fd
 * table, the log and each device have their own lock. The container calls
 * take no shim lock (the container serializes itself). As with any fd, one
 * must not be closed while another thread still uses it (the kernel holds
 * the file for the duration of a call; the shim does not).
 */
#ifndef UIOMMU_VFIO_PRELOAD_SHIM_H
#define UIOMMU_VFIO_PRELOAD_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct shim;

/* What shim_open() returns for a path the shim does not serve. */
#define SHIM_NOT_OURS	(-100000)

/* Device models the device fd can serve (UIOMMU_VFIO_DEVICE). */
enum shim_device_kind {
	SHIM_DEVICE_NULL,	/* config space and one BAR; needs no guest driver */
	SHIM_DEVICE_VIRTIO_BLK,	/* a virtio 1.x block device, its disk a file */
};

/**
 * struct shim_config - what the shim serves (from the environment, see
 * shim_config_from_env() and doc/qemu-client.md).
 * @group: IOMMU group number: the shim serves /dev/vfio/<@group>.
 * @sysfsdev: the directory the client's sysfsdev= names; its basename is
 *	the device name GROUP_GET_DEVICE_FD matches. NULL: "0000:00:00.0" and
 *	no directory.
 * @device: enum shim_device_kind.
 * @disk: virtio-blk: the disk image (a file of whole 512-byte sectors).
 * @log_fd: where log lines go (owned by the caller).
 * @log_calls: log every served call, not only errors, events and the
 *	summary.
 * @dump: at teardown, write the host TCE tables to this file; or NULL.
 * @host_page_shift: the modelled host's page shift, 12 or 16.
 * @pin_simulate: charge pins without mlock(2) (UIOMMU_CTX_PIN_SIMULATE).
 * @locked_limit: UIOMMU_RES_LOCKED_BYTES limit in bytes; 0 keeps the
 *	library's default (RLIMIT_MEMLOCK, as the kernel's locked_vm).
 * @tce_cache_mode: the PE's TCE cache (enum uiommu_tce_cache_mode).
 * @pgsizes: IOMMU page sizes of the host PHB (bit n = 1 << n bytes), 0
 *	for the library's default (4K, 64K, 16M, 256M).
 */
struct shim_config {
	unsigned int group;
	const char *sysfsdev;
	enum shim_device_kind device;
	const char *disk;
	int log_fd;
	bool log_calls;
	const char *dump;
	unsigned int host_page_shift;
	bool pin_simulate;
	uint64_t locked_limit;
	unsigned int tce_cache_mode;
	uint64_t pgsizes;
};

/**
 * shim_config_from_env() - Read the configuration from the environment.
 * @cfg: filled in; its strings point into the environment.
 * @err: on failure, why (one line).
 * @errlen: bytes of @err.
 *
 * UIOMMU_VFIO_GROUP, _SYSFSDEV, _DEVICE, _DISK, _LOG, _LOG_CALLS, _DUMP,
 * _HOST_PAGE_SHIFT, _PIN, _LOCKED_LIMIT, _TCE_CACHE, _PGSIZES: see
 * doc/qemu-client.md. Opens the log file (UIOMMU_VFIO_LOG, else stderr).
 *
 * Return: 0, or -EINVAL with @err set.
 */
int shim_config_from_env(struct shim_config *cfg, char *err, size_t errlen);

/**
 * shim_new() - Build the shim's objects: a context with a host PHB, one
 * PE (the IOMMU group) and the emulated device behind it.
 * @cfg: configuration (copied; its strings must outlive the shim).
 * @ret: on success, the shim.
 *
 * Creates the @cfg->sysfsdev directory with its iommu_group link if it
 * does not exist (and removes what it created in shim_free()).
 *
 * Return: 0, or a negative errno (logged).
 */
int shim_new(const struct shim_config *cfg, struct shim **ret);

/**
 * shim_free() - Tear down as the kernel does when a process exits: every
 * fd still open is released (device, group, container: the container's
 * windows, registrations and charges go), then the host tables that were
 * live are dumped (if asked), the summary is logged, and every resource of
 * the context must be back at zero (else an error line).
 * @s: shim, or NULL.
 *
 * Return: 0 if everything was released cleanly, -EBUSY otherwise.
 */
int shim_free(struct shim *s);

/**
 * shim_log() - Write one line to the shim's log (timestamp and thread id
 * first, as QEMU's trace lines).
 * @s: shim.
 * @fmt: printf format, without a trailing newline.
 */
void shim_log(struct shim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * shim_open() - open(2) of a path, if it is one the shim serves.
 * @s: shim.
 * @path: the path.
 * @flags: open flags.
 *
 * Return: a new fd, a negative errno, or SHIM_NOT_OURS (the caller passes
 * the call to libc). Paths under /dev/vfio/ that the shim does not serve
 * are logged as errors and SHIM_NOT_OURS.
 */
int shim_open(struct shim *s, const char *path, int flags);

/**
 * shim_owns() - Is @fd one of the shim's?
 * @s: shim.
 * @fd: descriptor.
 */
bool shim_owns(struct shim *s, int fd);

/**
 * shim_ioctl() - ioctl(2) on one of the shim's fds.
 * @s: shim.
 * @fd: a descriptor shim_owns().
 * @request: the request.
 * @arg: its argument (a pointer, or an integer for CHECK_EXTENSION and
 *	SET_IOMMU).
 *
 * Return: the result (>= 0) or a negative errno.
 */
long shim_ioctl(struct shim *s, int fd, unsigned long request, unsigned long arg);

/**
 * shim_pread() - pread(2) on a device fd (a region read).
 * @s: shim.
 * @fd: a descriptor shim_owns().
 * @buf: destination.
 * @len: bytes.
 * @off: region offset (index << 40 | offset in the region).
 *
 * Return: bytes read or a negative errno.
 */
ssize_t shim_pread(struct shim *s, int fd, void *buf, size_t len, off_t off);

/**
 * shim_pwrite() - pwrite(2) on a device fd (a region write).
 * @s: shim.
 * @fd: a descriptor shim_owns().
 * @buf: source.
 * @len: bytes.
 * @off: region offset.
 *
 * Return: bytes written or a negative errno.
 */
ssize_t shim_pwrite(struct shim *s, int fd, const void *buf, size_t len, off_t off);

/**
 * shim_close() - close(2) of one of the shim's fds: what the kernel's
 * release does (a device is closed, a group leaves its container, a
 * container is freed).
 * @s: shim.
 * @fd: a descriptor shim_owns().
 *
 * The caller closes the real descriptor afterwards.
 *
 * Return: 0.
 */
int shim_close(struct shim *s, int fd);

/**
 * shim_unserved() - Log a call on one of the shim's fds that the shim
 * does not implement, as an error.
 * @s: shim.
 * @fd: the descriptor.
 * @call: what was called ("mmap64 len=0x4000 off=0x0", ...).
 *
 * Return: the negative errno to fail the call with (-ENOTTY, or -EINVAL
 * for an mmap, as vfio-pci refuses a region that is not mmap-able).
 */
int shim_unserved(struct shim *s, int fd, const char *call);

#endif /* UIOMMU_VFIO_PRELOAD_SHIM_H */
