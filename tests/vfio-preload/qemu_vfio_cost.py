#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""What QEMU's one-ioctl-per-TCE path cost in a real run, beside the same
guest's hcalls replayed accelerated and with exits (no QEMU needed).

tests/data/traces/vfio/ holds one recording of capture-pseries-trace's
vfio-virtio-blk-noddw scenario (full workload): the hcall trace and the
recorder's report of the same run (<scenario>.vfio.json, from the shim's
log: every request QEMU made of the container, with its time there). This
test

* checks that the two belong together: the report's run was proven (every
  container answer as Linux's, nothing unserved, a clean exit, both disks'
  checksums equal) and its hcall counts equal the trace's, phase by phase;
* replays the trace with zero mismatches: plain, with --vfio (whose model of
  QEMU's notifier makes exactly the MAP_DMA and UNMAP_DMA calls the report
  counts), and with --vfio --accel --exits (every hcall through the VMM
  side; the fallbacks counted and printed, every hcall an exit in the
  other mode);
* prints the comparison: per guest boot (the boot and driver-probe phases),
  per MiB of disk I/O (the four round-trip phases) and over the whole run,
  QEMU's hcalls, container ioctls and time in the container, beside the
  replayed hcalls' handling time accelerated and with exits (the best of
  RUNS runs each), and their ratios. The per-boot replay figures come from
  the trace cut at the first round-trip marker (no hcall straddles a
  marker), the I/O ones from the whole trace minus that cut.

Times are reported, never asserted (they depend on the machine's load).

  qemu_vfio_cost.py UIOMMU_BINARY TRACE [REPORT]

TRACE is a .trace or .trace.xz of the vfio-virtio-blk-noddw scenario,
REPORT its .vfio.json or .vfio.json.xz (default: beside it). The test
qemu-vfio-cost runs it on the shipped recording, qemu-vfio on a fresh one.
"""
import copy
import json
import lzma
import os
import subprocess
import sys
import tempfile

SCENARIO = "vfio-virtio-blk-noddw"
BOOT_PHASES = ("boot", "load-modules")  # the report's "per_boot"
RUNS = 11


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def replay(binary, args, trace):
    res = subprocess.run([binary, "replay", "--progress", "never", "--json"] + args + [trace],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if res.returncode != 0:
        fail(f"replay {' '.join(args)} {trace}: exit {res.returncode}: {res.stderr.strip()}")
    traces = json.loads(res.stdout)["traces"]
    for t in traces:
        if t["result"] != "match" or t["mismatches"]["total"]:
            fail(f"replay {' '.join(args)} {trace}: {t['result']}, "
                 f"{t['mismatches']['total']} mismatches")
    return traces


def vmm_seconds(binary, trace, nhcalls):
    """Best of RUNS runs of --vfio --accel --exits: {mode: seconds}, fallbacks."""
    best = {}
    fallbacks = set()
    for _ in range(RUNS):
        by_mode = {t["vmm"]["mode"]: t["vmm"]
                   for t in replay(binary, ["--vfio", "--accel", "--exits"], trace)}
        if sorted(by_mode) != ["accel", "exits"]:
            fail(f"{trace}: modes {sorted(by_mode)}, not accel and exits")
        for mode, v in by_mode.items():
            if v["hcalls"] != nhcalls:
                fail(f"{trace} ({mode}): {v['hcalls']} hcalls through the VMM side, not {nhcalls}")
            if v["windows_backed"] < 1:
                fail(f"{trace} ({mode}): no window backed by a container")
            best[mode] = min(best.get(mode, float("inf")), v["hcall_seconds"])
        if by_mode["exits"]["exits"] != nhcalls or by_mode["exits"]["fallbacks"]:
            fail(f"{trace}: --exits made {by_mode['exits']['exits']} exits of {nhcalls} hcalls")
        fallbacks.add(by_mode["accel"]["fallbacks"])
    if len(fallbacks) != 1:
        fail(f"{trace}: the fallback count changed from run to run: {sorted(fallbacks)}")
    return best, fallbacks.pop()


def disagreement(rep, phases):
    """Why the report is not of the run the trace recorded (None if it is)."""
    rphases = {k: v["hcalls"] for k, v in rep["phases"].items()}
    if phases != rphases:
        return f"the report's hcalls per phase {rphases} are not the trace's {phases}"
    boot_hcalls = sum(phases.get(p, 0) for p in BOOT_PHASES)
    if rep["per_boot"]["hcalls"] != boot_hcalls:
        return f"the report's {rep['per_boot']['hcalls']} hcalls per boot are not the trace's " \
               f"{boot_hcalls}"
    return None


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    binary, trace = sys.argv[1], sys.argv[2]
    base = trace[:-3] if trace.endswith(".xz") else trace
    if len(sys.argv) == 4:
        rpath = sys.argv[3]
    else:
        rpath = base[:-len(".trace")] + ".vfio.json"
        rpath = rpath + ".xz" if os.path.exists(rpath + ".xz") else rpath
    try:
        with (lzma.open if rpath.endswith(".xz") else open)(rpath, "rt") as f:
            rep = json.load(f)
    except (OSError, ValueError, lzma.LZMAError) as e:
        fail(f"the recorder's report {rpath}: {e}")

    # The report's run was proven.
    cc = rep["container_checks"]
    sums = {r["sha256"] for r in rep["roundtrips"]}
    if cc["mismatches"] or cc["as_linux"] == 0 or rep["unserved"] or not rep["exit"]["clean"] \
            or len(rep["roundtrips"]) != 2 or len(sums) != 1:
        fail(f"the report's run was not proven: {cc}, unserved {rep['unserved']}, "
             f"exit {rep['exit']}, round trips {rep['roundtrips']}")

    # Plain replay; the report belongs to this trace, phase by phase.
    t = replay(binary, [], trace)[0]
    if t["scenario"] != SCENARIO:
        fail(f"{trace} is a recording of {t['scenario']}, not {SCENARIO}")
    nh = t["hcalls"]["total"]
    phases = {p["name"]: p["hcalls"] for p in t["phases"]}
    why = disagreement(rep, phases)
    if why:
        fail(why)
    # ... and the check can fail: one hcall moved between phases.
    moved = copy.deepcopy(rep)
    moved["phases"]["boot"]["hcalls"] -= 1
    moved["phases"][list(rep["per_mb"])[0]]["hcalls"] += 1
    if not disagreement(moved, phases):
        fail("a report with one hcall moved between phases passed as this trace's")
    boot_hcalls = sum(phases[p] for p in BOOT_PHASES)

    # --vfio: the library's model of QEMU's notifier makes QEMU's calls.
    v = replay(binary, ["--vfio"], trace)[0]["vfio"]
    io = rep["ioctls"]
    real = {"map_dma": io["MAP_DMA"]["calls"], "unmap_dma": io["UNMAP_DMA"]["calls"]}
    model = {k: v[k] for k in real}
    if real != model:
        fail(f"QEMU made {real}, replay --vfio {model}")

    # The boot and driver-probe phases alone: the trace cut at the first round-trip marker.
    io_phases = list(rep["per_mb"])
    if not io_phases or any(rep["per_mb"][p]["mb"] <= 0 for p in io_phases):
        fail(f"the report has no disk I/O phase: {rep['per_mb']}")
    with tempfile.TemporaryDirectory() as tmp:
        cut = os.path.join(tmp, SCENARIO + "-boot.trace")
        with (lzma.open if trace.endswith(".xz") else open)(trace, "rt") as src, \
                open(cut, "w") as dst:
            for line in src:
                if line.startswith("# recorded: "):
                    recorded = line.split()[-1]
                if line.startswith("# MARK ") and line.split()[-1] not in BOOT_PHASES:
                    break
                dst.write(line)
            else:
                fail("the trace has no round-trip phase")
            dst.write("# end: ok\n")
        whole, fallbacks = vmm_seconds(binary, trace, nh)
        boot, boot_fallbacks = vmm_seconds(binary, cut, boot_hcalls)

    # QEMU's side, from the report.
    mb = sum(rep["per_mb"][p]["mb"] for p in io_phases)
    q_io = {k: sum(rep["per_mb"][p][k] for p in io_phases)
            for k in ("hcalls", "map_dma", "unmap_dma", "map_unmap_ms")}
    pb = rep["per_boot"]
    q_all_ms = (io["MAP_DMA"]["ns"] + io["UNMAP_DMA"]["ns"]) / 1e6
    rows = [
        ("per boot", boot_hcalls, pb["map_dma"] + pb["unmap_dma"], pb["map_unmap_ms"],
         boot["accel"] * 1e3, boot["exits"] * 1e3),
        (f"per MiB ({mb:.0f} MiB)", q_io["hcalls"] / mb, (q_io["map_dma"] + q_io["unmap_dma"]) / mb,
         q_io["map_unmap_ms"] / mb, (whole["accel"] - boot["accel"]) * 1e3 / mb,
         (whole["exits"] - boot["exits"]) * 1e3 / mb),
        ("whole run", nh, real["map_dma"] + real["unmap_dma"], q_all_ms,
         whole["accel"] * 1e3, whole["exits"] * 1e3),
    ]
    print(f"{SCENARIO} recorded {recorded} ({rep['shim'].split(',')[0]}): {nh} hcalls,"
          f" report and trace agree phase by phase; zero mismatches plain, with --vfio "
          f"({real['map_dma']} MAP_DMA + {real['unmap_dma']} UNMAP_DMA, QEMU's own) and with"
          f" --vfio --accel/--exits; {fallbacks} fallbacks accelerated ({boot_fallbacks} in the"
          f" boot cut); best of {RUNS} runs")
    print(f"{'':22} {'hcalls':>8} {'QEMU ioctls':>12} {'container ms':>13} |"
          f" {'--accel ms':>10} {'--exits ms':>10} {'exits/accel':>11} {'QEMU/accel':>10}")
    for name, h, n, qms, ams, ems in rows:
        ratio = f"{ems / ams:.1f}x" if ams > 0 and ems > 0 else "n/a"
        qratio = f"{qms / ams:.1f}x" if ams > 0 and qms > 0 else "n/a"
        num = (lambda x: f"{x:.1f}") if name.startswith("per MiB") else (lambda x: f"{x:.0f}")
        print(f"{name:22} {num(h):>8} {num(n):>12} {qms:13.3f} | {ams:10.3f} {ems:10.3f}"
              f" {ratio:>11} {qratio:>10}")
    print(f"QEMU: {rows[2][2] / nh:.0f} MAP/UNMAP_DMA ioctls per hcall over the run,"
          f" {pb['container_ioctls']} container ioctls in all at boot;"
          f" SPAPR_REGISTER_MEMORY of guest RAM: {io['SPAPR_REGISTER_MEMORY']['ns'] / 1e6:.0f} ms")


if __name__ == "__main__":
    main()
