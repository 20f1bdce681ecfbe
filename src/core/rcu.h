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
#include <stdbool.h>

#ifndef UIOMMU_RCU_MUTEX
#include <urcu/wfcqueue.h>
#endif

struct rcu_node {
#ifdef UIOMMU_RCU_MUTEX
	struct rcu_node *next;
#else
	struct cds_wfcq_node head; /* in rcu.c's queue of deferred work */
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
 * @fn runs in some thread of the library's choosing (liburcu's call_rcu
 * worker, or one in rcu_wait_callbacks()): it may free and uncharge, but
 * must not block or wait for RCU.
 */
void rcu_defer(struct rcu_node *node, void (*fn)(struct rcu_node *node));

/* Wait for a grace period. Not inside a read-side critical section. */
void rcu_wait_grace(void);

/*
 * Wait until every rcu_defer() callback queued so far has run; runs them in
 * the calling thread if need be (one grace period, no sleep). Cheap when
 * nothing is queued. Not inside a reader, nor in a callback.
 */
void rcu_wait_callbacks(void);

#define rcu_deref(p) atomic_load_explicit(&(p), memory_order_acquire)
#define rcu_publish(p, v) atomic_store_explicit(&(p), (v), memory_order_release)

/*
 * The QSBR flavour (rcu_qsbr.c), for vCPU threads (uiommu/vcpu.h). A
 * registered thread is either offline (it reads nothing RCU protects, and
 * may block) or online, and then inside a read-side section until it
 * reports a quiescent state or goes offline: its reads take no lock at all.
 * rcu_defer() and rcu_wait_grace() wait for QSBR readers too once one has
 * registered, so every object is freed after a grace period of both
 * flavours. One registration per thread, which starts offline.
 *
 * -Drcu=mutex has no QSBR flavour: there an online thread holds the
 * lock-based read side (online is rcu_read_enter(), offline
 * rcu_read_exit(), a quiescent state both), which is what QSBR promises
 * and what ThreadSanitizer understands.
 */
#ifndef UIOMMU_RCU_MUTEX
void rcu_qsbr_register(void);
void rcu_qsbr_unregister(void);
void rcu_qsbr_online(void);
void rcu_qsbr_offline(void);
void rcu_qsbr_quiescent(void);
/*
 * For rcu.c: wait for a QSBR grace period, after a urcu-bp one that began
 * after the object was unpublished (nothing if no reader ever registered:
 * one that registered later cannot reach it; one registered before set the
 * flag this reads, and that grace period's barriers order the two).
 */
void rcu_qsbr_wait_grace(void);
#else
static inline void rcu_qsbr_register(void)
{
}
static inline void rcu_qsbr_unregister(void)
{
}
static inline void rcu_qsbr_online(void)
{
	rcu_read_enter();
}
static inline void rcu_qsbr_offline(void)
{
	rcu_read_exit();
}
static inline void rcu_qsbr_quiescent(void)
{
	rcu_read_exit();
	rcu_read_enter();
}
#endif

#endif /* UIOMMU_CORE_RCU_H */
