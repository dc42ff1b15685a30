package web

import (
	"container/list"
	"context"
	"sync"
)

// thumbCache keeps thumbnails in memory, at most max bytes, the least
// recently used going first, and makes each at most once at a time: ten
// staff opening the same record cost one decode. Memory, not disk: a
// thumbnail is 10–30 KB and takes tens of milliseconds to make from a
// 1,600 px photo, the browser keeps it a year (staffCache), and a cache
// on disk would need its own pruning beside the blob store's. After a
// restart the first look at a record makes its thumbnails again.
type thumbCache struct {
	mu       sync.Mutex
	max      int64
	used     int64
	order    *list.List // of *thumbEntry, most recent first
	byKey    map[string]*list.Element
	inflight map[string]*thumbCall
}

type thumbEntry struct {
	key  string
	data []byte
}

type thumbCall struct {
	done chan struct{}
	data []byte
	err  error
}

// defaultThumbBytes holds about a thousand thumbnails.
const defaultThumbBytes = 16 << 20

func newThumbCache(max int64) *thumbCache {
	return &thumbCache{max: max, order: list.New(), byKey: map[string]*list.Element{}, inflight: map[string]*thumbCall{}}
}

// get returns key's thumbnail, made by build if it is not kept. make runs
// apart from ctx (with thumbWait), so that the first asker leaving does
// not fail the others waiting for the same thumbnail; a failure is not
// kept.
func (c *thumbCache) get(ctx context.Context, key string, build func(context.Context) ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if el, ok := c.byKey[key]; ok {
		c.order.MoveToFront(el)
		data := el.Value.(*thumbEntry).data
		c.mu.Unlock()
		return data, nil
	}
	call, ok := c.inflight[key]
	if !ok {
		call = &thumbCall{done: make(chan struct{})}
		c.inflight[key] = call
		go func() {
			mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), thumbWait)
			defer cancel()
			data, err := build(mctx)
			c.mu.Lock()
			delete(c.inflight, key)
			if err == nil {
				c.put(key, data)
			}
			call.data, call.err = data, err
			c.mu.Unlock()
			close(call.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-call.done:
		return call.data, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// put keeps data under key and drops the least recently used past max;
// a thumbnail larger than max is not kept. c.mu is held.
func (c *thumbCache) put(key string, data []byte) {
	if int64(len(data)) > c.max {
		return
	}
	c.byKey[key] = c.order.PushFront(&thumbEntry{key: key, data: data})
	c.used += int64(len(data))
	for c.used > c.max {
		el := c.order.Back()
		e := el.Value.(*thumbEntry)
		c.order.Remove(el)
		delete(c.byKey, e.key)
		c.used -= int64(len(e.data))
	}
}

// size is what the cache holds: entries and bytes.
func (c *thumbCache) size() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byKey), c.used
}
