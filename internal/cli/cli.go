// Package cli holds what both command-line programs share: logging set-up
// and printing.
package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Logger returns a text logger at the level named by LOG_LEVEL (debug,
// info, warn, error; default info) writing to w.
func Logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	switch strings.ToLower(os.Getenv("LOG_LEVEL")) {
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
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
