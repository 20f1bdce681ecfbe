// SPDX-License-Identifier: BSD-3-Clause
/*
 * The DMA engine of emulated devices: a transfer is cut into IOMMU pages,
 * each translated by the PE (pe_translate_rcu(): TVE, TCE cache, table,
 * permission, EEH), then copied to or from the bytes of the host memory
 * model. Work goes in chunks of at most DMA_CHUNK bytes, each inside one
 * RCU read-side section (the memory model's and the tables' lifetimes) and
 * the PE's DMA gate (so that a kill waits at most for one chunk). A fault
 * leaves both, then goes to the fault handler (fault mode) or is reported.
 * A chunk through a table with DMA hooks (a window a mirror is bound to)
 * also enters them (tce_dma_hooks_enter(): the mirror's address space's
 * device accesses, uiommu_mm_dma_begin()), so that no device model has to
 * bracket its calls; when the address space is held, the chunk leaves,
 * waits outside and is redone.
 */
#include <stdio.h>

#include "device.h"

/* Bytes copied inside one pass through the gate: what a kill may wait for. */
#define DMA_CHUNK (64ULL << 10)
/* Pages translated per call: a chunk of 4 KiB pages. */
#define XLATE_RUN 16u

static bool reason_recoverable(unsigned int reason)
{
	return reason >= UIOMMU_DMA_FAULT_NO_WINDOW && reason <= UIOMMU_DMA_FAULT_STALE_TCE;
}

/* One line describing @f (without the device and address), for the log. */
static void fault_text(const struct uiommu_dma_fault *f, char *buf, size_t size)
{
	const char *want = f->dir == UIOMMU_DMA_TO_DEVICE ? "READ" : "WRITE";

	switch (f->reason) {
	case UIOMMU_DMA_FAULT_NO_WINDOW:
		snprintf(buf, size, "no window (TVE) covers it");
		break;
	case UIOMMU_DMA_FAULT_INVALID_TCE:
		snprintf(buf, size, "invalid TCE 0x%llx in window %d%s", (unsigned long long)f->tce,
			 f->window, f->flags & UIOMMU_DMA_FAULT_CACHED ? " (TCE cache)" : "");
		break;
	case UIOMMU_DMA_FAULT_PERMISSION:
		snprintf(buf, size, "TCE 0x%llx in window %d lacks %s%s", (unsigned long long)f->tce,
			 f->window, want, f->flags & UIOMMU_DMA_FAULT_CACHED ? " (TCE cache)" : "");
		break;
	case UIOMMU_DMA_FAULT_BAD_HPA:
		snprintf(buf, size, "hpa 0x%llx (%s) is not RAM", (unsigned long long)f->hpa,
			 f->flags & UIOMMU_DMA_FAULT_BYPASS ? "bypass" : "from the TCE");
		break;
	case UIOMMU_DMA_FAULT_STALE_TCE:
		snprintf(buf, size,
			 "stale TCE: the cached TCE 0x%llx of window %d was changed to 0x%llx in the table without a kill",
			 (unsigned long long)f->tce, f->window, (unsigned long long)f->table_tce);
		break;
	case UIOMMU_DMA_FAULT_FROZEN:
		snprintf(buf, size, "the PE is frozen or in reset (EEH)");
		break;
	default:
		snprintf(buf, size, "an injected EEH error matched");
		break;
	}
}

/* Report a fault: freeze the PE (EEH), count, log, record. The errno to return. */
static int dma_report(struct uiommu_dev *dev, struct uiommu_dma_fault *f,
		      struct uiommu_dma_fault *ret_fault)
{
	char text[200];

	if (f->reason != UIOMMU_DMA_FAULT_FROZEN && pe_dma_error(dev->pe))
		f->flags |= UIOMMU_DMA_FAULT_FROZE;
	atomic_fetch_add_explicit(&dev->faults, 1, memory_order_relaxed);
	ctx_count(dev->ctx, UIOMMU_COUNTER_DMA_FAULTS, 1);
	fault_text(f, text, sizeof(text));
	ctx_guest_error(dev->ctx, "%s: DMA %s fault at ioba 0x%llx after %llu bytes: %s%s",
			dev->name, f->dir == UIOMMU_DMA_TO_DEVICE ? "read" : "write",
			(unsigned long long)f->ioba, (unsigned long long)f->done, text,
			f->flags & UIOMMU_DMA_FAULT_FROZE ? "; PE frozen (EEH)" : "");
	pthread_mutex_lock(&dev->fault_lock);
	dev->last_fault = *f;
	dev->has_fault = true;
	pthread_mutex_unlock(&dev->fault_lock);
	if (ret_fault)
		struct_copy_out(ret_fault, f, sizeof(*f));
	return f->reason >= UIOMMU_DMA_FAULT_FROZEN ? -EIO : -EFAULT;
}

static void dma_account(struct uiommu_dev *dev, enum uiommu_dma_dir dir, uint64_t done)
{
	if (done)
		atomic_fetch_add_explicit(dir == UIOMMU_DMA_TO_DEVICE ? &dev->bytes_read
								       : &dev->bytes_written,
					  done, memory_order_relaxed);
}

/* Move the segments, checked by the caller; @buf is the device's side. */
static int dma_run(struct uiommu_dev *dev, enum uiommu_dma_dir dir, const struct uiommu_dma_sg *sg,
		   unsigned int nsg, unsigned char *buf, uint64_t *ret_done,
		   struct uiommu_dma_fault *ret_fault)
{
	struct uiommu_pe *pe = dev->pe;
	uint64_t done = 0;
	unsigned int retries = 0;
	int ret = 0;

	for (unsigned int i = 0; i < nsg && !ret; i++) {
		uint64_t ioba = sg[i].ioba, left = sg[i].len;

		while (left) {
			struct pe_dma_stats st = { 0 };
			struct pe_xlate xs[XLATE_RUN + 1], *x = xs;
			uint64_t budget = DMA_CHUNK, ram_first = 1, ram_last = 0;
			unsigned char *ram = NULL; /* the RAM region of the last page, this chunk */
			struct uiommu_tce_table *tbl, *hooked = NULL; /* whose DMA hooks it entered */
			struct tce_dma_entered hooks;
			unsigned int reason, token, n;
			struct uiommu_dma_fault f;
			bool held = false;

			rcu_read_enter();
			token = pe_dma_enter(pe);
			do {
				reason = pe_translate_rcu(pe, ioba, MIN(left, budget), dir, xs, XLATE_RUN,
							  &n, &st, &tbl);
				/*
				 * A table with DMA hooks (a bound mirror): enter them before a
				 * byte moves. The translation came first, but the chunk is in
				 * the PE's gate, so an invalidation's kill of these TCEs waits
				 * for it either way; one table's hooks per chunk.
				 */
				if (unlikely(tbl && tce_dma_hooked(tbl)) && n && tbl != hooked) {
					reason = 0;
					if (hooked)
						break; /* the next chunk enters this one's */
					hooked = tbl;
					if (!tce_dma_hooks_enter(tbl, &hooks)) {
						held = true;
						break;
					}
				}
				for (x = xs; x < xs + n; x++) {
					unsigned char *hva;

					/* Pages of a transfer are mostly in one region: look up on a change. */
					if (unlikely(x->hpa < ram_first || x->hpa > ram_last))
						ram = mem_hpa_region_rcu(dev->ctx, x->hpa, &ram_first,
									 &ram_last);
					if (unlikely(!ram || x->len - 1 > ram_last - x->hpa)) {
						reason = UIOMMU_DMA_FAULT_BAD_HPA;
						break;
					}
					hva = ram + (x->hpa - ram_first);
					if (dir == UIOMMU_DMA_TO_DEVICE)
						memcpy(buf, hva, x->len);
					else
						memcpy(hva, buf, x->len);
					if (unlikely(retries)) {
						/* The handler resolved the fault of this page. */
						atomic_fetch_add_explicit(&dev->faults_resolved, 1,
									  memory_order_relaxed);
						retries = 0;
					}
					buf += x->len;
					ioba += x->len;
					left -= x->len;
					done += x->len;
					budget -= x->len;
				}
			} while (!reason && left && budget);
			pe_dma_exit(pe, token, &st);
			rcu_read_exit();
			if (unlikely(hooked))
				tce_dma_hooks_exit(&hooks);
			if (unlikely(held)) {
				/* A mirror's address space is held (the kernel takes pages): wait, redo. */
				tce_dma_hooks_wait(&hooks);
				continue;
			}
			if (likely(!reason))
				continue;

			f = (struct uiommu_dma_fault){
				.size = DMA_FAULT_SIZE_V1,
				.reason = reason,
				.dir = (uint32_t)dir,
				.flags = x->flags,
				.window = x->window,
				.retries = retries,
				.ioba = ioba,
				.done = done,
				.tce = x->tce,
				.table_tce = reason == UIOMMU_DMA_FAULT_STALE_TCE ? x->table_tce : 0,
				.hpa = reason == UIOMMU_DMA_FAULT_BAD_HPA ? x->hpa : 0,
			};
			memcpy(f.dev_name, dev->name, sizeof(f.dev_name));
			if (dev->fault_fn && reason_recoverable(reason) &&
			    retries < UIOMMU_DEV_FAULT_RETRIES_MAX &&
			    dev->fault_fn(dev->fault_opaque, dev, &f) == UIOMMU_DEV_FAULT_RETRY) {
				retries++;
				continue;
			}
			ret = dma_report(dev, &f, ret_fault);
			break;
		}
	}
	dma_account(dev, dir, done);
	if (ret_done)
		*ret_done = done;
	return ret;
}

static int dma_one(struct uiommu_dev *dev, enum uiommu_dma_dir dir, uint64_t ioba, void *buf,
		   uint64_t len, struct uiommu_dma_fault *ret_fault)
{
	struct uiommu_dma_sg sg = { .ioba = ioba, .len = len };
	uint64_t last;
	int ret;

	if (!dev || !buf || (ret_fault && ret_fault->size < DMA_FAULT_SIZE_V1))
		return -EINVAL;
	ret = range_from_len(ioba, len, &last);
	if (ret)
		return ret;
	return dma_run(dev, dir, &sg, 1, buf, NULL, ret_fault);
}

UIOMMU_EXPORT int uiommu_dev_dma_read(struct uiommu_dev *dev, uint64_t ioba, void *buf,
				      uint64_t len, struct uiommu_dma_fault *ret_fault)
{
	return dma_one(dev, UIOMMU_DMA_TO_DEVICE, ioba, buf, len, ret_fault);
}

UIOMMU_EXPORT int uiommu_dev_dma_write(struct uiommu_dev *dev, uint64_t ioba, const void *buf,
				       uint64_t len, struct uiommu_dma_fault *ret_fault)
{
	/* dma_run() only reads @buf in this direction. */
	return dma_one(dev, UIOMMU_DMA_FROM_DEVICE, ioba, (void *)(uintptr_t)buf, len, ret_fault);
}

static int dma_sg(struct uiommu_dev *dev, enum uiommu_dma_dir dir, const struct uiommu_dma_sg *sg,
		  unsigned int nsg, void *buf, uint64_t *ret_done,
		  struct uiommu_dma_fault *ret_fault)
{
	uint64_t total = 0, last;

	if (ret_done)
		*ret_done = 0;
	if (!dev || !sg || !buf || !nsg || nsg > UIOMMU_DMA_SG_MAX ||
	    (ret_fault && ret_fault->size < DMA_FAULT_SIZE_V1))
		return -EINVAL;
	for (unsigned int i = 0; i < nsg; i++) {
		int ret = range_from_len(sg[i].ioba, sg[i].len, &last);

		if (ret)
			return ret;
		if (__builtin_add_overflow(total, sg[i].len, &total))
			return -EINVAL;
	}
	return dma_run(dev, dir, sg, nsg, buf, ret_done, ret_fault);
}

UIOMMU_EXPORT int uiommu_dev_dma_read_sg(struct uiommu_dev *dev, const struct uiommu_dma_sg *sg,
					 unsigned int nsg, void *buf, uint64_t *ret_done,
					 struct uiommu_dma_fault *ret_fault)
{
	return dma_sg(dev, UIOMMU_DMA_TO_DEVICE, sg, nsg, buf, ret_done, ret_fault);
}

UIOMMU_EXPORT int uiommu_dev_dma_write_sg(struct uiommu_dev *dev, const struct uiommu_dma_sg *sg,
					  unsigned int nsg, const void *buf, uint64_t *ret_done,
					  struct uiommu_dma_fault *ret_fault)
{
	return dma_sg(dev, UIOMMU_DMA_FROM_DEVICE, sg, nsg, (void *)(uintptr_t)buf, ret_done,
		      ret_fault);
}
