#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# QEMU 7.2 as the client of uiommu's VFIO sPAPR container: the two
# vfio-virtio-blk scenarios of capture-pseries-trace (short workload), each
# proven by tools/capture/vfio.py (container answers as Linux's, none
# unserved, host tables equal to the shim's log and to the guest's TCEs, a
# clean exit with locked bytes at zero, data round-tripped through both
# disks), then the recorded traces replay with zero mismatches, and the
# ddw=off run's cost comparison (qemu_vfio_cost.py) is printed.
# Skipped (77) where it cannot run: a sanitizer build (QEMU is not
# instrumented), or QEMU and the guest's packages cannot be installed.
#   qemu_vfio.sh PRELOAD_SO UIOMMU_BINARY SOURCE_ROOT B_SANITIZE
set -eu
so=$1
bin=$2
top=$3
sanitize=${4:-none}

if [ "$sanitize" != none ]; then
	echo "SKIP: $so is a sanitizer build; an uninstrumented QEMU cannot load it" \
		"(the plain build runs this test)"
	exit 77
fi
if ! command -v qemu-system-ppc64 >/dev/null 2>&1 && [ "$(id -u)" != 0 ]; then
	echo "SKIP: qemu-system-ppc64 is not installed and, not being root, the capture" \
		"tool cannot install it (apt-get install qemu-system-ppc qemu-system-data kmod)"
	exit 77
fi
work=$(mktemp -d "${TMPDIR:-/var/tmp}/uiommu-qemu-vfio.XXXXXX")
trap 'rm -rf "$work"' EXIT

start=$(date +%s)
rc=0
"$top/tools/capture-pseries-trace" --scenario vfio-virtio-blk-noddw \
	--scenario vfio-virtio-blk-ddw --workload short --jobs 2 --timeout 600 \
	--vfio-preload "$so" --out "$work/out" --keep-work "$work/work" 2>"$work/capture.log" || rc=$?
cat "$work/capture.log" >&2
if [ "$rc" = 4 ]; then
	# The recorder ran nothing: say what it could not install or download.
	echo "SKIP: the host or guest packages could not be installed or downloaded:" \
		"$(grep -m 1 -A 3 'error:' "$work/capture.log" | tr -s ' \n' ' ')"
	exit 77
fi
[ "$rc" = 0 ] || { echo "FAIL: a scenario failed (exit $rc)"; exit 1; }

# The traces replay with zero mismatches, and 'uiommu replay --vfio' (the
# library's model of what QEMU does with a container) makes exactly the
# MAP_DMA, UNMAP_DMA and TCE_CREATE calls that the real QEMU made.
for t in "$work"/out/*.trace; do
	"$bin" replay --progress never --quiet "$t" ||
		{ echo "FAIL: $t does not replay with zero mismatches"; exit 1; }
	"$bin" replay --vfio --json --progress never "$t" >"${t%.trace}.replay-vfio.json" ||
		{ echo "FAIL: $t does not replay --vfio with zero mismatches"; exit 1; }
done
python3 - "$work/out" "$(($(date +%s) - start))" <<'PY'
import glob, json, os, sys
out, secs = sys.argv[1], sys.argv[2]
for path in sorted(glob.glob(os.path.join(out, "*.vfio.json"))):
    r = json.load(open(path))
    name = os.path.basename(path)[:-len(".vfio.json")]
    rv = json.load(open(os.path.join(out, name + ".replay-vfio.json")))["traces"][0]["vfio"]
    real = {k: r["ioctls"].get(q, {}).get("calls", 0) for k, q in
            (("map_dma", "MAP_DMA"), ("unmap_dma", "UNMAP_DMA"), ("tce_create", "SPAPR_TCE_CREATE"))}
    model = {k: rv[k] for k in real}
    if real != model:
        sys.exit(f"FAIL: {name}: QEMU made {real}, replay --vfio {model}")
    print(f"{name}: replay --vfio makes QEMU's calls exactly: {real}")
    b = r["per_boot"]
    print(f"{name}: {r['container_checks']['as_linux']} container answers as Linux, "
          f"{r['unserved']} unserved, {r['host_tces']} host TCEs as the guest's; boot: "
          f"{b['hcalls']} hcalls -> {b['map_dma']} MAP + {b['unmap_dma']} UNMAP "
          f"({b['map_unmap_ms']} ms)")
    for p, v in r["per_mb"].items():
        print(f"  {p}: {v['mb_per_s']} MB/s, {v['hcalls_per_mb']} hcalls and "
              f"{v['map_unmap_per_mb']} MAP/UNMAP per MiB, {v['map_unmap_ms_per_mb']} ms/MiB")
print(f"both scenarios recorded, proven and replayed in {secs} s")
PY
# What QEMU's one ioctl per TCE cost in this run, beside its hcalls with --accel and --exits.
python3 "$top/tests/vfio-preload/qemu_vfio_cost.py" "$bin" "$work/out/vfio-virtio-blk-noddw.trace"
