/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The uiommu command-line tool: shared pieces of the subcommands.
 *
 * Exit status (documented in uiommu(1)): 0 success, 1 the operation failed
 * or the input was unreadable, 2 usage error, 3 ran but found a mismatch.
 */
#ifndef UIOMMU_CLI_H
#define UIOMMU_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_MISMATCH 3

struct cli_cmd {
	const char *name;
	const char *summary;
	const char *usage; /* option synopsis and description, for --help */
	int (*run)(int argc, char **argv);
};

extern const char *cli_prog;

/* A usage error: "uiommu CMD: MSG" and a hint, on stderr; returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An operational error on stderr: "uiommu: MSG". */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print a command's --help text on stdout. */
void cli_print_help(const struct cli_cmd *cmd);

/* Parse an unsigned number (decimal, 0x hex, or with a K/M/G/T suffix). */
bool cli_parse_u64(const char *s, uint64_t *ret);

/* JSON helpers: 64-bit values go out as "0x..." strings (jq rounds big numbers). */
struct json_object *cli_json_hex(uint64_t v);
/* Print a JSON document on stdout, pretty, followed by a newline. */
void cli_json_print(struct json_object *doc);

/* The subcommands. */
extern const struct cli_cmd cmd_info;
extern const struct cli_cmd cmd_tce_size;
extern const struct cli_cmd cmd_replay;

#endif /* UIOMMU_CLI_H */
