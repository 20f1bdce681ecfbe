/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uiommu/vfio.h - VFIO sPAPR TCE containers: what a VMM that passes a
 * device through on POWER talks to, with the semantics of Linux
 * drivers/vfio/vfio_iommu_spapr_tce.c (the IOMMU driver), drivers/vfio/
 * container.c and group.c (the container and group ioctls around it), on
 * the table groups of pe.h and the preregistered memory of prereg.h.
 *
 * Concepts:
 * - A container (Linux: the fd of /dev/vfio/vfio) gathers IOMMU groups
 *   (struct uiommu_table_group: a PE, a compound group, or a group of the
 *   user's own) that share one set of DMA windows. A group joins with
 *   uiommu_vfio_group_set_container() (VFIO_GROUP_SET_CONTAINER), which
 *   takes it from the host (uiommu_table_group_take_ownership()); then
 *   VFIO_SET_IOMMU picks the IOMMU type:
 *   - v1, UIOMMU_VFIO_SPAPR_TCE_IOMMU: one group; VFIO_IOMMU_ENABLE charges
 *     the whole 32-bit window to UIOMMU_RES_LOCKED_BYTES; every MAP_DMA
 *     pins the host page behind each IOMMU page (uncharged: the window was
 *     charged), every UNMAP_DMA unpins it.
 *   - v2, UIOMMU_VFIO_SPAPR_TCE_v2_IOMMU: groups that support dynamic DMA
 *     windows, with the same create_table (Linux's test of compatibility),
 *     sharing every table; memory is preregistered first
 *     (VFIO_IOMMU_SPAPR_REGISTER_MEMORY: pinned and charged once, shared
 *     with the other containers of the address space, prereg.h), and MAP
 *     is a lookup; windows are created and removed by the user
 *     (VFIO_IOMMU_SPAPR_TCE_CREATE/REMOVE, DDW).
 *   The last group to leave (VFIO_GROUP_UNSET_CONTAINER) releases the
 *   IOMMU: windows, registrations, charges, the address-space binding; the
 *   container is then as new.
 * - The default window: when the first group attaches and the container
 *   has no window 0, the 32-bit window (4 KiB pages, tce32_size bytes, one
 *   level) is created lazily, by the first MAP_DMA, UNMAP_DMA or
 *   TCE_CREATE. VFIO_IOMMU_SPAPR_TCE_REMOVE of bus address 0 while it is
 *   pending only cancels it (QEMU does this, then creates the windows the
 *   guest asks for).
 * - The address space (prereg.h): a container binds the address space of
 *   the caller of its first VFIO_IOMMU_ENABLE, SPAPR_REGISTER_MEMORY,
 *   SPAPR_TCE_CREATE or SPAPR_TCE_REMOVE (as Linux binds current->mm);
 *   from then on every IOMMU request but VFIO_CHECK_EXTENSION from another
 *   address space (a fork() child, another uiommu_mm_use()) is -EPERM.
 *   Addresses ("vaddr") are host virtual addresses of this process.
 * - One entry point takes the real UAPI: uiommu_vfio_ioctl() with the
 *   request numbers and structs of <linux/vfio.h>, argsz, minsz and flags
 *   honoured as the kernel does. Beside it, typed functions with the same
 *   semantics for new code. Values match <linux/vfio.h> (a test checks).
 * - Where upstream has a quirk that loses or leaks something, we fix it
 *   and say so in the function's comment; doc/design/vfio.md has the
 *   whole table (Linux's behaviour, ours, the test that proves ours).
 *
 * Thread safety (stronger than upstream, which takes no lock on MAP and
 * UNMAP): any number of threads may call MAP_DMA and UNMAP_DMA on a
 * container at once, also on the same entries, and concurrently with
 * every other call. Window, group, registration and IOMMU changes take the
 * container's lock exclusively; MAP_DMA, UNMAP_DMA, GET_INFO and EEH take
 * it shared, and entries are serialized in stripes, so that an entry and
 * its record of the memory behind it always change together. A MAP_DMA
 * racing a TCE_REMOVE of its window therefore either completes before the
 * remove (whose clear then releases what it mapped) or finds no window
 * (-ENXIO); it never writes a table being removed. A container must not be
 * freed while another thread uses it.
 */
#ifndef UIOMMU_VFIO_H
#define UIOMMU_VFIO_H

#include <stdint.h>
#include <stddef.h>

#include <uiommu/types.h>
#include <uiommu/ctx.h>
#include <uiommu/pe.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uiommu_vfio_container;

/* <linux/vfio.h> values this API uses (a test compares them). */
#define UIOMMU_VFIO_API_VERSION		0	/* VFIO_API_VERSION */
#define UIOMMU_VFIO_SPAPR_TCE_IOMMU	2	/* VFIO_SPAPR_TCE_IOMMU: v1 */
#define UIOMMU_VFIO_EEH			5	/* VFIO_EEH: an extension, not a type */
#define UIOMMU_VFIO_SPAPR_TCE_v2_IOMMU	7	/* VFIO_SPAPR_TCE_v2_IOMMU: v2 */
#define UIOMMU_VFIO_DMA_MAP_FLAG_READ	(1u << 0) /* the device may read memory */
#define UIOMMU_VFIO_DMA_MAP_FLAG_WRITE	(1u << 1) /* the device may write memory */
#define UIOMMU_VFIO_SPAPR_INFO_DDW	(1u << 0) /* VFIO_IOMMU_SPAPR_INFO_DDW */

/**
 * uiommu_vfio_container_new() - Create a container (open /dev/vfio/vfio).
 * @ctx: context.
 * @ret_container: on success, a container with no group and no IOMMU type.
 *
 * Charges one UIOMMU_RES_VFIO_CONTAINERS.
 *
 * Context: allocates.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @ctx or @ret_container;
 * * -ENOSPC the UIOMMU_RES_VFIO_CONTAINERS limit;
 * * -ENOMEM out of memory.
 */
int uiommu_vfio_container_new(struct uiommu_ctx *ctx,
			      struct uiommu_vfio_container **ret_container);

/**
 * uiommu_vfio_container_free() - Destroy a container.
 * @container: container, or NULL (nothing happens).
 *
 * As closing the container's fd and the fds of its groups: every group
 * leaves (as uiommu_vfio_group_unset_container()), which releases the
 * IOMMU (every window cleared and freed, every registration dropped, the
 * v1 charge returned, the address space unbound), and the container is
 * freed. Linux keeps a container alive while a group still holds it; a
 * library call must finish, so this detaches them.
 *
 * Context: takes the container's lock; may sleep. Must not race with any
 * other call on @container.
 *
 * Return: 0, or the first error of a group's
 * uiommu_table_group_release_ownership() (the container is freed anyway;
 * that group stays owned by the user, see
 * uiommu_vfio_group_unset_container()).
 */
int uiommu_vfio_container_free(struct uiommu_vfio_container *container);

/**
 * uiommu_vfio_ioctl() - A request on a container, as ioctl(2) on its fd.
 * @container: container.
 * @request: a request of <linux/vfio.h>: VFIO_GET_API_VERSION,
 *	VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU, VFIO_IOMMU_SPAPR_TCE_GET_INFO,
 *	VFIO_IOMMU_ENABLE, VFIO_IOMMU_DISABLE, VFIO_IOMMU_MAP_DMA,
 *	VFIO_IOMMU_UNMAP_DMA, VFIO_IOMMU_SPAPR_REGISTER_MEMORY,
 *	VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, VFIO_IOMMU_SPAPR_TCE_CREATE,
 *	VFIO_IOMMU_SPAPR_TCE_REMOVE, VFIO_EEH_PE_OP.
 * @...: what ioctl(2) takes for @request: the extension or type number
 *	for VFIO_CHECK_EXTENSION and VFIO_SET_IOMMU (read as an unsigned
 *	long, as the kernel reads its argument), nothing for
 *	VFIO_GET_API_VERSION, ENABLE and DISABLE, else a pointer to the
 *	request's struct (struct vfio_iommu_type1_dma_map for MAP_DMA, ...).
 *
 * Code written against a VFIO container fd ports by replacing ioctl(fd,
 * with uiommu_vfio_ioctl(container, and taking a negative return as
 * -errno. As the kernel: a struct is read up to its minsz (the offset of
 * the end of its last mandatory field) and refused with -EINVAL when its
 * argsz is smaller; GET_INFO writes back the DDW part only when argsz
 * covers it; unknown flags are -EINVAL; a request the IOMMU does not know
 * is -ENOTTY, and any request but the first three before VFIO_SET_IOMMU is
 * -EINVAL (VFIO's core has no IOMMU to pass it to). A NULL struct pointer
 * is -EFAULT (the kernel's failed copy_from_user()). Each request then
 * does what its typed function does (uiommu_vfio_check_extension(),
 * uiommu_vfio_set_iommu(), uiommu_vfio_info(), uiommu_vfio_enable(),
 * uiommu_vfio_disable(), uiommu_vfio_map_dma(), uiommu_vfio_unmap_dma(),
 * uiommu_vfio_register_memory(), uiommu_vfio_unregister_memory(),
 * uiommu_vfio_create_window(), uiommu_vfio_remove_window(),
 * uiommu_vfio_eeh_pe_op()), with its errors, checked in the kernel's
 * order: the address-space check first, then the copy, argsz and flags,
 * then the request's own checks.
 *
 * Context: as the typed function of @request.
 *
 * Return: the request's result (VFIO_API_VERSION, 1 or 0 for
 * VFIO_CHECK_EXTENSION, the PE state for VFIO_EEH_PE_GET_STATE, else 0),
 * or a negative errno: those of the typed function, and
 * * -EFAULT a NULL struct pointer;
 * * -EINVAL argsz below the struct's minsz, unknown flags, or an IOMMU
 *   request before VFIO_SET_IOMMU, or an unknown request then;
 * * -ENOTTY a request the IOMMU type does not serve (ENABLE and DISABLE
 *   on v2; REGISTER_MEMORY, UNREGISTER_MEMORY, TCE_CREATE and TCE_REMOVE
 *   on v1; an unknown request).
 */
int uiommu_vfio_ioctl(struct uiommu_vfio_container *container, unsigned long request, ...);

/**
 * uiommu_vfio_group_set_container() - Add a group to a container (VFIO_GROUP_SET_CONTAINER).
 * @grp: an IOMMU group of the container's context, in no container.
 * @container: container.
 *
 * As Linux vfio_container_attach_group(): the group is taken from the host
 * (uiommu_table_group_take_ownership(), Linux's claim of DMA ownership);
 * if the container has an IOMMU type, the IOMMU attaches the group
 * (Linux tce_iommu_attach_group()): a v2 container refuses a group
 * without DDW, a v1 container a second group, any container a group whose
 * create_table differs from its groups' (incompatible); the group gets
 * every window the container has. On failure the group is given back.
 * Fixed quirk: Linux marks the default window pending even when the
 * attach failed; here only a successful first attach does.
 *
 * Context: takes the context's VFIO lock and the container's lock; may
 * sleep; allocates.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @grp or @container, a group of another context, a group
 *   already in a container (Linux: -EINVAL), or a v2 container and a group
 *   with max_dynamic_windows_supported 0;
 * * -EBUSY a v1 container with a group already, or @grp is owned by
 *   another user (take_ownership's -EBUSY);
 * * -EPERM a group incompatible with the container's (another
 *   create_table), or a group without take_ownership;
 * * -ENOMEM out of memory;
 * * the error of take_ownership or of setting a window on the group.
 */
int uiommu_vfio_group_set_container(struct uiommu_table_group *grp,
				    struct uiommu_vfio_container *container);

/**
 * uiommu_vfio_group_unset_container() - Take a group out of its container (VFIO_GROUP_UNSET_CONTAINER).
 * @grp: a group in a container.
 *
 * As Linux vfio_group_detach_container() and tce_iommu_detach_group():
 * every window of the container is cleared (all its TCEs, for every group:
 * the tables are shared, so the remaining groups lose their mappings too,
 * as upstream since v6.11) and unset on @grp, which is then given back to
 * the host (uiommu_table_group_release_ownership()). If it was the last
 * group, the IOMMU is released (windows freed, registrations dropped,
 * charges returned, the address space unbound, the type forgotten).
 *
 * If giving the group back fails (a PE's release_ownership cannot create
 * the host's default table), the group has still left the container, with
 * no window, but stays owned by the user: the error is returned, and the
 * caller gives it back with uiommu_table_group_release_ownership() later
 * (Linux's release cannot fail).
 *
 * Context: takes the context's VFIO lock and the container's lock; may
 * sleep.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @grp, or a group in no container (Linux: -EINVAL);
 * * the error of release_ownership (see above).
 */
int uiommu_vfio_group_unset_container(struct uiommu_table_group *grp);

/**
 * uiommu_vfio_group_get_container() - The container a group is in.
 * @grp: group.
 * @ret_container: on success, its container.
 *
 * What VFIO_GROUP_GET_STATUS's VFIO_GROUP_FLAGS_CONTAINER_SET tells.
 *
 * Context: takes the context's VFIO lock.
 *
 * Return: 0, or -EINVAL for NULL arguments, -ENOENT if @grp is in no
 * container.
 */
int uiommu_vfio_group_get_container(struct uiommu_table_group *grp,
				    struct uiommu_vfio_container **ret_container);

/**
 * uiommu_vfio_check_extension() - VFIO_CHECK_EXTENSION.
 * @container: container.
 * @extension: an extension or IOMMU type of <linux/vfio.h>.
 *
 * As Linux's container and tce_iommu_ioctl(): 1 for
 * UIOMMU_VFIO_SPAPR_TCE_IOMMU and UIOMMU_VFIO_SPAPR_TCE_v2_IOMMU, 1 for
 * UIOMMU_VFIO_EEH (Linux: eeh_enabled(); the library models EEH on every
 * PE, and a group without it refuses VFIO_EEH_PE_OP), 0 for anything else
 * (the type1 IOMMUs, VFIO_NOIOMMU_IOMMU, ...). Never checks the address
 * space.
 *
 * Context: lock-free.
 *
 * Return: 1 or 0, or -EINVAL for a NULL @container.
 */
int uiommu_vfio_check_extension(struct uiommu_vfio_container *container,
				unsigned long extension);

/**
 * uiommu_vfio_set_iommu() - Pick the IOMMU type (VFIO_SET_IOMMU).
 * @container: container with at least one group and no type yet.
 * @type: UIOMMU_VFIO_SPAPR_TCE_IOMMU or UIOMMU_VFIO_SPAPR_TCE_v2_IOMMU.
 *
 * As Linux vfio_ioctl_set_iommu() with tce_iommu_open() and
 * tce_iommu_attach_group() for every group: if one refuses, the groups
 * already attached are detached and nothing changes.
 *
 * Context: takes the container's lock; may sleep; allocates.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @container, no group, a type already set, or @type
 *   UIOMMU_VFIO_EEH (an extension the IOMMU reports, whose open then
 *   refuses it, as Linux);
 * * -ENODEV a @type no IOMMU here supports (the type1 IOMMUs, ...);
 * * an attach error of uiommu_vfio_group_set_container() (-EINVAL, -EBUSY,
 *   -EPERM, -ENOMEM, a set_window error).
 */
int uiommu_vfio_set_iommu(struct uiommu_vfio_container *container, unsigned long type);

/* Container state flags (struct uiommu_vfio_info). */
#define UIOMMU_VFIO_INFO_ENABLED	(1u << 0) /* v1 enabled, or v2 with memory registered */
#define UIOMMU_VFIO_INFO_DEF_WINDOW	(1u << 1) /* the default window is pending */
#define UIOMMU_VFIO_INFO_MM_BOUND	(1u << 2) /* an address space is bound */

/**
 * struct uiommu_vfio_window - one DMA window of a container.
 * @start_addr: its first bus address (what TCE_CREATE returned), or 0.
 * @size: bytes of bus address its table covers (it_size pages: a host page
 *	of TCEs at least, so it may exceed the size asked for).
 * @page_shift: its IOMMU page size, log2 of bytes; 0 if there is no window.
 * @levels: its table's levels.
 */
struct uiommu_vfio_window {
	uint64_t start_addr;
	uint64_t size;
	uint32_t page_shift;
	uint32_t levels;
};

/**
 * struct uiommu_vfio_info - what a container is (VFIO_IOMMU_SPAPR_TCE_GET_INFO and more).
 * @size: in: sizeof(struct uiommu_vfio_info) as the caller knows it; the
 *	library fills that many bytes at most (and zeroes a tail it does not
 *	know).
 * @iommu_type: 0 (none yet), UIOMMU_VFIO_SPAPR_TCE_IOMMU or
 *	UIOMMU_VFIO_SPAPR_TCE_v2_IOMMU.
 * @flags: UIOMMU_VFIO_INFO_* state flags.
 * @ngroups: groups in the container.
 * @info_flags: GET_INFO's flags: UIOMMU_VFIO_SPAPR_INFO_DDW on a v2
 *	container whose first group has dynamic windows.
 * @dma32_window_start: the first group's tce32_start (GET_INFO's u32).
 * @dma32_window_size: its tce32_size (GET_INFO's u32).
 * @pgsizes: with DDW, the first group's page sizes, bit n = 1 << n bytes.
 * @max_dynamic_windows_supported: with DDW, the first group's.
 * @levels: with DDW, the first group's max_levels.
 * @reserved: zero.
 * @windows: the container's windows 0 and 1.
 * @locked_bytes: bytes this container charged to UIOMMU_RES_LOCKED_BYTES:
 *	the v1 ENABLE charge and the tables of its windows (its
 *	registrations are the address space's, see @prereg_bytes).
 * @prereg_regions: registered regions the container holds.
 * @prereg_bytes: their bytes.
 * @tces: TCEs the container has set in its windows now.
 * @map_calls: successful MAP_DMA calls, ever.
 * @unmap_calls: successful UNMAP_DMA calls, ever.
 */
struct uiommu_vfio_info {
	uint32_t size;
	uint32_t iommu_type;
	uint32_t flags;
	uint32_t ngroups;
	uint32_t info_flags;
	uint32_t dma32_window_start;
	uint32_t dma32_window_size;
	uint32_t max_dynamic_windows_supported;
	uint64_t pgsizes;
	uint32_t levels;
	uint32_t reserved;
	struct uiommu_vfio_window windows[UIOMMU_TABLE_GROUP_MAX_TABLES];
	uint64_t locked_bytes;
	uint64_t prereg_regions;
	uint64_t prereg_bytes;
	uint64_t tces;
	uint64_t map_calls;
	uint64_t unmap_calls;
};

/**
 * uiommu_vfio_info() - Describe a container (VFIO_IOMMU_SPAPR_TCE_GET_INFO).
 * @container: container.
 * @ret_info: on success, the description; its @size must be set by the
 *	caller.
 *
 * The GET_INFO part is Linux's: the first group's 32-bit window and, only
 * on v2 with DDW, its dynamic-window capabilities (otherwise zero). The
 * rest is the container's state and counters. As every IOMMU request,
 * refused from another address space once one is bound.
 *
 * Context: takes the container's lock shared.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @container or @ret_info, a @ret_info->size below the
 *   first version's;
 * * -EPERM the container is bound to another address space.
 */
int uiommu_vfio_info(struct uiommu_vfio_container *container, struct uiommu_vfio_info *ret_info);

/**
 * uiommu_vfio_enable() - Enable a v1 container (VFIO_IOMMU_ENABLE).
 * @container: container.
 *
 * As Linux tce_iommu_enable(): binds the caller's address space and
 * charges the whole 32-bit window (tce32_size bytes of the first group) to
 * UIOMMU_RES_LOCKED_BYTES, whatever is later mapped.
 *
 * Context: takes the container's lock.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @container, or no IOMMU type set;
 * * -ENOTTY a v2 container (enabled by its first registration);
 * * -EPERM another address space is bound, or the caller has none, or the
 *   group has no 32-bit window (tce32_size 0);
 * * -EBUSY already enabled;
 * * -ENOMEM the UIOMMU_RES_LOCKED_BYTES limit, or the caller's process
 *   address space could not be made (uiommu_mm_current()).
 */
int uiommu_vfio_enable(struct uiommu_vfio_container *container);

/**
 * uiommu_vfio_disable() - Disable a v1 container (VFIO_IOMMU_DISABLE).
 * @container: container.
 *
 * Returns ENABLE's charge; MAP_DMA and UNMAP_DMA are then refused. As
 * Linux, succeeds when not enabled, and the mappings stay.
 *
 * Context: takes the container's lock.
 *
 * Return: 0, or -EINVAL (NULL @container, no IOMMU type), -ENOTTY (v2),
 * -EPERM (another address space).
 */
int uiommu_vfio_disable(struct uiommu_vfio_container *container);

/**
 * uiommu_vfio_register_memory() - Preregister memory (VFIO_IOMMU_SPAPR_REGISTER_MEMORY).
 * @container: a v2 container.
 * @vaddr: first byte, aligned to the host page size.
 * @size: bytes, a non-zero multiple of the host page size.
 *
 * As Linux tce_iommu_register_pages(): binds the caller's address space;
 * a region of exactly this range already registered in the address space
 * (by another container) is shared (uiommu_prereg_get()), otherwise one is
 * created (uiommu_prereg_new(): pinned, charged). The container holds it
 * and becomes enabled (MAP_DMA and UNMAP_DMA work from now on).
 *
 * Context: takes the container's lock and the address space's; may sleep;
 * allocates.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @container, no IOMMU type, a misaligned @vaddr or @size,
 *   @size 0 (Linux registers an empty region), a range that wraps, or one
 *   that overlaps another region of the address space;
 * * -ENOTTY a v1 container;
 * * -EPERM another address space is bound, or the caller has none;
 * * -EBUSY this container has registered exactly this range already;
 * * -EFAULT memory the model cannot resolve;
 * * -ENOSPC the UIOMMU_RES_PREREG_REGIONS limit;
 * * -ENOMEM the UIOMMU_RES_LOCKED_BYTES limit, mlock(2), out of memory (also
 *   for the caller's process address space).
 */
int uiommu_vfio_register_memory(struct uiommu_vfio_container *container, uint64_t vaddr,
				uint64_t size);

/**
 * uiommu_vfio_unregister_memory() - Drop a registration (VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY).
 * @container: a v2 container.
 * @vaddr: the registered range's first byte.
 * @size: its bytes.
 *
 * As Linux tce_iommu_unregister_pages(), except for the quirk: upstream
 * returns 0 when TCEs still point into the region and leaves it pinned
 * and charged with no owner (its balancing put's -EBUSY is ignored); here
 * that is -EBUSY and nothing changes. The container stays enabled.
 *
 * Context: takes the container's lock and the address space's; may sleep.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @container, no IOMMU type, a misaligned @vaddr or @size;
 * * -ENOTTY a v1 container;
 * * -EPERM no address space is bound yet (Linux: !container->mm), or
 *   another one is;
 * * -ENOENT no region of exactly this range, or one this container does
 *   not hold;
 * * -EBUSY TCEs point into the region (unmap them first);
 * * -ENOMEM out of memory for the container's new list of regions
 *   (nothing changed).
 */
int uiommu_vfio_unregister_memory(struct uiommu_vfio_container *container, uint64_t vaddr,
				  uint64_t size);

/**
 * uiommu_vfio_create_window() - Create a DMA window (VFIO_IOMMU_SPAPR_TCE_CREATE).
 * @container: a v2 container.
 * @page_shift: IOMMU page size, log2 of bytes; one of the first group's
 *	pgsizes.
 * @window_size: bytes, a power of two.
 * @levels: table levels, 1..the groups' max_levels.
 * @ret_start_addr: on success, the window's first bus address, which the
 *	platform picks (a PE: window 0 at tce32_start, window 1 at
 *	UIOMMU_PE_BUS_OFFSET_64).
 *
 * As Linux tce_iommu_create_window(): binds the caller's address space;
 * creates the pending default window first; takes the first free window
 * number; charges uiommu_table_group_get_table_size() to
 * UIOMMU_RES_LOCKED_BYTES; has the first group create the table and sets
 * it on every group. Fixed quirks: a create_table that fails returns the
 * charge (upstream leaks it), and a set_window that fails is undone only on
 * the groups that had it set (upstream unsets the window on every group).
 *
 * Context: takes the container's lock; may sleep; allocates.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @container or @ret_start_addr, no IOMMU type, a page size
 *   the first group does not support, a geometry get_table_size refuses
 *   (levels, a window that is not a power of two...), or create_table's
 *   -EINVAL;
 * * -ENOTTY a v1 container;
 * * -EPERM another address space is bound, or the caller has none, or the
 *   first group lacks set_window, unset_window, get_table_size or
 *   create_table;
 * * -ENOSPC both windows exist already, or create_table's -ENOSPC;
 * * -ENOMEM the UIOMMU_RES_LOCKED_BYTES limit, create_table's -ENOMEM, or
 *   the caller's process address space could not be made;
 * * the error of creating the pending default window, of create_table, or
 *   of set_window on a group.
 */
int uiommu_vfio_create_window(struct uiommu_vfio_container *container, unsigned int page_shift,
			      uint64_t window_size, unsigned int levels, uint64_t *ret_start_addr);

/**
 * uiommu_vfio_remove_window() - Remove a DMA window (VFIO_IOMMU_SPAPR_TCE_REMOVE).
 * @container: a v2 container.
 * @start_addr: a bus address in the window (Linux matches any address
 *	inside it, not only the start; kept).
 *
 * As Linux tce_iommu_remove_window(): binds the caller's address space;
 * while the default window is pending, @start_addr 0 only cancels it, and
 * so does the 32-bit window's start that GET_INFO reports (Linux knows
 * only 0, powernv's tce32_start, so QEMU's removal of it by that address
 * fails on a group whose window lies elsewhere).
 * Otherwise every TCE of the window is cleared (before the window is
 * unset, as upstream since v6.11), the window is unset on every group and
 * its table freed and uncharged. Fixed quirk: a group without unset_window
 * is found before anything is cleared (upstream clears, then returns
 * -EPERM with the window half removed).
 *
 * Context: takes the container's lock; may sleep.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @container, no IOMMU type, or no window holds
 *   @start_addr;
 * * -ENOTTY a v1 container;
 * * -EPERM another address space is bound, or the caller has none, or a
 *   group lacks unset_window;
 * * -ENOMEM the caller's process address space could not be made.
 */
int uiommu_vfio_remove_window(struct uiommu_vfio_container *container, uint64_t start_addr);

/**
 * uiommu_vfio_map_dma() - Map memory for DMA (VFIO_IOMMU_MAP_DMA).
 * @container: an enabled container.
 * @vaddr: first byte of the memory, aligned to the window's IOMMU page.
 * @iova: bus address, in a window, aligned to its IOMMU page.
 * @size: bytes, a non-zero multiple of the IOMMU page.
 * @flags: UIOMMU_VFIO_DMA_MAP_FLAG_READ and/or _WRITE: what the device may
 *	do (R|W bidirectional, R to the device, W from it; write implies read
 *	in the stored TCE, as powernv).
 *
 * As Linux tce_iommu_build() (v1) and tce_iommu_build_v2(): creates the
 * pending default window; one TCE per IOMMU page of [@iova, @iova +
 * @size), over a live TCE too (the old page is released: v1 unpins it, v2
 * decrements its region's mapped). When the IOMMU page is smaller than the
 * host page, each TCE holds its own part of the host page (the sub-page
 * offset); an IOMMU page larger than the host page needs memory the model
 * vouches for at that size (a hostmem buffer of huge pages): ordinary
 * memory is refused. v1 pins the host page behind each IOMMU page
 * (uncharged: ENABLE charged the window); v2 looks the memory up among the
 * container's registered regions (lock-free, O(log regions)) and counts
 * each TCE in its region's mapped. Then one TCE-cache kill for the range.
 *
 * Deliberate differences: the parameter checks that upstream reports as
 * the positive value 1 are -EINVAL; the whole range must lie in the window
 * (upstream checks only its first page and writes past the table); @size
 * 0 is -EINVAL (upstream: a no-op); every page is checked before any
 * changes, so an -EINVAL, -EPERM or -EFAULT leaves the window as it was
 * (upstream maps a prefix, then clears it, and the v2 path reports a
 * prefix mapped as success when a region is being unregistered); v1
 * unpins the page it refused (upstream leaks the pin); v2 takes memory
 * only from regions this container registered (upstream: any region of
 * the address space, whose owner's release then orphans it). If a table
 * level cannot be allocated (-ENOMEM) the entries mapped so far are
 * cleared, as upstream, and every count is restored.
 *
 * Context: takes the container's lock shared and the stripes of the
 * entries; may allocate table levels; v1 takes the memory model's pin
 * lock.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @container, no IOMMU type, unknown @flags, neither READ
 *   nor WRITE, @size 0 or not a multiple of the IOMMU page, a misaligned
 *   @vaddr or @iova, a range running past the window, a range of @vaddr
 *   that wraps; v2: memory not in a region this container registered, or
 *   a region whose page shift is below the window's (Linux: -EINVAL);
 * * -EPERM not enabled (v1: no ENABLE; v2: nothing registered), another
 *   address space is bound; v1: a host page smaller than the IOMMU page
 *   (Linux: -EPERM);
 * * -ENXIO no window holds @iova;
 * * -EFAULT v1: memory the model cannot resolve (Linux: the pin failed);
 * * -ENOMEM a table level could not be allocated, or v1: the pin could not
 *   lock memory;
 * * the error of creating the pending default window.
 */
int uiommu_vfio_map_dma(struct uiommu_vfio_container *container, uint64_t vaddr, uint64_t iova,
			uint64_t size, unsigned int flags);

/**
 * uiommu_vfio_unmap_dma() - Unmap DMA (VFIO_IOMMU_UNMAP_DMA).
 * @container: an enabled container.
 * @iova: bus address, in a window, aligned to its IOMMU page.
 * @size: bytes, a non-zero multiple of the IOMMU page.
 *
 * As Linux tce_iommu_clear(): creates the pending default window; clears
 * every TCE of the range that is set (absent table levels are skipped and
 * never allocated) and releases its page (v1 unpin, v2 mapped decrement);
 * entries that were empty are fine. One kill for the range. Deliberate
 * differences: the parameter check upstream reports as 1 is -EINVAL; the
 * whole range must lie in the window; @size 0 is -EINVAL.
 *
 * Context: takes the container's lock shared and the stripes of the
 * entries; does not allocate (except the pending default window).
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @container, no IOMMU type, @size 0 or not a multiple of
 *   the IOMMU page, a misaligned @iova, a range running past the window;
 * * -EPERM not enabled, or another address space is bound;
 * * -ENXIO no window holds @iova;
 * * the error of creating the pending default window.
 */
int uiommu_vfio_unmap_dma(struct uiommu_vfio_container *container, uint64_t iova, uint64_t size);

/**
 * uiommu_vfio_eeh_pe_op() - An EEH operation on the container's PEs (VFIO_EEH_PE_OP).
 * @container: container with an IOMMU type.
 * @op: UIOMMU_EEH_PE_* (pe.h; the values of VFIO_EEH_PE_*).
 * @err: the error for UIOMMU_EEH_PE_INJECT_ERR, else ignored (may be NULL).
 *
 * As Linux: uiommu_table_group_eeh_op() on every group in turn, stopping
 * at the first non-zero result, which is returned (so GET_STATE gives the
 * first group's state that is not NORMAL, or NORMAL).
 *
 * Context: takes the container's lock shared; may sleep.
 *
 * Return: a GET_STATE state, or 0; or a negative errno:
 * * -EINVAL NULL @container, no IOMMU type, INJECT_ERR with a NULL @err,
 *   or the group's -EINVAL (an unknown @op, a bad error to inject);
 * * -EPERM another address space is bound;
 * * -ENODEV a group without EEH (no eeh_pe_op);
 * * another error of the group's operation.
 */
int uiommu_vfio_eeh_pe_op(struct uiommu_vfio_container *container, unsigned int op,
			  const struct uiommu_eeh_pe_err *err);

#ifdef __cplusplus
}
#endif

#endif /* UIOMMU_VFIO_H */
