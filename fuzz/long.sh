#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The long fuzz campaign: each libFuzzer target of a -Dfuzz=true build for
# 10 M executions, one target after the other on one core, each bounded by
# an hour; then, per target, the executions done, the rates (per second and
# per CPU second), and whether 10 M executions fit in an hour of one core
# (judged from the rate per CPU second, so that a short run, with
# FUZZ_LONG_SECONDS=60, measures it too).
# Fails if a target found a crash, a leak, a sanitizer report or a broken
# model check (its input is left in BUILD/fuzz/).
#   long.sh BUILD [TARGET...]        (targets: papr tce ddw memslots trace api...)
# Environment: FUZZ_LONG_RUNS (10000000), FUZZ_LONG_SECONDS (3600), FUZZ_LONG_CPU.
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

# CPU seconds (user + system) of this shell's children so far, as an integer.
# (times must run in this shell, not in a command substitution's subshell.)
times_file=$(mktemp)
trap 'rm -f "$times_file" "$times_file.0"' EXIT
child_cpu() {
	times >"$times_file"
	awk 'NR == 2 {
		t = 0
		for (i = 1; i <= 2; i++) { split($i, a, "m"); t += a[1] * 60 + a[2] }
		printf "%d\n", t + 0.5 }' "$times_file"
}

# Each campaign runs pinned to one CPU (FUZZ_LONG_CPU; the first this shell may use), as
# AFL binds each fuzzer to a free core. A driver with a peer thread (grant: the granting
# side's server) otherwise pays a cross-CPU wakeup per round trip; on this project's 2-core
# VM that was over a quarter of fuzz-grant's CPU time (1,205 -> 1,655 per CPU second, 60 s each
# from the seeds). Without taskset (util-linux), unpinned.
pin_cpu=${FUZZ_LONG_CPU:-$(taskset -cp $$ 2>/dev/null | sed -n 's/.*: *\([0-9]*\).*/\1/p')}
pin=
if [ -n "$pin_cpu" ] && command -v taskset >/dev/null 2>&1; then
	pin="taskset -c $pin_cpu"
	echo "fuzz-long: each campaign on CPU $pin_cpu" >&2
fi

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
	child_cpu >"$times_file.0"
	cpu0=$(cat "$times_file.0")
	# Per-target libFuzzer options, each measured (per CPU second, same seed and runs):
	# replay: -entropic=0, 2,570 -> 3,850 executions, and more coverage (cov 3,984 -> 4,057
	# after 30,000 runs); the entropic scheduler's bookkeeping of its ~17k features was a
	# third of its time.
	# pe: -entropic_feature_frequency_threshold=32, 853 -> 974 executions in 60 s side by
	# side, the same coverage (cov 3,186 -> 3,190). Again with inputs of at most 64
	# operations and the short seeds, 30 s each from the seeds (load 0.7-2.7): 4,182
	# against 3,459 by default and 4,186 with -entropic=0, coverage the same (cov 3,245,
	# 3,244, 3,246).
	# vfio, accel: -entropic=0; both read their state back through the library after every
	# request (thousands of features per input): 30 s from the seeds, accel 323 -> 477,
	# vfio 468 -> 531; vfio again once its model kept its counts (30 s, seed 1): 2,990 ->
	# 4,100, the same coverage (cov 3,259 and 3,253, ft 17,662 and 17,687).
	# grant: -entropic_scale_per_exec_time=1, libFuzzer's weighting of an input's energy by
	# its execution time: the entropic scheduler favours the rare directory-page inputs, each
	# ~7x a small one, and the campaign slowed as it found more (60 s from the seeds, side by
	# side: 2,958 -> 5,146 executions/s, the same coverage, cov 1,683 and ft 10,168 and
	# 10,143; 3 more minutes on that corpus: 4,640/s, where the default had fallen to ~2,400).
	opts=
	case $t in
	grant) opts=-entropic_scale_per_exec_time=1 ;;
	replay) opts=-entropic=0 ;;
	pe) opts=-entropic_feature_frequency_threshold=32 ;;
	vfio | accel) opts=-entropic=0 ;;
	esac
	# shellcheck disable=SC2086
	$pin "$exe" -runs="$runs" -max_total_time="$limit" -rss_limit_mb=4096 -error_exitcode=1 \
		-timeout_exitcode=1 -print_final_stats=1 -artifact_prefix="$build/fuzz/" $opts \
		"$corpus" "$src/corpus/$t" >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	child_cpu >"$times_file.0"
	cpu=$(($(cat "$times_file.0") - cpu0))
	[ "$secs" -gt 0 ] || secs=1
	[ "$cpu" -gt 0 ] || cpu=1
	done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	done_runs=${done_runs:-0}
	rate=$((done_runs / secs))
	cpu_rate=$((done_runs / cpu))
	# On one core: the executions per CPU second (a shared machine slows the wall clock).
	what="$done_runs executions in $secs s, $cpu CPU s ($rate/s; $cpu_rate per CPU second)"
	if [ $rc -ne 0 ]; then
		line="fuzz-$t: FAILED after $what (see $log)"
		status=1
	elif [ $((cpu_rate * 3600)) -ge "$runs" ]; then
		line="fuzz-$t: $what: met ($runs executions in $((runs / cpu_rate)) s of one core, within an hour)"
	else
		line="fuzz-$t: $what: missed ($runs executions need $((runs / cpu_rate)) s of one core, more than an hour)"
	fi
	echo "$line" >&2
	summary="$summary$line
"
done
printf '%s' "$summary"
exit $status
