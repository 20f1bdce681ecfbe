#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# CLI conventions: --help and --version on stdout with exit 0, usage errors
# exit 2 with a one-line hint on stderr, --json is one valid document with
# 64-bit values as hex strings.
#   test_cli.sh UIOMMU_BINARY
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { # check DESCRIPTION EXPECTED_STATUS COMMAND...
	desc=$1; want=$2; shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "FAIL: $desc: exit $got, expected $want"; cat "$tmp/err"; fails=$((fails + 1))
	else
		echo "ok: $desc"
	fi
}
check "--help" 0 "$bin" --help
grep -q '^Usage:' "$tmp/out" || { echo "FAIL: --help not on stdout"; fails=$((fails + 1)); }
check "--version" 0 "$bin" --version
grep -q "^uiommu .* (library " "$tmp/out" || { echo "FAIL: --version text"; fails=$((fails + 1)); }
check "help info" 0 "$bin" help info
check "info --help" 0 "$bin" info --help
grep -q -- '--json' "$tmp/out" || { echo "FAIL: info --help lacks --json"; fails=$((fails + 1)); }
check "no command" 2 "$bin"
check "unknown command" 2 "$bin" frobnicate
grep -q "Try '" "$tmp/err" || { echo "FAIL: no hint on stderr"; fails=$((fails + 1)); }
check "unknown global option" 2 "$bin" --frobnicate
check "unknown command option" 2 "$bin" info --frobnicate
check "stray argument" 2 "$bin" info extra
check "help of unknown command" 2 "$bin" help frobnicate
check "info" 0 "$bin" info
check "info --json" 0 "$bin" info --json
python3 - "$tmp/out" <<'PY' || fails=$((fails + 1))
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["schema"] == 1, "schema"
for k in ("hpa_library_base", "hpa_limit"):
    assert isinstance(doc[k], str) and doc[k].startswith("0x"), k
for k, v in doc["default_limits"].items():
    assert isinstance(v, str) and v.startswith("0x"), k
assert all(v == "ok" for v in doc["probes"].values()), doc["probes"]
print("ok: info --json document")
PY
[ "$fails" -eq 0 ]
