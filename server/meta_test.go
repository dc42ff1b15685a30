package server

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// A county whose persisted clock does not parse refuses to start, saying
// why, instead of starting its clock from zero (before: it started, and
// stamped decisions before changes it had merged).
func TestCorruptHLCRefusesOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "county.db")
	s, err := OpenSQLite(ctx, path, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.W.Exec(`INSERT INTO meta (key, value) VALUES ('hlc', '12ab') ON CONFLICT(key) DO UPDATE SET value = excluded.value`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := OpenSQLite(ctx, path, ""); err == nil || !strings.Contains(err.Error(), "meta hlc") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("opened with a corrupt hlc: %v", err)
	}
}
