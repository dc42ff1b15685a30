package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"stationsync/internal/records"
)

var (
	editFormRe  = regexp.MustCompile(`(?s)<form method="post" class="card" id="edit">.*?</form>`)
	editInputRe = regexp.MustCompile(`<input name="([a-z_]+)" value="([^"]*)"`)
	editSelRe   = regexp.MustCompile(`(?s)<select name="([a-z_]+)">.*?</select>`)
	selectedRe  = regexp.MustCompile(`<option selected>([^<]*)</option>`)
)

// editForm returns what a browser would post back from the record page's
// edit form, untouched.
func editForm(t *testing.T, body string) url.Values {
	t.Helper()
	form := editFormRe.FindString(body)
	if form == "" {
		t.Fatal("no edit form on the record page")
	}
	v := url.Values{}
	for _, m := range editInputRe.FindAllStringSubmatch(form, -1) {
		v.Set(m[1], strings.ReplaceAll(m[2], "&#43;", "+"))
	}
	for _, m := range editSelRe.FindAllStringSubmatch(form, -1) {
		sel := ""
		if s := selectedRe.FindStringSubmatch(m[0]); s != nil {
			sel = s[1]
		}
		v.Set(m[1], sel)
	}
	return v
}

// The county's edit form shows a staff member without full-number rights
// no more than the page does (numbers masked, the box left empty), and
// saving it untouched changes nothing: a masked value is never written
// back over the real one.
func TestEditFormNeverShowsOrWritesMaskedNumbers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid := f.persons[villA][0]
	admin := f.login("admin")
	// Numbers in free text too.
	withNums := url.Values{"health": {"高血压。女儿电话13698765432，身份证" + f.ids[villA][1]}, "address": {"幸福村3组12号"}}
	if r := admin.post("/records/person/"+pid, withNums); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin edit: %d %.300s", r.StatusCode, r.body)
	}
	before, _ := f.store.Record(ctx, records.Person, pid, "")
	c := f.login("county")
	page := c.get("/records/person/" + pid)
	for _, full := range []string{"13812345678", "13698765432", f.ids[villA][0], f.ids[villA][1]} {
		if strings.Contains(page.body, full) {
			t.Errorf("record page shows %s to staff without full-number rights", full)
		}
	}
	v := editForm(t, page.body)
	if v.Get("phone") != "" || v.Get("health") != "" {
		t.Errorf("masked fields start filled: phone %q health %q", v.Get("phone"), v.Get("health"))
	}
	if v.Get("address") != "幸福村3组12号" {
		t.Errorf("a field without numbers is not offered as it is: %q", v.Get("address"))
	}
	if r := c.post("/records/person/"+pid, v); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("post untouched: %d %.300s", r.StatusCode, r.body)
	}
	after, _ := f.store.Record(ctx, records.Person, pid, "")
	for _, name := range []string{"phone", "health", "address", "categories", "status"} {
		if !records.Equal(before.Record.Fields[name], after.Record.Fields[name]) {
			t.Errorf("saving the untouched form changed %s: %s → %s", name, before.Record.Fields[name], after.Record.Fields[name])
		}
	}
	// A new number typed into the empty box is saved.
	v.Set("phone", "13900001111")
	c.post("/records/person/"+pid, v)
	after, _ = f.store.Record(ctx, records.Person, pid, "")
	if got := records.TextValue(after.Record.Fields, "phone"); got != "13900001111" {
		t.Errorf("typed phone not saved: %q", got)
	}
	// Full-number rights see and round-trip the real values.
	v = editForm(t, admin.get("/records/person/"+pid).body)
	if v.Get("phone") != "13900001111" || !strings.Contains(v.Get("health"), "13698765432") {
		t.Errorf("admin's form: %v", v)
	}
}
