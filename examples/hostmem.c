// SPDX-License-Identifier: BSD-3-Clause
/*
 * Example: a context, a RAM region another process could map, a scattered
 * buffer, a pin, and a guest whose memory is that region.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <uiommu/uiommu.h>

int main(void)
{
	struct uiommu_ctx *ctx;
	struct uiommu_guest *guest;
	uint64_t ram_hpa, hpas[4];
	char *ram, *buf, msg[6];
	int ret;

	ret = uiommu_ctx_new(NULL, &ctx);
	if (ret) {
		fprintf(stderr, "context: %s\n", uiommu_strerror(ret));
		return 1;
	}
	/* 16 MiB of guest RAM in a memfd, at a 16 GiB-aligned hpa. */
	ret = uiommu_ram_create(ctx, 16 << 20, &ram_hpa, (void **)&ram);
	/* A 16 KiB buffer whose 4 KiB pages are physically scattered, pinned. */
	if (!ret)
		ret = uiommu_hostmem_alloc(ctx, 4 * 4096, 12, UIOMMU_HOSTMEM_SCATTER, (void **)&buf);
	if (!ret)
		ret = uiommu_pin(ctx, buf, 4 * 4096, hpas);
	/* A guest whose physical address 0 is the start of that RAM. */
	if (!ret)
		ret = uiommu_guest_new(ctx, &guest);
	if (!ret)
		ret = uiommu_guest_set_memslot(guest, 0, 0, 16 << 20, ram, 0);
	if (!ret)
		ret = uiommu_guest_write(guest, 0x1000, "hello", 6);
	if (!ret)
		ret = uiommu_guest_read(guest, 0x1000, msg, 6);
	if (ret) {
		fprintf(stderr, "failed: %s\n", uiommu_strerror(ret));
		return 1;
	}
	printf("RAM at hpa 0x%" PRIx64 ", guest says \"%s\"\n", ram_hpa, msg);
	for (int i = 0; i < 4; i++)
		printf("buffer page %d at hpa 0x%" PRIx64 "\n", i, hpas[i]);

	uiommu_guest_free(guest);
	uiommu_unpin(ctx, buf, 4 * 4096);
	uiommu_hostmem_free(ctx, buf);
	uiommu_ram_remove(ctx, ram_hpa);
	return uiommu_ctx_free(ctx) ? 1 : 0;
}
