//go:build !windows

package installer

func dataRoot() string { return "/var/lib/stationsync" }
