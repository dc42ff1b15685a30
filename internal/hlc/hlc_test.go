package hlc

import (
	"testing"
	"time"
)

func TestClockMonotonicWhenWallGoesBack(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	c := NewClock(func() time.Time { return now }, 0, 0)
	a := c.Now()
	now = time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC) // CMOS battery died
	b := c.Now()
	if b <= a {
		t.Fatalf("after clock reset: %v <= %v", b, a)
	}
	// A restart with the persisted value keeps the order.
	c2 := NewClock(func() time.Time { return now }, 0, b)
	if d := c2.Now(); d <= b {
		t.Fatalf("after restart: %v <= %v", d, b)
	}
}

func TestLogicalCarriesIntoWall(t *testing.T) {
	now := time.UnixMilli(1000)
	c := NewClock(func() time.Time { return now }, 0, Make(1000, 0xFFFF))
	got := c.Now()
	if got.WallMs() != 1001 || got.Logical() != 0 {
		t.Fatalf("got %v, want wall 1001 logical 0", got)
	}
}

func TestOffsetCorrectsPhysical(t *testing.T) {
	now := time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC) // a year behind
	c := NewClock(func() time.Time { return now }, 365*24*time.Hour, 0)
	if got, want := c.Now().Time().Year(), 2026; got != want {
		t.Fatalf("year=%d, want %d", got, want)
	}
}

func TestObserve(t *testing.T) {
	c := NewClock(func() time.Time { return time.UnixMilli(5) }, 0, 0)
	c.Observe(Make(100, 3))
	if got := c.Now(); got != Make(100, 4) {
		t.Fatalf("got %v", got)
	}
}
