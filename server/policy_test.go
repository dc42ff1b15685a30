package server

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/internal/zone"
)

// A saved visit policy replaces the default one: a category whose
// interval the administrator cleared is gone, not back at the default's
// 30 days, and a policy saved with no categories at all ("days": null or
// {}) still gives an overdue list, by the default interval.
func TestSavedVisitPolicyReplacesTheDefault(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	v := "340123101201"
	h := hlc.FromTime(time.Now())
	fields := fieldsOf(map[string]any{"name": "王秀英", "id_number": "340123195003070022", "categories": []string{"农村留守老年人"}, "status": "在册"})
	applyAll(t, s, []*change{{origin: "st_" + v, village: v, kind: records.Person, id: uuid.NewString(), op: records.OpUpsert, hlc: h + 1, by: "甲", at: time.Now().UnixMilli(), fields: fields}})

	// Only 困境儿童 keeps an interval; 农村留守老年人 was cleared.
	if err := s.SetSetting(ctx, SettingVisitPolicy, VisitPolicy{Days: map[string]int{"困境儿童": 15}, DefaultDays: 90, ReviewMonth: 12}); err != nil {
		t.Fatal(err)
	}
	p := s.Policy(ctx)
	if _, ok := p.Days["农村留守老年人"]; ok || p.Days["困境儿童"] != 15 || len(p.Days) != 1 {
		t.Fatalf("policy %+v: a cleared category came back from the default", p.Days)
	}
	overdue := func(today time.Time) int {
		t.Helper()
		rows, _, err := s.FollowUpPage(ctx, FollowOverdue, "", "", today, 50, 0)
		if err != nil {
			t.Fatalf("overdue list: %v", err)
		}
		return len(rows)
	}
	// Days are counted in the display zone, as the pages count them: in
	// UTC the registration would be a day off from 16:00 to midnight.
	now := zone.In(time.Now())
	// 40 days on: overdue by the old default's 30 days, not by the 90 now.
	if n := overdue(now.AddDate(0, 0, 40)); n != 0 {
		t.Fatalf("%d overdue after 40 days; the cleared 30-day interval still applies", n)
	}

	for _, raw := range []string{`{"days":null,"default_days":60,"review_months":12}`, `{"days":{},"default_days":60,"review_months":12}`} {
		if err := s.SetSetting(ctx, SettingVisitPolicy, json.RawMessage(raw)); err != nil {
			t.Fatal(err)
		}
		if n := overdue(now.AddDate(0, 0, 59)); n != 0 {
			t.Fatalf("policy %s: %d overdue after 59 days, want none before the 60-day default", raw, n)
		}
		if n := overdue(now.AddDate(0, 0, 61)); n != 1 {
			t.Fatalf("policy %s: %d overdue after 61 days, want 1 by the 60-day default", raw, n)
		}
	}
}
