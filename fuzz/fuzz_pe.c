// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fuzz driver: PEs, table groups, compound groups and devices against a
 * plain model.
 *
 * Two PHBs (an IODA2 one whose PEs take 4K|64K|16M pages, an NVLink bridge
 * one whose single-TVE PEs take 4K|64K), up to 6 PEs, 2 compound groups, 4
 * table slots and a device per PE. The input is a sequence of operations:
 * PE and device creation and destruction, compound creation, attachment
 * and destruction, take and release of ownership, create_table (through a
 * group) and direct table creation, set and unset of windows, dropping the
 * creator's reference, TCE exchanges without a kill, kills by range,
 * clears, EEH operations, the TCE-cache mode, DMA reads and writes of one
 * or two IOMMU pages, and fault injection (the next operation fails at its
 * nth fault point).
 *
 * The model is written from the documented semantics (uiommu/pe.h,
 * uiommu/device.h, doc/design/pe.md): ownership, the TVE rules, single-TVE
 * drops, compound fan-out with rollback, exact references and kill links
 * per table, and the TCE cache as an observable set: a DMA page may use the
 * entry cached for it since the last kill (if the cache kept it) or the
 * table's current entry, and strict mode turns a differing cached entry
 * into UIOMMU_DMA_FAULT_STALE_TCE. After every operation the library is
 * compared with the model: tables[] of every group, every table's
 * references and links, every charge (table groups, windows, table bytes,
 * frames, devices, locked bytes), and, for DMA, the result, the fault and
 * the bytes in host memory; after an operation on a table's entries, or on
 * a PE's EEH state, cache mode or DMA, only that table or those PEs are
 * read back with every charge (the rest is checked by the next full check,
 * at the latest at the end of the input). An operation that fails at an injected fault
 * point must return -ENOMEM and change nothing. At the end everything is
 * torn down and the context must hold nothing.
 *
 * Input: 1 header byte (TCE-cache mode: OFF, ON or STRICT), then
 * operations of 1 + 4 bytes, at most FUZZ_PE_MAX_OPS of them (fuzz.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uiommu/uiommu.h>

#include "fuzz.h"

#define NPE 6	 /* 0..3 on the IODA2 PHB, 4..5 on the NVLink bridge PHB */
#define NGPU 4
#define NCOMP 2
#define NTBL 4
#define NGRP (NPE + NCOMP)
#define NENT 16	 /* model entries per table */
#define HOST_PAGES 16
#define HOST_PAGE (1ULL << 16)
#define BYPASS UIOMMU_PE_BYPASS_BASE
#define NOT_RAM 0x1000000ULL /* 16 MiB aligned, below every RAM region */
/*
 * A 4 KiB host and a 256 MiB default window: the host's default tables
 * (made and dropped by every take and release) cost a few 4 KiB pages, so
 * that inputs run fast.
 */
#define HOST_SHIFT 12
#define TCE32_SIZE (256ULL << 20)
/*
 * A small TCE cache: each flush (every window change, ownership change and
 * whole-PE kill) walks every slot, and the model's 16 entries per window
 * use a few of them. 64 slots still keep the two windows apart (slot =
 * (entry ^ window * 32) & mask) and make collisions, hence evictions, common.
 */
#define TCE_CACHE_ENTRIES 64

#define MIN(a, b) ((a) < (b) ? (a) : (b))

#define PGS_GPU ((1ULL << 12) | (1ULL << 16) | (1ULL << 24))
#define PGS_NPU ((1ULL << 12) | (1ULL << 16))

/* A geometry of the menu. */
struct geo {
	unsigned int ps, levels;
	uint64_t window;
};

static const struct geo geos[] = {
	{ 12, 1, 1ULL << 20 }, { 16, 2, 1ULL << 26 }, { 12, 2, 1ULL << 24 },
	{ 24, 1, 1ULL << 30 }, { 16, 1, 3ULL << 20 } /* not a power of two */,
};
#define GEO_BAD 4

/* ---- the model ---- */

struct mtable {
	bool alive, creator; /* creator: the driver still holds the reference it got */
	struct uiommu_tce_table *p;
	unsigned int ps, levels;
	uint64_t bus_offset, it_offset, it_size, size;
	uint64_t idx[NENT], tce[NENT]; /* the entries used: relative index -> TCE */
};

struct mpe {
	bool alive, has_dev, user, single, eeh_on, mmio_stop, dma_stop, reset;
	int comp;	     /* -1: standalone */
	int win[2];	     /* table slot of each window, -1 none; host default: see host */
	bool host;	     /* host-owned: window 0 is the host's default table (not a slot) */
	struct uiommu_pe *p;
	struct uiommu_dev *dev;
	/*
	 * The TCE cache, as a set of what it may hold for (window, entry
	 * slot): nothing (always possible: an entry may be evicted) or one of
	 * these values. A model of a cache must never rule out what the
	 * library may still hold, so entries leave the set only on a kill of
	 * their range or a flush of the PE.
	 */
	uint64_t cvals[2][NENT][4];
	unsigned int ncv[2][NENT];
	unsigned int mode;
};

struct mcomp {
	bool alive, user;
	int npes, pe[NPE];
	int win[2];
	uint64_t pgsizes;
	struct uiommu_compound *p;
};

struct model {
	struct mtable t[NTBL];
	struct mpe pe[NPE];
	struct mcomp c[NCOMP];
	unsigned int mode;
};

struct env {
	struct uiommu_ctx *ctx;
	struct uiommu_phb *phb[2];
	unsigned char *host;		  /* HOST_PAGES pages of 64 KiB */
	uint64_t hpa[HOST_PAGES];
	uint64_t host_table_size;	  /* a host default table's charge */
	uint64_t seq;
};

/* FUZZ_PE_TRACE=1 in the environment: every operation and DMA page on stderr. */
static bool tracing(void)
{
	static int on = -1;

	if (on < 0)
		on = getenv("FUZZ_PE_TRACE") != NULL;
	return on;
}
#define TRACE(...)                                    \
	do {                                          \
		if (tracing())                        \
			fprintf(stderr, __VA_ARGS__); \
	} while (0)

/* What the inputs exercised (for the model test's coverage checks). */
struct fuzz_pe_stats fuzz_pe_stats;

/* The charges the model expects, as check_all() last counted them. */
struct totals {
	uint64_t groups, windows, bytes, frames, devs;
	uint64_t level_bytes[NTBL]; /* each model table's, in frames */
};

struct run {
	struct fuzz_input in;
	struct model *m;
	struct env *e;
	bool injecting; /* a fault is armed for this operation */
	int last_t;	/* the table slot made last, or -1 */
	struct totals tot;
};

/* ---- helpers ---- */

static struct uiommu_table_group *pe_grp(struct mpe *p)
{
	return uiommu_pe_table_group(p->p);
}

static bool is_gpu(int i)
{
	return i < NGPU;
}

static uint64_t pe_pgsizes(int i)
{
	return is_gpu(i) ? PGS_GPU : PGS_NPU;
}

/* References the model expects a table to have, and kill links. */
FUZZ_UNTRACED
static void expect_refs(const struct model *m, int t, uint32_t *refs, uint32_t *links)
{
	*refs = m->t[t].creator;
	*links = 0;
	for (int i = 0; i < NPE; i++)
		for (int w = 0; w < 2; w++)
			if (m->pe[i].alive && m->pe[i].win[w] == t) {
				(*refs)++;
				(*links)++;
			}
	for (int c = 0; c < NCOMP; c++)
		for (int w = 0; w < 2; w++)
			if (m->c[c].alive && m->c[c].win[w] == t)
				(*refs)++;
}

/* A table with no reference left is gone (the library freed it). */
static void reap(struct model *m)
{
	for (int t = 0; t < NTBL; t++) {
		uint32_t refs, links;

		if (!m->t[t].alive)
			continue;
		expect_refs(m, t, &refs, &links);
		if (!refs)
			memset(&m->t[t], 0, sizeof(m->t[t]));
	}
}

static uint64_t tce_of(const struct mtable *t, uint64_t idx)
{
	for (int k = 0; k < NENT; k++)
		if (t->tce[k] && t->idx[k] == idx)
			return t->tce[k];
	return 0;
}

/* Drop what a PE's cache holds (a flush: any TVE change, a mode switch). */
static void pe_flush(struct mpe *p)
{
	memset(p->ncv, 0, sizeof(p->ncv));
}

static void cache_add(struct mpe *p, int w, int k, uint64_t v)
{
	for (unsigned int j = 0; j < p->ncv[w][k]; j++)
		if (p->cvals[w][k][j] == v)
			return;
	FUZZ_CHECK(p->ncv[w][k] < 4, "model cache set full");
	p->cvals[w][k][p->ncv[w][k]++] = v;
}

/* A kill of table @t's [first, first + n): every PE whose window uses it. */
static void model_kill(struct model *m, int t, uint64_t first, uint64_t n)
{
	for (int i = 0; i < NPE; i++)
		for (int w = 0; w < 2; w++) {
			if (!m->pe[i].alive || m->pe[i].win[w] != t)
				continue;
			for (int k = 0; k < NENT; k++)
				if (m->t[t].idx[k] >= first && m->t[t].idx[k] - first < n)
					m->pe[i].ncv[w][k] = 0;
		}
}

static int entry_slot(const struct mtable *t, uint64_t idx)
{
	for (int k = 0; k < NENT; k++)
		if (t->idx[k] == idx)
			return k;
	return -1;
}

/* ---- checking the library against the model ---- */

static uint64_t usage(struct uiommu_ctx *ctx, enum uiommu_resource r)
{
	uint64_t v = 0;

	uiommu_ctx_get_usage(ctx, r, &v);
	return v;
}

static struct uiommu_tce_table_info tinfo(struct uiommu_tce_table *tbl)
{
	struct uiommu_tce_table_info info = { .size = sizeof(info) };

	FUZZ_CHECK(!uiommu_tce_table_info(tbl, &info), "table info");
	return info;
}

FUZZ_UNTRACED
static void check_charge(struct uiommu_ctx *ctx, enum uiommu_resource res, uint64_t want)
{
	uint64_t got = usage(ctx, res);

	FUZZ_CHECK(got == want, "%s %llu, model %llu", uiommu_resource_name(res),
		   (unsigned long long)got, (unsigned long long)want);
}

/* Every charge of the context against @tot. */
FUZZ_UNTRACED
static void check_usage(struct run *r, const struct totals *tot)
{
	struct uiommu_ctx *ctx = r->e->ctx;

	check_charge(ctx, UIOMMU_RES_TABLE_GROUPS, tot->groups);
	check_charge(ctx, UIOMMU_RES_WINDOWS, tot->windows);
	check_charge(ctx, UIOMMU_RES_TABLE_BYTES, tot->bytes);
	check_charge(ctx, UIOMMU_RES_FRAME_BYTES, tot->frames);
	check_charge(ctx, UIOMMU_RES_DEVICES, tot->devs);
	check_charge(ctx, UIOMMU_RES_PHBS, 2);
	check_charge(ctx, UIOMMU_RES_LOCKED_BYTES, 0);
}

/* Table slot @t against the model: references and kill links; its frames (in frames). */
FUZZ_UNTRACED
static uint64_t check_table(struct run *r, int t)
{
	struct uiommu_tce_table_info ti = tinfo(r->m->t[t].p);
	uint32_t refs, links;

	expect_refs(r->m, t, &refs, &links);
	FUZZ_CHECK(ti.refs == refs && ti.kill_links == links,
		   "table %d: %u references and %u links, model %u and %u", t, ti.refs,
		   ti.kill_links, refs, links);
	return ti.level_bytes;
}

/*
 * PE @i against the model: its flags, its windows (or the host's default
 * table) and its EEH state. For a host-owned PE, the default table's frames
 * are added to *@frames.
 */
FUZZ_UNTRACED
static void check_pe(struct run *r, int i, uint64_t *frames)
{
	struct mpe *p = &r->m->pe[i];
	struct uiommu_pe_info pi = { .size = sizeof(pi) };
	struct uiommu_table_group *g = pe_grp(p);

	FUZZ_CHECK(!uiommu_pe_info(p->p, &pi), "pe info");
	FUZZ_CHECK(!!(pi.flags & UIOMMU_PE_USER_OWNED) == p->user &&
			   !!(pi.flags & UIOMMU_PE_BYPASS) == p->host &&
			   !!(pi.flags & UIOMMU_PE_COMPOUND_MEMBER) == (p->comp >= 0),
		   "PE %d: flags 0x%x, model user %d host %d compound %d", i, pi.flags, p->user,
		   p->host, p->comp);
	if (p->host) {
		struct uiommu_tce_table_info ti;

		FUZZ_CHECK(g->tables[0] && !g->tables[1], "PE %d: host configuration", i);
		ti = tinfo(g->tables[0]);
		FUZZ_CHECK(ti.refs == 1 && ti.kill_links == 1 && ti.page_shift == HOST_SHIFT,
			   "PE %d: host default table", i);
		*frames += ti.level_bytes;
	} else {
		for (int w = 0; w < 2; w++)
			FUZZ_CHECK(g->tables[w] == (p->win[w] >= 0 ? r->m->t[p->win[w]].p : NULL),
				   "PE %d: window %d", i, w);
	}
	FUZZ_CHECK(pi.eeh_state == (p->reset ? UIOMMU_EEH_PE_STATE_RESET :
				    !p->mmio_stop && !p->dma_stop ? UIOMMU_EEH_PE_STATE_NORMAL :
				    p->mmio_stop && p->dma_stop ? UIOMMU_EEH_PE_STATE_STOPPED :
				    !p->mmio_stop ? UIOMMU_EEH_PE_STATE_STOPPED_DMA :
						    UIOMMU_EEH_PE_STATE_UNAVAIL),
		   "PE %d: EEH state %u", i, pi.eeh_state);
}

/* The whole library against the model; the charges counted are kept in r->tot. */
FUZZ_UNTRACED
static void check_all(struct run *r)
{
	struct model *m = r->m;
	struct env *e = r->e;
	struct totals tot = { .frames = HOST_PAGES * HOST_PAGE };

	for (int t = 0; t < NTBL; t++) {
		if (!m->t[t].alive)
			continue;
		tot.level_bytes[t] = check_table(r, t);
		tot.windows++;
		tot.bytes += m->t[t].size;
		tot.frames += tot.level_bytes[t];
	}
	for (int i = 0; i < NPE; i++) {
		struct mpe *p = &m->pe[i];

		if (!p->alive)
			continue;
		tot.groups++;
		tot.devs += p->has_dev;
		check_pe(r, i, &tot.frames);
		if (p->host) {
			tot.windows++;
			tot.bytes += e->host_table_size;
		}
	}
	for (int c = 0; c < NCOMP; c++) {
		struct uiommu_table_group *g;

		if (!m->c[c].alive)
			continue;
		tot.groups++;
		g = uiommu_compound_table_group(m->c[c].p);
		for (int w = 0; w < 2; w++)
			FUZZ_CHECK(g->tables[w] == (m->c[c].win[w] >= 0 ? m->t[m->c[c].win[w]].p : NULL),
				   "compound %d: window %d", c, w);
		if (m->c[c].npes)
			FUZZ_CHECK(g->pgsizes == m->c[c].pgsizes, "compound %d: page sizes", c);
	}
	check_usage(r, &tot);
	r->tot = tot;
}

/*
 * After an operation on table slot @t's entries (an exchange, a kill, a
 * clear), which changes no reference, window or group: that table (its
 * references, links and the frames its levels hold) and every charge,
 * the frames counted again for this table only.
 */
FUZZ_UNTRACED
static void check_after_table_op(struct run *r, int t)
{
	if (r->m->t[t].alive) {
		uint64_t lb = check_table(r, t);

		r->tot.frames = r->tot.frames - r->tot.level_bytes[t] + lb;
		r->tot.level_bytes[t] = lb;
	}
	check_usage(r, &r->tot);
}

/*
 * After an operation on group @g's EEH state, TCE cache or DMA, which
 * changes no table, window or charge: the PEs of the group (a PE, or a
 * compound's members) and every charge.
 */
FUZZ_UNTRACED
static void check_after_pe_op(struct run *r, int g)
{
	uint64_t frames = 0;

	if (g < NPE) {
		if (r->m->pe[g].alive)
			check_pe(r, g, &frames);
	} else if (r->m->c[g - NPE].alive) {
		const struct mcomp *mc = &r->m->c[g - NPE];

		for (int k = 0; k < mc->npes; k++)
			check_pe(r, mc->pe[k], &frames);
	}
	check_usage(r, &r->tot);
}

/*
 * The result of an operation that may allocate: what the model predicts,
 * unless an injected fault made it fail with -ENOMEM and change nothing.
 */
static bool failed_by_injection(struct run *r, int got, int want)
{
	uint64_t injected = 0;

	if (!r->injecting)
		return false;
	uiommu_ctx_get_counter(r->e->ctx, UIOMMU_COUNTER_FAULTS_INJECTED, &injected);
	if (!injected || got == want)
		return false;
	FUZZ_CHECK(got == -ENOMEM && want == 0, "an injected fault gave %d (model %d)", got, want);
	fuzz_pe_stats.injected_failures++;
	return true;
}

static void check_ret(int got, int want, const char *what, int i)
{
	FUZZ_CHECK(got == want, "%s(%d) = %d, model %d", what, i, got, want);
	if (got)
		fuzz_pe_stats.errors++;
	else
		fuzz_pe_stats.successes++;
}

/* ---- operations ---- */

static void op_pe_new(struct run *r, int i)
{
	struct mpe *p = &r->m->pe[i];
	struct uiommu_pe *pe = NULL;
	int want = p->alive ? -EEXIST : 0;
	int got = uiommu_pe_new(r->e->phb[!is_gpu(i)], (unsigned int)(is_gpu(i) ? i : i - NGPU), &pe);

	if (failed_by_injection(r, got, want))
		return;
	check_ret(got, want, "pe_new", i);
	if (got)
		return;
	memset(p, 0, sizeof(*p));
	p->alive = p->host = true;
	p->single = !is_gpu(i);
	p->comp = -1;
	p->win[0] = p->win[1] = -1;
	p->p = pe;
	p->mode = r->m->mode;
	FUZZ_CHECK(!uiommu_pe_set_tce_cache_mode(pe, p->mode), "cache mode");
}

static void op_pe_free(struct run *r, int i)
{
	struct mpe *p = &r->m->pe[i];

	if (!p->alive)
		return;
	check_ret(uiommu_pe_free(p->p), p->has_dev || p->user || p->comp >= 0 ? -EBUSY : 0,
		  "pe_free", i);
	if (!p->has_dev && !p->user && p->comp < 0)
		memset(p, 0, sizeof(*p));
}

static void op_dev(struct run *r, int i, bool create)
{
	struct mpe *p = &r->m->pe[i];

	if (!p->alive)
		return;
	if (!create) {
		if (p->has_dev) {
			check_ret(uiommu_dev_free(p->dev), 0, "dev_free", i);
			p->has_dev = false;
		}
		return;
	}
	{
		struct uiommu_dev_config cfg = { .size = sizeof(cfg), .bdf = (uint32_t)i };
		struct uiommu_dev *dev = NULL;
		int want = p->has_dev ? -EEXIST : 0, got = uiommu_dev_new(p->p, &cfg, &dev);

		if (failed_by_injection(r, got, want))
			return;
		check_ret(got, want, "dev_new", i);
		if (!got) {
			p->has_dev = true;
			p->dev = dev;
		}
	}
}

static void op_comp_new(struct run *r, int c)
{
	struct mcomp *mc = &r->m->c[c];
	struct uiommu_compound *comp = NULL;
	int got;

	if (mc->alive)
		return;
	got = uiommu_compound_new(r->e->ctx, &comp);
	if (failed_by_injection(r, got, 0))
		return;
	check_ret(got, 0, "compound_new", c);
	memset(mc, 0, sizeof(*mc));
	mc->alive = true;
	mc->win[0] = mc->win[1] = -1;
	mc->p = comp;
}

static void op_comp_free(struct run *r, int c)
{
	struct mcomp *mc = &r->m->c[c];

	if (!mc->alive)
		return;
	check_ret(uiommu_compound_free(mc->p), mc->user ? -EBUSY : 0, "compound_free", c);
	if (mc->user)
		return;
	for (int k = 0; k < mc->npes; k++)
		r->m->pe[mc->pe[k]].comp = -1;
	memset(mc, 0, sizeof(*mc));
}

static void op_comp_attach(struct run *r, int c, int i)
{
	struct mcomp *mc = &r->m->c[c];
	struct mpe *p = &r->m->pe[i];
	int want = 0;

	if (!mc->alive || !p->alive)
		return;
	if (mc->user || p->user || p->comp >= 0)
		want = -EBUSY;
	else if (!mc->npes && !is_gpu(i))
		want = -EINVAL; /* a bridge joins its GPU's compound */
	check_ret(uiommu_compound_attach(mc->p, p->p), want, "compound_attach", i);
	if (want)
		return;
	mc->pgsizes = mc->npes ? mc->pgsizes & pe_pgsizes(i) : pe_pgsizes(i);
	mc->pe[mc->npes++] = i;
	p->comp = c;
}

/* ---- ownership ---- */

static void pe_take(struct model *m, int i)
{
	struct mpe *p = &m->pe[i];

	p->user = true;
	p->host = false;
	pe_flush(p);
}

static int pe_release_check(struct model *m, int i)
{
	struct mpe *p = &m->pe[i];

	if (!p->user)
		return -EINVAL;
	if (p->win[0] >= 0 || p->win[1] >= 0)
		return -EBUSY;
	return 0;
}

static void op_take(struct run *r, int g)
{
	struct model *m = r->m;
	int want;

	if (g < NPE) {
		struct mpe *p = &m->pe[g];

		if (!p->alive)
			return;
		want = p->comp >= 0 ? -EBUSY : p->user ? -EBUSY : 0;
		check_ret(uiommu_table_group_take_ownership(pe_grp(p)), want, "take", g);
		if (!want)
			pe_take(m, g);
		return;
	}
	{
		struct mcomp *mc = &m->c[g - NPE];

		if (!mc->alive)
			return;
		want = !mc->npes ? -ENODEV : mc->user ? -EBUSY : 0;
		check_ret(uiommu_table_group_take_ownership(uiommu_compound_table_group(mc->p)), want,
			  "compound take", g);
		if (want)
			return;
		for (int k = 0; k < mc->npes; k++)
			pe_take(m, mc->pe[k]);
		mc->user = true;
	}
}

static void pe_release(struct model *m, int i)
{
	struct mpe *p = &m->pe[i];

	p->user = false;
	p->host = true;
	pe_flush(p);
}

static void op_release(struct run *r, int g)
{
	struct model *m = r->m;
	int want, got;

	if (g < NPE) {
		struct mpe *p = &m->pe[g];

		if (!p->alive)
			return;
		want = p->comp >= 0 ? -EBUSY : pe_release_check(m, g);
		got = uiommu_table_group_release_ownership(pe_grp(p));
		if (failed_by_injection(r, got, want))
			return;
		check_ret(got, want, "release", g);
		if (!want)
			pe_release(m, g);
		return;
	}
	{
		struct mcomp *mc = &m->c[g - NPE];

		if (!mc->alive)
			return;
		want = !mc->npes ? -ENODEV : !mc->user ? -EINVAL :
		       mc->win[0] >= 0 || mc->win[1] >= 0 ? -EBUSY : 0;
		got = uiommu_table_group_release_ownership(uiommu_compound_table_group(mc->p));
		/* All members or none: a failed member is rolled back. */
		if (failed_by_injection(r, got, want))
			return;
		check_ret(got, want, "compound release", g);
		if (want)
			return;
		for (int k = 0; k < mc->npes; k++)
			pe_release(m, mc->pe[k]);
		mc->user = false;
	}
}

/* ---- tables and windows ---- */

static int free_slot(struct model *m)
{
	for (int t = 0; t < NTBL; t++)
		if (!m->t[t].alive)
			return t;
	return -1;
}

static void table_adopt(struct run *r, int t, struct uiommu_tce_table *tbl, const struct geo *g)
{
	struct mtable *mt = &r->m->t[t];
	struct uiommu_tce_table_info ti = tinfo(tbl);

	memset(mt, 0, sizeof(*mt));
	mt->alive = mt->creator = true;
	mt->p = tbl;
	mt->ps = g->ps;
	mt->levels = g->levels;
	mt->bus_offset = ti.bus_offset;
	mt->it_offset = ti.it_offset;
	mt->it_size = ti.it_size;
	mt->size = uiommu_tce_table_size(HOST_SHIFT, g->ps, g->window, g->levels);
	FUZZ_CHECK(ti.allocated_size == mt->size && ti.refs == 1 && !ti.kill_links, "new table");
	/* Entries used: both ends, level boundaries, a few in the middle. */
	for (int k = 0; k < NENT; k++)
		mt->idx[k] = k < 8 ? (uint64_t)k : k < 12 ? 8190ULL + (uint64_t)k : mt->it_size - 1 - (uint64_t)(k - 12);
	for (int k = 0; k < NENT; k++)
		mt->idx[k] %= mt->it_size;
}

static void op_create(struct run *r, int g, int num, unsigned int gi)
{
	struct model *m = r->m;
	const struct geo *geo = &geos[gi];
	int t = free_slot(m), want = 0, got;
	struct uiommu_table_group *grp;
	struct uiommu_tce_table *tbl = NULL;
	uint64_t pgsizes;

	if (t < 0)
		return;
	if (g < NPE) {
		if (!m->pe[g].alive)
			return;
		grp = pe_grp(&m->pe[g]);
		pgsizes = pe_pgsizes(g);
		if (m->pe[g].comp >= 0)
			want = -EBUSY;
	} else {
		struct mcomp *mc = &m->c[g - NPE];

		if (!mc->alive)
			return;
		grp = uiommu_compound_table_group(mc->p);
		pgsizes = mc->pgsizes;
		if (!mc->npes)
			want = -ENODEV;
	}
	if (!want && (!(pgsizes & (1ULL << geo->ps)) || gi == GEO_BAD))
		want = -EINVAL;
	got = uiommu_table_group_create_table(grp, num, geo->ps, geo->window, geo->levels, &tbl);
	if (failed_by_injection(r, got, want))
		return;
	check_ret(got, want, "create_table", g);
	if (got)
		return;
	FUZZ_CHECK(tinfo(tbl).bus_offset == (num ? UIOMMU_PE_BUS_OFFSET_64 : 0),
		   "the platform's bus offset");
	table_adopt(r, t, tbl, geo);
	r->last_t = t;
}

static void op_table_new(struct run *r, unsigned int gi, unsigned int where)
{
	static const uint64_t offsets[] = { 0, UIOMMU_PE_BUS_OFFSET_64, 1ULL << 58, 1ULL << 60 };
	struct model *m = r->m;
	const struct geo *geo = &geos[gi % GEO_BAD];
	struct uiommu_tce_table *tbl = NULL;
	int t = free_slot(m), got;

	if (t < 0)
		return;
	got = uiommu_tce_table_new(r->e->ctx, offsets[where % 4], geo->ps, geo->window, geo->levels,
				   &tbl);
	if (failed_by_injection(r, got, 0))
		return;
	check_ret(got, 0, "table_new", t);
	table_adopt(r, t, tbl, geo);
	r->last_t = t;
}

/* Would PE @i accept table @t on window @num (its own checks, after ownership)? */
static int pe_set_check(struct model *m, int i, int num, int t)
{
	struct mpe *p = &m->pe[i];
	struct mtable *mt = &m->t[t];
	uint64_t last = mt->bus_offset + (mt->it_size << mt->ps) - 1;
	bool fits = num == 0 ? last < UIOMMU_PE_BUS_OFFSET_64 :
			       mt->bus_offset >= UIOMMU_PE_BUS_OFFSET_64 &&
				       last < 2 * UIOMMU_PE_BUS_OFFSET_64;

	if (!(pe_pgsizes(i) & (1ULL << mt->ps)) || !fits)
		return -EINVAL;
	if (p->win[num] >= 0)
		return -EBUSY;
	return 0;
}

static void pe_set(struct model *m, int i, int num, int t)
{
	struct mpe *p = &m->pe[i];

	if (p->single && p->win[!num] >= 0) {
		p->win[!num] = -1;
		fuzz_pe_stats.single_tve_drops++;
	}
	p->win[num] = t;
	pe_flush(p);
}

static void op_set_group(struct run *r, int g, int num, int t);

/* A set may free a table: a single-TVE PE drops its other window. */
static void op_set(struct run *r, int g, int num, int t)
{
	op_set_group(r, g, num, t);
	reap(r->m);
}

static void op_set_group(struct run *r, int g, int num, int t)
{
	struct model *m = r->m;
	int want = 0;

	if (!m->t[t].alive)
		return;
	if (g < NPE) {
		struct mpe *p = &m->pe[g];

		if (!p->alive)
			return;
		want = p->comp >= 0 || !p->user ? -EBUSY : pe_set_check(m, g, num, t);
		check_ret(uiommu_table_group_set_window(pe_grp(p), num, m->t[t].p), want, "set", g);
		if (!want)
			pe_set(m, g, num, t);
		return;
	}
	{
		struct mcomp *mc = &m->c[g - NPE];

		if (!mc->alive)
			return;
		if (!mc->npes)
			want = -ENODEV;
		else if (!mc->user || mc->win[num] >= 0)
			want = -EBUSY;
		/* The first member that refuses: its error; the ones before are restored. */
		int failed = 0; /* members set before the one that refused */

		for (int k = 0; !want && k < mc->npes; k++) {
			want = pe_set_check(m, mc->pe[k], num, t);
			failed = k;
		}
		check_ret(uiommu_table_group_set_window(uiommu_compound_table_group(mc->p), num,
							m->t[t].p), want, "compound set", g);
		if (want && failed)
			fuzz_pe_stats.compound_rollbacks++;
		if (want) {
			/* Set, then restored: their caches were flushed (the failing one's not). */
			for (int k = 0; k < failed; k++)
				pe_flush(&m->pe[mc->pe[k]]);
			return;
		}
		for (int k = 0; k < mc->npes; k++)
			pe_set(m, mc->pe[k], num, t);
		mc->win[num] = t;
	}
}

static void op_unset(struct run *r, int g, int num)
{
	struct model *m = r->m;
	int want;

	if (g < NPE) {
		struct mpe *p = &m->pe[g];

		if (!p->alive)
			return;
		want = p->comp >= 0 || !p->user ? -EBUSY : p->win[num] < 0 ? -ENOENT : 0;
		check_ret(uiommu_table_group_unset_window(pe_grp(p), num), want, "unset", g);
		if (!want) {
			p->win[num] = -1;
			pe_flush(p);
		}
	} else {
		struct mcomp *mc = &m->c[g - NPE];

		if (!mc->alive)
			return;
		want = !mc->npes ? -ENODEV : !mc->user ? -EBUSY : mc->win[num] < 0 ? -ENOENT : 0;
		check_ret(uiommu_table_group_unset_window(uiommu_compound_table_group(mc->p), num),
			  want, "compound unset", g);
		if (want)
			return;
		for (int k = 0; k < mc->npes; k++) {
			struct mpe *p = &m->pe[mc->pe[k]];

			if (p->win[num] >= 0) {
				p->win[num] = -1;
				pe_flush(p);
			}
		}
		mc->win[num] = -1;
	}
	reap(m);
}

static void op_unref(struct run *r, int t)
{
	struct model *m = r->m;

	if (!m->t[t].alive || !m->t[t].creator)
		return;
	uiommu_tce_table_unref(m->t[t].p);
	m->t[t].creator = false;
	reap(m);
}

/* A TCE for table @t: a host page (or a 4K piece of one), or not RAM. */
static uint64_t pick_hpa(struct run *r, const struct mtable *mt, unsigned int sel)
{
	uint64_t page = 1ULL << mt->ps;

	if (sel % 8 == 7 || mt->ps > 16)
		return NOT_RAM & ~(page - 1);
	return r->e->hpa[sel % HOST_PAGES] + (mt->ps == 12 ? (uint64_t)(sel / 16 % 16) << 12 : 0);
}

static void op_map(struct run *r, int t, int k, unsigned int sel, unsigned int d)
{
	static const enum uiommu_dma_dir dirs[] = { UIOMMU_DMA_NONE, UIOMMU_DMA_TO_DEVICE,
						    UIOMMU_DMA_FROM_DEVICE, UIOMMU_DMA_BIDIRECTIONAL };
	struct mtable *mt = &r->m->t[t];
	enum uiommu_dma_dir dir = dirs[d % 4];
	uint64_t hpa = dir == UIOMMU_DMA_NONE ? 0 : pick_hpa(r, mt, sel), old_hpa;
	enum uiommu_dma_dir old_dir;
	int got;

	if (!mt->alive)
		return;
	got = uiommu_tce_table_xchg_no_kill(mt->p, mt->it_offset + mt->idx[k], hpa, dir, &old_hpa,
					    &old_dir);
	if (failed_by_injection(r, got, 0))
		return;
	check_ret(got, 0, "xchg_no_kill", t);
	/* Every slot with this index (the menu can repeat one) holds the new TCE. */
	for (int j = 0; j < NENT; j++)
		if (mt->idx[j] == mt->idx[k])
			mt->tce[j] = dir == UIOMMU_DMA_NONE ? 0 :
				     hpa | UIOMMU_TCE_READ | (dir == UIOMMU_DMA_TO_DEVICE ? 0 : UIOMMU_TCE_WRITE);
}

static void op_kill(struct run *r, int t, int k, unsigned int n, bool clear)
{
	struct mtable *mt = &r->m->t[t];
	uint64_t first = mt->idx[k], npages = 1 + n % 32;

	if (!mt->alive)
		return;
	if (first + npages > mt->it_size)
		npages = mt->it_size - first;
	if (clear) {
		check_ret(uiommu_tce_table_clear(mt->p, mt->it_offset + first, npages, NULL, NULL,
						 NULL), 0, "clear", t);
		for (int j = 0; j < NENT; j++)
			if (mt->idx[j] >= first && mt->idx[j] - first < npages)
				mt->tce[j] = 0;
	} else {
		check_ret(uiommu_tce_table_kill(mt->p, mt->it_offset + first, npages), 0, "kill", t);
	}
	model_kill(r->m, t, first, npages);
}

/* ---- EEH ---- */

static void eeh_apply(struct mpe *p, unsigned int op)
{
	switch (op) {
	case UIOMMU_EEH_PE_DISABLE:
		p->eeh_on = false;
		break;
	case UIOMMU_EEH_PE_ENABLE:
		p->eeh_on = true;
		break;
	case UIOMMU_EEH_PE_UNFREEZE_IO:
		p->mmio_stop = false;
		break;
	case UIOMMU_EEH_PE_UNFREEZE_DMA:
		p->dma_stop = false;
		break;
	case UIOMMU_EEH_PE_RESET_HOT:
		p->reset = p->mmio_stop = p->dma_stop = true;
		break;
	case UIOMMU_EEH_PE_RESET_DEACTIVATE:
		p->reset = p->mmio_stop = p->dma_stop = false;
		break;
	}
}

static void op_eeh(struct run *r, int g, unsigned int sel)
{
	static const unsigned int ops[] = { UIOMMU_EEH_PE_ENABLE, UIOMMU_EEH_PE_DISABLE,
					    UIOMMU_EEH_PE_UNFREEZE_IO, UIOMMU_EEH_PE_UNFREEZE_DMA,
					    UIOMMU_EEH_PE_RESET_HOT, UIOMMU_EEH_PE_RESET_DEACTIVATE };
	unsigned int op = ops[sel % 6];
	struct model *m = r->m;

	if (g < NPE) {
		struct mpe *p = &m->pe[g];

		if (!p->alive)
			return;
		check_ret(uiommu_table_group_eeh_op(pe_grp(p), op, NULL), p->comp >= 0 ? -EBUSY : 0,
			  "eeh", g);
		if (p->comp < 0)
			eeh_apply(p, op);
	} else {
		struct mcomp *mc = &m->c[g - NPE];

		if (!mc->alive)
			return;
		check_ret(uiommu_table_group_eeh_op(uiommu_compound_table_group(mc->p), op, NULL),
			  mc->npes ? 0 : -ENODEV, "compound eeh", g);
		for (int k = 0; k < mc->npes; k++)
			eeh_apply(&m->pe[mc->pe[k]], op);
	}
}

static void op_mode(struct run *r, int i, unsigned int mode)
{
	struct mpe *p = &r->m->pe[i];

	if (!p->alive)
		return;
	check_ret(uiommu_pe_set_tce_cache_mode(p->p, mode % 3), 0, "cache mode", i);
	p->mode = mode % 3;
	pe_flush(p);
}

/* ---- DMA ---- */

/*
 * What one DMA page may become: a translation (hpa, bytes) or a fault
 * reason; @src is -1 for the table's current entry (a miss), else the
 * cached value it came from.
 */
struct cand {
	unsigned int reason;
	uint64_t hpa, len;
	int src;
};

/* The host pointer of an hpa range, if it lies in the driver's host memory. */
static unsigned char *host_ptr(struct env *e, uint64_t hpa, uint64_t len)
{
	for (int k = 0; k < HOST_PAGES; k++)
		if (hpa >= e->hpa[k] && hpa - e->hpa[k] + len <= HOST_PAGE)
			return e->host + (uint64_t)k * HOST_PAGE + (hpa - e->hpa[k]);
	return NULL;
}

static struct cand cand_tce(uint64_t tce, unsigned int ps, uint64_t ioba, enum uiommu_dma_dir dir,
			    int src)
{
	uint64_t page = 1ULL << ps;
	struct cand c = { .src = src };

	if (!(tce & UIOMMU_TCE_PERM_MASK))
		c.reason = UIOMMU_DMA_FAULT_INVALID_TCE;
	else if (!(tce & (dir == UIOMMU_DMA_TO_DEVICE ? UIOMMU_TCE_READ : UIOMMU_TCE_WRITE)))
		c.reason = UIOMMU_DMA_FAULT_PERMISSION;
	c.hpa = (tce & ~(page - 1)) | (ioba & (page - 1));
	c.len = page - (ioba & (page - 1));
	return c;
}

struct page_model {
	struct cand c[5];
	unsigned int n;
	int w, k;	/* window and entry slot, -1 when the page has none */
	uint64_t cur;	/* the table's entry now */
};

/* Every outcome the model allows for the page of @ioba on PE @i. */
static void page_candidates(struct run *r, int i, uint64_t ioba, enum uiommu_dma_dir dir,
			    struct page_model *pm)
{
	struct model *m = r->m;
	struct mpe *p = &m->pe[i];
	struct mtable *mt;
	uint64_t idx;
	int w = -1;

	memset(pm, 0, sizeof(*pm));
	pm->w = pm->k = -1;
	pm->n = 1;
	pm->c[0].src = -1;
	if (p->dma_stop || p->reset) {
		pm->c[0].reason = UIOMMU_DMA_FAULT_FROZEN;
		return;
	}
	if (p->host && ioba >= BYPASS) {
		pm->c[0].hpa = ioba - BYPASS;
		pm->c[0].len = HOST_PAGE - (pm->c[0].hpa & (HOST_PAGE - 1));
		return;
	}
	for (int ww = 0; ww < 2; ww++) {
		const struct mtable *x;

		if (p->host || p->win[ww] < 0)
			continue;
		x = &m->t[p->win[ww]];
		if (!p->single && (ioba >= UIOMMU_PE_BUS_OFFSET_64) != (ww == 1))
			continue;
		if (ioba >= x->bus_offset && ioba - x->bus_offset < (x->it_size << x->ps))
			w = ww;
	}
	if (w < 0) {
		/* The host's default window holds no entry the driver maps. */
		pm->c[0].reason = p->host && ioba < TCE32_SIZE ?
					  UIOMMU_DMA_FAULT_INVALID_TCE :
					  UIOMMU_DMA_FAULT_NO_WINDOW;
		return;
	}
	mt = &m->t[p->win[w]];
	idx = (ioba - mt->bus_offset) >> mt->ps;
	pm->w = w;
	pm->k = entry_slot(mt, idx);
	pm->cur = tce_of(mt, idx);
	pm->c[0] = cand_tce(pm->cur, mt->ps, ioba, dir, -1);
	if (p->mode == UIOMMU_TCE_CACHE_OFF || pm->k < 0)
		return;
	for (unsigned int j = 0; j < p->ncv[w][pm->k]; j++) {
		uint64_t v = p->cvals[w][pm->k][j];
		struct cand *c = &pm->c[pm->n++];

		if (p->mode == UIOMMU_TCE_CACHE_ON || v == pm->cur) {
			*c = cand_tce(v, mt->ps, ioba, dir, (int)j);
		} else {
			memset(c, 0, sizeof(*c));
			c->reason = UIOMMU_DMA_FAULT_STALE_TCE;
			c->src = (int)j;
		}
	}
}

/* The cache after the candidates in @ok (a bit per candidate) were possible. */
static void page_cache_update(struct mpe *p, const struct page_model *pm, unsigned int ok)
{
	uint64_t keep[4];
	unsigned int nkeep = 0;
	bool miss = false;

	if (pm->w < 0 || pm->k < 0 || p->mode == UIOMMU_TCE_CACHE_OFF)
		return;
	for (unsigned int j = 0; j < pm->n; j++) {
		if (!(ok & (1u << j)))
			continue;
		if (pm->c[j].src < 0)
			miss = true;
		else
			keep[nkeep++] = p->cvals[pm->w][pm->k][pm->c[j].src];
	}
	p->ncv[pm->w][pm->k] = 0;
	for (unsigned int j = 0; j < nkeep; j++)
		cache_add(p, pm->w, pm->k, keep[j]);
	/* A miss fills the cache with a valid entry (before the permission check). */
	if (miss && (pm->cur & UIOMMU_TCE_PERM_MASK))
		cache_add(p, pm->w, pm->k, pm->cur);
}

static void op_dma(struct run *r, int i, unsigned int where, unsigned int lensel, bool write)
{
	struct model *m = r->m;
	struct env *e = r->e;
	struct mpe *p = &m->pe[i];
	enum uiommu_dma_dir dir = write ? UIOMMU_DMA_FROM_DEVICE : UIOMMU_DMA_TO_DEVICE;
	unsigned char buf[256];
	uint64_t ioba, len = 1 + lensel % sizeof(buf), moved = 0;
	struct uiommu_dma_fault f = { .size = sizeof(f) };
	unsigned int kind = (where >> 1) % 4;
	int w = (int)(where & 1), slot, got;

	if (!p->alive || !p->has_dev)
		return;
	slot = p->host ? -1 : p->win[w];
	if (kind == 3) {
		/* The bypass, inside one host page (it maps all RAM: the library's too). */
		uint64_t off = (where >> 8) % HOST_PAGE;

		ioba = BYPASS + (where & 8 ? NOT_RAM : e->hpa[(where >> 4) % HOST_PAGES]) + off;
		len = MIN(len, HOST_PAGE - off);
	} else if (slot < 0) {
		ioba = (w ? UIOMMU_PE_BUS_OFFSET_64 : 0) + ((uint64_t)(where >> 3) % 64 << 12);
	} else {
		const struct mtable *mt = &m->t[slot];
		uint64_t page = 1ULL << mt->ps;
		/* kind 2: across the end of the page, into the next entry */
		uint64_t off = kind == 2 ? page - 1 - (len - 1) / 2 : ((uint64_t)where >> 8) % page;

		int k = (int)((where >> 3) % NENT), nmapped = 0, mapped[NENT];

		/* Mostly an entry that holds a TCE (or held one): that is where DMA goes. */
		for (int j = 0; j < NENT; j++)
			if (mt->tce[j] || p->ncv[w][j])
				mapped[nmapped++] = j;
		if (nmapped && (where & 0x80))
			k = mapped[(where >> 3) % (unsigned int)nmapped];
		ioba = mt->bus_offset + (mt->idx[k] << mt->ps) + off;
	}
	e->seq++;
	for (uint64_t b = 0; b < len; b++)
		buf[b] = (unsigned char)(e->seq * 7 + b * 13 + 1);
	got = write ? uiommu_dev_dma_write(p->dev, ioba, buf, len, &f) :
		      uiommu_dev_dma_read(p->dev, ioba, buf, len, &f);

	/* Walk the pages as the model sees them, matching the library's outcome. */
	while (moved < len) {
		struct page_model pm;
		unsigned int ok = 0;
		uint64_t step = 0;

		page_candidates(r, i, ioba + moved, dir, &pm);
		TRACE("  DMA page: PE %d ioba 0x%llx (of %llu bytes, %s): result %d reason %u; model: window %d, entry slot %d, TCE 0x%llx, %u candidates\n",
		      i, (unsigned long long)(ioba + moved), (unsigned long long)len,
		      write ? "write" : "read", got, f.reason, pm.w, pm.k,
		      (unsigned long long)pm.cur, pm.n);
		if (got && f.ioba == ioba + moved) {
			/* The faulting page: a reason the model allows. */
			for (unsigned int j = 0; j < pm.n; j++) {
				const struct cand *c = &pm.c[j];

				if (c->reason == f.reason ||
				    (!c->reason && f.reason == UIOMMU_DMA_FAULT_BAD_HPA &&
				     !host_ptr(e, c->hpa, MIN(c->len, len - moved))))
					ok |= 1u << j;
			}
			FUZZ_CHECK(ok, "PE %d: DMA fault %u at 0x%llx, not one the model allows", i,
				   f.reason, (unsigned long long)f.ioba);
			FUZZ_CHECK(f.done == moved, "fault after %llu bytes, model %llu",
				   (unsigned long long)f.done, (unsigned long long)moved);
			page_cache_update(p, &pm, ok);
			fuzz_pe_stats.dma_faults[f.reason & 7]++;
			/*
			 * A bad hpa is found while copying, after the PE translated a run
			 * of pages (as a PHB prefetches TCEs): the pages after it may have
			 * been looked up, so the cache may now hold their entries too.
			 */
			if (f.reason == UIOMMU_DMA_FAULT_BAD_HPA) {
				uint64_t at = ioba + moved;

				/* Every later page of the transfer: what it held stays possible. */
				while (pm.c[0].len && (at += pm.c[0].len) < ioba + len) {
					page_candidates(r, i, at, dir, &pm);
					page_cache_update(p, &pm, (1u << pm.n) - 1);
				}
			}
			if (f.reason != UIOMMU_DMA_FAULT_FROZEN && p->eeh_on)
				p->mmio_stop = p->dma_stop = true;
			return;
		}
		/* A page that moved: a translation holding exactly the bytes moved. */
		for (unsigned int j = 0; j < pm.n; j++) {
			const struct cand *c = &pm.c[j];
			uint64_t n = MIN(c->len, len - moved);
			unsigned char *hp = c->reason ? NULL : host_ptr(e, c->hpa, n);

			if (hp && !memcmp(hp, buf + moved, n)) {
				FUZZ_CHECK(!step || step == n, "candidates of different lengths");
				ok |= 1u << j;
				step = n;
			}
		}
		FUZZ_CHECK(ok, "PE %d: DMA %s at 0x%llx moved bytes the model cannot place (result %d)",
			   i, write ? "write" : "read", (unsigned long long)(ioba + moved), got);
		page_cache_update(p, &pm, ok);
		/* Only a cached entry explains these bytes: a TCE used after its change. */
		if (!(ok & 1))
			fuzz_pe_stats.dma_stale_uses++;
		moved += step;
		fuzz_pe_stats.dma_pages++;
	}
	FUZZ_CHECK(!got, "PE %d: DMA failed (%d, reason %u at 0x%llx) where the model moved it all",
		   i, got, f.reason, (unsigned long long)f.ioba);
}

/* ---- the driver ---- */

static struct env *fuzz_env(void)
{
	static struct env env;
	struct uiommu_ctx_config cc = { .size = sizeof(cc), .host_page_shift = HOST_SHIFT };
	struct uiommu_phb_config cfg;

	if (env.ctx)
		return &env;
	FUZZ_CHECK(!uiommu_ctx_new(&cc, &env.ctx), "ctx_new");
	FUZZ_CHECK(!uiommu_ctx_set_guest_log_ratelimit(env.ctx, 0, 1000000000ULL), "log");
	uiommu_phb_config_default(&cfg, 0);
	cfg.pgsizes = PGS_GPU;
	cfg.tce32_size = TCE32_SIZE;
	cfg.tce_cache_entries = TCE_CACHE_ENTRIES;
	FUZZ_CHECK(!uiommu_phb_new(env.ctx, &cfg, &env.phb[0]), "phb");
	uiommu_phb_config_default(&cfg, 1);
	cfg.flags = UIOMMU_PHB_NPU;
	cfg.pgsizes = PGS_NPU;
	cfg.tce32_size = TCE32_SIZE;
	cfg.tce_cache_entries = TCE_CACHE_ENTRIES;
	FUZZ_CHECK(!uiommu_phb_new(env.ctx, &cfg, &env.phb[1]), "phb");
	FUZZ_CHECK(!uiommu_hostmem_alloc(env.ctx, HOST_PAGES * HOST_PAGE, 16, UIOMMU_HOSTMEM_SCATTER,
					 (void **)&env.host), "hostmem");
	for (int k = 0; k < HOST_PAGES; k++)
		FUZZ_CHECK(!uiommu_hva_to_hpa(env.ctx, env.host + (uint64_t)k * HOST_PAGE, &env.hpa[k]),
			   "hpa");
	/*
	 * Bytes that differ from place to place, so that a DMA's bytes say
	 * where they went (every DMA write leaves a pattern of its own).
	 */
	for (uint64_t q = 0; q < HOST_PAGES * HOST_PAGE / 8; q++)
		((uint64_t *)(void *)env.host)[q] = (q + 1) * 0x9e3779b97f4a7c15ULL;
	env.host_table_size = uiommu_tce_table_size(HOST_SHIFT, HOST_SHIFT, TCE32_SIZE,
						    UIOMMU_PE_DEFAULT_TABLE_LEVELS);
	return &env;
}

/* Undo everything the input built: the context must be as it started. */
static void teardown(struct run *r)
{
	struct model *m = r->m;

	for (int c = 0; c < NCOMP; c++) {
		struct mcomp *mc = &m->c[c];
		struct uiommu_table_group *g;

		if (!mc->alive)
			continue;
		g = uiommu_compound_table_group(mc->p);
		for (int w = 0; w < 2; w++)
			if (mc->win[w] >= 0)
				op_unset(r, NPE + c, w);
		if (mc->user)
			FUZZ_CHECK(!uiommu_table_group_release_ownership(g), "compound release");
		for (int k = 0; k < mc->npes; k++)
			pe_release(m, mc->pe[k]);
		mc->user = false;
		op_comp_free(r, c);
	}
	for (int i = 0; i < NPE; i++) {
		struct mpe *p = &m->pe[i];

		if (!p->alive)
			continue;
		for (int w = 0; w < 2; w++)
			if (p->win[w] >= 0)
				op_unset(r, i, w);
		if (p->user) {
			FUZZ_CHECK(!uiommu_table_group_release_ownership(pe_grp(p)), "release");
			pe_release(m, i);
		}
		op_dev(r, i, false);
		op_pe_free(r, i);
	}
	for (int t = 0; t < NTBL; t++)
		op_unref(r, t);
	check_all(r);
	for (int t = 0; t < NTBL; t++)
		FUZZ_CHECK(!m->t[t].alive, "table %d outlived every reference", t);
}

void fuzz_pe_fini(void)
{
	struct env *e = fuzz_env();

	FUZZ_CHECK(!uiommu_hostmem_free(e->ctx, e->host), "hostmem");
	FUZZ_CHECK(!uiommu_phb_free(e->phb[0]) && !uiommu_phb_free(e->phb[1]), "phbs");
	fuzz_check_clean(e->ctx);
	FUZZ_CHECK(!uiommu_ctx_free(e->ctx), "the context holds nothing");
	memset(e, 0, sizeof(*e));
}

int fuzz_pe(const uint8_t *data, size_t size)
{
	static struct model model;
	struct env *e = fuzz_env();
	/* Every input starts from an empty context: nothing but the driver's host memory. */
	struct run r = { .in = { data, size, 0 }, .m = &model, .e = e, .last_t = -1,
			 .tot = { .frames = HOST_PAGES * HOST_PAGE } };
	int nops = 0;
	bool partial = false; /* the last check was not check_all() */

	memset(&model, 0, sizeof(model));
	model.mode = (unsigned int)fuzz_take(&r.in, 1) % 3;
	while (!fuzz_done(&r.in) && nops++ < FUZZ_PE_MAX_OPS) {
		unsigned int op = (unsigned int)fuzz_take(&r.in, 1) % 24;
		unsigned int a = (unsigned int)fuzz_take(&r.in, 1), b = (unsigned int)fuzz_take(&r.in, 1);
		unsigned int c = (unsigned int)fuzz_take(&r.in, 1), d = (unsigned int)fuzz_take(&r.in, 1);
		int g = (int)(a % NGRP), i = (int)(a % NPE);
		/* A table operand: c's bit 7 names the table made last. */
		int t = (c & 0x80) && r.last_t >= 0 ? r.last_t : (int)(c % NTBL);

		TRACE("op %u (%u %u %u %u)\n", op, a, b, c, d);
		if (op == 23) {
			/* Arm a fault for the next operation only. */
			FUZZ_CHECK(!uiommu_ctx_inject_fault(e->ctx, 1 + b % 8, UIOMMU_FAULT_ALL), "inject");
			r.injecting = true;
			continue;
		}
		switch (op) {
		case 0:
		case 1:
			op_pe_new(&r, i);
			break;
		case 2:
			op_pe_free(&r, i);
			break;
		case 3:
			op_dev(&r, i, b & 1);
			break;
		case 4:
			op_comp_new(&r, (int)(a % NCOMP));
			break;
		case 5:
			op_comp_free(&r, (int)(a % NCOMP));
			break;
		case 6:
		case 7:
			op_comp_attach(&r, (int)(b % NCOMP), i);
			break;
		case 8:
			op_take(&r, g);
			break;
		case 9:
			op_release(&r, g);
			break;
		case 10:
			op_create(&r, g, (int)(b & 1), c % 5);
			break;
		case 11:
			op_table_new(&r, c, d);
			break;
		case 12:
		case 13:
			op_set(&r, g, (int)(b & 1), t);
			break;
		case 14:
			op_unset(&r, g, (int)(b & 1));
			break;
		case 15:
			op_unref(&r, t);
			break;
		case 16:
		case 17:
			op_map(&r, t, (int)(b % NENT), a, d);
			break;
		case 18:
			op_kill(&r, t, (int)(b % NENT), d, false);
			break;
		case 19:
			op_kill(&r, t, (int)(b % NENT), d, true);
			break;
		case 20:
			op_eeh(&r, g, b);
			break;
		case 21:
			op_mode(&r, i, b);
			break;
		default:
			op_dma(&r, i, b | c << 8 | d << 16, d, a & 0x80);
			break;
		}
		/*
		 * The whole state after every operation that may change references,
		 * windows, groups or charges, and after every one a fault was armed
		 * for; after the others, what they can change (and every charge).
		 */
		if (r.injecting) {
			FUZZ_CHECK(!uiommu_ctx_inject_fault(e->ctx, 0, 0), "disarm");
			r.injecting = false;
			check_all(&r);
			partial = false;
		} else if (op >= 16 && op <= 19) {
			check_after_table_op(&r, t);
			partial = true;
		} else if (op >= 20) {
			check_after_pe_op(&r, op == 20 ? g : i);
			partial = true;
		} else {
			check_all(&r);
			partial = false;
		}
	}
	if (r.injecting)
		FUZZ_CHECK(!uiommu_ctx_inject_fault(e->ctx, 0, 0), "disarm");
	/* Everything, before the teardown (which checks everything again at its end). */
	if (partial)
		check_all(&r);
	teardown(&r);
	fuzz_pe_stats.inputs++;
	return 0;
}
