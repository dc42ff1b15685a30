package countyweb

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
)

// TestBrowserOfficialPlaceNames: with no name typed anywhere, the county's
// record list and record page show a real village (340123101202) as
// 三河镇太华村 from the embedded official table, and a made-up village
// under its real township's name; screenshots at 1280 and 390 px
// (artifacts/screenshots/county/places-*.png).
func TestBrowserOfficialPlaceNames(t *testing.T) {
	const real = "340123101202"
	ctx := context.Background()
	c := newCounty(t)
	bctx := c.browser(t, 1280, 900, 2*time.Minute)
	g := gen.New(7)
	var pid string
	for _, v := range []string{real, village} {
		a := c.station(t, v)
		for range 3 {
			id, err := a.Store.Save(ctx, records.Person, "", testsupport.Fields(g.Person(v)), "村干部")
			if err != nil {
				t.Fatal(err)
			}
			if v == real {
				pid = id
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
	shots := func(name string) {
		t.Helper()
		for _, w := range []struct {
			suffix string
			w, h   int64
		}{{"", 1280, 900}, {"-390", 390, 844}} {
			must("viewport", chromedp.Do(bctx, chromedp.EmulateViewport(w.w, w.h)))
			shoot(t, bctx, "places-"+name+w.suffix)
		}
		must("viewport", chromedp.Do(bctx, chromedp.EmulateViewport(1280, 900)))
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		must("text "+sel, err)
		return s
	}

	c.logIn(t, bctx, "county")
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
