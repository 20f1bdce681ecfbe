#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Linkage test: every symbol in the version script is exported by the
# shared library, and nothing else is; the static archive, if given, has
# exactly those names global too (its internals are local).
#   linkage.sh LIBUIOMMU_SO LIBUIOMMU_SYM [LIBUIOMMU_A]
set -eu
so=$1
sym=$2
archive=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Names listed under global: in the script (comments and node syntax dropped).
sed -e 's|/\*.*\*/||g' "$sym" | tr -d ' \t' | grep -E '^[A-Za-z_][A-Za-z0-9_]*;$' |
	tr -d ';' | sort -u >"$tmp/want"
# Defined dynamic symbols of the library (version nodes excluded).
nm -D --defined-only "$so" | awk '{print $3}' | sed 's/@.*//' | grep -v '^UIOMMU_' |
	sort -u >"$tmp/have"

status=0
# same_names HAVE WHAT: the names in file HAVE are exactly the version script's.
same_names() {
	missing=$(comm -23 "$tmp/want" "$1")
	extra=$(comm -13 "$tmp/want" "$1")
	if [ -n "$missing" ]; then
		echo "listed in $sym but not $2:"; echo "$missing"; status=1
	fi
	if [ -n "$extra" ]; then
		echo "$2 but not listed in $sym:"; echo "$extra"; status=1
	fi
}
same_names "$tmp/have" "exported by $so"
# Every exported symbol carries the version node.
unversioned=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '@' | grep -v '^UIOMMU_' || true)
if [ -n "$unversioned" ]; then
	echo "exported without a version:"; echo "$unversioned"; status=1
fi
if [ -n "$archive" ]; then
	nm -g --defined-only "$archive" | awk 'NF == 3 {print $3}' | sort -u >"$tmp/global"
	same_names "$tmp/global" "global in $archive"
fi
[ $status -eq 0 ] && echo "$(wc -l <"$tmp/want") symbols, all exported and versioned, nothing else${archive:+; the same and no other global in $archive}"
exit $status
