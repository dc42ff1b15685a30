package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/jsonout"
	"stationsync/internal/records"
	"stationsync/syncproto"
)

// Every JSON the county's command line prints — records, rejected,
// conflicts, station list --json — is in jsonout's style: snake_case, RFC
// 3339 times with an offset, HLCs as {at, logical}, conflicts naming
// their record.
func TestCommandJSONStyle(t *testing.T) {
	ctx := context.Background()
	const village = "340123101202"
	st, stn, dir := countyWithStation(t, village)
	g := gen.New(2)
	p := g.Person(village)
	h := hlc.FromTime(time.Now().Add(-time.Hour))
	push := func(seq uint64, kind, id string, f map[string]any) {
		t.Helper()
		h++
		b := &syncproto.Batch{Version: syncproto.Version, Station: stn.ID, Epoch: "e1", Village: village,
			Changes: []syncproto.Change{{Seq: seq, HLC: uint64(h), Kind: kind, ID: id, Op: string(records.OpUpsert), Fields: fieldsOf(f), By: "李明"}}}
		if _, err := st.Push(ctx, stn, b); err != nil {
			t.Fatal(err)
		}
	}
	push(1, "person", "p1", p)
	// The county edits the address, then the station's older edit of it
	// arrives: it loses, and the loss is kept as a conflict.
	if err := st.CountyEdit(ctx, records.Person, "p1", records.Fields(fieldsOf(map[string]any{"address": "县里改的地址"})), "县民政局"); err != nil {
		t.Fatal(err)
	}
	push(2, "person", "p1", map[string]any{"address": "村里改的地址"})
	push(3, "robot", "r1", map[string]any{"name": "x"}) // refused
	st.Close()

	run := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if c := Main(ctx, append(args, "--data", dir), strings.NewReader(""), &out, &errb); c != 0 {
			t.Fatalf("%v: exit %d %s", args, c, errb.String())
		}
		return out.String()
	}
	for _, args := range [][]string{{"records", "--kind", "person"}, {"rejected"}, {"conflicts"}, {"conflicts", "--village", village}, {"station", "list", "--json"}} {
		out := run(args...)
		if p := jsonout.StyleProblems([]byte(out)); p != nil {
			t.Errorf("%v: %v\n%.1500s", args, p, out)
		}
		var list []map[string]any
		if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
			t.Errorf("%v: %d items (%v)\n%.800s", args, len(list), err, out)
		}
	}
	var conflicts []jsonout.Conflict
	json.Unmarshal([]byte(run("conflicts")), &conflicts)
	if len(conflicts) != 1 || conflicts[0].Kind != "person" || conflicts[0].RecordID != "p1" || conflicts[0].Village != village ||
		conflicts[0].WinnerHLC == nil || !strings.Contains(string(conflicts[0].Loser), "村里改的地址") {
		t.Errorf("conflicts: %+v", conflicts)
	}
	var recs []jsonout.Record
	json.Unmarshal([]byte(run("records", "--kind", "person")), &recs)
	if len(recs) != 1 || len(recs[0].Conflicts) != 1 || recs[0].Conflicts[0].RecordID != "p1" || recs[0].Rev != 3 {
		t.Errorf("records: %+v", recs)
	}
}
