// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fuzz driver: the granting side's parser of a peer's requests (the grant
 * wire protocol, src/grant/grant.h), fed straight to the handler as a
 * hostile peer would send them. Domain 2 is the peer; the table grants it
 * some pages read-write, some read-only, and others to domain 3.
 *
 * Checked: a malformed request is refused whole and changes nothing; every
 * answer has the request's size and echo, and a known status per
 * operation; a handle it hands out is one it will take back; the peer's
 * mappings (UIOMMU_RES_GRANT_MAPS) are what it was answered; dropping the
 * peer (a disconnect) revokes everything, and no reference of another
 * domain is ever pinned.
 *
 * The input is a sequence of messages: a length byte, then that many bytes
 * (a header of 16 bytes and operations), with the header's version and
 * count fixed up half of the time so that the body is reached.
 */
#include <string.h>

#include "grant/grant.h"

#include "fuzz.h"

#define FE 1
#define PEER 2
#define OTHER 3
#define NR_ENTRIES 32

static uint64_t usage_of(struct uiommu_ctx *ctx, enum uiommu_resource r)
{
	uint64_t v = 0;

	uiommu_ctx_get_usage(ctx, r, &v);
	return v;
}

static bool known_status(int16_t st)
{
	return st == UIOMMU_GNTST_OKAY || st == UIOMMU_GNTST_GENERAL_ERROR ||
	       st == UIOMMU_GNTST_BAD_GNTREF || st == UIOMMU_GNTST_BAD_HANDLE ||
	       st == UIOMMU_GNTST_NO_SPACE;
}

int fuzz_grant_wire(const uint8_t *data, size_t size)
{
	static struct uiommu_ctx *ctx;
	struct fuzz_input in = { data, size, 0 };
	struct uiommu_gntshr *gs;
	struct gnt_peer *peer;
	uint32_t rw[4], ro[2], other[2];
	void *rw_hva, *ro_hva, *other_hva;
	uint64_t maps = 0;
	static struct gnt_answer ans;

	if (!ctx) {
		FUZZ_CHECK(!uiommu_ctx_new(NULL, &ctx), "ctx_new");
		/* Small, so that the peer can run the granting side out of handles. */
		uiommu_ctx_set_limit(ctx, UIOMMU_RES_GRANT_MAPS, 200);
	}
	FUZZ_CHECK(!uiommu_gntshr_new(ctx, FE, NR_ENTRIES, &gs), "gntshr_new");
	FUZZ_CHECK(!uiommu_gntshr_share_pages(gs, PEER, 4, rw, 1, &rw_hva), "share");
	FUZZ_CHECK(!uiommu_gntshr_share_pages(gs, PEER, 2, ro, 0, &ro_hva), "share");
	FUZZ_CHECK(!uiommu_gntshr_share_pages(gs, OTHER, 2, other, 1, &other_hva), "share");
	pthread_mutex_lock(&gs->lock);
	FUZZ_CHECK(!gnt_peer_add_locked(gs, PEER, -1, &peer), "peer");

	while (!fuzz_done(&in)) {
		union {
			struct gnt_wire_hdr hdr;
			uint8_t bytes[GNT_WIRE_MAX_MSG];
		} req;
		size_t len = (size_t)fuzz_take(&in, 1) * 4 + fuzz_take(&in, 1) % 4;
		struct gnt_wire_hdr hdr;
		int ret;

		len = len < sizeof(req) ? len : sizeof(req);
		memset(&req, 0, sizeof(req));
		for (size_t i = 0; i < len; i++)
			req.bytes[i] = (uint8_t)fuzz_take(&in, 1);
		if (len >= sizeof(hdr) && (req.hdr.op & 0x100)) {
			/* Make it well-formed enough to reach the operations. */
			size_t op_size = req.hdr.op & 1 ? sizeof(struct gnt_wire_unmap_req)
							 : sizeof(struct gnt_wire_map_req);

			req.hdr.op = req.hdr.op & 1 ? GNT_WIRE_UNMAP : GNT_WIRE_MAP;
			req.hdr.version = GNT_WIRE_VERSION;
			req.hdr.count = (uint32_t)((len - sizeof(hdr)) / op_size);
			len = sizeof(hdr) + req.hdr.count * op_size;
		}
		memcpy(&hdr, req.bytes, sizeof(hdr));
		ret = gnt_peer_handle_locked(gs, peer, req.bytes, len, &ans);
		if (ret) {
			FUZZ_CHECK(ret == -EPROTO, "handle %d", ret);
			FUZZ_CHECK(peer->mt.nused == maps, "a refused request changed the mappings");
			continue;
		}
		FUZZ_CHECK(ans.msg.hdr.op == hdr.op && ans.msg.hdr.seq == hdr.seq &&
			   ans.msg.hdr.count == hdr.count, "answer header");
		for (uint32_t i = 0; i < hdr.count; i++) {
			const char *body = ans.msg.bytes + sizeof(hdr);

			if (hdr.op == GNT_WIRE_MAP) {
				struct gnt_wire_map_rsp rsp;
				struct gnt_wire_map_req op;

				memcpy(&rsp, body + i * sizeof(rsp), sizeof(rsp));
				memcpy(&op, req.bytes + sizeof(hdr) + i * sizeof(op), sizeof(op));
				FUZZ_CHECK(known_status(rsp.status), "map status %d", rsp.status);
				if (rsp.status)
					continue;
				maps++;
				FUZZ_CHECK(rsp.handle < peer->mt.len && gnt_maptrack(peer, rsp.handle)->in_use &&
						   gnt_maptrack(peer, rsp.handle)->ref == op.ref,
					   "handle %u", rsp.handle);
				FUZZ_CHECK(rsp.fd_index < ans.npools, "fd index");
				/* Only a reference granted to the peer, with its access. */
				FUZZ_CHECK(ans.pools[rsp.fd_index]->domid == PEER, "another domain's page");
				FUZZ_CHECK(ans.pools[rsp.fd_index]->writable ||
						   (op.flags & UIOMMU_GNTMAP_READONLY),
					   "a writable map of a read-only page");
				FUZZ_CHECK(rsp.offset % 4096 == 0 &&
						   rsp.offset < (uint64_t)ans.pools[rsp.fd_index]->npages * 4096,
					   "offset");
			} else {
				struct gnt_wire_unmap_rsp rsp;

				memcpy(&rsp, body + i * sizeof(rsp), sizeof(rsp));
				FUZZ_CHECK(known_status(rsp.status), "unmap status %d", rsp.status);
				if (!rsp.status)
					maps--;
			}
		}
		FUZZ_CHECK(ans.len == sizeof(hdr) + hdr.count * (hdr.op == GNT_WIRE_MAP
								  ? sizeof(struct gnt_wire_map_rsp)
								  : sizeof(struct gnt_wire_unmap_rsp)),
			   "answer length");
		FUZZ_CHECK(peer->mt.nused == maps, "mappings %llu, answered %llu",
			   (unsigned long long)peer->mt.nused, (unsigned long long)maps);
		for (int i = 0; i < 2; i++)
			FUZZ_CHECK(!gs->refs[other[i]].pin_ro && !gs->refs[other[i]].pin_rw,
				   "another domain's reference pinned");
	}
	FUZZ_CHECK(usage_of(ctx, UIOMMU_RES_GRANT_MAPS) == maps, "grant_maps usage");
	gnt_peer_drop_locked(gs, peer);
	pthread_mutex_unlock(&gs->lock);
	for (int i = 0; i < 4; i++)
		FUZZ_CHECK(uiommu_gntshr_query_foreign_access(gs, rw[i]) == 0, "still flagged");
	FUZZ_CHECK(uiommu_gntshr_unshare(gs, rw_hva, 4) == 0, "unshare");
	FUZZ_CHECK(uiommu_gntshr_unshare(gs, ro_hva, 2) == 0, "unshare");
	FUZZ_CHECK(uiommu_gntshr_unshare(gs, other_hva, 2) == 0, "unshare");
	FUZZ_CHECK(!uiommu_gntshr_free(gs), "gntshr_free");
	fuzz_check_clean(ctx);
	return 0;
}
