package web

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// Many asking at once for the same thumbnail make it once; for many
// thumbnails, the cache never holds more than its bound.
func TestThumbCacheOnceAndBounded(t *testing.T) {
	c := newThumbCache(10 << 10)
	var built atomic.Int64
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			data, err := c.get(context.Background(), "same", func(context.Context) ([]byte, error) {
				built.Add(1)
				<-release
				return make([]byte, 1000), nil
			})
			if err != nil || len(data) != 1000 {
				t.Errorf("same: %v, %d bytes", err, len(data))
			}
		})
	}
	// Everyone is waiting on the one build before it ends.
	for {
		c.mu.Lock()
		n := len(c.inflight)
		c.mu.Unlock()
		if n == 1 {
			break
		}
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if n := built.Load(); n != 1 {
		t.Errorf("built %d times, want 1", n)
	}
	for i := range 200 {
		wg.Go(func() {
			key := fmt.Sprint("k", i%40)
			if _, err := c.get(context.Background(), key, func(context.Context) ([]byte, error) { return make([]byte, 700+i%5), nil }); err != nil {
				t.Error(err)
			}
			if _, used := c.size(); used > 10<<10 {
				t.Errorf("cache holds %d bytes, bound %d", used, 10<<10)
			}
		})
	}
	wg.Wait()
	if n, used := c.size(); used > 10<<10 || n == 0 {
		t.Errorf("cache: %d entries, %d bytes", n, used)
	}
	// A failure is not kept; one asker leaving does not fail the others.
	boom := errors.New("boom")
	if _, err := c.get(context.Background(), "bad", func(context.Context) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("failing build: %v", err)
	}
	if data, err := c.get(context.Background(), "bad", func(context.Context) ([]byte, error) { return []byte("ok"), nil }); err != nil || string(data) != "ok" {
		t.Errorf("after a failure: %v %q", err, data)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gate := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := c.get(ctx, "slow", func(bctx context.Context) ([]byte, error) { <-gate; return []byte("slow"), bctx.Err() })
		done <- err
	}()
	for {
		c.mu.Lock()
		_, ok := c.inflight["slow"]
		c.mu.Unlock()
		if ok {
			break
		}
		runtime.Gosched()
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("left asker: %v", err)
	}
	close(gate)
	if data, err := c.get(context.Background(), "slow", func(context.Context) ([]byte, error) { return nil, boom }); err != nil || string(data) != "slow" {
		t.Errorf("the build went on for the others: %v %q", err, data)
	}
}
