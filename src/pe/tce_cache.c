// SPDX-License-Identifier: BSD-3-Clause
/*
 * The PHB side of a device's DMA: a PE's TCE cache, its kill, the DMA gate
 * that lets a kill wait for the DMA that could still use what it
 * invalidated, and the translation of one DMA page (EEH state, armed error
 * injection, bypass, TVE, cache, table, permission), as a POWER PHB does
 * it (Linux powernv pci-ioda.c: pnv_pci_ioda2_tce_invalidate() for the
 * kill, the TVE selection by bus address bit 59).
 *
 * The cache is direct-mapped: slot (entry ^ window * 32) & mask. Each slot
 * is a seqcount over (key, TCE): readers retry-free (a slot being written
 * is a miss); writers take the slot by moving its count from even to odd.
 *
 * Correctness of a kill (when it returns, no DMA uses an old entry):
 * 1. It bumps kill_seq first. A DMA that misses reads kill_seq, then the
 *    table, and fills the slot only if kill_seq is unchanged when it holds
 *    the slot: a translation read before a kill is never cached after the
 *    kill has been through that slot.
 * 2. It empties every slot of the range, holding each (so that a fill in
 *    progress is either before it, and emptied, or after it, and sees the
 *    new kill_seq).
 * 3. It syncs the gate: DMA chunks that entered before it (and may have
 *    read a slot or the table before step 2) are waited for; chunks that
 *    enter after see the emptied slots.
 * The gate is a two-counter epoch scheme (as SRCU): a chunk counts itself
 * in the current epoch's parity and re-checks the epoch; a sync, serialized
 * with other syncs, bumps the epoch and waits for the old parity to drain.
 * The counters are sequentially consistent where the argument needs a
 * total order (the chunk's increment against the sync's bump and read).
 */
#include <sched.h>

#include "pe.h"

/* ---- waiting ---- */

static inline void spin_pause(unsigned int *spins)
{
	if (++*spins % 1024 == 0) {
		sched_yield(); /* the other side may be preempted: let it run */
		return;
	}
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

/* ---- the DMA gate ---- */

unsigned int pe_dma_enter(struct uiommu_pe *pe)
{
	struct dma_gate *g = &pe->gate;

	for (;;) {
		uint64_t e = atomic_load(&g->epoch);
		unsigned int i = (unsigned int)(e & 1);

		atomic_fetch_add(&g->active[i], 1);
		if (likely(atomic_load(&g->epoch) == e))
			return i;
		/* A sync bumped the epoch meanwhile: count in the new parity. */
		atomic_fetch_sub_explicit(&g->active[i], 1, memory_order_release);
	}
}

void pe_dma_exit(struct uiommu_pe *pe, unsigned int token, const struct pe_dma_stats *st)
{
	/* Release: this chunk's copies happen before the sync that sees it leave. */
	atomic_fetch_sub_explicit(&pe->gate.active[token], 1, memory_order_release);
	if (st->hits)
		atomic_fetch_add_explicit(&pe->hits, st->hits, memory_order_relaxed);
	if (st->misses)
		atomic_fetch_add_explicit(&pe->misses, st->misses, memory_order_relaxed);
	if (st->fills)
		atomic_fetch_add_explicit(&pe->fills, st->fills, memory_order_relaxed);
	if (st->stale)
		atomic_fetch_add_explicit(&pe->stale, st->stale, memory_order_relaxed);
}

/* Wait for every DMA chunk that entered the gate before this call. */
static void gate_sync(struct dma_gate *g)
{
	unsigned int spins = 0;
	uint64_t e;

	while (atomic_exchange_explicit(&g->sync, 1, memory_order_acquire))
		spin_pause(&spins);
	e = atomic_fetch_add(&g->epoch, 1);
	while (atomic_load(&g->active[e & 1]))
		spin_pause(&spins);
	atomic_store_explicit(&g->sync, 0, memory_order_release);
}

/* ---- the cache ---- */

static inline uint64_t cache_key(uint64_t entry, int num)
{
	return entry << 2 | (uint64_t)num << 1 | 1;
}

static inline struct tce_cache_slot *cache_slot(const struct uiommu_pe *pe, uint64_t entry,
						int num)
{
	return &pe->cache[(entry ^ ((uint64_t)num << 5)) & pe->cache_mask];
}

static inline bool cache_lookup(struct tce_cache_slot *s, uint64_t key, uint64_t *ret_tce)
{
	uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire), k, t;

	if (seq & 1)
		return false;
	k = atomic_load_explicit(&s->key, memory_order_relaxed);
	t = atomic_load_explicit(&s->tce, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&s->seq, memory_order_relaxed) != seq || k != key)
		return false;
	*ret_tce = t;
	return true;
}

/* Hold a slot (its count odd); false if another writer holds it and @wait is false. */
static inline bool slot_hold(struct tce_cache_slot *s, bool wait, uint64_t *ret_seq)
{
	unsigned int spins = 0;

	for (;;) {
		uint64_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);

		if (!(seq & 1) &&
		    atomic_compare_exchange_weak_explicit(&s->seq, &seq, seq + 1,
							  memory_order_acq_rel,
							  memory_order_relaxed)) {
			/* Readers that see what this writer stores also see the odd count. */
			atomic_thread_fence(memory_order_release);
			*ret_seq = seq;
			return true;
		}
		if (!wait)
			return false;
		spin_pause(&spins);
	}
}

static inline void slot_release(struct tce_cache_slot *s, uint64_t seq)
{
	atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

/* Cache @tce for @key unless a kill started after @kill_seq was read. */
static bool cache_fill(struct uiommu_pe *pe, struct tce_cache_slot *s, uint64_t key,
		       uint64_t tce, uint64_t kill_seq)
{
	uint64_t seq;
	bool filled = false;

	if (!slot_hold(s, false, &seq))
		return false; /* busy: do not wait, the DMA does not need the cache */
	if (atomic_load(&pe->kill_seq) == kill_seq) {
		atomic_store_explicit(&s->key, key, memory_order_relaxed);
		atomic_store_explicit(&s->tce, tce, memory_order_relaxed);
		filled = true;
	}
	slot_release(s, seq);
	return filled;
}

/* Empty slot @s if it caches an entry of window @num (-1: any) in [@first, @last]. */
static uint64_t slot_invalidate(struct tce_cache_slot *s, int num, uint64_t first, uint64_t last)
{
	uint64_t seq, key, entry;
	bool hit;

	slot_hold(s, true, &seq);
	key = atomic_load_explicit(&s->key, memory_order_relaxed);
	entry = key >> 2;
	hit = key && (num < 0 || (int)((key >> 1) & 1) == num) && entry >= first && entry <= last;
	if (hit)
		atomic_store_explicit(&s->key, 0, memory_order_relaxed);
	slot_release(s, seq);
	return hit;
}

/* Empty the slots caching window @num's (-1: any window's) entries [@entry, @entry + @npages). */
static void cache_invalidate(struct uiommu_pe *pe, int num, uint64_t entry, uint64_t npages)
{
	uint64_t n = 0, last = entry + (npages - 1);

	if (!pe->cache)
		return;
	if (npages > pe->cache_mask) {
		for (uint64_t i = 0; i <= pe->cache_mask; i++)
			n += slot_invalidate(&pe->cache[i], num, entry, last);
	} else {
		for (uint64_t e = entry; e <= last; e++)
			n += slot_invalidate(cache_slot(pe, e, num), num, e, e);
	}
	if (n)
		atomic_fetch_add_explicit(&pe->invalidations, n, memory_order_relaxed);
}

int pe_cache_init(struct uiommu_pe *pe, uint32_t entries, unsigned int mode)
{
	atomic_init(&pe->cache_mode, mode);
	if (!entries)
		return 0;
	/* Slots start with count 0 and key 0: empty. */
	pe->cache = ctx_alloc_array(pe->ctx, entries, sizeof(*pe->cache));
	if (!pe->cache)
		return -ENOMEM;
	pe->cache_mask = entries - 1;
	return 0;
}

void pe_cache_fini(struct uiommu_pe *pe)
{
	ctx_free(pe->ctx, pe->cache);
	pe->cache = NULL;
}

void pe_cache_flush(struct uiommu_pe *pe)
{
	atomic_fetch_add_explicit(&pe->kills, 1, memory_order_relaxed);
	atomic_fetch_add(&pe->kill_seq, 1);
	cache_invalidate(pe, -1, 0, UINT64_MAX >> 2);
	gate_sync(&pe->gate);
}

void pe_tce_kill(void *opaque, struct uiommu_tce_table *tbl, uint64_t entry, uint64_t npages)
{
	struct uiommu_pe *pe = opaque;
	int num;

	atomic_fetch_add_explicit(&pe->kills, 1, memory_order_relaxed);
	for (num = 0; num < UIOMMU_TABLE_GROUP_MAX_TABLES; num++)
		if (atomic_load_explicit(&pe->tve[num].tbl, memory_order_acquire) == tbl)
			break;
	/*
	 * Not (or no longer) behind a TVE: no DMA can start using it, and the
	 * unset that unpublished it flushes the cache and syncs the gate.
	 */
	if (num == UIOMMU_TABLE_GROUP_MAX_TABLES)
		return;
	atomic_fetch_add(&pe->kill_seq, 1);
	cache_invalidate(pe, num, entry, npages);
	gate_sync(&pe->gate);
}

UIOMMU_EXPORT int uiommu_pe_tce_cache_flush(struct uiommu_pe *pe)
{
	pe_cache_flush(pe);
	return 0;
}

UIOMMU_EXPORT int uiommu_pe_set_tce_cache_mode(struct uiommu_pe *pe, unsigned int mode)
{
	if (mode > UIOMMU_TCE_CACHE_STRICT || (mode != UIOMMU_TCE_CACHE_OFF && !pe->cache))
		return -EINVAL;
	atomic_store_explicit(&pe->cache_mode, mode, memory_order_relaxed);
	pe_cache_flush(pe);
	return 0;
}

/* ---- EEH error injection, as the DMA path sees it ---- */

/* An armed injection matches this DMA: disarm it (one shot) and say so. */
static bool inject_fires(struct uiommu_pe *pe, uint64_t ioba, enum uiommu_dma_dir dir)
{
	struct eeh_inject *in = &pe->inject;
	uint32_t seq = atomic_load_explicit(&in->seq, memory_order_acquire), armed = 1;
	uint32_t write;
	uint64_t addr, mask;

	if (seq & 1)
		return false;
	write = atomic_load_explicit(&in->write, memory_order_relaxed);
	addr = atomic_load_explicit(&in->addr, memory_order_relaxed);
	mask = atomic_load_explicit(&in->mask, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&in->seq, memory_order_relaxed) != seq)
		return false;
	if ((dir == UIOMMU_DMA_FROM_DEVICE) != (write != 0) || ((ioba ^ addr) & mask))
		return false;
	return atomic_compare_exchange_strong(&in->armed, &armed, 0);
}

/* ---- translation ---- */

/* Bypass translations cover at most this much, so that copies stay bounded. */
#define BYPASS_CHUNK (1ULL << 16)

/* The window of @ioba: bus address bit 59 selects the TVE (IODA2). */
static inline int window_of(const struct uiommu_pe *pe, uint64_t ioba,
			    struct uiommu_tce_table **ret_tbl)
{
	int num = ioba >= UIOMMU_PE_BUS_OFFSET_64;
	struct uiommu_tce_table *tbl;

	if (unlikely(pe->single_tve)) {
		/* One TVE: whichever window holds a table. */
		tbl = atomic_load_explicit(&pe->tve[0].tbl, memory_order_acquire);
		num = 0;
		if (!tbl) {
			tbl = atomic_load_explicit(&pe->tve[1].tbl, memory_order_acquire);
			num = 1;
		}
	} else {
		tbl = atomic_load_explicit(&pe->tve[num].tbl, memory_order_acquire);
	}
	if (!tbl || ioba < pe->tve[num].bus_start || ioba > pe->tve[num].bus_last)
		return -1;
	*ret_tbl = tbl;
	return num;
}

/*
 * One entry of window @num of table @tbl, not found in the cache by the
 * fast path: the cache off or strict, or a miss. 0 with *@ret_tce (and
 * *@ret_cached), or UIOMMU_DMA_FAULT_STALE_TCE with both TCEs in @x.
 */
static unsigned int entry_tce_slow(struct uiommu_pe *pe, const struct uiommu_tce_table *tbl,
				   int num, uint64_t entry, unsigned int mode, struct pe_xlate *x,
				   uint64_t *ret_tce, bool *ret_cached, struct pe_dma_stats *st)
{
	struct tce_cache_slot *s;
	uint64_t key, kill_seq, tce = 0;

	*ret_cached = false;
	if (mode == UIOMMU_TCE_CACHE_OFF) {
		uiommu_tce_table_get(tbl, entry, ret_tce);
		return 0;
	}
	s = cache_slot(pe, entry, num);
	key = cache_key(entry, num);
	if (cache_lookup(s, key, &tce)) {
		uint64_t cur = 0;

		/* Strict: a hit must still be what the table holds. */
		st->hits++;
		*ret_cached = true;
		*ret_tce = tce;
		uiommu_tce_table_get(tbl, entry, &cur);
		if (cur != tce) {
			x->tce = tce;
			x->table_tce = cur;
			x->flags = UIOMMU_DMA_FAULT_CACHED;
			st->stale++;
			return UIOMMU_DMA_FAULT_STALE_TCE;
		}
		return 0;
	}
	st->misses++;
	/* Before the table: see the file comment, step 1. */
	kill_seq = atomic_load_explicit(&pe->kill_seq, memory_order_acquire);
	uiommu_tce_table_get(tbl, entry, &tce);
	if ((tce & UIOMMU_TCE_PERM_MASK) && cache_fill(pe, s, key, tce, kill_seq))
		st->fills++;
	*ret_tce = tce;
	return 0;
}

unsigned int pe_translate_rcu(struct uiommu_pe *pe, uint64_t ioba, uint64_t len,
			      enum uiommu_dma_dir dir, struct pe_xlate *x, unsigned int max,
			      unsigned int *ret_n, struct pe_dma_stats *st,
			      struct uiommu_tce_table **ret_tbl)
{
	const uint64_t need = dir == UIOMMU_DMA_TO_DEVICE ? UIOMMU_TCE_READ : UIOMMU_TCE_WRITE;
	uint32_t eeh = atomic_load_explicit(&pe->eeh, memory_order_acquire);
	struct uiommu_tce_table *tbl;
	uint64_t entry, page_mask, bus_last;
	unsigned int mode, n = 0, reason = 0;
	int num;

	*ret_n = 0;
	*ret_tbl = NULL;
	x[0].window = -1;
	x[0].flags = 0;
	x[0].tce = 0;
	if (unlikely(eeh & (PE_EEH_DMA_STOPPED | PE_EEH_RESET)))
		return UIOMMU_DMA_FAULT_FROZEN;
	if (unlikely(atomic_load_explicit(&pe->inject.armed, memory_order_relaxed))) {
		if (inject_fires(pe, ioba, dir))
			return UIOMMU_DMA_FAULT_INJECTED;
		max = 1; /* armed: every page is checked against it */
	}
	if (unlikely(ioba >= UIOMMU_PE_BYPASS_BASE) &&
	    atomic_load_explicit(&pe->bypass, memory_order_acquire)) {
		x[0].flags = UIOMMU_DMA_FAULT_BYPASS;
		x[0].hpa = ioba - UIOMMU_PE_BYPASS_BASE;
		x[0].len = MIN(len, BYPASS_CHUNK - (x[0].hpa & (BYPASS_CHUNK - 1)));
		*ret_n = 1;
		return 0;
	}
	num = window_of(pe, ioba, &tbl);
	if (unlikely(num < 0))
		return UIOMMU_DMA_FAULT_NO_WINDOW;
	*ret_tbl = tbl;
	mode = atomic_load_explicit(&pe->cache_mode, memory_order_relaxed);
	page_mask = (1ULL << pe->tve[num].page_shift) - 1;
	bus_last = pe->tve[num].bus_last;
	entry = ioba >> pe->tve[num].page_shift;
	/* The pages of the run, in this window; the next call starts where it stops. */
	for (;;) {
		uint64_t off = ioba & page_mask, tce;
		bool cached;

		/* The common case inline: the cache on, and holding the entry. */
		if (likely(mode == UIOMMU_TCE_CACHE_ON) &&
		    cache_lookup(cache_slot(pe, entry, num), cache_key(entry, num), &tce)) {
			st->hits++;
			cached = true;
		} else {
			reason = entry_tce_slow(pe, tbl, num, entry, mode, &x[n], &tce, &cached, st);
			if (unlikely(reason))
				break;
		}
		x[n].tce = tce;
		x[n].flags = cached ? UIOMMU_DMA_FAULT_CACHED : 0;
		x[n].window = num;
		if (unlikely((tce & need) != need)) {
			reason = tce & UIOMMU_TCE_PERM_MASK ? UIOMMU_DMA_FAULT_PERMISSION :
							      UIOMMU_DMA_FAULT_INVALID_TCE;
			break;
		}
		x[n].hpa = (tce & ~page_mask) | off;
		x[n].len = MIN(len, page_mask + 1 - off);
		len -= x[n].len;
		ioba += x[n].len;
		entry++;
		if (++n == max || !len || ioba - 1 >= bus_last)
			break;
	}
	x[n].window = num;
	*ret_n = n;
	return reason;
}
