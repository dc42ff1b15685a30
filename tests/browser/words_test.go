package browser

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"stationsync/agent"
	"stationsync/agent/web"
	"stationsync/internal/testlog"
	"stationsync/internal/testsupport"
)

// TestWordsPages (issue 14 item 14): in Chromium, at 1280 px and at
// 390 px, the station's forms read what a cadre types the way people
// write it and answer what they refuse with what to type: a PIN with
// letters, an ID number in groups, a 7-digit phone, a list left at
// 请选择; the application shows what its amount means; a disclosure's
// public contact number is ticked at publication and printed whole; the
// last sync error is told in Chinese with the program's words behind 详细,
// and the clock in words. Screenshots: words-*.png and
// narrow-390-station-words-*.png; no page logs an error.
func TestWordsPages(t *testing.T) {
	ctx := browser(t)
	co := testsupport.NewCounty(t)
	errs := &testlog.Errors{}
	logger := slog.New(errs)
	s := testsupport.OpenStation(t, "", agent.Config{Logger: logger})
	ws, err := web.New(s.Agent, web.Options{Logger: logger, SyncTimeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ws.Handler())
	t.Cleanup(srv.Close)
	c := &cadre{t: t, ctx: ctx, base: srv.URL, prefix: "words"}
	n := &narrowWalk{T: t, Ctx: c.ctx, Base: c.base, Dir: shotDir(t), Side: "station"}
	both := func(name, main string) {
		t.Helper()
		c.shot(name)
		n.Check("words-"+name, main, phone)
	}

	// A PIN with letters says what a PIN is.
	c.open("/")
	c.see("欢迎使用村站通")
	c.fill("#name", "李明")
	c.fill("#pin", "abc123")
	c.fill("#pin2", "abc123")
	c.submit("#save", "密码只能是 6 到 12 位数字")
	both("setup-pin-letters", "#save")
	c.fill("#pin", "246810")
	c.fill("#pin2", "246810")
	c.submit("#save", "站点注册")
	c.enroll(co.URL(), co.Code(t, village), "注册成功")

	// An ID number in groups is the number; a 7-digit phone is refused
	// with what to type.
	c.open("/persons/new")
	c.fill("#name", "王秀英")
	c.fill("#id_number", "340123 19500307 0022")
	c.click(`input[name="categories"][value="农村留守老年人"]`)
	c.fill("#phone", "6666123")
	c.submit("#save", "座机号码请加上区号")
	c.notSee("20位")
	both("person-phone-refused", "#save")
	c.fill("#phone", "0551 6666 1234")
	c.submit("#save", "已保存「王秀英」")
	c.see("340123********0022")
	c.see("0551-66661234")
	person := c.location()

	// The type of assistance starts at 请选择, which cannot be sent.
	c.open(person)
	c.submit("#new-app", "新建救助申请：王秀英")
	first, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](`(() => { const o = document.querySelector("#type").selectedOptions[0]; return o.text + (o.disabled ? "/disabled" : ""); })()`))
	if err != nil || first != "请选择/disabled" {
		t.Fatalf("the type list starts at %q (%v)", first, err)
	}
	c.fill("#reason", "看病花了很多钱。")
	c.fill("#amount_requested", "800")
	c.submit("#save", "请选择救助类型")
	both("application-choose-type", "#save")
	c.do("choose type", chromedp.SetValue(chromedp.CSS("#type"), "临时救助"))
	c.submit("#save", "申请草稿已保存")
	c.see("一次性 800.00 元")
	both("application-once", "#submit-app")

	// The 村会计's number is ticked as public at publication; 王秀英's is
	// masked and stops it until taken out.
	body := "2026年11月村级财务收支明细已张贴。如有疑问请找村会计王建国，电话 139-0551-0456。低保户王秀英（电话13800138000）本月领取1500元。"
	c.open("/disclosures/new")
	first, err = chromedp.Run(c.ctx, chromedp.Evaluate[string](`document.querySelector("#category").selectedOptions[0].text`))
	if err != nil || first != "请选择" {
		t.Fatalf("the category list starts at %q (%v)", first, err)
	}
	c.do("choose category", chromedp.SetValue(chromedp.CSS("#category"), "财务公开"))
	c.fill("#title", "2026年11月财务公开")
	c.fill("#body", body)
	c.submit("#save", "草稿已保存")
	c.see("文中的手机号码")
	c.notSee("13800138000")
	c.notSee("139-0551-0456")
	draft := c.location()
	both("disclosure-numbers", "#publish")
	c.fill("#reviewer", "陈德明")
	c.click(`#public-numbers input[type=checkbox]`) // the first: the 村会计's
	c.submit("#publish", "正文中有手机号码（138****8000）")
	both("disclosure-one-unmarked", "#publish")
	c.open(draft + "/edit")
	c.see("可以公开")
	c.fill("#body", strings.Replace(body, "（电话13800138000）", "", 1))
	c.submit("#save", "已保存修改")
	c.fill("#reviewer", "陈德明")
	c.click(`#public-numbers input[type=checkbox]`)
	c.submit("#publish", "已发布")
	c.see("电话 139-0551-0456")
	both("disclosure-published", "")
	c.open(draft + "/print")
	c.see("电话 139-0551-0456")
	c.shot("disclosure-print")
	n.Check("words-disclosure-print", "", a4Body)

	// The last sync error in Chinese, the program's words behind 详细, and
	// the station's clock in words.
	raw := `Post "https://10.1.2.3:8870/v1/push": tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2009-01-01T00:00:05Z is before 2026-01-01T00:00:00Z`
	if err := s.Agent.Store.SetMeta(context.Background(), map[string]string{"last_error": raw, "clock_offset_ms": "540000000"}); err != nil {
		t.Fatal(err)
	}
	c.open("/sync")
	c.see("多半是这台电脑的日期不对")
	c.see("本机时钟慢 6 天")
	c.notSee("x509")
	c.click("#sync-error details.rawerr summary")
	c.see("x509: certificate has expired")
	both("sync-error", "#sync-now")
	c.click("#sync-reason details.rawerr summary")
	c.see("current time 2009-01-01")
	both("syncbar-error-open", "#sync-now")
	// The bar refreshes itself every 5 s; an open 详细 stays open.
	time.Sleep(6 * time.Second)
	open, err := chromedp.Run(c.ctx, chromedp.Evaluate[bool](`document.querySelector("#sync-reason details.rawerr").open`))
	if err != nil || !open {
		t.Errorf("详细 in the bar closed as the bar refreshed (%v)", err)
	}

	// The log-in with letters.
	c.submit(`form[action="/logout"] button`, "谁在使用")
	c.click(`input[name="account"]`)
	c.fill("#pin", "abcdef")
	c.submit("#login", "密码只有数字")
	both("login-letters", "#login")

	if e := errs.Take(); len(e) > 0 {
		t.Errorf("pages logged errors:\n  %s", strings.Join(e, "\n  "))
	}
}
