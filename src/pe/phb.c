// SPDX-License-Identifier: BSD-3-Clause
/*
 * Host PHBs and their PEs: creation with the host's configuration (Linux
 * powernv pci-ioda.c: pnv_ioda_alloc_pe(), pnv_pci_ioda2_setup_dma_pe(),
 * pnv_pci_ioda2_setup_default_config()), destruction, description, and the
 * registry of device numbers the device module uses.
 */
#include "pe.h"

/* The first published layouts. */
#define PHB_CONFIG_SIZE_V1 sizeof(struct uiommu_phb_config)
#define PE_INFO_SIZE_V1 sizeof(struct uiommu_pe_info)

/* IOMMU page shifts a PHB may offer: 12..34. */
#define PGSIZES_OK (((1ULL << (UIOMMU_TCE_PAGE_SHIFT_MAX + 1)) - 1) & \
		    ~((1ULL << UIOMMU_TCE_PAGE_SHIFT_MIN) - 1))

UIOMMU_EXPORT void uiommu_phb_config_default(struct uiommu_phb_config *cfg, uint32_t domain)
{
	*cfg = (struct uiommu_phb_config){
		.size = PHB_CONFIG_SIZE_V1,
		.domain = domain,
		.num_pes = UIOMMU_PHB_DEFAULT_PES,
		.tce32_start = 0,
		.tce32_size = UIOMMU_PHB_DEFAULT_TCE32_SIZE,
		.pgsizes = UIOMMU_PHB_DEFAULT_PGSIZES,
		.max_levels = UIOMMU_TCE_LEVELS_MAX,
		.tce_cache_entries = UIOMMU_TCE_CACHE_DEFAULT_ENTRIES,
		.tce_cache_mode = UIOMMU_TCE_CACHE_ON,
	};
}

static int phb_config_check(struct uiommu_ctx *ctx, const struct uiommu_phb_config *cfg)
{
	uint64_t size = cfg->tce32_size, end;
	uint32_t n = cfg->tce_cache_entries;

	if ((cfg->flags & ~UIOMMU_PHB_NPU) || cfg->reserved || cfg->domain > 0xffff ||
	    !cfg->num_pes || cfg->num_pes > UIOMMU_PHB_MAX_PES)
		return -EINVAL;
	if (!is_power_of_2_u64(size) || size < (1ULL << 16) || !is_aligned_u64(cfg->tce32_start, size) ||
	    __builtin_add_overflow(cfg->tce32_start, size, &end) || end > (1ULL << 32))
		return -EINVAL;
	if (!cfg->pgsizes || (cfg->pgsizes & ~PGSIZES_OK) ||
	    !(cfg->pgsizes & (1ULL << ctx->host_page_shift)))
		return -EINVAL;
	if (cfg->max_levels < UIOMMU_PE_DEFAULT_TABLE_LEVELS || cfg->max_levels > UIOMMU_TCE_LEVELS_MAX)
		return -EINVAL;
	if (cfg->tce_cache_mode > UIOMMU_TCE_CACHE_STRICT ||
	    (n && (!is_power_of_2_u64(n) || n > UIOMMU_TCE_CACHE_MAX_ENTRIES)) ||
	    (!n && cfg->tce_cache_mode != UIOMMU_TCE_CACHE_OFF))
		return -EINVAL;
	return 0;
}

UIOMMU_EXPORT int uiommu_phb_new(struct uiommu_ctx *ctx, const struct uiommu_phb_config *cfg,
				 struct uiommu_phb **ret_phb)
{
	struct uiommu_phb *phb;
	int ret;

	if (!ctx || !ret_phb)
		return -EINVAL;
	ret = struct_size_check(cfg, PHB_CONFIG_SIZE_V1);
	if (!ret)
		ret = phb_config_check(ctx, cfg);
	if (ret)
		return ret;
	ret = ctx_charge(ctx, UIOMMU_RES_PHBS, 1);
	if (ret) {
		ctx_guest_error(ctx, "PHB refused: the %s limit", uiommu_resource_name(UIOMMU_RES_PHBS));
		return ret;
	}
	phb = ctx_alloc(ctx, sizeof(*phb));
	if (phb)
		phb->pes = ctx_alloc_array(ctx, cfg->num_pes, sizeof(*phb->pes));
	if (!phb || !phb->pes) {
		ctx_free(ctx, phb);
		ctx_uncharge(ctx, UIOMMU_RES_PHBS, 1);
		return -ENOMEM;
	}
	phb->ctx = ctx;
	phb->cfg = *cfg;
	phb->cfg.size = PHB_CONFIG_SIZE_V1;
	pthread_mutex_init(&phb->lock, NULL);
	*ret_phb = phb;
	return 0;
}

UIOMMU_EXPORT int uiommu_phb_free(struct uiommu_phb *phb)
{
	struct uiommu_ctx *ctx;

	if (!phb)
		return 0;
	pthread_mutex_lock(&phb->lock);
	if (phb->npes) {
		pthread_mutex_unlock(&phb->lock);
		return -EBUSY;
	}
	pthread_mutex_unlock(&phb->lock);
	ctx = phb->ctx;
	pthread_mutex_destroy(&phb->lock);
	ctx_free(ctx, phb->pes);
	ctx_free(ctx, phb);
	ctx_uncharge(ctx, UIOMMU_RES_PHBS, 1);
	return 0;
}

/* ---- PEs ---- */

static void pe_destroy(struct uiommu_pe *pe)
{
	struct uiommu_ctx *ctx = pe->ctx;

	pe_cache_fini(pe);
	pthread_mutex_destroy(&pe->lock);
	ctx_free(ctx, pe);
	ctx_uncharge(ctx, UIOMMU_RES_TABLE_GROUPS, 1);
}

UIOMMU_EXPORT int uiommu_pe_new(struct uiommu_phb *phb, unsigned int pe_number,
				struct uiommu_pe **ret_pe)
{
	const struct uiommu_phb_config *cfg;
	struct uiommu_pe *pe;
	int ret;

	if (!phb || !ret_pe || pe_number >= phb->cfg.num_pes)
		return -EINVAL;
	cfg = &phb->cfg;
	pthread_mutex_lock(&phb->lock);
	if (phb->pes[pe_number]) {
		ret = -EEXIST;
		goto out;
	}
	ret = ctx_charge(phb->ctx, UIOMMU_RES_TABLE_GROUPS, 1);
	if (ret) {
		ctx_guest_error(phb->ctx, "PE %u refused: the %s limit", pe_number,
				uiommu_resource_name(UIOMMU_RES_TABLE_GROUPS));
		goto out;
	}
	pe = ctx_alloc(phb->ctx, sizeof(*pe));
	if (!pe) {
		ctx_uncharge(phb->ctx, UIOMMU_RES_TABLE_GROUPS, 1);
		ret = -ENOMEM;
		goto out;
	}
	pe->phb = phb;
	pe->ctx = phb->ctx;
	pe->pe_number = pe_number;
	pe->single_tve = cfg->flags & UIOMMU_PHB_NPU;
	pthread_mutex_init(&pe->lock, NULL);
	uiommu_table_group_init(&pe->grp, phb->ctx, &pe_table_group_ops, cfg->domain, pe_number);
	pe->grp.tce32_start = cfg->tce32_start;
	pe->grp.tce32_size = cfg->tce32_size;
	pe->grp.pgsizes = cfg->pgsizes;
	pe->grp.max_levels = cfg->max_levels;
	/* Linux sets 2 on NPU PEs too, although they have one TVE. */
	pe->grp.max_dynamic_windows_supported = UIOMMU_TABLE_GROUP_MAX_TABLES;
	ret = pe_cache_init(pe, cfg->tce_cache_entries, cfg->tce_cache_mode);
	if (!ret)
		ret = pe_host_config_locked(pe); /* not published yet: nobody else sees it */
	if (ret) {
		pe_destroy(pe);
		goto out;
	}
	phb->pes[pe_number] = pe;
	phb->npes++;
	*ret_pe = pe;
out:
	pthread_mutex_unlock(&phb->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_pe_free(struct uiommu_pe *pe)
{
	struct uiommu_phb *phb;

	if (!pe)
		return 0;
	phb = pe->phb;
	pthread_mutex_lock(&phb->lock);
	pthread_mutex_lock(&pe->lock);
	if (atomic_load(&pe->ndevices) || pe->user_owned || pe->compound) {
		pthread_mutex_unlock(&pe->lock);
		pthread_mutex_unlock(&phb->lock);
		return -EBUSY;
	}
	for (int num = 0; num < UIOMMU_TABLE_GROUP_MAX_TABLES; num++)
		if (pe->grp.tables[num])
			pe_unset_window_locked(pe, num);
	pthread_mutex_unlock(&pe->lock);
	phb->pes[pe->pe_number] = NULL;
	phb->npes--;
	pthread_mutex_unlock(&phb->lock);
	pe_destroy(pe);
	return 0;
}

UIOMMU_EXPORT struct uiommu_table_group *uiommu_pe_table_group(struct uiommu_pe *pe)
{
	return &pe->grp;
}

UIOMMU_EXPORT int uiommu_pe_info(const struct uiommu_pe *pe, struct uiommu_pe_info *ret_info)
{
	struct uiommu_pe *p = (struct uiommu_pe *)pe;
	struct uiommu_pe_info out = { .size = PE_INFO_SIZE_V1 };
	uint32_t eeh = atomic_load(&p->eeh);

	if (!ret_info || ret_info->size < PE_INFO_SIZE_V1)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	out.flags = (p->user_owned ? UIOMMU_PE_USER_OWNED : 0) |
		    (p->compound ? UIOMMU_PE_COMPOUND_MEMBER : 0);
	pthread_mutex_unlock(&p->lock);
	out.flags |= (atomic_load(&p->bypass) ? UIOMMU_PE_BYPASS : 0) |
		     (p->single_tve ? UIOMMU_PE_SINGLE_TVE : 0) |
		     (eeh & PE_EEH_ENABLED ? UIOMMU_PE_EEH_ENABLED : 0);
	out.domain = p->grp.domain;
	out.pe_number = p->pe_number;
	out.eeh_state = pe_eeh_state(p);
	out.tce_cache_mode = atomic_load(&p->cache_mode);
	out.tce_cache_entries = p->cache ? (uint32_t)(p->cache_mask + 1) : 0;
	out.ndevices = atomic_load(&p->ndevices);
	for (int num = 0; num < UIOMMU_TABLE_GROUP_MAX_TABLES; num++)
		if (atomic_load_explicit(&p->tve[num].tbl, memory_order_relaxed))
			out.window_tables |= 1u << num;
	out.tce_cache_hits = atomic_load_explicit(&p->hits, memory_order_relaxed);
	out.tce_cache_misses = atomic_load_explicit(&p->misses, memory_order_relaxed);
	out.tce_cache_fills = atomic_load_explicit(&p->fills, memory_order_relaxed);
	out.tce_cache_invalidations = atomic_load_explicit(&p->invalidations, memory_order_relaxed);
	out.kills = atomic_load_explicit(&p->kills, memory_order_relaxed);
	out.stale_tces = atomic_load_explicit(&p->stale, memory_order_relaxed);
	struct_copy_out(ret_info, &out, sizeof(out));
	return 0;
}

/* ---- for devices ---- */

int pe_dev_attach(struct uiommu_pe *pe, uint32_t bdf)
{
	struct uiommu_phb *phb = pe->phb;
	uint64_t bit = 1ULL << (bdf % 64);
	int ret = 0;

	pthread_mutex_lock(&phb->lock);
	if (phb->bdf_used[bdf / 64] & bit) {
		ret = -EEXIST;
	} else {
		phb->bdf_used[bdf / 64] |= bit;
		atomic_fetch_add(&pe->ndevices, 1);
	}
	pthread_mutex_unlock(&phb->lock);
	return ret;
}

void pe_dev_detach(struct uiommu_pe *pe, uint32_t bdf)
{
	struct uiommu_phb *phb = pe->phb;

	pthread_mutex_lock(&phb->lock);
	phb->bdf_used[bdf / 64] &= ~(1ULL << (bdf % 64));
	atomic_fetch_sub(&pe->ndevices, 1);
	pthread_mutex_unlock(&phb->lock);
}

uint32_t pe_domain(const struct uiommu_pe *pe)
{
	return pe->grp.domain;
}

unsigned int pe_num(const struct uiommu_pe *pe)
{
	return pe->pe_number;
}
