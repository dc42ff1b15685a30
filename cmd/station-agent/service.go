package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"stationsync/agent"
	"stationsync/installer"
	"stationsync/internal/cli"
	"stationsync/internal/svcrun"
	"stationsync/syncproto"
)

// serviceName is the service's and the systemd unit's name.
const serviceName = "station-agent"

// pagesURL is what the desktop shortcut "村站通" opens: the station's
// pages served by `run` (its --listen default).
const pagesURL = "http://127.0.0.1:8484/"

const serviceUsage = `
Service and installation (as Administrator / root):
  station-agent install   [--data DIR] [--server URL [--code CODE] | --enrol-file F.json] [--no-start]
                          data directory, config, service (auto start, restart on failure), shortcut 村站通
  station-agent uninstall [--data DIR] [--purge]   remove the service; the data stays unless --purge
  station-agent start | stop | restart             control the installed service
  station-agent doctor    [--data DIR]             check what an installer would, each with a plain answer
  station-agent open                               open the station pages in the browser
`

// runService is install, uninstall, start, stop and restart.
func (e *env) runService(ctx context.Context, cmd string, args []string) error {
	fs, data := e.flags(cmd)
	server := fs.String("server", "", "county server URL (install)")
	code := fs.String("code", "", "one-time enrolment code (install)")
	enrollFile := fs.String("enrol-file", "", "enrolment file exported by the county (install; instead of --server and --code)")
	noStart := fs.Bool("no-start", false, "install without starting the service")
	purge := fs.Bool("purge", false, "uninstall: remove the data directory too")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	s, err := stationService(*data)
	if err != nil {
		return err
	}
	switch cmd {
	case "install":
		if *enrollFile != "" {
			ef, err := readEnrollFile(*enrollFile)
			if err != nil {
				return err
			}
			*server, *code = ef.Server, ef.Code
		}
		return install(ctx, s, *server, *code, !*noStart, e.Stdout)
	case "uninstall":
		installer.Control(s, "stop")
		if err := installer.Control(s, "uninstall"); err != nil {
			return err
		}
		installer.RemoveShortcut()
		fmt.Fprintln(e.Stdout, "已卸载服务", serviceName)
		if *purge {
			if err := os.RemoveAll(s.DataDir); err != nil {
				return err
			}
			fmt.Fprintln(e.Stdout, "已删除数据目录", s.DataDir)
		} else {
			fmt.Fprintln(e.Stdout, "数据保留在", s.DataDir, "（重新安装后继续使用；要删除请加 --purge）")
		}
		return nil
	}
	if err := installer.Control(s, cmd); err != nil {
		return err
	}
	state, _ := installer.ServiceState(s)
	fmt.Fprintln(e.Stdout, "服务", serviceName+"：", state)
	return nil
}

// stationService is the station's service for a data directory.
func stationService(data string) (installer.Service, error) {
	exe, dataDir, err := svcrun.Paths(data)
	if err != nil {
		return installer.Service{}, err
	}
	return installer.StationService(exe, dataDir), nil
}

func install(ctx context.Context, s installer.Service, server, code string, start bool, stdout io.Writer) error {
	step := func(format string, args ...any) { fmt.Fprintf(stdout, "• "+format+"\n", args...) }
	if err := installer.PrepareDataDir(s.DataDir, s.User); err != nil {
		return err
	}
	step("数据目录 %s（只有服务账户和管理员可以读取）", s.DataDir)
	cfgPath := installer.ConfigPath(s.DataDir)
	fc, err := agent.ReadConfigFile(cfgPath)
	if err != nil {
		return fmt.Errorf("现有配置文件 %s 有误，请先修正: %w", cfgPath, err)
	}
	if server != "" {
		fc.Server = server
	}
	if err := agent.WriteConfigFile(cfgPath, fc); err != nil {
		return err
	}
	step("配置文件 %s", cfgPath)
	if code != "" {
		if server == "" {
			return errors.New("--code 需要同时给出 --server")
		}
		a, err := agent.Open(ctx, agent.Config{DataDir: s.DataDir, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return err
		}
		_, err = a.Enroll(ctx, server, code)
		var pe *syncproto.Error
		switch {
		case err == nil:
			printEnrollment(stdout, a.Enrollment(ctx)) // enroll.go
		case errors.As(err, &pe):
			step("注册未完成（%v）；请向县里申请新的注册码后运行 station-agent enroll 或在站点页面注册", explain(err))
		default:
			// No network on install day is normal: the service completes
			// the enrollment once the county is reachable.
			if kerr := a.EnrollLater(ctx, server, code); kerr != nil {
				step("注册未完成（%v）", kerr)
			} else {
				step("暂时连不上县级服务器：注册信息已保存，联网后服务自动完成注册；可以先离线录入")
			}
		}
		a.Close()
		// Files made by this (root) process belong to the service account.
		if err := installer.PrepareDataDir(s.DataDir, s.User); err != nil {
			return err
		}
	}
	if _, installed := serviceInstalled(s); installed {
		step("服务 %s 已安装（升级：保留数据、密钥和配置）", serviceName)
		if err := installer.SetRecovery(serviceName); err != nil {
			return err
		}
	} else {
		if err := installer.InstallService(s); err != nil {
			return err
		}
		step("服务 %s：开机自动启动，出错 5 秒后自动重启", serviceName)
	}
	if err := installer.CreateShortcut(pagesURL, s.Exe); err != nil {
		step("桌面快捷方式未创建：%v", err)
	} else if runtime.GOOS == "windows" {
		step("桌面快捷方式「%s」→ %s", installer.ShortcutName, pagesURL)
	}
	if start {
		action := "start"
		if state, running := installer.ServiceState(s); running {
			action = "restart"
			_ = state
		}
		if err := installer.Control(s, action); err != nil {
			return err
		}
		state, _ := installer.ServiceState(s)
		step("服务状态：%s", state)
	}
	fmt.Fprintln(stdout, "安装完成。运行 station-agent doctor 可检查一切是否就绪。")
	return nil
}

func serviceInstalled(s installer.Service) (string, bool) {
	state, _ := installer.ServiceState(s)
	return state, state != "未安装为系统服务" && !strings.HasPrefix(state, "无法查询服务")
}

// runOpen is `station-agent open`: the station pages in the browser.
func (e *env) runOpen(context.Context, []string) error {
	var c *exec.Cmd
	switch runtime.GOOS {
	case "windows":
		c = exec.Command("rundll32", "url.dll,FileProtocolHandler", pagesURL)
	default:
		c = exec.Command("xdg-open", pagesURL)
	}
	if err := c.Start(); err != nil {
		return fmt.Errorf("请在浏览器中打开 %s（%v）", pagesURL, err)
	}
	return nil
}
