//go:build !windows

package blobstore

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Under the common umask 022 everything the store makes — folders, blobs,
// uploads and their state — is the service account's alone: a photo of a
// 户口簿 is as private as the database that names it.
func TestEverythingPrivate(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0o022))
	dir := filepath.Join(t.TempDir(), "data", "files")
	s := mustOpen(t, dir)
	data := content(50, 5000)
	if _, _, err := s.Put(context.Background(), bytes.NewReader(data), 1<<20); err != nil {
		t.Fatal(err)
	}
	other := content(51, 3*chunk)
	u, _ := s.Begin(sum(other), int64(len(other)))
	if err := send(u, other, 0, chunk); err != nil {
		t.Fatal(err)
	}
	files := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		st, _ := os.Lstat(p)
		perm := st.Mode().Perm()
		if d.IsDir() && perm != 0o700 || !d.IsDir() && perm != 0o600 {
			t.Errorf("%s: mode %o", p, perm)
		}
		if !d.IsDir() {
			files++
		}
		return nil
	})
	if files != 3 {
		t.Errorf("checked %d files, want blob, upload data and state", files)
	}
	// A folder an older release left open is closed when the store opens.
	os.Chmod(dir, 0o755)
	mustOpen(t, dir)
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("reopened store folder mode %o", st.Mode().Perm())
	}
}
