// SPDX-License-Identifier: BSD-3-Clause
/*
 * 'uiommu replay', the main job, on the shipped traces, each rate beside
 * its limit measured in the same run:
 *
 * - end to end: the wall time of the user's command, 'uiommu replay' on
 *   every trace, against 'xz -dc' of the same files (both run as
 *   processes, one after the other, best of 21 each): decoding is the
 *   least the replay must do, and it runs on a thread of its own, so the
 *   replay should take at most 1.2 times as long;
 * - parsing (splitting the decoded text into lines and parsing them into
 *   events), in MB/s, against memchr's newline scan of the same bytes:
 *   at least 1/8 of its rate (ratio <= 8);
 * - replaying (parsing excluded), in hypercalls per second, against the
 *   same hypercalls issued straight to the dispatcher in a loop (their
 *   H_PUT_TCE_INDIRECT lists staged in guest memory beforehand): the
 *   replayer may add at most 50% (ratio <= 1.5), on the largest trace.
 *   The translation events are left out of this replay, since the loop
 *   has none; the rate with them checked is reported too.
 *
 * Usage: bench_replay UIOMMU_BINARY TRACES_DIR
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "input.h"
#include "replay.h"
#include "trace.h"

extern char **environ;

/* ---- the shipped traces ---- */

struct paths {
	char **p;
	size_t n, cap;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void find_traces(const char *dir, struct paths *out)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[4096];
		size_t n = strlen(e->d_name);

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (e->d_type == DT_DIR) {
			find_traces(path, out);
		} else if (n > 9 && !strcmp(e->d_name + n - 9, ".trace.xz")) {
			if (out->n == out->cap) {
				out->cap = out->cap ? out->cap * 2 : 32;
				out->p = realloc(out->p, out->cap * sizeof(*out->p));
				if (!out->p)
					abort();
			}
			out->p[out->n++] = strdup(path);
		}
	}
	closedir(d);
	qsort(out->p, out->n, sizeof(*out->p), cmp_str);
}

/* ---- end to end: two commands, wall time ---- */

/* Run @argv with stdout and stderr to /dev/null; the wall seconds, or -1 if it failed. */
static double run_wall(char **argv)
{
	posix_spawn_file_actions_t fa;
	uint64_t t0 = bench_now_ns();
	int status;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ)) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return -1;
	return (double)(bench_now_ns() - t0) * 1e-9;
}

static int end_to_end(const char *uiommu, const struct paths *t)
{
	char **xz = calloc(t->n + 3, sizeof(char *)), **rp = calloc(t->n + 5, sizeof(char *));
	double best_xz = 1e300, best_rp = 1e300;
	int miss;

	if (!xz || !rp)
		abort();
	xz[0] = (char *)"xz";
	xz[1] = (char *)"-dc";
	rp[0] = (char *)uiommu;
	rp[1] = (char *)"replay";
	rp[2] = (char *)"--progress";
	rp[3] = (char *)"never";
	memcpy(xz + 2, t->p, t->n * sizeof(char *));
	memcpy(rp + 4, t->p, t->n * sizeof(char *));
	/*
	 * Alternate the two, so that a busy moment of the machine hits both
	 * alike, and keep the best of each: on a shared machine the best is
	 * the least disturbed.
	 */
	for (int rep = 0; rep < 3 * BENCH_REPEATS; rep++) {
		double a = run_wall(xz), b = run_wall(rp);

		if (a < 0 || b < 0) {
			fprintf(stderr, "bench_replay: %s failed\n", a < 0 ? "xz -dc" : "uiommu replay");
			exit(1);
		}
		best_xz = a < best_xz ? a : best_xz;
		best_rp = b < best_rp ? b : best_rp;
	}
	printf("end to end: 'uiommu replay' %.1f ms, 'xz -dc' %.1f ms, %zu traces\n",
	       best_rp * 1e3, best_xz * 1e3, t->n);
	miss = bench_report("uiommu replay (all traces, wall)", best_rp * 1e9, "xz -dc of the same files",
			    best_xz * 1e9, 1.2);
	free(xz);
	free(rp);
	return miss;
}

/* ---- parsing ---- */

struct text {
	char *buf; /* lines, newline-terminated */
	char *nul; /* the same, each newline a NUL, as the input layer hands lines out */
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

static void parse_lines(void *arg, uint64_t iters)
{
	const struct text *t = arg;
	struct trace_event ev;
	char err[256];
	uint64_t events = 0;

	for (uint64_t i = 0; i < iters; i++) {
		const char *p = t->nul, *end = t->nul + t->len, *nl;

		while (p < end && (nl = memchr(p, '\0', (size_t)(end - p)))) {
			if (!trace_parse_line(p, (size_t)(nl - p), &ev, err, sizeof(err)))
				events++;
			p = nl + 1;
		}
	}
	bench_use(events);
}

static void read_text(const struct paths *t, struct text *out)
{
	size_t cap = 0;

	out->buf = NULL;
	out->len = 0;
	for (size_t i = 0; i < t->n; i++) {
		struct input *in;
		char *buf;
		size_t len;

		if (input_open(&in, t->p[i]) || input_read_all(in, &buf, &len)) {
			fprintf(stderr, "bench_replay: cannot read %s: %s\n", t->p[i], in ? in->err : "");
			exit(1);
		}
		input_stop(in);
		if (out->len + len + 1 > cap) {
			cap = (out->len + len + 1) * 2;
			out->buf = realloc(out->buf, cap);
			if (!out->buf)
				abort();
		}
		memcpy(out->buf + out->len, buf, len);
		out->len += len;
		free(buf);
	}
	out->nul = malloc(out->len + 1);
	if (!out->nul)
		abort();
	for (size_t i = 0; i < out->len; i++)
		out->nul[i] = out->buf[i] == '\n' ? '\0' : out->buf[i];
	out->nul[out->len] = '\0';
}

/* ---- replaying, against the dispatcher ---- */

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
	struct trace_event ev; /* !is_hcall; its strings point into the text, which stays */
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

/* Parsed once: the events of one trace, and the text their strings point into. */
struct events {
	struct trace_event *ev;
	uint64_t *lineno;
	size_t n;
	char *text;
};

/* The events of @all but its translations, into @out (sharing @all's text). */
static void without_xlate(const struct events *all, struct events *out)
{
	out->ev = malloc((all->n + 1) * sizeof(*out->ev));
	out->lineno = malloc((all->n + 1) * sizeof(*out->lineno));
	if (!out->ev || !out->lineno)
		abort();
	out->n = 0;
	out->text = NULL;
	for (size_t i = 0; i < all->n; i++) {
		if (all->ev[i].type == TRACE_XLATE)
			continue;
		out->ev[out->n] = all->ev[i];
		out->lineno[out->n++] = all->lineno[i];
	}
}

static void parse_trace(const char *path, struct events *e)
{
	struct input *in;
	char *p, *end, err[256];
	size_t len;
	uint64_t no = 0;

	if (input_open(&in, path) || input_read_all(in, &e->text, &len)) {
		fprintf(stderr, "bench_replay: cannot read %s\n", path);
		exit(1);
	}
	input_stop(in);
	e->ev = malloc((len / 8 + 1) * sizeof(*e->ev));
	e->lineno = malloc((len / 8 + 1) * sizeof(*e->lineno));
	if (!e->ev || !e->lineno)
		abort();
	e->n = 0;
	for (p = e->text, end = e->text + len; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));

		*nl = '\0';
		no++;
		if (!trace_parse_line(p, (size_t)(nl - p), &e->ev[e->n], err, sizeof(err)))
			e->lineno[e->n++] = no;
		p = nl + 1;
	}
}

/* Replay the events once; return the seconds spent in replay_event() only. */
static double replay_events(struct replay_host *h, const struct events *e, bool xlate,
			    struct recorder *rec, uint64_t *ret_hcalls)
{
	struct replay_options opt = { .profile = UIOMMU_PAPR_PROFILE_QEMU, .check_xlate = xlate };
	struct replay *r = calloc(1, sizeof(*r));
	uint64_t t0;
	double seconds;

	if (!r || replay_init(r, h, &opt))
		abort();
	r->record = rec ? record : NULL;
	r->record_opaque = rec;
	/*
	 * The recording pass (not the timed ones) keeps the events that shape
	 * the guest, in order with the hcalls the hook records, for the limit
	 * loop.
	 */
	t0 = bench_now_ns();
	for (size_t i = 0; i < e->n; i++) {
		if (rec && !is_hcall_event(e->ev[i].type) && e->ev[i].type != TRACE_XLATE &&
		    e->ev[i].type != TRACE_COMMENT && e->ev[i].type != TRACE_UNKNOWN) {
			struct op *o = new_op(rec);

			o->lineno = e->lineno[i];
			o->ev = e->ev[i];
		}
		if (replay_event(r, e->lineno[i], &e->ev[i]))
			abort();
	}
	seconds = (double)(bench_now_ns() - t0) * 1e-9;
	if (r->st.mismatches) {
		fprintf(stderr, "the replay did not match: the benchmark means nothing\n");
		exit(1);
	}
	*ret_hcalls = replay_hcalls(&r->st);
	replay_fini(r);
	free(r);
	return seconds;
}

#define STAGING_GPA (1ULL << 41) /* above anything the replay maps */
#define STAGING_SLOT 1000

/*
 * The limit: on a fresh guest, the recorded hcalls straight to the
 * dispatcher, their lists staged beforehand, with the guest-shaping events
 * done in the same order through the replay engine. Best of several runs.
 */
static double direct_loop(struct replay_host *h, const struct recorder *rec)
{
	struct replay_options opt = { .profile = UIOMMU_PAPR_PROFILE_QEMU };
	uint64_t lists_bytes = (rec->nlists ? rec->nlists : 1) * 4096ULL;
	struct replay *r = calloc(1, sizeof(*r));
	char *staging = aligned_alloc(4096, lists_bytes);
	double best = 1e300;

	if (!r || !staging)
		abort();
	for (size_t k = 0; k < rec->nlists; k++)
		memcpy(staging + k * 4096, rec->lists + k * 512, 4096);
	for (int rep = 0; rep < BENCH_REPEATS; rep++) {
		uint64_t args[4], rets[1], t0;
		bool setup = false;
		double s;

		if (replay_init(r, h, &opt) ||
		    uiommu_guest_set_memslot(r->guest, STAGING_SLOT, STAGING_GPA, lists_bytes,
					     staging, 0))
			abort();
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
		replay_fini(r);
	}
	free(staging);
	free(r);
	return best;
}

static int replay_vs_dispatcher(const char *path)
{
	struct recorder rec = { 0 };
	struct replay_host h;
	struct events e, hc;
	double best_replay = 1e300, best_xlate = 1e300, direct;
	uint64_t hcalls = 0, n;
	char err[256];
	int miss;

	if (replay_host_init(&h, NULL, err, sizeof(err))) {
		fprintf(stderr, "bench_replay: %s\n", err);
		exit(1);
	}
	parse_trace(path, &e);
	without_xlate(&e, &hc);
	/* Record once, then take the best of several replays, as bench_run() does. */
	replay_events(&h, &hc, false, &rec, &hcalls);
	direct = direct_loop(&h, &rec);
	for (int rep = 0; rep < BENCH_REPEATS; rep++) {
		double s = replay_events(&h, &hc, false, NULL, &n);

		best_replay = s < best_replay ? s : best_replay;
		s = replay_events(&h, &e, true, NULL, &n);
		best_xlate = s < best_xlate ? s : best_xlate;
	}
	printf("replay of %s: %.0f hcalls/s (%.0f with translation checks), dispatcher loop: %.0f hcalls/s, %" PRIu64 " hcalls\n",
	       path, (double)hcalls / best_replay, (double)hcalls / best_xlate,
	       (double)hcalls / direct, hcalls);
	miss = bench_report("replay (per hcall, no xlate)", best_replay * 1e9 / (double)hcalls,
			    "dispatcher loop, same hcalls", direct * 1e9 / (double)hcalls, 1.5);
	free(rec.ops);
	free(rec.lists);
	free(e.ev);
	free(e.lineno);
	free(e.text);
	free(hc.ev);
	free(hc.lineno);
	if (replay_host_fini(&h)) {
		fprintf(stderr, "bench_replay: the library still holds objects\n");
		exit(1);
	}
	return miss;
}

int main(int argc, char **argv)
{
	struct paths t = { 0 };
	struct text text;
	double memchr_ns, parse_ns;
	uint64_t biggest = 0;
	const char *largest = NULL;
	int misses = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: bench_replay UIOMMU_BINARY TRACES_DIR\n");
		return 2;
	}
	find_traces(argv[2], &t);
	if (!t.n) {
		fprintf(stderr, "bench_replay: no .trace.xz under %s\n", argv[2]);
		return 1;
	}
	read_text(&t, &text);
	largest = t.p[0];
	printf("# uiommu bench_replay: %zu traces under %s, %.1f MB decoded; ratios to limits measured in this run\n",
	       t.n, argv[2], (double)text.len / 1e6);

	misses += end_to_end(argv[1], &t);

	memchr_ns = bench_run(scan_lines, &text, 10);
	parse_ns = bench_run(parse_lines, &text, 3);
	printf("parse: %.1f MB/s; newline scan with memchr: %.1f MB/s\n",
	       (double)text.len / parse_ns * 1e3, (double)text.len / memchr_ns * 1e3);
	misses += bench_report("parse (all traces)", parse_ns, "memchr newline scan", memchr_ns, 8.0);

	/* The largest trace, for the replay against the dispatcher. */
	for (size_t i = 0; i < t.n; i++) {
		struct stat st;

		if (!stat(t.p[i], &st) && (uint64_t)st.st_size > biggest) {
			biggest = (uint64_t)st.st_size;
			largest = t.p[i];
		}
	}
	misses += replay_vs_dispatcher(largest);

	printf("# %d target(s) missed\n", misses);
	for (size_t i = 0; i < t.n; i++)
		free(t.p[i]);
	free(t.p);
	free(text.buf);
	free(text.nul);
	return 0;
}
