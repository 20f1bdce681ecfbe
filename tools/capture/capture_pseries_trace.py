#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Record PAPR TCE hypercall traces from a Linux ppc64le guest under QEMU pseries,
or, for the qemu-oracle scenario, from a bare-metal payload (oracle.py).

Run through tools/capture-pseries-trace; see doc/traces.md for the output
format (the contract with `uiommu replay`).  Python 3.11 stdlib only.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import datetime
import gzip
import io
import lzma
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oracle  # noqa: E402 - tools/capture/oracle.py, next to this file
import vfio  # noqa: E402 - tools/capture/vfio.py

FORMAT_VERSION = 1
QEMU = "qemu-system-ppc64"

# Host packages (Debian 12, amd64).  qemu-system-data carries slof.bin.
HOST_PACKAGES = ["qemu-system-ppc", "qemu-system-data", "kmod"]
GUEST_KERNEL_META = "linux-image-powerpc64le"
GUEST_USERLAND = ["busybox-static", "coreutils", "libc6"]

DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SECURITY = "http://deb.debian.org/debian-security"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"

RAM = "1G"
RAM_BYTES = 1 << 30
DISK_BYTES = 64 * 1024 * 1024
DDW_DEFAULT_BASE = 0x800000000000000  # spapr-pci-host-bridge dma64_win_addr default
SPAPR_PCI_BASE_BUID = 0x800000020000000

# Module sets (insmod order is resolved on the host with modprobe --show-depends).
MODSETS = {
    "vscsi": ["ibmvscsi", "sd_mod"],
    "vlan": ["ibmveth"],
    "virtio-blk": ["virtio_pci", "virtio_blk"],
    "virtio-net": ["virtio_pci", "virtio_net"],
    "e1000": ["e1000"],
}

NET_PORT_RX = 5000
NET_PORT_TX = 5001
NET_FWD_ADDR = "10.0.2.100"
NET_SIZES = {"full": (8 * 1024 * 1024, 4 * 1024 * 1024), "short": (65536, 65536)}


class Scenario:
    def __init__(self, name, work, modset, device, dev=None, ddw=None,
                 append="", about=""):
        self.name = name
        self.work = work  # disk | net | roundtrip (QEMU-VFIO) | oracle (no Linux)
        self.modset = modset
        self.device = device  # list of -device/-global arguments (templated)
        self.dev = dev
        self.ddw = ddw  # None: no PCI device in use; True/False: PHB ddw setting
        self.append = append
        self.about = about


SCENARIOS = [
    Scenario("vscsi-disk", "disk", "vscsi",
             ["-device", "spapr-vscsi,id=scsi0",
              "-device", "scsi-hd,drive=d0,bus=scsi0.0"], dev="sda",
             about="spapr-vscsi + scsi-hd (ibmvscsi), VIO window"),
    Scenario("vlan-net", "net", "vlan",
             ["-device", "spapr-vlan,netdev=n0"],
             about="spapr-vlan (ibmveth), VIO window"),
    Scenario("virtio-blk-noddw", "disk", "virtio-blk",
             ["-device", "virtio-blk-pci,drive=d0,iommu_platform=on,disable-legacy=on"], dev="vda", ddw=False,
             about="virtio-blk-pci iommu_platform=on, PHB ddw=off (default 32-bit window)"),
    Scenario("virtio-blk-ddw", "disk", "virtio-blk",
             ["-device", "virtio-blk-pci,drive=d0,iommu_platform=on,disable-legacy=on"], dev="vda", ddw=True,
             about="virtio-blk-pci iommu_platform=on, PHB ddw=on (guest creates a DDW)"),
    Scenario("virtio-net-noddw", "net", "virtio-net",
             ["-device", "virtio-net-pci,netdev=n0,iommu_platform=on,disable-legacy=on,romfile="], ddw=False,
             about="virtio-net-pci iommu_platform=on, PHB ddw=off"),
    Scenario("virtio-net-ddw", "net", "virtio-net",
             ["-device", "virtio-net-pci,netdev=n0,iommu_platform=on,disable-legacy=on,romfile="], ddw=True,
             about="virtio-net-pci iommu_platform=on, PHB ddw=on (guest creates a DDW)"),
    Scenario("e1000-noddw", "net", "e1000",
             ["-device", "e1000,netdev=n0,romfile="], ddw=False,
             about="e1000 (emulated Intel NIC), PHB ddw=off"),
    Scenario("vscsi-disk-nomultitce", "disk", "vscsi",
             ["-device", "spapr-vscsi,id=scsi0",
              "-device", "scsi-hd,drive=d0,bus=scsi0.0"], dev="sda",
             append="multitce=off",
             about="as vscsi-disk, guest kernel multitce=off (single H_PUT_TCE only)"),
    # QEMU's vfio-pci served by libuiommu-vfio-preload.so (tools/capture/vfio.py): uiommu's
    # virtio-blk passed through beside QEMU's virtio-blk-pci on PHB 0. Only with
    # --vfio-preload (or when named).
    Scenario("vfio-virtio-blk-ddw", "roundtrip", "virtio-blk", [], ddw=True,
             about="QEMU vfio-pci on uiommu's container (LD_PRELOAD shim): uiommu's "
                   "virtio-blk passed through + virtio-blk-pci, PHB ddw=on; disk round trips"),
    Scenario("vfio-virtio-blk-noddw", "roundtrip", "virtio-blk", [], ddw=False,
             about="as vfio-virtio-blk-ddw with PHB ddw=off: every I/O maps and unmaps "
                   "TCEs through the container"),
    # No Linux: the bare-metal payload (tools/capture/payload) makes malformed calls on
    # purpose. Windows: v-scsi (VIO), PHB 0 (1 GiB at 0) and PHB 1 (256 MiB at 256 MiB),
    # both with DDW.
    Scenario("qemu-oracle", "oracle", None,
             ["-device", "spapr-vscsi",
              "-device", "spapr-pci-host-bridge,index=1,dma_win_addr=0x10000000,"
              "dma_win_size=0x10000000"],
             about="bare-metal payload: seeded, mostly malformed TCE hcalls and DDW RTAS "
                   "calls (error paths, QEMU as the oracle)"),
]
SCENARIO_BY_NAME = {s.name: s for s in SCENARIOS}

HCALL_EVENTS = {
    "spapr_iommu_put": "put", "spapr_iommu_pci_put": "put",
    "spapr_iommu_indirect": "indirect", "spapr_iommu_pci_indirect": "indirect",
    "spapr_iommu_stuff": "stuff", "spapr_iommu_pci_stuff": "stuff",
    "spapr_iommu_get": "get", "spapr_iommu_pci_get": "get",
}

EVENT_RE = re.compile(r"^(\d+)@(\d+)\.(\d+):(\w+)(?: |$)")
CONSOLE_RE = re.compile(r"@@UCAP\|(.*?)\|@@")

VERBOSE = False


class CaptureError(Exception):
    pass


class SetupUnavailable(CaptureError):
    """A package could not be installed or downloaded: exit status 4."""


_LOG_LOCK = threading.Lock()


def log(msg):
    with _LOG_LOCK:
        sys.stderr.write(f"capture-pseries-trace: {msg}\n")
        sys.stderr.flush()


def vlog(msg):
    if VERBOSE:
        log(msg)


def run(cmd, check=True, capture=True, **kw):
    vlog("$ " + shlex.join(cmd))
    res = subprocess.run(cmd, text=True, stdout=subprocess.PIPE if capture else None,
                         stderr=subprocess.STDOUT if capture else None, **kw)
    if check and res.returncode != 0:
        out = (res.stdout or "").strip()
        raise CaptureError(f"command failed (exit {res.returncode}): {shlex.join(cmd)}\n{out}")
    return res


# ----------------------------------------------------------------------------------------
# host setup


def dpkg_version(pkg):
    res = subprocess.run(["dpkg-query", "-W", "-f=${Status}\t${Version}", pkg],
                         text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if res.returncode != 0:
        return None
    status, _, version = res.stdout.partition("\t")
    return version if status.endswith(" installed") else None


def ensure_host_packages(packages):
    missing = [p for p in packages if dpkg_version(p) is None]
    if not missing:
        if os.geteuid() != 0:
            log("note: not root; fine, because " + ", ".join(packages) +
                " are installed already")
        return
    if os.geteuid() != 0:
        raise SetupUnavailable(
            "these Debian packages are missing: " + " ".join(missing) + "\n"
            "  This tool installs them with apt-get and therefore must run as root\n"
            "  (or install them first: apt-get install --no-install-recommends "
            + " ".join(missing) + ").")
    log("installing host packages: " + " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    res = run(["apt-get", "update"], check=False, env=env)
    if res.returncode != 0:
        log("warning: apt-get update reported errors (carrying on):\n" + res.stdout.strip())
    res = run(["apt-get", "install", "-y", "--no-install-recommends"] + missing, check=False,
              env=env)
    if res.returncode != 0:
        raise SetupUnavailable("apt-get install " + " ".join(missing) + " failed:\n" +
                               res.stdout.strip()[-2000:])


class GuestApt:
    """A private apt state for ppc64el: never touches the host's dpkg/apt state."""

    def __init__(self, root):
        self.root = root
        for d in ("lists/partial", "cache/archives/partial", "sources.list.d",
                  "preferences.d", "debs"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        self.status = os.path.join(root, "status")
        open(self.status, "w").close()  # empty: nothing is "installed"
        with open(os.path.join(root, "sources.list"), "w") as f:
            opts = f"[arch=ppc64el signed-by={KEYRING}]"
            f.write(f"deb {opts} {DEBIAN_MIRROR} bookworm main\n")
            f.write(f"deb {opts} {DEBIAN_MIRROR} bookworm-updates main\n")
            f.write(f"deb {opts} {DEBIAN_SECURITY} bookworm-security main\n")
        r = root
        self.opts = [
            "-oAPT::Architecture=ppc64el", "-oAPT::Architectures::=ppc64el",
            f"-oDir::State::Lists={r}/lists", f"-oDir::Cache={r}/cache",
            f"-oDir::State::status={self.status}",
            f"-oDir::Etc::SourceList={r}/sources.list",
            f"-oDir::Etc::SourceParts={r}/sources.list.d",
            f"-oDir::Etc::Preferences={r}/preferences",
            f"-oDir::Etc::PreferencesParts={r}/preferences.d",
            "-oAcquire::Languages=none", "-oDebug::NoLocking=1",
        ]
        if os.geteuid() == 0:
            # the private dirs are not readable by _apt; do not try to drop privileges
            self.opts.append("-oAPT::Sandbox::User=root")

    def update(self):
        log("apt (private, ppc64el): update")
        res = run(["apt-get"] + self.opts + ["update"], check=False)
        with open(os.path.join(self.root, "update.log"), "w") as f:
            f.write(res.stdout)
        if res.returncode != 0:
            # Known: bookworm-security's ppc64el index sometimes fails with
            # "File has unexpected size ... Mirror sync in progress?".  Everything
            # needed is in bookworm main; carry on if that index is there.
            errs = [l for l in res.stdout.splitlines() if l.startswith(("E:", "Err:", "W:"))]
            log("warning: private apt-get update reported errors; carrying on with the "
                "indexes that did download:\n    " + "\n    ".join(errs))
        lists = os.listdir(os.path.join(self.root, "lists"))
        if not any("_bookworm_main_binary-ppc64el_Packages" in l for l in lists):
            raise SetupUnavailable("private apt-get update did not fetch the bookworm main "
                               "ppc64el index:\n" + res.stdout)

    def candidate(self, pkg):
        res = run(["apt-cache"] + self.opts + ["show", "--no-all-versions", pkg])
        fields = {}
        for line in res.stdout.splitlines():
            if ":" in line and not line.startswith(" "):
                k, _, v = line.partition(":")
                fields.setdefault(k, v.strip())
        if "Version" not in fields:
            raise CaptureError(f"no ppc64el candidate for {pkg}")
        return fields

    def download(self, pkgs):
        """Download pkgs into debs/, return {pkg: path}."""
        debs = os.path.join(self.root, "debs")
        want = {}
        for p in pkgs:
            ver = self.candidate(p)["Version"]
            want[p] = ver
        todo = []
        paths = {}
        for p, ver in want.items():
            fn = f"{p}_{ver.replace(':', '%3a')}_ppc64el.deb"
            path = os.path.join(debs, fn)
            paths[p] = path
            if not os.path.exists(path):
                todo.append(f"{p}={ver}")
        if todo:
            log("apt (private, ppc64el): download " + " ".join(todo))
            res = run(["apt-get"] + self.opts + ["download"] + todo, cwd=debs, check=False)
            if res.returncode != 0:
                raise SetupUnavailable("apt-get download failed:\n" + res.stdout.strip())
        for p, path in paths.items():
            if not os.path.exists(path):
                raise CaptureError(f"download of {p} did not produce {path}")
        return paths


def deb_field(path, field):
    return run(["dpkg-deb", "-f", path, field]).stdout.strip()


# ----------------------------------------------------------------------------------------
# guest image


class CpioWriter:
    """Minimal newc cpio writer."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.ino = 1000
        self.seen = set()

    def _entry(self, name, mode, data=b""):
        self.ino += 1
        nameb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08X}" for v in (
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nameb), 0))
        self.buf.write(hdr.encode() + nameb)
        self.buf.write(b"\0" * ((4 - (110 + len(nameb)) % 4) % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * ((4 - len(data) % 4) % 4))

    def dir(self, name):
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p and p not in self.seen:
                self.seen.add(p)
                self._entry(p, stat.S_IFDIR | 0o755)

    def file(self, name, data, mode=0o644):
        name = name.strip("/")
        self.dir(os.path.dirname(name))
        self.seen.add(name)
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name, target):
        name = name.strip("/")
        self.dir(os.path.dirname(name))
        self.seen.add(name)
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()


class Guest:
    """Kernel, initramfs and the exact package versions they came from."""

    def __init__(self, work):
        self.work = work
        self.apt = GuestApt(os.path.join(work, "apt"))
        self.root = os.path.join(work, "guestroot")
        self.versions = {}

    def prepare(self):
        self.apt.update()
        meta = self.apt.candidate(GUEST_KERNEL_META)
        m = re.search(r"(linux-image-[0-9][^\s,]*-powerpc64le)", meta.get("Depends", ""))
        if not m:
            raise CaptureError(f"cannot resolve {GUEST_KERNEL_META} -> kernel package "
                               f"(Depends: {meta.get('Depends')!r})")
        kpkg = m.group(1)
        pkgs = [kpkg] + GUEST_USERLAND
        paths = self.apt.download(pkgs)
        for p, path in paths.items():
            self.versions[p] = deb_field(path, "Version")
        self.kernel_pkg = kpkg
        log("guest packages: " + ", ".join(f"{p} {v}" for p, v in self.versions.items()))
        if os.path.isdir(self.root):
            shutil.rmtree(self.root)
        os.makedirs(self.root)
        for p in pkgs:
            run(["dpkg-deb", "-x", paths[p], self.root])
        kvers = os.listdir(os.path.join(self.root, "lib/modules"))
        if len(kvers) != 1:
            raise CaptureError(f"expected one kernel in {kpkg}, found {kvers}")
        self.kver = kvers[0]
        self.vmlinux = os.path.join(self.root, "boot", f"vmlinux-{self.kver}")
        if not os.path.exists(self.vmlinux):
            raise CaptureError(f"{kpkg} has no /boot/vmlinux-{self.kver}")
        self.build_initramfs()

    def _resolve(self, rel):
        """Path in the extracted root, following absolute symlinks inside it."""
        path = os.path.join(self.root, rel.lstrip("/"))
        for _ in range(10):
            if not os.path.islink(path):
                return path
            t = os.readlink(path)
            path = (os.path.join(self.root, t.lstrip("/")) if t.startswith("/")
                    else os.path.join(os.path.dirname(path), t))
        raise CaptureError(f"symlink loop at {rel}")

    def _read(self, rel):
        with open(self._resolve(rel), "rb") as f:
            return f.read()

    def build_initramfs(self):
        run(["depmod", "-b", self.root, self.kver])
        moddir = os.path.join(self.root, "lib/modules", self.kver)
        cpio = CpioWriter()
        for d in ("bin", "sbin", "dev", "proc", "sys", "tmp", "etc/ucap", "opt/gnu"):
            cpio.dir(d)
        cpio.file("bin/busybox", self._read("bin/busybox"), 0o755)
        with open(os.path.join(HERE, "guest-init.sh"), "rb") as f:
            cpio.file("init", f.read(), 0o755)
        cpio.file("opt/gnu/dd", self._read("bin/dd"), 0o755)
        # the two libc files GNU dd needs (its only NEEDED entry is libc.so.6)
        ld = self._read("lib64/ld64.so.2")
        libc = self._read("lib/powerpc64le-linux-gnu/libc.so.6")
        cpio.file("lib64/ld64.so.2", ld, 0o755)
        cpio.file("lib/powerpc64le-linux-gnu/libc.so.6", libc, 0o755)
        added = set()
        self.modsets = {}
        for name, mods in MODSETS.items():
            order = []
            for mod in mods:
                res = run(["modprobe", "-d", self.root, "-S", self.kver,
                           "--show-depends", mod])
                for line in res.stdout.splitlines():
                    parts = line.split()
                    if len(parts) >= 2 and parts[0] == "insmod":
                        rel = os.path.relpath(parts[1], moddir)
                        if rel not in order:
                            order.append(rel)
                    elif parts and parts[0] == "builtin":
                        continue
                    elif parts:
                        raise CaptureError(f"unexpected modprobe output: {line}")
            if not order:
                raise CaptureError(f"module set {name}: nothing to load")
            for rel in order:
                if rel not in added:
                    added.add(rel)
                    with open(os.path.join(moddir, rel), "rb") as f:
                        cpio.file(f"lib/modules/{rel}", f.read())
            cpio.file(f"etc/ucap/mods-{name}", ("\n".join(order) + "\n").encode())
            self.modsets[name] = [os.path.basename(r)[:-3] for r in order]
            vlog(f"module set {name}: {' '.join(self.modsets[name])}")
        self.initrd = os.path.join(self.work, "initrd.cpio.gz")
        with gzip.open(self.initrd, "wb", compresslevel=6) as f:
            f.write(cpio.finish())
        log(f"initramfs: {self.initrd} ({os.path.getsize(self.initrd) // 1024} KiB)")


# ----------------------------------------------------------------------------------------
# QEMU


def qemu_version_line():
    res = run([QEMU, "--version"])
    return res.stdout.splitlines()[0].strip()


def qemu_trace_events(xlate):
    res = run([QEMU, "-trace", "help"])
    names = [l.strip() for l in res.stdout.splitlines() if l.strip().startswith("spapr_iommu_")]
    for must in ("spapr_iommu_put", "spapr_iommu_indirect", "spapr_iommu_stuff",
                 "spapr_iommu_pci_put", "spapr_iommu_xlate", "spapr_iommu_ddw_create"):
        if must not in names:
            raise CaptureError(f"{QEMU} has no trace event {must} (-trace help)")
    if not xlate:
        names.remove("spapr_iommu_xlate")
    return names


def qemu_base_cmd(rundir, events):
    """The machine every scenario runs on, with QEMU's trace events to -D."""
    cmd = [QEMU, "-M", "pseries", "-cpu", "POWER9", "-smp", "1", "-m", RAM,
           "-nodefaults", "-display", "none", "-monitor", "none", "-serial", "stdio",
           "-no-reboot", "-msg", "timestamp=on",
           "-D", os.path.join(rundir, "qemu-events.log")]
    for e in events:
        cmd += ["-trace", e]
    return cmd


def build_qemu_cmd(sc, guest, rundir, events, workload, extra, append_extra=""):
    disk = os.path.join(rundir, "disk.img")
    cmd = qemu_base_cmd(rundir, events)
    cmd += ["-kernel", guest.vmlinux, "-initrd", guest.initrd]
    append = (f"console=hvc0 quiet panic=-1 ucap_mods={sc.modset} ucap_work={sc.work} "
              f"ucap_size={workload}")
    if sc.dev:
        append += f" ucap_dev={sc.dev}"
    if sc.append:
        append += " " + sc.append
    if append_extra:
        append += " " + append_extra
    cmd += ["-append", append]
    if sc.ddw is not None:
        cmd += ["-global", f"spapr-pci-host-bridge.ddw={'on' if sc.ddw else 'off'}"]
    if sc.work in ("disk", "roundtrip"):
        with open(disk, "wb") as f:
            f.truncate(DISK_BYTES)
        cmd += ["-drive", f"file={disk},if=none,id=d0,format=raw,cache=writeback"]
    else:
        rx, tx = NET_SIZES[workload]
        cmd += ["-netdev",
                "user,id=n0,restrict=on,net=10.0.2.0/24,host=10.0.2.2,"
                f"guestfwd=tcp:{NET_FWD_ADDR}:{NET_PORT_RX}-cmd:head -c {rx} /dev/zero,"
                f"guestfwd=tcp:{NET_FWD_ADDR}:{NET_PORT_TX}-cmd:dd of=/dev/null bs=65536 "
                f"count={tx // 65536} iflag=fullblock status=none"]
    cmd += sc.device
    cmd += extra
    return cmd


class ConsoleReader(threading.Thread):
    """Reads the guest console, timestamps the @@UCAP lines on arrival."""

    def __init__(self, stream, logpath):
        super().__init__(daemon=True)
        self.stream = stream
        self.logpath = logpath
        self.marks = []  # (host time, phase)
        self.dt = {}  # stage -> {path: bytes}
        self.dtdone = set()
        self.end = False
        self.fail = None
        self.error = None  # a malformed payload record
        self.records = []  # the payload's calls (oracle.Record)
        self.roundtrips = []  # the guest's disk round trips (RT lines)
        self.record_marks = []  # (index of the next record, phase)
        self.lines = collections.deque(maxlen=40)
        self._dtstage = "start"
        self._cur = {}

    def run(self):
        with open(self.logpath, "w", encoding="utf-8", errors="replace") as logf:
            for raw in iter(self.stream.readline, b""):
                now = time.time()
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                logf.write(f"{now:.6f} {line}\n")
                logf.flush()
                self.lines.append(line)
                for m in CONSOLE_RE.finditer(line):
                    self._handle(now, m.group(1).split("|"))

    def _handle(self, now, f):
        kind = f[0]
        if kind == "MARK" and len(f) == 2:
            self.marks.append((now, f[1]))
            self.record_marks.append((len(self.records), f[1]))
        elif kind in oracle.RECORD_FIELDS:
            try:
                self.records.append(oracle.parse_record(f, len(self.records)))
            except oracle.OracleError as e:
                self.error = self.error or str(e)
        elif kind == "DT" and len(f) == 3:
            self._cur[f[1]] = bytes.fromhex(f[2])
        elif kind == "DTDONE" and len(f) == 2:
            self.dt[f[1]] = self._cur
            self._cur = {}
        elif kind == "RT" and len(f) == 7:
            try:
                self.roundtrips.append(dict(name=f[1], dev=f[2], bytes=int(f[3]),
                                            write_cs=int(f[4]), read_cs=int(f[5]),
                                            sha256=f[6]))
            except ValueError:
                self.error = self.error or f"malformed RT record {'|'.join(f)}"
        elif kind == "END" and f[1:] == ["ok"]:
            self.end = True
        elif kind == "FAIL":
            self.fail = "|".join(f[1:])


def be_cells(data):
    if len(data) % 4:
        raise CaptureError(f"device-tree property of {len(data)} bytes is not cells")
    return [int.from_bytes(data[i:i + 4], "big") for i in range(0, len(data), 4)]


def join_cells(cells):
    v = 0
    for c in cells:
        v = (v << 32) | c
    return v


def parse_dt(props):
    """-> (windows, phbs, ram_size) from the start-of-init device-tree dump."""
    windows = []
    phbs = []
    ram = 0
    nodes = collections.defaultdict(dict)
    for path, data in props.items():
        node, _, prop = path.rpartition("/")
        nodes[node or "/"][prop] = data
    for node in sorted(nodes):
        p = nodes[node]
        for wprop in ("ibm,my-dma-window", "ibm,dma-window"):
            if wprop not in p:
                continue
            acells = be_cells(p.get("ibm,#dma-address-cells", b"\0\0\0\2"))[0]
            scells = be_cells(p.get("ibm,#dma-size-cells", b"\0\0\0\2"))[0]
            c = be_cells(p[wprop])
            if len(c) != 1 + acells + scells:
                raise CaptureError(f"{node}/{wprop}: {len(c)} cells, expected "
                                   f"{1 + acells + scells}")
            liobn = c[0]
            addr = join_cells(c[1:1 + acells])
            size = join_cells(c[1 + acells:])
            windows.append(dict(liobn=liobn, bus_offset=addr, size=size, node=node))
            if wprop == "ibm,dma-window":
                reg = be_cells(p.get("reg", b""))
                if len(reg) < 2:
                    raise CaptureError(f"{node}: no reg property for the PHB")
                buid = join_cells(reg[:2])
                phbs.append(dict(buid=buid, liobn=liobn, node=node,
                                 ddw="ibm,ddw-applicable" in p,
                                 index=(liobn >> 8) & 0xff))
        if node.split("/")[-1].startswith("memory@") and "reg" in p:
            c = be_cells(p["reg"])
            # root #address-cells = #size-cells = 2 on pseries
            for i in range(0, len(c) - 3, 4):
                ram += join_cells(c[i + 2:i + 4])
    return windows, phbs, ram


def parse_event_time(line):
    m = EVENT_RE.match(line)
    if not m:
        return None, None
    return float(f"{m.group(2)}.{m.group(3)}"), m.group(4)


class Stats:
    def __init__(self):
        self.by_phase = collections.OrderedDict()
        self.total = collections.Counter()
        self.ret_nonzero = collections.Counter()
        self.other_lines = 0
        self.indirect_npages = collections.Counter()
        self.stuff_npages = collections.Counter()

    def add(self, phase, event, line):
        kind = HCALL_EVENTS.get(event)
        key = kind or event.replace("spapr_iommu_", "")
        self.by_phase.setdefault(phase, collections.Counter())[key] += 1
        self.total[key] += 1
        if kind:
            m = re.search(r" ret=(-?\d+)", line)
            if m and m.group(1) != "0":
                self.ret_nonzero[kind] += 1
            if kind == "indirect":
                m = re.search(r" iobaN=0x([0-9a-f]+)", line)
                if m:
                    self.indirect_npages[int(m.group(1), 16) + 1] += 1
            elif kind == "stuff":
                m = re.search(r" npages=(\d+)", line)
                if m:
                    self.stuff_npages[int(m.group(1))] += 1

    def hcalls(self, phases=None):
        n = 0
        for ph, c in self.by_phase.items():
            if phases is None or ph in phases:
                n += sum(c[k] for k in ("put", "indirect", "stuff", "get"))
        return n


def hcall_summary(counter):
    keys = ["put", "indirect", "stuff", "get", "ddw_query", "ddw_create", "ddw_remove",
            "ddw_reset", "new_table", "xlate"]
    return " ".join(f"{k}={counter[k]}" for k in keys if counter[k])


def launch(name, about, cmd, rundir, timeout, env=None):
    """Run QEMU until it exits; returns (console, QEMU's stderr, problems, seconds)."""
    log(f"[{name}] starting QEMU ({about})")
    vlog(f"[{name}] {shlex.join(cmd)}")
    t0 = time.time()
    errf = open(os.path.join(rundir, "qemu-stderr.log"), "wb")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=errf, cwd=rundir, env=env)
    con = ConsoleReader(proc.stdout, os.path.join(rundir, "console.log"))
    con.start()
    problems = []
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
        problems.append(f"timeout after {timeout} s")
    con.join(timeout=10)
    errf.close()
    elapsed = time.time() - t0
    with open(os.path.join(rundir, "qemu-stderr.log"), errors="replace") as f:
        qerr = f.read().strip()
    if rc != 0 and not problems:
        problems.append(f"QEMU exited with status {rc}")
    if con.fail:
        problems.append(f"guest reported failure: {con.fail}")
    if con.error:
        problems.append(con.error)
    if not con.end and not problems:
        problems.append("guest did not reach the end marker")
    return con, qerr, problems, elapsed


def start_of_run(name, outdir, workdir):
    """A fresh run directory; stale outputs of the same name removed."""
    rundir = os.path.join(workdir, "run", name)
    if os.path.isdir(rundir):
        shutil.rmtree(rundir)
    os.makedirs(rundir)
    final = os.path.join(outdir, f"{name}.trace")
    extras = [b + x for b in (final[:-len(".trace")], final + ".failed")
              for x in (".shim.log", ".shim.log.xz", ".host-tables", ".host-tables.xz",
                        ".vfio.json")]
    for stale in [final, final + ".xz", final + ".failed", final + ".failed.console"] + extras:
        if os.path.exists(stale):
            os.unlink(stale)
    recorded = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return rundir, final, recorded


def device_tree(con, problems):
    """(windows, phbs, ram) from the guest's start-of-run dump; problems noted."""
    windows = phbs = None
    ram = 0
    if "start" in con.dt:
        try:
            windows, phbs, ram = parse_dt(con.dt["start"])
        except CaptureError as e:
            problems.append(f"device tree: {e}")
        if windows is not None and not windows:
            problems.append("device tree shows no DMA window")
    elif not problems:
        problems.append("guest printed no device tree dump")
    return windows, phbs, ram


def qemu_event_lines(evlog, out, stats):
    """QEMU's -D log: (line number, line, host time, event) per trace event.
    Any other line (a QEMU warning etc.) is kept in @out as a comment."""
    if not os.path.exists(evlog):
        return
    with open(evlog, errors="replace") as ev:
        for lineno, line in enumerate(ev, 1):
            line = line.rstrip("\n")
            t, event = parse_event_time(line)
            if t is None:
                stats.other_lines += 1
                out.write(f"# qemu-log: {line}\n")
                continue
            yield lineno, line, t, event


def write_header(out, name, recorded, header, cmd, ram, windows, phbs):
    def h(k, v):
        out.write(f"# {k}: {v}\n")
    h("uiommu-trace", FORMAT_VERSION)
    h("scenario", name)
    h("recorded", recorded)
    for k, v in header:
        h(k, v)
    h("qemu-cmdline", shlex.join(cmd))
    h("ram-size", f"{ram:#x}")
    for w in windows or []:
        h("window", f"liobn={w['liobn']:#x} bus_offset={w['bus_offset']:#x} "
                    f"size={w['size']:#x} page_shift=12 node={w['node']}")
    for p in sorted(phbs or [], key=lambda p: p["index"]):
        h("phb", f"index={p['index']} buid={p['buid']:#x} liobn={p['liobn']:#x} "
                 f"ddw={'yes' if p['ddw'] else 'no'} dma64_base={DDW_DEFAULT_BASE:#x}")
    h("phase", "boot")


def finish_trace(name, tmp, final, problems, con, qerr, cmd, rundir, stats, xz, elapsed):
    """Name the trace by its outcome; returns (ok, message, seconds)."""
    summary = (f"{hcall_summary(stats.total)}; ret!=0: "
               f"{dict(stats.ret_nonzero) if stats.ret_nonzero else 'none'}")
    if problems:
        os.replace(tmp, final + ".failed")
        shutil.copyfile(os.path.join(rundir, "console.log"), final + ".failed.console")
        with open(final + ".failed.console", "a") as f:
            f.write(f"\n==== QEMU stderr ====\n{qerr}\n")
        tail = "\n      ".join(list(con.lines)[-15:])
        msg = (f"scenario {name} FAILED: {'; '.join(problems)}\n"
               f"    QEMU command: {shlex.join(cmd)}\n"
               f"    QEMU stderr: {qerr[-2000:] or '(empty)'}\n"
               f"    console (last lines):\n      {tail}\n"
               f"    partial trace: {final}.failed, console log: {final}.failed.console")
        return False, msg, elapsed
    if xz:
        with open(tmp, "rb") as src, lzma.open(final + ".xz", "wb",
                                               preset=9 | lzma.PRESET_EXTREME) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.unlink(tmp)
        outname = final + ".xz"
    else:
        os.replace(tmp, final)
        outname = final
    if stats.other_lines:
        log(f"[{name}] note: {stats.other_lines} non-event lines in QEMU's log "
            "(kept as '# qemu-log:' comments)")
    if qerr:
        vlog(f"[{name}] QEMU stderr: {qerr}")
    return True, f"scenario {name} ok in {elapsed:.0f} s -> {outname}: {summary}", elapsed


def run_scenario(sc, guest, args, events, header_common, outdir, workdir):
    rundir, final, recorded = start_of_run(sc.name, outdir, workdir)
    vf = model = None
    if sc.work == "roundtrip":
        vf = vfio.Run(sc, rundir, args.workload, args.vfio_preload, RAM_BYTES)
        model = Model()  # the guest's TCEs, replayed from the trace as it is written
    cmd = build_qemu_cmd(sc, guest, rundir, events, args.workload,
                         (vf.qemu_args if vf else []) + args.qemu_extra,
                         vf.append if vf else "")
    con, qerr, problems, elapsed = launch(sc.name, sc.about, cmd, rundir, args.timeout,
                                          vf.env if vf else None)
    windows, phbs, ram = device_tree(con, problems)
    if model:
        for w in windows or []:
            model.win[w["liobn"]] = (w["bus_offset"], 12, w["size"] >> 12)

    # merge QEMU's event lines and the guest's markers by host time
    evlog = os.path.join(rundir, "qemu-events.log")
    stats = Stats()
    tmp = final + ".partial"
    marks = list(con.marks)
    phases_seen = ["boot"]
    with open(tmp, "w") as out:
        write_header(out, sc.name, recorded,
                     header_common + [("workload", args.workload),
                                      ("xlate", "yes" if args.xlate else "no")],
                     cmd, ram, windows, phbs)
        phase = "boot"
        mi = 0
        for _, line, t, event in qemu_event_lines(evlog, out, stats):
            while mi < len(marks) and marks[mi][0] <= t:
                out.write(f"# MARK {marks[mi][0]:.6f} {marks[mi][1]}\n")
                phase = marks[mi][1]
                phases_seen.append(phase)
                mi += 1
            stats.add(phase, event, line)
            if model:
                model.event(event, line)
            out.write(line + "\n")
        while mi < len(marks):
            out.write(f"# MARK {marks[mi][0]:.6f} {marks[mi][1]}\n")
            phases_seen.append(marks[mi][1])
            mi += 1

        # sanity checks that make a run count as failed
        if not problems:
            if stats.total["new_table"] == 0:
                problems.append("no spapr_iommu_new_table event: QEMU tracing did not work")
            workload_phases = set(phases_seen) - {"boot", "load-modules", "end"}
            if sc.ddw:
                if stats.total["ddw_create"] == 0:
                    problems.append("DDW scenario but the guest created no DDW "
                                    "(no spapr_iommu_ddw_create event)")
                elif stats.hcalls({"load-modules"}) == 0:
                    problems.append("DDW created but no TCE hcall mapped it")
            elif stats.hcalls(workload_phases) == 0:
                problems.append("zero TCE hcalls during the workload phases")
            if sc.ddw is not None:
                for p in phbs or []:
                    if p["index"] == 0 and p["ddw"] != sc.ddw:
                        problems.append(f"PHB 0 ddw={p['ddw']} in the device tree, "
                                        f"expected {sc.ddw}")
            if vf and not problems:
                if ram != RAM_BYTES:
                    problems.append(f"guest RAM is {ram:#x} bytes, expected {RAM_BYTES:#x}")
                problems += vf.check(con, marks, qerr, model,
                                     {p: stats.hcalls({p}) for p in stats.by_phase})
        out.write(f"# end: failed: {'; '.join(problems)}\n" if problems else "# end: ok\n")

    if vf:
        base = vf.save(final + (".failed" if problems else ""), args.xz and not problems)
        for line in vf.text():
            log(f"[{sc.name}] {line}")
        log(f"[{sc.name}] the shim's log, its dump of the host tables and the report: "
            f"{base}.shim.log, .host-tables, .vfio.json")
    res = finish_trace(sc.name, tmp, final, problems, con, qerr, cmd, rundir, stats, args.xz,
                       elapsed)
    if res[0] and "end" in con.dt:
        for path, data in sorted(con.dt["end"].items()):
            if "direct64" in path or "dma64" in path:
                log(f"[{sc.name}] after the run the guest DT has {path} = {data.hex()}")
    return res


def build_payload_cmd(sc, image, rundir, events, extra):
    return qemu_base_cmd(rundir, events) + ["-bios", image] + sc.device + extra


def run_payload(sc, seed, payload, args, events, qemu_header, outdir, workdir):
    """One QEMU-oracle run: the payload with @seed; every call paired with QEMU's line."""
    name = f"{sc.name}-seed{seed}"
    rundir, final, recorded = start_of_run(name, outdir, workdir)
    image = os.path.join(rundir, "payload.bin")
    oracle.configure(payload[0], image, seed, args.calls)
    cmd = build_payload_cmd(sc, image, rundir, events, args.qemu_extra)
    con, qerr, problems, elapsed = launch(name, f"{sc.about}, seed {seed}", cmd, rundir,
                                          args.timeout)
    windows, phbs, ram = device_tree(con, problems)
    pairing = oracle.Pairing(con.records, con.record_marks, phbs or [])

    evlog = os.path.join(rundir, "qemu-events.log")
    stats = Stats()
    tmp = final + ".partial"
    phase = "boot"
    with open(tmp, "w") as out:
        write_header(out, name, recorded,
                     qemu_header + [("payload", payload[1]), ("seed", f"{seed:#x}"),
                                    ("calls", str(args.calls)), ("xlate", "no")],
                     cmd, ram, windows, phbs)
        t = 0.0
        for lineno, line, t, event in qemu_event_lines(evlog, out, stats):
            if not problems:
                try:
                    for m in pairing.feed(t, event, line.partition(" ")[2], lineno):
                        out.write(m + "\n")
                        phase = m.split(" ", 3)[3]
                except oracle.OracleError as e:
                    problems.append(str(e))
            stats.add(phase, event, line)
            out.write(line + "\n")
        if not problems:
            more, marks = pairing.finish(t)
            problems += more
            for m in marks:
                out.write(m + "\n")
        if not problems:
            if stats.total["new_table"] == 0:
                problems.append("no spapr_iommu_new_table event: QEMU tracing did not work")
            if not stats.ret_nonzero:
                problems.append("no call failed: the payload did not test an error path")
        if not problems:
            log(f"[{name}] {len(con.records)} calls: {pairing.lines_ok} logged by QEMU "
                f"exactly as made, {pairing.silent} not logged (as expected)")
        out.write(f"# end: failed: {'; '.join(problems)}\n" if problems else "# end: ok\n")
    return finish_trace(name, tmp, final, problems, con, qerr, cmd, rundir, stats, args.xz,
                        elapsed)


# ----------------------------------------------------------------------------------------
# --stats: summarize existing trace files


def open_trace(path):
    if path.endswith(".xz"):
        return lzma.open(path, "rt", errors="replace")
    return open(path, errors="replace")


class Model:
    """Replays PUT/INDIRECT/STUFF into per-LIOBN tables and checks every xlate
    event against them (INDIRECT lists reconstructed by the Linux rule)."""

    FIELD_RE = re.compile(r"(\w+)=(-?0x[0-9a-f]+|-?\d+)")
    XLATE_RE = re.compile(r"liobn=0x([0-9a-f]+) 0x([0-9a-f]+) -> 0x([0-9a-f]+) "
                          r"perm=(\d+) mask=0x([0-9a-f]+)")
    DDW_RE = re.compile(r"page size=0x([0-9a-f]+), requested=0x([0-9a-f]+), "
                        r"start addr=0x([0-9a-f]+), liobn=0x([0-9a-f]+)")

    def __init__(self):
        self.win = {}  # liobn -> (bus_offset, shift, entries)
        self.tab = collections.defaultdict(dict)  # liobn -> idx -> (tce, reconstructed)
        self.res = collections.Counter()

    def header(self, key, value):
        if key == "window":
            f = dict(kv.split("=", 1) for kv in value.split())
            size = int(f["size"], 16)
            shift = int(f["page_shift"])
            self.win[int(f["liobn"], 16)] = (int(f["bus_offset"], 16), shift, size >> shift)

    def _set(self, liobn, ioba, tce, recon=False):
        if liobn not in self.win:
            self.res["unknown liobn"] += 1
            return
        off, shift, n = self.win[liobn]
        idx = (ioba - off) >> shift
        if not 0 <= idx < n:
            self.res["out of window"] += 1
            return
        old = self.tab[liobn].get(idx, (0, False))[0]
        if tce & 3 and old & 3:
            self.res["map over a live entry"] += 1
        if tce & 3:
            self.tab[liobn][idx] = (tce, recon)
        else:
            self.tab[liobn].pop(idx, None)

    def event(self, ev, line):
        if ev == "spapr_iommu_ddw_create":
            m = self.DDW_RE.search(line)
            if m:
                pg, req, start, liobn = (int(x, 16) for x in m.groups())
                self.win[liobn] = (start, pg.bit_length() - 1, req // pg)
            return
        if ev == "spapr_iommu_xlate":
            m = self.XLATE_RE.search(line)
            if not m:
                self.res["unparsed xlate"] += 1
                return
            liobn, addr, xa, perm, mask = (int(x, 16) for x in m.groups())
            if liobn not in self.win:
                self.res["xlate on unknown liobn"] += 1
                return
            shift = self.win[liobn][1]
            tce, recon = self.tab[liobn].get(addr >> shift, (0, False))
            pmask = (1 << shift) - 1
            want = (tce & ~pmask, tce & 3)
            if (xa, perm) == want:
                self.res["xlate consistent"] += 1
                if recon:
                    self.res["xlate hit a reconstructed INDIRECT entry"] += 1
            else:
                self.res["xlate INCONSISTENT"] += 1
            return
        kind = HCALL_EVENTS.get(ev)
        if kind not in ("put", "indirect", "stuff"):
            return
        f = {k: int(v, 0) for k, v in self.FIELD_RE.findall(line)}
        if f.get("ret", 0) != 0:
            return
        liobn = f["liobn"]
        shift = self.win.get(liobn, (0, 12, 0))[1]
        if kind == "put":
            self._set(liobn, f["ioba"], f["tce"])
        elif kind == "indirect":
            n = f["iobaN"] + 1
            base = f["ioba"] & ~((1 << shift) - 1)
            for k in range(n):
                self._set(liobn, base + (k << shift), f["tceN"] - ((n - 1 - k) << shift),
                          recon=(k != n - 1))
        else:
            start = f["ioba"] - (f["npages"] << shift)
            for k in range(f["npages"]):
                self._set(liobn, start + (k << shift), f["tcevalue"])


def stats_main(paths):
    ok = True
    for path in paths:
        stats = Stats()
        model = Model()
        header = {}
        phase = "boot"
        last = ""
        lines = 0
        with open_trace(path) as f:
            for line in f:
                lines += 1
                line = line.rstrip("\n")
                last = line
                if line.startswith("# MARK "):
                    phase = line.split()[3]
                elif line.startswith("# ") and ": " in line and phase == "boot" \
                        and not line.startswith("# qemu-log"):
                    k, _, v = line[2:].partition(": ")
                    header.setdefault(k, v)
                    model.header(k, v)
                elif not line.startswith("#"):
                    t, ev = parse_event_time(line)
                    if ev:
                        stats.add(phase, ev, line)
                        model.event(ev, line)
        pre = collections.Counter(stats.by_phase.get("boot", {}))
        work = collections.Counter()
        for ph, c in stats.by_phase.items():
            if ph != "boot":
                work.update(c)
        good = last == "# end: ok"
        ok &= good
        print(f"{path}: scenario={header.get('scenario')} workload={header.get('workload')} "
              f"xlate={header.get('xlate')} lines={lines} end={'ok' if good else 'MISSING'}")
        print(f"  total:    {hcall_summary(stats.total)}")
        print(f"  pre-init: {hcall_summary(pre) or '-'}")
        print(f"  after:    {hcall_summary(work) or '-'}")
        print(f"  ret!=0:   {dict(stats.ret_nonzero) if stats.ret_nonzero else 'none'}")
        print(f"  INDIRECT npages: {dict(stats.indirect_npages.most_common(8))}")
        print(f"  STUFF npages:    {dict(stats.stuff_npages.most_common(8))}")
        for ph, c in stats.by_phase.items():
            print(f"    {ph:48s} {hcall_summary(c)}")
        print("  model replay: " + (", ".join(f"{k}: {v}" for k, v in sorted(model.res.items()))
                                    or "no translation events, no problems"))
        live = {l: len(t) for l, t in model.tab.items() if t}
        print("  live TCEs at the end: " + (", ".join(f"{l:#x}: {n}" for l, n in live.items())
                                             or "none"))
        if model.res["xlate INCONSISTENT"]:
            ok = False
    return 0 if ok else 1


# ----------------------------------------------------------------------------------------


def parse_args(argv):
    names = [s.name for s in SCENARIOS]
    ap = argparse.ArgumentParser(
        prog="capture-pseries-trace",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Record PAPR TCE hypercall traces (H_PUT_TCE, H_PUT_TCE_INDIRECT, H_STUFF_TCE,\n"
            "DDW RTAS) from a Debian ppc64el Linux guest under qemu-system-ppc64 -M pseries\n"
            "(TCG), one <scenario>.trace file per scenario.  Format: doc/traces.md.\n\n"
            "Needs root on Debian 12: it runs apt-get install qemu-system-ppc (and\n"
            "qemu-system-data, kmod) if missing, and fetches the guest's .debs (~55 MB)\n"
            "through a private ppc64el apt state (the host's dpkg architectures are not\n"
            "changed).  A full run of all scenarios takes about 9 minutes on 2 cores.\n\n"
            "qemu-oracle boots no Linux: a bare-metal payload (tools/capture/payload,\n"
            f"built with {oracle.compiler()} from {oracle.CROSS_PACKAGE}) makes seeded,\n"
            "mostly malformed TCE hcalls and DDW RTAS calls; each is checked against\n"
            "QEMU's trace line. One trace per --seed, in about a second."),
        epilog="scenarios:\n" + "\n".join(f"  {s.name:24s} {s.about}" for s in SCENARIOS) +
        "\n\nexit status: 0 all scenarios ok, 1 a scenario or the setup failed, 2 usage error,\n"
        "4 a package could not be installed or downloaded (nothing was run)")
    ap.add_argument("--out", metavar="DIR", default="traces",
                    help="output directory (default: ./traces)")
    ap.add_argument("--scenario", metavar="NAME", action="append", choices=names,
                    help="scenario to run (repeatable; default: all)")
    ap.add_argument("--xlate", action="store_true",
                    help="also record spapr_iommu_xlate (one line per device DMA translation; large)")
    ap.add_argument("--workload", choices=["full", "short"], default="full",
                    help="full (default) or short (a handful of I/Os per phase)")
    ap.add_argument("--keep-work", metavar="DIR",
                    help="work directory to use and keep (downloads are reused on the next run)")
    ap.add_argument("--xz", action="store_true", help="write <scenario>.trace.xz instead")
    ap.add_argument("--jobs", type=int, default=1, metavar="N",
                    help="scenarios to run in parallel (default 1)")
    ap.add_argument("--timeout", type=int, default=900, metavar="SEC",
                    help="per-scenario time limit (default 900)")
    ap.add_argument("--qemu-extra", metavar="ARG", action="append", default=[],
                    help="extra QEMU argument, appended as is (repeatable); the environment "
                         "variable UIOMMU_CAPTURE_QEMU_EXTRA is split with shell rules and "
                         "appended too")
    ap.add_argument("--seed", metavar="N", action="append", type=lambda v: int(v, 0),
                    help="qemu-oracle: seed of the payload's choices (repeatable, one trace "
                         "<scenario>-seed<N> each; default 1)")
    ap.add_argument("--calls", metavar="N", type=int, default=oracle.DEFAULT_CALLS,
                    help="qemu-oracle: calls of the payload's random phase (default "
                         f"{oracle.DEFAULT_CALLS})")
    ap.add_argument("--build-payload", metavar="DIR",
                    help="only build the qemu-oracle payload into DIR (needs "
                         f"{oracle.compiler()}) and exit")
    ap.add_argument("--vfio-preload", metavar="SO",
                    help="libuiommu-vfio-preload.so for the vfio-* scenarios (built in "
                         "build/tools/vfio-preload/); they run only with it, or when named")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    ap.add_argument("--stats", metavar="TRACE", nargs="+",
                    help="summarize existing trace files (.trace or .trace.xz) and exit; "
                         "exit 1 if one does not end with '# end: ok'")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")
    if args.timeout < 10:
        ap.error("--timeout must be at least 10")
    if not 0 <= args.calls <= 1000000:
        ap.error("--calls must be between 0 and 1000000")
    if any(not 0 <= s < 1 << 64 for s in args.seed or []):
        ap.error("--seed must be between 0 and 2^64 - 1")
    args.seed = list(dict.fromkeys(args.seed or [1]))
    env_extra = os.environ.get("UIOMMU_CAPTURE_QEMU_EXTRA", "")
    if env_extra:
        args.qemu_extra = args.qemu_extra + shlex.split(env_extra)
    return args


def main(argv):
    global VERBOSE
    args = parse_args(argv)
    VERBOSE = args.verbose
    if args.list:
        for s in SCENARIOS:
            print(f"{s.name:24s} {s.about}")
        return 0
    if args.stats:
        return stats_main(args.stats)
    if args.build_payload:
        image, about = oracle.build(os.path.abspath(args.build_payload), vlog)
        log(f"payload: {image} ({os.path.getsize(image)} bytes; {about})")
        return 0
    if sys.platform != "linux":
        raise CaptureError("needs a Debian 12 Linux host")
    default = [s.name for s in SCENARIOS if s.work != "roundtrip" or args.vfio_preload]
    scenarios = [SCENARIO_BY_NAME[n] for n in dict.fromkeys(args.scenario or default)]
    if any(sc.work == "roundtrip" for sc in scenarios) and not args.vfio_preload:
        raise CaptureError("the vfio-* scenarios need --vfio-preload "
                           "(build/tools/vfio-preload/libuiommu-vfio-preload.so)")
    linux = [sc for sc in scenarios if sc.work != "oracle"]
    payload_runs = [(sc, seed) for sc in scenarios if sc.work == "oracle" for seed in args.seed]
    t_start = time.time()
    ensure_host_packages((HOST_PACKAGES if linux else HOST_PACKAGES[:2]) +
                         ([oracle.CROSS_PACKAGE] if payload_runs else []))
    os.makedirs(args.out, exist_ok=True)
    outdir = os.path.abspath(args.out)
    if args.keep_work:
        workdir = os.path.abspath(args.keep_work)
        os.makedirs(workdir, exist_ok=True)
    else:
        workdir = tempfile.mkdtemp(prefix="uiommu-capture.", dir="/var/tmp")
    failures = []
    try:
        qver = qemu_version_line()
        qpkg = dpkg_version("qemu-system-ppc") or "not a Debian package"
        qemu_header = [("qemu", f"{qver} ({qpkg})")]
        jobs = []
        if linux:
            guest = Guest(workdir)
            guest.prepare()
            events = qemu_trace_events(args.xlate)
            header_common = qemu_header + [
                ("guest-kernel", f"{guest.kernel_pkg} {guest.versions[guest.kernel_pkg]}"),
                ("guest-userland", ", ".join(f"{p} {guest.versions[p]}"
                                             for p in GUEST_USERLAND)),
            ]
            jobs += [(sc.name, run_scenario, (sc, guest, args, events, header_common, outdir,
                                              workdir)) for sc in linux]
        if payload_runs:
            payload = oracle.build(os.path.join(workdir, "payload"), vlog)
            log(f"payload: {payload[1]}")
            events = qemu_trace_events(False)
            jobs += [(f"{sc.name}-seed{seed}", run_payload,
                      (sc, seed, payload, args, events, qemu_header, outdir, workdir))
                     for sc, seed in payload_runs]
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futs = {pool.submit(fn, *fargs): name for name, fn, fargs in jobs}
            for fut in concurrent.futures.as_completed(futs):
                name = futs[fut]
                try:
                    ok, msg, _ = fut.result()
                except Exception as e:  # noqa: BLE001 - report and keep going
                    ok, msg = False, f"scenario {name} FAILED: {type(e).__name__}: {e}"
                log(msg)
                if not ok:
                    failures.append(name)
    finally:
        if not args.keep_work:
            shutil.rmtree(workdir, ignore_errors=True)
    total = time.time() - t_start
    n = len(linux) + len(payload_runs)
    if failures:
        log(f"FAILED scenarios: {' '.join(sorted(failures))} ({n - len(failures)} of "
            f"{n} ok, {total:.0f} s)")
        return 1
    log(f"all {n} scenarios ok in {total:.0f} s; traces in {outdir}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except SetupUnavailable as e:
        log(f"error: {e}")
        sys.exit(4)
    except (CaptureError, vfio.VfioError) as e:
        log(f"error: {e}")
        sys.exit(1)
    except (OSError, oracle.OracleError) as e:
        log(f"error: {e}")
        sys.exit(1)
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
