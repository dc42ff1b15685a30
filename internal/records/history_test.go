package records_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"testing/fstest"

	"stationsync/internal/records"
	"stationsync/internal/sqlitedb"
	"stationsync/syncproto"
)

// Both sides read an application's history here: oldest HLC first, ties by
// id, only that application's entries, an HLC above 2^63 kept whole, and a
// row it cannot read an error rather than a history that stops short.
func TestApplicationHistory(t *testing.T) {
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "h.db"), fstest.MapFS{"0001_h.sql": {Data: []byte(
		`CREATE TABLE application_history (id TEXT PRIMARY KEY, application_id TEXT, from_status TEXT, to_status TEXT, op TEXT, by_name TEXT, origin TEXT, hlc INTEGER, at INTEGER, comment TEXT);
		INSERT INTO application_history VALUES
		  ('county.b', 'a1', 'submitted', 'accepted', 'accept', '张华', 'county', 20, 2, ''),
		  ('st.e.4', 'a1', 'draft', 'submitted', 'submit', '李明', 'st', 10, 1, '材料已齐'),
		  ('county.a', 'a1', 'accepted', 'reviewing', 'review', '张华', 'county', 20, 3, ''),
		  ('st.e.9', 'a2', 'draft', 'submitted', 'submit', '李明', 'st', 5, 1, ''),
		  ('big', 'a3', 'draft', 'submitted', 'submit', '李明', 'st', -9223372036854775807, 1, ''),
		  ('bad', 'a4', 'draft', 'submitted', 'submit', '李明', 'st', 'not a number', 1, '');`)}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := records.ApplicationHistory(ctx, db.R, "a1")
	want := []syncproto.HistoryEntry{
		{ID: "st.e.4", From: "draft", To: "submitted", Op: "submit", By: "李明", Origin: "st", HLC: 10, At: 1, Comment: "材料已齐"},
		{ID: "county.a", From: "accepted", To: "reviewing", Op: "review", By: "张华", Origin: "county", HLC: 20, At: 3},
		{ID: "county.b", From: "submitted", To: "accepted", Op: "accept", By: "张华", Origin: "county", HLC: 20, At: 2},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("a1: %+v, %v", got, err)
	}
	if got, err := records.ApplicationHistory(ctx, db.R, "a3"); err != nil || len(got) != 1 || got[0].HLC != 1<<63+1 {
		t.Fatalf("a3: %+v, %v", got, err)
	}
	if got, err := records.ApplicationHistory(ctx, db.R, "a4"); err == nil {
		t.Fatalf("an unreadable hlc gave %+v and no error", got)
	}
	if got, err := records.ApplicationHistory(ctx, db.R, "none"); err != nil || got != nil {
		t.Fatalf("no history: %+v, %v", got, err)
	}
}
