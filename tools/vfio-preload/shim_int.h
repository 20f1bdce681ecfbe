/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shim_int.h - what the shim's own files share: the shim's state, its fd
 * table and statistics. Not for tests or the interposer (they use shim.h).
 *   shim.c       configuration, log, fds, group and container fds, teardown
 *   device_fd.c  the device fd: regions, IRQs (INTx), reset
 *   ram.c        QEMU's guest RAM in the hpa space
 */
#ifndef UIOMMU_VFIO_PRELOAD_SHIM_INT_H
#define UIOMMU_VFIO_PRELOAD_SHIM_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/vfio.h>

#include <uiommu/uiommu.h>

#include "container.h"
#include "pcifn.h"
#include "shim.h"

#define SHIM_FDS_MAX		64
#define SHIM_RAM_MAX		64
#define REGION_SHIFT		40 /* vfio-pci: region index << 40 (VFIO_PCI_OFFSET_SHIFT) */
#define REGION_INDEX(off)	((uint64_t)(off) >> REGION_SHIFT)
#define REGION_OFF(off)		((uint64_t)(off) & ((1ULL << REGION_SHIFT) - 1))
#define DEV_NUM_IRQS		VFIO_PCI_NUM_IRQS
#define FD_BITS			65536
#define SHIM_UNSERVED		INT_MIN /* what a handler returns for a call it does not serve */

enum sfd_kind { SFD_CONTAINER, SFD_GROUP, SFD_DEVICE };

struct sfd {
	int fd;
	enum sfd_kind kind;
	struct shim_container *container; /* SFD_CONTAINER */
};

/*
 * QEMU's guest RAM, added to the hpa space when it is first registered;
 * @refs counts the successful registrations of exactly this range (one per
 * container), and the region leaves the hpa space with the last.
 */
struct ram {
	uint64_t vaddr, size, hpa;
	unsigned int refs;
};

/* Per-request statistics. */
enum stat_id {
	ST_GET_API_VERSION, ST_CHECK_EXTENSION, ST_SET_IOMMU, ST_GET_INFO, ST_MAP_DMA,
	ST_UNMAP_DMA, ST_ENABLE, ST_DISABLE, ST_REGISTER_MEMORY, ST_UNREGISTER_MEMORY,
	ST_TCE_CREATE, ST_TCE_REMOVE, ST_EEH_PE_OP, ST_GROUP_GET_STATUS, ST_GROUP_SET_CONTAINER,
	ST_GROUP_UNSET_CONTAINER, ST_GROUP_GET_DEVICE_FD, ST_DEVICE_GET_INFO,
	ST_DEVICE_GET_REGION_INFO, ST_DEVICE_GET_IRQ_INFO, ST_DEVICE_SET_IRQS, ST_DEVICE_RESET,
	ST_CONFIG_READ, ST_CONFIG_WRITE, ST_BAR_READ, ST_BAR_WRITE, ST_OPEN, ST_CLOSE,
	ST_INTX_SIGNAL, ST_UNSERVED, ST_NR
};


struct call_stat {
	uint64_t calls, errors, ns;
};

struct shim {
	struct shim_config cfg;
	char devname[64];
	bool made_sysfsdev;

	pthread_mutex_t log_lock;
	pthread_mutex_t lock; /* fds, ram, group state, stats */
	struct sfd fds[SHIM_FDS_MAX];
	unsigned int nfds;
	/* which fds are in @fds: a lock-free test for every call the client makes */
	_Atomic unsigned char fd_ours[FD_BITS / 8];
	struct ram ram[SHIM_RAM_MAX];
	unsigned int nram;
	struct call_stat stats[ST_NR];
	uint64_t locked_peak;

	struct uiommu_ctx *ctx;
	struct uiommu_phb *phb;
	struct uiommu_pe *pe;
	struct uiommu_dev *dev;
	struct uiommu_table_group *grp;
	struct shim_container *grp_container; /* the container the group is in */

	struct pcifn *fn;
	/* vfio-pci INTx: level-triggered, automasked on each interrupt */
	int intx_fd;
	bool intx_masked;
	int req_fd;
};

extern const char *const shim_sfd_name[];
extern const char *const shim_stat_name[ST_NR];

/* "0", "5" or "-EINVAL", for the log. */
const char *shim_errname(long ret);
/* CLOCK_MONOTONIC in ns. */
uint64_t shim_now_ns(void);
/* Count a served call in the statistics. */
void shim_count(struct shim *s, enum stat_id id, long ret, uint64_t ns);
/* The fd table: look up (s->lock held), add a new memfd-backed fd. */
struct sfd *shim_sfd_get(struct shim *s, int fd);
int shim_sfd_new(struct shim *s, enum sfd_kind kind, struct shim_container *c);

/* device_fd.c: an ioctl on the device fd (SHIM_UNSERVED if unknown); INTx output. */
long shim_device_ioctl(struct shim *s, int fd, unsigned long req, unsigned long arg,
		       enum stat_id *id, char *args, size_t alen);
void shim_intx_fn(void *opaque, bool level);

/* ram.c: guest RAM into the hpa space before a registration, counted after one. */
int shim_ram_add(struct shim *s, uint64_t vaddr, uint64_t size, bool *added);
void shim_ram_ref(struct shim *s, uint64_t vaddr, uint64_t size, int delta);

#endif /* UIOMMU_VFIO_PRELOAD_SHIM_INT_H */
