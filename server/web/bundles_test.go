package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/server"
)

func (c *client) upload(path, name string, data []byte) response {
	c.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	w, _ := mw.CreateFormFile("file", name)
	w.Write(data)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, c.f.http.URL+path, &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.do(req)
}

// U盘数据包: an administrator uploads a village's bundle, the county
// applies it and offers the answer, which the station takes; a tampered
// one is refused in Chinese and changes nothing; other staff may not.
func TestBundlesPageImports(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	code, err := f.store.CreateCode(ctx, villA, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.Open(ctx, agent.Config{DataDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Enroll(ctx, f.http.URL, code); err != nil {
		t.Fatal(err)
	}
	pid, err := a.Store.Save(ctx, records.Person, "", personFields(t, gen.New(3).Person(villA)), "王芳")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := a.Export(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(ex.Path)
	if err != nil {
		t.Fatal(err)
	}

	if r := f.login("county").get("/bundles"); r.StatusCode == http.StatusOK {
		t.Fatal("a county user who is not an administrator reached the page")
	}
	admin := f.login("admin")
	if r := admin.get("/stations"); !strings.Contains(r.body, `href="/bundles"`) {
		t.Fatal("no link to the page from the stations page")
	}
	tampered := bytes.Clone(data)
	tampered[60] ^= 1
	r := admin.upload("/bundles", "村站通-"+villA+"-20261203-1.bundle", tampered)
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "损坏或被改动") {
		t.Fatalf("tampered bundle: %d %s", r.StatusCode, r.body)
	}
	if _, err := f.store.Record(ctx, records.Person, pid, ""); err == nil {
		t.Fatal("a refused bundle put its person in")
	}
	r = admin.upload("/bundles", "村站通-"+villA+"-20261203-1.bundle", data)
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, "新 1 条") {
		t.Fatalf("import: %d %s", r.StatusCode, r.body)
	}
	m := regexp.MustCompile(`href="(/bundles/answer/[^"]+)"`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no answer to download: %s", r.body)
	}
	ans := admin.get(m[1])
	if ans.StatusCode != http.StatusOK || !strings.HasPrefix(ans.body, "SSBUNDLE") {
		t.Fatalf("answer download: %d", ans.StatusCode)
	}
	// Only an answer of the answers folder, by its exact name, however
	// the name is spelt.
	answer, _ := url.PathUnescape(strings.TrimPrefix(m[1], "/bundles/answer/"))
	for _, sp := range []string{"..%2Fcounty.db", "%2e%2e%2fbundle.key", "..%2F..%2Fetc%2Fpasswd", "%252e%252e%252fcounty.db",
		url.PathEscape(answer) + "%00", url.PathEscape(answer + ".txt"), url.PathEscape(answer + "/"), url.PathEscape("..\\" + answer),
		url.PathEscape("./" + answer), url.PathEscape(strings.ToUpper(answer)),
		url.PathEscape(strings.Replace(answer, "回执", "", 1)), // the uplink's name
		url.PathEscape(strings.Replace(answer, "-1.bundle", "-2.bundle", 1)),
		url.PathEscape(filepath.Join(f.store.DataDir(), "bundle-answers", answer))} {
		if r := admin.get("/bundles/answer/" + sp); r.StatusCode == http.StatusOK {
			t.Errorf("%q served", sp)
		}
	}
	p := t.TempDir() + "/answer.bundle"
	os.WriteFile(p, []byte(ans.body), 0o600)
	imp, err := a.Import(ctx, p)
	if err != nil || imp.Acked != 1 {
		t.Fatalf("station import of the page's answer: %+v %v", imp, err)
	}
	log, _, err := f.store.AuditLog(ctx, server.AuditFilter{Action: server.AuditBundleImport, Limit: 10})
	if err != nil || len(log) != 1 || log[0].Username != "admin" {
		t.Fatalf("audit: %+v %v", log, err)
	}
}

func personFields(t *testing.T, m map[string]any) records.Fields {
	t.Helper()
	out := records.Fields{}
	for k, v := range m {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = b
	}
	return out
}
