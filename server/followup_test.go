package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/records"
)

// The follow-up lists are cached by the store that computed them
// (followCache): another store never sees them, a change of a record or
// of the visit policy drops them, and the rows handed out are copies the
// pages may format in place.
func TestFollowUpCacheBelongsToItsStore(t *testing.T) {
	ctx := context.Background()
	today := time.Now().AddDate(1, 0, 0) // everyone registered now is overdue by then
	a, b := openTestStore(t), openTestStore(t)
	g := gen.New(3)
	h := hlc.FromTime(time.Now())
	addPerson := func(s *CountyStore) {
		t.Helper()
		h++
		v := "340123101201"
		applyAll(t, s, []*change{{origin: "st_" + v, village: v, kind: records.Person, id: uuid.NewString(), op: records.OpUpsert, hlc: h, by: "甲", at: time.Now().UnixMilli(), fields: fieldsOf(g.Person(v))}})
	}
	overdue := func(s *CountyStore) []Row {
		t.Helper()
		rows, total, err := s.FollowUpPage(ctx, FollowOverdue, "", "", today, 50, 0)
		if err != nil {
			t.Fatal(err)
		}
		if total != len(rows) {
			t.Fatalf("total %d, %d rows", total, len(rows))
		}
		return rows
	}

	addPerson(a)
	if n := len(overdue(a)); n != 1 {
		t.Fatalf("store a lists %d overdue, want 1", n)
	}
	if n := len(overdue(b)); n != 0 {
		t.Fatalf("store b lists %d overdue, want 0: it read a's list", n)
	}

	rows := overdue(a)
	name := rows[0].Cells[1]
	rows[0].Cells[1] = "改过的"
	if got := overdue(a)[0].Cells[1]; got != name {
		t.Fatalf("a caller's change reached the cache: %q, want %q", got, name)
	}

	addPerson(a)
	if n := len(overdue(a)); n != 2 {
		t.Fatalf("after a new person: %d overdue, want 2 (the cache outlived the change)", n)
	}

	p := DefaultVisitPolicy()
	p.DefaultDays = 3650
	for c := range p.Days {
		p.Days[c] = 3650
	}
	if err := a.SetSetting(ctx, SettingVisitPolicy, p); err != nil {
		t.Fatal(err)
	}
	if n := len(overdue(a)); n != 0 {
		t.Fatalf("after the interval became ten years: %d overdue, want 0 (the cache outlived the policy)", n)
	}
}

// The cache's rule on its own: lists of one generation only, a newer
// generation empties it, a list of an older one is not kept, and no more
// than followCacheN lists.
func TestFollowCacheGenerations(t *testing.T) {
	var c followCache
	key := func(i int) followKey { return followKey{kind: FollowOverdue, scope: fmt.Sprint(i)} }
	g1, g2 := followGen{version: 1, policy: "p"}, followGen{version: 2, policy: "p"}
	list := []Row{{ID: "x"}}

	if _, ok := c.get(g1, key(0)); ok {
		t.Fatal("an empty cache has a list")
	}
	c.put(g1, key(0), list)
	if got, ok := c.get(g1, key(0)); !ok || len(got) != 1 {
		t.Fatal("a list is not kept")
	}
	if _, ok := c.get(g2, key(0)); ok {
		t.Fatal("a list of version 1 is served at version 2")
	}
	if _, ok := c.get(followGen{version: 1, policy: "q"}, key(0)); ok {
		t.Fatal("a list of one policy is served under another")
	}
	c.put(g2, key(1), list)
	if _, ok := c.get(g1, key(0)); ok {
		t.Fatal("a newer generation left the older lists")
	}
	c.put(g1, key(2), list) // computed before the change, finished after
	if _, ok := c.get(g2, key(1)); !ok {
		t.Fatal("a late list of an older generation emptied the cache")
	}
	if _, ok := c.get(g1, key(2)); ok {
		t.Fatal("a late list of an older generation was kept")
	}
	for i := range followCacheN + 5 {
		c.put(g2, key(10+i), list)
	}
	if len(c.lists) != followCacheN || len(c.order) != followCacheN {
		t.Fatalf("%d lists kept, want at most %d", len(c.lists), followCacheN)
	}
	if _, ok := c.get(g2, key(10+followCacheN+4)); !ok {
		t.Fatal("the newest list was dropped")
	}
}
