// SPDX-License-Identifier: BSD-3-Clause
/*
 * libuiommu-vfio-preload.so: LD_PRELOAD it into an unmodified QEMU to
 * serve /dev/vfio/vfio, /dev/vfio/<group> and the device fd from uiommu
 * (shim.h). This file only interposes libc: open/open64/openat and their
 * fortified forms, ioctl, pread/pread64/__pread_chk/__pread64_chk,
 * pwrite/pwrite64, read/__read_chk, write, mmap/mmap64 and close. A call on
 * a path or fd of the shim goes to shim.c; every other call goes to libc
 * unchanged.
 * read(), write() and mmap() of a shim fd are logged as unserved errors
 * and fail (a memfd would otherwise accept them silently).
 *
 * Configuration: environment variables, read once when the library is
 * loaded (doc/qemu-client.md). If they are wrong, the shim logs why on
 * stderr and fails every open of /dev/vfio/ with ENODEV.
 */
#undef _FORTIFY_SOURCE
/* the interposed names must be the names themselves, not their 64-bit redirects */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim.h"

#define EXPORT __attribute__((visibility("default")))
static struct shim *the_shim;
static char config_error[256];

static bool ours(int fd)
{
	struct shim *s = the_shim;

	return s && shim_owns(s, fd);
}

/* libc's own function @name, resolved once. */
#define REAL(ret, name, ...)                                                               \
	static ret (*real_##name)(__VA_ARGS__);                                            \
	static ret (*get_##name(void))(__VA_ARGS__)                                        \
	{                                                                                  \
		if (!real_##name)                                                          \
			*(void **)&real_##name = dlsym(RTLD_NEXT, #name);                  \
		return real_##name;                                                        \
	}

REAL(int, open, const char *, int, ...)
REAL(int, open64, const char *, int, ...)
REAL(int, __open_2, const char *, int)
REAL(int, __open64_2, const char *, int)
REAL(int, openat, int, const char *, int, ...)
REAL(int, openat64, int, const char *, int, ...)
REAL(int, ioctl, int, unsigned long, ...)
REAL(ssize_t, pread, int, void *, size_t, off_t)
REAL(ssize_t, pread64, int, void *, size_t, off64_t)
REAL(ssize_t, __pread_chk, int, void *, size_t, off_t, size_t)
REAL(ssize_t, __pread64_chk, int, void *, size_t, off64_t, size_t)
REAL(ssize_t, pwrite, int, const void *, size_t, off_t)
REAL(ssize_t, pwrite64, int, const void *, size_t, off64_t)
REAL(ssize_t, read, int, void *, size_t)
REAL(ssize_t, __read_chk, int, void *, size_t, size_t)
REAL(ssize_t, write, int, const void *, size_t)
REAL(void *, mmap, void *, size_t, int, int, int, off_t)
REAL(void *, mmap64, void *, size_t, int, int, int, off64_t)
REAL(int, close, int)

static void preload_fini(void)
{
	struct shim *s = the_shim;

	if (!s)
		return;
	the_shim = NULL;
	shim_free(s);
}

__attribute__((constructor)) static void preload_init(void)
{
	struct shim_config cfg;
	struct shim *s;
	int err;

	err = shim_config_from_env(&cfg, config_error, sizeof(config_error));
	if (err) {
		dprintf(cfg.log_fd, "uiommu-vfio-preload: not serving /dev/vfio: %s\n",
			config_error);
		return;
	}
	err = shim_new(&cfg, &s);
	if (err) {
		snprintf(config_error, sizeof(config_error), "setup failed (%s), see the log",
			 strerror(-err));
		return;
	}
	the_shim = s;
	atexit(preload_fini);
}

static int set_errno(long ret)
{
	if (ret >= 0)
		return (int)ret;
	errno = (int)-ret;
	return -1;
}

/* An open of @path: the shim's, or SHIM_NOT_OURS (the shim's are absolute: no dirfd). */
static int try_open(const char *path, int flags)
{
	if (!path || strncmp(path, "/dev/vfio/", 10))
		return SHIM_NOT_OURS;
	if (!the_shim) {
		dprintf(STDERR_FILENO, "uiommu-vfio-preload: open %s refused: %s\n", path,
			config_error[0] ? config_error : "the shim is gone (exiting)");
		return -ENODEV;
	}
	return shim_open(the_shim, path, flags);
}

/*
 * open(2) and its variants: a path of the shim's goes to the shim, any
 * other to libc, with the mode if the flags say there is one.
 */
#define OPEN_WRAPPER(name, params, call)                                                  \
	EXPORT int name params                                                             \
	{                                                                                  \
		int fd = try_open(path, flags);                                            \
		mode_t mode = 0;                                                           \
		va_list ap;                                                                \
                                                                                           \
		if (fd != SHIM_NOT_OURS)                                                   \
			return set_errno(fd);                                              \
		if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {               \
			va_start(ap, flags);                                               \
			mode = va_arg(ap, mode_t);                                         \
			va_end(ap);                                                        \
		}                                                                          \
		return get_##name() call;                                                  \
	}

OPEN_WRAPPER(open, (const char *path, int flags, ...), (path, flags, mode))
OPEN_WRAPPER(open64, (const char *path, int flags, ...), (path, flags, mode))
OPEN_WRAPPER(openat, (int dirfd, const char *path, int flags, ...), (dirfd, path, flags, mode))
OPEN_WRAPPER(openat64, (int dirfd, const char *path, int flags, ...), (dirfd, path, flags, mode))

/* The fortified forms of a mode-less open (_FORTIFY_SOURCE with flags not constant). */
EXPORT int __open_2(const char *path, int flags);
EXPORT int __open_2(const char *path, int flags)
{
	int fd = try_open(path, flags);

	return fd != SHIM_NOT_OURS ? set_errno(fd) : get___open_2()(path, flags);
}

EXPORT int __open64_2(const char *path, int flags);
EXPORT int __open64_2(const char *path, int flags)
{
	int fd = try_open(path, flags);

	return fd != SHIM_NOT_OURS ? set_errno(fd) : get___open64_2()(path, flags);
}

EXPORT int ioctl(int fd, unsigned long request, ...)
{
	unsigned long arg;
	va_list ap;

	va_start(ap, request);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	if (ours(fd))
		return set_errno(shim_ioctl(the_shim, fd, request, arg));
	return get_ioctl()(fd, request, arg);
}

EXPORT ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	if (ours(fd))
		return set_errno(shim_pread(the_shim, fd, buf, len, off));
	return get_pread()(fd, buf, len, off);
}

EXPORT ssize_t pread64(int fd, void *buf, size_t len, off64_t off)
{
	if (ours(fd))
		return set_errno(shim_pread(the_shim, fd, buf, len, off));
	return get_pread64()(fd, buf, len, off);
}

EXPORT ssize_t __pread_chk(int fd, void *buf, size_t len, off_t off, size_t buflen);
EXPORT ssize_t __pread_chk(int fd, void *buf, size_t len, off_t off, size_t buflen)
{
	if (ours(fd)) {
		if (len > buflen)
			abort(); /* what glibc's __chk_fail() does: a buffer overflow */
		return set_errno(shim_pread(the_shim, fd, buf, len, off));
	}
	return get___pread_chk()(fd, buf, len, off, buflen);
}

EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t len, off64_t off, size_t buflen);
EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t len, off64_t off, size_t buflen)
{
	if (ours(fd)) {
		if (len > buflen)
			abort();
		return set_errno(shim_pread(the_shim, fd, buf, len, off));
	}
	return get___pread64_chk()(fd, buf, len, off, buflen);
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	if (ours(fd))
		return set_errno(shim_pwrite(the_shim, fd, buf, len, off));
	return get_pwrite()(fd, buf, len, off);
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	if (ours(fd))
		return set_errno(shim_pwrite(the_shim, fd, buf, len, off));
	return get_pwrite64()(fd, buf, len, off);
}

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	char call[48];

	if (ours(fd)) {
		snprintf(call, sizeof(call), "read len=%#zx", len);
		return set_errno(shim_unserved(the_shim, fd, call));
	}
	return get_read()(fd, buf, len);
}

EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	char call[48];

	if (ours(fd)) {
		snprintf(call, sizeof(call), "read len=%#zx", len);
		return set_errno(shim_unserved(the_shim, fd, call));
	}
	return get___read_chk()(fd, buf, len, buflen);
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	char call[48];

	if (ours(fd)) {
		snprintf(call, sizeof(call), "write len=%#zx", len);
		return set_errno(shim_unserved(the_shim, fd, call));
	}
	return get_write()(fd, buf, len);
}

static void *mmap_refused(int fd, size_t len, off64_t off)
{
	char call[64];

	snprintf(call, sizeof(call), "mmap len=%#zx off=%#llx", len, (unsigned long long)off);
	errno = -shim_unserved(the_shim, fd, call);
	return MAP_FAILED;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (!(flags & MAP_ANONYMOUS) && ours(fd))
		return mmap_refused(fd, len, off);
	return get_mmap()(addr, len, prot, flags, fd, off);
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	if (!(flags & MAP_ANONYMOUS) && ours(fd))
		return mmap_refused(fd, len, off);
	return get_mmap64()(addr, len, prot, flags, fd, off);
}

EXPORT int close(int fd)
{
	if (ours(fd))
		shim_close(the_shim, fd);
	return get_close()(fd);
}
