package agent

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"stationsync/internal/records"
	"stationsync/syncproto"
)

func openTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := OpenStore(context.Background(), filepath.Join(t.TempDir(), "station.db"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func person() records.Fields {
	return records.Fields{
		"name": json.RawMessage(`"王秀英"`), "id_number": json.RawMessage(`"11010519491231002X"`),
		"categories": json.RawMessage(`["农村留守老年人"]`),
	}
}

func count(t *testing.T, s *Store, q string) int {
	t.Helper()
	var n int
	if err := s.db.R.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A wrong field gets a Chinese message and leaves no trace: no record, no
// queued change.
func TestSaveRejectsBadInputAndChangesNothing(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	tests := []struct {
		name  string
		kind  records.Kind
		f     records.Fields
		field string
	}{
		{"bad id number", records.Person, records.Fields{"id_number": json.RawMessage(`"110105194912310021"`)}, "id_number"},
		{"missing name", records.Person, records.Fields{"name": json.RawMessage(`""`)}, "name"},
		{"unknown category", records.Person, records.Fields{"categories": json.RawMessage(`["外星人"]`)}, "categories"},
		{"unknown field", records.Person, records.Fields{"shoe_size": json.RawMessage(`42`)}, "shoe_size"},
		{"county decides status", records.Application, records.Fields{"status": json.RawMessage(`"approved"`)}, "status"},
		{"visit of nobody", records.Visit, records.Fields{"person_id": json.RawMessage(`"0000000000000000"`), "visited_on": json.RawMessage(`"2026-11-01"`),
			"visitors": json.RawMessage(`["甲"]`), "method": json.RawMessage(`"入户走访"`), "risk": json.RawMessage(`"正常"`), "situation": json.RawMessage(`"老人在家"`)}, "person_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := person()
			if tc.kind != records.Person {
				f = records.Fields{}
			}
			for k, v := range tc.f {
				f[k] = v
			}
			_, err := s.Save(ctx, tc.kind, "", f, "甲")
			var fe *records.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || fe.Message == "" {
				t.Fatalf("err %v, want a field error on %s", err, tc.field)
			}
			if n := count(t, s, `SELECT count(*) FROM outbox`); n != 0 {
				t.Fatalf("%d changes queued", n)
			}
			if n := count(t, s, `SELECT (SELECT count(*) FROM persons) + (SELECT count(*) FROM visits) + (SELECT count(*) FROM applications)`); n != 0 {
				t.Fatalf("%d records saved", n)
			}
		})
	}
}

// The record and its change commit together, under consecutive seqs.
func TestSaveQueuesChangeWithRecord(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	id, err := s.Save(ctx, records.Person, "", person(), "甲")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, records.Person, id, records.Fields{"phone": json.RawMessage(`"13800000000"`)}, "乙"); err != nil {
		t.Fatal(err)
	}
	epoch, rows, err := s.nextBatch(ctx, 10, 0)
	if err != nil || len(rows) != 2 {
		t.Fatalf("outbox %d rows, %v", len(rows), err)
	}
	if epoch == "" || rows[0].c.Seq != 1 || rows[1].c.Seq != 2 || rows[1].c.HLC <= rows[0].c.HLC {
		t.Fatalf("changes %+v %+v", rows[0].c, rows[1].c)
	}
	if _, ok := rows[1].c.Fields["name"]; ok || rows[1].c.Base["phone"] != 0 {
		// an edit sends what changed; phone had no value before
		t.Fatalf("edit carries %v base %v", rows[1].c.Fields, rows[1].c.Base)
	}
	l, _ := s.Get(ctx, records.Person, id)
	if l.UpdatedBy != "乙" || l.CreatedBy != "甲" {
		t.Fatalf("who: created %q updated %q", l.CreatedBy, l.UpdatedBy)
	}
}

// An application's content is the station's only while it is a draft or
// returned; intents follow the state machine locally too.
func TestApplicationLocalStateMachine(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	pid, _ := s.Save(ctx, records.Person, "", person(), "甲")
	app, err := s.Save(ctx, records.Application, "", records.Fields{
		"applicant_id": json.RawMessage(`"` + pid + `"`), "type": json.RawMessage(`"临时救助"`), "reason": json.RawMessage(`"因病致贫"`),
	}, "甲")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Intent(ctx, app, records.OpResubmit, "", "甲"); err == nil {
		t.Fatal("resubmitted a draft")
	}
	if err := s.Intent(ctx, app, records.OpApprove, "", "甲"); err == nil {
		t.Fatal("a station approved its own application")
	}
	if err := s.Intent(ctx, app, records.OpSubmit, "", "甲"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, records.Application, app, records.Fields{"reason": json.RawMessage(`"改了"`)}, "甲"); err == nil {
		t.Fatal("edited a submitted application")
	}
	h, _ := s.History(ctx, app)
	if len(h) != 1 || h[0].To != records.StatusSubmitted {
		t.Fatalf("history %+v", h)
	}
}

// A restored database renumbers its queued changes under a new epoch, in
// order, and keeps them all.
func TestRotateEpochRenumbers(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	for range 3 {
		if _, err := s.Save(ctx, records.Person, "", person(), "甲"); err != nil {
			t.Fatal(err)
		}
	}
	old, rows, _ := s.nextBatch(ctx, 10, 0)
	// The first change was acknowledged before the restore...
	if _, err := s.ack(ctx, old, rows[:1], &syncproto.PushResult{Results: []syncproto.ChangeResult{{Seq: 1, Status: syncproto.Applied}}}); err != nil {
		t.Fatal(err)
	}
	ne, err := s.rotateEpoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	epoch, after, _ := s.nextBatch(ctx, 10, 0)
	if epoch != ne || ne == old || len(after) != 2 || after[0].c.Seq != 1 || after[1].c.Seq != 2 || after[0].c.ID != rows[1].c.ID {
		t.Fatalf("after rotation: %s %+v", epoch, after)
	}
	if n, err := s.maxSeq(ctx); n != 2 || err != nil {
		t.Fatalf("maxSeq %d, %v", n, err)
	}
}

// An answer acknowledges only what it names; an unknown status
// acknowledges nothing.
func TestAckOnlyWhatIsNamed(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	for range 3 {
		s.Save(ctx, records.Person, "", person(), "甲")
	}
	epoch, rows, _ := s.nextBatch(ctx, 10, 0)
	n, err := s.ack(ctx, epoch, rows, &syncproto.PushResult{Results: []syncproto.ChangeResult{
		{Seq: 1, Status: syncproto.Applied}, {Seq: 2, Status: "maybe"}, {Seq: 99, Status: syncproto.Applied},
	}})
	if err != nil || n != 1 {
		t.Fatalf("acked %d, %v", n, err)
	}
	if p, _ := s.Pending(ctx); p != 2 {
		t.Fatalf("pending %d, want 2", p)
	}
}
