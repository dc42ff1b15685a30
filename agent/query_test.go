package agent

import (
	"context"
	"testing"

	"stationsync/internal/records"
)

// The next visit date follows the latest visit through every way a visit
// is written: created here, edited here (the store's upsert takes its
// UPDATE path), and a new date for the same visit.
func TestVisitSummaryFollowsVisits(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	pid, err := s.Save(ctx, records.Person, "", person(), "测试员")
	if err != nil {
		t.Fatal(err)
	}
	due := func(want string) {
		t.Helper()
		_, got, err := s.PersonDue(ctx, pid)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("next due %q, want %q", got, want)
		}
	}
	visit := func(on, next string) records.Fields {
		f := records.Fields{"person_id": records.JSONText(pid), "visited_on": records.JSONText(on), "visitors": []byte(`["李明"]`),
			"method": records.JSONText("入户走访"), "risk": records.JSONText("正常"), "situation": records.JSONText("老人身体尚可，独自在家。")}
		if next != "" {
			f["next_due"] = records.JSONText(next)
		}
		return f
	}
	v1, err := s.Save(ctx, records.Visit, "", visit("2026-01-10", "2026-02-10"), "测试员")
	if err != nil {
		t.Fatal(err)
	}
	due("2026-02-10")
	v2, err := s.Save(ctx, records.Visit, "", visit("2026-03-01", ""), "测试员")
	if err != nil {
		t.Fatal(err)
	}
	due("2026-03-31") // 30 days for 农村留守老年人
	if _, err := s.Save(ctx, records.Visit, v2, records.Fields{"next_due": records.JSONText("2026-04-01")}, "测试员"); err != nil {
		t.Fatal(err)
	}
	due("2026-04-01")
	// The older visit moved after the newer one.
	if _, err := s.Save(ctx, records.Visit, v1, records.Fields{"visited_on": records.JSONText("2026-03-05"), "next_due": records.JSONText("2026-06-01")}, "测试员"); err != nil {
		t.Fatal(err)
	}
	due("2026-06-01")
	if n := count(t, s, `SELECT count(*) FROM visit_summary`); n != 1 {
		t.Fatalf("%d summary rows", n)
	}
}
