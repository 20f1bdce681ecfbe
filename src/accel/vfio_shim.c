// SPDX-License-Identifier: BSD-3-Clause
/*
 * What the accelerated hypercalls need from a VFIO container, until the
 * container offers it (see accel.h): written here on the container's
 * private structures (src/vfio/vfio.h), so that this file is the only one
 * of src/accel/ that knows them, and goes when the container's own calls
 * come.
 *
 * The container serializes the entries of its windows in stripes (mutexes)
 * under its lock (a rwlock, shared for MAP/UNMAP, exclusive for window and
 * group changes). The fast path must not block, so it only tries them: a
 * shared hold of the lock (no window can change meanwhile) and the stripes
 * of its entries (no MAP/UNMAP of the container can change them
 * meanwhile, nor another hypercall). A failed try is UIOMMU_H_TOO_HARD for
 * the hypercall, and the VMM path, which may wait, does the work.
 */
#include "accel.h"

#include "../vfio/vfio.h"

/* The stripes of entries [first, last] of window @num (as vfio/dma.c takes them). */
static uint64_t stripe_mask(int num, uint64_t first, uint64_t last)
{
	uint64_t c0 = first >> VFIO_STRIPE_SHIFT, c1 = last >> VFIO_STRIPE_SHIFT, mask = 0;

	if (c1 - c0 >= VFIO_STRIPES - 1)
		return ~0ULL;
	for (uint64_t ch = c0; ch <= c1; ch++)
		mask |= 1ULL << ((ch + (uint64_t)num) % VFIO_STRIPES);
	return mask;
}

int accel_vfio_table(struct uiommu_vfio_container *c, struct uiommu_table_group *grp,
		     const struct accel_geometry *g, struct uiommu_tce_table **ret_tbl,
		     int *ret_num)
{
	int ret = -EINVAL;

	pthread_rwlock_rdlock(&c->lock);
	for (int num = 0; num < UIOMMU_TABLE_GROUP_MAX_TABLES; num++) {
		struct uiommu_tce_table_info ti = { .size = sizeof(ti) };
		struct uiommu_tce_table *tbl = grp->tables[num];

		if (!tbl || uiommu_tce_table_info(tbl, &ti) || !accel_compatible(&ti, g))
			continue;
		/* The group's window is the container's (it sets every window on every group). */
		for (int w = 0; w < UIOMMU_TABLE_GROUP_MAX_TABLES; w++) {
			if (c->win[w].tbl == tbl) {
				*ret_tbl = uiommu_tce_table_ref(tbl);
				*ret_num = w;
				ret = 0;
				break;
			}
		}
		if (!ret)
			break;
	}
	pthread_rwlock_unlock(&c->lock);
	return ret;
}

/*
 * More stripes than this: the lock exclusively instead, which excludes
 * every stripe holder as well (they hold it shared), costs one try instead
 * of dozens, and keeps a thread's locks held at once within what
 * ThreadSanitizer's deadlock detector can follow (64).
 */
#define ACCEL_VFIO_MAX_STRIPES 16

bool accel_vfio_begin(struct uiommu_vfio_container *c, int num, struct uiommu_tce_table *tbl,
		      uint64_t first, uint64_t last, uint64_t *ret_token)
{
	uint64_t mask = stripe_mask(num, first, last), taken = 0;

	if (__builtin_popcountll(mask) > ACCEL_VFIO_MAX_STRIPES) {
		if (pthread_rwlock_trywrlock(&c->lock))
			return false;
		mask = 0;
	} else if (pthread_rwlock_tryrdlock(&c->lock)) {
		return false;
	}
	if (!c->v2 || !c->enabled || c->win[num].tbl != tbl)
		goto fail;
	/* In index order, as the container takes them (it may wait; we may not). */
	for (; mask; mask &= mask - 1) {
		unsigned int i = (unsigned int)__builtin_ctzll(mask);

		if (pthread_mutex_trylock(&c->stripe[i]))
			goto fail;
		taken |= 1ULL << i;
	}
	*ret_token = taken;
	return true;
fail:
	for (; taken; taken &= taken - 1)
		pthread_mutex_unlock(&c->stripe[__builtin_ctzll(taken)]);
	pthread_rwlock_unlock(&c->lock);
	return false;
}

void accel_vfio_end(struct uiommu_vfio_container *c, uint64_t token, int64_t tces)
{
	if (tces)
		atomic_fetch_add_explicit(&c->tces, (uint64_t)tces, memory_order_relaxed);
	for (; token; token &= token - 1)
		pthread_mutex_unlock(&c->stripe[__builtin_ctzll(token)]);
	pthread_rwlock_unlock(&c->lock);
}

struct vfio_hold *accel_vfio_hold_rcu(struct uiommu_vfio_container *c, uint64_t ua,
				      uint64_t size)
{
	return vfio_prereg_find(c, ua, size);
}

int accel_vfio_hold_add(struct vfio_hold *h, uint64_t n)
{
	return vfio_hold_add(h, n);
}

void accel_vfio_hold_sub(struct vfio_hold *h, uint64_t n)
{
	vfio_hold_sub(h, n);
}

int accel_vfio_hold_hpa(const struct vfio_hold *h, uint64_t ua, unsigned int page_shift,
			uint64_t *ret_hpa)
{
	return prereg_ua_to_hpa(h->mem, ua, page_shift, ret_hpa);
}

void accel_vfio_hold_range(const struct vfio_hold *h, uint64_t *ret_ua, uint64_t *ret_last)
{
	*ret_ua = h->ua;
	*ret_last = h->last;
}
