package main

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"stationsync/internal/cli"
	"stationsync/internal/gen"
	"stationsync/internal/jsonout"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
)

// `station-agent list` prints a record in the shape `county-server
// records` prints it (jsonout.Record: snake_case, RFC 3339 times, HLCs as
// {at, logical}): the same keys, and once synced the same values, for a
// person and for an application with its history; `status --json` is in
// the same style.
func TestListPrintsTheCountysShape(t *testing.T) {
	ctx := context.Background()
	county := testsupport.NewCounty(t)
	cs := county.Store
	const village = "340123101202"
	code := county.Code(t, village)

	dir := t.TempDir()
	run := func(in any, args ...string) string {
		t.Helper()
		var stdin bytes.Buffer
		if in != nil {
			b, _ := json.Marshal(in)
			stdin.Write(b)
		}
		var out, errb bytes.Buffer
		if c := Main(ctx, append(args, "--data", dir), &stdin, &out, &errb); c != 0 {
			t.Fatalf("%v: exit %d: %s %s", args, c, out.String(), errb.String())
		}
		return out.String()
	}
	run(nil, "enroll", "--server", county.URL(), "--code", code, "--yes")
	g := gen.New(4)
	p := g.Person(village)
	pid := strings.TrimSpace(run(p, "add", "--kind", "person", "--by", "李明"))
	app := g.Application(pid, p)
	aid := strings.TrimSpace(run(app, "add", "--kind", "application", "--by", "李明"))
	run(nil, "intent", "--app", aid, "--op", "submit", "--by", "李明")
	run(nil, "sync")
	if err := cs.Decide(ctx, server.Decision{ApplicationID: aid, Op: records.OpAccept, By: "县民政局"}); err != nil {
		t.Fatal(err)
	}
	run(nil, "sync")

	if st := run(nil, "status", "--json"); jsonout.StyleProblems([]byte(st)) != nil {
		t.Errorf("status --json: %v\n%s", jsonout.StyleProblems([]byte(st)), st)
	}
	for _, kind := range []records.Kind{records.Person, records.Application} {
		station := run(nil, "list", "--kind", string(kind))
		recs, err := cs.Records(ctx, kind, village)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]jsonout.Record, 0, len(recs))
		for _, r := range recs {
			out = append(out, jsonout.FromRecord(r)) // what `county-server records` prints
		}
		var county bytes.Buffer
		cli.PrintJSON(&county, out)
		for side, b := range map[string]string{"station": station, "county": county.String()} {
			if p := jsonout.StyleProblems([]byte(b)); p != nil {
				t.Errorf("%s %s: %v\n%.1500s", side, kind, p, b)
			}
		}
		var sm, cm []map[string]any
		json.Unmarshal([]byte(station), &sm)
		json.Unmarshal(county.Bytes(), &cm)
		if len(sm) != 1 || len(cm) != 1 {
			t.Fatalf("%s: station %d records, county %d", kind, len(sm), len(cm))
		}
		if sk, ck := keysOf(sm[0]), keysOf(cm[0]); !reflect.DeepEqual(sk, ck) {
			t.Errorf("%s: station keys %v, county keys %v", kind, sk, ck)
		}
		for _, k := range []string{"kind", "id", "village", "rev", "created_by", "created_at", "history", "conflicts"} {
			if !reflect.DeepEqual(sm[0][k], cm[0][k]) {
				t.Errorf("%s %s: station %v, county %v", kind, k, sm[0][k], cm[0][k])
			}
		}
		var sr, cr []jsonout.Record
		json.Unmarshal([]byte(station), &sr)
		json.Unmarshal(county.Bytes(), &cr)
		for name, v := range cr[0].Fields {
			if !records.Equal(v, sr[0].Fields[name]) {
				t.Errorf("%s field %s: station %s, county %s", kind, name, sr[0].Fields[name], v)
			}
		}
		if kind == records.Application {
			var ops []string
			for _, h := range sr[0].History {
				ops = append(ops, h.Op+"/"+h.To)
			}
			if strings.Join(ops, " ") != "submit/submitted accept/accepted" || sr[0].Rev != cr[0].Rev || sr[0].Rev == 0 {
				t.Errorf("application at the station: history %v, rev %d (county %d)", ops, sr[0].Rev, cr[0].Rev)
			}
		}
	}
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
