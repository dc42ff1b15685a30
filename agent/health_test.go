package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"
)

// A full disk reported by SQLite becomes a StorageError the cadre can read,
// further saves are refused without touching the database, and saving
// resumes by itself once the disk has room again (here: at once, since
// the test's disk was never full). The chaos suite does the same on a real
// full tmpfs (tests/chaos, TestDiskFullAndReadOnly).
func TestStorageErrorRefusesThenRecovers(t *testing.T) {
	s, err := OpenStore(context.Background(), filepath.Join(t.TempDir(), "station.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.noteWrite(fmt.Errorf("commit: %w", sqlite3.Error{Code: sqlite3.ErrFull}))
	var se *StorageError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "磁盘") {
		t.Fatalf("noteWrite(SQLITE_FULL) = %v, want a StorageError in Chinese", err)
	}
	if err := s.guardWrite(); !errors.As(err, &se) {
		t.Fatalf("a save right after a full disk: %v, want refused", err)
	}
	time.Sleep(probeEvery + 100*time.Millisecond)
	if err := s.guardWrite(); err != nil {
		t.Fatalf("disk has room again, save still refused: %v", err)
	}
	if p := s.StorageProblem(); p != nil {
		t.Fatalf("StorageProblem = %v on a disk with room", p)
	}
	if err := s.noteWrite(errors.New("some other error")); err == nil || errors.As(err, &se) {
		t.Fatalf("an unrelated error became %v", err)
	}
}
