/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private state of grant tables (src/grant/). See uiommu/grant.h and
 * doc/design/grant.md.
 *
 * The granting side (struct uiommu_gntshr) owns: the shared table (a
 * memfd of v1 entries, written only here), a private record per reference
 * (struct gnt_ref: its state, the pool of the frame it grants, the
 * peer's active pins), the pools of shareable pages (struct gnt_pool, each
 * a memfd of its own), and one struct gnt_peer per connection with the
 * peer's maptrack. All of it is under gs->lock; the entry words the peer
 * can see change with Xen's compare-and-exchange protocol.
 *
 * The wire protocol between a struct gnt_peer (the granting side's thread)
 * and a struct gnt_conn (the mapping side) is fixed-size native-endian
 * messages on a SOCK_SEQPACKET socket: a header and up to GNT_WIRE_MAX_OPS
 * operations; memfds travel as SCM_RIGHTS.
 */
#ifndef UIOMMU_GRANT_PRIV_H
#define UIOMMU_GRANT_PRIV_H

#include <sys/types.h>

#include <uiommu/grant.h>

#include "../internal.h"

/* ---- wire protocol ---- */

#define GNT_WIRE_VERSION 1
/* Operations per message; also the most memfds one answer carries (SCM_MAX_FD is 253). */
#define GNT_WIRE_MAX_OPS 128

enum gnt_wire_op {
	GNT_WIRE_HELLO = 1, /* granting side -> peer, once, with the table's memfd */
	GNT_WIRE_MAP = 2,
	GNT_WIRE_UNMAP = 3,
};

struct gnt_wire_hdr {
	uint32_t op;
	uint32_t seq;	/* echoed in the answer */
	uint32_t count; /* operations that follow */
	uint32_t version;
};

struct gnt_wire_hello {
	uint16_t granter;    /* the table's domain */
	uint16_t peer;	     /* the domain this connection is for */
	uint32_t nr_entries; /* of the table (its memfd is at least nr_entries * 8 bytes) */
};

struct gnt_wire_map_req {
	uint32_t ref;
	uint32_t flags; /* UIOMMU_GNTMAP_* */
};

struct gnt_wire_map_rsp {
	int16_t status;	   /* UIOMMU_GNTST_* */
	uint16_t fd_index; /* into the answer's memfds */
	uint32_t handle;   /* the granting side's maptrack handle */
	uint64_t offset;   /* of the frame in that memfd */
};

struct gnt_wire_unmap_req {
	uint32_t handle;
};

struct gnt_wire_unmap_rsp {
	int16_t status;
	uint16_t pad;
};

#define GNT_WIRE_MAX_MSG (sizeof(struct gnt_wire_hdr) + \
			  GNT_WIRE_MAX_OPS * sizeof(struct gnt_wire_map_rsp))

/* ---- the granting side ---- */

enum gnt_ref_state {
	GNT_REF_FREE,	  /* on the free list */
	GNT_REF_RESERVED, /* in a batch from alloc_grant_references() */
	GNT_REF_CLAIMED,  /* the caller's; granted when pool is set */
	GNT_REF_PENDING,  /* access ends when the peer's pins drop to 0 */
};

struct gnt_pool;

struct gnt_ref {
	uint32_t next;	      /* free list or batch chain; UIOMMU_GRANT_INVALID_REF ends it */
	uint8_t state;	      /* enum gnt_ref_state */
	bool batch_head;      /* RESERVED: the head of its batch */
	uint32_t pin_ro;      /* the peer's read-only mappings */
	uint32_t pin_rw;      /* and read-write ones */
	struct gnt_pool *pool; /* the granted frame's pages, while granted or pending */
};

/* Pages for one domain, in a memfd of their own (mem_frames_alloc_shared()). */
struct gnt_pool {
	uint64_t hpa;	     /* first frame */
	unsigned int order;  /* of the frame run */
	uint32_t npages;
	uint16_t domid;
	bool writable;
	bool freed;	     /* the owner freed it: it goes when nrefs drops to 0 */
	int fd;
	char *hva;
	uint64_t nrefs;	     /* references granting its frames (granted or pending) */
	uint64_t npending;   /* of which pending */
	uint32_t *share_refs; /* uiommu_gntshr_share_pages(): its references */
	bool exported;	     /* its memfd went to a peer: sealed, and never reused */
};

/*
 * A freed pool's run, zeroed and uncharged, kept for the next allocation of
 * as many pages (mem_frames_park_shared()): a memfd, its mapping and its
 * hpas cost 7 system calls to make and destroy. Only runs whose memfd never
 * left the process (what it holds next, no peer can see), of at most
 * GNT_SPARE_MAX_PAGES pages; at most GNT_SPARES (the oldest goes first),
 * each holding a descriptor and no memory. A pool's memfd is sealed when it
 * first leaves (gnt_pool_export_locked()): until then it can be punched
 * and reused with either access, after that never.
 */
#define GNT_SPARES 8
#define GNT_SPARE_MAX_PAGES 32
struct gnt_spare {
	uint64_t hpa;
	char *hva;
	int fd;
	unsigned int order;
	uint32_t npages;
};

/*
 * A table of handles (Xen's maptrack; the mapping side's mappings): slots
 * of one size, each starting with the index of the next free one, reused
 * through a free list and grown by doubling. A handle is a slot's index;
 * each one in use is one UIOMMU_RES_GRANT_MAPS.
 */
struct gnt_handles {
	void *slots;
	uint32_t len;	/* slots allocated */
	uint32_t free;	/* first free slot, UIOMMU_GRANT_INVALID_HANDLE if none */
	uint64_t nused;
};

/* A new handle, or UIOMMU_GRANT_INVALID_HANDLE (the limit, or no memory). */
uint32_t gnt_handle_get(struct uiommu_ctx *ctx, struct gnt_handles *t, size_t slot_size);
void gnt_handle_put(struct uiommu_ctx *ctx, struct gnt_handles *t, size_t slot_size, uint32_t h);
void gnt_handles_init(struct gnt_handles *t);

/* Room for one more pointer in *@arr (@n used of *@cap), doubling. 0 or -ENOMEM. */
int gnt_grow(struct uiommu_ctx *ctx, void *arr, size_t n, size_t *cap);

/* One mapping a peer holds (Xen's maptrack entry). */
struct gnt_maptrack {
	uint32_t next_free; /* first: see struct gnt_handles */
	uint32_t ref;
	bool in_use;
	bool rw;
};

struct gnt_peer {
	uint16_t domid;
	int fd;		  /* our end */
	uint64_t id;	  /* never reused: the thread's epoll key */
	struct gnt_handles mt; /* of struct gnt_maptrack */
};

static inline struct gnt_maptrack *gnt_maptrack(const struct gnt_peer *peer, uint32_t h)
{
	return &((struct gnt_maptrack *)peer->mt.slots)[h];
}

struct uiommu_gntshr {
	struct uiommu_ctx *ctx;
	uint16_t domid;
	uint32_t nr_entries;
	pthread_mutex_t lock; /* everything below */

	struct uiommu_grant_entry_v1 *table;
	uint64_t table_hpa;
	unsigned int table_order;
	int table_fd;

	struct gnt_ref *refs;	 /* nr_entries */
	uint32_t free_head, free_tail; /* a FIFO, so that a freed reference is reused late */
	uint32_t nfree;
	uint64_t pending;

	struct gnt_pool **pools; /* sorted by hpa; edited in place (removal never fails) */
	size_t npools, pools_cap;
	struct gnt_spare spares[GNT_SPARES];
	unsigned int nspares;

	struct gnt_peer **peers;
	size_t npeers, peers_cap;
	uint64_t next_peer_id;

	/* The thread that answers peers (server.c). */
	pthread_t thread;
	bool thread_running;
	bool stopping;
	int epoll_fd; /* the peers' sockets and wake_fd */
	int wake_fd;  /* eventfd: stop */
};

/* gntshr.c: references and pools, under gs->lock */

/*
 * gnt_ref_pin_locked() - A peer of domain @domid maps @ref (@rw: writable):
 * Xen's map checks and GTF_reading / GTF_writing update. On success the
 * frame's pool and its offset in the pool's memfd. Return: a GNTST code.
 */
int gnt_ref_pin_locked(struct uiommu_gntshr *gs, uint16_t domid, uint32_t ref, bool rw,
		       struct gnt_pool **ret_pool, uint64_t *ret_offset);
/*
 * gnt_pool_export_locked() - @p's memfd is about to go to a peer: seal it
 * (F_SEAL_SEAL, and F_SEAL_FUTURE_WRITE for read-only pages) and mark it
 * never to be reused. 0, or the negative errno of the seal (not handed out).
 */
int gnt_pool_export_locked(struct uiommu_gntshr *gs, struct gnt_pool *p);
/* Drop one pin; clears the flags with the last one, completes a pending end. */
void gnt_ref_unpin_locked(struct uiommu_gntshr *gs, uint32_t ref, bool rw);

/* server.c */
int gnt_server_start_locked(struct uiommu_gntshr *gs);
void gnt_server_stop(struct uiommu_gntshr *gs);
struct gnt_peer *gnt_peer_find_locked(struct uiommu_gntshr *gs, uint16_t domid);
/* Drop every mapping of @peer, close its socket, free it. */
void gnt_peer_drop_locked(struct uiommu_gntshr *gs, struct gnt_peer *peer);

/*
 * An answer being built: the message and the pools whose memfds go with
 * it. gnt_peer_handle_locked() fills it from one request; -EPROTO means
 * the request was malformed (the caller disconnects the peer).
 */
struct gnt_answer {
	union {
		struct gnt_wire_hdr hdr;
		char bytes[GNT_WIRE_MAX_MSG];
	} msg;
	size_t len;
	struct gnt_pool *pools[GNT_WIRE_MAX_OPS];
	unsigned int npools;
};
int gnt_peer_handle_locked(struct uiommu_gntshr *gs, struct gnt_peer *peer, const void *req,
			   size_t len, struct gnt_answer *ans);

/*
 * The loopback transport, for a mapper and a granter in one process (the
 * fuzz driver; tests): grant_loopback() makes each live connection of @gt
 * to @gs call gnt_peer_handle_locked() in the caller's thread, under
 * gt->lock then gs->lock, with dup()s of the memfds an answer names, where
 * the socket would carry the request to @gs's thread and the descriptors
 * back. Everything else is as over the socket: the connection is still the
 * socket's (hang-ups, disconnects, attach), and a disconnected peer answers
 * as a hung-up socket. 0, or -ENOENT: no connection to @gs.
 * gnt_loopback_call() is one such call: the answer's length, or
 * -ECONNRESET (peer gone or dropped), -EPROTO (too long for @rsp_len or
 * @max_fds).
 */
int grant_loopback(struct uiommu_gnttab *gt, struct uiommu_gntshr *gs);
ssize_t gnt_loopback_call(struct uiommu_gntshr *gs, uint64_t peer_id, const void *req,
			  size_t len, void *rsp, size_t rsp_len, int *fds, unsigned int max_fds,
			  unsigned int *ret_nfds);
bool gnt_peer_id_locked(struct uiommu_gntshr *gs, uint16_t domid, uint64_t *ret_id);

/*
 * For the wire fuzz driver: a peer without a socket (fd -1), registered
 * with @gs as a connection is; freed by gnt_peer_drop_locked().
 */
int gnt_peer_add_locked(struct uiommu_gntshr *gs, uint16_t domid, int fd,
			struct gnt_peer **ret_peer);

#endif /* UIOMMU_GRANT_PRIV_H */
