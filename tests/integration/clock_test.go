package integration

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
)

func shifted(d time.Duration) func() time.Time {
	return func() time.Time { return time.Now().Add(d) }
}

const year = 365 * 24 * time.Hour

// A station whose clock is a year behind records offline, then syncs: it
// learns the county's time (its pull is signed with the corrected clock),
// and what it records afterwards is stamped with the county's time.
func TestStationClockYearBehind(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	s := openStation(t, "", shifted(-year))
	g := gen.New(1)
	s.AddPeople(t, g, villageA, 2)
	s.MustEnroll(t, c.URL(), c.Code(t, villageA), villageA)
	s.MustSync(t)
	testsupport.AssertConverged(t, c, s, villageA)
	st, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if off := time.Duration(st.ClockOffsetMs) * time.Millisecond; off < year-time.Minute || off > year+time.Minute {
		t.Fatalf("learned offset %v, want about a year", off)
	}
	pid := s.MustSave(t, records.Person, "", testsupport.Fields(g.Person(villageA)))
	l, _ := s.Store.Get(ctx, records.Person, pid)
	if d := time.Since(hlc.Timestamp(l.Versions["name"]).Time()); d < -time.Minute || d > time.Minute {
		t.Fatalf("after sync the station stamps %v, %v from now", hlc.Timestamp(l.Versions["name"]), d)
	}
}

// A station whose clock is a year ahead cannot win every merge: the
// county clamps its HLC values to its own clock, and after everything is
// acknowledged the station's clock comes back to the county's time.
func TestStationClockYearAhead(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	s := openStation(t, "", shifted(year))
	g := gen.New(2)
	persons, _ := s.AddPeople(t, g, villageA, 2)
	s.MustEnroll(t, c.URL(), c.Code(t, villageA), villageA)
	s.MustSync(t)
	recs, _ := c.Store.Records(ctx, records.Person, villageA)
	limit := hlc.FromTime(time.Now().Add(time.Minute))
	for _, r := range recs {
		for f, v := range r.Versions {
			if hlc.Timestamp(v) > limit {
				t.Fatalf("county kept field %s at %v, in its future", f, hlc.Timestamp(v))
			}
		}
	}
	sts, _ := c.Store.Stations(ctx)
	if !sts[0].ClockAhead {
		t.Fatal("county did not flag the station's clock")
	}
	testsupport.AssertConverged(t, c, s, villageA)
	// The station's next edit is stamped in the county's time, so a later
	// edit made at another PC still wins over it.
	s.MustSave(t, records.Person, persons[0], records.Fields{"phone": json.RawMessage(`"13911112222"`)})
	l, _ := s.Store.Get(ctx, records.Person, persons[0])
	if hlc.Timestamp(l.Versions["phone"]) > limit {
		t.Fatalf("station still stamps the future: %v", hlc.Timestamp(l.Versions["phone"]))
	}
}

// The HLC never goes back, across restarts and a clock reset to 2009.
func TestHLCMonotonicAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	g := gen.New(4)
	var last uint64
	for i, now := range []func() time.Time{
		time.Now,
		func() time.Time { return time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC) },
		shifted(-time.Hour),
		time.Now,
	} {
		s := openStation(t, dir, now)
		pid := s.MustSave(t, records.Person, "", testsupport.Fields(g.Person(villageA)))
		l, _ := s.Store.Get(ctx, records.Person, pid)
		if l.Versions["name"] <= last {
			t.Fatalf("restart %d: HLC %v not after %v", i, hlc.Timestamp(l.Versions["name"]), hlc.Timestamp(last))
		}
		last = l.Versions["name"]
		s.Close()
	}
}
