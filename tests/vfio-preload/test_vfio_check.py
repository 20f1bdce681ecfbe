# SPDX-License-Identifier: BSD-3-Clause
"""The checks of the QEMU-VFIO scenarios (tools/capture/vfio.py) must be able
to fail: a model of Linux's container that flags a wrong answer, table
comparisons that flag every kind of difference, and a run check that fails
on each thing a run must prove. Synthetic shim logs in the shim's format."""

import errno
import os
import sys
import tempfile
import types
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "capture"))
import capture_pseries_trace as capture  # noqa: E402
import vfio  # noqa: E402

RAM = 0x7f0000000000
GIB = 1 << 30
INFO = ("argsz=32 flags=0x1 dma32_window_start=0 dma32_window_size=0x80000000 "
        "pgsizes=0x11011000 max_dynamic_windows=2 levels=5")


def qemu_calls():
    """(kind, request, args, result) as QEMU 7.2's vfio makes them, with a boot clear."""
    calls = [
        ("group", "GROUP_GET_STATUS", "flags=0x1", "0"),
        ("container", "GET_API_VERSION", "", "0"),
        ("container", "CHECK_EXTENSION", "arg=3", "0"),
        ("container", "CHECK_EXTENSION", "arg=1", "0"),
        ("container", "CHECK_EXTENSION", "arg=7", "1"),
        ("group", "GROUP_SET_CONTAINER", "container=5", "0"),
        ("container", "SET_IOMMU", "arg=7", "0"),
        ("container", "SPAPR_REGISTER_MEMORY",
         f"argsz=24 flags=0 vaddr={RAM:#x} size={GIB:#x}", "0"),
        ("container", "SPAPR_TCE_GET_INFO", INFO, "0"),
        ("container", "SPAPR_TCE_REMOVE", "argsz=16 flags=0 start_addr=0", "0"),
        ("container", "SPAPR_TCE_CREATE", "argsz=40 flags=0 page_shift=12 "
         f"window_size={GIB:#x} levels=2 start_addr=0", "0"),
        ("container", "EEH_PE_OP", "argsz=40 flags=0 op=1", "0"),
    ]
    for i in range(8):
        calls.append(("container", "UNMAP_DMA", f"argsz=24 flags=0 iova={i << 12:#x} "
                      "size=0x1000", "0"))
    calls += [
        ("container", "MAP_DMA", f"argsz=32 flags=0x3 vaddr={RAM + 0x5000:#x} iova=0x2000 "
         "size=0x2000", "0"),
        ("container", "MAP_DMA", f"argsz=32 flags=0x1 vaddr={RAM + 0x9000:#x} iova=0x8000 "
         "size=0x1000", "0"),
        ("container", "UNMAP_DMA", "argsz=24 flags=0 iova=0x3000 size=0x1000", "0"),
    ]
    return calls


def log_text(calls, t0=1000.0, extra=(), clean=True, unserved=0):
    lines = [f"{t0:.6f} 1 start libuiommu 0.1.0, container uiommu_vfio_ioctl, group 42, "
             "device 0000:01:00.0 (virtio-blk) on PE domain0-pe0, host pages 4 KiB"]
    t = t0
    for kind, req, args, ret in calls:
        t += 0.001
        lines.append(f"{t:.6f} 1 {kind} ioctl {req} {args} -> {ret} 100ns")
    t += 0.001
    lines += [f"{t:.6f} 1 {x}" for x in extra]
    lines.append(f"{t:.6f} 1 summary virtio-blk requests=4 reads=2 writes=2 flushes=0 "
                 "bytes_read=4096 bytes_written=4096 errors=0 interrupts=4 needs_reset=0")
    lines.append(f"{t:.6f} 1 summary dma bytes_read=1 bytes_written=1 faults=0 "
                 "tce_cache_hits=0 misses=0 kills=1 stale_tces=0")
    if unserved:
        lines.append(f"{t:.6f} 1 summary unserved calls={unserved} errors=0 ns=0")
    lines.append(f"{t:.6f} 1 event teardown: fds_open=3 locked_bytes={GIB} "
                 f"locked_peak={GIB} vmlck_kib=0")
    if clean:
        lines.append(f"{t:.6f} 1 event exit: clean, locked_bytes=0, every resource back "
                     "at zero, VmLck 0 kB")
    return "\n".join(lines) + "\n"


def dump_text(tces):
    out = ["# uiommu-vfio-dump: 1", f"ram vaddr={RAM:#x} size={GIB:#x} hpa=0x800000000",
           f"window num=0 start=0 size={GIB:#x} page_shift=12 levels=2"]
    out += [f"tce ioba={i:#x} hpa=0x0 hva={h:#x} perm={p}" for i, (h, p) in sorted(tces.items())]
    out.append(f"# end: {len(tces)} tces")
    return "\n".join(out) + "\n"


# The host TCEs that qemu_calls() leaves, and the guest TCEs that made them.
HOST = {0x2000: (RAM + 0x5000, 3), 0x8000: (RAM + 0x9000, 1)}
GUEST = {2: 0x5003, 8: 0x9001}  # guest window index -> TCE (gpa | perm)


class ModelTest(unittest.TestCase):
    def feed(self, calls):
        m = vfio.ContainerModel(12)
        for kind, req, args, ret in calls:
            if kind == "group":
                m.group_call(req, vfio.ret_value(ret))
            else:
                m.call(req, vfio.kv(args), vfio.ret_value(ret), "boot")
        return m

    def test_qemu_sequence_as_linux(self):
        m = self.feed(qemu_calls())
        self.assertEqual(m.problems, [])
        self.assertEqual(m.as_linux, len([c for c in qemu_calls() if c[0] == "container"]))
        self.assertEqual(m.tces, HOST)

    def test_wrong_answers_are_flagged(self):
        bad = [
            # no window covers it: Linux says -ENXIO
            ("container", "MAP_DMA", f"argsz=32 flags=0x3 vaddr={RAM:#x} "
             "iova=0x900000000 size=0x1000", "0"),
            # not preregistered
            ("container", "MAP_DMA", "argsz=32 flags=0x3 vaddr=0x1000 iova=0x0 "
             "size=0x1000", "0"),
            # a refusal Linux would not make
            ("container", "UNMAP_DMA", "argsz=24 flags=0 iova=0x0 size=0x1000", "-EINVAL"),
            # a window where powernv would not put it
            ("container", "SPAPR_TCE_CREATE", "argsz=40 flags=0 page_shift=16 "
             "window_size=0x40000000 levels=1 start_addr=0x1000", "0"),
            ("container", "CHECK_EXTENSION", "arg=1", "1"),
        ]
        m = self.feed(qemu_calls() + bad)
        self.assertEqual(len(m.problems), len(bad), m.problems)
        self.assertIn("would return -ENXIO", m.problems[0])
        self.assertIn("would return -EINVAL", m.problems[1])
        self.assertIn("would return 0", m.problems[2])
        self.assertIn("places window 1 at 0x800000000000000", m.problems[3])

    def test_map_before_register_is_eperm(self):
        calls = qemu_calls()[:7] + [
            ("container", "MAP_DMA", "argsz=32 flags=0x3 vaddr=0x1000 iova=0x0 size=0x1000",
             "-EPERM")]
        m = self.feed(calls)
        self.assertEqual(m.problems, [])

    def test_documented_fixes_are_accepted_and_counted(self):
        calls = qemu_calls() + [
            # misaligned iova: Linux's param check returns 1, ours -EINVAL
            ("container", "UNMAP_DMA", "argsz=24 flags=0 iova=0x800 size=0x1000", "-EINVAL"),
            # past the end of the window: Linux does not check npages
            ("container", "UNMAP_DMA", "argsz=24 flags=0 iova=0x3ffff000 size=0x2000",
             "-EINVAL"),
            # unregister while mapped: Linux returns 0 and orphans it, ours -EBUSY
            ("container", "SPAPR_UNREGISTER_MEMORY",
             f"argsz=24 flags=0 vaddr={RAM:#x} size={GIB:#x}", "-EBUSY"),
        ]
        m = self.feed(calls)
        self.assertEqual(m.problems, [])
        self.assertEqual(sum(m.fixed.values()), 3)
        self.assertEqual(m.tces, HOST)  # refused: nothing changed

    def test_remove_and_release(self):
        calls = qemu_calls() + [
            ("container", "SPAPR_TCE_REMOVE", "argsz=16 flags=0 start_addr=0", "0"),
            ("container", "SPAPR_TCE_REMOVE", "argsz=16 flags=0 start_addr=0", "-EINVAL"),
        ]
        m = self.feed(calls)
        self.assertEqual(m.problems, [])
        self.assertEqual(m.tces, {})
        m.group_call("GROUP_UNSET_CONTAINER", 0)
        m.call("MAP_DMA", vfio.kv("argsz=32 flags=0x3 vaddr=0x1 iova=0 size=0x1000"),
               -errno.EINVAL, "end")
        self.assertEqual(m.problems, [])  # no IOMMU any more: -EINVAL


class CompareTest(unittest.TestCase):
    def test_every_difference(self):
        p = []
        self.assertTrue(vfio.compare("x", HOST, dict(HOST), p))
        self.assertEqual(p, [])
        got = dict(HOST)
        del got[0x2000]
        got[0x9000] = (RAM, 3)
        got[0x8000] = (RAM + 0x9000, 3)
        self.assertFalse(vfio.compare("x", HOST, got, p))
        self.assertEqual(len(p), 3)
        self.assertIn("missing from the host tables", p[0])
        self.assertIn("in the host tables only", p[1])
        self.assertIn("different", p[2])


class RunCheckTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        so = os.path.join(self.tmp.name, "lib.so")
        open(so, "w").close()
        sc = types.SimpleNamespace(name="vfio-test")
        self.run_ = vfio.Run(sc, self.tmp.name, "short", so, GIB)
        self.con = types.SimpleNamespace(roundtrips=[
            dict(name=n, dev="vda", bytes=1 << 20, write_cs=10, read_cs=5, sha256="x")
            for n in ("qemu", "vfio")])
        self.trace = capture.Model()
        self.trace.win[0x80000000] = (0, 12, GIB >> 12)
        self.trace.tab[0x80000000] = {i: (tce, False) for i, tce in GUEST.items()}

    def check(self, log=None, dump=None, qerr=""):
        with open(self.run_.log, "w") as f:
            f.write(log if log is not None else log_text(qemu_calls()))
        with open(self.run_.dump, "w") as f:
            f.write(dump if dump is not None else dump_text(HOST))
        return self.run_.check(self.con, [(1000.5, "roundtrip-write-qemu")], qerr, self.trace,
                               {"boot": 10})

    def test_a_good_run_passes(self):
        self.assertEqual(self.check(), [])
        rep = self.run_.report
        self.assertEqual(rep["host_tces"], 2)
        self.assertEqual(rep["per_boot"]["unmap_dma"], 9)
        self.assertEqual(rep["per_boot"]["hcalls"], 10)
        self.assertEqual(rep["container_checks"]["mismatches"], 0)
        self.assertTrue(self.run_.text())

    def test_each_failure(self):
        cases = {
            "host tables vs the replay of the shim's log":
                dict(dump=dump_text({0x2000: HOST[0x2000]})),
            "host tables vs the guest's TCEs":
                dict(dump=dump_text(dict(HOST, **{})), log=None),
            "shim: unserved: device":
                dict(log=log_text(qemu_calls(), extra=["ERROR unserved: device fd=7 read"])),
            "clean exit": dict(log=log_text(qemu_calls(), clean=False)),
            "not served by the shim": dict(log=log_text(qemu_calls(), unserved=1)),
            "QEMU: qemu-system-ppc64: vfio_dma_map":
                dict(qerr="qemu-system-ppc64: vfio_dma_map(0x1, 0x0, 0x1000, 0x0) = -22"),
            "Linux would return": dict(log=log_text(qemu_calls() + [
                ("container", "MAP_DMA", "argsz=32 flags=0x3 vaddr=0x1000 iova=0x0 "
                 "size=0x1000", "0")])),
            "no MAP_DMA": dict(log=log_text([c for c in qemu_calls() if c[1] != "MAP_DMA"]),
                               dump=dump_text({})),
        }
        # the guest's TCEs disagree with the host's: change the trace, not the dump
        for what, kw in cases.items():
            with self.subTest(what=what):
                if what.startswith("host tables vs the guest"):
                    self.trace.tab[0x80000000][3] = (0x7003, False)
                    problems = self.check()
                    del self.trace.tab[0x80000000][3]
                else:
                    problems = self.check(**kw)
                self.assertTrue(any(what in p for p in problems), problems)

    def test_a_missing_round_trip(self):
        self.con.roundtrips = self.con.roundtrips[:1]
        self.assertIn("no round trip through the vfio disk", self.check())


if __name__ == "__main__":
    unittest.main()
