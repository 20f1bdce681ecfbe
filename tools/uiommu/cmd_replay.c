// SPDX-License-Identifier: BSD-3-Clause
/*
 * uiommu replay: replay recorded pseries TCE hypercall traces through
 * libuiommu and compare every result with QEMU's. See replay.c for the
 * engine, trace.c for the parser, doc/replay.md for the user's view.
 *
 * Lines are read and parsed in chunks, and each chunk is then replayed, so
 * that parsing and replaying are timed apart without a clock read per call,
 * and memory stays flat on a trace of any size.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "input.h"
#include "replay.h"
#include "replay_vmm.h"

#define CHUNK_EVENTS 4096

struct replay_cli {
	struct replay_options opt;
	struct uiommu_ctx_config ctx_cfg; /* --accel, --exits */
	bool modes[2];			  /* --accel, --exits: each trace replayed in each */
	bool json;
	int progress; /* -1 auto, 0 never, 1 always */
	bool quiet;
	bool detail; /* full report for every trace, even when several match */
};

/* One row of the table printed for several traces. */
struct row {
	const char *path;
	uint64_t lines, hcalls, rtas, xlate, mismatches;
	bool vfio;
	uint64_t maps, unmaps, locked; /* --vfio */
	double hcalls_per_s;
	const char *result;
	int mode; /* enum replay_vmm_mode, or -1 */
	uint64_t fallbacks;
	double hcall_rate, mapped_mb_s; /* hcalls per second of hcall handling, mapped MB/s */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct chunk {
	struct trace_event ev[CHUNK_EVENTS];
	uint64_t line[CHUNK_EVENTS];
};

/* What happened to one trace. */
enum trace_outcome { OUTCOME_MATCH, OUTCOME_MISMATCH, OUTCOME_FAILED };

static void progress(struct replay *r, const char *name, const struct input *in, double t0,
		     bool final)
{
	double dt = now_s() - t0;
	uint64_t hc = 0;

	for (int c = 0; c < CALL_NR; c++)
		hc += r->st.calls[c];
	fprintf(stderr, "\r%s: %.1f MB, %" PRIu64 " lines, %" PRIu64 " hcalls, %.0f lines/s, %" PRIu64 " mismatches%s",
		name, (double)in->bytes / 1e6, r->st.lines, hc, dt > 0 ? (double)r->st.lines / dt : 0,
		r->st.mismatches, final ? "\n" : "   ");
	fflush(stderr);
}

/*
 * Replay one input; fills r->st. @v: the VMM side (--accel, --exits) or
 * NULL; set up here, torn down by the caller. Returns the outcome;
 * *ret_err set for OUTCOME_FAILED.
 */
static enum trace_outcome replay_one(struct replay_cli *cli, struct replay *r, const char *path,
				     struct chunk *ch, char *err, size_t errlen,
				     struct replay_vmm *v, int mode)
{
	bool show = cli->progress == 1 || (cli->progress == -1 && !cli->quiet && isatty(2));
	double t_start = now_s(), last_shown = 0;
	struct input in;
	bool end = false;
	int ret;

	ret = replay_init(r, &cli->opt);
	if (!ret && mode >= 0)
		ret = replay_vmm_init(v, r, (enum replay_vmm_mode)mode);
	if (ret) {
		snprintf(err, errlen, "%s", r->fatal);
		return OUTCOME_FAILED;
	}
	ret = input_open(&in, path);
	if (ret) {
		snprintf(err, errlen, "%s: %s", path, in.err);
		return OUTCOME_FAILED;
	}
	while (!end) {
		double t0 = now_s(), t1;
		unsigned int n = 0;
		char why[256];
		bool stop = false;

		while (n < CHUNK_EVENTS) {
			const char *line;
			size_t len;

			ret = input_getline(&in, &line, &len);
			if (ret == 0) {
				end = true;
				break;
			}
			if (ret < 0) {
				snprintf(err, errlen, "%s: %s", path, in.err);
				stop = true;
				break;
			}
			if (trace_parse_line(line, len, &ch->ev[n], why, sizeof(why))) {
				if (!cli->opt.lenient) {
					snprintf(err, errlen, "%s:%" PRIu64 ": malformed line: %s", path,
						 in.lineno, why);
					stop = true;
					break;
				}
				replay_bad_line(r, in.lineno, why);
				continue;
			}
			ch->line[n++] = in.lineno;
		}
		t1 = now_s();
		r->st.parse_seconds += t1 - t0;
		for (unsigned int i = 0; i < n; i++) {
			if (replay_event(r, ch->line[i], &ch->ev[i])) {
				snprintf(err, errlen, "%s: %s", path, r->fatal);
				stop = true;
				break;
			}
		}
		r->st.replay_seconds += now_s() - t1;
		if (show && (end || stop || now_s() - last_shown > 0.1)) {
			progress(r, path, &in, t_start, end || stop);
			last_shown = now_s();
		}
		if (stop) {
			r->st.bytes = in.bytes;
			input_close(&in);
			return OUTCOME_FAILED;
		}
	}
	r->st.bytes = in.bytes;
	input_close(&in);
	if (mode >= 0 && v->failed) {
		snprintf(err, errlen, "%s: %s", path, v->err);
		return OUTCOME_FAILED;
	}
	return r->st.mismatches ? OUTCOME_MISMATCH : OUTCOME_MATCH;
}

/* ---- output ---- */

static uint64_t total_hcalls(const struct replay_stats *st)
{
	uint64_t n = 0;

	for (int c = 0; c < CALL_NR; c++)
		n += st->calls[c];
	return n;
}

static void print_hist(const char *name, const struct replay_hist *h)
{
	bool any = false;

	printf("  %-18s", name);
	for (int i = 0; i <= UIOMMU_PAPR_MAX_INDIRECT_NPAGES; i++) {
		if (h->exact[i]) {
			printf(" %d:%" PRIu64, i, h->exact[i]);
			any = true;
		}
	}
	for (int b = 0; b < 64; b++) {
		if (h->log2[b]) {
			printf(" [%llu..%llu]:%" PRIu64, 1ULL << b, (2ULL << b) - 1, h->log2[b]);
			any = true;
		}
	}
	printf("%s\n", any ? "" : " -");
}

/* The VMM side's rates: hcalls per second of hcall handling, and mapped MB/s. */
static double vmm_hcall_rate(const struct replay_vmm *v)
{
	return v->hcall_seconds > 0 ? (double)v->hcalls / v->hcall_seconds : 0;
}

static double vmm_mapped_mb_s(const struct replay_vmm *v)
{
	return v->hcall_seconds > 0 ? (double)v->mapped_bytes / 1e6 / v->hcall_seconds : 0;
}

static void print_vmm(const struct replay_vmm *v, const struct replay_stats *st)
{
	double total = st->parse_seconds + st->replay_seconds;

	printf("  vfio               %" PRIu64 " guest windows backed by containers' host tables"
	       " (%" PRIu64 " that no host window could back)\n",
	       v->windows_backed, v->windows_refused);
	if (v->mode == REPLAY_VMM_ACCEL)
		printf("  accelerated        %" PRIu64 " hcalls on the vCPU; %" PRIu64 " fallbacks"
		       " (H_TOO_HARD, redone by the VMM path)\n", v->hcalls, v->fallbacks);
	else
		printf("  exits              %" PRIu64 " hcalls handed to the VMM thread; a bare round"
		       " trip %.2f us (semaphores, same CPU)\n", v->exits,
		       v->exit_round_trip_ns / 1e3);
	printf("  hcall handling     %.3f s: %.0f hcalls/s, %.1f MB/s mapped; %.0f hcalls/s end"
	       " to end\n", v->hcall_seconds, vmm_hcall_rate(v), vmm_mapped_mb_s(v),
	       total > 0 ? (double)v->hcalls / total : 0);
}

static void print_human(const char *path, const struct replay *r, enum trace_outcome out,
			const char *err, const struct replay_vmm *v)
{
	const struct replay_stats *st = &r->st;
	uint64_t hc = total_hcalls(st);

	if (out == OUTCOME_FAILED && !st->lines) {
		printf("%s\n  result             FAILED: %s\n", path, err);
		return;
	}

	printf("%s", path);
	if (r->scenario[0])
		printf(": %s", r->scenario);
	printf(" (profile %s)\n", r->opt.profile == UIOMMU_PAPR_PROFILE_KVM ? "kvm" : "qemu");
	if (r->qemu[0])
		printf("  recorded with      %s\n", r->qemu);
	printf("  lines              %" PRIu64 " (%" PRIu64 " events, %" PRIu64 " header, %" PRIu64 " comments, %" PRIu64 " markers, %" PRIu64 " unknown events, %" PRIu64 " malformed)\n",
	       st->lines, st->events, st->headers, st->comments, st->marks, st->unknown,
	       st->malformed);
	for (unsigned int i = 0; i < st->nunknown_ev; i++)
		printf("    unknown event    %s: %" PRIu64 "\n", st->unknown_ev[i].name,
		       st->unknown_ev[i].count);
	printf("  hcalls             %" PRIu64 ":", hc);
	for (int c = 0; c < CALL_NR; c++)
		printf(" %s %" PRIu64 " (%" PRIu64 " ok)", replay_call_name(c), st->calls[c],
		       st->calls_ok[c]);
	printf("\n  rtas               ");
	for (int c = 0; c < RTAS_NR; c++)
		printf(" %s %" PRIu64, replay_rtas_name(c), st->rtas[c]);
	printf("\n  by LIOBN\n");
	for (unsigned int i = 0; i < st->nliobn; i++) {
		printf("    0x%08" PRIx64 "    ", st->liobn[i].liobn);
		for (int c = 0; c < CALL_NR; c++)
			printf(" %s %" PRIu64, replay_call_name(c), st->liobn[i].calls[c]);
		printf(" xlate %" PRIu64 "\n", st->liobn[i].xlate);
	}
	if (st->other_liobn_calls)
		printf("    other LIOBNs      %" PRIu64 " hcalls\n", st->other_liobn_calls);
	printf("  npages histograms\n");
	print_hist("  indirect", &st->hist_indirect);
	print_hist("  stuff", &st->hist_stuff);
	printf("  translations       %" PRIu64 " checked, %" PRIu64 " mismatched%s\n",
	       st->xlate_checked, st->xlate_mismatched, r->opt.check_xlate ? "" : " (not checked)");
	if (r->vfio) {
		struct replay_vfio_stats vs;

		replay_vfio_stats(r->vfio, &vs);
		printf("  vfio               %" PRIu64 " container(s), %" PRIu64 " MAP_DMA, %" PRIu64 " UNMAP_DMA, %" PRIu64 " TCE_CREATE, %" PRIu64 " TCE_REMOVE, %" PRIu64 " guest TCEs outside RAM\n",
		       vs.containers, vs.map_calls, vs.unmap_calls, vs.windows_created,
		       vs.windows_removed, vs.maps_skipped);
		if (vs.windows_unplaceable)
			printf("  vfio windows       %" PRIu64 " guest window(s) a VFIO host cannot place where the guest has them (the container put them where Linux does; QEMU would stop: \"Host doesn't support DMA window\"); not mirrored\n",
			       vs.windows_unplaceable);
		printf("  vfio memory        %" PRIu64 " MiB registered, locked %" PRIu64 " KiB now, %" PRIu64 " KiB at most\n",
		       vs.registered_bytes >> 20, vs.locked_bytes >> 10, vs.locked_peak >> 10);
		printf("  vfio translations  %" PRIu64 " checked through the host PE, %" PRIu64 " mismatched\n",
		       vs.xlate_checked, vs.xlate_mismatched);
	}
	if (st->nphase) {
		printf("  phases            ");
		for (unsigned int i = 0; i < st->nphase; i++)
			printf(" %s:%" PRIu64, st->phase[i].name, st->phase[i].hcalls);
		printf("\n");
	}
	printf("  replay             %.3f s, %.0f hcalls/s (parsing excluded)\n",
	       st->replay_seconds, st->replay_seconds > 0 ? (double)hc / st->replay_seconds : 0);
	printf("  parse              %.3f s, %.1f MB/s\n", st->parse_seconds,
	       st->parse_seconds > 0 ? (double)st->bytes / 1e6 / st->parse_seconds : 0);
	if (v)
		print_vmm(v, st);
	for (unsigned int i = 0; i < st->nbad_kept; i++)
		printf("  malformed line %" PRIu64 ": %s\n", st->bad_line[i].line,
		       st->bad_line[i].text);
	for (unsigned int i = 0; i < st->nmismatch_kept; i++)
		printf("  MISMATCH line %" PRIu64 ": %s\n", st->mismatch[i].line,
		       st->mismatch[i].text);
	if (st->mismatches > st->nmismatch_kept)
		printf("  ... and %" PRIu64 " more mismatches\n",
		       st->mismatches - st->nmismatch_kept);
	switch (out) {
	case OUTCOME_MATCH:
		printf("  result             match: every return code%s agrees with QEMU\n",
		       st->xlate_checked ? ", value and translation" : " and value");
		break;
	case OUTCOME_MISMATCH:
		printf("  result             MISMATCH: %" PRIu64 " difference(s)\n", st->mismatches);
		break;
	default:
		printf("  result             FAILED: %s\n", err);
		break;
	}
}

static struct json_object *json_u(uint64_t v)
{
	return json_object_new_uint64(v);
}

static struct json_object *json_hist(const struct replay_hist *h)
{
	struct json_object *o = json_object_new_object();
	char key[48];

	for (int i = 0; i <= UIOMMU_PAPR_MAX_INDIRECT_NPAGES; i++) {
		if (h->exact[i]) {
			snprintf(key, sizeof(key), "%d", i);
			json_object_object_add(o, key, json_u(h->exact[i]));
		}
	}
	for (int b = 0; b < 64; b++) {
		if (h->log2[b]) {
			snprintf(key, sizeof(key), "%llu-%llu", 1ULL << b, (2ULL << b) - 1);
			json_object_object_add(o, key, json_u(h->log2[b]));
		}
	}
	return o;
}

static struct json_object *json_notes(const struct replay_note *n, unsigned int count)
{
	struct json_object *a = json_object_new_array();

	for (unsigned int i = 0; i < count; i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "line", json_u(n[i].line));
		json_object_object_add(o, "what", json_object_new_string(n[i].text));
		json_object_array_add(a, o);
	}
	return a;
}

static struct json_object *json_vmm(const struct replay_vmm *v, const struct replay_stats *st)
{
	struct json_object *x = json_object_new_object();
	double total = st->parse_seconds + st->replay_seconds;

	json_object_object_add(x, "mode", json_object_new_string(replay_vmm_mode_name(v->mode)));
	json_object_object_add(x, "windows_backed", json_u(v->windows_backed));
	json_object_object_add(x, "windows_unbacked", json_u(v->windows_refused));
	json_object_object_add(x, "hcalls", json_u(v->hcalls));
	json_object_object_add(x, "fallbacks", json_u(v->fallbacks));
	json_object_object_add(x, "exits", json_u(v->exits));
	json_object_object_add(x, "hcall_seconds", json_object_new_double(v->hcall_seconds));
	json_object_object_add(x, "replay_hcalls_per_s", json_object_new_double(vmm_hcall_rate(v)));
	json_object_object_add(x, "hcalls_per_s", json_object_new_double(
		total > 0 ? (double)v->hcalls / total : 0));
	json_object_object_add(x, "mapped_mb_per_s", json_object_new_double(vmm_mapped_mb_s(v)));
	json_object_object_add(x, "mapped_bytes", json_u(v->mapped_bytes));
	if (v->mode == REPLAY_VMM_EXITS)
		json_object_object_add(x, "exit_round_trip_ns",
				       json_object_new_double(v->exit_round_trip_ns));
	return x;
}

static struct json_object *json_trace(const char *path, const struct replay *r,
				      enum trace_outcome out, const char *err,
				      const struct replay_vmm *v)
{
	const struct replay_stats *st = &r->st;
	struct json_object *o = json_object_new_object(), *x, *y;
	uint64_t hc = total_hcalls(st);

	json_object_object_add(o, "input", json_object_new_string(path));
	json_object_object_add(o, "scenario", json_object_new_string(r->scenario));
	json_object_object_add(o, "recorded_with", json_object_new_string(r->qemu));
	json_object_object_add(o, "profile", json_object_new_string(
		r->opt.profile == UIOMMU_PAPR_PROFILE_KVM ? "kvm" : "qemu"));
	json_object_object_add(o, "result", json_object_new_string(
		out == OUTCOME_MATCH ? "match" : out == OUTCOME_MISMATCH ? "mismatch" : "failed"));
	if (out == OUTCOME_FAILED)
		json_object_object_add(o, "error", json_object_new_string(err));

	x = json_object_new_object();
	json_object_object_add(x, "total", json_u(st->lines));
	json_object_object_add(x, "events", json_u(st->events));
	json_object_object_add(x, "header", json_u(st->headers));
	json_object_object_add(x, "comments", json_u(st->comments));
	json_object_object_add(x, "markers", json_u(st->marks));
	json_object_object_add(x, "unknown_events", json_u(st->unknown));
	json_object_object_add(x, "malformed", json_u(st->malformed));
	json_object_object_add(o, "lines", x);
	x = json_object_new_object();
	for (unsigned int i = 0; i < st->nunknown_ev; i++)
		json_object_object_add(x, st->unknown_ev[i].name, json_u(st->unknown_ev[i].count));
	json_object_object_add(o, "unknown_events", x);

	x = json_object_new_object();
	json_object_object_add(x, "total", json_u(hc));
	for (int c = 0; c < CALL_NR; c++) {
		y = json_object_new_object();
		json_object_object_add(y, "count", json_u(st->calls[c]));
		json_object_object_add(y, "ok", json_u(st->calls_ok[c]));
		json_object_object_add(x, replay_call_name(c), y);
	}
	json_object_object_add(o, "hcalls", x);
	x = json_object_new_object();
	for (int c = 0; c < RTAS_NR; c++)
		json_object_object_add(x, replay_rtas_name(c), json_u(st->rtas[c]));
	json_object_object_add(o, "rtas", x);

	x = json_object_new_array();
	for (unsigned int i = 0; i < st->nliobn; i++) {
		y = json_object_new_object();
		json_object_object_add(y, "liobn", cli_json_hex(st->liobn[i].liobn));
		for (int c = 0; c < CALL_NR; c++)
			json_object_object_add(y, replay_call_name(c), json_u(st->liobn[i].calls[c]));
		json_object_object_add(y, "xlate", json_u(st->liobn[i].xlate));
		json_object_array_add(x, y);
	}
	json_object_object_add(o, "by_liobn", x);
	json_object_object_add(o, "other_liobn_hcalls", json_u(st->other_liobn_calls));
	x = json_object_new_object();
	json_object_object_add(x, "indirect", json_hist(&st->hist_indirect));
	json_object_object_add(x, "stuff", json_hist(&st->hist_stuff));
	json_object_object_add(o, "npages", x);

	x = json_object_new_object();
	json_object_object_add(x, "checked", json_u(st->xlate_checked));
	json_object_object_add(x, "mismatched", json_u(st->xlate_mismatched));
	json_object_object_add(o, "translations", x);
	if (r->vfio) {
		struct replay_vfio_stats vs;

		replay_vfio_stats(r->vfio, &vs);
		x = json_object_new_object();
		json_object_object_add(x, "containers", json_u(vs.containers));
		json_object_object_add(x, "map_dma", json_u(vs.map_calls));
		json_object_object_add(x, "unmap_dma", json_u(vs.unmap_calls));
		json_object_object_add(x, "tce_create", json_u(vs.windows_created));
		json_object_object_add(x, "tce_remove", json_u(vs.windows_removed));
		json_object_object_add(x, "windows_unplaceable", json_u(vs.windows_unplaceable));
		json_object_object_add(x, "maps_outside_ram", json_u(vs.maps_skipped));
		json_object_object_add(x, "registered_bytes", json_u(vs.registered_bytes));
		json_object_object_add(x, "locked_bytes", json_u(vs.locked_bytes));
		json_object_object_add(x, "locked_bytes_peak", json_u(vs.locked_peak));
		json_object_object_add(x, "translations_checked", json_u(vs.xlate_checked));
		json_object_object_add(x, "translations_mismatched", json_u(vs.xlate_mismatched));
		json_object_object_add(o, "vfio", x);
	}
	x = json_object_new_array();
	for (unsigned int i = 0; i < st->nphase; i++) {
		y = json_object_new_object();
		json_object_object_add(y, "name", json_object_new_string(st->phase[i].name));
		json_object_object_add(y, "hcalls", json_u(st->phase[i].hcalls));
		json_object_array_add(x, y);
	}
	json_object_object_add(o, "phases", x);

	x = json_object_new_object();
	json_object_object_add(x, "total", json_u(st->mismatches));
	json_object_object_add(x, "first", json_notes(st->mismatch, st->nmismatch_kept));
	json_object_object_add(o, "mismatches", x);
	json_object_object_add(o, "malformed_lines", json_notes(st->bad_line, st->nbad_kept));

	x = json_object_new_object();
	json_object_object_add(x, "replay_seconds", json_object_new_double(st->replay_seconds));
	json_object_object_add(x, "parse_seconds", json_object_new_double(st->parse_seconds));
	json_object_object_add(x, "hcalls_per_second", json_object_new_double(
		st->replay_seconds > 0 ? (double)hc / st->replay_seconds : 0));
	json_object_object_add(x, "parse_mb_per_second", json_object_new_double(
		st->parse_seconds > 0 ? (double)st->bytes / 1e6 / st->parse_seconds : 0));
	json_object_object_add(x, "bytes", json_u(st->bytes));
	json_object_object_add(o, "timing", x);
	if (v)
		json_object_object_add(o, "vmm", json_vmm(v, st));
	return o;
}

/*
 * With --accel and --exits together, each trace's two rows side by side:
 * hcall handling rates, mapped MB/s, and the ratio.
 */
static void print_comparison(const struct row *rows, int n)
{
	double sum_a = 0, sum_e = 0;
	uint64_t fallbacks = 0;
	int pairs = 0;

	printf("\n%-56s %12s %12s %10s %10s %8s %10s\n", "trace", "accel hc/s", "exits hc/s",
	       "accel MB/s", "exits MB/s", "ratio", "fallbacks");
	for (int i = 0; i + 1 < n; i++) {
		const struct row *a = &rows[i], *e = &rows[i + 1];

		if (a->mode != REPLAY_VMM_ACCEL || e->mode != REPLAY_VMM_EXITS || a->path != e->path)
			continue;
		printf("%-56s %11.2fM %11.3fM %10.1f %10.2f %7.1fx %10" PRIu64 "\n", a->path,
		       a->hcall_rate / 1e6, e->hcall_rate / 1e6, a->mapped_mb_s, e->mapped_mb_s,
		       e->hcall_rate > 0 ? a->hcall_rate / e->hcall_rate : 0, a->fallbacks);
		sum_a += a->hcalls / (a->hcall_rate > 0 ? a->hcall_rate : 1);
		sum_e += e->hcalls / (e->hcall_rate > 0 ? e->hcall_rate : 1);
		fallbacks += a->fallbacks;
		pairs++;
	}
	if (pairs)
		printf("%d traces: hcall handling %.1fx faster accelerated than with exits (%.3f s vs"
		       " %.3f s), %" PRIu64 " fallbacks\n", pairs, sum_a > 0 ? sum_e / sum_a : 0,
		       sum_a, sum_e, fallbacks);
}

static void print_table(const struct row *rows, int n)
{
	uint64_t lines = 0, hcalls = 0, rtas = 0, xlate = 0, mism = 0;
	int matched = 0;

	printf("%-56s %8s %8s %5s %8s %10s %9s  %s", "trace", "lines", "hcalls", "rtas", "xlate",
	       "mismatches", "hcalls/s", "result");
	printf(rows[0].vfio ? "  %8s %9s %9s\n" : "\n", "MAP_DMA", "UNMAP_DMA", "locked");
	for (int i = 0; i < n; i++) {
		printf("%-56s %8" PRIu64 " %8" PRIu64 " %5" PRIu64 " %8" PRIu64 " %10" PRIu64 " %8.1fM  %-8s",
		       rows[i].path, rows[i].lines, rows[i].hcalls, rows[i].rtas, rows[i].xlate,
		       rows[i].mismatches, rows[i].hcalls_per_s / 1e6, rows[i].result);
		if (rows[i].vfio)
			printf("%8" PRIu64 " %9" PRIu64 " %8" PRIu64 "M", rows[i].maps, rows[i].unmaps,
			       rows[i].locked >> 20);
		if (rows[i].mode >= 0)
			printf(" (%s, %" PRIu64 " fallbacks)",
			       replay_vmm_mode_name((enum replay_vmm_mode)rows[i].mode),
			       rows[i].fallbacks);
		putchar('\n');
		lines += rows[i].lines;
		hcalls += rows[i].hcalls;
		rtas += rows[i].rtas;
		xlate += rows[i].xlate;
		mism += rows[i].mismatches;
		matched += !strcmp(rows[i].result, "match");
	}
	printf("%d traces, %" PRIu64 " lines: %" PRIu64 " hypercalls, %" PRIu64 " RTAS calls and %" PRIu64 " device translations replayed; ",
	       n, lines, hcalls, rtas, xlate);
	if (matched == n)
		printf("every result agrees with QEMU\n");
	else
		printf("%d of %d traces differ (%" PRIu64 " mismatches)\n", n - matched, n, mism);
}

/* ---- the command ---- */

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "profile", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "lenient", no_argument, NULL, 'l' },
		{ "no-xlate", no_argument, NULL, 'X' },
		{ "vfio", no_argument, NULL, 'V' },
		{ "progress", required_argument, NULL, 'P' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "detail", no_argument, NULL, 'd' },
		{ "accel", no_argument, NULL, 'A' },
		{ "exits", no_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct replay_cli cli = { .opt = { .profile = UIOMMU_PAPR_PROFILE_QEMU, .check_xlate = true },
				  .progress = -1 };
	struct json_object *doc = NULL, *arr = NULL;
	bool any_mismatch = false, any_failed = false, table;
	struct replay_vmm *vmm = NULL;
	struct row *rows = NULL;
	int modes[3], nmodes = 0, nrows = 0;
	struct chunk *ch;
	struct replay *r;
	int c, ntraces;

	while ((c = getopt_long(argc, argv, "p:jlXVP:qdh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!strcmp(optarg, "qemu"))
				cli.opt.profile = UIOMMU_PAPR_PROFILE_QEMU;
			else if (!strcmp(optarg, "kvm"))
				cli.opt.profile = UIOMMU_PAPR_PROFILE_KVM;
			else
				return cli_usage_error("replay", "--profile must be qemu or kvm");
			break;
		case 'j':
			cli.json = true;
			break;
		case 'l':
			cli.opt.lenient = true;
			break;
		case 'X':
			cli.opt.check_xlate = false;
			break;
		case 'V':
			cli.opt.vfio = true;
			break;
		case 'P':
			if (!strcmp(optarg, "auto"))
				cli.progress = -1;
			else if (!strcmp(optarg, "always"))
				cli.progress = 1;
			else if (!strcmp(optarg, "never"))
				cli.progress = 0;
			else
				return cli_usage_error("replay", "--progress must be auto, always or never");
			break;
		case 'q':
			cli.quiet = true;
			break;
		case 'd':
			cli.detail = true;
			break;
		case 'A':
			cli.modes[REPLAY_VMM_ACCEL] = true;
			break;
		case 'E':
			cli.modes[REPLAY_VMM_EXITS] = true;
			break;
		case 'h':
			cli_print_help(&cmd_replay);
			return EXIT_OK;
		default:
			return cli_usage_error("replay", "invalid option");
		}
	}
	if (optind >= argc)
		return cli_usage_error("replay", "no trace given (a file, or - for standard input)");
	for (int m = 0; m < 2; m++)
		if (cli.modes[m])
			modes[nmodes++] = m;
	if (!nmodes)
		modes[nmodes++] = -1;
	else {
		/* Every trace in each mode: '-' can be read once only. */
		for (int i = optind; i < argc; i++)
			if (nmodes > 1 && !strcmp(argv[i], "-"))
				return cli_usage_error("replay", "--accel with --exits reads each trace "
						       "twice: not from standard input");
		replay_vmm_ctx_config(&cli.ctx_cfg);
		cli.opt.ctx_cfg = &cli.ctx_cfg;
		/* The modes bring their own containers (replay_vmm.c); not a second set. */
		cli.opt.vfio = false;
	}

	ntraces = argc - optind;
	/* Several traces (or modes): a table, and the full report only where something differed. */
	table = (ntraces > 1 || nmodes > 1) && !cli.detail && !cli.json;
	ch = malloc(sizeof(*ch));
	r = malloc(sizeof(*r));
	vmm = calloc(1, sizeof(*vmm));
	rows = calloc((size_t)ntraces * (size_t)nmodes, sizeof(*rows));
	if (!ch || !r || !rows || !vmm) {
		cli_error("out of memory");
		free(ch);
		free(r);
		free(rows);
		free(vmm);
		return EXIT_FAIL;
	}
	if (cli.json) {
		doc = json_object_new_object();
		arr = json_object_new_array();
		json_object_object_add(doc, "schema", json_object_new_int(1));
	}
	for (int i = optind; i < argc; i++) {
		for (int k = 0; k < nmodes; k++) {
			char err[600] = "";
			int mode = modes[k];
			enum trace_outcome out =
				replay_one(&cli, r, argv[i], ch, err, sizeof(err), vmm, mode);
			const struct replay_vmm *v = mode >= 0 ? vmm : NULL;

			any_mismatch |= out == OUTCOME_MISMATCH;
			any_failed |= out == OUTCOME_FAILED;
			if (out == OUTCOME_FAILED)
				cli_error("%s", err);
			if (cli.json)
				json_object_array_add(arr, json_trace(argv[i], r, out, err, v));
			else if ((!cli.quiet && !table) || out != OUTCOME_MATCH)
				print_human(argv[i], r, out, err, v);
			rows[nrows++] = (struct row){
				.path = argv[i],
				.lines = r->st.lines,
				.hcalls = total_hcalls(&r->st),
				.rtas = r->st.rtas[RTAS_QUERY] + r->st.rtas[RTAS_CREATE] +
					r->st.rtas[RTAS_REMOVE] + r->st.rtas[RTAS_RESET],
				.xlate = r->st.xlate_checked,
				.mismatches = r->st.mismatches,
				.hcalls_per_s = r->st.replay_seconds > 0 ?
						(double)total_hcalls(&r->st) / r->st.replay_seconds :
						0,
				.result = out == OUTCOME_MATCH ? "match" :
					  out == OUTCOME_MISMATCH ? "MISMATCH" : "FAILED",
				.mode = mode,
				.fallbacks = v ? v->fallbacks : 0,
				.hcall_rate = v ? vmm_hcall_rate(v) : 0,
				.mapped_mb_s = v ? vmm_mapped_mb_s(v) : 0,
				.vfio = r->vfio != NULL,
			};
			if (r->vfio) {
				struct replay_vfio_stats vs;

				replay_vfio_stats(r->vfio, &vs);
				rows[nrows - 1].maps = vs.map_calls;
				rows[nrows - 1].unmaps = vs.unmap_calls;
				rows[nrows - 1].locked = vs.locked_peak;
			}
			replay_vmm_fini(vmm);
			replay_fini(r);
		}
	}
	if (table && !cli.quiet) {
		print_table(rows, nrows);
		if (nmodes > 1)
			print_comparison(rows, nrows);
	}
	if (cli.json) {
		json_object_object_add(doc, "traces", arr);
		json_object_object_add(doc, "result", json_object_new_string(
			any_failed ? "failed" : any_mismatch ? "mismatch" : "match"));
		cli_json_print(doc);
		json_object_put(doc);
	}
	free(ch);
	free(r);
	free(rows);
	free(vmm);
	if (any_failed)
		return EXIT_FAIL;
	return any_mismatch ? EXIT_MISMATCH : EXIT_OK;
}

const struct cli_cmd cmd_replay = {
	.name = "replay",
	.summary = "replay pseries TCE hypercall traces and compare with QEMU",
	.usage = "[OPTIONS] TRACE|-...\n\n"
		 "Replays QEMU sPAPR IOMMU trace logs (plain or .xz, '-' for standard input)\n"
		 "through libuiommu's PAPR dispatcher, as the guest made the calls, and\n"
		 "compares every return code, H_GET_TCE value and device translation with\n"
		 "QEMU's. Each trace gets a fresh guest. See doc/replay.md and doc/traces.md.\n\n"
		 "  -p, --profile qemu|kvm  hcall semantics (default qemu: what a TCG guest sees)\n"
		 "  -j, --json              one JSON document on stdout (64-bit values as hex strings)\n"
		 "  -l, --lenient           count and skip malformed lines instead of stopping\n"
		 "  -X, --no-xlate          do not compare translation events\n"
		 "  -V, --vfio              a VFIO container behind each PHB: guest RAM preregistered,\n"
		 "                          a host window per guest window, every TCE change mirrored\n"
		 "                          by MAP_DMA/UNMAP_DMA as QEMU does, and every translation\n"
		 "                          checked again through the host PE\n"
		 "  -P, --progress WHEN     auto (stderr is a terminal), always or never\n"
		 "  -q, --quiet             print only traces that did not match\n"
		 "  -d, --detail            the full report of every trace (default with one trace;\n"
		 "                          with several: a table, and reports of those that differ)\n"
		 "      --accel             back the guest's PCI windows with VFIO containers and\n"
		 "                          make the hcalls on a vCPU with their host tables attached\n"
		 "                          (in-kernel acceleration); H_TOO_HARD redone by the VMM\n"
		 "      --exits             the same containers, every TCE hcall an exit to a VMM\n"
		 "                          thread that applies it through the container's ioctls;\n"
		 "                          with --accel, each trace in both modes, and the ratio\n"
		 "                          (--vfio adds nothing to them: they bring their own)\n"
		 "  -h, --help              this text\n\n"
		 "Exit status: 0 all matched, 3 a mismatch, 1 unreadable, malformed or refused\n"
		 "input, 2 usage error.",
	.run = run,
};
