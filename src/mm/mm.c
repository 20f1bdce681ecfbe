// SPDX-License-Identifier: BSD-3-Clause
/*
 * Address spaces: what current->mm is to Linux's VFIO, mm_iommu and
 * mmu_notifier code, in user space. See uiommu/mm.h.
 *
 * A context's process address space hangs off its CTX_EXT_MM slot. A
 * process is told apart from its fork() children by a generation number
 * that a fork handler bumps in every child: an address space belongs to
 * the generation that made it, and a thread's uiommu_mm_use() is
 * remembered with the generation it was made in (a child inherits the
 * forking thread's thread-local state, not its address space).
 *
 * Two counts, as Linux's mm_users and mm_count: users (bound containers
 * and threads in uiommu_mm_use()) make uiommu_mm_free() refuse; refs (the
 * owner's, and mm_grab() by upper state that outlives the free, such as
 * interval notifiers still registered) keep the memory.
 */
#include <unistd.h>

#include "mm.h"

static _Atomic unsigned int fork_gen;

/*
 * This thread's uiommu_mm_use(), valid only in the generation it was made
 * in. Initial-exec: every VFIO request reads it, and the general dynamic
 * model costs a __tls_get_addr() call each time (16 bytes of static TLS,
 * which glibc's surplus covers even for a library loaded by dlopen()).
 */
static _Thread_local struct uiommu_mm *tls_mm __attribute__((tls_model("initial-exec")));
static _Thread_local unsigned int tls_gen __attribute__((tls_model("initial-exec")));

static void fork_child(void)
{
	atomic_fetch_add_explicit(&fork_gen, 1, memory_order_relaxed);
}

static void fork_once(void)
{
	pthread_atfork(NULL, NULL, fork_child);
}

/* The fork generation of this process (bumped in every fork() child). */
static unsigned int mm_fork_gen(void)
{
	return atomic_load_explicit(&fork_gen, memory_order_relaxed);
}

static struct uiommu_mm *mm_alloc(struct uiommu_ctx *ctx, unsigned int flags, bool process)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct uiommu_mm *mm;

	pthread_once(&once, fork_once);
	mm = ctx_alloc(ctx, sizeof(*mm));
	if (!mm)
		return NULL;
	mm->ctx = ctx;
	mm->flags = flags;
	mm->process = process;
	mm->fork_gen = mm_fork_gen();
	mm->uffd = -1;
	atomic_init(&mm->refs, 1);
	mm_dma_init(&mm->dma);
	return mm;
}

/* Free the memory; @charged: give back the UIOMMU_RES_ADDRESS_SPACES of uiommu_mm_new(). */
static void mm_destroy(struct uiommu_mm *mm)
{
	struct uiommu_ctx *ctx = mm->ctx;
	bool charged = !mm->process;

	if (mm->uffd >= 0)
		close(mm->uffd);
	mm_dma_destroy(&mm->dma);
	ctx_free(ctx, mm);
	if (charged)
		ctx_uncharge(ctx, UIOMMU_RES_ADDRESS_SPACES, 1);
}

void mm_grab(struct uiommu_mm *mm)
{
	atomic_fetch_add_explicit(&mm->refs, 1, memory_order_relaxed);
}

void mm_drop(struct uiommu_mm *mm)
{
	if (atomic_fetch_sub_explicit(&mm->refs, 1, memory_order_acq_rel) == 1)
		mm_destroy(mm);
}

/* Run the upper modules' finalisers, last slot first (the mirror's release before prereg's). */
static void mm_release(struct uiommu_mm *mm)
{
	atomic_store_explicit(&mm->released, true, memory_order_release);
	for (int i = MM_EXT_NR - 1; i >= 0; i--)
		ext_fini(&mm->ext[i], mm);
	/* Nothing follows the kernel any more: close the userfaultfd now, not at the last drop. */
	if (mm->uffd >= 0) {
		close(mm->uffd);
		mm->uffd = -1;
	}
}

/* The CTX_EXT_MM finaliser: uiommu_ctx_free() checked that nothing is left. */
static void process_mm_fini(void *owner, void *state)
{
	(void)owner;
	mm_release(state);
	mm_drop(state);
}

void *mm_ext_install(struct uiommu_mm *mm, enum mm_ext e, void *state, ext_fini_fn *fini,
		     mm_ext_busy_fn *busy)
{
	void *won = ext_install(&mm->ext[e], state, fini);

	if (won == state)
		atomic_store_explicit(&mm->ext_busy[e], busy, memory_order_release);
	return won;
}

UIOMMU_EXPORT int uiommu_mm_new(struct uiommu_ctx *ctx, unsigned int flags,
				struct uiommu_mm **ret_mm)
{
	struct uiommu_mm *mm;
	int ret;

	if (!ctx || !ret_mm || (flags & ~UIOMMU_MM_USERFAULTFD))
		return -EINVAL;
	ret = ctx_charge(ctx, UIOMMU_RES_ADDRESS_SPACES, 1);
	if (ret) {
		ctx_err(ctx, "mm: no new address space: the %s limit",
			uiommu_resource_name(UIOMMU_RES_ADDRESS_SPACES));
		return ret;
	}
	mm = mm_alloc(ctx, flags, false);
	if (!mm) {
		ctx_uncharge(ctx, UIOMMU_RES_ADDRESS_SPACES, 1);
		return -ENOMEM;
	}
	if (flags & UIOMMU_MM_USERFAULTFD) {
		ret = mm_uffd_open(mm);
		if (ret) {
			mm_drop(mm);
			return ret;
		}
	}
	*ret_mm = mm;
	return 0;
}

UIOMMU_EXPORT int uiommu_mm_free(struct uiommu_mm *mm)
{
	if (!mm)
		return 0;
	if (mm->process)
		return -EINVAL;
	if (atomic_load(&mm->users))
		return -EBUSY;
	for (int i = MM_EXT_NR - 1; i >= 0; i--) {
		void *state = ext_get(&mm->ext[i]);
		mm_ext_busy_fn *busy = atomic_load_explicit(&mm->ext_busy[i], memory_order_acquire);
		int ret;

		if (state && busy && (ret = busy(mm, state)))
			return ret;
	}
	mm_release(mm);
	mm_drop(mm);
	return 0;
}

int mm_current(struct uiommu_ctx *ctx, struct uiommu_mm **ret_mm)
{
	unsigned int gen = mm_fork_gen();
	struct uiommu_mm *mm, *won;

	if (tls_mm && tls_gen == gen && tls_mm->ctx == ctx) {
		*ret_mm = tls_mm;
		return 0;
	}
	mm = ext_get(&ctx->ext[CTX_EXT_MM]);
	if (!mm) {
		mm = mm_alloc(ctx, 0, true);
		if (!mm)
			return -ENOMEM;
		won = ext_install(&ctx->ext[CTX_EXT_MM], mm, process_mm_fini);
		if (won != mm)
			mm_drop(mm);
		mm = won;
	}
	if (mm->fork_gen != gen)
		return -EPERM;
	*ret_mm = mm;
	return 0;
}

UIOMMU_EXPORT struct uiommu_mm *uiommu_mm_current(struct uiommu_ctx *ctx)
{
	struct uiommu_mm *mm;

	if (!ctx || mm_current(ctx, &mm))
		return NULL;
	return mm;
}

UIOMMU_EXPORT int uiommu_mm_use(struct uiommu_mm *mm)
{
	unsigned int gen = mm_fork_gen();

	if (!mm)
		return -EINVAL;
	if (mm->fork_gen != gen)
		return -EPERM;
	if (tls_mm && tls_gen == gen)
		return -EBUSY;
	atomic_fetch_add(&mm->users, 1);
	tls_mm = mm;
	tls_gen = gen;
	return 0;
}

UIOMMU_EXPORT int uiommu_mm_unuse(struct uiommu_mm *mm)
{
	if (!mm || tls_mm != mm || tls_gen != mm_fork_gen())
		return -EINVAL;
	tls_mm = NULL;
	atomic_fetch_sub(&mm->users, 1);
	return 0;
}

void mm_hold(struct uiommu_mm *mm)
{
	atomic_fetch_add(&mm->users, 1);
}

void mm_unhold(struct uiommu_mm *mm)
{
	atomic_fetch_sub(&mm->users, 1);
}
