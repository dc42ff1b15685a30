package server

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"stationsync/syncproto"
)

// uploadPath is the data file of k's unfinished upload of hash.
func (fc *fileCounty) uploadPath(k keyed, hash string) string {
	return filepath.Join(fc.dir, "stations", k.st.ID, "uploads", hash+".data")
}

// An upload untouched for longer than PruneAfter is dropped by the
// county's own loop, and the station starts it again from 0; a recent one
// and a finished file stay.
func TestPruneAbandonedUploads(t *testing.T) {
	fc := newFileCounty(t, func(s *Server) { s.Files.PruneAfter = 24 * time.Hour; s.Files.PruneEvery = 20 * time.Millisecond })
	t.Cleanup(func() { fc.srv.Close() })
	ctx := context.Background()
	c := fc.client(fc.k)
	old, recent, done := pdfOf(200<<10, 31), pdfOf(200<<10, 32), pdfOf(100<<10, 33)
	other := enrollIn(t, fc.store, fc.k.st.Village)
	fc.name(t, fc.k, hashOf(old), hashOf(recent), hashOf(done))
	sendAll(t, c, hashOf(done), done, 64<<10)
	for _, f := range []struct {
		k    keyed
		data []byte
	}{{fc.k, old}, {other, recent}} {
		if _, err := fc.client(f.k).PutChunk(ctx, hashOf(f.data), int64(len(f.data)), 0, f.data[:64<<10]); err != nil {
			t.Fatal(err)
		}
	}
	// The old one was last touched 25 hours ago.
	then := time.Now().Add(-25 * time.Hour)
	for _, p := range []string{fc.uploadPath(fc.k, hashOf(old)), filepath.Join(filepath.Dir(fc.uploadPath(fc.k, hashOf(old))), hashOf(old)+".json")} {
		if err := os.Chtimes(p, then, then); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(fc.uploadPath(fc.k, hashOf(old))); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the abandoned upload was not dropped within 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(fc.uploadPath(other, hashOf(recent))); err != nil {
		t.Fatalf("a recent upload was dropped: %v", err)
	}
	fc.stored(t, hashOf(done), done)
	st, err := c.FileStatus(ctx, []syncproto.FileRef{{Hash: hashOf(old), Size: int64(len(old))}, {Hash: hashOf(done), Size: int64(len(done))}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Files[0].State != syncproto.FileSend || st.Files[0].Offset != 0 || st.Files[1].State != syncproto.FileHave {
		t.Fatalf("after pruning: %+v", st.Files)
	}
	// The station sends it again, whole.
	sendAll(t, c, hashOf(old), old, 64<<10)
	fc.stored(t, hashOf(old), old)
}

// Pruning beside chunks arriving: a chunk either lands in the upload or
// is told where the upload stands (never a 500); the file ends whole.
func TestPruneBesideChunks(t *testing.T) {
	fc := newFileCounty(t, func(s *Server) { s.Files.PruneAfter = -1 })
	cf, err := openCountyFiles(fc.dir)
	if err != nil {
		t.Fatal(err)
	}
	data := pdfOf(1<<20, 34)
	hash := hashOf(data)
	fc.name(t, fc.k, hash)
	pruned := make(chan int)
	go func() {
		n := 0
		// Everything counts as old, the worst case, during the first
		// part of the upload; then the file may finish.
		for range 200 {
			k, err := cf.pruneUploads(context.Background(), time.Now().Add(time.Hour))
			if err != nil {
				t.Error(err)
			}
			n += k
			time.Sleep(time.Millisecond)
		}
		pruned <- n
	}()
	sendAll(t, fc.client(fc.k), hash, data, 64<<10)
	n := <-pruned
	// Pruned after it finished, too: a file is never pruned.
	if _, err := cf.pruneUploads(context.Background(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d uploads dropped while the file went up", n)
	fc.stored(t, hash, data)
}
