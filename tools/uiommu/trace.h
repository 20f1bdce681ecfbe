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
};

#define TRACE_NAME_MAX 64
#define TRACE_TEXT_MAX 512

struct trace_event {
	enum trace_type type;
	bool pci; /* the spapr_iommu_pci_* spelling */
	uint64_t liobn;
	uint64_t ioba;	   /* put/get/indirect/stuff: as logged; xlate: window-relative */
	uint64_t tce;	   /* put: the TCE; get: the value returned; xlate: translated address */
	uint64_t tcelist;  /* indirect */
	uint64_t ioba_n;   /* indirect: index of the last entry handled (not an address) */
	uint64_t tce_n;	   /* indirect: the TCE at that index */
	uint64_t npages;   /* stuff */
	int64_t ret;	   /* hcall return code */
	uint64_t perm;	   /* xlate */
	uint64_t mask;	   /* xlate: address mask; ddw_query: page-size mask */
	uint64_t buid;	   /* ddw_*, phb */
	uint64_t cfgaddr;  /* ddw_* */
	uint64_t windows;  /* ddw_query: windows available */
	uint64_t win_size; /* ddw_query: max window size as logged */
	uint64_t page_size; /* ddw_create */
	uint64_t req_size;  /* ddw_create */
	uint64_t start;	    /* ddw_create: window bus address */
	/* header: window / phb */
	uint64_t bus_offset, size, page_shift, index, dma64_base;
	bool ddw;
	char name[TRACE_NAME_MAX];  /* event name (unknown events), header key, or phase */
	char text[TRACE_TEXT_MAX];  /* header value, or the window's node */
};

/*
 * trace_parse_line() - Parse one line (without its newline).
 * @line: NUL-terminated text of @len bytes.
 * @ev: the event; fully written on success.
 * @err: on failure, why (a short message naming the field).
 *
 * Return: 0, or -EINVAL for a malformed line (a known event with a missing
 * or unreadable field, or a malformed header line).
 */
int trace_parse_line(const char *line, size_t len, struct trace_event *ev, char *err,
		     size_t errlen);

/* "put", "indirect", ... for messages. */
const char *trace_type_name(enum trace_type type);

#endif /* UIOMMU_CLI_TRACE_H */
