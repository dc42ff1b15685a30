#!/usr/bin/env bash
# Builds the packages `make dist` makes, into $DIST (default dist/):
#   station-agent_VERSION_{amd64,arm64}.deb, county-server_VERSION_{amd64,arm64}.deb
#   station-agent-VERSION-x64.msi (and the signed station-agent.exe in it)
# Usage: build.sh [deb-amd64] [deb-arm64] [msi] ...   (no argument: all)
# Environment: VERSION (numeric, default 0.<commit count>.0), DIST, BUILD
# (cross-build cache, default dist/.build), SIGN_PKCS12 + SIGN_PASSWORD (an
# Authenticode certificate; without them the Windows files are unsigned).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
DIST=${DIST:-$ROOT/dist}
BUILD=${BUILD:-$DIST/.build}
COUNT=$(git rev-list --count HEAD 2>/dev/null || echo 0)
VERSION=${VERSION:-0.$COUNT.0}
GITVER=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
NFPM_VERSION=v2.45.2
mkdir -p "$DIST" "$BUILD"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(deb-amd64 deb-arm64 msi)

bash "$ROOT/scripts/install-dist-deps.sh"

log() { echo "build.sh: $*" >&2; }

# Static Linux binaries: Kylin V10 and UOS 20 have glibc < 2.34.
build_linux() { # arch prog
	local arch=$1 prog=$2 cc=gcc
	[ "$arch" = arm64 ] && cc=aarch64-linux-gnu-gcc
	local out=$BUILD/linux-$arch/$prog
	local t0=$SECONDS
	CGO_ENABLED=1 GOOS=linux GOARCH=$arch CC=$cc go build -trimpath \
		-tags 'netgo osusergo sqlite_omit_load_extension' \
		-ldflags "-s -w -X main.Version=$VERSION -linkmode external -extldflags -static" \
		-o "$out" "./cmd/$prog"
	log "$out ($(stat -c %s "$out") bytes, $((SECONDS - t0)) s)"
}

nfpm() {
	local bin=$BUILD/tools/nfpm
	if [ ! -x "$bin" ] || ! "$bin" --version 2>/dev/null | grep -q "${NFPM_VERSION#v}"; then
		GOBIN=$BUILD/tools go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION"
	fi
	"$bin" "$@"
}

build_deb() { # arch prog data description
	local arch=$1 prog=$2 data=$3 desc=$4
	build_linux "$arch" "$prog"
	local stage=$BUILD/stage-$prog-$arch
	rm -rf "$stage" && mkdir -p "$stage"
	for f in postinst prerm postrm lintian-overrides; do
		sed -e "s/@NAME@/$prog/g" -e "s/@DATA@/$data/g" "installer/packaging/deb/$f" >"$stage/$f"
	done
	chmod 0755 "$stage/postinst" "$stage/prerm" "$stage/postrm"
	cp "installer/packaging/$prog.service" "$stage/"
	cp installer/packaging/deb/copyright "$stage/"
	printf '%s (%s) stable; urgency=medium\n\n  * Built from stationsync %s.\n\n -- stationsync maintainers <dev@stationsync.invalid>  %s\n' \
		"$prog" "$VERSION" "$GITVER" "$(date -R -d @"$(git log -1 --format=%ct 2>/dev/null || date +%s)")" | gzip -9n >"$stage/changelog.gz"
	rm -f "$DIST/${prog}"_*_"${arch}.deb" # one version in dist/: the tests pick it by name
	PKG=$prog ARCH=$arch VERSION=$VERSION BIN=$BUILD/linux-$arch/$prog STAGE=$stage DESCRIPTION=$desc \
		perl -pe 's/\$\{(\w+)\}/$ENV{$1}/g' installer/packaging/nfpm.yaml >"$stage/nfpm.yaml"
	nfpm package --config "$stage/nfpm.yaml" --packager deb --target "$DIST/${prog}_${VERSION}_${arch}.deb" >&2
	log "$DIST/${prog}_${VERSION}_${arch}.deb"
}

sign() { # in out
	if [ -n "${SIGN_PKCS12:-}" ]; then
		osslsigncode sign -pkcs12 "$SIGN_PKCS12" -pass "${SIGN_PASSWORD:-}" -h sha256 \
			-n "村站通 stationsync" -i "https://stationsync.invalid/" -in "$1" -out "$2.signing" >&2
		mv "$2.signing" "$2"
	else
		log "SIGN_PKCS12 not set: $2 is NOT signed"
		cp "$1" "$2"
	fi
}

build_msi() {
	local out=$BUILD/windows-amd64
	mkdir -p "$out"
	local t0=$SECONDS
	CGO_ENABLED=1 GOOS=windows GOARCH=amd64 CC=x86_64-w64-mingw32-gcc go build -trimpath \
		-ldflags "-s -w -X main.Version=$VERSION" -o "$out/station-agent.unsigned.exe" ./cmd/station-agent
	log "station-agent.exe ($(stat -c %s "$out/station-agent.unsigned.exe") bytes, $((SECONDS - t0)) s)"
	sign "$out/station-agent.unsigned.exe" "$out/station-agent.exe"
	# MSI ProductVersion: major.minor.build, each numeric.
	# wixl resolves File/@Source beside the .wxs.
	cp installer/packaging/station-agent.wxs "$out/"
	(cd "$out" && wixl -a x64 -D Version="$VERSION" -o station-agent.unsigned.msi station-agent.wxs)
	# wixl writes every string as ASCII and ignores Codepage, so the
	# shortcut's Chinese name is set afterwards: the database gets code page
	# 936 (GBK, what Chinese Windows uses), then the name, short|long.
	printf '\r\n\r\n936\t_ForceCodepage\r\n' >"$out/_ForceCodepage.idt"
	msibuild "$out/station-agent.unsigned.msi" -i "$out/_ForceCodepage.idt"
	msibuild "$out/station-agent.unsigned.msi" -q "UPDATE \`Shortcut\` SET \`Name\` = 'CUNZHA~1|村站通' WHERE \`Shortcut\` = 'StationPagesShortcut'"
	rm -f "$DIST"/station-agent-*-x64.msi
	sign "$out/station-agent.unsigned.msi" "$DIST/station-agent-$VERSION-x64.msi"
	cp "$out/station-agent.exe" "$DIST/station-agent.exe"
	log "$DIST/station-agent-$VERSION-x64.msi"
}

for t in "${targets[@]}"; do
	case $t in
	deb-amd64 | deb-arm64)
		arch=${t#deb-}
		build_deb "$arch" station-agent station "村站通 station agent: offline-first village records, synced to the county server"
		build_deb "$arch" county-server county "村站通 county server: receives the village stations' records"
		;;
	msi) build_msi ;;
	*) echo "build.sh: unknown target $t" >&2; exit 2 ;;
	esac
done
