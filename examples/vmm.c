// SPDX-License-Identifier: BSD-3-Clause
/*
 * Example: the vIOMMU of a small pseries VMM, wired as doc/vmm-guide.md
 * explains. The VMM owns its guest RAM (a memfd it maps itself) and hands
 * it to the library; its hcall exit sends TCE hypercalls to the dispatcher
 * and H_RTAS's DDW calls to uiommu_papr_rtas(); its emulated device DMAs
 * through the guest's TCE tables. Two vCPU threads run a scripted guest
 * driver concurrently (what a guest kernel's DMA mapping code would do),
 * a device thread serves their requests, a second guest in the KVM profile
 * shows what the VMM does with H_TOO_HARD, and a forked helper shows the
 * fork rule. Exits 0 only if every check passed and nothing leaked.
 */
#define _GNU_SOURCE /* memfd_create(), htobe64() */
#include <endian.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uiommu/uiommu.h>

#define RAM_SIZE (64ULL << 20)
#define VIO_REG 0x71000002u	/* a spapr-vscsi device: LIOBN = its reg */
#define H_RTAS 0xf000		/* PAPR: RTAS call, r4 = gpa of the rtas args */
#define NVCPUS 2
#define ROUNDS 200

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
				#cond);                                                    \
			exit(1);                                                           \
		}                                                                          \
	} while (0)

/* ---- the VMM ---- */

struct vmm {
	struct uiommu_ctx *ctx;
	struct uiommu_guest *guest;
	int ram_fd;
	char *ram;		/* the VMM's own mapping of guest RAM */
	uint64_t ram_hpa;	/* where the library put it in its hpa space */
	uint64_t phb_buid;

	/* The emulated device: one request at a time, per vCPU slot. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct dma_req {
		uint64_t liobn, ioba, len;
		uint8_t pattern;
		int state; /* 0 idle, 1 submitted, 2 done, -1 DMA fault */
	} req[NVCPUS];
	bool stop;
};

/* A vCPU's registers at an hcall exit, as KVM's run->papr_hcall or a TCG CPU has them. */
struct hcall_regs {
	uint64_t nr;	   /* r3 in: the hcall */
	uint64_t args[9];  /* r4..r12 in; r4.. out */
	uint64_t ret;	   /* r3 out */
};

static void log_fn(void *opaque, enum uiommu_log_level level, const char *msg)
{
	(void)opaque;
	fprintf(stderr, "uiommu[%d]: %s\n", (int)level, msg);
}

/*
 * H_RTAS: the guest put an rtas_args block (big-endian 32-bit cells:
 * token, nargs, nret, args..., rets...) in its memory at r4. The VMM
 * handles the DDW tokens through the library, the rest itself.
 */
static uint64_t vmm_rtas(struct vmm *v, uint64_t gpa)
{
	uint32_t cell[3 + 16], args[16], rets[16];
	uint32_t token, nargs, nret;
	int status;

	if (uiommu_guest_read(v->guest, gpa, cell, 12))
		return (uint64_t)UIOMMU_H_PARAMETER;
	token = be32toh(cell[0]);
	nargs = be32toh(cell[1]);
	nret = be32toh(cell[2]);
	if (nargs > 16 || nret > 16 || uiommu_guest_read(v->guest, gpa + 12, args, 4 * nargs))
		return (uint64_t)UIOMMU_H_PARAMETER;
	for (uint32_t i = 0; i < nargs; i++)
		args[i] = be32toh(args[i]);
	switch (token) {
	case UIOMMU_RTAS_QUERY_PE_DMA_WINDOW:
	case UIOMMU_RTAS_CREATE_PE_DMA_WINDOW:
	case UIOMMU_RTAS_REMOVE_PE_DMA_WINDOW:
	case UIOMMU_RTAS_RESET_PE_DMA_WINDOW:
		status = uiommu_papr_rtas(v->guest, token, nargs, args, nret, rets);
		break;
	default: /* the VMM's other RTAS services */
		status = UIOMMU_RTAS_PARAM_ERROR;
		if (nret)
			rets[0] = (uint32_t)status;
		break;
	}
	for (uint32_t i = 0; i < nret; i++)
		rets[i] = htobe32(rets[i]);
	if (nret && uiommu_guest_write(v->guest, gpa + 12 + 4 * nargs, rets, 4 * nret))
		return (uint64_t)UIOMMU_H_PARAMETER;
	(void)status; /* the guest reads it from rets[0] */
	return UIOMMU_H_SUCCESS;
}

/* The hcall exit: what a VMM's vCPU loop calls for KVM_EXIT_PAPR_HCALL or a TCG "sc 1". */
static void vmm_hcall_exit(struct vmm *v, struct hcall_regs *r)
{
	uint64_t rets[1];
	long ret;

	switch (r->nr) {
	case UIOMMU_H_PUT_TCE:
	case UIOMMU_H_GET_TCE:
	case UIOMMU_H_PUT_TCE_INDIRECT:
	case UIOMMU_H_STUFF_TCE:
		ret = uiommu_papr_hcall(v->guest, r->nr, r->args, 9, rets, 1);
		/* QEMU profile: never H_TOO_HARD. (See kvm_profile() for that case.) */
		if (r->nr == UIOMMU_H_GET_TCE && ret == UIOMMU_H_SUCCESS)
			r->args[0] = rets[0]; /* r4 */
		r->ret = (uint64_t)ret;
		break;
	case H_RTAS:
		r->ret = vmm_rtas(v, r->args[0]);
		break;
	default:
		r->ret = (uint64_t)UIOMMU_H_FUNCTION;
		break;
	}
}

/* The device's side of a DMA: translate each IOMMU page, then copy. */
static int device_dma_write(struct vmm *v, uint64_t liobn, uint64_t ioba, const void *src,
			    uint64_t len)
{
	while (len) {
		uint64_t gpa, chunk = 4096 - (ioba & 4095);
		unsigned int prot;

		if (chunk > len)
			chunk = len;
		if (uiommu_liobn_translate(v->guest, liobn, ioba, &gpa, &prot) ||
		    !(prot & UIOMMU_PROT_WRITE))
			return -1; /* a DMA fault: the device reports it, memory is untouched */
		if (uiommu_guest_write(v->guest, gpa, src, chunk))
			return -1;
		src = (const char *)src + chunk;
		ioba += chunk;
		len -= chunk;
	}
	return 0;
}

static void *device_thread(void *arg)
{
	struct vmm *v = arg;
	uint8_t data[3 * 4096];

	pthread_mutex_lock(&v->lock);
	while (!v->stop) {
		bool idle = true;

		for (int i = 0; i < NVCPUS; i++) {
			struct dma_req *q = &v->req[i];

			if (q->state != 1)
				continue;
			idle = false;
			pthread_mutex_unlock(&v->lock);
			memset(data, q->pattern, sizeof(data));
			/* DMA from outside the lock: hcalls may change the tables meanwhile. */
			int ok = device_dma_write(v, q->liobn, q->ioba, data, q->len) == 0;

			pthread_mutex_lock(&v->lock);
			q->state = ok ? 2 : -1;
			pthread_cond_broadcast(&v->cond);
		}
		if (idle)
			pthread_cond_wait(&v->cond, &v->lock);
	}
	pthread_mutex_unlock(&v->lock);
	return NULL;
}

/* ---- the guest, as a script of hcalls ---- */

struct vcpu {
	struct vmm *v;
	int id;
	uint64_t liobn;
	int faults_seen;
};

static uint64_t hcall(struct vcpu *c, uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2,
		      uint64_t a3, uint64_t *r4)
{
	struct hcall_regs r = { .nr = nr, .args = { a0, a1, a2, a3 } };

	vmm_hcall_exit(c->v, &r);
	if (r4)
		*r4 = r.args[0];
	return r.ret;
}

/*
 * What a guest's DMA mapping code does: map three pages of a buffer with
 * one H_PUT_TCE_INDIRECT (the list in guest memory, big-endian), start the
 * device, check the data, unmap with H_STUFF_TCE. Each vCPU uses its own
 * part of the PHB's default window and of RAM.
 */
static void *vcpu_thread(void *arg)
{
	struct vcpu *c = arg;
	struct vmm *v = c->v;
	uint64_t list_gpa = 0x100000 + (uint64_t)c->id * 0x1000;
	uint64_t buf_gpa = 0x800000 + (uint64_t)c->id * 0x100000;
	uint64_t ioba_base = 0x10000000 + (uint64_t)c->id * 0x1000000;

	for (int round = 0; round < ROUNDS; round++) {
		uint64_t ioba = ioba_base + (uint64_t)(round % 64) * 0x4000, tce = 0, list[3];
		uint8_t pattern = (uint8_t)(c->id * 100 + round), got[3 * 4096];
		struct dma_req *q = &v->req[c->id];
		bool unmapped_first = round % 10 == 9; /* now and then, a DMA to nothing */

		for (int k = 0; k < 3; k++)
			list[k] = htobe64((buf_gpa + 4096 * (uint64_t)k) | UIOMMU_TCE_PCI_READ |
					  UIOMMU_TCE_PCI_WRITE);
		CHECK(!uiommu_guest_write(v->guest, list_gpa, list, sizeof(list)));
		if (!unmapped_first) {
			CHECK(hcall(c, UIOMMU_H_PUT_TCE_INDIRECT, c->liobn, ioba, list_gpa, 3, NULL) ==
			      UIOMMU_H_SUCCESS);
			CHECK(hcall(c, UIOMMU_H_GET_TCE, c->liobn, ioba + 0x2000, 0, 0, &tce) ==
			      UIOMMU_H_SUCCESS);
			CHECK(tce == ((buf_gpa + 0x2000) | 3));
		}

		pthread_mutex_lock(&v->lock);
		*q = (struct dma_req){ c->liobn, ioba, sizeof(got), pattern, 1 };
		pthread_cond_broadcast(&v->cond);
		while (q->state == 1)
			pthread_cond_wait(&v->cond, &v->lock);
		pthread_mutex_unlock(&v->lock);

		if (unmapped_first) {
			CHECK(q->state == -1); /* the IOMMU stopped it */
			c->faults_seen++;
			continue;
		}
		CHECK(q->state == 2);
		CHECK(!uiommu_guest_read(v->guest, buf_gpa, got, sizeof(got)));
		for (size_t k = 0; k < sizeof(got); k++)
			CHECK(got[k] == pattern);
		CHECK(hcall(c, UIOMMU_H_STUFF_TCE, c->liobn, ioba, 0, 3, NULL) == UIOMMU_H_SUCCESS);
	}
	return NULL;
}

/* DDW from the guest's side: query, create a 64-bit window, map through it, remove it. */
static void guest_ddw(struct vcpu *c)
{
	struct vmm *v = c->v;
	uint64_t rtas_gpa = 0x200000, r4 = 0;
	uint32_t blk[3 + 5 + 6];
	uint64_t win;
	uint32_t liobn;

	/* ibm,query-pe-dma-window(config_addr, buid_hi, buid_lo) -> 5 cells */
	blk[0] = htobe32(UIOMMU_RTAS_QUERY_PE_DMA_WINDOW), blk[1] = htobe32(3), blk[2] = htobe32(5);
	blk[3] = 0, blk[4] = htobe32((uint32_t)(v->phb_buid >> 32));
	blk[5] = htobe32((uint32_t)v->phb_buid);
	CHECK(!uiommu_guest_write(v->guest, rtas_gpa, blk, 4 * (3 + 3 + 5)));
	CHECK(hcall(c, H_RTAS, rtas_gpa, 0, 0, 0, NULL) == UIOMMU_H_SUCCESS);
	CHECK(!uiommu_guest_read(v->guest, rtas_gpa, blk, 4 * (3 + 3 + 5)));
	CHECK(be32toh(blk[6]) == UIOMMU_RTAS_SUCCESS && be32toh(blk[7]) == 1);

	/* ibm,create-pe-dma-window(..., page_shift 16, window_shift 30) -> 4 cells */
	blk[0] = htobe32(UIOMMU_RTAS_CREATE_PE_DMA_WINDOW), blk[1] = htobe32(5);
	blk[2] = htobe32(4), blk[6] = htobe32(16), blk[7] = htobe32(30);
	CHECK(!uiommu_guest_write(v->guest, rtas_gpa, blk, 4 * (3 + 5 + 4)));
	CHECK(hcall(c, H_RTAS, rtas_gpa, 0, 0, 0, NULL) == UIOMMU_H_SUCCESS);
	CHECK(!uiommu_guest_read(v->guest, rtas_gpa, blk, 4 * (3 + 5 + 4)));
	CHECK(be32toh(blk[8]) == UIOMMU_RTAS_SUCCESS);
	liobn = be32toh(blk[9]);
	win = (uint64_t)be32toh(blk[10]) << 32 | be32toh(blk[11]);
	printf("DDW: LIOBN 0x%x, 64 KiB pages at 0x%" PRIx64 "\n", liobn, win);

	/* The guest maps RAM 1:1 into it and a device DMAs through it. */
	CHECK(hcall(c, UIOMMU_H_PUT_TCE, liobn, win + 0x30000, 0x30000 | 3, 0, NULL) == 0);
	CHECK(device_dma_write(v, liobn, win + 0x30000 + 0x100, "ddw", 4) == 0);
	CHECK(!memcmp(v->ram + 0x30100, "ddw", 4)); /* the VMM's own mapping sees it */
	CHECK(hcall(c, UIOMMU_H_GET_TCE, liobn, win + 0x30000, 0, 0, &r4) == 0 && r4 == 0x30003);

	/* ibm,remove-pe-dma-window(liobn) -> 1 cell */
	blk[0] = htobe32(UIOMMU_RTAS_REMOVE_PE_DMA_WINDOW), blk[1] = htobe32(1), blk[2] = htobe32(1);
	blk[3] = htobe32(liobn);
	CHECK(!uiommu_guest_write(v->guest, rtas_gpa, blk, 4 * 5));
	CHECK(hcall(c, H_RTAS, rtas_gpa, 0, 0, 0, NULL) == UIOMMU_H_SUCCESS);
	CHECK(!uiommu_guest_read(v->guest, rtas_gpa, blk, 4 * 5));
	CHECK(be32toh(blk[4]) == UIOMMU_RTAS_SUCCESS);
}

/*
 * The KVM profile, for a VMM that mirrors KVM's in-kernel fast path: what
 * the library cannot finish it answers H_TOO_HARD, and the VMM finishes
 * the whole hcall itself, as QEMU does after KVM exits to it. Here the VMM
 * keeps one LIOBN of its own (a device it emulates with its own table).
 */
static void kvm_profile(struct vmm *v)
{
	static uint64_t own_table[16]; /* the VMM's own 16-entry window at bus 0 */
	const uint64_t own_liobn = 0x1234;
	struct uiommu_guest *g;
	uint64_t args[9] = { own_liobn, 0x3000, 0x5003 }, rets[1];
	long ret;

	CHECK(!uiommu_guest_new(v->ctx, &g));
	CHECK(!uiommu_guest_set_memslot(g, 0, 0, RAM_SIZE, v->ram, 0));
	CHECK(!uiommu_papr_set_profile(g, UIOMMU_PAPR_PROFILE_KVM));
	CHECK(!uiommu_liobn_create_vio(g, VIO_REG));

	ret = uiommu_papr_hcall(g, UIOMMU_H_PUT_TCE, args, 9, rets, 1);
	CHECK(ret == UIOMMU_H_TOO_HARD); /* not the library's LIOBN: the VMM's slow path */
	if (args[1] >> 12 < 16) {
		own_table[args[1] >> 12] = args[2];
		ret = UIOMMU_H_SUCCESS;
	} else {
		ret = UIOMMU_H_PARAMETER;
	}
	CHECK(ret == UIOMMU_H_SUCCESS && own_table[3] == 0x5003);

	/* A TCE pointing outside guest RAM: KVM punts it; this VMM refuses it. */
	args[0] = VIO_REG, args[1] = 0, args[2] = (RAM_SIZE + 0x1000) | 3;
	CHECK(uiommu_papr_hcall(g, UIOMMU_H_PUT_TCE, args, 9, rets, 1) == UIOMMU_H_TOO_HARD);
	/* The library changed nothing: the entry is still empty for the VMM's answer. */
	args[2] = 0;
	CHECK(uiommu_papr_hcall(g, UIOMMU_H_GET_TCE, args, 9, rets, 1) == 0 && rets[0] == 0);
	uiommu_guest_free(g);
}

/* fork(): a helper process makes a context of its own, never uses the parent's. */
static void forked_helper(void)
{
	pid_t pid = fork();
	int status;

	CHECK(pid >= 0);
	if (pid == 0) {
		struct uiommu_ctx *ctx;
		struct uiommu_guest *g;

		if (uiommu_ctx_new(NULL, &ctx) || uiommu_guest_new(ctx, &g))
			_exit(1);
		uiommu_guest_free(g);
		_exit(uiommu_ctx_free(ctx) ? 1 : 0);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
	struct uiommu_ctx_config cfg = {
		.size = sizeof(cfg),
		.log_fn = log_fn,
		.log_max_level = UIOMMU_LOG_WARNING,
	};
	struct uiommu_papr_phb_config phb;
	struct vcpu vcpus[NVCPUS];
	pthread_t vcpu_th[NVCPUS], dev_th;
	struct vmm v = { .ram_fd = -1 };
	int faults = 0;

	/* Guest RAM as the VMM has it already: its own memfd, its own mapping. */
	v.ram_fd = memfd_create("guest-ram", MFD_CLOEXEC);
	CHECK(v.ram_fd >= 0 && ftruncate(v.ram_fd, RAM_SIZE) == 0);
	v.ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, v.ram_fd, 0);
	CHECK(v.ram != MAP_FAILED);

	CHECK(!uiommu_ctx_new(&cfg, &v.ctx));
	/* Each LIOBN charges what KVM would pin for its table: the VMM's policy, not ulimit -l. */
	CHECK(!uiommu_ctx_set_limit(v.ctx, UIOMMU_RES_LOCKED_BYTES, 256ULL << 20));
	/* The VMM's mapping is the region's: the library maps nothing, and the fd is dup()ed. */
	CHECK(!uiommu_ram_add(v.ctx, v.ram_fd, 0, RAM_SIZE, v.ram, &v.ram_hpa));
	CHECK(!uiommu_guest_new(v.ctx, &v.guest));
	CHECK(!uiommu_guest_set_memslot(v.guest, 0, 0, RAM_SIZE, v.ram, 0));
	CHECK(!uiommu_liobn_create_vio(v.guest, VIO_REG));
	uiommu_papr_phb_config_default(&phb, 0);
	CHECK(!uiommu_papr_phb_add(v.guest, &phb));
	v.phb_buid = phb.buid;

	/* vCPUs and the device, concurrently: hcalls need no lock and no thread registration. */
	pthread_mutex_init(&v.lock, NULL);
	pthread_cond_init(&v.cond, NULL);
	CHECK(!pthread_create(&dev_th, NULL, device_thread, &v));
	for (int i = 0; i < NVCPUS; i++) {
		vcpus[i] = (struct vcpu){ &v, i, uiommu_papr_pci_liobn(0, 0), 0 };
		CHECK(!pthread_create(&vcpu_th[i], NULL, vcpu_thread, &vcpus[i]));
	}
	for (int i = 0; i < NVCPUS; i++) {
		CHECK(!pthread_join(vcpu_th[i], NULL));
		faults += vcpus[i].faults_seen;
	}
	pthread_mutex_lock(&v.lock);
	v.stop = true;
	pthread_cond_broadcast(&v.cond);
	pthread_mutex_unlock(&v.lock);
	CHECK(!pthread_join(dev_th, NULL));
	printf("%d vCPUs: %d DMA rounds each, %d DMA faults reported as faults\n", NVCPUS, ROUNDS,
	       faults);

	guest_ddw(&vcpus[0]);
	kvm_profile(&v);
	forked_helper();

	/* Teardown, in reverse: nothing may be left (uiommu_ctx_free() says -EBUSY if it is). */
	uiommu_guest_free(v.guest);
	CHECK(!uiommu_ram_remove(v.ctx, v.ram_hpa));
	CHECK(!uiommu_ctx_free(v.ctx));
	munmap(v.ram, RAM_SIZE);
	close(v.ram_fd);
	pthread_cond_destroy(&v.cond);
	pthread_mutex_destroy(&v.lock);
	printf("done: every check passed\n");
	return 0;
}
