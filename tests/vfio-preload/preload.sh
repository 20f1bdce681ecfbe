#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The interposition itself: preload_client run with LD_PRELOAD of the shim,
# then its log is checked.   preload.sh PRELOAD_SO CLIENT B_SANITIZE CC_ID
set -eu
so=$1
client=$2
sanitize=${3:-none}
cc=${4:-gcc}
if [ "$sanitize" = thread ]; then
	# clang links ThreadSanitizer's runtime into the executable, whose own
	# interceptors of open, read, ioctl... then come before any preload
	echo "SKIP: a ThreadSanitizer client intercepts libc itself; LD_PRELOAD cannot reach it"
	exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/uiommu-preload.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; echo "--- shim log:"; cat "$work/log" 2>/dev/null; exit 1; }

# the client is compiled as QEMU is: fortified, 64-bit offsets
fortified="__open64_2 __pread64_chk"
[ "$cc" = gcc ] || fortified= # clang's _FORTIFY_SOURCE does not make these calls
if command -v nm >/dev/null 2>&1; then
	for sym in $fortified open64 pwrite64 ioctl close; do
		nm -D --undefined-only "$client" | grep -qw "$sym" ||
			fail "the client does not call $sym: it would not test that interposer"
	done
else
	echo "note: nm is missing; not checking which libc names the client calls"
fi

export UIOMMU_VFIO_GROUP=42 UIOMMU_VFIO_SYSFSDEV="$work/0000:01:00.0" UIOMMU_VFIO_LOG="$work/log"
export UIOMMU_VFIO_PIN=simulate
# a sanitizer build: the shim's runtime dependency comes after the preload
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
LD_PRELOAD="$so" "$client" /dev/vfio/42 "$work" || fail "the client failed"

[ ! -e "$work/0000:01:00.0" ] || fail "the sysfsdev directory was not removed"
grep -q ' start libuiommu' "$work/log" || fail "the shim did not start"
grep -q ' event exit: clean' "$work/log" || fail "the shim did not exit cleanly"
for unserved in "device fd=[0-9]* read len=0x4" "device fd=[0-9]* write len=0x4" \
	"device fd=[0-9]* mmap len=0x1000" "device fd=[0-9]* ioctl 0x3b63" "open /dev/vfio/4242"; do
	grep -q "ERROR unserved: $unserved" "$work/log" || fail "no unserved error for: $unserved"
done
n=$(grep -c ' ERROR ' "$work/log" || true)
[ "$n" = 5 ] || fail "$n error lines, expected the 5 unserved calls"
grep -q 'device config-read index=7 off=0 len=4 val=0x51b36 -> 4' "$work/log" ||
	fail "the fortified pread did not reach the device"
grep -q 'container close' "$work/log" && fail "the client did not close the container; the shim logged a close"
grep -q 'group close fd=' "$work/log" || fail "the group's close was not seen"
echo "ok: every interposed call reached the shim or libc as it should"
