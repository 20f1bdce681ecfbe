/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * container.h - the one seam between the shim's fds and the VFIO sPAPR
 * container that serves them. The shim calls only these four functions
 * for a container fd and its groups; the backend behind them is
 * container_*.c (one file, chosen in meson.build).
 */
#ifndef UIOMMU_VFIO_PRELOAD_CONTAINER_H
#define UIOMMU_VFIO_PRELOAD_CONTAINER_H

#include <uiommu/uiommu.h>

struct shim_container;

/* The backend's name, for the log's first line. */
extern const char shim_container_backend[];

/**
 * shim_container_new() - A new container (open of /dev/vfio/vfio).
 * @ctx: context.
 * @ret: on success, the container.
 *
 * Return: 0 or a negative errno.
 */
int shim_container_new(struct uiommu_ctx *ctx, struct shim_container **ret);

/**
 * shim_container_free() - Release a container (its fd's last close):
 * every group leaves, windows, registrations and charges go.
 * @c: container, or NULL.
 *
 * Return: 0 or the first error of the release.
 */
int shim_container_free(struct shim_container *c);

/**
 * shim_container_set_group() - VFIO_GROUP_SET_CONTAINER (@c non-NULL) or
 * VFIO_GROUP_UNSET_CONTAINER (@c NULL) of a group.
 * @grp: the group.
 * @c: the container, or NULL.
 *
 * Return: 0 or a negative errno (as Linux's group ioctls).
 */
int shim_container_set_group(struct uiommu_table_group *grp, struct shim_container *c);

/**
 * shim_container_ioctl() - An ioctl on the container fd, with the request
 * numbers and structs of <linux/vfio.h>.
 * @c: container.
 * @request: the request.
 * @arg: its argument (a pointer, or the integer of CHECK_EXTENSION and
 *	SET_IOMMU).
 *
 * Return: the result, or a negative errno.
 */
long shim_container_ioctl(struct shim_container *c, unsigned long request, unsigned long arg);

#endif /* UIOMMU_VFIO_PRELOAD_CONTAINER_H */
