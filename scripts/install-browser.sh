#!/usr/bin/env bash
# Installs what the station pages' browser tests (tests/browser) need on
# Debian 12: Chromium, and a CJK font without which every Chinese character
# in a screenshot is an empty box. Idempotent and quick when both are
# there: apt is asked only for what is missing, `apt-get update` runs once.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
if ! dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q "ok installed"; then
	missing+=(fonts-noto-cjk)
fi
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-browser: please install ${missing[*]} (no apt-get here); the browser tests need them" >&2
	exit 1
fi
echo "install-browser: installing ${missing[*]}" >&2
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
