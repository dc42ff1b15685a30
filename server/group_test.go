package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/syncproto"
)

// personsBatch is a batch of n new people from st, seqs from first.
func personsBatch(st *Station, epoch string, first uint64, n int, name func(i int) string) *syncproto.Batch {
	b := &syncproto.Batch{Version: syncproto.Version, Station: st.ID, Epoch: epoch, Village: st.Village}
	for i := range n {
		c := personCreate(fmt.Sprintf("%s-%s-%d", st.ID, epoch, int(first)+i), hlc.Make(1_700_000_000_000+int64(first)+int64(i), 0))
		if name != nil {
			c.fields["name"] = records.JSONText(name(i))
		}
		b.Changes = append(b.Changes, syncproto.Change{Seq: first + uint64(i), HLC: uint64(c.hlc), Kind: string(c.kind), ID: c.id, Op: string(c.op), Fields: c.fields, By: c.by})
	}
	return b
}

// queuedPushes starts one Push per batch while the writer lock is held,
// waits until all are queued, and releases the lock: the first push to get
// it writes them all in one group, in queue order. Push i runs with
// ctxs[i] if given, else context.Background(). A panic in a push is its
// error; pushes still waiting after 10 s fail the test.
func queuedPushes(t *testing.T, s *CountyStore, sts []*Station, bs []*syncproto.Batch, ctxs ...context.Context) ([]*syncproto.PushResult, []error) {
	t.Helper()
	res, errs := make([]*syncproto.PushResult, len(bs)), make([]error, len(bs))
	var wg sync.WaitGroup
	s.mu.Lock()
	for i := range bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					errs[i] = fmt.Errorf("panic: %v", p)
				}
			}()
			ctx := context.Background()
			if i < len(ctxs) {
				ctx = ctxs[i]
			}
			res[i], errs[i] = s.Push(ctx, sts[i], bs[i])
		}()
		// One at a time, so that the queue holds them in this order.
		waitQueued(t, s, i+1)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("pushes of the group are still waiting for an answer")
	}
	return res, errs
}

func waitQueued(t *testing.T, s *CountyStore, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		s.queueMu.Lock()
		q := len(s.queue)
		s.queueMu.Unlock()
		if q >= n {
			return
		}
	}
	t.Fatalf("%d pushes never queued", n)
}

func countRows(t *testing.T, s *CountyStore, q string, args ...any) int {
	t.Helper()
	var n int
	if err := s.db.R.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Pushes written in one group answer each station as if written one after
// another: new changes applied, a replay of a batch in the same group
// duplicate, a batch that leaves a gap refused whole without touching the
// others.
func TestGroupedPushesAnswerEachAsAlone(t *testing.T) {
	s := openTestStore(t)
	a, b := enrollTest(t, s), enrollTest(t, s)
	first := personsBatch(a, "ea", 1, 50, nil)
	sts := []*Station{a, b, a, a, b}
	bs := []*syncproto.Batch{
		first,
		personsBatch(b, "eb", 1, 50, nil),
		personsBatch(a, "ea", 51, 50, nil),
		first,                              // replayed while the original waits in the same group
		personsBatch(b, "eb", 70, 10, nil), // leaves a gap after 50
	}
	res, errs := queuedPushes(t, s, sts, bs)

	for i, want := range []string{syncproto.Applied, syncproto.Applied, syncproto.Applied, syncproto.Duplicate} {
		if errs[i] != nil {
			t.Fatalf("push %d: %v", i, errs[i])
		}
		if len(res[i].Results) != len(bs[i].Changes) {
			t.Fatalf("push %d: %d results for %d changes", i, len(res[i].Results), len(bs[i].Changes))
		}
		for _, r := range res[i].Results {
			if r.Status != want {
				t.Fatalf("push %d: change %d %s, want %s", i, r.Seq, r.Status, want)
			}
		}
	}
	if res[2].HWM != 100 || res[3].HWM != 100 {
		t.Fatalf("station a's high-water marks %d and %d, want 100", res[2].HWM, res[3].HWM)
	}
	var gap *GapError
	if !errors.As(errs[4], &gap) || gap.HWM != 50 || res[4] != nil {
		t.Fatalf("push leaving a gap: %v (answer %v), want a gap after 50", errs[4], res[4])
	}
	if n := countRows(t, s, `SELECT count(*) FROM persons`); n != 150 {
		t.Fatalf("county holds %d people, want 150", n)
	}
	if n := countRows(t, s, `SELECT count(*) FROM change_ids`); n != 150 {
		t.Fatalf("county holds %d change ids, want 150", n)
	}
}

// A push that fails the store (here a trigger raising an error on its 30th
// person) aborts the group's transaction; the others are written again
// alone and land, and nothing of the failed push stays.
func TestGroupedPushFailureFailsOnlyItself(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	// The writer is one connection, so a temporary trigger on it sees
	// every push.
	trigger := `CREATE TEMP TRIGGER fail_person BEFORE INSERT ON main.persons WHEN NEW.name = '坏' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`
	if s.db.Postgres() {
		// PostgreSQL has no temporary triggers; the test's database is its own.
		trigger = `CREATE FUNCTION fail_person() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$;
			CREATE TRIGGER fail_person BEFORE INSERT ON persons FOR EACH ROW WHEN (NEW.name = '坏') EXECUTE FUNCTION fail_person()`
	}
	_, err := s.db.W.ExecContext(ctx, trigger)
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := enrollTest(t, s), enrollTest(t, s), enrollTest(t, s)
	bad := personsBatch(b, "eb", 1, 50, func(i int) string {
		if i == 29 {
			return "坏"
		}
		return "王秀英"
	})
	res, errs := queuedPushes(t, s, []*Station{a, b, c}, []*syncproto.Batch{personsBatch(a, "ea", 1, 40, nil), bad, personsBatch(c, "ec", 1, 40, nil)})

	if errs[1] == nil || res[1] != nil {
		t.Fatalf("failing push answered %v, %v; want an error", res[1], errs[1])
	}
	for _, i := range []int{0, 2} {
		if errs[i] != nil || res[i].HWM != 40 {
			t.Fatalf("push %d beside the failing one: %v, %+v", i, errs[i], res[i])
		}
	}
	if n := countRows(t, s, `SELECT count(*) FROM persons`); n != 80 {
		t.Fatalf("county holds %d people, want the 80 of the two good pushes", n)
	}
	if n := countRows(t, s, `SELECT count(*) FROM station_epochs WHERE station = ?`, b.ID); n != 0 {
		t.Fatalf("the failed push left %d epochs", n)
	}
}

// Many stations pushing at once, each several batches in order and some
// twice: every change lands exactly once, whatever groups formed.
func TestConcurrentPushesLandOnce(t *testing.T) {
	s := openTestStore(t)
	const stations, batches, per = 6, 5, 40
	var wg sync.WaitGroup
	errs := make(chan error, stations)
	for range stations {
		st := enrollTest(t, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range batches {
				b := personsBatch(st, "e", uint64(k*per+1), per, nil)
				for try := range 2 {
					res, err := s.Push(context.Background(), st, b)
					if err != nil {
						errs <- err
						return
					}
					want := syncproto.Applied
					if try == 1 {
						want = syncproto.Duplicate
					}
					for _, r := range res.Results {
						if r.Status != want {
							errs <- fmt.Errorf("station %s batch %d try %d: change %d %s", st.ID, k, try, r.Seq, r.Status)
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := countRows(t, s, `SELECT count(*) FROM persons`); n != stations*batches*per {
		t.Fatalf("county holds %d people, want %d", n, stations*batches*per)
	}
}

// A panic while a group is written (a bug; here a push without a station)
// reaches the push that holds the writer lock, as before group commit;
// every other push of the group is answered with an error instead of
// waiting for ever, and the store goes on working.
func TestGroupedPushPanicAnswersEveryPush(t *testing.T) {
	s := openTestStore(t)
	a, b := enrollTest(t, s), enrollTest(t, s)
	bs := []*syncproto.Batch{personsBatch(a, "ea", 1, 10, nil), personsBatch(b, "eb", 1, 10, nil), personsBatch(a, "ea", 11, 10, nil)}
	_, errs := queuedPushes(t, s, []*Station{a, nil, a}, bs)
	for i, err := range errs {
		if err == nil {
			t.Errorf("push %d of the group that panicked: no error", i)
		}
	}
	if n := countRows(t, s, `SELECT count(*) FROM persons`); n != 0 {
		t.Fatalf("county holds %d people from the group that panicked", n)
	}
	res, err := s.Push(context.Background(), a, bs[0])
	if err != nil || res.HWM != 10 {
		t.Fatalf("push after the panic: %v, %+v", err, res)
	}
}

// A station that gave up waiting while its push was queued (its request's
// context ended) gets nothing written: it will send the batch again. The
// pushes around it land.
func TestQueuedPushWhoseStationLeftWritesNothing(t *testing.T) {
	s := openTestStore(t)
	a, b := enrollTest(t, s), enrollTest(t, s)
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	res, errs := queuedPushes(t, s, []*Station{a, b}, []*syncproto.Batch{personsBatch(a, "ea", 1, 10, nil), personsBatch(b, "eb", 1, 10, nil)},
		context.Background(), gone)
	if errs[0] != nil || res[0].HWM != 10 {
		t.Fatalf("push beside the abandoned one: %v, %+v", errs[0], res[0])
	}
	if !errors.Is(errs[1], context.Canceled) || res[1] != nil {
		t.Fatalf("abandoned push answered %+v, %v; want context.Canceled", res[1], errs[1])
	}
	if n := countRows(t, s, `SELECT count(*) FROM persons WHERE village = ? AND id LIKE ?`, b.Village, b.ID+"-%"); n != 0 {
		t.Fatalf("the abandoned push stored %d people", n)
	}
	if n := countRows(t, s, `SELECT count(*) FROM station_epochs WHERE station = ?`, b.ID); n != 0 {
		t.Fatalf("the abandoned push left %d epochs", n)
	}
}
