package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/agent/web"
	"stationsync/internal/records"
	"stationsync/internal/zone"
	"stationsync/server"
)

func TestFirstRunAndLogin(t *testing.T) {
	s := newStation(t)
	// Nothing but the first-run page until an account exists.
	r := s.get("/")
	if r.Status != http.StatusSeeOther || r.Location != "/setup" {
		t.Fatalf("first visit: %d %q", r.Status, r.Location)
	}
	must(t, s.get("/setup"), 200, "第一次使用", "您的姓名")

	for _, tc := range []struct {
		name string
		form url.Values
		msg  string
	}{
		{"no name", url.Values{"name": {" "}, "pin": {"246810"}, "pin2": {"246810"}}, "请填写姓名"},
		{"short PIN", url.Values{"name": {"李明"}, "pin": {"1234"}, "pin2": {"1234"}}, "密码应为 6 到 12 位数字"},
		{"letters", url.Values{"name": {"李明"}, "pin": {"abcdef"}, "pin2": {"abcdef"}}, "密码只能是 6 到 12 位数字（0–9），不能有字母"},
		{"mismatch", url.Values{"name": {"李明"}, "pin": {"246810"}, "pin2": {"246811"}}, "两次输入的密码不一样"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.post("/setup", tc.form)
			must(t, r, http.StatusUnprocessableEntity, tc.msg)
			if n := tc.form.Get("name"); strings.TrimSpace(n) != "" && !strings.Contains(r.Body, `value="`+n+`"`) {
				t.Errorf("typed name not kept")
			}
			mustNot(t, r, `value="`+tc.form.Get("pin")+`"`)
		})
	}
	r = s.post("/setup", url.Values{"name": {"李明"}, "pin": {"246810"}, "pin2": {"246810"}})
	if r.Status != http.StatusSeeOther || r.Location != "/enroll" {
		t.Fatalf("setup: %d %q", r.Status, r.Location)
	}
	must(t, s.get("/"), 200, "李明", "首页", "未注册", "立即同步")
	// A second setup is refused: the first-run page is gone.
	if r := s.get("/setup"); r.Status != http.StatusSeeOther {
		t.Fatalf("setup after first account: %d", r.Status)
	}

	must(t, s.post("/accounts", url.Values{"name": {"王芳"}, "pin": {"567890"}, "pin2": {"567890"}}), http.StatusSeeOther)
	must(t, s.post("/accounts", url.Values{"name": {"王芳"}, "pin": {"567890"}, "pin2": {"567890"}}), http.StatusUnprocessableEntity, "已有同名账号")
	must(t, s.post("/accounts", url.Values{"name": {""}, "pin": {"567890"}, "pin2": {"567890"}}), http.StatusUnprocessableEntity, "请填写姓名")
	must(t, s.get("/accounts"), 200, "王芳", "李明")

	// Change PIN: wrong old PIN, mismatch, then done.
	must(t, s.post("/accounts/pin", url.Values{"old_pin": {"000000"}, "new_pin": {"432109"}, "new_pin2": {"432109"}}), http.StatusUnprocessableEntity, "原密码不对")
	must(t, s.post("/accounts/pin", url.Values{"old_pin": {"246810"}, "new_pin": {"432109"}, "new_pin2": {"432100"}}), http.StatusUnprocessableEntity, "两次输入的新密码不一样")
	must(t, s.post("/accounts/pin", url.Values{"old_pin": {"246810"}, "new_pin": {"4321"}, "new_pin2": {"4321"}}), http.StatusUnprocessableEntity, "密码应为")
	must(t, s.post("/accounts/pin", url.Values{"old_pin": {"246810"}, "new_pin": {"432109"}, "new_pin2": {"432109"}}), http.StatusSeeOther)

	// Log out, then log in as 王芳.
	must(t, s.post("/logout", url.Values{}), http.StatusSeeOther)
	r = s.get("/persons")
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/login") {
		t.Fatalf("logged out: %d %q", r.Status, r.Location)
	}
	must(t, s.get("/login"), 200, "谁在使用", "王芳", "李明")
	accs, _ := s.a.Store.Accounts(context.Background())
	var wang, li string
	for _, a := range accs {
		switch a.Name {
		case "王芳":
			wang = itoa(a.ID)
		case "李明":
			li = itoa(a.ID)
		}
	}
	must(t, s.post("/login", url.Values{"pin": {"567890"}}), http.StatusUnprocessableEntity, "请先点选您的名字")
	must(t, s.post("/login", url.Values{"account": {wang}, "pin": {"000000"}}), http.StatusUnprocessableEntity, "密码不对")
	r = s.post("/login", url.Values{"account": {wang}, "pin": {"567890"}, "next": {"/persons"}})
	if r.Status != http.StatusSeeOther || r.Location != "/persons" {
		t.Fatalf("login: %d %q %s", r.Status, r.Location, snippet(r.Body))
	}
	must(t, s.get("/persons"), 200, `id="current-user">王芳`)
	// An open redirect is not followed.
	if r := s.post("/login", url.Values{"account": {wang}, "pin": {"567890"}, "next": {"//evil.example/"}}); r.Location != "/" {
		t.Fatalf("next=//evil: %q", r.Location)
	}
	// 王芳 turns 李明's account off and on; her own cannot be turned off.
	must(t, s.follow(s.post("/accounts/"+wang+"/disable", url.Values{})), 200, "不能停用自己的账号")
	must(t, s.follow(s.post("/accounts/"+li+"/disable", url.Values{})), 200, "账号已停用")
	mustNot(t, s.get("/login"), ">李明<", "> 李明<")
	s.post("/accounts/"+li+"/enable", url.Values{})
	// Five wrong PINs lock the account for a minute.
	for range 5 {
		s.post("/login", url.Values{"account": {li}, "pin": {"999999"}})
	}
	must(t, s.post("/login", url.Values{"account": {li}, "pin": {"432109"}}), http.StatusTooManyRequests, "错误次数太多")
	s.clock.Add(61 * time.Second)
	must(t, s.post("/login", url.Values{"account": {li}, "pin": {"432109"}}), http.StatusSeeOther)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestSessionsExpire(t *testing.T) {
	s := newStation(t)
	s.setup("李明")
	must(t, s.get("/persons"), 200)
	s.clock.Add(3 * time.Hour) // idle longer than the 2 h default
	r := s.get("/persons")
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/login?expired=1") {
		t.Fatalf("after idle: %d %q", r.Status, r.Location)
	}
	must(t, s.get(r.Location), 200, "登录已过期")

	// A form posted after the session ended is kept through the log-in.
	v := personForm("王秀英", goodID)
	r = s.post("/persons/new", v)
	must(t, r, 200, "刚才填写的内容没有丢", `name="replay"`)
	m := regexp.MustCompile(`name="replay" value="([^"]*)"`).FindStringSubmatch(r.Body)
	replay := html.UnescapeString(m[1])
	accs, _ := s.a.Store.Accounts(context.Background())
	r = s.post("/login", url.Values{"account": {itoa(accs[0].ID)}, "pin": {"246810"}, "next": {"/persons/new"}, "replay": {replay}})
	must(t, r, 200, "继续保存", `value="安徽省合肥市长丰县"`, `action="/persons/new"`)
	if n, _ := s.a.Store.Pending(context.Background()); n != 0 {
		t.Fatal("saved before the cadre confirmed")
	}
	rv, _ := url.ParseQuery(replay)
	id := created(t, s.post("/persons/new", rv))
	must(t, s.get("/persons/"+id), 200, "王秀英", "安徽省合肥市长丰县")
}

func TestCrossOriginAndHostRefused(t *testing.T) {
	s := newStation(t)
	s.setup("李明")
	req, _ := http.NewRequest("POST", s.srv.URL+"/persons/new", strings.NewReader(personForm("王秀英", goodID).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	r, err := s.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d", r.StatusCode)
	}
	if n, _ := s.a.Store.Pending(context.Background()); n != 0 {
		t.Fatal("cross-site POST saved a record")
	}
	req, _ = http.NewRequest("GET", s.srv.URL+"/persons", nil)
	req.Host = "evil.example"
	r, err = s.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("foreign Host: %d", r.StatusCode)
	}
}

func TestPersonsFormsAndSearch(t *testing.T) {
	s := newStation(t)
	s.setup("李明")
	must(t, s.get("/persons/new"), 200, "登记关爱对象", "农村留守儿童")

	for _, tc := range []struct {
		name  string
		edit  func(url.Values)
		field string
		msg   string
	}{
		{"no name", func(v url.Values) { v.Set("name", "") }, "name", "请填写姓名"},
		{"no ID", func(v url.Values) { v.Set("id_number", "") }, "id_number", "请填写公民身份号码"},
		{"bad check character", func(v url.Values) { v.Set("id_number", badID) }, "id_number", "校验"},
		{"short ID", func(v url.Values) { v.Set("id_number", "3401231950") }, "id_number", "18"},
		{"no category", func(v url.Values) { v.Del("categories") }, "categories", "请至少选择一个类别"},
		{"unknown category", func(v url.Values) { v["categories"] = []string{"外星人"} }, "categories", "类别只能从以下选择"},
		{"phone letters", func(v url.Values) { v.Set("phone", "139abc") }, "phone", "电话号码只能填数字"},
		{"family without name", func(v url.Values) { v.Set("fa_name_0", "") }, "fa_name_0", "请填写姓名"},
		{"guardian phone", func(v url.Values) { v.Set("guardian_name", "张奶奶"); v.Set("guardian_phone", "x") }, "guardian_phone", "电话号码只能填数字"},
		{"guardian without name", func(v url.Values) { v.Set("guardian_phone", "13800002222") }, "guardian_name", "请填写监护人姓名"},
		{"long address", func(v url.Values) { v.Set("address", strings.Repeat("村", 201)) }, "address", "不能超过200个字"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := personForm("王秀英", goodID)
			tc.edit(v)
			r := s.post("/persons/new", v)
			must(t, r, http.StatusUnprocessableEntity, "请按红字提示修改后再保存", tc.msg)
			// What was typed is still there.
			if n := v.Get("name"); n != "" && !strings.Contains(r.Body, `value="`+n+`"`) {
				t.Errorf("name not kept")
			}
			if v.Get("address") == "安徽省合肥市长丰县" && !strings.Contains(r.Body, `value="安徽省合肥市长丰县"`) {
				t.Errorf("address not kept")
			}
		})
	}
	// A form beyond 1 MiB is refused whole, with what to do.
	big := personForm("王秀英", goodID)
	big.Set("address", strings.Repeat("村", 400_000))
	must(t, s.post("/persons/new", big), http.StatusBadRequest, "表单无法读取", "请返回上一页重新填写")
	if n, _ := s.a.Store.Pending(context.Background()); n != 0 {
		t.Fatalf("rejected forms saved %d changes", n)
	}

	// A lower-case x and full-width digits are normalised, not refused.
	id := created(t, s.post("/persons/new", personForm("王秀英", goodID)))
	p := s.follow(s.post("/persons/"+id+"/edit", personForm("王秀英", goodID)))
	must(t, p, 200, "王秀英", "340123********0022", "农村留守老年人", "录入：李明", "没有改动")
	mustNot(t, p, goodID)
	// The same ID number twice is refused with a link to the first.
	must(t, s.post("/persons/new", personForm("王秀英二", goodID)), http.StatusUnprocessableEntity, "这个身份号码已登记（王秀英）", "/persons/"+id)

	// A second person, a child with a guardian.
	child := personForm("张小雨", "340123201505050000")
	child["categories"] = []string{"农村留守儿童"}
	child.Set("guardian_name", "张奶奶")
	child.Set("guardian_relation", "祖母")
	child.Set("guardian_phone", "13800002222")
	r := s.post("/persons/new", child)
	if r.Status == http.StatusUnprocessableEntity {
		// The ID's check character: compute by trying the eleven.
		for _, c := range "0123456789X" {
			child.Set("id_number", "34012320150505000"+string(c))
			if r = s.post("/persons/new", child); r.Status == http.StatusSeeOther {
				break
			}
		}
	}
	cid := created(t, r)
	must(t, s.get("/persons/"+cid), 200, "张奶奶（祖母）")

	// Lists are masked; search by surname, full name, last digits, category.
	list := s.get("/persons")
	must(t, list, 200, "王秀英", "张小雨", "340123********0022", "139****0456")
	mustNot(t, list, goodID, "13905510456")
	must(t, s.get("/persons?q=王"), 200, "王秀英")
	mustNot(t, s.get("/persons?q=王"), "张小雨")
	must(t, s.get("/persons?q=秀英"), 200, "王秀英")
	must(t, s.get("/persons?q=0022"), 200, "王秀英")
	must(t, s.get("/persons?q="+goodID), 200, "王秀英")
	r = s.get("/persons?cat=" + url.QueryEscape("农村留守儿童"))
	must(t, r, 200, "张小雨")
	mustNot(t, r, "王秀英")
	must(t, s.get("/persons?q=赵"), 200, "没有找到符合条件的对象")

	// Edit: the change is recorded with who made it.
	s.post("/accounts", url.Values{"name": {"王芳"}, "pin": {"567890"}, "pin2": {"567890"}})
	s.post("/logout", url.Values{})
	accs, _ := s.a.Store.Accounts(context.Background())
	for _, a := range accs {
		if a.Name == "王芳" {
			s.post("/login", url.Values{"account": {itoa(a.ID)}, "pin": {"567890"}})
		}
	}
	must(t, s.get("/persons/"+id+"/edit"), 200, `value="王秀英"`, `value="王强"`)
	v := personForm("王秀英", goodID)
	v.Set("phone", "13905510000")
	must(t, s.post("/persons/"+id+"/edit", url.Values{"name": {""}, "id_number": {goodID}, "categories": {"空巢老人"}}), http.StatusUnprocessableEntity, "请填写姓名")
	p = s.follow(s.post("/persons/"+id+"/edit", v))
	must(t, p, 200, "13905510000", "录入：李明", "最后修改：王芳")
	l, _ := s.a.Store.Get(context.Background(), records.Person, id)
	if l.UpdatedBy != "王芳" || l.CreatedBy != "李明" {
		t.Fatalf("by: %q/%q", l.CreatedBy, l.UpdatedBy)
	}

	// Exit needs a reason; then the person leaves the default list.
	must(t, s.post("/persons/"+id+"/exit", url.Values{}), http.StatusUnprocessableEntity, "请选择或填写退出原因")
	p = s.follow(s.post("/persons/"+id+"/exit", url.Values{"exit_preset": {"迁出本村"}, "exit_reason": {"随子女去上海"}}))
	must(t, p, 200, "已退出", "迁出本村：随子女去上海")
	mustNot(t, s.get("/persons"), "王秀英")
	must(t, s.get("/persons?status=已退出"), 200, "王秀英")
	must(t, s.follow(s.post("/persons/"+id+"/return", url.Values{})), 200, "已恢复在册")
	must(t, s.get("/persons/nonexistent-id-123"), http.StatusNotFound, "找不到这条记录")
}

func addPerson(t *testing.T, s *station, name, id string) string {
	t.Helper()
	return created(t, s.post("/persons/new", personForm(name, id)))
}

func visitForm(on string) url.Values {
	return url.Values{"visited_on": {on}, "visitors": {"李明、王芳"}, "method": {"入户走访"}, "situation": {"老人身体尚可，独自在家。"},
		"needs": {"生活照料", "医疗健康"}, "risk": {"正常"}, "measures": {"叮嘱按时服药"}}
}

func TestVisits(t *testing.T) {
	s := newStation(t)
	s.setup("李明")
	pid := addPerson(t, s, "王秀英", goodID)
	today := agent.Today(time.Now())
	// Never visited: overdue from the day after registration; today, due.
	must(t, s.get("/persons/"+pid), 200, "从未走访")

	f := s.get("/persons/" + pid + "/visits/new")
	// Prefilled: today, the cadre at the PC, a home visit, 30 days ahead
	// for 留守老年人.
	must(t, f, 200, `value="`+today+`"`, `value="李明"`, "按类别默认 30 天后", `value="`+time.Now().In(zone.Location()).AddDate(0, 0, 30).Format(time.DateOnly)+`"`)

	tomorrow := time.Now().In(zone.Location()).AddDate(0, 0, 1).Format(time.DateOnly)
	for _, tc := range []struct {
		name string
		edit func(url.Values)
		msg  string
	}{
		{"no date", func(v url.Values) { v.Set("visited_on", "") }, "请填写走访时间"},
		{"bad date", func(v url.Values) { v.Set("visited_on", "2026/1/5") }, "日期格式应为"},
		{"future", func(v url.Values) { v.Set("visited_on", tomorrow) }, "走访日期不能晚于今天"},
		{"no visitors", func(v url.Values) { v.Set("visitors", " ") }, "请填写走访人"},
		{"no method", func(v url.Values) { v.Del("method") }, "请选择方式"},
		{"bad method", func(v url.Values) { v.Set("method", "写信") }, "方式只能是"},
		{"no risk", func(v url.Values) { v.Del("risk") }, "请选择风险等级"},
		{"next before", func(v url.Values) { v.Set("next_due", "2020-01-01") }, "下次走访日期应晚于本次走访日期"},
		{"urgent without measures", func(v url.Values) { v.Set("risk", "紧急"); v.Set("measures", "") }, "紧急情况请填写已采取的帮扶措施"},
		{"bad need", func(v url.Values) { v["needs"] = []string{"买彩票"} }, "需求只能从以下选择"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := visitForm(today)
			tc.edit(v)
			r := s.post("/persons/"+pid+"/visits/new", v)
			must(t, r, http.StatusUnprocessableEntity, tc.msg, "老人身体尚可，独自在家。")
		})
	}
	v := visitForm(today)
	v.Set("next_due", time.Now().In(zone.Location()).AddDate(0, 0, 30).Format(time.DateOnly))
	p := s.follow(s.post("/persons/"+pid+"/visits/new", v))
	must(t, p, 200, "走访记录已保存", "老人身体尚可", "待上传")
	// An urgent visit is marked and said to go up first.
	u := visitForm(today)
	u.Set("risk", "紧急")
	u.Set("situation", "老人摔倒在家，已送医。")
	u.Set("measures", "已拨打120送医")
	p = s.follow(s.post("/persons/"+pid+"/visits/new", u))
	must(t, p, 200, "紧急走访已保存在本机，但县里现在连不上", "请马上打电话告诉乡镇（乡镇电话还没有填写", `class="badge danger">紧急`)
	if n := s.a.Store.UrgentPending(context.Background()); n != 1 {
		t.Fatalf("urgent pending %d", n)
	}
	must(t, s.get("/"), 200, "其中紧急")
	vis := s.get("/visits?risk=" + url.QueryEscape("紧急"))
	must(t, vis, 200, "老人摔倒在家")
	mustNot(t, vis, "老人身体尚可")
	must(t, s.get("/visits"), 200, "老人摔倒在家", "老人身体尚可")

	// Overdue: a person whose last visit was 100 days ago and who has no
	// next date is overdue (90-day default for 空巢老人 only).
	old := personForm("赵大爷", memberID)
	old["categories"] = []string{"空巢老人"}
	oid := created(t, s.post("/persons/new", old))
	ov := visitForm(time.Now().In(zone.Location()).AddDate(0, 0, -100).Format(time.DateOnly))
	s.follow(s.post("/persons/"+oid+"/visits/new", ov))
	r := s.get("/visits/overdue")
	must(t, r, 200, "赵大爷", "逾期未走访")
	mustNot(t, r, "王秀英")
	must(t, s.get("/persons/"+oid), 200, "（已逾期）")
	must(t, s.get("/"), 200, "赵大爷")
}

func TestApplicationsWithCountyDecision(t *testing.T) {
	c := newCounty(t)
	s := newStation(t)
	s.setup("李明")
	pid := addPerson(t, s, "王秀英", goodID)
	f := s.get("/applications/new?person=" + pid)
	must(t, f, 200, "新建救助申请：王秀英", `value="本人"`, `value="`+goodID+`"`)
	base := url.Values{"applicant_id": {pid}, "type": {"最低生活保障"}, "reason": {"独居，无固定收入，患慢性病需长期服药"},
		"household_income": {"420"}, "amount_requested": {"300.50"},
		"m_name_0": {"王秀英"}, "m_relation_0": {"本人"}, "m_id_0": {goodID}, "m_income_0": {"120"},
		"m_name_1": {"王强"}, "m_relation_1": {"儿子"}, "m_id_1": {memberID}, "m_income_1": {"300"}}
	for _, tc := range []struct {
		name string
		edit func(url.Values)
		msg  string
	}{
		{"no type", func(v url.Values) { v.Set("type", "") }, "请选择救助类型"},
		{"bad type", func(v url.Values) { v.Set("type", "彩票救助") }, "救助类型只能是"},
		{"no reason", func(v url.Values) { v.Set("reason", "") }, "请填写申请理由"},
		{"money words", func(v url.Values) { v.Set("amount_requested", "三百") }, "金额请填数字"},
		{"money fen", func(v url.Values) { v.Set("household_income", "1.234") }, "金额请填数字"},
		{"member ID", func(v url.Values) { v.Set("m_id_1", badID) }, "校验"},
		{"member name", func(v url.Values) { v.Set("m_name_1", "") }, "请填写姓名"},

		{"member income", func(v url.Values) { v.Set("m_income_1", "abc") }, "金额请填数字"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := url.Values{}
			for k, x := range base {
				v[k] = append([]string(nil), x...)
			}
			tc.edit(v)
			must(t, s.post("/applications/new", v), http.StatusUnprocessableEntity, tc.msg, `value="儿子"`)
		})
	}
	id := created(t, s.post("/applications/new", base))
	a := s.get("/applications/" + id)
	must(t, a, 200, "草稿", "王强", "340123********1233", "300.50 元", "420 元", "提交到县里")
	mustNot(t, a, memberID)
	// Edit the draft.
	must(t, s.get("/applications/"+id+"/edit"), 200, `value="300.50"`, `value="王强"`)
	base.Set("amount_requested", "350")
	must(t, s.follow(s.post("/applications/"+id+"/edit", base)), 200, "每月 350.00 元")
	// Submit, offline (not enrolled): saved, queued.
	must(t, s.follow(s.post("/applications/"+id+"/submit", url.Values{"comment": {"材料已齐"}})), 200, "已提交", "材料已齐")
	// A submitted application cannot be edited.
	r := s.get("/applications/" + id + "/edit")
	if r.Status != http.StatusSeeOther {
		t.Fatalf("edit submitted: %d", r.Status)
	}
	must(t, s.get(r.Location), 200, "不能再修改")
	base.Set("amount_requested", "400")
	must(t, s.post("/applications/"+id+"/edit", base), http.StatusUnprocessableEntity, "不能再修改")
	base.Set("amount_requested", "350")
	must(t, s.post("/applications/"+id+"/submit", url.Values{}), http.StatusUnprocessableEntity, "不能提交")

	// Enrol through the page, sync, the county returns it, sync again.
	must(t, s.post("/enroll", url.Values{"server": {c.srv.URL}, "code": {"WRONG-CODE2"}}), http.StatusUnprocessableEntity, "注册码不对")
	r = s.post("/enroll", url.Values{"server": {c.srv.URL}, "code": {c.code(t, village)}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("enrol: %d %s", r.Status, snippet(r.Body))
	}
	// Records made before enrolment wait for the county to be confirmed.
	must(t, s.follow(s.post("/enroll/confirm", url.Values{})), 200, "已确认")
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "同步成功", "已连上县里")
	ctx := context.Background()
	if err := c.store.Decide(ctx, server.Decision{ApplicationID: id, Op: records.OpReturn, By: "县民政局 张华", Comment: "请补充收入证明"}); err != nil {
		t.Fatal(err)
	}
	s.post("/sync", url.Values{})
	a = s.get("/applications/" + id)
	must(t, a, 200, "退回补充", "请补充收入证明", "县民政局 张华", "重新提交到县里")
	// Edit and resubmit.
	base.Set("reason", "独居，无固定收入，已补充收入证明")
	must(t, s.follow(s.post("/applications/"+id+"/edit", base)), 200, "已补充收入证明")
	must(t, s.follow(s.post("/applications/"+id+"/submit", url.Values{})), 200, "已提交")
	s.post("/sync", url.Values{})
	for _, d := range []server.Decision{
		{ApplicationID: id, Op: records.OpAccept, By: "县民政局 张华"},
		{ApplicationID: id, Op: records.OpApprove, By: "县民政局 张华", AmountFen: 30000, FromMonth: "2026-12", Comment: "符合条件，予以批准"},
	} {
		if err := c.store.Decide(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	s.post("/sync", url.Values{})
	a = s.get("/applications/" + id)
	must(t, a, 200, "已批准", "符合条件，予以批准", `<b id="approved-amount">每月 300.00 元，自 2026-12 起</b>`, "重新提交", "退回补充 → 已提交")
	must(t, s.get("/applications?status=approved"), 200, "王秀英")
	must(t, s.get("/applications/new"), http.StatusSeeOther)
}

func TestDisclosures(t *testing.T) {
	s := newStation(t)
	s.setup("李明")
	must(t, s.get("/disclosures/new"), 200, "新建公开事项")
	base := url.Values{"category": {"救助对象公示"}, "title": {"2026年第四季度低保对象公示"},
		"body":         {"<script>alert(1)</script>王秀英，身份证 340123195003070022，电话 13905510456，拟纳入低保。"},
		"publish_from": {"2026-11-01"}, "publish_until": {"2026-11-08"}}
	for _, tc := range []struct {
		name string
		edit func(url.Values)
		msg  string
	}{
		{"no category", func(v url.Values) { v.Set("category", "") }, "请选择类别"},
		{"no title", func(v url.Values) { v.Set("title", "") }, "请填写标题"},
		{"no body", func(v url.Values) { v.Set("body", "") }, "请填写正文"},
		{"until before from", func(v url.Values) { v.Set("publish_until", "2026-10-01") }, "公开截止日期不能早于开始日期"},
		{"bad date", func(v url.Values) { v.Set("publish_from", "11月1日") }, "日期格式应为"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := url.Values{}
			for k, x := range base {
				v[k] = append([]string(nil), x...)
			}
			tc.edit(v)
			must(t, s.post("/disclosures/new", v), http.StatusUnprocessableEntity, tc.msg)
		})
	}
	id := created(t, s.post("/disclosures/new", base))
	d := s.get("/disclosures/" + id)
	must(t, d, 200, "&lt;script&gt;alert(1)&lt;/script&gt;", "340123********0022", "139****0456", "草稿")
	mustNot(t, d, "<script>alert", "340123195003070022", "13905510456")
	// Publishing needs the supervision committee member's name, and a text
	// without full personal numbers (the draft page warns before).
	numbers := "正文中有身份证号码（340123********0022）、手机号码（139****0456），公开前请删去或只写后四位。"
	must(t, d, 200, numbers)
	must(t, s.post("/disclosures/"+id+"/publish", url.Values{}), http.StatusUnprocessableEntity, "发布前请填写审核人")
	must(t, s.post("/disclosures/"+id+"/publish", url.Values{"reviewer": {"陈德明"}}), http.StatusUnprocessableEntity, numbers)
	p := s.get("/disclosures/" + id + "/print")
	must(t, p, 200, "2026年第四季度低保对象公示", "340123********0022", "139****0456", "print.css", "&lt;script&gt;")
	mustNot(t, p, "340123195003070022", "13905510456", "<script>alert")
	clean := url.Values{}
	for k, x := range base {
		clean[k] = append([]string(nil), x...)
	}
	clean.Set("body", "<script>alert(1)</script>王秀英（身份证后四位0022），拟纳入低保。")
	must(t, s.follow(s.post("/disclosures/"+id+"/edit", clean)), 200, "已保存修改")
	d = s.follow(s.post("/disclosures/"+id+"/publish", url.Values{"reviewer": {"陈德明"}}))
	must(t, d, 200, "已发布", "陈德明", "撤回")
	mustNot(t, d, "公开前请删去")
	must(t, s.get("/disclosures/"+id+"/print"), 200, "陈德明", "身份证后四位0022")
	must(t, s.get("/disclosures?status=published"), 200, "2026年第四季度低保对象公示")
	must(t, s.follow(s.post("/disclosures/"+id+"/withdraw", url.Values{})), 200, "已撤回")
	must(t, s.get("/disclosures/"+id+"/edit"), 200, `value="2026年第四季度低保对象公示"`)
	base.Set("title", "")
	must(t, s.post("/disclosures/"+id+"/edit", base), http.StatusUnprocessableEntity, "请填写标题")
	base.Set("title", "改过的标题")
	must(t, s.follow(s.post("/disclosures/"+id+"/edit", base)), 200, "改过的标题", "已保存修改")
	// Saving the same form again says so, and queues nothing.
	pending, _ := s.a.Store.Pending(context.Background())
	d = s.follow(s.post("/disclosures/"+id+"/edit", base))
	must(t, d, 200, "改过的标题", "没有改动")
	mustNot(t, d, "已保存修改")
	if n, _ := s.a.Store.Pending(context.Background()); n != pending {
		t.Fatalf("an unchanged form queued %d changes", n-pending)
	}
	l, _ := s.a.Store.Get(context.Background(), records.Disclosure, id)
	if st := records.TextValue(l.Fields, "status"); st != "withdrawn" {
		t.Fatalf("status %q", st)
	}
}

func TestEnrollErrorsAndOffline(t *testing.T) {
	c := newCounty(t)
	s := newStation(t)
	// Install day: the first account, then the enrolment page.
	s.setup("李明")
	must(t, s.get("/enroll"), 200, "站点注册", "可以先离线录入")
	must(t, s.post("/enroll", url.Values{}), http.StatusUnprocessableEntity, "请填写县级服务器地址", "请填写县里给的注册码")
	must(t, s.post("/enroll", url.Values{"server": {"ftp://x"}, "code": {"A"}}), http.StatusUnprocessableEntity, "地址格式不对")
	// Nothing listens there: no network.
	down := "http://127.0.0.1:1"
	r := s.post("/enroll", url.Values{"server": {down}, "code": {"ABCDE-FGHJK"}})
	must(t, r, http.StatusUnprocessableEntity, "可以先离线录入，联网后再完成注册", `value="ABCDE-FGHJK"`)
	// A web server that is not the county's.
	other := newStation(t)
	other.setup("王芳")
	must(t, s.post("/enroll", url.Values{"server": {other.srv.URL}, "code": {"ABCDE-FGHJK"}}), http.StatusUnprocessableEntity, "不是县级服务器")
	must(t, s.post("/enroll", url.Values{"server": {c.srv.URL}, "code": {"ABCDE-FGHJK"}}), http.StatusUnprocessableEntity, "注册码不对")
	code := c.code(t, village)
	must(t, s.post("/enroll", url.Values{"server": {strings.TrimPrefix(c.srv.URL, "http://")}, "code": {strings.ToLower(code)}}), http.StatusSeeOther)
	must(t, s.get("/enroll?ok=1"), 200, "本站已注册", village)
	// Used code, on another station.
	must(t, other.post("/enroll", url.Values{"server": {c.srv.URL}, "code": {code}}), http.StatusUnprocessableEntity, "已经用过了")
}

func TestSyncBarRejectedConflictsSettings(t *testing.T) {
	c := newCounty(t)
	s := newStation(t)
	s.setup("李明")
	pid := addPerson(t, s, "王秀英", goodID)
	// Not enrolled: the bar says so and the button explains.
	must(t, s.get("/"), 200, "未注册", "待上传 <b id=\"sync-pending\">1</b>")
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "站点尚未注册")
	s.post("/enroll", url.Values{"server": {c.srv.URL}, "code": {c.code(t, village)}})
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "注册待确认")
	must(t, s.follow(s.post("/enroll/confirm", url.Values{})), 200, "已确认")
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "同步成功", "已连上县里", "待上传 <b id=\"sync-pending\">0</b>")
	// The county goes away: a plain reason, the last success kept.
	c.srv.Close()
	addPerson(t, s, "张三", memberID)
	r := s.follow(s.post("/sync", url.Values{}))
	must(t, r, 200, "同步没有成功", "连不上县级服务器", "未连上县里", "待上传 <b id=\"sync-pending\">1</b>")
	mustNot(t, r, "上次成功同步：<b id=\"sync-last\">从未")

	// The button comes back to the page it was pressed on, on this site only.
	if r := s.post("/sync", url.Values{"back": {"/persons/" + pid}}); r.Location != "/persons/"+pid {
		t.Fatalf("back to %q", r.Location)
	}
	if r := s.post("/sync", url.Values{"back": {"//evil.example/x"}}); r.Location != "/" {
		t.Fatalf("back to %q", r.Location)
	}

	// A refused change and a lost conflict, as the agent stores them.
	db := s.a.Store.DB().W
	if _, err := db.Exec(`INSERT INTO rejected (epoch, seq, kind, record_id, op, fields, code, reason, at) VALUES ('e', 9, 'person', ?, 'upsert', '{"phone":"x"}', 'invalid', '联系电话：电话号码只能包含数字', 1)`, pid); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO conflicts (id, kind, record_id, field, winner, winner_hlc, winner_origin, loser, loser_hlc, loser_origin, at) VALUES ('c1', 'person', ?, 'phone', '"13900000000"', 2, 'county', '"13905510456"', 1, 'st_x', 1)`, pid); err != nil {
		t.Fatal(err)
	}
	sy := s.get("/sync")
	must(t, sy, 200, "被县里退回的修改", "电话号码只能包含数字", "关爱对象：王秀英", "去修正", "13905510456（村站）", "13900000000（县里）")
	must(t, s.get("/persons/"+pid), 200, "县里退回了这条记录", "与县里的修改冲突", "13900000000")
	must(t, s.get("/"), 200, "县里退回 1 条，需修正", "冲突 1 条")
	rej, _ := s.a.Store.RejectedChanges(context.Background(), 10)
	must(t, s.follow(s.post("/rejected/"+itoa(rej[0].ID)+"/dismiss", url.Values{})), 200, "已标记为处理完毕", "没有被退回的修改")

	// Settings: validation, then saved to config.json and applied.
	must(t, s.get("/settings"), 200, "自动同步间隔", c.srv.URL, "运行日志")
	must(t, s.post("/settings", url.Values{"server": {"ftp://x"}, "interval": {"0"}}), http.StatusUnprocessableEntity, "地址格式不对", "同步间隔请填 1 到 1440")
	must(t, s.follow(s.post("/settings", url.Values{"server": {"http://127.0.0.1:9"}, "interval": {"5"}})), 200, "设置已保存并生效", `value="5"`)
	b, err := os.ReadFile(filepath.Join(s.dir, agent.ConfigFileName))
	if err != nil || !strings.Contains(string(b), `"5m0s"`) || !strings.Contains(string(b), "127.0.0.1:9") {
		t.Fatalf("config.json: %s %v", b, err)
	}
	if got := s.a.Store.Meta(context.Background(), "server_url"); got != "http://127.0.0.1:9" {
		t.Fatalf("server_url %q", got)
	}
}

func TestEveryPageRenders(t *testing.T) {
	s := newStation(t)
	s.setup("李明")
	pid := addPerson(t, s, "王秀英", goodID)
	s.follow(s.post("/persons/"+pid+"/visits/new", visitForm(agent.Today(time.Now()))))
	vs, _, _ := s.a.Store.Visits(context.Background(), agent.VisitQuery{PersonID: pid})
	aid := created(t, s.post("/applications/new", url.Values{"applicant_id": {pid}, "type": {"临时救助"}, "reason": {"火灾"}}))
	did := created(t, s.post("/disclosures/new", url.Values{"category": {"村务公开"}, "title": {"修路"}, "body": {"村里修路"}}))
	for _, p := range []string{"/", "/accounts", "/enroll", "/persons", "/persons/new", "/persons/" + pid, "/persons/" + pid + "/edit",
		"/persons/" + pid + "/visits/new", "/visits", "/visits/overdue", "/visits/" + vs[0].ID, "/applications", "/applications/" + aid,
		"/applications/" + aid + "/edit", "/disclosures", "/disclosures/new", "/disclosures/" + did, "/disclosures/" + did + "/edit",
		"/disclosures/" + did + "/print", "/sync", "/settings", "/static/app.css", "/static/app.js", "/static/print.css"} {
		r := s.get(p)
		if r.Status != 200 {
			t.Errorf("%s: %d %s", p, r.Status, snippet(r.Body))
		}
		if strings.HasPrefix(p, "/static") {
			continue
		}
		if !strings.Contains(r.Body, `lang="zh-CN"`) {
			t.Errorf("%s: not a page", p)
		}
		if p != "/disclosures/"+did+"/print" && !strings.Contains(r.Body, `id="syncbar"`) {
			t.Errorf("%s: no sync bar", p)
		}
	}
}

func TestPlainReason(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`Post "http://127.0.0.1:1/v1/push": dial tcp 127.0.0.1:1: connect: connection refused`, "连不上县级服务器"},
		{"syncproto: server answered 403 revoked: 站点已被县里停用", "这个站点已被县里停用"},
		{"站点尚未注册：可以先离线录入，联网后再完成注册", "站点尚未注册"},
		{"decode answer: invalid character '<'", "收到的不是县级服务器的应答"},
		{"x509: certificate has expired", "证书已过期或还没生效"},
	} {
		if got := web.PlainReason(tc.in); !strings.Contains(got, tc.want) {
			t.Errorf("%q: %q", tc.in, got)
		}
	}
}
