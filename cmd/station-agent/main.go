// Command station-agent is the village station's service and its command
// line: run, enroll, status, sync, and record entry until the station's
// pages exist.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"stationsync/agent"
	"stationsync/installer"
	"stationsync/internal/cli"
	"stationsync/internal/gen"
	"stationsync/internal/logging"
	"stationsync/internal/records"
	"stationsync/syncproto"
)

// Version is set by the linker (-X main.Version=…).
var Version = "dev"

const usage = `station-agent — 村站通 station service

Usage:
  station-agent run      [--data DIR] [--interval 1m] [--listen 127.0.0.1:8484]       run the station service in the foreground
                         [--batch N] [--ahead auto|always|never]  changes per push (default: fit to the link);
                                                                  send a batch while the county merges the one before
  station-agent enroll   --server URL --code CODE | --file F.json [--data DIR]  enrol (kept for later if the county is unreachable)
  station-agent status   [--json] [--data DIR]              pending changes, last successful sync, last error
  station-agent sync     [--data DIR] [--batch N] [--ahead auto|always|never]  one sync round now; exit 0 when all is acknowledged
  station-agent add      --kind KIND [--id ID] [--by NAME] [--file F.json|-]  save a record (JSON object of fields)
  station-agent intent   --app ID --op submit|resubmit|withdraw [--by NAME] [--comment TEXT]
  station-agent list     --kind KIND                         print the station's records as JSON (README: JSON on the command line)
  station-agent demo     [--persons N] [--seed S]            add generated demo records
  station-agent install|uninstall|start|stop|restart|doctor|open   the service (station-agent help)
  station-agent version

KIND is person, visit, application or disclosure. DIR defaults to $STATIONSYNC_DATA or
` + "`/var/lib/stationsync/station`" + ` (%ProgramData%\stationsync\station on Windows).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Main runs one command and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	agent.Version = Version
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", installer.DefaultDataDir("station"), "data directory")
	logger := cli.Logger(stderr)
	openAgent := func(cfg agent.Config) (*agent.Agent, error) {
		cfg.DataDir, cfg.Logger = *data, logger
		if testClock != nil { // testhooks.go, only in -tags stationsync_test builds
			now, err := testClock()
			if err != nil {
				return nil, err
			}
			if now != nil {
				cfg.Now = now
			}
		}
		return agent.Open(ctx, cfg)
	}
	switch cmd {
	case "install", "uninstall", "start", "stop", "restart", "doctor", "open":
		return serviceCommand(ctx, cmd, args, stdout, stderr) // service.go
	case "version":
		fmt.Fprintln(stdout, Version)
		return 0
	case "run":
		interval := fs.Duration("interval", time.Minute, "time between sync rounds when all is well (default: config.json's sync_interval)")
		asService := fs.Bool("service", false, "run under the service manager (what install, the MSI and the .deb register)")
		listen := fs.String("listen", defaultListen, "address of the station's pages (this PC only by default)")
		pushing := pushFlags(fs)
		if fs.Parse(args) != nil {
			return 2
		}
		batch, aheadMode, ok := pushing(stderr)
		if !ok {
			return 2
		}
		// config.json, the rotated log and the service manager: service.go.
		return runStation(ctx, *data, *asService, stderr,
			func(ctx context.Context, fc agent.FileConfig, lv *slog.LevelVar, l *slog.Logger) error {
				logger = l
				fs.Visit(func(f *flag.Flag) {
					if f.Name == "interval" {
						fc.SyncInterval = agent.Duration(*interval)
					}
				})
				a, err := openAgent(agent.Config{SyncInterval: time.Duration(fc.SyncInterval), BatchSize: batch, Ahead: aheadMode})
				if err != nil {
					return err
				}
				defer a.Close()
				if err := a.ApplyConfig(ctx, fc); err != nil {
					return err
				}
				if stopPages, err := servePages(ctx, a, *listen, *data, logger); err != nil {
					logger.Error("station pages not served", "err", err)
				} else {
					defer stopPages() // before the store closes
				}
				// Each valid edit of config.json applies, the log level
				// here, the rest in the agent, until a.Close.
				if err := a.WatchConfig(installer.ConfigPath(*data), func(c agent.FileConfig) {
					if l, err := logging.ParseLevel(c.LogLevel); err == nil {
						lv.Set(l)
					}
				}); err != nil {
					return err
				}
				a.Nudge()
				return a.Run(ctx)
			})
	case "enroll":
		server := fs.String("server", "", "county server URL, e.g. http://county.example:8870")
		code := fs.String("code", "", "one-time enrolment code from the county")
		file := fs.String("file", "", "enrolment file exported by the county (instead of --server and --code)")
		yes := fs.Bool("yes", false, "records made before enrolment go up at once, without the confirmation in the station pages")
		if fs.Parse(args) != nil {
			return 2
		}
		if *file != "" {
			ef, err := readEnrolFile(*file)
			if err != nil {
				return cli.Fail(stderr, err)
			}
			*server, *code = ef.Server, ef.Code
		}
		if *server == "" || *code == "" {
			fmt.Fprintln(stderr, "需要 --server 和 --code，或 --file 注册文件")
			return 2
		}
		a, err := openAgent(agent.Config{})
		if err != nil {
			return cli.Fail(stderr, err)
		}
		defer a.Close()
		return enrolNowOrLater(ctx, a, *server, *code, *yes, stdout, stderr)
	case "status":
		asJSON := fs.Bool("json", false, "print JSON")
		if fs.Parse(args) != nil {
			return 2
		}
		a, err := openAgent(agent.Config{})
		if err != nil {
			return cli.Fail(stderr, err)
		}
		defer a.Close()
		st, err := a.Status(ctx)
		if err != nil {
			return cli.Fail(stderr, err)
		}
		if *asJSON {
			cli.PrintJSON(stdout, statusOut(st)) // list.go
			return 0
		}
		printServiceState(stdout, *data) // service.go
		printStatus(stdout, st)
		return 0
	case "sync":
		pushing := pushFlags(fs)
		if fs.Parse(args) != nil {
			return 2
		}
		batch, aheadMode, ok := pushing(stderr)
		if !ok {
			return 2
		}
		a, err := openAgent(agent.Config{BatchSize: batch, Ahead: aheadMode})
		if err != nil {
			return cli.Fail(stderr, err)
		}
		defer a.Close()
		res, err := a.SyncOnce(ctx)
		if err != nil {
			return cli.Fail(stderr, explain(err))
		}
		fmt.Fprintf(stdout, "同步完成：上传 %d 条（被退回 %d 条），下载 %d 条\n", res.Pushed, res.Rejected, res.Pulled)
		if n, _ := a.Store.Pending(ctx); n > 0 {
			fmt.Fprintf(stdout, "仍有 %d 条待上传\n", n)
			return 1
		}
		return 0
	case "add":
		kind := fs.String("kind", "", "person, visit, application or disclosure")
		id := fs.String("id", "", "record id, to edit an existing record")
		by := fs.String("by", "", "who records it")
		file := fs.String("file", "-", "JSON object of fields; - reads standard input")
		if fs.Parse(args) != nil {
			return 2
		}
		var r io.Reader = stdin
		if *file != "-" {
			f, err := os.Open(*file)
			if err != nil {
				return cli.Fail(stderr, err)
			}
			defer f.Close()
			r = f
		}
		var fields records.Fields
		dec := json.NewDecoder(io.LimitReader(r, 1<<20))
		if err := dec.Decode(&fields); err != nil {
			return cli.Fail(stderr, fmt.Errorf("读取记录内容失败（应为 JSON 对象）: %w", err))
		}
		a, err := openAgent(agent.Config{})
		if err != nil {
			return cli.Fail(stderr, err)
		}
		defer a.Close()
		rid, err := a.Store.Save(ctx, records.Kind(*kind), *id, fields, *by)
		if err != nil {
			return cli.Fail(stderr, err)
		}
		fmt.Fprintln(stdout, rid)
		return 0
	case "intent":
		app := fs.String("app", "", "application id")
		op := fs.String("op", "", "submit, resubmit or withdraw")
		by := fs.String("by", "", "who asks")
		comment := fs.String("comment", "", "comment")
		if fs.Parse(args) != nil {
			return 2
		}
		a, err := openAgent(agent.Config{})
		if err != nil {
			return cli.Fail(stderr, err)
		}
		defer a.Close()
		if err := a.Store.Intent(ctx, *app, records.Op(*op), *comment, *by); err != nil {
			return cli.Fail(stderr, err)
		}
		return 0
	case "list":
		kind := fs.String("kind", "", "person, visit, application or disclosure")
		if fs.Parse(args) != nil {
			return 2
		}
		a, err := openAgent(agent.Config{})
		if err != nil {
			return cli.Fail(stderr, err)
		}
		defer a.Close()
		if err := printList(ctx, a, records.Kind(*kind), stdout); err != nil { // list.go
			return cli.Fail(stderr, err)
		}
		return 0
	case "demo":
		persons := fs.Int("persons", 5, "persons to add, each with two visits")
		seed := fs.Int64("seed", 1, "generator seed")
		by := fs.String("by", "村干部", "who records them")
		if fs.Parse(args) != nil {
			return 2
		}
		a, err := openAgent(agent.Config{})
		if err != nil {
			return cli.Fail(stderr, err)
		}
		defer a.Close()
		n, err := addDemo(ctx, a, *seed, *persons, *by)
		if err != nil {
			return cli.Fail(stderr, err)
		}
		fmt.Fprintf(stdout, "已添加演示记录 %d 条\n", n)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		fmt.Fprint(stdout, serviceUsage)
		return 0
	}
	if run := testCommands[cmd]; run != nil { // testhooks.go
		if fs.Parse(args) != nil {
			return 2
		}
		return run(*data, fs.Args(), stdout, stderr)
	}
	fmt.Fprintf(stderr, "未知命令 %q\n\n%s", cmd, usage)
	return 2
}

func addDemo(ctx context.Context, a *agent.Agent, seed int64, n int, by string) (int, error) {
	g := gen.New(seed)
	village := a.Store.Meta(ctx, "village")
	if village == "" {
		village = "340123101201"
	}
	added := 0
	for i := 0; i < n; i++ {
		p := g.Person(village)
		pid, err := a.Store.Save(ctx, records.Person, "", toFields(p), by)
		if err != nil {
			return added, err
		}
		added++
		for j := 0; j < 2; j++ {
			v := g.Visit(pid, time.Now().AddDate(0, 0, -30*j))
			if _, err := a.Store.Save(ctx, records.Visit, "", toFields(v), by); err != nil {
				return added, err
			}
			added++
		}
		if i%2 == 0 {
			if _, err := a.Store.Save(ctx, records.Application, "", toFields(g.Application(pid, p)), by); err != nil {
				return added, err
			}
			added++
		}
	}
	if _, err := a.Store.Save(ctx, records.Disclosure, "", toFields(g.Disclosure("")), by); err != nil {
		return added, err
	}
	return added + 1, nil
}

func toFields(m map[string]any) records.Fields {
	out := records.Fields{}
	for k, v := range m {
		b, _ := json.Marshal(v)
		out[k] = b
	}
	return out
}

// printEnrolment says which county the station enrolled with, by name
// and code, and whether records wait for a person to confirm it.
func printEnrolment(w io.Writer, e *agent.Enrolment) {
	if e == nil {
		return
	}
	fmt.Fprintf(w, "注册成功：站点 %s\n县级服务器：%s（%s），地址 %s\n村：%s（%s）\n", e.StationID, orCode(e.CountyName, "未命名的县"), e.County, e.Server, orCode(e.VillageName, "未命名的村"), e.Village)
	if e.Unconfirmed {
		fmt.Fprintf(w, "本站注册前录入的 %d 条记录暂不上传：请在站点页面「站点注册」核对上面的县级服务器后点「确认」（或重新运行本命令并加 --yes）。\n", e.Records)
	}
}

func orCode(name, none string) string {
	if name == "" {
		return none
	}
	return name
}

func printStatus(w io.Writer, st agent.Status) {
	if !st.Enrolled {
		fmt.Fprintln(w, "站点：尚未注册（可以先离线录入，联网后再完成注册）")
	} else {
		fmt.Fprintf(w, "站点：%s（村代码 %s）\n县级服务器：%s\n", st.StationID, st.Village, st.Server)
		if st.Unconfirmed {
			fmt.Fprintf(w, "注册待确认：%s（%s）。请在站点页面「站点注册」核对后确认，之前录入的记录确认后才会上传\n", orCode(st.CountyName, "未命名的县"), st.County)
		}
	}
	fmt.Fprintf(w, "待上传：%d 条\n", st.Pending)
	if st.StorageError != "" {
		fmt.Fprintf(w, "磁盘问题：%s\n", st.StorageError)
	}
	if st.LastOK != "" {
		fmt.Fprintf(w, "上次成功同步：%s\n", st.LastOK)
	} else {
		fmt.Fprintln(w, "上次成功同步：从未")
	}
	if st.LastError != "" {
		fmt.Fprintf(w, "最近的错误：%s\n", st.LastError)
	}
	if st.Rejected > 0 {
		fmt.Fprintf(w, "被县里退回的修改：%d 条，需要修正\n", st.Rejected)
	}
	if st.Conflicts > 0 {
		fmt.Fprintf(w, "冲突记录：%d 条\n", st.Conflicts)
	}
	fmt.Fprintf(w, "与县里的时钟差：%d 毫秒\n", st.ClockOffsetMs)
}

// enrolNowOrLater enrols, or, when the county cannot be reached, keeps the
// enrolment for the service to complete once the link works: install day
// often has no network, and records may be entered meanwhile.
func enrolNowOrLater(ctx context.Context, a *agent.Agent, server, code string, yes bool, stdout, stderr io.Writer) int {
	if e := a.Enrolment(ctx); e != nil && e.Unconfirmed && yes {
		// Enrolled before, the county's name printed then: --yes confirms it.
		if err := a.ConfirmEnrolment(ctx); err != nil {
			return cli.Fail(stderr, err)
		}
		fmt.Fprintf(stdout, "已确认县级服务器 %s（%s）：之前录入的记录将由站点服务上传\n", orCode(e.CountyName, "未命名的县"), e.County)
		return 0
	}
	_, err := a.Enroll(ctx, server, code)
	var pe *syncproto.Error
	switch {
	case err == nil:
		printEnrolment(stdout, a.Enrolment(ctx))
		if e := a.Enrolment(ctx); e != nil && e.Unconfirmed && yes {
			if err := a.ConfirmEnrolment(ctx); err != nil {
				return cli.Fail(stderr, err)
			}
			fmt.Fprintln(stdout, "已确认（--yes）：之前录入的记录将由站点服务上传")
		}
		return 0
	case errors.As(err, &pe), errors.Is(err, context.Canceled):
		return cli.Fail(stderr, explain(err))
	}
	if kerr := a.EnrolLater(ctx, server, code); kerr != nil {
		return cli.Fail(stderr, kerr)
	}
	fmt.Fprintf(stdout, "暂时连不上县级服务器（%v）。注册信息已保存，联网后站点服务会自动完成注册；可以先离线录入。\n", err)
	return 0
}

func readEnrolFile(path string) (*syncproto.EnrolFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("打开注册文件: %w", err)
	}
	defer f.Close()
	return syncproto.ReadEnrolFile(f)
}

// explain turns a sync error into a sentence a cadre can act on.
func explain(err error) error {
	var pe *syncproto.Error
	if errors.As(err, &pe) {
		return fmt.Errorf("%s（%s）", pe.Message, pe.Code)
	}
	if syncproto.IsVersionMismatch(err) {
		return fmt.Errorf("村站通版本与县级服务器不兼容，请升级: %w", err)
	}
	if errors.Is(err, agent.ErrNotEnrolled) || errors.Is(err, agent.ErrUnconfirmed) {
		return err
	}
	return fmt.Errorf("无法连接县级服务器，请检查网络，联网后会自动重试: %w", err)
}

// pushFlags defines --batch and --ahead on fs; the returned function reads
// them after parsing (ok false: a value out of range, said on stderr).
func pushFlags(fs *flag.FlagSet) func(stderr io.Writer) (batch int, ahead agent.AheadMode, ok bool) {
	batch := fs.Int("batch", 0, "changes per push (default: fitted to the link)")
	ahead := fs.String("ahead", "auto", "send the next batch while the county merges one: auto (on a fast link), always, never")
	return func(stderr io.Writer) (int, agent.AheadMode, bool) {
		mode, ok := map[string]agent.AheadMode{"auto": agent.AheadOnFastLink, "always": agent.AheadAlways, "never": agent.AheadNever}[*ahead]
		if !ok || *batch < 0 {
			fmt.Fprintln(stderr, "--ahead 只能是 auto、always 或 never，--batch 须为正整数（每次上传的条数）")
			return 0, 0, false
		}
		return *batch, mode, true
	}
}
