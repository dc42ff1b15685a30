package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"stationsync/internal/leakcheck"
)

// Close ends everything the agent started — the round loop (even while
// its caller's context still runs), the outbox watch, the config watch —
// waits for it and only then closes the store: no goroutine is left, and
// none runs on against a closed database. (Before, Run and its outbox
// watch went on after Close, and the config watch was never waited for.)
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := leakcheck.Take()
	dir := t.TempDir()
	a := openTestAgent(t, dir)
	cfg := filepath.Join(dir, ConfigFileName)
	if err := WriteConfigFile(cfg, DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	applied := make(chan FileConfig, 4)
	if err := a.WatchConfig(cfg, func(c FileConfig) { applied <- c }); err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- a.Run(context.Background()) }()
	time.Sleep(100 * time.Millisecond) // the loop and both watches are up

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	default:
		t.Fatal("Close returned while Run was still running")
	}
	leakcheck.Check(t, before)

	// A config edit after Close reaches nobody.
	c := DefaultConfig()
	c.LogLevel = "debug"
	if err := WriteConfigFile(cfg, c); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * configDebounce)
	if len(applied) != 0 {
		t.Fatalf("config applied after Close: %+v", <-applied)
	}
	if err := a.Run(context.Background()); err == nil {
		t.Fatal("Run after Close ran")
	}
	if _, err := os.Stat(filepath.Join(dir, "station.db")); err != nil {
		t.Fatal(err)
	}
}
