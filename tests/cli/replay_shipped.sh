#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Every trace shipped in tests/data/traces replays with zero mismatches,
# translation checks included, in one run of the main job's command.
#   replay_shipped.sh UIOMMU_BINARY TRACES_DIR
set -eu
bin=$1
dir=$2
traces=$(find "$dir" -name '*.trace.xz' | sort)
[ -n "$traces" ] || { echo "no traces under $dir"; exit 1; }
# shellcheck disable=SC2086
"$bin" replay --progress never --json $traces >"${TMPDIR:-/tmp}/uiommu-shipped.$$.json"
python3 - "${TMPDIR:-/tmp}/uiommu-shipped.$$.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
total = xl = 0
for t in doc["traces"]:
    assert t["result"] == "match", (t["input"], t["result"], t.get("error"), t["mismatches"])
    total += t["hcalls"]["total"]
    xl += t["translations"]["checked"]
    assert t["lines"]["malformed"] == 0
assert xl > 60000, "the shipped traces must include translation events"
print(f"{len(doc['traces'])} traces, {total} hcalls and {xl} translations, all as QEMU")
PY
rm -f "${TMPDIR:-/tmp}/uiommu-shipped.$$.json"
