// SPDX-License-Identifier: BSD-3-Clause
/*
 * The accelerated-hypercall model test: the fuzz driver (fuzz/fuzz_accel.c:
 * hypercall streams through the fast path and, when it hands them over,
 * the VMM path, against one model, with faults injected in the fast path)
 * run over random inputs of every profile, page-size pairing and level
 * count; then the proof that it exercised what it claims: hypercalls the
 * fast path handed over, faults injected at random points, entries the
 * container could not map, hypercalls with the table detached.
 */
#include "test_util.h"

#include "fuzz.h"

/* Inputs of the driver's MAX_OPS operations (it ignores the rest), 3,000 operations per setup. */
#define RUNS 188
#define OPS 16

static void test_accel_model(void **state)
{
	uint64_t rng = test_seed();
	uint8_t *in = malloc(1 + OPS * 8);

	(void)state;
	assert_non_null(in);
	for (unsigned int cfg = 0; cfg < 16; cfg++) {
		for (unsigned int run = 0; run < RUNS; run++) {
			in[0] = (uint8_t)cfg;
			for (size_t i = 1; i < 1 + OPS * 8; i++)
				in[i] = (uint8_t)test_rand(&rng);
			fuzz_accel(in, 1 + OPS * 8);
		}
	}
	free(in);
	print_message("%llu inputs, %llu hcalls: %llu handed to the VMM path, %llu faults "
		      "injected, %llu entries the container could not map, %llu with the table "
		      "detached\n",
		      (unsigned long long)fuzz_accel_stats.inputs,
		      (unsigned long long)fuzz_accel_stats.hcalls,
		      (unsigned long long)fuzz_accel_stats.punts,
		      (unsigned long long)fuzz_accel_stats.faults,
		      (unsigned long long)fuzz_accel_stats.unmappable,
		      (unsigned long long)fuzz_accel_stats.detached_hcalls);
	assert_true(fuzz_accel_stats.punts > 1000 && fuzz_accel_stats.faults > 500);
	assert_true(fuzz_accel_stats.unmappable > 100 && fuzz_accel_stats.detached_hcalls > 100);
	assert_true(fuzz_accel_stats.punts < fuzz_accel_stats.hcalls);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accel_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
