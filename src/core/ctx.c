// SPDX-License-Identifier: BSD-3-Clause
/*
 * The library context: limits and usage, counters, the heap hook and fault
 * injection. See include/uiommu/ctx.h.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "../internal.h"

static const char *const resource_names[UIOMMU_RES_NR] = {
	[UIOMMU_RES_HEAP_BYTES] = "heap_bytes",
	[UIOMMU_RES_FRAME_BYTES] = "frame_bytes",
	[UIOMMU_RES_LOCKED_BYTES] = "locked_bytes",
	[UIOMMU_RES_TABLE_BYTES] = "table_bytes",
	[UIOMMU_RES_RAM_REGIONS] = "ram_regions",
	[UIOMMU_RES_HOSTMEM] = "hostmem_buffers",
	[UIOMMU_RES_GUESTS] = "guests",
	[UIOMMU_RES_MEMSLOTS] = "memslots",
	[UIOMMU_RES_WINDOWS] = "windows",
	[UIOMMU_RES_LIOBNS] = "liobns",
	[UIOMMU_RES_GRANTS] = "grants",
	[UIOMMU_RES_NOTIFIERS] = "notifiers",
	[UIOMMU_RES_PHBS] = "phbs",
	[UIOMMU_RES_TABLE_GROUPS] = "table_groups",
	[UIOMMU_RES_DEVICES] = "devices",
	[UIOMMU_RES_GRANT_TABLES] = "grant_tables",
	[UIOMMU_RES_GRANT_PEERS] = "grant_peers",
	[UIOMMU_RES_GRANT_MAPS] = "grant_maps",
	[UIOMMU_RES_ADDRESS_SPACES] = "address_spaces",
	[UIOMMU_RES_MIRROR_BUSY_MS] = "mirror_busy_ms",
	[UIOMMU_RES_PREREG_REGIONS] = "prereg_regions",
	[UIOMMU_RES_VFIO_CONTAINERS] = "vfio_containers",
	[UIOMMU_RES_VCPUS] = "vcpus",
};

static const uint64_t resource_defaults[UIOMMU_RES_NR] = {
	[UIOMMU_RES_HEAP_BYTES] = UIOMMU_LIMIT_NONE,
	[UIOMMU_RES_FRAME_BYTES] = 1ULL << 30,
	[UIOMMU_RES_LOCKED_BYTES] = 0, /* RLIMIT_MEMLOCK, read at creation */
	[UIOMMU_RES_TABLE_BYTES] = 1ULL << 30,
	[UIOMMU_RES_RAM_REGIONS] = 64,
	[UIOMMU_RES_HOSTMEM] = 4096,
	[UIOMMU_RES_GUESTS] = 64,
	[UIOMMU_RES_MEMSLOTS] = 4096,
	[UIOMMU_RES_WINDOWS] = 1024,
	[UIOMMU_RES_LIOBNS] = 1024,
	[UIOMMU_RES_GRANTS] = 65536,
	[UIOMMU_RES_NOTIFIERS] = 65536,
	[UIOMMU_RES_PHBS] = 64,
	[UIOMMU_RES_TABLE_GROUPS] = 4096,
	[UIOMMU_RES_DEVICES] = 4096,
	[UIOMMU_RES_GRANT_TABLES] = 64,
	[UIOMMU_RES_GRANT_PEERS] = 1024,
	[UIOMMU_RES_GRANT_MAPS] = 262144,
	[UIOMMU_RES_ADDRESS_SPACES] = 64,
	[UIOMMU_RES_MIRROR_BUSY_MS] = 1000,
	[UIOMMU_RES_PREREG_REGIONS] = 65536,
	[UIOMMU_RES_VFIO_CONTAINERS] = 1024,
	[UIOMMU_RES_VCPUS] = 1024,
};

/* Byte resources refuse with -ENOMEM (as account_locked_vm()), counts with -ENOSPC. */
static bool resource_is_bytes(enum uiommu_resource res)
{
	switch (res) {
	case UIOMMU_RES_HEAP_BYTES:
	case UIOMMU_RES_FRAME_BYTES:
	case UIOMMU_RES_LOCKED_BYTES:
	case UIOMMU_RES_TABLE_BYTES:
		return true;
	default:
		return false;
	}
}

static void *default_alloc(void *opaque, size_t size, size_t align)
{
	void *p;

	(void)opaque;
	if (posix_memalign(&p, MAX(align, sizeof(void *)), size))
		return NULL;
	return p;
}

static void default_free(void *opaque, void *ptr, size_t size)
{
	(void)opaque;
	(void)size;
	free(ptr);
}

static const struct uiommu_allocator default_allocator = {
	.alloc = default_alloc,
	.free = default_free,
};

/* The first published layout of struct uiommu_ctx_config. */
#define CTX_CONFIG_SIZE_V1 sizeof(struct uiommu_ctx_config)
#define CTX_FLAGS_KNOWN UIOMMU_CTX_PIN_SIMULATE

static int config_check(const struct uiommu_ctx_config *cfg)
{
	if (cfg->size < CTX_CONFIG_SIZE_V1)
		return -EINVAL;
	if (cfg->size > CTX_CONFIG_SIZE_V1) {
		const unsigned char *tail = (const unsigned char *)cfg + CTX_CONFIG_SIZE_V1;

		for (size_t i = 0; i < cfg->size - CTX_CONFIG_SIZE_V1; i++)
			if (tail[i])
				return -E2BIG;
	}
	if (cfg->flags & ~CTX_FLAGS_KNOWN)
		return -EINVAL;
	if (cfg->host_page_shift != 0 && cfg->host_page_shift != 12 && cfg->host_page_shift != 16)
		return -EINVAL;
	if (cfg->log_max_level > UIOMMU_LOG_DEBUG)
		return -EINVAL;
	if (cfg->allocator && (!cfg->allocator->alloc || !cfg->allocator->free))
		return -EINVAL;
	return 0;
}

static uint64_t memlock_rlimit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl))
		return 0;
	if (rl.rlim_cur == RLIM_INFINITY)
		return UIOMMU_LIMIT_NONE;
	return (uint64_t)rl.rlim_cur;
}

UIOMMU_EXPORT int uiommu_ctx_new(const struct uiommu_ctx_config *config,
				 struct uiommu_ctx **ret_ctx)
{
	const struct uiommu_allocator *allocator = &default_allocator;
	struct uiommu_ctx *ctx;
	int ret;

	if (!ret_ctx)
		return -EINVAL;
	rcu_setup();
	if (config) {
		ret = config_check(config);
		if (ret)
			return ret;
		if (config->allocator)
			allocator = config->allocator;
	}

	ctx = allocator->alloc(allocator->opaque, sizeof(*ctx), _Alignof(struct uiommu_ctx));
	if (!ctx)
		return -ENOMEM;
	memset(ctx, 0, sizeof(*ctx));
	ctx->allocator = *allocator;
	ctx->flags = config ? config->flags : 0;
	ctx->host_page_shift = config && config->host_page_shift ? config->host_page_shift : 16;
	for (int i = 0; i < UIOMMU_RES_NR; i++)
		atomic_init(&ctx->limit[i], resource_defaults[i]);
	atomic_init(&ctx->limit[UIOMMU_RES_LOCKED_BYTES], memlock_rlimit());
	log_init(ctx);
	if (config && config->log_fn)
		uiommu_ctx_set_log(ctx, config->log_fn, config->log_opaque, config->log_max_level);

	*ret_ctx = ctx;
	return 0;
}

UIOMMU_EXPORT int uiommu_ctx_free(struct uiommu_ctx *ctx)
{
	struct uiommu_allocator allocator;

	if (!ctx)
		return 0;
	/* Deferred frees of this context's objects uncharge what they held. */
	rcu_wait_callbacks();
	for (int i = 0; i < UIOMMU_RES_NR; i++) {
		if (i == UIOMMU_RES_HEAP_BYTES)
			continue;
		if (atomic_load(&ctx->usage[i])) {
			ctx_err(ctx, "context freed while %s is %llu", resource_names[i],
				(unsigned long long)atomic_load(&ctx->usage[i]));
			return -EBUSY;
		}
	}
	/* Upper modules' state, last slot first (it may still use a lower one). */
	for (int i = CTX_EXT_NR - 1; i >= 0; i--)
		ext_fini(&ctx->ext[i], ctx);
	pthread_mutex_destroy(&ctx->log_lock);
	allocator = ctx->allocator;
	allocator.free(allocator.opaque, ctx, sizeof(*ctx));
	return 0;
}

UIOMMU_EXPORT unsigned int uiommu_ctx_host_page_shift(const struct uiommu_ctx *ctx)
{
	return ctx->host_page_shift;
}

UIOMMU_EXPORT const char *uiommu_resource_name(enum uiommu_resource res)
{
	if ((unsigned int)res >= UIOMMU_RES_NR)
		return NULL;
	return resource_names[res];
}

UIOMMU_EXPORT int uiommu_ctx_set_limit(struct uiommu_ctx *ctx, enum uiommu_resource res,
				       uint64_t limit)
{
	if ((unsigned int)res >= UIOMMU_RES_NR)
		return -EINVAL;
	if (res == UIOMMU_RES_FRAME_BYTES && limit > UIOMMU_HPA_LIBRARY_SIZE)
		return -EINVAL;
	atomic_store(&ctx->limit[res], limit);
	return 0;
}

UIOMMU_EXPORT int uiommu_ctx_get_limit(const struct uiommu_ctx *ctx, enum uiommu_resource res,
				       uint64_t *ret_limit)
{
	if ((unsigned int)res >= UIOMMU_RES_NR || !ret_limit)
		return -EINVAL;
	*ret_limit = atomic_load(&ctx->limit[res]);
	return 0;
}

UIOMMU_EXPORT int uiommu_ctx_get_usage(const struct uiommu_ctx *ctx, enum uiommu_resource res,
				       uint64_t *ret_usage)
{
	if ((unsigned int)res >= UIOMMU_RES_NR || !ret_usage)
		return -EINVAL;
	*ret_usage = atomic_load(&ctx->usage[res]);
	return 0;
}

UIOMMU_EXPORT int uiommu_ctx_get_counter(const struct uiommu_ctx *ctx,
					 enum uiommu_counter counter, uint64_t *ret_value)
{
	if ((unsigned int)counter >= UIOMMU_COUNTER_NR || !ret_value)
		return -EINVAL;
	*ret_value = atomic_load(&ctx->counters[counter]);
	return 0;
}

#define FAULT_CLASSES UIOMMU_FAULT_ALL

UIOMMU_EXPORT int uiommu_ctx_inject_fault(struct uiommu_ctx *ctx, uint64_t nth,
					  unsigned int flags)
{
	if (flags & ~(FAULT_CLASSES | UIOMMU_FAULT_PERSIST))
		return -EINVAL;
	if (nth && !(flags & FAULT_CLASSES))
		return -EINVAL;
	/* Disarm first so that no thread sees the new nth with old counts. */
	atomic_store(&ctx->fault_flags, 0);
	atomic_store(&ctx->counters[UIOMMU_COUNTER_FAULT_POINTS], 0);
	atomic_store(&ctx->counters[UIOMMU_COUNTER_FAULTS_INJECTED], 0);
	atomic_store(&ctx->fault_nth, nth);
	if (nth)
		atomic_store(&ctx->fault_flags, flags);
	return 0;
}

bool ctx_fault_at(struct uiommu_ctx *ctx, struct fault_point *fp)
{
	uint32_t flags = atomic_load_explicit(&ctx->fault_flags, memory_order_relaxed);
	uint64_t n, nth;

	if (likely(!(flags & fp->fault_class)))
		return false;
	n = atomic_fetch_add(&ctx->counters[UIOMMU_COUNTER_FAULT_POINTS], 1) + 1;
	nth = atomic_load(&ctx->fault_nth);
	if (n == nth || ((flags & UIOMMU_FAULT_PERSIST) && n > nth)) {
		ctx_count(ctx, UIOMMU_COUNTER_FAULTS_INJECTED, 1);
		atomic_store_explicit(&fp->failed, true, memory_order_relaxed);
		return true;
	}
	return false;
}

/* The linker's bounds of the section FAULT_POINT() fills; weak: a binary may have none. */
extern struct fault_point __start_uiommu_fault_points[]
	__attribute__((weak, visibility("hidden")));
extern struct fault_point __stop_uiommu_fault_points[]
	__attribute__((weak, visibility("hidden")));

size_t fault_points(struct fault_point **ret_first)
{
	*ret_first = __start_uiommu_fault_points;
	if (!__start_uiommu_fault_points)
		return 0;
	return (size_t)(__stop_uiommu_fault_points - __start_uiommu_fault_points);
}

int ctx_charge(struct uiommu_ctx *ctx, enum uiommu_resource res, uint64_t amount)
{
	uint64_t old = atomic_load_explicit(&ctx->usage[res], memory_order_relaxed);
	uint64_t new;

	do {
		if (__builtin_add_overflow(old, amount, &new) ||
		    new > atomic_load_explicit(&ctx->limit[res], memory_order_relaxed)) {
			ctx_count(ctx, UIOMMU_COUNTER_LIMIT_HITS, 1);
			return resource_is_bytes(res) ? -ENOMEM : -ENOSPC;
		}
	} while (!atomic_compare_exchange_weak_explicit(&ctx->usage[res], &old, new,
							memory_order_relaxed,
							memory_order_relaxed));
	return 0;
}

void ctx_uncharge(struct uiommu_ctx *ctx, enum uiommu_resource res, uint64_t amount)
{
	uint64_t old = atomic_fetch_sub_explicit(&ctx->usage[res], amount, memory_order_relaxed);

	/* An uncharge without its charge is a library bug; keep the count sane. */
	if (unlikely(old < amount)) {
		atomic_fetch_add(&ctx->usage[res], amount);
		ctx_err(ctx, "uncharge of %llu from %s below zero", (unsigned long long)amount,
			resource_names[res]);
	}
}

/*
 * Heap blocks carry a header just before the returned pointer, so that
 * ctx_free() needs no size and the allocator's free() gets the size it gave.
 */
struct alloc_hdr {
	uint64_t size;	 /* bytes the caller asked for */
	uint32_t offset; /* from the raw block to the returned pointer */
	uint32_t magic;
};
#define ALLOC_MAGIC 0x75696f6du /* "uiom" */
_Static_assert(sizeof(struct alloc_hdr) == 16, "alloc header must keep 16-byte alignment");

void *ctx_alloc_at(struct uiommu_ctx *ctx, size_t size, size_t align, struct fault_point *fp)
{
	struct alloc_hdr *hdr;
	size_t total;
	char *raw;

	if (!align || align > 4096 || (align & (align - 1)))
		return NULL;
	if (align < 16)
		align = 16;
	if (__builtin_add_overflow(size, align, &total))
		return NULL;
	if (ctx_fault_at(ctx, fp))
		return NULL;
	if (ctx_charge(ctx, UIOMMU_RES_HEAP_BYTES, size))
		return NULL;
	raw = ctx->allocator.alloc(ctx->allocator.opaque, total, align);
	if (!raw) {
		ctx_uncharge(ctx, UIOMMU_RES_HEAP_BYTES, size);
		return NULL;
	}
	memset(raw + align, 0, size);
	hdr = (struct alloc_hdr *)(void *)(raw + align - sizeof(*hdr));
	hdr->size = size;
	hdr->offset = (uint32_t)align;
	hdr->magic = ALLOC_MAGIC;
	ctx_count(ctx, UIOMMU_COUNTER_HEAP_ALLOCS, 1);
	return raw + align;
}

void *ctx_alloc_array_at(struct uiommu_ctx *ctx, size_t n, size_t size, struct fault_point *fp)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total))
		return NULL;
	return ctx_alloc_at(ctx, total, 16, fp);
}

void ctx_free(struct uiommu_ctx *ctx, void *ptr)
{
	struct alloc_hdr *hdr;
	uint64_t size;
	char *raw;

	if (!ptr)
		return;
	hdr = (struct alloc_hdr *)(void *)((char *)ptr - sizeof(*hdr));
	if (unlikely(hdr->magic != ALLOC_MAGIC)) {
		ctx_err(ctx, "ctx_free of a pointer the context did not allocate");
		return;
	}
	hdr->magic = 0;
	size = hdr->size;
	raw = (char *)ptr - hdr->offset;
	ctx->allocator.free(ctx->allocator.opaque, raw, size + hdr->offset);
	ctx_uncharge(ctx, UIOMMU_RES_HEAP_BYTES, size);
	atomic_fetch_sub_explicit(&ctx->counters[UIOMMU_COUNTER_HEAP_ALLOCS], 1,
				  memory_order_relaxed);
}
