package bundle

import (
	"bytes"
	"context"
	"io"
	"testing"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
)

// A decision's document travels by USB stick too: the downlink answering
// a station offline carries the file the decided application names
// (record_files covers decision_documents), and the station keeps it as
// the county's, byte for byte, with no online round.
func TestDownlinkCarriesDecisionDocuments(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	s := testsupport.NewStation(t, c, village, agent.Config{})
	g := gen.New(43)
	p := g.Person(village)
	pid := s.MustSave(t, records.Person, "", testsupport.Fields(p))
	app := s.MustSave(t, records.Application, "", testsupport.Fields(g.Application(pid, p)))
	if err := s.Store.Intent(ctx, app, records.OpSubmit, "", "测试员"); err != nil {
		t.Fatal(err)
	}
	s.MustSync(t)

	pdf := []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
	doc, err := server.PrepareDocument(ctx, "退回通知.pdf", pdf, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.StoreDocuments(ctx, c.Store.FilesDir(), []server.DecisionDocument{doc}); err != nil {
		t.Fatal(err)
	}
	if err := c.Store.Decide(ctx, server.Decision{ApplicationID: app, Op: records.OpReturn, By: "县民政局", Comment: "见通知", Documents: []server.DecisionDocument{doc}}); err != nil {
		t.Fatal(err)
	}

	c.LinkDown()
	ex, err := s.Export(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	res, err := importAtCounty(ctx, c, ex.Path, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if res.DownFiles != 1 {
		t.Fatalf("downlink carries %d files, want the decision's document", res.DownFiles)
	}
	if _, err := s.Import(ctx, res.Downlink); err != nil {
		t.Fatal(err)
	}
	list, err := s.Attachments(ctx, app)
	if err != nil || len(list) != 1 || !list[0].Decision || list[0].Hash != doc.Hash || list[0].State != agent.FileAcked {
		t.Fatalf("the application's files at the station: %+v, %v", list, err)
	}
	r, err := s.OpenAttachment(doc.Hash)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, pdf) {
		t.Fatal("the document's bytes differ at the station")
	}
}
