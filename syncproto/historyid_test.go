package syncproto

import "testing"

// The station and the county each make the history entry of a station's
// intent; they agree on its id only through HistoryID. The v1 pull page
// holds the entry the county made for the intent at seq 4, as a station in
// the field already stores it.
func TestHistoryIDMatchesGolden(t *testing.T) {
	var p PullPage
	decodeStrict(t, "pull_page.golden", &p, false)
	got := HistoryID(goldenStation, goldenEpoch, 4)
	if want := p.Records[0].History[0].ID; got != want {
		t.Fatalf("HistoryID = %q, the county sent %q", got, want)
	}
	if got := HistoryID("st_a", "e1", 18446744073709551615); got != "st_a.e1.18446744073709551615" {
		t.Fatalf("largest seq: %q", got)
	}
}
