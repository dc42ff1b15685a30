package web_test

import (
	"net/http"
	"net/url"
	"testing"
)

// The application list says what an amount means, as the application's
// own page does (records.AmountText): 每月 for 低保 and 特困, 一次性 for
// 临时救助 and the rest; a bare "800 元" left the cadre to guess.
func TestApplicationListAmountMeaning(t *testing.T) {
	s := newStation(t)
	s.setup("李明")
	pid := addPerson(t, s, "王秀英", goodID)
	for _, typ := range []string{"最低生活保障", "临时救助"} {
		created(t, s.post("/applications/new", url.Values{"applicant_id": {pid}, "type": {typ}, "reason": {"独居"}, "amount_requested": {"800"}}))
	}
	l := s.get("/applications")
	must(t, l, http.StatusOK, `<td data-label="申请金额">每月 800.00 元</td>`, `<td data-label="申请金额">一次性 800.00 元</td>`)
	mustNot(t, l, ">800 元<")
}

// The disclosure list masks a title as the disclosure's page does
// (records.MaskDisclosure): a number its publisher marked as the notice's
// public contact stands whole, in the spelling typed; any other is masked.
func TestDisclosureListKeepsPublicNumber(t *testing.T) {
	s := newStation(t)
	s.setup("李明")
	title := "财务公开，咨询村会计 139-0551-0456，王秀英 13800138000"
	id := created(t, s.post("/disclosures/new", discForm(title, "2026年11月村级财务收支明细已张贴。")))
	choices := choiceRe.FindAllStringSubmatch(s.get("/disclosures/"+id).Body, -1)
	if len(choices) != 2 || choices[0][4] != "139****0456" {
		t.Fatalf("choices offered: %q", choices)
	}
	// Not marked yet: both masked in the list.
	l := s.get("/disclosures")
	must(t, l, http.StatusOK, "139-****-0456", "138****8000")
	mustNot(t, l, "139-0551-0456", "13800138000")

	v := discForm(title, "2026年11月村级财务收支明细已张贴。")
	v["public_numbers"] = []string{choices[0][1]}
	must(t, s.follow(s.post("/disclosures/"+id+"/edit", v)), http.StatusOK, "已保存修改", "咨询村会计 139-0551-0456")
	l = s.get("/disclosures")
	must(t, l, http.StatusOK, "咨询村会计 139-0551-0456", "138****8000")
	mustNot(t, l, "13800138000")
}
