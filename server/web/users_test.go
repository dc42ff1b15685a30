package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The new-account form starts with no role chosen: its list opens on a
// disabled 请选择, not on the first role (县级管理员, the one with every
// right), and a form sent without a role is refused in Chinese and
// creates nothing.
func TestNewUserRoleMustBeChosen(t *testing.T) {
	f := newFixture(t)
	a := f.login("admin")
	page := a.get("/users").body
	form := page[strings.Index(page, `id="user-form"`):]
	sel := form[strings.Index(form, `<select name="role"`):]
	sel = sel[:strings.Index(sel, "</select>")]
	if first := sel[strings.Index(sel, "<option"):]; !strings.HasPrefix(first, `<option value="" disabled selected>请选择</option>`) {
		t.Fatalf("the role list opens on %.80s, want a disabled 请选择", first)
	}
	if strings.Count(sel, "selected") != 1 {
		t.Fatalf("more than 请选择 is selected: %s", sel)
	}

	before, _ := f.store.Users(context.Background())
	for _, form := range []url.Values{
		{"username": {"newbie"}, "display_name": {"新人"}, "password": {pw}},
		{"username": {"newbie"}, "display_name": {"新人"}, "password": {pw}, "role": {""}},
	} {
		r := a.post("/users", form)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "请选择角色") {
			t.Errorf("no role: %d %.200s, want 400 and 请选择角色", r.StatusCode, r.body)
		}
	}
	after, _ := f.store.Users(context.Background())
	if len(after) != len(before) {
		t.Fatalf("%d accounts after refused forms, %d before", len(after), len(before))
	}
}
