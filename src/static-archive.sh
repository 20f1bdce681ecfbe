#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The installed static library: every object of the internal archive
# partially linked into one relocatable object, whose hidden symbols (every
# name but the ABI's, which UIOMMU_EXPORT marks default) are then made
# local. A program that links libuiommu.a sees only the uiommu_* names of
# src/libuiommu.sym, as a program linking the shared library does, and may
# define its own rcu_defer or ctx_alloc.
#   static-archive.sh OUTPUT.a INTERNAL.a CC [CC ARGS...] -- OBJCOPY AR
set -eu
out=$1
in=$2
shift 2
cc=
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
	cc="$cc $1"
	shift
done
[ $# -eq 3 ] || { echo "usage: static-archive.sh OUT.a IN.a CC... -- OBJCOPY AR" >&2; exit 2; }
objcopy=$2
ar=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# shellcheck disable=SC2086
$cc -r -nostdlib -o "$tmp/libuiommu.o" -Wl,--whole-archive "$in" -Wl,--no-whole-archive
"$objcopy" --localize-hidden "$tmp/libuiommu.o"
rm -f "$out"
"$ar" rcs "$out" "$tmp/libuiommu.o"
