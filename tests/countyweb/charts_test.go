package countyweb

import (
	"context"
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
	"stationsync/internal/testsupport"
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
	ctx := context.Background()
	c := newCounty(t)
	bctx := c.browser(t, 1280, 900, 2*time.Minute)
	g := gen.New(21)
	now := time.Now()
	for n, v := range []string{"340123101202", "340123101201", "340123103201"} {
		a := c.station(t, v)
		for i := range 4 + 2*n {
			p := g.Person(v)
			pid, err := a.Store.Save(ctx, records.Person, "", testsupport.Fields(p), "村干部")
			if err != nil {
				t.Fatal(err)
			}
			// Visits spread over the last five months, more in some.
			for k := range 1 + i%3 {
				if _, err := a.Store.Save(ctx, records.Visit, "", testsupport.Fields(g.Visit(pid, now.AddDate(0, -((i+k)%5), -k))), "村干部"); err != nil {
					t.Fatal(err)
				}
			}
			if i%3 == 0 {
				app := g.Application(pid, p)
				aid, err := a.Store.Save(ctx, records.Application, "", testsupport.Fields(app), "村干部")
				if err != nil {
					t.Fatal(err)
				}
				if err := a.Store.Intent(ctx, aid, records.OpSubmit, "", "村干部"); err != nil {
					t.Fatal(err)
				}
			}
		}
		a.MustSync(t)
	}

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
		must("write", os.WriteFile(filepath.Join(shotDir(t), name+".png"), png, 0o644))
	}

	c.logIn(t, bctx, "county")
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
