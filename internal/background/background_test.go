package background

import (
	"context"
	"errors"
	"testing"
	"time"

	"stationsync/internal/leakcheck"
)

// Close stops and waits for every goroutine and joined caller, returns the
// first real error (not the cancellation it caused), and refuses new work.
func TestGroupClose(t *testing.T) {
	before := leakcheck.Take()
	var g Group
	boom := errors.New("boom")
	stopped := make(chan struct{}, 3)
	for i := range 3 {
		err := g.Go(func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(20 * time.Millisecond) // Close must wait for this
			stopped <- struct{}{}
			if i == 1 {
				return boom
			}
			return ctx.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx, leave, err := g.Join(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	joined := make(chan struct{})
	go func() {
		<-ctx.Done() // Close ends the joined caller's context too
		time.Sleep(20 * time.Millisecond)
		close(joined)
		leave(nil)
	}()
	if err := g.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close returned %v, want boom", err)
	}
	if len(stopped) != 3 {
		t.Fatalf("Close returned before %d goroutines stopped", 3-len(stopped))
	}
	select {
	case <-joined:
	default:
		t.Fatal("Close returned before the joined caller left")
	}
	if err := g.Go(func(context.Context) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Go after Close: %v", err)
	}
	if _, _, err := g.Join(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Join after Close: %v", err)
	}
	if err := g.Close(); !errors.Is(err, boom) {
		t.Fatalf("second Close: %v", err)
	}
	leakcheck.Check(t, before)
}

// A joined caller whose own context ends leaves without Close, and a
// group never used closes at once.
func TestGroupJoinOwnContext(t *testing.T) {
	var g Group
	ctx, cancel := context.WithCancel(context.Background())
	jctx, leave, err := g.Join(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	<-jctx.Done()
	leave(nil)
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	var empty Group
	if err := empty.Close(); err != nil {
		t.Fatal(err)
	}
}
