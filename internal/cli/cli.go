// Package cli holds what both command-line programs share: logging set-up
// and printing.
package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"stationsync/internal/logging"
)

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
