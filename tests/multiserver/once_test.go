package multiserver

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"stationsync/syncproto"
)

// TestExactlyOnceAcrossServers: a station's batches — overlapping
// ranges, exact duplicates — go to both servers at the same moment,
// round after round, as a station behind a load balancer resends after a
// lost answer. Each change must be applied by exactly one answer of all
// the answers both servers gave, and the county must hold it once: hwm,
// one change id a seq, one revision a change, one feed position a record.
func TestExactlyOnceAcrossServers(t *testing.T) {
	p := newPair(t)
	const nStations, nChanges = 3, 240
	vs := villages(nStations)
	ss := make([]*station, nStations)
	ws := make([]*workload, nStations)
	for i := range ss {
		ss[i] = p.enroll(t, p.servers()[i%2], vs[i])
		ws[i] = makeWorkload(uint64(1000+i), vs[i], nChanges)
	}
	var mu sync.Mutex
	rounds, pushes, busyAnswers := 0, 0, 0
	each(nStations, func(i int) {
		s, w := ss[i], ws[i]
		rng := rand.New(rand.NewPCG(uint64(i), 99))
		applied := make([]int, nChanges+1) // by seq: how many answers said applied
		hwm := 0
		for round := 0; hwm < nChanges; round++ {
			if round > 20*nChanges {
				t.Errorf("station %d: hwm %d after %d rounds", i, hwm, round)
				return
			}
			// Four batches, two a server (the agent's most in flight),
			// each starting at or below the next seq the county expects, so
			// none leaves a gap whichever commits first.
			type try struct {
				srv         *countyServer
				first, last int
				res         *syncproto.PushResult
				err         error
			}
			tries := make([]*try, 4)
			for j := range tries {
				first := max(1, hwm+1-rng.IntN(8))
				last := min(nChanges, first+rng.IntN(12))
				if j == 1 && rng.IntN(3) == 0 {
					first, last = tries[0].first, tries[0].last // the same batch to the other server
				}
				tries[j] = &try{srv: p.servers()[j%2], first: first, last: last}
			}
			start := make(chan struct{})
			var wg sync.WaitGroup
			for _, tr := range tries {
				wg.Go(func() {
					<-start
					tr.res, tr.err = s.push(context.Background(), tr.srv.URL(), w.slice(tr.first, tr.last), nChanges-tr.last)
				})
			}
			close(start)
			wg.Wait()
			for _, tr := range tries {
				if tr.err != nil {
					if busy(tr.err) {
						mu.Lock()
						busyAnswers++
						mu.Unlock()
						continue // resent in a later round
					}
					t.Errorf("station %d round %d: push %d..%d to %s: %v", i, round, tr.first, tr.last, tr.srv.Name, tr.err)
					return
				}
				r := tr.res
				if r.Epoch != s.Epoch || r.HWM < uint64(tr.last) || len(r.Results) != tr.last-tr.first+1 {
					t.Errorf("station %d round %d: push %d..%d to %s answered epoch %q hwm %d with %d results", i, round, tr.first, tr.last, tr.srv.Name, r.Epoch, r.HWM, len(r.Results))
					return
				}
				for k, x := range r.Results {
					if x.Seq != uint64(tr.first+k) {
						t.Errorf("station %d: result %d of push %d..%d is for seq %d", i, k, tr.first, tr.last, x.Seq)
						return
					}
					switch x.Status {
					case syncproto.Applied:
						applied[x.Seq]++
					case syncproto.Duplicate:
					default:
						t.Errorf("station %d: seq %d %s: %s %s", i, x.Seq, x.Status, x.Code, x.Reason)
					}
				}
				hwm = max(hwm, int(r.HWM))
			}
			mu.Lock()
			rounds++
			pushes += len(tries)
			mu.Unlock()
		}
		for seq := 1; seq <= nChanges; seq++ {
			if applied[seq] != 1 {
				t.Errorf("station %d: seq %d applied by %d answers, want exactly 1", i, seq, applied[seq])
			}
		}
	})
	t.Logf("%d stations × %d changes: %d rounds, %d pushes at once in fours, %d answered busy", nStations, nChanges, rounds, pushes, busyAnswers)
	if t.Failed() {
		return
	}
	for i := range ss {
		p.checkStored(t, ss[i], ws[i])
	}
	p.checkFeedPositions(t)
}
