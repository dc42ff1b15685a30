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

// emptyRowsJS lists the table rows of main that, as laid out now, show
// mostly empty space: the text a person can see of the row (within the
// viewport and within the box that scrolls it) covers less than half of
// the row's height, the rest pushed tall by a cell out of sight.
const emptyRowsJS = `(() => {
  const vw = document.documentElement.clientWidth;
  const out = [];
  const r = document.createRange();
  for (const tr of document.querySelectorAll("main table tbody tr")) {
    const row = tr.getBoundingClientRect();
    if (row.height < 60) continue;
    let left = 0, right = vw;
    for (let a = tr.parentElement; a && a !== document.body; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o === "auto" || o === "scroll" || o === "hidden") {
        const b = a.getBoundingClientRect();
        left = Math.max(left, b.left); right = Math.min(right, b.right);
      }
    }
    let top = Infinity, bottom = -Infinity;
    const walker = document.createTreeWalker(tr, NodeFilter.SHOW_TEXT);
    for (let n; (n = walker.nextNode());) {
      if (!n.textContent.trim()) continue;
      r.selectNodeContents(n);
      for (const q of r.getClientRects()) {
        if (q.width === 0 || q.right <= left || q.left >= right) continue;
        top = Math.min(top, q.top); bottom = Math.max(bottom, q.bottom);
      }
    }
    const seen = bottom > top ? bottom - top : 0;
    if (seen < row.height / 2) {
      const t = tr.closest("table");
      out.push((t.id ? "#" + t.id : "table") + " row “" + tr.innerText.replace(/\s+/g, " ").slice(0, 30) + "”: " + Math.round(row.height) + " px tall, " + Math.round(seen) + " px of it in view");
    }
  }
  return out;
})()`

// TestVersionsOnAPhone: on a 390 px phone the record page's 版本历史 shows
// each version whole, with what it changed: a row is not stretched tall by
// its 修改内容 squeezed into a column scrolled out of sight, leaving the
// columns in view mostly empty; at 1280 px they stay a table. Screenshots:
// artifacts/screenshots/county/versions-390.png, versions-1280.png.
func TestVersionsOnAPhone(t *testing.T) {
	ctx := context.Background()
	c := newCounty(t)
	bctx := c.browser(t, 390, 844, 2*time.Minute)
	a := c.station(t, village)
	g := gen.New(5)
	p := g.Person(village)
	pid, err := a.Store.Save(ctx, records.Person, "", testsupport.Fields(p), "村干部王芳")
	if err != nil {
		t.Fatal(err)
	}
	app := g.Application(pid, p)
	app["type"] = "最低生活保障"
	app["reason"] = "申请人父母常年在外务工，收入微薄，现由年迈的祖父母抚养。申请人今年考入县第一中学，学费和生活费负担较重。现申请教育救助，望予以批准。"
	aid, err := a.Store.Save(ctx, records.Application, "", testsupport.Fields(app), "村干部王芳")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store.Intent(ctx, aid, records.OpSubmit, "", "村干部王芳"); err != nil {
		t.Fatal(err)
	}
	a.MustSync(t)

	c.logIn(t, bctx, "county")
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(c.url+"/records/application/"+aid), chromedp.WaitReady(chromedp.CSS("#versions"))); err != nil {
		t.Fatal(err)
	}
	shoot(t, bctx, "versions-390")
	rows, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](emptyRowsJS))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) > 0 {
		t.Errorf("rows mostly empty at 390 px:\n  %s", strings.Join(rows, "\n  "))
	}
	// On a PC the versions stay a table, a version a row.
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 900), chromedp.Reload(), chromedp.WaitReady(chromedp.CSS("#versions"))); err != nil {
		t.Fatal(err)
	}
	shoot(t, bctx, "versions-1280")
	display, err := chromedp.Run(bctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("#versions td.small")).display`))
	if err != nil || display != "table-cell" {
		t.Errorf("at 1280 px a version's change is %q (%v), want a table cell", display, err)
	}
	changes, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#versions")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(changes, "学费和生活费") {
		t.Errorf("版本历史 lacks what the version changed: %.300s", changes)
	}
}
