// SPDX-License-Identifier: BSD-3-Clause
/*
 * In an UndefinedBehaviorSanitizer build, a test with undefined behaviour
 * must fail: UBSan prints its report and goes on unless UBSAN_OPTIONS says
 * halt_on_error=1, and then the test would pass. Registered with
 * should_fail and no environment of its own, so that it passes only if
 * every test gets the sanitizer options from the project's default test
 * setup (the top-level meson.build), whether or not it sets them itself.
 */
#include <limits.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	int x = INT_MAX - 1 + (argv[0] != NULL);

	(void)argc;
	x += argc; /* INT_MAX + 1: signed overflow, a UBSan report */
	printf("UBSan went on past a report (x = %d): UBSAN_OPTIONS lacks halt_on_error=1\n", x);
	return 0;
}
