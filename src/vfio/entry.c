// SPDX-License-Identifier: BSD-3-Clause
/*
 * What a container offers the accelerated hypercalls (src/accel/), which
 * must never block: the window of a group that fits a LIOBN, a
 * non-blocking hold of a window's entries, and its registrations under
 * RCU. Declared in src/internal.h ("vfio/"); the semantics are those of
 * Linux arch/powerpc/kvm/book3s_64_vio.c, which takes the table's entries
 * with iommu_tce_xchg_no_kill() under no lock of VFIO's, where we must
 * exclude the container's own MAP/UNMAP of the same entries.
 *
 * Entries are held in stripes (vfio.h): a MAP/UNMAP takes the stripes'
 * mutexes (it may wait for another MAP) and then claims their bits in
 * the container's busy word, waiting out a hypercall that holds them (a
 * hypercall never waits, so that wait is short). A hypercall claims the
 * bits with one compare-and-swap, or fails. So the two exclude each other
 * per stripe with one atomic on the hypercall's side, and MAP/UNMAP keep
 * their sleeping locks among themselves.
 *
 * Whoever takes the container's lock exclusively (a window, a group, a
 * registration, the IOMMU changing: vfio_wrlock()) also closes the busy
 * word to hypercalls and waits for those that hold stripes to let go, so
 * that a hypercall holding entries needs no lock at all: the window and
 * the registrations it found stay until it releases them. A hypercall
 * never waits for anything, so neither wait is long.
 */
#include <sched.h>

#include "vfio.h"

uint64_t vfio_stripe_mask(int num, uint64_t first, uint64_t last)
{
	uint64_t c0 = first >> VFIO_STRIPE_SHIFT, c1 = last >> VFIO_STRIPE_SHIFT, mask = 0;

	_Static_assert(VFIO_STRIPES < 64, "a stripe mask is 64 bits, and VFIO_BUSY_CLOSED");
	if (likely(c0 == c1))
		return 1ULL << ((c0 + (uint64_t)num) % VFIO_STRIPES);
	if (c1 - c0 >= VFIO_STRIPES - 1)
		return (1ULL << VFIO_STRIPES) - 1;
	for (uint64_t ch = c0; ch <= c1; ch++)
		mask |= 1ULL << ((ch + (uint64_t)num) % VFIO_STRIPES);
	return mask;
}

/* Spin, yielding now and then: the holders waited for never wait themselves. */
static inline void busy_pause(unsigned int *spins)
{
	if (++*spins % 64 == 0)
		sched_yield();
}

void vfio_wrlock(struct uiommu_vfio_container *c)
{
	unsigned int spins = 0;

	pthread_rwlock_wrlock(&c->lock);
	/* No MAP/UNMAP holds stripes now (they hold the lock shared): only hypercalls. */
	atomic_fetch_or_explicit(&c->busy, VFIO_BUSY_CLOSED, memory_order_relaxed);
	while (atomic_load_explicit(&c->busy, memory_order_acquire) != VFIO_BUSY_CLOSED)
		busy_pause(&spins);
}

void vfio_wrunlock(struct uiommu_vfio_container *c)
{
	atomic_fetch_and_explicit(&c->busy, ~VFIO_BUSY_CLOSED, memory_order_release);
	pthread_rwlock_unlock(&c->lock);
}

void vfio_stripes_claim(struct uiommu_vfio_container *c, uint64_t mask)
{
	uint64_t old = atomic_load_explicit(&c->busy, memory_order_relaxed);
	unsigned int spins = 0;

	for (;;) {
		if (!(old & mask)) {
			if (atomic_compare_exchange_weak_explicit(&c->busy, &old, old | mask,
								  memory_order_acquire,
								  memory_order_relaxed))
				return;
			continue;
		}
		/* A hypercall holds some: it never waits, and lets go within its call. */
		busy_pause(&spins);
		old = atomic_load_explicit(&c->busy, memory_order_relaxed);
	}
}

void vfio_stripes_unclaim(struct uiommu_vfio_container *c, uint64_t mask)
{
	atomic_fetch_and_explicit(&c->busy, ~mask, memory_order_release);
}

int vfio_group_window(struct uiommu_vfio_container *c, struct uiommu_table_group *grp,
		      bool (*fits)(const struct uiommu_tce_table_info *ti, const void *arg),
		      const void *arg, struct uiommu_tce_table **ret_tbl, int *ret_num)
{
	int ret = -EINVAL;

	pthread_rwlock_rdlock(&c->lock);
	for (int num = 0; num < UIOMMU_TABLE_GROUP_MAX_TABLES && ret; num++) {
		struct uiommu_tce_table_info ti = { .size = sizeof(ti) };
		struct uiommu_tce_table *tbl = grp->tables[num];

		if (!tbl || uiommu_tce_table_info(tbl, &ti) || !fits(&ti, arg))
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
	}
	pthread_rwlock_unlock(&c->lock);
	return ret;
}

bool vfio_entries_tryhold(struct uiommu_vfio_container *c, int num,
			  const struct uiommu_tce_table *tbl, uint64_t first, uint64_t last,
			  uint64_t *ret_token)
{
	uint64_t mask = vfio_stripe_mask(num, first, last);
	uint64_t old = atomic_load_explicit(&c->busy, memory_order_relaxed);

	do {
		if (old & (mask | VFIO_BUSY_CLOSED))
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&c->busy, &old, old | mask,
							memory_order_acquire, memory_order_relaxed));
	/* Held: what an exclusive holder changes cannot change now. */
	if (unlikely(!c->v2 || !c->enabled || c->win[num].tbl != tbl)) {
		vfio_stripes_unclaim(c, mask);
		return false;
	}
	*ret_token = mask;
	return true;
}

void vfio_entries_release(struct uiommu_vfio_container *c, uint64_t token, int64_t tces)
{
	if (tces)
		atomic_fetch_add_explicit(&c->tces, (uint64_t)tces, memory_order_relaxed);
	vfio_stripes_unclaim(c, token);
}

bool vfio_reg_find_rcu(struct uiommu_vfio_container *c, uint64_t ua, uint64_t size,
		       struct vfio_reg *ret)
{
	struct vfio_hold *h = vfio_prereg_find(c, ua, size);

	if (!h)
		return false;
	ret->h = h;
	ret->mem = h->mem;
	ret->ua = h->ua;
	ret->last = h->last;
	return true;
}
