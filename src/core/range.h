/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ranges: the one place where a (start, length) pair from the API becomes an
 * inclusive [start, last] range. Every public entry point that takes a range
 * calls range_from_len() once; internal code compares inclusive lasts and
 * never computes start + length, which could wrap at the top of the space.
 */
#ifndef UIOMMU_CORE_RANGE_H
#define UIOMMU_CORE_RANGE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

/**
 * range_from_len() - Check a (start, length) range and compute its last byte.
 * @start: first address.
 * @len: length in the same unit; must not be 0.
 * @ret_last: on success, start + len - 1.
 *
 * Return: 0, -EINVAL for a zero @len, -EOVERFLOW if the last byte would lie
 * past UINT64_MAX. *@ret_last is written only on success.
 */
static inline int range_from_len(uint64_t start, uint64_t len, uint64_t *ret_last)
{
	uint64_t last;

	if (!len)
		return -EINVAL;
	if (__builtin_add_overflow(start, len - 1, &last))
		return -EOVERFLOW;
	*ret_last = last;
	return 0;
}

/* [start, last] is inside [outer_start, outer_last]. */
static inline bool range_within(uint64_t start, uint64_t last, uint64_t outer_start,
				uint64_t outer_last)
{
	return outer_start <= start && last <= outer_last;
}

/* [a_start, a_last] and [b_start, b_last] share at least one address. */
static inline bool range_overlaps(uint64_t a_start, uint64_t a_last, uint64_t b_start,
				  uint64_t b_last)
{
	return a_start <= b_last && b_start <= a_last;
}

#endif /* UIOMMU_CORE_RANGE_H */
