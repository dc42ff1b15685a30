//go:build !windows

package bundle

import "os"

// openExclusive opens a file for reading. Unix has no share modes: a file
// still being copied is told by its size and time (Watch), not by this.
func openExclusive(path string) (*os.File, error) { return os.Open(path) }
