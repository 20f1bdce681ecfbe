// SPDX-License-Identifier: BSD-3-Clause
/* A test that cannot run here: say why (SKIP_REASON) and exit 77, which meson counts as skipped. */
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "skipped: %s\n", SKIP_REASON);
	return 77;
}
