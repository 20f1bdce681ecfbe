// SPDX-License-Identifier: BSD-3-Clause
/*
 * DMA windows of a container, with the semantics of Linux
 * drivers/vfio/vfio_iommu_spapr_tce.c: tce_iommu_create_table(),
 * tce_iommu_create_window(), tce_iommu_remove_window(),
 * tce_iommu_create_default_window(), tce_iommu_find_table(),
 * tce_iommu_take_ownership() and tce_iommu_release_ownership() (which set
 * and unset the container's windows on one group). Where we differ,
 * uiommu/vfio.h says so.
 */
#include "vfio.h"

int vfio_find_window(const struct uiommu_vfio_container *c, uint64_t ioba)
{
	for (int num = 0; num < UIOMMU_TABLE_GROUP_MAX_TABLES; num++) {
		const struct vfio_window *w = &c->win[num];

		if (w->tbl && ioba >= w->bus_offset && ioba <= w->bus_last)
			return num;
	}
	return -1;
}

void vfio_window_free_locked(struct uiommu_vfio_container *c, int num)
{
	struct vfio_window *w = &c->win[num];

	uiommu_tce_table_unref(w->tbl);
	ctx_uncharge(c->ctx, UIOMMU_RES_LOCKED_BYTES, w->charged);
	*w = (struct vfio_window){ 0 };
}

int vfio_windows_set_on(struct uiommu_vfio_container *c, struct uiommu_table_group *grp)
{
	int num, ret = 0;

	for (num = 0; num < UIOMMU_TABLE_GROUP_MAX_TABLES; num++) {
		if (!c->win[num].tbl)
			continue;
		ret = uiommu_table_group_set_window(grp, num, c->win[num].tbl);
		if (ret)
			break;
	}
	if (!ret)
		return 0;
	ctx_guest_error(c->ctx, "vfio: window %d cannot be set on group %s: %s", num, grp->name,
			uiommu_strerror(ret));
	/* Fixed: Linux unsets every window number, also those never set here. */
	while (--num >= 0)
		if (c->win[num].tbl)
			uiommu_table_group_unset_window(grp, num);
	return ret;
}

void vfio_windows_unset_on(struct uiommu_vfio_container *c, struct uiommu_table_group *grp)
{
	for (int num = 0; num < UIOMMU_TABLE_GROUP_MAX_TABLES; num++) {
		int ret;

		if (!c->win[num].tbl)
			continue;
		vfio_clear_window_locked(c, num);
		ret = uiommu_table_group_unset_window(grp, num);
		if (ret)
			ctx_err(c->ctx, "vfio: window %d of group %s cannot be unset: %s", num,
				grp->name, uiommu_strerror(ret));
	}
}

int vfio_create_window_locked(struct uiommu_vfio_container *c, unsigned int page_shift,
			      uint64_t window_size, unsigned int levels, uint64_t *ret_start)
{
	struct uiommu_table_group *grp = vfio_first_group(c);
	const struct uiommu_table_group_ops *ops = grp->ops;
	struct uiommu_tce_table_info info = { .size = sizeof(info) };
	struct uiommu_tce_table *tbl = NULL;
	struct vfio_group_link *l;
	struct vfio_window *w;
	uint64_t table_size;
	int num, ret;

	for (num = 0; num < UIOMMU_TABLE_GROUP_MAX_TABLES && c->win[num].tbl; num++)
		;
	if (num == UIOMMU_TABLE_GROUP_MAX_TABLES)
		return -ENOSPC;
	/* A shift past 63 would be undefined in C (Linux shifts a u32 unchecked). */
	if (page_shift > 63 || !(grp->pgsizes & (1ULL << page_shift))) {
		ctx_guest_error(c->ctx, "vfio: TCE_CREATE: page shift %u is not supported by %s",
				page_shift, grp->name);
		return -EINVAL;
	}
	if (!ops->set_window || !ops->unset_window || !ops->get_table_size || !ops->create_table)
		return -EPERM;
	table_size = uiommu_table_group_get_table_size(grp, page_shift, window_size, levels);
	if (!table_size) {
		ctx_guest_error(c->ctx, "vfio: TCE_CREATE: no table of %u levels of 2^%u pages "
				"for a 0x%llx window", levels, page_shift,
				(unsigned long long)window_size);
		return -EINVAL;
	}
	ret = ctx_charge(c->ctx, UIOMMU_RES_LOCKED_BYTES, table_size);
	if (ret) {
		ctx_warn(c->ctx, "vfio: TCE_CREATE refused: the %s limit (a table of %llu bytes)",
			 uiommu_resource_name(UIOMMU_RES_LOCKED_BYTES),
			 (unsigned long long)table_size);
		return ret;
	}
	ret = uiommu_table_group_create_table(grp, num, page_shift, window_size, levels, &tbl);
	if (ret) {
		/* Fixed: Linux keeps the charge when create_table fails. */
		ctx_uncharge(c->ctx, UIOMMU_RES_LOCKED_BYTES, table_size);
		return ret;
	}
	uiommu_tce_table_info(tbl, &info);
	/* Program the table into every group (compatible: checked at attach). */
	for (l = c->tce_groups; l; l = l->tce_next) {
		ret = uiommu_table_group_set_window(l->grp, num, tbl);
		if (ret)
			break;
	}
	if (ret) {
		ctx_guest_error(c->ctx, "vfio: TCE_CREATE: window %d cannot be set on group %s: %s",
				num, l->grp->name, uiommu_strerror(ret));
		/* Fixed: Linux unsets the window on every group, also those after the failure. */
		for (struct vfio_group_link *u = c->tce_groups; u != l; u = u->tce_next)
			uiommu_table_group_unset_window(u->grp, num);
		uiommu_tce_table_unref(tbl);
		ctx_uncharge(c->ctx, UIOMMU_RES_LOCKED_BYTES, table_size);
		return ret;
	}
	w = &c->win[num];
	w->tbl = tbl;
	w->bus_offset = info.bus_offset;
	w->bus_last = info.bus_offset + ((info.it_size << info.page_shift) - 1);
	w->it_offset = info.it_offset;
	w->page_shift = info.page_shift;
	w->levels = info.levels;
	w->charged = table_size;
	*ret_start = info.it_offset << info.page_shift;
	return 0;
}

int vfio_default_window_locked(struct uiommu_vfio_container *c)
{
	struct uiommu_table_group *grp;
	uint64_t start = 0;
	int ret;

	if (!c->def_window_pending)
		return 0;
	grp = vfio_first_group(c);
	ret = vfio_create_window_locked(c, UIOMMU_FRAME_SHIFT, grp->tce32_size, 1, &start);
	if (ret)
		return ret;
	if (start)
		ctx_warn(c->ctx, "vfio: the default window of %s starts at 0x%llx, not 0",
			 grp->name, (unsigned long long)start);
	c->def_window_pending = false;
	return 0;
}

UIOMMU_EXPORT int uiommu_vfio_create_window(struct uiommu_vfio_container *c,
					    unsigned int page_shift, uint64_t window_size,
					    unsigned int levels, uint64_t *ret_start_addr)
{
	uint64_t start;
	int ret;

	if (!c || !ret_start_addr)
		return -EINVAL;
	ret = vfio_lock_v2(c, true);
	if (!ret)
		ret = vfio_default_window_locked(c);
	if (!ret)
		ret = vfio_create_window_locked(c, page_shift, window_size, levels, &start);
	vfio_wrunlock(c);
	if (!ret)
		*ret_start_addr = start;
	return ret;
}

UIOMMU_EXPORT int uiommu_vfio_remove_window(struct uiommu_vfio_container *c, uint64_t start_addr)
{
	int num, ret;

	if (!c)
		return -EINVAL;
	ret = vfio_lock_v2(c, true);
	if (ret)
		goto out;
	/*
	 * Removing the default window before it exists: just do not create it.
	 * Linux knows it only by bus address 0 (powernv's tce32_start); the
	 * address GET_INFO reports, where QEMU removes it, is taken too.
	 */
	if (c->def_window_pending &&
	    (!start_addr || start_addr == vfio_first_group(c)->tce32_start)) {
		c->def_window_pending = false;
		goto out;
	}
	num = vfio_find_window(c, start_addr);
	if (num < 0) {
		ctx_guest_error(c->ctx, "vfio: TCE_REMOVE: no window at 0x%llx",
				(unsigned long long)start_addr);
		ret = -EINVAL;
		goto out;
	}
	/* Fixed: Linux finds a group without unset_window after clearing the window. */
	for (struct vfio_group_link *l = c->tce_groups; l; l = l->tce_next) {
		if (!l->grp->ops->unset_window) {
			ret = -EPERM;
			goto out;
		}
	}
	/* v6.11: clear the TCEs first, then unset the window. */
	vfio_clear_window_locked(c, num);
	for (struct vfio_group_link *l = c->tce_groups; l; l = l->tce_next) {
		int err = uiommu_table_group_unset_window(l->grp, num);

		if (err)
			ctx_err(c->ctx, "vfio: window %d of group %s cannot be unset: %s", num,
				l->grp->name, uiommu_strerror(err));
	}
	vfio_window_free_locked(c, num);
out:
	vfio_wrunlock(c);
	return ret;
}
