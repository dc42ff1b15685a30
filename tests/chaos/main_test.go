// Package chaos is the fault-injection suite: it breaks links, kills
// processes at random and at failpoints, sets clocks to 2009 and 2038 and
// makes them jump, fills the station's disk and makes it read-only, and
// brings a herd of stations back at once, then proves against an oracle
// kept outside the system that nothing accepted was lost, nothing applied
// twice and every side converged.
//
// `go test ./tests/chaos/` (and so `make test`) runs a bounded version of
// every scenario. CHAOS_FULL=1 (`make chaos`) runs the full one. Each test
// logs its seed; CHAOS_SEED=N replays. The results table is printed when
// the package ends and written to $CHAOS_RESULTS if set.
package chaos

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"stationsync/internal/testproc"
)

var bin struct{ agent, server string }

var full = os.Getenv("CHAOS_FULL") != ""

// size picks the bounded or the full figure.
func size(bounded, fullN int) int {
	if full {
		return fullN
	}
	return bounded
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	dir, err := os.MkdirTemp("", "stationsync-chaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	goTool, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: go tool not found:", err)
		return 1
	}
	// The binaries under test carry the failpoints; without -race, which
	// only matters for the test process.
	cmd := exec.Command(goTool, "build", "-tags", "failpoints", "-o", dir+string(filepath.Separator), "stationsync/cmd/station-agent", "stationsync/cmd/county-server")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos: go build:", err)
		return 1
	}
	bin.agent = filepath.Join(dir, "station-agent")
	bin.server = filepath.Join(dir, "county-server")
	code := m.Run()
	printTable(os.Stdout)
	if p := os.Getenv("CHAOS_RESULTS"); p != "" {
		if f, err := os.Create(p); err == nil {
			printTable(f)
			f.Close()
		}
	}
	return code
}

// seedFor returns $CHAOS_SEED or a fresh seed, and logs it.
func seedFor(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED: %v", err)
		}
		seed = n
	}
	t.Logf("seed %d (replay with CHAOS_SEED=%d)", seed, seed)
	return seed
}

// ---- the results table ----

type result struct {
	scenario string
	seed     uint64
	faults   map[string]int
	tally
	took  time.Duration
	notes string
}

var results struct {
	mu   sync.Mutex
	rows []result
	herd []string
}

type faults struct {
	mu sync.Mutex
	n  map[string]int
}

func (f *faults) add(kind string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == nil {
		f.n = map[string]int{}
	}
	f.n[kind] += n
}

func (f *faults) snapshot() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.n {
		out[k] = v
	}
	return out
}

func record(t *testing.T, r result) {
	results.mu.Lock()
	defer results.mu.Unlock()
	if r.contested > 0 {
		r.notes = strings.TrimSpace(r.notes + fmt.Sprintf("; %d fields edited by both sides offline, %d conflicts kept (county's value stood %d, station's %d)",
			r.contested, r.conflicts, r.countyWon, r.stationWon))
	}
	if t.Failed() {
		r.notes = strings.TrimSpace("FAILED " + r.notes)
	}
	results.rows = append(results.rows, r)
	t.Logf("RESULT %s seed=%d faults=%s changes=%d lost=%d duplicated=%d diverged=%d time=%s %s",
		r.scenario, r.seed, faultString(r.faults), r.changes, r.lost, r.duplicated, r.diverged, r.took.Round(time.Second), r.notes)
}

func faultString(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func printTable(w io.Writer) {
	results.mu.Lock()
	defer results.mu.Unlock()
	if len(results.rows) == 0 {
		return
	}
	mode := "bounded (go test)"
	if full {
		mode = "full (CHAOS_FULL=1)"
	}
	fmt.Fprintf(w, "\nchaos results, %s\n", mode)
	fmt.Fprintf(w, "| %-13s | %-20s | %-60s | %7s | %4s | %10s | %8s | %7s |\n", "scenario", "seed", "faults by kind", "changes", "lost", "duplicated", "diverged", "time")
	fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 15), strings.Repeat("-", 22), strings.Repeat("-", 62), strings.Repeat("-", 9), strings.Repeat("-", 6), strings.Repeat("-", 12), strings.Repeat("-", 10), strings.Repeat("-", 9))
	for _, r := range results.rows {
		fmt.Fprintf(w, "| %-13s | %-20d | %-60s | %7d | %4d | %10d | %8d | %7s |\n", r.scenario, r.seed, faultString(r.faults), r.changes, r.lost, r.duplicated, r.diverged, r.took.Round(time.Second))
		if r.notes != "" {
			fmt.Fprintf(w, "|   %s\n", r.notes)
		}
	}
	for _, h := range results.herd {
		fmt.Fprintln(w, h)
	}
}

// ---- processes ----

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs a binary with extra environment, its output appended to log.
func start(t *testing.T, log string, env []string, name string, args ...string) *testproc.Proc {
	t.Helper()
	return testproc.Start(t, log, append([]string{"LOG_LEVEL=info"}, env...), name, args...)
}

// run runs a binary to completion and returns its exit error.
func run(env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(append(os.Environ(), "LOG_LEVEL=warn"), env...)
	testproc.DieWithParent(cmd)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
