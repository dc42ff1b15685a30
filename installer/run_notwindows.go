//go:build !windows

package installer

import (
	"context"
	"log/slog"

	"stationsync/internal/logging"
)

// RunService runs run until ctx ends: systemd starts the program directly
// and stops it with SIGTERM, which ends ctx.
func RunService(ctx context.Context, name string, logger *slog.Logger, run func(ctx context.Context) error) error {
	return run(ctx)
}

// SystemLog is nil on Linux: a service's standard error goes to journald.
func SystemLog(name string) logging.System { return nil }

// Interactive is true: there is no service dispatcher to detect.
func Interactive() bool { return true }
