/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Cross-module internals. Never installed.
 *
 * A module (src/<mechanism>/) includes the public headers, this file and
 * its own headers; it reaches other modules only through what is declared
 * here.
 */
#ifndef UIOMMU_INTERNAL_H
#define UIOMMU_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include <uiommu/uiommu.h>

#include "core/util.h"
#include "core/range.h"
#include "core/rcu.h"

struct mem_state;

/*
 * The library context. Every field is set once by uiommu_ctx_new() or is
 * atomic or protected by the lock next to it.
 */
struct uiommu_ctx {
	struct uiommu_allocator allocator;
	uint32_t flags;
	unsigned int host_page_shift;

	_Atomic uint64_t usage[UIOMMU_RES_NR];
	_Atomic uint64_t limit[UIOMMU_RES_NR];
	_Atomic uint64_t counters[UIOMMU_COUNTER_NR];

	/* Fault injection: fail point number fault_nth of the classes in fault_flags. */
	_Atomic uint32_t fault_flags;
	_Atomic uint64_t fault_nth;

	/* Logging. */
	pthread_mutex_t log_lock;
	uiommu_log_fn *log_fn;		/* under log_lock */
	void *log_opaque;		/* under log_lock */
	_Atomic unsigned int log_max_level; /* 0 when there is no callback */
	unsigned int rl_burst;		/* guest-error rate limit, under log_lock */
	uint64_t rl_interval_ns;
	uint64_t rl_window_start_ns;
	unsigned int rl_in_window;
	uint64_t rl_suppressed;

	/* Host memory model (src/mem/). */
	struct mem_state *mem;
};

/* ---- core/ctx.c: heap, charges, fault points ---- */

/*
 * ctx_alloc() - Zeroed heap memory, aligned to 16 bytes (@align for the
 * _aligned form, a power of two up to 4096). Charged to
 * UIOMMU_RES_HEAP_BYTES and a UIOMMU_FAULT_HEAP fault point. NULL on failure.
 */
void *ctx_alloc(struct uiommu_ctx *ctx, size_t size);
void *ctx_alloc_aligned(struct uiommu_ctx *ctx, size_t size, size_t align);
/* n * size bytes, NULL if the product overflows. */
void *ctx_alloc_array(struct uiommu_ctx *ctx, size_t n, size_t size);
/* Free memory from ctx_alloc*(); NULL is a no-op. */
void ctx_free(struct uiommu_ctx *ctx, void *ptr);

/*
 * ctx_fault() - A fault point of class @class (UIOMMU_FAULT_*): true if the
 * caller must fail this step as if it had run out of the resource.
 */
bool ctx_fault(struct uiommu_ctx *ctx, unsigned int fault_class);

/*
 * ctx_charge() - Add @amount to the usage of @res, unless that passes its
 * limit: then -ENOMEM (byte resources) or -ENOSPC (counted ones), and
 * nothing changes. ctx_uncharge() takes it back.
 */
int ctx_charge(struct uiommu_ctx *ctx, enum uiommu_resource res, uint64_t amount);
void ctx_uncharge(struct uiommu_ctx *ctx, enum uiommu_resource res, uint64_t amount);

static inline void ctx_count(struct uiommu_ctx *ctx, enum uiommu_counter c, uint64_t n)
{
	atomic_fetch_add_explicit(&ctx->counters[c], n, memory_order_relaxed);
}

/* ---- core/log.c ---- */

/*
 * ctx_log() - Report a message. Formatted only if it will be delivered.
 * UIOMMU_LOG_GUEST_ERROR messages are counted and rate-limited.
 */
void ctx_log(struct uiommu_ctx *ctx, enum uiommu_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define ctx_err(ctx, ...) ctx_log(ctx, UIOMMU_LOG_ERR, __VA_ARGS__)
#define ctx_warn(ctx, ...) ctx_log(ctx, UIOMMU_LOG_WARNING, __VA_ARGS__)
#define ctx_guest_error(ctx, ...) ctx_log(ctx, UIOMMU_LOG_GUEST_ERROR, __VA_ARGS__)
#define ctx_info(ctx, ...) ctx_log(ctx, UIOMMU_LOG_INFO, __VA_ARGS__)
#define ctx_debug(ctx, ...) ctx_log(ctx, UIOMMU_LOG_DEBUG, __VA_ARGS__)
void log_init(struct uiommu_ctx *ctx);

/* ---- mem/: host memory model ---- */

int mem_init(struct uiommu_ctx *ctx);
/* Release the memory model; the caller has checked that nothing is left. */
void mem_fini(struct uiommu_ctx *ctx);

/*
 * mem_hpa_to_hva_rcu() - Host pointer for [hpa, hpa + len - 1], or NULL if
 * that is not inside one RAM region. @len must not be 0. Call inside an RCU
 * read-side critical section (the pointer is valid until it ends, or while
 * the caller otherwise keeps the region alive).
 */
void *mem_hpa_to_hva_rcu(struct uiommu_ctx *ctx, uint64_t hpa, uint64_t len);

/*
 * mem_frames_alloc() / mem_frames_free(): uiommu_frames_alloc() and
 * uiommu_frames_free() without argument checks, for library-owned pages.
 * @ret_hva, if not NULL, receives the frames' host pointer.
 */
int mem_frames_alloc(struct uiommu_ctx *ctx, unsigned int order, uint64_t *ret_hpa,
		     void **ret_hva);
int mem_frames_free(struct uiommu_ctx *ctx, uint64_t hpa, unsigned int order);

/* ---- guest/ ---- */

/*
 * guest_gpa_to_hva_rcu() - Host address of [gpa, gpa + len - 1] if it lies
 * in one memslot, else NULL. @len must not be 0. Inside an RCU read-side
 * critical section.
 */
void *guest_gpa_to_hva_rcu(struct uiommu_guest *guest, uint64_t gpa, uint64_t len);

#endif /* UIOMMU_INTERNAL_H */
