package countyweb

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/syncproto"
)

// TestBrowserReportsCharts: the reports page in Chromium with visits of
// the last months from three villages in two real townships. Every chart
// is an inline SVG whose bars carry <title> tooltips and take keyboard
// focus (with a visible mark); the visits legend names 三河镇 and 官亭镇
// from the official table with nothing typed; each chart's table as the
// page shows it is the CSV the link downloads; at 1280 and at 390 px the
// charts fit their boxes and the page never scrolls sideways. Screenshots:
// artifacts/screenshots/county/charts-1280.png, charts-390.png,
// charts-focus.png.
func TestBrowserReportsCharts(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skip("chromium not installed: run scripts/install-browser.sh")
	}
	ctx := context.Background()
	c := newCounty(t)
	g := gen.New(21)
	now := time.Now()
	for n, v := range []string{"340123101202", "340123101201", "340123103201"} {
		code, err := c.store.CreateCode(ctx, v, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		a := newStation(t)
		if _, err := a.Enroll(ctx, c.url, code+"-"+syncproto.ShortPin(c.pin)); err != nil {
			t.Fatal(err)
		}
		for i := range 4 + 2*n {
			p := g.Person(v)
			pid, err := a.Store.Save(ctx, records.Person, "", fields(p), "村干部")
			if err != nil {
				t.Fatal(err)
			}
			// Visits spread over the last five months, more in some.
			for k := range 1 + i%3 {
				if _, err := a.Store.Save(ctx, records.Visit, "", fields(g.Visit(pid, now.AddDate(0, -((i+k)%5), -k))), "村干部"); err != nil {
					t.Fatal(err)
				}
			}
			if i%3 == 0 {
				app := g.Application(pid, p)
				aid, err := a.Store.Save(ctx, records.Application, "", fields(app), "村干部")
				if err != nil {
					t.Fatal(err)
				}
				if err := a.Store.Intent(ctx, aid, records.OpSubmit, "", "村干部"); err != nil {
					t.Fatal(err)
				}
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
	eval := func(js string) bool {
		t.Helper()
		ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](js))
		must(js, err)
		return ok
	}
	save := func(name string, png []byte, err error) {
		t.Helper()
		must("screenshot "+name, err)
		must("write", os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
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
	must("reports", chromedp.Do(bctx, chromedp.Navigate(c.url+"/reports"), chromedp.WaitVisible(chromedp.CSS("#chart-visits .chart-svg svg"))))
	body, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("main")))
	must("text", err)
	if strings.Contains(body, "出错了") {
		t.Fatalf("the reports page is an error page:\n%.500s", body)
	}
	if !eval(`document.querySelectorAll('.chart-svg svg.chart-pic').length === 5 && !document.querySelector('.chart img')`) {
		t.Error("the five charts are not inline SVG")
	}
	if !eval(`Array.from(document.querySelectorAll('#chart-visits rect.bar')).every(r => r.querySelector('title') && r.querySelector('title').textContent.includes('次')) && document.querySelectorAll('#chart-visits rect.bar').length > 5`) {
		t.Error("the visits bars have no tooltips")
	}
	legend, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#chart-visits .legend")))
	must("legend", err)
	for _, want := range []string{"三河镇", "官亭镇"} {
		if !strings.Contains(legend, want) {
			t.Errorf("visits legend %q lacks %s", legend, want)
		}
	}
	ticks, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#chart-visits text.tick')).map(t => t.textContent)`))
	must("ticks", err)
	for _, tk := range ticks {
		if strings.ContainsAny(tk, ".") {
			t.Errorf("visits axis tick %q", tk)
		}
	}
	// The tables as shown are the CSVs.
	staff := c.login(t)
	for _, id := range []string{"visits", "coverage", "applications", "applications-months", "health"} {
		shown, err := chromedp.Run(bctx, chromedp.Evaluate[[][]string](`Array.from(document.querySelectorAll('#chart-`+id+` table tr')).map(tr => Array.from(tr.cells).map(c => c.textContent.trim()))`))
		must("table "+id, err)
		code, b := staff.get("/reports/" + id + ".csv")
		if code != 200 || !strings.HasPrefix(b, "\ufeff") {
			t.Fatalf("%s.csv: %d %.100q", id, code, b)
		}
		recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(b, "\ufeff"))).ReadAll()
		must("csv "+id, err)
		if len(shown) < 2 || !slices.EqualFunc(recs, shown, slices.Equal) {
			t.Errorf("%s: the CSV is not the table shown:\n csv %v\npage %v", id, recs, shown)
		}
	}

	fits := func(width int) {
		t.Helper()
		if !eval(`document.documentElement.scrollWidth <= window.innerWidth`) {
			w, _ := chromedp.Run(bctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
			t.Errorf("at %d px the page scrolls sideways (%d px wide)", width, w)
		}
		if !eval(`Array.from(document.querySelectorAll('svg.chart-pic')).every(s => s.getBoundingClientRect().right <= s.closest('figure').getBoundingClientRect().right + 0.5 && s.getBoundingClientRect().height > 50)`) {
			t.Errorf("at %d px a chart spills out of its box", width)
		}
	}
	fits(1280)
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	save("charts-1280", png, err)

	// Keyboard: Tab from one bar's column to the next marks it.
	must("focus", chromedp.Do(bctx,
		chromedp.Focus(chromedp.CSS("#chart-visits g.col")),
		chromedp.KeyEvent("\t"),
	))
	if !eval(`document.activeElement.matches('#chart-visits g.col:focus-visible') && document.activeElement.getAttribute('aria-label').includes('合计')`) {
		t.Error("Tab does not move a visible focus to the next column of the visits chart")
	}
	png, err = chromedp.Run(bctx, chromedp.Screenshot(chromedp.CSS("#chart-visits")))
	save("charts-focus", png, err)

	must("narrow", chromedp.Do(bctx, chromedp.EmulateViewport(390, 844), chromedp.Sleep(200*time.Millisecond)))
	fits(390)
	if !eval(`document.querySelector('#chart-visits svg.chart-pic').getBoundingClientRect().width < 390`) {
		t.Error("at 390 px the visits chart did not scale down")
	}
	png, err = chromedp.Run(bctx, chromedp.FullScreenshot(100))
	save("charts-390", png, err)
}
