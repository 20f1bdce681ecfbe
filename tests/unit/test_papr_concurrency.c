// SPDX-License-Identifier: BSD-3-Clause
/*
 * Hypercalls from several threads on the same and on different LIOBNs,
 * while another thread creates and destroys LIOBNs and runs DDW RTAS
 * calls. Run under ASan (a table, page or array used after its deferred
 * free) and TSan (-Drcu=mutex; every shared access must be ordered).
 *
 * What must hold: a thread's private table holds exactly what that thread
 * wrote; the shared table only ever holds values some thread wrote, whole
 * (no torn 8-byte entry); the churned LIOBN answers H_SUCCESS or, when it
 * does not exist at that moment, H_PARAMETER; everything is freed at the end.
 * Nothing is timed: the workers do at least OPS operations and the churner
 * at least CHURN_ROUNDS rounds, each going on until the other is done.
 */
#include <endian.h>
#include <pthread.h>
#include <sys/mman.h>

#include "test_util.h"

#include "internal.h"

#define WORKERS 3
#define OPS 50000
#define CHURN_ROUNDS 400
#define MEM_SIZE (1024 * 1024)
#define SHARED 0x71000001ULL
#define CHURN 0x71000100ULL
#define PRIVATE(i) (0x71000010ULL + (i))
#define ENTRIES 4096ULL

/* cmocka's asserts must not run on other threads: abort, which every harness reports. */
#define CHECK_EQ(a, b)                                                                      \
	do {                                                                                \
		long long a_ = (long long)(a), b_ = (long long)(b);                         \
		if (a_ != b_) {                                                             \
			fprintf(stderr, "%s:%d: %s = %lld, want %lld\n", __FILE__, __LINE__, #a, \
				a_, b_);                                                    \
			abort();                                                            \
		}                                                                           \
	} while (0)

struct test {
	struct uiommu_ctx *ctx;
	struct uiommu_guest *g;
	char *mem;
	_Atomic int stop;	 /* the workers are done */
	_Atomic int churned;	 /* the churner did its CHURN_ROUNDS */
	_Atomic uint64_t churn_ok, churn_missing;
};

struct worker {
	struct test *t;
	int id;
	uint64_t model[ENTRIES]; /* the private table */
};

/* A value whose halves agree: a torn read would not. */
static uint64_t whole(uint64_t r)
{
	uint32_t k = (uint32_t)r;

	return (uint64_t)k << 32 | k;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct test *t = w->t;
	uint64_t rng = 0x1234 + (uint64_t)w->id, list_gpa = (uint64_t)(w->id + 1) * 65536;

	/* OPS operations, and on until the churner has done its rounds: they overlap. */
	for (int op = 0; op < OPS || !atomic_load(&t->churned); op++) {
		uint64_t r = test_rand(&rng), idx = r % ENTRIES, v = whole(r >> 13), got;
		uint64_t n = 1 + (r >> 50) % 64;
		long ret;

		switch (r % 7) {
		case 0: /* the shared table: whole values only */
			ret = uiommu_h_put_tce(t->g, SHARED, idx << 12, (r & 8) ? v : 0);
			CHECK_EQ(ret, UIOMMU_H_SUCCESS);
			break;
		case 1:
			ret = uiommu_h_get_tce(t->g, SHARED, idx << 12, &got);
			CHECK_EQ(ret, UIOMMU_H_SUCCESS);
			if (got != whole(got))
				CHECK_EQ(got, whole(got));
			break;
		case 2: /* the private table, modelled */
			ret = uiommu_h_put_tce(t->g, PRIVATE(w->id), idx << 12, v);
			CHECK_EQ(ret, UIOMMU_H_SUCCESS);
			w->model[idx] = v;
			break;
		case 3: {
			uint64_t be[64];

			n = MIN(n, ENTRIES - idx);
			for (uint64_t i = 0; i < n; i++)
				be[i] = htobe64(whole(r + i));
			CHECK_EQ(uiommu_guest_write(t->g, list_gpa, be, n * 8), 0);
			ret = uiommu_h_put_tce_indirect(t->g, (r & 16) ? SHARED : PRIVATE(w->id),
							idx << 12, list_gpa, n);
			CHECK_EQ(ret, UIOMMU_H_SUCCESS);
			if (!(r & 16))
				for (uint64_t i = 0; i < n; i++)
					w->model[idx + i] = whole(r + i);
			break;
		}
		case 4:
			n = MIN(n, ENTRIES - idx);
			ret = uiommu_h_stuff_tce(t->g, (r & 16) ? SHARED : PRIVATE(w->id), idx << 12,
						 (r & 32) ? v : 0, n);
			CHECK_EQ(ret, UIOMMU_H_SUCCESS);
			if (!(r & 16))
				for (uint64_t i = 0; i < n; i++)
					w->model[idx + i] = (r & 32) ? v : 0;
			break;
		default: /* the churned LIOBN: there or not, never anything else */
			if (r & 64)
				ret = uiommu_h_put_tce(t->g, CHURN, (idx % 16) << 12, v);
			else
				ret = uiommu_h_stuff_tce(t->g, CHURN, 0, (r & 32) ? v : 0, 16);
			if (ret == UIOMMU_H_SUCCESS)
				atomic_fetch_add(&t->churn_ok, 1);
			else if (ret == UIOMMU_H_PARAMETER)
				atomic_fetch_add(&t->churn_missing, 1);
			else
				CHECK_EQ(ret, UIOMMU_H_PARAMETER);
			break;
		}
	}
	return NULL;
}

static void *churn_main(void *arg)
{
	struct test *t = arg;
	struct uiommu_papr_phb_config c;
	uint32_t args[5] = { 0, (uint32_t)(UIOMMU_PAPR_PCI_BUID_BASE >> 32),
			     (uint32_t)UIOMMU_PAPR_PCI_BUID_BASE, 16, 24 };
	uint32_t rets[4];

	uiommu_papr_phb_config_default(&c, 0);
	CHECK_EQ(uiommu_papr_phb_add(t->g, &c), 0);
	/* At least CHURN_ROUNDS rounds, and on until the workers are done. */
	for (int round = 0; round < CHURN_ROUNDS || !atomic_load(&t->stop); round++) {
		if (round == CHURN_ROUNDS)
			atomic_store(&t->churned, 1);
		CHECK_EQ(uiommu_liobn_create(t->g, CHURN, 12, 0, 16 + (uint64_t)round % 100), 0);
		for (int i = 0; i < 200; i++) /* let it live a little */
			CHECK_EQ(uiommu_liobn_info(t->g, CHURN, NULL, NULL, NULL), 0);
		/* A DDW comes and goes too (the LIOBN array changes under the readers). */
		CHECK_EQ(uiommu_papr_rtas(t->g, UIOMMU_RTAS_CREATE_PE_DMA_WINDOW, 5, args, 4,
						  rets), 0);
		CHECK_EQ(uiommu_liobn_destroy(t->g, CHURN), 0);
		CHECK_EQ(uiommu_papr_rtas(t->g, UIOMMU_RTAS_REMOVE_PE_DMA_WINDOW, 1, &rets[1], 1,
						  rets), 0);
	}
	CHECK_EQ(uiommu_papr_phb_remove(t->g, UIOMMU_PAPR_PCI_BUID_BASE), 0);
	return NULL;
}

static void run(bool small_pages)
{
	struct uiommu_ctx_config cfg = { .size = sizeof(cfg), .host_page_shift = small_pages ? 12 : 16 };
	struct test t = { 0 };
	struct worker *w = calloc(WORKERS, sizeof(*w));
	pthread_t th[WORKERS + 1];

	assert_int_equal(uiommu_ctx_new(&cfg, &t.ctx), 0);
	assert_int_equal(uiommu_ctx_set_limit(t.ctx, UIOMMU_RES_LOCKED_BYTES, UIOMMU_LIMIT_NONE), 0);
	t.mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(t.mem != MAP_FAILED);
	assert_int_equal(uiommu_guest_new(t.ctx, &t.g), 0);
	assert_int_equal(uiommu_guest_set_memslot(t.g, 0, 0, MEM_SIZE, t.mem, 0), 0);
	assert_int_equal(uiommu_liobn_create(t.g, SHARED, 12, 0, ENTRIES), 0);
	for (int i = 0; i < WORKERS; i++)
		assert_int_equal(uiommu_liobn_create(t.g, PRIVATE(i), 12, 0, ENTRIES), 0);

	for (int i = 0; i < WORKERS; i++) {
		w[i].t = &t;
		w[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	assert_int_equal(pthread_create(&th[WORKERS], NULL, churn_main, &t), 0);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&t.stop, 1);
	pthread_join(th[WORKERS], NULL);

	for (int i = 0; i < WORKERS; i++) {
		for (uint64_t idx = 0; idx < ENTRIES; idx++) {
			uint64_t v = ~0ULL;

			assert_int_equal(uiommu_liobn_get_tce(t.g, PRIVATE(i), idx << 12, &v), 0);
			assert_true(v == w[i].model[idx]);
		}
	}
	print_message("churned LIOBN: %llu calls found it, %llu did not\n",
		      (unsigned long long)t.churn_ok, (unsigned long long)t.churn_missing);
	uiommu_guest_free(t.g);
	munmap(t.mem, MEM_SIZE);
	free(w);
	rcu_wait_callbacks();
	test_ctx_free(t.ctx);
}

static void test_hcalls_vs_churn(void **state)
{
	(void)state;
	run(false);
}

static void test_hcalls_vs_churn_4k_host(void **state)
{
	(void)state;
	run(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hcalls_vs_churn),
		cmocka_unit_test(test_hcalls_vs_churn_4k_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
