package testsupport

import (
	"maps"
	"strings"
	"testing"

	"stationsync/internal/records"
)

// The oracle compares an application's status wherever it compares the
// application: the county decides it and the decision must reach the
// station, so a status that is missing, stale or another than decided is
// caught like a lost field. (tests/chaos compared it only when told to,
// and neither suite noticed a status that was missing altogether.)
func TestOracleCatchesStatusDivergence(t *testing.T) {
	const village = "340123101201"
	o := NewOracle()
	app := records.Fields{"type": records.JSONText("最低生活保障"), "reason": records.JSONText("因病致贫")}
	o.Created(records.Application, "app1", village, "王村干部", app)
	o.Intent("app1", records.OpSubmit, records.StatusSubmitted)
	o.Intent("app1", records.OpAccept, records.StatusAccepted)
	person := records.Fields{"name": records.JSONText("张三"), "status": records.JSONText("在册")}
	o.Created(records.Person, "p1", village, "王村干部", person)

	with := func(f records.Fields, status string) records.Fields {
		f = maps.Clone(f)
		if status != "" {
			f["status"] = records.JSONText(status)
		}
		return f
	}
	rec := func(status string) Record {
		return Record{Kind: records.Application, ID: "app1", Village: village, CreatedBy: "王村干部", Rev: 3,
			Fields: with(app, status), History: []string{"submit", "accept"}}
	}
	decided := rec(records.StatusAccepted)

	// What agrees passes: the oracle is no stricter than the system.
	if tl, d := o.CheckCounty(records.Application, []Record{decided}); len(d) != 0 || tl.Records != 1 {
		t.Fatalf("the county as decided: %d records, %v", tl.Records, d)
	}
	if d := o.CheckStation(village, records.Application, []Record{decided}); len(d) != 0 {
		t.Fatalf("the station as decided: %v", d)
	}
	if d := CompareStation(village, []Record{decided}, []Record{decided}); len(d) != 0 {
		t.Fatalf("station equal to the county: %v", d)
	}
	// A person's own status field (在册) is an ordinary field.
	p := Record{Kind: records.Person, ID: "p1", Village: village, CreatedBy: "王村干部", Rev: 1, Fields: person}
	if _, d := o.CheckCounty(records.Person, []Record{p}); len(d) != 0 {
		t.Fatalf("person: %v", d)
	}

	cases := []struct {
		name string
		diff func() []string
	}{
		{"county lost the decision", func() []string {
			_, d := o.CheckCounty(records.Application, []Record{rec(records.StatusSubmitted)})
			return d
		}},
		{"county holds no status", func() []string {
			_, d := o.CheckCounty(records.Application, []Record{rec("")})
			return d
		}},
		{"station never got the decision", func() []string {
			return o.CheckStation(village, records.Application, []Record{rec(records.StatusSubmitted)})
		}},
		{"station holds no status", func() []string {
			return o.CheckStation(village, records.Application, []Record{rec("")})
		}},
		{"station behind the county", func() []string {
			return CompareStation(village, []Record{decided}, []Record{rec(records.StatusSubmitted)})
		}},
		{"station ahead of the county", func() []string {
			return CompareStation(village, []Record{rec("")}, []Record{decided})
		}},
	}
	for _, tc := range cases {
		d := tc.diff()
		if len(d) != 1 || !strings.Contains(d[0], "status") {
			t.Errorf("%s: %q, want one difference naming the status", tc.name, d)
		}
	}
	if tl, _ := o.CheckCounty(records.Application, []Record{rec(records.StatusApproved)}); tl.Mismatched != 1 {
		t.Errorf("a status the county never decided counts %+v, want 1 mismatched", tl)
	}
}

// The rest of what the oracle sees, once each: a change applied twice, a
// lost one, a record never accepted, one missing, and a save whose answer
// never came, which may be there once.
func TestOracleCounts(t *testing.T) {
	const village = "340123101201"
	o := NewOracle()
	v := func(s string) records.Fields { return records.Fields{"note": records.JSONText(s)} }
	o.Created(records.Visit, "v1", village, "甲", v("a"))
	o.Created(records.Visit, "v2", village, "甲", v("b"))
	o.Edited("v2", v("b2"))
	o.Created(records.Visit, "v3", village, "甲", v("c"))
	o.Unacknowledged(Attempt{Kind: records.Visit, Village: village, Fields: v("maybe")})
	got := []Record{
		{Kind: records.Visit, ID: "v1", Village: village, CreatedBy: "甲", Rev: 2, Fields: v("a")},    // applied twice
		{Kind: records.Visit, ID: "v2", Village: village, CreatedBy: "甲", Rev: 1, Fields: v("b")},    // the edit lost
		{Kind: records.Visit, ID: "x", Village: village, CreatedBy: "甲", Rev: 1, Fields: v("maybe")}, // unanswered, there once
		{Kind: records.Visit, ID: "y", Village: village, CreatedBy: "甲", Rev: 1, Fields: v("maybe")}, // and again: extra
	}
	tl, d := o.CheckCounty(records.Visit, got)
	want := Tally{Records: 2, Lost: 2, Duplicated: 1, Extra: 1, Mismatched: 1}
	if tl != want {
		t.Errorf("tally %+v, want %+v\n%s", tl, want, strings.Join(d, "\n"))
	}

	// Unknown fields are left to the test that journaled both sides.
	o.Created(records.Person, "p", village, "甲", records.Fields{"address": records.JSONText("村东")})
	o.CountyEdited("p", "address")
	p := Record{Kind: records.Person, ID: "p", Village: village, CreatedBy: "甲", Rev: 2, Fields: records.Fields{"address": records.JSONText("县里写的")}}
	if tl, d := o.CheckCounty(records.Person, []Record{p}); len(d) != 0 || tl.Records != 1 {
		t.Errorf("contested field: %v", d)
	}
}
