// SPDX-License-Identifier: BSD-3-Clause
/*
 * The race: a device thread DMAs continuously through mirrors bound to a
 * TCE window (fault mode), writing a per-page generation pattern and
 * reading it back, while other threads unmap and remap pages, madvise
 * them (MADV_DONTNEED keeps a shared page, MADV_REMOVE punches it out) and
 * migrate them. Every read must be the last generation the device wrote, or
 * a page a MADV_REMOVE emptied meanwhile: never an older generation (a write
 * that went to a stale page), never a mix (an access the kernel or a
 * migration overlapped), never a poisoned hpa (a stale TCE after a
 * migration). After the unmap returns, the page's TCE must be gone. Every
 * kernel event must be seen. Counts are printed.
 *
 * Twice: a device model that brackets its own accesses
 * (uiommu_mm_dma_begin()), and an emulated device (uiommu_dev, device.h)
 * on a PE whose window the mirrors are bound to, which DMAs unwrapped:
 * the table's DMA hook that the binding registered does the bracketing.
 *
 * UIOMMU_RACE_DMAS sets the number of DMAs (default 10^6; 2 * 10^5 under
 * AddressSanitizer, 2 * 10^4 under ThreadSanitizer).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "test_util.h"

#define PAGE 4096ULL
#define NPAGES 64
#define GROUP 4 /* pages per mirror */
#define NGROUPS (NPAGES / GROUP)
#define WORDS (PAGE / 8)

#if defined(__SANITIZE_THREAD__)
#define DEFAULT_DMAS 20000 /* every 4 KiB copy and check is instrumented */
#elif defined(__SANITIZE_ADDRESS__)
#define DEFAULT_DMAS 200000
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DEFAULT_DMAS 20000
#elif __has_feature(address_sanitizer)
#define DEFAULT_DMAS 200000
#endif
#endif
#ifndef DEFAULT_DMAS
#define DEFAULT_DMAS 1000000
#endif

struct race {
	struct uiommu_ctx *ctx;
	struct uiommu_mm *mm;
	struct uiommu_tce_table *tbl;
	/* The emulated device's run: its PHB, PE and device, on window 0 of the PE. */
	bool via_dev;
	struct uiommu_phb *phb;
	struct uiommu_pe *pe;
	struct uiommu_dev *dev;
	int fd;
	uint64_t region_hpa;
	char *lib_hva; /* the library's mapping (to find a page's current hpa) */
	char *ua;      /* this process's own mapping, the mirrored one */

	pthread_mutex_t group_lock[NGROUPS];
	struct uiommu_mirror *mirror[NGROUPS]; /* under group_lock */

	_Atomic uint64_t remove_epoch[NPAGES]; /* odd while a MADV_REMOVE of the page runs */
	_Atomic bool stop;

	/* device thread */
	uint64_t devgen[NPAGES], wepoch[NPAGES];
	_Atomic uint64_t dmas;
	uint64_t reads, writes, faults_resolved, faults_failed, zero_reads;
	uint64_t stale, torn, poisoned;
	/* cpu threads */
	_Atomic uint64_t munmaps, madv_dontneed, madv_remove, migrations, migrate_refused;
	_Atomic uint64_t tce_after_munmap, not_unmapped;
};

static uint64_t pattern(uint64_t page, uint64_t gen)
{
	return gen ? (page << 40) | gen : 0;
}

static uint64_t ioba_of(uint64_t page)
{
	return page * PAGE;
}

static int bind_group(struct race *r, int g)
{
	int ret = uiommu_mirror_new(r->mm, r->ua + (uint64_t)g * GROUP * PAGE, GROUP * PAGE, 0,
				    &r->mirror[g]);

	if (ret)
		return ret;
	return uiommu_mirror_bind(r->mirror[g], r->tbl, ioba_of((uint64_t)g * GROUP),
				  UIOMMU_MIRROR_BIND_FAULT);
}

/*
 * The emulated device's fault handler (fault mode, as a GPU's): a poisoned
 * hpa is counted and not retried; a missing TCE is resolved by the mirror.
 */
static int dev_fault(void *opaque, struct uiommu_dev *dev, const struct uiommu_dma_fault *f)
{
	struct race *r = opaque;

	(void)dev;
	if (f->reason == UIOMMU_DMA_FAULT_BAD_HPA) {
		r->poisoned++;
		return UIOMMU_DEV_FAULT_ABORT;
	}
	if (uiommu_mm_handle_fault(r->mm, r->tbl, f->ioba)) {
		r->faults_failed++;
		return UIOMMU_DEV_FAULT_ABORT;
	}
	r->faults_resolved++;
	return UIOMMU_DEV_FAULT_RETRY;
}

/* One DMA of a whole page: 0, -EFAULT (no translation), -ENXIO (a poisoned hpa). */
static int dma_page(struct race *r, uint64_t page, uint64_t *buf, bool write)
{
	unsigned int prot;
	uiommu_mm_dma_begin(r->mm);
	uint64_t hpa;
	void *p;
	int ret = uiommu_tce_table_translate(r->tbl, ioba_of(page), &hpa, &prot);

	if (!ret) {
		if (uiommu_hpa_to_hva(r->ctx, hpa, PAGE, &p))
			ret = -ENXIO;
		else if (write)
			memcpy(p, buf, PAGE);
		else
			memcpy(buf, p, PAGE);
	}
	uiommu_mm_dma_end(r->mm);
	return ret;
}

/* A DMA with fault mode: on a TCE fault, resolve and retry a few times. */
static int dma(struct race *r, uint64_t page, uint64_t *buf, bool write)
{
	if (r->via_dev) {
		/* Unwrapped: the device enters the address space's accesses by itself. */
		if (write)
			return uiommu_dev_dma_write(r->dev, ioba_of(page), buf, PAGE, NULL);
		return uiommu_dev_dma_read(r->dev, ioba_of(page), buf, PAGE, NULL);
	}
	for (int tries = 0; tries < 8; tries++) {
		int ret = dma_page(r, page, buf, write);

		if (ret != -EFAULT)
			return ret;
		if (uiommu_mm_handle_fault(r->mm, r->tbl, ioba_of(page))) {
			r->faults_failed++;
			return -EFAULT;
		}
		r->faults_resolved++;
	}
	return -EFAULT;
}

static void *device_thread(void *arg)
{
	struct race *r = arg;
	uint64_t rng = test_seed() ^ 0xdec1ce, buf[WORDS], target = DEFAULT_DMAS;
	const char *env = getenv("UIOMMU_RACE_DMAS");

	if (env)
		target = strtoull(env, NULL, 0);
	while (atomic_load_explicit(&r->dmas, memory_order_relaxed) < target) {
		uint64_t x = test_rand(&rng), page = x % NPAGES;
		bool write = (x >> 32) & 1;
		int ret;

		atomic_fetch_add_explicit(&r->dmas, 1, memory_order_relaxed);
		if (write) {
			uint64_t gen = r->devgen[page] + 1, e = atomic_load(&r->remove_epoch[page]);

			for (size_t w = 0; w < WORDS; w++)
				buf[w] = pattern(page, gen);
			ret = dma(r, page, buf, true);
			if (!ret) {
				r->devgen[page] = gen;
				r->wepoch[page] = e;
				r->writes++;
			}
		} else {
			ret = dma(r, page, buf, false);
			if (!ret) {
				uint64_t want = pattern(page, r->devgen[page]);
				bool all_want = true, all_zero = true;

				for (size_t w = 0; w < WORDS; w++) {
					all_want &= buf[w] == want;
					all_zero &= buf[w] == 0;
				}
				r->reads++;
				if (all_want)
					continue;
				if (all_zero && (atomic_load(&r->remove_epoch[page]) != r->wepoch[page] ||
						 (r->wepoch[page] & 1))) {
					/* A MADV_REMOVE emptied it since the last write: legitimate. */
					r->devgen[page] = 0;
					r->wepoch[page] = atomic_load(&r->remove_epoch[page]);
					r->zero_reads++;
					continue;
				}
				if ((buf[0] >> 40) == page && buf[0] && all_want == false) {
					bool uniform = true;

					for (size_t w = 1; w < WORDS; w++)
						uniform &= buf[w] == buf[0];
					if (uniform) {
						r->stale++;
						continue;
					}
				}
				r->torn++;
			}
		}
		if (ret == -ENXIO)
			r->poisoned++;
	}
	atomic_store(&r->stop, true);
	return NULL;
}

/*
 * Pace a CPU thread: a short sleep between operations, so that the device
 * keeps most of a small machine and every kind of event keeps coming.
 */
static bool paced(struct race *r, uint64_t *n)
{
	if ((*n)++)
		usleep(100);
	return !atomic_load(&r->stop);
}

static void *remap_thread(void *arg)
{
	struct race *r = arg;
	uint64_t rng = test_seed() ^ 0x4e3a9;

	uint64_t next = 0;

	while (paced(r, &next)) {
		uint64_t page = test_rand(&rng) % NPAGES;
		int g = (int)(page / GROUP);
		char *p = r->ua + page * PAGE;

		pthread_mutex_lock(&r->group_lock[g]);
		/*
		 * The page is unmapped and mapped again in one mmap(MAP_FIXED) over
		 * it: the kernel unmaps the old mapping first, with the same
		 * UFFD_EVENT_UNMAP as munmap(2), and the range never has a hole.
		 * A munmap() then mmap() left one, and another thread's mmap (the
		 * sanitizers' runtime maps its TLS bookkeeping in 4 KiB blocks)
		 * could land there, to be replaced and unmapped by this thread.
		 */
		assert_true(mmap(p, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, r->fd,
				 (off_t)(page * PAGE)) == p);
		atomic_fetch_add(&r->munmaps, 1);
		/*
		 * The unmap has returned: the TCE must be gone for the next access,
		 * and the mirror must know its range was unmapped, or a fault would
		 * repopulate it from the new mapping (which exists already). The
		 * second check catches a missed UNMAP every time, the first only
		 * when a fault wins the window before it.
		 */
		{
			struct uiommu_mirror_info info;
			unsigned int prot;
			uint64_t hpa;

			uiommu_mm_dma_begin(r->mm);
			if (!uiommu_tce_table_translate(r->tbl, ioba_of(page), &hpa, &prot))
				atomic_fetch_add(&r->tce_after_munmap, 1);
			uiommu_mm_dma_end(r->mm);
			assert_int_equal(uiommu_mirror_get_info(r->mirror[g], &info), 0);
			if (!info.unmapped)
				atomic_fetch_add(&r->not_unmapped, 1);
		}
		/* The range was unmapped: the driver makes a new mirror (Xe: unbind, rebind). */
		assert_int_equal(uiommu_mirror_free(r->mirror[g]), 0);
		assert_int_equal(bind_group(r, g), 0);
		pthread_mutex_unlock(&r->group_lock[g]);
	}
	return NULL;
}

static void *madvise_thread(void *arg)
{
	struct race *r = arg;
	uint64_t rng = test_seed() ^ 0x3ad1;

	uint64_t next = 0;

	while (paced(r, &next)) {
		uint64_t x = test_rand(&rng), page = x % NPAGES;
		int g = (int)(page / GROUP);

		pthread_mutex_lock(&r->group_lock[g]); /* not while it is unmapped */
		if ((x >> 32) % 4 == 0) {
			atomic_fetch_add(&r->remove_epoch[page], 1);
			assert_int_equal(madvise(r->ua + page * PAGE, PAGE, MADV_REMOVE), 0);
			atomic_fetch_add(&r->remove_epoch[page], 1);
			atomic_fetch_add(&r->madv_remove, 1);
		} else {
			assert_int_equal(madvise(r->ua + page * PAGE, PAGE, MADV_DONTNEED), 0);
			atomic_fetch_add(&r->madv_dontneed, 1);
		}
		pthread_mutex_unlock(&r->group_lock[g]);
	}
	return NULL;
}

static void *migrate_thread(void *arg)
{
	struct race *r = arg;
	uint64_t rng = test_seed() ^ 0x919;

	uint64_t next = 0;

	while (paced(r, &next)) {
		uint64_t page = test_rand(&rng) % NPAGES, hpa, new_hpa;
		int ret;

		assert_int_equal(uiommu_hva_to_hpa(r->ctx, r->lib_hva + page * PAGE, &hpa), 0);
		ret = uiommu_ram_migrate(r->ctx, hpa, &new_hpa);
		if (ret)
			atomic_fetch_add(&r->migrate_refused, 1);
		else
			atomic_fetch_add(&r->migrations, 1);
	}
	return NULL;
}

/* Window 0 of a PE, with a device in fault mode (the window's bus addresses start at 0). */
static void dev_rig_new(struct race *r)
{
	struct uiommu_dev_config dcfg = { .size = sizeof(dcfg), .bdf = UIOMMU_PCI_BDF(1, 0, 0),
					  .fault_fn = dev_fault, .fault_opaque = r };
	struct uiommu_tce_table_info info = { .size = sizeof(info) };
	struct uiommu_phb_config cfg;
	struct uiommu_table_group *grp;

	uiommu_phb_config_default(&cfg, 0);
	assert_int_equal(uiommu_phb_new(r->ctx, &cfg, &r->phb), 0);
	assert_int_equal(uiommu_pe_new(r->phb, 2, &r->pe), 0);
	assert_int_equal(uiommu_dev_new(r->pe, &dcfg, &r->dev), 0);
	grp = uiommu_pe_table_group(r->pe);
	assert_int_equal(uiommu_table_group_take_ownership(grp), 0);
	assert_int_equal(uiommu_table_group_create_table(grp, 0, 12, 1ULL << 30, 2, &r->tbl), 0);
	assert_int_equal(uiommu_table_group_set_window(grp, 0, r->tbl), 0);
	assert_int_equal(uiommu_tce_table_info(r->tbl, &info), 0);
	assert_int_equal(info.bus_offset, 0); /* ioba_of() */
}

static void dev_rig_free(struct race *r)
{
	struct uiommu_table_group *grp = uiommu_pe_table_group(r->pe);

	assert_int_equal(uiommu_table_group_unset_window(grp, 0), 0);
	assert_int_equal(uiommu_table_group_release_ownership(grp), 0);
	assert_int_equal(uiommu_dev_free(r->dev), 0);
	assert_int_equal(uiommu_pe_free(r->pe), 0);
	assert_int_equal(uiommu_phb_free(r->phb), 0);
}

static void race_run(bool via_dev)
{
	static struct race r;
	struct uiommu_mm_stats st;
	pthread_t dev, th[3];
	void *lib;

	memset(&r, 0, sizeof(r));
	r.via_dev = via_dev;
	r.ctx = test_ctx_new();
	assert_int_equal(uiommu_mm_new(r.ctx, UIOMMU_MM_USERFAULTFD, &r.mm), 0);
	r.fd = memfd_create("mirror-race", MFD_CLOEXEC);
	assert_true(r.fd >= 0);
	assert_int_equal(ftruncate(r.fd, NPAGES * PAGE), 0);
	assert_int_equal(uiommu_ram_add(r.ctx, r.fd, 0, NPAGES * PAGE, NULL, &r.region_hpa), 0);
	assert_int_equal(uiommu_hpa_to_hva(r.ctx, r.region_hpa, NPAGES * PAGE, &lib), 0);
	r.lib_hva = lib;
	r.ua = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, 0);
	assert_true(r.ua != MAP_FAILED);
	if (via_dev)
		dev_rig_new(&r);
	else
		assert_int_equal(uiommu_tce_table_new(r.ctx, 0, 12, 1ULL << 30, 2, &r.tbl), 0);
	for (int g = 0; g < NGROUPS; g++) {
		pthread_mutex_init(&r.group_lock[g], NULL);
		assert_int_equal(bind_group(&r, g), 0);
	}

	assert_int_equal(pthread_create(&dev, NULL, device_thread, &r), 0);
	assert_int_equal(pthread_create(&th[0], NULL, remap_thread, &r), 0);
	assert_int_equal(pthread_create(&th[1], NULL, madvise_thread, &r), 0);
	assert_int_equal(pthread_create(&th[2], NULL, migrate_thread, &r), 0);
	pthread_join(dev, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);

	assert_int_equal(uiommu_mm_get_stats(r.mm, &st), 0);
	printf("race (%s): %llu DMAs (%llu reads checked, %llu writes, %llu reads of a removed page), "
	       "%llu faults resolved, %llu failed\n",
	       via_dev ? "uiommu_dev, unwrapped" : "bracketed by the device model",
	       (unsigned long long)r.dmas, (unsigned long long)r.reads,
	       (unsigned long long)r.writes, (unsigned long long)r.zero_reads,
	       (unsigned long long)r.faults_resolved, (unsigned long long)r.faults_failed);
	printf("race: cpu: %llu unmap+remap, %llu MADV_DONTNEED, %llu MADV_REMOVE, "
	       "%llu migrations (%llu refused)\n",
	       (unsigned long long)r.munmaps, (unsigned long long)r.madv_dontneed,
	       (unsigned long long)r.madv_remove, (unsigned long long)r.migrations,
	       (unsigned long long)r.migrate_refused);
	printf("race: kernel events seen: %llu UNMAP, %llu REMOVE; invalidations: %llu UNMAP, "
	       "%llu CLEAR, %llu MIGRATE; %llu device-access holds\n",
	       (unsigned long long)st.events[0], (unsigned long long)st.events[1],
	       (unsigned long long)st.invalidations[UIOMMU_MMU_NOTIFY_UNMAP],
	       (unsigned long long)st.invalidations[UIOMMU_MMU_NOTIFY_CLEAR],
	       (unsigned long long)st.invalidations[UIOMMU_MMU_NOTIFY_MIGRATE],
	       (unsigned long long)st.dma_holds);
	printf("race: stale reads %llu, torn reads %llu, poisoned accesses %llu, TCEs left after "
	       "munmap %llu, mirrors not unmapped %llu\n",
	       (unsigned long long)r.stale, (unsigned long long)r.torn,
	       (unsigned long long)r.poisoned, (unsigned long long)r.tce_after_munmap,
	       (unsigned long long)r.not_unmapped);

	assert_true(r.reads > 0 && r.writes > 0);
	assert_int_equal(r.stale, 0);
	assert_int_equal(r.torn, 0);
	assert_int_equal(r.poisoned, 0);
	assert_int_equal(r.tce_after_munmap, 0);
	assert_int_equal(r.not_unmapped, 0);
	/* Every event the process caused was seen, and became an invalidation. */
	assert_int_equal(st.events[0], r.munmaps);
	assert_int_equal(st.events[1], r.madv_dontneed + r.madv_remove);
	assert_int_equal(st.events[4], 0);
	assert_true(st.invalidations[UIOMMU_MMU_NOTIFY_UNMAP] >= r.munmaps);
	assert_true(st.invalidations[UIOMMU_MMU_NOTIFY_CLEAR] >= r.madv_dontneed + r.madv_remove);

	for (int g = 0; g < NGROUPS; g++)
		assert_int_equal(uiommu_mirror_free(r.mirror[g]), 0);
	assert_int_equal(uiommu_mm_free(r.mm), 0);
	if (via_dev)
		dev_rig_free(&r);
	assert_null(uiommu_tce_table_unref(r.tbl));
	munmap(r.ua, NPAGES * PAGE);
	assert_int_equal(uiommu_ram_remove(r.ctx, r.region_hpa), 0);
	close(r.fd);
	test_ctx_free(r.ctx);
}

static void test_mirror_race(void **state)
{
	(void)state;
	race_run(false);
}

static void test_mirror_race_device(void **state)
{
	(void)state;
	race_run(true);
}

/*
 * One race per process (--device: the emulated device's), as two tests
 * that can run side by side. (They were split for a crash in the
 * sanitizers' __tls_get_addr interception, which was the remap's hole:
 * see remap_thread().)
 */
int main(int argc, char **argv)
{
	const struct CMUnitTest bracketed[] = {
		cmocka_unit_test(test_mirror_race),
	};
	const struct CMUnitTest device[] = {
		cmocka_unit_test(test_mirror_race_device),
	};
	bool via_dev = argc > 1 && !strcmp(argv[1], "--device");
	struct uiommu_ctx *ctx;
	struct uiommu_mm *mm;

	test_require_memfd();
	ctx = test_ctx_new();
	if (uiommu_mm_new(ctx, UIOMMU_MM_USERFAULTFD, &mm)) {
		fprintf(stderr, "userfaultfd with non-cooperative events is not available: skipping\n");
		uiommu_ctx_free(ctx);
		return TEST_SKIP_EXIT;
	}
	uiommu_mm_free(mm);
	uiommu_ctx_free(ctx);
	if (via_dev)
		return cmocka_run_group_tests(device, NULL, NULL);
	return cmocka_run_group_tests(bracketed, NULL, NULL);
}
