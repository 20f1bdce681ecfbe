// SPDX-License-Identifier: BSD-3-Clause
/*
 * Host frames: a buddy allocator over the library's own RAM region.
 *
 * The region is one memfd of UIOMMU_HPA_LIBRARY_SIZE bytes, sparse and
 * mapped MAP_NORESERVE, created at the first allocation. Its frames are
 * managed in 1 GiB chunks whose metadata is allocated when a chunk is first
 * needed: per order, a bitmap of free blocks and one of allocated blocks
 * (about 130 KiB per chunk), plus a bitmap of runs the user allocated, so
 * that a double free, a wrong order or a user freeing library pages is
 * refused rather than corrupting the allocator.
 *
 * Free frames are always zero: a freed run is punched out of the memfd
 * (FALLOC_FL_PUNCH_HOLE), which also returns its memory to the system, so
 * allocation needs no memset.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mem.h"

static inline bool bit_test(const uint64_t *w, uint64_t b)
{
	return w[b >> 6] & (1ULL << (b & 63));
}

static inline void bit_set(uint64_t *w, uint64_t b)
{
	w[b >> 6] |= 1ULL << (b & 63);
}

static inline void bit_clear(uint64_t *w, uint64_t b)
{
	w[b >> 6] &= ~(1ULL << (b & 63));
}

static uint64_t order_words(unsigned int order)
{
	uint64_t bits = (uint64_t)BUDDY_CHUNK_FRAMES >> order;

	return bits < 64 ? 1 : bits / 64;
}

static struct buddy_chunk *chunk_new(struct uiommu_ctx *ctx)
{
	struct buddy_chunk *c = ctx_alloc(ctx, sizeof(*c));
	uint64_t words = 0, off = 0;

	if (!c)
		return NULL;
	for (unsigned int o = 0; o <= BUDDY_CHUNK_ORDER; o++)
		words += 2 * order_words(o);
	words += order_words(0);
	c->storage = ctx_alloc_array(ctx, words, sizeof(uint64_t));
	if (!c->storage) {
		ctx_free(ctx, c);
		return NULL;
	}
	for (unsigned int o = 0; o <= BUDDY_CHUNK_ORDER; o++) {
		c->free_bits[o] = c->storage + off;
		off += order_words(o);
		c->alloc_bits[o] = c->storage + off;
		off += order_words(o);
	}
	c->user_bits = c->storage + off;
	/* The whole chunk starts as one free block of the top order. */
	bit_set(c->free_bits[BUDDY_CHUNK_ORDER], 0);
	c->nfree[BUDDY_CHUNK_ORDER] = 1;
	return c;
}

static void chunk_free(struct uiommu_ctx *ctx, struct buddy_chunk *c)
{
	if (!c)
		return;
	ctx_free(ctx, c->storage);
	ctx_free(ctx, c);
}

static void chunk_mark_free(struct buddy_chunk *c, unsigned int o, uint64_t b)
{
	uint64_t w = b >> 6;

	bit_set(c->free_bits[o], b);
	c->nfree[o]++;
	if (w < c->hint[o])
		c->hint[o] = (uint32_t)w;
}

/* Take the lowest free block of order @o; the caller checked nfree[o]. */
static uint64_t chunk_take_free(struct buddy_chunk *c, unsigned int o)
{
	uint64_t nwords = order_words(o);

	for (uint64_t w = c->hint[o]; w < nwords; w++) {
		uint64_t bits = c->free_bits[o][w];

		if (bits) {
			uint64_t b = w * 64 + (uint64_t)__builtin_ctzll(bits);

			bit_clear(c->free_bits[o], b);
			c->nfree[o]--;
			c->hint[o] = (uint32_t)w;
			return b;
		}
	}
	/* nfree[o] said there was one: the metadata is corrupt. */
	__builtin_trap();
}

/* Allocate a block of @order from @c, splitting a larger one; false if none. */
static bool chunk_alloc(struct buddy_chunk *c, unsigned int order, uint64_t *ret_block)
{
	unsigned int o = order;
	uint64_t b;

	while (o <= BUDDY_CHUNK_ORDER && !c->nfree[o])
		o++;
	if (o > BUDDY_CHUNK_ORDER)
		return false;
	b = chunk_take_free(c, o);
	while (o > order) {
		o--;
		b <<= 1;
		chunk_mark_free(c, o, b + 1); /* keep the lower half, free the buddy */
	}
	bit_set(c->alloc_bits[order], b);
	*ret_block = b;
	return true;
}

/* Return a block to @c, merging it with free buddies. */
static void chunk_release(struct buddy_chunk *c, unsigned int order, uint64_t b)
{
	unsigned int o = order;

	while (o < BUDDY_CHUNK_ORDER && bit_test(c->free_bits[o], b ^ 1)) {
		bit_clear(c->free_bits[o], b ^ 1);
		c->nfree[o]--;
		b >>= 1;
		o++;
	}
	chunk_mark_free(c, o, b);
}

/* Create the library's region; under frame_lock. */
static int lib_region_create_locked(struct uiommu_ctx *ctx)
{
	struct mem_state *mem = mem_peek(ctx);
	struct ram_region *r = NULL;
	void *map = MAP_FAILED;
	uint64_t size = 0;
	int fd = -1, ret = -ENOMEM;

	if (ctx_fault(ctx, UIOMMU_FAULT_MAP))
		return -ENOMEM;
	fd = memfd_create("uiommu-frames", MFD_CLOEXEC);
	if (fd < 0)
		return -ENOMEM;
	if (ftruncate(fd, (off_t)UIOMMU_HPA_LIBRARY_SIZE))
		goto err;
	if (ctx_fault(ctx, UIOMMU_FAULT_MAP))
		goto err;
	/*
	 * Where address space is scarce (an RLIMIT_AS, a valgrind with a small
	 * address space), a smaller region, down to one buddy chunk, still
	 * works: only fewer frames exist.
	 */
	for (size = UIOMMU_HPA_LIBRARY_SIZE; size >= BUDDY_CHUNK_BYTES; size /= 2) {
		map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
		if (map != MAP_FAILED)
			break;
	}
	if (map == MAP_FAILED)
		goto err;
	r = region_new(ctx, fd, 0, map, size, true);
	if (!r)
		goto err;
	region_place(r, UIOMMU_HPA_LIBRARY_BASE);
	r->library = true;

	pthread_mutex_lock(&mem->lock);
	ret = vrange_insert_locked(ctx, r->vr);
	pthread_mutex_unlock(&mem->lock);
	if (ret)
		goto err;
	mem->lib_nchunks = (unsigned int)(size / BUDDY_CHUNK_BYTES);
	rcu_publish(mem->lib, r);
	return 0;

err:
	region_discard(r);
	if (map != MAP_FAILED)
		munmap(map, size);
	close(fd);
	return ret;
}

int frames_alloc(struct uiommu_ctx *ctx, unsigned int order, bool user, uint64_t *ret_hpa,
		 struct fault_point *fp)
{
	struct mem_state *mem = mem_get(ctx);
	uint64_t bytes = UIOMMU_FRAME_SIZE << order, block, frame;
	unsigned int c;
	int ret;

	if (!mem || ctx_fault_at(ctx, fp))
		return -ENOMEM;
	ret = ctx_charge(ctx, UIOMMU_RES_FRAME_BYTES, bytes);
	if (ret)
		return ret;

	pthread_mutex_lock(&mem->frame_lock);
	if (!atomic_load_explicit(&mem->lib, memory_order_relaxed)) {
		ret = lib_region_create_locked(ctx);
		if (ret)
			goto err_unlock;
	}
	for (c = 0; c < mem->lib_nchunks && mem->chunks[c]; c++)
		if (chunk_alloc(mem->chunks[c], order, &block))
			goto found;
	if (c == mem->lib_nchunks) {
		ret = -ENOMEM;
		goto err_unlock;
	}
	mem->chunks[c] = chunk_new(ctx);
	if (!mem->chunks[c]) {
		ret = -ENOMEM;
		goto err_unlock;
	}
	if (!chunk_alloc(mem->chunks[c], order, &block))
		__builtin_trap(); /* a fresh chunk holds any order */
found:
	frame = ((uint64_t)c << BUDDY_CHUNK_ORDER) + (block << order);
	if (user)
		bit_set(mem->chunks[c]->user_bits, frame & (BUDDY_CHUNK_FRAMES - 1));
	pthread_mutex_unlock(&mem->frame_lock);
	*ret_hpa = UIOMMU_HPA_LIBRARY_BASE + (frame << UIOMMU_FRAME_SHIFT);
	return 0;

err_unlock:
	pthread_mutex_unlock(&mem->frame_lock);
	ctx_uncharge(ctx, UIOMMU_RES_FRAME_BYTES, bytes);
	return ret;
}

static int frames_release(struct uiommu_ctx *ctx, uint64_t hpa, unsigned int order, bool user,
			  bool charged);

int frames_free(struct uiommu_ctx *ctx, uint64_t hpa, unsigned int order, bool user)
{
	return frames_release(ctx, hpa, order, user, true);
}

/* As frames_free(); @charged false for a parked run (mem_frames_park_shared()). */
static int frames_release(struct uiommu_ctx *ctx, uint64_t hpa, unsigned int order, bool user,
			  bool charged)
{
	struct mem_state *mem = mem_peek(ctx);
	struct ram_region *lib = mem ? atomic_load(&mem->lib) : NULL;
	uint64_t bytes, frame, block, cf;
	struct buddy_chunk *c;
	int ret = -EINVAL;

	/* The order first: it is the caller's, and it sizes a shift. */
	if (order > UIOMMU_FRAME_MAX_ORDER)
		return -EINVAL;
	bytes = UIOMMU_FRAME_SIZE << order;
	if (!lib || hpa < lib->hpa || hpa > lib->last_hpa || !is_aligned_u64(hpa, bytes))
		return -EINVAL;
	frame = (hpa - lib->hpa) >> UIOMMU_FRAME_SHIFT;
	cf = frame & (BUDDY_CHUNK_FRAMES - 1);
	block = cf >> order;

	/* Pinned through the library's mapping? (Pins are rare: check the count first.) */
	if (atomic_load(&lib->vr->pinned_pages)) {
		uintptr_t start = (uintptr_t)lib->hva + (hpa - lib->hpa);
		bool busy;

		pthread_mutex_lock(&mem->lock);
		busy = pins_in_range_locked(lib->vr, start, start + (bytes - 1));
		pthread_mutex_unlock(&mem->lock);
		if (busy)
			return -EBUSY;
	}

	pthread_mutex_lock(&mem->frame_lock);
	c = mem->chunks[frame >> BUDDY_CHUNK_ORDER];
	if (!c || !bit_test(c->alloc_bits[order], block) || bit_test(c->user_bits, cf) != user)
		goto out_unlock;
	bit_clear(c->alloc_bits[order], block);
	bit_clear(c->user_bits, cf);
	pthread_mutex_unlock(&mem->frame_lock);

	/* Zero it (and give the memory back) before anyone can allocate it again. */
	if (fallocate(lib->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(hpa - lib->hpa), (off_t)bytes))
		memset(lib->hva + (hpa - lib->hpa), 0, bytes);

	pthread_mutex_lock(&mem->frame_lock);
	chunk_release(c, order, block);
	ret = 0;
out_unlock:
	pthread_mutex_unlock(&mem->frame_lock);
	if (!ret && charged)
		ctx_uncharge(ctx, UIOMMU_RES_FRAME_BYTES, bytes);
	return ret;
}

void frames_fini(struct uiommu_ctx *ctx, struct mem_state *mem)
{
	for (unsigned int c = 0; c < BUDDY_NCHUNKS; c++) {
		chunk_free(ctx, mem->chunks[c]);
		mem->chunks[c] = NULL;
	}
}

int mem_frames_alloc_at(struct uiommu_ctx *ctx, unsigned int order, uint64_t *ret_hpa,
			void **ret_hva, struct fault_point *fp)
{
	uint64_t hpa;
	int ret = frames_alloc(ctx, order, false, &hpa, fp);

	if (ret)
		return ret;
	if (ret_hva) {
		struct ram_region *lib = atomic_load_explicit(&mem_peek(ctx)->lib, memory_order_acquire);

		*ret_hva = lib->hva + (hpa - lib->hpa);
	}
	*ret_hpa = hpa;
	return 0;
}

int mem_frames_free(struct uiommu_ctx *ctx, uint64_t hpa, unsigned int order)
{
	return frames_free(ctx, hpa, order, false);
}

/*
 * Frames with a memfd of their own. The run is taken from the buddy
 * allocator as usual (so it has hpas, is charged, and lookups work), then
 * its first @npages frames are mapped from a fresh memfd instead of the
 * library's: the memfd holds those frames and nothing else, so it can be
 * handed to another process. Its pages are never reused: freeing puts the
 * library's own backing back over the run and closes the memfd, so
 * whatever another process still maps stays with it.
 */
static int map_lib_over(struct ram_region *lib, uint64_t hpa, uint64_t bytes)
{
	void *p = mmap(lib->hva + (hpa - lib->hpa), bytes, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_FIXED | MAP_NORESERVE, lib->fd, (off_t)(hpa - lib->hpa));

	return p == MAP_FAILED ? -ENOMEM : 0;
}

int mem_frames_alloc_shared_at(struct uiommu_ctx *ctx, unsigned int order, uint64_t npages,
			       uint64_t *ret_hpa, void **ret_hva, int *ret_fd, struct fault_point *fp)
{
	uint64_t len = npages << UIOMMU_FRAME_SHIFT, hpa;
	struct ram_region *lib;
	char *hva;
	int fd, ret;

	if (!npages || npages > (1ULL << order))
		return -EINVAL;
	ret = frames_alloc(ctx, order, false, &hpa, fp);
	if (ret)
		return ret;
	lib = atomic_load_explicit(&mem_peek(ctx)->lib, memory_order_acquire);
	hva = lib->hva + (hpa - lib->hpa);
	if (ctx_fault(ctx, UIOMMU_FAULT_MAP)) {
		ret = -ENOMEM;
		goto err_free;
	}
	fd = memfd_create("uiommu-shared-frames", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		ret = errno == EMFILE || errno == ENFILE ? -EMFILE : -ENOMEM;
		goto err_free;
	}
	/* Sealed against resizing: a peer holding the fd cannot make our pages SIGBUS. */
	if (ftruncate(fd, (off_t)len) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) ||
	    mmap(hva, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
		close(fd);
		ret = -ENOMEM;
		/* A failed MAP_FIXED may have unmapped the run: put the library's back. */
		if (map_lib_over(lib, hpa, UIOMMU_FRAME_SIZE << order)) {
			ctx_err(ctx, "cannot restore frames at hpa 0x%llx: leaking them",
				(unsigned long long)hpa);
			return ret;
		}
		goto err_free;
	}
	*ret_hpa = hpa;
	*ret_hva = hva;
	*ret_fd = fd;
	return 0;

err_free:
	frames_free(ctx, hpa, order, false);
	return ret;
}

/* Is any frame of the run at @hpa (@bytes) pinned through the library's mapping? */
static bool shared_run_pinned(struct mem_state *mem, struct ram_region *lib, uint64_t hpa,
			      uint64_t bytes)
{
	bool busy;

	if (!atomic_load(&lib->vr->pinned_pages))
		return false;
	pthread_mutex_lock(&mem->lock);
	busy = pins_in_range_locked(lib->vr, (uintptr_t)lib->hva + (hpa - lib->hpa),
				    (uintptr_t)lib->hva + (hpa - lib->hpa) + (bytes - 1));
	pthread_mutex_unlock(&mem->lock);
	return busy;
}

int mem_frames_park_shared(struct uiommu_ctx *ctx, uint64_t hpa, unsigned int order,
			   uint64_t npages, int fd)
{
	struct mem_state *mem = mem_peek(ctx);
	struct ram_region *lib = mem ? atomic_load(&mem->lib) : NULL;
	uint64_t bytes;

	if (!lib || order > UIOMMU_FRAME_MAX_ORDER || !npages || npages > (1ULL << order) ||
	    hpa < lib->hpa || hpa > lib->last_hpa)
		return -EINVAL;
	bytes = UIOMMU_FRAME_SIZE << order;
	if (shared_run_pinned(mem, lib, hpa, bytes))
		return -EBUSY;
	/* Zeroes every page and gives the memory back; our mapping stays. */
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		      (off_t)(npages << UIOMMU_FRAME_SHIFT)))
		return -errno;
	ctx_uncharge(ctx, UIOMMU_RES_FRAME_BYTES, bytes);
	return 0;
}

int mem_frames_unpark_shared(struct uiommu_ctx *ctx, unsigned int order)
{
	return ctx_charge(ctx, UIOMMU_RES_FRAME_BYTES, UIOMMU_FRAME_SIZE << order);
}

static int free_shared(struct uiommu_ctx *ctx, uint64_t hpa, unsigned int order, int fd,
		       bool charged)
{
	struct mem_state *mem = mem_peek(ctx);
	struct ram_region *lib = mem ? atomic_load(&mem->lib) : NULL;
	uint64_t bytes = UIOMMU_FRAME_SIZE << order;

	if (!lib || order > UIOMMU_FRAME_MAX_ORDER || hpa < lib->hpa || hpa > lib->last_hpa)
		return -EINVAL;
	if (shared_run_pinned(mem, lib, hpa, bytes))
		return -EBUSY;
	/* Never hand these hpas out again while they still map the memfd. */
	if (map_lib_over(lib, hpa, bytes)) {
		ctx_err(ctx, "cannot restore frames at hpa 0x%llx: leaking them",
			(unsigned long long)hpa);
		return -ENOMEM;
	}
	close(fd);
	return frames_release(ctx, hpa, order, false, charged);
}

int mem_frames_free_shared(struct uiommu_ctx *ctx, uint64_t hpa, unsigned int order, int fd)
{
	return free_shared(ctx, hpa, order, fd, true);
}

int mem_frames_free_parked(struct uiommu_ctx *ctx, uint64_t hpa, unsigned int order, int fd)
{
	return free_shared(ctx, hpa, order, fd, false);
}

UIOMMU_EXPORT int uiommu_frames_alloc(struct uiommu_ctx *ctx, unsigned int order,
				      uint64_t *ret_hpa)
{
	if (order > UIOMMU_FRAME_MAX_ORDER || !ret_hpa)
		return -EINVAL;
	return frames_alloc(ctx, order, true, ret_hpa, FAULT_POINT(UIOMMU_FAULT_FRAME));
}

UIOMMU_EXPORT int uiommu_frames_free(struct uiommu_ctx *ctx, uint64_t hpa, unsigned int order)
{
	return frames_free(ctx, hpa, order, true);
}
