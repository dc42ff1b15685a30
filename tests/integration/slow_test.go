package integration

import (
	"bufio"
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"stationsync/internal/gen"
	"stationsync/internal/testsupport"
	"stationsync/syncproto"
)

// statusWriter records the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) { w.code = c; w.ResponseWriter.WriteHeader(c) }

// Unwrap lets http.ResponseController reach the connection (read
// deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// slowUpload is a push that sends its headers and one byte of a 1 MiB
// body, then a byte every two seconds, from a chosen loopback address.
type slowUpload struct {
	group string
	conn  net.Conn
	br    *bufio.Reader
}

func startSlowUpload(t *testing.T, addr, local, group string, h http.Header, stop <-chan struct{}) *slowUpload {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var b strings.Builder
	fmt.Fprintf(&b, "POST /v1/push HTTP/1.1\r\nHost: county\r\nX-Slow: %s\r\nContent-Length: %d\r\n", group, 1<<20)
	h.Write(&b)
	b.WriteString("\r\nS")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Second):
			}
			if _, err := conn.Write([]byte("S")); err != nil {
				return
			}
		}
	}()
	return &slowUpload{group: group, conn: conn, br: bufio.NewReader(conn)}
}

// Thirty-two slow uploads that cannot sign as a station — no signature, an
// unknown station, the real station's id with another key, and (filling
// the pool of older builds, 2 from each of 4 addresses) the real id
// without the body's hash — all open and trickling at once, more than the
// county's 16 slots. Before, 16 of them held every slot while they
// trickled, and a real station's sync took a minute and failed with 503.
// Now the first three kinds are answered 401 before their body, and the
// real station's sync goes through while the fourth kind is still open.
func TestSlowUploadsDoNotStopStationsSyncing(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	s := newStation(t, c, villageA, nil)
	_, visits := s.AddPeople(t, gen.New(7), villageA, 50)
	want := 50 + len(visits)
	id := s.Store.Meta(ctx, "station_id")

	var entered atomic.Int64
	var mu sync.Mutex
	answered := map[int]int{} // statuses the real station got
	inner := c.Handler()
	h := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Slow") != "" {
			entered.Add(1)
			inner.ServeHTTP(w, r)
			return
		}
		if !strings.Contains(r.Header.Get("Authorization"), "station="+id+",") {
			inner.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		inner.ServeHTTP(sw, r)
		mu.Lock()
		answered[cmp.Or(sw.code, http.StatusOK)]++
		mu.Unlock()
	}))
	c.SetHandler(h)

	_, attacker, _ := ed25519.GenerateKey(nil)
	signed := func(station string, withHash bool) http.Header {
		h := http.Header{}
		h.Set(syncproto.HeaderVersion, "2")
		h.Set("Content-Type", syncproto.ContentEnvelope)
		body := []byte("whatever the attacker would send")
		h.Set("Authorization", syncproto.SignRequest(attacker, station, http.MethodPost, "/v1/push", time.Now(), body))
		if withHash {
			h.Set(syncproto.HeaderContentSHA256, syncproto.BodyHash(body))
		}
		return h
	}
	groups := []struct {
		name   string
		header http.Header
		refuse int // 0: admitted, still open
	}{
		{"no signature", http.Header{syncproto.HeaderVersion: {"2"}}, http.StatusUnauthorized},
		{"unknown station", signed("st_0123456789abcdef", true), http.StatusUnauthorized},
		{"real station, another key", signed(id, true), http.StatusUnauthorized},
		{"real station, no hash (older build)", signed(id, false), 0},
	}
	stop := make(chan struct{})
	defer close(stop)
	addr := c.HTTP.Listener.Addr().String()
	var slow []*slowUpload
	for _, g := range groups {
		for i := range 8 {
			local := fmt.Sprintf("127.0.0.%d", 1+i/2)
			slow = append(slow, startSlowUpload(t, addr, local, g.name, g.header, stop))
		}
	}
	for deadline := time.Now().Add(30 * time.Second); entered.Load() < int64(len(slow)); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d slow uploads reached the county", entered.Load(), len(slow))
		}
	}

	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	began := time.Now()
	res, err := s.SyncOnce(sctx)
	took := time.Since(began)
	t.Logf("the real station synced %d changes in %s with %d slow uploads open", res.Pushed, took.Round(time.Millisecond), len(slow))
	if err != nil {
		t.Fatalf("sync with %d slow uploads open: %v (after %s)", len(slow), err, took.Round(time.Second))
	}
	if res.Pushed != want || s.Pending(t) != 0 {
		t.Fatalf("pushed %d of %d, %d still queued", res.Pushed, want, s.Pending(t))
	}
	mu.Lock()
	if answered[http.StatusServiceUnavailable]+answered[http.StatusTooManyRequests] > 0 {
		t.Errorf("the real station was paced: %v", answered)
	}
	mu.Unlock()

	for i, u := range slow {
		g := groups[i/8]
		u.conn.SetReadDeadline(time.Now().Add(map[bool]time.Duration{true: 10 * time.Second, false: 100 * time.Millisecond}[g.refuse != 0]))
		resp, err := http.ReadResponse(u.br, nil)
		if g.refuse == 0 {
			var ne net.Error
			if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("%s: answered or closed during the sync (%v, %v); want still open", g.name, resp, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: no answer before the body (%v)", g.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != g.refuse {
			t.Fatalf("%s: answered %d, want %d", g.name, resp.StatusCode, g.refuse)
		}
	}
	testsupport.AssertConverged(t, c, s, villageA)
}
