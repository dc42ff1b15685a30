package web

import (
	"slices"
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
