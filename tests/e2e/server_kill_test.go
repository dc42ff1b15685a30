package e2e

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/linkem"
	"stationsync/internal/records"
	"stationsync/internal/testproc"
	"stationsync/internal/testsupport"
)

// serverLink is a slow station link: a batch of a thousand visits (about
// 75 KB compressed) takes some three seconds to go up and its answer crawls
// back, so kills of the county land mid-upload or between its commit and
// the answer reaching the station.
var serverLink = linkem.Options{Latency: 30 * time.Millisecond, UpBytesPerSec: 24_000, DownBytesPerSec: 3_000}

// TestServerKilledMidPush SIGKILLs the county server again and again while
// a station with a large backlog pushes over a slow link, restarting it on
// the same data directory and port each time; every other sync round keeps
// a second batch in flight. At the end every record the station saved is
// at the county exactly once, as saved.
func TestServerKilledMidPush(t *testing.T) {
	cycles, nPersons, nVisits, perCycle := 12, 100, 3000, 250
	if testing.Short() {
		cycles, nPersons, nVisits, perCycle = 4, 20, 600, 50
	}
	seed := seedFor(t)
	c := newCounty(t)
	c.Start()
	px := testsupport.NewLink(t, c.Addr, serverLink)

	const village = "340123102203"
	s := newStation(t, village)
	s.Enroll(px.URL(), c.Code(village))
	o := testsupport.NewOracle()
	w := newWorkload(t, seed, village)

	// The backlog: weeks of visits recorded offline, saved through the
	// station's own store (in this process) before any sync process starts;
	// the oracle keeps the id each save returned.
	start := time.Now()
	ctx := context.Background()
	a := testsupport.OpenStation(t, s.Data, agent.Config{})
	by := "李协理员"
	saveVisits := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			vf := w.visit(w.somePerson())
			id, err := a.Store.Save(ctx, records.Visit, "", vf, by)
			if err != nil {
				t.Fatalf("save visit: %v", err)
			}
			o.Created(records.Visit, id, village, by, vf)
		}
	}
	for i := 0; i < nPersons; i++ {
		p, pf := w.person()
		id, err := a.Store.Save(ctx, records.Person, "", pf, by)
		if err != nil {
			t.Fatalf("save person: %v", err)
		}
		o.Created(records.Person, id, village, by, pf)
		w.persons = append(w.persons, id)
		w.pmap[id] = p
	}
	saveVisits(nVisits)
	t.Logf("backlog: %d persons and %d visits saved in %s", nPersons, nVisits, time.Since(start).Round(time.Millisecond))

	// The station pushes, one `station-agent sync` after another, while
	// the cadre keeps recording a few visits a round, so that it is still
	// pushing when the last kill comes.
	push := startPusher(t, s)
	var midPush, window, aimed int
	var prevHWM uint64
	stats0 := px.Stats()
	for cycle := 0; cycle < cycles; cycle++ {
		saveVisits(perCycle)
		// Odd cycles aim: the county dies the moment it has committed a
		// batch, while its answer is still on the way. Even cycles kill at
		// a random moment.
		up := 200*time.Millisecond + time.Duration(w.rng.Int64N(int64(2400*time.Millisecond)))
		how := "random"
		if cycle%2 == 1 {
			how = "aimed"
			if waitCommit(t, c, s.ID, 5*time.Second) {
				aimed++
			}
		} else {
			time.Sleep(up)
		}
		c.Kill()
		// An answer that did arrive gets a moment to be saved, so that only
		// answers the kill really lost count below.
		time.Sleep(100 * time.Millisecond)
		st := readOutboxState(t, s, false, c, false)
		where := "idle"
		if st.pending > 0 {
			midPush++
			where = "mid-push"
			// In the window: the county committed during this cycle, and
			// the station never saw the answer.
			if st.inWindow() && st.hwm > prevHWM {
				window++
				where = "mid-push, IN WINDOW (committed, answer lost)"
			}
		}
		prevHWM = st.hwm
		if testing.Verbose() {
			ps := px.Stats()
			t.Logf("cycle %2d: county killed (%s): %s (station pending %d from seq %d, county hwm %d; link so far up %d KB, down %d KB)",
				cycle, how, where, st.pending, st.minSeq, st.hwm, (ps.UpBytes-stats0.UpBytes)>>10, (ps.DownBytes-stats0.DownBytes)>>10)
		}
		time.Sleep(time.Duration(w.rng.IntN(200)) * time.Millisecond)
		c.Start()
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d server kills (%d aimed at a commit): %d while the station had changes queued, %d after the county committed a batch whose answer never arrived",
		cycles, aimed, midPush, window)
	if !testing.Short() && window == 0 {
		t.Errorf("no kill landed between the county's commit and its answer reaching the station: the test did not exercise its scenario")
	}

	// The link heals; the pusher stops, and sync runs to completion.
	px.Set(linkem.Options{})
	push.halt()
	t.Logf("station-agent sync ran %d times during the kills, %d completed", push.runs, push.ok)
	s.SyncUntilDone(3)
	s.CheckDone()
	c.CheckClean()
	tl := verifyCounty(t, c, o, records.Person, records.Visit)
	c.Stop()
	c.CheckLog()
	testsupport.CheckIntegrity(t, s.DBPath())
	testsupport.CheckIntegrity(t, c.DBPath())
	t.Logf("RESULT server-kill: cycles=%d kills_mid_push=%d kills_in_window=%d records=%d lost=%d duplicated=%d extra=%d mismatched=%d",
		cycles, midPush, window, tl.Records, tl.Lost, tl.Duplicated, tl.Extra, tl.Mismatched)
}

// waitCommit polls the county's database until the station's high-water
// mark moves (a batch was committed) or timeout passes; it reports whether
// it moved.
func waitCommit(t *testing.T, c *testsupport.CountyProc, stationID string, timeout time.Duration) bool {
	t.Helper()
	db := testsupport.OpenDB(t, c.DBPath(), true)
	defer db.Close()
	hwm := func() int64 {
		var n sql.NullInt64
		db.QueryRow(`SELECT max(hwm) FROM station_epochs WHERE station = ?`, stationID).Scan(&n)
		return n.Int64
	}
	start := hwm()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if hwm() != start {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// pusher runs `station-agent sync` again and again until halted, as the
// service would: at once after a failure, a moment after a success.
type pusher struct {
	mu       sync.Mutex
	cur      *exec.Cmd
	stop     chan struct{}
	once     sync.Once
	done     chan struct{}
	runs, ok int
}

func startPusher(t *testing.T, s *testsupport.StationProc) *pusher {
	t.Helper()
	logf, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p := &pusher{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer logf.Close()
		for run := 0; ; run++ {
			args := []string{"sync", "--data", s.Data}
			if run%2 == 1 {
				// Every other round keeps a second batch in flight, so that
				// kills also land with two batches on their way.
				args = append(args, "--ahead", "always")
			}
			cmd := exec.Command(bin.Agent, args...)
			cmd.Stdout, cmd.Stderr = logf, logf
			cmd.Env = append(os.Environ(), "LOG_LEVEL=debug")
			testproc.DieWithParent(cmd)
			p.mu.Lock()
			select {
			case <-p.stop:
				p.mu.Unlock()
				return
			default:
			}
			if err := cmd.Start(); err != nil {
				p.mu.Unlock()
				return
			}
			p.cur = cmd
			p.mu.Unlock()
			err := cmd.Wait()
			p.mu.Lock()
			p.cur = nil
			p.runs++
			if err == nil {
				p.ok++
			}
			p.mu.Unlock()
			pause := 20 * time.Millisecond
			if err == nil {
				pause = 200 * time.Millisecond
			}
			select {
			case <-p.stop:
				return
			case <-time.After(pause):
			}
		}
	}()
	t.Cleanup(p.halt)
	return p
}

// halt stops the loop, killing a sync in progress, and waits for it.
func (p *pusher) halt() {
	p.once.Do(func() { close(p.stop) })
	p.mu.Lock()
	if p.cur != nil {
		p.cur.Process.Kill()
	}
	p.mu.Unlock()
	<-p.done
}
