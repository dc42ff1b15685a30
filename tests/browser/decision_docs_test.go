package browser

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stationsync/agent/web"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
	countyweb "stationsync/server/web"

	"github.com/chromedp/chromedp"
)

func sha(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// County staff return an application on its record page with a return
// notice (PDF) and a photo of the form to fill in; the decision carries
// them down to the station: while the files cannot come (the
// link drops for the files only) the application page shows them under
// 县里的决定 as 正在从县里下载 with what to do; after the next round the
// thumbnail and the PDF tile, at 1280 and 390 px.
func TestDecisionDocumentsOnApplicationPage(t *testing.T) {
	ctx := browser(t)
	co := testsupport.NewCounty(t)
	s := testsupport.OpenStation(t, "", testsupport.FastConfig())
	ws, err := web.New(s.Agent, web.Options{Logger: testsupport.Quiet, SyncTimeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ws.Handler())
	t.Cleanup(srv.Close)
	c := &cadre{t: t, ctx: ctx, base: srv.URL, prefix: "decision-docs"}

	c.firstRun()
	c.enroll(co.URL(), co.Code(t, village), "注册成功")
	person := c.addPerson()
	app := c.applyAndSubmit(person)
	id := strings.TrimPrefix(app, "/applications/")
	c.open("/sync")
	c.syncNow("同步成功")

	img := image.NewRGBA(image.Rect(0, 0, 1200, 900))
	for y := range 900 {
		for x := range 1200 {
			img.Set(x, y, color.RGBA{uint8(200 - x/10), uint8(120 + y/10), 140, 255})
		}
	}
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
	dir := t.TempDir()
	// ASCII names on disk: this machine's Chromium sends no file whose
	// path it cannot convert from its locale (attach_test.go).
	pdfPath, jpgPath := filepath.Join(dir, "return-notice.pdf"), filepath.Join(dir, "income-form.jpg")
	pdf := []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
	os.WriteFile(pdfPath, pdf, 0o600)
	os.WriteFile(jpgPath, b.Bytes(), 0o600)

	// County staff decide on the record page, with the two files.
	bg := context.Background()
	if _, err := co.Store.CreateUser(bg, server.NewUser{Username: "county", DisplayName: "县民政局张华", Role: server.RoleCounty, Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	cs := server.New(co.Store, testsupport.Quiet)
	cs.Web = countyweb.New(co.Store, testsupport.Quiet)
	h := cs.NewHandler()
	co.SetHandler(h)
	staff := &cadre{t: t, ctx: ctx, base: co.URL(), prefix: "decision-docs-county"}
	staff.open("/login")
	staff.fill("#username", "county")
	staff.fill("#password", "correct horse battery")
	staff.submit("#login-btn", "县民政局张华")
	staff.open("/records/application/" + id)
	staff.see("随决定下发的文件")
	staff.click(`input[name="op"][value="return"]`)
	staff.fill(`textarea[name="comment"]`, "请按附件样式补充收入证明")
	staff.do("choose files", chromedp.SetUploadFiles(chromedp.CSS("#decide-file"), []string{pdfPath, jpgPath}))
	staff.shot("decide-form")
	staff.narrow("decide-form")
	staff.submit("#decide-btn", "已记录审核决定")
	staff.see("县里的决定文件")
	staff.waitFor(`(() => { const i = document.querySelector("#decision-files img.thumb"); return !!i && i.complete && i.naturalWidth > 0; })()`, "the county's thumbnail")
	staff.shot("record")
	staff.narrow("record")
	rec, err := co.Store.Record(bg, records.Application, id, "")
	if err != nil {
		t.Fatal(err)
	}
	var hashes []string
	json.Unmarshal(rec.Record.Fields["decision_documents"], &hashes)
	if len(hashes) != 2 || hashes[0] != sha(pdf) {
		t.Fatalf("decision_documents %v", hashes)
	}

	// The files' downloads fail; the records come down.
	co.SetHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/files/") {
			http.Error(w, "link down", http.StatusBadGateway)
			return
		}
		h.ServeHTTP(w, r)
	}))
	c.open("/sync")
	c.syncNow("同步成功")
	c.open(app)
	c.see("县里的决定")
	c.see("正在从县里下载")
	c.see("联网后会自动下载")
	c.shot("downloading")
	c.narrow("downloading")

	co.SetHandler(h)
	c.open("/sync")
	c.syncNow("同步成功")
	c.open(app)
	c.notSee("正在从县里下载")
	c.waitFor(`(() => { const i = document.querySelector("#decision-files img.thumb"); return !!i && i.complete && i.naturalWidth > 0; })()`, "the decision photo's thumbnail")
	c.waitFor(`!!document.querySelector('#decision-files a.pdf[href$="/`+hashes[0]+`"]')`, "the PDF tile")
	c.shot("fetched")
	c.narrow("fetched")
}
