/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uiommu/accel.h - hardware TCE tables behind guest LIOBNs: the
 * accelerated hypercalls, as Linux's "KVM: PPC: Add in-kernel acceleration
 * for VFIO" (arch/powerpc/kvm/book3s_64_vio.c, virt/kvm/vfio.c), and the
 * VMM's path beside it, as QEMU's (hw/ppc/spapr_iommu.c, hw/vfio/).
 *
 * Concepts:
 * - A VMM passing a device through to a pseries guest has a VFIO container
 *   (vfio.h) whose windows are host TCE tables, and a guest TCE table
 *   (LIOBN, papr.h) for each DMA window the guest sees. Without
 *   acceleration, every H_PUT_TCE exits to the VMM, which writes the guest
 *   view and tells the container (VFIO_IOMMU_MAP_DMA / UNMAP_DMA): that is
 *   uiommu_accel_vmm_hcall(). With a group's host table attached to the
 *   LIOBN (uiommu_accel_attach(), KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE), the
 *   hypercalls themselves (uiommu_h_put_tce() and friends, or through a
 *   vCPU handle, vcpu.h) update the host table where they land, and only
 *   what they cannot finish comes back as UIOMMU_H_TOO_HARD, for the VMM
 *   to redo with uiommu_accel_vmm_hcall(). The result is the same either
 *   way: the same guest view, the same host TCEs, the same counts.
 * - The fast path (KVM kvmppc_h_put_tce() and friends): each TCE with R/W
 *   is checked against the memory the container preregistered (its gpa,
 *   through the guest's memslots, is a user address inside one of the
 *   container's registrations, whose pages are at least the host table's);
 *   one guest TCE of 1 << guest_shift bytes becomes 1 << (guest_shift -
 *   host_shift) host TCEs; the region's "mapped" count (prereg.h) and the
 *   container's TCE counts follow every entry; the host table's userspace
 *   view records the user address behind each TCE; one TCE-cache kill per
 *   hypercall and host table; the pages the replaced entries pointed at
 *   are released only after that kill. Error paths and kills use host
 *   indexes throughout (the bug 26a62b750a4e fixed). It never allocates,
 *   blocks or takes a mutex; it returns UIOMMU_H_TOO_HARD for memory that
 *   is not preregistered (or too small a page for the host table), a host
 *   table level or userspace-view level not allocated yet (the VMM path
 *   allocates it, so that this happens once per level), a v1 container
 *   (KVM: "v1 is handled via ioctl"), a window the container no longer
 *   has, an entry the container is changing at that moment, an H_STUFF_TCE
 *   of more than UIOMMU_ACCEL_MAX_BATCH host entries, and injected faults
 *   (UIOMMU_FAULT_HCALL). What it changed before returning it is state
 *   uiommu_accel_vmm_hcall() overwrites.
 * - Compatibility (KVM): a group's table serves a LIOBN if its page is no
 *   larger than the LIOBN's (host page_shift <= guest page_shift), its bus
 *   window starts where the LIOBN's does, and it covers the LIOBN's whole
 *   window. The first of the group's windows that does is attached.
 * - Several groups may be attached to one LIOBN: groups of one container
 *   share its tables, so their attachments share one host table; groups
 *   of different containers add tables (at most UIOMMU_ACCEL_MAX_TABLES
 *   per LIOBN). Each attached table holds one table reference, whatever
 *   the number of groups using it (Linux takes a table reference on every
 *   attach and drops it only when a new attachment is made: a group
 *   attached to a table already attached leaks one; here it does not).
 *
 * Rules for the VMM (what the kernel enforces through file references):
 * detach (uiommu_accel_detach() or uiommu_accel_release_group()) before
 * the group leaves its container, before the container is freed, and
 * before the LIOBN is destroyed (which refuses with -EBUSY while a table
 * is attached, and so does a guest's ibm,remove-pe-dma-window: RTAS
 * HW_ERROR). A table whose window the container removed meanwhile is left
 * alone: hypercalls on it return UIOMMU_H_TOO_HARD and the VMM path
 * reports the container's refusal. Freeing the guest detaches everything.
 *
 * Thread safety: hypercalls run concurrently with each other and with
 * attach and detach (which waits for a grace period, so that no hypercall
 * uses a detached table when it returns). The VMM path may run on any
 * thread, concurrently with the fast path: the container serializes
 * entries. Concurrent hypercalls on the same entries leave one of the
 * written values, in the view and in the host tables alike, and every
 * count balanced.
 */
#ifndef UIOMMU_ACCEL_H
#define UIOMMU_ACCEL_H

#include <stdint.h>

#include <uiommu/types.h>
#include <uiommu/guest.h>
#include <uiommu/pe.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Host tables attached to one LIOBN, at most. */
#define UIOMMU_ACCEL_MAX_TABLES		4
/* Host entries one hypercall may change in the fast path, at most (H_STUFF_TCE). */
#define UIOMMU_ACCEL_MAX_BATCH		(1u << 18)

/**
 * uiommu_accel_attach() - Attach a group's host table to a LIOBN (KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE).
 * @guest: guest.
 * @liobn: one of its LIOBNs.
 * @grp: a table group in a VFIO container (vfio.h) of @guest's context,
 *	with the window the LIOBN is to use set.
 *
 * As Linux kvm_spapr_tce_attach_iommu_group(): the first of @grp's tables
 * compatible with the LIOBN (see the file comment) is attached; if that
 * table is attached to the LIOBN already (another group of the same
 * container), the group joins it. From the next hypercall on, the LIOBN's
 * H_PUT_TCE, H_PUT_TCE_INDIRECT and H_STUFF_TCE update the table. Nothing
 * is copied: the guest view and the table should agree when attaching
 * (both empty, or the container mapped what the view holds).
 *
 * Deliberate differences: attaching a group twice is -EEXIST (Linux
 * returns 0 and counts it twice); no table reference is leaked (see the
 * file comment).
 *
 * Context: takes the guest's attach lock, the container's lock shared and
 * the guest's PAPR lock; allocates; not inside an RCU read-side section.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @guest or @grp, a group of another context, or no table
 *   of @grp is compatible with the LIOBN (Linux: -EINVAL);
 * * -ENOENT @guest has no @liobn (Linux: a table fd that is not this VM's,
 *   -EINVAL), or @grp is in no container (Linux: a group not added to the
 *   KVM-VFIO device, -ENOENT);
 * * -EEXIST @grp is attached to @liobn already;
 * * -ENOSPC UIOMMU_ACCEL_MAX_TABLES tables are attached to @liobn;
 * * -ENOMEM out of memory.
 */
int uiommu_accel_attach(struct uiommu_guest *guest, uint64_t liobn,
			struct uiommu_table_group *grp);

/**
 * uiommu_accel_detach() - Detach a group from a LIOBN.
 * @guest: guest.
 * @liobn: the LIOBN.
 * @grp: a group attached to it.
 *
 * The group leaves the table it shares; when no group uses the table any
 * more, the table is detached: hypercalls that start afterwards leave it
 * alone, and detach waits until those already running have finished, then
 * drops its reference. The host table keeps its TCEs: they are the
 * container's, which unmaps them (or clears the window) as it does for
 * the VMM path. Linux has no such call (its UNSET was never added); this
 * is what its group release does for one LIOBN.
 *
 * Context: takes the guest's attach lock and its PAPR lock; waits for an
 * RCU grace period; not inside a read-side section, nor on a vCPU in
 * guest context.
 *
 * Return: 0, or -EINVAL (NULL @guest or @grp), -ENOENT (@grp is not
 * attached to @liobn).
 */
int uiommu_accel_detach(struct uiommu_guest *guest, uint64_t liobn,
			struct uiommu_table_group *grp);

/**
 * uiommu_accel_release_group() - Detach a group from every LIOBN of a guest.
 * @guest: guest.
 * @grp: group.
 *
 * As Linux kvm_spapr_tce_release_iommu_group() when the group is removed
 * from the KVM-VFIO device (KVM_DEV_VFIO_FILE_DEL): uiommu_accel_detach()
 * of every LIOBN @grp is attached to. Call it before the group leaves its
 * container.
 *
 * Context: as uiommu_accel_detach().
 *
 * Return: the number of LIOBNs it was detached from, or -EINVAL for a NULL
 * argument.
 */
int uiommu_accel_release_group(struct uiommu_guest *guest, struct uiommu_table_group *grp);

/**
 * uiommu_accel_vmm_hcall() - A TCE hypercall as the VMM handles it.
 * @guest: guest.
 * @opcode: as uiommu_papr_hcall().
 * @args: as uiommu_papr_hcall().
 * @nargs: as uiommu_papr_hcall().
 * @rets: as uiommu_papr_hcall().
 * @nrets: as uiommu_papr_hcall().
 *
 * What QEMU does with a TCE hypercall that exits to it (KVM returned
 * H_TOO_HARD, or there is no in-kernel acceleration): the hypercall
 * writes the guest view, leaving the hardware tables alone, and each
 * entry it wrote is then applied to the container of every attached
 * table with uiommu_vfio_map_dma() (a TCE with R/W: its page, 1 <<
 * page_shift bytes at the user address of its gpa, with the TCE's
 * permissions) or uiommu_vfio_unmap_dma() (a TCE without, runs of them in
 * one call), as QEMU's IOMMU notifier calls VFIO. The container allocates
 * the table levels and userspace-view levels the fast path could not.
 *
 * So that the result is the fast path's, the hypercall runs by the
 * guest's profile; where the KVM profile would hand it to the VMM for a
 * reason of its own (an unknown LIOBN, a TCE with R/W outside guest
 * memory, a list outside guest memory), it runs by QEMU's rules, as QEMU
 * answers then. Where the container refuses a mapping (memory it has not
 * registered, a window it no longer has), the entry is left unmapped in
 * every attached table (never with the page it held before), the refusal
 * is logged and counted (struct uiommu_accel_info's @vmm_failures), and
 * the hypercall returns what it would have, as QEMU's notifier does: the
 * guest view holds the TCE, a device's DMA there faults.
 *
 * Context: takes the guest's attach lock shared and the containers' locks;
 * may allocate and sleep; not inside an RCU read-side section, nor on a
 * vCPU in guest context.
 *
 * Return: the hypercall's PAPR code (see uiommu_papr_hcall()); never
 * UIOMMU_H_TOO_HARD.
 */
long uiommu_accel_vmm_hcall(struct uiommu_guest *guest, uint64_t opcode, const uint64_t *args,
			    unsigned int nargs, uint64_t *rets, unsigned int nrets);

/**
 * struct uiommu_accel_info - what is attached to a LIOBN.
 * @size: in: sizeof(struct uiommu_accel_info) as the caller knows it; the
 *	library fills that many bytes at most (and zeroes a tail it does not
 *	know).
 * @tables: host tables attached.
 * @groups: groups attached, over all its tables.
 * @too_hard: hypercall updates of its tables the fast path handed to the
 *	VMM (UIOMMU_H_TOO_HARD), ever.
 * @vmm_hcalls: uiommu_accel_vmm_hcall() calls that applied a change to its
 *	tables, ever.
 * @vmm_failures: entries a container refused to map in them.
 */
struct uiommu_accel_info {
	uint32_t size;
	uint32_t tables;
	uint32_t groups;
	uint32_t reserved;
	uint64_t too_hard;
	uint64_t vmm_hcalls;
	uint64_t vmm_failures;
};

/**
 * uiommu_accel_info() - Describe what is attached to a LIOBN.
 * @guest: guest.
 * @liobn: the LIOBN.
 * @ret_info: on success, the description; its @size must be set. A LIOBN
 *	with nothing attached reads as zeros.
 *
 * Context: takes the guest's attach lock shared.
 *
 * Return: 0, or -EINVAL for NULL arguments or a @ret_info->size below the
 * first version's.
 */
int uiommu_accel_info(struct uiommu_guest *guest, uint64_t liobn,
		      struct uiommu_accel_info *ret_info);

#ifdef __cplusplus
}
#endif

#endif /* UIOMMU_ACCEL_H */
