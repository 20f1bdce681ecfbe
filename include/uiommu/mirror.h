/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uiommu/mirror.h - mirrored user ranges: devices that follow this
 * process's memory without pinning it, as Linux HMM and drm_gpusvm do.
 *
 * Concepts:
 * - An address space (struct uiommu_mm, mm.h) stands for this process's
 *   memory as the kernel's struct mm_struct does for a task; the interval
 *   notifiers registered on it are its mmu_notifier_subscriptions (Linux
 *   mm/mmu_notifier.c), made with its first notifier or mirror. With
 *   UIOMMU_MM_USERFAULTFD it follows the real kernel: a monitor thread,
 *   started with that first notifier, receives the userfaultfd(2)
 *   non-cooperative events of the mirrored ranges (munmap, madvise,
 *   mremap, fork) and turns each into an invalidation of the intervals it
 *   touches. What userfaultfd cannot see is delivered by the library's
 *   own memory model (page migration, mem.h) or by the caller
 *   (uiommu_mm_invalidate()); doc/design/mirror.md lists every case.
 * - An interval notifier covers [start, last] of an address space and has
 *   an invalidate callback. It carries a sequence count, notifier_seq:
 *   uiommu_interval_read_begin() before reading the CPU side,
 *   uiommu_interval_read_retry() under the caller's own lock ("the driver
 *   lock") before committing what was read; the invalidate callback takes
 *   that lock, calls uiommu_interval_set_seq() and tears down what the
 *   device uses. The address space's sequence is even when idle and odd
 *   while an invalidation that hit an interval runs; invalidations nest
 *   and run in parallel, and only the last to end makes it even again,
 *   applies the inserts and removes deferred meanwhile, and wakes waiters.
 *   Exactly Linux's mmu_interval_notifier contract.
 * - A mirror (struct uiommu_mirror) is a mirrored range with its interval
 *   notifier, its driver lock and its DMA-address array, as drm_gpusvm's
 *   struct drm_gpusvm_pages: uiommu_mirror_populate() faults the pages in,
 *   resolves each to the address a device uses (an hpa of the host memory
 *   model, mem.h) and commits the array under the driver lock, in chunks
 *   of the pages' natural order (one element per chunk), retrying while
 *   invalidations race with it. A mirror can be bound to a bus address
 *   range of a DMA window (tce.h): population writes the TCEs, and the
 *   invalidate callback clears and kills them before it returns.
 * - Device accesses to memory a mirror may have handed out are bracketed
 *   by uiommu_mm_dma_begin() / uiommu_mm_dma_end() (mm.h): by the device
 *   model, or by uiommu_dev_dma_*() themselves for a window a mirror is
 *   bound to (uiommu_mirror_bind()). The monitor holds them from the
 *   moment a kernel event is pending until its invalidation is done,
 *   because the kernel waits only until the event is read, not until it
 *   is handled (see "Following the kernel" below).
 *
 * Thread safety: every function may be called from any thread. The
 * invalidate callbacks run in the invalidating thread (the monitor for
 * kernel events), possibly concurrently for different ranges.
 */
#ifndef UIOMMU_MIRROR_H
#define UIOMMU_MIRROR_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include <uiommu/types.h>
#include <uiommu/ctx.h>
#include <uiommu/mm.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uiommu_interval_notifier;
struct uiommu_mirror;
struct uiommu_tce_table;

/**
 * enum uiommu_mmu_event - why a range is invalidated (Linux enum
 * mmu_notifier_event, same order).
 * @UIOMMU_MMU_NOTIFY_UNMAP: the range is no longer mapped (munmap, the old
 *	range of an mremap).
 * @UIOMMU_MMU_NOTIFY_CLEAR: the pages were dropped but the range stays
 *	mapped (madvise MADV_DONTNEED / MADV_REMOVE).
 * @UIOMMU_MMU_NOTIFY_PROTECTION_VMA: the range's protection changed
 *	(mprotect; told by the caller).
 * @UIOMMU_MMU_NOTIFY_PROTECTION_PAGE: pages were write-protected (fork's
 *	copy-on-write).
 * @UIOMMU_MMU_NOTIFY_SOFT_DIRTY: soft-dirty tracking was reset.
 * @UIOMMU_MMU_NOTIFY_RELEASE: the address space goes away; the range is
 *	everything.
 * @UIOMMU_MMU_NOTIFY_MIGRATE: pages moved to new frames (new hpa).
 * @UIOMMU_MMU_NOTIFY_EXCLUSIVE: a device took exclusive access.
 */
enum uiommu_mmu_event {
	UIOMMU_MMU_NOTIFY_UNMAP = 0,
	UIOMMU_MMU_NOTIFY_CLEAR,
	UIOMMU_MMU_NOTIFY_PROTECTION_VMA,
	UIOMMU_MMU_NOTIFY_PROTECTION_PAGE,
	UIOMMU_MMU_NOTIFY_SOFT_DIRTY,
	UIOMMU_MMU_NOTIFY_RELEASE,
	UIOMMU_MMU_NOTIFY_MIGRATE,
	UIOMMU_MMU_NOTIFY_EXCLUSIVE,
	UIOMMU_MMU_NOTIFY_NR
};

/* The invalidation may sleep and callbacks may not refuse it (Linux MMU_NOTIFIER_RANGE_BLOCKABLE). */
#define UIOMMU_MMU_RANGE_BLOCKABLE	(1u << 0)

/**
 * struct uiommu_mmu_range - an invalidation (Linux struct mmu_notifier_range).
 * @start: first byte (a user address of the address space).
 * @last: last byte, inclusive (UINT64_MAX for a release).
 * @event: why.
 * @flags: UIOMMU_MMU_RANGE_BLOCKABLE or 0.
 */
struct uiommu_mmu_range {
	uint64_t start;
	uint64_t last;
	enum uiommu_mmu_event event;
	uint32_t flags;
};

/**
 * struct uiommu_interval_notifier_ops - what an interval notifier does.
 * @invalidate: called for every invalidation that overlaps the interval,
 *	with @cur_seq, the address space's (odd) sequence. It must take the
 *	caller's driver lock, call uiommu_interval_set_seq(@sub, @cur_seq),
 *	stop every device use of the range's old pages, drop the lock and
 *	return true. It may return false only when @range is not
 *	UIOMMU_MMU_RANGE_BLOCKABLE (it would have to sleep); it then must not
 *	have changed anything. A false for a blockable range is logged and
 *	treated as true (Linux WARNs). It must not insert or remove notifiers
 *	of the same address space and wait for it (removal from here is
 *	-EDEADLK), nor unmap memory of a mirrored range (the kernel would wait
 *	for the monitor that is running it).
 *
 * As Linux struct mmu_interval_notifier_ops.
 */
struct uiommu_interval_notifier_ops {
	bool (*invalidate)(struct uiommu_interval_notifier *sub,
			   const struct uiommu_mmu_range *range, uint64_t cur_seq);
};

/*
 * Following the kernel (an address space made with UIOMMU_MM_USERFAULTFD,
 * mm.h). Its userfaultfd has the non-cooperative events UFFD_EVENT_UNMAP,
 * UFFD_EVENT_REMOVE, UFFD_EVENT_REMAP and UFFD_EVENT_FORK; the first
 * notifier or mirror of the address space starts a monitor thread that
 * reads them. Each notifier's range is registered with
 * UFFDIO_REGISTER_MODE_WP and nothing is ever write-protected, so that no
 * page fault of the process is ever handed to the library: only the
 * events arrive, and the process sees its memory exactly as before.
 *
 * What the kernel waits for (fs/userfaultfd.c,
 * userfaultfd_event_wait_completion()): the thread that caused an event
 * sleeps until the monitor has read(2) it, not until the monitor has
 * handled it. For UFFD_EVENT_REMOVE (madvise) that wait comes before the
 * pages are zapped; for UFFD_EVENT_UNMAP and UFFD_EVENT_REMAP (munmap,
 * mremap, mmap over a mapping) the range is already unmapped when the
 * event is queued, and the wait only delays the syscall's return. The
 * monitor therefore holds every uiommu_mm_dma_begin() from the moment an
 * event is pending (poll(2) says so) until the invalidation is done:
 * no device access bracketed by them reaches a page after the kernel has
 * begun to take it away, and none starts after the syscall returned until
 * the TCEs are gone.
 *
 * uiommu_mm_free() (mm.h) is the address space's teardown, as the
 * kernel's (mn_itree_release()): every interval gets one blockable
 * UIOMMU_MMU_NOTIFY_RELEASE invalidation of [0, UINT64_MAX], then the
 * monitor stops and the userfaultfd is closed.
 */

/**
 * uiommu_mm_invalidate_range_start() - Begin an invalidation.
 * @mm: address space.
 * @range: what is invalidated and why; @range->flags says whether
 *	callbacks may sleep.
 *
 * As Linux mmu_notifier_invalidate_range_start() for the interval tree:
 * makes the sequence odd if @range overlaps an interval, then calls the
 * invalidate callback of every overlapping interval. Inserts and removes
 * are deferred until the last concurrent invalidation ends. Each
 * successful start must be paired with uiommu_mm_invalidate_range_end().
 *
 * Context: may sleep if @range is blockable (the callbacks do); not with
 * a lock that a callback takes.
 *
 * The first call on an address space with no notifier yet makes its
 * mirror side (as uiommu_interval_notifier_insert() does).
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @mm or @range, @range->last < @range->start, an unknown
 *   event or flag, or @mm was freed;
 * * -ENOMEM the mirror side could not be made (or its monitor started);
 * * -EAGAIN @range is not blockable and a callback refused it: the
 *   invalidation was undone and the caller must not call
 *   uiommu_mm_invalidate_range_end() (as Linux, for the OOM reaper).
 */
int uiommu_mm_invalidate_range_start(struct uiommu_mm *mm, const struct uiommu_mmu_range *range);

/**
 * uiommu_mm_invalidate_range_end() - End an invalidation.
 * @mm: address space.
 * @range: as given to the successful uiommu_mm_invalidate_range_start().
 *
 * As Linux mn_itree_inv_end(): the last of the running invalidations makes
 * the sequence even again, applies the deferred inserts and removes, and
 * wakes uiommu_interval_read_begin() and uiommu_interval_notifier_remove().
 *
 * Context: does not sleep (takes the address space's lock).
 */
void uiommu_mm_invalidate_range_end(struct uiommu_mm *mm, const struct uiommu_mmu_range *range);

/**
 * uiommu_mm_invalidate() - Deliver a blockable invalidation.
 * @mm: address space.
 * @ua: first byte.
 * @length: bytes.
 * @event: why (for what userfaultfd cannot see: mprotect, KSM merging,
 *	THP splits, a truncated or hole-punched file; see doc/design/mirror.md).
 *
 * uiommu_mm_invalidate_range_start() and uiommu_mm_invalidate_range_end()
 * of [@ua, @ua + @length - 1], blockable. On an address space that never
 * had a notifier there is no one to tell: nothing happens, nothing is
 * counted.
 *
 * Context: may sleep; not with a lock that a callback takes.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @mm, zero @length, unknown @event;
 * * -EOVERFLOW the range wraps.
 */
int uiommu_mm_invalidate(struct uiommu_mm *mm, uint64_t ua, uint64_t length,
			 enum uiommu_mmu_event event);

/**
 * struct uiommu_mm_stats - what an address space has seen.
 * @events: userfaultfd events read, by kind: [0] UNMAP, [1] REMOVE,
 *	[2] REMAP, [3] FORK, [4] anything else (a page fault, which the
 *	registration mode should make impossible; it is woken and counted).
 * @invalidations: invalidations started, by enum uiommu_mmu_event (from
 *	the first notifier on).
 * @refused: non-blockable invalidations a callback refused (-EAGAIN).
 * @dma_holds: times the monitor held device accesses.
 * @seq: the address space's current sequence (even when idle; 2 before
 *	the first notifier).
 */
struct uiommu_mm_stats {
	uint64_t events[5];
	uint64_t invalidations[UIOMMU_MMU_NOTIFY_NR];
	uint64_t refused;
	uint64_t dma_holds;
	uint64_t seq;
};

/**
 * uiommu_mm_get_stats() - Read an address space's statistics.
 * @mm: address space.
 * @ret_stats: on success, a snapshot (each field read atomically).
 *
 * Return: 0, or -EINVAL for NULL arguments.
 */
int uiommu_mm_get_stats(const struct uiommu_mm *mm, struct uiommu_mm_stats *ret_stats);

/**
 * uiommu_interval_notifier_insert() - Register an interval notifier.
 * @mm: address space.
 * @start: first byte of the interval (a user address).
 * @length: bytes.
 * @ops: callbacks; must outlive the notifier.
 * @opaque: for the caller (uiommu_interval_notifier_opaque()).
 * @ret_sub: on success, the notifier.
 *
 * As Linux mmu_interval_notifier_insert(). If an invalidation is running,
 * the insert is deferred to its end and the notifier's sequence is the
 * current odd one, so that the first uiommu_interval_read_begin() waits
 * for that end; otherwise the notifier's sequence is the current minus
 * one, which never matches. A deferred notifier gets no callback for the
 * invalidations that start before that end (as Linux); if an UNMAP or
 * RELEASE overlapped it meanwhile, a mirror on it is unmapped all the same
 * (we differ from Linux: after mmap(MAP_FIXED) the range is mapped again,
 * and the mirror would follow the new mapping). With UIOMMU_MM_USERFAULTFD
 * the page-aligned span of the interval is registered with the userfaultfd
 * (the parts that are mapped). Charges one UIOMMU_RES_NOTIFIERS. The first notifier of an
 * address space makes its mirror side (its subscriptions, and with
 * UIOMMU_MM_USERFAULTFD the monitor thread).
 *
 * Context: allocates; takes the address space's lock; may call
 * ioctl(UFFDIO_REGISTER), which takes the kernel's mmap lock; the first
 * one may start a thread.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @mm, @ops, @ops->invalidate or @ret_sub, or @mm was
 *   freed (uiommu_mm_free(); Linux: mm_users is 0);
 * * -EOVERFLOW @length is 0 or @start + @length - 1 wraps (as Linux);
 * * -ENOSPC the UIOMMU_RES_NOTIFIERS limit;
 * * -EBUSY (userfaultfd) part of the range is registered with another
 *   userfaultfd;
 * * -EFAULT (userfaultfd) nothing of the range is mapped, or a mapping of
 *   it cannot be registered (VM_IO / VM_PFNMAP);
 * * -ENOMEM out of memory, or the monitor thread could not be started.
 */
int uiommu_interval_notifier_insert(struct uiommu_mm *mm, uint64_t start, uint64_t length,
				    const struct uiommu_interval_notifier_ops *ops, void *opaque,
				    struct uiommu_interval_notifier **ret_sub);

/**
 * uiommu_interval_notifier_remove() - Unregister and free an interval notifier.
 * @sub: notifier.
 *
 * As Linux mmu_interval_notifier_remove(): if an invalidation is running,
 * the removal is deferred and this waits until the last concurrent
 * invalidation has ended. When it returns, no callback of @sub is running
 * or will run. Unregisters from the userfaultfd what no other interval
 * covers.
 *
 * Context: may sleep. The caller must not hold a lock that the callback
 * takes (its driver lock): that would deadlock, as in Linux. A call from
 * an invalidate callback of the same address space, or with the driver
 * lock of a mirror of it held (uiommu_mirror_read_lock()), is refused.
 *
 * Return: 0, or -EDEADLK for the refused calls above (nothing done; the
 * log says which lock).
 */
int uiommu_interval_notifier_remove(struct uiommu_interval_notifier *sub);

/**
 * uiommu_interval_notifier_opaque() - The caller's pointer of a notifier.
 * @sub: notifier.
 *
 * Return: the @opaque given to uiommu_interval_notifier_insert().
 */
void *uiommu_interval_notifier_opaque(const struct uiommu_interval_notifier *sub);

/**
 * uiommu_interval_read_begin() - Start reading the CPU side of an interval.
 * @sub: notifier.
 *
 * As Linux mmu_interval_read_begin(): if an invalidation that hit @sub is
 * running, sleeps until the last concurrent invalidation ends. The value
 * may already be stale when it returns: the caller checks it with
 * uiommu_interval_read_retry() under its driver lock before committing.
 *
 * Context: may sleep; not from an invalidate callback, nor with the
 * driver lock held.
 *
 * Return: the notifier's sequence.
 */
uint64_t uiommu_interval_read_begin(struct uiommu_interval_notifier *sub);

/**
 * uiommu_interval_read_retry() - Must the caller retry what it read?
 * @sub: notifier.
 * @seq: from uiommu_interval_read_begin().
 *
 * As Linux mmu_interval_read_retry(). Authoritative only under the driver
 * lock that the invalidate callback takes around uiommu_interval_set_seq().
 *
 * Return: true if an invalidation hit @sub since @seq was read.
 */
bool uiommu_interval_read_retry(const struct uiommu_interval_notifier *sub, uint64_t seq);

/**
 * uiommu_interval_check_retry() - A lockless hint that a retry is coming.
 * @sub: notifier.
 * @seq: from uiommu_interval_read_begin().
 *
 * As Linux mmu_interval_check_retry(): the same test without the driver
 * lock, to give up early; false does not mean that @seq is still valid.
 *
 * Return: true if an invalidation has hit @sub since @seq was read.
 */
bool uiommu_interval_check_retry(const struct uiommu_interval_notifier *sub, uint64_t seq);

/**
 * uiommu_interval_set_seq() - Record an invalidation, from its callback.
 * @sub: notifier.
 * @cur_seq: the callback's @cur_seq.
 *
 * As Linux mmu_interval_set_seq(): call under the driver lock in the
 * invalidate callback, so that every later uiommu_interval_read_retry()
 * of an older sequence returns true.
 */
void uiommu_interval_set_seq(struct uiommu_interval_notifier *sub, uint64_t cur_seq);

/* Mirror flags. */
/* Mirror for device reads only: no write fault, DMA_TO_DEVICE (drm_gpusvm read_only). */
#define UIOMMU_MIRROR_READ_ONLY		(1u << 0)

/**
 * enum uiommu_mirror_proto - what the address of a DMA-array element is.
 * @UIOMMU_MIRROR_ADDR_HPA: an hpa of the host memory model (mem.h): the
 *	page is part of a RAM region or a hostmem buffer, and a device
 *	reaches it through a TCE.
 * @UIOMMU_MIRROR_ADDR_PHYS: the kernel's physical address of the page, from
 *	/proc/self/pagemap (0 when the kernel hides page frame numbers from
 *	this process): memory the model does not know, such as anonymous
 *	memory; no window can map it.
 */
enum uiommu_mirror_proto {
	UIOMMU_MIRROR_ADDR_HPA = 0,
	UIOMMU_MIRROR_ADDR_PHYS = 1,
};

/**
 * struct uiommu_mirror_addr - one chunk of a mirror's DMA array (Linux
 * struct drm_pagemap_addr).
 * @addr: address of the chunk's first byte, aligned to its size.
 * @order: the chunk is 4 KiB << @order bytes: the CPU mapping's natural
 *	order, clamped so that the chunk is naturally aligned and inside the
 *	range (drm_gpusvm_hmm_pfn_to_order()).
 * @dir: UIOMMU_DMA_BIDIRECTIONAL, or UIOMMU_DMA_TO_DEVICE for a read-only
 *	mirror.
 * @proto: enum uiommu_mirror_proto.
 */
struct uiommu_mirror_addr {
	uint64_t addr;
	uint8_t order;
	uint8_t dir;
	uint8_t proto;
	uint8_t reserved[5];
};

/**
 * uiommu_mirror_new() - Mirror a range of this process's memory.
 * @mm: address space.
 * @ua: first byte, 4 KiB aligned.
 * @size: bytes, a non-zero multiple of 4 KiB.
 * @flags: 0 or UIOMMU_MIRROR_READ_ONLY.
 * @ret_mirror: on success, the mirror, not yet populated.
 *
 * Inserts the mirror's interval notifier (see
 * uiommu_interval_notifier_insert(), with its charges); the notifier
 * sequence starts as a sentinel that never matches (Xe's LONG_MAX), so the
 * first populate always faults. Pages are neither pinned nor charged as
 * locked memory.
 *
 * Context: allocates; may sleep.
 *
 * Return: 0, or a negative errno: those of
 * uiommu_interval_notifier_insert(), and -EINVAL for a misaligned or zero
 * @size or @ua, unknown @flags, NULL @ret_mirror.
 */
int uiommu_mirror_new(struct uiommu_mm *mm, void *ua, uint64_t size, unsigned int flags,
		      struct uiommu_mirror **ret_mirror);

/**
 * uiommu_mirror_free() - Unbind, unmap and free a mirror.
 * @mirror: mirror, or NULL (nothing happens).
 *
 * Clears the TCEs of a bound mirror (with a kill), drops the DMA array,
 * then removes the notifier (uiommu_interval_notifier_remove(), which
 * waits for a running invalidation): Xe's drm_gpusvm_free_pages() then
 * mmu_interval_notifier_remove().
 *
 * Context: may sleep; not with this mirror's driver lock held.
 *
 * Return: 0, or -EDEADLK as uiommu_interval_notifier_remove() (nothing done).
 */
int uiommu_mirror_free(struct uiommu_mirror *mirror);

/**
 * uiommu_mirror_populate() - Fault a mirror in and commit its DMA array.
 * @mirror: mirror.
 *
 * As drm_gpusvm_get_pages() over hmm_range_fault(): read_begin; if the
 * array is valid and no invalidation hit since, return at once. Otherwise
 * fault the pages in (madvise MADV_POPULATE_WRITE, or _READ for a
 * read-only mirror), resolve every 4 KiB page to the address a device uses,
 * build the array in chunks of natural order (allocated outside the lock),
 * take the driver lock for writing, and commit if read_retry says nothing
 * invalidated the range meanwhile (writing the TCEs of a bound mirror);
 * else start over. Gives up with -EBUSY once invalidations have kept it
 * retrying for the UIOMMU_RES_MIRROR_BUSY_MS limit (1000 ms by default,
 * Linux HMM_RANGE_DEFAULT_TIMEOUT); every other error is returned at once.
 *
 * Context: may sleep and allocate; takes the mirror's populate mutex, the
 * process's mmap lock (in the kernel) and the driver lock. Not inside
 * uiommu_mm_dma_begin() nor with the driver lock held.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @mirror;
 * * -EDEADLK called with a mirror's driver lock held or from an invalidate
 *   callback of the same address space;
 * * -EFAULT part of the range is not mapped, was unmapped since the mirror
 *   was made (drm_gpusvm's unmapped flag: make a new mirror), cannot be
 *   faulted in (VM_IO, VM_PFNMAP, a SIGBUS), or the address space was
 *   released; for a bound mirror also a page without an hpa, or one whose
 *   chunk is smaller than the window's IOMMU page;
 * * -EPERM a writable mirror of memory that is not writable;
 * * -EBUSY invalidations kept it retrying for the limit;
 * * -ENOMEM out of memory (or an allocation of a TCE level failed).
 */
int uiommu_mirror_populate(struct uiommu_mirror *mirror);

/**
 * uiommu_mirror_read_lock() - Take a mirror's driver lock for reading.
 * @mirror: mirror.
 *
 * The lock the invalidate callback takes for writing (drm_gpusvm's
 * notifier_lock): while it is held, the DMA array does not change and
 * uiommu_mirror_valid() is authoritative.
 *
 * Context: may sleep; must not be held across a populate, a remove, a
 * munmap of mirrored memory, or uiommu_mm_dma_begin() of an address space
 * with a monitor.
 */
void uiommu_mirror_read_lock(struct uiommu_mirror *mirror);

/**
 * uiommu_mirror_read_unlock() - Drop the lock taken by uiommu_mirror_read_lock().
 * @mirror: mirror.
 */
void uiommu_mirror_read_unlock(struct uiommu_mirror *mirror);

/**
 * uiommu_mirror_valid() - Is the committed DMA array current?
 * @mirror: mirror.
 *
 * True if the array was committed and no invalidation has hit the range
 * since (drm_gpusvm's has_dma_mapping, Xe's check_repin). Authoritative
 * under uiommu_mirror_read_lock(); a hint otherwise.
 *
 * Return: true or false.
 */
bool uiommu_mirror_valid(const struct uiommu_mirror *mirror);

/**
 * uiommu_mirror_addrs() - The committed DMA array.
 * @mirror: mirror.
 * @ret_addrs: on success, the chunks in address order; valid until the
 *	read lock is dropped.
 * @ret_n: on success, the number of chunks.
 *
 * Context: under uiommu_mirror_read_lock().
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL arguments;
 * * -EAGAIN the array is not valid (never populated, or invalidated):
 *   drop the lock and populate.
 */
int uiommu_mirror_addrs(struct uiommu_mirror *mirror, const struct uiommu_mirror_addr **ret_addrs,
			size_t *ret_n);

/**
 * struct uiommu_mirror_info - the state of a mirror.
 * @ua: first byte.
 * @size: bytes.
 * @flags: as given to uiommu_mirror_new().
 * @valid: uiommu_mirror_valid().
 * @unmapped: an UNMAP or RELEASE invalidation hit the range: populate is
 *	-EFAULT from now on.
 * @notifier_seq: the sequence the DMA array was committed at.
 * @nchunks: elements of the DMA array (0 when not valid).
 * @populates: populations that committed.
 * @retries: populations that had to start over.
 * @invalidations: invalidate callbacks that hit the mirror.
 */
struct uiommu_mirror_info {
	uint64_t ua;
	uint64_t size;
	unsigned int flags;
	bool valid;
	bool unmapped;
	uint64_t notifier_seq;
	uint64_t nchunks;
	uint64_t populates;
	uint64_t retries;
	uint64_t invalidations;
};

/**
 * uiommu_mirror_get_info() - Describe a mirror.
 * @mirror: mirror.
 * @ret_info: on success, the description.
 *
 * Context: takes the driver lock for reading.
 *
 * Return: 0, or -EINVAL for NULL arguments.
 */
int uiommu_mirror_get_info(struct uiommu_mirror *mirror, struct uiommu_mirror_info *ret_info);

/* uiommu_mirror_bind() flags: recoverable device faults (GPU fault mode). */
#define UIOMMU_MIRROR_BIND_FAULT	(1u << 0)

/**
 * uiommu_mirror_bind() - Bind a mirror to bus addresses of a DMA window.
 * @mirror: mirror.
 * @tbl: the window's TCE table; the mirror takes a reference.
 * @ioba: first bus address, aligned to the table's IOMMU page; the range
 *	[@ioba, + the mirror's size) must lie in the window.
 * @flags: 0 or UIOMMU_MIRROR_BIND_FAULT.
 *
 * From the next uiommu_mirror_populate() on, each commit writes the TCEs of
 * the range (hpa | permission of the array's direction) and kills them;
 * each invalidation clears them, kills them and waits for the device
 * accesses that began before (uiommu_mm_dma_begin()), under the driver
 * lock, before the callback returns: once it returns, no device reaches
 * the old pages. With UIOMMU_MIRROR_BIND_FAULT a device's TCE fault in the
 * range is recoverable (uiommu_mm_handle_fault(), as a GPU page fault);
 * without it, such a DMA faults as any bad DMA. The mirror's memory must
 * have hpas (RAM regions, hostmem buffers) in chunks at least as large as
 * the IOMMU page; populate checks it.
 *
 * The binding also hooks the table (one hook per address space, shared by
 * its mirrors bound there): the library's emulated devices (device.h)
 * then enter the address space's device accesses by themselves for every
 * DMA through the table, so that only device models of the caller's own
 * bracket their DMA with uiommu_mm_dma_begin().
 *
 * Context: takes the mirror's populate mutex and driver lock, and the
 * table's link lock.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @mirror or @tbl, unknown @flags, a table of another
 *   context, a mirror that is not made of whole IOMMU pages of @tbl, or
 *   bus addresses outside the window (uiommu_tce_table_check_ioba());
 * * -ENOSPC mirrors of 8 other address spaces are bound to @tbl already
 *   (the table's hooks);
 * * -EBUSY the mirror is already bound.
 */
int uiommu_mirror_bind(struct uiommu_mirror *mirror, struct uiommu_tce_table *tbl,
		       uint64_t ioba, unsigned int flags);

/**
 * uiommu_mirror_unbind() - Clear a mirror's TCEs and drop its window.
 * @mirror: mirror.
 *
 * Clears and kills the TCEs, waits for device accesses that began before,
 * and drops the table's hook (the last mirror of its address space there,
 * after a grace period) and the reference to the table. The DMA array must
 * be populated again before use.
 *
 * Context: may sleep; not with the driver lock held.
 *
 * Return: 0, -EINVAL for a NULL @mirror, -ENOENT if it is not bound.
 */
int uiommu_mirror_unbind(struct uiommu_mirror *mirror);

/**
 * uiommu_mm_handle_fault() - Resolve a device fault in a bound range.
 * @mm: address space.
 * @tbl: the table whose translation faulted.
 * @ioba: the bus address that faulted.
 *
 * A device model calls this when a DMA through @tbl finds no TCE (from a
 * device's fault handler, inside or outside uiommu_mm_dma_begin()). If a
 * mirror of @mm bound in fault mode covers @ioba, it is populated (writing
 * its TCEs) and the device retries the DMA. While it populates, the
 * thread's device accesses of @mm are stepped out of, so that an
 * invalidation waiting for them can finish; the retried translation sees
 * whatever happened meanwhile.
 *
 * Context: may sleep (populates).
 *
 * Return: 0 (retry the DMA), or a negative errno:
 * * -EINVAL NULL @mm or @tbl;
 * * -EFAULT no mirror of @mm is bound in fault mode at @ioba: the DMA
 *   faults as any bad DMA;
 * * -EDEADLK called with a driver lock held or from an invalidate callback;
 * * the errors of uiommu_mirror_populate() (-EFAULT for an unmapped range).
 */
int uiommu_mm_handle_fault(struct uiommu_mm *mm, struct uiommu_tce_table *tbl, uint64_t ioba);

#ifdef __cplusplus
}
#endif

#endif /* UIOMMU_MIRROR_H */
