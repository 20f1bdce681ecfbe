// SPDX-License-Identifier: BSD-3-Clause
/*
 * Example, with grant_display_backend.c: a PV display frontend and backend
 * as two processes.
 *
 *   grant-display-frontend PATH-OF-grant-display-backend
 *
 * The frontend (domain 5) shares a 1920x1080 32-bit framebuffer (about 8
 * MiB, 2025 pages, a two-page directory) as a page-directory buffer, starts
 * the backend (domain 0) with a grant connection and a control socket and
 * nothing else, sends DBUF_CREATE with the buffer's gref_directory, then
 * draws frames and flips them; the backend maps the buffer and checks every
 * pixel of every frame. Teardown in Xen's order: the backend unmaps
 * (DBUF_DESTROY), the frontend ends access, the pages are freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uiommu/uiommu.h>

#include "dbuf_proto.h"

#define FRONTEND 5
#define BACKEND 0
#define WIDTH 1920
#define HEIGHT 1080
#define FRAMES 5

static void draw(uint32_t *fb, uint32_t k)
{
	for (uint32_t y = 0; y < HEIGHT; y++)
		for (uint32_t x = 0; x < WIDTH; x++)
			fb[(size_t)y * WIDTH + x] = displ_pixel(x, y, k);
}

/* Send a request and wait for its response; the response's status. */
static int call(int chan, struct displ_req *req)
{
	static uint16_t id;
	struct displ_resp resp;

	req->id = ++id;
	if (send(chan, req, sizeof(*req), 0) != (ssize_t)sizeof(*req) ||
	    recv(chan, &resp, sizeof(resp), 0) != (ssize_t)sizeof(resp) || resp.id != req->id)
		return -EPIPE;
	return resp.status;
}

int main(int argc, char **argv)
{
	uint32_t buffer_sz = WIDTH * HEIGHT * 4, npages = (buffer_sz + 4095) / 4096;
	struct displ_req req = { 0 };
	struct uiommu_gntshr *gs;
	struct uiommu_shbuf *buf;
	struct uiommu_ctx *ctx;
	int ret, grant_fd, sv[2], status;
	char gfd[16], cfd[16];
	pid_t pid;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-OF-grant-display-backend\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	ret = uiommu_ctx_new(NULL, &ctx);
	if (!ret)
		ret = uiommu_gntshr_new(ctx, FRONTEND, 4096, &gs);
	/* The grant connection for the backend's domain, and a control socket. */
	if (!ret)
		ret = uiommu_gntshr_connect(gs, BACKEND, &grant_fd);
	if (!ret && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		ret = -errno;
	/* The framebuffer, shared by its page directory. */
	if (!ret)
		ret = uiommu_shbuf_alloc(gs, BACKEND, npages, 0, &buf);
	if (ret) {
		fprintf(stderr, "frontend: setup: %s\n", uiommu_strerror(ret));
		return 1;
	}
	draw(uiommu_shbuf_hva(buf), 0);

	/* The backend gets the two descriptors and nothing else. */
	snprintf(gfd, sizeof(gfd), "%d", grant_fd);
	snprintf(cfd, sizeof(cfd), "%d", sv[1]);
	pid = fork();
	if (pid == 0) {
		fcntl(grant_fd, F_SETFD, 0);
		fcntl(sv[1], F_SETFD, 0);
		execl(argv[1], argv[1], gfd, cfd, (char *)NULL);
		_exit(127);
	}
	close(grant_fd);
	close(sv[1]);
	if (pid < 0)
		return 1;

	req.operation = DISPL_OP_DBUF_CREATE;
	req.op.dbuf_create = (struct displ_dbuf_create_req){
		.dbuf_cookie = 0xdb0f, .width = WIDTH, .height = HEIGHT, .bpp = 32,
		.buffer_sz = buffer_sz, .gref_directory = uiommu_shbuf_get_dir_start(buf) };
	ret = call(sv[0], &req);
	printf("frontend: DBUF_CREATE of %u pages, gref_directory %u: %s\n", npages,
	       req.op.dbuf_create.gref_directory, ret ? uiommu_strerror(ret) : "ok");
	for (uint32_t k = 1; !ret && k <= FRAMES; k++) {
		draw(uiommu_shbuf_hva(buf), k);
		req = (struct displ_req){ .operation = DISPL_OP_PG_FLIP,
					  .op.pg_flip.fb_cookie = 0xdb0f };
		ret = call(sv[0], &req);
		printf("frontend: frame %u flipped: %s\n", k, ret ? uiommu_strerror(ret) : "ok");
	}
	/* Teardown: the backend unmaps first ... */
	req = (struct displ_req){ .operation = DISPL_OP_DBUF_DESTROY,
				  .op.dbuf_destroy.dbuf_cookie = 0xdb0f };
	if (call(sv[0], &req) && !ret)
		ret = -EIO;
	close(sv[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "frontend: the backend failed\n");
		ret = ret ? ret : -EIO;
	}
	/* ... then the frontend ends access (nothing is pending) and frees the pages. */
	status = uiommu_shbuf_free(buf);
	printf("frontend: buffer freed, %d references left pending\n", status);
	if (status)
		ret = ret ? ret : -EBUSY;
	if (uiommu_gntshr_free(gs) || uiommu_ctx_free(ctx))
		ret = ret ? ret : -EBUSY;
	return ret ? 1 : 0;
}
