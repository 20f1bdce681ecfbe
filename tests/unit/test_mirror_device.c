// SPDX-License-Identifier: BSD-3-Clause
/*
 * Mirrors and emulated devices (device.h) on a PE's DMA window: the device
 * reads and writes through a bound mirror, fault mode repopulates an
 * invalidated range from the device's fault handler, the TCE cache's strict
 * mode proves that after an invalidation returns no device reaches the old
 * pages, a device without fault mode faults as on any bad DMA, migration
 * moves the device to the new hpa, (with userfaultfd) munmap ends the
 * device's access, and a device that does not bracket its DMA at all is
 * held while the kernel takes a page away, by the DMA hook the binding
 * registered on the window's table.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "test_util.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define PAGE 4096ULL

struct rig {
	struct uiommu_ctx *ctx;
	struct uiommu_phb *phb;
	struct uiommu_pe *pe;
	struct uiommu_dev *dev;
	struct uiommu_table_group *grp;
	struct uiommu_tce_table *tbl;
	struct uiommu_tce_table_info info;
	struct uiommu_mm *mm;
	unsigned int faults_handled;
};

/* The device's fault handler: a GPU page fault, resolved by the mirror. */
static int fault_handler(void *opaque, struct uiommu_dev *dev, const struct uiommu_dma_fault *f)
{
	struct rig *r = opaque;

	(void)dev;
	if (uiommu_mm_handle_fault(r->mm, r->tbl, f->ioba))
		return UIOMMU_DEV_FAULT_ABORT;
	r->faults_handled++;
	return UIOMMU_DEV_FAULT_RETRY;
}

static void rig_new(struct rig *r, unsigned int mm_flags)
{
	struct uiommu_phb_config cfg;
	struct uiommu_dev_config dcfg = { .size = sizeof(dcfg), .bdf = UIOMMU_PCI_BDF(1, 0, 0),
					  .fault_fn = fault_handler, .fault_opaque = r };

	memset(r, 0, sizeof(*r));
	r->ctx = test_ctx_new();
	uiommu_phb_config_default(&cfg, 0);
	assert_int_equal(uiommu_phb_new(r->ctx, &cfg, &r->phb), 0);
	assert_int_equal(uiommu_pe_new(r->phb, 2, &r->pe), 0);
	assert_int_equal(uiommu_dev_new(r->pe, &dcfg, &r->dev), 0);
	r->grp = uiommu_pe_table_group(r->pe);
	assert_int_equal(uiommu_table_group_take_ownership(r->grp), 0);
	assert_int_equal(uiommu_table_group_create_table(r->grp, 1, 12, 1ULL << 30, 2, &r->tbl), 0);
	assert_int_equal(uiommu_table_group_set_window(r->grp, 1, r->tbl), 0);
	r->info.size = sizeof(r->info);
	assert_int_equal(uiommu_tce_table_info(r->tbl, &r->info), 0);
	assert_int_equal(uiommu_pe_set_tce_cache_mode(r->pe, UIOMMU_TCE_CACHE_STRICT), 0);
	assert_int_equal(uiommu_mm_new(r->ctx, mm_flags, &r->mm), 0);
}

static void rig_free(struct rig *r)
{
	assert_int_equal(uiommu_mm_free(r->mm), 0);
	assert_int_equal(uiommu_table_group_unset_window(r->grp, 1), 0);
	uiommu_tce_table_unref(r->tbl);
	assert_int_equal(uiommu_table_group_release_ownership(r->grp), 0);
	assert_int_equal(uiommu_dev_free(r->dev), 0);
	assert_int_equal(uiommu_pe_free(r->pe), 0);
	assert_int_equal(uiommu_phb_free(r->phb), 0);
	test_ctx_free(r->ctx);
}

/* A device DMA, bracketed as the device model of a mirrored window must. */
static int dev_read(struct rig *r, uint64_t off, void *buf, size_t len,
		    struct uiommu_dma_fault *f)
{
	int ret;

	uiommu_mm_dma_begin(r->mm);
	ret = uiommu_dev_dma_read(r->dev, r->info.bus_offset + off, buf, len, f);
	uiommu_mm_dma_end(r->mm);
	return ret;
}

static int dev_write(struct rig *r, uint64_t off, const void *buf, size_t len)
{
	int ret;

	uiommu_mm_dma_begin(r->mm);
	ret = uiommu_dev_dma_write(r->dev, r->info.bus_offset + off, buf, len, NULL);
	uiommu_mm_dma_end(r->mm);
	return ret;
}

static void test_device_fault_mode(void **state)
{
	struct uiommu_dma_fault f = { .size = sizeof(f) };
	struct uiommu_mirror *m;
	struct rig r;
	uint64_t hpa, new_hpa;
	char *ram, buf[64];

	(void)state;
	rig_new(&r, 0);
	assert_int_equal(uiommu_ram_create(r.ctx, 1 * MiB, &hpa, (void **)&ram), 0);
	assert_int_equal(uiommu_mirror_new(r.mm, ram, 64 * KiB, 0, &m), 0);
	assert_int_equal(uiommu_mirror_bind(m, r.tbl, r.info.bus_offset, UIOMMU_MIRROR_BIND_FAULT), 0);

	/* Never populated: the first DMA faults, the handler populates, it is retried. */
	strcpy(ram + 5 * PAGE + 8, "from the cpu");
	assert_int_equal(dev_read(&r, 5 * PAGE + 8, buf, 13, NULL), 0);
	assert_string_equal(buf, "from the cpu");
	assert_int_equal(r.faults_handled, 1);
	assert_int_equal(dev_write(&r, 7 * PAGE, "from the device", 16), 0);
	assert_string_equal(ram + 7 * PAGE, "from the device");

	/*
	 * Strict mode: the read above cached the TCE. After the invalidation
	 * returns, a DMA must not reach the page: not from the cache (that would
	 * be STALE_TCE: a clear without a kill), not from the table.
	 */
	assert_int_equal(uiommu_dev_set_fault_handler(r.dev, NULL, NULL), 0);
	assert_int_equal(uiommu_mm_invalidate(r.mm, (uintptr_t)ram + 5 * PAGE, PAGE,
					      UIOMMU_MMU_NOTIFY_CLEAR), 0);
	assert_int_equal(dev_read(&r, 5 * PAGE + 8, buf, 13, &f), -EFAULT);
	assert_int_equal(f.reason, UIOMMU_DMA_FAULT_INVALID_TCE);
	/* Without fault mode the DMA stays a plain fault; with it, it resolves. */
	assert_int_equal(dev_read(&r, 5 * PAGE + 8, buf, 13, &f), -EFAULT);
	assert_int_equal(uiommu_dev_set_fault_handler(r.dev, fault_handler, &r), 0);
	assert_int_equal(dev_read(&r, 5 * PAGE + 8, buf, 13, NULL), 0);
	assert_int_equal(r.faults_handled, 2);

	/* Migration: the device ends up on the new hpa (a stale one would be BAD_HPA). */
	assert_int_equal(uiommu_ram_migrate(r.ctx, hpa + 5 * PAGE, &new_hpa), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(dev_read(&r, 5 * PAGE + 8, buf, 13, NULL), 0);
	assert_string_equal(buf, "from the cpu");
	assert_int_equal(r.faults_handled, 3);
	/* A DMA across the migrated page and its neighbours works too. */
	assert_int_equal(dev_read(&r, 4 * PAGE, buf, sizeof(buf), NULL), 0);
	{
		char big[3 * PAGE];

		assert_int_equal(dev_read(&r, 4 * PAGE, big, sizeof(big), NULL), 0);
		assert_string_equal(big + PAGE + 8, "from the cpu");
	}

	/* Outside the bound range: not recoverable, a bad DMA. */
	assert_int_equal(dev_read(&r, 64 * KiB, buf, 8, &f), -EFAULT);
	assert_int_equal(f.reason, UIOMMU_DMA_FAULT_INVALID_TCE);

	assert_int_equal(uiommu_mirror_free(m), 0);
	assert_int_equal(dev_read(&r, 7 * PAGE, buf, 8, &f), -EFAULT);
	assert_int_equal(uiommu_ram_remove(r.ctx, hpa), 0);
	rig_free(&r);
}

/* Can this process follow the kernel (UIOMMU_MM_USERFAULTFD)? */
static bool uffd_available(void)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_mm *probe;
	bool ok = !uiommu_mm_new(ctx, UIOMMU_MM_USERFAULTFD, &probe);

	if (ok)
		uiommu_mm_free(probe);
	uiommu_ctx_free(ctx);
	return ok;
}

/*
 * The rig following the kernel, and 64 KiB of this process's own mapping
 * of a 256 KiB RAM region's memfd (*@ret_fd, at *@ret_hpa).
 */
static char *uffd_rig_new(struct rig *r, int *ret_fd, uint64_t *ret_hpa)
{
	char *ua;

	rig_new(r, UIOMMU_MM_USERFAULTFD);
	*ret_fd = memfd_create("mirror-device", MFD_CLOEXEC);
	assert_true(*ret_fd >= 0);
	assert_int_equal(ftruncate(*ret_fd, 256 * KiB), 0);
	assert_int_equal(uiommu_ram_add(r->ctx, *ret_fd, 0, 256 * KiB, NULL, ret_hpa), 0);
	ua = mmap(NULL, 64 * KiB, PROT_READ | PROT_WRITE, MAP_SHARED, *ret_fd, 0);
	assert_true(ua != MAP_FAILED);
	return ua;
}

static void test_device_munmap(void **state)
{
	struct uiommu_dma_fault f = { .size = sizeof(f) };
	struct uiommu_mirror *m;
	struct rig r;
	uint64_t hpa;
	char *ua, buf[16];
	int fd;

	(void)state;
	if (!uffd_available())
		skip();
	ua = uffd_rig_new(&r, &fd, &hpa);
	assert_int_equal(uiommu_mirror_new(r.mm, ua, 64 * KiB, 0, &m), 0);
	assert_int_equal(uiommu_mirror_bind(m, r.tbl, r.info.bus_offset, UIOMMU_MIRROR_BIND_FAULT), 0);
	strcpy(ua + 3 * PAGE, "mapped");
	assert_int_equal(dev_read(&r, 3 * PAGE, buf, 7, NULL), 0);
	assert_string_equal(buf, "mapped");

	/* munmap returns: the device's next DMA faults, and the fault is not recoverable. */
	assert_int_equal(munmap(ua, 64 * KiB), 0);
	assert_int_equal(dev_read(&r, 3 * PAGE, buf, 7, &f), -EFAULT);
	assert_int_equal(f.reason, UIOMMU_DMA_FAULT_INVALID_TCE);

	assert_int_equal(uiommu_mirror_free(m), 0);
	assert_int_equal(uiommu_ram_remove(r.ctx, hpa), 0);
	close(fd);
	rig_free(&r);
}

/* A notifier whose callback stops the monitor inside its invalidation until told to go. */
struct blocker {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool armed, inside, go;
};

static bool blocker_invalidate(struct uiommu_interval_notifier *sub,
			       const struct uiommu_mmu_range *range, uint64_t cur_seq)
{
	struct blocker *b = uiommu_interval_notifier_opaque(sub);

	(void)range;
	pthread_mutex_lock(&b->lock);
	uiommu_interval_set_seq(sub, cur_seq);
	if (b->armed) {
		b->inside = true;
		pthread_cond_broadcast(&b->cond);
		while (!b->go)
			pthread_cond_wait(&b->cond, &b->lock);
	}
	pthread_mutex_unlock(&b->lock);
	return true;
}

static const struct uiommu_interval_notifier_ops blocker_ops = {
	.invalidate = blocker_invalidate,
};

struct dma_arg {
	struct rig *r;
	struct uiommu_dma_fault f;
	char buf[8];
	int ret;
	_Atomic bool done;
};

static void *unwrapped_read(void *arg)
{
	struct dma_arg *a = arg;

	a->f.size = sizeof(a->f);
	a->ret = uiommu_dev_dma_read(a->r->dev, a->r->info.bus_offset, a->buf, sizeof(a->buf),
				     &a->f);
	atomic_store(&a->done, true);
	return NULL;
}

static void *remove_page(void *arg)
{
	assert_int_equal(madvise(arg, PAGE, MADV_REMOVE), 0);
	return NULL;
}

/*
 * The monitor has read a MADV_REMOVE of page 0 (the kernel goes on to
 * punch it out of the file) and is inside its invalidation, stopped by a
 * notifier that comes before the mirror's, so the page's TCE is still
 * there. A device that never calls uiommu_mm_dma_begin() DMAs from the
 * page: it must wait (the table's DMA hook holds it with the address
 * space's accesses) and, once the invalidation is done, find the TCE gone.
 * Without the hook it would read the page while the kernel takes it.
 */
static void test_device_unwrapped_hold(void **state)
{
	struct blocker b = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	struct uiommu_interval_notifier *sub;
	struct dma_arg a = { 0 };
	struct uiommu_mirror *m;
	pthread_t madv, dma;
	struct rig r;
	uint64_t hpa;
	char *ua;
	int fd;

	(void)state;
	if (!uffd_available())
		skip();
	ua = uffd_rig_new(&r, &fd, &hpa);
	assert_int_equal(uiommu_dev_set_fault_handler(r.dev, NULL, NULL), 0);
	/* Same start, smaller last: the blocker's callback runs before the mirror's. */
	assert_int_equal(uiommu_interval_notifier_insert(r.mm, (uintptr_t)ua, PAGE, &blocker_ops,
							 &b, &sub), 0);
	assert_int_equal(uiommu_mirror_new(r.mm, ua, 64 * KiB, 0, &m), 0);
	assert_int_equal(uiommu_mirror_bind(m, r.tbl, r.info.bus_offset, 0), 0);
	assert_int_equal(uiommu_mirror_populate(m), 0);
	memset(ua, 9, PAGE);
	a.r = &r;
	assert_null(unwrapped_read(&a));
	assert_int_equal(a.ret, 0);
	assert_int_equal(a.buf[0], 9);

	b.armed = true;
	assert_int_equal(pthread_create(&madv, NULL, remove_page, ua), 0);
	pthread_mutex_lock(&b.lock);
	while (!b.inside)
		pthread_cond_wait(&b.cond, &b.lock);
	pthread_mutex_unlock(&b.lock);
	/* The monitor holds the address space's device accesses now. */
	a = (struct dma_arg){ .r = &r };
	assert_int_equal(pthread_create(&dma, NULL, unwrapped_read, &a), 0);
	for (int i = 0; i < 100000 && !atomic_load(&a.done); i++)
		sched_yield();
	assert_false(atomic_load(&a.done));
	pthread_mutex_lock(&b.lock);
	b.go = true;
	pthread_cond_broadcast(&b.cond);
	pthread_mutex_unlock(&b.lock);
	pthread_join(dma, NULL);
	pthread_join(madv, NULL);
	/* It ran after the invalidation: the TCE was gone. */
	assert_int_equal(a.ret, -EFAULT);
	assert_int_equal(a.f.reason, UIOMMU_DMA_FAULT_INVALID_TCE);

	assert_int_equal(uiommu_mirror_free(m), 0);
	assert_int_equal(uiommu_interval_notifier_remove(sub), 0);
	munmap(ua, 64 * KiB);
	assert_int_equal(uiommu_ram_remove(r.ctx, hpa), 0);
	close(fd);
	rig_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_device_fault_mode),
		cmocka_unit_test(test_device_munmap),
		cmocka_unit_test(test_device_unwrapped_hold),
	};

	test_require_memfd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
