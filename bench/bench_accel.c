// SPDX-License-Identifier: BSD-3-Clause
/*
 * The accelerated hypercalls (uiommu/accel.h) and vCPU handles
 * (uiommu/vcpu.h), each against a limit measured in the same run:
 * - H_PUT_TCE through an entered vCPU, the guest view alone, vs a call
 *   that bounds-checks and stores 8 big-endian bytes: target 3x, and
 *   under 60 instructions (bench/callgrind.sh);
 * - the same with a host table attached (a PE's window in a v2
 *   container, its TCE-cache kill linked): target 2x the guest-view one;
 * - H_PUT_TCE_INDIRECT(512) with the host table vs a 4 KiB memcpy plus
 *   512 lookups of preregistered memory (prereg_lookup_rcu(), what the
 *   fast path does per TCE): target 4x;
 * - the bare fast path against one exit round trip: two threads pinned to
 *   one core hand a request over and back with POSIX semaphores (futexes),
 *   as a KVM exit hands an hcall to the VMM;
 * - an emulated NIC: per packet it maps the buffer (H_PUT_TCE for 1500
 *   bytes, H_PUT_TCE_INDIRECT for 64 KiB in 4 KiB TCEs), DMAs the bytes
 *   into guest memory through the host table (the PE's TVE, TCE cache and
 *   table), and unmaps it (H_PUT_TCE 0, H_STUFF_TCE), as Linux's pseries
 *   IOMMU code does per packet; accelerated (the hypercalls on the vCPU,
 *   H_TOO_HARD redone by the VMM path) and with every TCE hypercall an
 *   exit to a VMM thread that applies it through the container's ioctls
 *   (uiommu_accel_vmm_hcall()); MB/s, packets/s and the ratio.
 *
 * Linked against the internal archive for prereg_lookup_rcu() and the
 * RCU pair; every hypercall is the public entry point.
 *
 * `bench_accel --callgrind N` runs each instruction-counted loop once (see
 * bench/bench.h).
 */
#include <endian.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uiommu/uiommu.h>

#include "bench.h"

#include "internal.h"

#define MiB (1ULL << 20)
#define RAM_SIZE (64 * MiB)
#define LIOBN_V 0x71000001ULL /* the guest view alone (a VIO-like window) */
#define LIOBN_H 0x80000000ULL /* over the container's window 0: 4 KiB TCEs at bus 0 */
#define WINDOW (256 * MiB)
#define ENTRIES (WINDOW >> 12)
#define LIST_GPA (RAM_SIZE - 4096)
#define RW 3ULL
#define NIC_SLOTS 64 /* the NIC's ring: buffers mapped at once */

struct state {
	struct uiommu_ctx *ctx;
	char *ram, *reserve;
	uint64_t ram_hpa;
	struct uiommu_guest *g;
	struct uiommu_phb *phb;
	struct uiommu_pe *pe;
	struct uiommu_dev *dev;
	struct uiommu_vfio_container *c;
	struct uiommu_vcpu *vcpu;
	uint64_t *table; /* the baseline's table */
	uint8_t src[4096], dst[4096];
	uint8_t packet[64 * 1024];
};

static struct state S;

/* ---- baselines ---- */

__attribute__((noinline)) static int base_store_be(uint64_t *table, uint64_t n, uint64_t idx,
						   uint64_t v)
{
	if (idx >= n)
		return -1;
	__atomic_store_n(&table[idx], htobe64(v), __ATOMIC_RELAXED);
	return 0;
}

__attribute__((noinline)) static void cg_store_be(void *arg, uint64_t iters)
{
	(void)arg;
	for (uint64_t i = 0; i < iters; i++)
		base_store_be(S.table, ENTRIES, i & (ENTRIES - 1), (i & 1023) << 12 | RW);
}

/* The loop and the call alone, arguments as the hcall loops pass them. */
__attribute__((noinline)) static long empty_call(struct uiommu_vcpu *v, uint64_t liobn,
						 uint64_t ioba, uint64_t tce)
{
	__asm__ volatile("" : : "r"(v), "r"(liobn), "r"(ioba), "r"(tce));
	return 0;
}

__attribute__((noinline)) static void cg_empty_call(void *arg, uint64_t iters)
{
	(void)arg;
	for (uint64_t i = 0; i < iters; i++)
		if (empty_call(S.vcpu, LIOBN_V, (i & (ENTRIES - 1)) << 12, (i & 1023) << 12 | RW))
			abort();
}

__attribute__((noinline)) static void cg_memcpy4k_lookups(void *arg, uint64_t iters)
{
	struct uiommu_mm *mm = uiommu_mm_current(S.ctx);
	uint64_t ua = (uint64_t)(uintptr_t)S.ram;

	(void)arg;
	for (uint64_t i = 0; i < iters; i++) {
		memcpy(S.dst, S.src, sizeof(S.dst));
		bench_use(S.dst);
		rcu_read_enter();
		for (uint64_t k = 0; k < 512; k++)
			bench_use(prereg_lookup_rcu(mm, ua + ((k + i) & 4095) * 4096, 4096));
		rcu_read_exit();
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

__attribute__((noinline)) static void cg_rcu_pair(void *arg, uint64_t iters)
{
	(void)arg;
	for (uint64_t i = 0; i < iters; i++) {
		rcu_read_enter();
		rcu_read_exit();
	}
}

/* ---- the hypercalls through the vCPU ---- */

/* Each loop stores TCEs to the same pages of RAM, so that both sides are cache-resident. */
static inline uint64_t tce_of(uint64_t i)
{
	return ((i & 1023) << 12) | RW;
}

__attribute__((noinline)) static void cg_vcpu_put_view(void *arg, uint64_t iters)
{
	(void)arg;
	for (uint64_t i = 0; i < iters; i++)
		if (uiommu_vcpu_h_put_tce(S.vcpu, LIOBN_V, (i & (ENTRIES - 1)) << 12, tce_of(i)))
			abort();
}

__attribute__((noinline)) static void cg_put_view_handleless(void *arg, uint64_t iters)
{
	(void)arg;
	for (uint64_t i = 0; i < iters; i++)
		if (uiommu_h_put_tce(S.g, LIOBN_V, (i & (ENTRIES - 1)) << 12, tce_of(i)))
			abort();
}

/* Every PUT replaces a live mapping (map, then release the old page after the kill). */
__attribute__((noinline)) static void cg_vcpu_put_host(void *arg, uint64_t iters)
{
	(void)arg;
	for (uint64_t i = 0; i < iters; i++)
		if (uiommu_vcpu_h_put_tce(S.vcpu, LIOBN_H, (i & 4095) << 12, tce_of(i)))
			abort();
}

__attribute__((noinline)) static void cg_vcpu_indirect_host(void *arg, uint64_t iters)
{
	(void)arg;
	for (uint64_t i = 0; i < iters; i++)
		if (uiommu_vcpu_h_put_tce_indirect(S.vcpu, LIOBN_H, 0x1000000 + (i & 7) * 0x200000,
						   LIST_GPA, 512))
			abort();
}

/* ---- one exit round trip: a request handed to a VMM thread and back ---- */

struct exit_req {
	uint64_t opcode, args[4];
	long ret;
	bool quit, echo; /* echo: answer at once (the bare round trip) */
};

struct vmm {
	sem_t req, resp;
	struct exit_req r;
	pthread_t thread;
	_Atomic uint64_t handled;
};

static struct vmm V;

static void pin_to_cpu0(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *vmm_thread(void *arg)
{
	(void)arg;
	pin_to_cpu0();
	for (;;) {
		while (sem_wait(&V.req))
			;
		if (V.r.quit)
			break;
		V.r.ret = V.r.echo ? 0 :
				     uiommu_accel_vmm_hcall(S.g, V.r.opcode, V.r.args, 4, NULL, 0);
		atomic_fetch_add_explicit(&V.handled, 1, memory_order_relaxed);
		sem_post(&V.resp);
	}
	return NULL;
}

/* One hcall as an exit: handed to the VMM thread, which applies it; back with its code. */
static long exit_hcall(uint64_t opcode, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	V.r = (struct exit_req){ .opcode = opcode, .args = { a0, a1, a2, a3 } };
	sem_post(&V.req);
	while (sem_wait(&V.resp))
		;
	return V.r.ret;
}

static void bench_exit_echo(void *arg, uint64_t iters)
{
	(void)arg;
	for (uint64_t i = 0; i < iters; i++) {
		V.r = (struct exit_req){ .echo = true };
		sem_post(&V.req);
		while (sem_wait(&V.resp))
			;
	}
}

/* ---- the NIC ---- */

struct nic {
	bool exits;	   /* every TCE hcall is an exit */
	uint64_t len;	   /* bytes per packet */
	uint64_t fallbacks; /* accelerated: H_TOO_HARD redone by the VMM path */
	uint64_t bad;
};

/* An hcall of the NIC's driver: through the vCPU, or as an exit. */
static long nic_hcall(struct nic *n, uint64_t opcode, uint64_t a0, uint64_t a1, uint64_t a2,
		      uint64_t a3)
{
	uint64_t args[4] = { a0, a1, a2, a3 };
	long ret;

	if (n->exits)
		return exit_hcall(opcode, a0, a1, a2, a3);
	ret = uiommu_vcpu_hcall(S.vcpu, opcode, args, 4, NULL, 0);
	if (ret == UIOMMU_H_TOO_HARD) {
		/* The exit KVM makes when it cannot finish: the VMM redoes it. */
		n->fallbacks++;
		uiommu_vcpu_exit(S.vcpu);
		ret = uiommu_accel_vmm_hcall(S.g, opcode, args, 4, NULL, 0);
		uiommu_vcpu_enter(S.vcpu);
	}
	return ret;
}

static void nic_run(void *arg, uint64_t packets)
{
	struct nic *n = arg;
	const uint64_t pages = (n->len + 4095) / 4096;

	for (uint64_t p = 0; p < packets; p++) {
		/* Slot s: the bus addresses of a 64 KiB buffer; RAM at 1 MiB + s * 64 KiB. */
		uint64_t s = p % NIC_SLOTS, ioba = 0x4000000 + s * 0x10000;
		uint64_t gpa = 0x100000 + s * 0x10000;
		long ret;

		if (pages == 1) {
			ret = nic_hcall(n, UIOMMU_H_PUT_TCE, LIOBN_H, ioba, gpa | RW, 0);
		} else {
			uint64_t list[16];

			/* The driver's TCE list, in guest memory (its own page per slot would do too). */
			for (uint64_t i = 0; i < pages; i++)
				list[i] = htobe64((gpa + i * 4096) | RW);
			memcpy(S.ram + LIST_GPA, list, pages * 8);
			ret = nic_hcall(n, UIOMMU_H_PUT_TCE_INDIRECT, LIOBN_H, ioba, LIST_GPA,
					pages);
		}
		if (ret || uiommu_dev_dma_write(S.dev, ioba, S.packet, n->len, NULL))
			n->bad++;
		ret = pages == 1 ? nic_hcall(n, UIOMMU_H_PUT_TCE, LIOBN_H, ioba, 0, 0) :
				   nic_hcall(n, UIOMMU_H_STUFF_TCE, LIOBN_H, ioba, 0, pages);
		if (ret)
			n->bad++;
	}
}

/* Packets per second and MB/s of one mode and size; the best of BENCH_REPEATS. */
static double nic_measure(bool exits, uint64_t len, uint64_t packets, uint64_t *ret_fallbacks,
			  uint64_t *ret_bad)
{
	struct nic n = { .exits = exits, .len = len };
	double ns = bench_run(nic_run, &n, packets);

	*ret_fallbacks = n.fallbacks;
	*ret_bad = n.bad;
	return 1e9 / ns;
}

/* ---- setup ---- */

static int ram_setup(void)
{
	int fd = memfd_create("bench-accel-ram", MFD_CLOEXEC);
	const uint64_t align = 16 * MiB;

	if (fd < 0 || ftruncate(fd, (off_t)RAM_SIZE))
		return -1;
	S.reserve = mmap(NULL, RAM_SIZE + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (S.reserve == MAP_FAILED)
		return -1;
	S.ram = (char *)(((uintptr_t)S.reserve + align - 1) & ~(uintptr_t)(align - 1));
	if (mmap(S.ram, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) != S.ram)
		return -1;
	memset(S.ram, 0, RAM_SIZE); /* resident, as a guest's RAM in use */
	if (uiommu_ram_add(S.ctx, fd, 0, RAM_SIZE, S.ram, &S.ram_hpa))
		return -1;
	close(fd);
	return 0;
}

static int setup(void)
{
	struct uiommu_ctx_config cfg = { .size = sizeof(cfg), .flags = UIOMMU_CTX_PIN_SIMULATE };
	struct uiommu_phb_config pc;
	struct uiommu_dev_config dc = { .size = sizeof(dc), .bdf = UIOMMU_PCI_BDF(0, 1, 0) };
	struct uiommu_table_group *grp;
	uint64_t start = 1;

	if (uiommu_ctx_new(&cfg, &S.ctx) ||
	    uiommu_ctx_set_limit(S.ctx, UIOMMU_RES_LOCKED_BYTES, UIOMMU_LIMIT_NONE) || ram_setup())
		return -1;
	if (uiommu_guest_new(S.ctx, &S.g) ||
	    uiommu_papr_set_profile(S.g, UIOMMU_PAPR_PROFILE_KVM) ||
	    uiommu_guest_set_memslot(S.g, 0, 0, RAM_SIZE, S.ram, 0) ||
	    uiommu_liobn_create(S.g, LIOBN_V, 12, 0, ENTRIES) ||
	    uiommu_liobn_create(S.g, LIOBN_H, 12, 0, ENTRIES))
		return -1;
	uiommu_phb_config_default(&pc, 0);
	if (uiommu_phb_new(S.ctx, &pc, &S.phb) || uiommu_pe_new(S.phb, 1, &S.pe) ||
	    uiommu_dev_new(S.pe, &dc, &S.dev))
		return -1;
	grp = uiommu_pe_table_group(S.pe);
	if (uiommu_vfio_container_new(S.ctx, &S.c) || uiommu_vfio_group_set_container(grp, S.c) ||
	    uiommu_vfio_set_iommu(S.c, UIOMMU_VFIO_SPAPR_TCE_v2_IOMMU) ||
	    uiommu_vfio_register_memory(S.c, (uint64_t)(uintptr_t)S.ram, RAM_SIZE) ||
	    uiommu_vfio_remove_window(S.c, 0) ||
	    uiommu_vfio_create_window(S.c, 12, WINDOW, 1, &start) || start != 0 ||
	    uiommu_accel_attach(S.g, LIOBN_H, grp))
		return -1;
	/* The steady state of busy windows: every guest-view page present. */
	for (uint64_t i = 0; i < ENTRIES; i += 512)
		if (uiommu_h_put_tce(S.g, LIOBN_V, i << 12, 0x1000 | RW) ||
		    uiommu_h_put_tce(S.g, LIOBN_H, i << 12, 0x1000 | RW) ||
		    uiommu_h_put_tce(S.g, LIOBN_H, i << 12, 0))
			return -1;
	/* A TCE list as Linux builds it: contiguous pages, read/write. */
	for (uint64_t i = 0; i < 512; i++) {
		uint64_t be = htobe64((0x200000 + i * 4096) | RW);

		memcpy(S.ram + LIST_GPA + i * 8, &be, 8);
	}
	memcpy(S.src, S.ram + LIST_GPA, sizeof(S.src));
	memset(S.packet, 0x5a, sizeof(S.packet));
	S.table = calloc(ENTRIES, sizeof(uint64_t));
	if (!S.table || uiommu_vcpu_new(S.g, &S.vcpu))
		return -1;
	pin_to_cpu0();
	if (sem_init(&V.req, 0, 0) || sem_init(&V.resp, 0, 0) ||
	    pthread_create(&V.thread, NULL, vmm_thread, NULL))
		return -1;
	return 0;
}

static void teardown(void)
{
	V.r.quit = true;
	sem_post(&V.req);
	pthread_join(V.thread, NULL);
	uiommu_vcpu_free(S.vcpu);
	uiommu_accel_release_group(S.g, uiommu_pe_table_group(S.pe));
	uiommu_vfio_container_free(S.c);
	uiommu_dev_free(S.dev);
	uiommu_pe_free(S.pe);
	uiommu_phb_free(S.phb);
	uiommu_guest_free(S.g);
	uiommu_ram_remove(S.ctx, S.ram_hpa);
	munmap(S.reserve, RAM_SIZE + 16 * MiB);
	free(S.table);
}

static void nic_report(const char *name, uint64_t len, uint64_t packets, int *misses)
{
	uint64_t fb_a, fb_e, bad_a, bad_e;
	double pps_a, pps_e;

	uiommu_vcpu_enter(S.vcpu);
	pps_a = nic_measure(false, len, packets, &fb_a, &bad_a);
	uiommu_vcpu_exit(S.vcpu);
	pps_e = nic_measure(true, len, packets / 8 + 1, &fb_e, &bad_e);
	printf("NIC %-6s accelerated %10.0f packets/s %9.1f MB/s   exits %9.0f packets/s "
	       "%8.1f MB/s   ratio %6.2f   fallbacks %llu\n",
	       name, pps_a, pps_a * (double)len / 1e6, pps_e, pps_e * (double)len / 1e6,
	       pps_a / pps_e, (unsigned long long)fb_a);
	if (bad_a || bad_e) {
		printf("NIC %s: %llu packets failed\n", name, (unsigned long long)(bad_a + bad_e));
		++*misses;
	}
}

int main(int argc, char **argv)
{
	uint64_t cg_iters = bench_callgrind_iters(argc, argv);
	double store, put_v, put_h, put_bp, mc, mcl, ind, rcu, echo;
	int misses = 0;

	if (setup()) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	uiommu_vcpu_enter(S.vcpu);
	if (cg_iters) { /* bench/callgrind.sh: each loop once, for instructions per call */
		bench_callgrind_run(cg_store_be, NULL, cg_iters);
		bench_callgrind_run(cg_empty_call, NULL, cg_iters);
		bench_callgrind_run(cg_vcpu_put_view, NULL, cg_iters);
		bench_callgrind_run(cg_put_view_handleless, NULL, cg_iters);
		bench_callgrind_run(cg_rcu_pair, NULL, cg_iters);
		bench_callgrind_run(cg_vcpu_put_host, NULL, cg_iters);
		bench_callgrind_run(cg_memcpy4k, NULL, cg_iters / 64);
		bench_callgrind_run(cg_memcpy4k_lookups, NULL, cg_iters / 64);
		bench_callgrind_run(cg_vcpu_indirect_host, NULL, cg_iters / 64);
		uiommu_vcpu_exit(S.vcpu);
		teardown();
		return uiommu_ctx_free(S.ctx) ? 1 : 0;
	}

	printf("# uiommu bench_accel: ratios to limits measured in this run (KVM profile)\n");
	store = bench_run(cg_store_be, NULL, 4000000);
	put_v = bench_run(cg_vcpu_put_view, NULL, 4000000);
	put_bp = bench_run(cg_put_view_handleless, NULL, 4000000);
	rcu = bench_run(cg_rcu_pair, NULL, 4000000);
	put_h = bench_run(cg_vcpu_put_host, NULL, 1000000);
	mc = bench_run(cg_memcpy4k, NULL, 100000);
	mcl = bench_run(cg_memcpy4k_lookups, NULL, 100000);
	ind = bench_run(cg_vcpu_indirect_host, NULL, 20000);
	uiommu_vcpu_exit(S.vcpu);
	echo = bench_run(bench_exit_echo, NULL, 20000);

	misses += bench_report("vCPU H_PUT_TCE, guest view", put_v, "call + checked BE store",
			       store, 3.0);
	bench_report("H_PUT_TCE without a vCPU", put_bp, "call + checked BE store", store, 0);
	bench_report("RCU read lock+unlock (urcu-bp)", rcu, "call + checked BE store", store, 0);
	misses += bench_report("vCPU H_PUT_TCE, host table", put_h, "vCPU H_PUT_TCE, guest view",
			       put_v, 2.0);
	bench_report("  (the same, against the store)", put_h, "call + checked BE store", store,
		     0);
	misses += bench_report("vCPU INDIRECT(512), host table", ind,
			       "memcpy 4 KiB + 512 prereg lookups", mcl, 4.0);
	bench_report("  (the same, against memcpy alone)", ind, "memcpy 4 KiB", mc, 0);
	bench_report("one exit round trip (same core)", echo, "vCPU H_PUT_TCE, guest view", put_v,
		     0);
	bench_report("one exit round trip (same core)", echo, "vCPU H_PUT_TCE, host table", put_h,
		     0);

	nic_report("1500B", 1500, 40000, &misses);
	nic_report("64KiB", 64 * 1024, 8000, &misses);
	printf("# %d target(s) missed; instructions per call: bench/callgrind.sh; exits: POSIX "
	       "semaphores between two threads pinned to CPU 0\n", misses);

	teardown();
	return uiommu_ctx_free(S.ctx) ? 1 : 0;
}
