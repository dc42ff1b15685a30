package integration

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"stationsync/internal/gen"
	"stationsync/internal/testsupport"
	"stationsync/server"
	"stationsync/syncproto"
)

// busyStore is a county store that takes a second over every push before
// merging it, as a county does while it merges other stations' backlogs.
type busyStore struct {
	*server.CountyStore
	mu         sync.Mutex
	sizes      []int
	inFlight   int
	mostAtOnce int
}

func (b *busyStore) Push(ctx context.Context, st *server.Station, batch *syncproto.Batch) (*syncproto.PushResult, error) {
	b.mu.Lock()
	b.sizes = append(b.sizes, len(batch.Changes))
	b.inFlight++
	b.mostAtOnce = max(b.mostAtOnce, b.inFlight)
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.inFlight--
		b.mu.Unlock()
	}()
	time.Sleep(time.Second)
	return b.CountyStore.Push(ctx, st, batch)
}

// A busy county is not a slow link: the station takes the county's own
// time (server_ms) out of the round trip, still finds its loopback link
// fast, and sends the fast link's batches, one ahead. Counting the county's
// second as link time would make 1,000 changes a second look like a link
// that carries 8,000 in 8 s, too slow for batches sent ahead.
func TestBusyCountyIsNotASlowLink(t *testing.T) {
	c := testsupport.NewCounty(t)
	s := newStation(t, c, villageA, nil) // batch size and ahead left to the link
	busy := &busyStore{CountyStore: c.Store}
	h := http.Handler(server.New(busy, testsupport.Quiet).NewHandler())
	c.SetHandler(h)

	s.AddPeople(t, gen.New(41), villageA, 1480) // 4,440 changes
	s.MustSync(t)
	if n := s.Pending(t); n != 0 {
		t.Fatalf("%d changes still queued", n)
	}
	busy.mu.Lock()
	defer busy.mu.Unlock()
	// 1,000 before any push is timed, then 3,400 (aheadBatch) and the last
	// 40 sent while the 3,400 were on their way (they may arrive first,
	// be answered "gap" and come again).
	if busy.sizes[0] != 1000 || !slices.Contains(busy.sizes, 3400) || busy.mostAtOnce != 2 {
		t.Fatalf("pushes of %v changes, at most %d at once; want 1,000, then 3,400 with the rest ahead of its answer", busy.sizes, busy.mostAtOnce)
	}
	testsupport.AssertConverged(t, c, s, villageA)
}
