/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers of the grant tests: descriptors over unix sockets (as a hostile
 * peer speaks the protocol), and a log capture that the tables' threads
 * may write to while a test reads it.
 */
#ifndef UIOMMU_GRANT_TEST_UTIL_H
#define UIOMMU_GRANT_TEST_UTIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include <uiommu/uiommu.h>

/* Send @len bytes and, if @fd >= 0, that descriptor. What sendmsg() returns. */
static inline ssize_t test_send_fd(int sock, const void *buf, size_t len, int fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = sizeof(cbuf.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

/* Receive up to @len bytes and the first descriptor with them (*@fd, else -1). */
static inline ssize_t test_recv_fd(int sock, void *buf, size_t len, int *fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cbuf;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			      .msg_controllen = sizeof(cbuf.buf) };
	ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL;

	*fd = -1;
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(c), sizeof(int));
	return n;
}

/*
 * The log: messages of every context given test_log_ctx_new(), from any
 * thread. The last TEST_LOG_KEEP since test_log_reset() are kept;
 * messages at UIOMMU_LOG_ERR, at WARNING or worse, and those containing
 * test_log_watch are counted.
 */
#define TEST_LOG_KEEP 64
static pthread_mutex_t test_log_lock = PTHREAD_MUTEX_INITIALIZER;
static char test_logs[TEST_LOG_KEEP][512];
static unsigned int test_nlogs;
static _Atomic unsigned int test_log_errors, test_log_warnings, test_log_watched;
static const char *test_log_watch;

static inline void test_log_fn(void *opaque, enum uiommu_log_level level, const char *msg)
{
	(void)opaque;
	pthread_mutex_lock(&test_log_lock);
	snprintf(test_logs[test_nlogs++ % TEST_LOG_KEEP], sizeof(test_logs[0]), "%s", msg);
	if (test_log_watch && strstr(msg, test_log_watch))
		test_log_watched++;
	pthread_mutex_unlock(&test_log_lock);
	if (level <= UIOMMU_LOG_ERR)
		test_log_errors++;
	if (level <= UIOMMU_LOG_WARNING)
		test_log_warnings++;
}

/* Was @what in a message since the last reset? */
static inline bool test_log_contains(const char *what)
{
	bool found = false;

	pthread_mutex_lock(&test_log_lock);
	for (unsigned int i = 0; i < TEST_LOG_KEEP && i < test_nlogs; i++)
		found = found || strstr(test_logs[i], what);
	pthread_mutex_unlock(&test_log_lock);
	return found;
}

static inline void test_log_reset(void)
{
	pthread_mutex_lock(&test_log_lock);
	test_nlogs = 0;
	pthread_mutex_unlock(&test_log_lock);
}

/* A context logging there (at every level), with guest errors not rate-limited. */
static inline struct uiommu_ctx *test_log_ctx_new(unsigned int host_page_shift)
{
	struct uiommu_ctx_config cfg = { .size = sizeof(cfg), .host_page_shift = host_page_shift,
					 .log_fn = test_log_fn, .log_max_level = UIOMMU_LOG_DEBUG };
	struct uiommu_ctx *ctx = NULL;

	if (uiommu_ctx_new(&cfg, &ctx))
		return NULL;
	uiommu_ctx_set_guest_log_ratelimit(ctx, 1000000, 1);
	return ctx;
}

#endif /* UIOMMU_GRANT_TEST_UTIL_H */
