// Package hlc is a hybrid logical clock: wall-clock milliseconds in the high
// 48 bits and a logical counter in the low 16. Values only move forward, so
// a station PC whose clock is reset to 2009 cannot stamp a later change
// before an earlier one, and ties between machines break deterministically.
package hlc

import (
	"fmt"
	"sync"
	"time"
)

// Timestamp is an HLC value. The zero Timestamp is before every other.
type Timestamp uint64

const logicalBits = 16

// Make builds a Timestamp from unix milliseconds and a logical counter.
func Make(wallMs int64, logical uint16) Timestamp {
	if wallMs < 0 {
		wallMs = 0
	}
	return Timestamp(uint64(wallMs)<<logicalBits | uint64(logical))
}

// FromTime is the first Timestamp of t's millisecond.
func FromTime(t time.Time) Timestamp { return Make(t.UnixMilli(), 0) }

// WallMs is the physical part in unix milliseconds.
func (t Timestamp) WallMs() int64 { return int64(uint64(t) >> logicalBits) }

// Logical is the counter within one millisecond.
func (t Timestamp) Logical() uint16 { return uint16(t) }

// Time is the physical part as a time.Time.
func (t Timestamp) Time() time.Time { return time.UnixMilli(t.WallMs()) }

func (t Timestamp) String() string {
	return fmt.Sprintf("%s/%d", t.Time().UTC().Format("2006-01-02T15:04:05.000Z"), t.Logical())
}

// Clock issues Timestamps. Its physical source is now()+offset, where the
// offset is what the station learned from the county server's time, so a
// wrong PC clock is corrected as soon as one answer arrived.
type Clock struct {
	mu     sync.Mutex
	now    func() time.Time
	offset time.Duration
	last   Timestamp
}

// NewClock returns a Clock that never issues a value at or before last,
// which the caller persisted with the last change it saved.
func NewClock(now func() time.Time, offset time.Duration, last Timestamp) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{now: now, offset: offset, last: last}
}

// Physical is the clock's corrected wall time.
func (c *Clock) Physical() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now().Add(c.offset)
}

// Now issues a new Timestamp, after every one issued or observed before.
func (c *Clock) Now() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	phys := Make(c.now().Add(c.offset).UnixMilli(), 0)
	if phys > c.last {
		c.last = phys
	} else {
		c.last = next(c.last)
	}
	return c.last
}

// Observe moves the clock past a remote Timestamp, so that what this side
// does next is ordered after what it has seen.
func (c *Clock) Observe(remote Timestamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if remote > c.last {
		c.last = remote
	}
}

// Last is the latest Timestamp issued or observed.
func (c *Clock) Last() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// Offset is the correction added to the local clock.
func (c *Clock) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

// SetOffset changes the correction added to the local clock.
func (c *Clock) SetOffset(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = d
}

// Reset lets the clock move back to the corrected physical time. Only for a
// station whose clock ran far ahead and whose every change is acknowledged:
// nothing pending depends on the old values then.
func (c *Clock) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = Make(c.now().Add(c.offset).UnixMilli(), 0)
}

// next is the smallest Timestamp after t; the logical counter carries into
// the millisecond so that it never wraps back.
func next(t Timestamp) Timestamp { return t + 1 }
