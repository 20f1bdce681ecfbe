// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fuzz driver: every public function with hostile argument values.
 *
 * No model: the contract checked is the one every header states for every
 * argument value its prototype allows. A library call returns 0 or a
 * negative errno, a PAPR entry point a PAPR code, nothing crashes, and
 * nothing is undefined behaviour (the sanitizer builds run this driver:
 * a shift by a caller's order, a negated INT_MIN, an overflowing sum is a
 * failure). Values are the edges that break arithmetic (0, 1, powers of
 * two and their neighbours, 63, 64, 99, INT_MIN, UINT64_MAX...) or raw
 * input bytes, as they are or added to the address of a live object, so
 * that calls reach past their first check. Limits, fault injection and
 * the log are hostile too. At the end of every input everything that was
 * made is taken apart again and uiommu_ctx_free() must find nothing left.
 *
 * Pointers are the caller's to get right, so they are valid (or NULL), a
 * buffer's length never exceeds the buffer, a memslot lies in memory that
 * exists, and memory goes only when no guest could still use it.
 *
 * Input: byte 0 and a few more build the context (its config's size,
 * flags, host page shift, log level); then operations: an op byte and the
 * values it takes.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uiommu/uiommu.h>

#include "fuzz.h"

#define ARRAY_SIZE(x) (sizeof(x) / sizeof((x)[0]))

#define NOBJ 4
#define BUF 8192
#define NCELLS 64
/* What one input may use, so that it stays fast: hostile limits are clamped to these. */
#define FRAME_CAP (16ULL << 20)
#define LOCKED_CAP (16ULL << 20)
#define TABLE_CAP (64ULL << 20)
#define REGIONS_CAP 6

struct api {
	struct fuzz_input in;
	struct uiommu_ctx *ctx;
	uint64_t ram_hpa[NOBJ], ram_size[NOBJ];
	void *ram_hva[NOBJ];
	void *hostmem[NOBJ];
	uint64_t hostmem_size[NOBJ];
	uint64_t frame[NOBJ];
	unsigned int frame_order[NOBJ];
	struct {
		void *hva;
		uint64_t size;
	} pin[NOBJ];
	struct uiommu_guest *guest[2];
	struct uiommu_tce_table *tbl[2];
	int kill_links[2];
	uint64_t liobns[NOBJ]; /* LIOBNs created, to name them again */
	uint8_t buf[BUF];
	uint64_t hpas[BUF / 8];
};

/* ---- hostile values ---- */

static const uint64_t edges[] = {
	0, 1, 2, 3, 7, 8, 9, 11, 12, 13, 15, 16, 17, 18, 19, 21, 24, 30, 31, 32, 33, 34, 35,
	52, 59, 62, 63, 64, 65, 99, 127, 128, 255, 256, 511, 512, 513, 4095, 4096, 4097,
	65535, 65536, 1ULL << 20, 1ULL << 21, 1ULL << 30, 1ULL << 31, 1ULL << 32,
	(1ULL << 32) - 1, (1ULL << 32) + 1, 1ULL << 34, 1ULL << 40, 1ULL << 52, 1ULL << 59,
	1ULL << 62, 1ULL << 63, (1ULL << 63) - 1, (1ULL << 63) + 1, (uint64_t)INT_MAX,
	(uint64_t)(int64_t)INT_MIN, (uint64_t)(int64_t)INT_MIN & 0xffffffffu, UINT64_MAX,
	UINT64_MAX - 1, UINT64_MAX - 4095, UINT64_MAX - 4096, UINT64_MAX << 12,
	0x800000020000000ULL, 0x80000000ULL, 0x71000002ULL, 0x1003ULL, 0x2003ULL,
};

/* A hostile 64-bit value. */
static uint64_t hv(struct api *a)
{
	uint64_t c = fuzz_take(&a->in, 1);

	if (c < ARRAY_SIZE(edges))
		return edges[c];
	if (c < 0xe0)
		return fuzz_take(&a->in, 8);
	return edges[c % ARRAY_SIZE(edges)] ^ fuzz_take(&a->in, 1); /* an edge, slightly off */
}

static unsigned int hv32(struct api *a)
{
	return (unsigned int)hv(a);
}

/* An address: near a live object (hpa or host pointer), or anywhere. */
static uint64_t addr(struct api *a, bool host)
{
	uint64_t c = fuzz_take(&a->in, 1), base = 0;
	unsigned int i = (unsigned int)c % NOBJ;

	switch ((c >> 2) % 5) {
	case 0:
		base = host ? (uint64_t)(uintptr_t)a->ram_hva[i] : a->ram_hpa[i];
		break;
	case 1:
		base = host ? (uint64_t)(uintptr_t)a->hostmem[i] : a->frame[i];
		break;
	case 2:
		base = host ? (uint64_t)(uintptr_t)a->buf : UIOMMU_HPA_LIBRARY_BASE;
		break;
	case 3:
		return hv(a);
	default:
		break;
	}
	/* Small offsets mostly, hostile ones too. */
	return base + ((c & 0x80) ? hv(a) : fuzz_take(&a->in, 2) << 12);
}

static size_t buf_len(struct api *a)
{
	uint64_t v = hv(a);

	return (size_t)(v <= BUF ? v : v % (BUF + 1));
}

/* The contract of every library call. */
#define CHECK_ERRNO(call)                                                                  \
	do {                                                                               \
		int r_ = (call);                                                           \
		FUZZ_CHECK(r_ <= 0 && r_ >= -4095, "%s = %d", #call, r_);                  \
	} while (0)

static bool papr_code(long r)
{
	return r == UIOMMU_H_SUCCESS || r == UIOMMU_H_HARDWARE || r == UIOMMU_H_FUNCTION ||
	       r == UIOMMU_H_PARAMETER || r == UIOMMU_H_TOO_HARD;
}

#define CHECK_H(call)                                                                      \
	do {                                                                               \
		long r_ = (call);                                                          \
		FUZZ_CHECK(papr_code(r_), "%s = %ld", #call, r_);                          \
	} while (0)

/* ---- callbacks ---- */

static void log_fn(void *opaque, enum uiommu_log_level level, const char *msg)
{
	(void)opaque;
	FUZZ_CHECK(msg && strlen(msg) < 512 && level >= UIOMMU_LOG_ERR && level <= UIOMMU_LOG_DEBUG,
		   "log message");
}

static void kill_fn(void *opaque, struct uiommu_tce_table *tbl, uint64_t entry, uint64_t npages)
{
	(void)opaque, (void)tbl, (void)entry, (void)npages;
}

static void clear_fn(void *opaque, uint64_t entry, uint64_t old_hpa, enum uiommu_dma_dir dir)
{
	(void)opaque, (void)entry, (void)old_hpa, (void)dir;
}

/* Keep an input's resources small whatever limits it sets. */
static void clamp_limits(struct api *a)
{
	static const struct {
		enum uiommu_resource res;
		uint64_t cap;
	} caps[] = {
		{ UIOMMU_RES_FRAME_BYTES, FRAME_CAP },	 { UIOMMU_RES_LOCKED_BYTES, LOCKED_CAP },
		{ UIOMMU_RES_TABLE_BYTES, TABLE_CAP },	 { UIOMMU_RES_RAM_REGIONS, REGIONS_CAP },
		{ UIOMMU_RES_HOSTMEM, 16 },		 { UIOMMU_RES_LIOBNS, 64 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(caps); i++) {
		uint64_t l = 0;

		FUZZ_CHECK(!uiommu_ctx_get_limit(a->ctx, caps[i].res, &l), "get_limit");
		if (l > caps[i].cap)
			FUZZ_CHECK(!uiommu_ctx_set_limit(a->ctx, caps[i].res, caps[i].cap), "set_limit");
	}
}

/* ---- the operations ---- */

static void op_ctx(struct api *a, unsigned int op)
{
	uint64_t v = 0;

	switch (op % 10) {
	case 0:
		CHECK_ERRNO(uiommu_ctx_set_limit(a->ctx, (enum uiommu_resource)hv32(a), hv(a)));
		clamp_limits(a);
		break;
	case 1:
		CHECK_ERRNO(uiommu_ctx_get_limit(a->ctx, (enum uiommu_resource)hv32(a),
						 (op & 0x80) ? NULL : &v));
		break;
	case 2:
		CHECK_ERRNO(uiommu_ctx_get_usage(a->ctx, (enum uiommu_resource)hv32(a),
						 (op & 0x80) ? NULL : &v));
		break;
	case 3:
		CHECK_ERRNO(uiommu_ctx_get_counter(a->ctx, (enum uiommu_counter)hv32(a),
						   (op & 0x80) ? NULL : &v));
		break;
	case 4:
		CHECK_ERRNO(uiommu_ctx_set_log(a->ctx, (op & 0x80) ? NULL : log_fn, NULL, hv32(a)));
		break;
	case 5:
		CHECK_ERRNO(uiommu_ctx_set_guest_log_ratelimit(a->ctx, hv32(a), hv(a)));
		break;
	case 6:
		/* Faults from the next few points on, or never: the teardown disarms. */
		CHECK_ERRNO(uiommu_ctx_inject_fault(a->ctx, hv(a), hv32(a)));
		break;
	case 7: {
		const char *s = uiommu_resource_name((enum uiommu_resource)hv32(a));

		FUZZ_CHECK(!s || strlen(s) < 64, "resource name");
		break;
	}
	case 8: {
		int e = (int)hv(a);

		FUZZ_CHECK(uiommu_strerror(e) && uiommu_errno_name(e), "strerror(%d)", e);
		break;
	}
	default:
		FUZZ_CHECK(uiommu_ctx_host_page_shift(a->ctx) == 12 ||
				   uiommu_ctx_host_page_shift(a->ctx) == 16, "host_page_shift");
		FUZZ_CHECK(uiommu_version() && uiommu_version_number(), "version");
		break;
	}
}

static bool guests(const struct api *a)
{
	return a->guest[0] || a->guest[1];
}

static bool pins(const struct api *a)
{
	for (unsigned int i = 0; i < NOBJ; i++)
		if (a->pin[i].hva)
			return true;
	return false;
}

static void op_mem(struct api *a, unsigned int op)
{
	unsigned int i = (op >> 4) % NOBJ;
	uint64_t v = 0, len = 0, hpa;
	void *p = NULL;
	int fd = -1, r;

	switch (op % 12) {
	case 0:
		if (a->ram_hva[i])
			break;
		a->ram_size[i] = hv(a);
		r = uiommu_ram_create(a->ctx, a->ram_size[i], &a->ram_hpa[i], &a->ram_hva[i]);
		CHECK_ERRNO(r);
		if (r)
			a->ram_hpa[i] = 0, a->ram_hva[i] = NULL;
		break;
	case 1:
		if (guests(a))
			break; /* a memslot may be on it */
		r = uiommu_ram_remove(a->ctx, (op & 0x80) ? addr(a, false) : a->ram_hpa[i]);
		CHECK_ERRNO(r);
		if (!r) { /* which one went? */
			for (unsigned int k = 0; k < NOBJ; k++) {
				if (a->ram_hva[k] && uiommu_hpa_to_hva(a->ctx, a->ram_hpa[k], 1, &p)) {
					a->ram_hva[k] = NULL;
					a->ram_hpa[k] = 0;
				}
			}
		}
		break;
	case 2:
		CHECK_ERRNO(uiommu_ram_get_fd(a->ctx, addr(a, false), (op & 0x80) ? NULL : &fd, &v,
					      (op & 0x40) ? NULL : &len));
		break;
	case 3:
		CHECK_ERRNO(uiommu_hpa_to_hva(a->ctx, addr(a, false), hv(a), (op & 0x80) ? NULL : &p));
		break;
	case 4:
		CHECK_ERRNO(uiommu_hva_to_hpa(a->ctx, (void *)(uintptr_t)addr(a, true),
					      (op & 0x80) ? NULL : &v));
		break;
	case 5:
		if (a->frame[i])
			break;
		a->frame_order[i] = hv32(a);
		r = uiommu_frames_alloc(a->ctx, a->frame_order[i], &a->frame[i]);
		CHECK_ERRNO(r);
		if (r)
			a->frame[i] = 0;
		break;
	case 6:
		hpa = (op & 0x80) ? addr(a, false) : a->frame[i];
		r = uiommu_frames_free(a->ctx, hpa, (op & 0x40) ? hv32(a) : a->frame_order[i]);
		CHECK_ERRNO(r);
		for (unsigned int k = 0; !r && k < NOBJ; k++)
			if (a->frame[k] == hpa)
				a->frame[k] = 0;
		break;
	case 7:
		if (a->hostmem[i])
			break;
		a->hostmem_size[i] = hv(a);
		r = uiommu_hostmem_alloc(a->ctx, a->hostmem_size[i], hv32(a), hv32(a), &a->hostmem[i]);
		CHECK_ERRNO(r);
		if (r)
			a->hostmem[i] = NULL;
		break;
	case 8:
		if (guests(a))
			break; /* a memslot may be on it */
		p = (op & 0x80) ? (void *)(uintptr_t)addr(a, true) : a->hostmem[i];
		r = uiommu_hostmem_free(a->ctx, p);
		CHECK_ERRNO(r);
		for (unsigned int k = 0; !r && k < NOBJ; k++)
			if (a->hostmem[k] == p)
				a->hostmem[k] = NULL;
		break;
	case 9: {
		unsigned int shift = 0;

		CHECK_ERRNO(uiommu_hostmem_page_shift(a->ctx, (void *)(uintptr_t)addr(a, true),
						      (op & 0x80) ? NULL : &shift));
		break;
	}
	case 10:
		/* A pin's hpas fit the array; a size beyond it goes without them. */
		if (a->pin[i].hva)
			break;
		p = (void *)(uintptr_t)addr(a, true);
		len = hv(a);
		r = uiommu_pin(a->ctx, p, len, len / 4096 <= ARRAY_SIZE(a->hpas) ? a->hpas : NULL);
		CHECK_ERRNO(r);
		if (!r)
			a->pin[i].hva = p, a->pin[i].size = len;
		break;
	default:
		/* Hostile unpins only while the driver holds no pin, so that it knows what is pinned. */
		if ((op & 0x80) && !pins(a)) {
			CHECK_ERRNO(uiommu_unpin(a->ctx, (void *)(uintptr_t)addr(a, true), hv(a)));
		} else if (a->pin[i].hva) {
			CHECK_ERRNO(uiommu_unpin(a->ctx, a->pin[i].hva, a->pin[i].size));
			a->pin[i].hva = NULL;
		}
		break;
	}
}

static void op_guest(struct api *a, unsigned int op)
{
	struct uiommu_guest *g = a->guest[op >> 7];
	void *p = NULL;
	size_t len;

	if (!g) {
		int r = uiommu_guest_new(a->ctx, &a->guest[op >> 7]);

		CHECK_ERRNO(r);
		if (r)
			a->guest[op >> 7] = NULL;
		return;
	}
	FUZZ_CHECK(uiommu_guest_ctx(g) == a->ctx, "guest_ctx");
	switch (op % 6) {
	case 0: {
		/* On a live region or buffer, inside it; or no memory at all (a removal). */
		uint64_t c = fuzz_take(&a->in, 1), gpa = hv(a), size = hv(a), off = hv(a);
		unsigned int k = (unsigned int)(c >> 2) % NOBJ;
		char *base = (c & 1) ? a->ram_hva[k] : a->hostmem[k];
		uint64_t room = (c & 1) ? a->ram_size[k] : a->hostmem_size[k];

		if (base && (c & 2)) {
			off = (off % room) & ~4095ULL;
			if (size > room - off)
				size = room - off;
			CHECK_ERRNO(uiommu_guest_set_memslot(g, hv32(a), gpa, size, base + off, hv32(a)));
		} else {
			CHECK_ERRNO(uiommu_guest_set_memslot(g, hv32(a), gpa, (c & 4) ? 0 : size, NULL,
							     hv32(a)));
		}
		break;
	}
	case 1:
		CHECK_ERRNO(uiommu_guest_gpa_to_hva(g, hv(a), hv(a), (op & 0x40) ? NULL : &p));
		break;
	case 2:
		len = buf_len(a);
		CHECK_ERRNO(uiommu_guest_read(g, hv(a), (op & 0x40) && !len ? NULL : a->buf, len));
		break;
	case 3:
		len = buf_len(a);
		CHECK_ERRNO(uiommu_guest_write(g, hv(a), a->buf, len));
		break;
	case 4:
		CHECK_ERRNO(uiommu_papr_set_profile(g, (enum uiommu_papr_profile)hv32(a)));
		(void)uiommu_papr_get_profile(g);
		break;
	default:
		uiommu_guest_free(g);
		a->guest[op >> 7] = NULL;
		break;
	}
}

static void op_tce(struct api *a, unsigned int op)
{
	struct uiommu_tce_table **tp = &a->tbl[op >> 7], *t = *tp;
	struct uiommu_tce_geometry geo;
	uint64_t v = 0, w = 0;
	enum uiommu_dma_dir dir;
	unsigned int prot;

	switch (op % 14) {
	case 0:
		(void)uiommu_tce_table_size(hv32(a), hv32(a), hv(a), hv32(a));
		/* @size is the caller's to get right: at most the struct, hostile below that. */
		geo.size = (uint32_t)((op & 0x20) ? hv(a) % (sizeof(geo) + 1) : sizeof(geo));
		CHECK_ERRNO(uiommu_tce_geometry(hv32(a), hv32(a), hv(a), hv32(a),
						(op & 0x40) ? NULL : &geo));
		return;
	case 1:
		(void)uiommu_tce_perm((enum uiommu_dma_dir)hv32(a));
		(void)uiommu_tce_direction(hv(a));
		return;
	case 2:
		if (!t) {
			int r = uiommu_tce_table_new(a->ctx, hv(a), hv32(a), hv(a), hv32(a), tp);

			CHECK_ERRNO(r);
			if (r)
				*tp = NULL;
		}
		return;
	default:
		break;
	}
	if (!t)
		return;
	switch (op % 14) {
	case 3:
		uiommu_tce_table_unref(t);
		*tp = NULL;
		a->kill_links[op >> 7] = 0;
		break;
	case 4: {
		struct uiommu_tce_table_info info;

		memset(&info, 0, sizeof(info));
		info.size = (uint32_t)((op & 0x40) ? hv(a) % (sizeof(info) + 1) : sizeof(info));
		CHECK_ERRNO(uiommu_tce_table_info(t, (op & 0x20) ? NULL : &info));
		FUZZ_CHECK(uiommu_tce_table_ctx(t) == a->ctx, "table ctx");
		break;
	}
	case 5:
		CHECK_ERRNO(uiommu_tce_table_check_ioba(t, hv(a), hv(a)));
		break;
	case 6:
		CHECK_ERRNO(uiommu_tce_table_xchg_no_kill(t, hv(a), hv(a), (enum uiommu_dma_dir)hv32(a),
							  &v, &dir));
		break;
	case 7:
		CHECK_ERRNO(uiommu_tce_table_xchg(t, hv(a), hv(a), (enum uiommu_dma_dir)hv32(a),
						  (op & 0x40) ? NULL : &v, (op & 0x20) ? NULL : &dir));
		break;
	case 8: {
		uint64_t tces[NCELLS], uas[NCELLS];

		CHECK_ERRNO(uiommu_tce_table_get(t, hv(a), (op & 0x40) ? NULL : &v));
		/* A range of up to NCELLS entries (0 included), into arrays that long. */
		CHECK_ERRNO(uiommu_tce_table_get_range(t, hv(a), hv(a) % (NCELLS + 1),
						       (op & 0x40) ? NULL : tces,
						       (op & 0x20) ? NULL : uas));
		break;
	}
	case 9:
		CHECK_ERRNO(uiommu_tce_table_clear(t, hv(a), hv(a), (op & 0x40) ? NULL : clear_fn, NULL,
						   (op & 0x20) ? NULL : &w));
		break;
	case 10:
		CHECK_ERRNO(uiommu_tce_table_translate(t, hv(a), (op & 0x40) ? NULL : &v, &prot));
		break;
	case 11:
		CHECK_ERRNO(uiommu_tce_table_ua_xchg(t, hv(a), hv(a), (op & 0x40) ? NULL : &v));
		CHECK_ERRNO(uiommu_tce_table_ua_get(t, hv(a), (op & 0x20) ? NULL : &w));
		break;
	case 12: {
		int r = (op & 0x40) ? uiommu_tce_table_kill_unlink(t, (op & 0x20) ? NULL : kill_fn, a)
				    : uiommu_tce_table_kill_link(t, (op & 0x20) ? NULL : kill_fn, a);

		CHECK_ERRNO(r);
		break;
	}
	default:
		CHECK_ERRNO(uiommu_tce_table_kill(t, hv(a), hv(a)));
		/* A reference taken and dropped again. */
		FUZZ_CHECK(uiommu_tce_table_ref(t) == t, "ref");
		uiommu_tce_table_unref(t);
		break;
	}
}

static void op_papr(struct api *a, unsigned int op)
{
	struct uiommu_guest *g = a->guest[op >> 7];
	uint64_t liobn = (op & 0x40) ? a->liobns[fuzz_take(&a->in, 1) % NOBJ] : hv(a);
	uint64_t v = 0, w = 0;
	unsigned int shift = 0;

	if (!g)
		return;
	switch (op % 12) {
	case 0: {
		int r = uiommu_liobn_create(g, liobn, hv32(a), hv(a), hv(a));

		CHECK_ERRNO(r);
		if (!r)
			a->liobns[liobn % NOBJ] = liobn;
		break;
	}
	case 1:
		CHECK_ERRNO(uiommu_liobn_create_legacy(g, liobn, hv32(a)));
		CHECK_ERRNO(uiommu_liobn_create_vio(g, hv32(a)));
		break;
	case 2:
		CHECK_ERRNO(uiommu_liobn_destroy(g, liobn));
		break;
	case 3:
		(void)uiommu_papr_pci_liobn(hv32(a), hv32(a));
		(void)uiommu_papr_vio_liobn(hv32(a));
		CHECK_ERRNO(uiommu_liobn_get_tce(g, liobn, hv(a), (op & 0x20) ? NULL : &v));
		{
			uint64_t tces[NCELLS];

			CHECK_ERRNO(uiommu_liobn_get_tces(g, liobn, hv(a), hv(a) % (NCELLS + 1),
							  (op & 0x20) ? NULL : tces));
		}
		break;
	case 4:
		CHECK_ERRNO(uiommu_liobn_translate(g, liobn, hv(a), (op & 0x20) ? NULL : &v, &shift));
		CHECK_ERRNO(uiommu_liobn_info(g, liobn, &v, (op & 0x20) ? NULL : &shift, &w));
		break;
	case 5:
		CHECK_H(uiommu_h_put_tce(g, liobn, hv(a), hv(a)));
		CHECK_H(uiommu_h_get_tce(g, liobn, hv(a), (op & 0x20) ? NULL : &v));
		break;
	case 6:
		CHECK_H(uiommu_h_put_tce_indirect(g, liobn, hv(a), hv(a), hv(a)));
		break;
	case 7:
		CHECK_H(uiommu_h_stuff_tce(g, liobn, hv(a), hv(a), hv(a)));
		break;
	case 8: {
		uint64_t args[NCELLS], rets[NCELLS];
		unsigned int nargs = hv32(a), nrets = hv32(a);

		for (int k = 0; k < NCELLS; k++)
			args[k] = k == 0 ? liobn : hv(a);
		/* The arrays are NCELLS long: a count past that goes with no array. */
		CHECK_H(uiommu_papr_hcall(g, hv(a), nargs <= NCELLS ? args : NULL, nargs,
					  nrets <= NCELLS ? rets : NULL, nrets));
		break;
	}
	case 9: {
		struct uiommu_papr_phb_config cfg;

		uiommu_papr_phb_config_default(&cfg, hv32(a));
		switch (fuzz_take(&a->in, 1) % 8) {
		case 0:
			cfg.size = (uint32_t)(hv(a) % (sizeof(cfg) + 1));
			break;
		case 1:
			cfg.buid = hv(a);
			break;
		case 2:
			cfg.dma_win_addr = hv(a), cfg.dma_win_size = hv(a);
			break;
		case 3:
			cfg.dma64_win_addr = hv(a);
			break;
		case 4:
			cfg.page_size_mask = hv(a);
			break;
		case 5:
			cfg.ddw_enabled = hv32(a), cfg.flags = hv32(a);
			break;
		default:
			break;
		}
		CHECK_ERRNO(uiommu_papr_phb_add(g, (op & 0x20) ? NULL : &cfg));
		break;
	}
	case 10:
		CHECK_ERRNO(uiommu_papr_phb_remove(g, (op & 0x20) ? UIOMMU_PAPR_PCI_BUID_BASE +
								       fuzz_take(&a->in, 1) % 4
								 : hv(a)));
		break;
	default: {
		uint32_t args[NCELLS], rets[NCELLS];
		uint32_t nargs = hv32(a), nret = hv32(a);
		uint64_t buid = UIOMMU_PAPR_PCI_BUID_BASE + fuzz_take(&a->in, 1) % 4;
		int r;

		for (int k = 0; k < NCELLS; k++)
			args[k] = (uint32_t)hv(a);
		if (op & 0x20) {
			args[1] = (uint32_t)(buid >> 32);
			args[2] = (uint32_t)buid;
		}
		/* The cells are NCELLS long: larger counts are cut to that. */
		r = uiommu_papr_rtas(g, UIOMMU_RTAS_QUERY_PE_DMA_WINDOW + fuzz_take(&a->in, 1) % 5,
				     nargs % (NCELLS + 1), args, nret % (NCELLS + 1), rets);
		FUZZ_CHECK(r == UIOMMU_RTAS_SUCCESS || r == UIOMMU_RTAS_HW_ERROR ||
				   r == UIOMMU_RTAS_PARAM_ERROR, "rtas = %d", r);
		break;
	}
	}
}

/* Take apart everything the input made; the context must then be empty. */
static void teardown(struct api *a)
{
	/* Removals allocate (new lookup arrays): no fault, and no heap limit, now. */
	FUZZ_CHECK(!uiommu_ctx_inject_fault(a->ctx, 0, 0), "disarm");
	FUZZ_CHECK(!uiommu_ctx_set_limit(a->ctx, UIOMMU_RES_HEAP_BYTES, UIOMMU_LIMIT_NONE), "limit");
	for (int i = 0; i < 2; i++) {
		uiommu_tce_table_unref(a->tbl[i]);
		uiommu_guest_free(a->guest[i]);
	}
	for (unsigned int i = 0; i < NOBJ; i++) {
		if (a->pin[i].hva)
			FUZZ_CHECK(!uiommu_unpin(a->ctx, a->pin[i].hva, a->pin[i].size), "unpin");
		if (a->frame[i])
			FUZZ_CHECK(!uiommu_frames_free(a->ctx, a->frame[i], a->frame_order[i]),
				   "frames_free");
	}
	for (unsigned int i = 0; i < NOBJ; i++) {
		if (a->hostmem[i])
			FUZZ_CHECK(!uiommu_hostmem_free(a->ctx, a->hostmem[i]), "hostmem_free");
		if (a->ram_hva[i])
			FUZZ_CHECK(!uiommu_ram_remove(a->ctx, a->ram_hpa[i]), "ram_remove");
	}
	{
		int r = uiommu_ctx_free(a->ctx);

		FUZZ_CHECK(!r, "ctx_free = %d: something was left", r);
	}
}

int fuzz_api(const uint8_t *data, size_t size)
{
	static struct api api;
	struct api *a = &api;
	unsigned char cfg_buf[sizeof(struct uiommu_ctx_config) + 64];
	struct uiommu_ctx_config *cfg = (struct uiommu_ctx_config *)(void *)cfg_buf;
	int ops = 0, r;

	memset(a, 0, sizeof(*a));
	a->in = (struct fuzz_input){ data, size, 0 };

	/* A context from a hostile config, or the defaults. */
	memset(cfg_buf, 0, sizeof(cfg_buf));
	cfg->size = sizeof(*cfg);
	if (fuzz_take(&a->in, 1) & 1) {
		unsigned int c = (unsigned int)fuzz_take(&a->in, 1);

		if (c & 1)
			cfg->size = (uint32_t)(hv(a) % sizeof(cfg_buf));
		if (c & 2)
			cfg_buf[sizeof(*cfg) + fuzz_take(&a->in, 1) % 64] = (unsigned char)c;
		cfg->flags = (c & 4) ? hv32(a) : 0;
		cfg->host_page_shift = (c & 8) ? hv32(a) : (c & 16) ? 12 : 0;
		cfg->log_max_level = (c & 32) ? hv32(a) : UIOMMU_LOG_DEBUG;
		cfg->log_fn = (c & 64) ? log_fn : NULL;
		r = uiommu_ctx_new(cfg, (c & 128) ? NULL : &a->ctx);
		CHECK_ERRNO(r);
		if (r)
			return 0;
		/* Never mlock for real here: pins are simulated whatever the input says. */
		uiommu_ctx_free(a->ctx);
		cfg->flags |= UIOMMU_CTX_PIN_SIMULATE;
		FUZZ_CHECK(!uiommu_ctx_new(cfg, &a->ctx), "the same config again");
	} else {
		cfg->flags = UIOMMU_CTX_PIN_SIMULATE;
		FUZZ_CHECK(!uiommu_ctx_new(cfg, &a->ctx), "ctx_new");
	}
	clamp_limits(a);

	while (!fuzz_done(&a->in) && ops++ < 256) {
		unsigned int op = (unsigned int)fuzz_take(&a->in, 1);
		unsigned int arg = (unsigned int)fuzz_take(&a->in, 1);

		switch (op % 5) {
		case 0:
			op_ctx(a, arg);
			break;
		case 1:
			op_mem(a, arg);
			break;
		case 2:
			op_guest(a, arg);
			break;
		case 3:
			op_tce(a, arg);
			break;
		default:
			op_papr(a, arg);
			break;
		}
	}
	teardown(a);
	return 0;
}
