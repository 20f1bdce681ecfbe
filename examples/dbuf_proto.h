/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The messages of the grant-display example pair: the requests and
 * responses of Xen's PV display protocol (xen/io/displif.h: 64-byte
 * requests with a common header, XENDISPL_OP_DBUF_CREATE carrying the
 * buffer's gref_directory), sent over a unix socket where Xen would use a
 * shared ring and an event channel. tests/unit/test_grant_layout.c checks
 * these layouts against displif.h.
 */
#ifndef EXAMPLE_DBUF_PROTO_H
#define EXAMPLE_DBUF_PROTO_H

#include <stdint.h>

/* Operation codes: XENDISPL_OP_*. */
#define DISPL_OP_DBUF_CREATE	0x10
#define DISPL_OP_DBUF_DESTROY	0x11
#define DISPL_OP_PG_FLIP	0x15

struct displ_dbuf_create_req {
	uint64_t dbuf_cookie;
	uint32_t width;
	uint32_t height;
	uint32_t bpp;
	uint32_t buffer_sz;
	uint32_t flags; /* UIOMMU_SHBUF_BE_ALLOC is XENDISPL_DBUF_FLG_REQ_ALLOC */
	uint32_t gref_directory;
	uint32_t data_ofs;
};

struct displ_dbuf_destroy_req {
	uint64_t dbuf_cookie;
};

/* The protocol flips a framebuffer attached to the buffer; here, the buffer itself. */
struct displ_pg_flip_req {
	uint64_t fb_cookie;
};

struct displ_req {
	uint16_t id;
	uint8_t operation;
	uint8_t reserved[5];
	union {
		struct displ_dbuf_create_req dbuf_create;
		struct displ_dbuf_destroy_req dbuf_destroy;
		struct displ_pg_flip_req pg_flip;
		uint8_t reserved[56];
	} op;
};

struct displ_resp {
	uint16_t id;
	uint8_t operation;
	uint8_t reserved;
	int32_t status; /* 0 or a negative errno, as displif's */
	uint8_t reserved1[56];
};

/* The picture of frame @k: every pixel says where it is and which frame it is in. */
static inline uint32_t displ_pixel(uint32_t x, uint32_t y, uint32_t k)
{
	return (k << 24) ^ (y << 12) ^ x;
}

#endif /* EXAMPLE_DBUF_PROTO_H */
