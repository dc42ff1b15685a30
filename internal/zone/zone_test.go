package zone

import (
	"testing"
	"time"
)

// A known instant: 2026-03-15 08:21 UTC is 16:21 in China.
var instant = time.Date(2026, 3, 15, 8, 21, 30, 0, time.UTC)

func TestDefaultIsChinaWhateverTheMachine(t *testing.T) {
	t.Setenv("TZ", "UTC")
	if got := Minute(instant); got != "2026-03-15 16:21" {
		t.Errorf("Minute = %q, want 2026-03-15 16:21", got)
	}
	if got := MinuteMs(instant.UnixMilli()); got != "2026-03-15 16:21" {
		t.Errorf("MinuteMs = %q", got)
	}
	if got := Second(instant); got != "2026-03-15 16:21:30" {
		t.Errorf("Second = %q", got)
	}
	// 20:00 UTC is already tomorrow in China.
	if got := Today(time.Date(2026, 3, 15, 20, 0, 0, 0, time.UTC)); got != "2026-03-16" {
		t.Errorf("Today = %q, want 2026-03-16", got)
	}
	d, err := ParseDate("2026-03-16")
	if err != nil || !d.Equal(time.Date(2026, 3, 15, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("ParseDate = %v %v, want 16:00 UTC the day before", d, err)
	}
	if Offset(instant) != 8*3600 {
		t.Errorf("Offset = %d", Offset(instant))
	}
	if Name() != Default {
		t.Errorf("Name = %q", Name())
	}
}

func TestSet(t *testing.T) {
	t.Cleanup(func() { Set(Default) })
	if err := Set("Europe/Berlin"); err != nil {
		t.Fatal(err)
	}
	if got := Minute(instant); got != "2026-03-15 09:21" {
		t.Errorf("Berlin: %q", got)
	}
	for _, bad := range []string{"Mars/Olympus", "Local", "../../etc/passwd"} {
		if err := Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
	if Name() != "Europe/Berlin" {
		t.Errorf("a refused name changed the zone to %q", Name())
	}
	if err := Set(""); err != nil || Name() != Default {
		t.Errorf(`Set("") = %v, zone %q`, err, Name())
	}
}

func TestZeroIsEmpty(t *testing.T) {
	if Minute(time.Time{}) != "" || MinuteMs(0) != "" || MinuteMs(-5) != "" || Second(time.Time{}) != "" {
		t.Error("a zero time is shown as a date")
	}
}
