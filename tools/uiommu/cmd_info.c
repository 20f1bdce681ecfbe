// SPDX-License-Identifier: BSD-3-Clause
/*
 * uiommu info: what the library is, what this machine lets it do, and the
 * default limits of a context. Every line comes from a real call: it makes
 * a context, a memfd RAM region, scattered host frames and a pin, and
 * checks what it reads back.
 */
#include <errno.h>
#include <getopt.h>
#include <unistd.h>
#include <inttypes.h>
#include <string.h>

#include <uiommu/uiommu.h>

#include "cli.h"

struct probe {
	const char *name;
	int err;	  /* 0: works */
	const char *note; /* what it means when it does not */
};

/* RAM region: write through the library's mapping, read back through the memfd. */
static int probe_ram(struct uiommu_ctx *ctx)
{
	uint64_t hpa, off;
	void *hva;
	int fd, ret;
	uint32_t v = 0;

	ret = uiommu_ram_create(ctx, 1 << 20, &hpa, &hva);
	if (ret)
		return ret;
	((volatile uint32_t *)hva)[3] = 0xc0ffee;
	ret = uiommu_ram_get_fd(ctx, hpa + 12, &fd, &off, NULL);
	if (!ret && (pread(fd, &v, sizeof(v), (off_t)off) != sizeof(v) || v != 0xc0ffee))
		ret = -EIO;
	uiommu_ram_remove(ctx, hpa);
	return ret;
}

/* Scattered hostmem: no page may be physically followed by the next one. */
static int probe_scatter(struct uiommu_ctx *ctx)
{
	uint64_t prev = 0, hpa;
	char *buf;
	int ret;

	ret = uiommu_hostmem_alloc(ctx, 16 << 12, 12, UIOMMU_HOSTMEM_SCATTER, (void **)&buf);
	if (ret)
		return ret;
	for (int i = 0; i < 16 && !ret; i++) {
		ret = uiommu_hva_to_hpa(ctx, buf + (i << 12), &hpa);
		if (!ret && i && hpa == prev + 4096)
			ret = -EIO;
		prev = hpa;
	}
	uiommu_hostmem_free(ctx, buf);
	return ret;
}

/* Pinning with a real mlock(2). */
static int probe_pin(struct uiommu_ctx *ctx)
{
	void *buf;
	int ret;

	ret = uiommu_hostmem_alloc(ctx, 64 << 10, 16, 0, &buf);
	if (ret)
		return ret;
	ret = uiommu_pin(ctx, buf, 64 << 10, NULL);
	if (!ret)
		ret = uiommu_unpin(ctx, buf, 64 << 10);
	uiommu_hostmem_free(ctx, buf);
	return ret;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct probe probes[3] = {
		{ "memfd_ram_region", 0, "memfd_create(2) or mmap(2) failed" },
		{ "scattered_frames", 0, "host frames could not be scattered" },
		{ "mlock_pin", 0, "mlock(2) refused: raise RLIMIT_MEMLOCK or use CAP_IPC_LOCK" },
	};
	uint64_t limits_default[UIOMMU_RES_NR];
	struct uiommu_ctx *ctx;
	bool json = false;
	int c, ret;

	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			cli_print_help(&cmd_info);
			return EXIT_OK;
		default:
			return cli_usage_error("info", "invalid option");
		}
	}
	if (optind < argc)
		return cli_usage_error("info", "unexpected argument '%s'", argv[optind]);

	ret = uiommu_ctx_new(NULL, &ctx);
	if (ret) {
		cli_error("cannot create a context: %s", uiommu_strerror(ret));
		return EXIT_FAIL;
	}
	for (int r = 0; r < UIOMMU_RES_NR; r++)
		uiommu_ctx_get_limit(ctx, (enum uiommu_resource)r, &limits_default[r]);
	/* The probes pin 64 KiB: make sure a small RLIMIT_MEMLOCK is not the question. */
	uiommu_ctx_set_limit(ctx, UIOMMU_RES_LOCKED_BYTES, 1 << 20);
	probes[0].err = probe_ram(ctx);
	probes[1].err = probe_scatter(ctx);
	probes[2].err = probe_pin(ctx);

	if (json) {
		struct json_object *doc = json_object_new_object();
		struct json_object *limits = json_object_new_object();
		struct json_object *pr = json_object_new_object();

		json_object_object_add(doc, "schema", json_object_new_int(1));
		json_object_object_add(doc, "tool_version",
				       json_object_new_string(UIOMMU_TOOL_VERSION));
		json_object_object_add(doc, "library_version",
				       json_object_new_string(uiommu_version()));
		json_object_object_add(doc, "host_page_shift",
				       json_object_new_int((int)uiommu_ctx_host_page_shift(ctx)));
		json_object_object_add(doc, "hpa_library_base", cli_json_hex(UIOMMU_HPA_LIBRARY_BASE));
		json_object_object_add(doc, "hpa_library_size", cli_json_hex(UIOMMU_HPA_LIBRARY_SIZE));
		json_object_object_add(doc, "hpa_limit", cli_json_hex(UIOMMU_HPA_LIMIT));
		for (int r = 0; r < UIOMMU_RES_NR; r++)
			json_object_object_add(limits, uiommu_resource_name((enum uiommu_resource)r),
					       cli_json_hex(limits_default[r]));
		json_object_object_add(doc, "default_limits", limits);
		for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
			json_object_object_add(pr, probes[i].name,
					       json_object_new_string(probes[i].err ?
						       uiommu_errno_name(probes[i].err) : "ok"));
		json_object_object_add(doc, "probes", pr);
		cli_json_print(doc);
		json_object_put(doc);
	} else {
		printf("uiommu %s, library %s\n", UIOMMU_TOOL_VERSION, uiommu_version());
		printf("modelled host page size   %u KiB\n",
		       (1u << uiommu_ctx_host_page_shift(ctx)) >> 10);
		printf("library RAM region        hpa 0x%016" PRIx64 " + 0x%" PRIx64 "\n",
		       (uint64_t)UIOMMU_HPA_LIBRARY_BASE, (uint64_t)UIOMMU_HPA_LIBRARY_SIZE);
		printf("hpa limit                 0x%016" PRIx64 "\n", (uint64_t)UIOMMU_HPA_LIMIT);
		printf("default limits:\n");
		for (int r = 0; r < UIOMMU_RES_NR; r++) {
			uint64_t limit = limits_default[r];

			if (limit == UIOMMU_LIMIT_NONE)
				printf("  %-18s none\n", uiommu_resource_name((enum uiommu_resource)r));
			else
				printf("  %-18s %" PRIu64 "\n",
				       uiommu_resource_name((enum uiommu_resource)r), limit);
		}
		printf("probes:\n");
		for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
			printf("  %-18s %s%s%s\n", probes[i].name,
			       probes[i].err ? uiommu_strerror(probes[i].err) : "ok",
			       probes[i].err ? ": " : "", probes[i].err ? probes[i].note : "");
	}
	ret = uiommu_ctx_free(ctx);
	if (ret) {
		cli_error("context not clean at exit: %s", uiommu_strerror(ret));
		return EXIT_FAIL;
	}
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		if (probes[i].err)
			return EXIT_FAIL;
	return EXIT_OK;
}

const struct cli_cmd cmd_info = {
	.name = "info",
	.summary = "show the library, what this machine allows, and the default limits",
	.usage = "[--json]\n\n"
		 "Creates a context and probes the host memory model: a memfd RAM region,\n"
		 "scattered host frames and an mlock(2) pin. Exit status 1 if a probe fails.\n\n"
		 "  -j, --json   one JSON document on stdout (64-bit values as hex strings)\n"
		 "  -h, --help   this text",
	.run = run,
};
