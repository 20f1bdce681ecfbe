// SPDX-License-Identifier: BSD-3-Clause
/*
 * Example, with grant_display_frontend.c (which starts it): the PV display
 * backend.
 *
 *   grant-display-backend GRANT_FD CONTROL_FD
 *
 * Attaches the grant connection, answers DBUF_CREATE by mapping the buffer
 * by its page directory (walking gref_dir_next_page until 0), checks every
 * pixel of each frame the frontend flips, and unmaps on DBUF_DESTROY.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uiommu/uiommu.h>

#include "dbuf_proto.h"

/* Does the mapped buffer show frame @k? 0 or -EIO. */
static int check(const struct displ_dbuf_create_req *c, const uint32_t *fb, uint32_t k)
{
	for (uint32_t y = 0; y < c->height; y++)
		for (uint32_t x = 0; x < c->width; x++)
			if (fb[(size_t)y * c->width + x] != displ_pixel(x, y, k)) {
				fprintf(stderr, "backend: frame %u pixel (%u, %u) is wrong\n", k, x, y);
				return -EIO;
			}
	return 0;
}

int main(int argc, char **argv)
{
	struct displ_dbuf_create_req dbuf = { 0 };
	struct uiommu_shbuf_be *be = NULL;
	struct uiommu_gnttab *gt;
	struct uiommu_ctx *ctx;
	uint16_t frontend;
	uint32_t frame = 0;
	int chan, ret;

	if (argc != 3) {
		fprintf(stderr, "usage: %s GRANT_FD CONTROL_FD\n", argv[0]);
		return 2;
	}
	chan = atoi(argv[2]);
	ret = uiommu_ctx_new(NULL, &ctx);
	if (!ret)
		ret = uiommu_gnttab_open(ctx, &gt);
	if (!ret)
		ret = uiommu_gnttab_attach(gt, atoi(argv[1]), &frontend);
	if (ret) {
		fprintf(stderr, "backend: setup: %s\n", uiommu_strerror(ret));
		return 1;
	}
	for (;;) {
		struct displ_req req;
		struct displ_resp resp = { 0 };

		if (recv(chan, &req, sizeof(req), 0) != (ssize_t)sizeof(req))
			break;
		resp.id = req.id;
		resp.operation = req.operation;
		switch (req.operation) {
		case DISPL_OP_DBUF_CREATE:
			dbuf = req.op.dbuf_create;
			if (be || dbuf.bpp != 32 || (uint64_t)dbuf.width * dbuf.height * 4 > dbuf.buffer_sz) {
				resp.status = -EINVAL;
				break;
			}
			resp.status = uiommu_shbuf_be_map(gt, frontend, dbuf.gref_directory,
							  (dbuf.buffer_sz + 4095) / 4096, PROT_READ, &be);
			if (!resp.status)
				resp.status = check(&dbuf, uiommu_shbuf_be_hva(be), frame);
			break;
		case DISPL_OP_PG_FLIP:
			resp.status = be ? check(&dbuf, uiommu_shbuf_be_hva(be), ++frame) : -ENOENT;
			break;
		case DISPL_OP_DBUF_DESTROY:
			resp.status = be ? uiommu_shbuf_be_free(be) : -ENOENT;
			be = NULL;
			break;
		default:
			resp.status = -ENOTSUP;
		}
		if (resp.status)
			ret = resp.status;
		if (send(chan, &resp, sizeof(resp), 0) != (ssize_t)sizeof(resp))
			break;
	}
	printf("backend: %u frames checked from domain %u%s\n", frame + 1, frontend,
	       ret ? ", with errors" : "");
	if (be)
		uiommu_shbuf_be_free(be);
	uiommu_gnttab_close(gt);
	if (uiommu_ctx_free(ctx))
		ret = -EBUSY;
	return ret ? 1 : 0;
}
