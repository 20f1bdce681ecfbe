#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Instructions per operation of a benchmark's loops, with valgrind's
# callgrind: repeatable to the instruction, unlike times.
#
#   bench/callgrind.sh BENCH_BINARY [ITERATIONS]
#
# The benchmark must support "--callgrind N" (see bench/bench.h): it runs
# each measured loop once with N operations and prints a line
# "callgrind-loop FUNCTION N" before each. This script runs it under
# callgrind, takes each loop function's inclusive instruction count (its
# own and everything it calls, the library included) and divides it by N.
# The ratios between lines compare like with like (a loop and its baseline
# run the same iterations).
set -eu
bin=${1:?usage: callgrind.sh BENCH_BINARY [ITERATIONS]}
iters=${2:-100000}
command -v valgrind >/dev/null 2>&1 || { echo "valgrind is not installed" >&2; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$bin" --callgrind "$iters" \
	>"$tmp/loops" 2>"$tmp/valgrind.log"; then
	cat "$tmp/loops" "$tmp/valgrind.log" >&2
	echo "$bin failed under valgrind." >&2
	exit 1
fi
callgrind_annotate --inclusive=yes --threshold=100 "$tmp/cg.out" >"$tmp/annotate" 2>/dev/null

printf '%-28s %14s %10s %16s\n' "loop" "instructions" "ops" "instructions/op"
grep '^callgrind-loop ' "$tmp/loops" | while read -r _ fn n; do
	# Lines look like "123,456 (12.3%)  file.c:fn [binary]" or "... ???:fn [...]".
	ir=$(awk -v fn="$fn" '{ for (i = 2; i <= NF; i++) if ($i ~ ":" fn "$") { gsub(",", "", $1); print $1; exit } }' \
		"$tmp/annotate")
	if [ -z "$ir" ]; then
		printf '%-28s %14s\n' "$fn" "not found"
		continue
	fi
	awk -v fn="$fn" -v ir="$ir" -v n="$n" \
		'BEGIN { printf "%-28s %14d %10d %16.1f\n", fn, ir, n, ir / n }'
done
