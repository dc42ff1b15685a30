package countyweb

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"stationsync/internal/gen"
	"stationsync/internal/pii"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
)

// TestWordsCountyPages (issue 14 item 14) in Chromium at 1280 and 390 px:
// the stations page says 时钟准确 or 慢 N 分钟, not "慢 0s"; the review
// queue's bulk form offers only the decisions valid on its tab and none on
// a tab of finished applications; the public portal shows the contact
// number a station's publisher marked, whole, and masks the rest.
// Screenshots: county/words-*.png and county/narrow-390-county-words-*.png.
func TestWordsCountyPages(t *testing.T) {
	ctx := context.Background()
	c := newCounty(t)
	bctx := c.browser(t, 1280, 900, 2*time.Minute)
	a := c.station(t, village)
	g := gen.New(14)
	var apps []string
	for _, typ := range []string{"最低生活保障", "临时救助", "特困人员救助供养"} {
		p := g.Person(village)
		pid, err := a.Store.Save(ctx, records.Person, "", testsupport.Fields(p), "村干部王芳")
		if err != nil {
			t.Fatal(err)
		}
		ap := g.Application(pid, p)
		ap["type"] = typ
		delete(ap, "status")
		id, err := a.Store.Save(ctx, records.Application, "", testsupport.Fields(ap), "村干部王芳")
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Store.Intent(ctx, id, records.OpSubmit, "", "村干部王芳"); err != nil {
			t.Fatal(err)
		}
		apps = append(apps, id)
	}
	today := time.Now()
	disc, err := a.Store.Save(ctx, records.Disclosure, "", testsupport.Fields(map[string]any{
		"category": "财务公开", "title": "2026年11月财务公开", "reviewer": "陈德明", "status": "published",
		"body":         "本月村级财务收支明细如下，如有疑问请找村会计王建国，电话 139-0551-0456。\n低保户王秀英（电话 138 0013 8000）本月领取1500元。",
		"publish_from": today.AddDate(0, 0, -1).Format(time.DateOnly), "publish_until": today.AddDate(0, 0, 7).Format(time.DateOnly),
		"public_numbers": []string{"13905510456"},
	}), "村干部王芳")
	if err == nil {
		t.Fatal("the station saved a published notice with an unmarked mobile number")
	}
	if _, err = a.Store.Save(ctx, records.Disclosure, "", testsupport.Fields(map[string]any{
		"category": "财务公开", "title": "2026年11月财务公开", "reviewer": "陈德明", "status": "published",
		"body":         "本月村级财务收支明细如下，如有疑问请找村会计王建国，电话 139-0551-0456。\n低保户王秀英本月领取1500元。",
		"publish_from": today.AddDate(0, 0, -1).Format(time.DateOnly), "publish_until": today.AddDate(0, 0, 7).Format(time.DateOnly),
		"public_numbers": []string{"13905510456"},
	}), "村干部王芳"); err != nil {
		t.Fatal(err)
	}
	a.MustSync(t)
	list, err := c.store.PublicDisclosures(ctx, village, "", today.Format(time.DateOnly))
	if err != nil || len(list) != 1 {
		t.Fatalf("portal list: %d %v", len(list), err)
	}
	disc = list[0].ID
	s := c.login(t)
	if r := s.post("/applications/decide", map[string][]string{"id": {apps[0]}, "op": {"accept"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("accept: %d", r.StatusCode)
	}
	if r := s.post("/applications/decide", map[string][]string{"id": {apps[0]}, "op": {"approve"}, "amount": {"650"}, "from": {"2026-12"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve: %d", r.StatusCode)
	}
	// A second station whose clock runs 5 minutes behind.
	c.station(t, "340123101202")
	sts, _ := c.store.Stations(ctx)
	for _, st := range sts {
		if st.Village == "340123101202" {
			c.store.Touch(ctx, st.ID, 0, "test", "", -5*time.Minute-20*time.Second)
		}
	}

	// Every page answers whole (a template error would answer 500).
	for _, p := range []string{"/stations", "/applications", "/applications?status=accepted", "/applications?status=approved", "/public/d/" + disc} {
		if code, body := s.get(p); code != 200 || strings.Contains(body, "出错了") {
			t.Fatalf("%s: %d", p, code)
		}
	}

	n := &narrowWalk{T: t, Ctx: bctx, Base: c.url, Dir: shotDir(t), Side: "county"}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text %s: %v", sel, err)
		}
		return s
	}
	wide := func(name string) {
		t.Helper()
		n.Check("words-"+name, "", viewport{Name: "1280", W: 1280, H: 900})
	}

	// The portal: the 村会计's number whole, in the spelling typed.
	n.Do("portal", chromedp.Navigate(c.url+"/public/d/"+disc), chromedp.WaitVisible(chromedp.CSS("#notice")))
	if body := text("#notice"); !strings.Contains(body, "电话 139-0551-0456") || strings.Contains(pii.Normalize(body), "13800138000") {
		t.Errorf("portal notice: %s", body)
	}
	wide("public-notice")
	n.Check("words-public-notice", "", phone)

	c.logIn(t, bctx, "county")

	n.Do("stations", chromedp.Navigate(c.url+"/stations"), chromedp.WaitVisible(chromedp.CSS("#stations")))
	if body := text("#stations"); !strings.Contains(body, "时钟准确") || !strings.Contains(body, "时钟慢 5 分钟") || strings.Contains(body, "0s") {
		t.Errorf("stations page: %s", body)
	}
	wide("stations")
	n.Check("words-stations", "", phone)

	// 已提交: a county reviewer may accept, review, approve (in one
	// action), reject or return.
	n.Do("queue", chromedp.Navigate(c.url+"/applications"), chromedp.WaitVisible(chromedp.CSS("#bulk-btn")))
	if body := text("fieldset.decide"); !strings.Contains(body, "受理") || !strings.Contains(body, "同时记录受理") {
		t.Errorf("submitted tab offers: %s", body)
	}
	wide("queue-submitted")
	n.Check("words-queue-submitted", "#bulk-btn", phone)
	// 已批准: nothing to decide, no boxes.
	n.Do("approved", chromedp.Navigate(c.url+"/applications?status=approved"), chromedp.WaitVisible(chromedp.CSS("#no-decision")))
	boxes, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('#list input[type=checkbox], input[name=op]').length`))
	if err != nil || boxes != 0 {
		t.Errorf("approved tab: %d boxes (%v)", boxes, err)
	}
	wide("queue-approved")
	n.Check("words-queue-approved", "", phone)
}
