package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/linkem"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
	"stationsync/syncproto"
)

const (
	villageA = "340123101201"
	villageB = "340123102203"
)

// The story: two stations record offline, the link returns, the
// county decides on an application, and every side converges.
func TestTwoStationsConvergeWithCountyDecision(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	a := newStation(t, c, villageA, nil)
	b := newStation(t, c, villageB, nil)
	g := gen.New(7)

	c.LinkDown()
	personsA, _ := a.AddPeople(t, g, villageA, 5)
	b.AddPeople(t, g, villageB, 4)
	app := a.MustSave(t, records.Application, "", testsupport.Fields(g.Application(personsA[0], nil)))
	a.MustSave(t, records.Disclosure, "", testsupport.Fields(g.Disclosure("村务公开")))
	if err := a.Store.Intent(ctx, app, records.OpSubmit, "", "测试员"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SyncOnce(ctx); err == nil {
		t.Fatal("sync with the link down succeeded")
	}
	if got, want := a.Pending(t), 5*3+2+1; got != want {
		t.Fatalf("pending=%d, want %d", got, want)
	}

	c.LinkUp()
	a.MustSync(t)
	b.MustSync(t)
	if a.Pending(t) != 0 || b.Pending(t) != 0 {
		t.Fatal("outbox not empty after sync")
	}
	testsupport.AssertConverged(t, c, a, villageA)
	testsupport.AssertConverged(t, c, b, villageB)

	for _, d := range []server.Decision{
		{ApplicationID: app, Op: records.OpAccept, By: "县民政局"},
		{ApplicationID: app, Op: records.OpApprove, By: "县民政局", AmountFen: 30000, FromMonth: "2026-12", Comment: "符合条件"},
	} {
		if err := c.Store.Decide(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	res := a.MustSync(t)
	if res.Pulled != 1 {
		t.Errorf("pulled %d records, want only the decided application", res.Pulled)
	}
	got, err := a.Store.Get(ctx, records.Application, app)
	if err != nil {
		t.Fatal(err)
	}
	if st := records.TextValue(got.Fields, "status"); st != records.StatusApproved {
		t.Fatalf("station sees status %q, want approved", st)
	}
	if amt := string(got.Fields["approved_amount_fen"]); amt != "30000" {
		t.Fatalf("station sees amount %s", amt)
	}
	hist, err := a.Store.History(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	var path []string
	for _, h := range hist {
		path = append(path, h.From+"→"+h.To)
	}
	if js(path) != js([]string{"draft→submitted", "submitted→accepted", "accepted→approved"}) {
		t.Fatalf("history %v", path)
	}
	testsupport.AssertConverged(t, c, a, villageA)
	testsupport.AssertConverged(t, c, b, villageB)
	// Station B's feed holds nothing of village A.
	if res := b.MustSync(t); res.Pulled != 0 {
		t.Fatalf("station B pulled %d records of another village", res.Pulled)
	}
}

// A stale station cannot move a decided application back, and its refused
// change does not block the changes queued after it.
func TestStaleIntentRejectedQueueContinues(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	a := newStation(t, c, villageA, nil)
	g := gen.New(3)
	persons, _ := a.AddPeople(t, g, villageA, 1)
	app := a.MustSave(t, records.Application, "", testsupport.Fields(g.Application(persons[0], nil)))
	if err := a.Store.Intent(ctx, app, records.OpSubmit, "", "甲"); err != nil {
		t.Fatal(err)
	}
	a.MustSync(t)
	for _, op := range []records.Op{records.OpAccept, records.OpApprove} {
		if err := c.Store.Decide(ctx, server.Decision{ApplicationID: app, Op: op, AmountFen: 100, FromMonth: "2026-12"}); err != nil {
			t.Fatal(err)
		}
	}
	// Offline, the station still believes the application is "submitted".
	if err := a.Store.Intent(ctx, app, records.OpWithdraw, "家属要求撤回", "甲"); err != nil {
		t.Fatal(err)
	}
	later := a.MustSave(t, records.Person, "", testsupport.Fields(g.Person(villageA)))
	res := a.MustSync(t)
	if res.Rejected != 1 {
		t.Fatalf("rejected=%d, want 1", res.Rejected)
	}
	if a.Pending(t) != 0 {
		t.Fatal("outbox not empty")
	}
	rej, err := a.Store.Rejected(ctx)
	if err != nil || len(rej) != 1 || rej[0].Code != syncproto.CodeNotAllowed || rej[0].Reason == "" {
		t.Fatalf("station rejected list %+v, %v", rej, err)
	}
	rec, _ := a.Store.Get(ctx, records.Application, app)
	if st := records.TextValue(rec.Fields, "status"); st != records.StatusApproved {
		t.Fatalf("station status %q, want the county's approved", st)
	}
	if _, err := c.Store.Records(ctx, records.Person, villageA); err != nil {
		t.Fatal(err)
	}
	if recs, _ := c.Store.Records(ctx, records.Person, villageA); len(recs) != 2 || (recs[0].ID != later && recs[1].ID != later) {
		t.Fatal("the change queued after the rejected one did not arrive")
	}
	cr, _ := c.Store.Rejected(ctx, villageA)
	if len(cr) != 1 {
		t.Fatalf("county rejected list has %d entries", len(cr))
	}
	testsupport.AssertConverged(t, c, a, villageA)
}

// The classic duplicate: the county commits, the answer is lost on the way
// back, the station sends again.
func TestResponseLostAfterCommit(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	a := newStation(t, c, villageA, nil)
	g := gen.New(11)
	_, visits := a.AddPeople(t, g, villageA, 20)
	c.Link.Set(linkem.Options{CutDownAfterBytes: 40})
	if _, err := a.SyncOnce(ctx); err == nil {
		t.Fatal("sync succeeded with the answer cut")
	}
	if got := len(c.Records(t, records.Visit, "")); got != len(visits) {
		t.Fatalf("county has %d visits after the cut answer, want %d (it committed)", got, len(visits))
	}
	if a.Pending(t) != 60 {
		t.Fatalf("station dropped changes without an answer: pending %d", a.Pending(t))
	}
	c.LinkUp()
	a.MustSync(t)
	if a.Pending(t) != 0 {
		t.Fatal("duplicates were not acknowledged")
	}
	if got := len(c.Records(t, records.Visit, "")); got != len(visits) {
		t.Fatalf("county has %d visits, want %d", got, len(visits))
	}
	testsupport.AssertConverged(t, c, a, villageA)
}

// Concurrent edits of a field both sides may edit: the later HLC wins and
// the loser is kept as a conflict that both sides can see.
func TestConcurrentEditsKeepConflict(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	a := newStation(t, c, villageA, nil)
	a2 := newStation(t, c, villageA, nil) // a second PC in the same village
	g := gen.New(5)
	persons, _ := a.AddPeople(t, g, villageA, 1)
	a.MustSync(t)
	a2.MustSync(t)
	pid := persons[0]
	a2.MustSave(t, records.Person, pid, records.Fields{"phone": json.RawMessage(`"13900000001"`)})
	// HLCs of two machines within one millisecond tie and break by station
	// id. Each station corrects its clock by an estimate of the county's
	// that may be off by half a round trip, which on a loaded test machine
	// is more than a few milliseconds (a 5 ms gap flaked once in a run
	// beside other tests); a second makes the second edit the later one.
	time.Sleep(time.Second)
	a.MustSave(t, records.Person, pid, records.Fields{"phone": json.RawMessage(`"13900000002"`)})
	a.MustSync(t)
	a2.MustSync(t)
	a.MustSync(t)
	recs, _ := c.Store.Records(ctx, records.Person, villageA)
	if got := records.TextValue(recs[0].Fields, "phone"); got != "13900000002" {
		t.Fatalf("county phone %q, want the later edit", got)
	}
	conf, _ := c.Store.Conflicts(ctx, villageA)
	if len(conf) != 1 || string(conf[0].Loser) != `"13900000001"` || string(conf[0].Winner) != `"13900000002"` {
		t.Fatalf("conflicts %s", js(conf))
	}
	for _, s := range []*station{a, a2} {
		if n, _ := s.Store.ConflictCount(ctx); n != 1 {
			t.Fatalf("station sees %d conflicts, want 1", n)
		}
		testsupport.AssertConverged(t, c, s, villageA)
	}
}

// A stalled link (bytes go in, nothing comes back) fails the round after
// the idle timeout instead of hanging; the changes stay queued and go up
// once the link returns.
func TestBlackHoleLinkDoesNotHang(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	s := testsupport.NewStation(t, c, villageA, agent.Config{IdleTimeout: 500 * time.Millisecond})
	s.AddPeople(t, gen.New(1), villageA, 3)
	c.Link.Set(linkem.Options{BlackHole: true})
	start := time.Now()
	if _, err := s.SyncOnce(ctx); err == nil {
		t.Fatal("sync through a black hole succeeded")
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("sync hung for %v", d)
	}
	c.LinkUp()
	s.MustSync(t)
	testsupport.AssertConverged(t, c, s, villageA)
}

// Run starts a round by itself right after a change saved by another
// process (here: another Store on the same file) and when the link returns.
func TestRunSyncsByItself(t *testing.T) {
	c := testsupport.NewCounty(t)
	s := testsupport.NewStation(t, c, villageA, agent.Config{SyncInterval: time.Hour, RetryCap: 300 * time.Millisecond})
	s.Start()
	other := openStation(t, s.Dir, nil) // the command line beside the service
	other.AddPeople(t, gen.New(2), villageA, 1)
	other.Close()
	waitFor(t, func() bool { return len(c.Records(t, records.Visit, "")) == 2 })

	c.LinkDown()
	other = openStation(t, s.Dir, nil)
	other.AddPeople(t, gen.New(3), villageA, 1)
	other.Close()
	time.Sleep(3 * time.Second) // the round fails while the link is down
	if len(c.Records(t, records.Visit, "")) != 2 {
		t.Fatal("changes crossed a link that is down")
	}
	c.LinkUp()
	waitFor(t, func() bool { return len(c.Records(t, records.Visit, "")) == 4 })
	s.Halt()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 15 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The county's database is restored from a copy older than what it had
// acknowledged: the station notices (the county's high-water mark and feed
// went backwards), sends its whole state again, and both sides converge.
func TestCountyRestoredFromOlderCopy(t *testing.T) {
	c := testsupport.NewCounty(t)
	s := newStation(t, c, villageA, nil)
	g := gen.New(8)
	s.AddPeople(t, g, villageA, 3)
	s.MustSync(t)
	backup := filepath.Join(t.TempDir(), "backup.db")
	c.Restart(t, func(p string) { copyFile(t, p, backup) })
	s.AddPeople(t, g, villageA, 2) // acknowledged, then lost with the restore
	s.MustSync(t)
	c.Restart(t, func(p string) {
		os.Remove(p + "-wal")
		os.Remove(p + "-shm")
		copyFile(t, backup, p)
	})
	if got := len(c.Records(t, records.Person, "")); got != 3 {
		t.Fatalf("restored county holds %d persons, want 3", got)
	}
	s.AddPeople(t, g, villageA, 1)
	s.MustSync(t)
	if s.Pending(t) != 0 {
		t.Fatal("outbox not empty")
	}
	if got := len(c.Records(t, records.Person, "")); got != 6 {
		t.Fatalf("county holds %d persons after recovery, want 6", got)
	}
	testsupport.AssertConverged(t, c, s, villageA)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The station's database is restored from an older copy and then records
// more new changes than it lost: their seqs collide with changes the county
// already applied. The county tells them apart by HLC and nothing new is
// dropped as a "duplicate".
func TestStationRestoredFromOlderCopy(t *testing.T) {
	c := testsupport.NewCounty(t)
	s := newStation(t, c, villageA, nil)
	g := gen.New(12)
	s.AddPeople(t, g, villageA, 2)
	s.MustSync(t)
	if err := s.Store.DB().Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	backup := t.TempDir()
	for _, f := range []string{"station.db", "station.key"} {
		copyFile(t, filepath.Join(s.Dir, f), filepath.Join(backup, f))
	}
	s.AddPeople(t, g, villageA, 3) // 9 changes, acknowledged, then "lost"
	s.MustSync(t)
	s.Shut(t)
	for _, f := range []string{"station.db-wal", "station.db-shm"} {
		os.Remove(filepath.Join(s.Dir, f))
	}
	copyFile(t, filepath.Join(backup, "station.db"), filepath.Join(s.Dir, "station.db"))
	restored := openStation(t, s.Dir, nil)
	defer restored.Shut(t)
	fresh, _ := restored.AddPeople(t, g, villageA, 5) // 15 new changes reuse seqs 7–21
	restored.MustSync(t)
	if restored.Pending(t) != 0 {
		t.Fatal("outbox not empty")
	}
	recs, _ := c.Store.Records(context.Background(), records.Person, villageA)
	have := map[string]bool{}
	for _, r := range recs {
		have[r.ID] = true
	}
	for _, id := range fresh {
		if !have[id] {
			t.Fatalf("person %s recorded after the restore never reached the county", id)
		}
	}
	if len(recs) != 2+3+5 {
		t.Fatalf("county holds %d persons, want 10", len(recs))
	}
}

// A station's own sync failure reaches the county's health view with its
// next pull, and clears after a round that succeeds.
func TestStationReportsLastError(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	s := newStation(t, c, villageA, nil)
	s.AddPeople(t, gen.New(1), villageA, 1)
	c.LinkDown()
	if _, err := s.SyncOnce(ctx); err == nil {
		t.Fatal("sync with the link down succeeded")
	}
	c.LinkUp()
	s.MustSync(t)
	id := s.Store.Meta(ctx, "station_id")
	errs, err := c.Store.LastErrors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if errs[id].Reason == "" {
		t.Fatal("the county does not know the station's last failure")
	}
	s.MustSync(t)
	if errs, _ = c.Store.LastErrors(ctx); errs[id].Reason != "" {
		t.Fatalf("still shows %q after a good round", errs[id].Reason)
	}
}

// Install day without a network: the enrolment from the county's file is
// kept, records are entered, and the running service completes the
// enrolment and syncs once the county is reachable.
func TestEnrollmentKeptForLater(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	ef, err := syncproto.ReadEnrollFile(strings.NewReader(`{"server":"` + c.URL() + `","code":"` + c.Code(t, villageA) + `","village":"` + villageA + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	s := testsupport.OpenStation(t, "", agent.Config{SyncInterval: 200 * time.Millisecond})
	c.LinkDown()
	if _, err := s.Enroll(ctx, ef.Server, ef.Code); err == nil {
		t.Fatal("enrolled through a link that is down")
	}
	if err := s.EnrollLater(ctx, ef.Server, ef.Code); err != nil {
		t.Fatal(err)
	}
	s.AddPeople(t, gen.New(4), villageA, 2)
	s.Start()
	time.Sleep(time.Second)
	if s.Enrolled(ctx) {
		t.Fatal("enrolled while the link is down")
	}
	c.LinkUp()
	// The service enrols by itself; the records made before wait until a
	// person has confirmed the county (nobody saw its name at install).
	waitFor(t, func() bool { return s.Enrolled(ctx) })
	time.Sleep(time.Second)
	if n := len(c.Records(t, records.Person, "")); n != 0 {
		t.Fatalf("county holds %d persons before the enrolment was confirmed", n)
	}
	if err := s.ConfirmEnrollment(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(c.Records(t, records.Person, "")) == 2 })
	s.Halt()
	if s.PendingEnrollment(ctx) != "" {
		t.Fatal("the kept enrolment was not cleared")
	}
	testsupport.AssertConverged(t, c, s, villageA)
}

func TestEnrollFileRefusesNonsense(t *testing.T) {
	for _, in := range []string{`{}`, `not json`, `{"server":"ftp://x","code":"AAAAA-BBBBB"}`, `{"server":"http://127.0.0.1:1"}`} {
		if _, err := syncproto.ReadEnrollFile(strings.NewReader(in)); err == nil || !hasHan(err.Error()) {
			t.Errorf("%s: %v", in, err)
		}
	}
}
