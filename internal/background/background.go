// Package background gives a long-lived type (the station's Agent, the
// county's Server) what litestream's DB keeps for its goroutines: one
// context they run under, a cancel, and a wait, so that Close stops every
// goroutine the type started, waits for it, and returns the first error,
// and nothing runs on against a closed database.
package background

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed says work was started after Close.
var ErrClosed = errors.New("background: closed")

// Group is the goroutines of one owner. The zero value is ready to use.
type Group struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
	err    error
}

func (g *Group) init() {
	g.once.Do(func() { g.ctx, g.cancel = context.WithCancel(context.Background()) })
}

// add counts one more piece of work, unless the group is closed.
func (g *Group) add() error {
	g.init()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	g.wg.Add(1)
	return nil
}

func (g *Group) done(err error) {
	if err != nil && !errors.Is(err, context.Canceled) {
		g.mu.Lock()
		if g.err == nil {
			g.err = err
		}
		g.mu.Unlock()
	}
	g.wg.Done()
}

// Go runs fn in a goroutine until it returns; its context ends at Close.
func (g *Group) Go(fn func(ctx context.Context) error) error {
	if err := g.add(); err != nil {
		return err
	}
	go func() {
		var err error
		defer func() { g.done(err) }()
		err = fn(g.ctx)
	}()
	return nil
}

// Join counts the caller's own work (a Run that blocks in the caller's
// goroutine) as the group's until leave is called: the returned context
// ends with ctx or at Close, and Close waits for leave.
func (g *Group) Join(ctx context.Context) (jctx context.Context, leave func(error), err error) {
	if err := g.add(); err != nil {
		return nil, nil, err
	}
	jctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(g.ctx, cancel)
	var once sync.Once
	return jctx, func(err error) {
		once.Do(func() {
			stop()
			cancel()
			g.done(err)
		})
	}, nil
}

// Close ends the group's context, waits for every goroutine and joined
// caller, and returns the first error one of them returned (a context
// cancelled by Close is no error). Later calls return the same.
func (g *Group) Close() error {
	g.init()
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}
