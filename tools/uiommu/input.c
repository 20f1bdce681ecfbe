// SPDX-License-Identifier: BSD-3-Clause
/*
 * Streaming line input, plain or xz. See input.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "input.h"

static const unsigned char xz_magic[6] = { 0xfd, '7', 'z', 'X', 'Z', 0x00 };

#define DECODE_CHUNK (1 << 17)

static int fill_raw(struct input *in)
{
	size_t n;

	if (in->eof)
		return 0;
	n = fread(in->raw, 1, sizeof(in->raw), in->f);
	if (n == 0) {
		if (ferror(in->f)) {
			snprintf(in->err, sizeof(in->err), "read error: %s", strerror(errno));
			return -EIO;
		}
		in->eof = true;
	}
	in->raw_len = n;
	in->raw_pos = 0;
	in->raw_bytes += n;
	return 0;
}

int input_open(struct input *in, const char *path)
{
	int ret;

	memset(in, 0, sizeof(*in));
	if (!strcmp(path, "-")) {
		in->f = stdin;
		in->is_stdin = true;
	} else {
		in->f = fopen(path, "rb");
		if (!in->f) {
			ret = -errno;
			snprintf(in->err, sizeof(in->err), "%s", strerror(errno));
			return ret;
		}
	}
	ret = fill_raw(in);
	if (ret)
		goto err;
	if (in->raw_len >= sizeof(xz_magic) && !memcmp(in->raw, xz_magic, sizeof(xz_magic))) {
		lzma_stream init = LZMA_STREAM_INIT;

		in->lz = init;
		/* Concatenated streams too (xz -c a b), with no memory limit beyond the format's. */
		if (lzma_stream_decoder(&in->lz, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK) {
			snprintf(in->err, sizeof(in->err), "cannot start the xz decoder");
			ret = -ENOMEM;
			goto err;
		}
		in->xz = true;
	}
	in->buf_cap = DECODE_CHUNK + INPUT_MAX_LINE + 1;
	in->buf = malloc(in->buf_cap);
	in->line = malloc(INPUT_MAX_LINE + 1);
	if (!in->buf || !in->line) {
		snprintf(in->err, sizeof(in->err), "out of memory");
		ret = -ENOMEM;
		goto err;
	}
	return 0;
err:
	input_close(in);
	return ret;
}

void input_close(struct input *in)
{
	if (in->xz)
		lzma_end(&in->lz);
	if (in->f && !in->is_stdin)
		fclose(in->f);
	free(in->buf);
	free(in->line);
	in->f = NULL;
	in->buf = in->line = NULL;
	in->xz = false;
}

/* Append up to DECODE_CHUNK decoded bytes to in->buf. Return: bytes added, 0 at the end, -errno. */
static long decode_more(struct input *in)
{
	size_t room;

	/* Keep the unread tail at the start of the buffer. */
	if (in->buf_pos) {
		memmove(in->buf, in->buf + in->buf_pos, in->buf_len - in->buf_pos);
		in->buf_len -= in->buf_pos;
		in->buf_pos = 0;
	}
	room = in->buf_cap - in->buf_len;
	if (room > DECODE_CHUNK)
		room = DECODE_CHUNK;

	if (!in->xz) {
		size_t n;

		if (in->raw_pos == in->raw_len) {
			int ret = fill_raw(in);

			if (ret)
				return ret;
			if (in->eof)
				return 0;
		}
		n = in->raw_len - in->raw_pos;
		if (n > room)
			n = room;
		memcpy(in->buf + in->buf_len, in->raw + in->raw_pos, n);
		in->raw_pos += n;
		in->buf_len += n;
		return (long)n;
	}

	if (in->xz_end)
		return 0;
	in->lz.next_out = (uint8_t *)in->buf + in->buf_len;
	in->lz.avail_out = room;
	while (in->lz.avail_out == room) {
		lzma_ret lr;

		if (in->raw_pos == in->raw_len && !in->eof) {
			int ret = fill_raw(in);

			if (ret)
				return ret;
		}
		in->lz.next_in = in->raw + in->raw_pos;
		in->lz.avail_in = in->raw_len - in->raw_pos;
		lr = lzma_code(&in->lz, in->eof ? LZMA_FINISH : LZMA_RUN);
		in->raw_pos = in->raw_len - in->lz.avail_in;
		if (lr == LZMA_STREAM_END) {
			in->xz_end = true;
			break;
		}
		if (lr != LZMA_OK) {
			snprintf(in->err, sizeof(in->err), "xz data is corrupt or truncated (liblzma %d)",
				 (int)lr);
			return -EIO;
		}
		if (in->eof && in->lz.avail_in == 0 && in->lz.avail_out == room) {
			snprintf(in->err, sizeof(in->err), "xz data is truncated");
			return -EIO;
		}
	}
	in->buf_len += room - in->lz.avail_out;
	return (long)(room - in->lz.avail_out);
}

/* Return [start, start + len) as the current line and consume @used bytes. */
static int emit_line(struct input *in, const char *start, size_t len, size_t used,
		     const char **ret_line, size_t *ret_len)
{
	memcpy(in->line, start, len);
	if (len && in->line[len - 1] == '\r')
		len--;
	in->line[len] = '\0';
	in->buf_pos += used;
	in->bytes += used;
	in->lineno++;
	*ret_line = in->line;
	*ret_len = len;
	return 1;
}

int input_getline(struct input *in, const char **ret_line, size_t *ret_len)
{
	for (;;) {
		const char *start = in->buf + in->buf_pos;
		size_t avail = in->buf_len - in->buf_pos;
		const char *nl = memchr(start, '\n', avail);
		long got;

		if (nl && (size_t)(nl - start) <= INPUT_MAX_LINE)
			return emit_line(in, start, (size_t)(nl - start), (size_t)(nl - start) + 1,
					 ret_line, ret_len);
		if (nl || avail > INPUT_MAX_LINE) {
			snprintf(in->err, sizeof(in->err), "line %llu is longer than %d bytes",
				 (unsigned long long)in->lineno + 1, INPUT_MAX_LINE);
			return -EOVERFLOW;
		}
		got = decode_more(in);
		if (got < 0)
			return (int)got;
		if (got == 0) {
			/* The end: a last line without a newline is a line too. */
			start = in->buf + in->buf_pos;
			avail = in->buf_len - in->buf_pos;
			if (!avail)
				return 0;
			return emit_line(in, start, avail, avail, ret_line, ret_len);
		}
	}
}

int input_read_all(struct input *in, char **ret_buf, size_t *ret_len)
{
	size_t cap = 1 << 20, len = 0;
	char *all = malloc(cap);
	const char *line;
	size_t n;
	int ret;

	if (!all)
		return -ENOMEM;
	while ((ret = input_getline(in, &line, &n)) == 1) {
		if (len + n + 1 > cap) {
			char *bigger;

			while (len + n + 1 > cap)
				cap *= 2;
			bigger = realloc(all, cap);
			if (!bigger) {
				free(all);
				return -ENOMEM;
			}
			all = bigger;
		}
		memcpy(all + len, line, n);
		len += n;
		all[len++] = '\n';
	}
	if (ret < 0) {
		free(all);
		return ret;
	}
	*ret_buf = all;
	*ret_len = len;
	return 0;
}
