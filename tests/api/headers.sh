#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Each public header compiles on its own, as C99 and as C++ (strict flags).
#   headers.sh SRC_INCLUDE_DIR BUILD_INCLUDE_DIR HEADER...
set -eu
src_inc=$1
build_inc=$2
shift 2
cc=${CC:-cc}
cxx=${CXX:-c++}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! command -v "$cxx" >/dev/null 2>&1; then
	echo "no C++ compiler ($cxx): skipping"
	exit 77
fi
status=0
for h in "$@"; do
	name=$(basename "$h")
	printf '#include <uiommu/%s>\n#include <uiommu/%s> /* twice: include guard */\n' \
		"$name" "$name" >"$tmp/t.c"
	cp "$tmp/t.c" "$tmp/t.cc"
	if ! $cc -std=c99 -Wall -Wextra -Werror -pedantic -I"$src_inc" -I"$build_inc" \
		-c "$tmp/t.c" -o "$tmp/t.o"; then
		echo "FAIL: $name as C99"; status=1
	fi
	if ! $cxx -std=c++11 -Wall -Wextra -Werror -pedantic -I"$src_inc" -I"$build_inc" \
		-c "$tmp/t.cc" -o "$tmp/t.o"; then
		echo "FAIL: $name as C++"; status=1
	fi
done
[ $status -eq 0 ] && echo "$# headers compile alone as C99 and C++"
exit $status
