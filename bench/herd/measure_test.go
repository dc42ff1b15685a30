package herd

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder keeps every answer the herd got: the time of each 200 to a
// push (from the request's start to the answer's headers, as a station
// sees it; each attempt on its own) and the count of answers by request
// and status.
type recorder struct {
	mu     sync.Mutex
	push   []time.Duration
	status map[string]int // "push 200", "pull 503", "push error", …
}

func newRecorder() *recorder { return &recorder{status: map[string]int{}} }

// timed is a station client's transport that reports to a recorder.
type timed struct {
	rt  http.RoundTripper
	rec *recorder
}

func (t *timed) RoundTrip(r *http.Request) (*http.Response, error) {
	what := strings.TrimPrefix(r.URL.Path, "/v1/")
	start := time.Now()
	resp, err := t.rt.RoundTrip(r)
	took := time.Since(start)
	t.rec.mu.Lock()
	defer t.rec.mu.Unlock()
	if err != nil {
		t.rec.status[what+" error"]++
		return resp, err
	}
	t.rec.status[fmt.Sprintf("%s %d", what, resp.StatusCode)]++
	if what == "push" && resp.StatusCode == http.StatusOK {
		t.rec.push = append(t.rec.push, took)
	}
	return resp, err
}

type latency struct{ p50, p95, p99, max time.Duration }

func (r *recorder) quantiles() latency {
	r.mu.Lock()
	s := slices.Clone(r.push)
	r.mu.Unlock()
	if len(s) == 0 {
		return latency{}
	}
	slices.Sort(s)
	q := func(f float64) time.Duration { return s[min(len(s)-1, int(float64(len(s))*f))] }
	return latency{q(0.50), q(0.95), q(0.99), s[len(s)-1]}
}

func (r *recorder) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps(r.status)
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// sampler reads the county's gauges (/metrics), the load generator's
// heap and, on PostgreSQL, the memory of the database's backends four
// times a second and keeps the peaks.
type sampler struct {
	peakQueue, peakSlots, peakHeap, peakPG atomic.Int64
	done                                   chan struct{}
	wg                                     sync.WaitGroup
}

func startSampler(metricsAddrs []string, pgName string) *sampler {
	s := &sampler{done: make(chan struct{})}
	s.wg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak(&s.peakHeap, int64(ms.HeapInuse))
			m := scrapeAll(metricsAddrs)
			peak(&s.peakQueue, int64(m["stationsync_store_push_queue"]))
			peak(&s.peakSlots, int64(m["stationsync_sync_slots_busy"]))
			peak(&s.peakPG, pgMemory(pgName))
			select {
			case <-s.done:
				runtime.ReadMemStats(&ms)
				peak(&s.peakHeap, int64(ms.HeapInuse))
				return
			case <-t.C:
			}
		}
	})
	return s
}

func (s *sampler) stop() { close(s.done); s.wg.Wait() }

func peak(p *atomic.Int64, v int64) {
	for {
		old := p.Load()
		if v <= old || p.CompareAndSwap(old, v) {
			return
		}
	}
}

// pgMemory is the memory of the PostgreSQL backends serving database db
// on this machine (the server runs here): the sum of their proportional
// set sizes (Pss, /proc/PID/smaps_rollup), so that the shared buffers
// each maps count once across all of the server's processes rather than
// once per backend as RSS would. 0 when db is "" or /proc cannot be read.
func pgMemory(db string) int64 {
	if db == "" {
		return 0
	}
	dirs, _ := os.ReadDir("/proc")
	var sum int64
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		// A backend's title: "postgres: 15/main: USER DB ADDR STATE".
		title, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || !strings.HasPrefix(string(title), "postgres: ") || !slices.Contains(strings.Fields(string(title)), db) {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "smaps_rollup"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				sum += kb << 10
			}
		}
	}
	return sum
}

// scrapeAll is scrape of every server, the values added up: the queues
// and slots of several servers together, their histograms' sums and
// counts together.
func scrapeAll(addrs []string) map[string]float64 {
	out := map[string]float64{}
	for _, a := range addrs {
		for k, v := range scrape(a) {
			out[k] += v
		}
	}
	return out
}

var scrapeClient = &http.Client{Timeout: 5 * time.Second}

// scrape reads /metrics into name → value, the values of a name's
// labelled lines (a histogram's _sum and _count by outcome) added up.
// Nothing when the county does not answer.
func scrape(addr string) map[string]float64 {
	out := map[string]float64{}
	resp, err := scrapeClient.Get("http://" + addr + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if i := strings.IndexByte(name, '{'); i >= 0 {
			if strings.HasSuffix(name[:i], "_bucket") {
				continue
			}
			labels := name[i:]
			name = name[:i]
			if strings.Contains(labels, `outcome="`) && !strings.Contains(labels, `outcome="ok"`) {
				continue // the pushes answered ok only
			}
			if _, db, ok := strings.Cut(labels, `db_name="`); ok {
				db, _, _ = strings.Cut(db, `"`)
				name += ":" + db // the writer's pool apart from the readers'
			}
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err == nil {
			out[name] += v
		}
	}
	return out
}

// takeProfile takes a CPU profile of the county (the test build's
// profiler, cmd/county-server/testhooks_on.go) for seconds, from now,
// into path.
func takeProfile(t *testing.T, addr string, seconds int, path string) string {
	cl := &http.Client{Timeout: time.Duration(seconds+30) * time.Second}
	resp, err := cl.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds))
	if err != nil {
		t.Logf("CPU profile: %v", err)
		return ""
	}
	defer resp.Body.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Logf("CPU profile: %v", err)
		return ""
	}
	f, err := os.Create(path)
	if err != nil {
		t.Logf("CPU profile: %v", err)
		return ""
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil || resp.StatusCode != 200 {
		t.Logf("CPU profile: %d %v", resp.StatusCode, err)
		return ""
	}
	return path
}

// profilePath is HERD_PROFILE with the herd's store and size before the
// extension.
func profilePath(p, store string, n int) string {
	ext := filepath.Ext(p)
	return fmt.Sprintf("%s-%s-%d%s", strings.TrimSuffix(p, ext), store, n, ext)
}

// row is one herd's line of the table.
type row struct {
	stations, changes    int
	store                string // sqlite, postgres
	servers              int    // county-server processes
	queueWait            string // the county's --queue-wait
	ingested, lost, dup  int
	lat                  latency
	converged            time.Duration
	serverRSS, genRSS    int64 // VmHWM, bytes; serverRSS the largest server's
	serversRSS           int64 // the servers' VmHWM added up
	genHeap              int64 // peak HeapInuse, bytes
	pushQueue, slotsBusy int64 // peaks of the county's gauges
	pgBefore, pgPeak     int64 // PostgreSQL backends' Pss before the return and at peak (pgMemory)
	status               map[string]int
	county               map[string]float64 // /metrics at the end
	profile              string
}

func mean(m map[string]float64, name string) time.Duration {
	if m[name+"_count"] == 0 {
		return 0
	}
	return time.Duration(m[name+"_sum"] / m[name+"_count"] * float64(time.Second))
}

func (r row) line() string {
	return fmt.Sprintf("store=%s servers=%d servers_rss_sum=%dMiB stations=%d changes=%d queue_wait=%s ingested=%d lost=%d dup=%d push p50=%s p95=%s p99=%s max=%s converged=%s server_rss=%dMiB pg_backends_pss=%dMiB..%dMiB gen_rss=%dMiB gen_heap=%dMiB 429=%d 503=%d answers=%v county: push_mean=%s merge_mean=%s commit_mean=%s group_mean=%.1f pull_mean=%s writer_waits=%.0f writer_wait_total=%.1fs peak_push_queue=%d peak_slots_busy=%d cpu_seconds=%.1f profile=%s",
		r.store, r.servers, r.serversRSS>>20, r.stations, r.changes, r.queueWait, r.ingested, r.lost, r.dup, ms(r.lat.p50), ms(r.lat.p95), ms(r.lat.p99), ms(r.lat.max), r.converged.Round(100*time.Millisecond),
		r.serverRSS>>20, r.pgBefore>>20, r.pgPeak>>20, r.genRSS>>20, r.genHeap>>20, r.refused(429), r.refused(503), r.status,
		ms(mean(r.county, "stationsync_push_duration_seconds")), ms(mean(r.county, "stationsync_store_merge_duration_seconds")),
		ms(mean(r.county, "stationsync_store_commit_duration_seconds")),
		r.county["stationsync_store_group_pushes_sum"]/max(1, r.county["stationsync_store_group_pushes_count"]),
		ms(mean(r.county, "stationsync_pull_duration_seconds")), r.county["go_sql_wait_count_total:county_writer"], r.county["go_sql_wait_duration_seconds_total:county_writer"],
		r.pushQueue, r.slotsBusy, r.county["process_cpu_seconds_total"], r.profile)
}

func (r row) refused(code int) int {
	n := 0
	for k, v := range r.status {
		if strings.HasSuffix(k, " "+strconv.Itoa(code)) {
			n += v
		}
	}
	return n
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

// meets is issue 16's targets: p99 push ≤ 2 s, county RSS ≤ 500 MB,
// nothing lost or doubled.
func (r row) meets() bool {
	return r.lost == 0 && r.dup == 0 && r.ingested == r.stations*r.changes && r.lat.p99 <= 2*time.Second && r.serverRSS <= 500<<20
}

func formatTable(cfg config, rows []row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nHerd (one county-server process; %d CPUs, GOMAXPROCS %d; batch %d; PostgreSQL on the same machine; server RSS: the largest server's; PG backends: their Pss before the return → peak)\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), cfg.batch)
	fmt.Fprintf(&b, "| %-8s | %-7s | %-8s | %-7s | %-10s | %-20s | %-9s | %-9s | %-9s | %-9s | %-10s | %-15s | %-10s | %-15s | %-5s | %-5s | %-7s |\n",
		"store", "servers", "stations", "changes", "queue-wait", "ingested (lost/dup)", "push p50", "push p95", "push p99", "converged", "server RSS", "PG backends", "gen RSS", "gen heap (peak)", "429", "503", "targets")
	for _, r := range rows {
		ok := "met"
		if !r.meets() {
			ok = "missed"
		}
		pg := "—"
		if r.store == "postgres" {
			pg = fmt.Sprintf("%d → %d MiB", r.pgBefore>>20, r.pgPeak>>20)
		}
		fmt.Fprintf(&b, "| %-8s | %-7d | %-8d | %-7d | %-10s | %-20s | %-9s | %-9s | %-9s | %-9s | %-10s | %-15s | %-10s | %-15s | %-5d | %-5d | %-7s |\n",
			r.store, r.servers, r.stations, r.changes, r.queueWait, fmt.Sprintf("%d (%d/%d)", r.ingested, r.lost, r.dup), ms(r.lat.p50), ms(r.lat.p95), ms(r.lat.p99),
			r.converged.Round(100*time.Millisecond), fmt.Sprintf("%d MiB", r.serverRSS>>20), pg, fmt.Sprintf("%d MiB", r.genRSS>>20), fmt.Sprintf("%d MiB", r.genHeap>>20),
			r.refused(429), r.refused(503), ok)
	}
	return b.String()
}
