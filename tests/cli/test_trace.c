// SPDX-License-Identifier: BSD-3-Clause
/*
 * The trace parser and the streaming input of 'uiommu replay': QEMU's
 * event formats (7.2 lines taken from real traces, and the older spelling
 * without "0x"), the recorder's header, malformed lines, xz and plain
 * input, long lines, a last line without a newline.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "input.h"
#include "text.h"
#include "trace.h"

static struct trace_event parse_ok(const char *line)
{
	struct trace_event ev;
	char err[256] = "";

	if (trace_parse_line(line, strlen(line), &ev, err, sizeof(err))) {
		print_error("unexpected parse error for '%s': %s\n", line, err);
		fail();
	}
	return ev;
}

/* A string the parser points into the line: @len bytes at @s. */
static void assert_text(const char *s, size_t len, const char *want)
{
	if (len != strlen(want) || memcmp(s, want, len)) {
		print_error("'%.*s' is not '%s'\n", (int)len, s, want);
		fail();
	}
}

static void parse_bad(const char *line, const char *why)
{
	struct trace_event ev;
	char err[256] = "";

	if (!trace_parse_line(line, strlen(line), &ev, err, sizeof(err))) {
		print_error("'%s' parsed, expected an error\n", line);
		fail();
	}
	if (why && !strstr(err, why)) {
		print_error("'%s': error '%s' does not mention '%s'\n", line, err, why);
		fail();
	}
}

static void test_hcall_events(void **state)
{
	struct trace_event ev;

	(void)state;
	ev = parse_ok("18371@1795312665.167118:spapr_iommu_put liobn=0x71000002 ioba=0x1000 tce=0x2f25003 ret=0");
	assert_int_equal(ev.type, TRACE_PUT);
	assert_false(ev.pci);
	assert_true(ev.liobn == 0x71000002 && ev.ioba == 0x1000 && ev.tce == 0x2f25003);
	assert_int_equal(ev.ret, 0);

	ev = parse_ok("18371@1795312665.168374:spapr_iommu_indirect liobn=0x71000002 ioba=0xc000000 tcelist=0x2360000 iobaN=0xf tceN=0x234f003 ret=0");
	assert_int_equal(ev.type, TRACE_INDIRECT);
	assert_true(ev.ioba == 0xc000000 && ev.tcelist == 0x2360000 && ev.ioba_n == 0xf &&
		    ev.tce_n == 0x234f003);

	ev = parse_ok("18371@1795312662.087004:spapr_iommu_stuff liobn=0x71000002 ioba=0x200000 tcevalue=0x0 npages=512 ret=0");
	assert_int_equal(ev.type, TRACE_STUFF);
	assert_true(ev.npages == 512 && ev.ioba == 0x200000 && ev.tce == 0);

	ev = parse_ok("18586@1795312809.402533:spapr_iommu_pci_put liobn=0x80000000 ioba=0x1000 tce=0x4832001 ret=0");
	assert_int_equal(ev.type, TRACE_PUT);
	assert_true(ev.pci);

	/* Older QEMU: liobn without 0x; no pid@time prefix; a failed call. */
	ev = parse_ok("spapr_iommu_pci_stuff liobn=80000000 ioba=0x40000000 tcevalue=0x0 npages=512 ret=-4");
	assert_int_equal(ev.type, TRACE_STUFF);
	assert_true(ev.liobn == 0x80000000);
	assert_int_equal(ev.ret, -4);

	ev = parse_ok("spapr_iommu_get liobn=71000002 ioba=0x2000 ret=0 tce=0x5003");
	assert_int_equal(ev.type, TRACE_GET);
	assert_true(ev.tce == 0x5003);
	ev = parse_ok("  spapr_iommu_pci_get liobn=0x80000000 ioba=0x0 ret=-4 tce=0x0\r");
	assert_int_equal(ev.ret, -4);

	/* Values at the edges of 64 bits (found by the fuzzer: UINT64_MAX in decimal). */
	ev = parse_ok("spapr_iommu_stuff liobn=0x1 ioba=0x0 tcevalue=0x0 npages=18446744073709551615 ret=0");
	assert_true(ev.npages == UINT64_MAX);
	parse_bad("spapr_iommu_stuff liobn=0x1 ioba=0x0 tcevalue=0x0 npages=18446744073709551616 ret=0",
		  "npages");
	ev = parse_ok("spapr_iommu_put liobn=0xffffffffffffffff ioba=0xffffffffffffffff tce=0xffffffffffffffff ret=-9223372036854775808");
	assert_true(ev.liobn == UINT64_MAX && ev.ret == INT64_MIN);
}

static void test_other_events(void **state)
{
	struct trace_event ev;

	(void)state;
	ev = parse_ok("17877@1795312585.893702:spapr_iommu_xlate liobn=0x80000000 0x30001002 -> 0x2341000 perm=3 mask=0xfff");
	assert_int_equal(ev.type, TRACE_XLATE);
	assert_true(ev.ioba == 0x30001002 && ev.tce == 0x2341000 && ev.perm == 3 && ev.mask == 0xfff);
	ev = parse_ok("spapr_iommu_xlate liobn=80000000 30001002 -> 0 perm=0 mask=ffffffff");
	assert_true(ev.ioba == 0x30001002 && ev.tce == 0 && ev.mask == 0xffffffff);

	ev = parse_ok("18369@1795312654.624338:spapr_iommu_new_table liobn=0x71000002 table=0x5632562b1d30 fd=-1");
	assert_int_equal(ev.type, TRACE_NEW_TABLE);
	assert_true(ev.liobn == 0x71000002);

	ev = parse_ok("18821@1795313053.264958:spapr_iommu_ddw_query buid=0x800000020000000 addr=0x0, 1 windows available, max window size=0x80000000, mask=0x107");
	assert_int_equal(ev.type, TRACE_DDW_QUERY);
	assert_true(ev.buid == 0x800000020000000ULL && ev.cfgaddr == 0 && ev.windows == 1 &&
		    ev.win_size == 0x80000000 && ev.mask == 0x107);

	ev = parse_ok("18821@1795313053.265917:spapr_iommu_ddw_create buid=0x800000020000000 addr=0x0, page size=0x1000000, requested=0x40000000, start addr=0x800000000000000, liobn=0x80000001");
	assert_int_equal(ev.type, TRACE_DDW_CREATE);
	assert_true(ev.page_size == 0x1000000 && ev.req_size == 0x40000000 &&
		    ev.start == 0x800000000000000ULL && ev.liobn == 0x80000001 && ev.cfgaddr == 0);
	/* The older spelling, no 0x anywhere. */
	ev = parse_ok("spapr_iommu_ddw_create buid=800000020000000 addr=10, page size=0x10000, requested=0x80000000, start addr=800000000000000, liobn=80000001");
	assert_true(ev.cfgaddr == 0x10 && ev.start == 0x800000000000000ULL);

	ev = parse_ok("spapr_iommu_ddw_remove liobn=0x80000001");
	assert_int_equal(ev.type, TRACE_DDW_REMOVE);
	ev = parse_ok("spapr_iommu_ddw_reset buid=0x800000020000000 addr=0x0");
	assert_int_equal(ev.type, TRACE_DDW_RESET);

	/* Events the replayer does not use are counted, not errors. */
	ev = parse_ok("123@1.5:spapr_pci_msi_setup dev\"x\" vector 3, addr=1000");
	assert_int_equal(ev.type, TRACE_UNKNOWN);
	assert_text(ev.name, ev.name_len, "spapr_pci_msi_setup");
	ev = parse_ok("spapr_iommu_pre_save liobn=1 2 bus_offset=0 ps=12");
	assert_int_equal(ev.type, TRACE_UNKNOWN);
}

static void test_header(void **state)
{
	struct trace_event ev;

	(void)state;
	ev = parse_ok("# uiommu-trace: 1");
	assert_int_equal(ev.type, TRACE_HEADER);
	assert_text(ev.name, ev.name_len, "uiommu-trace");
	assert_text(ev.text, ev.text_len, "1");
	ev = parse_ok("# qemu-cmdline: qemu-system-ppc64 -M pseries -m 1G");
	assert_text(ev.text, ev.text_len, "qemu-system-ppc64 -M pseries -m 1G");
	ev = parse_ok("# window: liobn=0x71000002 bus_offset=0x0 size=0x10000000 page_shift=12 node=/vdevice/v-scsi@71000002");
	assert_int_equal(ev.type, TRACE_WINDOW);
	assert_true(ev.liobn == 0x71000002 && ev.size == 0x10000000 && ev.page_shift == 12);
	assert_text(ev.text, ev.text_len, "/vdevice/v-scsi@71000002");
	ev = parse_ok("# phb: index=0 buid=0x800000020000000 liobn=0x80000000 ddw=yes dma64_base=0x800000000000000");
	assert_int_equal(ev.type, TRACE_PHB);
	assert_true(ev.index == 0 && ev.ddw && ev.dma64_base == 0x800000000000000ULL);
	ev = parse_ok("# MARK 1795312672.146070 disk-read-512-direct");
	assert_int_equal(ev.type, TRACE_MARK);
	assert_text(ev.name, ev.name_len, "disk-read-512-direct");
	/* Comments: anything else after '#', and empty lines. */
	assert_int_equal(parse_ok("# just a remark").type, TRACE_COMMENT);
	assert_int_equal(parse_ok("#").type, TRACE_COMMENT);
	assert_int_equal(parse_ok("").type, TRACE_COMMENT);
	assert_int_equal(parse_ok("   ").type, TRACE_COMMENT);
	assert_int_equal(parse_ok("# key:value-without-space").type, TRACE_COMMENT);
}

static void test_malformed(void **state)
{
	(void)state;
	parse_bad("spapr_iommu_put liobn=0x71000002 ioba=0x1000 ret=0",
		  "spapr_iommu_put: no field 'tce='");
	parse_bad("spapr_iommu_put liobn=zz ioba=0x1000 tce=0x1 ret=0",
		  "liobn='zz' is not a hex number");
	parse_bad("spapr_iommu_put liobn=0x1 ioba=0x1000 tce=0x1 ret=x",
		  "ret='x' is not a signed decimal number");
	parse_bad("spapr_iommu_put liobn=0x1 ioba=0x1000 tce=0x1 ret=99999999999999999999",
		  "ret='99999999999999999999'");
	parse_bad("spapr_iommu_put liobn=0x10000000000000000 ioba=0 tce=0 ret=0",
		  "liobn='0x10000000000000000' is not a hex number of at most 64 bits");
	parse_bad("spapr_iommu_put liobn=0x ioba=0 tce=0 ret=0", "liobn='0x'");
	parse_bad("spapr_iommu_stuff liobn=0x1 ioba=0x0 tcevalue=0x0 npages=-3 ret=0",
		  "npages='-3' is not a decimal number");
	parse_bad("spapr_iommu_indirect liobn=0x1 ioba=0x0 tcelist=0x0 iobaN=0x0 ret=0",
		  "no field 'tceN='");
	parse_bad("spapr_iommu_xlate liobn=0x1 0x10 => 0x20 perm=3 mask=0xfff",
		  "expected 'liobn=L ADDR -> TRANSLATED'");
	parse_bad("spapr_iommu_xlate liobn=0x1 0x10 -> 0x20 mask=0xfff", "no field 'perm='");
	parse_bad("spapr_iommu_ddw_query buid=0x1 addr=0x0, max window size=0x1, mask=0x1",
		  "windows available");
	parse_bad("spapr_iommu_ddw_create buid=0x1 addr=0x0, page size=0x1000, requested=0x1000, liobn=0x1",
		  "no field 'start addr='");
	parse_bad("# window: liobn=0x1 bus_offset=0x0 page_shift=12", "window: no field 'size='");
	parse_bad("# phb: index=0 buid=0x1 liobn=0x80000000 ddw=maybe dma64_base=0x0",
		  "ddw='maybe' is not yes or no");
	parse_bad("# MARK 123.4", "phase");
	parse_bad("not-an-event at all", "not a trace event line: 'not-an-event at all'");
	/* A key given twice is an error, whichever would win. */
	parse_bad("spapr_iommu_put liobn=0x1 liobn=0x2 ioba=0x1000 tce=0x1 ret=0",
		  "field 'liobn=' appears twice");
	parse_bad("spapr_iommu_ddw_create buid=0x1 addr=0x0, page size=0x1000, requested=0x1000, start addr=0x0, liobn=0x1, liobn=0x2",
		  "field 'liobn=' appears twice");
	parse_bad("# window: liobn=0x1 bus_offset=0x0 size=0x1000 size=0x2000 page_shift=12",
		  "field 'size=' appears twice");
	/* Many fields before the one looked for: still found, none cut off. */
	{
		struct trace_event ev = parse_ok("spapr_iommu_put a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8 i=9 j=10 k=11 l=12 m=13 liobn=0x7 ioba=0x1000 tce=0x3 ret=0");

		assert_true(ev.liobn == 7 && ev.tce == 3);
	}
	/* Values are quoted safely. */
	parse_bad("spapr_iommu_put liobn=\x1b[31m ioba=0 tce=0 ret=0", "liobn='\\x1b[31m'");
	{
		/* A NUL inside the line. */
		struct trace_event ev;
		char err[64];

		assert_int_equal(trace_parse_line("spapr\0_iommu", 12, &ev, err, sizeof(err)),
				 -EINVAL);
		assert_int_equal(trace_parse_line("spapr_iommu_put liobn=1\0 ioba=0 tce=0 ret=0", 44,
						  &ev, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "NUL"));
		assert_int_equal(trace_parse_line("# end: ok\0x", 11, &ev, err, sizeof(err)),
				 -EINVAL);
	}
}

/* ---- text for messages, terminals and JSON ---- */

static void test_text(void **state)
{
	char buf[64], q[16];

	(void)state;
	/* Clean text is returned as it is; anything else is replaced, character by character. */
	assert_string_equal(text_utf8("caf\xc3\xa9 \xe2\x82\xac\ttab", buf, sizeof(buf)),
			    "caf\xc3\xa9 \xe2\x82\xac\ttab");
	assert_string_equal(text_utf8("a\xff" "b", buf, sizeof(buf)), "a\xef\xbf\xbd" "b");
	assert_string_equal(text_utf8("\x1b[31m", buf, sizeof(buf)), "\xef\xbf\xbd[31m");
	assert_string_equal(text_utf8("\xc0\xaf", buf, sizeof(buf)), "\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(text_utf8("\xed\xa0\x80", buf, sizeof(buf)),
			    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");	/* a surrogate */
	assert_string_equal(text_utf8("\xc2\x85", buf, sizeof(buf)), "\xef\xbf\xbd\xef\xbf\xbd");	/* C1 */
	assert_string_equal(text_utf8("\xe2\x82", buf, sizeof(buf)), "\xef\xbf\xbd\xef\xbf\xbd");	/* cut */
	/* Cut to fit, at a character boundary. */
	assert_string_equal(text_utf8("\xff\xff\xff", buf, 7), "\xef\xbf\xbd\xef\xbf\xbd");
	/* Quoting: printable ASCII, \xNN, "..." when cut. */
	assert_string_equal(text_quote(q, sizeof(q), "ab\x01\xff" "cdefghijkl", 14), "ab\\x01\\xffcd...");
	assert_string_equal(text_quote(q, sizeof(q), "short", 5), "short");
	assert_string_equal(text_size(4096, buf, sizeof(buf)), "4 KiB");
	assert_string_equal(text_size(100, buf, sizeof(buf)), "100 bytes");
}

/* ---- input ---- */

static char *write_tmp(const void *data, size_t len, const char *compress)
{
	static char path[64];
	char cmd[160];
	FILE *f;
	int fd;

	strcpy(path, "/tmp/uiommu-test-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "wb");
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	if (compress) {
		snprintf(cmd, sizeof(cmd), "%s %s", compress, path);
		assert_int_equal(system(cmd), 0);
		strcat(path, ".xz");
	}
	return path;
}

static void read_lines(const char *path, const char *const *want, int nwant)
{
	struct input *in;
	char *line;
	size_t len;
	int n = 0, ret;

	assert_int_equal(input_open(&in, path), 0);
	while ((ret = input_getline(in, &line, &len)) == 1) {
		assert_true(n < nwant);
		assert_string_equal(line, want[n]);
		assert_int_equal(len, strlen(want[n]));
		n++;
		assert_int_equal(in->lineno, (uint64_t)n);
	}
	assert_int_equal(ret, 0);
	assert_int_equal(n, nwant);
	input_stop(in);
}

static void test_input_plain_and_xz(void **state)
{
	static const char text[] = "first\r\nsecond\n\nlast without newline";
	static const char *const want[] = { "first", "second", "", "last without newline" };
	char *p;

	(void)state;
	p = write_tmp(text, sizeof(text) - 1, NULL);
	read_lines(p, want, 4);
	unlink(p);
	if (system("command -v xz >/dev/null 2>&1") != 0)
		skip();
	p = write_tmp(text, sizeof(text) - 1, "xz -q");
	read_lines(p, want, 4);
	unlink(p);
}

/* A big input crosses many decode chunks; line numbers and bytes stay exact. */
static void test_input_large_xz(void **state)
{
	size_t n = 200000, len = 0;
	char *text = malloc(n * 40), *p;
	struct input *in;
	char *line;
	size_t l;
	uint64_t count = 0;

	(void)state;
	if (system("command -v xz >/dev/null 2>&1") != 0)
		skip();
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, "spapr_iommu_put liobn=0x1 ioba=0x%zx\n", i);
	p = write_tmp(text, len, "xz -q -0");
	assert_int_equal(input_open(&in, p), 0);
	while (input_getline(in, &line, &l) == 1) {
		char want[64];

		snprintf(want, sizeof(want), "spapr_iommu_put liobn=0x1 ioba=0x%llx",
			 (unsigned long long)count);
		assert_string_equal(line, want);
		count++;
	}
	assert_true(count == n);
	assert_true(in->bytes == len);
	assert_true(in->text_size == len); /* from the xz index */
	input_stop(in);
	unlink(p);
	free(text);
}

static void test_input_errors(void **state)
{
	struct input *in;
	char *line;
	size_t len;
	char *big, *p;

	(void)state;
	assert_int_equal(input_open(&in, "/nonexistent/trace"), -ENOENT);
	assert_non_null(strstr(in->err, "No such file"));
	input_stop(in);

	/* A line longer than the limit is an error, not a silent cut. */
	big = malloc(INPUT_MAX_LINE + 10);
	memset(big, 'a', INPUT_MAX_LINE + 9);
	big[INPUT_MAX_LINE + 9] = '\n';
	p = write_tmp(big, INPUT_MAX_LINE + 10, NULL);
	assert_int_equal(input_open(&in, p), 0);
	assert_int_equal(input_getline(in, &line, &len), -EOVERFLOW);
	assert_non_null(strstr(in->err, "longer than"));
	input_stop(in);
	unlink(p);
	free(big);

	/* A truncated xz stream is an error. */
	if (system("command -v xz >/dev/null 2>&1") == 0) {
		char cmd[200], *q;

		p = write_tmp("some text\nmore text\n", 20, "xz -q");
		q = strdup(p);
		snprintf(cmd, sizeof(cmd), "truncate -s 40 %s", q);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(input_open(&in, q), 0);
		while (input_getline(in, &line, &len) == 1)
			;
		assert_int_equal(input_getline(in, &line, &len), -EIO);
		assert_non_null(strstr(in->err, "xz data is"));
		input_stop(in);
		unlink(q);
		free(q);
	}
}

/* input_restart(): a new list with the same reader, dropping what was left of the old one. */
static void test_input_restart(void **state)
{
	static const char a[] = "a1\na2\na3\n", b[] = "b1\nb2";
	char *pa, *pb, *line;
	const char *paths[2];
	struct input *in;
	size_t len;

	(void)state;
	pa = strdup(write_tmp(a, sizeof(a) - 1, NULL));
	pb = strdup(write_tmp(b, sizeof(b) - 1, NULL));
	paths[0] = pa;
	paths[1] = pb;
	in = input_start(paths, 2);
	assert_non_null(in);
	assert_int_equal(input_next(in), 0);
	assert_int_equal(input_getline(in, &line, &len), 1);
	assert_string_equal(line, "a1");

	/* Part way through the first of two: the second is dropped too. */
	paths[0] = pb;
	assert_int_equal(input_restart(in, paths, 1), 0);
	assert_int_equal(input_next(in), 0);
	assert_string_equal(in->path, pb);
	assert_int_equal(input_getline(in, &line, &len), 1);
	assert_string_equal(line, "b1");
	assert_int_equal(input_getline(in, &line, &len), 1);
	assert_string_equal(line, "b2");
	assert_int_equal(in->lineno, 2);
	assert_int_equal(input_getline(in, &line, &len), 0);
	assert_int_equal(input_next(in), 1);

	/* After the end of a list, with more inputs than before; and an empty list. */
	paths[0] = "/nonexistent/trace";
	paths[1] = pa;
	assert_int_equal(input_restart(in, paths, 2), 0);
	assert_int_equal(input_next(in), -ENOENT);
	assert_non_null(strstr(in->err, "No such file"));
	assert_int_equal(input_next(in), 0);
	for (int i = 1; i <= 3; i++)
		assert_int_equal(input_getline(in, &line, &len), 1);
	assert_string_equal(line, "a3");
	assert_int_equal(in->bytes, sizeof(a) - 1);
	assert_int_equal(input_restart(in, paths, 0), 0);
	assert_int_equal(input_next(in), 1);
	input_stop(in);
	unlink(pa);
	unlink(pb);
	free(pa);
	free(pb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hcall_events),
		cmocka_unit_test(test_other_events),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_input_plain_and_xz),
		cmocka_unit_test(test_input_large_xz),
		cmocka_unit_test(test_input_errors),
		cmocka_unit_test(test_input_restart),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
