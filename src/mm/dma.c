// SPDX-License-Identifier: BSD-3-Clause
/*
 * Device accesses to an address space (uiommu_mm_dma_begin() / _end()),
 * which the mirrors of it wait for (mm_dma_quiesce()) and its userfaultfd
 * monitor holds (mm_dma_hold()). See uiommu/mm.h and doc/design/mirror.md.
 *
 * Nothing here allocates: a fork(2) holds malloc's locks until the
 * monitor has read its event, and the monitor waits for accesses in flight.
 */
#include "mm.h"

void mm_dma_init(struct mm_dma *d)
{
	pthread_mutex_init(&d->gate_lock, NULL);
	pthread_cond_init(&d->gate_cond, NULL);
	pthread_mutex_init(&d->quiesce_lock, NULL);
}

void mm_dma_destroy(struct mm_dma *d)
{
	pthread_mutex_destroy(&d->gate_lock);
	pthread_cond_destroy(&d->gate_cond);
	pthread_mutex_destroy(&d->quiesce_lock);
}

static void dma_put(struct mm_dma *d, unsigned int idx)
{
	if (atomic_fetch_sub_explicit(&d->count[idx], 1, memory_order_seq_cst) == 1 &&
	    atomic_load_explicit(&d->waiters, memory_order_seq_cst)) {
		pthread_mutex_lock(&d->gate_lock);
		pthread_cond_broadcast(&d->gate_cond);
		pthread_mutex_unlock(&d->gate_lock);
	}
}

/*
 * This thread's open device accesses, innermost last: which address space
 * and which epoch bucket each counts in, so that uiommu_mm_handle_fault()
 * can step out of them while it populates, and back in, and so that an
 * access nested in another of the same address space does not wait for a
 * hold that waits for the outer one.
 */
#define DMA_NEST_MAX 16
#define DMA_STEPPED_OUT 0xff /* idx of an access stepped out of: not counted */
static _Thread_local struct {
	struct uiommu_mm *mm[DMA_NEST_MAX];
	unsigned char idx[DMA_NEST_MAX];
	unsigned int depth;
} tls_dma;

static bool dma_nested(const struct uiommu_mm *mm)
{
	for (unsigned int i = 0; i < MIN(tls_dma.depth, DMA_NEST_MAX); i++)
		if (tls_dma.mm[i] == mm && tls_dma.idx[i] != DMA_STEPPED_OUT)
			return true;
	return false;
}

/* Count one access in the current bucket (*@ret_idx); false if accesses are held. */
static bool dma_count(struct uiommu_mm *mm, unsigned int *ret_idx)
{
	struct mm_dma *d = &mm->dma;
	unsigned int idx = atomic_load_explicit(&d->epoch, memory_order_seq_cst) & 1;

	atomic_fetch_add_explicit(&d->count[idx], 1, memory_order_seq_cst);
	*ret_idx = idx;
	return likely(!atomic_load_explicit(&d->gate_held, memory_order_seq_cst)) ||
	       unlikely(dma_nested(mm));
}

void mm_dma_wait(struct uiommu_mm *mm)
{
	struct mm_dma *d = &mm->dma;

	pthread_mutex_lock(&d->gate_lock);
	while (atomic_load_explicit(&d->gate_held, memory_order_seq_cst))
		pthread_cond_wait(&d->gate_cond, &d->gate_lock);
	pthread_mutex_unlock(&d->gate_lock);
}

static unsigned int dma_get(struct uiommu_mm *mm)
{
	unsigned int idx;

	while (!dma_count(mm, &idx)) {
		/* Held: back out, so that the monitor's quiesce can finish, and wait. */
		dma_put(&mm->dma, idx);
		mm_dma_wait(mm);
	}
	return idx;
}

static void dma_push(struct uiommu_mm *mm, unsigned int idx)
{
	if (likely(tls_dma.depth < DMA_NEST_MAX)) {
		tls_dma.mm[tls_dma.depth] = mm;
		tls_dma.idx[tls_dma.depth] = (unsigned char)idx;
	} else {
		/* Too deep to track: count it in the outermost's bucket. */
		dma_put(&mm->dma, idx);
		atomic_fetch_add_explicit(&mm->dma.count[tls_dma.idx[0]], 1, memory_order_seq_cst);
	}
	tls_dma.depth++;
}

void mm_dma_begin(struct uiommu_mm *mm)
{
	dma_push(mm, dma_get(mm));
}

bool mm_dma_try_begin(struct uiommu_mm *mm)
{
	unsigned int idx;
	bool ok = dma_count(mm, &idx);

	/* Counted either way: backing out here could take gate_lock inside RCU. */
	dma_push(mm, idx);
	return ok;
}

void mm_dma_end(struct uiommu_mm *mm)
{
	unsigned int d = --tls_dma.depth;

	dma_put(&mm->dma, d < DMA_NEST_MAX ? tls_dma.idx[d] : tls_dma.idx[0]);
}

UIOMMU_EXPORT void uiommu_mm_dma_begin(struct uiommu_mm *mm)
{
	mm_dma_begin(mm);
}

UIOMMU_EXPORT void uiommu_mm_dma_end(struct uiommu_mm *mm)
{
	mm_dma_end(mm);
}

unsigned int mm_dma_step_out(struct uiommu_mm *mm)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < MIN(tls_dma.depth, DMA_NEST_MAX); i++) {
		if (tls_dma.mm[i] == mm && tls_dma.idx[i] != DMA_STEPPED_OUT) {
			dma_put(&mm->dma, tls_dma.idx[i]);
			tls_dma.idx[i] = DMA_STEPPED_OUT;
			n++;
		}
	}
	return n;
}

void mm_dma_step_in(struct uiommu_mm *mm, unsigned int n)
{
	for (unsigned int i = 0; n && i < MIN(tls_dma.depth, DMA_NEST_MAX); i++) {
		if (tls_dma.mm[i] == mm && tls_dma.idx[i] == DMA_STEPPED_OUT) {
			/* The first one back waits for a hold; the others nest in it. */
			tls_dma.idx[i] = (unsigned char)dma_get(mm);
			n--;
		}
	}
}

void mm_dma_quiesce(struct uiommu_mm *mm)
{
	struct mm_dma *d = &mm->dma;

	/*
	 * Nothing in flight: an access that begins after these loads comes
	 * after the caller's TCE clear (all seq_cst), so it cannot use the old
	 * TCEs, and there is nothing to wait for.
	 */
	if (!atomic_load_explicit(&d->count[0], memory_order_seq_cst) &&
	    !atomic_load_explicit(&d->count[1], memory_order_seq_cst))
		return;
	pthread_mutex_lock(&d->quiesce_lock);
	atomic_fetch_add_explicit(&d->waiters, 1, memory_order_seq_cst);
	/* Two flips: each bucket is seen empty once after this call began. */
	for (int round = 0; round < 2; round++) {
		unsigned int idx = atomic_fetch_add_explicit(&d->epoch, 1, memory_order_seq_cst) & 1;

		pthread_mutex_lock(&d->gate_lock);
		while (atomic_load_explicit(&d->count[idx], memory_order_seq_cst))
			pthread_cond_wait(&d->gate_cond, &d->gate_lock);
		pthread_mutex_unlock(&d->gate_lock);
	}
	atomic_fetch_sub_explicit(&d->waiters, 1, memory_order_seq_cst);
	pthread_mutex_unlock(&d->quiesce_lock);
}

void mm_dma_hold(struct uiommu_mm *mm)
{
	atomic_store_explicit(&mm->dma.gate_held, 1, memory_order_seq_cst);
	atomic_fetch_add_explicit(&mm->dma.holds, 1, memory_order_relaxed);
	mm_dma_quiesce(mm);
}

void mm_dma_release(struct uiommu_mm *mm)
{
	struct mm_dma *d = &mm->dma;

	pthread_mutex_lock(&d->gate_lock);
	atomic_store_explicit(&d->gate_held, 0, memory_order_seq_cst);
	pthread_cond_broadcast(&d->gate_cond);
	pthread_mutex_unlock(&d->gate_lock);
}
