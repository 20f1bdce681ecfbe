// SPDX-License-Identifier: BSD-3-Clause
/*
 * VFIO containers: MAP_DMA and UNMAP_DMA of 1 and 512 pages through the
 * real UAPI (uiommu_vfio_ioctl(), a v2 container on a real PE, memory
 * preregistered), each against what it cannot do without, measured in the
 * same run on a bare table of the same geometry:
 * - MAP_DMA of n pages against n preregistered-memory lookups
 *   (uiommu_prereg_lookup() + uiommu_prereg_ua_to_hpa()) plus n TCE
 *   exchanges (uiommu_tce_table_xchg_no_kill()) of the same entries:
 *   target 2x for 512 pages (the container adds the userspace-address
 *   shadow, the mapped counts, its locks and the TCE-cache kill);
 * - UNMAP_DMA of n pages against n clearing exchanges of the same entries.
 * One page is reported too (no target): there the fixed cost of an ioctl
 * (argsz, the shared lock, a stripe, the window lookup, one kill) is what
 * is measured, as QEMU pays it 262,144 times when a Linux guest boots.
 *
 * Every MAP lands on empty entries and every UNMAP on mapped ones: each
 * repeat maps a whole 64 MiB range, then unmaps it, timing each phase; the
 * fastest repeat counts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>
#include <uiommu/uiommu.h>

#include "bench.h"

#define RAM_BYTES (64ULL << 20)
#define PAGE 4096ULL
#define NPAGES (RAM_BYTES / PAGE) /* 16384 4 KiB TCEs */

struct state {
	struct uiommu_ctx *ctx;
	struct uiommu_phb *phb;
	struct uiommu_pe *pe;
	struct uiommu_vfio_container *c;
	struct uiommu_tce_table *bare;
	struct uiommu_mm *mm;
	char *ram;
	uint64_t ram_hpa, bare_off;
};

static void die(const char *what, int ret)
{
	fprintf(stderr, "bench_vfio: %s: %s\n", what, uiommu_strerror(ret));
	exit(1);
}

#define CHECK(call)                              \
	do {                                     \
		int ret_ = (call);               \
		if (ret_ < 0)                    \
			die(#call, ret_);        \
	} while (0)

static void setup(struct state *s)
{
	struct uiommu_ctx_config cfg = { .size = sizeof(cfg), .flags = UIOMMU_CTX_PIN_SIMULATE };
	struct uiommu_phb_config pc;
	struct vfio_iommu_spapr_register_memory reg = { .argsz = sizeof(reg) };
	struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm) };
	struct vfio_iommu_spapr_tce_create cr = { .argsz = sizeof(cr), .page_shift = 12,
						  .window_size = 1ULL << 30, .levels = 1 };
	struct uiommu_tce_table_info ti = { .size = sizeof(ti) };
	char *reserve;
	int fd;

	CHECK(uiommu_ctx_new(&cfg, &s->ctx));
	CHECK(uiommu_ctx_set_limit(s->ctx, UIOMMU_RES_LOCKED_BYTES, UIOMMU_LIMIT_NONE));
	uiommu_phb_config_default(&pc, 0);
	CHECK(uiommu_phb_new(s->ctx, &pc, &s->phb));
	CHECK(uiommu_pe_new(s->phb, 1, &s->pe));
	/* Guest RAM as QEMU has it: a memfd the VMM mapped, 2 MiB aligned. */
	fd = memfd_create("bench-vfio", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)RAM_BYTES))
		die("memfd", -errno);
	reserve = mmap(NULL, RAM_BYTES + (2 << 20), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	s->ram = (char *)(((uintptr_t)reserve + (2 << 20) - 1) & ~(uintptr_t)((2 << 20) - 1));
	if (reserve == MAP_FAILED ||
	    mmap(s->ram, RAM_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) != s->ram)
		die("mmap", -errno);
	CHECK(uiommu_ram_add(s->ctx, fd, 0, RAM_BYTES, s->ram, &s->ram_hpa));
	close(fd);

	CHECK(uiommu_vfio_container_new(s->ctx, &s->c));
	CHECK(uiommu_vfio_group_set_container(uiommu_pe_table_group(s->pe), s->c));
	CHECK(uiommu_vfio_ioctl(s->c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU));
	reg.vaddr = (uintptr_t)s->ram;
	reg.size = RAM_BYTES;
	CHECK(uiommu_vfio_ioctl(s->c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &reg));
	CHECK(uiommu_vfio_ioctl(s->c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm));
	CHECK(uiommu_vfio_ioctl(s->c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr));
	s->mm = uiommu_mm_current(s->ctx);

	/* The baseline's table: the same geometry, nobody's window. */
	CHECK(uiommu_tce_table_new(s->ctx, 0, 12, 1ULL << 30, 1, &s->bare));
	CHECK(uiommu_tce_table_info(s->bare, &ti));
	s->bare_off = ti.it_offset;
}

static void map_range(struct state *s, uint64_t n, uint64_t calls)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.size = n * PAGE
	};

	for (uint64_t i = 0; i < calls; i++) {
		m.vaddr = (uintptr_t)s->ram + i * n * PAGE;
		m.iova = i * n * PAGE;
		if (uiommu_vfio_ioctl(s->c, VFIO_IOMMU_MAP_DMA, &m))
			abort();
	}
}

static void unmap_range(struct state *s, uint64_t n, uint64_t calls)
{
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .size = n * PAGE };

	for (uint64_t i = 0; i < calls; i++) {
		u.iova = i * n * PAGE;
		if (uiommu_vfio_ioctl(s->c, VFIO_IOMMU_UNMAP_DMA, &u))
			abort();
	}
}

/* What a MAP must do at least: find the page's hpa and exchange its TCE. */
static void bare_map(struct state *s, uint64_t n, uint64_t calls)
{
	for (uint64_t i = 0; i < calls * n; i++) {
		uint64_t ua = (uintptr_t)s->ram + i * PAGE, hpa, old;
		struct uiommu_prereg *mem;

		if (uiommu_prereg_lookup(s->mm, ua, PAGE, &mem) ||
		    uiommu_prereg_ua_to_hpa(mem, ua, 12, &hpa) ||
		    uiommu_tce_table_xchg_no_kill(s->bare, s->bare_off + i, hpa,
						  UIOMMU_DMA_BIDIRECTIONAL, &old, NULL))
			abort();
		bench_use(old);
	}
}

static void bare_unmap(struct state *s, uint64_t n, uint64_t calls)
{
	for (uint64_t i = 0; i < calls * n; i++) {
		uint64_t old;

		if (uiommu_tce_table_xchg_no_kill(s->bare, s->bare_off + i, 0, UIOMMU_DMA_NONE, &old,
						  NULL))
			abort();
		bench_use(old);
	}
}

struct pair {
	double map, unmap; /* ns per call */
};

/* Best of BENCH_REPEATS of: map every page of the range in calls of @n, then unmap them. */
static struct pair measure(struct state *s, uint64_t n, bool bare)
{
	uint64_t calls = NPAGES / n;
	struct pair best = { 1e300, 1e300 };

	for (int r = -1; r < BENCH_REPEATS; r++) { /* r = -1 warms up */
		uint64_t t0 = bench_now_ns(), t1, t2;

		bare ? bare_map(s, n, calls) : map_range(s, n, calls);
		t1 = bench_now_ns();
		bare ? bare_unmap(s, n, calls) : unmap_range(s, n, calls);
		t2 = bench_now_ns();
		if (r < 0)
			continue;
		if ((double)(t1 - t0) / (double)calls < best.map)
			best.map = (double)(t1 - t0) / (double)calls;
		if ((double)(t2 - t1) / (double)calls < best.unmap)
			best.unmap = (double)(t2 - t1) / (double)calls;
	}
	return best;
}

static void cg_map1(void *arg, uint64_t iters)
{
	map_range(arg, 1, iters);
	unmap_range(arg, 1, iters);
}

static void cg_map512(void *arg, uint64_t iters)
{
	map_range(arg, 512, iters);
	unmap_range(arg, 512, iters);
}

static void cg_bare512(void *arg, uint64_t iters)
{
	bare_map(arg, 512, iters);
	bare_unmap(arg, 512, iters);
}

int main(int argc, char **argv)
{
	uint64_t cg = bench_callgrind_iters(argc, argv);
	struct uiommu_vfio_info info = { .size = sizeof(info) };
	struct state s = { 0 };
	struct pair c1, c512, b1, b512;
	int missed = 0;

	setup(&s);
	if (cg) {
		/* Whole 64 MiB passes: N calls of 1 page, N / 512 calls of 512. */
		bench_callgrind_run(cg_map1, &s, cg < NPAGES ? cg : NPAGES);
		bench_callgrind_run(cg_map512, &s, NPAGES / 512);
		bench_callgrind_run(cg_bare512, &s, NPAGES / 512);
		return 0;
	}
	c1 = measure(&s, 1, false);
	b1 = measure(&s, 1, true);
	c512 = measure(&s, 512, false);
	b512 = measure(&s, 512, true);
	printf("VFIO v2 container on a PE, 4 KiB TCEs, guest RAM preregistered (%llu MiB)\n",
	       (unsigned long long)(RAM_BYTES >> 20));
	missed += bench_report("MAP_DMA 512 pages", c512.map, "512 x (lookup + xchg)", b512.map,
			       2.0);
	bench_report("UNMAP_DMA 512 pages", c512.unmap, "512 x clearing xchg", b512.unmap, 0);
	bench_report("MAP_DMA 1 page", c1.map, "lookup + xchg", b1.map, 0);
	bench_report("UNMAP_DMA 1 page", c1.unmap, "clearing xchg", b1.unmap, 0);
	printf("per page: MAP_DMA 512 %.2f ns, UNMAP_DMA 512 %.2f ns; one-page calls %.0f / %.0f ns\n",
	       c512.map / 512, c512.unmap / 512, c1.map, c1.unmap);
	if (uiommu_vfio_info(s.c, &info) || info.tces)
		die("the container is not empty", -EBUSY);
	printf("%d target%s missed\n", missed, missed == 1 ? "" : "s");

	uiommu_tce_table_unref(s.bare);
	CHECK(uiommu_vfio_container_free(s.c));
	CHECK(uiommu_pe_free(s.pe));
	CHECK(uiommu_phb_free(s.phb));
	CHECK(uiommu_ram_remove(s.ctx, s.ram_hpa));
	CHECK(uiommu_ctx_free(s.ctx));
	return 0;
}
