/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uiommu/guest.h - guests and their physical memory (memslots).
 *
 * Concepts:
 * - A guest is a virtual machine as the library sees it: a guest physical
 *   address space (gpa) made of memslots, each mapping a gpa range to host
 *   memory, as KVM's memslots (KVM_SET_USER_MEMORY_REGION). Later mechanisms
 *   hang the guest's TCE tables (LIOBNs) off it.
 * - Memslots do not overlap. They are looked up without locks on the hot
 *   path (an RCU-protected sorted array, with a per-guest hint for the last
 *   slot used); changing them is serialized by a per-guest lock.
 * - Guest memory is read and written exactly as the guest left it: byte
 *   order is the caller's concern (a PAPR guest's TCE lists are big-endian).
 */
#ifndef UIOMMU_GUEST_H
#define UIOMMU_GUEST_H

#include <stdint.h>
#include <stddef.h>

#include <uiommu/types.h>
#include <uiommu/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uiommu_guest;

/* Memslot alignment: gpa, size and hva are multiples of 4 KiB (KVM's PAGE_SIZE). */
#define UIOMMU_MEMSLOT_ALIGN		4096u
/* Largest memslot id + 1. */
#define UIOMMU_MEMSLOT_ID_MAX		32768u

/**
 * uiommu_guest_new() - Create a guest with no memory.
 * @ctx: context.
 * @ret_guest: on success, the guest.
 *
 * Charges one UIOMMU_RES_GUESTS.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @ret_guest;
 * * -ENOSPC the UIOMMU_RES_GUESTS limit;
 * * -ENOMEM out of memory.
 */
int uiommu_guest_new(struct uiommu_ctx *ctx, struct uiommu_guest **ret_guest);

/**
 * uiommu_guest_free() - Destroy a guest, its memslots and its PAPR state.
 * @guest: guest, or NULL.
 *
 * The memory behind the memslots is the caller's and is not touched. The
 * guest's LIOBNs and PHBs (papr.h) are destroyed with it.
 *
 * Context: no other call on @guest may run concurrently or later. Frees
 * after an RCU grace period.
 *
 * Return: NULL.
 */
struct uiommu_guest *uiommu_guest_free(struct uiommu_guest *guest);

/**
 * uiommu_guest_set_memslot() - Create, move or delete a memslot.
 * @guest: guest.
 * @slot: memslot id, below UIOMMU_MEMSLOT_ID_MAX.
 * @gpa: first guest physical address, 4 KiB aligned.
 * @size: bytes, a multiple of 4 KiB; 0 deletes the slot.
 * @hva: host memory that backs it, 4 KiB aligned, readable and writable for
 *	@size bytes while the slot exists.
 * @flags: must be 0.
 *
 * As KVM_SET_USER_MEMORY_REGION: a new @slot is created; an existing one
 * may be deleted (@size 0) or moved to another @gpa with the same @size and
 * @hva; any other change is -EINVAL. Readers see the old or the new layout,
 * never a mix.
 *
 * Context: takes the guest's lock; allocates.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL bad @slot, @flags or alignment, a NULL @hva with a non-zero
 *   @size, a change other than move or delete, or deleting a slot that
 *   does not exist;
 * * -EOVERFLOW [@gpa, +@size) or [@hva, +@size) wraps;
 * * -EEXIST the gpa range overlaps another slot;
 * * -ENOSPC the UIOMMU_RES_MEMSLOTS limit;
 * * -ENOMEM out of memory (a delete or a move allocates too: the slots are
 *   copied, as KVM's); nothing changed.
 */
int uiommu_guest_set_memslot(struct uiommu_guest *guest, uint32_t slot, uint64_t gpa,
			     uint64_t size, void *hva, uint32_t flags);

/**
 * uiommu_guest_gpa_to_hva() - Translate a guest physical range.
 * @guest: guest.
 * @gpa: first byte.
 * @len: bytes, not 0.
 * @ret_hva: on success, the host address of @gpa; [@gpa, +@len) is inside
 *	one memslot and contiguous at *@ret_hva.
 *
 * Context: lock-free; the pointer is valid while the memslot exists.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL @len is 0 or @ret_hva is NULL;
 * * -EOVERFLOW the range wraps;
 * * -EFAULT the range is not inside one memslot.
 */
int uiommu_guest_gpa_to_hva(struct uiommu_guest *guest, uint64_t gpa, uint64_t len,
			    void **ret_hva);

/**
 * uiommu_guest_read() - Copy bytes out of guest memory.
 * @guest: guest.
 * @gpa: first byte.
 * @buf: destination.
 * @len: bytes; the range may span adjacent memslots; 0 is -EINVAL.
 *
 * Context: lock-free.
 *
 * Return: 0, or -EINVAL (@len 0, NULL @buf), -EOVERFLOW (the range wraps),
 * -EFAULT (a byte is outside every memslot; nothing is copied).
 */
int uiommu_guest_read(struct uiommu_guest *guest, uint64_t gpa, void *buf, size_t len);

/**
 * uiommu_guest_write() - Copy bytes into guest memory.
 * @guest: guest.
 * @gpa: first byte.
 * @buf: source.
 * @len: bytes; as uiommu_guest_read().
 *
 * Return: as uiommu_guest_read(); on -EFAULT nothing is written.
 */
int uiommu_guest_write(struct uiommu_guest *guest, uint64_t gpa, const void *buf, size_t len);

/**
 * uiommu_guest_ctx() - The context a guest belongs to.
 * @guest: guest.
 *
 * Return: the context.
 */
struct uiommu_ctx *uiommu_guest_ctx(const struct uiommu_guest *guest);

#ifdef __cplusplus
}
#endif

#endif /* UIOMMU_GUEST_H */
