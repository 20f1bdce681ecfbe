#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# 'uiommu replay' on hand-made traces: what must match, what must be
# reported as a mismatch (exit 3), what is not a match for another reason
# (exit 1: malformed, refused or impossible input naming its line, nothing
# compared, a failed recording), usage errors (exit 2), stdin and xz input,
# --lenient, --limit, --json, progress.
#   test_replay.sh UIOMMU_BINARY TRACE_DIR
set -u
bin=$1
dir=$2
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

check "VIO trace with header matches" 0 "$bin" replay "$dir/match-vio.trace"
expect out "result             match"
expect out "translations       6 checked, 0 mismatched"
expect out "0x71000002"
expect out "unknown event    spapr_pci_msi_setup: 1"
expect out "phases             map:3 unmap:6"
expect out "hcalls/s end to end"
expect out "hcalls/s in the replay step alone"
check "raw QEMU log (older format, DDW) matches" 0 "$bin" replay "$dir/match-raw-qemu.trace"
expect out "rtas                query 1 create 1 remove 0 reset 0"
expect out "indirect  *64:1"
check "wrong return code is a mismatch" 3 "$bin" replay "$dir/mismatch-ret.trace"
expect out "MISMATCH line 3: H_PUT_TCE liobn=0x71000002: returned 0 (H_SUCCESS), QEMU logged -4 (H_PARAMETER)"
check "wrong translation is a mismatch" 3 "$bin" replay "$dir/mismatch-xlate.trace"
expect out "translations       3 checked, 2 mismatched"
expect out "MISMATCH line 3:"
expect out "MISMATCH line 4:"
check "--no-xlate skips translations" 0 "$bin" replay --no-xlate "$dir/mismatch-xlate.trace"
check "wrong H_GET_TCE value is a mismatch" 3 "$bin" replay "$dir/mismatch-get.trace"
expect out "TCE 0x2f25001, QEMU logged 0x2f25003"
check "malformed line stops the replay" 1 "$bin" replay "$dir/malformed.trace"
expect err "malformed.trace:3: malformed line: spapr_iommu_put: tce='0xzz' is not a hex number"
check "absurd window is refused at its header line" 1 "$bin" replay "$dir/absurd-window.trace"
expect err "line 1: window of LIOBN 0x71000002 (8 EiB) refused: more than 4294967295 TCEs"
check "unreadable input" 1 "$bin" replay "$dir/no-such-file.trace"
expect err "No such file"
check "no trace" 2 "$bin" replay
check "bad profile" 2 "$bin" replay --profile xen "$dir/match-vio.trace"
check "bad progress" 2 "$bin" replay --progress sometimes "$dir/match-vio.trace"
check "replay --help" 0 "$bin" replay --help
expect out "Exit status"
expect out "at least one"

# ---- no false "match" ----
: >"$tmp/empty.trace"
check "an empty file is not a match" 1 "$bin" replay "$tmp/empty.trace"
expect err "nothing to compare: the input is empty"
check "/dev/null is not a match" 1 "$bin" replay /dev/null
expect err "the input is empty"
check "a header without events is not a match" 1 "$bin" replay "$dir/header-only.trace"
expect err "nothing to compare: no hypercall, RTAS call or translation event"
echo "hello world" >"$tmp/garbage.trace"
check "one line of garbage is not a match" 1 "$bin" replay "$tmp/garbage.trace"
expect err "nothing to compare"
echo "%%% hello" >"$tmp/garbage2.trace"
check "a line that is no trace line is malformed" 1 "$bin" replay "$tmp/garbage2.trace"
expect err "garbage2.trace:1: malformed line: not a trace event line: '%%% hello'"
check "translations alone, unchecked, are not a match" 1 "$bin" replay --no-xlate "$tmp/empty.trace"
check "a failed recording is not a match" 1 "$bin" replay "$dir/end-failed.trace"
expect err "the recording failed (guest panicked)"
expect out "result             FAILED"
check "a recording without its end line is not a match" 1 "$bin" replay "$dir/incomplete.trace"
expect err "the recording is incomplete: no '# end: ok' line"
check "a failed recording fails the JSON result too" 1 "$bin" replay --json "$dir/end-failed.trace"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); t=d["traces"][0]; assert d["result"]=="failed" and t["result"]=="failed" and "guest panicked" in t["error"], d; print("ok: failed recording in JSON")' "$tmp/out" || fails=$((fails + 1))
check "--lenient: 1 malformed line of 4 is too many" 1 "$bin" replay --lenient "$dir/malformed.trace"
expect out "1 malformed"
expect out "malformed line 3:"
expect err "1 of 4 lines were malformed and skipped: more than 1.0% is not a match"
python3 - "$tmp/lenient.trace" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("# window: liobn=0x71000002 bus_offset=0x0 size=0x10000000 page_shift=12\n")
    for i in range(199):
        f.write(f"spapr_iommu_put liobn=0x71000002 ioba={0x1000 * i:#x} tce=0x{i:x}003 ret=0\n")
        if i == 100:
            f.write("spapr_iommu_put liobn=0x71000002 ioba=0x1000 tce=0xzz ret=0\n")
PY
check "--lenient: 1 malformed line of 201 is a match" 0 "$bin" replay --lenient "$tmp/lenient.trace"
expect out "1 malformed"
head -c 300000 /dev/urandom >"$tmp/random.trace"
check "--lenient on random bytes is not a match" 1 "$bin" replay --lenient "$tmp/random.trace"
expect err "were malformed and skipped"

# ---- QEMU's behaviour, where QEMU goes on ----
check "a new DDW after the default window is removed" 0 "$bin" replay "$dir/remove-default-window.trace"
expect out "rtas                query 2 create 2 remove 1 reset 0"
expect out "translations       2 checked, 0 mismatched"
check "TCE lists outside guest RAM read as zeros" 0 "$bin" replay "$dir/list-outside-ram.trace"
expect out "translations       3 checked, 0 mismatched"
check "a log without ram-size: lists anywhere, 4 KiB of memory for them" 0 "$bin" replay "$dir/list-raw-high.trace"
expect out "translations       2 checked, 0 mismatched"
sed 's/tcelist=0x10000000000 iobaN=0x1 tceN=0x0/tcelist=0x10000000000 iobaN=0x1 tceN=0x2f27003/' \
	"$dir/list-outside-ram.trace" >"$tmp/list-bad.trace"
check "a list outside RAM that logged a TCE is impossible" 1 "$bin" replay "$tmp/list-bad.trace"
expect err "line 8: indirect: the TCE list at 0x10000000000 is outside guest RAM (ram-size 0x40000000), where QEMU reads zeros, but tceN=0x2f27003"
check "the replay's own locked-memory limit, not RLIMIT_MEMLOCK" 0 sh -c "ulimit -l 2048 && \"$bin\" replay \"$dir/match-vio.trace\" \"$dir/remove-default-window.trace\""
check "a limit that refuses a window names itself and its option" 1 "$bin" replay --limit locked_bytes=64K "$dir/match-vio.trace"
expect err "window of LIOBN 0x71000002 (256 MiB) refused: the modelled host's locked_bytes limit (64 KiB, 0 bytes in use) refused it; raise it with --limit locked_bytes=SIZE"
printf '%s\n' "spapr_iommu_new_table liobn=0x80000000 table=0x1 fd=-1" \
	"spapr_iommu_ddw_create buid=0x800000020000000 addr=0x0, page size=0x1000, requested=0x1000000000, start addr=0x800000000000000, liobn=0x80000001" \
	>"$tmp/ddw-big.trace"
check "a 64 GiB DDW of 4 KiB pages fits the default limit" 0 "$bin" replay "$tmp/ddw-big.trace"
check "a limit that refuses a DDW is a mismatch naming the limit" 3 "$bin" replay --limit locked_bytes=4M "$tmp/ddw-big.trace"
expect out "ibm,create-pe-dma-window buid=0x800000020000000: status -1 (hardware error), QEMU succeeded: the modelled host's locked_bytes limit (4 MiB, 2.062 MiB in use) refused it; raise it with --limit locked_bytes=SIZE"
check "a limit that refuses guest-view pages names itself" 3 "$bin" replay --limit frame_bytes=0 "$dir/match-vio.trace"
expect out "returned -1 (H_HARDWARE), QEMU logged 0 (H_SUCCESS): the modelled host's frame_bytes limit (0 bytes, 0 bytes in use) refused it; raise it with --limit frame_bytes=SIZE"
check "--limit with an unknown name" 2 "$bin" replay --limit pins=1 "$dir/match-vio.trace"
expect err "NAME is one of heap_bytes, frame_bytes, locked_bytes"
check "--limit with a bad value" 2 "$bin" replay --limit locked_bytes=lots "$dir/match-vio.trace"
expect err "--limit locked_bytes: 'lots' is not a number (with K/M/G/T) or 'none'"
check "--limit with a value past 2^64" 2 "$bin" replay --limit locked_bytes=99999999999999999999999 "$dir/match-vio.trace"
expect err "'99999999999999999999999' is not a number"
check "--limit without a value" 2 "$bin" replay --limit locked_bytes "$dir/match-vio.trace"
expect err "--limit 'locked_bytes': NAME=VALUE wanted"
check "--limit none" 0 "$bin" replay --limit locked_bytes=none "$dir/match-vio.trace"

# ---- contradictory or impossible values: errors naming the line ----
win='# window: liobn=0x71000002 bus_offset=0x0 size=0x10000000 page_shift=12'
refused() { # refused DESCRIPTION EXPECTED_ERR LINE...: a trace of these lines fails so
	r_desc=$1; r_err=$2; shift 2
	printf '%s\n' "$@" >"$tmp/bad.trace"
	check "$r_desc" 1 "$bin" replay "$tmp/bad.trace"
	expect err "$r_err"
}
refused "ddw_remove of a LIOBN above 32 bits" \
	"line 2: ddw_remove: liobn=0x180000001 is wider than the RTAS call's 32-bit cell" \
	"spapr_iommu_new_table liobn=0x80000000 table=0x1 fd=-1" "spapr_iommu_ddw_remove liobn=0x180000001"
refused "new_table of a LIOBN above 32 bits" \
	"line 1: new_table: LIOBN 0x100000001 is wider than 32 bits" \
	"spapr_iommu_new_table liobn=0x100000001 table=0x1 fd=-1"
refused "new_table of a PCI LIOBN QEMU cannot make" \
	"line 1: new_table: LIOBN 0x80000005 is not QEMU's PCI encoding" \
	"spapr_iommu_new_table liobn=0x80000005 table=0x1 fd=-1"
refused "iobaN past a 512-entry list" \
	"line 2: indirect: iobaN=0xffffffffffffffff is not an entry of a list of at most 512 TCEs" \
	"$win" "spapr_iommu_indirect liobn=0x71000002 ioba=0x0 tcelist=0x1000 iobaN=0xffffffffffffffff tceN=0x3 ret=0"
refused "a failed INDIRECT past entry 511" \
	"line 2: indirect: a failure after entry iobaN=0x1ff would be at entry 512" \
	"$win" "spapr_iommu_indirect liobn=0x71000002 ioba=0x0 tcelist=0x1000 iobaN=0x1ff tceN=0x3 ret=-4"
refused "a STUFF whose start would be below 0" \
	"line 2: stuff: the logged end ioba=0x1000 cannot follow npages=2 pages" \
	"$win" "spapr_iommu_stuff liobn=0x71000002 ioba=0x1000 tcevalue=0x0 npages=2 ret=0"
refused "a key twice on a line" \
	"bad.trace:2: malformed line: spapr_iommu_put: field 'ioba=' appears twice" \
	"$win" "spapr_iommu_put liobn=0x71000002 ioba=0x1000 ioba=0x2000 tce=0x3 ret=0"
refused "a window header twice" \
	"line 2: a second window header for LIOBN 0x71000002 (the first is line 1)" "$win" "$win"
refused "a phb header twice" \
	"line 2: a second phb header for BUID 0x800000020000000 (the first is line 1)" \
	"# phb: index=0 buid=0x800000020000000 liobn=0x80000000 ddw=yes dma64_base=0x800000000000000" \
	"# phb: index=1 buid=0x800000020000000 liobn=0x80000100 ddw=yes dma64_base=0x800000000000000"
refused "ram-size that is negative" \
	"line 1: ram-size '-4096' is not a number of bytes (decimal, or hex with 0x)" \
	"# ram-size: -4096" "$win" "spapr_iommu_put liobn=0x71000002 ioba=0x1000 tce=0x3 ret=0"
refused "ram-size with a unit" \
	"line 1: ram-size '1G' is not a number of bytes" "# ram-size: 1G"
refused "ram-size not a multiple of 4 KiB" \
	"line 1: ram-size 0x1001 is not a non-zero multiple of 4 KiB" "# ram-size: 0x1001"
refused "ram-size larger than the replay models" \
	"line 1: ram-size 0x1000000000000000 (1 EiB) is more than the replay models (16 TiB)" \
	"# ram-size: 0x1000000000000000"
refused "ram-size twice" \
	"line 2: a second ram-size header (the first is line 1)" "# ram-size: 0x1000" "# ram-size: 0x2000"
refused "a trace format this replay does not read" \
	"line 1: trace format version '2': this replay reads version 1" "# uiommu-trace: 2"
refused "a DDW event for a BUID of no PHB" \
	"line 2: BUID 0x1234 names no PHB of the guest (QEMU's are 0x800000020000000 + index" \
	"$win" "spapr_iommu_ddw_reset buid=0x1234 addr=0x0"
refused "a ddw_create whose LIOBN QEMU could not return" \
	"line 1: ddw_create: liobn=0x100000001 is wider than the RTAS call's 32-bit cell" \
	"spapr_iommu_ddw_create buid=0x800000020000000 addr=0x0, page size=0x1000000, requested=0x40000000, start addr=0x800000000000000, liobn=0x100000001"
python3 - "$tmp/phases.trace" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("# window: liobn=0x71000002 bus_offset=0x0 size=0x10000000 page_shift=12\n")
    for i in range(1030):
        f.write(f"# MARK {i}.0 phase-{i}\n")
        f.write("spapr_iommu_put liobn=0x71000002 ioba=0x1000 tce=0x3 ret=0\n")
PY
check "more phases than the replay keeps is an error" 1 "$bin" replay "$tmp/phases.trace"
expect err "line 2050: more than 1024 phases (MARK lines)"
printf '%s\n' "$win" "spapr_iommu_put a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8 i=9 j=10 k=11 l=12 m=13 liobn=0x71000002 ioba=0x1000 tce=0x3 ret=0" >"$tmp/tokens.trace"
check "13 other fields before liobn= are read past" 0 "$bin" replay "$tmp/tokens.trace"

# The kvm profile: an unknown LIOBN is H_TOO_HARD there, so QEMU's H_PARAMETER differs.
check "kvm profile differs on unknown LIOBNs" 3 "$bin" replay --profile kvm "$dir/match-vio.trace"
expect out "returned 9999 (H_TOO_HARD), QEMU logged -4 (H_PARAMETER)"

# ---- input ----
check "stdin" 0 sh -c "\"$bin\" replay - <\"$dir/match-vio.trace\""
if command -v xz >/dev/null 2>&1; then
	xz -c "$dir/match-raw-qemu.trace" >"$tmp/raw.trace.xz"
	check "xz file" 0 "$bin" replay "$tmp/raw.trace.xz"
	check "xz on stdin" 0 sh -c "\"$bin\" replay - <\"$tmp/raw.trace.xz\""
	head -c 100 "$tmp/raw.trace.xz" >"$tmp/cut.trace.xz"
	check "truncated xz" 1 "$bin" replay "$tmp/cut.trace.xz"
	expect err "xz data is"
	check "a missing file among several: the others are replayed" 1 "$bin" replay "$tmp/raw.trace.xz" "$dir/no-such-file.trace" "$dir/match-vio.trace"
	expect out "match-vio.trace  *26 "
	expect out "no-such-file.trace .*FAILED"
fi
check "several traces: a table" 0 "$bin" replay "$dir/match-vio.trace" "$dir/match-raw-qemu.trace"
expect out "^trace  *lines  *hcalls  *rtas  *xlate  *mismatches  *hcalls/s  *replay/s  *result"
expect out "2 traces, 38 lines: 13 hypercalls, 2 RTAS calls and 9 device translations replayed in .* s (.*M hcalls/s end to end, .*M/s in the replay step alone); every result agrees with QEMU"
# A path longer than the first column's 56 characters: the column widens, the columns align.
long_dir="$tmp/a-directory-name-long-enough-to-pass-the-table-column"
mkdir -p "$long_dir"
cp "$dir/match-vio.trace" "$long_dir/match-vio.trace"
check "several traces, one with a long path: the columns align" 0 "$bin" replay "$long_dir/match-vio.trace" "$dir/match-raw-qemu.trace"
python3 - "$tmp/out" <<'PY' || fails=$((fails + 1))
import sys
lines = open(sys.argv[1]).read().splitlines()
rows = [l for l in lines if l.startswith("trace ") or l.startswith("/")]
assert len(rows) == 3, rows
cols = {r.index("result") if r.startswith("trace ") else r.index("  match") + 2 for r in rows}
assert len(cols) == 1, "the result column does not align:\n" + "\n".join(rows)
print("ok: the columns align beside a path of", len(rows[1].split()[0]), "characters")
PY
check "several traces with --detail" 0 "$bin" replay --detail "$dir/match-vio.trace" "$dir/match-raw-qemu.trace"
expect out "by LIOBN"
check "two traces, one mismatching" 3 "$bin" replay --quiet "$dir/match-vio.trace" "$dir/mismatch-ret.trace"
expect out "mismatch-ret.trace"
if grep -q "match-vio.trace" "$tmp/out"; then
	echo "FAIL: --quiet printed a matching trace"; fails=$((fails + 1))
fi
check "one trace of several fails: exit 1, the others reported" 1 "$bin" replay "$dir/match-vio.trace" "$dir/end-failed.trace"
expect out "end-failed.trace .*FAILED"
expect out "1 of 2 traces do not match"

# A trace of many chunks (the replayer parses a few hundred lines at a time): the
# header in the first chunk, calls and translations in every chunk, a mismatch in the last.
python3 - "$tmp/long.trace" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("# window: liobn=0x71000002 bus_offset=0x0 size=0x10000000 page_shift=12\n")
    for i in range(10000):
        ioba = 0x1000 * (i % 4096)
        f.write(f"spapr_iommu_put liobn=0x71000002 ioba={ioba:#x} tce={0x100003 + (i << 12):#x} ret=0\n")
        f.write(f"spapr_iommu_xlate liobn=0x71000002 {ioba + 8:#x} -> {0x100000 + (i << 12):#x} perm=3 mask=0xfff\n")
    f.write("spapr_iommu_put liobn=0x71000002 ioba=0x1000 tce=0x3 ret=-4\n")
PY
check "a trace of several chunks" 3 "$bin" replay "$tmp/long.trace"
expect out "lines              20002 "
expect out "put 10001 (10001 ok)"
expect out "translations       10000 checked, 0 mismatched"
expect out "MISMATCH line 20002:"

# ---- progress: on standard error only ----
check "progress always, not a terminal: a line per trace" 0 "$bin" replay --progress always "$dir/match-vio.trace" "$dir/match-raw-qemu.trace"
expect err "^\[1/2\] .*match-vio.trace: 100%, 0.0 MB, 26 lines, 9 hcalls, 0 mismatches"
expect err "^\[2/2\] .*match-raw-qemu.trace: 100%"
if grep -q "mismatches$" "$tmp/out"; then
	echo "FAIL: progress on stdout"; fails=$((fails + 1))
fi
check "progress auto, not a terminal" 0 "$bin" replay "$dir/match-vio.trace"
if [ -s "$tmp/err" ]; then
	echo "FAIL: progress without a terminal"; cat "$tmp/err"; fails=$((fails + 1))
fi
check "progress from a pipe: no size, no percent" 0 sh -c "cat \"$dir/match-vio.trace\" | \"$bin\" replay --progress always -"
expect err "^-: 0.0 MB, 26 lines"
if command -v script >/dev/null 2>&1; then
	# A terminal 50 columns wide: a bar drawn in place (--progress always draws
	# from the first chunk), never wider than the terminal, erased at the end.
	script -qec "stty cols 50; \"$bin\" replay --progress always \"$tmp/long.trace\" >/dev/null" /dev/null </dev/null >"$tmp/tty" 2>&1
	python3 - "$tmp/tty" <<'PY' || fails=$((fails + 1))
import re, sys
raw = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
bars = [re.sub(r"\x1b\[K", "", d) for d in raw.split("\r") if "%" in d]
assert bars, repr(raw)
for b in bars:
    assert len(b) <= 49, (len(b), b)
    assert re.search(r"\[[# ]{10,40}\] +\d+%", b), b
assert raw.rstrip("\n").endswith("\r\x1b[K"), "the bar is not erased at the end: " + repr(raw[-80:])
print(f"ok: {len(bars)} progress draws, each within 49 columns")
PY
fi

# ---- JSON: one document, stable keys, 64-bit values as hex strings, always UTF-8 ----
check "--json" 3 "$bin" replay --json "$dir/match-vio.trace" "$dir/mismatch-xlate.trace"
python3 - "$tmp/out" <<'PY' || fails=$((fails + 1))
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["schema"] == 1 and doc["result"] == "mismatch"
a, b = doc["traces"]
assert a["result"] == "match" and b["result"] == "mismatch", (a["result"], b["result"])
assert a["by_liobn"][0]["liobn"] == "0x71000002"
assert a["hcalls"]["put"] == {"count": 4, "ok": 2}, a["hcalls"]["put"]
assert a["npages"]["indirect"] == {"16": 1}
assert a["translations"] == {"checked": 6, "mismatched": 0}
assert b["mismatches"]["total"] == 2 and b["mismatches"]["first"][0]["line"] == 3
for k in ("wall_seconds", "replay_seconds", "parse_seconds", "hcalls_per_s",
          "replay_hcalls_per_s", "parse_mb_per_s", "bytes"):
    assert k in a["timing"], k
assert a["timing"]["replay_hcalls_per_s"] >= a["timing"]["hcalls_per_s"] > 0, a["timing"]
print("ok: --json document")
PY
printf '# scenario: bad \377\376 bytes \033[31m\n%s\n# MARK 1.0 ph\300\257ase\nspapr_iommu_put liobn=0x71000002 ioba=0x1000 tce=0x3 ret=0\n' "$win" >"$tmp/utf8.trace"
check "--json with invalid UTF-8 in the trace" 0 "$bin" replay --json "$tmp/utf8.trace"
python3 - "$tmp/out" <<'PY' || fails=$((fails + 1))
import json, sys
raw = open(sys.argv[1], "rb").read()
doc = json.loads(raw.decode("utf-8"))  # strict: fails on invalid UTF-8
t = doc["traces"][0]
assert t["scenario"] == "bad \ufffd\ufffd bytes \ufffd[31m", repr(t["scenario"])
assert t["phases"][0]["name"] == "ph\ufffd\ufffdase", repr(t["phases"][0]["name"])
print("ok: invalid UTF-8 replaced in JSON")
PY
check "invalid UTF-8 and escapes are not sent to the terminal" 0 "$bin" replay "$tmp/utf8.trace"
if grep -q "$(printf '\033')" "$tmp/out"; then
	echo "FAIL: an escape sequence from the trace reached the output"; fails=$((fails + 1))
fi
[ "$fails" -eq 0 ]
