// SPDX-License-Identifier: BSD-3-Clause
/*
 * Mirrors: a mirrored range with its interval notifier, driver lock and
 * DMA-address array, as drm_gpusvm_pages (drivers/gpu/drm/drm_gpusvm.c)
 * used by Xe's userptr (drivers/gpu/drm/xe/xe_userptr.c), and its binding
 * to a bus address range of a DMA window. See uiommu/mirror.h.
 */
#include <sched.h>
#include <string.h>
#include <time.h>

#include "mirror.h"

struct uiommu_mirror {
	struct mirror_mm *mm;
	struct uiommu_ctx *ctx;
	uint64_t ua, last, npages;
	unsigned int flags;
	struct uiommu_interval_notifier *notifier;
	LIST_ENTRY(uiommu_mirror) mm_link; /* under mm->mirrors_lock */
	unsigned int fault_users;	   /* fault handlers using it; under mirrors_lock */

	pthread_mutex_t populate_lock; /* one population at a time */
	struct mirror_page *pages;     /* the resolved pages; under populate_lock */

	/* The driver lock (drm_gpusvm notifier_lock) and what it guards. */
	pthread_rwlock_t lock;
	struct uiommu_mirror_addr *addrs;
	size_t nchunks;
	_Atomic bool has_dma_mapping;
	bool unmapped;
	_Atomic uint64_t notifier_seq; /* written under the lock, read as a hint without */

	/* Binding: [ioba, + size) of @tbl; entries entry0 .. entry0 + nentries - 1. */
	struct uiommu_tce_table *tbl;
	uint64_t ioba, entry0, nentries;
	unsigned int tce_page_shift;
	bool fault_mode;

	_Atomic uint64_t st_populates, st_retries, st_invalidations;
};

static void binding_drop(struct uiommu_mirror *m, struct uiommu_tce_table *tbl);

/* Xe's LONG_MAX: a sequence no notifier ever has, so the first check always repins. */
#define MIRROR_SEQ_NEVER ((uint64_t)INT64_MAX)

static void driver_write_lock(struct uiommu_mirror *m)
{
	pthread_rwlock_wrlock(&m->lock);
	(*mirror_tls_driver_locks())++;
}

static void driver_write_unlock(struct uiommu_mirror *m)
{
	(*mirror_tls_driver_locks())--;
	pthread_rwlock_unlock(&m->lock);
}

UIOMMU_EXPORT void uiommu_mirror_read_lock(struct uiommu_mirror *mirror)
{
	pthread_rwlock_rdlock(&mirror->lock);
	(*mirror_tls_driver_locks())++;
}

UIOMMU_EXPORT void uiommu_mirror_read_unlock(struct uiommu_mirror *mirror)
{
	(*mirror_tls_driver_locks())--;
	pthread_rwlock_unlock(&mirror->lock);
}

/*
 * Was the range unmapped since the mirror was made? An UNMAP or RELEASE
 * callback, uiommu_mirror_free(), or an UNMAP that overlapped the
 * notifier while its insert was deferred (notifier.c). Under the driver
 * lock, or after uiommu_interval_read_begin() (which waits for the end of
 * an invalidation that could mark the notifier).
 */
static bool mirror_unmapped(const struct uiommu_mirror *m)
{
	return m->unmapped ||
	       atomic_load_explicit(&m->notifier->missed_unmap, memory_order_relaxed);
}

/* ---- TCEs of a bound mirror; under the driver lock for writing ---- */

static void tces_clear_locked(struct uiommu_mirror *m)
{
	if (m->tbl && m->nentries)
		uiommu_tce_table_clear(m->tbl, m->entry0, m->nentries, NULL, NULL, NULL);
}

/* The chunk of @addrs holding byte @off of the range; @hint walks forward. */
static const struct uiommu_mirror_addr *chunk_at(const struct uiommu_mirror_addr *addrs,
						 size_t n, uint64_t off, size_t *hint,
						 uint64_t *chunk_off)
{
	uint64_t pos = *chunk_off;

	for (size_t i = *hint; i < n; i++) {
		uint64_t len = MIRROR_PAGE_SIZE << addrs[i].order;

		if (off < pos + len) {
			*hint = i;
			*chunk_off = pos;
			return &addrs[i];
		}
		pos += len;
	}
	return NULL;
}

/*
 * Can @addrs be mapped by IOMMU pages of 1 << @page_shift? Each page must be
 * an hpa inside one chunk. 0, or -EFAULT with the reason logged.
 */
static int tces_check(struct uiommu_mirror *m, const struct uiommu_mirror_addr *addrs, size_t n)
{
	uint64_t off = 0, psize = 1ULL << m->tce_page_shift;

	for (size_t i = 0; i < n; i++) {
		uint64_t len = MIRROR_PAGE_SIZE << addrs[i].order;

		if (addrs[i].proto != UIOMMU_MIRROR_ADDR_HPA) {
			ctx_err(m->ctx, "mirror: ua 0x%llx has no hpa (memory the host memory model "
					"does not know): a window cannot map it",
				(unsigned long long)(m->ua + off));
			return -EFAULT;
		}
		if (len < psize && (off & (psize - 1)) == 0) {
			ctx_err(m->ctx, "mirror: ua 0x%llx is backed by a %llu KiB page, smaller than "
					"the window's %llu KiB IOMMU pages",
				(unsigned long long)(m->ua + off), (unsigned long long)(len >> 10),
				(unsigned long long)(psize >> 10));
			return -EFAULT;
		}
		off += len;
	}
	return 0;
}

static int tces_write_locked(struct uiommu_mirror *m, const struct uiommu_mirror_addr *addrs,
			     size_t n)
{
	uint64_t psize = 1ULL << m->tce_page_shift, chunk_off = 0;
	size_t hint = 0;

	for (uint64_t k = 0; k < m->nentries; k++) {
		uint64_t off = k * psize;
		const struct uiommu_mirror_addr *c = chunk_at(addrs, n, off, &hint, &chunk_off);
		int ret;

		ret = uiommu_tce_table_xchg_no_kill(m->tbl, m->entry0 + k,
						    c->addr + (off - chunk_off),
						    (enum uiommu_dma_dir)c->dir, NULL, NULL);
		if (ret) {
			/* A level could not be allocated: leave nothing half-mapped. */
			if (k)
				uiommu_tce_table_clear(m->tbl, m->entry0, k, NULL, NULL, NULL);
			return ret;
		}
	}
	return uiommu_tce_table_kill(m->tbl, m->entry0, m->nentries);
}

/* ---- the invalidate callback (Xe vma_userptr_invalidate) ---- */

static bool mirror_invalidate(struct uiommu_interval_notifier *sub,
			      const struct uiommu_mmu_range *range, uint64_t cur_seq)
{
	struct uiommu_mirror *m = uiommu_interval_notifier_opaque(sub);

	if (!(range->flags & UIOMMU_MMU_RANGE_BLOCKABLE))
		return false;
	driver_write_lock(m);
	uiommu_interval_set_seq(sub, cur_seq);
	atomic_fetch_add_explicit(&m->st_invalidations, 1, memory_order_relaxed);
	if (range->event == UIOMMU_MMU_NOTIFY_UNMAP || range->event == UIOMMU_MMU_NOTIFY_RELEASE)
		m->unmapped = true;
	if (atomic_load_explicit(&m->has_dma_mapping, memory_order_relaxed)) {
		/* drm_gpusvm_unmap_pages(in_notifier): clear and kill the TCEs, then the array. */
		tces_clear_locked(m);
		atomic_store_explicit(&m->has_dma_mapping, false, memory_order_release);
		/* Like Xe waiting for the VM's fences: no device access still uses the old TCEs. */
		if (m->tbl)
			mm_dma_quiesce(m->mm->mm);
	}
	driver_write_unlock(m);
	return true;
}

static const struct uiommu_interval_notifier_ops mirror_notifier_ops = {
	.invalidate = mirror_invalidate,
};

/* ---- create and free ---- */

UIOMMU_EXPORT int uiommu_mirror_new(struct uiommu_mm *owner, void *ua, uint64_t size,
				    unsigned int flags, struct uiommu_mirror **ret_mirror)
{
	struct uiommu_mirror *m;
	struct mirror_mm *mm;
	uint64_t last;
	int ret;

	if (!owner || !ret_mirror || (flags & ~UIOMMU_MIRROR_READ_ONLY) ||
	    !is_aligned_u64((uintptr_t)ua, MIRROR_PAGE_SIZE) || !size ||
	    !is_aligned_u64(size, MIRROR_PAGE_SIZE))
		return -EINVAL;
	if (range_from_len((uintptr_t)ua, size, &last))
		return -EOVERFLOW;
	ret = mirror_mm_get(owner, &mm);
	if (ret)
		return ret;
	m = ctx_alloc(mm->ctx, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->mm = mm;
	m->ctx = mm->ctx;
	m->ua = (uintptr_t)ua;
	m->last = last;
	m->npages = size >> MIRROR_PAGE_SHIFT;
	m->flags = flags;
	atomic_init(&m->notifier_seq, MIRROR_SEQ_NEVER);
	pthread_mutex_init(&m->populate_lock, NULL);
	pthread_rwlock_init(&m->lock, NULL);
	ret = mirror_notifier_insert(mm, m->ua, last, &mirror_notifier_ops, m, &m->notifier);
	if (ret) {
		pthread_rwlock_destroy(&m->lock);
		pthread_mutex_destroy(&m->populate_lock);
		ctx_free(mm->ctx, m);
		return ret;
	}
	pthread_mutex_lock(&mm->mirrors_lock);
	LIST_INSERT_HEAD(&mm->mirrors, m, mm_link);
	pthread_mutex_unlock(&mm->mirrors_lock);
	*ret_mirror = m;
	return 0;
}

UIOMMU_EXPORT int uiommu_mirror_free(struct uiommu_mirror *mirror)
{
	struct uiommu_tce_table *tbl;
	struct mirror_mm *mm;
	struct uiommu_ctx *ctx;
	int ret;

	if (!mirror)
		return 0;
	mm = mirror->mm;
	ctx = mirror->ctx;
	if (*mirror_tls_driver_locks() || mirror_tls_invalidating() == mm) {
		/* The same refusals as the notifier's removal, before anything changes. */
		return uiommu_interval_notifier_remove(mirror->notifier);
	}
	/*
	 * drm_gpusvm_free_pages(): unmap under the lock, then the notifier.
	 * Marked unmapped in the same critical section, so that no population
	 * (a fault handler's, say) commits after this clear; it stays on the
	 * list meanwhile, where a migration looks for the hpas it may hold.
	 * Then unlink it and wait for the fault handlers still using it.
	 */
	pthread_mutex_lock(&mirror->populate_lock);
	driver_write_lock(mirror);
	if (atomic_load_explicit(&mirror->has_dma_mapping, memory_order_relaxed))
		tces_clear_locked(mirror);
	atomic_store(&mirror->has_dma_mapping, false);
	mirror->unmapped = true;
	tbl = mirror->tbl;
	mirror->tbl = NULL;
	driver_write_unlock(mirror);
	pthread_mutex_unlock(&mirror->populate_lock);
	pthread_mutex_lock(&mm->mirrors_lock);
	LIST_REMOVE(mirror, mm_link);
	while (mirror->fault_users)
		pthread_cond_wait(&mm->mirrors_cond, &mm->mirrors_lock);
	pthread_mutex_unlock(&mm->mirrors_lock);
	/* Before the notifier: its removal may drop the last reference to the address space. */
	if (tbl)
		binding_drop(mirror, tbl);
	ret = uiommu_interval_notifier_remove(mirror->notifier);
	if (ret) /* cannot happen: checked above */
		return ret;
	pthread_rwlock_destroy(&mirror->lock);
	pthread_mutex_destroy(&mirror->populate_lock);
	ctx_free(ctx, mirror->addrs);
	ctx_free(ctx, mirror->pages);
	ctx_free(ctx, mirror);
	return 0;
}

/* ---- population (drm_gpusvm_get_pages) ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * The chunk order at page @i (drm_gpusvm_hmm_pfn_to_order()): the CPU
 * mapping's order, clamped so that the chunk is naturally aligned in the
 * range and in the address space, inside the range, and made of contiguous
 * addresses of one kind.
 */
static unsigned int chunk_order(const struct uiommu_mirror *m, const struct mirror_page *p,
				uint64_t i)
{
	unsigned int order = p[i].order;

	for (; order; order--) {
		uint64_t n = 1ULL << order, bytes = MIRROR_PAGE_SIZE << order;
		bool ok = i + n <= m->npages && is_aligned_u64(m->ua + (i << MIRROR_PAGE_SHIFT), bytes) &&
			  is_aligned_u64(p[i].addr, bytes) && p[i].addr;

		for (uint64_t j = 1; ok && j < n; j++)
			ok = p[i + j].proto == p[i].proto &&
			     p[i + j].addr == p[i].addr + (j << MIRROR_PAGE_SHIFT);
		if (ok)
			break;
	}
	return order;
}

/* Build the DMA array of the resolved pages into a new allocation. */
static int build_addrs(struct uiommu_mirror *m, struct uiommu_mirror_addr **ret, size_t *ret_n)
{
	struct uiommu_mirror_addr *a;
	uint8_t dir = (m->flags & UIOMMU_MIRROR_READ_ONLY) ? UIOMMU_DMA_TO_DEVICE
							   : UIOMMU_DMA_BIDIRECTIONAL;
	size_t n = 0;

	/* At most one chunk per page; allocated outside the driver lock (gpusvm kvmalloc). */
	a = ctx_alloc_array(m->ctx, m->npages, sizeof(*a));
	if (!a)
		return -ENOMEM;
	for (uint64_t i = 0; i < m->npages;) {
		unsigned int order = chunk_order(m, m->pages, i);

		a[n++] = (struct uiommu_mirror_addr){ .addr = m->pages[i].addr,
						      .order = (uint8_t)order, .dir = dir,
						      .proto = m->pages[i].proto };
		i += 1ULL << order;
	}
	*ret = a;
	*ret_n = n;
	return 0;
}

static int populate_locked(struct uiommu_mirror *m)
{
	struct uiommu_interval_notifier *sub = m->notifier;
	const bool read_only = m->flags & UIOMMU_MIRROR_READ_ONLY;
	uint64_t limit = 1000, deadline, seq, gen;
	struct uiommu_mirror_addr *addrs = NULL, *old;
	size_t n = 0;
	int ret;

	uiommu_ctx_get_limit(m->ctx, UIOMMU_RES_MIRROR_BUSY_MS, &limit);
	deadline = now_ms() + MIN(limit, UINT64_MAX / 2);

retry:
	seq = uiommu_interval_read_begin(sub);
	/* Fast path: still valid. */
	pthread_rwlock_rdlock(&m->lock);
	if (mirror_unmapped(m)) {
		pthread_rwlock_unlock(&m->lock);
		ret = -EFAULT;
		goto unmapped;
	}
	if (atomic_load_explicit(&m->has_dma_mapping, memory_order_relaxed) &&
	    !uiommu_interval_read_retry(sub, seq)) {
		/* Unchanged since the commit, which stored this same sequence. */
		pthread_rwlock_unlock(&m->lock);
		return 0;
	}
	pthread_rwlock_unlock(&m->lock);
	if (atomic_load_explicit(&m->mm->released, memory_order_acquire)) {
		ret = -EFAULT; /* mmget_not_zero() failed */
		goto unmapped;
	}
	if (!m->pages) {
		m->pages = ctx_alloc_array(m->ctx, m->npages, sizeof(*m->pages));
		if (!m->pages)
			return -ENOMEM;
	}

	/* hmm_range_fault(): bail out early when the range is invalidated meanwhile. */
	for (;;) {
		if (uiommu_interval_check_retry(sub, seq))
			goto busy;
		ret = mirror_fault_in(m->ctx, m->ua, m->npages << MIRROR_PAGE_SHIFT, read_only);
		if (ret)
			goto fault_error;
		gen = mem_migrate_gen(m->ctx);
		if (gen & 1) {
			/* A migration is between its invalidation and its new hpa: wait it out. */
			sched_yield();
			goto busy;
		}
		ret = mirror_resolve(m->ctx, m->ua, m->npages, m->pages);
		if (ret)
			goto fault_error;
		if (unlikely(m->mm->test_populate_hook))
			m->mm->test_populate_hook(m->mm->test_populate_opaque, m);
		if (!uiommu_interval_check_retry(sub, seq))
			break;
	busy:
		atomic_fetch_add_explicit(&m->st_retries, 1, memory_order_relaxed);
		if (now_ms() >= deadline)
			goto timeout;
		seq = uiommu_interval_read_begin(sub);
	}

	ret = build_addrs(m, &addrs, &n);
	if (ret)
		return ret;
	if (m->tbl) {
		ret = tces_check(m, addrs, n);
		if (ret) {
			ctx_free(m->ctx, addrs);
			return ret;
		}
	}

	driver_write_lock(m);
	if (mirror_unmapped(m)) {
		driver_write_unlock(m);
		ctx_free(m->ctx, addrs);
		ret = -EFAULT;
		goto unmapped;
	}
	if (uiommu_interval_read_retry(sub, seq) || gen != mem_migrate_gen(m->ctx)) {
		driver_write_unlock(m);
		ctx_free(m->ctx, addrs);
		atomic_fetch_add_explicit(&m->st_retries, 1, memory_order_relaxed);
		if (now_ms() >= deadline)
			goto timeout;
		goto retry;
	}
	if (m->tbl) {
		ret = tces_write_locked(m, addrs, n);
		if (ret) {
			driver_write_unlock(m);
			ctx_free(m->ctx, addrs);
			return ret;
		}
	}
	old = m->addrs;
	m->addrs = addrs;
	m->nchunks = n;
	atomic_store_explicit(&m->notifier_seq, seq, memory_order_relaxed);
	atomic_store_explicit(&m->has_dma_mapping, true, memory_order_release);
	driver_write_unlock(m);
	ctx_free(m->ctx, old);
	atomic_fetch_add_explicit(&m->st_populates, 1, memory_order_relaxed);
	return 0;

fault_error:
	/* A failure while an invalidation raced us is that invalidation's doing: retry. */
	if (ret == -EFAULT && uiommu_interval_check_retry(sub, seq))
		goto busy;
	return ret;
unmapped:
	ctx_debug(m->ctx, "mirror: [0x%llx, 0x%llx] was unmapped", (unsigned long long)m->ua,
		  (unsigned long long)m->last);
	return ret;
timeout:
	ctx_err(m->ctx, "mirror: populating [0x%llx, 0x%llx] kept being invalidated for %llu ms "
			"(the %s limit)",
		(unsigned long long)m->ua, (unsigned long long)m->last, (unsigned long long)limit,
		uiommu_resource_name(UIOMMU_RES_MIRROR_BUSY_MS));
	return -EBUSY;
}

UIOMMU_EXPORT int uiommu_mirror_populate(struct uiommu_mirror *mirror)
{
	int ret;

	if (!mirror)
		return -EINVAL;
	if (*mirror_tls_driver_locks() || mirror_tls_invalidating() == mirror->mm) {
		ctx_err(mirror->ctx, "mirror: populate with a driver lock held or from an "
				     "invalidate callback would wait for itself");
		return -EDEADLK;
	}
	pthread_mutex_lock(&mirror->populate_lock);
	ret = populate_locked(mirror);
	pthread_mutex_unlock(&mirror->populate_lock);
	return ret;
}

UIOMMU_EXPORT bool uiommu_mirror_valid(const struct uiommu_mirror *mirror)
{
	return atomic_load_explicit(&mirror->has_dma_mapping, memory_order_acquire) &&
	       !uiommu_interval_check_retry(mirror->notifier,
					    atomic_load_explicit(&mirror->notifier_seq,
								 memory_order_relaxed));
}

UIOMMU_EXPORT int uiommu_mirror_addrs(struct uiommu_mirror *mirror,
				      const struct uiommu_mirror_addr **ret_addrs, size_t *ret_n)
{
	if (!mirror || !ret_addrs || !ret_n)
		return -EINVAL;
	if (!uiommu_mirror_valid(mirror))
		return -EAGAIN;
	*ret_addrs = mirror->addrs;
	*ret_n = mirror->nchunks;
	return 0;
}

UIOMMU_EXPORT int uiommu_mirror_get_info(struct uiommu_mirror *mirror,
					 struct uiommu_mirror_info *ret_info)
{
	if (!mirror || !ret_info)
		return -EINVAL;
	memset(ret_info, 0, sizeof(*ret_info));
	pthread_rwlock_rdlock(&mirror->lock);
	ret_info->ua = mirror->ua;
	ret_info->size = mirror->npages << MIRROR_PAGE_SHIFT;
	ret_info->flags = mirror->flags;
	ret_info->valid = uiommu_mirror_valid(mirror);
	ret_info->unmapped = mirror_unmapped(mirror);
	ret_info->notifier_seq = atomic_load_explicit(&mirror->notifier_seq, memory_order_relaxed);
	ret_info->nchunks = ret_info->valid ? mirror->nchunks : 0;
	pthread_rwlock_unlock(&mirror->lock);
	ret_info->populates = atomic_load_explicit(&mirror->st_populates, memory_order_relaxed);
	ret_info->retries = atomic_load_explicit(&mirror->st_retries, memory_order_relaxed);
	ret_info->invalidations = atomic_load_explicit(&mirror->st_invalidations,
						       memory_order_relaxed);
	return 0;
}

/* ---- binding to a DMA window ---- */

/*
 * The table's DMA hooks (src/internal.h), one registration per address
 * space and table: the library's own devices enter the address space's
 * device accesses for every chunk through the window, as a device model
 * would with uiommu_mm_dma_begin(). The hook is linked while a mirror is
 * bound, so the address space is alive inside the chunk (the mirror's
 * notifier grabs it); a held access grabs it again for the wait outside.
 */
static bool dma_hook_try_begin(void *opaque)
{
	struct uiommu_mm *mm = opaque;

	if (likely(mm_dma_try_begin(mm)))
		return true;
	mm_grab(mm);
	return false;
}

static void dma_hook_end(void *opaque)
{
	mm_dma_end(opaque);
}

static void dma_hook_wait(void *opaque)
{
	mm_dma_wait(opaque);
	mm_drop(opaque);
}

static const struct tce_dma_hook_ops mirror_dma_hook_ops = {
	.try_begin = dma_hook_try_begin,
	.end = dma_hook_end,
	.wait = dma_hook_wait,
};

/* After the TCEs are cleared and the accesses quiesced: the binding's last trace. */
static void binding_drop(struct uiommu_mirror *m, struct uiommu_tce_table *tbl)
{
	mm_dma_quiesce(m->mm->mm);
	tce_dma_hook_remove(tbl, &mirror_dma_hook_ops, m->mm->mm);
	uiommu_tce_table_unref(tbl);
}

UIOMMU_EXPORT int uiommu_mirror_bind(struct uiommu_mirror *mirror, struct uiommu_tce_table *tbl,
				     uint64_t ioba, unsigned int flags)
{
	struct uiommu_tce_table_info info = { .size = sizeof(info) };
	uint64_t size, psize;
	int ret;

	if (!mirror || !tbl || (flags & ~UIOMMU_MIRROR_BIND_FAULT))
		return -EINVAL;
	if (uiommu_tce_table_ctx(tbl) != mirror->ctx)
		return -EINVAL;
	ret = uiommu_tce_table_info(tbl, &info);
	if (ret)
		return ret;
	size = mirror->npages << MIRROR_PAGE_SHIFT;
	psize = 1ULL << info.page_shift;
	if (!is_aligned_u64(size, psize) || !is_aligned_u64(mirror->ua, psize)) {
		ctx_err(mirror->ctx, "mirror: [0x%llx, +0x%llx) is not made of whole %llu KiB "
				     "IOMMU pages", (unsigned long long)mirror->ua,
			(unsigned long long)size, (unsigned long long)(psize >> 10));
		return -EINVAL;
	}
	ret = uiommu_tce_table_check_ioba(tbl, ioba, size >> info.page_shift);
	if (ret) {
		ctx_err(mirror->ctx, "mirror: bus addresses [0x%llx, +0x%llx) are not in the window",
			(unsigned long long)ioba, (unsigned long long)size);
		return ret;
	}
	ret = tce_dma_hook_add(tbl, &mirror_dma_hook_ops, mirror->mm->mm);
	if (ret) {
		ctx_err(mirror->ctx, "mirror: the window's table already guards %u address spaces",
			TCE_DMA_HOOKS_MAX);
		return ret;
	}
	pthread_mutex_lock(&mirror->populate_lock);
	driver_write_lock(mirror);
	if (mirror->tbl) {
		ret = -EBUSY;
		goto out;
	}
	mirror->tbl = uiommu_tce_table_ref(tbl);
	mirror->ioba = ioba;
	mirror->tce_page_shift = info.page_shift;
	mirror->entry0 = ioba >> info.page_shift;
	mirror->nentries = size >> info.page_shift;
	mirror->fault_mode = flags & UIOMMU_MIRROR_BIND_FAULT;
	/* The next populate writes the TCEs. */
	atomic_store(&mirror->has_dma_mapping, false);
out:
	driver_write_unlock(mirror);
	pthread_mutex_unlock(&mirror->populate_lock);
	if (ret)
		tce_dma_hook_remove(tbl, &mirror_dma_hook_ops, mirror->mm->mm);
	return ret;
}

UIOMMU_EXPORT int uiommu_mirror_unbind(struct uiommu_mirror *mirror)
{
	struct uiommu_tce_table *tbl;

	if (!mirror)
		return -EINVAL;
	pthread_mutex_lock(&mirror->populate_lock);
	driver_write_lock(mirror);
	tbl = mirror->tbl;
	if (tbl) {
		tces_clear_locked(mirror);
		atomic_store(&mirror->has_dma_mapping, false);
		mirror->tbl = NULL;
		mirror->nentries = 0;
	}
	driver_write_unlock(mirror);
	pthread_mutex_unlock(&mirror->populate_lock);
	if (!tbl)
		return -ENOENT;
	binding_drop(mirror, tbl);
	return 0;
}

UIOMMU_EXPORT int uiommu_mm_handle_fault(struct uiommu_mm *owner, struct uiommu_tce_table *tbl,
					 uint64_t ioba)
{
	struct uiommu_mirror *m, *found = NULL;
	struct mirror_mm *mm;
	unsigned int steps;
	int ret;

	if (!owner || !tbl)
		return -EINVAL;
	mm = mirror_mm_of(owner);
	if (!mm)
		return -EFAULT; /* no mirror of it was ever made */
	if (*mirror_tls_driver_locks() || mirror_tls_invalidating() == mm)
		return -EDEADLK;
	/*
	 * Find it under mirrors_lock and count ourselves as a user, so that
	 * free() waits for us; populate without the lock (a migration's hook
	 * takes it, and the population may wait for that migration).
	 */
	pthread_mutex_lock(&mm->mirrors_lock);
	LIST_FOREACH(m, &mm->mirrors, mm_link) {
		pthread_rwlock_rdlock(&m->lock);
		if (m->tbl == tbl && ioba >= m->ioba &&
		    ioba - m->ioba < (m->npages << MIRROR_PAGE_SHIFT))
			found = m;
		pthread_rwlock_unlock(&m->lock);
		if (found)
			break;
	}
	if (!found || !found->fault_mode) {
		pthread_mutex_unlock(&mm->mirrors_lock);
		return -EFAULT; /* not a recoverable fault: a bad DMA as any other */
	}
	found->fault_users++;
	pthread_mutex_unlock(&mm->mirrors_lock);
	/* Called inside the faulting DMA: an invalidation may be waiting for it. */
	steps = mm_dma_step_out(owner);
	ret = uiommu_mirror_populate(found);
	mm_dma_step_in(owner, steps);
	pthread_mutex_lock(&mm->mirrors_lock);
	if (!--found->fault_users)
		pthread_cond_broadcast(&mm->mirrors_cond);
	pthread_mutex_unlock(&mm->mirrors_lock);
	return ret;
}

/* ---- migration (mem.h hook): MMU_NOTIFY_MIGRATE ---- */

void mirror_migrate_hook(void *opaque, uint64_t old_hpa, uint64_t len, bool end)
{
	struct mirror_mm *mm = opaque;
	struct uiommu_mirror *m;

	if (end) {
		for (size_t i = 0; i < mm->mig_n; i++)
			mirror_invalidate_end(mm);
		mm->mig_n = 0;
		return;
	}
	/* Where does a mirror of this address space have the page? */
	pthread_mutex_lock(&mm->mirrors_lock);
	LIST_FOREACH(m, &mm->mirrors, mm_link) {
		uint64_t off = 0;

		pthread_rwlock_rdlock(&m->lock);
		for (size_t i = 0; atomic_load_explicit(&m->has_dma_mapping, memory_order_relaxed) &&
				   i < m->nchunks; i++) {
			const struct uiommu_mirror_addr *c = &m->addrs[i];
			uint64_t clen = MIRROR_PAGE_SIZE << c->order;

			if (c->proto == UIOMMU_MIRROR_ADDR_HPA &&
			    range_overlaps(c->addr, c->addr + clen - 1, old_hpa, old_hpa + len - 1) &&
			    mm->mig_n < ARRAY_SIZE(mm->mig_ranges)) {
				uint64_t s = MAX(c->addr, old_hpa), e = MIN(c->addr + clen, old_hpa + len);

				mm->mig_ranges[mm->mig_n++] = (struct uiommu_mmu_range){
					.start = m->ua + off + (s - c->addr),
					.last = m->ua + off + (e - c->addr) - 1,
					.event = UIOMMU_MMU_NOTIFY_MIGRATE,
					.flags = UIOMMU_MMU_RANGE_BLOCKABLE };
			}
			off += clen;
		}
		pthread_rwlock_unlock(&m->lock);
	}
	if (mm->mig_n == ARRAY_SIZE(mm->mig_ranges)) {
		/* More places than we keep: invalidate everything instead. */
		mm->mig_ranges[0] = (struct uiommu_mmu_range){
			.start = 0, .last = UINT64_MAX, .event = UIOMMU_MMU_NOTIFY_MIGRATE,
			.flags = UIOMMU_MMU_RANGE_BLOCKABLE };
		mm->mig_n = 1;
	}
	pthread_mutex_unlock(&mm->mirrors_lock);
	for (size_t i = 0; i < mm->mig_n; i++)
		mirror_invalidate_start(mm, &mm->mig_ranges[i]);
}
