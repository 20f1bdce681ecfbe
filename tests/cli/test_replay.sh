#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# 'uiommu replay' on hand-made traces: what must match, what must be
# reported as a mismatch (exit 3), what is malformed or refused (exit 1,
# naming the line), usage errors (exit 2), stdin and xz input, --lenient,
# --json.
#   test_replay.sh UIOMMU_BINARY TRACE_DIR
set -u
bin=$1
dir=$2
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

check "VIO trace with header matches" 0 "$bin" replay "$dir/match-vio.trace"
expect out "result             match"
expect out "translations       6 checked, 0 mismatched"
expect out "0x71000002"
expect out "unknown event    spapr_pci_msi_setup: 1"
expect out "phases             map:3 unmap:6"
check "raw QEMU log (older format, DDW) matches" 0 "$bin" replay "$dir/match-raw-qemu.trace"
expect out "rtas                query 1 create 1 remove 0 reset 0"
expect out "indirect  *64:1"
check "wrong return code is a mismatch" 3 "$bin" replay "$dir/mismatch-ret.trace"
expect out "MISMATCH line 3: H_PUT_TCE liobn=0x71000002: returned 0, QEMU logged -4"
check "wrong translation is a mismatch" 3 "$bin" replay "$dir/mismatch-xlate.trace"
expect out "translations       3 checked, 2 mismatched"
expect out "MISMATCH line 3:"
expect out "MISMATCH line 4:"
check "--no-xlate skips translations" 0 "$bin" replay --no-xlate "$dir/mismatch-xlate.trace"
check "wrong H_GET_TCE value is a mismatch" 3 "$bin" replay "$dir/mismatch-get.trace"
expect out "TCE 0x2f25001, QEMU logged 0x2f25003"
check "malformed line stops the replay" 1 "$bin" replay "$dir/malformed.trace"
expect err "malformed.trace:3: malformed line: spapr_iommu_put: unreadable field 'tce='"
check "--lenient counts and skips it" 0 "$bin" replay --lenient "$dir/malformed.trace"
expect out "1 malformed"
expect out "malformed line 3:"
check "absurd window is refused" 1 "$bin" replay "$dir/absurd-window.trace"
expect err "line 2: window of LIOBN 0x71000002"
check "list address outside memory is refused" 1 "$bin" replay "$dir/absurd-list.trace"
expect err "line 2: TCE list at 0x7fff00000000000"
check "unreadable input" 1 "$bin" replay "$dir/no-such-file.trace"
expect err "No such file"
check "no trace" 2 "$bin" replay
check "bad profile" 2 "$bin" replay --profile xen "$dir/match-vio.trace"
check "bad progress" 2 "$bin" replay --progress sometimes "$dir/match-vio.trace"
# Progress: on stderr only (auto: only when it is a terminal, which it is not here).
check "progress always" 0 "$bin" replay --progress always "$dir/match-vio.trace"
expect err "match-vio.trace: .* lines, .* hcalls"
if grep -q "hcalls, .* lines/s" "$tmp/out"; then
	echo "FAIL: progress on stdout"; fails=$((fails + 1))
fi
check "progress auto, not a terminal" 0 "$bin" replay "$dir/match-vio.trace"
if [ -s "$tmp/err" ]; then
	echo "FAIL: progress without a terminal"; cat "$tmp/err"; fails=$((fails + 1))
fi
check "replay --help" 0 "$bin" replay --help
expect out "Exit status"

# The kvm profile: an unknown LIOBN is H_TOO_HARD there, so QEMU's H_PARAMETER differs.
check "kvm profile differs on unknown LIOBNs" 3 "$bin" replay --profile kvm "$dir/match-vio.trace"
expect out "returned 9999, QEMU logged -4"

# Standard input, plain and xz; several traces at once.
check "stdin" 0 sh -c "\"$bin\" replay - <\"$dir/match-vio.trace\""
if command -v xz >/dev/null 2>&1; then
	xz -c "$dir/match-raw-qemu.trace" >"$tmp/raw.trace.xz"
	check "xz file" 0 "$bin" replay "$tmp/raw.trace.xz"
	check "xz on stdin" 0 sh -c "\"$bin\" replay - <\"$tmp/raw.trace.xz\""
	head -c 100 "$tmp/raw.trace.xz" >"$tmp/cut.trace.xz"
	check "truncated xz" 1 "$bin" replay "$tmp/cut.trace.xz"
	expect err "xz data is"
fi
check "several traces: a table" 0 "$bin" replay "$dir/match-vio.trace" "$dir/match-raw-qemu.trace"
expect out "^trace  *lines  *hcalls"
expect out "2 traces, 38 lines: 13 hypercalls, 2 RTAS calls and 9 device translations replayed; every result agrees with QEMU"
check "several traces with --detail" 0 "$bin" replay --detail "$dir/match-vio.trace" "$dir/match-raw-qemu.trace"
expect out "by LIOBN"
check "two traces, one mismatching" 3 "$bin" replay --quiet "$dir/match-vio.trace" "$dir/mismatch-ret.trace"
expect out "mismatch-ret.trace"
if grep -q "match-vio.trace" "$tmp/out"; then
	echo "FAIL: --quiet printed a matching trace"; fails=$((fails + 1))
fi

# A trace of many chunks (the replayer reads 4096 lines at a time): the header
# in the first chunk, calls and translations in every chunk, a mismatch in the last.
python3 - "$tmp/long.trace" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("# window: liobn=0x71000002 bus_offset=0x0 size=0x10000000 page_shift=12\n")
    for i in range(10000):
        ioba = 0x1000 * (i % 4096)
        f.write(f"spapr_iommu_put liobn=0x71000002 ioba={ioba:#x} tce={0x100003 + (i << 12):#x} ret=0\n")
        f.write(f"spapr_iommu_xlate liobn=0x71000002 {ioba + 8:#x} -> {0x100000 + (i << 12):#x} perm=3 mask=0xfff\n")
    f.write("spapr_iommu_put liobn=0x71000002 ioba=0x1000 tce=0x3 ret=-4\n")
PY
check "a trace of several chunks" 3 "$bin" replay "$tmp/long.trace"
expect out "lines              20002 "
expect out "put 10001 (10001 ok)"
expect out "translations       10000 checked, 0 mismatched"
expect out "MISMATCH line 20002:"

# JSON: one document, stable keys, 64-bit values as hex strings.
check "--json" 3 "$bin" replay --json "$dir/match-vio.trace" "$dir/mismatch-xlate.trace"
python3 - "$tmp/out" <<'PY' || fails=$((fails + 1))
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["schema"] == 1 and doc["result"] == "mismatch"
a, b = doc["traces"]
assert a["result"] == "match" and b["result"] == "mismatch", (a["result"], b["result"])
assert a["by_liobn"][0]["liobn"] == "0x71000002"
assert a["hcalls"]["put"] == {"count": 4, "ok": 2}, a["hcalls"]["put"]
assert a["npages"]["indirect"] == {"16": 1}
assert a["translations"] == {"checked": 6, "mismatched": 0}
assert b["mismatches"]["total"] == 2 and b["mismatches"]["first"][0]["line"] == 3
for k in ("replay_seconds", "parse_seconds", "hcalls_per_second", "parse_mb_per_second"):
    assert k in a["timing"], k
print("ok: --json document")
PY
[ "$fails" -eq 0 ]
