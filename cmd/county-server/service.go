package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"stationsync/installer"
	"stationsync/internal/cli"
	"stationsync/internal/svcrun"
)

const serviceName = "county-server"

const serviceUsage = `
Service (as Administrator / root):
  county-server install   [--data DIR] [--listen ADDR] [--no-start]   register and start the service
  county-server uninstall [--data DIR] [--purge]   remove the service; the data stays unless --purge
  county-server start | stop | restart | status
`

// countyServiceAt is the county's service for the data directory and
// listen address given on the command line.
func countyServiceAt(data, listen string) (installer.Service, error) {
	exe, dataDir, err := svcrun.Paths(data)
	if err != nil {
		return installer.Service{}, err
	}
	return installer.CountyService(exe, dataDir, listen), nil
}

// runService is install, uninstall, start, stop, restart and status.
func (e *env) runService(_ context.Context, cmd string, args []string) error {
	fs, o := e.flags(cmd)
	listen := fs.String("listen", "0.0.0.0:8870", "address the service listens on (install)")
	noStart := fs.Bool("no-start", false, "install without starting")
	purge := fs.Bool("purge", false, "uninstall: remove the data directory too")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	// The service's command line is readable by every local user (ps,
	// the unit file): a URL with a password does not belong there.
	dbGiven := false
	fs.Visit(func(f *flag.Flag) { dbGiven = dbGiven || f.Name == "db" })
	if dbGiven {
		return fmt.Errorf("服务不在命令行上保存数据库地址（其中有密码）：请把 %s=postgres://… 写入只有 root 可读的文件（例如 /etc/stationsync/county-db.env，chmod 600），再用 systemctl edit %s 加入 [Service] 和 EnvironmentFile=/etc/stationsync/county-db.env；见 README", envDB, serviceName)
	}
	s, err := countyServiceAt(o.data, *listen)
	if err != nil {
		return err
	}
	switch cmd {
	case "install":
		if err := installer.PrepareDataDir(s.DataDir, s.User); err != nil {
			return err
		}
		if err := installer.InstallService(s); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "已安装服务 %s（数据 %s，监听 %s）\n", serviceName, s.DataDir, *listen)
		if !*noStart {
			if err := installer.Control(s, "start"); err != nil {
				return err
			}
		}
	case "uninstall":
		installer.Control(s, "stop")
		if err := installer.Control(s, "uninstall"); err != nil {
			return err
		}
		if *purge {
			if err := os.RemoveAll(s.DataDir); err != nil {
				return err
			}
		} else {
			fmt.Fprintln(e.Stdout, "数据保留在", s.DataDir)
		}
	case "start", "stop", "restart":
		if err := installer.Control(s, cmd); err != nil {
			return err
		}
	}
	state, _ := installer.ServiceState(s)
	fmt.Fprintf(e.Stdout, "服务 %s：%s\n", serviceName, state)
	return nil
}
