// SPDX-License-Identifier: BSD-3-Clause
/*
 * Address spaces: what current->mm is to Linux's VFIO and mm_iommu code,
 * in user space. See uiommu/prereg.h.
 *
 * A context's process address space hangs off its CTX_EXT_PREREG slot. A
 * process is told apart from its fork() children by a generation number
 * that a fork handler bumps in every child: an address space belongs to
 * the generation that made it, and a thread's uiommu_prereg_mm_use() is
 * remembered with the generation it was made in (a child inherits the
 * forking thread's thread-local state, not its address space).
 */
#include "prereg.h"

static _Atomic unsigned int fork_gen;

/*
 * This thread's uiommu_prereg_mm_use(), valid only in the generation it was made
 * in. Initial-exec: every VFIO request reads it, and the general dynamic
 * model costs a __tls_get_addr() call each time (16 bytes of static TLS,
 * which glibc's surplus covers even for a library loaded by dlopen()).
 */
static _Thread_local struct uiommu_prereg_mm *tls_mm __attribute__((tls_model("initial-exec")));
static _Thread_local unsigned int tls_gen __attribute__((tls_model("initial-exec")));

static void fork_child(void)
{
	atomic_fetch_add_explicit(&fork_gen, 1, memory_order_relaxed);
}

static void fork_once(void)
{
	pthread_atfork(NULL, NULL, fork_child);
}

void prereg_fork_setup(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, fork_once);
}

unsigned int prereg_fork_gen(void)
{
	return atomic_load_explicit(&fork_gen, memory_order_relaxed);
}

static struct uiommu_prereg_mm *mm_alloc(struct uiommu_ctx *ctx, bool process)
{
	struct uiommu_prereg_mm *mm;

	prereg_fork_setup();
	mm = ctx_alloc(ctx, sizeof(*mm));
	if (!mm)
		return NULL;
	mm->ctx = ctx;
	mm->process = process;
	mm->fork_gen = prereg_fork_gen();
	pthread_mutex_init(&mm->lock, NULL);
	return mm;
}

static void mm_release(struct uiommu_prereg_mm *mm)
{
	prereg_regions_fini(mm);
	pthread_mutex_destroy(&mm->lock);
	ctx_free(mm->ctx, mm);
}

/* The CTX_EXT_PREREG finaliser: uiommu_ctx_free() checked that no region is left. */
static void process_mm_fini(void *owner, void *state)
{
	(void)owner;
	mm_release(state);
}

UIOMMU_EXPORT int uiommu_prereg_mm_new(struct uiommu_ctx *ctx, struct uiommu_prereg_mm **ret_mm)
{
	struct uiommu_prereg_mm *mm;
	int ret;

	if (!ctx || !ret_mm)
		return -EINVAL;
	ret = ctx_charge(ctx, UIOMMU_RES_PREREG_MMS, 1);
	if (ret) {
		ctx_warn(ctx, "address space refused: the %s limit",
			 uiommu_resource_name(UIOMMU_RES_PREREG_MMS));
		return ret;
	}
	mm = mm_alloc(ctx, false);
	if (!mm) {
		ctx_uncharge(ctx, UIOMMU_RES_PREREG_MMS, 1);
		return -ENOMEM;
	}
	*ret_mm = mm;
	return 0;
}

UIOMMU_EXPORT int uiommu_prereg_mm_free(struct uiommu_prereg_mm *mm)
{
	struct uiommu_ctx *ctx;
	uint64_t nregions;

	if (!mm)
		return 0;
	if (mm->process)
		return -EINVAL;
	pthread_mutex_lock(&mm->lock);
	nregions = mm->nregions;
	pthread_mutex_unlock(&mm->lock);
	if (nregions || atomic_load(&mm->users))
		return -EBUSY;
	ctx = mm->ctx;
	mm_release(mm);
	ctx_uncharge(ctx, UIOMMU_RES_PREREG_MMS, 1);
	return 0;
}

int prereg_mm_current(struct uiommu_ctx *ctx, struct uiommu_prereg_mm **ret_mm)
{
	unsigned int gen = prereg_fork_gen();
	struct uiommu_prereg_mm *mm, *won;

	if (tls_mm && tls_gen == gen && tls_mm->ctx == ctx) {
		*ret_mm = tls_mm;
		return 0;
	}
	mm = ext_get(&ctx->ext[CTX_EXT_PREREG]);
	if (!mm) {
		mm = mm_alloc(ctx, true);
		if (!mm)
			return -ENOMEM;
		won = ext_install(&ctx->ext[CTX_EXT_PREREG], mm, process_mm_fini);
		if (won != mm)
			mm_release(mm);
		mm = won;
	}
	if (mm->fork_gen != gen)
		return -EPERM;
	*ret_mm = mm;
	return 0;
}

UIOMMU_EXPORT struct uiommu_prereg_mm *uiommu_prereg_mm_current(struct uiommu_ctx *ctx)
{
	struct uiommu_prereg_mm *mm;

	if (!ctx || prereg_mm_current(ctx, &mm))
		return NULL;
	return mm;
}

UIOMMU_EXPORT int uiommu_prereg_mm_use(struct uiommu_prereg_mm *mm)
{
	unsigned int gen = prereg_fork_gen();

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

UIOMMU_EXPORT int uiommu_prereg_mm_unuse(struct uiommu_prereg_mm *mm)
{
	if (!mm || tls_mm != mm || tls_gen != prereg_fork_gen())
		return -EINVAL;
	tls_mm = NULL;
	atomic_fetch_sub(&mm->users, 1);
	return 0;
}

void prereg_mm_hold(struct uiommu_prereg_mm *mm)
{
	atomic_fetch_add(&mm->users, 1);
}

void prereg_mm_unhold(struct uiommu_prereg_mm *mm)
{
	atomic_fetch_sub(&mm->users, 1);
}
