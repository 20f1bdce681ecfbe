// SPDX-License-Identifier: BSD-3-Clause
/*
 * The shim's core: configuration, the log and the statistics, the fd
 * table, the group fd (what Linux drivers/vfio/group.c answers), the
 * container fd (its requests go to container.h, after ram.c for a
 * registration), and the teardown of process exit. The device fd is
 * device_fd.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/vfio.h>

#include <uiommu/uiommu.h>

#include "../common/proc_status.h"
#include "shim_int.h"
#include "virtio_blk.h"

const char *const shim_sfd_name[] = { "container", "group", "device" };

const char *const shim_stat_name[ST_NR] = {
	"GET_API_VERSION", "CHECK_EXTENSION", "SET_IOMMU", "SPAPR_TCE_GET_INFO", "MAP_DMA",
	"UNMAP_DMA", "ENABLE", "DISABLE", "SPAPR_REGISTER_MEMORY", "SPAPR_UNREGISTER_MEMORY",
	"SPAPR_TCE_CREATE", "SPAPR_TCE_REMOVE", "EEH_PE_OP", "GROUP_GET_STATUS",
	"GROUP_SET_CONTAINER", "GROUP_UNSET_CONTAINER", "GROUP_GET_DEVICE_FD", "DEVICE_GET_INFO",
	"DEVICE_GET_REGION_INFO", "DEVICE_GET_IRQ_INFO", "DEVICE_SET_IRQS", "DEVICE_RESET",
	"config-read", "config-write", "bar-read", "bar-write", "open", "close", "intx-signal",
	"unserved",
};

/* ---- log ------------------------------------------------------------------ */

__attribute__((format(printf, 2, 0))) static void vlog_line(struct shim *s, const char *fmt,
								va_list ap)
{
	char line[1024];
	struct timespec ts;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(line, sizeof(line), "%lld.%06ld %d ", (long long)ts.tv_sec,
		     ts.tv_nsec / 1000, (int)gettid());
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	pthread_mutex_lock(&s->log_lock);
	for (int done = 0; done < n;) {
		ssize_t w = write(s->cfg.log_fd, line + done, (size_t)(n - done));

		if (w <= 0 && errno != EINTR)
			break;
		if (w > 0)
			done += (int)w;
	}
	pthread_mutex_unlock(&s->log_lock);
}

void shim_log(struct shim *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_line(s, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 2, 3))) static void vblk_log(void *opaque, const char *fmt, ...)
{
	struct shim *s = opaque;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	shim_log(s, "ERROR device: %s", msg);
}

static void lib_log(void *opaque, enum uiommu_log_level level, const char *msg)
{
	static const char *const lvl[] = { [UIOMMU_LOG_ERR] = "err",
					   [UIOMMU_LOG_WARNING] = "warning",
					   [UIOMMU_LOG_GUEST_ERROR] = "guest-error",
					   [UIOMMU_LOG_INFO] = "info", [UIOMMU_LOG_DEBUG] = "debug" };

	shim_log(opaque, "uiommu %s: %s", (unsigned)level < 8 && lvl[level] ? lvl[level] : "?",
		 msg);
}

const char *shim_errname(long ret)
{
	static __thread char buf[24];
	const char *n;

	if (ret >= 0) {
		snprintf(buf, sizeof(buf), "%ld", ret);
		return buf;
	}
	n = uiommu_errno_name((int)ret);
	if (n && strcmp(n, "E?"))
		snprintf(buf, sizeof(buf), "-%s", n);
	else
		snprintf(buf, sizeof(buf), "%ld", ret);
	return buf;
}

uint64_t shim_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void shim_count(struct shim *s, enum stat_id id, long ret, uint64_t ns)
{
	pthread_mutex_lock(&s->lock);
	s->stats[id].calls++;
	s->stats[id].errors += ret < 0;
	s->stats[id].ns += ns;
	pthread_mutex_unlock(&s->lock);
}

int shim_unserved(struct shim *s, int fd, const char *call)
{
	const char *kind = "?";

	pthread_mutex_lock(&s->lock);
	for (unsigned int i = 0; i < s->nfds; i++)
		if (s->fds[i].fd == fd)
			kind = shim_sfd_name[s->fds[i].kind];
	s->stats[ST_UNSERVED].calls++;
	pthread_mutex_unlock(&s->lock);
	shim_log(s, "ERROR unserved: %s fd=%d %s", kind, fd, call);
	return strncmp(call, "mmap", 4) ? -ENOTTY : -EINVAL;
}

/* ---- configuration -------------------------------------------------------- */

static int parse_u64(const char *v, uint64_t *out)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(v, &end, 0);
	if (errno || end == v)
		return -EINVAL;
	switch (*end) {
	case 'K': case 'k': x <<= 10; end++; break;
	case 'M': case 'm': x <<= 20; end++; break;
	case 'G': case 'g': x <<= 30; end++; break;
	}
	if (*end)
		return -EINVAL;
	*out = x;
	return 0;
}

int shim_config_from_env(struct shim_config *cfg, char *err, size_t errlen)
{
	const char *v;
	uint64_t x;

	memset(cfg, 0, sizeof(*cfg));
	cfg->log_fd = STDERR_FILENO;
	cfg->log_calls = true;
	cfg->host_page_shift = getpagesize() == 65536 ? 16 : 12;
	cfg->tce_cache_mode = UIOMMU_TCE_CACHE_ON;
#define BAD(...)                                                                           \
	do {                                                                               \
		snprintf(err, errlen, __VA_ARGS__);                                        \
		return -EINVAL;                                                            \
	} while (0)
	v = getenv("UIOMMU_VFIO_LOG");
	if (v && *v) {
		cfg->log_fd = open(v, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (cfg->log_fd < 0) {
			cfg->log_fd = STDERR_FILENO;
			BAD("UIOMMU_VFIO_LOG=%s: %s", v, strerror(errno));
		}
	}
	v = getenv("UIOMMU_VFIO_GROUP");
	if (!v || parse_u64(v, &x) || x > INT_MAX)
		BAD("UIOMMU_VFIO_GROUP must be an IOMMU group number (got %s)", v ? v : "nothing");
	cfg->group = (unsigned int)x;
	cfg->sysfsdev = getenv("UIOMMU_VFIO_SYSFSDEV");
	if (!cfg->sysfsdev || cfg->sysfsdev[0] != '/')
		BAD("UIOMMU_VFIO_SYSFSDEV must be the absolute path QEMU's sysfsdev= names");
	cfg->disk = getenv("UIOMMU_VFIO_DISK");
	v = getenv("UIOMMU_VFIO_DEVICE");
	if (!v)
		v = cfg->disk ? "virtio-blk" : "null";
	if (!strcmp(v, "null"))
		cfg->device = SHIM_DEVICE_NULL;
	else if (!strcmp(v, "virtio-blk"))
		cfg->device = SHIM_DEVICE_VIRTIO_BLK;
	else
		BAD("UIOMMU_VFIO_DEVICE=%s: not null or virtio-blk", v);
	if (cfg->device == SHIM_DEVICE_VIRTIO_BLK && !cfg->disk)
		BAD("UIOMMU_VFIO_DEVICE=virtio-blk needs UIOMMU_VFIO_DISK (a disk image file)");
	v = getenv("UIOMMU_VFIO_LOG_CALLS");
	if (v)
		cfg->log_calls = strcmp(v, "0") != 0;
	cfg->dump = getenv("UIOMMU_VFIO_DUMP");
	v = getenv("UIOMMU_VFIO_HOST_PAGE_SHIFT");
	if (v) {
		if (parse_u64(v, &x) || (x != 12 && x != 16))
			BAD("UIOMMU_VFIO_HOST_PAGE_SHIFT=%s: not 12 or 16", v);
		cfg->host_page_shift = (unsigned int)x;
	}
	v = getenv("UIOMMU_VFIO_PIN");
	if (v && strcmp(v, "mlock") && strcmp(v, "simulate"))
		BAD("UIOMMU_VFIO_PIN=%s: not mlock or simulate", v);
	cfg->pin_simulate = v && !strcmp(v, "simulate");
	v = getenv("UIOMMU_VFIO_LOCKED_LIMIT");
	if (v) {
		if (!strcmp(v, "none"))
			cfg->locked_limit = UIOMMU_LIMIT_NONE;
		else if (parse_u64(v, &cfg->locked_limit) || !cfg->locked_limit)
			BAD("UIOMMU_VFIO_LOCKED_LIMIT=%s: not a byte count or none", v);
	}
	v = getenv("UIOMMU_VFIO_TCE_CACHE");
	if (v) {
		if (!strcmp(v, "on"))
			cfg->tce_cache_mode = UIOMMU_TCE_CACHE_ON;
		else if (!strcmp(v, "off"))
			cfg->tce_cache_mode = UIOMMU_TCE_CACHE_OFF;
		else if (!strcmp(v, "strict"))
			cfg->tce_cache_mode = UIOMMU_TCE_CACHE_STRICT;
		else
			BAD("UIOMMU_VFIO_TCE_CACHE=%s: not on, off or strict", v);
	}
	v = getenv("UIOMMU_VFIO_PGSIZES");
	if (v && (parse_u64(v, &cfg->pgsizes) || !cfg->pgsizes))
		BAD("UIOMMU_VFIO_PGSIZES=%s: not a page-size mask", v);
#undef BAD
	return 0;
}

/* ---- objects -------------------------------------------------------------- */

static int make_sysfsdev(struct shim *s)
{
	char link[PATH_MAX], target[64];
	struct stat st;

	snprintf(link, sizeof(link), "%s/iommu_group", s->cfg.sysfsdev);
	snprintf(target, sizeof(target), "../../../kernel/iommu_groups/%u", s->cfg.group);
	if (stat(s->cfg.sysfsdev, &st) == 0) {
		char got[PATH_MAX];
		ssize_t n = readlink(link, got, sizeof(got) - 1);
		const char *base;

		if (n < 0) {
			shim_log(s, "ERROR %s exists but has no iommu_group link", s->cfg.sysfsdev);
			return -EEXIST;
		}
		got[n] = 0;
		base = strrchr(got, '/');
		if (strtoul(base ? base + 1 : got, NULL, 10) != s->cfg.group) {
			shim_log(s, "ERROR %s names group %s, not %u", link, got, s->cfg.group);
			return -EEXIST;
		}
		return 0;
	}
	if (mkdir(s->cfg.sysfsdev, 0755) || symlink(target, link)) {
		int err = -errno;

		shim_log(s, "ERROR cannot create %s: %s", link, strerror(-err));
		rmdir(s->cfg.sysfsdev);
		return err;
	}
	s->made_sysfsdev = true;
	return 0;
}

static int make_device(struct shim *s)
{
	struct uiommu_phb_config pcfg;
	struct uiommu_dev_config dcfg = { .size = sizeof(dcfg) };
	unsigned int dom = 0, bus = 0, slot = 0, func = 0;
	const char *base = strrchr(s->cfg.sysfsdev, '/');
	int ret, fd;

	snprintf(s->devname, sizeof(s->devname), "%s", base ? base + 1 : s->cfg.sysfsdev);
	/* a PCI address names the host PHB's domain and the device's BDF */
	if (sscanf(s->devname, "%x:%x:%x.%x", &dom, &bus, &slot, &func) != 4 || dom > 0xffff ||
	    bus > 255 || slot > 31 || func > 7)
		dom = bus = slot = func = 0;
	uiommu_phb_config_default(&pcfg, dom);
	pcfg.tce_cache_mode = s->cfg.tce_cache_mode;
	if (s->cfg.tce_cache_mode == UIOMMU_TCE_CACHE_OFF)
		pcfg.tce_cache_entries = 0;
	if (s->cfg.pgsizes)
		pcfg.pgsizes = s->cfg.pgsizes;
	ret = uiommu_phb_new(s->ctx, &pcfg, &s->phb);
	if (!ret)
		ret = uiommu_pe_new(s->phb, 0, &s->pe);
	if (!ret) {
		dcfg.bdf = UIOMMU_PCI_BDF(bus, slot, func);
		ret = uiommu_dev_new(s->pe, &dcfg, &s->dev);
	}
	if (ret) {
		shim_log(s, "ERROR host PHB, PE or device: %s", uiommu_strerror(ret));
		return ret;
	}
	s->grp = uiommu_dev_table_group(s->dev);
	if (s->cfg.device == SHIM_DEVICE_VIRTIO_BLK) {
		fd = open(s->cfg.disk, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			shim_log(s, "ERROR UIOMMU_VFIO_DISK=%s: %s", s->cfg.disk, strerror(errno));
			return ret;
		}
		s->fn = virtio_blk_new(s->dev, fd, vblk_log, s);
		if (!s->fn)
			close(fd);
	} else {
		s->fn = pcifn_null_new();
	}
	if (!s->fn) {
		shim_log(s, "ERROR cannot create the %s device",
			 s->cfg.device == SHIM_DEVICE_VIRTIO_BLK ? "virtio-blk" : "null");
		return -ENOMEM;
	}
	s->fn->irq_fn = shim_intx_fn;
	s->fn->irq_opaque = s;
	return 0;
}

int shim_new(const struct shim_config *cfg, struct shim **ret)
{
	struct uiommu_ctx_config ccfg = { .size = sizeof(ccfg) };
	struct uiommu_pe_info pinfo = { .size = sizeof(pinfo) };
	struct shim *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->intx_fd = s->req_fd = -1;
	pthread_mutex_init(&s->log_lock, NULL);
	pthread_mutex_init(&s->lock, NULL);
	ccfg.flags = cfg->pin_simulate ? UIOMMU_CTX_PIN_SIMULATE : 0;
	ccfg.host_page_shift = cfg->host_page_shift;
	ccfg.log_fn = lib_log;
	ccfg.log_opaque = s;
	err = uiommu_ctx_new(&ccfg, &s->ctx);
	if (err) {
		shim_log(s, "ERROR uiommu_ctx_new: %s", uiommu_strerror(err));
		goto fail;
	}
	if (cfg->locked_limit)
		uiommu_ctx_set_limit(s->ctx, UIOMMU_RES_LOCKED_BYTES, cfg->locked_limit);
	err = make_sysfsdev(s);
	if (!err)
		err = make_device(s);
	if (err)
		goto fail;
	uiommu_pe_info(s->pe, &pinfo);
	shim_log(s, "start libuiommu %s, container %s, group %u, device %s (%s%s%s) on "
		 "PE domain%u-pe%u, host pages %u KiB, TCE cache %s, pins %s", uiommu_version(),
		 shim_container_backend, cfg->group, s->devname, s->fn->ops->name,
		 cfg->disk ? ", disk " : "", cfg->disk ? cfg->disk : "", pinfo.domain,
		 pinfo.pe_number, 1u << (cfg->host_page_shift - 10),
		 pinfo.tce_cache_mode == UIOMMU_TCE_CACHE_STRICT ? "strict" :
		 pinfo.tce_cache_mode == UIOMMU_TCE_CACHE_OFF ? "off" : "on",
		 cfg->pin_simulate ? "simulated" : "mlock");
	*ret = s;
	return 0;
fail:
	shim_free(s);
	return err;
}

/* ---- fd table --------------------------------------------------------------- */

struct sfd *shim_sfd_get(struct shim *s, int fd)
{
	for (unsigned int i = 0; i < s->nfds; i++)
		if (s->fds[i].fd == fd)
			return &s->fds[i];
	return NULL;
}

bool shim_owns(struct shim *s, int fd)
{
	return fd >= 0 && fd < FD_BITS &&
	       (atomic_load_explicit(&s->fd_ours[fd / 8], memory_order_acquire) & (1u << (fd % 8)));
}

static void mark(struct shim *s, int fd, bool on)
{
	if (fd < 0 || fd >= FD_BITS)
		return;
	if (on)
		atomic_fetch_or(&s->fd_ours[fd / 8], (unsigned char)(1u << (fd % 8)));
	else
		atomic_fetch_and(&s->fd_ours[fd / 8], (unsigned char)~(1u << (fd % 8)));
}

/* A real descriptor for the client to hold: a memfd named after its role. */
int shim_sfd_new(struct shim *s, enum sfd_kind kind, struct shim_container *c)
{
	char name[64];
	int fd;

	snprintf(name, sizeof(name), "uiommu-vfio-%s", shim_sfd_name[kind]);
	fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&s->lock);
	if (s->nfds == SHIM_FDS_MAX) {
		pthread_mutex_unlock(&s->lock);
		close(fd);
		return -EMFILE;
	}
	s->fds[s->nfds++] = (struct sfd){ .fd = fd, .kind = kind, .container = c };
	mark(s, fd, true);
	pthread_mutex_unlock(&s->lock);
	return fd;
}

int shim_open(struct shim *s, const char *path, int flags)
{
	char grp[32];
	uint64_t t0 = shim_now_ns();
	struct shim_container *c;
	int fd = SHIM_NOT_OURS, err;

	if (strncmp(path, "/dev/vfio/", 10))
		return SHIM_NOT_OURS;
	snprintf(grp, sizeof(grp), "/dev/vfio/%u", s->cfg.group);
	if (!strcmp(path, "/dev/vfio/vfio")) {
		err = shim_container_new(s->ctx, &c);
		fd = err ? err : shim_sfd_new(s, SFD_CONTAINER, c);
		if (!err && fd < 0)
			shim_container_free(c);
	} else if (!strcmp(path, grp)) {
		bool open_already = false;

		pthread_mutex_lock(&s->lock);
		for (unsigned int i = 0; i < s->nfds; i++)
			open_already |= s->fds[i].kind == SFD_GROUP;
		pthread_mutex_unlock(&s->lock);
		/* a group has one open file at a time (vfio_group_fops_open()) */
		fd = open_already ? -EBUSY : shim_sfd_new(s, SFD_GROUP, NULL);
	} else {
		shim_log(s, "ERROR unserved: open %s (the shim serves /dev/vfio/vfio and %s)", path,
			 grp);
		shim_count(s, ST_UNSERVED, -ENOENT, 0);
		return SHIM_NOT_OURS;
	}
	shim_count(s, ST_OPEN, fd, shim_now_ns() - t0);
	if (s->cfg.log_calls || fd < 0)
		shim_log(s, "%s open %s flags=%#x -> %s", fd < 0 ? "ERROR" : "file", path, flags,
			 shim_errname(fd));
	return fd;
}

/* ---- the group fd (drivers/vfio/group.c) ------------------------------------ */

static long group_ioctl(struct shim *s, int fd, unsigned long req, unsigned long arg,
			enum stat_id *id, char *args, size_t alen)
{
	switch (req) {
	case VFIO_GROUP_GET_STATUS: {
		struct vfio_group_status *st = (void *)arg;

		*id = ST_GROUP_GET_STATUS;
		if (!st)
			return -EFAULT;
		if (st->argsz < sizeof(*st))
			return -EINVAL;
		pthread_mutex_lock(&s->lock);
		st->flags = VFIO_GROUP_FLAGS_VIABLE | (s->grp_container ?
						       VFIO_GROUP_FLAGS_CONTAINER_SET : 0);
		pthread_mutex_unlock(&s->lock);
		snprintf(args, alen, "flags=%#x", st->flags);
		return 0;
	}
	case VFIO_GROUP_SET_CONTAINER: {
		const int *cfd = (const int *)arg;
		struct sfd *c;
		int ret;

		*id = ST_GROUP_SET_CONTAINER;
		if (!cfd)
			return -EFAULT;
		snprintf(args, alen, "container=%d", *cfd);
		pthread_mutex_lock(&s->lock);
		c = shim_sfd_get(s, *cfd);
		if (!c || c->kind != SFD_CONTAINER || s->grp_container) {
			pthread_mutex_unlock(&s->lock);
			return -EINVAL; /* not a container fd, or already set (as group.c) */
		}
		ret = shim_container_set_group(s->grp, c->container);
		if (!ret)
			s->grp_container = c->container;
		pthread_mutex_unlock(&s->lock);
		return ret;
	}
	case VFIO_GROUP_UNSET_CONTAINER: {
		int ret;

		*id = ST_GROUP_UNSET_CONTAINER;
		pthread_mutex_lock(&s->lock);
		if (!s->grp_container) {
			pthread_mutex_unlock(&s->lock);
			return -EINVAL;
		}
		ret = shim_container_set_group(s->grp, NULL);
		s->grp_container = NULL;
		pthread_mutex_unlock(&s->lock);
		return ret;
	}
	case VFIO_GROUP_GET_DEVICE_FD: {
		const char *name = (const char *)arg;
		bool set;

		*id = ST_GROUP_GET_DEVICE_FD;
		if (!name)
			return -EFAULT;
		snprintf(args, alen, "name=%.40s", name);
		pthread_mutex_lock(&s->lock);
		set = s->grp_container != NULL;
		pthread_mutex_unlock(&s->lock);
		if (!set)
			return -EINVAL; /* the group has no container (IOMMU) yet */
		if (strcmp(name, s->devname))
			return -ENODEV;
		return shim_sfd_new(s, SFD_DEVICE, NULL);
	}
	}
	return SHIM_UNSERVED;
}

/* ---- the container fd ----------------------------------------------------------- */

static const struct {
	unsigned long req;
	enum stat_id id;
} container_reqs[] = {
	{ VFIO_GET_API_VERSION, ST_GET_API_VERSION },
	{ VFIO_CHECK_EXTENSION, ST_CHECK_EXTENSION },
	{ VFIO_SET_IOMMU, ST_SET_IOMMU },
	{ VFIO_IOMMU_SPAPR_TCE_GET_INFO, ST_GET_INFO },
	{ VFIO_IOMMU_MAP_DMA, ST_MAP_DMA },
	{ VFIO_IOMMU_UNMAP_DMA, ST_UNMAP_DMA },
	{ VFIO_IOMMU_ENABLE, ST_ENABLE },
	{ VFIO_IOMMU_DISABLE, ST_DISABLE },
	{ VFIO_IOMMU_SPAPR_REGISTER_MEMORY, ST_REGISTER_MEMORY },
	{ VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, ST_UNREGISTER_MEMORY },
	{ VFIO_IOMMU_SPAPR_TCE_CREATE, ST_TCE_CREATE },
	{ VFIO_IOMMU_SPAPR_TCE_REMOVE, ST_TCE_REMOVE },
	{ VFIO_EEH_PE_OP, ST_EEH_PE_OP },
};

static void container_args(unsigned long req, unsigned long arg, long ret, char *b, size_t n)
{
	switch (req) {
	case VFIO_CHECK_EXTENSION:
	case VFIO_SET_IOMMU:
		snprintf(b, n, "arg=%lu", arg);
		break;
	case VFIO_IOMMU_MAP_DMA: {
		const struct vfio_iommu_type1_dma_map *m = (void *)arg;

		if (m)
			snprintf(b, n, "argsz=%u flags=%#x vaddr=%#llx iova=%#llx size=%#llx",
				 m->argsz, m->flags, (unsigned long long)m->vaddr,
				 (unsigned long long)m->iova, (unsigned long long)m->size);
		break;
	}
	case VFIO_IOMMU_UNMAP_DMA: {
		const struct vfio_iommu_type1_dma_unmap *u = (void *)arg;

		if (u)
			snprintf(b, n, "argsz=%u flags=%#x iova=%#llx size=%#llx", u->argsz,
				 u->flags, (unsigned long long)u->iova,
				 (unsigned long long)u->size);
		break;
	}
	case VFIO_IOMMU_SPAPR_REGISTER_MEMORY:
	case VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY: {
		const struct vfio_iommu_spapr_register_memory *r = (void *)arg;

		if (r)
			snprintf(b, n, "argsz=%u flags=%#x vaddr=%#llx size=%#llx", r->argsz,
				 r->flags, (unsigned long long)r->vaddr,
				 (unsigned long long)r->size);
		break;
	}
	case VFIO_IOMMU_SPAPR_TCE_GET_INFO: {
		const struct vfio_iommu_spapr_tce_info *i = (void *)arg;

		if (i && ret >= 0)
			snprintf(b, n, "argsz=%u flags=%#x dma32_window_start=%#x "
				 "dma32_window_size=%#x pgsizes=%#llx max_dynamic_windows=%u "
				 "levels=%u", i->argsz, i->flags, i->dma32_window_start,
				 i->dma32_window_size, (unsigned long long)i->ddw.pgsizes,
				 i->ddw.max_dynamic_windows_supported, i->ddw.levels);
		else if (i)
			snprintf(b, n, "argsz=%u", i->argsz);
		break;
	}
	case VFIO_IOMMU_SPAPR_TCE_CREATE: {
		const struct vfio_iommu_spapr_tce_create *c = (void *)arg;

		if (c)
			snprintf(b, n, "argsz=%u flags=%#x page_shift=%u window_size=%#llx "
				 "levels=%u start_addr=%#llx", c->argsz, c->flags, c->page_shift,
				 (unsigned long long)c->window_size, c->levels,
				 ret >= 0 ? (unsigned long long)c->start_addr : 0ULL);
		break;
	}
	case VFIO_IOMMU_SPAPR_TCE_REMOVE: {
		const struct vfio_iommu_spapr_tce_remove *r = (void *)arg;

		if (r)
			snprintf(b, n, "argsz=%u flags=%#x start_addr=%#llx", r->argsz, r->flags,
				 (unsigned long long)r->start_addr);
		break;
	}
	case VFIO_EEH_PE_OP: {
		const struct vfio_eeh_pe_op *op = (void *)arg;

		if (op)
			snprintf(b, n, "argsz=%u flags=%#x op=%u", op->argsz, op->flags, op->op);
		break;
	}
	}
}

static long container_ioctl(struct shim *s, struct shim_container *c, unsigned long req,
			    unsigned long arg, enum stat_id *id, uint64_t *ns, char *args,
			    size_t alen)
{
	const struct vfio_iommu_spapr_register_memory *r = (void *)arg;
	bool known = false;
	uint64_t t0;
	long ret;

	for (size_t i = 0; i < sizeof(container_reqs) / sizeof(container_reqs[0]); i++)
		if (container_reqs[i].req == req) {
			*id = container_reqs[i].id;
			known = true;
		}
	if (!known)
		return SHIM_UNSERVED;
	bool reg = (req == VFIO_IOMMU_SPAPR_REGISTER_MEMORY ||
		    req == VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY) && r &&
		   r->argsz >= offsetof(struct vfio_iommu_spapr_register_memory, size) + 8 &&
		   !r->flags && r->size && r->vaddr + r->size > r->vaddr;
	bool added = false;

	/* QEMU's RAM is its own memory: make it part of the hpa space first */
	if (reg && req == VFIO_IOMMU_SPAPR_REGISTER_MEMORY) {
		ret = shim_ram_add(s, r->vaddr, r->size, &added);
		if (ret) {
			container_args(req, arg, ret, args, alen);
			return ret;
		}
	}
	t0 = shim_now_ns();
	ret = shim_container_ioctl(c, req, arg);
	*ns = shim_now_ns() - t0;
	if (reg && req == VFIO_IOMMU_SPAPR_REGISTER_MEMORY) {
		if (!ret)
			shim_ram_ref(s, r->vaddr, r->size, 1);
		else if (added)
			shim_ram_ref(s, r->vaddr, r->size, 0); /* nothing half-done */
	}
	if (reg && req == VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY && !ret)
		shim_ram_ref(s, r->vaddr, r->size, -1);
	container_args(req, arg, ret, args, alen);
	if ((req == VFIO_IOMMU_SPAPR_REGISTER_MEMORY || req == VFIO_IOMMU_SPAPR_TCE_CREATE) &&
	    !ret) {
		uint64_t locked = 0;

		uiommu_ctx_get_usage(s->ctx, UIOMMU_RES_LOCKED_BYTES, &locked);
		pthread_mutex_lock(&s->lock);
		if (locked > s->locked_peak)
			s->locked_peak = locked;
		pthread_mutex_unlock(&s->lock);
	}
	return ret;
}

long shim_ioctl(struct shim *s, int fd, unsigned long req, unsigned long arg)
{
	char args[256] = "", call[384];
	enum stat_id id = ST_UNSERVED;
	enum sfd_kind kind;
	struct shim_container *c;
	struct sfd *f;
	uint64_t t0 = shim_now_ns(), ns = 0;
	long ret;

	pthread_mutex_lock(&s->lock);
	f = shim_sfd_get(s, fd);
	kind = f ? f->kind : SFD_CONTAINER;
	c = f ? f->container : NULL;
	pthread_mutex_unlock(&s->lock);
	if (!f)
		return -EBADF;
	switch (kind) {
	case SFD_CONTAINER:
		ret = container_ioctl(s, c, req, arg, &id, &ns, args, sizeof(args));
		break;
	case SFD_GROUP:
		ret = group_ioctl(s, fd, req, arg, &id, args, sizeof(args));
		break;
	default:
		ret = shim_device_ioctl(s, fd, req, arg, &id, args, sizeof(args));
		break;
	}
	if (ret == SHIM_UNSERVED) {
		snprintf(call, sizeof(call), "ioctl %#lx %s %s", req,
			 id == ST_UNSERVED ? "(unknown)" : shim_stat_name[id], args);
		return shim_unserved(s, fd, call);
	}
	if (!ns)
		ns = shim_now_ns() - t0;
	shim_count(s, id, ret, ns);
	if (s->cfg.log_calls || ret < 0)
		shim_log(s, "%s ioctl %s %s -> %s %lluns", shim_sfd_name[kind], shim_stat_name[id], args,
			 shim_errname(ret), (unsigned long long)ns);
	return ret;
}

/* ---- close and teardown --------------------------------------------------------- */

/* Release one fd's object (with s->lock held); returns its error. */
static int release(struct shim *s, struct sfd *f)
{
	int ret = 0, err;

	switch (f->kind) {
	case SFD_CONTAINER:
		if (s->grp_container == f->container) {
			/* Linux keeps the container while a group holds it; the group's
			 * last close releases it. The client closed the container fd
			 * first: the group leaves now (as its release would). */
			ret = shim_container_set_group(s->grp, NULL);
			s->grp_container = NULL;
		}
		err = shim_container_free(f->container);
		if (!ret)
			ret = err;
		break;
	case SFD_GROUP:
		if (s->grp_container) {
			ret = shim_container_set_group(s->grp, NULL);
			s->grp_container = NULL;
		}
		break;
	case SFD_DEVICE:
		break;
	}
	mark(s, f->fd, false);
	*f = s->fds[--s->nfds];
	return ret;
}

int shim_close(struct shim *s, int fd)
{
	uint64_t t0 = shim_now_ns();
	enum sfd_kind kind;
	struct sfd *f;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	f = shim_sfd_get(s, fd);
	if (f) {
		kind = f->kind;
		ret = release(s, f);
	}
	pthread_mutex_unlock(&s->lock);
	if (!f)
		return -EBADF;
	shim_count(s, ST_CLOSE, ret, shim_now_ns() - t0);
	if (s->cfg.log_calls || ret)
		shim_log(s, "%s%s close fd=%d -> %s", ret ? "ERROR " : "", shim_sfd_name[kind], fd,
			 shim_errname(ret));
	return 0;
}

/* The host tables as they are: one line per window and per valid TCE. */
static void dump_tables(struct shim *s)
{
	FILE *out = fopen(s->cfg.dump, "we");
	uint64_t ntce = 0;

	if (!out) {
		shim_log(s, "ERROR UIOMMU_VFIO_DUMP=%s: %s", s->cfg.dump, strerror(errno));
		return;
	}
	fprintf(out, "# uiommu-vfio-dump: 1\n");
	for (unsigned int i = 0; i < s->nram; i++)
		fprintf(out, "ram vaddr=%#llx size=%#llx hpa=%#llx\n",
			(unsigned long long)s->ram[i].vaddr, (unsigned long long)s->ram[i].size,
			(unsigned long long)s->ram[i].hpa);
	for (int w = 0; w < UIOMMU_TABLE_GROUP_MAX_TABLES; w++) {
		struct uiommu_tce_table *tbl = s->grp->tables[w];
		struct uiommu_tce_table_info info = { .size = sizeof(info) };

		if (!tbl)
			continue;
		uiommu_tce_table_info(tbl, &info);
		fprintf(out, "window num=%d start=%#llx size=%#llx page_shift=%u levels=%u\n", w,
			(unsigned long long)info.bus_offset,
			(unsigned long long)(info.it_size << info.page_shift), info.page_shift,
			info.levels);
		for (uint64_t e = info.it_offset; e < info.it_offset + info.it_size; e++) {
			uint64_t tce = 0, hpa;
			void *hva = NULL;

			if (uiommu_tce_table_get(tbl, e, &tce) || !(tce & UIOMMU_TCE_PERM_MASK))
				continue;
			hpa = tce & ~((1ULL << info.page_shift) - 1);
			uiommu_hpa_to_hva(s->ctx, hpa, 1, &hva);
			fprintf(out, "tce ioba=%#llx hpa=%#llx hva=%#llx perm=%llu\n",
				(unsigned long long)(e << info.page_shift), (unsigned long long)hpa,
				(unsigned long long)(uintptr_t)hva,
				(unsigned long long)(tce & UIOMMU_TCE_PERM_MASK));
			ntce++;
		}
	}
	fprintf(out, "# end: %llu tces\n", (unsigned long long)ntce);
	fclose(out);
	shim_log(s, "event dump %s: %llu valid TCEs", s->cfg.dump, (unsigned long long)ntce);
}

static void summary(struct shim *s)
{
	struct uiommu_dev_info di = { .size = sizeof(di) };
	struct uiommu_pe_info pi = { .size = sizeof(pi) };
	uint64_t faults = 0;

	for (int i = 0; i < ST_NR; i++)
		if (s->stats[i].calls)
			shim_log(s, "summary %s calls=%llu errors=%llu ns=%llu", shim_stat_name[i],
				 (unsigned long long)s->stats[i].calls,
				 (unsigned long long)s->stats[i].errors,
				 (unsigned long long)s->stats[i].ns);
	if (s->dev) {
		uiommu_dev_info(s->dev, &di);
		uiommu_pe_info(s->pe, &pi);
		uiommu_ctx_get_counter(s->ctx, UIOMMU_COUNTER_DMA_FAULTS, &faults);
		shim_log(s, "summary dma bytes_read=%llu bytes_written=%llu faults=%llu "
			 "tce_cache_hits=%llu misses=%llu kills=%llu stale_tces=%llu",
			 (unsigned long long)di.bytes_read, (unsigned long long)di.bytes_written,
			 (unsigned long long)faults, (unsigned long long)pi.tce_cache_hits,
			 (unsigned long long)pi.tce_cache_misses, (unsigned long long)pi.kills,
			 (unsigned long long)pi.stale_tces);
	}
	if (s->fn && s->cfg.device == SHIM_DEVICE_VIRTIO_BLK) {
		struct virtio_blk_stats vs;

		virtio_blk_get_stats(s->fn, &vs);
		shim_log(s, "summary virtio-blk requests=%llu reads=%llu writes=%llu flushes=%llu "
			 "bytes_read=%llu bytes_written=%llu errors=%llu interrupts=%llu "
			 "needs_reset=%llu", (unsigned long long)vs.requests,
			 (unsigned long long)vs.reads, (unsigned long long)vs.writes,
			 (unsigned long long)vs.flushes, (unsigned long long)vs.bytes_read,
			 (unsigned long long)vs.bytes_written, (unsigned long long)vs.errors,
			 (unsigned long long)vs.interrupts, (unsigned long long)vs.needs_reset);
	}
}

int shim_free(struct shim *s)
{
	uint64_t locked = 0;
	int ret = 0;

	if (!s)
		return 0;
	if (s->ctx) {
		uiommu_ctx_get_usage(s->ctx, UIOMMU_RES_LOCKED_BYTES, &locked);
		if (s->cfg.dump && s->grp)
			dump_tables(s);
		summary(s);
		shim_log(s, "event teardown: fds_open=%u locked_bytes=%llu locked_peak=%llu vmlck_kib=%ld",
			 s->nfds, (unsigned long long)locked, (unsigned long long)s->locked_peak,
			 proc_status_kib("VmLck"));
	}
	pthread_mutex_lock(&s->lock);
	/* groups before containers, as the kernel's release of the fds */
	for (int pass = 0; pass < 3; pass++)
		for (unsigned int i = s->nfds; i-- > 0;)
			if ((int)s->fds[i].kind == 2 - pass) {
				int fd = s->fds[i].fd, err = release(s, &s->fds[i]);

				close(fd);
				if (!ret)
					ret = err;
			}
	while (s->nram) {
		struct ram *r = &s->ram[s->nram - 1];
		int err = uiommu_ram_remove(s->ctx, r->hpa);

		if (err)
			shim_log(s, "ERROR guest RAM hpa %#llx not removed: %s",
				 (unsigned long long)r->hpa, uiommu_strerror(err));
		if (!ret)
			ret = err;
		s->nram--;
	}
	pthread_mutex_unlock(&s->lock);
	if (s->fn)
		s->fn->ops->free(s->fn);
	if (s->intx_fd >= 0)
		close(s->intx_fd);
	if (s->req_fd >= 0)
		close(s->req_fd);
	uiommu_dev_free(s->dev);
	if ((s->pe && uiommu_pe_free(s->pe)) || (s->phb && uiommu_phb_free(s->phb)))
		ret = -EBUSY;
	if (s->ctx) {
		for (int r = 0; r < UIOMMU_RES_NR; r++) {
			uint64_t usage = 0;

			if (r == UIOMMU_RES_HEAP_BYTES)
				continue;
			uiommu_ctx_get_usage(s->ctx, (enum uiommu_resource)r, &usage);
			if (usage) {
				shim_log(s, "ERROR exit: %s still at %llu",
					 uiommu_resource_name((enum uiommu_resource)r),
					 (unsigned long long)usage);
				ret = -EBUSY;
			}
		}
		if (uiommu_ctx_free(s->ctx))
			ret = -EBUSY;
		if (ret)
			shim_log(s, "ERROR exit: not clean (%s)", uiommu_strerror(ret));
		else
			shim_log(s, "event exit: clean, locked_bytes=0, every resource back at zero, "
				 "VmLck %ld kB", proc_status_kib("VmLck"));
	}
	if (s->made_sysfsdev) {
		char link[PATH_MAX];

		snprintf(link, sizeof(link), "%s/iommu_group", s->cfg.sysfsdev);
		unlink(link);
		rmdir(s->cfg.sysfsdev);
	}
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->log_lock);
	free(s);
	return ret;
}
