package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testOnly are what the test suites drive in a station binary built with
// -tags stationsync_test; a release build carries none of them.
var testOnly = []string{"STATIONSYNC_TEST_MIGRATIONS_THROUGH", "STATIONSYNC_TEST_CLOCK", "x-test-config", "stationsync/internal/testclock"}

// The station binary that ships holds no test hook: no test clock, no
// hidden command, no environment that replays an older schema. The test
// build holds every one (else this test would prove nothing).
func TestReleaseBuildHasNoTestHooks(t *testing.T) {
	deps, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(deps), "stationsync/internal/testclock") {
		t.Fatal("the release build depends on internal/testclock")
	}
	if testing.Short() {
		t.Skip("the binaries are not built with -short")
	}
	dir := t.TempDir()
	for _, tags := range []string{"", "stationsync_test"} {
		bin := filepath.Join(dir, "station-agent"+tags)
		build := exec.Command("go", "build", "-tags", tags, "-o", bin, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build -tags %q: %v\n%s", tags, err, out)
		}
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range testOnly {
			if has := bytes.Contains(b, []byte(s)); has != (tags != "") {
				t.Errorf("build with tags %q: contains %q = %v", tags, s, has)
			}
		}
	}
	var out, errb bytes.Buffer
	if code := Main(t.Context(), []string{"x-test-config", "--data", dir, "1", "info"}, strings.NewReader(""), &out, &errb); code != 2 || !strings.Contains(errb.String(), "未知命令") {
		t.Errorf("x-test-config in a release build: exit %d, %q", code, errb.String())
	}
}
