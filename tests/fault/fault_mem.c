// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fault scenarios of the foundation (core, mem, guest): RAM regions made by
 * the library and from the caller's memfd and mapping, a guest and its
 * memslots, a scattered hostmem buffer, pins, host frames, guest copies.
 */
#include <sys/mman.h>

#include "fault.h"

struct mem_objs {
	uint64_t ram_hpa, user_hpa;
	char *ram;
	int user_fd;
	void *user_map;
	bool user_added;
	struct uiommu_guest *guest;
	bool slot1;
	char *buf;
	bool pinned;
	uint64_t frame;
};

static int mem_run(struct uiommu_ctx *ctx, void *state)
{
	struct mem_objs *o = state;
	uint64_t hpas[4];
	char buf[16];

	o->user_fd = -1;
	FAULT_STEP(uiommu_ram_create(ctx, 1 << 20, &o->ram_hpa, (void **)&o->ram));
	/* A region the caller mapped: the library maps nothing itself. */
	o->user_fd = memfd_create("fault-user-ram", MFD_CLOEXEC);
	assert_true(o->user_fd >= 0);
	assert_int_equal(ftruncate(o->user_fd, 1 << 16), 0);
	o->user_map = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_SHARED, o->user_fd, 0);
	assert_true(o->user_map != MAP_FAILED);
	FAULT_STEP(uiommu_ram_add(ctx, o->user_fd, 0, 1 << 16, o->user_map, &o->user_hpa));
	o->user_added = true;
	FAULT_STEP(uiommu_guest_new(ctx, &o->guest));
	FAULT_STEP(uiommu_guest_set_memslot(o->guest, 0, 0, 1 << 20, o->ram, 0));
	FAULT_STEP(uiommu_hostmem_alloc(ctx, 8 * 4096, 12, UIOMMU_HOSTMEM_SCATTER, (void **)&o->buf));
	FAULT_STEP(uiommu_guest_set_memslot(o->guest, 1, 16 << 20, 8 * 4096, o->buf, 0));
	o->slot1 = true;
	FAULT_STEP(uiommu_pin(ctx, o->buf + 8192, 4 * 4096, hpas));
	o->pinned = true;
	FAULT_STEP(uiommu_frames_alloc(ctx, 3, &o->frame));
	FAULT_STEP(uiommu_guest_write(o->guest, (16 << 20) + 4090, "0123456789abcdef", 16));
	FAULT_STEP(uiommu_guest_read(o->guest, (16 << 20) + 4090, buf, 16));
	assert_memory_equal(buf, "0123456789abcdef", 16);
	return 0;
}

static void mem_undo(struct uiommu_ctx *ctx, void *state)
{
	struct mem_objs *o = state;

	if (o->pinned)
		FAULT_RETRY(ctx, uiommu_unpin(ctx, o->buf + 8192, 4 * 4096));
	if (o->frame)
		FAULT_RETRY(ctx, uiommu_frames_free(ctx, o->frame, 3));
	if (o->slot1)
		FAULT_RETRY(ctx, uiommu_guest_set_memslot(o->guest, 1, 0, 0, NULL, 0));
	if (o->buf)
		FAULT_RETRY(ctx, uiommu_hostmem_free(ctx, o->buf));
	if (o->guest)
		uiommu_guest_free(o->guest); /* drops slot 0 with it */
	if (o->user_added)
		FAULT_RETRY(ctx, uiommu_ram_remove(ctx, o->user_hpa));
	if (o->user_map)
		munmap(o->user_map, 1 << 16);
	if (o->user_fd >= 0)
		close(o->user_fd);
	if (o->ram)
		FAULT_RETRY(ctx, uiommu_ram_remove(ctx, o->ram_hpa));
}

FAULT_SCENARIO(mem_scenario) = {
	.name = "regions, guest, memslots, hostmem, pins, frames",
	.state_size = sizeof(struct mem_objs),
	.run = mem_run,
	.undo = mem_undo,
	.min_points = 20,
};
