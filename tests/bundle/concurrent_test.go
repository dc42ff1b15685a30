package bundle

import (
	"context"
	"sync"
	"testing"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
)

// The same uplink imported eight times at once (the page, the watched
// folder and the command, by different staff), beside the station's own
// online round, applies each change once; the answers imported at once at
// the station acknowledge each change once.
func TestConcurrentImportsApplyOnce(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	s := testsupport.NewStation(t, c, village, agent.Config{})
	c.LinkDown()
	s.AddPeople(t, gen.New(81), village, 10)
	ex, err := s.Export(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c.LinkUp()
	var wg sync.WaitGroup
	var mu sync.Mutex
	applied, downs := 0, []string{}
	for range 8 {
		wg.Go(func() {
			res, err := importAtCounty(ctx, c, ex.Path, t.TempDir())
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			applied += res.Applied
			downs = append(downs, res.Downlink)
			mu.Unlock()
		})
	}
	wg.Go(func() { s.SyncOnce(ctx) })
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if got := len(c.Records(t, records.Visit, village)); got != 20 {
		t.Fatalf("county holds %d visits, want 20", got)
	}
	if applied > 30 {
		t.Fatalf("%d changes applied by the imports, of 30", applied)
	}
	acked := 0
	for _, d := range downs {
		wg.Go(func() {
			res, err := s.Import(ctx, d)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			acked += res.Acked
			mu.Unlock()
		})
	}
	wg.Wait()
	if s.Pending(t) != 0 || acked > 30 {
		t.Fatalf("pending %d, acknowledged %d of 30", s.Pending(t), acked)
	}
	s.MustSync(t)
	testsupport.AssertConverged(t, c, s, village)
	var rejected int
	if err := s.Store.DB().R.QueryRow(`SELECT count(*) FROM rejected`).Scan(&rejected); err != nil || rejected != 0 {
		t.Fatalf("rejected %d, %v", rejected, err)
	}
}
