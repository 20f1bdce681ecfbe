// SPDX-License-Identifier: BSD-3-Clause
/*
 * A container under real concurrency: mapper threads MAP and UNMAP
 * overlapping ranges (the same entries from several threads) while one
 * thread removes and recreates the DDW window, another detaches and
 * re-attaches a PE (which clears the shared tables), and a device does DMA
 * through the other PE. Every call returns a result the documentation
 * allows; at a quiet point every TCE agrees with the user address recorded
 * beside it, the container's TCE count with the tables, and each region's
 * mapped count with the TCEs into it; at the end everything returns to
 * zero. Run under ASan and TSan in CI.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include <linux/vfio.h>

#include "vfio_util.h"

#define RW (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)
#define MAPPERS 3
#define DDW_PAGES 4096u	     /* 64 KiB pages in the DDW window: 256 MiB */
#define DEF_PAGES 8192u	     /* 4 KiB pages used in window 0 */
#define REGION_BYTES (16 * MiB)

/* ThreadSanitizer runs each call ~20 times slower: fewer calls, the same interleavings. */
#if defined(__SANITIZE_THREAD__)
#define MAPPER_CALLS 1500
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MAPPER_CALLS 1500
#endif
#endif
#ifndef MAPPER_CALLS
#define MAPPER_CALLS 6000
#endif

struct shared {
	struct uiommu_ctx *ctx;
	struct uiommu_vfio_container *c;
	struct uiommu_pe *pe[2];
	struct uiommu_dev *dev;
	struct vt_ram ram;
	_Atomic bool stop;
	_Atomic uint64_t maps_ok, unmaps_ok, enxio, window_cycles, group_cycles, dma_ok, dma_fault;
	_Atomic int bad;
};

static uint64_t ua_at(struct shared *s, uint64_t off)
{
	return (uint64_t)(uintptr_t)s->ram.hva + off;
}

static void *mapper(void *arg)
{
	struct shared *s = arg;
	uint64_t rng = test_seed() ^ (uint64_t)(uintptr_t)&rng;

	for (int i = 0; i < MAPPER_CALLS && !atomic_load(&s->bad); i++) {
		uint64_t r = test_rand(&rng);
		bool ddw = r & 1, unmap = (r >> 1) % 3 == 0;
		uint64_t page = ddw ? 64 * KiB : 4 * KiB, pages = ddw ? DDW_PAGES : DEF_PAGES;
		uint64_t n = 1 + (r >> 8) % (ddw ? 64 : 512), first = (r >> 20) % (pages - n);
		uint64_t iova = (ddw ? UIOMMU_PE_BUS_OFFSET_64 : 0) + first * page;
		uint64_t ua = ua_at(s, ((r >> 40) % ((2 * REGION_BYTES - n * page) / page)) * page);
		int ret;

		/* Now and then, the whole of window 0: every stripe at once. */
		if ((r >> 60) == 0xf && !ddw) {
			iova = 0;
			n = (2 * GiB) / page;
			unmap = true;
		}
		ret = unmap ? uiommu_vfio_unmap_dma(s->c, iova, n * page) :
			      uiommu_vfio_map_dma(s->c, ua, iova, n * page, RW);

		if (ret == 0)
			atomic_fetch_add(unmap ? &s->unmaps_ok : &s->maps_ok, 1);
		else if (ret == -ENXIO && ddw)
			atomic_fetch_add(&s->enxio, 1); /* the window was being removed */
		else if (!(ret == -EINVAL && ddw)) { /* recreated smaller: past its end */
			print_error("%s of %llu pages at 0x%llx: %d\n", unmap ? "UNMAP" : "MAP",
				    (unsigned long long)n, (unsigned long long)iova, ret);
			atomic_store(&s->bad, 1);
		}
	}
	return NULL;
}

static void *window_churn(void *arg)
{
	struct shared *s = arg;

	while (!atomic_load(&s->stop)) {
		uint64_t start = 0;
		/* Alternately the full DDW and a smaller one. */
		uint64_t size = (atomic_load(&s->window_cycles) & 1) ? 64 * MiB : DDW_PAGES * 64 * KiB;

		if (uiommu_vfio_remove_window(s->c, UIOMMU_PE_BUS_OFFSET_64) ||
		    uiommu_vfio_create_window(s->c, 16, size, 2, &start) ||
		    start != UIOMMU_PE_BUS_OFFSET_64) {
			atomic_store(&s->bad, 2);
			break;
		}
		atomic_fetch_add(&s->window_cycles, 1);
	}
	return NULL;
}

static void *group_churn(void *arg)
{
	struct shared *s = arg;
	struct uiommu_table_group *grp = uiommu_pe_table_group(s->pe[1]);

	while (!atomic_load(&s->stop)) {
		if (uiommu_vfio_group_unset_container(grp) ||
		    uiommu_vfio_group_set_container(grp, s->c)) {
			atomic_store(&s->bad, 3);
			break;
		}
		atomic_fetch_add(&s->group_cycles, 1);
	}
	return NULL;
}

static void *dma(void *arg)
{
	struct shared *s = arg;
	uint64_t rng = 7;
	char buf[256];

	while (!atomic_load(&s->stop)) {
		uint64_t ioba = (test_rand(&rng) % DEF_PAGES) * 4096;
		int ret = uiommu_dev_dma_read(s->dev, ioba, buf, sizeof(buf), NULL);

		if (ret == 0)
			atomic_fetch_add(&s->dma_ok, 1);
		else if (ret == -EFAULT)
			atomic_fetch_add(&s->dma_fault, 1);
		else
			atomic_store(&s->bad, 4);
		sched_yield(); /* leave the mappers the CPU: this thread only probes */
	}
	return NULL;
}

/* At a quiet point: every TCE is the hpa of the user address beside it, and the counts agree. */
static void check_consistent(struct shared *s)
{
	struct uiommu_table_group *grp = uiommu_pe_table_group(s->pe[0]);
	struct uiommu_vfio_info ci = { .size = sizeof(ci) };
	struct uiommu_prereg_info ri = { .size = sizeof(ri) };
	struct uiommu_mm *mm = uiommu_mm_current(s->ctx);
	uint64_t tces = 0, mapped = 0;

	for (int num = 0; num < 2; num++) {
		struct uiommu_tce_table_info ti = { .size = sizeof(ti) };
		struct uiommu_tce_table *tbl = grp->tables[num];

		if (!tbl)
			continue;
		assert_int_equal(uiommu_tce_table_info(tbl, &ti), 0);
		for (uint64_t e = ti.it_offset; e < ti.it_offset + ti.it_size; e++) {
			struct uiommu_prereg *mem = NULL;
			uint64_t tce = 0, ua = 0, hpa = 0;

			assert_int_equal(uiommu_tce_table_get(tbl, e, &tce), 0);
			assert_int_equal(uiommu_tce_table_ua_get(tbl, e, &ua), 0);
			if (!tce) {
				assert_int_equal(ua, 0);
				continue;
			}
			tces++;
			assert_int_equal(uiommu_prereg_lookup(mm, ua, 1ULL << ti.page_shift, &mem), 0);
			assert_int_equal(uiommu_prereg_ua_to_hpa(mem, ua, ti.page_shift, &hpa), 0);
			assert_int_equal(tce & ~3ULL, hpa);
		}
	}
	assert_int_equal(uiommu_vfio_info(s->c, &ci), 0);
	assert_int_equal(ci.tces, tces);
	for (int i = 0; i < 2; i++) {
		struct uiommu_prereg *mem = NULL;

		assert_int_equal(uiommu_prereg_lookup(mm, ua_at(s, i * REGION_BYTES), 1, &mem), 0);
		assert_int_equal(uiommu_prereg_info(mem, &ri), 0);
		mapped += ri.mapped - 1;
	}
	assert_int_equal(mapped, tces);
}

static void test_concurrent_map_remove_detach(void **state)
{
	struct uiommu_dev_config dc = { .size = sizeof(dc), .bdf = UIOMMU_PCI_BDF(0, 2, 0) };
	pthread_t th[MAPPERS + 3];
	struct uiommu_phb *phb;
	struct shared s;
	uint64_t start;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.ctx = vt_ctx_new(16);
	phb = vt_phb_new(s.ctx, 0);
	s.pe[0] = vt_pe_new(phb, 0);
	s.pe[1] = vt_pe_new(phb, 1);
	assert_int_equal(uiommu_dev_new(s.pe[0], &dc, &s.dev), 0);
	vt_ram_new(s.ctx, 2 * REGION_BYTES, 16 * MiB, &s.ram);
	assert_int_equal(uiommu_vfio_container_new(s.ctx, &s.c), 0);
	assert_int_equal(uiommu_vfio_group_set_container(uiommu_pe_table_group(s.pe[0]), s.c), 0);
	assert_int_equal(uiommu_vfio_set_iommu(s.c, VFIO_SPAPR_TCE_v2_IOMMU), 0);
	assert_int_equal(uiommu_vfio_group_set_container(uiommu_pe_table_group(s.pe[1]), s.c), 0);
	assert_int_equal(uiommu_vfio_register_memory(s.c, ua_at(&s, 0), REGION_BYTES), 0);
	assert_int_equal(uiommu_vfio_register_memory(s.c, ua_at(&s, REGION_BYTES), REGION_BYTES), 0);
	assert_int_equal(uiommu_vfio_create_window(s.c, 16, DDW_PAGES * 64 * KiB, 2, &start), 0);
	assert_int_equal(start, UIOMMU_PE_BUS_OFFSET_64);

	for (int i = 0; i < MAPPERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, mapper, &s), 0);
	assert_int_equal(pthread_create(&th[MAPPERS], NULL, window_churn, &s), 0);
	assert_int_equal(pthread_create(&th[MAPPERS + 1], NULL, group_churn, &s), 0);
	assert_int_equal(pthread_create(&th[MAPPERS + 2], NULL, dma, &s), 0);
	for (int i = 0; i < MAPPERS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	atomic_store(&s.stop, true);
	for (int i = MAPPERS; i < MAPPERS + 3; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	print_message("%llu maps, %llu unmaps, %llu -ENXIO; %llu window and %llu group cycles; "
		      "DMA %llu ok, %llu faults\n",
		      (unsigned long long)s.maps_ok, (unsigned long long)s.unmaps_ok,
		      (unsigned long long)s.enxio, (unsigned long long)s.window_cycles,
		      (unsigned long long)s.group_cycles, (unsigned long long)s.dma_ok,
		      (unsigned long long)s.dma_fault);
	assert_int_equal(atomic_load(&s.bad), 0);
	assert_true(s.maps_ok > 0 && s.unmaps_ok > 0);
	check_consistent(&s);

	/* Map more after the storm, check again, then take everything down. */
	assert_int_equal(uiommu_vfio_map_dma(s.c, ua_at(&s, 0), 0, 1 * MiB, RW), 0);
	check_consistent(&s);
	assert_int_equal(uiommu_vfio_container_free(s.c), 0);
	assert_int_equal(uiommu_dev_free(s.dev), 0);
	assert_int_equal(uiommu_pe_free(s.pe[1]), 0);
	assert_int_equal(uiommu_pe_free(s.pe[0]), 0);
	assert_int_equal(uiommu_phb_free(phb), 0);
	vt_ram_free(s.ctx, &s.ram);
	test_ctx_free(s.ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_map_remove_detach),
	};

	test_require_memfd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
