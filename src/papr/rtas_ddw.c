// SPDX-License-Identifier: BSD-3-Clause
/*
 * PHBs and the dynamic DMA window RTAS calls (LoPAPR "Dynamic DMA
 * windows"), with QEMU's rules: hw/ppc/spapr_rtas_ddw.c (query, create,
 * remove, reset) and hw/ppc/spapr_pci.c (the PHB's windows and its DMA
 * reset). A window is a LIOBN of the guest; a PHB has
 * UIOMMU_PAPR_MAX_WINDOWS LIOBNs, uiommu_papr_pci_liobn(index, 0 and 1),
 * each existing only while its window is enabled (QEMU keeps a disabled
 * table object with nb_table 0; every hcall on it fails with H_PARAMETER,
 * exactly as on a LIOBN that does not exist).
 *
 * Everything here runs under papr_guest.lock, outside RCU read-side
 * sections.
 */
#include <string.h>

#include "papr.h"

/* The first published layout of struct uiommu_papr_phb_config. */
#define PHB_CONFIG_SIZE_V1 sizeof(struct uiommu_papr_phb_config)
/* Page sizes a LIOBN can have (KVM's range). */
#define PAGE_SHIFTS_OK (((1ULL << (UIOMMU_LIOBN_MAX_PAGE_SHIFT + 1)) - 1) & \
			~((1ULL << UIOMMU_LIOBN_MIN_PAGE_SHIFT) - 1))
/* QEMU's nb_table is 32 bits: a DDW of 2^32 entries or more comes out empty. */
#define DDW_MAX_ENTRIES_SHIFT 31
/* ibm,query-pe-dma-window's largest block: 32-bit form, and 64-bit 1 << (58 - 21). */
#define DDW_QUERY_LARGEST_32 0x80000000u
#define DDW_QUERY_LARGEST_64_HI 0x00000020u
#define DDW_QUERY_LARGEST_64_LO 0x00000000u

UIOMMU_EXPORT void uiommu_papr_phb_config_default(struct uiommu_papr_phb_config *cfg,
						  uint32_t index)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->index = index;
	cfg->buid = UIOMMU_PAPR_PCI_BUID_BASE + index;
	cfg->dma_win_addr = 0;
	cfg->dma_win_size = UIOMMU_PAPR_PCI_DMA_WIN_SIZE;
	cfg->dma64_win_addr = UIOMMU_PAPR_DMA64_WIN_ADDR;
	cfg->page_size_mask = UIOMMU_PAPR_DEFAULT_PAGE_SIZE_MASK;
	cfg->ddw_enabled = 1;
	cfg->flags = 0;
}

static int phb_config_check(const struct uiommu_papr_phb_config *cfg,
			    struct uiommu_papr_phb_config *ret_cfg)
{
	uint64_t align = 1ULL << UIOMMU_PAPR_TCE_PAGE_SHIFT, last;

	if (!cfg || cfg->size < PHB_CONFIG_SIZE_V1)
		return -EINVAL;
	if (cfg->size > PHB_CONFIG_SIZE_V1) {
		const unsigned char *tail = (const unsigned char *)cfg + PHB_CONFIG_SIZE_V1;

		for (size_t i = 0; i < cfg->size - PHB_CONFIG_SIZE_V1; i++)
			if (tail[i])
				return -E2BIG;
	}
	if (cfg->flags || cfg->ddw_enabled > 1 || cfg->index >= (1u << 23) ||
	    (cfg->page_size_mask & ~PAGE_SHIFTS_OK))
		return -EINVAL;
	if (cfg->page_size_mask)
		align = MAX(align, 1ULL << ilog2_u64(cfg->page_size_mask));
	if (!cfg->dma_win_size || !is_aligned_u64(cfg->dma_win_size, 1ULL << UIOMMU_PAPR_TCE_PAGE_SHIFT) ||
	    !is_aligned_u64(cfg->dma_win_addr, align) || !is_aligned_u64(cfg->dma64_win_addr, align) ||
	    range_from_len(cfg->dma_win_addr, cfg->dma_win_size, &last))
		return -EINVAL;
	if ((cfg->dma_win_size >> UIOMMU_PAPR_TCE_PAGE_SHIFT) > UIOMMU_LIOBN_MAX_ENTRIES)
		return -E2BIG;
	memcpy(ret_cfg, cfg, PHB_CONFIG_SIZE_V1);
	ret_cfg->size = PHB_CONFIG_SIZE_V1;
	return 0;
}

static struct papr_phb *phb_find_locked(struct papr_guest *pg, uint64_t buid, unsigned int *ret_i)
{
	for (unsigned int i = 0; i < pg->nphbs; i++) {
		if (pg->phbs[i]->cfg.buid == buid) {
			if (ret_i)
				*ret_i = i;
			return pg->phbs[i];
		}
	}
	return NULL;
}

static unsigned int phb_active_windows(const struct papr_phb *phb)
{
	unsigned int n = 0;

	for (unsigned int w = 0; w < UIOMMU_PAPR_MAX_WINDOWS; w++)
		n += phb->active[w];
	return n;
}

/* Enable window @w of @phb; a negative errno leaves it disabled. */
static int phb_window_enable(struct papr_guest *pg, struct papr_phb *phb, unsigned int w,
			     unsigned int page_shift, uint64_t bus_addr, uint64_t entries)
{
	struct liobn_table *t;
	int ret = liobn_create_locked(pg, phb->liobn[w], page_shift, bus_addr >> page_shift,
				      entries, &t);

	if (ret)
		return ret;
	t->phb_window = true;
	phb->active[w] = true;
	return 0;
}

static int phb_window_disable(struct papr_guest *pg, struct papr_phb *phb, unsigned int w)
{
	int ret = liobn_destroy_locked(pg, phb->liobn[w]);

	if (ret)
		return ret;
	phb->active[w] = false;
	return 0;
}

/*
 * spapr_phb_dma_reset(): every window off, then the default 32-bit window
 * at dma_win_addr with 4 KiB pages. A failure leaves the PHB without the
 * windows that could not be changed.
 */
static int phb_dma_reset_locked(struct papr_guest *pg, struct papr_phb *phb)
{
	int ret;

	for (unsigned int w = 0; w < UIOMMU_PAPR_MAX_WINDOWS; w++) {
		if (phb->active[w]) {
			ret = phb_window_disable(pg, phb, w);
			if (ret)
				return ret;
		}
	}
	return phb_window_enable(pg, phb, 0, UIOMMU_PAPR_TCE_PAGE_SHIFT, phb->cfg.dma_win_addr,
				 phb->cfg.dma_win_size >> UIOMMU_PAPR_TCE_PAGE_SHIFT);
}

UIOMMU_EXPORT int uiommu_papr_phb_add(struct uiommu_guest *guest,
				      const struct uiommu_papr_phb_config *cfg)
{
	struct papr_guest *pg;
	struct papr_phb *phb;
	struct uiommu_papr_phb_config c;
	int ret;

	ret = phb_config_check(cfg, &c);
	if (ret)
		return ret;
	pg = papr_guest_get(guest);
	if (!pg)
		return -ENOMEM;
	pthread_mutex_lock(&pg->lock);
	ret = -EEXIST;
	for (unsigned int i = 0; i < pg->nphbs; i++)
		if (pg->phbs[i]->cfg.buid == c.buid || pg->phbs[i]->cfg.index == c.index)
			goto out;
	ret = -ENOSPC;
	if (pg->nphbs == UIOMMU_PAPR_MAX_PHBS)
		goto out;
	ret = -ENOMEM;
	phb = ctx_alloc(pg->ctx, sizeof(*phb));
	if (!phb)
		goto out;
	phb->cfg = c;
	for (unsigned int w = 0; w < UIOMMU_PAPR_MAX_WINDOWS; w++)
		phb->liobn[w] = uiommu_papr_pci_liobn(c.index, w);
	ret = phb_dma_reset_locked(pg, phb);
	if (ret) {
		ctx_free(pg->ctx, phb);
		goto out;
	}
	pg->phbs[pg->nphbs++] = phb;
out:
	pthread_mutex_unlock(&pg->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_papr_phb_remove(struct uiommu_guest *guest, uint64_t buid)
{
	struct papr_guest *pg = papr_guest_peek(guest);
	struct papr_phb *phb;
	unsigned int i;
	int ret = -ENOENT;

	if (!pg)
		return -ENOENT;
	pthread_mutex_lock(&pg->lock);
	phb = phb_find_locked(pg, buid, &i);
	if (!phb)
		goto out;
	for (unsigned int w = 0; w < UIOMMU_PAPR_MAX_WINDOWS; w++) {
		if (phb->active[w]) {
			ret = phb_window_disable(pg, phb, w);
			if (ret)
				goto out;
		}
	}
	pg->phbs[i] = pg->phbs[--pg->nphbs];
	pg->phbs[pg->nphbs] = NULL;
	ctx_free(pg->ctx, phb);
	ret = 0;
out:
	pthread_mutex_unlock(&pg->lock);
	return ret;
}

/* spapr_page_mask_to_query_mask(). */
static uint32_t query_page_mask(uint64_t page_size_mask)
{
	static const struct {
		unsigned int shift;
		uint32_t bit;
	} map[] = {
		{ 12, UIOMMU_RTAS_DDW_PGSIZE_4K },   { 16, UIOMMU_RTAS_DDW_PGSIZE_64K },
		{ 21, UIOMMU_RTAS_DDW_PGSIZE_2M },   { 24, UIOMMU_RTAS_DDW_PGSIZE_16M },
		{ 25, UIOMMU_RTAS_DDW_PGSIZE_32M },  { 26, UIOMMU_RTAS_DDW_PGSIZE_64M },
		{ 27, UIOMMU_RTAS_DDW_PGSIZE_128M }, { 28, UIOMMU_RTAS_DDW_PGSIZE_256M },
		{ 34, UIOMMU_RTAS_DDW_PGSIZE_16G },
	};
	uint32_t mask = 0;

	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (page_size_mask & (1ULL << map[i].shift))
			mask |= map[i].bit;
	return mask;
}

/* The PHB named by cells (buid_hi, buid_lo) at @args[1..2], if it does DDW. */
static struct papr_phb *rtas_phb_locked(struct papr_guest *pg, const uint32_t *args)
{
	uint64_t buid = (uint64_t)args[1] << 32 | args[2];
	struct papr_phb *phb = phb_find_locked(pg, buid, NULL);

	return phb && phb->cfg.ddw_enabled ? phb : NULL;
}

static int rtas_query_locked(struct papr_guest *pg, uint32_t nargs, const uint32_t *args,
			     uint32_t nret, uint32_t *rets)
{
	struct papr_phb *phb;
	uint32_t pgmask;

	if (nargs != 3 || (nret != 5 && nret != 6))
		return UIOMMU_RTAS_PARAM_ERROR;
	phb = rtas_phb_locked(pg, args);
	if (!phb)
		return UIOMMU_RTAS_PARAM_ERROR;
	pgmask = query_page_mask(phb->cfg.page_size_mask);
	rets[1] = UIOMMU_PAPR_MAX_WINDOWS - phb_active_windows(phb);
	if (nret == 6) {
		rets[2] = DDW_QUERY_LARGEST_64_HI;
		rets[3] = DDW_QUERY_LARGEST_64_LO;
		rets[4] = pgmask;
		rets[5] = 0; /* DMA migration mask: not supported */
	} else {
		rets[2] = DDW_QUERY_LARGEST_32;
		rets[3] = pgmask;
		rets[4] = 0;
	}
	return UIOMMU_RTAS_SUCCESS;
}

static int rtas_create_locked(struct papr_guest *pg, uint32_t nargs, const uint32_t *args,
			      uint32_t nret, uint32_t *rets)
{
	uint32_t page_shift, window_shift;
	struct papr_phb *phb;
	uint64_t win_addr, last;
	unsigned int w;
	int ret;

	if (nargs != 5 || nret != 4)
		return UIOMMU_RTAS_PARAM_ERROR;
	phb = rtas_phb_locked(pg, args);
	if (!phb)
		return UIOMMU_RTAS_PARAM_ERROR;
	page_shift = args[3];
	window_shift = args[4];
	/* QEMU shifts 1ULL by page_shift unchecked: 64 and up are simply not in the mask. */
	if (page_shift >= 64 || !(phb->cfg.page_size_mask & (1ULL << page_shift)) ||
	    window_shift < page_shift)
		return UIOMMU_RTAS_PARAM_ERROR;
	for (w = 0; w < UIOMMU_PAPR_MAX_WINDOWS && phb->active[w]; w++)
		;
	if (w == UIOMMU_PAPR_MAX_WINDOWS)
		return UIOMMU_RTAS_HW_ERROR;
	win_addr = phb_active_windows(phb) ? phb->cfg.dma64_win_addr : phb->cfg.dma_win_addr;
	if (window_shift - page_shift > DDW_MAX_ENTRIES_SHIFT || window_shift >= 64 ||
	    range_from_len(win_addr, 1ULL << window_shift, &last)) {
		ctx_guest_error(pg->ctx, "ibm,create-pe-dma-window: a 2^%u-byte window of 2^%u-byte "
			       "pages is too large", window_shift, page_shift);
		return UIOMMU_RTAS_HW_ERROR;
	}
	ret = phb_window_enable(pg, phb, w, page_shift, win_addr,
				1ULL << (window_shift - page_shift));
	if (ret) {
		ctx_guest_error(pg->ctx, "ibm,create-pe-dma-window: LIOBN 0x%llx: %s",
				(unsigned long long)phb->liobn[w], uiommu_strerror(ret));
		return UIOMMU_RTAS_HW_ERROR;
	}
	rets[1] = (uint32_t)phb->liobn[w];
	rets[2] = (uint32_t)(win_addr >> 32);
	rets[3] = (uint32_t)win_addr;
	return UIOMMU_RTAS_SUCCESS;
}

static int rtas_remove_locked(struct papr_guest *pg, uint32_t nargs, const uint32_t *args,
			      uint32_t nret)
{
	struct papr_phb *phb = NULL;
	unsigned int w = 0;

	if (nargs != 1 || nret != 1)
		return UIOMMU_RTAS_PARAM_ERROR;
	for (unsigned int i = 0; i < pg->nphbs && !phb; i++)
		for (w = 0; w < UIOMMU_PAPR_MAX_WINDOWS; w++)
			if (pg->phbs[i]->liobn[w] == args[0]) {
				phb = pg->phbs[i];
				break;
			}
	if (!phb || !phb->cfg.ddw_enabled || !phb->active[w])
		return UIOMMU_RTAS_PARAM_ERROR;
	if (phb_window_disable(pg, phb, w))
		return UIOMMU_RTAS_HW_ERROR;
	/*
	 * LoPAPR: the platform restores the default window when the call
	 * removes the PE's last window and that window is not the default one.
	 * [QUIRK, copied] QEMU's "default" is a flag of the table object
	 * (def_win), set on the PHB's first table by every DMA reset and never
	 * cleared: a window created in that table after the default window was
	 * removed counts as the default one, and removing it last restores
	 * nothing. So the rule is about the window number, not its history.
	 */
	if (!phb_active_windows(phb) && w != 0 && phb_dma_reset_locked(pg, phb))
		return UIOMMU_RTAS_HW_ERROR;
	return UIOMMU_RTAS_SUCCESS;
}

static int rtas_reset_locked(struct papr_guest *pg, uint32_t nargs, const uint32_t *args,
			     uint32_t nret)
{
	struct papr_phb *phb;

	if (nargs != 3 || nret != 1)
		return UIOMMU_RTAS_PARAM_ERROR;
	phb = rtas_phb_locked(pg, args);
	if (!phb)
		return UIOMMU_RTAS_PARAM_ERROR;
	return phb_dma_reset_locked(pg, phb) ? UIOMMU_RTAS_HW_ERROR : UIOMMU_RTAS_SUCCESS;
}

UIOMMU_EXPORT int uiommu_papr_rtas(struct uiommu_guest *guest, uint32_t token, uint32_t nargs,
				   const uint32_t *args, uint32_t nret, uint32_t *rets)
{
	struct papr_guest *pg;
	int ret = UIOMMU_RTAS_PARAM_ERROR;

	if ((nargs && !args) || (nret && !rets))
		goto out_nolock;
	switch (token) {
	case UIOMMU_RTAS_QUERY_PE_DMA_WINDOW:
	case UIOMMU_RTAS_CREATE_PE_DMA_WINDOW:
	case UIOMMU_RTAS_REMOVE_PE_DMA_WINDOW:
	case UIOMMU_RTAS_RESET_PE_DMA_WINDOW:
		break;
	default:
		ctx_guest_error(guest->ctx, "unknown RTAS token 0x%x", token);
		goto out_nolock;
	}
	pg = papr_guest_peek(guest);
	if (!pg)
		goto out_nolock; /* no PHB: every call names an unknown one */
	pthread_mutex_lock(&pg->lock);
	switch (token) {
	case UIOMMU_RTAS_QUERY_PE_DMA_WINDOW:
		ret = rtas_query_locked(pg, nargs, args, nret, rets);
		break;
	case UIOMMU_RTAS_CREATE_PE_DMA_WINDOW:
		ret = rtas_create_locked(pg, nargs, args, nret, rets);
		break;
	case UIOMMU_RTAS_REMOVE_PE_DMA_WINDOW:
		ret = rtas_remove_locked(pg, nargs, args, nret);
		break;
	default:
		ret = rtas_reset_locked(pg, nargs, args, nret);
		break;
	}
	pthread_mutex_unlock(&pg->lock);
out_nolock:
	if (nret >= 1 && rets)
		rets[0] = (uint32_t)ret;
	return ret;
}
