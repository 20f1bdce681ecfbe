// SPDX-License-Identifier: BSD-3-Clause
/*
 * The granting side's answers to its peers: connections, the thread that
 * serves them, and the map and unmap requests (the hypervisor's part of
 * Xen's GNTTABOP_map_grant_ref and GNTTABOP_unmap_grant_ref,
 * xen/common/grant_table.c map_grant_ref() and unmap_common()).
 *
 * The peer is not trusted. Its identity is its socket; a request it sends
 * is checked whole before anything is done; a malformed one, a request
 * carrying descriptors, or a peer that does not read its answers is
 * disconnected, which drops its mappings as Xen drops a dead domain's. Every
 * mapping it holds is one maptrack slot, charged to UIOMMU_RES_GRANT_MAPS.
 * A map answer passes the memfd of the pages the frame belongs to: pages
 * allocated for this peer's domain only (gntshr.c), so the peer reaches no
 * other memory.
 *
 * One thread per table waits on an epoll set of the peers' sockets and an
 * eventfd (stop); it handles a request under the table's lock, with
 * non-blocking socket calls only, so a peer cannot stall it or the table.
 */
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "grant.h"

/* Requests served from one peer before looking at the others again. */
#define SERVE_BURST 16

/* ---- peers ---- */

struct gnt_peer *gnt_peer_find_locked(struct uiommu_gntshr *gs, uint16_t domid)
{
	for (size_t i = 0; i < gs->npeers; i++)
		if (gs->peers[i]->domid == domid)
			return gs->peers[i];
	return NULL;
}

static struct gnt_peer *peer_by_id_locked(struct uiommu_gntshr *gs, uint64_t id)
{
	for (size_t i = 0; i < gs->npeers; i++)
		if (gs->peers[i]->id == id)
			return gs->peers[i];
	return NULL;
}

int gnt_peer_add_locked(struct uiommu_gntshr *gs, uint16_t domid, int fd,
			struct gnt_peer **ret_peer)
{
	struct gnt_peer *peer;
	int ret;

	if (gnt_grow(gs->ctx, &gs->peers, gs->npeers, &gs->peers_cap))
		return -ENOMEM;
	ret = ctx_charge(gs->ctx, UIOMMU_RES_GRANT_PEERS, 1);
	if (ret) {
		ctx_warn(gs->ctx, "grant: connection refused by the grant_peers limit");
		return ret;
	}
	peer = ctx_alloc(gs->ctx, sizeof(*peer));
	if (!peer) {
		ctx_uncharge(gs->ctx, UIOMMU_RES_GRANT_PEERS, 1);
		return -ENOMEM;
	}
	peer->domid = domid;
	peer->fd = fd;
	peer->id = ++gs->next_peer_id;
	gnt_handles_init(&peer->mt);
	gs->peers[gs->npeers++] = peer;
	*ret_peer = peer;
	return 0;
}

void gnt_peer_drop_locked(struct uiommu_gntshr *gs, struct gnt_peer *peer)
{
	size_t i;

	for (uint32_t h = 0; h < peer->mt.len; h++)
		if (gnt_maptrack(peer, h)->in_use)
			gnt_ref_unpin_locked(gs, gnt_maptrack(peer, h)->ref, gnt_maptrack(peer, h)->rw);
	ctx_uncharge(gs->ctx, UIOMMU_RES_GRANT_MAPS, peer->mt.nused);
	for (i = 0; gs->peers[i] != peer; i++)
		;
	gs->peers[i] = gs->peers[--gs->npeers];
	if (peer->fd >= 0)
		close(peer->fd); /* also takes it out of the thread's epoll set */
	ctx_free(gs->ctx, peer->mt.slots);
	ctx_free(gs->ctx, peer);
	ctx_uncharge(gs->ctx, UIOMMU_RES_GRANT_PEERS, 1);
}

/* ---- requests ---- */

static uint16_t answer_fd_index(struct gnt_answer *ans, struct gnt_pool *pool)
{
	unsigned int i;

	for (i = 0; i < ans->npools; i++)
		if (ans->pools[i] == pool)
			return (uint16_t)i;
	ans->pools[ans->npools++] = pool;
	return (uint16_t)i;
}

#define MAP_FLAGS_KNOWN (UIOMMU_GNTMAP_DEVICE_MAP | UIOMMU_GNTMAP_HOST_MAP | UIOMMU_GNTMAP_READONLY)

static struct gnt_wire_map_rsp map_one_locked(struct uiommu_gntshr *gs, struct gnt_peer *peer,
					      const struct gnt_wire_map_req *op,
					      struct gnt_answer *ans)
{
	struct gnt_wire_map_rsp rsp = { .handle = UIOMMU_GRANT_INVALID_HANDLE };
	bool rw = !(op->flags & UIOMMU_GNTMAP_READONLY);
	struct gnt_pool *pool;
	uint64_t offset;
	uint32_t h;

	/* As Xen's map_grant_ref(): no host or device map asked is a bad op. */
	if (!(op->flags & UIOMMU_GNTMAP_HOST_MAP)) {
		rsp.status = UIOMMU_GNTST_BAD_GNTREF;
		return rsp;
	}
	if (op->flags & ~(MAP_FLAGS_KNOWN & ~UIOMMU_GNTMAP_DEVICE_MAP)) {
		rsp.status = UIOMMU_GNTST_GENERAL_ERROR;
		return rsp;
	}
	h = gnt_handle_get(gs->ctx, &peer->mt, sizeof(struct gnt_maptrack));
	if (h == UIOMMU_GRANT_INVALID_HANDLE) {
		ctx_guest_error(gs->ctx, "grant: domain %u is out of mapping handles", peer->domid);
		rsp.status = UIOMMU_GNTST_NO_SPACE;
		return rsp;
	}
	rsp.status = (int16_t)gnt_ref_pin_locked(gs, peer->domid, op->ref, rw, &pool, &offset);
	if (rsp.status) {
		gnt_handle_put(gs->ctx, &peer->mt, sizeof(struct gnt_maptrack), h);
		ctx_guest_error(gs->ctx, "grant: domain %u may not map reference %u%s", peer->domid,
				op->ref, rw ? " writable" : "");
		return rsp;
	}
	/* Its memfd goes out with the answer: sealed first, never reused after. */
	if (gnt_pool_export_locked(gs, pool)) {
		gnt_ref_unpin_locked(gs, op->ref, rw);
		gnt_handle_put(gs->ctx, &peer->mt, sizeof(struct gnt_maptrack), h);
		rsp.status = UIOMMU_GNTST_GENERAL_ERROR;
		return rsp;
	}
	*gnt_maptrack(peer, h) = (struct gnt_maptrack){ .ref = op->ref, .in_use = true, .rw = rw };
	rsp.handle = h;
	rsp.offset = offset;
	rsp.fd_index = answer_fd_index(ans, pool);
	return rsp;
}

static int16_t unmap_one_locked(struct uiommu_gntshr *gs, struct gnt_peer *peer, uint32_t h)
{
	if (h >= peer->mt.len || !gnt_maptrack(peer, h)->in_use)
		return UIOMMU_GNTST_BAD_HANDLE;
	gnt_ref_unpin_locked(gs, gnt_maptrack(peer, h)->ref, gnt_maptrack(peer, h)->rw);
	gnt_handle_put(gs->ctx, &peer->mt, sizeof(struct gnt_maptrack), h);
	return UIOMMU_GNTST_OKAY;
}

int gnt_peer_handle_locked(struct uiommu_gntshr *gs, struct gnt_peer *peer, const void *req,
			   size_t len, struct gnt_answer *ans)
{
	struct gnt_wire_hdr hdr;
	const char *body = (const char *)req + sizeof(hdr);
	char *out = ans->msg.bytes + sizeof(hdr);

	if (len < sizeof(hdr))
		return -EPROTO;
	memcpy(&hdr, req, sizeof(hdr));
	if (hdr.version != GNT_WIRE_VERSION || hdr.count > GNT_WIRE_MAX_OPS)
		return -EPROTO;
	ans->npools = 0;
	ans->msg.hdr = hdr;

	switch (hdr.op) {
	case GNT_WIRE_MAP:
		if (len != sizeof(hdr) + hdr.count * sizeof(struct gnt_wire_map_req))
			return -EPROTO;
		for (uint32_t i = 0; i < hdr.count; i++) {
			struct gnt_wire_map_req op;
			struct gnt_wire_map_rsp rsp;

			memcpy(&op, body + i * sizeof(op), sizeof(op));
			rsp = map_one_locked(gs, peer, &op, ans);
			memcpy(out + i * sizeof(rsp), &rsp, sizeof(rsp));
		}
		ans->len = sizeof(hdr) + hdr.count * sizeof(struct gnt_wire_map_rsp);
		return 0;
	case GNT_WIRE_UNMAP:
		if (len != sizeof(hdr) + hdr.count * sizeof(struct gnt_wire_unmap_req))
			return -EPROTO;
		for (uint32_t i = 0; i < hdr.count; i++) {
			struct gnt_wire_unmap_req op;
			struct gnt_wire_unmap_rsp rsp = { 0 };

			memcpy(&op, body + i * sizeof(op), sizeof(op));
			rsp.status = unmap_one_locked(gs, peer, op.handle);
			memcpy(out + i * sizeof(rsp), &rsp, sizeof(rsp));
		}
		ans->len = sizeof(hdr) + hdr.count * sizeof(struct gnt_wire_unmap_rsp);
		return 0;
	default:
		return -EPROTO;
	}
}

/* ---- the socket ---- */

/* Send @len bytes and @nfds descriptors without blocking. 0, or a negative errno. */
static int send_msg(int fd, const void *buf, size_t len, const int *fds, unsigned int nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * GNT_WIRE_MAX_OPS)];
	} cbuf;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		memset(&cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	return sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
}

/* Close every descriptor a message carried. True if there was any. */
static bool close_passed_fds(struct msghdr *msg)
{
	bool any = false;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			close(fd);
			any = true;
		}
	}
	return any;
}

/*
 * Serve @peer's waiting requests. False if the peer was dropped: it hung
 * up, sent something malformed, or does not take its answers.
 */
static bool serve_peer_locked(struct uiommu_gntshr *gs, struct gnt_peer *peer)
{
	for (int n = 0; n < SERVE_BURST; n++) {
		union {
			struct gnt_wire_hdr hdr;
			char bytes[GNT_WIRE_MAX_MSG];
		} req;
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int) * 8)];
		} cbuf;
		struct iovec iov = { .iov_base = req.bytes, .iov_len = sizeof(req.bytes) };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
				      .msg_controllen = sizeof(cbuf.buf) };
		struct gnt_answer ans;
		int fds[GNT_WIRE_MAX_OPS];
		ssize_t len = recvmsg(peer->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		const char *why = NULL;

		if (len < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return true;
		if (len <= 0) {
			ctx_info(gs->ctx, "grant: domain %u hung up: its mappings are dropped",
				 peer->domid);
			gnt_peer_drop_locked(gs, peer);
			return false;
		}
		if (close_passed_fds(&msg) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
			why = "an oversized request or descriptors";
		else if (gnt_peer_handle_locked(gs, peer, req.bytes, (size_t)len, &ans))
			why = "a malformed request";
		if (!why) {
			for (unsigned int i = 0; i < ans.npools; i++)
				fds[i] = ans.pools[i]->fd;
			if (send_msg(peer->fd, ans.msg.bytes, ans.len, fds, ans.npools))
				why = "no room for its answers";
		}
		if (why) {
			ctx_guest_error(gs->ctx, "grant: domain %u sent %s: disconnected", peer->domid,
					why);
			gnt_peer_drop_locked(gs, peer);
			return false;
		}
	}
	return true;
}

ssize_t gnt_loopback_call(struct uiommu_gntshr *gs, uint64_t peer_id, const void *req,
			  size_t len, void *rsp, size_t rsp_len, int *fds, unsigned int max_fds,
			  unsigned int *ret_nfds)
{
	struct gnt_answer ans;
	struct gnt_peer *peer;
	ssize_t ret;

	pthread_mutex_lock(&gs->lock);
	peer = peer_by_id_locked(gs, peer_id);
	if (!peer) { /* disconnected: as a hung-up socket */
		ret = -ECONNRESET;
		goto out;
	}
	if (gnt_peer_handle_locked(gs, peer, req, len, &ans)) {
		ctx_guest_error(gs->ctx, "grant: domain %u sent a malformed request: disconnected",
				peer->domid);
		gnt_peer_drop_locked(gs, peer);
		ret = -ECONNRESET;
		goto out;
	}
	if (ans.len > rsp_len || ans.npools > max_fds) {
		ret = -EPROTO;
		goto out;
	}
	/* What SCM_RIGHTS would have made: new descriptors of the same memfds. */
	for (unsigned int i = 0; i < ans.npools; i++) {
		fds[i] = fcntl(ans.pools[i]->fd, F_DUPFD_CLOEXEC, 0);
		if (fds[i] < 0) {
			while (i--)
				close(fds[i]);
			ret = -ECONNRESET;
			goto out;
		}
	}
	*ret_nfds = ans.npools;
	memcpy(rsp, ans.msg.bytes, ans.len);
	ret = (ssize_t)ans.len;
out:
	pthread_mutex_unlock(&gs->lock);
	return ret;
}

bool gnt_peer_id_locked(struct uiommu_gntshr *gs, uint16_t domid, uint64_t *ret_id)
{
	struct gnt_peer *peer = gnt_peer_find_locked(gs, domid);

	if (peer)
		*ret_id = peer->id;
	return peer != NULL;
}

static void *server_main(void *arg)
{
	struct uiommu_gntshr *gs = arg;

	for (;;) {
		struct epoll_event ev[16];
		int n = epoll_wait(gs->epoll_fd, ev, (int)ARRAY_SIZE(ev), -1);

		if (n < 0 && errno != EINTR) {
			ctx_err(gs->ctx, "grant: epoll_wait failed (errno %d): peers are not served",
				errno);
			return NULL;
		}
		pthread_mutex_lock(&gs->lock);
		if (gs->stopping) {
			pthread_mutex_unlock(&gs->lock);
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			struct gnt_peer *peer = peer_by_id_locked(gs, ev[i].data.u64);

			/* Gone meanwhile (disconnected), or the stop eventfd (id 0). */
			if (peer)
				serve_peer_locked(gs, peer);
		}
		pthread_mutex_unlock(&gs->lock);
	}
}

int gnt_server_start_locked(struct uiommu_gntshr *gs)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };
	int err = 0;

	if (gs->thread_running)
		return 0;
	if (ctx_fault(gs->ctx, UIOMMU_FAULT_MAP))
		return -ENOMEM;
	gs->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	gs->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (gs->epoll_fd < 0 || gs->wake_fd < 0 ||
	    epoll_ctl(gs->epoll_fd, EPOLL_CTL_ADD, gs->wake_fd, &ev)) {
		err = errno;
		goto err;
	}
	if (ctx_fault(gs->ctx, UIOMMU_FAULT_MAP) ||
	    (err = pthread_create(&gs->thread, NULL, server_main, gs)))
		goto err;
	gs->thread_running = true;
	return 0;

err:
	if (gs->epoll_fd >= 0)
		close(gs->epoll_fd);
	if (gs->wake_fd >= 0)
		close(gs->wake_fd);
	gs->epoll_fd = gs->wake_fd = -1;
	return err == EMFILE || err == ENFILE ? -EMFILE : -ENOMEM;
}

void gnt_server_stop(struct uiommu_gntshr *gs)
{
	uint64_t one = 1;

	if (!gs->thread_running)
		return;
	pthread_mutex_lock(&gs->lock);
	gs->stopping = true;
	pthread_mutex_unlock(&gs->lock);
	if (write(gs->wake_fd, &one, sizeof(one)) != sizeof(one))
		ctx_err(gs->ctx, "grant: cannot wake the table's thread");
	pthread_join(gs->thread, NULL);
	gs->thread_running = false;
	close(gs->epoll_fd);
	close(gs->wake_fd);
	gs->epoll_fd = gs->wake_fd = -1;
}

/* Has the peer closed its end? (A hang-up shows at once on a unix socket.) */
static bool peer_hung_up(const struct gnt_peer *peer)
{
	struct pollfd pfd = { .fd = peer->fd, .events = POLLRDHUP };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLRDHUP | POLLERR));
}

/* ---- public ---- */

UIOMMU_EXPORT int uiommu_gntshr_connect(struct uiommu_gntshr *gs, uint16_t domid, int *ret_fd)
{
	struct gnt_wire_hello hello_body = { .granter = gs->domid, .peer = domid,
					     .nr_entries = gs->nr_entries };
	struct {
		struct gnt_wire_hdr hdr;
		struct gnt_wire_hello hello;
	} hello = { .hdr = { .op = GNT_WIRE_HELLO, .count = 1, .version = GNT_WIRE_VERSION },
		    .hello = hello_body };
	struct epoll_event ev = { .events = EPOLLIN };
	struct gnt_peer *peer;
	int sv[2], ret;

	if (!ret_fd || domid >= UIOMMU_DOMID_FIRST_RESERVED || domid == gs->domid)
		return -EINVAL;
	pthread_mutex_lock(&gs->lock);
	peer = gnt_peer_find_locked(gs, domid);
	if (peer && peer_hung_up(peer)) /* the thread has not seen it yet */
		gnt_peer_drop_locked(gs, peer);
	else if (peer) {
		ret = -EEXIST;
		goto out;
	}
	ret = gnt_server_start_locked(gs);
	if (ret)
		goto out;
	if (ctx_fault(gs->ctx, UIOMMU_FAULT_MAP)) {
		ret = -ENOMEM;
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		ret = errno == EMFILE || errno == ENFILE ? -EMFILE : -ENOMEM;
		goto out;
	}
	/* The greeting waits in the socket until the peer attaches. */
	ret = send_msg(sv[0], &hello, sizeof(hello), &gs->table_fd, 1);
	if (ret) {
		ret = -ENOMEM;
		goto err_close;
	}
	ret = gnt_peer_add_locked(gs, domid, sv[0], &peer);
	if (ret)
		goto err_close;
	ev.data.u64 = peer->id;
	if (epoll_ctl(gs->epoll_fd, EPOLL_CTL_ADD, sv[0], &ev)) {
		ret = -ENOMEM;
		peer->fd = -1;
		gnt_peer_drop_locked(gs, peer);
		goto err_close;
	}
	*ret_fd = sv[1];
	goto out;

err_close:
	close(sv[0]);
	close(sv[1]);
out:
	pthread_mutex_unlock(&gs->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_gntshr_disconnect(struct uiommu_gntshr *gs, uint16_t domid)
{
	struct gnt_peer *peer;
	int ret = 0;

	pthread_mutex_lock(&gs->lock);
	peer = gnt_peer_find_locked(gs, domid);
	if (peer)
		gnt_peer_drop_locked(gs, peer);
	else
		ret = -ENOENT;
	pthread_mutex_unlock(&gs->lock);
	return ret;
}
