# SPDX-License-Identifier: BSD-3-Clause
"""The QEMU-oracle scenario of capture-pseries-trace.

A bare-metal payload (tools/capture/payload/, our own code) takes the place
of the Linux guest: QEMU boots it with -bios, it issues seeded, mostly
malformed TCE hypercalls and DDW RTAS calls and prints one record per call
on the console. This module builds the payload with Debian's powerpc64
cross compiler, writes the seed into its configuration block, and pairs
every record with QEMU's trace line, so that a recording fails unless the
trace describes exactly the calls the payload made (doc/traces.md,
"QEMU-oracle traces").  Python 3.11 stdlib only.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
PAYLOAD_DIR = os.path.join(HERE, "payload")
CROSS_PREFIX = "powerpc64-linux-gnu-"
CROSS_PACKAGE = "gcc-powerpc64-linux-gnu"
SOURCES = ["start.S", "hv.c", "oracle.c"]
INPUTS = SOURCES + ["payload.h", "payload.ld"]
# Big-endian ELFv2, no floating point or vector registers (the MSR has them
# off), no calls to a C library.
CFLAGS = ["-std=gnu17", "-O2", "-g", "-ffreestanding", "-nostdlib", "-mabi=elfv2",
          "-mcpu=power8", "-mno-altivec", "-mno-vsx", "-msoft-float", "-mno-pcrel",
          "-fno-stack-protector", "-fno-asynchronous-unwind-tables",
          "-fno-tree-loop-distribute-patterns", "-fno-common",
          "-Wall", "-Wextra", "-Werror"]
LDFLAGS = ["-static", "-Wl,--build-id=none", "-Wl,--no-warn-rwx-segments"]
MAGIC = b"UCAPCFG1"
DEFAULT_CALLS = 2000

M64 = (1 << 64) - 1


class OracleError(Exception):
    pass


def compiler():
    return CROSS_PREFIX + "gcc"


def source_digest():
    h = hashlib.sha256()
    for name in INPUTS:
        with open(os.path.join(PAYLOAD_DIR, name), "rb") as f:
            h.update(name.encode() + b"\0" + f.read() + b"\0")
    return h.hexdigest()[:16]


def build(outdir, verbose_log=None):
    """Compile the payload into outdir; return (image path, description)."""
    os.makedirs(outdir, exist_ok=True)
    cc = compiler()

    def sh(cmd):
        if verbose_log:
            verbose_log("$ " + " ".join(cmd))
        res = subprocess.run(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if res.returncode:
            raise OracleError(f"payload build failed: {' '.join(cmd)}\n{res.stdout.strip()}")
        return res.stdout

    try:
        version = sh([cc, "--version"]).splitlines()[0].strip()
    except FileNotFoundError:
        raise OracleError(f"{cc} is missing (Debian package {CROSS_PACKAGE})") from None
    objs = []
    for src in SOURCES:
        obj = os.path.join(outdir, os.path.splitext(src)[0] + ".o")
        sh([cc] + CFLAGS + ["-c", os.path.join(PAYLOAD_DIR, src), "-o", obj])
        objs.append(obj)
    elf = os.path.join(outdir, "payload.elf")
    image = os.path.join(outdir, "payload.bin")
    sh([cc] + CFLAGS + LDFLAGS + ["-Wl,-T," + os.path.join(PAYLOAD_DIR, "payload.ld")] +
       objs + ["-o", elf])
    sh([CROSS_PREFIX + "objcopy", "-O", "binary", elf, image])
    with open(image, "rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise OracleError(f"{image} does not start with its configuration block")
    return image, f"tools/capture/payload sha256:{source_digest()}, {version}"


def configure(image, out, seed, calls):
    """Copy image to out with seed and calls in its configuration block."""
    with open(image, "rb") as f:
        data = bytearray(f.read())
    if data[:len(MAGIC)] != MAGIC:
        raise OracleError(f"{image}: no configuration block")
    data[8:24] = struct.pack(">QQ", seed & M64, calls)
    with open(out, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------------------------------
# Records: the payload's console lines, @@UCAP|<op>|<t>|<ret>|<hex>...|@@

RECORD_FIELDS = {
    "P": ("liobn", "ioba", "tce"),
    "G": ("liobn", "ioba", "tce"),
    "I": ("liobn", "ioba", "list", "npages", "e0", "step"),
    "S": ("liobn", "ioba", "value", "npages", "psize"),
    "Q": ("buid", "cfg", "nret", "avail", "mask"),
    "C": ("buid", "cfg", "pshift", "wshift", "liobn", "start"),
    "R": ("liobn", "restored"),
    "X": ("buid", "cfg"),
}
RECORD_NAMES = {"P": "H_PUT_TCE", "G": "H_GET_TCE", "I": "H_PUT_TCE_INDIRECT",
                "S": "H_STUFF_TCE", "Q": "ibm,query-pe-dma-window",
                "C": "ibm,create-pe-dma-window", "R": "ibm,remove-pe-dma-window",
                "X": "ibm,reset-pe-dma-window"}


class Record:
    __slots__ = ("op", "traced", "ret", "f", "index")

    def __init__(self, op, traced, ret, f, index):
        self.op, self.traced, self.ret, self.f, self.index = op, traced, ret, f, index

    def __str__(self):
        args = " ".join(f"{k}=0x{v:x}" for k, v in self.f.items())
        return (f"call #{self.index} {RECORD_NAMES[self.op]} {args} -> {self.ret}"
                f"{'' if self.traced else ' (not logged by QEMU)'}")


def parse_record(fields, index):
    """fields: the record split at '|' (op first); None if it is not a record."""
    op = fields[0]
    names = RECORD_FIELDS.get(op)
    if names is None:
        return None
    if len(fields) != 3 + len(names) or fields[1] not in ("0", "1"):
        raise OracleError(f"malformed payload record: {'|'.join(fields)}")
    try:
        ret = int(fields[2])
        vals = [int(v, 16) for v in fields[3:]]
    except ValueError:
        raise OracleError(f"malformed payload record: {'|'.join(fields)}") from None
    return Record(op, fields[1] == "1", ret, dict(zip(names, vals)), index)


# ---------------------------------------------------------------------------------------
# Pairing records with QEMU's trace lines

HCALL_OPS = {"put": "P", "get": "G", "indirect": "I", "stuff": "S"}
FIELD_RE = re.compile(r"(\w+)=(-?0x[0-9a-f]+|-?\d+)")
QUERY_RE = re.compile(r"buid=0x([0-9a-f]+) addr=0x([0-9a-f]+), (\d+) windows available, "
                      r"max window size=0x[0-9a-f]+, mask=0x([0-9a-f]+)$")
CREATE_RE = re.compile(r"buid=0x([0-9a-f]+) addr=0x([0-9a-f]+), page size=0x([0-9a-f]+), "
                       r"requested=0x([0-9a-f]+), start addr=0x([0-9a-f]+), liobn=0x([0-9a-f]+)$")
REMOVE_RE = re.compile(r"liobn=0x([0-9a-f]+)$")
RESET_RE = re.compile(r"buid=0x([0-9a-f]+) addr=0x([0-9a-f]+)$")


def _masked_from(raw, logged):
    """logged is raw, or raw masked to an IOMMU page of 4 KiB to 16 GiB."""
    return logged == raw or any(raw & ~((1 << s) - 1) == logged for s in range(12, 35))


class Pairing:
    """Pairs the payload's records with QEMU's event lines, in order.

    Every record with t=1 must have its line, every line must belong to a
    record (new_table lines excepted, and the ddw_reset QEMU logs when a
    remove restores the default window), and each line must say what the
    record says. Phase markers are placed before the first line of the
    first logged call of their phase.
    """

    def __init__(self, records, mark_at, phbs):
        self.traced = [r for r in records if r.traced]
        self.silent = len(records) - len(self.traced)
        self.mark_at = list(mark_at)  # (record index, phase), in order
        self.buid_of_index = {p["index"]: p["buid"] for p in phbs}
        self.pos = 0
        self.expect_reset = None  # buid of a restore the previous remove announced
        self.lines_ok = 0
        self.new_tables = 0

    def _marks_before(self, index, t):
        out = []
        while self.mark_at and self.mark_at[0][0] <= index:
            out.append(f"# MARK {t:.6f} {self.mark_at.pop(0)[1]}")
        return out

    def feed(self, t, event, rest, lineno):
        """One event line; returns the marker lines to write before it."""
        if event == "spapr_iommu_new_table":
            self.new_tables += 1
            return []
        short = event.removeprefix("spapr_iommu_").removeprefix("pci_")
        if self.expect_reset is not None:
            m = RESET_RE.match(rest)
            if short != "ddw_reset" or not m or int(m.group(1), 16) != self.expect_reset \
                    or int(m.group(2), 16) != 0:
                raise OracleError(f"QEMU log line {lineno}: expected the ddw_reset of a "
                                  f"restored default window, got: {event} {rest}")
            self.expect_reset = None
            self.lines_ok += 1
            return []
        if self.pos == len(self.traced):
            raise OracleError(f"QEMU log line {lineno}: {event} {rest}: no call of the "
                              "payload is left to explain it")
        rec = self.traced[self.pos]
        why = self._mismatch(rec, event, short, rest)
        if why:
            raise OracleError(f"QEMU log line {lineno} ({event} {rest}) is not {rec}: {why}")
        self.pos += 1
        self.lines_ok += 1
        if rec.op == "R" and rec.f["restored"]:
            buid = self.buid_of_index.get((rec.f["liobn"] >> 8) & 0xff)
            if buid is None:
                raise OracleError(f"{rec}: no PHB in the header owns that LIOBN")
            self.expect_reset = buid
        return self._marks_before(rec.index, t)

    def finish(self, t):
        problems = []
        if self.pos != len(self.traced):
            problems.append(f"{len(self.traced) - self.pos} calls the payload made are missing "
                            f"from QEMU's log, the first: {self.traced[self.pos]}")
        if self.expect_reset is not None:
            problems.append("QEMU did not log the restore of a default window")
        return problems, [f"# MARK {t:.6f} {phase}" for _, phase in self.mark_at]

    @staticmethod
    def _mismatch(rec, event, short, rest):
        f = rec.f
        if rec.op in "PGIS":
            if HCALL_OPS.get(short) != rec.op:
                return "another call"
            v = {k: int(x, 0) for k, x in FIELD_RE.findall(rest)}
            liobn = v.get("liobn", -1)
            if liobn != f["liobn"] or v.get("ret") != rec.ret:
                return "LIOBN or return code differ"
            if ("_pci_" in event) != bool(liobn & 0x80000000):
                return "pci_ event for a LIOBN without bit 31, or the reverse"
            if rec.op in "PG":
                if not _masked_from(f["ioba"], v["ioba"]) or v["tce"] != f["tce"]:
                    return "IOBA or TCE differ"
            elif rec.op == "I":
                return Pairing._indirect_mismatch(rec, v)
            else:
                return Pairing._stuff_mismatch(rec, v)
            return None
        if rec.op == "Q":
            m = QUERY_RE.match(rest)
            if short != "ddw_query" or not m:
                return "another call"
            if [int(m.group(i), b) for i, b in ((1, 16), (2, 16), (3, 10), (4, 16))] != \
                    [f["buid"], f["cfg"], f["avail"], f["mask"]]:
                return "BUID, config address, windows or page sizes differ"
        elif rec.op == "C":
            m = CREATE_RE.match(rest)
            if short != "ddw_create" or not m:
                return "another call"
            if [int(x, 16) for x in m.groups()] != [
                    f["buid"], f["cfg"], 1 << f["pshift"], 1 << f["wshift"], f["start"],
                    f["liobn"]]:
                return "BUID, config address, sizes, start or LIOBN differ"
        elif rec.op == "R":
            m = REMOVE_RE.match(rest)
            if short != "ddw_remove" or not m or int(m.group(1), 16) != f["liobn"]:
                return "another call or LIOBN"
        else:
            m = RESET_RE.match(rest)
            if short != "ddw_reset" or not m or \
                    [int(x, 16) for x in m.groups()] != [f["buid"], f["cfg"]]:
                return "another call, BUID or config address"
        return None

    @staticmethod
    def _indirect_mismatch(rec, v):
        f = rec.f
        n, e0, step = f["npages"], f["e0"], f["step"]
        if v["ioba"] != f["ioba"] or v["tcelist"] != f["list"]:
            return "IOBA or list address differ"

        def entry(k):
            return (e0 + k * step) & M64

        last, tce = v["iobaN"], v["tceN"]
        if rec.ret == 0:
            if last != n - 1 or tce != entry(n - 1):
                return "the last entry differs"
            return None
        if n == 0:
            return None if last == 0 and tce == 0 else "an empty list logged an entry"
        # A failure at entry k logs max(k - 1, 0) and entry k.
        ks = [0, 1] if last == 0 else [last + 1]
        if not any(k < n and entry(k) == tce for k in ks):
            return "no entry of the list fails there"
        # Read back by the replay as npages 0: only right if nothing was written.
        if last == 0 and tce == 0 and n >= 2 and entry(1) == 0 and entry(0) != 0:
            return "not describable: it may have failed at entry 1 with a zero TCE"
        return None

    @staticmethod
    def _stuff_mismatch(rec, v):
        f = rec.f
        n, ps = f["npages"], f["psize"]
        if v["tcevalue"] != f["value"] or v["npages"] != n:
            return "value or npages differ"
        start = f["ioba"] & ~(ps - 1) & M64 if ps else f["ioba"]
        if rec.ret == 0:
            if v["ioba"] != (start + n * ps) & M64:
                return "the logged end differs"
        elif v["ioba"] != start:
            return "not describable: it failed after its first entry (the start is lost)"
        return None
