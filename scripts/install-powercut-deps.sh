#!/usr/bin/env bash
# Installs what the power-cut tests (tests/powercut) need on Debian 12:
# QEMU to run a small Linux guest, busybox-static for the guest's shell,
# e2fsprogs to make the guest's data disk, and a distribution kernel for the
# guest. The kernel is NOT installed as the host's kernel: its package is
# downloaded and unpacked into a cache folder, from which the tests take
# vmlinuz and the few modules the guest loads (virtio, ext4, networking).
# Idempotent and quick when all is there: apt is asked only for what is
# missing, `apt-get update` runs at most once.
#
# Prints the kernel cache folder on its last line (POWERCUT_KERNEL_DIR).
set -euo pipefail

cache="${POWERCUT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stationsync/powercut}"
mkdir -p "$cache"

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
updated=
apt_update() {
	[ -n "$updated" ] && return
	$SUDO apt-get update -qq
	updated=1
}

missing=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "ok installed"; then
	missing+=(busybox-static)
fi
command -v mkfs.ext4 >/dev/null 2>&1 || missing+=(e2fsprogs)
if [ ${#missing[@]} -gt 0 ]; then
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "install-powercut-deps: please install ${missing[*]} (no apt-get here)" >&2
		exit 1
	fi
	echo "install-powercut-deps: installing ${missing[*]}" >&2
	apt_update
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The guest's kernel: the package linux-image-amd64 points at, unpacked.
if ! ls "$cache"/kernel/boot/vmlinuz-* >/dev/null 2>&1; then
	apt_update
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	if [ -z "$pkg" ]; then
		echo "install-powercut-deps: cannot tell which kernel linux-image-amd64 names" >&2
		exit 1
	fi
	echo "install-powercut-deps: unpacking $pkg for the guest (not installed on this machine)" >&2
	tmp=$(mktemp -d)
	chmod 755 "$tmp" # apt downloads as _apt
	(cd "$tmp" && apt-get download -qq "$pkg" >/dev/null)
	rm -rf "$cache/kernel.new"
	dpkg-deb -x "$tmp"/*.deb "$cache/kernel.new"
	rm -rf "$tmp" "$cache/kernel"
	mv "$cache/kernel.new" "$cache/kernel"
fi
echo "$cache/kernel"
