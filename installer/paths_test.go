package installer

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestDefaultDataDir(t *testing.T) {
	t.Setenv("STATIONSYNC_DATA", "")
	got := DefaultDataDir("station")
	if !filepath.IsAbs(got) {
		t.Fatalf("DefaultDataDir = %q: relative paths resolve against System32 in a Windows service", got)
	}
	want := "/var/lib/stationsync/station"
	if runtime.GOOS == "windows" {
		want = `\stationsync\station`
	}
	if !strings.HasSuffix(got, want) {
		t.Fatalf("DefaultDataDir = %q, want …%s", got, want)
	}
	t.Setenv("STATIONSYNC_DATA", "/srv/x")
	if got := DefaultDataDir("station"); got != "/srv/x" {
		t.Fatalf("STATIONSYNC_DATA ignored: %q", got)
	}
}

func TestFilesInDataDir(t *testing.T) {
	d := filepath.Join("/", "data")
	if got, want := ConfigPath(d), filepath.Join(d, "config.json"); got != want {
		t.Errorf("ConfigPath = %q, want %q", got, want)
	}
	if got, want := LogPath(d, "station-agent"), filepath.Join(d, "station-agent.log"); got != want {
		t.Errorf("LogPath = %q, want %q", got, want)
	}
}

func TestExecutableIsAbsolute(t *testing.T) {
	p, err := Executable()
	if err != nil || !filepath.IsAbs(p) {
		t.Fatalf("Executable = %q, %v", p, err)
	}
}
