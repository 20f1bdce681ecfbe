// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fuzz driver: the trace parser of 'uiommu replay'.
 *
 * First byte even: the model. Events are drawn from the input, printed the
 * way QEMU prints them (hex with or without "0x", with or without the
 * "PID@SEC.USEC:" prefix, spaces or tabs), parsed back, and every field
 * must come back equal.
 * First byte odd: raw bytes, split into lines: the parser must not crash,
 * must give a message with every error, and must never accept a line that
 * does not start like an event, a comment or a header.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "trace.h"

static void hex(char *buf, size_t cap, uint64_t v, bool prefix)
{
	snprintf(buf, cap, prefix ? "0x%" PRIx64 : "%" PRIx64, v);
}

static void model(struct fuzz_input *in)
{
	while (!fuzz_done(in)) {
		unsigned int kind = (unsigned int)fuzz_take(in, 1) % 6;
		unsigned int style = (unsigned int)fuzz_take(in, 1);
		bool ox = style & 1, prefix = style & 2, pci = style & 4;
		const char *sep = style & 8 ? "\t" : " ";
		uint64_t a = fuzz_take(in, 8), b = fuzz_take(in, 8), c = fuzz_take(in, 8);
		uint64_t d = fuzz_take(in, 8), e = fuzz_take(in, 8);
		int64_t ret = (int64_t)fuzz_take(in, 8);
		char h[5][24], line[1024], err[256], pre[64] = "";
		struct trace_event ev;
		const char *pfx = pci ? "pci_" : "";
		int n;

		hex(h[0], sizeof(h[0]), a, ox);
		hex(h[1], sizeof(h[1]), b, ox);
		hex(h[2], sizeof(h[2]), c, ox);
		hex(h[3], sizeof(h[3]), d, ox);
		hex(h[4], sizeof(h[4]), e, ox);
		if (prefix)
			snprintf(pre, sizeof(pre), "%u@%u.%06u:", (unsigned int)(a & 0xffff),
				 (unsigned int)(b & 0xffffff), (unsigned int)(c % 1000000));
		switch (kind) {
		case 0:
			n = snprintf(line, sizeof(line), "%sspapr_iommu_%sput liobn=%s%sioba=%s%stce=%s%sret=%" PRId64,
				     pre, pfx, h[0], sep, h[1], sep, h[2], sep, ret);
			break;
		case 1:
			n = snprintf(line, sizeof(line), "%sspapr_iommu_%sindirect liobn=%s ioba=%s tcelist=%s iobaN=%s tceN=%s ret=%" PRId64,
				     pre, pfx, h[0], h[1], h[2], h[3], h[4], ret);
			break;
		case 2:
			n = snprintf(line, sizeof(line), "%sspapr_iommu_%sstuff liobn=%s ioba=%s tcevalue=%s npages=%" PRIu64 " ret=%" PRId64,
				     pre, pfx, h[0], h[1], h[2], d, ret);
			break;
		case 3:
			n = snprintf(line, sizeof(line), "%sspapr_iommu_xlate liobn=%s %s -> %s perm=%u mask=%s",
				     pre, h[0], h[1], h[2], (unsigned int)(d & 3), h[4]);
			break;
		case 4:
			n = snprintf(line, sizeof(line), "%sspapr_iommu_ddw_create buid=%s addr=%s, page size=%s, requested=%s, start addr=%s, liobn=%s",
				     pre, h[0], h[1], h[2], h[3], h[4], h[0]);
			break;
		default:
			n = snprintf(line, sizeof(line), "%sspapr_iommu_ddw_query buid=%s addr=%s, %" PRIu64 " windows available, max window size=%s, mask=%s",
				     pre, h[0], h[1], d, h[2], h[4]);
			break;
		}
		FUZZ_CHECK(!trace_parse_line(line, (size_t)n, &ev, err, sizeof(err)),
			   "'%s' rejected: %s", line, err);
		switch (kind) {
		case 0:
			FUZZ_CHECK(ev.type == TRACE_PUT && ev.pci == pci && ev.liobn == a &&
				   ev.ioba == b && ev.tce == c && ev.ret == ret, "put '%s'", line);
			break;
		case 1:
			FUZZ_CHECK(ev.type == TRACE_INDIRECT && ev.liobn == a && ev.ioba == b &&
				   ev.tcelist == c && ev.ioba_n == d && ev.tce_n == e && ev.ret == ret,
				   "indirect '%s'", line);
			break;
		case 2:
			FUZZ_CHECK(ev.type == TRACE_STUFF && ev.liobn == a && ev.ioba == b &&
				   ev.tce == c && ev.npages == d && ev.ret == ret, "stuff '%s'", line);
			break;
		case 3:
			FUZZ_CHECK(ev.type == TRACE_XLATE && ev.liobn == a && ev.ioba == b &&
				   ev.tce == c && ev.perm == (d & 3) && ev.mask == e, "xlate '%s'", line);
			break;
		case 4:
			FUZZ_CHECK(ev.type == TRACE_DDW_CREATE && ev.buid == a && ev.cfgaddr == b &&
				   ev.page_size == c && ev.req_size == d && ev.start == e &&
				   ev.liobn == a, "ddw_create '%s'", line);
			break;
		default:
			FUZZ_CHECK(ev.type == TRACE_DDW_QUERY && ev.buid == a && ev.cfgaddr == b &&
				   ev.windows == d && ev.win_size == c && ev.mask == e,
				   "ddw_query '%s'", line);
			break;
		}
	}
}

static void raw(const uint8_t *data, size_t size)
{
	char line[4096];
	size_t pos = 0;

	while (pos < size) {
		size_t n = 0;
		struct trace_event ev;
		char err[256] = "";
		int ret;

		while (pos < size && data[pos] != '\n' && n < sizeof(line) - 1)
			line[n++] = (char)data[pos++];
		pos++;
		line[n] = '\0';
		ret = trace_parse_line(line, n, &ev, err, sizeof(err));
		FUZZ_CHECK(ret == 0 || ret == -EINVAL, "return %d", ret);
		if (ret)
			FUZZ_CHECK(err[0], "an error without a message");
		else
			FUZZ_CHECK(ev.type <= TRACE_UNKNOWN &&
				   (!ev.name_len || (ev.name >= line && ev.name + ev.name_len <= line + n)) &&
				   (!ev.text_len || (ev.text >= line && ev.text + ev.text_len <= line + n)),
				   "event strings outside the line");
	}
}

int fuzz_trace(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size, 1 };

	if (!size)
		return 0;
	if (data[0] & 1)
		raw(data + 1, size - 1);
	else
		model(&in);
	return 0;
}
