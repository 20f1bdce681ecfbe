#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Install into a DESTDIR and use the result as a user would: headers under
# include/uiommu/, the versioned shared library, the pkg-config file, the
# CLI and its man page; then build the example with pkg-config only and run it.
#   install.sh BUILD_DIR EXAMPLE.c
set -eu
build=$1
example=$2
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

meson install -C "$build" --destdir "$dest" --no-rebuild --quiet
prefix=$(meson introspect "$build" --buildoptions |
	python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
libdir=$(meson introspect "$build" --buildoptions |
	python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="libdir"][0])')
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
root=$dest$prefix

for f in include/uiommu/uiommu.h include/uiommu/version.h bin/uiommu; do
	[ -e "$root/$f" ] || { echo "not installed: $f"; exit 1; }
done
[ -e "$dest$libdir/libuiommu.so.0" ] || { echo "not installed: libuiommu.so.0"; exit 1; }
[ -e "$dest$libdir/libuiommu.a" ] || { echo "not installed: libuiommu.a"; exit 1; }
pc=$dest$libdir/pkgconfig/uiommu.pc
[ -e "$pc" ] || { echo "not installed: uiommu.pc"; exit 1; }
if command -v scdoc >/dev/null 2>&1; then
	[ -e "$root/share/man/man1/uiommu.1" ] || { echo "not installed: uiommu.1"; exit 1; }
fi
soname=$(objdump -p "$dest$libdir/libuiommu.so.0" | awk '/SONAME/ {print $2}')
[ "$soname" = "libuiommu.so.0" ] || { echo "SONAME is '$soname'"; exit 1; }

export PKG_CONFIG_PATH="$dest$libdir/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$dest"
cflags=$(pkg-config --cflags uiommu)
libs=$(pkg-config --libs uiommu)
# shellcheck disable=SC2086
${CC:-cc} -std=c99 -Wall -Werror $cflags "$example" $libs -o "$dest/example"
LD_LIBRARY_PATH=$dest$libdir "$dest/example" >/dev/null
LD_LIBRARY_PATH=$dest$libdir "$root/bin/uiommu" --version | grep -q "^uiommu "
echo "installed tree works: headers, libuiommu.so.0, uiommu.pc, the CLI"
