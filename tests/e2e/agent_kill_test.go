package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"stationsync/internal/linkem"
	"stationsync/internal/records"
	"stationsync/internal/testproc"
	"stationsync/internal/testsupport"
)

// agentLink is the link between station and county in the kill loop: the
// responses crawl down, so the time between the county's commit and the
// station's ack is long and many kills land in it.
var agentLink = linkem.Options{Latency: 15 * time.Millisecond, UpBytesPerSec: 64000, DownBytesPerSec: 4000}

// TestAgentKilledBetweenPushAndAck adds records at a station, starts
// `station-agent run` and SIGKILLs it at a random moment, many times over.
// Some kills land after the county committed a batch and before the station
// deleted the batch from its outbox; the county must then answer the resent
// batch as duplicates. At the end every record the station saved is at the
// county exactly once, as saved.
func TestAgentKilledBetweenPushAndAck(t *testing.T) {
	cycles := 60
	if testing.Short() {
		cycles = 5
	}
	seed := seedFor(t)
	c := newCounty(t)
	c.Start()
	px := testsupport.NewLink(t, c.Addr, agentLink)

	const village = "340123101201"
	s := newStation(t, village)
	s.Enroll(px.URL(), c.Code(village))
	o := testsupport.NewOracle()
	w := newWorkload(t, seed, village)
	by := "王村干部"

	var kills struct{ beforeCommit, window, afterAck int }
	var concurrentAdds int
	for cycle := 0; cycle < cycles; cycle++ {
		// What the cadre entered since the last round: a person, a visit,
		// now and then an edit, an application or its submission.
		p, pf := w.person()
		pid := s.Add(records.Person, "", by, pf)
		o.Created(records.Person, pid, village, by, pf)
		w.persons = append(w.persons, pid)
		w.pmap[pid] = p
		vf := w.visit(w.somePerson())
		vid := s.Add(records.Visit, "", by, vf)
		o.Created(records.Visit, vid, village, by, vf)
		if cycle%3 == 1 {
			id, ef := w.somePerson(), w.edit()
			s.Add(records.Person, id, by, ef)
			o.Edited(id, ef)
		}
		if cycle%4 == 2 {
			af := w.application(w.somePerson())
			aid := s.Add(records.Application, "", by, af)
			o.Created(records.Application, aid, village, by, af)
			w.drafts = append(w.drafts, aid)
		}
		if cycle%4 == 3 && len(w.drafts) > 0 {
			aid := w.drafts[0]
			w.drafts = w.drafts[1:]
			s.CLI(nil, "intent", "--app", aid, "--op", "submit", "--by", by)
			o.Intent(aid, records.OpSubmit, records.StatusSubmitted)
		}

		before := readOutboxState(t, s, false, c, true)
		stats0 := px.Stats()
		args := []string{"run", "--interval", "200ms", "--data", s.Data}
		if cycle%3 == 0 {
			// Small batches, one always ahead of the county's answer to
			// the one before: kills also land with two batches in flight.
			args = append(args, "--batch", "2", "--ahead", "always")
		}
		agent := testproc.Start(t, s.Log, []string{"LOG_LEVEL=debug"}, bin.Agent, args...)
		// Every other round the cadre also saves a visit while the service
		// is syncing: the command line beside the running service. Its id
		// joins the oracle once the add has returned.
		var side chan testsupport.Result
		var sideFields records.Fields
		if cycle%2 == 0 {
			side = make(chan testsupport.Result, 1)
			sideFields = w.visit(w.somePerson())
			body, err := json.Marshal(sideFields)
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				side <- testsupport.Exec(2*time.Minute, nil, body, bin.Agent, "add", "--kind", "visit", "--by", by, "--data", s.Data)
			}()
		}
		// Every fourth kill lands blind, 0–300 ms after the start, mostly
		// while the service starts. The others are timed from its first
		// byte on the link, 0–250 ms later: from the push through the
		// county's commit to the station's ack. Timed from the start
		// alone, a loaded machine (a start of over 300 ms) put every
		// kill before the commit and none in the window.
		start := time.Now()
		var delay time.Duration
		if cycle%4 == 0 {
			time.Sleep(time.Duration(w.rng.Int64N(int64(300*time.Millisecond) + 1)))
		} else {
			for px.Stats().UpBytes == stats0.UpBytes && time.Since(start) < 5*time.Second {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(time.Duration(w.rng.Int64N(int64(250*time.Millisecond) + 1)))
		}
		delay = time.Since(start)
		agent.Kill()
		if side != nil {
			r := <-side
			if r.Err != nil {
				t.Fatalf("add beside the service: %v: %s", r.Err, r.Stderr)
			}
			o.Created(records.Visit, strings.TrimSpace(r.Stdout), village, by, sideFields)
			concurrentAdds++
		}
		if testing.Verbose() {
			st := px.Stats()
			t.Logf("cycle %2d: link up %d bytes, down %d bytes", cycle, st.UpBytes-stats0.UpBytes, st.DownBytes-stats0.DownBytes)
		}
		switch classify(t, s, c, cycle, delay, before) {
		case killBeforeCommit:
			kills.beforeCommit++
		case killInWindow:
			kills.window++
		default:
			kills.afterAck++
		}
	}
	t.Logf("%d cycles, %d kills: %d before the county committed, %d after the county committed and before the station saved the ack, %d after the ack; %d adds ran beside the service",
		cycles, cycles, kills.beforeCommit, kills.window, kills.afterAck, concurrentAdds)

	// The link heals; the station syncs to completion.
	px.Set(linkem.Options{})
	s.SyncUntilDone(5)
	s.CheckDone()
	c.CheckClean()
	tl := verifyCounty(t, c, o, records.Person, records.Visit, records.Application)
	verifyStation(t, s, o)
	c.Stop()
	c.CheckLog()
	testsupport.CheckIntegrity(t, s.DBPath())
	testsupport.CheckIntegrity(t, c.DBPath())
	t.Logf("RESULT agent-kill: cycles=%d kills_in_window=%d records=%d lost=%d duplicated=%d extra=%d mismatched=%d",
		cycles, kills.window, tl.Records, tl.Lost, tl.Duplicated, tl.Extra, tl.Mismatched)
	if cycles >= 50 && kills.window == 0 {
		t.Errorf("no kill landed between the county's commit and the station's ack in %d cycles: the test did not exercise its scenario", cycles)
	}
}

type killPoint int

const (
	killBeforeCommit killPoint = iota // the county committed nothing of this run
	killInWindow                      // the county committed, the station never saved the ack
	killAfterAck                      // every change the county committed is acknowledged
)

// classify reads both databases after a kill and says where it landed. A
// kill is in the window when the county's high-water mark moved during the
// run and the station still holds a change at or below it.
func classify(t *testing.T, s *testsupport.StationProc, c *testsupport.CountyProc, cycle int, delay time.Duration, before outboxState) killPoint {
	t.Helper()
	st := readOutboxState(t, s, false, c, true)
	kp, where := killAfterAck, "after ack"
	switch {
	case st.hwm == before.hwm && st.pending > 0:
		kp, where = killBeforeCommit, "before commit"
	case st.inWindow():
		kp, where = killInWindow, "IN WINDOW (committed, not acked)"
	}
	if testing.Verbose() {
		t.Logf("cycle %2d: kill after %3dms: %s (station pending %d from seq %d, county hwm %d → %d)", cycle, delay.Milliseconds(), where, st.pending, st.minSeq, before.hwm, st.hwm)
	}
	return kp
}
