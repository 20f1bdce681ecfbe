/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Streaming line input for the CLI: files or standard input, plain or xz
 * (recognised by its magic bytes, decoded with liblzma as it streams).
 *
 * A reader thread of its own opens the inputs in turn, reads them and
 * decodes xz into a ring of INPUT_NBLOCKS blocks of text, running ahead of
 * the caller, into the next input too: decoding uses the other core while
 * the caller parses and replays. Lines are handed out in place, in the
 * block, NUL-terminated; only a line that spans two blocks is copied.
 * Memory stays flat whatever the input's size: the ring, and one line
 * buffer of at most INPUT_MAX_LINE bytes. input_restart() reads another
 * list of inputs with the same thread, ring and xz decoder, for a caller
 * that reads many short inputs one list after another.
 *
 * The caller side (everything below but input_start()) is for one thread.
 */
#ifndef UIOMMU_CLI_INPUT_H
#define UIOMMU_CLI_INPUT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The longest line, the ring's block size (both bytes) and its blocks. A
 * fuzz build defines the first two smaller (fuzz/meson.build), so that
 * small inputs cross every block and line boundary; the code is the same.
 */
#ifndef INPUT_MAX_LINE
#define INPUT_MAX_LINE 65536
#endif
#ifndef INPUT_BLOCK
#define INPUT_BLOCK (128u << 10)
#endif
#define INPUT_NBLOCKS 8

struct input_block {
	char *data;	  /* INPUT_BLOCK bytes, and one more for a NUL */
	size_t len;
	unsigned int file; /* index of the input it belongs to */
	bool last;	  /* the last block of that input */
	bool open_failed; /* ... because it could not be opened (err says why) */
	int error;	  /* -errno if reading stopped on an error after this block's text */
	char err[256];
	bool xz;
	uint64_t raw_pos;   /* bytes read from the input when the block was made */
	uint64_t raw_size;  /* the input's size in bytes, 0 if unknown (a pipe) */
	uint64_t text_size; /* its decoded size, 0 if unknown */
};

struct input {
	/* Shared with the reader thread, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t filled, emptied;
	pthread_cond_t work;	  /* the reader waits here for a list of inputs */
	unsigned int gen;	  /* the list being read: input_restart() counts them */
	unsigned int idle_gen;	  /* the last list the reader is done with */
	struct input_block block[INPUT_NBLOCKS];
	unsigned int head, count; /* next block to consume; blocks ready */
	unsigned int skip;	  /* the reader abandons inputs below this index */
	bool stop;
	pthread_t thread;
	bool thread_started;
	const char **paths;	  /* a copy of input_start()'s array */
	unsigned int npaths, paths_cap;

	/* The caller's side. */
	unsigned int file;	  /* the input being read: its index */
	bool started;		  /* input_next() was called for @file */
	bool at_end;		  /* its last block was consumed */
	int error;		  /* -errno it stopped on, returned again by every call */
	struct input_block *cur;  /* the block lines come from, or NULL */
	size_t pos;		  /* next byte of cur */
	char *line;		  /* a line that spans blocks */
	size_t line_len;
	const char *path;
	bool xz;
	uint64_t lineno;	  /* number of the line last returned, from 1 */
	uint64_t bytes;		  /* bytes of text returned as lines, newlines included */
	uint64_t raw_pos, raw_size, text_size; /* of the block being read (see above) */
	char err[320];
};

/*
 * input_start() - Start reading @paths ("-" is standard input) in turn,
 * ahead of the caller. The strings of @paths must stay valid until
 * input_stop().
 * Return: the reader, or NULL if memory or a thread could not be had.
 */
struct input *input_start(const char *const *paths, unsigned int npaths);

/*
 * input_next() - Go to the next input (the first at the first call),
 * dropping what is left of the current one.
 * Return: 0; 1 when there is no next input; or the -errno of an input
 * that could not be opened (in->err says why; the next call goes on to
 * the one after).
 */
int input_next(struct input *in);

/*
 * input_getline() - The next line of the current input, without its
 * newline (and a '\r' before it), NUL-terminated, writable; valid until
 * the next call. *ret_len is its length.
 * Return: 1 for a line, 0 at the end of the input, -errno on a read or
 * decode error or a line longer than INPUT_MAX_LINE (in->err says which),
 * and the same again at every later call for this input.
 */
int input_getline(struct input *in, char **ret_line, size_t *ret_len);

/*
 * input_restart() - Read @paths in turn from the start, as input_start()
 * would, with the thread, ring and xz decoder of @in: what is left of its
 * current list is dropped (the reader stops decoding it). The strings of
 * @paths must stay valid until the next input_restart() or input_stop().
 * Return: 0, or -ENOMEM if the copy of @paths could not be had (@in then
 * has no input: input_next() returns 1).
 */
int input_restart(struct input *in, const char *const *paths, unsigned int npaths);

/* input_stop() - Stop the reader thread and free everything. NULL is a no-op. */
void input_stop(struct input *in);

/*
 * input_open() - input_start() and input_next() for one input.
 * Return: 0 with *ret_in set, or -errno with *ret_in set too (when not
 * NULL: its err says why) or NULL (out of memory). input_stop() it.
 */
int input_open(struct input **ret_in, const char *path);

/*
 * input_read_all() - Read the rest of the current input (decoded) into one
 * malloc()ed buffer, for benchmarks and tests. Return: 0, or -errno.
 */
int input_read_all(struct input *in, char **ret_buf, size_t *ret_len);

#endif /* UIOMMU_CLI_INPUT_H */
