package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// scanBytes is a PDF scan of n bytes, kept byte for byte at capture.
func scanBytes(n int, seed uint64) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	copy(b, "%PDF-1.4\n")
	copy(b[n-7:], "\n%%EOF\n")
	return b
}

// attachScan attaches a scan to a new visit and returns the visit and the
// file's hash.
func attachScan(t *testing.T, a *Agent, seed uint64) (string, string) {
	t.Helper()
	vid := visitOf(t, a.Store)
	h, err := a.Attach(context.Background(), vid, fmt.Sprintf("scan%d.pdf", seed), "甲", bytes.NewReader(scanBytes(4000, seed)))
	if err != nil {
		t.Fatal(err)
	}
	return vid, h
}

// setFile puts a file in a state, acknowledged at ackedAt (zero: never).
func setFile(t *testing.T, a *Agent, hash, state string, ackedAt time.Time) {
	t.Helper()
	var acked any
	if !ackedAt.IsZero() {
		acked = ackedAt.UnixMilli()
	}
	if _, err := a.Store.db.W.Exec(`UPDATE attachments SET state = ?, acked_at = ? WHERE hash = ?`, state, acked, hash); err != nil {
		t.Fatal(err)
	}
}

// sent empties the outbox, as a sync that the county acknowledged does.
func sent(t *testing.T, a *Agent) {
	t.Helper()
	if _, err := a.Store.db.W.Exec(`DELETE FROM outbox`); err != nil {
		t.Fatal(err)
	}
}

func fileRow(t *testing.T, a *Agent, hash string) Attachment {
	t.Helper()
	at, err := a.Store.attachment(context.Background(), hash)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func held(t *testing.T, a *Agent, hash string) bool {
	t.Helper()
	bs, err := a.blobs()
	if err != nil {
		t.Fatal(err)
	}
	ok, err := bs.Has(hash)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// Only files the county acknowledged before the configured time leave the
// disk: never a pending or refused one, never one acknowledged lately, nor
// one whose record has a change still to go up. Their rows say evicted;
// the counts and the disk figure follow.
func TestEvictOnlyOldAcknowledgedFiles(t *testing.T) {
	ctx := context.Background()
	a := openAttachAgent(t, AttachConfig{EvictAfter: 30 * 24 * time.Hour})
	now := time.Now()
	_, old := attachScan(t, a, 1)
	_, recent := attachScan(t, a, 2)
	_, pending := attachScan(t, a, 3)
	_, refused := attachScan(t, a, 4)
	sent(t, a)
	queuedVisit, queued := attachScan(t, a, 5) // its record's change is still queued
	setFile(t, a, old, FileAcked, now.Add(-31*24*time.Hour))
	setFile(t, a, recent, FileAcked, now.Add(-29*24*time.Hour))
	setFile(t, a, refused, FileRefused, time.Time{})
	setFile(t, a, queued, FileAcked, now.Add(-40*24*time.Hour))

	res, err := a.EvictFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 1 || res.Bytes != 4000 {
		t.Fatalf("evicted %+v; want the one old acknowledged file of 4000 bytes", res)
	}
	if at := fileRow(t, a, old); at.State != FileEvicted || held(t, a, old) {
		t.Fatalf("old acknowledged file: state %q, on disk %v; want evicted and gone", at.State, held(t, a, old))
	}
	for name, h := range map[string]string{"recent": recent, "pending": pending, "refused": refused, "queued": queued} {
		if !held(t, a, h) || fileRow(t, a, h).State == FileEvicted {
			t.Errorf("%s file evicted", name)
		}
	}
	// Once its record's change went up, the queued one goes too.
	sent(t, a)
	if res, err := a.EvictFiles(ctx); err != nil || res.Files != 1 || held(t, a, queued) {
		t.Fatalf("after the record of %s went up: %+v %v", queuedVisit, res, err)
	}
	c, err := a.Store.FileCounts(ctx)
	if err != nil || c.Evicted != 2 || c.Acked != 1 || c.Pending != 1 || c.Refused != 1 {
		t.Fatalf("counts %+v %v", c, err)
	}
	u, err := a.DiskUse(ctx)
	if err != nil || u.Held != 3 || u.HeldBytes != 12000 || u.Evicted != 2 || u.EvictedBytes != 8000 || u.Free <= 0 {
		t.Fatalf("disk use %+v %v", u, err)
	}
	// Again: nothing more.
	if res, err := a.EvictFiles(ctx); err != nil || res.Files != 0 {
		t.Fatalf("second pass evicted %+v %v", res, err)
	}
}

// 0 days in config.json (or a negative EvictAfter) is never; an edit of
// the file applies to the running agent.
func TestEvictNever(t *testing.T) {
	ctx := context.Background()
	a := openAttachAgent(t, AttachConfig{EvictAfter: -1})
	_, h := attachScan(t, a, 7)
	sent(t, a)
	setFile(t, a, h, FileAcked, time.Now().Add(-3000*24*time.Hour))
	if res, err := a.EvictFiles(ctx); err != nil || res.Files != 0 || !held(t, a, h) {
		t.Fatalf("EvictAfter < 0 evicted %+v %v", res, err)
	}
	fc := DefaultConfig()
	fc.EvictFilesAfterDays = 3650
	if err := a.ApplyConfig(ctx, fc); err != nil {
		t.Fatal(err)
	}
	if res, err := a.EvictFiles(ctx); err != nil || res.Files != 0 {
		t.Fatalf("3650 days evicted a file acknowledged 3000 days ago: %+v %v", res, err)
	}
	fc.EvictFilesAfterDays = 1
	a.ApplyConfig(ctx, fc)
	if res, err := a.EvictFiles(ctx); err != nil || res.Files != 1 {
		t.Fatalf("1 day: %+v %v", res, err)
	}
	fc.EvictFilesAfterDays = 0
	if err := fc.Validate(); err != nil {
		t.Fatalf("0 days refused: %v", err)
	}
	for _, bad := range []int{-1, 3651} {
		fc.EvictFilesAfterDays = bad
		if fc.Validate() == nil {
			t.Errorf("evict_files_after_days %d accepted", bad)
		}
	}
}

// A crash between marking the rows and removing the files leaves files
// their rows call evicted; the next pass, after a restart, removes them.
// At no point does a row say a file is here that is not.
func TestEvictCrashBetweenMarkAndRemove(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, err := Open(ctx, Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var hashes []string
	for i := range 5 {
		_, h := attachScan(t, a, uint64(20+i))
		hashes = append(hashes, h)
	}
	sent(t, a)
	for _, h := range hashes {
		setFile(t, a, h, FileAcked, time.Now().Add(-60*24*time.Hour))
	}
	// The first step alone, as if the power went after it.
	marked, _, err := a.Store.markEvicted(ctx, time.Now().Add(-30*24*time.Hour).UnixMilli())
	if err != nil || len(marked) != 5 {
		t.Fatalf("marked %d: %v", len(marked), err)
	}
	checkNoAckedWithoutFile(t, a)
	a.Close()

	a, err = Open(ctx, Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, h := range hashes {
		if !held(t, a, h) {
			t.Fatal("file gone before the pass that removes it")
		}
	}
	if _, err := a.EvictFiles(ctx); err != nil {
		t.Fatal(err)
	}
	for _, h := range hashes {
		if held(t, a, h) || fileRow(t, a, h).State != FileEvicted {
			t.Fatalf("file %.12s… after the pass: held %v, state %q", h, held(t, a, h), fileRow(t, a, h).State)
		}
	}
}

// checkNoAckedWithoutFile fails if a row says the station holds a file
// (pending, acked, refused) that is not on the disk.
func checkNoAckedWithoutFile(t *testing.T, a *Agent) {
	t.Helper()
	rows, err := a.Store.db.R.Query(`SELECT hash, state FROM attachments WHERE state IN ('pending', 'acked', 'refused')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var h, st string
		rows.Scan(&h, &st)
		if !held(t, a, h) {
			t.Errorf("row %.12s… says %s, and the file is not on the disk", h, st)
		}
	}
}

// Eviction passes beside a cadre attaching the same scans again: a file
// attached again is here again (acked, the county has it), and no row ends
// saying a file is here that is not.
func TestEvictBesideAttach(t *testing.T) {
	ctx := context.Background()
	a := openAttachAgent(t, AttachConfig{EvictAfter: time.Millisecond})
	type file struct{ vid, hash string }
	var files []file
	for i := range 8 {
		vid, h := attachScan(t, a, uint64(40+i))
		files = append(files, file{vid, h})
	}
	sent(t, a)
	for _, f := range files {
		setFile(t, a, f.hash, FileAcked, time.Now().Add(-time.Hour))
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				if _, err := a.EvictFiles(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i, f := range files {
		wg.Go(func() {
			for range 5 {
				if _, err := a.Attach(ctx, f.vid, "again.pdf", "甲", bytes.NewReader(scanBytes(4000, uint64(40+i)))); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	sent(t, a)
	// A pass after the last attach: whatever it finds is consistent.
	if _, err := a.EvictFiles(ctx); err != nil {
		t.Fatal(err)
	}
	checkNoAckedWithoutFile(t, a)
}

// The figure: a pass over 1,000 acknowledged files (README).
func TestEvictThousandFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 files")
	}
	ctx := context.Background()
	a := openAttachAgent(t, AttachConfig{})
	bs, err := a.blobs()
	if err != nil {
		t.Fatal(err)
	}
	vid := visitOf(t, a.Store)
	sent(t, a)
	old := time.Now().Add(-90 * 24 * time.Hour).UnixMilli()
	tx, err := a.Store.db.W.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for i := range 1000 {
		data := scanBytes(30000+i, uint64(1000+i))
		h, n, err := bs.Put(ctx, bytes.NewReader(data), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if h != hex.EncodeToString(sum[:]) {
			t.Fatal("hash")
		}
		total += n
		if _, err := tx.Exec(`INSERT INTO attachments (hash, size, type, name, kind, record_id, state, created_at, acked_at) VALUES (?, ?, 'application/pdf', 'x.pdf', 'visit', ?, 'acked', ?, ?)`, h, n, vid, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := a.EvictFiles(ctx)
	took := time.Since(start)
	if err != nil || res.Files != 1000 || res.Bytes != total {
		t.Fatalf("evicted %+v of 1000 files, %d bytes: %v", res, total, err)
	}
	if left := blobFiles(t, a); len(left) != 0 {
		t.Fatalf("%d files left on disk", len(left))
	}
	t.Logf("RESULT evict: 1000 files, %d bytes, in %v", total, took.Round(time.Millisecond))
}
