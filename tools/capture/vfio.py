# SPDX-License-Identifier: BSD-3-Clause
"""The QEMU-VFIO scenarios of capture-pseries-trace.

QEMU runs with libuiommu-vfio-preload.so (tools/vfio-preload/), which serves
/dev/vfio/vfio, /dev/vfio/<group> and a device fd from uiommu: QEMU's own
hw/vfio code drives uiommu's VFIO sPAPR container while the Debian guest
does disk I/O. Beside QEMU's virtio-blk-pci (iommu_platform=on) on the same
PHB, the passed-through device is uiommu's emulated virtio-blk, whose every
access to guest memory is DMA through the host PE's TCE tables.

This module sets the run up (disks, the shim's environment, QEMU's extra
arguments) and, afterwards, proves what it did from three independent
records: QEMU's trace (the guest's TCE hcalls), the shim's log (every call
QEMU made on the VFIO fds, with its result and time) and the shim's dump of
the host TCE tables at exit:

* every container ioctl was answered as Linux's vfio_iommu_spapr_tce.c would
  (a model of its checks replays the log), none was unserved, no call
  logged an error;
* the host tables at the end equal both the log's replay and the guest's
  TCE tables replayed from the trace (each guest TCE, gpa -> QEMU's host
  pointer, cut into host IOMMU pages);
* locked bytes went back to zero and every library resource was released
  when QEMU exited;
* the guest's data round-tripped through both disks (sha256 in the guest);
* and the figures: ioctl counts by type and by phase, time in the
  container, ioctls per boot and per MB of disk I/O, the guest's MB/s.

Python 3.11 stdlib only. See doc/qemu-client.md.
"""

from __future__ import annotations

import collections
import errno
import json
import lzma
import os
import re
import shutil

QEMU_SLOT = 2  # QEMU's virtio-blk-pci: 0000:00:02.0 in the guest
VFIO_SLOT = 3  # the passed-through device: 0000:00:03.0
VFIO_GROUP = 42
VFIO_DEVNAME = "0000:01:00.0"  # the host device's name (sysfsdev basename)
DISK_BYTES = 64 * 1024 * 1024
ROUNDTRIP_MB = {"full": 32, "short": 8}
BUS_OFFSET_64 = 1 << 59  # window 1 of a PE (UIOMMU_PE_BUS_OFFSET_64)
# QEMU's own warning when the device has no AER (no VFIO_PCI_ERR_IRQ_INDEX vector).
QEMU_STDERR_OK = ("Could not enable error recovery for the device",
                  "TCG doesn't support requested feature")

LOG_RE = re.compile(r"^(\d+)\.(\d{6}) (\d+) (\S+) ?(.*)$")
KV_RE = re.compile(r"(\w+)=(\S+)")
CALL_RE = re.compile(r"^ioctl (\S+) (.*?)-> (\S+) (\d+)ns$")


class VfioError(Exception):
    pass


def _int(v):
    try:
        return int(v, 0)
    except ValueError:
        return v


def kv(text):
    return {k: _int(v) for k, v in KV_RE.findall(text)}


def ret_value(text):
    """'0', '5', '-EINVAL' -> int."""
    if text.startswith("-E"):
        code = getattr(errno, text[1:], None)
        if code is None:
            raise VfioError(f"unknown errno {text}")
        return -code
    return int(text)


def errstr(v):
    return f"-{errno.errorcode.get(-v, str(-v))}" if v < 0 else str(v)


class NoGeometry(Exception):
    """A decision needs the windows' geometry, which GET_INFO has not told yet."""


class ContainerModel:
    """What Linux's vfio_iommu_spapr_tce.c (v2 IOMMU, one group) answers
    each request with, and the host TCEs it leaves. Predictions come from
    the model's own state, never from the logged result."""

    # Our deliberate differences from Linux (vfio.h documents each): Linux's
    # answer -> the only other answer we accept, and why.
    FIXES = {
        "param-check": (1, -errno.EINVAL, "iommu_tce_*_param_check() returns 1"),
        "unchecked-npages": (None, -errno.EINVAL, "Linux does not check npages"),
        "unregister-mapped": (0, -errno.EBUSY, "UNREGISTER of a mapped region"),
    }

    def __init__(self, host_page_shift):
        self.hps = host_page_shift
        self.group = False
        self._release()
        self.calls = collections.Counter()
        self.as_linux = 0
        self.fixed = collections.Counter()
        self.problems = []

    def _release(self):
        """No IOMMU: as a new container, or after its last group left."""
        self.type = 0
        self.enabled = False
        self.pending = False
        self.info = None
        self.wins = [None, None]  # dict(start, shift, entries)
        self.prereg = []  # (ua, size)
        self.tces = {}  # host bus address -> (vaddr, perm)

    # -- geometry -------------------------------------------------------
    def _find(self, ioba):
        for num, w in enumerate(self.wins):
            if w and w["start"] <= ioba < w["start"] + (w["entries"] << w["shift"]):
                return num, w
        return None, None

    def _plan_window(self, shift, size, levels):
        """-> (Linux's answer, window number, window) of tce_iommu_create_window()."""
        num = next((i for i, w in enumerate(self.wins) if w is None), None)
        if num is None:
            return -errno.ENOSPC, None, None
        if not self.info["pgsizes"] >> shift & 1 or not 0 < levels <= self.info["levels"] \
                or size & (size - 1) or size < 1 << shift:
            return -errno.EINVAL, None, None
        entries = max(size >> shift, (1 << self.hps) // 8)  # a host page of TCEs at least
        start = self.info["dma32_window_start"] if num == 0 else BUS_OFFSET_64
        return 0, num, dict(start=start, shift=shift, entries=entries)

    def _default_window(self):
        """tce_iommu_create_default_window(): on the first MAP, UNMAP or CREATE."""
        if self.info is None:
            raise NoGeometry()
        if not self.pending:
            return 0
        ret, num, w = self._plan_window(12, self.info["dma32_window_size"], 1)
        if ret == 0:
            self.wins[num] = w
            self.pending = False
        return ret

    def _clear(self, w, first, n):
        lo = w["start"] + (first << w["shift"])
        hi = lo + (n << w["shift"])
        if n > 4096:
            for k in [k for k in self.tces if lo <= k < hi]:
                del self.tces[k]
        else:
            for k in range(lo, hi, 1 << w["shift"]):
                self.tces.pop(k, None)

    def _region(self, ua, size):
        for r in self.prereg:
            if r[0] <= ua and ua + size <= r[0] + r[1]:
                return r
        return None

    # -- requests -----------------------------------------------------------
    def _decide(self, name, a):
        """-> (Linux's answer or None if not the container's to decide, the key
        of a documented fix or None, the effect of a success)."""
        if name == "GET_API_VERSION":
            return 0, None, None
        if name == "CHECK_EXTENSION":
            return (1 if a["arg"] in (2, 5, 7) else 0), None, None
        if name == "SET_IOMMU":
            if not self.group or self.type:
                return -errno.EINVAL, None, None
            return (0 if a["arg"] in (2, 7) else -errno.ENODEV), None, ("type", a["arg"])
        if not self.type:
            return -errno.EINVAL, None, None
        if name == "SPAPR_TCE_GET_INFO":
            return (0 if a.get("argsz", 0) >= 16 else -errno.EINVAL), None, ("info", a)
        if name == "EEH_PE_OP":
            if a["flags"] or not 0 <= a.get("op", -1) <= 9:
                return -errno.EINVAL, None, None
            return None, None, None  # the PE's EEH state answers
        if name in ("SPAPR_REGISTER_MEMORY", "SPAPR_UNREGISTER_MEMORY"):
            ua, size = a["vaddr"], a["size"]
            if a["flags"] or (ua | size) & ((1 << self.hps) - 1) or not size:
                return -errno.EINVAL, None, None
            exact = (ua, size) in self.prereg
            if name == "SPAPR_UNREGISTER_MEMORY":
                if not exact:
                    return -errno.ENOENT, None, None
                mapped = any(ua <= v < ua + size for v, _ in self.tces.values())
                return 0, "unregister-mapped" if mapped else None, ("unregister", (ua, size))
            if exact:
                return -errno.EBUSY, None, None
            if any(ua < r[0] + r[1] and r[0] < ua + size for r in self.prereg):
                return -errno.EINVAL, None, None
            return 0, None, ("register", (ua, size))
        if name == "SPAPR_TCE_REMOVE":
            if a["flags"]:
                return -errno.EINVAL, None, None
            if self.pending and a["start_addr"] == 0:
                return 0, None, ("cancel", None)
            num, w = self._find(a["start_addr"])
            return (0, None, ("remove", num)) if w else (-errno.EINVAL, None, None)
        if name == "SPAPR_TCE_CREATE":
            if a["flags"]:
                return -errno.EINVAL, None, None
            err = self._default_window()
            if err:
                return err, None, None
            ret, num, w = self._plan_window(a["page_shift"], a["window_size"], a["levels"])
            return ret, None, ("create", (num, w))
        if name in ("MAP_DMA", "UNMAP_DMA"):
            if not self.enabled:
                return -errno.EPERM, None, None
            if (a["flags"] & ~3) if name == "MAP_DMA" else a["flags"]:
                return -errno.EINVAL, None, None
            err = self._default_window()
            if err:
                return err, None, None
            num, w = self._find(a["iova"])
            if w is None:
                return -errno.ENXIO, None, None
            ps = 1 << w["shift"]
            if a["size"] & (ps - 1) or name == "MAP_DMA" and a["vaddr"] & (ps - 1):
                return -errno.EINVAL, None, None
            if name == "MAP_DMA" and not a["flags"] & 3:
                return -errno.EINVAL, None, None
            first = (a["iova"] - w["start"]) >> w["shift"]
            n = a["size"] >> w["shift"]
            if a["iova"] & (ps - 1) or not n:
                return 1, "param-check", None
            if first + n > w["entries"]:
                return None, "unchecked-npages", None
            if name == "UNMAP_DMA":
                return 0, None, ("clear", (w, first, n))
            for i in range(n):
                r = self._region(a["vaddr"] + i * ps, ps)
                if r is None:
                    return -errno.EINVAL, None, None
                x = r[0] | r[1]
                if w["shift"] > min(self.hps, (x & -x).bit_length() - 1):
                    return -errno.EINVAL, None, None  # the region's pageshift
            return 0, None, ("map", (w, first, n))
        return -errno.ENOTTY, None, None

    def call(self, name, a, logged, phase):
        """Check one logged request against the model, then apply it."""
        self.calls[name] += 1
        try:
            want, fix, effect = self._decide(name, a)
        except NoGeometry:
            self.problems.append(f"{phase}: {name} before SPAPR_TCE_GET_INFO: the model "
                                 "does not know the window geometry")
            return
        if want is None and fix is None:
            want = logged  # not the container's decision
        if logged == want:
            self.as_linux += 1
        elif fix in self.FIXES and logged == self.FIXES[fix][1]:
            self.fixed[fix] += 1
            return
        else:
            self.problems.append(f"{phase}: {name} {a} returned {errstr(logged)}; Linux "
                                 f"would return "
                                 f"{errstr(want) if want is not None else 'undefined'}")
            return
        if logged != 0 or effect is None:
            return
        kind, v = effect
        if kind == "type":
            self.type = v
            self.pending = True
        elif kind == "info":
            self.info = v
        elif kind == "register":
            self.prereg.append(v)
            self.enabled = True
        elif kind == "unregister":
            self.prereg.remove(v)
        elif kind == "cancel":
            self.pending = False
        elif kind == "remove":
            w = self.wins[v]
            self._clear(w, 0, w["entries"])
            self.wins[v] = None
        elif kind == "create":
            num, w = v
            if a.get("start_addr") != w["start"]:
                self.problems.append(f"{phase}: {name} returned start_addr="
                                     f"{a.get('start_addr', 0):#x}, Linux's powernv places "
                                     f"window {num} at {w['start']:#x}")
            self.wins[num] = w
        elif kind == "clear":
            self._clear(*v)
        elif kind == "map":
            w, first, n = v
            ps = 1 << w["shift"]
            perm = 3 if a["flags"] & 2 else 1  # write implies read
            for i in range(n):
                self.tces[w["start"] + ((first + i) << w["shift"])] = (a["vaddr"] + i * ps,
                                                                       perm)

    def group_call(self, name, logged):
        if name == "GROUP_SET_CONTAINER" and logged == 0:
            self.group = True
        elif name == "GROUP_UNSET_CONTAINER" and logged == 0:
            self.group = False
            self._release()  # the last group leaving releases the IOMMU


def parse_dump(path):
    ram, windows, tces = [], [], {}
    end = None
    with open(path) as f:
        for line in f:
            kind, _, rest = line.strip().partition(" ")
            if kind == "ram":
                ram.append(kv(rest))
            elif kind == "window":
                windows.append(kv(rest))
            elif kind == "tce":
                v = kv(rest)
                tces[v["ioba"]] = (v["hva"], v["perm"])
            elif line.startswith("# end:"):
                end = line
    if end is None:
        raise VfioError(f"{path} is incomplete (no '# end:' line)")
    return ram, windows, tces


def compare(name, want, got, problems, limit=5):
    """Two {bus address: (hva, perm)} maps; a problem per kind of difference."""
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    diff = sorted(k for k in set(want) & set(got) if want[k] != got[k])
    for what, keys, show in (("missing from the host tables", missing, want),
                             ("in the host tables only", extra, got),
                             ("different", diff, got)):
        if keys:
            ex = ", ".join(f"{k:#x}->{show[k][0]:#x}/{show[k][1]}" for k in keys[:limit])
            problems.append(f"{name}: {len(keys)} TCEs {what} (e.g. {ex})")
    return not (missing or extra or diff)


class Run:
    """One QEMU-VFIO run: set up before QEMU starts, checked after it exits."""

    def __init__(self, sc, rundir, workload, preload, ram_bytes):
        if not preload:
            raise VfioError(f"scenario {sc.name} needs --vfio-preload "
                            "(build/tools/vfio-preload/libuiommu-vfio-preload.so)")
        if not os.path.exists(preload):
            raise VfioError(f"--vfio-preload {preload}: no such file")
        self.sc = sc
        self.rundir = rundir
        self.ram_bytes = ram_bytes
        self.mb = ROUNDTRIP_MB[workload]
        self.log = os.path.join(rundir, "shim.log")
        self.dump = os.path.join(rundir, "host-tables.dump")
        self.disk = os.path.join(rundir, "vfio-disk.img")
        sysfs = os.path.join(rundir, "sysfs")
        os.makedirs(sysfs)
        self.sysfsdev = os.path.join(sysfs, VFIO_DEVNAME)
        with open(self.disk, "wb") as f:
            f.truncate(DISK_BYTES)
        self.env = dict(os.environ,
                        LD_PRELOAD=os.path.abspath(preload),
                        UIOMMU_VFIO_GROUP=str(VFIO_GROUP),
                        UIOMMU_VFIO_SYSFSDEV=self.sysfsdev,
                        UIOMMU_VFIO_DEVICE="virtio-blk",
                        UIOMMU_VFIO_DISK=self.disk,
                        UIOMMU_VFIO_LOG=self.log,
                        UIOMMU_VFIO_DUMP=self.dump,
                        UIOMMU_VFIO_TCE_CACHE="strict",
                        # all of guest RAM is preregistered; as root it is really mlocked
                        UIOMMU_VFIO_LOCKED_LIMIT=str(ram_bytes + (64 << 20)),
                        UIOMMU_VFIO_PIN="mlock" if os.geteuid() == 0 else "simulate")
        self.qemu_args = [
            "-object", f"memory-backend-memfd,id=ram,size={ram_bytes},share=on",
            "-machine", "memory-backend=ram",
            "-device", "virtio-blk-pci,drive=d0,iommu_platform=on,disable-legacy=on,"
                       f"addr={QEMU_SLOT:#x}",
            "-device", f"vfio-pci,sysfsdev={self.sysfsdev},addr={VFIO_SLOT:#x}",
        ]
        self.append = f"ucap_rt=qemu@{QEMU_SLOT},vfio@{VFIO_SLOT} ucap_rtmb={self.mb}"
        self.report = {}

    # -- the three records ----------------------------------------------------
    def _phase_of(self, marks):
        times = [t for t, _ in marks]
        names = ["boot"] + [p for _, p in marks]

        def phase(t):
            lo, hi = 0, len(times)
            while lo < hi:  # the last mark at or before t
                mid = (lo + hi) // 2
                if times[mid] <= t:
                    lo = mid + 1
                else:
                    hi = mid
            return names[lo]
        return phase

    def _read_log(self, marks, problems):
        phase_of = self._phase_of(marks)
        start = None
        model = None
        by_phase = collections.OrderedDict((p, collections.Counter())
                                           for p in ["boot"] + [p for _, p in marks])
        ns_phase = collections.Counter()
        ns_phase_name = collections.Counter()
        counts = collections.Counter()
        errors = collections.Counter()
        ns = collections.Counter()
        summary = {}
        exit_clean = False
        vmlck = tear = None
        lines = 0
        with open(self.log, errors="replace") as f:
            for line in f:
                lines += 1
                m = LOG_RE.match(line.rstrip("\n"))
                if not m:
                    problems.append(f"shim log line {lines} unreadable: {line.strip()[:120]}")
                    continue
                t = float(f"{m.group(1)}.{m.group(2)}")
                kind, rest = m.group(4), m.group(5)
                phase = phase_of(t)
                if kind == "start":
                    start = rest
                    hp = re.search(r"host pages (\d+) KiB", rest)
                    model = ContainerModel((int(hp.group(1)) * 1024).bit_length() - 1)
                    continue
                if kind == "ERROR":
                    problems.append(f"shim: {rest}")
                    continue
                if kind == "summary":
                    name, _, fields = rest.partition(" ")
                    summary[name] = kv(fields)
                    continue
                if kind == "event":
                    if rest.startswith("exit: clean"):
                        exit_clean = True
                        vm = re.search(r"VmLck (-?\d+) kB", rest)
                        vmlck = int(vm.group(1)) if vm else None
                    elif rest.startswith("teardown:"):
                        tear = kv(rest)
                    continue
                c = CALL_RE.match(rest)
                if kind in ("container", "group", "device") and c:
                    name, args, ret, t_ns = c.group(1), c.group(2), c.group(3), c.group(4)
                    r = ret_value(ret)
                    counts[name] += 1
                    errors[name] += r < 0
                    ns[name] += int(t_ns)
                    by_phase[phase][name] += 1
                    if kind == "container":
                        ns_phase[phase] += int(t_ns)
                        ns_phase_name[(phase, name)] += int(t_ns)
                    if model is None:
                        problems.append("shim log has no start line")
                        return None
                    if kind == "container":
                        model.call(name, kv(args), r, phase)
                    elif kind == "group":
                        model.group_call(name, r)
                elif kind == "device":
                    name = rest.split()[0]
                    counts[name] += 1
                    by_phase[phase][name] += 1
        if start is None:
            problems.append("the shim never started (no start line in its log)")
            return None
        if not exit_clean:
            problems.append("the shim did not log a clean exit (locked bytes or resources "
                            "left, or QEMU did not exit normally)")
        elif self.env["UIOMMU_VFIO_PIN"] == "mlock" and vmlck != 0:
            problems.append(f"VmLck is {vmlck} kB after the shim released everything")
        if tear and not tear.get("locked_peak"):
            problems.append("no memory was ever charged as locked (was RAM registered?)")
        problems.extend(model.problems)
        return dict(start=start, model=model, counts=counts, errors=errors, ns=ns,
                    by_phase=by_phase, ns_phase=ns_phase, ns_phase_name=ns_phase_name,
                    summary=summary, lines=lines, teardown=tear, vmlck_after=vmlck)

    def _guest_tces(self, trace_model, ram_vaddr, host_windows):
        """The guest's PHB TCEs at the end, as the host entries QEMU must have made."""
        want = {}
        for liobn, table in trace_model.tab.items():
            if not liobn & 0x80000000 or (liobn >> 8) & 0xff:
                continue  # PHB 0's windows only
            off, gs, _ = trace_model.win[liobn]
            host = next((w for w in host_windows
                         if w["start"] <= off < w["start"] + w["size"]), None)
            if host is None:
                if table:
                    want[("no host window", liobn)] = (0, 0)
                continue
            hs = host["page_shift"]
            for idx, (tce, _) in table.items():
                gpa = tce & ~((1 << gs) - 1)
                perm = 1 if tce & 3 == 1 else 3
                for k in range(1 << (gs - hs)):
                    want[off + (idx << gs) + (k << hs)] = (ram_vaddr + gpa + (k << hs), perm)
        return want

    def check(self, con, marks, qerr, trace_model, hcalls_by_phase):
        """-> problems (empty: the run proves what the module docstring says)."""
        problems = []
        for line in qerr.splitlines():
            if "vfio" in line.lower() and not any(ok in line for ok in QEMU_STDERR_OK):
                problems.append(f"QEMU: {line.strip()}")
        if not os.path.exists(self.log):
            return problems + ["the shim wrote no log (was LD_PRELOAD honoured?)"]
        log = self._read_log(marks, problems)
        if log is None:
            return problems
        model = log["model"]
        rep = self.report
        rep["shim"] = log["start"]
        rep["ioctls"] = {k: dict(calls=log["counts"][k], errors=log["errors"][k],
                                 ns=log["ns"][k]) for k in sorted(log["counts"])}
        rep["container_checks"] = dict(as_linux=model.as_linux, fixed=dict(model.fixed),
                                       mismatches=len(model.problems))
        unserved = log["summary"].get("unserved", {}).get("calls", 0)
        rep["unserved"] = unserved
        rep["exit"] = dict(teardown=log["teardown"], vmlck_kib_after=log["vmlck_after"],
                           clean=True)
        if unserved:
            problems.append(f"{unserved} calls were not served by the shim")
        if not log["counts"]["MAP_DMA"]:
            problems.append("QEMU issued no MAP_DMA: no guest TCE reached the container")

        # the dump: against the log's replay and against the trace's
        if not os.path.exists(self.dump):
            problems.append("the shim wrote no dump of the host tables")
        else:
            ram, windows, host = parse_dump(self.dump)
            rep["host_tces"] = len(host)
            rep["host_windows"] = windows
            compare("host tables vs the replay of the shim's log", model.tces, host, problems)
            if len(ram) != 1 or ram[0]["size"] != self.ram_bytes:
                problems.append(f"expected one registered RAM region of {self.ram_bytes:#x} "
                                f"bytes, the dump has {ram}")
            else:
                want = self._guest_tces(trace_model, ram[0]["vaddr"], windows)
                rep["guest_tces_expanded"] = len(want)
                compare("host tables vs the guest's TCEs (trace replay)", want, host, problems)

        # the guest's round trips
        rt = getattr(con, "roundtrips", [])
        names = {r["name"] for r in rt}
        for need in ("qemu", "vfio"):
            if need not in names:
                problems.append(f"no round trip through the {need} disk")
        rep["roundtrips"] = rt

        # figures: per phase, per boot (everything before the round trips), per MiB
        phases = log["by_phase"]
        nsn = log["ns_phase_name"]
        rep["phases"] = {p: dict(c, container_ns=log["ns_phase"][p],
                                 hcalls=hcalls_by_phase.get(p, 0))
                         for p, c in phases.items() if c or hcalls_by_phase.get(p)}

        def figures(ps, mb=None):
            c = collections.Counter()
            for p in ps:
                c.update(phases.get(p, {}))
            hc = sum(hcalls_by_phase.get(p, 0) for p in ps)
            tce = c["MAP_DMA"] + c["UNMAP_DMA"]
            f = dict(hcalls=hc, container_ioctls=sum(c[k] for k in c if k.isupper() and
                                                     not k.startswith(("DEVICE", "GROUP"))),
                     map_dma=c["MAP_DMA"], unmap_dma=c["UNMAP_DMA"],
                     ioctls_per_hcall=round(tce / hc, 1) if hc else None,
                     map_unmap_ms=round(sum(nsn[(p, k)] for p in ps
                                            for k in ("MAP_DMA", "UNMAP_DMA")) / 1e6, 3),
                     container_ms=round(sum(log["ns_phase"][p] for p in ps) / 1e6, 3),
                     device_calls=sum(c[k] for k in c if k.startswith(("bar-", "config-",
                                                                       "DEVICE"))))
            if mb:
                f.update(mb=mb, map_unmap_per_mb=round(tce / mb, 1),
                         hcalls_per_mb=round(hc / mb, 1),
                         map_unmap_ms_per_mb=round(f["map_unmap_ms"] / mb, 3))
            return f
        boot = [p for p in phases if not p.startswith("roundtrip-") and p != "end"]
        rep["per_boot"] = figures(boot)
        per_mb = {}
        for r in rt:
            for what in ("write", "read"):
                p = f"roundtrip-{what}-{r['name']}"
                mb = r["bytes"] / (1 << 20)
                cs = r[f"{what}_cs"]
                per_mb[p] = dict(figures([p], mb), seconds=cs / 100,
                                 mb_per_s=round(mb / (cs / 100), 2) if cs else None)
        rep["per_mb"] = per_mb
        rep["summary"] = log["summary"]
        vb = log["summary"].get("virtio-blk", {})
        if not vb.get("bytes_read") or not vb.get("bytes_written"):
            problems.append("the passed-through virtio-blk device moved no data")
        if vb.get("needs_reset"):
            problems.append("the passed-through virtio-blk device needed a reset")
        dma = log["summary"].get("dma", {})
        if dma.get("faults"):
            problems.append(f"{dma['faults']} DMA faults through the host PE")
        if dma.get("stale_tces"):
            problems.append(f"{dma['stale_tces']} DMA used a stale TCE")
        return problems

    def text(self):
        """The report as a few lines for the recorder's log."""
        rep = self.report
        out = []
        io = rep.get("ioctls", {})
        if io:
            out.append("ioctls: " + " ".join(f"{k}={v['calls']}" for k, v in io.items()
                                             if k.isupper()))
        cc = rep.get("container_checks")
        if cc:
            out.append(f"container answers: {cc['as_linux']} as Linux, "
                       f"{sum(cc['fixed'].values())} as Linux with a documented fix, "
                       f"{cc['mismatches']} not; unserved calls: {rep.get('unserved')}")
        if "host_tces" in rep:
            out.append(f"host tables at exit: {rep['host_tces']} valid TCEs in "
                       f"{len(rep['host_windows'])} windows, equal to the log's and the "
                       f"trace's replay ({rep.get('guest_tces_expanded')} expected)")
        pb = rep.get("per_boot")
        if pb:
            out.append(f"boot: {pb['hcalls']} TCE hcalls became {pb['map_dma']} MAP_DMA + "
                       f"{pb['unmap_dma']} UNMAP_DMA ({pb['map_unmap_ms']} ms in the "
                       f"container; {pb['container_ms']} ms with the preregistration)")
        for p, v in rep.get("per_mb", {}).items():
            out.append(f"{p}: {v['mb']:.0f} MiB at {v['mb_per_s']} MB/s; per MiB "
                       f"{v['hcalls_per_mb']} hcalls, {v['map_unmap_per_mb']} MAP/UNMAP, "
                       f"{v['map_unmap_ms_per_mb']} ms in the container")
        return out

    def save(self, final, xz=False):
        """Keep the shim's log, the dump and the report beside the trace (the
        first two as .xz with --xz)."""
        base = final[:-len(".trace")] if final.endswith(".trace") else final
        with open(base + ".vfio.json", "w") as f:
            json.dump(self.report, f, indent=1, sort_keys=True)
        for src, suffix in ((self.log, ".shim.log"), (self.dump, ".host-tables")):
            if not os.path.exists(src):
                continue
            if xz:
                with open(src, "rb") as i, lzma.open(base + suffix + ".xz", "wb") as o:
                    shutil.copyfileobj(i, o, 1 << 20)
                os.unlink(src)
            else:
                os.replace(src, base + suffix)
        return base
