package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"stationsync/internal/records"
)

// docPart is a file of a posted decision form.
type docPart struct {
	name string
	data []byte
}

// postMultipart posts form and files (field "file") as a browser's
// multipart form does.
func (c *client) postMultipart(path string, form url.Values, files ...docPart) response {
	c.t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, vs := range form {
		for _, v := range vs {
			w.WriteField(k, v)
		}
	}
	for _, f := range files {
		p, _ := w.CreateFormFile("file", f.name)
		p.Write(f.data)
	}
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, c.f.http.URL+path, &b)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return c.do(req)
}

// decisionDocs is the application's decision_documents.
func (f *fixture) decisionDocs(id string) []string {
	f.t.Helper()
	rec, err := f.store.Record(context.Background(), records.Application, id, "")
	if err != nil {
		f.t.Fatal(err)
	}
	var list []string
	json.Unmarshal(rec.Record.Fields["decision_documents"], &list)
	return list
}

func (f *fixture) fileRow(hash string) bool {
	var n int
	f.store.DB().R.QueryRow(`SELECT count(*) FROM files WHERE hash = ?`, hash).Scan(&n)
	return n > 0
}

func (f *fixture) status(id string) string {
	a, err := f.store.Application(context.Background(), id, "")
	if err != nil {
		f.t.Fatal(err)
	}
	return a.Status
}

// Staff attach a return notice (PDF) and a photo to a decision on the
// record page: the decision, the application's decision_documents and
// the files commit together; the page shows them, staff of the township
// fetch them, another township and the public never.
func TestDecisionCarriesDocuments(t *testing.T) {
	f := newFixture(t)
	county := f.login("county")
	id := f.apps[villA][0]
	pdf, photo := testPDF("return notice"), testJPEG(t, 900, 600, 3)
	r := county.postMultipart("/applications/decide", url.Values{"id": {id}, "op": {"return"}, "comment": {"请补充收入证明，见附件"}, "back": {"/records/application/" + id}},
		docPart{"退回补充通知.pdf", pdf}, docPart{"样例.jpg", photo})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("decide with documents: %d %.500s", r.StatusCode, r.body)
	}
	if s := f.status(id); s != records.StatusReturned {
		t.Fatalf("status %s", s)
	}
	docs := f.decisionDocs(id)
	if len(docs) != 2 || docs[0] != sum(pdf) {
		t.Fatalf("decision_documents %v, want the PDF (kept byte for byte) and the photo", docs)
	}
	page := county.get("/records/application/" + id)
	for _, want := range []string{`id="decision-files"`, `href="/files/` + docs[0] + `"`, `src="/files/` + docs[1] + `/thumb"`, "县里的决定文件"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("record page lacks %s", want)
		}
	}
	if strings.Contains(page.body, docs[0]+`"`) && strings.Contains(page.body, `id="files-waiting"`) {
		t.Errorf("a decision document shows as 附件上传中")
	}
	got := county.get("/files/" + docs[0])
	if got.StatusCode != 200 || got.body != string(pdf) {
		t.Errorf("staff fetch the PDF: %d, %d bytes", got.StatusCode, len(got.body))
	}
	if r := f.login("towna").get("/files/" + docs[1]); r.StatusCode != 200 {
		t.Errorf("the township's clerk: %d", r.StatusCode)
	}
	if r := f.login("townb").get("/files/" + docs[1]); r.StatusCode != http.StatusNotFound {
		t.Errorf("another township's clerk: %d, want 404", r.StatusCode)
	}
	for _, h := range docs {
		for _, p := range []string{"/public/f/" + h, "/public/f/" + h + "/thumb"} {
			if r := f.client().get(p); r.StatusCode != http.StatusNotFound {
				t.Errorf("public %s: %d, want 404", p, r.StatusCode)
			}
		}
	}
	// The JSON API lists them with the record's files, hashes unmasked.
	api := f.login("towna").get("/api/records/application/" + id)
	for _, h := range docs {
		if !strings.Contains(api.body, `"hash":"`+h+`"`) || !strings.Contains(api.body, `"url":"/files/`+h+`"`) {
			t.Errorf("API record lacks decision document %s: %.300s", h, api.body)
		}
	}
	// A refused decision changes nothing.
	county.post("/applications/decide", url.Values{"id": {id}, "op": {"accept"}}) // returned: not allowed, refused
	if got := f.decisionDocs(id); len(got) != 2 {
		t.Errorf("after a refused decision: %v", got)
	}
}

// A township clerk cannot attach a file to another township's
// application (the decision is refused as before, the file named by
// nothing); a bad file is refused in Chinese before anything is decided.
func TestDecisionDocumentsRefused(t *testing.T) {
	f := newFixture(t)
	idA := f.apps[villA][1]
	foreign := testPDF("not yours")
	r := f.login("townb").postMultipart("/applications/decide", url.Values{"id": {idA}, "op": {"return"}, "comment": {"补材料"}}, docPart{"通知.pdf", foreign})
	if r.StatusCode == http.StatusSeeOther {
		t.Fatalf("township B decided township A's application")
	}
	if s := f.status(idA); s != records.StatusSubmitted || len(f.decisionDocs(idA)) != 0 || f.fileRow(sum(foreign)) {
		t.Errorf("after the refusal: status %s, documents %v, file noted %v", s, f.decisionDocs(idA), f.fileRow(sum(foreign)))
	}

	county := f.login("county")
	good := testPDF("fine")
	for _, bad := range []docPart{
		{"扫描.gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")},
		{"损坏.jpg", []byte("\xff\xd8\xff\xe0 not really a jpeg")},
		{"空.pdf", nil},
	} {
		r := county.postMultipart("/applications/decide", url.Values{"id": {idA}, "op": {"return"}, "comment": {"补材料"}, "back": {"/records/application/" + idA}},
			docPart{"好的.pdf", good}, bad)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "「"+bad.name+"」不能随决定下发") || !strings.Contains(r.body, `id="decide"`) {
			t.Errorf("%s: %d, want 400 with the form and the reason: %.300s", bad.name, r.StatusCode, r.body)
		}
		if s := f.status(idA); s != records.StatusSubmitted || len(f.decisionDocs(idA)) != 0 || f.fileRow(sum(good)) {
			t.Errorf("%s: half made: status %s, documents %v", bad.name, s, f.decisionDocs(idA))
		}
	}
}

// The review queue's bulk form takes files too: each selected
// application names them, stored once.
func TestBulkDecisionCarriesDocuments(t *testing.T) {
	f := newFixture(t)
	ids := f.apps[villA][:2]
	notice := testPDF("bulk notice")
	r := f.login("county").postMultipart("/applications/decide", url.Values{"id": ids, "op": {"return"}, "comment": {"请补充"}, "back": {"/applications?status=submitted"}}, docPart{"通知.pdf", notice})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("bulk decision with a file: %d %.300s", r.StatusCode, r.body)
	}
	for _, id := range ids {
		if docs := f.decisionDocs(id); len(docs) != 1 || docs[0] != sum(notice) {
			t.Errorf("%s: decision_documents %v", id, docs)
		}
	}
	if !strings.Contains(f.login("county").get("/applications?status=submitted").body, `enctype="multipart/form-data"`) {
		t.Error("the queue's form does not send files")
	}
}

// Many decisions with files at once: each application gets its own
// document and nothing else; a form over the limit of files is refused
// whole; township B's clerk reaches none of township A's applications by
// any spelling of its id.
func TestDecisionDocumentsAtOnce(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for _, v := range []string{villA, villB} {
		ids = append(ids, f.apps[v]...)
	}
	county := f.login("county")
	docs := map[string][]byte{}
	for i, id := range ids {
		docs[id] = testPDF("notice " + id + string(rune('a'+i)))
	}
	var wg sync.WaitGroup
	codes := make([]int, len(ids))
	for i, id := range ids {
		wg.Go(func() {
			codes[i] = county.postMultipart("/applications/decide", url.Values{"id": {id}, "op": {"return"}, "comment": {"补材料"}}, docPart{"通知.pdf", docs[id]}).StatusCode
		})
	}
	wg.Wait()
	for i, id := range ids {
		if got := f.decisionDocs(id); codes[i] != http.StatusSeeOther || len(got) != 1 || got[0] != sum(docs[id]) {
			t.Errorf("%s: %d, documents %v", id, codes[i], got)
		}
	}

	f2 := newFixture(t)
	id := f2.apps[villA][0]
	var many []docPart
	for i := range records.MaxDecisionDocuments + 1 {
		many = append(many, docPart{"p.pdf", testPDF("page " + string(rune('a'+i)))})
	}
	if r := f2.login("county").postMultipart("/applications/decide", url.Values{"id": {id}, "op": {"return"}, "comment": {"x"}}, many...); r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "最多") {
		t.Errorf("21 files: %d", r.StatusCode)
	}
	townB := f2.login("townb")
	foreign := testPDF("foreign")
	for _, spelling := range []string{id, " " + id, id + " ", strings.ToUpper(id), id + "%00", url.PathEscape(id) + "/", "../" + id, id + "' OR '1'='1"} {
		townB.postMultipart("/applications/decide", url.Values{"id": {spelling}, "op": {"return"}, "comment": {"x"}}, docPart{"f.pdf", foreign})
	}
	if f2.status(id) != records.StatusSubmitted || len(f2.decisionDocs(id)) != 0 || f2.fileRow(sum(foreign)) {
		t.Errorf("township B reached township A's application: %s %v", f2.status(id), f2.decisionDocs(id))
	}
}
