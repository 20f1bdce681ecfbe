/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private state of address spaces (src/mm/). See uiommu/mm.h; struct
 * uiommu_mm itself is in src/internal.h, for the modules that hang their
 * state off it (prereg/, mirror/) through its extension slots.
 *
 * mm.c: creation, the process address space, use/unuse, the fork rule,
 *	holds and grabs, the extension slots and uiommu_mm_free().
 * dma.c: device accesses in flight and the monitor's hold.
 * uffd.c: opening the userfaultfd of UIOMMU_MM_USERFAULTFD (the monitor
 *	that reads it is the mirror's, src/mirror/uffd.c).
 */
#ifndef UIOMMU_MM_PRIV_H
#define UIOMMU_MM_PRIV_H

#include <uiommu/mm.h>

#include "../internal.h"

/* dma.c */
void mm_dma_init(struct mm_dma *d);
void mm_dma_destroy(struct mm_dma *d);

/* uffd.c */
/*
 * mm_uffd_open() - Open @mm's userfaultfd with the non-cooperative events
 * (mm->uffd). 0, -EOPNOTSUPP (logged), -ENOMEM.
 */
int mm_uffd_open(struct uiommu_mm *mm);

#endif /* UIOMMU_MM_PRIV_H */
