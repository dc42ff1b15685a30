package web_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"stationsync/internal/pii"
	"stationsync/internal/records"
)

// The numbers of issue 13 item 4 and the spellings that came back in clear
// on /public/d/<id> and on staff pages.
const (
	leakID     = "340123201303075288"
	leakMobile = "13175094058"
)

var leakSpellings = []string{
	"ID340123201303075288", "+8613175094058", "３４０１２３２０１３０３０７５２８８", "340123 20130307 5288",
	"131-7509-4058", "13175094058a", "身份证号：340123\u300020130307\u30005288", "电话+86 131 7509 4058",
	"0086-131-7509-4058", "１３１７５０９４０５８", "131\u200b7509\u200b4058",
}

// publishLeaky stores a published disclosure in villA whose title and body
// hold every spelling, as a station might send it.
func publishLeaky(t *testing.T, f *fixture) string {
	t.Helper()
	today := time.UnixMilli(f.now.Load())
	id, err := f.store.CountyCreate(context.Background(), villA, records.Disclosure, records.Fields{
		"category":      records.JSONText("财务公开"),
		"title":         records.JSONText("关于王秀英（ID340123201303075288，电话131-7509-4058）的公示"),
		"body":          records.JSONText("本月支出1500元，2026-12-03入账。" + strings.Join(leakSpellings, "；") + "。如有异议请于12月3日前反映。"),
		"publish_from":  records.JSONText(today.AddDate(0, 0, -1).Format("2006-01-02")),
		"publish_until": records.JSONText(today.AddDate(0, 0, 6).Format("2006-01-02")),
		"reviewer":      records.JSONText("陈德明 13905510456"),
		"status":        records.JSONText("published"),
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// readable reports whether a number can be read from text in any of the
// spellings: digits of every script and the separators between them are
// joined up first.
func readable(text string, numbers ...string) string {
	n := pii.Normalize(text)
	for _, num := range numbers {
		if strings.Contains(n, num) {
			return num
		}
	}
	return ""
}

// TestPortalAndStaffPagesMaskEverySpelling: no page that a user without
// full-number rights, or anyone on the public portal, can open shows the
// numbers in any of the spellings.
func TestPortalAndStaffPagesMaskEverySpelling(t *testing.T) {
	f := newFixture(t)
	id := publishLeaky(t, f)
	anon := f.client()
	for _, p := range []string{"/public/", "/public/v/" + villA, "/public/d/" + id} {
		r := anon.get(p)
		if r.StatusCode != 200 {
			t.Fatalf("GET %s: %d", p, r.StatusCode)
		}
		if n := readable(r.body, leakID, leakMobile, "13905510456"); n != "" {
			t.Errorf("public %s shows %s", p, n)
		}
	}
	pub := anon.get("/public/d/" + id)
	for _, want := range []string{"340123********5288", "131****4058", "1500元", "2026-12-03", "12月3日"} {
		if !strings.Contains(pub.body, want) {
			t.Errorf("public disclosure lacks %q", want)
		}
	}

	c := f.login("county") // no full-number rights
	for _, p := range []string{"/records/disclosure", "/records/disclosure/" + id, "/api/records/disclosure/" + id, "/export/disclosure.csv"} {
		r := c.get(p)
		if r.StatusCode != 200 {
			t.Fatalf("GET %s: %d", p, r.StatusCode)
		}
		if n := readable(r.body, leakID, leakMobile, "13905510456"); n != "" {
			t.Errorf("county user: %s shows %s", p, n)
		}
	}
	x := c.get("/export/disclosure.xlsx")
	xf, err := excelize.OpenReader(bytes.NewReader([]byte(x.body)))
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := xf.GetRows(xf.GetSheetName(0))
	for _, row := range rows {
		if n := readable(strings.Join(row, " "), leakID, leakMobile, "13905510456"); n != "" {
			t.Errorf("county user: xlsx export shows %s in %v", n, row)
		}
	}

	// With full-number rights the record is shown as typed.
	if r := f.login("admin").get("/records/disclosure/" + id); !strings.Contains(r.body, "ID340123201303075288") {
		t.Error("admin with full-number rights does not see the number as typed")
	}
}

// TestCountyDisclosureFormMasks: the 救助对象公示 the county writes from an
// approved application is stored with title and body masked, whatever was
// typed, so that not even a full-number account republishes a number.
func TestCountyDisclosureFormMasks(t *testing.T) {
	f := newFixture(t)
	c := f.login("county")
	id := f.apps[villA][0]
	for _, v := range []url.Values{
		{"id": {id}, "op": {"accept"}},
		{"id": {id}, "op": {"review"}},
		{"id": {id}, "op": {"approve"}, "amount": {"650"}, "from": {"2026-01"}, "comment": {"符合条件"}},
	} {
		if r := c.post("/applications/decide", v); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("%v: %d %.300s", v, r.StatusCode, r.body)
		}
	}
	today := time.UnixMilli(f.now.Load())
	r := c.post("/applications/"+id+"/disclosure", url.Values{
		"title": {"关于王秀英（１３１-７５０９-４０５８）的公示"}, "body": {"王秀英，" + strings.Join(leakSpellings, "；")},
		"from": {today.Format("2006-01-02")}, "until": {today.AddDate(0, 0, 7).Format("2006-01-02")}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create disclosure: %d %.300s", r.StatusCode, r.body)
	}
	rec := f.login("admin").get(r.Header.Get("Location"))
	if rec.StatusCode != http.StatusOK {
		t.Fatalf("record page: %d", rec.StatusCode)
	}
	if n := readable(rec.body, leakID, leakMobile); n != "" {
		t.Errorf("the county's disclosure was stored with %s", n)
	}
	if !strings.Contains(rec.body, "１３１-****-４０５８") {
		t.Errorf("title not stored masked: %.2000s", rec.body)
	}
}
