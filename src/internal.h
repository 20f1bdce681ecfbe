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
#include <string.h>

#include <uiommu/uiommu.h>

#include "core/util.h"
#include "core/range.h"
#include "core/rcu.h"
#include "core/rcu_array.h"
#include "core/ext.h"
#include "core/fault.h"

/*
 * Extension slots of a context (core/ext.h): per-context state of the
 * modules above core, created on first use and finalised by
 * uiommu_ctx_free() after its leak check, last slot first.
 */
enum ctx_ext {
	CTX_EXT_MEM, /* struct mem_state, src/mem/ */
	CTX_EXT_MM, /* the process address space (struct uiommu_mm), src/mm/ */
	CTX_EXT_VFIO, /* struct vfio_state, src/vfio/ */
	CTX_EXT_NR
};

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

	/* Upper modules' state (enum ctx_ext). */
	struct ext_slot ext[CTX_EXT_NR];
};

/*
 * struct_size_check() - Check a caller's versioned struct (a leading
 * uint32_t size, as struct uiommu_ctx_config): -EINVAL if NULL or smaller
 * than the @known first version, -E2BIG if larger with a non-zero tail this
 * library does not know, else 0.
 */
static inline int struct_size_check(const void *p, size_t known)
{
	uint32_t size;

	if (!p)
		return -EINVAL;
	size = *(const uint32_t *)p;
	if (size < known)
		return -EINVAL;
	for (size_t i = known; i < size; i++)
		if (((const unsigned char *)p)[i])
			return -E2BIG;
	return 0;
}

/*
 * struct_copy_out() - Give a caller's versioned out-struct @dst (its size
 * field set by the caller, at least @known, checked) the @known bytes of
 * @src, whose size field says @known, and zeroes for the tail beyond.
 */
static inline void struct_copy_out(void *dst, const void *src, size_t known)
{
	memset(dst, 0, *(const uint32_t *)dst);
	memcpy(dst, src, known);
}

/* ---- core/ctx.c: heap, charges, fault points ---- */

/*
 * ctx_alloc() - Zeroed heap memory, aligned to 16 bytes (@align for the
 * _aligned form, a power of two up to 4096). Charged to
 * UIOMMU_RES_HEAP_BYTES. NULL on failure. Each call site is a
 * UIOMMU_FAULT_HEAP fault point of its own (core/fault.h).
 */
#define ctx_alloc(ctx, size) ctx_alloc_at(ctx, size, 16, FAULT_POINT(UIOMMU_FAULT_HEAP))
#define ctx_alloc_aligned(ctx, size, align)                                                \
	ctx_alloc_at(ctx, size, align, FAULT_POINT(UIOMMU_FAULT_HEAP))
/* n * size bytes, NULL if the product overflows. */
#define ctx_alloc_array(ctx, n, size)                                                      \
	ctx_alloc_array_at(ctx, n, size, FAULT_POINT(UIOMMU_FAULT_HEAP))
void *ctx_alloc_at(struct uiommu_ctx *ctx, size_t size, size_t align, struct fault_point *fp);
void *ctx_alloc_array_at(struct uiommu_ctx *ctx, size_t n, size_t size, struct fault_point *fp);
/* Free memory from ctx_alloc*(); NULL is a no-op. */
void ctx_free(struct uiommu_ctx *ctx, void *ptr);

/*
 * ctx_fault() - A fault point of class @class (UIOMMU_FAULT_*, a constant)
 * at this call site: true if the caller must fail this step as if it had
 * run out of the resource. ctx_fault_at() takes the point from a caller
 * further up (as mem_frames_alloc() does).
 */
#define ctx_fault(ctx, class) ctx_fault_at(ctx, FAULT_POINT(class))
bool ctx_fault_at(struct uiommu_ctx *ctx, struct fault_point *fp);

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

/*
 * mem_hpa_to_hva_rcu() - Host pointer for [hpa, hpa + len - 1], or NULL if
 * that is not inside one RAM region. @len must not be 0. Call inside an RCU
 * read-side critical section (the pointer is valid until it ends, or while
 * the caller otherwise keeps the region alive).
 */
void *mem_hpa_to_hva_rcu(struct uiommu_ctx *ctx, uint64_t hpa, uint64_t len);

/*
 * mem_hpa_region_rcu() - The RAM region holding @hpa: its hpa range
 * [*ret_first, *ret_last] and the host pointer of *ret_first, so that a
 * caller translating many hpas (a device's DMA) looks up only when one
 * falls outside it. NULL if @hpa is not RAM. Inside an RCU read-side
 * critical section (the range is valid until it ends).
 */
void *mem_hpa_region_rcu(struct uiommu_ctx *ctx, uint64_t hpa, uint64_t *ret_first,
			 uint64_t *ret_last);

/*
 * mem_frames_alloc() / mem_frames_free(): uiommu_frames_alloc() and
 * uiommu_frames_free() without argument checks, for library-owned pages.
 * @ret_hva, if not NULL, receives the frames' host pointer. Each call site
 * of mem_frames_alloc() is a UIOMMU_FAULT_FRAME fault point of its own.
 */
#define mem_frames_alloc(ctx, order, ret_hpa, ret_hva)                                     \
	mem_frames_alloc_at(ctx, order, ret_hpa, ret_hva, FAULT_POINT(UIOMMU_FAULT_FRAME))
int mem_frames_alloc_at(struct uiommu_ctx *ctx, unsigned int order, uint64_t *ret_hpa,
			void **ret_hva, struct fault_point *fp);
int mem_frames_free(struct uiommu_ctx *ctx, uint64_t hpa, unsigned int order);

/*
 * mem_frames_alloc_shared() - A run of 2^@order frames, as mem_frames_alloc()
 * (each call site a fault point of its own), whose first @npages (1..2^@order) frames are backed by a memfd of their
 * own, *@ret_fd (@npages * 4 KiB bytes, sealed against shrinking and
 * growing; the caller may add seals), mapped writable at *@ret_hva in the
 * library region's mapping so that hpa and host-pointer lookups stay right. Handing the fd to another
 * process shares those frames and no other memory; the memfd's pages are
 * never reused (mem_frames_free_shared() puts the library's backing back
 * and closes the fd), so what a peer keeps mapped stays its own. Return: 0,
 * -EINVAL bad @npages, -ENOMEM (frames, a fault point, the memfd or the
 * mapping), -EMFILE out of file descriptors.
 *
 * mem_frames_free_shared() - Free such a run and close @fd. Return: 0,
 * -EINVAL not a run, -EBUSY a frame is pinned, -ENOMEM the library's
 * mapping could not be put back (the run is leaked, never reused).
 */
#define mem_frames_alloc_shared(ctx, order, npages, ret_hpa, ret_hva, ret_fd)                 \
	mem_frames_alloc_shared_at(ctx, order, npages, ret_hpa, ret_hva, ret_fd,                \
				   FAULT_POINT(UIOMMU_FAULT_FRAME))
int mem_frames_alloc_shared_at(struct uiommu_ctx *ctx, unsigned int order, uint64_t npages,
			       uint64_t *ret_hpa, void **ret_hva, int *ret_fd, struct fault_point *fp);
int mem_frames_free_shared(struct uiommu_ctx *ctx, uint64_t hpa, unsigned int order, int fd);

/*
 * mem_frames_park_shared() - Keep a run of mem_frames_alloc_shared() for
 * reuse by the same owner: its first @npages frames are zeroed (a hole
 * punched in @fd, so they hold no memory) and its 2^@order frames are
 * uncharged, while its hpas, its mapping and @fd stay. Only for a run whose
 * fd never left the process (nobody else can see what it holds next), and
 * not sealed against writes (a memfd sealed F_SEAL_FUTURE_WRITE cannot be
 * punched).
 * Return: 0; -EINVAL not a run; -EBUSY a frame is pinned; or the punch's
 * negative errno. On error nothing changed (free it as usual).
 *
 * mem_frames_unpark_shared() - Charge a parked run of 2^@order frames again
 * before its reuse: 0, or -ENOMEM from UIOMMU_RES_FRAME_BYTES' limit.
 *
 * mem_frames_free_parked() - Free a parked run, as mem_frames_free_shared()
 * (which frees a charged one).
 */
int mem_frames_park_shared(struct uiommu_ctx *ctx, uint64_t hpa, unsigned int order,
			   uint64_t npages, int fd);
int mem_frames_unpark_shared(struct uiommu_ctx *ctx, unsigned int order);
int mem_frames_free_parked(struct uiommu_ctx *ctx, uint64_t hpa, unsigned int order, int fd);

/*
 * mem_hva_to_hpa_rcu() - The hpa of the byte at @hva of a region mapping or
 * hostmem buffer, and the shift of the naturally aligned page holding it.
 * False if @hva has none. Inside an RCU read-side critical section.
 */
bool mem_hva_to_hpa_rcu(struct uiommu_ctx *ctx, uintptr_t hva, uint64_t *ret_hpa,
			unsigned int *ret_page_shift);

/*
 * mem_file_to_hpa_rcu() - The hpa of byte @offset of the file (@dev, @ino)
 * (st_dev, st_ino) if a RAM region is backed by it, with the page shift.
 * For other mappings of a region's file. Inside an RCU read-side section.
 */
bool mem_file_to_hpa_rcu(struct uiommu_ctx *ctx, uint64_t dev, uint64_t ino, uint64_t offset,
			 uint64_t *ret_hpa, unsigned int *ret_page_shift);

/*
 * Page migration hooks (uiommu_ram_migrate()). Upper layers that hold hpas
 * register one: it is called with @end false before a page's hpa changes
 * (the old hpa still works; stop every device use of it and keep new
 * lookups from completing until the call with @end true), and with @end
 * true after the old hpa is poisoned and the new one published. Called in
 * the migrating thread, under the memory model's migration lock but no
 * other: a hook may call lookups but not uiommu_ram_migrate() nor the hook
 * registration. mem_migrate_gen() is a sequence count: odd from before the
 * first hook call until the new hpa is published, so that a lookup that
 * overlapped a migration (it read an odd value, or the value changed) can
 * be detected and redone.
 */
typedef void mem_migrate_hook_fn(void *opaque, uint64_t old_hpa, uint64_t len, bool end);
int mem_migrate_hook_add(struct uiommu_ctx *ctx, mem_migrate_hook_fn *fn, void *opaque);
void mem_migrate_hook_remove(struct uiommu_ctx *ctx, mem_migrate_hook_fn *fn, void *opaque);
uint64_t mem_migrate_gen(struct uiommu_ctx *ctx);

/*
 * mem_pin() / mem_unpin(): uiommu_pin() and uiommu_unpin(), charging
 * UIOMMU_RES_LOCKED_BYTES only if @charge (a caller that charged up front,
 * as a VFIO v1 container charges its 32-bit window at ENABLE, pins
 * without). A pin and its unpin pass the same @charge.
 */
int mem_pin(struct uiommu_ctx *ctx, void *hva, uint64_t size, uint64_t *ret_hpas, bool charge);
int mem_unpin(struct uiommu_ctx *ctx, void *hva, uint64_t size, bool charge);

/*
 * struct mem_backing - What backs a host address (mem_backing()).
 * @first: first byte of the region mapping or hostmem buffer holding it.
 * @last: its last byte (inclusive).
 * @page_shift: log2 of the pages the memory model vouches for there: each
 *	such page, naturally aligned in host addresses, is physically
 *	contiguous and as aligned in hpa. A hostmem buffer's page_shift (a
 *	"huge page" above the host page size, 4 KiB frames below it); for a
 *	region backed by hugetlbfs, its huge page size; for another region's
 *	mapping (hpa-linear), the host page shift, or less if the mapping is
 *	less aligned, and 4 KiB once a page of it migrated: like Linux, which
 *	trusts the size of hugetlbfs pages only, the model vouches for no
 *	more than host pages of ordinary memory. Pinned memory cannot
 *	migrate, so the answer holds while the memory is pinned.
 */
struct mem_backing {
	uintptr_t first, last;
	unsigned int page_shift;
};

/* mem_backing() - Fill @ret for @hva. 0, or -EFAULT if @hva has no hpa. Lock-free. */
int mem_backing(struct uiommu_ctx *ctx, uintptr_t hva, struct mem_backing *ret);

/* ---- tce/ ---- */

/*
 * tce_kill_rcu() - The kill callbacks of @tbl for [entry, entry + npages),
 * as uiommu_tce_table_kill() without its checks and its read-side
 * section: for a caller inside one of either RCU flavour (the accelerated
 * hcalls), which the grace period of an unlink covers.
 */
void tce_kill_rcu(struct uiommu_tce_table *tbl, uint64_t entry, uint64_t npages);

/*
 * tce_leaf() - The words of entry @entry in the hardware table (*@ret_hw)
 * and its userspace view (*@ret_ua) of @tbl, in their last-level pages,
 * NULL where that level is not allocated; and in *@ret_n the entries from
 * @entry to the end of those pages (or of the table): the words of entries
 * [entry, entry + *ret_n) follow each other in both. False if @entry is
 * outside the table. The words hold big-endian values: a TCE (hpa and
 * permission bits, a write-only one stored read-write), a user address.
 * Lock-free (a level page stays until the table is freed); for a caller
 * that owns the entries (the accelerated hcalls' held entries), so that it
 * walks the trees once per page, not per entry, and may read and store the
 * words instead of exchanging them.
 */
bool tce_leaf(struct uiommu_tce_table *tbl, uint64_t entry, _Atomic uint64_t **ret_hw,
	      _Atomic uint64_t **ret_ua, uint64_t *ret_n);

/* ---- grant/ ---- */

/* The context of a grant table or mapping handle (for shbuf/'s allocations). */
struct uiommu_ctx *grant_gntshr_ctx(const struct uiommu_gntshr *gs);
struct uiommu_ctx *grant_gnttab_ctx(const struct uiommu_gnttab *gt);
/* ---- mm/: address spaces ---- */

/*
 * Extension slots of an address space (core/ext.h): the state of the
 * modules above mm/, created on first use (mm_ext_install()) and
 * finalised by uiommu_mm_free() (or the context's teardown, for its
 * process address space), last slot first.
 */
enum mm_ext {
	MM_EXT_PREREG, /* struct prereg_state, src/prereg/ */
	MM_EXT_MIRROR, /* struct mirror_mm, src/mirror/ */
	MM_EXT_NR
};

/*
 * mm_ext_busy_fn - An upper module's say in uiommu_mm_free(): 0, or the
 * negative errno it refuses with (it logs why). Called before anything is
 * done, in the freeing thread.
 */
typedef int mm_ext_busy_fn(struct uiommu_mm *mm, void *state);

/*
 * Device accesses in flight (uiommu_mm_dma_begin()): counted in one of two
 * buckets by epoch, so that mm_dma_quiesce() waits for those that began
 * before it without starving behind those that begin after (SRCU's idea).
 * gate_held makes new ones wait (the userfaultfd monitor's hold).
 */
struct mm_dma {
	_Atomic uint32_t gate_held;
	_Atomic uint64_t epoch;
	_Atomic uint64_t count[2];
	_Atomic uint32_t waiters;
	_Atomic uint64_t holds; /* statistics: times held */
	pthread_mutex_t gate_lock;
	pthread_cond_t gate_cond;
	pthread_mutex_t quiesce_lock;
};

/* An address space. mm/ owns every field but the extension slots. */
struct uiommu_mm {
	struct uiommu_ctx *ctx;
	unsigned int flags;		/* UIOMMU_MM_USERFAULTFD */
	unsigned int fork_gen;		/* the process it belongs to */
	bool process;			/* the context's process address space */
	_Atomic bool released;		/* uiommu_mm_free() ran its finalisers */
	_Atomic uint32_t users;		/* bound containers and threads using it */
	_Atomic uint64_t refs;		/* the owner's and mm_grab()'s */
	int uffd;			/* UIOMMU_MM_USERFAULTFD: the userfaultfd, else -1 */
	struct mm_dma dma;
	struct ext_slot ext[MM_EXT_NR];
	mm_ext_busy_fn *_Atomic ext_busy[MM_EXT_NR];
};

/*
 * mm_current() - uiommu_mm_current() with its reasons: 0, -EPERM in a
 * fork() child of the process that first used the context, -ENOMEM if the
 * process address space could not be made.
 */
int mm_current(struct uiommu_ctx *ctx, struct uiommu_mm **ret_mm);

/*
 * mm_hold() / mm_unhold() - A container binds @mm (Linux mmgrab() by the
 * container): uiommu_mm_free() refuses while it is held.
 */
void mm_hold(struct uiommu_mm *mm);
void mm_unhold(struct uiommu_mm *mm);

/*
 * mm_grab() / mm_drop() - Keep @mm's memory (not its use) alive, as Linux
 * mmgrab()/mmdrop(): an upper module's state that outlives
 * uiommu_mm_free() (interval notifiers still registered) grabs it. The
 * last drop frees it and gives back its UIOMMU_RES_ADDRESS_SPACES.
 */
void mm_grab(struct uiommu_mm *mm);
void mm_drop(struct uiommu_mm *mm);

/*
 * mm_ext_install() - ext_install() on slot @e of @mm, with @busy (may be
 * NULL) asked by uiommu_mm_free() before anything is done. Returns the
 * installed state: @state, or the one another thread installed first
 * (the caller then frees its own).
 */
void *mm_ext_install(struct uiommu_mm *mm, enum mm_ext e, void *state, ext_fini_fn *fini,
		     mm_ext_busy_fn *busy);

/*
 * Device accesses (mm/dma.c; uiommu_mm_dma_begin() is mm_dma_begin()):
 * - mm_dma_try_begin(): the same without waiting: the access is counted
 *   either way (end it with mm_dma_end()), and false says the monitor holds
 *   accesses: use nothing, end it, then mm_dma_wait() and try again. Never
 *   blocks, allocates or takes a mutex: for an RCU read-side section.
 * - mm_dma_wait(): sleep until the hold that failed a try_begin is over.
 * - mm_dma_quiesce(): wait until every access that began before this call
 *   has ended. May sleep.
 * - mm_dma_hold() / mm_dma_release(): hold new accesses (they wait) and
 *   quiesce; release. The monitor's.
 * - mm_dma_step_out() / mm_dma_step_in(): leave this thread's accesses of
 *   @mm (returns how many) and come back, for a fault handler called
 *   inside one, which populates.
 */
void mm_dma_begin(struct uiommu_mm *mm);
bool mm_dma_try_begin(struct uiommu_mm *mm);
void mm_dma_end(struct uiommu_mm *mm);
void mm_dma_wait(struct uiommu_mm *mm);
void mm_dma_quiesce(struct uiommu_mm *mm);
void mm_dma_hold(struct uiommu_mm *mm);
void mm_dma_release(struct uiommu_mm *mm);
unsigned int mm_dma_step_out(struct uiommu_mm *mm);
void mm_dma_step_in(struct uiommu_mm *mm, unsigned int n);

/* ---- prereg/: preregistered memory ---- */

/*
 * The lock-free fast path (VFIO MAP/UNMAP, the accelerated hcalls), as
 * Linux's mm_iommu_lookup() / mm_iommu_ua_to_hpa() / mm_iommu_mapped_*():
 * - prereg_lookup_rcu(): the live region of @mm holding [ua, ua + size),
 *   or NULL; inside an RCU read-side section (the region stays valid until
 *   it ends, or while the caller holds used or mapped).
 * - prereg_ua_to_hpa(): 0, or -EFAULT for @ua outside @mem or a @page_shift
 *   above the region's.
 * - prereg_mapped_add(): mapped += @n unless it is 0 (-ENXIO: dying).
 * - prereg_mapped_sub(): mapped -= @n, never below 1 (a bug is logged).
 * - prereg_range(): the region's [ua, last].
 * None blocks, takes a mutex or allocates.
 */
struct uiommu_prereg *prereg_lookup_rcu(struct uiommu_mm *mm, uint64_t ua, uint64_t size);
int prereg_ua_to_hpa(const struct uiommu_prereg *mem, uint64_t ua, unsigned int page_shift,
		     uint64_t *ret_hpa);
int prereg_mapped_add(struct uiommu_prereg *mem, uint64_t n);
void prereg_mapped_sub(struct uiommu_prereg *mem, uint64_t n);
void prereg_range(const struct uiommu_prereg *mem, uint64_t *ret_ua, uint64_t *ret_last);

/* ---- vfio/: what the accelerated hypercalls need from a container ---- */

/*
 * None of these blocks, allocates or takes a mutex but vfio_group_window().
 * - vfio_group_window(): under the container's lock (shared), the first of
 *   @grp's tables that @fits accepts and that is a window of the
 *   container, with a reference, and its window number; -EINVAL if none.
 * - vfio_entries_tryhold(): the container is v2, enabled, has @tbl as
 *   window @num, and no MAP/UNMAP or other holder has an entry of [first,
 *   last] (host entries); then those entries are the caller's, and the
 *   window and registrations stay, until vfio_entries_release(), which also
 *   adds @tces to the container's TCE count. False, nothing held, if any of
 *   it fails (a try: the caller's UIOMMU_H_TOO_HARD).
 * - vfio_reg_find_rcu(): the container's registration holding [ua, ua +
 *   size) (its region @mem and range [ua, last]), inside a read-side
 *   section; valid while the entries are held.
 * - vfio_hold_add() / _sub(): count @n TCEs into a registration (its
 *   region's mapped and the container's own count); add fails (-ENXIO) if
 *   the region is dying.
 */
struct vfio_hold;
struct vfio_reg {
	struct vfio_hold *h;
	const struct uiommu_prereg *mem;
	uint64_t ua, last;
};
int vfio_group_window(struct uiommu_vfio_container *c, struct uiommu_table_group *grp,
		      bool (*fits)(const struct uiommu_tce_table_info *ti, const void *arg),
		      const void *arg, struct uiommu_tce_table **ret_tbl, int *ret_num);
bool vfio_entries_tryhold(struct uiommu_vfio_container *c, int num,
			  const struct uiommu_tce_table *tbl, uint64_t first, uint64_t last,
			  uint64_t *ret_token);
void vfio_entries_release(struct uiommu_vfio_container *c, uint64_t token, int64_t tces);
bool vfio_reg_find_rcu(struct uiommu_vfio_container *c, uint64_t ua, uint64_t size,
		       struct vfio_reg *ret);
int vfio_hold_add(struct vfio_hold *h, uint64_t n);
void vfio_hold_sub(struct vfio_hold *h, uint64_t n);

/* ---- guest/ ---- */

/*
 * Extension slots of a guest (core/ext.h): state of the modules above
 * guest/, created on first use and finalised by uiommu_guest_free(), last
 * slot first, before the memslots go.
 */
enum guest_ext {
	GUEST_EXT_PAPR, /* struct papr_guest, src/papr/ */
	GUEST_EXT_ACCEL, /* struct accel_guest, src/accel/ (finalised before PAPR) */
	GUEST_EXT_NR
};

/* A guest. guest.c owns every field but the extension slots. */
struct uiommu_guest {
	struct uiommu_ctx *ctx;
	pthread_mutex_t lock; /* serializes memslot changes */
	struct rcu_array *_Atomic slots; /* memslots, see guest.c */
	_Atomic uint32_t hint; /* index of the slot used last; only a guess */
	struct ext_slot ext[GUEST_EXT_NR];
};

/*
 * guest_gpa_to_hva_rcu() - Host address of [gpa, gpa + len - 1] if it lies
 * in one memslot, else NULL. @len must not be 0. Inside an RCU read-side
 * critical section.
 */
void *guest_gpa_to_hva_rcu(struct uiommu_guest *guest, uint64_t gpa, uint64_t len);

/*
 * guest_memslot_rcu() - The gpa range [*ret_first, *ret_last] of the memslot
 * holding @gpa, so that a caller checking many addresses looks up only
 * when one falls outside it. False if @gpa is in no memslot. Inside an RCU
 * read-side critical section (the range is valid until it ends).
 */
bool guest_memslot_rcu(struct uiommu_guest *guest, uint64_t gpa, uint64_t *ret_first,
		       uint64_t *ret_last);

/* ---- papr/ ---- */

/*
 * The seam for hardware TCE tables, which src/accel/ attaches to a LIOBN
 * (as KVM's stt->iommu_tables, arch/powerpc/kvm/book3s_64_vio.c): every
 * H_PUT_TCE, H_PUT_TCE_INDIRECT and H_STUFF_TCE on the LIOBN updates each
 * attached table in the hcall's fast path. Every op runs inside the
 * hcall's read-side section (either RCU flavour: a vCPU's hcall holds no
 * lock at all): it must not block, take a mutex or allocate, and returns a
 * PAPR code. UIOMMU_H_TOO_HARD means "cannot finish here": the hcall
 * returns it to the VMM, which redoes the whole hcall on a slower path
 * (papr_hcall_vmm()), so an op must leave state that a redo overwrites
 * (KVM's real-mode handlers returned H_TOO_HARD and the virtual-mode ones
 * redid the whole hcall). @entry is a guest-view index in IOMMU pages of
 * the LIOBN (the window's offset included); fanning out to smaller
 * hardware pages (and using hardware indexes on every error path,
 * 26a62b750a4e) is the op's business.
 *
 * One hcall's use of one table is a batch (struct papr_hw_batch, on the
 * hcall's stack): @begin before the hcall changes anything, with the
 * range of entries it may change (an op may refuse it: UIOMMU_H_TOO_HARD,
 * nothing changed, and @end is not called); then @map, @unmap and @clear
 * entry by entry, or for a table with the list form (@validate_list,
 * @put_list: the accelerated hcalls') the hcall's whole list at once, one
 * table after the other; then @end exactly once, whatever happened, before the
 * hcall leaves its read-side section (where an op issues its one TCE-cache
 * kill per hcall and releases what the replaced entries held).
 *
 * Ordering (KVM's kvmppc_h_put_tce(), kvmppc_h_put_tce_indirect() and
 * kvmppc_h_stuff_tce()), in both profiles:
 * - PUT and INDIRECT: for each entry, every attached table first, then the
 *   guest view; a failing table gets @clear on that entry and the hcall
 *   returns the failure with the guest view of that entry unchanged
 *   (tables before it, and INDIRECT's earlier entries, stay updated).
 * - STUFF: every table for every entry (@unmap), then the guest view.
 *   UIOMMU_H_TOO_HARD returns at once, the guest view untouched; any other
 *   failure gets @clear and the loop goes on; the hcall returns the last
 *   op's code (KVM).
 * - KVM profile: @validate is asked for every TCE with R/W, in the
 *   hcall's batch, before anything is written (KVM checks preregistration
 *   there).
 * The list form keeps these orders but per table and list (a table's
 * failure, UIOMMU_H_TOO_HARD only, may come after other tables did more
 * entries than the view gets: the redo overwrites them).
 * Guest-view pages the hcall needs are allocated before any op runs, so
 * that the guest view never fails after a table was changed.
 */
struct liobn_table;

#define PAPR_HW_MAX 4		/* hardware tables per LIOBN */
#define PAPR_HW_BATCH_WORDS 24	/* the ops' state for one hcall */

struct papr_hw_batch {
	void *opaque; /* the table's, as attached */
	/*
	 * A memslot the hcall knows already (a vCPU remembers one): gpas
	 * [slot_first, slot_last] are at host address slot_hva + (gpa -
	 * slot_first). None if slot_first > slot_last. Valid until @end.
	 */
	uint64_t slot_first, slot_last, slot_hva;
	uint64_t priv[PAPR_HW_BATCH_WORDS];
};

struct papr_hw_ops {
	/* The hcall may change [entry, entry + npages) (npages >= 1). */
	long (*begin)(struct papr_hw_batch *b, uint64_t entry, uint64_t npages);
	/* Could @tce (with R/W) be mapped by the fast path? H_SUCCESS or H_TOO_HARD. */
	long (*validate)(struct papr_hw_batch *b, uint64_t tce);
	/* Map @entry to @tce (gpa | R/W bits). */
	long (*map)(struct papr_hw_batch *b, uint64_t entry, uint64_t tce);
	/* Clear @entry (a TCE without R/W). */
	long (*unmap)(struct papr_hw_batch *b, uint64_t entry);
	/*
	 * Optional: @unmap of [entry, entry + npages) at once, for H_STUFF_TCE
	 * (H_SUCCESS or H_TOO_HARD, which a redo overwrites).
	 */
	long (*unmap_range)(struct papr_hw_batch *b, uint64_t entry, uint64_t npages);
	/* Error path: force @entry to no access (KVM kvmppc_clear_tce()). */
	void (*clear)(struct papr_hw_batch *b, uint64_t entry);
	/*
	 * The list form, which a table offers instead of @validate, @map,
	 * @unmap and @clear (both ops and @unmap_range, or neither):
	 * @validate of every TCE of @tces[0, n) with R/W; and entries [entry, entry + n) to @tces (map
	 * or unmap by R/W; big-endian if @be) at once, H_SUCCESS or
	 * UIOMMU_H_TOO_HARD only, with *@ret_done entries done and the one
	 * after them cleared, or untouched if it is a TCE that @validate_list
	 * refuses (refused before anything is written for it, so that a KVM
	 * H_PUT_TCE on a single table needs no separate validation). papr
	 * then writes the guest view of the entries done (the redo overwrites
	 * the rest, and what other tables did).
	 */
	long (*validate_list)(struct papr_hw_batch *b, const uint64_t *tces, uint64_t n);
	long (*put_list)(struct papr_hw_batch *b, uint64_t entry, const uint64_t *tces, bool be,
			 uint64_t n, uint64_t *ret_done);
	/* The end of the hcall's use of the table: invalidation, releases. */
	void (*end)(struct papr_hw_batch *b);
};

/*
 * papr_liobn_attach_hw() / papr_liobn_detach_hw() - Attach or detach a
 * hardware table (@ops, @opaque) to a LIOBN. Hcalls that start after
 * attach returns use it; detach waits for a grace period (of both RCU
 * flavours), so that no hcall uses it once detach returns. -ENOENT unknown
 * LIOBN, -EEXIST (attach) the pair is attached already, -ENOSPC (attach)
 * PAPR_HW_MAX tables are attached, -ENOENT (detach) it is not, -ENOMEM.
 * Takes the guest's PAPR lock; not inside an RCU read-side section.
 */
int papr_liobn_attach_hw(struct uiommu_guest *guest, uint64_t liobn,
			 const struct papr_hw_ops *ops, void *opaque);
int papr_liobn_detach_hw(struct uiommu_guest *guest, uint64_t liobn,
			 const struct papr_hw_ops *ops, void *opaque);

/*
 * What the VMM's redo of an hcall changed in a guest view
 * (papr_hcall_vmm()): entries [@entry, @entry + @n) of LIOBN @liobn, in
 * IOMMU pages of 1 << @page_shift (@entry absolute, the window's offset
 * included). @t holds a reference on the table while @n is not 0.
 */
struct papr_change {
	struct liobn_table *t;
	uint64_t liobn;
	uint64_t entry, n;
	unsigned int page_shift;
};

/*
 * papr_hcall_vmm() - A TCE hcall as the VMM handles it when the fast path
 * returned UIOMMU_H_TOO_HARD (QEMU's h_put_tce() and friends after a
 * KVM_EXIT_PAPR_HCALL): as uiommu_papr_hcall(), but the attached hardware
 * tables are left alone and what the hcall wrote to the guest view is
 * returned in @chg, for the caller to apply to the tables the VMM's way
 * (the container's MAP_DMA/UNMAP_DMA, as QEMU's IOMMU notifier). In the
 * KVM profile the hcall runs by KVM's rules first, so that its result is
 * the fast path's; where those hand it to the VMM for a reason of their
 * own (an unknown LIOBN, a TCE or a list outside guest memory) it runs by
 * QEMU's, as QEMU would answer. @chg->n is 0 when nothing was written.
 * Outside any read-side section; may allocate guest-view pages.
 */
long papr_hcall_vmm(struct uiommu_guest *guest, uint64_t opcode, const uint64_t *args,
		    unsigned int nargs, uint64_t *rets, unsigned int nrets, struct papr_change *chg);
/* The TCE now in entry @chg->entry + @i. */
uint64_t papr_change_tce(const struct papr_change *chg, uint64_t i);
/* Drop @chg's reference. */
void papr_change_done(struct papr_change *chg);

/* ---- tce/: DMA hooks of a table ---- */

/*
 * What a device's DMA through a table's TCEs must enter and leave, once
 * per chunk (src/device/): an upper layer that guards the memory behind
 * those TCEs registers one (a mirror bound to the table: its address
 * space's device accesses, mm.h). All three run in the DMA's thread.
 * @try_begin: inside the chunk (RCU read-side, the PE's DMA gate), after
 *	the translation and before any byte moves: counts the access, and
 *	returns false if accesses are held, after which nothing may be copied:
 *	the caller leaves the chunk, calls @end, then @wait once. Never
 *	blocks, allocates or takes a mutex; on false it keeps @opaque alive
 *	for @wait.
 * @end: after the chunk, outside RCU: the access is over (may take a mutex).
 * @wait: outside RCU, after @end: sleep until @try_begin may succeed, and
 *	let @opaque go.
 */
struct tce_dma_hook_ops {
	bool (*try_begin)(void *opaque);
	void (*end)(void *opaque);
	void (*wait)(void *opaque);
};

/* Registrations (distinct ops/opaque pairs) one table holds at once. */
#define TCE_DMA_HOOKS_MAX 8

/* The first member of every struct uiommu_tce_table (tce/tce.h). */
struct tce_table_dma {
	_Atomic uint32_t nhooks; /* slots in use are below this; 0: no hook */
};

/* Has @tbl any DMA hook? One load: the DMA path's only cost without hooks. */
static inline bool tce_dma_hooked(const struct uiommu_tce_table *tbl)
{
	return unlikely(atomic_load_explicit(&((const struct tce_table_dma *)(const void *)tbl)
						      ->nhooks, memory_order_acquire));
}

/*
 * tce_dma_hook_add() / tce_dma_hook_remove() - Register (or drop) @ops
 * with @opaque on @tbl. Adding a pair again counts it; the last remove of
 * a pair waits for a grace period, so that no chunk still uses it when it
 * returns. Add: 0, or -ENOSPC (TCE_DMA_HOOKS_MAX pairs). Take the table's
 * link lock; not inside an RCU read-side section.
 */
int tce_dma_hook_add(struct uiommu_tce_table *tbl, const struct tce_dma_hook_ops *ops,
		     void *opaque);
void tce_dma_hook_remove(struct uiommu_tce_table *tbl, const struct tce_dma_hook_ops *ops,
			 void *opaque);

/* The hooks one chunk entered (tce_dma_hooks_enter()), on the caller's stack. */
struct tce_dma_entered {
	unsigned int n;
	const struct tce_dma_hook_ops *ops[TCE_DMA_HOOKS_MAX];
	void *opaque[TCE_DMA_HOOKS_MAX];
	const struct tce_dma_hook_ops *held_ops; /* the hook that refused, for the wait */
	void *held_opaque;
};

/*
 * tce_dma_hooks_enter() - Inside the chunk: try_begin the hooks of @tbl.
 * True with all entered; false if one is held: nothing of the run may be
 * copied, the caller leaves the chunk and, as in both cases, calls
 * tce_dma_hooks_exit() outside RCU, then tce_dma_hooks_wait() before it
 * tries again.
 */
bool tce_dma_hooks_enter(struct uiommu_tce_table *tbl, struct tce_dma_entered *e);
void tce_dma_hooks_exit(struct tce_dma_entered *e);
void tce_dma_hooks_wait(struct tce_dma_entered *e);

/* ---- pe/: what emulated devices (src/device/) need from their PE ---- */

/*
 * pe_dev_attach() / pe_dev_detach() - Claim (or give back) a device's
 * bus/device/function number on the PE's PHB and count the device on the
 * PE (uiommu_pe_free() refuses while any is counted). Attach: 0, or
 * -EEXIST the number is in use. Take the PHB's lock.
 */
int pe_dev_attach(struct uiommu_pe *pe, uint32_t bdf);
void pe_dev_detach(struct uiommu_pe *pe, uint32_t bdf);
/* The PCI domain of the PE's PHB, and the PE's number. */
uint32_t pe_domain(const struct uiommu_pe *pe);
unsigned int pe_num(const struct uiommu_pe *pe);
/* The IOMMU group the PE's devices belong to: its compound's, or its own. */
struct uiommu_table_group *pe_iommu_group(struct uiommu_pe *pe);

/* One DMA page, translated (pe_translate_rcu()). */
struct pe_xlate {
	uint64_t hpa;	    /* hpa of the byte at the bus address */
	uint64_t len;	    /* bytes from there that this translation covers */
	uint64_t tce;	    /* the TCE used (cache or table), 0 for the bypass */
	uint64_t table_tce; /* UIOMMU_DMA_FAULT_STALE_TCE: the table's TCE */
	int window;	    /* TVE number, -1 for none or the bypass */
	uint32_t flags;	    /* UIOMMU_DMA_FAULT_CACHED, UIOMMU_DMA_FAULT_BYPASS */
};

/* TCE-cache events of one DMA chunk, added to the PE once, by pe_dma_exit(). */
struct pe_dma_stats {
	uint64_t hits, misses, fills, stale;
};

/*
 * The DMA path of a device, for one chunk of a transfer (a bounded number
 * of bytes, so that a kill never waits long):
 *   rcu_read_enter(); t = pe_dma_enter(pe);
 *   for each page: pe_translate_rcu(), mem_hpa_to_hva_rcu(), copy;
 *   pe_dma_exit(pe, t, &stats); rcu_read_exit();
 * A kill of a table the PE's windows use returns only after every chunk
 * that entered before it has exited. Never block or call back into the
 * library between enter and exit.
 */
unsigned int pe_dma_enter(struct uiommu_pe *pe);
void pe_dma_exit(struct uiommu_pe *pe, unsigned int token, const struct pe_dma_stats *st);

/*
 * pe_translate_rcu() - Translate the IOMMU pages of [@ioba, @ioba + @len)
 * for a DMA in direction @dir (UIOMMU_DMA_TO_DEVICE: the device reads), as
 * the PHB does: EEH state, armed error injection, bypass, TVE, then for
 * each page the TCE cache, the table, the permission. Translates a run of
 * at most @max pages of one window into @x[0..*@ret_n) (each the hpa of
 * its first byte and its bytes); the caller goes on from where it stops.
 * *@ret_tbl is the window's table the run went through (for its DMA hooks,
 * tce_dma_hooked()), or NULL (the bypass, no window, a frozen PE).
 * Return: 0, or the enum uiommu_dma_fault_reason of the page after the run
 * (@x[*@ret_n], of @max + 1 entries, has the TCE, flags and window found;
 * table_tce for UIOMMU_DMA_FAULT_STALE_TCE). Between pe_dma_enter() and
 * pe_dma_exit().
 */
unsigned int pe_translate_rcu(struct uiommu_pe *pe, uint64_t ioba, uint64_t len,
			      enum uiommu_dma_dir dir, struct pe_xlate *x, unsigned int max,
			      unsigned int *ret_n, struct pe_dma_stats *st,
			      struct uiommu_tce_table **ret_tbl);

/* After a reported DMA fault: freeze the PE if EEH is enabled; true if it did. */
bool pe_dma_error(struct uiommu_pe *pe);
/* The PE's MMIO is stopped (frozen or in reset). Lock-free. */
bool pe_mmio_stopped(const struct uiommu_pe *pe);

#endif /* UIOMMU_INTERNAL_H */
