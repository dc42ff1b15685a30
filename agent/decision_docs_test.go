package agent

import (
	"context"
	"database/sql"
	"encoding/json"
	"io/fs"
	"path/filepath"
	"testing"

	"stationsync/internal/records"
	"stationsync/internal/sqlitedb"
	"stationsync/syncproto"
)

// A station of a release that does not know a field the county sends (as
// a station before decision_documents met a county that has it) stores
// the record's other fields, moves its cursor on and keeps syncing: a
// pulled record's unknown field is dropped, never an error.
func TestPulledUnknownFieldIgnored(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	raw := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	page := &syncproto.PullPage{Version: syncproto.Version, FeedEpoch: "f1", Next: 7, Records: []syncproto.Record{{
		Kind: "application", ID: "a1xxxxxxxx", Village: "340123101201", Rev: 3,
		Fields: records.Fields{"applicant_id": raw("p1xxxxxxxx"), "type": raw("临时救助"), "reason": raw("火灾"), "status": raw("returned"),
			"reviewer_comment": raw("请补充"), "a_field_of_a_later_release": raw([]string{"x"})},
		Versions: map[string]uint64{"status": 5, "a_field_of_a_later_release": 5},
	}}}
	if _, _, err := s.applyPage(ctx, page); err != nil {
		t.Fatalf("a page with an unknown field: %v", err)
	}
	l, err := s.Get(ctx, records.Application, "a1xxxxxxxx")
	if err != nil {
		t.Fatal(err)
	}
	if records.TextValue(l.Fields, "reviewer_comment") != "请补充" || l.Fields["a_field_of_a_later_release"] != nil {
		t.Errorf("stored %v", l.Fields)
	}
	if c, _ := getMeta(ctx, s.db.R, metaCursor); c != 7 {
		t.Errorf("cursor %d, want 7", c)
	}
	// And the station edits and queues the returned application as ever.
	if _, err := s.Save(ctx, records.Application, "a1xxxxxxxx", records.Fields{"reason": raw("火灾，房屋损毁")}, "李明"); err != nil {
		t.Fatalf("edit after the pull: %v", err)
	}
}

// Agent migration 0009: a station upgraded from the release before
// decision documents reads its village's feed once more from the start
// when it holds a decided application (whose documents it dropped), and
// only then.
func TestUpgradeRereadsFeedForDecisionDocuments(t *testing.T) {
	ctx := context.Background()
	sub, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status string
		cursor int64
	}{{"returned", 0}, {"approved", 0}, {"draft", 812}, {"submitted", 812}, {"", 812}} {
		path := filepath.Join(t.TempDir(), "station.db")
		db, err := sqlitedb.Open(ctx, path, sqlitedb.MigrationsThrough(sub, "0008_attachment_eviction.sql"))
		if err != nil {
			t.Fatal(err)
		}
		err = db.Tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.Exec(`INSERT INTO meta (key, value) VALUES ('cursor', '812'), ('feed_epoch', 'f1')`); err != nil {
				return err
			}
			if tc.status == "" {
				return nil
			}
			_, err := tx.Exec(`INSERT INTO applications (id, village, applicant_id, status, versions, created_at, updated_at) VALUES ('a1', '340123101201', 'p1', ?, '{}', 1, 1)`, tc.status)
			return err
		})
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		s, err := OpenStore(ctx, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := getMeta(ctx, s.db.R, metaCursor)
		if err != nil || c != tc.cursor {
			t.Errorf("status %q: cursor %d (%v), want %d", tc.status, c, err, tc.cursor)
		}
		if e, _ := getMeta(ctx, s.db.R, metaFeedEpoch); e != "f1" {
			t.Errorf("status %q: feed epoch %q", tc.status, e)
		}
		s.Close()
	}
}
