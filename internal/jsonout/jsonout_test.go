package jsonout

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"stationsync/internal/hlc"
	"stationsync/internal/zone"
	"stationsync/syncproto"
)

// Times print in the display zone with its offset and milliseconds, the
// zero time as null, and read back to the same instant.
func TestTimeStyle(t *testing.T) {
	if err := zone.Set("Asia/Shanghai"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { zone.Set("") })
	b, _ := json.Marshal(struct {
		A, B Time
	}{Millis(1764123845120), Time{}})
	if got, want := string(b), `{"A":"2025-11-26T10:24:05.120+08:00","B":null}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	var back struct{ A, B Time }
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.A.UnixMilli() != 1764123845120 || !back.B.IsZero() {
		t.Errorf("read back %v %v", back.A, back.B)
	}
	if err := json.Unmarshal([]byte(`{"A":1764123845120}`), &back); err == nil {
		t.Error("a number read as a time")
	}
}

// An HLC printed as {at, logical} reads back to the very value, for any
// wall time (a clock reset to 2009 included) and counter.
func TestHLCLossless(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := []uint64{0, 1, uint64(hlc.Make(1230768000000, 0)), uint64(hlc.Make(1764123845120, 65535))}
	for range 2000 {
		values = append(values, uint64(hlc.Make(r.Int64N(4102444800000), uint16(r.UintN(1<<16)))))
	}
	for _, v := range values {
		b, err := json.Marshal(Stamp(v))
		if err != nil {
			t.Fatal(err)
		}
		var h HLC
		if err := json.Unmarshal(b, &h); err != nil {
			t.Fatal(err)
		}
		if h.Uint64() != v {
			t.Fatalf("%d printed as %s read back as %d", v, b, h.Uint64())
		}
	}
}

// A county record in the printed shape: every key present, snake_case,
// no raw HLC, history and conflicts [] when empty.
func TestRecordShape(t *testing.T) {
	h := uint64(hlc.Make(1764123845120, 3))
	r := FromRecord(syncproto.Record{Kind: "application", ID: "a1", Village: "340123101202", Rev: 4,
		Fields:   map[string]json.RawMessage{"status": json.RawMessage(`"submitted"`)},
		Versions: map[string]uint64{"status": h}, CreatedBy: "李明", CreatedAt: 1764123845120,
		History: []syncproto.HistoryEntry{{ID: "h1", From: "draft", To: "submitted", Op: "submit", By: "李明", Origin: "st_1", HLC: h, At: 1764123845120}},
	})
	b, _ := json.Marshal(r)
	if p := StyleProblems(b); p != nil {
		t.Errorf("%s: %v", b, p)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	want := []string{"kind", "id", "village", "rev", "fields", "versions", "created_by", "created_at", "updated_by", "updated_at", "history", "conflicts"}
	if len(m) != len(want) {
		t.Errorf("keys %v, want %v", m, want)
	}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("key %s missing: %s", k, b)
		}
	}
	if !strings.Contains(string(b), `"conflicts":[]`) || !strings.Contains(string(b), `"updated_at":null`) {
		t.Errorf("empty values not spelled out: %s", b)
	}
	var back Record
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Versions["status"].Uint64() != h || back.History[0].HLC.Uint64() != h || !reflect.DeepEqual(back.History[0].Op, "submit") {
		t.Errorf("read back %+v", back)
	}
}

// The style check itself catches what the command lines printed before.
func TestStyleProblemsCatchesTheOldOutput(t *testing.T) {
	for _, old := range []string{
		`[{"Kind":"person","ID":"p1","Fields":{},"Versions":{"name":123},"ServerRev":0}]`,
		`[{"kind":"application","id":"a","history":[{"hlc":116127282839142400,"at":1764123845120}]}]`,
		`{"station_id":"s","last_successful_sync":"2026-11-26 10:00"}`,
		`[{"id":"c","winner_hlc":116127282839142400}]`,
	} {
		if p := StyleProblems([]byte(old)); len(p) == 0 {
			t.Errorf("no problem found in %s", old)
		}
	}
	if p := StyleProblems([]byte(`[{"fields":{"Name":"x","guardian":{"Relation":1}},"winner":{"X":1},"at":null}]`)); p != nil {
		t.Errorf("record content judged: %v", p)
	}
}
