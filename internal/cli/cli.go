// Package cli holds what both command-line programs share: logging set-up
// and printing.
package cli

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
	"strconv"
	"syscall"

	"stationsync/internal/logging"
)

// Env is what every command of a command line gets: the standard streams
// and the logger of a command-line run (the long-lived command makes the
// service's own, svcrun).
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Logger         *slog.Logger
}

// NewEnv is the Env of one run, its logger at $LOG_LEVEL on stderr.
func NewEnv(stdin io.Reader, stdout, stderr io.Writer) Env {
	return Env{Stdin: stdin, Stdout: stdout, Stderr: stderr, Logger: Logger(stderr)}
}

// RunMain runs a program's Main with the process's arguments and streams,
// under a context that ends at Ctrl-C or SIGTERM, and exits with its code.
func RunMain(m func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := m(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Logger returns a text logger writing to w at the level $LOG_LEVEL names
// (logging.LevelFromEnv: the one reading of it, the services' too).
func Logger(w io.Writer) *slog.Logger {
	lvl, err := logging.LevelFromEnv()
	l := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
	if err != nil {
		l.Warn("log level ignored", "err", err)
	}
	return l
}

// PrintJSON writes v as indented JSON.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// Fail prints an error for a person and returns exit code 1.
func Fail(w io.Writer, err error) int {
	fmt.Fprintln(w, "错误:", err)
	return 1
}

// ErrUsage ends a command whose flags or arguments were wrong; what was
// wrong is on standard error already. Exit status 2.
var ErrUsage = errors.New("cli: usage")

// ExitStatus ends a command with a status and nothing more to say: the
// command has printed why (sync with changes still queued, doctor with a
// failed check).
type ExitStatus int

func (s ExitStatus) Error() string { return "exit status " + strconv.Itoa(int(s)) }

// Exit is the process's exit status for what a command returned: 0 for
// nil, 2 for ErrUsage, the status of an ExitStatus, else 1 with the error
// printed by Fail. Every command's error is printed here, once.
func Exit(stderr io.Writer, err error) int {
	var st ExitStatus
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrUsage):
		return 2
	case errors.As(err, &st):
		return int(st)
	}
	return Fail(stderr, err)
}

// Parse parses a command's flags; a wrong one (said by fs on its output)
// is ErrUsage.
func Parse(fs *flag.FlagSet, args []string) error {
	if fs.Parse(args) != nil {
		return ErrUsage
	}
	return nil
}

// ParseFileArg parses flags before and after the one file argument, as a
// person types them (import FILE --data DIR); "" if there is not exactly
// one.
func ParseFileArg(fs *flag.FlagSet, args []string) (string, error) {
	if err := Parse(fs, args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", nil
	}
	file := fs.Arg(0)
	if err := Parse(fs, fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", nil
	}
	return file, nil
}
