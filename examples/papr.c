// SPDX-License-Identifier: BSD-3-Clause
/*
 * Example: the PAPR guest interface as a VMM wires it. A guest with RAM,
 * a VIO device window and a PHB (with its default window), then what a
 * Linux pseries guest does (doc/traces.md): a boot-time clear with
 * H_STUFF_TCE, a map with H_PUT_TCE_INDIRECT from a big-endian list in
 * guest memory, the DDW RTAS calls, and a device-side translation. Every
 * hcall goes through the dispatcher, as from an hcall exit.
 */
#define _DEFAULT_SOURCE /* htobe64() */
#include <endian.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <uiommu/uiommu.h>

#define RAM_SIZE (16u << 20)

/* What a VMM's hcall exit would do: r3 = opcode, r4.. = args; r3 (and r4) back. */
static long hcall(struct uiommu_guest *g, uint64_t opcode, uint64_t a0, uint64_t a1,
		  uint64_t a2, uint64_t a3, uint64_t *r4)
{
	uint64_t args[4] = { a0, a1, a2, a3 }, rets[1] = { 0 };
	long ret = uiommu_papr_hcall(g, opcode, args, 4, rets, 1);

	if (ret == UIOMMU_H_TOO_HARD)
		fprintf(stderr, "H_TOO_HARD: the VMM would handle this hcall itself\n");
	if (r4)
		*r4 = rets[0];
	return ret;
}

int main(void)
{
	struct uiommu_papr_phb_config phb;
	struct uiommu_ctx *ctx;
	struct uiommu_guest *g;
	uint64_t ram_hpa, tce = 0, gpa, list[16];
	uint32_t args[5], rets[6];
	unsigned int prot;
	char *ram;
	int ret;

	ret = uiommu_ctx_new(NULL, &ctx);
	if (ret)
		return 1;
	ret = uiommu_ram_create(ctx, RAM_SIZE, &ram_hpa, (void **)&ram);
	if (!ret)
		ret = uiommu_guest_new(ctx, &g);
	if (!ret)
		ret = uiommu_guest_set_memslot(g, 0, 0, RAM_SIZE, ram, 0);
	/* A spapr-vscsi device (256 MiB window) and PHB 0 (1 GiB window, DDW on). */
	if (!ret)
		ret = uiommu_liobn_create_vio(g, 0x71000002);
	uiommu_papr_phb_config_default(&phb, 0);
	if (!ret)
		ret = uiommu_papr_phb_add(g, &phb);
	if (ret) {
		fprintf(stderr, "setup: %s\n", uiommu_strerror(ret));
		return 1;
	}

	/* Boot: Linux clears every window, 512 TCEs per H_STUFF_TCE. Nothing is allocated. */
	for (uint64_t ioba = 0; ioba < 0x10000000; ioba += 512 * 4096)
		if (hcall(g, UIOMMU_H_STUFF_TCE, 0x71000002, ioba, 0, 512, NULL) != UIOMMU_H_SUCCESS)
			return 1;

	/* A 64 KiB read: 16 TCEs of contiguous pages, read/write, in a big-endian list. */
	for (int i = 0; i < 16; i++)
		list[i] = htobe64((0x400000 + (uint64_t)i * 4096) | UIOMMU_TCE_PCI_READ |
				  UIOMMU_TCE_PCI_WRITE);
	memcpy(ram + 0x10000, list, sizeof(list));
	if (hcall(g, UIOMMU_H_PUT_TCE_INDIRECT, 0x71000002, 0xc000000, 0x10000, 16, NULL) ||
	    hcall(g, UIOMMU_H_GET_TCE, 0x71000002, 0xc00f000, 0, 0, &tce))
		return 1;
	printf("H_GET_TCE(0x71000002, 0xc00f000) = 0x%" PRIx64 "\n", tce);
	/* The device DMAs to bus address 0xc003123: */
	uiommu_liobn_translate(g, 0x71000002, 0xc003123, &gpa, &prot);
	printf("DMA to 0xc003123 -> gpa 0x%" PRIx64 " prot %u\n", gpa, prot);

	/* DDW: query, then a window of 16 MiB pages covering the RAM, at 1 << 59. */
	args[0] = 0;
	args[1] = (uint32_t)(phb.buid >> 32);
	args[2] = (uint32_t)phb.buid;
	uiommu_papr_rtas(g, UIOMMU_RTAS_QUERY_PE_DMA_WINDOW, 3, args, 6, rets);
	printf("query: status %d, %u window(s) free, page sizes 0x%x\n", (int)rets[0], rets[1],
	       rets[4]);
	args[3] = 24;
	args[4] = 24;
	ret = uiommu_papr_rtas(g, UIOMMU_RTAS_CREATE_PE_DMA_WINDOW, 5, args, 4, rets);
	printf("create: status %d, LIOBN 0x%x at 0x%08x%08x\n", ret, rets[1], rets[2], rets[3]);
	if (ret || hcall(g, UIOMMU_H_PUT_TCE, rets[1], (uint64_t)rets[2] << 32 | rets[3],
			 0 | UIOMMU_TCE_PCI_READ | UIOMMU_TCE_PCI_WRITE, 0, NULL))
		return 1;

	uiommu_guest_free(g);
	uiommu_ram_remove(ctx, ram_hpa);
	return uiommu_ctx_free(ctx) ? 1 : 0;
}
