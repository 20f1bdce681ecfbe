/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers of the VFIO container tests: memory with a known alignment, a
 * host PHB with PEs, and a table group the test implements itself, whose
 * every op can be made to fail (the rollback paths), counting what it
 * holds so that a test can prove nothing is left set or referenced.
 */
#ifndef UIOMMU_TEST_VFIO_UTIL_H
#define UIOMMU_TEST_VFIO_UTIL_H

#include "test_util.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static inline void vt_log(void *opaque, enum uiommu_log_level level, const char *msg)
{
	(void)opaque;
	fprintf(stderr, "uiommu[%d]: %s\n", level, msg);
}

/*
 * A context that simulates pinning (no RLIMIT_MEMLOCK needed), with room to
 * lock; UIOMMU_TEST_LOG=1 prints its log.
 */
static inline struct uiommu_ctx *vt_ctx_new(unsigned int host_page_shift)
{
	struct uiommu_ctx_config cfg = {
		.size = sizeof(cfg),
		.flags = UIOMMU_CTX_PIN_SIMULATE,
		.host_page_shift = host_page_shift,
		.log_fn = getenv("UIOMMU_TEST_LOG") ? vt_log : NULL,
		.log_max_level = UIOMMU_LOG_DEBUG,
	};
	struct uiommu_ctx *ctx = NULL;

	assert_int_equal(uiommu_ctx_new(&cfg, &ctx), 0);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_LOCKED_BYTES, 4 * GiB), 0);
	return ctx;
}

/* RAM the caller maps itself, its mapping aligned to @align, added to the hpa space. */
struct vt_ram {
	char *hva;
	uint64_t size, hpa;
	void *reserve;
	uint64_t reserve_len;
};

static inline void vt_ram_new(struct uiommu_ctx *ctx, uint64_t size, uint64_t align,
			      struct vt_ram *r)
{
	int fd = memfd_create("uiommu-test-ram", MFD_CLOEXEC);
	char *p;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	r->size = size;
	r->reserve_len = size + align;
	r->reserve = mmap(NULL, r->reserve_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(r->reserve != MAP_FAILED);
	p = (char *)(((uintptr_t)r->reserve + align - 1) & ~(uintptr_t)(align - 1));
	r->hva = mmap(p, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	assert_true(r->hva == p);
	assert_int_equal(uiommu_ram_add(ctx, fd, 0, size, r->hva, &r->hpa), 0);
	close(fd);
}

static inline void vt_ram_free(struct uiommu_ctx *ctx, struct vt_ram *r)
{
	assert_int_equal(uiommu_ram_remove(ctx, r->hpa), 0);
	munmap(r->reserve, r->reserve_len); /* the mapping is the caller's */
}

static inline struct uiommu_phb *vt_phb_new(struct uiommu_ctx *ctx, uint32_t domain)
{
	struct uiommu_phb_config cfg;
	struct uiommu_phb *phb = NULL;

	uiommu_phb_config_default(&cfg, domain);
	assert_int_equal(uiommu_phb_new(ctx, &cfg, &phb), 0);
	return phb;
}

static inline struct uiommu_pe *vt_pe_new(struct uiommu_phb *phb, unsigned int n)
{
	struct uiommu_pe *pe = NULL;

	assert_int_equal(uiommu_pe_new(phb, n, &pe), 0);
	return pe;
}

/* ---- a table group of the test's own ---- */

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

/* A group with powernv's capabilities: 2 GiB at 0, 4K|64K|16M, 2 windows, 5 levels. */
static inline void vt_group_init(struct vt_group *g, struct uiommu_ctx *ctx,
				 const struct uiommu_table_group_ops *ops, uint32_t pe_number)
{
	memset(g, 0, sizeof(*g));
	assert_int_equal(uiommu_table_group_init(&g->grp, ctx, ops, 7, pe_number), 0);
	g->grp.tce32_start = 0;
	g->grp.tce32_size = 2 * GiB;
	g->grp.pgsizes = (1ULL << 12) | (1ULL << 16) | (1ULL << 24);
	g->grp.max_dynamic_windows_supported = 2;
	g->grp.max_levels = 5;
}

/* Nothing is set, owned or referenced by the group any more. */
static inline void vt_group_check_idle(const struct vt_group *g)
{
	assert_false(g->owned);
	assert_null(g->grp.tables[0]);
	assert_null(g->grp.tables[1]);
}

#endif /* UIOMMU_TEST_VFIO_UTIL_H */
