// Package upgrade runs a station of an earlier release against this
// county, then upgrades it in place.
package upgrade

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
)

const village = "340123101201"

// A station of the release before decision_documents (its binary in
// $STATIONSYNC_OLD_AGENT, e.g. built from commit fce41ca:
// git archive fce41ca | tar -x -C /tmp/old && (cd /tmp/old && go build -o
// /tmp/old-station-agent ./cmd/station-agent)) enrols with this county
// and syncs the village's returned application, whose decision carries a
// document: the field unknown to it, the sync succeeds and the record is
// kept. Then this release opens its data folder (migration 0009 sets the
// cursor back) and one round brings the document down, byte for byte.
func TestOldStationThenUpgraded(t *testing.T) {
	old := os.Getenv("STATIONSYNC_OLD_AGENT")
	if old == "" {
		t.Skip("STATIONSYNC_OLD_AGENT not set: no binary of the earlier release")
	}
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	// Another station of the village records and submits the application.
	other := testsupport.NewStation(t, c, village, agent.Config{})
	g := gen.New(47)
	p := g.Person(village)
	pid := other.MustSave(t, records.Person, "", testsupport.Fields(p))
	app := other.MustSave(t, records.Application, "", testsupport.Fields(g.Application(pid, p)))
	if err := other.Store.Intent(ctx, app, records.OpSubmit, "", "测试员"); err != nil {
		t.Fatal(err)
	}
	other.MustSync(t)
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

	dir := t.TempDir()
	testsupport.MustExec(t, nil, nil, old, "enroll", "--data", dir, "--server", c.URL(), "--code", c.Code(t, village), "--yes")
	out := testsupport.MustExec(t, nil, nil, old, "sync", "--data", dir)
	t.Logf("old station: %s", out)
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "station.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var status, comment string
	if err := db.QueryRow(`SELECT status, reviewer_comment FROM applications WHERE id = ?`, app).Scan(&status, &comment); err != nil {
		t.Fatalf("the old station lacks the application: %v", err)
	}
	db.Close()
	if status != records.StatusReturned || comment != "见通知" {
		t.Fatalf("old station: %s %q", status, comment)
	}

	// Upgraded in place.
	a, err := agent.Open(ctx, agent.Config{DataDir: dir, Logger: testsupport.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	res, err := a.SyncOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Fetched != 1 {
		t.Errorf("upgraded station fetched %d decision documents, want 1 (%+v)", res.Fetched, res)
	}
	l, err := a.Store.Get(ctx, records.Application, app)
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	json.Unmarshal(l.Fields["decision_documents"], &docs)
	if len(docs) != 1 || docs[0] != doc.Hash {
		t.Fatalf("upgraded station: decision_documents %v", docs)
	}
	r, err := a.OpenAttachment(doc.Hash)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, pdf) {
		t.Fatal("the document's bytes differ")
	}
}
