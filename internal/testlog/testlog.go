// Package testlog holds slog handlers for tests. Only tests import it, so
// nothing here ships in the station or county binaries.
package testlog

import (
	"context"
	"log/slog"
	"strings"
	"sync"
)

// Errors keeps every record at error level or above as one line (message
// then key=value attributes): a page that logs an error failed, whatever
// status it answered.
type Errors struct {
	mu   sync.Mutex
	recs []string
}

var _ slog.Handler = (*Errors)(nil)

// Enabled reports whether lv is error or above.
func (l *Errors) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelError }

// Handle keeps r.
func (l *Errors) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	l.mu.Lock()
	l.recs = append(l.recs, b.String())
	l.mu.Unlock()
	return nil
}

// WithAttrs returns l: attributes added later are not kept.
func (l *Errors) WithAttrs([]slog.Attr) slog.Handler { return l }

// WithGroup returns l.
func (l *Errors) WithGroup(string) slog.Handler { return l }

// Take returns the records kept since the last Take and forgets them.
func (l *Errors) Take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.recs
	l.recs = nil
	return out
}
