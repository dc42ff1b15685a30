package installer

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// dataRoot is ProgramData\stationsync, found through the known-folder API:
// inside a service %ProgramData% may be unset or point elsewhere (it does
// under Wine), and the data must be where the installer put it.
func dataRoot() string {
	pd, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0)
	if err != nil || pd == "" {
		pd = os.Getenv("ProgramData")
	}
	if pd == "" {
		pd = `C:\ProgramData`
	}
	return filepath.Join(pd, "stationsync")
}
