// SPDX-License-Identifier: BSD-3-Clause
/*
 * Logging through the context's callback. The library never prints.
 *
 * Guest errors (UIOMMU_LOG_GUEST_ERROR, QEMU's LOG_GUEST_ERROR) are counted
 * always and delivered at most rl_burst times per rl_interval_ns, as the
 * kernel's printk_ratelimit() (10 per 5 s by default), so that a guest
 * cannot flood the host's log.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "../internal.h"

#define LOG_MSG_MAX 512
#define RL_DEFAULT_BURST 10
#define RL_DEFAULT_INTERVAL_NS (5ULL * 1000000000ULL)

void log_init(struct uiommu_ctx *ctx)
{
	pthread_mutex_init(&ctx->log_lock, NULL);
	ctx->rl_burst = RL_DEFAULT_BURST;
	ctx->rl_interval_ns = RL_DEFAULT_INTERVAL_NS;
	atomic_init(&ctx->log_max_level, 0);
}

UIOMMU_EXPORT int uiommu_ctx_set_log(struct uiommu_ctx *ctx, uiommu_log_fn *fn, void *opaque,
				     unsigned int max_level)
{
	if (max_level > UIOMMU_LOG_DEBUG)
		return -EINVAL;
	if (!max_level)
		max_level = UIOMMU_LOG_INFO;
	pthread_mutex_lock(&ctx->log_lock);
	ctx->log_fn = fn;
	ctx->log_opaque = opaque;
	atomic_store(&ctx->log_max_level, fn ? max_level : 0);
	pthread_mutex_unlock(&ctx->log_lock);
	return 0;
}

UIOMMU_EXPORT int uiommu_ctx_set_guest_log_ratelimit(struct uiommu_ctx *ctx, unsigned int burst,
						     uint64_t interval_ns)
{
	if (!interval_ns)
		return -EINVAL;
	pthread_mutex_lock(&ctx->log_lock);
	ctx->rl_burst = burst;
	ctx->rl_interval_ns = interval_ns;
	ctx->rl_window_start_ns = 0;
	ctx->rl_in_window = 0;
	pthread_mutex_unlock(&ctx->log_lock);
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * Decide whether a guest error may be delivered now; under log_lock. When
 * it may and messages were suppressed before, *ret_dropped tells how many.
 */
static bool ratelimit_pass(struct uiommu_ctx *ctx, uint64_t *ret_dropped)
{
	uint64_t now = now_ns();

	*ret_dropped = 0;
	if (!ctx->rl_window_start_ns || now - ctx->rl_window_start_ns >= ctx->rl_interval_ns) {
		ctx->rl_window_start_ns = now;
		ctx->rl_in_window = 0;
	}
	if (ctx->rl_in_window < ctx->rl_burst) {
		ctx->rl_in_window++;
		/* Drops only happen once a window's burst is spent: report them now. */
		*ret_dropped = ctx->rl_suppressed;
		ctx->rl_suppressed = 0;
		return true;
	}
	ctx->rl_suppressed++;
	ctx_count(ctx, UIOMMU_COUNTER_LOG_SUPPRESSED, 1);
	return false;
}

void ctx_log(struct uiommu_ctx *ctx, enum uiommu_log_level level, const char *fmt, ...)
{
	char msg[LOG_MSG_MAX];
	uint64_t dropped = 0;
	va_list ap;

	if (level == UIOMMU_LOG_GUEST_ERROR)
		ctx_count(ctx, UIOMMU_COUNTER_GUEST_ERRORS, 1);
	if ((unsigned int)level > atomic_load_explicit(&ctx->log_max_level, memory_order_relaxed))
		return;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	pthread_mutex_lock(&ctx->log_lock);
	if (!ctx->log_fn)
		goto out;
	if (level == UIOMMU_LOG_GUEST_ERROR && !ratelimit_pass(ctx, &dropped))
		goto out;
	if (dropped) {
		char note[96];

		snprintf(note, sizeof(note), "%llu guest error messages suppressed",
			 (unsigned long long)dropped);
		ctx->log_fn(ctx->log_opaque, UIOMMU_LOG_GUEST_ERROR, note);
	}
	ctx->log_fn(ctx->log_opaque, level, msg);
out:
	pthread_mutex_unlock(&ctx->log_lock);
}
