#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The installed static archive hides the library's internals as the shared
# library does: its only global definitions are the names of the version
# script, and a program that defines every internal name itself (rcu_defer,
# ctx_alloc_at, mem_get, ...) links statically against it and runs, the
# library calling its own functions and the program its own.
#   static.sh LIBUIOMMU_A INTERNAL_A LIBUIOMMU_SYM INCLUDE_DIR BUILD_INCLUDE_DIR CC [CFLAGS...]
set -eu
archive=$1
internal=$2
sym=$3
inc=$4
build_inc=$5
shift 5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sed -e 's|/\*.*\*/||g' "$sym" | tr -d ' \t' | grep -E '^[A-Za-z_][A-Za-z0-9_]*;$' |
	tr -d ';' | sort -u >"$tmp/abi"
nm -g --defined-only "$archive" | awk 'NF == 3 {print $3}' | sort -u >"$tmp/global"
status=0
extra=$(comm -13 "$tmp/abi" "$tmp/global")
missing=$(comm -23 "$tmp/abi" "$tmp/global")
if [ -n "$extra" ]; then
	echo "global in $archive but not in the ABI:"; echo "$extra"; status=1
fi
if [ -n "$missing" ]; then
	echo "in the ABI but not defined by $archive:"; echo "$missing"; status=1
fi

# Every internal name: what the internal archive defines beyond the ABI.
nm -g --defined-only "$internal" | awk 'NF == 3 {print $3}' | sort -u |
	comm -23 - "$tmp/abi" >"$tmp/internal"
n=$(wc -l <"$tmp/internal")
[ "$n" -gt 20 ] || { echo "only $n internal names in $internal: is it the right archive?"; exit 1; }

{
	echo '#include <stdio.h>'
	echo '#include <stdlib.h>'
	echo '#include <uiommu/uiommu.h>'
	echo '/* The program'"'"'s own definitions of the library'"'"'s internal names. */'
	while read -r name; do
		echo "void $name(void);"
		echo "void $name(void) { fprintf(stderr, \"the library called the program's $name\\\\n\"); abort(); }"
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

# shellcheck disable=SC2068
$@ -std=c17 -I"$inc" -I"$build_inc" "$tmp/prog.c" "$archive" \
	$(pkg-config --static --libs liburcu-bp) -lpthread -o "$tmp/prog" || {
	echo "a program defining the $n internal names does not link against $archive"; exit 1;
}
"$tmp/prog" || { echo "the statically linked program failed"; exit 1; }
[ $status -eq 0 ] && echo "$archive: $(wc -l <"$tmp/abi") ABI names global, $n internal names hidden;" \
	"a program defining all of them links and runs"
exit $status
