package web_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"stationsync/server"
)

// The U盘 page: reached from the sync page, 导出到U盘 writes the bundle
// into the named folder and offers it for download, 导入回执 takes the
// county's answer as an upload and says what it did; a wrong file is
// refused in Chinese and changes nothing.
func TestBundlesPage(t *testing.T) {
	ctx := context.Background()
	c := newCounty(t)
	s := newStation(t)
	s.setup("李明")
	if _, err := s.a.Enroll(ctx, c.srv.URL, c.code(t, village)); err != nil {
		t.Fatal(err)
	}
	must(t, s.get("/sync"), 200, `href="/bundles"`)
	created(t, s.post("/persons/new", personForm("王秀英", goodID)))
	must(t, s.get("/bundles"), 200, "导出到U盘", "导入回执", "待上传 1 条")

	// A relative folder is refused; nothing is written.
	must(t, s.follow(s.post("/bundles/export", url.Values{"dir": {"usb"}})), 200, "请填写完整的文件夹路径")
	stick := t.TempDir()
	page := s.follow(s.post("/bundles/export", url.Values{"dir": {stick}}))
	must(t, page, 200, "已导出 村站通-", "1 条记录，0 个附件", "村站通-"+village+"-")
	files, _ := filepath.Glob(filepath.Join(stick, "村站通-*.bundle"))
	if len(files) != 1 {
		t.Fatalf("stick holds %v", files)
	}
	name := filepath.Base(files[0])
	must(t, page, 200, `" download>`+name+`</a>`)
	dl := s.get("/bundles/file/" + url.PathEscape(name))
	want, _ := os.ReadFile(files[0])
	if dl.Status != 200 || dl.Body != string(want) {
		t.Fatalf("download: %d, %d bytes of %d", dl.Status, len(dl.Body), len(want))
	}
	must(t, s.get("/bundles/file/..%2fstation.db"), 404)

	// The wrong file: the uplink itself.
	must(t, s.follow(s.upload("/bundles/import", part{name: name, data: want})), 200, "应在县级服务器导入")
	res, err := c.store.ImportBundle(ctx, server.BundleImport{Path: files[0], OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	down, _ := os.ReadFile(res.Downlink)
	page = s.follow(s.upload("/bundles/import", part{name: filepath.Base(res.Downlink), data: down}))
	must(t, page, 200, "已导入县里的回执：1 条记录已确认")
	if n, _ := s.a.Store.Pending(ctx); n != 0 {
		t.Fatalf("%d changes still queued", n)
	}
	if regexp.MustCompile(`\.downlink-`).MatchString(listDir(t, filepath.Dir(s.a.Store.DB().Path))) {
		t.Fatal("an upload's temporary file was left in the data folder")
	}
}

func listDir(t *testing.T, dir string) string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := ""
	for _, e := range ents {
		out += e.Name() + "\n"
	}
	return out
}

// The download serves an uplink of the export folder by its exact name,
// and nothing else however the name is spelt: other folders, other kinds,
// encodings, separators, look-alikes.
func TestBundleDownloadSpellings(t *testing.T) {
	ctx := context.Background()
	c := newCounty(t)
	s := newStation(t)
	s.setup("李明")
	if _, err := s.a.Enroll(ctx, c.srv.URL, c.code(t, village)); err != nil {
		t.Fatal(err)
	}
	stick := t.TempDir()
	s.follow(s.post("/bundles/export", url.Values{"dir": {stick}}))
	files, _ := filepath.Glob(filepath.Join(stick, "村站通-*.bundle"))
	if len(files) != 1 {
		t.Fatalf("stick holds %v", files)
	}
	name := filepath.Base(files[0])
	// Beside it, files the download must never serve.
	os.WriteFile(filepath.Join(stick, "村站通回执-"+village+"-20261203-1.bundle"), []byte("answer"), 0o600)
	os.WriteFile(filepath.Join(stick, "secret.txt"), []byte("secret"), 0o600)
	if r := s.get("/bundles/file/" + url.PathEscape(name)); r.Status != 200 {
		t.Fatalf("the real name: %d", r.Status)
	}
	for _, sp := range []string{
		"..%2fstation.db", "..%2F..%2Fetc%2Fpasswd", "%2e%2e%2fstation.key", "secret.txt",
		url.PathEscape("村站通回执-" + village + "-20261203-1.bundle"),
		url.PathEscape(name) + "%00", url.PathEscape(name) + ".txt", url.PathEscape(name + "/"),
		url.PathEscape("..\\" + name), url.PathEscape("./" + name), url.PathEscape(strings.ToUpper(name)),
		url.PathEscape(strings.Replace(name, "-1.bundle", "-01.bundle", 1)),
		url.PathEscape(strings.Replace(name, "村站通", "村站通 ", 1)),
		url.PathEscape(filepath.Join(stick, name)), "%252e%252e%252fstation.db",
	} {
		r := s.get("/bundles/file/" + sp)
		if r.Status == 200 {
			t.Errorf("%q served (%d bytes)", sp, len(r.Body))
		}
	}
}
