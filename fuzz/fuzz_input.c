// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fuzz driver: the input layer of 'uiommu replay' (tools/uiommu/input.c):
 * files read and xz-decoded ahead on a thread, lines handed out in place
 * or, across blocks, copied.
 *
 * The input makes a text: its bytes, where 0xff LEN3 BYTE stands for a
 * run of BYTE, LEN3 % 70 Ki scaled to RUN_MAX (so that lines longer than
 * the limit, and lines across the reader's blocks, come from small
 * inputs). The text goes to a file
 * (a memfd) as it is, or xz-compressed (one stream, or two concatenated),
 * or compressed and then corrupted, or as hostile bytes after xz's magic;
 * several files are read in turn, the first dropped part way, with a
 * missing file between them, or the whole list dropped there
 * (input_restart() stops the reader part way). One reader
 * serves every input, restarted on each's files. The lines must be the model's (split at
 * '\n', one '\r' before it dropped, a last line without '\n' kept, a line
 * over INPUT_MAX_LINE bytes an error at that line), with exact line
 * numbers and byte counts; corrupt or hostile xz must end in an error
 * with a message, or in the very text.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <lzma.h>

#include "fuzz.h"
#include "input.h"

/*
 * The fuzz build's input layer has small blocks and a short line limit
 * (fuzz/meson.build), so that small texts cross them: the text and its
 * runs scale with them (320 KiB and 70 KiB at the CLI's sizes).
 */
#define TEXT_MAX (INPUT_BLOCK / 2 * 5) /* more than two reader blocks */
#define RUN_LEN3 (70u << 10)		/* LEN3 is taken modulo this, */
#define RUN_MAX (INPUT_MAX_LINE / 32 * 35) /* and scaled to this: a little over a line */

struct text {
	uint8_t *b;
	size_t len;
};

static void make_text(struct fuzz_input *in, struct text *t)
{
	t->len = 0;
	while (!fuzz_done(in) && t->len < TEXT_MAX) {
		uint8_t c = (uint8_t)fuzz_take(in, 1);
		size_t n = 1;

		if (c == 0xff && in->size - in->pos >= 4) {
			n = (size_t)fuzz_take(in, 3) % RUN_LEN3;
			n = (n * RUN_MAX + RUN_LEN3 - 1) / RUN_LEN3;
			c = (uint8_t)fuzz_take(in, 1);
			/* Long lines, yes; hundreds of thousands of empty ones teach nothing. */
			if (c == '\n' && n > 64)
				n = 64;
		}
		if (n > TEXT_MAX - t->len)
			n = TEXT_MAX - t->len;
		memset(t->b + t->len, c, n);
		t->len += n;
	}
}

/* One xz stream of @len bytes at the end of @out; returns its size. */
static size_t xz(const uint8_t *data, size_t len, uint8_t *out, size_t cap)
{
	static lzma_stream s = LZMA_STREAM_INIT; /* kept: its memory is reused */
	lzma_ret r;

	FUZZ_CHECK(lzma_easy_encoder(&s, 0, LZMA_CHECK_CRC64) == LZMA_OK, "xz encoder");
	s.next_in = data;
	s.avail_in = len;
	s.next_out = out;
	s.avail_out = cap;
	r = lzma_code(&s, LZMA_FINISH);
	FUZZ_CHECK(r == LZMA_STREAM_END, "xz encoding: %d", (int)r);
	return cap - s.avail_out;
}

/*
 * The file @slot (0 or 1) holds @data: two memfds kept across inputs, their
 * size set to each input's (creating and filling a memfd per input would
 * be much of the driver's time).
 */
static void file_of(unsigned int slot, const uint8_t *data, size_t len, char *path, size_t cap)
{
	static int fd[2] = { -1, -1 };

	if (fd[slot] < 0)
		fd[slot] = memfd_create("fuzz-input", MFD_CLOEXEC);
	FUZZ_CHECK(fd[slot] >= 0, "memfd_create");
	FUZZ_CHECK(ftruncate(fd[slot], (off_t)len) == 0, "ftruncate");
	FUZZ_CHECK(pwrite(fd[slot], data, len, 0) == (ssize_t)len, "pwrite");
	snprintf(path, cap, "/proc/self/fd/%d", fd[slot]);
}

/* Read the current input of @in and check it against @t, stopping after @stop lines (0: all). */
static void check_lines(struct input *in, const struct text *t, uint64_t stop)
{
	size_t pos = 0;
	uint64_t lineno = 0;
	char *line;
	size_t len;
	int ret;

	while (pos < t->len && (!stop || lineno < stop)) {
		const uint8_t *nl = memchr(t->b + pos, '\n', t->len - pos);
		size_t raw = nl ? (size_t)(nl - (t->b + pos)) : t->len - pos;
		size_t want = raw && t->b[pos + raw - 1] == '\r' ? raw - 1 : raw;

		ret = input_getline(in, &line, &len);
		if (raw > INPUT_MAX_LINE) {
			FUZZ_CHECK(ret == -EOVERFLOW && strstr(in->err, "longer than"),
				   "a line of %zu bytes: %d", raw, ret);
			return;
		}
		FUZZ_CHECK(ret == 1, "line %llu: %d %s", (unsigned long long)lineno + 1, ret, in->err);
		FUZZ_CHECK(len == want && !memcmp(line, t->b + pos, len) && line[len] == '\0',
			   "line %llu differs", (unsigned long long)lineno + 1);
		lineno++;
		pos += raw + (nl != NULL);
		FUZZ_CHECK(in->lineno == lineno && in->bytes == pos, "counts");
	}
	if (stop && lineno == stop)
		return;
	FUZZ_CHECK(input_getline(in, &line, &len) == 0, "a line or an error after the end: %s",
		   in->err);
	FUZZ_CHECK(input_getline(in, &line, &len) == 0, "the end, again");
	FUZZ_CHECK(!in->text_size || in->text_size == t->len, "text size %llu of %zu",
		   (unsigned long long)in->text_size, t->len);
}

/* Hostile or corrupt input: any lines, then the end or an error with a message. */
static void drain(struct input *in, uint64_t stop)
{
	uint64_t lines = 0;
	char *line;
	size_t len;
	int ret;

	while ((!stop || lines < stop) && (ret = input_getline(in, &line, &len)) == 1) {
		FUZZ_CHECK(len <= INPUT_MAX_LINE && line[len] == '\0' && in->lineno == ++lines,
			   "a line");
	}
	if (!stop || lines < stop) {
		FUZZ_CHECK(ret == 0 || in->err[0], "an error without a message");
		FUZZ_CHECK(input_getline(in, &line, &len) == ret, "not the same end again");
	}
}

/* One reader for every input, as 'uiommu replay' keeps one for every trace: on @paths now. */
static struct input *reader(const char *const *paths, unsigned int npaths)
{
	static struct input *rd;

	if (!rd)
		FUZZ_CHECK(rd = input_start(paths, npaths), "input_start");
	else
		FUZZ_CHECK(!input_restart(rd, paths, npaths), "input_restart");
	return rd;
}

int fuzz_input(const uint8_t *data, size_t size)
{
	static uint8_t *text, *enc;
	struct fuzz_input in = { data, size, 1 };
	struct text t;
	size_t n = 0, cut;
	unsigned int mode;
	bool looks_xz;
	char path[2][64];
	const char *paths[3];
	struct input *rd;
	uint64_t stop;

	if (!size)
		return 0;
	if (!text) {
		text = malloc(TEXT_MAX);
		enc = malloc(2 * TEXT_MAX + 4096);
		FUZZ_CHECK(text && enc, "malloc");
	}
	mode = data[0];
	stop = fuzz_take(&in, 1);
	t.b = text;
	make_text(&in, &t);
	/* A plain text that begins like xz is read as xz, as it should: hostile, then. */
	looks_xz = t.len >= 6 && !memcmp(t.b, "\xfd" "7zXZ\0", 6);
	cut = t.len ? (size_t)(stop * 7919) % t.len : 0;

	switch (mode % 5) {
	case 0: /* plain */
		file_of(0, t.b, t.len, path[0], sizeof(path[0]));
		break;
	case 1: /* one xz stream */
		n = xz(t.b, t.len, enc, 2 * TEXT_MAX + 4096);
		file_of(0, enc, n, path[0], sizeof(path[0]));
		break;
	case 2: /* two concatenated streams, as 'xz -c a b' writes */
		n = xz(t.b, cut, enc, 2 * TEXT_MAX + 4096);
		n += xz(t.b + cut, t.len - cut, enc + n, 2 * TEXT_MAX + 4096 - n);
		file_of(0, enc, n, path[0], sizeof(path[0]));
		break;
	case 3: /* corrupt xz */
		n = xz(t.b, t.len, enc, 2 * TEXT_MAX + 4096);
		enc[(size_t)(stop * 131 + mode) % n] ^= (uint8_t)(1u << (mode >> 5));
		file_of(0, enc, n, path[0], sizeof(path[0]));
		break;
	default: /* hostile bytes after xz's magic */
		memcpy(enc, "\xfd" "7zXZ\0", 6);
		memcpy(enc + 6, t.b, t.len);
		file_of(0, enc, t.len + 6, path[0], sizeof(path[0]));
		break;
	}

	if (!(mode & 8)) {
		paths[0] = path[0];
		rd = reader(paths, 1);
		FUZZ_CHECK(!input_next(rd), "open: %s", rd->err);
		if (mode % 5 < 3 && !(mode % 5 == 0 && looks_xz))
			check_lines(rd, &t, 0);
		else
			drain(rd, 0);
	} else {
		/* Several inputs: the first dropped after some lines, a missing one, the text again. */
		file_of(1, t.b, t.len, path[1], sizeof(path[1]));
		paths[0] = path[0];
		paths[1] = "/nonexistent/uiommu-fuzz";
		paths[2] = path[1];
		rd = reader(paths, 3);
		FUZZ_CHECK(!input_next(rd), "first input: %s", rd->err);
		if (mode % 5 < 3 && !(mode % 5 == 0 && looks_xz))
			check_lines(rd, &t, stop % 8 + 1);
		else
			drain(rd, stop % 8 + 1);
		if (stop & 0x80) {
			/* Drop the rest of the list, the reader part way through it. */
			FUZZ_CHECK(!input_restart(rd, NULL, 0) && input_next(rd) == 1, "an empty list");
			return 0;
		}
		FUZZ_CHECK(input_next(rd) == -ENOENT && strstr(rd->err, "No such file"),
			   "the missing input: %s", rd->err);
		FUZZ_CHECK(!input_next(rd), "third input: %s", rd->err);
		if (looks_xz)
			drain(rd, 0);
		else
			check_lines(rd, &t, 0);
		FUZZ_CHECK(input_next(rd) == 1, "an input after the last");
	}
	return 0;
}
