/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault points: every call site of a fallible step, so that tests can prove
 * they failed each one.
 *
 * Each use of ctx_fault(), ctx_alloc(), ctx_alloc_aligned(),
 * ctx_alloc_array(), mem_frames_alloc() and mem_frames_alloc_shared()
 * (internal.h) is a fault point:
 * the macro places a static descriptor of its call site (file, line, fault
 * class) in the linker section "uiommu_fault_points" and passes it down.
 * When uiommu_ctx_inject_fault() makes that call site fail, the descriptor
 * is marked failed. fault_points() lists the descriptors of every object
 * linked into the binary, so a program linking the whole library sees
 * every fault point of src/ without a list anyone keeps by hand: a module
 * that lands adds its points by using these macros. The fault test
 * (tests/fault/) prints "fault points: F failed / P present" and fails
 * unless F == P.
 *
 * The marks are process-wide, as coverage counters are; they hold no
 * context state and change nothing the library does.
 */
#ifndef UIOMMU_CORE_FAULT_H
#define UIOMMU_CORE_FAULT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct fault_point {
	const char *file;	  /* __FILE__ of the call site */
	unsigned int line;
	unsigned int fault_class; /* one UIOMMU_FAULT_* class */
	_Atomic bool failed;	  /* an injected fault failed this call site */
};

/*
 * FAULT_POINT() - The descriptor of this call site, for a fault of
 * @fault_class (a constant). A GNU statement expression: the static lives
 * where the macro is expanded.
 */
#define FAULT_POINT(fault_class)                                                           \
	(__extension__({                                                                   \
		static struct fault_point fault_point_                                     \
			__attribute__((section("uiommu_fault_points"), used, aligned(8))) = { \
				__FILE__, __LINE__, (fault_class), false                   \
			};                                                                 \
		&fault_point_;                                                             \
	}))

/*
 * fault_points() - The fault points linked into this binary: *@ret_first
 * gets the first of the returned number of descriptors. A call site may
 * appear more than once (a macro in an inline function of a header is
 * expanded in each object): tell points apart by file and line.
 */
size_t fault_points(struct fault_point **ret_first);

#endif /* UIOMMU_CORE_FAULT_H */
