/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private state of the host memory model (src/mem/). See uiommu/mem.h.
 *
 * Two RCU-published, copy-on-write sorted arrays answer the lookups:
 * - regions, by hpa: hpa -> host pointer;
 * - vranges, by host address: host pointer -> hpa. A vrange is a region's
 *   mapping (linear) or a hostmem buffer (one hpa per backing page).
 * Writers hold mem_state.lock; readers hold only an RCU read lock. Pins are
 * counted per 4 KiB page of a vrange, under mem_state.lock. Host frames come
 * from a buddy allocator over the library's region, under frame_lock.
 */
#ifndef UIOMMU_MEM_PRIV_H
#define UIOMMU_MEM_PRIV_H

#include "../internal.h"

#define SYS_PAGE_SHIFT 12
#define SYS_PAGE_SIZE (1ULL << SYS_PAGE_SHIFT)

/* Hpa where user regions start: after the library's region. */
#define USER_HPA_BASE (UIOMMU_HPA_LIBRARY_BASE + UIOMMU_HPA_LIBRARY_SIZE)

struct vrange;

struct ram_region {
	uint64_t hpa;
	uint64_t last_hpa; /* inclusive */
	int fd;		   /* the library's own descriptor */
	uint64_t fd_offset;
	char *hva;
	bool lib_mapped;   /* the library mmap()ed it and munmap()s it */
	bool library;	   /* the library's frame region */
	struct vrange *vr; /* its mapping */
	uint64_t dev, ino; /* the file's identity, to find other mappings of it */
	/*
	 * Pages migrated away (migrate.c), by page index; tag: the page's
	 * current hpa. Their linear hpas are poisoned. NULL: none.
	 */
	struct rcu_array *_Atomic migrated;
	struct uiommu_ctx *ctx;
	struct rcu_node rcu;
};

/* Pin counts per 4 KiB page, in lazily allocated chunks of 512 pages (2 MiB). */
#define PIN_CHUNK_SHIFT 9
#define PIN_CHUNK_PAGES (1u << PIN_CHUNK_SHIFT)
struct pin_chunk {
	uint32_t nonzero; /* pages of this chunk with a count */
	uint32_t count[PIN_CHUNK_PAGES];
};

enum vrange_kind {
	VRANGE_REGION,	/* a region's mapping: hpa = region hpa + offset */
	VRANGE_HOSTMEM, /* a hostmem buffer: page_hpa[] per backing page */
};

struct vrange {
	uintptr_t start;
	uintptr_t last; /* inclusive */
	enum vrange_kind kind;
	unsigned int page_shift; /* backing page size */
	uint64_t npages;	 /* backing pages */
	uint64_t hpa_base;	 /* VRANGE_REGION */
	uint64_t *page_hpa;	 /* VRANGE_HOSTMEM */
	struct ram_region *region;

	/* Pins, under mem_state.lock; pinned_pages is read without it. */
	struct pin_chunk **pins;
	uint64_t pin_nchunks;
	_Atomic uint64_t pinned_pages;

	struct uiommu_ctx *ctx;
	struct rcu_node rcu;
};

/* Buddy allocator over one 1 GiB chunk of the library region. */
#define BUDDY_CHUNK_ORDER UIOMMU_FRAME_MAX_ORDER
#define BUDDY_CHUNK_FRAMES (1u << BUDDY_CHUNK_ORDER)
#define BUDDY_NCHUNKS (UIOMMU_HPA_LIBRARY_SIZE >> (BUDDY_CHUNK_ORDER + UIOMMU_FRAME_SHIFT))
#define BUDDY_CHUNK_BYTES (1ULL << (BUDDY_CHUNK_ORDER + UIOMMU_FRAME_SHIFT))
struct buddy_chunk {
	uint32_t nfree[BUDDY_CHUNK_ORDER + 1];
	uint32_t hint[BUDDY_CHUNK_ORDER + 1]; /* lowest word that may hold a free bit */
	uint64_t *free_bits[BUDDY_CHUNK_ORDER + 1];  /* block b of order o is free */
	uint64_t *alloc_bits[BUDDY_CHUNK_ORDER + 1]; /* block b of order o is allocated */
	uint64_t *user_bits; /* frame f heads a run the user allocated */
	uint64_t *storage;
};

struct mem_state {
	pthread_mutex_t lock; /* regions, vranges, hostmem, pins */
	struct rcu_array *_Atomic regions; /* by hpa; ptr: struct ram_region */
	struct rcu_array *_Atomic vranges; /* by host address; ptr: struct vrange */
	uint64_t next_hpa;

	/* Migration (migrate.c): serializes migrations, region removal and the hooks. */
	pthread_mutex_t migrate_lock;
	struct mem_hook *hooks;		     /* under migrate_lock */
	struct rcu_array *_Atomic moved;     /* by new hpa; ptr: region, tag: page index */
	uint64_t moved_base, moved_next;     /* the hpa slot new hpas come from */
	_Atomic uint64_t migrate_gen;

	pthread_mutex_t frame_lock;
	struct ram_region *_Atomic lib; /* created at the first frame allocation */
	struct buddy_chunk *chunks[BUDDY_NCHUNKS];
	unsigned int lib_nchunks; /* chunks the region's mapping holds; under frame_lock */
};

/*
 * The memory model's state hangs off the context's CTX_EXT_MEM slot,
 * created by the first call that needs it: mem_peek() reads it (NULL until
 * then: nothing is registered, every lookup misses), mem_get() creates it
 * (NULL when out of memory).
 */
static inline struct mem_state *mem_peek(const struct uiommu_ctx *ctx)
{
	return ext_get(&ctx->ext[CTX_EXT_MEM]);
}
struct mem_state *mem_get(struct uiommu_ctx *ctx);

/* region.c */
/*
 * region_new() - A RAM region of @size bytes mapped at @hva, backed by @fd
 * from @fd_offset, with its linear vrange; placed in the hpa space by
 * region_place(), freed unpublished by region_discard() (which leaves the
 * fd and the mapping alone). NULL when out of memory.
 */
struct ram_region *region_new(struct uiommu_ctx *ctx, int fd, uint64_t fd_offset, char *hva,
			      uint64_t size, bool lib_mapped);
void region_place(struct ram_region *r, uint64_t hpa);
void region_discard(struct ram_region *r);
struct vrange *vrange_lookup_rcu(struct mem_state *mem, uintptr_t addr);
uint64_t vrange_hpa(const struct vrange *vr, uintptr_t addr);
int vrange_insert_locked(struct uiommu_ctx *ctx, struct vrange *vr);
int vrange_remove_locked(struct uiommu_ctx *ctx, struct vrange *vr);
void vrange_free(struct vrange *vr);

/* migrate.c */
struct mem_hook {
	mem_migrate_hook_fn *fn;
	void *opaque;
	struct mem_hook *next;
};
/* The current hpa of page @page of @r (its linear one unless migrated). Inside RCU. */
uint64_t region_page_hpa_rcu(const struct ram_region *r, uint64_t page);
/* Does [hpa, hpa + len - 1] of @r hold a migrated (poisoned) page? Inside RCU. */
bool region_poisoned_rcu(const struct ram_region *r, uint64_t hpa, uint64_t len);
/*
 * For mem_hpa_region_rcu(): narrow [*first, *last] (the region's range) to
 * the run of pages around @hpa that did not migrate; false if @hpa's page
 * did (poisoned). And the one-page range of a migrated page's new hpa, with
 * the host pointer of its first byte, or NULL. Inside RCU.
 */
bool region_run_rcu(const struct ram_region *r, uint64_t hpa, uint64_t *first, uint64_t *last);
void *moved_hpa_region_rcu(struct mem_state *mem, uint64_t hpa, uint64_t *first, uint64_t *last);
/* The host pointer of a migrated page's new hpa, or NULL. Inside RCU. */
void *moved_hpa_to_hva_rcu(struct mem_state *mem, uint64_t hpa, uint64_t len);
/* Drop @r's migrated pages; under migrate_lock and mem->lock. -ENOMEM: nothing changed. */
int migrate_forget_region_locked(struct uiommu_ctx *ctx, struct ram_region *r);
void migrate_fini(struct uiommu_ctx *ctx, struct mem_state *mem);

/* frames.c */
void frames_fini(struct uiommu_ctx *ctx, struct mem_state *mem);
/* @fp: the caller's fault point (FAULT_POINT(UIOMMU_FAULT_FRAME)). */
int frames_alloc(struct uiommu_ctx *ctx, unsigned int order, bool user, uint64_t *ret_hpa,
		 struct fault_point *fp);
int frames_free(struct uiommu_ctx *ctx, uint64_t hpa, unsigned int order, bool user);

/* pin.c */
bool pins_in_range_locked(const struct vrange *vr, uintptr_t start, uintptr_t last);
void pins_free(struct uiommu_ctx *ctx, struct vrange *vr);

#endif /* UIOMMU_MEM_PRIV_H */
