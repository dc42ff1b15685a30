//go:build stationsync_test

package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"

	"stationsync/agent"
	"stationsync/internal/cli"
	"stationsync/internal/testclock"
)

func init() {
	// Go reads time without libc, so faketime cannot move it:
	// STATIONSYNC_TEST_CLOCK_OFFSET shifts the agent's clock and
	// STATIONSYNC_TEST_CLOCK_FILE makes it jump (internal/testclock).
	testClock = testclock.FromEnv
	testCommands["x-test-config"] = testSetConfig
}

// testSetConfig is the hidden "x-test-config" command of the power-cut
// test (tests/powercut): it changes config.json as the settings page does
// (read, change, agent.WriteConfigFile), so that a cut can fall inside the
// product's own config write. Not in the usage text.
func testSetConfig(dataDir string, args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintln(stderr, "usage: station-agent x-test-config LOG_MAX_SIZE_MB LOG_LEVEL")
		return 2
	}
	size, err := strconv.Atoi(args[0])
	if err != nil {
		return cli.Fail(stderr, fmt.Errorf("log size: %w", err))
	}
	path := filepath.Join(dataDir, agent.ConfigFileName)
	c, err := agent.ReadConfigFile(path)
	if err != nil {
		return cli.Fail(stderr, err)
	}
	c.LogMaxSizeMB, c.LogLevel = size, args[1]
	if err := agent.WriteConfigFile(path, c); err != nil {
		return cli.Fail(stderr, err)
	}
	fmt.Fprintln(stdout, "ok")
	return 0
}
