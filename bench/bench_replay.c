// SPDX-License-Identifier: BSD-3-Clause
/*
 * 'uiommu replay' on a real trace (the largest shipped one by default),
 * each rate beside its limit measured in the same run:
 *
 * - parsing (reading lines and parsing them into events), in MB/s, against
 *   a plain newline scan of the same bytes (memchr): parsing should reach a
 *   quarter of its speed (ratio <= 4);
 * - replaying (parsing excluded), in hypercalls per second, against the
 *   same hypercalls issued straight to the dispatcher in a loop (their
 *   H_PUT_TCE_INDIRECT lists staged in guest memory beforehand): the
 *   replayer may add at most 50% (ratio <= 1.5). Translation checks are
 *   off for this ratio, since the loop does none; the rate with them on is
 *   reported too.
 *
 * Usage: bench_replay [TRACE]
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "input.h"
#include "replay.h"
#include "trace.h"

/*
 * What the replay did, in order: hcalls as the dispatcher takes them, and
 * every other event that changes the guest (header, tables, DDW, phases),
 * to be done again around the hcalls of the limit loop.
 */
struct op {
	bool is_hcall;
	uint64_t opcode;
	uint64_t args[4];
	unsigned int nargs;
	size_t list; /* index of its staged list (INDIRECT) */
	uint64_t lineno;
	struct trace_event ev; /* !is_hcall */
};

struct recorder {
	struct op *ops;
	size_t n, cap;
	uint64_t *lists; /* one 512-entry slot per INDIRECT, in order */
	size_t nlists, lists_cap;
};

static struct op *new_op(struct recorder *rec)
{
	if (rec->n == rec->cap) {
		rec->cap = rec->cap ? rec->cap * 2 : 4096;
		rec->ops = realloc(rec->ops, rec->cap * sizeof(*rec->ops));
		if (!rec->ops)
			abort();
	}
	memset(&rec->ops[rec->n], 0, offsetof(struct op, ev));
	return &rec->ops[rec->n++];
}

static void record(void *opaque, uint64_t opcode, const uint64_t *args, unsigned int nargs,
		   const uint64_t *list, uint64_t npages)
{
	struct recorder *rec = opaque;
	struct op *c = new_op(rec);

	c->is_hcall = true;
	c->opcode = opcode;
	c->nargs = nargs;
	memcpy(c->args, args, nargs * sizeof(uint64_t));
	if (list) {
		if (rec->nlists == rec->lists_cap) {
			rec->lists_cap = rec->lists_cap ? rec->lists_cap * 2 : 256;
			rec->lists = realloc(rec->lists, rec->lists_cap * 512 * sizeof(uint64_t));
			if (!rec->lists)
				abort();
		}
		memcpy(rec->lists + rec->nlists * 512, list, npages * sizeof(uint64_t));
		c->list = rec->nlists++;
	}
}

static bool is_hcall_event(enum trace_type t)
{
	return t == TRACE_PUT || t == TRACE_GET || t == TRACE_INDIRECT || t == TRACE_STUFF;
}

struct text {
	const char *buf;
	size_t len;
};

static void scan_lines(void *arg, uint64_t iters)
{
	const struct text *t = arg;
	uint64_t lines = 0;

	for (uint64_t i = 0; i < iters; i++) {
		const char *p = t->buf, *end = t->buf + t->len;

		while ((p = memchr(p, '\n', (size_t)(end - p)))) {
			lines++;
			p++;
		}
	}
	bench_use(lines);
}

/* The plain newline scan: one byte at a time, as a naive line counter does. */
static void scan_bytes(void *arg, uint64_t iters)
{
	const struct text *t = arg;
	uint64_t lines = 0;

	for (uint64_t i = 0; i < iters; i++) {
		const volatile char *p = t->buf;

		for (size_t k = 0; k < t->len; k++)
			lines += p[k] == '\n';
	}
	bench_use(lines);
}

static void parse_lines(void *arg, uint64_t iters)
{
	const struct text *t = arg;
	struct trace_event ev;
	char err[256], line[INPUT_MAX_LINE + 1];
	uint64_t events = 0;

	for (uint64_t i = 0; i < iters; i++) {
		const char *p = t->buf, *end = t->buf + t->len, *nl;

		while (p < end && (nl = memchr(p, '\n', (size_t)(end - p)))) {
			size_t n = (size_t)(nl - p);

			memcpy(line, p, n);
			line[n] = '\0';
			if (!trace_parse_line(line, n, &ev, err, sizeof(err)))
				events++;
			p = nl + 1;
		}
	}
	bench_use(events);
}

/* Replay the whole text once; return the seconds spent in replay_event() only. */
static double replay_text(const struct text *t, bool xlate, struct recorder *rec,
			  struct replay *r, uint64_t *ret_hcalls)
{
	struct replay_options opt = { .profile = UIOMMU_PAPR_PROFILE_QEMU, .check_xlate = xlate };
	static struct trace_event ev[4096];
	static uint64_t lineno[4096];
	const char *p = t->buf, *end = t->buf + t->len;
	char err[256], line[INPUT_MAX_LINE + 1];
	uint64_t no = 0;
	double seconds = 0;

	if (replay_init(r, &opt))
		abort();
	r->record = rec ? record : NULL;
	r->record_opaque = rec;
	while (p < end) {
		unsigned int n = 0;
		uint64_t t0;

		while (n < 4096 && p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

			memcpy(line, p, len);
			line[len] = '\0';
			no++;
			if (!trace_parse_line(line, len, &ev[n], err, sizeof(err)))
				lineno[n++] = no;
			p = nl ? nl + 1 : end;
		}
		t0 = bench_now_ns();
		for (unsigned int i = 0; i < n; i++) {
			/*
			 * The recording pass (not the timed ones) keeps the events
			 * that shape the guest, in order with the hcalls the hook
			 * records, for the limit loop.
			 */
			if (rec && !is_hcall_event(ev[i].type) && ev[i].type != TRACE_XLATE &&
			    ev[i].type != TRACE_COMMENT && ev[i].type != TRACE_UNKNOWN) {
				struct op *o = new_op(rec);

				o->lineno = lineno[i];
				o->ev = ev[i];
			}
			if (replay_event(r, lineno[i], &ev[i]))
				abort();
		}
		seconds += (double)(bench_now_ns() - t0) * 1e-9;
	}
	if (r->st.mismatches) {
		fprintf(stderr, "the replay did not match: the benchmark means nothing\n");
		exit(1);
	}
	*ret_hcalls = 0;
	for (int c = 0; c < CALL_NR; c++)
		*ret_hcalls += r->st.calls[c];
	return seconds;
}

#define STAGING_GPA (1ULL << 41) /* above anything the replay maps */
#define STAGING_SLOT 1000

/*
 * The limit: on a fresh guest, the recorded hcalls straight to the
 * dispatcher, their lists staged beforehand, with the guest-shaping events
 * done in the same order through the replay engine. Best of several runs.
 */
static double direct_loop(const struct recorder *rec)
{
	struct replay_options opt = { .profile = UIOMMU_PAPR_PROFILE_QEMU };
	uint64_t lists_bytes = (rec->nlists ? rec->nlists : 1) * 4096ULL;
	struct replay *r = calloc(1, sizeof(*r));
	double best = 1e300;

	for (int rep = 0; rep < BENCH_REPEATS; rep++) {
		uint64_t staging_hpa, args[4], rets[1], t0;
		char *staging;
		bool setup = false;
		double s;

		if (replay_init(r, &opt) ||
		    uiommu_ram_create(r->ctx, lists_bytes, &staging_hpa, (void **)&staging) ||
		    uiommu_guest_set_memslot(r->guest, STAGING_SLOT, STAGING_GPA, lists_bytes,
					     staging, 0))
			abort();
		for (size_t k = 0; k < rec->nlists; k++)
			memcpy(staging + k * 4096, rec->lists + k * 512, 4096);
		t0 = bench_now_ns();
		for (size_t i = 0; i < rec->n; i++) {
			const struct op *o = &rec->ops[i];

			if (!o->is_hcall) {
				if (replay_event(r, o->lineno, &o->ev))
					abort();
				continue;
			}
			/* The guest is built at its first call, as in the replay. */
			if (!setup) {
				if (replay_prepare(r, o->lineno))
					abort();
				setup = true;
			}
			memcpy(args, o->args, sizeof(args));
			if (o->opcode == UIOMMU_H_PUT_TCE_INDIRECT)
				args[2] = STAGING_GPA + o->list * 4096;
			bench_use(uiommu_papr_hcall(r->guest, o->opcode, args, o->nargs, rets, 1));
		}
		s = (double)(bench_now_ns() - t0) * 1e-9;
		if (s < best)
			best = s;
		uiommu_guest_set_memslot(r->guest, STAGING_SLOT, 0, 0, NULL, 0);
		uiommu_ram_remove(r->ctx, staging_hpa);
		replay_fini(r);
	}
	free(r);
	return best;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "tests/data/traces/full-xlate/vscsi-disk.trace.xz";
	struct recorder rec = { 0 };
	struct replay *r = calloc(1, sizeof(*r));
	struct input in;
	struct text t;
	char *buf;
	size_t len;
	double scan_ns, memchr_ns, parse_ns, best_replay = 1e300, best_xlate = 1e300, direct;
	uint64_t hcalls = 0;
	int misses = 0;

	if (!r || input_open(&in, path) || input_read_all(&in, &buf, &len)) {
		fprintf(stderr, "bench_replay: cannot read %s: %s\n", path, in.err);
		return 1;
	}
	input_close(&in);
	t.buf = buf;
	t.len = len;
	printf("# uiommu bench_replay: %s, %.1f MB decoded; ratios to limits measured in this run\n",
	       path, (double)len / 1e6);

	scan_ns = bench_run(scan_bytes, &t, 3);
	memchr_ns = bench_run(scan_lines, &t, 10);
	parse_ns = bench_run(parse_lines, &t, 3);
	printf("parse: %.1f MB/s; newline scan: %.1f MB/s byte by byte, %.1f MB/s with memchr (SIMD)\n",
	       (double)len / parse_ns * 1e3, (double)len / scan_ns * 1e3,
	       (double)len / memchr_ns * 1e3);
	misses += bench_report("parse (per trace)", parse_ns, "newline scan, byte by byte", scan_ns,
			       4.0);
	bench_report("parse (per trace)", parse_ns, "newline scan, memchr (SIMD)", memchr_ns, 0);

	/* Record once, then take the best of several replays, as bench_run() does. */
	replay_text(&t, false, &rec, r, &hcalls);
	replay_fini(r);
	direct = direct_loop(&rec);
	for (int rep = 0; rep < BENCH_REPEATS; rep++) {
		uint64_t n;
		double s = replay_text(&t, false, NULL, r, &n);

		replay_fini(r);
		if (s < best_replay)
			best_replay = s;
		s = replay_text(&t, true, NULL, r, &n);
		replay_fini(r);
		if (s < best_xlate)
			best_xlate = s;
	}
	printf("replay: %.0f hcalls/s (%.0f with translation checks), dispatcher loop: %.0f hcalls/s, %" PRIu64 " hcalls\n",
	       (double)hcalls / best_replay, (double)hcalls / best_xlate, (double)hcalls / direct,
	       hcalls);
	misses += bench_report("replay (per hcall, no xlate)", best_replay * 1e9 / (double)hcalls,
			       "dispatcher loop, same hcalls", direct * 1e9 / (double)hcalls, 1.5);
	free(rec.ops);
	free(rec.lists);
	free(buf);
	free(r);
	printf("# %d target(s) missed\n", misses);
	return 0;
}
