// SPDX-License-Identifier: BSD-3-Clause
/*
 * The device fd: what Linux drivers/vfio/pci/vfio_pci_core.c and
 * vfio_pci_intrs.c answer a client, for the shim's emulated PCI function
 * (pcifn.h): device, region and IRQ info, SET_IRQS (INTx, level-triggered
 * and automasked; REQ), reset, and region reads and writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shim_int.h"

/* ---- the device fd (drivers/vfio/pci/vfio_pci_core.c, vfio_pci_intrs.c) ------ */

static void intx_signal(struct shim *s, bool automask)
{
	uint64_t one = 1;

	/* an interrupt masks the line until ACTION_UNMASK (vfio_intx_handler()) */
	if (automask)
		s->intx_masked = true;
	if (write(s->intx_fd, &one, sizeof(one)) != sizeof(one))
		shim_log(s, "ERROR INTx eventfd write: %s", strerror(errno));
	shim_count(s, ST_INTX_SIGNAL, 0, 0);
}

/* The device's INTx line changed (called with the function's lock held). */
void shim_intx_fn(void *opaque, bool level)
{
	struct shim *s = opaque;

	if (level && s->intx_fd >= 0 && !s->intx_masked)
		intx_signal(s, true);
}

static uint32_t irq_count(unsigned int index)
{
	/* INTA# only (no MSI, no MSI-X); no AER without a PCIe capability; REQ always */
	return index == VFIO_PCI_INTX_IRQ_INDEX || index == VFIO_PCI_REQ_IRQ_INDEX;
}

static long set_irqs(struct shim *s, struct vfio_irq_set *set, char *args, size_t alen)
{
	size_t minsz = offsetof(struct vfio_irq_set, count) + sizeof(set->count);
	uint32_t dtype, action, size = 0;
	int32_t efd = -1;
	bool flag = true;

	if (!set)
		return -EFAULT;
	snprintf(args, alen, "flags=%#x index=%u start=%u count=%u", set->flags, set->index,
		 set->start, set->count);
	/* vfio_set_irqs_validate_and_prepare() */
	if (set->argsz < minsz || set->index >= DEV_NUM_IRQS ||
	    set->count >= UINT32_MAX - set->start ||
	    (set->flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)))
		return -EINVAL;
	if ((set->count || set->start) &&
	    (set->start >= irq_count(set->index) ||
	     set->start + set->count > irq_count(set->index)))
		return -EINVAL; /* vectors the device does not have */
	dtype = set->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	action = set->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	switch (dtype) {
	case VFIO_IRQ_SET_DATA_NONE:
		break;
	case VFIO_IRQ_SET_DATA_BOOL:
		size = 1;
		break;
	case VFIO_IRQ_SET_DATA_EVENTFD:
		size = 4;
		break;
	default:
		return -EINVAL;
	}
	if (size) {
		if (set->argsz - minsz < (uint64_t)set->count * size || !set->count)
			return -EINVAL;
		if (dtype == VFIO_IRQ_SET_DATA_EVENTFD)
			memcpy(&efd, set->data, 4);
		else
			flag = set->data[0];
		snprintf(args + strlen(args), alen - strlen(args), " data=%d",
			 dtype == VFIO_IRQ_SET_DATA_EVENTFD ? efd : flag);
	}
	if (action != VFIO_IRQ_SET_ACTION_MASK && action != VFIO_IRQ_SET_ACTION_UNMASK &&
	    action != VFIO_IRQ_SET_ACTION_TRIGGER)
		return -ENOTTY; /* vfio_pci_set_irqs_ioctl(): no such action */
	if (set->index == VFIO_PCI_REQ_IRQ_INDEX) {
		if (action != VFIO_IRQ_SET_ACTION_TRIGGER || set->start)
			return -EINVAL;
		if (dtype == VFIO_IRQ_SET_DATA_NONE && !set->count) {
			if (s->req_fd >= 0)
				close(s->req_fd);
			s->req_fd = -1;
			return 0;
		}
		if (dtype != VFIO_IRQ_SET_DATA_EVENTFD)
			return -EINVAL;
		if (s->req_fd >= 0)
			close(s->req_fd);
		s->req_fd = efd >= 0 ? fcntl(efd, F_DUPFD_CLOEXEC, 0) : -1;
		return efd >= 0 && s->req_fd < 0 ? -EINVAL : 0;
	}
	if (set->index != VFIO_PCI_INTX_IRQ_INDEX)
		return -EINVAL; /* MSI and MSI-X have no vectors (no capability) */
	if (action == VFIO_IRQ_SET_ACTION_TRIGGER) {
		if (dtype == VFIO_IRQ_SET_DATA_NONE && !set->count) {
			/* disable INTx */
			if (s->intx_fd >= 0)
				close(s->intx_fd);
			s->intx_fd = -1;
			s->intx_masked = false;
			return 0;
		}
		if (set->start || set->count != 1)
			return -EINVAL;
		if (dtype == VFIO_IRQ_SET_DATA_EVENTFD) {
			int dup = efd >= 0 ? fcntl(efd, F_DUPFD_CLOEXEC, 0) : -1;

			if (efd >= 0 && dup < 0)
				return -EINVAL;
			if (s->intx_fd >= 0)
				close(s->intx_fd);
			s->intx_fd = dup;
			s->intx_masked = false;
			if (dup >= 0 && pcifn_intx_asserted(s->fn))
				intx_signal(s, true);
			return 0;
		}
		/* NONE or BOOL true: a test interrupt (vfio_pci_intx_trigger()) */
		if (s->intx_fd < 0)
			return -EINVAL;
		if (flag)
			intx_signal(s, false);
		return 0;
	}
	if (s->intx_fd < 0 || set->start || set->count != 1)
		return -EINVAL;
	if (dtype == VFIO_IRQ_SET_DATA_EVENTFD)
		return SHIM_UNSERVED; /* mask/unmask by eventfd: KVM's irqfd resampler */
	if (!flag)
		return 0;
	if (action == VFIO_IRQ_SET_ACTION_MASK) {
		s->intx_masked = true;
	} else {
		s->intx_masked = false;
		/* still asserted: level-triggered, so it fires again */
		if (pcifn_intx_asserted(s->fn))
			intx_signal(s, true);
	}
	return 0;
}

long shim_device_ioctl(struct shim *s, int fd, unsigned long req, unsigned long arg,
			 enum stat_id *id, char *args, size_t alen)
{
	switch (req) {
	case VFIO_DEVICE_GET_INFO: {
		struct vfio_device_info *info = (void *)arg;

		*id = ST_DEVICE_GET_INFO;
		if (!info)
			return -EFAULT;
		if (info->argsz < offsetof(struct vfio_device_info, num_irqs) + 4)
			return -EINVAL;
		info->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
		info->num_regions = VFIO_PCI_NUM_REGIONS;
		info->num_irqs = DEV_NUM_IRQS;
		snprintf(args, alen, "flags=%#x num_regions=%u num_irqs=%u", info->flags,
			 info->num_regions, info->num_irqs);
		return 0;
	}
	case VFIO_DEVICE_GET_REGION_INFO: {
		struct vfio_region_info *r = (void *)arg;

		*id = ST_DEVICE_GET_REGION_INFO;
		if (!r)
			return -EFAULT;
		if (r->argsz < offsetof(struct vfio_region_info, offset) + 8)
			return -EINVAL;
		snprintf(args, alen, "index=%u", r->index);
		if (r->index == VFIO_PCI_VGA_REGION_INDEX || r->index >= VFIO_PCI_NUM_REGIONS)
			return -EINVAL; /* not a VGA device; no device-specific regions */
		r->offset = (uint64_t)r->index << REGION_SHIFT;
		r->cap_offset = 0;
		if (r->index == VFIO_PCI_CONFIG_REGION_INDEX) {
			r->size = PCIFN_CONFIG_SIZE;
			r->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		} else if (r->index < PCIFN_NUM_BARS && s->fn->bar_size[r->index]) {
			/* not mmap-able: every access reaches the device model */
			r->size = s->fn->bar_size[r->index];
			r->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		} else {
			r->size = 0; /* no BAR, no ROM */
			r->flags = 0;
		}
		snprintf(args + strlen(args), alen - strlen(args), " size=%#llx flags=%#x",
			 (unsigned long long)r->size, r->flags);
		return 0;
	}
	case VFIO_DEVICE_GET_IRQ_INFO: {
		struct vfio_irq_info *irq = (void *)arg;

		*id = ST_DEVICE_GET_IRQ_INFO;
		if (!irq)
			return -EFAULT;
		if (irq->argsz < offsetof(struct vfio_irq_info, count) + 4)
			return -EINVAL;
		snprintf(args, alen, "index=%u", irq->index);
		if (irq->index >= DEV_NUM_IRQS)
			return -EINVAL;
		irq->flags = VFIO_IRQ_INFO_EVENTFD;
		if (irq->index == VFIO_PCI_INTX_IRQ_INDEX)
			irq->flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
		else if (irq->index == VFIO_PCI_MSIX_IRQ_INDEX ||
			 irq->index == VFIO_PCI_MSI_IRQ_INDEX)
			irq->flags |= VFIO_IRQ_INFO_NORESIZE;
		irq->count = irq_count(irq->index);
		snprintf(args + strlen(args), alen - strlen(args), " flags=%#x count=%u",
			 irq->flags, irq->count);
		return 0;
	}
	case VFIO_DEVICE_SET_IRQS: {
		long ret;

		*id = ST_DEVICE_SET_IRQS;
		pthread_mutex_lock(&s->fn->lock);
		ret = set_irqs(s, (void *)arg, args, alen);
		pthread_mutex_unlock(&s->fn->lock);
		return ret;
	}
	case VFIO_DEVICE_RESET:
		*id = ST_DEVICE_RESET;
		pthread_mutex_lock(&s->fn->lock);
		pcifn_reset(s->fn);
		pthread_mutex_unlock(&s->fn->lock);
		return 0;
	}
	return SHIM_UNSERVED;
}

/* ---- region access ------------------------------------------------------------- */

static ssize_t region_rw(struct shim *s, int fd, void *buf, size_t len, off_t off, bool write)
{
	uint64_t index = REGION_INDEX(off), roff = REGION_OFF(off), t0 = shim_now_ns();
	enum stat_id id;
	uint64_t val = 0;
	ssize_t ret = (ssize_t)len;
	struct sfd *f;

	pthread_mutex_lock(&s->lock);
	f = shim_sfd_get(s, fd);
	pthread_mutex_unlock(&s->lock);
	if (!f || f->kind != SFD_DEVICE) {
		char call[64];

		snprintf(call, sizeof(call), "%s len=%#zx off=%#llx", write ? "pwrite" : "pread", len,
			 (unsigned long long)off);
		return shim_unserved(s, fd, call);
	}
	pthread_mutex_lock(&s->fn->lock);
	if (index == VFIO_PCI_CONFIG_REGION_INDEX) {
		id = write ? ST_CONFIG_WRITE : ST_CONFIG_READ;
		if (off < 0 || roff >= PCIFN_CONFIG_SIZE || len > PCIFN_CONFIG_SIZE - roff)
			ret = -EINVAL;
		else if (write)
			pcifn_config_write(s->fn, (unsigned int)roff, buf, (unsigned int)len);
		else
			pcifn_config_read(s->fn, (unsigned int)roff, buf, (unsigned int)len);
		if (ret >= 0 && len <= 8)
			memcpy(&val, buf, len);
	} else {
		id = write ? ST_BAR_WRITE : ST_BAR_READ;
		if (index >= PCIFN_NUM_BARS || !s->fn->bar_size[index] ||
		    roff >= s->fn->bar_size[index] || len > s->fn->bar_size[index] - roff ||
		    (len != 1 && len != 2 && len != 4 && len != 8)) {
			ret = -EINVAL;
		} else if (uiommu_dev_mmio_check(s->dev)) {
			/* a frozen PE: loads return all ones, stores are dropped (EEH) */
			if (!write)
				memset(buf, 0xff, len);
		} else if (write) {
			memcpy(&val, buf, len);
			s->fn->ops->bar_write(s->fn, (int)index, roff, val, (unsigned int)len);
		} else {
			val = s->fn->ops->bar_read(s->fn, (int)index, roff, (unsigned int)len);
			memcpy(buf, &val, len);
		}
	}
	pthread_mutex_unlock(&s->fn->lock);
	shim_count(s, id, ret, shim_now_ns() - t0);
	if (s->cfg.log_calls || ret < 0)
		shim_log(s, "device %s index=%llu off=%#llx len=%zu val=%#llx -> %s", shim_stat_name[id],
			 (unsigned long long)index, (unsigned long long)roff, len,
			 (unsigned long long)val, shim_errname(ret));
	return ret;
}

ssize_t shim_pread(struct shim *s, int fd, void *buf, size_t len, off_t off)
{
	return region_rw(s, fd, buf, len, off, false);
}

ssize_t shim_pwrite(struct shim *s, int fd, const void *buf, size_t len, off_t off)
{
	return region_rw(s, fd, (void *)buf, len, off, true);
}

