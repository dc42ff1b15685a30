package svcrun

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stationsync/installer"
)

// Both programs' long-lived commands log their start and their stop (and
// why) to the rotated file in the data directory and to standard error,
// at the level given, and return the body's error.
func TestRunLogsStartAndStop(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	lv := new(slog.LevelVar)
	lv.Set(slog.LevelInfo)
	var stderr bytes.Buffer
	boom := errors.New("boom")
	err := Run(context.Background(), Options{Name: "svc", Title: "test service", Version: "9.9", DataDir: dir, Level: lv, Stderr: &stderr},
		func(ctx context.Context, logger *slog.Logger) error {
			logger.Debug("below the level")
			logger.Warn("a warning")
			return boom
		})
	if !errors.Is(err, boom) {
		t.Fatalf("Run returned %v", err)
	}
	file, rerr := os.ReadFile(installer.LogPath(dir, "svc"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	for _, out := range []string{string(file), stderr.String()} {
		if !strings.Contains(out, "test service started") || !strings.Contains(out, "version=9.9") ||
			!strings.Contains(out, "a warning") || strings.Contains(out, "below the level") ||
			!strings.Contains(out, "test service stopped on an error") {
			t.Errorf("log: %q", out)
		}
	}
	if err := Run(context.Background(), Options{Name: "svc", Title: "test service", DataDir: dir, Stderr: &stderr},
		func(context.Context, *slog.Logger) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "test service stopped") {
		t.Errorf("no stop record: %q", stderr.String())
	}
}
