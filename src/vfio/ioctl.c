// SPDX-License-Identifier: BSD-3-Clause
/*
 * The UAPI entry point: requests and structs of the real <linux/vfio.h>,
 * parsed as Linux's vfio_fops_unl_ioctl() (drivers/vfio/container.c) and
 * tce_iommu_ioctl() (drivers/vfio/vfio_iommu_spapr_tce.c) parse them: the
 * checks made before the struct is read come first (the address space,
 * the request's type and state), then the copy of minsz bytes, argsz and
 * flags; then the typed function does the rest. See uiommu/vfio.h.
 */
#include <stdarg.h>
#include <string.h>

#include <linux/vfio.h>

#include "vfio.h"

/* The public constants are <linux/vfio.h>'s, and so are the EEH values of pe.h. */
_Static_assert(UIOMMU_VFIO_API_VERSION == VFIO_API_VERSION, "VFIO_API_VERSION");
_Static_assert(UIOMMU_VFIO_SPAPR_TCE_IOMMU == VFIO_SPAPR_TCE_IOMMU, "VFIO_SPAPR_TCE_IOMMU");
_Static_assert(UIOMMU_VFIO_SPAPR_TCE_v2_IOMMU == VFIO_SPAPR_TCE_v2_IOMMU,
	       "VFIO_SPAPR_TCE_v2_IOMMU");
_Static_assert(UIOMMU_VFIO_EEH == VFIO_EEH, "VFIO_EEH");
_Static_assert(UIOMMU_VFIO_DMA_MAP_FLAG_READ == VFIO_DMA_MAP_FLAG_READ, "READ");
_Static_assert(UIOMMU_VFIO_DMA_MAP_FLAG_WRITE == VFIO_DMA_MAP_FLAG_WRITE, "WRITE");
_Static_assert(UIOMMU_VFIO_SPAPR_INFO_DDW == VFIO_IOMMU_SPAPR_INFO_DDW, "INFO_DDW");
_Static_assert(UIOMMU_EEH_PE_INJECT_ERR == VFIO_EEH_PE_INJECT_ERR, "EEH ops");
_Static_assert(UIOMMU_EEH_PE_STATE_UNAVAIL == VFIO_EEH_PE_STATE_UNAVAIL, "EEH states");
_Static_assert(sizeof(unsigned long) == sizeof(void *), "ioctl's argument is a pointer or a long");

#define offsetofend(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))

/* What Linux refuses before it reads the request's struct; under no lock on return. */
static int iommu_precheck(struct uiommu_vfio_container *c, unsigned long request)
{
	int ret;

	pthread_rwlock_rdlock(&c->lock);
	ret = vfio_iommu_check(c); /* no IOMMU: VFIO's core has nobody to pass it to */
	if (ret)
		goto out;
	switch (request) {
	case VFIO_IOMMU_ENABLE:
	case VFIO_IOMMU_DISABLE:
		if (c->v2)
			ret = -ENOTTY;
		break;
	case VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY:
		if (!c->v2)
			ret = -ENOTTY;
		else if (!c->mm)
			ret = -EPERM;
		break;
	case VFIO_IOMMU_SPAPR_REGISTER_MEMORY:
	case VFIO_IOMMU_SPAPR_TCE_CREATE:
	case VFIO_IOMMU_SPAPR_TCE_REMOVE:
		/* Linux binds the address space here (tce_iommu_mm_set()); we bind in the call. */
		if (!c->v2)
			ret = -ENOTTY;
		else if (!c->mm)
			ret = mm_current(c->ctx, &(struct uiommu_mm *){ NULL });
		break;
	case VFIO_EEH_PE_OP:
		/* The first group's PE is looked up before the struct is read. */
		if (c->tce_groups && !c->tce_groups->grp->ops->eeh_pe_op)
			ret = -ENODEV;
		break;
	case VFIO_IOMMU_SPAPR_TCE_GET_INFO:
		break;
	default:
		ret = -ENOTTY;
	}
out:
	pthread_rwlock_unlock(&c->lock);
	return ret;
}

/* The common header of every struct: argsz, then flags. */
struct vfio_hdr {
	uint32_t argsz;
	uint32_t flags;
};

static int get_info(struct uiommu_vfio_container *c, void *arg)
{
	const size_t minsz = offsetofend(struct vfio_iommu_spapr_tce_info, dma32_window_size);
	const size_t ddwsz = offsetofend(struct vfio_iommu_spapr_tce_info, ddw);
	struct vfio_iommu_spapr_tce_info out;
	struct uiommu_vfio_info info = { .size = sizeof(info) };
	int ret;

	memset(&out, 0, sizeof(out));
	memcpy(&out, arg, minsz);
	if (out.argsz < minsz)
		return -EINVAL;
	ret = uiommu_vfio_info(c, &info);
	if (ret)
		return ret;
	out.flags = info.info_flags;
	out.dma32_window_start = info.dma32_window_start;
	out.dma32_window_size = info.dma32_window_size;
	out.ddw.pgsizes = info.pgsizes;
	out.ddw.max_dynamic_windows_supported = info.max_dynamic_windows_supported;
	out.ddw.levels = info.levels;
	/* The DDW part only if the caller's struct has room for it. */
	memcpy(arg, &out, out.argsz >= ddwsz ? ddwsz : minsz);
	return 0;
}

/* MAP and UNMAP: the struct's errors are returned after the checks that precede its copy. */
static int map_dma(struct uiommu_vfio_container *c, const void *arg)
{
	const size_t minsz = offsetofend(struct vfio_iommu_type1_dma_map, size);
	struct vfio_iommu_type1_dma_map p = { 0 };
	int err = 0;

	if (!arg)
		err = -EFAULT;
	else
		memcpy(&p, arg, minsz);
	if (!err && (p.argsz < minsz || (p.flags & ~(VFIO_DMA_MAP_FLAG_READ |
						    VFIO_DMA_MAP_FLAG_WRITE))))
		err = -EINVAL;
	return vfio_map_dma(c, p.vaddr, p.iova, p.size, p.flags, err);
}

static int unmap_dma(struct uiommu_vfio_container *c, const void *arg)
{
	const size_t minsz = offsetofend(struct vfio_iommu_type1_dma_unmap, size);
	struct vfio_iommu_type1_dma_unmap p = { 0 };
	int err = 0;

	if (!arg)
		err = -EFAULT;
	else
		memcpy(&p, arg, minsz);
	/* No flag is supported (the type1 ones are refused). */
	if (!err && (p.argsz < minsz || p.flags))
		err = -EINVAL;
	return vfio_unmap_dma(c, p.iova, p.size, err);
}

static int register_memory(struct uiommu_vfio_container *c, const void *arg, bool reg)
{
	struct vfio_iommu_spapr_register_memory p;

	memcpy(&p, arg, offsetofend(struct vfio_iommu_spapr_register_memory, size));
	if (p.argsz < offsetofend(struct vfio_iommu_spapr_register_memory, size) || p.flags)
		return -EINVAL;
	return reg ? uiommu_vfio_register_memory(c, p.vaddr, p.size) :
		     uiommu_vfio_unregister_memory(c, p.vaddr, p.size);
}

static int tce_create(struct uiommu_vfio_container *c, void *arg)
{
	const size_t minsz = offsetofend(struct vfio_iommu_spapr_tce_create, start_addr);
	struct vfio_iommu_spapr_tce_create p;
	uint64_t start;
	int ret;

	memcpy(&p, arg, minsz);
	if (p.argsz < minsz || p.flags)
		return -EINVAL;
	/* As Linux, __resv1 and __resv2 are not checked. */
	ret = uiommu_vfio_create_window(c, p.page_shift, p.window_size, p.levels, &start);
	if (ret)
		return ret;
	p.start_addr = start;
	memcpy(arg, &p, minsz);
	return 0;
}

static int tce_remove(struct uiommu_vfio_container *c, const void *arg)
{
	struct vfio_iommu_spapr_tce_remove p;

	memcpy(&p, arg, offsetofend(struct vfio_iommu_spapr_tce_remove, start_addr));
	if (p.argsz < offsetofend(struct vfio_iommu_spapr_tce_remove, start_addr) || p.flags)
		return -EINVAL;
	return uiommu_vfio_remove_window(c, p.start_addr);
}

static int eeh_pe_op(struct uiommu_vfio_container *c, const void *arg)
{
	struct vfio_eeh_pe_op p;
	struct uiommu_eeh_pe_err err;

	memset(&p, 0, sizeof(p));
	memcpy(&p, arg, offsetofend(struct vfio_eeh_pe_op, op));
	if (p.argsz < offsetofend(struct vfio_eeh_pe_op, op) || p.flags)
		return -EINVAL;
	if (p.op != VFIO_EEH_PE_INJECT_ERR)
		return uiommu_vfio_eeh_pe_op(c, p.op, NULL);
	if (p.argsz < offsetofend(struct vfio_eeh_pe_op, err.mask))
		return -EINVAL;
	memcpy(&p, arg, offsetofend(struct vfio_eeh_pe_op, err.mask));
	err = (struct uiommu_eeh_pe_err){
		.type = p.err.type, .func = p.err.func, .addr = p.err.addr, .mask = p.err.mask
	};
	return uiommu_vfio_eeh_pe_op(c, p.op, &err);
}

UIOMMU_EXPORT int uiommu_vfio_ioctl(struct uiommu_vfio_container *c, unsigned long request, ...)
{
	unsigned long arg;
	void *ptr;
	va_list ap;
	int ret;

	va_start(ap, request);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	ptr = (void *)(uintptr_t)arg;
	if (!c)
		return -EINVAL;

	/* VFIO's own requests. */
	switch (request) {
	case VFIO_GET_API_VERSION:
		return VFIO_API_VERSION;
	case VFIO_CHECK_EXTENSION:
		return uiommu_vfio_check_extension(c, arg);
	case VFIO_SET_IOMMU:
		return uiommu_vfio_set_iommu(c, arg);
	}

	/* The hot pair checks its struct in the call, at Linux's place. */
	if (request == VFIO_IOMMU_MAP_DMA)
		return map_dma(c, ptr);
	if (request == VFIO_IOMMU_UNMAP_DMA)
		return unmap_dma(c, ptr);
	/* The others: the checks before the struct is read, then the struct. */
	ret = iommu_precheck(c, request);
	if (ret)
		return ret;
	switch (request) {
	case VFIO_IOMMU_ENABLE:
		return uiommu_vfio_enable(c);
	case VFIO_IOMMU_DISABLE:
		return uiommu_vfio_disable(c);
	}
	if (!ptr)
		return -EFAULT; /* the kernel's copy_from_user() fails */
	switch (request) {
	case VFIO_IOMMU_SPAPR_TCE_GET_INFO:
		return get_info(c, ptr);
	case VFIO_IOMMU_SPAPR_REGISTER_MEMORY:
		return register_memory(c, ptr, true);
	case VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY:
		return register_memory(c, ptr, false);
	case VFIO_IOMMU_SPAPR_TCE_CREATE:
		return tce_create(c, ptr);
	case VFIO_IOMMU_SPAPR_TCE_REMOVE:
		return tce_remove(c, ptr);
	default: /* VFIO_EEH_PE_OP: iommu_precheck() let nothing else through */
		return eeh_pe_op(c, ptr);
	}
}
