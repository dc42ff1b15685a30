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
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"stationsync/internal/testsupport"
)

var bin testsupport.Binaries

var full = os.Getenv("CHAOS_FULL") != ""

// size picks the bounded or the full figure.
func size(bounded, fullN int) int {
	if full {
		return fullN
	}
	return bounded
}

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	// The binaries under test carry the failpoints.
	b, remove, err := testsupport.Build("chaos", "failpoints")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	defer remove()
	bin = b
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
	return testsupport.Seed(t, "CHAOS_SEED")
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
