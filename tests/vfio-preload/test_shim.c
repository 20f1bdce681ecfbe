// SPDX-License-Identifier: BSD-3-Clause
/*
 * The preload shim's core without LD_PRELOAD: a test client makes the calls
 * QEMU's hw/vfio makes (the container, group and device fds), then acts as
 * a guest's virtio driver on the passed-through virtio-blk: rings and
 * buffers in a memfd "guest RAM", mapped by MAP_DMA, requests kicked
 * through the BAR; every byte the device moves is checked, and so are the
 * INTx protocol, the errors of every fd and the teardown of process exit.
 */
#include <endian.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <linux/vfio.h>

#include "../unit/test_util.h"
#include "shim.h"
#include "virtio_blk.h"

#define GROUP		42
#define DEVNAME		"0000:01:00.0"
#define RAM_SIZE	(16u << 20)
#define DISK_SIZE	(1u << 20)
#define WIN_SIZE	(16u << 20)
#define BAR0(off)	((off_t)(off))
#define CFG(off)	((off_t)((uint64_t)VFIO_PCI_CONFIG_REGION_INDEX << 40 | (off)))

/* guest RAM layout (gpa = iova: the window maps it 1:1) */
#define G_DESC		0x1000u
#define G_AVAIL		0x2000u
#define G_USED		0x3000u
#define G_HDR		0x4000u
#define G_DATA		0x5000u
#define G_STATUS	0x6000u
#define G_INDIRECT	0x7000u
#define G_DATA2		0x8000u

struct t {
	char dir[64], sysfsdev[128], disk[128], logpath[128], dump[128];
	struct shim_config cfg;
	struct shim *s;
	int ramfd;
	uint8_t *ram;
	int gfd, cfd, dfd, efd;
	uint16_t avail_idx, used_seen;
};

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

static bool log_has(struct t *t, const char *needle)
{
	char *log = slurp(t->logpath);
	bool r = strstr(log, needle) != NULL;

	free(log);
	return r;
}

static void t_cfg(struct t *t, enum shim_device_kind kind)
{
	memset(&t->cfg, 0, sizeof(t->cfg));
	t->cfg.group = GROUP;
	t->cfg.sysfsdev = t->sysfsdev;
	t->cfg.device = kind;
	t->cfg.disk = kind == SHIM_DEVICE_VIRTIO_BLK ? t->disk : NULL;
	t->cfg.log_fd = open(t->logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(t->cfg.log_fd >= 0);
	t->cfg.log_calls = true;
	t->cfg.dump = t->dump;
	t->cfg.host_page_shift = 12;
	t->cfg.pin_simulate = true;
	t->cfg.locked_limit = UIOMMU_LIMIT_NONE;
	t->cfg.tce_cache_mode = UIOMMU_TCE_CACHE_STRICT;
}

static struct t *t_new(enum shim_device_kind kind)
{
	struct t *t = calloc(1, sizeof(*t));
	int fd;

	snprintf(t->dir, sizeof(t->dir), "/tmp/uiommu-shim.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->sysfsdev, sizeof(t->sysfsdev), "%s/" DEVNAME, t->dir);
	snprintf(t->disk, sizeof(t->disk), "%s/disk.img", t->dir);
	snprintf(t->logpath, sizeof(t->logpath), "%s/shim.log", t->dir);
	snprintf(t->dump, sizeof(t->dump), "%s/dump", t->dir);
	fd = open(t->disk, O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, DISK_SIZE), 0);
	close(fd);
	t_cfg(t, kind);
	assert_int_equal(shim_new(&t->cfg, &t->s), 0);
	/* guest RAM as QEMU's memory-backend-memfd,share=on has it */
	t->ramfd = memfd_create("guest-ram", MFD_CLOEXEC);
	assert_true(t->ramfd >= 0);
	assert_int_equal(ftruncate(t->ramfd, RAM_SIZE), 0);
	t->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, t->ramfd, 0);
	assert_true(t->ram != MAP_FAILED);
	t->gfd = t->cfd = t->dfd = t->efd = -1;
	return t;
}

static void t_free(struct t *t, bool clean)
{
	char link[160];
	struct stat st;

	if (t->s)
		assert_int_equal(shim_free(t->s), clean ? 0 : -EBUSY);
	/* what the shim created, it removed */
	snprintf(link, sizeof(link), "%s/iommu_group", t->sysfsdev);
	assert_int_not_equal(lstat(link, &st), 0);
	assert_int_not_equal(stat(t->sysfsdev, &st), 0);
	assert_true(log_has(t, clean ? "event exit: clean" : "ERROR exit: not clean"));
	munmap(t->ram, RAM_SIZE);
	close(t->ramfd);
	if (t->efd >= 0)
		close(t->efd);
	close(t->cfg.log_fd);
	unlink(t->disk);
	unlink(t->logpath);
	unlink(t->dump);
	rmdir(t->dir);
	free(t);
}

static long io(struct t *t, int fd, unsigned long req, const void *arg)
{
	return shim_ioctl(t->s, fd, req, (unsigned long)arg);
}

static void map(struct t *t, uint64_t gpa, uint64_t size, uint32_t flags)
{
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m), .flags = flags,
					      .vaddr = (uintptr_t)(t->ram + gpa), .iova = gpa,
					      .size = size };

	assert_int_equal(io(t, t->cfd, VFIO_IOMMU_MAP_DMA, &m), 0);
}

static void unmap(struct t *t, uint64_t gpa, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = gpa, .size = size };

	assert_int_equal(io(t, t->cfd, VFIO_IOMMU_UNMAP_DMA, &u), 0);
}

/* What QEMU's vfio_connect_container(), spapr.c and vfio_get_device() do. */
static void qemu_connect(struct t *t)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	struct vfio_iommu_spapr_register_memory reg = { .argsz = sizeof(reg),
							.vaddr = (uintptr_t)t->ram,
							.size = RAM_SIZE };
	struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };
	struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm) };
	struct vfio_iommu_spapr_tce_create cr = { .argsz = sizeof(cr), .page_shift = 12,
						  .window_size = WIN_SIZE, .levels = 1 };

	t->gfd = shim_open(t->s, "/dev/vfio/42", O_RDWR);
	assert_true(t->gfd >= 0);
	assert_true(shim_owns(t->s, t->gfd));
	assert_int_equal(io(t, t->gfd, VFIO_GROUP_GET_STATUS, &gs), 0);
	assert_int_equal(gs.flags, VFIO_GROUP_FLAGS_VIABLE);
	t->cfd = shim_open(t->s, "/dev/vfio/vfio", O_RDWR);
	assert_true(t->cfd >= 0);
	assert_int_equal(io(t, t->cfd, VFIO_GET_API_VERSION, NULL), VFIO_API_VERSION);
	assert_int_equal(shim_ioctl(t->s, t->cfd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU), 0);
	assert_int_equal(shim_ioctl(t->s, t->cfd, VFIO_CHECK_EXTENSION, VFIO_SPAPR_TCE_v2_IOMMU), 1);
	assert_int_equal(io(t, t->gfd, VFIO_GROUP_SET_CONTAINER, &t->cfd), 0);
	assert_int_equal(io(t, t->gfd, VFIO_GROUP_GET_STATUS, &gs), 0);
	assert_int_equal(gs.flags, VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET);
	assert_int_equal(shim_ioctl(t->s, t->cfd, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU), 0);
	assert_int_equal(io(t, t->cfd, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &reg), 0);
	assert_int_equal(io(t, t->cfd, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	assert_true(info.flags & VFIO_IOMMU_SPAPR_INFO_DDW);
	assert_int_equal(io(t, t->cfd, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm), 0); /* pending: cancel */
	assert_int_equal(io(t, t->cfd, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr), 0);
	assert_int_equal(cr.start_addr, 0);
	t->dfd = (int)io(t, t->gfd, VFIO_GROUP_GET_DEVICE_FD, DEVNAME);
	assert_true(t->dfd >= 0);
	assert_true(log_has(t, "event guest RAM vaddr="));
}

static void intx_enable(struct t *t)
{
	char buf[sizeof(struct vfio_irq_set) + 4];
	struct vfio_irq_set *set = (void *)buf;

	t->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(t->efd >= 0);
	set->argsz = sizeof(buf);
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = VFIO_PCI_INTX_IRQ_INDEX;
	set->start = 0;
	set->count = 1;
	memcpy(set->data, &t->efd, 4);
	assert_int_equal(io(t, t->dfd, VFIO_DEVICE_SET_IRQS, set), 0);
}

static long intx_action(struct t *t, uint32_t action)
{
	struct vfio_irq_set set = { .argsz = sizeof(set),
				    .flags = VFIO_IRQ_SET_DATA_NONE | action,
				    .index = VFIO_PCI_INTX_IRQ_INDEX, .count = 1 };

	return io(t, t->dfd, VFIO_DEVICE_SET_IRQS, &set);
}

static uint64_t irqs(struct t *t)
{
	uint64_t n = 0;

	if (read(t->efd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

static void wr(struct t *t, off_t off, uint64_t v, size_t len)
{
	assert_int_equal(shim_pwrite(t->s, t->dfd, &v, len, off), (ssize_t)len);
}

static uint64_t rd(struct t *t, off_t off, size_t len)
{
	uint64_t v = 0;

	assert_int_equal(shim_pread(t->s, t->dfd, &v, len, off), (ssize_t)len);
	return v;
}

#define ST_ACK 1
#define ST_DRIVER 2
#define ST_DRIVER_OK 4
#define ST_FEATURES_OK 8
#define ST_NEEDS_RESET 0x40
#define F_VERSION_1 (1ULL << 32)
#define F_ACCESS_PLATFORM (1ULL << 33)
#define F_INDIRECT (1ULL << 28)

/* A virtio driver's probe (virtio 1.1 3.1.1), as Linux virtio_pci_modern does it. */
static uint8_t driver_probe(struct t *t, uint64_t features)
{
	uint64_t offered;

	wr(t, CFG(0x04), 0x0006, 2); /* memory decoding and bus mastering */
	wr(t, BAR0(0x14), 0, 1);     /* reset */
	assert_int_equal(rd(t, BAR0(0x14), 1), 0);
	wr(t, BAR0(0x14), ST_ACK | ST_DRIVER, 1);
	wr(t, BAR0(0x00), 0, 4);
	offered = rd(t, BAR0(0x04), 4);
	wr(t, BAR0(0x00), 1, 4);
	offered |= rd(t, BAR0(0x04), 4) << 32;
	assert_true(offered & F_VERSION_1);
	assert_true(offered & F_ACCESS_PLATFORM);
	wr(t, BAR0(0x08), 0, 4);
	wr(t, BAR0(0x0c), (uint32_t)features, 4);
	wr(t, BAR0(0x08), 1, 4);
	wr(t, BAR0(0x0c), (uint32_t)(features >> 32), 4);
	wr(t, BAR0(0x14), ST_ACK | ST_DRIVER | ST_FEATURES_OK, 1);
	if (!(rd(t, BAR0(0x14), 1) & ST_FEATURES_OK))
		return (uint8_t)rd(t, BAR0(0x14), 1);
	/* queue 0: 8 entries, rings at G_DESC, G_AVAIL, G_USED */
	wr(t, BAR0(0x16), 0, 2);
	assert_int_equal(rd(t, BAR0(0x18), 2), VBLK_QUEUE_MAX);
	wr(t, BAR0(0x18), 8, 2);
	wr(t, BAR0(0x20), G_DESC, 4);
	wr(t, BAR0(0x24), 0, 4);
	wr(t, BAR0(0x28), G_AVAIL, 8);
	wr(t, BAR0(0x30), G_USED, 4);
	wr(t, BAR0(0x34), 0, 4);
	wr(t, BAR0(0x1c), 1, 2);
	map(t, G_DESC, 0x3000, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
	map(t, G_HDR, 0x1000, VFIO_DMA_MAP_FLAG_READ);
	map(t, G_STATUS, 0x1000, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
	map(t, G_INDIRECT, 0x1000, VFIO_DMA_MAP_FLAG_READ);
	wr(t, BAR0(0x14), ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK, 1);
	return (uint8_t)rd(t, BAR0(0x14), 1);
}

static void put_desc(struct t *t, uint64_t table, unsigned int i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	uint8_t *d = t->ram + table + 16 * i;
	uint64_t a = htole64(addr);
	uint32_t l = htole32(len);
	uint16_t f = htole16(flags), n = htole16(next);

	memcpy(d, &a, 8);
	memcpy(d + 8, &l, 4);
	memcpy(d + 12, &f, 2);
	memcpy(d + 14, &n, 2);
}

static uint16_t get16(struct t *t, uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, t->ram + gpa, 2);
	return le16toh(v);
}

/* One request: header, data (G_DATA), status; optionally through an indirect table. */
static void request(struct t *t, uint32_t type, uint64_t sector, uint32_t len, bool indirect)
{
	uint32_t hdr[4] = { htole32(type), 0, htole32((uint32_t)sector), 0 };
	bool in = type == 0 || type == 8; /* IN and GET_ID write guest memory */
	uint16_t head = (uint16_t)(t->avail_idx % 8), idx;
	uint64_t table = indirect ? G_INDIRECT : G_DESC;
	unsigned int b = indirect ? 0 : head * 3u % 6u; /* descriptors b, b+1, b+2 */

	memcpy(t->ram + G_HDR, hdr, sizeof(hdr));
	t->ram[G_STATUS] = 0xee;
	put_desc(t, table, b, G_HDR, 16, 1 /* NEXT */, (uint16_t)(b + 1));
	put_desc(t, table, b + 1, G_DATA, len, (uint16_t)(1 | (in ? 2 : 0)), (uint16_t)(b + 2));
	put_desc(t, table, b + 2, G_STATUS, 1, 2 /* WRITE */, 0);
	if (indirect) {
		head = 7;
		put_desc(t, G_DESC, head, G_INDIRECT, 48, 4 /* INDIRECT */, 0);
	} else {
		head = (uint16_t)b;
	}
	idx = htole16(head);
	memcpy(t->ram + G_AVAIL + 4 + 2 * (t->avail_idx % 8), &idx, 2);
	t->avail_idx++;
	idx = htole16(t->avail_idx);
	memcpy(t->ram + G_AVAIL + 2, &idx, 2);
	wr(t, BAR0(VBLK_NOTIFY_OFF), 0, 2);
}

static void disk_read(struct t *t, off_t off, void *buf, size_t len)
{
	int fd = open(t->disk, O_RDONLY);

	assert_int_equal(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void test_qemu_sequence_and_virtio_io(void **state)
{
	struct t *t = t_new(SHIM_DEVICE_VIRTIO_BLK);
	struct vfio_device_info di = { .argsz = sizeof(di) };
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = 0 };
	struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = VFIO_PCI_INTX_IRQ_INDEX };
	uint8_t pattern[4096], back[4096];
	uint32_t used_len;
	char *dump;

	qemu_connect(t);
	assert_int_equal(io(t, t->dfd, VFIO_DEVICE_GET_INFO, &di), 0);
	assert_int_equal(di.flags, VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET);
	assert_true(di.num_regions >= VFIO_PCI_CONFIG_REGION_INDEX + 1);
	assert_true(di.num_irqs >= VFIO_PCI_MSIX_IRQ_INDEX + 1);
	assert_int_equal(io(t, t->dfd, VFIO_DEVICE_GET_REGION_INFO, &ri), 0);
	assert_int_equal(ri.size, VBLK_BAR_SIZE);
	assert_false(ri.flags & VFIO_REGION_INFO_FLAG_MMAP);
	assert_int_equal(io(t, t->dfd, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	assert_int_equal(ii.count, 1);
	assert_true(ii.flags & VFIO_IRQ_INFO_AUTOMASKED);
	/* config space: a modern virtio-blk with its capability list */
	assert_int_equal(rd(t, CFG(0), 4), 0x10421af4);
	assert_int_equal(rd(t, CFG(0x06), 2) & 0x10, 0x10);
	assert_int_equal(rd(t, CFG(0x34), 1), 0x40);
	assert_int_equal(rd(t, CFG(0x3d), 1), 1);
	/* BAR sizing as on hardware */
	wr(t, CFG(0x10), 0xffffffff, 4);
	assert_int_equal(rd(t, CFG(0x10), 4), ~(VBLK_BAR_SIZE - 1));
	intx_enable(t);

	assert_int_equal(driver_probe(t, F_VERSION_1 | F_ACCESS_PLATFORM | F_INDIRECT),
			 ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	/* capacity in the device configuration, in sectors */
	assert_int_equal(rd(t, BAR0(VBLK_DEVICE_OFF), 8), DISK_SIZE / 512);

	/* OUT: the device reads the data by DMA and writes it to the disk */
	for (unsigned int i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 3);
	memcpy(t->ram + G_DATA, pattern, sizeof(pattern));
	map(t, G_DATA, 0x1000, VFIO_DMA_MAP_FLAG_READ);
	request(t, 1, 8, 4096, false);
	assert_int_equal(t->ram[G_STATUS], 0);
	assert_int_equal(get16(t, G_USED + 2), 1);
	memcpy(&used_len, t->ram + G_USED + 8, 4);
	assert_int_equal(le32toh(used_len), 1);
	disk_read(t, 8 * 512, back, sizeof(back));
	assert_memory_equal(back, pattern, sizeof(back));
	assert_int_equal(irqs(t), 1);
	/* automasked: the next completion does not signal until ACTION_UNMASK */
	unmap(t, G_DATA, 0x1000);
	memset(t->ram + G_DATA, 0, 4096);
	map(t, G_DATA, 0x1000, VFIO_DMA_MAP_FLAG_WRITE);
	request(t, 0, 8, 4096, true); /* IN, through an indirect table */
	assert_int_equal(irqs(t), 0);
	assert_memory_equal(t->ram + G_DATA, pattern, sizeof(pattern));
	assert_int_equal(t->ram[G_STATUS], 0);
	memcpy(&used_len, t->ram + G_USED + 4 + 8 + 4, 4);
	assert_int_equal(le32toh(used_len), 4097);
	/* still asserted (ISR not read): unmasking fires again, level-triggered */
	assert_int_equal(intx_action(t, VFIO_IRQ_SET_ACTION_UNMASK), 0);
	assert_int_equal(irqs(t), 1);
	assert_int_equal(rd(t, CFG(0x06), 2) & 0x08, 0x08); /* Interrupt Status */
	assert_int_equal(rd(t, BAR0(VBLK_ISR_OFF), 1), 1);  /* read clears, deasserts */
	assert_int_equal(rd(t, BAR0(VBLK_ISR_OFF), 1), 0);
	assert_int_equal(rd(t, CFG(0x06), 2) & 0x08, 0);
	assert_int_equal(intx_action(t, VFIO_IRQ_SET_ACTION_UNMASK), 0);
	assert_int_equal(irqs(t), 0);
	/* deasserted and asserted again before the unmask: still masked, no signal */
	request(t, 0, 8, 4096, false);
	assert_int_equal(irqs(t), 1);
	assert_int_equal(rd(t, BAR0(VBLK_ISR_OFF), 1), 1);
	request(t, 0, 8, 4096, false);
	assert_int_equal(irqs(t), 0);
	assert_int_equal(rd(t, BAR0(VBLK_ISR_OFF), 1), 1);
	assert_int_equal(intx_action(t, VFIO_IRQ_SET_ACTION_UNMASK), 0);
	assert_int_equal(irqs(t), 0);
	/* ACTION_MASK holds an interrupt back until the unmask */
	assert_int_equal(intx_action(t, VFIO_IRQ_SET_ACTION_MASK), 0);
	request(t, 0, 8, 4096, false);
	assert_int_equal(irqs(t), 0);
	assert_int_equal(intx_action(t, VFIO_IRQ_SET_ACTION_UNMASK), 0);
	assert_int_equal(irqs(t), 1);
	assert_int_equal(rd(t, BAR0(VBLK_ISR_OFF), 1), 1);
	assert_int_equal(intx_action(t, VFIO_IRQ_SET_ACTION_UNMASK), 0);
	/* INTx Disable masks the line at the device */
	wr(t, CFG(0x04), 0x0406, 2);
	request(t, 0, 8, 4096, false);
	assert_int_equal(irqs(t), 0);
	wr(t, CFG(0x04), 0x0006, 2);
	assert_int_equal(irqs(t), 1);
	assert_int_equal(rd(t, BAR0(VBLK_ISR_OFF), 1), 1);
	assert_int_equal(intx_action(t, VFIO_IRQ_SET_ACTION_UNMASK), 0);

	/* the dump at exit holds exactly the live TCEs */
	assert_int_equal(shim_free(t->s), 0);
	t->s = NULL;
	dump = slurp(t->dump);
	assert_non_null(strstr(dump, "window num=0 start=0 size=0x1000000 page_shift=12"));
	assert_non_null(strstr(dump, "tce ioba=0x5000 "));
	/* 3 ring pages, the indirect table, header, data, status */
	assert_non_null(strstr(dump, "# end: 7 tces"));
	free(dump);
	assert_true(log_has(t, "summary virtio-blk requests=6 reads=5 writes=1"));
	t_free(t, true);
}

static void test_dma_fault_needs_reset(void **state)
{
	struct t *t = t_new(SHIM_DEVICE_VIRTIO_BLK);
	uint8_t zero[4096] = { 0 }, back[4096];

	qemu_connect(t);
	intx_enable(t);
	driver_probe(t, F_VERSION_1 | F_ACCESS_PLATFORM);
	/* the data page is not mapped: the device reads nothing, writes nothing */
	memset(t->ram + G_DATA, 0x5a, 4096);
	request(t, 1, 0, 4096, false);
	assert_int_equal(t->ram[G_STATUS], 0xee);
	assert_int_equal(get16(t, G_USED + 2), 0);
	disk_read(t, 0, back, sizeof(back));
	assert_memory_equal(back, zero, sizeof(back));
	assert_true(rd(t, BAR0(0x14), 1) & ST_NEEDS_RESET);
	assert_int_equal(rd(t, BAR0(VBLK_ISR_OFF), 1), 2); /* a configuration interrupt */
	assert_true(log_has(t, "DEVICE_NEEDS_RESET: DMA fault"));
	assert_true(log_has(t, "uiommu guest-error"));
	/* further kicks do nothing until the driver resets the device */
	map(t, G_DATA, 0x1000, VFIO_DMA_MAP_FLAG_READ);
	request(t, 1, 0, 4096, false);
	assert_int_equal(get16(t, G_USED + 2), 0);
	wr(t, BAR0(0x14), 0, 1);
	assert_int_equal(rd(t, BAR0(0x14), 1), 0);
	t_free(t, true);
}

static void test_features_required(void **state)
{
	struct t *t = t_new(SHIM_DEVICE_VIRTIO_BLK);

	qemu_connect(t);
	/* without ACCESS_PLATFORM the driver would hand out guest physical addresses */
	assert_int_equal(driver_probe(t, F_VERSION_1), ST_ACK | ST_DRIVER);
	assert_true(log_has(t, "refusing features"));
	assert_int_equal(driver_probe(t, F_ACCESS_PLATFORM), ST_ACK | ST_DRIVER);
	t_free(t, true);
}

static void test_bad_requests_and_chains(void **state)
{
	struct t *t = t_new(SHIM_DEVICE_VIRTIO_BLK);
	uint16_t idx;

	qemu_connect(t);
	driver_probe(t, F_VERSION_1 | F_ACCESS_PLATFORM | F_INDIRECT);
	map(t, G_DATA, 0x1000, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
	/* past the end of the disk: IOERR, the device stays usable */
	request(t, 0, DISK_SIZE / 512, 4096, false);
	assert_int_equal(t->ram[G_STATUS], 1);
	/* an unknown type: UNSUPP */
	request(t, 42, 0, 512, false);
	assert_int_equal(t->ram[G_STATUS], 2);
	/* GET_ID */
	request(t, 8, 0, 20, false);
	assert_int_equal(t->ram[G_STATUS], 0);
	assert_string_equal((char *)t->ram + G_DATA, "uiommu-virtio-blk");
	assert_false(rd(t, BAR0(0x14), 1) & ST_NEEDS_RESET);
	/* a chain that loops: NEEDS_RESET, not a hang */
	put_desc(t, G_DESC, 0, G_HDR, 16, 1, 1);
	put_desc(t, G_DESC, 1, G_DATA, 16, 1, 0);
	idx = 0;
	memcpy(t->ram + G_AVAIL + 4 + 2 * (t->avail_idx % 8), &idx, 2);
	t->avail_idx++;
	idx = htole16(t->avail_idx);
	memcpy(t->ram + G_AVAIL + 2, &idx, 2);
	wr(t, BAR0(VBLK_NOTIFY_OFF), 0, 2);
	assert_true(rd(t, BAR0(0x14), 1) & ST_NEEDS_RESET);
	assert_true(log_has(t, "chain too long"));
	t_free(t, true);
}

static void test_group_errors(void **state)
{
	struct t *t = t_new(SHIM_DEVICE_NULL);
	int gfd, cfd, cfd2;
	struct vfio_group_status gs = { .argsz = 4 };

	assert_int_equal(shim_open(t->s, "/dev/vfio/43", O_RDWR), SHIM_NOT_OURS);
	assert_true(log_has(t, "ERROR unserved: open /dev/vfio/43"));
	assert_int_equal(shim_open(t->s, "/tmp/x", O_RDWR), SHIM_NOT_OURS);
	gfd = shim_open(t->s, "/dev/vfio/42", O_RDWR);
	assert_int_equal(shim_open(t->s, "/dev/vfio/42", O_RDWR), -EBUSY); /* one open at a time */
	cfd = shim_open(t->s, "/dev/vfio/vfio", O_RDWR);
	cfd2 = shim_open(t->s, "/dev/vfio/vfio", O_RDWR);
	assert_int_equal(shim_ioctl(t->s, gfd, VFIO_GROUP_GET_STATUS, (unsigned long)&gs), -EINVAL);
	assert_int_equal(shim_ioctl(t->s, gfd, VFIO_GROUP_GET_STATUS, 0), -EFAULT);
	/* no container yet: no device */
	assert_int_equal(shim_ioctl(t->s, gfd, VFIO_GROUP_GET_DEVICE_FD, (unsigned long)DEVNAME),
			 -EINVAL);
	assert_int_equal(shim_ioctl(t->s, gfd, VFIO_GROUP_UNSET_CONTAINER, 0), -EINVAL);
	/* a group fd is not a container */
	assert_int_equal(shim_ioctl(t->s, gfd, VFIO_GROUP_SET_CONTAINER, (unsigned long)&gfd),
			 -EINVAL);
	assert_int_equal(shim_ioctl(t->s, gfd, VFIO_GROUP_SET_CONTAINER, (unsigned long)&cfd), 0);
	assert_int_equal(shim_ioctl(t->s, gfd, VFIO_GROUP_SET_CONTAINER, (unsigned long)&cfd2),
			 -EINVAL);
	assert_int_equal(shim_ioctl(t->s, gfd, VFIO_GROUP_GET_DEVICE_FD, (unsigned long)"x"),
			 -ENODEV);
	/* the container without an IOMMU type refuses IOMMU requests */
	assert_int_equal(shim_ioctl(t->s, cfd, VFIO_IOMMU_MAP_DMA,
				    (unsigned long)&(struct vfio_iommu_type1_dma_map){
					    .argsz = 32, .flags = 3, .size = 4096 }),
			 -EINVAL);
	/* unknown requests on each kind of fd are unserved errors */
	assert_int_equal(shim_ioctl(t->s, gfd, _IO(';', 99), 0), -ENOTTY);
	assert_int_equal(shim_ioctl(t->s, cfd, _IO(';', 98), 0), -ENOTTY);
	assert_true(log_has(t, "ERROR unserved: group fd="));
	assert_true(log_has(t, "ERROR unserved: container fd="));
	assert_int_equal(shim_ioctl(t->s, 1000, VFIO_GET_API_VERSION, 0), -EBADF);
	/* closing the container while the group is in it releases the group from it */
	assert_int_equal(shim_close(t->s, cfd), 0);
	close(cfd);
	assert_int_equal(shim_ioctl(t->s, gfd, VFIO_GROUP_GET_STATUS,
				    (unsigned long)&(struct vfio_group_status){ .argsz = 8 }), 0);
	assert_int_equal(shim_ioctl(t->s, gfd, VFIO_GROUP_UNSET_CONTAINER, 0), -EINVAL);
	assert_int_equal(shim_close(t->s, 1000), -EBADF);
	t_free(t, true); /* cfd2 and gfd still open: released at teardown */
}

static void test_device_errors(void **state)
{
	struct t *t = t_new(SHIM_DEVICE_NULL);
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = VFIO_PCI_VGA_REGION_INDEX };
	struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = VFIO_PCI_NUM_IRQS };
	char buf[sizeof(struct vfio_irq_set) + 8];
	struct vfio_irq_set *set = (void *)buf;
	uint64_t v = 0;

	qemu_connect(t);
	assert_int_equal(io(t, t->dfd, VFIO_DEVICE_GET_REGION_INFO, &ri), -EINVAL);
	ri.index = 0;
	ri.argsz = 8;
	assert_int_equal(io(t, t->dfd, VFIO_DEVICE_GET_REGION_INFO, &ri), -EINVAL);
	assert_int_equal(io(t, t->dfd, VFIO_DEVICE_GET_IRQ_INFO, &ii), -EINVAL);
	assert_int_equal(io(t, t->dfd, VFIO_DEVICE_GET_INFO, NULL), -EFAULT);
	/* the null device: 1b36:0005, a BAR of zeros */
	assert_int_equal(rd(t, CFG(0), 4), 0x00051b36);
	assert_int_equal(rd(t, BAR0(0x10), 4), 0);
	assert_int_equal(shim_pread(t->s, t->dfd, &v, 4, CFG(254)), -EINVAL);
	assert_int_equal(shim_pread(t->s, t->dfd, &v, 4, BAR0(4096)), -EINVAL);
	assert_int_equal(shim_pread(t->s, t->dfd, &v, 3, BAR0(0)), -EINVAL);
	assert_int_equal(shim_pread(t->s, t->dfd, &v, 4, (off_t)1 << 40), -EINVAL); /* BAR1 */
	/* a PE frozen by EEH (a hot reset through the container): BAR loads read all
	 * ones and stores are dropped, until the reset is deasserted */
	{
		struct vfio_eeh_pe_op op = { .argsz = sizeof(op), .op = VFIO_EEH_PE_RESET_HOT };

		assert_int_equal(io(t, t->cfd, VFIO_EEH_PE_OP, &op), 0);
		assert_int_equal(rd(t, BAR0(0x10), 4), 0xffffffff);
		wr(t, BAR0(0x10), 1, 4);
		op.op = VFIO_EEH_PE_RESET_DEACTIVATE;
		assert_int_equal(io(t, t->cfd, VFIO_EEH_PE_OP, &op), 0);
		assert_int_equal(rd(t, BAR0(0x10), 4), 0);
	}
	/* a region access on a container fd */
	assert_int_equal(shim_pread(t->s, t->cfd, &v, 4, 0), -ENOTTY);
	assert_true(log_has(t, "ERROR unserved: container fd="));
	assert_int_equal(shim_unserved(t->s, t->dfd, "mmap len=0x1000 off=0x0"), -EINVAL);

	/* SET_IRQS validation, as vfio_set_irqs_validate_and_prepare() */
	memset(buf, 0, sizeof(buf));
	set->argsz = sizeof(buf);
	set->index = VFIO_PCI_INTX_IRQ_INDEX;
	set->count = 1;
	set->flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL |
		     VFIO_IRQ_SET_ACTION_TRIGGER;
	assert_int_equal(io(t, t->dfd, VFIO_DEVICE_SET_IRQS, set), -EINVAL);
	set->flags = VFIO_IRQ_SET_DATA_NONE | (1u << 6);
	assert_int_equal(io(t, t->dfd, VFIO_DEVICE_SET_IRQS, set), -EINVAL);
	set->flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = VFIO_PCI_MSI_IRQ_INDEX;
	assert_int_equal(io(t, t->dfd, VFIO_DEVICE_SET_IRQS, set), -EINVAL);
	set->index = VFIO_PCI_INTX_IRQ_INDEX;
	assert_int_equal(io(t, t->dfd, VFIO_DEVICE_SET_IRQS, set), -EINVAL); /* not enabled */
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->count = 2;
	assert_int_equal(io(t, t->dfd, VFIO_DEVICE_SET_IRQS, set), -EINVAL);
	set->count = 1;
	set->argsz = sizeof(*set) + 2;
	assert_int_equal(io(t, t->dfd, VFIO_DEVICE_SET_IRQS, set), -EINVAL);
	intx_enable(t);
	set->argsz = sizeof(buf);
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK;
	assert_int_equal(io(t, t->dfd, VFIO_DEVICE_SET_IRQS, set), -ENOTTY);
	assert_true(log_has(t, "ERROR unserved: device fd=") && log_has(t, "DEVICE_SET_IRQS"));
	/* a test interrupt (not automasked), then disable */
	assert_int_equal(intx_action(t, VFIO_IRQ_SET_ACTION_TRIGGER), 0);
	assert_int_equal(intx_action(t, VFIO_IRQ_SET_ACTION_TRIGGER), 0);
	assert_int_equal(irqs(t), 2);
	set->flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->count = 0;
	assert_int_equal(io(t, t->dfd, VFIO_DEVICE_SET_IRQS, set), 0);
	assert_int_equal(intx_action(t, VFIO_IRQ_SET_ACTION_TRIGGER), -EINVAL);
	assert_int_equal(io(t, t->dfd, VFIO_DEVICE_RESET, NULL), 0);
	assert_int_equal(shim_ioctl(t->s, t->dfd, _IO(';', 97), 0), -ENOTTY);
	assert_true(log_has(t, "ERROR unserved: device fd="));
	t_free(t, true);
}

static void test_ram_not_fd_backed(void **state)
{
	struct t *t = t_new(SHIM_DEVICE_NULL);
	void *anon = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			  0);
	struct vfio_iommu_spapr_register_memory reg = { .argsz = sizeof(reg),
							.vaddr = (uintptr_t)anon,
							.size = 1 << 20 };
	uint64_t usage = 1;

	qemu_connect(t);
	assert_int_equal(io(t, t->cfd, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &reg), -EFAULT);
	assert_true(log_has(t, "memory-backend-memfd"));
	/* a registration the container refuses leaves no RAM region behind */
	reg.vaddr = (uintptr_t)t->ram;
	reg.size = RAM_SIZE;
	assert_int_equal(io(t, t->cfd, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &reg), -EBUSY);
	reg.flags = 1;
	assert_int_equal(io(t, t->cfd, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &reg), -EINVAL);
	reg.flags = 0;
	assert_int_equal(io(t, t->cfd, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &reg), 0);
	assert_int_equal(io(t, t->cfd, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &reg), -ENOENT);
	munmap(anon, 1 << 20);
	(void)usage;
	t_free(t, true);
}

static void test_config_from_env(void **state)
{
	static const struct {
		const char *var, *val, *msg;
	} bad[] = {
		{ "UIOMMU_VFIO_GROUP", "x", "UIOMMU_VFIO_GROUP" },
		{ "UIOMMU_VFIO_SYSFSDEV", "relative", "absolute path" },
		{ "UIOMMU_VFIO_DEVICE", "gpu", "not null or virtio-blk" },
		{ "UIOMMU_VFIO_DEVICE", "virtio-blk", "needs UIOMMU_VFIO_DISK" },
		{ "UIOMMU_VFIO_HOST_PAGE_SHIFT", "13", "not 12 or 16" },
		{ "UIOMMU_VFIO_PIN", "yes", "not mlock or simulate" },
		{ "UIOMMU_VFIO_LOCKED_LIMIT", "lots", "not a byte count" },
		{ "UIOMMU_VFIO_TCE_CACHE", "maybe", "not on, off or strict" },
		{ "UIOMMU_VFIO_PGSIZES", "0", "not a page-size mask" },
		{ "UIOMMU_VFIO_LOG", "/nonexistent/dir/log", "UIOMMU_VFIO_LOG" },
	};
	struct shim_config cfg;
	char err[256];

	setenv("UIOMMU_VFIO_GROUP", "7", 1);
	setenv("UIOMMU_VFIO_SYSFSDEV", "/tmp/x/0000:00:01.0", 1);
	setenv("UIOMMU_VFIO_LOCKED_LIMIT", "2G", 1);
	setenv("UIOMMU_VFIO_TCE_CACHE", "off", 1);
	assert_int_equal(shim_config_from_env(&cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.group, 7);
	assert_int_equal(cfg.device, SHIM_DEVICE_NULL);
	assert_int_equal(cfg.locked_limit, 2ULL << 30);
	assert_int_equal(cfg.tce_cache_mode, UIOMMU_TCE_CACHE_OFF);
	assert_true(cfg.log_calls);
	setenv("UIOMMU_VFIO_DISK", "/tmp/d.img", 1);
	assert_int_equal(shim_config_from_env(&cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.device, SHIM_DEVICE_VIRTIO_BLK);
	unsetenv("UIOMMU_VFIO_DISK");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *old = getenv(bad[i].var);
		char *keep = old ? strdup(old) : NULL;

		setenv(bad[i].var, bad[i].val, 1);
		assert_int_equal(shim_config_from_env(&cfg, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].msg))
			fail_msg("%s=%s: %s", bad[i].var, bad[i].val, err);
		if (keep)
			setenv(bad[i].var, keep, 1);
		else
			unsetenv(bad[i].var);
		free(keep);
	}
	unsetenv("UIOMMU_VFIO_GROUP");
	assert_int_equal(shim_config_from_env(&cfg, err, sizeof(err)), -EINVAL);
}

static void test_sysfsdev_of_another_group(void **state)
{
	struct t *t = t_new(SHIM_DEVICE_NULL);
	struct shim *s2;

	/* the directory exists (the first shim made it) and names group 42 */
	t->cfg.group = 43;
	assert_int_equal(shim_new(&t->cfg, &s2), -EEXIST);
	t->cfg.group = GROUP;
	assert_int_equal(shim_new(&t->cfg, &s2), 0);
	assert_int_equal(shim_free(s2), 0);
	t_free(t, true);
}

/* QEMU's threads at once: a vCPU kicking requests, another mapping and
 * unmapping other pages, the main loop reading configuration and IRQ info. */
struct churn {
	struct t *t;
	int which;
	unsigned int n;
};

static void *churn_fn(void *arg)
{
	struct churn *c = arg;
	struct t *t = c->t;

	for (unsigned int i = 0; i < c->n; i++) {
		if (c->which == 0) {
			request(t, 0, i % 64, 4096, false);
			assert_int_equal(t->ram[G_STATUS], 0);
		} else if (c->which == 1) {
			uint64_t gpa = 0x100000 + (uint64_t)(i % 256) * 0x1000;

			map(t, gpa, 0x1000, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
			unmap(t, gpa, 0x1000);
		} else {
			struct vfio_irq_info ii = { .argsz = sizeof(ii) };

			assert_int_equal(rd(t, CFG(0), 4), 0x10421af4);
			assert_int_equal(io(t, t->dfd, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
			assert_true(shim_owns(t->s, t->cfd));
		}
	}
	return NULL;
}

static void test_concurrent_calls(void **state)
{
	struct t *t = t_new(SHIM_DEVICE_VIRTIO_BLK);
	struct churn c[3];
	pthread_t th[3];

	qemu_connect(t);
	intx_enable(t);
	driver_probe(t, F_VERSION_1 | F_ACCESS_PLATFORM);
	map(t, G_DATA, 0x1000, VFIO_DMA_MAP_FLAG_WRITE);
	for (int i = 0; i < 3; i++) {
		c[i] = (struct churn){ .t = t, .which = i, .n = i == 0 ? 200 : 2000 };
		assert_int_equal(pthread_create(&th[i], NULL, churn_fn, &c[i]), 0);
	}
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(get16(t, G_USED + 2), 200);
	assert_false(rd(t, BAR0(0x14), 1) & ST_NEEDS_RESET);
	t_free(t, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qemu_sequence_and_virtio_io),
		cmocka_unit_test(test_dma_fault_needs_reset),
		cmocka_unit_test(test_features_required),
		cmocka_unit_test(test_bad_requests_and_chains),
		cmocka_unit_test(test_group_errors),
		cmocka_unit_test(test_device_errors),
		cmocka_unit_test(test_ram_not_fd_backed),
		cmocka_unit_test(test_config_from_env),
		cmocka_unit_test(test_sysfsdev_of_another_group),
		cmocka_unit_test(test_concurrent_calls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
