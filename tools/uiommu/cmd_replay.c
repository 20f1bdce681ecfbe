// SPDX-License-Identifier: BSD-3-Clause
/*
 * uiommu replay: replay recorded pseries TCE hypercall traces through
 * libuiommu and compare every result with QEMU's. See replay.c for the
 * engine, trace.c for the parser, input.c for reading (decoding runs on a
 * thread of its own, ahead), doc/replay.md for the user's view.
 *
 * Lines are parsed in chunks, and each chunk is then replayed, so that
 * parsing and replaying are timed apart without a clock read per call,
 * and memory stays flat on a trace of any size. One modelled host (one
 * library context) serves every trace; each trace gets a fresh guest.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "input.h"
#include "replay.h"
#include "replay_vmm.h"
#include "text.h"

/* 256 events of 88 bytes: a chunk stays in L1/L2 between parsing and replaying. */
#define CHUNK_EVENTS 256

struct replay_cli {
	struct replay_options opt;
	struct uiommu_ctx_config ctx_cfg; /* --vfio, --accel, --exits */
	bool modes[2];			  /* --accel, --exits: each trace replayed in each */
	bool json;
	int progress; /* -1 auto, 0 never, 1 always */
	bool quiet;
	bool detail; /* full report for every trace, even when several match */
	struct {
		enum uiommu_resource res;
		uint64_t value;
	} limit[UIOMMU_RES_NR];
	unsigned int nlimit;
};

/* One row of the table printed for several traces. */
struct row {
	const char *path;
	uint64_t lines, hcalls, rtas, xlate, mismatches;
	double wall, replay;
	const char *result;
	bool vfio;
	uint64_t maps, unmaps, locked; /* --vfio */
	int mode; /* enum replay_vmm_mode, or -1 */
	uint64_t fallbacks;
	double hcall_rate, mapped_mb_s; /* hcalls per second of hcall handling, mapped MB/s */
};

struct chunk {
	struct trace_event ev[CHUNK_EVENTS];
	uint64_t line[CHUNK_EVENTS];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double rate(uint64_t n, double seconds)
{
	return seconds > 0 ? (double)n / seconds : 0;
}

/* ---- progress, on standard error ---- */

struct progress {
	bool on, tty;
	unsigned int index, count; /* trace i of n */
	double start, last;
	bool drawn;
};

static unsigned int term_width(void)
{
	struct winsize ws;
	const char *cols = getenv("COLUMNS");

	if (!ioctl(2, TIOCGWINSZ, &ws) && ws.ws_col)
		return ws.ws_col;
	if (cols && atoi(cols) > 0)
		return (unsigned int)atoi(cols);
	return 80;
}

/* The fraction of @in read so far, or -1 if its size is unknown (a pipe). */
static double fraction(const struct input *in)
{
	if (in->text_size)
		return (double)in->bytes / (double)in->text_size;
	if (in->raw_size)
		return (double)in->raw_pos / (double)in->raw_size;
	return -1;
}

/* @path in at most @room bytes, cut from the left ("...ces/vscsi-disk.trace.xz"). */
static void fit_name(char *buf, size_t cap, const char *path, size_t room)
{
	size_t n = strlen(path);

	if (n <= room)
		snprintf(buf, cap, "%s", path);
	else if (room > 3)
		snprintf(buf, cap, "...%s", path + n - (room - 3));
	else
		buf[0] = '\0';
}

/*
 * One line: "[2/15] name [#####     ]  42%  3.1 MB  1.2M lines/s  0:03 left",
 * fitted to the terminal and drawn in place; without a known size (a
 * pipe), the same without bar and estimate. Not a terminal (--progress
 * always): a plain line each second, and at the end.
 */
static void progress_show(struct progress *p, const struct input *in, const struct replay *r,
			  bool final)
{
	char head[32] = "", size[48], stats[160], left[32] = "", name[256], bar[64], line[512];
	size_t width, fixed, avail, cells = 0;
	double t, dt, f;

	/* On a terminal the line goes at the end (progress_clear()): nothing to draw then. */
	if (!p->on || (p->tty && final))
		return;
	t = now_s();
	if (!final && t - p->last < (p->tty ? 0.1 : 1.0))
		return;
	dt = t - p->start;
	f = fraction(in);
	p->last = t;
	if (p->count > 1)
		snprintf(head, sizeof(head), "[%u/%u] ", p->index + 1, p->count);
	if (f > 1)
		f = 1;
	if (!p->tty) {
		char pct[16] = "";

		if (f >= 0)
			snprintf(pct, sizeof(pct), "%.0f%%, ", f * 100);
		fprintf(stderr, "%s%s: %s%.1f MB, %" PRIu64 " lines, %" PRIu64 " hcalls, %" PRIu64 " mismatches\n",
			head, in->path, pct, (double)in->bytes / 1e6, r->st.lines,
			replay_hcalls(&r->st), r->st.mismatches);
		return;
	}
	if (f > 0.02 && !final && dt > 0.5) {
		unsigned int sec = (unsigned int)(dt / f * (1 - f) + 0.5);

		snprintf(left, sizeof(left), "  %u:%02u left", sec / 60, sec % 60);
	}
	if (in->text_size)
		snprintf(size, sizeof(size), "%.1f/%.1f MB", (double)in->bytes / 1e6,
			 (double)in->text_size / 1e6);
	else
		snprintf(size, sizeof(size), "%.1f MB", (double)in->bytes / 1e6);
	snprintf(stats, sizeof(stats), "%s  %.2fM lines/s  %" PRIu64 " mismatches%s", size,
		 rate(r->st.lines, dt) / 1e6, r->st.mismatches, left);
	/* The last column stays empty, so that the terminal never wraps. */
	width = term_width() - 1;
	fixed = strlen(head) + 2 + strlen(stats) + (f >= 0 ? 1 + 2 + 1 + 4 : 0);
	avail = width > fixed ? width - fixed : 0;
	/* The name first, then a bar of 10 to 40 cells from what is left. */
	fit_name(name, sizeof(name), in->path, f >= 0 && avail > 10 ? avail - 10 : avail);
	if (f >= 0) {
		size_t filled;

		cells = avail > strlen(name) ? avail - strlen(name) : 0;
		cells = cells > 40 ? 40 : cells < 10 ? 10 : cells;
		filled = (size_t)(f * (double)cells);
		bar[0] = '[';
		for (size_t i = 0; i < cells; i++)
			bar[1 + i] = i < filled ? '#' : ' ';
		snprintf(bar + 1 + cells, sizeof(bar) - 1 - cells, "] %3.0f%%", f * 100);
		snprintf(line, sizeof(line), "%s%s %s  %s", head, name, bar, stats);
	} else {
		snprintf(line, sizeof(line), "%s%s  %s", head, name, stats);
	}
	fprintf(stderr, "\r%.*s\033[K", (int)(width < sizeof(line) ? width : sizeof(line)), line);
	p->drawn = true;
	fflush(stderr);
}

/* Erase the line drawn in place (the report goes to standard output). */
static void progress_clear(struct progress *p)
{
	if (p->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		p->drawn = false;
	}
}

/* ---- one trace ---- */

/* Strings the parser pointed into the line are used before the next line. */
static bool has_strings(const struct trace_event *ev)
{
	return ev->type == TRACE_HEADER || ev->type == TRACE_MARK || ev->type == TRACE_UNKNOWN;
}

/*
 * Replay the current input of @in into @r. Return: true if it was read
 * and replayed to its end, false (with @err) if it stopped on an error.
 */
static bool replay_input(struct replay_cli *cli, struct replay *r, struct input *in,
			 struct chunk *ch, struct progress *pg, char *err, size_t errlen)
{
	bool end = false;
	int ret;

	while (!end) {
		double t0 = now_s(), t1;
		unsigned int n = 0;
		char why[256];
		bool stop = false;

		while (n < CHUNK_EVENTS) {
			char *line;
			size_t len;

			ret = input_getline(in, &line, &len);
			if (ret == 0) {
				end = true;
				break;
			}
			if (ret < 0) {
				snprintf(err, errlen, "%s: %s", in->path, in->err);
				stop = true;
				break;
			}
			if (trace_parse_line(line, len, &ch->ev[n], why, sizeof(why))) {
				if (!cli->opt.lenient) {
					snprintf(err, errlen, "%s:%" PRIu64 ": malformed line: %s",
						 in->path, in->lineno, why);
					stop = true;
					break;
				}
				replay_bad_line(r, in->lineno, why);
				continue;
			}
			ch->line[n] = in->lineno;
			if (has_strings(&ch->ev[n++]))
				break;
		}
		t1 = now_s();
		r->st.parse_seconds += t1 - t0;
		for (unsigned int i = 0; i < n && !stop; i++) {
			if (replay_event(r, ch->line[i], &ch->ev[i])) {
				snprintf(err, errlen, "%s: %s", in->path, r->fatal);
				stop = true;
			}
		}
		r->st.replay_seconds += now_s() - t1;
		progress_show(pg, in, r, false);
		if (stop)
			return false;
	}
	return true;
}

/* ---- output ---- */

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
	return rate(v->hcalls, v->hcall_seconds);
}

static double vmm_mapped_mb_s(const struct replay_vmm *v)
{
	return rate(v->mapped_bytes, v->hcall_seconds) / 1e6;
}

static void print_vmm(const struct replay_vmm *v, const struct replay_stats *st)
{
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
	       rate(v->hcalls, st->wall_seconds));
}

static void print_vfio(const struct replay *r)
{
	struct replay_vfio_stats vs;

	replay_vfio_stats(r->vfio, &vs);
	printf("  vfio               %" PRIu64 " container(s), %" PRIu64 " MAP_DMA, %" PRIu64 " UNMAP_DMA, %" PRIu64 " TCE_CREATE, %" PRIu64 " TCE_REMOVE, %" PRIu64 " guest TCEs outside RAM\n",
	       vs.containers, vs.map_calls, vs.unmap_calls, vs.windows_created, vs.windows_removed,
	       vs.maps_skipped);
	if (vs.windows_unplaceable)
		printf("  vfio windows       %" PRIu64 " guest window(s) a VFIO host cannot place where the guest has them (the container put them where Linux does; QEMU would stop: \"Host doesn't support DMA window\"); not mirrored\n",
		       vs.windows_unplaceable);
	printf("  vfio memory        %" PRIu64 " MiB registered, locked %" PRIu64 " KiB now, %" PRIu64 " KiB at most\n",
	       vs.registered_bytes >> 20, vs.locked_bytes >> 10, vs.locked_peak >> 10);
	printf("  vfio translations  %" PRIu64 " checked through the host PE, %" PRIu64 " mismatched\n",
	       vs.xlate_checked, vs.xlate_mismatched);
}

static const char *result_name(enum replay_result out, bool table)
{
	if (out == REPLAY_MATCH)
		return "match";
	if (out == REPLAY_MISMATCH)
		return table ? "MISMATCH" : "mismatch";
	return table ? "FAILED" : "failed";
}

static void print_human(const char *path, const struct replay *r, enum replay_result out,
			const char *err, const struct replay_vmm *v)
{
	const struct replay_stats *st = &r->st;
	uint64_t hc = replay_hcalls(st);
	char buf[600]; /* text from the trace, made safe for a terminal */

	if (out == REPLAY_FAILED && !st->lines) {
		printf("%s\n  result             FAILED: %s\n", path, err);
		return;
	}

	printf("%s", path);
	if (r->scenario[0])
		printf(": %s", text_utf8(r->scenario, buf, sizeof(buf)));
	printf(" (profile %s)\n", r->opt.profile == UIOMMU_PAPR_PROFILE_KVM ? "kvm" : "qemu");
	if (r->qemu[0])
		printf("  recorded with      %s\n", text_utf8(r->qemu, buf, sizeof(buf)));
	printf("  lines              %" PRIu64 " (%" PRIu64 " events, %" PRIu64 " header, %" PRIu64 " comments, %" PRIu64 " markers, %" PRIu64 " unknown events, %" PRIu64 " malformed)\n",
	       st->lines, st->events, st->headers, st->comments, st->marks, st->unknown,
	       st->malformed);
	for (unsigned int i = 0; i < st->nunknown_ev; i++)
		printf("    unknown event    %s: %" PRIu64 "\n",
		       text_utf8(st->unknown_ev[i].name, buf, sizeof(buf)), st->unknown_ev[i].count);
	if (st->unknown_other)
		printf("    unknown event    (other names): %" PRIu64 "\n", st->unknown_other);
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
	if (r->vfio)
		print_vfio(r);
	if (st->nphase) {
		printf("  phases            ");
		for (unsigned int i = 0; i < st->nphase; i++)
			printf(" %s:%" PRIu64, text_utf8(st->phase[i].name, buf, sizeof(buf)),
			       st->phase[i].hcalls);
		printf("\n");
	}
	printf("  rate               %.0f hcalls/s end to end (%.3f s wall, reading and decoding included)\n",
	       rate(hc, st->wall_seconds), st->wall_seconds);
	printf("                     %.0f hcalls/s in the replay step alone (%.3f s, parsing excluded)\n",
	       rate(hc, st->replay_seconds), st->replay_seconds);
	printf("  read and parse     %.3f s, %.1f MB/s\n", st->parse_seconds,
	       rate(st->bytes, st->parse_seconds) / 1e6);
	if (v)
		print_vmm(v, st);
	for (unsigned int i = 0; i < st->nbad_kept; i++)
		printf("  malformed line %" PRIu64 ": %s\n", st->bad_line[i].line,
		       st->bad_line[i].text);
	if (st->malformed > st->nbad_kept)
		printf("  ... and %" PRIu64 " more malformed lines\n", st->malformed - st->nbad_kept);
	for (unsigned int i = 0; i < st->nmismatch_kept; i++)
		printf("  MISMATCH line %" PRIu64 ": %s\n", st->mismatch[i].line,
		       st->mismatch[i].text);
	if (st->mismatches > st->nmismatch_kept)
		printf("  ... and %" PRIu64 " more mismatches\n",
		       st->mismatches - st->nmismatch_kept);
	switch (out) {
	case REPLAY_MATCH:
		printf("  result             match: every return code%s agrees with QEMU\n",
		       st->xlate_checked ? ", value and translation" : " and value");
		break;
	case REPLAY_MISMATCH:
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

/* A JSON string from text that may come from the trace: always valid UTF-8. */
static struct json_object *json_s(const char *s)
{
	char buf[1024];

	return json_object_new_string(text_utf8(s, buf, sizeof(buf)));
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
		json_object_object_add(o, "what", json_s(n[i].text));
		json_object_array_add(a, o);
	}
	return a;
}

static struct json_object *json_vmm(const struct replay_vmm *v, const struct replay_stats *st)
{
	struct json_object *x = json_object_new_object();

	json_object_object_add(x, "mode", json_object_new_string(replay_vmm_mode_name(v->mode)));
	json_object_object_add(x, "windows_backed", json_u(v->windows_backed));
	json_object_object_add(x, "windows_unbacked", json_u(v->windows_refused));
	json_object_object_add(x, "hcalls", json_u(v->hcalls));
	json_object_object_add(x, "fallbacks", json_u(v->fallbacks));
	json_object_object_add(x, "exits", json_u(v->exits));
	json_object_object_add(x, "hcall_seconds", json_object_new_double(v->hcall_seconds));
	json_object_object_add(x, "replay_hcalls_per_s", json_object_new_double(vmm_hcall_rate(v)));
	json_object_object_add(x, "hcalls_per_s",
			       json_object_new_double(rate(v->hcalls, st->wall_seconds)));
	json_object_object_add(x, "mapped_mb_per_s", json_object_new_double(vmm_mapped_mb_s(v)));
	json_object_object_add(x, "mapped_bytes", json_u(v->mapped_bytes));
	if (v->mode == REPLAY_VMM_EXITS)
		json_object_object_add(x, "exit_round_trip_ns",
				       json_object_new_double(v->exit_round_trip_ns));
	return x;
}

static struct json_object *json_vfio(const struct replay *r)
{
	struct json_object *x = json_object_new_object();
	struct replay_vfio_stats vs;

	replay_vfio_stats(r->vfio, &vs);
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
	return x;
}

static struct json_object *json_trace(const char *path, const struct replay *r,
				      enum replay_result out, const char *err,
				      const struct replay_vmm *v)
{
	const struct replay_stats *st = &r->st;
	struct json_object *o = json_object_new_object(), *x, *y;
	uint64_t hc = replay_hcalls(st);
	char buf[TRACE_NAME_MAX + 1];

	json_object_object_add(o, "input", json_s(path));
	json_object_object_add(o, "scenario", json_s(r->scenario));
	json_object_object_add(o, "recorded_with", json_s(r->qemu));
	json_object_object_add(o, "profile", json_object_new_string(
		r->opt.profile == UIOMMU_PAPR_PROFILE_KVM ? "kvm" : "qemu"));
	json_object_object_add(o, "result", json_object_new_string(result_name(out, false)));
	if (out == REPLAY_FAILED)
		json_object_object_add(o, "error", json_s(err));

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
		json_object_object_add(x, text_utf8(st->unknown_ev[i].name, buf, sizeof(buf)),
				       json_u(st->unknown_ev[i].count));
	json_object_object_add(o, "unknown_events", x);
	json_object_object_add(o, "unknown_events_other", json_u(st->unknown_other));

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
	if (r->vfio)
		json_object_object_add(o, "vfio", json_vfio(r));
	x = json_object_new_array();
	for (unsigned int i = 0; i < st->nphase; i++) {
		y = json_object_new_object();
		json_object_object_add(y, "name", json_s(st->phase[i].name));
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
	json_object_object_add(x, "wall_seconds", json_object_new_double(st->wall_seconds));
	json_object_object_add(x, "replay_seconds", json_object_new_double(st->replay_seconds));
	json_object_object_add(x, "parse_seconds", json_object_new_double(st->parse_seconds));
	json_object_object_add(x, "hcalls_per_s", json_object_new_double(rate(hc, st->wall_seconds)));
	json_object_object_add(x, "replay_hcalls_per_s",
			       json_object_new_double(rate(hc, st->replay_seconds)));
	json_object_object_add(x, "parse_mb_per_s",
			       json_object_new_double(rate(st->bytes, st->parse_seconds) / 1e6));
	json_object_object_add(x, "bytes", json_u(st->bytes));
	json_object_object_add(o, "timing", x);
	if (v)
		json_object_object_add(o, "vmm", json_vmm(v, st));
	return o;
}

/* The width of the tables' first column: 56, or the longest path, so that the columns align. */
static int path_width(const struct row *rows, int n)
{
	size_t w = 56;

	for (int i = 0; i < n; i++)
		if (strlen(rows[i].path) > w)
			w = strlen(rows[i].path);
	return w > 4096 ? 4096 : (int)w;
}

/*
 * With --accel and --exits together, each trace's two rows side by side:
 * hcall handling rates, mapped MB/s, and the ratio.
 */
static void print_comparison(const struct row *rows, int n)
{
	double sum_a = 0, sum_e = 0;
	uint64_t fallbacks = 0;
	int pairs = 0, pw = path_width(rows, n);

	printf("\n%-*s %12s %12s %10s %10s %8s %10s\n", pw, "trace", "accel hc/s", "exits hc/s",
	       "accel MB/s", "exits MB/s", "ratio", "fallbacks");
	for (int i = 0; i + 1 < n; i++) {
		const struct row *a = &rows[i], *e = &rows[i + 1];

		if (a->mode != REPLAY_VMM_ACCEL || e->mode != REPLAY_VMM_EXITS || a->path != e->path)
			continue;
		printf("%-*s %11.2fM %11.3fM %10.1f %10.2f %7.1fx %10" PRIu64 "\n", pw, a->path,
		       a->hcall_rate / 1e6, e->hcall_rate / 1e6, a->mapped_mb_s, e->mapped_mb_s,
		       e->hcall_rate > 0 ? a->hcall_rate / e->hcall_rate : 0, a->fallbacks);
		sum_a += (double)a->hcalls / (a->hcall_rate > 0 ? a->hcall_rate : 1);
		sum_e += (double)e->hcalls / (e->hcall_rate > 0 ? e->hcall_rate : 1);
		fallbacks += a->fallbacks;
		pairs++;
	}
	if (pairs)
		printf("%d traces: hcall handling %.1fx faster accelerated than with exits (%.3f s vs"
		       " %.3f s), %" PRIu64 " fallbacks\n", pairs, sum_a > 0 ? sum_e / sum_a : 0,
		       sum_a, sum_e, fallbacks);
}

static void print_table(const struct row *rows, int n, double wall)
{
	uint64_t lines = 0, hcalls = 0, rtas = 0, xlate = 0, mism = 0;
	double replay = 0;
	int matched = 0, pw = path_width(rows, n);

	printf("%-*s %8s %8s %5s %8s %10s %9s %9s  %s", pw, "trace", "lines", "hcalls", "rtas",
	       "xlate", "mismatches", "hcalls/s", "replay/s", "result");
	printf(rows[0].vfio ? "    %8s %9s %9s\n" : "\n", "MAP_DMA", "UNMAP_DMA", "locked");
	for (int i = 0; i < n; i++) {
		printf("%-*s %8" PRIu64 " %8" PRIu64 " %5" PRIu64 " %8" PRIu64 " %10" PRIu64 " %8.2fM %8.2fM  %-8s",
		       pw, rows[i].path, rows[i].lines, rows[i].hcalls, rows[i].rtas, rows[i].xlate,
		       rows[i].mismatches, rate(rows[i].hcalls, rows[i].wall) / 1e6,
		       rate(rows[i].hcalls, rows[i].replay) / 1e6, rows[i].result);
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
		replay += rows[i].replay;
		matched += !strcmp(rows[i].result, "match");
	}
	printf("%d traces, %" PRIu64 " lines: %" PRIu64 " hypercalls, %" PRIu64 " RTAS calls and %" PRIu64 " device translations replayed in %.2f s (%.2fM hcalls/s end to end, %.1fM/s in the replay step alone); ",
	       n, lines, hcalls, rtas, xlate, wall, rate(hcalls, wall) / 1e6,
	       rate(hcalls, replay) / 1e6);
	if (matched == n)
		printf("every result agrees with QEMU\n");
	else
		printf("%d of %d traces do not match (%" PRIu64 " mismatches)\n", n - matched, n,
		       mism);
}

/* ---- the command ---- */

/*
 * "--limit NAME=VALUE": a limit of the modelled host (enum uiommu_resource).
 * Return 0, or a usage error that says which part is wrong.
 */
static int parse_limit(struct replay_cli *cli, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char names[64 * UIOMMU_RES_NR] = "";
	size_t off = 0;
	uint64_t v;

	for (int res = 0; eq && res < UIOMMU_RES_NR; res++) {
		const char *name = uiommu_resource_name((enum uiommu_resource)res);
		unsigned int i;

		if (strlen(name) != (size_t)(eq - arg) || memcmp(name, arg, (size_t)(eq - arg)))
			continue;
		if (!strcmp(eq + 1, "none"))
			v = UIOMMU_LIMIT_NONE;
		else if (!cli_parse_u64(eq + 1, &v))
			return cli_usage_error("replay", "--limit %s: '%s' is not a number (with K/M/G/T) or 'none'",
					       name, eq + 1);
		/* The last --limit of a name wins. */
		for (i = 0; i < cli->nlimit && cli->limit[i].res != (enum uiommu_resource)res; i++)
			;
		cli->limit[i].res = (enum uiommu_resource)res;
		cli->limit[i].value = v;
		cli->nlimit += i == cli->nlimit;
		return 0;
	}
	for (int res = 0; res < UIOMMU_RES_NR && off < sizeof(names); res++)
		off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s", res ? ", " : "",
					uiommu_resource_name((enum uiommu_resource)res));
	if (!eq)
		return cli_usage_error("replay", "--limit '%s': NAME=VALUE wanted; NAME is one of %s",
				       arg, names);
	return cli_usage_error("replay", "--limit: no limit is called '%.*s'; NAME is one of %s",
			       (int)(eq - arg), arg, names);
}

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
		{ "limit", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct replay_cli cli = { .opt = { .profile = UIOMMU_PAPR_PROFILE_QEMU, .check_xlate = true },
				  .progress = -1 };
	struct json_object *doc = NULL, *arr = NULL;
	bool any_mismatch = false, any_failed = false, table;
	const struct uiommu_ctx_config *cfg = NULL;
	struct replay_host host;
	struct progress pg = { 0 };
	struct replay_vmm *vmm = NULL;
	struct row *rows = NULL;
	struct input *in = NULL;
	struct chunk *ch = NULL;
	struct replay *r = NULL;
	const char **paths = NULL;
	int modes[2], nmodes = 0, nruns, c, ntraces, status = EXIT_FAIL;
	double t_run, t_last;
	char err[700];

	while ((c = getopt_long(argc, argv, "p:jlXVP:qdL:h", opts, NULL)) != -1) {
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
		case 'L':
			if (parse_limit(&cli, optarg))
				return EXIT_USAGE;
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
	if (!nmodes) {
		modes[nmodes++] = -1;
		if (cli.opt.vfio) {
			/* Guest RAM is pinned as QEMU's is: simulated, and counted without a limit. */
			cli.ctx_cfg = (struct uiommu_ctx_config){ .size = sizeof(cli.ctx_cfg),
								  .flags = UIOMMU_CTX_PIN_SIMULATE };
			cfg = &cli.ctx_cfg;
		}
	} else {
		/* Every trace in each mode: '-' can be read once only. */
		for (int i = optind; i < argc; i++)
			if (nmodes > 1 && !strcmp(argv[i], "-"))
				return cli_usage_error("replay", "--accel with --exits reads each trace "
						       "twice: not from standard input");
		replay_vmm_ctx_config(&cli.ctx_cfg);
		cfg = &cli.ctx_cfg;
		/* The modes bring their own containers (replay_vmm.c); not a second set. */
		cli.opt.vfio = false;
	}

	t_run = t_last = now_s();
	if (replay_host_init(&host, cfg, err, sizeof(err))) {
		cli_error("%s", err);
		return EXIT_FAIL;
	}
	/* VFIO registers all of guest RAM: no locked-memory limit then, unless asked for. */
	if (cfg)
		uiommu_ctx_set_limit(host.ctx, UIOMMU_RES_LOCKED_BYTES, UIOMMU_LIMIT_NONE);
	for (unsigned int i = 0; i < cli.nlimit; i++) {
		int ret = uiommu_ctx_set_limit(host.ctx, cli.limit[i].res, cli.limit[i].value);

		if (ret) {
			replay_host_fini(&host);
			return cli_usage_error("replay", "--limit %s=%" PRIu64 ": %s",
					       uiommu_resource_name(cli.limit[i].res),
					       cli.limit[i].value, uiommu_strerror(ret));
		}
	}

	ntraces = argc - optind;
	nruns = ntraces * nmodes;
	/* Several traces (or modes): a table, and the full report only where something differed. */
	table = nruns > 1 && !cli.detail && !cli.json;
	pg.on = cli.progress == 1 || (cli.progress == -1 && !cli.quiet && isatty(2));
	pg.tty = isatty(2);
	pg.count = (unsigned int)nruns;
	ch = malloc(sizeof(*ch));
	r = malloc(sizeof(*r));
	vmm = calloc(1, sizeof(*vmm));
	rows = calloc((size_t)nruns, sizeof(*rows));
	paths = calloc((size_t)nruns, sizeof(*paths));
	if (paths) {
		/* Each trace once per mode, read in that order. */
		for (int i = 0; i < nruns; i++)
			paths[i] = argv[optind + i / nmodes];
		in = input_start(paths, (unsigned int)nruns);
	}
	if (!ch || !r || !rows || !vmm || !in) {
		cli_error("out of memory");
		goto out;
	}
	if (cli.json) {
		doc = json_object_new_object();
		arr = json_object_new_array();
		json_object_object_add(doc, "schema", json_object_new_int(1));
	}
	for (int i = 0; i < nruns; i++) {
		const char *path = paths[i];
		int mode = modes[i % nmodes];
		const struct replay_vmm *v = mode >= 0 ? vmm : NULL;
		enum replay_result out = REPLAY_FAILED;
		int ret;

		err[0] = '\0';
		pg.index = (unsigned int)i;
		/* --progress always draws from the first chunk; auto waits 0.1 s (no flicker). */
		pg.start = now_s();
		pg.last = cli.progress == 1 ? pg.start - 1 : pg.start;
		ret = replay_init(r, &host, &cli.opt);
		if (!ret && mode >= 0)
			ret = replay_vmm_init(vmm, r, (enum replay_vmm_mode)mode);
		if (ret) {
			snprintf(err, sizeof(err), "%s", r->fatal);
		} else if ((ret = input_next(in))) {
			snprintf(err, sizeof(err), "%s: %s", path, in->err);
		} else if (replay_input(&cli, r, in, ch, &pg, err, sizeof(err))) {
			char why[400];

			out = replay_verdict(r, why, sizeof(why));
			if (mode >= 0 && vmm->failed) {
				out = REPLAY_FAILED;
				snprintf(err, sizeof(err), "%s: %s", path, vmm->err);
			} else if (out == REPLAY_FAILED) {
				snprintf(err, sizeof(err), "%s: %s", path, why);
			}
		}
		r->st.bytes = in->bytes;
		r->st.wall_seconds = now_s() - t_last;
		t_last = now_s();
		progress_show(&pg, in, r, true);
		progress_clear(&pg);

		any_mismatch |= out == REPLAY_MISMATCH;
		any_failed |= out == REPLAY_FAILED;
		if (out == REPLAY_FAILED)
			cli_error("%s", err);
		if (cli.json)
			json_object_array_add(arr, json_trace(path, r, out, err, v));
		else if ((!cli.quiet && !table) || out != REPLAY_MATCH)
			print_human(path, r, out, err, v);
		rows[i] = (struct row){
			.path = path,
			.lines = r->st.lines,
			.hcalls = replay_hcalls(&r->st),
			.rtas = replay_rtas_calls(&r->st),
			.xlate = r->st.xlate_checked,
			.mismatches = r->st.mismatches,
			.wall = r->st.wall_seconds,
			.replay = r->st.replay_seconds,
			.result = result_name(out, true),
			.mode = mode,
			.fallbacks = v ? v->fallbacks : 0,
			.hcall_rate = v ? vmm_hcall_rate(v) : 0,
			.mapped_mb_s = v ? vmm_mapped_mb_s(v) : 0,
			.vfio = r->vfio != NULL,
		};
		if (r->vfio) {
			struct replay_vfio_stats vs;

			replay_vfio_stats(r->vfio, &vs);
			rows[i].maps = vs.map_calls;
			rows[i].unmaps = vs.unmap_calls;
			rows[i].locked = vs.locked_peak;
		}
		replay_vmm_fini(vmm);
		replay_fini(r);
	}
	if (table && !cli.quiet) {
		print_table(rows, nruns, now_s() - t_run);
		if (nmodes > 1)
			print_comparison(rows, nruns);
	}
	if (cli.json) {
		json_object_object_add(doc, "traces", arr);
		json_object_object_add(doc, "result", json_object_new_string(
			any_failed ? "failed" : any_mismatch ? "mismatch" : "match"));
		cli_json_print(doc);
		json_object_put(doc);
	}
	status = any_failed ? EXIT_FAIL : any_mismatch ? EXIT_MISMATCH : EXIT_OK;
	if (fflush(stdout) || ferror(stdout)) {
		cli_error("cannot write the report: %s", strerror(errno));
		status = EXIT_FAIL;
	}
out:
	input_stop(in);
	free(paths);
	free(ch);
	free(r);
	free(vmm);
	free(rows);
	if (replay_host_fini(&host)) {
		cli_error("internal error: the library still holds objects after the last trace");
		status = EXIT_FAIL;
	}
	return status;
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
		 "                          (more than 1% of the lines is still not a match)\n"
		 "  -X, --no-xlate          do not compare translation events\n"
		 "  -V, --vfio              a VFIO container behind each PHB: guest RAM preregistered,\n"
		 "                          a host window per guest window, every TCE change mirrored\n"
		 "                          by MAP_DMA/UNMAP_DMA as QEMU does, and every translation\n"
		 "                          checked again through the host PE\n"
		 "  -L, --limit NAME=VALUE  a limit of the modelled host, e.g. locked_bytes=128G\n"
		 "                          (default 64G: the replay pins nothing, so the process's\n"
		 "                          RLIMIT_MEMLOCK does not apply), frame_bytes=4G, liobns=N\n"
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
		 "A trace matches when every compared result agrees with QEMU and at least one\n"
		 "was compared, its recording did not fail (# end: ok), and at most 1% of its\n"
		 "lines were skipped as malformed.\n\n"
		 "Exit status: 0 all matched, 3 a mismatch, 1 not a match for another reason\n"
		 "(unreadable, malformed, refused or impossible input, nothing compared, a\n"
		 "failed recording), 2 usage error.",
	.run = run,
};
