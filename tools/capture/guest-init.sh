#!/bin/busybox sh
# SPDX-License-Identifier: BSD-3-Clause
#
# /init of the capture guest (busybox ash, ppc64le). Written by
# tools/capture/capture_pseries_trace.py into the initramfs; not run on the host.
#
# Everything the host needs is printed on the console as
#   @@UCAP|<KIND>|<args>|@@
# KIND: INIT, DT (path, hex bytes), DTDONE, MARK (phase), END (ok),
# FAIL (reason), RT (a disk round trip: name, device, bytes, write and read
# times in 1/100 s, sha256).  The host timestamps MARK lines when it reads them.
#
# Parameters come from the kernel command line (ucap_*=...):
#   ucap_mods  name of the module list in /etc/ucap/ (insmod order)
#   ucap_work  disk | net | roundtrip
#   ucap_dev   block device name for disk (sda, vda)
#   ucap_size  full | short
#   ucap_rt    roundtrip: name@slot,... (virtio-blk PCI functions 0000:00:<slot>.0)
#   ucap_rtmb  roundtrip: MiB of random data per disk

/bin/busybox mkdir -p /bin /sbin /proc /sys /dev /tmp
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null

say() { echo "@@UCAP|$*|@@"; }
fail() {
	say "FAIL|$*"
	sleep 1
	poweroff -f
	sleep 10
}
# 1 s of idle on both sides of every marker, so phase cuts are clean.
mark() {
	sleep 1
	say "MARK|$1"
	sleep 1
}

for w in $(cat /proc/cmdline); do
	case "$w" in
	ucap_*=*) eval "${w%%=*}=\"\${w#*=}\"" ;;
	esac
done
[ -n "$ucap_mods" ] && [ -n "$ucap_work" ] && [ -n "$ucap_size" ] ||
	fail "missing ucap_* parameters on the kernel command line"

say "INIT|$(uname -r)"

# GNU dd (page-aligned buffers, real O_DIRECT); busybox dd is kept for one phase.
gdd() {
	LD_LIBRARY_PATH=/lib/powerpc64le-linux-gnu:/lib64 /opt/gnu/dd "$@" status=none 2>/tmp/dd.err ||
		fail "dd $* : $(cat /tmp/dd.err)"
}

# ---- device tree: default DMA windows, PHB reg, memory -------------------
# /proc/device-tree is a symlink to this directory; find does not follow it
DTBASE=/sys/firmware/devicetree/base
dtprop() {
	say "DT|${1#$DTBASE}|$(hexdump -ve '1/1 "%02x"' "$1")"
}
dtdump() {
	[ -d $DTBASE ] || fail "no $DTBASE"
	find $DTBASE -type f | while read -r f; do
		d=${f%/*}
		case "${f##*/}" in
		ibm,my-dma-window | ibm,dma-window | ibm,ddw-applicable | ibm,ddw-extensions | \
			linux,direct64-ddr-window-info | linux,dma64-ddr-window-info | \
			ibm,\#dma-address-cells | ibm,\#dma-size-cells)
			dtprop "$f"
			;;
		reg)
			if [ -e "$d/ibm,dma-window" ] || [ -e "$d/ibm,my-dma-window" ]; then
				dtprop "$f"
			else
				case "${d##*/}" in memory@*) dtprop "$f" ;; esac
			fi
			;;
		esac
	done
	say "DTDONE|$1"
}
dtdump start

# ---- modules --------------------------------------------------------------
mark load-modules
[ -f "/etc/ucap/mods-$ucap_mods" ] || fail "no module list $ucap_mods"
while read -r m; do
	insmod "/lib/modules/$m" || fail "insmod $m"
done <"/etc/ucap/mods-$ucap_mods"

wait_for() { # path, tenths of a second
	i=0
	while [ ! -e "$1" ]; do
		i=$((i + 1))
		[ $i -gt "$2" ] && fail "device $1 did not appear"
		usleep 100000
	done
}

# counts: full or short
pick() { if [ "$ucap_size" = full ]; then echo "$1"; else echo "$2"; fi; }

# ---- disk workload ----------------------------------------------------------
disk_workload() {
	D=/dev/$ucap_dev
	wait_for "$D" 300
	blocks=$(( $(cat /sys/block/$ucap_dev/size) / 8 )) # 4 KiB blocks

	mark disk-read-512-direct
	gdd if=$D of=/dev/null bs=512 count=$(pick 256 4) iflag=direct
	mark disk-read-4k-direct
	gdd if=$D of=/dev/null bs=4096 count=$(pick 2048 4) iflag=direct
	mark disk-read-4k-direct-busybox-unaligned-buffer
	busybox dd if=$D of=/dev/null bs=4096 count=$(pick 512 4) iflag=direct 2>/tmp/dd.err ||
		fail "busybox dd: $(cat /tmp/dd.err)"
	mark disk-read-12k-direct
	gdd if=$D of=/dev/null bs=12288 count=$(pick 512 4) iflag=direct
	mark disk-read-64k-direct
	gdd if=$D of=/dev/null bs=65536 count=$(pick 256 4) iflag=direct
	mark disk-read-1m-direct
	gdd if=$D of=/dev/null bs=1048576 count=$(pick 16 2) iflag=direct
	sync
	echo 3 >/proc/sys/vm/drop_caches
	mark disk-read-buffered
	gdd if=$D of=/dev/null bs=1048576 count=$(pick 32 1)
	mark disk-write-4k-direct
	gdd if=/dev/zero of=$D bs=4096 count=$(pick 1024 4) oflag=direct
	mark disk-write-256k-direct
	gdd if=/dev/zero of=$D bs=262144 count=$(pick 64 2) oflag=direct
	mark disk-write-buffered-fsync
	gdd if=/dev/zero of=$D bs=1048576 count=$(pick 16 1) conv=fsync
	mark disk-read-4k-random-direct
	# deterministic LCG, so every run reads the same blocks
	r=12345
	n=$(pick 300 8)
	i=0
	while [ $i -lt "$n" ]; do
		r=$(( (r * 1103515245 + 12345) % 2147483648 ))
		gdd if=$D of=/dev/null bs=4096 count=1 skip=$(( (r / 65536) % blocks )) iflag=direct
		i=$((i + 1))
	done
}

# ---- network workload -------------------------------------------------------
net_workload() {
	wait_for /sys/class/net/eth0 300
	rx=$(pick 8388608 65536)
	tx=$(pick 4194304 65536)

	mark net-ifup
	ip link set eth0 up || fail "ip link set eth0 up"
	ip addr add 10.0.2.15/24 dev eth0 || fail "ip addr add"
	ip route add default via 10.0.2.2 || fail "ip route add"
	i=0
	until [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" = 1 ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "eth0: no carrier"
		usleep 100000
	done
	for s in 56 1400 8000; do
		case $s in 8000) c=$(pick 10 2) ;; *) c=$(pick 20 3) ;; esac
		mark net-ping-$s
		ping -c "$c" -s $s -W 5 10.0.2.2 >/tmp/ping.out 2>&1 ||
			fail "ping -s $s: $(tail -n 3 /tmp/ping.out)"
	done
	mark net-tcp-rx
	got=$(timeout 120 nc 10.0.2.100 5000 </dev/null | wc -c)
	[ "$got" = "$rx" ] || fail "tcp rx: got $got bytes, expected $rx"
	mark net-tcp-tx
	head -c "$tx" /dev/zero | timeout 120 nc 10.0.2.100 5001 >/dev/null ||
		fail "tcp tx of $tx bytes failed"
	mark net-ifdown
	ip link set eth0 down || fail "ip link set eth0 down"
}

# ---- disk round trip --------------------------------------------------------
# For each name@slot: write random data to the virtio-blk disk of PCI function
# 0000:00:<slot>.0, sync, drop the page cache, read it back, compare checksums.
uptime_cs() { # /proc/uptime in 1/100 s ("1${frac}" keeps a leading 0 from meaning octal)
	read -r up _ </proc/uptime
	echo $((${up%.*} * 100 + 1${up#*.} - 100))
}
roundtrip_workload() {
	mb=${ucap_rtmb:-8}
	bytes=$((mb * 1048576))
	head -c "$bytes" /dev/urandom >/tmp/rt.data || fail "no random data"
	want=$(sha256sum </tmp/rt.data) || fail "sha256sum"
	want=${want%% *}
	for spec in $(echo "$ucap_rt" | tr , ' '); do
		name=${spec%@*}
		slot=$(printf '%02x' "${spec#*@}")
		pdir=/sys/bus/pci/devices/0000:00:$slot.0
		i=0
		dev=
		while [ -z "$dev" ]; do
			for b in "$pdir"/virtio*/block/*; do
				[ -e "$b" ] && dev=${b##*/}
			done
			i=$((i + 1))
			[ -z "$dev" ] && [ $i -gt 300 ] && fail "$name: no virtio-blk disk at $pdir"
			[ -z "$dev" ] && usleep 100000
		done
		D=/dev/$dev
		wait_for "$D" 300
		mark "roundtrip-write-$name"
		t0=$(uptime_cs)
		gdd if=/tmp/rt.data of=$D bs=1048576 conv=fsync
		sync
		t1=$(uptime_cs)
		echo 3 >/proc/sys/vm/drop_caches
		mark "roundtrip-read-$name"
		t2=$(uptime_cs)
		gdd if=$D of=/tmp/rt.back bs=1048576 count="$mb"
		t3=$(uptime_cs)
		got=$(sha256sum </tmp/rt.back) || fail "sha256sum"
		got=${got%% *}
		rm -f /tmp/rt.back
		say "RT|$name|$dev|$bytes|$((t1 - t0))|$((t3 - t2))|$got"
		[ "$got" = "$want" ] || fail "$name ($D): read back $got, wrote $want"
	done
	rm -f /tmp/rt.data
}

case "$ucap_work" in
disk) disk_workload ;;
net) net_workload ;;
roundtrip) roundtrip_workload ;;
*) fail "unknown workload $ucap_work" ;;
esac

mark end
dtdump end
say "END|ok"
sync
poweroff -f
sleep 10
