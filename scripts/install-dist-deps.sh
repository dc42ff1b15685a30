#!/usr/bin/env bash
# Installs what `make dist` and `make test-dist` need on Debian 12: the cgo
# cross compilers (mingw-w64 for Windows, aarch64 for arm64 .debs), msitools
# (msiinfo), wixl, osslsigncode, Wine, qemu-user, lintian and systemd-analyze.
# Idempotent and quick when everything is there: apt is asked only for what
# is missing, and `apt-get update` runs at most once.
set -euo pipefail

# command → Debian package that provides it
declare -A need=(
	[x86_64-w64-mingw32-gcc]=gcc-mingw-w64-x86-64
	[aarch64-linux-gnu-gcc]=gcc-aarch64-linux-gnu
	[wixl]=wixl
	[msiinfo]=msitools
	[osslsigncode]=osslsigncode
	[wine]=wine
	[qemu-aarch64-static]=qemu-user-static
	[lintian]=lintian
	[systemd-analyze]=systemd
	[openssl]=openssl
	[dpkg-deb]=dpkg
	[fakeroot]=fakeroot
)
missing=()
for cmd in "${!need[@]}"; do
	command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
# The arm64 libc headers and static libs have no command of their own.
[ -e /usr/aarch64-linux-gnu/lib/libc.a ] || missing+=(libc6-dev-arm64-cross)
# Wine's loader (wine64 alone has no `wine` on some releases).
[ -e /usr/lib/wine/wine64 ] || [ -e /usr/lib/x86_64-linux-gnu/wine/x86_64-unix/wine ] || missing+=(wine64)

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "install-dist-deps: installing ${missing[*]}" >&2
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
