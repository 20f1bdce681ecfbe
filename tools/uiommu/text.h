/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Text helpers of the CLI: values from an input quoted for a message,
 * sizes for people, and strings made safe for a terminal and for JSON.
 */
#ifndef UIOMMU_CLI_TEXT_H
#define UIOMMU_CLI_TEXT_H

#include <stddef.h>
#include <stdint.h>

/*
 * text_quote() - @n bytes of @s for a message: at most @cap - 1 bytes,
 * bytes outside printable ASCII as \xNN, "..." when cut. Returns @dst.
 */
char *text_quote(char *dst, size_t cap, const char *s, size_t n);

/* text_size() - "1.5 GiB", "4096 bytes": a size for people. Returns @buf. */
const char *text_size(uint64_t bytes, char *buf, size_t len);

/*
 * text_utf8() - @s as valid UTF-8 without control characters, for JSON
 * and terminals: each byte that is not part of a valid UTF-8 sequence
 * becomes U+FFFD, and control characters (but tab) become U+FFFD too.
 * Returns @s itself when it is already clean, else @buf (cut to fit @cap,
 * at a character boundary).
 */
const char *text_utf8(const char *s, char *buf, size_t cap);

#endif /* UIOMMU_CLI_TEXT_H */
