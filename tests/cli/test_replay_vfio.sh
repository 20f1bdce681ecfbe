#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# 'uiommu replay --vfio': hand-made traces whose host side is known (the
# MAP_DMA/UNMAP_DMA counts QEMU's notifier makes, windows, DDW of 16 MiB
# pages over 64 KiB host pages, a window a VFIO host cannot place), one the
# host check must fail (a TCE to memory that is not RAM: QEMU maps nothing,
# a device behind the host PE faults), the JSON, and every shipped trace
# with zero mismatches and every PCI translation checked through the host.
#   test_replay_vfio.sh UIOMMU_BINARY TRACE_DIR SHIPPED_TRACES_DIR
set -u
bin=$1
dir=$2
shipped=$3
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

check "PCI window behind a container" 0 "$bin" replay --vfio "$dir/match-pci.trace"
expect out "vfio               1 container(s), 19 MAP_DMA, 17 UNMAP_DMA, 1 TCE_CREATE, 0 TCE_REMOVE"
expect out "vfio memory        64 MiB registered"
expect out "vfio translations  7 checked through the host PE, 0 mismatched"
check "DDW of 16 MiB pages on 64 KiB host pages" 0 "$bin" replay --vfio "$dir/match-ddw.trace"
expect out "64 MAP_DMA, 1 UNMAP_DMA, 2 TCE_CREATE, 1 TCE_REMOVE"
expect out "vfio translations  3 checked through the host PE, 0 mismatched"
check "a TCE outside RAM: the host device faults" 3 "$bin" replay --vfio "$dir/mismatch-outside-ram.trace"
expect out "1 guest TCEs outside RAM"
expect out "MISMATCH line 8: vfio: host xlate liobn=0x80000000 0x1000: Bad address"
check "... and without --vfio it matches" 0 "$bin" replay "$dir/mismatch-outside-ram.trace"
check "a window the host cannot place" 0 "$bin" replay --vfio "$dir/unplaceable.trace"
expect out "vfio windows       1 guest window(s) a VFIO host cannot place"
expect out "vfio translations  2 checked through the host PE, 0 mismatched"
check "--json" 0 "$bin" replay --vfio --json "$dir/match-pci.trace"
expect out '"map_dma":19'
expect out '"unmap_dma":17'
expect out '"locked_bytes_peak":'

# Every shipped trace, as the main job's, with a container behind each PHB.
traces=$(find "$shipped" -name '*.trace.xz' | sort)
# shellcheck disable=SC2086
check "every shipped trace, --vfio" 0 "$bin" replay --vfio --progress never --json $traces
python3 - "$tmp/out" <<'PY' || fails=$((fails + 1))
import json, sys
doc = json.load(open(sys.argv[1]))
maps = xl = 0
for t in doc["traces"]:
    assert t["result"] == "match", (t["input"], t["result"], t.get("error"), t["mismatches"])
    v = t["vfio"]
    assert v["translations_mismatched"] == 0, t["input"]
    # A PCI translation is checked twice: against the guest and through the host PE.
    pci = sum(l["xlate"] for l in t["by_liobn"] if int(l["liobn"], 16) & 0x80000000)
    assert v["translations_checked"] == pci, (t["input"], v["translations_checked"], pci)
    maps += v["map_dma"] + v["unmap_dma"]
    xl += v["translations_checked"]
assert xl > 5000 and maps > 1000000, (xl, maps)  # also true of short-xlate alone
print(f"{len(doc['traces'])} traces through VFIO containers: {maps} MAP/UNMAP_DMA, "
      f"{xl} translations through the host PE, all as QEMU")
PY
[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
