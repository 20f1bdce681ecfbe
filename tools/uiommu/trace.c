// SPDX-License-Identifier: BSD-3-Clause
/*
 * Parser of QEMU sPAPR IOMMU trace lines and of the recorder's header.
 * Formats: QEMU hw/ppc/trace-events (spapr_iommu_*), and doc/traces.md.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "text.h"
#include "trace.h"

static inline bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* The end of a value: space, comma or end of line. */
static inline bool value_end(char c)
{
	return c == '\0' || is_space(c) || c == ',';
}

/* Hex digit values; -1 for anything else. */
static const signed char hexval[256] = {
	['0'] = 0 + 1, ['1'] = 1 + 1, ['2'] = 2 + 1, ['3'] = 3 + 1, ['4'] = 4 + 1,
	['5'] = 5 + 1, ['6'] = 6 + 1, ['7'] = 7 + 1, ['8'] = 8 + 1, ['9'] = 9 + 1,
	['a'] = 10 + 1, ['b'] = 11 + 1, ['c'] = 12 + 1, ['d'] = 13 + 1, ['e'] = 14 + 1,
	['f'] = 15 + 1, ['A'] = 10 + 1, ['B'] = 11 + 1, ['C'] = 12 + 1, ['D'] = 13 + 1,
	['E'] = 14 + 1, ['F'] = 15 + 1,
};
/* (stored + 1 so that the zero-initialised rest means "not a digit") */

/* A hex number, "0x" optional, at most 64 bits; *ret_end points after it. */
static inline bool parse_hex(const char *s, uint64_t *ret, const char **ret_end)
{
	uint64_t v = 0;
	int digits = 0, d;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	while ((d = hexval[(unsigned char)*s])) {
		if (++digits > 16)
			return false;
		v = v << 4 | (uint64_t)(d - 1);
		s++;
	}
	if (!digits || !value_end(*s))
		return false;
	*ret = v;
	*ret_end = s;
	return true;
}

#define ONES 0x0101010101010101ULL
#define HIGH 0x8080808080808080ULL

/*
 * The number of ASCII digits (and dots, if @dots) at @p, before @end:
 * 8 bytes at a time where there are 8.
 */
static inline __attribute__((always_inline)) size_t run_of_digits(const char *p, const char *end,
								  bool dots)
{
	size_t n = 0;

	while ((size_t)(end - p) - n >= 8) {
		uint64_t x, y, in, t, nd;

		memcpy(&x, p + n, 8);
		/* Per byte: >= '0', and not >= '9' + 1, and not >= 0x80 (y keeps 7 bits: no carries). */
		y = x & 0x7f7f7f7f7f7f7f7fULL;
		in = (y + 0x5050505050505050ULL) & ~(y + 0x4646464646464646ULL) & ~x;
		if (dots) {
			/* ... or a byte equal to '.' (exact: no carry between bytes). */
			t = x ^ 0x2e2e2e2e2e2e2e2eULL;
			in |= ~(((t & 0x7f7f7f7f7f7f7f7fULL) + 0x7f7f7f7f7f7f7f7fULL) | t |
				0x7f7f7f7f7f7f7f7fULL);
		}
		nd = ~in & 0x8080808080808080ULL;
		if (nd)
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return n + (size_t)(__builtin_ctzll(nd) >> 3);
#else
			return n + (size_t)(__builtin_clzll(nd) >> 3);
#endif
		n += 8;
	}
	while (p + n < end && ((p[n] >= '0' && p[n] <= '9') || (dots && p[n] == '.')))
		n++;
	return n;
}

static inline __attribute__((always_inline)) size_t digits(const char *p, const char *end)
{
	return run_of_digits(p, end, false);
}

/* The number of hex digits the 8 bytes of @x begin with (memory order). */
static inline unsigned int hex_run8(uint64_t x)
{
	uint64_t y = x & ~HIGH, l = y | 0x20 * ONES, dig, alpha, bad;

	/* Per byte, in 7 bits (no carries): '0'..'9', and 'a'..'f' once lowercased. */
	dig = (y + 0x50 * ONES) & ~(y + 0x46 * ONES);
	alpha = (l + 0x1f * ONES) & ~(l + 0x19 * ONES);
	bad = ~((dig | alpha) & ~x) & HIGH;
	if (!bad)
		return 8;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (unsigned int)__builtin_ctzll(bad) >> 3;
#else
	return (unsigned int)__builtin_clzll(bad) >> 3;
#endif
}

/* The value of the first @n (1..8) hex digits of @x (memory order). */
static inline uint64_t hex_value8(uint64_t x, unsigned int n)
{
	uint64_t v = (x & 0x0f * ONES) + 9 * ((x >> 6) & ONES);

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* The digits to the top bytes, the first (most significant) lowest; zeros below. */
	v <<= 8 * (8 - n);
	v = ((v << 4) + (v >> 8)) & 0x00ff00ff00ff00ffULL;
	v = ((v << 8) + (v >> 16)) & 0x0000ffff0000ffffULL;
	return ((v << 16) + (v >> 32)) & 0xffffffffULL;
#else
	uint64_t r = 0;

	for (unsigned int i = 0; i < n; i++)
		r = r << 4 | (v >> (56 - 8 * i) & 0xf);
	return r;
#endif
}

/*
 * The hex digits at @s (no "0x" here), eight at a time where 8 bytes can
 * be read before @end: the values of the fast paths. What follows the
 * digits is for the caller to check (the next field's leading space, or
 * the end of the line).
 */
static inline __attribute__((always_inline)) bool parse_hex_fast(const char *s, const char *end,
								 uint64_t *ret, const char **ret_end)
{
	uint64_t a, v;
	unsigned int n;
	int d;

	if (end - s < 8)
		return parse_hex(s, ret, ret_end);
	memcpy(&a, s, 8);
	n = hex_run8(a);
	if (!n)
		return false;
	v = hex_value8(a, n);
	if (n == 8 && end - s >= 16) {
		unsigned int m;

		memcpy(&a, s + 8, 8);
		m = hex_run8(a);
		if (m == 8)
			return false; /* more than 16 digits */
		if (m)
			v = v << (4 * m) | hex_value8(a, m);
		n += m;
	} else if (n == 8) {
		while ((d = hexval[(unsigned char)s[n]])) {
			if (++n > 16)
				return false;
			v = v << 4 | (uint64_t)(d - 1);
		}
	}
	*ret = v;
	*ret_end = s + n;
	return true;
}

/* An unsigned decimal number of at most 64 bits. */
static inline bool parse_udec(const char *s, uint64_t *ret, const char **ret_end)
{
	uint64_t v = 0;
	int digits = 0;

	for (; *s >= '0' && *s <= '9'; s++) {
		uint64_t d = (uint64_t)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		digits++;
	}
	if (!digits || !value_end(*s))
		return false;
	*ret = v;
	*ret_end = s;
	return true;
}

/* A signed decimal number that fits int64_t. */
static inline bool parse_sdec(const char *s, int64_t *ret, const char **ret_end)
{
	bool neg = *s == '-';
	uint64_t v;

	if (!parse_udec(s + neg, &v, ret_end) || v > (uint64_t)INT64_MAX + neg)
		return false;
	*ret = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

/* ---- fields ---- */

enum field_kind { F_HEX, F_UDEC, F_RET, F_STR, F_YESNO };

struct field {
	const char *key; /* with its '=' */
	unsigned char keylen;
	unsigned char kind;
	unsigned short offset; /* in struct trace_event */
};

#define FIELD(k, kind, member) { k, sizeof(k) - 1, kind, offsetof(struct trace_event, member) },
#define NFIELDS_MAX 6

/*
 * Events whose fields are key=value tokens, in QEMU's order (hw/ppc/trace-events).
 * Each list makes a table for fields_by_key() and a one-pass reader.
 */
#define PUT_FIELDS(X) X("liobn=", F_HEX, liobn) X("ioba=", F_HEX, ioba) X("tce=", F_HEX, tce) \
	X("ret=", F_RET, ret)
#define GET_FIELDS(X) X("liobn=", F_HEX, liobn) X("ioba=", F_HEX, ioba) X("ret=", F_RET, ret) \
	X("tce=", F_HEX, tce)
#define INDIRECT_FIELDS(X) X("liobn=", F_HEX, liobn) X("ioba=", F_HEX, ioba) \
	X("tcelist=", F_HEX, tcelist) X("iobaN=", F_HEX, ioba_n) X("tceN=", F_HEX, tce_n) \
	X("ret=", F_RET, ret)
#define STUFF_FIELDS(X) X("liobn=", F_HEX, liobn) X("ioba=", F_HEX, ioba) \
	X("tcevalue=", F_HEX, tce) X("npages=", F_UDEC, npages) X("ret=", F_RET, ret)
#define LIOBN_FIELDS(X) X("liobn=", F_HEX, liobn)

static const struct field f_put[] = { PUT_FIELDS(FIELD) { 0 } };
static const struct field f_get[] = { GET_FIELDS(FIELD) { 0 } };
static const struct field f_indirect[] = { INDIRECT_FIELDS(FIELD) { 0 } };
static const struct field f_stuff[] = { STUFF_FIELDS(FIELD) { 0 } };
static const struct field f_liobn[] = { LIOBN_FIELDS(FIELD) { 0 } };
static const struct field f_window[] = {
	FIELD("liobn=", F_HEX, liobn) FIELD("bus_offset=", F_HEX, bus_offset)
	FIELD("size=", F_HEX, size) FIELD("page_shift=", F_UDEC, page_shift)
	FIELD("node=", F_STR, text) { 0 }
};
static const struct field f_phb[] = {
	FIELD("index=", F_UDEC, index) FIELD("buid=", F_HEX, buid) FIELD("liobn=", F_HEX, liobn)
	FIELD("ddw=", F_YESNO, ddw) FIELD("dma64_base=", F_HEX, dma64_base) { 0 }
};

/* memcmp(a, b, n) == 0 for a small constant @n, in a few loads once inlined. */
static inline __attribute__((always_inline)) bool same(const char *a, const char *b, size_t n)
{
	uint64_t x, y;
	uint32_t u, v;
	bool eq = true;

	for (; n >= 8; n -= 8, a += 8, b += 8) {
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		eq &= x == y;
	}
	if (n >= 4) {
		memcpy(&u, a, 4);
		memcpy(&v, b, 4);
		eq &= u == v;
		n -= 4, a += 4, b += 4;
	}
	for (; n; n--)
		eq &= *a++ == *b++;
	return eq;
}

/* @n bytes of @w at *@pp, before @end: then skip them. */
static inline __attribute__((always_inline)) bool lit(const char **pp, const char *end,
						      const char *w, size_t n)
{
	if ((size_t)(end - *pp) < n || !same(*pp, w, n))
		return false;
	*pp += n;
	return true;
}

static inline __attribute__((always_inline)) bool fast_F_HEX(const char **pp, const char *end, uint64_t *v)
{
	return parse_hex_fast(*pp, end, v, pp);
}

/* Up to 19 decimal digits, which cannot overflow 64 bits; else the careful parse_udec(). */
static inline __attribute__((always_inline)) bool fast_F_UDEC(const char **pp, const char *end,
							      uint64_t *v)
{
	const char *s = *pp;
	size_t n = digits(s, end);
	uint64_t x = 0;

	if (!n || n > 19)
		return parse_udec(s, v, pp);
	for (size_t i = 0; i < n; i++)
		x = x * 10 + (uint64_t)(s[i] - '0');
	*v = x;
	*pp = s + n;
	return true;
}

static inline __attribute__((always_inline)) bool fast_F_RET(const char **pp, const char *end,
							     int64_t *v)
{
	bool neg = **pp == '-';
	uint64_t u;

	*pp += neg;
	if (!fast_F_UDEC(pp, end, &u) || u > (uint64_t)INT64_MAX + neg)
		return false;
	*v = neg ? (int64_t)(0 - u) : (int64_t)u;
	return true;
}

/* What QEMU 7.2 prints before each kind of value. */
#define FAST_PFX_F_HEX "0x"
#define FAST_PFX_F_UDEC ""
#define FAST_PFX_F_RET ""

/*
 * One field in the one-pass reader: the space before it, its key and "0x"
 * if hex, in one compare, then its value.
 */
#define FAST(k, kind, member)                                                          \
	if (!lit(&p, end, " " k FAST_PFX_##kind, sizeof(" " k FAST_PFX_##kind) - 1) ||  \
	    !fast_##kind(&p, end, &ev->member))                                        \
		return false;

/* The reader of QEMU's spelling: @p at the space before the first field. */
#define FAST_READER(name, FIELDS)                                                          \
	static inline bool name(const char *p, const char *end, struct trace_event *ev)    \
	{                                                                                  \
		FIELDS(FAST)                                                               \
		return p == end;                                                           \
	}
FAST_READER(fast_put, PUT_FIELDS)
FAST_READER(fast_get, GET_FIELDS)
FAST_READER(fast_indirect, INDIRECT_FIELDS)
FAST_READER(fast_stuff, STUFF_FIELDS)

struct field_ctx {
	const char *args; /* the fields, after the event name */
	const char *end;  /* the end of the line */
	const char *event;
	char *err;
	size_t errlen;
};

static size_t token_len(const char *s)
{
	size_t n = 0;

	while (s[n] && !is_space(s[n]))
		n++;
	return n;
}

static int bad_value(struct field_ctx *f, const char *key, size_t keylen, const char *v,
		     const char *what)
{
	char q[48];

	text_quote(q, sizeof(q), v, token_len(v));
	snprintf(f->err, f->errlen, "%s: %.*s'%s' is not %s", f->event, (int)keylen, key, q, what);
	return -EINVAL;
}

/* Read one field's value at @v into @ev. Return: the end of the value, or NULL. */
static const char *read_value(const struct field *fd, const char *v, struct trace_event *ev)
{
	char *dst = (char *)ev + fd->offset;
	const char *end;
	uint64_t u;
	int64_t s;

	switch (fd->kind) {
	case F_HEX:
		if (!parse_hex(v, &u, &end))
			return NULL;
		memcpy(dst, &u, sizeof(u));
		return end;
	case F_UDEC:
		if (!parse_udec(v, &u, &end))
			return NULL;
		memcpy(dst, &u, sizeof(u));
		return end;
	case F_RET:
		if (!parse_sdec(v, &s, &end))
			return NULL;
		memcpy(dst, &s, sizeof(s));
		return end;
	case F_STR:
		ev->text = v;
		ev->text_len = (uint32_t)token_len(v);
		return v + ev->text_len;
	default: /* F_YESNO */
		if (!strncmp(v, "yes", 3) && value_end(v[3])) {
			ev->ddw = true;
			return v + 3;
		}
		if (!strncmp(v, "no", 2) && value_end(v[2])) {
			ev->ddw = false;
			return v + 2;
		}
		return NULL;
	}
}

static const char *kind_text(unsigned char kind)
{
	switch (kind) {
	case F_HEX:
		return "a hex number of at most 64 bits";
	case F_UDEC:
		return "a decimal number of at most 64 bits";
	case F_RET:
		return "a signed decimal number of at most 64 bits";
	case F_YESNO:
		return "yes or no";
	default:
		return "a value";
	}
}

/*
 * Any order, any spacing: every token is matched against the fields, a
 * field given twice is an error, and unknown keys are ignored (QEMU
 * versions add fields). Fields of kind F_STR are optional.
 */
static int fields_by_key(struct field_ctx *f, const struct field *fields,
			 struct trace_event *ev)
{
	const char *val[NFIELDS_MAX] = { 0 };
	const char *p = f->args;
	unsigned int i;

	if (memchr(f->args, '\0', (size_t)(f->end - f->args))) {
		snprintf(f->err, f->errlen, "%s: a NUL byte at byte %zu of the fields", f->event,
			 strlen(f->args));
		return -EINVAL;
	}
	for (;;) {
		const char *tok;
		size_t n;

		while (is_space(*p))
			p++;
		if (!*p)
			break;
		tok = p;
		n = token_len(tok);
		p += n;
		for (i = 0; fields[i].key; i++) {
			const struct field *fd = &fields[i];

			if (n < fd->keylen || memcmp(tok, fd->key, fd->keylen))
				continue;
			if (val[i]) {
				snprintf(f->err, f->errlen, "%s: field '%s' appears twice", f->event,
					 fd->key);
				return -EINVAL;
			}
			val[i] = tok + fd->keylen;
			break;
		}
	}
	for (i = 0; fields[i].key; i++) {
		const struct field *fd = &fields[i];
		const char *end;

		if (!val[i]) {
			if (fd->kind == F_STR)
				continue;
			snprintf(f->err, f->errlen, "%s: no field '%s'", f->event, fd->key);
			return -EINVAL;
		}
		end = read_value(fd, val[i], ev);
		if (!end || (*end && !is_space(*end)))
			return bad_value(f, fd->key, fd->keylen, val[i], kind_text(fd->kind));
	}
	return 0;
}

/*
 * "key=" in the fields, at the start or after a space or comma, and not as
 * the end of "start addr=" when looking for "addr=". Sets *twice if it is
 * there more than once.
 */
static const char *find_key(struct field_ctx *f, const char *key, bool *twice)
{
	size_t klen = strlen(key);
	const char *found = NULL;

	*twice = false;
	for (const char *p = f->args; (p = strstr(p, key)); p++) {
		if (p != f->args && !is_space(p[-1]) && p[-1] != ',')
			continue;
		if (!strcmp(key, "addr=") && p - f->args >= 6 && !memcmp(p - 6, "start ", 6))
			continue;
		if (found) {
			*twice = true;
			return found;
		}
		found = p + klen;
	}
	return found;
}

/* A hex field of a ddw_* line, whose keys hold spaces. */
static bool ddw_hex(struct field_ctx *f, const char *key, uint64_t *ret)
{
	bool twice;
	const char *v = find_key(f, key, &twice), *end;

	if (!v) {
		snprintf(f->err, f->errlen, "%s: no field '%s'", f->event, key);
		return false;
	}
	if (twice) {
		snprintf(f->err, f->errlen, "%s: field '%s' appears twice", f->event, key);
		return false;
	}
	if (parse_hex(v, ret, &end))
		return true;
	bad_value(f, key, strlen(key), v, "a hex number of at most 64 bits");
	return false;
}

/* ddw_query: "buid=B addr=A, N windows available, max window size=S, mask=M" */
static int parse_ddw_query(struct field_ctx *f, struct trace_event *ev)
{
	const char *p = strstr(f->args, " windows available"), *q, *end;

	if (!ddw_hex(f, "buid=", &ev->buid) || !ddw_hex(f, "addr=", &ev->cfgaddr))
		return -EINVAL;
	if (!p || strstr(p + 1, " windows available"))
		goto bad;
	for (q = p; q > f->args && q[-1] >= '0' && q[-1] <= '9'; q--)
		;
	if (q == p || (q > f->args && q[-1] != ' ') || !parse_udec(q, &ev->windows, &end))
		goto bad;
	if (!ddw_hex(f, "max window size=", &ev->win_size) || !ddw_hex(f, "mask=", &ev->mask))
		return -EINVAL;
	return 0;
bad:
	snprintf(f->err, f->errlen, "%s: no (or more than one) 'N windows available'", f->event);
	return -EINVAL;
}

static int parse_ddw_create(struct field_ctx *f, struct trace_event *ev)
{
	if (!ddw_hex(f, "buid=", &ev->buid) || !ddw_hex(f, "addr=", &ev->cfgaddr) ||
	    !ddw_hex(f, "page size=", &ev->page_size) ||
	    !ddw_hex(f, "requested=", &ev->req_size) || !ddw_hex(f, "start addr=", &ev->start) ||
	    !ddw_hex(f, "liobn=", &ev->liobn))
		return -EINVAL;
	return 0;
}

/* spapr_iommu_xlate: "liobn=L ADDR -> TRANSLATED perm=P mask=M" */
static int parse_xlate(struct field_ctx *f, struct trace_event *ev)
{
	static const struct field rest[] = {
		FIELD("perm=", F_UDEC, perm) FIELD("mask=", F_HEX, mask) { 0 }
	};
	const char *p = f->args, *end = f->end;
	char q[48];

	/* QEMU's spelling in one pass. */
	if (lit(&p, end, "liobn=0x", 8) && parse_hex_fast(p, end, &ev->liobn, &p) &&
	    lit(&p, end, " 0x", 3) && parse_hex_fast(p, end, &ev->ioba, &p) &&
	    lit(&p, end, " -> 0x", 6) && parse_hex_fast(p, end, &ev->tce, &p) &&
	    lit(&p, end, " perm=", 6) && fast_F_UDEC(&p, end, &ev->perm) &&
	    lit(&p, end, " mask=0x", 8) && parse_hex_fast(p, end, &ev->mask, &p) && p == end)
		return 0;

	/* Anything else, with a message if it is wrong. */
	if (memchr(f->args, '\0', (size_t)(end - f->args)))
		return fields_by_key(f, f_liobn, ev); /* names the NUL */
	p = f->args;
	if (!lit(&p, end, "liobn=", 6)) {
		snprintf(f->err, f->errlen, "%s: no field 'liobn=' at the start", f->event);
		return -EINVAL;
	}
	if (!parse_hex(p, &ev->liobn, &p))
		return bad_value(f, "liobn=", 6, f->args + 6, "a hex number of at most 64 bits");
	while (is_space(*p))
		p++;
	if (!parse_hex(p, &ev->ioba, &p))
		goto bad;
	while (is_space(*p))
		p++;
	if (p[0] != '-' || p[1] != '>' || !is_space(p[2]))
		goto bad;
	p += 3;
	while (is_space(*p))
		p++;
	if (!parse_hex(p, &ev->tce, &p))
		goto bad;
	f->args = p;
	return fields_by_key(f, rest, ev);
bad:
	snprintf(f->err, f->errlen, "%s: expected 'liobn=L ADDR -> TRANSLATED', found '%s'",
		 f->event, text_quote(q, sizeof(q), f->args, strlen(f->args)));
	return -EINVAL;
}

/* ---- header and comments ---- */

static void set_name(struct trace_event *ev, const char *s, size_t n)
{
	ev->name = s;
	ev->name_len = (uint8_t)(n > TRACE_NAME_MAX ? TRACE_NAME_MAX : n);
}

static size_t trim_len(const char *s, size_t n)
{
	while (n && is_space(s[n - 1]))
		n--;
	return n;
}

static int parse_comment(const char *line, const char *end, struct trace_event *ev, char *err,
			 size_t errlen)
{
	const char *p = line + 1, *colon, *v;
	struct field_ctx f = { .end = end, .err = err, .errlen = errlen };

	if (memchr(line, '\0', (size_t)(end - line))) {
		snprintf(err, errlen, "a NUL byte at byte %zu of a '#' line", strlen(line));
		return -EINVAL;
	}
	while (is_space(*p))
		p++;
	if (!strncmp(p, "MARK", 4) && is_space(p[4])) {
		/* # MARK TIME PHASE */
		const char *t = p + 5, *phase;

		while (is_space(*t))
			t++;
		phase = t;
		while (*phase && !is_space(*phase))
			phase++;
		while (is_space(*phase))
			phase++;
		if (!*phase) {
			snprintf(err, errlen, "MARK line without a phase name");
			return -EINVAL;
		}
		ev->type = TRACE_MARK;
		set_name(ev, phase, trim_len(phase, (size_t)(end - phase)));
		return 0;
	}
	/* # key: value, key made of [a-z0-9_-] */
	for (colon = p; (*colon >= 'a' && *colon <= 'z') || (*colon >= '0' && *colon <= '9') ||
			*colon == '-' || *colon == '_';
	     colon++)
		;
	if (colon == p || *colon != ':' || (colon[1] && !is_space(colon[1]))) {
		ev->type = TRACE_COMMENT;
		return 0;
	}
	v = colon + 1;
	while (is_space(*v))
		v++;
	set_name(ev, p, (size_t)(colon - p));
	ev->text = v;
	ev->text_len = (uint32_t)trim_len(v, (size_t)(end - v));
	f.args = v;
	if (colon - p == 6 && !memcmp(p, "window", 6)) {
		ev->type = TRACE_WINDOW;
		ev->text = "";
		ev->text_len = 0;
		f.event = "window";
		return fields_by_key(&f, f_window, ev);
	}
	if (colon - p == 3 && !memcmp(p, "phb", 3)) {
		ev->type = TRACE_PHB;
		ev->text = "";
		ev->text_len = 0;
		f.event = "phb";
		return fields_by_key(&f, f_phb, ev);
	}
	ev->type = TRACE_HEADER;
	return 0;
}

/* ---- event lines ---- */

/* Skip QEMU's optional "PID@SEC.USEC:" prefix. */
static const char *skip_prefix(const char *s, const char *end)
{
	size_t n = digits(s, end);
	const char *p = s + n;

	if (!n || *p != '@')
		return s;
	p++;
	p += run_of_digits(p, end, true); /* SEC.USEC */
	return *p == ':' ? p + 1 : s;
}

/* @w (@n bytes) at @p, as a whole word. */
static inline __attribute__((always_inline)) bool word(const char *p, const char *end,
						       const char *w, size_t n)
{
	return (size_t)(end - p) >= n && same(p, w, n) && (p + n == end || is_space(p[n]));
}

#define WORD(p, end, w) word(p, end, w, sizeof(w) - 1)

/* The event named at @p, and the name's length; TRACE_UNKNOWN for any other name. */
static enum trace_type event_type(const char *p, const char *end, bool *pci, size_t *ret_len)
{
	const char *s = p;
	enum trace_type t = TRACE_UNKNOWN;
	size_t n = 0;

	if (!lit(&s, end, "spapr_iommu_", 12))
		return TRACE_UNKNOWN;
	*pci = lit(&s, end, "pci_", 4);
	switch (*s) {
	case 'p':
		if (WORD(s, end, "put"))
			t = TRACE_PUT, n = 3;
		break;
	case 's':
		if (WORD(s, end, "stuff"))
			t = TRACE_STUFF, n = 5;
		break;
	case 'i':
		if (WORD(s, end, "indirect"))
			t = TRACE_INDIRECT, n = 8;
		break;
	case 'g':
		if (WORD(s, end, "get"))
			t = TRACE_GET, n = 3;
		break;
	case 'x':
		if (!*pci && WORD(s, end, "xlate"))
			t = TRACE_XLATE, n = 5;
		break;
	case 'n':
		if (!*pci && WORD(s, end, "new_table"))
			t = TRACE_NEW_TABLE, n = 9;
		break;
	case 'd':
		if (*pci)
			break;
		if (WORD(s, end, "ddw_query"))
			t = TRACE_DDW_QUERY, n = 9;
		else if (WORD(s, end, "ddw_create"))
			t = TRACE_DDW_CREATE, n = 10;
		else if (WORD(s, end, "ddw_remove"))
			t = TRACE_DDW_REMOVE, n = 10;
		else if (WORD(s, end, "ddw_reset"))
			t = TRACE_DDW_RESET, n = 9;
		break;
	default:
		break;
	}
	*ret_len = (size_t)(s - p) + n;
	return t;
}

static const char *const event_names[TRACE_NR][2] = {
	[TRACE_PUT] = { "spapr_iommu_put", "spapr_iommu_pci_put" },
	[TRACE_GET] = { "spapr_iommu_get", "spapr_iommu_pci_get" },
	[TRACE_INDIRECT] = { "spapr_iommu_indirect", "spapr_iommu_pci_indirect" },
	[TRACE_STUFF] = { "spapr_iommu_stuff", "spapr_iommu_pci_stuff" },
	[TRACE_XLATE] = { "spapr_iommu_xlate" },
	[TRACE_NEW_TABLE] = { "spapr_iommu_new_table" },
	[TRACE_DDW_QUERY] = { "spapr_iommu_ddw_query" },
	[TRACE_DDW_CREATE] = { "spapr_iommu_ddw_create" },
	[TRACE_DDW_REMOVE] = { "spapr_iommu_ddw_remove" },
	[TRACE_DDW_RESET] = { "spapr_iommu_ddw_reset" },
};

int trace_parse_line(const char *line, size_t len, struct trace_event *ev, char *err,
		     size_t errlen)
{
	struct field_ctx f = { .end = line + len, .err = err, .errlen = errlen };
	const char *p = line, *name;
	char q[48];
	size_t namelen = 0;

	ev->pci = false;
	ev->name = ev->text = "";
	ev->name_len = 0;
	ev->text_len = 0;
	if (is_space(*p) || !*p || *p == '#') {
		ev->type = TRACE_COMMENT;
		while (is_space(*p))
			p++;
		if (*p == '#')
			return parse_comment(p, f.end, ev, err, errlen);
		if (!*p) {
			if (p != f.end) {
				snprintf(err, errlen, "a NUL byte at byte %zu of the line",
					 (size_t)(p - line));
				return -EINVAL;
			}
			return 0;
		}
	}
	name = p = skip_prefix(p, f.end);
	ev->type = (uint8_t)event_type(name, f.end, &ev->pci, &namelen);
	if (ev->type == TRACE_UNKNOWN) {
		while (*p && !is_space(*p))
			p++;
		namelen = (size_t)(p - name);
	}
	p = name + namelen;
	while (*p == ' ')
		p++;
	f.args = p;
	f.event = event_names[ev->type][ev->pci] ? event_names[ev->type][ev->pci] : "";
	set_name(ev, name, namelen);

	switch (ev->type) {
	/* The fast readers start at the space before the fields (p > line here). */
	case TRACE_PUT:
		return fast_put(p - 1, f.end, ev) ? 0 : fields_by_key(&f, f_put, ev);
	case TRACE_GET:
		return fast_get(p - 1, f.end, ev) ? 0 : fields_by_key(&f, f_get, ev);
	case TRACE_INDIRECT:
		return fast_indirect(p - 1, f.end, ev) ? 0 : fields_by_key(&f, f_indirect, ev);
	case TRACE_STUFF:
		return fast_stuff(p - 1, f.end, ev) ? 0 : fields_by_key(&f, f_stuff, ev);
	case TRACE_XLATE:
		return parse_xlate(&f, ev);
	case TRACE_NEW_TABLE:
	case TRACE_DDW_REMOVE:
		return fields_by_key(&f, f_liobn, ev);
	case TRACE_DDW_QUERY:
	case TRACE_DDW_CREATE:
	case TRACE_DDW_RESET:
		if (memchr(f.args, '\0', (size_t)(f.end - f.args)))
			return fields_by_key(&f, f_liobn, ev);
		if (ev->type == TRACE_DDW_QUERY)
			return parse_ddw_query(&f, ev);
		if (ev->type == TRACE_DDW_CREATE)
			return parse_ddw_create(&f, ev);
		return ddw_hex(&f, "buid=", &ev->buid) && ddw_hex(&f, "addr=", &ev->cfgaddr) ?
			       0 : -EINVAL;
	default:
		break;
	}
	/* An event name must look like an identifier; anything else is not a trace line. */
	for (size_t i = 0; i < namelen; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_')) {
			snprintf(err, errlen, "not a trace event line: '%s'",
				 text_quote(q, sizeof(q), line, len));
			return -EINVAL;
		}
	}
	if (memchr(line, '\0', len)) {
		snprintf(err, errlen, "a NUL byte at byte %zu of the line", strlen(line));
		return -EINVAL;
	}
	return 0;
}
