package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"stationsync/syncproto"
)

// When every slot is busy, a station is told to come back later with a
// delta-seconds Retry-After, rather than the server queueing without bound.
func TestOverloadAnswers503WithRetryAfter(t *testing.T) {
	store := openTestStore(t)
	srv := New(store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv.MaxInflight, srv.QueueWait = 1, 20*time.Millisecond
	hs := httptest.NewServer(srv.NewHandler())
	defer hs.Close()
	srv.slots <- struct{}{}    // one long push holds the only slot
	k := enrollKeyed(t, store) // gate_test.go
	pull := func() *http.Request {
		req, _ := http.NewRequest(http.MethodGet, hs.URL+"/v1/pull", nil)
		req.Header.Set(syncproto.HeaderVersion, "1")
		req.Header.Set("Authorization", syncproto.SignRequest(k.key, k.st.ID, http.MethodGet, "/v1/pull", time.Now(), nil))
		return req
	}
	resp, err := http.DefaultClient.Do(pull())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < 5 || ra > 30 {
		t.Fatalf("Retry-After %q, want delta-seconds 5–30", resp.Header.Get("Retry-After"))
	}
	<-srv.slots
	resp, err = http.DefaultClient.Do(pull())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusServiceUnavailable {
		t.Fatal("still 503 with a free slot")
	}
}
