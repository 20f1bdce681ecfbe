// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fuzz driver: a TCE table against a trivially correct model.
 *
 * The input chooses a geometry (host page size, IOMMU page size, levels,
 * window, bus offset), then a sequence of operations: xchg (with and
 * without kill), get, clear with a callback, translate, the userspace
 * shadow, ioba checks, kill, and linking a second kill callback. The model
 * is a flat list of (index, TCE) pairs and of (index, user address) pairs,
 * plus the set of level pages each tree must have allocated, so that it
 * predicts every result, every kill callback, every allocation failure under
 * a small frame limit, and the exact frame usage. After every step the
 * table is compared with the model; at the end the whole table is walked
 * through raw hpa reads, as a PHB would, and must hold exactly the model.
 *
 * The model is written from the documented semantics (uiommu/tce.h,
 * doc/design/tce.md), not from src/tce/: in particular the table size is
 * computed in closed form, not with Linux's loop.
 *
 * Input: 4 header bytes, then operations of 1 + 12 bytes each.
 *   h0: bit 0 host page 4 KiB (else 64 KiB); bits 1-3 bus offset: 0 (0-2),
 *       1 << 59 (3-5), the top of the bus space (6), or past it (7);
 *       misaligned by half a page when h0 >= 0xf0.
 *   h1: page_shift = 12 + h1 % 23.
 *   h2: levels = 1 + h2 % 5, but 0 or 6 (invalid) when h2 >= 240.
 *   h3: window = 1 << (page_shift + h3 % 28 - 2), plus a page (not a power
 *       of two) when h3 >= 248.
 */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <uiommu/uiommu.h>

#include "fuzz.h"

#define FRAME_LIMIT (1ULL << 20)
#define TABLE_LIMIT (1ULL << 30)
#define MAX_OPS 1024
#define POOL 16

/* The model computes bus ranges in 128 bits: no wrap-around to reason about. */
__extension__ typedef unsigned __int128 u128;

/* ---- the model ---- */

struct mgeo {
	bool valid;
	unsigned int host, ps, levels, bits; /* bits: log2 entries per level page */
	uint64_t window, it_size, level_bytes, table_size;
};

static void model_geometry(unsigned int host, unsigned int ps, uint64_t window,
			   unsigned int levels, struct mgeo *m)
{
	unsigned int es, bits, wshift = 0;
	uint64_t pages = 0;

	memset(m, 0, sizeof(*m));
	if ((host != 12 && host != 16) || levels < 1 || levels > 5 || ps < 12 || ps > 34 ||
	    !window || (window & (window - 1)))
		return;
	while ((1ULL << wshift) != window)
		wshift++;
	if (wshift < ps)
		return;
	es = wshift - ps;
	/* Each level resolves an equal share of the index bits, a host page at least. */
	bits = (es + levels - 1) / levels;
	if (bits < host - 3)
		bits = host - 3;
	if (bits * levels + ps >= 55)
		return;
	/* Level k from the bottom: 2^(es - bits * (k + 1)) pages, at least one. */
	for (unsigned int k = 0; k < levels; k++) {
		int e = (int)es - (int)(bits * (k + 1));

		pages += e > 0 ? 1ULL << e : 1;
	}
	m->valid = true;
	m->host = host;
	m->ps = ps;
	m->levels = levels;
	m->bits = bits;
	m->window = window;
	m->it_size = 1ULL << (es > host - 3 ? es : host - 3);
	m->level_bytes = 1ULL << (bits + 3);
	m->table_size = 2 * pages * m->level_bytes;
}

struct mentry {
	uint64_t idx, val;
};

/* A tree of the model: its non-zero words and its level pages below the first. */
struct mtree {
	struct mentry e[MAX_OPS];
	size_t n;
	struct mentry lvl[MAX_OPS * 4]; /* (depth, prefix) */
	size_t nlvl;
};

struct model {
	struct mgeo g;
	uint64_t it_offset, bus_offset;
	struct mtree hw, ua;
	uint64_t frames; /* bytes of level pages, both trees */
	uint64_t kills, kills2;
	bool linked2;
};

static struct mentry *mfind(struct mtree *t, uint64_t idx)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->e[i].idx == idx)
			return &t->e[i];
	return NULL;
}

static uint64_t mget(struct mtree *t, uint64_t idx)
{
	struct mentry *e = mfind(t, idx);

	return e ? e->val : 0;
}

static void mset(struct mtree *t, uint64_t idx, uint64_t val)
{
	struct mentry *e = mfind(t, idx);

	if (e && val) {
		e->val = val;
	} else if (e) {
		*e = t->e[--t->n];
	} else if (val) {
		FUZZ_CHECK(t->n < MAX_OPS, "model full");
		t->e[t->n++] = (struct mentry){ idx, val };
	}
}

static bool mlevel_has(struct mtree *t, uint64_t depth, uint64_t prefix)
{
	for (size_t i = 0; i < t->nlvl; i++)
		if (t->lvl[i].idx == depth && t->lvl[i].val == prefix)
			return true;
	return false;
}

/* The level page at @depth (1 = under the first level) holding index @idx. */
static uint64_t mprefix(const struct model *m, unsigned int depth, uint64_t idx)
{
	return idx >> ((m->g.levels - depth) * m->g.bits);
}

/* Allocate the path to @idx top-down, as the table does; false on -ENOMEM. */
static bool mpath_alloc(struct model *m, struct mtree *t, uint64_t idx)
{
	for (unsigned int d = 1; d < m->g.levels; d++) {
		uint64_t p = mprefix(m, d, idx);

		if (mlevel_has(t, d, p))
			continue;
		if (m->frames + m->g.level_bytes > FRAME_LIMIT)
			return false;
		FUZZ_CHECK(t->nlvl < MAX_OPS * 4, "model levels full");
		t->lvl[t->nlvl++] = (struct mentry){ d, p };
		m->frames += m->g.level_bytes;
	}
	return true;
}

/* A batch was killed: every linked callback ran once. */
static void mkill(struct model *m)
{
	m->kills++;
	m->kills2 += m->linked2;
}

static uint64_t stored_perm(enum uiommu_dma_dir dir)
{
	switch (dir) {
	case UIOMMU_DMA_BIDIRECTIONAL:
	case UIOMMU_DMA_FROM_DEVICE: /* write implies read */
		return 3;
	case UIOMMU_DMA_TO_DEVICE:
		return 1;
	default:
		return 0;
	}
}

static enum uiommu_dma_dir mdir(uint64_t tce)
{
	static const enum uiommu_dma_dir d[4] = { UIOMMU_DMA_NONE, UIOMMU_DMA_TO_DEVICE,
						  UIOMMU_DMA_FROM_DEVICE,
						  UIOMMU_DMA_BIDIRECTIONAL };

	return d[tce & 3];
}

/* ---- callbacks ---- */

struct kill_rec {
	uint64_t calls, entry, npages;
	struct uiommu_tce_table *tbl;
};

static void on_kill(void *opaque, struct uiommu_tce_table *tbl, uint64_t entry, uint64_t npages)
{
	struct kill_rec *k = opaque;

	k->calls++;
	k->entry = entry;
	k->npages = npages;
	k->tbl = tbl;
}

struct clear_rec {
	struct model *m;
	uint64_t calls;
	uint64_t first, last; /* relative */
};

static void on_clear(void *opaque, uint64_t entry, uint64_t old_hpa, enum uiommu_dma_dir old_dir)
{
	struct clear_rec *c = opaque;
	struct model *m = c->m;
	uint64_t idx = entry - m->it_offset, want = mget(&m->hw, idx);

	FUZZ_CHECK(idx >= c->first && idx <= c->last, "clear callback for entry 0x%llx outside",
		   (unsigned long long)entry);
	FUZZ_CHECK(want && old_hpa == (want & ~3ULL) && old_dir == mdir(want),
		   "clear callback idx 0x%llx: hpa 0x%llx dir %d, model 0x%llx",
		   (unsigned long long)idx, (unsigned long long)old_hpa, old_dir,
		   (unsigned long long)want);
	mset(&m->hw, idx, 0); /* a second call for the same entry would fail the check */
	c->calls++;
}

/* ---- checks ---- */

static void check_usage(struct uiommu_ctx *ctx, struct uiommu_tce_table *tbl, struct model *m)
{
	struct uiommu_tce_table_info info = { .size = sizeof(info) };
	uint64_t frames = 0;

	uiommu_ctx_get_usage(ctx, UIOMMU_RES_FRAME_BYTES, &frames);
	FUZZ_CHECK(frames == m->frames, "frame bytes %llu, model %llu",
		   (unsigned long long)frames, (unsigned long long)m->frames);
	FUZZ_CHECK(!uiommu_tce_table_info(tbl, &info), "info");
	FUZZ_CHECK(info.level_bytes == m->frames, "level_bytes");
}

static void check_entries(struct uiommu_tce_table *tbl, struct model *m)
{
	for (size_t i = 0; i < m->hw.n; i++) {
		uint64_t tce = 0;

		FUZZ_CHECK(!uiommu_tce_table_get(tbl, m->it_offset + m->hw.e[i].idx, &tce), "get");
		FUZZ_CHECK(tce == m->hw.e[i].val, "entry 0x%llx: 0x%llx, model 0x%llx",
			   (unsigned long long)m->hw.e[i].idx, (unsigned long long)tce,
			   (unsigned long long)m->hw.e[i].val);
	}
	for (size_t i = 0; i < m->ua.n; i++) {
		uint64_t ua = 0;

		FUZZ_CHECK(!uiommu_tce_table_ua_get(tbl, m->it_offset + m->ua.e[i].idx, &ua),
			   "ua_get");
		FUZZ_CHECK(ua == m->ua.e[i].val, "ua 0x%llx", (unsigned long long)m->ua.e[i].idx);
	}
}

/*
 * The next run of data in [@hpa, @end) of the library's frames, as
 * [*ret_start, *ret_stop); empty (both @end) if there is none. The memfd's
 * holes (pages never written, or punched out since) read as zeros, and
 * asking the memfd where its data is (SEEK_DATA, SEEK_HOLE) is much cheaper
 * than reading holes, which would fill them in.
 */
static void data_run(struct uiommu_ctx *ctx, uint64_t hpa, uint64_t end, uint64_t *ret_start,
		     uint64_t *ret_stop)
{
	uint64_t off, len;
	off_t data, hole;
	int fd;

	FUZZ_CHECK(!uiommu_ram_get_fd(ctx, hpa, &fd, &off, &len), "no fd for 0x%llx",
		   (unsigned long long)hpa);
	*ret_start = *ret_stop = end;
	data = lseek(fd, (off_t)off, SEEK_DATA);
	if (data < 0) {
		FUZZ_CHECK(errno == ENXIO, "SEEK_DATA: %s", strerror(errno));
		return;
	}
	if ((uint64_t)data - off >= end - hpa)
		return;
	hole = lseek(fd, data, SEEK_HOLE);
	FUZZ_CHECK(hole > data, "SEEK_HOLE: %s", strerror(errno));
	*ret_start = hpa + ((uint64_t)data - off);
	*ret_stop = (uint64_t)hole - off < end - hpa ? hpa + ((uint64_t)hole - off) : end;
}

/*
 * Walk one tree from its first level by hpa, as a PHB: every non-zero word
 * of the last level must be in the model, and every level page found must
 * be one the model allocated. Returns the number of non-zero words.
 */
FUZZ_UNTRACED
static uint64_t walk(struct uiommu_ctx *ctx, struct model *m, struct mtree *t, uint64_t hpa,
		     unsigned int depth, uint64_t base)
{
	unsigned int below = m->g.levels - 1 - depth;
	uint64_t n = m->g.level_bytes / 8, found = 0, stop = 0;
	const uint64_t *words;

	FUZZ_CHECK(!uiommu_hpa_to_hva(ctx, hpa, m->g.level_bytes, (void **)&words),
		   "level page 0x%llx is not RAM", (unsigned long long)hpa);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t v, idx;

		/* Only the runs of data: the holes between them are zeros. */
		if (i >= stop) {
			uint64_t run_start, run_stop;

			data_run(ctx, hpa + i * 8, hpa + n * 8, &run_start, &run_stop);
			i = (run_start - hpa) / 8;
			stop = (run_stop - hpa) / 8;
			if (i >= n)
				break;
		}
		idx = base + (i << (below * m->g.bits));
		v = be64toh(words[i]);
		if (!v)
			continue;
		if (below) {
			FUZZ_CHECK((v & 3) == 3, "indirect entry without R|W");
			FUZZ_CHECK(mlevel_has(t, depth + 1, idx >> (below * m->g.bits)),
				   "level page the model did not allocate");
			found += walk(ctx, m, t, v & ~3ULL, depth + 1, idx);
		} else {
			FUZZ_CHECK(idx < m->g.it_size, "word past it_size");
			FUZZ_CHECK(mget(t, idx) == v, "raw word 0x%llx at 0x%llx, model 0x%llx",
				   (unsigned long long)v, (unsigned long long)idx,
				   (unsigned long long)mget(t, idx));
			found++;
		}
	}
	return found;
}

/* ---- input ---- */

struct run {
	struct fuzz_input in;
	struct model *m;
	uint64_t pool[POOL];
};

/* An absolute entry number: mostly valid and often repeated, sometimes not. */
static uint64_t pick_entry(struct run *r)
{
	struct model *m = r->m;
	unsigned int b = (unsigned int)fuzz_take(&r->in, 1);
	uint64_t v = fuzz_take(&r->in, 4), idx;

	if (b < 128)
		idx = r->pool[b % POOL];
	else if (b < 192)
		idx = (r->pool[b % POOL] + (v & 0xffff)) % m->g.it_size;
	else if (b < 240)
		idx = v % m->g.it_size;
	else if (b < 248)
		idx = m->g.it_size + (v & 7); /* just past the end */
	else if (b < 252)
		idx = (uint64_t)-1 - (v & 7); /* just below it_offset */
	else
		return v << 32 | fuzz_take(&r->in, 4);
	return m->it_offset + idx;
}

static enum uiommu_dma_dir pick_dir(struct run *r)
{
	unsigned int b = (unsigned int)fuzz_take(&r->in, 1);

	if (b >= 250)
		return (enum uiommu_dma_dir)(4 + b % 3); /* not a direction */
	return (enum uiommu_dma_dir)(b % 4);
}

/* An hpa for @dir: page aligned and below 2^52, or sometimes not. */
static uint64_t pick_hpa(struct run *r, enum uiommu_dma_dir dir)
{
	unsigned int ps = r->m->g.ps, b = (unsigned int)fuzz_take(&r->in, 1);
	uint64_t pn = fuzz_take(&r->in, 2);

	if (dir == UIOMMU_DMA_NONE && b < 240)
		return 0;
	if (b >= 250)
		return ((pn + 1) << ps) | (1ULL << (ps - 1)); /* misaligned */
	if (b >= 245)
		return (1ULL << 52) + (pn << ps); /* past UIOMMU_HPA_LIMIT */
	return (pn + 1) << ps;
}

static int expect_entry(struct model *m, uint64_t entry, uint64_t *idx)
{
	*idx = entry - m->it_offset;
	return *idx < m->g.it_size ? 0 : -EINVAL;
}

static void op_xchg(struct run *r, struct uiommu_tce_table *tbl, bool kill, struct kill_rec *k)
{
	struct model *m = r->m;
	uint64_t entry = pick_entry(r), idx, old_hpa = 0xdead;
	enum uiommu_dma_dir dir = pick_dir(r), old_dir = (enum uiommu_dma_dir)77;
	uint64_t hpa = pick_hpa(r, dir), old = 0;
	int want = expect_entry(m, entry, &idx), got;

	if (!want && ((unsigned int)dir > 3 || (hpa & ((1ULL << m->g.ps) - 1)) ||
		      hpa >= (1ULL << 52) || (dir == UIOMMU_DMA_NONE && hpa)))
		want = -EINVAL;
	if (!want) {
		old = mget(&m->hw, idx);
		if (dir == UIOMMU_DMA_NONE)
			mset(&m->hw, idx, 0);
		else if (!mpath_alloc(m, &m->hw, idx))
			want = -ENOMEM;
		else
			mset(&m->hw, idx, hpa | stored_perm(dir));
	}
	if (kill)
		got = uiommu_tce_table_xchg(tbl, entry, hpa, dir, &old_hpa, &old_dir);
	else
		got = uiommu_tce_table_xchg_no_kill(tbl, entry, hpa, dir, &old_hpa, &old_dir);
	FUZZ_CHECK(got == want, "xchg(0x%llx, 0x%llx, %d) = %d, model %d",
		   (unsigned long long)entry, (unsigned long long)hpa, dir, got, want);
	if (!want) {
		FUZZ_CHECK(old_hpa == (old & ~3ULL) && old_dir == mdir(old),
			   "xchg old 0x%llx/%d, model 0x%llx", (unsigned long long)old_hpa,
			   old_dir, (unsigned long long)old);
		if (kill) {
			mkill(m);
			FUZZ_CHECK(k->entry == entry && k->npages == 1 && k->tbl == tbl,
				   "xchg kill (0x%llx, %llu)", (unsigned long long)k->entry,
				   (unsigned long long)k->npages);
		}
	} else {
		FUZZ_CHECK(old_hpa == 0xdead && old_dir == 77, "out parameters written on failure");
	}
}

static void op_get(struct run *r, struct uiommu_tce_table *tbl)
{
	struct model *m = r->m;
	uint64_t entry = pick_entry(r), idx, tce = 0x1234;
	int want = expect_entry(m, entry, &idx);
	int got = uiommu_tce_table_get(tbl, entry, &tce);

	FUZZ_CHECK(got == want, "get(0x%llx) = %d", (unsigned long long)entry, got);
	FUZZ_CHECK(want || tce == mget(&m->hw, idx), "get(0x%llx) = 0x%llx, model 0x%llx",
		   (unsigned long long)entry, (unsigned long long)tce,
		   (unsigned long long)mget(&m->hw, idx));
}

static uint64_t pick_npages(struct run *r, uint64_t idx)
{
	struct model *m = r->m;
	unsigned int b = (unsigned int)fuzz_take(&r->in, 1);
	uint64_t v = fuzz_take(&r->in, 4);

	if (b < 160)
		return 1 + (v & 63);
	if (b < 200)
		return 1 + v % m->g.it_size;
	if (b < 230 && idx < m->g.it_size)
		return m->g.it_size - idx + (b & 1); /* to the end, or one past */
	if (b < 240)
		return 0;
	return (uint64_t)-1 - (v & 3); /* wraps */
}

static void op_clear(struct run *r, struct uiommu_tce_table *tbl, struct kill_rec *k)
{
	struct model *m = r->m;
	uint64_t entry = pick_entry(r), idx, npages, cleared = 0xdead, expect = 0;
	struct clear_rec c = { .m = m };
	int want = expect_entry(m, entry, &idx), got;

	npages = pick_npages(r, idx);
	if (!want && (!npages || npages > m->g.it_size - idx))
		want = -EINVAL;
	if (!want) {
		c.first = idx;
		c.last = idx + npages - 1;
		for (size_t i = 0; i < m->hw.n; i++)
			expect += m->hw.e[i].idx >= c.first && m->hw.e[i].idx <= c.last;
	}
	/* The callback removes each entry from the model as the table reports it. */
	got = uiommu_tce_table_clear(tbl, entry, npages, on_clear, &c, &cleared);
	FUZZ_CHECK(got == want, "clear(0x%llx, %llu) = %d, model %d", (unsigned long long)entry,
		   (unsigned long long)npages, got, want);
	if (want) {
		FUZZ_CHECK(!c.calls && cleared == 0xdead, "failed clear did something");
		return;
	}
	FUZZ_CHECK(c.calls == expect && cleared == expect, "clear: %llu callbacks, %llu cleared, model %llu",
		   (unsigned long long)c.calls, (unsigned long long)cleared,
		   (unsigned long long)expect);
	mkill(m);
	FUZZ_CHECK(k->calls == m->kills && k->entry == entry && k->npages == npages,
		   "clear kill (%llu, %llu)", (unsigned long long)k->entry,
		   (unsigned long long)k->npages);
}

static void op_translate(struct run *r, struct uiommu_tce_table *tbl)
{
	struct model *m = r->m;
	unsigned int b = (unsigned int)fuzz_take(&r->in, 1), prot = 99;
	uint64_t entry = pick_entry(r), off = fuzz_take(&r->in, 5) & ((1ULL << m->g.ps) - 1);
	uint64_t idx = entry - m->it_offset, ioba, hpa = 0xdead, tce;
	int want, got;

	if (b < 8)
		ioba = m->bus_offset - 1 - off; /* below the window */
	else if (b < 16)
		ioba = m->bus_offset + (m->g.it_size << m->g.ps) + off; /* past it */
	else
		ioba = m->bus_offset + (idx << m->g.ps) + off;
	/* Where is ioba? Computed in 128 bits, without the table's tricks. */
	{
		u128 rel = (u128)ioba - m->bus_offset;

		if (ioba < m->bus_offset || rel >= (u128)m->g.it_size << m->g.ps) {
			want = -ERANGE;
			tce = 0;
		} else {
			tce = mget(&m->hw, (uint64_t)(rel >> m->g.ps));
			want = (tce & 3) ? 0 : -EFAULT;
		}
	}
	got = uiommu_tce_table_translate(tbl, ioba, &hpa, &prot);
	FUZZ_CHECK(got == want, "translate(0x%llx) = %d, model %d", (unsigned long long)ioba, got,
		   want);
	if (!want)
		FUZZ_CHECK(hpa == ((tce & ~3ULL) | (ioba & ((1ULL << m->g.ps) - 1))) &&
				   prot == (tce & 3),
			   "translate(0x%llx) = 0x%llx/%u, model TCE 0x%llx",
			   (unsigned long long)ioba, (unsigned long long)hpa, prot,
			   (unsigned long long)tce);
	else
		FUZZ_CHECK(hpa == 0xdead && prot == 99, "out parameters written on failure");
}

static void op_ua(struct run *r, struct uiommu_tce_table *tbl, bool set)
{
	struct model *m = r->m;
	uint64_t entry = pick_entry(r), idx, ua = 0, old = 0xdead, was;
	int want = expect_entry(m, entry, &idx), got;

	if (set) {
		unsigned int b = (unsigned int)fuzz_take(&r->in, 1);

		ua = b < 64 ? 0 : fuzz_take(&r->in, 6) << 12 | b;
	}
	was = want ? 0 : mget(&m->ua, idx);
	if (!want && set) {
		if (!ua)
			mset(&m->ua, idx, 0);
		else if (!mpath_alloc(m, &m->ua, idx))
			want = -ENOMEM;
		else
			mset(&m->ua, idx, ua);
	}
	got = set ? uiommu_tce_table_ua_xchg(tbl, entry, ua, &old) :
		    uiommu_tce_table_ua_get(tbl, entry, &old);
	FUZZ_CHECK(got == want, "ua %s(0x%llx) = %d, model %d", set ? "xchg" : "get",
		   (unsigned long long)entry, got, want);
	FUZZ_CHECK(want ? old == 0xdead : old == was, "ua old 0x%llx, model 0x%llx",
		   (unsigned long long)old, (unsigned long long)was);
}

static void op_check_ioba(struct run *r, struct uiommu_tce_table *tbl)
{
	struct model *m = r->m;
	unsigned int b = (unsigned int)fuzz_take(&r->in, 1);
	uint64_t entry = pick_entry(r), idx = entry - m->it_offset, npages = pick_npages(r, idx);
	uint64_t ioba = m->bus_offset + (idx << m->g.ps);
	u128 rel, end;
	int want = 0, got;

	if (b >= 224)
		ioba += 1ULL << (b % m->g.ps); /* misaligned */
	rel = (u128)ioba - m->bus_offset;
	end = rel + ((u128)npages << m->g.ps);
	if (ioba & ((1ULL << m->g.ps) - 1) || !npages || ioba < m->bus_offset ||
	    end > (u128)m->g.it_size << m->g.ps)
		want = -EINVAL;
	got = uiommu_tce_table_check_ioba(tbl, ioba, npages);
	FUZZ_CHECK(got == want, "check_ioba(0x%llx, %llu) = %d, model %d",
		   (unsigned long long)ioba, (unsigned long long)npages, got, want);
}

static void op_kill(struct run *r, struct uiommu_tce_table *tbl, struct kill_rec *k,
		    struct kill_rec *k2)
{
	struct model *m = r->m;
	uint64_t entry = pick_entry(r), idx, npages;
	int want = expect_entry(m, entry, &idx), got;

	npages = pick_npages(r, idx);
	if (!want && (!npages || npages > m->g.it_size - idx))
		want = -EINVAL;
	got = uiommu_tce_table_kill(tbl, entry, npages);
	FUZZ_CHECK(got == want, "kill = %d, model %d", got, want);
	if (!want) {
		mkill(m);
		FUZZ_CHECK(k->entry == entry && k->npages == npages && k->tbl == tbl, "kill args");
		FUZZ_CHECK(!m->linked2 || (k2->entry == entry && k2->npages == npages),
			   "second kill args");
	}
}

static void op_link(struct run *r, struct uiommu_tce_table *tbl, struct kill_rec *k2)
{
	struct model *m = r->m;
	bool link = fuzz_take(&r->in, 1) & 1;
	int got;

	if (link) {
		got = uiommu_tce_table_kill_link(tbl, on_kill, k2);
		FUZZ_CHECK(got == (m->linked2 ? -EEXIST : 0), "link = %d", got);
		m->linked2 = true;
	} else {
		got = uiommu_tce_table_kill_unlink(tbl, on_kill, k2);
		FUZZ_CHECK(got == (m->linked2 ? 0 : -ENOENT), "unlink = %d", got);
		m->linked2 = false;
	}
}

/* ---- the driver ---- */

static struct uiommu_ctx *fuzz_ctx(unsigned int host_page_shift)
{
	static struct uiommu_ctx *ctx[2];
	struct uiommu_ctx **c = &ctx[host_page_shift == 12];

	if (!*c) {
		struct uiommu_ctx_config cfg = { .size = sizeof(cfg),
						 .host_page_shift = host_page_shift };

		FUZZ_CHECK(!uiommu_ctx_new(&cfg, c), "ctx_new");
		FUZZ_CHECK(!uiommu_ctx_set_limit(*c, UIOMMU_RES_FRAME_BYTES, FRAME_LIMIT), "limit");
		FUZZ_CHECK(!uiommu_ctx_set_limit(*c, UIOMMU_RES_TABLE_BYTES, TABLE_LIMIT), "limit");
	}
	return *c;
}

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int fuzz_tce(const uint8_t *data, size_t size)
{
	static struct model model; /* large: not on the stack */
	struct model *m = &model;
	struct run r = { .in = { data, size, 0 }, .m = m };
	struct kill_rec k = { 0 }, k2 = { 0 };
	unsigned int h0 = (unsigned int)fuzz_take(&r.in, 1), h1 = (unsigned int)fuzz_take(&r.in, 1);
	unsigned int h2 = (unsigned int)fuzz_take(&r.in, 1), h3 = (unsigned int)fuzz_take(&r.in, 1);
	unsigned int host = (h0 & 1) ? 12 : 16, ps = 12 + h1 % 23;
	unsigned int levels = h2 < 240 ? 1 + h2 % 5 : (h2 & 1) * 6;
	int wshift = (int)ps + (int)(h3 % 28) - 2;
	uint64_t window = wshift >= 0 && wshift < 64 ? 1ULL << wshift : 0;
	struct uiommu_ctx *ctx = fuzz_ctx(host);
	struct uiommu_tce_table *tbl = NULL;
	uint64_t bus_offset = 0, size_model, found;
	int want = 0, got, nops = 0;

	/* Not a memset of the whole model (160 KiB): the trees' counts say what is live. */
	m->it_offset = m->bus_offset = m->frames = m->kills = m->kills2 = 0;
	m->hw.n = m->hw.nlvl = m->ua.n = m->ua.nlvl = 0;
	m->linked2 = false;
	if (h3 >= 248)
		window += 1ULL << ps; /* not a power of two */
	model_geometry(host, ps, window, levels, &m->g);

	/* What the table costs, and whether it can exist. */
	size_model = m->g.valid ? m->g.table_size : 0;
	FUZZ_CHECK(uiommu_tce_table_size(host, ps, window, levels) == size_model,
		   "table_size(%u, %u, 0x%llx, %u) = %llu, model %llu", host, ps,
		   (unsigned long long)window, levels,
		   (unsigned long long)uiommu_tce_table_size(host, ps, window, levels),
		   (unsigned long long)size_model);
	if (!m->g.valid) {
		want = -EINVAL;
	} else {
		uint64_t bytes = m->g.it_size << ps;

		unsigned int kind = (h0 >> 1) & 7;

		if (kind < 3)
			bus_offset = UIOMMU_TCE_BUS_OFFSET_32;
		else if (kind < 6)
			bus_offset = UIOMMU_TCE_BUS_OFFSET_64;
		else if (kind == 6)
			bus_offset = (uint64_t)0 - bytes; /* ends at 2^64 - 1 exactly */
		else
			bus_offset = (uint64_t)0 - (bytes >> 1) - (1ULL << ps); /* runs past it */
		if (h0 >= 0xf0)
			bus_offset += 1ULL << (ps - 1);
		if (bus_offset & ((1ULL << ps) - 1))
			want = -EINVAL;
		else if (kind == 7)
			want = -EOVERFLOW;
		else if (m->g.table_size > TABLE_LIMIT)
			want = -ENOMEM;
		else if (m->g.bits + 3 - 12 > 18 || 2 * m->g.level_bytes > FRAME_LIMIT)
			want = -ENOMEM;
	}
	got = uiommu_tce_table_new(ctx, bus_offset, ps, window, levels, &tbl);
	FUZZ_CHECK(got == want, "table_new(host %u, off 0x%llx, ps %u, window 0x%llx, levels %u) = %d, model %d",
		   host, (unsigned long long)bus_offset, ps, (unsigned long long)window, levels,
		   got, want);
	if (got) {
		FUZZ_CHECK(!tbl, "ret_tbl written on failure");
		fuzz_check_clean(ctx);
		return 0;
	}
	m->bus_offset = bus_offset;
	m->it_offset = bus_offset >> ps;
	m->frames = 2 * m->g.level_bytes;
	{
		struct uiommu_tce_table_info info = { .size = sizeof(info) };

		FUZZ_CHECK(!uiommu_tce_table_info(tbl, &info), "info");
		FUZZ_CHECK(info.it_size == m->g.it_size && info.it_offset == m->it_offset &&
				   info.it_level_size == m->g.level_bytes / 8 &&
				   info.allocated_size == m->g.table_size &&
				   info.bus_offset == bus_offset && info.levels == levels &&
				   info.page_shift == ps && info.window_size == window,
			   "info does not match the geometry");
	}
	FUZZ_CHECK(!uiommu_tce_table_kill_link(tbl, on_kill, &k), "link");

	/* Hot indexes: both ends, level boundaries, and a few more. */
	{
		uint64_t b = 1ULL << m->g.bits, seed = (uint64_t)h0 << 24 | h1 << 16 | h2 << 8 | h3;
		uint64_t fixed[] = { 0, m->g.it_size - 1, b - 1, b, 2 * b - 1, b * b - 1, b * b,
				     m->g.it_size / 2 };

		for (unsigned int i = 0; i < POOL; i++)
			r.pool[i] = (i < 8 ? fixed[i] : mix(seed + i)) % m->g.it_size;
	}

	while (!fuzz_done(&r.in) && nops++ < MAX_OPS) {
		unsigned int op = (unsigned int)fuzz_take(&r.in, 1) % 11;

		switch (op) {
		case 0:
		case 1:
			op_xchg(&r, tbl, op == 1, &k);
			break;
		case 2:
			op_get(&r, tbl);
			break;
		case 3:
			op_clear(&r, tbl, &k);
			break;
		case 4:
		case 5:
			op_translate(&r, tbl);
			break;
		case 6:
			op_ua(&r, tbl, true);
			break;
		case 7:
			op_ua(&r, tbl, false);
			break;
		case 8:
			op_check_ioba(&r, tbl);
			break;
		case 9:
			op_kill(&r, tbl, &k, &k2);
			break;
		default:
			op_link(&r, tbl, &k2);
			break;
		}
		FUZZ_CHECK(k.calls == m->kills, "kill callback called %llu times, model %llu",
			   (unsigned long long)k.calls, (unsigned long long)m->kills);
		FUZZ_CHECK(k2.calls == m->kills2, "second kill callback calls");
		check_entries(tbl, m);
		check_usage(ctx, tbl, m);
	}

	/* The whole table, through raw hpa reads: exactly the model, nothing else. */
	{
		struct uiommu_tce_table_info info = { .size = sizeof(info) };

		FUZZ_CHECK(!uiommu_tce_table_info(tbl, &info), "info");
		found = walk(ctx, m, &m->hw, info.base_hpa, 0, 0);
		FUZZ_CHECK(found == m->hw.n, "raw walk found %llu TCEs, model %zu",
			   (unsigned long long)found, m->hw.n);
		found = walk(ctx, m, &m->ua, info.ua_base_hpa, 0, 0);
		FUZZ_CHECK(found == m->ua.n, "raw walk of the shadow");
	}
	uiommu_tce_table_unref(tbl);
	fuzz_check_clean(ctx);
	return 0;
}
