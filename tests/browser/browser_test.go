// Package browser drives the station's pages in real headless Chromium, as
// a cadre would: first run, enrolment, log-in, a person, a visit, an
// application the county decides on, a disclosure and its print view,
// with the county reachable and with it down. Each step's page is saved
// as a screenshot under artifacts/screenshots/ (see README).
package browser

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"stationsync/agent"
	"stationsync/agent/web"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
)

const (
	chromium = "/usr/bin/chromium"
	village  = "340123101201"
	personID = "340123195003070022"
)

// shotDir is where screenshots go: $STATIONSYNC_SCREENSHOTS, else
// artifacts/screenshots/ at the top of the repository.
func shotDir(t *testing.T) string {
	if d := os.Getenv("STATIONSYNC_SCREENSHOTS"); d != "" {
		return d
	}
	d, err := filepath.Abs(filepath.Join("..", "..", "artifacts", "screenshots"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// browser starts one headless Chromium for a test; extra are a test's
// own flags (a fake camera, say).
func browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing: run scripts/install-browser.sh (make test does)", chromium)
		}
		t.Skipf("%s missing: run scripts/install-browser.sh", chromium)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900),
		// Nothing but this machine's loopback: no update checks, no
		// safe-browsing, no DNS.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("metrics-recording-only", true),
		// Chinese as the browser's language, as on a station PC.
		chromedp.Flag("lang", "zh-CN"),
		chromedp.Env("LANGUAGE=zh_CN", "LANG=zh_CN.UTF-8"),
	)
	opts = append(opts, extra...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 150*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil { // start the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// newStation serves a fresh station's pages on 127.0.0.1.
func newStation(t *testing.T) (*agent.Agent, string) {
	t.Helper()
	s := testsupport.OpenStation(t, "", agent.Config{})
	ws, err := web.New(s.Agent, web.Options{Logger: testsupport.Quiet, SyncTimeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ws.Handler())
	t.Cleanup(srv.Close)
	return s.Agent, srv.URL
}

// cadre is one person at the station PC's browser.
type cadre struct {
	t      *testing.T
	ctx    context.Context
	base   string
	prefix string
	n      int
}

func (c *cadre) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	if err := chromedp.Do(c.ctx, steps...); err != nil {
		body, _ := chromedp.Run(c.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		loc, _ := chromedp.Run(c.ctx, chromedp.Location())
		c.t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, body)
	}
}

func (c *cadre) open(path string) {
	c.t.Helper()
	c.do("open "+path, chromedp.Navigate(c.base+path), chromedp.WaitReady(chromedp.CSS("body")))
}

// see waits until the page shows text. Evaluations that meet a page in
// the middle of navigating are tried again.
func (c *cadre) see(text string) {
	c.t.Helper()
	c.waitFor(fmt.Sprintf(`document.readyState === "complete" && !window.__left && document.body && document.body.innerText.includes(%q)`, text), "see "+text)
}

func (c *cadre) waitFor(js, what string) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := chromedp.Run(c.ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(c.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			loc, _ := chromedp.Run(c.ctx, chromedp.Location())
			c.t.Fatalf("%s: not seen (err %v)\nat %s:\n%s", what, err, loc, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *cadre) notSee(text string) {
	c.t.Helper()
	got, err := chromedp.Run(c.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`document.body.innerText.includes(%q)`, text)))
	if err != nil || got {
		c.t.Fatalf("page shows %q (err %v)", text, err)
	}
}

// fill types into a field (dates are set, since typing into a date input
// depends on the browser's locale).
func (c *cadre) fill(sel, text string) {
	c.t.Helper()
	c.do("fill "+sel, chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).value = ""`, sel)),
		chromedp.SendKeys(chromedp.CSS(sel), text))
}

func (c *cadre) set(sel, value string) {
	c.t.Helper()
	c.do("set "+sel, chromedp.SetValue(chromedp.CSS(sel), value))
}

func (c *cadre) click(sel string) {
	c.t.Helper()
	c.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// submit clicks a button and waits for the next page to show text.
func (c *cadre) submit(sel, thenSee string) {
	c.t.Helper()
	// Mark the page being left, so that only the next one can match.
	c.do("mark page", chromedp.Evaluate[chromedp.Void](`window.__left = true`))
	c.click(sel)
	c.see(thenSee)
}

// narrow shoots the page as a phone shows it, 390 px wide, and returns to
// the desk's 1280.
func (c *cadre) narrow(name string) {
	c.t.Helper()
	c.do("narrow", chromedp.EmulateViewport(390, 844))
	c.shot(name + "-390")
	c.do("wide", chromedp.EmulateViewport(1280, 900))
}

func (c *cadre) shot(name string) {
	c.t.Helper()
	png, err := chromedp.Run(c.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		c.t.Fatalf("screenshot %s: %v", name, err)
	}
	c.n++
	dir := shotDir(c.t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Fatal(err)
	}
	p := filepath.Join(dir, fmt.Sprintf("%s-%02d-%s.png", c.prefix, c.n, name))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cadre) location() string {
	loc, err := chromedp.Run(c.ctx, chromedp.Location())
	if err != nil {
		c.t.Fatal(err)
	}
	return strings.TrimPrefix(loc, c.base)
}

// firstRun makes the first account (李明 / 1234).
func (c *cadre) firstRun() {
	c.open("/")
	c.see("欢迎使用村站通")
	c.shot("setup")
	c.fill("#name", "李明")
	c.fill("#pin", "246810")
	c.fill("#pin2", "246810")
	c.submit("#save", "站点注册")
}

func (c *cadre) enroll(serverURL, code, thenSee string) {
	c.open("/enroll")
	c.fill("#server", serverURL)
	c.fill("#code", code)
	c.submit("#enroll", thenSee)
}

func (c *cadre) logInAgain() {
	c.submit(`form[action="/logout"] button`, "谁在使用")
	c.shot("login")
	c.fill("#pin", "246810")
	c.submit("#login", "首页")
}

// addPerson registers 王秀英 and returns her page's path.
func (c *cadre) addPerson() string {
	c.open("/persons/new")
	c.fill("#name", "王秀英")
	c.fill("#id_number", personID)
	c.click(`input[name="categories"][value="农村留守老年人"]`)
	c.click(`input[name="categories"][value="空巢老人"]`)
	c.fill("#phone", "13905510456")
	c.fill("#address", "安徽省合肥市长丰县岗集镇")
	c.fill("#health", "高血压，行动不便")
	c.fill(`input[name="fa_name_0"]`, "王强")
	c.fill(`input[name="fa_relation_0"]`, "儿子")
	c.fill(`input[name="fa_location_0"]`, "上海")
	c.shot("person-form")
	c.submit("#save", "已保存「王秀英」")
	c.see("340123********0022")
	c.shot("person")
	return c.location()
}

func (c *cadre) recordVisit(person string, urgent bool) {
	c.open(person)
	c.submit("#new-visit", "记录走访：王秀英")
	c.fill("#situation", "老人独自在家，血压偏高，药快吃完了。")
	c.click(`input[name="needs"][value="医疗健康"]`)
	if urgent {
		c.click(`input[name="risk"][value="紧急"]`)
		c.fill("#measures", "已联系村医上门，通知儿子尽快回家。")
		c.shot("visit-form")
		c.submit("#save", "紧急走访已保存")
	} else {
		c.fill("#measures", "联系村医送药上门")
		c.shot("visit-form")
		c.submit("#save", "走访记录已保存")
	}
	c.see("老人独自在家")
	c.shot("person-with-visit")
}

// applyAndSubmit creates a 低保 application for the person and submits it;
// it returns the application's path.
func (c *cadre) applyAndSubmit(person string) string {
	c.open(person)
	c.submit("#new-app", "新建救助申请：王秀英")
	c.do("choose type", chromedp.SetValue(chromedp.CSS("#type"), "最低生活保障"))
	c.fill("#reason", "独居，无固定收入，患慢性病需长期服药。")
	c.fill("#household_income", "420")
	c.fill("#amount_requested", "300")
	c.fill(`input[name="m_name_1"]`, "王强")
	c.fill(`input[name="m_relation_1"]`, "儿子")
	c.fill(`input[name="m_income_1"]`, "0")
	c.shot("application-form")
	c.submit("#save", "申请草稿已保存")
	app := c.location()
	c.fill("#comment", "材料已齐")
	c.submit("#submit-app", "已提交。联网后会送到县里")
	c.see("材料已齐")
	c.shot("application-submitted")
	return app
}

func (c *cadre) syncNow(thenSee string) {
	c.submit("#sync-now", thenSee)
}

// publish writes a disclosure holding a full ID and phone number and a
// <script>, sees them hidden on the draft and its print view, is refused
// publication until the numbers are taken out, then publishes it and opens
// its print view.
func (c *cadre) publish() {
	c.open("/disclosures/new")
	c.do("choose category", chromedp.SetValue(chromedp.CSS("#category"), "救助对象公示"))
	c.fill("#title", "2026年第四季度最低生活保障对象公示")
	c.fill("#body", "经村民代表会议评议，拟将王秀英（身份证 "+personID+"，电话 13905510456）纳入最低生活保障。<script>alert(1)</script>如有异议，请于公示期内向村务监督委员会反映。")
	c.set("#publish_from", "2026-11-26")
	c.set("#publish_until", "2026-12-03")
	c.shot("disclosure-form")
	c.submit("#save", "草稿已保存")
	c.see("<script>alert(1)</script>") // shown as text, not run
	c.see("公开前请删去或只写后四位")              // warned on the draft already
	c.notSee(personID)
	draft := c.location()
	href, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](`document.querySelector("#print").href`))
	if err != nil {
		c.t.Fatal(err)
	}
	c.open(strings.TrimPrefix(href, c.base))
	c.see("2026年第四季度最低生活保障对象公示")
	c.see("340123********0022")
	c.see("139****0456")
	c.notSee(personID)
	c.notSee("13905510456")
	c.open(draft)
	c.fill("#reviewer", "陈德明")
	c.submit("#publish", "公开前请删去或只写后四位")
	c.shot("disclosure-refused")
	c.open(draft + "/edit")
	c.fill("#body", "经村民代表会议评议，拟将王秀英（身份证后四位0022）纳入最低生活保障。<script>alert(1)</script>如有异议，请于公示期内向村务监督委员会反映。")
	c.submit("#save", "已保存修改")
	c.fill("#reviewer", "陈德明")
	c.submit("#publish", "已发布")
	c.see("陈德明")
	c.notSee(personID)
	c.shot("disclosure-published")
	c.open(strings.TrimPrefix(href, c.base))
	c.see("2026年第四季度最低生活保障对象公示")
	c.see("身份证后四位0022")
	c.see("审核人（村务监督委员会）：陈德明")
	c.notSee(personID)
	c.shot("print-a4")
}

func decide(t *testing.T, c *testsupport.County, appID string) {
	t.Helper()
	for _, d := range []server.Decision{
		{ApplicationID: appID, Op: records.OpAccept, By: "县民政局 张华"},
		{ApplicationID: appID, Op: records.OpApprove, By: "县民政局 张华", AmountFen: 30000, FromMonth: "2026-12", Comment: "符合条件，予以批准"},
	} {
		if err := c.Store.Decide(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
}

// The flow with the county reachable: enrol, log in, a person, a
// visit, an application the county approves, a disclosure and its print.
func TestStationPagesOnline(t *testing.T) {
	ctx := browser(t)
	co := testsupport.NewCounty(t)
	a, base := newStation(t)
	c := &cadre{t: t, ctx: ctx, base: base, prefix: "online"}

	c.firstRun()
	c.shot("enroll")
	c.enroll(co.URL(), "WRONG-CODE9", "注册码不对")
	c.shot("enroll-wrong-code")
	c.enroll(co.URL(), co.Code(t, village), "注册成功")
	c.shot("home")
	c.logInAgain()

	person := c.addPerson()
	c.recordVisit(person, false)
	// The visit's page offers a correction and voiding.
	c.click("#visits a")
	c.see("作废这条走访记录")
	c.shot("visit")
	c.narrow("visit")
	c.submit("#edit", "修改走访记录")
	c.shot("visit-edit")
	c.narrow("visit-edit")
	c.open(person)
	app := c.applyAndSubmit(person)
	c.syncNow("同步成功")
	c.see("已连上县里")
	if n, _ := a.Store.Pending(context.Background()); n != 0 {
		t.Fatalf("%d changes still pending after sync", n)
	}

	decide(t, co, strings.TrimPrefix(app, "/applications/"))
	// The home page announces the decision until the application is opened.
	c.open("/")
	c.syncNow("同步成功")
	c.see("县里的新决定")
	c.shot("home-decision")
	c.narrow("home-decision")
	c.open(app)
	c.see("已批准")
	c.see("符合条件，予以批准")
	c.see("县民政局 张华")
	c.shot("application-approved")

	c.publish()
	for _, p := range []struct{ path, name, text string }{
		{"/persons", "persons", "340123********0022"},
		{"/visits/overdue", "overdue", "逾期未走访"},
		{"/visits", "visits", "老人独自在家"},
		{"/applications", "applications", "已批准"},
		{"/sync", "sync", "被县里退回的修改"},
		{"/settings", "settings", "运行日志"},
		{"/accounts", "accounts", "添加一位村干部"},
	} {
		c.open(p.path)
		c.see(p.text)
		c.shot(p.name)
	}
}

// The same work with the county down from the first minute: every page
// works, nothing is lost, and it all goes up once the link returns.
func TestStationPagesCountyDown(t *testing.T) {
	ctx := browser(t)
	co := testsupport.NewCounty(t)
	co.LinkDown()
	a, base := newStation(t)
	c := &cadre{t: t, ctx: ctx, base: base, prefix: "offline"}

	c.firstRun()
	code := co.Code(t, village)
	c.enroll(co.URL(), code, "可以先离线录入，联网后再完成注册")
	c.shot("enroll-no-network")
	c.open("/")
	c.see("未注册")

	person := c.addPerson()
	c.recordVisit(person, true)
	// No county: the cadre is told to phone, at once and in the bar.
	c.see("请马上打电话告诉乡镇")
	c.shot("visit-urgent-offline")
	c.narrow("visit-urgent-offline")
	app := c.applyAndSubmit(person)
	c.publish()
	c.open("/")
	c.syncNow("站点尚未注册")
	c.shot("home-offline")
	ctxb := context.Background()
	pending, _ := a.Store.Pending(ctxb)
	if pending < 5 {
		t.Fatalf("pending %d, want the person, visit, application, submit and disclosure", pending)
	}

	// The link returns: enrol, sync.
	co.LinkUp()
	c.enroll(co.URL(), code, "请核对县级服务器")
	c.shot("enroll-confirm")
	c.submit("#confirm", "已确认")
	c.syncNow("同步成功")
	if n, _ := a.Store.Pending(ctxb); n != 0 {
		t.Fatalf("%d changes still pending", n)
	}
	for _, k := range records.Kinds {
		recs, err := co.Store.Records(ctxb, k, village)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 {
			t.Fatalf("county holds %d %s records, want 1", len(recs), k)
		}
	}

	// Enrolled, and the county goes away again: a plain reason on the bar,
	// the visit kept, and up it goes when the county is back.
	co.LinkDown()
	c.recordVisit(person, false)
	c.syncNow("同步没有成功")
	c.see("连不上县级服务器")
	c.see("未连上县里")
	c.shot("sync-failed")
	co.LinkUp()
	decide(t, co, strings.TrimPrefix(app, "/applications/"))
	c.syncNow("同步成功")
	c.open(app)
	c.see("已批准")
	c.see("符合条件，予以批准")
	c.shot("application-approved")
}
