#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The QEMU-oracle recorder's pairing of payload records with QEMU's trace
lines (tools/capture/oracle.py): every way a recording must fail, fails."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "tools", "capture"))
import oracle  # noqa: E402

PHBS = [{"index": 0, "buid": 0x800000020000000}]


def recs(*lines):
    """Records from console bodies such as 'P|1|0|80000000|1000|3'."""
    return [oracle.parse_record(l.split("|"), i) for i, l in enumerate(lines)]


def ev(line):
    event, _, rest = line.partition(" ")
    return "spapr_iommu_" + event, rest


class PairingTest(unittest.TestCase):
    def pair(self, records, lines, marks=()):
        p = oracle.Pairing(records, marks, PHBS)
        out = []
        for n, line in enumerate(lines, 1):
            event, rest = ev(line)
            out += p.feed(1.0, event, rest, n)
            out.append(line)
        problems, tail = p.finish(2.0)
        return problems, out + tail

    def fails(self, records, lines, what):
        with self.assertRaisesRegex(oracle.OracleError, what):
            problems, _ = self.pair(records, lines)
            if problems:
                raise oracle.OracleError("; ".join(problems))

    def test_exact(self):
        r = recs("P|1|0|80000000|1234|3", "G|1|-4|1|5|0",
                 "S|1|0|71000002|1000|0|2|1000", "I|0|-4|1|0|c000|1|3|1000",
                 "Q|1|0|800000020000000|0|6|1|107")
        lines = ["pci_put liobn=0x80000000 ioba=0x1000 tce=0x3 ret=0",
                 "get liobn=0x1 ioba=0x5 ret=-4 tce=0x0",
                 "stuff liobn=0x71000002 ioba=0x3000 tcevalue=0x0 npages=2 ret=0",
                 "new_table liobn=0x80000001 table=0x1 fd=-1",
                 "ddw_query buid=0x800000020000000 addr=0x0, 1 windows available, "
                 "max window size=0x80000000, mask=0x107"]
        problems, out = self.pair(r, lines, [(0, "one"), (2, "two"), (4, "three"), (9, "end")])
        self.assertEqual(problems, [])
        self.assertEqual([l for l in out if l.startswith("# MARK")],
                         ["# MARK 1.000000 one", "# MARK 1.000000 two",
                          "# MARK 1.000000 three", "# MARK 2.000000 end"])
        self.assertEqual(out.index("# MARK 1.000000 two") + 1,
                         out.index("stuff liobn=0x71000002 ioba=0x3000 tcevalue=0x0 npages=2 "
                                   "ret=0"))

    def test_wrong_ret_or_value(self):
        self.fails(recs("P|1|0|80000000|1000|3"),
                   ["pci_put liobn=0x80000000 ioba=0x1000 tce=0x3 ret=-4"], "return code")
        self.fails(recs("P|1|0|80000000|1000|3"),
                   ["pci_put liobn=0x80000000 ioba=0x1000 tce=0x7 ret=0"], "TCE differ")
        self.fails(recs("P|1|0|80000000|1000|3"),
                   ["put liobn=0x80000000 ioba=0x1000 tce=0x3 ret=0"], "pci_")
        # the logged IOBA may be the call's masked to a page, nothing else
        self.fails(recs("P|1|0|80000000|1234|3"),
                   ["pci_put liobn=0x80000000 ioba=0x1230 tce=0x3 ret=0"], "IOBA")

    def test_missing_extra_silent(self):
        self.fails(recs("P|1|0|80000000|1000|3"), [], "missing from QEMU's log")
        self.fails(recs(), ["pci_put liobn=0x80000000 ioba=0x1000 tce=0x3 ret=0"],
                   "no call of the payload")
        # a call marked silent that QEMU did log
        self.fails(recs("I|0|-4|1|0|c000|1|3|1000"),
                   ["indirect liobn=0x1 ioba=0x0 tcelist=0xc000 iobaN=0x0 tceN=0x3 ret=-4"],
                   "no call of the payload")

    def test_indirect(self):
        ok = "pci_indirect liobn=0x80000000 ioba=0x1000 tcelist=0xc000 iobaN=0x2 tceN=0x3003 ret=0"
        self.assertEqual(self.pair(recs("I|1|0|80000000|1000|c000|3|1003|1000"), [ok])[0], [])
        self.fails(recs("I|1|0|80000000|1000|c000|3|2003|1000"), [ok], "last entry")
        # failed at entry 2: iobaN 1, the failing TCE
        self.assertEqual(self.pair(recs("I|1|-4|80000000|3ffff000|c000|4|1003|1000"),
                                   ["pci_indirect liobn=0x80000000 ioba=0x3ffff000 "
                                    "tcelist=0xc000 iobaN=0x1 tceN=0x3003 ret=-4"])[0], [])
        # failed at entry 1 with a zero TCE there: the trace reads as npages 0
        self.fails(recs("I|1|-4|80000000|3ffff000|c000|4|fffffffffffff000|1000"),
                   ["pci_indirect liobn=0x80000000 ioba=0x3ffff000 tcelist=0xc000 "
                    "iobaN=0x0 tceN=0x0 ret=-4"], "not describable")

    def test_stuff(self):
        self.assertEqual(self.pair(recs("S|1|0|80000000|1234|0|2|1000"),
                                   ["pci_stuff liobn=0x80000000 ioba=0x3000 tcevalue=0x0 "
                                    "npages=2 ret=0"])[0], [])
        # a failure after the first entry loses the start
        self.fails(recs("S|1|-4|80000000|3ffff000|0|2|1000"),
                   ["pci_stuff liobn=0x80000000 ioba=0x40000000 tcevalue=0x0 npages=2 "
                    "ret=-4"], "not describable")

    def test_rtas(self):
        self.fails(recs("C|1|0|800000020000000|0|10|1c|80000001|800000000000000"),
                   ["ddw_create buid=0x800000020000000 addr=0x0, page size=0x10000, "
                    "requested=0x10000000, start addr=0x0, liobn=0x80000001"], "start")
        # a remove that restores the default window is followed by QEMU's reset line
        r = recs("R|1|0|80000001|1")
        remove = "ddw_remove liobn=0x80000001"
        self.assertEqual(self.pair(r, [remove, "new_table liobn=0x80000000 table=0x1 fd=-1",
                                       "ddw_reset buid=0x800000020000000 addr=0x0"])[0], [])
        self.fails(r, [remove], "restore of a default window")
        self.fails(recs("R|1|0|80000001|0"),
                   [remove, "ddw_reset buid=0x800000020000000 addr=0x0"],
                   "no call of the payload")

    def test_malformed_record(self):
        for body in ("P|1|0|80000000|1000", "P|2|0|1|2|3", "P|1|x|1|2|3", "P|1|0|1|2|zz"):
            with self.assertRaises(oracle.OracleError):
                oracle.parse_record(body.split("|"), 0)
        self.assertIsNone(oracle.parse_record(["MARK", "x"], 0))


if __name__ == "__main__":
    unittest.main()
