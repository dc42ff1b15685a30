package web_test

import (
	"encoding/csv"
	"slices"
	"strings"
	"testing"
	"time"

	"stationsync/internal/zone"
)

// TestReportsCountNoVoidedOrBlankVisits: in 官亭镇 this month two real
// visits, one blank and one voided: the visits chart counts 2, and of its
// 3 people on the register 2 are covered (66.7 %), on the page and in the
// CSV. Before: 4 visits and 100 %.
func TestReportsCountNoVoidedOrBlankVisits(t *testing.T) {
	f, _ := chartFixture(t)
	c := f.login("county")
	_, charts := reportsPage(t, c)
	if len(charts) < 2 {
		t.Fatalf("%d charts on the reports page, want the visits and the coverage first", len(charts))
	}
	month := zone.In(time.Now()).Format("2006-01")
	if v, _ := charts[0].cell(month, "官亭镇"); v != "2" {
		t.Errorf("visits chart: 官亭镇 in %s has %q visits, want 2 (a blank and a voided one are no visits)", month, v)
	}
	for col, want := range map[string]string{"在册对象（人）": "3", "本季度已走访（人）": "2", "覆盖率（%）": "66.7"} {
		if v, _ := charts[1].cell("官亭镇", col); v != want {
			t.Errorf("coverage of 官亭镇: %s is %q, want %s", col, v, want)
		}
	}
	// The CSV says the same.
	recs, _ := csv.NewReader(strings.NewReader(strings.TrimPrefix(c.get("/reports/coverage.csv").body, "\ufeff"))).ReadAll()
	if !slices.ContainsFunc(recs, func(r []string) bool { return slices.Equal(r, []string{"官亭镇", "3", "2", "66.7"}) }) {
		t.Errorf("coverage.csv: %v", recs)
	}
}
