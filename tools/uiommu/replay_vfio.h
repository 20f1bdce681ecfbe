/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * 'uiommu replay --vfio': the host side of a replayed guest, as QEMU
 * builds it for a PHB with a VFIO device behind it (hw/vfio/common.c,
 * hw/vfio/spapr.c): one v2 container per guest PHB, with a host PE of its
 * own, the guest's RAM preregistered in every container, a host window
 * for each guest window (created and removed as the guest's are, with
 * QEMU's levels algorithm and its start-address check), and every TCE the
 * guest changes mirrored by QEMU's IOMMU notifier into one MAP_DMA or
 * UNMAP_DMA through uiommu_vfio_ioctl(). A device translation the trace
 * logs is then checked through the host PE as a device would DMA: bus
 * address -> host window -> host TCE -> hpa, which must be the hpa of the
 * guest page QEMU named, with the access QEMU gave it.
 *
 * The replay engine calls one function per event (a narrow interface, so
 * that the engine can change around it). Each returns 0, 1 for a mismatch
 * (@why says what differs), or a negative errno when the replay cannot go
 * on (@why says why).
 */
#ifndef UIOMMU_CLI_REPLAY_VFIO_H
#define UIOMMU_CLI_REPLAY_VFIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uiommu/uiommu.h>

struct replay_vfio;

struct replay_vfio_stats {
	uint64_t containers;	   /* one per guest PHB */
	uint64_t windows_created;  /* VFIO_IOMMU_SPAPR_TCE_CREATE */
	uint64_t windows_removed;  /* VFIO_IOMMU_SPAPR_TCE_REMOVE */
	uint64_t windows_unplaceable; /* the host put it elsewhere (QEMU would stop) */
	uint64_t map_calls;	   /* VFIO_IOMMU_MAP_DMA */
	uint64_t unmap_calls;	   /* VFIO_IOMMU_UNMAP_DMA */
	uint64_t maps_skipped;	   /* guest TCEs outside guest RAM (QEMU skips them too) */
	uint64_t registered_bytes; /* VFIO_IOMMU_SPAPR_REGISTER_MEMORY, every container */
	uint64_t xlate_checked;	   /* translations checked through the host PE */
	uint64_t xlate_mismatched;
	uint64_t locked_bytes;	   /* UIOMMU_RES_LOCKED_BYTES now */
	uint64_t locked_peak;	   /* its highest value seen */
};

/* replay_vfio_new() - A host PHB with no PE yet, for @guest's PHBs. */
int replay_vfio_new(struct uiommu_ctx *ctx, struct uiommu_guest *guest, struct replay_vfio **ret,
		    char *why, size_t whylen);

/* replay_vfio_free() - Close every container (QEMU's exit), free the PEs and the PHB. */
void replay_vfio_free(struct replay_vfio *v);

/* replay_vfio_ram() - Guest RAM appeared at @hva: registered in every container. */
int replay_vfio_ram(struct replay_vfio *v, void *hva, uint64_t len, char *why, size_t whylen);

/*
 * replay_vfio_phb() - The windows of guest PHB @index may have changed (it
 * was made, or a DDW call ran): its container is made on the first call,
 * and host windows are created and removed to match the guest's.
 */
int replay_vfio_phb(struct replay_vfio *v, uint32_t index, char *why, size_t whylen);

/*
 * replay_vfio_tces() - An hcall on @liobn changed [@ioba, + @npages pages)
 * of its window. @ok: it succeeded, and QEMU's notifier saw every entry;
 * otherwise only the entries whose TCE now differs are mirrored.
 */
int replay_vfio_tces(struct replay_vfio *v, uint64_t liobn, uint64_t ioba, uint64_t npages, bool ok,
		     char *why, size_t whylen);

/*
 * replay_vfio_xlate() - QEMU translated bus address @ioba (absolute) of
 * @liobn to the guest page @gpa_page with access @perm (IOMMU_RO 1, _WO 2,
 * _RW 3; 0 for none) and page mask @mask: check it through the host PE.
 * LIOBNs with no container (VIO) are not checked.
 */
int replay_vfio_xlate(struct replay_vfio *v, uint64_t liobn, uint64_t ioba, uint64_t gpa_page,
		      uint64_t perm, uint64_t mask, char *why, size_t whylen);

/* replay_vfio_stats() - What the host side did. */
void replay_vfio_stats(struct replay_vfio *v, struct replay_vfio_stats *st);

#endif /* UIOMMU_CLI_REPLAY_VFIO_H */
