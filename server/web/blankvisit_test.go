package web_test

import (
	"strings"
	"testing"
	"time"
)

// A visit saved with nothing in it (an older station allowed an untouched
// form) is no visit: it takes nobody off the overdue list and does not
// follow up an urgent visit; a visit with content does.
func TestBlankVisitIsNoVisit(t *testing.T) {
	f := newFixture(t)
	r := f.seedRich(12)
	c := f.login("county")
	row := func(list []pageRow, name string) *pageRow {
		for i := range list {
			if list[i].cells[1] == name {
				return &list[i]
			}
		}
		return nil
	}
	overdue, _, _ := c.allPages("/followup?k=overdue&place=" + richVill)
	p0 := row(overdue, r.names[0])
	if p0 == nil {
		t.Fatalf("%s, last visited 200 days ago and blank yesterday, is not overdue", r.names[0])
	}
	if long := time.Now().AddDate(0, 0, -200).Format(time.DateOnly); p0.cells[3] != long {
		t.Errorf("overdue list: last visit of %s is %q, want the last real one %s", r.names[0], p0.cells[3], long)
	}
	if row(overdue, r.names[4]) != nil {
		t.Errorf("%s, visited yesterday with a real visit, is still overdue", r.names[4])
	}
	urgent, _, _ := c.allPages("/followup?k=urgent&place=" + richVill)
	if row(urgent, r.names[1]) == nil {
		t.Errorf("the urgent visit of %s counts as followed up by a blank visit (whitespace only)", r.names[1])
	}
	// The person list's 最近走访 counts the same way.
	people, _, _ := c.allPages("/records/person?place=" + richVill)
	if p := row(people, r.names[0]); p == nil || p.cells[7] != time.Now().AddDate(0, 0, -200).Format(time.DateOnly) {
		t.Errorf("person list: last visit of %s is %v, want the last real one", r.names[0], p)
	}
	// The blank visits are still there to see, as what arrived, and the
	// person's page says what they lack.
	if page := c.get("/records/visit/" + r.blankVisits[0]); !strings.Contains(page.body, r.blankVisits[0]) {
		t.Error("the blank visit's record page is missing")
	}
	if page := c.get("/records/person/" + r.persons[0]); !strings.Contains(page.body, "（未填写基本情况）") {
		t.Error("the person's latest visits do not mark the blank one")
	}
}
