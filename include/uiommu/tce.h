/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uiommu/tce.h - TCE tables and DMA windows, as a POWER PHB walks them.
 *
 * Concepts:
 * - A TCE table translates one DMA window of the I/O bus: bus addresses
 *   [bus_offset, bus_offset + (it_size << page_shift)) are cut into IOMMU
 *   pages of 1 << page_shift bytes (4 KiB to 16 GiB), and entry number
 *   (ioba >> page_shift) holds the TCE of that page. Entry numbers are
 *   absolute, as Linux's: the first is it_offset = bus_offset >> page_shift.
 * - A TCE is a big-endian 64-bit word: (hpa & page mask) | UIOMMU_TCE_READ
 *   | UIOMMU_TCE_WRITE (Linux asm/tce.h TCE_PCI_READ / TCE_PCI_WRITE, from
 *   the device's view: READ lets it read memory, WRITE lets it write).
 *   As on powernv, write implies read: a FROM_DEVICE mapping is stored R|W.
 * - Tables have 1 to 5 levels (Linux powernv, pci-ioda-tce.c). Each level
 *   page holds it_level_size entries and is a run of host frames (mem.h) of
 *   at least the modelled host's page size (uiommu_ctx_host_page_shift()).
 *   Indirect entries hold the hpa of the next level | READ | WRITE, so a
 *   process that maps the library's RAM (uiommu_ram_get_fd()) can walk a
 *   table from its base hpa exactly as a PHB does. Only the first level is
 *   allocated at creation; the others when an entry under them is first
 *   set, without a lock (compare-and-swap; the loser frees its page).
 *   Clearing, reading and translating never allocate: an absent level reads
 *   as empty entries.
 * - Beside the hardware table, every table has a userspace-address shadow
 *   of the same geometry (Linux it_userspace): one 64-bit word per entry
 *   that the owner uses to remember which user address backs each TCE.
 * - Geometry, sizes and rejections are Linux powernv's, so that a table's
 *   cost can be predicted (uiommu_tce_table_size(), the "uiommu tce-size"
 *   command) and charged exactly: the table counts
 *   uiommu_tce_table_size() bytes against UIOMMU_RES_TABLE_BYTES and one
 *   UIOMMU_RES_WINDOWS, whatever is really allocated; the frames it holds
 *   also count against UIOMMU_RES_FRAME_BYTES.
 * - TCE-cache invalidation ("kill"): owners of a table (table groups, the
 *   devices that cache translations) link a kill callback to it. The
 *   batch operations call every linked callback once per batch with the
 *   first entry and the number of entries, as Linux's iommu_tce_kill()
 *   does for every group in it_group_list.
 *
 * Thread safety: the entry operations (xchg, get, clear, translate, the
 * shadow, kill) may run concurrently on one table from any number of
 * threads, with no lock. Each entry changes atomically: a translation or a
 * get sees the entry either before or after a concurrent exchange, never a
 * mix; two exchanges of the same entry are ordered, and each returns what
 * the other left. A thread may use a table while it holds a reference
 * (uiommu_tce_table_ref()); the last uiommu_tce_table_unref() must not race
 * with any other call on the table.
 */
#ifndef UIOMMU_TCE_H
#define UIOMMU_TCE_H

#include <stdint.h>
#include <stddef.h>

#include <uiommu/types.h>
#include <uiommu/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uiommu_tce_table;

/* TCE permission bits (Linux asm/tce.h TCE_PCI_READ, TCE_PCI_WRITE). */
#define UIOMMU_TCE_READ			0x1ULL
#define UIOMMU_TCE_WRITE		0x2ULL
#define UIOMMU_TCE_PERM_MASK		(UIOMMU_TCE_READ | UIOMMU_TCE_WRITE)
/* Bytes per TCE (Linux TCE_ENTRY_SIZE). */
#define UIOMMU_TCE_ENTRY_SIZE		8u
/* IOMMU page sizes: 4 KiB to 16 GiB, as log2 (KVM's 12..34). */
#define UIOMMU_TCE_PAGE_SHIFT_MIN	12u
#define UIOMMU_TCE_PAGE_SHIFT_MAX	34u
/* Levels (Linux POWERNV_IOMMU_MAX_LEVELS, POWERNV_IOMMU_DEFAULT_LEVELS). */
#define UIOMMU_TCE_LEVELS_MAX		5u
#define UIOMMU_TCE_LEVELS_DEFAULT	2u
/* A table must reach fewer bus-address bits than this (Linux powernv). */
#define UIOMMU_TCE_ADDR_BITS_MAX	55u
/* powernv's bus offsets: the 32-bit window and the 64-bit (DDW) window. */
#define UIOMMU_TCE_BUS_OFFSET_32	0x0ULL
#define UIOMMU_TCE_BUS_OFFSET_64	(1ULL << 59)
/*
 * Kill callbacks linked to one table, at most: a compound group of 16 PEs
 * takes 16, and a VFIO container shares its tables among all its groups.
 */
#define UIOMMU_TCE_KILL_LINKS_MAX	64u

/**
 * uiommu_tce_table_size() - Bytes a table of this geometry takes.
 * @host_page_shift: the modelled host's page size as log2 of bytes, 12 or
 *	16 (see uiommu_ctx_host_page_shift()); level pages are at least this.
 * @page_shift: IOMMU page size as log2 of bytes,
 *	UIOMMU_TCE_PAGE_SHIFT_MIN..UIOMMU_TCE_PAGE_SHIFT_MAX.
 * @window_size: DMA window in bytes, a power of two, at least one IOMMU
 *	page.
 * @levels: 1..UIOMMU_TCE_LEVELS_MAX.
 *
 * The hardware levels of a fully populated table plus its userspace
 * shadow, bit for bit the number Linux's pnv_pci_ioda2_get_table_size()
 * gives (with PAGE_SHIFT = @host_page_shift), which is what VFIO charges to
 * locked_vm and what uiommu_tce_table_new() charges to
 * UIOMMU_RES_TABLE_BYTES. The host page size is a parameter, not taken
 * from a context, so that a table's cost can be planned without one.
 *
 * Unlike Linux, which returns a size for some geometries that
 * pnv_pci_ioda2_table_alloc_pages() then refuses, this returns 0 for every
 * geometry uiommu_tce_table_new() refuses: @levels outside 1..5, a window
 * that is not a power of two or smaller than one IOMMU page, a page size
 * outside 12..34, a host page size other than 12 or 16, and a table that
 * would reach UIOMMU_TCE_ADDR_BITS_MAX bits or more:
 * (level_shift - 3) * levels + page_shift >= 55, where level_shift is
 * log2 of the bytes of one level page.
 *
 * Context: pure; any thread.
 *
 * Return: bytes, or 0 for an invalid geometry.
 */
uint64_t uiommu_tce_table_size(unsigned int host_page_shift, unsigned int page_shift,
			       uint64_t window_size, unsigned int levels);

/**
 * struct uiommu_tce_geometry - the shape of a table, before it exists.
 * @size: in: sizeof(struct uiommu_tce_geometry) as the caller knows it;
 *	the library fills that many bytes at most (and zeroes a tail it does
 *	not know).
 * @it_size: entries the table has (Linux it_size): the window's pages,
 *	but at least one host page of TCEs, so it can exceed the window.
 * @it_level_size: entries per level page (Linux it_level_size).
 * @level_shift: log2 of the bytes of one level page.
 * @bus_addr_bits: bits of bus address the levels could reach,
 *	(level_shift - 3) * levels + page_shift; below 55 when valid.
 * @table_size: uiommu_tce_table_size() of the geometry.
 * @hw_size: bytes of the hardware levels alone (half of @table_size).
 */
struct uiommu_tce_geometry {
	uint32_t size;
	uint32_t level_shift;
	uint32_t bus_addr_bits;
	uint32_t reserved;
	uint64_t it_size;
	uint64_t it_level_size;
	uint64_t table_size;
	uint64_t hw_size;
};

/**
 * uiommu_tce_geometry() - Compute the shape of a table.
 * @host_page_shift: as uiommu_tce_table_size().
 * @page_shift: as uiommu_tce_table_size().
 * @window_size: as uiommu_tce_table_size().
 * @levels: as uiommu_tce_table_size().
 * @ret_geo: on success, the geometry; its @size must be set by the caller.
 *
 * What uiommu_tce_table_new() would build, for planning tools. When the
 * only fault is the address-bits rule, @ret_geo is filled anyway (with
 * @table_size 0) so that a tool can say by how much it fails.
 *
 * Context: pure; any thread.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL an invalid geometry (see uiommu_tce_table_size()), a NULL
 *   @ret_geo or a @ret_geo->size below the first version's;
 * * -ERANGE the geometry reaches 55 bits of bus address or more
 *   (@ret_geo filled).
 */
int uiommu_tce_geometry(unsigned int host_page_shift, unsigned int page_shift,
			uint64_t window_size, unsigned int levels,
			struct uiommu_tce_geometry *ret_geo);

/**
 * uiommu_tce_table_new() - Create a TCE table for a DMA window.
 * @ctx: context; its host page shift sets the size of level pages.
 * @bus_offset: first bus address of the window, aligned to the IOMMU page
 *	(UIOMMU_TCE_BUS_OFFSET_32 or UIOMMU_TCE_BUS_OFFSET_64 on powernv).
 * @page_shift: IOMMU page size, log2 of bytes, 12..34.
 * @window_size: bytes, a power of two, at least one IOMMU page.
 * @levels: 1..UIOMMU_TCE_LEVELS_MAX.
 * @ret_tbl: on success, the table with one reference.
 *
 * As Linux pnv_pci_ioda2_table_alloc_pages() with the userspace copy
 * (create_table_userspace): allocates the first level of the hardware table
 * and of the userspace shadow, all entries empty. The table has it_size
 * entries (see struct uiommu_tce_geometry), which can exceed the window;
 * every operation uses that size, as Linux reports it. Charges
 * uiommu_tce_table_size() to UIOMMU_RES_TABLE_BYTES and one
 * UIOMMU_RES_WINDOWS; the level pages held count as host frames.
 *
 * Context: allocates (heap and host frames); may sleep.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @ctx or @ret_tbl, an invalid geometry (as
 *   uiommu_tce_table_size() returns 0 for: as Linux, levels, window and the
 *   55-bit rule are -EINVAL), or a misaligned @bus_offset;
 * * -EOVERFLOW the window would run past bus address 2^64 - 1;
 * * -ENOSPC the UIOMMU_RES_WINDOWS limit;
 * * -ENOMEM the UIOMMU_RES_TABLE_BYTES or UIOMMU_RES_FRAME_BYTES limit, a
 *   level page larger than the largest run of host frames (1 GiB), or out
 *   of memory.
 */
int uiommu_tce_table_new(struct uiommu_ctx *ctx, uint64_t bus_offset, unsigned int page_shift,
			 uint64_t window_size, unsigned int levels,
			 struct uiommu_tce_table **ret_tbl);

/**
 * uiommu_tce_table_ref() - Take a reference to a table.
 * @tbl: table.
 *
 * As Linux iommu_tce_table_get().
 *
 * Context: any thread; lock-free.
 *
 * Return: @tbl.
 */
struct uiommu_tce_table *uiommu_tce_table_ref(struct uiommu_tce_table *tbl);

/**
 * uiommu_tce_table_unref() - Drop a reference to a table.
 * @tbl: table, or NULL (nothing happens).
 *
 * As Linux iommu_tce_table_put(): the last reference frees every level of
 * the hardware table and of the shadow, whatever they still hold (the
 * owner unmaps first if it must release what the TCEs point at), and
 * uncharges the table. Kill callbacks still linked are dropped.
 *
 * Context: the last reference must not race with any other use of @tbl:
 * every thread using a table holds a reference, or (inside the library)
 * finds it through an RCU-published pointer whose owner drops its
 * reference only after a grace period (the pattern of Linux's KVM, which
 * drops the table from a call_rcu() callback). The last reference frees
 * host frames (takes the frame allocator's lock, punches holes in its
 * memfd): not inside an RCU read-side critical section.
 *
 * Return: NULL.
 */
struct uiommu_tce_table *uiommu_tce_table_unref(struct uiommu_tce_table *tbl);

/**
 * struct uiommu_tce_table_info - what a table is, and where.
 * @size: in: sizeof(struct uiommu_tce_table_info) as the caller knows it;
 *	the library fills that many bytes at most (and zeroes a tail it does
 *	not know).
 * @page_shift: IOMMU page size, log2 of bytes (Linux it_page_shift).
 * @levels: number of levels (Linux it_indirect_levels + 1).
 * @level_shift: log2 of the bytes of one level page.
 * @host_page_shift: the context's host page shift.
 * @bus_offset: first bus address (it_offset << page_shift).
 * @window_size: the window size asked for at creation.
 * @it_offset: number of the first entry.
 * @it_size: number of entries (the window in pages, at least a host page
 *	of TCEs).
 * @it_level_size: entries per level page.
 * @allocated_size: bytes charged to UIOMMU_RES_TABLE_BYTES
 *	(Linux it_allocated_size, = uiommu_tce_table_size()).
 * @level_bytes: bytes of level pages the table holds now, hardware and
 *	shadow (grows as levels are allocated on demand).
 * @base_hpa: hpa of the first level of the hardware table: what a PHB's
 *	TCE validation entry (TVE) points at.
 * @ua_base_hpa: hpa of the first level of the userspace shadow.
 * @refs: references held now (uiommu_tce_table_ref()); a snapshot.
 * @kill_links: kill callbacks linked now (the table groups whose windows
 *	it backs, Linux it_group_list); a snapshot.
 *
 * @refs and @kill_links were added after the first version: a caller whose
 * @size ends before them gets the fields before them only.
 */
struct uiommu_tce_table_info {
	uint32_t size;
	uint32_t page_shift;
	uint32_t levels;
	uint32_t level_shift;
	uint32_t host_page_shift;
	uint32_t reserved;
	uint64_t bus_offset;
	uint64_t window_size;
	uint64_t it_offset;
	uint64_t it_size;
	uint64_t it_level_size;
	uint64_t allocated_size;
	uint64_t level_bytes;
	uint64_t base_hpa;
	uint64_t ua_base_hpa;
	uint32_t refs;
	uint32_t kill_links;
};

/**
 * uiommu_tce_table_info() - Describe a table.
 * @tbl: table.
 * @ret_info: on success, the description; its @size must be set by the
 *	caller.
 *
 * Context: any thread; lock-free.
 *
 * Return: 0, or -EINVAL for a NULL @ret_info or a @ret_info->size below
 * the first version's.
 */
int uiommu_tce_table_info(const struct uiommu_tce_table *tbl,
			  struct uiommu_tce_table_info *ret_info);

/**
 * uiommu_tce_table_ctx() - The context of a table.
 * @tbl: table.
 *
 * Return: the context the table was created in.
 */
struct uiommu_ctx *uiommu_tce_table_ctx(const struct uiommu_tce_table *tbl);

/**
 * uiommu_tce_table_check_ioba() - Check a range of bus addresses.
 * @tbl: table.
 * @ioba: first bus address, in bytes.
 * @npages: number of IOMMU pages from @ioba.
 *
 * As Linux iommu_tce_check_ioba() but over the whole range: @ioba must be
 * aligned to the IOMMU page, and every page of [@ioba, @ioba + @npages
 * pages) must lie in the table's entries. Linux checks only the
 * first page (it ignores @npages, so a range running past the end of the
 * window passed) and its callers' macros return 1, not an errno; here the
 * end is checked, without overflow, and the failure is -EINVAL.
 *
 * Context: pure; any thread.
 *
 * Return: 0, or -EINVAL: @ioba misaligned, @npages 0, the range wraps past
 * 2^64 - 1, or a page of it is outside the table.
 */
int uiommu_tce_table_check_ioba(const struct uiommu_tce_table *tbl, uint64_t ioba,
				uint64_t npages);

/**
 * uiommu_tce_direction() - The DMA direction a TCE grants.
 * @tce: a TCE (native byte order).
 *
 * As Linux iommu_tce_direction(): R|W is BIDIRECTIONAL, R is TO_DEVICE, W
 * is FROM_DEVICE, neither is NONE.
 *
 * Return: the direction.
 */
enum uiommu_dma_dir uiommu_tce_direction(uint64_t tce);

/**
 * uiommu_tce_perm() - The TCE permission bits of a DMA direction.
 * @dir: direction.
 *
 * As Linux iommu_direction_to_tce_perm(): BIDIRECTIONAL is R|W, TO_DEVICE
 * is R, FROM_DEVICE is W, anything else 0.
 *
 * Return: UIOMMU_TCE_READ and/or UIOMMU_TCE_WRITE, or 0.
 */
uint64_t uiommu_tce_perm(enum uiommu_dma_dir dir);

/**
 * uiommu_tce_table_xchg_no_kill() - Exchange one TCE, without invalidation.
 * @tbl: table.
 * @entry: absolute entry number (ioba >> page_shift), in [it_offset,
 *	it_offset + it_size).
 * @hpa: host physical address of the IOMMU page to map, aligned to it and
 *	below UIOMMU_HPA_LIMIT; must be 0 with UIOMMU_DMA_NONE.
 * @dir: access to grant; UIOMMU_DMA_NONE clears the entry.
 * @ret_old_hpa: optional; on success, the hpa the entry held (0 if empty).
 * @ret_old_dir: optional; on success, the direction the entry granted
 *	(UIOMMU_DMA_NONE if empty). As stored: write implies read, so a
 *	FROM_DEVICE mapping comes back BIDIRECTIONAL.
 *
 * As Linux pnv_tce_xchg() (it_ops->xchg_no_kill): stores
 * hpa | perm(dir) | (READ if WRITE) with one atomic exchange and returns
 * the old entry. Allocates the missing levels on the way, unless @dir is
 * UIOMMU_DMA_NONE: then a missing level means the entry is already empty,
 * and nothing is allocated. The caller then calls uiommu_tce_table_kill()
 * once for a batch (Linux iommu_tce_xchg_no_kill() + iommu_tce_kill()).
 *
 * Differences from Linux: a bad @entry, @hpa or @dir is -EINVAL
 * (Linux does not check @entry and BUG()s on a misaligned hpa), and
 * UIOMMU_DMA_NONE with a non-zero @hpa is -EINVAL (Linux stores hpa|0, an
 * entry a PHB ignores but get() reports, and only when the level exists).
 * Marking the old page dirty, as Linux's wrapper does, is the owner's job.
 *
 * Context: lock-free; any thread, concurrently with every entry operation.
 * May allocate host frames (takes the frame allocator's lock): not inside
 * an RCU read-side critical section.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL @entry outside the table, @hpa misaligned or too large, an
 *   unknown @dir, or a non-zero @hpa with UIOMMU_DMA_NONE;
 * * -ENOMEM a level could not be allocated (the UIOMMU_RES_FRAME_BYTES
 *   limit, or out of memory); the entry is unchanged (levels allocated on
 *   the way stay, empty, as in Linux).
 */
int uiommu_tce_table_xchg_no_kill(struct uiommu_tce_table *tbl, uint64_t entry, uint64_t hpa,
				  enum uiommu_dma_dir dir, uint64_t *ret_old_hpa,
				  enum uiommu_dma_dir *ret_old_dir);

/**
 * uiommu_tce_table_xchg_no_alloc() - Exchange one TCE without allocating.
 * @tbl: table.
 * @entry: as uiommu_tce_table_xchg_no_kill().
 * @hpa: as uiommu_tce_table_xchg_no_kill().
 * @dir: as uiommu_tce_table_xchg_no_kill().
 * @ret_old_hpa: as uiommu_tce_table_xchg_no_kill().
 * @ret_old_dir: as uiommu_tce_table_xchg_no_kill().
 *
 * uiommu_tce_table_xchg_no_kill() for paths that must never allocate,
 * block or take a lock, such as a hypercall fast path inside an RCU
 * read-side critical section (Linux's real-mode handlers used
 * pnv_tce_xchg() with alloc = false, retired in v5.19): a missing level is
 * -EAGAIN, and the caller falls back to a path that populates the range
 * (uiommu_tce_table_populate()) and retries. No kill.
 *
 * Context: lock-free; never allocates or sleeps; may run inside an RCU
 * read-side critical section.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL as uiommu_tce_table_xchg_no_kill();
 * * -EAGAIN the level holding @entry is absent (not for UIOMMU_DMA_NONE,
 *   which finds the entry already empty); the entry is unchanged.
 */
int uiommu_tce_table_xchg_no_alloc(struct uiommu_tce_table *tbl, uint64_t entry, uint64_t hpa,
				   enum uiommu_dma_dir dir, uint64_t *ret_old_hpa,
				   enum uiommu_dma_dir *ret_old_dir);

/* What uiommu_tce_table_populate() allocates. */
#define UIOMMU_TCE_POPULATE_HW		(1u << 0)	/* the hardware table's levels */
#define UIOMMU_TCE_POPULATE_UA		(1u << 1)	/* the userspace shadow's levels */

/**
 * uiommu_tce_table_populate() - Allocate the levels under a range.
 * @tbl: table.
 * @entry: first absolute entry number.
 * @npages: number of entries, not 0; [@entry, @entry + @npages) must lie in
 *	the table.
 * @flags: UIOMMU_TCE_POPULATE_HW and/or UIOMMU_TCE_POPULATE_UA.
 *
 * Allocates every missing level page of the chosen trees under the range
 * (Linux's VFIO allocates them entry by entry through
 * IOMMU_TABLE_USERSPACE_ENTRY() and pnv_tce() with alloc = true), so that
 * later uiommu_tce_table_xchg_no_alloc() and
 * uiommu_tce_table_ua_xchg_no_alloc() of the range cannot fail with
 * -EAGAIN: levels are never freed before the table. Entries are not
 * touched; a flat table has nothing to allocate.
 *
 * Context: lock-free like the exchanges; allocates host frames (takes the
 * frame allocator's lock): not inside an RCU read-side critical section.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL @npages is 0, the range is not inside the table, or @flags is
 *   0 or unknown;
 * * -ENOMEM a level could not be allocated (the UIOMMU_RES_FRAME_BYTES
 *   limit, or out of memory); the levels allocated before stay, empty.
 */
int uiommu_tce_table_populate(struct uiommu_tce_table *tbl, uint64_t entry, uint64_t npages,
			      unsigned int flags);

/**
 * uiommu_tce_table_xchg() - Exchange one TCE and invalidate it.
 * @tbl: table.
 * @entry: as uiommu_tce_table_xchg_no_kill().
 * @hpa: as uiommu_tce_table_xchg_no_kill().
 * @dir: as uiommu_tce_table_xchg_no_kill().
 * @ret_old_hpa: as uiommu_tce_table_xchg_no_kill().
 * @ret_old_dir: as uiommu_tce_table_xchg_no_kill().
 *
 * uiommu_tce_table_xchg_no_kill(), then, on success, the kill callbacks
 * with (@entry, 1).
 *
 * Context: as uiommu_tce_table_xchg_no_kill(); the callbacks run in this
 * thread.
 *
 * Return: as uiommu_tce_table_xchg_no_kill().
 */
int uiommu_tce_table_xchg(struct uiommu_tce_table *tbl, uint64_t entry, uint64_t hpa,
			  enum uiommu_dma_dir dir, uint64_t *ret_old_hpa,
			  enum uiommu_dma_dir *ret_old_dir);

/**
 * uiommu_tce_table_get() - Read one TCE.
 * @tbl: table.
 * @entry: absolute entry number, in [it_offset, it_offset + it_size).
 * @ret_tce: on success, the TCE in native byte order (hpa | permission
 *	bits), or 0 if the entry is empty or its level is absent.
 *
 * As Linux pnv_tce_get() (it_ops->get). Never allocates.
 *
 * Context: lock-free; any thread.
 *
 * Return: 0, or -EINVAL for an @entry outside the table.
 */
int uiommu_tce_table_get(const struct uiommu_tce_table *tbl, uint64_t entry, uint64_t *ret_tce);

/**
 * uiommu_tce_table_get_range() - Read a range of TCEs and their shadow words.
 * @tbl: table.
 * @entry: first absolute entry number.
 * @npages: number of entries, not 0; [@entry, @entry + @npages) must lie in
 *	the table.
 * @ret_tces: optional; on success, @npages TCEs, one per entry from @entry,
 *	each as uiommu_tce_table_get() returns it (native byte order, 0 for
 *	an empty entry or an absent level).
 * @ret_uas: optional; on success, @npages words of the userspace shadow,
 *	each as uiommu_tce_table_ua_get() returns it.
 *
 * What uiommu_tce_table_get() and uiommu_tce_table_ua_get() give for each
 * entry of the range, in one walk: each level page is looked up once and
 * an absent one reads as zeros for its whole span. For saving or
 * comparing a whole table (a VMM's migration, a dump, a checker), where a
 * call per entry walks the levels once per entry. Linux has no such call
 * (its users loop over it_ops->get). Never allocates.
 *
 * Context: lock-free; any thread. Each word is read with acquire ordering,
 * as uiommu_tce_table_get(); with concurrent exchanges each word is one
 * the entry held during the call, not a snapshot of the range as a whole.
 *
 * Return: 0, or -EINVAL if @npages is 0 or the range is not inside the
 * table (then nothing is written).
 */
int uiommu_tce_table_get_range(const struct uiommu_tce_table *tbl, uint64_t entry,
			       uint64_t npages, uint64_t *ret_tces, uint64_t *ret_uas);

/**
 * typedef uiommu_tce_clear_fn - told about each entry a clear emptied.
 * @opaque: as given to uiommu_tce_table_clear().
 * @entry: absolute entry number.
 * @old_hpa: the hpa the entry held.
 * @old_dir: the direction it granted (as stored: write implies read).
 *
 * Called in the clearing thread, after the entry was emptied, outside any
 * lock or RCU read-side critical section; it may call back into the
 * library (to unpin @old_hpa, for example).
 */
typedef void uiommu_tce_clear_fn(void *opaque, uint64_t entry, uint64_t old_hpa,
				 enum uiommu_dma_dir old_dir);

/**
 * uiommu_tce_table_clear() - Empty a range of entries.
 * @tbl: table.
 * @entry: first absolute entry number.
 * @npages: number of entries, not 0; [@entry, @entry + @npages) must lie in
 *	the table.
 * @fn: optional; called once for each entry that held a TCE.
 * @opaque: passed to @fn.
 * @ret_cleared: optional; on success, the number of entries that held a
 *	TCE.
 *
 * Exchanges every non-empty entry of the range with 0, as Linux's VFIO
 * tce_iommu_clear() does entry by entry, then calls the kill callbacks
 * once with (@entry, @npages), always, as Linux does. Allocates
 * nothing: a range whose level is absent is skipped whole, at every level
 * (Linux skips only missing last-level pages).
 *
 * Context: lock-free; any thread. Concurrent exchanges of entries in the
 * range are each ordered before or after this clear's exchange of them.
 *
 * Return: 0, or -EINVAL if @npages is 0 or the range is not inside the
 * table.
 */
int uiommu_tce_table_clear(struct uiommu_tce_table *tbl, uint64_t entry, uint64_t npages,
			   uiommu_tce_clear_fn *fn, void *opaque, uint64_t *ret_cleared);

/**
 * uiommu_tce_table_translate() - Translate a bus address, as a device would.
 * @tbl: table.
 * @ioba: bus address of the access, in bytes.
 * @ret_hpa: on success, the hpa of the byte at @ioba: the TCE's page plus
 *	the offset of @ioba in the IOMMU page.
 * @ret_prot: on success, UIOMMU_PROT_READ and/or UIOMMU_PROT_WRITE: what
 *	the device may do in this IOMMU page (never 0).
 *
 * The walk a PHB does: find the entry of @ioba, follow the levels by hpa,
 * read the TCE (with acquire ordering, so that data written before the
 * mapping was installed is visible). Never allocates.
 *
 * Context: lock-free; any thread, concurrently with exchanges: it sees the
 * entry before or after each.
 *
 * Return: 0, or a negative errno:
 * * -ERANGE @ioba is outside the window (no translation applies);
 * * -EFAULT the entry is empty (a TCE fault).
 */
int uiommu_tce_table_translate(const struct uiommu_tce_table *tbl, uint64_t ioba,
			       uint64_t *ret_hpa, unsigned int *ret_prot);

/**
 * uiommu_tce_table_ua_xchg() - Exchange one word of the userspace shadow.
 * @tbl: table.
 * @entry: absolute entry number, in [it_offset, it_offset + it_size).
 * @ua: the user address that backs the entry, or 0 for none.
 * @ret_old_ua: optional; on success, the previous word (0 if none).
 *
 * The shadow is Linux's it_userspace, reached with
 * IOMMU_TABLE_USERSPACE_ENTRY(): the owner's record of which user address
 * backs each TCE, stored big-endian in host frames like the table. Missing
 * levels are allocated, except when @ua is 0 (then a missing level means
 * the word is already 0). The hardware table is not touched.
 *
 * Context: as uiommu_tce_table_xchg_no_kill().
 *
 * Return: 0, or a negative errno:
 * * -EINVAL @entry outside the table;
 * * -ENOMEM a level could not be allocated; the word is unchanged.
 */
int uiommu_tce_table_ua_xchg(struct uiommu_tce_table *tbl, uint64_t entry, uint64_t ua,
			     uint64_t *ret_old_ua);

/**
 * uiommu_tce_table_ua_xchg_no_alloc() - Exchange a shadow word without allocating.
 * @tbl: table.
 * @entry: as uiommu_tce_table_ua_xchg().
 * @ua: as uiommu_tce_table_ua_xchg().
 * @ret_old_ua: as uiommu_tce_table_ua_xchg().
 *
 * As uiommu_tce_table_ua_xchg(), but a missing level is -EAGAIN (unless
 * @ua is 0), as uiommu_tce_table_xchg_no_alloc() for the table.
 *
 * Context: lock-free; never allocates or sleeps; may run inside an RCU
 * read-side critical section.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL @entry outside the table;
 * * -EAGAIN the level holding @entry is absent; the word is unchanged.
 */
int uiommu_tce_table_ua_xchg_no_alloc(struct uiommu_tce_table *tbl, uint64_t entry, uint64_t ua,
				      uint64_t *ret_old_ua);

/**
 * uiommu_tce_table_ua_get() - Read one word of the userspace shadow.
 * @tbl: table.
 * @entry: absolute entry number, in [it_offset, it_offset + it_size).
 * @ret_ua: on success, the word, 0 if none or if its level is absent.
 *
 * As IOMMU_TABLE_USERSPACE_ENTRY_RO(), which never allocates.
 *
 * Context: lock-free; any thread.
 *
 * Return: 0, or -EINVAL for an @entry outside the table.
 */
int uiommu_tce_table_ua_get(const struct uiommu_tce_table *tbl, uint64_t entry,
			    uint64_t *ret_ua);

/**
 * typedef uiommu_tce_kill_fn - invalidate cached translations.
 * @opaque: as given to uiommu_tce_table_kill_link().
 * @tbl: the table whose entries changed.
 * @entry: first absolute entry number of the batch.
 * @npages: number of entries in the batch.
 *
 * The TCE-cache kill of a table group (Linux it_ops->tce_kill, which
 * pnv_pci_ioda2_tce_invalidate() does for every group in it_group_list).
 * Called inside an RCU read-side critical section, possibly concurrently
 * from several threads: it must not block, must not take a mutex, and must
 * not link or unlink kill callbacks.
 */
typedef void uiommu_tce_kill_fn(void *opaque, struct uiommu_tce_table *tbl, uint64_t entry,
				uint64_t npages);

/**
 * uiommu_tce_table_kill_link() - Have a table call a kill callback.
 * @tbl: table.
 * @fn: callback.
 * @opaque: passed to @fn; (@fn, @opaque) names the link.
 *
 * As linking a table group to a table (Linux
 * pnv_pci_link_table_and_group() adds it to it_group_list). Kills that
 * start after this returns call @fn. The link takes no reference: table
 * groups hold their own.
 *
 * Context: takes the table's link lock; does not allocate; not inside an
 * RCU read-side critical section.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @fn;
 * * -EEXIST (@fn, @opaque) is already linked;
 * * -ENOSPC UIOMMU_TCE_KILL_LINKS_MAX links already.
 */
int uiommu_tce_table_kill_link(struct uiommu_tce_table *tbl, uiommu_tce_kill_fn *fn,
			       void *opaque);

/**
 * uiommu_tce_table_kill_unlink() - Stop calling a kill callback.
 * @tbl: table.
 * @fn: callback.
 * @opaque: as linked.
 *
 * As Linux pnv_pci_unlink_table_and_group(). Waits for an RCU grace
 * period, so that when it returns no call of @fn for @tbl is running or
 * will start: @opaque may then be freed.
 *
 * Context: takes the table's link lock; may sleep; not inside an RCU
 * read-side critical section nor from a kill callback.
 *
 * Return: 0, or -ENOENT if (@fn, @opaque) is not linked.
 */
int uiommu_tce_table_kill_unlink(struct uiommu_tce_table *tbl, uiommu_tce_kill_fn *fn,
				 void *opaque);

/**
 * uiommu_tce_table_kill() - Invalidate cached translations of entries.
 * @tbl: table.
 * @entry: first absolute entry number.
 * @npages: number of entries.
 *
 * Calls every linked kill callback once with (@entry, @npages), as Linux
 * iommu_tce_kill(). For batches of uiommu_tce_table_xchg_no_kill().
 *
 * Context: lock-free (an RCU read-side critical section around the
 * callbacks); any thread.
 *
 * Return: 0, or -EINVAL if @npages is 0 or the range is not inside the
 * table.
 */
int uiommu_tce_table_kill(struct uiommu_tce_table *tbl, uint64_t entry, uint64_t npages);

#ifdef __cplusplus
}
#endif

#endif /* UIOMMU_TCE_H */
