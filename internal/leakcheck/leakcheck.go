// Package leakcheck finds goroutines a test leaves running, by a scan of
// every goroutine's stack as go.uber.org/goleak does, without the
// dependency. Tests only.
package leakcheck

import (
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Snapshot is the goroutines running at one moment, by id.
type Snapshot map[string]bool

var header = regexp.MustCompile(`^goroutine (\d+) `)

func stacks() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		if m := header.FindStringSubmatch(g); m != nil {
			out[m[1]] = g
		}
	}
	return out
}

// Take records the goroutines running now.
func Take() Snapshot {
	s := Snapshot{}
	for id := range stacks() {
		s[id] = true
	}
	return s
}

// Check fails t if a goroutine started since before, whose stack names
// code of this module ("stationsync/"), is still running after a grace of
// two seconds (a goroutine may be on its way out when Close returns).
func Check(t testing.TB, before Snapshot) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		var left []string
		for id, g := range stacks() {
			if !before[id] && strings.Contains(g, "stationsync/") && !strings.Contains(g, "leakcheck.stacks") {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left running:\n\n%s", len(left), strings.Join(left, "\n\n"))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
