/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Parser of QEMU's sPAPR IOMMU trace events (the "log" trace backend) and
 * of the header uiommu's recorder writes (doc/traces.md).
 *
 * One line is one event:
 *   [PID@SEC.USEC:]spapr_iommu_put liobn=0x71000002 ioba=0x1000 tce=0x2f25003 ret=0
 * Fields QEMU prints in hex are read as hex with or without "0x" (QEMU
 * versions differ); "ret" and "npages" are signed/unsigned decimal. Lines
 * starting with '#' are the header ("# key: value"), phase markers
 * ("# MARK TIME PHASE") or comments.
 *
 * A line in QEMU's own field order is read in one pass without looking
 * fields up; any other order, separator or extra field goes through a
 * slower path that finds every field by its key, refuses a key given
 * twice, and names the field and the value it could not read.
 */
#ifndef UIOMMU_CLI_TRACE_H
#define UIOMMU_CLI_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum trace_type {
	TRACE_COMMENT,	 /* '#' line not understood, or an empty line */
	TRACE_HEADER,	 /* "# key: value" */
	TRACE_WINDOW,	 /* "# window: liobn=... bus_offset=... size=... page_shift=..." */
	TRACE_PHB,	 /* "# phb: index=... buid=... liobn=... ddw=yes|no dma64_base=..." */
	TRACE_MARK,	 /* "# MARK TIME PHASE" */
	TRACE_PUT,	 /* spapr_iommu_[pci_]put */
	TRACE_GET,	 /* spapr_iommu_[pci_]get */
	TRACE_INDIRECT,	 /* spapr_iommu_[pci_]indirect */
	TRACE_STUFF,	 /* spapr_iommu_[pci_]stuff */
	TRACE_XLATE,	 /* spapr_iommu_xlate */
	TRACE_NEW_TABLE, /* spapr_iommu_new_table */
	TRACE_DDW_QUERY,
	TRACE_DDW_CREATE,
	TRACE_DDW_REMOVE,
	TRACE_DDW_RESET,
	TRACE_UNKNOWN,	 /* an event this replayer does not use (counted) */
	TRACE_NR
};

/*
 * One parsed line: 88 bytes, so that a chunk of events stays in cache.
 * Each event type uses a few of the numeric fields; those that no type
 * uses together share storage (the unions), so read only the fields of
 * the event's type:
 *
 *   put        liobn ioba tce ret            get    liobn ioba tce ret
 *   indirect   liobn ioba tcelist ioba_n tce_n ret
 *   stuff      liobn ioba tce(tcevalue) npages ret
 *   xlate      liobn ioba(window-relative) tce(translated) perm mask
 *   new_table  liobn                         ddw_remove liobn
 *   ddw_query  buid cfgaddr windows win_size mask
 *   ddw_create buid cfgaddr page_size req_size start liobn
 *   ddw_reset  buid cfgaddr
 *   window     liobn bus_offset size page_shift, text = node (may be empty)
 *   phb        index buid liobn dma64_base ddw
 *   header     name = key, text = value      mark  name = phase
 *   unknown    name = event name
 *
 * name and text point into the parsed line, so they are valid only as
 * long as the line is.
 */
struct trace_event {
	uint8_t type;	/* enum trace_type */
	bool pci;	/* the spapr_iommu_pci_* spelling */
	bool ddw;	/* phb */
	uint8_t name_len;
	uint32_t text_len;
	const char *name;
	const char *text;
	uint64_t liobn;
	union {
		uint64_t ioba;
		uint64_t buid;
	};
	uint64_t tce;
	int64_t ret;
	union {
		uint64_t tcelist;
		uint64_t npages;
		uint64_t perm;
		uint64_t cfgaddr;
		uint64_t bus_offset;
		uint64_t index;
	};
	union {
		uint64_t ioba_n; /* indirect: index of the last entry handled (not an address) */
		uint64_t mask;	 /* xlate: address mask; ddw_query: page-size mask */
		uint64_t size;
		uint64_t dma64_base;
		uint64_t page_size;
	};
	union {
		uint64_t tce_n;	 /* indirect: the TCE at that index */
		uint64_t windows;
		uint64_t page_shift;
		uint64_t req_size;
	};
	union {
		uint64_t win_size;
		uint64_t start;
	};
};

#define TRACE_NAME_MAX 255 /* longer names are cut in name_len */

/*
 * trace_parse_line() - Parse one line (without its newline).
 * @line: the text, @len bytes, with line[@len] == '\0'.
 * @len: its length; a NUL byte before it is an error.
 * @ev: the event; its type and the fields of that type are written on
 *	success; name and text point into @line.
 * @err: on failure, why: the field and the value it could not read.
 * @errlen: size of @err.
 *
 * Return: 0, or -EINVAL for a malformed line (a known event with a
 * missing, repeated or unreadable field, a malformed header line, or a
 * line that is not a trace line).
 */
int trace_parse_line(const char *line, size_t len, struct trace_event *ev, char *err,
		     size_t errlen);

#endif /* UIOMMU_CLI_TRACE_H */
