package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"stationsync/internal/records"
	"stationsync/server"
)

// gatedCounty is a county whose file downloads (GET /v1/files/…) can be
// cut off while records still flow: a link that drops during the files
// phase.
type gatedCounty struct {
	*county
	cut atomic.Bool
}

func newGatedCounty(t *testing.T) *gatedCounty {
	t.Helper()
	st, err := server.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "county.db"), "340123")
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedCounty{county: &county{store: st}}
	h := server.New(st, quiet).NewHandler()
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.cut.Load() && r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/files/") {
			// What a dropped link looks like to the station.
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { g.srv.Close(); st.Close() })
	return g
}

// decideWith has the county decide op on application id with files, as
// its pages do (normalised, stored, then decided).
func (c *county) decideWith(t *testing.T, id string, op records.Op, comment string, files ...[]byte) []string {
	t.Helper()
	ctx := context.Background()
	var docs []server.DecisionDocument
	for i, f := range files {
		d, err := server.PrepareDocument(ctx, "文件"+string(rune('1'+i)), f, 0)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	if err := server.StoreDocuments(ctx, c.store.FilesDir(), docs); err != nil {
		t.Fatal(err)
	}
	if err := c.store.Decide(ctx, server.Decision{ApplicationID: id, Op: op, By: "县民政局 张华", Comment: comment, Documents: docs}); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range docs {
		out = append(out, d.Hash)
	}
	return out
}

// A county decision carries a return notice (PDF) and a photo down: the
// station's round fetches them after the records (PROTOCOL.md §15.5); the
// application page shows them under 县里的决定 — 正在从县里下载 while the
// link drops during the files phase, then the thumbnail and the PDF, whose
// bytes are the county's.
func TestDecisionDocumentsComeDown(t *testing.T) {
	c := newGatedCounty(t)
	s := newStation(t)
	s.setup("李明")
	if r := s.post("/enroll", url.Values{"server": {c.srv.URL}, "code": {c.code(t, village)}}); r.Status != http.StatusSeeOther {
		t.Fatalf("enrol: %d %s", r.Status, snippet(r.Body))
	}
	pid := addPerson(t, s, "王秀英", goodID)
	id := created(t, s.post("/applications/new", url.Values{"applicant_id": {pid}, "type": {"最低生活保障"}, "reason": {"独居，无固定收入"}, "household_income": {"420"}, "amount_requested": {"300"}}))
	must(t, s.follow(s.post("/applications/"+id+"/submit", url.Values{})), 200, "已提交")
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "同步成功")
	mustNot(t, s.get("/applications/"+id), `id="decision-files"`)

	pdf := []byte(testPDF)
	hashes := c.decideWith(t, id, records.OpReturn, "请补充收入证明，见通知", pdf, testJPEG(t, 1200, 900))
	c.cut.Store(true)
	s.post("/sync", url.Values{})
	p := s.get("/applications/" + id)
	must(t, p, 200, `id="decision-files"`, "县里的决定", "请补充收入证明", "正在从县里下载", "联网")
	mustNot(t, p, `src="/files/`+id+`/`+hashes[1]+`/thumb"`)

	c.cut.Store(false)
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "同步成功")
	p = s.get("/applications/" + id)
	must(t, p, 200, `id="decision-files"`, `href="/files/`+id+`/`+hashes[0]+`"`, `src="/files/`+id+`/`+hashes[1]+`/thumb"`)
	mustNot(t, p, "正在从县里下载")
	// The station's own 证明材料 section does not list them, nor offers to
	// delete them.
	if i := strings.Index(p.Body, `id="files"`); i >= 0 && strings.Contains(p.Body[i:], hashes[0]+`/delete"`) {
		t.Error("a decision document offered for deletion")
	}
	got := s.get("/files/" + id + "/" + hashes[0])
	if got.Status != 200 || got.Body != string(pdf) {
		t.Errorf("the PDF at the station: %d, %d bytes, want the county's %d", got.Status, len(got.Body), len(pdf))
	}
	county, err := server.OpenFile(c.store.FilesDir(), hashes[1])
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, county.Size())
	county.Read(want)
	county.Close()
	if got := s.get("/files/" + id + "/" + hashes[1]); got.Body != string(want) {
		t.Errorf("the photo at the station differs from the county's (%d vs %d bytes)", len(got.Body), len(want))
	}
	must(t, s.get("/files/"+id+"/"+hashes[1]+"/thumb"), 200)
	// Deleting one is refused: it is the county's.
	must(t, s.follow(s.post("/applications/"+id+"/files/"+hashes[0]+"/delete", url.Values{})), 200, "县里随决定下发的文件")
	// The record's own list is untouched at the station and the county.
	l, err := s.a.Store.Get(context.Background(), records.Application, id)
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	json.Unmarshal(l.Fields["decision_documents"], &docs)
	if len(docs) != 2 || l.Fields["documents"] != nil && string(l.Fields["documents"]) != "[]" {
		t.Errorf("station record: documents %s, decision_documents %v", l.Fields["documents"], docs)
	}
}
