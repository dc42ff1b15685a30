package multiserver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"stationsync/internal/records"
)

// TestFeedGapFreeAcrossServers: stations of one village push through both
// servers at once while pullers of that village page through its feed
// from both servers in turn, and an observer reads the feed straight from
// the database. Feed positions come from two in-memory counters; the
// writer lock must make them one sequence committed in order. So:
//
//   - the observer never sees a record appear at a position at or below
//     one it has already seen (N+1 committed before N: a puller whose
//     cursor passed N+1 never gets N);
//   - every puller ends holding every record of the village at its final
//     revision, saw each record's revisions strictly increasing (never one
//     twice), and its cursor never went back, whichever server answered.
func TestFeedGapFreeAcrossServers(t *testing.T) {
	p := newPair(t)
	const nPushers, nPullers, nChanges = 4, 3, 150
	vs := villages(2)
	v, other := vs[0], vs[1]
	var pushers []*station
	var ws []*workload
	for i := range nPushers + 1 {
		village := v
		if i == nPushers {
			village = other // its records must never reach v's pullers
		}
		pushers = append(pushers, p.enroll(t, p.servers()[i%2], village))
		ws = append(ws, makeWorkload(uint64(2000+i), village, nChanges))
	}
	var pullers []*station
	for i := range nPullers {
		pullers = append(pullers, p.enroll(t, p.servers()[i%2], v))
	}

	var pushing atomic.Int32
	pushing.Store(int32(len(pushers)))
	var pushes, pages, caughtUp, twice atomic.Int64
	var wg sync.WaitGroup

	// The observer: the village's whole feed, one statement (one snapshot)
	// at a time.
	var polls int
	obs := newFeedObserver()
	observed := make(chan error, 1)
	wg.Go(func() {
		for {
			done := pushing.Load() == 0 // read before the poll: the last one sees everything
			if err := obs.poll(p, v); err != nil {
				observed <- err
				return
			}
			polls++
			if done {
				observed <- nil
				return
			}
		}
	})

	for i, s := range pushers {
		w := ws[i]
		wg.Go(func() {
			defer pushing.Add(-1)
			rng := rand.New(rand.NewPCG(uint64(i), 5))
			hwm := 0
			for tries := 0; hwm < nChanges; tries++ {
				if tries > 10*nChanges {
					t.Errorf("pusher %d stuck at hwm %d", i, hwm)
					return
				}
				srv := p.servers()[rng.IntN(2)]
				last := min(nChanges, hwm+1+rng.IntN(6))
				r, err := s.push(context.Background(), srv.URL(), w.slice(hwm+1, last), nChanges-last)
				pushes.Add(1)
				if busy(err) {
					continue
				}
				if err != nil {
					t.Errorf("pusher %d: push %d..%d to %s: %v", i, hwm+1, last, srv.Name, err)
					return
				}
				if r.HWM != uint64(last) {
					t.Errorf("pusher %d: push %d..%d to %s answered hwm %d", i, hwm+1, last, srv.Name, r.HWM)
					return
				}
				hwm = last
			}
		})
	}

	pulled := make([]map[string]int64, nPullers)
	for i, s := range pullers {
		seen := map[string]int64{} // record id → last revision pulled
		pulled[i] = seen
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 11))
			var cursor int64
			feed := ""
			for k := 0; ; k++ {
				done := pushing.Load() == 0 // before the pull: a pull after the last push must still come
				srv := p.servers()[k%2]
				// Small pages end mid-feed (the cursor is the last record's
				// position); large ones reach the feed's end (the cursor is
				// the village's highest position, read after the records).
				limit := 1 + rng.IntN(8)
				if rng.IntN(2) == 0 {
					limit = 500
				}
				page, err := s.pull(context.Background(), srv.URL(), cursor, feed, limit)
				pages.Add(1)
				if busy(err) {
					continue
				}
				if err != nil {
					t.Errorf("puller %d: pull after %d from %s: %v", i, cursor, srv.Name, err)
					return
				}
				if feed != "" && (page.Reset || page.FeedEpoch != feed) {
					t.Errorf("puller %d: %s answered feed %q (reset %v) to a cursor of feed %q", i, srv.Name, page.FeedEpoch, page.Reset, feed)
					return
				}
				if page.Next < cursor {
					t.Errorf("puller %d: %s moved the cursor back from %d to %d", i, srv.Name, cursor, page.Next)
					return
				}
				for _, r := range page.Records {
					if r.Village != v {
						t.Errorf("puller %d: %s sent %s %s of village %s", i, srv.Name, r.Kind, r.ID, r.Village)
						return
					}
					if prev, ok := seen[r.ID]; ok && r.Rev <= prev {
						// One revision sits at one position; pulled twice, the
						// page and its records were not read as of one moment.
						if twice.Add(1) <= 5 {
							t.Errorf("puller %d: %s sent %s %s at revision %d after revision %d: a revision pulled twice", i, srv.Name, r.Kind, r.ID, r.Rev, prev)
						}
					}
					seen[r.ID] = max(seen[r.ID], r.Rev)
				}
				if !page.More {
					caughtUp.Add(1)
				}
				cursor, feed = page.Next, page.FeedEpoch
				if done && !page.More {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := <-observed; err != nil {
		t.Error(err)
	}
	t.Logf("%d pushers × %d changes through both servers: %d pushes; %d pullers: %d pages, %d at the feed's end; observer: %d snapshots", nPushers+1, nChanges, pushes.Load(), nPullers, pages.Load(), caughtUp.Load(), polls)
	if n := twice.Load(); n > 0 {
		t.Errorf("%d revisions pulled twice", n)
	}

	// The county's final state of the village, and each puller's.
	ctx := context.Background()
	final := map[string]int64{}
	for _, k := range records.Kinds {
		rs, err := p.A.Store.Records(ctx, k, v)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			final[r.ID] = r.Rev
		}
	}
	for i, seen := range pulled {
		missing, stale, extra := 0, 0, 0
		for id, rev := range final {
			got, ok := seen[id]
			switch {
			case !ok:
				if missing++; missing <= 5 {
					t.Errorf("puller %d never got record %s (revision %d)", i, id, rev)
				}
			case got != rev:
				if stale++; stale <= 5 {
					t.Errorf("puller %d holds record %s at revision %d, the county at %d", i, id, got, rev)
				}
			}
		}
		for id := range seen {
			if _, ok := final[id]; !ok {
				extra++
			}
		}
		if missing+stale+extra > 0 {
			t.Errorf("puller %d: %d records missing, %d stale, %d not the county's, of %d", i, missing, stale, extra, len(final))
		}
	}
	if err := obs.final(p, v); err != nil {
		t.Error(err)
	}
	for i := range pushers {
		p.checkStored(t, pushers[i], ws[i])
	}
	p.checkFeedPositions(t)
}

// feedObserver reads a village's feed positions as a puller would, but
// all of them at each look, so that it sees a record appear behind the
// highest position it already saw, the commit order a cursor cannot
// survive.
type feedObserver struct {
	top  int64              // highest position seen so far
	seen map[feedEntry]bool // every (record, position) ever seen
	last map[feedEntry]bool // those of the last look
}

type feedEntry struct {
	kind, id string
	seq      int64
}

func newFeedObserver() *feedObserver {
	return &feedObserver{seen: map[feedEntry]bool{}, last: map[feedEntry]bool{}}
}

const feedAllSQL = `SELECT 'person', id, feed_seq FROM persons WHERE village = $1
	UNION ALL SELECT 'visit', id, feed_seq FROM visits WHERE village = $1
	UNION ALL SELECT 'application', id, feed_seq FROM applications WHERE village = $1
	UNION ALL SELECT 'disclosure', id, feed_seq FROM disclosures WHERE village = $1`

func (o *feedObserver) read(p *pair, village string) (map[feedEntry]bool, error) {
	rows, err := p.db.Query(feedAllSQL, village)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	now := map[feedEntry]bool{}
	for rows.Next() {
		var e feedEntry
		if err := rows.Scan(&e.kind, &e.id, &e.seq); err != nil {
			return nil, err
		}
		now[e] = true
	}
	return now, rows.Err()
}

func (o *feedObserver) poll(p *pair, village string) error {
	now, err := o.read(p, village)
	if err != nil {
		return err
	}
	top := o.top
	for e := range now {
		if !o.last[e] && e.seq <= o.top {
			return fmt.Errorf("feed: %s %s appeared at position %d after position %d had been seen: committed out of order, a puller past %d never gets it", e.kind, e.id, e.seq, o.top, e.seq)
		}
		o.seen[e] = true
		top = max(top, e.seq)
	}
	o.top, o.last = top, now
	return nil
}

// final checks that every record's final position was seen while the
// pushes ran or at the last look.
func (o *feedObserver) final(p *pair, village string) error {
	now, err := o.read(p, village)
	if err != nil {
		return err
	}
	for e := range now {
		if !o.seen[e] {
			return fmt.Errorf("feed: %s %s sits at position %d, never seen by the observer", e.kind, e.id, e.seq)
		}
	}
	return nil
}
