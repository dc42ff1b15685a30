package loginguard

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fire runs fn n times at once, every goroutine released by one barrier.
func fire(n int, fn func(i int)) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			fn(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
}

type clock struct{ ms atomic.Int64 }

func (c *clock) now() time.Time            { return time.UnixMilli(c.ms.Load()) }
func (c *clock) add(d time.Duration)       { c.ms.Add(d.Milliseconds()) }
func newClock() *clock                     { c := &clock{}; c.ms.Store(time.Now().UnixMilli()); return c }
func (c *clock) limiter(p Policy) *Limiter { return NewLimiter(p, c.now) }

var account = Policy{Tries: 5, Base: time.Minute, Max: 15 * time.Minute, Forget: 15 * time.Minute, SuccessForgives: true}

// Two hundred attempts at once on one key: exactly Tries are let through,
// whatever the interleaving, because each counts before it runs.
func TestReserveParallelNeverExceedsTries(t *testing.T) {
	c := newClock()
	l := c.limiter(account)
	var got atomic.Int64
	fire(200, func(int) {
		if tk, _ := l.Reserve("li"); tk != nil {
			got.Add(1)
			tk.Settle(false)
		}
	})
	if got.Load() != int64(account.Tries) {
		t.Fatalf("%d attempts let through at once, want %d", got.Load(), account.Tries)
	}
	if w := l.Wait("li"); w <= 0 || w > account.Base {
		t.Fatalf("wait after the burst: %v", w)
	}
	if tk, _ := l.Reserve("other"); tk == nil {
		t.Fatal("another key is held by this one's failures")
	}
}

// The wait doubles with each failure after the Tries-th, up to Max, and
// failures are forgotten one per Forget.
func TestBackoffGrowsAndDecays(t *testing.T) {
	c := newClock()
	p := account
	p.Forget = time.Hour
	l := c.limiter(p)
	for range account.Tries {
		tk, _ := l.Reserve("k")
		tk.Settle(false)
	}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute, 15 * time.Minute}
	for i, w := range want {
		tk, wait := l.Reserve("k")
		if tk != nil || wait != w {
			t.Fatalf("step %d: ticket %v, wait %v, want refused for %v", i, tk != nil, wait, w)
		}
		c.add(wait)
		if tk, _ = l.Reserve("k"); tk == nil {
			t.Fatalf("step %d: refused after waiting %v", i, wait)
		}
		tk.Settle(false)
	}
	// A quiet day forgets everything.
	c.add(24 * time.Hour)
	for i := range account.Tries {
		tk, _ := l.Reserve("k")
		if tk == nil {
			t.Fatalf("after a quiet day, attempt %d refused", i+1)
		}
		tk.Settle(false)
	}
}

// A success forgives the failures before it when the policy says so (an
// account), and only takes back its own reservation otherwise (a shared
// address). A cancelled attempt counts for nothing.
func TestSettleAndCancel(t *testing.T) {
	c := newClock()
	for _, forgive := range []bool{true, false} {
		p := Policy{Tries: 3, Base: time.Second, Max: time.Minute, Forget: time.Hour, SuccessForgives: forgive}
		l := c.limiter(p)
		for range 2 {
			tk, _ := l.Reserve("k")
			tk.Settle(false)
		}
		tk, _ := l.Reserve("k") // the third: a wait starts
		if _, w := l.Reserve("k"); w == 0 {
			t.Fatal("no wait after the third attempt in flight")
		}
		tk.Settle(true)
		tk.Settle(true) // twice is once
		left := l.Wait("k")
		if forgive && left != 0 {
			t.Errorf("forgiving: still waiting %v after a success", left)
		}
		tk, _ = l.Reserve("k")
		if tk == nil {
			t.Fatalf("forgive=%v: refused after a success", forgive)
		}
		tk.Cancel()
		if !forgive {
			// Two failures stand; the third attempt starts the wait again.
			tk, _ = l.Reserve("k")
			if _, w := l.Reserve("k"); tk == nil || w == 0 {
				t.Errorf("not forgiving: the guesser's two failures were wiped by a colleague's success")
			}
		}
	}
}

// However many attempts come at once, no more than the gate's size hold a
// slot, and TryAcquire never waits.
func TestGateBoundsConcurrency(t *testing.T) {
	g := NewGate(2)
	var in, peak, refused atomic.Int64
	fire(300, func(int) {
		release, ok := g.TryAcquire()
		if !ok {
			refused.Add(1)
			return
		}
		n := in.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		in.Add(-1)
		release()
		release() // twice is once
	})
	if peak.Load() > 2 || refused.Load() == 0 {
		t.Fatalf("peak %d (bound 2), refused %d", peak.Load(), refused.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	r1, _ := g.Acquire(ctx)
	r2, _ := g.Acquire(ctx)
	cancel()
	if _, err := g.Acquire(ctx); err == nil {
		t.Fatal("Acquire on a full gate returned without a slot")
	}
	r1()
	r2()
}

// A flood of distinct keys keeps the map bounded.
func TestLimiterMemoryBounded(t *testing.T) {
	c := newClock()
	l := c.limiter(account)
	for i := range 3 * maxKeys {
		tk, _ := l.Reserve(string(rune(i)) + "x")
		tk.Settle(false)
	}
	if n := len(l.m); n > maxKeys {
		t.Fatalf("%d keys kept, bound %d", n, maxKeys)
	}
}
