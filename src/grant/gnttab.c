// SPDX-License-Identifier: BSD-3-Clause
/*
 * The mapping side of grant tables: libxengnttab's handle (map and unmap
 * grant references) over connections to granting domains, with the
 * per-operation semantics of Xen's GNTTABOP_map_grant_ref and
 * GNTTABOP_unmap_grant_ref as Linux gnttab_map_refs() issues them, and
 * libxengnttab's all-or-nothing contiguous mappings on top.
 *
 * The granting side is not trusted either (a backend that allocates a
 * buffer grants to its frontend): every answer is checked whole, memfds
 * are mapped only if they are sealed against shrinking (a peer that could
 * truncate them could make our accesses fault) and large enough, and a
 * peer that does not answer within the handle's timeout is treated as
 * gone.
 */
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grant.h"

#define PAGE UIOMMU_GRANT_PAGE_SIZE
#define DEFAULT_TIMEOUT_MS 10000

/* A connection to one granting domain. */
struct gnt_conn {
	uint16_t granter;
	uint16_t self;
	int fd; /* -1 once dead */
	uint32_t seq;
	uint32_t nr_entries;
	const struct uiommu_grant_entry_v1 *table;
	size_t table_len;
	uint64_t nmaps; /* mappings made through it: a dead connection stays until 0 */
	struct uiommu_gntshr *loop_gs; /* grant_loopback(): calls go straight to it */
	uint64_t loop_peer_id;
};

enum map_kind {
	KIND_CHOSEN, /* at an address the library chose: munmap */
	KIND_CALLER, /* at the caller's address: leave an inaccessible page */
	KIND_RANGE,  /* part of a uiommu_gnttab_map_grant_refs() range */
};

/* One mapping; its index is the handle (struct gnt_handles). */
struct gnt_mapping {
	uint32_t next_free;
	uint32_t server_handle;
	struct gnt_conn *conn; /* NULL: a free slot */
	void *addr;
	uint8_t kind;
	bool unmapping; /* in an unmap call already (a handle given twice) */
};

/* A uiommu_gnttab_map_grant_refs() mapping. */
struct gnt_range {
	char *addr;
	uint32_t count;
	uint32_t *handles;
};

struct uiommu_gnttab {
	struct uiommu_ctx *ctx;
	pthread_mutex_t lock; /* everything below; held across a request and its answer */
	int timeout_ms;
	struct gnt_conn **conns;
	size_t nconns, conns_cap;
	struct gnt_handles maps; /* of struct gnt_mapping */
	struct gnt_range **ranges;
	size_t nranges, ranges_cap;
};

/* ---- connections ---- */

static struct gnt_conn *conn_find_locked(struct uiommu_gnttab *gt, uint16_t domid)
{
	for (size_t i = 0; i < gt->nconns; i++)
		if (gt->conns[i]->fd >= 0 && gt->conns[i]->granter == domid)
			return gt->conns[i];
	return NULL;
}

static void conn_free_locked(struct uiommu_gnttab *gt, struct gnt_conn *c)
{
	size_t i;

	for (i = 0; gt->conns[i] != c; i++)
		;
	gt->conns[i] = gt->conns[--gt->nconns];
	munmap((void *)c->table, c->table_len);
	ctx_free(gt->ctx, c);
}

/* The peer is gone, hung or hostile: close, and free once no mapping needs it. */
static void conn_kill_locked(struct uiommu_gnttab *gt, struct gnt_conn *c, const char *why)
{
	if (c->fd >= 0) {
		ctx_warn(gt->ctx, "grant: connection to domain %u closed: %s", c->granter, why);
		close(c->fd);
		c->fd = -1;
		ctx_uncharge(gt->ctx, UIOMMU_RES_GRANT_PEERS, 1);
	}
	if (!c->nmaps)
		conn_free_locked(gt, c);
}

/* Has the granting side closed its end (or said something unasked)? */
static bool conn_hung_up(const struct gnt_conn *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN | POLLRDHUP };

	return poll(&pfd, 1, 0) == 1;
}

static void close_fds(const int *fds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		close(fds[i]);
}

/* Receive one message and its descriptors; -ETIMEDOUT, -ECONNRESET, -EPROTO. */
static ssize_t recv_msg(int fd, int timeout_ms, void *buf, size_t len, int *fds,
			unsigned int max_fds, unsigned int *ret_nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * GNT_WIRE_MAX_OPS)];
	} cbuf;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			      .msg_controllen = CMSG_SPACE(sizeof(int) * max_fds) };
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	unsigned int nfds = 0;
	ssize_t n;
	int r;

	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return -ETIMEDOUT;
	do
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -ECONNRESET;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (nfds < max_fds)
				fds[nfds++] = f;
			else
				close(f);
		}
	}
	*ret_nfds = nfds;
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		close_fds(fds, nfds);
		return -EPROTO;
	}
	return n;
}

/*
 * One request and its answer on @c: @count operations of @op_size bytes
 * out, @count of @rsp_size bytes back (and up to @max_fds memfds).
 * 0, or a negative errno with @c killed.
 */
static int conn_call_locked(struct uiommu_gnttab *gt, struct gnt_conn *c, uint32_t op,
			    const void *ops, size_t op_size, void *rsps, size_t rsp_size,
			    uint32_t count, int *fds, unsigned int max_fds, unsigned int *ret_nfds)
{
	union {
		struct gnt_wire_hdr hdr;
		char bytes[GNT_WIRE_MAX_MSG];
	} m;
	struct gnt_wire_hdr hdr = { .op = op, .seq = ++c->seq, .count = count,
				    .version = GNT_WIRE_VERSION };
	size_t len = sizeof(hdr) + count * op_size;
	unsigned int nfds = 0;
	ssize_t n;

	memcpy(m.bytes, &hdr, sizeof(hdr));
	memcpy(m.bytes + sizeof(hdr), ops, count * op_size);
	if (c->loop_gs) {
		n = gnt_loopback_call(c->loop_gs, c->loop_peer_id, m.bytes, len, m.bytes,
				      sizeof(m.bytes), fds, max_fds, &nfds);
		if (n < 0) {
			conn_kill_locked(gt, c, n == -EPROTO ? "an oversized answer" : "the peer hung up");
			return (int)n;
		}
		goto answer;
	}
	/* One request at a time: its answer always finds room, so never block. */
	if (send(c->fd, m.bytes, len, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)len) {
		conn_kill_locked(gt, c, "the peer does not take requests");
		return -ECONNRESET;
	}
	n = recv_msg(c->fd, gt->timeout_ms, m.bytes, sizeof(m.bytes), fds, max_fds, &nfds);
	if (n < 0) {
		conn_kill_locked(gt, c, n == -ETIMEDOUT ? "no answer in time" : "the peer hung up");
		return (int)n;
	}
answer:
	memcpy(&hdr, m.bytes, (size_t)n < sizeof(hdr) ? (size_t)n : sizeof(hdr));
	if ((size_t)n != sizeof(hdr) + count * rsp_size || hdr.op != op || hdr.seq != c->seq ||
	    hdr.count != count || hdr.version != GNT_WIRE_VERSION) {
		close_fds(fds, nfds);
		conn_kill_locked(gt, c, "a malformed answer");
		return -EPROTO;
	}
	memcpy(rsps, m.bytes + sizeof(hdr), count * rsp_size);
	*ret_nfds = nfds;
	return 0;
}

/* ---- mappings ---- */

/* The mapping of handle @h. */
static struct gnt_mapping *mapping(const struct uiommu_gnttab *gt, uint32_t h)
{
	return &((struct gnt_mapping *)gt->maps.slots)[h];
}

static void mapping_put_locked(struct uiommu_gnttab *gt, uint32_t h)
{
	struct gnt_conn *c = mapping(gt, h)->conn;

	gnt_handle_put(gt->ctx, &gt->maps, sizeof(struct gnt_mapping), h);
	if (c && !--c->nmaps && c->fd < 0)
		conn_free_locked(gt, c);
}

static bool is_mapping(const struct uiommu_gnttab *gt, uint32_t h)
{
	return h < gt->maps.len && mapping(gt, h)->conn && !mapping(gt, h)->unmapping;
}

/* Take the frame's page out of our address space. */
static void unmap_local(const struct gnt_mapping *m)
{
	if (m->kind == KIND_CHOSEN)
		munmap(m->addr, PAGE);
	else if (m->kind == KIND_CALLER)
		mmap(m->addr, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
		     -1, 0);
	/* KIND_RANGE: the range's owner unmaps it whole. */
}

/*
 * Tell the granting sides that mappings @handles (already unmapped here)
 * are gone, and free them. @status, if not NULL, gets each one's status:
 * the peer's, or OKAY when the peer is gone (the local unmap is done).
 */
static void mappings_release_locked(struct uiommu_gnttab *gt, const uint32_t *handles,
				    uint32_t n, int16_t *status)
{
	for (uint32_t i = 0; i < n;) {
		struct gnt_conn *c = mapping(gt, handles[i])->conn;
		struct gnt_wire_unmap_req req[GNT_WIRE_MAX_OPS];
		struct gnt_wire_unmap_rsp rsp[GNT_WIRE_MAX_OPS];
		uint32_t idx[GNT_WIRE_MAX_OPS], k = 0;
		unsigned int nfds = 0;
		int fds[1];

		/* Up to GNT_WIRE_MAX_OPS of the following handles of the same connection. */
		for (uint32_t j = i; j < n && k < GNT_WIRE_MAX_OPS; j++) {
			if (mapping(gt, handles[j])->conn != c || (j > i && idx[k - 1] + 1 != j))
				break;
			req[k].handle = mapping(gt, handles[j])->server_handle;
			idx[k++] = j;
		}
		if (c->fd >= 0 &&
		    !conn_call_locked(gt, c, GNT_WIRE_UNMAP, req, sizeof(req[0]), rsp, sizeof(rsp[0]),
				      k, fds, 0, &nfds)) {
			for (uint32_t j = 0; j < k; j++)
				if (status)
					status[idx[j]] = rsp[j].status;
		} else if (status) {
			for (uint32_t j = 0; j < k; j++)
				status[idx[j]] = UIOMMU_GNTST_OKAY;
		}
		for (uint32_t j = 0; j < k; j++)
			mapping_put_locked(gt, handles[idx[j]]);
		i += k;
	}
}

/* What a peer's memfd allows us: checked once per answer, not trusted otherwise. */
struct memfd_info {
	bool ok;       /* sealed against shrinking and growing: it cannot fault under us */
	bool writable; /* not sealed against writes */
	uint64_t size;
};

static struct memfd_info memfd_info(int fd)
{
	struct memfd_info fi = { 0 };
	int seals = fcntl(fd, F_GET_SEALS);
	struct stat st;

	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW) ||
	    fstat(fd, &st) || !S_ISREG(st.st_mode))
		return fi;
	fi.ok = true;
	fi.writable = !(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE));
	fi.size = (uint64_t)st.st_size;
	return fi;
}

/* Can [@offset, +@len) of that memfd be mapped, writable if @rw? */
static bool memfd_allows(const struct memfd_info *fi, uint64_t offset, uint64_t len, bool rw)
{
	return fi->ok && (fi->writable || !rw) && offset % PAGE == 0 && fi->size >= len &&
	       offset <= fi->size - len;
}

/* Do the answers for ops j and j + 1 continue one mapping? */
static bool continues(const struct uiommu_gnttab_map_op *a, const struct gnt_wire_map_rsp *ra,
		      const struct uiommu_gnttab_map_op *b, const struct gnt_wire_map_rsp *rb)
{
	return a->host_addr && rb->status == UIOMMU_GNTST_OKAY && rb->fd_index == ra->fd_index &&
	       rb->offset == ra->offset + PAGE &&
	       b->host_addr == (char *)a->host_addr + PAGE &&
	       (a->flags & UIOMMU_GNTMAP_READONLY) == (b->flags & UIOMMU_GNTMAP_READONLY);
}

/*
 * Map the frames the granting side answered for ops @idx[0..k) (all on
 * one connection), one mmap for each run of neighbours. An op whose frame
 * cannot be mapped gets GENERAL_ERROR and its server handle goes into
 * @undo, for the caller to release.
 */
static void map_answered(struct uiommu_gnttab *gt, struct uiommu_gnttab_map_op *ops,
			 const uint32_t *idx, const struct gnt_wire_map_rsp *rsp, uint32_t k,
			 const int *fds, unsigned int nfds, uint32_t *undo, uint32_t *nundo)
{
	struct memfd_info fi[GNT_WIRE_MAX_OPS];

	for (unsigned int f = 0; f < nfds; f++)
		fi[f] = memfd_info(fds[f]);
	for (uint32_t j = 0; j < k;) {
		struct uiommu_gnttab_map_op *op = &ops[idx[j]];
		bool rw = !(op->flags & UIOMMU_GNTMAP_READONLY);
		uint32_t run = 1;
		char *addr = MAP_FAILED;

		if (rsp[j].status != UIOMMU_GNTST_OKAY) {
			op->status = rsp[j].status;
			j++;
			continue;
		}
		while (j + run < k && continues(&ops[idx[j + run - 1]], &rsp[j + run - 1],
						&ops[idx[j + run]], &rsp[j + run]))
			run++;
		if (rsp[j].fd_index < nfds &&
		    memfd_allows(&fi[rsp[j].fd_index], rsp[j].offset, (uint64_t)run * PAGE, rw) &&
		    !ctx_fault(gt->ctx, UIOMMU_FAULT_MAP))
			addr = mmap(op->host_addr, (size_t)run * PAGE, PROT_READ | (rw ? PROT_WRITE : 0),
				    MAP_SHARED | (op->host_addr ? MAP_FIXED : 0), fds[rsp[j].fd_index],
				    (off_t)rsp[j].offset);
		for (uint32_t r = 0; r < run; r++) {
			struct uiommu_gnttab_map_op *o = &ops[idx[j + r]];

			if (addr == MAP_FAILED) {
				if (o->host_addr) /* a failed MAP_FIXED may have unmapped it */
					mmap(o->host_addr, PAGE, PROT_NONE,
					     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
					     -1, 0);
				o->status = UIOMMU_GNTST_GENERAL_ERROR;
				undo[(*nundo)++] = rsp[j + r].handle;
				continue;
			}
			o->status = UIOMMU_GNTST_OKAY;
			o->host_addr = addr + (size_t)r * PAGE;
			mapping(gt, o->handle)->addr = o->host_addr;
			mapping(gt, o->handle)->server_handle = rsp[j + r].handle;
		}
		j += run;
	}
}

/* Map ops @idx[0..k), all on live connection @c, k <= GNT_WIRE_MAX_OPS. */
static void map_chunk_locked(struct uiommu_gnttab *gt, struct gnt_conn *c,
			     struct uiommu_gnttab_map_op *ops, const uint32_t *idx, uint32_t k)
{
	struct gnt_wire_map_req req[GNT_WIRE_MAX_OPS] = { 0 };
	struct gnt_wire_map_rsp rsp[GNT_WIRE_MAX_OPS];
	uint32_t undo[GNT_WIRE_MAX_OPS], nundo = 0;
	int fds[GNT_WIRE_MAX_OPS];
	unsigned int nfds = 0;

	for (uint32_t j = 0; j < k; j++)
		req[j] = (struct gnt_wire_map_req){ .ref = ops[idx[j]].ref,
						    .flags = ops[idx[j]].flags };
	if (conn_call_locked(gt, c, GNT_WIRE_MAP, req, sizeof(req[0]), rsp, sizeof(rsp[0]), k, fds,
			     GNT_WIRE_MAX_OPS, &nfds)) {
		for (uint32_t j = 0; j < k; j++)
			ops[idx[j]].status = UIOMMU_GNTST_BAD_DOMAIN;
		return;
	}
	map_answered(gt, ops, idx, rsp, k, fds, nfds, undo, &nundo);
	close_fds(fds, nfds);
	/* Frames the peer granted but we could not map: let it know at once. */
	if (nundo && c->fd >= 0) {
		struct gnt_wire_unmap_req ureq[GNT_WIRE_MAX_OPS];
		struct gnt_wire_unmap_rsp ursp[GNT_WIRE_MAX_OPS];

		for (uint32_t j = 0; j < nundo; j++)
			ureq[j].handle = undo[j];
		conn_call_locked(gt, c, GNT_WIRE_UNMAP, ureq, sizeof(ureq[0]), ursp, sizeof(ursp[0]),
				 nundo, fds, 0, &nfds);
	}
}

/* An op checked here and waiting to be sent (not a GNTST code). */
#define STATUS_QUEUED INT16_MIN

/* Map @ops; @idx is scratch space for @count indexes. */
static void map_refs_locked(struct uiommu_gnttab *gt, struct uiommu_gnttab_map_op *ops,
			    uint32_t count, uint8_t kind, uint32_t *idx)
{
	uint32_t todo = 0, first = 0;

	/* Local checks, and a handle for every op that goes to a peer. */
	for (uint32_t i = 0; i < count; i++) {
		struct uiommu_gnttab_map_op *op = &ops[i];
		struct gnt_conn *c;

		op->handle = UIOMMU_GRANT_INVALID_HANDLE;
		if ((uintptr_t)op->host_addr % PAGE) {
			op->status = UIOMMU_GNTST_BAD_VIRT_ADDR;
			continue;
		}
		c = conn_find_locked(gt, op->dom);
		if (!c) {
			op->status = UIOMMU_GNTST_BAD_DOMAIN;
			continue;
		}
		op->handle = gnt_handle_get(gt->ctx, &gt->maps, sizeof(struct gnt_mapping));
		if (op->handle == UIOMMU_GRANT_INVALID_HANDLE) {
			ctx_warn(gt->ctx, "grant: mapping refused by the grant_maps limit");
			op->status = UIOMMU_GNTST_NO_SPACE;
			continue;
		}
		*mapping(gt, op->handle) = (struct gnt_mapping){
			.conn = c, .kind = op->host_addr ? kind : KIND_CHOSEN };
		c->nmaps++;
		op->status = STATUS_QUEUED;
		idx[todo++] = i;
	}
	/*
	 * Requests of up to GNT_WIRE_MAX_OPS ops, each to one connection, ops
	 * in their order (so that neighbours merge).
	 */
	for (;;) {
		uint32_t chunk[GNT_WIRE_MAX_OPS], k = 0;
		struct gnt_conn *c;

		while (first < todo && ops[idx[first]].status != STATUS_QUEUED)
			first++;
		if (first == todo)
			break;
		c = mapping(gt, ops[idx[first]].handle)->conn;
		for (uint32_t j = first; j < todo && k < GNT_WIRE_MAX_OPS; j++) {
			struct uiommu_gnttab_map_op *op = &ops[idx[j]];

			if (op->status == STATUS_QUEUED && mapping(gt, op->handle)->conn == c) {
				op->status = UIOMMU_GNTST_BAD_DOMAIN; /* unless answered */
				chunk[k++] = idx[j];
			}
		}
		if (c->fd >= 0)
			map_chunk_locked(gt, c, ops, chunk, k);
	}
	for (uint32_t i = 0; i < todo; i++) {
		struct uiommu_gnttab_map_op *op = &ops[idx[i]];

		if (op->status != UIOMMU_GNTST_OKAY) {
			mapping_put_locked(gt, op->handle);
			op->handle = UIOMMU_GRANT_INVALID_HANDLE;
		}
	}
}

/* ---- public ---- */

UIOMMU_EXPORT int uiommu_gnttab_open(struct uiommu_ctx *ctx, struct uiommu_gnttab **ret_gt)
{
	struct uiommu_gnttab *gt;
	int ret;

	if (!ctx || !ret_gt)
		return -EINVAL;
	ret = ctx_charge(ctx, UIOMMU_RES_GRANT_TABLES, 1);
	if (ret)
		return ret;
	gt = ctx_alloc(ctx, sizeof(*gt));
	if (!gt) {
		ctx_uncharge(ctx, UIOMMU_RES_GRANT_TABLES, 1);
		return -ENOMEM;
	}
	gt->ctx = ctx;
	gt->timeout_ms = DEFAULT_TIMEOUT_MS;
	gnt_handles_init(&gt->maps);
	pthread_mutex_init(&gt->lock, NULL);
	*ret_gt = gt;
	return 0;
}

static void range_free_locked(struct uiommu_gnttab *gt, size_t i)
{
	struct gnt_range *r = gt->ranges[i];

	munmap(r->addr, (size_t)r->count * PAGE);
	mappings_release_locked(gt, r->handles, r->count, NULL);
	gt->ranges[i] = gt->ranges[--gt->nranges];
	ctx_free(gt->ctx, r->handles);
	ctx_free(gt->ctx, r);
}

UIOMMU_EXPORT int uiommu_gnttab_close(struct uiommu_gnttab *gt)
{
	struct uiommu_ctx *ctx;

	if (!gt)
		return 0;
	ctx = gt->ctx;
	pthread_mutex_lock(&gt->lock);
	while (gt->nranges)
		range_free_locked(gt, gt->nranges - 1);
	for (uint32_t h = 0; h < gt->maps.len; h++) {
		if (!mapping(gt, h)->conn)
			continue;
		unmap_local(mapping(gt, h));
		mappings_release_locked(gt, &h, 1, NULL);
	}
	while (gt->nconns)
		conn_kill_locked(gt, gt->conns[0], "the handle is closed");
	pthread_mutex_unlock(&gt->lock);
	pthread_mutex_destroy(&gt->lock);
	ctx_free(ctx, gt->maps.slots);
	ctx_free(ctx, gt->conns);
	ctx_free(ctx, gt->ranges);
	ctx_free(ctx, gt);
	ctx_uncharge(ctx, UIOMMU_RES_GRANT_TABLES, 1);
	return 0;
}

struct uiommu_ctx *grant_gnttab_ctx(const struct uiommu_gnttab *gt)
{
	return gt->ctx;
}

UIOMMU_EXPORT int uiommu_gnttab_set_timeout(struct uiommu_gnttab *gt, int timeout_ms)
{
	if (timeout_ms < -1)
		return -EINVAL;
	pthread_mutex_lock(&gt->lock);
	gt->timeout_ms = timeout_ms;
	pthread_mutex_unlock(&gt->lock);
	return 0;
}

UIOMMU_EXPORT int uiommu_gnttab_attach(struct uiommu_gnttab *gt, int fd, uint16_t *ret_domid)
{
	struct {
		struct gnt_wire_hdr hdr;
		struct gnt_wire_hello hello;
	} m;
	struct gnt_conn *c = NULL;
	struct memfd_info fi;
	unsigned int nfds = 0;
	int table_fd = -1, type, timeout_ms, ret;
	socklen_t tl = sizeof(type);
	size_t table_len;
	void *table;
	ssize_t n;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl)) {
		if (errno != EBADF)
			close(fd);
		return -EBADF;
	}
	/* The greeting is waited for without the handle's lock: others may go on. */
	pthread_mutex_lock(&gt->lock);
	timeout_ms = gt->timeout_ms;
	pthread_mutex_unlock(&gt->lock);
	n = recv_msg(fd, timeout_ms, &m, sizeof(m), &table_fd, 1, &nfds);
	pthread_mutex_lock(&gt->lock);
	if (n < 0) {
		ret = n == -ETIMEDOUT ? -ETIMEDOUT : -EPROTO;
		goto err;
	}
	if ((size_t)n != sizeof(m) || nfds != 1 || m.hdr.op != GNT_WIRE_HELLO || m.hdr.count != 1 ||
	    m.hdr.version != GNT_WIRE_VERSION ||
	    m.hello.nr_entries <= UIOMMU_GNTTAB_NR_RESERVED_ENTRIES ||
	    m.hello.nr_entries > UIOMMU_GNTTAB_MAX_ENTRIES) {
		ret = -EPROTO;
		goto err;
	}
	table_len = ((size_t)m.hello.nr_entries * sizeof(struct uiommu_grant_entry_v1) + PAGE - 1) &
		    ~(size_t)(PAGE - 1);
	fi = memfd_info(table_fd);
	if (!memfd_allows(&fi, 0, table_len, false)) {
		ret = -EPROTO;
		goto err;
	}
	c = conn_find_locked(gt, m.hello.granter);
	if (c && conn_hung_up(c)) {
		conn_kill_locked(gt, c, "the peer hung up");
	} else if (c) {
		c = NULL;
		ret = -EEXIST;
		goto err;
	}
	c = NULL;
	ret = gnt_grow(gt->ctx, &gt->conns, gt->nconns, &gt->conns_cap);
	if (ret)
		goto err;
	ret = ctx_charge(gt->ctx, UIOMMU_RES_GRANT_PEERS, 1);
	if (ret)
		goto err;
	c = ctx_alloc(gt->ctx, sizeof(*c));
	table = ctx_fault(gt->ctx, UIOMMU_FAULT_MAP) ? MAP_FAILED
		: mmap(NULL, table_len, PROT_READ, MAP_SHARED, table_fd, 0);
	if (!c || table == MAP_FAILED) {
		ctx_free(gt->ctx, c);
		ctx_uncharge(gt->ctx, UIOMMU_RES_GRANT_PEERS, 1);
		ret = -ENOMEM;
		goto err;
	}
	close(table_fd);
	c->granter = m.hello.granter;
	c->self = m.hello.peer;
	c->fd = fd;
	c->nr_entries = m.hello.nr_entries;
	c->table = table;
	c->table_len = table_len;
	gt->conns[gt->nconns++] = c;
	pthread_mutex_unlock(&gt->lock);
	if (ret_domid)
		*ret_domid = c->granter;
	return 0;

err:
	pthread_mutex_unlock(&gt->lock);
	if (table_fd >= 0)
		close(table_fd);
	close(fd);
	return ret;
}

int grant_loopback(struct uiommu_gnttab *gt, struct uiommu_gntshr *gs)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&gt->lock);
	pthread_mutex_lock(&gs->lock); /* the order of every call */
	for (size_t i = 0; i < gt->nconns; i++) {
		struct gnt_conn *c = gt->conns[i];

		if (c->fd >= 0 && c->granter == gs->domid &&
		    gnt_peer_id_locked(gs, c->self, &c->loop_peer_id)) {
			c->loop_gs = gs;
			ret = 0;
		}
	}
	pthread_mutex_unlock(&gs->lock);
	pthread_mutex_unlock(&gt->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_gnttab_read_entry(struct uiommu_gnttab *gt, uint16_t domid,
					   uint32_t ref, struct uiommu_grant_entry_v1 *ret_entry)
{
	struct gnt_conn *c;
	int ret = 0;

	if (!ret_entry)
		return -EINVAL;
	pthread_mutex_lock(&gt->lock);
	c = conn_find_locked(gt, domid);
	if (!c) {
		ret = -ENOENT;
	} else if (ref >= c->nr_entries) {
		ret = -ERANGE;
	} else {
		/* The peer changes it under us: one load for flags and domid, one for the frame. */
		uint32_t word = atomic_load_explicit((_Atomic uint32_t *)(void *)&c->table[ref],
						     memory_order_acquire);
		uint32_t frame = atomic_load_explicit(
			(_Atomic uint32_t *)(void *)&c->table[ref].frame, memory_order_relaxed);

		memcpy(ret_entry, &word, sizeof(word));
		ret_entry->frame = frame;
	}
	pthread_mutex_unlock(&gt->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_gnttab_map_refs(struct uiommu_gnttab *gt,
					 struct uiommu_gnttab_map_op *ops, uint32_t count)
{
	uint32_t *idx;

	if (!count)
		return 0;
	if (!ops)
		return -EINVAL;
	idx = ctx_alloc_array(gt->ctx, count, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	pthread_mutex_lock(&gt->lock);
	map_refs_locked(gt, ops, count, KIND_CALLER, idx);
	pthread_mutex_unlock(&gt->lock);
	ctx_free(gt->ctx, idx);
	return 0;
}

/*
 * Take mappings @handles[0..n) out of our address space, one call for each
 * run of neighbours at the caller's addresses (a buffer's pages, usually).
 */
static void unmap_local_batch(struct uiommu_gnttab *gt, const uint32_t *handles, uint32_t n)
{
	for (uint32_t i = 0; i < n;) {
		const struct gnt_mapping *m = mapping(gt, handles[i]);
		uint32_t run = 1;

		while (m->kind == KIND_CALLER && i + run < n &&
		       mapping(gt, handles[i + run])->kind == KIND_CALLER &&
		       mapping(gt, handles[i + run])->addr == (char *)m->addr + (size_t)run * PAGE)
			run++;
		if (run == 1)
			unmap_local(m);
		else
			mmap(m->addr, (size_t)run * PAGE, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
		i += run;
	}
}

UIOMMU_EXPORT int uiommu_gnttab_unmap_refs(struct uiommu_gnttab *gt,
					   struct uiommu_gnttab_unmap_op *ops, uint32_t count)
{
	uint32_t *handles, *idx, n = 0;
	int16_t *status;

	if (!count)
		return 0;
	if (!ops)
		return -EINVAL;
	/* Room to do it in batches; one by one without it. */
	handles = ctx_alloc_array(gt->ctx, count, 2 * sizeof(uint32_t) + sizeof(int16_t));
	idx = handles ? handles + count : NULL;
	status = handles ? (int16_t *)(void *)(idx + count) : NULL;
	pthread_mutex_lock(&gt->lock);
	for (uint32_t i = 0; i < count; i++) {
		struct uiommu_gnttab_unmap_op *op = &ops[i];
		uint32_t h = op->handle;

		if (!is_mapping(gt, h) || mapping(gt, h)->kind == KIND_RANGE) {
			op->status = UIOMMU_GNTST_BAD_HANDLE;
			continue;
		}
		if (op->host_addr && op->host_addr != mapping(gt, h)->addr) {
			op->status = UIOMMU_GNTST_BAD_VIRT_ADDR;
			continue;
		}
		if (!handles) {
			unmap_local(mapping(gt, h));
			mappings_release_locked(gt, &h, 1, &op->status);
			continue;
		}
		mapping(gt, h)->unmapping = true;
		handles[n] = h;
		idx[n++] = i;
	}
	unmap_local_batch(gt, handles, n);
	if (n)
		mappings_release_locked(gt, handles, n, status);
	for (uint32_t j = 0; j < n; j++)
		ops[idx[j]].status = status[j];
	pthread_mutex_unlock(&gt->lock);
	ctx_free(gt->ctx, handles);
	return 0;
}

UIOMMU_EXPORT int uiommu_gnttab_map_grant_refs(struct uiommu_gnttab *gt, uint32_t count,
					       const uint16_t *domids, const uint32_t *refs,
					       int prot, int16_t *ret_status, void **ret_addr)
{
	struct uiommu_gnttab_map_op *ops = NULL;
	struct gnt_range *r = NULL;
	uint32_t *idx = NULL, nok = 0;
	size_t len;
	char *base;
	int ret = 0;

	if (!count || !domids || !refs || !ret_addr ||
	    (prot != PROT_READ && prot != (PROT_READ | PROT_WRITE)) ||
	    __builtin_mul_overflow((size_t)count, (size_t)PAGE, &len))
		return -EINVAL;
	if (ctx_fault(gt->ctx, UIOMMU_FAULT_MAP))
		return -ENOMEM;
	base = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return -ENOMEM;
	ops = ctx_alloc_array(gt->ctx, count, sizeof(*ops));
	idx = ctx_alloc_array(gt->ctx, count, sizeof(*idx));
	r = ctx_alloc(gt->ctx, sizeof(*r));
	if (r)
		r->handles = ctx_alloc_array(gt->ctx, count, sizeof(uint32_t));
	if (!ops || !idx || !r || !r->handles) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < count; i++)
		ops[i] = (struct uiommu_gnttab_map_op){
			.host_addr = base + (size_t)i * PAGE, .ref = refs[i], .dom = domids[i],
			.flags = UIOMMU_GNTMAP_HOST_MAP |
				 (prot & PROT_WRITE ? 0 : UIOMMU_GNTMAP_READONLY) };
	pthread_mutex_lock(&gt->lock);
	map_refs_locked(gt, ops, count, KIND_RANGE, idx);
	for (uint32_t i = 0; i < count; i++) {
		if (ret_status)
			ret_status[i] = ops[i].status;
		if (ops[i].status == UIOMMU_GNTST_OKAY)
			r->handles[nok++] = ops[i].handle;
	}
	if (nok == count)
		ret = gnt_grow(gt->ctx, &gt->ranges, gt->nranges, &gt->ranges_cap);
	else
		ret = -ENXIO;
	if (ret) {
		/* All or nothing: the range goes whole below. */
		mappings_release_locked(gt, r->handles, nok, NULL);
	} else {
		r->addr = base;
		r->count = count;
		gt->ranges[gt->nranges++] = r;
		r = NULL;
		*ret_addr = base;
	}
	pthread_mutex_unlock(&gt->lock);
out:
	if (ret)
		munmap(base, len);
	if (r)
		ctx_free(gt->ctx, r->handles);
	ctx_free(gt->ctx, r);
	ctx_free(gt->ctx, idx);
	ctx_free(gt->ctx, ops);
	return ret;
}

UIOMMU_EXPORT int uiommu_gnttab_map_domain_grant_refs(struct uiommu_gnttab *gt, uint32_t count,
						      uint16_t domid, const uint32_t *refs,
						      int prot, int16_t *ret_status,
						      void **ret_addr)
{
	uint16_t *domids;
	int ret;

	if (!count)
		return -EINVAL;
	domids = ctx_alloc_array(gt->ctx, count, sizeof(*domids));
	if (!domids)
		return -ENOMEM;
	for (uint32_t i = 0; i < count; i++)
		domids[i] = domid;
	ret = uiommu_gnttab_map_grant_refs(gt, count, domids, refs, prot, ret_status, ret_addr);
	ctx_free(gt->ctx, domids);
	return ret;
}

UIOMMU_EXPORT int uiommu_gnttab_unmap(struct uiommu_gnttab *gt, void *start_address,
				      uint32_t count)
{
	int ret = -EINVAL;

	pthread_mutex_lock(&gt->lock);
	for (size_t i = 0; i < gt->nranges; i++) {
		if (gt->ranges[i]->addr == start_address && gt->ranges[i]->count == count) {
			range_free_locked(gt, i);
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&gt->lock);
	return ret;
}
