// SPDX-License-Identifier: BSD-3-Clause
/*
 * A minimal VFIO sPAPR v2 container on the table-group ops, standing in
 * for the library's container until it exists: the requests QEMU's
 * hw/vfio/spapr.c makes, with the checks and errors of Linux
 * drivers/vfio/vfio_iommu_spapr_tce.c on that path (GET_INFO, the lazy
 * default window and REMOVE of 0 while it is pending, REGISTER_MEMORY
 * pinning and charging once, TCE_CREATE/REMOVE, MAP_DMA/UNMAP_DMA with
 * one kill per call, EEH_PE_OP). v1, several groups, the address-space
 * binding and the upstream quirks are not modelled here. One big lock:
 * the client (QEMU) calls it from one thread at a time anyway.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <linux/vfio.h>

#include "container.h"

const char shim_container_backend[] = "shim stand-in (v2 only)";

#define PREREG_MAX 64

struct prereg {
	uint64_t ua, size;
	uint64_t mapped;	/* TCEs pointing into it */
};

struct shim_container {
	pthread_mutex_t lock;
	struct uiommu_ctx *ctx;
	struct uiommu_table_group *grp;
	unsigned int type;
	bool enabled;		/* v2: memory was registered */
	bool def_window_pending;
	unsigned int nprereg;
	struct prereg prereg[PREREG_MAX];
};

#define ARG_CHECK(ptr, type, last)                                                         \
	do {                                                                               \
		if (!(ptr))                                                                \
			return -EFAULT;                                                    \
		if ((ptr)->argsz < offsetof(type, last) + sizeof((ptr)->last))             \
			return -EINVAL;                                                    \
	} while (0)

int shim_container_new(struct uiommu_ctx *ctx, struct shim_container **ret)
{
	struct shim_container *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->ctx = ctx;
	*ret = c;
	return 0;
}

static struct prereg *prereg_find(struct shim_container *c, uint64_t ua, uint64_t size)
{
	for (unsigned int i = 0; i < c->nprereg; i++) {
		struct prereg *p = &c->prereg[i];

		if (ua >= p->ua && ua - p->ua < p->size && size <= p->size - (ua - p->ua))
			return p;
	}
	return NULL;
}

static void clear_done(void *opaque, uint64_t entry, uint64_t old_hpa, enum uiommu_dma_dir dir)
{
	struct shim_container *c = opaque;
	void *hva;
	struct prereg *p;

	if (uiommu_hpa_to_hva(c->ctx, old_hpa, 1, &hva))
		return;
	p = prereg_find(c, (uintptr_t)hva, 1);
	if (p && p->mapped)
		p->mapped--;
}

static int find_table(struct shim_container *c, uint64_t ioba, int *num,
		      struct uiommu_tce_table **tbl, struct uiommu_tce_table_info *info)
{
	int ret = uiommu_table_group_find_table(c->grp, ioba, num, tbl);

	if (ret)
		return ret == -ENOENT ? -ENXIO : ret;
	info->size = sizeof(*info);
	uiommu_tce_table_info(*tbl, info);
	return 0;
}

static int remove_window(struct shim_container *c, int num)
{
	struct uiommu_tce_table *tbl = c->grp->tables[num];
	struct uiommu_tce_table_info info = { .size = sizeof(info) };

	if (!tbl)
		return 0;
	uiommu_tce_table_info(tbl, &info);
	uiommu_tce_table_clear(tbl, info.it_offset, info.it_size, clear_done, c, NULL);
	return uiommu_table_group_unset_window(c->grp, num);
}

static int create_window(struct shim_container *c, unsigned int page_shift, uint64_t size,
			 unsigned int levels, uint64_t *start)
{
	struct uiommu_tce_table *tbl;
	struct uiommu_tce_table_info info = { .size = sizeof(info) };
	int num, ret;

	for (num = 0; num < UIOMMU_TABLE_GROUP_MAX_TABLES && c->grp->tables[num]; num++)
		;
	if (num == UIOMMU_TABLE_GROUP_MAX_TABLES)
		return -ENOSPC;
	if (page_shift >= 64 || !(c->grp->pgsizes & (1ULL << page_shift)))
		return -EINVAL;
	if (!uiommu_table_group_get_table_size(c->grp, page_shift, size, levels))
		return -EINVAL;
	ret = uiommu_table_group_create_table(c->grp, num, page_shift, size, levels, &tbl);
	if (ret)
		return ret;
	ret = uiommu_table_group_set_window(c->grp, num, tbl);
	uiommu_tce_table_info(tbl, &info);
	uiommu_tce_table_unref(tbl);
	if (ret)
		return ret;
	*start = info.bus_offset;
	return 0;
}

static int default_window(struct shim_container *c)
{
	uint64_t start;
	int ret;

	if (!c->def_window_pending)
		return 0;
	ret = create_window(c, 12, c->grp->tce32_size, 1, &start);
	if (!ret)
		c->def_window_pending = false;
	return ret;
}

static long map_dma(struct shim_container *c, struct vfio_iommu_type1_dma_map *m)
{
	struct uiommu_tce_table_info info;
	struct uiommu_tce_table *tbl;
	enum uiommu_dma_dir dir;
	uint64_t n, i, psize;
	struct prereg *p;
	int num, ret;

	ARG_CHECK(m, struct vfio_iommu_type1_dma_map, size);
	if (!c->enabled)
		return -EPERM;
	if (m->flags & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE))
		return -EINVAL;
	ret = default_window(c);
	if (ret)
		return ret;
	ret = find_table(c, m->iova, &num, &tbl, &info);
	if (ret)
		return ret;
	psize = 1ULL << info.page_shift;
	switch (m->flags) {
	case VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE:
		dir = UIOMMU_DMA_BIDIRECTIONAL;
		break;
	case VFIO_DMA_MAP_FLAG_READ:
		dir = UIOMMU_DMA_TO_DEVICE;
		break;
	case VFIO_DMA_MAP_FLAG_WRITE:
		dir = UIOMMU_DMA_FROM_DEVICE;
		break;
	default:
		ret = -EINVAL;
		goto out;
	}
	n = m->size >> info.page_shift;
	if ((m->size | m->vaddr) & (psize - 1) || !n ||
	    uiommu_tce_table_check_ioba(tbl, m->iova, n) ||
	    info.page_shift > uiommu_ctx_host_page_shift(c->ctx)) {
		ret = -EINVAL;
		goto out;
	}
	p = prereg_find(c, m->vaddr, m->size);
	if (!p) {
		ret = -EINVAL;
		goto out;
	}
	for (i = 0; i < n; i++) {
		uint64_t hpa, old_hpa;
		enum uiommu_dma_dir old_dir;

		ret = uiommu_hva_to_hpa(c->ctx, (void *)(uintptr_t)(m->vaddr + i * psize), &hpa);
		if (!ret)
			ret = uiommu_tce_table_xchg_no_kill(tbl, (m->iova >> info.page_shift) + i,
							    hpa, dir, &old_hpa, &old_dir);
		if (ret)
			break;
		p->mapped++;
		if (old_dir != UIOMMU_DMA_NONE)
			clear_done(c, 0, old_hpa, old_dir);
	}
	if (ret && i)
		uiommu_tce_table_clear(tbl, m->iova >> info.page_shift, i, clear_done, c, NULL);
	else
		uiommu_tce_table_kill(tbl, m->iova >> info.page_shift, n);
out:
	uiommu_tce_table_unref(tbl);
	return ret;
}

static long unmap_dma(struct shim_container *c, struct vfio_iommu_type1_dma_unmap *u)
{
	struct uiommu_tce_table_info info;
	struct uiommu_tce_table *tbl;
	uint64_t n;
	int num, ret;

	ARG_CHECK(u, struct vfio_iommu_type1_dma_unmap, size);
	if (!c->enabled)
		return -EPERM;
	if (u->flags)
		return -EINVAL;
	ret = default_window(c);
	if (ret)
		return ret;
	ret = find_table(c, u->iova, &num, &tbl, &info);
	if (ret)
		return ret;
	n = u->size >> info.page_shift;
	if (u->size & ((1ULL << info.page_shift) - 1) || !n ||
	    uiommu_tce_table_check_ioba(tbl, u->iova, n))
		ret = -EINVAL;
	else
		ret = uiommu_tce_table_clear(tbl, u->iova >> info.page_shift, n, clear_done, c,
					     NULL);
	uiommu_tce_table_unref(tbl);
	return ret;
}

static long get_info(struct shim_container *c, struct vfio_iommu_spapr_tce_info *info)
{
	ARG_CHECK(info, struct vfio_iommu_spapr_tce_info, dma32_window_size);
	info->flags = VFIO_IOMMU_SPAPR_INFO_DDW;
	info->dma32_window_start = (uint32_t)c->grp->tce32_start;
	info->dma32_window_size = (uint32_t)c->grp->tce32_size;
	if (info->argsz >= offsetof(struct vfio_iommu_spapr_tce_info, ddw) + sizeof(info->ddw)) {
		info->ddw.pgsizes = c->grp->pgsizes;
		info->ddw.max_dynamic_windows_supported = c->grp->max_dynamic_windows_supported;
		info->ddw.levels = c->grp->max_levels;
	}
	return 0;
}

static long register_memory(struct shim_container *c, struct vfio_iommu_spapr_register_memory *r,
			    bool reg)
{
	uint64_t page = 1ULL << uiommu_ctx_host_page_shift(c->ctx);
	struct prereg *p;
	int ret;

	ARG_CHECK(r, struct vfio_iommu_spapr_register_memory, size);
	if (r->flags)
		return -EINVAL;
	if ((r->vaddr | r->size) & (page - 1) || !r->size || r->vaddr + r->size < r->vaddr)
		return -EINVAL;
	p = prereg_find(c, r->vaddr, 1);
	if (!reg) {
		if (!p || p->ua != r->vaddr || p->size != r->size)
			return -ENOENT;
		if (p->mapped)
			return -EBUSY;
		uiommu_unpin(c->ctx, (void *)(uintptr_t)p->ua, p->size);
		*p = c->prereg[--c->nprereg];
		return 0;
	}
	if (p && p->ua == r->vaddr && p->size == r->size)
		return -EBUSY;
	for (unsigned int i = 0; i < c->nprereg; i++)
		if (r->vaddr < c->prereg[i].ua + c->prereg[i].size &&
		    c->prereg[i].ua < r->vaddr + r->size)
			return -EINVAL;
	if (c->nprereg == PREREG_MAX)
		return -ENOSPC;
	ret = uiommu_pin(c->ctx, (void *)(uintptr_t)r->vaddr, r->size, NULL);
	if (ret)
		return ret;
	c->prereg[c->nprereg++] = (struct prereg){ .ua = r->vaddr, .size = r->size };
	c->enabled = true;
	return 0;
}

static long tce_create(struct shim_container *c, struct vfio_iommu_spapr_tce_create *cr)
{
	int ret;

	ARG_CHECK(cr, struct vfio_iommu_spapr_tce_create, start_addr);
	if (cr->flags)
		return -EINVAL;
	ret = default_window(c);
	if (!ret)
		ret = create_window(c, cr->page_shift, cr->window_size, cr->levels,
				    (uint64_t *)&cr->start_addr);
	return ret;
}

static long tce_remove(struct shim_container *c, struct vfio_iommu_spapr_tce_remove *rm)
{
	struct uiommu_tce_table_info info;
	struct uiommu_tce_table *tbl;
	int num, ret;

	ARG_CHECK(rm, struct vfio_iommu_spapr_tce_remove, start_addr);
	if (rm->flags)
		return -EINVAL;
	if (c->def_window_pending && !rm->start_addr) {
		c->def_window_pending = false;
		return 0;
	}
	ret = find_table(c, rm->start_addr, &num, &tbl, &info);
	if (ret)
		return -EINVAL;
	uiommu_tce_table_unref(tbl);
	return remove_window(c, num);
}

static long eeh_pe_op(struct shim_container *c, struct vfio_eeh_pe_op *op)
{
	ARG_CHECK(op, struct vfio_eeh_pe_op, op);
	if (op->flags)
		return -EINVAL;
	if (op->op == VFIO_EEH_PE_INJECT_ERR)
		return -EINVAL; /* not needed by QEMU; the library's container has it */
	return uiommu_table_group_eeh_op(c->grp, op->op, NULL);
}

static long ioctl_locked(struct shim_container *c, unsigned long request, unsigned long arg)
{
	void *p = (void *)arg;

	switch (request) {
	case VFIO_GET_API_VERSION:
		return VFIO_API_VERSION;
	case VFIO_CHECK_EXTENSION:
		return arg == VFIO_SPAPR_TCE_v2_IOMMU || arg == VFIO_EEH;
	case VFIO_SET_IOMMU:
		if (!c->grp || c->type)
			return -EINVAL;
		if (arg != VFIO_SPAPR_TCE_v2_IOMMU)
			return -ENODEV;
		if (!c->grp->max_dynamic_windows_supported)
			return -EINVAL;
		c->type = (unsigned int)arg;
		c->def_window_pending = !c->grp->tables[0];
		return 0;
	}
	if (!c->type)
		return -EINVAL;
	switch (request) {
	case VFIO_IOMMU_SPAPR_TCE_GET_INFO:
		return get_info(c, p);
	case VFIO_IOMMU_MAP_DMA:
		return map_dma(c, p);
	case VFIO_IOMMU_UNMAP_DMA:
		return unmap_dma(c, p);
	case VFIO_IOMMU_SPAPR_REGISTER_MEMORY:
		return register_memory(c, p, true);
	case VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY:
		return register_memory(c, p, false);
	case VFIO_IOMMU_SPAPR_TCE_CREATE:
		return tce_create(c, p);
	case VFIO_IOMMU_SPAPR_TCE_REMOVE:
		return tce_remove(c, p);
	case VFIO_EEH_PE_OP:
		return eeh_pe_op(c, p);
	default:
		return -ENOTTY;
	}
}

long shim_container_ioctl(struct shim_container *c, unsigned long request, unsigned long arg)
{
	long ret;

	pthread_mutex_lock(&c->lock);
	ret = ioctl_locked(c, request, arg);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

static int release_iommu(struct shim_container *c)
{
	int ret = 0;

	for (int i = 0; i < UIOMMU_TABLE_GROUP_MAX_TABLES; i++) {
		int err = remove_window(c, i);

		if (!ret)
			ret = err;
	}
	while (c->nprereg) {
		struct prereg *p = &c->prereg[--c->nprereg];

		uiommu_unpin(c->ctx, (void *)(uintptr_t)p->ua, p->size);
	}
	c->type = 0;
	c->enabled = false;
	c->def_window_pending = false;
	return ret;
}

int shim_container_set_group(struct uiommu_table_group *grp, struct shim_container *c)
{
	static pthread_mutex_t groups_lock = PTHREAD_MUTEX_INITIALIZER;
	static struct {
		struct uiommu_table_group *grp;
		struct shim_container *c;
	} member[8];
	int ret = 0, i;

	pthread_mutex_lock(&groups_lock);
	for (i = 0; i < 8 && member[i].grp != grp; i++)
		;
	if (c) {
		if (i < 8 || c->grp) {
			ret = -EINVAL; /* already in a container; one group per stand-in */
		} else {
			for (i = 0; i < 8 && member[i].grp; i++)
				;
			ret = i < 8 ? uiommu_table_group_take_ownership(grp) : -ENOSPC;
			if (!ret) {
				member[i].grp = grp;
				member[i].c = c;
				c->grp = grp;
			}
		}
	} else if (i == 8) {
		ret = -EINVAL;
	} else {
		c = member[i].c;
		pthread_mutex_lock(&c->lock);
		ret = release_iommu(c);
		c->grp = NULL;
		pthread_mutex_unlock(&c->lock);
		if (!ret)
			ret = uiommu_table_group_release_ownership(grp);
		member[i].grp = NULL;
		member[i].c = NULL;
	}
	pthread_mutex_unlock(&groups_lock);
	return ret;
}

int shim_container_free(struct shim_container *c)
{
	int ret = 0;

	if (!c)
		return 0;
	if (c->grp)
		ret = shim_container_set_group(c->grp, NULL);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return ret;
}
