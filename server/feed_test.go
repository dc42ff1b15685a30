package server

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/records"
)

func feedSeqs(t *testing.T, s *CountyStore) []int64 {
	t.Helper()
	rows, err := s.db.R.Query(`SELECT feed_seq FROM (SELECT feed_seq FROM persons UNION ALL SELECT feed_seq FROM visits
		UNION ALL SELECT feed_seq FROM applications UNION ALL SELECT feed_seq FROM disclosures) AS f ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func enrollTest(t *testing.T, s *CountyStore) *Station {
	t.Helper()
	ctx := context.Background()
	code, err := s.CreateCode(ctx, village, 3600e9)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Enroll(ctx, code, make([]byte, 32), "h", "v")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A station whose cursor is the feed's highest seq must still get the
// record that held it when that record changes again: the record moves to
// a higher seq, never back onto the one the station has passed.
func TestFeedReplacedHeadMovesPastIt(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	st := enrollTest(t, s)
	t0 := hlc.Make(1_700_000_000_000, 0)
	applyAll(t, s, []*change{personCreate("p1", t0), personCreate("p2", t0+1)})
	page, err := s.Pull(ctx, st, 0, s.feedEpoch, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 2 || page.Next != 2 {
		t.Fatalf("first pull: %d records, next %d; want 2, 2", len(page.Records), page.Next)
	}
	for i, phone := range []string{"13911112222", "13933334444"} {
		edit := &change{origin: "st_a", village: village, kind: records.Person, id: "p2", op: records.OpUpsert, hlc: t0 + 10 + hlc.Timestamp(i), by: "乙",
			fields: records.Fields{"phone": json.RawMessage(`"` + phone + `"`)}, rev: int64(i + 1)}
		applyAll(t, s, []*change{edit})
		want := int64(3 + i)
		if v, err := s.DataVersion(ctx); err != nil || v != want {
			t.Fatalf("data version after edit %d = %d (%v), want %d", i, v, err, want)
		}
		after := page.Next
		page, err = s.Pull(ctx, st, after, s.feedEpoch, 0)
		if err != nil {
			t.Fatal(err)
		}
		if page.Reset || len(page.Records) != 1 || page.Records[0].ID != "p2" || page.Next != want {
			t.Fatalf("pull after %d: reset %v, %d records, next %d; want p2 alone, next %d", after, page.Reset, len(page.Records), page.Next, want)
		}
		if got := records.TextValue(page.Records[0].Fields, "phone"); got != phone {
			t.Fatalf("p2's phone = %q, want %q", got, phone)
		}
	}
	if got := feedSeqs(t, s); !slices.Equal(got, []int64{1, 4}) {
		t.Fatalf("feed seqs %v, want [1 4]", got)
	}
}

// A feed whose kinds interleave, read in small pages, gives every record
// once, in seq order, however the pages cut the four tables' runs; the
// station's own clean changes are skipped and the cursor still moves past
// them.
func TestFeedPagesAcrossKinds(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	g := gen.New(3)
	h := hlc.Make(1_700_000_000_000, 0)
	var changes []*change
	var want []string // ids a station other than st_a gets, in feed order
	add := func(kind records.Kind, id string, fields records.Fields, origin string) {
		h++
		changes = append(changes, &change{origin: origin, village: village, kind: kind, id: id, op: records.OpUpsert, hlc: h, by: "甲", fields: fields})
		want = append(want, id)
	}
	for i := range 7 {
		pid := uuid.NewString()
		add(records.Person, pid, fieldsOf(g.Person(village)), "st_a")
		add(records.Visit, uuid.NewString(), fieldsOf(g.Visit(pid, time.Date(2026, 10, 1+i, 0, 0, 0, 0, time.UTC))), "st_b")
		if i%2 == 0 {
			add(records.Application, uuid.NewString(), fieldsOf(g.Application(pid, g.Person(village))), "st_a")
		}
		if i%3 == 0 {
			add(records.Disclosure, uuid.NewString(), fieldsOf(g.Disclosure("村务公开")), "st_b")
		}
	}
	applyAll(t, s, changes)

	pullAll := func(st *Station, limit int) (ids []string, seqs []int64) {
		t.Helper()
		after := int64(0)
		for range 100 {
			page, err := s.Pull(ctx, st, after, s.feedEpoch, limit)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page.Records {
				ids = append(ids, r.ID)
			}
			if page.Next < after || (page.More && page.Next == after) {
				t.Fatalf("cursor %d → %d (more %v)", after, page.Next, page.More)
			}
			after = page.Next
			if !page.More {
				seqs = append(seqs, after)
				return ids, seqs
			}
		}
		t.Fatal("the feed never ended")
		return nil, nil
	}
	for _, limit := range []int{1, 3, 4, 1000} {
		got, end := pullAll(&Station{ID: "st_c", Village: village}, limit)
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: pulled %v, want %v", limit, got, want)
		}
		// Station A's own changes are clean: it gets the others only, and
		// its cursor still ends at the feed's end.
		var others []string
		for i, id := range want {
			if changes[i].origin != "st_a" {
				others = append(others, id)
			}
		}
		gotA, endA := pullAll(&Station{ID: "st_a", Village: village}, limit)
		if !slices.Equal(gotA, others) || endA[0] != end[0] || end[0] != int64(len(want)) {
			t.Fatalf("limit %d: station A pulled %v ending at %d, want %v ending at %d", limit, gotA, endA[0], others, len(want))
		}
	}
}
