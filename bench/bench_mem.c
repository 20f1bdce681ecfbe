// SPDX-License-Identifier: BSD-3-Clause
/*
 * Host memory model: the lock-free lookups every hot path uses.
 *
 * - hpa -> host pointer (uiommu_hpa_to_hva, RCU read lock included) and
 *   gpa -> host pointer (uiommu_guest_gpa_to_hva), against a
 *   bounds-checked load from a flat table: the cheapest possible lookup.
 * - host frame allocation + free, against malloc + free of the same size.
 */
#include <stdlib.h>
#include <sys/mman.h>

#include <uiommu/uiommu.h>

#include "bench.h"

#define NPAGES 4096

struct state {
	struct uiommu_ctx *ctx;
	struct uiommu_guest *guest;
	uint64_t base_hpa;
	uint64_t *table; /* the baseline: a flat array of page addresses */
};

static void base_lookup(void *arg, uint64_t iters)
{
	struct state *s = arg;
	uint64_t sum = 0;

	for (uint64_t i = 0; i < iters; i++) {
		uint64_t idx = (i * 7) & (2 * NPAGES - 1); /* half of them out of range */

		if (idx < NPAGES)
			sum += s->table[idx];
	}
	bench_use(sum);
}

static void hpa_lookup(void *arg, uint64_t iters)
{
	struct state *s = arg;
	uint64_t sum = 0;

	for (uint64_t i = 0; i < iters; i++) {
		uint64_t idx = (i * 7) & (2 * NPAGES - 1);
		void *p;

		if (!uiommu_hpa_to_hva(s->ctx, s->base_hpa + idx * 4096, 8, &p))
			sum += (uintptr_t)p;
	}
	bench_use(sum);
}

static void gpa_lookup(void *arg, uint64_t iters)
{
	struct state *s = arg;
	uint64_t sum = 0;

	for (uint64_t i = 0; i < iters; i++) {
		uint64_t idx = (i * 7) & (2 * NPAGES - 1);
		void *p;

		if (!uiommu_guest_gpa_to_hva(s->guest, idx * 4096, 8, &p))
			sum += (uintptr_t)p;
	}
	bench_use(sum);
}

static void frames_cycle(void *arg, uint64_t iters)
{
	struct state *s = arg;

	for (uint64_t i = 0; i < iters; i++) {
		uint64_t hpa;

		if (uiommu_frames_alloc(s->ctx, 4, &hpa) || uiommu_frames_free(s->ctx, hpa, 4))
			abort();
	}
}

static void malloc_cycle(void *arg, uint64_t iters)
{
	(void)arg;
	for (uint64_t i = 0; i < iters; i++) {
		void *p = aligned_alloc(65536, 65536);

		bench_use(p);
		free(p);
	}
}

int main(void)
{
	struct state s = { 0 };
	void *hva;
	int misses = 0;
	double base, ns;

	if (uiommu_ctx_new(NULL, &s.ctx) || uiommu_guest_new(s.ctx, &s.guest) ||
	    uiommu_ram_create(s.ctx, NPAGES * 4096ULL, &s.base_hpa, &hva) ||
	    uiommu_guest_set_memslot(s.guest, 0, 0, NPAGES * 4096ULL, hva, 0))
		return 1;
	s.table = calloc(NPAGES, sizeof(uint64_t));
	for (int i = 0; i < NPAGES; i++)
		s.table[i] = s.base_hpa + (uint64_t)i * 4096;

	printf("# uiommu bench_mem: ratios to limits measured in this run\n");
	base = bench_run(base_lookup, &s, 4000000);
	ns = bench_run(hpa_lookup, &s, 4000000);
	misses += bench_report("hpa_to_hva (RCU, 1 region)", ns, "bounds-checked table load", base,
			       0);
	ns = bench_run(gpa_lookup, &s, 4000000);
	misses += bench_report("gpa_to_hva (RCU, 1 memslot)", ns, "bounds-checked table load",
			       base, 0);
	base = bench_run(malloc_cycle, NULL, 200000);
	ns = bench_run(frames_cycle, &s, 200000);
	misses += bench_report("frames alloc+free (64 KiB)", ns, "aligned_alloc+free 64 KiB", base,
			       0);

	uiommu_guest_free(s.guest);
	uiommu_ram_remove(s.ctx, s.base_hpa);
	free(s.table);
	printf("# %d target(s) missed\n", misses);
	return uiommu_ctx_free(s.ctx) ? 1 : 0;
}
