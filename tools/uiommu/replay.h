/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The replay engine behind 'uiommu replay': builds the guest a trace
 * describes, replays its hypercalls and DDW RTAS calls through libuiommu's
 * PAPR dispatcher, and compares every return code, H_GET_TCE value and
 * device translation with what QEMU logged. See doc/replay.md.
 */
#ifndef UIOMMU_CLI_REPLAY_H
#define UIOMMU_CLI_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include <uiommu/uiommu.h>
#include <uiommu/papr.h>

#include "trace.h"
#include "replay_vfio.h"

#define REPLAY_MAX_LIOBNS 64	  /* LIOBNs with their own statistics; more are "other" */
#define REPLAY_MAX_KEPT 20	  /* mismatches (and malformed lines) described in full */
#define REPLAY_MAX_PHASES 128
#define REPLAY_MAX_UNKNOWN 32	  /* unknown event names counted one by one */
#define REPLAY_MAX_HDR_WINDOWS 64
#define REPLAY_MAX_HDR_PHBS 16
#define REPLAY_RAM_DEFAULT (4ULL << 30) /* guest RAM without a "ram-size" header (sparse) */
#define REPLAY_RAM_CHUNK (1ULL << 30)	/* more RAM, when a TCE list lies beyond it */
#define REPLAY_RAM_MAX (1ULL << 40)	/* lists above this are refused */
#define REPLAY_MAX_RAM_REGIONS 32
#define REPLAY_MAX_GEO 16

enum replay_call { CALL_PUT, CALL_GET, CALL_INDIRECT, CALL_STUFF, CALL_NR };
enum replay_rtas { RTAS_QUERY, RTAS_CREATE, RTAS_REMOVE, RTAS_RESET, RTAS_NR };

struct replay_options {
	enum uiommu_papr_profile profile;
	bool lenient;	   /* count and skip malformed lines instead of stopping */
	bool check_xlate;  /* compare translation events (default on) */
	bool vfio;	   /* a VFIO container behind each PHB (replay_vfio.h) */
	const struct uiommu_ctx_config *ctx_cfg; /* the context's configuration, NULL: default */
};

struct replay_note {
	uint64_t line;
	char text[240];
};

struct replay_hist {
	uint64_t exact[UIOMMU_PAPR_MAX_INDIRECT_NPAGES + 1]; /* npages 0..512 */
	uint64_t log2[64];				     /* larger: by floor(log2) */
};

struct replay_liobn {
	uint64_t liobn;
	uint64_t calls[CALL_NR];
	uint64_t xlate;
};

struct replay_stats {
	uint64_t lines, comments, headers, events, marks, unknown, malformed;
	uint64_t calls[CALL_NR], calls_ok[CALL_NR];
	uint64_t rtas[RTAS_NR];
	uint64_t new_tables;
	uint64_t xlate_checked, xlate_mismatched;
	uint64_t mismatches;
	struct replay_liobn liobn[REPLAY_MAX_LIOBNS];
	unsigned int nliobn;
	uint64_t other_liobn_calls;
	struct replay_hist hist_indirect, hist_stuff;
	struct {
		char name[TRACE_NAME_MAX];
		uint64_t hcalls;
	} phase[REPLAY_MAX_PHASES];
	unsigned int nphase;
	struct {
		char name[TRACE_NAME_MAX];
		uint64_t count;
	} unknown_ev[REPLAY_MAX_UNKNOWN];
	unsigned int nunknown_ev;
	struct replay_note mismatch[REPLAY_MAX_KEPT], bad_line[REPLAY_MAX_KEPT];
	unsigned int nmismatch_kept, nbad_kept;
	double parse_seconds, replay_seconds;
	uint64_t bytes;
};

/*
 * A hook that sees every hcall the replay issues, before it is issued (the
 * benchmark records them to issue them again straight to the dispatcher).
 * @list is the big-endian TCE list of an H_PUT_TCE_INDIRECT, else NULL.
 */
typedef void replay_record_fn(void *opaque, uint64_t opcode, const uint64_t *args,
			      unsigned int nargs, const uint64_t *list, uint64_t npages);

/*
 * Hooks of a model of the VMM around the engine (replay_vmm.c): @hcall
 * issues every hypercall instead of uiommu_papr_hcall(); @before and
 * @after run around every event that changes windows (a new table, a DDW
 * RTAS call); @after may fail the replay (-errno, r->fatal set); @leave,
 * optional, runs before the engine's own calls that may block between
 * hcalls (guest RAM added for a TCE list): a vCPU leaves guest context.
 */
struct replay_hooks {
	long (*hcall)(void *opaque, uint64_t opcode, const uint64_t *args, unsigned int nargs,
		      uint64_t *rets, unsigned int nrets);
	void (*before)(void *opaque, const struct trace_event *ev);
	int (*after)(void *opaque, uint64_t line, const struct trace_event *ev);
	void (*leave)(void *opaque);
	void *opaque;
};

struct replay {
	struct replay_options opt;
	replay_record_fn *record;
	void *record_opaque;
	const struct replay_hooks *hooks; /* NULL: none */
	struct uiommu_ctx *ctx;
	struct uiommu_guest *guest;
	struct replay_vfio *vfio; /* --vfio: the host side */
	bool guest_ready;
	uint64_t ram_size;	  /* from the header, 0 if none */
	uint64_t ram_hpa[REPLAY_MAX_RAM_REGIONS]; /* RAM regions; memslot i is region i */
	uint64_t ram_gpa[REPLAY_MAX_RAM_REGIONS], ram_len[REPLAY_MAX_RAM_REGIONS];
	char *ram_hva[REPLAY_MAX_RAM_REGIONS];	   /* the guest's RAM, as the guest writes it */
	unsigned int nram;
	/*
	 * Window geometry by LIOBN, as uiommu_liobn_info() said, so that a
	 * replayed call does not look it up again; emptied whenever windows
	 * change (new tables, DDW calls). exists = false caches "no such LIOBN".
	 */
	struct {
		uint64_t liobn, bus_offset, size;
		unsigned int page_shift;
		bool exists;
	} geo[REPLAY_MAX_GEO];
	unsigned int ngeo;
	struct trace_event hdr_window[REPLAY_MAX_HDR_WINDOWS];
	unsigned int nhdr_window;
	struct trace_event hdr_phb[REPLAY_MAX_HDR_PHBS];
	unsigned int nhdr_phb;
	/* PHBs added, by index: a PHB exists even when it has no window. */
	bool phb_added[256];
	char scenario[TRACE_TEXT_MAX];
	char qemu[TRACE_TEXT_MAX];
	bool header_end_ok;	  /* "# end: ok" seen */
	struct replay_stats st;
	char fatal[512];	  /* why replay_event() failed */
	char vfio_why[400];	  /* --vfio: what the last hook found */
};

/* replay_init() - A fresh context and guest. Return: 0 or -errno (r->fatal says why). */
int replay_init(struct replay *r, const struct replay_options *opt);
void replay_fini(struct replay *r);

/*
 * replay_event() - Replay one parsed line.
 * Return: 0, or -errno when the trace cannot be replayed (a refused value:
 * r->fatal names the line and the reason).
 */
int replay_event(struct replay *r, uint64_t lineno, const struct trace_event *ev);

/*
 * replay_prepare() - Build the guest the header describes, if not done yet
 * (replay_event() does it at the first event that needs a guest).
 * Return: 0 or -errno (r->fatal says why).
 */
int replay_prepare(struct replay *r, uint64_t lineno);

/* replay_bad_line() - Account a malformed line (lenient mode). */
void replay_bad_line(struct replay *r, uint64_t lineno, const char *why);

const char *replay_call_name(enum replay_call c);
const char *replay_rtas_name(enum replay_rtas c);

#endif /* UIOMMU_CLI_REPLAY_H */
