#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Linkage test: every symbol in the version script is exported by the
# shared library, and nothing else is.
#   linkage.sh LIBUIOMMU_SO LIBUIOMMU_SYM
set -eu
so=$1
sym=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Names listed under global: in the script (comments and node syntax dropped).
sed -e 's|/\*.*\*/||g' "$sym" | tr -d ' \t' | grep -E '^[A-Za-z_][A-Za-z0-9_]*;$' |
	tr -d ';' | sort -u >"$tmp/want"
# Defined dynamic symbols of the library (version nodes excluded).
nm -D --defined-only "$so" | awk '{print $3}' | sed 's/@.*//' | grep -v '^UIOMMU_' |
	sort -u >"$tmp/have"

status=0
missing=$(comm -23 "$tmp/want" "$tmp/have")
extra=$(comm -13 "$tmp/want" "$tmp/have")
if [ -n "$missing" ]; then
	echo "listed in $sym but not exported:"; echo "$missing"; status=1
fi
if [ -n "$extra" ]; then
	echo "exported but not listed in $sym:"; echo "$extra"; status=1
fi
# Every exported symbol carries the version node.
unversioned=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '@' | grep -v '^UIOMMU_' || true)
if [ -n "$unversioned" ]; then
	echo "exported without a version:"; echo "$unversioned"; status=1
fi
[ $status -eq 0 ] && echo "$(wc -l <"$tmp/want") symbols, all exported and versioned, nothing else"
exit $status
