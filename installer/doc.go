// Package installer sets up a station or a county server on a PC: where
// data lives on each OS, the data directory's permissions, the service
// (kardianos/service for the command line; the MSI and the .deb register
// the same service declaratively from packaging/), its recovery actions,
// the service dispatcher, the desktop shortcut, and the checks `doctor`
// runs.
package installer
