package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"stationsync/agent"
	"stationsync/installer"
	"stationsync/internal/cli"
	"stationsync/syncproto"
)

// runDoctor is `station-agent doctor`; exit 1 if a check fails.
func (e *env) runDoctor(ctx context.Context, args []string) error {
	fs, data := e.flags("doctor")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	s, err := stationService(*data)
	if err != nil {
		return err
	}
	return cli.ExitStatus(doctor(ctx, s, e.Stdout))
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
