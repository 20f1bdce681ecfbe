# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh
# Shared by the CLI test scripts (sourced): a scratch directory, and checks
# of a command's exit status and output that count failures in $fails.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

check() { # check DESCRIPTION EXPECTED_STATUS COMMAND...: run it, output to $tmp/out and $tmp/err
	desc=$1; want=$2; shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "FAIL: $desc: exit $got, expected $want"; cat "$tmp/out" "$tmp/err"
		fails=$((fails + 1))
	else
		echo "ok: $desc"
	fi
}

expect() { # expect out|err PATTERN: the last checked command's output has it
	if ! grep -q -- "$2" "$tmp/$1"; then
		echo "FAIL: $1 lacks '$2'"; cat "$tmp/$1"; fails=$((fails + 1))
	fi
}
