// Package loginguard keeps password guessing within a budget that still
// holds when the guesses come all at once.
//
// A limit that is checked before a password hash and recorded after it
// lets N parallel guesses all pass the check: the lockout is read N times
// before the first failure is written. Here an attempt is counted before
// the hash runs (Limiter.Reserve) and settled after it (Ticket.Settle), so
// the budget is spent by attempts in flight too. The hashes themselves
// cost tens of MiB each while they run, so a Gate bounds how many run at
// once and answers the excess "busy" at once instead of queueing it.
package loginguard

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrBusy says every hash slot is taken: the caller answers 429 with a
// Retry-After of a few seconds.
var ErrBusy = errors.New("loginguard: too many password checks at once")

// Gate bounds concurrent password hashes.
type Gate struct{ slots chan struct{} }

// NewGate returns a gate of n slots (at least 1).
func NewGate(n int) *Gate { return &Gate{slots: make(chan struct{}, max(1, n))} }

// TryAcquire takes a slot if one is free now; release gives it back. A
// login never waits for a slot: a queue of waiting logins would hold their
// requests and, once served, their memory, which is what the gate is for.
func (g *Gate) TryAcquire() (release func(), ok bool) {
	select {
	case g.slots <- struct{}{}:
		return g.release(), true
	default:
		return nil, false
	}
}

// Acquire waits for a slot until ctx ends: for hashes of new passwords,
// which only an administrator or a logged-in user asks for.
func (g *Gate) Acquire(ctx context.Context) (release func(), err error) {
	select {
	case g.slots <- struct{}{}:
		return g.release(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *Gate) release() func() {
	var once sync.Once
	return func() { once.Do(func() { <-g.slots }) }
}

// Size is the number of slots.
func (g *Gate) Size() int { return cap(g.slots) }

// Policy is how a Limiter answers failures of one key.
type Policy struct {
	// Tries failures may come one after another; the Tries-th starts a
	// wait of Base before the next attempt, and every failure after it
	// doubles the wait, up to Max.
	Tries     int
	Base, Max time.Duration
	// Forget is how long it takes to forget one failure (0: never; only
	// a success does).
	Forget time.Duration
	// SuccessForgives: a success wipes the failures counted before it
	// (an account: whoever knows the password is its owner). Without it a
	// success only takes back its own reservation (an address that many
	// people share: one colleague's login must not wipe out a guesser's
	// record).
	SuccessForgives bool
}

// wait returns the wait after n failures.
func (p Policy) wait(n int) time.Duration {
	if n < p.Tries {
		return 0
	}
	d := p.Base
	for i := p.Tries; i < n && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// maxKeys bounds a Limiter's memory under a flood of distinct keys.
const maxKeys = 20000

// Limiter counts failed attempts per key (an account, an address, a
// device), counting each attempt as failed from the moment it is
// reserved. It lives in memory: a restart forgets it.
type Limiter struct {
	p   Policy
	now func() time.Time

	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	failures int       // settled failures and attempts in flight
	last     time.Time // the latest reservation, where the wait starts
	anchor   time.Time // failures are forgotten from here, one per Forget
}

// NewLimiter returns a limiter of policy p with clock now (nil: time.Now).
func NewLimiter(p Policy, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{p: p, now: now, m: map[string]*entry{}}
}

// Ticket is one reserved attempt.
type Ticket struct {
	l    *Limiter
	key  string
	n    int // the key's failures right after this reservation
	once sync.Once
}

// Reserve counts an attempt for key as failed before it is made. When the
// key must wait, it returns nil and how long.
func (l *Limiter) Reserve(key string) (*Ticket, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	e := l.m[key]
	if e == nil {
		if len(l.m) >= maxKeys {
			l.sweep(now)
		}
		e = &entry{anchor: now}
		l.m[key] = e
	}
	l.forget(e, now)
	if w := e.last.Add(l.p.wait(e.failures)).Sub(now); e.failures >= l.p.Tries && w > 0 {
		return nil, w
	}
	e.failures++
	e.last = now
	return &Ticket{l: l, key: key, n: e.failures}, 0
}

// Wait returns how long key must wait before its next attempt, without
// reserving one.
func (l *Limiter) Wait(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	if e == nil {
		return 0
	}
	now := l.now()
	l.forget(e, now)
	if e.failures < l.p.Tries {
		return 0
	}
	return max(0, e.last.Add(l.p.wait(e.failures)).Sub(now))
}

// Settle ends the attempt: a failure stays counted; a success takes back
// its reservation, and with SuccessForgives the failures before it too.
// Settling twice does nothing.
func (t *Ticket) Settle(success bool) {
	if t == nil || !success {
		return
	}
	t.once.Do(func() {
		n := 1
		if t.l.p.SuccessForgives {
			n = t.n
		}
		t.l.takeBack(t.key, n)
	})
}

// Cancel takes back a reservation whose attempt was never made (the hash
// gate was full).
func (t *Ticket) Cancel() {
	if t == nil {
		return
	}
	t.once.Do(func() { t.l.takeBack(t.key, 1) })
}

func (l *Limiter) takeBack(key string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	if e == nil {
		return
	}
	e.failures = max(0, e.failures-n)
	if e.failures == 0 {
		delete(l.m, key)
	}
}

func (l *Limiter) forget(e *entry, now time.Time) {
	if l.p.Forget <= 0 || e.failures == 0 {
		if e.failures == 0 {
			e.anchor = now
		}
		return
	}
	k := int(now.Sub(e.anchor) / l.p.Forget)
	if k <= 0 {
		return
	}
	e.failures = max(0, e.failures-k)
	e.anchor = e.anchor.Add(time.Duration(k) * l.p.Forget)
}

// sweep drops keys with nothing left to remember, and, if the map is
// still full, an arbitrary half of it: under a flood of fresh addresses
// the per-account lockout still holds, and memory stays bounded.
func (l *Limiter) sweep(now time.Time) {
	for k, e := range l.m {
		if l.forget(e, now); e.failures == 0 {
			delete(l.m, k)
		}
	}
	for k := range l.m {
		if len(l.m) < maxKeys/2 {
			break
		}
		delete(l.m, k)
	}
}
