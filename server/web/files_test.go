package web_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/internal/testlog"
	"stationsync/syncproto"
)

// files are the files of one village in the fixture: a visit with a
// photo, a PDF and one file not sent yet, an application's scan, a
// published disclosure's photo and a draft disclosure's photo.
type villageFiles struct {
	visit, app, pubDisc, draftDisc string
	photo, pdf, missing, scan      []byte
	pubPhoto, draftPhoto           []byte
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// testJPEG is a w×h photo-like JPEG, distinct per seed.
func testJPEG(_ testing.TB, w, h int, seed uint64) []byte { return gen.Photo(w, h, seed, 80) }

// testPDF is a one-page PDF a browser's viewer opens, with text.
func testPDF(text string) []byte { return gen.PDF(text) }

// addFiles records, through a station of its own with a key the test
// holds, records of village that name files, and sends every file but
// "missing" over the real upload calls (PROTOCOL.md §15.3).
func (f *fixture) addFiles(village string, seed uint64) *villageFiles {
	t := f.t
	ctx := context.Background()
	vf := &villageFiles{
		photo: testJPEG(t, 1600, 1200, seed), pdf: testPDF(fmt.Sprintf("Scan %d", seed)), missing: testJPEG(t, 64, 48, seed+100),
		scan: testJPEG(t, 800, 1100, seed+200), pubPhoto: testJPEG(t, 1200, 900, seed+300), draftPhoto: testJPEG(t, 640, 480, seed+400),
	}
	code, err := f.store.CreateCode(ctx, village, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	stn, err := f.store.Enroll(ctx, code, pub, "files-"+village, "test")
	if err != nil {
		t.Fatal(err)
	}
	b := &syncproto.Batch{Version: syncproto.Version, Station: stn.ID, Epoch: "files", Village: village}
	h := hlc.FromTime(time.Now().Add(-time.Minute))
	add := func(kind records.Kind, id string, fields map[string]any) string {
		h++
		fs := map[string]json.RawMessage{}
		for k, v := range fields {
			raw, _ := json.Marshal(v)
			fs[k] = raw
		}
		b.Changes = append(b.Changes, syncproto.Change{Seq: uint64(len(b.Changes) + 1), HLC: uint64(h), Kind: string(kind), ID: id, Op: string(records.OpUpsert), Fields: fs, By: "村干部"})
		return id
	}
	today := time.Now()
	vf.visit = add(records.Visit, village+"_vfiles01", map[string]any{"person_id": f.persons[village][0], "visited_on": today.Format(time.DateOnly), "method": "入户走访",
		"visitors": []string{"村干部"}, "situation": "老人在家，照片见附件。", "risk": "正常", "photos": []string{sum(vf.photo), sum(vf.pdf), sum(vf.missing)}})
	vf.app = add(records.Application, village+"_afiles01", map[string]any{"applicant_id": f.persons[village][1], "type": "临时救助", "reason": "房屋受损",
		"documents": []string{sum(vf.scan)}})
	vf.pubDisc = add(records.Disclosure, village+"_dfiles01", map[string]any{"category": "村务公开", "title": "公开栏照片" + village, "body": "见附件照片。",
		"publish_from": today.AddDate(0, 0, -1).Format(time.DateOnly), "publish_until": today.AddDate(0, 0, 6).Format(time.DateOnly), "status": "published",
		"attachments": []string{sum(vf.pubPhoto)}})
	vf.draftDisc = add(records.Disclosure, village+"_dfiles02", map[string]any{"category": "财务公开", "title": "草稿" + village, "body": "未发布。",
		"status": "draft", "attachments": []string{sum(vf.draftPhoto)}})
	res, err := f.store.Push(ctx, stn, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Results {
		if r.Status != syncproto.Applied {
			t.Fatalf("files change %d: %s %s", r.Seq, r.Code, r.Reason)
		}
	}
	c := syncproto.NewClient(f.http.URL)
	c.Station, c.Key, c.Now = stn.ID, key, time.Now
	for _, data := range [][]byte{vf.photo, vf.pdf, vf.scan, vf.pubPhoto, vf.draftPhoto} {
		const chunk = 256 << 10
		for off := 0; off < len(data); off += chunk {
			end := min(off+chunk, len(data))
			res, err := c.PutChunk(ctx, sum(data), int64(len(data)), int64(off), data[off:end])
			if err != nil {
				t.Fatalf("upload %.12s at %d: %v", sum(data), off, err)
			}
			if end == len(data) && !res.Complete {
				t.Fatalf("upload %.12s: not complete at its end", sum(data))
			}
		}
	}
	return vf
}

// The record page shows a tile per file: a thumbnail that links the
// photo, a PDF with its size, and 附件上传中 for a file not yet there.
func TestRecordPageShowsFiles(t *testing.T) {
	log := &testlog.Errors{}
	f := newFixtureLogged(t, slog.New(log))
	defer noErrors(t, log)
	vf := f.addFiles(villA, 1)
	c := f.login("towna")
	r := c.get("/records/visit/" + vf.visit)
	if r.StatusCode != 200 {
		t.Fatalf("visit page: %d", r.StatusCode)
	}
	for _, want := range []string{
		`id="files"`,
		`href="/files/` + sum(vf.photo) + `"`, `src="/files/` + sum(vf.photo) + `/thumb"`,
		`href="/files/` + sum(vf.pdf) + `"`, fmt.Sprintf("PDF · %d 字节", len(vf.pdf)),
		`data-hash="` + sum(vf.missing) + `"`, "附件上传中", "网络允许时自动补传",
		"3 个文件", // the 照片 field counts them instead of listing hashes
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("visit page lacks %q", want)
		}
	}
	if strings.Contains(r.body, `href="/files/`+sum(vf.missing)) {
		t.Error("a file not at the county is linked")
	}
	// The fields table and the version history show no hash.
	if n := strings.Count(r.body, sum(vf.photo)); n != 3 { // the tile's data-hash, link and thumbnail
		t.Errorf("the photo's hash appears %d times, want 3 (only in its tile)", n)
	}
	if r := c.get("/records/application/" + vf.app); !strings.Contains(r.body, `src="/files/`+sum(vf.scan)+`/thumb"`) {
		t.Error("application page lacks its scan")
	}
	if r := c.get("/records/person/" + f.persons[villA][0]); strings.Contains(r.body, `id="files"`) {
		t.Error("a person's page has a files section")
	}

	// The photo, whole.
	p := c.get("/files/" + sum(vf.photo))
	if p.StatusCode != 200 || p.body != string(vf.photo) {
		t.Fatalf("photo: %d, %d bytes", p.StatusCode, len(p.body))
	}
	checkFileHeaders(t, p, "image/jpeg", "private")
	d := c.get("/files/" + sum(vf.pdf))
	if d.StatusCode != 200 || d.body != string(vf.pdf) {
		t.Fatalf("pdf: %d", d.StatusCode)
	}
	checkFileHeaders(t, d, "application/pdf", "private")

	// The thumbnail: a JPEG of 320 px on its long side.
	th := c.get("/files/" + sum(vf.photo) + "/thumb")
	if th.StatusCode != 200 || th.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("thumb: %d %s", th.StatusCode, th.Header.Get("Content-Type"))
	}
	cfg, err := jpeg.DecodeConfig(strings.NewReader(th.body))
	if err != nil || cfg.Width != 320 || cfg.Height != 240 {
		t.Fatalf("thumb: %v %dx%d", err, cfg.Width, cfg.Height)
	}
	if len(th.body) >= len(vf.photo)/4 {
		t.Errorf("thumb is %d bytes of a %d-byte photo", len(th.body), len(vf.photo))
	}
	if !strings.HasPrefix(th.Header.Get("Cache-Control"), "private") || th.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("thumb headers: %v", th.Header)
	}
	// Asked again with its tag: not sent again.
	req, _ := http.NewRequest(http.MethodGet, f.http.URL+"/files/"+sum(vf.photo)+"/thumb", nil)
	req.Header.Set("If-None-Match", th.Header.Get("ETag"))
	if r := c.do(req); r.StatusCode != http.StatusNotModified {
		t.Errorf("thumb with its ETag: %d", r.StatusCode)
	}
	// A PDF has no thumbnail; a file not there is not found.
	for _, p := range []string{"/files/" + sum(vf.pdf) + "/thumb", "/files/" + sum(vf.missing), "/files/" + sum(vf.missing) + "/thumb"} {
		if r := c.get(p); r.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, r.StatusCode)
		}
	}
}

// noErrors fails the test if the county logged an error.
func noErrors(t *testing.T, log *testlog.Errors) {
	t.Helper()
	if errs := log.Take(); len(errs) > 0 {
		t.Errorf("the county logged %d errors, first: %s", len(errs), errs[0])
	}
}

func checkFileHeaders(t *testing.T, r response, typ, cache string) {
	t.Helper()
	h := r.Header
	if h.Get("Content-Type") != typ || h.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(h.Get("Cache-Control"), cache) {
		t.Errorf("headers: type %q, nosniff %q, cache %q", h.Get("Content-Type"), h.Get("X-Content-Type-Options"), h.Get("Cache-Control"))
	}
	disp, params, err := mime.ParseMediaType(h.Get("Content-Disposition"))
	if err != nil || disp != "inline" || !strings.HasPrefix(params["filename"], "附件-") || strings.ContainsAny(params["filename"], `/\"`) {
		t.Errorf("Content-Disposition %q: %v %q %v", h.Get("Content-Disposition"), err, disp, params)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q: no sandbox", csp)
	}
}

// spellings are ways of writing a file's address that are not its
// address: each must lead nowhere near the file for someone who may not
// see it (and, for one who may, to the file or to nothing).
func spellings(r *rand.Rand, hash string) []string {
	fixed := []string{
		strings.ToUpper(hash), hash + "/", hash + "//", hash + ".jpg", hash + ".pdf", hash + "%2F", hash + "%00", hash + "%20", " " + hash,
		"../" + hash, "x/../" + hash, "./" + hash, "%2e%2e/" + hash, "%2E%2E%2F" + hash, "..%2F" + hash, hash + "/..", hash + "/.",
		hash + "/thumb/", hash + "/thumb/..", hash + "/THUMB", hash + "/thumb.jpg", hash + "?thumb=1", hash + "?hash=" + hash, hash + ";x=1",
		hash + "#x", url.PathEscape(hash), strings.ReplaceAll(hash, "a", "%61"), strings.ReplaceAll(hash, "0", "%30"), strings.ReplaceAll(hash, "0", "%2530"),
		hash[:63], hash + "0", hash[1:] + "0", "\\" + hash, hash + "\\", hash[:32] + "/" + hash[32:], hash + "%0a", "%20" + hash,
		hash + "/thumb?x=..%2F", "sha256:" + hash, hash + "\t",
	}
	// Random compositions of the above's pieces.
	ops := []func(string) string{
		strings.ToUpper,
		func(s string) string { return s + "/" },
		func(s string) string { return "../" + s },
		func(s string) string { return s + ".jpg" },
		func(s string) string { return strings.Replace(s, "e", "%65", 1) },
		func(s string) string { return strings.Replace(s, "e", "E", 1) },
		func(s string) string { return s + "/thumb" },
		func(s string) string { return "." + s },
		func(s string) string { return s + "?" + url.Values{"h": {hash}}.Encode() },
		func(s string) string { return url.PathEscape(s) },
		func(s string) string { return strings.Replace(s, "/", "%2F", -1) },
	}
	for range 80 {
		s := hash
		for range 1 + r.IntN(3) {
			s = ops[r.IntN(len(ops))](s)
		}
		fixed = append(fixed, s)
	}
	return fixed
}

// fetchFollowing gets path as c, following the server's redirects (a
// path cleaned by the mux) as a browser would.
func (c *client) fetchFollowing(path string) response {
	c.t.Helper()
	for range 5 {
		req, err := http.NewRequest(http.MethodGet, c.f.http.URL+path, nil)
		if err != nil {
			return response{StatusCode: 400}
		}
		r := c.do(req)
		loc := r.Header.Get("Location")
		if r.StatusCode/100 != 3 || loc == "" {
			return r
		}
		u, err := url.Parse(loc)
		if err != nil {
			return r
		}
		path = u.RequestURI()
	}
	c.t.Fatalf("%s: too many redirects", path)
	return response{}
}

// leaks reports whether an answer hands over any of the file's bytes or
// its name in a place only its tile would have it.
func leaks(r response, data []byte) bool {
	if r.StatusCode == 200 && !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		return true
	}
	return strings.Contains(r.body, string(data[:min(256, len(data))])) || strings.Contains(r.body, sum(data))
}

// A township clerk gets nothing of a file only another township's
// records name, however its address is spelled; the county's staff get
// it at its address only.
func TestFileScopeSpellings(t *testing.T) {
	log := &testlog.Errors{}
	f := newFixtureLogged(t, slog.New(log))
	defer noErrors(t, log)
	fa := f.addFiles(villA, 1)
	fb := f.addFiles(villB, 2)
	towna, county := f.login("towna"), f.login("county")
	r := rand.New(rand.NewPCG(17, 17))
	for _, data := range [][]byte{fb.photo, fb.pdf, fb.scan, fb.draftPhoto, fb.pubPhoto} {
		hash := sum(data)
		for _, base := range []string{"/files/", "/files/" + hash + "/../", "/FILES/", "/files//", "/public/../files/", "/api/../files/"} {
			for _, sp := range append(spellings(r, hash), hash, hash+"/thumb") {
				p := base + sp
				if ans := towna.fetchFollowing(p); leaks(ans, data) {
					t.Errorf("township A got township B's file at %q: %d %s", p, ans.StatusCode, ans.Header.Get("Content-Type"))
				}
			}
		}
		// The county's staff may, at its address (the control: the
		// spellings above do reach a file when it is allowed).
		if ans := county.get("/files/" + hash); ans.StatusCode != 200 || ans.body != string(data) {
			t.Errorf("county staff: %d for %.12s", ans.StatusCode, hash)
		}
		if ans := towna.get("/files/" + hash); ans.StatusCode != 404 || strings.Contains(ans.body, hash) {
			t.Errorf("township A at the address: %d", ans.StatusCode)
		}
	}
	// Its own township's files, at their address; no other spelling
	// serves another file or a wrong type.
	if ans := towna.get("/files/" + sum(fa.photo)); ans.StatusCode != 200 || ans.body != string(fa.photo) {
		t.Errorf("township A, own photo: %d", ans.StatusCode)
	}
	for _, sp := range spellings(r, sum(fa.photo)) {
		ans := towna.fetchFollowing("/files/" + sp)
		if ans.StatusCode == 200 && !strings.HasPrefix(ans.Header.Get("Content-Type"), "text/html") && ans.body != string(fa.photo) && !strings.Contains(sp, "thumb") {
			t.Errorf("township A, %q: %d bytes of something else", sp, len(ans.body))
		}
	}
	// Logged out: the log-in page, never the file.
	anon := f.client()
	for _, p := range []string{"/files/" + sum(fa.photo), "/files/" + sum(fa.photo) + "/thumb"} {
		if ans := anon.get(p); ans.StatusCode != http.StatusSeeOther || !strings.HasPrefix(ans.Header.Get("Location"), "/login") {
			t.Errorf("logged out %s: %d %s", p, ans.StatusCode, ans.Header.Get("Location"))
		}
	}
}

// The portal serves a file only while a disclosure it shows names it: a
// visit's photo, an application's scan or a draft's photo is never
// public, however its address is spelled; a published notice's photo is,
// until its window ends.
func TestPublicFilesOnlyShownDisclosures(t *testing.T) {
	log := &testlog.Errors{}
	f := newFixtureLogged(t, slog.New(log))
	defer noErrors(t, log)
	fa := f.addFiles(villA, 1)
	fb := f.addFiles(villB, 2)
	anon := f.client()
	r := rand.New(rand.NewPCG(5, 5))
	for _, vf := range []*villageFiles{fa, fb} {
		for _, data := range [][]byte{vf.photo, vf.pdf, vf.scan, vf.draftPhoto, vf.missing} {
			hash := sum(data)
			for _, sp := range append(spellings(r, hash), hash, hash+"/thumb") {
				for _, base := range []string{"/public/f/", "/public/d/" + vf.pubDisc + "/../../f/", "/public/f/" + sum(vf.pubPhoto) + "/../", "/public/F/"} {
					if ans := anon.fetchFollowing(base + sp); leaks(ans, data) {
						t.Errorf("a visitor got %q: %d %s", base+sp, ans.StatusCode, ans.Header.Get("Content-Type"))
					}
				}
			}
		}
		// The published notice's photo: on its page, and public.
		page := anon.get("/public/d/" + vf.pubDisc)
		if !strings.Contains(page.body, `src="/public/f/`+sum(vf.pubPhoto)+`/thumb"`) {
			t.Errorf("notice page lacks its photo")
		}
		p := anon.get("/public/f/" + sum(vf.pubPhoto))
		if p.StatusCode != 200 || p.body != string(vf.pubPhoto) {
			t.Fatalf("public photo: %d", p.StatusCode)
		}
		checkFileHeaders(t, p, "image/jpeg", "no-cache")
		if th := anon.get("/public/f/" + sum(vf.pubPhoto) + "/thumb"); th.StatusCode != 200 || th.Header.Get("Content-Type") != "image/jpeg" {
			t.Errorf("public thumb: %d", th.StatusCode)
		}
		if strings.Contains(page.body, sum(vf.draftPhoto)) || strings.Contains(page.body, sum(vf.photo)) {
			t.Error("the notice page names a file no shown disclosure names")
		}
	}
	// The draft's photo is the staff's (in scope), not the public's.
	if ans := f.login("towna").get("/files/" + sum(fa.draftPhoto)); ans.StatusCode != 200 {
		t.Errorf("staff, draft photo: %d", ans.StatusCode)
	}
	// Past the window the notice and its photo are gone from the portal.
	f.now.Add(int64(30 * 24 * time.Hour / time.Millisecond))
	if ans := anon.get("/public/f/" + sum(fa.pubPhoto)); ans.StatusCode != 404 {
		t.Errorf("photo of an expired notice: %d", ans.StatusCode)
	}
	if ans := anon.get("/public/f/" + sum(fa.pubPhoto) + "/thumb"); ans.StatusCode != 404 {
		t.Errorf("thumb of an expired notice: %d", ans.StatusCode)
	}
}

// The API lists a record's files — arrived or not, size and type — with
// the hashes unmasked whatever the user may see of numbers.
func TestAPIRecordFiles(t *testing.T) {
	f := newFixture(t)
	vf := f.addFiles(villA, 1)
	r := f.login("towna").get("/api/records/visit/" + vf.visit)
	var got struct {
		Fields map[string]json.RawMessage `json:"fields"`
		Files  []struct {
			Hash    string `json:"hash"`
			Arrived bool   `json:"arrived"`
			Type    string `json:"type"`
			Size    int64  `json:"size"`
			URL     string `json:"url"`
			Thumb   string `json:"thumb"`
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	var photos []string
	json.Unmarshal(got.Fields["photos"], &photos)
	want := []string{sum(vf.photo), sum(vf.pdf), sum(vf.missing)}
	if strings.Join(photos, ",") != strings.Join(want, ",") {
		t.Errorf("photos field %v, want %v", photos, want)
	}
	if len(got.Files) != 3 {
		t.Fatalf("files: %+v", got.Files)
	}
	if g := got.Files[0]; !g.Arrived || g.Type != "image/jpeg" || g.Size != int64(len(vf.photo)) || g.URL != "/files/"+want[0] || g.Thumb != "/files/"+want[0]+"/thumb" {
		t.Errorf("photo: %+v", g)
	}
	if g := got.Files[1]; !g.Arrived || g.Type != "application/pdf" || g.Thumb != "" {
		t.Errorf("pdf: %+v", g)
	}
	if g := got.Files[2]; g.Arrived || g.URL != "" || g.Hash != want[2] {
		t.Errorf("missing: %+v", g)
	}
}

// Many staff and visitors at once, each asking for files and thumbnails
// in and out of their scope: every answer is the one its rule gives.
func TestFilesConcurrent(t *testing.T) {
	log := &testlog.Errors{}
	f := newFixtureLogged(t, slog.New(log))
	defer noErrors(t, log)
	fa := f.addFiles(villA, 1)
	fb := f.addFiles(villB, 2)
	users := map[string]*client{"towna": f.login("towna"), "townb": f.login("townb"), "county": f.login("county"), "": f.client()}
	type ask struct {
		user, path string
		want       int
		body       []byte // the file, for a 200 of the file itself
	}
	var asks []ask
	for _, x := range []struct {
		vf   *villageFiles
		town string
	}{{fa, "towna"}, {fb, "townb"}} {
		for _, data := range [][]byte{x.vf.photo, x.vf.scan, x.vf.pubPhoto} {
			h := sum(data)
			for u := range users {
				staffOK := u == "county" || u == x.town
				want := map[bool]int{true: 200, false: 404}[staffOK]
				if u == "" {
					want = 303 // to the log-in page
				}
				asks = append(asks, ask{u, "/files/" + h, want, data}, ask{u, "/files/" + h + "/thumb", want, nil})
				pub := map[bool]int{true: 200, false: 404}[bytes.Equal(data, x.vf.pubPhoto)]
				asks = append(asks, ask{u, "/public/f/" + h, pub, data}, ask{u, "/public/f/" + h + "/thumb", pub, nil})
			}
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, len(asks)*4)
	for round := range 4 {
		for i, a := range asks {
			wg.Go(func() {
				r := users[a.user].get(a.path)
				if r.StatusCode != a.want {
					errs <- fmt.Sprintf("round %d ask %d %q %s: %d, want %d", round, i, a.user, a.path, r.StatusCode, a.want)
					return
				}
				if a.want == 200 && a.body != nil && r.body != string(a.body) {
					errs <- fmt.Sprintf("%q %s: wrong bytes", a.user, a.path)
				}
				if a.want == 200 && a.body == nil {
					if c, err := jpeg.DecodeConfig(strings.NewReader(r.body)); err != nil || max(c.Width, c.Height) != 320 {
						errs <- fmt.Sprintf("%q %s: thumb %v %dx%d", a.user, a.path, err, c.Width, c.Height)
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
