package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"stationsync/internal/logging"
)

// syncBuffer is a buffer the server's goroutines may log into at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Every answer carries a request id — the caller's when it is sane, a new
// one otherwise — and the request's log lines name it.
func TestRequestIDEchoedAndLogged(t *testing.T) {
	var logs syncBuffer
	lv := new(slog.LevelVar)
	lv.Set(slog.LevelDebug)
	logger, c, err := logging.New(logging.Options{Console: &logs, Format: logging.FormatJSON, Level: lv})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st := openTestStore(t)
	srv := New(st, logger)
	hs := httptest.NewServer(srv.NewHandler())
	defer hs.Close()
	k := enrollKeyed(t, st)
	env := sealed(t, k, 1, 2, 0)

	// A push whose body is not the one signed: the server warns, and the
	// warning names the request.
	send := func(id string) string {
		req, _ := http.NewRequest(http.MethodPost, hs.URL+"/v1/push", bytes.NewReader(env))
		req.Header = pushHeaders(k, env[:len(env)-1], true)
		if id != "" {
			req.Header.Set(logging.HeaderRequestID, id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get(logging.HeaderRequestID)
	}
	if got := send("lb-42.abc"); got != "lb-42.abc" {
		t.Errorf("sane id answered as %q", got)
	}
	forged := "name=王秀英 tel=13175094058"
	newID := send(forged)
	if !logging.SaneRequestID(newID) || newID == forged {
		t.Errorf("insane id answered as %q", newID)
	}
	a, b := send(""), send("")
	if a == "" || a == b {
		t.Errorf("new ids %q %q", a, b)
	}
	byID := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line not JSON: %q", line)
		}
		id, _ := rec[logging.KeyRequestID].(string)
		byID[id] = append(byID[id], rec["msg"].(string))
	}
	for _, id := range []string{"lb-42.abc", newID, a, b} {
		if got := strings.Join(byID[id], "|"); got != "push body differs from its signed hash|http request" {
			t.Errorf("lines of request %s: %q", id, got)
		}
	}
	if strings.Contains(logs.String(), "13175094058") || strings.Contains(logs.String(), "王秀英") {
		t.Error("the caller's id reached the log")
	}
}

// A handler under the observing layer still finds the Flusher by a type
// assertion (the exports stream so) and the flush reaches the connection.
func TestObserveKeepsFlush(t *testing.T) {
	srv := New(openTestStore(t), quietLog)
	flushed := false
	h := srv.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := w.(http.Flusher)
		if !ok {
			t.Fatal("no Flusher")
		}
		w.Write([]byte("a"))
		f.Flush()
		flushed = true
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if !flushed || !rec.Flushed || rec.Body.String() != "a" {
		t.Fatalf("flushed %v, recorder flushed %v, body %q", flushed, rec.Flushed, rec.Body)
	}
}
