/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pcifn.h - an emulated PCI function as the shim's device fd shows it: a
 * 256-byte type-0 configuration space with write masks (so BAR sizing,
 * the command register and the capability list behave as on hardware),
 * memory BARs served by the device model, and one INTx line.
 *
 * Two models: "null" (pcifn_null_new(): a function no guest driver binds,
 * with one BAR that reads as zero) and virtio-blk (virtio_blk.h).
 *
 * Locking: the shim serializes every call on one function with the
 * function's lock (struct pcifn.lock), including the device model's own
 * work (a virtqueue kick runs inside the BAR write that rang it).
 */
#ifndef UIOMMU_VFIO_PRELOAD_PCIFN_H
#define UIOMMU_VFIO_PRELOAD_PCIFN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PCIFN_CONFIG_SIZE	256u
#define PCIFN_NUM_BARS		6

/* Configuration-space offsets and bits (PCI Local Bus 3.0). */
#define PCI_CFG_VENDOR_ID	0x00
#define PCI_CFG_DEVICE_ID	0x02
#define PCI_CFG_COMMAND		0x04
#define PCI_CFG_STATUS		0x06
#define PCI_CFG_REVISION	0x08
#define PCI_CFG_CLASS_PROG	0x09
#define PCI_CFG_HEADER_TYPE	0x0e
#define PCI_CFG_BAR0		0x10
#define PCI_CFG_SUBSYS_VENDOR	0x2c
#define PCI_CFG_SUBSYS_ID	0x2e
#define PCI_CFG_CAP_PTR		0x34
#define PCI_CFG_INT_LINE	0x3c
#define PCI_CFG_INT_PIN		0x3d
#define PCI_CMD_IO		0x0001
#define PCI_CMD_MEMORY		0x0002
#define PCI_CMD_MASTER		0x0004
#define PCI_CMD_INTX_DISABLE	0x0400
#define PCI_STS_INTX		0x0008
#define PCI_STS_CAP_LIST	0x0010

struct pcifn;

/**
 * struct pcifn_ops - what a device model does.
 * @name: model name for the log ("null", "virtio-blk").
 * @bar_read: a read of @size (1, 2, 4 or 8) bytes at @off of BAR @bar
 *	(inside the BAR); returns the value, little-endian as on the bus.
 * @bar_write: a write of @val.
 * @config_written: optional; told after a configuration write changed
 *	[@off, @off + @len) (the command register, say).
 * @reset: the function's reset (VFIO_DEVICE_RESET, or a bus reset): back
 *	to power-on state; configuration space is reset by pcifn itself.
 * @free: release the model.
 */
struct pcifn_ops {
	const char *name;
	uint64_t (*bar_read)(struct pcifn *fn, int bar, uint64_t off, unsigned int size);
	void (*bar_write)(struct pcifn *fn, int bar, uint64_t off, uint64_t val,
			  unsigned int size);
	void (*config_written)(struct pcifn *fn, unsigned int off, unsigned int len);
	void (*reset)(struct pcifn *fn);
	void (*free)(struct pcifn *fn);
};

/* Called with the function's lock held when its INTx line changes. */
typedef void pcifn_irq_fn(void *opaque, bool level);

/**
 * struct pcifn - one emulated PCI function.
 * @ops: the model.
 * @lock: serializes every access (held by the shim around each call).
 * @config: configuration space.
 * @reset_config: its power-on contents.
 * @wmask: writable bits of @config.
 * @bar_size: bytes of each memory BAR, 0 if absent (powers of two, 4 KiB
 *	at least).
 * @irq_fn: INTx line output (the shim's vfio-pci INTx).
 * @irq_opaque: for @irq_fn.
 * @irq_level: the model's INTx request (before the command register's
 *	INTx Disable).
 */
struct pcifn {
	const struct pcifn_ops *ops;
	pthread_mutex_t lock;
	uint8_t config[PCIFN_CONFIG_SIZE];
	uint8_t reset_config[PCIFN_CONFIG_SIZE];
	uint8_t wmask[PCIFN_CONFIG_SIZE];
	uint32_t bar_size[PCIFN_NUM_BARS];
	pcifn_irq_fn *irq_fn;
	void *irq_opaque;
	bool irq_level;
};

/**
 * pcifn_init() - Initialize the common part of a model's function.
 * @fn: the function (embedded first in the model's struct).
 * @ops: the model.
 * @vendor: vendor ID.
 * @device: device ID.
 * @class_code: class, subclass and programming interface (24 bits).
 * @revision: revision ID.
 *
 * A type-0 header with INTA#, the command register's I/O, memory, bus
 * master and INTx Disable bits writable, and no BAR yet.
 */
void pcifn_init(struct pcifn *fn, const struct pcifn_ops *ops, uint16_t vendor,
		uint16_t device, uint32_t class_code, uint8_t revision);

/**
 * pcifn_add_bar() - Give the function a 32-bit non-prefetchable memory BAR.
 * @fn: function.
 * @bar: 0..5.
 * @size: bytes, a power of two of at least 4 KiB.
 */
void pcifn_add_bar(struct pcifn *fn, int bar, uint32_t size);

/**
 * pcifn_add_cap() - Append a capability to the list.
 * @fn: function.
 * @off: its offset in configuration space (dword aligned, 0x40 or more).
 * @cap: its bytes (ID first; the next pointer, byte 1, is filled in).
 * @len: bytes of @cap.
 *
 * Capabilities are read-only.
 */
void pcifn_add_cap(struct pcifn *fn, unsigned int off, const uint8_t *cap, unsigned int len);

/** pcifn_seal() - Record the power-on configuration (after the adds). */
void pcifn_seal(struct pcifn *fn);

/* Configuration access: @off + @len <= PCIFN_CONFIG_SIZE, any bytes. */
void pcifn_config_read(struct pcifn *fn, unsigned int off, void *buf, unsigned int len);
void pcifn_config_write(struct pcifn *fn, unsigned int off, const void *buf, unsigned int len);

/** pcifn_reset() - Reset the function: configuration and model. */
void pcifn_reset(struct pcifn *fn);

/** pcifn_set_irq() - The model raises (true) or lowers its INTx request. */
void pcifn_set_irq(struct pcifn *fn, bool level);

/** pcifn_intx_asserted() - Is INTx asserted (requested and not disabled)? */
bool pcifn_intx_asserted(const struct pcifn *fn);

/** pcifn_command() - The command register. */
uint16_t pcifn_command(const struct pcifn *fn);

/** pcifn_null_new() - The "null" model: 1b36:0005 class ff0000, a 4 KiB BAR0 of zeros. */
struct pcifn *pcifn_null_new(void);

#endif /* UIOMMU_VFIO_PRELOAD_PCIFN_H */
