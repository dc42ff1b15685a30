//go:build failpoints && unix

package failpoint

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type action struct {
	kind    string // kill, sleep
	nth     int64  // kill@N
	percent int    // kill%P
	sleep   time.Duration
	hits    int64
}

var (
	once    sync.Once
	mu      sync.Mutex
	actions map[string]*action
)

func parse() {
	actions = map[string]*action{}
	for _, item := range strings.Split(os.Getenv("STATIONSYNC_FAILPOINTS"), ",") {
		name, spec, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			continue
		}
		a := &action{}
		switch {
		case strings.HasPrefix(spec, "sleep:"):
			d, err := time.ParseDuration(strings.TrimPrefix(spec, "sleep:"))
			if err != nil {
				continue
			}
			a.kind, a.sleep = "sleep", d
		case strings.HasPrefix(spec, "kill@"):
			n, err := strconv.ParseInt(strings.TrimPrefix(spec, "kill@"), 10, 64)
			if err != nil {
				continue
			}
			a.kind, a.nth = "kill", n
		case strings.HasPrefix(spec, "kill%"):
			p, err := strconv.Atoi(strings.TrimPrefix(spec, "kill%"))
			if err != nil {
				continue
			}
			a.kind, a.percent = "kill", p
		case spec == "kill":
			a.kind, a.nth = "kill", 1
		default:
			continue
		}
		actions[name] = a
	}
}

// Inject runs the action armed for name, if any.
func Inject(name string) {
	once.Do(parse)
	mu.Lock()
	a := actions[name]
	if a == nil {
		mu.Unlock()
		return
	}
	a.hits++
	kill := a.kind == "kill" && ((a.nth > 0 && a.hits == a.nth) || (a.percent > 0 && rand.IntN(100) < a.percent))
	sleep := a.sleep
	mu.Unlock()
	if sleep > 0 {
		time.Sleep(sleep)
	}
	if kill {
		os.Stderr.WriteString("failpoint " + name + ": kill\n")
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL is not deliverable late; never return
	}
}

// Enabled reports whether this binary was built with failpoints.
const Enabled = true
