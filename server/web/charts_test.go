package web

import (
	"math"
	"slices"
	"strings"
	"testing"

	"stationsync/internal/records"
	"stationsync/server"
)

// Application counts land on their status's series at their label's
// place, added up; counts of labels off the axis are left out.
func TestByStatus(t *testing.T) {
	labels := []string{"临时救助", "医疗救助"}
	ss := byStatus([]server.Count{
		{Key: "临时救助", Sub: "approved", N: 2},
		{Key: "临时救助", Sub: "approved", N: 1},
		{Key: "医疗救助", Sub: "draft", N: 4},
		{Key: "住房救助", Sub: "approved", N: 5},
	}, labels)
	if len(ss) != len(records.AppStatuses) {
		t.Fatalf("%d series, want one per status (%d)", len(ss), len(records.AppStatuses))
	}
	for i, st := range records.AppStatuses {
		want := []float64{0, 0}
		switch st {
		case "approved":
			want = []float64{3, 0}
		case "draft":
			want = []float64{0, 4}
		}
		if ss[i].Name != records.StatusLabel[st] || !slices.Equal(ss[i].Values, want) {
			t.Errorf("series %d: %s %v, want %s %v", i, ss[i].Name, ss[i].Values, records.StatusLabel[st], want)
		}
	}
}

// A count axis reaches every maximum with whole numbers: 0 to top in at
// most five equal steps of 1, 2 or 5 × 10ⁿ, never more than twice the
// maximum (the bars would shrink to half the chart).
func TestCountAxisWholeNumbers(t *testing.T) {
	for m := 0.0; m <= 20000; m++ {
		a := countAxis(m)
		steps := a.top / a.step
		if a.top != math.Trunc(a.top) || a.step != math.Trunc(a.step) || a.step < 1 || steps != math.Trunc(steps) {
			t.Fatalf("max %v: top %v step %v", m, a.top, a.step)
		}
		if a.top < m || steps > 5 || (m >= 1 && a.top > 2*m+a.step) {
			t.Fatalf("max %v: top %v step %v (%v steps)", m, a.top, a.step, steps)
		}
		for _, tk := range a.ticks() {
			if tk != math.Trunc(tk) {
				t.Fatalf("max %v: tick %v", m, tk)
			}
		}
	}
	if a := countAxis(7); a.top != 8 || a.step != 2 {
		t.Errorf("max 7: 0–%v by %v, want 0–8 by 2", a.top, a.step)
	}
	if a := countAxis(3); a.top != 3 || a.step != 1 {
		t.Errorf("max 3: 0–%v by %v, want 0–3 by 1", a.top, a.step)
	}
}

// Townships are named in the chart as people read them, a typed name
// over the official one, and 其他 lists who is in it.
func TestNamedChart(t *testing.T) {
	h := &Handler{}
	c := &chart{Places: true, Labels: []string{"340123101", "340123103", "340123199"},
		Series: []series{{Code: "340123101", Values: []float64{1, 2, 3}}, {Name: "其他", Values: []float64{0, 1, 0}}}, Other: []string{"340123105"}}
	n := h.named(c, map[string]string{"340123101": "甲镇"})
	if got, want := n.Labels, []string{"甲镇", "官亭镇", "340123199"}; !slices.Equal(got, want) {
		t.Errorf("labels %v, want %v", got, want)
	}
	if n.Series[0].Name != "甲镇" || n.Series[1].Name != "其他" || !strings.Contains(n.Note, "其他：山南镇") {
		t.Errorf("series %v, note %q", n.Series, n.Note)
	}
	if c.Labels[0] != "340123101" || c.Series[0].Name != "" {
		t.Error("naming changed the cached chart")
	}
}
