package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The printed notice is signed by the village's committee: the name typed
// on 设置, else the county's name for the village, else the official one
// (统计用区划代码); before enrolment, with no village known, 村民委员会.
func TestPrintSignedWithVillageName(t *testing.T) {
	const real = "340123101202" // 三河镇太华村 in the 2023 table
	c := newCounty(t)
	s := newStation(t)
	s.setup("李明")
	id := created(t, s.post("/disclosures/new", discForm("低保对象公示", "王秀英，拟纳入低保。")))
	signer := func(want string) {
		t.Helper()
		must(t, s.get("/disclosures/"+id+"/print"), 200, `id="print-signer">`+want+"　")
	}
	signer("村民委员会")

	r := s.post("/enroll", url.Values{"server": {c.srv.URL}, "code": {c.code(t, real)}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("enrol: %d %s", r.Status, snippet(r.Body))
	}
	// The county typed no name: it sent the official one.
	signer("太华村村民委员会")
	// A station enrolled by an older county has no name from it: the
	// station's own table names the village.
	ctx := context.Background()
	if err := s.a.Store.SetMeta(ctx, map[string]string{"village_name": ""}); err != nil {
		t.Fatal(err)
	}
	signer("太华村村民委员会")
	must(t, s.get("/settings"), 200, `<dd id="village">太华村（`+real+`）</dd>`, `placeholder="太华村"`, "不填就用「太华村」")
	// The county's own name for it wins over the table.
	s.a.Store.SetMeta(ctx, map[string]string{"village_name": "太华社区"})
	signer("太华社区居民委员会")

	settings := func(name string) resp {
		return s.post("/settings", url.Values{"server": {c.srv.URL}, "interval": {"60"}, "village_name": {name}})
	}
	must(t, s.follow(settings("太华新村")), 200, "设置已保存", `value="太华新村"`, `<dd id="village">太华新村（`)
	signer("太华新村村民委员会")
	must(t, settings(strings.Repeat("村", 31)), http.StatusUnprocessableEntity, "村名最多 30 个字")
	signer("太华新村村民委员会")
	must(t, s.follow(settings(" ")), 200, "设置已保存")
	signer("太华社区居民委员会")
	// A typed name is masked like the rest of the notice.
	must(t, s.follow(settings("13905510456村")), 200, "设置已保存")
	p := s.get("/disclosures/" + id + "/print")
	mustNot(t, p, "13905510456")
}
