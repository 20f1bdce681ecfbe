// SPDX-License-Identifier: BSD-3-Clause
/*
 * Error strings and the library version.
 */
#include <limits.h>
#include <string.h>

#include "../internal.h"

UIOMMU_EXPORT const char *uiommu_strerror(int err)
{
	const char *s;

	/* -INT_MIN does not exist: no errno is that large anyway. */
	if (err == INT_MIN)
		return "Unknown error";
	if (err < 0)
		err = -err;
	/* glibc >= 2.32: a static description, thread-safe, never translated. */
	s = strerrordesc_np(err);
	return s ? s : "Unknown error";
}

UIOMMU_EXPORT const char *uiommu_errno_name(int err)
{
	const char *s;

	if (err == INT_MIN)
		return "E?";
	if (err < 0)
		err = -err;
	s = strerrorname_np(err);
	return s ? s : "E?";
}

UIOMMU_EXPORT const char *uiommu_version(void)
{
	return UIOMMU_VERSION_STRING;
}

UIOMMU_EXPORT unsigned int uiommu_version_number(void)
{
	return UIOMMU_VERSION_NUMBER;
}
