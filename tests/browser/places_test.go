package browser

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"stationsync/internal/records"
	"stationsync/internal/testsupport"
)

// realVillage is 三河镇太华村 of 肥西县 in the official table; nobody types
// its name anywhere in this test.
const realVillage = "340123101202"

// The station's print view is signed by its village's committee, named
// from the official table, and 设置 names the village; screenshots at
// 1280 and 390 px (places-NN-*.png).
func TestPrintSignedWithOfficialVillageName(t *testing.T) {
	ctx := browser(t)
	co := testsupport.NewCounty(t)
	a, base := newStation(t)
	c := &cadre{t: t, ctx: ctx, base: base, prefix: "places"}

	code, err := co.Store.CreateCode(context.Background(), realVillage, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c.firstRun()
	c.enroll(co.URL(), code, "注册成功")
	c.see("太华村")

	f := records.Fields{}
	for k, v := range map[string]string{
		"category": "救助对象公示", "title": "2026年第四季度最低生活保障对象公示",
		"body":         "经村民代表会议评议，拟将王秀英（身份证后四位0022）纳入最低生活保障。如有异议，请于公示期内向村务监督委员会反映。",
		"publish_from": "2026-11-26", "publish_until": "2026-12-03", "reviewer": "陈德明", "status": "published",
	} {
		f[k], _ = json.Marshal(v)
	}
	id, err := a.Store.Save(context.Background(), records.Disclosure, "", f, "李明")
	if err != nil {
		t.Fatal(err)
	}
	c.open("/disclosures/" + id + "/print")
	c.see("太华村村民委员会")
	c.shot("print-signed")
	c.narrow("print-signed")

	c.open("/settings")
	c.see("太华村（" + realVillage + "）")
	c.shot("settings-village")
	c.narrow("settings-village")
}
