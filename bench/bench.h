/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A tiny benchmark harness. Every measurement is reported as a ratio to a
 * limit measured in the same run on the same machine (a raw store loop, a
 * memcpy of the same bytes, ...), never as a bare time: bare times say
 * more about the machine than about the code. Nothing here asserts on
 * speed; targets are printed beside the ratios.
 *
 * Each benchmark runs BENCH_REPEATS times; the fastest repeat counts (the
 * least disturbed by the rest of the machine).
 */
#ifndef UIOMMU_BENCH_H
#define UIOMMU_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_REPEATS 7

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Keep the compiler from discarding a value. */
#define bench_use(v) __asm__ volatile("" : : "r"(v) : "memory")

/*
 * bench_run() - Nanoseconds per operation of fn(arg, iters), best of
 * BENCH_REPEATS; fn performs @iters operations.
 */
static inline double bench_run(void (*fn)(void *arg, uint64_t iters), void *arg, uint64_t iters)
{
	double best = 1e300;

	fn(arg, iters / 16 + 1); /* warm caches and TLBs */
	for (int r = 0; r < BENCH_REPEATS; r++) {
		uint64_t t0 = bench_now_ns();
		double ns;

		fn(arg, iters);
		ns = (double)(bench_now_ns() - t0) / (double)iters;
		if (ns < best)
			best = ns;
	}
	return best;
}

/*
 * bench_report() - One line: what was measured, against which limit, the
 * ratio, and the target ratio (0: none). Returns 1 when over the target, so
 * a caller can count misses (the exit status stays 0: speed is reported,
 * not asserted).
 */
static inline int bench_report(const char *name, double ns, const char *limit_name,
			       double limit_ns, double target)
{
	double ratio = ns / limit_ns;
	int miss = target > 0 && ratio > target;

	printf("%-34s %9.2f ns/op   %-30s %8.2f ns/op   ratio %6.2f", name, ns, limit_name,
	       limit_ns, ratio);
	if (target > 0)
		printf("   target <= %.1f %s", target, miss ? "MISSED" : "met");
	putchar('\n');
	return miss;
}

/*
 * Instruction counts (bench/callgrind.sh): a benchmark run with
 * "--callgrind N" runs each measured loop once, N operations, with no
 * warm-up or repeats, and names the loop function and N on stdout, so that
 * the script can divide the loop's inclusive instruction count by N.
 * bench_callgrind_iters() returns N, or 0 when not in that mode.
 */
static inline uint64_t bench_callgrind_iters(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--callgrind"))
			return (uint64_t)strtoull(argv[i + 1], NULL, 0);
	return 0;
}

/*
 * Run fn(arg, iters) once, announcing it as "callgrind-loop FUNCTION ITERS".
 * The call goes through a volatile pointer, so that fn is not inlined and
 * keeps its own name in the profile.
 */
#define bench_callgrind_run(fn, arg, iters)                                                \
	do {                                                                               \
		void (*volatile bench_fn_)(void *, uint64_t) = (fn);                       \
		printf("callgrind-loop %s %llu\n", #fn, (unsigned long long)(iters));       \
		fflush(stdout);                                                            \
		bench_fn_(arg, iters);                                                     \
	} while (0)

#endif /* UIOMMU_BENCH_H */
