package main

import (
	"io"
	"time"
)

// What the test suites drive in a station binary built with
// -tags stationsync_test (internal/testsupport.TestTags); a release build
// has neither (tests: TestReleaseBuildHasNoTestHooks).
var (
	// testClock, if set, gives the agent's clock source (nil: the PC's).
	testClock func() (func() time.Time, error)
	// testCommands are hidden commands: name → run(data, args, …).
	testCommands = map[string]func(dataDir string, args []string, stdout, stderr io.Writer) int{}
)
