/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uiommu/ctx.h - the library context: limits, logging, allocation hooks,
 * fault injection and error strings.
 *
 * Concepts:
 * - struct uiommu_ctx is the root of every object. There is no global
 *   state: two contexts in one process never see each other's objects,
 *   limits, logs or counters. (The RCU machinery of liburcu is per
 *   process; it holds no uiommu state.)
 * - Everything a guest or a user controls is charged against a limit on
 *   the context (enum uiommu_resource): bytes of memory, pinned bytes, TCE
 *   table bytes, numbers of guests, memslots, windows, LIOBNs, grants and
 *   notifiers. A charge past its limit fails and changes nothing; the usage
 *   of every resource is observable, so that tests can prove it returns to
 *   zero.
 * - The library never prints and never aborts on bad input. Messages go to
 *   an optional log callback; errors caused by a guest have their own level
 *   (UIOMMU_LOG_GUEST_ERROR) and are rate-limited, so that a guest cannot
 *   flood the host's log.
 * - Heap allocations go through an allocator hook, and every fallible step
 *   (heap, host frame, pin, mapping) is a numbered fault point at which a
 *   test can inject a failure (uiommu_ctx_inject_fault()).
 *
 * Thread safety: every function here may be called from any thread,
 * concurrently, except uiommu_ctx_free(), which must be the last call on
 * the context.
 *
 * fork(): the library registers liburcu's fork handlers (pthread_atfork),
 * so a child process may create and use contexts of its own. It must not
 * use the contexts it inherited from its parent.
 */
#ifndef UIOMMU_CTX_H
#define UIOMMU_CTX_H

#include <stdint.h>
#include <stddef.h>

#include <uiommu/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uiommu_ctx;

/**
 * enum uiommu_log_level - severity of a log message (syslog numbering).
 * @UIOMMU_LOG_ERR: the host (not a guest) hit an error.
 * @UIOMMU_LOG_WARNING: something unexpected that the library handled.
 * @UIOMMU_LOG_GUEST_ERROR: a guest or a user's input was invalid (as QEMU's
 *	LOG_GUEST_ERROR); rate-limited, see uiommu_ctx_set_guest_log_ratelimit().
 * @UIOMMU_LOG_INFO: informational.
 * @UIOMMU_LOG_DEBUG: debugging detail.
 */
enum uiommu_log_level {
	UIOMMU_LOG_ERR = 3,
	UIOMMU_LOG_WARNING = 4,
	UIOMMU_LOG_GUEST_ERROR = 5,
	UIOMMU_LOG_INFO = 6,
	UIOMMU_LOG_DEBUG = 7,
};

/**
 * typedef uiommu_log_fn - a log callback.
 * @opaque: the pointer given with the callback.
 * @level: severity of @msg.
 * @msg: one line of text without a trailing newline, at most 511 bytes;
 *	valid only during the call.
 *
 * Called from whatever thread hit the condition, possibly concurrently and
 * possibly inside an RCU read-side critical section: it must not call back
 * into the library and should not block.
 */
typedef void uiommu_log_fn(void *opaque, enum uiommu_log_level level, const char *msg);

/**
 * struct uiommu_allocator - heap allocation hook.
 * @alloc: return @size bytes aligned to @align (a power of two, at most
 *	4096), or NULL. Must be thread-safe.
 * @free: release memory from @alloc; @size is the size that was asked for.
 * @opaque: passed to both.
 *
 * Host frames (mem.h) do not come from this hook: they are pages of the
 * library's own RAM region.
 */
struct uiommu_allocator {
	void *(*alloc)(void *opaque, size_t size, size_t align);
	void (*free)(void *opaque, void *ptr, size_t size);
	void *opaque;
};

/*
 * Simulate pinning: charge pinned bytes and keep pin counts exactly as
 * usual, but do not mlock(2). For embedders without CAP_IPC_LOCK or with a
 * small RLIMIT_MEMLOCK.
 */
#define UIOMMU_CTX_PIN_SIMULATE		(1u << 0)

/**
 * struct uiommu_ctx_config - how to build a context.
 * @size: sizeof(struct uiommu_ctx_config), for extensibility: a smaller
 *	size than the first version is -EINVAL; a larger one is accepted only if
 *	the bytes this library does not know are zero (else -E2BIG).
 * @flags: UIOMMU_CTX_* flags.
 * @host_page_shift: page size of the modelled host, as log2 of bytes: 16
 *	(64 KiB, as Debian's and most POWER Linux kernels) or 12 (4 KiB);
 *	0 means 16. TCE table levels have this size.
 * @allocator: heap allocation hook, or NULL for malloc. Copied.
 * @log_fn: log callback, or NULL for none (see uiommu_ctx_set_log()).
 * @log_opaque: passed to @log_fn.
 * @log_max_level: deliver messages whose level is at most this; 0 means
 *	UIOMMU_LOG_INFO.
 */
struct uiommu_ctx_config {
	uint32_t size;
	uint32_t flags;
	uint32_t host_page_shift;
	uint32_t log_max_level;
	const struct uiommu_allocator *allocator;
	uiommu_log_fn *log_fn;
	void *log_opaque;
};

/**
 * uiommu_ctx_new() - Create a library context.
 * @config: configuration, or NULL for the defaults.
 * @ret_ctx: on success, the new context.
 *
 * The limits start at their defaults (see enum uiommu_resource), except
 * UIOMMU_RES_LOCKED_BYTES, which starts at this process's RLIMIT_MEMLOCK
 * soft limit. Allocates; does not touch RAM until it is first asked for
 * frames.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL @ret_ctx is NULL, @config->size is too small, unknown flags, or
 *   a host_page_shift other than 0, 12 or 16;
 * * -E2BIG @config is larger than this library knows and its tail is not zero;
 * * -ENOMEM out of memory.
 */
int uiommu_ctx_new(const struct uiommu_ctx_config *config, struct uiommu_ctx **ret_ctx);

/**
 * uiommu_ctx_free() - Destroy a context.
 * @ctx: context, or NULL (nothing happens).
 *
 * Every object created from @ctx (guests, RAM regions, host frames,
 * hostmem buffers, pins, tables...) must have been freed: otherwise
 * nothing is freed and -EBUSY is returned, so that a leak is reported, not
 * silently cleaned up. Runs the deferred (RCU) frees still pending, after
 * one grace period (it waits for readers, never for a timer; with nothing
 * pending it does not wait at all).
 *
 * Context: must not be called inside an RCU read-side critical section or
 * concurrently with any other call on @ctx. May sleep (in the grace period).
 *
 * Return: 0, or -EBUSY if objects remain.
 */
int uiommu_ctx_free(struct uiommu_ctx *ctx);

/**
 * uiommu_ctx_host_page_shift() - The modelled host's page size.
 * @ctx: context.
 *
 * Return: log2 of the page size in bytes, 12 or 16.
 */
unsigned int uiommu_ctx_host_page_shift(const struct uiommu_ctx *ctx);

/**
 * enum uiommu_resource - what a context counts and bounds.
 * @UIOMMU_RES_HEAP_BYTES: bytes of library heap memory. Default: no limit.
 * @UIOMMU_RES_FRAME_BYTES: bytes of host frames taken from the library's
 *	own RAM region (TCE levels, guest views, hostmem buffers, ...).
 *	Default 1 GiB; the region itself is 16 GiB of address space.
 * @UIOMMU_RES_LOCKED_BYTES: bytes pinned with uiommu_pin(), as the kernel's
 *	locked_vm. Default: RLIMIT_MEMLOCK (soft) when the context was made.
 * @UIOMMU_RES_TABLE_BYTES: bytes of TCE tables, as uiommu_tce_table_size()
 *	counts them. Default 1 GiB.
 * @UIOMMU_RES_RAM_REGIONS: RAM regions added to the hpa space. Default 64.
 * @UIOMMU_RES_HOSTMEM: hostmem buffers. Default 4096.
 * @UIOMMU_RES_GUESTS: guests. Default 64.
 * @UIOMMU_RES_MEMSLOTS: guest memslots, over all guests. Default 4096.
 * @UIOMMU_RES_WINDOWS: DMA windows (TCE tables). Default 1024.
 * @UIOMMU_RES_LIOBNS: guest TCE tables (LIOBNs), over all guests. Default 1024.
 * @UIOMMU_RES_GRANTS: grant references. Default 65536.
 * @UIOMMU_RES_NOTIFIERS: mirror interval notifiers. Default 65536.
 * @UIOMMU_RES_PHBS: host PHBs (pe.h). Default 64.
 * @UIOMMU_RES_TABLE_GROUPS: IOMMU table groups the library implements: PEs
 *	and compound groups (pe.h). Default 4096.
 * @UIOMMU_RES_DEVICES: emulated devices (device.h). Default 4096.
 * @UIOMMU_RES_GRANT_TABLES: grant tables and grant mapping handles
 *	(grant.h). Default 64.
 * @UIOMMU_RES_GRANT_PEERS: grant connections, at either end. Default 1024.
 * @UIOMMU_RES_GRANT_MAPS: grant mappings, counted by the mapping side and
 *	by the granting side for each peer (Xen's maptrack). Default 262144.
 * @UIOMMU_RES_ADDRESS_SPACES: address spaces made with uiommu_mm_new()
 *	(mm.h; a context's process address space is not counted), each with
 *	at most one userfaultfd and monitor thread. Default 64.
 * @UIOMMU_RES_MIRROR_BUSY_MS: not a usage but a bound: the longest a mirror
 *	population keeps retrying under continuous invalidation, in
 *	milliseconds, before it fails with -EBUSY (Linux
 *	HMM_RANGE_DEFAULT_TIMEOUT). Default 1000; the usage stays 0.
 * @UIOMMU_RES_PREREG_REGIONS: preregistered memory regions, over all
 *	address spaces (prereg.h). Default 65536.
 * @UIOMMU_RES_VFIO_CONTAINERS: VFIO containers (vfio.h). Default 1024.
 * @UIOMMU_RES_VCPUS: vCPU handles (vcpu.h). Default 1024.
 * @UIOMMU_RES_NR: number of resources.
 *
 * A charge that would take the usage past the limit fails with -ENOMEM for
 * the byte resources (as the kernel's account_locked_vm()) and -ENOSPC for
 * the counted ones, and changes nothing.
 */
enum uiommu_resource {
	UIOMMU_RES_HEAP_BYTES,
	UIOMMU_RES_FRAME_BYTES,
	UIOMMU_RES_LOCKED_BYTES,
	UIOMMU_RES_TABLE_BYTES,
	UIOMMU_RES_RAM_REGIONS,
	UIOMMU_RES_HOSTMEM,
	UIOMMU_RES_GUESTS,
	UIOMMU_RES_MEMSLOTS,
	UIOMMU_RES_WINDOWS,
	UIOMMU_RES_LIOBNS,
	UIOMMU_RES_GRANTS,
	UIOMMU_RES_NOTIFIERS,
	UIOMMU_RES_PHBS,
	UIOMMU_RES_TABLE_GROUPS,
	UIOMMU_RES_DEVICES,
	UIOMMU_RES_GRANT_TABLES,
	UIOMMU_RES_GRANT_PEERS,
	UIOMMU_RES_GRANT_MAPS,
	UIOMMU_RES_ADDRESS_SPACES,
	UIOMMU_RES_MIRROR_BUSY_MS,
	UIOMMU_RES_PREREG_REGIONS,
	UIOMMU_RES_VFIO_CONTAINERS,
	UIOMMU_RES_VCPUS,
	UIOMMU_RES_NR
};

/* A limit that never refuses. */
#define UIOMMU_LIMIT_NONE	UINT64_MAX

/**
 * uiommu_resource_name() - Short name of a resource, for messages and CLIs.
 * @res: resource.
 *
 * Return: a static string such as "locked_bytes", or NULL for an unknown
 * @res.
 */
const char *uiommu_resource_name(enum uiommu_resource res);

/**
 * uiommu_ctx_set_limit() - Set the limit of a resource.
 * @ctx: context.
 * @res: resource.
 * @limit: the most the usage may reach (bytes or a count, see @res);
 *	UIOMMU_LIMIT_NONE for no limit.
 *
 * A limit below the current usage is allowed: it only makes later charges
 * fail until the usage falls. UIOMMU_RES_FRAME_BYTES cannot exceed the
 * library region's size (16 GiB).
 *
 * Return: 0, or -EINVAL for an unknown @res or a frame limit above 16 GiB.
 */
int uiommu_ctx_set_limit(struct uiommu_ctx *ctx, enum uiommu_resource res, uint64_t limit);

/**
 * uiommu_ctx_get_limit() - Read the limit of a resource.
 * @ctx: context.
 * @res: resource.
 * @ret_limit: on success, the limit.
 *
 * Return: 0, or -EINVAL for an unknown @res or a NULL @ret_limit.
 */
int uiommu_ctx_get_limit(const struct uiommu_ctx *ctx, enum uiommu_resource res,
			 uint64_t *ret_limit);

/**
 * uiommu_ctx_get_usage() - Read how much of a resource is in use.
 * @ctx: context.
 * @res: resource.
 * @ret_usage: on success, the usage (bytes or a count, see @res).
 *
 * Return: 0, or -EINVAL for an unknown @res or a NULL @ret_usage.
 */
int uiommu_ctx_get_usage(const struct uiommu_ctx *ctx, enum uiommu_resource res,
			 uint64_t *ret_usage);

/**
 * enum uiommu_counter - event counters of a context.
 * @UIOMMU_COUNTER_HEAP_ALLOCS: heap allocations currently outstanding.
 * @UIOMMU_COUNTER_FAULT_POINTS: fault points of the armed classes passed
 *	since the last uiommu_ctx_inject_fault().
 * @UIOMMU_COUNTER_FAULTS_INJECTED: failures injected since then.
 * @UIOMMU_COUNTER_LIMIT_HITS: charges refused by a limit, ever.
 * @UIOMMU_COUNTER_GUEST_ERRORS: guest errors reported, delivered or not.
 * @UIOMMU_COUNTER_LOG_SUPPRESSED: guest errors the rate limit suppressed.
 * @UIOMMU_COUNTER_DMA_FAULTS: DMA faults devices reported, ever (device.h).
 * @UIOMMU_COUNTER_ACCEL_TOO_HARD: hypercalls whose hardware-table update
 *	the fast path could not finish and handed to the VMM
 *	(UIOMMU_H_TOO_HARD, accel.h), ever.
 * @UIOMMU_COUNTER_GRANTS_PENDING: grant references whose end of access
 *	waits for their peer to unmap them, currently (grant.h).
 * @UIOMMU_COUNTER_NR: number of counters.
 */
enum uiommu_counter {
	UIOMMU_COUNTER_HEAP_ALLOCS,
	UIOMMU_COUNTER_FAULT_POINTS,
	UIOMMU_COUNTER_FAULTS_INJECTED,
	UIOMMU_COUNTER_LIMIT_HITS,
	UIOMMU_COUNTER_GUEST_ERRORS,
	UIOMMU_COUNTER_LOG_SUPPRESSED,
	UIOMMU_COUNTER_DMA_FAULTS,
	UIOMMU_COUNTER_ACCEL_TOO_HARD,
	UIOMMU_COUNTER_GRANTS_PENDING,
	UIOMMU_COUNTER_NR
};

/**
 * uiommu_ctx_get_counter() - Read an event counter.
 * @ctx: context.
 * @counter: which.
 * @ret_value: on success, the value.
 *
 * Return: 0, or -EINVAL for an unknown @counter or a NULL @ret_value.
 */
int uiommu_ctx_get_counter(const struct uiommu_ctx *ctx, enum uiommu_counter counter,
			   uint64_t *ret_value);

/**
 * uiommu_ctx_set_log() - Install or remove the log callback.
 * @ctx: context.
 * @fn: callback, or NULL to stop logging.
 * @opaque: passed to @fn.
 * @max_level: deliver only messages whose level is at most this (enum
 *	uiommu_log_level); 0 means UIOMMU_LOG_INFO.
 *
 * Messages are formatted only when they will be delivered.
 *
 * Return: 0, or -EINVAL for a @max_level above UIOMMU_LOG_DEBUG.
 */
int uiommu_ctx_set_log(struct uiommu_ctx *ctx, uiommu_log_fn *fn, void *opaque,
		       unsigned int max_level);

/**
 * uiommu_ctx_set_guest_log_ratelimit() - Bound the guest-error messages.
 * @ctx: context.
 * @burst: at most this many UIOMMU_LOG_GUEST_ERROR messages per interval;
 *	0 suppresses them all (they are still counted).
 * @interval_ns: interval length in nanoseconds of CLOCK_MONOTONIC; must not
 *	be 0.
 *
 * The default is 10 messages per 5 seconds, as the kernel's
 * printk_ratelimit(). When an interval with suppressed messages ends, the
 * next delivered message is preceded by one saying how many were dropped.
 *
 * Return: 0, or -EINVAL for a zero @interval_ns.
 */
int uiommu_ctx_set_guest_log_ratelimit(struct uiommu_ctx *ctx, unsigned int burst,
				       uint64_t interval_ns);

/* Fault classes for uiommu_ctx_inject_fault(). */
#define UIOMMU_FAULT_HEAP	(1u << 0)	/* heap allocation: -ENOMEM */
#define UIOMMU_FAULT_FRAME	(1u << 1)	/* host frame allocation: -ENOMEM */
#define UIOMMU_FAULT_PIN	(1u << 2)	/* mlock of a pin: -ENOMEM */
#define UIOMMU_FAULT_MAP	(1u << 3)	/* memfd, mmap, fallocate: -ENOMEM */
/* An accelerated hcall's hardware-table update (accel.h): UIOMMU_H_TOO_HARD. */
#define UIOMMU_FAULT_HCALL	(1u << 4)
#define UIOMMU_FAULT_ALL	(UIOMMU_FAULT_HEAP | UIOMMU_FAULT_FRAME | \
				 UIOMMU_FAULT_PIN | UIOMMU_FAULT_MAP | UIOMMU_FAULT_HCALL)
/* Fail every fault point from the nth on, not only the nth. */
#define UIOMMU_FAULT_PERSIST	(1u << 31)

/**
 * uiommu_ctx_inject_fault() - Make a future fallible step fail.
 * @ctx: context.
 * @nth: fail the @nth fault point of the classes in @flags from now on
 *	(1 is the next one); 0 disarms.
 * @flags: UIOMMU_FAULT_* classes, optionally with UIOMMU_FAULT_PERSIST.
 *
 * Resets UIOMMU_COUNTER_FAULT_POINTS and UIOMMU_COUNTER_FAULTS_INJECTED.
 * A test runs an operation with @nth = 1, 2, ... until it succeeds with no
 * fault injected (SQLite's and Linux iommufd_fail_nth's technique), checking
 * after each failure that nothing leaked. The points are counted per
 * context and atomically, so the numbering is deterministic for a
 * single-threaded operation.
 *
 * Return: 0, or -EINVAL for unknown flags or @nth != 0 with no class.
 */
int uiommu_ctx_inject_fault(struct uiommu_ctx *ctx, uint64_t nth, unsigned int flags);

/**
 * uiommu_strerror() - Describe an error returned by the library.
 * @err: a negative errno (a positive one is accepted too).
 *
 * Thread-safe; does not allocate.
 *
 * Return: a static string, never NULL ("Unknown error" for unknown codes).
 */
const char *uiommu_strerror(int err);

/**
 * uiommu_errno_name() - The symbolic name of an errno.
 * @err: a negative errno (a positive one is accepted too).
 *
 * Return: a static string such as "EINVAL", or "E?" for unknown codes.
 */
const char *uiommu_errno_name(int err);

#ifdef __cplusplus
}
#endif

#endif /* UIOMMU_CTX_H */
