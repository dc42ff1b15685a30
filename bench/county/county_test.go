// Package county benchmarks the county's staff pages at the size of a real
// county: 300 villages, 100,000 persons and 1,000,000 visits in SQLite.
// The data is written with direct SQL inserts (the merge is benchmarked
// elsewhere), once per run, and removed afterwards.
//
//	go test -run '^$' -bench . -benchtime 3x ./bench/county/ | go run ./bench/table
package county

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/server"
	"stationsync/server/web"
)

const (
	countyCode = "340123"
	nVillages  = 300
	nPersons   = 100_000
	nVisits    = 1_000_000
	nApps      = 6_000
	seed       = 20180303
)

var (
	setupOnce sync.Once
	setupDir  string
	setupErr  error
	setupTook time.Duration
)

func TestMain(m *testing.M) {
	code := m.Run()
	if setupDir != "" && os.Getenv("STATIONSYNC_KEEP_BENCH_DB") == "" {
		os.RemoveAll(setupDir)
	}
	os.Exit(code)
}

// database builds the county database once per run.
func database(b *testing.B) string {
	setupOnce.Do(func() {
		start := time.Now()
		if keep := os.Getenv("STATIONSYNC_KEEP_BENCH_DB"); keep != "" {
			// Reuse a database a previous run kept (for tuning queries).
			setupDir = keep
			if _, err := os.Stat(filepath.Join(keep, "county.db")); err == nil {
				return
			}
			setupErr = os.MkdirAll(keep, 0o700)
		} else {
			setupDir, setupErr = os.MkdirTemp("", "stationsync-county-bench-")
		}
		if setupErr == nil {
			setupErr = build(filepath.Join(setupDir, "county.db"))
		}
		setupTook = time.Since(start)
	})
	if setupErr != nil {
		b.Fatal(setupErr)
	}
	return filepath.Join(setupDir, "county.db")
}

func build(path string) error {
	ctx := context.Background()
	st, err := server.OpenSQLite(ctx, path, countyCode)
	if err != nil {
		return err
	}
	defer st.Close()
	db := st.DB().W
	villages := gen.Villages(countyCode, nVillages)
	g := gen.New(seed)
	now := time.Now()
	nowMs := now.UnixMilli()
	base := int64(hlc.FromTime(now.AddDate(-2, 0, 0)))
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for i, v := range villages {
		if _, err := tx.Exec(`INSERT INTO stations (id, village, public_key, hostname, agent_version, enrolled_at, last_contact_at, last_push_at, pending)
			VALUES (?, ?, x'00', ?, 'bench', ?, ?, ?, ?)`, fmt.Sprintf("st_%04d", i), v, "pc-"+v, nowMs, nowMs-int64(i%10)*86400_000, nowMs-int64(i%10)*86400_000, i%7); err != nil {
			return err
		}
		if i%12 == 0 {
			tx.Exec(`INSERT INTO places (code, name) VALUES (?, ?)`, v[:9], fmt.Sprintf("第%d镇", i/12+1))
		}
	}
	const tail = `, versions, origins, base_hlc, rev, created_by, created_at, created_origin, updated_by, updated_at, received_at) `
	pst, err := tx.Prepare(`INSERT INTO persons (id, village, name, id_number, categories, phone, address, guardian, family_away, health, status` + tail +
		`VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '在册', '{}', '{}', ?, 1, '村干部', ?, ?, '村干部', ?, ?)`)
	if err != nil {
		return err
	}
	js := func(v any) any {
		if v == nil {
			return nil
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	str := func(v any) any {
		if s, ok := v.(string); ok {
			return s
		}
		return nil
	}
	type person struct{ id, village string }
	persons := make([]person, nPersons)
	for i := range nPersons {
		v := villages[i%nVillages]
		p := g.Person(v)
		id := fmt.Sprintf("p%07d", i)
		persons[i] = person{id, v}
		created := nowMs - int64(900+i%300)*86400_000
		if _, err := pst.Exec(id, v, p["name"], p["id_number"], js(p["categories"]), str(p["phone"]), str(p["address"]), js(p["guardian"]), js(p["family_away"]), str(p["health"]),
			base, created, fmt.Sprintf("st_%04d", i%nVillages), created, nowMs); err != nil {
			return err
		}
	}
	vst, err := tx.Prepare(`INSERT INTO visits (id, village, person_id, visited_on, visitors, method, situation, needs, risk, measures, next_due` + tail +
		`VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', '{}', ?, 1, '村干部', ?, ?, '村干部', ?, ?)`)
	if err != nil {
		return err
	}
	// A few hundred generated visits as templates: generating a million
	// would take longer than inserting them.
	var tmpl []map[string]any
	for range 500 {
		tmpl = append(tmpl, g.Visit("p0000000", now))
	}
	for i := range nVisits {
		p := persons[(i*7919)%nPersons]
		t := tmpl[i%len(tmpl)]
		day := now.AddDate(0, 0, -((i * 31) % 730))
		risk := t["risk"]
		if i%97 == 0 {
			risk = "紧急"
		}
		if _, err := vst.Exec(fmt.Sprintf("v%08d", i), p.village, p.id, day.Format("2006-01-02"), js(t["visitors"]), t["method"], t["situation"], js(t["needs"]), risk,
			str(t["measures"]), day.AddDate(0, 0, 30).Format("2006-01-02"), base, day.UnixMilli(), fmt.Sprintf("st_%04d", i%nVillages), day.UnixMilli(), nowMs); err != nil {
			return err
		}
	}
	ast, err := tx.Prepare(`INSERT INTO applications (id, village, applicant_id, type, members, household_income_fen, reason, amount_requested_fen, status, approved_amount_fen, approved_from` + tail +
		`VALUES (?, ?, ?, ?, '[]', ?, ?, ?, ?, ?, ?, '{}', '{}', ?, 1, '村干部', ?, ?, '村干部', ?, ?)`)
	if err != nil {
		return err
	}
	statuses := []string{"submitted", "accepted", "reviewing", "approved", "approved", "rejected", "returned", "draft"}
	for i := range nApps {
		p := persons[(i*104729)%nPersons]
		a := g.Application(p.id, nil)
		st := statuses[i%len(statuses)]
		var amt, from any
		if st == "approved" {
			amt, from = int64(65000), now.AddDate(0, -(i%30), 0).Format("2006-01")
		}
		created := nowMs - int64(i%365)*86400_000
		if _, err := ast.Exec(fmt.Sprintf("a%06d", i), p.village, p.id, a["type"], a["household_income_fen"], a["reason"], a["amount_requested_fen"], st, amt, from,
			base, created, fmt.Sprintf("st_%04d", i%nVillages), created, nowMs); err != nil {
			return err
		}
	}
	for i, v := range villages {
		for j := range 2 {
			d := g.Disclosure("村务公开")
			if _, err := tx.Exec(`INSERT INTO disclosures (id, village, category, title, body, publish_from, publish_until, status`+tail+
				`VALUES (?, ?, ?, ?, ?, ?, ?, 'published', '{}', '{}', ?, 1, '村干部', ?, ?, '村干部', ?, ?)`,
				fmt.Sprintf("d%04d%d", i, j), v, d["category"], d["title"], d["body"], now.AddDate(0, 0, -2).Format("2006-01-02"), now.AddDate(0, 0, 5).Format("2006-01-02"),
				base, nowMs, fmt.Sprintf("st_%04d", i), nowMs, nowMs); err != nil {
				return err
			}
		}
		if i%3 == 0 {
			tx.Exec(`INSERT INTO conflicts (id, kind, record_id, village, field, winner, winner_hlc, winner_origin, loser, loser_hlc, loser_origin, at)
				VALUES (?, 'person', ?, ?, 'phone', '"13800000001"', 2, 'county', '"13800000002"', 1, ?, ?)`, fmt.Sprintf("c%04d", i), persons[i].id, persons[i].village, fmt.Sprintf("st_%04d", i), nowMs)
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	_, err = db.Exec(`ANALYZE`)
	if err == nil {
		_, err = st.CreateUser(ctx, server.NewUser{Username: "county", DisplayName: "县", Role: server.RoleCounty, Password: "benchmark password"})
	}
	if err == nil {
		_, err = st.CreateUser(ctx, server.NewUser{Username: "town", DisplayName: "镇", Role: server.RoleTownship, Township: villages[0][:9], Password: "benchmark password"})
	}
	return err
}

type env struct {
	lastCPU time.Duration // process CPU time of the last request
	h       http.Handler
	cookies map[string]*http.Cookie
}

func open(b *testing.B) (*env, func()) {
	path := database(b)
	st, err := server.OpenSQLite(context.Background(), path, countyCode)
	if err != nil {
		b.Fatal(err)
	}
	srv := server.New(st, slog.New(slog.DiscardHandler))
	srv.Web = web.New(st, slog.New(slog.DiscardHandler))
	e := &env{h: srv.NewHandler(), cookies: map[string]*http.Cookie{}}
	for _, u := range []string{"county", "town"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(url.Values{"username": {u}, "password": {"benchmark password"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		e.h.ServeHTTP(rec, req)
		for _, c := range rec.Result().Cookies() {
			if c.Name == web.CookieName {
				e.cookies[u] = c
			}
		}
		if e.cookies[u] == nil {
			b.Fatalf("login %s: %d", u, rec.Code)
		}
	}
	return e, func() { st.Close() }
}

// get serves one request in process and returns its server time.
func (e *env) get(b *testing.B, user, path string, w io.Writer) time.Duration {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if c := e.cookies[user]; c != nil {
		req.AddCookie(c)
	}
	rw := &sink{h: http.Header{}, w: w}
	start := time.Now()
	cpu0 := cpuTime()
	e.h.ServeHTTP(rw, req)
	d := time.Since(start)
	e.lastCPU = cpuTime() - cpu0
	if rw.code != 0 && rw.code != http.StatusOK {
		b.Fatalf("GET %s as %s: %d", path, user, rw.code)
	}
	return d
}

type sink struct {
	h    http.Header
	code int
	w    io.Writer
	n    int64
}

func (s *sink) Header() http.Header { return s.h }
func (s *sink) WriteHeader(c int) {
	if s.code == 0 {
		s.code = c
	}
}
func (s *sink) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = 200
	}
	s.n += int64(len(p))
	if s.w != nil {
		return s.w.Write(p)
	}
	return len(p), nil
}

// pages are the list pages and reports measured, as metric name, user
// and path.
var pages = [][3]string{
	{"persons-ms", "county", "/records/person"},
	{"persons-search-ms", "county", "/records/person?q=" + url.QueryEscape("王") + "&category=" + url.QueryEscape("低保对象") + "&page=3"},
	{"persons-township-ms", "town", "/records/person?category=" + url.QueryEscape("空巢老人")},
	{"visits-ms", "county", "/records/visit"},
	{"visits-filtered-ms", "county", "/records/visit?risk=" + url.QueryEscape("紧急") + "&from=" + time.Now().AddDate(0, -3, 0).Format("2006-01-02") + "&page=5"},
	{"visits-township-ms", "town", "/records/visit?from=" + time.Now().AddDate(0, -1, 0).Format("2006-01-02")},
	{"applications-queue-ms", "county", "/applications"},
	{"disclosures-ms", "county", "/records/disclosure"},
	{"followup-overdue-ms", "county", "/followup?k=overdue"},
	{"followup-overdue-township-ms", "town", "/followup?k=overdue"},
	{"followup-urgent-ms", "county", "/followup?k=urgent"},
	{"followup-review-ms", "county", "/followup?k=review"},
	{"conflicts-ms", "county", "/conflicts"},
	{"stations-ms", "county", "/stations"},
	{"record-ms", "county", "/records/person/p0001234"},
	{"report-visits-ms", "county", "/reports/visits.svg"},
	{"report-coverage-ms", "county", "/reports/coverage.svg"},
	{"report-applications-ms", "county", "/reports/applications.svg"},
	{"report-applications-months-ms", "county", "/reports/applications-months.svg"},
	{"public-ms", "", "/public/"},
}

// BenchmarkCountyPages: the server time of each list page and report, the
// median of 5 requests each after one warm-up, with a county of 300
// villages, 100,000 persons and 1,000,000 visits.
func BenchmarkCountyPages(b *testing.B) {
	worst, worstCPU := 0.0, 0.0
	for range b.N {
		// A fresh server each time: its caches start cold.
		e, done := open(b)
		b.ReportMetric(setupTook.Seconds(), "setup-s")
		for _, p := range pages {
			first := float64(e.get(b, p[1], p[2], nil).Microseconds()) / 1000
			firstCPU := float64(e.lastCPU.Microseconds()) / 1000
			if strings.Contains(p[0], "followup") || strings.Contains(p[0], "report") {
				// Cached while no record changes: the first request
				// computes, and is the figure that must meet the target.
				b.ReportMetric(first, strings.TrimSuffix(p[0], "-ms")+"-first-ms")
				worst = max(worst, first)
				worstCPU = max(worstCPU, firstCPU)
			}
			var ds []float64
			for range 5 {
				ds = append(ds, float64(e.get(b, p[1], p[2], nil).Microseconds())/1000)
				worstCPU = max(worstCPU, float64(e.lastCPU.Microseconds())/1000)
			}
			slices.Sort(ds)
			b.ReportMetric(ds[2], p[0])
			worst = max(worst, ds[2])
		}
		done()
	}
	b.ReportMetric(worst, "worst-ms")
	// CPU time is what the server spent whatever else runs on the
	// machine (wall time grows with the load average of a shared host).
	b.ReportMetric(worstCPU, "worst-cpu-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkCountyExport: exporting all 100,000 persons as CSV and as Excel,
// with the peak Go heap sampled during the export.
func BenchmarkCountyExport(b *testing.B) {
	e, done := open(b)
	defer done()
	for range b.N {
		for _, f := range []string{"csv", "xlsx"} {
			// Collect often during the export, so that the peak is what
			// the export holds, not garbage awaiting a lazy collection.
			old := debug.SetGCPercent(10)
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			baseHeap := ms.HeapAlloc
			var peak atomic.Uint64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				t := time.NewTicker(5 * time.Millisecond)
				defer t.Stop()
				for {
					var m runtime.MemStats
					runtime.ReadMemStats(&m)
					if m.HeapAlloc > peak.Load() {
						peak.Store(m.HeapAlloc)
					}
					select {
					case <-stop:
						return
					case <-t.C:
					}
				}
			})
			cw := &countingWriter{}
			d := e.get(b, "county", "/export/person."+f, cw)
			close(stop)
			wg.Wait()
			debug.SetGCPercent(old)
			if f == "csv" {
				rows := cw.lines - 1
				if rows != nPersons {
					b.Fatalf("csv export has %d rows, want %d", rows, nPersons)
				}
			}
			b.ReportMetric(d.Seconds(), f+"-s")
			b.ReportMetric(float64(cw.n)/1e6, f+"-MB")
			b.ReportMetric(float64(peak.Load()-min(peak.Load(), baseHeap))/1e6, f+"-peak-heap-MB")
		}
	}
	b.ReportMetric(0, "ns/op")
}

type countingWriter struct {
	n     int64
	lines int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	for _, x := range p {
		if x == '\n' {
			c.lines++
		}
	}
	return len(p), nil
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
