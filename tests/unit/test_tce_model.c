// SPDX-License-Identifier: BSD-3-Clause
/*
 * The TCE model test: the fuzz driver (fuzz/fuzz_tce.c, a table beside a
 * flat-list model, checked after every step and walked by raw hpa at the
 * end) run over every geometry class on purpose rather than by chance:
 * both host page sizes, every IOMMU page size 12..34, levels 1..5, bus
 * offsets 0 and 1 << 59, with a random window that makes the geometry
 * valid when one exists, and random operations.
 */
#include "test_util.h"

#include "fuzz.h"

#define OPS 160
#define OP_BYTES 13 /* an operation takes at most 13 bytes of input */

static void test_model_sweep(void **state)
{
	static uint8_t buf[4 + OPS * OP_BYTES];
	uint64_t rng = test_seed();
	unsigned int runs = 0, tables = 0;

	(void)state;
	for (unsigned int host = 12; host <= 16; host += 4)
		for (unsigned int ps = 12; ps <= 34; ps++)
			for (unsigned int levels = 1; levels <= 5; levels++)
				for (unsigned int off = 0; off < 2; off++) {
					unsigned int ok[28], nok = 0, es;

					/* Windows the driver's limits let it create (see fuzz_tce.c). */
					for (es = 0; es <= 25; es++) {
						uint64_t size = uiommu_tce_table_size(
							host, ps, 1ULL << (ps + es), levels);

						if (size && size <= (1ULL << 30) &&
						    (levels > 1 || size <= (4ULL << 20)))
							ok[nok++] = es;
					}
					es = nok ? ok[test_rand(&rng) % nok] :
						   (unsigned int)(test_rand(&rng) % 26);
					buf[0] = (uint8_t)((host == 12) | (off ? 3 << 1 : 0));
					buf[1] = (uint8_t)(ps - 12);
					buf[2] = (uint8_t)(levels - 1);
					buf[3] = (uint8_t)(es + 2);
					for (size_t i = 4; i < sizeof(buf); i++)
						buf[i] = (uint8_t)test_rand(&rng);
					fuzz_tce(buf, sizeof(buf));
					runs++;
					tables += nok != 0;
				}
	print_message("%u geometries run, %u with a table (%u operations each)\n", runs, tables,
		      OPS);
	/* Every page size has valid tables with 1 and 2 levels on both hosts. */
	assert_true(tables >= 2 * 23 * 2 * 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model_sweep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
