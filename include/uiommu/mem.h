/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uiommu/mem.h - the host memory model: RAM regions, host physical
 * addresses (hpa), host frames, hostmem buffers and pinning.
 *
 * Concepts:
 * - A context models the host's RAM as an hpa space made of RAM regions.
 *   Each region is backed by a file descriptor (a memfd) mapped MAP_SHARED,
 *   so another process that maps the same fd (an emulated device, a backend
 *   domain) sees the same bytes and can reach them by hpa: the byte at hpa
 *   h of a region is at offset (h - region hpa + fd_offset) in its fd.
 * - Region hpa bases are aligned to UIOMMU_HPA_REGION_ALIGN (16 GiB), so
 *   that natural alignment in a region is natural alignment in the hpa
 *   space, and every hpa is below UIOMMU_HPA_LIMIT (2^52, the RPN bits a
 *   TCE carries). hpa 0 is never RAM.
 * - The library owns one region, at UIOMMU_HPA_LIBRARY_BASE, 16 GiB of
 *   sparse address space that costs nothing until used. Its pages are handed
 *   out as host frames: naturally aligned runs of 2^order 4 KiB frames, zeroed
 *   when allocated, returned to the system when freed. TCE levels, guest
 *   views and other library pages live there; callers can also take frames
 *   for their own buffers.
 * - A hostmem buffer is a virtually contiguous buffer whose pages are host
 *   frames that need not be physically contiguous (as user memory is on a
 *   real host). UIOMMU_HOSTMEM_SCATTER guarantees they are not, so that tests
 *   see scattered hpas.
 * - Lookups hpa -> host pointer and host pointer -> hpa are lock-free
 *   (RCU-protected sorted arrays: O(log regions + log buffers)).
 * - Pinning a range of memory that has an hpa mlock(2)s it and charges its
 *   bytes to UIOMMU_RES_LOCKED_BYTES, as the kernel pins and charges
 *   locked_vm. Pins are counted per 4 KiB page, so overlapping pins nest;
 *   the page is munlock(2)ed when its last pin goes.
 */
#ifndef UIOMMU_MEM_H
#define UIOMMU_MEM_H

#include <stdint.h>
#include <stddef.h>

#include <uiommu/types.h>
#include <uiommu/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Alignment of every RAM region's hpa base. */
#define UIOMMU_HPA_REGION_ALIGN		(1ULL << 34)
/* Every hpa is below this (52-bit real page numbers in a TCE). */
#define UIOMMU_HPA_LIMIT		(1ULL << 52)
/* The library's own region: hpa base and size. */
#define UIOMMU_HPA_LIBRARY_BASE		UIOMMU_HPA_REGION_ALIGN
#define UIOMMU_HPA_LIBRARY_SIZE		(16ULL << 30)
/* Largest run of host frames, as an order: 2^18 frames = 1 GiB. */
#define UIOMMU_FRAME_MAX_ORDER		18

/**
 * uiommu_ram_add() - Add a RAM region that the caller owns to the hpa space.
 * @ctx: context.
 * @fd: a file descriptor that can be mapped MAP_SHARED (a memfd, for
 *	example); the library duplicates it and closes its copy on removal.
 * @fd_offset: offset in @fd of the first byte, a multiple of the system
 *	page size.
 * @size: bytes, a non-zero multiple of the system page size.
 * @hva: the caller's existing MAP_SHARED mapping of [@fd_offset, +@size) of
 *	@fd, or NULL to have the library map it (at an address aligned as
 *	@size is, from 64 KiB to 1 GiB, as a VMM aligns guest RAM, so that
 *	host pages are host pages in hva and hpa alike). The caller keeps
 *	@hva mapped until uiommu_ram_remove().
 * @ret_hpa: on success, the hpa of the first byte, a multiple of
 *	UIOMMU_HPA_REGION_ALIGN.
 *
 * Regions are laid out in increasing hpa order; the hpa of a removed region
 * is not reused.
 *
 * Context: takes the context's memory lock; allocates; may sleep.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL @fd < 0, misaligned @fd_offset, @size or @hva, NULL @ret_hpa;
 * * -EOVERFLOW @fd_offset + @size wraps;
 * * -ENOSPC the UIOMMU_RES_RAM_REGIONS limit, or no hpa space left below
 *   UIOMMU_HPA_LIMIT;
 * * -EEXIST @hva overlaps memory the context already knows;
 * * -EBADF @fd is not an open descriptor;
 * * -ENODEV @fd cannot be mapped (a pipe or a socket, for example);
 * * -ENOMEM out of memory, or mapping @fd failed.
 */
int uiommu_ram_add(struct uiommu_ctx *ctx, int fd, uint64_t fd_offset, uint64_t size, void *hva,
		   uint64_t *ret_hpa);

/**
 * uiommu_ram_create() - Create a memfd-backed RAM region.
 * @ctx: context.
 * @size: bytes, a non-zero multiple of the system page size.
 * @ret_hpa: on success, the hpa of the first byte.
 * @ret_hva: on success, the library's mapping of it; zero-filled. Optional.
 *
 * As uiommu_ram_add() with a fresh memfd of @size (sparse: pages are only
 * allocated when touched). Use uiommu_ram_get_fd() to share it.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL misaligned or zero @size, NULL @ret_hpa;
 * * -ENOSPC as uiommu_ram_add();
 * * -ENOMEM out of memory, or memfd_create/ftruncate/mmap failed.
 */
int uiommu_ram_create(struct uiommu_ctx *ctx, uint64_t size, uint64_t *ret_hpa, void **ret_hva);

/**
 * uiommu_ram_remove() - Remove a RAM region.
 * @ctx: context.
 * @hpa: the region's first hpa, as returned when it was added.
 *
 * Unmaps the region if the library mapped it, and closes the library's
 * descriptor. Lookups running concurrently under RCU see the region until
 * they end; its mapping is released after a grace period.
 *
 * Return: 0, or a negative errno:
 * * -ENOENT no region starts at @hpa (the library's own region cannot be
 *   removed);
 * * -EBUSY part of the region is pinned;
 * * -ENOMEM out of memory for the new lookup arrays (as KVM's memslot
 *   updates, removal allocates); nothing changed.
 */
int uiommu_ram_remove(struct uiommu_ctx *ctx, uint64_t hpa);

/**
 * uiommu_ram_get_fd() - Find the descriptor that backs an hpa.
 * @ctx: context.
 * @hpa: any hpa inside a region.
 * @ret_fd: on success, the library's descriptor for the region; valid until
 *	the region is removed (dup(2) it to keep it).
 * @ret_fd_offset: on success, the offset of @hpa in *@ret_fd.
 * @ret_len: on success, bytes from @hpa to the end of the region. Optional.
 *
 * Return: 0, or -EFAULT if @hpa is not RAM, -EINVAL for NULL pointers.
 */
int uiommu_ram_get_fd(struct uiommu_ctx *ctx, uint64_t hpa, int *ret_fd, uint64_t *ret_fd_offset,
		      uint64_t *ret_len);

/**
 * uiommu_ram_migrate() - Migrate a RAM region page to a new hpa.
 * @ctx: context.
 * @hpa: the page's current hpa, 4 KiB aligned: a page of a region added
 *	with uiommu_ram_add() or uiommu_ram_create(), or one migrated before.
 * @ret_new_hpa: on success, the page's new hpa.
 *
 * What the kernel's migrate_pages() does to a page that devices know by
 * its physical address, in this model: the page gets a new hpa, and the old
 * one is poisoned, so that every later translation of it (the
 * uiommu_hpa_to_hva() of a device following a stale TCE) fails with
 * -EFAULT; uiommu_hva_to_hpa() of the page returns the new hpa. The bytes
 * stay where they are, in the region's file, so every mapping of the page
 * (this process's, another's) keeps seeing them, as a migrated page is
 * unchanged to the CPU. Before the hpa changes, the layers that hand hpas
 * to devices are told (mirrors invalidate with UIOMMU_MMU_NOTIFY_MIGRATE,
 * mirror.h) and they stop every device use of the old hpa. New hpas come
 * from a part of the hpa space reserved for them and are never reused.
 * Regions' linear hpas are not affected otherwise.
 *
 * Context: may sleep (the notified layers may wait for device accesses);
 * takes the memory model's migration lock and memory lock; allocates.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @ret_new_hpa or a misaligned @hpa;
 * * -EFAULT @hpa is not a page of a user RAM region, or was poisoned by an
 *   earlier migration, or belongs to a region of huge pages (the library's
 *   own frames do not migrate);
 * * -EBUSY the page is pinned (as the kernel cannot migrate a pinned page);
 * * -ENOSPC no hpa space left for migrated pages;
 * * -ENOMEM out of memory; nothing changed.
 */
int uiommu_ram_migrate(struct uiommu_ctx *ctx, uint64_t hpa, uint64_t *ret_new_hpa);

/**
 * uiommu_hpa_to_hva() - Find the host pointer of an hpa range.
 * @ctx: context.
 * @hpa: first byte.
 * @len: bytes, not 0.
 * @ret_hva: on success, a pointer to the byte at @hpa in the library's (or
 *	the region owner's) mapping; [@hpa, +@len) is contiguous there.
 *
 * Context: lock-free. The pointer stays valid while the region exists.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL @len is 0 or @ret_hva is NULL;
 * * -EOVERFLOW @hpa + @len - 1 wraps;
 * * -EFAULT the range is not inside one RAM region.
 */
int uiommu_hpa_to_hva(struct uiommu_ctx *ctx, uint64_t hpa, uint64_t len, void **ret_hva);

/**
 * uiommu_hva_to_hpa() - Find the hpa behind a host pointer.
 * @ctx: context.
 * @hva: a byte of a region's mapping or of a hostmem buffer.
 * @ret_hpa: on success, its hpa.
 *
 * Context: lock-free.
 *
 * Return: 0, or -EFAULT if @hva has no hpa (plain malloc memory, for
 * example), -EINVAL for a NULL @ret_hpa.
 */
int uiommu_hva_to_hpa(struct uiommu_ctx *ctx, const void *hva, uint64_t *ret_hpa);

/**
 * uiommu_frames_alloc() - Allocate host frames from the library's region.
 * @ctx: context.
 * @order: allocate 2^@order contiguous 4 KiB frames, 0..UIOMMU_FRAME_MAX_ORDER.
 * @ret_hpa: on success, the hpa of the first frame, aligned to 4 KiB << @order.
 *
 * The frames read as zero. Charges 4 KiB << @order to UIOMMU_RES_FRAME_BYTES.
 *
 * Context: takes the frame allocator's lock; does not sleep except to
 * create the region on first use.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL @order too large, NULL @ret_hpa;
 * * -ENOMEM the UIOMMU_RES_FRAME_BYTES limit, no free run of that order, or
 *   creating the region failed.
 */
int uiommu_frames_alloc(struct uiommu_ctx *ctx, unsigned int order, uint64_t *ret_hpa);

/**
 * uiommu_frames_free() - Free host frames.
 * @ctx: context.
 * @hpa: as returned by uiommu_frames_alloc().
 * @order: the order it was allocated with.
 *
 * The frames' memory is given back to the system (FALLOC_FL_PUNCH_HOLE),
 * so every mapping of it, including another process's, reads zero after.
 *
 * Return: 0, or -EINVAL if [@hpa, @order] is not an allocated run (a
 * double free or a wrong order), -EBUSY if a frame is pinned.
 */
int uiommu_frames_free(struct uiommu_ctx *ctx, uint64_t hpa, unsigned int order);

/* Hostmem flags. */
/* Map pages so that no two virtually adjacent pages are physically adjacent. */
#define UIOMMU_HOSTMEM_SCATTER		(1u << 0)

/**
 * uiommu_hostmem_alloc() - Allocate a virtually contiguous buffer of frames.
 * @ctx: context.
 * @size: bytes, a non-zero multiple of 1 << @page_shift.
 * @page_shift: the buffer's backing page size (log2 of bytes), 12 (4 KiB)
 *	to 30 (1 GiB): each such page is one naturally aligned run of frames,
 *	as a huge page would be.
 * @flags: 0 or UIOMMU_HOSTMEM_SCATTER.
 * @ret_hva: on success, the buffer; aligned to 1 << @page_shift; zeroed.
 *
 * Charges UIOMMU_RES_HOSTMEM (one) and the frames to
 * UIOMMU_RES_FRAME_BYTES.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL bad @size, @page_shift or @flags, NULL @ret_hva;
 * * -ENOSPC the UIOMMU_RES_HOSTMEM limit;
 * * -ENOMEM frames, memory or mappings ran out.
 */
int uiommu_hostmem_alloc(struct uiommu_ctx *ctx, uint64_t size, unsigned int page_shift,
			 unsigned int flags, void **ret_hva);

/**
 * uiommu_hostmem_free() - Free a hostmem buffer.
 * @ctx: context.
 * @hva: the buffer's first byte, as returned by uiommu_hostmem_alloc().
 *
 * Return: 0, or -ENOENT if no buffer starts at @hva, -EBUSY if part of it
 * is pinned, -ENOMEM if the new lookup array could not be allocated
 * (nothing changed).
 */
int uiommu_hostmem_free(struct uiommu_ctx *ctx, void *hva);

/**
 * uiommu_hostmem_page_shift() - The backing page size of memory.
 * @ctx: context.
 * @hva: any byte of a hostmem buffer or of a RAM region's mapping.
 * @ret_page_shift: on success, log2 of the size of the naturally aligned,
 *	physically contiguous page that holds @hva: the buffer's page_shift, or
 *	the host page shift (12) for a region's mapping (the huge page size
 *	for a region backed by a hugetlbfs file).
 *
 * What the kernel learns from the page's compound order, and what the
 * VFIO/KVM paths check before trusting a large IOMMU page.
 *
 * Return: 0, or -EFAULT if @hva has no hpa, -EINVAL for NULL @ret_page_shift.
 */
int uiommu_hostmem_page_shift(struct uiommu_ctx *ctx, const void *hva,
			      unsigned int *ret_page_shift);

/**
 * uiommu_pin() - Pin memory and charge it as locked memory.
 * @ctx: context.
 * @hva: first byte, 4 KiB aligned.
 * @size: bytes, a non-zero multiple of 4 KiB.
 * @ret_hpas: optional; on success, the hpa of each 4 KiB page
 *	(@size >> 12 entries).
 *
 * The range must lie inside one region mapping or one hostmem buffer. Each
 * call charges @size bytes to UIOMMU_RES_LOCKED_BYTES (as each kernel user
 * charges its own locked_vm, even for overlapping pins); pages not yet
 * pinned are mlock(2)ed unless the context simulates pinning. Unlike the
 * kernel's account_locked_vm(), CAP_IPC_LOCK does not bypass the limit:
 * raise the limit instead. All or nothing.
 *
 * Context: takes the context's pin lock; may sleep (mlock faults pages in).
 *
 * Return: 0, or a negative errno:
 * * -EINVAL misaligned or zero @size or @hva;
 * * -EOVERFLOW the range wraps;
 * * -EFAULT the range is not inside one region mapping or hostmem buffer;
 * * -ENOMEM the UIOMMU_RES_LOCKED_BYTES limit, mlock(2) failed, or out of
 *   memory.
 */
int uiommu_pin(struct uiommu_ctx *ctx, void *hva, uint64_t size, uint64_t *ret_hpas);

/**
 * uiommu_unpin() - Drop a pin taken by uiommu_pin().
 * @ctx: context.
 * @hva: first byte, 4 KiB aligned.
 * @size: bytes, a non-zero multiple of 4 KiB.
 *
 * Uncharges @size bytes; pages whose last pin goes are munlock(2)ed. All or
 * nothing.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL misaligned or zero @size or @hva, or a page of the range is
 *   not pinned;
 * * -EOVERFLOW the range wraps;
 * * -EFAULT the range is not inside one region mapping or hostmem buffer.
 */
int uiommu_unpin(struct uiommu_ctx *ctx, void *hva, uint64_t size);

#ifdef __cplusplus
}
#endif

#endif /* UIOMMU_MEM_H */
