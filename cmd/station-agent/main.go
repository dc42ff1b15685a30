// Command station-agent is the village station's service and its command
// line: run, enroll, status, sync, and record entry until the station's
// pages exist. Each command is a file with its runX (run.go, enroll.go,
// …); the service's install and doctor are service.go and doctor.go.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"stationsync/agent"
	"stationsync/installer"
	"stationsync/internal/cli"
)

// Version is set by the linker (-X main.Version=…).
var Version = "dev"

const usage = `station-agent — 村站通 station service

Usage:
  station-agent run      [--data DIR] [--interval 1m] [--listen 127.0.0.1:8484]       run the station service in the foreground
                         [--inbox DIR [--inbox-poll]]     import the county's answers (村站通回执-….bundle) as they appear in DIR
                         [--batch N] [--ahead auto|always|never]  changes per push (default: fit to the link);
                                                                  send a batch while the county merges the one before
  station-agent enroll   --server URL --code CODE | --file F.json [--data DIR]  enrol (kept for later if the county is unreachable)
  station-agent status   [--json] [--data DIR]              pending changes, last successful sync, last error
  station-agent sync     [--data DIR] [--batch N] [--ahead auto|always|never]  one sync round now; exit 0 when all is acknowledged
  station-agent add      --kind KIND [--id ID] [--by NAME] [--file F.json|-]  save a record (JSON object of fields)
  station-agent intent   --app ID --op submit|resubmit|withdraw [--by NAME] [--comment TEXT]
  station-agent attach   --record ID [--by NAME] FILE…       attach JPEG/PNG photos or PDF scans to a visit, application or disclosure
  station-agent export   --to DIR                            write what the county lacks to a USB stick (村站通-….bundle)
  station-agent import   FILE                                apply the county's answer from the stick (村站通回执-….bundle)
  station-agent list     --kind KIND                         print the station's records as JSON (README: JSON on the command line)
  station-agent demo     [--persons N] [--seed S]            add generated demo records
  station-agent install|uninstall|start|stop|restart|doctor|open   the service (station-agent help)
  station-agent version

KIND is person, visit, application or disclosure. DIR defaults to $STATIONSYNC_DATA or
` + "`/var/lib/stationsync/station`" + ` (%ProgramData%\stationsync\station on Windows).
`

func main() { cli.RunMain(Main) }

// env is every command's receiver: its runX methods are the commands.
type env struct{ cli.Env }

// commands are the station's commands, each in its own file.
func (e *env) commands() map[string]func(ctx context.Context, args []string) error {
	m := map[string]func(context.Context, []string) error{
		"run": e.runRun, "enroll": e.runEnroll, "status": e.runStatus, "sync": e.runSync,
		"add": e.runAdd, "intent": e.runIntent, "list": e.runList, "demo": e.runDemo,
		"doctor": e.runDoctor, "open": e.runOpen, "attach": e.runAttach,
		"export": e.runExport, "import": e.runImport,
		"version": func(context.Context, []string) error { _, err := fmt.Fprintln(e.Stdout, Version); return err },
		"help":    e.runHelp, "-h": e.runHelp, "--help": e.runHelp,
	}
	for _, name := range []string{"install", "uninstall", "start", "stop", "restart"} {
		m[name] = func(ctx context.Context, args []string) error { return e.runService(ctx, name, args) }
	}
	for name, run := range testCommands { // testhooks.go: none in a release build
		m[name] = func(_ context.Context, args []string) error {
			fs, data := e.flags(name)
			if err := cli.Parse(fs, args); err != nil {
				return err
			}
			return cli.ExitStatus(run(*data, fs.Args(), e.Stdout, e.Stderr))
		}
	}
	return m
}

// Main runs one command and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	agent.Version = Version
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	e := &env{cli.NewEnv(stdin, stdout, stderr)}
	run := e.commands()[args[0]]
	if run == nil {
		fmt.Fprintf(stderr, "未知命令 %q\n\n%s", args[0], usage)
		return 2
	}
	return cli.Exit(stderr, run(ctx, args[1:]))
}

func (e *env) runHelp(context.Context, []string) error {
	fmt.Fprint(e.Stdout, usage)
	fmt.Fprint(e.Stdout, serviceUsage)
	return nil
}

// flags is a command's flag set, with the --data every command takes.
func (e *env) flags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	return fs, fs.String("data", installer.DefaultDataDir("station"), "data directory")
}

// withAgent opens the station in dataDir with cfg, runs fn and closes it:
// fn's error comes first, then Close's.
func withAgent(ctx context.Context, dataDir string, cfg agent.Config, logger *slog.Logger, fn func(*agent.Agent) error) error {
	cfg.DataDir, cfg.Logger = dataDir, logger
	if testClock != nil { // testhooks.go, only in -tags stationsync_test builds
		now, err := testClock()
		if err != nil {
			return err
		}
		if now != nil {
			cfg.Now = now
		}
	}
	a, err := agent.Open(ctx, cfg)
	if err != nil {
		return err
	}
	err = fn(a)
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	return err
}

// pushFlags defines --batch and --ahead on fs; the returned function reads
// them after parsing (a value out of range is said on stderr: ErrUsage).
func (e *env) pushFlags(fs *flag.FlagSet) func() (batch int, ahead agent.AheadMode, err error) {
	batch := fs.Int("batch", 0, "changes per push (default: fitted to the link)")
	ahead := fs.String("ahead", "auto", "send the next batch while the county merges one: auto (on a fast link), always, never")
	return func() (int, agent.AheadMode, error) {
		mode, ok := map[string]agent.AheadMode{"auto": agent.AheadOnFastLink, "always": agent.AheadAlways, "never": agent.AheadNever}[*ahead]
		if !ok || *batch < 0 {
			fmt.Fprintln(e.Stderr, "--ahead 只能是 auto、always 或 never，--batch 须为正整数（每次上传的条数）")
			return 0, 0, cli.ErrUsage
		}
		return *batch, mode, nil
	}
}
