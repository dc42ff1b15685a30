// Package svcrun runs a program's long-lived command — the station's
// `run`, the county's `serve` — the same way in a console and under the
// service manager: the rotated log in the data directory (and the Event Log
// of a Windows service), start and stop recorded, recovery actions set.
package svcrun

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"path/filepath"
	"stationsync/installer"
	"stationsync/internal/logging"
)

// Options says what runs and where it logs.
type Options struct {
	// Name is the service's name; the log file is named after it
	// (installer.LogPath) and so is the Event Log source.
	Name string
	// Title names the program in the start and stop records
	// ("station agent started").
	Title   string
	Version string
	DataDir string
	// AsService runs under the service manager (--service, what the
	// installers register); otherwise in the foreground.
	AsService bool
	// Level is shared so that a config reload can change it; nil: info.
	Level *slog.LevelVar
	// MaxSize and MaxFiles bound the rotated log (0: logging's defaults).
	MaxSize  int64
	MaxFiles int
	// Stderr gets every record in a console, and under a service manager
	// that has no Event Log (journald keeps standard error).
	Stderr io.Writer
	// Format of the file's and Stderr's lines (empty: text).
	Format logging.Format
}

// Run opens the log and runs body with it until body returns, which it
// must when ctx ends. Body's error is logged and returned; so is an error
// opening the data directory or the log.
func Run(ctx context.Context, o Options, body func(ctx context.Context, logger *slog.Logger) error) error {
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	opts := logging.Options{
		File: installer.LogPath(o.DataDir, o.Name), MaxSize: o.MaxSize, MaxFiles: o.MaxFiles,
		Level: o.Level, Console: o.Stderr, Format: o.Format,
	}
	if o.AsService {
		// A Windows service's standard error goes nowhere; start, stop and
		// errors go to the Event Log instead. On Linux there is none, and
		// journald keeps standard error.
		if opts.System = installer.SystemLog(o.Name); opts.System != nil {
			opts.Console = nil
		}
	}
	logger, closeLog, err := logging.New(opts)
	if err != nil {
		return err
	}
	defer closeLog.Close()
	run := func(ctx context.Context) error {
		logger.Info(o.Title+" started", "data", o.DataDir, "version", o.Version, "service", o.AsService, logging.Event())
		if o.AsService {
			// An MSI install cannot set the "restart on non-crash failure"
			// flag; the service sets it on itself (LocalSystem may).
			if err := installer.SetRecovery(o.Name); err != nil {
				logger.Debug("recovery actions not set", "err", err)
			}
		}
		if err := body(ctx, logger); err != nil {
			logger.Error(o.Title+" stopped on an error", "err", err)
			return err
		}
		logger.Info(o.Title+" stopped", logging.Event())
		return nil
	}
	if o.AsService {
		return installer.RunService(ctx, o.Name, logger, run)
	}
	return run(ctx)
}

// Paths are what a service is registered with: this program's absolute
// path and the data directory's.
func Paths(data string) (exe, dataDir string, err error) {
	if dataDir, err = filepath.Abs(data); err != nil {
		return "", "", err
	}
	if exe, err = installer.Executable(); err != nil {
		return "", "", err
	}
	return exe, dataDir, nil
}
