package countyweb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
)

// cameraJPEG is a w×h photo-like JPEG, distinct per seed; the station
// scales it as it would a phone's photo.
func cameraJPEG(_ testing.TB, w, h int, seed uint64) []byte { return gen.Photo(w, h, seed, 92) }

// scanPDF is a one-page PDF that a browser's viewer opens.
func scanPDF(text string) []byte { return gen.PDF(text) }

// attach attaches data to record id at station s as the cadre does.
func attach(t *testing.T, s *testsupport.Station, id, name string, data []byte) string {
	t.Helper()
	h, err := s.Attach(context.Background(), id, name, "村干部王芳", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("attach %s: %v", name, err)
	}
	return h
}

// A visit with two photos, a scanned PDF and a file the station has not
// sent yet, and a published notice with a photo, seen in Chromium at
// 1280 and 390 px: thumbnails load, the photo opens whole, the PDF opens
// in the browser's viewer, 附件上传中 is explained, nothing scrolls
// sideways; the notice's photo shows on the public portal.
// Screenshots: artifacts/screenshots/county/files-*.png.
func TestBrowserRecordFiles(t *testing.T) {
	ctx := context.Background()
	c := newCounty(t)
	s := c.station(t, village)
	g := gen.New(5)
	p := g.Person(village)
	pid := s.MustSave(t, records.Person, "", testsupport.Fields(p))
	vis := g.Visit(pid, time.Now())
	vis["situation"] = "老人独居，屋顶漏雨，已拍照留存。"
	vid := s.MustSave(t, records.Visit, "", testsupport.Fields(vis))
	attach(t, s, vid, "屋顶.jpg", cameraJPEG(t, 4000, 3000, 1))
	attach(t, s, vid, "厨房.jpg", cameraJPEG(t, 3000, 4000, 2))
	attach(t, s, vid, "低保证.pdf", scanPDF("Scan of certificate"))
	// A file named by the record that has not reached the county: the
	// record travels first.
	photos := mustAttachments(t, s, vid)
	notYet := sha256.Sum256([]byte("a photo still on the station"))
	photos = append(photos, hex.EncodeToString(notYet[:]))
	s.MustSave(t, records.Visit, vid, testsupport.Fields(map[string]any{"photos": photos}))
	dz := g.Disclosure("村务公开")
	delete(dz, "status")
	dz["publish_from"], dz["publish_until"] = time.Now().AddDate(0, 0, -1).Format(time.DateOnly), time.Now().AddDate(0, 0, 10).Format(time.DateOnly)
	dz["status"], dz["title"] = "published", "村务公开栏（照片）"
	did := s.MustSave(t, records.Disclosure, "", testsupport.Fields(dz))
	attach(t, s, did, "公开栏.jpg", cameraJPEG(t, 2000, 1500, 3))
	s.MustSync(t)
	have, err := c.store.Files(ctx, photos)
	if err != nil || len(have) != 3 {
		t.Fatalf("files at the county after a sync: %d, %v", len(have), err)
	}

	bctx := c.browser(t, 1280, 900, 3*time.Minute)
	c.logIn(t, bctx, "county")
	for _, w := range []int{1280, 390} {
		if err := chromedp.Do(bctx, chromedp.EmulateViewport(int64(w), 900), chromedp.Navigate(c.url+"/records/visit/"+vid), chromedp.WaitVisible(chromedp.CSS("#files"))); err != nil {
			t.Fatal(err)
		}
		waitThumbs(t, bctx, 2)
		for _, want := range []string{"附件上传中", "PDF", "照片 · "} {
			if txt, _ := chromedp.Run(bctx, chromedp.Text("#files")); !strings.Contains(txt, want) {
				t.Errorf("%d px: #files lacks %q: %s", w, want, txt)
			}
		}
		if over, _ := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.scrollingElement.scrollWidth > window.innerWidth`)); over {
			t.Errorf("%d px: the record page scrolls sideways", w)
		}
		// Each tile within the window, none squeezed under 120 px.
		if bad, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#files li.file')].filter(e => { const r = e.getBoundingClientRect(); return r.right > window.innerWidth || r.width < 120 }).map(e => e.dataset.hash.slice(0, 8)).join(',')`)); bad != "" {
			t.Errorf("%d px: tiles out of the window or squeezed: %s", w, bad)
		}
		if err := chromedp.Do(bctx, chromedp.ScrollIntoView(chromedp.CSS("#files"))); err != nil {
			t.Fatal(err)
		}
		shoot(t, bctx, fmt.Sprintf("files-record-%d", w))
	}
	// What the page weighs, with its thumbnails (logged for the README).
	weight, _ := chromedp.Run(bctx, chromedp.Evaluate[float64](`performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource')).reduce((s, e) => s + (e.encodedBodySize || 0), 0)`))
	t.Logf("record page with 2 thumbnails: %.0f KB of bodies (HTML, CSS, thumbnails)", weight/1024)

	// The photo, whole, as the link opens it.
	href, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#files a.thumb-link').href`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(href), chromedp.WaitVisible(chromedp.CSS("img"))); err != nil {
		t.Fatal(err)
	}
	if nw, _ := chromedp.Run(bctx, chromedp.Evaluate[int](`(async () => { const i = document.querySelector('img'); await i.decode(); return i.naturalWidth })()`, chromedp.EvalAwaitPromise)); nw != 1600 {
		t.Errorf("the photo opens %d px wide, want 1600 (the station's scaled photo)", nw)
	}
	shoot(t, bctx, "files-photo")
	// The PDF in the browser's viewer, under the sandbox policy.
	if err := chromedp.Do(bctx, chromedp.Navigate(c.url+"/records/visit/"+vid), chromedp.WaitVisible(chromedp.CSS("#files a.pdf"))); err != nil {
		t.Fatal(err)
	}
	pdf, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#files a.pdf').href`))
	if err := chromedp.Do(bctx, chromedp.Navigate(pdf)); err != nil {
		t.Fatal(err)
	}
	if typ, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.contentType`)); typ != "application/pdf" {
		t.Errorf("the PDF opened as %q", typ)
	}
	// The viewer draws after load, and a full-page screenshot misses
	// what it draws: the window as it is, a moment later (for the eye;
	// nothing is asserted on it).
	time.Sleep(2 * time.Second)
	png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shotDir(t), "files-pdf.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}

	// The public notice with its photo, on a phone (the portal needs no
	// log-in; server/web's tests ask it logged out).
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(c.url+"/public/d/"+did), chromedp.WaitVisible(chromedp.CSS("#notice"))); err != nil {
		t.Fatal(err)
	}
	waitThumbs(t, bctx, 1)
	if over, _ := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.scrollingElement.scrollWidth > window.innerWidth`)); over {
		t.Error("the public notice scrolls sideways")
	}
	shoot(t, bctx, "files-public-390")
}

// waitThumbs waits until n thumbnails have loaded on the page.
func waitThumbs(t *testing.T, bctx context.Context, n int) {
	t.Helper()
	js := fmt.Sprintf(`[...document.querySelectorAll('img.thumb')].filter(i => i.complete && i.naturalWidth > 0).length >= %d`, n)
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		got, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`[...document.querySelectorAll('img.thumb')].map(i => i.src + ' ' + i.naturalWidth).join('; ')`))
		t.Fatalf("thumbnails not loaded: %v (%s)", err, got)
	}
}

// mustAttachments is the hashes a record at the station names, in order.
func mustAttachments(t *testing.T, s *testsupport.Station, id string) []string {
	t.Helper()
	list, err := s.Attachments(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range list {
		out = append(out, a.Hash)
	}
	return out
}
