/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The VMM side of 'uiommu replay --accel' and '--exits': the replayed
 * guest's PCI windows backed by VFIO containers, as if its devices were
 * passed through, and the hypercalls made either on a vCPU with the
 * container's host tables attached to the LIOBNs (the accelerated path:
 * KVM's in-kernel acceleration), or as exits to a VMM thread that applies
 * each one through the container's MAP_DMA/UNMAP_DMA (QEMU without it).
 * It plugs into the engine through its hooks (struct replay_hooks): the
 * engine itself does not know about it. See doc/replay.md.
 */
#ifndef UIOMMU_CLI_REPLAY_VMM_H
#define UIOMMU_CLI_REPLAY_VMM_H

#include <pthread.h>
#include <semaphore.h>

#include "replay.h"

enum replay_vmm_mode {
	REPLAY_VMM_ACCEL, /* on a vCPU, host tables attached; H_TOO_HARD redone by the VMM */
	REPLAY_VMM_EXITS, /* every TCE hypercall an exit to the VMM thread */
};

#define REPLAY_VMM_PHBS 256

/* One guest PHB: a PE of the host's, alone in its container. */
struct replay_vmm_phb {
	struct uiommu_pe *pe;
	struct uiommu_vfio_container *c;
	unsigned int nram;	 /* RAM regions registered with the container */
	bool attached[2];	 /* window w's LIOBN attached (accel) or backed (exits) */
	uint64_t bus[2];	 /* the window's bus offset when it was backed */
};

/* The exit: a request handed to the VMM thread and back. */
struct replay_vmm_exit {
	sem_t req, resp;
	uint64_t opcode, args[4], rets[1];
	unsigned int nargs, nrets;
	long ret;
	bool quit;
	pthread_t thread;
	bool running;
};

struct replay_vmm {
	enum replay_vmm_mode mode;
	struct replay *r;
	struct replay_hooks hooks;
	struct uiommu_phb *host_phb;
	struct replay_vmm_phb phb[REPLAY_VMM_PHBS];
	struct uiommu_vcpu *vcpu;
	bool in_guest;
	uint64_t since_quiescent;
	bool synced;
	unsigned int nram_synced; /* the replay's RAM regions when the windows were synced */
	bool failed;		  /* the VFIO side failed during an hcall: @err says why */
	struct replay_vmm_exit ex;
	/* what happened */
	uint64_t hcalls, fallbacks, exits;
	uint64_t mapped_bytes;	   /* bytes of IOMMU pages the hcalls mapped */
	double hcall_seconds;	   /* in the hcalls (the VMM's share included), clock reads too */
	uint64_t windows_backed, windows_refused;
	double exit_round_trip_ns; /* one bare exit round trip, measured at the start */
	char err[400];
};

/*
 * replay_vmm_init() - Set up the VMM side for a replay that replay_init()
 * prepared: the context's limits, the host PHB, the hooks, the vCPU or the
 * VMM thread. Return: 0, or -errno with r->fatal saying why.
 */
int replay_vmm_init(struct replay_vmm *v, struct replay *r, enum replay_vmm_mode mode);

/* replay_vmm_fini() - Detach, free the containers, the vCPU, the thread; before replay_fini(). */
void replay_vmm_fini(struct replay_vmm *v);

/* The context configuration the mode needs (simulated pins, 4 KiB host pages). */
void replay_vmm_ctx_config(struct uiommu_ctx_config *cfg);

const char *replay_vmm_mode_name(enum replay_vmm_mode mode);

#endif /* UIOMMU_CLI_REPLAY_VMM_H */
