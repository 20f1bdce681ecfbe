#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# CLI conventions: --help and --version on stdout with exit 0, usage errors
# exit 2 with a one-line hint on stderr, --json is one valid document with
# 64-bit values as hex strings.
#   test_cli.sh UIOMMU_BINARY
set -u
bin=$1
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
check "--help" 0 "$bin" --help
expect out '^Usage:'
check "--version" 0 "$bin" --version
expect out "^uiommu .* (library "
check "help info" 0 "$bin" help info
check "info --help" 0 "$bin" info --help
expect out '--json'
check "no command" 2 "$bin"
check "unknown command" 2 "$bin" frobnicate
expect err "Try '"
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

# tce-size: Linux powernv's numbers, and clear refusals.
check "tce-size --help" 0 "$bin" tce-size --help
expect out '--host-page-shift'
check "tce-size 1 TiB of 64 KiB pages, 2 levels" 0 "$bin" tce-size --page-shift 16 --window 1T --levels 2
expect out '268566528 bytes'
check "tce-size 4 levels on a 4 KiB host" 0 "$bin" tce-size -p 16 -w 0x10000000000 -l 4 -H 12
expect out '268976128 bytes'
check "tce-size a window below a host page of TCEs" 0 "$bin" tce-size -p 12 -w 4K -l 1
expect out '8192 (at least a host page'
check "tce-size --json" 0 "$bin" tce-size -p 16 -w 1T -l 2 --json
python3 - "$tmp/out" <<'PY' || fails=$((fails + 1))
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["schema"] == 1 and doc["valid"] is True, doc
assert doc["table_bytes"] == "0x10020000" and doc["it_size"] == "0x1000000", doc
assert doc["hw_bytes"] == doc["userspace_bytes"] == "0x8010000", doc
print("ok: tce-size --json document")
PY
check "tce-size 55-bit rule" 1 "$bin" tce-size -p 16 -w 1T -l 3
expect err 'reach 55 bits.*valid levels: 1, 2'
check "tce-size not a power of two" 1 "$bin" tce-size -p 16 -w 3G -l 1
expect err 'not a power of two'
check "tce-size window below a page" 1 "$bin" tce-size -p 16 -w 4K -l 1
check "tce-size levels 0" 1 "$bin" tce-size -p 12 -w 4K -l 0
check "tce-size page shift 35" 1 "$bin" tce-size -p 35 -w 1T -l 1
check "tce-size invalid --json" 1 "$bin" tce-size -p 16 -w 1T -l 3 --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["valid"] is False and d["error"], d; print("ok: invalid --json document")' "$tmp/out" || fails=$((fails + 1))
check "tce-size missing --levels" 2 "$bin" tce-size -p 16 -w 1T
expect err 'tce-size: --levels is required'
check "tce-size missing --page-shift and --window" 2 "$bin" tce-size -l 2
expect err 'tce-size: --page-shift and --window are required'
check "tce-size missing all three" 2 "$bin" tce-size
expect err 'tce-size: --page-shift, --window and --levels are required'
check "tce-size bad host page shift" 2 "$bin" tce-size -p 16 -w 1T -l 2 -H 13
check "tce-size bad window" 2 "$bin" tce-size -p 16 -w lots -l 2
[ "$fails" -eq 0 ]
