package installer

import (
	"os"
	"path/filepath"
)

// DefaultDataDir is where a service keeps its data when no --data is
// given: $STATIONSYNC_DATA, else %ProgramData%\stationsync\NAME on Windows
// or /var/lib/stationsync/NAME elsewhere. Never the working directory,
// which for a Windows service is System32 (kardianos/service#280).
func DefaultDataDir(name string) string {
	if d := os.Getenv("STATIONSYNC_DATA"); d != "" {
		return d
	}
	return filepath.Join(dataRoot(), name)
}

// ConfigPath is the config file in a data directory.
func ConfigPath(dataDir string) string { return filepath.Join(dataDir, "config.json") }

// LogPath is the rotated log file of program name in a data directory.
func LogPath(dataDir, name string) string { return filepath.Join(dataDir, name+".log") }

// Executable is the running program's absolute path with symlinks
// resolved: what a service is registered with.
func Executable() (string, error) {
	p, err := os.Executable()
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	return filepath.Abs(p)
}
