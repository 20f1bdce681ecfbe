/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uiommu/prereg.h - address spaces and preregistered memory (Linux
 * mm_iommu_*, arch/powerpc/mm/book3s64/iommu_api.c): user memory pinned
 * and charged once, so that mapping it for DMA later needs only a
 * lock-free lookup.
 *
 * Concepts:
 * - An address space (struct uiommu_mm, mm.h: Linux struct mm_struct, the
 *   same one mirrors follow) is what registrations belong to and what a
 *   VFIO container binds (vfio.h), as mm->context.iommu_group_mem_list.
 *   Its addresses ("ua", user addresses) are host virtual addresses of
 *   this process that the memory model resolves (mem.h: a RAM region's
 *   mapping or a hostmem buffer; any memory added with uiommu_ram_add(),
 *   which includes memory the library did not allocate). The process
 *   address space (uiommu_mm_current()), the fork rule and
 *   uiommu_mm_use() are mm.h's; uiommu_mm_free() refuses while regions
 *   remain registered.
 * - A preregistered region (struct uiommu_prereg, Linux
 *   mm_iommu_table_group_mem_t) is a range [ua, ua + size) of whole host
 *   pages (uiommu_ctx_host_page_shift()), pinned (uiommu_pin(), in one pin
 *   per region mapping or hostmem buffer it spans) and charged to
 *   UIOMMU_RES_LOCKED_BYTES when it is created, never again. Regions of an
 *   address space never overlap. A region is found again by an exact
 *   (ua, size) match (uiommu_prereg_get(): "used", the registration count,
 *   so that several containers share one registration) or by any address
 *   inside it (uiommu_prereg_lookup(): O(log regions), lock-free; upstream
 *   walks a list).
 * - Its page shift is the largest IOMMU page it can back: the natural
 *   alignment of ua and size, and no more than the memory model vouches
 *   for (mem.h, uiommu_hostmem_page_shift()): a hostmem buffer's page size
 *   (a huge page, as a hugetlbfs page), but only the host page size for
 *   ordinary memory (a RAM region's mapping), as Linux trusts only
 *   hugetlbfs pages (THP-backed memory counts as small pages).
 * - "mapped" counts the TCEs that point into the region, plus one: 1 is
 *   idle, 0 is dead. The last put moves it from 1 to 0, or fails with
 *   -EBUSY while TCEs remain; once it is 0, uiommu_prereg_mapped_inc()
 *   fails, so no new TCE can reach a region being freed. A user that
 *   installs a TCE pointing into a region increments it first and
 *   decrements it when the TCE goes.
 *
 * Thread safety: every function may be called from any thread.
 * Registrations (new, get, put) of one address space are serialized by its
 * lock and may sleep (pinning faults pages in). Lookups, translations and
 * the mapped counts take no lock, never sleep and never allocate.
 */
#ifndef UIOMMU_PREREG_H
#define UIOMMU_PREREG_H

#include <stdint.h>
#include <stddef.h>

#include <uiommu/types.h>
#include <uiommu/ctx.h>
#include <uiommu/mm.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uiommu_mm;
struct uiommu_prereg;

/**
 * uiommu_prereg_new() - Preregister memory (Linux mm_iommu_new()).
 * @mm: address space.
 * @ua: first byte, aligned to the host page size.
 * @size: bytes, a non-zero multiple of the host page size.
 * @ret_mem: on success, the region, with used 1 and mapped 1.
 *
 * Pins the range (one uiommu_pin() per region mapping or hostmem buffer it
 * spans, each charging its bytes to UIOMMU_RES_LOCKED_BYTES), records the
 * hpa of every page, and computes the region's page shift (see the file
 * comment). Charges one UIOMMU_RES_PREREG_REGIONS. As Linux, the charge
 * and the pins come before the overlap check, so a range that is both too
 * large for the limit and overlapping fails with -ENOMEM. All or nothing.
 *
 * Context: takes @mm's lock; may sleep; allocates.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @mm or @ret_mem, a misaligned @ua or @size, @size 0, or
 *   a range that overlaps a region of @mm (Linux: -EINVAL);
 * * -EOVERFLOW the range wraps past 2^64 - 1;
 * * -EFAULT part of the range is memory the model cannot resolve (Linux:
 *   the pin came up short);
 * * -ENOSPC the UIOMMU_RES_PREREG_REGIONS limit;
 * * -ENOMEM the UIOMMU_RES_LOCKED_BYTES limit (as account_locked_vm()),
 *   mlock(2) failed, or out of memory.
 */
int uiommu_prereg_new(struct uiommu_mm *mm, uint64_t ua, uint64_t size,
		      struct uiommu_prereg **ret_mem);

/**
 * uiommu_prereg_get() - Find a region by its exact range (Linux mm_iommu_get()).
 * @mm: address space.
 * @ua: the region's first byte.
 * @size: its size in bytes.
 * @ret_mem: on success, the region; its used count is one higher.
 *
 * Only a region of exactly [@ua, @ua + @size) matches, as upstream. Each
 * successful get is balanced by a uiommu_prereg_put().
 *
 * Context: takes @mm's lock.
 *
 * Return: 0, or -EINVAL for a NULL @mm or @ret_mem, -ENOENT if no region
 * has exactly this range.
 */
int uiommu_prereg_get(struct uiommu_mm *mm, uint64_t ua, uint64_t size,
		      struct uiommu_prereg **ret_mem);

/**
 * uiommu_prereg_put() - Drop a registration (Linux mm_iommu_put()).
 * @mem: region.
 *
 * Decrements used. The last put also needs the region idle: it moves
 * mapped from 1 to 0 (from then on uiommu_prereg_mapped_inc() fails),
 * unpins the memory, uncharges it and frees the region after an RCU grace
 * period (lock-free readers may still be looking at it). While TCEs point
 * into the region the last put fails and changes nothing.
 *
 * Context: takes the address space's lock; may sleep.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @mem;
 * * -EBUSY this was the last registration and mapped is above 1 (TCEs
 *   still point into the region); used is unchanged.
 */
int uiommu_prereg_put(struct uiommu_prereg *mem);

/**
 * uiommu_prereg_lookup() - Find the region holding a range (Linux mm_iommu_lookup()).
 * @mm: address space.
 * @ua: first byte.
 * @size: bytes, not 0.
 * @ret_mem: on success, the region holding all of [@ua, @ua + @size).
 *
 * A binary search of the address space's regions, which never overlap
 * (upstream walks a list). A dead region (mapped 0) is not found. The
 * result takes no reference: it stays valid while the region stays
 * registered, so the caller must hold a registration (get) or a mapped
 * count, or know that no final put races with it.
 *
 * Context: lock-free; does not allocate.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @mm or @ret_mem, or @size 0;
 * * -ENOENT no live region holds the whole range (or it wraps).
 */
int uiommu_prereg_lookup(struct uiommu_mm *mm, uint64_t ua, uint64_t size,
			 struct uiommu_prereg **ret_mem);

/**
 * uiommu_prereg_ua_to_hpa() - Translate a user address (Linux mm_iommu_ua_to_hpa()).
 * @mem: region.
 * @ua: an address inside it.
 * @page_shift: the IOMMU page the caller will map, log2 of bytes.
 * @ret_hpa: on success, the hpa of the byte at @ua.
 *
 * Refuses an IOMMU page larger than the region's page shift, which the
 * backing memory could not hold contiguously (a 16 MiB TCE over ordinary
 * memory). When @ua is aligned to 1 << @page_shift, so is the hpa.
 *
 * Context: lock-free; does not allocate.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @mem or @ret_hpa;
 * * -EFAULT @ua is outside the region, or @page_shift exceeds the
 *   region's page shift (as Linux).
 */
int uiommu_prereg_ua_to_hpa(const struct uiommu_prereg *mem, uint64_t ua, unsigned int page_shift,
			    uint64_t *ret_hpa);

/**
 * uiommu_prereg_mapped_inc() - Count one more TCE into a region (Linux mm_iommu_mapped_inc()).
 * @mem: region.
 *
 * Increments mapped unless it is 0 (the region is being freed).
 *
 * Context: lock-free; one atomic compare-and-swap.
 *
 * Return: 0, or -EINVAL for a NULL @mem, -ENXIO if the region is dead (as
 * Linux).
 */
int uiommu_prereg_mapped_inc(struct uiommu_prereg *mem);

/**
 * uiommu_prereg_mapped_dec() - Count one TCE fewer (Linux mm_iommu_mapped_dec()).
 * @mem: region.
 *
 * Decrements mapped, never below the idle value 1 (Linux
 * atomic64_add_unless(&mapped, -1, 1)).
 *
 * Context: lock-free.
 *
 * Return: 0, or -EINVAL for a NULL @mem or a region with no TCE counted
 * (mapped 1 or 0: a decrement without its increment; nothing changes).
 */
int uiommu_prereg_mapped_dec(struct uiommu_prereg *mem);

/**
 * struct uiommu_prereg_info - what a region is.
 * @size: in: sizeof(struct uiommu_prereg_info) as the caller knows it;
 *	the library fills that many bytes at most (and zeroes a tail it does
 *	not know).
 * @page_shift: the largest IOMMU page it can back, log2 of bytes (Linux
 *	mem->pageshift).
 * @ua: its first byte.
 * @length: its bytes.
 * @used: registrations (Linux used).
 * @mapped: TCEs pointing into it, plus one (1 idle, 0 dead).
 * @locked_bytes: bytes it charged to UIOMMU_RES_LOCKED_BYTES (@length).
 */
struct uiommu_prereg_info {
	uint32_t size;
	uint32_t page_shift;
	uint64_t ua;
	uint64_t length;
	uint64_t used;
	uint64_t mapped;
	uint64_t locked_bytes;
};

/**
 * uiommu_prereg_info() - Describe a region.
 * @mem: region (registered: the caller holds a registration or knows no
 *	put races with this).
 * @ret_info: on success, the description; its @size must be set by the
 *	caller.
 *
 * Context: lock-free (used and mapped are read one by one).
 *
 * Return: 0, or -EINVAL for a NULL @mem or @ret_info, or a
 * @ret_info->size below the first version's.
 */
int uiommu_prereg_info(const struct uiommu_prereg *mem, struct uiommu_prereg_info *ret_info);

#ifdef __cplusplus
}
#endif

#endif /* UIOMMU_PREREG_H */
