package integration

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/linkem"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
)

// Figures for a decision's document over 2G (64 kbit/s, 300 ms each way):
// the county returns an application with a scanned notice (a photo,
// normalised at the county); the station's rounds bring it down, once
// cut after 100 KB, and resume. Logged: the file's size, the rounds'
// time and the bytes that came down.
func TestDecisionDocumentOver2G(t *testing.T) {
	if testing.Short() {
		t.Skip("about a minute over the emulated 2G link")
	}
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	s := testsupport.NewStation(t, c, "340123101201", agent.Config{})
	g := gen.New(53)
	p := g.Person("340123101201")
	pid := s.MustSave(t, records.Person, "", testsupport.Fields(p))
	app := s.MustSave(t, records.Application, "", testsupport.Fields(g.Application(pid, p)))
	if err := s.Store.Intent(ctx, app, records.OpSubmit, "", "测试员"); err != nil {
		t.Fatal(err)
	}
	s.MustSync(t)

	// A phone photo of a printed notice: text-like detail, 3000×2250.
	img := image.NewRGBA(image.Rect(0, 0, 3000, 2250))
	for y := range 2250 {
		for x := range 3000 {
			v := uint8(235)
			if (y/18)%3 != 0 && (x*7+y*3)%23 < 11 {
				v = 40
			}
			img.Set(x, y, color.RGBA{v, v, v - 10, 255})
		}
	}
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 92})
	doc, err := server.PrepareDocument(ctx, "通知.jpg", b.Bytes(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.StoreDocuments(ctx, c.Store.FilesDir(), []server.DecisionDocument{doc}); err != nil {
		t.Fatal(err)
	}
	if err := c.Store.Decide(ctx, server.Decision{ApplicationID: app, Op: records.OpReturn, By: "县民政局", Comment: "见通知", Documents: []server.DecisionDocument{doc}}); err != nil {
		t.Fatal(err)
	}

	twoG := linkem.Options{UpBytesPerSec: 8000, DownBytesPerSec: 8000, Latency: 300 * time.Millisecond}
	cut := twoG
	cut.CutDownAfterBytes = 100 << 10
	c.Link.Set(cut)
	before := c.Link.Stats()
	start := time.Now()
	res, err := s.SyncOnce(ctx)
	if err != nil {
		t.Fatalf("the round with the cut: %v", err)
	}
	if res.Fetched != 0 {
		t.Fatalf("fetched through a cut link: %+v", res)
	}
	first := time.Since(start)
	c.Link.Set(twoG)
	var rounds int
	for rounds = 1; rounds < 5; rounds++ {
		res, err := s.SyncOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Fetched == 1 {
			break
		}
	}
	total := time.Since(start)
	after := c.Link.Stats()
	r, err := s.OpenAttachment(doc.Hash)
	if err != nil {
		t.Fatalf("the document is not at the station: %v", err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, doc.Data) {
		t.Fatal("the document's bytes differ")
	}
	down := after.DownBytes - before.DownBytes
	t.Logf("decision document %d bytes (from a %d-byte 3000×2250 photo) over 2G: round cut after 100 KB %.1f s; then %d round(s); at the station after %.1f s; %d bytes came down (%.2f× the file)",
		len(doc.Data), b.Len(), first.Seconds(), rounds, total.Seconds(), down, float64(down)/float64(len(doc.Data)))
}

// A decision document the station holds is evicted like any file the
// county holds; the rounds do not fetch it again by themselves, and the
// page's 从县里取回 (FetchFile) brings it back.
func TestDecisionDocumentEvictedAndFetchedBack(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	s := testsupport.NewStation(t, c, "340123101201", agent.Config{Attach: agent.AttachConfig{EvictAfter: time.Nanosecond}})
	g := gen.New(59)
	p := g.Person("340123101201")
	pid := s.MustSave(t, records.Person, "", testsupport.Fields(p))
	app := s.MustSave(t, records.Application, "", testsupport.Fields(g.Application(pid, p)))
	if err := s.Store.Intent(ctx, app, records.OpSubmit, "", "测试员"); err != nil {
		t.Fatal(err)
	}
	s.MustSync(t)
	pdf := []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
	doc, err := server.PrepareDocument(ctx, "批准通知.pdf", pdf, 0)
	if err != nil {
		t.Fatal(err)
	}
	server.StoreDocuments(ctx, c.Store.FilesDir(), []server.DecisionDocument{doc})
	for _, d := range []server.Decision{
		{ApplicationID: app, Op: records.OpAccept, By: "县民政局"},
		{ApplicationID: app, Op: records.OpApprove, By: "县民政局", AmountFen: 30000, FromMonth: "2026-12", Documents: []server.DecisionDocument{doc}},
	} {
		if err := c.Store.Decide(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if res := s.MustSync(t); res.Fetched != 1 {
		t.Fatalf("round: %+v", res)
	}
	time.Sleep(2 * time.Millisecond) // past the nanosecond EvictAfter, on the ms clock
	if res, err := s.EvictFiles(ctx); err != nil || res.Files != 1 {
		t.Fatalf("evict: %+v %v", res, err)
	}
	if res := s.MustSync(t); res.Fetched != 0 {
		t.Errorf("a round fetched an evicted decision document again: %+v", res)
	}
	list, err := s.Attachments(ctx, app)
	if err != nil || len(list) != 1 || !list[0].Decision || list[0].State != agent.FileEvicted {
		t.Fatalf("after eviction: %+v %v", list, err)
	}
	if err := s.FetchFile(ctx, app, doc.Hash); err != nil {
		t.Fatal(err)
	}
	list, _ = s.Attachments(ctx, app)
	if len(list) != 1 || list[0].State != agent.FileAcked {
		t.Fatalf("after 从县里取回: %+v", list)
	}
}
