package cli

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// The command lines read LOG_LEVEL as the services do: "warning" is warn
// (it used to mean info here and warn in the services), and a name nobody
// knows is info with a line saying it was ignored.
func TestLoggerLevel(t *testing.T) {
	for _, tc := range []struct {
		env               string
		info, warn, noted bool
	}{
		{"", true, true, false},
		{"warning", false, true, false},
		{"WARN", false, true, false},
		{"error", false, false, false},
		{"loud", true, true, true},
	} {
		t.Setenv("LOG_LEVEL", tc.env)
		var b bytes.Buffer
		l := Logger(&b)
		l.Info("an info")
		l.Warn("a warning")
		out := b.String()
		if strings.Contains(out, "an info") != tc.info || strings.Contains(out, "a warning") != tc.warn ||
			strings.Contains(out, "log level ignored") != tc.noted {
			t.Errorf("LOG_LEVEL=%q: %q", tc.env, out)
		}
	}
}

func TestFail(t *testing.T) {
	var b bytes.Buffer
	if code := Fail(&b, errors.New("磁盘已满")); code != 1 || b.String() != "错误: 磁盘已满\n" {
		t.Fatalf("exit %d, %q", code, b.String())
	}
}

// A command's error becomes the process's exit status in one place: usage
// 2 with nothing more printed, an ExitStatus as given, anything else 1 and
// printed once.
func TestExit(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   int
		stderr string
	}{
		{nil, 0, ""},
		{ErrUsage, 2, ""},
		{fmt.Errorf("flags: %w", ErrUsage), 2, ""},
		{ExitStatus(1), 1, ""},
		{ExitStatus(3), 3, ""},
		{errors.New("连不上"), 1, "错误: 连不上\n"},
	} {
		var b bytes.Buffer
		if code := Exit(&b, tc.err); code != tc.code || b.String() != tc.stderr {
			t.Errorf("%v: exit %d, %q", tc.err, code, b.String())
		}
	}
}
