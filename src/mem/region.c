// SPDX-License-Identifier: BSD-3-Clause
/*
 * RAM regions and the two lookups of the host memory model:
 * hpa -> host pointer (regions, sorted by hpa) and host pointer -> hpa
 * (vranges, sorted by address). See uiommu/mem.h and mem.h.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mem.h"

/* ---- copy-on-write sorted pointer arrays ---- */

typedef uint64_t (*key_fn)(const void *item);

static uint64_t region_key(const void *item)
{
	return ((const struct ram_region *)item)->hpa;
}

static uint64_t vrange_key(const void *item)
{
	return ((const struct vrange *)item)->start;
}

static void ptr_array_free_rcu(struct rcu_node *node)
{
	struct ptr_array *a = container_of(node, struct ptr_array, rcu);

	ctx_free(a->ctx, a);
}

static struct ptr_array *ptr_array_new(struct uiommu_ctx *ctx, size_t n)
{
	struct ptr_array *a;

	if (n > (SIZE_MAX - sizeof(*a)) / sizeof(void *))
		return NULL;
	a = ctx_alloc(ctx, sizeof(*a) + n * sizeof(void *));
	if (!a)
		return NULL;
	a->n = n;
	a->ctx = ctx;
	return a;
}

/* Publish @new in place of the current array; the old one goes after a grace period. */
static void ptr_array_commit(struct ptr_array *_Atomic *slot, struct ptr_array *new)
{
	struct ptr_array *old = atomic_load_explicit(slot, memory_order_relaxed);

	rcu_publish(*slot, new);
	if (old)
		rcu_defer(&old->rcu, ptr_array_free_rcu);
}

/* A copy of *@slot with @item added in key order; NULL when out of memory. */
static struct ptr_array *ptr_array_with(struct uiommu_ctx *ctx, struct ptr_array *_Atomic *slot,
					void *item, key_fn key)
{
	struct ptr_array *old = atomic_load_explicit(slot, memory_order_relaxed);
	size_t n = old ? old->n : 0, j = 0;
	struct ptr_array *new = ptr_array_new(ctx, n + 1);
	bool placed = false;

	if (!new)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!placed && key(item) < key(old->items[i])) {
			new->items[j++] = item;
			placed = true;
		}
		new->items[j++] = old->items[i];
	}
	if (!placed)
		new->items[j++] = item;
	return new;
}

/* A copy of *@slot without @item (NULL array if it becomes empty); -ENOMEM. */
static int ptr_array_without(struct uiommu_ctx *ctx, struct ptr_array *_Atomic *slot,
			     const void *item, struct ptr_array **ret)
{
	struct ptr_array *old = atomic_load_explicit(slot, memory_order_relaxed);
	struct ptr_array *new;
	size_t j = 0;

	if (old->n == 1) {
		*ret = NULL;
		return 0;
	}
	new = ptr_array_new(ctx, old->n - 1);
	if (!new)
		return -ENOMEM;
	for (size_t i = 0; i < old->n; i++)
		if (old->items[i] != item)
			new->items[j++] = old->items[i];
	*ret = new;
	return 0;
}

/* ---- lookups ---- */

static struct ram_region *region_lookup_rcu(struct mem_state *mem, uint64_t hpa)
{
	struct ram_region *lib = rcu_deref(mem->lib);
	struct ptr_array *a;
	size_t lo = 0, hi;

	/* Most lookups are for library pages (TCE levels, guest views). */
	if (lib && hpa >= lib->hpa && hpa <= lib->last_hpa)
		return lib;
	a = rcu_deref(mem->regions);
	if (!a)
		return NULL;
	hi = a->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct ram_region *r = a->items[mid];

		if (hpa < r->hpa)
			hi = mid;
		else if (hpa > r->last_hpa)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

void *mem_hpa_to_hva_rcu(struct uiommu_ctx *ctx, uint64_t hpa, uint64_t len)
{
	struct ram_region *r = region_lookup_rcu(ctx->mem, hpa);

	if (!r || len - 1 > r->last_hpa - hpa)
		return NULL;
	return r->hva + (hpa - r->hpa);
}

struct vrange *vrange_lookup_rcu(struct mem_state *mem, uintptr_t addr)
{
	struct ptr_array *a = rcu_deref(mem->vranges);
	size_t lo = 0, hi;

	if (!a)
		return NULL;
	hi = a->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct vrange *vr = a->items[mid];

		if (addr < vr->start)
			hi = mid;
		else if (addr > vr->last)
			lo = mid + 1;
		else
			return vr;
	}
	return NULL;
}

uint64_t vrange_hpa(const struct vrange *vr, uintptr_t addr)
{
	uint64_t off = addr - vr->start;

	if (vr->kind == VRANGE_REGION)
		return vr->hpa_base + off;
	return vr->page_hpa[off >> vr->page_shift] + (off & ((1ULL << vr->page_shift) - 1));
}

/* ---- vranges and regions, under mem->lock ---- */

static bool vrange_overlaps_locked(struct mem_state *mem, uintptr_t start, uintptr_t last)
{
	struct ptr_array *a = atomic_load_explicit(&mem->vranges, memory_order_relaxed);

	for (size_t i = 0; a && i < a->n; i++) {
		struct vrange *vr = a->items[i];

		if (range_overlaps(start, last, vr->start, vr->last))
			return true;
	}
	return false;
}

int vrange_insert_locked(struct uiommu_ctx *ctx, struct vrange *vr)
{
	struct ptr_array *new;

	if (vrange_overlaps_locked(ctx->mem, vr->start, vr->last))
		return -EEXIST;
	new = ptr_array_with(ctx, &ctx->mem->vranges, vr, vrange_key);
	if (!new)
		return -ENOMEM;
	ptr_array_commit(&ctx->mem->vranges, new);
	return 0;
}

int vrange_remove_locked(struct uiommu_ctx *ctx, struct vrange *vr)
{
	struct ptr_array *new;
	int ret;

	ret = ptr_array_without(ctx, &ctx->mem->vranges, vr, &new);
	if (ret)
		return ret;
	ptr_array_commit(&ctx->mem->vranges, new);
	return 0;
}

static void vrange_free_rcu(struct rcu_node *node)
{
	struct vrange *vr = container_of(node, struct vrange, rcu);
	struct uiommu_ctx *ctx = vr->ctx;

	pins_free(ctx, vr);
	ctx_free(ctx, vr->page_hpa);
	ctx_free(ctx, vr);
}

/* Free a vrange that readers may still see (or never saw). */
void vrange_free(struct vrange *vr)
{
	rcu_defer(&vr->rcu, vrange_free_rcu);
}

int region_insert_locked(struct uiommu_ctx *ctx, struct ram_region *r)
{
	struct ptr_array *new = ptr_array_with(ctx, &ctx->mem->regions, r, region_key);

	if (!new)
		return -ENOMEM;
	ptr_array_commit(&ctx->mem->regions, new);
	return 0;
}

static void region_release(struct ram_region *r)
{
	if (r->lib_mapped && r->hva)
		munmap(r->hva, r->last_hpa - r->hpa + 1);
	if (r->fd >= 0)
		close(r->fd);
	ctx_free(r->ctx, r);
}

static void region_free_rcu(struct rcu_node *node)
{
	region_release(container_of(node, struct ram_region, rcu));
}

/* ---- init / fini ---- */

int mem_init(struct uiommu_ctx *ctx)
{
	struct mem_state *mem = ctx_alloc(ctx, sizeof(*mem));

	if (!mem)
		return -ENOMEM;
	pthread_mutex_init(&mem->lock, NULL);
	pthread_mutex_init(&mem->frame_lock, NULL);
	mem->next_hpa = USER_HPA_BASE;
	ctx->mem = mem;
	return 0;
}

void mem_fini(struct uiommu_ctx *ctx)
{
	struct mem_state *mem = ctx->mem;
	struct ram_region *lib = atomic_load(&mem->lib);
	struct ptr_array *a;

	/* Only the library's region can be left: uiommu_ctx_free() checked the rest. */
	frames_fini(ctx);
	if (lib) {
		ctx_free(ctx, lib->vr);
		region_release(lib);
	}
	a = atomic_load(&mem->regions);
	ctx_free(ctx, a);
	a = atomic_load(&mem->vranges);
	ctx_free(ctx, a);
	pthread_mutex_destroy(&mem->lock);
	pthread_mutex_destroy(&mem->frame_lock);
	ctx_free(ctx, mem);
	ctx->mem = NULL;
}

/* ---- public: RAM regions ---- */

/* Reserve the hpa range of a new user region; under mem->lock. */
static int hpa_reserve_locked(struct mem_state *mem, uint64_t size, uint64_t *ret_hpa)
{
	uint64_t base, last;

	if (!align_up_u64(mem->next_hpa, UIOMMU_HPA_REGION_ALIGN, &base) ||
	    range_from_len(base, size, &last) || last >= UIOMMU_HPA_LIMIT)
		return -ENOSPC;
	*ret_hpa = base;
	return 0;
}

static int map_errno(int err)
{
	switch (err) {
	case ENODEV:
	case EACCES:
	case EINVAL:
	case EPERM:
		return -ENODEV;
	case EBADF:
		return -EBADF;
	default:
		return -ENOMEM;
	}
}

UIOMMU_EXPORT int uiommu_ram_add(struct uiommu_ctx *ctx, int fd, uint64_t fd_offset,
				 uint64_t size, void *hva, uint64_t *ret_hpa)
{
	struct mem_state *mem = ctx->mem;
	struct ptr_array *new_regions = NULL, *new_vranges = NULL;
	struct ram_region *r = NULL;
	struct vrange *vr = NULL;
	uint64_t fd_last, va_last, hpa;
	int ret, dupfd = -1;
	void *map = NULL;

	if (fd < 0 || !ret_hpa || !size || !is_aligned_u64(fd_offset, SYS_PAGE_SIZE) ||
	    !is_aligned_u64(size, SYS_PAGE_SIZE) || !is_aligned_u64((uintptr_t)hva, SYS_PAGE_SIZE))
		return -EINVAL;
	if (range_from_len(fd_offset, size, &fd_last) || fd_last > INT64_MAX)
		return -EOVERFLOW;
	if (hva && range_from_len((uintptr_t)hva, size, &va_last))
		return -EOVERFLOW;

	ret = ctx_charge(ctx, UIOMMU_RES_RAM_REGIONS, 1);
	if (ret)
		return ret;
	if (ctx_fault(ctx, UIOMMU_FAULT_MAP)) {
		ret = -ENOMEM;
		goto err_uncharge;
	}
	dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dupfd < 0) {
		ret = errno == EBADF ? -EBADF : -ENOMEM;
		goto err_uncharge;
	}
	if (!hva) {
		if (ctx_fault(ctx, UIOMMU_FAULT_MAP)) {
			ret = -ENOMEM;
			goto err_close;
		}
		map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, dupfd, (off_t)fd_offset);
		if (map == MAP_FAILED) {
			map = NULL;
			ret = map_errno(errno);
			goto err_close;
		}
	}
	r = ctx_alloc(ctx, sizeof(*r));
	vr = ctx_alloc(ctx, sizeof(*vr));
	if (!r || !vr) {
		ret = -ENOMEM;
		goto err_free;
	}
	r->ctx = ctx;
	r->fd = dupfd;
	r->fd_offset = fd_offset;
	r->hva = map ? map : hva;
	r->lib_mapped = map != NULL;
	r->vr = vr;
	vr->ctx = ctx;
	vr->kind = VRANGE_REGION;
	vr->page_shift = SYS_PAGE_SHIFT;
	vr->start = (uintptr_t)r->hva;
	vr->last = vr->start + (size - 1);
	vr->npages = size >> SYS_PAGE_SHIFT;
	vr->region = r;

	pthread_mutex_lock(&mem->lock);
	ret = hpa_reserve_locked(mem, size, &hpa);
	if (ret)
		goto err_unlock;
	r->hpa = hpa;
	r->last_hpa = hpa + (size - 1);
	vr->hpa_base = hpa;
	if (vrange_overlaps_locked(mem, vr->start, vr->last)) {
		ret = -EEXIST;
		goto err_unlock;
	}
	/* Both new arrays first, so that publishing cannot fail half-way. */
	new_regions = ptr_array_with(ctx, &mem->regions, r, region_key);
	new_vranges = ptr_array_with(ctx, &mem->vranges, vr, vrange_key);
	if (!new_regions || !new_vranges) {
		ret = -ENOMEM;
		goto err_unlock;
	}
	ptr_array_commit(&mem->regions, new_regions);
	ptr_array_commit(&mem->vranges, new_vranges);
	mem->next_hpa = r->last_hpa + 1;
	pthread_mutex_unlock(&mem->lock);
	*ret_hpa = hpa;
	return 0;

err_unlock:
	pthread_mutex_unlock(&mem->lock);
	ctx_free(ctx, new_regions);
	ctx_free(ctx, new_vranges);
err_free:
	ctx_free(ctx, vr);
	ctx_free(ctx, r);
	if (map)
		munmap(map, size);
err_close:
	close(dupfd);
err_uncharge:
	ctx_uncharge(ctx, UIOMMU_RES_RAM_REGIONS, 1);
	return ret;
}

UIOMMU_EXPORT int uiommu_ram_create(struct uiommu_ctx *ctx, uint64_t size, uint64_t *ret_hpa,
				    void **ret_hva)
{
	uint64_t hpa;
	void *hva;
	int fd, ret;

	if (!ret_hpa || !size || !is_aligned_u64(size, SYS_PAGE_SIZE))
		return -EINVAL;
	if (size > INT64_MAX)
		return -ENOMEM;
	if (ctx_fault(ctx, UIOMMU_FAULT_MAP))
		return -ENOMEM;
	fd = memfd_create("uiommu-ram", MFD_CLOEXEC);
	if (fd < 0)
		return -ENOMEM;
	if (ctx_fault(ctx, UIOMMU_FAULT_MAP) || ftruncate(fd, (off_t)size)) {
		close(fd);
		return -ENOMEM;
	}
	ret = uiommu_ram_add(ctx, fd, 0, size, NULL, &hpa);
	close(fd);
	if (ret)
		return ret;
	if (ret_hva) {
		ret = uiommu_hpa_to_hva(ctx, hpa, size, &hva);
		if (ret) { /* cannot happen: the region was just added */
			uiommu_ram_remove(ctx, hpa);
			return ret;
		}
		*ret_hva = hva;
	}
	*ret_hpa = hpa;
	return 0;
}

UIOMMU_EXPORT int uiommu_ram_remove(struct uiommu_ctx *ctx, uint64_t hpa)
{
	struct mem_state *mem = ctx->mem;
	struct ptr_array *new_regions = NULL, *new_vranges = NULL;
	struct ptr_array *regions;
	struct ram_region *r = NULL;
	int ret;

	pthread_mutex_lock(&mem->lock);
	regions = atomic_load_explicit(&mem->regions, memory_order_relaxed);
	for (size_t i = 0; regions && i < regions->n; i++) {
		struct ram_region *cand = regions->items[i];

		if (cand->hpa == hpa && !cand->library) {
			r = cand;
			break;
		}
	}
	if (!r) {
		ret = -ENOENT;
		goto out_unlock;
	}
	if (atomic_load(&r->vr->pinned_pages)) {
		ret = -EBUSY;
		goto out_unlock;
	}
	ret = ptr_array_without(ctx, &mem->regions, r, &new_regions);
	if (ret)
		goto out_unlock;
	ret = ptr_array_without(ctx, &mem->vranges, r->vr, &new_vranges);
	if (ret) {
		ctx_free(ctx, new_regions);
		goto out_unlock;
	}
	ptr_array_commit(&mem->regions, new_regions);
	ptr_array_commit(&mem->vranges, new_vranges);
	pthread_mutex_unlock(&mem->lock);

	ctx_uncharge(ctx, UIOMMU_RES_RAM_REGIONS, 1);
	/* Readers may still hold the mapping: unmap and close after a grace period. */
	vrange_free(r->vr);
	rcu_defer(&r->rcu, region_free_rcu);
	return 0;

out_unlock:
	pthread_mutex_unlock(&mem->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_ram_get_fd(struct uiommu_ctx *ctx, uint64_t hpa, int *ret_fd,
				    uint64_t *ret_fd_offset, uint64_t *ret_len)
{
	struct ram_region *r;
	int ret = -EFAULT;

	if (!ret_fd || !ret_fd_offset)
		return -EINVAL;
	rcu_read_enter();
	r = region_lookup_rcu(ctx->mem, hpa);
	if (r) {
		*ret_fd = r->fd;
		*ret_fd_offset = r->fd_offset + (hpa - r->hpa);
		if (ret_len)
			*ret_len = r->last_hpa - hpa + 1;
		ret = 0;
	}
	rcu_read_exit();
	return ret;
}

UIOMMU_EXPORT int uiommu_hpa_to_hva(struct uiommu_ctx *ctx, uint64_t hpa, uint64_t len,
				    void **ret_hva)
{
	uint64_t last;
	void *hva;
	int ret;

	if (!ret_hva)
		return -EINVAL;
	ret = range_from_len(hpa, len, &last);
	if (ret)
		return ret;
	rcu_read_enter();
	hva = mem_hpa_to_hva_rcu(ctx, hpa, len);
	rcu_read_exit();
	if (!hva)
		return -EFAULT;
	*ret_hva = hva;
	return 0;
}

UIOMMU_EXPORT int uiommu_hva_to_hpa(struct uiommu_ctx *ctx, const void *hva, uint64_t *ret_hpa)
{
	struct vrange *vr;
	int ret = -EFAULT;

	if (!ret_hpa)
		return -EINVAL;
	rcu_read_enter();
	vr = vrange_lookup_rcu(ctx->mem, (uintptr_t)hva);
	if (vr) {
		*ret_hpa = vrange_hpa(vr, (uintptr_t)hva);
		ret = 0;
	}
	rcu_read_exit();
	return ret;
}

UIOMMU_EXPORT int uiommu_hostmem_page_shift(struct uiommu_ctx *ctx, const void *hva,
					    unsigned int *ret_page_shift)
{
	struct vrange *vr;
	int ret = -EFAULT;

	if (!ret_page_shift)
		return -EINVAL;
	rcu_read_enter();
	vr = vrange_lookup_rcu(ctx->mem, (uintptr_t)hva);
	if (vr) {
		*ret_page_shift = vr->page_shift;
		ret = 0;
	}
	rcu_read_exit();
	return ret;
}
