/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Streaming line input for the CLI: a file or standard input, plain or xz
 * (recognised by its magic bytes, decoded with liblzma as it streams).
 * Memory stays flat whatever the input's size: one read buffer, one line
 * buffer of at most INPUT_MAX_LINE bytes.
 */
#ifndef UIOMMU_CLI_INPUT_H
#define UIOMMU_CLI_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <lzma.h>

#define INPUT_MAX_LINE 65536

struct input {
	FILE *f;
	bool is_stdin;
	bool xz;
	bool eof;	/* raw input exhausted */
	bool xz_end;	/* decoder reached the end of the stream */
	lzma_stream lz;
	unsigned char raw[1 << 16];
	size_t raw_len, raw_pos;
	char *buf; /* decoded bytes not yet returned as lines */
	size_t buf_len, buf_pos, buf_cap;
	char *line;
	uint64_t raw_bytes;	/* bytes read from the file (compressed, for xz) */
	uint64_t bytes;		/* bytes of text returned as lines, newlines included */
	uint64_t lineno;	/* number of the line last returned, from 1 */
	char err[256];
};

/*
 * input_open() - Open @path ("-" for standard input).
 * Return: 0, or -errno with in->err describing it.
 */
int input_open(struct input *in, const char *path);

/*
 * input_getline() - The next line, without its newline, NUL-terminated;
 * valid until the next call. *ret_len is its length.
 * Return: 1 for a line, 0 at the end, -errno on a read or decode error or
 * a line longer than INPUT_MAX_LINE (in->err says which).
 */
int input_getline(struct input *in, const char **ret_line, size_t *ret_len);

/*
 * input_read_all() - Read all of the (decoded) input into one malloc()ed
 * buffer, for benchmarks. Return: 0, or -errno.
 */
int input_read_all(struct input *in, char **ret_buf, size_t *ret_len);

void input_close(struct input *in);

#endif /* UIOMMU_CLI_INPUT_H */
