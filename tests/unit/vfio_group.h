/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A table group of the test's own (the ops table of pe.h is public so that
 * a user can implement one), over the library's TCE tables, whose every op
 * can be made to fail: once, after a number of calls that succeed. It
 * counts its calls and refuses what a platform would (a window set twice,
 * a release with a window still set). Used by the VFIO unit tests and the
 * VFIO fuzz driver, to reach every rollback path.
 */
#ifndef UIOMMU_TEST_VFIO_GROUP_H
#define UIOMMU_TEST_VFIO_GROUP_H

#include <errno.h>
#include <stdbool.h>

#include <uiommu/uiommu.h>

enum vt_op {
	VT_GET_TABLE_SIZE,
	VT_CREATE_TABLE,
	VT_SET_WINDOW,
	VT_UNSET_WINDOW,
	VT_TAKE,
	VT_RELEASE,
	VT_EEH,
	VT_OP_NR
};

struct vt_group {
	struct uiommu_table_group grp;
	unsigned int force_page_shift; /* a platform that ignores the page size asked for */
	int fail[VT_OP_NR];	/* a call of the op returns this (once), */
	unsigned int skip[VT_OP_NR]; /* after this many calls succeed */
	unsigned int calls[VT_OP_NR];
	bool owned;
	int eeh_state;
	unsigned int last_eeh_op;
};

static inline struct vt_group *vt_of(struct uiommu_table_group *grp)
{
	return (struct vt_group *)(void *)grp;
}

static inline int vt_enter(struct uiommu_table_group *grp, enum vt_op op)
{
	struct vt_group *g = vt_of(grp);
	int ret = g->fail[op];

	g->calls[op]++;
	if (ret && g->skip[op]) {
		g->skip[op]--;
		return 0;
	}
	g->fail[op] = 0;
	return ret;
}

static inline uint64_t vt_get_table_size(struct uiommu_table_group *grp, unsigned int page_shift,
					 uint64_t window_size, unsigned int levels)
{
	if (vt_enter(grp, VT_GET_TABLE_SIZE))
		return 0;
	return uiommu_tce_table_size(uiommu_ctx_host_page_shift(grp->ctx), page_shift,
				     window_size, levels);
}

static inline int vt_create_table(struct uiommu_table_group *grp, int num, unsigned int page_shift,
				  uint64_t window_size, unsigned int levels,
				  struct uiommu_tce_table **ret_tbl)
{
	int ret = vt_enter(grp, VT_CREATE_TABLE);

	if (ret)
		return ret;
	if (vt_of(grp)->force_page_shift)
		page_shift = vt_of(grp)->force_page_shift;
	return uiommu_tce_table_new(grp->ctx, num ? UIOMMU_PE_BUS_OFFSET_64 : grp->tce32_start,
				    page_shift, window_size, levels, ret_tbl);
}

/* The same, under another name: a group of another "platform" (incompatible). */
static inline int vt_create_table_other(struct uiommu_table_group *grp, int num,
					unsigned int page_shift, uint64_t window_size,
					unsigned int levels, struct uiommu_tce_table **ret_tbl)
{
	return vt_create_table(grp, num, page_shift, window_size, levels, ret_tbl);
}

static inline int vt_set_window(struct uiommu_table_group *grp, int num,
				struct uiommu_tce_table *tbl)
{
	int ret = vt_enter(grp, VT_SET_WINDOW);

	if (ret)
		return ret;
	if (!vt_of(grp)->owned || grp->tables[num])
		return -EBUSY;
	grp->tables[num] = uiommu_tce_table_ref(tbl);
	return 0;
}

static inline int vt_unset_window(struct uiommu_table_group *grp, int num)
{
	int ret = vt_enter(grp, VT_UNSET_WINDOW);

	if (ret)
		return ret;
	if (!grp->tables[num])
		return -ENOENT;
	grp->tables[num] = uiommu_tce_table_unref(grp->tables[num]);
	return 0;
}

static inline int vt_take(struct uiommu_table_group *grp)
{
	int ret = vt_enter(grp, VT_TAKE);

	if (ret)
		return ret;
	if (vt_of(grp)->owned)
		return -EBUSY;
	vt_of(grp)->owned = true;
	return 0;
}

static inline int vt_release(struct uiommu_table_group *grp)
{
	int ret = vt_enter(grp, VT_RELEASE);

	if (ret)
		return ret;
	if (!vt_of(grp)->owned)
		return -EINVAL;
	if (grp->tables[0] || grp->tables[1])
		return -EBUSY;
	vt_of(grp)->owned = false;
	return 0;
}

static inline int vt_eeh(struct uiommu_table_group *grp, unsigned int op,
			 const struct uiommu_eeh_pe_err *err)
{
	int ret = vt_enter(grp, VT_EEH);

	(void)err;
	if (ret)
		return ret;
	vt_of(grp)->last_eeh_op = op;
	return op == UIOMMU_EEH_PE_GET_STATE ? vt_of(grp)->eeh_state : 0;
}

static const struct uiommu_table_group_ops vt_ops = {
	.get_table_size = vt_get_table_size,
	.create_table = vt_create_table,
	.set_window = vt_set_window,
	.unset_window = vt_unset_window,
	.take_ownership = vt_take,
	.release_ownership = vt_release,
	.eeh_pe_op = vt_eeh,
};

static const struct uiommu_table_group_ops vt_ops_other = {
	.get_table_size = vt_get_table_size,
	.create_table = vt_create_table_other,
	.set_window = vt_set_window,
	.unset_window = vt_unset_window,
	.take_ownership = vt_take,
	.release_ownership = vt_release,
	.eeh_pe_op = vt_eeh,
};

#endif /* UIOMMU_TEST_VFIO_GROUP_H */
