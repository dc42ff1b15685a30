package e2e

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"stationsync/internal/jsonout"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
)

// TestServerRestartedStationsConverge: two stations of two villages record
// offline while the county server is down; the server comes back on the
// same data, the stations sync, the county decides on their applications,
// the server restarts once more, and the stations sync again. Both stations
// then show the county's decision and the whole status history, and the
// county's persons and visits of each village equal the station's.
func TestServerRestartedStationsConverge(t *testing.T) {
	seed := seedFor(t)
	c := newCounty(t)
	c.Start()
	villages := []string{"340123101201", "340123103207"}
	cadres := []string{"张主任", "刘协理员"}
	var st []*testsupport.StationProc
	var ws []*workload
	for i, v := range villages {
		st = append(st, newStation(t, v))
		ws = append(ws, newWorkload(t, seed+uint64(i), v))
	}
	o := testsupport.NewOracle()

	// The first station enrols at once; the second records a person before
	// it is enrolled (the cadre may start before the installer is done).
	st[0].Enroll(c.URL(), c.Code(villages[0]))
	p, pf := ws[1].person()
	early := st[1].Add(records.Person, "", cadres[1], pf)
	o.Created(records.Person, early, villages[1], cadres[1], pf)
	ws[1].persons = append(ws[1].persons, early)
	ws[1].pmap[early] = p
	st[1].Enroll(c.URL(), c.Code(villages[1]))

	// The county server goes down (power cut); the villages keep working.
	c.Kill()
	apps := make([]string, len(st))
	for i, s := range st {
		w, by := ws[i], cadres[i]
		for j := 0; j < 3; j++ {
			p, pf := w.person()
			id := s.Add(records.Person, "", by, pf)
			o.Created(records.Person, id, s.Village, by, pf)
			w.persons = append(w.persons, id)
			w.pmap[id] = p
		}
		for _, pid := range w.persons {
			for j := 0; j < 2; j++ {
				vf := w.visit(pid)
				vid := s.Add(records.Visit, "", by, vf)
				o.Created(records.Visit, vid, s.Village, by, vf)
			}
		}
		ef := w.edit()
		s.Add(records.Person, w.persons[1], by, ef)
		o.Edited(w.persons[1], ef)
		af := w.application(w.persons[0])
		apps[i] = s.Add(records.Application, "", by, af)
		o.Created(records.Application, apps[i], s.Village, by, af)
		s.CLI(nil, "intent", "--app", apps[i], "--op", "submit", "--by", by)
		o.Intent(apps[i], records.OpSubmit, records.StatusSubmitted)
	}

	// A sync while the county is down fails and loses nothing.
	var wg sync.WaitGroup
	codes := make([]int, len(st))
	for i, s := range st {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = testsupport.Exec(3*time.Minute, nil, nil, bin.Agent, "sync", "--data", s.Data).Code
		}()
	}
	wg.Wait()
	for i, s := range st {
		if codes[i] == 0 {
			t.Errorf("station %s: sync succeeded with the county down", s.ID)
		}
		stat := s.Status()
		if want := o.Changes(s.Village); stat.Pending != want {
			t.Errorf("station %s: %d changes pending after a failed sync, want %d", s.ID, stat.Pending, want)
		}
		if stat.LastError == "" {
			t.Errorf("station %s: a failed sync left no last_error", s.ID)
		}
	}

	// The county comes back on the same data and port; the stations sync.
	c.Start()
	for _, s := range st {
		s.SyncUntilDone(3)
		s.CheckDone()
	}
	for _, app := range apps {
		c.CLI("decide", "--app", app, "--op", "accept", "--by", "县民政局")
		c.CLI("decide", "--app", app, "--op", "approve", "--by", "县民政局", "--amount", "300", "--from", "2026-12")
		o.Intent(app, records.OpAccept, records.StatusAccepted)
		o.Intent(app, records.OpApprove, records.StatusApproved)
		o.Set(app, records.Fields{"approved_amount_fen": []byte("30000"), "approved_from": records.JSONText("2026-12")})
	}

	// The county restarts once more before the stations come back.
	c.Kill()
	c.Start()
	for _, s := range st {
		s.SyncUntilDone(3)
		s.CheckDone()
	}

	// Each station shows the county's decision and the whole status
	// history: the station's submit and the county's two decisions, each
	// once, in order.
	for i, s := range st {
		found := false
		var listed []jsonout.Record
		testsupport.DecodeJSON(t, s.CLI(nil, "list", "--kind", "application"), &listed)
		for _, r := range listed {
			if r.ID != apps[i] {
				continue
			}
			found = true
			f := r.Fields
			if records.TextValue(f, "status") != records.StatusApproved || string(records.Canonical(f["approved_amount_fen"])) != "30000" || records.TextValue(f, "approved_from") != "2026-12" {
				t.Errorf("station %s: application %s shows status=%s approved_amount_fen=%s approved_from=%s, want approved, 30000, 2026-12",
					s.ID, r.ID, f["status"], f["approved_amount_fen"], f["approved_from"])
			}
			var got []string
			for _, h := range r.History {
				got = append(got, h.Op+"/"+h.To+"/"+originKind(h.Origin, s.ID))
			}
			want := []string{"submit/submitted/station", "accept/accepted/county", "approve/approved/county"}
			if !slices.Equal(got, want) {
				t.Errorf("station %s: history of %s is %v, want %v", s.ID, apps[i], got, want)
			} else {
				t.Logf("station %s: application %s approved, 30000 fen from 2026-12; history %s", s.ID, apps[i], strings.Join(got, " → "))
			}
		}
		if !found {
			t.Errorf("station %s: station-agent list does not show application %s", s.ID, apps[i])
		}
		for _, kind := range []records.Kind{records.Person, records.Visit, records.Application} {
			compareCountyStation(t, c, s, kind)
		}
		verifyStation(t, s, o)
	}
	c.CheckClean()
	tl := verifyCounty(t, c, o, records.Person, records.Visit, records.Application)
	c.Stop()
	c.CheckLog()

	for _, s := range st {
		testsupport.CheckIntegrity(t, s.DBPath())
	}
	testsupport.CheckIntegrity(t, c.DBPath())
	t.Logf("RESULT converge: stations=%d records=%d lost=%d duplicated=%d extra=%d mismatched=%d",
		len(st), tl.Records, tl.Lost, tl.Duplicated, tl.Extra, tl.Mismatched)
}

func originKind(origin, stationID string) string {
	switch origin {
	case stationID:
		return "station"
	case "county":
		return "county"
	}
	return "other:" + origin
}

// compareCountyStation checks that the county's records of the station's
// village equal the station's own, field by field, with the same
// application histories.
func compareCountyStation(t *testing.T, c *testsupport.CountyProc, s *testsupport.StationProc, kind records.Kind) {
	t.Helper()
	county := c.Records(kind, s.Village)
	for _, r := range county {
		if r.Village != s.Village {
			t.Errorf("county records --village %s returned %s %s of village %s", s.Village, kind, r.ID, r.Village)
		}
	}
	local := s.List(kind)
	diffs := testsupport.CompareStation(s.Village, county, local)
	testsupport.Report(t, diffs)
	if len(diffs) == 0 {
		t.Logf("village %s: %d %s records equal at station and county", s.Village, len(local), kind)
	}
}
