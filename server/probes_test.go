package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func get(t *testing.T, url string, h http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// /healthz says the process answers; /readyz that the store answers with
// this build's schema, and 503 with the reason when it does not: a
// migration missing, the store closed.
func TestReadyzFollowsTheStore(t *testing.T) {
	_, hs, st := gateServer(t, nil)
	if code, body := get(t, hs.URL+"/healthz", nil); code != 200 || body != "ok\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	if code, body := get(t, hs.URL+"/readyz", nil); code != 200 || body != "ok\n" {
		t.Fatalf("readyz: %d %q", code, body)
	}
	known := st.db.Migrations()
	last := known[len(known)-1]
	if _, err := st.db.W.Exec(`DELETE FROM schema_migrations WHERE name = ?`, last); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, hs.URL+"/readyz", nil); code != 503 || !strings.Contains(body, "migrations not applied: "+last) {
		t.Fatalf("readyz with %s missing: %d %q", last, code, body)
	}
	if _, err := st.db.W.Exec(`INSERT INTO schema_migrations (name, applied_at) VALUES (?, 0), ('9999_from_the_future.sql', 0)`, last); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, hs.URL+"/readyz", nil); code != 503 || !strings.Contains(body, "newer than this server") {
		t.Fatalf("readyz with a newer schema: %d %q", code, body)
	}
	if _, err := st.db.W.Exec(`DELETE FROM schema_migrations WHERE name = '9999_from_the_future.sql'`); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, hs.URL+"/readyz", nil); code != 200 {
		t.Fatalf("readyz once mended: %d", code)
	}
	st.Close()
	if code, body := get(t, hs.URL+"/readyz", nil); code != 503 || !strings.Contains(body, "store unreachable") {
		t.Fatalf("readyz with the store closed: %d %q", code, body)
	}
	if code, _ := get(t, hs.URL+"/healthz", nil); code != 200 {
		t.Fatalf("healthz with the store closed: %d (the process still answers)", code)
	}
}

const testToken = "0123456789abcdef-metrics"

// On the main listener — the one the public portal's visitors reach —
// /metrics answers only the token, whatever the request says about where
// it came from: this test's requests all come from 127.0.0.1, as a reverse
// proxy's would, and none of the spellings a visitor may send gets in.
func TestMetricsOnTheMainListenerNeedTheToken(t *testing.T) {
	for _, token := range []string{"", testToken} {
		_, hs, _ := gateServer(t, func(s *Server) {
			s.Metrics = NewMetrics(s.Store.(*CountyStore))
			s.MetricsToken = token
		})
		refusals := []http.Header{
			nil,
			{"X-Forwarded-For": {"127.0.0.1"}},
			{"X-Real-Ip": {"127.0.0.1"}},
			{"Forwarded": {"for=127.0.0.1;proto=http"}},
			{"X-Forwarded-For": {"127.0.0.1, 127.0.0.1"}, "X-Forwarded-Host": {"localhost"}},
			{"Authorization": {"Bearer"}},
			{"Authorization": {"Bearer "}},
			{"Authorization": {"Bearer wrong-token-of-some-length"}},
			{"Authorization": {"Bearer " + testToken + "x"}},
			{"Authorization": {"Bearer " + testToken[:len(testToken)-1]}},
			{"Authorization": {"Basic " + testToken}},
			{"Authorization": {testToken}},
			{"X-Metrics-Token": {testToken}},
		}
		if token == "" {
			refusals = append(refusals, http.Header{"Authorization": {"Bearer " + testToken}}, http.Header{"Authorization": {"Bearer "}})
		}
		for _, h := range refusals {
			for _, path := range []string{"/metrics", "/metrics/", "//metrics", "/METRICS", "/metrics?format=text", "/./metrics", "/%6detrics"} {
				code, body := get(t, hs.URL+path, h)
				if code == 200 || strings.Contains(body, "stationsync_") || strings.Contains(body, "go_goroutines") {
					t.Errorf("token %q: GET %s with %v: %d %.100q", token, path, h, code, body)
				}
			}
		}
		if token == "" {
			continue
		}
		for _, auth := range []string{"Bearer " + testToken, "bearer " + testToken, "BEARER  " + testToken + " "} {
			code, body := get(t, hs.URL+"/metrics", http.Header{"Authorization": {auth}})
			if code != 200 || !strings.Contains(body, "stationsync_http_requests_total") {
				t.Errorf("with %q: %d %.200q", auth, code, body)
			}
		}
	}
}

// The listener of the metrics' own: on loopback it needs no token; off
// loopback it does not start without one; with a token it refuses a
// scrape without it.
func TestMetricsListener(t *testing.T) {
	for _, c := range []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:9464", "", true}, {"[::1]:9464", "", true}, {"localhost:9464", "", true},
		{"0.0.0.0:9464", "", false}, {":9464", "", false}, {"[::]:9464", "", false}, {"10.1.2.3:9464", "", false},
		{"0.0.0.0:9464", testToken, true}, {"127.0.0.1:9464", "short", false},
	} {
		if err := CheckMetricsListener(c.addr, c.token); (err == nil) != c.ok {
			t.Errorf("CheckMetricsListener(%q, %q) = %v", c.addr, c.token, err)
		}
	}
	for _, token := range []string{"", testToken} {
		srv, _, _ := gateServer(t, func(s *Server) { s.Metrics = NewMetrics(s.Store.(*CountyStore)) })
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); srv.ServeMetrics(ctx, ln, token) }()
		base := "http://" + ln.Addr().String()
		if code, body := get(t, base+"/readyz", nil); code != 200 || body != "ok\n" {
			t.Errorf("readyz: %d %q", code, body)
		}
		code, body := get(t, base+"/metrics", nil)
		if token == "" && (code != 200 || !strings.Contains(body, "stationsync_stations{")) {
			t.Errorf("loopback scrape: %d %.200q", code, body)
		}
		if token != "" && code != http.StatusUnauthorized {
			t.Errorf("scrape without the token: %d", code)
		}
		if token != "" {
			if code, _ := get(t, base+"/metrics", http.Header{"Authorization": {"Bearer " + token}}); code != 200 {
				t.Errorf("scrape with the token: %d", code)
			}
		}
		cancel()
		wg.Wait()
	}
}

// countingStats is a store whose station counts take a while and are
// counted, with the most readings at once.
type countingStats struct {
	mu         sync.Mutex
	calls, now int
	most       int
	release    chan struct{}
}

func (c *countingStats) StationStats(ctx context.Context) (StationStats, error) {
	c.mu.Lock()
	c.calls++
	c.now++
	c.most = max(c.most, c.now)
	c.mu.Unlock()
	<-c.release
	c.mu.Lock()
	c.now--
	c.mu.Unlock()
	return StationStats{ContactLt1h: 3}, nil
}

// Many scrapes at once: a few are answered (the rest 503 at once, never a
// pile of waiting queries), and the store is read once for all of them.
func TestScrapesAtOnceReadTheStoreOnce(t *testing.T) {
	stats := &countingStats{release: make(chan struct{})}
	m := NewMetrics(stats)
	hs := httptest.NewServer(m.Handler())
	defer hs.Close()
	const n = 50
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(hs.URL)
			if err != nil {
				codes <- -1
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	// The refusals come back while the admitted scrapes wait on the store.
	refused := 0
	for refused < n-maxScrapes {
		switch c := <-codes; c {
		case http.StatusServiceUnavailable:
			refused++
		default:
			t.Fatalf("a scrape answered %d while the store was being read", c)
		}
	}
	close(stats.release)
	wg.Wait()
	close(codes)
	ok := 0
	for c := range codes {
		if c != 200 {
			t.Errorf("admitted scrape answered %d", c)
		}
		ok++
	}
	if ok != maxScrapes || stats.calls != 1 || stats.most != 1 {
		t.Errorf("%d answered, store read %d times (%d at once); want %d, 1, 1", ok, stats.calls, stats.most, maxScrapes)
	}
}

// hangingStore answers nothing until it is asked to give up.
type hangingStore struct{ Store }

func (hangingStore) Ready(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// A store that hangs makes /readyz answer 503, not hang: the probe's
// question is bounded (readyTimeout).
func TestReadyzDoesNotHangOnAHungStore(t *testing.T) {
	srv := New(hangingStore{}, quietLog)
	rec := httptest.NewRecorder()
	srv.handleReadyz(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "deadline exceeded") {
		t.Fatalf("readyz: %d %q", rec.Code, rec.Body)
	}
}
