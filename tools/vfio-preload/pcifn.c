// SPDX-License-Identifier: BSD-3-Clause
/*
 * The PCI function model common to the shim's devices: configuration
 * space with write masks, memory BARs, the INTx line (and the status
 * register's Interrupt Status bit); and the "null" device.
 */
#include <stdlib.h>
#include <string.h>

#include "pcifn.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

void pcifn_init(struct pcifn *fn, const struct pcifn_ops *ops, uint16_t vendor,
		uint16_t device, uint32_t class_code, uint8_t revision)
{
	memset(fn->config, 0, sizeof(fn->config));
	memset(fn->wmask, 0, sizeof(fn->wmask));
	memset(fn->bar_size, 0, sizeof(fn->bar_size));
	fn->ops = ops;
	pthread_mutex_init(&fn->lock, NULL);
	put16(fn->config + PCI_CFG_VENDOR_ID, vendor);
	put16(fn->config + PCI_CFG_DEVICE_ID, device);
	fn->config[PCI_CFG_REVISION] = revision;
	fn->config[PCI_CFG_CLASS_PROG] = (uint8_t)class_code;
	fn->config[PCI_CFG_CLASS_PROG + 1] = (uint8_t)(class_code >> 8);
	fn->config[PCI_CFG_CLASS_PROG + 2] = (uint8_t)(class_code >> 16);
	put16(fn->config + PCI_CFG_SUBSYS_VENDOR, vendor);
	fn->config[PCI_CFG_INT_PIN] = 1; /* INTA# */
	put16(fn->wmask + PCI_CFG_COMMAND,
	      PCI_CMD_IO | PCI_CMD_MEMORY | PCI_CMD_MASTER | PCI_CMD_INTX_DISABLE);
	fn->wmask[PCI_CFG_INT_LINE] = 0xff;
	fn->irq_level = false;
}

void pcifn_add_bar(struct pcifn *fn, int bar, uint32_t size)
{
	uint32_t mask = ~(size - 1);

	fn->bar_size[bar] = size;
	/* 32-bit memory space, not prefetchable: the low 4 bits read 0. */
	for (int i = 0; i < 4; i++)
		fn->wmask[PCI_CFG_BAR0 + 4 * bar + i] = (uint8_t)(mask >> (8 * i));
}

void pcifn_add_cap(struct pcifn *fn, unsigned int off, const uint8_t *cap, unsigned int len)
{
	unsigned int link = PCI_CFG_CAP_PTR;

	memcpy(fn->config + off, cap, len);
	fn->config[off + 1] = 0;
	/* append: follow the next pointers (byte 1 of each) to the last one */
	while (fn->config[link])
		link = fn->config[link] + 1u;
	fn->config[link] = (uint8_t)off;
	put16(fn->config + PCI_CFG_STATUS, get16(fn->config + PCI_CFG_STATUS) | PCI_STS_CAP_LIST);
}

void pcifn_seal(struct pcifn *fn)
{
	memcpy(fn->reset_config, fn->config, sizeof(fn->config));
}

static void update_irq(struct pcifn *fn, bool was)
{
	bool now = pcifn_intx_asserted(fn);
	uint16_t sts = get16(fn->config + PCI_CFG_STATUS) & ~PCI_STS_INTX;

	/* Interrupt Status shows the request even while INTx Disable masks it. */
	put16(fn->config + PCI_CFG_STATUS, sts | (fn->irq_level ? PCI_STS_INTX : 0));
	if (now != was && fn->irq_fn)
		fn->irq_fn(fn->irq_opaque, now);
}

void pcifn_config_read(struct pcifn *fn, unsigned int off, void *buf, unsigned int len)
{
	memcpy(buf, fn->config + off, len);
}

void pcifn_config_write(struct pcifn *fn, unsigned int off, const void *buf, unsigned int len)
{
	const uint8_t *b = buf;
	bool was = pcifn_intx_asserted(fn);

	for (unsigned int i = 0; i < len; i++) {
		uint8_t m = fn->wmask[off + i];

		fn->config[off + i] = (uint8_t)((fn->config[off + i] & ~m) | (b[i] & m));
	}
	update_irq(fn, was);
	if (fn->ops->config_written)
		fn->ops->config_written(fn, off, len);
}

void pcifn_reset(struct pcifn *fn)
{
	bool was = pcifn_intx_asserted(fn);

	memcpy(fn->config, fn->reset_config, sizeof(fn->config));
	fn->irq_level = false;
	if (fn->ops->reset)
		fn->ops->reset(fn);
	update_irq(fn, was);
}

void pcifn_set_irq(struct pcifn *fn, bool level)
{
	bool was = pcifn_intx_asserted(fn);

	fn->irq_level = level;
	update_irq(fn, was);
}

bool pcifn_intx_asserted(const struct pcifn *fn)
{
	return fn->irq_level && !(pcifn_command(fn) & PCI_CMD_INTX_DISABLE);
}

uint16_t pcifn_command(const struct pcifn *fn)
{
	return get16(fn->config + PCI_CFG_COMMAND);
}

/* ---- the null device ---------------------------------------------------- */

static uint64_t null_bar_read(struct pcifn *fn, int bar, uint64_t off, unsigned int size)
{
	return 0;
}

static void null_bar_write(struct pcifn *fn, int bar, uint64_t off, uint64_t val,
			   unsigned int size)
{
}

static void null_free(struct pcifn *fn)
{
	pthread_mutex_destroy(&fn->lock);
	free(fn);
}

static const struct pcifn_ops null_ops = {
	.name = "null",
	.bar_read = null_bar_read,
	.bar_write = null_bar_write,
	.free = null_free,
};

struct pcifn *pcifn_null_new(void)
{
	struct pcifn *fn = calloc(1, sizeof(*fn));

	if (!fn)
		return NULL;
	/* QEMU's PCI test device ID: no Linux driver binds it. Class "unassigned". */
	pcifn_init(fn, &null_ops, 0x1b36, 0x0005, 0xff0000, 0);
	pcifn_add_bar(fn, 0, 4096);
	pcifn_seal(fn);
	return fn;
}
