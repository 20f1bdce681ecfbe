#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The long fuzz campaign: each libFuzzer target of a -Dfuzz=true build for
# 10 M executions, one target after the other on one core, each bounded by
# an hour; then, per target, the executions done, the rate, and whether the
# campaign fit in the hour. Fails if a target found a crash, a leak, a
# sanitizer report or a broken model check (its input is left in BUILD/fuzz/).
#   long.sh BUILD [TARGET...]        (targets: papr tce ddw memslots trace api...)
# Environment: FUZZ_LONG_RUNS (10000000), FUZZ_LONG_SECONDS (3600).
set -u
build=$1
shift
src=$(cd "$(dirname "$0")" && pwd)
runs=${FUZZ_LONG_RUNS:-10000000}
limit=${FUZZ_LONG_SECONDS:-3600}
if [ $# -eq 0 ]; then
	for exe in "$build"/fuzz/fuzz-*; do
		[ -f "$exe" ] && [ -x "$exe" ] && set -- "$@" "${exe##*/fuzz-}"
	done
fi
[ $# -gt 0 ] || { echo "no libFuzzer targets in $build/fuzz (a -Dfuzz=true build?)" >&2; exit 1; }
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

status=0
summary=
for t in "$@"; do
	exe=$build/fuzz/fuzz-$t
	[ -x "$exe" ] || { echo "$exe: no such target" >&2; status=1; continue; }
	corpus=$build/fuzz/corpus-$t
	log=$build/fuzz/long-$t.log
	mkdir -p "$corpus"
	echo "fuzz-$t: up to $runs executions or $limit s (log: $log)" >&2
	start=$(date +%s)
	"$exe" -runs="$runs" -max_total_time="$limit" -rss_limit_mb=4096 -error_exitcode=1 \
		-timeout_exitcode=1 -print_final_stats=1 -artifact_prefix="$build/fuzz/" \
		"$corpus" "$src/corpus/$t" >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	[ "$secs" -gt 0 ] || secs=1
	done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	done_runs=${done_runs:-0}
	rate=$((done_runs / secs))
	if [ $rc -ne 0 ]; then
		line="fuzz-$t: FAILED after $done_runs executions in $secs s (see $log)"
		status=1
	elif [ "$done_runs" -ge "$runs" ]; then
		line="fuzz-$t: $done_runs executions in $secs s ($rate/s): met (the campaign fits in $limit s)"
	else
		line="fuzz-$t: $done_runs executions in $secs s ($rate/s): missed ($runs did not fit in $limit s)"
	fi
	echo "$line" >&2
	summary="$summary$line
"
done
printf '%s' "$summary"
exit $status
