// SPDX-License-Identifier: BSD-3-Clause
/*
 * The second RCU flavour: liburcu's QSBR (quiescent-state-based
 * reclamation), for the threads a VMM runs its vCPUs on (uiommu/vcpu.h).
 * See rcu.h.
 *
 * A QSBR reader pays nothing per read-side section: a registered thread
 * that is online is inside one all the time, and says so only when it
 * reports a quiescent state (it holds no RCU-protected pointer then) or
 * goes offline (it may block). That is how KVM's hypercall handlers ran:
 * a CPU in guest context is in a read-side section until it leaves it.
 *
 * The library frees everything RCU protects through rcu_defer() and waits
 * with rcu_wait_grace(): once any thread has registered, both also wait
 * for a QSBR grace period (rcu.c's flush of deferred work and
 * rcu_wait_grace() call rcu_qsbr_wait_grace() after their urcu-bp grace
 * period), so that every object a QSBR reader can reach is freed only
 * after a grace period of the flavour that read it, whichever module owns
 * it. Before the first registration that costs one relaxed load; a
 * process without vCPUs never uses this flavour.
 *
 * Built with liburcu only: -Drcu=mutex has no QSBR flavour (rcu.h).
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* The flavour's own names only (urcu_qsbr_*); rcu.h maps the unprefixed ones to urcu-bp. */
#include <urcu/urcu-qsbr.h>
#include <urcu/map/clear.h>

#include "rcu.h"
#include "util.h"

/* Set for good by the first registration: from then on, frees wait for QSBR readers. */
static _Atomic bool qsbr_used;

void rcu_qsbr_register(void)
{
	/* Before the thread can read anything: a free that starts after this waits for it. */
	atomic_store(&qsbr_used, true);
	urcu_qsbr_register_thread();
	urcu_qsbr_thread_offline();
}

void rcu_qsbr_unregister(void)
{
	/* liburcu wants an online thread to unregister. */
	urcu_qsbr_thread_online();
	urcu_qsbr_unregister_thread();
}

void rcu_qsbr_online(void)
{
	urcu_qsbr_thread_online();
}

void rcu_qsbr_offline(void)
{
	urcu_qsbr_thread_offline();
}

void rcu_qsbr_quiescent(void)
{
	urcu_qsbr_quiescent_state();
}

void rcu_qsbr_wait_grace(void)
{
	if (atomic_load(&qsbr_used))
		urcu_qsbr_synchronize_rcu();
}
