// Package testclock is a clock source the fault-injection tests can set
// wrong and make jump. Go reads the time without libc, so faketime cannot
// move a Go program's clock; the station agent takes its time from here
// when a test-only environment variable asks for it.
//
//	STATIONSYNC_TEST_CLOCK_OFFSET=-131400h   a fixed offset (a time.Duration)
//	STATIONSYNC_TEST_CLOCK_FILE=/path        a file holding an offset, re-read
//	                                         every second, so a test can make
//	                                         the clock jump mid-run
//
// Both may be set; the offsets add up.
package testclock

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Clock is time.Now plus an offset that may change at any time.
type Clock struct{ off atomic.Int64 }

// New returns a clock offset by d.
func New(d time.Duration) *Clock {
	c := &Clock{}
	c.off.Store(int64(d))
	return c
}

// At returns a clock that reads t now and runs on from there.
func At(t time.Time) *Clock { return New(time.Until(t)) }

// Now is the clock's time.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// Set changes the offset.
func (c *Clock) Set(d time.Duration) { c.off.Store(int64(d)) }

// Jump moves the clock by d (negative: back).
func (c *Clock) Jump(d time.Duration) { c.off.Add(int64(d)) }

// Offset is the current offset.
func (c *Clock) Offset() time.Duration { return time.Duration(c.off.Load()) }

// FromEnv returns the clock the environment asks for, or nil when neither
// variable is set (use the real clock).
func FromEnv() (func() time.Time, error) {
	fixed := time.Duration(0)
	if s := os.Getenv("STATIONSYNC_TEST_CLOCK_OFFSET"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("STATIONSYNC_TEST_CLOCK_OFFSET: %w", err)
		}
		fixed = d
	}
	file := os.Getenv("STATIONSYNC_TEST_CLOCK_FILE")
	if file == "" {
		if fixed == 0 {
			return nil, nil
		}
		c := New(fixed)
		return c.Now, nil
	}
	f := &fileClock{path: file, fixed: fixed}
	if err := f.reload(); err != nil {
		return nil, err
	}
	return f.Now, nil
}

// WriteOffset writes an offset for a process that reads
// STATIONSYNC_TEST_CLOCK_FILE (atomically, by rename).
func WriteOffset(path string, d time.Duration) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(d.String()+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

type fileClock struct {
	path  string
	fixed time.Duration
	mu    sync.Mutex
	off   time.Duration
	read  time.Time
}

func (f *fileClock) reload() error {
	b, err := os.ReadFile(f.path)
	if err != nil {
		if os.IsNotExist(err) {
			f.off, f.read = 0, time.Now()
			return nil
		}
		return fmt.Errorf("STATIONSYNC_TEST_CLOCK_FILE: %w", err)
	}
	d, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("STATIONSYNC_TEST_CLOCK_FILE: %w", err)
	}
	f.off, f.read = d, time.Now()
	return nil
}

func (f *fileClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if time.Since(f.read) >= time.Second {
		f.reload() // a bad file keeps the last good offset
		f.read = time.Now()
	}
	return time.Now().Add(f.fixed + f.off)
}
