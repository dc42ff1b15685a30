// Command county-server is the county's server and its operator's command
// line: serve, enrolment codes, stations, merged records and decisions.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"stationsync/installer"
	"stationsync/internal/cli"
	"stationsync/internal/fileperm"
	"stationsync/internal/records"
	"stationsync/internal/zone"
	"stationsync/server"
)

// Version is set by the linker (-X main.Version=…).
var Version = "dev"

const usage = `county-server — 村站通 county server

Usage:
  county-server serve    [--data DIR] [--listen ADDR] [--county CODE] [--timezone Asia/Shanghai]   serve the station API
  county-server station add --village CODE [--ttl 168h]    make a one-time enrolment code
  county-server station list [--json]                      list stations and their health
  county-server station revoke ID                          refuse a station from now on
  county-server records  --kind KIND [--village CODE]      merged records as JSON
  county-server rejected [--village CODE]                  changes the merge refused, as JSON
  county-server conflicts [--village CODE]                 conflicts the merge kept, as JSON
  county-server decide   --app ID --op accept|review|approve|reject|return [--by NAME]
                         [--comment TEXT] [--amount YUAN] [--from 2006-01]
  county-server install|uninstall|start|stop|restart|status   the service (county-server help)
  county-server doctor   [--listen ADDR]                   check the server, each with a plain answer
  county-server version

Every command takes --data DIR (default $STATIONSYNC_DATA or /var/lib/stationsync/county).
The SQLite store is county.db in that folder; commands may run beside a running server.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Main runs one command and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
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
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", installer.DefaultDataDir("county"), "data directory")
	county := fs.String("county", "", "6-digit county code this server serves (empty: any)")
	logger := cli.Logger(stderr)
	open := func() (*server.SQLiteStore, error) {
		if err := os.MkdirAll(*data, 0o700); err != nil {
			return nil, err
		}
		// The county's register, its keys and logs: private, also those an
		// older release made 0644.
		if err := fileperm.Dir(*data); err != nil {
			logger.Warn("data directory not fully private", "dir", *data, "err", err)
		}
		return server.OpenSQLite(ctx, filepath.Join(*data, "county.db"), *county)
	}
	switch cmd {
	case "user add", "user list":
		return userCommand(ctx, cmd, fs, args, open, os.Stdin, stdout, stderr) // web.go
	case "install", "uninstall", "start", "stop", "restart", "status":
		return serviceCommand(cmd, args, stdout, stderr) // service.go
	case "doctor":
		return doctorCommand(ctx, args, stdout, stderr) // doctor.go
	case "version":
		fmt.Fprintln(stdout, Version)
		return 0
	case "serve":
		listen := fs.String("listen", "127.0.0.1:8870", "address to listen on")
		tz := fs.String("timezone", zone.Name(), "zone every page, export and the audit log show times in (IANA name); default $STATIONSYNC_TIMEZONE or "+zone.Default)
		webFlags := addServeFlags(fs) // web.go: staff pages and TLS
		asService := fs.Bool("service", false, "run under the service manager (what install and the .deb register)")
		if fs.Parse(args) != nil {
			return 2
		}
		if err := zone.Set(*tz); err != nil {
			return cli.Fail(stderr, fmt.Errorf("--timezone 应为时区名，例如 %s：%w", zone.Default, err))
		}
		// The rotated log and the service manager: service.go.
		return serveLogged(ctx, *data, *asService, stderr, func(ctx context.Context, logger *slog.Logger) error {
			st, err := open()
			if err != nil {
				return err
			}
			defer st.Close()
			srv := server.New(st, logger)
			logger.Info("county server listening", "addr", *listen, "data", *data, "version", Version)
			err = serveCounty(ctx, srv, st, *listen, *data, webFlags, logger)
			// Its jobs end before the store closes.
			if cerr := srv.Close(); err == nil {
				err = cerr
			}
			return err
		})
	case "station add":
		village := fs.String("village", "", "12-digit village code")
		ttl := fs.Duration("ttl", 7*24*time.Hour, "how long the code stays valid")
		if fs.Parse(args) != nil {
			return 2
		}
		st, err := open()
		if err != nil {
			return cli.Fail(stderr, err)
		}
		defer st.Close()
		code, err := st.CreateCode(ctx, *village, *ttl)
		if errors.Is(err, server.ErrBadVillage) {
			return cli.Fail(stderr, fmt.Errorf("村代码应为本县的12位统计用区划代码，例如 340123101201"))
		}
		if err != nil {
			return cli.Fail(stderr, err)
		}
		st.Audit(ctx, "(命令行)", server.AuditEnrolCode, *village, "", "localhost")
		fmt.Fprintln(stdout, withPin(*data, code)) // web.go: the CA's pin, with TLS
		return 0
	case "station list":
		asJSON := fs.Bool("json", false, "print JSON")
		if fs.Parse(args) != nil {
			return 2
		}
		st, err := open()
		if err != nil {
			return cli.Fail(stderr, err)
		}
		defer st.Close()
		list, err := st.Stations(ctx)
		if err != nil {
			return cli.Fail(stderr, err)
		}
		if *asJSON {
			cli.PrintJSON(stdout, stationsOut(list)) // jsonout.go
			return 0
		}
		fmt.Fprintf(stdout, "%-20s %-13s %-8s %-20s %s\n", "站点", "村代码", "待上传", "最近联系", "状态")
		for _, s := range list {
			state, contact := "正常", "从未"
			if s.RevokedAt != nil {
				state = "已停用"
			}
			if s.LastContactAt != nil {
				contact = zone.Second(*s.LastContactAt)
			}
			fmt.Fprintf(stdout, "%-20s %-13s %-8d %-20s %s\n", s.ID, s.Village, s.Pending, contact, state)
		}
		return 0
	case "station revoke":
		if fs.Parse(args) != nil || fs.NArg() != 1 {
			fmt.Fprintln(stderr, "用法: county-server station revoke ID")
			return 2
		}
		st, err := open()
		if err != nil {
			return cli.Fail(stderr, err)
		}
		defer st.Close()
		if err := st.Revoke(ctx, fs.Arg(0)); err != nil {
			return cli.Fail(stderr, err)
		}
		st.Audit(ctx, "(命令行)", server.AuditRevoke, fs.Arg(0), "", "localhost")
		fmt.Fprintln(stdout, "已停用", fs.Arg(0))
		return 0
	case "records", "rejected", "conflicts":
		kind := fs.String("kind", "", "person, visit, application or disclosure")
		village := fs.String("village", "", "12-digit village code (empty: all)")
		if fs.Parse(args) != nil {
			return 2
		}
		st, err := open()
		if err != nil {
			return cli.Fail(stderr, err)
		}
		defer st.Close()
		var v any
		switch cmd {
		case "records": // jsonout.go: the shapes `station-agent list` prints too
			v, err = recordsOut(ctx, st, records.Kind(*kind), *village)
		case "rejected":
			v, err = rejectedOut(ctx, st, *village)
		default:
			v, err = conflictsOut(ctx, st, *village)
		}
		if err != nil {
			return cli.Fail(stderr, err)
		}
		cli.PrintJSON(stdout, v)
		return 0
	case "decide":
		app := fs.String("app", "", "application id")
		op := fs.String("op", "", "accept, review, approve, reject or return")
		by := fs.String("by", "县民政局", "who decides")
		comment := fs.String("comment", "", "reviewer comment (the reason, for reject and return)")
		amount := fs.Float64("amount", 0, "approved monthly amount in yuan")
		from := fs.String("from", "", "approved from month, 2006-01")
		if fs.Parse(args) != nil {
			return 2
		}
		st, err := open()
		if err != nil {
			return cli.Fail(stderr, err)
		}
		defer st.Close()
		err = st.Decide(ctx, server.Decision{ApplicationID: *app, Op: records.Op(*op), By: *by, Comment: *comment,
			AmountFen: int64(math.Round(*amount * 100)), FromMonth: *from})
		if err != nil {
			return cli.Fail(stderr, err)
		}
		st.Audit(ctx, "(命令行) "+*by, server.AuditDecision, "application/"+*app, *op+" "+*comment, "localhost")
		fmt.Fprintln(stdout, "已记录决定:", *op, *app, "金额(分)="+strconv.FormatInt(int64(math.Round(*amount*100)), 10))
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		fmt.Fprint(stdout, serviceUsage)
		fmt.Fprint(stdout, webUsage)
		return 0
	}
	_ = logger
	fmt.Fprintf(stderr, "未知命令 %q\n\n%s", cmd, usage)
	return 2
}
