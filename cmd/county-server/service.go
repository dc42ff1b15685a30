package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"stationsync/installer"
	"stationsync/internal/cli"
	"stationsync/internal/fileperm"
	"stationsync/internal/logging"
	"stationsync/internal/svcrun"
)

const serviceName = "county-server"

const serviceUsage = `
Service (as Administrator / root):
  county-server install   [--data DIR] [--listen ADDR] [--no-start]   register and start the service
  county-server uninstall [--data DIR] [--purge]   remove the service; the data stays unless --purge
  county-server start | stop | restart | status
`

// serveLogged runs body with logs to the rotated file in the data
// directory (and standard error, which journald keeps), under the service
// manager with --service.
func serveLogged(ctx context.Context, dataDir string, asService bool, stderr io.Writer, body func(ctx context.Context, logger *slog.Logger) error) int {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return cli.Fail(stderr, err)
	}
	// Before the log opens: an older release's log may be 0644.
	if err := fileperm.Dir(dataDir); err != nil {
		fmt.Fprintln(stderr, "警告：数据目录权限未能全部收紧:", err)
	}
	lv := new(slog.LevelVar)
	l, lerr := logging.LevelFromEnv()
	lv.Set(l)
	err := svcrun.Run(ctx, svcrun.Options{Name: serviceName, Title: "county server", Version: Version, DataDir: dataDir,
		AsService: asService, Level: lv, Stderr: stderr}, func(ctx context.Context, logger *slog.Logger) error {
		if lerr != nil {
			logger.Warn("log level ignored", "err", lerr)
		}
		return body(ctx, logger)
	})
	if err != nil {
		return cli.Fail(stderr, err)
	}
	return 0
}

// countyServiceAt is the county's service for the data directory and
// listen address given on the command line.
func countyServiceAt(data, listen string) (installer.Service, error) {
	dataDir, err := filepath.Abs(data)
	if err != nil {
		return installer.Service{}, err
	}
	exe, err := installer.Executable()
	if err != nil {
		return installer.Service{}, err
	}
	return installer.CountyService(exe, dataDir, listen), nil
}

// serviceCommand runs install, uninstall, start, stop, restart, status.
func serviceCommand(cmd string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", installer.DefaultDataDir("county"), "data directory")
	listen := fs.String("listen", "0.0.0.0:8870", "address the service listens on (install)")
	noStart := fs.Bool("no-start", false, "install without starting")
	purge := fs.Bool("purge", false, "uninstall: remove the data directory too")
	if fs.Parse(args) != nil {
		return 2
	}
	s, err := countyServiceAt(*data, *listen)
	if err != nil {
		return cli.Fail(stderr, err)
	}
	dataDir := s.DataDir
	fail := func(err error) int { return cli.Fail(stderr, err) }
	switch cmd {
	case "install":
		if err := installer.PrepareDataDir(dataDir, s.User); err != nil {
			return fail(err)
		}
		if err := installer.InstallService(s); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "已安装服务 %s（数据 %s，监听 %s）\n", serviceName, dataDir, *listen)
		if !*noStart {
			if err := installer.Control(s, "start"); err != nil {
				return fail(err)
			}
		}
	case "uninstall":
		installer.Control(s, "stop")
		if err := installer.Control(s, "uninstall"); err != nil {
			return fail(err)
		}
		if *purge {
			if err := os.RemoveAll(dataDir); err != nil {
				return fail(err)
			}
		} else {
			fmt.Fprintln(stdout, "数据保留在", dataDir)
		}
	case "start", "stop", "restart":
		if err := installer.Control(s, cmd); err != nil {
			return fail(err)
		}
	}
	state, _ := installer.ServiceState(s)
	fmt.Fprintf(stdout, "服务 %s：%s\n", serviceName, state)
	return 0
}
