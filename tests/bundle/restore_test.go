package bundle

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
)

// A downlink carried back to a station whose database was restored from
// an older copy in the meantime: the copy reuses seqs for new changes, and
// the answer must acknowledge only the changes the county applied (same
// seq and HLC), never a new change under an old seq, which would then be
// lost for good.
func TestDownlinkAfterRestoreAcknowledgesOnlyItsOwnChanges(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	s := testsupport.NewStation(t, c, village, agent.Config{})
	g := gen.New(31)
	c.LinkDown()
	s.MustSave(t, records.Person, "", testsupport.Fields(g.Person(village)))
	s.MustSave(t, records.Person, "", testsupport.Fields(g.Person(village)))
	dir := s.Dir
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	backup := t.TempDir()
	copyDir(t, dir, backup)

	s = testsupport.OpenStation(t, dir, agent.Config{})
	lost := s.MustSave(t, records.Person, "", testsupport.Fields(g.Person(village))) // seq 3, only in this copy
	ex, err := s.Export(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	res, err := importAtCounty(ctx, c, ex.Path, t.TempDir())
	if err != nil || res.Applied != 3 {
		t.Fatalf("county import: %+v, %v", res, err)
	}
	s.Close()

	// The PC's disk fails; the older copy comes back and work goes on.
	r := testsupport.OpenStation(t, backup, agent.Config{})
	r.Village = village
	newer := []string{
		r.MustSave(t, records.Person, "", testsupport.Fields(g.Person(village))), // seq 3 again
		r.MustSave(t, records.Person, "", testsupport.Fields(g.Person(village))), // seq 4
	}
	imp, err := r.Import(ctx, res.Downlink)
	if err != nil {
		t.Fatal(err)
	}
	if imp.Acked != 2 || r.Pending(t) != 2 {
		t.Fatalf("the old answer acknowledged %d changes and left %d queued; want 2 and the 2 new ones", imp.Acked, r.Pending(t))
	}
	c.LinkUp()
	testsupport.Settle(t, []*testsupport.Station{r}, time.Minute)
	ids := map[string]bool{}
	for _, p := range c.Records(t, records.Person, village) {
		ids[p.ID] = true
	}
	for _, id := range append(newer, lost) {
		if !ids[id] {
			t.Fatalf("county lacks person %s", id)
		}
	}
	// Not asserted: that the restored station gets `lost` back. It does
	// not online either (the county skips a station's own clean changes in
	// its feed, and the restored copy never had it): a gap of §3's restore
	// handling, not of bundles.
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		copyFile(t, p, filepath.Join(to, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
