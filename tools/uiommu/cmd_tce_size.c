// SPDX-License-Identifier: BSD-3-Clause
/*
 * uiommu tce-size: what a TCE table of a geometry costs, as the library
 * charges it (uiommu_tce_table_size(), bit for bit Linux powernv's
 * pnv_pci_ioda2_get_table_size()), or why the geometry is refused.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <uiommu/uiommu.h>

#include "cli.h"
#include "text.h"

/* Why the library refuses a geometry, in the order it checks. */
static void explain(unsigned int host, unsigned int ps, uint64_t window, unsigned int levels,
		    char *buf, size_t len)
{
	struct uiommu_tce_geometry g = { .size = sizeof(g) };
	char a[32], b[32];
	int n;

	if (levels < 1 || levels > UIOMMU_TCE_LEVELS_MAX) {
		snprintf(buf, len, "levels must be 1 to %u", UIOMMU_TCE_LEVELS_MAX);
		return;
	}
	if (ps < UIOMMU_TCE_PAGE_SHIFT_MIN || ps > UIOMMU_TCE_PAGE_SHIFT_MAX) {
		snprintf(buf, len, "the page shift must be %u (4 KiB) to %u (16 GiB)",
			 UIOMMU_TCE_PAGE_SHIFT_MIN, UIOMMU_TCE_PAGE_SHIFT_MAX);
		return;
	}
	if (!window || (window & (window - 1))) {
		snprintf(buf, len, "the window (0x%" PRIx64 " bytes) is not a power of two", window);
		return;
	}
	if (window < (1ULL << ps)) {
		snprintf(buf, len, "the window (%s) is smaller than one IOMMU page (%s)",
			 text_size(window, a, sizeof(a)), text_size(1ULL << ps, b, sizeof(b)));
		return;
	}
	if (uiommu_tce_geometry(host, ps, window, levels, &g) != -ERANGE) {
		snprintf(buf, len, "invalid geometry");
		return;
	}
	n = snprintf(buf, len,
		     "%u levels of %s pages (%u index bits each) and %s IOMMU pages reach %u "
		     "bits of bus address; fewer than %u are allowed (as Linux powernv)",
		     levels, text_size(1ULL << g.level_shift, a, sizeof(a)), g.level_shift - 3,
		     text_size(1ULL << ps, b, sizeof(b)), g.bus_addr_bits, UIOMMU_TCE_ADDR_BITS_MAX);
	/* Which level counts would do. */
	for (unsigned int l = 1, first = 1; l <= UIOMMU_TCE_LEVELS_MAX && n > 0 && (size_t)n < len;
	     l++) {
		if (!uiommu_tce_table_size(host, ps, window, l))
			continue;
		n += snprintf(buf + n, len - (size_t)n, "%s%u", first ? "; valid levels: " : ", ",
			      l);
		first = 0;
	}
}

static void usage_help(void);

static bool parse_uint(const char *s, unsigned int max, unsigned int *ret)
{
	uint64_t v;

	if (!cli_parse_u64(s, &v) || v > max)
		return false;
	*ret = (unsigned int)v;
	return true;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "page-shift", required_argument, NULL, 'p' },
		{ "window", required_argument, NULL, 'w' },
		{ "levels", required_argument, NULL, 'l' },
		{ "host-page-shift", required_argument, NULL, 'H' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	unsigned int ps = 0, levels = 0, host = 16;
	bool have_ps = false, have_window = false, have_levels = false, json = false;
	struct uiommu_tce_geometry g = { .size = sizeof(g) };
	uint64_t window = 0;
	char why[512];
	int c, ret;

	while ((c = getopt_long(argc, argv, "p:w:l:H:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!parse_uint(optarg, 64, &ps))
				return cli_usage_error("tce-size", "bad --page-shift '%s'", optarg);
			have_ps = true;
			break;
		case 'w':
			if (!cli_parse_u64(optarg, &window))
				return cli_usage_error("tce-size", "bad --window '%s'", optarg);
			have_window = true;
			break;
		case 'l':
			if (!parse_uint(optarg, 64, &levels))
				return cli_usage_error("tce-size", "bad --levels '%s'", optarg);
			have_levels = true;
			break;
		case 'H':
			if (!parse_uint(optarg, 64, &host) || (host != 12 && host != 16))
				return cli_usage_error("tce-size",
						       "--host-page-shift must be 12 or 16, not '%s'",
						       optarg);
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage_help();
			return EXIT_OK;
		default:
			return cli_usage_error("tce-size", "invalid option");
		}
	}
	if (optind < argc)
		return cli_usage_error("tce-size", "unexpected argument '%s'", argv[optind]);
	if (!have_ps || !have_window || !have_levels) {
		/* Name exactly the options missing, in the order the usage gives them. */
		const char *miss[3];
		int n = 0;

		if (!have_ps)
			miss[n++] = "--page-shift";
		if (!have_window)
			miss[n++] = "--window";
		if (!have_levels)
			miss[n++] = "--levels";
		if (n == 1)
			return cli_usage_error("tce-size", "%s is required", miss[0]);
		if (n == 2)
			return cli_usage_error("tce-size", "%s and %s are required", miss[0],
					       miss[1]);
		return cli_usage_error("tce-size", "%s, %s and %s are required", miss[0], miss[1],
				       miss[2]);
	}

	ret = uiommu_tce_geometry(host, ps, window, levels, &g);
	if (ret)
		explain(host, ps, window, levels, why, sizeof(why));

	if (json) {
		struct json_object *doc = json_object_new_object();

		json_object_object_add(doc, "schema", json_object_new_int(1));
		json_object_object_add(doc, "host_page_shift", json_object_new_int((int)host));
		json_object_object_add(doc, "page_shift", json_object_new_int((int)ps));
		json_object_object_add(doc, "window_size", cli_json_hex(window));
		json_object_object_add(doc, "levels", json_object_new_int((int)levels));
		json_object_object_add(doc, "valid", json_object_new_boolean(!ret));
		if (ret) {
			json_object_object_add(doc, "error", json_object_new_string(why));
		} else {
			json_object_object_add(doc, "it_size", cli_json_hex(g.it_size));
			json_object_object_add(doc, "it_level_size", cli_json_hex(g.it_level_size));
			json_object_object_add(doc, "level_page_size",
					       cli_json_hex(1ULL << g.level_shift));
			json_object_object_add(doc, "bus_addr_bits",
					       json_object_new_int((int)g.bus_addr_bits));
			json_object_object_add(doc, "hw_bytes", cli_json_hex(g.hw_size));
			json_object_object_add(doc, "userspace_bytes", cli_json_hex(g.hw_size));
			json_object_object_add(doc, "table_bytes", cli_json_hex(g.table_size));
			json_object_object_add(doc, "initial_bytes",
					       cli_json_hex(2ULL << g.level_shift));
		}
		cli_json_print(doc);
		json_object_put(doc);
	} else if (ret) {
		cli_error("invalid TCE table geometry: %s", why);
	} else {
		char h1[32], h2[32], h3[32];

		printf("TCE table: %s IOMMU pages, %s window, %u level%s, %s host pages\n",
		       text_size(1ULL << ps, h1, sizeof(h1)), text_size(window, h2, sizeof(h2)), levels,
		       levels == 1 ? "" : "s", text_size(1ULL << host, h3, sizeof(h3)));
		printf("  entries (it_size)       %" PRIu64 "%s\n", g.it_size,
		       g.it_size << ps > window ? " (at least a host page of TCEs: more than the window)"
						: "");
		printf("  entries per level page  %" PRIu64 " (level pages of %s)\n", g.it_level_size,
		       text_size(1ULL << g.level_shift, h1, sizeof(h1)));
		printf("  bus address bits        %u (fewer than %u allowed)\n", g.bus_addr_bits,
		       UIOMMU_TCE_ADDR_BITS_MAX);
		printf("  hardware levels         %" PRIu64 " bytes (%s)\n", g.hw_size,
		       text_size(g.hw_size, h1, sizeof(h1)));
		printf("  userspace shadow        %" PRIu64 " bytes (%s)\n", g.hw_size,
		       text_size(g.hw_size, h1, sizeof(h1)));
		printf("  charged (table_bytes)   %" PRIu64 " bytes (%s)\n", g.table_size,
		       text_size(g.table_size, h1, sizeof(h1)));
		printf("  held when empty         %" PRIu64 " bytes (the first level of each)\n",
		       (uint64_t)2 << g.level_shift);
	}
	return ret ? EXIT_FAIL : EXIT_OK;
}

const struct cli_cmd cmd_tce_size = {
	.name = "tce-size",
	.summary = "what a TCE table of a geometry costs, or why it is refused",
	.usage = "--page-shift N --window BYTES --levels N [--host-page-shift 12|16] [--json]\n\n"
		 "Prints the bytes a TCE table takes (hardware levels plus the userspace\n"
		 "shadow), as the library charges it and as Linux powernv's\n"
		 "pnv_pci_ioda2_get_table_size() counts it, with its entries and level\n"
		 "pages; or why the geometry is refused (exit status 1).\n\n"
		 "  -p, --page-shift N        IOMMU page size, log2 of bytes: 12 (4 KiB) to 34 (16 GiB)\n"
		 "  -w, --window BYTES        DMA window size, a power of two (K, M, G, T suffixes)\n"
		 "  -l, --levels N            levels of the table, 1 to 5\n"
		 "  -H, --host-page-shift N   the host's page size: 16 (64 KiB, default) or 12\n"
		 "  -j, --json                one JSON document on stdout (64-bit values as hex strings)\n"
		 "  -h, --help                this text",
	.run = run,
};

static void usage_help(void)
{
	cli_print_help(&cmd_tce_size);
}
