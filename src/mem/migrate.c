// SPDX-License-Identifier: BSD-3-Clause
/*
 * Page migration of a RAM region page, as the kernel's migrate_pages()
 * does to a page a device may know by its physical address: the page gets
 * a new hpa and its old hpa is poisoned (every later translation of it
 * fails). The page's bytes stay in the region's file, where every process
 * mapping of it keeps seeing them: what changes is the address a device
 * must use. Upper layers that hold hpas register a hook (internal.h) and
 * are told before and after, as mmu notifiers are told MMU_NOTIFY_MIGRATE.
 *
 * New hpas come from a 16 GiB slot of the hpa space reserved on the first
 * migration and never reused. Two RCU sorted arrays describe the moves:
 * each region's migrated pages (page index -> current hpa) and the moved
 * pages (new hpa -> region and page index).
 */
#include "mem.h"

#define MOVED_SLOT_SIZE UIOMMU_HPA_REGION_ALIGN

/* Index of the first entry of @a whose range ends at or after @key, or a->n. */
static size_t lower_bound(const struct rcu_array *a, uint64_t key)
{
	size_t lo = 0, hi = a->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (a->e[mid].last < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint64_t region_page_hpa_rcu(const struct ram_region *r, uint64_t page)
{
	const struct rcu_array *m = rcu_deref(r->migrated);
	size_t i = rcu_array_find(m, page);

	return i == SIZE_MAX ? r->hpa + (page << SYS_PAGE_SHIFT) : m->e[i].tag;
}

bool region_poisoned_rcu(const struct ram_region *r, uint64_t hpa, uint64_t len)
{
	const struct rcu_array *m = rcu_deref(r->migrated);
	uint64_t first = (hpa - r->hpa) >> SYS_PAGE_SHIFT;
	uint64_t last = (hpa - r->hpa + (len - 1)) >> SYS_PAGE_SHIFT;
	size_t i;

	if (likely(!m))
		return false;
	i = lower_bound(m, first);
	return i < m->n && m->e[i].start <= last;
}

void *moved_hpa_to_hva_rcu(struct mem_state *mem, uint64_t hpa, uint64_t len)
{
	const struct rcu_array *a = mem ? rcu_deref(mem->moved) : NULL;
	const struct ram_region *r;
	size_t i = rcu_array_find(a, hpa);

	if (i == SIZE_MAX || len - 1 > a->e[i].last - hpa)
		return NULL;
	r = a->e[i].ptr;
	return r->hva + (a->e[i].tag << SYS_PAGE_SHIFT) + (hpa - a->e[i].start);
}

bool region_run_rcu(const struct ram_region *r, uint64_t hpa, uint64_t *first, uint64_t *last)
{
	const struct rcu_array *m = rcu_deref(r->migrated);
	uint64_t page = (hpa - r->hpa) >> SYS_PAGE_SHIFT;
	size_t i;

	if (!m)
		return true;
	i = lower_bound(m, page);
	if (i < m->n && m->e[i].start == page)
		return false; /* poisoned */
	if (i < m->n)
		*last = r->hpa + (m->e[i].start << SYS_PAGE_SHIFT) - 1;
	if (i > 0)
		*first = r->hpa + ((m->e[i - 1].start + 1) << SYS_PAGE_SHIFT);
	return true;
}

void *moved_hpa_region_rcu(struct mem_state *mem, uint64_t hpa, uint64_t *first, uint64_t *last)
{
	const struct rcu_array *a = mem ? rcu_deref(mem->moved) : NULL;
	const struct ram_region *r;
	size_t i = rcu_array_find(a, hpa);

	if (i == SIZE_MAX)
		return NULL;
	r = a->e[i].ptr;
	*first = a->e[i].start;
	*last = a->e[i].last;
	return r->hva + (a->e[i].tag << SYS_PAGE_SHIFT);
}

int mem_migrate_hook_add(struct uiommu_ctx *ctx, mem_migrate_hook_fn *fn, void *opaque)
{
	struct mem_state *mem = mem_get(ctx);
	struct mem_hook *h;

	if (!mem)
		return -ENOMEM;
	h = ctx_alloc(ctx, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->fn = fn;
	h->opaque = opaque;
	pthread_mutex_lock(&mem->migrate_lock);
	h->next = mem->hooks;
	mem->hooks = h;
	pthread_mutex_unlock(&mem->migrate_lock);
	return 0;
}

void mem_migrate_hook_remove(struct uiommu_ctx *ctx, mem_migrate_hook_fn *fn, void *opaque)
{
	struct mem_state *mem = mem_peek(ctx);
	struct mem_hook **p, *h = NULL;

	if (!mem)
		return;
	pthread_mutex_lock(&mem->migrate_lock);
	for (p = &mem->hooks; *p; p = &(*p)->next) {
		if ((*p)->fn == fn && (*p)->opaque == opaque) {
			h = *p;
			*p = h->next;
			break;
		}
	}
	pthread_mutex_unlock(&mem->migrate_lock);
	ctx_free(ctx, h);
}

uint64_t mem_migrate_gen(struct uiommu_ctx *ctx)
{
	struct mem_state *mem = mem_peek(ctx);

	return mem ? atomic_load_explicit(&mem->migrate_gen, memory_order_seq_cst) : 0;
}

static void call_hooks(struct mem_state *mem, uint64_t old_hpa, bool end)
{
	for (struct mem_hook *h = mem->hooks; h; h = h->next)
		h->fn(h->opaque, old_hpa, SYS_PAGE_SIZE, end);
}

UIOMMU_EXPORT int uiommu_ram_migrate(struct uiommu_ctx *ctx, uint64_t hpa, uint64_t *ret_new_hpa)
{
	struct mem_state *mem = mem_peek(ctx);
	struct rcu_array *new_migrated = NULL, *new_moved = NULL;
	const struct rcu_array *migrated, *moved;
	struct rcu_array_entry me, ve;
	struct ram_region *r = NULL;
	size_t mi, vi = SIZE_MAX;
	uint64_t page, new_hpa;
	int ret;

	if (!ret_new_hpa || !is_aligned_u64(hpa, SYS_PAGE_SIZE))
		return -EINVAL;
	if (!mem)
		return -EFAULT; /* no region was ever added */
	pthread_mutex_lock(&mem->migrate_lock);
	pthread_mutex_lock(&mem->lock);
	moved = atomic_load_explicit(&mem->moved, memory_order_relaxed);

	/* Whose page is it: a region's linear hpa, or a page that moved before? */
	vi = rcu_array_find(moved, hpa);
	if (vi != SIZE_MAX) {
		r = moved->e[vi].ptr;
		page = moved->e[vi].tag;
	} else {
		const struct rcu_array *regions = atomic_load_explicit(&mem->regions,
								       memory_order_relaxed);
		size_t i = rcu_array_find(regions, hpa);

		if (i != SIZE_MAX) {
			r = regions->e[i].ptr;
			page = (hpa - r->hpa) >> SYS_PAGE_SHIFT;
			if (region_poisoned_rcu(r, hpa, 1) || r->vr->page_shift != SYS_PAGE_SHIFT)
				r = NULL;
		}
		if (!r) {
			ret = -EFAULT;
			ctx_err(ctx, "mem: migrate: hpa 0x%llx is not a 4 KiB RAM page (or was "
				     "poisoned by an earlier migration)", (unsigned long long)hpa);
			goto out_unlock;
		}
	}
	if (pins_in_range_locked(r->vr, (uintptr_t)r->hva + (page << SYS_PAGE_SHIFT),
				 (uintptr_t)r->hva + (page << SYS_PAGE_SHIFT) + SYS_PAGE_SIZE - 1)) {
		ret = -EBUSY;
		ctx_err(ctx, "mem: migrate: hpa 0x%llx is pinned", (unsigned long long)hpa);
		goto out_unlock;
	}
	if (!mem->moved_base || mem->moved_next >= mem->moved_base + MOVED_SLOT_SIZE) {
		uint64_t base, last;

		if (!align_up_u64(mem->next_hpa, UIOMMU_HPA_REGION_ALIGN, &base) ||
		    range_from_len(base, MOVED_SLOT_SIZE, &last) || last >= UIOMMU_HPA_LIMIT) {
			ret = -ENOSPC;
			ctx_err(ctx, "mem: migrate: no hpa space left for migrated pages");
			goto out_unlock;
		}
		mem->moved_base = mem->moved_next = base;
		mem->next_hpa = last + 1;
	}
	new_hpa = mem->moved_next;

	migrated = atomic_load_explicit(&r->migrated, memory_order_relaxed);
	mi = rcu_array_find(migrated, page);
	me = (struct rcu_array_entry){ .start = page, .last = page, .tag = new_hpa };
	ve = (struct rcu_array_entry){ .start = new_hpa, .last = new_hpa + SYS_PAGE_SIZE - 1,
				       .ptr = r, .tag = page };
	ret = rcu_array_edit(ctx, migrated, mi, &me, &new_migrated);
	if (!ret)
		ret = rcu_array_edit(ctx, moved, vi, &ve, &new_moved);
	if (ret) {
		rcu_array_discard(new_migrated);
		goto out_unlock;
	}
	mem->moved_next += SYS_PAGE_SIZE;
	pthread_mutex_unlock(&mem->lock);

	/*
	 * The generation is odd from here until the publication (a seqcount): a
	 * lookup that overlaps this window sees it odd or changed, and retries.
	 * Then MMU_NOTIFY_MIGRATE start: every device use of the old hpa stops.
	 */
	atomic_fetch_add_explicit(&mem->migrate_gen, 1, memory_order_seq_cst);
	call_hooks(mem, hpa, false);

	pthread_mutex_lock(&mem->lock);
	if (pins_in_range_locked(r->vr, (uintptr_t)r->hva + (page << SYS_PAGE_SHIFT),
				 (uintptr_t)r->hva + (page << SYS_PAGE_SHIFT) + SYS_PAGE_SIZE - 1)) {
		/* Pinned meanwhile: the pin holds the old hpa, so the page stays. */
		pthread_mutex_unlock(&mem->lock);
		rcu_array_discard(new_migrated);
		rcu_array_discard(new_moved);
		atomic_fetch_add_explicit(&mem->migrate_gen, 1, memory_order_seq_cst);
		call_hooks(mem, hpa, true);
		pthread_mutex_unlock(&mem->migrate_lock);
		ctx_err(ctx, "mem: migrate: hpa 0x%llx was pinned during the migration",
			(unsigned long long)hpa);
		return -EBUSY;
	}
	rcu_array_publish(&r->migrated, new_migrated);
	rcu_array_publish(&mem->moved, new_moved);
	atomic_fetch_add_explicit(&mem->migrate_gen, 1, memory_order_seq_cst);
	pthread_mutex_unlock(&mem->lock);

	call_hooks(mem, hpa, true);
	pthread_mutex_unlock(&mem->migrate_lock);
	*ret_new_hpa = new_hpa;
	return 0;

out_unlock:
	pthread_mutex_unlock(&mem->lock);
	pthread_mutex_unlock(&mem->migrate_lock);
	return ret;
}

int migrate_forget_region_locked(struct uiommu_ctx *ctx, struct ram_region *r)
{
	struct mem_state *mem = mem_peek(ctx);
	const struct rcu_array *moved = atomic_load_explicit(&mem->moved, memory_order_relaxed);
	const struct rcu_array *src = moved;
	struct rcu_array *cur = NULL;
	size_t i = 0;

	if (!atomic_load_explicit(&r->migrated, memory_order_relaxed))
		return 0;
	/* Drop @r's moved pages one by one; the intermediate copies were never published. */
	while (src && i < src->n) {
		struct rcu_array *next;
		int ret;

		if (src->e[i].ptr != r) {
			i++;
			continue;
		}
		ret = rcu_array_edit(ctx, src, i, NULL, &next);
		rcu_array_discard(cur);
		if (ret)
			return ret;
		cur = next;
		src = cur;
	}
	if (src != moved)
		rcu_array_publish(&mem->moved, cur);
	return 0;
}

void migrate_fini(struct uiommu_ctx *ctx, struct mem_state *mem)
{
	struct mem_hook *h = mem->hooks;

	while (h) {
		struct mem_hook *next = h->next;

		ctx_free(ctx, h);
		h = next;
	}
	mem->hooks = NULL;
	rcu_array_discard(atomic_load(&mem->moved));
}
