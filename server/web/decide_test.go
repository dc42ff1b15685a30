package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"stationsync/internal/records"
)

// opsOffered returns the decision radio values a record page offers.
func opsOffered(body string) []string {
	var out []string
	for _, op := range []string{"accept", "review", "approve", "reject", "return"} {
		if strings.Contains(body, `name="op" value="`+op+`"`) {
			out = append(out, op)
		}
	}
	return out
}

func TestDecisionOffersOnlyValidSteps(t *testing.T) {
	f := newFixture(t)
	county, town := f.login("county"), f.login("towna")
	id := f.apps[villA][0]
	path := "/records/application/" + id
	for _, tc := range []struct {
		c    *client
		want string
	}{
		{county, "accept review approve reject return"}, // 已提交, one-action approval allowed
		{town, "accept review return"},                  // a township takes each step
	} {
		if got := strings.Join(opsOffered(tc.c.get(path).body), " "); got != tc.want {
			t.Errorf("submitted: offered %q, want %q", got, tc.want)
		}
	}
	if r := county.post("/applications/decide", url.Values{"id": {id}, "op": {"accept"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("accept: %d", r.StatusCode)
	}
	if got := strings.Join(opsOffered(county.get(path).body), " "); got != "review approve reject return" {
		t.Errorf("accepted: offered %q", got)
	}
	if r := county.post("/applications/decide", url.Values{"id": {id}, "op": {"approve"}, "amount": {"650"}, "from": {"2026-01"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", r.StatusCode, r.body)
	}
	body := county.get(path).body
	if got := opsOffered(body); len(got) != 0 || strings.Contains(body, `id="decide"`) {
		t.Errorf("approved: offered %v, want no decision form", got)
	}
}

func TestOneActionApprovalKeepsEveryStep(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.apps[villA][0]
	// A township office may not skip steps: the form comes back with why.
	r := f.login("towna").post("/applications/decide", url.Values{"id": {id}, "op": {"approve"}, "amount": {"650"}, "from": {"2026-01"}, "back": {"/records/application/" + id}})
	if r.StatusCode != http.StatusConflict || !strings.Contains(r.body, `id="decide"`) || !strings.Contains(r.body, "不能批准") {
		t.Errorf("township direct approval: %d, want 409 with the form and the reason: %.400s", r.StatusCode, r.body)
	}
	if a, _ := f.store.Application(ctx, id, ""); a.Status != records.StatusSubmitted {
		t.Errorf("after the refused approval: %s", a.Status)
	}
	c := f.login("county")
	r = c.post("/applications/decide", url.Values{"id": {id}, "op": {"approve"}, "amount": {"650"}, "from": {"2026-01"}, "comment": {"材料齐全"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("county direct approval: %d %.300s", r.StatusCode, r.body)
	}
	rec, err := f.store.Record(ctx, records.Application, id, "")
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, h := range rec.History {
		steps = append(steps, h.From+">"+h.To)
	}
	want := "draft>submitted submitted>accepted accepted>reviewing reviewing>approved"
	if got := strings.Join(steps, " "); got != want {
		t.Errorf("history %q, want %q", got, want)
	}
	if last := rec.History[len(rec.History)-1]; last.Comment != "材料齐全" || last.By != "县民政局张三" {
		t.Errorf("approval step: %+v", last)
	}
	audit := f.login("admin").get("/audit?action=decision")
	if !strings.Contains(audit.body, "受理→进入审核→批准") {
		t.Errorf("audit does not say the approval took three steps: %.500s", audit.body)
	}
	// With the setting off, the county takes each step too.
	if err := f.store.SetSetting(ctx, "direct_approve", false); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(opsOffered(c.get("/records/application/"+f.apps[villA][1]).body), " "); got != "accept review return" {
		t.Errorf("direct approval off: offered %q", got)
	}
}

func TestRefusedDecisionReturnsToForm(t *testing.T) {
	f := newFixture(t)
	c := f.login("county")
	id := f.apps[villA][0]
	back := "/records/application/" + id
	for _, tc := range []struct {
		form   url.Values
		reason string
	}{
		{url.Values{"op": {"approve"}, "from": {"2026-01"}, "comment": {"请核实收入"}}, "批准时请填写金额"},
		{url.Values{"op": {"reject"}, "comment": {""}}, "不予批准时请填写理由"},
		{url.Values{"op": {"bogus"}, "comment": {"请核实收入"}}, "请选择审核操作"},
	} {
		tc.form.Set("id", id)
		tc.form.Set("back", back)
		r := c.post("/applications/decide", tc.form)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, `id="decide"`) || !strings.Contains(r.body, tc.reason) {
			t.Errorf("%v: %d, want 400 on the record's form with %q: %.300s", tc.form, r.StatusCode, tc.reason, r.body)
		}
		if strings.Contains(r.body, "出错了") {
			t.Errorf("%v: a bare error page", tc.form)
		}
		if c := tc.form.Get("comment"); c != "" && !strings.Contains(r.body, c) {
			t.Errorf("%v: the comment typed was lost", tc.form)
		}
	}
}

func TestAmountMeaningFollowsType(t *testing.T) {
	f := newFixture(t)
	c := f.login("county")
	monthly, once := f.apps[villA][0], f.apps[villA][2]
	if b := c.get("/records/application/" + monthly).body; !strings.Contains(b, "每月") || strings.Contains(b, "一次性发放") {
		t.Error("低保 form does not ask for a monthly amount")
	}
	if b := c.get("/records/application/" + once).body; !strings.Contains(b, "一次性发放") || strings.Contains(b, "每月 <input") {
		t.Error("临时救助 form asks for a monthly amount")
	}
	if r := c.post("/applications/decide", url.Values{"id": {once}, "op": {"approve"}, "amount": {"800"}, "from": {"2026-02"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve 临时救助: %d %.300s", r.StatusCode, r.body)
	}
	audit := f.login("admin").get("/audit?action=decision").body
	if !strings.Contains(audit, "一次性800.00元") || strings.Contains(audit, "800.00元/月") {
		t.Errorf("audit reads a one-off sum as monthly: %.500s", audit)
	}
	if b := c.get("/records/application/" + once).body; !strings.Contains(b, "一次性 800.00 元") {
		t.Errorf("record page does not say the approved sum is paid once")
	}
	if got := records.AmountText("最低生活保障", 65000, "2026-01"); got != "每月 650.00 元，自 2026-01 起" {
		t.Errorf("AmountText 低保: %q", got)
	}
}
