// SPDX-License-Identifier: BSD-3-Clause
/*
 * uiommu - command-line front end of libuiommu.
 *
 *   uiommu [--help | --version] COMMAND [OPTIONS] [ARGS]
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <uiommu/uiommu.h>

#include "cli.h"

static const struct cli_cmd *const commands[] = {
	&cmd_info,
	&cmd_tce_size,
	&cmd_replay,
};

static void print_version(void)
{
	printf("uiommu %s (library %s)\n", UIOMMU_TOOL_VERSION, uiommu_version());
}

static void print_usage(FILE *f)
{
	fprintf(f, "Usage: %s [--help] [--version] COMMAND [OPTIONS] [ARGS]\n\n"
		   "Userspace IOMMU and DMA-sharing stack (PAPR TCE tables, guest hypercalls).\n\n"
		   "Commands:\n", cli_prog);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f, "  %-12s %s\n", "help", "show help for a command");
	fprintf(f, "\nRun '%s COMMAND --help' for a command's options. See uiommu(1).\n",
		cli_prog);
}

static const struct cli_cmd *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const struct cli_cmd *cmd;
	int c;

	/* '+': stop at the command name; its options are its own. */
	while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			print_usage(stdout);
			return EXIT_OK;
		case 'V':
			print_version();
			return EXIT_OK;
		default:
			fprintf(stderr, "Try '%s --help'.\n", cli_prog);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "%s: no command given\nTry '%s --help'.\n", cli_prog, cli_prog);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[optind], "help")) {
		if (optind + 1 >= argc) {
			print_usage(stdout);
			return EXIT_OK;
		}
		cmd = find_command(argv[optind + 1]);
		if (!cmd) {
			fprintf(stderr, "%s: unknown command '%s'\nTry '%s --help'.\n", cli_prog,
				argv[optind + 1], cli_prog);
			return EXIT_USAGE;
		}
		cli_print_help(cmd);
		return EXIT_OK;
	}
	cmd = find_command(argv[optind]);
	if (!cmd) {
		fprintf(stderr, "%s: unknown command '%s'\nTry '%s --help'.\n", cli_prog,
			argv[optind], cli_prog);
		return EXIT_USAGE;
	}
	/* The command sees argv[0] = its name, so getopt's messages name it. */
	argv += optind;
	argc -= optind;
	optind = 1;
	return cmd->run(argc, argv);
}
