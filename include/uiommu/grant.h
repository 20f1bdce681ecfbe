/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uiommu/grant.h - Xen-style grant tables between processes.
 *
 * Concepts:
 * - A domain shares its pages by writing entries into its grant table:
 *   "domain D may map frame F, read-only or read-write". An entry's index
 *   is its grant reference (gref). The table has Xen's v1 layout
 *   (struct uiommu_grant_entry_v1: flags, domid, frame; xen/grant_table.h),
 *   lives in a memfd the peer maps read-only, and references 0..7 are
 *   reserved and never handed out, as in Linux (GNTTAB_NR_RESERVED_ENTRIES).
 * - The granting side is a struct uiommu_gntshr (libxengntshr's "sharing"
 *   handle, plus the kernel primitives of Linux drivers/xen/grant-table.c:
 *   reserve, claim and free batches of references, grant and end foreign
 *   access). The mapping side is a struct uiommu_gnttab (libxengnttab's
 *   handle: map and unmap grant references). They are normally in two
 *   processes; they can be in one.
 * - Frames: a frame is a 4 KiB host frame (mem.h), named by its number,
 *   hpa >> 12. Only frames of pages allocated for sharing with one domain
 *   (uiommu_gntshr_alloc_pages(), uiommu_gntshr_share_pages()) can be
 *   granted, and only to that domain, with the access they were allocated
 *   with: such pages live in a memfd of their own, which is what the peer
 *   is handed when it maps one of them, so it can never reach any other
 *   memory of the granting process. (As libxengntshr: "memory from
 *   elsewhere cannot be shared here".)
 * - Connections: uiommu_gntshr_connect() makes a socket for one peer
 *   domain; the peer attaches it to its uiommu_gnttab. The socket plays the
 *   hypervisor's part: the peer asks, and the granting side's library (a
 *   thread it starts) checks the request against the table and, for a valid
 *   grant, sets GTF_reading / GTF_writing in the entry with Xen's atomic
 *   compare-and-exchange protocol, records the mapping and passes the
 *   memfd. The peer's identity is the socket, never what it claims.
 * - Ending access (the XSA-396 rule): access to a reference the peer still
 *   maps cannot be ended at once. uiommu_gntshr_end_foreign_access() then
 *   leaves it pending, counted (UIOMMU_COUNTER_GRANTS_PENDING,
 *   uiommu_gntshr_get_pending()), and its page is not freed: it is revoked,
 *   and the page freed, when the peer unmaps it or its connection closes.
 *   Even a peer that lies about unmapping only keeps pages that were
 *   granted to it: freed shared pages are never reused.
 * - Limits: references in use (UIOMMU_RES_GRANTS), tables and mapping
 *   handles (UIOMMU_RES_GRANT_TABLES), connections (UIOMMU_RES_GRANT_PEERS)
 *   and mappings (UIOMMU_RES_GRANT_MAPS) are charged to the context, on
 *   either side.
 *
 * Errors: library calls return a negative errno; the per-operation status
 * of a map or unmap is a Xen GNTST_* code (UIOMMU_GNTST_*), as the
 * hypercall reports it.
 *
 * Threads: every function may be called from any thread; a table's calls
 * serialize on its lock, and a mapping handle serializes the requests it
 * sends on one connection. Calls that talk to a peer may sleep.
 */
#ifndef UIOMMU_GRANT_H
#define UIOMMU_GRANT_H

#include <stdint.h>

#include <uiommu/types.h>
#include <uiommu/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Grant references 0..7 are reserved (0: console, 1: xenstore), never handed out. */
#define UIOMMU_GNTTAB_NR_RESERVED_ENTRIES	8
#define UIOMMU_GNTTAB_RESERVED_CONSOLE		0
#define UIOMMU_GNTTAB_RESERVED_XENSTORE		1
/* Linux's INVALID_GRANT_REF and INVALID_GRANT_HANDLE. */
#define UIOMMU_GRANT_INVALID_REF		0xffffffffu
#define UIOMMU_GRANT_INVALID_HANDLE		0xffffffffu
/* Largest table uiommu_gntshr_new() makes (8 MiB of v1 entries). */
#define UIOMMU_GNTTAB_MAX_ENTRIES		(1u << 20)
/* Domain ids from here on are Xen's reserved ones (DOMID_FIRST_RESERVED). */
#define UIOMMU_DOMID_FIRST_RESERVED		0x7ff0u
/* Grants are of 4 KiB frames (XEN_PAGE_SIZE), whatever the host page size. */
#define UIOMMU_GRANT_PAGE_SHIFT			12
#define UIOMMU_GRANT_PAGE_SIZE			(1u << UIOMMU_GRANT_PAGE_SHIFT)

/* Grant entry flags (xen/grant_table.h GTF_*). */
#define UIOMMU_GTF_INVALID		0x0000u
#define UIOMMU_GTF_PERMIT_ACCESS	0x0001u
#define UIOMMU_GTF_TYPE_MASK		0x0003u
#define UIOMMU_GTF_READONLY		0x0004u	/* the grantee may only read */
#define UIOMMU_GTF_READING		0x0008u	/* set while the grantee maps it */
#define UIOMMU_GTF_WRITING		0x0010u	/* set while it maps it writable */

/* Map operation flags (xen/grant_table.h GNTMAP_*); host_map is required. */
#define UIOMMU_GNTMAP_DEVICE_MAP	(1u << 0)	/* not supported: GNTST_general_error */
#define UIOMMU_GNTMAP_HOST_MAP		(1u << 1)
#define UIOMMU_GNTMAP_READONLY		(1u << 2)

/* Status of one map or unmap operation (xen/grant_table.h GNTST_*). */
#define UIOMMU_GNTST_OKAY		0	/* done */
#define UIOMMU_GNTST_GENERAL_ERROR	(-1)	/* not granted to us, r/o, bad flags, ... */
#define UIOMMU_GNTST_BAD_DOMAIN		(-2)	/* no connection to that domain */
#define UIOMMU_GNTST_BAD_GNTREF		(-3)	/* reference past the table, bad flags */
#define UIOMMU_GNTST_BAD_HANDLE		(-4)	/* no such mapping */
#define UIOMMU_GNTST_BAD_VIRT_ADDR	(-5)	/* host_addr misaligned or not the mapping's */
#define UIOMMU_GNTST_NO_SPACE		(-13)	/* out of mapping handles (a limit) */

/**
 * struct uiommu_grant_entry_v1 - one entry of a grant table, Xen's v1 layout.
 * @flags: UIOMMU_GTF_* (type, readonly; reading and writing set by the
 *	mapping side).
 * @domid: the domain allowed to map @frame.
 * @frame: the granted frame's number (hpa >> 12).
 *
 * 8 bytes, as struct grant_entry_v1 in xen/grant_table.h (a test checks it
 * against that header). @flags and @domid are updated together, as one
 * 32-bit word, with compare-and-exchange.
 */
struct uiommu_grant_entry_v1 {
	uint16_t flags;
	uint16_t domid;
	uint32_t frame;
};

struct uiommu_gntshr;
struct uiommu_gnttab;

/* ------------------------------------------------------------------ */
/* The granting side                                                   */
/* ------------------------------------------------------------------ */

/**
 * uiommu_gntshr_new() - Create a domain's grant table.
 * @ctx: context.
 * @domid: this domain's id, below UIOMMU_DOMID_FIRST_RESERVED.
 * @nr_entries: entries of the table, UIOMMU_GNTTAB_NR_RESERVED_ENTRIES + 1
 *	to UIOMMU_GNTTAB_MAX_ENTRIES; references are 0..@nr_entries - 1, of
 *	which 0..7 are reserved.
 * @ret_gs: on success, the table.
 *
 * The table is a memfd of @nr_entries * 8 bytes (rounded up to 4 KiB
 * frames, charged to UIOMMU_RES_FRAME_BYTES), mapped writable here and
 * sealed so that peers can only map it read-only. Charges one
 * UIOMMU_RES_GRANT_TABLES. Unlike Xen's, the table does not grow.
 *
 * Context: allocates; may sleep.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @ctx or @ret_gs, a reserved @domid, @nr_entries out of range;
 * * -ENOSPC the UIOMMU_RES_GRANT_TABLES limit;
 * * -ENOMEM out of memory or frames (UIOMMU_RES_FRAME_BYTES);
 * * -EMFILE out of file descriptors.
 */
int uiommu_gntshr_new(struct uiommu_ctx *ctx, uint16_t domid, uint32_t nr_entries,
		      struct uiommu_gntshr **ret_gs);

/**
 * uiommu_gntshr_free() - Destroy a grant table.
 * @gs: table, or NULL (nothing happens).
 *
 * Closes every connection and stops the table's thread. Every reference
 * must be free and every page freed first (a pending reference counts as in
 * use: disconnect its peer to revoke it); otherwise nothing is freed.
 *
 * Context: may sleep (joins the table's thread).
 *
 * Return: 0, or -EBUSY if references are in use or pages remain.
 */
int uiommu_gntshr_free(struct uiommu_gntshr *gs);

/**
 * uiommu_gntshr_domid() - The table's own domain id.
 * @gs: table.
 *
 * Return: the @domid given to uiommu_gntshr_new().
 */
uint16_t uiommu_gntshr_domid(const struct uiommu_gntshr *gs);

/**
 * uiommu_gntshr_connect() - Make a connection for a peer domain.
 * @gs: table.
 * @domid: the peer's domain id: references granted to @domid are what it
 *	may map. Not reserved, not the table's own.
 * @ret_fd: on success, the peer's end of the connection (a unix
 *	SOCK_SEQPACKET socket, close-on-exec): hand it to the peer process (by
 *	fork/exec, clearing FD_CLOEXEC, or over a unix socket) for
 *	uiommu_gnttab_attach(). The caller owns it.
 *
 * Starts the table's thread on first use; it answers the peer's map and
 * unmap requests. Charges one UIOMMU_RES_GRANT_PEERS. A peer that closes
 * its end (or whose process dies) is disconnected, as by
 * uiommu_gntshr_disconnect().
 *
 * Context: allocates; may sleep.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @ret_fd, a reserved @domid or the table's own;
 * * -EEXIST @domid is connected already;
 * * -ENOSPC the UIOMMU_RES_GRANT_PEERS limit;
 * * -ENOMEM out of memory, or the thread could not start;
 * * -EMFILE out of file descriptors.
 */
int uiommu_gntshr_connect(struct uiommu_gntshr *gs, uint16_t domid, int *ret_fd);

/**
 * uiommu_gntshr_disconnect() - Close a peer's connection and revoke its mappings.
 * @gs: table.
 * @domid: the peer.
 *
 * Every mapping the peer holds is dropped, as Xen drops a dead domain's
 * mappings: GTF_reading / GTF_writing are cleared, pending references are
 * revoked and freed, and pages waiting for them are freed. (Whatever the
 * peer process still has mapped is memory that was granted to it and is
 * never reused.) The peer's later requests fail. When this returns, all of
 * it is done, also if the table's thread saw the peer go first.
 *
 * Context: takes the table's lock; may sleep.
 *
 * Return: 0, or -ENOENT if @domid is not connected (any more).
 */
int uiommu_gntshr_disconnect(struct uiommu_gntshr *gs, uint16_t domid);

/**
 * uiommu_gntshr_alloc_pages() - Allocate pages to share with one domain.
 * @gs: table.
 * @domid: the only domain their frames may be granted to.
 * @npages: 4 KiB pages, 1 to 2^18 (1 GiB).
 * @writable: non-zero if they will be granted read-write, 0 read-only:
 *	their frames can only be granted with this access.
 * @ret_hva: on success, the pages, contiguous and zeroed.
 * @ret_frame: on success, the first page's frame number (hpa >> 12); page i
 *	is frame *@ret_frame + i. Optional.
 *
 * The pages are host frames (mem.h: they have hpas) backed by a memfd of
 * their own, which is what a peer mapping one of their frames is handed:
 * once any of them is mapped, the peer can see every one of them, so put
 * in them only what @domid may see. Read-only pages are sealed so that no
 * peer can map them writable. A run of 2^ceil(log2(@npages)) frames is
 * charged to UIOMMU_RES_FRAME_BYTES.
 *
 * Freed allocations of at most 32 pages that no peer ever mapped are kept,
 * zeroed, for the next allocation of as many pages, of either access (up
 * to 8 per table, the oldest dropped first; each holds a file descriptor
 * and no memory, and is not charged): that allocation makes no system
 * call. The memfd is sealed when a peer first maps one of its frames, and
 * from then on never reused. uiommu_gntshr_free() closes what is kept.
 *
 * Context: takes the table's lock; allocates.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @ret_hva, @npages out of range, a reserved @domid or the
 *   table's own;
 * * -ENOMEM out of memory or frames;
 * * -EMFILE out of file descriptors.
 */
int uiommu_gntshr_alloc_pages(struct uiommu_gntshr *gs, uint16_t domid, uint32_t npages,
			      int writable, void **ret_hva, uint64_t *ret_frame);

/**
 * uiommu_gntshr_free_pages() - Free pages from uiommu_gntshr_alloc_pages().
 * @gs: table.
 * @hva: their first byte.
 *
 * No frame of them may still be granted; frames whose access is pending
 * (uiommu_gntshr_end_foreign_access() returned 1) keep the pages until
 * their peer lets go: then they are freed (and never reused by a peer that
 * kept them mapped).
 *
 * Context: takes the table's lock.
 *
 * Return: 0, or a negative errno:
 * * -ENOENT no pages of @gs start at @hva, or they are freed already;
 * * -EBUSY a frame of them is still granted (end access first), or pinned.
 */
int uiommu_gntshr_free_pages(struct uiommu_gntshr *gs, void *hva);

/**
 * uiommu_gntshr_alloc_grant_references() - Reserve a batch of references.
 * @gs: table.
 * @count: references, at least 1 (a uint32_t: Linux's count is a u16 that
 *	silently truncates past 65535).
 * @ret_head: on success, the batch's head, for
 *	uiommu_gntshr_claim_grant_reference() and
 *	uiommu_gntshr_free_grant_references().
 *
 * As Linux gnttab_alloc_grant_references(): all or nothing. Charges @count
 * to UIOMMU_RES_GRANTS.
 *
 * Context: takes the table's lock.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL @count is 0 or @ret_head NULL;
 * * -ENOSPC fewer than @count free references, or the UIOMMU_RES_GRANTS limit.
 */
int uiommu_gntshr_alloc_grant_references(struct uiommu_gntshr *gs, uint32_t count,
					 uint32_t *ret_head);

/**
 * uiommu_gntshr_claim_grant_reference() - Take one reference from a batch.
 * @gs: table.
 * @head: the batch's head; updated (UIOMMU_GRANT_INVALID_REF once empty).
 *
 * As Linux gnttab_claim_grant_reference(). The reference is the caller's
 * until it is freed (uiommu_gntshr_free_grant_reference(), or the
 * deferred or immediate end of access).
 *
 * Return: the reference (8 or more), or a negative errno:
 * * -ENOSPC the batch is empty;
 * * -EINVAL @head is not the head of a batch.
 */
int uiommu_gntshr_claim_grant_reference(struct uiommu_gntshr *gs, uint32_t *head);

/**
 * uiommu_gntshr_free_grant_references() - Give back a batch's unclaimed references.
 * @gs: table.
 * @head: the batch's head; UIOMMU_GRANT_INVALID_REF (an empty batch) is fine.
 *
 * As Linux gnttab_free_grant_references(). Uncharges them.
 *
 * Return: 0, or -EINVAL if @head is not the head of a batch.
 */
int uiommu_gntshr_free_grant_references(struct uiommu_gntshr *gs, uint32_t head);

/**
 * uiommu_gntshr_free_grant_reference() - Free one claimed, ungranted reference.
 * @gs: table.
 * @ref: a reference the caller claimed.
 *
 * As Linux gnttab_free_grant_reference().
 *
 * Return: 0, or a negative errno:
 * * -EINVAL @ref is reserved, out of range, or not claimed;
 * * -EBUSY @ref is granted (end access first).
 */
int uiommu_gntshr_free_grant_reference(struct uiommu_gntshr *gs, uint32_t ref);

/**
 * uiommu_gntshr_grant_foreign_access_ref() - Grant a frame through a claimed reference.
 * @gs: table.
 * @ref: a reference the caller claimed, not granted at the moment.
 * @domid: the domain that may map @frame.
 * @frame: a frame of pages from uiommu_gntshr_alloc_pages() for @domid.
 * @readonly: non-zero to let @domid only read; must match those pages'
 *	access.
 *
 * As Linux gnttab_grant_foreign_access_ref(): writes @frame and @domid,
 * then (release) the flags GTF_permit_access [| GTF_readonly]. Unlike Linux,
 * a reference already granted is refused rather than overwritten (a peer
 * may be mapping it), and only shareable frames are accepted.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL @ref is reserved, out of range or not claimed;
 * * -EBUSY @ref is granted already;
 * * -EFAULT @frame is not a frame of this table's shareable pages (or they
 *   are being freed);
 * * -EPERM those pages are for another domain, or for another access.
 */
int uiommu_gntshr_grant_foreign_access_ref(struct uiommu_gntshr *gs, uint32_t ref,
					   uint16_t domid, uint64_t frame, int readonly);

/**
 * uiommu_gntshr_grant_foreign_access() - Claim a free reference and grant a frame.
 * @gs: table.
 * @domid: as uiommu_gntshr_grant_foreign_access_ref().
 * @frame: as uiommu_gntshr_grant_foreign_access_ref().
 * @readonly: as uiommu_gntshr_grant_foreign_access_ref().
 *
 * As Linux gnttab_grant_foreign_access(). Charges one UIOMMU_RES_GRANTS.
 *
 * Return: the reference, or a negative errno:
 * * -ENOSPC no free reference, or the UIOMMU_RES_GRANTS limit;
 * * -EFAULT, -EPERM as uiommu_gntshr_grant_foreign_access_ref().
 */
int uiommu_gntshr_grant_foreign_access(struct uiommu_gntshr *gs, uint16_t domid,
				       uint64_t frame, int readonly);

/**
 * uiommu_gntshr_query_foreign_access() - Is a reference mapped?
 * @gs: table.
 * @ref: a reference.
 *
 * As Linux gnttab_query_foreign_access().
 *
 * Return: the entry's UIOMMU_GTF_READING | UIOMMU_GTF_WRITING bits (0: not
 * mapped), or -EINVAL if @ref is out of range.
 */
int uiommu_gntshr_query_foreign_access(struct uiommu_gntshr *gs, uint32_t ref);

/**
 * uiommu_gntshr_end_foreign_access_ref() - End access, keeping the reference.
 * @gs: table.
 * @ref: a claimed, granted reference.
 *
 * As Linux gnttab_end_foreign_access_ref(): one compare-and-exchange that
 * clears the flags unless GTF_reading or GTF_writing is set. The reference
 * stays the caller's (grant it again or free it).
 *
 * Return: 0, or a negative errno:
 * * -EBUSY the peer maps it: nothing changed;
 * * -EINVAL @ref is reserved, out of range, not claimed or not granted.
 */
int uiommu_gntshr_end_foreign_access_ref(struct uiommu_gntshr *gs, uint32_t ref);

/**
 * uiommu_gntshr_try_end_foreign_access() - End access and free the reference, if unmapped.
 * @gs: table.
 * @ref: a claimed reference (granted or not).
 *
 * As Linux gnttab_try_end_foreign_access().
 *
 * Return: 0 (access ended, reference freed), or a negative errno:
 * * -EBUSY the peer maps it: nothing changed;
 * * -EINVAL @ref is reserved, out of range or not claimed.
 */
int uiommu_gntshr_try_end_foreign_access(struct uiommu_gntshr *gs, uint32_t ref);

/**
 * uiommu_gntshr_end_foreign_access() - End access now or as soon as the peer lets go.
 * @gs: table.
 * @ref: a claimed reference (granted or not).
 *
 * As Linux gnttab_end_foreign_access() after XSA-396: if the peer maps
 * @ref, the reference becomes pending: it and its page are kept (the page
 * is not freed, whatever the caller does) until the peer unmaps it or is
 * disconnected; then access ends and the reference is freed. Pending
 * references count in UIOMMU_COUNTER_GRANTS_PENDING and
 * uiommu_gntshr_get_pending(). Either way the caller must not use @ref
 * again.
 *
 * Return: 0 (ended and freed), 1 (pending), or -EINVAL if @ref is reserved,
 * out of range or not claimed.
 */
int uiommu_gntshr_end_foreign_access(struct uiommu_gntshr *gs, uint32_t ref);

/**
 * uiommu_gntshr_get_pending() - How many references wait for their peer.
 * @gs: table.
 * @ret_count: on success, the number of pending references.
 *
 * Return: 0, or -EINVAL for a NULL @ret_count.
 */
int uiommu_gntshr_get_pending(struct uiommu_gntshr *gs, uint64_t *ret_count);

/**
 * uiommu_gntshr_share_pages() - Allocate pages and grant them all to a domain.
 * @gs: table.
 * @domid: the peer.
 * @count: pages, 1 to 2^18.
 * @refs: on success, @count references, one per page, in order.
 * @writable: non-zero to grant read-write, 0 read-only.
 * @ret_addr: on success, the pages (contiguous, zeroed).
 *
 * libxengntshr's xengntshr_share_pages(): uiommu_gntshr_alloc_pages() and
 * one grant per page. All or nothing.
 *
 * Return: 0, or a negative errno: as uiommu_gntshr_alloc_pages() and
 * uiommu_gntshr_alloc_grant_references(); -EINVAL also for NULL @refs.
 */
int uiommu_gntshr_share_pages(struct uiommu_gntshr *gs, uint16_t domid, uint32_t count,
			      uint32_t *refs, int writable, void **ret_addr);

/**
 * uiommu_gntshr_unshare() - End the grants of shared pages and free them.
 * @gs: table.
 * @start_address: as returned by uiommu_gntshr_share_pages().
 * @count: the @count it was given (a share is unshared whole).
 *
 * libxengntshr's xengntshr_unshare(): every reference is ended with
 * uiommu_gntshr_end_foreign_access() (pending where the peer still maps
 * it) and the pages are freed when the last one is revoked.
 *
 * Return: 0 (all ended), the number of references left pending, or a
 * negative errno:
 * * -ENOENT no share starts at @start_address;
 * * -EINVAL @count is not the share's.
 */
int uiommu_gntshr_unshare(struct uiommu_gntshr *gs, void *start_address, uint32_t count);

/* ------------------------------------------------------------------ */
/* The mapping side                                                    */
/* ------------------------------------------------------------------ */

/**
 * struct uiommu_gnttab_map_op - one map operation (Xen's gnttab_map_grant_ref).
 * @host_addr: in: where to map the frame, 4 KiB aligned, replacing what is
 *	there (the caller's own memory, as in Xen), or NULL to let the library
 *	choose; out: where it is mapped.
 * @flags: in: UIOMMU_GNTMAP_HOST_MAP, optionally | UIOMMU_GNTMAP_READONLY.
 * @ref: in: the grant reference.
 * @dom: in: the granting domain.
 * @status: out: UIOMMU_GNTST_*.
 * @handle: out: the mapping's handle for unmapping, or
 *	UIOMMU_GRANT_INVALID_HANDLE if @status is not UIOMMU_GNTST_OKAY.
 */
struct uiommu_gnttab_map_op {
	void *host_addr;
	uint32_t flags;
	uint32_t ref;
	uint16_t dom;
	int16_t status;
	uint32_t handle;
};

/**
 * struct uiommu_gnttab_unmap_op - one unmap operation (Xen's gnttab_unmap_grant_ref).
 * @host_addr: in: the mapping's address, or NULL (not checked).
 * @handle: in: the handle its map operation returned.
 * @status: out: UIOMMU_GNTST_*.
 */
struct uiommu_gnttab_unmap_op {
	void *host_addr;
	uint32_t handle;
	int16_t status;
};

/**
 * uiommu_gnttab_open() - Create a mapping handle.
 * @ctx: context.
 * @ret_gt: on success, the handle (libxengnttab's xengnttab_open()).
 *
 * Charges one UIOMMU_RES_GRANT_TABLES.
 *
 * Return: 0, or -EINVAL (NULL argument), -ENOSPC (the limit), -ENOMEM.
 */
int uiommu_gnttab_open(struct uiommu_ctx *ctx, struct uiommu_gnttab **ret_gt);

/**
 * uiommu_gnttab_close() - Unmap everything and destroy a mapping handle.
 * @gt: handle, or NULL (nothing happens).
 *
 * As xengnttab_close(): every mapping is unmapped (and the granting sides
 * told), every connection closed.
 *
 * Context: may sleep.
 *
 * Return: 0.
 */
int uiommu_gnttab_close(struct uiommu_gnttab *gt);

/**
 * uiommu_gnttab_attach() - Attach a connection to a granting domain.
 * @gt: handle.
 * @fd: the peer end of a connection from uiommu_gntshr_connect(); the
 *	handle takes it over (closes it on failure too).
 * @ret_domid: on success, the granting domain's id (the "dom" of map
 *	operations). Optional.
 *
 * Receives the granting side's greeting: its domain id, this side's, and
 * its table, which is mapped read-only after checking that it is a sealed
 * memfd of the announced size. Charges one UIOMMU_RES_GRANT_PEERS.
 *
 * Context: may sleep for the handle's timeout (uiommu_gnttab_set_timeout()).
 *
 * Return: 0, or a negative errno:
 * * -EBADF @fd is not an open socket;
 * * -EPROTO the greeting is malformed, or its table is not a sealed memfd
 *   of the announced size;
 * * -ETIMEDOUT no greeting in time;
 * * -EEXIST the handle is attached to that domain already;
 * * -ENOSPC the UIOMMU_RES_GRANT_PEERS limit;
 * * -ENOMEM out of memory, or the table could not be mapped.
 */
int uiommu_gnttab_attach(struct uiommu_gnttab *gt, int fd, uint16_t *ret_domid);

/**
 * uiommu_gnttab_set_timeout() - Bound the wait for a granting side's answers.
 * @gt: handle.
 * @timeout_ms: milliseconds, or -1 to wait forever. The default is 10000.
 *
 * A granting process that does not answer in time (hung, or hostile) is
 * treated as gone: its connection is closed and operations on it fail with
 * UIOMMU_GNTST_BAD_DOMAIN; mappings already made stay until unmapped.
 *
 * Return: 0, or -EINVAL for a @timeout_ms below -1.
 */
int uiommu_gnttab_set_timeout(struct uiommu_gnttab *gt, int timeout_ms);

/**
 * uiommu_gnttab_read_entry() - Read a granting domain's table entry.
 * @gt: handle.
 * @domid: an attached granting domain.
 * @ref: a reference.
 * @ret_entry: on success, a snapshot of the entry.
 *
 * The peer's table is mapped read-only: this is how a mapping side sees
 * what is granted to it. The granting side's answer to a map request is
 * what counts.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @ret_entry;
 * * -ENOENT @domid is not attached;
 * * -ERANGE @ref is past its table.
 */
int uiommu_gnttab_read_entry(struct uiommu_gnttab *gt, uint16_t domid, uint32_t ref,
			     struct uiommu_grant_entry_v1 *ret_entry);

/**
 * uiommu_gnttab_map_refs() - Map grant references, one status per operation.
 * @gt: handle.
 * @ops: @count operations.
 * @count: operations, 0 or more.
 *
 * Xen's GNTTABOP_map_grant_ref as Linux gnttab_map_refs() issues it: each
 * operation succeeds or fails on its own, with Xen's status codes:
 * UIOMMU_GNTST_BAD_GNTREF (reference past the table, or flags without
 * UIOMMU_GNTMAP_HOST_MAP), UIOMMU_GNTST_GENERAL_ERROR (not granted to
 * this domain, a writable map of a read-only grant, device maps, or the
 * frame could not be mapped here), UIOMMU_GNTST_BAD_DOMAIN (no connection
 * to @dom), UIOMMU_GNTST_BAD_VIRT_ADDR (misaligned @host_addr),
 * UIOMMU_GNTST_NO_SPACE (the UIOMMU_RES_GRANT_MAPS limit, here or on the
 * granting side). A successful operation maps one 4 KiB frame, shared with
 * the granting process, and charges one UIOMMU_RES_GRANT_MAPS.
 *
 * Context: sends one request per granting domain per 128 operations and
 * waits for the answers; may sleep. Allocates.
 *
 * Return: 0 (see each @status), or -EINVAL for a NULL @ops with @count > 0,
 * -ENOMEM if the operations' bookkeeping could not be allocated (no
 * operation was done).
 */
int uiommu_gnttab_map_refs(struct uiommu_gnttab *gt, struct uiommu_gnttab_map_op *ops,
			   uint32_t count);

/**
 * uiommu_gnttab_unmap_refs() - Unmap mappings, one status per operation.
 * @gt: handle.
 * @ops: @count operations.
 * @count: operations, 0 or more.
 *
 * Xen's GNTTABOP_unmap_grant_ref: UIOMMU_GNTST_BAD_HANDLE for a handle
 * that is not a mapping of @gt (or made by uiommu_gnttab_map_grant_refs(),
 * whose mappings go with uiommu_gnttab_unmap()), UIOMMU_GNTST_BAD_VIRT_ADDR
 * for a @host_addr that is not the mapping's. The frame is unmapped here
 * first (a mapping at a caller-chosen address is replaced by an
 * inaccessible page, so the caller's range stays reserved), then the
 * granting side is told, which clears GTF_reading / GTF_writing when the
 * last mapping of the reference goes and completes a pending end of
 * access. If the granting side is gone, the local unmap still happens.
 *
 * Context: may sleep.
 *
 * Return: 0 (see each @status), or -EINVAL for a NULL @ops with @count > 0.
 */
int uiommu_gnttab_unmap_refs(struct uiommu_gnttab *gt, struct uiommu_gnttab_unmap_op *ops,
			     uint32_t count);

/**
 * uiommu_gnttab_map_grant_refs() - Map references at one contiguous address.
 * @gt: handle.
 * @count: references, 1 or more.
 * @domids: @count granting domains.
 * @refs: @count references.
 * @prot: PROT_READ, or PROT_READ | PROT_WRITE (mmap(2)'s).
 * @ret_status: optional: @count UIOMMU_GNTST_* statuses, on success and on
 *	-ENXIO.
 * @ret_addr: on success, the mapping: @count * 4 KiB, reference i at
 *	offset i * 4 KiB.
 *
 * libxengnttab's xengnttab_map_grant_refs(): all or nothing ("on partial
 * failure no mappings are established"). Unmap with uiommu_gnttab_unmap().
 *
 * Return: 0, or a negative errno:
 * * -EINVAL @count is 0, NULL arrays or @ret_addr, other @prot bits;
 * * -ENXIO a reference could not be mapped (@ret_status says which, why);
 * * -ENOMEM out of memory or address space.
 */
int uiommu_gnttab_map_grant_refs(struct uiommu_gnttab *gt, uint32_t count,
				 const uint16_t *domids, const uint32_t *refs, int prot,
				 int16_t *ret_status, void **ret_addr);

/**
 * uiommu_gnttab_map_domain_grant_refs() - Map one domain's references contiguously.
 * @gt: handle.
 * @count: as uiommu_gnttab_map_grant_refs().
 * @domid: the granting domain of every reference.
 * @refs: as uiommu_gnttab_map_grant_refs().
 * @prot: as uiommu_gnttab_map_grant_refs().
 * @ret_status: as uiommu_gnttab_map_grant_refs().
 * @ret_addr: as uiommu_gnttab_map_grant_refs().
 *
 * libxengnttab's xengnttab_map_domain_grant_refs().
 *
 * Return: as uiommu_gnttab_map_grant_refs().
 */
int uiommu_gnttab_map_domain_grant_refs(struct uiommu_gnttab *gt, uint32_t count,
					uint16_t domid, const uint32_t *refs, int prot,
					int16_t *ret_status, void **ret_addr);

/**
 * uiommu_gnttab_unmap() - Unmap what uiommu_gnttab_map_grant_refs() mapped.
 * @gt: handle.
 * @start_address: the mapping's address.
 * @count: its number of references.
 *
 * libxengnttab's xengnttab_unmap().
 *
 * Return: 0, or -EINVAL if no such mapping starts at @start_address with
 * @count references.
 */
int uiommu_gnttab_unmap(struct uiommu_gnttab *gt, void *start_address, uint32_t count);

#ifdef __cplusplus
}
#endif

#endif /* UIOMMU_GRANT_H */
