// SPDX-License-Identifier: BSD-3-Clause
/*
 * A v2 container's registrations, with the semantics of Linux
 * drivers/vfio/vfio_iommu_spapr_tce.c: tce_iommu_register_pages(),
 * tce_iommu_unregister_pages(), tce_iommu_prereg_free() (the container's
 * prereg_list), over the address space's regions (src/prereg/).
 *
 * The registrations a container holds are an RCU-published array sorted
 * by user address: MAP_DMA looks its memory up there, under the
 * container's shared lock (which keeps the array), and the accelerated
 * hcalls may do so under RCU alone. Each counts the container's own TCEs
 * into its region besides the region's mapped count. Taking memory only
 * from the container's own registrations, and refusing to drop one the
 * container still maps, is what keeps every TCE into a region in the table
 * of a container that holds it: the last put then always finds the region
 * idle, and no region is ever orphaned.
 */
#include "vfio.h"

struct vfio_hold *vfio_prereg_find(struct uiommu_vfio_container *c, uint64_t ua, uint64_t size)
{
	const struct rcu_array *a = rcu_deref(c->prereg);
	size_t i = rcu_array_find(a, ua);

	if (i == SIZE_MAX || !size || size - 1 > a->e[i].last - ua)
		return NULL;
	return a->e[i].ptr;
}

int vfio_hold_add(struct vfio_hold *h, uint64_t n)
{
	int ret = prereg_mapped_add(h->mem, n);

	if (!ret)
		atomic_fetch_add_explicit(&h->tces, n, memory_order_relaxed);
	return ret;
}

void vfio_hold_sub(struct vfio_hold *h, uint64_t n)
{
	atomic_fetch_sub_explicit(&h->tces, n, memory_order_relaxed);
	prereg_mapped_sub(h->mem, n);
}

static void hold_free_rcu(struct rcu_node *node)
{
	struct vfio_hold *h = container_of(node, struct vfio_hold, rcu);

	ctx_free(h->ctx, h);
}

void vfio_prereg_release_locked(struct uiommu_vfio_container *c)
{
	struct rcu_array *a = atomic_load_explicit(&c->prereg, memory_order_relaxed);

	/* The windows are gone: no TCE of ours is left, so every put succeeds. */
	for (size_t i = 0; a && i < a->n; i++) {
		struct vfio_hold *h = a->e[i].ptr;
		int ret = uiommu_prereg_put(h->mem);

		if (ret)
			ctx_err(c->ctx, "vfio: a registration could not be dropped: %s",
				uiommu_strerror(ret));
		rcu_defer(&h->rcu, hold_free_rcu);
	}
	rcu_array_publish(&c->prereg, NULL);
}

/* Check the range of a (un)registration; Linux refuses all of these with -EINVAL. */
static int prereg_range_check(struct uiommu_vfio_container *c, uint64_t vaddr, uint64_t size,
			      bool check_wrap)
{
	uint64_t page = 1ULL << c->ctx->host_page_shift, last;

	if (!is_aligned_u64(vaddr, page) || !is_aligned_u64(size, page))
		return -EINVAL;
	if (check_wrap && (!size || range_from_len(vaddr, size, &last)))
		return -EINVAL;
	return 0;
}

/* The index of a registration of @mem in the container's array, or SIZE_MAX. */
static size_t held_index(const struct rcu_array *a, const struct uiommu_prereg *mem)
{
	for (size_t i = 0; a && i < a->n; i++)
		if (((struct vfio_hold *)a->e[i].ptr)->mem == mem)
			return i;
	return SIZE_MAX;
}

UIOMMU_EXPORT int uiommu_vfio_register_memory(struct uiommu_vfio_container *c, uint64_t vaddr,
					      uint64_t size)
{
	struct uiommu_prereg *mem = NULL;
	struct vfio_hold *h = NULL;
	struct rcu_array_entry e;
	struct rcu_array *a;
	int ret;

	if (!c)
		return -EINVAL;
	ret = vfio_lock_v2(c, true);
	if (!ret)
		ret = prereg_range_check(c, vaddr, size, true);
	if (ret)
		goto out;
	ret = uiommu_prereg_get(c->mm, vaddr, size, &mem);
	if (!ret) {
		if (held_index(atomic_load_explicit(&c->prereg, memory_order_relaxed), mem) !=
		    SIZE_MAX) {
			ret = -EBUSY;
			goto err_put;
		}
	} else {
		ret = uiommu_prereg_new(c->mm, vaddr, size, &mem);
		if (ret)
			goto out;
	}
	h = ctx_alloc(c->ctx, sizeof(*h));
	if (!h) {
		ret = -ENOMEM;
		goto err_put;
	}
	h->mem = mem;
	h->ctx = c->ctx;
	prereg_range(mem, &h->ua, &h->last);
	e = (struct rcu_array_entry){ .start = h->ua, .last = h->last, .ptr = h };
	ret = rcu_array_edit(c->ctx, atomic_load_explicit(&c->prereg, memory_order_relaxed),
			     SIZE_MAX, &e, &a);
	if (ret)
		goto err_put;
	rcu_array_publish(&c->prereg, a);
	/* v2 is enabled by its first registration. */
	c->enabled = true;
	goto out;

err_put:
	ctx_free(c->ctx, h);
	/* A region just made is idle, and a shared one has another user: this succeeds. */
	uiommu_prereg_put(mem);
out:
	vfio_wrunlock(c);
	return ret;
}

UIOMMU_EXPORT int uiommu_vfio_unregister_memory(struct uiommu_vfio_container *c,
						uint64_t vaddr, uint64_t size)
{
	const struct rcu_array *old;
	struct vfio_hold *h;
	struct rcu_array *a;
	size_t i;
	int ret;

	if (!c)
		return -EINVAL;
	ret = vfio_lock_v2(c, false);
	if (!ret && !c->mm)
		ret = -EPERM;
	if (!ret)
		ret = prereg_range_check(c, vaddr, size, false);
	if (ret)
		goto out;
	old = atomic_load_explicit(&c->prereg, memory_order_relaxed);
	i = rcu_array_find(old, vaddr);
	if (i == SIZE_MAX || old->e[i].start != vaddr || !size ||
	    old->e[i].last - old->e[i].start != size - 1) {
		/* Linux: no region of exactly this range, or not in this container. */
		ret = -ENOENT;
		goto out;
	}
	h = old->e[i].ptr;
	/* Fixed: Linux ignores the -EBUSY of a mapped region and orphans it. */
	if (atomic_load_explicit(&h->tces, memory_order_relaxed)) {
		ctx_guest_error(c->ctx, "vfio: UNREGISTER of 0x%llx+0x%llx: %llu TCEs still map it",
				(unsigned long long)vaddr, (unsigned long long)size,
				(unsigned long long)atomic_load(&h->tces));
		ret = -EBUSY;
		goto out;
	}
	/* The smaller array first, so that nothing changes if it cannot be had. */
	ret = rcu_array_edit(c->ctx, old, i, NULL, &a);
	if (ret)
		goto out;
	/* Our TCEs are gone, so the region is idle if we held it last: this succeeds. */
	ret = uiommu_prereg_put(h->mem);
	if (ret) {
		rcu_array_discard(a);
		goto out;
	}
	rcu_array_publish(&c->prereg, a);
	rcu_defer(&h->rcu, hold_free_rcu);
out:
	vfio_wrunlock(c);
	return ret;
}
