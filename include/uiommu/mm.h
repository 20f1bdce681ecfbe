/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uiommu/mm.h - address spaces: what Linux's struct mm_struct is to the
 * code that hangs IOMMU state off a process, in user space.
 *
 * Concepts:
 * - An address space (struct uiommu_mm) stands for this process's memory
 *   as a task's mm_struct does. Its addresses ("ua", user addresses) are
 *   host virtual addresses of this process. Two mechanisms hang their
 *   state off it, as both hang off one mm_struct in Linux:
 *   preregistered memory and the VFIO containers that bind it (prereg.h,
 *   vfio.h: mm->context.iommu_group_mem_list), and the interval notifiers
 *   and mirrors that follow it (mirror.h: mm->notifier_subscriptions).
 *   A VMM that preregisters its guest RAM and mirrors process memory deals
 *   with one address space.
 * - Each context has a process address space (uiommu_mm_current()): the
 *   one the calling process is in, as current->mm, created on first use
 *   and owned by the context. A child made by fork() is another process:
 *   it is not in its parent's address space (uiommu_mm_current() returns
 *   NULL there, uiommu_mm_use() is -EPERM), so a container its parent
 *   bound refuses it, as Linux refuses an ioctl from another mm.
 * - An embedder that serves several clients from one process (a
 *   device-emulation daemon, a test) creates address spaces of its own
 *   (uiommu_mm_new()) and has a thread act in one with uiommu_mm_use(), as
 *   a kernel thread adopts a user mm with kthread_use_mm(): containers and
 *   registrations then belong to the client, and another client's calls
 *   are refused.
 * - Device accesses to an address space's memory (uiommu_mm_dma_begin() /
 *   _end()) are what the mirrors of it wait for before an invalidation
 *   returns, and what its userfaultfd monitor holds while the kernel takes
 *   pages away (mirror.h). The library's own devices (device.h) bracket
 *   their DMA through a window a mirror is bound to by themselves.
 *
 * Thread safety: every function may be called from any thread; free must
 * not race with other calls on the same address space.
 */
#ifndef UIOMMU_MM_H
#define UIOMMU_MM_H

#include <stdint.h>
#include <stddef.h>

#include <uiommu/types.h>
#include <uiommu/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uiommu_mm;

/* uiommu_mm_new() flags: follow this process through userfaultfd(2) (mirror.h). */
#define UIOMMU_MM_USERFAULTFD		(1u << 0)

/**
 * uiommu_mm_new() - Create an address space the embedder names.
 * @ctx: context.
 * @flags: 0 (invalidations come only from the library and the caller) or
 *	UIOMMU_MM_USERFAULTFD.
 * @ret_mm: on success, the address space, with no registration, notifier
 *	or user.
 *
 * With UIOMMU_MM_USERFAULTFD, opens a userfaultfd (the syscall, or
 * /dev/userfaultfd where the syscall is refused) with the non-cooperative
 * events UFFD_EVENT_UNMAP, UFFD_EVENT_REMOVE, UFFD_EVENT_REMAP and
 * UFFD_EVENT_FORK, so that a process without them learns it here. The
 * monitor thread that reads the events starts with the first interval
 * notifier or mirror of the address space (mirror.h, uiommu_mm_new()'s
 * part there: what the kernel waits for and why device accesses are held).
 *
 * Charges one UIOMMU_RES_ADDRESS_SPACES (uncharged when the last interval
 * notifier of a freed address space is removed).
 *
 * Context: allocates.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @ctx or @ret_mm, unknown @flags;
 * * -ENOSPC the UIOMMU_RES_ADDRESS_SPACES limit;
 * * -EOPNOTSUPP userfaultfd is not available to this process, or lacks
 *   a feature named above (the log says which);
 * * -ENOMEM out of memory (or no userfaultfd could be opened).
 */
int uiommu_mm_new(struct uiommu_ctx *ctx, unsigned int flags, struct uiommu_mm **ret_mm);

/**
 * uiommu_mm_free() - The address space goes away.
 * @mm: address space made by uiommu_mm_new(), or NULL (nothing happens).
 *
 * Refused, with nothing done, while anything still needs the address
 * space: preregistered regions (uiommu_prereg_put() them), a VFIO
 * container bound to it, a thread that uses it (uiommu_mm_use()). Then, as
 * the kernel's mm teardown (mn_itree_release()): every interval notifier
 * gets one blockable UIOMMU_MMU_NOTIFY_RELEASE invalidation of
 * [0, UINT64_MAX], the userfaultfd monitor stops and the userfaultfd is
 * closed. Notifiers still registered keep the address space's memory
 * alive (as mmgrab() does) until they are removed; inserting into a freed
 * address space is -EINVAL, populating a mirror of it -EFAULT. This
 * process's exit is the release of what it did not free.
 *
 * Context: may sleep (waits for running invalidations and the monitor);
 * not from an invalidate callback.
 *
 * Return: 0, or a negative errno (nothing is done):
 * * -EINVAL @mm is a context's process address space (the context owns it);
 * * -EBUSY regions are still registered in @mm, a container is bound to
 *   it, or a thread uses it;
 * * -EDEADLK called from an invalidate callback of @mm.
 */
int uiommu_mm_free(struct uiommu_mm *mm);

/**
 * uiommu_mm_current() - The address space the calling thread acts in.
 * @ctx: context.
 *
 * What current->mm is to the kernel: the address space this thread uses
 * (uiommu_mm_use()) if it is one of @ctx's, else @ctx's process address
 * space, created on first use (without UIOMMU_MM_USERFAULTFD; not charged).
 * A process made by fork() after that is not in it: there, this returns
 * NULL (the child has no address space in its parent's context; it must
 * not use the context anyway, see ctx.h).
 *
 * Context: lock-free, except that the first call allocates.
 *
 * Return: the address space, or NULL in a forked child of the process
 * that first used @ctx, for a NULL @ctx, or if out of memory.
 */
struct uiommu_mm *uiommu_mm_current(struct uiommu_ctx *ctx);

/**
 * uiommu_mm_use() - Make the calling thread act in an address space.
 * @mm: an address space made by uiommu_mm_new() (or a process address
 *	space, which changes nothing but is allowed).
 *
 * As Linux kthread_use_mm(): until uiommu_mm_unuse(), uiommu_mm_current()
 * of @mm's context returns @mm in this thread, so that containers bound by
 * this thread bind @mm and containers bound to another address space
 * refuse its calls. Threads are independent: each uses its own.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @mm;
 * * -EBUSY this thread already uses an address space (use does not nest);
 * * -EPERM @mm was created in another process (before a fork()).
 */
int uiommu_mm_use(struct uiommu_mm *mm);

/**
 * uiommu_mm_unuse() - Stop acting in an address space.
 * @mm: the address space this thread uses.
 *
 * As Linux kthread_unuse_mm(): the thread is back in its process address
 * space.
 *
 * Return: 0, or -EINVAL if this thread does not use @mm.
 */
int uiommu_mm_unuse(struct uiommu_mm *mm);

/**
 * uiommu_mm_dma_begin() - Start a device access to an address space's memory.
 * @mm: address space.
 *
 * Waits while the userfaultfd monitor holds device accesses (a kernel
 * event is pending or being handled, mirror.h), then counts this access
 * as in flight. A device model that does not use uiommu_dev brackets each
 * DMA through a window that a mirror of @mm is bound to, translation and
 * copy included; uiommu_dev_dma_*() (device.h) does it by itself. The
 * invalidate callback of a bound mirror clears and kills its TCEs, then
 * waits for the accesses that began before (as Xe waits for the VM's
 * fences), so that once it returns no device access still uses the old
 * pages. Cheap: two atomic operations when nothing is held. A begin nested
 * in an access of the same address space by this thread does not wait
 * (the monitor is waiting for the outer one).
 *
 * Context: may sleep; nests (per thread); must not be held across a call
 * that waits for an invalidation (a populate, a remove, a munmap of
 * mirrored memory), nor with a mirror's driver lock, except
 * uiommu_mm_handle_fault(), which steps out of this thread's accesses
 * while it populates. Never allocates, and must not allocate memory inside
 * (a fork(2) holds malloc's locks until the monitor has read its event,
 * and the monitor waits for accesses in flight).
 */
void uiommu_mm_dma_begin(struct uiommu_mm *mm);

/**
 * uiommu_mm_dma_end() - End this thread's innermost device access.
 * @mm: address space, as given to the matching uiommu_mm_dma_begin().
 *
 * Context: the thread that began it; does not sleep unless an invalidation
 * waits for this access (then it takes a mutex to wake it).
 */
void uiommu_mm_dma_end(struct uiommu_mm *mm);

#ifdef __cplusplus
}
#endif

#endif /* UIOMMU_MM_H */
