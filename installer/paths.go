package installer

import (
	"os"
	"path/filepath"
	"runtime"
)

// DefaultDataDir is where a service keeps its data when no --data is
// given: never the working directory, which for a Windows service is
// System32 (kardianos/service#280).
func DefaultDataDir(name string) string {
	if d := os.Getenv("STATIONSYNC_DATA"); d != "" {
		return d
	}
	if runtime.GOOS == "windows" {
		pd := os.Getenv("ProgramData")
		if pd == "" {
			pd = `C:\ProgramData`
		}
		return filepath.Join(pd, "stationsync", name)
	}
	return filepath.Join("/var/lib/stationsync", name)
}
