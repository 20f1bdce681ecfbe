// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fault injection over the public API (SQLite's OOM loops, Linux's
 * iommufd_fail_nth): a scenario that touches every foundation object is
 * run with the nth fault point failing, for n = 1, 2, ... until it runs
 * clean, once failing only the nth point and once failing every point from
 * the nth on. After every run the context must be clean: every resource at
 * zero, no heap block left (a counting allocator proves it after
 * uiommu_ctx_free()), and no locked memory left in the process.
 */
#include "../unit/test_util.h"

struct counting_alloc {
	long live;
};

static void *calloc_hook(void *opaque, size_t size, size_t align)
{
	struct counting_alloc *a = opaque;
	void *p;

	if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size))
		return NULL;
	__atomic_add_fetch(&a->live, 1, __ATOMIC_RELAXED);
	return p;
}

static void free_hook(void *opaque, void *ptr, size_t size)
{
	struct counting_alloc *a = opaque;

	(void)size;
	__atomic_sub_fetch(&a->live, 1, __ATOMIC_RELAXED);
	free(ptr);
}

/* Everything the scenario made, so that a failure can be unwound. */
struct objs {
	uint64_t ram_hpa;
	char *ram;
	struct uiommu_guest *guest;
	bool slot0, slot1;
	char *buf;
	bool pinned;
	uint64_t frame;
};

/* Retry a teardown step that an armed fault made fail. */
#define TEARDOWN(ctx, call)                                                       \
	do {                                                                      \
		if ((call) != 0) {                                                \
			assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);  \
			assert_int_equal((call), 0);                              \
		}                                                                 \
	} while (0)

static void teardown(struct uiommu_ctx *ctx, struct objs *o)
{
	if (o->pinned)
		TEARDOWN(ctx, uiommu_unpin(ctx, o->buf + 8192, 4 * 4096));
	if (o->frame)
		TEARDOWN(ctx, uiommu_frames_free(ctx, o->frame, 3));
	if (o->slot1)
		TEARDOWN(ctx, uiommu_guest_set_memslot(o->guest, 1, 0, 0, NULL, 0));
	if (o->buf)
		TEARDOWN(ctx, uiommu_hostmem_free(ctx, o->buf));
	if (o->guest)
		uiommu_guest_free(o->guest); /* drops slot 0 with it */
	if (o->ram)
		TEARDOWN(ctx, uiommu_ram_remove(ctx, o->ram_hpa));
}

/* The scenario; returns the first error, after which the caller unwinds. */
static int scenario(struct uiommu_ctx *ctx, struct objs *o)
{
	uint64_t hpas[4];
	char buf[16];
	int ret;

	ret = uiommu_ram_create(ctx, 1 << 20, &o->ram_hpa, (void **)&o->ram);
	if (ret)
		return ret;
	ret = uiommu_guest_new(ctx, &o->guest);
	if (ret)
		return ret;
	ret = uiommu_guest_set_memslot(o->guest, 0, 0, 1 << 20, o->ram, 0);
	if (ret)
		return ret;
	o->slot0 = true;
	ret = uiommu_hostmem_alloc(ctx, 8 * 4096, 12, UIOMMU_HOSTMEM_SCATTER, (void **)&o->buf);
	if (ret)
		return ret;
	ret = uiommu_guest_set_memslot(o->guest, 1, 16 << 20, 8 * 4096, o->buf, 0);
	if (ret)
		return ret;
	o->slot1 = true;
	ret = uiommu_pin(ctx, o->buf + 8192, 4 * 4096, hpas);
	if (ret)
		return ret;
	o->pinned = true;
	ret = uiommu_frames_alloc(ctx, 3, &o->frame);
	if (ret)
		return ret;
	ret = uiommu_guest_write(o->guest, (16 << 20) + 4090, "0123456789abcdef", 16);
	if (ret)
		return ret;
	ret = uiommu_guest_read(o->guest, (16 << 20) + 4090, buf, 16);
	if (ret)
		return ret;
	assert_memory_equal(buf, "0123456789abcdef", 16);
	return 0;
}

static void run_fault_loop(unsigned int flags)
{
	long locked0 = test_vmlck_kib();
	bool real_mlock = test_can_mlock();
	uint64_t n;

	for (n = 1;; n++) {
		struct counting_alloc a = { 0 };
		struct uiommu_allocator hook = { calloc_hook, free_hook, &a };
		struct uiommu_ctx_config cfg = {
			.size = sizeof(cfg),
			.allocator = &hook,
			/* Real mlock where the machine allows it (CI runs as root). */
			.flags = real_mlock ? 0 : UIOMMU_CTX_PIN_SIMULATE,
		};
		struct uiommu_ctx *ctx;
		struct objs o = { 0 };
		uint64_t injected;
		int ret;

		assert_int_equal(uiommu_ctx_new(&cfg, &ctx), 0);
		assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_LOCKED_BYTES, 1 << 20), 0);
		assert_int_equal(uiommu_ctx_inject_fault(ctx, n, flags), 0);
		ret = scenario(ctx, &o);
		assert_int_equal(uiommu_ctx_get_counter(ctx, UIOMMU_COUNTER_FAULTS_INJECTED,
							&injected), 0);
		if (ret) {
			/* Only an injected fault may fail the scenario, and only with -ENOMEM. */
			assert_true(injected > 0);
			assert_int_equal(ret, -ENOMEM);
		}
		teardown(ctx, &o);
		assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
		assert_ctx_clean(ctx);
		assert_int_equal(uiommu_ctx_free(ctx), 0);
		assert_int_equal(a.live, 0);
		assert_int_equal(test_vmlck_kib(), locked0);
		if (!ret && !injected)
			break;
	}
	print_message("fault loop 0x%x: %llu fault points\n", flags, (unsigned long long)n - 1);
	assert_true(n > 20); /* the scenario really has that many fallible steps */
}

static void test_fault_each(void **state)
{
	(void)state;
	run_fault_loop(UIOMMU_FAULT_ALL);
}

static void test_fault_persist(void **state)
{
	(void)state;
	run_fault_loop(UIOMMU_FAULT_ALL | UIOMMU_FAULT_PERSIST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fault_each),
		cmocka_unit_test(test_fault_persist),
	};

	test_require_memfd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
