/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz drivers: each is a model-based test (the library beside a trivially
 * correct model) that takes its choices from a byte string. The same
 * driver is a libFuzzer target (-Dfuzz=true, clang), a corpus replayer
 * built by any compiler (fuzz/replay.c), and a randomized unit test.
 * A mismatch or a broken invariant abort()s, which every harness reports.
 */
#ifndef UIOMMU_FUZZ_H
#define UIOMMU_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Consume bytes from the input; zeros once it runs out. */
struct fuzz_input {
	const uint8_t *data;
	size_t size, pos;
};

static inline uint64_t fuzz_take(struct fuzz_input *in, unsigned int nbytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < nbytes; i++)
		v = v << 8 | (in->pos < in->size ? in->data[in->pos++] : 0);
	return v;
}

static inline int fuzz_done(const struct fuzz_input *in)
{
	return in->pos >= in->size;
}

/*
 * For the model's own bulk checks (a walk of a whole table): no coverage
 * feedback from them, so that libFuzzer's time goes to the library's code.
 * Never inlined: inlined into a traced caller, a function is traced again.
 */
#if defined(__clang__)
#define FUZZ_UNTRACED __attribute__((no_sanitize("coverage"), noinline))
#else
#define FUZZ_UNTRACED __attribute__((noinline))
#endif

#define FUZZ_CHECK(cond, ...)                                                     \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, \
				__LINE__, #cond);                                 \
			fprintf(stderr, __VA_ARGS__);                             \
			fputc('\n', stderr);                                      \
			abort();                                                  \
		}                                                                 \
	} while (0)

/* core/rcu.h: run the deferred (RCU) frees queued so far; one grace period. */
void rcu_wait_callbacks(void);

/*
 * Every resource of @ctx but the heap is back at zero once the deferred
 * frees have run. Called at the end of every input: then each input frees
 * what it allocated, and libFuzzer's leak check (which runs whenever an
 * input's mallocs and frees do not balance, and scans the whole heap)
 * stays idle.
 */
#ifdef UIOMMU_CTX_H
static inline void fuzz_check_clean(struct uiommu_ctx *ctx)
{
	rcu_wait_callbacks();
	for (int r = 0; r < UIOMMU_RES_NR; r++) {
		uint64_t usage = 0;

		if (r == UIOMMU_RES_HEAP_BYTES)
			continue;
		uiommu_ctx_get_usage(ctx, (enum uiommu_resource)r, &usage);
		FUZZ_CHECK(usage == 0, "%s left at %llu", uiommu_resource_name((enum uiommu_resource)r),
			   (unsigned long long)usage);
	}
}
#endif

/* The drivers. */
int fuzz_memslots(const uint8_t *data, size_t size);
int fuzz_tce(const uint8_t *data, size_t size);
int fuzz_papr(const uint8_t *data, size_t size);
int fuzz_ddw(const uint8_t *data, size_t size);
int fuzz_trace(const uint8_t *data, size_t size);
int fuzz_replay(const uint8_t *data, size_t size);
int fuzz_input(const uint8_t *data, size_t size);
int fuzz_pe(const uint8_t *data, size_t size);
/*
 * fuzz_pe() runs at most this many operations of an input: every one is
 * checked against the model, so that a longer input is only slower per
 * execution (every state the driver knows is a few dozen operations from
 * empty; its generated inputs, tests/unit/test_pe_model.c, fit).
 */
#define FUZZ_PE_MAX_OPS 64
/* Free fuzz_pe()'s context; uiommu_ctx_free() must find nothing left. */
void fuzz_pe_fini(void);
/* What fuzz_pe() exercised, so that a test can prove it did. */
struct fuzz_pe_stats {
	uint64_t inputs, successes, errors, injected_failures, compound_rollbacks;
	uint64_t single_tve_drops, dma_pages, dma_stale_uses, dma_faults[8];
};
extern struct fuzz_pe_stats fuzz_pe_stats;
int fuzz_accel(const uint8_t *data, size_t size);
/* What fuzz_accel() exercised: hcalls, those the fast path handed over, faults injected, ... */
struct fuzz_accel_stats {
	uint64_t inputs, hcalls, punts, faults, unmappable, detached_hcalls;
};
extern struct fuzz_accel_stats fuzz_accel_stats;
int fuzz_grant(const uint8_t *data, size_t size);
int fuzz_grant_wire(const uint8_t *data, size_t size);
int fuzz_notifier(const uint8_t *data, size_t size);
int fuzz_vfio(const uint8_t *data, size_t size);
int fuzz_api(const uint8_t *data, size_t size);

#endif /* UIOMMU_FUZZ_H */
