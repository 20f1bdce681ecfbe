// SPDX-License-Identifier: BSD-3-Clause
/*
 * A client of the real interposition: run with LD_PRELOAD=
 * libuiommu-vfio-preload.so (preload.sh sets the environment), it reaches
 * the shim only through libc's names, compiled the way QEMU is (64-bit
 * file offsets, _FORTIFY_SOURCE, so open() becomes __open64_2() and pread()
 * of a sized buffer __pread64_chk()). Calls the shim does not serve must
 * fail; calls on other files must reach libc untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/vfio.h>

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: check failed: %s (errno %s)\n", __FILE__,  \
				__LINE__, #cond, strerror(errno));                         \
			exit(1);                                                           \
		}                                                                          \
	} while (0)

int main(int argc, char **argv)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	unsigned char cfg[4];
	char path[4096], back[6];
	int c, g, d, f;
	uint16_t cmd = 6;
	int avail = 0;
	/* not constants, as in QEMU: fortify then calls __open64_2 and __pread64_chk */
	volatile int rdwr = O_RDWR;
	volatile size_t four = sizeof(cfg);

	CHECK(argc == 3);
	c = open("/dev/vfio/vfio", O_RDWR);
	CHECK(c >= 0);
	CHECK(ioctl(c, VFIO_GET_API_VERSION) == VFIO_API_VERSION);
	CHECK(ioctl(c, VFIO_CHECK_EXTENSION, VFIO_SPAPR_TCE_v2_IOMMU) == 1);
	CHECK(ioctl(c, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) == 0);
	g = open(argv[1], rdwr);
	CHECK(g >= 0);
	CHECK(ioctl(g, VFIO_GROUP_GET_STATUS, &gs) == 0 && gs.flags == VFIO_GROUP_FLAGS_VIABLE);
	CHECK(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c) == 0);
	CHECK(ioctl(c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU) == 0);
	d = ioctl(g, VFIO_GROUP_GET_DEVICE_FD, "0000:01:00.0");
	CHECK(d >= 0);
	CHECK(pread(d, cfg, four, (off_t)VFIO_PCI_CONFIG_REGION_INDEX << 40) == 4);
	CHECK(cfg[0] == 0x36 && cfg[1] == 0x1b); /* the null device, 1b36:0005 */
	CHECK(pwrite(d, &cmd, 2, ((off_t)VFIO_PCI_CONFIG_REGION_INDEX << 40) + 4) == 2);
	/* not served: refused, and logged as errors */
	errno = 0;
	CHECK(read(d, cfg, sizeof(cfg)) == -1 && errno == ENOTTY);
	CHECK(write(d, cfg, sizeof(cfg)) == -1 && errno == ENOTTY);
	CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, d, 0) == MAP_FAILED && errno == EINVAL);
	CHECK(ioctl(d, _IO(';', 99)) == -1 && errno == ENOTTY);
	/* a group the shim does not serve */
	CHECK(open("/dev/vfio/4242", rdwr) == -1);
	/* everything else reaches libc */
	snprintf(path, sizeof(path), "%s/plain-file", argv[2]);
	f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(f >= 0);
	CHECK(write(f, "hello", 5) == 5);
	CHECK(pread(f, back, four + 1, 0) == 5 && !memcmp(back, "hello", 5));
	CHECK(pwrite(f, "J", 1, 0) == 1);
	CHECK(lseek(f, 0, SEEK_SET) == 0 && read(f, back, 5) == 5 && back[0] == 'J');
	CHECK(lseek(f, 1, SEEK_SET) == 1 && ioctl(f, FIONREAD, &avail) == 0 && avail == 4);
	CHECK(close(f) == 0);
	CHECK(unlink(path) == 0);
	CHECK(close(d) == 0);
	CHECK(close(g) == 0);
	/* the container stays open: the shim releases it at exit, as the kernel does */
	return 0;
}
