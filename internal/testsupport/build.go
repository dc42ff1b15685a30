package testsupport

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// TestTags are the build tags of the binaries a test runs: the hooks the
// suites drive (STATIONSYNC_TEST_* environment, `x-test-config`) are
// compiled only under them, never into a release (tests/dist checks the
// release build).
const TestTags = "stationsync_test"

// Binaries are the paths of the two programs built for a test package.
type Binaries struct{ Agent, Server string }

// Build builds station-agent and county-server once for a test package
// (call it from TestMain), with TestTags and tags, without -race: the
// binaries are the system under test, the race detector only matters for
// the test process. It returns the binaries and a function that removes
// them.
func Build(name string, tags ...string) (Binaries, func(), error) {
	dir, err := os.MkdirTemp("", "stationsync-"+name+"-bin-")
	if err != nil {
		return Binaries{}, nil, err
	}
	remove := func() { os.RemoveAll(dir) }
	start := time.Now()
	err = GoBuild("-tags", strings.Join(append([]string{TestTags}, tags...), " "), "-o", dir+string(filepath.Separator),
		"stationsync/cmd/station-agent", "stationsync/cmd/county-server")
	if err != nil {
		remove()
		return Binaries{}, nil, err
	}
	fmt.Fprintf(os.Stderr, "%s: built station-agent and county-server in %s\n", name, time.Since(start).Round(time.Millisecond))
	return Binaries{Agent: filepath.Join(dir, "station-agent"), Server: filepath.Join(dir, "county-server")}, remove, nil
}

// GoBuild runs `go build args…` with cgo on (go-sqlite3 needs it), its
// output on stderr.
func GoBuild(args ...string) error {
	// go test puts $GOROOT/bin first in the PATH of the test binary.
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("go tool not found: %w", err)
	}
	cmd := exec.Command(goTool, append([]string{"build"}, args...)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	return nil
}
