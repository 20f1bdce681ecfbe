// SPDX-License-Identifier: BSD-3-Clause
/*
 * Compound IOMMU groups: one table group over up to 16 PEs (GPU PEs and
 * the NVLink bridge PEs linked to them), as Linux's struct npu_comp and
 * pnv_npu_peers_ops (arch/powerpc/platforms/powernv/npu-dma.c, from
 * "powerpc/powernv/npu: Add compound IOMMU groups", removed in v5.13 with
 * the NVLink support).
 *
 * Every op takes the compound's lock, then each member's in turn, and
 * calls the member's op on the locked PE. Where the reference's rollback
 * overwrote the first error (so a failed set_window reported success) or
 * had none (take/release_ownership were void), we keep the first error and
 * restore every member that changed; doc/design/pe.md has the table.
 */
#include <string.h>

#include "pe.h"

static struct uiommu_compound *comp_of(struct uiommu_table_group *grp)
{
	return container_of(grp, struct uiommu_compound, grp);
}

/* Lock the compound for an op that needs members; -ENODEV if it has none. */
static int comp_lock(struct uiommu_compound *comp)
{
	pthread_mutex_lock(&comp->lock);
	if (!comp->npes) {
		pthread_mutex_unlock(&comp->lock);
		return -ENODEV;
	}
	return 0;
}

static uint64_t comp_op_get_table_size(struct uiommu_table_group *grp, unsigned int page_shift,
				       uint64_t window_size, unsigned int levels)
{
	return pe_table_group_ops.get_table_size(grp, page_shift, window_size, levels);
}

static int comp_op_create_table(struct uiommu_table_group *grp, int num, unsigned int page_shift,
				uint64_t window_size, unsigned int levels,
				struct uiommu_tce_table **ret_tbl)
{
	struct uiommu_compound *comp = comp_of(grp);
	struct uiommu_pe *pe;
	int ret = comp_lock(comp);

	if (ret)
		return ret;
	/* The table must suit every member: the compound's capabilities first. */
	if (page_shift > 63 || !(grp->pgsizes & (1ULL << page_shift)) || levels > grp->max_levels) {
		pthread_mutex_unlock(&comp->lock);
		ctx_guest_error(comp->ctx, "%s: create_table: %u-bit pages or %u levels not supported",
				grp->name, page_shift, levels);
		return -EINVAL;
	}
	/* Created once, by the first member (pnv_npu_peers_create_table_userspace()). */
	pe = comp->pe[0];
	pthread_mutex_lock(&pe->lock);
	ret = pe_create_table_locked(pe, num, page_shift, window_size, levels, ret_tbl);
	pthread_mutex_unlock(&pe->lock);
	pthread_mutex_unlock(&comp->lock);
	return ret;
}

/*
 * Put member @pe's windows back as @prev (its tables[] before an op that
 * changed window @num): unset @num, set what a single TVE dropped.
 */
static void member_restore(struct uiommu_compound *comp, struct uiommu_pe *pe, int num,
			   struct uiommu_tce_table *const prev[UIOMMU_TABLE_GROUP_MAX_TABLES])
{
	for (int w = 0; w < UIOMMU_TABLE_GROUP_MAX_TABLES; w++) {
		int ret = 0;

		if (pe->grp.tables[w] == prev[w])
			continue;
		if (pe->grp.tables[w])
			ret = pe_unset_window_locked(pe, w);
		if (!ret && prev[w])
			ret = pe_set_window_locked(pe, w, prev[w]);
		if (ret)
			ctx_err(comp->ctx, "%s: rollback of window %d on member %s failed: %s",
				comp->grp.name, num, pe->grp.name, uiommu_strerror(ret));
	}
}

static int comp_op_set_window(struct uiommu_table_group *grp, int num, struct uiommu_tce_table *tbl)
{
	struct uiommu_compound *comp = comp_of(grp);
	struct uiommu_tce_table *prev[UIOMMU_COMPOUND_MAX_PES][UIOMMU_TABLE_GROUP_MAX_TABLES];
	unsigned int i;
	int ret = comp_lock(comp);

	if (ret)
		return ret;
	if (!comp->user_owned || grp->tables[num]) {
		pthread_mutex_unlock(&comp->lock);
		return -EBUSY;
	}
	for (i = 0; i < comp->npes; i++) {
		struct uiommu_pe *pe = comp->pe[i];

		pthread_mutex_lock(&pe->lock);
		memcpy(prev[i], pe->grp.tables, sizeof(prev[i]));
		ret = pe_set_window_locked(pe, num, tbl);
		pthread_mutex_unlock(&pe->lock);
		if (ret)
			break;
	}
	if (ret) {
		/* Keep the first error; restore every member changed (the failing one left nothing). */
		ctx_guest_error(comp->ctx, "%s: set_window %d failed on member %s (%s): rolled back",
				grp->name, num, comp->pe[i]->grp.name, uiommu_strerror(ret));
		while (i--) {
			struct uiommu_pe *pe = comp->pe[i];

			pthread_mutex_lock(&pe->lock);
			member_restore(comp, pe, num, prev[i]);
			pthread_mutex_unlock(&pe->lock);
		}
	} else {
		grp->tables[num] = uiommu_tce_table_ref(tbl); /* the compound's own */
	}
	pthread_mutex_unlock(&comp->lock);
	return ret;
}

static int comp_op_unset_window(struct uiommu_table_group *grp, int num)
{
	struct uiommu_compound *comp = comp_of(grp);
	struct uiommu_tce_table *tbl;
	int ret = comp_lock(comp);

	if (ret)
		return ret;
	tbl = grp->tables[num];
	if (!comp->user_owned || !tbl) {
		pthread_mutex_unlock(&comp->lock);
		return !tbl && comp->user_owned ? -ENOENT : -EBUSY;
	}
	/*
	 * A member's unset of a set window cannot fail (Linux's can, in OPAL,
	 * and re-sets the members before it): no rollback is needed. A
	 * single-TVE member may have dropped the window when its other one
	 * was set; it is skipped.
	 */
	for (unsigned int i = 0; i < comp->npes; i++) {
		struct uiommu_pe *pe = comp->pe[i];

		pthread_mutex_lock(&pe->lock);
		if (pe->grp.tables[num])
			pe_unset_window_locked(pe, num);
		pthread_mutex_unlock(&pe->lock);
	}
	grp->tables[num] = NULL;
	uiommu_tce_table_unref(tbl);
	pthread_mutex_unlock(&comp->lock);
	return 0;
}

/* Take (or release) every member's ownership; undo the done ones on failure. */
static int comp_ownership(struct uiommu_compound *comp, bool take)
{
	int (*const op)(struct uiommu_pe *) =
		take ? pe_take_ownership_locked : pe_release_ownership_locked;
	int (*const undo)(struct uiommu_pe *) =
		take ? pe_release_ownership_locked : pe_take_ownership_locked;
	unsigned int i;
	int ret = 0;

	for (i = 0; i < comp->npes; i++) {
		pthread_mutex_lock(&comp->pe[i]->lock);
		ret = op(comp->pe[i]);
		pthread_mutex_unlock(&comp->pe[i]->lock);
		if (ret)
			break;
	}
	if (!ret) {
		comp->user_owned = take;
		return 0;
	}
	ctx_err(comp->ctx, "%s: %s_ownership failed on member %s (%s): rolled back",
		comp->grp.name, take ? "take" : "release", comp->pe[i]->grp.name,
		uiommu_strerror(ret));
	while (i--) {
		int r;

		pthread_mutex_lock(&comp->pe[i]->lock);
		r = undo(comp->pe[i]);
		pthread_mutex_unlock(&comp->pe[i]->lock);
		if (r)
			ctx_err(comp->ctx, "%s: ownership rollback on member %s failed: %s",
				comp->grp.name, comp->pe[i]->grp.name, uiommu_strerror(r));
	}
	return ret;
}

static int comp_op_take_ownership(struct uiommu_table_group *grp)
{
	struct uiommu_compound *comp = comp_of(grp);
	int ret = comp_lock(comp);

	if (ret)
		return ret;
	if (comp->user_owned) {
		ctx_guest_error(comp->ctx, "%s: take_ownership: owned by a user already", grp->name);
		ret = -EBUSY;
	} else {
		ret = comp_ownership(comp, true);
	}
	pthread_mutex_unlock(&comp->lock);
	return ret;
}

static int comp_op_release_ownership(struct uiommu_table_group *grp)
{
	struct uiommu_compound *comp = comp_of(grp);
	int ret = comp_lock(comp);

	if (ret)
		return ret;
	if (!comp->user_owned) {
		ctx_guest_error(comp->ctx, "%s: release_ownership: not owned by a user", grp->name);
		ret = -EINVAL;
	} else if (grp->tables[0] || grp->tables[1]) {
		ctx_guest_error(comp->ctx, "%s: release_ownership: a window is still set", grp->name);
		ret = -EBUSY;
	} else {
		ret = comp_ownership(comp, false);
	}
	pthread_mutex_unlock(&comp->lock);
	return ret;
}

/* Severity of an EEH state, for the compound's GET_STATE. */
static unsigned int eeh_severity(unsigned int state)
{
	switch (state) {
	case UIOMMU_EEH_PE_STATE_NORMAL:
		return 0;
	case UIOMMU_EEH_PE_STATE_STOPPED_DMA:
		return 1;
	case UIOMMU_EEH_PE_STATE_UNAVAIL:
		return 2;
	case UIOMMU_EEH_PE_STATE_STOPPED:
		return 3;
	default:
		return 4; /* reset */
	}
}

static int comp_op_eeh(struct uiommu_table_group *grp, unsigned int op,
		       const struct uiommu_eeh_pe_err *err)
{
	struct uiommu_compound *comp = comp_of(grp);
	unsigned int worst = UIOMMU_EEH_PE_STATE_NORMAL;
	int ret = comp_lock(comp);

	if (ret)
		return ret;
	for (unsigned int i = 0; i < comp->npes && !ret; i++) {
		struct uiommu_pe *pe = comp->pe[i];

		pthread_mutex_lock(&pe->lock);
		ret = pe_eeh_op_locked(pe, op, err);
		pthread_mutex_unlock(&pe->lock);
		if (op == UIOMMU_EEH_PE_GET_STATE && ret >= 0) {
			if (eeh_severity((unsigned int)ret) > eeh_severity(worst))
				worst = (unsigned int)ret;
			ret = 0;
		}
	}
	pthread_mutex_unlock(&comp->lock);
	if (!ret && op == UIOMMU_EEH_PE_GET_STATE)
		return (int)worst;
	return ret;
}

static const struct uiommu_table_group_ops comp_table_group_ops = {
	.get_table_size = comp_op_get_table_size,
	.create_table = comp_op_create_table,
	.set_window = comp_op_set_window,
	.unset_window = comp_op_unset_window,
	.take_ownership = comp_op_take_ownership,
	.release_ownership = comp_op_release_ownership,
	.eeh_pe_op = comp_op_eeh,
};

/* ---- creation and membership ---- */

UIOMMU_EXPORT int uiommu_compound_new(struct uiommu_ctx *ctx, struct uiommu_compound **ret_comp)
{
	struct uiommu_compound *comp;
	int ret;

	if (!ctx || !ret_comp)
		return -EINVAL;
	ret = ctx_charge(ctx, UIOMMU_RES_TABLE_GROUPS, 1);
	if (ret) {
		ctx_guest_error(ctx, "compound group refused: the %s limit",
				uiommu_resource_name(UIOMMU_RES_TABLE_GROUPS));
		return ret;
	}
	comp = ctx_alloc(ctx, sizeof(*comp));
	if (!comp) {
		ctx_uncharge(ctx, UIOMMU_RES_TABLE_GROUPS, 1);
		return -ENOMEM;
	}
	comp->ctx = ctx;
	uiommu_table_group_init(&comp->grp, ctx, &comp_table_group_ops, 0, 0);
	strcpy(comp->grp.name, "(empty compound)");
	pthread_mutex_init(&comp->lock, NULL);
	*ret_comp = comp;
	return 0;
}

/* Fold member @pe's capabilities into the compound's; -EINVAL if they clash. */
static int comp_caps(struct uiommu_compound *comp, const struct uiommu_pe *pe)
{
	struct uiommu_table_group *c = &comp->grp;
	const struct uiommu_table_group *p = &pe->grp;
	bool gpu = !pe->single_tve;

	if (!comp->npes) {
		if (!gpu) {
			ctx_guest_error(comp->ctx, "%s: an NVLink bridge PE joins its GPU's compound: attach a GPU PE first",
					p->name);
			return -EINVAL;
		}
		/* The compound is registered under its first GPU PE (pnv_try_setup_npu_table_group()). */
		c->domain = p->domain;
		c->pe_number = p->pe_number;
		memcpy(c->name, p->name, sizeof(c->name));
		c->tce32_start = p->tce32_start;
		c->tce32_size = p->tce32_size;
		c->pgsizes = p->pgsizes;
		c->max_levels = p->max_levels;
		c->max_dynamic_windows_supported = p->max_dynamic_windows_supported;
		return 0;
	}
	if (gpu && (p->tce32_start != c->tce32_start || p->tce32_size != c->tce32_size)) {
		ctx_guest_error(comp->ctx, "%s: GPU PE %s has another 32-bit window", c->name, p->name);
		return -EINVAL;
	}
	if (!(c->pgsizes & p->pgsizes)) {
		ctx_guest_error(comp->ctx, "%s: PE %s has no IOMMU page size in common", c->name,
				p->name);
		return -EINVAL;
	}
	c->pgsizes &= p->pgsizes;
	c->max_levels = MIN(c->max_levels, p->max_levels);
	c->max_dynamic_windows_supported =
		MIN(c->max_dynamic_windows_supported, p->max_dynamic_windows_supported);
	return 0;
}

UIOMMU_EXPORT int uiommu_compound_attach(struct uiommu_compound *comp, struct uiommu_pe *pe)
{
	int ret;

	if (!comp || !pe || pe->ctx != comp->ctx)
		return -EINVAL;
	pthread_mutex_lock(&comp->lock);
	pthread_mutex_lock(&pe->lock);
	if (comp->user_owned || pe->user_owned || pe->compound) {
		ret = -EBUSY;
	} else if (comp->npes == UIOMMU_COMPOUND_MAX_PES) {
		/* Linux WARNs and ignores the member: we refuse it. */
		ctx_guest_error(comp->ctx, "%s: PE %s refused: %u members already (NV_NPU_MAX_PE_NUM)",
				comp->grp.name, pe->grp.name, UIOMMU_COMPOUND_MAX_PES);
		ret = -ENOSPC;
	} else {
		ret = comp_caps(comp, pe);
		if (!ret) {
			pe->compound = comp;
			comp->pe[comp->npes++] = pe;
		}
	}
	pthread_mutex_unlock(&pe->lock);
	pthread_mutex_unlock(&comp->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_compound_free(struct uiommu_compound *comp)
{
	struct uiommu_ctx *ctx;

	if (!comp)
		return 0;
	pthread_mutex_lock(&comp->lock);
	if (comp->user_owned) {
		pthread_mutex_unlock(&comp->lock);
		return -EBUSY;
	}
	for (unsigned int i = 0; i < comp->npes; i++) {
		pthread_mutex_lock(&comp->pe[i]->lock);
		comp->pe[i]->compound = NULL;
		pthread_mutex_unlock(&comp->pe[i]->lock);
	}
	pthread_mutex_unlock(&comp->lock);
	pthread_mutex_destroy(&comp->lock);
	ctx = comp->ctx;
	ctx_free(ctx, comp);
	ctx_uncharge(ctx, UIOMMU_RES_TABLE_GROUPS, 1);
	return 0;
}

UIOMMU_EXPORT struct uiommu_table_group *uiommu_compound_table_group(struct uiommu_compound *comp)
{
	return &comp->grp;
}

UIOMMU_EXPORT struct uiommu_pe *uiommu_compound_member(struct uiommu_compound *comp,
							unsigned int i)
{
	return i < comp->npes ? comp->pe[i] : NULL;
}

struct uiommu_table_group *pe_iommu_group(struct uiommu_pe *pe)
{
	struct uiommu_compound *comp = pe->compound;

	return comp ? &comp->grp : &pe->grp;
}
