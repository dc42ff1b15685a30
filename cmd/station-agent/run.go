package main

import (
	"context"
	"flag"
	"log/slog"
	"time"

	"stationsync/agent"
	"stationsync/installer"
	"stationsync/internal/cli"
	"stationsync/internal/logging"
	"stationsync/internal/svcrun"
)

// runRun is `station-agent run`: the station service, in the foreground or
// under the service manager (--service). config.json gives its settings
// and log level, and each valid edit of it applies while it runs; the
// station's pages are served beside the sync loop.
func (e *env) runRun(ctx context.Context, args []string) error {
	fs, data := e.flags("run")
	interval := fs.Duration("interval", time.Minute, "time between sync rounds when all is well (default: config.json's sync_interval)")
	asService := fs.Bool("service", false, "run under the service manager (what install, the MSI and the .deb register)")
	listen := fs.String("listen", defaultListen, "address of the station's pages (this PC only by default)")
	pushing := e.pushFlags(fs)
	inbox := addInboxFlags(fs) // import.go: a watched folder of the county's answers
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	batch, ahead, err := pushing()
	if err != nil {
		return err
	}
	cfgPath := installer.ConfigPath(*data)
	fc, cfgErr := agent.ReadConfigFile(cfgPath)
	if cfgErr != nil {
		fc = agent.DefaultConfig()
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "interval" {
			fc.SyncInterval = agent.Duration(*interval)
		}
	})
	lv := new(slog.LevelVar)
	if l, err := logging.ParseLevel(fc.LogLevel); err == nil {
		lv.Set(l)
	}
	return svcrun.Run(ctx, svcrun.Options{Name: serviceName, Title: "station agent", Version: Version, DataDir: *data,
		AsService: *asService, Level: lv, MaxSize: int64(fc.LogMaxSizeMB) << 20, MaxFiles: fc.LogMaxFiles, Stderr: e.Stderr},
		func(ctx context.Context, logger *slog.Logger) error {
			if cfgErr != nil {
				logger.Error("config file refused; running with the defaults until it is fixed", "file", cfgPath, "err", cfgErr)
			}
			if *asService {
				// For an MSI install, which does not make the data
				// directory: only the service and Administrators may read it.
				if err := installer.PrepareDataDir(*data, ""); err != nil {
					logger.Warn("data directory permissions not set", "err", err)
				}
			}
			cfg := agent.Config{SyncInterval: time.Duration(fc.SyncInterval), BatchSize: batch, Ahead: ahead}
			return withAgent(ctx, *data, cfg, logger, func(a *agent.Agent) error {
				if err := a.ApplyConfig(ctx, fc); err != nil {
					return err
				}
				if stopPages, err := servePages(ctx, a, *listen, *data, logger); err != nil {
					logger.Error("station pages not served", "err", err)
				} else {
					defer stopPages() // before the store closes
				}
				// Each valid edit of config.json applies, the log level
				// here, the rest in the agent, until the agent closes.
				if err := a.WatchConfig(cfgPath, func(c agent.FileConfig) {
					if l, err := logging.ParseLevel(c.LogLevel); err == nil {
						lv.Set(l)
					}
				}); err != nil {
					return err
				}
				inbox.start(a, logger)
				a.Nudge()
				return a.Run(ctx)
			})
		})
}
