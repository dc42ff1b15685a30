// Package layout checks, in headless Chromium, that a page can be read
// and used at the widths people meet: a phone, an old station PC, an A4
// sheet. The station's browser tests and the county's share it, so both
// sides are held to one rule.
package layout

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// checkJS looks at the page as laid out now and lists what a person at
// this width could not read or reach:
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
const checkJS = `((main) => {
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

// Viewport is a width a person meets: a phone, an old station PC, and the
// A4 sheet (794 px at 96 dpi; 658 px inside the print styles' 18 mm
// margins).
type Viewport struct {
	Name  string
	W, H  int64
	Print bool
}

var (
	Phone  = Viewport{"390", 390, 844, false}
	OldPC  = Viewport{"1024", 1024, 768, false}
	A4     = Viewport{"print794", 794, 1123, true}
	A4Body = Viewport{"print658", 658, 1123, true}
)

// Walk opens pages in one browser tab and checks each at the widths asked
// for, saving a screenshot of each (narrow-<width>-<side>-<page>.png in
// Dir).
type Walk struct {
	T      testing.TB
	Ctx    context.Context // the tab
	Base   string          // the pages' base URL
	Dir    string          // where screenshots go
	Side   string          // "station" or "county", in the screenshots' names
	Failed map[string]bool // page@width with a problem
}

// Do runs steps in the tab, failing the test if one fails.
func (n *Walk) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	n.T.Helper()
	if err := chromedp.Do(n.Ctx, steps...); err != nil {
		n.T.Fatalf("%s: %v", what, err)
	}
}

// Page opens path, waits for sel, and checks it at each width; main is
// the CSS selector of the page's main actions ("" for none).
func (n *Walk) Page(name, path, sel, main string, widths ...Viewport) {
	n.T.Helper()
	n.Do("open "+path, chromedp.Navigate(n.Base+path), chromedp.WaitReady(chromedp.CSS(sel)))
	n.Check(name, main, widths...)
}

// Check looks at the page already open, at each width (390 and 1024 if
// none is named), and puts the tab back at 1280 px on screen.
func (n *Walk) Check(name, main string, widths ...Viewport) {
	n.T.Helper()
	if len(widths) == 0 {
		widths = []Viewport{Phone, OldPC}
	}
	if n.Failed == nil {
		n.Failed = map[string]bool{}
	}
	if err := os.MkdirAll(n.Dir, 0o755); err != nil {
		n.T.Fatal(err)
	}
	for _, v := range widths {
		media := ""
		if v.Print {
			media = "print"
		}
		n.Do("viewport", chromedp.EmulateViewport(v.W, v.H), emulateMedia(media))
		png, err := chromedp.Run(n.Ctx, chromedp.FullScreenshot(100))
		if err != nil {
			n.T.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(n.Dir, fmt.Sprintf("narrow-%s-%s-%s.png", v.Name, n.Side, name)), png, 0o644); err != nil {
			n.T.Fatal(err)
		}
		arg, _ := json.Marshal(main)
		if v.Print {
			arg = []byte("null") // no buttons on paper
		}
		probs, err := chromedp.Run(n.Ctx, chromedp.Evaluate[[]string](checkJS+"("+string(arg)+")"))
		if err != nil {
			n.T.Fatalf("layout check %s: %v", name, err)
		}
		if len(probs) > 8 {
			probs = append(probs[:8], fmt.Sprintf("… and %d more", len(probs)-8))
		}
		if len(probs) > 0 {
			n.Failed[name+"@"+v.Name] = true
			n.T.Errorf("%s at %s px%s:\n  %s", name, v.Name, map[bool]string{true: " (print)"}[v.Print], strings.Join(probs, "\n  "))
		}
	}
	n.Do("reset", chromedp.EmulateViewport(1280, 900), emulateMedia(""))
}

func emulateMedia(m string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: m})
		return err
	})
}
