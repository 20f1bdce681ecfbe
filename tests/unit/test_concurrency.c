// SPDX-License-Identifier: BSD-3-Clause
/*
 * Real concurrency: lock-free lookups against concurrent changes, and the
 * frame allocator and pinning under several threads. Run under ASan (use
 * after free of a published array or region) and TSan (-Drcu=mutex).
 *
 * Nothing here is timed: each thread does a fixed amount of work.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include "test_util.h"

#include "internal.h"

#define READERS 3
#define ROUNDS 300

struct region_test {
	struct uiommu_ctx *ctx;
	_Atomic uint64_t live_hpa[4]; /* 0 when empty */
	_Atomic int stop;
	_Atomic uint64_t hits, misses;
};

/* Readers: look up a region's hpa and check the tag its first word holds. */
static void *region_reader(void *arg)
{
	struct region_test *t = arg;
	uint64_t rng = (uint64_t)(uintptr_t)&rng;

	while (!atomic_load(&t->stop)) {
		uint64_t hpa = atomic_load(&t->live_hpa[test_rand(&rng) % 4]);
		volatile uint64_t *p;

		if (!hpa)
			continue;
		rcu_read_enter();
		p = mem_hpa_to_hva_rcu(t->ctx, hpa, 4096);
		if (p) {
			/* Whatever we found is a whole, live region: its tag is its hpa. */
			if (*p != hpa)
				abort();
			atomic_fetch_add(&t->hits, 1);
		} else {
			atomic_fetch_add(&t->misses, 1);
		}
		rcu_read_exit();
	}
	return NULL;
}

static void test_regions_vs_lookups(void **state)
{
	struct region_test t = { .ctx = test_ctx_new() };
	pthread_t th[READERS];

	(void)state;
	for (int i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, region_reader, &t), 0);
	for (int round = 0; round < ROUNDS; round++) {
		int slot = round % 4;
		uint64_t old = atomic_exchange(&t.live_hpa[slot], 0), hpa;
		uint64_t *hva;

		if (old)
			assert_int_equal(uiommu_ram_remove(t.ctx, old), 0);
		assert_int_equal(uiommu_ram_create(t.ctx, 65536, &hpa, (void **)&hva), 0);
		*hva = hpa;
		atomic_store(&t.live_hpa[slot], hpa);
	}
	atomic_store(&t.stop, 1);
	for (int i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 4; i++)
		if (t.live_hpa[i])
			assert_int_equal(uiommu_ram_remove(t.ctx, t.live_hpa[i]), 0);
	assert_true(atomic_load(&t.hits) > 0);
	test_ctx_free(t.ctx);
}

struct slot_test {
	struct uiommu_guest *g;
	_Atomic int stop;
	_Atomic uint64_t reads;
};

/* Every 8-byte word of slot memory says (slot id << 32 | offset in the slot). */
static void *slot_reader(void *arg)
{
	struct slot_test *t = arg;
	uint64_t rng = (uint64_t)(uintptr_t)&rng;

	while (!atomic_load(&t->stop)) {
		uint64_t gpa = (test_rand(&rng) % (64 * 4096)) & ~7ULL, word;

		if (uiommu_guest_read(t->g, gpa, &word, 8) == 0) {
			if ((word >> 32) >= 8 || (word & 4095) != (gpa & 4095))
				abort();
			atomic_fetch_add(&t->reads, 1);
		}
	}
	return NULL;
}

static void test_memslots_vs_reads(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	uint64_t *mem = mmap(NULL, 8 * 65536, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct slot_test t = { 0 };
	pthread_t th[READERS];
	uint64_t rng = 7;

	(void)state;
	for (uint64_t id = 0; id < 8; id++)
		for (uint64_t off = 0; off < 65536; off += 8)
			mem[(id * 65536 + off) / 8] = id << 32 | off;
	assert_int_equal(uiommu_guest_new(ctx, &t.g), 0);
	for (int i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, slot_reader, &t), 0);
	for (int round = 0; round < 20 * ROUNDS; round++) {
		uint32_t id = (uint32_t)(test_rand(&rng) % 8);
		uint64_t gpa = (test_rand(&rng) % 48) * 4096;
		int ret = uiommu_guest_set_memslot(t.g, id, gpa, 16 * 4096,
						   (char *)mem + id * 65536, 0);

		assert_true(ret == 0 || ret == -EEXIST);
		if (test_rand(&rng) % 3 == 0)
			uiommu_guest_set_memslot(t.g, id, 0, 0, NULL, 0);
	}
	atomic_store(&t.stop, 1);
	for (int i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	uiommu_guest_free(t.g);
	munmap(mem, 8 * 65536);
	test_ctx_free(ctx);
}

/* Frame allocation from several threads: tags written into each run never get clobbered. */
static void *frame_worker(void *arg)
{
	struct uiommu_ctx *ctx = arg;
	uint64_t rng = (uint64_t)(uintptr_t)&rng, hpa[16];
	unsigned int order[16];
	uint64_t tag = (uint64_t)pthread_self();

	for (int round = 0; round < ROUNDS; round++) {
		for (int i = 0; i < 16; i++) {
			uint64_t *p;

			order[i] = (unsigned int)(test_rand(&rng) % 5);
			if (uiommu_frames_alloc(ctx, order[i], &hpa[i]))
				abort();
			if (uiommu_hpa_to_hva(ctx, hpa[i], 4096ULL << order[i], (void **)&p))
				abort();
			for (uint64_t w = 0; w < (512ULL << order[i]); w += 64) {
				if (p[w])
					abort(); /* not zero: handed out twice or not cleared */
				p[w] = tag ^ hpa[i];
			}
		}
		for (int i = 0; i < 16; i++) {
			uint64_t *p;

			uiommu_hpa_to_hva(ctx, hpa[i], 4096ULL << order[i], (void **)&p);
			for (uint64_t w = 0; w < (512ULL << order[i]); w += 64)
				if (p[w] != (tag ^ hpa[i]))
					abort();
			if (uiommu_frames_free(ctx, hpa[i], order[i]))
				abort();
		}
	}
	return NULL;
}

static void test_frames_threads(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	pthread_t th[4];

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, frame_worker, ctx), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	test_ctx_free(ctx);
}

struct pin_test {
	struct uiommu_ctx *ctx;
	char *buf;
};

static void *pin_worker(void *arg)
{
	struct pin_test *t = arg;
	uint64_t rng = (uint64_t)(uintptr_t)&rng;

	for (int round = 0; round < 20 * ROUNDS; round++) {
		uint64_t first = test_rand(&rng) % 60, n = 1 + test_rand(&rng) % 4;

		if (uiommu_pin(t->ctx, t->buf + first * 4096, n * 4096, NULL))
			abort();
		if (uiommu_unpin(t->ctx, t->buf + first * 4096, n * 4096))
			abort();
	}
	return NULL;
}

static void test_pins_threads(void **state)
{
	struct uiommu_ctx_config cfg = { .size = sizeof(cfg), .flags = UIOMMU_CTX_PIN_SIMULATE };
	struct pin_test t;
	pthread_t th[4];

	(void)state;
	assert_int_equal(uiommu_ctx_new(&cfg, &t.ctx), 0);
	assert_int_equal(uiommu_ctx_set_limit(t.ctx, UIOMMU_RES_LOCKED_BYTES, 1 << 20), 0);
	assert_int_equal(uiommu_hostmem_alloc(t.ctx, 64 * 4096, 12, UIOMMU_HOSTMEM_SCATTER,
					      (void **)&t.buf), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, pin_worker, &t), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_true(ctx_usage(t.ctx, UIOMMU_RES_LOCKED_BYTES) == 0);
	assert_int_equal(uiommu_hostmem_free(t.ctx, t.buf), 0);
	test_ctx_free(t.ctx);
}

/* ---- deferred work (core/rcu.c) ---- */

struct defer_probe {
	struct rcu_node rcu;
	_Atomic int *reader_left; /* the reader that could see it has left */
	_Atomic int ran, saw_reader_left;
	_Atomic uint64_t *count;   /* incremented by the callback, if set */
};

static void probe_fn(struct rcu_node *node)
{
	struct defer_probe *p = container_of(node, struct defer_probe, rcu);

	if (p->reader_left)
		atomic_store(&p->saw_reader_left, atomic_load(p->reader_left));
	if (p->count)
		atomic_fetch_add(p->count, 1);
	atomic_store(&p->ran, 1);
}

struct reader_arg {
	struct defer_probe *probe;
	_Atomic int deferred, reader_left;
};

/* A reader defers the probe inside its section, then stays there a while. */
static void *deferring_reader(void *arg)
{
	struct reader_arg *a = arg;

	rcu_read_enter();
	rcu_defer(&a->probe->rcu, probe_fn);
	atomic_store(&a->deferred, 1);
	for (int i = 0; i < 2000; i++)
		sched_yield();
	atomic_store(&a->reader_left, 1);
	rcu_read_exit();
	return NULL;
}

/*
 * A callback deferred inside a reader runs only after that reader has left,
 * even when another thread waits for it (rcu_wait_callbacks() runs it in
 * its own thread, after a grace period).
 */
static void test_defer_waits_for_readers(void **state)
{
	struct defer_probe probe = { 0 };
	struct reader_arg a = { .probe = &probe };
	pthread_t th;

	(void)state;
	rcu_setup();
	probe.reader_left = &a.reader_left;
	assert_int_equal(pthread_create(&th, NULL, deferring_reader, &a), 0);
	while (!atomic_load(&a.deferred))
		sched_yield();
	rcu_wait_callbacks();
	assert_true(atomic_load(&probe.ran));
	assert_true(atomic_load(&probe.saw_reader_left));
	assert_int_equal(pthread_join(th, NULL), 0);
	/* Nothing queued: returns at once, and twice is fine. */
	rcu_wait_callbacks();
	rcu_wait_callbacks();
}

#define DEFERRERS 3
#define DEFERS 2000

struct deferrer_arg {
	struct defer_probe probes[DEFERS];
	_Atomic uint64_t count;
	uint64_t unran; /* the first probe found not run after a wait, + 1; 0 if none */
};

/*
 * Threads defer (some inside readers) while they and others wait: after a
 * thread's rcu_wait_callbacks(), every callback it queued before has run,
 * whether the background flush or another thread's wait ran it. (cmocka's
 * asserts belong to the main thread: a thread records what it saw.)
 */
static void *deferrer(void *arg)
{
	struct deferrer_arg *d = arg;

	for (uint64_t i = 0; i < DEFERS; i++) {
		d->probes[i].count = &d->count;
		if (i & 1)
			rcu_read_enter();
		rcu_defer(&d->probes[i].rcu, probe_fn);
		if (i & 1)
			rcu_read_exit();
		if (i % 97 == 0) {
			rcu_wait_callbacks();
			for (uint64_t j = 0; j <= i && !d->unran; j++)
				if (!atomic_load(&d->probes[j].ran))
					d->unran = j + 1;
		}
	}
	rcu_wait_callbacks();
	for (uint64_t j = 0; j < DEFERS && !d->unran; j++)
		if (!atomic_load(&d->probes[j].ran))
			d->unran = j + 1;
	return NULL;
}

static void test_defer_threads(void **state)
{
	static struct deferrer_arg d[DEFERRERS];
	pthread_t th[DEFERRERS];

	(void)state;
	rcu_setup();
	memset(d, 0, sizeof(d));
	for (int i = 0; i < DEFERRERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, deferrer, &d[i]), 0);
	for (int i = 0; i < DEFERRERS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < DEFERRERS; i++) {
		assert_int_equal(d[i].unran, 0);
		assert_int_equal(atomic_load(&d[i].count), DEFERS);
	}
}

/* A callback that takes its time, so that the flush running it is caught in the act. */
struct slow_probe {
	struct rcu_node rcu;
	_Atomic int *started, *done;
};

static void slow_fn(struct rcu_node *node)
{
	struct slow_probe *p = container_of(node, struct slow_probe, rcu);

	atomic_fetch_add(p->started, 1);
	for (int i = 0; i < 20000; i++)
		sched_yield();
	atomic_fetch_add(p->done, 1);
}

static void *waiting_thread(void *arg)
{
	(void)arg;
	rcu_wait_callbacks();
	return NULL;
}

/*
 * rcu_wait_callbacks() while another thread's flush runs our callbacks:
 * it returns only after they ran (the -Drcu=mutex stand-in once returned
 * at once, its queue being empty, and failed test_defer_threads in TSan).
 * Deterministic: the wait starts only once a callback has started, and
 * nothing else finishes them.
 */
static void test_defer_wait_sees_other_flush(void **state)
{
	_Atomic int started = 0, done = 0;
	struct slow_probe p[2] = { { .started = &started, .done = &done },
				   { .started = &started, .done = &done } };
	pthread_t th;

	(void)state;
	rcu_setup();
	rcu_read_enter(); /* queued, not run: this thread is a reader */
	rcu_defer(&p[0].rcu, slow_fn);
	rcu_defer(&p[1].rcu, slow_fn);
	assert_int_equal(pthread_create(&th, NULL, waiting_thread, NULL), 0);
	rcu_read_exit();
	/* The other thread's flush (or the background one) has taken them. */
	while (!atomic_load(&started))
		sched_yield();
	rcu_wait_callbacks();
	assert_int_equal(atomic_load(&done), 2);
	assert_int_equal(pthread_join(th, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regions_vs_lookups),
		cmocka_unit_test(test_memslots_vs_reads),
		cmocka_unit_test(test_frames_threads),
		cmocka_unit_test(test_pins_threads),
		cmocka_unit_test(test_defer_waits_for_readers),
		cmocka_unit_test(test_defer_threads),
		cmocka_unit_test(test_defer_wait_sees_other_flush),
	};

	test_require_memfd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
