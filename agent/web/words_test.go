package web_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"stationsync/agent/web"
	"stationsync/internal/idcard"
	"stationsync/internal/records"
	"stationsync/server"
	countyweb "stationsync/server/web"
)

// numberEndingX is the i-th valid ID number whose check character is X.
func numberEndingX(t *testing.T, i int) string {
	t.Helper()
	for seq := 0; seq < 1000; seq++ {
		n := idcard.Generate("340123", time.Date(1980+i, 5, 15, 0, 0, 0, 0, time.UTC), seq)
		if n[17] == 'X' {
			return n
		}
	}
	t.Fatal("no number ending in X")
	return ""
}

// The words of issue 14 item 14: what a cadre types the way people write
// it is read, and what is refused says what to type instead.

// An ID number copied off a card in groups, with dashes or in full-width
// characters from a Chinese input method is the number: it is stored in
// its 18 characters, not refused as "20位".
func TestIDNumberTypedInGroups(t *testing.T) {
	s := newStation(t)
	s.setup("李明")
	fullWidth := func(n string) string {
		return strings.Map(func(r rune) rune {
			switch {
			case r >= '0' && r <= '9':
				return r - '0' + '０'
			case r == 'X':
				return 'ｘ'
			}
			return r
		}, n)
	}
	groups := func(sep string) func(string) string {
		return func(n string) string { return n[:6] + sep + n[6:14] + sep + n[14:] }
	}
	for i, tc := range []struct {
		name  string
		typed func(string) string
	}{
		{"spaces", groups(" ")},
		{"dashes", groups("-")},
		{"fours", func(n string) string {
			return " " + n[:4] + " " + n[4:8] + " " + n[8:12] + " " + n[12:16] + " " + n[16:] + " "
		}},
		{"full-width with ideographic spaces", func(n string) string { return fullWidth(groups("\u3000")(n)) }},
		{"lower-case x in groups", func(n string) string { return strings.ToLower(groups(" ")(n)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := numberEndingX(t, i)
			typed := tc.typed(want)
			r := s.post("/persons/new", personForm("王秀英", typed))
			if r.Status != http.StatusSeeOther {
				t.Fatalf("%q refused: %d %s", typed, r.Status, snippet(r.Body))
			}
			p, err := s.a.Store.Get(context.Background(), records.Person, idRe.FindStringSubmatch(r.Location)[2])
			if err != nil {
				t.Fatal(err)
			}
			if got := records.TextValue(p.Fields, "id_number"); got != want {
				t.Fatalf("%q stored as %q, want %q", typed, got, want)
			}
			// The same person typed again the plain way is a duplicate.
			must(t, s.post("/persons/new", personForm("王秀英", want)), http.StatusUnprocessableEntity, "这个身份号码已登记")
		})
	}
	// A number that is short stays wrong, and its length is counted
	// without the spaces.
	r := s.post("/persons/new", personForm("王秀英", "340123 19500307 002"))
	must(t, r, http.StatusUnprocessableEntity, "现在是17位")

	// A family member's number on an application, typed in groups.
	pid := addPerson(t, s, "张桂兰", idcard.Generate("340123", time.Date(1955, 4, 4, 0, 0, 0, 0, time.UTC), 2))
	app := url.Values{"applicant_id": {pid}, "type": {"临时救助"}, "reason": {"看病"}, "m_name_0": {"王强"}, "m_relation_0": {"儿子"}, "m_id_0": {"340123 19800515 1233"}}
	aid := created(t, s.post("/applications/new", app))
	a, err := s.a.Store.Get(context.Background(), records.Application, aid)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(a.Fields["members"]), `"`+memberID+`"`) {
		t.Fatalf("member stored as %s", a.Fields["members"])
	}
}

// A 7-digit phone is somebody's landline without its area code: refused
// with what to type. A mobile or a landline with its area code is stored
// in one form, whatever separators were typed.
func TestPhoneNumbers(t *testing.T) {
	s := newStation(t)
	s.setup("李明")
	for _, tc := range []struct {
		field, typed, msg string
	}{
		{"phone", "6666123", "座机号码请加上区号"},
		{"phone", "66661234", "座机号码请加上区号"},
		{"phone", "1390551045", "请填 11 位手机号码"},
		{"phone", "12345678901", "请填 11 位手机号码"},
		{"phone", "0551-666612", "带区号的座机号码"},
		{"guardian_phone", "6666123", "座机号码请加上区号"},
		{"fa_phone_0", "5551234", "座机号码请加上区号"},
	} {
		t.Run(tc.field+" "+tc.typed, func(t *testing.T) {
			v := personForm("王秀英", goodID)
			if tc.field == "guardian_phone" {
				v.Set("guardian_name", "张奶奶")
			}
			v.Set(tc.field, tc.typed)
			r := s.post("/persons/new", v)
			must(t, r, http.StatusUnprocessableEntity, tc.msg, `value="`+tc.typed+`"`)
			if n, _ := s.a.Store.Pending(context.Background()); n != 0 {
				t.Fatalf("a refused form saved %d changes", n)
			}
		})
	}
	for i, tc := range []struct{ typed, want string }{
		{"139 0551 0456", "13905510456"},
		{"+86 139-0551-0456", "13905510456"},
		{"１３９０５５１０４５６", "13905510456"},
		{"0551 6666 1234", "0551-66661234"},
		{"(0551)6666123", "0551-6666123"},
		{"010-62345678", "010-62345678"},
	} {
		t.Run(tc.typed, func(t *testing.T) {
			v := personForm("王秀英", goodID)
			v.Set("phone", tc.typed)
			v.Set("id_number", idcard.Generate("340123", time.Date(1960, 1, 2, 0, 0, 0, 0, time.UTC), i))
			id := created(t, s.post("/persons/new", v))
			p, err := s.a.Store.Get(context.Background(), records.Person, id)
			if err != nil {
				t.Fatal(err)
			}
			if got := records.TextValue(p.Fields, "phone"); got != tc.want {
				t.Fatalf("stored %q, want %q", got, tc.want)
			}
		})
	}
	// The township's number in the settings follows the same rule.
	must(t, s.post("/settings", url.Values{"interval": {"60"}, "township_phone": {"6666123"}}), http.StatusUnprocessableEntity, "座机号码请加上区号")
}

// A PIN with letters is answered with what a PIN may be, on every form
// that takes one; at the log-in it is not counted as a wrong guess (it
// cannot be anyone's PIN). Full-width digits are digits.
func TestPINWords(t *testing.T) {
	s := newStation(t)
	const rule = "密码只能是 6 到 12 位数字（0–9），不能有字母、空格或符号"
	errSpan := func(msg string) string { return `<span class="err" role="alert">` + msg }
	must(t, s.post("/setup", url.Values{"name": {"李明"}, "pin": {"abc123"}, "pin2": {"abc123"}}), http.StatusUnprocessableEntity, errSpan(rule))
	must(t, s.post("/setup", url.Values{"name": {"李明"}, "pin": {"12345"}, "pin2": {"12345"}}), http.StatusUnprocessableEntity, errSpan("密码应为 6 到 12 位数字，现在是 5 位"))
	// A PIN typed in full-width digits is the same PIN.
	must(t, s.post("/setup", url.Values{"name": {"李明"}, "pin": {"２４６８１０"}, "pin2": {"246810"}}), http.StatusSeeOther)

	must(t, s.post("/accounts", url.Values{"name": {"王芳"}, "pin": {"12ab56"}, "pin2": {"12ab56"}}), http.StatusUnprocessableEntity, errSpan(rule))
	must(t, s.post("/accounts", url.Values{"name": {"王芳"}, "pin": {"567890"}, "pin2": {"567890"}}), http.StatusSeeOther)
	must(t, s.post("/accounts/pin", url.Values{"old_pin": {"246810"}, "new_pin": {"pass1234"}, "new_pin2": {"pass1234"}}), http.StatusUnprocessableEntity, errSpan(rule))
	must(t, s.get("/accounts"), 200, "6 到 12 位数字")
	mustNot(t, s.get("/accounts"), "4 到 12 位")

	accs, _ := s.a.Store.Accounts(context.Background())
	var wang string
	for _, a := range accs {
		if a.Name == "王芳" {
			wang = itoa(a.ID)
		}
	}
	// Six PINs with letters, more than the five wrong ones that lock an
	// account: each is told what a PIN is, and the account stays open.
	for range 6 {
		must(t, s.post("/login", url.Values{"account": {wang}, "pin": {"abcdef"}}), http.StatusUnprocessableEntity, errSpan("密码只有数字，不含字母"))
	}
	must(t, s.post("/login", url.Values{"account": {wang}, "pin": {"５６７８９０"}}), http.StatusSeeOther)
	must(t, s.get("/setup"), http.StatusSeeOther)
}

// selectRe finds a <select> and its first option.
var selectRe = regexp.MustCompile(`(?s)<select([^>]*)>\s*<option([^>]*)>([^<]*)</option>`)

// Every list to choose from on a station form starts with a 请选择 that
// cannot be chosen, so nothing is picked by accident; sent without a
// choice (what a browser sends while 请选择 shows), the form is refused
// with the field's name and nothing is saved.
func TestSelectsSayChoose(t *testing.T) {
	s := newStation(t)
	s.setup("李明")
	pid := addPerson(t, s, "王秀英", goodID)
	aid := created(t, s.post("/applications/new", url.Values{"applicant_id": {pid}, "type": {"临时救助"}, "reason": {"看病"}}))
	did := created(t, s.post("/disclosures/new", url.Values{"category": {"村务公开"}, "title": {"修路"}, "body": {"村道硬化"}}))
	pages := []string{"/persons/new", "/persons/" + pid + "/edit", "/persons/" + pid + "/visits/new", "/applications/new?person=" + pid,
		"/applications/" + aid + "/edit", "/disclosures/new", "/disclosures/" + did + "/edit", "/settings", "/accounts"}
	seen := 0
	for _, p := range pages {
		r := s.get(p)
		must(t, r, 200)
		for _, m := range selectRe.FindAllStringSubmatch(r.Body, -1) {
			seen++
			if strings.Contains(m[1], "multiple") {
				continue
			}
			if strings.TrimSpace(m[3]) != "请选择" || !strings.Contains(m[2], `value=""`) || !strings.Contains(m[2], "disabled") {
				t.Errorf("%s: <select%s> starts with <option%s>%s", p, m[1], m[2], m[3])
			}
		}
	}
	if seen < 4 {
		t.Fatalf("only %d lists to choose from on the forms", seen)
	}
	// A new form shows 请选择; an edit shows the saved choice.
	must(t, s.get("/applications/new?person="+pid), 200, `<option value="" disabled selected>请选择</option>`)
	must(t, s.get("/applications/"+aid+"/edit"), 200, `<option value="" disabled >请选择</option>`, `<option selected>临时救助</option>`)

	n0, _ := s.a.Store.Pending(context.Background())
	must(t, s.post("/applications/new", url.Values{"applicant_id": {pid}, "reason": {"看病"}}), http.StatusUnprocessableEntity, `<span class="err" role="alert">请选择救助类型</span>`)
	must(t, s.post("/disclosures/new", url.Values{"title": {"修路"}, "body": {"村道硬化"}}), http.StatusUnprocessableEntity, `<span class="err" role="alert">请选择类别</span>`)
	must(t, s.post("/disclosures/"+did+"/edit", url.Values{"title": {"修路"}, "body": {"村道硬化"}}), http.StatusUnprocessableEntity, `<span class="err" role="alert">请选择类别</span>`)
	v := visitForm(time.Now().Format(time.DateOnly))
	v.Del("method")
	must(t, s.post("/persons/"+pid+"/visits/new", v), http.StatusUnprocessableEntity, `<span class="err" role="alert">请选择方式</span>`)
	if n, _ := s.a.Store.Pending(context.Background()); n != n0 {
		t.Fatalf("refused forms saved %d changes", n-n0)
	}
}

// The last sync error is told in Chinese by its class, each saying what to
// do (or that nothing needs doing); the program's own words stay behind a
// 详细 toggle on the sync page and in the bar.
func TestSyncErrorExplained(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{`Post "https://10.1.2.3:8870/v1/push": dial tcp 10.1.2.3:8870: connect: connection refused`, "连不上县级服务器"},
		{`Post "https://10.1.2.3:8870/v1/pull": dial tcp 10.1.2.3:8870: i/o timeout`, "连不上县级服务器"},
		{`POST /v1/push: context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, "连不上县级服务器"},
		{`POST /v1/push: dial tcp: lookup county.example: no such host`, "找不到县级服务器"},
		{`POST /v1/push: tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2009-01-01T00:00:05Z is before 2026-01-01T00:00:00Z`, "多半是这台电脑的日期不对"},
		{`POST /v1/push: syncproto: server certificate is not trusted: it does not match the pinned fingerprint`, "证书与注册时的不一致"},
		{`POST /v1/push: tls: failed to verify certificate: x509: certificate signed by unknown authority`, "证书无法验证"},
		{`syncproto: server answered 403 revoked: 这个站点已被县里停用，请联系县民政局`, "这个站点已被县里停用，不能再同步"},
		{`syncproto: server answered 401 clock_skew: 电脑时间与县里相差太大，已自动校准后重试`, "请把电脑右下角的日期和时间改对"},
		{`syncproto: server answered 503 overloaded: 县级服务器繁忙，稍后会自动重试`, "县级服务器正忙，稍后会自动重试，不用处理"},
		{`syncproto: server answered 429 too_many: 本站同时上传的请求太多`, "县级服务器正忙"},
		{`syncproto: server answered 429 rate_limited: 请求太多`, "县级服务器正忙"},
		{`syncproto: server answered 500 internal: 县级服务器内部错误`, "县级服务器出了故障"},
		{`syncproto: server answered 401 unknown_station: 县里没有这个站点的注册记录，请重新注册`, "重新注册"},
		{`syncproto: server answered 400 version_unsupported: 请升级`, "升级村站通"},
		{`syncproto: server answered 502 http: 服务器返回了意外的应答（502），请检查县级服务器地址`, "县级服务器正忙"},
		{`syncproto: server answered 200 http: 收到的不是县级服务器的应答（可能是运营商或网络登录页面）`, "收到的不是县级服务器的应答"},
		{`apply pulled page: 电脑磁盘空间已满，这条记录没有保存`, "本机磁盘已满"},
		{`apply pulled page: database or disk is full`, "本机磁盘已满"},
		{`open C:\ProgramData\stationsync\x: There is not enough space on the disk. no space left on device`, "本机磁盘已满"},
		{`POST /v1/pull: decode answer: invalid character '<' looking for beginning of value`, "收到的不是县级服务器的应答"},
		{`push: county expects change 41, station sent from 57`, "县级服务器可能恢复过备份"},
		{`注册未完成: syncproto: server answered 400 code_used: 注册码已被使用`, "注册没有完成：注册码已被使用"},
	} {
		got := web.PlainReason(tc.raw)
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s\n  reads %q, want %q", tc.raw, got, tc.want)
		}
		for _, en := range []string{"dial", "tcp", "x509", "tls", "syncproto", "server answered", "disk"} {
			if strings.Contains(got, en) {
				t.Errorf("%s\n  reads %q: program words in the sentence", tc.raw, got)
			}
		}
	}

	s := newStation(t)
	s.setup("李明")
	const raw = `Post "https://10.1.2.3:8870/v1/push": syncproto: server answered 403 revoked: 这个站点已被县里停用，请联系县民政局`
	if err := s.a.Store.SetMeta(context.Background(), map[string]string{"last_error": raw, "clock_offset_ms": "300000", "last_ok_at": "1767225600000"}); err != nil {
		t.Fatal(err)
	}
	escaped := html.EscapeString(raw)
	details := `<details class="rawerr"><summary>详细</summary><code>` + escaped + `</code></details>`
	for _, p := range []string{"/sync", "/sync/bar", "/persons"} {
		r := s.get(p)
		must(t, r, 200, "这个站点已被县里停用，不能再同步", details)
		// The raw text is nowhere but behind the toggle.
		if n := strings.Count(r.Body, escaped); n != strings.Count(r.Body, details) {
			t.Errorf("%s: the raw error shows %d times, %d of them behind 详细", p, n, strings.Count(r.Body, details))
		}
	}
	// Logged out, the bar still says why, without the program's words.
	s.post("/logout", url.Values{})
	lg := s.get("/login")
	must(t, lg, 200, "这个站点已被县里停用，不能再同步")
	mustNot(t, lg, "详细", "10.1.2.3")
	s.post("/login", url.Values{"account": {"1"}, "pin": {"246810"}})
	// The station's clock in words beside it: 5 minutes behind the county.
	must(t, s.get("/sync"), 200, `<dd id="sync-clock">本机时钟慢 5 分钟</dd>`)
	s.a.Store.SetMeta(context.Background(), map[string]string{"clock_offset_ms": "-800"})
	must(t, s.get("/sync"), 200, `<dd id="sync-clock">时钟准确</dd>`)
}

// The station shows an application's amount with its meaning, as the
// county does: 每月 for 低保 and 特困, 一次性 for 临时救助 and the rest.
func TestApplicationAmountMeaning(t *testing.T) {
	c := newCounty(t)
	s := newStation(t)
	s.setup("李明")
	must(t, s.post("/enroll", url.Values{"server": {c.srv.URL}, "code": {c.code(t, village)}}), http.StatusSeeOther)
	pid := addPerson(t, s, "王秀英", goodID)
	ids := map[string]string{}
	for _, typ := range []string{"最低生活保障", "临时救助"} {
		id := created(t, s.post("/applications/new", url.Values{"applicant_id": {pid}, "type": {typ}, "reason": {"独居"}, "amount_requested": {"800"}}))
		must(t, s.follow(s.post("/applications/"+id+"/submit", url.Values{})), 200, "已提交")
		ids[typ] = id
	}
	must(t, s.get("/applications/"+ids["最低生活保障"]), 200, `<dd id="requested-amount">每月 800.00 元</dd>`)
	must(t, s.get("/applications/"+ids["临时救助"]), 200, `<dd id="requested-amount">一次性 800.00 元</dd>`)
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "同步成功")
	ctx := context.Background()
	for typ, id := range ids {
		for _, d := range []server.Decision{
			{ApplicationID: id, Op: records.OpAccept, By: "县民政局 张华"},
			{ApplicationID: id, Op: records.OpApprove, By: "县民政局 张华", AmountFen: 65000, FromMonth: "2026-12"},
		} {
			if err := c.store.Decide(ctx, d); err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
		}
	}
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "同步成功")
	must(t, s.get("/applications/"+ids["最低生活保障"]), 200, `<b id="approved-amount">每月 650.00 元，自 2026-12 起</b>`)
	must(t, s.get("/applications/"+ids["临时救助"]), 200, `<b id="approved-amount">一次性 650.00 元（2026-12）</b>`)
	mustNot(t, s.get("/applications/"+ids["临时救助"]), "每月")
}

// choiceRe reads a box offered to mark a number of a disclosure public:
// its tag, whether it is ticked, the words before the number and the
// number masked.
var choiceRe = regexp.MustCompile(`name="public_numbers" value="([0-9a-f]+)"( checked)?> ([^<]*)<span class="mono">([^<]*)</span>`)

// A disclosure's public contact number (the 村会计's phone) is not a care
// subject's personal number: its publisher ticks it when publishing, and
// the notice, its print and the page show it whole, in the spelling it was
// typed; every other number stays masked and still stops publication. The
// page never holds a full number nobody marked, not even in the boxes.
func TestPublicContactNumber(t *testing.T) {
	s := newStation(t)
	s.setup("李明")
	body := "2026年11月村级财务收支明细已张贴。如有疑问请找村会计王建国，电话 139-0551-0456。\n低保户王秀英（电话13800138000）本月领取1500元。"
	id := created(t, s.post("/disclosures/new", url.Values{"category": {"财务公开"}, "title": {"2026年11月财务公开"}, "body": {body}}))
	d := s.get("/disclosures/" + id)
	must(t, d, 200, "139-****-0456", "138****8000", `id="public-numbers"`)
	mustNot(t, d, "13905510456", "139-0551-0456", "0551", "13800138000")
	choices := choiceRe.FindAllStringSubmatch(d.Body, -1)
	if len(choices) != 2 || !strings.Contains(choices[0][3], "村会计王建国，电话") || choices[0][4] != "139****0456" || choices[1][4] != "138****8000" {
		t.Fatalf("choices offered: %q", choices)
	}
	accountant, subject := choices[0][1], choices[1][1]

	// Nothing ticked: both numbers stop the publication.
	r := s.post("/disclosures/"+id+"/publish", url.Values{"reviewer": {"陈德明"}})
	must(t, r, http.StatusUnprocessableEntity, "139****0456", "138****8000", "发布时勾选它即可完整显示")
	// The 村会计's number ticked: 王秀英's alone still does, and the page
	// keeps the tick.
	r = s.post("/disclosures/"+id+"/publish", url.Values{"reviewer": {"陈德明"}, "public_numbers": {accountant}})
	must(t, r, http.StatusUnprocessableEntity, "正文中有手机号码（138****8000）", `value="`+accountant+`" checked`)
	mustNot(t, r, "13905510456", "0551-0456", "手机号码（139****0456）")
	// A tag of no number in the text marks nothing.
	must(t, s.post("/disclosures/"+id+"/publish", url.Values{"reviewer": {"陈德明"}, "public_numbers": {"13800138000", "00ff"}}), http.StatusUnprocessableEntity, "139****0456", "138****8000")
	l, _ := s.a.Store.Get(context.Background(), records.Disclosure, id)
	if st := records.TextValue(l.Fields, "status"); st != "draft" {
		t.Fatalf("refused publications left status %q", st)
	}

	// The cadre takes 王秀英's number out in the form, ticking the
	// 村会计's there; the tick of a number no longer in the text is dropped.
	e := s.get("/disclosures/" + id + "/edit")
	must(t, e, 200, `value="`+accountant+`">`, `value="`+subject+`">`)
	v := url.Values{"category": {"财务公开"}, "title": {"2026年11月财务公开"}, "body": {strings.Replace(body, "（电话13800138000）", "", 1)},
		"public_numbers": {accountant, subject}}
	must(t, s.follow(s.post("/disclosures/"+id+"/edit", v)), 200, "已保存修改")
	l, _ = s.a.Store.Get(context.Background(), records.Disclosure, id)
	if got := string(l.Fields["public_numbers"]); got != `["13905510456"]` {
		t.Fatalf("public_numbers stored as %s", got)
	}
	d = s.get("/disclosures/" + id)
	if c := choiceRe.FindAllStringSubmatch(d.Body, -1); len(c) != 1 || c[0][2] != " checked" {
		t.Fatalf("after the edit: %q", c)
	}
	d = s.follow(s.post("/disclosures/"+id+"/publish", url.Values{"reviewer": {"陈德明"}, "public_numbers": {accountant}}))
	must(t, d, 200, "已发布", "电话 139-0551-0456", `<dd id="public-list" class="mono">139 0551 0456</dd>`)
	p := s.get("/disclosures/" + id + "/print")
	must(t, p, 200, "请找村会计王建国，电话 139-0551-0456。")

	// A care subject's number added to the published notice is masked
	// and stops the edit.
	v.Set("body", body)
	v["public_numbers"] = []string{accountant}
	must(t, s.post("/disclosures/"+id+"/edit", v), http.StatusUnprocessableEntity, "138****8000")
	mustNot(t, s.get("/disclosures/"+id+"/print"), "13800138000")
}

// The mark travels to the county as an ordinary field of the disclosure,
// and the county's public portal keeps the marked number whole and masks
// the rest, as the station's notice does.
func TestPublicContactNumberOnThePortal(t *testing.T) {
	st, err := server.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "county.db"), "340123")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(st, quiet)
	srv.Web = countyweb.New(st, quiet)
	hs := httptest.NewServer(srv.NewHandler())
	t.Cleanup(func() { hs.Close(); st.Close() })
	c := &county{store: st, srv: hs}

	s := newStation(t)
	s.setup("李明")
	must(t, s.post("/enroll", url.Values{"server": {c.srv.URL}, "code": {c.code(t, village)}}), http.StatusSeeOther)
	body := "如有疑问请找村会计王建国，电话 １３９ ０５５１ ０４５６。低保户王秀英身份证340123195003070022。"
	id := created(t, s.post("/disclosures/new", url.Values{"category": {"财务公开"}, "title": {"财务公开"}, "body": {body},
		"publish_from": {time.Now().AddDate(0, 0, -1).Format(time.DateOnly)}, "publish_until": {time.Now().AddDate(0, 0, 7).Format(time.DateOnly)}}))
	d := s.get("/disclosures/" + id)
	choices := choiceRe.FindAllStringSubmatch(d.Body, -1)
	if len(choices) != 1 {
		t.Fatalf("choices: %q", choices)
	}
	// The ID number cannot be marked: the notice is refused until it goes.
	must(t, s.post("/disclosures/"+id+"/publish", url.Values{"reviewer": {"陈德明"}, "public_numbers": {choices[0][1]}}), http.StatusUnprocessableEntity, "340123********0022")
	edit := url.Values{"category": {"财务公开"}, "title": {"财务公开"}, "body": {strings.Replace(body, "身份证340123195003070022", "（身份证后四位0022）", 1)},
		"publish_from": {time.Now().AddDate(0, 0, -1).Format(time.DateOnly)}, "publish_until": {time.Now().AddDate(0, 0, 7).Format(time.DateOnly)}}
	must(t, s.follow(s.post("/disclosures/"+id+"/edit", edit)), 200, "已保存修改")
	must(t, s.follow(s.post("/disclosures/"+id+"/publish", url.Values{"reviewer": {"陈德明"}, "public_numbers": {choices[0][1]}})), 200, "已发布")
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "同步成功")

	r, err := http.Get(c.srv.URL + "/public/d/" + id)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.Contains(string(b), "电话 １３９ ０５５１ ０４５６。") {
		t.Fatalf("portal: %d, marked number not whole: %s", r.StatusCode, b)
	}
	rec, err := st.Record(context.Background(), records.Disclosure, id, "")
	if err != nil || string(rec.Record.Fields["public_numbers"]) != `["13905510456"]` {
		t.Fatalf("county holds public_numbers %s (%v)", rec.Record.Fields["public_numbers"], err)
	}
}
