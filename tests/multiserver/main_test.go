package multiserver

import (
	"fmt"
	"os"
	"testing"

	"stationsync/internal/testsupport"
)

// bin are county-server and station-agent built from this tree, for the
// test that runs them as processes (procs_test.go).
var bin testsupport.Binaries

func TestMain(m *testing.M) {
	b, remove, err := testsupport.Build("multiserver")
	if err != nil {
		fmt.Fprintln(os.Stderr, "multiserver:", err)
		os.Exit(1)
	}
	bin = b
	code := m.Run()
	remove()
	os.Exit(code)
}
