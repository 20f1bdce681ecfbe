/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One field of /proc/self/status, for the tools and the tests that check
 * what the kernel counts (VmLck: the bytes this process holds mlock(2)ed,
 * which the pinning code and the VFIO preload library must return to 0).
 * Header-only: the preload library and the test helpers both include it.
 */
#ifndef UIOMMU_TOOLS_PROC_STATUS_H
#define UIOMMU_TOOLS_PROC_STATUS_H

#include <stdio.h>
#include <string.h>

/*
 * proc_status_kib() - The value of the "@field: N kB" line of
 * /proc/self/status, in KiB; -1 if the file or the line is missing.
 */
static inline long proc_status_kib(const char *field)
{
	size_t len = strlen(field);
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ':' &&
		    sscanf(line + len + 1, " %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

#endif
