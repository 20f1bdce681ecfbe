// SPDX-License-Identifier: BSD-3-Clause
/*
 * Real events from the kernel: a userfaultfd(2) with the non-cooperative
 * events, registered over the mirrored ranges in write-protect mode (so
 * that no page fault is ever handed to us), and a monitor thread that turns
 * each event into an invalidation. See uiommu_mm_new() for what the kernel
 * waits for and why device accesses are held while an event is pending.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mirror.h"

#define UFFD_EVENTS_NEEDED                                                                  \
	(UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE |   \
	 UFFD_FEATURE_EVENT_UNMAP)

/* Events read at once; the kernel hands out as many as are queued. */
#define UFFD_BATCH 32

struct mirror_uffd {
	int fd;
	int stop_fd;		  /* eventfd: the monitor's signal to stop */
	pthread_t thread;
	pthread_mutex_t reg_lock; /* UFFDIO_(UN)REGISTER and the coverage they follow */
	uint64_t features;
};

static uint64_t page_down(uint64_t a)
{
	return a & ~(MIRROR_PAGE_SIZE - 1);
}

/* Last byte of the page holding @a. */
static uint64_t page_last(uint64_t a)
{
	return a | (MIRROR_PAGE_SIZE - 1);
}

/* ---- events ---- */

static void invalidate(struct uiommu_mm *mm, uint64_t start, uint64_t last,
		       enum uiommu_mmu_event event)
{
	const struct uiommu_mmu_range range = { .start = start, .last = last, .event = event,
						.flags = UIOMMU_MMU_RANGE_BLOCKABLE };

	if (!uiommu_mm_invalidate_range_start(mm, &range))
		uiommu_mm_invalidate_range_end(mm, &range);
}

/* Invalidate, with PROTECTION_PAGE, the private writable mappings fork made copy-on-write. */
static bool fork_vma_cb(void *opaque, uint64_t start, uint64_t last, const char *perms)
{
	struct uiommu_mm *mm = opaque;

	if (perms[1] == 'w' && perms[3] == 'p')
		invalidate(mm, start, last, UIOMMU_MMU_NOTIFY_PROTECTION_PAGE);
	return true;
}

static void handle_event(struct uiommu_mm *mm, const struct uffd_msg *msg)
{
	struct mirror_uffd *u = mm->uffd;

	switch (msg->event) {
	case UFFD_EVENT_UNMAP:
		atomic_fetch_add_explicit(&mm->st_events[0], 1, memory_order_relaxed);
		if (msg->arg.remove.end > msg->arg.remove.start)
			invalidate(mm, msg->arg.remove.start, msg->arg.remove.end - 1,
				   UIOMMU_MMU_NOTIFY_UNMAP);
		break;
	case UFFD_EVENT_REMOVE:
		atomic_fetch_add_explicit(&mm->st_events[1], 1, memory_order_relaxed);
		if (msg->arg.remove.end > msg->arg.remove.start)
			invalidate(mm, msg->arg.remove.start, msg->arg.remove.end - 1,
				   UIOMMU_MMU_NOTIFY_CLEAR);
		break;
	case UFFD_EVENT_REMAP:
		/* The old range no longer maps what was mirrored (Linux move_page_tables: UNMAP). */
		atomic_fetch_add_explicit(&mm->st_events[2], 1, memory_order_relaxed);
		if (msg->arg.remap.len)
			invalidate(mm, msg->arg.remap.from, msg->arg.remap.from + msg->arg.remap.len - 1,
				   UIOMMU_MMU_NOTIFY_UNMAP);
		break;
	case UFFD_EVENT_FORK:
		/*
		 * The child's mappings came with a userfaultfd of their own: we do
		 * not follow the child, and closing it unregisters them. Our own
		 * private writable pages are now copy-on-write (Linux
		 * copy_page_range() invalidates them with PROTECTION_PAGE).
		 */
		atomic_fetch_add_explicit(&mm->st_events[3], 1, memory_order_relaxed);
		close((int)msg->arg.fork.ufd);
		mirror_maps_walk(mm->ctx, fork_vma_cb, mm);
		break;
	default: {
		/* A page fault: impossible in write-protect mode without protection. Let it go. */
		struct uffdio_range r = { .start = page_down(msg->arg.pagefault.address),
					  .len = MIRROR_PAGE_SIZE };

		atomic_fetch_add_explicit(&mm->st_events[4], 1, memory_order_relaxed);
		if (msg->event == UFFD_EVENT_PAGEFAULT)
			ioctl(u->fd, UFFDIO_WAKE, &r);
		ctx_warn(mm->ctx, "mirror: unexpected userfaultfd event %u", msg->event);
		break;
	}
	}
}

/* Read and handle what is queued; false when nothing was. */
static bool drain_events(struct uiommu_mm *mm)
{
	struct uffd_msg msgs[UFFD_BATCH];
	bool any = false;
	ssize_t n;

	for (;;) {
		n = read(mm->uffd->fd, msgs, sizeof(msgs));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return any;
		}
		any = true;
		for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++)
			handle_event(mm, &msgs[i]);
	}
}

static void *monitor_thread(void *arg)
{
	struct uiommu_mm *mm = arg;
	struct mirror_uffd *u = mm->uffd;

	for (;;) {
		struct pollfd p[2] = { { .fd = u->fd, .events = POLLIN },
				       { .fd = u->stop_fd, .events = POLLIN } };

		if (poll(p, 2, -1) < 0)
			continue; /* EINTR */
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN)) {
			if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL))
				break;
			continue;
		}
		/*
		 * An event is pending and its thread waits until we read it. Hold
		 * device accesses first, and keep holding until every event read
		 * meanwhile is invalidated: then nothing reaches a page the kernel
		 * goes on to take away once read() has let it go.
		 */
		mm_dma_hold(mm);
		while (drain_events(mm))
			;
		mm_dma_release(mm);
	}
	return NULL;
}

/* ---- open and close ---- */

static int uffd_new_fd(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0 && errno == EPERM) /* vm.unprivileged_userfaultfd = 0: user faults only */
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0) {
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

		if (dev >= 0) {
			fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
			close(dev);
		}
	}
	return fd;
}

int uffd_open(struct uiommu_mm *mm)
{
	struct uiommu_ctx *ctx = mm->ctx;
	struct uffdio_api api = { .api = UFFD_API };
	struct mirror_uffd *u;
	sigset_t all, old;
	int probe, ret;

	/* A failed UFFDIO_API spoils a descriptor: learn the features on a throwaway one. */
	probe = uffd_new_fd();
	if (probe < 0) {
		ctx_err(ctx, "mirror: userfaultfd is not available to this process: %s",
			strerror(errno));
		return -EOPNOTSUPP;
	}
	ret = ioctl(probe, UFFDIO_API, &api);
	close(probe);
	if (ret || (api.features & UFFD_EVENTS_NEEDED) != UFFD_EVENTS_NEEDED) {
		ctx_err(ctx, "mirror: this kernel's userfaultfd lacks the non-cooperative events "
			     "(features 0x%llx)", (unsigned long long)api.features);
		return -EOPNOTSUPP;
	}

	u = ctx_alloc(ctx, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->fd = -1;
	u->stop_fd = -1;
	pthread_mutex_init(&u->reg_lock, NULL);
	u->features = UFFD_EVENTS_NEEDED | (api.features & UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
	ret = -ENOMEM;
	if (ctx_fault(ctx, UIOMMU_FAULT_MAP))
		goto err;
	u->fd = uffd_new_fd();
	if (u->fd < 0)
		goto err;
	api = (struct uffdio_api){ .api = UFFD_API, .features = u->features };
	if (ioctl(u->fd, UFFDIO_API, &api)) {
		ctx_err(ctx, "mirror: UFFDIO_API failed: %s", strerror(errno));
		ret = -EOPNOTSUPP;
		goto err;
	}
	u->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (u->stop_fd < 0)
		goto err;

	mm->uffd = u;
	/* The monitor takes no signal: they belong to the application's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&u->thread, NULL, monitor_thread, mm);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret || ctx_fault(ctx, UIOMMU_FAULT_HEAP)) {
		if (!ret) {
			eventfd_write(u->stop_fd, 1);
			pthread_join(u->thread, NULL);
		}
		mm->uffd = NULL;
		ret = -ENOMEM;
		goto err;
	}
	return 0;

err:
	if (u->stop_fd >= 0)
		close(u->stop_fd);
	if (u->fd >= 0)
		close(u->fd);
	pthread_mutex_destroy(&u->reg_lock);
	ctx_free(ctx, u);
	return ret;
}

void uffd_close(struct uiommu_mm *mm)
{
	struct mirror_uffd *u = mm->uffd;
	struct uiommu_interval_notifier *n;

	if (!u)
		return;
	eventfd_write(u->stop_fd, 1);
	pthread_join(u->thread, NULL);
	/*
	 * Unregister explicitly: a child process that inherited the descriptor
	 * keeps the kernel's context alive after our close, and the kernel would
	 * then wait forever for someone to read our events.
	 */
	pthread_mutex_lock(&u->reg_lock);
	pthread_mutex_lock(&mm->lock);
	for (n = mm_itree_first(&mm->itree, 0, UINT64_MAX); n;
	     n = mm_itree_next(n, 0, UINT64_MAX)) {
		struct uffdio_range r = { .start = page_down(n->start) };

		r.len = page_last(MIN(n->last, (uint64_t)UINTPTR_MAX)) - r.start + 1;
		ioctl(u->fd, UFFDIO_UNREGISTER, &r);
	}
	mm->uffd = NULL;
	pthread_mutex_unlock(&mm->lock);
	pthread_mutex_unlock(&u->reg_lock);
	close(u->stop_fd);
	close(u->fd);
	pthread_mutex_destroy(&u->reg_lock);
	ctx_free(mm->ctx, u);
}

/* ---- registrations ---- */

void uffd_reg_lock(struct uiommu_mm *mm)
{
	pthread_mutex_lock(&mm->uffd->reg_lock);
}

void uffd_reg_unlock(struct uiommu_mm *mm)
{
	pthread_mutex_unlock(&mm->uffd->reg_lock);
}

int uffd_register(struct uiommu_mm *mm, uint64_t start, uint64_t last)
{
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_WP };
	uint64_t first = page_down(start);

	if (last > (uint64_t)INTPTR_MAX) {
		ctx_err(mm->ctx, "mirror: [0x%llx, 0x%llx] is not a user address range",
			(unsigned long long)start, (unsigned long long)last);
		return -EFAULT;
	}
	reg.range.start = first;
	reg.range.len = page_last(last) - first + 1;
	if (!ioctl(mm->uffd->fd, UFFDIO_REGISTER, &reg))
		return 0;
	switch (errno) {
	case EBUSY:
		ctx_err(mm->ctx, "mirror: [0x%llx, 0x%llx] is registered with another userfaultfd",
			(unsigned long long)start, (unsigned long long)last);
		return -EBUSY;
	case ENOMEM:
		return -ENOMEM;
	default:
		ctx_err(mm->ctx, "mirror: cannot follow [0x%llx, 0x%llx] with userfaultfd: %s "
				 "(nothing mapped, or a mapping it cannot register)",
			(unsigned long long)start, (unsigned long long)last, strerror(errno));
		return -EFAULT;
	}
}

/*
 * Unregister the pages of [start, last] that no interval covers. The
 * intervals come in order of start, so the gaps between their page spans
 * are the runs to unregister. Under reg_lock (the caller's).
 */
void uffd_unregister_uncovered(struct uiommu_mm *mm, uint64_t start, uint64_t last)
{
	uint64_t cursor = page_down(start), end = page_last(MIN(last, (uint64_t)INTPTR_MAX));
	struct uiommu_interval_notifier *n, *d;
	struct uffdio_range r;

	pthread_mutex_lock(&mm->lock);
	/* A deferred insert is not in the tree yet: keep everything registered. */
	SLIST_FOREACH(d, &mm->deferred, deferred_item)
		if (!d->in_tree && range_overlaps(d->start, d->last, cursor, end))
			goto out;
	for (n = mm_itree_first(&mm->itree, cursor, end); n && cursor <= end;
	     n = mm_itree_next(n, cursor, end)) {
		uint64_t ns = page_down(n->start), nl = page_last(MIN(n->last, end));

		if (ns > cursor) {
			r = (struct uffdio_range){ .start = cursor, .len = ns - cursor };
			ioctl(mm->uffd->fd, UFFDIO_UNREGISTER, &r);
		}
		if (nl >= cursor)
			cursor = nl + 1;
		if (nl == end)
			goto out;
	}
	if (cursor <= end) {
		r = (struct uffdio_range){ .start = cursor, .len = end - cursor + 1 };
		ioctl(mm->uffd->fd, UFFDIO_UNREGISTER, &r);
	}
out:
	pthread_mutex_unlock(&mm->lock);
}
