// SPDX-License-Identifier: BSD-3-Clause
/*
 * The replay engine. What QEMU 7.2 logs, and how each event is turned back
 * into the call the guest made (doc/traces.md has the field meanings):
 *
 * - put/get: the IOBA as QEMU logged it (already masked to the page), the
 *   TCE, the return code; get also the value returned.
 * - indirect: the list is not logged, only the index of the last entry
 *   handled (iobaN) and its TCE (tceN). A Linux guest maps one physically
 *   contiguous range per call with identical permission bits, so entry k is
 *   tceN - ((last - k) << page_shift). The list is written big-endian into
 *   guest memory at the logged address and the real H_PUT_TCE_INDIRECT is
 *   issued. A failed call is rebuilt up to its failing entry.
 * - stuff: the IOBA is logged after the loop: the exclusive end on
 *   success, the failing address on failure.
 * - xlate: a device DMA translation, with the address relative to the
 *   window's bus offset; checked against uiommu_liobn_translate().
 * - ddw_*: RTAS calls; the logged results are compared.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

/* QEMU hw/ppc/spapr.h: SPAPR_PCI_BASE_BUID, the BUID of PHB 0. */
#define QEMU_PCI_BASE_BUID 0x800000020000000ULL
/* QEMU spapr_vio.c: a VIO device's default DMA window is 256 MiB of 4 KiB pages. */
#define QEMU_VIO_WINDOW_SIZE 0x10000000ULL
#define QEMU_TCE_PAGE_SHIFT 12

const char *replay_call_name(enum replay_call c)
{
	static const char *const names[CALL_NR] = { "put", "get", "indirect", "stuff" };

	return names[c];
}

const char *replay_rtas_name(enum replay_rtas c)
{
	static const char *const names[RTAS_NR] = { "query", "create", "remove", "reset" };

	return names[c];
}

__attribute__((format(printf, 4, 0))) static void note(struct replay_note *notes, unsigned int *n,
							uint64_t line, const char *fmt, va_list ap)
{
	if (*n >= REPLAY_MAX_KEPT)
		return;
	notes[*n].line = line;
	vsnprintf(notes[*n].text, sizeof(notes[*n].text), fmt, ap);
	(*n)++;
}

__attribute__((format(printf, 3, 4))) static void mismatch(struct replay *r, uint64_t line,
							   const char *fmt, ...)
{
	va_list ap;

	r->st.mismatches++;
	va_start(ap, fmt);
	note(r->st.mismatch, &r->st.nmismatch_kept, line, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4))) static int fatal(struct replay *r, uint64_t line,
						       const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(r->fatal, sizeof(r->fatal), "line %" PRIu64 ": ", line);

	va_start(ap, fmt);
	vsnprintf(r->fatal + n, sizeof(r->fatal) - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* --vfio: a hook's result (0, 1 mismatch, -errno fatal) with its message in r->vfio_why. */
static int vfio_hook(struct replay *r, uint64_t line, int ret)
{
	if (ret > 0)
		mismatch(r, line, "vfio: %s", r->vfio_why);
	else if (ret < 0)
		return fatal(r, line, "vfio: %s", r->vfio_why);
	return 0;
}

void replay_bad_line(struct replay *r, uint64_t lineno, const char *why)
{
	r->st.malformed++;
	r->st.lines++;
	if (r->st.nbad_kept < REPLAY_MAX_KEPT) {
		r->st.bad_line[r->st.nbad_kept].line = lineno;
		snprintf(r->st.bad_line[r->st.nbad_kept].text, sizeof(r->st.bad_line[0].text), "%s",
			 why);
		r->st.nbad_kept++;
	}
}

int replay_init(struct replay *r, const struct replay_options *opt)
{
	int ret;

	/* --vfio: guest RAM is pinned as QEMU's is; simulated, and counted without a limit. */
	struct uiommu_ctx_config cfg = { .size = sizeof(cfg), .flags = UIOMMU_CTX_PIN_SIMULATE };

	memset(r, 0, sizeof(*r));
	r->opt = *opt;
	ret = uiommu_ctx_new(opt->ctx_cfg ? opt->ctx_cfg : opt->vfio ? &cfg : NULL, &r->ctx);
	if (!ret && opt->vfio)
		ret = uiommu_ctx_set_limit(r->ctx, UIOMMU_RES_LOCKED_BYTES, UIOMMU_LIMIT_NONE);
	if (!ret)
		ret = uiommu_guest_new(r->ctx, &r->guest);
	if (!ret)
		ret = uiommu_papr_set_profile(r->guest, opt->profile);
	if (ret) {
		snprintf(r->fatal, sizeof(r->fatal), "cannot create the guest: %s",
			 uiommu_strerror(ret));
		return ret;
	}
	if (opt->vfio)
		ret = replay_vfio_new(r->ctx, r->guest, &r->vfio, r->fatal, sizeof(r->fatal));
	return ret;
}

void replay_fini(struct replay *r)
{
	replay_vfio_free(r->vfio); /* QEMU's exit: containers closed, RAM unpinned */
	r->vfio = NULL;
	uiommu_guest_free(r->guest);
	r->guest = NULL;
	for (unsigned int i = 0; i < r->nram; i++)
		uiommu_ram_remove(r->ctx, r->ram_hpa[i]);
	r->nram = 0;
	uiommu_ctx_free(r->ctx);
	r->ctx = NULL;
}

/* ---- statistics ---- */

static struct replay_liobn *liobn_stats(struct replay *r, uint64_t liobn)
{
	for (unsigned int i = 0; i < r->st.nliobn; i++)
		if (r->st.liobn[i].liobn == liobn)
			return &r->st.liobn[i];
	if (r->st.nliobn == REPLAY_MAX_LIOBNS)
		return NULL;
	r->st.liobn[r->st.nliobn].liobn = liobn;
	return &r->st.liobn[r->st.nliobn++];
}

static void count_call(struct replay *r, enum replay_call c, uint64_t liobn, long hret)
{
	struct replay_liobn *l = liobn_stats(r, liobn);

	r->st.calls[c]++;
	if (hret == UIOMMU_H_SUCCESS)
		r->st.calls_ok[c]++;
	if (l)
		l->calls[c]++;
	else
		r->st.other_liobn_calls++;
	if (r->st.nphase)
		r->st.phase[r->st.nphase - 1].hcalls++;
}

static void hist_add(struct replay_hist *h, uint64_t npages)
{
	if (npages <= UIOMMU_PAPR_MAX_INDIRECT_NPAGES)
		h->exact[npages]++;
	else
		h->log2[63 - __builtin_clzll(npages)]++;
}

static void count_unknown(struct replay *r, const char *name)
{
	r->st.unknown++;
	for (unsigned int i = 0; i < r->st.nunknown_ev; i++) {
		if (!strcmp(r->st.unknown_ev[i].name, name)) {
			r->st.unknown_ev[i].count++;
			return;
		}
	}
	if (r->st.nunknown_ev < REPLAY_MAX_UNKNOWN) {
		snprintf(r->st.unknown_ev[r->st.nunknown_ev].name, TRACE_NAME_MAX, "%s", name);
		r->st.unknown_ev[r->st.nunknown_ev++].count = 1;
	}
}

/* ---- guest memory ---- */

static int add_ram(struct replay *r, uint64_t line, uint64_t gpa, uint64_t len)
{
	unsigned int i = r->nram;
	void *hva;
	int ret;

	if (i == REPLAY_MAX_RAM_REGIONS)
		return fatal(r, line, "guest memory needs more than %d regions",
			     REPLAY_MAX_RAM_REGIONS);
	if (r->hooks && r->hooks->leave)
		r->hooks->leave(r->hooks->opaque);
	ret = uiommu_ram_create(r->ctx, len, &r->ram_hpa[i], &hva);
	if (ret)
		return fatal(r, line, "cannot create %" PRIu64 " MiB of guest RAM: %s", len >> 20,
			     uiommu_strerror(ret));
	ret = uiommu_guest_set_memslot(r->guest, i, gpa, len, hva, 0);
	if (ret) {
		uiommu_ram_remove(r->ctx, r->ram_hpa[i]);
		return fatal(r, line, "cannot map guest RAM at 0x%" PRIx64 ": %s", gpa,
			     uiommu_strerror(ret));
	}
	r->ram_gpa[i] = gpa;
	r->ram_len[i] = len;
	r->ram_hva[i] = hva;
	r->nram++;
	if (!r->vfio)
		return 0;
	return vfio_hook(r, line, replay_vfio_ram(r->vfio, hva, len, r->vfio_why,
						  sizeof(r->vfio_why)));
}

/* The guest RAM holding [gpa, gpa + len), or NULL. */
static char *ram_find(struct replay *r, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < r->nram; i++)
		if (len <= r->ram_len[i] && gpa >= r->ram_gpa[i] &&
		    gpa - r->ram_gpa[i] <= r->ram_len[i] - len)
			return r->ram_hva[i] + (gpa - r->ram_gpa[i]);
	return NULL;
}

/*
 * The guest RAM for [gpa, gpa + len), made if it does not exist yet;
 * refused above REPLAY_RAM_MAX. NULL with r->fatal set on failure.
 */
static char *ensure_ram(struct replay *r, uint64_t line, uint64_t gpa, uint64_t len)
{
	uint64_t first = gpa & ~(REPLAY_RAM_CHUNK - 1);
	char *hva = ram_find(r, gpa, len);

	if (hva)
		return hva;
	if (gpa >= REPLAY_RAM_MAX || len > REPLAY_RAM_MAX - gpa) {
		fatal(r, line, "TCE list at 0x%" PRIx64 " lies outside any plausible guest memory (above %" PRIu64 " GiB)",
		      gpa, (uint64_t)(REPLAY_RAM_MAX >> 30));
		return NULL;
	}
	/* A list of at most 4 KiB in one chunk; a chunk that exists and still misses: it straddles. */
	if (ram_find(r, first, 1) || (gpa + len - 1) / REPLAY_RAM_CHUNK != gpa / REPLAY_RAM_CHUNK) {
		fatal(r, line, "TCE list at 0x%" PRIx64 " straddles the end of guest RAM", gpa);
		return NULL;
	}
	if (add_ram(r, line, first, REPLAY_RAM_CHUNK))
		return NULL;
	return ram_find(r, gpa, len);
}

/* ---- the guest's windows ---- */

/* Forget cached window geometry: windows changed. */
static void geo_flush(struct replay *r)
{
	r->ngeo = 0;
}

/* The window of @liobn, from the cache or the library; false if there is none. */
static bool geo_get(struct replay *r, uint64_t liobn, uint64_t *ret_off, unsigned int *ret_shift,
		    uint64_t *ret_size)
{
	unsigned int i;

	for (i = 0; i < r->ngeo; i++)
		if (r->geo[i].liobn == liobn)
			goto found;
	if (r->ngeo == REPLAY_MAX_GEO)
		r->ngeo = 0;
	i = r->ngeo++;
	r->geo[i].liobn = liobn;
	r->geo[i].exists = !uiommu_liobn_info(r->guest, liobn, &r->geo[i].bus_offset,
					      &r->geo[i].page_shift, &r->geo[i].size);
found:
	*ret_off = r->geo[i].bus_offset;
	*ret_shift = r->geo[i].page_shift;
	*ret_size = r->geo[i].size;
	return r->geo[i].exists;
}

static bool liobn_exists(struct replay *r, uint64_t liobn)
{
	uint64_t off, size;
	unsigned int shift;

	return geo_get(r, liobn, &off, &shift, &size);
}

static int phb_add(struct replay *r, uint64_t line, uint32_t index, uint64_t buid, bool ddw,
		   uint64_t dma64, const struct trace_event *win)
{
	struct uiommu_papr_phb_config cfg;
	int ret;

	uiommu_papr_phb_config_default(&cfg, index);
	cfg.buid = buid;
	cfg.ddw_enabled = ddw;
	if (dma64)
		cfg.dma64_win_addr = dma64;
	if (win) {
		cfg.dma_win_addr = win->bus_offset;
		cfg.dma_win_size = win->size;
	}
	geo_flush(r);
	ret = uiommu_papr_phb_add(r->guest, &cfg);
	if (ret)
		return fatal(r, line, "PHB %u (BUID 0x%" PRIx64 ") refused: %s", index, buid,
			     uiommu_strerror(ret));
	r->phb_added[index & 0xff] = true;
	if (!r->vfio)
		return 0;
	return vfio_hook(r, line, replay_vfio_phb(r->vfio, index, r->vfio_why,
						  sizeof(r->vfio_why)));
}

static int window_add(struct replay *r, uint64_t line, uint64_t liobn, uint64_t bus_offset,
		      uint64_t size, unsigned int page_shift)
{
	int ret;

	if (page_shift < 12 || page_shift > 34 || bus_offset & ((1ULL << page_shift) - 1) ||
	    size & ((1ULL << page_shift) - 1) || !size)
		return fatal(r, line, "window of LIOBN 0x%" PRIx64 " (offset 0x%" PRIx64 ", size 0x%" PRIx64 ", page shift %u) is not a valid window",
			     liobn, bus_offset, size, page_shift);
	geo_flush(r);
	ret = uiommu_liobn_create(r->guest, liobn, page_shift, bus_offset >> page_shift,
				  size >> page_shift);
	if (ret)
		return fatal(r, line, "window of LIOBN 0x%" PRIx64 " (0x%" PRIx64 " bytes) refused: %s",
			     liobn, size, uiommu_strerror(ret));
	return 0;
}

/* Build the guest from the header, at the first event that needs it. */
static int guest_setup(struct replay *r, uint64_t line)
{
	int ret;

	if (r->guest_ready)
		return 0;
	r->guest_ready = true;
	if (r->ram_size > REPLAY_RAM_MAX)
		return fatal(r, line, "ram-size 0x%" PRIx64 " is larger than %" PRIu64 " GiB",
			     r->ram_size, (uint64_t)(REPLAY_RAM_MAX >> 30));
	ret = add_ram(r, line, 0, r->ram_size ? r->ram_size : REPLAY_RAM_DEFAULT);
	if (ret)
		return ret;
	for (unsigned int i = 0; i < r->nhdr_phb; i++) {
		const struct trace_event *p = &r->hdr_phb[i], *win = NULL;

		for (unsigned int w = 0; w < r->nhdr_window; w++)
			if (r->hdr_window[w].liobn == p->liobn)
				win = &r->hdr_window[w];
		if (p->index > 255 || p->liobn != uiommu_papr_pci_liobn((uint32_t)p->index, 0))
			return fatal(r, line, "phb %" PRIu64 ": default LIOBN 0x%" PRIx64 " is not QEMU's encoding",
				     p->index, p->liobn);
		ret = phb_add(r, line, (uint32_t)p->index, p->buid, p->ddw, p->dma64_base, win);
		if (ret)
			return ret;
	}
	for (unsigned int w = 0; w < r->nhdr_window; w++) {
		const struct trace_event *win = &r->hdr_window[w];

		if (liobn_exists(r, win->liobn))
			continue; /* a PHB's default window, made with the PHB */
		ret = window_add(r, line, win->liobn, win->bus_offset, win->size,
				 (unsigned int)win->page_shift);
		if (ret)
			return ret;
	}
	return 0;
}

int replay_prepare(struct replay *r, uint64_t lineno)
{
	return guest_setup(r, lineno);
}

/* A raw QEMU log: tables appear as new_table events, with QEMU's defaults. */
static int new_table(struct replay *r, uint64_t line, uint64_t liobn)
{
	uint32_t index;

	r->st.new_tables++;
	if (liobn_exists(r, liobn))
		return 0;
	if (!(liobn & 0x80000000ULL) || liobn > UINT32_MAX)
		return window_add(r, line, liobn, 0, QEMU_VIO_WINDOW_SIZE, QEMU_TCE_PAGE_SHIFT);
	/* PCI: window 0 is the PHB's default window; the others are made by DDW later. */
	if (liobn & 0xff)
		return 0;
	index = (uint32_t)(liobn >> 8) & 0xff;
	if (liobn != uiommu_papr_pci_liobn(index, 0))
		return fatal(r, line, "LIOBN 0x%" PRIx64 " is not QEMU's PCI encoding", liobn);
	/* A PHB that has lost its default window gets windows from the DDW calls. */
	if (r->phb_added[index])
		return 0;
	return phb_add(r, line, index, QEMU_PCI_BASE_BUID + index, true, 0, NULL);
}

/* DDW events without a header: the PHB is QEMU's, found by its BUID. */
static int phb_for_buid(struct replay *r, uint64_t line, uint64_t buid)
{
	uint64_t index = buid - QEMU_PCI_BASE_BUID;

	if (buid < QEMU_PCI_BASE_BUID || index > 255)
		return fatal(r, line, "BUID 0x%" PRIx64 " is not a QEMU PHB", buid);
	if (r->phb_added[index])
		return 0;
	return phb_add(r, line, (uint32_t)index, buid, true, 0, NULL);
}

static unsigned int liobn_page_shift(struct replay *r, uint64_t liobn)
{
	uint64_t off, size;
	unsigned int shift;

	if (!geo_get(r, liobn, &off, &shift, &size))
		return QEMU_TCE_PAGE_SHIFT; /* unknown: replayed as is, it fails as in QEMU */
	return shift;
}

/* ---- hypercalls ---- */

/* The dispatcher, with the recording hook in front. */
static long hcall(struct replay *r, uint64_t opcode, const uint64_t *args, unsigned int nargs,
		  uint64_t *rets, unsigned int nrets, const uint64_t *list, uint64_t npages)
{
	if (r->record)
		r->record(r->record_opaque, opcode, args, nargs, list, npages);
	if (r->hooks)
		return r->hooks->hcall(r->hooks->opaque, opcode, args, nargs, rets, nrets);
	return uiommu_papr_hcall(r->guest, opcode, args, nargs, rets, nrets);
}

/* --vfio: QEMU's IOMMU notifier mirrors what the hcall changed into the container. */
static int vfio_tces(struct replay *r, uint64_t line, uint64_t liobn, uint64_t ioba,
		     uint64_t npages, long hret)
{
	if (!r->vfio)
		return 0;
	return vfio_hook(r, line, replay_vfio_tces(r->vfio, liobn, ioba, npages,
						   hret == UIOMMU_H_SUCCESS, r->vfio_why,
						   sizeof(r->vfio_why)));
}

static void check_ret(struct replay *r, uint64_t line, const char *what, uint64_t liobn,
		      long got, int64_t want)
{
	if (got != want)
		mismatch(r, line, "%s liobn=0x%" PRIx64 ": returned %ld, QEMU logged %" PRId64, what,
			 liobn, got, want);
}

static int do_put(struct replay *r, uint64_t line, const struct trace_event *ev)
{
	uint64_t args[3] = { ev->liobn, ev->ioba, ev->tce };
	long hret = hcall(r, UIOMMU_H_PUT_TCE, args, 3, NULL, 0, NULL, 0);

	count_call(r, CALL_PUT, ev->liobn, hret);
	check_ret(r, line, "H_PUT_TCE", ev->liobn, hret, ev->ret);
	return vfio_tces(r, line, ev->liobn, ev->ioba, 1, hret);
}

static int do_get(struct replay *r, uint64_t line, const struct trace_event *ev)
{
	uint64_t args[2] = { ev->liobn, ev->ioba }, rets[1] = { 0 };
	long hret = hcall(r, UIOMMU_H_GET_TCE, args, 2, rets, 1, NULL, 0);

	count_call(r, CALL_GET, ev->liobn, hret);
	check_ret(r, line, "H_GET_TCE", ev->liobn, hret, ev->ret);
	if (hret == UIOMMU_H_SUCCESS && ev->ret == 0 && rets[0] != ev->tce)
		mismatch(r, line, "H_GET_TCE liobn=0x%" PRIx64 " ioba=0x%" PRIx64 ": TCE 0x%" PRIx64 ", QEMU logged 0x%" PRIx64,
			 ev->liobn, ev->ioba, rets[0], ev->tce);
	return 0;
}

/* The number of entries QEMU's loop reached, from what it logged. */
static uint64_t indirect_npages(struct replay *r, const struct trace_event *ev,
				unsigned int shift)
{
	uint64_t off, size;
	unsigned int s;

	if (ev->ret == 0)
		return ev->ioba_n + 1;
	/* npages == 0 logs index 0, TCE 0 and H_PARAMETER. */
	if (ev->ioba_n == 0 && ev->tce_n == 0)
		return 0;
	/*
	 * A failure at entry k logs max(k - 1, 0): k is iobaN + 1, except that
	 * iobaN 0 also means k = 0, which happens when the first IOBA is
	 * already outside the window.
	 */
	if (ev->ioba_n == 0 && geo_get(r, ev->liobn, &off, &s, &size)) {
		uint64_t idx = (ev->ioba >> shift) - (off >> shift);

		if ((ev->ioba >> shift) < (off >> shift) || idx >= size)
			return 1;
	}
	return ev->ioba_n + 2;
}

static int do_indirect(struct replay *r, uint64_t line, const struct trace_event *ev)
{
	unsigned int shift = liobn_page_shift(r, ev->liobn);
	uint64_t npages = indirect_npages(r, ev, shift), last, args[4];
	uint64_t list[UIOMMU_PAPR_MAX_INDIRECT_NPAGES];
	long hret;

	if (npages > UIOMMU_PAPR_MAX_INDIRECT_NPAGES)
		return fatal(r, line, "indirect: iobaN 0x%" PRIx64 " means more than %d entries",
			     ev->ioba_n, UIOMMU_PAPR_MAX_INDIRECT_NPAGES);
	/*
	 * Entry k of a Linux list: the logged entry's page, minus (last - k)
	 * pages. On failure the logged TCE is the failing one, which is last.
	 */
	last = npages ? npages - 1 : 0;
	for (uint64_t k = 0; k < npages; k++) {
		uint64_t tce = ev->tce_n - ((last - k) << shift);

		list[k] = __builtin_bswap64(tce);
	}
	if (npages) {
		/* The guest writes its list into its own RAM. */
		char *hva = ensure_ram(r, line, ev->tcelist, npages * 8);

		if (!hva)
			return -EINVAL;
		memcpy(hva, list, npages * 8);
	}
	args[0] = ev->liobn;
	args[1] = ev->ioba;
	args[2] = ev->tcelist;
	args[3] = npages;
	hret = hcall(r, UIOMMU_H_PUT_TCE_INDIRECT, args, 4, NULL, 0, list, npages);
	count_call(r, CALL_INDIRECT, ev->liobn, hret);
	hist_add(&r->st.hist_indirect, npages);
	check_ret(r, line, "H_PUT_TCE_INDIRECT", ev->liobn, hret, ev->ret);
	return vfio_tces(r, line, ev->liobn, ev->ioba, npages, hret);
}

static int do_stuff(struct replay *r, uint64_t line, const struct trace_event *ev)
{
	unsigned int shift = liobn_page_shift(r, ev->liobn);
	uint64_t start = ev->ioba, args[4];
	long hret;

	/* Logged after the loop: the exclusive end on success, the failing IOBA otherwise. */
	if (ev->ret == 0) {
		uint64_t span = ev->npages << shift;

		if (ev->npages > (UINT64_MAX >> shift) || span > ev->ioba)
			return fatal(r, line, "stuff: logged end 0x%" PRIx64 " is below %" PRIu64 " pages",
				     ev->ioba, ev->npages);
		start = ev->ioba - span;
	}
	args[0] = ev->liobn;
	args[1] = start;
	args[2] = ev->tce;
	args[3] = ev->npages;
	hret = hcall(r, UIOMMU_H_STUFF_TCE, args, 4, NULL, 0, NULL, 0);
	count_call(r, CALL_STUFF, ev->liobn, hret);
	hist_add(&r->st.hist_stuff, ev->npages);
	check_ret(r, line, "H_STUFF_TCE", ev->liobn, hret, ev->ret);
	return vfio_tces(r, line, ev->liobn, start, ev->npages, hret);
}

/* QEMU spapr_tce_translate_iommu(): page address, permission, address mask. */
static void do_xlate(struct replay *r, uint64_t line, const struct trace_event *ev)
{
	uint64_t off, size, gpa = 0, want_mask, got_page;
	unsigned int shift, prot = 0;
	struct replay_liobn *l = liobn_stats(r, ev->liobn);
	int ret;

	if (l)
		l->xlate++;
	if (!r->opt.check_xlate)
		return;
	r->st.xlate_checked++;
	if (!geo_get(r, ev->liobn, &off, &shift, &size)) {
		r->st.xlate_mismatched++;
		mismatch(r, line, "xlate liobn=0x%" PRIx64 ": no such LIOBN in the replayed guest",
			 ev->liobn);
		return;
	}
	if (ev->ioba > UINT64_MAX - off) {
		r->st.xlate_mismatched++;
		mismatch(r, line, "xlate liobn=0x%" PRIx64 ": address 0x%" PRIx64 " wraps", ev->liobn,
			 ev->ioba);
		return;
	}
	ret = uiommu_liobn_translate(r->guest, ev->liobn, off + ev->ioba, &gpa, &prot);
	if (ret == -ERANGE) {
		/* Out of the window: QEMU returns nothing, no access. */
		if (ev->tce || ev->perm) {
			r->st.xlate_mismatched++;
			mismatch(r, line, "xlate liobn=0x%" PRIx64 " 0x%" PRIx64 ": outside the window, QEMU translated to 0x%" PRIx64 " perm %" PRIu64,
				 ev->liobn, ev->ioba, ev->tce, ev->perm);
		}
		return;
	}
	want_mask = (1ULL << shift) - 1;
	got_page = gpa & ~want_mask;
	/* --vfio: the same translation through the host PE, as its device would DMA. */
	if (r->vfio)
		vfio_hook(r, line, replay_vfio_xlate(r->vfio, ev->liobn, off + ev->ioba, ev->tce,
						     ev->perm, ev->mask ? ev->mask : want_mask,
						     r->vfio_why, sizeof(r->vfio_why)));
	if (ret || got_page != ev->tce || prot != ev->perm || (ev->mask && ev->mask != want_mask)) {
		r->st.xlate_mismatched++;
		if (ret)
			mismatch(r, line, "xlate liobn=0x%" PRIx64 " 0x%" PRIx64 ": %s", ev->liobn,
				 ev->ioba, uiommu_strerror(ret));
		else
			mismatch(r, line, "xlate liobn=0x%" PRIx64 " 0x%" PRIx64 ": -> 0x%" PRIx64 " perm %u mask 0x%" PRIx64 ", QEMU: -> 0x%" PRIx64 " perm %" PRIu64 " mask 0x%" PRIx64,
				 ev->liobn, ev->ioba, got_page, prot, want_mask, ev->tce, ev->perm,
				 ev->mask);
	}
}

/* ---- DDW RTAS calls ---- */

static void rtas_buid(uint32_t *args, uint64_t cfgaddr, uint64_t buid)
{
	args[0] = (uint32_t)cfgaddr;
	args[1] = (uint32_t)(buid >> 32);
	args[2] = (uint32_t)buid;
}

static int do_ddw(struct replay *r, uint64_t line, const struct trace_event *ev)
{
	uint32_t args[5], rets[6] = { 0 };
	int status, ret;

	if (ev->type != TRACE_DDW_REMOVE) {
		ret = phb_for_buid(r, line, ev->buid);
		if (ret)
			return ret;
	}
	geo_flush(r); /* DDW calls make and remove windows */
	switch (ev->type) {
	case TRACE_DDW_QUERY:
		r->st.rtas[RTAS_QUERY]++;
		rtas_buid(args, ev->cfgaddr, ev->buid);
		status = uiommu_papr_rtas(r->guest, UIOMMU_RTAS_QUERY_PE_DMA_WINDOW, 3, args, 6, rets);
		if (status != UIOMMU_RTAS_SUCCESS)
			mismatch(r, line, "ibm,query-pe-dma-window buid=0x%" PRIx64 ": status %d, QEMU succeeded",
				 ev->buid, status);
		/* nret 6 (the 64-bit extension Linux uses): the page-size mask is cell 4. */
		else if (rets[1] != ev->windows || rets[4] != ev->mask)
			mismatch(r, line, "ibm,query-pe-dma-window buid=0x%" PRIx64 ": %u windows, mask 0x%x; QEMU: %" PRIu64 ", 0x%" PRIx64,
				 ev->buid, rets[1], rets[4], ev->windows, ev->mask);
		break;
	case TRACE_DDW_CREATE: {
		uint64_t start;

		r->st.rtas[RTAS_CREATE]++;
		if (!ev->page_size || ev->page_size & (ev->page_size - 1) || !ev->req_size ||
		    ev->req_size & (ev->req_size - 1))
			return fatal(r, line, "ddw_create: page size 0x%" PRIx64 " and window 0x%" PRIx64 " must be powers of two",
				     ev->page_size, ev->req_size);
		rtas_buid(args, ev->cfgaddr, ev->buid);
		args[3] = (uint32_t)__builtin_ctzll(ev->page_size);
		args[4] = (uint32_t)__builtin_ctzll(ev->req_size);
		status = uiommu_papr_rtas(r->guest, UIOMMU_RTAS_CREATE_PE_DMA_WINDOW, 5, args, 4,
					  rets);
		start = (uint64_t)rets[2] << 32 | rets[3];
		if (status != UIOMMU_RTAS_SUCCESS)
			mismatch(r, line, "ibm,create-pe-dma-window buid=0x%" PRIx64 ": status %d, QEMU succeeded",
				 ev->buid, status);
		else if (rets[1] != ev->liobn || start != ev->start)
			mismatch(r, line, "ibm,create-pe-dma-window: LIOBN 0x%x at 0x%" PRIx64 ", QEMU: 0x%" PRIx64 " at 0x%" PRIx64,
				 rets[1], start, ev->liobn, ev->start);
		break;
	}
	case TRACE_DDW_REMOVE:
		r->st.rtas[RTAS_REMOVE]++;
		args[0] = (uint32_t)ev->liobn;
		status = uiommu_papr_rtas(r->guest, UIOMMU_RTAS_REMOVE_PE_DMA_WINDOW, 1, args, 1,
					  rets);
		if (status != UIOMMU_RTAS_SUCCESS)
			mismatch(r, line, "ibm,remove-pe-dma-window liobn=0x%" PRIx64 ": status %d, QEMU succeeded",
				 ev->liobn, status);
		break;
	default: /* reset */
		r->st.rtas[RTAS_RESET]++;
		rtas_buid(args, ev->cfgaddr, ev->buid);
		status = uiommu_papr_rtas(r->guest, UIOMMU_RTAS_RESET_PE_DMA_WINDOW, 3, args, 1, rets);
		if (status != UIOMMU_RTAS_SUCCESS)
			mismatch(r, line, "ibm,reset-pe-dma-window buid=0x%" PRIx64 ": status %d, QEMU succeeded",
				 ev->buid, status);
		break;
	}
	/* --vfio: the PHB's windows changed; QEMU's listener follows them in the container. */
	if (r->vfio) {
		uint64_t index = ev->type == TRACE_DDW_REMOVE ? (ev->liobn >> 8) & 0xff
							      : ev->buid - QEMU_PCI_BASE_BUID;

		if (index < 256 && r->phb_added[index])
			return vfio_hook(r, line, replay_vfio_phb(r->vfio, (uint32_t)index,
								  r->vfio_why, sizeof(r->vfio_why)));
	}
	return 0;
}

/* ---- header ---- */

static int header_line(struct replay *r, uint64_t line, const struct trace_event *ev)
{
	r->st.headers++;
	switch (ev->type) {
	case TRACE_WINDOW:
		if (r->guest_ready)
			return fatal(r, line, "window header after the first event");
		if (r->nhdr_window == REPLAY_MAX_HDR_WINDOWS)
			return fatal(r, line, "more than %d window headers", REPLAY_MAX_HDR_WINDOWS);
		r->hdr_window[r->nhdr_window++] = *ev;
		return 0;
	case TRACE_PHB:
		if (r->guest_ready)
			return fatal(r, line, "phb header after the first event");
		if (r->nhdr_phb == REPLAY_MAX_HDR_PHBS)
			return fatal(r, line, "more than %d phb headers", REPLAY_MAX_HDR_PHBS);
		r->hdr_phb[r->nhdr_phb++] = *ev;
		return 0;
	default:
		break;
	}
	if (!strcmp(ev->name, "ram-size")) {
		uint64_t v;
		char *end;

		errno = 0;
		v = strtoull(ev->text, &end, 0);
		if (errno || end == ev->text || *end || !v || v % 4096)
			return fatal(r, line, "ram-size '%s' is not a multiple of 4 KiB", ev->text);
		if (r->guest_ready)
			return fatal(r, line, "ram-size header after the first event");
		r->ram_size = v;
	} else if (!strcmp(ev->name, "scenario")) {
		snprintf(r->scenario, sizeof(r->scenario), "%s", ev->text);
	} else if (!strcmp(ev->name, "qemu")) {
		snprintf(r->qemu, sizeof(r->qemu), "%s", ev->text);
	} else if (!strcmp(ev->name, "end")) {
		r->header_end_ok = !strcmp(ev->text, "ok");
	}
	return 0;
}

int replay_event(struct replay *r, uint64_t lineno, const struct trace_event *ev)
{
	int ret;

	r->st.lines++;
	switch (ev->type) {
	case TRACE_COMMENT:
		r->st.comments++;
		return 0;
	case TRACE_HEADER:
	case TRACE_WINDOW:
	case TRACE_PHB:
		return header_line(r, lineno, ev);
	case TRACE_MARK:
		r->st.marks++;
		if (r->st.nphase < REPLAY_MAX_PHASES) {
			snprintf(r->st.phase[r->st.nphase].name, TRACE_NAME_MAX, "%s", ev->name);
			r->st.phase[r->st.nphase++].hcalls = 0;
		}
		return 0;
	case TRACE_UNKNOWN:
		count_unknown(r, ev->name);
		return 0;
	default:
		break;
	}
	r->st.events++;
	if (!r->st.nphase) { /* everything before the first marker is the boot phase */
		snprintf(r->st.phase[0].name, TRACE_NAME_MAX, "boot");
		r->st.nphase = 1;
	}
	ret = guest_setup(r, lineno);
	if (ret)
		return ret;
	switch (ev->type) {
	case TRACE_PUT:
		return do_put(r, lineno, ev);
	case TRACE_GET:
		return do_get(r, lineno, ev);
	case TRACE_INDIRECT:
		return do_indirect(r, lineno, ev);
	case TRACE_STUFF:
		return do_stuff(r, lineno, ev);
	case TRACE_XLATE:
		do_xlate(r, lineno, ev);
		return 0;
	default: /* windows change: a new table, a DDW call */
		if (r->hooks)
			r->hooks->before(r->hooks->opaque, ev);
		ret = ev->type == TRACE_NEW_TABLE ? new_table(r, lineno, ev->liobn) :
						    do_ddw(r, lineno, ev);
		if (!ret && r->hooks)
			ret = r->hooks->after(r->hooks->opaque, lineno, ev);
		return ret;
	}
}
