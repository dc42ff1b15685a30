package web_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/agent/web"
)

// attachStation is a station whose pages take at most maxUpload bytes per
// form of files.
func attachStation(t *testing.T, maxUpload int64) *station {
	t.Helper()
	dir := t.TempDir()
	a, err := agent.Open(context.Background(), agent.Config{DataDir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ck := &clock{t: time.Now()}
	ws, err := web.New(a, web.Options{Now: ck.Now, Logger: quiet, SyncTimeout: 10 * time.Second, MaxUpload: maxUpload})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ws.Handler())
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	s := &station{t: t, a: a, srv: srv, c: c, clock: ck, dir: dir}
	t.Cleanup(func() { srv.Close(); a.Close() })
	return s
}

type part struct {
	name string
	data []byte
}

// upload posts files as a browser's multipart form from the page does.
func (s *station) upload(path string, files ...part) resp {
	s.t.Helper()
	return s.uploadBody(path, false, files...)
}

// uploadBody is upload; chunked sends no Content-Length, so that only
// reading the body finds it too big.
func (s *station) uploadBody(path string, chunked bool, files ...part) resp {
	s.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range files {
		w, _ := mw.CreateFormFile("file", f.name)
		w.Write(f.data)
	}
	mw.Close()
	var rd io.Reader = &b
	if chunked {
		rd = io.MultiReader(&b)
	}
	req, _ := http.NewRequest("POST", s.srv.URL+path, rd)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", s.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	r, err := s.c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	return resp{Status: r.StatusCode, Body: string(body), Location: r.Header.Get("Location")}
}

func testJPEG(t *testing.T, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 120, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testPNG(t *testing.T) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 300, 200))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// withGPS puts an EXIF segment as a camera writes it (make, model and a
// GPS position) after the JPEG's SOI.
func withGPS(jpg []byte) []byte {
	be := binary.BigEndian
	t := []byte("MM\x00\x2a\x00\x00\x00\x08")
	entry := func(tag, typ uint16, count, value uint32) {
		t = be.AppendUint16(t, tag)
		t = be.AppendUint16(t, typ)
		t = be.AppendUint32(t, count)
		t = be.AppendUint32(t, value)
	}
	ifd0End := 8 + 2 + 3*12 + 4
	gpsStart := ifd0End + 16
	gpsEnd := gpsStart + 2 + 4*12 + 4
	t = be.AppendUint16(t, 3)
	entry(0x010F, 2, 6, uint32(ifd0End))
	entry(0x0110, 2, 10, uint32(ifd0End+6))
	entry(0x8825, 4, 1, uint32(gpsStart))
	t = be.AppendUint32(t, 0)
	t = append(t, "Canon\x00EOS 80D\x00\x00\x00"...)
	t = be.AppendUint16(t, 4)
	entry(0x0001, 2, 2, uint32('N')<<24)
	entry(0x0002, 5, 3, uint32(gpsEnd))
	entry(0x0003, 2, 2, uint32('E')<<24)
	entry(0x0004, 5, 3, uint32(gpsEnd+24))
	t = be.AppendUint32(t, 0)
	for _, v := range []uint32{31, 1, 51, 1, 2345, 100, 117, 1, 17, 1, 5678, 100} {
		t = be.AppendUint32(t, v)
	}
	seg := append([]byte{0xFF, 0xE1, 0, 0}, "Exif\x00\x00"...)
	seg = append(seg, t...)
	be.PutUint16(seg[2:], uint16(len(seg)-2))
	out := append([]byte(nil), jpg[:2]...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

const testPDF = "%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

var fileRe = regexp.MustCompile(`/files/([0-9a-f-]{36})/([0-9a-f]{64})(/thumb)?"`)

// visitWithPerson makes a person and a visit to them; it returns the
// visit's id.
func visitWithPerson(t *testing.T, s *station) string {
	t.Helper()
	return visitOfPerson(t, s, "王秀英", goodID)
}

func visitOfPerson(t *testing.T, s *station, name, idNumber string) string {
	t.Helper()
	pid := addPerson(t, s, name, idNumber)
	s.follow(s.post("/persons/"+pid+"/visits/new", visitForm(agent.Today(time.Now()))))
	rows, _, err := s.a.Store.Visits(context.Background(), agent.VisitQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range rows {
		if v.PersonID == pid {
			return v.ID
		}
	}
	t.Fatal("the visit was not saved")
	return ""
}

func hashes(t *testing.T, s *station, id string) []string {
	t.Helper()
	list, err := s.a.Attachments(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, at := range list {
		out = append(out, at.Hash)
	}
	return out
}

func TestAttachFilesOnTheVisitPage(t *testing.T) {
	s := attachStation(t, 4<<20)
	s.setup("李明")
	vid := visitWithPerson(t, s)
	page := s.get("/visits/" + vid)
	must(t, page, 200, `enctype="multipart/form-data"`, `accept="image/jpeg,image/png,application/pdf"`, "还没有照片或附件")
	pending, _ := s.a.Status(context.Background())

	// A camera photo with its position, a PNG screenshot and a PDF scan,
	// in one form, with no county anywhere.
	photo := withGPS(testJPEG(t, 2400, 1800))
	if !bytes.Contains(photo, []byte("Canon")) {
		t.Fatal("test photo has no EXIF")
	}
	r := s.upload("/visits/"+vid+"/files", part{"IMG_0001.JPG", photo}, part{"截图.png", testPNG(t)}, part{"户口簿.pdf", []byte(testPDF)})
	page = s.follow(r)
	must(t, page, 200, "已添加 3 个文件", "IMG_0001.JPG", "户口簿.pdf", "待上传")
	hs := hashes(t, s, vid)
	if len(hs) != 3 {
		t.Fatalf("files of the visit: %v", hs)
	}
	// The record's change is queued with the files.
	if st, _ := s.a.Status(context.Background()); st.Pending <= pending.Pending {
		t.Errorf("pending %d → %d: the visit's change is not queued", pending.Pending, st.Pending)
	}
	thumbs := 0
	for _, m := range fileRe.FindAllStringSubmatch(page.Body, -1) {
		if m[1] != vid {
			t.Errorf("file link of another record: %s", m[0])
		}
		if m[3] != "" {
			thumbs++
		}
	}
	if thumbs != 2 {
		t.Errorf("%d thumbnails on the page, want 2 (JPEG and PNG)", thumbs)
	}
	// The kept photo has no position and no camera; it is scaled down.
	full := s.get("/files/" + vid + "/" + hs[0])
	must(t, full, 200)
	if strings.Contains(full.Body, "Canon") || strings.Contains(full.Body, "Exif") {
		t.Error("the kept photo still carries EXIF")
	}
	cfg, err := jpeg.DecodeConfig(strings.NewReader(full.Body))
	if err != nil || max(cfg.Width, cfg.Height) > 1600 {
		t.Errorf("kept photo: %v %dx%d", err, cfg.Width, cfg.Height)
	}
	th := s.get("/files/" + vid + "/" + hs[0] + "/thumb")
	tc, err := jpeg.DecodeConfig(strings.NewReader(th.Body))
	if th.Status != 200 || err != nil || max(tc.Width, tc.Height) > 320 {
		t.Errorf("thumbnail: %d %v %dx%d", th.Status, err, tc.Width, tc.Height)
	}
	pdf := s.get("/files/" + vid + "/" + hs[2])
	if pdf.Body != testPDF {
		t.Errorf("PDF not kept byte for byte: %q", pdf.Body)
	}
	if th := s.get("/files/" + vid + "/" + hs[2] + "/thumb"); th.Status != 404 {
		t.Errorf("thumbnail of a PDF: %d", th.Status)
	}
	must(t, s.get("/sync"), 200, "照片和附件", "待上传</dt><dd>3 个")

	// Refusals name the file and the reason, and change nothing: not the
	// record, not the queue, not the blob store.
	gif := []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")
	corrupt := testJPEG(t, 64, 64)[:300]
	before, _ := s.a.Status(context.Background())
	for _, tc := range []struct {
		name  string
		files []part
		msg   string
	}{
		{"gif", []part{{"动图.gif", gif}}, "不支持 GIF 图片"},
		{"corrupt", []part{{"坏的.jpg", corrupt}}, "坏的.jpg"},
		{"good then gif", []part{{"好的.png", testPNG(t)}, {"动图.gif", gif}}, "不支持 GIF 图片"},
		{"oversize", []part{{"大.pdf", append([]byte("%PDF-1.4\n"), make([]byte, 5<<20)...)}}, "合计超过 4 MB"},
		{"none", nil, "请先选择"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			must(t, s.follow(s.upload("/visits/"+vid+"/files", tc.files...)), 200, tc.msg)
			if tc.name == "oversize" {
				// Once more without a Content-Length.
				must(t, s.follow(s.uploadBody("/visits/"+vid+"/files", true, tc.files...)), 200, tc.msg)
			}
			if got := hashes(t, s, vid); len(got) != 3 {
				t.Errorf("files now %d", len(got))
			}
			if st, _ := s.a.Status(context.Background()); st.Pending != before.Pending {
				t.Errorf("pending %d → %d", before.Pending, st.Pending)
			}
			if c, _ := s.a.Store.FileCounts(context.Background()); c.Pending != 3 {
				t.Errorf("attachments pending %d", c.Pending)
			}
		})
	}
	// Many oversize forms at once, with and without a Content-Length:
	// each refused, none kept.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			s.uploadBody("/visits/"+vid+"/files", i%2 == 0, part{"大.pdf", append([]byte("%PDF-1.4\n"), make([]byte, 5<<20)...)})
		})
	}
	wg.Wait()
	if c, _ := s.a.Store.FileCounts(context.Background()); c.Pending != 3 {
		t.Errorf("after 8 oversize forms at once: %d pending", c.Pending)
	}

	// 删除 before the county has it: gone from the record and the page.
	must(t, s.follow(s.post("/visits/"+vid+"/files/"+hs[1]+"/delete", url.Values{})), 200, "已删除「截图.png」")
	if got := hashes(t, s, vid); len(got) != 2 {
		t.Errorf("after delete: %v", got)
	}
	if r := s.get("/files/" + vid + "/" + hs[1]); r.Status != 404 {
		t.Errorf("a deleted file is still served: %d", r.Status)
	}
}

func TestFilesOnlyWithASessionAndOfTheRecord(t *testing.T) {
	s := attachStation(t, 0)
	s.setup("李明")
	vid := visitWithPerson(t, s)
	other := visitOfPerson(t, s, "张桂兰", memberID)
	s.follow(s.upload("/visits/"+vid+"/files", part{"a.jpg", testJPEG(t, 100, 80)}))
	h := hashes(t, s, vid)[0]
	must(t, s.get("/files/"+vid+"/"+h+"/thumb"), 200)
	// Another record's address does not serve it, nor a made-up one.
	for _, p := range []string{"/files/" + other + "/" + h + "/thumb", "/files/" + other + "/" + h, "/files/" + vid + "/" + strings.Repeat("0", 64), "/files/" + vid + "/../x"} {
		if r := s.get(p); r.Status == 200 {
			t.Errorf("%s served", p)
		}
	}
	// Nor to a browser without the session.
	anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/files/" + vid + "/" + h + "/thumb", "/files/" + vid + "/" + h} {
		r, err := anon.Get(s.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode == 200 || bytes.HasPrefix(b, []byte{0xFF, 0xD8}) {
			t.Errorf("%s served without a session: %d", p, r.StatusCode)
		}
	}
	// A form posted from another site adds nothing.
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	w, _ := mw.CreateFormFile("file", "x.png")
	w.Write(testPNG(t))
	mw.Close()
	req, _ := http.NewRequest("POST", s.srv.URL+"/visits/"+vid+"/files", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	r, err := s.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusForbidden || len(hashes(t, s, vid)) != 1 {
		t.Errorf("cross-site upload: %d, files %d", r.StatusCode, len(hashes(t, s, vid)))
	}
}

// After the county acknowledged a file, 删除 is refused, saying why, and
// the file stays on the record.
func TestDeleteRefusedAfterUpload(t *testing.T) {
	c := newCounty(t)
	s := attachStation(t, 0)
	s.setup("李明")
	vid := visitWithPerson(t, s)
	s.follow(s.upload("/visits/"+vid+"/files", part{"a.jpg", testJPEG(t, 100, 80)}))
	h := hashes(t, s, vid)[0]
	r := s.post("/enroll", url.Values{"server": {c.srv.URL}, "code": {c.code(t, village)}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("enrol: %d %s", r.Status, snippet(r.Body))
	}
	s.follow(s.post("/enroll/confirm", url.Values{}))
	for range 3 {
		s.post("/sync", url.Values{})
	}
	must(t, s.get("/visits/"+vid), 200, "已上传到县里")
	must(t, s.follow(s.post("/visits/"+vid+"/files/"+h+"/delete", url.Values{})), 200, "已上传到县里，不能再删除")
	if got := hashes(t, s, vid); len(got) != 1 {
		t.Errorf("after refused delete: %v", got)
	}
}

// An application's scans and a disclosure's photo go on their pages too;
// a submitted application takes no more until the county returns it, and
// its page says so instead of offering the form.
func TestAttachToApplicationAndDisclosure(t *testing.T) {
	s := attachStation(t, 0)
	s.setup("李明")
	pid := addPerson(t, s, "王秀英", goodID)
	app := created(t, s.post("/applications/new", url.Values{"applicant_id": {pid}, "type": {"最低生活保障"}, "reason": {"独居，无固定收入"},
		"household_income": {"420"}, "amount_requested": {"300"}, "m_name_0": {"王秀英"}, "m_relation_0": {"本人"}, "m_id_0": {goodID}, "m_income_0": {"120"}}))
	must(t, s.get("/applications/"+app), 200, `action="/applications/`+app+`/files"`)
	must(t, s.follow(s.upload("/applications/"+app+"/files", part{"户口簿.pdf", []byte(testPDF)}, part{"收入证明.jpg", testJPEG(t, 400, 300)})), 200, "已添加 2 个文件", "户口簿.pdf", "待上传")
	if n := len(hashes(t, s, app)); n != 2 {
		t.Fatalf("application has %d files", n)
	}
	s.follow(s.post("/applications/"+app+"/submit", url.Values{}))
	p := s.get("/applications/" + app)
	must(t, p, 200, "不能再添加证明材料")
	mustNot(t, p, `action="/applications/`+app+`/files"`, `/delete"`)
	must(t, s.follow(s.upload("/applications/"+app+"/files", part{"补充.pdf", []byte(testPDF + " ")})), 200, "不能再修改证明材料")
	must(t, s.follow(s.post("/applications/"+app+"/files/"+hashes(t, s, app)[0]+"/delete", url.Values{})), 200, "不能再修改证明材料")
	if n := len(hashes(t, s, app)); n != 2 {
		t.Fatalf("submitted application has %d files", n)
	}
	// A visit's address does not take an application's files.
	if r := s.upload("/visits/"+app+"/files", part{"a.pdf", []byte(testPDF)}); r.Status != http.StatusNotFound {
		t.Errorf("upload to an application through /visits/: %d", r.Status)
	}

	disc := created(t, s.post("/disclosures/new", url.Values{"category": {"救助对象公示"}, "title": {"公示"}, "body": {"拟纳入低保。"},
		"publish_from": {"2026-11-01"}, "publish_until": {"2026-11-08"}}))
	must(t, s.follow(s.upload("/disclosures/"+disc+"/files", part{"公示栏.png", testPNG(t)})), 200, "已添加 1 个文件", "公示栏.png")
	h := hashes(t, s, disc)
	if len(h) != 1 {
		t.Fatalf("disclosure has %d files", len(h))
	}
	must(t, s.get("/files/"+disc+"/"+h[0]+"/thumb"), 200)
}
