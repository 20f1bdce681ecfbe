// SPDX-License-Identifier: BSD-3-Clause
/*
 * Accelerated hypercalls under real concurrency: vCPU threads (each with
 * its handle, in and out of guest context, reporting quiescent states)
 * make H_PUT_TCE, H_PUT_TCE_INDIRECT and H_STUFF_TCE on ranges of their
 * own and on a range they share, redoing every H_TOO_HARD by the VMM path
 * outside guest context; meanwhile one thread attaches and detaches a
 * second group to a LIOBN (the link only) and a whole table to another
 * (the hardware-table array republished, a grace period of both RCU
 * flavours each time) and registers and unregisters memory with the
 * container (its lock exclusively, which waits out the hypercalls that
 * hold entries), one maps and unmaps through the container beside
 * them (the container's stripes against the fast path's), and a device
 * does DMA through the table. Run under ASan (anything freed while a vCPU
 * could still read it) and TSan (every shared access ordered; there a
 * vCPU in guest context holds the lock-based read side).
 *
 * What must hold: every call returns a code the documentation allows; a
 * vCPU's own entries read back what it wrote last, in the view and in the
 * host table; at the end every host TCE is the hpa of its recorded user
 * address and the container's and the region's counts agree with the
 * TCEs; everything returns to zero. Nothing is timed: each vCPU makes OPS
 * calls and the churner goes on until they are done, at least
 * CHURN_ROUNDS rounds.
 */
#include <endian.h>
#include <pthread.h>
#include <stdatomic.h>

#include "accel_util.h"

#define VCPUS 3
#define OPS 4000
#define CHURN_ROUNDS 40
#define RW (UIOMMU_TCE_PCI_READ | UIOMMU_TCE_PCI_WRITE)
#define OWN 1024ULL		 /* 4 KiB entries per vCPU, from vCPU * OWN */
#define SHARED (VCPUS * OWN)	 /* entries every vCPU writes */
#define SHARED_N 256ULL
#define VMM_FIRST 8192ULL	 /* entries the container's MAP/UNMAP thread uses */
#define LISTS 0x3e00000ULL	 /* a TCE list page per vCPU */

struct shared {
	struct acc_fx f;
	_Atomic bool stop;
	_Atomic int done;
	_Atomic int bad;
	_Atomic uint64_t fast, redone, churns, maps, dma_ok, dma_fault;
};

struct vcpu_arg {
	struct shared *s;
	unsigned int id;
};

static void fail_at(struct shared *s, int code, const char *what, long ret)
{
	if (!atomic_exchange(&s->bad, code))
		print_error("%s: %ld\n", what, ret);
}

/* An hcall on the vCPU, redone by the VMM path outside guest context if handed over. */
static long vcpu_hcall(struct shared *s, struct uiommu_vcpu *v, uint64_t opcode, uint64_t a0,
		       uint64_t a1, uint64_t a2, uint64_t a3)
{
	uint64_t args[4] = { a0, a1, a2, a3 };
	long ret = uiommu_vcpu_hcall(v, opcode, args, 4, NULL, 0);

	if (ret != UIOMMU_H_TOO_HARD) {
		atomic_fetch_add(&s->fast, 1);
		return ret;
	}
	atomic_fetch_add(&s->redone, 1);
	uiommu_vcpu_exit(v);
	ret = uiommu_accel_vmm_hcall(s->f.g, opcode, args, 4, NULL, 0);
	uiommu_vcpu_enter(v);
	return ret;
}

static void *vcpu_thread(void *p)
{
	struct vcpu_arg *a = p;
	struct shared *s = a->s;
	struct acc_fx *f = &s->f;
	struct uiommu_vcpu *v = NULL;
	uint64_t rng = test_seed() ^ (a->id * 0x9e3779b97f4a7c15ULL), own = a->id * OWN;
	uint64_t list_gpa = LISTS + a->id * 4096;
	uint64_t *list = (uint64_t *)(void *)(f->ram.hva + list_gpa);

	if (uiommu_vcpu_new(f->g, &v)) {
		fail_at(s, 1, "vcpu_new", -1);
		return NULL;
	}
	uiommu_vcpu_enter(v);
	for (int op = 0; op < OPS && !atomic_load(&s->bad); op++) {
		uint64_t r = test_rand(&rng), kind = r % 8, n = 1 + (r >> 8) % 16;
		uint64_t idx = own + (r >> 16) % (OWN - n), gpa = ((r >> 32) % 2048) << 12;
		uint64_t tce = (kind & 1) ? 0 : gpa | (1 + (r >> 3) % 3), got = 1;
		long ret;

		if (kind < 4) { /* H_PUT_TCE on its own entry, read back */
			ret = vcpu_hcall(s, v, UIOMMU_H_PUT_TCE, ACC_L4K, idx << 12, tce, 0);
			if (ret || uiommu_vcpu_h_get_tce(v, ACC_L4K, idx << 12, &got) || got != tce) {
				fail_at(s, 2, "PUT on own entry", ret);
				break;
			}
			if (!tce != !acc_host(f, 0, idx, NULL))
				fail_at(s, 3, "host entry of own PUT", (long)idx);
		} else if (kind == 4) { /* INDIRECT on its own entries */
			for (uint64_t i = 0; i < n; i++)
				list[i] = htobe64(i & 1 ? 0 : (gpa + (i << 12)) | RW);
			ret = vcpu_hcall(s, v, UIOMMU_H_PUT_TCE_INDIRECT, ACC_L4K, idx << 12, list_gpa,
					 n);
			if (ret)
				fail_at(s, 4, "INDIRECT", ret);
		} else if (kind == 5) { /* STUFF on its own entries */
			ret = vcpu_hcall(s, v, UIOMMU_H_STUFF_TCE, ACC_L4K, idx << 12, 0, n);
			if (ret)
				fail_at(s, 5, "STUFF", ret);
		} else if (kind == 6) { /* the shared entries: any thread's value wins */
			ret = vcpu_hcall(s, v, UIOMMU_H_PUT_TCE, ACC_L4K,
					 (SHARED + (r >> 16) % SHARED_N) << 12, tce, 0);
			if (ret)
				fail_at(s, 6, "PUT on shared entry", ret);
		} else { /* 16 MiB and 64 KiB pages over one host table, attached or not */
			uint64_t big = (r >> 20) % 4, gpa16 = ((r >> 40) % 4) << 24;

			ret = vcpu_hcall(s, v, UIOMMU_H_PUT_TCE, (r & 0x100) ? ACC_L16M : ACC_L64K,
					 ACC_BUS64 + (big << 24) + ((r & 0x100) ? 0 : a->id << 16),
					 (r & 0x200) ? 0 : gpa16 | RW, 0);
			if (ret)
				fail_at(s, 7, "PUT 16M/64K", ret);
		}
		if (op % 16 == 15)
			uiommu_vcpu_quiescent(v);
		if (op % 64 == 63) { /* an exit to the VMM, or idle */
			uiommu_vcpu_exit(v);
			sched_yield();
			uiommu_vcpu_enter(v);
		}
	}
	uiommu_vcpu_exit(v);
	uiommu_vcpu_free(v);
	atomic_fetch_add(&s->done, 1);
	return NULL;
}

static void *churn_thread(void *p)
{
	struct shared *s = p;
	struct acc_fx *f = &s->f;

	for (uint64_t round = 0;
	     (atomic_load(&s->done) < VCPUS || round < CHURN_ROUNDS) && !atomic_load(&s->bad);
	     round++) {
		int r1 = uiommu_accel_attach(f->g, ACC_L4K, acc_grp(f, 1));
		int r2 = uiommu_accel_attach(f->g, ACC_L16M, acc_grp(f, 0));
		int r3 = uiommu_accel_detach(f->g, ACC_L4K, acc_grp(f, 1));
		int r4 = uiommu_accel_detach(f->g, ACC_L16M, acc_grp(f, 0));
		/* The container's lock exclusively: every hypercall holding entries waited out. */
		uint64_t ua2 = (uint64_t)(uintptr_t)f->ram2.hva;
		int r5 = uiommu_vfio_register_memory(f->c, ua2, ACC_RAM2);
		int r6 = uiommu_vfio_unregister_memory(f->c, ua2, ACC_RAM2);

		if (r1 || r2 || r3 || r4 || r5 || r6) {
			fail_at(s, 8, "attach/detach/register",
				r1 ? r1 : r2 ? r2 : r3 ? r3 : r4 ? r4 : r5 ? r5 : r6);
			break;
		}
		atomic_fetch_add(&s->churns, 1);
	}
	return NULL;
}

static void *vmm_thread(void *p)
{
	struct shared *s = p;
	struct acc_fx *f = &s->f;
	uint64_t rng = 77;

	while (atomic_load(&s->done) < VCPUS && !atomic_load(&s->bad)) {
		uint64_t r = test_rand(&rng), e = VMM_FIRST + (r >> 8) % 512, n = 1 + r % 8;
		int ret = (r >> 4) & 1 ?
				  uiommu_vfio_unmap_dma(f->c, e << 12, n << 12) :
				  uiommu_vfio_map_dma(f->c, acc_ua(f, ((r >> 32) % 2048) << 12), e << 12,
						      n << 12, UIOMMU_VFIO_DMA_MAP_FLAG_READ);

		if (ret)
			fail_at(s, 9, "container MAP/UNMAP", ret);
		atomic_fetch_add(&s->maps, 1);
	}
	return NULL;
}

static void *dma_thread(void *p)
{
	struct shared *s = p;
	struct acc_fx *f = &s->f;
	struct uiommu_dev_config dc = { .size = sizeof(dc), .bdf = UIOMMU_PCI_BDF(0, 1, 0) };
	struct uiommu_dev *dev = NULL;
	uint64_t rng = 5;
	char buf[64];

	if (uiommu_dev_new(f->pe[0], &dc, &dev)) {
		fail_at(s, 10, "dev_new", -1);
		return NULL;
	}
	while (atomic_load(&s->done) < VCPUS && !atomic_load(&s->bad)) {
		int ret = uiommu_dev_dma_read(dev, (test_rand(&rng) % (SHARED + SHARED_N)) << 12, buf,
					      sizeof(buf), NULL);

		if (ret == 0)
			atomic_fetch_add(&s->dma_ok, 1);
		else if (ret == -EFAULT)
			atomic_fetch_add(&s->dma_fault, 1);
		else
			fail_at(s, 11, "DMA", ret);
	}
	uiommu_dev_free(dev);
	return NULL;
}

static void test_accel_concurrency(void **state)
{
	struct shared *s = calloc(1, sizeof(*s));
	struct vcpu_arg va[VCPUS];
	pthread_t vt[VCPUS], ct, mt, dt;

	(void)state;
	acc_fx_setup(&s->f);
	assert_int_equal(uiommu_accel_attach(s->f.g, ACC_L4K, acc_grp(&s->f, 0)), 0);
	assert_int_equal(uiommu_accel_attach(s->f.g, ACC_L64K, acc_grp(&s->f, 0)), 0);
	assert_int_equal(pthread_create(&ct, NULL, churn_thread, s), 0);
	assert_int_equal(pthread_create(&mt, NULL, vmm_thread, s), 0);
	assert_int_equal(pthread_create(&dt, NULL, dma_thread, s), 0);
	for (unsigned int i = 0; i < VCPUS; i++) {
		va[i] = (struct vcpu_arg){ s, i };
		assert_int_equal(pthread_create(&vt[i], NULL, vcpu_thread, &va[i]), 0);
	}
	for (unsigned int i = 0; i < VCPUS; i++)
		pthread_join(vt[i], NULL);
	pthread_join(ct, NULL);
	pthread_join(mt, NULL);
	pthread_join(dt, NULL);
	print_message("fast %llu, redone %llu, churns %llu, container calls %llu, DMA %llu ok "
		      "%llu faults\n", (unsigned long long)s->fast, (unsigned long long)s->redone,
		      (unsigned long long)s->churns, (unsigned long long)s->maps,
		      (unsigned long long)s->dma_ok, (unsigned long long)s->dma_fault);
	assert_int_equal(atomic_load(&s->bad), 0);
	assert_true(s->fast > s->redone && s->churns >= CHURN_ROUNDS);
	acc_check(&s->f);
	acc_fx_teardown(&s->f);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accel_concurrency),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
