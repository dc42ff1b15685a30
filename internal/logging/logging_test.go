package logging

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRotatingCapsSizeAndCount(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "station.log")
	r, err := OpenRotating(p, 1000, 3)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("x", 99) + "\n"
	for i := 0; i < 100; i++ {
		if _, err := r.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	for _, name := range []string{"station.log", "station.log.1", "station.log.2", "station.log.3"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if st.Size() > 1000 {
			t.Errorf("%s is %d bytes, cap 1000", name, st.Size())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "station.log.4")); !os.IsNotExist(err) {
		t.Errorf("station.log.4 kept: %v", err)
	}
}

func TestRotatingAppendsAcrossOpens(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.log")
	for i := 0; i < 2; i++ {
		r, err := OpenRotating(p, 1<<20, 2)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(r, "line %d\n", i)
		r.Close()
	}
	b, _ := os.ReadFile(p)
	if got, want := string(b), "line 0\nline 1\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

type fakeSystem struct{ lines []string }

func (f *fakeSystem) Error(v ...any) error {
	f.lines = append(f.lines, "E "+fmt.Sprint(v...))
	return nil
}
func (f *fakeSystem) Warning(v ...any) error {
	f.lines = append(f.lines, "W "+fmt.Sprint(v...))
	return nil
}
func (f *fakeSystem) Info(v ...any) error {
	f.lines = append(f.lines, "I "+fmt.Sprint(v...))
	return nil
}

func TestSystemGetsEventsAndErrorsOnly(t *testing.T) {
	sys := &fakeSystem{}
	var console bytes.Buffer
	lv := new(slog.LevelVar)
	log, c, err := New(Options{File: filepath.Join(t.TempDir(), "x.log"), Console: &console, System: sys, Level: lv})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	log = log.With("subsystem", "test")
	log.Info("progress")
	log.Info("started", Event())
	log.Warn("retrying", "err", "link down")
	log.Error("disk full")
	log.Debug("hidden")
	want := []string{`I started subsystem="test"`, `W retrying subsystem="test" err="link down"`, `E disk full subsystem="test"`}
	if fmt.Sprint(sys.lines) != fmt.Sprint(want) {
		t.Fatalf("system log = %q, want %q", sys.lines, want)
	}
	if strings.Contains(console.String(), "hidden") {
		t.Fatal("debug record written at info level")
	}
	lv.Set(slog.LevelDebug)
	log.Debug("shown")
	if !strings.Contains(console.String(), "shown") {
		t.Fatal("level change not applied")
	}
}

func TestParseLevel(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want slog.Level
		ok   bool
	}{{"", slog.LevelInfo, true}, {"DEBUG", slog.LevelDebug, true}, {"warn", slog.LevelWarn, true}, {"Warning", slog.LevelWarn, true}, {" info ", slog.LevelInfo, true}, {"error", slog.LevelError, true}, {"loud", 0, false}} {
		got, err := ParseLevel(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseLevel(%q) = %v, %v", tc.in, got, err)
		}
	}
}
