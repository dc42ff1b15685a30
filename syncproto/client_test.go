package syncproto

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"1", time.Second},
		{"29", 29 * time.Second},
		{"600", MaxRetryAfter},
		{"601", MaxRetryAfter},
		{"3600", MaxRetryAfter},
		{"9223372037", MaxRetryAfter}, // seconds whose nanoseconds overflow an int64
		{"10000000000", MaxRetryAfter},
		{"18446744073709551616", MaxRetryAfter},   // more than an int64 holds
		{"-5", 0},                                 // nonsense
		{"-18446744073709551616", 0},              // nonsense, and too long
		{"1.5", 0},                                // not delta-seconds
		{" 5", 0},                                 // not delta-seconds
		{"Wed, 21 Oct 2026 07:28:00 GMT", 0},      // HTTP-date: ignored, the station's clock may be years off
		{"Fri, 31 Dec 1999 23:59:59 GMT", 0},      // HTTP-date in the past
		{"Sun, 06 Nov 1994 08:49:37 GMT junk", 0}, // garbage
	} {
		resp := &http.Response{Header: http.Header{}}
		if tc.header != "" {
			resp.Header.Set("Retry-After", tc.header)
		}
		if got := RetryAfter(resp); got != tc.want {
			t.Errorf("Retry-After %q: %v, want %v", tc.header, got, tc.want)
		}
	}
	if got := RetryAfter(nil); got != 0 {
		t.Errorf("no response: %v", got)
	}
}

func TestFullJitterBounds(t *testing.T) {
	for _, tc := range []struct {
		min, max time.Duration
		attempt  int
		ceil     time.Duration
	}{
		{RetryWaitMin, RetryWaitMax, 0, RetryWaitMin},
		{RetryWaitMin, RetryWaitMax, 1, 2 * RetryWaitMin},
		{RetryWaitMin, RetryWaitMax, 5, 16 * time.Second},
		{RetryWaitMin, RetryWaitMax, 6, RetryWaitMax},
		{RetryWaitMin, RetryWaitMax, 29, RetryWaitMax},
		{RetryWaitMin, RetryWaitMax, 30, RetryWaitMax},
		{RetryWaitMin, RetryWaitMax, 63, RetryWaitMax},
		{RetryWaitMin, RetryWaitMax, 1000, RetryWaitMax},
		{2 * time.Second, 5 * time.Minute, 1, 4 * time.Second}, // the agent's scheduler
		{2 * time.Second, 5 * time.Minute, 40, 5 * time.Minute},
		{time.Hour, time.Hour, 28, time.Hour}, // 1h<<28 overflows an int64
		{0, time.Second, 3, time.Second},
		{0, 0, 3, 0},
	} {
		var lo, hi time.Duration = tc.ceil, 0
		for range 2000 {
			w := FullJitter(tc.min, tc.max, tc.attempt)
			if w < 0 || w > tc.ceil {
				t.Fatalf("FullJitter(%v, %v, %d) = %v, outside [0, %v]", tc.min, tc.max, tc.attempt, w, tc.ceil)
			}
			lo, hi = min(lo, w), max(hi, w)
		}
		// Full jitter: the waits spread over the whole range, so that a
		// county's stations do not come back together.
		if tc.ceil > 0 && (lo > tc.ceil/10 || hi < tc.ceil*9/10) {
			t.Errorf("FullJitter(%v, %v, %d) spans only [%v, %v] of [0, %v]", tc.min, tc.max, tc.attempt, lo, hi, tc.ceil)
		}
	}
}

func TestBackoff(t *testing.T) {
	resp := func(ra string) *http.Response {
		r := &http.Response{StatusCode: 503, Header: http.Header{}}
		r.Header.Set("Retry-After", ra)
		return r
	}
	for range 200 {
		// A server's Retry-After is the floor, plus up to a second of jitter.
		if w := Backoff(RetryWaitMin, RetryWaitMax, 0, resp("3")); w < 3*time.Second || w >= 4*time.Second {
			t.Fatalf("Retry-After 3: %v", w)
		}
		// Capped at maxWait: a longer answer is not retried in-request anyway.
		if w := Backoff(RetryWaitMin, RetryWaitMax, 0, resp("3600")); w < RetryWaitMax || w >= RetryWaitMax+time.Second {
			t.Fatalf("Retry-After 3600: %v", w)
		}
		// No (usable) Retry-After: full jitter.
		for _, r := range []*http.Response{nil, resp(""), resp("Wed, 21 Oct 2026 07:28:00 GMT")} {
			if w := Backoff(RetryWaitMin, RetryWaitMax, 2, r); w < 0 || w > 4*RetryWaitMin {
				t.Fatalf("no Retry-After: %v", w)
			}
		}
	}
}

// TestRoundWait: the wait between a station's failed rounds honours the
// county's Retry-After as a floor and spreads the herd it told the same
// thing over a quarter more; without one it is capped full jitter.
func TestRoundWait(t *testing.T) {
	busy := func(ra time.Duration) error {
		return fmt.Errorf("push: %w", &Error{Status: 503, Code: CodeOverloaded, RetryAfter: ra})
	}
	lo, hi := time.Duration(1<<62), time.Duration(0)
	seconds := map[time.Duration]int{}
	for range 2000 {
		w := RoundWait(1, time.Minute, busy(20*time.Second))
		if w < 20*time.Second || w >= 25*time.Second {
			t.Fatalf("Retry-After 20 s: waited %v, want [20 s, 25 s)", w)
		}
		lo, hi = min(lo, w), max(hi, w)
		seconds[w.Truncate(time.Second)]++
	}
	// 2,000 stations told "20 s" at once must not all come back in the
	// same second: spread over the five seconds, none holding half.
	if hi-lo < 4*time.Second || len(seconds) < 5 {
		t.Fatalf("Retry-After 20 s: waits span only [%v, %v] over %d seconds", lo, hi, len(seconds))
	}
	for s, n := range seconds {
		if n > 1000 {
			t.Fatalf("Retry-After 20 s: %d of 2000 stations come back in second %v", n, s)
		}
	}
	// A short Retry-After still gets a second of jitter.
	for range 200 {
		if w := RoundWait(1, time.Minute, busy(3*time.Second)); w < 3*time.Second || w > 4*time.Second+2*time.Second {
			t.Fatalf("Retry-After 3 s: waited %v", w)
		}
	}
	// No Retry-After (a dead link, another error): full jitter up to the cap.
	for _, err := range []error{errors.New("dial tcp: connection refused"), busy(0), nil} {
		for f := 1; f < 40; f += 7 {
			if w := RoundWait(f, time.Minute, err); w < 0 || w > time.Minute {
				t.Fatalf("failures=%d err=%v: waited %v, want [0, 1 min]", f, err, w)
			}
		}
	}
}

func TestCheckVersion(t *testing.T) {
	for v := MinVersion; v <= Version; v++ {
		if err := CheckVersion(v); err != nil {
			t.Errorf("CheckVersion(%d): %v", v, err)
		}
	}
	for _, v := range []int{MinVersion - 1, 0, -1, Version + 1, 99} {
		err := CheckVersion(v)
		var ve *VersionError
		if !errors.As(err, &ve) || ve.Peer != v || ve.Local != Version {
			t.Fatalf("CheckVersion(%d) = %v", v, err)
		}
		if !IsVersionMismatch(fmt.Errorf("push: %w", err)) {
			t.Errorf("IsVersionMismatch(%v) = false", err)
		}
		if !strings.Contains(err.Error(), strconv.Itoa(v)) || !strings.Contains(err.Error(), strconv.Itoa(Version)) {
			t.Errorf("%q does not name both versions", err)
		}
	}
	if !IsVersionMismatch(&Error{Status: 400, Code: CodeVersion}) {
		t.Error("a version_unsupported answer is a mismatch")
	}
	for _, err := range []error{nil, errors.New("x"), &Error{Status: 400, Code: CodeBadRequest}} {
		if IsVersionMismatch(err) {
			t.Errorf("IsVersionMismatch(%v) = true", err)
		}
	}
}

func TestErrorTemporary(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want bool
	}{
		{Error{Status: 503, Code: CodeOverloaded}, true},
		{Error{Status: 500, Code: CodeInternal}, true},
		{Error{Status: 502, Code: "http"}, true},
		{Error{Status: 429}, true},
		{Error{Status: 401, Code: CodeClockSkew}, true},
		{Error{Status: 409, Code: CodeGap}, true},
		{Error{Status: 401, Code: CodeBadSignature}, false},
		{Error{Status: 403, Code: CodeRevoked}, false},
		{Error{Status: 400, Code: CodeVersion}, false},
		{Error{Status: 409, Code: CodeCodeUsed}, false},
	} {
		if got := tc.e.Temporary(); got != tc.want {
			t.Errorf("%d %s: Temporary() = %v", tc.e.Status, tc.e.Code, got)
		}
	}
}

// pipeNet is an in-memory network for synctest: net.Pipe blocks durably,
// so the bubble's fake clock runs while the client waits between attempts.
type pipeNet struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeNet() *pipeNet {
	return &pipeNet{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (p *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.closed:
		return nil, net.ErrClosed
	}
}

func (p *pipeNet) Close() error   { p.once.Do(func() { close(p.closed) }); return nil }
func (p *pipeNet) Addr() net.Addr { return pipeAddr{} }

func (p *pipeNet) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	s, c := net.Pipe()
	select {
	case p.conns <- s:
		// The same wrapper NewClient puts around a real connection.
		return &idleConn{Conn: c, idle: IdleTimeout}, nil
	case <-p.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "county.test:80" }

// serve starts an httptest server on an in-memory network and returns a
// client of it: for use inside a synctest bubble.
func serve(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	pn := newPipeNet()
	ts := httptest.NewUnstartedServer(h)
	ts.Listener.Close()
	ts.Listener = pn
	ts.Start()
	c := NewClient(ts.URL)
	c.Station, c.Key = testStation, FixtureKey()
	c.Logger = slog.New(slog.DiscardHandler)
	c.HTTP.Transport.(*http.Transport).DialContext = pn.DialContext
	t.Cleanup(func() {
		c.CloseIdle()
		ts.Close()
	})
	return c
}

func writeErrorBody(w http.ResponseWriter, status int, code, msg string, hwm uint64) {
	var eb ErrorBody
	eb.Error.Code, eb.Error.Message, eb.Error.HWM = code, msg, hwm
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(eb)
}

// writePlain answers in plain JSON. The synctest tests use it instead of
// writeZ, and seal their envelopes outside the bubble: the zstd encoders
// and decoders of codec.go live in global pools and hold channels, and one
// made inside a bubble must not be used outside it ("receive on synctest
// channel from outside bubble").
func writePlain(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func writeZ(w http.ResponseWriter, v any) {
	raw, _ := json.Marshal(v)
	w.Header().Set("Content-Type", ContentZJSON)
	w.Write(Compress(raw, Fast))
}

func TestClientRetriesShortRetryAfter(t *testing.T) {
	env := seal(t, sampleBatch(1, 2), Best)
	synctest.Test(t, func(t *testing.T) {
		var attempts atomic.Int32
		var times []time.Time
		var auths []string
		c := serve(t, func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if string(body) != string(env) {
				t.Errorf("attempt %d carried %d bytes, want the envelope", attempts.Load()+1, len(body))
			}
			if r.Header.Get(HeaderVersion) != strconv.Itoa(Version) || r.Header.Get("Content-Type") != ContentEnvelope {
				t.Errorf("headers %v", r.Header)
			}
			times = append(times, time.Now())
			auths = append(auths, r.Header.Get("Authorization"))
			if attempts.Add(1) == 1 {
				w.Header().Set("Retry-After", "1")
				writeErrorBody(w, http.StatusServiceUnavailable, CodeOverloaded, "县级服务器繁忙，稍后会自动重试", 0)
				return
			}
			writePlain(w, PushResult{Version: 1, Epoch: testEpoch, HWM: 2, Results: []ChangeResult{{Seq: 1, Status: Applied, Rev: 1, Clean: true}, {Seq: 2, Status: Duplicate}}})
		})
		pr, err := c.Push(t.Context(), env)
		if err != nil {
			t.Fatal(err)
		}
		if attempts.Load() != 2 || pr.HWM != 2 || len(pr.Results) != 2 || !pr.Results[0].Clean {
			t.Fatalf("%d attempts, result %+v", attempts.Load(), pr)
		}
		// Retry-After 1, plus up to a second of jitter.
		if d := times[1].Sub(times[0]); d < time.Second || d >= 2*time.Second {
			t.Fatalf("retried after %v", d)
		}
		// Each attempt is signed anew, with the time it was sent.
		if auths[0] == auths[1] {
			t.Fatal("the retry reused the first attempt's signature")
		}
		a, err := ParseAuth(auths[1])
		if err != nil || a.At.UnixMilli() != times[1].UnixMilli() || !a.Verify(fixturePub(), "POST", "/v1/push", env) {
			t.Fatalf("retry signature %+v, %v", a, err)
		}
	})
}

func TestClientRetries429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var attempts atomic.Int32
		c := serve(t, func(w http.ResponseWriter, r *http.Request) {
			if attempts.Add(1) <= 2 {
				w.Header().Set("Retry-After", "2")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			writePlain(w, PullPage{Version: 1, FeedEpoch: "f", Records: []Record{}})
		})
		start := time.Now()
		if _, err := c.Pull(t.Context(), 0, "f", 500, 0, "1.0.0"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); attempts.Load() != 3 || d < 4*time.Second || d >= 6*time.Second {
			t.Fatalf("%d attempts in %v", attempts.Load(), d)
		}
	})
}

func TestClientLongRetryAfterNotRetried(t *testing.T) {
	env := seal(t, sampleBatch(1, 1), Fast)
	synctest.Test(t, func(t *testing.T) {
		var attempts atomic.Int32
		c := serve(t, func(w http.ResponseWriter, r *http.Request) {
			attempts.Add(1)
			w.Header().Set("Retry-After", "3600")
			writeErrorBody(w, http.StatusServiceUnavailable, CodeOverloaded, "县级服务器繁忙，稍后会自动重试", 0)
		})
		start := time.Now()
		_, err := c.Push(t.Context(), env)
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("err %v (%T), want *Error", err, err)
		}
		if attempts.Load() != 1 || time.Since(start) != 0 {
			t.Fatalf("%d attempts in %v: a long Retry-After is the scheduler's, not the request's", attempts.Load(), time.Since(start))
		}
		if e.Status != 503 || e.Code != CodeOverloaded || e.RetryAfter != MaxRetryAfter || !e.Temporary() || e.Message == "" {
			t.Fatalf("error %+v", e)
		}
	})
}

func TestClientGivesUpAfterRetryMax(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var attempts atomic.Int32
		c := serve(t, func(w http.ResponseWriter, r *http.Request) {
			attempts.Add(1)
			writeErrorBody(w, http.StatusInternalServerError, CodeInternal, "县级服务器内部错误，稍后会自动重试", 0)
		})
		start := time.Now()
		_, err := c.Pull(t.Context(), 0, "", 500, 0, "1.0.0")
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeInternal || e.Status != 500 {
			t.Fatalf("err %v", err)
		}
		// 1 + RetryMax attempts, waits of full jitter under 0.5 s, 1 s and 2 s.
		if n := attempts.Load(); n != int32(1+c.RetryMax) {
			t.Fatalf("%d attempts", n)
		}
		if d := time.Since(start); d > 3500*time.Millisecond {
			t.Fatalf("gave up after %v", d)
		}
	})
}

// A captive portal or a proxy answering in HTML must come back as an
// *Error that tells the cadre to check the address, not as a JSON error.
func TestClientCaptivePortal(t *testing.T) {
	env := seal(t, sampleBatch(1, 1), Fast)
	synctest.Test(t, func(t *testing.T) {
		var attempts atomic.Int32
		c := serve(t, func(w http.ResponseWriter, r *http.Request) {
			attempts.Add(1)
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html><body>请先登录 WiFi</body></html>")
		})
		_, err := c.Push(t.Context(), env)
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("err %v (%T), want *Error", err, err)
		}
		if e.Status != 502 || e.Code != "http" || !strings.Contains(e.Message, "502") || !strings.Contains(e.Message, "服务器地址") {
			t.Fatalf("error %+v", e)
		}
		if !strings.Contains(err.Error(), "502") {
			t.Fatalf("Error() = %q", err)
		}
		if attempts.Load() != int32(1+c.RetryMax) {
			t.Fatalf("%d attempts: a 502 is retried", attempts.Load())
		}
	})
}

func TestClientErrorBodies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		body    string
		want    Error
		version bool
	}{
		{"gap", 409, `{"error":{"code":"gap","message":"数据包顺序不连续，将从断点重新发送","hwm":4}}`,
			Error{Status: 409, Code: CodeGap, Message: "数据包顺序不连续，将从断点重新发送", HWM: 4}, false},
		{"newer agent", 400, `{"error":{"code":"version_unsupported","message":"客户端协议版本 2 比县级服务器（版本 1）新，请联系县里升级服务器","server_version":1}}`,
			Error{Status: 400, Code: CodeVersion, Message: "客户端协议版本 2 比县级服务器（版本 1）新，请联系县里升级服务器", ServerVersion: 1}, true},
		{"revoked", 403, `{"error":{"code":"revoked","message":"这个站点已被县里停用，请联系县民政局"}}`,
			Error{Status: 403, Code: CodeRevoked, Message: "这个站点已被县里停用，请联系县民政局"}, false},
		{"json without our shape", 404, `{"message":"not found"}`,
			Error{Status: 404, Code: "http", Message: "服务器返回了意外的应答（404），请检查县级服务器地址"}, false},
		{"plain text 405 from a mux", 405, "Method Not Allowed\n",
			Error{Status: 405, Code: "http", Message: "服务器返回了意外的应答（405），请检查县级服务器地址"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer ts.Close()
			c := NewClient(ts.URL)
			c.Logger = slog.New(slog.DiscardHandler)
			_, err := c.Push(t.Context(), seal(t, sampleBatch(1, 1), Fast))
			var e *Error
			if !errors.As(err, &e) || *e != tc.want {
				t.Fatalf("err %#v, want %#v", e, tc.want)
			}
			if IsVersionMismatch(err) != tc.version {
				t.Fatalf("IsVersionMismatch = %v", !tc.version)
			}
		})
	}
}

// OnServerTime hands over the server's clock from X-Server-Time and the
// round trip, also on an error answer: that is how a clock_skew refusal
// corrects the station's clock before the agent's second try.
func TestClientOnServerTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ahead = 90 * time.Minute
		const delay = 300 * time.Millisecond // the link's latency each way
		var stamped []time.Time
		c := serve(t, func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(delay)
			now := time.Now().Add(ahead)
			stamped = append(stamped, now.Truncate(time.Millisecond))
			w.Header().Set(HeaderServerTime, strconv.FormatInt(now.UnixMilli(), 10))
			if r.URL.Query().Get("after") == "1" {
				writeErrorBody(w, http.StatusUnauthorized, CodeClockSkew, "电脑时间与县里相差太大，已自动校准后重试", 0)
				return
			}
			writePlain(w, PullPage{Version: 1, FeedEpoch: "f", Records: []Record{}})
		})
		// Only the answer's latency counts after the stamp; the request's
		// happens before it.
		c.HTTP.Transport = delayed{c.HTTP.Transport, delay}
		type call struct {
			server time.Time
			rtt    time.Duration
			offset time.Duration // what the agent makes of it
		}
		var calls []call
		c.OnServerTime = func(server time.Time, rtt time.Duration) {
			// The server's time now is the stamp plus half the round trip.
			calls = append(calls, call{server, rtt, server.Add(rtt / 2).Sub(time.Now())})
		}
		if _, err := c.Pull(t.Context(), 0, "f", 500, 0, "1.0.0"); err != nil {
			t.Fatal(err)
		}
		_, err := c.Pull(t.Context(), 1, "f", 500, 0, "1.0.0")
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeClockSkew || !e.Temporary() {
			t.Fatalf("err %v", err)
		}
		if len(calls) != 2 {
			t.Fatalf("OnServerTime called %d times, want 2", len(calls))
		}
		for i, got := range calls {
			if !got.server.Equal(stamped[i]) || got.rtt != 2*delay {
				t.Errorf("call %d: server %v rtt %v, want %v and %v", i, got.server, got.rtt, stamped[i], 2*delay)
			}
			if got.offset < ahead-time.Millisecond || got.offset > ahead {
				t.Errorf("call %d: offset %v, want %v", i, got.offset, ahead)
			}
		}
	})
}

// delayed adds latency to the answer of each round trip.
type delayed struct {
	http.RoundTripper
	d time.Duration
}

func (t delayed) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.RoundTripper.RoundTrip(r)
	time.Sleep(t.d)
	return resp, err
}

// The pull request is signed over exactly what the server sees as the
// request URI, and enrollment is not signed.
func TestClientRequests(t *testing.T) {
	var seen []*http.Request
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r)
		switch r.URL.Path {
		case "/v1/enroll":
			var req EnrollRequest
			body, _ := io.ReadAll(r.Body)
			if err := json.Unmarshal(body, &req); err != nil || req.Version != Version || req.Code != "YS6M8-259ER" || len(req.PublicKey) != 32 {
				t.Errorf("enrol request %s: %v", body, err)
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			json.NewEncoder(w).Encode(EnrollResponse{Version: 1, StationID: testStation, Village: testVillage, County: "340123", ServerTime: 1})
		case "/v1/pull":
			a, err := ParseAuth(r.Header.Get("Authorization"))
			if err != nil || a.Station != testStation || !a.Verify(fixturePub(), r.Method, r.URL.RequestURI(), nil) {
				t.Errorf("pull signature %q: %v", r.Header.Get("Authorization"), err)
			}
			q := r.URL.Query()
			if q.Get("after") != "42" || q.Get("feed") != "885180ac7e663533" || q.Get("limit") != "500" || q.Get("pending") != "3" || q.Get("agent") != "1.0.0 (windows/386)" {
				t.Errorf("pull query %v", q)
			}
			writeZ(w, PullPage{Version: 1, FeedEpoch: "885180ac7e663533", Records: []Record{{Kind: "person", ID: "p1", Village: testVillage, Rev: 2,
				Fields: map[string]json.RawMessage{"name": json.RawMessage(`"王秀英"`)}, Versions: map[string]uint64{"name": 5}}}, Next: 43})
		}
	}))
	defer ts.Close()
	c := NewClient(ts.URL)
	c.Logger = slog.New(slog.DiscardHandler)
	c.Key = FixtureKey() // already set: enrollment must still go unsigned
	er, err := c.Enroll(t.Context(), EnrollRequest{Code: "YS6M8-259ER", PublicKey: fixturePub(), Hostname: "CUN-PC01"})
	if err != nil || er.StationID != testStation {
		t.Fatalf("enrol: %+v, %v", er, err)
	}
	c.Station = er.StationID
	p, err := c.Pull(t.Context(), 42, "885180ac7e663533", 500, 3, "1.0.0 (windows/386)")
	if err != nil || len(p.Records) != 1 || p.Next != 43 || string(p.Records[0].Fields["name"]) != `"王秀英"` {
		t.Fatalf("pull: %+v, %v", p, err)
	}
	if seen[0].Header.Get("Authorization") != "" {
		t.Fatal("enrolment was signed")
	}
	for _, r := range seen {
		if r.Header.Get(HeaderVersion) != strconv.Itoa(Version) {
			t.Fatalf("%s without %s", r.URL.Path, HeaderVersion)
		}
	}
}

// An answer that stops moving fails after IdleTimeout, long before the
// request's overall timeout.
func TestClientIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := serve(t, func(w http.ResponseWriter, r *http.Request) {
			select { // a stalled link: nothing comes back
			case <-r.Context().Done():
			case <-time.After(time.Hour):
			}
		})
		c.RetryMax = 0
		start := time.Now()
		_, err := c.Pull(t.Context(), 0, "", 500, 0, "1.0.0")
		if err == nil {
			t.Fatal("a stalled answer succeeded")
		}
		if d := time.Since(start); d != IdleTimeout {
			t.Fatalf("failed after %v, want %v: %v", d, IdleTimeout, err)
		}
	})
}

func TestClientContextEndsRetryWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "20")
			writeErrorBody(w, http.StatusServiceUnavailable, CodeOverloaded, "忙", 0)
		})
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.Pull(ctx, 0, "", 500, 0, "1.0.0")
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 5*time.Second {
			t.Fatalf("after %v: %v", time.Since(start), err)
		}
	})
}

// A Client made as a literal, without NewClient, works with its zero
// fields.
func TestClientZeroValue(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeZ(w, PullPage{Version: 1, FeedEpoch: "f", Records: []Record{}})
	}))
	defer ts.Close()
	c := &Client{BaseURL: ts.URL, Station: testStation, Key: FixtureKey()}
	if _, err := c.Pull(t.Context(), 0, "f", 1, 0, ""); err != nil {
		t.Fatal(err)
	}
	c.CloseIdle()
}

// A captive portal answering 200 with HTML acknowledges nothing: the
// client reports it as an error a cadre can act on.
func TestCaptivePortal200IsAnError(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<html>请先登录</html>"))
	}))
	defer hs.Close()
	c := NewClient(hs.URL)
	c.RetryMax = 0
	_, err := c.Push(context.Background(), []byte("x"))
	var e *Error
	if !errors.As(err, &e) || e.Code != "http" || e.Message == "" {
		t.Fatalf("err %v, want a clear *Error", err)
	}
}

// A push carries its body's hash beside the signature that covers it, so
// that the county can check who signed before it reads the body (§9). A
// clock_skew refusal, which carries the county's time, is tried once more
// at once with the corrected clock.
func TestClientPushSendsSignedBodyHash(t *testing.T) {
	env := seal(t, sampleBatch(1, 2), Fast)
	synctest.Test(t, func(t *testing.T) {
		var attempts atomic.Int32
		var offset time.Duration
		c := serve(t, func(w http.ResponseWriter, r *http.Request) {
			n := attempts.Add(1)
			h := r.Header.Get(HeaderContentSHA256)
			a, err := ParseAuth(r.Header.Get("Authorization"))
			if err != nil || !ValidBodyHash(h) || !a.VerifyHash(fixturePub(), r.Method, r.URL.RequestURI(), h) {
				t.Errorf("attempt %d: hash %q does not verify with %q (%v)", n, h, r.Header.Get("Authorization"), err)
			}
			if body, _ := io.ReadAll(r.Body); BodyHash(body) != h {
				t.Errorf("attempt %d: hash %q is not the body's", n, h)
			}
			if n == 1 {
				w.Header().Set(HeaderServerTime, strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10))
				writeErrorBody(w, http.StatusUnauthorized, CodeClockSkew, "电脑时间与县里相差太大，已自动校准后重试", 0)
				return
			}
			if d := a.At.Sub(time.Now().Add(time.Hour)); d < -time.Second || d > time.Second {
				t.Errorf("the second attempt is signed %v off the county's time", d)
			}
			writePlain(w, PushResult{Version: 1, Epoch: "e", HWM: 2})
		})
		c.OnServerTime = func(server time.Time, _ time.Duration) { offset = server.Sub(time.Now()) }
		c.Now = func() time.Time { return time.Now().Add(offset) }
		if _, err := c.Push(t.Context(), env); err != nil || attempts.Load() != 2 {
			t.Fatalf("push: %v after %d attempts, want success after 2", err, attempts.Load())
		}
	})
}
