/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uiommu/pe.h - host PHBs, partitionable endpoints (PEs), IOMMU table
 * groups and compound groups: the host side of the POWER I/O stack that
 * sits between TCE tables (tce.h) and their users (VFIO-style containers,
 * the accelerated hypercalls, emulated devices, mirrors).
 *
 * Concepts:
 * - A host PHB (PCI host bridge, IODA2-like, as Linux powernv's pnv_phb)
 *   has up to num_pes PEs. A PE is the unit of DMA isolation: the devices
 *   behind it (device.h) translate their DMA through the PE's TCE
 *   validation entries (TVEs) and freeze together on an error (EEH).
 * - Every PE is an IOMMU table group (struct uiommu_table_group, Linux
 *   struct iommu_table_group): capabilities (the default 32-bit window,
 *   page sizes, windows, levels), the tables of its windows (tables[]) and
 *   an ops table (struct uiommu_table_group_ops: get_table_size,
 *   create_table, set_window, unset_window, take_ownership,
 *   release_ownership, and the EEH operations of VFIO_EEH_PE_OP). Every
 *   user reaches a group only through its ops (the uiommu_table_group_*()
 *   calls); the struct and the ops are public so that a user can implement
 *   a table group of their own, as each Linux platform does, and drive it
 *   with the same calls.
 * - A window is a TVE pointing a range of the PE's bus addresses at a TCE
 *   table. An IODA2 PE has two TVEs, selected by bus address bit 59:
 *   window 0 (below 1 << 59, the 32-bit window at tce32_start) and window 1
 *   (from UIOMMU_PE_BUS_OFFSET_64 = 1 << 59, the DDW window), as Linux
 *   pci-ioda.c (TVE index (pe_number << 1) + num). A PE of an NVLink bridge
 *   PHB (UIOMMU_PHB_NPU, Linux npu-dma.c) has a single TVE: setting one
 *   window silently drops the other.
 * - Tables are shared by reference (uiommu_tce_table_ref()): one table may
 *   back the same window of several groups. Each PE whose window a table
 *   backs holds a reference and links its TCE-cache kill to the table
 *   (uiommu_tce_table_kill_link(), Linux it_group_list), so that every
 *   kill of the table (uiommu_tce_table_kill(), _clear(), _xchg()) reaches
 *   every PE that may cache its entries. The last reference frees it.
 * - Ownership (Linux iommu_take_ownership(), pnv_ioda2_take_ownership()):
 *   a PE starts owned by the host: window 0 holds the host's own default
 *   table (tce32_size bytes at tce32_start, host-page TCEs) and the 64-bit
 *   bypass maps all RAM 1:1 at UIOMMU_PE_BYPASS_BASE. take_ownership hands
 *   the PE to a user (a container): bypass off, window 0 unset (the host
 *   table is dropped); release_ownership requires the user's windows to be
 *   gone and restores the host configuration. Taking twice or releasing
 *   what was not taken is an error, not a silent no-op.
 * - A TCE cache per PE, as the PHB's: a device's translation may be served
 *   from it, so a TCE changed without a kill is still used, exactly as on
 *   hardware. A kill invalidates the range and, before it returns, waits
 *   for the PE's DMA transfers that could still be using an old entry: when
 *   a kill returns, no DMA can reach the pages the killed entries pointed
 *   at. In strict mode (UIOMMU_TCE_CACHE_STRICT) a DMA whose cached entry no
 *   longer matches the table is a fault (UIOMMU_DMA_FAULT_STALE_TCE): the
 *   missing invalidation that real hardware shows only as rare corruption.
 * - A compound group (Linux npu-dma.c struct npu_comp, removed in v5.13)
 *   fans one table group out to up to UIOMMU_COMPOUND_MAX_PES PEs: GPU PEs
 *   and the NVLink bridge PEs that link to them. It creates a table once
 *   (through its first member) and sets it on every member; a failed member
 *   op is rolled back on the members already changed and its first error
 *   is returned. A PE in a compound is reachable only through it.
 * - EEH: a PE with EEH enabled freezes on a DMA error (both MMIO and DMA
 *   stop) until it is unfrozen or reset, as POWER hardware does; the
 *   operations and state values are those of <linux/vfio.h>
 *   VFIO_EEH_PE_OP, so a container passes them through unchanged.
 *
 * Thread safety: every function may be called from any thread. The ops of
 * the library's PEs and compound groups serialize themselves (a mutex per
 * PE, one per compound group; compound before member); they may sleep and
 * must not be called inside an RCU read-side critical section. Reads of a
 * group's tables[] must be ordered with its ops by the caller (Linux reads
 * them under the container's lock). A PHB, PE or compound group must not be
 * freed while another thread uses it.
 */
#ifndef UIOMMU_PE_H
#define UIOMMU_PE_H

#include <stdint.h>
#include <stddef.h>

#include <uiommu/types.h>
#include <uiommu/ctx.h>
#include <uiommu/tce.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uiommu_phb;
struct uiommu_pe;
struct uiommu_compound;
struct uiommu_table_group;

/* Windows per table group (Linux IOMMU_TABLE_GROUP_MAX_TABLES). */
#define UIOMMU_TABLE_GROUP_MAX_TABLES	2
/* find_table's "the default 32-bit window" (the 2014 DDW series' TCE_DEFAULT_WINDOW). */
#define UIOMMU_TABLE_GROUP_DEFAULT_WINDOW	(~0ULL)
/* Bytes of a table group's name, with its NUL ("domain%u-pe%x", as Linux). */
#define UIOMMU_TABLE_GROUP_NAME_MAX	32

/* Where window 1 starts, and the bypass window (Linux tce64_start, tce_bypass_base). */
#define UIOMMU_PE_BUS_OFFSET_64		(1ULL << 59)
#define UIOMMU_PE_BYPASS_BASE		(1ULL << 59)

/* PEs per PHB: at most (PHB4), and by default (PHB3, Linux IODA2). */
#define UIOMMU_PHB_MAX_PES		512u
#define UIOMMU_PHB_DEFAULT_PES		256u
/* The default 32-bit window: 2 GiB at bus address 0 (powernv: m32_pci_base). */
#define UIOMMU_PHB_DEFAULT_TCE32_SIZE	(2ULL << 30)
/* Default page sizes, bit n = 1 << n bytes: 4K|64K|16M|256M (powernv on POWER8). */
#define UIOMMU_PHB_DEFAULT_PGSIZES	((1ULL << 12) | (1ULL << 16) | (1ULL << 24) | (1ULL << 28))
/* The host's default table has this many levels (Linux POWERNV_IOMMU_DEFAULT_LEVELS). */
#define UIOMMU_PE_DEFAULT_TABLE_LEVELS	UIOMMU_TCE_LEVELS_DEFAULT

/* Members of a compound group, at most (Linux NV_NPU_MAX_PE_NUM). */
#define UIOMMU_COMPOUND_MAX_PES		16u

/* TCE cache entries per PE: default, and at most (powers of two). */
#define UIOMMU_TCE_CACHE_DEFAULT_ENTRIES	256u
#define UIOMMU_TCE_CACHE_MAX_ENTRIES		65536u

/**
 * enum uiommu_tce_cache_mode - how a PE's TCE cache behaves.
 * @UIOMMU_TCE_CACHE_ON: translations are cached and used until a kill, as
 *	the PHB's cache: a TCE changed without a kill is still used.
 * @UIOMMU_TCE_CACHE_OFF: every DMA walks the table (no cache).
 * @UIOMMU_TCE_CACHE_STRICT: cached, and every DMA that hits the cache also
 *	reads the table; a mismatch is the fault UIOMMU_DMA_FAULT_STALE_TCE
 *	("stale TCE: changed ... without a kill"), and the stale entry is not
 *	used. A DMA racing with a batch between its exchanges and its kill is
 *	reported too: strict mode is for devices whose DMA is ordered with the
 *	mapping code (a test, a quiesced device).
 */
enum uiommu_tce_cache_mode {
	UIOMMU_TCE_CACHE_ON = 0,
	UIOMMU_TCE_CACHE_OFF = 1,
	UIOMMU_TCE_CACHE_STRICT = 2,
};

/*
 * EEH operations and PE states: the values of <linux/vfio.h>
 * VFIO_EEH_PE_* (a test compares them), so that a container passes a
 * VFIO_EEH_PE_OP's op and result through unchanged.
 */
#define UIOMMU_EEH_PE_DISABLE		0	/* errors no longer freeze the PE */
#define UIOMMU_EEH_PE_ENABLE		1	/* errors freeze the PE */
#define UIOMMU_EEH_PE_UNFREEZE_IO	2	/* re-enable MMIO of a frozen PE */
#define UIOMMU_EEH_PE_UNFREEZE_DMA	3	/* re-enable DMA of a frozen PE */
#define UIOMMU_EEH_PE_GET_STATE		4	/* returns a UIOMMU_EEH_PE_STATE_* */
#define UIOMMU_EEH_PE_RESET_DEACTIVATE	5	/* deassert reset; unfreezes */
#define UIOMMU_EEH_PE_RESET_HOT		6	/* assert a hot reset; freezes */
#define UIOMMU_EEH_PE_RESET_FUNDAMENTAL	7	/* assert a fundamental reset; freezes */
#define UIOMMU_EEH_PE_CONFIGURE		8	/* restore bridges after a reset (no-op) */
#define UIOMMU_EEH_PE_INJECT_ERR	9	/* inject an error (struct uiommu_eeh_pe_err) */

#define UIOMMU_EEH_PE_STATE_NORMAL	0	/* MMIO and DMA enabled */
#define UIOMMU_EEH_PE_STATE_RESET	1	/* reset asserted */
#define UIOMMU_EEH_PE_STATE_STOPPED	2	/* MMIO and DMA stopped (frozen) */
#define UIOMMU_EEH_PE_STATE_STOPPED_DMA	4	/* DMA stopped, MMIO enabled */
#define UIOMMU_EEH_PE_STATE_UNAVAIL	5	/* MMIO stopped, DMA enabled */

/* Error injection (Linux asm/eeh.h EEH_ERR_TYPE_*, EEH_ERR_FUNC_*). */
#define UIOMMU_EEH_ERR_TYPE_32		0
#define UIOMMU_EEH_ERR_TYPE_64		1
#define UIOMMU_EEH_ERR_FUNC_MIN		0	/* 0..11: loads and stores (MMIO, config) */
#define UIOMMU_EEH_ERR_FUNC_DMA_RD_ADDR	12	/* 12..15: DMA reads (device reads memory) */
#define UIOMMU_EEH_ERR_FUNC_DMA_RD_TARGET 15
#define UIOMMU_EEH_ERR_FUNC_DMA_WR_ADDR	16	/* 16..19: DMA writes (device writes memory) */
#define UIOMMU_EEH_ERR_FUNC_MAX		19

/**
 * struct uiommu_eeh_pe_err - an error to inject (<linux/vfio.h> struct
 * vfio_eeh_pe_err).
 * @type: UIOMMU_EEH_ERR_TYPE_32 or UIOMMU_EEH_ERR_TYPE_64.
 * @func: UIOMMU_EEH_ERR_FUNC_MIN..UIOMMU_EEH_ERR_FUNC_MAX. A DMA function
 *	(12..19) arms the PE: the next DMA of that direction whose bus
 *	address matches (@addr & @mask) fails (UIOMMU_DMA_FAULT_INJECTED), as
 *	OPAL's PHB error injection makes it; a new injection replaces an
 *	armed one. Any other function (a load or store, which uiommu does not
 *	model by address) is an error at once. Like every error, it freezes
 *	the PE when EEH is enabled on it.
 * @addr: bus address to match (DMA functions).
 * @mask: bits of @addr that must match; 0 matches every DMA.
 */
struct uiommu_eeh_pe_err {
	uint32_t type;
	uint32_t func;
	uint64_t addr;
	uint64_t mask;
};

/**
 * struct uiommu_table_group_ops - what a table group does (Linux struct
 * iommu_table_group_ops).
 * @get_table_size: bytes a table of this geometry would take in this
 *	group, for charging before create_table (Linux returns it without a
 *	group; ours takes the group, whose context sets the host page size);
 *	0 for a geometry the group cannot create.
 * @create_table: create a table for window @num with the bus offset the
 *	platform chooses (window 0 at tce32_start, window 1 at
 *	UIOMMU_PE_BUS_OFFSET_64, as powernv) and return it with one
 *	reference; it is not set on any window.
 * @set_window: point window @num at @tbl; the group takes its own
 *	reference(s) and stores @tbl in tables[@num].
 * @unset_window: undo set_window: tables[@num] becomes NULL and the
 *	group's reference(s) go; on return no DMA of the group uses the table.
 * @take_ownership: hand the group from the host to a user (Linux
 *	take_ownership; here it returns an error rather than void).
 * @release_ownership: give the group back to the host.
 * @eeh_pe_op: one VFIO_EEH_PE_OP operation (UIOMMU_EEH_PE_*); @err only
 *	for UIOMMU_EEH_PE_INJECT_ERR. Returns the state for
 *	UIOMMU_EEH_PE_GET_STATE, else 0. NULL: the group has no EEH.
 *
 * Every op returns 0 (or a non-negative result) or a negative errno, may
 * sleep and allocate, and is called with the group's serialization (see
 * the file comment). An op that fails must leave the group as it was: the
 * compound group's rollback relies on it. A NULL op makes the matching
 * uiommu_table_group_*() call fail with -EPERM (-ENODEV for @eeh_pe_op),
 * as VFIO refuses a group that lacks one.
 */
struct uiommu_table_group_ops {
	uint64_t (*get_table_size)(struct uiommu_table_group *grp, unsigned int page_shift,
				   uint64_t window_size, unsigned int levels);
	int (*create_table)(struct uiommu_table_group *grp, int num, unsigned int page_shift,
			    uint64_t window_size, unsigned int levels,
			    struct uiommu_tce_table **ret_tbl);
	int (*set_window)(struct uiommu_table_group *grp, int num, struct uiommu_tce_table *tbl);
	int (*unset_window)(struct uiommu_table_group *grp, int num);
	int (*take_ownership)(struct uiommu_table_group *grp);
	int (*release_ownership)(struct uiommu_table_group *grp);
	int (*eeh_pe_op)(struct uiommu_table_group *grp, unsigned int op,
			 const struct uiommu_eeh_pe_err *err);
};

/**
 * struct uiommu_table_group - an IOMMU table group (Linux struct
 * iommu_table_group), embedded in the object that implements it.
 * @ops: what the group does; the identity of create_table is the group's
 *	compatibility class (VFIO attaches only groups whose create_table is
 *	the same to one container).
 * @ctx: context of the group and of its tables.
 * @tce32_start: bus address of the default 32-bit window (powernv: 0).
 * @tce32_size: bytes of the default 32-bit window; 0 if there is none.
 * @pgsizes: IOMMU page sizes the group's windows may use, bit n = 1 << n
 *	bytes (Linux pgsizes).
 * @max_dynamic_windows_supported: windows a user may create (Linux; 2 on
 *	powernv, also on single-TVE NPU PEs); 0 means no DDW.
 * @max_levels: most TCE table levels a window may have (powernv: 5).
 * @domain: PCI domain of the group's PHB (Linux hose->global_number).
 * @pe_number: PE number that names the group.
 * @name: "domain%u-pe%x" of @domain and @pe_number, as Linux names IOMMU
 *	groups; NUL-terminated.
 * @tables: the table of each window, or NULL (Linux tables[]). Written only
 *	by the group's ops; read with them serialized (see the file comment).
 * @reserved: zero; room to grow without changing the size.
 *
 * Identity: a group is one IOMMU group. Two pointers to the same struct
 * are the same group (what VFIO_GROUP_SET_CONTAINER's "this group is
 * already attached" compares); @name is how messages name it.
 *
 * A user implementing a group of their own calls uiommu_table_group_init()
 * and then sets the capabilities; the library never writes the struct of a
 * group it does not implement.
 */
struct uiommu_table_group {
	const struct uiommu_table_group_ops *ops;
	struct uiommu_ctx *ctx;
	uint64_t tce32_start;
	uint64_t tce32_size;
	uint64_t pgsizes;
	uint32_t max_dynamic_windows_supported;
	uint32_t max_levels;
	uint32_t domain;
	uint32_t pe_number;
	char name[UIOMMU_TABLE_GROUP_NAME_MAX];
	struct uiommu_tce_table *tables[UIOMMU_TABLE_GROUP_MAX_TABLES];
	uint64_t reserved[4];
};

/**
 * uiommu_table_group_init() - Prepare a table group a user implements.
 * @grp: the group, embedded in the user's object.
 * @ctx: context of the group's tables.
 * @ops: its ops; must outlive the group (a static const table, usually).
 * @domain: PCI domain for its name.
 * @pe_number: PE number for its name.
 *
 * Zeroes @grp, then sets @ops, @ctx, @domain, @pe_number and @name; the
 * caller sets the capabilities afterwards. The library's PEs and compound
 * groups are initialised by the library.
 *
 * Context: any thread; does not allocate.
 *
 * Return: 0, or -EINVAL for a NULL @grp, @ctx or @ops.
 */
int uiommu_table_group_init(struct uiommu_table_group *grp, struct uiommu_ctx *ctx,
			    const struct uiommu_table_group_ops *ops, uint32_t domain,
			    uint32_t pe_number);

/**
 * uiommu_table_group_get_table_size() - Bytes a table would take.
 * @grp: group.
 * @page_shift: IOMMU page size, log2 of bytes.
 * @window_size: bytes, a power of two.
 * @levels: number of levels.
 *
 * The group's get_table_size op. For the library's PEs and compound groups
 * this is uiommu_tce_table_size() with the context's host page shift: what
 * create_table then charges to UIOMMU_RES_TABLE_BYTES, and what VFIO
 * charges to locked_vm.
 *
 * Context: any thread.
 *
 * Return: bytes, or 0 for an invalid geometry (for the library's groups,
 * also a page size not in pgsizes or more levels than max_levels), a NULL
 * @grp or a group without the op.
 */
uint64_t uiommu_table_group_get_table_size(struct uiommu_table_group *grp,
					   unsigned int page_shift, uint64_t window_size,
					   unsigned int levels);

/**
 * uiommu_table_group_create_table() - Create a table for a window.
 * @grp: group.
 * @num: window, 0..UIOMMU_TABLE_GROUP_MAX_TABLES - 1.
 * @page_shift: IOMMU page size, log2 of bytes; must be in @grp->pgsizes.
 * @window_size: bytes, a power of two, at least one IOMMU page.
 * @levels: 1..@grp->max_levels.
 * @ret_tbl: on success, the new table with one reference (the caller's);
 *	it is not set on any window.
 *
 * The group's create_table op; the platform picks the bus offset. The
 * library's PEs (Linux pnv_pci_ioda2_create_table_userspace()): window 0
 * at tce32_start, window 1 at UIOMMU_PE_BUS_OFFSET_64; the table is
 * uiommu_tce_table_new()'s, with its charges. A compound group delegates
 * to its first member (Linux pnv_npu_peers_create_table_userspace()), so
 * the table is created once and shared by every member.
 *
 * Context: may sleep; allocates.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @grp or @ret_tbl, @num out of range, @page_shift not in
 *   pgsizes, @levels above max_levels, or a geometry uiommu_tce_table_new()
 *   refuses (a valid one reaches fewer than 55 bits of bus address, so it
 *   always fits its TVE);
 * * -EPERM the group has no create_table op;
 * * -ENODEV a compound group with no member (Linux: -EFAULT);
 * * -EBUSY a PE that is a compound member (use the compound group);
 * * -ENOSPC, -ENOMEM as uiommu_tce_table_new().
 */
int uiommu_table_group_create_table(struct uiommu_table_group *grp, int num,
				    unsigned int page_shift, uint64_t window_size,
				    unsigned int levels, struct uiommu_tce_table **ret_tbl);

/**
 * uiommu_table_group_set_window() - Point a window at a table.
 * @grp: group.
 * @num: window, 0..UIOMMU_TABLE_GROUP_MAX_TABLES - 1.
 * @tbl: table of @grp's context; the caller keeps its own reference.
 *
 * The group's set_window op. A PE (Linux pnv_pci_ioda2_set_window()):
 * programs the TVE, takes a table reference, links its TCE-cache kill to
 * the table and flushes its TCE cache; tables[@num] = @tbl. A single-TVE
 * (NPU) PE first drops its other window, if set, silently, as Linux
 * pnv_npu_set_window(), but only once every check has passed (Linux drops
 * it even when the set then fails). A compound group sets every member in
 * order; if one fails, the members already changed are restored (their
 * window @num unset and, on single-TVE members, the dropped window set
 * again) and the first error is returned (Linux's rollback overwrote it,
 * so the set reported success); on success the compound holds its own
 * reference in its tables[@num], as Linux.
 *
 * Context: may sleep (the cache flush waits for DMA in flight).
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @grp or @tbl, @num out of range, a table of another
 *   context, a page size not in pgsizes, more levels than max_levels, or a
 *   table whose bus range does not fit the TVE of window @num (window 0
 *   below UIOMMU_PE_BUS_OFFSET_64, window 1 from it up to 2^60);
 * * -EPERM the group has no set_window op;
 * * -EBUSY the group is owned by the host (take ownership first), window
 *   @num is already set, or the PE is a compound member;
 * * -ENOSPC the table has UIOMMU_TCE_KILL_LINKS_MAX kill links already;
 * * -ENODEV a compound group with no member.
 */
int uiommu_table_group_set_window(struct uiommu_table_group *grp, int num,
				  struct uiommu_tce_table *tbl);

/**
 * uiommu_table_group_unset_window() - Detach a window from its table.
 * @grp: group.
 * @num: window, 0..UIOMMU_TABLE_GROUP_MAX_TABLES - 1.
 *
 * The group's unset_window op. A PE (Linux pnv_pci_ioda2_unset_window()):
 * clears the TVE, flushes its TCE cache, unlinks its kill, waits until no
 * DMA of its devices can still use the table, and drops its reference;
 * tables[@num] = NULL. A compound group unsets every member whose window
 * @num is set (a single-TVE member may have dropped it) and drops its own
 * reference; a member's unset of a set window cannot fail, so there is
 * nothing to roll back (Linux's can fail in OPAL and re-sets the members
 * already unset).
 *
 * Context: may sleep (waits for an RCU grace period).
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @grp, @num out of range;
 * * -EPERM the group has no unset_window op;
 * * -ENOENT window @num is not set;
 * * -EBUSY the group is owned by the host, or the PE is a compound member;
 * * -ENODEV a compound group with no member.
 */
int uiommu_table_group_unset_window(struct uiommu_table_group *grp, int num);

/**
 * uiommu_table_group_take_ownership() - Hand a group to a user.
 * @grp: group.
 *
 * The group's take_ownership op. A PE (Linux pnv_ioda2_take_ownership()):
 * disables the 64-bit bypass, unsets window 0 (the host's default table,
 * which is dropped), flushes the TCE cache; from then on the PE's devices
 * reach memory only through windows the user sets. A compound group takes
 * every member in order and, if one fails, gives back the members it took
 * (Linux's op is void: a member failure went unseen and the group could end
 * up partly owned).
 *
 * Context: may sleep.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @grp;
 * * -EPERM the group has no take_ownership op;
 * * -EBUSY the group is owned by a user already (double take), or the PE
 *   is a compound member;
 * * -ENODEV a compound group with no member.
 */
int uiommu_table_group_take_ownership(struct uiommu_table_group *grp);

/**
 * uiommu_table_group_release_ownership() - Give a group back to the host.
 * @grp: group.
 *
 * The group's release_ownership op. A PE (Linux
 * pnv_ioda2_release_ownership(), pnv_pci_ioda2_setup_default_config()):
 * creates the host's default table again (tce32_size bytes at tce32_start,
 * host-page TCEs, UIOMMU_PE_DEFAULT_TABLE_LEVELS levels), sets it on window
 * 0 and re-enables the bypass. The user must have unset its windows first
 * (Linux's VFIO always does). A compound group releases every member and,
 * if one fails, takes back the members it released.
 *
 * Context: may sleep; allocates.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @grp, or the group is not owned by a user (release
 *   without take);
 * * -EPERM the group has no release_ownership op;
 * * -EBUSY a window is still set, or the PE is a compound member;
 * * -ENODEV a compound group with no member;
 * * -ENOSPC, -ENOMEM the default table could not be created (its charges,
 *   as uiommu_tce_table_new()); the group stays owned by the user.
 */
int uiommu_table_group_release_ownership(struct uiommu_table_group *grp);

/**
 * uiommu_table_group_eeh_op() - One EEH operation (VFIO_EEH_PE_OP).
 * @grp: group.
 * @op: UIOMMU_EEH_PE_* (the values of <linux/vfio.h> VFIO_EEH_PE_*).
 * @err: the error for UIOMMU_EEH_PE_INJECT_ERR; ignored otherwise (may be
 *	NULL).
 *
 * The group's eeh_pe_op op. A PE, as Linux eeh.c behind
 * vfio_spapr_ioctl_eeh_pe_op():
 * * ENABLE: DMA errors freeze the PE from now on. DISABLE: they no longer
 *   do (Linux ignores DISABLE); a frozen PE stays frozen.
 * * UNFREEZE_IO / UNFREEZE_DMA: re-enable MMIO / DMA.
 * * GET_STATE: RESET if a reset is asserted, NORMAL if MMIO and DMA are
 *   enabled, STOPPED if both are stopped, STOPPED_DMA if only DMA is,
 *   UNAVAIL if only MMIO is (Linux eeh_pe_get_state()).
 * * RESET_HOT / RESET_FUNDAMENTAL: freeze the PE and assert reset; DMA and
 *   MMIO fail until RESET_DEACTIVATE, which deasserts it, drops an armed
 *   injection and unfreezes the PE (Linux eeh_pe_reset() and
 *   eeh_pe_reenable_devices()). The PE's windows are kept.
 * * CONFIGURE: nothing to do (Linux eeh_pe_configure()).
 * * INJECT_ERR: see struct uiommu_eeh_pe_err.
 * A compound group applies @op to every member (GET_STATE: the most severe
 * member state, RESET > STOPPED > UNAVAIL > STOPPED_DMA > NORMAL; INJECT_ERR:
 * every member), stopping at the first error (EEH operations change state
 * no rollback could restore: a reset cannot be undone).
 *
 * Context: may sleep.
 *
 * Return: the state for UIOMMU_EEH_PE_GET_STATE, otherwise 0; or a
 * negative errno:
 * * -EINVAL NULL @grp, an unknown @op, INJECT_ERR with a NULL @err, an
 *   unknown type or a function outside 0..19 (as Linux eeh_pe_inject_err());
 * * -ENODEV the group has no EEH (no eeh_pe_op), or a compound group with no
 *   member;
 * * -EBUSY the PE is a compound member.
 */
int uiommu_table_group_eeh_op(struct uiommu_table_group *grp, unsigned int op,
			      const struct uiommu_eeh_pe_err *err);

/**
 * uiommu_table_group_find_table() - Which table serves a bus address.
 * @grp: group.
 * @ioba: a bus address, or UIOMMU_TABLE_GROUP_DEFAULT_WINDOW for the
 *	default 32-bit window (the window whose table covers tce32_start).
 * @ret_num: optional; on success, the window number.
 * @ret_tbl: on success, the table, with a reference the caller drops
 *	(uiommu_tce_table_unref()).
 *
 * The question the 2014 DDW series' get_table() op answered, and VFIO's
 * tce_iommu_find_table() answers today: the first of @grp->tables[] whose
 * entries cover @ioba (it_offset <= @ioba >> page_shift < it_offset +
 * it_size). Works on any group (it reads only tables[]), so it must be
 * serialized with the group's ops like any read of tables[].
 *
 * Context: any thread; lock-free.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @grp or @ret_tbl;
 * * -ENOENT no window covers @ioba (or, for the default window,
 *   tce32_start).
 */
int uiommu_table_group_find_table(struct uiommu_table_group *grp, uint64_t ioba, int *ret_num,
				  struct uiommu_tce_table **ret_tbl);

/* PHB flags. */
/* An NVLink bridge PHB (Linux PNV_PHB_NPU_NVLINK): its PEs have one TVE. */
#define UIOMMU_PHB_NPU			(1u << 0)

/**
 * struct uiommu_phb_config - a host PHB.
 * @size: sizeof(struct uiommu_phb_config), for extensibility: smaller than
 *	the first version is -EINVAL; larger is accepted only if the bytes
 *	this library does not know are zero (else -E2BIG).
 * @flags: 0 or UIOMMU_PHB_NPU.
 * @domain: PCI domain number (Linux hose->global_number), below 65536;
 *	names the PHB's groups and devices.
 * @num_pes: PEs the PHB has, 1..UIOMMU_PHB_MAX_PES.
 * @tce32_start: bus address of every PE's default 32-bit window, aligned
 *	to its size (powernv: 0).
 * @tce32_size: its bytes: a power of two of at least 64 KiB, and
 *	@tce32_start + @tce32_size at most 4 GiB (powernv: m32_pci_base).
 * @pgsizes: IOMMU page sizes, bit n = 1 << n bytes, only bits 12..34, and
 *	including the host page size (the default table uses it).
 * @max_levels: most table levels, 1..UIOMMU_TCE_LEVELS_MAX, and at least
 *	UIOMMU_PE_DEFAULT_TABLE_LEVELS.
 * @tce_cache_entries: TCE cache entries per PE, a power of two up to
 *	UIOMMU_TCE_CACHE_MAX_ENTRIES (0 with UIOMMU_TCE_CACHE_OFF only).
 * @tce_cache_mode: enum uiommu_tce_cache_mode of new PEs.
 * @reserved: zero.
 */
struct uiommu_phb_config {
	uint32_t size;
	uint32_t flags;
	uint32_t domain;
	uint32_t num_pes;
	uint64_t tce32_start;
	uint64_t tce32_size;
	uint64_t pgsizes;
	uint32_t max_levels;
	uint32_t tce_cache_entries;
	uint32_t tce_cache_mode;
	uint32_t reserved;
};

/**
 * uiommu_phb_config_default() - A powernv IODA2 PHB's defaults.
 * @cfg: filled in: @size, flags 0, @domain, UIOMMU_PHB_DEFAULT_PES PEs, a
 *	UIOMMU_PHB_DEFAULT_TCE32_SIZE window at 0, UIOMMU_PHB_DEFAULT_PGSIZES,
 *	UIOMMU_TCE_LEVELS_MAX levels, UIOMMU_TCE_CACHE_DEFAULT_ENTRIES cache
 *	entries, UIOMMU_TCE_CACHE_ON.
 * @domain: PCI domain number.
 */
void uiommu_phb_config_default(struct uiommu_phb_config *cfg, uint32_t domain);

/**
 * uiommu_phb_new() - Create a host PHB.
 * @ctx: context.
 * @cfg: configuration (copied).
 * @ret_phb: on success, the PHB, with no PE.
 *
 * Its PEs are created one by one with uiommu_pe_new() (Linux allocates a
 * PE for each device or bus it finds).
 *
 * Context: allocates.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @ctx, @cfg or @ret_phb, a @cfg->size too small, unknown
 *   flags, a domain of 65536 or more, @num_pes 0 or too large, a 32-bit
 *   window misaligned, too small, not a power of two or past 4 GiB,
 *   page sizes outside 12..34 or without the host page size, levels
 *   outside their range, a cache size that is not a power of two or too
 *   large (or 0 with a mode that caches), an unknown cache mode;
 * * -E2BIG @cfg is larger than this library knows and its tail is not zero;
 * * -ENOSPC the UIOMMU_RES_PHBS limit;
 * * -ENOMEM out of memory.
 */
int uiommu_phb_new(struct uiommu_ctx *ctx, const struct uiommu_phb_config *cfg,
		   struct uiommu_phb **ret_phb);

/**
 * uiommu_phb_free() - Destroy a host PHB.
 * @phb: PHB, or NULL (nothing happens).
 *
 * Return: 0, or -EBUSY if it still has PEs (nothing is freed).
 */
int uiommu_phb_free(struct uiommu_phb *phb);

/**
 * uiommu_pe_new() - Create a PE, owned by the host.
 * @phb: its PHB.
 * @pe_number: 0..num_pes - 1, unique in the PHB.
 * @ret_pe: on success, the PE.
 *
 * The PE's table group is named "domain<d>-pe<n>" and has the PHB's
 * capabilities, max_dynamic_windows_supported 2. As Linux's
 * pnv_pci_ioda2_setup_dma_pe(), the host's configuration is installed:
 * window 0 holds a new default table (tce32_size bytes at tce32_start,
 * TCEs of the host page size, UIOMMU_PE_DEFAULT_TABLE_LEVELS levels, all
 * empty: the host maps its own DMA there through tables[0]) and the 64-bit
 * bypass maps bus address UIOMMU_PE_BYPASS_BASE + hpa to hpa for all RAM.
 * EEH is disabled; the TCE cache has the PHB's size and mode.
 *
 * Charges one UIOMMU_RES_TABLE_GROUPS, and the default table's charges
 * (uiommu_tce_table_new()).
 *
 * Context: takes the PHB's lock; allocates.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @phb or @ret_pe, @pe_number out of range;
 * * -EEXIST the PHB has a PE with this number;
 * * -ENOSPC the UIOMMU_RES_TABLE_GROUPS or UIOMMU_RES_WINDOWS limit;
 * * -ENOMEM the UIOMMU_RES_TABLE_BYTES or UIOMMU_RES_FRAME_BYTES limit, or
 *   out of memory.
 */
int uiommu_pe_new(struct uiommu_phb *phb, unsigned int pe_number, struct uiommu_pe **ret_pe);

/**
 * uiommu_pe_free() - Destroy a PE.
 * @pe: PE, or NULL (nothing happens).
 *
 * Drops the host's default table and uncharges. The PE must be owned by the
 * host, with no device and in no compound group.
 *
 * Context: takes the PHB's and the PE's locks; may sleep.
 *
 * Return: 0, or -EBUSY (nothing is freed) if devices are attached, the PE
 * is owned by a user, or it is a member of a compound group.
 */
int uiommu_pe_free(struct uiommu_pe *pe);

/**
 * uiommu_pe_table_group() - The table group of a PE.
 * @pe: PE.
 *
 * For a compound member, this is the PE's own group, whose ops refuse with
 * -EBUSY: use the compound's (uiommu_compound_table_group()).
 *
 * Return: the group, valid while @pe exists.
 */
struct uiommu_table_group *uiommu_pe_table_group(struct uiommu_pe *pe);

/* PE state flags (struct uiommu_pe_info). */
#define UIOMMU_PE_USER_OWNED		(1u << 0)	/* taken by a user */
#define UIOMMU_PE_BYPASS		(1u << 1)	/* the 64-bit bypass is on */
#define UIOMMU_PE_SINGLE_TVE		(1u << 2)	/* an NVLink bridge PE */
#define UIOMMU_PE_COMPOUND_MEMBER	(1u << 3)	/* in a compound group */
#define UIOMMU_PE_EEH_ENABLED		(1u << 4)	/* errors freeze the PE */

/**
 * struct uiommu_pe_info - what a PE is doing.
 * @size: in: sizeof(struct uiommu_pe_info) as the caller knows it; the
 *	library fills that many bytes at most (and zeroes a tail it does not
 *	know).
 * @flags: UIOMMU_PE_* state flags.
 * @domain: its PHB's PCI domain.
 * @pe_number: its number.
 * @eeh_state: UIOMMU_EEH_PE_STATE_*.
 * @tce_cache_mode: enum uiommu_tce_cache_mode.
 * @tce_cache_entries: entries of its TCE cache.
 * @ndevices: devices attached.
 * @window_tables: bitmap of the TVEs in use (bit n: window n has a table).
 * @reserved: zero.
 * @tce_cache_hits: DMA pages translated from the cache.
 * @tce_cache_misses: DMA pages that walked the table (cache on or strict).
 * @tce_cache_fills: translations stored in the cache.
 * @tce_cache_invalidations: cached entries a kill or flush removed.
 * @kills: kills (and flushes) the PE received.
 * @stale_tces: DMA pages strict mode refused for a stale cached entry.
 */
struct uiommu_pe_info {
	uint32_t size;
	uint32_t flags;
	uint32_t domain;
	uint32_t pe_number;
	uint32_t eeh_state;
	uint32_t tce_cache_mode;
	uint32_t tce_cache_entries;
	uint32_t ndevices;
	uint32_t window_tables;
	uint32_t reserved;
	uint64_t tce_cache_hits;
	uint64_t tce_cache_misses;
	uint64_t tce_cache_fills;
	uint64_t tce_cache_invalidations;
	uint64_t kills;
	uint64_t stale_tces;
};

/**
 * uiommu_pe_info() - Describe a PE.
 * @pe: PE.
 * @ret_info: on success, the description; its @size must be set by the
 *	caller.
 *
 * Context: takes the PE's lock; the counters are read one by one.
 *
 * Return: 0, or -EINVAL for a NULL @ret_info or a @ret_info->size below the
 * first version's.
 */
int uiommu_pe_info(const struct uiommu_pe *pe, struct uiommu_pe_info *ret_info);

/**
 * uiommu_pe_set_tce_cache_mode() - Switch a PE's TCE cache mode.
 * @pe: PE.
 * @mode: enum uiommu_tce_cache_mode.
 *
 * Flushes the cache (as a whole-PE kill) and then applies @mode to the DMA
 * that starts afterwards. For tests: strict mode around code under test.
 *
 * Context: may spin briefly (waits for DMA in flight, as a kill).
 *
 * Return: 0, or -EINVAL for an unknown @mode, or a caching mode on a PE
 * whose PHB has no cache entries.
 */
int uiommu_pe_set_tce_cache_mode(struct uiommu_pe *pe, unsigned int mode);

/**
 * uiommu_pe_tce_cache_flush() - Invalidate a PE's whole TCE cache.
 * @pe: PE.
 *
 * As Linux pnv_pci_ioda2_tce_invalidate_pe(). Like a kill, it waits for
 * the PE's DMA in flight: when it returns, no DMA uses an entry cached
 * before.
 *
 * Context: lock-free; may spin briefly; may run inside an RCU read-side
 * critical section.
 *
 * Return: 0.
 */
int uiommu_pe_tce_cache_flush(struct uiommu_pe *pe);

/**
 * uiommu_compound_new() - Create an empty compound group.
 * @ctx: context.
 * @ret_comp: on success, the compound group, with no member.
 *
 * Its table group takes its name, domain and PE number from its first
 * member (Linux registers the npu_comp under the first GPU PE's number).
 * Charges one UIOMMU_RES_TABLE_GROUPS.
 *
 * Context: allocates.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @ctx or @ret_comp;
 * * -ENOSPC the UIOMMU_RES_TABLE_GROUPS limit;
 * * -ENOMEM out of memory.
 */
int uiommu_compound_new(struct uiommu_ctx *ctx, struct uiommu_compound **ret_comp);

/**
 * uiommu_compound_attach() - Add a PE to a compound group.
 * @comp: compound group.
 * @pe: a PE of @comp's context, owned by the host, in no compound group.
 *
 * As Linux pnv_comp_attach_table_group(), with the capabilities derived as
 * npu-dma.c derives them: a GPU (IODA2) PE sets the window geometry
 * (tce32_start, tce32_size) when it is the first member, and must match it
 * otherwise (Linux: the last GPU wins); max_levels and
 * max_dynamic_windows_supported are the smallest of the members' (Linux:
 * the last GPU's); pgsizes is the first member's, intersected with every
 * later member's (Linux intersects only NPU members'). The first member
 * must be a GPU PE: an NVLink bridge joins the compound of its GPU.
 * From now on the PE's own group ops refuse with -EBUSY.
 *
 * Context: takes the compound's lock, then the PE's.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @comp or @pe, a PE of another context, an NPU PE as first
 *   member, a GPU PE whose 32-bit window differs from the compound's, or a
 *   PE with no page size in common with the compound;
 * * -ENOSPC UIOMMU_COMPOUND_MAX_PES members already (Linux warns and
 *   silently ignores the 17th);
 * * -EBUSY the compound is owned by a user, the PE is owned by a user, or
 *   it is a member of a compound group already.
 */
int uiommu_compound_attach(struct uiommu_compound *comp, struct uiommu_pe *pe);

/**
 * uiommu_compound_free() - Destroy a compound group.
 * @comp: compound group, or NULL (nothing happens).
 *
 * Its members become standalone PEs again (owned by the host, with their
 * own group ops).
 *
 * Context: takes the compound's lock and its members'.
 *
 * Return: 0, or -EBUSY (nothing is freed) if it is owned by a user.
 */
int uiommu_compound_free(struct uiommu_compound *comp);

/**
 * uiommu_compound_table_group() - The table group of a compound group.
 * @comp: compound group.
 *
 * Return: the group, valid while @comp exists.
 */
struct uiommu_table_group *uiommu_compound_table_group(struct uiommu_compound *comp);

/**
 * uiommu_compound_member() - A member of a compound group.
 * @comp: compound group.
 * @i: index, in the order of attachment.
 *
 * Context: the caller serializes with uiommu_compound_attach().
 *
 * Return: the @i-th member, or NULL if @i is not below the member count.
 */
struct uiommu_pe *uiommu_compound_member(struct uiommu_compound *comp, unsigned int i);

#ifdef __cplusplus
}
#endif

#endif /* UIOMMU_PE_H */
