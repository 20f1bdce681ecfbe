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
 *   issued. A failed call is rebuilt up to its failing entry. A list
 *   outside guest RAM reads as zeros in QEMU (ldq_be_phys of memory that
 *   is not RAM), so it is not written and must have logged a zero TCE.
 * - stuff: the IOBA is logged after the loop: the exclusive end on
 *   success, the failing address on failure.
 * - xlate: a device DMA translation, with the address relative to the
 *   window's bus offset; checked against uiommu_liobn_translate().
 * - ddw_*: RTAS calls; the logged results are compared. PHBs are tracked
 *   as PHBs (by index and BUID), whatever windows they have at the time.
 *
 * A value that QEMU cannot have logged (a LIOBN above 32 bits where QEMU's
 * are 32-bit, an index past a 512-entry list, a field that wraps) is an
 * error naming the line, never a silent cut.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "replay.h"
#include "text.h"

/* QEMU hw/ppc/spapr.h: SPAPR_PCI_BASE_BUID, the BUID of PHB 0. */
#define QEMU_PCI_BASE_BUID ((uint64_t)UIOMMU_PAPR_PCI_BUID_BASE)
/* QEMU hw/ppc/spapr_pci.c: PHB indexes below 256 (the LIOBN keeps 8 bits). */
#define QEMU_MAX_PHB_INDEX 255
#define QEMU_TCE_PAGE_SHIFT UIOMMU_PAPR_TCE_PAGE_SHIFT
#define PAGE_4K 4096ULL
#define NO_PAGE UINT64_MAX
#define LIST_SLOT 1 /* memslot of the list page; RAM is memslot 0 */

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

uint64_t replay_hcalls(const struct replay_stats *st)
{
	uint64_t n = 0;

	for (int c = 0; c < CALL_NR; c++)
		n += st->calls[c];
	return n;
}

uint64_t replay_rtas_calls(const struct replay_stats *st)
{
	uint64_t n = 0;

	for (int c = 0; c < RTAS_NR; c++)
		n += st->rtas[c];
	return n;
}

uint64_t replay_checked(const struct replay_stats *st)
{
	return replay_hcalls(st) + replay_rtas_calls(st) + st->xlate_checked;
}

static const char *hcall_status_name(long h)
{
	switch (h) {
	case UIOMMU_H_SUCCESS: return "H_SUCCESS";
	case UIOMMU_H_HARDWARE: return "H_HARDWARE";
	case UIOMMU_H_FUNCTION: return "H_FUNCTION";
	case UIOMMU_H_PARAMETER: return "H_PARAMETER";
	case UIOMMU_H_TOO_HARD: return "H_TOO_HARD";
	default: return "unknown";
	}
}

static const char *rtas_status_name(int s)
{
	switch (s) {
	case UIOMMU_RTAS_SUCCESS: return "success";
	case UIOMMU_RTAS_HW_ERROR: return "hardware error";
	case UIOMMU_RTAS_PARAM_ERROR: return "parameter error";
	default: return "unknown";
	}
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

/* ---- the modelled host ---- */

int replay_host_init(struct replay_host *h, const struct uiommu_ctx_config *cfg, char *err,
		     size_t errlen)
{
	int ret;

	memset(h, 0, sizeof(*h));
	ret = uiommu_ctx_new(cfg, &h->ctx);
	if (ret) {
		snprintf(err, errlen, "cannot create a library context: %s", uiommu_strerror(ret));
		return ret;
	}
	uiommu_ctx_set_limit(h->ctx, UIOMMU_RES_LOCKED_BYTES, REPLAY_LOCKED_DEFAULT);
	return 0;
}

int replay_host_fini(struct replay_host *h)
{
	int ret;

	if (h->ram)
		uiommu_ram_remove(h->ctx, h->ram_hpa);
	if (h->list_page)
		uiommu_ram_remove(h->ctx, h->list_hpa);
	ret = uiommu_ctx_free(h->ctx);
	memset(h, 0, sizeof(*h));
	return ret;
}

/* Host memory for @size bytes of guest RAM: the region of earlier traces if it is large enough. */
static int host_ram(struct replay *r, uint64_t line, uint64_t size)
{
	struct replay_host *h = r->host;
	char buf[32];
	void *hva;
	int ret;

	if (h->ram_size >= size)
		return 0;
	if (h->ram)
		uiommu_ram_remove(h->ctx, h->ram_hpa);
	h->ram = NULL;
	h->ram_size = 0;
	ret = uiommu_ram_create(h->ctx, size, &h->ram_hpa, &hva);
	if (ret)
		return fatal(r, line, "cannot create %s of guest RAM: %s",
			     text_size(size, buf, sizeof(buf)), uiommu_strerror(ret));
	h->ram = hva;
	h->ram_size = size;
	return 0;
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

/* Guest RAM appeared: the VFIO side registers it. */
static int ram_added(struct replay *r, uint64_t line, char *hva, uint64_t len)
{
	r->ram_hva[r->nram] = hva;
	r->ram_len[r->nram++] = len;
	if (!r->vfio)
		return 0;
	return vfio_hook(r, line, replay_vfio_ram(r->vfio, hva, len, r->vfio_why,
						  sizeof(r->vfio_why)));
}

/* The engine is about to change the guest's memory: a vCPU in guest context leaves it. */
static void leave_guest(struct replay *r)
{
	if (r->hooks && r->hooks->leave)
		r->hooks->leave(r->hooks->opaque);
}

/* ---- limits ---- */

/*
 * If one of the context's limits refused the last call, append to @buf
 * which one and how to raise it. @res is the limit the call charges
 * (LIOBN creation charges UIOMMU_RES_LIOBNS, then UIOMMU_RES_LOCKED_BYTES).
 */
static bool limit_refusal(struct replay *r, enum uiommu_resource res, char *buf, size_t len)
{
	uint64_t hits = 0, limit = 0, usage = 0;
	char a[32], b[32];

	uiommu_ctx_get_counter(r->host->ctx, UIOMMU_COUNTER_LIMIT_HITS, &hits);
	if (hits == r->limit_hits)
		return false;
	r->limit_hits = hits;
	if (res == UIOMMU_RES_LOCKED_BYTES) {
		uiommu_ctx_get_usage(r->host->ctx, UIOMMU_RES_LIOBNS, &usage);
		uiommu_ctx_get_limit(r->host->ctx, UIOMMU_RES_LIOBNS, &limit);
		if (usage >= limit)
			res = UIOMMU_RES_LIOBNS;
	}
	uiommu_ctx_get_limit(r->host->ctx, res, &limit);
	uiommu_ctx_get_usage(r->host->ctx, res, &usage);
	if (res == UIOMMU_RES_LIOBNS)
		snprintf(buf, len, "the modelled host's %s limit (%" PRIu64 " tables) is reached; raise it with --limit %s=N",
			 uiommu_resource_name(res), limit, uiommu_resource_name(res));
	else
		snprintf(buf, len, "the modelled host's %s limit (%s, %s in use) refused it; raise it with --limit %s=SIZE",
			 uiommu_resource_name(res), text_size(limit, a, sizeof(a)),
			 text_size(usage, b, sizeof(b)), uiommu_resource_name(res));
	return true;
}

/* Why a window (uiommu_liobn_create(), or a PHB's default window) was refused. */
static const char *window_refusal(struct replay *r, int err, char *buf, size_t len)
{
	switch (err) {
	case -E2BIG:
		snprintf(buf, len, "more than %llu TCEs", (unsigned long long)UIOMMU_LIOBN_MAX_ENTRIES);
		break;
	case -EBUSY:
		snprintf(buf, len, "the LIOBN exists already");
		break;
	case -ENOSPC:
	case -ENOMEM:
		if (!limit_refusal(r, UIOMMU_RES_LOCKED_BYTES, buf, len))
			snprintf(buf, len, "%s", err == -ENOMEM ? "out of memory" : "no room");
		break;
	default:
		snprintf(buf, len, "%s", uiommu_strerror(err));
		break;
	}
	return buf;
}

/* ---- one trace ---- */

int replay_init(struct replay *r, struct replay_host *host, const struct replay_options *opt)
{
	int ret;

	memset(r, 0, sizeof(*r));
	r->opt = *opt;
	r->host = host;
	r->ctx = host->ctx;
	r->list_slot_gpa = NO_PAGE;
	uiommu_ctx_get_counter(host->ctx, UIOMMU_COUNTER_LIMIT_HITS, &r->limit_hits);
	ret = uiommu_guest_new(host->ctx, &r->guest);
	if (!ret)
		ret = uiommu_papr_set_profile(r->guest, opt->profile);
	if (ret) {
		snprintf(r->fatal, sizeof(r->fatal), "cannot create the guest: %s",
			 uiommu_strerror(ret));
		uiommu_guest_free(r->guest);
		r->guest = NULL;
		return ret;
	}
	if (opt->vfio)
		ret = replay_vfio_new(r->ctx, r->guest, &r->vfio, r->fatal, sizeof(r->fatal));
	return ret;
}

/* Give back the RAM pages lists were written to (a hole in the memfd): they read as zeros again. */
static void lists_drop(struct replay *r)
{
	for (unsigned int i = 0; i < r->nlist_dirty; i++)
		madvise(r->host->ram + r->list_dirty[i], PAGE_4K, MADV_REMOVE);
	r->nlist_dirty = 0;
}

void replay_fini(struct replay *r)
{
	replay_vfio_free(r->vfio); /* QEMU's exit: containers closed, RAM unpinned */
	r->vfio = NULL;
	uiommu_guest_free(r->guest);
	r->guest = NULL;
	/* The next trace gets zeroed memory: drop the pages this one wrote. */
	lists_drop(r);
	if (r->list_slot_gpa != NO_PAGE)
		memset(r->host->list_page, 0, PAGE_4K);
	r->list_slot_gpa = NO_PAGE;
	free(r->st.phase);
	r->st.phase = NULL;
	r->st.nphase = r->st.phase_cap = 0;
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
	r->st.phase[r->st.nphase - 1].hcalls++;
}

static void hist_add(struct replay_hist *h, uint64_t npages)
{
	if (npages <= UIOMMU_PAPR_MAX_INDIRECT_NPAGES)
		h->exact[npages]++;
	else
		h->log2[63 - __builtin_clzll(npages)]++;
}

static void count_unknown(struct replay *r, const char *name, size_t len)
{
	r->st.unknown++;
	for (unsigned int i = 0; i < r->st.nunknown_ev; i++) {
		if (strlen(r->st.unknown_ev[i].name) == len &&
		    !memcmp(r->st.unknown_ev[i].name, name, len)) {
			r->st.unknown_ev[i].count++;
			return;
		}
	}
	if (r->st.nunknown_ev < REPLAY_MAX_UNKNOWN) {
		memcpy(r->st.unknown_ev[r->st.nunknown_ev].name, name, len);
		r->st.unknown_ev[r->st.nunknown_ev].name[len] = '\0';
		r->st.unknown_ev[r->st.nunknown_ev++].count = 1;
	} else {
		r->st.unknown_other++;
	}
}

/* A new phase (a MARK line, or "boot" before the first). */
static int phase_add(struct replay *r, uint64_t line, const char *name, size_t len)
{
	struct replay_phase *p;

	if (r->st.nphase == REPLAY_MAX_PHASES)
		return fatal(r, line, "more than %d phases (MARK lines)", REPLAY_MAX_PHASES);
	if (r->st.nphase == r->st.phase_cap) {
		unsigned int cap = r->st.phase_cap ? r->st.phase_cap * 2 : 32;

		p = realloc(r->st.phase, cap * sizeof(*p));
		if (!p)
			return fatal(r, line, "out of memory");
		r->st.phase = p;
		r->st.phase_cap = cap;
	}
	p = &r->st.phase[r->st.nphase++];
	if (len >= sizeof(p->name))
		len = sizeof(p->name) - 1;
	memcpy(p->name, name, len);
	p->name[len] = '\0';
	p->hcalls = 0;
	return 0;
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

static bool phb_known(const struct replay *r, uint64_t index, uint64_t buid, bool by_buid)
{
	if (!by_buid)
		return index < 256 && r->phb_added[index];
	for (unsigned int i = 0; i < r->nphb; i++)
		if (r->phb[i].buid == buid)
			return true;
	return false;
}

static int phb_add(struct replay *r, uint64_t line, uint32_t index, uint64_t buid, bool ddw,
		   uint64_t dma64, uint64_t win_addr, uint64_t win_size)
{
	struct uiommu_papr_phb_config cfg;
	char why[200];
	int ret;

	if (r->nphb == UIOMMU_PAPR_MAX_PHBS)
		return fatal(r, line, "more than %d PHBs", UIOMMU_PAPR_MAX_PHBS);
	uiommu_papr_phb_config_default(&cfg, index);
	cfg.buid = buid;
	cfg.ddw_enabled = ddw;
	if (dma64)
		cfg.dma64_win_addr = dma64;
	if (win_size) {
		cfg.dma_win_addr = win_addr;
		cfg.dma_win_size = win_size;
	}
	geo_flush(r);
	ret = uiommu_papr_phb_add(r->guest, &cfg);
	if (ret == -EINVAL)
		snprintf(why, sizeof(why), "its default window (0x%" PRIx64 ", 0x%" PRIx64 " bytes) or its DDW address 0x%" PRIx64 " is not aligned to 4 KiB and its largest DDW page, or wraps",
			 cfg.dma_win_addr, cfg.dma_win_size, cfg.dma64_win_addr);
	else if (ret == -EBUSY)
		snprintf(why, sizeof(why), "its default window's LIOBN 0x%" PRIx64 " exists already as another window",
			 uiommu_papr_pci_liobn(index, 0));
	else if (ret)
		window_refusal(r, ret, why, sizeof(why));
	if (ret)
		return fatal(r, line, "PHB %u (BUID 0x%" PRIx64 ") refused: %s", index, buid, why);
	r->phb[r->nphb].index = index;
	r->phb[r->nphb].buid = buid;
	r->nphb++;
	r->phb_added[index & 0xff] = true;
	if (!r->vfio)
		return 0;
	return vfio_hook(r, line, replay_vfio_phb(r->vfio, index, r->vfio_why,
						  sizeof(r->vfio_why)));
}

/* A window's geometry, as the header or QEMU gives it; false with r->fatal set if invalid. */
static bool window_valid(struct replay *r, uint64_t line, uint64_t liobn, uint64_t bus_offset,
			 uint64_t size, uint64_t page_shift)
{
	uint64_t mask;

	if (page_shift < UIOMMU_LIOBN_MIN_PAGE_SHIFT || page_shift > UIOMMU_LIOBN_MAX_PAGE_SHIFT) {
		fatal(r, line, "window of LIOBN 0x%" PRIx64 ": page_shift %" PRIu64 " is outside %d..%d",
		      liobn, page_shift, UIOMMU_LIOBN_MIN_PAGE_SHIFT, UIOMMU_LIOBN_MAX_PAGE_SHIFT);
		return false;
	}
	mask = (1ULL << page_shift) - 1;
	if (!size || size & mask || bus_offset & mask || bus_offset + size < bus_offset) {
		fatal(r, line, "window of LIOBN 0x%" PRIx64 ": offset 0x%" PRIx64 " and size 0x%" PRIx64 " must be non-zero multiples of its 2^%" PRIu64 "-byte pages that do not pass 2^64",
		      liobn, bus_offset, size, page_shift);
		return false;
	}
	return true;
}

static int window_add(struct replay *r, uint64_t line, uint64_t liobn, uint64_t bus_offset,
		      uint64_t size, unsigned int page_shift)
{
	char why[200], a[32];
	int ret;

	if (!window_valid(r, line, liobn, bus_offset, size, page_shift))
		return -EINVAL;
	geo_flush(r);
	ret = uiommu_liobn_create(r->guest, liobn, page_shift, bus_offset >> page_shift,
				  size >> page_shift);
	if (ret)
		return fatal(r, line, "window of LIOBN 0x%" PRIx64 " (%s) refused: %s", liobn,
			     text_size(size, a, sizeof(a)), window_refusal(r, ret, why, sizeof(why)));
	return 0;
}

/* Build the guest from the header, at the first event that needs it. */
static int guest_setup(struct replay *r, uint64_t line)
{
	int ret;

	if (r->guest_ready)
		return 0;
	r->guest_ready = true;
	if (!r->ram_size)
		r->ram_size = REPLAY_RAM_DEFAULT;
	ret = host_ram(r, r->ram_line ? r->ram_line : line, r->ram_size);
	if (ret)
		return ret;
	leave_guest(r);
	ret = uiommu_guest_set_memslot(r->guest, 0, 0, r->ram_size, r->host->ram, 0);
	if (ret)
		return fatal(r, line, "cannot map guest RAM: %s", uiommu_strerror(ret));
	ret = ram_added(r, r->ram_line ? r->ram_line : line, r->host->ram, r->ram_size);
	if (ret)
		return ret;
	for (unsigned int i = 0; i < r->nhdr_phb; i++) {
		uint64_t addr = 0, size = 0;

		for (unsigned int w = 0; w < r->nhdr_window; w++) {
			if (r->hdr_window[w].liobn == r->hdr_phb[i].liobn) {
				addr = r->hdr_window[w].bus_offset;
				size = r->hdr_window[w].size;
				if (r->hdr_window[w].page_shift != QEMU_TCE_PAGE_SHIFT)
					return fatal(r, r->hdr_window[w].line, "window of LIOBN 0x%" PRIx64 ": a PHB's default window has 4 KiB pages, not 2^%" PRIu64,
						     r->hdr_window[w].liobn, r->hdr_window[w].page_shift);
			}
		}
		ret = phb_add(r, r->hdr_phb[i].line, (uint32_t)r->hdr_phb[i].index, r->hdr_phb[i].buid,
			      r->hdr_phb[i].ddw, r->hdr_phb[i].dma64_base, addr, size);
		if (ret)
			return ret;
	}
	for (unsigned int w = 0; w < r->nhdr_window; w++) {
		bool of_phb = false;

		for (unsigned int i = 0; i < r->nhdr_phb; i++)
			of_phb |= r->hdr_phb[i].liobn == r->hdr_window[w].liobn;
		if (of_phb)
			continue; /* a PHB's default window, made with the PHB */
		ret = window_add(r, r->hdr_window[w].line, r->hdr_window[w].liobn,
				 r->hdr_window[w].bus_offset, r->hdr_window[w].size,
				 (unsigned int)r->hdr_window[w].page_shift);
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
	uint32_t index, window;

	r->st.new_tables++;
	if (liobn > UINT32_MAX)
		return fatal(r, line, "new_table: LIOBN 0x%" PRIx64 " is wider than 32 bits: QEMU's are not, and no hcall could reach it",
			     liobn);
	if (!(liobn & 0x80000000ULL)) {
		if (liobn_exists(r, liobn))
			return 0;
		return window_add(r, line, liobn, 0, UIOMMU_PAPR_VIO_DMA_WIN_SIZE, QEMU_TCE_PAGE_SHIFT);
	}
	/* PCI: window 0 comes with its PHB; window 1 is made later, by DDW. */
	index = (uint32_t)(liobn >> 8) & 0xff;
	window = (uint32_t)liobn & 0xff;
	if (liobn != uiommu_papr_pci_liobn(index, window) || window >= UIOMMU_PAPR_MAX_WINDOWS)
		return fatal(r, line, "new_table: LIOBN 0x%" PRIx64 " is not QEMU's PCI encoding 0x80000000 | index << 8 | window, with window 0 or 1",
			     liobn);
	if (phb_known(r, index, 0, false))
		return 0;
	if (phb_known(r, 0, QEMU_PCI_BASE_BUID + index, true))
		return fatal(r, line, "new_table: PHB %u would have BUID 0x%" PRIx64 ", which another PHB of the header has",
			     index, QEMU_PCI_BASE_BUID + index);
	return phb_add(r, line, index, QEMU_PCI_BASE_BUID + index, true, 0, 0, 0);
}

/* DDW events: the PHB with this BUID; without a header, QEMU's PHB of that BUID. */
static int phb_for_buid(struct replay *r, uint64_t line, uint64_t buid)
{
	uint64_t index = buid - QEMU_PCI_BASE_BUID;

	if (phb_known(r, 0, buid, true))
		return 0;
	if (buid < QEMU_PCI_BASE_BUID || index > QEMU_MAX_PHB_INDEX || r->nhdr_phb ||
	    phb_known(r, index, 0, false))
		return fatal(r, line, "BUID 0x%" PRIx64 " names no PHB of the guest%s", buid,
			     r->nhdr_phb ? " (the header lists its PHBs)" :
			     buid < QEMU_PCI_BASE_BUID || index > QEMU_MAX_PHB_INDEX ?
			     " (QEMU's are 0x800000020000000 + index, index below 256)" : "");
	return phb_add(r, line, (uint32_t)index, buid, true, 0, 0, 0);
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
	char why[200] = "";

	if (got == want)
		return;
	if (got == UIOMMU_H_HARDWARE && limit_refusal(r, UIOMMU_RES_FRAME_BYTES, why + 2,
						      sizeof(why) - 2))
		memcpy(why, ": ", 2);
	mismatch(r, line, "%s liobn=0x%" PRIx64 ": returned %ld (%s), QEMU logged %" PRId64 " (%s)%s",
		 what, liobn, got, hcall_status_name(got), want, hcall_status_name((long)want), why);
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

/* The number of entries QEMU's loop reached, from what it logged (iobaN < 512). */
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

/*
 * Where the guest's list is, so that the replay can write it: its RAM, or
 * (a log without ram-size, whose RAM is a guess) the list page mapped
 * there. NULL when it lies outside RAM that the header gives: QEMU read
 * zeros there. Sets r->fatal and *ret_err on failure.
 */
static char *list_memory(struct replay *r, uint64_t line, uint64_t gpa, int *ret_err)
{
	uint64_t page = gpa & ~(PAGE_4K - 1);
	int ret;

	*ret_err = 0;
	if (gpa < r->ram_size) {
		/*
		 * At most REPLAY_LIST_PAGES pages of lists stay resident, so
		 * that memory stays bounded whatever the trace (Linux reuses
		 * one page per CPU).
		 */
		unsigned int i;

		for (i = 0; i < r->nlist_dirty && r->list_dirty[i] != page; i++)
			;
		if (i == r->nlist_dirty) {
			if (i == REPLAY_LIST_PAGES)
				lists_drop(r);
			r->list_dirty[r->nlist_dirty++] = page;
		}
		return r->host->ram + gpa;
	}
	if (r->ram_line || page > UINT64_MAX - PAGE_4K)
		return NULL;
	if (!r->host->list_page) {
		void *hva;

		leave_guest(r);
		ret = uiommu_ram_create(r->ctx, PAGE_4K, &r->host->list_hpa, &hva);
		if (ret) {
			*ret_err = fatal(r, line, "cannot create the TCE list page: %s",
					 uiommu_strerror(ret));
			return NULL;
		}
		r->host->list_page = hva;
	}
	if (r->list_slot_gpa != page) {
		bool first = r->list_slot_gpa == NO_PAGE;

		leave_guest(r);
		memset(r->host->list_page, 0, PAGE_4K);
		ret = uiommu_guest_set_memslot(r->guest, LIST_SLOT, page, PAGE_4K, r->host->list_page,
					       0);
		if (ret) {
			*ret_err = fatal(r, line, "cannot map the TCE list page at 0x%" PRIx64 ": %s",
					 page, uiommu_strerror(ret));
			return NULL;
		}
		r->list_slot_gpa = page;
		if (first) {
			*ret_err = ram_added(r, line, r->host->list_page, PAGE_4K);
			if (*ret_err)
				return NULL;
		}
	}
	return r->host->list_page + (gpa - page);
}

static int do_indirect(struct replay *r, uint64_t line, const struct trace_event *ev)
{
	unsigned int shift = liobn_page_shift(r, ev->liobn);
	uint64_t npages, last, args[4];
	uint64_t list[UIOMMU_PAPR_MAX_INDIRECT_NPAGES];
	long hret;
	int ret;

	if (ev->ioba_n >= UIOMMU_PAPR_MAX_INDIRECT_NPAGES)
		return fatal(r, line, "indirect: iobaN=0x%" PRIx64 " is not an entry of a list of at most %d TCEs",
			     ev->ioba_n, UIOMMU_PAPR_MAX_INDIRECT_NPAGES);
	npages = indirect_npages(r, ev, shift);
	if (npages > UIOMMU_PAPR_MAX_INDIRECT_NPAGES)
		return fatal(r, line, "indirect: a failure after entry iobaN=0x%" PRIx64 " would be at entry %" PRIu64 ", past a list of at most %d TCEs",
			     ev->ioba_n, npages - 1, UIOMMU_PAPR_MAX_INDIRECT_NPAGES);
	last = npages ? npages - 1 : 0;
	if (npages && !(ev->tcelist & (UIOMMU_PAPR_TCE_LIST_ALIGN - 1))) {
		char *hva = list_memory(r, line, ev->tcelist, &ret);

		if (ret)
			return ret;
		if (!hva) {
			/* Outside RAM QEMU read zeros, and so logged a zero TCE. */
			if (ev->tce_n)
				return fatal(r, line, "indirect: the TCE list at 0x%" PRIx64 " is outside guest RAM (ram-size 0x%" PRIx64 "), where QEMU reads zeros, but tceN=0x%" PRIx64,
					     ev->tcelist, r->ram_size, ev->tce_n);
			memset(list, 0, npages * 8);
		} else {
			/*
			 * Entry k of a Linux list: the logged entry's page, minus
			 * (last - k) pages (modulo 2^64, as a guest's arithmetic
			 * would wrap). On failure the logged TCE is the failing one,
			 * which is last.
			 */
			for (uint64_t k = 0; k < npages; k++)
				list[k] = __builtin_bswap64(ev->tce_n - ((last - k) << shift));
			memcpy(hva, list, npages * 8);
		}
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
		if (ev->npages > (UINT64_MAX >> shift) || ev->npages << shift > ev->ioba)
			return fatal(r, line, "stuff: the logged end ioba=0x%" PRIx64 " cannot follow npages=%" PRIu64 " pages of 2^%u bytes (the start would be below address 0)",
				     ev->ioba, ev->npages, shift);
		start = ev->ioba - (ev->npages << shift);
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
static int do_xlate(struct replay *r, uint64_t line, const struct trace_event *ev)
{
	uint64_t off, size, gpa = 0, want_mask, got_page;
	unsigned int shift, prot = 0;
	struct replay_liobn *l = liobn_stats(r, ev->liobn);
	int ret;

	if (l)
		l->xlate++;
	if (!r->opt.check_xlate)
		return 0;
	r->st.xlate_checked++;
	if (!geo_get(r, ev->liobn, &off, &shift, &size)) {
		r->st.xlate_mismatched++;
		mismatch(r, line, "xlate liobn=0x%" PRIx64 ": no such LIOBN in the replayed guest",
			 ev->liobn);
		return 0;
	}
	if (ev->ioba > UINT64_MAX - off)
		return fatal(r, line, "xlate liobn=0x%" PRIx64 ": the window-relative address 0x%" PRIx64 " passes 2^64 from the window's bus offset 0x%" PRIx64,
			     ev->liobn, ev->ioba, off);
	ret = uiommu_liobn_translate(r->guest, ev->liobn, off + ev->ioba, &gpa, &prot);
	if (ret == -ERANGE) {
		/* Out of the window: QEMU returns nothing, no access. */
		if (ev->tce || ev->perm) {
			r->st.xlate_mismatched++;
			mismatch(r, line, "xlate liobn=0x%" PRIx64 " 0x%" PRIx64 ": outside the window, QEMU translated to 0x%" PRIx64 " perm %" PRIu64,
				 ev->liobn, ev->ioba, ev->tce, ev->perm);
		}
		return 0;
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
	return 0;
}

/* ---- DDW RTAS calls ---- */

static void rtas_buid(uint32_t *args, uint64_t cfgaddr, uint64_t buid)
{
	args[0] = (uint32_t)cfgaddr;
	args[1] = (uint32_t)(buid >> 32);
	args[2] = (uint32_t)buid;
}

/* An RTAS cell: a logged value wider than 32 bits cannot have been one. */
static bool rtas_cell(struct replay *r, uint64_t line, const char *what, const char *field,
		      uint64_t v)
{
	if (v <= UINT32_MAX)
		return true;
	fatal(r, line, "%s: %s=0x%" PRIx64 " is wider than the RTAS call's 32-bit cell", what,
	      field, v);
	return false;
}

static void rtas_failed(struct replay *r, uint64_t line, const char *what, const char *field,
			uint64_t value, int status)
{
	char why[200] = "";

	if (status == UIOMMU_RTAS_HW_ERROR &&
	    limit_refusal(r, UIOMMU_RES_LOCKED_BYTES, why + 2, sizeof(why) - 2))
		memcpy(why, ": ", 2);
	mismatch(r, line, "%s %s=0x%" PRIx64 ": status %d (%s), QEMU succeeded%s", what, field,
		 value, status, rtas_status_name(status), why);
}

static int do_ddw(struct replay *r, uint64_t line, const struct trace_event *ev)
{
	uint32_t args[5], rets[6] = { 0 };
	int status, ret;

	switch (ev->type) {
	case TRACE_DDW_QUERY:
		if (!rtas_cell(r, line, "ddw_query", "addr", ev->cfgaddr) ||
		    !rtas_cell(r, line, "ddw_query", "mask", ev->mask))
			return -EINVAL;
		break;
	case TRACE_DDW_CREATE:
		if (!rtas_cell(r, line, "ddw_create", "addr", ev->cfgaddr) ||
		    !rtas_cell(r, line, "ddw_create", "liobn", ev->liobn))
			return -EINVAL;
		if (!ev->page_size || ev->page_size & (ev->page_size - 1) || !ev->req_size ||
		    ev->req_size & (ev->req_size - 1))
			return fatal(r, line, "ddw_create: page size 0x%" PRIx64 " and window 0x%" PRIx64 " must be powers of two",
				     ev->page_size, ev->req_size);
		break;
	case TRACE_DDW_REMOVE:
		if (!rtas_cell(r, line, "ddw_remove", "liobn", ev->liobn))
			return -EINVAL;
		break;
	default:
		if (!rtas_cell(r, line, "ddw_reset", "addr", ev->cfgaddr))
			return -EINVAL;
		break;
	}
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
			rtas_failed(r, line, "ibm,query-pe-dma-window", "buid", ev->buid, status);
		/* nret 6 (the 64-bit extension Linux uses): the page-size mask is cell 4. */
		else if (rets[1] != ev->windows || rets[4] != ev->mask)
			mismatch(r, line, "ibm,query-pe-dma-window buid=0x%" PRIx64 ": %u windows, mask 0x%x; QEMU: %" PRIu64 ", 0x%" PRIx64,
				 ev->buid, rets[1], rets[4], ev->windows, ev->mask);
		break;
	case TRACE_DDW_CREATE: {
		uint64_t start;

		r->st.rtas[RTAS_CREATE]++;
		rtas_buid(args, ev->cfgaddr, ev->buid);
		args[3] = (uint32_t)__builtin_ctzll(ev->page_size);
		args[4] = (uint32_t)__builtin_ctzll(ev->req_size);
		status = uiommu_papr_rtas(r->guest, UIOMMU_RTAS_CREATE_PE_DMA_WINDOW, 5, args, 4,
					  rets);
		start = (uint64_t)rets[2] << 32 | rets[3];
		if (status != UIOMMU_RTAS_SUCCESS)
			rtas_failed(r, line, "ibm,create-pe-dma-window", "buid", ev->buid, status);
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
			rtas_failed(r, line, "ibm,remove-pe-dma-window", "liobn", ev->liobn, status);
		break;
	default: /* reset */
		r->st.rtas[RTAS_RESET]++;
		rtas_buid(args, ev->cfgaddr, ev->buid);
		status = uiommu_papr_rtas(r->guest, UIOMMU_RTAS_RESET_PE_DMA_WINDOW, 3, args, 1, rets);
		if (status != UIOMMU_RTAS_SUCCESS)
			rtas_failed(r, line, "ibm,reset-pe-dma-window", "buid", ev->buid, status);
		break;
	}
	/* --vfio: the PHB's windows changed; QEMU's listener follows them in the container. */
	if (r->vfio) {
		uint64_t index = ev->type == TRACE_DDW_REMOVE ? (ev->liobn >> 8) & 0xff :
				 ev->buid - QEMU_PCI_BASE_BUID;

		for (unsigned int i = 0; i < r->nphb; i++)
			if (ev->type != TRACE_DDW_REMOVE && r->phb[i].buid == ev->buid)
				index = r->phb[i].index;
		if (phb_known(r, index, 0, false))
			return vfio_hook(r, line, replay_vfio_phb(r->vfio, (uint32_t)index,
								  r->vfio_why, sizeof(r->vfio_why)));
	}
	return 0;
}

/* ---- header ---- */

static bool text_is(const struct trace_event *ev, const char *s)
{
	return ev->text_len == strlen(s) && !memcmp(ev->text, s, ev->text_len);
}

static bool name_is(const struct trace_event *ev, const char *s)
{
	return ev->name_len == strlen(s) && !memcmp(ev->name, s, ev->name_len);
}

static void copy_text(char *dst, size_t cap, const struct trace_event *ev, size_t skip)
{
	size_t n = ev->text_len > skip ? ev->text_len - skip : 0;

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, ev->text + skip, n);
	dst[n] = '\0';
}

/* "# ram-size: BYTES", decimal or 0x hex; RAM at gpa 0. */
static int header_ram_size(struct replay *r, uint64_t line, const struct trace_event *ev)
{
	uint64_t v = 0;
	bool hex = ev->text_len > 2 && ev->text[0] == '0' && (ev->text[1] | 0x20) == 'x';
	size_t i = hex ? 2 : 0;
	char q[48], a[32], b[32];

	text_quote(q, sizeof(q), ev->text, ev->text_len);
	if (r->ram_line)
		return fatal(r, line, "a second ram-size header (the first is line %" PRIu64 ")",
			     r->ram_line);
	if (r->guest_ready)
		return fatal(r, line, "ram-size header after the first event");
	if (i == ev->text_len)
		return fatal(r, line, "ram-size '%s' is not a number of bytes (decimal, or hex with 0x)", q);
	for (; i < ev->text_len; i++) {
		char c = ev->text[i];
		unsigned int d = c >= '0' && c <= '9' ? (unsigned int)(c - '0') :
				 hex && (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ?
				 (unsigned int)((c | 0x20) - 'a' + 10) : 99;

		if (d == 99)
			return fatal(r, line, "ram-size '%s' is not a number of bytes (decimal, or hex with 0x)", q);
		if (v > (UINT64_MAX - d) / (hex ? 16 : 10))
			return fatal(r, line, "ram-size '%s' does not fit 64 bits", q);
		v = v * (hex ? 16 : 10) + d;
	}
	if (!v || v % PAGE_4K)
		return fatal(r, line, "ram-size %s is not a non-zero multiple of 4 KiB", q);
	if (v > REPLAY_RAM_MAX)
		return fatal(r, line, "ram-size %s (%s) is more than the replay models (%s)", q,
			     text_size(v, a, sizeof(a)), text_size(REPLAY_RAM_MAX, b, sizeof(b)));
	r->ram_size = v;
	r->ram_line = line;
	return 0;
}

static int header_window(struct replay *r, uint64_t line, const struct trace_event *ev)
{
	if (r->guest_ready)
		return fatal(r, line, "window header after the first event");
	for (unsigned int i = 0; i < r->nhdr_window; i++)
		if (r->hdr_window[i].liobn == ev->liobn)
			return fatal(r, line, "a second window header for LIOBN 0x%" PRIx64 " (the first is line %" PRIu64 ")",
				     ev->liobn, r->hdr_window[i].line);
	if (r->nhdr_window == REPLAY_MAX_HDR_WINDOWS)
		return fatal(r, line, "more than %d window headers", REPLAY_MAX_HDR_WINDOWS);
	if (!window_valid(r, line, ev->liobn, ev->bus_offset, ev->size, ev->page_shift))
		return -EINVAL;
	r->hdr_window[r->nhdr_window].liobn = ev->liobn;
	r->hdr_window[r->nhdr_window].bus_offset = ev->bus_offset;
	r->hdr_window[r->nhdr_window].size = ev->size;
	r->hdr_window[r->nhdr_window].page_shift = ev->page_shift;
	r->hdr_window[r->nhdr_window++].line = line;
	return 0;
}

static int header_phb(struct replay *r, uint64_t line, const struct trace_event *ev)
{
	if (r->guest_ready)
		return fatal(r, line, "phb header after the first event");
	if (ev->index > QEMU_MAX_PHB_INDEX)
		return fatal(r, line, "phb: index %" PRIu64 " is above QEMU's %d", ev->index,
			     QEMU_MAX_PHB_INDEX);
	if (ev->liobn != uiommu_papr_pci_liobn((uint32_t)ev->index, 0))
		return fatal(r, line, "phb %" PRIu64 ": default LIOBN 0x%" PRIx64 " is not QEMU's 0x%" PRIx64 " (0x80000000 | index << 8)",
			     ev->index, ev->liobn, uiommu_papr_pci_liobn((uint32_t)ev->index, 0));
	for (unsigned int i = 0; i < r->nhdr_phb; i++) {
		if (r->hdr_phb[i].index == ev->index)
			return fatal(r, line, "a second phb header for index %" PRIu64 " (the first is line %" PRIu64 ")",
				     ev->index, r->hdr_phb[i].line);
		if (r->hdr_phb[i].buid == ev->buid)
			return fatal(r, line, "a second phb header for BUID 0x%" PRIx64 " (the first is line %" PRIu64 ")",
				     ev->buid, r->hdr_phb[i].line);
	}
	if (r->nhdr_phb == REPLAY_MAX_HDR_PHBS)
		return fatal(r, line, "more than %d phb headers", REPLAY_MAX_HDR_PHBS);
	r->hdr_phb[r->nhdr_phb].index = ev->index;
	r->hdr_phb[r->nhdr_phb].buid = ev->buid;
	r->hdr_phb[r->nhdr_phb].liobn = ev->liobn;
	r->hdr_phb[r->nhdr_phb].dma64_base = ev->dma64_base;
	r->hdr_phb[r->nhdr_phb].ddw = ev->ddw;
	r->hdr_phb[r->nhdr_phb++].line = line;
	return 0;
}

static int header_line(struct replay *r, uint64_t line, const struct trace_event *ev)
{
	char q[48];

	r->st.headers++;
	if (ev->type == TRACE_WINDOW)
		return header_window(r, line, ev);
	if (ev->type == TRACE_PHB)
		return header_phb(r, line, ev);
	if (name_is(ev, "ram-size"))
		return header_ram_size(r, line, ev);
	if (name_is(ev, "uiommu-trace")) {
		if (!text_is(ev, "1"))
			return fatal(r, line, "trace format version '%s': this replay reads version 1",
				     text_quote(q, sizeof(q), ev->text, ev->text_len));
		r->format_line = line;
	} else if (name_is(ev, "scenario")) {
		copy_text(r->scenario, sizeof(r->scenario), ev, 0);
	} else if (name_is(ev, "qemu")) {
		copy_text(r->qemu, sizeof(r->qemu), ev, 0);
	} else if (name_is(ev, "end")) {
		r->end = text_is(ev, "ok") ? END_OK : END_FAILED;
		copy_text(r->end_text, sizeof(r->end_text), ev,
			  ev->text_len > 8 && !memcmp(ev->text, "failed: ", 8) ? 8 : 0);
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
		return phase_add(r, lineno, ev->name, ev->name_len);
	case TRACE_UNKNOWN:
		count_unknown(r, ev->name, ev->name_len);
		return 0;
	default:
		break;
	}
	r->st.events++;
	/* Everything before the first marker is the boot phase. */
	if (!r->st.nphase) {
		ret = phase_add(r, lineno, "boot", 4);
		if (ret)
			return ret;
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
		return do_xlate(r, lineno, ev);
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

enum replay_result replay_verdict(const struct replay *r, char *why, size_t whylen)
{
	const struct replay_stats *st = &r->st;
	uint64_t checked = replay_checked(st);

	if (r->end == END_FAILED) {
		snprintf(why, whylen, "the recording failed (%s): its replay proves nothing",
			 r->end_text[0] ? r->end_text : "no reason given");
		return REPLAY_FAILED;
	}
	if (r->format_line && r->end != END_OK) {
		snprintf(why, whylen, "the recording is incomplete: no '# end: ok' line");
		return REPLAY_FAILED;
	}
	if (st->malformed * 1000 > st->lines * REPLAY_MAX_SKIPPED_PERMILLE) {
		snprintf(why, whylen, "%" PRIu64 " of %" PRIu64 " lines were malformed and skipped: more than %d.%d%% is not a match",
			 st->malformed, st->lines, REPLAY_MAX_SKIPPED_PERMILLE / 10,
			 REPLAY_MAX_SKIPPED_PERMILLE % 10);
		return REPLAY_FAILED;
	}
	if (!checked) {
		snprintf(why, whylen, "nothing to compare: %s",
			 !st->lines ? "the input is empty" :
			 st->events ? "no hypercall, RTAS call or checked translation" :
				      "no hypercall, RTAS call or translation event in it");
		return REPLAY_FAILED;
	}
	return st->mismatches ? REPLAY_MISMATCH : REPLAY_MATCH;
}
