// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fuzz driver: the replay engine of 'uiommu replay' (tools/uiommu/replay.c).
 *
 * First byte even: the model. A model of QEMU's pseries IOMMU (the VIO
 * window, PHB 0 with its default window and DDW, hw/ppc/spapr_iommu.c and
 * spapr_rtas_ddw.c) runs hcalls, RTAS calls and device translations drawn
 * from the input, and writes each as QEMU 7.2 logs it: the IOBA masked,
 * STUFF's IOBA after its loop, INDIRECT's index of the last entry handled
 * and that one TCE of a Linux-style list, failures where QEMU logs them
 * (calls that QEMU refuses without a trace line are not made). Every line
 * is parsed and replayed; the replay must take every line and report no
 * mismatch, and a trace that compared something must be a match.
 * First byte odd: hostile events. Parsed events of every type with values
 * drawn from the input (LIOBNs and addresses at the edges of 32 and 64
 * bits, huge counts, bogus headers), straight into replay_event(): it must
 * not crash, must name the line in any error, and the guest's teardown
 * must leave no table, PHB or locked-memory charge behind.
 *
 * One modelled host serves every input (its teardown waits for RCU). An
 * input makes at most MODEL_MAX_OPS operations or HOSTILE_MAX_EVENTS events.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include <uiommu/uiommu.h>

#include "fuzz.h"
#include "replay.h"
#include "trace.h"

#define VIO_LIOBN ((uint64_t)0x71000002)
#define VIO_NB 65536ULL		   /* 256 MiB of 4 KiB pages */
#define PCI_BUID ((uint64_t)0x800000020000000ULL)
#define DMA64 ((uint64_t)0x800000000000000ULL)
#define DEF_NB (0x40000000ULL >> 12) /* the PHB's 1 GiB default window */
#define RAM_SIZE ((uint64_t)0x40000000)
#define LIST_GPA ((uint64_t)0x2360000)	   /* QEMU reads the INDIRECT lists from here */
#define MAX_WIN_ENTRIES (1ULL << 18)

/*
 * A window of the model. Its TCEs live in a static array, zero between
 * inputs: entries written are logged and cleared again (an allocation of
 * the whole table per input would be most of the driver's time).
 */
struct mwin {
	bool active, def;
	uint64_t liobn, bus, nb;
	unsigned int shift;
	uint64_t *tce;
	uint32_t *dirty; /* indexes written, ndirty of them (all, past DIRTY_MAX) */
	size_t ndirty;
};

#define DIRTY_MAX 4096

/*
 * The most operations (14 bytes each) and hostile events (about 100 to
 * 170 bytes) one input makes; the rest of a longer input is not used.
 * Every path takes a few of them (the seeds take at most 43 and 5), and
 * libFuzzer's inputs grow to 4 KiB in a long campaign: its time per input
 * goes with the features an input hits.
 */
#define MODEL_MAX_OPS 64
#define HOSTILE_MAX_EVENTS 24

struct model {
	struct replay *r;
	struct mwin vio, pci[2];
	uint64_t lineno;
	char line[512];
};

/* Empty the window's table. */
FUZZ_UNTRACED static void win_clear(struct mwin *w)
{
	if (w->ndirty > DIRTY_MAX)
		memset(w->tce, 0, w->nb * sizeof(uint64_t));
	else
		for (size_t i = 0; i < w->ndirty; i++)
			w->tce[w->dirty[i]] = 0;
	w->ndirty = 0;
}

static void win_set(struct mwin *w, uint64_t liobn, uint64_t bus, unsigned int shift, uint64_t nb,
		    bool def)
{
	FUZZ_CHECK(nb <= MAX_WIN_ENTRIES, "a model window of %" PRIu64 " entries", nb);
	win_clear(w);
	w->active = true;
	w->def = def;
	w->liobn = liobn;
	w->bus = bus;
	w->shift = shift;
	w->nb = nb;
}

static void win_off(struct mwin *w)
{
	win_clear(w);
	w->active = false;
}

/* Parse one line as the CLI does and replay it: both must take it. */
__attribute__((format(printf, 2, 3))) static void emit(struct model *m, const char *fmt, ...)
{
	struct trace_event ev;
	char err[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(m->line, sizeof(m->line), fmt, ap);
	va_end(ap);
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(m->line), "line too long");
	m->lineno++;
	FUZZ_CHECK(!trace_parse_line(m->line, (size_t)n, &ev, err, sizeof(err)), "'%s': %s", m->line,
		   err);
	FUZZ_CHECK(!replay_event(m->r, m->lineno, &ev), "'%s': %s", m->line, m->r->fatal);
	FUZZ_CHECK(!m->r->st.mismatches, "'%s': %s", m->line, m->r->st.mismatch[0].text);
}

/*
 * The model's side (its per-page loops and table) is FUZZ_UNTRACED: the
 * comparisons' tracing was a fifth of the driver's time.
 */

/* put_tce_emu(): the entry of @ioba, or H_PARAMETER outside the window. */
FUZZ_UNTRACED static int64_t m_put(struct mwin *w, uint64_t ioba, uint64_t tce)
{
	uint64_t idx = (ioba - w->bus) >> w->shift;

	if (ioba < w->bus || idx >= w->nb)
		return UIOMMU_H_PARAMETER;
	w->tce[idx] = tce;
	if (w->ndirty < DIRTY_MAX)
		w->dirty[w->ndirty] = (uint32_t)idx;
	w->ndirty++;
	return 0;
}

/* STUFF's loop: @npages entries of @tce from *@ioba, which ends past the last one handled. */
FUZZ_UNTRACED static int64_t m_stuff(struct mwin *w, uint64_t *ioba, uint64_t tce, uint64_t npages)
{
	int64_t ret = npages ? 0 : UIOMMU_H_PARAMETER;

	for (uint64_t i = 0; i < npages; i++, *ioba += 1ULL << w->shift) {
		ret = m_put(w, *ioba, tce);
		if (ret)
			break;
	}
	return ret;
}

/*
 * INDIRECT's loop over a Linux list of @npages contiguous pages from @base
 * with permission @perm: *ret_i is the number handled, *ret_tce the last TCE.
 */
FUZZ_UNTRACED static int64_t m_indirect(struct mwin *w, uint64_t ioba, uint64_t base,
					uint64_t perm, uint64_t npages, uint64_t *ret_i,
					uint64_t *ret_tce)
{
	int64_t ret = npages ? 0 : UIOMMU_H_PARAMETER;
	uint64_t i, tce = 0;

	for (i = 0; i < npages; i++, ioba += 1ULL << w->shift) {
		tce = (base + (i << w->shift)) | perm;
		ret = m_put(w, ioba, tce);
		if (ret)
			break;
	}
	*ret_i = i;
	*ret_tce = tce;
	return ret;
}

/* A window of the model by a choice byte: VIO, PHB 0's windows, or NULL (no such LIOBN). */
static struct mwin *pick(struct model *m, unsigned int c)
{
	struct mwin *w = c % 4 == 0 ? &m->vio : c % 4 == 3 ? NULL : &m->pci[c % 4 - 1];

	return w && w->active ? w : NULL;
}

static const char *pfx(const struct mwin *w)
{
	return w && (w->liobn & 0x80000000ULL) ? "pci_" : "";
}

/* An IOBA in or just around window @w: entry @v % (nb + 8), from the window's bus offset. */
static uint64_t pick_ioba(const struct mwin *w, uint64_t v)
{
	if (v >> 28 == 0xf)
		return v << 36; /* anywhere, aligned to any page size */
	return w->bus + ((v % (w->nb + 8)) << w->shift);
}

static void model_run(struct model *m, struct fuzz_input *in, bool raw_log)
{
	static const unsigned int shifts[4] = { 12, 16, 21, 24 };

	if (raw_log) {
		/* An older QEMU's log: no header, tables as new_table events, no 0x. */
		emit(m, "spapr_iommu_new_table liobn=71000002 table=0x55d0 fd=-1");
		emit(m, "spapr_iommu_new_table liobn=80000000 table=0x55d1 fd=-1");
	} else {
		emit(m, "# uiommu-trace: 1");
		emit(m, "# ram-size: 0x%" PRIx64, RAM_SIZE);
		emit(m, "# window: liobn=0x%" PRIx64 " bus_offset=0x0 size=0x10000000 page_shift=12",
		     VIO_LIOBN);
		emit(m, "# window: liobn=0x80000000 bus_offset=0x0 size=0x40000000 page_shift=12");
		emit(m, "# phb: index=0 buid=0x%" PRIx64 " liobn=0x80000000 ddw=yes dma64_base=0x%" PRIx64,
		     PCI_BUID, DMA64);
	}
	for (int i = 0; i < 3; i++) {
		/* Mapped, not static: a leak checker scans data and heap, not this. */
		static uint64_t *tce[3];
		static uint32_t dirty[3][DIRTY_MAX];
		struct mwin *w = i ? &m->pci[i - 1] : &m->vio;

		if (!tce[i]) {
			tce[i] = mmap(NULL, MAX_WIN_ENTRIES * sizeof(uint64_t), PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			FUZZ_CHECK(tce[i] != MAP_FAILED, "mmap");
		}
		w->tce = tce[i];
		w->dirty = dirty[i];
	}
	win_set(&m->vio, VIO_LIOBN, 0, 12, VIO_NB, false);
	win_set(&m->pci[0], 0x80000000ULL, 0, 12, DEF_NB, true);

	for (unsigned int nops = 0; !fuzz_done(in) && nops < MODEL_MAX_OPS; nops++) {
		unsigned int op = (unsigned int)fuzz_take(in, 1), c = (unsigned int)fuzz_take(in, 1);
		uint64_t a = fuzz_take(in, 8), b = fuzz_take(in, 4);
		struct mwin *w = pick(m, c);
		uint64_t liobn = w ? w->liobn : 0x71000009ULL, ioba, tce;
		int64_t ret;

		switch (op % 10) {
		case 0: /* H_PUT_TCE: QEMU masks the IOBA of a known LIOBN before it logs it */
			tce = b & 1 ? a : (a & ~0xfffULL) | (b >> 1 & 3);
			if (!w) {
				emit(m, "spapr_iommu_put liobn=0x%" PRIx64 " ioba=0x%" PRIx64 " tce=0x%" PRIx64 " ret=-4",
				     liobn, (b << 12) & 0xffffffff, tce);
				break;
			}
			ioba = pick_ioba(w, b) & ~((1ULL << w->shift) - 1);
			ret = m_put(w, ioba, tce);
			emit(m, "spapr_iommu_%sput liobn=0x%" PRIx64 " ioba=0x%" PRIx64 " tce=0x%" PRIx64 " ret=%" PRId64,
			     pfx(w), liobn, ioba, tce, ret);
			break;
		case 1: /* H_GET_TCE */
			if (!w) {
				emit(m, "spapr_iommu_get liobn=0x%" PRIx64 " ioba=0x%" PRIx64 " ret=-4 tce=0x0",
				     liobn, b << 12);
				break;
			}
			ioba = pick_ioba(w, b) & ~((1ULL << w->shift) - 1);
			tce = 0;
			ret = UIOMMU_H_PARAMETER;
			if (ioba >= w->bus && (ioba - w->bus) >> w->shift < w->nb) {
				tce = w->tce[(ioba - w->bus) >> w->shift];
				ret = 0;
			}
			emit(m, "spapr_iommu_%sget liobn=0x%" PRIx64 " ioba=0x%" PRIx64 " ret=%" PRId64 " tce=0x%" PRIx64,
			     pfx(w), liobn, ioba, ret, tce);
			break;
		case 2: { /* H_STUFF_TCE: the IOBA after the loop; an unknown LIOBN or npages > nb is silent */
			uint64_t npages = a % 600;

			if (!w || npages > w->nb)
				break;
			ioba = pick_ioba(w, b) & ~((1ULL << w->shift) - 1);
			/*
			 * A STUFF that fails after writing some entries (it runs off
			 * the window's end) logs only the failing IOBA: its start is
			 * lost, and a replay cannot do it again (doc/replay.md).
			 */
			if (ioba >= w->bus && (ioba - w->bus) >> w->shift < w->nb &&
			    ((ioba - w->bus) >> w->shift) + npages > w->nb)
				break;
			tce = a >> 32 & 1 ? a >> 16 : 0;
			ret = m_stuff(w, &ioba, tce, npages);
			emit(m, "spapr_iommu_%sstuff liobn=0x%" PRIx64 " ioba=0x%" PRIx64 " tcevalue=0x%" PRIx64 " npages=%" PRIu64 " ret=%" PRId64,
			     pfx(w), liobn, ioba, tce, npages, ret);
			break;
		}
		case 3: { /* H_PUT_TCE_INDIRECT of a Linux list: contiguous pages, one permission */
			uint64_t npages = a % 513, start, base, i, logged = 0;

			if (!w)
				break; /* silent in QEMU */
			start = ioba = pick_ioba(w, b);
			base = ((a >> 10) % (RAM_SIZE >> w->shift)) << w->shift;
			ret = m_indirect(w, ioba, base, 1 + (a >> 40) % 3, npages, &i, &tce);
			logged = i ? i - 1 : 0;
			emit(m, "spapr_iommu_%sindirect liobn=0x%" PRIx64 " ioba=0x%" PRIx64 " tcelist=0x%" PRIx64 " iobaN=0x%" PRIx64 " tceN=0x%" PRIx64 " ret=%" PRId64,
			     pfx(w), liobn, start, LIST_GPA, logged, tce, ret);
			break;
		}
		case 4: { /* a device's DMA: the address relative to the window */
			uint64_t off, page = 0, perm = 0, mask = ~0ULL;

			if (!w)
				break;
			off = (b % (w->nb + 8)) << w->shift | (a & ((1ULL << w->shift) - 1));
			if (off >> w->shift < w->nb) {
				tce = w->tce[off >> w->shift];
				mask = (1ULL << w->shift) - 1;
				page = tce & ~mask;
				perm = tce & 3;
			}
			emit(m, "spapr_iommu_xlate liobn=0x%" PRIx64 " 0x%" PRIx64 " -> 0x%" PRIx64 " perm=%" PRIu64 " mask=0x%" PRIx64,
			     liobn, off, page, perm, mask);
			break;
		}
		case 5: /* ibm,query-pe-dma-window */
			emit(m, "spapr_iommu_ddw_query buid=0x%" PRIx64 " addr=0x0, %u windows available, max window size=0x80000000, mask=0x107",
			     PCI_BUID, 2 - m->pci[0].active - m->pci[1].active);
			break;
		case 6: { /* ibm,create-pe-dma-window: logged only when it succeeds */
			unsigned int shift = shifts[c % 4], ws = shift + (unsigned int)(a % 19), n;
			uint64_t addr;

			if (m->pci[0].active && m->pci[1].active)
				break;
			n = m->pci[0].active ? 1 : 0;
			addr = m->pci[0].active || m->pci[1].active ? DMA64 : 0;
			win_set(&m->pci[n], 0x80000000ULL | n, addr, shift, 1ULL << (ws - shift), false);
			emit(m, "spapr_iommu_ddw_create buid=0x%" PRIx64 " addr=0x0, page size=0x%llx, requested=0x%llx, start addr=0x%" PRIx64 ", liobn=0x%" PRIx64,
			     PCI_BUID, 1ULL << shift, 1ULL << ws, addr, m->pci[n].liobn);
			break;
		}
		case 7: { /* ibm,remove-pe-dma-window; the default window comes back when none is left */
			struct mwin *x = &m->pci[c & 1];
			bool def = x->def;

			if (!x->active)
				break;
			emit(m, "spapr_iommu_ddw_remove liobn=0x%" PRIx64, x->liobn);
			win_off(x);
			/* QEMU logs the restore as a reset, with config address 0. */
			if (!m->pci[0].active && !m->pci[1].active && !def) {
				win_set(&m->pci[0], 0x80000000ULL, 0, 12, DEF_NB, true);
				emit(m, "spapr_iommu_ddw_reset buid=0x%" PRIx64 " addr=0x0", PCI_BUID);
			}
			break;
		}
		case 8: /* ibm,reset-pe-dma-window */
			emit(m, "spapr_iommu_ddw_reset buid=0x%" PRIx64 " addr=0x0", PCI_BUID);
			win_off(&m->pci[1]);
			win_set(&m->pci[0], 0x80000000ULL, 0, 12, DEF_NB, true);
			break;
		default: /* phases, comments and events the replay only counts */
			if (c & 1)
				emit(m, "# MARK %" PRIu64 ".0 phase-%u", b, c % 7);
			else if (c & 2)
				emit(m, "%u@1.%06u:spapr_pci_msi_setup dev\"x\" vector %u", c, op, c);
			else
				emit(m, "# a comment %" PRIx64, a);
			break;
		}
	}
	if (!raw_log)
		emit(m, "# end: ok");
	win_off(&m->vio);
	win_off(&m->pci[0]);
	win_off(&m->pci[1]);
}

/* ---- hostile events ---- */

static uint64_t edge(struct fuzz_input *in)
{
	static const uint64_t v[] = {
		0, 1, 0xfff, 0x1000, 0x7fffffff, 0x80000000, 0x80000001, 0xffffffff,
		0x100000000ULL, 0x180000001ULL, 0x71000002, 0x800000000000000ULL, PCI_BUID,
		0x7fffffffffffffffULL, 0x8000000000000000ULL, 0xfffffffffffff000ULL, UINT64_MAX,
		UINT64_MAX - 1,
	};
	uint64_t c = fuzz_take(in, 1);

	/* Edges of 32 and 64 bits half the time, small values, or any 64 bits. */
	if (c < 128)
		return v[c % (sizeof(v) / sizeof(v[0]))];
	if (c < 224)
		return fuzz_take(in, 2);
	return fuzz_take(in, 8);
}

static void hostile(struct replay *r, struct fuzz_input *in)
{
	static const char *const keys[] = { "ram-size", "end", "uiommu-trace", "scenario",
					    "qemu", "phase", "window" };
	char text[96];
	uint64_t line = 0;

	for (unsigned int nev = 0; !fuzz_done(in) && nev < HOSTILE_MAX_EVENTS; nev++) {
		struct trace_event ev = { 0 };
		unsigned int k = (unsigned int)fuzz_take(in, 1);
		int ret;

		ev.type = (uint8_t)(k % TRACE_NR);
		ev.pci = k & 0x80;
		ev.ddw = k & 0x40;
		ev.liobn = edge(in);
		ev.ioba = edge(in);
		ev.tce = edge(in);
		ev.ret = (int64_t)edge(in);
		ev.tcelist = edge(in);
		ev.ioba_n = edge(in);
		ev.tce_n = edge(in);
		ev.win_size = edge(in);
		/* Strings from the input, or a header key with a value. */
		for (size_t i = 0; i < sizeof(text) - 1; i++)
			text[i] = (char)fuzz_take(in, 1);
		text[sizeof(text) - 1] = '\0';
		ev.name = keys[(unsigned char)text[0] % (sizeof(keys) / sizeof(keys[0]))];
		ev.name_len = (uint8_t)strlen(ev.name);
		ev.text = text + 1;
		ev.text_len = (uint32_t)(text[1] & 1 ? strlen(text + 1) : (unsigned char)text[2] % 12);
		if (ev.type == TRACE_UNKNOWN || ev.type == TRACE_MARK) {
			ev.name = text + 1;
			ev.name_len = (uint8_t)strnlen(text + 1, 60);
		}
		line += 1 + fuzz_take(in, 1);
		ret = replay_event(r, line, &ev);
		if (ret) {
			/* This line, or the header line that described what failed. */
			unsigned long long named = 0;
			int at = 0;

			FUZZ_CHECK(sscanf(r->fatal, "line %llu: %n", &named, &at) == 1 && at &&
				   named && named <= line && r->fatal[at],
				   "an error that does not name its line: '%s'", r->fatal);
			return;
		}
	}
}

int fuzz_replay(const uint8_t *data, size_t size)
{
	static struct replay_host host;
	static bool ready;
	struct fuzz_input in = { data, size, 1 };
	struct replay_options opt = { .profile = UIOMMU_PAPR_PROFILE_QEMU, .check_xlate = true };
	struct model m = { 0 };
	struct replay r;
	char why[400];
	uint64_t usage;
	enum replay_result res;

	if (!size)
		return 0;
	if (!ready) {
		char err[256];

		FUZZ_CHECK(!replay_host_init(&host, NULL, err, sizeof(err)), "%s", err);
		uiommu_ctx_set_guest_log_ratelimit(host.ctx, 0, 1000000000ULL);
		ready = true;
	}
	if (data[0] & 1) {
		opt.profile = data[0] & 2 ? UIOMMU_PAPR_PROFILE_KVM : UIOMMU_PAPR_PROFILE_QEMU;
		opt.lenient = data[0] & 4;
		opt.check_xlate = data[0] & 8;
	} else {
		opt.check_xlate = !(data[0] & 4);
	}
	FUZZ_CHECK(!replay_init(&r, &host, &opt), "%s", r.fatal);
	if (data[0] & 1) {
		hostile(&r, &in);
		res = replay_verdict(&r, why, sizeof(why));
		FUZZ_CHECK(res != REPLAY_FAILED || why[0], "a failure without a reason");
	} else {
		m.r = &r;
		model_run(&m, &in, data[0] & 2);
		res = replay_verdict(&r, why, sizeof(why));
		FUZZ_CHECK(res == REPLAY_MATCH || (res == REPLAY_FAILED && !replay_checked(&r.st)),
			   "the model's trace is not a match: %s", why);
	}
	replay_fini(&r);
	/* Nothing of the guest is left: tables and their charges go at once. */
	for (int res_i = 0; res_i < UIOMMU_RES_NR; res_i++) {
		if (res_i == UIOMMU_RES_HEAP_BYTES || res_i == UIOMMU_RES_FRAME_BYTES)
			continue; /* freed after an RCU grace period */
		if (res_i == UIOMMU_RES_RAM_REGIONS)
			continue; /* the host's guest RAM, kept for the next trace */
		uiommu_ctx_get_usage(host.ctx, (enum uiommu_resource)res_i, &usage);
		FUZZ_CHECK(!usage, "%s left at %" PRIu64 " after the guest's teardown",
			   uiommu_resource_name((enum uiommu_resource)res_i), usage);
	}
	/*
	 * Then the deferred frees, here and now, as the CLI's context teardown
	 * does: left to liburcu's thread, they made every input end with more
	 * mallocs than frees, and libFuzzer then scans the whole heap for
	 * leaks after each one (nine tenths of the driver's time).
	 */
	rcu_wait_callbacks();
	return 0;
}
