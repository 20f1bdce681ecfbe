// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fuzz driver: dynamic DMA window RTAS sequences (query, create, remove,
 * reset, with good and bad cell counts, buids, page and window shifts,
 * LIOBNs) on two PHBs, one without DDW, against a model of QEMU's rules
 * (QEMU hw/ppc/spapr_rtas_ddw.c): per PHB two windows, active or
 * not, the default one or not, with their geometry. After every call the
 * status, the output cells and both windows of both PHBs (as the library
 * reports them) must match the model, and the locked-memory limit must
 * hold. H_PUT_TCE on a window checks that hcalls see what RTAS made.
 *
 * Input: 4-byte operations: op, PHB choice, page shift choice, window shift.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <uiommu/uiommu.h>

#include "fuzz.h"

#include "internal.h"

#define NPHB 2
#define LOCKED_LIMIT (8ULL << 20)

struct mwin {
	bool active, def;
	unsigned int page_shift;
	uint64_t bus, size;
};

struct mphb {
	uint64_t buid, mask, liobn[2];
	bool ddw;
	struct mwin w[2];
};

static unsigned int m_active(const struct mphb *p)
{
	return p->w[0].active + p->w[1].active;
}

static void m_reset(struct mphb *p)
{
	memset(p->w, 0, sizeof(p->w));
	p->w[0] = (struct mwin){ true, true, 12, 0, 0x40000000ULL >> 12 };
}

/* What the library charges for a window: kvmppc_stt_pages() of 64 KiB pages. */
static uint64_t m_locked(uint64_t size)
{
	uint64_t page = 65536, view = (size * 8 + page - 1) / page;
	uint64_t hdr = 256 + view * 8; /* sizeof(struct liobn_table) is below 256 */

	return (view + (hdr + page - 1) / page) * page;
}

int fuzz_ddw(const uint8_t *data, size_t size)
{
	static struct uiommu_ctx *ctx;
	struct fuzz_input in = { data, size, 0 };
	struct mphb m[NPHB];
	struct uiommu_guest *g;

	if (!ctx) {
		FUZZ_CHECK(!uiommu_ctx_new(NULL, &ctx), "ctx_new");
		uiommu_ctx_set_limit(ctx, UIOMMU_RES_LOCKED_BYTES, LOCKED_LIMIT);
		uiommu_ctx_set_guest_log_ratelimit(ctx, 0, 1000000000ULL);
	}
	FUZZ_CHECK(!uiommu_guest_new(ctx, &g), "guest_new");
	for (uint32_t i = 0; i < NPHB; i++) {
		struct uiommu_papr_phb_config c;

		uiommu_papr_phb_config_default(&c, i);
		c.ddw_enabled = i == 0;
		FUZZ_CHECK(!uiommu_papr_phb_add(g, &c), "phb_add");
		m[i].buid = c.buid;
		m[i].mask = c.page_size_mask;
		m[i].ddw = c.ddw_enabled;
		m[i].liobn[0] = uiommu_papr_pci_liobn(i, 0);
		m[i].liobn[1] = uiommu_papr_pci_liobn(i, 1);
		m_reset(&m[i]);
	}

	while (!fuzz_done(&in)) {
		unsigned int op = (unsigned int)fuzz_take(&in, 1);
		unsigned int pc = (unsigned int)fuzz_take(&in, 1);
		uint32_t ps = (uint32_t)fuzz_take(&in, 1), ws = (uint32_t)fuzz_take(&in, 1);
		struct mphb *p = pc & 0x80 ? NULL : &m[pc % NPHB];
		uint64_t buid = p ? p->buid : 0x800000020000009ULL;
		uint32_t args[5] = { 0, (uint32_t)(buid >> 32), (uint32_t)buid, 0, 0 };
		uint32_t rets[8], nargs = 3, nret = 1;
		int want = UIOMMU_RTAS_SUCCESS, got;
		uint32_t wrets[8] = { 0 };

		memset(rets, 0xa5, sizeof(rets));
		switch (op % 6) {
		case 0: /* query */
			nret = (op & 0x40) ? 4 + (ws % 4) : 5 + (ws & 1);
			if (op & 0x20)
				nargs = 2;
			if (nargs != 3 || (nret != 5 && nret != 6) || !p || !p->ddw) {
				want = UIOMMU_RTAS_PARAM_ERROR;
			} else {
				wrets[1] = 2 - m_active(p);
				if (nret == 6) {
					wrets[2] = 0x20, wrets[3] = 0, wrets[4] = 0x107, wrets[5] = 0;
				} else {
					wrets[2] = 0x80000000u, wrets[3] = 0x107, wrets[4] = 0;
				}
			}
			got = uiommu_papr_rtas(g, UIOMMU_RTAS_QUERY_PE_DMA_WINDOW, nargs, args, nret, rets);
			break;
		case 1:
		case 2: { /* create */
			static const uint32_t shifts[] = { 12, 16, 21, 24, 13, 34, 64, 0xffffffff };
			uint32_t page_shift = (ps & 0x80) ? ps & 0x7f : shifts[ps % 8];
			uint32_t window_shift = (ws & 0x80) ? ws : page_shift + ws % 34;

			args[3] = page_shift;
			args[4] = window_shift;
			nargs = (op & 0x40) ? 4 : 5;
			nret = (op & 0x20) ? 3 : 4;
			if (nargs != 5 || nret != 4 || !p || !p->ddw || page_shift >= 64 ||
			    !(p->mask & (1ULL << page_shift)) || window_shift < page_shift) {
				want = UIOMMU_RTAS_PARAM_ERROR;
			} else if (m_active(p) == 2 || window_shift - page_shift > 31 ||
				   window_shift >= 64) {
				want = UIOMMU_RTAS_HW_ERROR;
			} else {
				unsigned int w = p->w[0].active ? 1 : 0;
				uint64_t bus = m_active(p) ? 1ULL << 59 : 0;
				uint64_t entries = 1ULL << (window_shift - page_shift), used = 0;

				uiommu_ctx_get_usage(ctx, UIOMMU_RES_LOCKED_BYTES, &used);
				if (used + m_locked(entries) > LOCKED_LIMIT) {
					want = UIOMMU_RTAS_HW_ERROR;
				} else {
					/* QEMU: window 0 is the default one, whatever made it */
					p->w[w] = (struct mwin){ true, w == 0, page_shift, bus, entries };
					wrets[1] = (uint32_t)p->liobn[w];
					wrets[2] = (uint32_t)(bus >> 32);
					wrets[3] = (uint32_t)bus;
				}
			}
			got = uiommu_papr_rtas(g, UIOMMU_RTAS_CREATE_PE_DMA_WINDOW, nargs, args, nret, rets);
			break;
		}
		case 3: { /* remove */
			struct mphb *q = &m[pc % NPHB];
			uint32_t liobn = (ps & 0x80) ? 0x71000002 : (uint32_t)q->liobn[ws & 1];
			struct mwin *w = &q->w[ws & 1];

			nret = (op & 0x40) ? 2 : 1;
			if (nret != 1 || (ps & 0x80) || !q->ddw || !w->active) {
				want = UIOMMU_RTAS_PARAM_ERROR;
			} else {
				bool def = w->def;

				memset(w, 0, sizeof(*w));
				if (!m_active(q) && !def)
					m_reset(q); /* the limit cannot refuse: less than what went */
			}
			got = uiommu_papr_rtas(g, UIOMMU_RTAS_REMOVE_PE_DMA_WINDOW, 1, &liobn, nret, rets);
			break;
		}
		case 4: { /* reset */
			uint64_t used = 0;

			if (op & 0x40)
				nret = 0;
			uiommu_ctx_get_usage(ctx, UIOMMU_RES_LOCKED_BYTES, &used);
			if (nret != 1 || !p || !p->ddw) {
				want = UIOMMU_RTAS_PARAM_ERROR;
			} else {
				for (int w = 0; w < 2; w++)
					if (p->w[w].active)
						used -= m_locked(p->w[w].size);
				m_reset(p);
				FUZZ_CHECK(used + m_locked(p->w[0].size) <= LOCKED_LIMIT, "reset limit");
			}
			got = uiommu_papr_rtas(g, UIOMMU_RTAS_RESET_PE_DMA_WINDOW, nargs, args, nret, rets);
			break;
		}
		default: { /* an hcall on a window: it exists iff the model says so */
			struct mphb *q = &m[pc % NPHB];
			struct mwin *w = &q->w[ws & 1];
			long h = uiommu_h_put_tce(g, q->liobn[ws & 1], w->bus, 0); /* no frame */

			FUZZ_CHECK(h == (w->active ? UIOMMU_H_SUCCESS : UIOMMU_H_PARAMETER),
				   "put on window %u of PHB %u: %ld", ws & 1, pc % NPHB, h);
			continue;
		}
		}
		FUZZ_CHECK(got == want, "RTAS op %u (ps %u ws %u) = %d, model %d", op % 6, ps, ws, got,
			   want);
		if (nret >= 1)
			FUZZ_CHECK(rets[0] == (uint32_t)want, "status cell");
		if (got == UIOMMU_RTAS_SUCCESS)
			for (uint32_t i = 1; i < nret; i++)
				FUZZ_CHECK(rets[i] == wrets[i], "cell %u = 0x%x, model 0x%x", i, rets[i],
					   wrets[i]);
		/* Both windows of both PHBs as the library sees them. */
		for (int i = 0; i < NPHB; i++) {
			for (int w = 0; w < 2; w++) {
				uint64_t bus = 0, sz = 0;
				unsigned int shift = 0;
				int r = uiommu_liobn_info(g, m[i].liobn[w], &bus, &shift, &sz);

				if (!m[i].w[w].active) {
					FUZZ_CHECK(r == -ENOENT, "PHB %d window %d should not exist", i, w);
					continue;
				}
				FUZZ_CHECK(!r && bus == m[i].w[w].bus && shift == m[i].w[w].page_shift &&
						   sz == m[i].w[w].size,
					   "PHB %d window %d: %d 0x%llx %u %llu", i, w, r,
					   (unsigned long long)bus, shift, (unsigned long long)sz);
			}
		}
	}
	uiommu_guest_free(g);
	fuzz_check_clean(ctx);
	return 0;
}
