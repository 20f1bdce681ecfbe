// SPDX-License-Identifier: BSD-3-Clause
/*
 * The userfaultfd of an address space made with UIOMMU_MM_USERFAULTFD:
 * opened here, when the address space is made, so that a process without
 * userfaultfd or its non-cooperative events learns it from
 * uiommu_mm_new(); registered over mirrored ranges and read by the
 * mirror's monitor thread (src/mirror/uffd.c); closed by uiommu_mm_free().
 */
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mm.h"

#define UFFD_EVENTS_NEEDED                                                                  \
	(UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE |   \
	 UFFD_FEATURE_EVENT_UNMAP)

static int uffd_new_fd(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0 && errno == EPERM) /* vm.unprivileged_userfaultfd = 0: user faults only */
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0) {
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

		if (dev >= 0) {
			fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
			close(dev);
		}
	}
	return fd;
}

int mm_uffd_open(struct uiommu_mm *mm)
{
	struct uiommu_ctx *ctx = mm->ctx;
	struct uffdio_api api = { .api = UFFD_API };
	uint64_t features;
	int probe, fd, ret;

	/* A failed UFFDIO_API spoils a descriptor: learn the features on a throwaway one. */
	probe = uffd_new_fd();
	if (probe < 0) {
		ctx_err(ctx, "mm: userfaultfd is not available to this process: %s",
			strerror(errno));
		return -EOPNOTSUPP;
	}
	ret = ioctl(probe, UFFDIO_API, &api);
	close(probe);
	if (ret || (api.features & UFFD_EVENTS_NEEDED) != UFFD_EVENTS_NEEDED) {
		ctx_err(ctx, "mm: this kernel's userfaultfd lacks the non-cooperative events "
			     "(features 0x%llx)", (unsigned long long)api.features);
		return -EOPNOTSUPP;
	}
	features = UFFD_EVENTS_NEEDED | (api.features & UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
	if (ctx_fault(ctx, UIOMMU_FAULT_MAP))
		return -ENOMEM;
	fd = uffd_new_fd();
	if (fd < 0)
		return -ENOMEM;
	api = (struct uffdio_api){ .api = UFFD_API, .features = features };
	if (ioctl(fd, UFFDIO_API, &api)) {
		ctx_err(ctx, "mm: UFFDIO_API failed: %s", strerror(errno));
		close(fd);
		return -EOPNOTSUPP;
	}
	mm->uffd = fd;
	return 0;
}
