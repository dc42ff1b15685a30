package web_test

import (
	"regexp"
	"strings"
	"testing"

	"stationsync/internal/idcard"
)

// A record page is read by a person: names, not ids; lists of people as
// tables; money in 元; stations by village; numbers still masked.
func TestRecordPagesReadable(t *testing.T) {
	f := newFixture(t)
	c := f.login("county")
	name := f.names[villA][0]
	stationID := regexp.MustCompile(`村站 \S`)

	app := c.get("/records/application/" + f.apps[villA][0]).body
	if !strings.Contains(app, "<title>"+name+" · ") || !strings.Contains(app, `<span id="subject">`+name+`</span>`) {
		t.Error("application page title does not name the applicant")
	}
	if !regexp.MustCompile(`data-field="applicant_id"><a href="/records/person/[^"]+">` + name + `</a>`).MatchString(app) {
		t.Error("申请人 shows an id, not the name")
	}
	if !strings.Contains(app, `<table class="grid people"><thead><tr><th>姓名</th><th>关系</th><th>公民身份号码</th><th>月收入</th>`) {
		t.Error("家庭成员 is not a table")
	}
	if strings.Contains(app, f.ids[villA][0]) || !strings.Contains(app, idcard.Mask(f.ids[villA][0])) {
		t.Error("家庭成员 table shows a full ID number, or none masked")
	}
	if !strings.Contains(app, " 元</td>") {
		t.Error("money is not shown in 元")
	}
	if i := strings.Index(app, `id="versions"`); i < 0 || strings.Contains(app[i:], `"id_number"`) || strings.Contains(app[i:], f.persons[villA][0]+"<") {
		t.Error("version history shows JSON or the applicant's id")
	}
	if m := stationID.FindString(app); m != "" {
		t.Errorf("a station shown by its id: %q", m)
	}

	visit := c.get("/records/visit/" + f.visits[villA][0]).body
	if !regexp.MustCompile(`data-field="person_id"><a href="/records/person/[^"]+">` + name + `</a>`).MatchString(visit) {
		t.Error("走访对象 shows an id, not the name")
	}
	if !strings.Contains(visit, "<title>"+name+" · ") {
		t.Error("visit page title does not name the person visited")
	}

	// Find a person with someone working away (the generator gives most
	// elderly and children one).
	found := false
	for _, id := range f.persons[villA] {
		b := c.get("/records/person/" + id).body
		if strings.Contains(b, `data-field="family_away"><table class="grid people"><thead><tr><th>姓名</th><th>关系</th><th>务工地</th><th>联系电话</th>`) {
			found = true
			if strings.Contains(b, "13812345678") {
				t.Error("person page shows a full phone number")
			}
		}
	}
	if !found {
		t.Error("外出务工 is never a table")
	}

	db := f.store.DB().W
	if _, err := db.Exec(`INSERT INTO conflicts (id, kind, record_id, village, field, winner, winner_hlc, winner_origin, loser, loser_hlc, loser_origin, at)
		VALUES ('c-r', 'visit', ?, ?, 'situation', '"甲"', 2, 'county', '"乙"', 1, 'st_x', 1)`, f.visits[villA][0], villA); err != nil {
		t.Fatal(err)
	}
	conf := c.get("/conflicts").body
	if !strings.Contains(conf, ">"+name+"</a><br><small>") || !strings.Contains(conf, "<td>基本情况</td>") {
		t.Errorf("conflicts page does not name the person: %.2000s", conf)
	}
}
