// SPDX-License-Identifier: BSD-3-Clause
/*
 * Linked into every unit test that injects faults: when the process exits
 * with UIOMMU_FAULT_POINTS_DIR set (the fault test runs it so, to count
 * the points its fail-at-N loops failed), it writes the fault points of
 * its copy of the library to a file of that directory named by its pid,
 * one per line: "<failed 0|1> <line> <class> <file>". A forked child of
 * the test writes a file of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

__attribute__((destructor)) static void fault_points_log(void)
{
	const char *dir = getenv("UIOMMU_FAULT_POINTS_DIR");
	struct fault_point *fp;
	size_t n = fault_points(&fp);
	char path[4096];
	FILE *f;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/%ld", dir, (long)getpid());
	f = fopen(path, "w");
	if (!f)
		return;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%d %u %u %s\n", atomic_load(&fp[i].failed) ? 1 : 0, fp[i].line,
			fp[i].fault_class, fp[i].file);
	fclose(f);
}
