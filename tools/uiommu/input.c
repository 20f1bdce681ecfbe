// SPDX-License-Identifier: BSD-3-Clause
/*
 * Streaming line input, plain or xz, read ahead on a thread. See input.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lzma.h>

#include "input.h"

static const unsigned char xz_magic[6] = { 0xfd, '7', 'z', 'X', 'Z', 0x00 };

#define RAW_BUF (INPUT_BLOCK / 2) /* 64 KiB: what one read() takes for xz */

/* ---- the reader thread ---- */

struct source {
	int fd;
	bool eof;
	unsigned char raw[RAW_BUF];
	size_t raw_len, raw_pos;
	uint64_t raw_total;
	bool xz, xz_end;
	/*
	 * One decoder for every input: initialised again for each, it keeps
	 * its memory, so that its dictionary (up to 64 MiB) is not mapped
	 * and faulted in anew for each file.
	 */
	lzma_stream lz;
};

static int read_raw(struct source *s, char *err, size_t errlen)
{
	ssize_t n;

	do
		n = read(s->fd, s->raw, sizeof(s->raw));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int e = errno;

		snprintf(err, errlen, "read error: %s", strerror(e));
		return -e;
	}
	s->eof = n == 0;
	s->raw_len = (size_t)n;
	s->raw_pos = 0;
	s->raw_total += (uint64_t)n;
	return 0;
}

/* The decoded size of the xz file @fd of @file_size bytes, from its index; 0 if unknown. */
static uint64_t xz_text_size(int fd, uint64_t file_size)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_index *idx = NULL;
	uint8_t buf[8192];
	uint64_t pos = 0, size = 0;

	if (lzma_file_info_decoder(&s, &idx, UINT64_MAX, file_size) != LZMA_OK)
		return 0;
	for (int rounds = 0; rounds < 1000; rounds++) {
		lzma_ret r;

		if (s.avail_in == 0) {
			ssize_t n = pread(fd, buf, sizeof(buf), (off_t)pos);

			if (n <= 0)
				break;
			s.next_in = buf;
			s.avail_in = (size_t)n;
			pos += (uint64_t)n;
		}
		r = lzma_code(&s, LZMA_RUN);
		if (r == LZMA_SEEK_NEEDED) {
			pos = s.seek_pos;
			s.avail_in = 0;
			continue;
		}
		if (r == LZMA_STREAM_END) {
			size = lzma_index_uncompressed_size(idx);
			lzma_index_end(idx, NULL);
			break;
		}
		if (r != LZMA_OK)
			break;
	}
	lzma_end(&s);
	return size;
}

/* Fill @b with text from @s. Return: 0 (b->last set at the end), or -errno. */
static int fill_block(struct source *s, struct input_block *b)
{
	if (!s->xz) {
		/* Plain: what is left of the first read, then straight into the block. */
		while (b->len < INPUT_BLOCK && !s->eof) {
			size_t n;

			if (s->raw_pos < s->raw_len) {
				n = s->raw_len - s->raw_pos;
				if (n > INPUT_BLOCK - b->len)
					n = INPUT_BLOCK - b->len;
				memcpy(b->data + b->len, s->raw + s->raw_pos, n);
				s->raw_pos += n;
				b->len += n;
				continue;
			}
			ssize_t got;

			do
				got = read(s->fd, b->data + b->len, INPUT_BLOCK - b->len);
			while (got < 0 && errno == EINTR);
			if (got < 0) {
				int e = errno;

				snprintf(b->err, sizeof(b->err), "read error: %s", strerror(e));
				return -e;
			}
			s->eof = got == 0;
			s->raw_total += (uint64_t)got;
			b->len += (size_t)got;
		}
		b->last = s->eof && s->raw_pos == s->raw_len;
		return 0;
	}
	s->lz.next_out = (uint8_t *)b->data;
	s->lz.avail_out = INPUT_BLOCK;
	while (s->lz.avail_out && !s->xz_end) {
		lzma_ret lr;
		int ret;

		if (s->raw_pos == s->raw_len && !s->eof) {
			ret = read_raw(s, b->err, sizeof(b->err));
			if (ret)
				return ret;
		}
		s->lz.next_in = s->raw + s->raw_pos;
		s->lz.avail_in = s->raw_len - s->raw_pos;
		lr = lzma_code(&s->lz, s->eof ? LZMA_FINISH : LZMA_RUN);
		s->raw_pos = s->raw_len - s->lz.avail_in;
		if (lr == LZMA_STREAM_END) {
			s->xz_end = true;
			break;
		}
		if (lr != LZMA_OK) {
			snprintf(b->err, sizeof(b->err),
				 lr == LZMA_BUF_ERROR ? "xz data is truncated" :
				 lr == LZMA_MEM_ERROR ? "out of memory decoding xz" :
							"xz data is corrupt (liblzma error %d)",
				 (int)lr);
			b->len = INPUT_BLOCK - s->lz.avail_out;
			return lr == LZMA_MEM_ERROR ? -ENOMEM : -EIO;
		}
	}
	b->len = INPUT_BLOCK - s->lz.avail_out;
	b->last = s->xz_end;
	return 0;
}

/* Wait for a free block. NULL if the caller stops the reader. */
static struct input_block *get_free(struct input *in)
{
	struct input_block *b = NULL;

	pthread_mutex_lock(&in->lock);
	while (in->count == INPUT_NBLOCKS && !in->stop)
		pthread_cond_wait(&in->emptied, &in->lock);
	if (!in->stop)
		b = &in->block[(in->head + in->count) % INPUT_NBLOCKS];
	pthread_mutex_unlock(&in->lock);
	if (b) {
		b->len = 0;
		b->last = b->open_failed = false;
		b->error = 0;
		b->err[0] = '\0';
	}
	return b;
}

static void post(struct input *in)
{
	pthread_mutex_lock(&in->lock);
	in->count++;
	pthread_cond_signal(&in->filled);
	pthread_mutex_unlock(&in->lock);
}

/*
 * The caller dropped input @file (input_next()), or the whole list
 * (input_restart()), or stops the reader (@file = npaths).
 */
static bool skipped(struct input *in, unsigned int file)
{
	bool skip;

	pthread_mutex_lock(&in->lock);
	skip = file < in->skip || in->stop;
	pthread_mutex_unlock(&in->lock);
	return skip;
}

static void read_one(struct input *in, unsigned int file, struct source *s)
{
	const char *path = in->paths[file];
	bool is_stdin = !strcmp(path, "-");
	uint64_t raw_size = 0, text_size = 0;
	struct input_block *b;
	struct stat st;
	int ret = 0;
	char err[256] = "";

	s->eof = s->xz = s->xz_end = false;
	s->raw_len = s->raw_pos = 0;
	s->raw_total = 0;
	s->fd = is_stdin ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0) {
		ret = -errno;
		snprintf(err, sizeof(err), "%s", strerror(errno));
	} else {
		if (!fstat(s->fd, &st) && S_ISREG(st.st_mode))
			raw_size = (uint64_t)st.st_size;
		ret = read_raw(s, err, sizeof(err));
		if (!ret && s->raw_len >= sizeof(xz_magic) &&
		    !memcmp(s->raw, xz_magic, sizeof(xz_magic))) {
			/* Concatenated streams too (xz -c a b), with no memory limit beyond the format's. */
			if (lzma_stream_decoder(&s->lz, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK) {
				snprintf(err, sizeof(err), "cannot start the xz decoder");
				ret = -ENOMEM;
			} else {
				s->xz = true;
				if (raw_size)
					text_size = xz_text_size(s->fd, raw_size);
			}
		} else if (!ret) {
			text_size = raw_size;
		}
	}

	do {
		b = get_free(in);
		if (!b)
			break;
		b->file = file;
		b->xz = s->xz;
		b->raw_size = raw_size;
		b->text_size = text_size;
		if (s->fd < 0 || ret) {
			b->open_failed = s->fd < 0;
			b->error = ret;
			snprintf(b->err, sizeof(b->err), "%s", err);
			b->last = true;
		} else if (skipped(in, file)) {
			b->last = true;
		} else {
			b->error = fill_block(s, b);
			b->last |= b->error != 0;
		}
		b->raw_pos = s->raw_total - (s->raw_len - s->raw_pos);
		post(in);
	} while (!b->last);

	if (s->fd >= 0 && !is_stdin)
		close(s->fd);
}

/* Read the list of inputs of generation @gen, then say so. */
static void read_list(struct input *in, struct source *s, unsigned int gen)
{
	for (unsigned int i = 0; i < in->npaths && !skipped(in, in->npaths); i++) {
		if (!s) {
			/* No memory to read with: each input ends at once, with the error. */
			struct input_block *b = get_free(in);

			if (!b)
				break;
			b->file = i;
			b->last = true;
			b->error = -ENOMEM;
			snprintf(b->err, sizeof(b->err), "out of memory");
			post(in);
			continue;
		}
		read_one(in, i, s);
	}
	pthread_mutex_lock(&in->lock);
	in->idle_gen = gen;
	pthread_cond_signal(&in->filled);
	pthread_mutex_unlock(&in->lock);
}

static void *reader(void *arg)
{
	static const lzma_stream lz_init = LZMA_STREAM_INIT;
	struct input *in = arg;
	struct source *s = malloc(sizeof(*s));
	unsigned int gen = 0;

	if (s)
		s->lz = lz_init;
	for (;;) {
		bool stop;

		/* Wait for a list of inputs (input_restart()). */
		pthread_mutex_lock(&in->lock);
		while (in->gen == gen && !in->stop)
			pthread_cond_wait(&in->work, &in->lock);
		gen = in->gen;
		stop = in->stop;
		pthread_mutex_unlock(&in->lock);
		if (stop)
			break;
		read_list(in, s, gen);
	}
	if (s)
		lzma_end(&s->lz);
	free(s);
	return NULL;
}

/* ---- the caller's side ---- */

struct input *input_start(const char *const *paths, unsigned int npaths)
{
	struct input *in = calloc(1, sizeof(*in));

	if (!in)
		return NULL;
	pthread_mutex_init(&in->lock, NULL);
	pthread_cond_init(&in->filled, NULL);
	pthread_cond_init(&in->emptied, NULL);
	pthread_cond_init(&in->work, NULL);
	in->line = malloc(INPUT_MAX_LINE + 1);
	if (!in->line)
		goto err;
	for (unsigned int i = 0; i < INPUT_NBLOCKS; i++) {
		in->block[i].data = malloc(INPUT_BLOCK + 1);
		if (!in->block[i].data)
			goto err;
	}
	if (pthread_create(&in->thread, NULL, reader, in))
		goto err;
	in->thread_started = true;
	if (input_restart(in, paths, npaths))
		goto err;
	return in;
err:
	input_stop(in);
	return NULL;
}

int input_restart(struct input *in, const char *const *paths, unsigned int npaths)
{
	int ret = 0;

	/* Drop every block of the current list until the reader is done with it. */
	in->cur = NULL;
	pthread_mutex_lock(&in->lock);
	in->skip = UINT_MAX;
	while (in->idle_gen != in->gen || in->count) {
		if (in->count) {
			in->head = (in->head + 1) % INPUT_NBLOCKS;
			in->count--;
			pthread_cond_signal(&in->emptied);
		} else {
			pthread_cond_wait(&in->filled, &in->lock);
		}
	}
	pthread_mutex_unlock(&in->lock);

	/* The reader waits for the next list: nothing else touches the paths. */
	if (npaths > in->paths_cap) {
		const char **bigger = realloc(in->paths, npaths * sizeof(*in->paths));

		if (bigger) {
			in->paths = bigger;
			in->paths_cap = npaths;
		} else {
			npaths = 0;
			ret = -ENOMEM;
		}
	}
	if (npaths)
		memcpy(in->paths, paths, npaths * sizeof(*paths));
	in->npaths = npaths;
	in->file = 0;
	in->started = in->at_end = false;
	in->error = 0;
	in->pos = in->line_len = 0;
	in->path = NULL;
	in->lineno = in->bytes = 0;
	in->err[0] = '\0';

	pthread_mutex_lock(&in->lock);
	in->skip = 0;
	in->gen++;
	pthread_cond_signal(&in->work);
	pthread_mutex_unlock(&in->lock);
	return ret;
}

void input_stop(struct input *in)
{
	if (!in)
		return;
	if (in->thread_started) {
		pthread_mutex_lock(&in->lock);
		in->stop = true;
		pthread_cond_broadcast(&in->emptied);
		pthread_cond_signal(&in->work);
		pthread_mutex_unlock(&in->lock);
		pthread_join(in->thread, NULL);
	}
	for (unsigned int i = 0; i < INPUT_NBLOCKS; i++)
		free(in->block[i].data);
	free(in->line);
	free(in->paths);
	pthread_cond_destroy(&in->filled);
	pthread_cond_destroy(&in->emptied);
	pthread_cond_destroy(&in->work);
	pthread_mutex_destroy(&in->lock);
	free(in);
}

/* The next block of the reader, waiting for it. */
static struct input_block *take(struct input *in)
{
	struct input_block *b;

	pthread_mutex_lock(&in->lock);
	while (!in->count)
		pthread_cond_wait(&in->filled, &in->lock);
	b = &in->block[in->head];
	pthread_mutex_unlock(&in->lock);
	return b;
}

/* Give the current block back to the reader. */
static void release(struct input *in)
{
	if (!in->cur)
		return;
	in->at_end = in->cur->last;
	in->cur = NULL;
	pthread_mutex_lock(&in->lock);
	in->head = (in->head + 1) % INPUT_NBLOCKS;
	in->count--;
	pthread_cond_signal(&in->emptied);
	pthread_mutex_unlock(&in->lock);
}

/* Take the next block of the current input; it must be the reader's next. */
static void next_block(struct input *in)
{
	struct input_block *b = take(in);

	in->cur = b;
	in->pos = 0;
	in->xz = b->xz;
	in->raw_pos = b->raw_pos;
	in->raw_size = b->raw_size;
	in->text_size = b->text_size;
}

int input_next(struct input *in)
{
	if (in->started) {
		/* Drop the rest of the current input; the reader stops decoding it. */
		pthread_mutex_lock(&in->lock);
		in->skip = in->file + 1;
		pthread_mutex_unlock(&in->lock);
		while (!in->at_end) {
			if (!in->cur)
				next_block(in);
			release(in);
		}
		in->file++;
	}
	if (in->file >= in->npaths)
		return 1;
	in->started = true;
	in->at_end = false;
	in->path = in->paths[in->file];
	in->lineno = in->bytes = 0;
	in->line_len = 0;
	in->error = 0;
	in->err[0] = '\0';
	next_block(in);
	if (in->cur->open_failed) {
		int ret = in->cur->error;

		snprintf(in->err, sizeof(in->err), "%s", in->cur->err);
		release(in);
		return ret;
	}
	return 0;
}

static int too_long(struct input *in)
{
	snprintf(in->err, sizeof(in->err), "line %llu is longer than %d bytes",
		 (unsigned long long)in->lineno + 1, INPUT_MAX_LINE);
	in->line_len = 0;
	in->error = -EOVERFLOW;
	return in->error;
}

static int emit(struct input *in, char *line, size_t len, size_t used, char **ret_line,
		size_t *ret_len)
{
	if (len && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	in->bytes += used;
	in->lineno++;
	*ret_line = line;
	*ret_len = len;
	return 1;
}

int input_getline(struct input *in, char **ret_line, size_t *ret_len)
{
	if (in->error)
		return in->error;
	for (;;) {
		struct input_block *b = in->cur;
		char *start, *nl;
		size_t avail;

		if (!b) {
			if (in->at_end)
				return in->error;
			next_block(in);
			b = in->cur;
		}
		start = b->data + in->pos;
		avail = b->len - in->pos;
		nl = memchr(start, '\n', avail);
		if (nl) {
			size_t n = (size_t)(nl - start);

			in->pos += n + 1;
			if (!in->line_len) {
				if (n > INPUT_MAX_LINE)
					return too_long(in);
				return emit(in, start, n, n + 1, ret_line, ret_len);
			}
			/* The end of a line that began in an earlier block. */
			if (in->line_len + n > INPUT_MAX_LINE)
				return too_long(in);
			memcpy(in->line + in->line_len, start, n);
			n += in->line_len;
			in->line_len = 0;
			return emit(in, in->line, n, n + 1, ret_line, ret_len);
		}
		/* No newline left in this block: keep the tail, go on with the next. */
		if (in->line_len + avail > INPUT_MAX_LINE)
			return too_long(in);
		memcpy(in->line + in->line_len, start, avail);
		in->line_len += avail;
		in->pos = b->len;
		if (b->error) {
			snprintf(in->err, sizeof(in->err), "%s", b->err);
			in->line_len = 0;
			in->error = b->error;
			release(in);
			return in->error;
		}
		release(in);
		if (in->at_end && in->line_len) {
			/* A last line without a newline is a line too. */
			size_t n = in->line_len;

			in->line_len = 0;
			return emit(in, in->line, n, n, ret_line, ret_len);
		}
	}
}

int input_open(struct input **ret_in, const char *path)
{
	*ret_in = input_start(&path, 1);
	if (!*ret_in)
		return -ENOMEM;
	return input_next(*ret_in);
}

int input_read_all(struct input *in, char **ret_buf, size_t *ret_len)
{
	size_t cap = 1 << 20, len = 0;
	char *all = malloc(cap), *line;
	size_t n;
	int ret;

	if (!all)
		return -ENOMEM;
	while ((ret = input_getline(in, &line, &n)) == 1) {
		if (len + n + 2 > cap) {
			char *bigger;

			while (len + n + 2 > cap)
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
	all[len] = '\0';
	*ret_buf = all;
	*ret_len = len;
	return 0;
}
