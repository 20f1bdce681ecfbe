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

#include "vfio_group.h"

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
