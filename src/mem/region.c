// SPDX-License-Identifier: BSD-3-Clause
/*
 * RAM regions and the two lookups of the host memory model:
 * hpa -> host pointer (regions, sorted by hpa) and host pointer -> hpa
 * (vranges, sorted by address). See uiommu/mem.h and mem.h.
 */
#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "mem.h"

/* ---- lookups ---- */

static struct ram_region *region_lookup_rcu(struct mem_state *mem, uint64_t hpa)
{
	struct ram_region *lib;
	const struct rcu_array *a;
	size_t i;

	if (unlikely(!mem))
		return NULL;
	lib = rcu_deref(mem->lib);

	/* Most lookups are for library pages (TCE levels, guest views). */
	if (lib && hpa >= lib->hpa && hpa <= lib->last_hpa)
		return lib;
	a = rcu_deref(mem->regions);
	i = rcu_array_find(a, hpa);
	return i == SIZE_MAX ? NULL : a->e[i].ptr;
}

void *mem_hpa_to_hva_rcu(struct uiommu_ctx *ctx, uint64_t hpa, uint64_t len)
{
	struct ram_region *r = region_lookup_rcu(mem_peek(ctx), hpa);

	if (unlikely(!r))
		return moved_hpa_to_hva_rcu(mem_peek(ctx), hpa, len);
	if (len - 1 > r->last_hpa - hpa || unlikely(region_poisoned_rcu(r, hpa, len)))
		return NULL;
	return r->hva + (hpa - r->hpa);
}

void *mem_hpa_region_rcu(struct uiommu_ctx *ctx, uint64_t hpa, uint64_t *ret_first,
			 uint64_t *ret_last)
{
	struct ram_region *r = region_lookup_rcu(mem_peek(ctx), hpa);

	if (unlikely(!r))
		return moved_hpa_region_rcu(mem_peek(ctx), hpa, ret_first, ret_last);
	*ret_first = r->hpa;
	*ret_last = r->last_hpa;
	/* Migrated pages are holes in the region: the run around @hpa only. */
	if (unlikely(atomic_load_explicit(&r->migrated, memory_order_relaxed)) &&
	    !region_run_rcu(r, hpa, ret_first, ret_last))
		return NULL;
	return r->hva + (*ret_first - r->hpa);
}

struct vrange *vrange_lookup_rcu(struct mem_state *mem, uintptr_t addr)
{
	const struct rcu_array *a;
	size_t i;

	if (unlikely(!mem))
		return NULL;
	a = rcu_deref(mem->vranges);
	i = rcu_array_find(a, addr);

	return i == SIZE_MAX ? NULL : a->e[i].ptr;
}

/* The entries of a region and of a vrange in their arrays. */
static struct rcu_array_entry region_entry(struct ram_region *r)
{
	return (struct rcu_array_entry){ .start = r->hpa, .last = r->last_hpa, .ptr = r };
}

static struct rcu_array_entry vrange_entry(struct vrange *vr)
{
	return (struct rcu_array_entry){ .start = vr->start, .last = vr->last, .ptr = vr };
}

/* Index of the entry for @ptr in @a (a writer's lookup by identity), or SIZE_MAX. */
static size_t entry_index(const struct rcu_array *a, const void *ptr)
{
	for (size_t i = 0; a && i < a->n; i++)
		if (a->e[i].ptr == ptr)
			return i;
	return SIZE_MAX;
}

uint64_t vrange_hpa(const struct vrange *vr, uintptr_t addr)
{
	uint64_t off = addr - vr->start;

	if (vr->kind == VRANGE_REGION) {
		if (unlikely(atomic_load_explicit(&vr->region->migrated, memory_order_relaxed)))
			return region_page_hpa_rcu(vr->region, off >> SYS_PAGE_SHIFT) +
			       (off & (SYS_PAGE_SIZE - 1));
		return vr->hpa_base + off;
	}
	return vr->page_hpa[off >> vr->page_shift] + (off & ((1ULL << vr->page_shift) - 1));
}

/* ---- vranges and regions, under mem->lock ---- */

static bool vrange_overlaps_locked(struct mem_state *mem, uintptr_t start, uintptr_t last)
{
	const struct rcu_array *a = atomic_load_explicit(&mem->vranges, memory_order_relaxed);

	for (size_t i = 0; a && i < a->n; i++)
		if (range_overlaps(start, last, a->e[i].start, a->e[i].last))
			return true;
	return false;
}

int vrange_insert_locked(struct uiommu_ctx *ctx, struct vrange *vr)
{
	const struct rcu_array_entry e = vrange_entry(vr);
	struct rcu_array *new;
	int ret;

	if (vrange_overlaps_locked(mem_peek(ctx), vr->start, vr->last))
		return -EEXIST;
	ret = rcu_array_edit(ctx, atomic_load_explicit(&mem_peek(ctx)->vranges, memory_order_relaxed),
			     SIZE_MAX, &e, &new);
	if (!ret)
		rcu_array_publish(&mem_peek(ctx)->vranges, new);
	return ret;
}

int vrange_remove_locked(struct uiommu_ctx *ctx, struct vrange *vr)
{
	const struct rcu_array *old = atomic_load_explicit(&mem_peek(ctx)->vranges,
							   memory_order_relaxed);
	struct rcu_array *new;
	int ret;

	ret = rcu_array_edit(ctx, old, entry_index(old, vr), NULL, &new);
	if (!ret)
		rcu_array_publish(&mem_peek(ctx)->vranges, new);
	return ret;
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

static void region_release(struct ram_region *r)
{
	rcu_array_discard(atomic_load(&r->migrated));
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

/* ---- building a region ---- */

struct ram_region *region_new(struct uiommu_ctx *ctx, int fd, uint64_t fd_offset, char *hva,
			      uint64_t size, bool lib_mapped)
{
	struct ram_region *r = ctx_alloc(ctx, sizeof(*r));
	struct vrange *vr = ctx_alloc(ctx, sizeof(*vr));

	if (!r || !vr) {
		ctx_free(ctx, vr);
		ctx_free(ctx, r);
		return NULL;
	}
	r->ctx = ctx;
	r->fd = fd;
	r->fd_offset = fd_offset;
	r->hva = hva;
	r->lib_mapped = lib_mapped;
	r->last_hpa = size - 1; /* until region_place() */
	r->vr = vr;
	vr->ctx = ctx;
	vr->kind = VRANGE_REGION;
	vr->page_shift = SYS_PAGE_SHIFT;
	vr->start = (uintptr_t)hva;
	vr->last = vr->start + (size - 1);
	vr->npages = size >> SYS_PAGE_SHIFT;
	vr->region = r;
	return r;
}

void region_place(struct ram_region *r, uint64_t hpa)
{
	r->last_hpa = hpa + (r->last_hpa - r->hpa);
	r->hpa = hpa;
	r->vr->hpa_base = hpa;
}

void region_discard(struct ram_region *r)
{
	if (!r)
		return;
	ctx_free(r->ctx, r->vr);
	ctx_free(r->ctx, r);
}

/* ---- init / fini ---- */

static void mem_state_free(struct uiommu_ctx *ctx, struct mem_state *mem)
{
	pthread_mutex_destroy(&mem->lock);
	pthread_mutex_destroy(&mem->frame_lock);
	pthread_mutex_destroy(&mem->migrate_lock);
	ctx_free(ctx, mem);
}

/* The CTX_EXT_MEM finaliser: uiommu_ctx_free() checked that nothing is left. */
static void mem_fini(void *owner, void *state)
{
	struct uiommu_ctx *ctx = owner;
	struct mem_state *mem = state;
	struct ram_region *lib = atomic_load(&mem->lib);

	/* Only the library's region can be left: uiommu_ctx_free() checked the rest. */
	frames_fini(ctx, mem);
	migrate_fini(ctx, mem);
	if (lib) {
		ctx_free(ctx, lib->vr);
		region_release(lib);
	}
	rcu_array_discard(atomic_load(&mem->regions));
	rcu_array_discard(atomic_load(&mem->vranges));
	mem_state_free(ctx, mem);
}

struct mem_state *mem_get(struct uiommu_ctx *ctx)
{
	struct mem_state *mem = mem_peek(ctx), *won;

	if (likely(mem))
		return mem;
	mem = ctx_alloc(ctx, sizeof(*mem));
	if (!mem)
		return NULL;
	pthread_mutex_init(&mem->lock, NULL);
	pthread_mutex_init(&mem->frame_lock, NULL);
	pthread_mutex_init(&mem->migrate_lock, NULL);
	mem->next_hpa = USER_HPA_BASE;
	won = ext_install(&ctx->ext[CTX_EXT_MEM], mem, mem_fini);
	if (won != mem)
		mem_state_free(ctx, mem);
	return won;
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

/*
 * The file's identity, so that other mappings of it can be recognized, and
 * its page size: a hugetlbfs file is made of huge pages, which the region's
 * alignment keeps naturally aligned in the hpa space.
 */
static void file_identity(struct ram_region *r, uint64_t size)
{
	struct statfs sfs;
	struct stat st;

	if (!fstat(r->fd, &st)) {
		r->dev = (uint64_t)st.st_dev;
		r->ino = (uint64_t)st.st_ino;
	}
	if (!fstatfs(r->fd, &sfs) && sfs.f_type == HUGETLBFS_MAGIC && sfs.f_bsize > 0 &&
	    is_power_of_2_u64((uint64_t)sfs.f_bsize) &&
	    is_aligned_u64(size | r->fd_offset, (uint64_t)sfs.f_bsize) &&
	    is_aligned_u64((uintptr_t)r->hva, (uint64_t)sfs.f_bsize))
		r->vr->page_shift = ilog2_u64((uint64_t)sfs.f_bsize);
}

/*
 * Map [fd_offset, + size) of @fd shared, at an address aligned as the size
 * is (64 KiB at least, 1 GiB at most), as a VMM aligns guest RAM: the hva
 * then agrees with the 16 GiB aligned hpa in those low bits, so that the
 * region's host pages (and a VFIO container's IOMMU pages up to them) are
 * host pages in both. MAP_FAILED with errno set on failure.
 */
static void *map_aligned(int fd, uint64_t fd_offset, uint64_t size)
{
	uint64_t align = MIN(MAX(1ULL << __builtin_ctzll(size), 64ULL << 10), 1ULL << 30);
	char *reserve, *p;

	reserve = mmap(NULL, size + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	if (reserve == MAP_FAILED)
		return MAP_FAILED;
	p = (char *)(((uintptr_t)reserve + align - 1) & ~(uintptr_t)(align - 1));
	if (mmap(p, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, (off_t)fd_offset) ==
	    MAP_FAILED) {
		int err = errno;

		munmap(reserve, size + align);
		errno = err;
		return MAP_FAILED;
	}
	/* Give the slack back on both sides. */
	if (p > reserve)
		munmap(reserve, (size_t)(p - reserve));
	if (reserve + size + align > p + size)
		munmap(p + size, (size_t)(reserve + size + align - (p + size)));
	return p;
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
	struct mem_state *mem;
	struct rcu_array *new_regions = NULL, *new_vranges = NULL;
	struct rcu_array_entry re, ve;
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
	mem = mem_get(ctx);
	if (!mem)
		return -ENOMEM;

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
		map = map_aligned(dupfd, fd_offset, size);
		if (map == MAP_FAILED) {
			map = NULL;
			ret = map_errno(errno);
			goto err_close;
		}
	}
	r = region_new(ctx, dupfd, fd_offset, map ? map : hva, size, map != NULL);
	if (!r) {
		ret = -ENOMEM;
		goto err_unmap;
	}
	vr = r->vr;
	file_identity(r, size);

	pthread_mutex_lock(&mem->lock);
	ret = hpa_reserve_locked(mem, size, &hpa);
	if (ret)
		goto err_unlock;
	region_place(r, hpa);
	if (vrange_overlaps_locked(mem, vr->start, vr->last)) {
		ret = -EEXIST;
		goto err_unlock;
	}
	/* Both new arrays first, so that publishing cannot fail half-way. */
	re = region_entry(r);
	ve = vrange_entry(vr);
	ret = rcu_array_edit(ctx, atomic_load_explicit(&mem->regions, memory_order_relaxed),
			     SIZE_MAX, &re, &new_regions);
	if (!ret)
		ret = rcu_array_edit(ctx, atomic_load_explicit(&mem->vranges, memory_order_relaxed),
				     SIZE_MAX, &ve, &new_vranges);
	if (ret)
		goto err_unlock;
	rcu_array_publish(&mem->regions, new_regions);
	rcu_array_publish(&mem->vranges, new_vranges);
	mem->next_hpa = r->last_hpa + 1;
	pthread_mutex_unlock(&mem->lock);
	*ret_hpa = hpa;
	return 0;

err_unlock:
	pthread_mutex_unlock(&mem->lock);
	rcu_array_discard(new_regions);
	region_discard(r);
err_unmap:
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
	struct mem_state *mem = mem_peek(ctx);
	struct rcu_array *new_regions = NULL, *new_vranges = NULL;
	const struct rcu_array *regions, *vranges;
	struct ram_region *r = NULL;
	size_t i;
	int ret;

	if (!mem)
		return -ENOENT; /* no region was ever added */
	pthread_mutex_lock(&mem->migrate_lock);
	pthread_mutex_lock(&mem->lock);
	regions = atomic_load_explicit(&mem->regions, memory_order_relaxed);
	vranges = atomic_load_explicit(&mem->vranges, memory_order_relaxed);
	i = rcu_array_find(regions, hpa);
	if (i != SIZE_MAX && regions->e[i].start == hpa)
		r = regions->e[i].ptr;
	if (!r) {
		ret = -ENOENT;
		goto out_unlock;
	}
	if (atomic_load(&r->vr->pinned_pages)) {
		ret = -EBUSY;
		goto out_unlock;
	}
	ret = rcu_array_edit(ctx, regions, i, NULL, &new_regions);
	if (ret)
		goto out_unlock;
	ret = rcu_array_edit(ctx, vranges, entry_index(vranges, r->vr), NULL, &new_vranges);
	if (!ret)
		ret = migrate_forget_region_locked(ctx, r);
	if (ret) {
		rcu_array_discard(new_vranges);
		rcu_array_discard(new_regions);
		goto out_unlock;
	}
	rcu_array_publish(&mem->regions, new_regions);
	rcu_array_publish(&mem->vranges, new_vranges);
	pthread_mutex_unlock(&mem->lock);
	pthread_mutex_unlock(&mem->migrate_lock);

	ctx_uncharge(ctx, UIOMMU_RES_RAM_REGIONS, 1);
	/* Readers may still hold the mapping: unmap and close after a grace period. */
	vrange_free(r->vr);
	rcu_defer(&r->rcu, region_free_rcu);
	return 0;

out_unlock:
	pthread_mutex_unlock(&mem->lock);
	pthread_mutex_unlock(&mem->migrate_lock);
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
	r = region_lookup_rcu(mem_peek(ctx), hpa);
	if (r && region_poisoned_rcu(r, hpa, 1))
		r = NULL;
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
	vr = vrange_lookup_rcu(mem_peek(ctx), (uintptr_t)hva);
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
	vr = vrange_lookup_rcu(mem_peek(ctx), (uintptr_t)hva);
	if (vr) {
		*ret_page_shift = vr->page_shift;
		ret = 0;
	}
	rcu_read_exit();
	return ret;
}

bool mem_hva_to_hpa_rcu(struct uiommu_ctx *ctx, uintptr_t hva, uint64_t *ret_hpa,
			unsigned int *ret_page_shift)
{
	struct vrange *vr = vrange_lookup_rcu(mem_peek(ctx), hva);

	if (!vr)
		return false;
	*ret_hpa = vrange_hpa(vr, hva);
	*ret_page_shift = vr->page_shift;
	return true;
}

bool mem_file_to_hpa_rcu(struct uiommu_ctx *ctx, uint64_t dev, uint64_t ino, uint64_t offset,
			 uint64_t *ret_hpa, unsigned int *ret_page_shift)
{
	struct mem_state *mem = mem_peek(ctx);
	const struct rcu_array *a = mem ? rcu_deref(mem->regions) : NULL;

	for (size_t i = 0; a && i < a->n; i++) {
		const struct ram_region *r = a->e[i].ptr;
		uint64_t off;

		if (r->dev != dev || r->ino != ino || offset < r->fd_offset ||
		    offset - r->fd_offset > r->last_hpa - r->hpa)
			continue;
		off = offset - r->fd_offset;
		*ret_hpa = region_page_hpa_rcu(r, off >> SYS_PAGE_SHIFT) + (off & (SYS_PAGE_SIZE - 1));
		*ret_page_shift = r->vr->page_shift;
		return true;
	}
	return false;
}

int mem_backing(struct uiommu_ctx *ctx, uintptr_t hva, struct mem_backing *ret)
{
	struct vrange *vr;
	int err = -EFAULT;

	rcu_read_enter();
	vr = vrange_lookup_rcu(mem_peek(ctx), hva);
	if (vr) {
		ret->first = vr->start;
		ret->last = vr->last;
		if (vr->kind == VRANGE_REGION && vr->page_shift > SYS_PAGE_SHIFT) {
			/* A hugetlbfs file: its huge pages, aligned (file_identity()). */
			ret->page_shift = vr->page_shift;
		} else if (vr->kind == VRANGE_REGION &&
			   atomic_load_explicit(&vr->region->migrated, memory_order_acquire)) {
			/* Some of its pages migrated: only 4 KiB pages are contiguous. */
			ret->page_shift = SYS_PAGE_SHIFT;
		} else if (vr->kind == VRANGE_REGION) {
			/* hpa bases are 16 GiB aligned: hva and hpa agree below ctz(start). */
			unsigned int align = vr->start ? (unsigned int)__builtin_ctzll(vr->start) : 63;

			ret->page_shift = MIN(ctx->host_page_shift, align);
		} else {
			ret->page_shift = vr->page_shift;
		}
		err = 0;
	}
	rcu_read_exit();
	return err;
}
