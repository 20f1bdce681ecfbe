#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The installed static archive hides the library's internals as the shared
# library does: a program that defines every internal name itself
# (rcu_defer, ctx_alloc_at, mem_get, ...) links statically against it and
# runs, the library calling its own functions and the program its own. The
# internal names are the internal archive's globals that the installed one
# does not have (linkage.sh checks that those are exactly the ABI's).
# The program links what the generated uiommu.pc says a static link needs.
#   static.sh LIBUIOMMU_A INTERNAL_A INCLUDE_DIR BUILD_INCLUDE_DIR PC_DIR CC [CFLAGS...]
set -eu
archive=$1
internal=$2
inc=$3
build_inc=$4
pc_dir=$5
shift 5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

globals() {
	nm -g --defined-only "$1" | awk 'NF == 3 {print $3}' | sort -u
}
globals "$archive" >"$tmp/abi"
# C names only: sanitizer builds add their own (__odr_asan.NAME, ...).
globals "$internal" | comm -23 - "$tmp/abi" | grep -E '^[A-Za-z_][A-Za-z0-9_]*$' |
	grep -v '^__' >"$tmp/internal"
n=$(wc -l <"$tmp/internal")
[ "$n" -gt 20 ] || { echo "only $n internal names in $internal: is it the right archive?"; exit 1; }

{
	echo '#include <stdio.h>'
	echo '#include <stdlib.h>'
	echo '#include <uiommu/uiommu.h>'
	echo '/* The program'"'"'s own definitions of the library'"'"'s internal names. */'
	while read -r name; do
		printf 'void %s(void);\n' "$name"
		printf 'void %s(void) { fprintf(stderr, "the library called the program'"'"'s %s\\n"); abort(); }\n' \
			"$name" "$name"
	done <"$tmp/internal"
	cat <<'PROG'
#define CHECK(x) do { if (!(x)) { fprintf(stderr, "failed: %s\n", #x); return 1; } } while (0)
int main(void)
{
	struct uiommu_ctx *ctx;
	struct uiommu_guest *g;
	uint64_t hpa, tce = 0;
	void *ram;

	CHECK(uiommu_ctx_new(NULL, &ctx) == 0);
	CHECK(uiommu_ram_create(ctx, 1 << 20, &hpa, &ram) == 0);
	CHECK(uiommu_guest_new(ctx, &g) == 0);
	CHECK(uiommu_guest_set_memslot(g, 0, 0, 1 << 20, ram, 0) == 0);
	CHECK(uiommu_liobn_create(g, 0x80000000u, 12, 0, 512) == 0);
	CHECK(uiommu_h_put_tce(g, 0x80000000u, 0x1000, 0x2003) == UIOMMU_H_SUCCESS);
	CHECK(uiommu_h_get_tce(g, 0x80000000u, 0x1000, &tce) == UIOMMU_H_SUCCESS && tce == 0x2003);
	CHECK(uiommu_liobn_destroy(g, 0x80000000u) == 0);
	uiommu_guest_free(g);
	CHECK(uiommu_ram_remove(ctx, hpa) == 0);
	CHECK(uiommu_ctx_free(ctx) == 0);
	return 0;
}
PROG
} >"$tmp/prog.c"

# shellcheck disable=SC2068,SC2046
$@ -std=c17 -I"$inc" -I"$build_inc" "$tmp/prog.c" "$archive" \
	$(PKG_CONFIG_PATH=$pc_dir pkg-config --static --libs uiommu | sed 's/-luiommu\b//') \
	-o "$tmp/prog" || {
	echo "a program defining the $n internal names does not link against $archive"; exit 1;
}
"$tmp/prog" || { echo "the statically linked program failed"; exit 1; }
echo "$archive: a program defining all $n internal names links against it and runs"
