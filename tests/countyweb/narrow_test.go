package countyweb

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
)

// layoutCheckJS looks at the page as laid out now and lists what a person
// at this width could not read or reach (tests/browser has the same
// script for the station's pages):
//   - the page itself scrolls sideways;
//   - a piece of text sticks out of the viewport, and no box that scrolls
//     on its own (overflow auto/scroll) holds it;
//   - text is cut by a box that hides its overflow (an ellipsis is meant);
//   - text is squeezed into a column too narrow for it: three characters
//     or more on two lines or more, fewer than three characters a line;
//   - a button, link of a menu or tab bar, or form field lies beyond the
//     viewport outside a box that scrolls;
//   - a main action of the page (the selector main) is missing or not
//     wholly on the screen's width as the page opens, even in a box that
//     scrolls; so is the menu's or tab bar's link to the page shown.
const layoutCheckJS = `((main) => {
  const vw = document.documentElement.clientWidth;
  const out = [];
  const se = document.scrollingElement;
  if (se.scrollWidth > se.clientWidth) out.push("page scrolls sideways: " + se.scrollWidth + " px wide in " + se.clientWidth);
  const scroller = el => {
    for (let a = el.parentElement; a && a !== document.body && a !== document.documentElement; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o === "auto" || o === "scroll") return a;
    }
    return null;
  };
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (typeof el.className === "string" && el.className.trim() ? "." + el.className.trim().split(/\s+/).join(".") : "");
  const r = document.createRange();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n; (n = walker.nextNode());) {
    const text = n.textContent.replace(/\s+/g, " ").trim();
    if (!text) continue;
    const el = n.parentElement;
    if (!el || el.closest("script,style,noscript,template,option,select,textarea")) continue;
    if (!el.checkVisibility({visibilityProperty: true})) continue;
    r.selectNodeContents(n);
    const rects = [...r.getClientRects()].filter(q => q.width > 0 && q.height > 0);
    if (!rects.length) continue;
    const where = name(el) + " “" + text.slice(0, 24) + "”";
    // What a box that hides its overflow cuts off is not on the screen;
    // cut with an ellipsis it is meant, else it is lost.
    let seen = rects.map(q => ({left: q.left, right: q.right}));
    for (let a = el; a && a !== document.body; a = a.parentElement) {
      const cs = getComputedStyle(a);
      if (cs.overflowX !== "hidden" && cs.overflowX !== "clip") continue;
      const box = a.getBoundingClientRect();
      if (cs.textOverflow !== "ellipsis" && rects.some(q => q.right > box.right + 1 || q.left < box.left - 1)) out.push("text cut by " + name(a) + ": " + where);
      seen = seen.map(q => ({left: Math.max(q.left, box.left), right: Math.min(q.right, box.right)}));
      break;
    }
    const sc = scroller(el);
    const off = seen.find(q => q.left < -1 || q.right > vw + 1);
    if (!sc && off) out.push("text beyond the viewport (" + Math.round(off.left) + "–" + Math.round(off.right) + " of " + vw + "): " + where);
    const chars = [...text.replace(/\s/g, "")].length;
    if (chars >= 3 && rects.length >= 2 && chars / rects.length < 3) out.push("squeezed to " + rects.length + " lines: " + where);
  }
  for (const el of document.querySelectorAll("button, .btn, input:not([type=hidden]), select, textarea, nav a, .tabs a")) {
    if (!el.checkVisibility({visibilityProperty: true})) continue;
    const q = el.getBoundingClientRect();
    if (!q.width || scroller(el)) continue;
    if (q.left < -1 || q.right > vw + 1) out.push("control beyond the viewport (" + Math.round(q.left) + "–" + Math.round(q.right) + " of " + vw + "): " + name(el) + " “" + (el.innerText || el.value || el.name || "").trim().slice(0, 24) + "”");
  }
  if (main !== null) {
    const vis = sel => [...document.querySelectorAll(sel)].filter(el => el.checkVisibility({visibilityProperty: true}));
    const found = main ? vis(main) : [];
    if (main && !found.length) out.push("no main action " + main);
    for (const el of found.concat(vis("nav a.on, .tabs a.on"))) {
      const q = el.getBoundingClientRect();
      if (q.left < -1 || q.right > vw + 1) out.push("main action off the screen (" + Math.round(q.left) + "–" + Math.round(q.right) + " of " + vw + "): " + name(el) + " “" + (el.innerText || el.value || "").trim().slice(0, 24) + "”");
    }
  }
  return out;
})`

// viewport is a width a person meets: a phone, an old station PC, and the
// A4 sheet (794 px at 96 dpi; 658 px inside the station's 18 mm margins).
type viewport struct {
	name  string
	w, h  int64
	print bool
}

var (
	phone  = viewport{"390", 390, 844, false}
	oldPC  = viewport{"1024", 1024, 768, false}
	a4     = viewport{"print794", 794, 1123, true}
	a4Body = viewport{"print658", 658, 1123, true}
)

// narrowWalk opens pages in one browser tab and checks each at the widths
// asked for, saving a screenshot of each (narrow-<width>-<side>-<page>.png).
type narrowWalk struct {
	t      *testing.T
	ctx    context.Context
	base   string
	dir    string
	side   string
	failed map[string]bool // page names with a problem
}

func (n *narrowWalk) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	n.t.Helper()
	if err := chromedp.Do(n.ctx, steps...); err != nil {
		n.t.Fatalf("%s: %v", what, err)
	}
}

// page opens path, waits for sel, and checks it at each width; main is
// the CSS selector of the page's main actions ("" for none).
func (n *narrowWalk) page(name, path, sel, main string, widths ...viewport) {
	n.t.Helper()
	n.do("open "+path, chromedp.Navigate(n.base+path), chromedp.WaitReady(chromedp.CSS(sel)))
	n.check(name, main, widths...)
}

// check looks at the page already open, at each width (390 and 1024 if
// none is named).
func (n *narrowWalk) check(name, main string, widths ...viewport) {
	n.t.Helper()
	if len(widths) == 0 {
		widths = []viewport{phone, oldPC}
	}
	for _, v := range widths {
		media := ""
		if v.print {
			media = "print"
		}
		n.do("viewport", chromedp.EmulateViewport(v.w, v.h), chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: media})
			return err
		}))
		png, err := chromedp.Run(n.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			n.t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(n.dir, fmt.Sprintf("narrow-%s-%s-%s.png", v.name, n.side, name)), png, 0o644); err != nil {
			n.t.Fatal(err)
		}
		arg, _ := json.Marshal(main)
		if v.print {
			arg = []byte("null") // no buttons on paper
		}
		probs, err := chromedp.Run(n.ctx, chromedp.Evaluate[[]string](layoutCheckJS+"("+string(arg)+")"))
		if err != nil {
			n.t.Fatalf("layout check %s: %v", name, err)
		}
		if len(probs) > 8 {
			probs = append(probs[:8], fmt.Sprintf("… and %d more", len(probs)-8))
		}
		if len(probs) > 0 {
			n.failed[name+"@"+v.name] = true
			n.t.Errorf("%s at %s px%s:\n  %s", name, v.name, map[bool]string{true: " (print)"}[v.print], strings.Join(probs, "\n  "))
		}
	}
	n.do("reset", chromedp.EmulateViewport(1280, 900), chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
		return err
	}))
}

// TestNarrowCountyPages: every county page, with two stations' realistic
// records (persons with family away, urgent visits, applications in each
// state decided through the pages, a disclosure, open conflicts, an audit
// log, a fresh enrolment code), at 390×844 and 1024×768: nothing makes
// the page scroll sideways, no text is cut or squeezed a character a line,
// every button and field is within reach; the public notice prints on A4.
// Screenshots: artifacts/screenshots/county/narrow-*.png.
func TestNarrowCountyPages(t *testing.T) {
	const real = "340123101202" // 三河镇太华村 in the official table
	ctx := context.Background()
	c := newCounty(t)
	bctx := c.browser(t, 1280, 900, 4*time.Minute)
	if _, err := c.store.CreateUser(ctx, server.NewUser{Username: "admin", DisplayName: "县民政局管理员刘建国", Role: server.RoleAdmin, Password: pw}); err != nil {
		t.Fatal(err)
	}
	g := gen.New(21)
	var persons, urgent []string
	apps := map[string]string{}
	var main *testsupport.Station
	for i, v := range []string{real, village} {
		a := c.station(t, v)
		if i == 0 {
			main = a
		}
		for j := range 6 {
			p := g.Person(v)
			pid, err := a.Store.Save(ctx, records.Person, "", testsupport.Fields(p), "村干部王芳")
			if err != nil {
				t.Fatal(err)
			}
			persons = append(persons, pid)
			for k, ago := range []int{200, 40, 3} {
				vis := g.Visit(pid, time.Now().AddDate(0, 0, -ago))
				if k == 2 && j%2 == 0 {
					vis["risk"], vis["measures"] = "紧急", "已联系村医上门，通知在外务工的儿子尽快回家，村干部每天去看一次。"
				}
				id, err := a.Store.Save(ctx, records.Visit, "", testsupport.Fields(vis), "村干部王芳")
				if err != nil {
					t.Fatal(err)
				}
				if vis["risk"] == "紧急" {
					urgent = append(urgent, id)
				}
			}
			if i == 0 {
				ap := g.Application(pid, p)
				ap["type"] = []string{"最低生活保障", "特困人员救助供养", "临时救助"}[j%3]
				delete(ap, "status")
				id, err := a.Store.Save(ctx, records.Application, "", testsupport.Fields(ap), "村干部王芳")
				if err != nil {
					t.Fatal(err)
				}
				if err := a.Store.Intent(ctx, id, records.OpSubmit, "材料已齐，请县里审核", "村干部王芳"); err != nil {
					t.Fatal(err)
				}
				apps[[]string{"submitted", "accepted", "reviewing", "approved", "rejected", "returned"}[j]] = id
			}
		}
		a.MustSync(t)
	}
	// Decisions through the county's own pages, so the audit log and the
	// state history are real.
	s := c.login(t)
	for _, d := range []url.Values{
		{"id": {apps["accepted"]}, "op": {"accept"}},
		{"id": {apps["reviewing"]}, "op": {"accept"}},
		{"id": {apps["reviewing"]}, "op": {"review"}, "comment": {"需入户核查家庭收入和赡养人情况"}},
		{"id": {apps["approved"]}, "op": {"accept"}},
		{"id": {apps["approved"]}, "op": {"approve"}, "amount": {"650"}, "from": {"2026-12"}, "comment": {"符合条件，予以批准"}},
		{"id": {apps["rejected"]}, "op": {"accept"}},
		{"id": {apps["rejected"]}, "op": {"reject"}, "comment": {"家庭人均收入高于当地最低生活保障标准，不符合条件"}},
		{"id": {apps["returned"]}, "op": {"return"}, "comment": {"请补充户口簿复印件和残疾证复印件，并写明赡养人收入"}},
	} {
		d.Set("back", "/applications")
		if r := s.post("/applications/decide", d); r.StatusCode != 303 {
			t.Fatalf("decide %v: %d", d, r.StatusCode)
		}
	}
	// A disclosure with a long web address, as a finance notice might have.
	dz := g.Disclosure("财务公开")
	dz["body"] = dz["body"].(string) + "\n明细可在县政府网站查询：http://www.feixi.gov.cn/content/column/6795961?type=6&tag=cwgk2026q4&village=" + real + "\n监督电话：0551-68812345"
	delete(dz, "status")
	dz["publish_from"], dz["publish_until"] = time.Now().AddDate(0, 0, -1).Format(time.DateOnly), time.Now().AddDate(0, 0, 20).Format(time.DateOnly)
	dz["status"], dz["reviewer"] = "published", "陈德明"
	disc, err := main.Store.Save(ctx, records.Disclosure, "", testsupport.Fields(dz), "村干部王芳")
	if err != nil {
		t.Fatal(err)
	}
	// Two open conflicts: the county and the station changed the same
	// fields of one person.
	if err := c.store.CountyEdit(ctx, records.Person, persons[0], testsupport.Fields(map[string]any{"phone": "13700000001", "health": "高血压、糖尿病，需每月复查，已申请家庭医生签约服务"}), "县民政局张三"); err != nil {
		t.Fatal(err)
	}
	if _, err := main.Store.Save(ctx, records.Person, persons[0], testsupport.Fields(map[string]any{"phone": "13700000002", "health": "高血压，行动不便，独自居住"}), "村干部王芳"); err != nil {
		t.Fatal(err)
	}
	main.MustSync(t)

	n := &narrowWalk{t: t, ctx: bctx, base: c.url, dir: shotDir(t), side: "county", failed: map[string]bool{}}

	// The public portal and the log-in page, before logging in.
	n.page("public", "/public/", "#villages", "#villages a")
	n.page("public-village", "/public/v/"+real, "#items", "#items a")
	n.page("public-notice", "/public/d/"+disc, "#notice", "", phone, oldPC, a4, a4Body)
	n.page("login", "/login", "#login", "#login-btn")
	c.logIn(t, bctx, "admin")
	n.check("home", "#attention a, button.link")
	n.page("queue", "/applications", "#list", ".tabs a.on, #bulk-btn, #export-csv")
	n.page("queue-returned", "/applications?status=returned", "#list", ".tabs a.on, #bulk-btn")
	for _, k := range []string{"overdue", "urgent", "review"} {
		n.page("followup-"+k, "/followup?k="+k, "#list", ".tabs a.on, .filters button")
	}
	for _, k := range records.Kinds {
		n.page("list-"+string(k), "/records/"+string(k), "#list", ".filters button, #export-xlsx")
	}
	n.page("record", "/records/person/"+persons[0], "#fields", "#edit button")
	n.page("record-visit", "/records/visit/"+urgent[0], "#fields", "")
	n.page("record-submitted", "/records/application/"+apps["submitted"], "#decide", "#decide-btn, #amount")
	n.page("record-reviewing", "/records/application/"+apps["reviewing"], "#decide", "#decide-btn, #amount")
	n.page("record-approved", "/records/application/"+apps["approved"], "#history", "")
	n.page("record-disclosure", "/records/disclosure/"+disc, "#fields", "")
	n.page("disclosure-form", "/applications/"+apps["approved"]+"/disclosure", "#disc-form", "#disc-btn")
	n.page("conflicts", "/conflicts", "#conflicts", "form.resolve button")
	n.page("reports", "/reports", "main", "")
	n.page("stations", "/stations", "#stations", "#code-btn")
	n.do("enrolment code",
		chromedp.SendKeys(chromedp.CSS("#code-village"), "340123101203"),
		chromedp.Click(chromedp.CSS("#code-btn")),
		chromedp.WaitVisible(chromedp.CSS("#new-code")),
	)
	n.check("stations-code", "#enrol-file")
	n.page("account", "/account", "#account", "#account button")
	n.page("users", "/users", "#users", "#users button, #user-form button")
	n.page("audit", "/audit", "#audit", ".filters button")
	n.page("settings", "/settings", "#settings", "#settings button")
	n.page("not-found", "/no/such/page", "main", "#back")
	if len(n.failed) > 0 {
		t.Logf("pages with a problem: %d", len(n.failed))
	}
}
