// SPDX-License-Identifier: BSD-3-Clause
/*
 * The PE model test: the fuzz driver (fuzz/fuzz_pe.c: PEs, table groups,
 * compound groups and devices beside a plain model, checked after every
 * operation, with fault injection) run over inputs generated with intent,
 * in each TCE-cache mode: operations weighted towards what builds state
 * (PEs, devices, ownership, tables, windows, mappings) and what uses it
 * (DMA, kills), so that every outcome the model knows happens. The test
 * then proves it did: compound rollbacks, single-TVE drops, injected
 * failures, DMA through stale cached entries, and every fault reason a
 * sequence can reach. The context is freed at the end and must be empty.
 */
#include "test_util.h"

#include "fuzz.h"

/* As many operations in all as 300 inputs of 300 did: inputs of FUZZ_PE_MAX_OPS. */
#define OPS FUZZ_PE_MAX_OPS
#define RUNS (300 * 300 / OPS)
/* The longest scenario() (a compound, a 16M table, a change after every DMA, EEH). */
#define SCENARIO_OPS 29

/* Operation numbers of fuzz_pe.c, weighted. */
static const uint8_t weighted_ops[] = {
	0, 0, 1, 1, 3, 3, 4, 6, 6, 7, 8, 8, 8, 10, 10, 11, 12, 12, 13, 16, 16, 17, 17, 17,
	16, 17, 16, 17, 18, 19, 20, 21, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 14, 9, 15, 2, 5,
	23,
};

/* One operation: its number and four operand bytes. */
static uint8_t *emit(uint8_t *o, uint8_t op, uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	o[0] = op;
	o[1] = a;
	o[2] = b;
	o[3] = c;
	o[4] = d;
	return o + 5;
}

/*
 * A scenario that builds a working device: a PE (or a compound of a GPU
 * and a bridge) with a device, taken, a table on a window, entries mapped,
 * DMA through them. Operand bytes follow fuzz_pe.c's decoding.
 */
static uint8_t *scenario(uint8_t *o, uint64_t *rng)
{
	unsigned int pe = (unsigned int)(test_rand(rng) % 6), num = (unsigned int)(test_rand(rng) & 1);
	unsigned int geo = (unsigned int)(test_rand(rng) % 3), comp = (unsigned int)(test_rand(rng) & 1);
	uint8_t g = (uint8_t)pe;

	o = emit(o, 0, (uint8_t)pe, 0, 0, 0);
	o = emit(o, 3, (uint8_t)pe, 1, 0, 0);
	if (test_rand(rng) % 3 == 0) {
		/* A compound: a GPU PE first, then this one. */
		unsigned int gpu = (unsigned int)(test_rand(rng) % 4);

		o = emit(o, 0, (uint8_t)gpu, 0, 0, 0);
		o = emit(o, 4, (uint8_t)comp, 0, 0, 0);
		o = emit(o, 6, (uint8_t)gpu, (uint8_t)comp, 0, 0);
		o = emit(o, 6, (uint8_t)pe, (uint8_t)comp, 0, 0);
		g = (uint8_t)(6 + comp);
	}
	o = emit(o, 8, g, 0, 0, 0);
	if (g >= 6 && test_rand(rng) % 2) {
		/* A 16M-page table for window 1: the GPU takes it, the bridge refuses it. */
		o = emit(o, 11, 0, 0, 3, 1);
		o = emit(o, 12, g, 1, 0x80, 0);
		o = emit(o, 15, 0, 0, 0x80, 0);
	}
	o = emit(o, 10, g, (uint8_t)num, (uint8_t)geo, 0);
	o = emit(o, 12, g, (uint8_t)num, 0x80, 0);
	for (unsigned int k = 0; k < 4; k++)
		o = emit(o, 16, (uint8_t)test_rand(rng), (uint8_t)test_rand(rng), 0x80,
			 (uint8_t)(1 + test_rand(rng) % 3));
	for (unsigned int k = 0; k < 6; k++) {
		uint8_t b = (uint8_t)(test_rand(rng) | 0x80), c = (uint8_t)test_rand(rng);

		/* where = b | c << 8 | d << 16: bit 0 the window, bits 1-2 the kind. */
		b = (uint8_t)((b & ~1u) | num);
		if ((b >> 1) % 4 == 3)
			b ^= 2; /* not the bypass */
		o = emit(o, 22, (uint8_t)((test_rand(rng) & 0x80) | pe), b, c, (uint8_t)test_rand(rng));
		/* Sometimes change an entry without a kill, then DMA again. */
		if (test_rand(rng) % 3 == 0)
			o = emit(o, 16, (uint8_t)test_rand(rng), (uint8_t)test_rand(rng), 0x80,
				 (uint8_t)(1 + test_rand(rng) % 3));
	}
	/* Sometimes an EEH operation on the group (a compound's fans out to its PEs). */
	if (test_rand(rng) % 2)
		o = emit(o, 20, g, (uint8_t)test_rand(rng), 0, 0);
	return o;
}

static void test_model_runs(void **state)
{
	static uint8_t buf[1 + OPS * 5];
	uint64_t rng = test_seed();

	(void)state;
	memset(&fuzz_pe_stats, 0, sizeof(fuzz_pe_stats));
	for (unsigned int run = 0; run < RUNS; run++) {
		uint8_t *o = buf + 1, *end = buf + 1 + OPS * 5;

		buf[0] = (uint8_t)(run % 3); /* OFF, ON, STRICT */
		while (o < end) {
			if (test_rand(&rng) % 8 == 0 && end - o >= SCENARIO_OPS * 5) {
				o = scenario(o, &rng);
				continue;
			}
			if (test_rand(&rng) % 16 == 0 && end - o >= 2 * 5) {
				/* A fault at one of the next operation's first fault points. */
				static const uint8_t allocating[] = { 0, 3, 4, 9, 10, 11, 16 };

				o = emit(o, 23, 0, (uint8_t)test_rand(&rng), 0, 0);
				o = emit(o, allocating[test_rand(&rng) % sizeof(allocating)],
					 (uint8_t)test_rand(&rng), (uint8_t)(test_rand(&rng) | 1),
					 (uint8_t)test_rand(&rng), (uint8_t)test_rand(&rng));
				continue;
			}
			o = emit(o, weighted_ops[test_rand(&rng) % sizeof(weighted_ops)],
				 (uint8_t)test_rand(&rng), (uint8_t)test_rand(&rng),
				 (uint8_t)test_rand(&rng), (uint8_t)test_rand(&rng));
		}
		/*
		 * FUZZ_PE_SAVE=FILE keeps the input being run, to replay a failure;
		 * FUZZ_PE_SAVE=DIR/ (a trailing slash) keeps every input, as
		 * DIR/gen-RUN (candidate seeds for fuzz/corpus/pe).
		 */
		if (getenv("FUZZ_PE_SAVE")) {
			const char *save = getenv("FUZZ_PE_SAVE");
			size_t n = strlen(save);
			char path[4096];
			FILE *fp;

			if (n && save[n - 1] == '/')
				snprintf(path, sizeof(path), "%sgen-%u", save, run);
			else
				snprintf(path, sizeof(path), "%s", save);
			fp = fopen(path, "wb");
			if (fp) {
				fwrite(buf, 1, (size_t)(o - buf), fp);
				fclose(fp);
			}
		}
		fuzz_pe(buf, (size_t)(o - buf));
	}
	print_message("%llu inputs: %llu operations succeeded, %llu refused as the model said; "
		      "%llu injected failures, %llu compound rollbacks, %llu single-TVE drops; "
		      "%llu DMA pages moved, %llu through a stale cached TCE\n",
		      (unsigned long long)fuzz_pe_stats.inputs,
		      (unsigned long long)fuzz_pe_stats.successes,
		      (unsigned long long)fuzz_pe_stats.errors,
		      (unsigned long long)fuzz_pe_stats.injected_failures,
		      (unsigned long long)fuzz_pe_stats.compound_rollbacks,
		      (unsigned long long)fuzz_pe_stats.single_tve_drops,
		      (unsigned long long)fuzz_pe_stats.dma_pages,
		      (unsigned long long)fuzz_pe_stats.dma_stale_uses);
	for (unsigned int r = 1; r < 7; r++)
		print_message("  fault reason %u: %llu\n", r,
			      (unsigned long long)fuzz_pe_stats.dma_faults[r]);
	assert_true(fuzz_pe_stats.inputs == RUNS);
	assert_true(fuzz_pe_stats.injected_failures > 0);
	assert_true(fuzz_pe_stats.compound_rollbacks > 0);
	assert_true(fuzz_pe_stats.single_tve_drops > 0);
	assert_true(fuzz_pe_stats.dma_pages > 0);
	assert_true(fuzz_pe_stats.dma_stale_uses > 0);
	for (unsigned int r = UIOMMU_DMA_FAULT_NO_WINDOW; r <= UIOMMU_DMA_FAULT_FROZEN; r++)
		assert_true(fuzz_pe_stats.dma_faults[r] > 0);
	fuzz_pe_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model_runs),
	};

	test_require_memfd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
