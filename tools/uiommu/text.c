// SPDX-License-Identifier: BSD-3-Clause
/*
 * Text helpers of the CLI. See text.h.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

char *text_quote(char *dst, size_t cap, const char *s, size_t n)
{
	size_t o = 0;

	if (!cap)
		return dst;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t need = c >= 0x20 && c < 0x7f ? 1 : 4;

		/* Room for this byte, and for "..." if more follow. */
		if (o + need + (i + 1 < n ? 3 : 0) >= cap) {
			if (o + 3 < cap) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (need == 1)
			dst[o++] = (char)c;
		else
			o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
	}
	dst[o] = '\0';
	return dst;
}

const char *text_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " bytes", bytes);
	else
		snprintf(buf, len, "%.4g %s", v, units[u]);
	return buf;
}

/* The length of the valid UTF-8 character at @s (not a control character), or 0. */
static size_t utf8_char(const unsigned char *s)
{
	unsigned int c = s[0], n, cp;

	if (c < 0x80)
		return c >= 0x20 || c == '\t' ? (c == 0x7f ? 0 : 1) : 0;
	if (c >= 0xc2 && c <= 0xdf)
		n = 1, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 2, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 3, cp = c & 0x07;
	else
		return 0;
	for (unsigned int i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, beyond U+10FFFF, C1 controls. */
	if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
		return 0;
	return n + 1;
}

const char *text_utf8(const char *s, char *buf, size_t cap)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;
	bool clean = true;

	for (size_t i = 0; p[i]; i += utf8_char(p + i) ? utf8_char(p + i) : 1)
		if (!utf8_char(p + i))
			clean = false;
	if (clean || !cap)
		return s;
	while (*p) {
		size_t n = utf8_char(p);
		const unsigned char *c = n ? p : (const unsigned char *)"\xef\xbf\xbd";
		size_t len = n ? n : 3;

		if (o + len >= cap)
			break;
		memcpy(buf + o, c, len);
		o += len;
		p += n ? n : 1;
	}
	buf[o] = '\0';
	return buf;
}
