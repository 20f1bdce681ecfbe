/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Extension slots: how an upper module hangs its state off a lower object
 * without the lower one calling up.
 *
 * A lower object (a context, a guest) embeds slots. An upper module creates
 * its state on first use and installs it together with its own finaliser;
 * the lower object never interprets the state and, when it is destroyed,
 * only calls the finaliser that was registered with it. So the memory
 * model hangs off a context, and the PAPR state off a guest, while core/
 * and guest/ know neither mem/ nor papr/.
 *
 * Installation is lock-free and may race: the loser frees its own state
 * and uses the winner's. Destruction (ext_fini()) must not race with any
 * other use of the slot: it runs when the owner is destroyed, which by the
 * owner's contract is its last call.
 */
#ifndef UIOMMU_CORE_EXT_H
#define UIOMMU_CORE_EXT_H

#include <stdatomic.h>
#include <stddef.h>

/*
 * @fini: called once by ext_fini() with the owner and the state; it frees
 * the state. Set by the module whose state won ext_install().
 */
typedef void ext_fini_fn(void *owner, void *state);

struct ext_slot {
	void *_Atomic state;
	ext_fini_fn *_Atomic fini;
};

/* The installed state, or NULL (acquire: the state's fields are visible). */
static inline void *ext_get(const struct ext_slot *slot)
{
	return atomic_load_explicit(&((struct ext_slot *)slot)->state, memory_order_acquire);
}

/*
 * ext_install() - Install @state with @fini if the slot is empty.
 * Returns the state that is installed: @state if it won, else the state
 * another thread installed first (the caller then frees its own).
 */
static inline void *ext_install(struct ext_slot *slot, void *state, ext_fini_fn *fini)
{
	void *expected = NULL;

	/* The finaliser is set before the state is published, by the winner only. */
	if (atomic_compare_exchange_strong_explicit(&slot->state, &expected, state,
						    memory_order_acq_rel, memory_order_acquire)) {
		atomic_store_explicit(&slot->fini, fini, memory_order_release);
		return state;
	}
	return expected;
}

/* ext_fini() - Run the slot's finaliser, if a state is installed, and empty it. */
static inline void ext_fini(struct ext_slot *slot, void *owner)
{
	void *state = atomic_exchange_explicit(&slot->state, NULL, memory_order_acq_rel);
	ext_fini_fn *fini = atomic_exchange_explicit(&slot->fini, NULL, memory_order_acq_rel);

	if (state && fini)
		fini(owner, state);
}

#endif /* UIOMMU_CORE_EXT_H */
