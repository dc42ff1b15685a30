package agent

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"

	"stationsync/internal/records"
	"stationsync/internal/sqlitedb"
)

// A station upgraded from revisions kept in the record rows (schema 0002)
// keeps every record's revision, and a record never acknowledged still
// has none.
func TestServerRevsMoveOutOfRecordRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "station.db")
	sub, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlitedb.Open(ctx, path, sqlitedb.MigrationsThrough(sub, "0002_pages.sql"))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO persons (id, village, name, versions, server_rev, created_at, updated_at) VALUES ('p1', '340123101201', '王秀英', '{}', 4, 1, 1), ('p2', '340123101201', '李明', '{}', 0, 1, 1);
			INSERT INTO visits (id, village, person_id, visited_on, versions, server_rev, created_at, updated_at) VALUES ('v1', '340123101201', 'p1', '2026-11-01', '{}', 2, 1, 1);
			INSERT INTO applications (id, village, applicant_id, versions, server_rev, created_at, updated_at) VALUES ('a1', '340123101201', 'p1', '{}', 7, 1, 1);
			INSERT INTO disclosures (id, village, title, versions, server_rev, created_at, updated_at) VALUES ('d1', '340123101201', '公示', '{}', 1, 1, 1);`)
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
	defer s.Close()
	for _, want := range []struct {
		kind records.Kind
		id   string
		rev  int64
	}{{records.Person, "p1", 4}, {records.Person, "p2", 0}, {records.Visit, "v1", 2}, {records.Application, "a1", 7}, {records.Disclosure, "d1", 1}} {
		l, err := s.Get(ctx, want.kind, want.id)
		if err != nil {
			t.Fatal(err)
		}
		if l.ServerRev != want.rev || l.Fields == nil {
			t.Errorf("%s %s after the upgrade: revision %d, want %d", want.kind, want.id, l.ServerRev, want.rev)
		}
	}
	if err := s.DB().IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
}
