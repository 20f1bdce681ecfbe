#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Where QEMU and the powerpc64 cross compiler are installed: build the
# QEMU-oracle payload, record a fresh trace (a seed the shipped traces do
# not use) and replay it with zero mismatches. Elsewhere: skipped (77).
#   record_live.sh UIOMMU_BINARY SOURCE_ROOT
set -eu
bin=$1
top=$2
for tool in qemu-system-ppc64 powerpc64-linux-gnu-gcc powerpc64-linux-gnu-objcopy; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool is not installed (packages qemu-system-ppc, gcc-powerpc64-linux-gnu)"
		exit 77
	fi
done
work=$(mktemp -d "${TMPDIR:-/tmp}/uiommu-oracle-live.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$top/tools/capture-pseries-trace" --scenario qemu-oracle --seed 0x5eed --calls 400 \
	--out "$work/out" --keep-work "$work/work" --timeout 120
trace="$work/out/qemu-oracle-seed24301.trace"
[ -f "$trace" ] || { echo "no trace was recorded"; exit 1; }
"$bin" replay --progress never --json "$trace" >"$work/replay.json" || true
python3 - "$work/replay.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["traces"][0]
assert t["result"] == "match", (t["result"], t.get("error"), t["mismatches"])
assert t["hcalls"]["total"] > 1000 and t["mismatches"]["total"] == 0, t["hcalls"]
print(f"recorded and replayed {t['hcalls']['total']} hcalls and "
      f"{sum(t['rtas'].values())} RTAS calls: all as QEMU")
PY
