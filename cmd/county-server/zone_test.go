package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"stationsync/internal/zone"
)

// A zone that does not exist stops serve before it starts, saying what to
// write; an environment that names one is refused the same way.
func TestTimezoneFlagRefusesUnknownZones(t *testing.T) {
	t.Cleanup(func() { zone.Set("") })
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"serve", "--data", dir, "--timezone", "Asia/Beijing"}, strings.NewReader(""), &out, &errb); code == 0 || !strings.Contains(errb.String(), "--timezone 应为时区名，例如 Asia/Shanghai") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("serve with a bad zone wrote %v", m)
	}
	t.Setenv("STATIONSYNC_TIMEZONE", "Local")
	errb.Reset()
	if code := Main(context.Background(), []string{"station", "list", "--data", dir}, strings.NewReader(""), &out, &errb); code == 0 || !strings.Contains(errb.String(), "STATIONSYNC_TIMEZONE") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
	t.Setenv("STATIONSYNC_TIMEZONE", "Asia/Urumqi")
	if code := Main(context.Background(), []string{"station", "list", "--data", dir}, strings.NewReader(""), &out, &errb); code != 0 || zone.Name() != "Asia/Urumqi" {
		t.Errorf("exit %d, zone %s: %s", code, zone.Name(), errb.String())
	}
}
