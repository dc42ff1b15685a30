package chaos

import (
	"encoding/json"
	"testing"

	"stationsync/internal/records"
	"stationsync/server"
)

// TestCheckContest checks the checker: the outcomes the merge may produce
// for a contested field pass, and a missing, extra or wrong conflict, or a
// final value no side last wrote, is caught.
func TestCheckContest(t *testing.T) {
	v := func(s string) json.RawMessage { return records.JSONText(s) }
	const st = "st_1"
	c := &contest{kind: records.Person, station: st,
		stationWrites: []json.RawMessage{v("s1"), v("s2"), v("s3")},
		countyWrites:  []json.RawMessage{v("c1"), v("c2")}}
	sLost := func(s string) conflictRow {
		return conflictRow{id: "x" + s, field: "address", winner: v("c2"), loser: v(s), wOrigin: server.CountyOrigin, lOrigin: st}
	}
	cLost := func(s string) conflictRow {
		return conflictRow{id: "y" + s, field: "address", winner: v(s), loser: v("c2"), wOrigin: st, lOrigin: server.CountyOrigin}
	}
	cases := []struct {
		name  string
		final string
		rows  []conflictRow
		won   string // "" when the check must fail
	}{
		{"station's first write wins", "s3", []conflictRow{cLost("s1")}, st},
		{"station wins at its second", "s3", []conflictRow{sLost("s1"), cLost("s2")}, st},
		{"county stands", "c2", []conflictRow{sLost("s1"), sLost("s2"), sLost("s3")}, server.CountyOrigin},
		{"county stands, a loser missing", "c2", []conflictRow{sLost("s1"), sLost("s3")}, ""},
		{"county stands, no conflict", "c2", nil, ""},
		{"station wins, county's loss unrecorded", "s3", nil, ""},
		{"station wins, county's loss twice", "s3", []conflictRow{cLost("s1"), cLost("s1")}, ""},
		{"station wins, wrong winner", "s3", []conflictRow{sLost("s1"), cLost("s3")}, ""},
		{"station loss after station won", "s3", []conflictRow{cLost("s1"), sLost("s2")}, ""},
		{"a sequentially overwritten county value as loser", "s3", []conflictRow{cLost("s1"),
			{id: "z", field: "address", winner: v("s1"), loser: v("c1"), wOrigin: st, lOrigin: server.CountyOrigin}}, ""},
		{"origin swapped", "s3", []conflictRow{{id: "y", field: "address", winner: v("s1"), loser: v("c2"), wOrigin: server.CountyOrigin, lOrigin: st}}, ""},
		{"final no side's last", "s2", []conflictRow{cLost("s1")}, ""},
		{"final the county's first", "c1", []conflictRow{sLost("s1"), sLost("s2"), sLost("s3")}, ""},
	}
	for _, tc := range cases {
		won, msg := checkContest(c, v(tc.final), tc.rows)
		switch {
		case tc.won == "" && msg == "":
			t.Errorf("%s: passed, want caught", tc.name)
		case tc.won != "" && msg != "":
			t.Errorf("%s: %s", tc.name, msg)
		case tc.won != "" && won != tc.won:
			t.Errorf("%s: won %q, want %q", tc.name, won, tc.won)
		}
	}
	// One side alone: sequential, no conflict allowed.
	one := &contest{kind: records.Person, station: st, stationWrites: []json.RawMessage{v("s1"), v("s2")}}
	if _, msg := checkContest(one, v("s2"), nil); msg != "" {
		t.Error(msg)
	}
	if _, msg := checkContest(one, v("s2"), []conflictRow{cLost("s1")}); msg == "" {
		t.Error("a conflict where only the station wrote passed")
	}
}
