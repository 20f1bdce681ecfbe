// SPDX-License-Identifier: BSD-3-Clause
/*
 * The container behind the shim's container fd: libuiommu's VFIO sPAPR
 * TCE container (vfio.h), reached through uiommu_vfio_ioctl() with the
 * client's own <linux/vfio.h> requests and structs, unchanged.
 */
#include <errno.h>
#include <stdlib.h>

#include "container.h"

const char shim_container_backend[] = "uiommu_vfio_ioctl";

struct shim_container {
	struct uiommu_vfio_container *c;
};

int shim_container_new(struct uiommu_ctx *ctx, struct shim_container **ret)
{
	struct shim_container *sc = calloc(1, sizeof(*sc));
	int err;

	if (!sc)
		return -ENOMEM;
	err = uiommu_vfio_container_new(ctx, &sc->c);
	if (err) {
		free(sc);
		return err;
	}
	*ret = sc;
	return 0;
}

int shim_container_free(struct shim_container *sc)
{
	int ret;

	if (!sc)
		return 0;
	ret = uiommu_vfio_container_free(sc->c);
	free(sc);
	return ret;
}

int shim_container_set_group(struct uiommu_table_group *grp, struct shim_container *sc)
{
	return sc ? uiommu_vfio_group_set_container(grp, sc->c)
		  : uiommu_vfio_group_unset_container(grp);
}

long shim_container_ioctl(struct shim_container *sc, unsigned long request, unsigned long arg)
{
	return uiommu_vfio_ioctl(sc->c, request, arg);
}
