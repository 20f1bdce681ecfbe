// SPDX-License-Identifier: BSD-3-Clause
/*
 * RCU wrapper: liburcu-bp, or a lock-based stand-in for TSan builds.
 * See rcu.h.
 */
#include <pthread.h>
#include <stddef.h>

#include "../internal.h"

#ifndef UIOMMU_RCU_MUTEX

#include <urcu/urcu-bp.h>
#include <urcu/wfcqueue.h>

/*
 * Deferred work. liburcu's call_rcu worker batches: once woken it sleeps
 * 10 ms before it runs anything, so waiting for it (rcu_barrier()) costs
 * 10 ms or more, once per uiommu_ctx_free(). The library keeps its own
 * queue instead and uses call_rcu only to have it run in the background:
 *
 * - rcu_defer() appends the node to one wait-free queue (liburcu's
 *   cds_wfcq) and, unless a background flush is pending already, queues
 *   one with call_rcu(). Wait-free: callable inside a reader, from any
 *   thread.
 * - A flush takes the whole queue, waits for a grace period, which began
 *   after every node it took was queued (of both flavours once a vCPU
 *   thread has registered for QSBR, rcu_qsbr.c), and runs the nodes in
 *   queue order. Flushes hold defer_lock, so they run one at a time; the
 *   background one runs in liburcu's call_rcu worker.
 * - rcu_wait_callbacks() flushes in the calling thread. When it returns,
 *   every node queued before the call has run: nodes an earlier flush took
 *   ran before it got defer_lock, the rest it ran itself. With nothing
 *   queued it costs a lock and no grace period.
 *
 * So a callback may run in any thread that calls rcu_wait_callbacks()
 * (uiommu_ctx_free() of another context, for instance): callbacks only
 * free and uncharge, never block, and never wait for RCU themselves.
 */
static struct cds_wfcq_head defer_head;
static struct cds_wfcq_tail defer_tail;
static pthread_mutex_t defer_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic bool defer_flush_pending;
static struct rcu_head defer_flush_head;

/* Run everything queued so far, after a grace period. Not inside a reader. */
static void defer_flush(void)
{
	struct __cds_wfcq_head head;
	struct cds_wfcq_tail tail;
	struct cds_wfcq_node *n, *next;

	__cds_wfcq_init(&head, &tail);
	pthread_mutex_lock(&defer_lock);
	if (__cds_wfcq_splice_blocking(&head, &tail, &defer_head, &defer_tail) ==
	    CDS_WFCQ_RET_SRC_EMPTY) {
		pthread_mutex_unlock(&defer_lock);
		return;
	}
	urcu_bp_synchronize_rcu();
	rcu_qsbr_wait_grace(); /* vCPU threads (QSBR readers) may still read them too */
	__cds_wfcq_for_each_blocking_safe(&head, &tail, n, next) {
		struct rcu_node *node = container_of(n, struct rcu_node, head);

		node->fn(node);
	}
	pthread_mutex_unlock(&defer_lock);
}

/* The background flush, in liburcu's call_rcu worker. */
static void defer_flush_rcu(struct rcu_head *head)
{
	(void)head;
	/*
	 * Clear first (an exchange, so that it sees every node whose
	 * rcu_defer() saw the flag set): a node queued from now on queues a
	 * flush of its own.
	 */
	atomic_exchange(&defer_flush_pending, false);
	defer_flush();
}

/*
 * fork() without exec(): liburcu asks for its fork handlers to run, or a
 * child that uses RCU (a test's child process, a VMM's helper) waits
 * forever for the call_rcu thread that fork() did not copy. Prepare
 * handlers run in reverse order of these calls' nesting; the others in
 * order. defer_lock is taken after the call_rcu worker is paused (it may
 * wait for the lock inside a flush) and before liburcu's grace-period lock
 * (a flush holds defer_lock while it waits for a grace period).
 */
static void rcu_prepare_fork(void)
{
	urcu_bp_call_rcu_before_fork();
	pthread_mutex_lock(&defer_lock);
	urcu_bp_before_fork();
}

static void rcu_after_fork_parent(void)
{
	urcu_bp_after_fork_parent();
	pthread_mutex_unlock(&defer_lock);
	urcu_bp_call_rcu_after_fork_parent();
}

static void rcu_after_fork_child(void)
{
	urcu_bp_after_fork_child();
	pthread_mutex_unlock(&defer_lock);
	urcu_bp_call_rcu_after_fork_child();
}

static void rcu_init_once(void)
{
	cds_wfcq_init(&defer_head, &defer_tail);
	pthread_atfork(rcu_prepare_fork, rcu_after_fork_parent, rcu_after_fork_child);
}

void rcu_setup(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, rcu_init_once);
}

void rcu_read_enter(void)
{
	urcu_bp_read_lock();
}

void rcu_read_exit(void)
{
	urcu_bp_read_unlock();
}

void rcu_defer(struct rcu_node *node, void (*fn)(struct rcu_node *node))
{
	node->fn = fn;
	cds_wfcq_node_init(&node->head);
	cds_wfcq_enqueue(&defer_head, &defer_tail, &node->head);
	if (!atomic_exchange(&defer_flush_pending, true))
		urcu_bp_call_rcu(&defer_flush_head, defer_flush_rcu);
}

void rcu_wait_grace(void)
{
	urcu_bp_synchronize_rcu();
	rcu_qsbr_wait_grace();
}

void rcu_wait_callbacks(void)
{
	defer_flush();
}

#else /* UIOMMU_RCU_MUTEX */

/*
 * Process-wide on purpose: RCU is a property of the process (as liburcu's
 * is); it holds no uiommu state.
 */
static pthread_rwlock_t rcu_lock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t rcu_queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rcu_flushes_done = PTHREAD_COND_INITIALIZER;
static struct rcu_node *rcu_queue;
static unsigned int rcu_flushes; /* lists taken off rcu_queue and not yet run; rcu_queue_lock */
static _Thread_local unsigned int rcu_nesting;

void rcu_setup(void)
{
}

void rcu_read_enter(void)
{
	if (rcu_nesting++ == 0)
		pthread_rwlock_rdlock(&rcu_lock);
}

void rcu_read_exit(void)
{
	if (--rcu_nesting == 0)
		pthread_rwlock_unlock(&rcu_lock);
}

/*
 * Run every queued callback after waiting out all readers. Not in a reader.
 * The list is taken off the queue and run without the queue lock, so
 * another thread's flush may be running nodes queued before our call:
 * counted in rcu_flushes, for rcu_wait_callbacks().
 */
static void rcu_run_queue(void)
{
	struct rcu_node *list;

	pthread_mutex_lock(&rcu_queue_lock);
	list = rcu_queue;
	rcu_queue = NULL;
	if (list)
		rcu_flushes++;
	pthread_mutex_unlock(&rcu_queue_lock);
	if (!list)
		return;
	/* A writer lock held and released: no reader of the old state remains. */
	pthread_rwlock_wrlock(&rcu_lock);
	pthread_rwlock_unlock(&rcu_lock);
	while (list) {
		struct rcu_node *next = list->next;

		list->fn(list);
		list = next;
	}
	pthread_mutex_lock(&rcu_queue_lock);
	if (--rcu_flushes == 0)
		pthread_cond_broadcast(&rcu_flushes_done);
	pthread_mutex_unlock(&rcu_queue_lock);
}

void rcu_defer(struct rcu_node *node, void (*fn)(struct rcu_node *node))
{
	node->fn = fn;
	pthread_mutex_lock(&rcu_queue_lock);
	node->next = rcu_queue;
	rcu_queue = node;
	pthread_mutex_unlock(&rcu_queue_lock);
	if (rcu_nesting == 0)
		rcu_run_queue();
}

void rcu_wait_grace(void)
{
	pthread_rwlock_wrlock(&rcu_lock);
	pthread_rwlock_unlock(&rcu_lock);
}

/*
 * Our own queue first; then every flush that another thread took before
 * (a node queued before this call may be in one of them). Waiting for all
 * flushes also waits for ones that began after the call: harmless, as a
 * flush never waits for anything but readers, and callers are not readers.
 */
void rcu_wait_callbacks(void)
{
	rcu_run_queue();
	pthread_mutex_lock(&rcu_queue_lock);
	while (rcu_flushes)
		pthread_cond_wait(&rcu_flushes_done, &rcu_queue_lock);
	pthread_mutex_unlock(&rcu_queue_lock);
}

#endif
