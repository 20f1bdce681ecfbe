// SPDX-License-Identifier: BSD-3-Clause
/*
 * VFIO sPAPR TCE containers through the real <linux/vfio.h> UAPI: the
 * error matrix of every request for v1 and v2 (one test per documented
 * error: short argsz, unknown flags, wrong type, another address space,
 * ...), the state machine (groups, SET_IOMMU, the lazy default window,
 * release), the accounting of every charge, the fixed upstream quirks,
 * page-size algebra (sub-page offsets, huge pages), shared tables, real
 * PEs with a device doing DMA through what the container mapped, table
 * groups of the test's own that fail on purpose (every rollback), and
 * fault injection at every allocation and pin.
 */
#include <pthread.h>
#include <sys/wait.h>

#include <linux/vfio.h>

#include "vfio_util.h"

#define V1 VFIO_SPAPR_TCE_IOMMU
#define V2 VFIO_SPAPR_TCE_v2_IOMMU
#define RW (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)
#define DDW_BASE UIOMMU_PE_BUS_OFFSET_64

/* ---- the UAPI, as a VMM calls it ---- */

static int io_map(struct uiommu_vfio_container *c, uint64_t vaddr, uint64_t iova, uint64_t size,
		  uint32_t flags)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m), .flags = flags, .vaddr = vaddr, .iova = iova, .size = size
	};

	return uiommu_vfio_ioctl(c, VFIO_IOMMU_MAP_DMA, &m);
}

static int io_unmap(struct uiommu_vfio_container *c, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = iova, .size = size };

	return uiommu_vfio_ioctl(c, VFIO_IOMMU_UNMAP_DMA, &u);
}

static int io_reg(struct uiommu_vfio_container *c, unsigned long request, uint64_t vaddr,
		  uint64_t size)
{
	struct vfio_iommu_spapr_register_memory r = {
		.argsz = sizeof(r), .vaddr = vaddr, .size = size
	};

	return uiommu_vfio_ioctl(c, request, &r);
}
#define io_register(c, v, s) io_reg(c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, v, s)
#define io_unregister(c, v, s) io_reg(c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, v, s)

static int io_create(struct uiommu_vfio_container *c, uint32_t page_shift, uint64_t size,
		     uint32_t levels, uint64_t *start)
{
	struct vfio_iommu_spapr_tce_create cr = {
		.argsz = sizeof(cr), .page_shift = page_shift, .window_size = size, .levels = levels,
		.start_addr = 0xdeadULL
	};
	int ret = uiommu_vfio_ioctl(c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr);

	if (start)
		*start = cr.start_addr;
	return ret;
}

static int io_remove(struct uiommu_vfio_container *c, uint64_t start)
{
	struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm), .start_addr = start };

	return uiommu_vfio_ioctl(c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm);
}

static int io_eeh(struct uiommu_vfio_container *c, uint32_t op)
{
	struct vfio_eeh_pe_op e = { .argsz = sizeof(e), .op = op };

	return uiommu_vfio_ioctl(c, VFIO_EEH_PE_OP, &e);
}

static struct uiommu_vfio_info cinfo(struct uiommu_vfio_container *c)
{
	struct uiommu_vfio_info info = { .size = sizeof(info) };

	assert_int_equal(uiommu_vfio_info(c, &info), 0);
	return info;
}

static struct uiommu_prereg_info rinfo(struct uiommu_ctx *ctx, uint64_t ua, uint64_t size)
{
	struct uiommu_prereg_info info = { .size = sizeof(info) };
	struct uiommu_prereg *mem = NULL;

	assert_int_equal(uiommu_prereg_lookup(uiommu_mm_current(ctx), ua, size, &mem), 0);
	assert_int_equal(uiommu_prereg_info(mem, &info), 0);
	return info;
}

static uint64_t tce_at(struct uiommu_table_group *grp, int num, uint64_t ioba)
{
	struct uiommu_tce_table_info info = { .size = sizeof(info) };
	uint64_t tce = ~0ULL;

	assert_non_null(grp->tables[num]);
	assert_int_equal(uiommu_tce_table_info(grp->tables[num], &info), 0);
	assert_int_equal(uiommu_tce_table_get(grp->tables[num], ioba >> info.page_shift, &tce), 0);
	return tce;
}

static uint64_t hpa_of(struct uiommu_ctx *ctx, const void *hva)
{
	uint64_t hpa = 0;

	assert_int_equal(uiommu_hva_to_hpa(ctx, hva, &hpa), 0);
	return hpa;
}

/* ---- a container over test groups ---- */

struct fx {
	struct uiommu_ctx *ctx;
	struct vt_group g[3];
	struct uiommu_vfio_container *c;
	struct vt_ram ram;
};

static void fx_init(struct fx *f, unsigned int host_page_shift)
{
	memset(f, 0, sizeof(*f));
	f->ctx = vt_ctx_new(host_page_shift);
	for (unsigned int i = 0; i < 3; i++)
		vt_group_init(&f->g[i], f->ctx, &vt_ops, i);
	assert_int_equal(uiommu_vfio_container_new(f->ctx, &f->c), 0);
	vt_ram_new(f->ctx, 64 * MiB, 16 * MiB, &f->ram);
}

/* A container with group 0 and the IOMMU type @type. */
static void fx_open(struct fx *f, unsigned int host_page_shift, unsigned long type)
{
	fx_init(f, host_page_shift);
	assert_int_equal(uiommu_vfio_group_set_container(&f->g[0].grp, f->c), 0);
	assert_int_equal(uiommu_vfio_ioctl(f->c, VFIO_SET_IOMMU, type), 0);
}

static void fx_fini(struct fx *f)
{
	assert_int_equal(uiommu_vfio_container_free(f->c), 0);
	for (unsigned int i = 0; i < 3; i++)
		vt_group_check_idle(&f->g[i]);
	vt_ram_free(f->ctx, &f->ram);
	test_ctx_free(f->ctx);
}

#define RAM(f, off) ((uint64_t)(uintptr_t)((f)->ram.hva + (off)))

/* ---- constants and layouts ---- */

static void test_constants(void **state)
{
	(void)state;
	assert_int_equal(UIOMMU_VFIO_API_VERSION, VFIO_API_VERSION);
	assert_int_equal(UIOMMU_VFIO_SPAPR_TCE_IOMMU, VFIO_SPAPR_TCE_IOMMU);
	assert_int_equal(UIOMMU_VFIO_SPAPR_TCE_v2_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU);
	assert_int_equal(UIOMMU_VFIO_EEH, VFIO_EEH);
	assert_int_equal(UIOMMU_VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_READ);
	assert_int_equal(UIOMMU_VFIO_DMA_MAP_FLAG_WRITE, VFIO_DMA_MAP_FLAG_WRITE);
	assert_int_equal(UIOMMU_VFIO_SPAPR_INFO_DDW, VFIO_IOMMU_SPAPR_INFO_DDW);
	/* The minsz of each struct, as the kernel computes them (semantics of argsz). */
	assert_int_equal(sizeof(struct vfio_iommu_type1_dma_map), 32);
	assert_int_equal(offsetof(struct vfio_iommu_type1_dma_unmap, size) + 8, 24);
	assert_int_equal(sizeof(struct vfio_iommu_spapr_register_memory), 24);
	assert_int_equal(sizeof(struct vfio_iommu_spapr_tce_create), 40);
	assert_int_equal(sizeof(struct vfio_iommu_spapr_tce_remove), 16);
	assert_int_equal(sizeof(struct vfio_iommu_spapr_tce_info), 32);
}

/* ---- containers, VFIO's own requests, SET_IOMMU ---- */

static void test_container(void **state)
{
	struct uiommu_ctx *ctx = vt_ctx_new(16);
	struct uiommu_vfio_container *c = NULL, *c2 = NULL;
	struct vt_group g;

	(void)state;
	assert_int_equal(uiommu_vfio_container_new(NULL, &c), -EINVAL);
	assert_int_equal(uiommu_vfio_container_new(ctx, NULL), -EINVAL);
	assert_int_equal(uiommu_vfio_container_free(NULL), 0);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_VFIO_CONTAINERS, 1), 0);
	assert_int_equal(uiommu_vfio_container_new(ctx, &c), 0);
	assert_int_equal(uiommu_vfio_container_new(ctx, &c2), -ENOSPC);
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_VFIO_CONTAINERS), 1);

	assert_int_equal(uiommu_vfio_ioctl(NULL, VFIO_GET_API_VERSION), -EINVAL);
	assert_int_equal(uiommu_vfio_ioctl(c, VFIO_GET_API_VERSION), VFIO_API_VERSION);
	/* QEMU's order of types: type1 v2 and v1 first (0 here), then the sPAPR ones. */
	assert_int_equal(uiommu_vfio_ioctl(c, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU), 0);
	assert_int_equal(uiommu_vfio_ioctl(c, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU), 0);
	assert_int_equal(uiommu_vfio_ioctl(c, VFIO_CHECK_EXTENSION, V2), 1);
	assert_int_equal(uiommu_vfio_ioctl(c, VFIO_CHECK_EXTENSION, V1), 1);
	assert_int_equal(uiommu_vfio_ioctl(c, VFIO_CHECK_EXTENSION, VFIO_EEH), 1);
	assert_int_equal(uiommu_vfio_ioctl(c, VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU), 0);
	assert_int_equal(uiommu_vfio_ioctl(c, VFIO_CHECK_EXTENSION, VFIO_DMA_CC_IOMMU), 0);
	assert_int_equal(uiommu_vfio_check_extension(NULL, V2), -EINVAL);

	/* No group: SET_IOMMU is -EINVAL, and so is every IOMMU request (no IOMMU). */
	assert_int_equal(uiommu_vfio_ioctl(c, VFIO_SET_IOMMU, V2), -EINVAL);
	assert_int_equal(uiommu_vfio_set_iommu(NULL, V2), -EINVAL);
	assert_int_equal(io_map(c, 0, 0, 4096, RW), -EINVAL);
	assert_int_equal(uiommu_vfio_ioctl(c, VFIO_IOMMU_ENABLE), -EINVAL);
	assert_int_equal(uiommu_vfio_ioctl(c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, NULL), -EINVAL);
	assert_int_equal(uiommu_vfio_ioctl(c, _IO(VFIO_TYPE, VFIO_BASE + 60), NULL), -EINVAL);

	vt_group_init(&g, ctx, &vt_ops, 1);
	assert_int_equal(uiommu_vfio_group_set_container(&g.grp, c), 0);
	assert_true(g.owned);
	/* Unknown types: VFIO finds no driver; VFIO_EEH is reported but its open refuses it. */
	assert_int_equal(uiommu_vfio_ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU), -ENODEV);
	assert_int_equal(uiommu_vfio_ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), -ENODEV);
	assert_int_equal(uiommu_vfio_ioctl(c, VFIO_SET_IOMMU, VFIO_EEH), -EINVAL);
	assert_int_equal(cinfo(c).iommu_type, 0);
	assert_int_equal(uiommu_vfio_ioctl(c, VFIO_SET_IOMMU, V2), 0);
	assert_int_equal(cinfo(c).iommu_type, V2);
	/* Once set, it stays until the last group leaves. */
	assert_int_equal(uiommu_vfio_ioctl(c, VFIO_SET_IOMMU, V2), -EINVAL);
	assert_int_equal(uiommu_vfio_ioctl(c, VFIO_SET_IOMMU, V1), -EINVAL);
	/* An unknown request reaches the IOMMU, which does not know it. */
	assert_int_equal(uiommu_vfio_ioctl(c, _IO(VFIO_TYPE, VFIO_BASE + 60), NULL), -ENOTTY);
	assert_int_equal(uiommu_vfio_ioctl(c, VFIO_IOMMU_GET_INFO - 1, NULL), -ENOTTY);

	assert_int_equal(uiommu_vfio_group_unset_container(&g.grp), 0);
	assert_int_equal(cinfo(c).iommu_type, 0);
	assert_false(g.owned);
	/* The container is as new: another type may be picked. */
	assert_int_equal(uiommu_vfio_group_set_container(&g.grp, c), 0);
	assert_int_equal(uiommu_vfio_ioctl(c, VFIO_SET_IOMMU, V1), 0);
	assert_int_equal(uiommu_vfio_container_free(c), 0);
	vt_group_check_idle(&g);
	test_ctx_free(ctx);
}

/* ---- groups: SET_CONTAINER / UNSET_CONTAINER ---- */

static void test_groups(void **state)
{
	struct fx f;
	struct uiommu_vfio_container *c2 = NULL, *got = NULL;
	struct uiommu_ctx *other = vt_ctx_new(16);
	struct vt_group foreign, noddw, incompatible;

	(void)state;
	fx_init(&f, 16);
	assert_int_equal(uiommu_vfio_container_new(f.ctx, &c2), 0);
	vt_group_init(&foreign, other, &vt_ops, 9);

	assert_int_equal(uiommu_vfio_group_set_container(NULL, f.c), -EINVAL);
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[0].grp, NULL), -EINVAL);
	assert_int_equal(uiommu_vfio_group_set_container(&foreign.grp, f.c), -EINVAL);
	assert_int_equal(uiommu_vfio_group_get_container(&f.g[0].grp, &got), -ENOENT);
	assert_int_equal(uiommu_vfio_group_get_container(NULL, &got), -EINVAL);
	assert_int_equal(uiommu_vfio_group_unset_container(&f.g[0].grp), -EINVAL);
	assert_int_equal(uiommu_vfio_group_unset_container(NULL), -EINVAL);

	/* take_ownership refuses (another user owns it): the group stays out. */
	f.g[0].fail[VT_TAKE] = -EBUSY;
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[0].grp, f.c), -EBUSY);
	assert_int_equal(uiommu_vfio_group_get_container(&f.g[0].grp, &got), -ENOENT);
	/* Out of memory for the link. */
	assert_int_equal(uiommu_ctx_inject_fault(f.ctx, 1, UIOMMU_FAULT_HEAP), 0);
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[0].grp, f.c), -ENOMEM);
	assert_int_equal(uiommu_ctx_inject_fault(f.ctx, 0, 0), 0);
	assert_false(f.g[0].owned);

	assert_int_equal(uiommu_vfio_group_set_container(&f.g[0].grp, f.c), 0);
	assert_int_equal(uiommu_vfio_group_get_container(&f.g[0].grp, &got), 0);
	assert_ptr_equal(got, f.c);
	/* A group in a container cannot join another, or the same one again (VFIO: -EINVAL). */
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[0].grp, c2), -EINVAL);
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[0].grp, f.c), -EINVAL);

	/* Before SET_IOMMU, VFIO takes any group; SET_IOMMU(v1) then refuses the second. */
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[1].grp, f.c), 0);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_SET_IOMMU, V1), -EBUSY);
	assert_int_equal(cinfo(f.c).iommu_type, 0);
	assert_int_equal(cinfo(f.c).ngroups, 2);
	assert_int_equal(uiommu_vfio_group_unset_container(&f.g[1].grp), 0);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_SET_IOMMU, V1), 0);
	/* v1: one group only. */
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[1].grp, f.c), -EBUSY);
	assert_false(f.g[1].owned);
	assert_int_equal(uiommu_vfio_group_unset_container(&f.g[0].grp), 0);

	/* v2: a group without DDW is refused, at SET_IOMMU and at attach. */
	vt_group_init(&noddw, f.ctx, &vt_ops, 5);
	noddw.grp.max_dynamic_windows_supported = 0;
	assert_int_equal(uiommu_vfio_group_set_container(&noddw.grp, f.c), 0);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_SET_IOMMU, V2), -EINVAL);
	assert_int_equal(uiommu_vfio_group_unset_container(&noddw.grp), 0);
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[0].grp, f.c), 0);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_SET_IOMMU, V2), 0);
	assert_int_equal(uiommu_vfio_group_set_container(&noddw.grp, f.c), -EINVAL);
	assert_false(noddw.owned);
	/* An incompatible group (another create_table): -EPERM. */
	vt_group_init(&incompatible, f.ctx, &vt_ops_other, 6);
	assert_int_equal(uiommu_vfio_group_set_container(&incompatible.grp, f.c), -EPERM);
	assert_false(incompatible.owned);
	/* Compatible ones share the container. */
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[1].grp, f.c), 0);
	assert_int_equal(cinfo(f.c).ngroups, 2);

	/* Giving a group back fails: it leaves the container, but stays the user's. */
	f.g[1].fail[VT_RELEASE] = -ENOMEM;
	assert_int_equal(uiommu_vfio_group_unset_container(&f.g[1].grp), -ENOMEM);
	assert_int_equal(uiommu_vfio_group_get_container(&f.g[1].grp, &got), -ENOENT);
	assert_true(f.g[1].owned);
	assert_int_equal(uiommu_table_group_release_ownership(&f.g[1].grp), 0);

	assert_int_equal(uiommu_vfio_container_free(c2), 0);
	fx_fini(&f);
	test_ctx_free(other);
}

/* The first group is the one the IOMMU attached last (Linux list_add()); GET_INFO reports it. */
static void test_get_info(void **state)
{
	struct vfio_iommu_spapr_tce_info info;
	struct fx f;
	struct uiommu_vfio_info ci;

	(void)state;
	fx_init(&f, 16);
	f.g[1].grp.tce32_start = 0;
	f.g[1].grp.tce32_size = 1 * GiB;
	f.g[1].grp.max_levels = 3;
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[0].grp, f.c), 0);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_SET_IOMMU, V2), 0);

	memset(&info, 0xa5, sizeof(info));
	info.argsz = sizeof(info);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	assert_int_equal(info.flags, VFIO_IOMMU_SPAPR_INFO_DDW);
	assert_int_equal(info.dma32_window_start, 0);
	assert_int_equal(info.dma32_window_size, 2 * GiB);
	assert_int_equal(info.ddw.pgsizes, f.g[0].grp.pgsizes);
	assert_int_equal(info.ddw.max_dynamic_windows_supported, 2);
	assert_int_equal(info.ddw.levels, 5);
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[1].grp, f.c), 0);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	assert_int_equal(info.dma32_window_size, 1 * GiB);
	assert_int_equal(info.ddw.levels, 3);

	/* argsz 16: only the 32-bit window is written back; below 16: -EINVAL. */
	memset(&info, 0xa5, sizeof(info));
	info.argsz = 16;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	assert_int_equal(info.dma32_window_size, 1 * GiB);
	assert_int_equal(info.ddw.levels, 0xa5a5a5a5u);
	info.argsz = 15;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), -EINVAL);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, NULL), -EFAULT);
	ci.size = 4;
	assert_int_equal(uiommu_vfio_info(f.c, &ci), -EINVAL);
	assert_int_equal(uiommu_vfio_info(NULL, &ci), -EINVAL);
	assert_int_equal(uiommu_vfio_info(f.c, NULL), -EINVAL);
	assert_int_equal(uiommu_vfio_group_unset_container(&f.g[1].grp), 0);

	/* v1: no DDW part, even with a DDW-capable group. */
	assert_int_equal(uiommu_vfio_group_unset_container(&f.g[0].grp), 0);
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[0].grp, f.c), 0);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_SET_IOMMU, V1), 0);
	memset(&info, 0xa5, sizeof(info));
	info.argsz = sizeof(info);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	assert_int_equal(info.flags, 0);
	assert_int_equal(info.ddw.pgsizes, 0);
	assert_int_equal(info.ddw.levels, 0);
	assert_int_equal(info.dma32_window_size, 2 * GiB);
	fx_fini(&f);
}

/* ---- v1 ---- */

static void test_v1(void **state)
{
	struct fx f;
	uint64_t locked;

	(void)state;
	fx_open(&f, 16, V1);
	/* v2 requests are not the v1 IOMMU's. */
	assert_int_equal(io_register(f.c, RAM(&f, 0), 64 * KiB), -ENOTTY);
	assert_int_equal(io_unregister(f.c, RAM(&f, 0), 64 * KiB), -ENOTTY);
	assert_int_equal(io_create(f.c, 16, 1 * GiB, 1, NULL), -ENOTTY);
	assert_int_equal(io_remove(f.c, 0), -ENOTTY);
	assert_int_equal(uiommu_vfio_register_memory(f.c, RAM(&f, 0), 64 * KiB), -ENOTTY);
	assert_int_equal(uiommu_vfio_create_window(f.c, 16, 1 * GiB, 1, &locked), -ENOTTY);
	/* Not enabled: MAP and UNMAP are -EPERM, before the struct is even read. */
	assert_int_equal(io_map(f.c, RAM(&f, 0), 0, 4096, RW), -EPERM);
	assert_int_equal(io_unmap(f.c, 0, 4096), -EPERM);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_MAP_DMA, NULL), -EPERM);
	/* DISABLE while not enabled: 0, as Linux. */
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_DISABLE), 0);

	/* ENABLE charges the whole 32-bit window, refused past the limit. */
	locked = ctx_usage(f.ctx, UIOMMU_RES_LOCKED_BYTES);
	assert_int_equal(uiommu_ctx_set_limit(f.ctx, UIOMMU_RES_LOCKED_BYTES, 1 * GiB), 0);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_ENABLE), -ENOMEM);
	assert_int_equal(ctx_usage(f.ctx, UIOMMU_RES_LOCKED_BYTES), locked);
	assert_int_equal(uiommu_ctx_set_limit(f.ctx, UIOMMU_RES_LOCKED_BYTES, 4 * GiB), 0);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_ENABLE), 0);
	assert_int_equal(ctx_usage(f.ctx, UIOMMU_RES_LOCKED_BYTES), locked + 2 * GiB);
	assert_int_equal(cinfo(f.c).locked_bytes, 2 * GiB);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_ENABLE), -EBUSY);
	assert_true(cinfo(f.c).flags & UIOMMU_VFIO_INFO_DEF_WINDOW);

	/* The first MAP creates the default window: 4 KiB pages, 2 GiB, one level, charged. */
	assert_int_equal(io_map(f.c, RAM(&f, 0x10000), 0x3000, 4096, RW), 0);
	assert_false(cinfo(f.c).flags & UIOMMU_VFIO_INFO_DEF_WINDOW);
	assert_int_equal(cinfo(f.c).windows[0].page_shift, 12);
	assert_int_equal(cinfo(f.c).windows[0].size, 2 * GiB);
	assert_int_equal(cinfo(f.c).windows[0].levels, 1);
	assert_int_equal(ctx_usage(f.ctx, UIOMMU_RES_LOCKED_BYTES),
			 locked + 2 * GiB + uiommu_tce_table_size(16, 12, 2 * GiB, 1));
	assert_int_equal(tce_at(&f.g[0].grp, 0, 0x3000), hpa_of(f.ctx, f.ram.hva + 0x10000) | 3);
	/* The page is pinned: the RAM cannot be removed. */
	assert_int_equal(uiommu_ram_remove(f.ctx, f.ram.hpa), -EBUSY);
	/* Sub-page offsets: 4 KiB TCEs inside one 64 KiB host page, each its own part. */
	assert_int_equal(io_map(f.c, RAM(&f, 0x20000), 0x10000, 16 * 4096,
				VFIO_DMA_MAP_FLAG_READ), 0);
	for (unsigned int i = 0; i < 16; i++)
		assert_int_equal(tce_at(&f.g[0].grp, 0, 0x10000 + i * 4096),
				 (hpa_of(f.ctx, f.ram.hva + 0x20000) + i * 4096) | 1);
	/* Write implies read in the stored TCE. */
	assert_int_equal(io_map(f.c, RAM(&f, 0x30000), 0x40000, 4096, VFIO_DMA_MAP_FLAG_WRITE), 0);
	assert_int_equal(tce_at(&f.g[0].grp, 0, 0x40000) & 3, 3);
	/* Overwriting a live TCE releases the old page. */
	assert_int_equal(io_map(f.c, RAM(&f, 0x50000), 0x3000, 4096, RW), 0);
	assert_int_equal(cinfo(f.c).tces, 18);
	assert_int_equal(cinfo(f.c).map_calls, 4);

	/* Errors of MAP, in Linux's order. */
	assert_int_equal(io_map(f.c, RAM(&f, 0), 0x3000, 4096, 4), -EINVAL);	    /* flags */
	assert_int_equal(io_map(f.c, RAM(&f, 0), 3 * GiB, 4096, RW), -ENXIO);	    /* window */
	assert_int_equal(io_map(f.c, RAM(&f, 0), 0x3000, 100, RW), -EINVAL);	    /* size */
	assert_int_equal(io_map(f.c, RAM(&f, 8), 0x3000, 4096, RW), -EINVAL);	    /* vaddr */
	assert_int_equal(io_map(f.c, RAM(&f, 0), 0x3000, 4096, 0), -EINVAL);	    /* direction */
	assert_int_equal(io_map(f.c, RAM(&f, 0), 0x3008, 4096, RW), -EINVAL);	    /* iova */
	assert_int_equal(io_map(f.c, RAM(&f, 0), 0x3000, 0, RW), -EINVAL);	    /* size 0 */
	/* Fixed: a range running past the window (upstream checks its first page only). */
	assert_int_equal(io_map(f.c, RAM(&f, 0), 2 * GiB - 4096, 8192, RW), -EINVAL);
	/* Memory the model cannot resolve: -EFAULT, nothing changed. */
	assert_int_equal(io_map(f.c, (uint64_t)(uintptr_t)&locked & ~4095ULL, 0x80000, 4096, RW),
			 -EFAULT);
	assert_int_equal(io_map(f.c, RAM(&f, 64 * MiB - 4096), 0x80000, 8192, RW), -EFAULT);
	assert_int_equal(tce_at(&f.g[0].grp, 0, 0x80000), 0);
	assert_int_equal(cinfo(f.c).tces, 18);

	/* UNMAP errors, then the whole range; empty entries are fine. */
	assert_int_equal(io_unmap(f.c, 3 * GiB, 4096), -ENXIO);
	assert_int_equal(io_unmap(f.c, 0x3000, 100), -EINVAL);
	assert_int_equal(io_unmap(f.c, 0x3004, 4096), -EINVAL);
	assert_int_equal(io_unmap(f.c, 0x3000, 0), -EINVAL);
	assert_int_equal(io_unmap(f.c, 2 * GiB - 4096, 8192), -EINVAL);
	assert_int_equal(io_unmap(f.c, 0, 1 * MiB), 0);
	assert_int_equal(cinfo(f.c).tces, 0);
	assert_int_equal(cinfo(f.c).unmap_calls, 1);
	/* Every pin is gone (the RAM could be removed now). */
	assert_int_equal(io_map(f.c, RAM(&f, 0x10000), 0x3000, 4096, RW), 0);

	/* DISABLE returns the charge; mappings stay; MAP is refused again. */
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_DISABLE), 0);
	assert_int_equal(ctx_usage(f.ctx, UIOMMU_RES_LOCKED_BYTES),
			 locked + uiommu_tce_table_size(16, 12, 2 * GiB, 1));
	assert_int_equal(io_map(f.c, RAM(&f, 0), 0x3000, 4096, RW), -EPERM);
	assert_int_equal(cinfo(f.c).tces, 1);
	/* Release (the group leaves) clears the window and unpins. */
	fx_fini(&f);
}

/* v1 refuses memory whose pages are smaller than the IOMMU page, and leaks no pin. */
static void test_v1_contained(void **state)
{
	struct fx f;
	void *buf = NULL;

	(void)state;
	fx_init(&f, 16);
	f.g[0].force_page_shift = 16; /* a platform whose default window has 64 KiB pages */
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[0].grp, f.c), 0);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_SET_IOMMU, V1), 0);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_ENABLE), 0);
	/* 4 KiB pages (a scattered hostmem buffer): a 64 KiB TCE would span several. */
	assert_int_equal(uiommu_hostmem_alloc(f.ctx, 192 * KiB, 12, UIOMMU_HOSTMEM_SCATTER, &buf), 0);
	assert_int_equal(io_map(f.c, ((uintptr_t)buf + 0xffff) & ~0xffffULL, 0x10000, 64 * KiB, RW),
			 -EPERM);
	/* Fixed: upstream keeps the pin it took; here the buffer is not pinned. */
	assert_int_equal(uiommu_hostmem_free(f.ctx, buf), 0);
	/* Ordinary memory holds 64 KiB pages on a 64 KiB host. */
	assert_int_equal(io_map(f.c, RAM(&f, 0x10000), 0x10000, 64 * KiB, RW), 0);
	assert_int_equal(tce_at(&f.g[0].grp, 0, 0x10000), hpa_of(f.ctx, f.ram.hva + 0x10000) | 3);
	fx_fini(&f);
}

/* ---- v2: registrations ---- */

static void test_v2_register(void **state)
{
	struct fx f;
	struct uiommu_vfio_container *c2 = NULL;
	uint64_t locked;

	(void)state;
	fx_open(&f, 16, V2);
	/* ENABLE and DISABLE are not the v2 IOMMU's. */
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_ENABLE), -ENOTTY);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_DISABLE), -ENOTTY);
	assert_int_equal(uiommu_vfio_enable(f.c), -ENOTTY);
	assert_int_equal(uiommu_vfio_disable(f.c), -ENOTTY);
	/* Not enabled until memory is registered. */
	assert_int_equal(io_map(f.c, RAM(&f, 0), 0, 4096, RW), -EPERM);
	/* UNREGISTER before any address space is bound: -EPERM. */
	assert_int_equal(io_unregister(f.c, RAM(&f, 0), 64 * KiB), -EPERM);

	locked = ctx_usage(f.ctx, UIOMMU_RES_LOCKED_BYTES);
	assert_int_equal(io_register(f.c, RAM(&f, 4096), 64 * KiB), -EINVAL);	 /* vaddr */
	assert_int_equal(io_register(f.c, RAM(&f, 0), 4096), -EINVAL);		 /* size */
	assert_int_equal(io_register(f.c, RAM(&f, 0), 0), -EINVAL);		 /* empty */
	assert_int_equal(io_register(f.c, ~0xffffULL, 128 * KiB), -EINVAL);	 /* wraps */
	assert_int_equal(io_register(f.c, 0x10000, 64 * KiB), -EFAULT);		 /* no memory */
	assert_true(cinfo(f.c).flags & UIOMMU_VFIO_INFO_MM_BOUND);
	assert_false(cinfo(f.c).flags & UIOMMU_VFIO_INFO_ENABLED);
	assert_int_equal(uiommu_ctx_set_limit(f.ctx, UIOMMU_RES_LOCKED_BYTES, locked + MiB), 0);
	assert_int_equal(io_register(f.c, RAM(&f, 0), 2 * MiB), -ENOMEM);	 /* limit */
	assert_int_equal(uiommu_ctx_set_limit(f.ctx, UIOMMU_RES_LOCKED_BYTES, 4 * GiB), 0);
	assert_int_equal(uiommu_ctx_set_limit(f.ctx, UIOMMU_RES_PREREG_REGIONS, 0), 0);
	assert_int_equal(io_register(f.c, RAM(&f, 0), 2 * MiB), -ENOSPC);
	assert_int_equal(uiommu_ctx_set_limit(f.ctx, UIOMMU_RES_PREREG_REGIONS, 100), 0);
	assert_int_equal(ctx_usage(f.ctx, UIOMMU_RES_LOCKED_BYTES), locked);

	/* Pinned and charged once. */
	assert_int_equal(io_register(f.c, RAM(&f, 0), 2 * MiB), 0);
	assert_int_equal(ctx_usage(f.ctx, UIOMMU_RES_LOCKED_BYTES), locked + 2 * MiB);
	assert_true(cinfo(f.c).flags & UIOMMU_VFIO_INFO_ENABLED);
	assert_int_equal(cinfo(f.c).prereg_regions, 1);
	assert_int_equal(cinfo(f.c).prereg_bytes, 2 * MiB);
	assert_int_equal(uiommu_ram_remove(f.ctx, f.ram.hpa), -EBUSY);
	/* The same range again in this container: -EBUSY; overlapping: -EINVAL. */
	assert_int_equal(io_register(f.c, RAM(&f, 0), 2 * MiB), -EBUSY);
	assert_int_equal(io_register(f.c, RAM(&f, MiB), 2 * MiB), -EINVAL);
	assert_int_equal(io_register(f.c, RAM(&f, 2 * MiB), 2 * MiB), 0);
	assert_int_equal(ctx_usage(f.ctx, UIOMMU_RES_LOCKED_BYTES), locked + 4 * MiB);

	/* Another container of the address space shares the registration (used 2). */
	assert_int_equal(uiommu_vfio_container_new(f.ctx, &c2), 0);
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[1].grp, c2), 0);
	assert_int_equal(uiommu_vfio_ioctl(c2, VFIO_SET_IOMMU, V2), 0);
	assert_int_equal(io_register(c2, RAM(&f, 0), 2 * MiB), 0);
	assert_int_equal(ctx_usage(f.ctx, UIOMMU_RES_LOCKED_BYTES), locked + 4 * MiB);
	assert_int_equal(rinfo(f.ctx, RAM(&f, 0), 1).used, 2);
	/* Fixed: c2 maps only memory it registered (upstream: any region of the mm). */
	assert_int_equal(io_map(c2, RAM(&f, 2 * MiB), 0, 4096, RW), -EINVAL);
	assert_int_equal(io_map(c2, RAM(&f, 0), 0, 4096, RW), 0);
	assert_int_equal(io_unmap(c2, 0, 4096), 0);
	assert_int_equal(io_remove(c2, 0), 0); /* the default window the MAP made */

	/* UNREGISTER: exact ranges only, and only ranges this container holds. */
	assert_int_equal(io_unregister(f.c, RAM(&f, 0), 1 * MiB), -ENOENT);
	assert_int_equal(io_unregister(f.c, RAM(&f, 4096), 1 * MiB), -EINVAL);
	assert_int_equal(io_unregister(f.c, RAM(&f, 0), 4096), -EINVAL);
	assert_int_equal(io_unregister(c2, RAM(&f, 2 * MiB), 2 * MiB), -ENOENT);
	assert_int_equal(io_unregister(f.c, RAM(&f, 0), 2 * MiB), 0);
	assert_int_equal(rinfo(f.ctx, RAM(&f, 0), 1).used, 1);
	assert_int_equal(ctx_usage(f.ctx, UIOMMU_RES_LOCKED_BYTES), locked + 4 * MiB);
	assert_int_equal(io_unregister(f.c, RAM(&f, 0), 2 * MiB), -ENOENT);
	/* The container stays enabled after its registrations go. */
	assert_int_equal(io_unregister(f.c, RAM(&f, 2 * MiB), 2 * MiB), 0);
	assert_int_equal(ctx_usage(f.ctx, UIOMMU_RES_LOCKED_BYTES), locked + 2 * MiB);
	assert_true(cinfo(f.c).flags & UIOMMU_VFIO_INFO_ENABLED);
	/* c2's release drops the last registration. */
	assert_int_equal(uiommu_vfio_container_free(c2), 0);
	assert_int_equal(ctx_usage(f.ctx, UIOMMU_RES_LOCKED_BYTES), locked);
	assert_int_equal(ctx_usage(f.ctx, UIOMMU_RES_PREREG_REGIONS), 0);
	fx_fini(&f);
}

/* ---- v2: windows ---- */

static void test_v2_windows(void **state)
{
	struct fx f;
	uint64_t start = 0, locked;

	(void)state;
	fx_open(&f, 16, V2);
	locked = ctx_usage(f.ctx, UIOMMU_RES_LOCKED_BYTES);
	assert_true(cinfo(f.c).flags & UIOMMU_VFIO_INFO_DEF_WINDOW);
	/* QEMU's first steps: REMOVE(0) of the pending default window only cancels it. */
	assert_int_equal(io_remove(f.c, 0), 0);
	assert_false(cinfo(f.c).flags & UIOMMU_VFIO_INFO_DEF_WINDOW);
	assert_true(cinfo(f.c).flags & UIOMMU_VFIO_INFO_MM_BOUND);
	assert_int_equal(f.g[0].calls[VT_CREATE_TABLE], 0);
	/* Then nothing at 0 to remove. */
	assert_int_equal(io_remove(f.c, 0), -EINVAL);

	/* CREATE's checks. */
	assert_int_equal(io_create(f.c, 13, 1 * GiB, 1, NULL), -EINVAL); /* page size */
	assert_int_equal(io_create(f.c, 64, 1 * GiB, 1, NULL), -EINVAL); /* past 63 */
	assert_int_equal(io_create(f.c, 12, 3 * GiB, 1, NULL), -EINVAL); /* not a power of 2 */
	assert_int_equal(io_create(f.c, 12, 1 * GiB, 0, NULL), -EINVAL); /* levels */
	assert_int_equal(io_create(f.c, 12, 1 * GiB, 6, NULL), -EINVAL);
	assert_int_equal(uiommu_ctx_set_limit(f.ctx, UIOMMU_RES_LOCKED_BYTES, locked + MiB), 0);
	assert_int_equal(io_create(f.c, 12, 1 * GiB, 1, NULL), -ENOMEM); /* the charge */
	assert_int_equal(uiommu_ctx_set_limit(f.ctx, UIOMMU_RES_LOCKED_BYTES, 4 * GiB), 0);
	/* Fixed: create_table fails, and the charge is returned. */
	f.g[0].fail[VT_CREATE_TABLE] = -ENOMEM;
	assert_int_equal(io_create(f.c, 12, 1 * GiB, 1, NULL), -ENOMEM);
	assert_int_equal(ctx_usage(f.ctx, UIOMMU_RES_LOCKED_BYTES), locked);
	/* set_window fails: the table goes, uncharged. */
	f.g[0].fail[VT_SET_WINDOW] = -EIO;
	assert_int_equal(io_create(f.c, 12, 1 * GiB, 1, NULL), -EIO);
	assert_int_equal(ctx_usage(f.ctx, UIOMMU_RES_LOCKED_BYTES), locked);
	assert_int_equal(ctx_usage(f.ctx, UIOMMU_RES_WINDOWS), 0);

	/* The guest's windows: 1 GiB of 4 KiB at 0, then a DDW at 1 << 59. */
	assert_int_equal(io_create(f.c, 12, 1 * GiB, 1, &start), 0);
	assert_int_equal(start, 0);
	assert_int_equal(io_create(f.c, 16, 64 * GiB, 2, &start), 0);
	assert_int_equal(start, DDW_BASE);
	assert_int_equal(ctx_usage(f.ctx, UIOMMU_RES_LOCKED_BYTES),
			 locked + uiommu_tce_table_size(16, 12, 1 * GiB, 1) +
				 uiommu_tce_table_size(16, 16, 64 * GiB, 2));
	assert_int_equal(cinfo(f.c).locked_bytes, ctx_usage(f.ctx, UIOMMU_RES_LOCKED_BYTES) - locked);
	assert_non_null(f.g[0].grp.tables[1]);
	assert_int_equal(io_create(f.c, 12, 1 * GiB, 1, NULL), -ENOSPC);
	/* The start address written back is the whole struct's, only on success. */
	assert_int_equal(cinfo(f.c).windows[1].start_addr, DDW_BASE);
	assert_int_equal(cinfo(f.c).windows[1].page_shift, 16);

	/* REMOVE: any address inside the window finds it (kept from Linux). */
	assert_int_equal(io_remove(f.c, DDW_BASE + 5 * GiB), 0);
	assert_null(f.g[0].grp.tables[1]);
	assert_int_equal(io_remove(f.c, DDW_BASE), -EINVAL);
	assert_int_equal(ctx_usage(f.ctx, UIOMMU_RES_LOCKED_BYTES),
			 locked + uiommu_tce_table_size(16, 12, 1 * GiB, 1));
	assert_int_equal(io_remove(f.c, 0), 0);
	assert_int_equal(ctx_usage(f.ctx, UIOMMU_RES_LOCKED_BYTES), locked);

	/* The next CREATE takes the first free number: window 0 again. */
	assert_int_equal(io_create(f.c, 16, 1 * GiB, 1, &start), 0);
	assert_int_equal(start, 0);
	fx_fini(&f);
}

/* A 32-bit window elsewhere than 0: REMOVE of the start GET_INFO reports cancels it too. */
static void test_v2_default_window_elsewhere(void **state)
{
	struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };
	struct fx f;

	(void)state;
	fx_init(&f, 16);
	f.g[0].grp.tce32_start = 256 * MiB;
	f.g[0].grp.tce32_size = 256 * MiB;
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[0].grp, f.c), 0);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_SET_IOMMU, V2), 0);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	assert_int_equal(info.dma32_window_start, 256 * MiB);
	/* QEMU removes it by that address (Linux: -EINVAL, a window it cannot find). */
	assert_int_equal(io_remove(f.c, info.dma32_window_start), 0);
	assert_false(cinfo(f.c).flags & UIOMMU_VFIO_INFO_DEF_WINDOW);
	assert_int_equal(io_remove(f.c, info.dma32_window_start), -EINVAL);
	fx_fini(&f);
}

/* The lazy default window: created by the first MAP, UNMAP or CREATE, as Linux. */
static void test_v2_default_window(void **state)
{
	struct fx f;
	uint64_t start = 1;

	(void)state;
	fx_open(&f, 16, V2);
	assert_int_equal(io_register(f.c, RAM(&f, 0), 4 * MiB), 0);
	assert_null(f.g[0].grp.tables[0]);
	/* UNMAP creates it (and finds nothing to clear). */
	assert_int_equal(io_unmap(f.c, 0, 4096), 0);
	assert_non_null(f.g[0].grp.tables[0]);
	assert_int_equal(cinfo(f.c).windows[0].size, 2 * GiB);
	assert_int_equal(cinfo(f.c).windows[0].levels, 1);
	assert_int_equal(io_remove(f.c, 0), 0);

	/* A group attached later to a container that has windows gets them all. */
	assert_int_equal(io_create(f.c, 12, 1 * GiB, 1, &start), 0);
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[1].grp, f.c), 0);
	assert_ptr_equal(f.g[1].grp.tables[0], f.g[0].grp.tables[0]);
	/* ... or, if setting one of them fails, none (only those set are unset), and is given back. */
	assert_int_equal(io_create(f.c, 16, 1 * GiB, 1, &start), 0);
	assert_int_equal(start, DDW_BASE);
	f.g[2].fail[VT_SET_WINDOW] = -EIO;
	f.g[2].skip[VT_SET_WINDOW] = 1;
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[2].grp, f.c), -EIO);
	assert_int_equal(f.g[2].calls[VT_UNSET_WINDOW], 1);
	vt_group_check_idle(&f.g[2]);
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[2].grp, f.c), 0);
	assert_ptr_equal(f.g[2].grp.tables[1], f.g[0].grp.tables[1]);
	assert_int_equal(uiommu_vfio_group_unset_container(&f.g[2].grp), 0);
	vt_group_check_idle(&f.g[2]);
	fx_fini(&f);
}

/* ---- v2: MAP and UNMAP ---- */

static void test_v2_map(void **state)
{
	struct fx f;
	uint64_t start, h0 = 0;
	struct uiommu_prereg_info ri;

	(void)state;
	fx_open(&f, 16, V2);
	assert_int_equal(io_register(f.c, RAM(&f, 0), 32 * MiB), 0);
	assert_int_equal(io_remove(f.c, 0), 0);
	assert_int_equal(io_create(f.c, 12, 1 * GiB, 1, &start), 0);
	assert_int_equal(io_create(f.c, 16, 1 * GiB, 1, &start), 0);
	h0 = hpa_of(f.ctx, f.ram.hva);

	/* One 4 KiB TCE; mapped counts it. */
	assert_int_equal(io_map(f.c, RAM(&f, 0x5000), 0x1000, 4096, RW), 0);
	assert_int_equal(tce_at(&f.g[0].grp, 0, 0x1000), (h0 + 0x5000) | 3);
	assert_int_equal(rinfo(f.ctx, RAM(&f, 0), 1).mapped, 2);
	/* 512 TCEs of 64 KiB in the DDW, one call. */
	assert_int_equal(io_map(f.c, RAM(&f, 0), DDW_BASE, 512 * 64 * KiB, VFIO_DMA_MAP_FLAG_READ), 0);
	for (unsigned int i = 0; i < 512; i += 51)
		assert_int_equal(tce_at(&f.g[0].grp, 1, DDW_BASE + i * 64 * KiB),
				 (h0 + i * 64 * KiB) | 1);
	assert_int_equal(rinfo(f.ctx, RAM(&f, 0), 1).mapped, 514);
	assert_int_equal(cinfo(f.c).tces, 513);
	/* Sub-page offsets: 16 TCEs of 4 KiB in one 64 KiB host page. */
	assert_int_equal(io_map(f.c, RAM(&f, 0x30000), 0x100000, 64 * KiB, RW), 0);
	for (unsigned int i = 0; i < 16; i++)
		assert_int_equal(tce_at(&f.g[0].grp, 0, 0x100000 + i * 4096),
				 (h0 + 0x30000 + i * 4096) | 3);
	/* Overwriting: the old region count goes, the new one comes. */
	assert_int_equal(io_map(f.c, RAM(&f, 0x9000), 0x1000, 4096, VFIO_DMA_MAP_FLAG_WRITE), 0);
	assert_int_equal(tce_at(&f.g[0].grp, 0, 0x1000), (h0 + 0x9000) | 3);
	assert_int_equal(rinfo(f.ctx, RAM(&f, 0), 1).mapped, 1 + 1 + 512 + 16);
	assert_int_equal(cinfo(f.c).tces, 1 + 512 + 16);

	/* Fixed: UNREGISTER of a mapped region is -EBUSY and changes nothing. */
	assert_int_equal(io_unregister(f.c, RAM(&f, 0), 32 * MiB), -EBUSY);
	ri = rinfo(f.ctx, RAM(&f, 0), 1);
	assert_int_equal(ri.used, 1);
	assert_int_equal(cinfo(f.c).prereg_regions, 1);

	/* MAP's errors, in Linux's order; none changes anything. */
	assert_int_equal(io_map(f.c, RAM(&f, 0), 0x1000, 4096, 8), -EINVAL);
	assert_int_equal(io_map(f.c, RAM(&f, 0), 2 * GiB, 4096, RW), -ENXIO);
	assert_int_equal(io_map(f.c, RAM(&f, 0), DDW_BASE, 4096, RW), -EINVAL);	/* size */
	assert_int_equal(io_map(f.c, RAM(&f, 4096), DDW_BASE, 64 * KiB, RW), -EINVAL); /* vaddr */
	assert_int_equal(io_map(f.c, RAM(&f, 0), DDW_BASE, 64 * KiB, 0), -EINVAL);	/* dir */
	assert_int_equal(io_map(f.c, RAM(&f, 0), DDW_BASE + 4096, 64 * KiB, RW), -EINVAL);
	assert_int_equal(io_map(f.c, RAM(&f, 0), DDW_BASE, 0, RW), -EINVAL);
	assert_int_equal(io_map(f.c, RAM(&f, 0), DDW_BASE + 1 * GiB - 64 * KiB, 128 * KiB, RW),
			 -EINVAL); /* past the window: fixed */
	assert_int_equal(io_map(f.c, ~0xffffULL, DDW_BASE, 128 * KiB, RW), -EINVAL); /* wraps */
	/* Memory not registered, or not by this container. */
	assert_int_equal(io_map(f.c, RAM(&f, 48 * MiB), 0x200000, 4096, RW), -EINVAL);
	/*
	 * Fixed: a range whose tail is not registered maps nothing (upstream maps
	 * the head, clears it, and so also drops what the head overwrote).
	 */
	assert_int_equal(io_map(f.c, RAM(&f, 32 * MiB - 8192), 0x0, 4 * 4096, RW), -EINVAL);
	assert_int_equal(tce_at(&f.g[0].grp, 0, 0x1000), (h0 + 0x9000) | 3);
	assert_int_equal(rinfo(f.ctx, RAM(&f, 0), 1).mapped, 1 + 1 + 512 + 16);

	/* UNMAP's errors; then ranges with empty entries; counts come back. */
	assert_int_equal(io_unmap(f.c, 2 * GiB, 4096), -ENXIO);
	assert_int_equal(io_unmap(f.c, DDW_BASE, 4096), -EINVAL);
	assert_int_equal(io_unmap(f.c, DDW_BASE + 4096, 64 * KiB), -EINVAL);
	assert_int_equal(io_unmap(f.c, DDW_BASE, 0), -EINVAL);
	assert_int_equal(io_unmap(f.c, DDW_BASE + 1 * GiB - 64 * KiB, 128 * KiB), -EINVAL);
	assert_int_equal(io_unmap(f.c, DDW_BASE, 1 * GiB), 0);
	assert_int_equal(rinfo(f.ctx, RAM(&f, 0), 1).mapped, 1 + 1 + 16);
	assert_int_equal(io_unmap(f.c, 0, 2 * MiB), 0);
	assert_int_equal(rinfo(f.ctx, RAM(&f, 0), 1).mapped, 1);
	assert_int_equal(cinfo(f.c).tces, 0);
	assert_int_equal(io_unregister(f.c, RAM(&f, 0), 32 * MiB), 0);
	fx_fini(&f);
}

/* A MAP may span adjacent registrations; each counts its own TCEs. */
static void test_v2_adjacent_regions(void **state)
{
	struct fx f;
	uint64_t start;

	(void)state;
	fx_open(&f, 16, V2);
	assert_int_equal(io_register(f.c, RAM(&f, 0), 1 * MiB), 0);
	assert_int_equal(io_register(f.c, RAM(&f, 1 * MiB), 1 * MiB), 0);
	assert_int_equal(io_create(f.c, 12, 1 * GiB, 1, &start), 0); /* creates the default first */
	assert_int_equal(start, DDW_BASE);
	assert_int_equal(io_map(f.c, RAM(&f, 1 * MiB - 3 * 4096), 0, 8 * 4096, RW), 0);
	assert_int_equal(rinfo(f.ctx, RAM(&f, 0), 1).mapped, 4);
	assert_int_equal(rinfo(f.ctx, RAM(&f, 1 * MiB), 1).mapped, 6);
	assert_int_equal(io_unregister(f.c, RAM(&f, 1 * MiB), 1 * MiB), -EBUSY);
	assert_int_equal(io_unmap(f.c, 0, 8 * 4096), 0);
	assert_int_equal(rinfo(f.ctx, RAM(&f, 0), 1).mapped, 1);
	assert_int_equal(rinfo(f.ctx, RAM(&f, 1 * MiB), 1).mapped, 1);
	fx_fini(&f);
}

/* IOMMU pages larger than the host page: only memory the model vouches for at that size. */
static void test_v2_huge_pages(void **state)
{
	struct fx f;
	uint64_t start;
	void *huge = NULL;

	(void)state;
	fx_open(&f, 16, V2);
	assert_int_equal(uiommu_hostmem_alloc(f.ctx, 32 * MiB, 24, UIOMMU_HOSTMEM_SCATTER, &huge), 0);
	assert_int_equal(io_register(f.c, RAM(&f, 0), 32 * MiB), 0);
	assert_int_equal(io_register(f.c, (uintptr_t)huge, 32 * MiB), 0);
	assert_int_equal(rinfo(f.ctx, RAM(&f, 0), 1).page_shift, 16);
	assert_int_equal(rinfo(f.ctx, (uintptr_t)huge, 1).page_shift, 24);
	assert_int_equal(io_remove(f.c, 0), 0);
	assert_int_equal(io_create(f.c, 24, 1 * GiB, 1, &start), 0);
	/* Ordinary memory (16 MiB aligned even) is refused, as Linux refuses THP. */
	assert_int_equal(io_map(f.c, RAM(&f, 0), 0, 16 * MiB, RW), -EINVAL);
	/* Huge pages: each TCE is one 16 MiB page, wherever it lies. */
	assert_int_equal(io_map(f.c, (uintptr_t)huge, 0, 32 * MiB, RW), 0);
	assert_int_equal(tce_at(&f.g[0].grp, 0, 0), hpa_of(f.ctx, huge) | 3);
	assert_int_equal(tce_at(&f.g[0].grp, 0, 16 * MiB),
			 hpa_of(f.ctx, (char *)huge + 16 * MiB) | 3);
	assert_int_not_equal(hpa_of(f.ctx, (char *)huge + 16 * MiB), hpa_of(f.ctx, huge) + 16 * MiB);
	assert_int_equal(io_unmap(f.c, 0, 32 * MiB), 0);
	assert_int_equal(io_unregister(f.c, (uintptr_t)huge, 32 * MiB), 0);
	assert_int_equal(uiommu_hostmem_free(f.ctx, huge), 0);
	fx_fini(&f);
}

/* A table level cannot be allocated: what was mapped is cleared, every count restored. */
static void test_v2_map_enomem(void **state)
{
	struct fx f;
	uint64_t start, frames;

	(void)state;
	fx_open(&f, 12, V2);
	assert_int_equal(io_register(f.c, RAM(&f, 0), 16 * MiB), 0);
	assert_int_equal(io_create(f.c, 12, 1 * GiB, 3, &start), 0);
	assert_int_equal(start, DDW_BASE);
	/* Entries 0..511 share a last-level page, 512.. the next one. */
	assert_int_equal(io_map(f.c, RAM(&f, 0), DDW_BASE + 500 * 4096, 4096, RW), 0);
	frames = ctx_usage(f.ctx, UIOMMU_RES_FRAME_BYTES);
	for (uint64_t n = 1;; n++) {
		int ret;

		assert_int_equal(uiommu_ctx_inject_fault(f.ctx, n, UIOMMU_FAULT_FRAME), 0);
		ret = io_map(f.c, RAM(&f, 4096), DDW_BASE + 496 * 4096, 32 * 4096, RW);
		assert_int_equal(uiommu_ctx_inject_fault(f.ctx, 0, 0), 0);
		if (!ret)
			break;
		assert_int_equal(ret, -ENOMEM);
		/* As upstream, the entries mapped before the failure are cleared, 500 too. */
		assert_int_equal(tce_at(&f.g[0].grp, 1, DDW_BASE + 500 * 4096), 0);
		assert_int_equal(rinfo(f.ctx, RAM(&f, 0), 1).mapped, 1);
		assert_int_equal(cinfo(f.c).tces, 0);
		assert_int_equal(io_map(f.c, RAM(&f, 0), DDW_BASE + 500 * 4096, 4096, RW), 0);
	}
	assert_true(ctx_usage(f.ctx, UIOMMU_RES_FRAME_BYTES) > frames);
	assert_int_equal(rinfo(f.ctx, RAM(&f, 0), 1).mapped, 33);
	fx_fini(&f);
}

/* ---- several groups share the tables ---- */

static void test_shared_tables(void **state)
{
	struct fx f;
	uint64_t start;

	(void)state;
	fx_open(&f, 16, V2);
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[1].grp, f.c), 0);
	assert_int_equal(io_register(f.c, RAM(&f, 0), 4 * MiB), 0);
	assert_int_equal(io_create(f.c, 16, 1 * GiB, 1, &start), 0);
	assert_ptr_equal(f.g[0].grp.tables[0], f.g[1].grp.tables[0]);
	assert_ptr_equal(f.g[0].grp.tables[1], f.g[1].grp.tables[1]);
	assert_int_equal(io_map(f.c, RAM(&f, 0), DDW_BASE, 1 * MiB, RW), 0);
	assert_int_equal(tce_at(&f.g[1].grp, 1, DDW_BASE), hpa_of(f.ctx, f.ram.hva) | 3);

	/* Fixed: a set_window failing on the second group unsets only the first. */
	assert_int_equal(io_remove(f.c, 0), 0);
	f.g[0].fail[VT_SET_WINDOW] = -EIO; /* the IOMMU's list: g1 first, then g0 */
	assert_int_equal(io_create(f.c, 12, 1 * GiB, 1, &start), -EIO);
	assert_int_equal(f.g[0].calls[VT_UNSET_WINDOW], 1); /* the REMOVE above */
	assert_int_equal(f.g[1].calls[VT_UNSET_WINDOW], 2);
	assert_null(f.g[1].grp.tables[0]);

	/* v6.11: detaching one group clears the shared tables for the others too. */
	assert_int_equal(uiommu_vfio_group_unset_container(&f.g[1].grp), 0);
	vt_group_check_idle(&f.g[1]);
	assert_non_null(f.g[0].grp.tables[1]);
	assert_int_equal(tce_at(&f.g[0].grp, 1, DDW_BASE), 0);
	assert_int_equal(cinfo(f.c).tces, 0);
	assert_int_equal(rinfo(f.ctx, RAM(&f, 0), 1).mapped, 1);
	fx_fini(&f);
}

/* Operations a group lacks, found before anything changes. */
static uint64_t no_size(struct uiommu_table_group *grp, unsigned int a, uint64_t b, unsigned int c)
{
	(void)grp, (void)a, (void)b, (void)c;
	return 0;
}

static void test_missing_ops(void **state)
{
	static const struct uiommu_table_group_ops no_unset = {
		.get_table_size = vt_get_table_size, .create_table = vt_create_table,
		.set_window = vt_set_window, .take_ownership = vt_take,
		.release_ownership = vt_release,
	};
	static const struct uiommu_table_group_ops no_create_ops = {
		.create_table = vt_create_table, .set_window = vt_set_window,
		.unset_window = vt_unset_window, .take_ownership = vt_take,
		.release_ownership = vt_release, .get_table_size = no_size,
	};
	struct fx f;
	struct vt_group bad, nosize;
	uint64_t start;

	(void)state;
	fx_init(&f, 16);
	vt_group_init(&bad, f.ctx, &no_unset, 8);
	assert_int_equal(uiommu_vfio_group_set_container(&bad.grp, f.c), 0);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_SET_IOMMU, V2), 0);
	/* Attached last, g0 is the IOMMU's first group: its ops make the tables. */
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[0].grp, f.c), 0);
	assert_int_equal(io_register(f.c, RAM(&f, 0), 1 * MiB), 0);
	assert_int_equal(io_map(f.c, RAM(&f, 0), 0, 4096, RW), 0); /* the default window */
	/* Fixed: REMOVE finds the group without unset_window before clearing anything. */
	assert_int_equal(io_remove(f.c, 0), -EPERM);
	assert_int_equal(tce_at(&f.g[0].grp, 0, 0), hpa_of(f.ctx, f.ram.hva) | 3);
	assert_int_equal(io_unmap(f.c, 0, 4096), 0);
	/* Its detach cannot unset the window; the test takes it back by hand. */
	assert_int_equal(uiommu_vfio_group_unset_container(&bad.grp), -EBUSY);
	bad.grp.tables[0] = uiommu_tce_table_unref(bad.grp.tables[0]);
	bad.owned = false;
	assert_int_equal(uiommu_vfio_group_unset_container(&f.g[0].grp), 0);

	/* CREATE with a first group whose get_table_size refuses: -EINVAL; no op: -EPERM. */
	vt_group_init(&nosize, f.ctx, &no_create_ops, 9);
	assert_int_equal(uiommu_vfio_group_set_container(&nosize.grp, f.c), 0);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_SET_IOMMU, V2), 0);
	assert_int_equal(io_create(f.c, 12, 1 * GiB, 1, &start), -EINVAL); /* the default window */
	assert_int_equal(uiommu_vfio_group_unset_container(&nosize.grp), 0);
	nosize.grp.ops = &no_unset;
	assert_int_equal(uiommu_vfio_group_set_container(&nosize.grp, f.c), 0);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_SET_IOMMU, V2), 0);
	assert_int_equal(io_remove(f.c, 0), 0);
	assert_int_equal(io_create(f.c, 12, 1 * GiB, 1, &start), -EPERM);
	assert_int_equal(uiommu_vfio_group_unset_container(&nosize.grp), 0);
	vt_group_check_idle(&nosize);
	fx_fini(&f);
}

/* ---- EEH ---- */

static void test_eeh(void **state)
{
	static const struct uiommu_table_group_ops no_eeh = {
		.get_table_size = vt_get_table_size, .create_table = vt_create_table,
		.set_window = vt_set_window, .unset_window = vt_unset_window,
		.take_ownership = vt_take, .release_ownership = vt_release,
	};
	struct vfio_eeh_pe_op e;
	struct uiommu_eeh_pe_err err = { .type = 0, .func = 12 };
	struct vt_group plain;
	struct fx f;

	(void)state;
	fx_open(&f, 16, V2);
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[1].grp, f.c), 0);
	assert_int_equal(io_eeh(f.c, VFIO_EEH_PE_ENABLE), 0);
	assert_int_equal(f.g[0].last_eeh_op, VFIO_EEH_PE_ENABLE);
	assert_int_equal(f.g[1].last_eeh_op, VFIO_EEH_PE_ENABLE);
	/* GET_STATE: the first state (in the IOMMU's order: g1, g0) that is not NORMAL. */
	assert_int_equal(io_eeh(f.c, VFIO_EEH_PE_GET_STATE), VFIO_EEH_PE_STATE_NORMAL);
	f.g[0].eeh_state = VFIO_EEH_PE_STATE_STOPPED;
	assert_int_equal(io_eeh(f.c, VFIO_EEH_PE_GET_STATE), VFIO_EEH_PE_STATE_STOPPED);
	f.g[1].eeh_state = VFIO_EEH_PE_STATE_RESET;
	assert_int_equal(io_eeh(f.c, VFIO_EEH_PE_GET_STATE), VFIO_EEH_PE_STATE_RESET);
	/* The first error stops the loop. */
	f.g[1].fail[VT_EEH] = -EIO;
	f.g[0].calls[VT_EEH] = 0;
	assert_int_equal(io_eeh(f.c, VFIO_EEH_PE_CONFIGURE), -EIO);
	assert_int_equal(f.g[0].calls[VT_EEH], 0);
	/* The struct's checks. */
	memset(&e, 0, sizeof(e));
	e.argsz = 11;
	e.op = VFIO_EEH_PE_ENABLE;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_EEH_PE_OP, &e), -EINVAL);
	e.argsz = sizeof(e);
	e.flags = 1;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_EEH_PE_OP, &e), -EINVAL);
	e.flags = 0;
	e.op = VFIO_EEH_PE_INJECT_ERR;
	e.argsz = offsetof(struct vfio_eeh_pe_op, err.mask);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_EEH_PE_OP, &e), -EINVAL);
	e.argsz = sizeof(e);
	e.err.func = 12;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_EEH_PE_OP, &e), 0);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_EEH_PE_OP, NULL), -EFAULT);
	assert_int_equal(uiommu_vfio_eeh_pe_op(f.c, VFIO_EEH_PE_INJECT_ERR, &err), 0);
	assert_int_equal(uiommu_vfio_eeh_pe_op(f.c, VFIO_EEH_PE_INJECT_ERR, NULL), -EINVAL);
	assert_int_equal(uiommu_vfio_eeh_pe_op(f.c, 99, NULL), -EINVAL);
	assert_int_equal(uiommu_vfio_eeh_pe_op(NULL, 0, NULL), -EINVAL);
	/* A group without EEH: -ENODEV, before the struct is read. */
	vt_group_init(&plain, f.ctx, &no_eeh, 4);
	assert_int_equal(uiommu_vfio_group_set_container(&plain.grp, f.c), 0);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_EEH_PE_OP, NULL), -ENODEV);
	assert_int_equal(uiommu_vfio_eeh_pe_op(f.c, VFIO_EEH_PE_ENABLE, NULL), -ENODEV);
	assert_int_equal(uiommu_vfio_group_unset_container(&plain.grp), 0);
	fx_fini(&f);
}

/* ---- the UAPI: argsz, flags, NULL, per request and type ---- */

static void test_uapi_matrix(void **state)
{
	struct vfio_iommu_type1_dma_map m = { .argsz = 32, .flags = RW, .size = 4096 };
	struct vfio_iommu_type1_dma_unmap u = { .argsz = 24, .size = 4096 };
	struct vfio_iommu_spapr_register_memory r = { .argsz = 24 };
	struct vfio_iommu_spapr_tce_create cr = { .argsz = 40, .page_shift = 12,
						  .window_size = 1 << 30, .levels = 1 };
	struct vfio_iommu_spapr_tce_remove rm = { .argsz = 16 };
	struct fx f;

	(void)state;
	fx_open(&f, 16, V2);
	r.vaddr = RAM(&f, 0);
	r.size = 1 * MiB;
	m.vaddr = RAM(&f, 0);
	/* Short argsz: -EINVAL for each. */
	r.argsz = 23;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), -EINVAL);
	r.argsz = 24;
	r.flags = 1;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), -EINVAL);
	r.flags = 0;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, NULL), -EFAULT);
	/* A larger argsz is fine (a newer struct). */
	r.argsz = 4096;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), 0);

	m.argsz = 31;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_MAP_DMA, &m), -EINVAL);
	m.argsz = 32;
	m.flags = VFIO_DMA_MAP_FLAG_VADDR | RW; /* type1 only */
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_MAP_DMA, &m), -EINVAL);
	m.flags = RW;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_MAP_DMA, NULL), -EFAULT);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_MAP_DMA, &m), 0);

	u.argsz = 23;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_UNMAP_DMA, &u), -EINVAL);
	u.argsz = 24;
	u.flags = VFIO_DMA_UNMAP_FLAG_ALL;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_UNMAP_DMA, &u), -EINVAL);
	u.flags = 0;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_UNMAP_DMA, NULL), -EFAULT);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_UNMAP_DMA, &u), 0);

	cr.argsz = 39;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr), -EINVAL);
	cr.argsz = 40;
	cr.flags = 1;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr), -EINVAL);
	cr.flags = 0;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_TCE_CREATE, NULL), -EFAULT);
	/* As Linux, the reserved fields are not checked. */
	cr.__resv1 = cr.__resv2 = 0xffffffffu;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr), 0);
	assert_int_equal(cr.start_addr, DDW_BASE);

	rm.argsz = 15;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm), -EINVAL);
	rm.argsz = 16;
	rm.flags = 1;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm), -EINVAL);
	rm.flags = 0;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_TCE_REMOVE, NULL), -EFAULT);
	rm.start_addr = DDW_BASE;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm), 0);

	r.argsz = 23;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), -EINVAL);
	r.argsz = 24;
	r.flags = 2;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), -EINVAL);
	r.flags = 0;
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, NULL), -EFAULT);
	assert_int_equal(io_unmap(f.c, 0, 4096), 0);
	assert_int_equal(uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), 0);
	fx_fini(&f);
}

/* ---- the address space ---- */

struct mm_thread {
	struct uiommu_vfio_container *c;
	struct uiommu_mm *mm;
	uint64_t ram;
	int map, info, ext, reg;
};

static void *other_mm_thread(void *arg)
{
	struct mm_thread *t = arg;
	struct uiommu_vfio_info info = { .size = sizeof(info) };

	assert_int_equal(uiommu_mm_use(t->mm), 0);
	t->map = io_map(t->c, t->ram, 0, 4096, RW);
	t->info = uiommu_vfio_info(t->c, &info);
	t->ext = uiommu_vfio_ioctl(t->c, VFIO_CHECK_EXTENSION, V2);
	t->reg = io_register(t->c, t->ram, 64 * KiB);
	assert_int_equal(uiommu_mm_unuse(t->mm), 0);
	return NULL;
}

static void test_address_space(void **state)
{
	struct fx f;
	struct mm_thread t;
	struct uiommu_vfio_container *c2 = NULL;
	pthread_t th;
	pid_t pid;
	int status;

	(void)state;
	fx_open(&f, 16, V2);
	assert_int_equal(io_register(f.c, RAM(&f, 0), 1 * MiB), 0);
	assert_int_equal(io_map(f.c, RAM(&f, 0), 0, 4096, RW), 0);

	/* A fork() child is another process: -EPERM for every IOMMU request. */
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct uiommu_vfio_info info = { .size = sizeof(info) };
		int bad = 0;

		bad |= uiommu_mm_current(f.ctx) != NULL;
		bad |= io_map(f.c, RAM(&f, 0), 4096, 4096, RW) != -EPERM;
		bad |= io_unmap(f.c, 0, 4096) != -EPERM;
		bad |= io_register(f.c, RAM(&f, 1 * MiB), 64 * KiB) != -EPERM;
		bad |= io_unregister(f.c, RAM(&f, 0), 1 * MiB) != -EPERM;
		bad |= io_create(f.c, 12, 1 * GiB, 1, NULL) != -EPERM;
		bad |= io_remove(f.c, 0) != -EPERM;
		bad |= io_eeh(f.c, VFIO_EEH_PE_GET_STATE) != -EPERM;
		bad |= uiommu_vfio_info(f.c, &info) != -EPERM;
		bad |= uiommu_vfio_ioctl(f.c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, NULL) != -EPERM;
		/* VFIO's own requests and CHECK_EXTENSION do not check it, as Linux. */
		bad |= uiommu_vfio_ioctl(f.c, VFIO_CHECK_EXTENSION, V2) != 1;
		bad |= uiommu_vfio_ioctl(f.c, VFIO_GET_API_VERSION) != VFIO_API_VERSION;
		_exit(bad ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* A thread acting in another address space: the same. */
	memset(&t, 0, sizeof(t));
	t.c = f.c;
	t.ram = RAM(&f, 0);
	assert_int_equal(uiommu_mm_new(f.ctx, 0, &t.mm), 0);
	assert_int_equal(pthread_create(&th, NULL, other_mm_thread, &t), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(t.map, -EPERM);
	assert_int_equal(t.info, -EPERM);
	assert_int_equal(t.ext, 1);
	assert_int_equal(t.reg, -EPERM);
	/* In its own container, that address space registers the same memory apart. */
	assert_int_equal(uiommu_vfio_container_new(f.ctx, &c2), 0);
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[1].grp, c2), 0);
	assert_int_equal(uiommu_vfio_ioctl(c2, VFIO_SET_IOMMU, V2), 0);
	t.c = c2;
	assert_int_equal(pthread_create(&th, NULL, other_mm_thread, &t), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(t.reg, 0);
	assert_int_equal(t.map, -EPERM); /* mapped before registering */
	/* The address space is held while a container binds it. */
	assert_int_equal(uiommu_mm_free(t.mm), -EBUSY);
	/* This thread is not in it. */
	assert_int_equal(io_map(c2, RAM(&f, 0), 0, 4096, RW), -EPERM);
	assert_int_equal(uiommu_vfio_container_free(c2), 0);
	assert_int_equal(uiommu_mm_free(t.mm), 0);
	fx_fini(&f);
}

/* ---- real PEs: a device does DMA through what the container mapped ---- */

static void test_real_pe(void **state)
{
	struct uiommu_ctx *ctx = vt_ctx_new(16);
	struct uiommu_phb *phb = vt_phb_new(ctx, 0);
	struct uiommu_pe *pe = vt_pe_new(phb, 1), *pe2 = vt_pe_new(phb, 2);
	struct uiommu_dev_config dc = { .size = sizeof(dc), .bdf = UIOMMU_PCI_BDF(0, 1, 0) };
	struct uiommu_pe_info pi = { .size = sizeof(pi) };
	struct uiommu_vfio_container *c = NULL;
	struct uiommu_dev *dev = NULL;
	struct vt_ram ram;
	uint64_t start;
	char buf[64];

	(void)state;
	vt_ram_new(ctx, 16 * MiB, 16 * MiB, &ram);
	assert_int_equal(uiommu_dev_new(pe, &dc, &dev), 0);
	assert_int_equal(uiommu_vfio_container_new(ctx, &c), 0);
	assert_int_equal(uiommu_vfio_group_set_container(uiommu_pe_table_group(pe), c), 0);
	assert_int_equal(uiommu_pe_info(pe, &pi), 0);
	assert_true(pi.flags & UIOMMU_PE_USER_OWNED);
	assert_int_equal(uiommu_vfio_ioctl(c, VFIO_SET_IOMMU, V2), 0);
	assert_int_equal(uiommu_vfio_group_set_container(uiommu_pe_table_group(pe2), c), 0);
	assert_int_equal(io_register(c, (uintptr_t)ram.hva, 16 * MiB), 0);
	assert_int_equal(io_remove(c, 0), 0);
	assert_int_equal(io_create(c, 12, 1 * GiB, 1, &start), 0);
	assert_int_equal(start, 0);
	assert_int_equal(io_create(c, 16, 4 * GiB, 2, &start), 0);
	assert_int_equal(start, UIOMMU_PE_BUS_OFFSET_64);

	/* The device reads what is in memory and writes where the TCE says. */
	strcpy(ram.hva + 0x12340, "through the container");
	assert_int_equal(io_map(c, (uintptr_t)ram.hva + 0x10000, 0x5000, 16 * KiB,
				VFIO_DMA_MAP_FLAG_READ), 0);
	assert_int_equal(uiommu_dev_dma_read(dev, 0x7340, buf, 22, NULL), 0);
	assert_string_equal(buf, "through the container");
	assert_int_equal(uiommu_dev_dma_write(dev, 0x7340, "x", 1, NULL), -EFAULT);
	assert_int_equal(io_map(c, (uintptr_t)ram.hva + 0x40000, start + 0x40000, 64 * KiB,
				VFIO_DMA_MAP_FLAG_WRITE), 0);
	assert_int_equal(uiommu_dev_dma_write(dev, start + 0x40010, "DDW", 4, NULL), 0);
	assert_string_equal(ram.hva + 0x40010, "DDW");
	/* Unmapped: the device faults (the kill reached the PE's TCE cache). */
	assert_int_equal(io_unmap(c, 0x5000, 16 * KiB), 0);
	assert_int_equal(uiommu_dev_dma_read(dev, 0x7340, buf, 4, NULL), -EFAULT);
	/* EEH reaches the PEs. */
	assert_int_equal(io_eeh(c, VFIO_EEH_PE_GET_STATE), VFIO_EEH_PE_STATE_NORMAL);
	assert_int_equal(io_eeh(c, VFIO_EEH_PE_RESET_HOT), 0);
	assert_int_equal(io_eeh(c, VFIO_EEH_PE_GET_STATE), VFIO_EEH_PE_STATE_RESET);
	assert_int_equal(io_eeh(c, VFIO_EEH_PE_RESET_DEACTIVATE), 0);
	assert_int_equal(io_eeh(c, VFIO_EEH_PE_GET_STATE), VFIO_EEH_PE_STATE_NORMAL);

	/* The PEs go back to the host, the memory is unpinned, everything uncharged. */
	assert_int_equal(uiommu_vfio_container_free(c), 0);
	assert_int_equal(uiommu_pe_info(pe, &pi), 0);
	assert_false(pi.flags & UIOMMU_PE_USER_OWNED);
	assert_true(pi.flags & UIOMMU_PE_BYPASS);
	assert_int_equal(uiommu_dev_free(dev), 0);
	assert_int_equal(uiommu_pe_free(pe2), 0);
	assert_int_equal(uiommu_pe_free(pe), 0);
	assert_int_equal(uiommu_phb_free(phb), 0);
	vt_ram_free(ctx, &ram);
	test_ctx_free(ctx);
}

/* ---- fault injection at every allocation and pin ---- */

struct scen {
	struct uiommu_phb *phb;
	struct uiommu_pe *pe[2];
	struct uiommu_vfio_container *c, *c1;
	struct vt_ram ram;
};

/* Everything a VMM does, v2 and v1; the first error is returned. */
static int scenario(struct uiommu_ctx *ctx, struct scen *s)
{
	uint64_t start;
	int ret;

	if ((ret = uiommu_vfio_container_new(ctx, &s->c)) ||
	    (ret = uiommu_vfio_group_set_container(uiommu_pe_table_group(s->pe[0]), s->c)) ||
	    (ret = uiommu_vfio_ioctl(s->c, VFIO_SET_IOMMU, V2)) ||
	    (ret = uiommu_vfio_group_set_container(uiommu_pe_table_group(s->pe[1]), s->c)) ||
	    (ret = io_register(s->c, (uintptr_t)s->ram.hva, 4 * MiB)) ||
	    (ret = io_register(s->c, (uintptr_t)s->ram.hva + 4 * MiB, 4 * MiB)) ||
	    (ret = io_map(s->c, (uintptr_t)s->ram.hva, 0x10000, 16 * 4096, RW)) ||
	    (ret = io_create(s->c, 16, 16 * GiB, 2, &start)) ||
	    (ret = io_map(s->c, (uintptr_t)s->ram.hva, start, 8 * MiB, RW)) ||
	    (ret = io_map(s->c, (uintptr_t)s->ram.hva + 4 * MiB, start + 7 * GiB, 64 * KiB, RW)) ||
	    (ret = io_unmap(s->c, start, 4 * MiB)) ||
	    (ret = io_remove(s->c, 0)))
		return ret;
	/* A detach clears the shared tables: the second region is no longer mapped. */
	if ((ret = io_map(s->c, (uintptr_t)s->ram.hva + 4 * MiB, start, 64 * KiB, RW)))
		return ret;
	if (io_unregister(s->c, (uintptr_t)s->ram.hva + 4 * MiB, 4 * MiB) != -EBUSY)
		return -EALREADY;
	if ((ret = uiommu_vfio_group_unset_container(uiommu_pe_table_group(s->pe[1]))))
		return ret;
	return io_unregister(s->c, (uintptr_t)s->ram.hva + 4 * MiB, 4 * MiB);
}

static int scenario_v1(struct uiommu_ctx *ctx, struct scen *s)
{
	int ret;

	if ((ret = uiommu_vfio_container_new(ctx, &s->c1)) ||
	    (ret = uiommu_vfio_group_set_container(uiommu_pe_table_group(s->pe[1]), s->c1)) ||
	    (ret = uiommu_vfio_ioctl(s->c1, VFIO_SET_IOMMU, V1)) ||
	    (ret = uiommu_vfio_ioctl(s->c1, VFIO_IOMMU_ENABLE)) ||
	    (ret = io_map(s->c1, (uintptr_t)s->ram.hva + 8 * MiB, 0x1000, 32 * 4096, RW)) ||
	    (ret = io_map(s->c1, (uintptr_t)s->ram.hva + 9 * MiB, 0x2000, 2 * 4096, RW)) ||
	    (ret = io_unmap(s->c1, 0x0, 64 * KiB)))
		return ret;
	return 0;
}

static void scen_teardown(struct uiommu_ctx *ctx, struct scen *s)
{
	struct uiommu_pe_info pi = { .size = sizeof(pi) };

	/* The container frees whatever state it reached; a PE it could not give back stays. */
	uiommu_vfio_container_free(s->c);
	uiommu_vfio_container_free(s->c1);
	s->c = s->c1 = NULL;
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(uiommu_pe_info(s->pe[i], &pi), 0);
		if (pi.flags & UIOMMU_PE_USER_OWNED)
			assert_int_equal(uiommu_table_group_release_ownership(
						 uiommu_pe_table_group(s->pe[i])), 0);
	}
}

static void test_fault_injection(void **state)
{
	struct uiommu_ctx *ctx = vt_ctx_new(16);
	struct scen s = { 0 };
	uint64_t base[UIOMMU_RES_NR];
	unsigned int runs = 0;

	(void)state;
	s.phb = vt_phb_new(ctx, 0);
	s.pe[0] = vt_pe_new(s.phb, 1);
	s.pe[1] = vt_pe_new(s.phb, 2);
	vt_ram_new(ctx, 16 * MiB, 16 * MiB, &s.ram);
	for (int r = 0; r < UIOMMU_RES_NR; r++)
		base[r] = ctx_usage(ctx, (enum uiommu_resource)r);
	for (unsigned int persist = 0; persist < 2; persist++) {
		for (uint64_t n = 1;; n++) {
			int ret;

			assert_int_equal(uiommu_ctx_inject_fault(ctx, n, UIOMMU_FAULT_ALL |
						(persist ? UIOMMU_FAULT_PERSIST : 0)), 0);
			ret = scenario(ctx, &s);
			if (!ret)
				ret = scenario_v1(ctx, &s);
			runs++;
			if (!ret && !ctx_counter(ctx, UIOMMU_COUNTER_FAULTS_INJECTED)) {
				scen_teardown(ctx, &s);
				break;
			}
			if (ret != 0 && ret != -ENOMEM)
				print_error("n=%llu: %s\n", (unsigned long long)n, uiommu_strerror(ret));
			assert_true(ret == 0 || ret == -ENOMEM);
			scen_teardown(ctx, &s);
			/* Nothing leaked: pins, charges, tables, regions, containers. */
			for (int r = 0; r < UIOMMU_RES_NR; r++) {
				if (r == UIOMMU_RES_HEAP_BYTES || r == UIOMMU_RES_FRAME_BYTES ||
				    r == UIOMMU_RES_TABLE_BYTES || r == UIOMMU_RES_WINDOWS)
					continue; /* the PEs' host tables come back (checked below) */
				if (ctx_usage(ctx, (enum uiommu_resource)r) != base[r]) {
					print_error("n=%llu: %s at %llu, was %llu\n",
						    (unsigned long long)n,
						    uiommu_resource_name((enum uiommu_resource)r),
						    (unsigned long long)ctx_usage(ctx, (enum uiommu_resource)r),
						    (unsigned long long)base[r]);
					fail();
				}
			}
			assert_int_equal(ctx_usage(ctx, UIOMMU_RES_WINDOWS), base[UIOMMU_RES_WINDOWS]);
			assert_int_equal(ctx_usage(ctx, UIOMMU_RES_TABLE_BYTES),
					 base[UIOMMU_RES_TABLE_BYTES]);
		}
	}
	print_message("%u runs\n", runs);
	assert_true(runs > 40);
	for (int i = 0; i < 2; i++)
		assert_int_equal(uiommu_pe_free(s.pe[i]), 0);
	assert_int_equal(uiommu_phb_free(s.phb), 0);
	vt_ram_free(ctx, &s.ram);
	test_ctx_free(ctx);
}

/* The remaining documented errors, one by one. */
static void test_more_errors(void **state)
{
	static const struct uiommu_table_group_ops no_take = {
		.get_table_size = vt_get_table_size, .create_table = vt_create_table,
		.set_window = vt_set_window, .unset_window = vt_unset_window,
		.release_ownership = vt_release,
	};
	struct uiommu_vfio_container *c2 = NULL;
	struct vt_group nt;
	uint64_t start;
	struct fx f;

	(void)state;
	fx_init(&f, 16);
	/* A group without take_ownership: -EPERM (as the wrapper refuses a missing op). */
	vt_group_init(&nt, f.ctx, &no_take, 3);
	assert_int_equal(uiommu_vfio_group_set_container(&nt.grp, f.c), -EPERM);
	/* NULL containers and outputs. */
	assert_int_equal(uiommu_vfio_enable(NULL), -EINVAL);
	assert_int_equal(uiommu_vfio_disable(NULL), -EINVAL);
	assert_int_equal(uiommu_vfio_register_memory(NULL, 0, 0), -EINVAL);
	assert_int_equal(uiommu_vfio_unregister_memory(NULL, 0, 0), -EINVAL);
	assert_int_equal(uiommu_vfio_create_window(NULL, 12, GiB, 1, &start), -EINVAL);
	assert_int_equal(uiommu_vfio_create_window(f.c, 12, GiB, 1, NULL), -EINVAL);
	assert_int_equal(uiommu_vfio_remove_window(NULL, 0), -EINVAL);
	assert_int_equal(uiommu_vfio_map_dma(NULL, 0, 0, 4096, 3), -EINVAL);
	assert_int_equal(uiommu_vfio_unmap_dma(NULL, 0, 4096), -EINVAL);
	/* The typed calls before SET_IOMMU: -EINVAL (no IOMMU). */
	assert_int_equal(uiommu_vfio_enable(f.c), -EINVAL);
	assert_int_equal(uiommu_vfio_remove_window(f.c, 0), -EINVAL);
	assert_int_equal(uiommu_vfio_eeh_pe_op(f.c, 0, NULL), -EINVAL);

	/* v1 on a group with no 32-bit window: ENABLE is -EPERM. */
	f.g[0].grp.tce32_size = 0;
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[0].grp, f.c), 0);
	assert_int_equal(uiommu_vfio_set_iommu(f.c, V1), 0);
	assert_int_equal(uiommu_vfio_enable(f.c), -EPERM);
	assert_int_equal(uiommu_vfio_disable(f.c), 0);
	assert_int_equal(uiommu_vfio_group_unset_container(&f.g[0].grp), 0);
	f.g[0].grp.tce32_size = 2 * GiB;

	/* The first binding request cannot make the process address space: -ENOMEM. */
	assert_int_equal(uiommu_vfio_container_new(f.ctx, &c2), 0);
	assert_int_equal(uiommu_vfio_group_set_container(&f.g[1].grp, c2), 0);
	assert_int_equal(uiommu_vfio_set_iommu(c2, V2), 0);
	assert_int_equal(uiommu_ctx_inject_fault(f.ctx, 1, UIOMMU_FAULT_HEAP), 0);
	assert_int_equal(uiommu_vfio_remove_window(c2, 0), -ENOMEM);
	assert_int_equal(uiommu_ctx_inject_fault(f.ctx, 0, 0), 0);
	assert_false(cinfo(c2).flags & UIOMMU_VFIO_INFO_MM_BOUND);
	assert_int_equal(uiommu_vfio_remove_window(c2, 0), 0);
	/* Freeing a container whose group cannot be given back: its error, the group stays. */
	f.g[1].fail[VT_RELEASE] = -ENOMEM;
	assert_int_equal(uiommu_vfio_container_free(c2), -ENOMEM);
	assert_true(f.g[1].owned);
	assert_int_equal(uiommu_table_group_release_ownership(&f.g[1].grp), 0);
	fx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constants),
		cmocka_unit_test(test_container),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_get_info),
		cmocka_unit_test(test_v1),
		cmocka_unit_test(test_v1_contained),
		cmocka_unit_test(test_v2_register),
		cmocka_unit_test(test_v2_windows),
		cmocka_unit_test(test_v2_default_window),
		cmocka_unit_test(test_v2_default_window_elsewhere),
		cmocka_unit_test(test_v2_map),
		cmocka_unit_test(test_v2_adjacent_regions),
		cmocka_unit_test(test_v2_huge_pages),
		cmocka_unit_test(test_v2_map_enomem),
		cmocka_unit_test(test_shared_tables),
		cmocka_unit_test(test_missing_ops),
		cmocka_unit_test(test_eeh),
		cmocka_unit_test(test_uapi_matrix),
		cmocka_unit_test(test_address_space),
		cmocka_unit_test(test_real_pe),
		cmocka_unit_test(test_fault_injection),
		cmocka_unit_test(test_more_errors),
	};

	test_require_memfd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
