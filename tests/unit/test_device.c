// SPDX-License-Identifier: BSD-3-Clause
/*
 * Emulated devices: DMA moves real bytes through 4K, 64K and 16M TCEs
 * (checked by reading host memory directly), scatter-gather lists, the
 * bypass, every fault reason with its record, log line and counters, the
 * bytes moved before a fault and none after, the TCE cache as hardware
 * has it (a change without a kill is still used; strict mode reports it;
 * the kill makes the device see the new entry; one kill reaches every PE),
 * fault mode, EEH freezes and injection, devices of compound members, and
 * every error device.h lists.
 */
#include "test_util.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* ---- a log that remembers its last line ---- */

struct log_capture {
	unsigned int lines;
	char last[512];
};

static void log_capture_fn(void *opaque, enum uiommu_log_level level, const char *msg)
{
	struct log_capture *l = opaque;

	(void)level;
	l->lines++;
	snprintf(l->last, sizeof(l->last), "%s", msg);
}

/* ---- a PE with a device and a user-owned window ---- */

struct rig {
	struct uiommu_ctx *ctx;
	struct uiommu_phb *phb;
	struct uiommu_pe *pe;
	struct uiommu_dev *dev;
	struct uiommu_table_group *grp;
	struct uiommu_tce_table *tbl; /* window 1's, if made */
	struct uiommu_tce_table_info ti;
	struct log_capture log;
};

static struct uiommu_dev *dev_new(struct uiommu_pe *pe, uint32_t bdf)
{
	struct uiommu_dev_config cfg = { .size = sizeof(cfg), .bdf = bdf };
	struct uiommu_dev *dev = NULL;

	assert_int_equal(uiommu_dev_new(pe, &cfg, &dev), 0);
	return dev;
}

static void rig_new(struct rig *r, unsigned int page_shift, uint64_t window_size)
{
	struct uiommu_phb_config cfg;

	memset(r, 0, sizeof(*r));
	r->ctx = test_ctx_new();
	/* Guest errors reach the log without the rate limit's interference. */
	assert_int_equal(uiommu_ctx_set_log(r->ctx, log_capture_fn, &r->log, UIOMMU_LOG_DEBUG), 0);
	assert_int_equal(uiommu_ctx_set_guest_log_ratelimit(r->ctx, 1000000, 1), 0);
	uiommu_phb_config_default(&cfg, 0x1a);
	cfg.pgsizes |= 1ULL << 21;
	assert_int_equal(uiommu_phb_new(r->ctx, &cfg, &r->phb), 0);
	assert_int_equal(uiommu_pe_new(r->phb, 3, &r->pe), 0);
	r->grp = uiommu_pe_table_group(r->pe);
	r->dev = dev_new(r->pe, UIOMMU_PCI_BDF(1, 2, 3));
	if (!page_shift)
		return;
	assert_int_equal(uiommu_table_group_take_ownership(r->grp), 0);
	assert_int_equal(uiommu_table_group_create_table(r->grp, 1, page_shift, window_size, 2,
							 &r->tbl), 0);
	assert_int_equal(uiommu_table_group_set_window(r->grp, 1, r->tbl), 0);
	r->ti.size = sizeof(r->ti);
	assert_int_equal(uiommu_tce_table_info(r->tbl, &r->ti), 0);
}

static void rig_free(struct rig *r)
{
	if (r->tbl) {
		uint64_t n = r->ti.it_size;

		assert_int_equal(uiommu_tce_table_clear(r->tbl, r->ti.it_offset, n, NULL, NULL, NULL),
				 0);
		assert_int_equal(uiommu_table_group_unset_window(r->grp, 1), 0);
		uiommu_tce_table_unref(r->tbl);
		assert_int_equal(uiommu_table_group_release_ownership(r->grp), 0);
	}
	assert_int_equal(uiommu_dev_free(r->dev), 0);
	assert_int_equal(uiommu_pe_free(r->pe), 0);
	assert_int_equal(uiommu_phb_free(r->phb), 0);
	test_ctx_free(r->ctx);
}

static uint64_t hpa_of(struct uiommu_ctx *ctx, const void *hva)
{
	uint64_t hpa = 0;

	assert_int_equal(uiommu_hva_to_hpa(ctx, hva, &hpa), 0);
	return hpa;
}

/* Map IOMMU page @i of window 1 to @hpa with @dir, no kill. */
static void map_no_kill(struct rig *r, uint64_t i, uint64_t hpa, enum uiommu_dma_dir dir)
{
	assert_int_equal(uiommu_tce_table_xchg_no_kill(r->tbl, r->ti.it_offset + i, hpa, dir, NULL,
						       NULL), 0);
}

static void map(struct rig *r, uint64_t i, uint64_t hpa, enum uiommu_dma_dir dir)
{
	map_no_kill(r, i, hpa, dir);
	assert_int_equal(uiommu_tce_table_kill(r->tbl, r->ti.it_offset + i, 1), 0);
}

static uint64_t ioba_of(const struct rig *r, uint64_t page, uint64_t off)
{
	return r->ti.bus_offset + (page << r->ti.page_shift) + off;
}

static struct uiommu_dev_info dinfo(const struct uiommu_dev *dev)
{
	struct uiommu_dev_info info = { .size = sizeof(info) };

	assert_int_equal(uiommu_dev_info(dev, &info), 0);
	return info;
}

static struct uiommu_pe_info pinfo(const struct uiommu_pe *pe)
{
	struct uiommu_pe_info info = { .size = sizeof(info) };

	assert_int_equal(uiommu_pe_info(pe, &info), 0);
	return info;
}

static void fill(unsigned char *p, uint64_t n, unsigned int seed)
{
	for (uint64_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 131 + seed + (i >> 12) * 7);
}

/* ---- lifecycle and errors ---- */

static void test_dev_lifecycle(void **state)
{
	struct rig r;
	struct uiommu_dev_config cfg = { .size = sizeof(cfg), .bdf = UIOMMU_PCI_BDF(0x40, 31, 7) };
	struct uiommu_dev *dev, *dup;
	struct uiommu_pe *pe2;
	struct uiommu_dma_fault f = { .size = sizeof(f) };
	struct uiommu_dev_info info;
	struct {
		struct uiommu_dev_config c;
		uint64_t future;
	} big;

	(void)state;
	rig_new(&r, 0, 0);
	assert_string_equal(uiommu_dev_name(r.dev), "001a:01:02.3");
	assert_ptr_equal(uiommu_dev_pe(r.dev), r.pe);
	assert_ptr_equal(uiommu_dev_table_group(r.dev), r.grp);
	assert_int_equal(pinfo(r.pe).ndevices, 1);
	/* -EINVAL */
	assert_int_equal(uiommu_dev_new(NULL, &cfg, &dev), -EINVAL);
	assert_int_equal(uiommu_dev_new(r.pe, NULL, &dev), -EINVAL);
	assert_int_equal(uiommu_dev_new(r.pe, &cfg, NULL), -EINVAL);
	cfg.size = 4;
	assert_int_equal(uiommu_dev_new(r.pe, &cfg, &dev), -EINVAL);
	cfg.size = sizeof(cfg);
	cfg.flags = 1;
	assert_int_equal(uiommu_dev_new(r.pe, &cfg, &dev), -EINVAL);
	cfg.flags = 0;
	cfg.reserved = 1;
	assert_int_equal(uiommu_dev_new(r.pe, &cfg, &dev), -EINVAL);
	cfg.reserved = 0;
	cfg.bdf = 0x10000;
	assert_int_equal(uiommu_dev_new(r.pe, &cfg, &dev), -EINVAL);
	cfg.bdf = UIOMMU_PCI_BDF(0x40, 31, 7);
	/* -E2BIG, and a zero tail is fine. */
	big.c = cfg;
	big.c.size = sizeof(big);
	big.future = 1;
	assert_int_equal(uiommu_dev_new(r.pe, &big.c, &dev), -E2BIG);
	big.future = 0;
	assert_int_equal(uiommu_dev_new(r.pe, &big.c, &dev), 0);
	assert_string_equal(uiommu_dev_name(dev), "001a:40:1f.7");
	/* -EEXIST: the number is the PHB's, whatever the PE. */
	assert_int_equal(uiommu_pe_new(r.phb, 4, &pe2), 0);
	assert_int_equal(uiommu_dev_new(pe2, &cfg, &dup), -EEXIST);
	assert_true(ctx_usage(r.ctx, UIOMMU_RES_DEVICES) == 2);
	/* -ENOSPC */
	assert_int_equal(uiommu_ctx_set_limit(r.ctx, UIOMMU_RES_DEVICES, 2), 0);
	cfg.bdf = 9;
	assert_int_equal(uiommu_dev_new(pe2, &cfg, &dup), -ENOSPC);
	assert_int_equal(uiommu_ctx_set_limit(r.ctx, UIOMMU_RES_DEVICES, 100), 0);
	/* A PE with devices cannot go. */
	dup = NULL;
	assert_int_equal(uiommu_dev_new(pe2, &cfg, &dup), 0);
	assert_int_equal(uiommu_pe_free(pe2), -EBUSY);
	assert_int_equal(uiommu_dev_free(dup), 0);
	assert_int_equal(uiommu_pe_free(pe2), 0);
	assert_int_equal(uiommu_dev_free(dev), 0);
	assert_int_equal(uiommu_dev_free(NULL), 0);
	/* The number is free again. */
	assert_int_equal(uiommu_dev_new(r.pe, &cfg, &dev), 0);
	assert_int_equal(uiommu_dev_free(dev), 0);
	/* info, last_fault: -EINVAL, -ENOENT */
	assert_int_equal(uiommu_dev_info(r.dev, NULL), -EINVAL);
	info.size = 3;
	assert_int_equal(uiommu_dev_info(r.dev, &info), -EINVAL);
	info = dinfo(r.dev);
	assert_true(info.bdf == UIOMMU_PCI_BDF(1, 2, 3) && info.domain == 0x1a && info.pe_number == 3);
	assert_true(!info.bytes_read && !info.bytes_written && !info.faults);
	assert_int_equal(uiommu_dev_last_fault(r.dev, NULL), -EINVAL);
	f.size = 4;
	assert_int_equal(uiommu_dev_last_fault(r.dev, &f), -EINVAL);
	f.size = sizeof(f);
	assert_int_equal(uiommu_dev_last_fault(r.dev, &f), -ENOENT);
	assert_int_equal(uiommu_dev_mmio_check(r.dev), 0);
	rig_free(&r);
}

static void test_dev_faults_injected(void **state)
{
	struct rig r;
	struct uiommu_dev_config cfg = { .size = sizeof(cfg), .bdf = 77 };
	struct uiommu_dev *dev = NULL;
	uint64_t n, allocs;

	(void)state;
	rig_new(&r, 0, 0);
	allocs = ctx_counter(r.ctx, UIOMMU_COUNTER_HEAP_ALLOCS);
	for (n = 1;; n++) {
		int ret;

		assert_int_equal(uiommu_ctx_inject_fault(r.ctx, n, UIOMMU_FAULT_ALL), 0);
		ret = uiommu_dev_new(r.pe, &cfg, &dev);
		if (!ctx_counter(r.ctx, UIOMMU_COUNTER_FAULTS_INJECTED)) {
			assert_int_equal(ret, 0);
			break;
		}
		assert_int_equal(ret, -ENOMEM);
		assert_true(ctx_usage(r.ctx, UIOMMU_RES_DEVICES) == 1);
		assert_true(ctx_counter(r.ctx, UIOMMU_COUNTER_HEAP_ALLOCS) == allocs);
	}
	assert_int_equal(uiommu_ctx_inject_fault(r.ctx, 0, 0), 0);
	assert_true(n > 1);
	assert_int_equal(uiommu_dev_free(dev), 0);
	rig_free(&r);
}

static void test_dma_args(void **state)
{
	struct rig r;
	unsigned char buf[16];
	struct uiommu_dma_fault f = { .size = 8 };
	struct uiommu_dma_sg sg[2] = { { 0, 16 }, { 0, 16 } };
	uint64_t done = 9;

	(void)state;
	rig_new(&r, 16, GiB);
	assert_int_equal(uiommu_dev_dma_read(NULL, 0, buf, 1, NULL), -EINVAL);
	assert_int_equal(uiommu_dev_dma_read(r.dev, 0, NULL, 1, NULL), -EINVAL);
	assert_int_equal(uiommu_dev_dma_write(r.dev, 0, buf, 0, NULL), -EINVAL);
	assert_int_equal(uiommu_dev_dma_write(r.dev, 0, buf, 1, &f), -EINVAL); /* record too small */
	assert_int_equal(uiommu_dev_dma_read(r.dev, UINT64_MAX, buf, 2, NULL), -EOVERFLOW);
	assert_int_equal(uiommu_dev_dma_read_sg(NULL, sg, 1, buf, &done, NULL), -EINVAL);
	assert_true(done == 0);
	assert_int_equal(uiommu_dev_dma_read_sg(r.dev, NULL, 1, buf, NULL, NULL), -EINVAL);
	assert_int_equal(uiommu_dev_dma_read_sg(r.dev, sg, 0, buf, NULL, NULL), -EINVAL);
	assert_int_equal(uiommu_dev_dma_read_sg(r.dev, sg, UIOMMU_DMA_SG_MAX + 1, buf, NULL, NULL),
			 -EINVAL);
	assert_int_equal(uiommu_dev_dma_write_sg(r.dev, sg, 1, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(uiommu_dev_dma_write_sg(r.dev, sg, 1, buf, NULL, &f), -EINVAL);
	sg[1].len = 0;
	assert_int_equal(uiommu_dev_dma_write_sg(r.dev, sg, 2, buf, NULL, NULL), -EINVAL);
	sg[1] = (struct uiommu_dma_sg){ UINT64_MAX - 4, 16 };
	assert_int_equal(uiommu_dev_dma_write_sg(r.dev, sg, 2, buf, NULL, NULL), -EOVERFLOW);
	/* The total length wraps. */
	sg[0] = (struct uiommu_dma_sg){ 0, 1ULL << 63 };
	sg[1] = (struct uiommu_dma_sg){ 0, 1ULL << 63 };
	assert_int_equal(uiommu_dev_dma_read_sg(r.dev, sg, 2, buf, NULL, NULL), -EINVAL);
	/* Nothing moved, nothing reported. */
	assert_int_equal(dinfo(r.dev).faults, 0);
	assert_int_equal(r.log.lines, 0);
	rig_free(&r);
}

/* ---- real bytes ---- */

/*
 * A buffer of @npages IOMMU pages of 1 << @ps bytes, scattered in host
 * memory, mapped in reverse order (IOMMU page i -> buffer page n-1-i), so
 * that only a correct translation of every page gives the right bytes.
 */
static void dma_through_pages(unsigned int ps, unsigned int npages)
{
	struct rig r;
	uint64_t page = 1ULL << ps, size = page * npages, off = page / 2 + 123;
	uint64_t len = size - page; /* from the middle of page 0 to the middle of the last */
	unsigned char *host, *out, *in;
	struct uiommu_dma_fault f = { .size = sizeof(f) };

	rig_new(&r, ps, 64 * GiB);
	assert_int_equal(uiommu_hostmem_alloc(r.ctx, size, ps, UIOMMU_HOSTMEM_SCATTER,
					      (void **)&host), 0);
	for (unsigned int i = 0; i < npages; i++)
		map(&r, i, hpa_of(r.ctx, host + (npages - 1 - i) * page), UIOMMU_DMA_BIDIRECTIONAL);
	out = malloc(len);
	in = malloc(len);
	assert_non_null(out);
	assert_non_null(in);
	fill(out, len, ps);
	assert_int_equal(uiommu_dev_dma_write(r.dev, ioba_of(&r, 0, off), out, len, &f), 0);
	/* Read host memory directly: the bytes are where the TCEs say. */
	for (uint64_t b = 0; b < len; b++) {
		uint64_t pos = off + b, p = pos >> ps;
		unsigned char got = host[(npages - 1 - p) * page + (pos & (page - 1))];

		if (got != out[b])
			fail_msg("page shift %u: byte %llu: 0x%02x, not 0x%02x", ps,
				 (unsigned long long)b, got, out[b]);
	}
	/* Untouched around it. */
	assert_int_equal(host[(npages - 1) * page + off - 1], 0);
	/* And the device reads them back. */
	memset(in, 0, len);
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 0, off), in, len, NULL), 0);
	assert_memory_equal(in, out, len);
	assert_true(dinfo(r.dev).bytes_written == len && dinfo(r.dev).bytes_read == len);
	assert_int_equal(dinfo(r.dev).faults, 0);
	free(out);
	free(in);
	assert_int_equal(uiommu_hostmem_free(r.ctx, host), 0);
	rig_free(&r);
}

static void test_dma_4k(void **state)
{
	(void)state;
	dma_through_pages(12, 40);
}

static void test_dma_64k(void **state)
{
	(void)state;
	dma_through_pages(16, 20);
}

static void test_dma_16m(void **state)
{
	(void)state;
	dma_through_pages(24, 3);
}

/* Window 0 too, through the default 32-bit window's bus addresses. */
static void test_dma_window0(void **state)
{
	struct rig r;
	struct uiommu_tce_table *w0;
	unsigned char *host, buf[100];

	(void)state;
	rig_new(&r, 16, GiB);
	assert_int_equal(uiommu_table_group_create_table(r.grp, 0, 12, GiB, 1, &w0), 0);
	assert_int_equal(uiommu_table_group_set_window(r.grp, 0, w0), 0);
	assert_int_equal(uiommu_hostmem_alloc(r.ctx, 4096, 12, 0, (void **)&host), 0);
	assert_int_equal(uiommu_tce_table_xchg(w0, 5, hpa_of(r.ctx, host), UIOMMU_DMA_FROM_DEVICE,
					       NULL, NULL), 0);
	fill(buf, sizeof(buf), 1);
	assert_int_equal(uiommu_dev_dma_write(r.dev, 5 * 4096 + 7, buf, sizeof(buf), NULL), 0);
	assert_memory_equal(host + 7, buf, sizeof(buf));
	assert_int_equal(uiommu_tce_table_clear(w0, 5, 1, NULL, NULL, NULL), 0);
	assert_int_equal(uiommu_table_group_unset_window(r.grp, 0), 0);
	uiommu_tce_table_unref(w0);
	assert_int_equal(uiommu_hostmem_free(r.ctx, host), 0);
	rig_free(&r);
}

static void test_dma_sg(void **state)
{
	struct rig r;
	unsigned char *host, out[3 * 4096], in[sizeof(out)];
	struct uiommu_dma_sg sg[3];
	uint64_t done = 0;

	(void)state;
	rig_new(&r, 12, GiB);
	assert_int_equal(uiommu_hostmem_alloc(r.ctx, 8 * 4096, 12, UIOMMU_HOSTMEM_SCATTER,
					      (void **)&host), 0);
	map(&r, 0, hpa_of(r.ctx, host), UIOMMU_DMA_BIDIRECTIONAL);
	map(&r, 1, hpa_of(r.ctx, host + 3 * 4096), UIOMMU_DMA_BIDIRECTIONAL);
	map(&r, 10, hpa_of(r.ctx, host + 4096), UIOMMU_DMA_BIDIRECTIONAL);
	map(&r, 11, hpa_of(r.ctx, host + 2 * 4096), UIOMMU_DMA_BIDIRECTIONAL);
	map(&r, 70, hpa_of(r.ctx, host + 7 * 4096), UIOMMU_DMA_BIDIRECTIONAL);
	/* Three segments in three places, the last two across two pages each. */
	sg[0] = (struct uiommu_dma_sg){ ioba_of(&r, 70, 96), 4000 };
	sg[1] = (struct uiommu_dma_sg){ ioba_of(&r, 10, 4000), 96 + 4000 };
	sg[2] = (struct uiommu_dma_sg){ ioba_of(&r, 0, 0), sizeof(out) - 8096 };
	fill(out, sizeof(out), 3);
	assert_int_equal(uiommu_dev_dma_write_sg(r.dev, sg, 3, out, &done, NULL), 0);
	assert_true(done == sizeof(out));
	assert_memory_equal(host + 7 * 4096 + 96, out, 4000);
	assert_memory_equal(host + 1 * 4096 + 4000, out + 4000, 96);
	assert_memory_equal(host + 2 * 4096, out + 4096, 4000);
	assert_memory_equal(host, out + 8096, 4096);
	assert_memory_equal(host + 3 * 4096, out + 12192, sizeof(out) - 12192);
	assert_int_equal(uiommu_dev_dma_read_sg(r.dev, sg, 3, in, &done, NULL), 0);
	assert_memory_equal(in, out, sizeof(out));
	/* A fault in the second segment: the first moved, the rest not. */
	sg[1].ioba = ioba_of(&r, 12, 4000); /* page 12 is unmapped */
	memset(in, 0, sizeof(in));
	assert_int_equal(uiommu_dev_dma_read_sg(r.dev, sg, 3, in, &done, NULL), -EFAULT);
	assert_true(done == 4000);
	assert_memory_equal(in, out, 4000);
	assert_int_equal(in[4000], 0);
	assert_int_equal(uiommu_hostmem_free(r.ctx, host), 0);
	rig_free(&r);
}

/* ---- faults ---- */

static void expect_fault(struct rig *r, const struct uiommu_dma_fault *f, uint32_t reason,
			 enum uiommu_dma_dir dir, uint64_t ioba, uint64_t done)
{
	struct uiommu_dma_fault last = { .size = sizeof(last) };

	assert_int_equal(f->reason, reason);
	assert_int_equal(f->dir, dir);
	assert_true(f->ioba == ioba);
	assert_true(f->done == done);
	assert_string_equal(f->dev_name, "001a:01:02.3");
	assert_int_equal(uiommu_dev_last_fault(r->dev, &last), 0);
	assert_memory_equal(&last, f, sizeof(last));
	/* The log names the device and the address. */
	{
		char want[64];

		snprintf(want, sizeof(want), "at ioba 0x%llx", (unsigned long long)ioba);
		assert_non_null(strstr(r->log.last, "001a:01:02.3"));
		assert_non_null(strstr(r->log.last, want));
	}
}

static void test_dma_fault_reasons(void **state)
{
	struct rig r;
	unsigned char *host, buf[3 * 4096], zero[4096] = { 0 };
	struct uiommu_dma_fault f = { .size = sizeof(f) };
	uint64_t faults;

	(void)state;
	rig_new(&r, 12, GiB);
	assert_int_equal(uiommu_hostmem_alloc(r.ctx, 4 * 4096, 12, UIOMMU_HOSTMEM_SCATTER,
					      (void **)&host), 0);
	map(&r, 0, hpa_of(r.ctx, host), UIOMMU_DMA_BIDIRECTIONAL);
	map(&r, 1, hpa_of(r.ctx, host + 4096), UIOMMU_DMA_TO_DEVICE);
	map(&r, 2, 0x1000, UIOMMU_DMA_BIDIRECTIONAL); /* not RAM */
	fill(buf, sizeof(buf), 5);

	/* No window: window 0 is unset on a user-owned PE, and past the end of window 1. */
	assert_int_equal(uiommu_dev_dma_read(r.dev, 0x10000, buf, 8, &f), -EFAULT);
	expect_fault(&r, &f, UIOMMU_DMA_FAULT_NO_WINDOW, UIOMMU_DMA_TO_DEVICE, 0x10000, 0);
	assert_int_equal(f.window, -1);
	assert_non_null(strstr(r.log.last, "no window"));
	assert_int_equal(uiommu_dev_dma_read(r.dev, r.ti.bus_offset + GiB, buf, 8, &f), -EFAULT);
	assert_int_equal(f.reason, UIOMMU_DMA_FAULT_NO_WINDOW);

	/* Invalid TCE: page 3 is empty. The three pages before it moved, nothing after. */
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 3, 0), buf, 8, &f), -EFAULT);
	expect_fault(&r, &f, UIOMMU_DMA_FAULT_INVALID_TCE, UIOMMU_DMA_TO_DEVICE,
		     ioba_of(&r, 3, 0), 0);
	assert_true(f.window == 1 && f.tce == 0);

	/* Permission: page 1 is read-only; a write starting in page 0 moves page 0 only. */
	assert_int_equal(uiommu_dev_dma_write(r.dev, ioba_of(&r, 0, 96), buf, 2 * 4096, &f), -EFAULT);
	expect_fault(&r, &f, UIOMMU_DMA_FAULT_PERMISSION, UIOMMU_DMA_FROM_DEVICE,
		     ioba_of(&r, 1, 0), 4096 - 96);
	assert_true(f.tce == (hpa_of(r.ctx, host + 4096) | UIOMMU_TCE_READ));
	assert_memory_equal(host + 96, buf, 4096 - 96);
	assert_memory_equal(host + 4096, zero, 4096);
	assert_non_null(strstr(r.log.last, "lacks WRITE"));
	/* Reading it is fine. */
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 1, 0), buf, 4096, NULL), 0);

	/* Bad hpa: the TCE points outside RAM. */
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 2, 8), buf, 8, &f), -EFAULT);
	expect_fault(&r, &f, UIOMMU_DMA_FAULT_BAD_HPA, UIOMMU_DMA_TO_DEVICE, ioba_of(&r, 2, 8), 0);
	assert_true(f.hpa == 0x1008);
	assert_non_null(strstr(r.log.last, "not RAM"));

	/* Counted: the device, the context. */
	faults = dinfo(r.dev).faults;
	assert_true(faults == 5);
	assert_true(ctx_counter(r.ctx, UIOMMU_COUNTER_DMA_FAULTS) == faults);
	/* EEH disabled: nothing froze. */
	assert_false(f.flags & UIOMMU_DMA_FAULT_FROZE);
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 0, 0), buf, 8, NULL), 0);
	assert_int_equal(uiommu_hostmem_free(r.ctx, host), 0);
	rig_free(&r);
}

/* The bypass of a host-owned PE maps all RAM 1:1; taking the PE turns it off. */
static void test_dma_bypass(void **state)
{
	struct rig r;
	unsigned char *host, *big, buf[64];
	struct uiommu_dma_fault f = { .size = sizeof(f) };
	uint64_t hpa;

	(void)state;
	rig_new(&r, 0, 0);
	assert_int_equal(uiommu_hostmem_alloc(r.ctx, 2 * 4096, 12, UIOMMU_HOSTMEM_SCATTER,
					      (void **)&host), 0);
	hpa = hpa_of(r.ctx, host + 4096);
	fill(buf, sizeof(buf), 9);
	assert_int_equal(uiommu_dev_dma_write(r.dev, UIOMMU_PE_BYPASS_BASE + hpa + 10, buf,
					      sizeof(buf), NULL), 0);
	assert_memory_equal(host + 4096 + 10, buf, sizeof(buf));
	/* Outside RAM. */
	assert_int_equal(uiommu_dev_dma_read(r.dev, UIOMMU_PE_BYPASS_BASE + 0x2000, buf, 8, &f),
			 -EFAULT);
	assert_int_equal(f.reason, UIOMMU_DMA_FAULT_BAD_HPA);
	assert_true(f.flags & UIOMMU_DMA_FAULT_BYPASS);
	assert_true(f.hpa == 0x2000);
	/* The host's default window (64K TCEs): its table is the host's to fill (tables[0]). */
	assert_int_equal(uiommu_hostmem_alloc(r.ctx, 64 * KiB, 16, 0, (void **)&big), 0);
	big[5] = 0x5a;
	assert_int_equal(uiommu_tce_table_xchg(r.grp->tables[0], 3, hpa_of(r.ctx, big),
					       UIOMMU_DMA_TO_DEVICE, NULL, NULL), 0);
	assert_int_equal(uiommu_dev_dma_read(r.dev, (3 << 16) + 5, buf, 8, NULL), 0);
	assert_memory_equal(buf, big + 5, 8);
	/* Taken: no bypass, no default window. */
	assert_int_equal(uiommu_table_group_take_ownership(r.grp), 0);
	assert_int_equal(uiommu_dev_dma_write(r.dev, UIOMMU_PE_BYPASS_BASE + hpa, buf, 8, &f),
			 -EFAULT);
	assert_int_equal(f.reason, UIOMMU_DMA_FAULT_NO_WINDOW);
	assert_int_equal(uiommu_dev_dma_read(r.dev, (3 << 16) + 5, buf, 8, &f), -EFAULT);
	assert_int_equal(f.reason, UIOMMU_DMA_FAULT_NO_WINDOW);
	assert_int_equal(uiommu_table_group_release_ownership(r.grp), 0);
	assert_int_equal(uiommu_dev_dma_write(r.dev, UIOMMU_PE_BYPASS_BASE + hpa, buf, 8, NULL), 0);
	assert_int_equal(uiommu_hostmem_free(r.ctx, host), 0);
	assert_int_equal(uiommu_hostmem_free(r.ctx, big), 0);
	rig_free(&r);
}

/* ---- the TCE cache ---- */

static void test_stale_tce(void **state)
{
	struct rig r;
	unsigned char *a, *b, buf[16];
	struct uiommu_dma_fault f = { .size = sizeof(f) };
	struct uiommu_pe_info pi;

	(void)state;
	rig_new(&r, 12, GiB);
	assert_int_equal(uiommu_hostmem_alloc(r.ctx, 4096, 12, 0, (void **)&a), 0);
	assert_int_equal(uiommu_hostmem_alloc(r.ctx, 4096, 12, 0, (void **)&b), 0);
	memset(a, 'A', 4096);
	memset(b, 'B', 4096);
	map(&r, 7, hpa_of(r.ctx, a), UIOMMU_DMA_TO_DEVICE);
	/* A miss, then hits. */
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 7, 0), buf, 16, NULL), 0);
	assert_int_equal(buf[0], 'A');
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 7, 0), buf, 16, NULL), 0);
	pi = pinfo(r.pe);
	assert_true(pi.tce_cache_misses == 1 && pi.tce_cache_fills == 1 && pi.tce_cache_hits == 1);
	/* Changed without a kill: as hardware, the device still uses the old entry. */
	map_no_kill(&r, 7, hpa_of(r.ctx, b), UIOMMU_DMA_TO_DEVICE);
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 7, 0), buf, 16, NULL), 0);
	assert_int_equal(buf[0], 'A');
	/* Strict mode reports it, and moves nothing. */
	assert_int_equal(uiommu_pe_set_tce_cache_mode(r.pe, UIOMMU_TCE_CACHE_STRICT), 0);
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 7, 0), buf, 16, NULL), 0);
	/* (The mode switch flushed the cache: the first DMA refills it with the new TCE.) */
	assert_int_equal(buf[0], 'B');
	map_no_kill(&r, 7, hpa_of(r.ctx, a), UIOMMU_DMA_TO_DEVICE);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 7, 4), buf, 16, &f), -EFAULT);
	expect_fault(&r, &f, UIOMMU_DMA_FAULT_STALE_TCE, UIOMMU_DMA_TO_DEVICE, ioba_of(&r, 7, 4), 0);
	assert_true(f.tce == (hpa_of(r.ctx, b) | UIOMMU_TCE_READ));
	assert_true(f.table_tce == (hpa_of(r.ctx, a) | UIOMMU_TCE_READ));
	assert_true(f.flags & UIOMMU_DMA_FAULT_CACHED);
	assert_non_null(strstr(r.log.last, "without a kill"));
	assert_int_equal(buf[0], 0);
	assert_int_equal(pinfo(r.pe).stale_tces, 1);
	/* The kill: the device sees the new entry. */
	assert_int_equal(uiommu_tce_table_kill(r.tbl, r.ti.it_offset + 7, 1), 0);
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 7, 0), buf, 16, &f), 0);
	assert_int_equal(buf[0], 'A');
	/* An unmap without a kill: strict mode reports the cached entry's use. */
	map_no_kill(&r, 7, 0, UIOMMU_DMA_NONE);
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 7, 0), buf, 16, &f), -EFAULT);
	assert_int_equal(f.reason, UIOMMU_DMA_FAULT_STALE_TCE);
	assert_true(f.table_tce == 0);
	/* Killed: an invalid TCE now. */
	assert_int_equal(uiommu_tce_table_kill(r.tbl, r.ti.it_offset + 7, 1), 0);
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 7, 0), buf, 16, &f), -EFAULT);
	assert_int_equal(f.reason, UIOMMU_DMA_FAULT_INVALID_TCE);
	/* The cache off: every DMA walks the table, the change is seen at once. */
	assert_int_equal(uiommu_pe_set_tce_cache_mode(r.pe, UIOMMU_TCE_CACHE_OFF), 0);
	map_no_kill(&r, 7, hpa_of(r.ctx, b), UIOMMU_DMA_TO_DEVICE);
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 7, 0), buf, 16, NULL), 0);
	assert_int_equal(buf[0], 'B');
	assert_int_equal(uiommu_hostmem_free(r.ctx, a), 0);
	assert_int_equal(uiommu_hostmem_free(r.ctx, b), 0);
	rig_free(&r);
}

/* Batched updates: many exchanges, one kill by range; other entries stay cached. */
static void test_batched_kill(void **state)
{
	struct rig r;
	unsigned char *host, buf[8];
	uint64_t inval;

	(void)state;
	rig_new(&r, 12, GiB);
	assert_int_equal(uiommu_hostmem_alloc(r.ctx, 64 * 4096, 12, UIOMMU_HOSTMEM_SCATTER,
					      (void **)&host), 0);
	for (unsigned int i = 0; i < 64; i++) {
		memset(host + i * 4096, i, 4096);
		map(&r, i, hpa_of(r.ctx, host + i * 4096), UIOMMU_DMA_TO_DEVICE);
	}
	for (unsigned int i = 0; i < 32; i++) {
		assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, i, 0), buf, 8, NULL), 0);
		assert_int_equal(buf[0], i);
	}
	/* Entries 0..31 now point at pages 32..63: one kill for 0..15 only. */
	for (unsigned int i = 0; i < 32; i++)
		map_no_kill(&r, i, hpa_of(r.ctx, host + (i + 32) * 4096), UIOMMU_DMA_TO_DEVICE);
	inval = pinfo(r.pe).tce_cache_invalidations;
	assert_int_equal(uiommu_tce_table_kill(r.tbl, r.ti.it_offset, 16), 0);
	assert_true(pinfo(r.pe).tce_cache_invalidations == inval + 16);
	for (unsigned int i = 0; i < 32; i++) {
		assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, i, 0), buf, 8, NULL), 0);
		/* Killed ones see the new page; the others the cached old one. */
		assert_int_equal(buf[0], i < 16 ? i + 32 : i);
	}
	/* A kill of the whole table. */
	assert_int_equal(uiommu_tce_table_kill(r.tbl, r.ti.it_offset, r.ti.it_size), 0);
	for (unsigned int i = 16; i < 32; i++) {
		assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, i, 0), buf, 8, NULL), 0);
		assert_int_equal(buf[0], i + 32);
	}
	assert_int_equal(uiommu_hostmem_free(r.ctx, host), 0);
	rig_free(&r);
}

/* One table behind two PEs: one kill invalidates both caches. */
static void test_kill_reaches_every_pe(void **state)
{
	struct rig r;
	struct uiommu_pe *pe2;
	struct uiommu_dev *dev2;
	struct uiommu_table_group *grp2;
	unsigned char *a, *b, buf[4];

	(void)state;
	rig_new(&r, 12, GiB);
	assert_int_equal(uiommu_pe_new(r.phb, 9, &pe2), 0);
	grp2 = uiommu_pe_table_group(pe2);
	dev2 = dev_new(pe2, 0x99);
	assert_int_equal(uiommu_table_group_take_ownership(grp2), 0);
	assert_int_equal(uiommu_table_group_set_window(grp2, 1, r.tbl), 0);
	assert_int_equal(uiommu_hostmem_alloc(r.ctx, 4096, 12, 0, (void **)&a), 0);
	assert_int_equal(uiommu_hostmem_alloc(r.ctx, 4096, 12, 0, (void **)&b), 0);
	a[0] = 'a';
	b[0] = 'b';
	map(&r, 1, hpa_of(r.ctx, a), UIOMMU_DMA_TO_DEVICE);
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 1, 0), buf, 1, NULL), 0);
	assert_int_equal(uiommu_dev_dma_read(dev2, ioba_of(&r, 1, 0), buf, 1, NULL), 0);
	assert_int_equal(buf[0], 'a');
	map(&r, 1, hpa_of(r.ctx, b), UIOMMU_DMA_TO_DEVICE); /* one exchange, one kill */
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 1, 0), buf, 1, NULL), 0);
	assert_int_equal(buf[0], 'b');
	assert_int_equal(uiommu_dev_dma_read(dev2, ioba_of(&r, 1, 0), buf, 1, NULL), 0);
	assert_int_equal(buf[0], 'b');
	assert_int_equal(uiommu_table_group_unset_window(grp2, 1), 0);
	assert_int_equal(uiommu_table_group_release_ownership(grp2), 0);
	assert_int_equal(uiommu_dev_free(dev2), 0);
	assert_int_equal(uiommu_pe_free(pe2), 0);
	assert_int_equal(uiommu_hostmem_free(r.ctx, a), 0);
	assert_int_equal(uiommu_hostmem_free(r.ctx, b), 0);
	rig_free(&r);
}

/* ---- fault mode ---- */

struct resolver {
	struct rig *r;
	unsigned char *host;
	int mode; /* 0: map and retry, 1: abort, 2: retry without fixing */
	unsigned int calls;
	struct uiommu_dma_fault seen;
};

static int resolve(void *opaque, struct uiommu_dev *dev, const struct uiommu_dma_fault *f)
{
	struct resolver *s = opaque;

	assert_ptr_equal(dev, s->r->dev);
	s->calls++;
	s->seen = *f;
	if (s->mode == 1)
		return UIOMMU_DEV_FAULT_ABORT;
	if (s->mode == 0) {
		/* As a GPU driver's page-fault handler: populate, kill, retry. */
		uint64_t page = (f->ioba - s->r->ti.bus_offset) >> 12;

		map(s->r, page, hpa_of(s->r->ctx, s->host + page * 4096), UIOMMU_DMA_BIDIRECTIONAL);
	}
	return UIOMMU_DEV_FAULT_RETRY;
}

static void test_fault_mode(void **state)
{
	struct rig r;
	struct resolver s = { .r = &r };
	unsigned char buf[4 * 4096];
	struct uiommu_dma_fault f = { .size = sizeof(f) };
	unsigned int lines;

	(void)state;
	rig_new(&r, 12, GiB);
	assert_int_equal(uiommu_hostmem_alloc(r.ctx, 8 * 4096, 12, UIOMMU_HOSTMEM_SCATTER,
					      (void **)&s.host), 0);
	assert_int_equal(uiommu_dev_set_fault_handler(r.dev, resolve, &s), 0);
	lines = r.log.lines;
	/* Every page faults once and is resolved: the transfer completes. */
	fill(buf, sizeof(buf), 11);
	assert_int_equal(uiommu_dev_dma_write(r.dev, ioba_of(&r, 2, 0), buf, sizeof(buf), NULL), 0);
	assert_int_equal(s.calls, 4);
	assert_int_equal(s.seen.reason, UIOMMU_DMA_FAULT_INVALID_TCE);
	assert_true(s.seen.done == 3 * 4096);
	for (unsigned int i = 0; i < 4; i++)
		assert_memory_equal(s.host + (2 + i) * 4096, buf + i * 4096, 4096);
	assert_true(dinfo(r.dev).faults_resolved == 4 && dinfo(r.dev).faults == 0);
	assert_int_equal(r.log.lines, lines); /* resolved faults are not reported */
	/* A handler that aborts: reported. */
	s.mode = 1;
	s.calls = 0;
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 7, 0), buf, 8, &f), -EFAULT);
	assert_int_equal(s.calls, 1);
	assert_int_equal(f.reason, UIOMMU_DMA_FAULT_INVALID_TCE);
	assert_int_equal(f.retries, 0);
	/* A handler that never resolves: retried UIOMMU_DEV_FAULT_RETRIES_MAX times, then reported. */
	s.mode = 2;
	s.calls = 0;
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 7, 0), buf, 8, &f), -EFAULT);
	assert_int_equal(s.calls, UIOMMU_DEV_FAULT_RETRIES_MAX);
	assert_int_equal(f.retries, UIOMMU_DEV_FAULT_RETRIES_MAX);
	assert_true(dinfo(r.dev).faults == 2);
	/* Out of fault mode. */
	assert_int_equal(uiommu_dev_set_fault_handler(r.dev, NULL, NULL), 0);
	s.calls = 0;
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 7, 0), buf, 8, &f), -EFAULT);
	assert_int_equal(s.calls, 0);
	assert_int_equal(uiommu_hostmem_free(r.ctx, s.host), 0);
	rig_free(&r);
}

/* ---- EEH ---- */

static void test_eeh_freeze(void **state)
{
	struct rig r;
	struct resolver s = { .r = &r, .mode = 1 };
	unsigned char *host, buf[64];
	struct uiommu_dma_fault f = { .size = sizeof(f) };
	struct uiommu_eeh_pe_err err = { .type = UIOMMU_EEH_ERR_TYPE_64,
					 .func = UIOMMU_EEH_ERR_FUNC_DMA_WR_ADDR };

	(void)state;
	rig_new(&r, 12, GiB);
	assert_int_equal(uiommu_hostmem_alloc(r.ctx, 4096, 12, 0, (void **)&host), 0);
	map(&r, 0, hpa_of(r.ctx, host), UIOMMU_DMA_BIDIRECTIONAL);
	assert_int_equal(uiommu_table_group_eeh_op(r.grp, UIOMMU_EEH_PE_ENABLE, NULL), 0);
	/* A bad DMA freezes the PE, as POWER hardware does. */
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 1, 0), buf, 8, &f), -EFAULT);
	assert_true(f.flags & UIOMMU_DMA_FAULT_FROZE);
	assert_non_null(strstr(r.log.last, "PE frozen"));
	assert_int_equal(uiommu_table_group_eeh_op(r.grp, UIOMMU_EEH_PE_GET_STATE, NULL),
			 UIOMMU_EEH_PE_STATE_STOPPED);
	/* Later DMA fails, good addresses too, and never reaches the fault handler. */
	assert_int_equal(uiommu_dev_set_fault_handler(r.dev, resolve, &s), 0);
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 0, 0), buf, 8, &f), -EIO);
	expect_fault(&r, &f, UIOMMU_DMA_FAULT_FROZEN, UIOMMU_DMA_TO_DEVICE, ioba_of(&r, 0, 0), 0);
	assert_false(f.flags & UIOMMU_DMA_FAULT_FROZE);
	assert_int_equal(s.calls, 0);
	assert_int_equal(uiommu_dev_mmio_check(r.dev), -EIO);
	/* Thaw DMA: DMA works, MMIO still stopped. */
	assert_int_equal(uiommu_table_group_eeh_op(r.grp, UIOMMU_EEH_PE_UNFREEZE_DMA, NULL), 0);
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 0, 0), buf, 8, NULL), 0);
	assert_int_equal(uiommu_dev_mmio_check(r.dev), -EIO);
	assert_int_equal(uiommu_table_group_eeh_op(r.grp, UIOMMU_EEH_PE_UNFREEZE_IO, NULL), 0);
	assert_int_equal(uiommu_dev_mmio_check(r.dev), 0);
	/* A reset stops everything until deactivated. */
	assert_int_equal(uiommu_table_group_eeh_op(r.grp, UIOMMU_EEH_PE_RESET_HOT, NULL), 0);
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 0, 0), buf, 8, &f), -EIO);
	assert_int_equal(uiommu_dev_mmio_check(r.dev), -EIO);
	assert_int_equal(uiommu_table_group_eeh_op(r.grp, UIOMMU_EEH_PE_RESET_DEACTIVATE, NULL), 0);
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 0, 0), buf, 8, NULL), 0);
	assert_int_equal(uiommu_dev_set_fault_handler(r.dev, NULL, NULL), 0);
	/* Injection: DMA writes to this page fail once; reads do not match. */
	err.addr = ioba_of(&r, 0, 0);
	err.mask = ~0xfffULL;
	assert_int_equal(uiommu_table_group_eeh_op(r.grp, UIOMMU_EEH_PE_INJECT_ERR, &err), 0);
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 0, 0), buf, 8, NULL), 0);
	assert_int_equal(uiommu_dev_dma_write(r.dev, ioba_of(&r, 1, 0), buf, 8, &f), -EFAULT);
	assert_int_equal(f.reason, UIOMMU_DMA_FAULT_INVALID_TCE); /* another page: no match */
	assert_int_equal(uiommu_table_group_eeh_op(r.grp, UIOMMU_EEH_PE_RESET_HOT, NULL), 0);
	assert_int_equal(uiommu_table_group_eeh_op(r.grp, UIOMMU_EEH_PE_RESET_DEACTIVATE, NULL), 0);
	/* The reset dropped the injection. */
	assert_int_equal(uiommu_dev_dma_write(r.dev, ioba_of(&r, 0, 16), buf, 8, NULL), 0);
	/* Re-arm, and now hit it. */
	assert_int_equal(uiommu_table_group_eeh_op(r.grp, UIOMMU_EEH_PE_INJECT_ERR, &err), 0);
	assert_int_equal(uiommu_dev_dma_write(r.dev, ioba_of(&r, 0, 16), buf, 8, &f), -EIO);
	expect_fault(&r, &f, UIOMMU_DMA_FAULT_INJECTED, UIOMMU_DMA_FROM_DEVICE,
		     ioba_of(&r, 0, 16), 0);
	assert_true(f.flags & UIOMMU_DMA_FAULT_FROZE);
	assert_int_equal(uiommu_table_group_eeh_op(r.grp, UIOMMU_EEH_PE_UNFREEZE_DMA, NULL), 0);
	/* One shot. */
	assert_int_equal(uiommu_dev_dma_write(r.dev, ioba_of(&r, 0, 16), buf, 8, NULL), 0);
	/* EEH disabled: errors are reported but freeze nothing. */
	assert_int_equal(uiommu_table_group_eeh_op(r.grp, UIOMMU_EEH_PE_UNFREEZE_IO, NULL), 0);
	assert_int_equal(uiommu_table_group_eeh_op(r.grp, UIOMMU_EEH_PE_DISABLE, NULL), 0);
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 1, 0), buf, 8, &f), -EFAULT);
	assert_false(f.flags & UIOMMU_DMA_FAULT_FROZE);
	assert_int_equal(uiommu_dev_dma_read(r.dev, ioba_of(&r, 0, 0), buf, 8, NULL), 0);
	assert_int_equal(uiommu_hostmem_free(r.ctx, host), 0);
	rig_free(&r);
}

/* ---- devices behind compound members ---- */

static void test_dma_compound(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_phb *gpus, *npus;
	struct uiommu_phb_config cfg;
	struct uiommu_pe *gpu, *npu;
	struct uiommu_dev *gdev, *ndev;
	struct uiommu_compound *comp;
	struct uiommu_table_group *grp;
	struct uiommu_tce_table *tbl;
	unsigned char *host, buf[32];
	uint64_t hpa;

	(void)state;
	uiommu_phb_config_default(&cfg, 0);
	assert_int_equal(uiommu_phb_new(ctx, &cfg, &gpus), 0);
	uiommu_phb_config_default(&cfg, 4);
	cfg.flags = UIOMMU_PHB_NPU;
	assert_int_equal(uiommu_phb_new(ctx, &cfg, &npus), 0);
	assert_int_equal(uiommu_pe_new(gpus, 0, &gpu), 0);
	assert_int_equal(uiommu_pe_new(npus, 0, &npu), 0);
	gdev = dev_new(gpu, UIOMMU_PCI_BDF(4, 0, 0));
	ndev = dev_new(npu, UIOMMU_PCI_BDF(0, 1, 0));
	assert_int_equal(uiommu_compound_new(ctx, &comp), 0);
	assert_int_equal(uiommu_compound_attach(comp, gpu), 0);
	assert_int_equal(uiommu_compound_attach(comp, npu), 0);
	grp = uiommu_compound_table_group(comp);
	assert_ptr_equal(uiommu_dev_table_group(ndev), grp);
	assert_string_equal(uiommu_dev_name(ndev), "0004:00:01.0");
	assert_int_equal(uiommu_table_group_take_ownership(grp), 0);
	assert_int_equal(uiommu_table_group_create_table(grp, 1, 16, GiB, 2, &tbl), 0);
	assert_int_equal(uiommu_table_group_set_window(grp, 1, tbl), 0);
	assert_int_equal(uiommu_hostmem_alloc(ctx, 64 * KiB, 16, 0, (void **)&host), 0);
	hpa = hpa_of(ctx, host);
	assert_int_equal(uiommu_tce_table_xchg(tbl, UIOMMU_PE_BUS_OFFSET_64 >> 16, hpa,
					       UIOMMU_DMA_BIDIRECTIONAL, NULL, NULL), 0);
	/* Both members' devices reach the page through the one table. */
	fill(buf, sizeof(buf), 13);
	assert_int_equal(uiommu_dev_dma_write(gdev, UIOMMU_PE_BUS_OFFSET_64 + 100, buf, 32, NULL), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(uiommu_dev_dma_read(ndev, UIOMMU_PE_BUS_OFFSET_64 + 100, buf, 32, NULL), 0);
	assert_memory_equal(buf, host + 100, 32);
	/* One clear (one kill) reaches both members' caches. */
	assert_int_equal(uiommu_tce_table_clear(tbl, UIOMMU_PE_BUS_OFFSET_64 >> 16, 1, NULL, NULL,
						NULL), 0);
	assert_int_equal(uiommu_dev_dma_read(gdev, UIOMMU_PE_BUS_OFFSET_64, buf, 1, NULL), -EFAULT);
	assert_int_equal(uiommu_dev_dma_read(ndev, UIOMMU_PE_BUS_OFFSET_64, buf, 1, NULL), -EFAULT);
	assert_int_equal(uiommu_table_group_unset_window(grp, 1), 0);
	uiommu_tce_table_unref(tbl);
	assert_int_equal(uiommu_table_group_release_ownership(grp), 0);
	assert_int_equal(uiommu_compound_free(comp), 0);
	assert_ptr_equal(uiommu_dev_table_group(ndev), uiommu_pe_table_group(npu));
	assert_int_equal(uiommu_dev_free(gdev), 0);
	assert_int_equal(uiommu_dev_free(ndev), 0);
	assert_int_equal(uiommu_pe_free(gpu), 0);
	assert_int_equal(uiommu_pe_free(npu), 0);
	assert_int_equal(uiommu_phb_free(gpus), 0);
	assert_int_equal(uiommu_phb_free(npus), 0);
	assert_int_equal(uiommu_hostmem_free(ctx, host), 0);
	test_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dev_lifecycle),
		cmocka_unit_test(test_dev_faults_injected),
		cmocka_unit_test(test_dma_args),
		cmocka_unit_test(test_dma_4k),
		cmocka_unit_test(test_dma_64k),
		cmocka_unit_test(test_dma_16m),
		cmocka_unit_test(test_dma_window0),
		cmocka_unit_test(test_dma_sg),
		cmocka_unit_test(test_dma_fault_reasons),
		cmocka_unit_test(test_dma_bypass),
		cmocka_unit_test(test_stale_tce),
		cmocka_unit_test(test_batched_kill),
		cmocka_unit_test(test_kill_reaches_every_pe),
		cmocka_unit_test(test_fault_mode),
		cmocka_unit_test(test_eeh_freeze),
		cmocka_unit_test(test_dma_compound),
	};

	test_require_memfd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
