package browser

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
// at this width could not read or reach (tests/countyweb has the same
// script for the county's pages):
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
// A4 sheet (794 px at 96 dpi; 658 px inside print.css's 18 mm margins).
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
// asked for, saving a screenshot of each (narrow-<width>-station-<page>.png).
type narrowWalk struct {
	c      *cadre
	failed map[string]bool // page@width with a problem
}

// page opens path, waits for sel, and checks it at each width; main is
// the CSS selector of the page's main actions ("" for none).
func (n *narrowWalk) page(name, path, sel, main string, widths ...viewport) {
	n.c.t.Helper()
	n.c.do("open "+path, chromedp.Navigate(n.c.base+path), chromedp.WaitReady(chromedp.CSS(sel)))
	n.check(name, main, widths...)
}

// check looks at the page already open, at each width (390 and 1024 if
// none is named).
func (n *narrowWalk) check(name, main string, widths ...viewport) {
	t := n.c.t
	t.Helper()
	if len(widths) == 0 {
		widths = []viewport{phone, oldPC}
	}
	media := func(m string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: m})
			return err
		})
	}
	dir := shotDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, v := range widths {
		m := ""
		if v.print {
			m = "print"
		}
		n.c.do("viewport", chromedp.EmulateViewport(v.w, v.h), media(m))
		png, err := chromedp.Run(n.c.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("narrow-%s-station-%s.png", v.name, name)), png, 0o644); err != nil {
			t.Fatal(err)
		}
		arg, _ := json.Marshal(main)
		if v.print {
			arg = []byte("null") // no buttons on paper
		}
		probs, err := chromedp.Run(n.c.ctx, chromedp.Evaluate[[]string](layoutCheckJS+"("+string(arg)+")"))
		if err != nil {
			t.Fatalf("layout check %s: %v", name, err)
		}
		if len(probs) > 8 {
			probs = append(probs[:8], fmt.Sprintf("… and %d more", len(probs)-8))
		}
		if len(probs) > 0 {
			n.failed[name+"@"+v.name] = true
			t.Errorf("%s at %s px%s:\n  %s", name, v.name, map[bool]string{true: " (print)"}[v.print], strings.Join(probs, "\n  "))
		}
	}
	n.c.do("reset", chromedp.EmulateViewport(1280, 900), media(""))
}

// TestNarrowStationPages: every station page, with realistic records
// (persons on the register and exited, normal, watched, urgent and voided
// visits, applications in each state the county decided, disclosures
// drafted, published and withdrawn, a refused change and a conflict), at
// 390×844 and 1024×768: nothing makes the page scroll sideways, no text is
// cut or squeezed a character a line, every button and field is within
// reach; the print view of a disclosure fits A4. Screenshots:
// artifacts/screenshots/narrow-*-station-*.png.
func TestNarrowStationPages(t *testing.T) {
	ctx := browser(t)
	co := testsupport.NewCounty(t)
	a, base := newStation(t)
	c := &cadre{t: t, ctx: ctx, base: base, prefix: "narrow"}
	c.firstRun()
	c.enroll(co.URL(), co.Code(t, village), "注册成功")

	bg := context.Background()
	st := a.Store
	g := gen.New(31)
	save := func(kind records.Kind, id string, m map[string]any) string {
		t.Helper()
		f := records.Fields{}
		for k, v := range m {
			f[k], _ = json.Marshal(v)
		}
		id, err := st.Save(bg, kind, id, f, "李明")
		if err != nil {
			t.Fatalf("save %s: %v", kind, err)
		}
		return id
	}
	var persons, visits []string
	var pmaps []map[string]any
	urgent := ""
	for i := range 8 {
		p := g.Person(village)
		pid := save(records.Person, "", p)
		persons, pmaps = append(persons, pid), append(pmaps, p)
		for k, ago := range []int{150 + 10*i, 5 + i} {
			if k == 1 && i%4 == 3 {
				break // not visited since: overdue
			}
			v := g.Visit(pid, time.Now().AddDate(0, 0, -ago))
			if k == 1 {
				switch i % 3 {
				case 0:
					v["risk"], v["measures"] = "紧急", "已联系村医上门，通知在外务工的儿子尽快回家，村干部每天去看一次。"
				case 1:
					v["risk"] = "关注"
				}
			}
			id := save(records.Visit, "", v)
			visits = append(visits, id)
			if v["risk"] == "紧急" && urgent == "" {
				urgent = id
			}
		}
	}
	save(records.Person, persons[7], map[string]any{"status": "已退出", "exit_reason": "随子女迁往上海市浦东新区居住"})
	save(records.Visit, visits[2], map[string]any{"void_reason": "录错了对象，应为同户的另一位老人"})
	statuses := []string{records.StatusDraft, records.StatusSubmitted, records.StatusWithdrawn, records.StatusAccepted,
		records.StatusApproved, records.StatusRejected, records.StatusReturned}
	apps := map[string]string{}
	for i, s := range statuses {
		ap := g.Application(persons[i], pmaps[i])
		ap["type"] = []string{"最低生活保障", "特困人员救助供养", "临时救助"}[i%3]
		delete(ap, "status")
		id := save(records.Application, "", ap)
		apps[s] = id
		if s != records.StatusDraft {
			if err := st.Intent(bg, id, records.OpSubmit, "材料已齐，请县里审核", "李明"); err != nil {
				t.Fatal(err)
			}
		}
		if s == records.StatusWithdrawn {
			if err := st.Intent(bg, id, records.OpWithdraw, "本人不再申请", "李明"); err != nil {
				t.Fatal(err)
			}
		}
	}
	discs := map[string]string{}
	for _, s := range []string{"draft", "published", "withdrawn"} {
		d := g.Disclosure("")
		d["publish_from"], d["publish_until"] = time.Now().AddDate(0, 0, -1).Format(time.DateOnly), time.Now().AddDate(0, 0, 20).Format(time.DateOnly)
		d["status"], d["reviewer"] = s, "陈德明"
		if s == "published" {
			// A finance notice with a long web address, which must still
			// fit the sheet.
			d["category"], d["title"] = "财务公开", "2026年第四季度村级财务收支情况公开"
			d["body"] = d["body"].(string) + "\n明细可在县政府网站查询：http://www.feixi.gov.cn/content/column/6795961?type=6&tag=cwgk2026q4&village=" + village + "\n监督电话：0551-68812345"
		}
		discs[s] = save(records.Disclosure, "", d)
	}
	if _, err := a.SyncOnce(bg); err != nil {
		t.Fatal(err)
	}
	by := "县民政局 张华"
	for _, d := range []server.Decision{
		{ApplicationID: apps[records.StatusAccepted], Op: records.OpAccept, By: by},
		{ApplicationID: apps[records.StatusApproved], Op: records.OpAccept, By: by},
		{ApplicationID: apps[records.StatusApproved], Op: records.OpApprove, By: by, AmountFen: 65000, FromMonth: "2026-12", Comment: "符合条件，予以批准"},
		{ApplicationID: apps[records.StatusRejected], Op: records.OpAccept, By: by},
		{ApplicationID: apps[records.StatusRejected], Op: records.OpReject, By: by, Comment: "家庭人均收入高于当地最低生活保障标准，不符合条件"},
		{ApplicationID: apps[records.StatusReturned], Op: records.OpReturn, By: by, Comment: "请补充户口簿复印件和残疾证复印件，并写明赡养人收入"},
	} {
		if err := co.Store.Decide(bg, d); err != nil {
			t.Fatalf("decide %+v: %v", d, err)
		}
	}
	// A conflict: the county and the station changed one person's health.
	if err := co.Store.CountyEdit(bg, records.Person, persons[1], records.Fields{"health": json.RawMessage(`"高血压、糖尿病，需每月复查，已申请家庭医生签约服务"`)}, "县民政局张三"); err != nil {
		t.Fatal(err)
	}
	save(records.Person, persons[1], map[string]any{"health": "高血压，行动不便，独自居住"})
	if _, err := a.SyncOnce(bg); err != nil {
		t.Fatal(err)
	}
	// A change the county refused, as the agent keeps it.
	if _, err := st.DB().W.Exec(`INSERT INTO rejected (epoch, seq, kind, record_id, op, fields, code, reason, at) VALUES ('e', 9, 'person', ?, 'upsert', '{"phone":"x"}', 'invalid', '联系电话：电话号码只能包含数字', ?)`, persons[0], time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}

	n := &narrowWalk{c: c, failed: map[string]bool{}}
	const bar = "#sync-now"
	n.page("home", "/", "#decisions", bar+", .actions .btn")
	n.page("persons", "/persons", "#persons", bar+", #new-person, #search, #persons a.btn")
	n.page("persons-exited", "/persons?status="+url.QueryEscape("已退出"), "main", bar+", #search")
	n.page("person", "/persons/"+persons[1], "#visits", bar+", #new-visit, #new-app")
	n.page("person-form", "/persons/new", "#save", bar+", #save")
	n.page("person-edit", "/persons/"+persons[0]+"/edit", "#save", bar+", #save")
	n.page("visit-form", "/persons/"+persons[0]+"/visits/new", "#save", bar+", #save")
	n.page("visits", "/visits", "#visits", bar+", .filters .btn.on")
	n.page("visits-urgent", "/visits?risk="+url.QueryEscape("紧急"), "#visits", bar+", .filters .btn.on")
	n.page("overdue", "/visits/overdue", "main", bar)
	n.page("visit", "/visits/"+urgent, "#edit", bar+", #edit")
	n.page("visit-voided", "/visits/"+visits[2], "main", bar)
	n.page("visit-edit", "/visits/"+urgent+"/edit", "#save", bar+", #save")
	n.page("applications", "/applications", "#applications", bar+", .filters .btn.on")
	n.page("applications-returned", "/applications?status=returned", "#applications", bar+", .filters .btn.on")
	n.page("application-form", "/applications/new?person="+persons[0], "#save", bar+", #save")
	n.page("application-draft", "/applications/"+apps[records.StatusDraft], "#submit-app", bar+", #submit-app")
	n.page("application-edit", "/applications/"+apps[records.StatusDraft]+"/edit", "#save", bar+", #save")
	n.page("application-approved", "/applications/"+apps[records.StatusApproved], "#history", bar)
	n.page("application-returned", "/applications/"+apps[records.StatusReturned], "#history", bar)
	n.page("disclosures", "/disclosures", "#disclosures", bar+", #new-disc, .filters .btn.on")
	n.page("disclosure-form", "/disclosures/new", "#save", bar+", #save")
	n.page("disclosure", "/disclosures/"+discs["published"], "#print", bar+", #print")
	n.page("disclosure-draft", "/disclosures/"+discs["draft"], "#publish", bar+", #publish")
	n.page("disclosure-edit", "/disclosures/"+discs["draft"]+"/edit", "#save", bar+", #save")
	n.page("print", "/disclosures/"+discs["published"]+"/print", "#print-body", "", phone, oldPC, a4, a4Body)
	n.page("print-draft", "/disclosures/"+discs["draft"]+"/print", "#print-body", "", phone, a4Body)
	n.page("sync", "/sync", "#rejected", bar)
	n.page("settings", "/settings", "#save", bar+", #save")
	n.page("accounts", "/accounts", "#accounts", bar)
	n.page("enroll", "/enroll", "main", bar)
	n.page("not-found", "/no/such/page", "main", bar)
	c.submit(`form[action="/logout"] button`, "谁在使用")
	n.check("login", "#login")
	if len(n.failed) > 0 {
		t.Logf("page×width pairs with a problem: %d", len(n.failed))
	}
}
