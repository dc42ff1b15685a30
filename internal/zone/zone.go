// Package zone is the one time zone in which both sides show times and
// judge "today": the users' zone, Asia/Shanghai unless configured, never
// the zone of the machine. A county server on Linux runs in UTC and a
// station PC in China time; formatting in the machine's zone showed the
// same approval at 16:21 at the station and 08:21 at the county.
//
// Times are stored as UTC unix milliseconds (and HLCs); only display and
// the dates typed into filters go through this package.
package zone

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	// Windows and minimal Linux images have no zone database; embedded, the
	// configured zone loads everywhere (about 450 KB in the binary).
	_ "time/tzdata"
)

// Default is the zone of every county and station unless configured.
const Default = "Asia/Shanghai"

// Layouts of the pages and exports.
const (
	MinuteLayout = "2006-01-02 15:04"
	SecondLayout = "2006-01-02 15:04:05"
)

var (
	current atomic.Pointer[time.Location]
	name    atomic.Pointer[string]
)

func init() {
	if err := Set(Default); err != nil {
		panic(err) // the embedded database has it
	}
}

// Load returns the named zone, "" meaning Default. It refuses "Local":
// the machine's zone is exactly what this package exists to avoid.
func Load(n string) (*time.Location, error) {
	n = strings.TrimSpace(n)
	if n == "" {
		n = Default
	}
	if n == "Local" {
		return nil, fmt.Errorf("time zone %q: name a zone such as %s, not the machine's", n, Default)
	}
	loc, err := time.LoadLocation(n)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", n, err)
	}
	return loc, nil
}

// Set makes the named zone the one times are shown in ("" is Default).
func Set(n string) error {
	loc, err := Load(n)
	if err != nil {
		return err
	}
	s := loc.String()
	current.Store(loc)
	name.Store(&s)
	return nil
}

// Location is the zone times are shown in.
func Location() *time.Location { return current.Load() }

// Name is the configured zone's name, e.g. Asia/Shanghai.
func Name() string { return *name.Load() }

// In returns t in the display zone.
func In(t time.Time) time.Time { return t.In(Location()) }

// Minute formats t as 2006-01-02 15:04 in the display zone; the zero time
// is "".
func Minute(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return In(t).Format(MinuteLayout)
}

// Second formats t as 2006-01-02 15:04:05 in the display zone; the zero
// time is "".
func Second(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return In(t).Format(SecondLayout)
}

// MinuteMs is Minute of a stored unix-ms time; 0 or less is "".
func MinuteMs(ms int64) string {
	if ms <= 0 {
		return ""
	}
	return Minute(time.UnixMilli(ms))
}

// Today is the date of now in the display zone, as 2006-01-02.
func Today(now time.Time) string { return In(now).Format(time.DateOnly) }

// ParseDate reads a date typed into a filter (2006-01-02) as the start of
// that day in the display zone.
func ParseDate(s string) (time.Time, error) {
	return time.ParseInLocation(time.DateOnly, s, Location())
}

// Offset is the display zone's offset from UTC at t, in seconds: for date
// arithmetic that must run inside SQLite (whose 'localtime' is the
// machine's zone).
func Offset(t time.Time) int {
	_, off := In(t).Zone()
	return off
}
