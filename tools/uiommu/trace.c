// SPDX-License-Identifier: BSD-3-Clause
/*
 * Parser of QEMU sPAPR IOMMU trace lines and of the recorder's header.
 * Formats: QEMU hw/ppc/trace-events (spapr_iommu_*), and doc/traces.md.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "trace.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The end of a value: space, comma or end of line. */
static bool value_end(char c)
{
	return c == '\0' || is_space(c) || c == ',';
}

/* A hex number, "0x" optional; *ret_end points after it. */
static bool parse_hex(const char *s, uint64_t *ret, const char **ret_end)
{
	uint64_t v = 0;
	int digits = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (; hexval(*s) >= 0; s++) {
		if (++digits > 16)
			return false;
		v = v << 4 | (uint64_t)hexval(*s);
	}
	if (!digits || !value_end(*s))
		return false;
	*ret = v;
	*ret_end = s;
	return true;
}

/* A decimal number, signed if @sign; *ret_end points after it. */
static bool parse_dec(const char *s, bool sign, int64_t *ret_s, uint64_t *ret_u,
		      const char **ret_end)
{
	bool neg = false;
	uint64_t v = 0;
	int digits = 0;

	if (sign && *s == '-') {
		neg = true;
		s++;
	}
	for (; *s >= '0' && *s <= '9'; s++) {
		uint64_t d = (uint64_t)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		digits++;
	}
	if (!digits || !value_end(*s))
		return false;
	if (sign) {
		if (v > (uint64_t)INT64_MAX + neg)
			return false;
		*ret_s = neg ? (int64_t)(0 - v) : (int64_t)v;
	} else {
		*ret_u = v;
	}
	*ret_end = s;
	return true;
}

/*
 * The value of "key=" in @s, where key starts at the beginning of @s or
 * after a space or a comma (so "addr=" does not match "start addr=" unless
 * asked for with that full key). NULL if absent.
 */
static const char *find_key(const char *s, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = s; (p = strstr(p, key)); p++)
		if (p == s || is_space(p[-1]) || p[-1] == ',')
			return p + klen;
	return NULL;
}

#define MAX_TOKENS 12

/*
 * The fields of an event line, split once: "key=value" tokens separated by
 * spaces. Lookups then compare short keys instead of searching the line
 * for each field. Events whose keys hold spaces (ddw_*) use find_key().
 */
struct field_ctx {
	const char *args;
	const char *event;
	char *err;
	size_t errlen;
	unsigned int ntok;
	struct {
		const char *key;
		size_t keylen;
		const char *value;
	} tok[MAX_TOKENS];
};

static void tokenize(struct field_ctx *f)
{
	const char *p = f->args;

	f->ntok = 0;
	while (*p && f->ntok < MAX_TOKENS) {
		const char *start, *eq = NULL;

		while (is_space(*p))
			p++;
		start = p;
		while (*p && !is_space(*p)) {
			if (*p == '=' && !eq)
				eq = p;
			p++;
		}
		if (eq) {
			f->tok[f->ntok].key = start;
			f->tok[f->ntok].keylen = (size_t)(eq - start) + 1; /* with the '=' */
			f->tok[f->ntok].value = eq + 1;
			f->ntok++;
		}
	}
}

/* The value of @key ("name=") among the tokens, else by searching the text. */
static const char *field_value(const struct field_ctx *f, const char *key)
{
	size_t klen = strlen(key);

	for (unsigned int i = 0; i < f->ntok; i++)
		if (f->tok[i].keylen == klen && !memcmp(f->tok[i].key, key, klen))
			return f->tok[i].value;
	return f->ntok ? NULL : find_key(f->args, key);
}

static bool need_hex(struct field_ctx *f, const char *key, uint64_t *ret)
{
	const char *v = field_value(f, key), *end;

	if (v && parse_hex(v, ret, &end))
		return true;
	snprintf(f->err, f->errlen, "%s: %s field '%s'", f->event, v ? "unreadable" : "missing",
		 key);
	return false;
}

static bool need_dec(struct field_ctx *f, const char *key, uint64_t *ret)
{
	const char *v = field_value(f, key), *end;

	if (v && parse_dec(v, false, NULL, ret, &end))
		return true;
	snprintf(f->err, f->errlen, "%s: %s field '%s'", f->event, v ? "unreadable" : "missing",
		 key);
	return false;
}

static bool need_ret(struct field_ctx *f, int64_t *ret)
{
	const char *v = field_value(f, "ret="), *end;

	if (v && parse_dec(v, true, ret, NULL, &end))
		return true;
	snprintf(f->err, f->errlen, "%s: %s field 'ret'", f->event, v ? "unreadable" : "missing");
	return false;
}

static void copy_str(char *dst, size_t cap, const char *src, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* "# window: ..." and "# phb: ..." header lines. */
static int parse_window(const char *v, struct trace_event *ev, char *err, size_t errlen)
{
	struct field_ctx f = { .args = v, .event = "window", .err = err, .errlen = errlen };
	const char *node;

	ev->type = TRACE_WINDOW;
	if (!need_hex(&f, "liobn=", &ev->liobn) || !need_hex(&f, "bus_offset=", &ev->bus_offset) ||
	    !need_hex(&f, "size=", &ev->size) || !need_dec(&f, "page_shift=", &ev->page_shift))
		return -EINVAL;
	node = find_key(v, "node=");
	if (node) {
		size_t n = 0;

		while (node[n] && !is_space(node[n]))
			n++;
		copy_str(ev->text, sizeof(ev->text), node, n);
	}
	return 0;
}

static int parse_phb(const char *v, struct trace_event *ev, char *err, size_t errlen)
{
	struct field_ctx f = { .args = v, .event = "phb", .err = err, .errlen = errlen };
	const char *ddw;

	ev->type = TRACE_PHB;
	if (!need_dec(&f, "index=", &ev->index) || !need_hex(&f, "buid=", &ev->buid) ||
	    !need_hex(&f, "liobn=", &ev->liobn) || !need_hex(&f, "dma64_base=", &ev->dma64_base))
		return -EINVAL;
	ddw = find_key(v, "ddw=");
	if (!ddw || (strncmp(ddw, "yes", 3) && strncmp(ddw, "no", 2))) {
		snprintf(err, errlen, "phb: field 'ddw' must be yes or no");
		return -EINVAL;
	}
	ev->ddw = !strncmp(ddw, "yes", 3);
	return 0;
}

static int parse_comment(const char *line, struct trace_event *ev, char *err, size_t errlen)
{
	const char *p = line + 1, *colon, *v;

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
		copy_str(ev->name, sizeof(ev->name), phase, strlen(phase));
		return 0;
	}
	/* # key: value, key made of [a-z0-9-] */
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
	copy_str(ev->name, sizeof(ev->name), p, (size_t)(colon - p));
	if (!strcmp(ev->name, "window"))
		return parse_window(v, ev, err, errlen);
	if (!strcmp(ev->name, "phb"))
		return parse_phb(v, ev, err, errlen);
	ev->type = TRACE_HEADER;
	copy_str(ev->text, sizeof(ev->text), v, strlen(v));
	return 0;
}

/* spapr_iommu_xlate: "liobn=L ADDR -> TRANSLATED perm=P mask=M" */
static int parse_xlate(struct field_ctx *f, struct trace_event *ev)
{
	const char *p, *end;

	if (!need_hex(f, "liobn=", &ev->liobn))
		return -EINVAL;
	p = field_value(f, "liobn=");
	while (*p && !is_space(*p))
		p++;
	while (is_space(*p))
		p++;
	if (!parse_hex(p, &ev->ioba, &end))
		goto bad;
	p = end;
	while (is_space(*p))
		p++;
	if (strncmp(p, "->", 2))
		goto bad;
	p += 2;
	while (is_space(*p))
		p++;
	if (!parse_hex(p, &ev->tce, &end))
		goto bad;
	if (!need_dec(f, "perm=", &ev->perm) || !need_hex(f, "mask=", &ev->mask))
		return -EINVAL;
	return 0;
bad:
	snprintf(f->err, f->errlen, "xlate: expected 'liobn=L ADDR -> TRANSLATED'");
	return -EINVAL;
}

/* ddw_query: "buid=B addr=A, N windows available, max window size=S, mask=M" */
static int parse_ddw_query(struct field_ctx *f, struct trace_event *ev)
{
	const char *p = strstr(f->args, " windows available"), *q;
	int64_t unused;

	if (!need_hex(f, "buid=", &ev->buid) || !need_hex(f, "addr=", &ev->cfgaddr))
		return -EINVAL;
	if (!p)
		goto bad;
	for (q = p; q > f->args && q[-1] >= '0' && q[-1] <= '9'; q--)
		;
	if (q == p || !parse_dec(q, false, &unused, &ev->windows, &p))
		goto bad;
	if (!need_hex(f, "max window size=", &ev->win_size) || !need_hex(f, "mask=", &ev->mask))
		return -EINVAL;
	return 0;
bad:
	snprintf(f->err, f->errlen, "ddw_query: missing 'N windows available'");
	return -EINVAL;
}

#define EV(name, type, pci) { name, sizeof(name) - 1, type, pci }
static const struct {
	const char *name;
	size_t len;
	enum trace_type type;
	bool pci;
} events[] = {
	EV("spapr_iommu_put", TRACE_PUT, false),
	EV("spapr_iommu_stuff", TRACE_STUFF, false),
	EV("spapr_iommu_indirect", TRACE_INDIRECT, false),
	EV("spapr_iommu_xlate", TRACE_XLATE, false),
	EV("spapr_iommu_pci_put", TRACE_PUT, true),
	EV("spapr_iommu_pci_stuff", TRACE_STUFF, true),
	EV("spapr_iommu_pci_indirect", TRACE_INDIRECT, true),
	EV("spapr_iommu_get", TRACE_GET, false),
	EV("spapr_iommu_pci_get", TRACE_GET, true),
	EV("spapr_iommu_new_table", TRACE_NEW_TABLE, false),
	EV("spapr_iommu_ddw_query", TRACE_DDW_QUERY, false),
	EV("spapr_iommu_ddw_create", TRACE_DDW_CREATE, false),
	EV("spapr_iommu_ddw_remove", TRACE_DDW_REMOVE, false),
	EV("spapr_iommu_ddw_reset", TRACE_DDW_RESET, false),
};
#undef EV

/* Skip QEMU's optional "PID@SEC.USEC:" prefix. */
static const char *skip_prefix(const char *s)
{
	const char *p = s;

	while (*p >= '0' && *p <= '9')
		p++;
	if (p == s || *p != '@')
		return s;
	p++;
	while ((*p >= '0' && *p <= '9') || *p == '.')
		p++;
	return *p == ':' ? p + 1 : s;
}

int trace_parse_line(const char *line, size_t len, struct trace_event *ev, char *err,
		     size_t errlen)
{
	struct field_ctx f = { .err = err, .errlen = errlen };
	const char *p = line, *args;
	size_t namelen;

	/* The numbers only: the two strings at the end are most of the struct. */
	memset(ev, 0, offsetof(struct trace_event, name));
	ev->name[0] = ev->text[0] = '\0';
	if (strlen(line) != len) {
		snprintf(err, errlen, "NUL byte in the line");
		return -EINVAL;
	}
	while (is_space(*p))
		p++;
	if (*p == '#')
		return parse_comment(p, ev, err, errlen);
	if (!*p) {
		ev->type = TRACE_COMMENT;
		return 0;
	}
	p = skip_prefix(p);
	for (namelen = 0; p[namelen] && !is_space(p[namelen]); namelen++)
		;
	args = p + namelen;
	while (is_space(*args))
		args++;
	f.args = args;
	copy_str(ev->name, sizeof(ev->name), p, namelen);
	f.event = ev->name;
	ev->type = TRACE_UNKNOWN;
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		if (events[i].len == namelen && !memcmp(p, events[i].name, namelen)) {
			ev->type = events[i].type;
			ev->pci = events[i].pci;
			break;
		}
	}

	switch (ev->type) {
	case TRACE_PUT:
	case TRACE_GET:
	case TRACE_INDIRECT:
	case TRACE_STUFF:
	case TRACE_NEW_TABLE:
	case TRACE_DDW_REMOVE:
		tokenize(&f);
		break;
	default:
		break;
	}
	switch (ev->type) {
	case TRACE_PUT:
		if (!need_hex(&f, "liobn=", &ev->liobn) || !need_hex(&f, "ioba=", &ev->ioba) ||
		    !need_hex(&f, "tce=", &ev->tce) || !need_ret(&f, &ev->ret))
			return -EINVAL;
		return 0;
	case TRACE_GET:
		if (!need_hex(&f, "liobn=", &ev->liobn) || !need_hex(&f, "ioba=", &ev->ioba) ||
		    !need_ret(&f, &ev->ret) || !need_hex(&f, "tce=", &ev->tce))
			return -EINVAL;
		return 0;
	case TRACE_INDIRECT:
		if (!need_hex(&f, "liobn=", &ev->liobn) || !need_hex(&f, "ioba=", &ev->ioba) ||
		    !need_hex(&f, "tcelist=", &ev->tcelist) || !need_hex(&f, "iobaN=", &ev->ioba_n) ||
		    !need_hex(&f, "tceN=", &ev->tce_n) || !need_ret(&f, &ev->ret))
			return -EINVAL;
		return 0;
	case TRACE_STUFF:
		if (!need_hex(&f, "liobn=", &ev->liobn) || !need_hex(&f, "ioba=", &ev->ioba) ||
		    !need_hex(&f, "tcevalue=", &ev->tce) || !need_dec(&f, "npages=", &ev->npages) ||
		    !need_ret(&f, &ev->ret))
			return -EINVAL;
		return 0;
	case TRACE_XLATE:
		return parse_xlate(&f, ev);
	case TRACE_NEW_TABLE:
		return need_hex(&f, "liobn=", &ev->liobn) ? 0 : -EINVAL;
	case TRACE_DDW_QUERY:
		return parse_ddw_query(&f, ev);
	case TRACE_DDW_CREATE:
		if (!need_hex(&f, "buid=", &ev->buid) || !need_hex(&f, "addr=", &ev->cfgaddr) ||
		    !need_hex(&f, "page size=", &ev->page_size) ||
		    !need_hex(&f, "requested=", &ev->req_size) ||
		    !need_hex(&f, "start addr=", &ev->start) || !need_hex(&f, "liobn=", &ev->liobn))
			return -EINVAL;
		return 0;
	case TRACE_DDW_REMOVE:
		return need_hex(&f, "liobn=", &ev->liobn) ? 0 : -EINVAL;
	case TRACE_DDW_RESET:
		if (!need_hex(&f, "buid=", &ev->buid) || !need_hex(&f, "addr=", &ev->cfgaddr))
			return -EINVAL;
		return 0;
	default:
		/* An event name must look like an identifier; anything else is not a trace line. */
		for (size_t i = 0; i < namelen; i++) {
			char c = p[i];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '_')) {
				snprintf(err, errlen, "not a trace event line");
				return -EINVAL;
			}
		}
		return 0;
	}
}

const char *trace_type_name(enum trace_type type)
{
	static const char *const names[] = {
		[TRACE_COMMENT] = "comment",	  [TRACE_HEADER] = "header",
		[TRACE_WINDOW] = "window",	  [TRACE_PHB] = "phb",
		[TRACE_MARK] = "mark",		  [TRACE_PUT] = "put",
		[TRACE_GET] = "get",		  [TRACE_INDIRECT] = "indirect",
		[TRACE_STUFF] = "stuff",	  [TRACE_XLATE] = "xlate",
		[TRACE_NEW_TABLE] = "new_table",  [TRACE_DDW_QUERY] = "ddw_query",
		[TRACE_DDW_CREATE] = "ddw_create", [TRACE_DDW_REMOVE] = "ddw_remove",
		[TRACE_DDW_RESET] = "ddw_reset",  [TRACE_UNKNOWN] = "unknown",
	};

	return (unsigned int)type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}
