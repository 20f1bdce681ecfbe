/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The library's one door to RCU.
 *
 * Default build: liburcu's "bulletproof" flavor (urcu-bp). Threads need not
 * register (embedders' vCPU threads just call in), and with membarrier(2)
 * the read side costs a TLS access and compiler barriers, no fence.
 *
 * -Drcu=mutex: a lock-based stand-in for ThreadSanitizer builds, whose
 * happens-before edges TSan understands (liburcu 0.13's hand-written
 * barriers it does not). Readers take a process-wide rwlock; deferred frees
 * are queued and run by the next grace period started outside any reader.
 *
 * Pointers published to readers are C11 _Atomic and go through rcu_deref()
 * and rcu_publish() (acquire / release).
 */
#ifndef UIOMMU_CORE_RCU_H
#define UIOMMU_CORE_RCU_H

#include <stdatomic.h>

#ifndef UIOMMU_RCU_MUTEX
#include <urcu/map/urcu-bp.h> /* before call-rcu.h: maps call_rcu to the bp flavor */
#include <urcu/call-rcu.h>
#endif

struct rcu_node {
#ifdef UIOMMU_RCU_MUTEX
	struct rcu_node *next;
#else
	struct rcu_head head;
#endif
	void (*fn)(struct rcu_node *node);
};

/* Once per process, before any other call: fork handlers. Idempotent, thread-safe. */
void rcu_setup(void);

/* Enter / leave a read-side critical section. Nests. Never blocks (urcu-bp). */
void rcu_read_enter(void);
void rcu_read_exit(void);

/*
 * Run @fn(@node) after every reader that could see the object has left.
 * May be called inside a read-side critical section. Never blocks.
 */
void rcu_defer(struct rcu_node *node, void (*fn)(struct rcu_node *node));

/* Wait for a grace period. Not inside a read-side critical section. */
void rcu_wait_grace(void);

/* Wait until every rcu_defer() callback queued so far has run. Not inside a reader. */
void rcu_wait_callbacks(void);

#define rcu_deref(p) atomic_load_explicit(&(p), memory_order_acquire)
#define rcu_publish(p, v) atomic_store_explicit(&(p), (v), memory_order_release)

#endif /* UIOMMU_CORE_RCU_H */
