// SPDX-License-Identifier: BSD-3-Clause
/* The libFuzzer entry point of one driver, chosen with -DFUZZ_DRIVER=name. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return FUZZ_DRIVER(data, size);
}
