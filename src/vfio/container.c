// SPDX-License-Identifier: BSD-3-Clause
/*
 * Containers and their groups, with the semantics of Linux
 * drivers/vfio/container.c and group.c (vfio_container_attach_group(),
 * vfio_group_detach_container(), vfio_ioctl_set_iommu(),
 * vfio_container_ioctl_check_extension()) and of the sPAPR TCE IOMMU
 * driver drivers/vfio/vfio_iommu_spapr_tce.c (tce_iommu_open(),
 * tce_iommu_release(), tce_iommu_attach_group(), tce_iommu_detach_group(),
 * tce_iommu_enable(), tce_iommu_disable(), tce_iommu_mm_set(), GET_INFO,
 * EEH). Where we differ, uiommu/vfio.h says so.
 */
#include <string.h>

#include "vfio.h"

/* ---- the context's registry of containers ---- */

static void vfio_state_fini(void *owner, void *state)
{
	struct vfio_state *vs = state;

	pthread_mutex_destroy(&vs->lock);
	ctx_free(owner, vs);
}

static struct vfio_state *vfio_state_get(struct uiommu_ctx *ctx)
{
	struct vfio_state *vs = ext_get(&ctx->ext[CTX_EXT_VFIO]), *won;

	if (vs)
		return vs;
	vs = ctx_alloc(ctx, sizeof(*vs));
	if (!vs)
		return NULL;
	pthread_mutex_init(&vs->lock, NULL);
	won = ext_install(&ctx->ext[CTX_EXT_VFIO], vs, vfio_state_fini);
	if (won != vs)
		vfio_state_fini(ctx, vs);
	return won;
}

/* The link of @grp in any container of @vs, or NULL; under vs->lock. */
static struct vfio_group_link *group_find_locked(struct vfio_state *vs,
						 struct uiommu_table_group *grp,
						 struct uiommu_vfio_container **ret_c)
{
	for (struct uiommu_vfio_container *c = vs->containers; c; c = c->next)
		for (struct vfio_group_link *l = c->groups; l; l = l->next)
			if (l->grp == grp) {
				*ret_c = c;
				return l;
			}
	return NULL;
}

/* ---- the checks every IOMMU request starts with ---- */

int vfio_iommu_check(struct uiommu_vfio_container *c)
{
	if (!c->type)
		return -EINVAL;
	/* Linux: "prevent one userspace from manipulating another userspace mm". */
	if (c->mm && c->mm != uiommu_mm_current(c->ctx))
		return -EPERM;
	return 0;
}

int vfio_mm_set(struct uiommu_vfio_container *c)
{
	struct uiommu_mm *cur = NULL;
	int ret = mm_current(c->ctx, &cur);

	if (c->mm)
		return c->mm == cur ? 0 : -EPERM;
	if (ret) /* -EPERM: a fork() child has no address space in this context */
		return ret;
	mm_hold(cur);
	c->mm = cur;
	return 0;
}

int vfio_lock_v2(struct uiommu_vfio_container *c, bool bind)
{
	int ret;

	pthread_rwlock_wrlock(&c->lock);
	ret = vfio_iommu_check(c);
	if (!ret && !c->v2)
		ret = -ENOTTY;
	if (!ret && bind)
		ret = vfio_mm_set(c);
	return ret;
}

struct uiommu_table_group *vfio_first_group(struct uiommu_vfio_container *c)
{
	return c->tce_groups ? c->tce_groups->grp : NULL;
}

/* ---- the IOMMU's attach and detach (tce_iommu_attach_group/detach_group) ---- */

static int iommu_attach_locked(struct uiommu_vfio_container *c, struct vfio_group_link *link)
{
	struct uiommu_table_group *grp = link->grp;
	int ret;

	/* v2 requires full support of dynamic DMA windows. */
	if (c->v2 && grp->max_dynamic_windows_supported == 0) {
		ctx_guest_error(c->ctx, "vfio: group %s has no dynamic DMA windows (v2)", grp->name);
		return -EINVAL;
	}
	/* v1 does not share its tables among PEs. */
	if (!c->v2 && c->tce_groups) {
		ctx_guest_error(c->ctx, "vfio: a v1 container takes one group (%s refused)",
				grp->name);
		return -EBUSY;
	}
	for (struct vfio_group_link *l = c->tce_groups; l; l = l->tce_next) {
		if (l->grp->ops->create_table != grp->ops->create_table) {
			ctx_guest_error(c->ctx, "vfio: group %s is incompatible with group %s",
					grp->name, l->grp->name);
			return -EPERM;
		}
	}
	ret = vfio_windows_set_on(c, grp);
	if (ret)
		return ret;
	/* Fixed: Linux marks the default window pending even after a failed attach. */
	if (!c->tce_groups && !c->win[0].tbl)
		c->def_window_pending = true;
	link->attached = true;
	link->tce_next = c->tce_groups;
	c->tce_groups = link;
	return 0;
}

static void iommu_detach_locked(struct uiommu_vfio_container *c, struct vfio_group_link *link)
{
	struct vfio_group_link **pp = &c->tce_groups;

	while (*pp && *pp != link)
		pp = &(*pp)->tce_next;
	if (!*pp)
		return;
	*pp = link->tce_next;
	link->attached = false;
	link->tce_next = NULL;
	/* v6.11 order: every TCE cleared, then the window unset. */
	vfio_windows_unset_on(c, link->grp);
}

/* tce_iommu_release(): the last group left; the container is as new. */
static void iommu_release_locked(struct uiommu_vfio_container *c)
{
	for (int num = 0; num < UIOMMU_TABLE_GROUP_MAX_TABLES; num++)
		if (c->win[num].tbl)
			vfio_window_free_locked(c, num);
	vfio_prereg_release_locked(c);
	if (c->enabled && c->enable_charge)
		ctx_uncharge(c->ctx, UIOMMU_RES_LOCKED_BYTES, c->enable_charge);
	c->enable_charge = 0;
	c->enabled = false;
	c->def_window_pending = false;
	if (c->mm)
		mm_unhold(c->mm);
	c->mm = NULL;
	c->type = 0;
	c->v2 = false;
}

/* vfio_group_detach_container(): under vs->lock and c->lock exclusively. */
static int group_detach_locked(struct uiommu_vfio_container *c, struct vfio_group_link *link)
{
	struct vfio_group_link **pp = &c->groups;
	struct uiommu_table_group *grp = link->grp;
	int ret;

	if (link->attached)
		iommu_detach_locked(c, link);
	while (*pp != link)
		pp = &(*pp)->next;
	*pp = link->next;
	c->ngroups--;
	ctx_free(c->ctx, link);
	ret = uiommu_table_group_release_ownership(grp);
	if (ret)
		ctx_err(c->ctx, "vfio: group %s left its container but stays owned by the user: %s",
			grp->name, uiommu_strerror(ret));
	if (!c->groups && c->type)
		iommu_release_locked(c);
	return ret;
}

/* ---- public: containers ---- */

UIOMMU_EXPORT int uiommu_vfio_container_new(struct uiommu_ctx *ctx,
					    struct uiommu_vfio_container **ret_container)
{
	struct uiommu_vfio_container *c;
	struct vfio_state *vs;
	pthread_rwlockattr_t attr;
	int ret;

	if (!ctx || !ret_container)
		return -EINVAL;
	vs = vfio_state_get(ctx);
	if (!vs)
		return -ENOMEM;
	ret = ctx_charge(ctx, UIOMMU_RES_VFIO_CONTAINERS, 1);
	if (ret) {
		ctx_warn(ctx, "vfio: container refused: the %s limit",
			 uiommu_resource_name(UIOMMU_RES_VFIO_CONTAINERS));
		return ret;
	}
	c = ctx_alloc(ctx, sizeof(*c));
	if (!c) {
		ctx_uncharge(ctx, UIOMMU_RES_VFIO_CONTAINERS, 1);
		return -ENOMEM;
	}
	c->ctx = ctx;
	/* Writers first: a stream of MAP_DMA calls must not starve a TCE_REMOVE. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&c->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	for (unsigned int i = 0; i < VFIO_STRIPES; i++)
		pthread_mutex_init(&c->stripe[i], NULL);
	pthread_mutex_lock(&vs->lock);
	c->next = vs->containers;
	vs->containers = c;
	pthread_mutex_unlock(&vs->lock);
	*ret_container = c;
	return 0;
}

UIOMMU_EXPORT int uiommu_vfio_container_free(struct uiommu_vfio_container *c)
{
	struct uiommu_ctx *ctx;
	struct vfio_state *vs;
	struct uiommu_vfio_container **pp;
	int ret = 0;

	if (!c)
		return 0;
	ctx = c->ctx;
	vs = ext_get(&ctx->ext[CTX_EXT_VFIO]);
	pthread_mutex_lock(&vs->lock);
	pthread_rwlock_wrlock(&c->lock);
	while (c->groups) {
		int err = group_detach_locked(c, c->groups);

		if (err && !ret)
			ret = err;
	}
	pthread_rwlock_unlock(&c->lock);
	for (pp = &vs->containers; *pp != c; pp = &(*pp)->next)
		;
	*pp = c->next;
	pthread_mutex_unlock(&vs->lock);

	for (unsigned int i = 0; i < VFIO_STRIPES; i++)
		pthread_mutex_destroy(&c->stripe[i]);
	pthread_rwlock_destroy(&c->lock);
	ctx_free(ctx, c);
	ctx_uncharge(ctx, UIOMMU_RES_VFIO_CONTAINERS, 1);
	return ret;
}

/* ---- public: groups ---- */

UIOMMU_EXPORT int uiommu_vfio_group_set_container(struct uiommu_table_group *grp,
						  struct uiommu_vfio_container *c)
{
	struct uiommu_vfio_container *other;
	struct vfio_group_link *link;
	struct vfio_state *vs;
	int ret;

	if (!grp || !c || grp->ctx != c->ctx)
		return -EINVAL;
	vs = ext_get(&c->ctx->ext[CTX_EXT_VFIO]);
	pthread_mutex_lock(&vs->lock);
	if (group_find_locked(vs, grp, &other)) {
		ret = -EINVAL; /* Linux: the group has an IOMMU already */
		goto out_unlock;
	}
	link = ctx_alloc(c->ctx, sizeof(*link));
	if (!link) {
		ret = -ENOMEM;
		goto out_unlock;
	}
	link->grp = grp;
	pthread_rwlock_wrlock(&c->lock);
	/* Linux iommu_group_claim_dma_owner(): the host's DMA setup goes. */
	ret = uiommu_table_group_take_ownership(grp);
	if (ret) {
		ctx_guest_error(c->ctx, "vfio: group %s cannot be taken from the host: %s",
				grp->name, uiommu_strerror(ret));
		goto err_free;
	}
	if (c->type) {
		ret = iommu_attach_locked(c, link);
		if (ret) {
			int err = uiommu_table_group_release_ownership(grp);

			if (err)
				ctx_err(c->ctx, "vfio: group %s stays owned by the user: %s",
					grp->name, uiommu_strerror(err));
			goto err_free;
		}
	}
	link->next = c->groups;
	c->groups = link;
	c->ngroups++;
	pthread_rwlock_unlock(&c->lock);
	pthread_mutex_unlock(&vs->lock);
	return 0;

err_free:
	pthread_rwlock_unlock(&c->lock);
	ctx_free(c->ctx, link);
out_unlock:
	pthread_mutex_unlock(&vs->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_vfio_group_unset_container(struct uiommu_table_group *grp)
{
	struct uiommu_vfio_container *c;
	struct vfio_group_link *link;
	struct vfio_state *vs;
	int ret;

	if (!grp)
		return -EINVAL;
	vs = ext_get(&grp->ctx->ext[CTX_EXT_VFIO]);
	if (!vs)
		return -EINVAL; /* no container was ever made */
	pthread_mutex_lock(&vs->lock);
	link = group_find_locked(vs, grp, &c);
	if (!link) {
		pthread_mutex_unlock(&vs->lock);
		return -EINVAL;
	}
	pthread_rwlock_wrlock(&c->lock);
	ret = group_detach_locked(c, link);
	pthread_rwlock_unlock(&c->lock);
	pthread_mutex_unlock(&vs->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_vfio_group_get_container(struct uiommu_table_group *grp,
						  struct uiommu_vfio_container **ret_container)
{
	struct uiommu_vfio_container *c = NULL;
	struct vfio_state *vs;

	if (!grp || !ret_container)
		return -EINVAL;
	vs = ext_get(&grp->ctx->ext[CTX_EXT_VFIO]);
	if (!vs)
		return -ENOENT;
	pthread_mutex_lock(&vs->lock);
	if (!group_find_locked(vs, grp, &c))
		c = NULL;
	pthread_mutex_unlock(&vs->lock);
	if (!c)
		return -ENOENT;
	*ret_container = c;
	return 0;
}

/* ---- public: extensions and the IOMMU type ---- */

UIOMMU_EXPORT int uiommu_vfio_check_extension(struct uiommu_vfio_container *c,
					      unsigned long extension)
{
	if (!c)
		return -EINVAL;
	switch (extension) {
	case UIOMMU_VFIO_SPAPR_TCE_IOMMU:
	case UIOMMU_VFIO_SPAPR_TCE_v2_IOMMU:
	case UIOMMU_VFIO_EEH:
		return 1;
	default:
		return 0;
	}
}

UIOMMU_EXPORT int uiommu_vfio_set_iommu(struct uiommu_vfio_container *c, unsigned long type)
{
	int ret = 0;

	if (!c)
		return -EINVAL;
	pthread_rwlock_wrlock(&c->lock);
	/* Only a container with a group may hold an IOMMU, and only one. */
	if (!c->groups || c->type) {
		ret = -EINVAL;
		goto out;
	}
	/* VFIO asks each IOMMU driver; ours knows these (EEH: its open refuses it). */
	if (uiommu_vfio_check_extension(c, type) <= 0) {
		ret = -ENODEV;
		goto out;
	}
	if (type != UIOMMU_VFIO_SPAPR_TCE_IOMMU && type != UIOMMU_VFIO_SPAPR_TCE_v2_IOMMU) {
		ret = -EINVAL; /* tce_iommu_open(): "Wrong IOMMU type" */
		goto out;
	}
	c->type = (unsigned int)type;
	c->v2 = type == UIOMMU_VFIO_SPAPR_TCE_v2_IOMMU;
	for (struct vfio_group_link *l = c->groups; l; l = l->next) {
		ret = iommu_attach_locked(c, l);
		if (ret)
			break;
	}
	if (ret) {
		/* __vfio_container_attach_groups() unwinds, then the driver is released. */
		for (struct vfio_group_link *l = c->groups; l; l = l->next)
			if (l->attached)
				iommu_detach_locked(c, l);
		iommu_release_locked(c);
	}
out:
	pthread_rwlock_unlock(&c->lock);
	return ret;
}

/* ---- public: GET_INFO, ENABLE, DISABLE, EEH ---- */

/* The first published layout of struct uiommu_vfio_info. */
#define INFO_SIZE_V1 sizeof(struct uiommu_vfio_info)

UIOMMU_EXPORT int uiommu_vfio_info(struct uiommu_vfio_container *c,
				   struct uiommu_vfio_info *ret_info)
{
	struct uiommu_vfio_info out = { 0 };
	struct uiommu_table_group *grp;
	const struct rcu_array *regions;
	uint32_t size;
	int ret;

	if (!c || !ret_info || ret_info->size < INFO_SIZE_V1)
		return -EINVAL;
	size = ret_info->size;
	pthread_rwlock_rdlock(&c->lock);
	if (c->type && c->mm && c->mm != uiommu_mm_current(c->ctx)) {
		ret = -EPERM;
		goto out;
	}
	out.size = (uint32_t)INFO_SIZE_V1;
	out.iommu_type = c->type;
	out.flags = (c->enabled ? UIOMMU_VFIO_INFO_ENABLED : 0) |
		    (c->def_window_pending ? UIOMMU_VFIO_INFO_DEF_WINDOW : 0) |
		    (c->mm ? UIOMMU_VFIO_INFO_MM_BOUND : 0);
	out.ngroups = c->ngroups;
	grp = vfio_first_group(c);
	if (grp) {
		out.dma32_window_start = (uint32_t)grp->tce32_start;
		out.dma32_window_size = (uint32_t)grp->tce32_size;
		if (grp->max_dynamic_windows_supported && c->v2) {
			out.info_flags = UIOMMU_VFIO_SPAPR_INFO_DDW;
			out.pgsizes = grp->pgsizes;
			out.max_dynamic_windows_supported = grp->max_dynamic_windows_supported;
			out.levels = grp->max_levels;
		}
	}
	out.locked_bytes = c->enable_charge;
	for (int num = 0; num < UIOMMU_TABLE_GROUP_MAX_TABLES; num++) {
		const struct vfio_window *w = &c->win[num];

		if (!w->tbl)
			continue;
		out.windows[num] = (struct uiommu_vfio_window){
			.start_addr = w->bus_offset,
			.size = w->bus_last - w->bus_offset + 1,
			.page_shift = w->page_shift,
			.levels = w->levels,
		};
		out.locked_bytes += w->charged;
	}
	regions = atomic_load_explicit(&c->prereg, memory_order_relaxed);
	for (size_t i = 0; regions && i < regions->n; i++) {
		out.prereg_regions++;
		out.prereg_bytes += regions->e[i].last - regions->e[i].start + 1;
	}
	out.tces = atomic_load_explicit(&c->tces, memory_order_relaxed);
	out.map_calls = atomic_load_explicit(&c->map_calls, memory_order_relaxed);
	out.unmap_calls = atomic_load_explicit(&c->unmap_calls, memory_order_relaxed);
	memset(ret_info, 0, size);
	memcpy(ret_info, &out, sizeof(out));
	ret = 0;
out:
	pthread_rwlock_unlock(&c->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_vfio_enable(struct uiommu_vfio_container *c)
{
	struct uiommu_table_group *grp;
	int ret;

	if (!c)
		return -EINVAL;
	pthread_rwlock_wrlock(&c->lock);
	ret = vfio_iommu_check(c);
	if (ret)
		goto out;
	if (c->v2) {
		ret = -ENOTTY;
		goto out;
	}
	if (c->enabled) {
		ret = -EBUSY;
		goto out;
	}
	grp = vfio_first_group(c);
	if (!grp->tce32_size) {
		ret = -EPERM;
		goto out;
	}
	ret = vfio_mm_set(c);
	if (ret)
		goto out;
	/* The worst case, charged up front (see the comment in tce_iommu_enable()). */
	ret = ctx_charge(c->ctx, UIOMMU_RES_LOCKED_BYTES, grp->tce32_size);
	if (ret) {
		ctx_warn(c->ctx, "vfio: ENABLE refused: the %s limit (%llu bytes)",
			 uiommu_resource_name(UIOMMU_RES_LOCKED_BYTES),
			 (unsigned long long)grp->tce32_size);
		goto out;
	}
	c->enable_charge = grp->tce32_size;
	c->enabled = true;
out:
	pthread_rwlock_unlock(&c->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_vfio_disable(struct uiommu_vfio_container *c)
{
	int ret;

	if (!c)
		return -EINVAL;
	pthread_rwlock_wrlock(&c->lock);
	ret = vfio_iommu_check(c);
	if (!ret && c->v2)
		ret = -ENOTTY;
	if (!ret && c->enabled) {
		ctx_uncharge(c->ctx, UIOMMU_RES_LOCKED_BYTES, c->enable_charge);
		c->enable_charge = 0;
		c->enabled = false;
	}
	pthread_rwlock_unlock(&c->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_vfio_eeh_pe_op(struct uiommu_vfio_container *c, unsigned int op,
					const struct uiommu_eeh_pe_err *err)
{
	int ret;

	if (!c)
		return -EINVAL;
	pthread_rwlock_rdlock(&c->lock);
	ret = vfio_iommu_check(c);
	for (struct vfio_group_link *l = c->tce_groups; !ret && l; l = l->tce_next) {
		/* A group without EEH is -ENODEV (Linux: eeh_iommu_group_to_pe() found no PE). */
		ret = uiommu_table_group_eeh_op(l->grp, op, err);
	}
	pthread_rwlock_unlock(&c->lock);
	return ret;
}
