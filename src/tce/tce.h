/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private state of TCE tables (src/tce/). See uiommu/tce.h and
 * doc/design/tce.md.
 *
 * A table is two radix trees of the same geometry, the hardware table and
 * the userspace-address shadow. Each tree has `levels` levels of pages of
 * (1 << level_shift) bytes, 1 << level_bits entries each; the tree is indexed
 * by the entry number relative to it_offset. Level pages are host frames of
 * the library's region, so a pointer is hpa + hva_delta. Every word is an
 * _Atomic uint64_t holding a big-endian value. A level page, once installed,
 * stays until the table is freed: walkers need no lock and no RCU to follow
 * an indirect entry.
 */
#ifndef UIOMMU_TCE_PRIV_H
#define UIOMMU_TCE_PRIV_H

#include <endian.h>

#include "../internal.h"

/* The shape of a table, computed once from its parameters (geometry.c). */
struct tce_geom {
	unsigned int level_shift;   /* log2 bytes of one level page */
	unsigned int level_bits;    /* log2 entries of one level page */
	unsigned int bus_addr_bits; /* (level_shift - 3) * levels + page_shift */
	uint64_t it_size;	    /* entries */
	uint64_t hw_size;	    /* bytes of the hardware levels, Linux's formula */
};

/*
 * tce_geometry() - Check a geometry and compute its shape.
 * Return: 0, -EINVAL for an invalid geometry, -ERANGE (with @g filled) when
 * only the 55-bit rule fails.
 */
int tce_geometry(unsigned int host_page_shift, unsigned int page_shift, uint64_t window_size,
		 unsigned int levels, struct tce_geom *g);

/*
 * A kill callback slot. Readers (kills) load fn with acquire and then
 * opaque; a link stores opaque and then fn with release; an unlink clears
 * fn and waits for a grace period before the slot can be reused, so that a
 * kill never pairs a callback with another link's opaque.
 */
struct kill_slot {
	uiommu_tce_kill_fn *_Atomic fn;
	void *_Atomic opaque;
};

/*
 * A DMA hook slot (tce_dma_hook_add()). Readers (a device's DMA chunk,
 * inside RCU) load ops with acquire and then opaque; users counts the
 * adds of the same pair, under kill_lock.
 */
struct dma_hook_slot {
	const struct tce_dma_hook_ops *_Atomic ops;
	void *_Atomic opaque;
	unsigned int users;
};

struct uiommu_tce_table {
	/* First: read inline by the DMA path (tce_dma_hooked(), internal.h). */
	struct tce_table_dma dma;

	/* Read by every walk; set once at creation. */
	uintptr_t hva_delta;	       /* host pointer of a library hpa: hpa + hva_delta */
	_Atomic uint64_t *root;	       /* first level of the hardware table */
	_Atomic uint64_t *ua_root;     /* first level of the shadow */
	uint64_t it_offset;	       /* first entry number */
	uint64_t it_size;	       /* entries */
	uint64_t bus_offset;	       /* it_offset << page_shift */
	uint64_t bus_last_rel;	       /* (it_size << page_shift) - 1 */
	uint64_t hpa_reject;	       /* bits a mapped hpa must not have */
	uint64_t page_offset_mask;     /* (1 << page_shift) - 1 */
	uint64_t level_mask;	       /* entries per level page - 1 */
	unsigned int page_shift;
	unsigned int level_bits;       /* log2 entries per level page */
	unsigned int top_shift;	       /* (levels - 1) * level_bits: index bits below the first level */
	unsigned int levels;

	_Atomic uint32_t kill_nr; /* slots in use are below this; 0: no callback */

	_Atomic uint32_t refcount;
	_Atomic uint64_t level_pages; /* level pages held, both trees */

	struct uiommu_ctx *ctx;
	unsigned int level_shift;
	unsigned int host_page_shift;
	uint64_t window_size;
	uint64_t allocated_size; /* charged to UIOMMU_RES_TABLE_BYTES */
	uint64_t base_hpa;
	uint64_t ua_base_hpa;
	pthread_mutex_t kill_lock; /* serializes link and unlink, and the DMA hooks' */
	struct kill_slot kill[UIOMMU_TCE_KILL_LINKS_MAX];
	struct dma_hook_slot dma_hook[TCE_DMA_HOOKS_MAX]; /* in use below dma.nhooks */
};

/* kill.c */
void tce_kill_call(struct uiommu_tce_table *tbl, uint64_t entry, uint64_t npages);
/* Kill callbacks linked now (a snapshot). */
uint32_t tce_kill_links(const struct uiommu_tce_table *tbl);

#endif /* UIOMMU_TCE_PRIV_H */
