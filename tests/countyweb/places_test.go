package countyweb

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/syncproto"
)

// TestBrowserOfficialPlaceNames: with no name typed anywhere, the county's
// record list and record page show a real village (340123101202) as
// 三河镇太华村 from the embedded official table, and a made-up village
// under its real township's name; screenshots at 1280 and 390 px
// (artifacts/screenshots/county/places-*.png).
func TestBrowserOfficialPlaceNames(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skip("chromium not installed: run scripts/install-browser.sh")
	}
	const real = "340123101202"
	ctx := context.Background()
	c := newCounty(t)
	g := gen.New(7)
	var pid string
	for _, v := range []string{real, village} {
		code, err := c.store.CreateCode(ctx, v, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		a := newStation(t)
		if _, err := a.Enroll(ctx, c.url, code+"-"+syncproto.ShortPin(c.pin)); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			id, err := a.Store.Save(ctx, records.Person, "", fields(g.Person(v)), "村干部")
			if err != nil {
				t.Fatal(err)
			}
			if v == real {
				pid = id
			}
		}
		syncOK(t, a)
	}

	conn, err := tls.Dial("tcp", c.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].RawSubjectPublicKeyInfo)
	conn.Close()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])),
		chromedp.Flag("lang", "zh-CN"), chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	bctx, cancel = context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()
	dir := shotDir(t)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	shots := func(name string) {
		t.Helper()
		for _, w := range []struct {
			suffix string
			w, h   int64
		}{{"", 1280, 900}, {"-390", 390, 844}} {
			must("viewport", chromedp.Do(bctx, chromedp.EmulateViewport(w.w, w.h)))
			png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
			must("screenshot "+name, err)
			must("write", os.WriteFile(filepath.Join(dir, "places-"+name+w.suffix+".png"), png, 0o644))
		}
		must("viewport", chromedp.Do(bctx, chromedp.EmulateViewport(1280, 900)))
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		must("text "+sel, err)
		return s
	}

	must("login", chromedp.Do(bctx,
		chromedp.Navigate(c.url+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#username"), "county"),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Click(chromedp.CSS("#login-btn")),
	))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		loc, err := chromedp.Run(bctx, chromedp.Location())
		if err == nil && !strings.Contains(loc, "/login") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still at %s after logging in", loc)
		}
	}
	must("list", chromedp.Do(bctx, chromedp.Navigate(c.url+"/records/person"), chromedp.WaitReady(chromedp.CSS("main"))))
	if loc, _ := chromedp.Run(bctx, chromedp.Location()); !strings.Contains(loc, "/records/person") {
		t.Fatalf("at %s:\n%s", loc, text("body"))
	}
	list := text("#list")
	for _, want := range []string{"三河镇太华村（" + real + "）", "三河镇 " + village} {
		if !strings.Contains(list, want) {
			t.Errorf("person list lacks %q:\n%s", want, list)
		}
	}
	shots("list")
	must("record", chromedp.Do(bctx, chromedp.Navigate(c.url+"/records/person/"+pid), chromedp.WaitVisible(chromedp.CSS("#fields"))))
	if body := text("main"); !strings.Contains(body, "村：三河镇太华村（"+real+"）") {
		t.Errorf("record page lacks 村：三河镇太华村:\n%.600s", body)
	}
	shots("record")
}
