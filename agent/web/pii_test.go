package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"stationsync/internal/pii"
	"stationsync/internal/records"
)

// The numbers of issue 13 item 4, in the spellings the station's print
// view (and the county's portal) let through.
const (
	leakID     = "340123201303075288"
	leakMobile = "13175094058"
)

var leakSpellings = []string{
	"ID340123201303075288", "+8613175094058", "３４０１２３２０１３０３０７５２８８", "340123 20130307 5288",
	"131-7509-4058", "13175094058a", "身份证号：340123\u300020130307\u30005288", "电话+86 131 7509 4058",
	"0086-131-7509-4058", "１３１７５０９４０５８", "131\u200b7509\u200b4058",
}

var inputValue = regexp.MustCompile(`<input [^>]*value="[^"]*"`)

func discForm(title, body string) url.Values {
	return url.Values{"category": {"救助对象公示"}, "title": {title}, "body": {body},
		"publish_from": {"2026-11-01"}, "publish_until": {"2026-11-08"}}
}

// TestPrintViewMasksEverySpelling: the notice printed for the board (title,
// body and reviewer), the notice page and the list hide each spelling;
// ordinary figures stay.
func TestPrintViewMasksEverySpelling(t *testing.T) {
	s := newStation(t)
	s.setup("李明")
	v := discForm("关于王秀英（ID340123201303075288）的公示",
		"本月支出1500元，2026-12-03入账。"+strings.Join(leakSpellings, "；")+"。如有异议请于12月3日前反映。")
	v.Set("reviewer", "陈德明 131 7509 4058")
	id := created(t, s.post("/disclosures/new", v))
	for _, p := range []string{"/disclosures/" + id + "/print", "/disclosures/" + id, "/disclosures"} {
		r := s.get(p)
		must(t, r, 200)
		// A form field holds what the cadre typed, to be edited.
		n := pii.Normalize(inputValue.ReplaceAllString(r.Body, ""))
		for _, num := range []string{leakID, leakMobile} {
			if strings.Contains(n, num) {
				t.Errorf("%s shows %s: %s", p, num, snippet(r.Body))
			}
		}
	}
	must(t, s.get("/disclosures/"+id+"/print"), 200, "340123********5288", "131****4058", "1500元", "2026-12-03", "12月3日")
}

// TestPublishRefusesPersonalNumbers: a notice holding an ID or mobile
// number, in any spelling, cannot be published; the cadre is told which
// number (masked) and what to do, already on the draft; with only the last
// four digits it publishes.
func TestPublishRefusesPersonalNumbers(t *testing.T) {
	s := newStation(t)
	s.setup("李明")
	for _, sp := range leakSpellings {
		t.Run(sp, func(t *testing.T) {
			id := created(t, s.post("/disclosures/new", discForm("低保对象公示", "王秀英，"+sp+"，拟纳入低保。")))
			msg := "正文中有身份证号码（340123********5288），公开前请删去或只写后四位。"
			if strings.Contains(pii.Normalize(sp), leakMobile) {
				msg = "正文中有手机号码（131****4058），公开前请删去或只写后四位。"
			}
			must(t, s.get("/disclosures/"+id), 200, msg, "请点「修改」")
			must(t, s.post("/disclosures/"+id+"/publish", url.Values{"reviewer": {"陈德明"}}), http.StatusUnprocessableEntity, msg)
			l, err := s.a.Store.Get(context.Background(), records.Disclosure, id)
			if err != nil {
				t.Fatal(err)
			}
			if st := records.TextValue(l.Fields, "status"); st != "draft" {
				t.Fatalf("refused notice has status %q", st)
			}
		})
	}
	// The title is checked too.
	id := created(t, s.post("/disclosures/new", discForm("关于王秀英（１３１-７５０９-４０５８）的公示", "正文")))
	must(t, s.post("/disclosures/"+id+"/publish", url.Values{"reviewer": {"陈德明"}}), http.StatusUnprocessableEntity,
		"标题中有手机号码（131****4058），公开前请删去或只写后四位。")

	// Only the last four digits: published.
	id = created(t, s.post("/disclosures/new", discForm("低保对象公示", "王秀英（身份证后四位5288，电话尾号4058），拟纳入低保，每月1500元。")))
	mustNot(t, s.get("/disclosures/"+id), "公开前请删去")
	must(t, s.follow(s.post("/disclosures/"+id+"/publish", url.Values{"reviewer": {"陈德明"}})), 200, "已发布")

	// A published notice cannot be edited to hold a number either.
	must(t, s.post("/disclosures/"+id+"/edit", discForm("低保对象公示", "王秀英，电话13175094058。")), http.StatusUnprocessableEntity,
		"正文中有手机号码（131****4058），公开前请删去或只写后四位。")
	l, _ := s.a.Store.Get(context.Background(), records.Disclosure, id)
	if strings.Contains(records.TextValue(l.Fields, "body"), leakMobile) {
		t.Fatal("a published notice was edited to hold a mobile number")
	}
}
