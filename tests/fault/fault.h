/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault scenarios (SQLite's OOM loops, Linux's iommufd_fail_nth): each is
 * run with the nth fault point failing, for n = 1, 2, ... until it runs
 * clean, once failing only the nth point and once every point from the nth
 * on, in a fresh context each time. After every run the context must be
 * clean: every resource at zero, no heap block left (a counting allocator
 * proves it after uiommu_ctx_free()), and no locked memory left in the
 * process. At the end the test prints how many of the library's fault
 * points some scenario (or a unit test's own fault loop) failed, and fails
 * unless they failed them all.
 *
 * A module adds its scenarios in a file of its own (fault_<module>.c,
 * listed in tests/meson.build): FAULT_SCENARIO() places them where
 * test_fault.c finds them.
 */
#ifndef UIOMMU_FAULT_TEST_H
#define UIOMMU_FAULT_TEST_H

#include "../unit/test_util.h"

struct fault_scenario {
	const char *name;
	/* Bytes of zeroed state handed to run() and undo(), fresh for each run. */
	size_t state_size;
	/* The context's host_page_shift (0: the default). */
	uint32_t host_page_shift;
	/* Simulate pins (UIOMMU_CTX_PIN_SIMULATE) even where mlock(2) would work. */
	bool simulate_pins;
	/*
	 * Optional: what the operations under test need, built before faults
	 * are armed (so its fault points are not this scenario's). undo()
	 * takes it apart too.
	 */
	void (*setup)(struct uiommu_ctx *ctx, void *state);
	/*
	 * The operations under test, with faults armed: 0, or -ENOMEM as soon
	 * as a step reports that it ran out of memory (a PAPR call's
	 * documented answer to that, such as H_HARDWARE, becomes -ENOMEM).
	 * Any other failure fails the test. Record in the state what exists,
	 * for undo().
	 */
	int (*run)(struct uiommu_ctx *ctx, void *state);
	/*
	 * Undo whatever run() made, wherever it stopped. Faults are still
	 * armed: a step that fails is retried with FAULT_RETRY().
	 */
	void (*undo)(struct uiommu_ctx *ctx, void *state);
	/* The scenario passes at least this many fault points when it runs clean. */
	unsigned int min_points;
};

#define FAULT_SCENARIO(id)                                                                 \
	static const struct fault_scenario id                                              \
		__attribute__((section("uiommu_fault_scenarios"), used, aligned(8)))

/* A teardown step that an armed fault made fail succeeds once faults are off. */
#define FAULT_RETRY(ctx, call)                                                             \
	do {                                                                               \
		if ((call) != 0) {                                                         \
			assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);           \
			assert_int_equal((call), 0);                                       \
		}                                                                          \
	} while (0)

/*
 * Run a step of a scenario: return its error (map a module's documented
 * out-of-memory answer to -ENOMEM first). Any other error is printed.
 */
#define FAULT_STEP(call)                                                                   \
	do {                                                                               \
		int step_ret_ = (call);                                                    \
		if (step_ret_) {                                                           \
			if (step_ret_ != -ENOMEM)                                          \
				print_message("%s:%d: %s = %d\n", __FILE__, __LINE__, #call,   \
					      step_ret_);                                  \
			return step_ret_;                                                  \
		}                                                                          \
	} while (0)

#endif /* UIOMMU_FAULT_TEST_H */
