// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fuzz driver: random request sequences on two VFIO containers sharing
 * four table groups and one address space's preregistered memory, through
 * the real <linux/vfio.h> UAPI, against a model written from the
 * documented semantics (uiommu/vfio.h, doc/design/vfio.md): the groups and
 * their order, each container's IOMMU type, enablement, default-window
 * state, windows (one flat array of user addresses per window) and
 * registrations, each region's used and mapped counts, and the locked
 * bytes every charge adds up to.
 *
 * The groups are the driver's own (a table group of the user, the library's
 * TCE tables underneath): two compatible with DDW, one without DDW, one of
 * another "platform"; each op can be made to fail once. A context fault
 * (heap, frames, pins) can be armed for the next request; then the request
 * may fail with -ENOMEM instead, and must leave the documented state (all
 * or nothing, or MAP's cleared prefix).
 *
 * Checked after every request: its return code (the model predicts every
 * one), the locked bytes, windows and regions charged, each container's
 * and region's counts, which groups are owned and what their windows hold,
 * and a sample of entries (TCE = hpa of the recorded user address); after
 * every input, every entry a MAP or UNMAP aimed at (no other can hold a
 * TCE, which the containers' and regions' TCE counts confirm), the
 * model's kept counts against its entries, and that nothing charged is
 * left.
 *
 * Input: 1 byte of limits, then 11-byte requests: op, container, group,
 * then 8 bytes of parameters (bit fields, see each request; 8 more for the
 * request a context fault is armed for).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>
#include <uiommu/uiommu.h>

#include "fuzz.h"
#include "vfio_group.h"

#define NC 2			/* containers */
#define NG 4			/* groups */
#define RAM_PAGES 64u		/* 64 KiB host pages of RAM */
#define PAGE (64u * 1024)
#define IT_MAX 8192u		/* entries a model window holds: the fuzzer's windows have no more */
#define TCE32 (16ULL << 20)	/* the groups' default window */
#define DDW_BASE (1ULL << 59)
/*
 * Requests per input, at most (the rest of a longer input is ignored): the
 * seeds take at most 53, and each request checks the whole state, so that
 * a longer input only makes libFuzzer slower per execution.
 */
#define MAX_STEPS 64u
#define RW (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)

/* The driver's table groups: tests/unit/vfio_group.h, whose ops fail on request. */
#define G_SIZE VT_GET_TABLE_SIZE
#define G_CREATE VT_CREATE_TABLE
#define G_SET VT_SET_WINDOW
#define G_TAKE VT_TAKE
#define G_RELEASE VT_RELEASE
typedef enum vt_op gop_t;

/* ---- the model ---- */

/* A window; its entries are in struct model's ua[][][] (a container copies cheaply). */
struct mwin {
	bool on;
	unsigned int shift;
	uint64_t bus, it_size, charge;
	uint64_t tces; /* entries with a TCE */
};

struct mcont {
	unsigned int type;
	bool enabled, pending, bound;
	uint64_t enable_charge;
	int core[NG], ncore;	/* VFIO's list, newest first */
	int tce[NG], ntce;	/* the IOMMU's list, newest first */
	struct mwin win[2];
};

struct mreg {
	bool live;
	uint64_t ua, size;
	unsigned int used, holders; /* holders: bitmask of containers */
	uint64_t mapped[NC];	    /* each v2 container's TCEs into it */
};

struct mgrp {
	int in;	      /* container, or -1 */
	bool owned, ddw;
	int cls;      /* create_table identity */
};

/* Entries a MAP or UNMAP aimed at (whatever its result): read back at the end. */
struct mrange {
	int c, w;
	uint64_t first, n;
};

struct model {
	struct mcont c[NC];
	struct mreg r[RAM_PAGES]; /* indexed by first page */
	struct mgrp g[NG];
	bool faulty;		  /* a context fault is armed for this request */
	unsigned int naimed;
	struct mrange aimed[MAX_STEPS];
	/*
	 * Each window's entries: the user address of its TCE, 0 for none.
	 * Only entries in aimed[] can be other than 0.
	 */
	uint64_t ua[NC][2][IT_MAX];
};

/* ---- fixed state kept across inputs ---- */

static struct uiommu_ctx *ctx;
static char *ram;
static uint64_t ram_hpa;
static struct uiommu_vfio_container *cont[NC];
static struct vt_group grp[NG];

static uint64_t rua(uint64_t page)
{
	return (uint64_t)(uintptr_t)ram + page * PAGE;
}

/* The live region holding user address @ua, or -1. */
FUZZ_UNTRACED
static int m_region_of(struct model *m, uint64_t ua)
{
	for (unsigned int i = 0; i < RAM_PAGES; i++)
		if (m->r[i].live && ua >= m->r[i].ua && ua < m->r[i].ua + m->r[i].size)
			return (int)i;
	return -1;
}

FUZZ_UNTRACED
static uint64_t m_locked(struct model *m)
{
	uint64_t sum = 0;

	for (int c = 0; c < NC; c++) {
		sum += m->c[c].enable_charge;
		for (int w = 0; w < 2; w++)
			sum += m->c[c].win[w].on ? m->c[c].win[w].charge : 0;
	}
	for (unsigned int i = 0; i < RAM_PAGES; i++)
		sum += m->r[i].live ? m->r[i].size : 0;
	return sum;
}

/*
 * The counts m_set() keeps, counted again from the entries: each
 * container's TCEs, and each region's from every v2 container (a v1
 * container pins its pages itself, as Linux's tce_iommu_build() does: its
 * TCEs into a registered range are not that region's mappings). Once per
 * input, over the aimed entries (only they can hold a TCE: m_set() is
 * called on no other); the checks after every request use the kept counts.
 */
FUZZ_UNTRACED
static void m_check_counts(struct model *m)
{
	uint64_t count[NC][RAM_PAGES] = { { 0 } }, tces[NC][2] = { { 0 } };
	uint64_t seen[NC][2][IT_MAX / 64] = { { { 0 } } };
	int owner[RAM_PAGES];

	for (unsigned int i = 0; i < RAM_PAGES; i++)
		owner[i] = -1;
	for (unsigned int i = 0; i < RAM_PAGES; i++)
		for (uint64_t k = 0; m->r[i].live && k < m->r[i].size / PAGE; k++)
			owner[(m->r[i].ua - rua(0)) / PAGE + k] = (int)i;
	for (unsigned int i = 0; i < m->naimed; i++) {
		int c = m->aimed[i].c, w = m->aimed[i].w;

		for (uint64_t e = m->aimed[i].first; e < m->aimed[i].first + m->aimed[i].n; e++) {
			uint64_t ua = m->ua[c][w][e];

			if (!ua || (seen[c][w][e / 64] & (1ULL << (e % 64))))
				continue;
			seen[c][w][e / 64] |= 1ULL << (e % 64);
			tces[c][w]++;
			if (m->c[c].type == VFIO_SPAPR_TCE_v2_IOMMU && ua >= rua(0) && ua < rua(RAM_PAGES) &&
			    owner[(ua - rua(0)) / PAGE] >= 0)
				count[c][owner[(ua - rua(0)) / PAGE]]++;
		}
	}
	for (int c = 0; c < NC; c++) {
		for (int w = 0; w < 2; w++)
			FUZZ_CHECK(tces[c][w] == m->c[c].win[w].tces && (m->c[c].win[w].on || !tces[c][w]),
				   "model: container %d window %d (on %d): %llu TCEs, kept %llu", c, w,
				   m->c[c].win[w].on, (unsigned long long)tces[c][w],
				   (unsigned long long)m->c[c].win[w].tces);
		for (unsigned int i = 0; i < RAM_PAGES; i++)
			FUZZ_CHECK(count[c][i] == (m->r[i].live ? m->r[i].mapped[c] : 0),
				   "model: region %u: %llu TCEs of container %d, kept %llu", i,
				   (unsigned long long)count[c][i], c, (unsigned long long)m->r[i].mapped[c]);
	}
}

/* The model for a new input: nothing anywhere (only aimed entries can hold a TCE). */
FUZZ_UNTRACED
static void m_reset(struct model *m)
{
	for (unsigned int i = 0; i < m->naimed; i++)
		memset(&m->ua[m->aimed[i].c][m->aimed[i].w][m->aimed[i].first], 0,
		       m->aimed[i].n * sizeof(uint64_t));
	memset(m, 0, offsetof(struct model, ua));
}

static int m_find_win(struct mcont *mc, uint64_t ioba)
{
	for (int w = 0; w < 2; w++)
		if (mc->win[w].on && ioba >= mc->win[w].bus &&
		    ioba - mc->win[w].bus < mc->win[w].it_size << mc->win[w].shift)
			return w;
	return -1;
}

static void m_list_del(int *list, int *n, int g)
{
	for (int i = 0; i < *n; i++)
		if (list[i] == g) {
			memmove(&list[i], &list[i + 1], (size_t)(*n - i - 1) * sizeof(int));
			(*n)--;
			return;
		}
}

static void m_list_push(int *list, int *n, int g)
{
	memmove(&list[1], &list[0], (size_t)*n * sizeof(int));
	list[0] = g;
	(*n)++;
}

/*
 * Entry @e of container @c's window @w now holds a TCE for user address
 * @ua (0: none). The counts follow: the window's, and for a v2 container
 * the region's the address is in (a v2 MAP takes only addresses of regions
 * the container holds, and a region lives as long as its TCEs do).
 */
FUZZ_UNTRACED
static void m_set(struct model *m, int c, int w, uint64_t e, uint64_t ua)
{
	uint64_t *slot = &m->ua[c][w][e];
	bool v2 = m->c[c].type == VFIO_SPAPR_TCE_v2_IOMMU;
	int r;

	if (*slot) {
		m->c[c].win[w].tces--;
		if (v2 && (r = m_region_of(m, *slot)) >= 0)
			m->r[r].mapped[c]--;
	}
	if (ua) {
		m->c[c].win[w].tces++;
		if (v2 && (r = m_region_of(m, ua)) >= 0)
			m->r[r].mapped[c]++;
	}
	*slot = ua;
}

/* Clear every entry of container @c's window @w. */
FUZZ_UNTRACED
static void m_clear_win(struct model *m, int c, int w)
{
	for (uint64_t e = 0; m->c[c].win[w].tces && e < IT_MAX; e++)
		if (m->ua[c][w][e])
			m_set(m, c, w, e, 0);
}

/* The IOMMU's release: windows freed, registrations dropped, the type forgotten. */
static void m_release(struct model *m, int c)
{
	struct mcont *mc = &m->c[c];

	for (int w = 0; w < 2; w++)
		mc->win[w].on = false, m_clear_win(m, c, w);
	for (unsigned int i = 0; i < RAM_PAGES; i++) {
		struct mreg *r = &m->r[i];

		if (r->live && (r->holders & (1u << c))) {
			r->holders &= ~(1u << c);
			if (!--r->used)
				r->live = false;
		}
	}
	mc->enable_charge = 0;
	mc->enabled = mc->pending = mc->bound = false;
	mc->type = 0;
}

/* Detach group @g from its container (tce_iommu_detach_group + release). */
static void m_detach(struct model *m, int g, bool release_fails)
{
	int c = m->g[g].in;
	struct mcont *mc = &m->c[c];
	bool attached = false;

	for (int i = 0; i < mc->ntce; i++)
		attached |= mc->tce[i] == g;
	if (attached) {
		m_list_del(mc->tce, &mc->ntce, g);
		for (int w = 0; w < 2; w++)
			if (mc->win[w].on)
				m_clear_win(m, c, w);
	}
	m_list_del(mc->core, &mc->ncore, g);
	m->g[g].in = -1;
	if (!release_fails)
		m->g[g].owned = false;
	if (!mc->ncore && mc->type)
		m_release(m, c);
}

/*
 * Predict the IOMMU's attach of @g to @c: 0, or the error. Setting each
 * window on the group is where a group failure bites.
 */
static int m_attach_check(struct model *m, int c, int g)
{
	struct mcont *mc = &m->c[c];

	if (mc->type == VFIO_SPAPR_TCE_v2_IOMMU && !m->g[g].ddw)
		return -EINVAL;
	if (mc->type == VFIO_SPAPR_TCE_IOMMU && mc->ntce)
		return -EBUSY;
	for (int i = 0; i < mc->ntce; i++)
		if (m->g[mc->tce[i]].cls != m->g[g].cls)
			return -EPERM;
	if (grp[g].fail[G_SET] && (mc->win[0].on || mc->win[1].on))
		return grp[g].fail[G_SET];
	return 0;
}

static void m_attach(struct model *m, int c, int g)
{
	struct mcont *mc = &m->c[c];

	if (!mc->ntce && !mc->win[0].on)
		mc->pending = true;
	m_list_push(mc->tce, &mc->ntce, g);
}

/*
 * Predict creating a window (tce_iommu_create_window()) on @c: the
 * result, and on success the window number and table charge.
 */
static uint64_t locked_limit;

static int m_create(struct model *m, int c, unsigned int shift, uint64_t size, unsigned int levels,
		    int *ret_num, uint64_t *ret_charge)
{
	struct mcont *mc = &m->c[c];
	int first = mc->tce[0], num = !mc->win[0].on ? 0 : !mc->win[1].on ? 1 : -1;
	uint64_t charge;

	if (num < 0)
		return -ENOSPC;
	if (shift > 63 || !(grp[first].grp.pgsizes & (1ULL << shift)))
		return -EINVAL;
	charge = uiommu_tce_table_size(16, shift, size, levels);
	if (grp[first].fail[G_SIZE] || !charge)
		return -EINVAL;
	if (m_locked(m) + charge > locked_limit)
		return -ENOMEM;
	if (grp[first].fail[G_CREATE])
		return grp[first].fail[G_CREATE];
	for (int i = 0; i < mc->ntce; i++)
		if (grp[mc->tce[i]].fail[G_SET])
			return grp[mc->tce[i]].fail[G_SET];
	*ret_num = num;
	*ret_charge = charge;
	return 0;
}

static void m_create_apply(struct model *m, int c, int num, unsigned int shift, uint64_t size,
			   uint64_t charge)
{
	struct mwin *w = &m->c[c].win[num];
	uint64_t pages = size >> shift;

	w->on = true;
	w->shift = shift;
	w->bus = num ? DDW_BASE : 0;
	w->it_size = pages > IT_MAX ? pages : IT_MAX; /* at least a 64 KiB host page of TCEs */
	w->charge = charge;
	m_clear_win(m, c, num);
}

/* ---- checks ---- */

static uint64_t usage(enum uiommu_resource r)
{
	uint64_t v = 0;

	uiommu_ctx_get_usage(ctx, r, &v);
	return v;
}

FUZZ_UNTRACED
static void check_entries(struct model *m, int c, int w, uint64_t first, uint64_t n)
{
	struct mwin *mw = &m->c[c].win[w];
	struct mcont *mc = &m->c[c];
	struct uiommu_tce_table *tbl;

	if (!mc->ntce)
		return;
	tbl = grp[mc->tce[0]].grp.tables[w];
	FUZZ_CHECK(tbl, "container %d window %d: no table on its first group", c, w);
	for (uint64_t e = first; e < first + n && e < mw->it_size; e++) {
		uint64_t entry = (mw->bus >> mw->shift) + e, tce = 0, ua = 0, hpa;

		uiommu_tce_table_get(tbl, entry, &tce);
		uiommu_tce_table_ua_get(tbl, entry, &ua);
		uint64_t want = m->ua[c][w][e];

		FUZZ_CHECK(ua == want, "container %d window %d entry %llu: ua 0x%llx, model 0x%llx",
			   c, w, (unsigned long long)e, (unsigned long long)ua,
			   (unsigned long long)want);
		hpa = want ? ram_hpa + (want - (uint64_t)(uintptr_t)ram) : 0;
		FUZZ_CHECK((tce & ~3ULL) == hpa && (!tce || (tce & 3)),
			   "container %d window %d entry %llu: TCE 0x%llx, hpa 0x%llx", c, w,
			   (unsigned long long)e, (unsigned long long)tce, (unsigned long long)hpa);
	}
}

FUZZ_UNTRACED
static void check_state(struct model *m, uint64_t sample)
{
	struct uiommu_mm *mm = uiommu_mm_current(ctx);
	uint64_t windows = 0, regions = 0;

	FUZZ_CHECK(usage(UIOMMU_RES_LOCKED_BYTES) == m_locked(m), "locked %llu, model %llu",
		   (unsigned long long)usage(UIOMMU_RES_LOCKED_BYTES),
		   (unsigned long long)m_locked(m));
	for (int c = 0; c < NC; c++) {
		struct uiommu_vfio_info info = { .size = sizeof(info) };
		struct mcont *mc = &m->c[c];

		FUZZ_CHECK(!uiommu_vfio_info(cont[c], &info), "info");
		FUZZ_CHECK(info.iommu_type == mc->type && info.ngroups == (uint32_t)mc->ncore,
			   "container %d: type %u groups %u, model %u %d", c, info.iommu_type,
			   info.ngroups, mc->type, mc->ncore);
		FUZZ_CHECK(!!(info.flags & UIOMMU_VFIO_INFO_ENABLED) == mc->enabled &&
			   !!(info.flags & UIOMMU_VFIO_INFO_DEF_WINDOW) == mc->pending &&
			   !!(info.flags & UIOMMU_VFIO_INFO_MM_BOUND) == mc->bound,
			   "container %d: flags 0x%x, model enabled %d pending %d bound %d", c,
			   info.flags, mc->enabled, mc->pending, mc->bound);
		FUZZ_CHECK(info.tces == mc->win[0].tces + mc->win[1].tces,
			   "container %d: %llu TCEs, model %llu", c, (unsigned long long)info.tces,
			   (unsigned long long)(mc->win[0].tces + mc->win[1].tces));
		for (int w = 0; w < 2; w++) {
			windows += mc->win[w].on;
			FUZZ_CHECK(!!info.windows[w].page_shift == mc->win[w].on &&
				   (!mc->win[w].on || (info.windows[w].start_addr == mc->win[w].bus &&
						       info.windows[w].page_shift == mc->win[w].shift)),
				   "container %d window %d", c, w);
			/* Every attached group has the container's table, nothing else. */
			for (int i = 0; i < mc->ntce; i++)
				FUZZ_CHECK(!!grp[mc->tce[i]].grp.tables[w] == mc->win[w].on &&
					   grp[mc->tce[i]].grp.tables[w] ==
						   grp[mc->tce[0]].grp.tables[w],
					   "group %d window %d", mc->tce[i], w);
			if (mc->win[w].on && sample != UINT64_MAX)
				check_entries(m, c, w, sample % mc->win[w].it_size, 16);
		}
	}
	for (int g = 0; g < NG; g++) {
		bool attached = false;

		if (m->g[g].in >= 0)
			for (int i = 0; i < m->c[m->g[g].in].ntce; i++)
				attached |= m->c[m->g[g].in].tce[i] == g;
		FUZZ_CHECK(grp[g].owned == m->g[g].owned, "group %d owned %d, model %d", g,
			   grp[g].owned, m->g[g].owned);
		if (!attached)
			FUZZ_CHECK(!grp[g].grp.tables[0] && !grp[g].grp.tables[1],
				   "group %d has a window outside a container", g);
	}
	FUZZ_CHECK(usage(UIOMMU_RES_WINDOWS) == windows, "windows %llu, model %llu",
		   (unsigned long long)usage(UIOMMU_RES_WINDOWS), (unsigned long long)windows);
	for (unsigned int i = 0; i < RAM_PAGES; i++) {
		struct uiommu_prereg_info info;
		struct uiommu_prereg *mem = NULL;
		struct mreg *r = &m->r[i];

		if (!r->live)
			continue;
		regions++;
		info = (struct uiommu_prereg_info){ .size = sizeof(info) };
		FUZZ_CHECK(!uiommu_prereg_get(mm, r->ua, r->size, &mem), "region %u not found", i);
		uiommu_prereg_info(mem, &info);
		uiommu_prereg_put(mem);
		FUZZ_CHECK(info.used == r->used + 1 && info.mapped == 1 + r->mapped[0] + r->mapped[1],
			   "region %u: used %llu mapped %llu, model %u %llu", i,
			   (unsigned long long)info.used - 1, (unsigned long long)info.mapped,
			   r->used, (unsigned long long)(1 + r->mapped[0] + r->mapped[1]));
	}
	FUZZ_CHECK(usage(UIOMMU_RES_PREREG_REGIONS) == regions, "regions %llu, model %llu",
		   (unsigned long long)usage(UIOMMU_RES_PREREG_REGIONS), (unsigned long long)regions);
}

/* ---- the requests ---- */

static int io_map(int c, uint64_t ua, uint64_t iova, uint64_t size, uint32_t flags)
{
	struct vfio_iommu_type1_dma_map p = { .argsz = sizeof(p), .flags = flags, .vaddr = ua,
					      .iova = iova, .size = size };

	return uiommu_vfio_ioctl(cont[c], VFIO_IOMMU_MAP_DMA, &p);
}

static int io_unmap(int c, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap p = { .argsz = sizeof(p), .iova = iova, .size = size };

	return uiommu_vfio_ioctl(cont[c], VFIO_IOMMU_UNMAP_DMA, &p);
}

static int io_reg(int c, unsigned long request, uint64_t ua, uint64_t size)
{
	struct vfio_iommu_spapr_register_memory p = { .argsz = sizeof(p), .vaddr = ua,
						      .size = size };

	return uiommu_vfio_ioctl(cont[c], request, &p);
}

static struct uiommu_vfio_info info_of(int c)
{
	struct uiommu_vfio_info info = { .size = sizeof(info) };

	uiommu_vfio_info(cont[c], &info);
	return info;
}

static bool logging;

#define CHECK_RESULT(got, want, what, ...)                                                 \
	do {                                                                               \
		if (logging)                                                               \
			fprintf(stderr, "  " what " = %d\n", __VA_ARGS__, (got));          \
		FUZZ_CHECK((got) == (want), what " = %d, model %d", __VA_ARGS__, (got), (want)); \
	} while (0)

/* After a request that failed with -ENOMEM under a fault: was the address space bound? */
static void m_resync_bound(struct model *m, int c)
{
	m->c[c].bound = info_of(c).flags & UIOMMU_VFIO_INFO_MM_BOUND;
}

/*
 * The pending default window, as MAP, UNMAP and CREATE make it first.
 * Applied to the model at once; *ret_made says whether it was (so that a
 * -ENOMEM under a fault can take it back if the library did not make it).
 */
static int m_default_window(struct model *m, int c, bool *ret_made)
{
	struct mcont *mc = &m->c[c];
	uint64_t charge = 0;
	int num = 0, ret;

	*ret_made = false;
	if (!mc->pending)
		return 0;
	ret = m_create(m, c, 12, grp[mc->tce[0]].grp.tce32_size, 1, &num, &charge);
	if (ret)
		return ret;
	m_create_apply(m, c, num, 12, grp[mc->tce[0]].grp.tce32_size, charge);
	mc->pending = false;
	*ret_made = true;
	return 0;
}

static void m_default_window_undo(struct model *m, int c)
{
	m->c[c].win[0].on = false;
	m->c[c].pending = true;
}

/* The library did not make the default window (a fault in it): undo the model's. */
static bool default_window_failed(struct model *m, int c, bool made)
{
	if (made && (info_of(c).flags & UIOMMU_VFIO_INFO_DEF_WINDOW)) {
		m_default_window_undo(m, c);
		return true;
	}
	return false;
}

static void req_set_container(struct model *m, int c, int g)
{
	struct mcont *mc = &m->c[c];
	bool release_fails = false;
	int want = 0, got;

	if (m->g[g].in >= 0)
		want = -EINVAL;
	else if (grp[g].fail[G_TAKE])
		want = grp[g].fail[G_TAKE];
	else if (m->g[g].owned)
		want = -EBUSY;
	else if (mc->type && (want = m_attach_check(m, c, g)))
		release_fails = grp[g].fail[G_RELEASE] != 0;
	got = uiommu_vfio_group_set_container(&grp[g].grp, cont[c]);
	if (m->faulty && got == -ENOMEM && m->g[g].in < 0 && want != -ENOMEM)
		return; /* the link, allocated before the checks, could not be: nothing happened */
	CHECK_RESULT(got, want, "SET_CONTAINER(g%d, c%d)", g, c);
	if (want) {
		if (release_fails)
			m->g[g].owned = true;
		return;
	}
	m_list_push(mc->core, &mc->ncore, g);
	m->g[g].in = c;
	m->g[g].owned = true;
	if (mc->type)
		m_attach(m, c, g);
}

static void req_unset_container(struct model *m, int g)
{
	int want = m->g[g].in < 0 ? -EINVAL : grp[g].fail[G_RELEASE];
	bool release_fails = want && m->g[g].in >= 0;
	int got = uiommu_vfio_group_unset_container(&grp[g].grp);

	CHECK_RESULT(got, want, "UNSET_CONTAINER(g%d)", g);
	if (m->g[g].in >= 0)
		m_detach(m, g, release_fails);
}

static void req_set_iommu(struct model *m, int c, uint64_t p)
{
	static const unsigned int types[] = { VFIO_SPAPR_TCE_v2_IOMMU, VFIO_SPAPR_TCE_IOMMU,
					      VFIO_SPAPR_TCE_v2_IOMMU, VFIO_TYPE1v2_IOMMU, VFIO_EEH };
	struct mcont *mc = &m->c[c], trial;
	unsigned int type = types[(p & 7) % 5];
	int want = 0, got;

	if (!mc->ncore || mc->type)
		want = -EINVAL;
	else if (type == VFIO_TYPE1v2_IOMMU)
		want = -ENODEV;
	else if (type == VFIO_EEH)
		want = -EINVAL;
	trial = *mc;
	if (!want) {
		/* Attach every group in VFIO's order, on a copy of the container. */
		struct mcont saved = *mc;

		mc->type = type;
		for (int i = 0; i < saved.ncore && !want; i++) {
			want = m_attach_check(m, c, saved.core[i]);
			if (!want)
				m_attach(m, c, saved.core[i]);
		}
		trial = *mc;
		*mc = saved;
	}
	got = uiommu_vfio_ioctl(cont[c], VFIO_SET_IOMMU, (unsigned long)type);
	CHECK_RESULT(got, want, "SET_IOMMU(c%d, %u)", c, type);
	if (!want)
		*mc = trial;
}

static void req_enable(struct model *m, int c, bool enable)
{
	struct mcont *mc = &m->c[c];
	int want = 0, got;
	bool binds = false;

	if (!mc->type)
		want = -EINVAL;
	else if (mc->type == VFIO_SPAPR_TCE_v2_IOMMU)
		want = -ENOTTY;
	else if (enable && mc->enabled)
		want = -EBUSY;
	else if (enable) {
		binds = true;
		if (m_locked(m) + TCE32 > locked_limit)
			want = -ENOMEM;
	}
	got = uiommu_vfio_ioctl(cont[c], enable ? VFIO_IOMMU_ENABLE : VFIO_IOMMU_DISABLE);
	if (binds)
		mc->bound = true;
	if (m->faulty && got == -ENOMEM && binds) {
		m_resync_bound(m, c);
		return;
	}
	CHECK_RESULT(got, want, "%s(c%d)", enable ? "ENABLE" : "DISABLE", c);
	if (!got && enable) {
		mc->enabled = true;
		mc->enable_charge = TCE32;
	} else if (!got && mc->enabled) {
		mc->enabled = false;
		mc->enable_charge = 0;
	}
}

static void req_register(struct model *m, int c, uint64_t p, bool reg)
{
	struct mcont *mc = &m->c[c];
	uint64_t page = p % RAM_PAGES, n = ((p >> 6) & 7) % 5, ua = rua(page), size = n * PAGE;
	int want = 0, got, exact = -1;

	if (((p >> 48) & 15) == 15)
		ua += 4096; /* misaligned */
	for (unsigned int i = 0; i < RAM_PAGES; i++)
		if (m->r[i].live && m->r[i].ua == ua && m->r[i].size == size)
			exact = (int)i;
	if (!mc->type)
		want = -EINVAL;
	else if (mc->type != VFIO_SPAPR_TCE_v2_IOMMU)
		want = -ENOTTY;
	else if (reg) {
		mc->bound = true; /* tce_iommu_mm_set() comes first */
		if ((ua & (PAGE - 1)) || !size)
			want = -EINVAL;
		else if (exact >= 0)
			want = m->r[exact].holders & (1u << c) ? -EBUSY : 0;
		else if (page + n > RAM_PAGES)
			want = -EFAULT;
		else if (m_locked(m) + size > locked_limit)
			want = -ENOMEM;
		else
			for (unsigned int i = 0; i < RAM_PAGES && !want; i++)
				if (m->r[i].live && ua < m->r[i].ua + m->r[i].size &&
				    m->r[i].ua < ua + size)
					want = -EINVAL;
	} else {
		if (!mc->bound)
			want = -EPERM;
		else if (ua & (PAGE - 1))
			want = -EINVAL;
		else if (exact < 0 || !(m->r[exact].holders & (1u << c)))
			want = -ENOENT;
		else if (m->r[exact].mapped[c])
			want = -EBUSY;
	}
	got = io_reg(c, reg ? VFIO_IOMMU_SPAPR_REGISTER_MEMORY : VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY,
		     ua, size);
	if (m->faulty && got == -ENOMEM && (!want || want == -EINVAL || want == -EFAULT)) {
		m_resync_bound(m, c);
		return; /* all or nothing */
	}
	CHECK_RESULT(got, want, "%s(c%d, page %llu, %llu pages)", reg ? "REGISTER" : "UNREGISTER",
		     c, (unsigned long long)page, (unsigned long long)n);
	if (got)
		return;
	if (reg && exact >= 0) {
		m->r[exact].used++;
		m->r[exact].holders |= 1u << c;
	} else if (reg) {
		m->r[page] = (struct mreg){ .live = true, .ua = ua, .size = size, .used = 1,
					    .holders = 1u << c };
	} else {
		m->r[exact].holders &= ~(1u << c);
		if (!--m->r[exact].used)
			m->r[exact].live = false;
	}
	if (reg)
		mc->enabled = true;
}

static void req_create(struct model *m, int c, uint64_t p)
{
	static const unsigned int shifts[] = { 12, 16, 16, 24, 13 };
	struct mcont *mc = &m->c[c];
	unsigned int shift = shifts[(p & 7) % 5], k = (unsigned int)(((p >> 3) & 15) % 14);
	unsigned int levels = (unsigned int)(((p >> 7) & 7) % 6);
	uint64_t size = 1ULL << (shift + k), start = 0, charge = 0;
	struct vfio_iommu_spapr_tce_create cr = { .argsz = sizeof(cr), .page_shift = shift,
						  .window_size = size, .levels = levels };
	int want = 0, got, num = -1;
	bool made = false;

	if (k == 13 && shift == 24)
		size = 3ULL << 24; /* not a power of two */
	cr.window_size = size;
	if (!mc->type)
		want = -EINVAL;
	else if (mc->type != VFIO_SPAPR_TCE_v2_IOMMU)
		want = -ENOTTY;
	else {
		mc->bound = true;
		want = m_default_window(m, c, &made);
		if (!want)
			want = m_create(m, c, shift, size, levels, &num, &charge);
	}
	got = uiommu_vfio_ioctl(cont[c], VFIO_IOMMU_SPAPR_TCE_CREATE, &cr);
	start = cr.start_addr;
	if (m->faulty && got == -ENOMEM && want != -ENOMEM) {
		m_resync_bound(m, c);
		default_window_failed(m, c, made);
		return;
	}
	CHECK_RESULT(got, want, "TCE_CREATE(c%d, %u, 0x%llx, %u)", c, shift,
		     (unsigned long long)size, levels);
	if (got)
		return;
	FUZZ_CHECK(start == (num ? DDW_BASE : 0), "TCE_CREATE start 0x%llx",
		   (unsigned long long)start);
	m_create_apply(m, c, num, shift, size, charge);
}

static void req_remove(struct model *m, int c, uint64_t p)
{
	struct mcont *mc = &m->c[c];
	uint64_t addr;
	int want = 0, got, w = -1;

	switch (p % 4) {
	case 0:
		addr = 0;
		break;
	case 1:
		addr = DDW_BASE;
		break;
	case 2:
		addr = ((p >> 2) & (IT_MAX - 1)) << 12; /* inside window 0, maybe */
		break;
	default:
		addr = 1ULL << 40;
	}
	if (!mc->type)
		want = -EINVAL;
	else if (mc->type != VFIO_SPAPR_TCE_v2_IOMMU)
		want = -ENOTTY;
	else {
		mc->bound = true;
		if (!(mc->pending && !addr)) {
			w = m_find_win(mc, addr);
			if (w < 0)
				want = -EINVAL;
		}
	}
	got = uiommu_vfio_remove_window(cont[c], addr);
	if (m->faulty && got == -ENOMEM) {
		m_resync_bound(m, c);
		return;
	}
	CHECK_RESULT(got, want, "TCE_REMOVE(c%d, 0x%llx)", c, (unsigned long long)addr);
	if (got)
		return;
	if (w < 0) {
		mc->pending = false;
	} else {
		mc->win[w].on = false;
		m_clear_win(m, c, w);
	}
}

/*
 * Where a MAP or UNMAP lands, in Linux's order after the default window:
 * the window (-ENXIO), the size's and the user address's alignment, then
 * the direction, size 0 and the range (-EINVAL).
 */
static int m_dma_window(struct mcont *mc, uint64_t iova, uint64_t size, uint64_t ua, bool map,
			uint32_t flags, int *ret_w)
{
	int w = m_find_win(mc, iova);
	uint64_t page, e;

	if (w < 0)
		return -ENXIO;
	page = 1ULL << mc->win[w].shift;
	if ((size & (page - 1)) || (map && (ua & (page - 1))))
		return -EINVAL;
	if ((map && !(flags & RW)) || !size || (map && ua + size < ua))
		return -EINVAL;
	e = (iova - mc->win[w].bus) >> mc->win[w].shift;
	if ((iova & (page - 1)) || e + (size >> mc->win[w].shift) > mc->win[w].it_size)
		return -EINVAL;
	*ret_w = w;
	return 0;
}

static void req_map(struct model *m, int c, uint64_t p, bool map)
{
	struct mcont *mc = &m->c[c];
	uint64_t npages = 1 + ((p >> 1) & 31), first = (p >> 10) % IT_MAX, ua, iova, size, shift;
	uint32_t flags = (p >> 6) & 3;
	int want = 0, got, w = -1, wsel = p & 1;
	bool made = false;

	if (((p >> 56) & 15) == 15)
		flags |= 4; /* an unknown flag */
	if (((p >> 60) & 15) == 15)
		first = IT_MAX - 1; /* runs past the end */
	if (!mc->type)
		want = -EINVAL;
	else if (!mc->enabled)
		want = -EPERM;
	else if (map && (flags & ~RW))
		want = -EINVAL;
	else
		want = m_default_window(m, c, &made);
	/* The window the request aims at, as it is now. */
	if (!mc->win[wsel].on)
		wsel = !wsel;
	shift = mc->win[wsel].on ? mc->win[wsel].shift : 12;
	iova = (mc->win[wsel].on ? mc->win[wsel].bus : 0) + (first << shift);
	ua = rua((p >> 28) % RAM_PAGES) + (shift == 12 ? ((p >> 34) & 15) << 12 : 0);
	if (((p >> 40) & 15) == 15)
		ua = (uint64_t)(uintptr_t)&locked_limit & ~0xfffULL; /* not memory the model knows */
	size = npages << shift;
	if (((p >> 44) & 15) == 15)
		size += 4096; /* not a multiple of a 64 KiB page */
	if (mc->win[wsel].on && m->naimed < MAX_STEPS) {
		uint64_t n = (size + (1ULL << shift) - 1) >> shift;

		m->aimed[m->naimed++] = (struct mrange){ c, wsel, first,
							 first + n > IT_MAX ? IT_MAX - first : n };
	}
	if (!want)
		want = m_dma_window(mc, iova, size, ua, map, flags, &w);
	if (!want && map) {
		uint64_t ps = mc->win[w].shift;

		for (uint64_t i = 0; i < (size >> ps) && !want; i++) {
			uint64_t a = ua + (i << ps);
			int ri = m_region_of(m, a);

			if (mc->type == VFIO_SPAPR_TCE_v2_IOMMU)
				want = ri < 0 || !(m->r[ri].holders & (1u << c)) || ps > 16 ||
						       a + (1ULL << ps) > m->r[ri].ua + m->r[ri].size
					       ? -EINVAL : 0;
			else if (a < rua(0) || a >= rua(RAM_PAGES))
				want = -EFAULT;
		}
	}
	got = map ? io_map(c, ua, iova, size, flags) : io_unmap(c, iova, size);
	if (m->faulty && got == -ENOMEM && want != -ENOMEM) {
		struct mwin *mw;
		struct uiommu_tce_table *tbl;
		uint64_t e0, n;
		bool cleared = true;

		if (default_window_failed(m, c, made) || want || !map)
			return;
		/* A level or a pin failed: a prefix of the range was mapped and cleared. */
		mw = &mc->win[w];
		tbl = grp[mc->tce[0]].grp.tables[w];
		e0 = (iova - mw->bus) >> mw->shift;
		n = size >> mw->shift;
		for (uint64_t i = 0; i < n; i++) {
			uint64_t now = 0;

			uiommu_tce_table_ua_get(tbl, (mw->bus >> mw->shift) + e0 + i, &now);
			cleared = cleared && !now;
			FUZZ_CHECK(cleared ? !now : now == m->ua[c][w][e0 + i],
				   "MAP -ENOMEM: entry %llu neither cleared nor kept",
				   (unsigned long long)(e0 + i));
			m_set(m, c, w, e0 + i, now);
		}
		return;
	}
	CHECK_RESULT(got, want, "%s(c%d, ua +0x%llx, iova 0x%llx, 0x%llx, %u)",
		     map ? "MAP" : "UNMAP", c, (unsigned long long)(ua - rua(0)),
		     (unsigned long long)iova, (unsigned long long)size, flags);
	if (!got) {
		struct mwin *mw = &mc->win[w];
		uint64_t e0 = (iova - mw->bus) >> mw->shift;

		for (uint64_t i = 0; i < (size >> mw->shift); i++)
			m_set(m, c, w, e0 + i, map ? ua + (i << mw->shift) : 0);
	}
}

static void req_get_info(struct model *m, int c, uint64_t p)
{
	struct mcont *mc = &m->c[c];
	struct vfio_iommu_spapr_tce_info info;
	int want = mc->type ? 0 : -EINVAL, got;

	memset(&info, 0xa5, sizeof(info));
	info.argsz = (p & 1) ? 16 : (p & 2) ? 12 : sizeof(info);
	if (!want && info.argsz < 16)
		want = -EINVAL;
	got = uiommu_vfio_ioctl(cont[c], VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info);
	CHECK_RESULT(got, want, "GET_INFO(c%d)", c);
	if (got)
		return;
	FUZZ_CHECK(info.dma32_window_size == TCE32 && info.dma32_window_start == 0, "GET_INFO 32");
	if (info.argsz == 16)
		FUZZ_CHECK(info.ddw.levels == 0xa5a5a5a5u, "GET_INFO wrote past argsz");
	else if (mc->type == VFIO_SPAPR_TCE_v2_IOMMU && grp[mc->tce[0]].grp.max_dynamic_windows_supported)
		FUZZ_CHECK(info.flags == VFIO_IOMMU_SPAPR_INFO_DDW && info.ddw.levels == 5,
			   "GET_INFO DDW");
	else
		FUZZ_CHECK(info.flags == 0 && info.ddw.levels == 0, "GET_INFO v1");
}

/* Free a container (its groups leave, the IOMMU is released) and make a new one. */
static void req_free(struct model *m, int c)
{
	struct mcont *mc = &m->c[c];
	int want = 0, got;

	for (int i = 0; i < mc->ncore; i++)
		if (!want && grp[mc->core[i]].fail[G_RELEASE])
			want = grp[mc->core[i]].fail[G_RELEASE];
	while (mc->ncore) {
		int g = mc->core[0];

		m_detach(m, g, grp[g].fail[G_RELEASE] != 0);
	}
	got = uiommu_vfio_container_free(cont[c]);
	CHECK_RESULT(got, want, "container_free(c%d)", c);
	uiommu_ctx_inject_fault(ctx, 0, 0);
	FUZZ_CHECK(!uiommu_vfio_container_new(ctx, &cont[c]), "container_new");
	memset(mc, 0, sizeof(*mc));
}

/* ---- the driver ---- */

static void fuzz_log(void *opaque, enum uiommu_log_level level, const char *msg)
{
	(void)opaque;
	fprintf(stderr, "uiommu[%d]: %s\n", level, msg);
}

static void setup(void)
{
	struct uiommu_ctx_config cfg = { .size = sizeof(cfg), .flags = UIOMMU_CTX_PIN_SIMULATE,
					 .host_page_shift = 16 };
	char *reserve;
	int fd;

	FUZZ_CHECK(!uiommu_ctx_new(&cfg, &ctx), "ctx_new");
	uiommu_ctx_set_guest_log_ratelimit(ctx, 0, 1000000000ULL);
	/* UIOMMU_FUZZ_LOG=1: the library's messages and every request, to read a failure. */
	logging = getenv("UIOMMU_FUZZ_LOG") != NULL;
	if (logging) {
		uiommu_ctx_set_log(ctx, fuzz_log, NULL, UIOMMU_LOG_DEBUG);
		uiommu_ctx_set_guest_log_ratelimit(ctx, 1000000, 1000000000ULL);
	}
	fd = memfd_create("uiommu-fuzz-vfio", MFD_CLOEXEC);
	FUZZ_CHECK(fd >= 0 && !ftruncate(fd, RAM_PAGES * PAGE), "memfd");
	reserve = mmap(NULL, 2 * RAM_PAGES * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	FUZZ_CHECK(reserve != MAP_FAILED, "mmap");
	ram = (char *)(((uintptr_t)reserve + RAM_PAGES * PAGE - 1) &
		       ~(uintptr_t)(RAM_PAGES * PAGE - 1));
	FUZZ_CHECK(mmap(ram, RAM_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
			0) == ram, "mmap");
	FUZZ_CHECK(!uiommu_ram_add(ctx, fd, 0, RAM_PAGES * PAGE, ram, &ram_hpa), "ram_add");
	close(fd);
	for (int g = 0; g < NG; g++) {
		FUZZ_CHECK(!uiommu_table_group_init(&grp[g].grp, ctx, g == 3 ? &vt_ops_other : &vt_ops,
						    1, (uint32_t)g), "group");
		grp[g].grp.tce32_size = TCE32;
		grp[g].grp.pgsizes = (1ULL << 12) | (1ULL << 16) | (1ULL << 24);
		grp[g].grp.max_dynamic_windows_supported = g == 2 ? 0 : 2;
		grp[g].grp.max_levels = 5;
	}
}

int fuzz_vfio(const uint8_t *data, size_t size)
{
	static const uint64_t limits[] = { 1ULL << 30, 18ULL << 20, 2ULL << 20, 1ULL << 30 };
	static const int errs[] = { -EIO, -ENOMEM, -ENOSPC, -EBUSY };
	static const gop_t failable[] = { G_SIZE, G_CREATE, G_SET, G_TAKE, G_RELEASE };
	struct fuzz_input in = { data, size, 0 };
	static struct model m;
	unsigned int steps = 0;

	if (!ctx)
		setup();
	m_reset(&m);
	for (int g = 0; g < NG; g++) {
		m.g[g] = (struct mgrp){ .in = -1, .ddw = g != 2, .cls = g == 3 };
		memset(grp[g].fail, 0, sizeof(grp[g].fail));
		memset(grp[g].skip, 0, sizeof(grp[g].skip));
	}
	locked_limit = limits[fuzz_take(&in, 1) % 4];
	uiommu_ctx_set_limit(ctx, UIOMMU_RES_LOCKED_BYTES, locked_limit);
	for (int c = 0; c < NC; c++)
		FUZZ_CHECK(!uiommu_vfio_container_new(ctx, &cont[c]), "container_new");

	while (!fuzz_done(&in) && steps++ < MAX_STEPS) {
		unsigned int op = (unsigned int)fuzz_take(&in, 1) % 18;
		int c = (int)(fuzz_take(&in, 1) % NC), g = (int)(fuzz_take(&in, 1) % NG);
		uint64_t p = fuzz_take(&in, 8);

		m.faulty = false;
		if (logging)
			fprintf(stderr, "step %u: op %u c%d g%d p 0x%llx\n", steps, op, c, g,
				(unsigned long long)p);
		switch (op) {
		case 0:
		case 1:
			req_set_container(&m, c, g);
			break;
		case 2:
			req_unset_container(&m, g);
			break;
		case 3:
			req_set_iommu(&m, c, p);
			break;
		case 4:
			req_enable(&m, c, !(p & 1));
			break;
		case 5:
		case 6:
			req_register(&m, c, p, true);
			break;
		case 7:
			req_register(&m, c, p, false);
			break;
		case 8:
			req_create(&m, c, p);
			break;
		case 9:
			req_remove(&m, c, p);
			break;
		case 10:
		case 11:
		case 12:
			req_map(&m, c, p, true);
			break;
		case 13:
			req_map(&m, c, p, false);
			break;
		case 14:
			req_get_info(&m, c, p);
			break;
		case 15: /* a group op fails once */
			grp[g].fail[failable[(p & 7) % 5]] = errs[(p >> 3) & 3];
			break;
		case 16: { /* a context fault for the next request, then that request */
			unsigned int next = (unsigned int)((p >> 8) & 31) % 18;
			uint64_t p2 = fuzz_take(&in, 8);

			uiommu_ctx_inject_fault(ctx, 1 + (p % 8), UIOMMU_FAULT_ALL);
			m.faulty = true;
			if (next >= 10 && next <= 12)
				req_map(&m, c, p2, true);
			else if (next == 5 || next == 6)
				req_register(&m, c, p2, true);
			else if (next == 8)
				req_create(&m, c, p2);
			else if (next == 0)
				req_set_container(&m, c, g);
			else
				req_enable(&m, c, true);
			uiommu_ctx_inject_fault(ctx, 0, 0);
			break;
		}
		default:
			if (p & 1) {
				req_free(&m, c);
			} else if (m.g[g].owned && m.g[g].in < 0) {
				/* A group a failed release left owned: give it back by hand. */
				int want = grp[g].fail[G_RELEASE];

				FUZZ_CHECK(uiommu_table_group_release_ownership(&grp[g].grp) == want,
					   "release of a stuck group");
				m.g[g].owned = want != 0;
			}
		}
		check_state(&m, p >> 11);
	}

	/*
	 * Every entry a MAP or UNMAP aimed at (the others hold no TCE, which
	 * the containers' and regions' TCE counts, checked after every
	 * request, confirm), the model's kept counts, then everything down.
	 */
	for (unsigned int i = 0; i < m.naimed; i++)
		if (m.c[m.aimed[i].c].win[m.aimed[i].w].on)
			check_entries(&m, m.aimed[i].c, m.aimed[i].w, m.aimed[i].first, m.aimed[i].n);
	m_check_counts(&m);
	for (int g = 0; g < NG; g++)
		memset(grp[g].fail, 0, sizeof(grp[g].fail));
	for (int c = 0; c < NC; c++)
		FUZZ_CHECK(!uiommu_vfio_container_free(cont[c]), "container_free");
	for (int g = 0; g < NG; g++) {
		if (grp[g].owned)
			FUZZ_CHECK(!uiommu_table_group_release_ownership(&grp[g].grp), "release");
		FUZZ_CHECK(!grp[g].owned && !grp[g].grp.tables[0] && !grp[g].grp.tables[1],
			   "group %d left set", g);
	}
	/*
	 * The deferred frees too, now: else every input ends with more mallocs
	 * than frees, and libFuzzer runs it again under a leak check.
	 */
	rcu_wait_callbacks();
	FUZZ_CHECK(!usage(UIOMMU_RES_LOCKED_BYTES) && !usage(UIOMMU_RES_WINDOWS) &&
		   !usage(UIOMMU_RES_TABLE_BYTES) && !usage(UIOMMU_RES_PREREG_REGIONS) &&
		   !usage(UIOMMU_RES_VFIO_CONTAINERS),
		   "left: locked %llu, windows %llu, regions %llu",
		   (unsigned long long)usage(UIOMMU_RES_LOCKED_BYTES),
		   (unsigned long long)usage(UIOMMU_RES_WINDOWS),
		   (unsigned long long)usage(UIOMMU_RES_PREREG_REGIONS));
	return 0;
}
