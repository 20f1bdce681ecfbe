#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Every trace under the directories given replays with zero mismatches
# with the guest's PCI windows behind VFIO containers, both accelerated
# (hcalls on a vCPU with the host tables attached; H_TOO_HARD redone by the
# VMM path) and with every TCE hcall an exit to a VMM thread; prints the
# fallback count and the rates of both.
#   replay_accel.sh UIOMMU_BINARY TRACES_DIR...
set -eu
bin=$1
shift
traces=$(find "$@" -name '*.trace.xz' | sort)
[ -n "$traces" ] || { echo "no traces under $*"; exit 1; }
out="${TMPDIR:-/tmp}/uiommu-accel.$$.json"
trap 'rm -f "$out"' EXIT
# A usage error (exit status 2): both modes from standard input.
first=$(echo "$traces" | head -n 1)
rc=0; "$bin" replay --accel --exits - <"$first" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || { echo "--accel --exits -: exit status $rc, not 2"; exit 1; }
# --vfio adds nothing to the modes (they bring their own containers): no
# "vfio" object. shellcheck disable=SC2086
"$bin" replay --vfio --accel --exits --progress never --json $traces >"$out"
python3 - "$out" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
by_mode = {"accel": [], "exits": []}
for t in doc["traces"]:
    assert t["result"] == "match", (t["input"], t["result"], t.get("error"), t["mismatches"])
    v = t["vmm"]
    assert "vfio" not in t, (t["input"], "--vfio containers built as well as the modes' own")
    assert v["hcalls"] == t["hcalls"]["total"], (t["input"], "hcalls not all through the VMM side")
    by_mode[v["mode"]].append(t)
assert len(by_mode["accel"]) == len(by_mode["exits"]) > 0
backed = sum(t["vmm"]["windows_backed"] for t in by_mode["accel"])
assert backed > 0, "no window was backed by a container"
for t in by_mode["exits"]:
    assert t["vmm"]["fallbacks"] == 0 and t["vmm"]["exits"] == t["vmm"]["hcalls"]
fallbacks = sum(t["vmm"]["fallbacks"] for t in by_mode["accel"])
hcalls = sum(t["vmm"]["hcalls"] for t in by_mode["accel"])
sec = {m: sum(t["vmm"]["hcall_seconds"] for t in by_mode[m]) for m in by_mode}
print(f"{len(by_mode['accel'])} traces, {hcalls} hcalls, {backed} windows behind containers:"
      f" all as QEMU in both modes; {fallbacks} fallbacks (H_TOO_HARD redone by the VMM path);"
      f" hcall handling {sec['accel']:.3f} s accelerated, {sec['exits']:.3f} s with exits")
PY
