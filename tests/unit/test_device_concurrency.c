// SPDX-License-Identifier: BSD-3-Clause
/*
 * DMA on several threads while another maps, unmaps and kills, and another
 * sets, unsets and frees a second PE's window under its device's DMA:
 * - no torn translation: a page a device reads back is wholly the pattern
 *   it wrote there or wholly the zeroes of a freshly mapped page;
 * - after a kill returns, no DMA reaches the pages the killed entries
 *   pointed at: the mapper checksums each page it unmapped once the kill
 *   is back, and checks it again later, while the devices keep writing;
 * - no use after free when a window's table is unset and freed under DMA
 *   (AddressSanitizer), no data race (ThreadSanitizer).
 * Bounded by the mapper's work, not by time.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "test_util.h"

#define NENTRIES 64u
#define NPAGES 96u
#define NDMA 2u
#define PAGE 4096u
#define BATCHES 4000u

/* cmocka's asserts must not run in other threads: abort with a message. */
#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                         \
			fputc('\n', stderr);                                  \
			abort();                                              \
		}                                                             \
	} while (0)
#define CHECK_OK(expr) CHECK((expr) == 0, "returned non-zero")

enum page_state { PAGE_FREE, PAGE_MAPPED, PAGE_QUARANTINE };

struct shared {
	struct uiommu_ctx *ctx;
	struct uiommu_dev *dev, *dev2;
	struct uiommu_table_group *grp2;
	struct uiommu_tce_table *tbl;
	uint64_t it_offset, bus_offset;
	unsigned char *host;	/* NPAGES pages */
	unsigned char *churn_page;
	_Atomic bool stop;
	_Atomic uint64_t dma_ok, dma_faults, churn_ok, churn_faults;
};

static uint64_t checksum(const unsigned char *p)
{
	uint64_t h = 1469598103934665603ULL;

	for (unsigned int i = 0; i < PAGE; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

static void *mapper(void *arg)
{
	struct shared *s = arg;
	int entry_page[NENTRIES];
	enum page_state state[NPAGES] = { PAGE_FREE };
	uint64_t sum[NPAGES], age[NPAGES];
	uint64_t seed = test_seed();

	for (unsigned int e = 0; e < NENTRIES; e++)
		entry_page[e] = -1;
	for (uint64_t b = 0; b < BATCHES; b++) {
		unsigned int first = (unsigned int)(test_rand(&seed) % NENTRIES);
		unsigned int n = 1 + (unsigned int)(test_rand(&seed) % 8);
		int unmapped[8], nun = 0;

		if (first + n > NENTRIES)
			n = NENTRIES - first;
		/* A batch: exchanges without a kill, then one kill for the range. */
		for (unsigned int e = first; e < first + n; e++) {
			if (entry_page[e] >= 0) {
				CHECK_OK(uiommu_tce_table_xchg_no_kill(s->tbl,
					s->it_offset + e, 0, UIOMMU_DMA_NONE, NULL, NULL));
				unmapped[nun++] = entry_page[e];
				entry_page[e] = -1;
				continue;
			}
			for (unsigned int p = 0; p < NPAGES; p++) {
				uint64_t hpa;

				if (state[p] != PAGE_FREE)
					continue;
				memset(s->host + (uint64_t)p * PAGE, 0, PAGE);
				CHECK_OK(uiommu_hva_to_hpa(s->ctx, s->host + (uint64_t)p * PAGE,
								   &hpa));
				CHECK_OK(uiommu_tce_table_xchg_no_kill(s->tbl,
					s->it_offset + e, hpa, UIOMMU_DMA_BIDIRECTIONAL, NULL, NULL));
				state[p] = PAGE_MAPPED;
				entry_page[e] = (int)p;
				break;
			}
		}
		CHECK_OK(uiommu_tce_table_kill(s->tbl, s->it_offset + first, n));
		/* The kill is back: nothing may write the unmapped pages any more. */
		for (int i = 0; i < nun; i++) {
			unsigned int p = (unsigned int)unmapped[i];

			state[p] = PAGE_QUARANTINE;
			sum[p] = checksum(s->host + (uint64_t)p * PAGE);
			age[p] = b;
		}
		for (unsigned int p = 0; p < NPAGES; p++) {
			if (state[p] != PAGE_QUARANTINE || b - age[p] < 16)
				continue;
			if (checksum(s->host + (uint64_t)p * PAGE) != sum[p])
				CHECK(0, "page %u was written after the kill that unmapped it", p);
			state[p] = PAGE_FREE;
		}
		if (b % 64 == 0)
			sched_yield(); /* let the devices run on a busy machine */
	}
	atomic_store(&s->stop, true);
	/* Unmap what is left; the caller frees the table. */
	for (unsigned int e = 0; e < NENTRIES; e++)
		if (entry_page[e] >= 0)
			CHECK_OK(uiommu_tce_table_xchg(s->tbl, s->it_offset + e, 0,
							       UIOMMU_DMA_NONE, NULL, NULL));
	return NULL;
}

struct dma_arg {
	struct shared *s;
	unsigned int id;
};

/* A device thread: writes its own entries (those with e % NDMA == id) and reads them back. */
static void *dma_thread(void *arg)
{
	struct dma_arg *a = arg;
	struct shared *s = a->s;
	uint64_t seed = test_seed() + a->id * 7919, word;
	static _Thread_local uint64_t out[PAGE / 8], in[PAGE / 8];

	while (!atomic_load(&s->stop)) {
		unsigned int e = (unsigned int)(test_rand(&seed) % (NENTRIES / NDMA)) * NDMA + a->id;
		uint64_t ioba = s->bus_offset + (uint64_t)e * PAGE;
		struct uiommu_dma_fault f = { .size = sizeof(f) };
		int ret;

		word = test_rand(&seed) | 1;
		for (unsigned int i = 0; i < PAGE / 8; i++)
			out[i] = word;
		ret = uiommu_dev_dma_write(s->dev, ioba, out, PAGE, &f);
		if (ret) {
			CHECK(ret == -EFAULT, "DMA write: %d", ret);
			CHECK(f.reason == UIOMMU_DMA_FAULT_INVALID_TCE, "fault reason %u", f.reason);
			atomic_fetch_add(&s->dma_faults, 1);
			continue;
		}
		ret = uiommu_dev_dma_read(s->dev, ioba, in, PAGE, &f);
		if (ret) {
			CHECK(f.reason == UIOMMU_DMA_FAULT_INVALID_TCE, "fault reason %u", f.reason);
			continue;
		}
		/* One page, one translation: all ours, or all a fresh page's zeroes. */
		for (unsigned int i = 1; i < PAGE / 8; i++)
			if (in[i] != in[0])
				CHECK(0, "torn page at entry %u: word %u is 0x%llx, word 0 0x%llx", e, i,
				      (unsigned long long)in[i], (unsigned long long)in[0]);
		CHECK(in[0] == word || in[0] == 0, "entry %u", e);
		atomic_fetch_add(&s->dma_ok, 1);
	}
	return NULL;
}

/* Sets, unsets and frees window 0 of the second PE while dev2 reads through it. */
static void *churn_thread(void *arg)
{
	struct shared *s = arg;
	uint64_t hpa;

	CHECK_OK(uiommu_hva_to_hpa(s->ctx, s->churn_page, &hpa));
	for (unsigned int round = 0; !atomic_load(&s->stop); round++) {
		struct uiommu_tce_table *t;

		CHECK_OK(uiommu_table_group_create_table(s->grp2, 0, 12, 1u << 20,
								 1 + round % 2, &t));
		CHECK_OK(uiommu_tce_table_xchg(t, 3, hpa, UIOMMU_DMA_TO_DEVICE, NULL, NULL));
		CHECK_OK(uiommu_table_group_set_window(s->grp2, 0, t));
		uiommu_tce_table_unref(t); /* the PE holds the only reference now */
		sched_yield();
		CHECK_OK(uiommu_table_group_unset_window(s->grp2, 0)); /* frees it */
	}
	return NULL;
}

static void *churn_dma(void *arg)
{
	struct shared *s = arg;
	unsigned char buf[64];

	while (!atomic_load(&s->stop)) {
		struct uiommu_dma_fault f = { .size = sizeof(f) };
		int ret = uiommu_dev_dma_read(s->dev2, 3 * PAGE + 32, buf, sizeof(buf), &f);

		if (ret) {
			CHECK(f.reason == UIOMMU_DMA_FAULT_NO_WINDOW, "fault reason %u", f.reason);
			atomic_fetch_add(&s->churn_faults, 1);
			continue;
		}
		for (unsigned int i = 0; i < sizeof(buf); i++)
			CHECK(buf[i] == 0xc5, "byte %u is 0x%02x", i, buf[i]);
		atomic_fetch_add(&s->churn_ok, 1);
	}
	return NULL;
}

static void test_dma_against_mapping(void **state)
{
	struct shared s = { 0 };
	struct uiommu_phb_config cfg;
	struct uiommu_phb *phb;
	struct uiommu_pe *pe, *pe2;
	struct uiommu_table_group *grp;
	struct uiommu_dev_config dc = { .size = sizeof(dc) };
	struct uiommu_tce_table_info ti = { .size = sizeof(ti) };
	pthread_t map_t, dma_t[NDMA], churn_t, churn_d;
	struct dma_arg args[NDMA];

	(void)state;
	s.ctx = test_ctx_new();
	/* Faults are expected by the thousand: keep the log quiet. */
	assert_int_equal(uiommu_ctx_set_guest_log_ratelimit(s.ctx, 0, 1000000000ULL), 0);
	uiommu_phb_config_default(&cfg, 0);
	assert_int_equal(uiommu_phb_new(s.ctx, &cfg, &phb), 0);
	assert_int_equal(uiommu_pe_new(phb, 0, &pe), 0);
	assert_int_equal(uiommu_pe_new(phb, 1, &pe2), 0);
	grp = uiommu_pe_table_group(pe);
	s.grp2 = uiommu_pe_table_group(pe2);
	dc.bdf = 1;
	assert_int_equal(uiommu_dev_new(pe, &dc, &s.dev), 0);
	dc.bdf = 2;
	assert_int_equal(uiommu_dev_new(pe2, &dc, &s.dev2), 0);
	assert_int_equal(uiommu_table_group_take_ownership(grp), 0);
	assert_int_equal(uiommu_table_group_take_ownership(s.grp2), 0);
	assert_int_equal(uiommu_table_group_create_table(grp, 1, 12, 16u << 20, 2, &s.tbl), 0);
	assert_int_equal(uiommu_table_group_set_window(grp, 1, s.tbl), 0);
	assert_int_equal(uiommu_tce_table_info(s.tbl, &ti), 0);
	s.it_offset = ti.it_offset;
	s.bus_offset = ti.bus_offset;
	assert_int_equal(uiommu_hostmem_alloc(s.ctx, (uint64_t)NPAGES * PAGE, 12,
					      UIOMMU_HOSTMEM_SCATTER, (void **)&s.host), 0);
	assert_int_equal(uiommu_hostmem_alloc(s.ctx, PAGE, 12, 0, (void **)&s.churn_page), 0);
	memset(s.churn_page, 0xc5, PAGE);

	for (unsigned int i = 0; i < NDMA; i++) {
		args[i] = (struct dma_arg){ &s, i };
		assert_int_equal(pthread_create(&dma_t[i], NULL, dma_thread, &args[i]), 0);
	}
	assert_int_equal(pthread_create(&churn_d, NULL, churn_dma, &s), 0);
	assert_int_equal(pthread_create(&churn_t, NULL, churn_thread, &s), 0);
	assert_int_equal(pthread_create(&map_t, NULL, mapper, &s), 0);
	pthread_join(map_t, NULL);
	for (unsigned int i = 0; i < NDMA; i++)
		pthread_join(dma_t[i], NULL);
	pthread_join(churn_t, NULL);
	pthread_join(churn_d, NULL);
	print_message("device DMA: %llu pages written and read back, %llu faults; window churn: %llu reads, %llu faults\n",
		      (unsigned long long)s.dma_ok, (unsigned long long)s.dma_faults,
		      (unsigned long long)s.churn_ok, (unsigned long long)s.churn_faults);
	/* The test must have exercised both outcomes to mean anything. */
	assert_true(s.dma_ok > 0 && s.dma_faults > 0);

	assert_int_equal(uiommu_table_group_unset_window(grp, 1), 0);
	uiommu_tce_table_unref(s.tbl);
	assert_int_equal(uiommu_table_group_release_ownership(grp), 0);
	assert_int_equal(uiommu_table_group_release_ownership(s.grp2), 0);
	assert_int_equal(uiommu_dev_free(s.dev), 0);
	assert_int_equal(uiommu_dev_free(s.dev2), 0);
	assert_int_equal(uiommu_pe_free(pe), 0);
	assert_int_equal(uiommu_pe_free(pe2), 0);
	assert_int_equal(uiommu_phb_free(phb), 0);
	assert_int_equal(uiommu_hostmem_free(s.ctx, s.host), 0);
	assert_int_equal(uiommu_hostmem_free(s.ctx, s.churn_page), 0);
	test_ctx_free(s.ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dma_against_mapping),
	};

	test_require_memfd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
