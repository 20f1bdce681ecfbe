// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fuzz driver: TCE hypercall streams (H_PUT_TCE, H_GET_TCE,
 * H_PUT_TCE_INDIRECT with lists written big-endian into guest memory,
 * H_STUFF_TCE, the dispatcher) and LIOBN creation and destruction, in both
 * profiles and both host page sizes, against a plain model: one flat array
 * of TCEs per table, and each profile's rules written out entry by entry
 * the way QEMU's and KVM's code reads (QEMU hw/ppc/spapr_iommu.c; Linux
 * arch/powerpc/kvm/book3s_64_vio.c and book3s_64_vio_hv.c).
 *
 * Checked after every step: the PAPR code; GET's value; a sample of
 * entries; the number of guest-view pages allocated (a page exists iff a
 * non-zero TCE was stored in it: no unbounded allocation). After every
 * input: nothing charged is left.
 *
 * Input: byte 0 picks the profile and the host page size; then 8-byte
 * operations: op, table, 3 bytes of IOBA choice, TCE kind, npages, list
 * choice.
 */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include <uiommu/uiommu.h>

#include "fuzz.h"

#include "internal.h"
#include "papr/papr.h"

#define MEM_SIZE (256u * 1024)		/* guest RAM at gpa 0 */
#define NTABLES 3
#define RW 3ULL

static const uint64_t liobns[NTABLES] = { 0x71000002, 0x80000000, (1ULL << 32) | 0x80000001 };

struct mtable {
	bool live;
	unsigned int page_shift;
	uint64_t offset, size, bus;
	uint64_t *tce;
	bool *page;	/* guest-view page allocated */
	uint64_t npages_alloc;
};

struct model {
	bool kvm;
	unsigned int view_shift;
	const uint8_t *mem;
	struct mtable t[NTABLES];
};

static struct mtable *m_find(struct model *m, uint64_t liobn, bool hcall)
{
	if (hcall && !m->kvm && (liobn >> 32))
		return NULL;
	for (int i = 0; i < NTABLES; i++)
		if (liobns[i] == liobn && m->t[i].live)
			return &m->t[i];
	return NULL;
}

static void m_store(struct model *m, struct mtable *t, uint64_t idx, uint64_t tce)
{
	uint64_t p = idx >> m->view_shift;

	t->tce[idx] = tce;
	if (tce && !t->page[p]) {
		t->page[p] = true;
		t->npages_alloc++;
	}
}

static bool m_in_mem(uint64_t gpa, uint64_t len)
{
	return gpa < MEM_SIZE && len <= MEM_SIZE - gpa;
}

static uint64_t m_read_be(struct model *m, uint64_t gpa)
{
	uint64_t v;

	memcpy(&v, m->mem + gpa, 8);
	return be64toh(v);
}

/* kvmppc_ioba_validate(), as written there (the sums cannot wrap with these sizes). */
static bool m_kvm_ioba(struct mtable *t, uint64_t ioba, uint64_t npages, uint64_t *idx)
{
	uint64_t i = ioba >> t->page_shift;

	if ((ioba & ((1ULL << t->page_shift) - 1)) || i < t->offset ||
	    i - t->offset + npages > t->size || i + npages < i)
		return false;
	*idx = i - t->offset;
	return true;
}

static long m_kvm_validate(struct mtable *t, uint64_t tce)
{
	uint64_t gpa = tce & ~RW;

	if (!(tce & RW))
		return UIOMMU_H_SUCCESS;
	if (gpa & ((1ULL << t->page_shift) - 1))
		return UIOMMU_H_TOO_HARD;
	if (!m_in_mem(gpa, 1))
		return UIOMMU_H_TOO_HARD;
	return UIOMMU_H_SUCCESS;
}

static long m_put(struct model *m, uint64_t liobn, uint64_t ioba, uint64_t tce)
{
	struct mtable *t = m_find(m, liobn, true);
	uint64_t idx;

	if (!t)
		return m->kvm ? UIOMMU_H_TOO_HARD : UIOMMU_H_PARAMETER;
	if (m->kvm) {
		long ret;

		if (!m_kvm_ioba(t, ioba, 1, &idx))
			return UIOMMU_H_PARAMETER;
		ret = m_kvm_validate(t, tce);
		if (ret)
			return ret;
	} else {
		ioba &= ~((1ULL << t->page_shift) - 1);
		idx = (ioba - t->bus) >> t->page_shift;
		if (idx >= t->size)
			return UIOMMU_H_PARAMETER;
	}
	m_store(m, t, idx, tce);
	return UIOMMU_H_SUCCESS;
}

static long m_get(struct model *m, uint64_t liobn, uint64_t ioba, uint64_t *tce)
{
	struct mtable *t = m_find(m, liobn, true);
	uint64_t idx;

	if (!t)
		return m->kvm ? UIOMMU_H_TOO_HARD : UIOMMU_H_PARAMETER;
	if (m->kvm) {
		if (!m_kvm_ioba(t, ioba, 1, &idx))
			return UIOMMU_H_PARAMETER;
	} else {
		ioba &= ~((1ULL << t->page_shift) - 1);
		idx = (ioba - t->bus) >> t->page_shift;
		if (idx >= t->size)
			return UIOMMU_H_PARAMETER;
	}
	*tce = t->tce[idx];
	return UIOMMU_H_SUCCESS;
}

static long m_indirect(struct model *m, uint64_t liobn, uint64_t ioba, uint64_t list,
		       uint64_t npages)
{
	struct mtable *t = m_find(m, liobn, true);
	uint64_t idx;
	long ret;

	if (!t)
		return m->kvm ? UIOMMU_H_TOO_HARD : UIOMMU_H_PARAMETER;
	if (m->kvm) {
		if (npages > 512 || (list & 0xfff) || !m_kvm_ioba(t, ioba, npages, &idx))
			return UIOMMU_H_PARAMETER;
		if (!m_in_mem(list, 8))
			return UIOMMU_H_TOO_HARD;
		for (uint64_t i = 0; i < npages; i++) {
			ret = m_kvm_validate(t, m_read_be(m, list + 8 * i));
			if (ret)
				return ret;
		}
		for (uint64_t i = 0; i < npages; i++) {
			uint64_t tce = m_read_be(m, list + 8 * i);

			if (!m_in_mem(tce & ~0xfffULL, 1))
				return UIOMMU_H_PARAMETER;
			m_store(m, t, idx + i, tce);
		}
		return UIOMMU_H_SUCCESS;
	}
	/* QEMU h_put_tce_indirect(): ret starts as H_PARAMETER. */
	if (npages > 512 || (list & 0xfff))
		return UIOMMU_H_PARAMETER;
	ret = UIOMMU_H_PARAMETER;
	ioba &= ~((1ULL << t->page_shift) - 1);
	for (uint64_t i = 0; i < npages; i++, ioba += 1ULL << t->page_shift) {
		uint64_t tce = m_in_mem(list + 8 * i, 8) ? m_read_be(m, list + 8 * i) : 0;

		idx = (ioba - t->bus) >> t->page_shift;
		if (idx >= t->size)
			return UIOMMU_H_PARAMETER;
		m_store(m, t, idx, tce);
		ret = UIOMMU_H_SUCCESS;
	}
	return ret;
}

static long m_stuff(struct model *m, uint64_t liobn, uint64_t ioba, uint64_t value,
		    uint64_t npages)
{
	struct mtable *t = m_find(m, liobn, true);
	uint64_t idx;
	long ret;

	if (!t)
		return m->kvm ? UIOMMU_H_TOO_HARD : UIOMMU_H_PARAMETER;
	if (m->kvm) {
		if (!m_kvm_ioba(t, ioba, npages, &idx) || (value & RW))
			return UIOMMU_H_PARAMETER;
		for (uint64_t i = 0; i < npages; i++)
			m_store(m, t, idx + i, value);
		return UIOMMU_H_SUCCESS;
	}
	if (npages > t->size)
		return UIOMMU_H_PARAMETER;
	ret = UIOMMU_H_PARAMETER;
	ioba &= ~((1ULL << t->page_shift) - 1);
	for (uint64_t i = 0; i < npages; i++, ioba += 1ULL << t->page_shift) {
		idx = (ioba - t->bus) >> t->page_shift;
		if (idx >= t->size)
			return UIOMMU_H_PARAMETER;
		m_store(m, t, idx, value);
		ret = UIOMMU_H_SUCCESS;
	}
	return ret;
}

static void m_free_table(struct mtable *t)
{
	free(t->tce);
	free(t->page);
	memset(t, 0, sizeof(*t));
}

/* An IOBA of table @t from 3 choice bytes: in, near the edges, misaligned, far. */
static uint64_t pick_ioba(const struct mtable *t, uint64_t c)
{
	uint64_t ps = 1ULL << (t->live ? t->page_shift : 12);
	uint64_t bus = t->live ? t->bus : 0, size = t->live ? t->size : 64;
	uint64_t k = c >> 4;

	switch (c & 7) {
	case 0:
	case 1:
	case 2:
		return bus + (k % size) * ps;
	case 3:
		return bus + (k % size) * ps + (k % ps) + 1; /* misaligned */
	case 4:
		return bus + (size - 1 - k % 4) * ps; /* the end */
	case 5:
		return bus + (size + k % 4) * ps; /* past the end */
	case 6:
		return bus - (1 + k % 4) * ps; /* below */
	default:
		return k << 40;
	}
}

static uint64_t pick_tce(uint64_t c, uint64_t k)
{
	switch (c % 8) {
	case 0:
	case 1:
		return 0;
	case 2:
	case 3:
		return ((k % (MEM_SIZE >> 12)) << 12) | (1 + k % 3); /* in memory, 4 KiB aligned */
	case 4:
		return ((k % 4) << 16) | (1 + k % 3); /* 64 KiB aligned */
	case 5:
		return 0x40000000ULL | (c & 3); /* outside memory */
	case 6:
		return 0xdead000000000000ULL | (k << 4); /* poison: no R/W */
	default:
		return k * 0x9e3779b97f4a7c15ULL;
	}
}

/*
 * @n entries of table @i from @first, @stride apart (modulo its size), read
 * straight from the library's guest view, against the model. Untraced: a
 * whole table is thousands of entries.
 */
FUZZ_UNTRACED
static void check_view(struct uiommu_guest *g, int i, const struct mtable *mt, uint64_t first,
		       uint64_t stride, uint64_t n)
{
	struct liobn_table *t;

	rcu_read_enter();
	t = liobn_find_rcu(papr_guest_peek(g), liobns[i]);
	FUZZ_CHECK(t && t->size == mt->size, "table %d: not found, or not of %llu entries", i,
		   (unsigned long long)mt->size);
	for (uint64_t k = 0; k < n; k++) {
		uint64_t idx = (first + k * stride) % mt->size, v = liobn_view_read(t, idx);

		FUZZ_CHECK(v == mt->tce[idx], "entry %llu of table %d: 0x%llx, model 0x%llx",
			   (unsigned long long)idx, i, (unsigned long long)v,
			   (unsigned long long)mt->tce[idx]);
	}
	rcu_read_exit();
}

int fuzz_papr(const uint8_t *data, size_t size)
{
	static struct uiommu_ctx *ctxs[2];
	static uint8_t *mem;
	struct fuzz_input in = { data, size, 0 };
	struct model m = { 0 };
	struct uiommu_ctx *ctx;
	struct uiommu_guest *g;
	uint64_t cfg = fuzz_take(&in, 1);

	if (!mem) {
		for (int i = 0; i < 2; i++) {
			struct uiommu_ctx_config c = { .size = sizeof(c),
						       .host_page_shift = i ? 12 : 16 };

			FUZZ_CHECK(!uiommu_ctx_new(&c, &ctxs[i]), "ctx_new");
			uiommu_ctx_set_limit(ctxs[i], UIOMMU_RES_LOCKED_BYTES, 64ULL << 20);
			uiommu_ctx_set_guest_log_ratelimit(ctxs[i], 0, 1000000000ULL);
		}
		mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		FUZZ_CHECK(mem != MAP_FAILED, "mmap");
	}
	ctx = ctxs[cfg & 1];
	m.kvm = cfg & 2;
	m.view_shift = uiommu_ctx_host_page_shift(ctx) - 3;
	m.mem = mem;
	memset(mem, 0, MEM_SIZE);
	FUZZ_CHECK(!uiommu_guest_new(ctx, &g), "guest_new");
	FUZZ_CHECK(!uiommu_guest_set_memslot(g, 0, 0, MEM_SIZE, mem, 0), "memslot");
	FUZZ_CHECK(!uiommu_papr_set_profile(g, m.kvm ? UIOMMU_PAPR_PROFILE_KVM
						       : UIOMMU_PAPR_PROFILE_QEMU), "profile");

	while (!fuzz_done(&in)) {
		unsigned int op = (unsigned int)fuzz_take(&in, 1);
		unsigned int ti = (unsigned int)fuzz_take(&in, 1) % NTABLES;
		uint64_t ic = fuzz_take(&in, 3), tc = fuzz_take(&in, 1);
		uint64_t nc = fuzz_take(&in, 1), lc = fuzz_take(&in, 1);
		struct mtable *t = &m.t[ti];
		uint64_t liobn = (op & 0x80) ? 0x1234 : liobns[ti]; /* sometimes an unknown LIOBN */
		uint64_t ioba = pick_ioba(t, ic), tce = pick_tce(tc, ic ^ nc);
		long want, got;

		switch (op % 8) {
		case 0: { /* create or destroy */
			static const unsigned int shifts[] = { 12, 16, 21, 12 };
			unsigned int ps = shifts[nc & 3];
			uint64_t offset = (lc & 1) ? (1ULL << 59) >> ps : (lc >> 1) % 4;
			uint64_t sz = 1 + (ic % 3000);
			int r;

			if (t->live) {
				FUZZ_CHECK(!uiommu_liobn_destroy(g, liobns[ti]), "destroy");
				m_free_table(t);
				break;
			}
			r = uiommu_liobn_create(g, liobns[ti], ps, offset, sz);
			FUZZ_CHECK(!r, "create(0x%llx, %u, %llu, %llu) = %d",
				   (unsigned long long)liobns[ti], ps, (unsigned long long)offset,
				   (unsigned long long)sz, r);
			t->live = true;
			t->page_shift = ps;
			t->offset = offset;
			t->size = sz;
			t->bus = offset << ps;
			t->tce = calloc(sz, 8);
			t->page = calloc((sz >> m.view_shift) + 1, 1);
			break;
		}
		case 1:
		case 2: /* H_PUT_TCE, sometimes through the dispatcher */
			want = m_put(&m, liobn, ioba, tce);
			if (op & 0x40) {
				uint64_t args[3] = { liobn, ioba, tce };

				got = uiommu_papr_hcall(g, UIOMMU_H_PUT_TCE, args, 3, NULL, 0);
			} else {
				got = uiommu_h_put_tce(g, liobn, ioba, tce);
			}
			FUZZ_CHECK(got == want, "put(0x%llx, 0x%llx, 0x%llx) = %ld, model %ld",
				   (unsigned long long)liobn, (unsigned long long)ioba,
				   (unsigned long long)tce, got, want);
			break;
		case 3: { /* H_GET_TCE */
			uint64_t v1 = 0, v2 = 0;

			want = m_get(&m, liobn, ioba, &v1);
			got = uiommu_h_get_tce(g, liobn, ioba, &v2);
			FUZZ_CHECK(got == want && (got || v1 == v2),
				   "get(0x%llx, 0x%llx) = %ld 0x%llx, model %ld 0x%llx",
				   (unsigned long long)liobn, (unsigned long long)ioba, got,
				   (unsigned long long)v2, want, (unsigned long long)v1);
			break;
		}
		case 4:
		case 5: { /* H_PUT_TCE_INDIRECT with a list in guest memory */
			static const uint64_t npages_pick[] = { 1, 2, 3, 16, 17, 0, 512, 513 };
			uint64_t npages = (nc & 0x80) ? npages_pick[nc & 7] : 1 + nc % 40;
			uint64_t list = 0x10000 + ((lc & 0xf) << 12);

			if ((lc & 0x30) == 0x10)
				list += 8 * (1 + (lc >> 6)); /* misaligned */
			else if ((lc & 0x30) == 0x20)
				list = 0x80000000ULL; /* outside guest memory */
			else if ((lc & 0xf0) == 0xf0)
				list = MEM_SIZE - 4096; /* the last page */
			if (m_in_mem(list, 8)) {
				uint64_t n = MIN(npages, (MEM_SIZE - list) / 8);

				for (uint64_t i = 0; i < n; i++) {
					uint64_t v = (tc & 0x40) ? pick_tce(tc + i * (lc | 1), ic + i)
								 : tce + (i << 12);
					uint64_t be = htobe64(v);

					memcpy(mem + list + 8 * i, &be, 8);
				}
			}
			want = m_indirect(&m, liobn, ioba, list, npages);
			got = uiommu_h_put_tce_indirect(g, liobn, ioba, list, npages);
			FUZZ_CHECK(got == want,
				   "indirect(0x%llx, 0x%llx, 0x%llx, %llu) = %ld, model %ld",
				   (unsigned long long)liobn, (unsigned long long)ioba,
				   (unsigned long long)list, (unsigned long long)npages, got, want);
			break;
		}
		case 6: { /* H_STUFF_TCE */
			static const uint64_t npages_pick[] = { 0, 1, 512, 3000, 2999, UINT64_MAX };
			uint64_t npages = (nc & 0x80) ? npages_pick[nc % 6] : nc % 70;
			uint64_t value = (tc & 1) ? tce : 0;

			want = m_stuff(&m, liobn, ioba, value, npages);
			got = uiommu_h_stuff_tce(g, liobn, ioba, value, npages);
			FUZZ_CHECK(got == want,
				   "stuff(0x%llx, 0x%llx, 0x%llx, %llu) = %ld, model %ld",
				   (unsigned long long)liobn, (unsigned long long)ioba,
				   (unsigned long long)value, (unsigned long long)npages, got, want);
			break;
		}
		default: { /* translate a byte and compare with the model */
			uint64_t gpa = 0, mt;
			unsigned int prot = 9;
			int r = uiommu_liobn_translate(g, liobns[ti], ioba, &gpa, &prot);

			if (!t->live) {
				FUZZ_CHECK(r == -ENOENT, "translate of a dead table = %d", r);
				break;
			}
			if (ioba < t->bus || ((ioba - t->bus) >> t->page_shift) >= t->size) {
				FUZZ_CHECK(r == -ERANGE, "translate outside = %d", r);
				break;
			}
			mt = t->tce[(ioba - t->bus) >> t->page_shift];
			FUZZ_CHECK(!r && prot == (mt & RW) &&
					   gpa == ((mt & ~((1ULL << t->page_shift) - 1)) |
						   (ioba & ((1ULL << t->page_shift) - 1))),
				   "translate(0x%llx) = %d 0x%llx %u, model TCE 0x%llx",
				   (unsigned long long)ioba, r, (unsigned long long)gpa, prot,
				   (unsigned long long)mt);
			break;
		}
		}
		/*
		 * After every step: a sample of entries (one through the public
		 * call, the others straight from the guest view) and the
		 * allocated pages.
		 */
		for (int i = 0; i < NTABLES; i++) {
			struct mtable *mt = &m.t[i];
			uint64_t idx = (ic * 31) % (mt->size ? mt->size : 1), v = ~0ULL;

			if (!mt->live)
				continue;
			FUZZ_CHECK(!uiommu_liobn_get_tce(g, liobns[i], mt->bus + (idx << mt->page_shift),
							 &v) && v == mt->tce[idx],
				   "entry %llu of table %d: 0x%llx, model 0x%llx",
				   (unsigned long long)idx, i, (unsigned long long)v,
				   (unsigned long long)mt->tce[idx]);
			check_view(g, i, mt, ic * 31 + 977, 977, 8);
			FUZZ_CHECK(papr_liobn_view_pages(g, liobns[i]) == mt->npages_alloc,
				   "table %d has %llu guest-view pages, model %llu", i,
				   (unsigned long long)papr_liobn_view_pages(g, liobns[i]),
				   (unsigned long long)mt->npages_alloc);
		}
	}
	/* The whole of every table, then everything goes. */
	for (int i = 0; i < NTABLES; i++) {
		if (m.t[i].live)
			check_view(g, i, &m.t[i], 0, 1, m.t[i].size);
		m_free_table(&m.t[i]);
	}
	uiommu_guest_free(g);
	{
		uint64_t liobn_usage = 1, locked = 1;

		uiommu_ctx_get_usage(ctx, UIOMMU_RES_LIOBNS, &liobn_usage);
		uiommu_ctx_get_usage(ctx, UIOMMU_RES_LOCKED_BYTES, &locked);
		FUZZ_CHECK(!liobn_usage && !locked, "liobns %llu, locked %llu left",
			   (unsigned long long)liobn_usage, (unsigned long long)locked);
	}
	fuzz_check_clean(ctx); /* the guest-view frames too, after their grace period */
	return 0;
}
