/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Small helpers used by every module. No state.
 */
#ifndef UIOMMU_CORE_UTIL_H
#define UIOMMU_CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Marks a definition as part of the ABI (the version script lists it too). */
#define UIOMMU_EXPORT __attribute__((visibility("default")))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/*
 * Type-checked container_of in ISO C17: the ?: makes the compiler reject a
 * @ptr whose type differs from the member's.
 */
#define container_of(ptr, type, member)                                                    \
	((type *)(void *)((char *)(1 ? (ptr) : &((type *)0)->member) - offsetof(type, member)))

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static inline bool is_power_of_2_u64(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* floor(log2(v)); v must not be 0. */
static inline unsigned int ilog2_u64(uint64_t v)
{
	return 63u - (unsigned int)__builtin_clzll(v);
}

static inline bool is_aligned_u64(uint64_t v, uint64_t align)
{
	return !(v & (align - 1));
}

/* Round @v up to a multiple of @align (a power of two); false if it wraps. */
static inline bool align_up_u64(uint64_t v, uint64_t align, uint64_t *ret)
{
	uint64_t r;

	if (__builtin_add_overflow(v, align - 1, &r))
		return false;
	*ret = r & ~(align - 1);
	return true;
}

#endif /* UIOMMU_CORE_UTIL_H */
