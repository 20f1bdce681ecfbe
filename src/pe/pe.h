/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private state of host PHBs, PEs and compound groups (src/pe/). See
 * uiommu/pe.h and doc/design/pe.md.
 *
 * Locks: a PHB's lock guards its PE array and its device numbers; a PE's
 * lock serializes its ops (windows, ownership, EEH, compound membership);
 * a compound's lock serializes the compound's ops and is taken before its
 * members'. The DMA path takes none of them: it reads the TVEs (RCU), the
 * TCE cache (a seqcount per slot) and the EEH state (atomics) inside an RCU
 * read-side section and the PE's DMA gate.
 */
#ifndef UIOMMU_PE_PRIV_H
#define UIOMMU_PE_PRIV_H

#include "../internal.h"

/*
 * A TVE: the window a table serves. @tbl is published last (release) and
 * cleared first; the other fields are written only while @tbl is NULL and
 * no reader can still hold the old value (unset waits for the DMA gate and
 * a grace period), so a reader that sees @tbl may read them.
 */
struct tve {
	struct uiommu_tce_table *_Atomic tbl;
	uint64_t bus_start;	/* first bus address of the table's entries */
	uint64_t bus_last;	/* last one, inclusive */
	unsigned int page_shift;
};

/*
 * A TCE cache slot: a TCE and the key it caches, under a seqcount. Even
 * @seq: stable; odd: a writer (a fill or an invalidation) holds the slot.
 * @key is 0 when empty, else (entry << 2) | (window << 1) | 1.
 */
struct tce_cache_slot {
	_Atomic uint64_t seq;
	_Atomic uint64_t key;
	_Atomic uint64_t tce;
};

/*
 * The DMA gate: lets a kill wait for the DMA that may still be using what
 * it invalidated. A DMA chunk enters with the current epoch's parity and
 * leaves; a sync bumps the epoch (new chunks see the invalidation) and waits
 * until the old parity drains. Syncs are serialized by @sync, so the old
 * parity only drains. See tce_cache.c.
 */
struct dma_gate {
	_Atomic uint64_t epoch;
	_Atomic uint64_t active[2];
	_Atomic uint32_t sync;
};

/* EEH state bits (struct uiommu_pe.eeh). */
#define PE_EEH_ENABLED		(1u << 0)
#define PE_EEH_MMIO_STOPPED	(1u << 1)
#define PE_EEH_DMA_STOPPED	(1u << 2)
#define PE_EEH_RESET		(1u << 3)
#define PE_EEH_FROZEN		(PE_EEH_MMIO_STOPPED | PE_EEH_DMA_STOPPED)

/* An armed DMA error injection, under a seqcount (written under the PE lock). */
struct eeh_inject {
	_Atomic uint32_t seq;
	_Atomic uint32_t armed;	/* 1 while armed; the DMA that fires clears it */
	_Atomic uint32_t write;	/* 1: DMA writes match, 0: DMA reads */
	_Atomic uint64_t addr;
	_Atomic uint64_t mask;
};

struct uiommu_phb;
struct uiommu_compound;

struct uiommu_pe {
	struct uiommu_table_group grp; /* the PE's own group; tables[] under @lock */
	struct uiommu_phb *phb;
	struct uiommu_ctx *ctx;
	unsigned int pe_number;
	bool single_tve;

	pthread_mutex_t lock;
	bool user_owned;		 /* under @lock */
	struct uiommu_compound *compound; /* under @lock; NULL: standalone */

	/* Read by the DMA path. */
	_Atomic bool bypass;
	struct tve tve[UIOMMU_TABLE_GROUP_MAX_TABLES];
	_Atomic uint32_t eeh;
	struct eeh_inject inject;
	_Atomic uint32_t cache_mode;
	uint64_t cache_mask; /* entries - 1; no slots when the PHB has none */
	struct tce_cache_slot *cache;
	_Atomic uint64_t kill_seq; /* bumped by every kill before it invalidates */
	struct dma_gate gate;

	_Atomic uint32_t ndevices;
	_Atomic uint64_t hits, misses, fills, invalidations, kills, stale;
};

struct uiommu_phb {
	struct uiommu_ctx *ctx;
	struct uiommu_phb_config cfg;
	pthread_mutex_t lock;
	unsigned int npes;
	struct uiommu_pe **pes;	 /* cfg.num_pes slots */
	uint64_t bdf_used[65536 / 64]; /* devices attached, by bus/device/function */
};

struct uiommu_compound {
	struct uiommu_table_group grp; /* tables[] under @lock */
	struct uiommu_ctx *ctx;
	pthread_mutex_t lock;
	bool user_owned;
	unsigned int npes;
	struct uiommu_pe *pe[UIOMMU_COMPOUND_MAX_PES];
};

/* window.c: the PE's ops on a locked PE, without the compound-member check. */
int pe_create_table_locked(struct uiommu_pe *pe, int num, unsigned int page_shift,
			   uint64_t window_size, unsigned int levels,
			   struct uiommu_tce_table **ret_tbl);
int pe_set_window_locked(struct uiommu_pe *pe, int num, struct uiommu_tce_table *tbl);
int pe_unset_window_locked(struct uiommu_pe *pe, int num);
int pe_take_ownership_locked(struct uiommu_pe *pe);
int pe_release_ownership_locked(struct uiommu_pe *pe);
/* Install the host's default window and bypass on a PE without a window 0. */
int pe_host_config_locked(struct uiommu_pe *pe);
/* The PE's ops; compound.c compares against it. */
extern const struct uiommu_table_group_ops pe_table_group_ops;
/* A window number is valid. */
static inline bool window_ok(int num)
{
	return num >= 0 && num < UIOMMU_TABLE_GROUP_MAX_TABLES;
}

/* eeh.c */
int pe_eeh_op_locked(struct uiommu_pe *pe, unsigned int op, const struct uiommu_eeh_pe_err *err);
unsigned int pe_eeh_state(const struct uiommu_pe *pe);
/* Check an EEH op's arguments (shared with compound groups). */
int eeh_op_check(unsigned int op, const struct uiommu_eeh_pe_err *err);

/* tce_cache.c */
int pe_cache_init(struct uiommu_pe *pe, uint32_t entries, unsigned int mode);
void pe_cache_fini(struct uiommu_pe *pe);
/* Drop every cached entry and wait for the DMA in flight (a whole-PE kill). */
void pe_cache_flush(struct uiommu_pe *pe);
/* The kill callback each PE links to the tables of its windows. */
void pe_tce_kill(void *opaque, struct uiommu_tce_table *tbl, uint64_t entry, uint64_t npages);

#endif /* UIOMMU_PE_PRIV_H */
