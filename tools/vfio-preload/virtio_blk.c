// SPDX-License-Identifier: BSD-3-Clause
/*
 * A virtio 1.x block device on uiommu's device API; see virtio_blk.h.
 * Every guest memory access is uiommu_dev_dma_read()/_write() (or their
 * scatter-gather forms) of a bus address.
 */
#include <endian.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtio_blk.h"

/* Device status bits (virtio 1.1 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE	0x01
#define VIRTIO_STATUS_DRIVER		0x02
#define VIRTIO_STATUS_DRIVER_OK		0x04
#define VIRTIO_STATUS_FEATURES_OK	0x08
#define VIRTIO_STATUS_NEEDS_RESET	0x40
#define VIRTIO_STATUS_FAILED		0x80

/* Feature bits. */
#define VIRTIO_BLK_F_SEG_MAX		2
#define VIRTIO_BLK_F_BLK_SIZE		6
#define VIRTIO_BLK_F_FLUSH		9
#define VIRTIO_RING_F_INDIRECT_DESC	28
#define VIRTIO_F_VERSION_1		32
#define VIRTIO_F_ACCESS_PLATFORM	33
#define BIT(n)				(1ULL << (n))
#define VBLK_FEATURES (BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_BLK_SIZE) |             \
		       BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_RING_F_INDIRECT_DESC) |          \
		       BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_ACCESS_PLATFORM))
#define VBLK_REQUIRED (BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_ACCESS_PLATFORM))

/* virtio-pci capability types (virtio 1.1 4.1.4). */
#define VIRTIO_PCI_CAP_COMMON_CFG	1
#define VIRTIO_PCI_CAP_NOTIFY_CFG	2
#define VIRTIO_PCI_CAP_ISR_CFG		3
#define VIRTIO_PCI_CAP_DEVICE_CFG	4
#define PCI_CAP_ID_VNDR			0x09

/* Split-ring descriptor flags, request types and status values. */
#define VRING_DESC_F_NEXT		1
#define VRING_DESC_F_WRITE		2
#define VRING_DESC_F_INDIRECT		4
#define VRING_AVAIL_F_NO_INTERRUPT	1
#define VIRTIO_BLK_T_IN			0
#define VIRTIO_BLK_T_OUT		1
#define VIRTIO_BLK_T_FLUSH		4
#define VIRTIO_BLK_T_GET_ID		8
#define VIRTIO_BLK_S_OK			0
#define VIRTIO_BLK_S_IOERR		1
#define VIRTIO_BLK_S_UNSUPP		2
#define VIRTIO_BLK_ID_BYTES		20
#define VIRTIO_MSI_NO_VECTOR		0xffff

#define SECTOR				512u
#define VBLK_SEG_MAX			(VBLK_QUEUE_MAX - 2)
/* Descriptors of one chain, indirect tables included, at most. */
#define VBLK_CHAIN_MAX			1024u
/* Data bytes of one request, at most (a Linux request is at most a few MiB). */
#define VBLK_REQUEST_MAX		(32u << 20)

struct vq {
	uint16_t size;
	uint16_t enable;
	uint64_t desc, avail, used;
	uint16_t last_avail;
	uint16_t used_idx;
};

struct seg {
	uint64_t addr;
	uint32_t len;
	bool write;
};

struct vblk {
	struct pcifn fn; /* first */
	struct uiommu_dev *dev;
	int fd;
	uint64_t sectors;
	vblk_log_fn *log;
	void *log_opaque;

	uint32_t dfselect, gfselect;
	uint64_t guest_features;
	uint8_t status;
	uint8_t isr;
	uint16_t queue_select;
	struct vq vq;

	struct seg segs[VBLK_CHAIN_MAX];
	struct uiommu_dma_sg sg[VBLK_CHAIN_MAX];
	void *bounce;
	size_t bounce_size;
	struct virtio_blk_stats stats;
};

#define VBLK(f) ((struct vblk *)(f))

static void needs_reset(struct vblk *vb, const char *why)
{
	if (vb->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	vb->log(vb->log_opaque, "virtio-blk: DEVICE_NEEDS_RESET: %s", why);
	vb->status |= VIRTIO_STATUS_NEEDS_RESET;
	vb->stats.needs_reset++;
	if (vb->status & VIRTIO_STATUS_DRIVER_OK) {
		vb->isr |= 2; /* configuration change */
		vb->stats.interrupts++;
		pcifn_set_irq(&vb->fn, true);
	}
}

/* One DMA; a fault puts the device in DEVICE_NEEDS_RESET. */
static int dma(struct vblk *vb, uint64_t ioba, void *buf, uint64_t len, bool to_memory)
{
	struct uiommu_dma_fault f = { .size = sizeof(f) };
	int ret = to_memory ? uiommu_dev_dma_write(vb->dev, ioba, buf, len, &f)
			    : uiommu_dev_dma_read(vb->dev, ioba, buf, len, &f);

	if (ret) {
		vb->log(vb->log_opaque,
			"virtio-blk: DMA %s of %#llx bytes at %#llx failed: %s (fault reason %u at %#llx)",
			to_memory ? "write" : "read", (unsigned long long)len,
			(unsigned long long)ioba, uiommu_strerror(ret), f.reason,
			(unsigned long long)f.ioba);
		needs_reset(vb, "DMA fault");
	}
	return ret;
}

static int dma16(struct vblk *vb, uint64_t ioba, uint16_t *v)
{
	uint16_t le;
	int ret = dma(vb, ioba, &le, 2, false);

	*v = le16toh(le);
	return ret;
}

/*
 * Copy [@off, @off + @len) of the data of segments [@first, @first + @n)
 * to or from @buf: one scatter-gather DMA.
 */
static int sg_copy(struct vblk *vb, unsigned int first, unsigned int n, uint64_t off,
		   void *buf, uint64_t len, bool to_memory)
{
	struct uiommu_dma_fault f = { .size = sizeof(f) };
	unsigned int nsg = 0;
	uint64_t left = len;
	int ret;

	if (!len)
		return 0;
	for (unsigned int i = first; i < first + n && left; i++) {
		uint64_t l = vb->segs[i].len;

		if (off >= l) {
			off -= l;
			continue;
		}
		vb->sg[nsg].ioba = vb->segs[i].addr + off;
		vb->sg[nsg].len = l - off < left ? l - off : left;
		left -= vb->sg[nsg].len;
		off = 0;
		nsg++;
	}
	if (left)
		return -EINVAL;
	ret = to_memory ? uiommu_dev_dma_write_sg(vb->dev, vb->sg, nsg, buf, NULL, &f)
			: uiommu_dev_dma_read_sg(vb->dev, vb->sg, nsg, buf, NULL, &f);
	if (ret) {
		vb->log(vb->log_opaque,
			"virtio-blk: DMA %s of %u segments failed: %s (fault reason %u at %#llx)",
			to_memory ? "write" : "read", nsg, uiommu_strerror(ret), f.reason,
			(unsigned long long)f.ioba);
		needs_reset(vb, "DMA fault");
	}
	return ret;
}

/* Walk the chain at @head into vb->segs; returns the count, or -1 (needs reset). */
static int walk_chain(struct vblk *vb, uint16_t head, unsigned int *nread)
{
	struct vq *q = &vb->vq;
	uint64_t table = q->desc, tsize = q->size;
	unsigned int n = 0, steps = 0;
	bool indirect = false, seen_write = false;
	uint32_t i = head;

	*nread = 0;
	for (;;) {
		struct {
			uint64_t addr;
			uint32_t len;
			uint16_t flags, next;
		} d;

		if (i >= tsize || ++steps > VBLK_CHAIN_MAX) {
			needs_reset(vb, "descriptor index out of range or chain too long");
			return -1;
		}
		if (dma(vb, table + 16ULL * i, &d, sizeof(d), false))
			return -1;
		d.addr = le64toh(d.addr);
		d.len = le32toh(d.len);
		d.flags = le16toh(d.flags);
		d.next = le16toh(d.next);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (indirect || (d.flags & VRING_DESC_F_NEXT) || !d.len || d.len % 16) {
				needs_reset(vb, "malformed indirect descriptor");
				return -1;
			}
			indirect = true;
			table = d.addr;
			tsize = d.len / 16;
			i = 0;
			continue;
		}
		if (d.flags & VRING_DESC_F_WRITE) {
			seen_write = true;
		} else if (seen_write) {
			needs_reset(vb, "a device-readable descriptor after a writable one");
			return -1;
		} else {
			(*nread)++;
		}
		if (n == VBLK_CHAIN_MAX) {
			needs_reset(vb, "chain too long");
			return -1;
		}
		vb->segs[n++] = (struct seg){ .addr = d.addr, .len = d.len,
					      .write = (d.flags & VRING_DESC_F_WRITE) != 0 };
		if (!(d.flags & VRING_DESC_F_NEXT))
			return (int)n;
		i = d.next;
	}
}

static void *bounce(struct vblk *vb, size_t len)
{
	if (len > vb->bounce_size) {
		void *p = realloc(vb->bounce, len);

		if (!p)
			return NULL;
		vb->bounce = p;
		vb->bounce_size = len;
	}
	return vb->bounce;
}

static uint64_t seg_bytes(struct vblk *vb, unsigned int first, unsigned int n)
{
	uint64_t t = 0;

	for (unsigned int i = first; i < first + n; i++)
		t += vb->segs[i].len;
	return t;
}

static ssize_t disk_io(struct vblk *vb, bool write, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = write ? pwrite(vb->fd, (char *)buf + done, len - done, (off_t)(off + done))
				  : pread(vb->fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

/* One request; returns the used length, or -1 if the device needs a reset. */
static int64_t do_request(struct vblk *vb, uint16_t head)
{
	unsigned int nread, nwrite;
	int n = walk_chain(vb, head, &nread);
	uint64_t rbytes, wbytes, data = 0, used = 0;
	struct {
		uint32_t type, reserved;
		uint64_t sector;
	} hdr;
	uint8_t status = VIRTIO_BLK_S_OK;
	void *buf;

	if (n < 0)
		return -1;
	nwrite = (unsigned int)n - nread;
	rbytes = seg_bytes(vb, 0, nread);
	wbytes = seg_bytes(vb, nread, nwrite);
	if (rbytes < sizeof(hdr) || wbytes < 1) {
		needs_reset(vb, "request without a header or a status byte");
		return -1;
	}
	if (sg_copy(vb, 0, nread, 0, &hdr, sizeof(hdr), false))
		return -1;
	hdr.type = le32toh(hdr.type);
	hdr.sector = le64toh(hdr.sector);
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: {
		bool out = hdr.type == VIRTIO_BLK_T_OUT;

		data = out ? rbytes - sizeof(hdr) : wbytes - 1;
		if (data % SECTOR || data > VBLK_REQUEST_MAX || hdr.sector > vb->sectors ||
		    data / SECTOR > vb->sectors - hdr.sector) {
			status = VIRTIO_BLK_S_IOERR;
			data = 0;
			break;
		}
		buf = bounce(vb, data ? data : 1);
		if (!buf) {
			status = VIRTIO_BLK_S_IOERR;
			data = 0;
			break;
		}
		if (out) {
			if (sg_copy(vb, 0, nread, sizeof(hdr), buf, data, false))
				return -1;
			if (disk_io(vb, true, buf, data, hdr.sector * SECTOR) < 0)
				status = VIRTIO_BLK_S_IOERR;
			else
				vb->stats.bytes_written += data;
			vb->stats.writes++;
			data = 0; /* nothing written to guest memory but the status */
		} else {
			if (disk_io(vb, false, buf, data, hdr.sector * SECTOR) < 0) {
				status = VIRTIO_BLK_S_IOERR;
				data = 0;
			} else if (sg_copy(vb, nread, nwrite, 0, buf, data, true)) {
				return -1;
			}
			vb->stats.bytes_read += data;
			vb->stats.reads++;
		}
		break;
	}
	case VIRTIO_BLK_T_FLUSH:
		vb->stats.flushes++;
		if (fdatasync(vb->fd))
			status = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_GET_ID: {
		char id[VIRTIO_BLK_ID_BYTES] = "uiommu-virtio-blk";

		data = wbytes - 1 < sizeof(id) ? wbytes - 1 : sizeof(id);
		if (sg_copy(vb, nread, nwrite, 0, id, data, true))
			return -1;
		break;
	}
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	if (status != VIRTIO_BLK_S_OK)
		vb->stats.errors++;
	if (sg_copy(vb, nread, nwrite, wbytes - 1, &status, 1, true))
		return -1;
	used = data + 1;
	vb->stats.requests++;
	return (int64_t)used;
}

static void process_queue(struct vblk *vb)
{
	struct vq *q = &vb->vq;
	uint16_t avail_idx, flags;
	bool done = false;

	if (!(vb->status & VIRTIO_STATUS_DRIVER_OK) || (vb->status & VIRTIO_STATUS_NEEDS_RESET) ||
	    !q->enable)
		return;
	if (!(pcifn_command(&vb->fn) & PCI_CMD_MASTER)) {
		needs_reset(vb, "kicked while bus mastering is disabled");
		return;
	}
	if (dma16(vb, q->avail + 2, &avail_idx))
		return;
	if ((uint16_t)(avail_idx - q->last_avail) > q->size) {
		needs_reset(vb, "avail index moved by more than the queue size");
		return;
	}
	while (q->last_avail != avail_idx) {
		uint16_t head;
		int64_t len;
		struct {
			uint32_t id, len;
		} elem;
		uint16_t idx;

		if (dma16(vb, q->avail + 4 + 2ULL * (q->last_avail % q->size), &head))
			return;
		len = do_request(vb, head);
		if (len < 0)
			return;
		q->last_avail++;
		elem.id = htole32(head);
		elem.len = htole32((uint32_t)len);
		if (dma(vb, q->used + 4 + 8ULL * (q->used_idx % q->size), &elem, sizeof(elem), true))
			return;
		/* the element before the index that publishes it (virtio 1.1 2.6.8.2) */
		atomic_thread_fence(memory_order_release);
		q->used_idx++;
		idx = htole16(q->used_idx);
		if (dma(vb, q->used + 2, &idx, 2, true))
			return;
		done = true;
	}
	atomic_thread_fence(memory_order_seq_cst);
	if (!done || dma16(vb, q->avail, &flags))
		return;
	if (!(flags & VRING_AVAIL_F_NO_INTERRUPT)) {
		vb->isr |= 1;
		vb->stats.interrupts++;
		pcifn_set_irq(&vb->fn, true);
	}
}

static void virtio_reset(struct vblk *vb)
{
	vb->dfselect = vb->gfselect = 0;
	vb->guest_features = 0;
	vb->status = 0;
	vb->isr = 0;
	vb->queue_select = 0;
	memset(&vb->vq, 0, sizeof(vb->vq));
	vb->vq.size = VBLK_QUEUE_MAX;
	pcifn_set_irq(&vb->fn, false);
}

static void set_status(struct vblk *vb, uint8_t val)
{
	if (!val) {
		virtio_reset(vb);
		return;
	}
	if ((val & VIRTIO_STATUS_FEATURES_OK) && !(vb->status & VIRTIO_STATUS_FEATURES_OK)) {
		if ((vb->guest_features & ~VBLK_FEATURES) ||
		    (vb->guest_features & VBLK_REQUIRED) != VBLK_REQUIRED) {
			vb->log(vb->log_opaque,
				"virtio-blk: refusing features %#llx (offered %#llx; VERSION_1 and "
				"ACCESS_PLATFORM are required: every access goes through the IOMMU)",
				(unsigned long long)vb->guest_features,
				(unsigned long long)VBLK_FEATURES);
			val &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	vb->status = (uint8_t)(val | (vb->status & VIRTIO_STATUS_NEEDS_RESET));
	if ((val & VIRTIO_STATUS_DRIVER_OK) && vb->vq.enable)
		process_queue(vb);
}

/* 64-bit queue addresses are accessed whole or in 32-bit halves. */
static bool addr_field(struct vblk *vb, uint64_t off, unsigned int size, uint64_t **f,
		       unsigned int *shift)
{
	static const uint64_t base[] = { 0x20, 0x28, 0x30 };
	uint64_t *fields[] = { &vb->vq.desc, &vb->vq.avail, &vb->vq.used };

	for (int i = 0; i < 3; i++) {
		if (off == base[i] && (size == 8 || size == 4)) {
			*f = fields[i];
			*shift = 0;
			return true;
		}
		if (off == base[i] + 4 && size == 4) {
			*f = fields[i];
			*shift = 32;
			return true;
		}
	}
	return false;
}

static uint64_t common_read(struct vblk *vb, uint64_t off, unsigned int size)
{
	uint64_t *f;
	unsigned int shift;

	if (addr_field(vb, off, size, &f, &shift))
		return size == 8 ? *f : (uint32_t)(*f >> shift);
	switch (off << 4 | size) {
	case 0x004:
		return vb->dfselect;
	case 0x044:
		return vb->dfselect < 2 ? (uint32_t)(VBLK_FEATURES >> (32 * vb->dfselect)) : 0;
	case 0x084:
		return vb->gfselect;
	case 0x0c4:
		return vb->gfselect < 2 ? (uint32_t)(vb->guest_features >> (32 * vb->gfselect)) : 0;
	case 0x102:
		return VIRTIO_MSI_NO_VECTOR;
	case 0x122:
		return 1; /* num_queues */
	case 0x141:
		return vb->status;
	case 0x151:
		return 0; /* config_generation: the configuration never changes */
	case 0x162:
		return vb->queue_select;
	case 0x182:
		return vb->queue_select ? 0 : vb->vq.size;
	case 0x1a2:
		return VIRTIO_MSI_NO_VECTOR;
	case 0x1c2:
		return vb->queue_select ? 0 : vb->vq.enable;
	case 0x1e2:
		return vb->queue_select; /* queue_notify_off */
	case 0x382: /* queue_notify_data */
	case 0x3a2: /* queue_reset */
		return 0;
	}
	vb->log(vb->log_opaque, "virtio-blk: guest error: common config read of %u bytes at %#llx",
		size, (unsigned long long)off);
	return 0;
}

static void common_write(struct vblk *vb, uint64_t off, uint64_t val, unsigned int size)
{
	uint64_t *f;
	unsigned int shift;
	bool q0 = vb->queue_select == 0;

	if (addr_field(vb, off, size, &f, &shift)) {
		if (!q0 || vb->vq.enable)
			return; /* only while the queue is disabled (virtio 1.1 4.1.4.3.2) */
		if (size == 8)
			*f = val;
		else
			*f = (*f & ~(0xffffffffULL << shift)) | ((val & 0xffffffffULL) << shift);
		return;
	}
	switch (off << 4 | size) {
	case 0x004:
		vb->dfselect = (uint32_t)val;
		return;
	case 0x084:
		vb->gfselect = (uint32_t)val;
		return;
	case 0x0c4:
		if (vb->gfselect < 2 && !(vb->status & VIRTIO_STATUS_FEATURES_OK)) {
			unsigned int s = 32 * vb->gfselect;

			vb->guest_features = (vb->guest_features & ~(0xffffffffULL << s)) |
					     ((val & 0xffffffffULL) << s);
		}
		return;
	case 0x102: /* msix_config: no MSI-X, reads back NO_VECTOR */
	case 0x1a2:
		return;
	case 0x141:
		set_status(vb, (uint8_t)val);
		return;
	case 0x162:
		vb->queue_select = (uint16_t)val;
		return;
	case 0x182:
		if (q0 && !vb->vq.enable)
			vb->vq.size = (uint16_t)val;
		return;
	case 0x1c2:
		if (!q0 || val != 1 || vb->vq.enable)
			return;
		if (!vb->vq.size || vb->vq.size > VBLK_QUEUE_MAX ||
		    (vb->vq.size & (vb->vq.size - 1))) {
			needs_reset(vb, "queue size is not a power of two up to 256");
			return;
		}
		vb->vq.enable = 1;
		return;
	}
	vb->log(vb->log_opaque,
		"virtio-blk: guest error: common config write of %u bytes at %#llx ignored", size,
		(unsigned long long)off);
}

static void config_bytes(struct vblk *vb, uint8_t *cfg)
{
	uint64_t cap = htole64(vb->sectors);
	uint32_t seg_max = htole32(VBLK_SEG_MAX), blk = htole32(SECTOR);

	memset(cfg, 0, 0x40);
	memcpy(cfg + 0, &cap, 8);
	memcpy(cfg + 12, &seg_max, 4);
	memcpy(cfg + 20, &blk, 4);
}

static uint64_t vblk_bar_read(struct pcifn *fn, int bar, uint64_t off, unsigned int size)
{
	struct vblk *vb = VBLK(fn);
	uint64_t v = 0;

	if (off < VBLK_ISR_OFF)
		return common_read(vb, off - VBLK_COMMON_OFF, size);
	if (off < VBLK_DEVICE_OFF) {
		if (off != VBLK_ISR_OFF)
			return 0;
		/* reading the ISR clears it and deasserts INTx (virtio 1.1 4.1.4.5) */
		v = vb->isr;
		vb->isr = 0;
		pcifn_set_irq(fn, false);
		return v;
	}
	if (off < VBLK_NOTIFY_OFF) {
		uint8_t cfg[0x40];

		off -= VBLK_DEVICE_OFF;
		if (off + size > sizeof(cfg))
			return 0;
		config_bytes(vb, cfg);
		memcpy(&v, cfg + off, size);
		return le64toh(v);
	}
	return 0;
}

static void vblk_bar_write(struct pcifn *fn, int bar, uint64_t off, uint64_t val,
			   unsigned int size)
{
	struct vblk *vb = VBLK(fn);

	if (off < VBLK_ISR_OFF) {
		common_write(vb, off - VBLK_COMMON_OFF, val, size);
	} else if (off >= VBLK_NOTIFY_OFF) {
		/* queue 0's notification address; the value is the queue index */
		if (off == VBLK_NOTIFY_OFF && (val & 0xffff) == 0)
			process_queue(vb);
	}
}

static void vblk_reset(struct pcifn *fn)
{
	virtio_reset(VBLK(fn));
}

static void vblk_free(struct pcifn *fn)
{
	struct vblk *vb = VBLK(fn);

	close(vb->fd);
	free(vb->bounce);
	pthread_mutex_destroy(&fn->lock);
	free(vb);
}

static const struct pcifn_ops vblk_ops = {
	.name = "virtio-blk",
	.bar_read = vblk_bar_read,
	.bar_write = vblk_bar_write,
	.reset = vblk_reset,
	.free = vblk_free,
};

static void add_vcap(struct pcifn *fn, unsigned int off, uint8_t type, uint32_t offset,
		     uint32_t length, bool notify)
{
	uint8_t cap[20] = { PCI_CAP_ID_VNDR, 0, notify ? 20 : 16, type, 0 /* bar */ };
	uint32_t o = htole32(offset), l = htole32(length), m = htole32(VBLK_NOTIFY_MULT);

	memcpy(cap + 8, &o, 4);
	memcpy(cap + 12, &l, 4);
	if (notify)
		memcpy(cap + 16, &m, 4);
	pcifn_add_cap(fn, off, cap, notify ? 20 : 16);
}

struct pcifn *virtio_blk_new(struct uiommu_dev *dev, int disk_fd, vblk_log_fn *log,
			     void *log_opaque)
{
	struct vblk *vb;
	struct stat st;

	if (fstat(disk_fd, &st) || st.st_size < (off_t)SECTOR)
		return NULL;
	vb = calloc(1, sizeof(*vb));
	if (!vb)
		return NULL;
	vb->dev = dev;
	vb->fd = disk_fd;
	vb->sectors = (uint64_t)st.st_size / SECTOR;
	vb->log = log;
	vb->log_opaque = log_opaque;
	/* a modern-only virtio-pci device: 0x1040 + device type 2; mass storage */
	pcifn_init(&vb->fn, &vblk_ops, 0x1af4, 0x1042, 0x018000, 1);
	vb->fn.config[PCI_CFG_SUBSYS_ID] = 0x40; /* >= 0x40 for modern devices */
	pcifn_add_bar(&vb->fn, 0, VBLK_BAR_SIZE);
	add_vcap(&vb->fn, 0x40, VIRTIO_PCI_CAP_COMMON_CFG, VBLK_COMMON_OFF, 0x40, false);
	add_vcap(&vb->fn, 0x50, VIRTIO_PCI_CAP_ISR_CFG, VBLK_ISR_OFF, 4, false);
	add_vcap(&vb->fn, 0x60, VIRTIO_PCI_CAP_DEVICE_CFG, VBLK_DEVICE_OFF, 0x40, false);
	add_vcap(&vb->fn, 0x70, VIRTIO_PCI_CAP_NOTIFY_CFG, VBLK_NOTIFY_OFF, 0x1000, true);
	pcifn_seal(&vb->fn);
	virtio_reset(vb);
	return &vb->fn;
}

void virtio_blk_get_stats(struct pcifn *fn, struct virtio_blk_stats *st)
{
	*st = VBLK(fn)->stats;
}
