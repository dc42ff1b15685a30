package server

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"stationsync/internal/leakcheck"
)

// The county's background jobs (the staff pages' refresher, the
// certificate's renewal) end at Close, which waits for them and returns
// the first error one returned; nothing is left running against the store
// closed after it. (Before, both were started with go and never waited.)
func TestServerCloseWaitsForJobs(t *testing.T) {
	before := leakcheck.Take()
	st, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "county.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	s := New(st, slog.New(slog.DiscardHandler))
	var mu sync.Mutex
	var stopped []string
	boom := errors.New("boom")
	for _, name := range []string{"refresher", "renewal"} {
		if err := s.Go(name, func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(20 * time.Millisecond)
			mu.Lock()
			stopped = append(stopped, name) // read after Close: Close must wait
			mu.Unlock()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Go("failing", func(ctx context.Context) error { return boom }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close returned %v, want the failing job's error", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(stopped) != 2 {
		t.Fatalf("Close returned before its jobs stopped: %v", stopped)
	}
	if err := s.Go("late", func(context.Context) error { return nil }); err == nil {
		t.Fatal("a job started after Close")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	leakcheck.Check(t, before)
}

// The handler is made once, with its slots: a second NewHandler on the
// same Server would hand its stations a second set of slots (the getter
// Handler did, on every call), so it panics instead.
func TestNewHandlerOnce(t *testing.T) {
	s := New(nil, slog.New(slog.DiscardHandler))
	s.MaxInflight = 3
	s.NewHandler()
	if cap(s.slots) != 3 || s.enroll == nil {
		t.Fatalf("slots %d, enroll gate %v", cap(s.slots), s.enroll)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a second NewHandler did not panic")
		}
	}()
	s.NewHandler()
}
