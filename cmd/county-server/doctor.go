package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"stationsync/installer"
	"stationsync/internal/cli"
	"stationsync/internal/pgdb"
	"stationsync/server"
)

// silentAfter is how long a station may go without contact before doctor
// names it; the staff pages have their own setting.
const silentAfter = 7 * 24 * time.Hour

// runDoctor is `county-server doctor`: it checks the county server the way
// an installer or the county's IT staff would, each check with a plain
// answer, and changes nothing: the database is opened read-only and not
// upgraded. Exit 1 if any check fails.
func (e *env) runDoctor(ctx context.Context, args []string) error {
	fs, o := e.flags("doctor")
	listen := fs.String("listen", "0.0.0.0:8870", "address the server listens on (as given to install or serve)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	s, err := countyServiceAt(o.data, *listen)
	if err != nil {
		return err
	}
	stdout := e.Stdout
	dataDir := s.DataDir
	var checks []installer.Check
	add := func(c installer.Check) { checks = append(checks, c) }

	state, running := installer.ServiceState(s)
	addrCheck := probeAddress(ctx, dataDir, *listen)
	svc := installer.Check{Name: "服务", OK: running, Answer: state}
	switch {
	case !running && addrCheck.OK:
		// Serving, but in a console or under something else: it will not
		// come back after a restart of the machine.
		svc.OK, svc.Warn = true, true
		svc.Answer += "，但服务器正在运行（不是系统服务，重启电脑后不会自动启动）；运行 county-server install"
	case !running:
		svc.Answer += "；运行 county-server start（或 install）"
	}
	add(svc)
	add(addrCheck)

	ok, answer := installer.CheckDataDir(dataDir)
	add(installer.Check{Name: "数据目录", OK: ok, Answer: answer})

	if o.db != "" {
		// PostgreSQL: no file to check or copy before an upgrade; the data
		// directory still holds the county's files and keys.
		if err := o.checkDB(); err != nil {
			return err
		}
		db, dbCheck := checkPostgresDatabase(ctx, o.db)
		add(dbCheck)
		add(installer.DiskCheck(dataDir, 1024, 10240))
		if db != nil {
			add(checkStations(ctx, db, time.Now()))
			db.Close()
		}
		add(checkCertificate(filepath.Join(dataDir, "tls", "server.pem"), time.Now()))
		return cli.ExitStatus(installer.Report(stdout, checks))
	}
	dbPath := filepath.Join(dataDir, "county.db")
	db, dbCheck, pending := checkCountyDatabase(ctx, dbPath)
	add(dbCheck)
	disk := installer.DiskCheck(dataDir, 1024, 10240)
	if st, err := os.Stat(dbPath); err == nil && len(pending) > 0 && disk.OK {
		// An upgrade copies the database first (sqlitedb's upgrade).
		if free, err := installer.DiskFree(dataDir); err == nil && free < uint64(st.Size())*2 {
			disk.OK, disk.Answer = false, disk.Answer+fmt.Sprintf("，不够升级：升级前要先复制数据库（%d MB），请先腾出空间", st.Size()>>20)
		}
	}
	add(disk)
	if db != nil {
		add(checkStations(ctx, db, time.Now()))
		db.Close()
	}
	add(checkCertificate(filepath.Join(dataDir, "tls", "server.pem"), time.Now()))
	return cli.ExitStatus(installer.Report(stdout, checks))
}

// checkCountyDatabase opens the county database read-only, runs SQLite's
// quick check (a county's database can be gigabytes; integrity_check also
// compares every index with its table, which takes minutes there) and
// names the upgrades its next start will make. The open database is
// returned for the checks that follow, or nil.
func checkCountyDatabase(ctx context.Context, path string) (*sql.DB, installer.Check, []string) {
	c := installer.Check{Name: "数据库"}
	if _, err := os.Stat(path); err != nil {
		c.OK, c.Warn, c.Answer = true, true, "还没有数据库（服务器第一次启动时创建）："+path
		return nil, c, nil
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		c.Answer = err.Error()
		return nil, c, nil
	}
	var res string
	if err := db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&res); err != nil {
		db.Close()
		c.Answer = "无法读取：" + err.Error()
		return nil, c, nil
	}
	if res != "ok" {
		db.Close()
		c.Answer = "数据库损坏：" + res + "；请停止服务器，保留数据目录，从备份恢复或联系技术支持"
		return nil, c, nil
	}
	applied := map[string]bool{}
	if rows, err := db.QueryContext(ctx, `SELECT name FROM schema_migrations`); err == nil {
		for rows.Next() {
			var n string
			if rows.Scan(&n) == nil {
				applied[n] = true
			}
		}
		rows.Close()
	}
	var pending []string
	for _, n := range server.SchemaMigrations() {
		if !applied[n] {
			pending = append(pending, n)
		}
	}
	var persons, visits int
	db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM persons), (SELECT count(*) FROM visits)`).Scan(&persons, &visits)
	c.OK = true
	c.Answer = fmt.Sprintf("完好（%s），%d 名关爱对象，%d 次走访", path, persons, visits)
	if len(pending) > 0 {
		c.Warn = true
		c.Answer += fmt.Sprintf("；下次启动时升级 %d 步（%s），先自动备份，大的数据库需要几十秒", len(pending), strings.Join(pending, "、"))
	}
	return db, c, pending
}

// checkPostgresDatabase connects to the county's PostgreSQL database in
// read-only transactions (doctor changes nothing, and does not upgrade),
// names the server's version and compares the migrations the database has
// applied with this build's. The open database is returned for the checks
// that follow, or nil. The password is never shown.
func checkPostgresDatabase(ctx context.Context, url string) (*sql.DB, installer.Check) {
	c := installer.Check{Name: "数据库"}
	where := pgdb.Redact(url)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		c.Answer = "PostgreSQL 地址无效（" + where + "）：" + hidePassword(err.Error(), url)
		return nil, c
	}
	cfg.RuntimeParams["default_transaction_read_only"] = "on"
	db := stdlib.OpenDB(*cfg)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var version string
	if err := db.QueryRowContext(pctx, `SHOW server_version`).Scan(&version); err != nil {
		db.Close()
		c.Answer = "无法连接 PostgreSQL（" + where + "）：" + hidePassword(err.Error(), url) + "；检查数据库是否运行、地址、用户名和密码，以及 pg_hba.conf 是否允许这台电脑连接"
		return nil, c
	}
	c.Answer = "PostgreSQL " + version + "（" + where + "）"
	var table sql.NullString
	if err := db.QueryRowContext(pctx, `SELECT CAST(to_regclass('schema_migrations') AS text)`).Scan(&table); err != nil {
		db.Close()
		c.Answer += "，无法读取：" + hidePassword(err.Error(), url)
		return nil, c
	}
	if !table.Valid {
		db.Close()
		c.OK, c.Warn = true, true
		c.Answer += "：还没有县里的表（服务器第一次启动时创建，或用 county-server migrate-db 从 SQLite 迁入）"
		return nil, c
	}
	applied, err := pgdb.Applied(pctx, db)
	if err != nil {
		db.Close()
		c.Answer += "，无法读取迁移记录：" + hidePassword(err.Error(), url)
		return nil, c
	}
	known, _ := fs.Glob(server.PostgresMigrationFS(), "*.sql")
	var pending, unknown []string
	for _, n := range known {
		if !slices.Contains(applied, n) {
			pending = append(pending, n)
		}
	}
	for _, n := range applied {
		if !slices.Contains(known, n) {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		db.Close()
		c.Answer += fmt.Sprintf("：数据库已由更新版本的服务器升级（%s），这个版本不能使用它；请安装新版本", strings.Join(unknown, "、"))
		return nil, c
	}
	var persons, visits int
	if err := db.QueryRowContext(pctx, `SELECT (SELECT count(*) FROM persons), (SELECT count(*) FROM visits)`).Scan(&persons, &visits); err != nil {
		db.Close()
		c.Answer += "，无法读取：" + hidePassword(err.Error(), url)
		return nil, c
	}
	c.OK = true
	if len(pending) == 0 {
		c.Answer += fmt.Sprintf("，已应用全部 %d 个迁移，%d 名关爱对象，%d 次走访", len(known), persons, visits)
	} else {
		c.Warn = true
		c.Answer += fmt.Sprintf("，%d 名关爱对象，%d 次走访；下次启动时升级 %d 步（%s）", persons, visits, len(pending), strings.Join(pending, "、"))
	}
	return db, c
}

// hidePassword takes url's password out of a message, in case a driver's
// error quotes the address it was given.
func hidePassword(msg, url string) string {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil || cfg.Password == "" {
		return msg
	}
	return strings.ReplaceAll(msg, cfg.Password, "***")
}

// checkStations counts the enrolled stations and names those not heard
// from for a week.
func checkStations(ctx context.Context, db *sql.DB, now time.Time) installer.Check {
	c := installer.Check{Name: "村站"}
	rows, err := db.QueryContext(ctx, `SELECT village, coalesce(last_contact_at, 0) FROM stations WHERE revoked_at IS NULL ORDER BY village`)
	if err != nil {
		c.Answer = "无法读取：" + err.Error()
		return c
	}
	defer rows.Close()
	var n int
	var silent []string
	for rows.Next() {
		var village string
		var last int64
		if err := rows.Scan(&village, &last); err != nil {
			c.Answer = "无法读取：" + err.Error()
			return c
		}
		n++
		if now.Sub(time.UnixMilli(last)) > silentAfter {
			silent = append(silent, village)
		}
	}
	if err := rows.Err(); err != nil {
		c.Answer = "无法读取：" + err.Error()
		return c
	}
	c.OK = true
	switch {
	case n == 0:
		c.Warn, c.Answer = true, "还没有村站注册；用 county-server station add --village 村代码 生成注册码"
	case len(silent) == 0:
		c.Answer = fmt.Sprintf("%d 个村站，一周内都有联系", n)
	default:
		c.Warn = true
		list := silent
		if len(list) > 10 {
			list = append(list[:10:10], "…")
		}
		c.Answer = fmt.Sprintf("%d 个村站，其中 %d 个超过一周没有联系（%s）；可在「站点」页面查看", n, len(silent), strings.Join(list, "、"))
	}
	return c
}

// checkCertificate reads the certificate the county's own CA made for it
// (serve renews it by itself; an operator's certificate given with
// --tls-cert is the operator's to watch).
func checkCertificate(path string, now time.Time) installer.Check {
	c := installer.Check{Name: "证书"}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		c.OK, c.Answer = true, "没有自建证书（只在本机监听，或使用 --tls-cert 指定的证书，其有效期请自行留意）"
		return c
	}
	if err != nil {
		c.Answer = "无法读取 " + path + "：" + err.Error()
		return c
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		c.Answer = path + " 不是证书文件；删除后重启服务器会重新生成"
		return c
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		c.Answer = path + " 无法解析：" + err.Error() + "；删除后重启服务器会重新生成"
		return c
	}
	days := int(cert.NotAfter.Sub(now).Hours() / 24)
	switch {
	case days < 0:
		c.Answer = fmt.Sprintf("证书已于 %s 过期；重启服务器会自动续期", cert.NotAfter.Format("2006-01-02"))
	case days < 30:
		c.OK, c.Warn, c.Answer = true, true, fmt.Sprintf("证书 %d 天后过期（%s）；运行中的服务器会自动续期", days, cert.NotAfter.Format("2006-01-02"))
	default:
		names := slices.Clone(cert.DNSNames)
		for _, ip := range cert.IPAddresses {
			names = append(names, ip.String())
		}
		c.OK, c.Answer = true, fmt.Sprintf("有效期到 %s（%s）", cert.NotAfter.Format("2006-01-02"), strings.Join(names, "、"))
	}
	return c
}

// probeAddress asks the server's /healthz at its listen address (on this
// machine, when it listens on every address): over TLS with the county's
// own CA when it has one, else over plain HTTP.
func probeAddress(ctx context.Context, dataDir, listen string) installer.Check {
	c := installer.Check{Name: "服务地址"}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		c.Answer = fmt.Sprintf("监听地址 %q 无效：%v", listen, err)
		return c
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, port)
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if b, err := os.ReadFile(filepath.Join(dataDir, "tls", "ca.pem")); err == nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(b)
		cfg.RootCAs = pool
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	var errs []string
	for _, scheme := range []string{"https", "http"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+"/healthz", nil)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		resp, err := client.Do(req)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			c.OK, c.Answer = true, scheme+"://"+addr+" 可以连接"
			return c
		}
		errs = append(errs, resp.Status)
	}
	c.Answer = fmt.Sprintf("%s 无法连接（%s）：服务器没有运行，或监听的是别的地址（用 --listen 指定）", addr, strings.Join(errs, "；"))
	return c
}
