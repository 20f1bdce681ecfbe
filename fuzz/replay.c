// SPDX-License-Identifier: BSD-3-Clause
/*
 * Replay a fuzz corpus through a driver with any compiler, so that the
 * corpus is a regression test in every build:
 *   replay-NAME FILE|DIR...
 * With --random N SEED, also run N random inputs from a fixed seed.
 */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	FUZZ_DRIVER(buf, (size_t)n);
	free(buf);
	return 0;
}

static int run_path(const char *path, int *count)
{
	struct stat st;
	DIR *d;
	struct dirent *e;

	if (stat(path, &st))
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		(*count)++;
		return run_file(path);
	}
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char sub[4096];

		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (run_path(sub, count)) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

int main(int argc, char **argv)
{
	int count = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--random") && i + 2 < argc) {
			unsigned long n = strtoul(argv[i + 1], NULL, 0);
			uint64_t s = strtoull(argv[i + 2], NULL, 0);
			uint8_t buf[512];

			for (unsigned long k = 0; k < n; k++) {
				size_t len;

				/*
				 * Step the generator for the length too, and take
				 * high bits: otherwise a length of 0 leaves the state
				 * as it was, and every later input is empty.
				 */
				s = s * 6364136223846793005ULL + 1442695040888963407ULL;
				len = (size_t)((s >> 40) % sizeof(buf));

				for (size_t j = 0; j < len; j++) {
					s = s * 6364136223846793005ULL + 1442695040888963407ULL;
					buf[j] = (uint8_t)(s >> 56);
				}
				FUZZ_DRIVER(buf, len);
				count++;
			}
			i += 2;
			continue;
		}
		if (run_path(argv[i], &count)) {
			fprintf(stderr, "cannot read %s\n", argv[i]);
			return 1;
		}
	}
	printf("%d inputs replayed\n", count);
	return 0;
}
