// SPDX-License-Identifier: BSD-3-Clause
/*
 * Mirrors, each beside a limit measured in the same run:
 * - population per 4 KiB page (a RAM region mapping) and per 2 MiB chunk
 *   (a hostmem buffer of 2 MiB pages), against what the kernel itself does
 *   to fault the same range in and report its pages: madvise
 *   (MADV_POPULATE_WRITE) plus a read of their /proc/self/pagemap entries;
 * - invalidation of a bound mirror of 1 .. 512 pages (callback, TCE clear,
 *   kill, waiting for DMAs in flight), against the bare TCE clear and kill
 *   of as many entries;
 * - the latency from munmap() in the process to the TCEs being gone
 *   (through userfaultfd and the monitor), against munmap() of the same
 *   mapping when nothing follows it.
 * Ratios are printed with their targets; nothing is asserted.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uiommu/uiommu.h>

#include "bench.h"

#define PAGE 4096ULL
#define MiB (1ULL << 20)

static int misses;

static void check(int ret, const char *what)
{
	if (ret) {
		fprintf(stderr, "bench_mirror: %s: %s\n", what, uiommu_strerror(ret));
		exit(1);
	}
}

/* Best of BENCH_REPEATS of the mean of @iters timed sections; @setup runs untimed. */
struct timed {
	void (*setup)(void *arg);
	void (*op)(void *arg);
	void *arg;
};

static double run_timed(const struct timed *t, int iters)
{
	double best = 1e300;

	for (int r = 0; r < BENCH_REPEATS; r++) {
		uint64_t total = 0;

		for (int i = 0; i < iters; i++) {
			uint64_t t0;

			if (t->setup)
				t->setup(t->arg);
			t0 = bench_now_ns();
			t->op(t->arg);
			total += bench_now_ns() - t0;
		}
		if ((double)total / iters < best)
			best = (double)total / iters;
	}
	return best;
}

/* ---- population ---- */

struct pop {
	struct uiommu_mm *mm;
	struct uiommu_mirror *m;
	char *ua;
	uint64_t size;
	int pagemap;
	uint64_t *entries;
};

static void pop_invalidate(void *arg)
{
	struct pop *p = arg;

	check(uiommu_mm_invalidate(p->mm, (uintptr_t)p->ua, PAGE, UIOMMU_MMU_NOTIFY_CLEAR),
	      "invalidate");
}

static void pop_populate(void *arg)
{
	check(uiommu_mirror_populate(((struct pop *)arg)->m), "populate");
}

static void pop_kernel(void *arg)
{
	struct pop *p = arg;
	uint64_t n = p->size / PAGE;

	madvise(p->ua, p->size, MADV_POPULATE_WRITE);
	if (pread(p->pagemap, p->entries, n * 8, (off_t)(((uintptr_t)p->ua / PAGE) * 8)) !=
	    (ssize_t)(n * 8))
		exit(1);
	bench_use(p->entries[n - 1]);
}

static void bench_population(struct uiommu_ctx *ctx, struct uiommu_mm *mm, char *ua,
			     uint64_t size, uint64_t unit, const char *name, double target)
{
	struct pop p = { .mm = mm, .ua = ua, .size = size };
	struct timed ours = { pop_invalidate, pop_populate, &p };
	struct timed kernel = { NULL, pop_kernel, &p };
	double ns, limit;
	char lname[64];

	(void)ctx;
	p.pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	p.entries = malloc(size / PAGE * 8);
	if (p.pagemap < 0 || !p.entries)
		exit(1);
	check(uiommu_mirror_new(mm, ua, size, 0, &p.m), "mirror_new");
	check(uiommu_mirror_populate(p.m), "populate");
	ns = run_timed(&ours, 200) / (double)(size / unit);
	limit = run_timed(&kernel, 200) / (double)(size / unit);
	snprintf(lname, sizeof(lname), "populate+pagemap walk");
	misses += bench_report(name, ns, lname, limit, target);
	check(uiommu_mirror_free(p.m), "mirror_free");
	close(p.pagemap);
	free(p.entries);
}

/* ---- invalidation of a bound mirror ---- */

struct inv {
	struct uiommu_mm *mm;
	struct uiommu_mirror *m;
	struct uiommu_tce_table *tbl;
	char *ua;
	uint64_t npages, hpa;
};

static void inv_setup(void *arg)
{
	check(uiommu_mirror_populate(((struct inv *)arg)->m), "populate");
}

static void inv_op(void *arg)
{
	struct inv *v = arg;

	check(uiommu_mm_invalidate(v->mm, (uintptr_t)v->ua, v->npages * PAGE,
				   UIOMMU_MMU_NOTIFY_CLEAR), "invalidate");
}

static void kill_setup(void *arg)
{
	struct inv *v = arg;

	for (uint64_t i = 0; i < v->npages; i++)
		check(uiommu_tce_table_xchg_no_kill(v->tbl, 0x1000 + i, v->hpa + i * PAGE,
						    UIOMMU_DMA_BIDIRECTIONAL, NULL, NULL), "xchg");
}

static void kill_op(void *arg)
{
	struct inv *v = arg;

	check(uiommu_tce_table_clear(v->tbl, 0x1000, v->npages, NULL, NULL, NULL), "clear");
}

static void bench_invalidation(struct uiommu_ctx *ctx, struct uiommu_mm *mm, char *ua,
			       uint64_t hpa, struct uiommu_tce_table *tbl)
{
	static const uint64_t sizes[] = { 1, 8, 64, 512 };

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct inv v = { .mm = mm, .tbl = tbl, .ua = ua, .npages = sizes[k], .hpa = hpa };
		struct timed ours = { inv_setup, inv_op, &v };
		struct timed raw = { kill_setup, kill_op, &v };
		double ns, limit;
		char name[64];

		(void)ctx;
		check(uiommu_mirror_new(mm, ua, v.npages * PAGE, 0, &v.m), "mirror_new");
		check(uiommu_mirror_bind(v.m, tbl, 0, 0), "bind");
		ns = run_timed(&ours, 100);
		limit = run_timed(&raw, 100);
		snprintf(name, sizeof(name), "invalidate bound, %llu pages",
			 (unsigned long long)v.npages);
		misses += bench_report(name, ns, "TCE clear + kill", limit, 3.0);
		check(uiommu_mirror_free(v.m), "mirror_free");
	}
}

/* ---- munmap() to TCEs gone ---- */

struct unmap {
	struct uiommu_ctx *ctx;
	struct uiommu_mm *mm;
	struct uiommu_tce_table *tbl;
	struct uiommu_mirror *m;
	int fd;
	char *p;
	bool mirrored;
};

static void unmap_setup(void *arg)
{
	struct unmap *u = arg;

	u->p = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, u->fd, 0);
	if (u->p == MAP_FAILED)
		exit(1);
	if (u->mirrored) {
		check(uiommu_mirror_new(u->mm, u->p, 16 * PAGE, 0, &u->m), "mirror_new");
		check(uiommu_mirror_bind(u->m, u->tbl, 0, 0), "bind");
		check(uiommu_mirror_populate(u->m), "populate");
	}
}

static void unmap_op(void *arg)
{
	struct unmap *u = arg;
	unsigned int prot;
	uint64_t hpa;

	munmap(u->p, 16 * PAGE);
	if (!u->mirrored)
		return;
	/* The first device access after munmap: it waits for the hold, then faults. */
	uiommu_mm_dma_begin(u->mm);
	if (!uiommu_tce_table_translate(u->tbl, 0, &hpa, &prot))
		exit(2); /* the TCE survived munmap: a bug */
	uiommu_mm_dma_end(u->mm);
	check(uiommu_mirror_free(u->m), "mirror_free");
}

static void bench_munmap(struct uiommu_ctx *ctx, struct uiommu_tce_table *tbl, uint64_t hpa)
{
	struct unmap u = { .ctx = ctx, .tbl = tbl };
	struct timed ours = { unmap_setup, unmap_op, &u };
	double ns, limit;
	int fd;

	(void)hpa;
	if (uiommu_mm_new(ctx, UIOMMU_MM_USERFAULTFD, &u.mm)) {
		printf("%-34s skipped: no userfaultfd\n", "munmap() to TCEs gone");
		return;
	}
	fd = memfd_create("bench-mirror", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 16 * PAGE))
		exit(1);
	u.fd = fd;
	{
		uint64_t rhpa;

		check(uiommu_ram_add(ctx, fd, 0, 16 * PAGE, NULL, &rhpa), "ram_add");
		u.mirrored = true;
		ns = run_timed(&ours, 100);
		u.mirrored = false;
		limit = run_timed(&ours, 100);
		misses += bench_report("munmap() to TCEs gone", ns, "munmap() unmirrored", limit, 20.0);
		check(uiommu_mm_free(u.mm), "mm_free");
		check(uiommu_ram_remove(ctx, rhpa), "ram_remove");
	}
	close(fd);
}

int main(int argc, char **argv)
{
	struct uiommu_tce_table *tbl;
	struct uiommu_ctx *ctx;
	struct uiommu_mm *mm;
	uint64_t hpa;
	char *ram, *huge;

	(void)argc;
	(void)argv;
	check(uiommu_ctx_new(NULL, &ctx), "ctx_new");
	check(uiommu_ram_create(ctx, 4 * MiB, &hpa, (void **)&ram), "ram_create");
	check(uiommu_hostmem_alloc(ctx, 16 * MiB, 21, 0, (void **)&huge), "hostmem_alloc");
	check(uiommu_tce_table_new(ctx, 0, 12, 1ULL << 30, 2, &tbl), "table_new");
	check(uiommu_mm_new(ctx, 0, &mm), "mm_new");

	bench_population(ctx, mm, ram, 1 * MiB, PAGE, "populate, per 4 KiB page", 2.0);
	bench_population(ctx, mm, huge, 16 * MiB, 2 * MiB, "populate, per 2 MiB chunk", 2.0);
	bench_invalidation(ctx, mm, ram, hpa, tbl);
	check(uiommu_mm_free(mm), "mm_free");
	bench_munmap(ctx, tbl, hpa);

	uiommu_tce_table_unref(tbl);
	check(uiommu_hostmem_free(ctx, huge), "hostmem_free");
	check(uiommu_ram_remove(ctx, hpa), "ram_remove");
	check(uiommu_ctx_free(ctx), "ctx_free");
	printf("%d target(s) missed\n", misses);
	return 0;
}
