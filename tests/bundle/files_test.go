package bundle

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
)

// A reinstalled PC (a new station of the same village, with nothing)
// gets the village's records and their files from one downlink: the
// files its feed names that it does not hold, checked and kept, shown as
// the county's.
func TestDownlinkCarriesTheFeedsFiles(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	old := testsupport.NewStation(t, c, village, agent.Config{})
	g := gen.New(41)
	_, visits := old.AddPeople(t, g, village, 2)
	photo := pngPhoto(t, rand.New(rand.NewPCG(4, 1)))
	hash, err := old.Attach(ctx, visits[1], "走访.png", "测试员", bytes.NewReader(photo))
	if err != nil {
		t.Fatal(err)
	}
	old.MustSync(t)
	if !hasFile(t, c, hash) {
		t.Fatal("the county lacks the photo after an online round")
	}

	fresh := testsupport.NewStation(t, c, village, agent.Config{})
	c.LinkDown()
	ex, err := fresh.Export(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if ex.Changes != 0 || ex.Files != 0 {
		t.Fatalf("a new station exported %d changes, %d files", ex.Changes, ex.Files)
	}
	res, err := importAtCounty(ctx, c, ex.Path, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if res.FeedRecords != 6 || res.DownFiles != 1 {
		t.Fatalf("downlink: %d records, %d files; want 6, 1", res.FeedRecords, res.DownFiles)
	}
	imp, err := fresh.Import(ctx, res.Downlink)
	if err != nil {
		t.Fatal(err)
	}
	if imp.Pulled != 6 || imp.Files != 1 {
		t.Fatalf("station import: %+v", imp)
	}
	testsupport.AssertConverged(t, c, fresh, village)
	list, err := fresh.Attachments(ctx, visits[1])
	if err != nil || len(list) != 1 || list[0].Hash != hash || list[0].State != agent.FileAcked || list[0].Kind != records.Visit {
		t.Fatalf("attachments of the visit at the new station: %+v, %v", list, err)
	}
	r, err := fresh.OpenAttachment(hash)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, _ := io.ReadAll(r)
	want, _ := io.ReadAll(func() io.ReadCloser { r, _ := old.OpenAttachment(hash); return r }())
	if !bytes.Equal(got, want) {
		t.Fatal("the photo's bytes differ at the new station")
	}
	// The next answer does not carry it again.
	ex2, err := fresh.Export(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	res2, err := importAtCounty(ctx, c, ex2.Path, t.TempDir())
	if err != nil || res2.DownFiles != 0 || res2.FeedRecords != 0 {
		t.Fatalf("second answer: %+v, %v", res2, err)
	}
}

// A file the county will not take (over its size limit) is marked
// refused at the station with the county's reason, as the online file
// status answer does; the record itself is taken.
func TestRefusedFileMarkedAtTheStation(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	s := testsupport.NewStation(t, c, village, agent.Config{})
	c.LinkDown()
	_, visits := s.AddPeople(t, gen.New(43), village, 1)
	hash, err := s.Attach(ctx, visits[0], "走访.png", "测试员", bytes.NewReader(pngPhoto(t, rand.New(rand.NewPCG(5, 1)))))
	if err != nil {
		t.Fatal(err)
	}
	ex, err := s.Export(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Store.ImportBundle(ctx, server.BundleImport{Path: ex.Path, OutDir: t.TempDir(), MaxFileSize: 100})
	if err != nil || res.FilesStored != 0 || len(res.FilesRefused) != 1 {
		t.Fatalf("county: %+v, %v", res, err)
	}
	if _, err := s.Import(ctx, res.Downlink); err != nil {
		t.Fatal(err)
	}
	list, err := s.Attachments(ctx, visits[0])
	if err != nil || len(list) != 1 || list[0].Hash != hash || list[0].State != agent.FileRefused || !strings.Contains(list[0].Error, "县里只接收不超过") {
		t.Fatalf("the station's file after the answer: %+v, %v", list, err)
	}
	if s.Pending(t) != 0 {
		t.Fatalf("%d changes queued: the record must have been taken", s.Pending(t))
	}
}

// A file the station evicted (the county acknowledged it long ago) comes
// back with a downlink whose records name it: a village without a link
// cannot fetch it.
func TestDownlinkBringsBackAnEvictedFile(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	s := testsupport.NewStation(t, c, village, agent.Config{})
	g := gen.New(47)
	persons, _ := s.AddPeople(t, g, village, 1)
	app := s.MustSave(t, records.Application, "", testsupport.Fields(g.Application(persons[0], nil)))
	hash, err := s.Attach(ctx, app, "户口簿.png", "测试员", bytes.NewReader(pngPhoto(t, rand.New(rand.NewPCG(6, 1)))))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Store.Intent(ctx, app, records.OpSubmit, "", "测试员"); err != nil {
		t.Fatal(err)
	}
	s.MustSync(t)
	if !hasFile(t, c, hash) {
		t.Fatal("the county lacks the scan")
	}
	// Evicted, as attach_evict.go marks it (the bytes may stay a while).
	if _, err := s.Store.DB().W.Exec(`UPDATE attachments SET state = 'evicted', evicted_at = 1 WHERE hash = ?`, hash); err != nil {
		t.Fatal(err)
	}
	if err := c.Store.Decide(ctx, server.Decision{ApplicationID: app, Op: records.OpAccept, By: "县民政局"}); err != nil {
		t.Fatal(err)
	}
	c.LinkDown()
	ex, err := s.Export(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	res, err := importAtCounty(ctx, c, ex.Path, t.TempDir())
	if err != nil || res.DownFiles != 1 {
		t.Fatalf("answer: %+v, %v", res, err)
	}
	if _, err := s.Import(ctx, res.Downlink); err != nil {
		t.Fatal(err)
	}
	var state string
	var evicted, fetched *int64
	if err := s.Store.DB().R.QueryRow(`SELECT state, evicted_at, fetched_at FROM attachments WHERE hash = ?`, hash).Scan(&state, &evicted, &fetched); err != nil {
		t.Fatal(err)
	}
	if state != agent.FileAcked || evicted != nil || fetched == nil {
		t.Fatalf("after the answer: state %s, evicted_at %v, fetched_at %v", state, evicted, fetched)
	}
}
