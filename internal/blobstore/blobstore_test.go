package blobstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func mustOpen(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// content returns n deterministic bytes that differ per seed.
func content(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 99))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func readAll(t testing.TB, s *Store, h string) []byte {
	t.Helper()
	r, err := s.Open(h)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", h, err)
	}
	return b
}

func entries(t testing.TB, dir string) []string {
	t.Helper()
	list, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Name())
	}
	return names
}

func TestPutStoresUnderItsHashAndReadsBack(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "files"))
	data := content(1, 300<<10)
	h, n, err := s.Put(context.Background(), bytes.NewReader(data), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if h != sum(data) || n != int64(len(data)) {
		t.Fatalf("Put = %s %d, want %s %d", h, n, sum(data), len(data))
	}
	p := filepath.Join(s.Dir(), "objects", h[:2], h)
	if fi, err := os.Stat(p); err != nil || fi.Size() != n {
		t.Fatalf("blob file %s: %v", p, err)
	}
	if got := readAll(t, s, h); !bytes.Equal(got, data) {
		t.Fatal("read back other bytes")
	}
	if ok, err := s.Has(h); !ok || err != nil {
		t.Fatalf("Has = %v %v", ok, err)
	}
	if len(entries(t, s.tmp)) != 0 {
		t.Errorf("temporary files left: %v", entries(t, s.tmp))
	}
}

// The second Put of the same content neither renames nor rewrites the
// stored file: its inode and time stay, and no temporary file is left.
func TestPutOfStoredContentWritesNothing(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	ctx := context.Background()
	data := content(2, 100<<10)
	h, _, err := s.Put(ctx, bytes.NewReader(data), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	p := s.path(h)
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(p)
	h2, n2, err := s.Put(ctx, bytes.NewReader(data), 1<<20)
	if err != nil || h2 != h || n2 != int64(len(data)) {
		t.Fatalf("second Put = %s %d %v", h2, n2, err)
	}
	after, _ := os.Stat(p)
	if !os.SameFile(before, after) || !after.ModTime().Equal(old) {
		t.Errorf("stored file replaced or touched: mtime %v, want %v", after.ModTime(), old)
	}
	if len(entries(t, s.tmp)) != 0 {
		t.Errorf("temporary files left: %v", entries(t, s.tmp))
	}
	if u, _ := s.Usage(ctx); u.Count != 1 || u.Bytes != int64(len(data)) {
		t.Errorf("Usage = %+v, want one blob", u)
	}
}

func TestPutOverLimitStoresNothing(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	ctx := context.Background()
	data := content(3, 1001)
	if _, _, err := s.Put(ctx, bytes.NewReader(data), 1000); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put of 1001 bytes with limit 1000 = %v, want ErrTooLarge", err)
	}
	if h, n, err := s.Put(ctx, bytes.NewReader(data[:1000]), 1000); err != nil || n != 1000 || h != sum(data[:1000]) {
		t.Fatalf("Put of exactly the limit = %s %d %v", h, n, err)
	}
	if u, _ := s.Usage(ctx); u.Count != 1 {
		t.Errorf("Usage = %+v, want only the blob within the limit", u)
	}
	if len(entries(t, s.tmp)) != 0 {
		t.Errorf("temporary files left: %v", entries(t, s.tmp))
	}
}

func TestPutStopsWhenCancelled(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	go func() {
		pw.Write(make([]byte, 4096))
		cancel()
		pw.Write(make([]byte, 4096))
		pw.Close()
	}()
	_, _, err := s.Put(ctx, pr, 1<<20)
	pr.Close()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put = %v, want context.Canceled", err)
	}
	if u, _ := s.Usage(context.Background()); u.Count != 0 {
		t.Errorf("a cancelled Put stored %+v", u)
	}
}

// A blob whose bytes changed on disk is an error however it is read: to
// the end, to exactly its size (io.ReadFull drops an error that comes with
// the last bytes), or by Verify. A blob cut short or grown likewise.
func TestDamagedBlobIsAnErrorNeverBadBytes(t *testing.T) {
	damage := map[string]func(p string) error{
		"bit flipped": func(p string) error {
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0x01
			return os.WriteFile(p, b, 0o600)
		},
		"cut short": func(p string) error { return os.Truncate(p, 1000) },
		"last byte": func(p string) error {
			b, _ := os.ReadFile(p)
			b[len(b)-1] ^= 0x80
			return os.WriteFile(p, b, 0o600)
		},
		"emptied": func(p string) error { return os.Truncate(p, 0) },
	}
	for name, fn := range damage {
		t.Run(name, func(t *testing.T) {
			s := mustOpen(t, t.TempDir())
			data := content(4, 70000)
			h, _, err := s.Put(context.Background(), bytes.NewReader(data), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if err := fn(s.path(h)); err != nil {
				t.Fatal(err)
			}
			r, err := s.Open(h)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(r); !errors.Is(err, ErrCorrupt) {
				t.Errorf("ReadAll = %v, want ErrCorrupt", err)
			}
			r.Close()
			r, _ = s.Open(h)
			buf := make([]byte, len(data))
			if n, err := io.ReadFull(r, buf); err == nil {
				t.Errorf("ReadFull got %d bytes and no error", n)
			}
			r.Close()
			if err := s.Verify(h); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Verify = %v, want ErrCorrupt", err)
			}
		})
	}
}

// A stored blob of the wrong size (cut short by a disk fault) is replaced
// by the good copy the next Put brings.
func TestPutRepairsBlobOfWrongSize(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	data := content(5, 70000)
	h, _, err := s.Put(context.Background(), bytes.NewReader(data), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	os.Truncate(s.path(h), 1000)
	if _, _, err := s.Put(context.Background(), bytes.NewReader(data), 1<<20); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, h); !bytes.Equal(got, data) {
		t.Fatal("blob not repaired")
	}
}

func TestEmptyBlob(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	h, n, err := s.Put(context.Background(), bytes.NewReader(nil), 10)
	if err != nil || n != 0 || h != sum(nil) {
		t.Fatalf("Put empty = %s %d %v", h, n, err)
	}
	if got := readAll(t, s, h); len(got) != 0 {
		t.Fatalf("read %d bytes", len(got))
	}
}

func TestHasRemoveStatUsage(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	ctx := context.Background()
	var hashes []string
	var total int64
	for i := range 5 {
		data := content(uint64(10+i), 1000*(i+1))
		h, n, err := s.Put(ctx, bytes.NewReader(data), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
		total += n
	}
	u, err := s.Usage(ctx)
	if err != nil || u.Count != 5 || u.Bytes != total {
		t.Fatalf("Usage = %+v %v, want 5 blobs of %d bytes", u, err, total)
	}
	if i, err := s.Stat(hashes[2]); err != nil || i.Size != 3000 {
		t.Fatalf("Stat = %+v %v", i, err)
	}
	if err := s.Remove(hashes[2]); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(hashes[2]); err != nil {
		t.Fatalf("second Remove = %v, want nil", err)
	}
	if ok, _ := s.Has(hashes[2]); ok {
		t.Fatal("removed blob still there")
	}
	if _, err := s.Open(hashes[2]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open removed = %v, want ErrNotFound", err)
	}
	if _, err := s.Stat(hashes[2]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat removed = %v, want ErrNotFound", err)
	}
	if u, _ := s.Usage(ctx); u.Count != 4 || u.Bytes != total-3000 {
		t.Fatalf("Usage after Remove = %+v", u)
	}
	var listed int
	s.List(ctx, func(Info) error { listed++; return nil })
	if listed != 4 {
		t.Errorf("List gave %d blobs, want 4", listed)
	}
}

// A hash from outside becomes a path only when it is 64 lowercase hex
// digits: nothing else reaches the file system.
func TestBadHashesRefused(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	outside := filepath.Join(s.Dir(), "..", "secret")
	os.WriteFile(outside, []byte("x"), 0o600)
	for _, h := range []string{"", "../secret", "../../etc/passwd", sum(nil)[:63], sum(nil) + "0",
		"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
		"g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"..b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"} {
		if _, err := s.Open(h); !errors.Is(err, ErrBadHash) {
			t.Errorf("Open(%q) = %v", h, err)
		}
		if _, err := s.Has(h); !errors.Is(err, ErrBadHash) {
			t.Errorf("Has(%q) = %v", h, err)
		}
		if err := s.Remove(h); !errors.Is(err, ErrBadHash) {
			t.Errorf("Remove(%q) = %v", h, err)
		}
		if _, err := s.Begin(h, 10); !errors.Is(err, ErrBadHash) {
			t.Errorf("Begin(%q) = %v", h, err)
		}
	}
	if _, err := os.Stat(outside); err != nil {
		t.Fatal("a file outside the store was touched")
	}
}

// Many writers at once, the same and different content, from two Store
// values on one folder (the service and station-agent attach): every Put
// succeeds with the right hash, each content is stored once and whole,
// and nothing temporary is left.
func TestConcurrentPuts(t *testing.T) {
	dir := t.TempDir()
	stores := []*Store{mustOpen(t, dir), mustOpen(t, dir)}
	ctx := context.Background()
	const kinds, writers = 8, 64
	blobs := make([][]byte, kinds)
	for i := range blobs {
		blobs[i] = content(uint64(100+i), 50<<10+i*977)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			data := blobs[w%kinds]
			h, n, err := stores[w%2].Put(ctx, bytes.NewReader(data), 1<<20)
			if err != nil || h != sum(data) || n != int64(len(data)) {
				t.Errorf("writer %d: Put = %s %d %v", w, h, n, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	u, err := stores[0].Usage(ctx)
	if err != nil || u.Count != kinds {
		t.Fatalf("Usage = %+v %v, want %d blobs", u, err, kinds)
	}
	for _, data := range blobs {
		if got := readAll(t, stores[1], sum(data)); !bytes.Equal(got, data) {
			t.Fatal("a blob does not read back whole")
		}
	}
	if left := entries(t, stores[0].tmp); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// Removing and putting the same blob at once, and reading it meanwhile,
// ends with either the blob whole or absent, never a torn one.
func TestConcurrentPutRemoveRead(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	ctx := context.Background()
	data := content(7, 200<<10)
	h := sum(data)
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch i % 3 {
			case 0:
				if _, _, err := s.Put(ctx, bytes.NewReader(data), 1<<20); err != nil {
					t.Error(err)
				}
			case 1:
				s.Remove(h)
			case 2:
				r, err := s.Open(h)
				if errors.Is(err, ErrNotFound) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				defer r.Close()
				if b, err := io.ReadAll(r); err != nil || !bytes.Equal(b, data) {
					t.Errorf("read %d bytes, %v", len(b), err)
				}
			}
		}()
	}
	wg.Wait()
	if ok, _ := s.Has(h); ok {
		if err := s.Verify(h); err != nil {
			t.Fatal(err)
		}
	}
}

// Put's temporary files that a crash left are removed on the next Open
// once they are old; a young one may be another process's Put in flight.
func TestOpenRemovesStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	old := filepath.Join(s.tmp, "put-crashed")
	young := filepath.Join(s.tmp, "put-inflight")
	state := filepath.Join(s.uploads, "."+sum(nil)+".json.tmp123")
	os.WriteFile(old, []byte("half"), 0o600)
	os.WriteFile(young, []byte("half"), 0o600)
	os.WriteFile(state, []byte("{"), 0o600)
	past := time.Now().Add(-2 * time.Hour)
	os.Chtimes(old, past, past)
	os.Chtimes(state, past, past)
	mustOpen(t, dir)
	if got := entries(t, s.tmp); len(got) != 1 || got[0] != "put-inflight" {
		t.Fatalf("tmp holds %v, want only the young file", got)
	}
	if got := entries(t, s.uploads); len(got) != 0 {
		t.Fatalf("uploads holds %v", got)
	}
}

func ExampleStore_Put() {
	dir, _ := os.MkdirTemp("", "blobs")
	defer os.RemoveAll(dir)
	s, _ := Open(dir)
	h, n, _ := s.Put(context.Background(), bytes.NewReader([]byte("走访照片")), 10<<20)
	fmt.Println(h[:12], n)
	// Output: 4840d2e8fee3 12
}
