/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The replay engine behind 'uiommu replay': builds the guest a trace
 * describes, replays its hypercalls and DDW RTAS calls through libuiommu's
 * PAPR dispatcher, and compares every return code, H_GET_TCE value and
 * device translation with what QEMU logged. See doc/replay.md.
 *
 * A struct replay_host is the modelled host, made once for any number of
 * traces: one library context (its limits are the model's, not the
 * process's) and the memory that backs guest RAM. Each trace gets a fresh
 * guest in it (struct replay). The context's teardown waits for liburcu's
 * deferred frees, so it happens once, at the end.
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
#define REPLAY_MAX_PHASES 1024	  /* more MARK lines are refused */
#define REPLAY_PHASE_NAME 64	  /* bytes of a phase name kept */
#define REPLAY_MAX_UNKNOWN 32	  /* unknown event names counted one by one */
#define REPLAY_MAX_HDR_WINDOWS 64
#define REPLAY_MAX_HDR_PHBS 16
#define REPLAY_MAX_GEO 16
#define REPLAY_LIST_PAGES 64	  /* pages of TCE lists resident at a time (Linux uses one per CPU) */
#define REPLAY_RAM_DEFAULT (4ULL << 30) /* guest RAM without a "ram-size" header (sparse) */
#define REPLAY_RAM_MAX (16ULL << 40)	/* the most guest RAM a header may give */
#define REPLAY_MAX_SKIPPED_PERMILLE 10	/* --lenient: more malformed lines is not a match */
#define REPLAY_TEXT_MAX 200		/* bytes kept of header values (scenario, ...) */
/* The replay's locked-memory limit: a DDW of 2^31 TCEs, the largest, is 16 GiB. */
#define REPLAY_LOCKED_DEFAULT (64ULL << 30)

enum replay_call { CALL_PUT, CALL_GET, CALL_INDIRECT, CALL_STUFF, CALL_NR };
enum replay_rtas { RTAS_QUERY, RTAS_CREATE, RTAS_REMOVE, RTAS_RESET, RTAS_NR };

/* What a replayed trace amounts to (replay_verdict()). */
enum replay_result { REPLAY_MATCH, REPLAY_MISMATCH, REPLAY_FAILED };

struct replay_options {
	enum uiommu_papr_profile profile;
	bool lenient;	   /* count and skip malformed lines instead of stopping */
	bool check_xlate;  /* compare translation events (default on) */
	bool vfio;	   /* a VFIO container behind each PHB (replay_vfio.h) */
};

/*
 * The modelled host. Guest RAM is a RAM region of the context (memfd
 * backed, sparse), so that VFIO containers can register it: one, as large
 * as the largest guest yet, reused by every trace; and one 4 KiB region
 * for TCE lists outside it (logs without ram-size).
 */
struct replay_host {
	struct uiommu_ctx *ctx;
	char *ram;	    /* guest RAM of every trace */
	uint64_t ram_size;  /* bytes of the region at ram */
	uint64_t ram_hpa;
	char *list_page;    /* a page for TCE lists outside RAM, once needed */
	uint64_t list_hpa;
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

struct replay_phase {
	char name[REPLAY_PHASE_NAME];
	uint64_t hcalls;
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
	struct replay_phase *phase; /* malloc()ed, freed by replay_fini() */
	unsigned int nphase, phase_cap;
	struct {
		char name[TRACE_NAME_MAX + 1];
		uint64_t count;
	} unknown_ev[REPLAY_MAX_UNKNOWN];
	unsigned int nunknown_ev;
	uint64_t unknown_other; /* unknown events whose names were not kept */
	struct replay_note mismatch[REPLAY_MAX_KEPT], bad_line[REPLAY_MAX_KEPT];
	unsigned int nmismatch_kept, nbad_kept;
	/* Filled in by the caller. */
	double parse_seconds, replay_seconds, wall_seconds;
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
 * hcalls (guest memory mapped for a TCE list): a vCPU leaves guest context.
 */
struct replay_hooks {
	long (*hcall)(void *opaque, uint64_t opcode, const uint64_t *args, unsigned int nargs,
		      uint64_t *rets, unsigned int nrets);
	void (*before)(void *opaque, const struct trace_event *ev);
	int (*after)(void *opaque, uint64_t line, const struct trace_event *ev);
	void (*leave)(void *opaque);
	void *opaque;
};

#define REPLAY_MAX_RAM_REGIONS 2 /* the guest's RAM, and the list page */

enum replay_end { END_NONE, END_OK, END_FAILED };

struct replay {
	struct replay_options opt;
	replay_record_fn *record;
	void *record_opaque;
	const struct replay_hooks *hooks; /* NULL: none */
	struct replay_host *host;
	struct uiommu_ctx *ctx;	  /* the host's */
	struct uiommu_guest *guest;
	struct replay_vfio *vfio; /* --vfio: the host side */
	bool guest_ready;
	/* The guest's RAM regions so far, for those who register them (VFIO). */
	char *ram_hva[REPLAY_MAX_RAM_REGIONS];
	uint64_t ram_len[REPLAY_MAX_RAM_REGIONS];
	unsigned int nram;
	uint64_t ram_size;	  /* guest RAM: the header's, or REPLAY_RAM_DEFAULT */
	uint64_t ram_line;	  /* the line of the ram-size header, 0 if none */
	/* RAM pages the trace's lists were written to (at most REPLAY_LIST_PAGES stay). */
	uint64_t list_dirty[REPLAY_LIST_PAGES];
	unsigned int nlist_dirty;
	uint64_t list_slot_gpa;	  /* where the list page is mapped, or UINT64_MAX */
	uint64_t limit_hits;	  /* the context's limit refusals before the current call */
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
	struct {
		uint64_t liobn, bus_offset, size, page_shift, line;
	} hdr_window[REPLAY_MAX_HDR_WINDOWS];
	unsigned int nhdr_window;
	struct {
		uint64_t index, buid, liobn, dma64_base, line;
		bool ddw;
	} hdr_phb[REPLAY_MAX_HDR_PHBS];
	unsigned int nhdr_phb;
	/* The PHBs of the replayed guest (UIOMMU_PAPR_MAX_PHBS at most), and by index. */
	struct {
		uint32_t index;
		uint64_t buid;
	} phb[UIOMMU_PAPR_MAX_PHBS];
	unsigned int nphb;
	bool phb_added[256];
	char scenario[REPLAY_TEXT_MAX];
	char qemu[REPLAY_TEXT_MAX];
	uint64_t format_line;	  /* line of "# uiommu-trace:", 0 if none */
	enum replay_end end;	  /* "# end:" */
	char end_text[REPLAY_TEXT_MAX];
	struct replay_stats st;
	char fatal[512];	  /* why replay_event() failed */
	char vfio_why[400];	  /* --vfio: what the last hook found */
};

/*
 * replay_host_init() - The modelled host: a context made with @cfg (NULL:
 * the defaults) whose locked-memory limit is REPLAY_LOCKED_DEFAULT (not
 * the process's RLIMIT_MEMLOCK: the replay pins nothing), other limits at
 * the library's defaults.
 * Return: 0, or -errno with @err saying why.
 */
int replay_host_init(struct replay_host *h, const struct uiommu_ctx_config *cfg, char *err,
		     size_t errlen);

/*
 * replay_host_fini() - Free the host (waits for the context's deferred frees).
 * Return: 0, or -EBUSY if the library still held something (a leak).
 */
int replay_host_fini(struct replay_host *h);

/* replay_init() - A fresh guest on @host. Return: 0 or -errno (r->fatal says why). */
int replay_init(struct replay *r, struct replay_host *host, const struct replay_options *opt);

/* replay_fini() - Free the guest and what the trace held; @host stays. */
void replay_fini(struct replay *r);

/*
 * replay_event() - Replay one parsed line.
 * Return: 0, or -errno when the trace cannot be replayed (a refused or
 * impossible value: r->fatal names the line and the reason).
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

/*
 * replay_verdict() - What the replayed trace amounts to, once all of it
 * was replayed: REPLAY_FAILED (with @why) when it is not a match although
 * nothing differed: the recording says it failed or is incomplete, no
 * event was checked, or more than REPLAY_MAX_SKIPPED_PERMILLE of its lines
 * were malformed; else REPLAY_MISMATCH if something differed, else
 * REPLAY_MATCH.
 */
enum replay_result replay_verdict(const struct replay *r, char *why, size_t whylen);

/* replay_checked() - Events compared with QEMU: hcalls, RTAS calls, translations. */
uint64_t replay_checked(const struct replay_stats *st);
uint64_t replay_hcalls(const struct replay_stats *st);
uint64_t replay_rtas_calls(const struct replay_stats *st);

const char *replay_call_name(enum replay_call c);
const char *replay_rtas_name(enum replay_rtas c);

#endif /* UIOMMU_CLI_REPLAY_H */
