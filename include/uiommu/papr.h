/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uiommu/papr.h - the PAPR guest interface: guest TCE tables (LIOBNs), the
 * TCE hypercalls and the dynamic DMA window (DDW) RTAS calls.
 *
 * Concepts:
 * - A LIOBN (logical I/O bus number) names one DMA window of a guest: a
 *   range of bus addresses (IOBAs) translated by a table of TCEs, one per
 *   IOMMU page of 1 << page_shift bytes. Its geometry is (page_shift,
 *   offset, size): the window starts at bus address offset << page_shift
 *   and has size entries. This is KVM_CREATE_SPAPR_TCE_64.
 * - The library keeps the guest's view of each table: the TCEs exactly as
 *   the guest wrote them (a TCE is gpa | TCE_PCI_WRITE 0x2 | TCE_PCI_READ
 *   0x1; other low bits are kept as written). It is stored in pages of the
 *   modelled host's page size, allocated when a non-zero TCE first lands
 *   in them, never for a zero TCE; an entry of an absent page reads as 0
 *   (KVM's lazily allocated stt->pages[]).
 * - Hypercalls return PAPR codes (UIOMMU_H_*), never errno; library calls
 *   (create, destroy, info, translate, PHBs) return 0 or a negative errno.
 * - Two profiles say what a guest sees where QEMU and KVM differ
 *   (doc/design/papr.md has the table): UIOMMU_PAPR_PROFILE_QEMU, what
 *   QEMU's hw/ppc/spapr_iommu.c answers a TCG guest (the default), and
 *   UIOMMU_PAPR_PROFILE_KVM, what Linux book3s_64_vio.c answers in the
 *   kernel, where UIOMMU_H_TOO_HARD means "hand this hcall to the VMM".
 * - A PHB (PCI host bridge) owns up to UIOMMU_PAPR_MAX_WINDOWS windows:
 *   the default 32-bit window, created when the PHB is added, and the
 *   windows the guest creates and removes with the DDW RTAS calls, as
 *   QEMU's spapr_pci.c and spapr_rtas_ddw.c.
 *
 * Limits (enum uiommu_resource): each LIOBN charges one UIOMMU_RES_LIOBNS
 * and, as KVM, kvmppc_stt_pages(size) host pages of UIOMMU_RES_LOCKED_BYTES
 * (the whole table and its page array, as if allocated) from creation to
 * destruction; the guest-view pages really allocated are host frames,
 * charged to UIOMMU_RES_FRAME_BYTES while they exist. A table has at most
 * UIOMMU_LIOBN_MAX_ENTRIES entries.
 *
 * Thread safety: hypercalls may run concurrently on any threads, on the
 * same or different LIOBNs, and concurrently with LIOBN and PHB changes
 * and RTAS calls. They find the LIOBN without a lock (RCU) and take no
 * lock, except to allocate a guest-view page, which they do outside the
 * RCU read-side section. Concurrent updates of one entry leave one of the
 * written values (each 8-byte entry is written atomically). Table, PHB and
 * RTAS changes are serialized by a per-guest lock.
 */
#ifndef UIOMMU_PAPR_H
#define UIOMMU_PAPR_H

#include <stdint.h>
#include <stddef.h>

#include <uiommu/types.h>
#include <uiommu/ctx.h>
#include <uiommu/guest.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Hypercall opcodes (PAPR; Linux asm/hvcall.h). */
#define UIOMMU_H_GET_TCE		0x1C
#define UIOMMU_H_PUT_TCE		0x20
#define UIOMMU_H_STUFF_TCE		0x138
#define UIOMMU_H_PUT_TCE_INDIRECT	0x13C

/* Hypercall return codes (PAPR; Linux asm/hvcall.h). */
#define UIOMMU_H_SUCCESS		0
#define UIOMMU_H_HARDWARE		(-1)
#define UIOMMU_H_FUNCTION		(-2)	/* unknown opcode */
#define UIOMMU_H_PARAMETER		(-4)
/* KVM-internal "punt to the VMM"; a guest never sees it. */
#define UIOMMU_H_TOO_HARD		9999

/* PAPR: the TCE list of H_PUT_TCE_INDIRECT is one 4 KiB page. */
#define UIOMMU_PAPR_MAX_INDIRECT_NPAGES	512
#define UIOMMU_PAPR_TCE_LIST_ALIGN	4096

/* TCE permission bits (PAPR, Linux asm/tce.h TCE_PCI_READ/WRITE). */
#define UIOMMU_TCE_PCI_READ		0x1ULL
#define UIOMMU_TCE_PCI_WRITE		0x2ULL

/* RTAS status (PAPR). */
#define UIOMMU_RTAS_SUCCESS		0
#define UIOMMU_RTAS_HW_ERROR		(-1)
#define UIOMMU_RTAS_PARAM_ERROR		(-3)

/* RTAS tokens, as QEMU's device tree advertises them (ibm,ddw-applicable / ibm,ddw-extensions). */
#define UIOMMU_RTAS_QUERY_PE_DMA_WINDOW		0x2026
#define UIOMMU_RTAS_CREATE_PE_DMA_WINDOW	0x2027
#define UIOMMU_RTAS_REMOVE_PE_DMA_WINDOW	0x2028
#define UIOMMU_RTAS_RESET_PE_DMA_WINDOW		0x2029

/* Page sizes in the ibm,query-pe-dma-window mask (LoPAPR). */
#define UIOMMU_RTAS_DDW_PGSIZE_4K	0x01
#define UIOMMU_RTAS_DDW_PGSIZE_64K	0x02
#define UIOMMU_RTAS_DDW_PGSIZE_16M	0x04
#define UIOMMU_RTAS_DDW_PGSIZE_32M	0x08
#define UIOMMU_RTAS_DDW_PGSIZE_64M	0x10
#define UIOMMU_RTAS_DDW_PGSIZE_128M	0x20
#define UIOMMU_RTAS_DDW_PGSIZE_256M	0x40
#define UIOMMU_RTAS_DDW_PGSIZE_16G	0x80
#define UIOMMU_RTAS_DDW_PGSIZE_2M	0x100

/* QEMU's geometry (hw/ppc/spapr_pci.c, spapr_vio.c, include/hw/ppc/spapr.h). */
#define UIOMMU_PAPR_TCE_PAGE_SHIFT	12			/* default windows: 4 KiB TCEs */
#define UIOMMU_PAPR_PCI_DMA_WIN_SIZE	0x40000000ULL		/* PHB default window: 1 GiB at 0 */
#define UIOMMU_PAPR_VIO_DMA_WIN_SIZE	0x10000000ULL		/* VIO device window: 256 MiB at 0 */
#define UIOMMU_PAPR_DMA64_WIN_ADDR	0x800000000000000ULL	/* 1 << 59 */
#define UIOMMU_PAPR_PCI_BUID_BASE	0x800000020000000ULL	/* PHB n: base + n */
#define UIOMMU_PAPR_MAX_WINDOWS		2			/* SPAPR_PCI_DMA_MAX_WINDOWS */
/* QEMU's default pgsz property: 4K | 64K | 2M | 16M. */
#define UIOMMU_PAPR_DEFAULT_PAGE_SIZE_MASK \
	((1ULL << 12) | (1ULL << 16) | (1ULL << 21) | (1ULL << 24))

/* LIOBN geometry limits: page_shift as KVM; entries as QEMU's uint32_t nb_table. */
#define UIOMMU_LIOBN_MIN_PAGE_SHIFT	12
#define UIOMMU_LIOBN_MAX_PAGE_SHIFT	34
#define UIOMMU_LIOBN_MAX_ENTRIES	0xffffffffULL

/**
 * enum uiommu_papr_profile - whose answers a guest gets.
 * @UIOMMU_PAPR_PROFILE_QEMU: QEMU hw/ppc/spapr_iommu.c (what a TCG guest
 *	sees): an unknown LIOBN or one >= 2^32 is H_PARAMETER; a misaligned
 *	IOBA is masked down to its page; H_PUT_TCE_INDIRECT and H_STUFF_TCE
 *	stop at the first failing entry, keeping the earlier ones; any TCE
 *	value is stored, STUFF's included; unmapped guest memory reads as 0.
 * @UIOMMU_PAPR_PROFILE_KVM: Linux arch/powerpc/kvm/book3s_64_vio.c (the
 *	in-kernel path): an unknown LIOBN is H_TOO_HARD (the VMM handles it);
 *	a misaligned IOBA or a range leaving the window is H_PARAMETER before
 *	anything changes; a TCE with R or W must point at an IOMMU-page-aligned
 *	gpa in guest memory, else H_TOO_HARD; H_PUT_TCE_INDIRECT validates the
 *	whole list before writing; H_STUFF_TCE refuses R/W bits.
 */
enum uiommu_papr_profile {
	UIOMMU_PAPR_PROFILE_QEMU,
	UIOMMU_PAPR_PROFILE_KVM,
};

/**
 * uiommu_papr_set_profile() - Choose the profile of a guest's hypercalls.
 * @guest: guest.
 * @profile: UIOMMU_PAPR_PROFILE_QEMU (the default) or _KVM.
 *
 * Takes effect for hypercalls that start after it returns; may be called
 * at any time.
 *
 * Context: allocates the guest's PAPR state on first use.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL unknown @profile;
 * * -ENOMEM out of memory.
 */
int uiommu_papr_set_profile(struct uiommu_guest *guest, enum uiommu_papr_profile profile);

/**
 * uiommu_papr_get_profile() - The profile of a guest's hypercalls.
 * @guest: guest.
 *
 * Return: the profile (UIOMMU_PAPR_PROFILE_QEMU if never set).
 */
enum uiommu_papr_profile uiommu_papr_get_profile(struct uiommu_guest *guest);

/**
 * uiommu_liobn_create() - Create a guest TCE table (a LIOBN).
 * @guest: guest.
 * @liobn: the LIOBN (any 64-bit value; QEMU-profile hypercalls only find
 *	LIOBNs below 2^32).
 * @page_shift: IOMMU page size, log2 of bytes, 12 to 34.
 * @offset: first entry, in IOMMU pages: the window starts at bus address
 *	@offset << @page_shift.
 * @size: number of entries, 1 to UIOMMU_LIOBN_MAX_ENTRIES.
 *
 * As KVM_CREATE_SPAPR_TCE_64 (Linux kvm_vm_ioctl_create_spapr_tce): all
 * entries start at 0 and no guest-view page is allocated yet. Charges one
 * UIOMMU_RES_LIOBNS and kvmppc_stt_pages(@size) host pages of
 * UIOMMU_RES_LOCKED_BYTES: ceil(8 * @size / P) pages of TCEs plus the
 * pages holding the table header and its page array, P being the host page
 * size (uiommu_ctx_host_page_shift()). Deliberate differences from KVM:
 * @offset + @size is checked for wrapping, and @size is bounded.
 *
 * Context: takes the guest's PAPR lock; allocates; may sleep.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL @size is 0, @page_shift is outside 12..34, or the window's end
 *   (@offset + @size) << @page_shift passes 2^64 (KVM's overflow check);
 * * -E2BIG @size is above UIOMMU_LIOBN_MAX_ENTRIES;
 * * -EBUSY the guest already has @liobn;
 * * -ENOSPC the UIOMMU_RES_LIOBNS limit;
 * * -ENOMEM the UIOMMU_RES_LOCKED_BYTES limit, or out of memory.
 */
int uiommu_liobn_create(struct uiommu_guest *guest, uint64_t liobn, unsigned int page_shift,
			uint64_t offset, uint64_t size);

/**
 * uiommu_liobn_create_legacy() - Create a LIOBN the KVM_CREATE_SPAPR_TCE way.
 * @guest: guest.
 * @liobn: the LIOBN.
 * @window_size: bytes; the window has @window_size >> 12 entries of 4 KiB
 *	(a partial last page is dropped, as KVM does).
 *
 * uiommu_liobn_create(@guest, @liobn, 12, 0, @window_size >> 12).
 *
 * Context: as uiommu_liobn_create().
 *
 * Return: as uiommu_liobn_create(); -EINVAL when @window_size is below 4096.
 */
int uiommu_liobn_create_legacy(struct uiommu_guest *guest, uint64_t liobn, uint32_t window_size);

/**
 * uiommu_liobn_create_vio() - Create a VIO device's window as QEMU does.
 * @guest: guest.
 * @reg: the device's "reg" value, which is its LIOBN (spapr_vio.c).
 *
 * uiommu_liobn_create(@guest, @reg, 12, 0, UIOMMU_PAPR_VIO_DMA_WIN_SIZE >> 12):
 * 256 MiB at bus address 0 in 4 KiB pages (65536 entries), as
 * ibm,my-dma-window of a QEMU spapr-vscsi or spapr-vlan device.
 *
 * Context: as uiommu_liobn_create().
 *
 * Return: as uiommu_liobn_create().
 */
int uiommu_liobn_create_vio(struct uiommu_guest *guest, uint32_t reg);

/**
 * uiommu_liobn_destroy() - Destroy a LIOBN created by uiommu_liobn_create*().
 * @guest: guest.
 * @liobn: the LIOBN.
 *
 * The LIOBN disappears at once for new hypercalls; hypercalls already
 * running on it finish on the old table, whose memory is freed after an
 * RCU grace period (its guest-view frames are uncharged then). The
 * UIOMMU_RES_LIOBNS and UIOMMU_RES_LOCKED_BYTES charges are returned at
 * once, as KVM's release of the table fd.
 *
 * Context: takes the guest's PAPR lock; may sleep.
 *
 * Return: 0, or a negative errno:
 * * -ENOENT the guest has no @liobn;
 * * -EBUSY @liobn is a window of a PHB (use the RTAS calls or
 *   uiommu_papr_phb_remove()), or hardware tables are attached to it;
 * * -ENOMEM no memory for the smaller LIOBN array (nothing changed).
 */
int uiommu_liobn_destroy(struct uiommu_guest *guest, uint64_t liobn);

/**
 * uiommu_papr_pci_liobn() - The LIOBN QEMU gives a PHB's DMA window.
 * @phb_index: PHB index.
 * @window: window number, 0 (default window) or 1 (DDW).
 *
 * SPAPR_PCI_LIOBN(): 0x80000000 | @phb_index << 8 | @window (64-bit
 * arithmetic: an index of 2^23 or more gives a LIOBN >= 2^32).
 *
 * Return: the LIOBN.
 */
uint64_t uiommu_papr_pci_liobn(uint32_t phb_index, uint32_t window);

/**
 * uiommu_papr_vio_liobn() - The LIOBN QEMU gives a VIO device.
 * @reg: the device's "reg" property (0x71000000 + n for QEMU's devices).
 *
 * Return: @reg, which QEMU uses as the LIOBN.
 */
uint64_t uiommu_papr_vio_liobn(uint32_t reg);

/**
 * uiommu_liobn_get_tce() - Read a guest-view TCE (library call).
 * @guest: guest.
 * @liobn: the LIOBN (exact 64-bit match, whatever the profile).
 * @ioba: absolute bus address (the window's bus offset included); the
 *	offset inside the IOMMU page is ignored.
 * @ret_tce: on success, the TCE as the guest wrote it (0 if never written
 *	or in an absent page).
 *
 * Context: lock-free (RCU); does not allocate.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL @ret_tce is NULL;
 * * -ENOENT unknown @liobn;
 * * -ERANGE @ioba is outside the window.
 */
int uiommu_liobn_get_tce(struct uiommu_guest *guest, uint64_t liobn, uint64_t ioba,
			 uint64_t *ret_tce);

/**
 * uiommu_liobn_get_tces() - Read a range of guest-view TCEs (library call).
 * @guest: guest.
 * @liobn: the LIOBN (exact 64-bit match, whatever the profile).
 * @ioba: absolute bus address of the first entry (the window's bus offset
 *	included); the offset inside the IOMMU page is ignored.
 * @npages: number of entries, not 0.
 * @ret_tces: on success, @npages TCEs, one per IOMMU page from @ioba's, each
 *	as uiommu_liobn_get_tce() returns it.
 *
 * uiommu_liobn_get_tce() of each entry of the range, with one LIOBN lookup
 * and one RCU read-side section: for saving a window's table (QEMU
 * migrates the whole of it), dumps and checkers. Entries written while it
 * runs are each read before or after the write; the range is not a
 * snapshot as a whole.
 *
 * Context: lock-free (RCU); does not allocate.
 *
 * Return: 0, or a negative errno (then nothing is written):
 * * -EINVAL @ret_tces is NULL or @npages is 0;
 * * -ENOENT unknown @liobn;
 * * -ERANGE the range does not lie inside the window.
 */
int uiommu_liobn_get_tces(struct uiommu_guest *guest, uint64_t liobn, uint64_t ioba,
			  uint64_t npages, uint64_t *ret_tces);

/**
 * uiommu_liobn_translate() - Translate a bus address as a device's DMA would.
 * @guest: guest.
 * @liobn: the LIOBN (exact 64-bit match).
 * @ioba: absolute bus address (the window's bus offset included; QEMU's
 *	spapr_tce_translate_iommu() is given it relative to that offset).
 * @ret_gpa: on success, the guest physical address of that byte:
 *	(TCE & ~(IOMMU page size - 1)) | (@ioba & (IOMMU page size - 1)).
 * @ret_prot: on success, UIOMMU_PROT_* of the entry (its TCE's R/W bits);
 *	UIOMMU_PROT_NONE for an empty entry, which still returns 0.
 *
 * Context: lock-free (RCU); does not allocate.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL @ret_gpa or @ret_prot is NULL;
 * * -ENOENT unknown @liobn;
 * * -ERANGE @ioba is outside the window.
 */
int uiommu_liobn_translate(struct uiommu_guest *guest, uint64_t liobn, uint64_t ioba,
			   uint64_t *ret_gpa, unsigned int *ret_prot);

/**
 * uiommu_liobn_info() - Window geometry of a LIOBN.
 * @guest: guest.
 * @liobn: the LIOBN (exact 64-bit match).
 * @ret_bus_offset: on success, the window's first bus address in bytes
 *	(offset << page_shift); may be NULL.
 * @ret_page_shift: on success, log2 of the IOMMU page size; may be NULL.
 * @ret_size: on success, the number of entries; may be NULL.
 *
 * Context: lock-free (RCU).
 *
 * Return: 0, or -ENOENT for an unknown @liobn.
 */
int uiommu_liobn_info(struct uiommu_guest *guest, uint64_t liobn, uint64_t *ret_bus_offset,
		      unsigned int *ret_page_shift, uint64_t *ret_size);

/**
 * uiommu_h_put_tce() - H_PUT_TCE: set one TCE.
 * @guest: guest.
 * @liobn: the window.
 * @ioba: bus address of the entry (absolute).
 * @tce: the new TCE: gpa | UIOMMU_TCE_PCI_WRITE | UIOMMU_TCE_PCI_READ, or a
 *	TCE without R/W (an unmap; other bits are kept, "poison").
 *
 * As QEMU h_put_tce / KVM kvmppc_h_put_tce, per the guest's profile:
 * QEMU masks @ioba to its IOMMU page and stores any @tce; KVM wants @ioba
 * aligned and, for a TCE with R or W, a gpa aligned to the IOMMU page and
 * inside guest memory. A zero @tce never allocates a guest-view page.
 *
 * Context: any thread, concurrently with everything (see the top of this
 * header); lock-free unless a guest-view page must be allocated.
 *
 * Return: a PAPR code:
 * * UIOMMU_H_SUCCESS the entry holds @tce;
 * * UIOMMU_H_PARAMETER qemu: unknown @liobn or @liobn >= 2^32, or @ioba
 *   outside the window; kvm: @ioba misaligned or outside the window;
 * * UIOMMU_H_TOO_HARD kvm only: unknown @liobn, or a TCE with R/W whose gpa
 *   is misaligned or outside guest memory (the VMM must handle it);
 * * UIOMMU_H_HARDWARE the guest-view page could not be allocated
 *   (UIOMMU_RES_FRAME_BYTES limit or out of memory; KVM drops the write
 *   silently there, QEMU allocates every table whole); nothing changed.
 */
long uiommu_h_put_tce(struct uiommu_guest *guest, uint64_t liobn, uint64_t ioba, uint64_t tce);

/**
 * uiommu_h_get_tce() - H_GET_TCE: read one TCE.
 * @guest: guest.
 * @liobn: the window.
 * @ioba: bus address of the entry (absolute).
 * @ret_tce: on H_SUCCESS, the TCE as written (0 if never written); not
 *	touched otherwise.
 *
 * As QEMU h_get_tce / KVM kvmppc_h_get_tce (the QEMU profile masks @ioba,
 * the KVM one wants it aligned).
 *
 * Context: lock-free; never allocates.
 *
 * Return: a PAPR code:
 * * UIOMMU_H_SUCCESS *@ret_tce holds the entry;
 * * UIOMMU_H_PARAMETER qemu: unknown @liobn or @liobn >= 2^32, or @ioba
 *   outside the window; kvm: @ioba misaligned or outside the window; both:
 *   a NULL @ret_tce;
 * * UIOMMU_H_TOO_HARD kvm only: unknown @liobn.
 */
long uiommu_h_get_tce(struct uiommu_guest *guest, uint64_t liobn, uint64_t ioba,
		      uint64_t *ret_tce);

/**
 * uiommu_h_put_tce_indirect() - H_PUT_TCE_INDIRECT: set up to 512 TCEs from a list.
 * @guest: guest.
 * @liobn: the window.
 * @ioba: bus address of the first entry (absolute).
 * @tce_list_gpa: guest physical address of the list, 4 KiB aligned; the
 *	TCEs are 8-byte big-endian values, read as the guest wrote them.
 * @npages: number of TCEs, at most UIOMMU_PAPR_MAX_INDIRECT_NPAGES.
 *
 * Entry i gets list[i] at @ioba + i IOMMU pages.
 * QEMU profile (h_put_tce_indirect): @ioba is masked; entries are written
 * in order and the call stops at the first entry outside the window,
 * leaving the earlier ones written; a list entry outside guest memory
 * reads as 0 (ldq_be_phys of unassigned memory); @npages 0 is
 * H_PARAMETER.
 * KVM profile (kvmppc_h_put_tce_indirect): the range and every TCE are
 * checked before anything is written. [QUIRK, copied] Writing then checks,
 * for every TCE including those without R/W, that its page is guest memory
 * (kvmppc_tce_to_ua()); an R/W-less TCE outside guest memory therefore
 * fails with H_PARAMETER there, after the entries before it were written.
 * @npages 0 is H_SUCCESS.
 *
 * Context: as uiommu_h_put_tce().
 *
 * Return: a PAPR code:
 * * UIOMMU_H_SUCCESS all @npages entries written;
 * * UIOMMU_H_PARAMETER @npages > 512 or a misaligned list (nothing
 *   written); qemu: unknown @liobn or @liobn >= 2^32, @npages 0, or an
 *   entry outside the window (the entries before it are written); kvm:
 *   @ioba misaligned or the range outside the window (nothing written),
 *   or the quirk above;
 * * UIOMMU_H_TOO_HARD kvm only: unknown @liobn, the list outside guest
 *   memory, or a TCE with R/W whose gpa is misaligned or outside guest
 *   memory (nothing written);
 * * UIOMMU_H_HARDWARE a guest-view page could not be allocated; nothing
 *   written.
 */
long uiommu_h_put_tce_indirect(struct uiommu_guest *guest, uint64_t liobn, uint64_t ioba,
			       uint64_t tce_list_gpa, uint64_t npages);

/**
 * uiommu_h_stuff_tce() - H_STUFF_TCE: set @npages consecutive TCEs to one value.
 * @guest: guest.
 * @liobn: the window.
 * @ioba: bus address of the first entry (absolute).
 * @tce_value: the value, usually 0 (unmap).
 * @npages: number of entries.
 *
 * QEMU profile (h_stuff_tce): @npages above the window's size is refused
 * first; @ioba is masked; entries are written in order and the call stops
 * at the first one outside the window, keeping the earlier ones; any
 * @tce_value is stored, R/W bits included; @npages 0 is H_PARAMETER.
 * KVM profile (kvmppc_h_stuff_tce): the whole range is checked first; a
 * @tce_value with R or W is refused ("stuff" only clears or poisons);
 * @npages 0 is H_SUCCESS. Zero values never allocate guest-view pages;
 * absent pages are skipped.
 *
 * Context: as uiommu_h_put_tce().
 *
 * Return: a PAPR code:
 * * UIOMMU_H_SUCCESS all @npages entries hold @tce_value;
 * * UIOMMU_H_PARAMETER qemu: unknown @liobn or @liobn >= 2^32, @npages 0
 *   or above the window's size (nothing written), or an entry outside the
 *   window (the earlier ones written); kvm: @ioba misaligned, the range
 *   outside the window, or @tce_value with R/W (nothing written);
 * * UIOMMU_H_TOO_HARD kvm only: unknown @liobn;
 * * UIOMMU_H_HARDWARE a guest-view page could not be allocated for a
 *   non-zero @tce_value; nothing written.
 */
long uiommu_h_stuff_tce(struct uiommu_guest *guest, uint64_t liobn, uint64_t ioba,
			uint64_t tce_value, uint64_t npages);

/**
 * uiommu_papr_hcall() - Run a TCE hypercall as a VMM's hcall exit hands it over.
 * @guest: guest.
 * @opcode: the hcall number (the guest's r3).
 * @args: the argument registers r4, r5, ...: H_PUT_TCE (liobn, ioba, tce),
 *	H_GET_TCE (liobn, ioba), H_PUT_TCE_INDIRECT (liobn, ioba, tce_list,
 *	npages), H_STUFF_TCE (liobn, ioba, tce_value, npages).
 * @nargs: number of @args; at least the hcall's count.
 * @rets: the output registers r4, ...; H_GET_TCE writes the TCE to
 *	@rets[0] on H_SUCCESS; nothing else is written.
 * @nrets: number of @rets; at least 1 for H_GET_TCE.
 *
 * Dispatches to uiommu_h_put_tce() and the others, so that a VMM can wire
 * it straight to its hcall exit: the return value goes to the guest's r3,
 * except H_TOO_HARD (KVM profile), which the VMM handles itself.
 *
 * Context: as the hypercall run.
 *
 * Return: the hypercall's PAPR code; UIOMMU_H_FUNCTION for an opcode that
 * is not a TCE hypercall; UIOMMU_H_PARAMETER if @args (or, for H_GET_TCE,
 * @rets) is NULL or shorter than the hypercall needs.
 */
long uiommu_papr_hcall(struct uiommu_guest *guest, uint64_t opcode, const uint64_t *args,
		       unsigned int nargs, uint64_t *rets, unsigned int nrets);

/**
 * struct uiommu_papr_phb_config - a PCI host bridge, as QEMU's spapr-pci-host-bridge.
 * @size: sizeof(struct uiommu_papr_phb_config), for extensibility: smaller
 *	than the first version is -EINVAL; larger is accepted only if the bytes
 *	this library does not know are zero (else -E2BIG).
 * @index: PHB index, below 2^23; its windows are LIOBNs
 *	uiommu_papr_pci_liobn(@index, 0) and (@index, 1).
 * @buid: bus unit id the RTAS calls name the PHB by (QEMU:
 *	UIOMMU_PAPR_PCI_BUID_BASE + @index); unique per guest.
 * @dma_win_addr: default 32-bit window bus address, 4 KiB aligned (QEMU: 0).
 * @dma_win_size: its size in bytes, a non-zero multiple of 4 KiB (QEMU:
 *	UIOMMU_PAPR_PCI_DMA_WIN_SIZE); 4 KiB TCEs.
 * @dma64_win_addr: where a second window goes (QEMU: 1 << 59).
 * @page_size_mask: IOMMU page sizes a DDW may use, bit n = 1 << n bytes,
 *	only bits 12..34 (QEMU: UIOMMU_PAPR_DEFAULT_PAGE_SIZE_MASK); both
 *	window addresses must be aligned to its largest page.
 * @ddw_enabled: 1 to accept the DDW RTAS calls for this PHB, or 0.
 * @flags: must be 0.
 */
struct uiommu_papr_phb_config {
	uint32_t size;
	uint32_t index;
	uint64_t buid;
	uint64_t dma_win_addr;
	uint64_t dma_win_size;
	uint64_t dma64_win_addr;
	uint64_t page_size_mask;
	uint32_t ddw_enabled;
	uint32_t flags;
};

/**
 * uiommu_papr_phb_config_default() - QEMU's defaults for PHB @index.
 * @cfg: filled in: @size, @index, buid UIOMMU_PAPR_PCI_BUID_BASE + @index,
 *	a 1 GiB default window at bus address 0, the 64-bit window at 1 << 59,
 *	page sizes 4K|64K|2M|16M, DDW enabled, flags 0.
 * @index: PHB index.
 */
void uiommu_papr_phb_config_default(struct uiommu_papr_phb_config *cfg, uint32_t index);

/* Most PHBs per guest (QEMU allows 31). */
#define UIOMMU_PAPR_MAX_PHBS		256

/**
 * uiommu_papr_phb_add() - Add a PHB and create its default window.
 * @guest: guest.
 * @cfg: its configuration (copied).
 *
 * As QEMU's PHB reset (spapr_phb_dma_reset()): LIOBN
 * uiommu_papr_pci_liobn(index, 0) is created with 4 KiB pages at
 * @cfg->dma_win_addr for @cfg->dma_win_size bytes, charged as
 * uiommu_liobn_create().
 *
 * Context: takes the guest's PAPR lock; allocates.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @cfg, a @cfg->size too small, non-zero flags, ddw_enabled
 *   not 0 or 1, an index of 2^23 or more, a window address or size that is
 *   misaligned, zero or wraps, a page size outside 12..34;
 * * -E2BIG @cfg->size is larger than this library knows with a non-zero
 *   tail, or the default window has more than UIOMMU_LIOBN_MAX_ENTRIES;
 * * -EEXIST a PHB with this index or buid exists;
 * * -ENOSPC UIOMMU_PAPR_MAX_PHBS PHBs exist, or the UIOMMU_RES_LIOBNS limit;
 * * -EBUSY the default window's LIOBN exists already (not as a PHB window);
 * * -ENOMEM the UIOMMU_RES_LOCKED_BYTES limit, or out of memory.
 */
int uiommu_papr_phb_add(struct uiommu_guest *guest, const struct uiommu_papr_phb_config *cfg);

/**
 * uiommu_papr_phb_remove() - Remove a PHB and destroy its windows.
 * @guest: guest.
 * @buid: the PHB's bus unit id.
 *
 * Context: takes the guest's PAPR lock.
 *
 * Return: 0, or a negative errno:
 * * -ENOENT unknown @buid;
 * * -EBUSY hardware tables are attached to one of its windows;
 * * -ENOMEM no memory for the smaller LIOBN array.
 * On an error the PHB stays, possibly with fewer windows.
 */
int uiommu_papr_phb_remove(struct uiommu_guest *guest, uint64_t buid);

/**
 * uiommu_papr_rtas() - Run a DDW RTAS call as the guest makes it.
 * @guest: guest.
 * @token: the RTAS token (UIOMMU_RTAS_*_PE_DMA_WINDOW).
 * @nargs: number of input cells.
 * @args: the input cells (32-bit, already in host byte order).
 * @nret: number of output cells.
 * @rets: the output cells; @rets[0] is the status.
 *
 * As QEMU hw/ppc/spapr_rtas_ddw.c; cells, with buid = buid_hi << 32 | buid_lo:
 * * ibm,query-pe-dma-window: args (config_addr, buid_hi, buid_lo); nret 5:
 *   rets (status, windows available, largest block in TCEs = 0x80000000,
 *   page size mask, migration mask = 0); nret 6 (64-bit extension): rets
 *   (status, windows available, largest block hi = 0x20, lo = 0 (2^37
 *   TCEs), page size mask, migration mask). The mask uses the
 *   UIOMMU_RTAS_DDW_PGSIZE_* bits. The config address is not checked.
 * * ibm,create-pe-dma-window: args (config_addr, buid_hi, buid_lo,
 *   page_shift, window_shift); nret 4: rets (status, liobn, bus start hi,
 *   bus start lo). The first window of a PHB with none goes at
 *   dma_win_addr, any other at dma64_win_addr; the LIOBN is the PHB's
 *   lowest free window number.
 * * ibm,remove-pe-dma-window: args (liobn); nret 1. When it removes the
 *   PHB's last window and that was not the default window, the default
 *   window is restored (LoPAPR). As QEMU (its def_win flag), "the default
 *   window" is window 0 of the PHB, LIOBN uiommu_papr_pci_liobn(index, 0),
 *   whatever made it: a DDW created there after the default window was
 *   removed counts as the default one.
 * * ibm,reset-pe-dma-window: args (config_addr, buid_hi, buid_lo); nret 1:
 *   remove every window and restore the default one.
 * On an error only @rets[0] is written.
 *
 * Limits: a window has at most 2^31 entries (QEMU's nb_table is 32 bits
 * wide, so a larger one comes out empty there and fails); it is a LIOBN,
 * charged as uiommu_liobn_create(), so the context's limits bound what a
 * guest can make the host allocate; a charge that fails is RTAS_HW_ERROR.
 *
 * Context: takes the guest's PAPR lock; allocates; may sleep. Not inside
 * an RCU read-side section.
 *
 * Return: the RTAS status, also written to @rets[0] when @nret >= 1:
 * * UIOMMU_RTAS_SUCCESS done;
 * * UIOMMU_RTAS_PARAM_ERROR unknown token (as QEMU), wrong @nargs or
 *   @nret, NULL @args or @rets with a non-zero count, unknown buid or PHB
 *   without DDW, create: a page_shift not in the PHB's mask or a
 *   window_shift below it; remove: a LIOBN that is not an active window of
 *   a PHB with DDW;
 * * UIOMMU_RTAS_HW_ERROR create: no free window (2 active), a window of
 *   more than 2^31 entries or past 2^64, or a limit refused the table;
 *   remove/reset: the default window could not be restored (limits), or
 *   memory ran out while the windows were being changed.
 */
int uiommu_papr_rtas(struct uiommu_guest *guest, uint32_t token, uint32_t nargs,
		     const uint32_t *args, uint32_t nret, uint32_t *rets);

#ifdef __cplusplus
}
#endif

#endif /* UIOMMU_PAPR_H */
