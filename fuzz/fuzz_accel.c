// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fuzz driver: the accelerated hypercalls (uiommu/accel.h). A guest LIOBN
 * with a VFIO container's host table attached takes a stream of H_PUT_TCE,
 * H_PUT_TCE_INDIRECT, H_STUFF_TCE and H_GET_TCE, in either profile, over
 * every page-size pairing (4K/4K, 64K/64K, 64K over 4K, 16M over 64K) and
 * one- or two-level host tables; each hypercall goes to the fast path and,
 * when it answers UIOMMU_H_TOO_HARD, to the VMM path, as a VMM does. Faults
 * are injected in the fast path at random points (UIOMMU_FAULT_HCALL), the
 * table is detached and attached again, a second group joins and leaves,
 * and the container unmaps on its own.
 *
 * The model is the one function both paths must compute: the profile's
 * rules (KVM's, and QEMU's where KVM hands the hypercall to the VMM for a
 * reason of its own), then each entry written is mapped in the host table
 * if its page is in the memory the container registered (fanned out to
 * host pages, write stored as read-write), else left empty (the view
 * keeps the TCE, as QEMU's). Whether the fast path finished, or stopped
 * anywhere and the VMM path redid it, must not show.
 *
 * Checked after every step: the code (and GET's value), every guest-view
 * entry, every host entry and its user address, the region's mapped
 * count, the container's TCE count and the locked bytes. After every
 * input: every charge back where it was.
 *
 * Input: byte 0 picks the profile, the page sizes and the levels; then
 * up to MAX_OPS 8-byte operations: op, LIOBN choice, 2 bytes of entry
 * choice, TCE kind, npages, list choice, fault choice.
 */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uiommu/uiommu.h>

#include "fuzz.h"

#include "internal.h"

#define MiB (1ULL << 20)
#define RAM_SIZE (32 * MiB)	/* registered, at gpa 0 */
#define RAM2_GPA (1ULL << 30)
#define RAM2_SIZE (16 * MiB)	/* guest memory the container did not register */
#define LIOBN 0x80000001ULL
#define BUS 0ULL /* the container's first window */
#define LIST_GPA (RAM_SIZE - 8192)
#define RW 3ULL
#define MAXG 32			/* guest entries, at most */
#define MAXH 1024		/* host entries, at most */
/*
 * Operations per input, at most (the rest of a longer input is ignored):
 * every state a longer input reaches is a few dozen operations from empty,
 * and each operation checks the whole state, so that a long input only
 * makes libFuzzer slower per execution. The seeds were 40 operations
 * long and are cut into pieces of 16, which reach every library edge the
 * long ones did, and more (each piece starts from empty).
 */
#define MAX_OPS 16

static const struct { unsigned int g, h, entries; } geos[4] = {
	{ 12, 12, 32 }, { 16, 16, 32 }, { 16, 12, 16 }, { 24, 16, 4 },
};

struct env {
	struct uiommu_ctx *ctx;
	char *ram, *ram2;
	uint64_t ram_hpa;
	struct uiommu_phb *phb;
};

struct model {
	bool kvm;
	unsigned int g, h, sub;	  /* page shifts; sub = g - h */
	uint64_t n;		  /* guest entries */
	uint64_t view[MAXG];
	uint64_t *host;		  /* host TCE (hpa | perm) per host entry */
	uint64_t tces;		  /* host entries not 0 (kept as they change) */
	bool links[2];		  /* groups attached */
};

struct fuzz_accel_stats fuzz_accel_stats;
#define stats fuzz_accel_stats

static bool attached(const struct model *m)
{
	return m->links[0] || m->links[1];
}

/* ---- the model ---- */

static bool in_mem(uint64_t gpa, uint64_t len)
{
	return (gpa < RAM_SIZE && len <= RAM_SIZE - gpa) ||
	       (gpa >= RAM2_GPA && gpa - RAM2_GPA < RAM2_SIZE && len <= RAM2_SIZE - (gpa - RAM2_GPA));
}

static uint64_t mem_read_be(const struct env *e, uint64_t gpa)
{
	uint64_t v;

	memcpy(&v, gpa < RAM_SIZE ? e->ram + gpa : e->ram2 + (gpa - RAM2_GPA), 8);
	return be64toh(v);
}

/* Host entry @k becomes @tce. */
FUZZ_UNTRACED
static void m_host_set(struct model *m, uint64_t k, uint64_t tce)
{
	m->tces += (tce != 0) - (m->host[k] != 0);
	m->host[k] = tce;
}

/* Host entries of guest entry @i after @tce is written there: false if it cannot be mapped. */
FUZZ_UNTRACED
static bool m_host_write(const struct env *e, struct model *m, uint64_t i, uint64_t tce)
{
	uint64_t gsize = 1ULL << m->g, gpa = tce & ~(gsize - 1), k0 = i << m->sub;
	bool ok = !(tce & RW) || gpa + gsize <= RAM_SIZE;

	if (!attached(m))
		return true; /* no table to tell */
	for (uint64_t k = 0; k < (1ULL << m->sub); k++) {
		uint64_t perm = (tce & 2) ? RW : 1;

		m_host_set(m, k0 + k, ((tce & RW) && ok) ? (e->ram_hpa + gpa + (k << m->h)) | perm : 0);
	}
	return ok;
}

/* Entries [i, i + n) written with @tces (or @value): the view and the tables; returns @ret. */
FUZZ_UNTRACED
static long m_commit(const struct env *e, struct model *m, uint64_t i, uint64_t n,
		     const uint64_t *tces, uint64_t value, long ret)
{
	for (uint64_t k = 0; k < n; k++) {
		uint64_t tce = tces ? tces[k] : value;

		m->view[i + k] = tce;
		stats.unmappable += !m_host_write(e, m, i + k, tce);
	}
	return ret;
}

/* The index of @ioba by QEMU's rules (masked, unsigned): m->n or more if outside. */
static uint64_t qemu_idx(const struct model *m, uint64_t ioba)
{
	return ((ioba & ~((1ULL << m->g) - 1)) - BUS) >> m->g;
}

/* KVM's range check; true with *ret_i. */
static bool kvm_range(const struct model *m, uint64_t ioba, uint64_t npages, uint64_t *ret_i)
{
	uint64_t i;

	if (ioba & ((1ULL << m->g) - 1)) /* below the window wraps past its end */
		return false;
	i = (ioba - BUS) >> m->g;
	if (i > m->n || npages > m->n - i)
		return false;
	*ret_i = i;
	return true;
}

/* kvmppc_tce_validate() of a TCE with R/W: its gpa aligned, its first byte guest memory. */
static bool kvm_tce_ok(const struct model *m, uint64_t tce)
{
	uint64_t gpa = tce & ~RW;

	return !(tce & RW) || (!(gpa & ((1ULL << m->g) - 1)) && in_mem(gpa, 1));
}

#define KVM_HANDS_OVER 1 /* KVM's rules hand the hcall to the VMM: QEMU's answer */

static long m_hcall(const struct env *e, struct model *m, unsigned int op, uint64_t liobn,
		    uint64_t ioba, uint64_t a2, uint64_t npages, uint64_t *ret_get, bool qemu)
{
	bool known = liobn == LIOBN && (!qemu || !(liobn >> 32));
	uint64_t i, tces[512];

	if (!known)
		return qemu ? UIOMMU_H_PARAMETER : KVM_HANDS_OVER;
	switch (op) {
	case 0: /* PUT */
		if (qemu) {
			i = qemu_idx(m, ioba);
			if (i >= m->n)
				return UIOMMU_H_PARAMETER;
		} else if (!kvm_range(m, ioba, 1, &i)) {
			return UIOMMU_H_PARAMETER;
		} else if (!kvm_tce_ok(m, a2)) {
			return KVM_HANDS_OVER;
		}
		return m_commit(e, m, i, 1, NULL, a2, UIOMMU_H_SUCCESS);
	case 1: /* GET */
		if (qemu) {
			i = qemu_idx(m, ioba);
			if (i >= m->n)
				return UIOMMU_H_PARAMETER;
		} else if (!kvm_range(m, ioba, 1, &i)) {
			return UIOMMU_H_PARAMETER;
		}
		*ret_get = m->view[i];
		return UIOMMU_H_SUCCESS;
	case 2: { /* INDIRECT, list at a2 */
		uint64_t n;

		if (npages > 512 || (a2 & 4095))
			return UIOMMU_H_PARAMETER;
		if (qemu) {
			if (!npages)
				return UIOMMU_H_PARAMETER;
			i = qemu_idx(m, ioba);
			n = i < m->n ? MIN(npages, m->n - i) : 0;
			for (uint64_t k = 0; k < n; k++)
				tces[k] = in_mem(a2, n * 8) ? mem_read_be(e, a2 + 8 * k) : 0;
			return m_commit(e, m, i, n, tces, 0,
					n < npages ? UIOMMU_H_PARAMETER : UIOMMU_H_SUCCESS);
		}
		if (!kvm_range(m, ioba, npages, &i))
			return UIOMMU_H_PARAMETER;
		if (!in_mem(a2, npages ? npages * 8 : 8))
			return KVM_HANDS_OVER;
		n = npages;
		for (uint64_t k = 0; k < npages; k++) {
			tces[k] = mem_read_be(e, a2 + 8 * k);
			if (!kvm_tce_ok(m, tces[k]))
				return KVM_HANDS_OVER;
			if (n == npages && !(tces[k] & RW) && !in_mem(tces[k] & ~4095ULL, 1))
				n = k; /* the quirk: kvmppc_tce_to_ua() of every TCE */
		}
		return m_commit(e, m, i, n, tces, 0,
				n < npages ? UIOMMU_H_PARAMETER : UIOMMU_H_SUCCESS);
	}
	default: { /* STUFF, value a2 */
		uint64_t n;

		if (qemu) {
			if (npages > m->n || !npages)
				return UIOMMU_H_PARAMETER;
			i = qemu_idx(m, ioba);
			n = i < m->n ? MIN(npages, m->n - i) : 0;
			return m_commit(e, m, i, n, NULL, a2,
					n < npages ? UIOMMU_H_PARAMETER : UIOMMU_H_SUCCESS);
		}
		if (!kvm_range(m, ioba, npages, &i) || (a2 & RW))
			return UIOMMU_H_PARAMETER;
		return m_commit(e, m, i, npages, NULL, a2, UIOMMU_H_SUCCESS);
	}
	}
}

/* ---- checks ---- */

/* The region's mapped count. */
static uint64_t mapped(struct env *e)
{
	struct uiommu_prereg_info ri = { .size = sizeof(ri) };
	struct uiommu_prereg *mem = NULL;

	FUZZ_CHECK(!uiommu_prereg_lookup(uiommu_mm_current(e->ctx), (uint64_t)(uintptr_t)e->ram,
					 RAM_SIZE, &mem) && !uiommu_prereg_info(mem, &ri),
		   "prereg info");
	return ri.mapped;
}

/*
 * Host entries [@first, @first + @n) (clipped to the window) against the
 * model: read back with one uiommu_tce_table_get_range() (a call per entry
 * walked the levels, coverage-traced, once per entry).
 */
FUZZ_UNTRACED
static void check_host(const struct env *e, const struct model *m, struct uiommu_tce_table *tbl,
		       uint64_t first, uint64_t n)
{
	static uint64_t tces[MAXH], uas[MAXH];
	uint64_t total = m->n << m->sub;

	if (first >= total)
		return;
	n = MIN(n, total - first);
	FUZZ_CHECK(!uiommu_tce_table_get_range(tbl, (BUS >> m->h) + first, n, tces, uas),
		   "table get range");
	for (uint64_t j = 0; j < n; j++) {
		uint64_t k = first + j, tce = tces[j], ua = uas[j];

		FUZZ_CHECK(tce == m->host[k], "host %llu: 0x%llx, model 0x%llx",
			   (unsigned long long)k, (unsigned long long)tce,
			   (unsigned long long)m->host[k]);
		FUZZ_CHECK(tce ? ua == (uint64_t)(uintptr_t)e->ram + ((tce & ~RW) - e->ram_hpa) : !ua,
			   "host %llu: ua 0x%llx for TCE 0x%llx", (unsigned long long)k,
			   (unsigned long long)ua, (unsigned long long)tce);
	}
}

/*
 * The state against the model: every guest-view entry, the counts, the
 * locked bytes, and the host entries [@first, @first + @n) (ALL: every
 * one). The region is shared by every setup's container: its mapped count
 * is @others (theirs, and the idle 1) plus ours. The counts are checked
 * whole every time (a mapping added or dropped anywhere shows at once);
 * a hypercall's own entries, a sample of the others, and every entry after
 * the VMM's doings and at the end of the input are read back (reading
 * them all after every hypercall, through the traced library, was most of
 * the driver's time).
 */
#define ALL UINT64_MAX
FUZZ_UNTRACED
static void check_state(struct env *e, struct uiommu_guest *g, struct uiommu_vfio_container *c,
			struct model *m, struct uiommu_tce_table *tbl, uint64_t locked,
			uint64_t others, uint64_t first, uint64_t n)
{
	struct uiommu_vfio_info ci = { .size = sizeof(ci) };
	uint64_t count = m->tces, usage = 0, view[MAXG];

	FUZZ_CHECK(!uiommu_liobn_get_tces(g, LIOBN, BUS, m->n, view), "view");
	for (uint64_t i = 0; i < m->n; i++)
		FUZZ_CHECK(view[i] == m->view[i], "view %llu: 0x%llx, model 0x%llx",
			   (unsigned long long)i, (unsigned long long)view[i],
			   (unsigned long long)m->view[i]);
	check_host(e, m, tbl, first, n);
	FUZZ_CHECK(!uiommu_vfio_info(c, &ci) && ci.tces == count, "container TCEs %llu, model %llu",
		   (unsigned long long)ci.tces, (unsigned long long)count);
	FUZZ_CHECK(mapped(e) == others + count, "mapped %llu, model %llu",
		   (unsigned long long)mapped(e), (unsigned long long)(others + count));
	uiommu_ctx_get_usage(e->ctx, UIOMMU_RES_LOCKED_BYTES, &usage);
	FUZZ_CHECK(usage == locked, "locked bytes %llu, %llu after setup",
		   (unsigned long long)usage, (unsigned long long)locked);
}

/* ---- setup: once per process ---- */

static char *ram_map(struct uiommu_ctx *ctx, uint64_t size, uint64_t *ret_hpa)
{
	int fd = memfd_create("fuzz-accel-ram", MFD_CLOEXEC);
	char *res, *p;

	FUZZ_CHECK(fd >= 0 && !ftruncate(fd, (off_t)size), "memfd");
	res = mmap(NULL, size + 16 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	FUZZ_CHECK(res != MAP_FAILED, "mmap");
	p = (char *)(((uintptr_t)res + 16 * MiB - 1) & ~(uintptr_t)(16 * MiB - 1));
	FUZZ_CHECK(mmap(p, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == p,
		   "mmap fixed");
	FUZZ_CHECK(!uiommu_ram_add(ctx, fd, 0, size, p, ret_hpa), "ram_add");
	close(fd);
	return p;
}

static struct env *env_get(void)
{
	static struct env e;
	struct uiommu_ctx_config cfg = { .size = sizeof(cfg), .flags = UIOMMU_CTX_PIN_SIMULATE };
	struct uiommu_phb_config pc;
	uint64_t hpa2;

	if (e.ctx)
		return &e;
	FUZZ_CHECK(!uiommu_ctx_new(&cfg, &e.ctx), "ctx_new");
	uiommu_ctx_set_limit(e.ctx, UIOMMU_RES_LOCKED_BYTES, 1ULL << 30);
	uiommu_ctx_set_guest_log_ratelimit(e.ctx, 0, 1000000000ULL);
	e.ram = ram_map(e.ctx, RAM_SIZE, &e.ram_hpa);
	e.ram2 = ram_map(e.ctx, RAM2_SIZE, &hpa2);
	uiommu_phb_config_default(&pc, 0);
	FUZZ_CHECK(!uiommu_phb_new(e.ctx, &pc, &e.phb), "PHB");
	return &e;
}

/* ---- the driver ---- */

static uint64_t pick_tce(const struct model *m, uint64_t kind, uint64_t r)
{
	uint64_t gsize = 1ULL << m->g, page = (r % (RAM_SIZE / gsize)) * gsize;

	switch (kind % 9) {
	case 0:
		return 0;
	case 1:
		return (r << 12) & ~RW & 0xffffffffffffULL; /* poison: no R/W */
	case 2:
	case 3:
		return page | RW;
	case 4:
		return page | 1;
	case 5:
		return page | 2;
	case 6:
		return (RAM2_GPA + (r % (RAM2_SIZE / gsize)) * gsize) | RW; /* not registered */
	case 7:
		return (3ULL << 32) | RW; /* outside guest memory */
	default:
		return (page + 4096 * (1 + r % 3)) | RW; /* misaligned for pages above 4K */
	}
}

static uint64_t pick_ioba(const struct model *m, uint64_t c)
{
	uint64_t i = (c & 0x3f) % (m->n + 2); /* sometimes past the window */

	if ((c & 0xc0) == 0xc0)
		return BUS + (i << m->g) + 8; /* misaligned */
	if ((c & 0xc0) == 0x80 && !(c & 0x300))
		return BUS - (1ULL << m->g); /* below the window */
	return BUS + (i << m->g);
}

/*
 * One container, guest and LIOBN per geometry and level count, made once
 * and reset for every input: creating them per input would spend most of
 * the time waiting for grace periods.
 */
struct setup {
	struct uiommu_vfio_container *c;
	struct uiommu_pe *pe[2];
	struct uiommu_guest *g;
	struct uiommu_tce_table *tbl;
};

static struct setup *setup_get(struct env *e, unsigned int geo, unsigned int levels)
{
	static struct setup setups[4][2];
	struct setup *st = &setups[geo][levels - 1];
	struct uiommu_table_group *grp[2];
	unsigned int g = geos[geo].g, h = geos[geo].h;
	uint64_t n = geos[geo].entries, start = 1;

	if (st->c)
		return st;
	for (int i = 0; i < 2; i++) {
		FUZZ_CHECK(!uiommu_pe_new(e->phb, 16 + geo * 4 + (levels - 1) * 2 + (unsigned int)i,
					  &st->pe[i]), "pe_new");
		grp[i] = uiommu_pe_table_group(st->pe[i]);
	}
	FUZZ_CHECK(!uiommu_vfio_container_new(e->ctx, &st->c) &&
			   !uiommu_vfio_group_set_container(grp[0], st->c) &&
			   !uiommu_vfio_group_set_container(grp[1], st->c) &&
			   !uiommu_vfio_set_iommu(st->c, UIOMMU_VFIO_SPAPR_TCE_v2_IOMMU) &&
			   !uiommu_vfio_register_memory(st->c, (uint64_t)(uintptr_t)e->ram,
							RAM_SIZE) &&
			   !uiommu_vfio_remove_window(st->c, 0) &&
			   !uiommu_vfio_create_window(st->c, h, MAX(n << g, 1ULL << 16), levels,
						      &start) &&
			   start == BUS,
		   "container");
	st->tbl = grp[0]->tables[0];
	FUZZ_CHECK(!uiommu_guest_new(e->ctx, &st->g) &&
			   !uiommu_guest_set_memslot(st->g, 0, 0, RAM_SIZE, e->ram, 0) &&
			   !uiommu_guest_set_memslot(st->g, 1, RAM2_GPA, RAM2_SIZE, e->ram2, 0) &&
			   !uiommu_liobn_create(st->g, LIOBN, g, BUS >> g, n) &&
			   !uiommu_accel_attach(st->g, LIOBN, grp[0]),
		   "guest");
	return st;
}

/* Every charge where it was before the input (frames: pages stay allocated). */
static void check_charges(struct env *e, const uint64_t *before)
{
	for (int r = 0; r < UIOMMU_RES_NR; r++) {
		uint64_t usage = 0;

		if (r == UIOMMU_RES_HEAP_BYTES || r == UIOMMU_RES_FRAME_BYTES)
			continue;
		uiommu_ctx_get_usage(e->ctx, (enum uiommu_resource)r, &usage);
		FUZZ_CHECK(usage == before[r], "%s at %llu, %llu before",
			   uiommu_resource_name((enum uiommu_resource)r), (unsigned long long)usage,
			   (unsigned long long)before[r]);
	}
}

/*
 * Back to empty, group 0 attached, as every input starts (and checks, entry
 * by entry): one H_STUFF_TCE of 0 over the guest entries the input left
 * written, in the view or in the host table, by the fast path (the VMM's
 * if it hands it over). (The VMM's stuff of the whole window each time
 * cost an UNMAP_DMA per entry per input.)
 */
FUZZ_UNTRACED
static void reset_written(struct uiommu_guest *g, const struct model *m)
{
	uint64_t first = m->n, last = 0, args[4];
	long ret;

	for (uint64_t i = 0; i < m->n; i++) {
		bool written = m->view[i];

		for (uint64_t k = 0; k < (1ULL << m->sub) && !written; k++)
			written = m->host[(i << m->sub) + k];
		if (written) {
			first = MIN(first, i);
			last = i;
		}
	}
	if (first == m->n)
		return;
	args[0] = LIOBN;
	args[1] = BUS + (first << m->g);
	args[2] = 0;
	args[3] = last - first + 1;
	FUZZ_CHECK(!uiommu_papr_set_profile(g, UIOMMU_PAPR_PROFILE_KVM), "profile");
	ret = uiommu_papr_hcall(g, UIOMMU_H_STUFF_TCE, args, 4, NULL, 0);
	if (ret == UIOMMU_H_TOO_HARD)
		ret = uiommu_accel_vmm_hcall(g, UIOMMU_H_STUFF_TCE, args, 4, NULL, 0);
	FUZZ_CHECK(ret == UIOMMU_H_SUCCESS, "reset: %ld", ret);
}

int fuzz_accel(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size, 0 };
	struct env *e = env_get();
	uint64_t cfg = fuzz_take(&in, 1);
	struct model m = { .kvm = !(cfg & 1) };
	unsigned int geo = (cfg >> 1) & 3, levels = 1 + ((cfg >> 3) & 1);
	struct setup *st = setup_get(e, geo, levels);
	struct uiommu_table_group *grp[2] = { uiommu_pe_table_group(st->pe[0]),
					      uiommu_pe_table_group(st->pe[1]) };
	struct uiommu_vfio_container *c = st->c;
	struct uiommu_tce_table *tbl = st->tbl;
	struct uiommu_guest *g = st->g;
	uint64_t locked = 0, others, before[UIOMMU_RES_NR];

	stats.inputs++;
	m.g = geos[geo].g;
	m.h = geos[geo].h;
	m.sub = m.g - m.h;
	m.n = geos[geo].entries;
	m.host = calloc(m.n << m.sub, sizeof(uint64_t));
	FUZZ_CHECK(m.host, "calloc");
	FUZZ_CHECK(!uiommu_papr_set_profile(g, m.kvm ? UIOMMU_PAPR_PROFILE_KVM
						      : UIOMMU_PAPR_PROFILE_QEMU),
		   "profile");
	m.links[0] = true;
	uiommu_ctx_get_usage(e->ctx, UIOMMU_RES_LOCKED_BYTES, &locked);
	others = mapped(e);
	for (int r = 0; r < UIOMMU_RES_NR; r++)
		uiommu_ctx_get_usage(e->ctx, (enum uiommu_resource)r, &before[r]);
	check_state(e, g, c, &m, tbl, locked, others, 0, ALL);

	for (unsigned int nops = 0; !fuzz_done(&in) && nops < MAX_OPS; nops++) {
		unsigned int op = (unsigned int)fuzz_take(&in, 1) % 40;
		uint64_t lc = fuzz_take(&in, 1), ic = fuzz_take(&in, 2), tc = fuzz_take(&in, 1);
		uint64_t nc = fuzz_take(&in, 1), listc = fuzz_take(&in, 1), fc = fuzz_take(&in, 1);
		uint64_t liobn = (lc & 0xf0) == 0xf0 ? 0x1234 :
				 (lc & 0xf0) == 0xe0 ? LIOBN | (1ULL << 32) : LIOBN;
		uint64_t ioba = pick_ioba(&m, ic), tce = pick_tce(&m, tc, ic * 77 + nc);
		uint64_t args[4], get = 0, npages = 0, a2 = tce, fwd = 0;
		unsigned int mop;
		long want, got;

		if (op >= 36) { /* the VMM's own doings */
			if (op == 36) { /* the table detached or attached (group 0's link) */
				int r = m.links[0] ? uiommu_accel_detach(g, LIOBN, grp[0]) :
						     uiommu_accel_attach(g, LIOBN, grp[0]);

				FUZZ_CHECK(!r, "attach/detach group 0: %d", r);
				m.links[0] = !m.links[0];
			} else if (op == 37) { /* a second group joins or leaves */
				int r = m.links[1] ? uiommu_accel_detach(g, LIOBN, grp[1]) :
						     uiommu_accel_attach(g, LIOBN, grp[1]);

				FUZZ_CHECK(!r, "attach/detach group 1: %d", r);
				m.links[1] = !m.links[1];
			} else { /* the container unmaps a range of guest entries itself */
				uint64_t i = ic % m.n, n = 1 + nc % (m.n - i);

				FUZZ_CHECK(!uiommu_vfio_unmap_dma(c, BUS + (i << m.g), n << m.g),
					   "container unmap");
				for (uint64_t k = i << m.sub; k < (i + n) << m.sub; k++)
					m_host_set(&m, k, 0);
			}
			check_state(e, g, c, &m, tbl, locked, others, 0, ALL);
			continue;
		}
		if (op < 16) {
			mop = 0;
		} else if (op < 20) {
			mop = 1;
		} else if (op < 28) {
			mop = 2;
			npages = (nc & 0x80) ? (nc & 1 ? 513 : 0) : 1 + nc % (m.n + 2);
			a2 = LIST_GPA;
			if ((listc & 3) == 1)
				a2 += 8; /* misaligned */
			else if ((listc & 3) == 2)
				a2 = 5ULL << 32; /* outside guest memory */
			else if ((listc & 3) == 3)
				a2 = RAM2_GPA; /* guest memory, not registered: fine for a list */
			if (in_mem(a2, 8)) {
				char *p = a2 < RAM_SIZE ? e->ram + a2 : e->ram2 + (a2 - RAM2_GPA);

				for (uint64_t k = 0; k < MIN(npages, 512); k++) {
					uint64_t v = htobe64((listc & 0x80) ? pick_tce(&m, tc + k, k + ic)
									    : (tce & RW ? tce + (k << m.g) : tce));

					memcpy(p + 8 * k, &v, 8);
				}
			}
		} else {
			mop = 3;
			npages = (nc & 0x80) ? (nc & 1 ? m.n + 1 : 0) : 1 + nc % (m.n + 2);
			a2 = (tc & 0x10) ? tce : 0;
		}
		args[0] = liobn;
		args[1] = ioba;
		args[2] = a2;
		args[3] = npages;

		want = m_hcall(e, &m, mop, liobn, ioba, a2, npages, &get, !m.kvm);
		if (want == KVM_HANDS_OVER)
			want = m_hcall(e, &m, mop, liobn, ioba, a2, npages, &get, true);
		if (fc & 1) /* a fault somewhere in the fast path */
			uiommu_ctx_inject_fault(e->ctx, 1 + (fc >> 1) % 40, UIOMMU_FAULT_HCALL);
		{
			static const uint64_t opcodes[4] = { UIOMMU_H_PUT_TCE, UIOMMU_H_GET_TCE,
							     UIOMMU_H_PUT_TCE_INDIRECT,
							     UIOMMU_H_STUFF_TCE };

			got = uiommu_papr_hcall(g, opcodes[mop], args, 4, &fwd, 1);
			if (got == UIOMMU_H_TOO_HARD) {
				stats.punts++;
				got = uiommu_accel_vmm_hcall(g, opcodes[mop], args, 4, &fwd, 1);
			}
		}
		{
			uint64_t inj = 0;

			uiommu_ctx_get_counter(e->ctx, UIOMMU_COUNTER_FAULTS_INJECTED, &inj);
			stats.faults += inj;
			uiommu_ctx_inject_fault(e->ctx, 0, 0);
		}
		stats.hcalls++;
		stats.detached_hcalls += !attached(&m);
		FUZZ_CHECK(got == want && (mop != 1 || got || fwd == get),
			   "op %u (0x%llx, 0x%llx, 0x%llx, %llu), %s, geometry %u: %ld, model %ld", mop,
			   (unsigned long long)liobn, (unsigned long long)ioba, (unsigned long long)a2,
			   (unsigned long long)npages, m.kvm ? "kvm" : "qemu", geo, got, want);
		/* The entries the hypercall may have written, and 16 others. */
		check_host(e, &m, tbl, (((ioba - BUS) >> m.g) % m.n) << m.sub,
			   MAX(npages, 1) << m.sub);
		check_state(e, g, c, &m, tbl, locked, others, (ic * 131 + nc) % (m.n << m.sub), 16);
	}
	check_state(e, g, c, &m, tbl, locked, others, 0, ALL);

	/*
	 * Back to the state every input starts from (group 0 attached, group 1
	 * not): an attach or detach left over would carry a link allocated in
	 * one input and freed in another, and each such input would have
	 * libFuzzer re-run it under a full leak scan.
	 */
	if (!m.links[0])
		FUZZ_CHECK(!uiommu_accel_attach(g, LIOBN, grp[0]), "attach group 0");
	if (m.links[1])
		FUZZ_CHECK(!uiommu_accel_detach(g, LIOBN, grp[1]), "detach group 1");
	reset_written(g, &m);
	free(m.host);
	/* The deferred frees too (see fuzz_check_clean()): libFuzzer's leak check stays idle. */
	rcu_wait_callbacks();
	check_charges(e, before);
	return 0;
}
