#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Instructions per call of each bench_papr operation, counted by callgrind
# (repeatable, unlike times): valgrind runs `bench_papr --callgrind OP N`
# collecting only inside cg_OP(), which makes N calls; the count includes
# the loop's few instructions per call.
#   callgrind.sh BENCH_PAPR [N]
set -eu
bin=$1
n=${2:-20000}
if ! command -v valgrind >/dev/null 2>&1; then
	echo "valgrind is not installed: skipping"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '# instructions per call (callgrind, %s calls each)\n' "$n"
for op in store load rcu_pair put_tce get_tce memset4k stuff512 memcpy4k indirect512 \
	put_tce_kvm get_tce_kvm stuff512_kvm indirect512_kvm; do
	fn=cg_$op
	case $op in *_kvm) fn=cg_${op%_kvm} ;; esac
	valgrind --tool=callgrind --callgrind-out-file="$tmp/out" --collect-atstart=no \
		--toggle-collect="$fn" "$bin" --callgrind "$op" "$n" >"$tmp/log" 2>&1 || {
		cat "$tmp/log" >&2
		exit 1
	}
	ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$tmp/out" | tail -1)
	awk -v ir="$ir" -v n="$n" -v op="$op" 'BEGIN { printf "%-18s %10.1f\n", op, ir / n }'
done
