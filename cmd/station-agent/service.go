package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"stationsync/agent"
	"stationsync/installer"
	"stationsync/internal/cli"
	"stationsync/internal/logging"
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

// runStation runs body as the station service: config file read, logs to
// the rotated file (and the Event Log for a Windows service), the config
// watched, and under the service manager with --service. body gets the
// config to apply and the logger; it returns when ctx ends.
func runStation(ctx context.Context, dataDir string, asService bool, stderr io.Writer,
	body func(ctx context.Context, fc agent.FileConfig, lv *slog.LevelVar, logger *slog.Logger) error) int {
	cfgPath := installer.ConfigPath(dataDir)
	fc, cfgErr := agent.ReadConfigFile(cfgPath)
	if cfgErr != nil {
		fc = agent.DefaultConfig()
	}
	lv := new(slog.LevelVar)
	if l, err := logging.ParseLevel(fc.LogLevel); err == nil {
		lv.Set(l)
	}
	err := svcrun.Run(ctx, svcrun.Options{Name: serviceName, Title: "station agent", Version: Version, DataDir: dataDir,
		AsService: asService, Level: lv, MaxSize: int64(fc.LogMaxSizeMB) << 20, MaxFiles: fc.LogMaxFiles, Stderr: stderr},
		func(ctx context.Context, logger *slog.Logger) error {
			if cfgErr != nil {
				logger.Error("config file refused; running with the defaults until it is fixed", "file", cfgPath, "err", cfgErr)
			}
			if asService {
				// For an MSI install, which does not make the data
				// directory: only the service and Administrators may read it.
				if err := installer.PrepareDataDir(dataDir, ""); err != nil {
					logger.Warn("data directory permissions not set", "err", err)
				}
			}
			return body(ctx, fc, lv, logger)
		})
	if err != nil {
		return cli.Fail(stderr, err)
	}
	return 0
}

// serviceCommand runs install, uninstall, start, stop, restart, doctor
// and open.
func serviceCommand(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", installer.DefaultDataDir("station"), "data directory")
	server := fs.String("server", "", "county server URL (install)")
	code := fs.String("code", "", "one-time enrolment code (install)")
	enrolFile := fs.String("enrol-file", "", "enrolment file exported by the county (install; instead of --server and --code)")
	noStart := fs.Bool("no-start", false, "install without starting the service")
	purge := fs.Bool("purge", false, "uninstall: remove the data directory too")
	if fs.Parse(args) != nil {
		return 2
	}
	dataDir, err := filepath.Abs(*data)
	if err != nil {
		return cli.Fail(stderr, err)
	}
	exe, err := installer.Executable()
	if err != nil {
		return cli.Fail(stderr, err)
	}
	s := installer.StationService(exe, dataDir)
	switch cmd {
	case "install":
		if *enrolFile != "" {
			ef, err := readEnrolFile(*enrolFile)
			if err != nil {
				return cli.Fail(stderr, err)
			}
			*server, *code = ef.Server, ef.Code
		}
		return install(ctx, s, *server, *code, !*noStart, stdout, stderr)
	case "uninstall":
		installer.Control(s, "stop")
		if err := installer.Control(s, "uninstall"); err != nil {
			return cli.Fail(stderr, err)
		}
		installer.RemoveShortcut()
		fmt.Fprintln(stdout, "已卸载服务", serviceName)
		if *purge {
			if err := os.RemoveAll(dataDir); err != nil {
				return cli.Fail(stderr, err)
			}
			fmt.Fprintln(stdout, "已删除数据目录", dataDir)
		} else {
			fmt.Fprintln(stdout, "数据保留在", dataDir, "（重新安装后继续使用；要删除请加 --purge）")
		}
		return 0
	case "start", "stop", "restart":
		if err := installer.Control(s, cmd); err != nil {
			return cli.Fail(stderr, err)
		}
		state, _ := installer.ServiceState(s)
		fmt.Fprintln(stdout, "服务", serviceName+"：", state)
		return 0
	case "doctor":
		return doctor(ctx, s, stdout)
	case "open":
		return openPages(stderr)
	}
	return 2
}

func install(ctx context.Context, s installer.Service, server, code string, start bool, stdout, stderr io.Writer) int {
	step := func(format string, args ...any) { fmt.Fprintf(stdout, "• "+format+"\n", args...) }
	if err := installer.PrepareDataDir(s.DataDir, s.User); err != nil {
		return cli.Fail(stderr, err)
	}
	step("数据目录 %s（只有服务账户和管理员可以读取）", s.DataDir)
	cfgPath := installer.ConfigPath(s.DataDir)
	fc, err := agent.ReadConfigFile(cfgPath)
	if err != nil {
		return cli.Fail(stderr, fmt.Errorf("现有配置文件 %s 有误，请先修正: %w", cfgPath, err))
	}
	if server != "" {
		fc.Server = server
	}
	if err := agent.WriteConfigFile(cfgPath, fc); err != nil {
		return cli.Fail(stderr, err)
	}
	step("配置文件 %s", cfgPath)
	if code != "" {
		if server == "" {
			return cli.Fail(stderr, errors.New("--code 需要同时给出 --server"))
		}
		a, err := agent.Open(ctx, agent.Config{DataDir: s.DataDir, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return cli.Fail(stderr, err)
		}
		_, err = a.Enroll(ctx, server, code)
		var pe *syncproto.Error
		switch {
		case err == nil:
			printEnrolment(stdout, a.Enrolment(ctx)) // main.go
		case errors.As(err, &pe):
			step("注册未完成（%v）；请向县里申请新的注册码后运行 station-agent enroll 或在站点页面注册", explain(err))
		default:
			// No network on install day is normal: the service completes
			// the enrolment once the county is reachable.
			if kerr := a.EnrolLater(ctx, server, code); kerr != nil {
				step("注册未完成（%v）", kerr)
			} else {
				step("暂时连不上县级服务器：注册信息已保存，联网后服务自动完成注册；可以先离线录入")
			}
		}
		a.Close()
		// Files made by this (root) process belong to the service account.
		if err := installer.PrepareDataDir(s.DataDir, s.User); err != nil {
			return cli.Fail(stderr, err)
		}
	}
	if _, installed := serviceInstalled(s); installed {
		step("服务 %s 已安装（升级：保留数据、密钥和配置）", serviceName)
		if err := installer.SetRecovery(serviceName); err != nil {
			return cli.Fail(stderr, err)
		}
	} else {
		if err := installer.InstallService(s); err != nil {
			return cli.Fail(stderr, err)
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
			return cli.Fail(stderr, err)
		}
		state, _ := installer.ServiceState(s)
		step("服务状态：%s", state)
	}
	fmt.Fprintln(stdout, "安装完成。运行 station-agent doctor 可检查一切是否就绪。")
	return 0
}

func serviceInstalled(s installer.Service) (string, bool) {
	state, _ := installer.ServiceState(s)
	return state, state != "未安装为系统服务" && !strings.HasPrefix(state, "无法查询服务")
}

func openPages(stderr io.Writer) int {
	var c *exec.Cmd
	switch runtime.GOOS {
	case "windows":
		c = exec.Command("rundll32", "url.dll,FileProtocolHandler", pagesURL)
	default:
		c = exec.Command("xdg-open", pagesURL)
	}
	if err := c.Start(); err != nil {
		return cli.Fail(stderr, fmt.Errorf("请在浏览器中打开 %s（%v）", pagesURL, err))
	}
	return 0
}

// doctor checks what an installer would check, each with a plain answer,
// without changing anything the service owns. Exit 1 if any check fails.
func doctor(ctx context.Context, s installer.Service, stdout io.Writer) int {
	var checks []installer.Check
	add := func(c installer.Check) { checks = append(checks, c) }

	state, running := installer.ServiceState(s)
	svcCheck := installer.Check{Name: "服务", OK: running, Answer: state}
	if !running {
		svcCheck.Answer += "；运行 station-agent start（或重新 install）"
	} else if restarts, nonCrash, err := installer.RecoveryState(serviceName); err == nil && (!restarts || !nonCrash) {
		svcCheck.Warn, svcCheck.Answer = true, state+"，但出错后不会自动重启；运行 station-agent install 可修复"
	}
	add(svcCheck)

	ok, answer := installer.CheckDataDir(s.DataDir)
	add(installer.Check{Name: "数据目录", OK: ok, Answer: answer})

	if _, err := agent.ReadConfigFile(installer.ConfigPath(s.DataDir)); err != nil {
		add(installer.Check{Name: "配置文件", Answer: err.Error()})
	} else {
		add(installer.Check{Name: "配置文件", OK: true, Answer: installer.ConfigPath(s.DataDir)})
	}

	meta, dbCheck := checkDatabase(ctx, filepath.Join(s.DataDir, "station.db"))
	add(dbCheck)

	add(installer.DiskCheck(s.DataDir, 100, 1024))

	_, keyErr := os.Stat(filepath.Join(s.DataDir, "station.key"))
	enrolled := meta["station_id"] != "" && keyErr == nil
	if enrolled {
		add(installer.Check{Name: "注册", OK: true, Answer: fmt.Sprintf("站点 %s，村代码 %s", meta["station_id"], meta["village"])})
	} else {
		add(installer.Check{Name: "注册", Answer: "尚未注册：运行 station-agent enroll --server 县服务器地址 --code 注册码，或在站点页面注册（未注册时录入的记录会保留）"})
	}

	serverURL := meta["server_url"]
	if fc, err := agent.ReadConfigFile(installer.ConfigPath(s.DataDir)); err == nil && fc.Server != "" {
		serverURL = fc.Server
	}
	if serverURL == "" {
		add(installer.Check{Name: "县级服务器", Answer: "没有服务器地址（注册时给出）"})
		add(clockCheck(0, false, meta))
	} else {
		offset, err := probeCounty(ctx, serverURL)
		if err != nil {
			add(installer.Check{Name: "县级服务器", Answer: fmt.Sprintf("%s 无法连接：%v（记录会保留，联网后自动上传）", serverURL, err)})
			add(clockCheck(0, false, meta))
		} else {
			add(installer.Check{Name: "县级服务器", OK: true, Answer: serverURL + " 可以连接"})
			add(clockCheck(offset, true, meta))
		}
	}

	return installer.Report(stdout, checks)
}

// checkDatabase opens the station database read-only (doctor must not
// migrate it or make files as another user), runs an integrity check and
// reads the sync state.
func checkDatabase(ctx context.Context, path string) (map[string]string, installer.Check) {
	meta := map[string]string{}
	c := installer.Check{Name: "数据库"}
	if _, err := os.Stat(path); err != nil {
		c.Answer = "还没有数据库（服务第一次启动时创建）：" + path
		c.OK, c.Warn = true, true
		return meta, c
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		c.Answer = err.Error()
		return meta, c
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		c.Answer = "无法读取：" + err.Error()
		return meta, c
	}
	if res != "ok" {
		c.Answer = "数据库损坏：" + res + "；请联系县里，不要删除数据目录"
		return meta, c
	}
	rows, err := db.QueryContext(ctx, `SELECT key, value FROM meta`)
	if err == nil {
		for rows.Next() {
			var k, v string
			if rows.Scan(&k, &v) == nil {
				meta[k] = v
			}
		}
		rows.Close()
	}
	var pending int
	db.QueryRowContext(ctx, `SELECT count(*) FROM outbox`).Scan(&pending)
	c.OK = true
	c.Answer = fmt.Sprintf("完好，待上传 %d 条", pending)
	return meta, c
}

// probeCounty asks the county's /healthz and returns the county's clock
// minus this PC's.
func probeCounty(ctx context.Context, serverURL string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(serverURL, "/")+"/healthz", nil)
	if err != nil {
		return 0, err
	}
	sent := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	rtt := time.Since(sent)
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	ms, perr := strconv.ParseInt(resp.Header.Get(syncproto.HeaderServerTime), 10, 64)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" || perr != nil {
		// A captive portal answers 200 too; only the county sends its time.
		return 0, fmt.Errorf("回答不是县级服务器的（HTTP %d）", resp.StatusCode)
	}
	return time.UnixMilli(ms).Add(rtt / 2).Sub(sent.Add(rtt)), nil
}

func clockCheck(offset time.Duration, measured bool, meta map[string]string) installer.Check {
	c := installer.Check{Name: "时钟"}
	if !measured {
		ms, err := strconv.ParseInt(meta["clock_offset_ms"], 10, 64)
		if err != nil || meta["last_ok_at"] == "" {
			c.OK, c.Warn, c.Answer = true, true, "无法与县里对时（未连接过）；记录顺序不依赖电脑时间"
			return c
		}
		offset = time.Duration(ms) * time.Millisecond
	}
	abs := offset
	if abs < 0 {
		abs = -abs
	}
	c.OK = true
	c.Answer = fmt.Sprintf("与县里相差 %s", offset.Round(time.Second))
	if abs > syncproto.SkewWindow {
		c.Warn = true
		c.Answer += "，电脑时间不准，请校准（同步仍然可靠，但显示的时间会不对）"
	}
	if !measured {
		c.Answer += "（上次同步时测得）"
	}
	return c
}

// printServiceState adds the service's state to `status`, if installed.
func printServiceState(w io.Writer, dataDir string) {
	if state, installed := serviceInstalled(installer.StationService("", dataDir)); installed {
		fmt.Fprintf(w, "服务：%s\n", state)
	}
}
