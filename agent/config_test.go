package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantField string // "" means valid
		check     func(FileConfig) bool
	}{
		{name: "defaults", in: `{}`, check: func(c FileConfig) bool { return c == DefaultConfig() }},
		{name: "all fields", in: `{"server":"https://county.example:8870","sync_interval":"30s","log_level":"debug","log_max_size_mb":2,"log_max_files":3}`,
			check: func(c FileConfig) bool {
				return time.Duration(c.SyncInterval) == 30*time.Second && c.LogLevel == "debug"
			}},
		{name: "typo", in: `{"sync_intervall":"30s"}`, wantField: "sync_intervall"},
		{name: "not a duration", in: `{"sync_interval":"often"}`, wantField: "(file)"},
		{name: "number for duration", in: `{"sync_interval":30}`, wantField: "(file)"},
		{name: "interval too short", in: `{"sync_interval":"1s"}`, wantField: "sync_interval"},
		{name: "bad level", in: `{"log_level":"loud"}`, wantField: "log_level"},
		{name: "bad server scheme", in: `{"server":"county.example:8870"}`, wantField: "server"},
		{name: "wrong type", in: `{"log_max_files":"five"}`, wantField: "log_max_files"},
		{name: "log size zero", in: `{"log_max_size_mb":0}`, wantField: "log_max_size_mb"},
		{name: "trailing text", in: `{} {}`, wantField: "(file)"},
		{name: "broken JSON", in: `{"log_level":`, wantField: "(file)"},
		{name: "empty", in: ``, wantField: "(file)"},
		{name: "time zone", in: `{"timezone":"Asia/Urumqi"}`, check: func(c FileConfig) bool { return c.Timezone == "Asia/Urumqi" }},
		{name: "unknown time zone", in: `{"timezone":"Asia/Beijing"}`, wantField: "timezone"},
		{name: "machine's zone", in: `{"timezone":"Local"}`, wantField: "timezone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig(strings.NewReader(tc.in))
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if !tc.check(c) {
					t.Fatalf("config = %+v", c)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a ConfigError", err)
			}
			if got, want := ce.Field, tc.wantField; got != want {
				t.Fatalf("field = %q, want %q (err %v)", got, want, err)
			}
		})
	}
}

func TestConfigFileRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", ConfigFileName)
	if c, err := ReadConfigFile(p); err != nil || c != DefaultConfig() {
		t.Fatalf("missing file: %+v, %v", c, err)
	}
	want := DefaultConfig()
	want.Server = "http://127.0.0.1:8870"
	if err := WriteConfigFile(p, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadConfigFile(p)
	if err != nil || got != want {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	bad := want
	bad.LogMaxFiles = 0
	if err := WriteConfigFile(p, bad); err == nil {
		t.Fatal("invalid config written")
	}
}

func TestIsConfigEvent(t *testing.T) {
	p := filepath.Join("data", "config.json")
	tests := []struct {
		name string
		ev   fsnotify.Event
		want bool
	}{
		{"write", fsnotify.Event{Name: p, Op: fsnotify.Write}, true},
		{"create by rename of temp", fsnotify.Event{Name: p, Op: fsnotify.Create}, true},
		{"rename", fsnotify.Event{Name: p, Op: fsnotify.Rename}, true},
		{"chmod only", fsnotify.Event{Name: p, Op: fsnotify.Chmod}, false},
		{"remove", fsnotify.Event{Name: p, Op: fsnotify.Remove}, false},
		{"editor temp file", fsnotify.Event{Name: filepath.Join("data", ".config.json.swp"), Op: fsnotify.Write}, false},
		{"database", fsnotify.Event{Name: filepath.Join("data", "station.db-wal"), Op: fsnotify.Write}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := isConfigEvent(tc.ev, p); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// An editor's atomic save (temp file renamed over) is seen, an invalid edit
// is refused with the field named and the running config stays, and a
// later valid edit applies.
func TestConfigWatcherReloads(t *testing.T) {
	oldDebounce, oldPoll := configDebounce, configPoll
	configDebounce, configPoll = 50*time.Millisecond, time.Hour
	t.Cleanup(func() { configDebounce, configPoll = oldDebounce, oldPoll })

	dir := t.TempDir()
	p := filepath.Join(dir, ConfigFileName)
	if err := WriteConfigFile(p, DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	cur, _ := os.ReadFile(p)
	applied := make(chan FileConfig, 10)
	var logs syncBuf
	w := NewConfigWatcher(p, cur, slog.New(slog.NewTextHandler(&logs, nil)), func(c FileConfig) { applied <- c })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	time.Sleep(100 * time.Millisecond) // let the watch start

	saveAtomically := func(content string) {
		tmp := filepath.Join(dir, ".config.json.tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(want time.Duration) {
		t.Helper()
		select {
		case c := <-applied:
			if time.Duration(c.SyncInterval) != want {
				t.Fatalf("applied interval %v, want %v", time.Duration(c.SyncInterval), want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no reload; log:\n%s", logs.String())
		}
	}

	saveAtomically(`{"sync_interval":"20s"}`)
	expect(20 * time.Second)

	saveAtomically(`{"sync_interval":"20s","log_levl":"debug"}`)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "log_levl") {
		if time.Now().After(deadline) {
			t.Fatalf("invalid edit not reported; log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "running configuration stays") {
		t.Fatalf("refusal not logged as an error:\n%s", logs.String())
	}
	select {
	case c := <-applied:
		t.Fatalf("invalid edit applied: %+v", c)
	default:
	}

	// In-place write (no rename), as Notepad does.
	if err := os.WriteFile(p, []byte(`{"sync_interval":"45s"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	expect(45 * time.Second)
}

func TestApplyConfigChangesIntervalAndServer(t *testing.T) {
	ctx := context.Background()
	a, err := Open(ctx, Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if got := a.syncInterval(); got != time.Minute {
		t.Fatalf("default interval %v", got)
	}
	c := DefaultConfig()
	c.SyncInterval = Duration(7 * time.Second)
	c.Server = "http://127.0.0.1:9"
	if err := a.ApplyConfig(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := a.syncInterval(); got != 7*time.Second {
		t.Fatalf("interval %v after reload", got)
	}
	// Not enrolled: the address is for enrollment, not written as the
	// station's server.
	if got := a.Store.Meta(ctx, "server_url"); got != "" {
		t.Fatalf("server_url = %q before enrolment", got)
	}
	a.Store.SetMeta(ctx, map[string]string{"station_id": "s1", "server_url": "http://old:1"})
	a.setKey(make([]byte, 64))
	if err := a.ApplyConfig(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := a.Store.Meta(ctx, "server_url"); got != c.Server {
		t.Fatalf("server_url = %q, want %q", got, c.Server)
	}
}
