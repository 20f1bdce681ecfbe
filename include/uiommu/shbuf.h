/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uiommu/shbuf.h - page-directory shared buffers (Xen PV display and sound).
 *
 * Concepts:
 * - A large buffer is shared by passing one grant reference: that of the
 *   first page of a directory of grant references (struct
 *   uiommu_shbuf_page_directory: xen/io/displif.h xendispl_page_directory,
 *   xen/io/sndif.h xensnd_page_directory). Each directory page is 4 KiB
 *   (XEN_PAGE_SIZE, whatever the host's page size), holds the reference of
 *   the next directory page (0, UIOMMU_SHBUF_GREF_LIST_END, on the last
 *   one) and up to 1023 references of buffer pages, in order. The number of
 *   buffer pages is not in the directory: both sides derive it from the
 *   buffer's size (displif's buffer_sz).
 * - The frontend's side is Linux's drivers/xen/xen-front-pgdir-shbuf.c
 *   (struct uiommu_shbuf), in two modes:
 *   - frontend-allocated: the frontend allocates and grants the buffer
 *     pages and the directory pages, and fills the directory;
 *   - backend-allocated (UIOMMU_SHBUF_BE_ALLOC, displif's
 *     XENDISPL_DBUF_FLG_REQ_ALLOC): the frontend grants only the directory
 *     (chained), the backend fills gref[] with references to pages it
 *     allocated and granted, and the frontend maps them
 *     (uiommu_shbuf_map()).
 * - The backend's side (struct uiommu_shbuf_be) is what real backends
 *   (displ_be, snd_be) do: walk the chain from gref_directory until 0 and
 *   map the buffer; or, for a backend-allocated buffer, allocate and grant
 *   the pages and fill the frontend's directory. A loop, a chain longer or
 *   shorter than the buffer's size needs, or a bad reference is an error,
 *   never a hang.
 * - Teardown, in this order: the backend unmaps (uiommu_shbuf_be_free(),
 *   or for a backend-allocated buffer the frontend's uiommu_shbuf_unmap()),
 *   the frontend ends access (uiommu_shbuf_free(); pending where the peer
 *   still maps), and the pages are freed when the last access ends.
 *
 * Fixed on purpose, against the Linux helper: directory pages are 4 KiB
 * also on 64 KiB-page hosts (Linux used PAGE_SIZE); unused slots are
 * UIOMMU_GRANT_INVALID_REF, never 0 (Linux ended access to reference 0 on
 * a partial failure); counts are 32-bit (Linux's u16 truncates); a failed
 * claim frees the reservation; a backend-allocated map that fails part-way
 * unmaps exactly what it mapped and returns -ENXIO; zero pages are refused.
 *
 * Threads: a buffer's calls must be serialized by the caller (as Linux's);
 * different buffers are independent. Calls that talk to a peer may sleep.
 */
#ifndef UIOMMU_SHBUF_H
#define UIOMMU_SHBUF_H

#include <stdint.h>

#include <uiommu/grant.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Directory pages are XEN_PAGE_SIZE. */
#define UIOMMU_SHBUF_PAGE_SIZE		4096u
/* References a directory page holds: (4096 - 4) / 4. */
#define UIOMMU_SHBUF_GREFS_PER_PAGE	1023u
/* gref_dir_next_page of the last directory page (XEN_GREF_LIST_END). */
#define UIOMMU_SHBUF_GREF_LIST_END	0u
/* Largest buffer, in 4 KiB pages (1 GiB). */
#define UIOMMU_SHBUF_MAX_PAGES		(1u << 18)
/* The backend allocates the buffer (the value of XENDISPL_DBUF_FLG_REQ_ALLOC). */
#define UIOMMU_SHBUF_BE_ALLOC		(1u << 0)

/**
 * struct uiommu_shbuf_page_directory - one 4 KiB directory page.
 * @gref_dir_next_page: the next directory page's reference, or
 *	UIOMMU_SHBUF_GREF_LIST_END (0) on the last page.
 * @gref: references of buffer pages, in order; the last page uses only as
 *	many as the buffer has left.
 *
 * displif.h declares gref[1], "variable length"; this is the whole page,
 * sizeof() == UIOMMU_SHBUF_PAGE_SIZE.
 */
struct uiommu_shbuf_page_directory {
	uint32_t gref_dir_next_page;
	uint32_t gref[UIOMMU_SHBUF_GREFS_PER_PAGE];
};

struct uiommu_shbuf;
struct uiommu_shbuf_be;

/**
 * uiommu_shbuf_dir_pages() - Directory pages a buffer needs.
 * @npages: buffer pages (4 KiB).
 *
 * ceil(@npages / 1023): 0 for 0, 1 for 1..1023, 2 for 1024..2046, ...
 *
 * Return: the number of directory pages.
 */
uint32_t uiommu_shbuf_dir_pages(uint32_t npages);

/**
 * uiommu_shbuf_alloc() - Create a shared buffer and its page directory (frontend).
 * @gs: the frontend's grant table.
 * @domid: the backend's domain.
 * @npages: buffer pages of 4 KiB, 1 to UIOMMU_SHBUF_MAX_PAGES.
 * @flags: 0 (frontend-allocated) or UIOMMU_SHBUF_BE_ALLOC.
 * @ret_buf: on success, the buffer.
 *
 * As Linux xen_front_pgdir_shbuf_alloc(), fixed as the header comment
 * says. Frontend-allocated: allocates @npages zeroed pages
 * (uiommu_shbuf_hva()) and the directory, grants them all read-write to
 * @domid (directory pages first) and fills the directory.
 * Backend-allocated: allocates and grants only the directory pages and
 * chains them. All or nothing.
 *
 * Context: allocates; takes @gs's lock.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @gs or @ret_buf, @npages 0 or too large, unknown @flags, a
 *   reserved @domid;
 * * -ENOSPC not enough free grant references, or the UIOMMU_RES_GRANTS limit;
 * * -ENOMEM out of memory or frames;
 * * -EMFILE out of file descriptors.
 */
int uiommu_shbuf_alloc(struct uiommu_gntshr *gs, uint16_t domid, uint32_t npages, uint32_t flags,
		       struct uiommu_shbuf **ret_buf);

/**
 * uiommu_shbuf_get_dir_start() - The reference to send as gref_directory.
 * @buf: buffer, or NULL.
 *
 * As Linux xen_front_pgdir_shbuf_get_dir_start().
 *
 * Return: the first directory page's reference, or UIOMMU_GRANT_INVALID_REF
 * for NULL.
 */
uint32_t uiommu_shbuf_get_dir_start(const struct uiommu_shbuf *buf);

/**
 * uiommu_shbuf_hva() - The buffer's memory, on the frontend.
 * @buf: buffer.
 *
 * Return: the @npages * 4 KiB buffer (frontend-allocated: from
 * uiommu_shbuf_alloc() on; backend-allocated: between uiommu_shbuf_map()
 * and uiommu_shbuf_unmap()), else NULL.
 */
void *uiommu_shbuf_hva(const struct uiommu_shbuf *buf);

/**
 * uiommu_shbuf_map() - Map a backend-allocated buffer (frontend).
 * @buf: buffer.
 * @gt: the frontend's mapping handle, attached to the backend's table.
 *
 * As Linux xen_front_pgdir_shbuf_map(): reads the backend's references
 * from the frontend's own directory pages (each read once; the chain is
 * the frontend's and is not followed) and maps them read-write,
 * contiguously. A no-op for a frontend-allocated buffer.
 *
 * Context: may sleep; allocates.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @gt for a backend-allocated buffer;
 * * -EBUSY mapped already;
 * * -ENXIO a reference could not be mapped: nothing stays mapped;
 * * -ENOMEM out of memory or address space.
 */
int uiommu_shbuf_map(struct uiommu_shbuf *buf, struct uiommu_gnttab *gt);

/**
 * uiommu_shbuf_unmap() - Unmap a backend-allocated buffer (frontend).
 * @buf: buffer.
 *
 * As Linux xen_front_pgdir_shbuf_unmap(); a no-op when nothing is mapped.
 *
 * Return: 0.
 */
int uiommu_shbuf_unmap(struct uiommu_shbuf *buf);

/**
 * uiommu_shbuf_free() - End access to a buffer and free it (frontend).
 * @buf: buffer, or NULL (nothing happens).
 *
 * As Linux xen_front_pgdir_shbuf_free(): ends access to every reference
 * that was granted (never to an unused slot), then frees the pages. A page
 * the backend still maps is not freed: its access ends, and it is freed,
 * when the backend lets go (uiommu_gntshr_end_foreign_access()). A
 * backend-allocated buffer must be unmapped first.
 *
 * Return: 0 (everything ended), the number of references left pending, or
 * -EBUSY (nothing done) if a backend-allocated buffer is still mapped.
 */
int uiommu_shbuf_free(struct uiommu_shbuf *buf);

/**
 * uiommu_shbuf_be_map() - Map a frontend-allocated buffer by its directory (backend).
 * @gt: the backend's mapping handle, attached to the frontend's table.
 * @domid: the frontend's domain.
 * @gref_directory: the first directory page's reference.
 * @npages: buffer pages, as the protocol's buffer size says
 *	(ceil(buffer_sz / 4096)), 1 to UIOMMU_SHBUF_MAX_PAGES.
 * @prot: PROT_READ, or PROT_READ | PROT_WRITE.
 * @ret_be: on success, the mapping.
 *
 * Walks the chain as displ_be does, each directory page mapped read-only,
 * read once and unmapped, until gref_dir_next_page is 0; then maps the
 * @npages buffer pages contiguously (uiommu_shbuf_be_hva()).
 *
 * Context: may sleep; allocates.
 *
 * Return: 0, or a negative errno:
 * * -EINVAL NULL @gt or @ret_be, @npages 0 or too large, bad @prot;
 * * -ELOOP the chain comes back to a directory page it passed;
 * * -EFBIG the chain goes on past the pages @npages needs;
 * * -ENODATA the chain ends before naming @npages pages;
 * * -ENXIO a directory or buffer page could not be mapped;
 * * -ENOMEM out of memory or address space.
 */
int uiommu_shbuf_be_map(struct uiommu_gnttab *gt, uint16_t domid, uint32_t gref_directory,
			uint32_t npages, int prot, struct uiommu_shbuf_be **ret_be);

/**
 * uiommu_shbuf_be_alloc() - Allocate a buffer for a frontend and fill its directory (backend).
 * @gt: the backend's mapping handle, attached to the frontend's table.
 * @gs: the backend's grant table, whose references fill the directory.
 * @domid: the frontend's domain.
 * @gref_directory: the first directory page's reference.
 * @npages: buffer pages, 1 to UIOMMU_SHBUF_MAX_PAGES.
 * @ret_be: on success, the buffer.
 *
 * The backend's part of XENDISPL_DBUF_FLG_REQ_ALLOC: walks the chain as
 * uiommu_shbuf_be_map() does (directory pages mapped read-write),
 * allocates @npages zeroed pages for @domid (uiommu_shbuf_be_hva()),
 * grants them read-write and writes their references into gref[]. All or
 * nothing.
 *
 * Context: may sleep; allocates.
 *
 * Return: 0, or a negative errno: as uiommu_shbuf_be_map(), and as
 * uiommu_gntshr_share_pages() for the pages and references.
 */
int uiommu_shbuf_be_alloc(struct uiommu_gnttab *gt, struct uiommu_gntshr *gs, uint16_t domid,
			  uint32_t gref_directory, uint32_t npages,
			  struct uiommu_shbuf_be **ret_be);

/**
 * uiommu_shbuf_be_hva() - The buffer's memory, on the backend.
 * @be: buffer.
 *
 * Return: the @npages * 4 KiB buffer.
 */
void *uiommu_shbuf_be_hva(const struct uiommu_shbuf_be *be);

/**
 * uiommu_shbuf_be_free() - Unmap or free a buffer (backend).
 * @be: buffer, or NULL (nothing happens).
 *
 * A mapped buffer is unmapped. A backend-allocated one has its access ended
 * (pending while the frontend still maps it) and its pages freed when the
 * last access ends.
 *
 * Return: 0, or the number of references left pending.
 */
int uiommu_shbuf_be_free(struct uiommu_shbuf_be *be);

#ifdef __cplusplus
}
#endif

#endif /* UIOMMU_SHBUF_H */
