// SPDX-License-Identifier: BSD-3-Clause
/*
 * The TCE hypercalls, each against a limit measured in the same run:
 * - H_PUT_TCE vs a bounds-checked 8-byte store behind a function call
 *   (the least a call that stores a TCE can cost): target 4x;
 * - H_GET_TCE vs a bounds-checked 8-byte load behind a call;
 * - H_STUFF_TCE(512) vs memset of the same 4 KiB: target 1.5x;
 * - H_PUT_TCE_INDIRECT(512) vs memcpy of the 4 KiB list: target 4x;
 *   (both hcalls write the same 512 entries every time, as the baselines
 *   write the same 4 KiB: L1-resident on both sides);
 * plus the KVM profile, and the RCU read-side lock/unlock pair every hcall
 * pays, measured on its own with liburcu-bp (the flavour the library uses
 * unless built with -Drcu=mutex), beside the same limit: a figure of its
 * own, never subtracted from another loop's.
 *
 * The library is called as its users call it: through the shared library
 * and its public header only.
 *
 * `bench_papr --callgrind N` runs each loop once (see bench/bench.h), for
 * bench/callgrind.sh, which counts instructions per call under valgrind.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <uiommu/uiommu.h>
#include <urcu/urcu-bp.h>

#include "bench.h"

#define LIOBN 0x80000000ULL
#define ENTRIES 65536ULL /* 256 MiB of 4 KiB TCEs */
#define LIST_GPA 0x100000ULL
#define MEM_SIZE (4ULL << 20)

struct state {
	struct uiommu_ctx *ctx;
	struct uiommu_guest *g;	    /* QEMU profile */
	struct uiommu_guest *g_kvm; /* KVM profile, the same memory and window */
	char *mem;
	uint64_t *table; /* the baselines' table */
	uint8_t src[4096], dst[4096];
};

static struct state S;

/* The baselines: a call that checks an index and stores or loads 8 bytes. */
__attribute__((noinline)) static int base_store(uint64_t *table, uint64_t n, uint64_t idx,
						uint64_t v)
{
	if (idx >= n)
		return -1;
	__atomic_store_n(&table[idx], v, __ATOMIC_RELAXED);
	return 0;
}

__attribute__((noinline)) static int base_load(const uint64_t *table, uint64_t n, uint64_t idx,
					       uint64_t *v)
{
	if (idx >= n)
		return -1;
	*v = __atomic_load_n(&table[idx], __ATOMIC_RELAXED);
	return 0;
}

__attribute__((noinline)) static void cg_store(void *arg, uint64_t iters)
{
	(void)arg;
	for (uint64_t i = 0; i < iters; i++)
		base_store(S.table, ENTRIES, i & (ENTRIES - 1), i << 12 | 3);
}

__attribute__((noinline)) static void cg_load(void *arg, uint64_t iters)
{
	uint64_t sum = 0, v;

	(void)arg;
	for (uint64_t i = 0; i < iters; i++)
		if (!base_load(S.table, ENTRIES, i & (ENTRIES - 1), &v))
			sum += v;
	bench_use(sum);
}

__attribute__((noinline)) static void cg_rcu_pair(void *arg, uint64_t iters)
{
	(void)arg;
	for (uint64_t i = 0; i < iters; i++) {
		urcu_bp_read_lock();
		urcu_bp_read_unlock();
	}
}

/*
 * The hcall loops are written once, inlined into one function per profile
 * (each guest has its own profile), so that callgrind counts each apart.
 */
#define ALWAYS_INLINE __attribute__((always_inline)) static inline

ALWAYS_INLINE void put_tce_loop(struct uiommu_guest *g, uint64_t iters)
{
	for (uint64_t i = 0; i < iters; i++)
		if (uiommu_h_put_tce(g, LIOBN, (i & (ENTRIES - 1)) << 12, (i & 1023) << 12 | 3))
			abort();
}

ALWAYS_INLINE void get_tce_loop(struct uiommu_guest *g, uint64_t iters)
{
	uint64_t sum = 0, v;

	for (uint64_t i = 0; i < iters; i++)
		if (!uiommu_h_get_tce(g, LIOBN, (i & (ENTRIES - 1)) << 12, &v))
			sum += v;
	bench_use(sum);
}

ALWAYS_INLINE void stuff512_loop(struct uiommu_guest *g, uint64_t iters)
{
	for (uint64_t i = 0; i < iters; i++)
		if (uiommu_h_stuff_tce(g, LIOBN, 0x1000000, 0, 512)) /* the same 4 KiB, as memset */
			abort();
}

ALWAYS_INLINE void indirect512_loop(struct uiommu_guest *g, uint64_t iters)
{
	for (uint64_t i = 0; i < iters; i++)
		/*
		 * The same 4 KiB every time, at a table offset that is not the list's
		 * modulo 4 KiB: when they match (1 IOBA in 512), every load from the
		 * list 4K-aliases the store before it and the call runs ~13% slower.
		 */
		if (uiommu_h_put_tce_indirect(g, LIOBN, 0x1100000, LIST_GPA, 512))
			abort();
}

#define HCALL_LOOPS(name)                                                                  \
	__attribute__((noinline)) static void cg_##name(void *arg, uint64_t iters)          \
	{                                                                                  \
		(void)arg;                                                                 \
		name##_loop(S.g, iters);                                                   \
	}                                                                                  \
	__attribute__((noinline)) static void cg_##name##_kvm(void *arg, uint64_t iters)    \
	{                                                                                  \
		(void)arg;                                                                 \
		name##_loop(S.g_kvm, iters);                                               \
	}
HCALL_LOOPS(put_tce)
HCALL_LOOPS(get_tce)
HCALL_LOOPS(stuff512)
HCALL_LOOPS(indirect512)

__attribute__((noinline)) static void cg_memset4k(void *arg, uint64_t iters)
{
	(void)arg;
	for (uint64_t i = 0; i < iters; i++) {
		memset(S.dst, (int)i, sizeof(S.dst));
		bench_use(S.dst);
	}
}

__attribute__((noinline)) static void cg_memcpy4k(void *arg, uint64_t iters)
{
	(void)arg;
	for (uint64_t i = 0; i < iters; i++) {
		memcpy(S.dst, S.src, sizeof(S.dst));
		bench_use(S.dst);
	}
}

/* A guest with the benchmark's memory and window, every guest-view page present. */
static int guest_setup(struct uiommu_guest **ret, enum uiommu_papr_profile profile)
{
	if (uiommu_guest_new(S.ctx, ret) || uiommu_papr_set_profile(*ret, profile) ||
	    uiommu_guest_set_memslot(*ret, 0, 0, MEM_SIZE, S.mem, 0) ||
	    uiommu_liobn_create(*ret, LIOBN, 12, 0, ENTRIES))
		return -1;
	/* The steady state of a busy window. */
	for (uint64_t i = 0; i < ENTRIES; i += 512)
		if (uiommu_h_put_tce(*ret, LIOBN, i << 12, 0x1000 | 3))
			return -1;
	return 0;
}

static int setup(void)
{
	if (uiommu_ctx_new(NULL, &S.ctx) ||
	    uiommu_ctx_set_limit(S.ctx, UIOMMU_RES_LOCKED_BYTES, UIOMMU_LIMIT_NONE))
		return -1;
	S.mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (S.mem == MAP_FAILED || guest_setup(&S.g, UIOMMU_PAPR_PROFILE_QEMU) ||
	    guest_setup(&S.g_kvm, UIOMMU_PAPR_PROFILE_KVM))
		return -1;
	/* A TCE list as Linux builds it: contiguous pages, read/write. */
	for (uint64_t i = 0; i < 512; i++) {
		uint64_t be = htobe64((0x200000 + i * 4096) | 3);

		memcpy(S.mem + LIST_GPA + i * 8, &be, 8);
	}
	memcpy(S.src, S.mem + LIST_GPA, sizeof(S.src));
	S.table = calloc(ENTRIES, sizeof(uint64_t));
	return S.table ? 0 : -1;
}

int main(int argc, char **argv)
{
	uint64_t cg_iters = bench_callgrind_iters(argc, argv);
	double store, load, rcu, put, get, ms, stuff, mc, ind;
	int misses = 0;

	if (setup()) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	if (cg_iters) { /* bench/callgrind.sh: each loop once, for instructions per call */
		bench_callgrind_run(cg_store, NULL, cg_iters);
		bench_callgrind_run(cg_load, NULL, cg_iters);
		bench_callgrind_run(cg_rcu_pair, NULL, cg_iters);
		bench_callgrind_run(cg_put_tce, NULL, cg_iters);
		bench_callgrind_run(cg_get_tce, NULL, cg_iters);
		bench_callgrind_run(cg_memset4k, NULL, cg_iters / 16);
		bench_callgrind_run(cg_stuff512, NULL, cg_iters / 16);
		bench_callgrind_run(cg_memcpy4k, NULL, cg_iters / 16);
		bench_callgrind_run(cg_indirect512, NULL, cg_iters / 16);
		bench_callgrind_run(cg_put_tce_kvm, NULL, cg_iters);
		bench_callgrind_run(cg_get_tce_kvm, NULL, cg_iters);
		bench_callgrind_run(cg_stuff512_kvm, NULL, cg_iters / 16);
		bench_callgrind_run(cg_indirect512_kvm, NULL, cg_iters / 16);
		return 0;
	}

	printf("# uiommu bench_papr: ratios to limits measured in this run (QEMU profile unless"
	       " noted)\n");
	store = bench_run(cg_store, NULL, 4000000);
	load = bench_run(cg_load, NULL, 4000000);
	rcu = bench_run(cg_rcu_pair, NULL, 4000000);
	put = bench_run(cg_put_tce, NULL, 4000000);
	get = bench_run(cg_get_tce, NULL, 4000000);
	misses += bench_report("H_PUT_TCE", put, "call + bounds-checked store", store, 4.0);
	bench_report("H_GET_TCE", get, "call + bounds-checked load", load, 0);
	bench_report("RCU read lock+unlock (liburcu-bp)", rcu, "call + bounds-checked store", store,
		     0);
	ms = bench_run(cg_memset4k, NULL, 400000);
	stuff = bench_run(cg_stuff512, NULL, 400000);
	misses += bench_report("H_STUFF_TCE(512)", stuff, "memset 4 KiB", ms, 1.5);
	mc = bench_run(cg_memcpy4k, NULL, 400000);
	ind = bench_run(cg_indirect512, NULL, 400000);
	misses += bench_report("H_PUT_TCE_INDIRECT(512)", ind, "memcpy 4 KiB", mc, 4.0);

	bench_report("H_PUT_TCE (KVM profile)", bench_run(cg_put_tce_kvm, NULL, 4000000),
		     "call + bounds-checked store", store, 4.0);
	bench_report("H_GET_TCE (KVM profile)", bench_run(cg_get_tce_kvm, NULL, 4000000),
		     "call + bounds-checked load", load, 0);
	bench_report("H_STUFF_TCE(512) (KVM profile)", bench_run(cg_stuff512_kvm, NULL, 400000),
		     "memset 4 KiB", ms, 1.5);
	bench_report("H_PUT_TCE_INDIRECT(512) (KVM)", bench_run(cg_indirect512_kvm, NULL, 400000),
		     "memcpy 4 KiB", mc, 4.0);
	printf("# %d target(s) missed (QEMU profile); instructions per call: bench/callgrind.sh\n",
	       misses);

	uiommu_guest_free(S.g);
	uiommu_guest_free(S.g_kvm);
	munmap(S.mem, MEM_SIZE);
	free(S.table);
	return uiommu_ctx_free(S.ctx) ? 1 : 0;
}
