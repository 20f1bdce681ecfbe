// SPDX-License-Identifier: BSD-3-Clause
/*
 * The QEMU-oracle test: seeded TCE hypercalls and DDW RTAS calls, most of
 * them malformed, against the real windows of the machine, so that QEMU's
 * own trace says what each error path returns and leaves behind.
 *
 * Every call is one the trace can describe completely (doc/traces.md,
 * "QEMU-oracle traces"), so that `uiommu replay` can issue exactly the call
 * the payload made and compare every result:
 *  - H_PUT_TCE and H_GET_TCE: always logged.
 *  - H_PUT_TCE_INDIRECT: logged unless the LIOBN has no table, npages > 512
 *    or the list is misaligned; only the last entry handled is logged, so a
 *    list in RAM is an arithmetic progression (entry k = e0 + k * page size,
 *    the rule the replay rebuilds lists with), and a list outside RAM
 *    (QEMU reads zeros) has one entry or fails at its first.
 *  - H_STUFF_TCE: logged unless the LIOBN has no table or npages exceeds
 *    the table; the start is logged only through the end or the failing
 *    entry, so a failing STUFF fails at its first entry.
 *  - RTAS: only successful calls are logged.
 * The hypercalls QEMU does not log are made in one phase only ("silent");
 * failing RTAS calls happen everywhere. Either kind is marked t=0 in its
 * record, and the recorder checks that none of them shows up in the trace.
 *
 * One console record per call (the recorder pairs it with QEMU's line):
 *   @@UCAP|P|t|ret|liobn|ioba|tce|@@                  H_PUT_TCE
 *   @@UCAP|G|t|ret|liobn|ioba|tce|@@                  H_GET_TCE (tce returned)
 *   @@UCAP|I|t|ret|liobn|ioba|list|npages|e0|step|@@  H_PUT_TCE_INDIRECT
 *   @@UCAP|S|t|ret|liobn|ioba|value|npages|psize|@@   H_STUFF_TCE
 *   @@UCAP|Q|t|status|buid|cfg|nret|avail|mask|@@     ibm,query-pe-dma-window
 *   @@UCAP|C|t|status|buid|cfg|pshift|wshift|liobn|start|@@  ibm,create-pe-dma-window
 *   @@UCAP|R|t|status|liobn|restored|@@               ibm,remove-pe-dma-window
 *   @@UCAP|X|t|status|buid|cfg|@@                     ibm,reset-pe-dma-window
 * t is 1 if QEMU logs the call; numbers are hex, ret/status signed decimal.
 */
#include "payload.h"

__attribute__((section(".config"), used)) struct payload_config payload_config = {
	.magic = PAYLOAD_MAGIC,
	.seed = 1,
	.calls = 2000,
};

#define MAX_VIO 8
#define MAX_PHB 4
#define MAX_INDIRECT 512
#define NLISTS 8
#define NRECENT 16
/* DDWs stay small: at most 2^17 entries (1 MiB of TCEs) each. */
#define DDW_MAX_ENTRIES_SHIFT 17

struct phb;

/* One of QEMU's TCE table objects, with the window it has (if enabled). */
struct win {
	uint64_t liobn;
	bool enabled;
	uint64_t bus_offset; /* bytes */
	unsigned int shift;
	uint64_t entries;
	struct phb *phb; /* NULL: a VIO device's window */
};

struct phb {
	char node[64];
	uint64_t buid;
	uint64_t dma_win_addr, dma_win_size;
	uint32_t tok_query, tok_create, tok_remove, tok_reset; /* 0: the PHB has no DDW */
	bool has_window;
	struct win win[2]; /* QEMU's two tables per PHB: the default window and one more */
};

static struct win vio[MAX_VIO];
static unsigned int nvio;
static struct phb phbs[MAX_PHB];
static unsigned int nphb;
static uint64_t ram_size;

static uint64_t lists[NLISTS][MAX_INDIRECT] __attribute__((aligned(4096)));
static unsigned int next_list;

static struct {
	uint64_t liobn, ioba;
} recent[NRECENT];
static unsigned int nrecent;

/* ---- random numbers (splitmix64) ---- */

static uint64_t rng;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n); 0 for n == 0. */
static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static bool chance(unsigned int percent)
{
	return below(100) < percent;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* ---- the machine, from the device tree ---- */

static struct phb *phb_of_node(const char *path)
{
	size_t n = strlen(path);

	for (unsigned int i = 0; i < nphb; i++)
		if (!strcmp(phbs[i].node, path))
			return &phbs[i];
	if (nphb == MAX_PHB || n >= sizeof(phbs[0].node))
		fail("too many PHBs or a long PHB path", nphb);
	memcpy(phbs[nphb].node, path, n + 1);
	return &phbs[nphb++];
}

static bool has_slash(const char *s)
{
	while (*s)
		if (*s++ == '/')
			return true;
	return false;
}

static void dt_dump(const char *path, const char *name, const uint8_t *data, uint32_t len)
{
	con_puts("@@UCAP|DT|");
	con_puts(path);
	con_putc('/');
	con_puts(name);
	con_putc('|');
	for (uint32_t i = 0; i < len; i++) {
		con_putc("0123456789abcdef"[data[i] >> 4]);
		con_putc("0123456789abcdef"[data[i] & 15]);
	}
	con_puts("|@@\n");
}

static void dt_prop(void *opaque, const char *path, const char *name, const void *data,
		    uint32_t len)
{
	bool pci = str_starts(path, "/pci@"), vdev = str_starts(path, "/vdevice/");
	bool mem = str_starts(path, "/memory@");

	(void)opaque;
	/* What the recorder writes the trace header from (as the Linux guest's /init). */
	if (!strcmp(name, "ibm,my-dma-window") || !strcmp(name, "ibm,dma-window") ||
	    !strcmp(name, "ibm,ddw-applicable") || !strcmp(name, "ibm,ddw-extensions") ||
	    !strcmp(name, "ibm,#dma-address-cells") || !strcmp(name, "ibm,#dma-size-cells") ||
	    (!strcmp(name, "reg") && (pci || vdev || mem)))
		dt_dump(path, name, data, len);

	if (mem && !strcmp(name, "reg")) {
		/* The root's #address-cells and #size-cells are 2 on pseries. */
		for (uint32_t c = 0; c + 4 <= len / 4; c += 4)
			ram_size += (uint64_t)be32_at(data, c + 2) << 32 | be32_at(data, c + 3);
	} else if (!strcmp(path, "/rtas") && !strcmp(name, "power-off") && len == 4) {
		rtas_power_off_token = be32_at(data, 0);
	} else if (str_starts(path, "/vdevice/vty@") && !strcmp(name, "reg") && len == 4) {
		con_set_termno(be32_at(data, 0));
	} else if (vdev && !strcmp(name, "ibm,my-dma-window")) {
		struct win *w = &vio[nvio];

		if (nvio == MAX_VIO || len != 20)
			fail("VIO window: too many, or not 5 cells", len);
		w->liobn = be32_at(data, 0);
		w->bus_offset = (uint64_t)be32_at(data, 1) << 32 | be32_at(data, 2);
		w->entries = ((uint64_t)be32_at(data, 3) << 32 | be32_at(data, 4)) >> 12;
		w->shift = 12;
		w->enabled = true;
		nvio++;
	} else if (pci && !has_slash(path + 1)) {
		struct phb *p = phb_of_node(path);

		if (!strcmp(name, "reg") && len >= 8) {
			p->buid = (uint64_t)be32_at(data, 0) << 32 | be32_at(data, 1);
		} else if (!strcmp(name, "ibm,dma-window")) {
			if (len != 20)
				fail("ibm,dma-window is not 5 cells", len);
			p->has_window = true;
			p->win[0].liobn = be32_at(data, 0);
			p->dma_win_addr = (uint64_t)be32_at(data, 1) << 32 | be32_at(data, 2);
			p->dma_win_size = (uint64_t)be32_at(data, 3) << 32 | be32_at(data, 4);
		} else if (!strcmp(name, "ibm,ddw-applicable") && len == 12) {
			p->tok_query = be32_at(data, 0);
			p->tok_create = be32_at(data, 1);
			p->tok_remove = be32_at(data, 2);
		} else if (!strcmp(name, "ibm,ddw-extensions") && len >= 8 && be32_at(data, 0) >= 1) {
			p->tok_reset = be32_at(data, 1);
		}
	}
}

static void machine_setup(uint64_t fdt)
{
	if (fdt_walk((const void *)(uintptr_t)fdt, dt_prop, NULL))
		fail("r3 does not point at a device tree", fdt);
	con_puts("@@UCAP|DTDONE|start|@@\n");
	if (!ram_size || !rtas_power_off_token)
		fail("the device tree has no memory or no power-off RTAS token", ram_size);
	for (unsigned int i = 0; i < nphb; i++) {
		struct phb *p = &phbs[i];

		if (!p->has_window || !p->buid)
			fail("a PHB without reg or ibm,dma-window", i);
		/* QEMU's tables: SPAPR_PCI_LIOBN(index, 0) and (index, 1). */
		p->win[0] = (struct win){ .liobn = p->win[0].liobn, .enabled = true,
					  .bus_offset = p->dma_win_addr, .shift = 12,
					  .entries = p->dma_win_size >> 12, .phb = p };
		p->win[1] = (struct win){ .liobn = p->win[0].liobn + 1, .phb = p };
	}
	if (!nvio && !nphb)
		fail("no DMA window in the device tree", 0);
}

/* QEMU's table object for @liobn, enabled or not (spapr_tce_find_by_liobn()). */
static struct win *table(uint64_t liobn)
{
	if (liobn >> 32)
		return NULL;
	for (unsigned int i = 0; i < nvio; i++)
		if (vio[i].liobn == liobn)
			return &vio[i];
	for (unsigned int i = 0; i < nphb; i++)
		for (unsigned int w = 0; w < 2; w++)
			if (phbs[i].win[w].liobn == liobn)
				return &phbs[i].win[w];
	return NULL;
}

static uint64_t page_size(const struct win *w)
{
	return 1ULL << w->shift;
}

/*
 * How many of @n entries from @ioba QEMU writes before one falls outside
 * @w: put_tce_emu()'s index, (masked ioba - bus offset) >> shift, unsigned.
 * A disabled table has no entries.
 */
static uint64_t fits(const struct win *w, uint64_t ioba, uint64_t n)
{
	uint64_t idx;

	if (!w || !w->enabled)
		return 0;
	idx = ((ioba & ~(page_size(w) - 1)) - w->bus_offset) >> w->shift;
	return idx < w->entries ? min_u64(n, w->entries - idx) : 0;
}

static unsigned int nwindows(const struct phb *p)
{
	return p->win[0].enabled + p->win[1].enabled;
}

/* Every window of the machine that is enabled now, in a fixed order; @i-th. */
static struct win *enabled_window(unsigned int i)
{
	for (unsigned int v = 0; v < nvio; v++)
		if (!i--)
			return &vio[v];
	for (unsigned int p = 0; p < nphb; p++)
		for (unsigned int w = 0; w < 2; w++)
			if (phbs[p].win[w].enabled && !i--)
				return &phbs[p].win[w];
	return NULL;
}

static unsigned int nenabled(void)
{
	unsigned int n = nvio;

	for (unsigned int p = 0; p < nphb; p++)
		n += nwindows(&phbs[p]);
	return n;
}

static struct win *random_window(void)
{
	return enabled_window((unsigned int)below(nenabled()));
}

/* A table of a PHB that is disabled now (QEMU still has its object), or NULL. */
static struct win *random_disabled_table(void)
{
	struct win *cand[2 * MAX_PHB];
	unsigned int n = 0;

	for (unsigned int p = 0; p < nphb; p++)
		for (unsigned int w = 0; w < 2; w++)
			if (!phbs[p].win[w].enabled)
				cand[n++] = &phbs[p].win[w];
	return n ? cand[below(n)] : NULL;
}

/* ---- records ---- */

/* One record: @@UCAP|op|t|ret|v[0]|...|v[n-1]|@@ (the top of this file). */
static void record(char op, bool traced, long ret, unsigned int n, const uint64_t *v)
{
	con_puts("@@UCAP|");
	con_putc(op);
	con_puts(traced ? "|1|" : "|0|");
	con_dec(ret);
	for (unsigned int i = 0; i < n; i++) {
		con_putc('|');
		con_hex(v[i]);
	}
	con_puts("|@@\n");
}

#define RECORD(op, traced, ret, ...)                                                    \
	record(op, traced, ret, sizeof((uint64_t[]){ __VA_ARGS__ }) / sizeof(uint64_t), \
	       (uint64_t[]){ __VA_ARGS__ })

static void remember(uint64_t liobn, uint64_t ioba)
{
	recent[nrecent % NRECENT].liobn = liobn;
	recent[nrecent % NRECENT].ioba = ioba;
	nrecent++;
}

/* ---- the hypercalls ---- */

static long put(uint64_t liobn, uint64_t ioba, uint64_t tce)
{
	uint64_t a[4] = { liobn, ioba, tce, 0 };
	long ret = hcall(H_PUT_TCE, a);

	RECORD('P', true, ret, liobn, ioba, tce);
	if (ret == H_SUCCESS)
		remember(liobn, ioba);
	return ret;
}

static long get(uint64_t liobn, uint64_t ioba)
{
	uint64_t a[4] = { liobn, ioba, 0, 0 };
	long ret = hcall(H_GET_TCE, a);

	RECORD('G', true, ret, liobn, ioba, ret == H_SUCCESS ? a[0] : 0);
	return ret;
}

/*
 * H_PUT_TCE_INDIRECT with the list at @list: entry k is @e0 + k * @step,
 * written first when the list is the payload's (@list in RAM). The QEMU
 * model says whether the call is logged and what it returns; a call that
 * returns something else stops the payload (the model must be right for
 * the calls to stay describable).
 */
static long indirect(uint64_t liobn, uint64_t ioba, uint64_t list, uint64_t npages, uint64_t e0,
		     uint64_t step)
{
	struct win *w = table(liobn);
	bool traced = w && npages <= MAX_INDIRECT && !(list & 0xfff);
	uint64_t a[4] = { liobn, ioba, list, npages }, k = fits(w, ioba, npages);
	long want = traced && npages && k == npages ? H_SUCCESS : H_PARAMETER, ret;

	if (list + 8 * min_u64(npages, MAX_INDIRECT) <= ram_size) {
		uint64_t *l = (uint64_t *)(uintptr_t)list;

		for (uint64_t i = 0; i < min_u64(npages, MAX_INDIRECT); i++)
			l[i] = e0 + i * step;
	}
	ret = hcall(H_PUT_TCE_INDIRECT, a);
	RECORD('I', traced, ret, liobn, ioba, list, npages, e0, step);
	if (ret != want)
		fail("H_PUT_TCE_INDIRECT: QEMU disagrees with the payload's model", (uint64_t)ret);
	if (k)
		remember(liobn, ioba);
	return ret;
}

static long stuff(uint64_t liobn, uint64_t ioba, uint64_t value, uint64_t npages)
{
	struct win *w = table(liobn);
	bool traced = w && npages <= (w->enabled ? w->entries : 0);
	uint64_t a[4] = { liobn, ioba, value, npages }, k = fits(w, ioba, npages);
	long want = traced && npages && k == npages ? H_SUCCESS : H_PARAMETER, ret;

	ret = hcall(H_STUFF_TCE, a);
	RECORD('S', traced, ret, liobn, ioba, value, npages, w && w->enabled ? page_size(w) : 0);
	if (ret != want)
		fail("H_STUFF_TCE: QEMU disagrees with the payload's model", (uint64_t)ret);
	if (k)
		remember(liobn, ioba);
	return ret;
}

/* ---- the DDW RTAS calls ---- */

static uint32_t rtas_token(const struct phb *p, int which)
{
	/* A PHB without DDW: another PHB's token, so that the call reaches QEMU. */
	for (unsigned int i = 0; !p->tok_query && i < nphb; i++)
		if (phbs[i].tok_query)
			p = &phbs[i];
	return which == 0 ? p->tok_query : which == 1 ? p->tok_create :
	       which == 2 ? p->tok_remove : p->tok_reset;
}

static struct phb *phb_by_buid(uint64_t buid)
{
	for (unsigned int i = 0; i < nphb; i++)
		if (phbs[i].buid == buid)
			return &phbs[i];
	return NULL;
}

static int ddw_query(struct phb *p, uint64_t buid, uint32_t cfg, unsigned int nret)
{
	uint32_t args[3] = { cfg, (uint32_t)(buid >> 32), (uint32_t)buid }, rets[6] = { 0 };
	int st = rtas_call(rtas_token(p, 0), 3, args, nret, rets);

	RECORD('Q', st == 0, st, buid, cfg, nret, st == 0 ? rets[1] : 0,
	       st == 0 ? rets[nret == 6 ? 4 : 3] : 0);
	if (st == 0 && (!phb_by_buid(buid) || rets[1] != 2 - nwindows(phb_by_buid(buid))))
		fail("query: the payload's model has other windows", rets[1]);
	return st;
}

static int ddw_create(struct phb *p, uint64_t buid, uint32_t cfg, uint32_t pshift,
		      uint32_t wshift)
{
	uint32_t args[5] = { cfg, (uint32_t)(buid >> 32), (uint32_t)buid, pshift, wshift };
	uint32_t rets[4] = { 0 };
	int st = rtas_call(rtas_token(p, 1), 5, args, 4, rets);
	uint64_t start = (uint64_t)rets[2] << 32 | rets[3];

	RECORD('C', st == 0, st, buid, cfg, pshift, wshift, st == 0 ? rets[1] : 0,
	       st == 0 ? start : 0);
	if (st == 0) {
		struct phb *q = phb_by_buid(buid);
		struct win *w = table(rets[1]);

		if (!q || !w || w->phb != q || w->enabled)
			fail("create: QEMU made a window the payload's model does not expect",
			     rets[1]);
		w->enabled = true;
		w->bus_offset = start;
		w->shift = pshift;
		w->entries = 1ULL << (wshift - pshift);
	}
	return st;
}

/*
 * The default window's state is checked with H_GET_TCE on its first entry
 * after every remove and reset (a logged call like any other).
 */
static void probe_default(struct phb *p)
{
	struct win *w0 = &p->win[0];
	long ret = get(w0->liobn, w0->enabled ? w0->bus_offset : p->dma_win_addr);

	if ((ret == H_SUCCESS) != w0->enabled)
		fail("the default window is not as the payload's model says", w0->liobn);
}

static void default_window_on(struct phb *p)
{
	p->win[1].enabled = false;
	p->win[0] = (struct win){ .liobn = p->win[0].liobn, .enabled = true,
				  .bus_offset = p->dma_win_addr, .shift = 12,
				  .entries = p->dma_win_size >> 12, .phb = p };
}

static int ddw_remove(struct phb *p, uint32_t liobn)
{
	uint32_t args[1] = { liobn }, rets[1] = { 0 };
	int st = rtas_call(rtas_token(p, 2), 1, args, 1, rets);
	struct win *w = table(liobn);
	bool restored = false;

	if (st == 0) {
		if (!w || !w->phb || !w->enabled)
			fail("remove: QEMU removed a window the payload's model does not have", liobn);
		w->enabled = false;
		/*
		 * LoPAPR: removing the last window restores the default one
		 * unless it was the default window. QEMU keeps "default" as a
		 * flag of the table (def_win), set on the PHB's first table by
		 * every DMA reset and never cleared: a window created later in
		 * that table counts as the default one.
		 */
		if (!nwindows(w->phb) && w != &w->phb->win[0]) {
			default_window_on(w->phb);
			restored = true;
		}
	}
	RECORD('R', st == 0, st, liobn, restored);
	if (st == 0)
		probe_default(w->phb);
	return st;
}

static int ddw_reset(struct phb *p, uint64_t buid, uint32_t cfg)
{
	uint32_t args[3] = { cfg, (uint32_t)(buid >> 32), (uint32_t)buid }, rets[1] = { 0 };
	int st = rtas_call(rtas_token(p, 3), 3, args, 1, rets);

	RECORD('X', st == 0, st, buid, cfg);
	if (st == 0) {
		struct phb *q = phb_by_buid(buid);

		if (!q)
			fail("reset: QEMU reset a PHB the payload does not know", buid);
		default_window_on(q);
		probe_default(q);
	}
	return st;
}

/* ---- values ---- */

/* A LIOBN with no QEMU table: 32-bit ones that name nothing, and ones >= 2^32. */
static uint64_t bad_liobn(void)
{
	const struct win *w = random_window();
	uint64_t l;

	for (int tries = 0; tries < 64; tries++) {
		switch (below(12)) {
		case 0: l = 0; break;
		case 1: l = 1; break;
		case 2: l = 0x71000000; break;			/* the console: a VIO device without DMA */
		case 3: l = 0x71000001; break;			/* NVRAM */
		case 4: l = vio[0].liobn + 1 + below(4); break;
		case 5: l = 0x80000002 + below(0xfe); break;	/* PHB 0, no such window */
		case 6: l = 0x80000000 + (below(16) + 8) * 0x100; break; /* no such PHB */
		case 7: l = 0xffffffff; break;
		case 8: l = (uint32_t)rnd(); break;
		case 9: l = w->liobn | 1ULL << (32 + below(32)); break; /* a real LIOBN, high bit set */
		case 10: l = ~0ULL; break;
		default: l = rnd(); break;
		}
		if (!table(l) && (l >> 32 || !(nvio && l == vio[0].liobn)))
			return l;
	}
	return 0xdead0000;
}

/* Any LIOBN, mostly ones with a window. */
static uint64_t any_liobn(void)
{
	unsigned int r = (unsigned int)below(100);
	struct win *d;

	if (r < 65)
		return random_window()->liobn;
	if (r < 75 && (d = random_disabled_table()))
		return d->liobn;
	return bad_liobn();
}

/* An IOBA for @w: inside, at its edges, below, above, misaligned, absurd. */
static uint64_t pick_ioba(const struct win *w)
{
	uint64_t ps, b, e;

	if (!w || !w->enabled)
		w = random_window();
	ps = page_size(w);
	b = w->bus_offset;
	e = w->entries;
	switch (below(16)) {
	case 0: case 1: case 2: case 3: case 4: return b + below(e) * ps;
	case 5: return b + below(e) * ps + 1 + below(ps - 1);	/* misaligned, inside */
	case 6: return b;
	case 7: return b + (e - 1) * ps;
	case 8: return b + e * ps;				/* the first page after the window */
	case 9: return b + e * ps - 1 - below(ps);		/* inside the last page */
	case 10: return b - ps;					/* just below (wraps at 0) */
	case 11: return b - 1 - below(1ULL << 24);
	case 12: return b + e * ps + below(1ULL << 28) * ps;
	case 13: return rnd();
	case 14: return ~0ULL - below(ps);			/* the top page of the bus */
	default: return (b + below(e) * ps) ^ 1ULL << (32 + below(32));
	}
}

/* A TCE: valid ones, poison, reserved bits, high bits, memory that is not RAM. */
static uint64_t pick_tce(void)
{
	uint64_t gpa = below(ram_size) & ~0xfffULL, perm = below(4);

	switch (below(16)) {
	case 0: case 1: case 2: case 3: case 4: return gpa | perm;
	case 5: return 0;
	case 6: return gpa;				/* no R/W: an unmap that keeps an address */
	case 7: return gpa | (rnd() & 0xffc) | perm;	/* reserved low bits */
	case 8: return gpa | (rnd() & 0xfff0000000000000ULL) | perm;
	case 9: return (ram_size + below(1ULL << 40)) & ~0xfffULL; /* beyond RAM */
	case 10: return ((ram_size + below(1ULL << 40)) & ~0xfffULL) | 3;
	case 11: return ~0ULL;
	case 12: return rnd();
	case 13: return (gpa | 0x123000) | 3;	/* misaligned for 64K and 16M pages */
	default: return gpa | 3;
	}
}

static uint64_t pick_indirect_npages(void)
{
	switch (below(16)) {
	case 0: return 0;
	case 1: case 2: case 3: return 1;
	case 4: return 2;
	case 5: case 6: case 7: return 3 + below(14);
	case 8: case 9: case 10: case 11: return 1 + below(MAX_INDIRECT);
	case 12: return MAX_INDIRECT - 1;
	default: return MAX_INDIRECT;
	}
}

static uint64_t list_in_ram(void)
{
	if (chance(10))
		return ram_size - 4096; /* the last page of RAM */
	return (uint64_t)(uintptr_t)lists[next_list++ % NLISTS];
}

/*
 * A 4 KiB-aligned list address outside RAM (QEMU reads zeros there): just
 * past RAM, a few GiB up, the last page below 1 TiB, and far above it, up
 * to the top page of the 64-bit address space.
 */
static uint64_t list_outside_ram(void)
{
	switch (below(10)) {
	case 0: return ram_size;
	case 1: return ram_size + below(64) * 4096;
	case 2: return 2 * ram_size - 4096;
	case 3: return 4ULL << 30;
	case 4: return (64ULL << 30) + 8192;
	case 5: return (1ULL << 40) - 4096;
	case 6: return 1ULL << 40;
	case 7: return (1ULL << (41 + below(22))) + below(256) * 4096;
	case 8: return 1ULL << 63;
	default: return ~0ULL & ~4095ULL;
	}
}

/* ---- describable calls ---- */

static void observe(uint64_t liobn, uint64_t ioba)
{
	get(liobn, ioba);
}

/* GET the entries a call may have changed, and the ones around them. */
static void observe_range(const struct win *w, uint64_t ioba, uint64_t n)
{
	uint64_t ps;

	if (!w || !w->enabled)
		return;
	ps = page_size(w);
	ioba &= ~(ps - 1);
	get(w->liobn, ioba);
	if (n > 1)
		get(w->liobn, ioba + (n - 1) * ps);
	if (chance(50))
		get(w->liobn, ioba + n * ps);
	if (chance(30))
		get(w->liobn, ioba - ps);
}

/*
 * H_PUT_TCE_INDIRECT on a table QEMU has (enabled or not), made
 * describable: a list outside RAM has one entry or fails at its first; a
 * list that fails at its second entry does not have 0 there (the trace
 * would read as npages 0).
 */
static void gen_indirect(struct win *w, uint64_t ioba, uint64_t npages, bool outside)
{
	uint64_t list, e0 = pick_tce(), step, k;

	if (npages > MAX_INDIRECT)
		npages = MAX_INDIRECT;
	k = fits(w, ioba, npages);
	if (outside) {
		list = list_outside_ram();
		if (k && npages > 1)
			npages = 1;
		e0 = 0;
		step = 0;
	} else {
		list = list_in_ram();
		step = w->enabled ? page_size(w) : 4096;
		if (k == 1 && npages > 1 && e0 + step == 0)
			e0 += step;
	}
	indirect(w->liobn, ioba, list, npages, e0, step);
	observe_range(w, ioba, npages);
}

/*
 * H_STUFF_TCE on a table QEMU has, made describable: npages within the
 * table, and a call that would fail after its first entry is cut to fit
 * or moved outside the window.
 */
static void gen_stuff(struct win *w, uint64_t ioba, uint64_t npages, uint64_t value)
{
	uint64_t k, size = w->enabled ? w->entries : 0;

	if (npages > size)
		npages = size ? 1 + below(size) : 0;
	k = fits(w, ioba, npages);
	if (k && k < npages) {
		if (chance(50))
			npages = k;
		else
			ioba = w->bus_offset + w->entries * page_size(w) + below(16) * page_size(w);
	}
	stuff(w->liobn, ioba, value, npages);
	observe_range(w, ioba, npages);
}

static uint64_t pick_stuff_npages(const struct win *w)
{
	uint64_t e = w->enabled ? w->entries : 0;

	switch (below(12)) {
	case 0: return 0;
	case 1: case 2: return 1;
	case 3: case 4: return 2 + below(15);
	case 5: return 1 + below(MAX_INDIRECT);
	case 6: return MAX_INDIRECT;
	case 7: return MAX_INDIRECT + 1;
	case 8: return 1 + below(e);
	case 9: return e ? e - 1 : 0;
	case 10: return e;
	default: return 1 + below(64);
	}
}

static uint64_t pick_stuff_value(void)
{
	return chance(60) ? 0 : pick_tce();
}

static struct win *any_table(void)
{
	struct win *d;

	if (chance(85) || !(d = random_disabled_table()))
		return random_window();
	return d;
}

/* ---- the DDW calls, at random ---- */

static struct phb *ddw_phb(void)
{
	struct phb *cand[MAX_PHB];
	unsigned int n = 0;

	for (unsigned int i = 0; i < nphb; i++)
		if (phbs[i].tok_query)
			cand[n++] = &phbs[i];
	return n ? cand[below(n)] : NULL;
}

/* A page shift from QEMU's default mask (4K, 64K, 2M, 16M). */
static uint32_t good_page_shift(void)
{
	static const uint32_t s[4] = { 12, 16, 21, 24 };

	return s[below(4)];
}

static void random_rtas(struct phb *p)
{
	uint32_t cfg = chance(80) ? 0 : (uint32_t)rnd();
	uint32_t ps;

	switch (below(8)) {
	case 0:
		ddw_query(p, p->buid, cfg, chance(50) ? 6 : 5);
		break;
	case 1: case 2:
		if (nwindows(p) == 2)
			ddw_remove(p, (uint32_t)p->win[below(2)].liobn);
		ps = good_page_shift();
		ddw_create(p, p->buid, cfg, ps, ps + (uint32_t)below(DDW_MAX_ENTRIES_SHIFT + 1));
		break;
	case 3: case 4:
		if (nwindows(p)) {
			unsigned int w = p->win[0].enabled ? (p->win[1].enabled ? (unsigned int)below(2) : 0) : 1;

			ddw_remove(p, (uint32_t)p->win[w].liobn);
		}
		break;
	case 5:
		ddw_reset(p, p->buid, cfg);
		break;
	default:
		if (p->win[0].enabled)
			ddw_remove(p, (uint32_t)p->win[0].liobn); /* the default window */
		break;
	}
}

/* ---- phases ---- */

static void mark(const char *phase)
{
	con_puts("@@UCAP|MARK|");
	con_puts(phase);
	con_puts("|@@\n");
}

/* Valid calls on every window: the baseline the error paths are read against. */
static void phase_baseline(void)
{
	for (unsigned int i = 0; i < nenabled(); i++) {
		struct win *w = enabled_window(i);
		uint64_t ps = page_size(w), b = w->bus_offset, e = w->entries;
		uint64_t gpa = below(ram_size / 2) & ~0xfffULL;

		put(w->liobn, b, gpa | 3);
		put(w->liobn, b + (e - 1) * ps, gpa | 1);
		put(w->liobn, b + below(e) * ps, gpa | 2);
		observe(w->liobn, b);
		observe(w->liobn, b + (e - 1) * ps);
		indirect(w->liobn, b + 16 * ps, list_in_ram(), 16, gpa | 3, ps);
		observe_range(w, b + 16 * ps, 16);
		stuff(w->liobn, b + 16 * ps, 0, 16);
		observe_range(w, b + 16 * ps, 16);
		stuff(w->liobn, b, 0, min_u64(e, 512));
		observe_range(w, b, min_u64(e, 512));
	}
}

/* LIOBNs without a window: every call fails; INDIRECT and STUFF only where QEMU logs them. */
static void phase_liobn(void)
{
	for (int i = 0; i < 60; i++) {
		uint64_t l = bad_liobn();

		put(l, pick_ioba(NULL), pick_tce());
		get(l, pick_ioba(NULL));
	}
	for (int i = 0; i < 40; i++) {
		struct win *d = random_disabled_table();

		if (!d)
			break;
		put(d->liobn, pick_ioba(NULL), pick_tce());
		get(d->liobn, pick_ioba(NULL));
		gen_indirect(d, pick_ioba(NULL), pick_indirect_npages(), chance(20));
		stuff(d->liobn, pick_ioba(NULL), pick_stuff_value(), 0);
	}
}

/* Every window, IOBAs at and around its edges, all four hcalls. */
static void phase_ioba(void)
{
	for (unsigned int i = 0; i < nenabled(); i++) {
		struct win *w = enabled_window(i);

		for (int j = 0; j < 24; j++) {
			uint64_t ioba = pick_ioba(w);

			put(w->liobn, ioba, pick_tce());
			observe(w->liobn, ioba);
			get(w->liobn, pick_ioba(w));
			gen_indirect(w, pick_ioba(w), pick_indirect_npages(), false);
			gen_stuff(w, pick_ioba(w), pick_stuff_npages(w), pick_stuff_value());
		}
	}
}

/* TCE values QEMU stores as they are: reserved bits, poison, memory that is not RAM. */
static void phase_tce(void)
{
	for (int j = 0; j < 80; j++) {
		struct win *w = random_window();
		uint64_t ioba = w->bus_offset + below(w->entries) * page_size(w);

		put(w->liobn, ioba, pick_tce());
		observe(w->liobn, ioba);
		ioba = w->bus_offset + below(w->entries) * page_size(w);
		gen_indirect(w, ioba, 1 + below(8), false);
		ioba = w->bus_offset + below(w->entries) * page_size(w);
		gen_stuff(w, ioba, 1 + below(4), pick_tce());
	}
}

/* npages: 0, 1, the list's limit, the table's size, and across the window's end. */
static void phase_npages(void)
{
	static const uint64_t ind[] = { 0, 1, 2, 3, 16, 255, 256, 511, 512 };

	for (unsigned int i = 0; i < nenabled(); i++) {
		struct win *w = enabled_window(i);
		uint64_t ps = page_size(w), b = w->bus_offset, e = w->entries;

		for (unsigned int j = 0; j < sizeof(ind) / sizeof(ind[0]); j++) {
			gen_indirect(w, b + below(e) * ps, ind[j], false);
			/* across the end: fails at entry 1, 2, ... (QEMU keeps the ones before) */
			gen_indirect(w, b + (e - 1 - below(4)) * ps, ind[j], false);
		}
		gen_stuff(w, b, 0, 0);
		gen_stuff(w, b, 0, 1);
		gen_stuff(w, b, 0, min_u64(e, 512));
		gen_stuff(w, b, pick_tce(), min_u64(e, 513));
		gen_stuff(w, b, 0, e);
		gen_stuff(w, b + ps, 0, e - 1);
		gen_stuff(w, b + (e - 1) * ps, 0, 1);
		gen_stuff(w, b + e * ps, 0, 1);		/* outside: fails at once */
		gen_stuff(w, b - ps, 0, e);
	}
}

/* TCE lists at the last page of RAM and outside RAM. */
static void phase_lists(void)
{
	for (int j = 0; j < 40; j++) {
		struct win *w = any_table();
		uint64_t ioba = chance(70) ? w->bus_offset + below(w->entries) * page_size(w)
					   : pick_ioba(w);

		gen_indirect(w, ioba, chance(60) ? 1 : pick_indirect_npages(), chance(60));
	}
}

/* A few mappings on @w, valid and not, with their read-back. */
static void exercise(struct win *w, int n)
{
	for (int j = 0; j < n; j++) {
		uint64_t ioba = pick_ioba(w);

		put(w->liobn, ioba, pick_tce());
		observe(w->liobn, ioba);
		gen_indirect(w, pick_ioba(w), pick_indirect_npages(), chance(10));
		gen_stuff(w, pick_ioba(w), pick_stuff_npages(w), pick_stuff_value());
	}
}

/* Dynamic DMA windows: create, use, remove (the default one too), reset. */
static void phase_ddw(void)
{
	for (unsigned int i = 0; i < nphb; i++) {
		struct phb *p = &phbs[i];
		struct win *w;
		uint32_t ps;

		if (!p->tok_query)
			continue;
		ddw_query(p, p->buid, 0, 6);
		ddw_create(p, p->buid, 0, 16, 16 + 12);
		ddw_query(p, p->buid, 0, 5);
		exercise(&p->win[1], 12);
		ddw_remove(p, (uint32_t)p->win[1].liobn);
		/* The default window removed, as Linux does when it wants one big window. */
		ddw_remove(p, (uint32_t)p->win[0].liobn);
		ddw_query(p, p->buid, 0, 6);
		for (int j = 0; j < 2; j++) {
			ps = good_page_shift();
			ddw_create(p, p->buid, (uint32_t)below(0x10000), ps,
				   ps + (uint32_t)below(DDW_MAX_ENTRIES_SHIFT + 1));
		}
		for (unsigned int j = 0; j < 2; j++)
			if (p->win[j].enabled)
				exercise(&p->win[j], 8);
		/* the windows in both orders: the last one removed decides the restore */
		w = &p->win[below(2)];
		if (w->enabled)
			ddw_remove(p, (uint32_t)w->liobn);
		for (unsigned int j = 0; j < 2; j++)
			if (p->win[j].enabled)
				ddw_remove(p, (uint32_t)p->win[j].liobn);
		ddw_query(p, p->buid, 0, 6);
		ddw_reset(p, p->buid, 0);
		exercise(&p->win[0], 4);
		ps = good_page_shift();
		ddw_create(p, p->buid, 0, ps, ps + (uint32_t)below(DDW_MAX_ENTRIES_SHIFT + 1));
		ddw_remove(p, (uint32_t)p->win[0].liobn);
		ddw_remove(p, (uint32_t)p->win[1].liobn); /* the last, not default: restored */
		ddw_remove(p, (uint32_t)p->win[0].liobn);
		ps = good_page_shift();
		ddw_create(p, p->buid, 0, ps, ps + (uint32_t)below(DDW_MAX_ENTRIES_SHIFT + 1));
		for (unsigned int j = 0; j < 2; j++)
			if (p->win[j].enabled)
				exercise(&p->win[j], 4);
		ddw_reset(p, p->buid, (uint32_t)rnd());
	}
}

/*
 * Calls QEMU answers without logging them (marked t=0; the recorder checks
 * that none shows up), each followed by reads showing that nothing changed.
 */
static void phase_silent(void)
{
	struct phb *p = ddw_phb();

	for (int j = 0; j < 12; j++) {
		struct win *w = random_window();
		uint64_t ioba = w->bus_offset + below(w->entries) * page_size(w), l = bad_liobn();
		uint64_t list = list_in_ram(), e0 = pick_tce() | 3;
		static const uint64_t big[] = { MAX_INDIRECT + 1, 1000, 4096, 1ULL << 32,
						1ULL << 63, ~0ULL };

		indirect(l, ioba, list, 1 + below(16), e0, page_size(w));
		indirect(w->liobn, ioba, list, big[below(6)], e0, page_size(w));
		indirect(w->liobn, ioba, list + 8 * (1 + below(495)), 1 + below(16), e0,
			 page_size(w));
		stuff(l, ioba, pick_tce(), 1 + below(16));
		stuff(w->liobn, ioba, pick_tce(), w->entries + 1 + below(1ULL << 20));
		stuff(w->liobn, ioba, pick_tce(), ~0ULL - below(16));
		if (random_disabled_table())
			stuff(random_disabled_table()->liobn, ioba, 0, 1 + below(16));
		observe_range(w, ioba, 16);
	}
	if (!p)
		return;
	/* RTAS calls that fail: QEMU logs only successful ones. */
	ddw_query(p, p->buid + 0x100, 0, 6);		/* no such PHB */
	ddw_query(p, p->buid, 0, 4);			/* nret neither 5 nor 6 */
	ddw_create(p, p->buid, 0, 13, 20);		/* 8 KiB pages: not in the mask */
	ddw_create(p, p->buid, 0, 25, 30);		/* 32 MiB pages: not in QEMU's default mask */
	ddw_create(p, p->buid, 0, 16, 15);		/* a window smaller than a page */
	ddw_create(p, ~0ULL, 0, 16, 20);
	ddw_remove(p, 0x80000000 + 0x3000);		/* no such window */
	ddw_remove(p, (uint32_t)bad_liobn());
	if (!p->win[1].enabled)
		ddw_remove(p, (uint32_t)p->win[1].liobn);	/* a disabled table */
	ddw_reset(p, p->buid ^ 0x8000, 0);
	if (nwindows(p) < 2)
		ddw_create(p, p->buid, 0, 12, 20);
	if (nwindows(p) < 2)
		ddw_create(p, p->buid, 0, 12, 20);
	ddw_create(p, p->buid, 0, 16, 24);		/* both windows in use */
	observe_range(&p->win[0], p->win[0].bus_offset, 4);
	observe_range(&p->win[1], p->win[1].bus_offset, 4);
	ddw_reset(p, p->buid, 0);
}

/* The bulk: calls at random, most of them malformed. */
static void phase_random(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		unsigned int r = (unsigned int)below(100);
		struct win *w;
		struct phb *p;

		if (r < 22) {
			uint64_t l = any_liobn(), ioba = pick_ioba(table(l));

			put(l, ioba, pick_tce());
			if (chance(40))
				observe(l, ioba);
		} else if (r < 38) {
			uint64_t l = any_liobn();

			get(l, pick_ioba(table(l)));
		} else if (r < 62) {
			w = any_table();
			gen_indirect(w, pick_ioba(w), pick_indirect_npages(), chance(8));
		} else if (r < 84) {
			w = any_table();
			gen_stuff(w, pick_ioba(w), pick_stuff_npages(w), pick_stuff_value());
		} else if (r < 96) {
			unsigned int k = (unsigned int)below(min_u64(nrecent, NRECENT));

			if (nrecent)
				get(recent[k].liobn, recent[k].ioba);
		} else if ((p = ddw_phb())) {
			random_rtas(p);
		}
	}
}

void payload_main(uint64_t fdt)
{
	rng = payload_config.seed;
	machine_setup(fdt);
	con_puts("@@UCAP|INIT|uiommu QEMU-oracle payload seed=0x");
	con_hex(payload_config.seed);
	con_puts(" calls=");
	con_dec((int64_t)payload_config.calls);
	con_puts("|@@\n");

	mark("baseline");
	phase_baseline();
	mark("bad-liobn");
	phase_liobn();
	mark("bad-ioba");
	phase_ioba();
	mark("tce-values");
	phase_tce();
	mark("npages");
	phase_npages();
	mark("tce-lists");
	phase_lists();
	mark("ddw");
	phase_ddw();
	mark("silent");
	phase_silent();
	mark("random");
	phase_random(payload_config.calls);
	mark("end");
	con_puts("@@UCAP|END|ok|@@\n");
	power_off();
}
