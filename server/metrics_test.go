package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/syncproto"
)

// metricsServer is gateServer with the metrics on, as serve has them.
func metricsServer(t *testing.T) (*Server, *httptest.Server, *CountyStore) {
	t.Helper()
	return gateServer(t, func(s *Server) {
		s.Metrics = NewMetrics(s.Store.(*CountyStore))
		s.Store.(*CountyStore).SetPushObserver(s.Metrics)
	})
}

func doPush(t *testing.T, hs *httptest.Server, k keyed, env []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, hs.URL+"/v1/push", bytes.NewReader(env))
	req.Header = pushHeaders(k, env, true)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func doPull(t *testing.T, hs *httptest.Server, k keyed) *http.Response {
	t.Helper()
	const pq = "/v1/pull?after=0&pending=1234"
	req, _ := http.NewRequest(http.MethodGet, hs.URL+pq, nil)
	req.Header.Set(syncproto.HeaderVersion, "1")
	req.Header.Set("Authorization", syncproto.SignRequest(k.key, k.st.ID, http.MethodGet, pq, time.Now(), nil))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// Each push and pull is counted under its outcome — ok, or the protocol's
// error code — with its latency; the changes of the pushes under what the
// merge did with them; the group commits with their timings.
func TestMetricsCountPushesPullsAndChanges(t *testing.T) {
	srv, hs, _ := metricsServer(t)
	m := srv.Metrics
	k := enrollKeyed(t, srv.Store)
	env := sealed(t, k, 1, 5, 0)
	if r := doPush(t, hs, k, env); r.StatusCode != http.StatusOK {
		t.Fatalf("push: %d", r.StatusCode)
	}
	if r := doPush(t, hs, k, env); r.StatusCode != http.StatusOK { // the same again: duplicates
		t.Fatalf("push again: %d", r.StatusCode)
	}
	if r := doPush(t, hs, k, sealed(t, k, 20, 1, 0)); r.StatusCode != http.StatusConflict { // leaves a gap
		t.Fatalf("gap push: %d", r.StatusCode)
	}
	other := enrollKeyed(t, srv.Store)
	if r := doPush(t, hs, k, sealed(t, other, 1, 1, 0)); r.StatusCode != http.StatusUnauthorized { // signed by k, sealed by other
		t.Fatalf("foreign envelope: %d", r.StatusCode)
	}
	if r := doPull(t, hs, k); r.StatusCode != http.StatusOK {
		t.Fatalf("pull: %d", r.StatusCode)
	}
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"pushes ok", value(t, m.pushes.WithLabelValues("ok")), 2},
		{"pushes gap", value(t, m.pushes.WithLabelValues(syncproto.CodeGap)), 1},
		{"pushes bad_signature", value(t, m.pushes.WithLabelValues(syncproto.CodeBadSignature)), 1},
		{"pulls ok", value(t, m.pulls.WithLabelValues("ok")), 1},
		{"applied", value(t, m.changes.WithLabelValues(syncproto.Applied)), 5},
		{"duplicate", value(t, m.changes.WithLabelValues(syncproto.Duplicate)), 5},
		{"rejected", value(t, m.changes.WithLabelValues(syncproto.Rejected)), 0},
		{"http push 200", value(t, m.requests.WithLabelValues("push", "200")), 2},
		{"http push 409", value(t, m.requests.WithLabelValues("push", "409")), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// Latencies: one observation per answered request; batch sizes per
	// answered push; a group commit per batch written (the gap and the
	// foreign envelope never reach the store's transaction; the gap's
	// group is refused inside it, and counts).
	for _, c := range []struct {
		name string
		n    int
	}{
		{"stationsync_push_duration_seconds", 4}, {"stationsync_pull_duration_seconds", 1}, {"stationsync_push_batch_changes", 2},
		{"stationsync_pull_page_records", 1}, {"stationsync_store_merge_duration_seconds", 3}, {"stationsync_store_commit_duration_seconds", 3},
	} {
		if got := histogramCount(t, m, c.name); got != c.n {
			t.Errorf("%s count = %d, want %d", c.name, got, c.n)
		}
	}
}

// histogramCount is the number of observations of a histogram (all its
// label values).
func histogramCount(t *testing.T, m *Metrics, name string) int {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, x := range mf.GetMetric() {
			n += int(x.GetHistogram().GetSampleCount())
		}
	}
	return n
}

// Two stations of one village change the same field from the same base:
// the merge keeps one value and records the other as a conflict, and the
// conflicts counter says so once the commit is made.
func TestMetricsCountConflicts(t *testing.T) {
	st := openTestStore(t)
	m := NewMetrics(st)
	st.SetPushObserver(m)
	a, b := enrollKeyed(t, st), enrollKeyed(t, st)
	base := hlc.FromTime(time.Now().Add(-time.Minute))
	phone := func(v string) records.Fields { return records.Fields{"phone": json.RawMessage(`"` + v + `"`)} }
	create := personCreate("p1", base)
	batch := func(k keyed, seq uint64, c syncproto.Change) *syncproto.Batch {
		c.Seq = seq
		return &syncproto.Batch{Version: syncproto.Version, Station: k.st.ID, Epoch: "e", Village: k.st.Village, Changes: []syncproto.Change{c}}
	}
	ctx := context.Background()
	if _, err := st.Push(ctx, a.st, batch(a, 1, syncproto.Change{HLC: uint64(base), Kind: string(records.Person), ID: "p1", Op: string(records.OpUpsert), Fields: create.fields, By: "甲"})); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Push(ctx, a.st, batch(a, 2, syncproto.Change{HLC: uint64(base + 10), Kind: string(records.Person), ID: "p1", Op: string(records.OpUpsert), Fields: phone("13900000001"), Base: map[string]uint64{"phone": uint64(base)}, By: "甲"})); err != nil {
		t.Fatal(err)
	}
	if value(t, m.conflicts) != 0 {
		t.Fatal("conflict counted before one happened")
	}
	if _, err := st.Push(ctx, b.st, batch(b, 1, syncproto.Change{HLC: uint64(base + 5), Kind: string(records.Person), ID: "p1", Op: string(records.OpUpsert), Fields: phone("13900000002"), Base: map[string]uint64{"phone": uint64(base)}, By: "乙"})); err != nil {
		t.Fatal(err)
	}
	cs, err := st.Conflicts(ctx, village)
	if err != nil {
		t.Fatal(err)
	}
	if got := value(t, m.conflicts); got != 1 || len(cs) != 1 {
		t.Fatalf("conflicts counted %v, stored %d; want 1 and 1", got, len(cs))
	}
}

// The stations' gauges come from the store at scrape time: by the age of
// their last contact and by the backlog they reported; a revoked station
// is not counted.
func TestMetricsStationGauges(t *testing.T) {
	srv, hs, st := metricsServer(t)
	ctx := context.Background()
	var ks []keyed
	for range 4 {
		ks = append(ks, enrollKeyed(t, st))
	}
	for _, k := range ks[:2] { // contact now, backlog 1234
		if r := doPull(t, hs, k); r.StatusCode != http.StatusOK {
			t.Fatalf("pull: %d", r.StatusCode)
		}
	}
	st.SetClock(func() time.Time { return time.Now().Add(3 * 24 * time.Hour) }) // three days on
	if err := st.Touch(ctx, ks[2].st.ID, 7, "", "", 0); err != nil {
		t.Fatal(err)
	}
	if err := st.Revoke(ctx, ks[1].st.ID); err != nil {
		t.Fatal(err)
	}
	out := scrape(t, srv.Metrics.Handler())
	for _, want := range []string{
		`stationsync_stations{last_contact="1d_7d"} 2`, // ks[0], and ks[3] enrolled then
		`stationsync_stations{last_contact="lt_1h"} 1`, // ks[2]
		`stationsync_stations{last_contact="gt_7d"} 0`,
		`stationsync_stations{last_contact="never"} 0`,
		`stationsync_stations_by_backlog{backlog="101_1000"} 0`,
		`stationsync_stations_by_backlog{backlog="gt_1000"} 1`,
		`stationsync_stations_by_backlog{backlog="1_100"} 1`,
		`stationsync_stations_by_backlog{backlog="0"} 1`,
		`stationsync_stations_backlog_changes 1241`,
		`stationsync_store_up 1`,
		"go_goroutines ", "process_resident_memory_bytes ", "stationsync_http_requests_total{",
		"stationsync_sync_slots 16", "stationsync_sync_slots_busy 0", "stationsync_store_push_queue 0",
		`go_sql_wait_count_total{db_name="county_writer"}`, `go_sql_open_connections{db_name="county_reader"}`,
	} {
		if !strings.Contains(out, want+"") {
			t.Errorf("scrape lacks %q", want)
		}
	}
	// Closed, the store is down at the next reading (after the cached one
	// has aged), and the scrape still answers.
	st.Close()
	c := newStationCollector(st)
	out = scrapeCollector(t, c)
	if !strings.Contains(out, "stationsync_store_up 0") {
		t.Errorf("closed store not down:\n%s", out)
	}
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func scrapeCollector(t *testing.T, c prometheus.Collector) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	return scrape(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}

// value is the value of a collector of one counter or gauge.
func value(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

// The attachment calls are counted under their own names (the routes of
// files.go), whatever their outcome.
func TestMetricsCountFileCalls(t *testing.T) {
	srv, hs, _ := metricsServer(t)
	for _, c := range []struct{ method, path string }{
		{http.MethodPut, syncproto.PathFiles + strings.Repeat("a", 64) + "?offset=0"},
		{http.MethodPost, syncproto.PathFileStatus},
	} {
		req, _ := http.NewRequest(c.method, hs.URL+c.path, strings.NewReader(strings.Repeat("x", 1000)))
		req.Header.Set(syncproto.HeaderVersion, strconv.Itoa(syncproto.Version))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("unsigned %s %s: %d", c.method, c.path, resp.StatusCode)
		}
	}
	sum := func(name string) (n float64) {
		mfs, err := srv.Metrics.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				for _, m := range mf.GetMetric() {
					n += m.GetCounter().GetValue()
				}
			}
		}
		return n
	}
	if a, b := sum("stationsync_file_chunks_total"), sum("stationsync_file_status_requests_total"); a != 1 || b != 1 {
		t.Errorf("file chunks %v, status calls %v; want 1 and 1", a, b)
	}
}
