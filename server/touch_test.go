package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"stationsync/syncproto"
)

type groupLog struct {
	mu sync.Mutex
	gs []GroupCommit
}

func (l *groupLog) GroupCommitted(g GroupCommit) {
	l.mu.Lock()
	l.gs = append(l.gs, g)
	l.mu.Unlock()
}

// A station's contact (Touch, one per pull) made while the writer is busy
// waits for it and is written in its next group commit with the pushes
// queued there, not in a transaction of its own between them: under a
// herd, touches were as many commits as the pushes'. Each touch is written
// once it returns, and the pushes of the group are applied once each.
func TestTouchesJoinTheGroupCommit(t *testing.T) {
	s := openTestStore(t)
	log := &groupLog{}
	s.SetPushObserver(log)
	ctx := context.Background()
	sts := make([]*Station, 6)
	for i := range sts {
		sts[i] = enrollTest(t, s)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2*len(sts))
	s.mu.Lock() // a long group commit in progress
	for i, st := range sts {
		wg.Go(func() { _, errs[i] = s.Push(ctx, st, personsBatch(st, "e", 1, 20, nil)) })
		waitQueued(t, s, 2*i+1)
		wg.Go(func() {
			errs[len(sts)+i] = s.Touch(ctx, st.ID, 100+i, "agent-"+fmt.Sprint(i), "", time.Duration(i)*time.Second)
		})
		// Before, a touch did not wait for the writer: it never queued.
		waitQueued(t, s, 2*i+2)
	}
	s.mu.Unlock()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	log.mu.Lock()
	gs := append([]GroupCommit(nil), log.gs...)
	log.mu.Unlock()
	if len(gs) != 1 || gs[0].Pushes != len(sts) || gs[0].Changes != 20*len(sts) {
		t.Fatalf("group commits %+v, want one of %d pushes and %d changes", gs, len(sts), 20*len(sts))
	}
	for i, st := range sts {
		var pending int
		var agent string
		var contact, offset int64
		if err := s.db.R.QueryRow(`SELECT pending, agent_version, coalesce(last_contact_at, 0), clock_offset_ms FROM stations WHERE id = ?`, st.ID).
			Scan(&pending, &agent, &contact, &offset); err != nil {
			t.Fatal(err)
		}
		if pending != 100+i || agent != fmt.Sprintf("agent-%d", i) || contact == 0 || offset != int64(i)*1000 {
			t.Errorf("station %d: pending %d agent %q contact %d offset %d, want the touch's", i, pending, agent, contact, offset)
		}
		if n := countRows(t, s, `SELECT count(*) FROM persons WHERE created_origin = ?`, st.ID); n != 20 {
			t.Errorf("station %d: %d people at the county, want 20", i, n)
		}
	}
	if n := countRows(t, s, `SELECT count(*) FROM change_ids`); n != 20*len(sts) {
		t.Fatalf("%d change ids, want %d", n, 20*len(sts))
	}
}

// Touches and pushes from many stations at once, many times over: every
// change lands once, every station's last touch is what it said last, and
// a touch alone (no push queued) still commits.
func TestTouchesAndPushesAtOnce(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	const stations, rounds, per = 24, 5, 10
	sts := make([]*Station, stations)
	for i := range sts {
		sts[i] = enrollTest(t, s)
	}
	var wg sync.WaitGroup
	errs := make(chan error, stations*rounds*2)
	for _, st := range sts {
		wg.Go(func() {
			for r := range rounds {
				res, err := s.Push(ctx, st, personsBatch(st, "e", uint64(r*per+1), per, nil))
				if err != nil {
					errs <- err
					return
				}
				for _, x := range res.Results {
					if x.Status != syncproto.Applied {
						errs <- fmt.Errorf("station %s seq %d: %s", st.ID, x.Seq, x.Status)
					}
				}
				if err := s.Touch(ctx, st.ID, (rounds-r-1)*per, "v", "", 0); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := countRows(t, s, `SELECT count(*) FROM persons`); n != stations*rounds*per {
		t.Fatalf("%d people, want %d", n, stations*rounds*per)
	}
	if n := countRows(t, s, `SELECT count(*) FROM change_ids`); n != stations*rounds*per {
		t.Fatalf("%d change ids, want %d", n, stations*rounds*per)
	}
	if n := countRows(t, s, `SELECT count(*) FROM stations WHERE pending != 0 OR last_contact_at IS NULL`); n != 0 {
		t.Fatalf("%d stations without their last touch", n)
	}
	if err := s.Touch(ctx, sts[0].ID, 7, "", "链路中断", 0); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, `SELECT count(*) FROM stations WHERE id = ? AND pending = 7 AND last_error = '链路中断'`, sts[0].ID); n != 1 {
		t.Fatal("a touch alone was not written")
	}
}
