// SPDX-License-Identifier: BSD-3-Clause
/*
 * Attaching host tables to LIOBNs, with the semantics of Linux
 * KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE (virt/kvm/vfio.c) and
 * kvm_spapr_tce_attach_iommu_group() / kvm_spapr_tce_release_iommu_group()
 * (arch/powerpc/kvm/book3s_64_vio.c). See uiommu/accel.h and accel.h.
 */
#include "accel.h"

/* ---- the guest's attachments ---- */

static void accel_guest_fini(void *owner, void *state);

struct accel_guest *accel_guest_peek(struct uiommu_guest *guest)
{
	return ext_get(&guest->ext[GUEST_EXT_ACCEL]);
}

static struct accel_guest *accel_guest_get(struct uiommu_guest *guest)
{
	struct accel_guest *ag = accel_guest_peek(guest), *won;

	if (ag)
		return ag;
	ag = ctx_alloc(guest->ctx, sizeof(*ag));
	if (!ag)
		return NULL;
	ag->ctx = guest->ctx;
	pthread_rwlock_init(&ag->lock, NULL);
	won = ext_install(&guest->ext[GUEST_EXT_ACCEL], ag, accel_guest_fini);
	if (won != ag) {
		pthread_rwlock_destroy(&ag->lock);
		ctx_free(guest->ctx, ag);
	}
	return won;
}

/* ---- compatibility ---- */

/*
 * KVM's matching of a hardware table to a guest table ("KVM: PPC: Book3S:
 * Fix matching of hardware and emulated TCE tables"): no larger page, the
 * same bus start, and the whole guest window covered.
 */
bool accel_compatible(const struct uiommu_tce_table_info *ti, const void *arg)
{
	const struct accel_geometry *g = arg;
	uint64_t host_last = ti->bus_offset + ((ti->it_size << ti->page_shift) - 1);

	return ti->page_shift <= g->page_shift && ti->bus_offset == g->bus_offset &&
	       host_last >= g->bus_last;
}

/* The attached table of (@liobn, @tbl), or NULL. Under ag->lock. */
static struct accel_table *table_find(struct accel_guest *ag, uint64_t liobn,
				      const struct uiommu_tce_table *tbl)
{
	for (struct accel_table *at = ag->tables; at; at = at->next)
		if (at->liobn == liobn && at->tbl == tbl)
			return at;
	return NULL;
}

/* The link of @grp on @liobn, and its table, or NULL. Under ag->lock. */
static struct accel_link **link_find(struct accel_guest *ag, uint64_t liobn,
				     const struct uiommu_table_group *grp,
				     struct accel_table **ret_at)
{
	for (struct accel_table *at = ag->tables; at; at = at->next) {
		if (at->liobn != liobn)
			continue;
		for (struct accel_link **l = &at->links; *l; l = &(*l)->next) {
			if ((*l)->grp == grp) {
				*ret_at = at;
				return l;
			}
		}
	}
	return NULL;
}

/* Unhook @at from papr (a grace period), drop its table and free it. Under ag->lock. */
static void table_detach(struct accel_guest *ag, struct accel_table *at)
{
	struct accel_table **p = &ag->tables;

	while (*p != at)
		p = &(*p)->next;
	*p = at->next;
	if (papr_liobn_detach_hw(at->guest, at->liobn, &accel_hw_ops, at))
		ctx_err(ag->ctx, "accel: LIOBN 0x%llx: its table was not attached",
			(unsigned long long)at->liobn);
	while (at->links) {
		struct accel_link *l = at->links;

		at->links = l->next;
		ctx_free(ag->ctx, l);
	}
	uiommu_tce_table_unref(at->tbl);
	ctx_free(ag->ctx, at);
}

/* ---- public ---- */

UIOMMU_EXPORT int uiommu_accel_attach(struct uiommu_guest *guest, uint64_t liobn,
				      struct uiommu_table_group *grp)
{
	struct uiommu_tce_table_info ti = { .size = sizeof(ti) };
	struct uiommu_vfio_container *c = NULL;
	struct accel_geometry g;
	struct uiommu_tce_table *tbl = NULL;
	struct accel_table *at, *tmp;
	struct accel_link *link;
	struct accel_guest *ag;
	unsigned int shift;
	uint64_t bus, size;
	int num, ret;

	if (!guest || !grp || grp->ctx != guest->ctx)
		return -EINVAL;
	if (uiommu_liobn_info(guest, liobn, &bus, &shift, &size))
		return -ENOENT;
	if (uiommu_vfio_group_get_container(grp, &c))
		return -ENOENT;
	ag = accel_guest_get(guest);
	if (!ag)
		return -ENOMEM;
	g = (struct accel_geometry){ .bus_offset = bus,
				     .bus_last = bus + ((size << shift) - 1),
				     .page_shift = shift };

	pthread_rwlock_wrlock(&ag->lock);
	ret = -EEXIST;
	if (link_find(ag, liobn, grp, &tmp))
		goto out;
	ret = vfio_group_window(c, grp, accel_compatible, &g, &tbl, &num);
	if (ret) {
		ctx_guest_error(guest->ctx, "accel: no table of group %s is compatible with LIOBN "
				"0x%llx (2^%u-byte pages from 0x%llx, 0x%llx bytes)", grp->name,
				(unsigned long long)liobn, shift, (unsigned long long)bus,
				(unsigned long long)(size << shift));
		goto out;
	}
	ret = -ENOMEM;
	link = ctx_alloc(guest->ctx, sizeof(*link));
	if (!link)
		goto out_unref;
	link->grp = grp;
	at = table_find(ag, liobn, tbl);
	if (at) {
		/* Another group of the container: one table, one reference (Linux takes two). */
		uiommu_tce_table_unref(tbl);
		link->next = at->links;
		at->links = link;
		ret = 0;
		goto out;
	}
	at = ctx_alloc(guest->ctx, sizeof(*at));
	if (!at)
		goto out_link;
	uiommu_tce_table_info(tbl, &ti);
	at->guest = guest;
	at->ctx = guest->ctx;
	at->liobn = liobn;
	at->tbl = tbl;
	at->c = c;
	at->num = num;
	at->host_shift = ti.page_shift;
	at->guest_shift = shift;
	at->sub_shift = shift - ti.page_shift;
	/* As the table stores a direction: a write-only TCE is read-write (stored_perm). */
	for (unsigned int p = 0; p < 4; p++)
		at->perm[p] = (p & UIOMMU_TCE_WRITE) ? UIOMMU_TCE_PERM_MASK : p;
	at->links = link;
	link->next = NULL;
	ret = papr_liobn_attach_hw(guest, liobn, &accel_hw_ops, at);
	if (ret) {
		if (ret == -ENOSPC)
			ctx_warn(guest->ctx, "accel: LIOBN 0x%llx has %d tables attached already",
				 (unsigned long long)liobn, UIOMMU_ACCEL_MAX_TABLES);
		ctx_free(guest->ctx, at);
		goto out_link;
	}
	at->next = ag->tables;
	ag->tables = at;
	goto out;

out_link:
	ctx_free(guest->ctx, link);
out_unref:
	uiommu_tce_table_unref(tbl);
out:
	pthread_rwlock_unlock(&ag->lock);
	return ret;
}

UIOMMU_EXPORT int uiommu_accel_detach(struct uiommu_guest *guest, uint64_t liobn,
				      struct uiommu_table_group *grp)
{
	struct accel_guest *ag;
	struct accel_table *at;
	struct accel_link **l, *link;

	if (!guest || !grp)
		return -EINVAL;
	ag = accel_guest_peek(guest);
	if (!ag)
		return -ENOENT;
	pthread_rwlock_wrlock(&ag->lock);
	l = link_find(ag, liobn, grp, &at);
	if (!l) {
		pthread_rwlock_unlock(&ag->lock);
		return -ENOENT;
	}
	link = *l;
	*l = link->next;
	ctx_free(ag->ctx, link);
	if (!at->links)
		table_detach(ag, at);
	pthread_rwlock_unlock(&ag->lock);
	return 0;
}

UIOMMU_EXPORT int uiommu_accel_release_group(struct uiommu_guest *guest,
					     struct uiommu_table_group *grp)
{
	struct accel_guest *ag;
	int n = 0;

	if (!guest || !grp)
		return -EINVAL;
	ag = accel_guest_peek(guest);
	if (!ag)
		return 0;
	pthread_rwlock_wrlock(&ag->lock);
	for (struct accel_table *at = ag->tables, *next; at; at = next) {
		next = at->next;
		for (struct accel_link **l = &at->links; *l; l = &(*l)->next) {
			struct accel_link *link = *l;

			if (link->grp != grp)
				continue;
			*l = link->next;
			ctx_free(ag->ctx, link);
			n++;
			if (!at->links)
				table_detach(ag, at);
			break;
		}
	}
	pthread_rwlock_unlock(&ag->lock);
	return n;
}

/* The first published layout of struct uiommu_accel_info. */
#define INFO_SIZE_V1 sizeof(struct uiommu_accel_info)

UIOMMU_EXPORT int uiommu_accel_info(struct uiommu_guest *guest, uint64_t liobn,
				    struct uiommu_accel_info *ret_info)
{
	struct uiommu_accel_info out = { .size = (uint32_t)INFO_SIZE_V1 };
	struct accel_guest *ag;

	if (!guest || !ret_info || ret_info->size < INFO_SIZE_V1)
		return -EINVAL;
	ag = accel_guest_peek(guest);
	if (ag) {
		pthread_rwlock_rdlock(&ag->lock);
		for (struct accel_table *at = ag->tables; at; at = at->next) {
			if (at->liobn != liobn)
				continue;
			out.tables++;
			for (struct accel_link *l = at->links; l; l = l->next)
				out.groups++;
			out.too_hard += atomic_load_explicit(&at->too_hard, memory_order_relaxed);
			out.vmm_hcalls += atomic_load_explicit(&at->vmm_hcalls, memory_order_relaxed);
			out.vmm_failures +=
				atomic_load_explicit(&at->vmm_failures, memory_order_relaxed);
		}
		pthread_rwlock_unlock(&ag->lock);
	}
	struct_copy_out(ret_info, &out, INFO_SIZE_V1);
	return 0;
}

/* The GUEST_EXT_ACCEL finaliser, before the guest's PAPR state goes: detach everything. */
static void accel_guest_fini(void *owner, void *state)
{
	struct accel_guest *ag = state;

	(void)owner;
	while (ag->tables)
		table_detach(ag, ag->tables);
	pthread_rwlock_destroy(&ag->lock);
	ctx_free(ag->ctx, ag);
}
