/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uiommu/uiommu.h - everything uiommu offers, in one include.
 *
 * uiommu does in user space what the IBM POWER / PAPR I/O virtualization
 * stack does in the kernel and firmware (TCE tables, DMA windows, table
 * groups, VFIO sPAPR containers, guest TCE hypercalls), plus mirrored user
 * ranges and grant-reference shared buffers, over a modelled host memory.
 * Each mechanism has its own header; start with ctx.h and mem.h.
 */
#ifndef UIOMMU_UIOMMU_H
#define UIOMMU_UIOMMU_H

#include <uiommu/version.h>
#include <uiommu/types.h>
#include <uiommu/ctx.h>
#include <uiommu/mem.h>
#include <uiommu/guest.h>
#include <uiommu/tce.h>
#include <uiommu/papr.h>
#include <uiommu/pe.h>
#include <uiommu/device.h>
#include <uiommu/grant.h>
#include <uiommu/shbuf.h>
#include <uiommu/mirror.h>
#include <uiommu/prereg.h>
#include <uiommu/vfio.h>
#include <uiommu/vcpu.h>
#include <uiommu/accel.h>
#include <uiommu/mm.h>

#endif /* UIOMMU_UIOMMU_H */
