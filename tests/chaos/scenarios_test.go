package chaos

import (
	"context"
	"database/sql"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/failpoint"
	"stationsync/internal/linkem"
	"stationsync/internal/records"
	"stationsync/internal/testclock"
	"stationsync/internal/testproc"
	"stationsync/internal/testsupport"
)

var ctxb = context.Background()

// TestLinkFaults: three stations work through a link that goes through
// every fault in turn — 600 ms ± 300 latency, 4 KB/s, a black hole, a reset
// in the middle of the request body, the answer cut after the county
// committed (the duplicate-maker), sliced streams, slow-closing streams,
// and a long outage during which the county and the cadres edit the same
// addresses (conflicts on purpose) — while their cadres keep recording
// and the county keeps deciding.
func TestLinkFaults(t *testing.T) {
	seed := seedFor(t)
	began := time.Now()
	rng := rand.New(rand.NewPCG(seed, 1))
	c := testsupport.NewCounty(t)
	px := c.Link
	o := newOracle()
	var f faults
	villages := []string{"340123101201", "340123101202", "340123102203"}
	var ss []*station
	var ds []*driver
	for i, v := range villages {
		s := testsupport.OpenStation(t, "", testsupport.FastConfig())
		s.MustEnroll(t, px.URL(), c.Code(t, v), v)
		ss = append(ss, s)
		ds = append(ds, newDriver(o, seed+uint64(i), v, "村干部"+v[9:]))
		ds[i].att = s
	}
	for _, s := range ss {
		s.Start()
	}
	// While the link is down, the county and each station's cadre both
	// edit the address of persons the county holds: conflicts on purpose,
	// which verify predicts and checks (see contest).
	cts := make([]*contender, len(ss))
	for i, s := range ss {
		cts[i] = &contender{d: ds[i], county: c.Store, station: s.Store.Meta(ctxb, "station_id")}
	}
	contend := func(first bool) {
		for i, ct := range cts {
			if first {
				if err := ct.begin(ctxb, size(3, 4)); err != nil {
					t.Fatal(err)
				}
				f.add("concurrent-edit", len(ct.targets))
			}
			if _, err := ct.write(ctxb, ss[i].Store, first); err != nil {
				t.Fatal(err)
			}
		}
	}
	idleClosed := 0
	phase := time.Duration(size(1200, 8000)) * time.Millisecond
	rounds := size(1, 5)
	for round := 0; round < rounds; round++ {
		phases := []struct {
			name  string
			o     linkem.Options
			d     time.Duration
			begin func()
			each  func()
		}{
			{name: "latency600±300", o: linkem.Options{Latency: 600 * time.Millisecond, Jitter: 300 * time.Millisecond}, d: phase},
			{name: "bw4KB/s", o: linkem.Options{UpBytesPerSec: 4096, DownBytesPerSec: 4096}, d: phase},
			{name: "blackhole", o: linkem.Options{BlackHole: true}, d: phase + 2*time.Second},
			{name: "reset-mid-body", o: linkem.Options{ResetAfterUpBytes: 400 + rng.Int64N(3000)}, d: phase},
			{name: "cut-answer", o: linkem.Options{CutDownAfterBytes: 1 + rng.Int64N(200)}, d: phase},
			{name: "sliced", o: linkem.Options{Latency: 20 * time.Millisecond, Jitter: 19 * time.Millisecond, UpBytesPerSec: 1280, DownBytesPerSec: 1280}, d: phase},
			// Every end of stream is held 1.5 s, and the county drops its
			// idle keep-alive connections now and then: the stations keep
			// sending into connections the county already closed.
			{name: "slow-close", o: linkem.Options{Latency: 30 * time.Millisecond, CloseDelay: 1500 * time.Millisecond}, d: phase, each: func() {
				if rng.IntN(3) == 0 {
					idleClosed += c.CloseIdle()
				}
			}},
			{name: "clean", d: phase / 2},
			{name: "long-outage", o: linkem.Options{Down: true}, d: 3 * phase, begin: func() { contend(true) }, each: func() { contend(false) }},
		}
		for _, p := range phases {
			px.Set(p.o)
			if p.name != "clean" {
				f.add(p.name, 1)
			}
			if p.begin != nil {
				p.begin()
			}
			end := time.Now().Add(p.d)
			for time.Now().Before(end) {
				if p.each != nil {
					p.each()
				}
				for i, d := range ds {
					if err := d.step(ctxb, ss[i].Store); err != nil {
						t.Fatalf("save: %v", err)
					}
				}
				if rng.IntN(8) == 0 {
					if n, err := decide(ctxb, c.Store, o, rng); err != nil {
						t.Fatal(err)
					} else {
						f.add("county-decision", n)
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	tl := healAndVerify(t, c, ss, o)
	if err := c.Store.DB().IntegrityCheck(ctxb); err != nil {
		t.Error(err)
	}
	st := px.Stats()
	f.add("files-attached", o.fileCount())
	record(t, result{scenario: "link", seed: seed, faults: f.snapshot(), tally: tl, took: time.Since(began),
		notes: "3 stations in-process; link carried " + itoa(st.Conns) + " connections; slow close held " + itoa(st.HeldFINs) + " FINs, county dropped " + itoa(int64(idleClosed)) + " idle connections"})
}

// TestAgentKills SIGKILLs `station-agent run` at random moments, again and
// again, over a link whose answers crawl (4 KB/s down), so many kills land
// between the county's commit and the station's ack. The cadre keeps
// recording beside the service (another process on the same database).
func TestAgentKills(t *testing.T) {
	seed := seedFor(t)
	began := time.Now()
	rng := rand.New(rand.NewPCG(seed, 2))
	cycles := size(12, 500)
	const village = "340123101201"
	dir := t.TempDir()
	log := filepath.Join(dir, "agent.log")
	c, px, s := procScenario(t, village, linkem.Options{Latency: 15 * time.Millisecond, UpBytesPerSec: 64000, DownBytesPerSec: 4000},
		filepath.Join(dir, "station"), testsupport.FastConfig())
	o := newOracle()
	d := newDriver(o, seed, village, "王村干部")
	d.att, d.attachPct = s, 30 // so that kills land inside uploads too
	var f faults
	// The service's clock comes from a file it re-reads every second:
	// half-way through, it jumps back a day.
	clockFile := filepath.Join(dir, "clock-offset")
	env := []string{"STATIONSYNC_TEST_CLOCK_FILE=" + clockFile}
	for cycle := 0; cycle < cycles; cycle++ {
		if cycle == cycles/2 {
			if err := testclock.WriteOffset(clockFile, -24*time.Hour); err != nil {
				t.Fatal(err)
			}
			f.add("process-clock-back-1d", 1)
		}
		d.steps(t, s.Store, 2)
		p := testproc.Start(t, log, append([]string{"LOG_LEVEL=info"}, env...), bin.Agent, "run", "--interval", "200ms", "--data", s.Dir)
		// The cadre saves beside the running service now and then.
		if cycle%3 == 0 {
			d.steps(t, s.Store, 1)
		}
		hwm0 := countyHWM(t, c, s)
		time.Sleep(time.Duration(rng.Int64N(int64(500 * time.Millisecond))))
		if !p.Exited() {
			p.Kill()
			f.add("agent-sigkill", 1)
			// In the window: the county committed during this run and the
			// station still holds a change at or below its high-water mark.
			hwm := countyHWM(t, c, s)
			var minSeq sql.NullInt64
			s.Store.DB().R.QueryRow(`SELECT min(seq) FROM outbox WHERE epoch = (SELECT value FROM meta WHERE key = 'epoch')`).Scan(&minSeq)
			if hwm > hwm0 && minSeq.Valid && uint64(minSeq.Int64) <= hwm {
				f.add("agent-kill-in-window", 1)
			}
		}
	}
	px.Set(linkem.Options{})
	tl := settleAndVerify(t, c, s, o, 2*time.Minute)
	f.add("files-attached", o.fileCount())
	record(t, result{scenario: "agent-kill", seed: seed, faults: f.snapshot(), tally: tl, took: time.Since(began),
		notes: "station-agent run processes, random kill in 0–500 ms"})
}

// TestServerKills SIGKILLs the county server while a station with a
// backlog pushes over a slow link: at random moments, and at the failpoint
// after its commit and before its answer.
func TestServerKills(t *testing.T) {
	seed := seedFor(t)
	began := time.Now()
	rng := rand.New(rand.NewPCG(seed, 3))
	cycles := size(6, 100)
	const village = "340123102203"
	cfg := testsupport.FastConfig()
	// Small batches, one always ahead: kills also land with two batches
	// in flight, one of them possibly committed.
	cfg.BatchSize, cfg.Ahead = 50, agent.AheadAlways
	c, px, s := procScenario(t, village, linkem.Options{Latency: 30 * time.Millisecond, UpBytesPerSec: 24000, DownBytesPerSec: 3000}, "", cfg)
	o := newOracle()
	d := newDriver(o, seed, village, "李协理员")
	d.att = s
	d.steps(t, s.Store, size(150, 1500))
	s.Start()
	var f faults
	for cycle := 0; cycle < cycles; cycle++ {
		d.steps(t, s.Store, 10)
		if cycle%2 == 1 {
			// Dies by itself right after committing a batch.
			c.P.Kill()
			c.Start("STATIONSYNC_FAILPOINTS=" + failpoint.ServerAfterCommit + "=kill")
			deadline := time.Now().Add(8 * time.Second)
			for !c.P.Exited() && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if c.P.Exited() && c.P.KilledBySignal() {
				f.add("server-kill-after-commit", 1)
			} else {
				c.P.Kill()
				f.add("server-sigkill", 1)
			}
		} else {
			time.Sleep(200*time.Millisecond + time.Duration(rng.Int64N(int64(1500*time.Millisecond))))
			c.P.Kill()
			f.add("server-sigkill", 1)
		}
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
		c.Start()
	}
	px.Set(linkem.Options{})
	s.Halt()
	tl := settleAndVerify(t, c, s, o, 3*time.Minute)
	f.add("files-attached", o.fileCount())
	record(t, result{scenario: "server-kill", seed: seed, faults: f.snapshot(), tally: tl, took: time.Since(began),
		notes: "county-server processes; every other kill at failpoint server/after-commit; one batch always ahead"})
}

// TestFailpoints stops processes at each step of the protocol with
// SIGKILL: after the local commit, after the push is sent, after the
// answer is read, after it is saved, after a pulled page is saved, after
// the county's commit, and in the middle of a migration.
func TestFailpoints(t *testing.T) {
	seed := seedFor(t)
	began := time.Now()
	c := newProcCounty(t)
	const village = "340123103207"
	code := c.Codes([]string{village})[0]
	c.Start()
	dir := t.TempDir()
	s := testsupport.OpenStation(t, filepath.Join(dir, "station"), testsupport.FastConfig())
	s.MustEnroll(t, c.URL(), code, village)
	o := newOracle()
	d := newDriver(o, seed, village, "赵主任")
	var f faults
	fired := func(name string, err error) {
		t.Helper()
		if testsupport.KilledBySignal(err) {
			f.add("fp:"+name, 1)
			return
		}
		t.Logf("failpoint %s did not fire: %v", name, err)
	}
	rounds := size(2, 20)
	agentPoints := []string{failpoint.AgentAfterPushSent, failpoint.AgentAfterAnswerRead, failpoint.AgentAfterAckSaved, failpoint.AgentAfterPageApplied}
	for round := 0; round < rounds; round++ {
		for _, fp := range agentPoints {
			d.steps(t, s.Store, 4)
			fired(fp, run([]string{"STATIONSYNC_FAILPOINTS=" + fp + "=kill"}, bin.Agent, "sync", "--data", s.Dir).Err)
		}
		// Killed right after the local commit: the cadre never heard
		// "saved", the record may be kept (once) or not.
		vf := testsupport.Fields(d.g.Visit(d.somePerson(), time.Now()))
		body, _ := json.Marshal(vf)
		r := testsupport.Exec(2*time.Minute, []string{"STATIONSYNC_FAILPOINTS=" + failpoint.AgentAfterLocalCommit + "=kill"}, body,
			bin.Agent, "add", "--kind", "visit", "--by", d.by, "--data", s.Dir)
		if r.Err == nil {
			o.Created(records.Visit, strings.TrimSpace(r.Stdout), village, d.by, vf)
		} else {
			o.Unacknowledged(testsupport.Attempt{Kind: records.Visit, Village: village, Fields: vf})
		}
		fired(failpoint.AgentAfterLocalCommit, r.Err)
		// The county dies after its commit, before its answer.
		d.steps(t, s.Store, 4)
		c.P.Kill()
		c.Start("STATIONSYNC_FAILPOINTS=" + failpoint.ServerAfterCommit + "=kill")
		run(nil, bin.Agent, "sync", "--data", s.Dir)
		if c.P.KilledBySignal() {
			f.add("fp:"+failpoint.ServerAfterCommit, 1)
		}
		c.Start()
		// A migration killed half-way, at a station and at a county: the
		// next start must finish it.
		sd := filepath.Join(t.TempDir(), "fresh")
		fired(failpoint.MidMigration, run([]string{"STATIONSYNC_FAILPOINTS=" + failpoint.MidMigration + "=kill"}, bin.Agent, "status", "--data", sd).Err)
		if r := run(nil, bin.Agent, "status", "--data", sd); r.Err != nil {
			t.Errorf("station after a killed migration: %v\n%s", r.Err, r.Output())
		}
		cd := filepath.Join(t.TempDir(), "freshcounty")
		fired(failpoint.MidMigration, run([]string{"STATIONSYNC_FAILPOINTS=" + failpoint.MidMigration + "=kill"}, bin.Server, "records", "--kind", "person", "--data", cd).Err)
		if r := run(nil, bin.Server, "records", "--kind", "person", "--data", cd); r.Err != nil {
			t.Errorf("county after a killed migration: %v\n%s", r.Err, r.Output())
		}
		testsupport.CheckIntegrity(t, filepath.Join(sd, "station.db"), filepath.Join(cd, "county.db"))
	}
	tl := settleAndVerify(t, c, s, o, 2*time.Minute)
	record(t, result{scenario: "failpoints", seed: seed, faults: f.snapshot(), tally: tl, took: time.Since(began),
		notes: "binaries built with -tags failpoints; " + itoa(int64(o.Unacked())) + " saves killed after commit before answering"})
}

// TestClocks: stations whose clocks read 2009 and 2038 record offline
// before they ever reach the county, then sync; a third's clock jumps
// back a day mid-run (and so does the 2009 one), while the link drops now
// and then and the county decides.
func TestClocks(t *testing.T) {
	seed := seedFor(t)
	began := time.Now()
	rng := rand.New(rand.NewPCG(seed, 4))
	c := testsupport.NewCounty(t)
	px := c.Link
	clocks := []*testclock.Clock{
		testclock.At(time.Date(2009, 6, 1, 8, 0, 0, 0, time.Local)),
		testclock.At(time.Date(2038, 1, 1, 8, 0, 0, 0, time.Local)),
		testclock.New(0),
	}
	villages := []string{"340123104211", "340123104212", "340123105213"}
	o := newOracle()
	var f faults
	f.add("clock-2009", 1)
	f.add("clock-2038", 1)
	var ss []*station
	var ds []*driver
	for i, v := range villages {
		cfg := testsupport.FastConfig()
		cfg.Now = clocks[i].Now
		s := testsupport.OpenStation(t, "", cfg)
		s.Village = v
		d := newDriver(o, seed+uint64(i), v, "钱协理员")
		d.steps(t, s.Store, 8) // before enrolment: never heard from the county
		if _, err := s.Enroll(ctxb, px.URL(), c.Code(t, v)); err != nil {
			t.Fatal(err)
		}
		if err := s.ConfirmEnrollment(ctxb); err != nil { // the cadre checks the county
			t.Fatal(err)
		}
		ss, ds = append(ss, s), append(ds, d)
	}
	for _, s := range ss {
		s.Start()
	}
	dur := time.Duration(size(6, 60)) * time.Second
	end := time.Now().Add(dur)
	jumped := false
	for time.Now().Before(end) {
		if !jumped && time.Until(end) < dur/2 {
			clocks[2].Jump(-24 * time.Hour)
			clocks[0].Jump(-24 * time.Hour)
			f.add("jump-back-1d", 2)
			jumped = true
		}
		if rng.IntN(15) == 0 {
			px.Set(linkem.Options{Down: true})
			f.add("link-down", 1)
		} else if rng.IntN(4) == 0 {
			px.Set(linkem.Options{})
		}
		for i, d := range ds {
			if err := d.step(ctxb, ss[i].Store); err != nil {
				t.Fatal(err)
			}
		}
		if rng.IntN(6) == 0 {
			n, err := decide(ctxb, c.Store, o, rng)
			if err != nil {
				t.Fatal(err)
			}
			f.add("county-decision", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	tl := healAndVerify(t, c, ss, o)
	record(t, result{scenario: "clock", seed: seed, faults: f.snapshot(), tally: tl, took: time.Since(began),
		notes: "in-process agents on internal/testclock"})
}

// countyHWM reads the county's high-water mark for the station's current
// epoch from the county's database (read-only, beside the running server).
func countyHWM(t *testing.T, c *testsupport.CountyProc, s *station) uint64 {
	t.Helper()
	db := testsupport.OpenDB(t, c.DBPath(), true)
	defer db.Close()
	var hwm uint64
	db.QueryRow(`SELECT hwm FROM station_epochs WHERE station = ? AND epoch = ?`, s.Store.Meta(ctxb, "station_id"), s.Store.Meta(ctxb, "epoch")).Scan(&hwm)
	return hwm
}

func itoa(n int64) string { return strings.TrimSpace(strings.Repeat(" ", 0) + formatInt(n)) }

func formatInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
