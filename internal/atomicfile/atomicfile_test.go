package atomicfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// recordSyncs replaces syncDir for one test and returns the folders synced,
// in order.
func recordSyncs(t *testing.T, fail error) *[]string {
	t.Helper()
	var mu sync.Mutex
	var got []string
	old := syncDir
	syncDir = func(dir string) error {
		mu.Lock()
		got = append(got, dir)
		mu.Unlock()
		if fail != nil {
			return fail
		}
		return old(dir)
	}
	t.Cleanup(func() { syncDir = old })
	return &got
}

func TestWriteReplacesAndLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "station.key")
	if err := Write(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFrom(p, strings.NewReader("new content"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "new content" {
		t.Fatalf("read back %q, %v", b, err)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", fi.Mode().Perm())
		}
	}
	list, _ := os.ReadDir(dir)
	if len(list) != 1 {
		t.Errorf("folder holds %d entries, want only the file: %v", len(list), list)
	}
}

// The rename is made durable by syncing the folder it lives in, after the
// rename: without it a power cut can bring the old file back, or none.
func TestWriteSyncsTheFolderAfterTheRename(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows writes the rename through instead")
	}
	dir := t.TempDir()
	got := recordSyncs(t, nil)
	p := filepath.Join(dir, "config.json")
	if err := Write(p, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if len(*got) != 1 || (*got)[0] != dir {
		t.Fatalf("synced folders %v, want [%s]", *got, dir)
	}
}

// A folder that cannot be synced is an error the caller hears of: the
// file may not survive, and "saved" must not be said.
func TestWriteReportsAFolderSyncFailure(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no folder sync on Windows")
	}
	broken := errors.New("EIO")
	recordSyncs(t, broken)
	err := Write(filepath.Join(t.TempDir(), "station.key"), []byte("k"), 0o600)
	if !errors.Is(err, broken) {
		t.Fatalf("Write = %v, want the sync error", err)
	}
}

// Each folder MkdirAll makes has its entry synced in its parent, deepest
// first; folders that were there already are left alone.
func TestMkdirAllSyncsEachNewFoldersParent(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no folder sync on Windows")
	}
	base := t.TempDir()
	got := recordSyncs(t, nil)
	dir := filepath.Join(base, "stationsync", "station")
	if err := MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(base, "stationsync"), base}
	if strings.Join(*got, "|") != strings.Join(want, "|") {
		t.Fatalf("synced %v, want %v", *got, want)
	}
	*got = nil
	if err := MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if len(*got) != 0 {
		t.Errorf("an existing folder synced %v", *got)
	}
}

// Writers racing on one file each leave a whole file: the last rename
// wins and nobody sees a mixture.
func TestConcurrentWritesLeaveOneWholeFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.json")
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := Write(p, bytes.Repeat([]byte{byte('a' + i)}, 64<<10), 0o600); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 64<<10 || bytes.Count(b, b[:1]) != len(b) {
		t.Fatalf("file of %d bytes mixes writers", len(b))
	}
}
