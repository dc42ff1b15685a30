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

// `county-server import` beside the running service: two stores on one
// database. The service's next decision must not take a feed position the
// command already gave (the station's cursor has passed it, and the
// decision would never come down).
func TestImportBesideTheService(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	s := testsupport.NewStation(t, c, village, agent.Config{})
	g := gen.New(61)
	persons, _ := s.AddPeople(t, g, village, 1)
	app := s.MustSave(t, records.Application, "", testsupport.Fields(g.Application(persons[0], nil)))
	if err := s.Store.Intent(ctx, app, records.OpSubmit, "", "测试员"); err != nil {
		t.Fatal(err)
	}
	s.MustSync(t)
	// A county edit the station pulls, so that the feed has moved.
	if err := c.Store.Decide(ctx, server.Decision{ApplicationID: app, Op: records.OpAccept, By: "县民政局"}); err != nil {
		t.Fatal(err)
	}
	s.MustSync(t)

	// Offline, the station exports; the command imports with a store of
	// its own while the service runs.
	c.LinkDown()
	s.AddPeople(t, g, village, 3)
	ex, err := s.Export(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cli, err := server.OpenSQLite(ctx, c.Path, testsupport.CountyCode)
	if err != nil {
		t.Fatal(err)
	}
	// Every change it applies moves its record to a new feed position.
	res, err := cli.ImportBundle(ctx, server.BundleImport{Path: ex.Path, OutDir: t.TempDir()})
	cli.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Store.Decide(ctx, server.Decision{ApplicationID: app, Op: records.OpReview, By: "县民政局"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, res.Downlink); err != nil {
		t.Fatal(err)
	}
	c.LinkUp()
	s.MustSync(t)
	testsupport.AssertConverged(t, c, s, village)
	got, err := s.Store.Get(ctx, records.Application, app)
	if err != nil {
		t.Fatal(err)
	}
	if st := records.TextValue(got.Fields, "status"); st != records.StatusReviewing {
		t.Fatalf("the station sees %q, want the service's decision (reviewing)", st)
	}
}
