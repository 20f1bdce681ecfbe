// SPDX-License-Identifier: BSD-3-Clause
/*
 * Preregistered memory, with the semantics of Linux mm_iommu_*
 * (arch/powerpc/mm/book3s64/iommu_api.c: mm_iommu_do_alloc(),
 * mm_iommu_get(), mm_iommu_put(), mm_iommu_lookup(), mm_iommu_ua_to_hpa(),
 * mm_iommu_mapped_inc()/_dec()). See uiommu/prereg.h and prereg.h.
 *
 * A region records one hpa per granule: the host page, or the 4 KiB frame
 * where the memory model vouches for less than a host page (a hostmem
 * buffer of 4 KiB pages on a 64 KiB host). Upstream records one per host
 * page, which is the same thing on real memory.
 */
#include <string.h>

#include "prereg.h"

/* ---- the lock-free side ---- */

static inline bool region_live(const struct uiommu_prereg *mem)
{
	return atomic_load_explicit(&((struct uiommu_prereg *)mem)->mapped,
				    memory_order_acquire) != 0;
}

struct uiommu_prereg *prereg_lookup_rcu(struct uiommu_mm *mm, uint64_t ua, uint64_t size)
{
	const struct prereg_state *ps = ext_get(&mm->ext[MM_EXT_PREREG]);
	const struct rcu_array *a;
	struct uiommu_prereg *mem;
	size_t i;

	if (unlikely(!ps))
		return NULL;
	a = rcu_deref(ps->regions);
	i = rcu_array_find(a, ua);
	if (i == SIZE_MAX)
		return NULL;
	mem = a->e[i].ptr;
	/* [ua, ua + size - 1] inside [mem->ua, mem->last], without computing ua + size. */
	if (!size || size - 1 > mem->last - ua || !region_live(mem))
		return NULL;
	return mem;
}

int prereg_ua_to_hpa(const struct uiommu_prereg *mem, uint64_t ua, unsigned int page_shift,
		     uint64_t *ret_hpa)
{
	uint64_t off = ua - mem->ua;

	if (unlikely(ua < mem->ua || ua > mem->last || page_shift > mem->page_shift))
		return -EFAULT;
	*ret_hpa = mem->hpas[off >> mem->granule_shift] +
		   (off & ((1ULL << mem->granule_shift) - 1));
	return 0;
}

int prereg_mapped_add(struct uiommu_prereg *mem, uint64_t n)
{
	uint64_t old = atomic_load_explicit(&mem->mapped, memory_order_relaxed);

	do {
		if (!old)
			return -ENXIO;
	} while (!atomic_compare_exchange_weak_explicit(&mem->mapped, &old, old + n,
							memory_order_acq_rel, memory_order_relaxed));
	return 0;
}

/* mapped -= n if that leaves at least 1; false (nothing changed) otherwise. */
static bool mapped_sub(struct uiommu_prereg *mem, uint64_t n)
{
	uint64_t old = atomic_load_explicit(&mem->mapped, memory_order_relaxed);

	do {
		if (old <= n)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&mem->mapped, &old, old - n,
							memory_order_acq_rel, memory_order_relaxed));
	return true;
}

void prereg_mapped_sub(struct uiommu_prereg *mem, uint64_t n)
{
	if (unlikely(!mapped_sub(mem, n)))
		ctx_err(mem->ctx, "prereg region 0x%llx: mapped decremented by %llu below 1",
			(unsigned long long)mem->ua, (unsigned long long)n);
}

void prereg_range(const struct uiommu_prereg *mem, uint64_t *ret_ua, uint64_t *ret_last)
{
	*ret_ua = mem->ua;
	*ret_last = mem->last;
}

/* ---- the array of regions, under ps->lock ---- */

static void region_free(struct uiommu_prereg *mem)
{
	struct uiommu_ctx *ctx = mem->ctx;

	ctx_free(ctx, mem->hpas);
	ctx_free(ctx, mem);
}

static void region_free_rcu(struct rcu_node *node)
{
	region_free(container_of(node, struct uiommu_prereg, rcu));
}

/*
 * A copy of the live entries of @old without @skip (NULL: none) and with
 * @add (NULL: none) in its place. On success, the dead entries dropped are
 * freed after a grace period once the copy is published; -ENOMEM leaves
 * everything as it was.
 */
static int regions_rebuild(struct prereg_state *ps, struct uiommu_prereg *skip,
			   struct uiommu_prereg *add, struct rcu_array **ret)
{
	const struct rcu_array *old = atomic_load_explicit(&ps->regions, memory_order_relaxed);
	size_t n = old ? old->n : 0, nn = add != NULL, j = 0;
	struct rcu_array *a;
	bool placed = add == NULL;

	for (size_t i = 0; i < n; i++) {
		struct uiommu_prereg *m = old->e[i].ptr;

		nn += m != skip && region_live(m);
	}
	*ret = NULL;
	if (!nn)
		return 0;
	a = ctx_alloc(ps->ctx, sizeof(*a) + nn * sizeof(a->e[0]));
	if (!a)
		return -ENOMEM;
	a->n = nn;
	a->ctx = ps->ctx;
	for (size_t i = 0; i < n; i++) {
		struct uiommu_prereg *m = old->e[i].ptr;

		if (m == skip || !region_live(m))
			continue;
		if (!placed && add->ua < m->ua) {
			a->e[j++] = (struct rcu_array_entry){ add->ua, add->last, add, 0 };
			placed = true;
		}
		a->e[j++] = old->e[i];
	}
	if (!placed)
		a->e[j++] = (struct rcu_array_entry){ add->ua, add->last, add, 0 };
	*ret = a;
	return 0;
}

/* Publish @a (from regions_rebuild()) and free, after a grace period, what it dropped. */
static void regions_publish(struct prereg_state *ps, struct rcu_array *a, struct uiommu_prereg *skip)
{
	const struct rcu_array *old = atomic_load_explicit(&ps->regions, memory_order_relaxed);

	for (size_t i = 0; old && i < old->n; i++) {
		struct uiommu_prereg *m = old->e[i].ptr;

		if (m == skip || !region_live(m))
			rcu_defer(&m->rcu, region_free_rcu);
	}
	rcu_array_publish(&ps->regions, a);
}

/* ---- the preregistered side of an address space ---- */

/*
 * The MM_EXT_PREREG finaliser: free every region (dead ones and, at context
 * teardown, any left: uiommu_ctx_free() reported them), then the state.
 */
static void prereg_state_fini(void *owner, void *state)
{
	struct prereg_state *ps = state;
	struct rcu_array *a = atomic_load_explicit(&ps->regions, memory_order_relaxed);

	(void)owner;
	for (size_t i = 0; a && i < a->n; i++)
		region_free(a->e[i].ptr);
	rcu_array_discard(a);
	pthread_mutex_destroy(&ps->lock);
	ctx_free(ps->ctx, ps);
}

/* uiommu_mm_free() asks first: not while regions are registered. */
static int prereg_state_busy(struct uiommu_mm *mm, void *state)
{
	struct prereg_state *ps = state;
	uint64_t nregions;

	pthread_mutex_lock(&ps->lock);
	nregions = ps->nregions;
	pthread_mutex_unlock(&ps->lock);
	if (!nregions)
		return 0;
	ctx_warn(mm->ctx, "address space not freed: %llu preregistered regions remain",
		 (unsigned long long)nregions);
	return -EBUSY;
}

/* The preregistered side of @mm, made on first use; NULL if out of memory. */
static struct prereg_state *prereg_state_get(struct uiommu_mm *mm)
{
	struct prereg_state *ps = ext_get(&mm->ext[MM_EXT_PREREG]), *won;

	if (likely(ps))
		return ps;
	ps = ctx_alloc(mm->ctx, sizeof(*ps));
	if (!ps)
		return NULL;
	ps->ctx = mm->ctx;
	pthread_mutex_init(&ps->lock, NULL);
	won = mm_ext_install(mm, MM_EXT_PREREG, ps, prereg_state_fini, prereg_state_busy);
	if (won != ps)
		prereg_state_fini(mm, ps);
	return won;
}

/* ---- pinning, one piece per region mapping or hostmem buffer ---- */

/*
 * Unpin [ua, last] piece by piece. Pinned memory cannot be removed, so the
 * pieces are where they were when they were pinned.
 */
static void unpin_pieces(struct uiommu_ctx *ctx, uint64_t ua, uint64_t last)
{
	while (ua <= last) {
		struct mem_backing b;
		uint64_t piece_last;

		if (mem_backing(ctx, (uintptr_t)ua, &b)) {
			ctx_err(ctx, "prereg: pinned memory at 0x%llx vanished", (unsigned long long)ua);
			return;
		}
		piece_last = MIN(last, (uint64_t)b.last);
		mem_unpin(ctx, (void *)(uintptr_t)ua, piece_last - ua + 1, true);
		if (piece_last == UINT64_MAX)
			return;
		ua = piece_last + 1;
	}
}

/*
 * Pin [ua, last] piece by piece, charging it; *ret_shift is the smallest
 * backing page shift of the pieces. All or nothing.
 */
static int pin_pieces(struct uiommu_ctx *ctx, uint64_t ua, uint64_t last, unsigned int *ret_shift)
{
	unsigned int shift = 63;
	uint64_t at = ua;
	int ret;

	while (at <= last) {
		struct mem_backing b;
		uint64_t piece_last;

		if (mem_backing(ctx, (uintptr_t)at, &b)) {
			ret = -EFAULT;
			goto err;
		}
		piece_last = MIN(last, (uint64_t)b.last);
		ret = mem_pin(ctx, (void *)(uintptr_t)at, piece_last - at + 1, NULL, true);
		if (ret)
			goto err;
		/* Asked again once pinned: a page may have migrated in between, not after. */
		if (mem_backing(ctx, (uintptr_t)at, &b)) {
			ret = -EFAULT;
			at = piece_last + 1;
			goto err;
		}
		shift = MIN(shift, b.page_shift);
		if (piece_last == UINT64_MAX)
			break;
		at = piece_last + 1;
	}
	*ret_shift = shift;
	return 0;
err:
	if (at > ua)
		unpin_pieces(ctx, ua, at - 1);
	return ret;
}

/* ---- public ---- */

UIOMMU_EXPORT int uiommu_prereg_new(struct uiommu_mm *mm, uint64_t ua, uint64_t size,
				    struct uiommu_prereg **ret_mem)
{
	struct uiommu_ctx *ctx;
	struct uiommu_prereg *mem;
	struct prereg_state *ps;
	struct rcu_array *a;
	const struct rcu_array *old;
	uint64_t page_size, last, n;
	unsigned int backing;
	int ret;

	if (!mm || !ret_mem)
		return -EINVAL;
	ctx = mm->ctx;
	page_size = 1ULL << ctx->host_page_shift;
	if (!size || !is_aligned_u64(ua, page_size) || !is_aligned_u64(size, page_size))
		return -EINVAL;
	if (range_from_len(ua, size, &last))
		return -EOVERFLOW;

	ret = ctx_charge(ctx, UIOMMU_RES_PREREG_REGIONS, 1);
	if (ret) {
		ctx_warn(ctx, "prereg of 0x%llx+0x%llx refused: the %s limit",
			 (unsigned long long)ua, (unsigned long long)size,
			 uiommu_resource_name(UIOMMU_RES_PREREG_REGIONS));
		return ret;
	}
	/* As mm_iommu_do_alloc(): charge and pin first, then look for overlaps. */
	ret = pin_pieces(ctx, ua, last, &backing);
	if (ret) {
		if (ret == -ENOMEM)
			ctx_warn(ctx, "prereg of 0x%llx+0x%llx refused: the %s limit, or out of memory",
				 (unsigned long long)ua, (unsigned long long)size,
				 uiommu_resource_name(UIOMMU_RES_LOCKED_BYTES));
		goto err_uncharge;
	}
	ps = prereg_state_get(mm);
	mem = ps ? ctx_alloc(ctx, sizeof(*mem)) : NULL;
	if (!mem) {
		ret = -ENOMEM;
		goto err_unpin;
	}
	mem->ps = ps;
	mem->ctx = ctx;
	mem->ua = ua;
	mem->last = last;
	/* Natural alignment of the range, and no more than the memory vouches for. */
	mem->page_shift = MIN((unsigned int)__builtin_ctzll(ua | size), backing);
	mem->granule_shift = MIN(ctx->host_page_shift, backing);
	n = size >> mem->granule_shift;
	if (n > SIZE_MAX / sizeof(uint64_t) ||
	    !(mem->hpas = ctx_alloc_array(ctx, (size_t)n, sizeof(uint64_t)))) {
		ret = -ENOMEM;
		goto err_free;
	}
	for (uint64_t i = 0; i < n; i++) {
		/* Pinned memory resolves: this cannot fail. */
		ret = uiommu_hva_to_hpa(ctx, (void *)(uintptr_t)(ua + (i << mem->granule_shift)),
					&mem->hpas[i]);
		if (ret)
			goto err_free;
	}
	atomic_init(&mem->mapped, 1);
	atomic_init(&mem->used, 1);

	pthread_mutex_lock(&ps->lock);
	old = atomic_load_explicit(&ps->regions, memory_order_relaxed);
	for (size_t i = 0; old && i < old->n; i++) {
		struct uiommu_prereg *m = old->e[i].ptr;

		if (region_live(m) && range_overlaps(ua, last, m->ua, m->last)) {
			pthread_mutex_unlock(&ps->lock);
			ctx_guest_error(ctx, "prereg of 0x%llx+0x%llx overlaps 0x%llx+0x%llx",
					(unsigned long long)ua, (unsigned long long)size,
					(unsigned long long)m->ua,
					(unsigned long long)(m->last - m->ua + 1));
			ret = -EINVAL;
			goto err_free;
		}
	}
	ret = regions_rebuild(ps, NULL, mem, &a);
	if (ret) {
		pthread_mutex_unlock(&ps->lock);
		goto err_free;
	}
	regions_publish(ps, a, NULL);
	ps->nregions++;
	pthread_mutex_unlock(&ps->lock);
	*ret_mem = mem;
	return 0;

err_free:
	region_free(mem);
err_unpin:
	unpin_pieces(ctx, ua, last);
err_uncharge:
	ctx_uncharge(ctx, UIOMMU_RES_PREREG_REGIONS, 1);
	return ret;
}

UIOMMU_EXPORT int uiommu_prereg_get(struct uiommu_mm *mm, uint64_t ua, uint64_t size,
				    struct uiommu_prereg **ret_mem)
{
	const struct rcu_array *a;
	struct prereg_state *ps;
	size_t i;
	int ret = -ENOENT;

	if (!mm || !ret_mem)
		return -EINVAL;
	ps = ext_get(&mm->ext[MM_EXT_PREREG]);
	if (!ps)
		return -ENOENT; /* nothing was ever registered */
	pthread_mutex_lock(&ps->lock);
	a = atomic_load_explicit(&ps->regions, memory_order_relaxed);
	i = rcu_array_find(a, ua);
	if (i != SIZE_MAX && size) {
		struct uiommu_prereg *mem = a->e[i].ptr;

		if (region_live(mem) && mem->ua == ua && mem->last - mem->ua == size - 1) {
			atomic_fetch_add_explicit(&mem->used, 1, memory_order_relaxed);
			*ret_mem = mem;
			ret = 0;
		}
	}
	pthread_mutex_unlock(&ps->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_prereg_put(struct uiommu_prereg *mem)
{
	struct prereg_state *ps;
	struct uiommu_ctx *ctx;
	struct rcu_array *a;
	uint64_t idle = 1, used, ua, last;

	if (!mem)
		return -EINVAL;
	ps = mem->ps;
	ctx = ps->ctx;
	ua = mem->ua; /* @mem may be freed once it is out of the array */
	last = mem->last;
	pthread_mutex_lock(&ps->lock);
	used = atomic_load_explicit(&mem->used, memory_order_relaxed);
	if (used > 1) {
		atomic_store_explicit(&mem->used, used - 1, memory_order_relaxed);
		pthread_mutex_unlock(&ps->lock);
		return 0;
	}
	/* The last registration: only an idle region dies (Linux: -EBUSY, used restored). */
	if (!atomic_compare_exchange_strong_explicit(&mem->mapped, &idle, 0, memory_order_acq_rel,
						     memory_order_acquire)) {
		pthread_mutex_unlock(&ps->lock);
		return -EBUSY;
	}
	atomic_store_explicit(&mem->used, 0, memory_order_relaxed);
	ps->nregions--;
	/* If the smaller array cannot be had, the dead region waits in place for the next edit. */
	if (!regions_rebuild(ps, mem, NULL, &a))
		regions_publish(ps, a, mem);
	pthread_mutex_unlock(&ps->lock);

	unpin_pieces(ctx, ua, last);
	ctx_uncharge(ctx, UIOMMU_RES_PREREG_REGIONS, 1);
	return 0;
}

UIOMMU_EXPORT int uiommu_prereg_lookup(struct uiommu_mm *mm, uint64_t ua, uint64_t size,
				       struct uiommu_prereg **ret_mem)
{
	struct uiommu_prereg *mem;

	if (!mm || !ret_mem || !size)
		return -EINVAL;
	rcu_read_enter();
	mem = prereg_lookup_rcu(mm, ua, size);
	rcu_read_exit();
	if (!mem)
		return -ENOENT;
	*ret_mem = mem;
	return 0;
}

UIOMMU_EXPORT int uiommu_prereg_ua_to_hpa(const struct uiommu_prereg *mem, uint64_t ua,
					  unsigned int page_shift, uint64_t *ret_hpa)
{
	if (!mem || !ret_hpa)
		return -EINVAL;
	return prereg_ua_to_hpa(mem, ua, page_shift, ret_hpa);
}

UIOMMU_EXPORT int uiommu_prereg_mapped_inc(struct uiommu_prereg *mem)
{
	if (!mem)
		return -EINVAL;
	return prereg_mapped_add(mem, 1);
}

UIOMMU_EXPORT int uiommu_prereg_mapped_dec(struct uiommu_prereg *mem)
{
	if (!mem)
		return -EINVAL;
	return mapped_sub(mem, 1) ? 0 : -EINVAL;
}

/* The first published layout of struct uiommu_prereg_info. */
#define INFO_SIZE_V1 sizeof(struct uiommu_prereg_info)

UIOMMU_EXPORT int uiommu_prereg_info(const struct uiommu_prereg *mem,
				     struct uiommu_prereg_info *ret_info)
{
	struct uiommu_prereg_info out = { 0 };
	uint32_t size;

	if (!mem || !ret_info || ret_info->size < INFO_SIZE_V1)
		return -EINVAL;
	size = ret_info->size;
	out.size = (uint32_t)INFO_SIZE_V1;
	out.page_shift = mem->page_shift;
	out.ua = mem->ua;
	out.length = mem->last - mem->ua + 1;
	out.used = atomic_load_explicit(&((struct uiommu_prereg *)mem)->used, memory_order_relaxed);
	out.mapped = atomic_load_explicit(&((struct uiommu_prereg *)mem)->mapped,
					  memory_order_relaxed);
	out.locked_bytes = out.mapped ? out.length : 0;
	memset(ret_info, 0, size);
	memcpy(ret_info, &out, sizeof(out));
	return 0;
}
