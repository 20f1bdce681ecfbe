// SPDX-License-Identifier: BSD-3-Clause
/*
 * 'uiommu replay --accel' and '--exits': the replayed guest's PCI windows
 * backed by VFIO containers, and its hypercalls made the accelerated way
 * or as exits to a VMM thread. See replay_vmm.h and doc/replay.md.
 *
 * Each guest PHB that exists gets a PE of a host PHB, alone in a v2
 * container that registers all of the guest's RAM. Each of its windows
 * (LIOBN uiommu_papr_pci_liobn(index, w)) gets a container window at the
 * same bus address with 4 KiB TCEs (the context's host pages; a guest
 * page is then 1 << (page_shift - 12) host TCEs), and the window's table
 * is attached to the LIOBN (uiommu_accel_attach()). A window whose bus
 * address the host PE cannot place (not 0 nor 1 << 59) stays unbacked and
 * counted. Before a DDW call removes or resets windows their tables are
 * detached and the container's windows removed; after any call that
 * changes windows, the new ones are backed.
 *
 * --accel: the replay thread is the vCPU (uiommu_vcpu_new()), in guest
 * context while it replays hypercalls, reporting a quiescent state every
 * QUIESCENT_EVERY of them and leaving guest context for everything else;
 * an H_TOO_HARD is counted and redone by uiommu_accel_vmm_hcall().
 * --exits: every TCE hypercall is handed to a VMM thread and back, two
 * POSIX semaphores (futexes) between threads pinned to the same CPU, and
 * the VMM thread applies it with uiommu_accel_vmm_hcall(): the guest view,
 * then the container's MAP_DMA/UNMAP_DMA.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "replay_vmm.h"

#define QUIESCENT_EVERY 1024
#define HOST_PAGE_SHIFT 12
#define BUS64 (1ULL << 59)
#define ECHO_ROUNDS 2000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *replay_vmm_mode_name(enum replay_vmm_mode mode)
{
	return mode == REPLAY_VMM_ACCEL ? "accel" : "exits";
}

void replay_vmm_ctx_config(struct uiommu_ctx_config *cfg)
{
	*cfg = (struct uiommu_ctx_config){
		.size = sizeof(*cfg),
		/* The guest's RAM is registered whole: pinning it for real would fault it all in. */
		.flags = UIOMMU_CTX_PIN_SIMULATE,
		/* The replay's RAM mappings are page aligned, not 64 KiB aligned. */
		.host_page_shift = HOST_PAGE_SHIFT,
	};
}

__attribute__((format(printf, 2, 3))) static int fail(struct replay_vmm *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->r->fatal, sizeof(v->r->fatal), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ---- the vCPU's guest context ---- */

static void vcpu_leave(struct replay_vmm *v)
{
	if (v->in_guest) {
		uiommu_vcpu_exit(v->vcpu);
		v->in_guest = false;
	}
}

static void vcpu_enter(struct replay_vmm *v)
{
	if (!v->in_guest) {
		uiommu_vcpu_enter(v->vcpu);
		v->in_guest = true;
		v->since_quiescent = 0;
	}
}

/* ---- the exit: a request to the VMM thread and back ---- */

static void *vmm_thread(void *arg)
{
	struct replay_vmm *v = arg;
	struct replay_vmm_exit *ex = &v->ex;

	for (;;) {
		while (sem_wait(&ex->req))
			;
		if (ex->quit)
			break;
		/* nargs 0: the bare round trip, measured at the start. */
		ex->ret = ex->nargs ? uiommu_accel_vmm_hcall(v->r->guest, ex->opcode, ex->args,
							     ex->nargs, ex->rets, ex->nrets) :
				      0;
		sem_post(&ex->resp);
	}
	return NULL;
}

static long exit_roundtrip(struct replay_vmm *v)
{
	struct replay_vmm_exit *ex = &v->ex;

	sem_post(&ex->req);
	while (sem_wait(&ex->resp))
		;
	return ex->ret;
}

static void pin_here(pthread_t t)
{
	int cpu = sched_getcpu();
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(t, sizeof(set), &set);
}

static int exits_start(struct replay_vmm *v)
{
	struct replay_vmm_exit *ex = &v->ex;
	double t0;

	if (sem_init(&ex->req, 0, 0) || sem_init(&ex->resp, 0, 0) ||
	    pthread_create(&ex->thread, NULL, vmm_thread, v))
		return fail(v, "cannot start the VMM thread");
	ex->running = true;
	/* The same core, as a KVM exit returns to QEMU's vCPU thread on it. */
	pin_here(pthread_self());
	pin_here(ex->thread);
	ex->nargs = 0;
	exit_roundtrip(v);
	t0 = now_s();
	for (int i = 0; i < ECHO_ROUNDS; i++)
		exit_roundtrip(v);
	v->exit_round_trip_ns = (now_s() - t0) * 1e9 / ECHO_ROUNDS;
	return 0;
}

static void exits_stop(struct replay_vmm *v)
{
	struct replay_vmm_exit *ex = &v->ex;
	cpu_set_t all;

	if (!ex->running)
		return;
	ex->quit = true;
	sem_post(&ex->req);
	pthread_join(ex->thread, NULL);
	sem_destroy(&ex->req);
	sem_destroy(&ex->resp);
	ex->running = false;
	CPU_ZERO(&all);
	for (int i = 0; i < CPU_SETSIZE; i++)
		CPU_SET(i, &all);
	pthread_setaffinity_np(pthread_self(), sizeof(all), &all);
}

/* ---- containers behind the guest's PHBs ---- */

static struct replay_vmm_phb *phb_get(struct replay_vmm *v, unsigned int index)
{
	struct replay_vmm_phb *p = &v->phb[index];
	int ret;

	if (p->c)
		return p;
	ret = uiommu_pe_new(v->host_phb, index, &p->pe);
	if (!ret)
		ret = uiommu_vfio_container_new(v->r->ctx, &p->c);
	if (!ret)
		ret = uiommu_vfio_group_set_container(uiommu_pe_table_group(p->pe), p->c);
	if (!ret)
		ret = uiommu_vfio_set_iommu(p->c, UIOMMU_VFIO_SPAPR_TCE_v2_IOMMU);
	/* Windows are made to match the guest's: the default one is not wanted. */
	if (!ret)
		ret = uiommu_vfio_remove_window(p->c, 0);
	if (ret) {
		snprintf(v->err, sizeof(v->err), "PHB %u: cannot make its container: %s", index,
			 uiommu_strerror(ret));
		return NULL;
	}
	return p;
}

/* Register the RAM regions the container does not have yet (the replay adds RAM as it goes). */
static int phb_register_ram(struct replay_vmm *v, struct replay_vmm_phb *p, unsigned int index)
{
	for (; p->nram < v->r->nram; p->nram++) {
		int ret = uiommu_vfio_register_memory(p->c, (uint64_t)(uintptr_t)v->r->ram_hva[p->nram],
						      v->r->ram_len[p->nram]);

		if (ret)
			return fail(v, "PHB %u: cannot register %" PRIu64 " MiB of guest RAM: %s", index,
				    v->r->ram_len[p->nram] >> 20, uiommu_strerror(ret));
	}
	return 0;
}

static uint64_t pow2_ceil(uint64_t x)
{
	return x <= 1 ? 1 : 1ULL << (64 - __builtin_clzll(x - 1));
}

/* Back window @w of PHB @index, which the guest has: a container window, the table attached. */
static int window_back(struct replay_vmm *v, struct replay_vmm_phb *p, unsigned int index,
		       unsigned int w, uint64_t liobn, uint64_t bus, unsigned int shift,
		       uint64_t size)
{
	uint64_t window = pow2_ceil(size << shift), entries, start = 1, tmp = 0;
	unsigned int levels;
	bool placeholder = false;
	int ret;

	/*
	 * The host PE has a window at 0 and one at 1 << 59, and one table each:
	 * a guest window elsewhere, or a second one at the same address (QEMU
	 * puts every window after the first at dma64_win_addr), stays unbacked.
	 */
	if ((bus != 0 && bus != BUS64) || shift < HOST_PAGE_SHIFT ||
	    (p->attached[!w] && p->bus[!w] == bus)) {
		v->windows_refused++;
		return 0;
	}
	window = window < (1ULL << 16) ? 1ULL << 16 : window;
	entries = window >> HOST_PAGE_SHIFT;
	levels = entries <= (1ULL << 18) ? 1 : entries <= (1ULL << 27) ? 2 : 3;
	/* The container takes the first free window: fill window 0 for a moment if it is free. */
	if (bus == BUS64 && !p->attached[0]) {
		ret = uiommu_vfio_create_window(p->c, HOST_PAGE_SHIFT, 1ULL << 16, 1, &tmp);
		if (ret)
			return fail(v, "PHB %u: cannot create a window: %s", index, uiommu_strerror(ret));
		placeholder = true;
	}
	ret = uiommu_vfio_create_window(p->c, HOST_PAGE_SHIFT, window, levels, &start);
	if (placeholder)
		uiommu_vfio_remove_window(p->c, 0);
	if (ret)
		return fail(v, "PHB %u: cannot create a window of 0x%" PRIx64 " bytes at 0x%" PRIx64 ": %s",
			    index, window, bus, uiommu_strerror(ret));
	if (start != bus) {
		uiommu_vfio_remove_window(p->c, start);
		return fail(v, "PHB %u: the container put the window at 0x%" PRIx64 ", not 0x%" PRIx64,
			    index, start, bus);
	}
	ret = uiommu_accel_attach(v->r->guest, liobn, uiommu_pe_table_group(p->pe));
	if (ret) {
		uiommu_vfio_remove_window(p->c, bus);
		return fail(v, "LIOBN 0x%" PRIx64 ": cannot attach the container's window: %s", liobn,
			    uiommu_strerror(ret));
	}
	p->attached[w] = true;
	p->bus[w] = bus;
	v->windows_backed++;
	return 0;
}

static void window_unback(struct replay_vmm *v, struct replay_vmm_phb *p, unsigned int index,
			  unsigned int w)
{
	if (!p->attached[w])
		return;
	uiommu_accel_detach(v->r->guest, uiommu_papr_pci_liobn(index, w),
			    uiommu_pe_table_group(p->pe));
	/* The container clears the window's TCEs and frees its table. */
	uiommu_vfio_remove_window(p->c, p->bus[w]);
	p->attached[w] = false;
}

/* Back every window the guest has and the containers do not; register new RAM. */
static int sync_windows(struct replay_vmm *v)
{
	for (unsigned int index = 0; index < REPLAY_VMM_PHBS; index++) {
		struct replay_vmm_phb *p;
		int ret;

		if (!v->r->phb_added[index])
			continue;
		p = phb_get(v, index);
		if (!p)
			return fail(v, "%s", v->err);
		ret = phb_register_ram(v, p, index);
		for (unsigned int w = 0; !ret && w < UIOMMU_PAPR_MAX_WINDOWS; w++) {
			uint64_t liobn = uiommu_papr_pci_liobn(index, w), bus, size;
			unsigned int shift;

			if (!p->attached[w] && !uiommu_liobn_info(v->r->guest, liobn, &bus, &shift, &size))
				ret = window_back(v, p, index, w, liobn, bus, shift, size);
		}
		if (ret)
			return ret;
	}
	v->synced = true;
	v->nram_synced = v->r->nram;
	return 0;
}

/* ---- the hooks ---- */

/* Bytes of IOMMU pages an hcall that succeeded mapped (TCEs with R or W written). */
static uint64_t mapped_bytes(struct replay_vmm *v, uint64_t opcode, const uint64_t *args)
{
	unsigned int shift;
	uint64_t n = 0;

	if (uiommu_liobn_info(v->r->guest, args[0], NULL, &shift, NULL))
		return 0;
	if (opcode == UIOMMU_H_PUT_TCE) {
		n = (args[2] & 3) != 0;
	} else if (opcode == UIOMMU_H_PUT_TCE_INDIRECT) {
		uint64_t list[UIOMMU_PAPR_MAX_INDIRECT_NPAGES];

		if (args[3] <= UIOMMU_PAPR_MAX_INDIRECT_NPAGES &&
		    !uiommu_guest_read(v->r->guest, args[2], list, args[3] * 8))
			for (uint64_t i = 0; i < args[3]; i++)
				n += (__builtin_bswap64(list[i]) & 3) != 0;
	}
	return n << shift;
}

static long hook_hcall(void *opaque, uint64_t opcode, const uint64_t *args, unsigned int nargs,
		       uint64_t *rets, unsigned int nrets)
{
	struct replay_vmm *v = opaque;
	double t0;
	long ret;

	/* The first hcall after the header built the guest, or RAM added for a list. */
	if (!v->synced || v->nram_synced != v->r->nram) {
		vcpu_leave(v);
		if (sync_windows(v) && !v->failed) {
			v->failed = true; /* the replay reports it at the end */
			memcpy(v->err, v->r->fatal, sizeof(v->err) - 1);
			v->err[sizeof(v->err) - 1] = 0;
		}
	}
	v->hcalls++;
	t0 = now_s();
	if (v->mode == REPLAY_VMM_EXITS) {
		struct replay_vmm_exit *ex = &v->ex;

		ex->opcode = opcode;
		ex->nargs = nargs < 4 ? nargs : 4;
		memcpy(ex->args, args, ex->nargs * 8);
		ex->nrets = nrets < 1 ? nrets : 1;
		ret = exit_roundtrip(v);
		if (nrets)
			rets[0] = ex->rets[0];
		v->exits++;
	} else {
		vcpu_enter(v);
		ret = uiommu_vcpu_hcall(v->vcpu, opcode, args, nargs, rets, nrets);
		if (ret == UIOMMU_H_TOO_HARD) {
			/* KVM_EXIT_PAPR_HCALL: the VMM redoes the whole hcall. */
			v->fallbacks++;
			vcpu_leave(v);
			ret = uiommu_accel_vmm_hcall(v->r->guest, opcode, args, nargs, rets, nrets);
			vcpu_enter(v);
		}
		if (++v->since_quiescent == QUIESCENT_EVERY) {
			uiommu_vcpu_quiescent(v->vcpu);
			v->since_quiescent = 0;
		}
	}
	v->hcall_seconds += now_s() - t0;
	if (ret == UIOMMU_H_SUCCESS && nargs >= 4)
		v->mapped_bytes += mapped_bytes(v, opcode, args);
	return ret;
}

static void hook_before(void *opaque, const struct trace_event *ev)
{
	struct replay_vmm *v = opaque;
	uint64_t index;

	vcpu_leave(v);
	if (ev->type == TRACE_DDW_REMOVE) {
		for (unsigned int i = 0; i < REPLAY_VMM_PHBS; i++)
			for (unsigned int w = 0; w < UIOMMU_PAPR_MAX_WINDOWS; w++)
				if (v->phb[i].attached[w] && uiommu_papr_pci_liobn(i, w) == ev->liobn)
					window_unback(v, &v->phb[i], i, w);
	} else if (ev->type == TRACE_DDW_RESET) {
		index = ev->buid - UIOMMU_PAPR_PCI_BUID_BASE;
		if (index < REPLAY_VMM_PHBS)
			for (unsigned int w = 0; w < UIOMMU_PAPR_MAX_WINDOWS; w++)
				window_unback(v, &v->phb[index], (unsigned int)index, w);
	}
}

/* The engine adds guest RAM: VMM work, out of guest context (uiommu/vcpu.h's rule). */
static void hook_leave(void *opaque)
{
	vcpu_leave(opaque);
}

static int hook_after(void *opaque, uint64_t line, const struct trace_event *ev)
{
	struct replay_vmm *v = opaque;
	int ret;

	(void)ev;
	ret = sync_windows(v);
	if (ret) {
		char why[sizeof(v->r->fatal) - 32];

		memcpy(why, v->r->fatal, sizeof(why) - 1);
		why[sizeof(why) - 1] = 0;
		snprintf(v->r->fatal, sizeof(v->r->fatal), "line %" PRIu64 ": %s", line, why);
	}
	return ret;
}

/* ---- setup ---- */

int replay_vmm_init(struct replay_vmm *v, struct replay *r, enum replay_vmm_mode mode)
{
	struct uiommu_phb_config pc;
	int ret;

	memset(v, 0, sizeof(*v));
	v->r = r;
	v->mode = mode;
	v->hooks = (struct replay_hooks){ .hcall = hook_hcall, .before = hook_before,
					  .after = hook_after, .leave = hook_leave, .opaque = v };
	/* The whole guest RAM is registered (and charged) in every container, and tables too. */
	uiommu_ctx_set_limit(r->ctx, UIOMMU_RES_LOCKED_BYTES, UIOMMU_LIMIT_NONE);
	uiommu_ctx_set_limit(r->ctx, UIOMMU_RES_TABLE_BYTES, UIOMMU_LIMIT_NONE);
	uiommu_ctx_set_limit(r->ctx, UIOMMU_RES_FRAME_BYTES, 4ULL << 30);
	uiommu_phb_config_default(&pc, 0);
	ret = uiommu_phb_new(r->ctx, &pc, &v->host_phb);
	if (ret)
		return fail(v, "cannot create the host PHB: %s", uiommu_strerror(ret));
	if (mode == REPLAY_VMM_ACCEL) {
		ret = uiommu_vcpu_new(r->guest, &v->vcpu);
		if (ret)
			return fail(v, "cannot create the vCPU: %s", uiommu_strerror(ret));
	} else {
		ret = exits_start(v);
		if (ret)
			return ret;
	}
	r->hooks = &v->hooks;
	return 0;
}

void replay_vmm_fini(struct replay_vmm *v)
{
	if (!v->r)
		return;
	v->r->hooks = NULL;
	vcpu_leave(v);
	uiommu_vcpu_free(v->vcpu);
	v->vcpu = NULL;
	exits_stop(v);
	for (unsigned int i = 0; i < REPLAY_VMM_PHBS; i++) {
		struct replay_vmm_phb *p = &v->phb[i];

		if (!p->c)
			continue;
		uiommu_accel_release_group(v->r->guest, uiommu_pe_table_group(p->pe));
		uiommu_vfio_container_free(p->c);
		uiommu_pe_free(p->pe);
		p->c = NULL;
	}
	uiommu_phb_free(v->host_phb);
	v->host_phb = NULL;
	v->r = NULL;
}
