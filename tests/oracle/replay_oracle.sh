#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The QEMU-oracle traces (tests/data/traces/qemu-oracle): every one replays
# with zero mismatches, and every one still tests error paths: each hcall
# kind both fails and succeeds, every DDW RTAS call appears, and the trace
# comes from the payload source in the tree (re-record after changing it:
# doc/traces.md, "QEMU-oracle traces").
#   replay_oracle.sh UIOMMU_BINARY TRACES_DIR SOURCE_ROOT
set -eu
bin=$1
dir=$2
top=$3
traces=$(find "$dir" -name '*.trace.xz' | sort)
[ -n "$traces" ] || { echo "no traces under $dir"; exit 1; }
out="${TMPDIR:-/tmp}/uiommu-oracle.$$.json"
trap 'rm -f "$out"' EXIT
# shellcheck disable=SC2086
"$bin" replay --progress never --json $traces >"$out"
# shellcheck disable=SC2086
python3 - "$out" "$top/tools/capture" $traces <<'PY'
import json, lzma, sys
sys.path.insert(0, sys.argv[2])
import oracle

doc = json.load(open(sys.argv[1]))
paths = sys.argv[3:]
assert len(doc["traces"]) == len(paths), "one result per trace"
digest = oracle.source_digest()
failed = 0
for t, path in zip(doc["traces"], paths):
    name = t["input"]
    assert t["result"] == "match", (name, t["result"], t.get("error"), t["mismatches"])
    assert t["mismatches"]["total"] == 0 and t["lines"]["malformed"] == 0, name
    for kind, c in t["hcalls"].items():
        if kind == "total":
            continue
        assert 0 < c["ok"] < c["count"], f"{name}: {kind} must both fail and succeed: {c}"
        failed += c["count"] - c["ok"]
    for kind, n in t["rtas"].items():
        assert n > 0, f"{name}: no {kind} RTAS call"
    with lzma.open(path, "rt") as f:
        head = {}
        last = ""
        for line in f:
            last = line.rstrip("\n")
            if line.startswith("# ") and ": " in line:
                k, _, v = line[2:].rstrip("\n").partition(": ")
                head.setdefault(k, v)
    assert last == "# end: ok", f"{name}: the recording did not end ok: {last!r}"
    assert f"sha256:{digest}" in head.get("payload", ""), (
        f"{name} was recorded from another payload ({head.get('payload')!r}); the source "
        f"is sha256:{digest}: re-record (doc/traces.md, QEMU-oracle traces)")
print(f"{len(paths)} QEMU-oracle traces, {failed} failing hcalls among "
      f"{sum(t['hcalls']['total'] for t in doc['traces'])}, all as QEMU")
PY
