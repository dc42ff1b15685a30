package server

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"stationsync/internal/hlc"
	"stationsync/internal/sqlitedb"
)

// A county upgraded from the feed table (schema 0006) keeps every
// record's place in the feed and which station it skips, and its counter
// goes on from the highest seq the feed ever gave, even one whose row has
// moved since, so no station's cursor can point at a reused seq.
func TestFeedMovesIntoRecordRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "county.db")
	db, err := sqlitedb.Open(ctx, path, sqlitedb.MigrationsThrough(mustSub(migrationFS, "migrations"), "0006_visit_indexes.sql"))
	if err != nil {
		t.Fatal(err)
	}
	const other = "340123101202"
	err = db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`
			INSERT INTO persons (id, village, name, versions, origins, base_hlc, rev, created_at, created_origin, updated_at, received_at) VALUES
				('p1', '` + village + `', '王秀英', '{}', '{}', 1, 1, 1, 'st_a', 1, 1),
				('p2', '` + village + `', '李明', '{}', '{}', 1, 2, 1, 'st_a', 1, 1),
				('p3', '` + other + `', '张强', '{}', '{}', 1, 1, 1, 'st_b', 1, 1);
			INSERT INTO visits (id, village, person_id, visited_on, risk, versions, origins, base_hlc, rev, created_at, created_origin, updated_at, received_at) VALUES
				('v1', '` + village + `', 'p1', '2026-11-01', '正常', '{}', '{}', 1, 1, 1, 'st_a', 1, 1);
			INSERT INTO applications (id, village, applicant_id, status, versions, origins, base_hlc, rev, created_at, created_origin, updated_at, received_at) VALUES
				('a1', '` + village + `', 'p1', 'approved', '{}', '{}', 1, 3, 1, 'st_a', 1, 1);
			INSERT INTO feed (seq, village, kind, record_id, skip_station) VALUES
				(1, '` + village + `', 'person', 'p1', ''),
				(2, '` + other + `', 'person', 'p3', 'st_b'),
				(4, '` + village + `', 'visit', 'v1', 'st_a'),
				(5, '` + village + `', 'application', 'a1', ''),
				(6, '` + village + `', 'person', 'p2', ''),
				(7, '` + village + `', 'person', 'gone', '');
			-- p2 moved from 3 to 6; the row at 7 left, but stations may
			-- have passed 7.
			DELETE FROM feed WHERE seq = 7;`)
		return err
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s, err := OpenSQLite(ctx, path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.feedSeq != 7 {
		t.Fatalf("feed counter after the upgrade %d, want 7", s.feedSeq)
	}
	for _, want := range []struct {
		table, id string
		seq       int64
		skip      string
	}{{"persons", "p1", 1, ""}, {"persons", "p3", 2, "st_b"}, {"visits", "v1", 4, "st_a"}, {"applications", "a1", 5, ""}, {"persons", "p2", 6, ""}} {
		var seq int64
		var skip string
		if err := s.db.R.QueryRow(`SELECT feed_seq, feed_skip FROM `+want.table+` WHERE id = ?`, want.id).Scan(&seq, &skip); err != nil {
			t.Fatal(err)
		}
		if seq != want.seq || skip != want.skip {
			t.Errorf("%s %s: feed_seq %d, feed_skip %q; want %d, %q", want.table, want.id, seq, skip, want.seq, want.skip)
		}
	}

	// Station A (st_a, of village) pulls what it did not make, in order.
	stA := &Station{ID: "st_a", Village: village}
	page, err := s.Pull(ctx, stA, 0, s.feedEpoch, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range page.Records {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, []string{"p1", "a1", "p2"}) || page.Next != 6 || page.More {
		t.Fatalf("pull after the upgrade: %v, next %d, more %v; want [p1 a1 p2], next 6", ids, page.Next, page.More)
	}
	// A cursor at 7 is within the feed: no reset, and the next change
	// (made at station A, so for the village's other station) lands
	// beyond it.
	applyAll(t, s, []*change{personCreate("p4", hlc.Make(1_700_000_000_000, 0))})
	page, err = s.Pull(ctx, &Station{ID: "st_c", Village: village}, 7, s.feedEpoch, 0)
	if err != nil {
		t.Fatal(err)
	}
	if page.Reset || len(page.Records) != 1 || page.Records[0].ID != "p4" || page.Next != 8 {
		t.Fatalf("pull after 7: reset %v, %d records, next %d; want p4 alone at 8", page.Reset, len(page.Records), page.Next)
	}
	if n, err := s.DataVersion(ctx); err != nil || n != 8 {
		t.Fatalf("data version %d (%v), want 8", n, err)
	}
}

// The feed counter never goes back across a restart, even when meta
// holds less than a record row (it is read from both).
func TestFeedCounterSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "county.db")
	s, err := OpenSQLite(ctx, path, "")
	if err != nil {
		t.Fatal(err)
	}
	t0 := hlc.Make(1_700_000_000_000, 0)
	applyAll(t, s, []*change{personCreate("p1", t0), personCreate("p2", t0+1)})
	if _, err := s.db.W.Exec(`UPDATE meta SET value = '1' WHERE key = 'feed_seq'`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenSQLite(ctx, path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	applyAll(t, s, []*change{personCreate("p3", t0+2)})
	if got := feedSeqs(t, s); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("feed seqs after a restart %v, want [1 2 3]", got)
	}
}
