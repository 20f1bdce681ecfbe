// SPDX-License-Identifier: BSD-3-Clause
/*
 * Table groups: the uiommu_table_group_*() calls every user goes through,
 * and a PE's ops behind them: create_table, set_window, unset_window,
 * take_ownership, release_ownership, with the semantics of Linux powernv
 * (arch/powerpc/platforms/powernv/pci-ioda.c: pnv_pci_ioda2_create_table(),
 * pnv_pci_ioda2_set_window(), pnv_pci_ioda2_unset_window(),
 * pnv_ioda2_take_ownership(), pnv_ioda2_release_ownership(); npu-dma.c
 * pnv_npu_set_window() for single-TVE PEs) and arch/powerpc/kernel/iommu.c
 * (the table/group links). Where we differ, uiommu/pe.h says so.
 */
#include <stdio.h>
#include <string.h>

#include "pe.h"

/* ---- generic table groups ---- */

UIOMMU_EXPORT int uiommu_table_group_init(struct uiommu_table_group *grp, struct uiommu_ctx *ctx,
					  const struct uiommu_table_group_ops *ops,
					  uint32_t domain, uint32_t pe_number)
{
	if (!grp || !ctx || !ops)
		return -EINVAL;
	memset(grp, 0, sizeof(*grp));
	grp->ops = ops;
	grp->ctx = ctx;
	grp->domain = domain;
	grp->pe_number = pe_number;
	snprintf(grp->name, sizeof(grp->name), "domain%u-pe%x", domain, pe_number);
	return 0;
}

UIOMMU_EXPORT uint64_t uiommu_table_group_get_table_size(struct uiommu_table_group *grp,
							 unsigned int page_shift,
							 uint64_t window_size, unsigned int levels)
{
	if (!grp || !grp->ops->get_table_size)
		return 0;
	return grp->ops->get_table_size(grp, page_shift, window_size, levels);
}

UIOMMU_EXPORT int uiommu_table_group_create_table(struct uiommu_table_group *grp, int num,
						  unsigned int page_shift, uint64_t window_size,
						  unsigned int levels,
						  struct uiommu_tce_table **ret_tbl)
{
	if (!grp || !ret_tbl || !window_ok(num))
		return -EINVAL;
	if (!grp->ops->create_table)
		return -EPERM;
	return grp->ops->create_table(grp, num, page_shift, window_size, levels, ret_tbl);
}

UIOMMU_EXPORT int uiommu_table_group_set_window(struct uiommu_table_group *grp, int num,
						struct uiommu_tce_table *tbl)
{
	if (!grp || !tbl || !window_ok(num))
		return -EINVAL;
	if (!grp->ops->set_window)
		return -EPERM;
	return grp->ops->set_window(grp, num, tbl);
}

UIOMMU_EXPORT int uiommu_table_group_unset_window(struct uiommu_table_group *grp, int num)
{
	if (!grp || !window_ok(num))
		return -EINVAL;
	if (!grp->ops->unset_window)
		return -EPERM;
	return grp->ops->unset_window(grp, num);
}

UIOMMU_EXPORT int uiommu_table_group_take_ownership(struct uiommu_table_group *grp)
{
	if (!grp)
		return -EINVAL;
	if (!grp->ops->take_ownership)
		return -EPERM;
	return grp->ops->take_ownership(grp);
}

UIOMMU_EXPORT int uiommu_table_group_release_ownership(struct uiommu_table_group *grp)
{
	if (!grp)
		return -EINVAL;
	if (!grp->ops->release_ownership)
		return -EPERM;
	return grp->ops->release_ownership(grp);
}

UIOMMU_EXPORT int uiommu_table_group_eeh_op(struct uiommu_table_group *grp, unsigned int op,
					    const struct uiommu_eeh_pe_err *err)
{
	int ret;

	if (!grp)
		return -EINVAL;
	ret = eeh_op_check(op, err);
	if (ret)
		return ret;
	if (!grp->ops->eeh_pe_op)
		return -ENODEV;
	return grp->ops->eeh_pe_op(grp, op, err);
}

/* The bus range [*first, *last] a table's entries cover. */
static void table_bus_range(const struct uiommu_tce_table *tbl, struct uiommu_tce_table_info *info,
			    uint64_t *first, uint64_t *last)
{
	info->size = sizeof(*info);
	uiommu_tce_table_info(tbl, info);
	*first = info->bus_offset;
	*last = info->bus_offset + ((info->it_size << info->page_shift) - 1);
}

UIOMMU_EXPORT int uiommu_table_group_find_table(struct uiommu_table_group *grp, uint64_t ioba,
						int *ret_num, struct uiommu_tce_table **ret_tbl)
{
	if (!grp || !ret_tbl)
		return -EINVAL;
	if (ioba == UIOMMU_TABLE_GROUP_DEFAULT_WINDOW) {
		if (!grp->tce32_size)
			return -ENOENT;
		ioba = grp->tce32_start;
	}
	for (int num = 0; num < UIOMMU_TABLE_GROUP_MAX_TABLES; num++) {
		struct uiommu_tce_table *tbl = grp->tables[num];
		struct uiommu_tce_table_info info;
		uint64_t first, last;

		if (!tbl)
			continue;
		table_bus_range(tbl, &info, &first, &last);
		if (ioba >= first && ioba <= last) {
			if (ret_num)
				*ret_num = num;
			*ret_tbl = uiommu_tce_table_ref(tbl);
			return 0;
		}
	}
	return -ENOENT;
}

/* ---- a PE's windows ---- */

static struct uiommu_pe *pe_of(struct uiommu_table_group *grp)
{
	return container_of(grp, struct uiommu_pe, grp);
}

/* The bus range of window @num's TVE: bit 59 selects it (IODA2). */
static bool tve_range_ok(int num, uint64_t first, uint64_t last)
{
	if (num == 0)
		return last < UIOMMU_PE_BUS_OFFSET_64;
	return first >= UIOMMU_PE_BUS_OFFSET_64 && last < 2 * UIOMMU_PE_BUS_OFFSET_64;
}

int pe_create_table_locked(struct uiommu_pe *pe, int num, unsigned int page_shift,
			   uint64_t window_size, unsigned int levels,
			   struct uiommu_tce_table **ret_tbl)
{
	const struct uiommu_table_group *grp = &pe->grp;
	uint64_t bus_offset = num == 0 ? grp->tce32_start : UIOMMU_PE_BUS_OFFSET_64;

	if (page_shift > 63 || !(grp->pgsizes & (1ULL << page_shift))) {
		ctx_guest_error(pe->ctx, "%s: create_table: IOMMU page shift %u not supported",
				grp->name, page_shift);
		return -EINVAL;
	}
	if (levels > grp->max_levels) {
		ctx_guest_error(pe->ctx, "%s: create_table: %u levels, at most %u", grp->name,
				levels, grp->max_levels);
		return -EINVAL;
	}
	/*
	 * A valid geometry reaches fewer than 55 bits of bus address, so the
	 * window fits its TVE from either bus offset: nothing more to check.
	 */
	return uiommu_tce_table_new(pe->ctx, bus_offset, page_shift, window_size, levels, ret_tbl);
}

/* Point TVE @num at @tbl (checked by the caller); the PE takes a reference. */
static int pe_set_tve_locked(struct uiommu_pe *pe, int num, struct uiommu_tce_table *tbl)
{
	struct uiommu_tce_table_info info;
	struct tve *t = &pe->tve[num];
	int other = !num, ret;

	ret = uiommu_tce_table_kill_link(tbl, pe_tce_kill, pe);
	if (ret) {
		if (ret == -ENOSPC)
			ctx_err(pe->ctx, "%s: set_window: table has %u kill links already",
				pe->grp.name, UIOMMU_TCE_KILL_LINKS_MAX);
		return ret == -EEXIST ? -EBUSY : ret;
	}
	/* One TVE (an NVLink bridge): the other window goes, silently (Linux npu-dma.c). */
	if (pe->single_tve && pe->grp.tables[other])
		pe_unset_window_locked(pe, other);
	table_bus_range(tbl, &info, &t->bus_start, &t->bus_last);
	t->page_shift = info.page_shift;
	pe->grp.tables[num] = uiommu_tce_table_ref(tbl);
	atomic_store_explicit(&t->tbl, tbl, memory_order_release);
	/* As pnv_pci_ioda2_tce_invalidate_pe(): nothing cached survives a TVE change. */
	pe_cache_flush(pe);
	return 0;
}

int pe_set_window_locked(struct uiommu_pe *pe, int num, struct uiommu_tce_table *tbl)
{
	const struct uiommu_table_group *grp = &pe->grp;
	struct uiommu_tce_table_info info;
	uint64_t first, last;

	if (!pe->user_owned) {
		ctx_guest_error(pe->ctx, "%s: set_window: owned by the host", grp->name);
		return -EBUSY;
	}
	if (uiommu_tce_table_ctx(tbl) != pe->ctx)
		return -EINVAL;
	table_bus_range(tbl, &info, &first, &last);
	if (!(grp->pgsizes & (1ULL << info.page_shift)) || info.levels > grp->max_levels ||
	    !tve_range_ok(num, first, last)) {
		ctx_guest_error(pe->ctx,
				"%s: set_window %d: table [0x%llx, 0x%llx] of %u-bit pages and %u levels does not fit",
				grp->name, num, (unsigned long long)first,
				(unsigned long long)last, info.page_shift, info.levels);
		return -EINVAL;
	}
	if (grp->tables[num])
		return -EBUSY;
	return pe_set_tve_locked(pe, num, tbl);
}

int pe_unset_window_locked(struct uiommu_pe *pe, int num)
{
	struct uiommu_tce_table *tbl = pe->grp.tables[num];

	if (!tbl)
		return -ENOENT;
	atomic_store_explicit(&pe->tve[num].tbl, NULL, memory_order_release);
	/* No DMA still holds the table after this (the gate), nor a cached entry. */
	pe_cache_flush(pe);
	/* Waits for a grace period: no kill callback of ours runs on it after. */
	uiommu_tce_table_kill_unlink(tbl, pe_tce_kill, pe);
	pe->grp.tables[num] = NULL;
	uiommu_tce_table_unref(tbl);
	return 0;
}

int pe_host_config_locked(struct uiommu_pe *pe)
{
	struct uiommu_tce_table *tbl;
	int ret;

	ret = uiommu_tce_table_new(pe->ctx, pe->grp.tce32_start, pe->ctx->host_page_shift,
				   pe->grp.tce32_size, UIOMMU_PE_DEFAULT_TABLE_LEVELS, &tbl);
	if (ret)
		return ret;
	ret = pe_set_tve_locked(pe, 0, tbl);
	uiommu_tce_table_unref(tbl); /* the PE holds its own */
	if (ret)
		return ret;
	atomic_store_explicit(&pe->bypass, true, memory_order_release);
	return 0;
}

int pe_take_ownership_locked(struct uiommu_pe *pe)
{
	if (pe->user_owned) {
		ctx_guest_error(pe->ctx, "%s: take_ownership: owned by a user already",
				pe->grp.name);
		return -EBUSY;
	}
	atomic_store_explicit(&pe->bypass, false, memory_order_release);
	for (int num = 0; num < UIOMMU_TABLE_GROUP_MAX_TABLES; num++)
		if (pe->grp.tables[num])
			pe_unset_window_locked(pe, num);
	/* The bypass is off for every DMA that starts after this. */
	pe_cache_flush(pe);
	pe->user_owned = true;
	return 0;
}

int pe_release_ownership_locked(struct uiommu_pe *pe)
{
	int ret;

	if (!pe->user_owned) {
		ctx_guest_error(pe->ctx, "%s: release_ownership: not owned by a user",
				pe->grp.name);
		return -EINVAL;
	}
	for (int num = 0; num < UIOMMU_TABLE_GROUP_MAX_TABLES; num++) {
		if (pe->grp.tables[num]) {
			ctx_guest_error(pe->ctx, "%s: release_ownership: window %d still set",
					pe->grp.name, num);
			return -EBUSY;
		}
	}
	ret = pe_host_config_locked(pe);
	if (ret)
		return ret;
	pe->user_owned = false;
	return 0;
}

/* ---- the PE's ops ---- */

static uint64_t pe_op_get_table_size(struct uiommu_table_group *grp, unsigned int page_shift,
				     uint64_t window_size, unsigned int levels)
{
	if (levels > grp->max_levels || page_shift > 63 || !(grp->pgsizes & (1ULL << page_shift)))
		return 0;
	return uiommu_tce_table_size(grp->ctx->host_page_shift, page_shift, window_size, levels);
}

/* Lock a PE for one of its own ops; -EBUSY if it is a compound member. */
static int pe_op_lock(struct uiommu_pe *pe, const char *op)
{
	pthread_mutex_lock(&pe->lock);
	if (pe->compound) {
		pthread_mutex_unlock(&pe->lock);
		ctx_guest_error(pe->ctx, "%s: %s: member of a compound group; use the compound's",
				pe->grp.name, op);
		return -EBUSY;
	}
	return 0;
}

static int pe_op_create_table(struct uiommu_table_group *grp, int num, unsigned int page_shift,
			      uint64_t window_size, unsigned int levels,
			      struct uiommu_tce_table **ret_tbl)
{
	struct uiommu_pe *pe = pe_of(grp);
	int ret = pe_op_lock(pe, "create_table");

	if (ret)
		return ret;
	ret = pe_create_table_locked(pe, num, page_shift, window_size, levels, ret_tbl);
	pthread_mutex_unlock(&pe->lock);
	return ret;
}

static int pe_op_set_window(struct uiommu_table_group *grp, int num, struct uiommu_tce_table *tbl)
{
	struct uiommu_pe *pe = pe_of(grp);
	int ret = pe_op_lock(pe, "set_window");

	if (ret)
		return ret;
	ret = pe_set_window_locked(pe, num, tbl);
	pthread_mutex_unlock(&pe->lock);
	return ret;
}

static int pe_op_unset_window(struct uiommu_table_group *grp, int num)
{
	struct uiommu_pe *pe = pe_of(grp);
	int ret = pe_op_lock(pe, "unset_window");

	if (ret)
		return ret;
	if (!pe->user_owned)
		ret = -EBUSY;
	else
		ret = pe_unset_window_locked(pe, num);
	pthread_mutex_unlock(&pe->lock);
	return ret;
}

static int pe_op_take_ownership(struct uiommu_table_group *grp)
{
	struct uiommu_pe *pe = pe_of(grp);
	int ret = pe_op_lock(pe, "take_ownership");

	if (ret)
		return ret;
	ret = pe_take_ownership_locked(pe);
	pthread_mutex_unlock(&pe->lock);
	return ret;
}

static int pe_op_release_ownership(struct uiommu_table_group *grp)
{
	struct uiommu_pe *pe = pe_of(grp);
	int ret = pe_op_lock(pe, "release_ownership");

	if (ret)
		return ret;
	ret = pe_release_ownership_locked(pe);
	pthread_mutex_unlock(&pe->lock);
	return ret;
}

static int pe_op_eeh(struct uiommu_table_group *grp, unsigned int op,
		     const struct uiommu_eeh_pe_err *err)
{
	struct uiommu_pe *pe = pe_of(grp);
	int ret = pe_op_lock(pe, "eeh_op");

	if (ret)
		return ret;
	ret = pe_eeh_op_locked(pe, op, err);
	pthread_mutex_unlock(&pe->lock);
	return ret;
}

const struct uiommu_table_group_ops pe_table_group_ops = {
	.get_table_size = pe_op_get_table_size,
	.create_table = pe_op_create_table,
	.set_window = pe_op_set_window,
	.unset_window = pe_op_unset_window,
	.take_ownership = pe_op_take_ownership,
	.release_ownership = pe_op_release_ownership,
	.eeh_pe_op = pe_op_eeh,
};
