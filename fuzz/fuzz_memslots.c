// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fuzz driver: guest memslots (create, move, delete, lookups, reads and
 * writes across slots) against a plain table of slots. Each operation is
 * 6 bytes: op, slot id, gpa page, size in pages, backing page, probe.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include <uiommu/uiommu.h>

#include "fuzz.h"


#define NSLOTS 8
#define PAGE 4096u
#define SPACE_PAGES 64u	  /* the gpa space the fuzzer plays in */
#define BACKING_PAGES 64u /* host memory behind the slots */

struct model_slot {
	bool used;
	uint64_t gpa, size;
	char *hva;
};

static int model_set(struct model_slot *m, uint32_t id, uint64_t gpa, uint64_t size, char *hva)
{
	if (!size) {
		if (!m[id].used)
			return -EINVAL;
		m[id].used = false;
		return 0;
	}
	if (m[id].used && (m[id].size != size || m[id].hva != hva))
		return -EINVAL;
	for (uint32_t i = 0; i < NSLOTS; i++)
		if (i != id && m[i].used && gpa < m[i].gpa + m[i].size && m[i].gpa < gpa + size)
			return -EEXIST;
	m[id] = (struct model_slot){ true, gpa, size, hva };
	return 0;
}

static char *model_lookup(const struct model_slot *m, uint64_t gpa)
{
	for (int i = 0; i < NSLOTS; i++)
		if (m[i].used && gpa >= m[i].gpa && gpa < m[i].gpa + m[i].size)
			return m[i].hva + (gpa - m[i].gpa);
	return NULL;
}

int fuzz_memslots(const uint8_t *data, size_t size)
{
	/* One context and backing for every input: contexts are long-lived in real use. */
	static struct uiommu_ctx *ctx;
	static char *mem;
	struct fuzz_input in = { data, size, 0 };
	struct model_slot model[NSLOTS] = { 0 };
	struct uiommu_guest *g;

	if (!ctx) {
		FUZZ_CHECK(!uiommu_ctx_new(NULL, &ctx), "ctx_new");
		mem = mmap(NULL, BACKING_PAGES * PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		FUZZ_CHECK(mem != MAP_FAILED, "mmap");
	}
	FUZZ_CHECK(!uiommu_guest_new(ctx, &g), "guest_new");
	while (!fuzz_done(&in)) {
		unsigned int op = (unsigned int)fuzz_take(&in, 1) % 4;
		uint32_t id = (uint32_t)fuzz_take(&in, 1) % NSLOTS;
		uint64_t gpa = (fuzz_take(&in, 1) % SPACE_PAGES) * PAGE;
		uint64_t npages = fuzz_take(&in, 1) % 5;
		char *hva = mem + (fuzz_take(&in, 1) % (BACKING_PAGES - 4)) * PAGE;
		uint64_t probe = fuzz_take(&in, 1) * 1031 % ((SPACE_PAGES + 2) * PAGE);
		int want, got;

		switch (op) {
		case 0: /* create, move or delete */
		case 1:
			if (op == 1 && model[id].used) { /* a move */
				npages = model[id].size / PAGE;
				hva = model[id].hva;
			}
			want = model_set(model, id, gpa, npages * PAGE, hva);
			got = uiommu_guest_set_memslot(g, id, gpa, npages * PAGE, hva, 0);
			FUZZ_CHECK(got == want, "set(%u, 0x%llx, %llu pages) = %d, model %d", id,
				   (unsigned long long)gpa, (unsigned long long)npages, got, want);
			break;
		case 2: { /* translate one byte */
			char *expect = model_lookup(model, probe);
			void *p = NULL;

			got = uiommu_guest_gpa_to_hva(g, probe, 1, &p);
			FUZZ_CHECK(got == (expect ? 0 : -EFAULT), "gpa_to_hva(0x%llx) = %d",
				   (unsigned long long)probe, got);
			FUZZ_CHECK(!expect || p == expect, "gpa_to_hva(0x%llx) pointer",
				   (unsigned long long)probe);
			break;
		}
		case 3: { /* a write then a read of 1..64 bytes, possibly across slots */
			size_t len = 1 + (size_t)(npages * 16 + id) % 64;
			bool covered = true;
			char src[64], dst[64];

			for (size_t i = 0; i < len; i++)
				covered &= model_lookup(model, probe + i) != NULL;
			for (size_t i = 0; i < len; i++)
				src[i] = (char)(probe + i);
			got = uiommu_guest_write(g, probe, src, len);
			FUZZ_CHECK(got == (covered ? 0 : -EFAULT), "write(0x%llx, %zu) = %d",
				   (unsigned long long)probe, len, got);
			if (!covered)
				break;
			for (size_t i = 0; i < len; i++)
				FUZZ_CHECK(*model_lookup(model, probe + i) == src[i], "byte %zu", i);
			FUZZ_CHECK(!uiommu_guest_read(g, probe, dst, len), "read");
			FUZZ_CHECK(!memcmp(src, dst, len), "read back");
			break;
		}
		}
	}
	uiommu_guest_free(g);
	fuzz_check_clean(ctx);
	return 0;
}
