// Package dist tests the packages `make dist` builds, on this machine:
// the .debs installed, upgraded, removed and purged with dpkg, their units
// checked with systemd-analyze, lintian, the arm64 binary recording and
// syncing under qemu-user, the MSI's tables and signatures, and the MSI
// installed, upgraded and removed under Wine with its service syncing to a
// county server on loopback. The tests
// need root, Debian's tools and the files in dist/; they are behind the
// `dist` build tag and run by `make test-dist`, which installs the tools
// (scripts/install-dist-deps.sh) and builds the packages first.
package dist
