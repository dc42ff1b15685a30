package bundle

import (
	"context"
	"testing"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
)

// An answer carried back late, after the station pulled newer states
// online, brings nothing back over them: the county accepted, wrote the
// answer, then put the application under review, which the station
// pulled; the late answer's "accepted" must not return.
func TestLateDownlinkBringsNothingBack(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	s := testsupport.NewStation(t, c, village, agent.Config{})
	g := gen.New(71)
	persons, _ := s.AddPeople(t, g, village, 1)
	app := s.MustSave(t, records.Application, "", testsupport.Fields(g.Application(persons[0], nil)))
	if err := s.Store.Intent(ctx, app, records.OpSubmit, "", "测试员"); err != nil {
		t.Fatal(err)
	}
	s.MustSync(t)
	decide := func(op records.Op) {
		t.Helper()
		if err := c.Store.Decide(ctx, server.Decision{ApplicationID: app, Op: op, By: "县民政局"}); err != nil {
			t.Fatal(err)
		}
	}
	decide(records.OpAccept)
	ex, err := s.Export(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	res, err := importAtCounty(ctx, c, ex.Path, t.TempDir())
	if err != nil || res.FeedRecords != 1 {
		t.Fatalf("answer: %+v, %v", res, err)
	}
	decide(records.OpReview)
	s.MustSync(t)
	imp, err := s.Import(ctx, res.Downlink)
	if err != nil {
		t.Fatal(err)
	}
	if imp.Pulled != 0 {
		t.Fatalf("the late answer applied %d records", imp.Pulled)
	}
	got, err := s.Store.Get(ctx, records.Application, app)
	if err != nil {
		t.Fatal(err)
	}
	if st := records.TextValue(got.Fields, "status"); st != records.StatusReviewing {
		t.Fatalf("status %q after the late answer, want reviewing", st)
	}
	testsupport.AssertConverged(t, c, s, village)
}
