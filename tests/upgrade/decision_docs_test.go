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
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
)

const village = "340123101201"

// A station of the release before decision_documents (built from commit
// fce41ca by oldAgent, or the binary in $STATIONSYNC_OLD_AGENT) enrols with this county
// and syncs the village's returned application, whose decision carries a
// document: the field unknown to it, the sync succeeds and the record is
// kept. Then this release opens its data folder (migration 0009 sets the
// cursor back) and one round brings the document down, byte for byte.
func TestOldStationThenUpgraded(t *testing.T) {
	old := oldAgent(t)
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

// oldRelease is the commit whose station-agent plays the release before
// decision_documents.
const oldRelease = "fce41ca"

// oldAgent returns the earlier release's station-agent: $STATIONSYNC_OLD_AGENT
// if set, else built from oldRelease out of this checkout's history (git
// archive into a temporary folder; about a minute the first time, the Go
// build cache keeps it after). Only a source tree without git history
// skips, and says so; a build that fails fails the test.
func oldAgent(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("STATIONSYNC_OLD_AGENT"); p != "" {
		return p
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not a git checkout (%v): set STATIONSYNC_OLD_AGENT to a station-agent built from %s", err, oldRelease)
	}
	if err := exec.Command("git", "-C", strings.TrimSpace(string(top)), "cat-file", "-e", oldRelease+"^{commit}").Run(); err != nil {
		t.Skipf("this checkout's history lacks %s (a shallow clone?): set STATIONSYNC_OLD_AGENT to a station-agent built from it", oldRelease)
	}
	src := t.TempDir()
	archive := exec.Command("sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", strings.TrimSpace(string(top)), oldRelease, src)
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", oldRelease, err, out)
	}
	bin := filepath.Join(t.TempDir(), "station-agent-"+oldRelease)
	build := exec.Command("go", "build", "-o", bin, "./cmd/station-agent")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the %s station-agent: %v\n%s", oldRelease, err, out)
	}
	return bin
}
