// SPDX-License-Identifier: BSD-3-Clause
/*
 * Our grant-table and page-directory formats are Xen's: checked at compile
 * time against Debian's libxen-dev public headers (xen/grant_table.h,
 * xen/io/displif.h, xen/io/sndif.h), so that the format is Xen's, not our
 * reading of it. Built only where those headers are installed; elsewhere
 * meson builds a stand-in that skips (exit 77).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <xen/grant_table.h>
#include <xen/io/displif.h>
#include <xen/io/sndif.h>

#include <uiommu/uiommu.h>

#include "../../examples/dbuf_proto.h"

#define SAME_MEMBER(a, b, ma, mb)                                                        \
	_Static_assert(offsetof(a, ma) == offsetof(b, mb) &&                              \
		       sizeof(((a *)0)->ma) == sizeof(((b *)0)->mb), #a "." #ma " is " #b "." #mb)
#define SAME(x, y) _Static_assert((x) == (y), #x " is " #y)

/* The v1 grant entry. */
SAME(sizeof(struct uiommu_grant_entry_v1), sizeof(grant_entry_v1_t));
SAME_MEMBER(struct uiommu_grant_entry_v1, grant_entry_v1_t, flags, flags);
SAME_MEMBER(struct uiommu_grant_entry_v1, grant_entry_v1_t, domid, domid);
SAME_MEMBER(struct uiommu_grant_entry_v1, grant_entry_v1_t, frame, frame);
SAME(sizeof(grant_ref_t), sizeof(uint32_t));
SAME(sizeof(grant_handle_t), sizeof(uint32_t));
SAME(sizeof(domid_t), sizeof(uint16_t));
SAME(sizeof(int16_t), sizeof(((struct gnttab_map_grant_ref *)0)->status));

/* Flags, reserved entries, domain ids. */
SAME(UIOMMU_GTF_INVALID, GTF_invalid);
SAME(UIOMMU_GTF_PERMIT_ACCESS, GTF_permit_access);
SAME(UIOMMU_GTF_TYPE_MASK, GTF_type_mask);
SAME(UIOMMU_GTF_READONLY, GTF_readonly);
SAME(UIOMMU_GTF_READING, GTF_reading);
SAME(UIOMMU_GTF_WRITING, GTF_writing);
SAME(UIOMMU_GNTTAB_NR_RESERVED_ENTRIES, GNTTAB_NR_RESERVED_ENTRIES);
SAME(UIOMMU_GNTTAB_RESERVED_CONSOLE, GNTTAB_RESERVED_CONSOLE);
SAME(UIOMMU_GNTTAB_RESERVED_XENSTORE, GNTTAB_RESERVED_XENSTORE);
SAME(UIOMMU_DOMID_FIRST_RESERVED, DOMID_FIRST_RESERVED);

/* Map flags and statuses. */
SAME(UIOMMU_GNTMAP_DEVICE_MAP, GNTMAP_device_map);
SAME(UIOMMU_GNTMAP_HOST_MAP, GNTMAP_host_map);
SAME(UIOMMU_GNTMAP_READONLY, GNTMAP_readonly);
SAME(UIOMMU_GNTST_OKAY, GNTST_okay);
SAME(UIOMMU_GNTST_GENERAL_ERROR, GNTST_general_error);
SAME(UIOMMU_GNTST_BAD_DOMAIN, GNTST_bad_domain);
SAME(UIOMMU_GNTST_BAD_GNTREF, GNTST_bad_gntref);
SAME(UIOMMU_GNTST_BAD_HANDLE, GNTST_bad_handle);
SAME(UIOMMU_GNTST_BAD_VIRT_ADDR, GNTST_bad_virt_addr);
SAME(UIOMMU_GNTST_NO_SPACE, GNTST_no_space);

/* The page directory of the display and sound protocols. */
SAME_MEMBER(struct uiommu_shbuf_page_directory, struct xendispl_page_directory,
	    gref_dir_next_page, gref_dir_next_page);
SAME_MEMBER(struct uiommu_shbuf_page_directory, struct xensnd_page_directory,
	    gref_dir_next_page, gref_dir_next_page);
SAME(offsetof(struct uiommu_shbuf_page_directory, gref),
     offsetof(struct xendispl_page_directory, gref));
SAME(offsetof(struct uiommu_shbuf_page_directory, gref),
     offsetof(struct xensnd_page_directory, gref));
SAME(sizeof(((struct uiommu_shbuf_page_directory *)0)->gref[0]),
     sizeof(((struct xendispl_page_directory *)0)->gref[0]));
/* 1023 references in a XEN_PAGE_SIZE page. */
SAME(UIOMMU_SHBUF_GREFS_PER_PAGE,
     (4096 - offsetof(struct xendispl_page_directory, gref)) / sizeof(grant_ref_t));
SAME(UIOMMU_SHBUF_BE_ALLOC, XENDISPL_DBUF_FLG_REQ_ALLOC);

/* The example's messages are displif's. */
SAME(sizeof(struct displ_req), sizeof(struct xendispl_req));
SAME(sizeof(struct displ_resp), sizeof(struct xendispl_resp));
SAME_MEMBER(struct displ_req, struct xendispl_req, id, id);
SAME_MEMBER(struct displ_req, struct xendispl_req, operation, operation);
SAME_MEMBER(struct displ_req, struct xendispl_req, op, op);
SAME_MEMBER(struct displ_resp, struct xendispl_resp, status, status);
SAME(sizeof(struct displ_dbuf_create_req), sizeof(struct xendispl_dbuf_create_req));
SAME_MEMBER(struct displ_dbuf_create_req, struct xendispl_dbuf_create_req, dbuf_cookie,
	    dbuf_cookie);
SAME_MEMBER(struct displ_dbuf_create_req, struct xendispl_dbuf_create_req, buffer_sz, buffer_sz);
SAME_MEMBER(struct displ_dbuf_create_req, struct xendispl_dbuf_create_req, flags, flags);
SAME_MEMBER(struct displ_dbuf_create_req, struct xendispl_dbuf_create_req, gref_directory,
	    gref_directory);
SAME_MEMBER(struct displ_dbuf_create_req, struct xendispl_dbuf_create_req, data_ofs, data_ofs);
SAME(DISPL_OP_DBUF_CREATE, XENDISPL_OP_DBUF_CREATE);
SAME(DISPL_OP_DBUF_DESTROY, XENDISPL_OP_DBUF_DESTROY);
SAME(DISPL_OP_PG_FLIP, XENDISPL_OP_PG_FLIP);

int main(void)
{
	/* Everything is checked at compile time; say what was compared. */
	printf("grant and page-directory layouts match xen/grant_table.h, displif.h and sndif.h\n");
	return 0;
}
