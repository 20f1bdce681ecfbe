// SPDX-License-Identifier: BSD-3-Clause
/*
 * 'uiommu replay --vfio': a host VFIO container behind each guest PHB,
 * driven as QEMU 7.2 drives the kernel's (hw/vfio/common.c
 * vfio_connect_container(), vfio_listener_region_add/del(),
 * vfio_iommu_map_notify(); hw/vfio/spapr.c vfio_prereg_listener_*,
 * vfio_spapr_create_window(), vfio_spapr_remove_window()), through the
 * real <linux/vfio.h> UAPI. See replay_vfio.h and doc/replay.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/vfio.h>
#include <uiommu/uiommu.h>

#include "replay_vfio.h"

#define RV_MAX_PHBS 256
#define RV_MAX_RAM 64

/* A host window mirroring one guest window (QEMU: a VFIOGuestIOMMU). */
struct rv_window {
	bool on;
	uint64_t liobn, bus, entries;
	unsigned int page_shift; /* the guest's */
	uint64_t *mirror;	 /* the guest TCE each entry last mirrored */
};

struct rv_phb {
	struct uiommu_phb *host; /* the host PHB behind the guest's, with one PE */
	uint64_t tce32_start;	 /* its window 0's bus address */
	struct uiommu_pe *pe;
	struct uiommu_vfio_container *c;
	struct rv_window win[UIOMMU_PAPR_MAX_WINDOWS];
};

struct replay_vfio {
	struct uiommu_ctx *ctx;
	struct uiommu_guest *guest;
	unsigned int host_page_shift;
	struct rv_phb *phb[RV_MAX_PHBS];
	struct {
		void *hva;
		uint64_t len;
	} ram[RV_MAX_RAM];
	unsigned int nram;
	struct replay_vfio_stats st;
};

static int say(char *why, size_t whylen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int say(char *why, size_t whylen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return ret;
}

static void locked_sample(struct replay_vfio *v)
{
	uiommu_ctx_get_usage(v->ctx, UIOMMU_RES_LOCKED_BYTES, &v->st.locked_bytes);
	if (v->st.locked_bytes > v->st.locked_peak)
		v->st.locked_peak = v->st.locked_bytes;
}

int replay_vfio_new(struct uiommu_ctx *ctx, struct uiommu_guest *guest, struct replay_vfio **ret,
		    char *why, size_t whylen)
{
	struct replay_vfio *v = calloc(1, sizeof(*v));

	if (!v)
		return say(why, whylen, -ENOMEM, "out of memory");
	v->ctx = ctx;
	v->guest = guest;
	v->host_page_shift = uiommu_ctx_host_page_shift(ctx);
	*ret = v;
	return 0;
}

static int io_register(struct uiommu_vfio_container *c, void *hva, uint64_t len)
{
	struct vfio_iommu_spapr_register_memory reg = {
		.argsz = sizeof(reg), .vaddr = (uintptr_t)hva, .size = len
	};

	return uiommu_vfio_ioctl(c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &reg);
}

int replay_vfio_ram(struct replay_vfio *v, void *hva, uint64_t len, char *why, size_t whylen)
{
	if (v->nram == RV_MAX_RAM)
		return say(why, whylen, -ENOSPC, "more than %d guest RAM regions", RV_MAX_RAM);
	v->ram[v->nram].hva = hva;
	v->ram[v->nram++].len = len;
	/* QEMU's prereg listener, in every container. */
	for (unsigned int i = 0; i < RV_MAX_PHBS; i++) {
		int err;

		if (!v->phb[i])
			continue;
		err = io_register(v->phb[i]->c, hva, len);
		if (err)
			return say(why, whylen, err, "REGISTER_MEMORY of %" PRIu64 " MiB of guest RAM: %s",
				   len >> 20, uiommu_strerror(err));
		v->st.registered_bytes += len;
	}
	locked_sample(v);
	return 0;
}

/*
 * A host PHB for guest PHB @index, whose 32-bit window is the guest's
 * default window when a PHB can have it there (QEMU's dma_win_addr may put
 * it anywhere; a host's window 0 lies at its tce32_start), else powernv's.
 */
static int host_phb_new(struct replay_vfio *v, uint32_t index, struct uiommu_phb **ret,
			uint64_t *ret_tce32_start)
{
	struct uiommu_phb_config cfg;
	uint64_t bus = 0, entries = 0;
	unsigned int shift = 0;
	int err;

	uiommu_phb_config_default(&cfg, index);
	if (!uiommu_liobn_info(v->guest, uiommu_papr_pci_liobn(index, 0), &bus, &shift, &entries)) {
		cfg.tce32_start = bus;
		cfg.tce32_size = entries << shift;
		*ret_tce32_start = bus;
		err = uiommu_phb_new(v->ctx, &cfg, ret);
		if (err != -EINVAL)
			return err;
		uiommu_phb_config_default(&cfg, index);
	}
	*ret_tce32_start = cfg.tce32_start;
	return uiommu_phb_new(v->ctx, &cfg, ret);
}

/* vfio_connect_container() for a v2 container, then the prereg listener. */
static int phb_connect(struct replay_vfio *v, uint32_t index, char *why, size_t whylen)
{
	struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };
	struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm) };
	struct rv_phb *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return say(why, whylen, -ENOMEM, "out of memory");
	err = host_phb_new(v, index, &p->host, &p->tce32_start);
	if (!err)
		err = uiommu_pe_new(p->host, 0, &p->pe);
	if (!err)
		err = uiommu_vfio_container_new(v->ctx, &p->c);
	if (err) {
		uiommu_pe_free(p->pe);
		uiommu_phb_free(p->host);
		free(p);
		return say(why, whylen, err, "host PHB %u: %s", index, uiommu_strerror(err));
	}
	v->phb[index] = p;
	v->st.containers++;
	/* QEMU asks for type1 v2, type1, sPAPR v2 in that order: ours is the third. */
	if (uiommu_vfio_ioctl(p->c, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) != 0 ||
	    uiommu_vfio_ioctl(p->c, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) != 0 ||
	    uiommu_vfio_ioctl(p->c, VFIO_CHECK_EXTENSION, VFIO_SPAPR_TCE_v2_IOMMU) != 1)
		return say(why, whylen, -ENODEV, "the container does not offer sPAPR TCE v2 alone");
	err = uiommu_vfio_group_set_container(uiommu_pe_table_group(p->pe), p->c);
	if (!err)
		err = uiommu_vfio_ioctl(p->c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU);
	if (err)
		return say(why, whylen, err, "container of PHB %u: %s", index, uiommu_strerror(err));
	for (unsigned int i = 0; i < v->nram; i++) {
		err = io_register(p->c, v->ram[i].hva, v->ram[i].len);
		if (err)
			return say(why, whylen, err, "REGISTER_MEMORY: %s", uiommu_strerror(err));
		v->st.registered_bytes += v->ram[i].len;
	}
	/* The host's default window goes; the guest's windows come from the listener. */
	err = uiommu_vfio_ioctl(p->c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info);
	if (!err) {
		rm.start_addr = info.dma32_window_start;
		err = uiommu_vfio_ioctl(p->c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm);
	}
	if (err)
		return say(why, whylen, err, "container of PHB %u: GET_INFO/REMOVE: %s", index,
			   uiommu_strerror(err));
	locked_sample(v);
	return 0;
}

/* QEMU's vfio_iommu_map_notify() for one entry: MAP_DMA or UNMAP_DMA. */
static int mirror_entry(struct replay_vfio *v, struct rv_phb *p, struct rv_window *w, uint64_t idx,
			char *why, size_t whylen)
{
	uint64_t page = 1ULL << w->page_shift, bus = w->bus + (idx << w->page_shift), tce = 0;
	int err = uiommu_liobn_get_tce(v->guest, w->liobn, bus, &tce);

	if (err)
		return say(why, whylen, err, "guest TCE of LIOBN 0x%" PRIx64 " at 0x%" PRIx64 ": %s",
			   w->liobn, bus, uiommu_strerror(err));
	w->mirror[idx] = tce;
	if (tce & (UIOMMU_TCE_READ | UIOMMU_TCE_WRITE)) {
		struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m), .iova = bus, .size = page };
		void *hva;

		/* vfio_get_xlat_addr(): a page that is not RAM is skipped ("iommu map to non memory area"). */
		if (uiommu_guest_gpa_to_hva(v->guest, tce & ~(page - 1), page, &hva)) {
			v->st.maps_skipped++;
			return 0;
		}
		m.vaddr = (uintptr_t)hva;
		/* readonly unless the guest lets the device write (IOMMU_WO). */
		m.flags = VFIO_DMA_MAP_FLAG_READ |
			  (tce & UIOMMU_TCE_WRITE ? VFIO_DMA_MAP_FLAG_WRITE : 0);
		v->st.map_calls++;
		err = uiommu_vfio_ioctl(p->c, VFIO_IOMMU_MAP_DMA, &m);
		if (err)
			return say(why, whylen, 1, "MAP_DMA iova=0x%" PRIx64 " size=0x%" PRIx64 " of TCE 0x%" PRIx64 " refused: %s",
				   bus, page, tce, uiommu_strerror(err));
	} else {
		struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = bus, .size = page };

		v->st.unmap_calls++;
		err = uiommu_vfio_ioctl(p->c, VFIO_IOMMU_UNMAP_DMA, &u);
		if (err)
			return say(why, whylen, 1, "UNMAP_DMA iova=0x%" PRIx64 " size=0x%" PRIx64 " refused: %s",
				   bus, page, uiommu_strerror(err));
	}
	return 0;
}

static int window_remove(struct replay_vfio *v, struct rv_phb *p, struct rv_window *w, char *why,
			 size_t whylen)
{
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = w->bus,
						.size = w->entries << w->page_shift };
	struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm), .start_addr = w->bus };
	int err;

	/* vfio_listener_region_del(): one unmap of the whole section, then the window goes. */
	v->st.unmap_calls++;
	err = uiommu_vfio_ioctl(p->c, VFIO_IOMMU_UNMAP_DMA, &u);
	if (!err)
		err = uiommu_vfio_ioctl(p->c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm);
	free(w->mirror);
	memset(w, 0, sizeof(*w));
	if (err)
		return say(why, whylen, 1, "removing the host window at 0x%" PRIx64 ": %s",
			   (uint64_t)rm.start_addr, uiommu_strerror(err));
	v->st.windows_removed++;
	locked_sample(v);
	return 0;
}

/* vfio_spapr_create_window() for a guest window, then the notifier's replay of its TCEs. */
static int window_create(struct replay_vfio *v, struct rv_phb *p, struct rv_window *w,
			 uint64_t liobn, uint64_t bus, unsigned int page_shift, uint64_t entries,
			 char *why, size_t whylen)
{
	struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };
	struct vfio_iommu_spapr_tce_create cr = { .argsz = sizeof(cr) };
	unsigned int host = v->host_page_shift, shift, bits_total, bits_per_level, max_levels;
	uint64_t window = entries << page_shift, mask, linux_start;
	bool slot0_used = false;
	int err;

	/* Where Linux puts it: the first free window number, window 0 at tce32_start. */
	for (unsigned int n = 0; n < UIOMMU_PAPR_MAX_WINDOWS; n++)
		slot0_used |= p->win[n].on && p->win[n].bus == p->tce32_start;
	linux_start = slot0_used ? UIOMMU_PE_BUS_OFFSET_64 : p->tce32_start;

	err = uiommu_vfio_ioctl(p->c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info);
	if (err)
		return say(why, whylen, err, "GET_INFO: %s", uiommu_strerror(err));
	/* The IOMMU page: the guest's, but no larger than the RAM's page, and one the host has. */
	shift = page_shift < host ? page_shift : host;
	mask = info.ddw.pgsizes & ((1ULL << shift) | ((1ULL << shift) - 1));
	if (!mask)
		return say(why, whylen, 1, "the host has no IOMMU page size up to 2^%u", shift);
	shift = 63u - (unsigned int)__builtin_clzll(mask);
	/* QEMU's levels: enough that each level fits the host page plus 256 entries, then more. */
	bits_total = (unsigned int)__builtin_ctzll((window >> shift) * sizeof(uint64_t));
	bits_per_level = host + 8;
	cr.page_shift = shift;
	cr.window_size = window;
	cr.levels = bits_total / bits_per_level + (bits_total % bits_per_level != 0);
	max_levels = (64 - shift) / host;
	for (; cr.levels <= max_levels; cr.levels++) {
		err = uiommu_vfio_ioctl(p->c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr);
		if (!err)
			break;
	}
	if (err)
		return say(why, whylen, 1, "TCE_CREATE of a 0x%" PRIx64 " window of 2^%u pages at 0x%" PRIx64 ": %s",
			   window, shift, bus, uiommu_strerror(err));
	v->st.windows_created++;
	if (cr.start_addr != linux_start)
		return say(why, whylen, 1, "TCE_CREATE put the window at 0x%" PRIx64 ", Linux at 0x%" PRIx64,
			   (uint64_t)cr.start_addr, linux_start);
	if (cr.start_addr != bus) {
		struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm),
							  .start_addr = cr.start_addr };

		/*
		 * QEMU: "Host doesn't support DMA window at ..., must be ...": it
		 * removes the window and stops (hw_error at runtime). The
		 * container did what Linux does; the guest's layout is one a
		 * VFIO host cannot serve. Counted, and that window is not
		 * mirrored.
		 */
		v->st.windows_unplaceable++;
		v->st.windows_removed++;
		err = uiommu_vfio_ioctl(p->c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm);
		if (err)
			return say(why, whylen, 1, "TCE_REMOVE at 0x%" PRIx64 ": %s",
				   (uint64_t)rm.start_addr, uiommu_strerror(err));
		return 0;
	}
	w->mirror = calloc(entries, sizeof(uint64_t));
	if (!w->mirror)
		return say(why, whylen, -ENOMEM, "out of memory");
	w->on = true;
	w->liobn = liobn;
	w->bus = bus;
	w->entries = entries;
	w->page_shift = page_shift;
	locked_sample(v);
	/* memory_region_iommu_replay(): what the guest mapped already. */
	for (uint64_t i = 0; i < entries; i++) {
		uint64_t tce = 0;

		if (uiommu_liobn_get_tce(v->guest, liobn, bus + (i << page_shift), &tce) || !tce)
			continue;
		err = mirror_entry(v, p, w, i, why, whylen);
		if (err)
			return err;
	}
	return 0;
}

int replay_vfio_phb(struct replay_vfio *v, uint32_t index, char *why, size_t whylen)
{
	struct rv_phb *p;
	int err, mismatch = 0;

	if (index >= RV_MAX_PHBS)
		return say(why, whylen, -EINVAL, "PHB index %u", index);
	if (!v->phb[index]) {
		err = phb_connect(v, index, why, whylen);
		if (err)
			return err;
	}
	p = v->phb[index];
	/* The listener: a window that went or changed is removed, one that came is created. */
	for (unsigned int n = 0; n < UIOMMU_PAPR_MAX_WINDOWS; n++) {
		uint64_t liobn = uiommu_papr_pci_liobn(index, n), bus = 0, entries = 0;
		unsigned int shift = 0;
		bool guest = !uiommu_liobn_info(v->guest, liobn, &bus, &shift, &entries);
		struct rv_window *w = &p->win[n];

		if (w->on && (!guest || w->bus != bus || w->page_shift != shift ||
			      w->entries != entries)) {
			err = window_remove(v, p, w, why, whylen);
			if (err < 0)
				return err;
			mismatch |= err;
		}
		if (guest && !w->on) {
			err = window_create(v, p, w, liobn, bus, shift, entries, why, whylen);
			if (err < 0)
				return err;
			mismatch |= err;
		}
	}
	return mismatch;
}

/* The PHB and window of a PCI LIOBN with a container, or NULL. */
static struct rv_window *window_of(struct replay_vfio *v, uint64_t liobn, struct rv_phb **ret_p)
{
	uint32_t index = (uint32_t)(liobn >> 8) & 0xff, n = (uint32_t)liobn & 0xff;
	struct rv_phb *p;

	if (n >= UIOMMU_PAPR_MAX_WINDOWS || liobn != uiommu_papr_pci_liobn(index, n))
		return NULL;
	p = v->phb[index];
	if (!p || !p->win[n].on)
		return NULL;
	*ret_p = p;
	return &p->win[n];
}

int replay_vfio_tces(struct replay_vfio *v, uint64_t liobn, uint64_t ioba, uint64_t npages, bool ok,
		     char *why, size_t whylen)
{
	struct rv_phb *p;
	struct rv_window *w = window_of(v, liobn, &p);
	uint64_t first, last;
	int mismatch = 0;
	char scratch[8];

	if (!w || !npages)
		return 0;
	/* The entries of the window the call reached (a failed call may name others). */
	first = ioba < w->bus ? 0 : (ioba - w->bus) >> w->page_shift;
	if (first >= w->entries)
		return 0;
	last = npages - 1 > w->entries - 1 - first ? w->entries - 1 : first + npages - 1;
	for (uint64_t i = first; i <= last; i++) {
		uint64_t tce = 0;
		int err;

		if (!ok && (uiommu_liobn_get_tce(v->guest, liobn, w->bus + (i << w->page_shift), &tce) ||
			    tce == w->mirror[i]))
			continue;
		/* The first mismatch's message is kept; the others only count. */
		err = mirror_entry(v, p, w, i, mismatch ? scratch : why,
				   mismatch ? sizeof(scratch) : whylen);
		if (err < 0)
			return err;
		mismatch |= err;
	}
	return mismatch;
}

int replay_vfio_xlate(struct replay_vfio *v, uint64_t liobn, uint64_t ioba, uint64_t gpa_page,
		      uint64_t perm, uint64_t mask, char *why, size_t whylen)
{
	struct uiommu_tce_table *tbl = NULL;
	uint64_t hpa = 0, want_hpa = 0;
	unsigned int prot = 0, want_prot;
	struct rv_phb *p;
	struct rv_window *w = window_of(v, liobn, &p);
	void *hva;
	int err;

	if (!w)
		return 0;
	v->st.xlate_checked++;
	/* As the PE's device: the window holding the address, then its TCE. */
	err = uiommu_table_group_find_table(uiommu_pe_table_group(p->pe), ioba, NULL, &tbl);
	if (!err) {
		err = uiommu_tce_table_translate(tbl, ioba, &hpa, &prot);
		uiommu_tce_table_unref(tbl);
	}
	if (!(perm & 3)) {
		if (!err) {
			v->st.xlate_mismatched++;
			return say(why, whylen, 1, "host xlate liobn=0x%" PRIx64 " 0x%" PRIx64 ": the host maps it (hpa 0x%" PRIx64 "), QEMU gives no access",
				   liobn, ioba, hpa);
		}
		return 0;
	}
	/* The byte QEMU named, in the memory the container registered; write implies read. */
	want_prot = UIOMMU_PROT_READ | (perm & 2 ? UIOMMU_PROT_WRITE : 0);
	if (!uiommu_guest_gpa_to_hva(v->guest, gpa_page | (ioba & mask), 1, &hva))
		uiommu_hva_to_hpa(v->ctx, hva, &want_hpa);
	if (err || hpa != want_hpa || prot != want_prot) {
		v->st.xlate_mismatched++;
		if (err)
			return say(why, whylen, 1, "host xlate liobn=0x%" PRIx64 " 0x%" PRIx64 ": %s; QEMU: gpa 0x%" PRIx64 " perm %" PRIu64,
				   liobn, ioba, uiommu_strerror(err), gpa_page | (ioba & mask), perm);
		return say(why, whylen, 1, "host xlate liobn=0x%" PRIx64 " 0x%" PRIx64 ": hpa 0x%" PRIx64 " prot %u, the guest page's hpa 0x%" PRIx64 " prot %u",
			   liobn, ioba, hpa, prot, want_hpa, want_prot);
	}
	return 0;
}

void replay_vfio_stats(struct replay_vfio *v, struct replay_vfio_stats *st)
{
	locked_sample(v);
	*st = v->st;
}

void replay_vfio_free(struct replay_vfio *v)
{
	if (!v)
		return;
	for (unsigned int i = 0; i < RV_MAX_PHBS; i++) {
		struct rv_phb *p = v->phb[i];

		if (!p)
			continue;
		uiommu_vfio_container_free(p->c);
		uiommu_pe_free(p->pe);
		uiommu_phb_free(p->host);
		for (unsigned int n = 0; n < UIOMMU_PAPR_MAX_WINDOWS; n++)
			free(p->win[n].mirror);
		free(p);
	}
	free(v);
}
