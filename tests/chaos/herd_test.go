package chaos

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/testsupport"
)

// frontDoor is a reverse proxy in front of the county that times every
// push from the moment it arrives to the end of its answer, and counts
// the answers by status.
type frontDoor struct {
	mu     sync.Mutex
	pushes []time.Duration // 200 answers
	status map[int]int
	peak   atomic.Int64 // most pushes in flight at once
	cur    atomic.Int64
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) { w.code = c; w.ResponseWriter.WriteHeader(c) }

func (fd *frontDoor) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/push" {
			h.ServeHTTP(w, r)
			return
		}
		n := fd.cur.Add(1)
		for {
			p := fd.peak.Load()
			if n <= p || fd.peak.CompareAndSwap(p, n) {
				break
			}
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: 200}
		h.ServeHTTP(sw, r)
		took := time.Since(start)
		fd.cur.Add(-1)
		fd.mu.Lock()
		fd.status[sw.code]++
		if sw.code == 200 {
			fd.pushes = append(fd.pushes, took)
		}
		fd.mu.Unlock()
	})
}

func (fd *frontDoor) p99() time.Duration {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	if len(fd.pushes) == 0 {
		return 0
	}
	s := slices.Clone(fd.pushes)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*99/100)]
}

// each calls fn(0) … fn(n-1), 16 at a time, and returns an error one of
// them returned.
func each(n int, fn func(i int) error) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	var failed atomic.Value
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				failed.Store(err)
			}
		}()
	}
	wg.Wait()
	err, _ := failed.Load().(error)
	return err
}

// TestHerd: N stations (goroutines in this process, each with its own
// SQLite file) record while the county server is down, then all come back
// at the same moment. The county (a separate process, for an honest RSS)
// paces them with 503 + Retry-After; every change arrives once and every
// station converges.
func TestHerd(t *testing.T) {
	seed := seedFor(t)
	began := time.Now()
	n := size(40, 1000)
	perStation := size(8, 20)
	c := newProcCounty(t)
	villages := gen.Villages("340123", n)
	codes := c.Codes(villages)
	c.Start()
	fd := &frontDoor{status: map[int]int{}}
	target, _ := url.Parse("http://" + c.Addr)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(http.StatusBadGateway) }
	front := httptest.NewServer(fd.wrap(rp))
	defer front.Close()

	root := t.TempDir()
	ss := make([]*station, n)
	o := newOracle()
	ds := make([]*driver, n)
	agents := make([]*agent.Agent, n)
	err := each(n, func(i int) error {
		a, err := agent.Open(ctxb, agent.Config{DataDir: filepath.Join(root, strconv.Itoa(i)), Logger: testsupport.Quiet,
			SyncInterval: time.Minute, RetryCap: 10 * time.Second, IdleTimeout: 10 * time.Second})
		if err != nil {
			return err
		}
		agents[i] = a
		_, err = a.Enroll(ctxb, front.URL, codes[i])
		return err
	})
	for i, a := range agents {
		if a != nil {
			ss[i] = testsupport.Adopt(t, a, filepath.Join(root, strconv.Itoa(i)))
			ss[i].Village = villages[i]
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d stations enrolled in %s", n, time.Since(began).Round(time.Millisecond))

	// The county goes down; every village keeps recording.
	c.P.Kill()
	for i := range n {
		ds[i] = newDriver(o, seed+uint64(i), villages[i], "村干部")
	}
	if err := each(n, func(i int) error {
		for range perStation {
			if err := ds[i].step(ctxb, ss[i].Store); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		s.Start() // each fails at once and backs off
	}
	time.Sleep(2 * time.Second)
	// The county returns, and the whole herd with it, in the same second.
	fd.mu.Lock()
	fd.status, fd.pushes = map[int]int{}, nil // the 502s of the proxy while the county was down do not count
	fd.mu.Unlock()
	back := time.Now() // from the launch of the county process: stations may get through before its health check does
	c.Start()
	t.Logf("county answering %s after launch", time.Since(back).Round(time.Millisecond))
	for _, s := range ss {
		s.Nudge()
	}
	deadline := time.Now().Add(time.Duration(size(3, 20)) * time.Minute)
	var converged time.Duration
	for {
		left := 0
		for _, s := range ss {
			if p, _ := s.Store.Pending(ctxb); p > 0 {
				left++
			}
		}
		if left == 0 {
			converged = time.Since(back)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d stations still had changes queued after %s", left, n, time.Since(back).Round(time.Second))
		}
		time.Sleep(250 * time.Millisecond)
	}
	rss := testsupport.VmHWM(c.P.Pid()) >> 10 // KiB
	for _, s := range ss {
		s.Halt()
	}
	testsupport.Settle(t, ss, 5*time.Minute)
	c.P.Stop()
	cs := c.Open()
	defer cs.Close()
	tl := verify(t, cs, agentsOf(ss), o)
	for _, s := range ss {
		s.Close()
		testsupport.CheckIntegrity(t, s.DBPath())
	}
	testsupport.CheckIntegrity(t, c.DBPath())
	fd.mu.Lock()
	st := fmt.Sprint(fd.status)
	fd.mu.Unlock()
	summary := fmt.Sprintf("herd: stations=%d changes=%d converged_in=%s p99_push=%s county_peak_rss=%.1f MiB push_answers=%s peak_pushes_in_flight=%d",
		n, tl.changes, converged.Round(100*time.Millisecond), fd.p99().Round(time.Millisecond), float64(rss)/1024, st, fd.peak.Load())
	var f faults
	f.add("server-down", 1)
	f.add("stations-back-at-once", n)
	record(t, result{scenario: "herd", seed: seed, faults: f.snapshot(), tally: tl, took: time.Since(began), notes: summary})
	results.mu.Lock()
	results.herd = append(results.herd, summary+
		" (p99 is of 200 answers to pushes, timed at a proxy in front of the county from arrival to the end of the answer; RSS is the county-server process's VmHWM)")
	results.mu.Unlock()
}
