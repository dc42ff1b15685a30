package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"stationsync/internal/gen"
	"stationsync/internal/records"
)

// `station-agent add` holds the station's rule too: a visit without a
// situation is refused, saying what to fill in, and nothing is saved.
func TestAddRefusesBlankVisit(t *testing.T) {
	dir := t.TempDir()
	run := func(in any, args ...string) (int, string, string) {
		b, _ := json.Marshal(in)
		var out, errb bytes.Buffer
		code := Main(context.Background(), append(args, "--data", dir), bytes.NewReader(b), &out, &errb)
		return code, strings.TrimSpace(out.String()), errb.String()
	}
	g := gen.New(3)
	code, pid, stderr := run(g.Person("340123101201"), "add", "--kind", "person", "--by", "李明")
	if code != 0 {
		t.Fatalf("add person: %d %s", code, stderr)
	}
	blank := map[string]any{"person_id": pid, "visited_on": time.Now().Format(time.DateOnly), "visitors": []string{"李明"}, "method": "入户走访", "risk": "正常"}
	for _, situation := range []any{nil, "", "　 "} {
		v := map[string]any{}
		for k, x := range blank {
			v[k] = x
		}
		if situation != nil {
			v["situation"] = situation
		}
		code, _, stderr := run(v, "add", "--kind", "visit", "--by", "李明")
		if code == 0 || !strings.Contains(stderr, records.MsgVisitSituation) {
			t.Errorf("situation %v: exit %d, stderr %q", situation, code, stderr)
		}
	}
	code, list, _ := run(nil, "list", "--kind", "visit")
	if code != 0 || strings.Contains(list, pid) {
		t.Fatalf("a refused visit was saved: %s", list)
	}
	blank["situation"] = "老人在家，身体尚可。"
	if code, _, stderr := run(blank, "add", "--kind", "visit", "--by", "李明"); code != 0 {
		t.Fatalf("visit with a situation: %d %s", code, stderr)
	}
}
