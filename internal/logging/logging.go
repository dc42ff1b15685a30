// Package logging sets up the programs' slog handlers: a size-capped,
// rotated file in the data directory (a Windows station has no journald,
// and a technician reads the file), plus the system's own log — the Windows
// Event Log, or standard error, which journald keeps on Linux — for start,
// stop and errors an operator must handle.
package logging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// ParseLevel reads debug, info, warn or error (any case; empty is info).
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q (debug, info, warn or error)", s)
}

// EnvLevel names the environment variable the command lines and the
// county's service read their log level from (the station's service reads
// config.json's log_level instead).
const EnvLevel = "LOG_LEVEL"

// LevelFromEnv is the level $LOG_LEVEL names, info when it is unset. A name
// ParseLevel does not know is info too, with the error to log: a typo must
// not keep a service from starting.
func LevelFromEnv() (slog.Level, error) {
	l, err := ParseLevel(os.Getenv(EnvLevel))
	if err != nil {
		return slog.LevelInfo, fmt.Errorf("%s: %w", EnvLevel, err)
	}
	return l, nil
}

// KeyEvent marks a record that also goes to the system log whatever its
// level: start, stop, configuration reloads.
const KeyEvent = "event"

// Event is the attribute that sends an INFO record to the system log too.
func Event() slog.Attr { return slog.Bool(KeyEvent, true) }

// System is the system log: kardianos/service's Logger satisfies it
// (Event Log on Windows), so does Stderr below.
type System interface {
	Error(v ...any) error
	Warning(v ...any) error
	Info(v ...any) error
}

// Options says where logs go.
type Options struct {
	File     string         // rotated log file; empty: none
	MaxSize  int64          // bytes before rotating; default 10 MiB
	MaxFiles int            // rotated files kept beside the current one; default 5
	Level    *slog.LevelVar // shared so a config reload can change it; default info
	// Console receives every record as text (a terminal, or standard error
	// that journald keeps); nil: none.
	Console io.Writer
	// System receives WARN and above, and records marked with Event.
	System System
	// Format is how the file and Console lines are written: text (the
	// default, for a technician reading the file) or JSON (one object a
	// line, for a log collector).
	Format Format
}

// Format is the form of log lines.
type Format string

const (
	FormatText Format = "text"
	FormatJSON Format = "json"
)

// EnvFormat names the environment variable the county's serve reads its
// log format from when --log-format is not given.
const EnvFormat = "LOG_FORMAT"

// ParseFormat reads text or json (any case; empty is text).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "text":
		return FormatText, nil
	case "json":
		return FormatJSON, nil
	}
	return "", fmt.Errorf("unknown log format %q (text or json)", s)
}

func (f Format) handler(w io.Writer, opts *slog.HandlerOptions) slog.Handler {
	if f == FormatJSON {
		o := *opts
		o.ReplaceAttr = millisecondTime
		return slog.NewJSONHandler(w, &o)
	}
	return slog.NewTextHandler(w, opts)
}

// millisecondTime writes a JSON line's time to the millisecond, as the
// text lines have it, not to the nanosecond: "19.484182672" holds eleven
// digits in a row, which the scanners that check logs for personal data
// (internal/pii) read as a mobile number.
func millisecondTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 && a.Value.Kind() == slog.KindTime {
		return slog.String(slog.TimeKey, a.Value.Time().Format("2006-01-02T15:04:05.000Z07:00"))
	}
	return a
}

// New returns a logger writing where opts says, and a Closer for the file.
func New(opts Options) (*slog.Logger, io.Closer, error) {
	if opts.Level == nil {
		opts.Level = new(slog.LevelVar)
	}
	var hs []slog.Handler
	var closer io.Closer = nopCloser{}
	if opts.File != "" {
		rf, err := OpenRotating(opts.File, opts.MaxSize, opts.MaxFiles)
		if err != nil {
			return nil, nil, err
		}
		closer = rf
		hs = append(hs, opts.Format.handler(rf, &slog.HandlerOptions{Level: opts.Level}))
	}
	if opts.Console != nil {
		hs = append(hs, opts.Format.handler(opts.Console, &slog.HandlerOptions{Level: opts.Level}))
	}
	if opts.System != nil {
		hs = append(hs, &systemHandler{sys: opts.System})
	}
	return slog.New(WithRequestIDs(fanout(hs))), closer, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// fanout sends each record to every handler that wants it.
type fanout []slog.Handler

func (f fanout) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range f {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range f {
		if h.Enabled(ctx, r.Level) {
			errs = append(errs, h.Handle(ctx, r.Clone()))
		}
	}
	return errors.Join(errs...)
}

func (f fanout) WithAttrs(as []slog.Attr) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithAttrs(as)
	}
	return out
}

func (f fanout) WithGroup(name string) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithGroup(name)
	}
	return out
}

// systemHandler forwards WARN+ and Event records as one line each.
type systemHandler struct {
	sys   System
	attrs []slog.Attr
}

func (h *systemHandler) Enabled(_ context.Context, l slog.Level) bool { return true }

func (h *systemHandler) Handle(_ context.Context, r slog.Record) error {
	event := false
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		if a.Key == KeyEvent {
			event = true
			return true
		}
		fmt.Fprintf(&b, " %s=%s", a.Key, strconv.Quote(a.Value.String()))
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	switch {
	case r.Level >= slog.LevelError:
		return h.sys.Error(b.String())
	case r.Level >= slog.LevelWarn:
		return h.sys.Warning(b.String())
	case event:
		return h.sys.Info(b.String())
	}
	return nil
}

func (h *systemHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &systemHandler{sys: h.sys, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *systemHandler) WithGroup(string) slog.Handler { return h }

// Stderr is a System that writes lines to w (on Linux, journald keeps a
// service's standard error).
type Stderr struct{ W io.Writer }

func (s Stderr) Error(v ...any) error {
	_, err := fmt.Fprintln(s.W, append([]any{"ERROR"}, v...)...)
	return err
}
func (s Stderr) Warning(v ...any) error {
	_, err := fmt.Fprintln(s.W, append([]any{"WARN"}, v...)...)
	return err
}
func (s Stderr) Info(v ...any) error {
	_, err := fmt.Fprintln(s.W, append([]any{"INFO"}, v...)...)
	return err
}

// Rotating is a log file capped at MaxSize bytes: when a write would pass
// the cap, name.log becomes name.log.1 (name.log.1 becomes .2, …) and the
// oldest beyond MaxFiles is removed, so a station's disk never fills with
// logs (syncthing LogMaxSize/LogMaxFiles).
type Rotating struct {
	path     string
	maxSize  int64
	maxFiles int

	mu   sync.Mutex
	f    *os.File
	size int64
}

// OpenRotating opens (appending) the log file at path.
func OpenRotating(path string, maxSize int64, maxFiles int) (*Rotating, error) {
	if maxSize <= 0 {
		maxSize = 10 << 20
	}
	if maxFiles <= 0 {
		maxFiles = 5
	}
	r := &Rotating{path: path, maxSize: maxSize, maxFiles: maxFiles}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("log directory: %w", err)
	}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Rotating) open() error {
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log: %w", err)
	}
	r.f, r.size = f, st.Size()
	return nil
}

// Write appends p, rotating first if p would take the file past the cap.
func (r *Rotating) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, os.ErrClosed
	}
	if r.size > 0 && r.size+int64(len(p)) > r.maxSize {
		if err := r.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

func (r *Rotating) rotate() error {
	// Windows cannot rename an open file: close first.
	r.f.Close()
	r.f = nil
	os.Remove(r.path + "." + strconv.Itoa(r.maxFiles))
	for i := r.maxFiles - 1; i >= 1; i-- {
		os.Rename(r.path+"."+strconv.Itoa(i), r.path+"."+strconv.Itoa(i+1))
	}
	if err := os.Rename(r.path, r.path+".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		// Keep logging into the same file rather than losing lines.
		if oerr := r.open(); oerr != nil {
			return oerr
		}
		r.size = 0
		return nil
	}
	return r.open()
}

// Close closes the file.
func (r *Rotating) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
