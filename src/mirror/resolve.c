// SPDX-License-Identifier: BSD-3-Clause
/*
 * The CPU side of population, what hmm_range_fault() does in the kernel:
 * fault the range in, then say for each 4 KiB page where it is. From user
 * space: madvise(MADV_POPULATE_*) to fault, then, per page, the host
 * memory model (a region mapping or hostmem buffer of this context), or
 * /proc/self/maps for another mapping of a region's file, or
 * /proc/self/pagemap for memory the model does not know.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "mirror.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

/* /proc/self/pagemap: bit 63 present, bits 0-54 the page frame number. */
#define PAGEMAP_PRESENT (1ULL << 63)
#define PAGEMAP_PFN_MASK ((1ULL << 55) - 1)
/* The order a chunk of unknown memory may reach: a PMD (a THP). */
#define PHYS_MAX_ORDER 9

int mirror_fault_in(struct uiommu_ctx *ctx, uint64_t ua, uint64_t size, bool read_only)
{
	for (;;) {
		if (!madvise((void *)(uintptr_t)ua, size,
			     read_only ? MADV_POPULATE_READ : MADV_POPULATE_WRITE))
			return 0;
		switch (errno) {
		case EINTR:
		case EAGAIN:
			continue;
		case ENOMEM: /* a hole */
			ctx_debug(ctx, "mirror: [0x%llx, +0x%llx) is not all mapped",
				  (unsigned long long)ua, (unsigned long long)size);
			return -EFAULT;
		case EINVAL:
			/* A write fault on memory that cannot be written: hmm's -EPERM. */
			if (!read_only && !madvise((void *)(uintptr_t)ua, size, MADV_POPULATE_READ)) {
				ctx_debug(ctx, "mirror: [0x%llx, +0x%llx) is not writable",
					  (unsigned long long)ua, (unsigned long long)size);
				return -EPERM;
			}
			return -EFAULT; /* VM_IO, VM_PFNMAP */
		default: /* EFAULT (SIGBUS, SIGSEGV), EHWPOISON */
			return -EFAULT;
		}
	}
}

/* ---- /proc/self/maps ---- */

static bool maps_parse(const char *line, struct mirror_vma *m)
{
	unsigned long long start, end, off, ino;

	if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu", &start, &end, m->perms, &off, &m->major,
		   &m->minor, &ino) != 7 || end <= start)
		return false;
	m->start = start;
	m->last = end - 1;
	m->offset = off;
	m->ino = ino;
	return true;
}

int mirror_maps_walk(struct uiommu_ctx *ctx, bool (*cb)(void *opaque, const struct mirror_vma *vma),
		     void *opaque)
{
	char line[512];
	int ret = 0;
	FILE *f;

	if (ctx_fault(ctx, UIOMMU_FAULT_MAP))
		return -ENOMEM;
	f = fopen("/proc/self/maps", "re");
	if (!f)
		return -EFAULT;
	while (fgets(line, sizeof(line), f)) {
		struct mirror_vma m;

		if (maps_parse(line, &m) && !cb(opaque, &m))
			break;
	}
	if (ferror(f))
		ret = -EFAULT;
	fclose(f);
	return ret;
}

/* The mappings of [ua, ua_last], for pages the memory model does not know by address. */
struct vma_list {
	struct uiommu_ctx *ctx;
	uint64_t ua, ua_last;
	struct mirror_vma *v;
	size_t n, cap;
	int ret;
};

static bool vma_collect(void *opaque, const struct mirror_vma *m)
{
	struct vma_list *l = opaque;

	if (m->last < l->ua)
		return true;
	if (m->start > l->ua_last)
		return false;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		struct mirror_vma *v = ctx_alloc_array(l->ctx, cap, sizeof(*v));

		if (!v) {
			l->ret = -ENOMEM;
			return false;
		}
		if (l->n)
			memcpy(v, l->v, l->n * sizeof(*v));
		ctx_free(l->ctx, l->v);
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *m;
	return true;
}

static int vmas_of(struct uiommu_ctx *ctx, uint64_t ua, uint64_t ua_last, struct vma_list *l)
{
	int ret;

	l->ctx = ctx;
	l->ua = ua;
	l->ua_last = ua_last;
	ret = mirror_maps_walk(ctx, vma_collect, l);
	return ret ? ret : l->ret;
}

int mirror_resolve(struct uiommu_ctx *ctx, uint64_t ua, uint64_t npages,
		   struct mirror_page *pages)
{
	struct vma_list vmas = { 0 };
	bool have_vmas = false;
	int pagemap = -1, ret = 0;
	size_t v = 0;

	for (uint64_t i = 0; i < npages; i++) {
		uint64_t a = ua + (i << MIRROR_PAGE_SHIFT), hpa;
		unsigned int shift;
		bool found;

		rcu_read_enter();
		found = mem_hva_to_hpa_rcu(ctx, (uintptr_t)a, &hpa, &shift);
		rcu_read_exit();
		if (found) {
			pages[i] = (struct mirror_page){ .addr = hpa, .proto = UIOMMU_MIRROR_ADDR_HPA,
							 .order = (uint8_t)(shift - MIRROR_PAGE_SHIFT) };
			continue;
		}
		/* Another mapping of a region's file? */
		if (!have_vmas) {
			ret = vmas_of(ctx, a, ua + (npages << MIRROR_PAGE_SHIFT) - 1, &vmas);
			if (ret)
				goto out;
			have_vmas = true;
		}
		while (v < vmas.n && vmas.v[v].last < a)
			v++;
		if (v == vmas.n || vmas.v[v].start > a) {
			ret = -EFAULT; /* unmapped since the fault: the caller re-checks its sequence */
			goto out;
		}
		if (vmas.v[v].ino) {
			uint64_t off = vmas.v[v].offset + (a - vmas.v[v].start);
			uint64_t dev = makedev(vmas.v[v].major, vmas.v[v].minor);

			rcu_read_enter();
			found = mem_file_to_hpa_rcu(ctx, dev, vmas.v[v].ino, off, &hpa, &shift);
			rcu_read_exit();
			if (found) {
				pages[i] = (struct mirror_page){
					.addr = hpa, .proto = UIOMMU_MIRROR_ADDR_HPA,
					.order = (uint8_t)(shift - MIRROR_PAGE_SHIFT) };
				continue;
			}
		}
		/* Memory the model does not know: the kernel's own page frame number. */
		if (pagemap < 0) {
			if (ctx_fault(ctx, UIOMMU_FAULT_MAP)) {
				ret = -ENOMEM;
				goto out;
			}
			pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
			if (pagemap < 0) {
				ret = -EFAULT;
				goto out;
			}
		}
		{
			uint64_t e = 0;

			if (pread(pagemap, &e, sizeof(e), (off_t)((a >> MIRROR_PAGE_SHIFT) * sizeof(e))) !=
			    (ssize_t)sizeof(e)) {
				ret = -EFAULT;
				goto out;
			}
			pages[i] = (struct mirror_page){
				.addr = (e & PAGEMAP_PRESENT) ? (e & PAGEMAP_PFN_MASK) << MIRROR_PAGE_SHIFT : 0,
				.proto = UIOMMU_MIRROR_ADDR_PHYS,
				.order = PHYS_MAX_ORDER };
		}
	}
out:
	if (pagemap >= 0)
		close(pagemap);
	ctx_free(ctx, vmas.v);
	return ret;
}
