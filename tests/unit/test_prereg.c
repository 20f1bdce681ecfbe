// SPDX-License-Identifier: BSD-3-Clause
/*
 * Address spaces and preregistered memory (uiommu/prereg.h): every
 * documented error, the process address space and fork(), named address
 * spaces a thread adopts, the region's page shift from its alignment and
 * backing (ordinary memory, huge pages, 4 KiB pages on a 64 KiB host), a
 * registration spanning two region mappings, exact-match sharing, the
 * mapped sentinel, lock-free lookups against a model, and fault injection.
 */
#include <pthread.h>
#include <sys/wait.h>

#include "vfio_util.h"

static struct uiommu_prereg_info info_of(const struct uiommu_prereg *mem)
{
	struct uiommu_prereg_info info = { .size = sizeof(info) };

	assert_int_equal(uiommu_prereg_info(mem, &info), 0);
	return info;
}

#define UA(p) ((uint64_t)(uintptr_t)(p))

static uint64_t hpa_of_test(struct uiommu_ctx *ctx, const void *hva)
{
	uint64_t hpa = 0;

	assert_int_equal(uiommu_hva_to_hpa(ctx, hva, &hpa), 0);
	return hpa;
}

/* ---- address spaces ---- */

struct use_arg {
	struct uiommu_ctx *ctx;
	struct uiommu_mm *mm;
};

static void *use_thread(void *arg)
{
	struct uiommu_ctx *ctx = ((struct use_arg *)arg)->ctx;
	struct uiommu_mm *mm = ((struct use_arg *)arg)->mm;

	/* Another thread is in the process address space until it uses one. */
	assert_ptr_not_equal(uiommu_mm_current(ctx), mm);
	assert_int_equal(uiommu_mm_use(mm), 0);
	assert_ptr_equal(uiommu_mm_current(ctx), mm);
	assert_int_equal(uiommu_mm_unuse(mm), 0);
	return NULL;
}

static void test_address_spaces(void **state)
{
	struct uiommu_ctx *ctx = vt_ctx_new(16), *ctx2 = vt_ctx_new(16);
	struct uiommu_mm *proc, *mm = NULL, *mm2 = NULL, *spare = NULL;
	pthread_t th;
	pid_t pid;
	int status;

	(void)state;
	assert_null(uiommu_mm_current(NULL));
	proc = uiommu_mm_current(ctx);
	assert_non_null(proc);
	assert_ptr_equal(uiommu_mm_current(ctx), proc);
	assert_ptr_not_equal(uiommu_mm_current(ctx2), proc);
	/* The process address space is the context's: it cannot be freed. */
	assert_int_equal(uiommu_mm_free(proc), -EINVAL);
	assert_int_equal(uiommu_mm_free(NULL), 0);

	assert_int_equal(uiommu_mm_new(NULL, 0, &mm), -EINVAL);
	assert_int_equal(uiommu_mm_new(ctx, 0, NULL), -EINVAL);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_ADDRESS_SPACES, 1), 0);
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);
	assert_int_equal(uiommu_mm_new(ctx, 0, &spare), -ENOSPC);
	assert_int_equal(uiommu_mm_new(ctx2, 0, &mm2), 0);
	assert_int_equal(uiommu_ctx_inject_fault(ctx2, 1, UIOMMU_FAULT_HEAP), 0);
	assert_int_equal(uiommu_mm_new(ctx2, 0, &spare), -ENOMEM);
	assert_int_equal(uiommu_ctx_inject_fault(ctx2, 0, 0), 0);
	assert_int_equal(ctx_usage(ctx2, UIOMMU_RES_ADDRESS_SPACES), 1);

	/* Using one: this thread acts in it for its context only. */
	assert_int_equal(uiommu_mm_use(NULL), -EINVAL);
	assert_int_equal(uiommu_mm_unuse(mm), -EINVAL);
	assert_int_equal(uiommu_mm_use(mm), 0);
	assert_ptr_equal(uiommu_mm_current(ctx), mm);
	assert_ptr_not_equal(uiommu_mm_current(ctx2), mm2);
	assert_int_equal(uiommu_mm_use(mm), -EBUSY);
	assert_int_equal(uiommu_mm_use(mm2), -EBUSY);
	assert_int_equal(uiommu_mm_free(mm), -EBUSY); /* in use */
	assert_int_equal(pthread_create(&th, NULL, use_thread, &(struct use_arg){ ctx, mm }), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(uiommu_mm_unuse(mm2), -EINVAL);
	assert_int_equal(uiommu_mm_unuse(mm), 0);
	assert_ptr_equal(uiommu_mm_current(ctx), proc);

	/* A fork() child is in none of its parent's address spaces. */
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int bad = uiommu_mm_current(ctx) != NULL;

		bad |= uiommu_mm_use(mm) != -EPERM;
		_exit(bad);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* ... even one its forking thread was using. */
	assert_int_equal(uiommu_mm_use(mm), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(uiommu_mm_current(ctx) != NULL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(uiommu_mm_unuse(mm), 0);

	assert_int_equal(uiommu_mm_free(mm), 0);
	assert_int_equal(uiommu_mm_free(mm2), 0);
	test_ctx_free(ctx2);
	test_ctx_free(ctx);
}

/* ---- regions ---- */

static void test_prereg_errors(void **state)
{
	struct uiommu_ctx *ctx = vt_ctx_new(16);
	struct uiommu_mm *mm = uiommu_mm_current(ctx);
	struct uiommu_prereg *mem = NULL, *other = NULL;
	struct uiommu_prereg_info info;
	struct vt_ram ram;
	uint64_t hpa, locked;

	(void)state;
	vt_ram_new(ctx, 8 * MiB, 64 * KiB, &ram);
	locked = ctx_usage(ctx, UIOMMU_RES_LOCKED_BYTES);
	assert_int_equal(uiommu_prereg_new(NULL, UA(ram.hva), MiB, &mem), -EINVAL);
	assert_int_equal(uiommu_prereg_new(mm, UA(ram.hva), MiB, NULL), -EINVAL);
	assert_int_equal(uiommu_prereg_new(mm, UA(ram.hva) + 4096, MiB, &mem), -EINVAL);
	assert_int_equal(uiommu_prereg_new(mm, UA(ram.hva), MiB + 4096, &mem), -EINVAL);
	assert_int_equal(uiommu_prereg_new(mm, UA(ram.hva), 0, &mem), -EINVAL);
	assert_int_equal(uiommu_prereg_new(mm, ~0xffffULL, 128 * KiB, &mem), -EOVERFLOW);
	assert_int_equal(uiommu_prereg_new(mm, 0x10000, 64 * KiB, &mem), -EFAULT);
	/* Past the end of the mapping: -EFAULT, and the part that was pinned is not. */
	assert_int_equal(uiommu_prereg_new(mm, UA(ram.hva) + 7 * MiB, 2 * MiB, &mem), -EFAULT);
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_LOCKED_BYTES), locked);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_PREREG_REGIONS, 0), 0);
	assert_int_equal(uiommu_prereg_new(mm, UA(ram.hva), MiB, &mem), -ENOSPC);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_PREREG_REGIONS, 8), 0);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_LOCKED_BYTES, locked + 512 * KiB), 0);
	assert_int_equal(uiommu_prereg_new(mm, UA(ram.hva), MiB, &mem), -ENOMEM);
	assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_LOCKED_BYTES, 4 * GiB), 0);
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_LOCKED_BYTES), locked);
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_PREREG_REGIONS), 0);

	assert_int_equal(uiommu_prereg_new(mm, UA(ram.hva), MiB, &mem), 0);
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_LOCKED_BYTES), locked + MiB);
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_PREREG_REGIONS), 1);
	info = info_of(mem);
	assert_int_equal(info.ua, UA(ram.hva));
	assert_int_equal(info.length, MiB);
	assert_int_equal(info.used, 1);
	assert_int_equal(info.mapped, 1);
	assert_int_equal(info.locked_bytes, MiB);
	assert_int_equal(info.page_shift, 16);
	info.size = 8;
	assert_int_equal(uiommu_prereg_info(mem, &info), -EINVAL);
	assert_int_equal(uiommu_prereg_info(NULL, &info), -EINVAL);
	assert_int_equal(uiommu_prereg_info(mem, NULL), -EINVAL);
	/* Overlaps: -EINVAL, exact or not; and the charge is returned. */
	assert_int_equal(uiommu_prereg_new(mm, UA(ram.hva), MiB, &other), -EINVAL);
	assert_int_equal(uiommu_prereg_new(mm, UA(ram.hva) + 512 * KiB, MiB, &other), -EINVAL);
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_LOCKED_BYTES), locked + MiB);

	/* get: exact ranges only. */
	assert_int_equal(uiommu_prereg_get(NULL, UA(ram.hva), MiB, &other), -EINVAL);
	assert_int_equal(uiommu_prereg_get(mm, UA(ram.hva), MiB, NULL), -EINVAL);
	assert_int_equal(uiommu_prereg_get(mm, UA(ram.hva), 512 * KiB, &other), -ENOENT);
	assert_int_equal(uiommu_prereg_get(mm, UA(ram.hva) + 64 * KiB, 64 * KiB, &other), -ENOENT);
	assert_int_equal(uiommu_prereg_get(mm, UA(ram.hva), 0, &other), -ENOENT);
	assert_int_equal(uiommu_prereg_get(mm, UA(ram.hva), MiB, &other), 0);
	assert_ptr_equal(other, mem);
	assert_int_equal(info_of(mem).used, 2);

	/* lookup: any range inside. */
	assert_int_equal(uiommu_prereg_lookup(NULL, UA(ram.hva), 1, &other), -EINVAL);
	assert_int_equal(uiommu_prereg_lookup(mm, UA(ram.hva), 0, &other), -EINVAL);
	assert_int_equal(uiommu_prereg_lookup(mm, UA(ram.hva), 1, NULL), -EINVAL);
	assert_int_equal(uiommu_prereg_lookup(mm, UA(ram.hva) + MiB - 4096, 4096, &other), 0);
	assert_ptr_equal(other, mem);
	assert_int_equal(uiommu_prereg_lookup(mm, UA(ram.hva) + MiB - 4096, 8192, &other), -ENOENT);
	assert_int_equal(uiommu_prereg_lookup(mm, UA(ram.hva) + MiB, 1, &other), -ENOENT);
	assert_int_equal(uiommu_prereg_lookup(mm, ~0ULL, 2, &other), -ENOENT);

	/* ua_to_hpa: sub-page offsets kept; a page larger than the region's: -EFAULT. */
	assert_int_equal(uiommu_prereg_ua_to_hpa(mem, UA(ram.hva) + 0x12345, 12, &hpa), 0);
	assert_int_equal(hpa, ram.hpa + 0x12345);
	assert_int_equal(uiommu_prereg_ua_to_hpa(mem, UA(ram.hva) + 0x10000, 16, &hpa), 0);
	assert_int_equal(uiommu_prereg_ua_to_hpa(mem, UA(ram.hva) + 0x10000, 17, &hpa), -EFAULT);
	assert_int_equal(uiommu_prereg_ua_to_hpa(mem, UA(ram.hva) + MiB, 12, &hpa), -EFAULT);
	assert_int_equal(uiommu_prereg_ua_to_hpa(mem, UA(ram.hva) - 1, 12, &hpa), -EFAULT);
	assert_int_equal(uiommu_prereg_ua_to_hpa(NULL, UA(ram.hva), 12, &hpa), -EINVAL);
	assert_int_equal(uiommu_prereg_ua_to_hpa(mem, UA(ram.hva), 12, NULL), -EINVAL);

	/* mapped: 1 idle; the last put needs it idle. */
	assert_int_equal(uiommu_prereg_mapped_dec(mem), -EINVAL); /* none counted */
	assert_int_equal(uiommu_prereg_mapped_inc(NULL), -EINVAL);
	assert_int_equal(uiommu_prereg_mapped_dec(NULL), -EINVAL);
	assert_int_equal(uiommu_prereg_mapped_inc(mem), 0);
	assert_int_equal(uiommu_prereg_mapped_inc(mem), 0);
	assert_int_equal(info_of(mem).mapped, 3);
	assert_int_equal(uiommu_prereg_put(NULL), -EINVAL);
	assert_int_equal(uiommu_prereg_put(mem), 0); /* used 2 -> 1: fine while mapped */
	assert_int_equal(uiommu_prereg_put(mem), -EBUSY);
	assert_int_equal(info_of(mem).used, 1);
	assert_int_equal(uiommu_ram_remove(ctx, ram.hpa), -EBUSY); /* still pinned */
	assert_int_equal(uiommu_prereg_mapped_dec(mem), 0);
	assert_int_equal(uiommu_prereg_mapped_dec(mem), 0);
	assert_int_equal(uiommu_prereg_mapped_dec(mem), -EINVAL);
	assert_int_equal(uiommu_prereg_put(mem), 0);
	/* Dead: not found any more; uncharged, unpinned. */
	assert_int_equal(uiommu_prereg_lookup(mm, UA(ram.hva), 1, &other), -ENOENT);
	assert_int_equal(uiommu_prereg_get(mm, UA(ram.hva), MiB, &other), -ENOENT);
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_LOCKED_BYTES), locked);
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_PREREG_REGIONS), 0);
	vt_ram_free(ctx, &ram);
	test_ctx_free(ctx);
}

/* mapped_inc of a dead region fails (-ENXIO): no new TCE can reach a region being freed. */
static void test_prereg_dead(void **state)
{
	struct uiommu_ctx *ctx = vt_ctx_new(16);
	struct uiommu_mm *mm = NULL;
	struct uiommu_prereg *mem = NULL, *other = NULL;
	struct vt_ram ram;

	(void)state;
	vt_ram_new(ctx, 2 * MiB, 64 * KiB, &ram);
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);
	assert_int_equal(uiommu_prereg_new(mm, UA(ram.hva), MiB, &mem), 0);
	assert_int_equal(uiommu_prereg_new(mm, UA(ram.hva) + MiB, MiB, &other), 0);
	/* Out of memory for the smaller array: the dead region stays in place until the next edit. */
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 1, UIOMMU_FAULT_HEAP | UIOMMU_FAULT_PERSIST), 0);
	assert_int_equal(uiommu_prereg_put(mem), 0);
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
	assert_int_equal(uiommu_prereg_mapped_inc(mem), -ENXIO);
	assert_int_equal(info_of(mem).mapped, 0);
	assert_int_equal(info_of(mem).used, 0);
	assert_int_equal(info_of(mem).locked_bytes, 0);
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_LOCKED_BYTES), MiB);
	assert_int_equal(uiommu_prereg_put(other), 0);
	/* The address space frees it. */
	assert_int_equal(uiommu_mm_free(mm), 0);
	vt_ram_free(ctx, &ram);
	test_ctx_free(ctx);
}

/* The page shift: the range's alignment, and what backs it. */
static void test_prereg_page_shift(void **state)
{
	struct uiommu_ctx *ctx = vt_ctx_new(16), *ctx4 = vt_ctx_new(12);
	struct uiommu_mm *mm = uiommu_mm_current(ctx), *mm4 = uiommu_mm_current(ctx4);
	struct uiommu_prereg *mem[6] = { NULL };
	struct vt_ram ram, ram4;
	void *huge = NULL, *small = NULL, *small4 = NULL;
	uint64_t hpa;

	(void)state;
	vt_ram_new(ctx, 64 * MiB, 32 * MiB, &ram);
	/* Ordinary memory: the host page at most, however aligned. */
	assert_int_equal(uiommu_prereg_new(mm, UA(ram.hva), 32 * MiB, &mem[0]), 0);
	assert_int_equal(info_of(mem[0]).page_shift, 16);
	/* The library maps RAM as aligned as its size: 64 KiB host pages, and an exact hpa. */
	{
		uint64_t lib_hpa;
		void *lib_hva = NULL;
		struct uiommu_prereg *lib = NULL;

		assert_int_equal(uiommu_ram_create(ctx, 8 * MiB, &lib_hpa, &lib_hva), 0);
		assert_int_equal((uintptr_t)lib_hva & (8 * MiB - 1), 0);
		assert_int_equal(uiommu_prereg_new(mm, UA(lib_hva), 8 * MiB, &lib), 0);
		assert_int_equal(info_of(lib).page_shift, 16);
		assert_int_equal(uiommu_prereg_ua_to_hpa(lib, UA(lib_hva) + 0x70000, 16, &hpa), 0);
		assert_int_equal(hpa, lib_hpa + 0x70000);
		assert_int_equal(uiommu_prereg_put(lib), 0);
		assert_int_equal(uiommu_ram_remove(ctx, lib_hpa), 0);
	}
	/* Huge pages: their size, capped by the range's alignment. */
	assert_int_equal(uiommu_hostmem_alloc(ctx, 64 * MiB, 24, 0, &huge), 0);
	assert_int_equal(uiommu_prereg_new(mm, UA(huge), 32 * MiB, &mem[1]), 0);
	assert_int_equal(info_of(mem[1]).page_shift, 24);
	assert_int_equal(uiommu_prereg_new(mm, UA(huge) + 32 * MiB + 64 * KiB, 1 * MiB, &mem[2]), 0);
	assert_int_equal(info_of(mem[2]).page_shift, 16);
	assert_int_equal(uiommu_prereg_ua_to_hpa(mem[1], UA(huge) + 16 * MiB, 24, &hpa), 0);
	assert_int_equal(hpa, hpa_of_test(ctx, (char *)huge + 16 * MiB));
	/* 4 KiB pages on a 64 KiB host (scattered): 4 KiB, and each page's own hpa. */
	assert_int_equal(uiommu_hostmem_alloc(ctx, 256 * KiB, 12, UIOMMU_HOSTMEM_SCATTER, &small), 0);
	{
		uint64_t ua = (UA(small) + 0xffff) & ~0xffffULL;

		assert_int_equal(uiommu_prereg_new(mm, ua, 64 * KiB, &mem[3]), 0);
		assert_int_equal(info_of(mem[3]).page_shift, 12);
		for (unsigned int i = 0; i < 16; i++) {
			assert_int_equal(uiommu_prereg_ua_to_hpa(mem[3], ua + i * 4096 + 8, 12, &hpa), 0);
			assert_int_equal(hpa, hpa_of_test(ctx, (void *)(uintptr_t)(ua + i * 4096 + 8)));
		}
		assert_int_equal(uiommu_prereg_ua_to_hpa(mem[3], ua, 16, &hpa), -EFAULT);
	}
	/* A 4 KiB host: 4 KiB registrations; ordinary memory backs 4 KiB pages only. */
	vt_ram_new(ctx4, 1 * MiB, 1 * MiB, &ram4);
	assert_int_equal(uiommu_prereg_new(mm4, UA(ram4.hva) + 4096, 8192, &mem[4]), 0);
	assert_int_equal(info_of(mem[4]).page_shift, 12);
	assert_int_equal(uiommu_hostmem_alloc(ctx4, 64 * KiB, 16, 0, &small4), 0);
	assert_int_equal(uiommu_prereg_new(mm4, UA(small4), 64 * KiB, &mem[5]), 0);
	assert_int_equal(info_of(mem[5]).page_shift, 16);

	for (int i = 0; i < 6; i++)
		assert_int_equal(uiommu_prereg_put(mem[i]), 0);
	assert_int_equal(uiommu_hostmem_free(ctx, huge), 0);
	assert_int_equal(uiommu_hostmem_free(ctx, small), 0);
	assert_int_equal(uiommu_hostmem_free(ctx4, small4), 0);
	vt_ram_free(ctx, &ram);
	vt_ram_free(ctx4, &ram4);
	test_ctx_free(ctx);
	test_ctx_free(ctx4);
}

/* Memory the library did not map: two region mappings side by side, one registration. */
static void test_prereg_spans(void **state)
{
	struct uiommu_ctx *ctx = vt_ctx_new(16);
	struct uiommu_mm *mm = uiommu_mm_current(ctx);
	struct uiommu_prereg *mem = NULL;
	uint64_t hpa[2], got;
	char *area;
	int fd[2];

	(void)state;
	area = mmap(NULL, 4 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(area != MAP_FAILED);
	area = (char *)(((uintptr_t)area + MiB - 1) & ~(uintptr_t)(MiB - 1));
	for (int i = 0; i < 2; i++) {
		fd[i] = memfd_create("uiommu-test", MFD_CLOEXEC);
		assert_int_equal(ftruncate(fd[i], (off_t)MiB), 0);
		assert_true(mmap(area + i * MiB, MiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
				 fd[i], 0) == area + i * MiB);
		assert_int_equal(uiommu_ram_add(ctx, fd[i], 0, MiB, area + i * MiB, &hpa[i]), 0);
		close(fd[i]);
	}
	assert_int_equal(uiommu_prereg_new(mm, UA(area) + 512 * KiB, MiB, &mem), 0);
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_LOCKED_BYTES), MiB);
	assert_int_equal(uiommu_prereg_ua_to_hpa(mem, UA(area) + MiB - 4096, 12, &got), 0);
	assert_int_equal(got, hpa[0] + MiB - 4096);
	assert_int_equal(uiommu_prereg_ua_to_hpa(mem, UA(area) + MiB, 12, &got), 0);
	assert_int_equal(got, hpa[1]);
	assert_int_equal(uiommu_ram_remove(ctx, hpa[0]), -EBUSY);
	assert_int_equal(uiommu_ram_remove(ctx, hpa[1]), -EBUSY);
	assert_int_equal(uiommu_prereg_put(mem), 0);
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_LOCKED_BYTES), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(uiommu_ram_remove(ctx, hpa[i]), 0);
	test_ctx_free(ctx);
}

/* A page migrated before registering: the region backs 4 KiB pages, each at its hpa. */
static void test_prereg_migrated(void **state)
{
	struct uiommu_ctx *ctx = vt_ctx_new(16);
	struct uiommu_mm *mm = uiommu_mm_current(ctx);
	struct uiommu_prereg *mem = NULL;
	uint64_t new_hpa = 0, hpa;
	struct vt_ram ram;

	(void)state;
	vt_ram_new(ctx, 1 * MiB, 1 * MiB, &ram);
	assert_int_equal(uiommu_ram_migrate(ctx, ram.hpa + 0x23000, &new_hpa), 0);
	assert_int_equal(uiommu_prereg_new(mm, UA(ram.hva), MiB, &mem), 0);
	assert_int_equal(info_of(mem).page_shift, 12);
	assert_int_equal(uiommu_prereg_ua_to_hpa(mem, UA(ram.hva) + 0x23008, 12, &hpa), 0);
	assert_int_equal(hpa, new_hpa + 8);
	assert_int_equal(uiommu_prereg_ua_to_hpa(mem, UA(ram.hva) + 0x24000, 12, &hpa), 0);
	assert_int_equal(hpa, ram.hpa + 0x24000);
	assert_int_equal(uiommu_prereg_ua_to_hpa(mem, UA(ram.hva) + 0x20000, 16, &hpa), -EFAULT);
	/* Registered memory is pinned: it does not migrate. */
	assert_int_equal(uiommu_ram_migrate(ctx, ram.hpa + 0x30000, &new_hpa), -EBUSY);
	assert_int_equal(uiommu_prereg_put(mem), 0);
	vt_ram_free(ctx, &ram);
	test_ctx_free(ctx);
}

/* Random registrations and lookups against a flat model; address spaces kept apart. */
static void test_prereg_model(void **state)
{
	enum { SLOTS = 64, PAGE = 64 * 1024 };
	struct uiommu_ctx *ctx = vt_ctx_new(16);
	struct uiommu_mm *mm[2] = { uiommu_mm_current(ctx), NULL };
	struct uiommu_prereg *mem[2][SLOTS] = { { NULL } };
	unsigned int len[2][SLOTS] = { { 0 } }; /* pages, 0: none starts here */
	uint64_t rng = test_seed();
	struct vt_ram ram;

	(void)state;
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm[1]), 0);
	vt_ram_new(ctx, SLOTS * PAGE, PAGE, &ram);
	for (int step = 0; step < 4000; step++) {
		unsigned int a = test_rand(&rng) % 2, s = test_rand(&rng) % SLOTS;
		unsigned int n = 1 + test_rand(&rng) % 4, owner = SLOTS;
		struct uiommu_prereg *got = NULL;
		int ret;

		/* The model: which slot's region holds page s of address space a. */
		for (unsigned int i = 0; i < SLOTS; i++)
			if (len[a][i] && i <= s && s < i + len[a][i])
				owner = i;
		switch (test_rand(&rng) % 3) {
		case 0: {
			bool overlap = s + n > SLOTS;

			for (unsigned int i = 0; i < SLOTS && !overlap; i++)
				overlap = len[a][i] && i < s + n && s < i + len[a][i];
			ret = uiommu_prereg_new(mm[a], UA(ram.hva) + (uint64_t)s * PAGE,
						(uint64_t)n * PAGE, &got);
			if (s + n > SLOTS)
				assert_int_equal(ret, -EFAULT);
			else if (overlap)
				assert_int_equal(ret, -EINVAL);
			else {
				assert_int_equal(ret, 0);
				mem[a][s] = got;
				len[a][s] = n;
			}
			break;
		}
		case 1:
			if (owner != SLOTS) {
				assert_int_equal(uiommu_prereg_put(mem[a][owner]), 0);
				len[a][owner] = 0;
			}
			break;
		default:
			ret = uiommu_prereg_lookup(mm[a], UA(ram.hva) + (uint64_t)s * PAGE + 8, 8, &got);
			if (owner == SLOTS) {
				assert_int_equal(ret, -ENOENT);
			} else {
				assert_int_equal(ret, 0);
				assert_ptr_equal(got, mem[a][owner]);
			}
		}
	}
	for (unsigned int a = 0; a < 2; a++)
		for (unsigned int i = 0; i < SLOTS; i++)
			if (len[a][i])
				assert_int_equal(uiommu_prereg_put(mem[a][i]), 0);
	assert_int_equal(uiommu_mm_free(mm[1]), 0);
	vt_ram_free(ctx, &ram);
	test_ctx_free(ctx);
}

/* Fault injection: a failed registration leaves no pin, charge or region. */
static void test_prereg_faults(void **state)
{
	struct uiommu_ctx *ctx = vt_ctx_new(16);
	struct uiommu_mm *mm = NULL;
	struct uiommu_prereg *mem = NULL, *keep = NULL;
	struct vt_ram ram;
	unsigned int runs = 0;

	(void)state;
	vt_ram_new(ctx, 4 * MiB, 64 * KiB, &ram);
	assert_int_equal(uiommu_mm_new(ctx, 0, &mm), 0);
	assert_int_equal(uiommu_prereg_new(mm, UA(ram.hva), MiB, &keep), 0);
	assert_int_equal(uiommu_mm_free(mm), -EBUSY); /* a region is registered */
	for (uint64_t n = 1;; n++, runs++) {
		int ret;

		assert_int_equal(uiommu_ctx_inject_fault(ctx, n, UIOMMU_FAULT_ALL), 0);
		ret = uiommu_prereg_new(mm, UA(ram.hva) + MiB, 2 * MiB, &mem);
		assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
		if (!ret)
			break;
		assert_int_equal(ret, -ENOMEM);
		assert_int_equal(ctx_usage(ctx, UIOMMU_RES_LOCKED_BYTES), MiB);
		assert_int_equal(ctx_usage(ctx, UIOMMU_RES_PREREG_REGIONS), 1);
	}
	assert_true(runs >= 3);
	/* The last put frees with an allocation that may fail: it succeeds anyway. */
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 1, UIOMMU_FAULT_HEAP | UIOMMU_FAULT_PERSIST), 0);
	assert_int_equal(uiommu_prereg_put(mem), 0);
	assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_LOCKED_BYTES), MiB);
	assert_int_equal(uiommu_prereg_lookup(mm, UA(ram.hva) + MiB, 1, &mem), -ENOENT);
	/* The dead region left in place does not block the range. */
	assert_int_equal(uiommu_prereg_new(mm, UA(ram.hva) + MiB, 3 * MiB, &mem), 0);
	assert_int_equal(uiommu_prereg_lookup(mm, UA(ram.hva) + 2 * MiB, 1, &keep), 0);
	assert_ptr_equal(keep, mem);
	assert_int_equal(uiommu_prereg_put(mem), 0);
	assert_int_equal(uiommu_prereg_lookup(mm, UA(ram.hva), 1, &keep), 0);
	assert_int_equal(uiommu_prereg_put(keep), 0);
	assert_int_equal(uiommu_mm_free(mm), 0);
	vt_ram_free(ctx, &ram);
	test_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_spaces),
		cmocka_unit_test(test_prereg_errors),
		cmocka_unit_test(test_prereg_dead),
		cmocka_unit_test(test_prereg_page_shift),
		cmocka_unit_test(test_prereg_spans),
		cmocka_unit_test(test_prereg_migrated),
		cmocka_unit_test(test_prereg_model),
		cmocka_unit_test(test_prereg_faults),
	};

	test_require_memfd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
