package testclock

import (
	"path/filepath"
	"testing"
	"time"
)

func TestClockJumps(t *testing.T) {
	c := At(time.Date(2009, 6, 1, 0, 0, 0, 0, time.UTC))
	if y := c.Now().Year(); y != 2009 {
		t.Fatalf("year %d, want 2009", y)
	}
	before := c.Now()
	c.Jump(-24 * time.Hour)
	if d := before.Sub(c.Now()); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("jumped back %s, want a day", d)
	}
}

func TestFromEnvFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "offset")
	if err := WriteOffset(path, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	t.Setenv("STATIONSYNC_TEST_CLOCK_OFFSET", "")
	t.Setenv("STATIONSYNC_TEST_CLOCK_FILE", path)
	now, err := FromEnv()
	if err != nil || now == nil {
		t.Fatalf("FromEnv: %v", err)
	}
	if d := now().Sub(time.Now()); d < 23*time.Hour {
		t.Fatalf("offset %s, want a day", d)
	}
	// The clock jumps back a day: the file is re-read within a second.
	if err := WriteOffset(path, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if d := now().Sub(time.Now()); d > time.Minute {
		t.Fatalf("offset %s after the file changed, want about 0", d)
	}
}

func TestFromEnvUnset(t *testing.T) {
	t.Setenv("STATIONSYNC_TEST_CLOCK_OFFSET", "")
	t.Setenv("STATIONSYNC_TEST_CLOCK_FILE", "")
	if now, err := FromEnv(); now != nil || err != nil {
		t.Fatalf("FromEnv with nothing set: %v, %v", now != nil, err)
	}
}
