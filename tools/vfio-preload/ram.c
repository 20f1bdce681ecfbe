// SPDX-License-Identifier: BSD-3-Clause
/*
 * QEMU's guest RAM: memory the library did not allocate, added to the hpa
 * space (uiommu_ram_add() of QEMU's own memfd) before the container sees a
 * registration of it, and removed with the last registration.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "shim_int.h"

/*
 * Find the fd-backed, shared mapping of [@vaddr, +@size) and the client's
 * descriptor for it (QEMU's memory-backend-memfd keeps its memfd open),
 * by matching /proc/self/maps' device and inode with fstat() of each fd.
 */
static int ram_backing(struct shim *s, uint64_t vaddr, uint64_t size, int *ret_fd,
		       uint64_t *ret_off)
{
	char line[512], path[64];
	unsigned long long lo, hi, off, ino;
	unsigned int maj, min;
	char perms[8];
	bool found = false;
	FILE *maps = fopen("/proc/self/maps", "re");
	DIR *fds;
	struct dirent *de;

	if (!maps)
		return -errno;
	while (fgets(line, sizeof(line), maps)) {
		if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &lo, &hi, perms, &off, &maj, &min,
			   &ino) != 7)
			continue;
		if (vaddr >= lo && vaddr < hi) {
			found = true;
			break;
		}
	}
	fclose(maps);
	if (!found || vaddr + size > hi) {
		shim_log(s, "ERROR guest RAM %#llx+%#llx is not one mapping",
			 (unsigned long long)vaddr, (unsigned long long)size);
		return -EFAULT;
	}
	if (perms[3] != 's' || !ino) {
		shim_log(s, "ERROR guest RAM at %#llx is not a shared file mapping (%s): give QEMU "
			 "-object memory-backend-memfd,id=ram,size=...,share=on -machine "
			 "memory-backend=ram", (unsigned long long)vaddr, perms);
		return -EFAULT;
	}
	fds = opendir("/proc/self/fd");
	if (!fds)
		return -errno;
	*ret_fd = -1;
	while ((de = readdir(fds))) {
		struct stat st;
		int fd = atoi(de->d_name);

		if (de->d_name[0] == '.' || fd == dirfd(fds) || fstat(fd, &st))
			continue;
		if (st.st_ino == ino && major(st.st_dev) == maj && minor(st.st_dev) == min) {
			*ret_fd = fd;
			break;
		}
	}
	closedir(fds);
	if (*ret_fd < 0) {
		snprintf(path, sizeof(path), "%u:%u inode %llu", maj, min, ino);
		shim_log(s, "ERROR no open descriptor backs guest RAM at %#llx (%s)",
			 (unsigned long long)vaddr, path);
		return -EFAULT;
	}
	*ret_off = off + (vaddr - lo);
	return 0;
}

/* The RAM record overlapping [@vaddr, +@size), if any (with s->lock held). */
static struct ram *ram_find(struct shim *s, uint64_t vaddr, uint64_t size)
{
	for (unsigned int i = 0; i < s->nram; i++)
		if (vaddr < s->ram[i].vaddr + s->ram[i].size && s->ram[i].vaddr < vaddr + size)
			return &s->ram[i];
	return NULL;
}

/*
 * Before a registration: make [@vaddr, +@size) part of the hpa space,
 * unless it overlaps RAM that already is (a second container registering
 * it, or an overlap the container will refuse). *@added says whether it
 * was added here, so that a refused registration can take it out again.
 */
int shim_ram_add(struct shim *s, uint64_t vaddr, uint64_t size, bool *added)
{
	uint64_t off = 0, hpa;
	int fd = -1, ret;

	*added = false;
	pthread_mutex_lock(&s->lock);
	if (ram_find(s, vaddr, size)) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	if (s->nram == SHIM_RAM_MAX) {
		pthread_mutex_unlock(&s->lock);
		shim_log(s, "ERROR guest RAM %#llx+%#llx: more than %u RAM regions",
			 (unsigned long long)vaddr, (unsigned long long)size, SHIM_RAM_MAX);
		return -ENOSPC;
	}
	pthread_mutex_unlock(&s->lock);
	ret = ram_backing(s, vaddr, size, &fd, &off);
	if (!ret)
		ret = uiommu_ram_add(s->ctx, fd, off, size, (void *)(uintptr_t)vaddr, &hpa);
	if (ret) {
		shim_log(s, "ERROR guest RAM %#llx+%#llx not added to the hpa space: %s",
			 (unsigned long long)vaddr, (unsigned long long)size, uiommu_strerror(ret));
		return ret;
	}
	pthread_mutex_lock(&s->lock);
	s->ram[s->nram++] = (struct ram){ .vaddr = vaddr, .size = size, .hpa = hpa };
	pthread_mutex_unlock(&s->lock);
	*added = true;
	shim_log(s, "event guest RAM vaddr=%#llx size=%#llx fd=%d offset=%#llx is hpa %#llx",
		 (unsigned long long)vaddr, (unsigned long long)size, fd,
		 (unsigned long long)off, (unsigned long long)hpa);
	return 0;
}

/* After a registration (@delta 1) or an unregistration (-1) of exactly a RAM record. */
void shim_ram_ref(struct shim *s, uint64_t vaddr, uint64_t size, int delta)
{
	pthread_mutex_lock(&s->lock);
	for (unsigned int i = 0; i < s->nram; i++) {
		struct ram *r = &s->ram[i];
		int ret;

		if (r->vaddr != vaddr || r->size != size)
			continue;
		r->refs += (unsigned int)delta;
		if (r->refs)
			break;
		ret = uiommu_ram_remove(s->ctx, r->hpa);
		if (ret)
			shim_log(s, "ERROR guest RAM hpa %#llx not removed: %s",
				 (unsigned long long)r->hpa, uiommu_strerror(ret));
		*r = s->ram[--s->nram];
		break;
	}
	pthread_mutex_unlock(&s->lock);
}

