package e2e

import (
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"stationsync/internal/records"
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
	c.start()
	villages := []string{"340123101201", "340123103207"}
	cadres := []string{"张主任", "刘协理员"}
	var st []*station
	var ws []*workload
	for i, v := range villages {
		st = append(st, newStation(t, v))
		ws = append(ws, newWorkload(t, seed+uint64(i), v))
	}
	o := newOracle()

	// The first station enrols at once; the second records a person before
	// it is enrolled (the cadre may start before the installer is done).
	st[0].enroll(c.url(), c.code(villages[0]))
	p, pf := ws[1].person()
	early := st[1].add(records.Person, "", cadres[1], pf)
	o.created(records.Person, early, villages[1], cadres[1], pf)
	ws[1].persons = append(ws[1].persons, early)
	ws[1].pmap[early] = p
	st[1].enroll(c.url(), c.code(villages[1]))

	// The county server goes down (power cut); the villages keep working.
	c.kill()
	apps := make([]string, len(st))
	for i, s := range st {
		w, by := ws[i], cadres[i]
		for j := 0; j < 3; j++ {
			p, pf := w.person()
			id := s.add(records.Person, "", by, pf)
			o.created(records.Person, id, s.village, by, pf)
			w.persons = append(w.persons, id)
			w.pmap[id] = p
		}
		for _, pid := range w.persons {
			for j := 0; j < 2; j++ {
				vf := w.visit(pid)
				vid := s.add(records.Visit, "", by, vf)
				o.created(records.Visit, vid, s.village, by, vf)
			}
		}
		ef := w.edit()
		s.add(records.Person, w.persons[1], by, ef)
		o.edited(w.persons[1], ef)
		af := w.application(w.persons[0])
		apps[i] = s.add(records.Application, "", by, af)
		o.created(records.Application, apps[i], s.village, by, af)
		s.cli(nil, "intent", "--app", apps[i], "--op", "submit", "--by", by)
		o.intent(apps[i], records.OpSubmit, records.StatusSubmitted)
	}

	// A sync while the county is down fails and loses nothing.
	var wg sync.WaitGroup
	codes := make([]int, len(st))
	for i, s := range st {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = exitCode(exec.Command(bin.agent, "sync", "--data", s.data).Run())
		}()
	}
	wg.Wait()
	for i, s := range st {
		if codes[i] == 0 {
			t.Errorf("station %s: sync succeeded with the county down", s.id)
		}
		stat := s.status()
		if want := changesOf(o, s.village); stat.Pending != want {
			t.Errorf("station %s: %d changes pending after a failed sync, want %d", s.id, stat.Pending, want)
		}
		if stat.LastError == "" {
			t.Errorf("station %s: a failed sync left no last_error", s.id)
		}
	}

	// The county comes back on the same data and port; the stations sync.
	c.start()
	for _, s := range st {
		s.syncUntilDone(3)
		checkStationDone(t, s)
	}
	for _, app := range apps {
		c.cli("decide", "--app", app, "--op", "accept", "--by", "县民政局")
		c.cli("decide", "--app", app, "--op", "approve", "--by", "县民政局", "--amount", "300", "--from", "2026-12")
		o.intent(app, records.OpAccept, records.StatusAccepted)
		o.intent(app, records.OpApprove, records.StatusApproved)
		o.set(app, records.Fields{"approved_amount_fen": []byte("30000"), "approved_from": records.JSONText("2026-12")})
	}

	// The county restarts once more before the stations come back.
	c.kill()
	c.start()
	for _, s := range st {
		s.syncUntilDone(3)
		checkStationDone(t, s)
	}

	// Each station shows the county's decision and the whole status
	// history: the station's submit and the county's two decisions, each
	// once, in order.
	for i, s := range st {
		found := false
		for _, r := range s.list(records.Application) {
			if r.ID != apps[i] {
				continue
			}
			found = true
			f := r.Fields
			if records.TextValue(f, "status") != records.StatusApproved || string(records.Canonical(f["approved_amount_fen"])) != "30000" || records.TextValue(f, "approved_from") != "2026-12" {
				t.Errorf("station %s: application %s shows status=%s approved_amount_fen=%s approved_from=%s, want approved, 30000, 2026-12",
					s.id, r.ID, f["status"], f["approved_amount_fen"], f["approved_from"])
			}
			var got []string
			for _, h := range r.History {
				got = append(got, h.Op+"/"+h.To+"/"+originKind(h.Origin, s.id))
			}
			want := []string{"submit/submitted/station", "accept/accepted/county", "approve/approved/county"}
			if !slices.Equal(got, want) {
				t.Errorf("station %s: history of %s is %v, want %v", s.id, apps[i], got, want)
			} else {
				t.Logf("station %s: application %s approved, 30000 fen from 2026-12; history %s", s.id, apps[i], strings.Join(got, " → "))
			}
		}
		if !found {
			t.Errorf("station %s: station-agent list does not show application %s", s.id, apps[i])
		}
		for _, kind := range []records.Kind{records.Person, records.Visit, records.Application} {
			compareCountyStation(t, c, s, kind)
		}
		verifyStation(t, s, o)
	}
	checkCountyClean(t, c)
	tl := verifyCounty(t, c, o, records.Person, records.Visit, records.Application)
	c.stop()
	checkServerLog(t, c)

	for _, s := range st {
		integrityCheck(t, s.dbPath())
	}
	integrityCheck(t, c.dbPath())
	t.Logf("RESULT converge: stations=%d records=%d lost=%d duplicated=%d extra=%d mismatched=%d",
		len(st), tl.records, tl.lost, tl.duplicated, tl.extra, tl.mismatched)
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

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// changesOf counts the changes the oracle expects queued at a village's
// station (creates, edits and intents of its records).
func changesOf(o *oracle, village string) int {
	n := 0
	for _, w := range o.recs {
		if w.village == village {
			n += w.changes
		}
	}
	return n
}

// compareCountyStation checks that the county's records of the station's
// village equal the station's own, field by field.
func compareCountyStation(t *testing.T, c *county, s *station, kind records.Kind) {
	t.Helper()
	county := map[string]records.Fields{}
	for _, r := range c.records(kind, s.village) {
		if r.Village != s.village {
			t.Errorf("county records --village %s returned %s %s of village %s", s.village, kind, r.ID, r.Village)
		}
		county[r.ID] = r.Fields
	}
	local := s.list(kind)
	if len(local) != len(county) {
		t.Errorf("village %s: station holds %d %s records, the county %d", s.village, len(local), kind, len(county))
	}
	for _, r := range local {
		cf, ok := county[r.ID]
		if !ok {
			t.Errorf("village %s: %s %s at the station is missing at the county", s.village, kind, r.ID)
			continue
		}
		names := map[string]bool{}
		for k := range cf {
			names[k] = true
		}
		for k := range r.Fields {
			names[k] = true
		}
		for k := range names {
			if !records.Equal(cf[k], r.Fields[k]) {
				t.Errorf("village %s: %s %s field %s: county %s, station %s", s.village, kind, r.ID, k, cf[k], r.Fields[k])
			}
		}
	}
	t.Logf("village %s: %d %s records equal at station and county", s.village, len(local), kind)
}
