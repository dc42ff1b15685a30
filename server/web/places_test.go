package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// realVill is a village of the 2023 table: 三河镇太华村, 肥西县.
const realVill = "340123101202"

// Every code shows its official township and village names before anyone
// typed one; a typed name wins, and a blank one gives the official name
// back. Codes the table does not hold keep their township's name, or the
// bare code.
func TestOfficialPlaceNames(t *testing.T) {
	f := newFixture(t)
	f.seed(realVill, 3)
	admin := f.login("admin")

	list := admin.get("/records/person")
	for _, want := range []string{
		"三河镇太华村（" + realVill + "）", // both names from the table
		"三河镇 " + villA,             // made-up village in a real township
		">" + villB + "<",          // township 102 is not in the table either
	} {
		if !strings.Contains(list.body, want) {
			t.Errorf("person list does not show %q", want)
		}
	}
	rec := admin.get("/records/person/" + f.persons[realVill][0])
	if rec.StatusCode != http.StatusOK || !strings.Contains(rec.body, "村：三河镇太华村（"+realVill+"）") {
		t.Errorf("record page: %d, no 村：三河镇太华村（%s）", rec.StatusCode, realVill)
	}
	// The township filter offers the township by name.
	if !strings.Contains(list.body, "三河镇（340123101）") {
		t.Error("the filter does not name 三河镇")
	}
	// The public portal names the village too.
	if pub := f.client().get("/public/v/" + realVill); !strings.Contains(pub.body, "太华村 村务公开") {
		t.Errorf("portal: %.300s", pub.body)
	}

	post := func(code, name string) {
		t.Helper()
		if r := admin.post("/places", url.Values{"code": {code}, "name": {name}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST /places %s %q: %d %.300s", code, name, r.StatusCode, r.body)
		}
	}
	post(realVill, "太华新村")
	if r := admin.get("/records/person/" + f.persons[realVill][0]); !strings.Contains(r.body, "三河镇太华新村（"+realVill+"）") {
		t.Error("a typed village name does not override the table's")
	}
	post(realVill, " ")
	if r := admin.get("/records/person/" + f.persons[realVill][0]); !strings.Contains(r.body, "三河镇太华村（"+realVill+"）") {
		t.Error("a blank name does not give the table's back")
	}
	post(villA, "三河镇幸福村") // typed with its township: not said twice
	if r := admin.get("/records/person/" + f.persons[villA][0]); !strings.Contains(r.body, "村：三河镇幸福村（"+villA+"）") {
		t.Error("a typed name that starts with its township is shown with the township twice, or not at all")
	}
}
