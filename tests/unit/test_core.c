// SPDX-License-Identifier: BSD-3-Clause
/*
 * Core: context creation, limits and charges, counters, the allocator hook,
 * fault injection, logging and its guest-error rate limit, error strings,
 * the range helper. Every error the doc comments of ctx.h list is provoked.
 */
#include <limits.h>

#include "test_util.h"

#include "internal.h"

/* ---- range helper ---- */

static void test_range_from_len(void **state)
{
	uint64_t last = 7;

	(void)state;
	assert_int_equal(range_from_len(0, 0, &last), -EINVAL);
	assert_int_equal(last, 7); /* untouched on failure */
	assert_int_equal(range_from_len(0, 1, &last), 0);
	assert_int_equal(last, 0);
	assert_int_equal(range_from_len(0x1000, 0x1000, &last), 0);
	assert_int_equal(last, 0x1fff);
	assert_int_equal(range_from_len(UINT64_MAX, 1, &last), 0);
	assert_true(last == UINT64_MAX);
	assert_int_equal(range_from_len(UINT64_MAX, 2, &last), -EOVERFLOW);
	assert_int_equal(range_from_len(2, UINT64_MAX, &last), -EOVERFLOW);
	assert_int_equal(range_from_len(1, UINT64_MAX, &last), 0);
	assert_true(last == UINT64_MAX);
	assert_int_equal(range_from_len(0, UINT64_MAX, &last), 0);
	assert_true(last == UINT64_MAX - 1);
	assert_true(range_within(5, 6, 5, 6));
	assert_false(range_within(4, 6, 5, 6));
	assert_false(range_within(5, 7, 5, 6));
	assert_true(range_overlaps(0, 10, 10, 20));
	assert_false(range_overlaps(0, 9, 10, 20));
	assert_true(range_overlaps(0, UINT64_MAX, 5, 5));
}

/* ---- context creation ---- */

static void test_ctx_new_defaults(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	uint64_t v;

	(void)state;
	assert_int_equal(uiommu_ctx_host_page_shift(ctx), 16);
	assert_int_equal(uiommu_ctx_get_limit(ctx, UIOMMU_RES_FRAME_BYTES, &v), 0);
	assert_true(v == 1ULL << 30);
	assert_int_equal(uiommu_ctx_get_limit(ctx, UIOMMU_RES_HEAP_BYTES, &v), 0);
	assert_true(v == UIOMMU_LIMIT_NONE);
	assert_ctx_clean(ctx);
	test_ctx_free(ctx);
	assert_int_equal(uiommu_ctx_free(NULL), 0);
}

static void test_ctx_new_errors(void **state)
{
	struct uiommu_ctx *ctx = NULL;
	struct {
		struct uiommu_ctx_config cfg;
		uint64_t tail;
	} big;
	struct uiommu_ctx_config cfg;

	(void)state;
	assert_int_equal(uiommu_ctx_new(NULL, NULL), -EINVAL);

	memset(&cfg, 0, sizeof(cfg));
	cfg.size = sizeof(cfg) - 1;
	assert_int_equal(uiommu_ctx_new(&cfg, &ctx), -EINVAL);
	cfg.size = sizeof(cfg);
	cfg.flags = 1u << 7;
	assert_int_equal(uiommu_ctx_new(&cfg, &ctx), -EINVAL);
	cfg.flags = 0;
	cfg.host_page_shift = 14;
	assert_int_equal(uiommu_ctx_new(&cfg, &ctx), -EINVAL);
	cfg.host_page_shift = 0;
	cfg.log_max_level = 8;
	assert_int_equal(uiommu_ctx_new(&cfg, &ctx), -EINVAL);
	cfg.log_max_level = 0;
	assert_null(ctx);

	/* A longer struct: accepted with a zero tail, -E2BIG otherwise. */
	memset(&big, 0, sizeof(big));
	big.cfg.size = sizeof(big);
	big.cfg.host_page_shift = 12;
	assert_int_equal(uiommu_ctx_new(&big.cfg, &ctx), 0);
	assert_int_equal(uiommu_ctx_host_page_shift(ctx), 12);
	test_ctx_free(ctx);
	big.tail = 1;
	ctx = NULL;
	assert_int_equal(uiommu_ctx_new(&big.cfg, &ctx), -E2BIG);
	assert_null(ctx);
}

struct counting_alloc {
	long live;
	long total;
	long fail_after; /* < 0: never */
};

static void *counting_alloc_fn(void *opaque, size_t size, size_t align)
{
	struct counting_alloc *a = opaque;
	void *p;

	if (a->fail_after >= 0 && a->total >= a->fail_after)
		return NULL;
	if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size))
		return NULL;
	a->live++;
	a->total++;
	return p;
}

static void counting_free_fn(void *opaque, void *ptr, size_t size)
{
	struct counting_alloc *a = opaque;

	(void)size;
	a->live--;
	free(ptr);
}

static void test_ctx_allocator_hook(void **state)
{
	struct counting_alloc a = { .fail_after = -1 };
	struct uiommu_allocator hook = { counting_alloc_fn, counting_free_fn, &a };
	struct uiommu_ctx_config cfg = { .size = sizeof(cfg), .allocator = &hook };
	struct uiommu_allocator bad = { counting_alloc_fn, NULL, &a };
	struct uiommu_guest *g;
	struct uiommu_ctx *ctx;

	(void)state;
	assert_int_equal(uiommu_ctx_new(&cfg, &ctx), 0);
	assert_true(a.live == 1); /* the context: modules' state comes at their first use */
	assert_int_equal(uiommu_guest_new(ctx, &g), 0);
	assert_true(a.live >= 2); /* and the guest, through the hook */
	assert_true(ctx_counter(ctx, UIOMMU_COUNTER_HEAP_ALLOCS) >= 1);
	uiommu_guest_free(g);
	test_ctx_free(ctx);
	assert_int_equal(a.live, 0);

	/* The hook failing at any point makes creation fail cleanly. */
	for (long n = 0;; n++) {
		int ret;

		a = (struct counting_alloc){ .fail_after = n };
		ret = uiommu_ctx_new(&cfg, &ctx);
		if (!ret)
			break;
		assert_int_equal(ret, -ENOMEM);
		assert_int_equal(a.live, 0);
	}
	test_ctx_free(ctx);
	assert_int_equal(a.live, 0);
	cfg.allocator = &bad;
	assert_int_equal(uiommu_ctx_new(&cfg, &ctx), -EINVAL);
}

static void test_ctx_free_busy(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_guest *g;

	(void)state;
	assert_int_equal(uiommu_guest_new(ctx, &g), 0);
	assert_int_equal(uiommu_ctx_free(ctx), -EBUSY);
	uiommu_guest_free(g);
	test_ctx_free(ctx);
}

/*
 * A context whose memory model was never used (its state is created at the
 * first call that needs it): every lookup and release misses with its
 * documented error, and the context frees cleanly.
 */
static void test_ctx_fresh_memory(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	char buf[8192] __attribute__((aligned(4096)));
	unsigned int shift;
	uint64_t hpa;
	void *hva;
	int fd;

	(void)state;
	assert_int_equal(uiommu_ram_remove(ctx, 1ULL << 40), -ENOENT);
	assert_int_equal(uiommu_hostmem_free(ctx, buf), -ENOENT);
	assert_int_equal(uiommu_frames_free(ctx, UIOMMU_HPA_LIBRARY_BASE, 0), -EINVAL);
	assert_int_equal(uiommu_pin(ctx, buf, 4096, NULL), -EFAULT);
	assert_int_equal(uiommu_pin(ctx, buf + 1, 4096, NULL), -EINVAL);
	assert_int_equal(uiommu_unpin(ctx, buf, 4096), -EFAULT);
	assert_int_equal(uiommu_hva_to_hpa(ctx, buf, &hpa), -EFAULT);
	assert_int_equal(uiommu_hpa_to_hva(ctx, UIOMMU_HPA_LIBRARY_BASE, 8, &hva), -EFAULT);
	assert_int_equal(uiommu_hostmem_page_shift(ctx, buf, &shift), -EFAULT);
	assert_int_equal(uiommu_ram_get_fd(ctx, UIOMMU_HPA_LIBRARY_BASE, &fd, &hpa, NULL), -EFAULT);
	test_ctx_free(ctx);
}

/* Two contexts share nothing: limits, usage, counters, objects. */
static void test_ctx_independent(void **state)
{
	struct uiommu_ctx *a = test_ctx_new(), *b = test_ctx_new();
	uint64_t hpa_a, hpa_b;
	void *p;

	(void)state;
	assert_int_equal(uiommu_ctx_set_limit(a, UIOMMU_RES_GUESTS, 0), 0);
	assert_int_equal(uiommu_frames_alloc(a, 0, &hpa_a), 0);
	assert_int_equal(uiommu_frames_alloc(b, 0, &hpa_b), 0);
	/* Same hpa layout, different memory. */
	assert_true(hpa_a == hpa_b);
	assert_int_equal(uiommu_hpa_to_hva(a, hpa_a, 8, &p), 0);
	*(volatile uint64_t *)p = 42;
	assert_int_equal(uiommu_hpa_to_hva(b, hpa_b, 8, &p), 0);
	assert_int_equal(*(volatile uint64_t *)p, 0);
	assert_true(ctx_usage(a, UIOMMU_RES_FRAME_BYTES) == 4096);
	assert_true(ctx_usage(b, UIOMMU_RES_FRAME_BYTES) == 4096);
	{
		struct uiommu_guest *g;

		assert_int_equal(uiommu_guest_new(a, &g), -ENOSPC);
		assert_int_equal(uiommu_guest_new(b, &g), 0);
		uiommu_guest_free(g);
	}
	assert_int_equal(uiommu_frames_free(a, hpa_a, 0), 0);
	assert_int_equal(uiommu_frames_free(b, hpa_b, 0), 0);
	test_ctx_free(a);
	test_ctx_free(b);
}

/* ---- limits and charges ---- */

static void test_limits(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	uint64_t v;

	(void)state;
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_NR, 1), -EINVAL);
	assert_int_equal(uiommu_ctx_set_limit(ctx, (enum uiommu_resource)-1, 1), -EINVAL);
	assert_int_equal(uiommu_ctx_get_limit(ctx, UIOMMU_RES_NR, &v), -EINVAL);
	assert_int_equal(uiommu_ctx_get_limit(ctx, UIOMMU_RES_GUESTS, NULL), -EINVAL);
	assert_int_equal(uiommu_ctx_get_usage(ctx, UIOMMU_RES_NR, &v), -EINVAL);
	assert_int_equal(uiommu_ctx_get_usage(ctx, UIOMMU_RES_GUESTS, NULL), -EINVAL);
	assert_int_equal(uiommu_ctx_get_counter(ctx, UIOMMU_COUNTER_NR, &v), -EINVAL);
	assert_int_equal(uiommu_ctx_get_counter(ctx, UIOMMU_COUNTER_HEAP_ALLOCS, NULL), -EINVAL);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_FRAME_BYTES,
					      UIOMMU_HPA_LIBRARY_SIZE + 1), -EINVAL);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_FRAME_BYTES,
					      UIOMMU_HPA_LIBRARY_SIZE), 0);
	assert_null(uiommu_resource_name(UIOMMU_RES_NR));
	for (int r = 0; r < UIOMMU_RES_NR; r++)
		assert_non_null(uiommu_resource_name((enum uiommu_resource)r));

	/* Byte resources refuse with -ENOMEM, counted ones with -ENOSPC. */
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_TABLE_BYTES, 100), 0);
	assert_int_equal(ctx_charge(ctx, UIOMMU_RES_TABLE_BYTES, 60), 0);
	assert_int_equal(ctx_charge(ctx, UIOMMU_RES_TABLE_BYTES, 41), -ENOMEM);
	assert_int_equal(ctx_charge(ctx, UIOMMU_RES_TABLE_BYTES, 40), 0);
	assert_int_equal(ctx_charge(ctx, UIOMMU_RES_TABLE_BYTES, UINT64_MAX), -ENOMEM);
	assert_true(ctx_usage(ctx, UIOMMU_RES_TABLE_BYTES) == 100);
	assert_true(ctx_counter(ctx, UIOMMU_COUNTER_LIMIT_HITS) == 2);
	/* Lowering a limit below the usage only stops further charges. */
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_TABLE_BYTES, 10), 0);
	assert_int_equal(ctx_charge(ctx, UIOMMU_RES_TABLE_BYTES, 1), -ENOMEM);
	ctx_uncharge(ctx, UIOMMU_RES_TABLE_BYTES, 100);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_WINDOWS, 1), 0);
	assert_int_equal(ctx_charge(ctx, UIOMMU_RES_WINDOWS, 1), 0);
	assert_int_equal(ctx_charge(ctx, UIOMMU_RES_WINDOWS, 1), -ENOSPC);
	ctx_uncharge(ctx, UIOMMU_RES_WINDOWS, 1);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_WINDOWS, UIOMMU_LIMIT_NONE), 0);
	assert_int_equal(ctx_charge(ctx, UIOMMU_RES_WINDOWS, UINT64_MAX), 0);
	assert_int_equal(ctx_charge(ctx, UIOMMU_RES_WINDOWS, 1), -ENOSPC); /* would wrap */
	ctx_uncharge(ctx, UIOMMU_RES_WINDOWS, UINT64_MAX);
	test_ctx_free(ctx);
}

static void test_heap_limit(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	uint64_t base = ctx_usage(ctx, UIOMMU_RES_HEAP_BYTES);
	struct uiommu_guest *g;
	void *p;

	(void)state;
	p = ctx_alloc(ctx, 1000);
	assert_non_null(p);
	assert_true(ctx_usage(ctx, UIOMMU_RES_HEAP_BYTES) == base + 1000);
	assert_true(((uintptr_t)p & 15) == 0);
	ctx_free(ctx, p);
	p = ctx_alloc_aligned(ctx, 64, 4096);
	assert_non_null(p);
	assert_true(((uintptr_t)p & 4095) == 0);
	ctx_free(ctx, p);
	assert_null(ctx_alloc_aligned(ctx, 64, 3));
	assert_null(ctx_alloc_aligned(ctx, 64, 8192));
	assert_null(ctx_alloc_array(ctx, SIZE_MAX / 2, 4));
	assert_null(ctx_alloc(ctx, SIZE_MAX - 8));
	assert_true(ctx_usage(ctx, UIOMMU_RES_HEAP_BYTES) == base);

	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_HEAP_BYTES, base), 0);
	assert_int_equal(uiommu_guest_new(ctx, &g), -ENOMEM);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_HEAP_BYTES, UIOMMU_LIMIT_NONE), 0);
	test_ctx_free(ctx);
}

/* ---- fault injection ---- */

static void test_fault_injection(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	void *p[4];

	(void)state;
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 1, 1u << 10), -EINVAL);
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 1, UIOMMU_FAULT_PERSIST), -EINVAL);
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);

	/* The 3rd heap allocation fails, only that one. */
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 3, UIOMMU_FAULT_HEAP), 0);
	for (int i = 0; i < 4; i++)
		p[i] = ctx_alloc(ctx, 8);
	assert_non_null(p[0]);
	assert_non_null(p[1]);
	assert_null(p[2]);
	assert_non_null(p[3]);
	assert_true(ctx_counter(ctx, UIOMMU_COUNTER_FAULT_POINTS) == 4);
	assert_true(ctx_counter(ctx, UIOMMU_COUNTER_FAULTS_INJECTED) == 1);
	for (int i = 0; i < 4; i++)
		ctx_free(ctx, p[i]);

	/* Persistent: every point from the 2nd on. Other classes are not counted. */
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 2, UIOMMU_FAULT_HEAP | UIOMMU_FAULT_PERSIST),
			 0);
	assert_false(ctx_fault(ctx, UIOMMU_FAULT_PIN));
	for (int i = 0; i < 4; i++)
		p[i] = ctx_alloc(ctx, 8);
	assert_non_null(p[0]);
	for (int i = 1; i < 4; i++)
		assert_null(p[i]);
	assert_true(ctx_counter(ctx, UIOMMU_COUNTER_FAULTS_INJECTED) == 3);
	ctx_free(ctx, p[0]);
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
	assert_true(ctx_counter(ctx, UIOMMU_COUNTER_FAULT_POINTS) == 0);
	p[0] = ctx_alloc(ctx, 8);
	assert_non_null(p[0]);
	ctx_free(ctx, p[0]);
	test_ctx_free(ctx);
}

/* ---- logging ---- */

struct log_capture {
	int n;
	enum uiommu_log_level level[16];
	char msg[16][512];
};

static void capture_log(void *opaque, enum uiommu_log_level level, const char *msg)
{
	struct log_capture *c = opaque;

	if (c->n < 16) {
		c->level[c->n] = level;
		snprintf(c->msg[c->n], sizeof(c->msg[0]), "%s", msg);
	}
	c->n++;
}

static void test_log(void **state)
{
	struct log_capture cap = { 0 };
	struct uiommu_ctx *ctx = test_ctx_new();

	(void)state;
	/* No callback: nothing delivered, guest errors still counted. */
	ctx_guest_error(ctx, "lost %d", 1);
	assert_true(ctx_counter(ctx, UIOMMU_COUNTER_GUEST_ERRORS) == 1);

	assert_int_equal(uiommu_ctx_set_log(ctx, capture_log, &cap, 8), -EINVAL);
	assert_int_equal(uiommu_ctx_set_log(ctx, capture_log, &cap, UIOMMU_LOG_WARNING), 0);
	ctx_err(ctx, "error %s", "one");
	ctx_info(ctx, "not delivered");
	ctx_warn(ctx, "warning");
	assert_int_equal(cap.n, 2);
	assert_int_equal(cap.level[0], UIOMMU_LOG_ERR);
	assert_string_equal(cap.msg[0], "error one");
	assert_string_equal(cap.msg[1], "warning");

	/* 0 means INFO; DEBUG stays out. */
	assert_int_equal(uiommu_ctx_set_log(ctx, capture_log, &cap, 0), 0);
	ctx_info(ctx, "info");
	ctx_debug(ctx, "debug");
	assert_int_equal(cap.n, 3);

	/* Long messages are cut, not overflowed. */
	{
		char big[2000];

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = 0;
		ctx_err(ctx, "%s", big);
		assert_int_equal(cap.n, 4);
		assert_int_equal(strlen(cap.msg[3]), 511);
	}
	assert_int_equal(uiommu_ctx_set_log(ctx, NULL, NULL, 0), 0);
	ctx_err(ctx, "gone");
	assert_int_equal(cap.n, 4);
	test_ctx_free(ctx);
}

static void test_log_guest_ratelimit(void **state)
{
	struct log_capture cap = { 0 };
	struct uiommu_ctx *ctx = test_ctx_new();

	(void)state;
	assert_int_equal(uiommu_ctx_set_guest_log_ratelimit(ctx, 3, 0), -EINVAL);
	/* An hour-long interval: the test never crosses it by accident. */
	assert_int_equal(uiommu_ctx_set_guest_log_ratelimit(ctx, 3, 3600ULL * 1000000000ULL), 0);
	assert_int_equal(uiommu_ctx_set_log(ctx, capture_log, &cap, UIOMMU_LOG_GUEST_ERROR), 0);
	for (int i = 0; i < 10; i++)
		ctx_guest_error(ctx, "guest error %d", i);
	assert_int_equal(cap.n, 3);
	assert_string_equal(cap.msg[2], "guest error 2");
	assert_true(ctx_counter(ctx, UIOMMU_COUNTER_GUEST_ERRORS) == 10);
	assert_true(ctx_counter(ctx, UIOMMU_COUNTER_LOG_SUPPRESSED) == 7);
	/* Host errors are never rate-limited. */
	ctx_err(ctx, "host");
	assert_int_equal(cap.n, 4);

	/* Burst 0 drops everything; the next delivered message is preceded by the count. */
	cap.n = 0;
	assert_int_equal(uiommu_ctx_set_guest_log_ratelimit(ctx, 0, 3600ULL * 1000000000ULL), 0);
	ctx_guest_error(ctx, "dropped");
	ctx_guest_error(ctx, "dropped");
	assert_int_equal(cap.n, 0);
	/* Resetting the limit starts a new interval (no sleeping in tests). */
	assert_int_equal(uiommu_ctx_set_guest_log_ratelimit(ctx, 1, 3600ULL * 1000000000ULL), 0);
	ctx_guest_error(ctx, "a");
	assert_int_equal(cap.n, 2);
	/* 7 from the first interval + 2 from the second, reported once. */
	assert_string_equal(cap.msg[0], "9 guest error messages suppressed");
	assert_string_equal(cap.msg[1], "a");
	ctx_guest_error(ctx, "b");
	assert_int_equal(cap.n, 2);
	test_ctx_free(ctx);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(uiommu_strerror(-EINVAL), "Invalid argument");
	assert_string_equal(uiommu_strerror(EINVAL), "Invalid argument");
	assert_string_equal(uiommu_strerror(-100000), "Unknown error");
	assert_string_equal(uiommu_errno_name(-EBUSY), "EBUSY");
	assert_string_equal(uiommu_errno_name(-100000), "E?");
	/* Every int, the two ends included (-INT_MIN does not exist: no negation). */
	assert_string_equal(uiommu_strerror(INT_MIN), "Unknown error");
	assert_string_equal(uiommu_strerror(INT_MAX), "Unknown error");
	assert_string_equal(uiommu_errno_name(INT_MIN), "E?");
	assert_string_equal(uiommu_errno_name(INT_MAX), "E?");
	assert_string_equal(uiommu_strerror(0), "Success");
	assert_string_equal(uiommu_version(), UIOMMU_VERSION_STRING);
	assert_int_equal(uiommu_version_number(), UIOMMU_VERSION_NUMBER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_from_len),
		cmocka_unit_test(test_ctx_new_defaults),
		cmocka_unit_test(test_ctx_new_errors),
		cmocka_unit_test(test_ctx_allocator_hook),
		cmocka_unit_test(test_ctx_free_busy),
		cmocka_unit_test(test_ctx_fresh_memory),
		cmocka_unit_test(test_ctx_independent),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_heap_limit),
		cmocka_unit_test(test_fault_injection),
		cmocka_unit_test(test_log),
		cmocka_unit_test(test_log_guest_ratelimit),
		cmocka_unit_test(test_strerror),
	};

	test_require_memfd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
