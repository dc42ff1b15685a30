// Command county-server is the county's server and its operator's command
// line: serve, enrollment codes, stations, merged records and decisions.
// Each command is a file with its runX (serve.go, station.go, …).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"stationsync/installer"
	"stationsync/internal/cli"
	"stationsync/internal/fileperm"
	"stationsync/internal/pgdb"
	"stationsync/internal/zone"
	"stationsync/server"
)

// Version is set by the linker (-X main.Version=…).
var Version = "dev"

const usage = `county-server — 村站通 county server

Usage:
  county-server serve    [--data DIR] [--listen ADDR] [--county CODE] [--timezone Asia/Shanghai]   serve the station API
                         [--import-dir DIR [--import-poll]]   import villages' USB bundles as they appear in DIR
  county-server station add --village CODE [--ttl 168h]    make a one-time enrolment code
  county-server station list [--json]                      list stations and their health
  county-server station revoke ID                          refuse a station from now on
  county-server records  --kind KIND [--village CODE]      merged records as JSON
  county-server rejected [--village CODE]                  changes the merge refused, as JSON
  county-server conflicts [--village CODE]                 conflicts the merge kept, as JSON
  county-server decide   --app ID --op accept|review|approve|reject|return [--by NAME]
                         [--comment TEXT] [--amount YUAN] [--from 2006-01]
  county-server import   FILE [--out DIR]                  take a village's USB bundle; write its answer (回执) beside it
  county-server install|uninstall|start|stop|restart|status   the service (county-server help)
  county-server doctor   [--listen ADDR]                   check the server, each with a plain answer
  county-server migrate-db --from sqlite:DIR/county.db --to postgres://…   move a county's data into an empty PostgreSQL database
  county-server version

Every command takes --data DIR (default $STATIONSYNC_DATA or /var/lib/stationsync/county).
The SQLite store is county.db in that folder; commands may run beside a running server.
Every command that opens the store takes --db postgres://USER:PASSWORD@HOST:5432/NAME
(default $STATIONSYNC_DB): the store is then that PostgreSQL database, which several
county servers may share; --data still holds the county's files and keys, and must be
the same shared folder on every server. Without --db the store is SQLite, as before.
`

func main() { cli.RunMain(Main) }

// env is every command's receiver: its runX methods are the commands.
type env struct{ cli.Env }

// commands are the county's commands, each in its own file; "station"
// and "user" take a second word.
func (e *env) commands() map[string]func(ctx context.Context, args []string) error {
	m := map[string]func(context.Context, []string) error{
		"serve": e.runServe, "doctor": e.runDoctor, "decide": e.runDecide, "import": e.runImport,
		"migrate-db":  e.runMigrateDB,
		"station add": e.runStationAdd, "station list": e.runStationList, "station revoke": e.runStationRevoke,
		"user add": e.runUserAdd, "user list": e.runUserList,
		"version": func(context.Context, []string) error { _, err := fmt.Fprintln(e.Stdout, Version); return err },
		"help":    e.runHelp, "-h": e.runHelp, "--help": e.runHelp,
	}
	for _, name := range []string{"records", "rejected", "conflicts"} {
		m[name] = func(ctx context.Context, args []string) error { return e.runRecords(ctx, name, args) }
	}
	for _, name := range []string{"install", "uninstall", "start", "stop", "restart", "status"} {
		m[name] = func(ctx context.Context, args []string) error { return e.runService(ctx, name, args) }
	}
	return m
}

// Main runs one command and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	// Times are shown in one zone, the users' (internal/zone), never the
	// server's; $STATIONSYNC_TIMEZONE names another for every command.
	if err := zone.Set(os.Getenv("STATIONSYNC_TIMEZONE")); err != nil {
		return cli.Fail(stderr, fmt.Errorf("STATIONSYNC_TIMEZONE 应为时区名，例如 %s：%w", zone.Default, err))
	}
	cmd, args := args[0], args[1:]
	if (cmd == "station" || cmd == "user") && len(args) > 0 {
		cmd, args = cmd+" "+args[0], args[1:]
	}
	e := &env{cli.NewEnv(stdin, stdout, stderr)}
	run := e.commands()[cmd]
	if run == nil {
		fmt.Fprintf(stderr, "未知命令 %q\n\n%s", cmd, usage)
		return 2
	}
	return cli.Exit(stderr, run(ctx, args))
}

func (e *env) runHelp(context.Context, []string) error {
	fmt.Fprint(e.Stdout, usage)
	fmt.Fprint(e.Stdout, serviceUsage)
	fmt.Fprint(e.Stdout, webUsage)
	fmt.Fprint(e.Stdout, obsUsage)     // observe.go
	fmt.Fprint(e.Stdout, migrateUsage) // migratedb.go
	return nil
}

// storeFlags are the flags every command takes: where the store is, and
// the county it serves.
type storeFlags struct{ data, county, db string }

// envDB names the environment variable that is --db's default, so that a
// service (a systemd drop-in's Environment= line) and an operator's shell
// reach the same database without the password on every command line.
const envDB = "STATIONSYNC_DB"

// flags is a command's flag set with --data, --county and --db.
func (e *env) flags(name string) (*flag.FlagSet, *storeFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	o := &storeFlags{}
	fs.StringVar(&o.data, "data", installer.DefaultDataDir("county"), "data directory")
	fs.StringVar(&o.county, "county", "", "6-digit county code this server serves (empty: any)")
	// The default is not shown in -h: it may hold a password.
	fs.StringVar(&o.db, "db", "", "PostgreSQL database postgres://… (default $"+envDB+"; empty: SQLite county.db in --data)")
	if v := os.Getenv(envDB); v != "" {
		o.db = v
	}
	return fs, o
}

// checkDB refuses a --db that is neither empty nor a PostgreSQL URL: a
// file name there would read as "use this SQLite file", which --data
// already says.
func (o *storeFlags) checkDB() error {
	if o.db != "" && !pgdb.IsURL(o.db) {
		return fmt.Errorf("--db（或 %s）应为 PostgreSQL 地址，例如 postgres://stationsync:密码@127.0.0.1:5432/stationsync；用 SQLite 时不要设置它（数据库在 --data 目录中）", envDB)
	}
	return nil
}

// withStore opens the county's store, runs fn and closes it: fn's error
// comes first, then Close's.
func withStore(ctx context.Context, o *storeFlags, logger *slog.Logger, fn func(*server.CountyStore) error) error {
	if err := o.checkDB(); err != nil {
		return err
	}
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return err
	}
	// The county's register, its keys and logs: private, also those an
	// older release made 0644.
	if err := fileperm.Dir(o.data); err != nil {
		logger.Warn("data directory not fully private", "dir", o.data, "err", err)
	}
	st, err := server.Open(ctx, o.db, o.data, o.county)
	if err != nil {
		return err
	}
	err = fn(st)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return err
}
