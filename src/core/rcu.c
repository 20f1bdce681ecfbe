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

static void rcu_trampoline(struct rcu_head *head)
{
	struct rcu_node *node = container_of(head, struct rcu_node, head);

	if (!rcu_qsbr_chain(node)) /* vCPU threads may still read it: wait for them too */
		node->fn(node);
}

/*
 * fork() without exec(): liburcu asks for its fork handlers to run, or a
 * child that uses RCU (a test's child process, a VMM's helper) waits
 * forever for the call_rcu thread that fork() did not copy. Prepare handlers
 * run in reverse order of these calls' nesting; the others in order.
 */
static void rcu_prepare_fork(void)
{
	urcu_bp_call_rcu_before_fork();
	urcu_bp_before_fork();
}

static void rcu_after_fork_parent(void)
{
	urcu_bp_after_fork_parent();
	urcu_bp_call_rcu_after_fork_parent();
}

static void rcu_after_fork_child(void)
{
	urcu_bp_after_fork_child();
	urcu_bp_call_rcu_after_fork_child();
}

static void rcu_init_once(void)
{
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
	urcu_bp_call_rcu(&node->head, rcu_trampoline);
}

void rcu_wait_grace(void)
{
	urcu_bp_synchronize_rcu();
	rcu_qsbr_wait_grace();
}

void rcu_wait_callbacks(void)
{
	urcu_bp_barrier();
	rcu_qsbr_wait_callbacks(); /* what the urcu-bp callbacks chained there */
}

#else /* UIOMMU_RCU_MUTEX */

/*
 * Process-wide on purpose: RCU is a property of the process (as liburcu's
 * is); it holds no uiommu state.
 */
static pthread_rwlock_t rcu_lock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t rcu_queue_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rcu_node *rcu_queue;
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

/* Run every queued callback after waiting out all readers. Not in a reader. */
static void rcu_run_queue(void)
{
	struct rcu_node *list;

	pthread_mutex_lock(&rcu_queue_lock);
	list = rcu_queue;
	rcu_queue = NULL;
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

void rcu_wait_callbacks(void)
{
	rcu_run_queue();
}

#endif
