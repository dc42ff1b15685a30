package chaos

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/failpoint"
	"stationsync/internal/pgdb/pgtest"
	"stationsync/internal/testsupport"
	"stationsync/server"
)

// TestTwoServersKills: two county-server processes on one PostgreSQL
// database and one data directory, behind a round-robin front, while
// three stations push their cadres' work and the county decides (a third
// writer, this process). Server A is SIGKILLed again and again — at
// random moments and, every other time, at the failpoint after its commit
// and before its answer — and started again; server B keeps serving, so
// a station's resend after a lost answer usually reaches the other server,
// whose in-memory feed counter and HLC never saw that commit. The oracle
// must find nothing lost, nothing applied twice, no station diverged.
// CHAOS_FULL=1 kills 60 times instead of 6.
func TestTwoServersKills(t *testing.T) {
	seed := seedFor(t)
	began := time.Now()
	rng := rand.New(rand.NewPCG(seed, 9))
	cycles := size(6, 60)
	ctx := context.Background()

	// Made first, so that its drop (a cleanup) runs after the kills.
	pg := pgtest.NewDatabase(t)
	data := filepath.Join(t.TempDir(), "county")
	// This process's store: enrolment codes, decisions and the checks,
	// beside the two servers.
	cs, err := server.OpenPostgres(ctx, pg, data, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	newServer := func() *testsupport.CountyProc {
		c := testsupport.NewCountyProc(t, bin.Server, "LOG_LEVEL=info", "STATIONSYNC_DB="+pg)
		c.Data = data
		return c
	}
	a, b := newServer(), newServer()
	a.Start()
	b.Start()
	front := testsupport.NewRoundRobin(t, a, b)

	// Two stations a village: each pulls the feed the other's pushes
	// write, through either server.
	villages := []string{"340123104201", "340123104201", "340123104202", "340123104202", "340123104203", "340123104203"}
	cfg := testsupport.FastConfig()
	// Small batches, one always ahead: kills land with two batches in
	// flight, and the two may go to different servers.
	cfg.BatchSize, cfg.Ahead = 40, agent.AheadAlways
	o := newOracle()
	var ss []*station
	var ds []*driver
	for i, v := range villages {
		code, err := cs.CreateCode(ctx, v, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		s := testsupport.OpenStation(t, "", cfg)
		s.MustEnroll(t, front.URL, code, v)
		d := newDriver(o, seed+uint64(i), v, "赵村干部")
		d.steps(t, s.Store, size(40, 200))
		s.Start()
		ss, ds = append(ss, s), append(ds, d)
	}
	// The cadres keep recording and the county keeps deciding all along,
	// so that the two servers' writes overlap.
	stop := make(chan struct{})
	var work sync.WaitGroup
	var decisions atomic.Int64
	for i, d := range ds {
		work.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(20+d.rng.IntN(60)) * time.Millisecond):
				}
				if err := d.step(ctx, ss[i].Store); err != nil {
					t.Errorf("station %d: save: %v", i, err)
					return
				}
			}
		})
	}
	work.Go(func() {
		drng := rand.New(rand.NewPCG(seed, 10))
		for {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			n, err := decide(ctx, cs, o, drng)
			if err != nil {
				t.Errorf("decide: %v", err)
				return
			}
			decisions.Add(int64(n))
		}
	})
	var f faults
	for cycle := 0; cycle < cycles; cycle++ {
		if cycle%2 == 1 {
			a.P.Kill()
			a.Start("STATIONSYNC_FAILPOINTS=" + failpoint.ServerAfterCommit + "=kill")
			deadline := time.Now().Add(8 * time.Second)
			for !a.P.Exited() && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if a.P.Exited() && a.P.KilledBySignal() {
				f.add("server-a-kill-after-commit", 1)
			} else {
				a.P.Kill()
				f.add("server-a-sigkill", 1)
			}
		} else {
			time.Sleep(200*time.Millisecond + time.Duration(rng.Int64N(int64(1500*time.Millisecond))))
			a.P.Kill()
			f.add("server-a-sigkill", 1)
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		a.Start()
	}
	close(stop)
	work.Wait()
	f.add("county-decisions", int(decisions.Load()))
	for _, s := range ss {
		s.Halt()
	}
	testsupport.Settle(t, ss, 3*time.Minute)
	a.Stop()
	b.Stop()
	tl := verify(t, cs, agentsOf(ss), o)
	tl.duplicated += sharedFeedPositions(t, cs)
	for _, s := range ss {
		s.Close()
		testsupport.CheckIntegrity(t, s.DBPath())
	}
	b.CheckLog()
	f.add("requests-to-a", int(front.Served[0].Load()))
	f.add("requests-to-b", int(front.Served[1].Load()))
	f.add("front-502", int(front.Failed.Load()))
	record(t, result{scenario: "two-servers", seed: seed, faults: f.snapshot(), tally: tl, took: time.Since(began),
		notes: "two county-server processes on one PostgreSQL database behind a round-robin front; A killed, every other time at server/after-commit"})
}

// sharedFeedPositions counts the records beyond the first at each feed
// position: a position given twice means two servers drew from counters
// that did not know of each other, and a station whose cursor passed it
// holds only one of the records.
func sharedFeedPositions(t *testing.T, cs *server.CountyStore) int {
	t.Helper()
	var n, distinct int
	err := cs.DB().R.QueryRow(`SELECT count(*), count(DISTINCT feed_seq) FROM (SELECT feed_seq FROM persons
		UNION ALL SELECT feed_seq FROM visits UNION ALL SELECT feed_seq FROM applications UNION ALL SELECT feed_seq FROM disclosures) f`).Scan(&n, &distinct)
	if err != nil {
		t.Fatal(err)
	}
	if n != distinct {
		t.Errorf("county: %d records at %d feed positions", n, distinct)
	}
	return n - distinct
}
