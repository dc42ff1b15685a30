package blobstore

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

const chunk = 64 << 10

// send writes data[off:off+n] as one chunk, hashed as a sender would.
func send(u *Upload, data []byte, off, n int) error {
	end := min(off+n, len(data))
	return u.WriteChunk(int64(off), data[off:end], sum(data[off:end]))
}

func offset(t testing.TB, u *Upload) int64 {
	t.Helper()
	o, err := u.Offset()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// An upload cut after three chunks is taken up by a store opened anew on
// the same folder — as after a county restart — at the fourth chunk, and
// commits to the blob.
func TestUploadResumesFromDiskAfterReopen(t *testing.T) {
	dir := t.TempDir()
	data := content(20, 5*chunk+1234)
	h := sum(data)
	u, err := mustOpen(t, dir).Begin(h, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := send(u, data, i*chunk, chunk); err != nil {
			t.Fatal(err)
		}
	}
	s := mustOpen(t, dir)
	u, err = s.Begin(h, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if got := offset(t, u); got != 3*chunk {
		t.Fatalf("resumed at %d, want %d", got, 3*chunk)
	}
	for off := 3 * chunk; off < len(data); off += chunk {
		if err := send(u, data, off, chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := u.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, h); !bytes.Equal(got, data) {
		t.Fatal("committed blob differs")
	}
	if got := entries(t, s.uploads); len(got) != 0 {
		t.Errorf("uploads left: %v", got)
	}
	if _, err := s.Begin(h, int64(len(data))); !errors.Is(err, ErrExists) {
		t.Errorf("Begin of a stored blob = %v, want ErrExists", err)
	}
}

// What a chunk must satisfy, and that a refused chunk changes nothing.
func TestWriteChunkRefusals(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	data := content(21, 3*chunk)
	u, err := s.Begin(sum(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if err := send(u, data, 0, chunk); err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), data[chunk:2*chunk]...)
	bad[7] ^= 1
	var oe *OffsetError
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"hash of other bytes", u.WriteChunk(chunk, bad, sum(data[chunk:2*chunk])), ErrChunkHash},
		{"malformed hash", u.WriteChunk(chunk, data[chunk:2*chunk], "abc"), ErrBadHash},
		{"gap", send(u, data, 2*chunk, chunk), ErrOffset},
		{"negative offset", u.WriteChunk(-1, data[:10], sum(data[:10])), ErrOffset},
		{"past the size", u.WriteChunk(chunk, append(data[chunk:], 1), sum(append(data[chunk:], 1))), ErrTooLarge},
		{"over MaxChunk", u.WriteChunk(chunk, make([]byte, MaxChunk+1), sum(make([]byte, MaxChunk+1))), ErrTooLarge},
		{"other bytes over acknowledged ones", u.WriteChunk(0, bad, sum(bad)), ErrOffset},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	if err := send(u, data, 2*chunk, chunk); !errors.As(err, &oe) || oe.Offset != chunk || oe.Got != 2*chunk {
		t.Errorf("gap error %v does not say where to resume", err)
	}
	if got := offset(t, u); got != chunk {
		t.Fatalf("offset %d after refusals, want %d", got, chunk)
	}
	// A chunk sent again after its answer was lost is accepted, unchanged.
	if err := send(u, data, 0, chunk); err != nil {
		t.Fatalf("resent chunk: %v", err)
	}
	// One that overlaps the acknowledged end carries on past it.
	if err := send(u, data, chunk/2, chunk); err != nil {
		t.Fatalf("overlapping chunk: %v", err)
	}
	if got := offset(t, u); got != chunk+chunk/2 {
		t.Fatalf("offset %d, want %d", got, chunk+chunk/2)
	}
	if err := u.Commit(); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("Commit of a partial upload = %v, want ErrIncomplete", err)
	}
	for off := chunk + chunk/2; off < len(data); off += chunk {
		if err := send(u, data, off, chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := u.Commit(); err != nil {
		t.Fatal(err)
	}
}

// A crash after a chunk's bytes reached the disk but before its offset was
// recorded leaves bytes past the offset; they were never acknowledged, the
// sender sends them again, and the blob is right.
func TestUnacknowledgedTailIsOverwritten(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	data := content(22, 2*chunk+77)
	h := sum(data)
	u, _ := s.Begin(h, int64(len(data)))
	if err := send(u, data, 0, chunk); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(s.dataPath(h), os.O_WRONLY, 0)
	f.WriteAt(bytes.Repeat([]byte{0xAA}, chunk/2), chunk) // half a chunk, torn
	f.Close()
	s = mustOpen(t, dir)
	u, _ = s.Begin(h, int64(len(data)))
	if got := offset(t, u); got != chunk {
		t.Fatalf("offset %d, want %d: unacknowledged bytes counted", got, chunk)
	}
	for off := chunk; off < len(data); off += chunk {
		if err := send(u, data, off, chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := u.Commit(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, s, h), data) {
		t.Fatal("blob differs")
	}
}

// Chunks that each match their own hash but not the file named at Begin
// fail at Commit, which drops the upload: the next Begin starts at zero.
func TestCommitChecksTheWholeFile(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	data := content(23, 2*chunk)
	other := content(24, 2*chunk)
	h := sum(data)
	u, _ := s.Begin(h, int64(len(data)))
	send(u, other, 0, chunk)
	send(u, other, chunk, chunk)
	if err := u.Commit(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Commit = %v, want ErrCorrupt", err)
	}
	if ok, _ := s.Has(h); ok {
		t.Fatal("wrong bytes stored under the hash")
	}
	if _, err := u.Offset(); !errors.Is(err, ErrNoUpload) {
		t.Fatalf("Offset after a failed Commit = %v, want ErrNoUpload", err)
	}
	u, _ = s.Begin(h, int64(len(data)))
	if got := offset(t, u); got != 0 {
		t.Fatalf("restarted at %d", got)
	}
}

// A Begin that names another size for the same hash restarts the upload;
// the one holding the old size is told it no longer exists.
func TestBeginWithAnotherSizeRestarts(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	data := content(25, 2*chunk)
	h := sum(data)
	u1, _ := s.Begin(h, 999)
	u1.WriteChunk(0, data[:10], sum(data[:10]))
	u2, err := s.Begin(h, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if got := offset(t, u2); got != 0 {
		t.Fatalf("offset %d, want 0", got)
	}
	if err := send(u1, data, 10, 10); !errors.Is(err, ErrNoUpload) {
		t.Fatalf("write to the superseded upload = %v, want ErrNoUpload", err)
	}
}

// An upload whose blob a Put stored meanwhile commits as done; a chunk
// after that is told the blob exists.
func TestUploadOfBlobStoredMeanwhile(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	data := content(26, 2*chunk)
	h := sum(data)
	u, _ := s.Begin(h, int64(len(data)))
	send(u, data, 0, chunk)
	if _, _, err := s.Put(context.Background(), bytes.NewReader(data), 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := send(u, data, chunk, chunk); !errors.Is(err, ErrExists) {
		t.Fatalf("chunk after the blob was stored = %v, want ErrExists", err)
	}
	if err := u.Commit(); err != nil {
		t.Fatalf("Commit = %v", err)
	}
	if got := entries(t, s.uploads); len(got) != 0 {
		t.Errorf("uploads left: %v", got)
	}
}

func TestEmptyUpload(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	u, err := s.Begin(sum(nil), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Commit(); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Has(sum(nil)); !ok {
		t.Fatal("empty blob not stored")
	}
}

func TestPruneUploadsAndAbort(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	a, b, c := content(27, 100), content(28, 100), content(29, 100)
	ua, _ := s.Begin(sum(a), 100)
	ub, _ := s.Begin(sum(b), 100)
	uc, _ := s.Begin(sum(c), 100)
	send(ua, a, 0, 50)
	send(ub, b, 0, 50)
	send(uc, c, 0, 50)
	past := time.Now().Add(-48 * time.Hour)
	os.Chtimes(s.dataPath(sum(a)), past, past)
	if u, _ := s.Usage(context.Background()); u.Uploads != 3 || u.UploadBytes != 150 {
		t.Fatalf("Usage = %+v", u)
	}
	n, err := s.PruneUploads(time.Now().Add(-24 * time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PruneUploads = %d %v, want 1", n, err)
	}
	if _, err := ua.Offset(); !errors.Is(err, ErrNoUpload) {
		t.Errorf("pruned upload: %v", err)
	}
	if err := ub.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := offset(t, uc); got != 50 {
		t.Fatalf("untouched upload at %d", got)
	}
	if u, _ := s.Usage(context.Background()); u.Uploads != 1 {
		t.Fatalf("Usage = %+v, want one upload left", u)
	}
}

// A file sent over a link that is cut at random bytes, with answers lost,
// the sender restarted (it forgets where it was and asks), and the county
// restarted (the store opened anew), arrives once and whole. Each cut
// costs at most the chunk in flight: the bytes sent again are counted and
// bounded, and no resume ever starts from zero after the first chunk.
func TestUploadCutAtRandomOffsets(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		dir := t.TempDir()
		s := mustOpen(t, dir)
		data := content(seed, 1+r.IntN(12*chunk))
		h := sum(data)
		size := int64(len(data))
		u, err := s.Begin(h, size)
		if err != nil {
			t.Fatal(err)
		}
		var sent, cuts int
		var acked int64 // the sender's idea of the offset
		for acked < size {
			n := min(chunk, int(size-acked))
			switch r.IntN(6) {
			case 0: // the link drops mid-chunk: the county gets nothing
				sent += r.IntN(n)
				cuts++
				continue
			case 1: // the chunk lands, its answer is lost
				if err := send(u, data, int(acked), n); err != nil {
					t.Fatal(err)
				}
				sent += n
				cuts++
				continue // the sender sends it again
			case 2: // the station agent restarts and asks the county
				cuts++
				got := offset(t, u)
				if got < acked {
					t.Fatalf("seed %d: county went back from %d to %d", seed, acked, got)
				}
				acked = got
				continue
			case 3: // the county restarts
				s = mustOpen(t, dir)
				if u, err = s.Begin(h, size); err != nil {
					t.Fatal(err)
				}
			}
			if err := send(u, data, int(acked), n); err != nil {
				t.Fatalf("seed %d: chunk at %d: %v", seed, acked, err)
			}
			sent += n
			acked += int64(n)
		}
		if err := u.Commit(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if !bytes.Equal(readAll(t, s, h), data) {
			t.Fatalf("seed %d: blob differs", seed)
		}
		if extra := sent - len(data); extra > cuts*chunk {
			t.Fatalf("seed %d: %d bytes sent again over %d cuts, more than a chunk each", seed, extra, cuts)
		}
		if seed == 0 {
			t.Logf("%d bytes in %d chunks, %d cuts, %d bytes sent again", len(data), (len(data)+chunk-1)/chunk, cuts, sent-len(data))
		}
	}
}

// Uploads of different blobs run at once, each chunk from its own
// goroutine in order, and all commit whole.
func TestConcurrentUploads(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	done := make(chan error)
	for i := range 16 {
		go func() {
			data := content(uint64(300+i%8), 3*chunk+i%8) // pairs upload the same blob
			u, err := s.Begin(sum(data), int64(len(data)))
			if errors.Is(err, ErrExists) {
				done <- nil
				return
			}
			if err != nil {
				done <- err
				return
			}
			for {
				off, err := u.Offset()
				if errors.Is(err, ErrExists) {
					done <- nil
					return
				}
				if err != nil {
					done <- err
					return
				}
				if off == int64(len(data)) {
					done <- u.Commit()
					return
				}
				if err := send(u, data, int(off), chunk); err != nil && !errors.Is(err, ErrExists) && !errors.Is(err, ErrOffset) {
					done <- err
					return
				}
			}
		}()
	}
	for range 16 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	u, _ := s.Usage(context.Background())
	if u.Count != 8 || u.Uploads != 0 {
		t.Fatalf("Usage = %+v, want 8 blobs and no upload", u)
	}
	s.List(context.Background(), func(i Info) error {
		if err := s.Verify(i.Hash); err != nil {
			t.Error(err)
		}
		return nil
	})
}

// BenchmarkWriteChunk is the county's cost of one acknowledged 64 KiB
// chunk: check, write, fsync, and the offset saved atomically.
func BenchmarkWriteChunk(b *testing.B) {
	s := mustOpen(b, b.TempDir())
	data := content(60, b.N*chunk)
	u, err := s.Begin(sum(data), int64(len(data)))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(chunk)
	b.ResetTimer()
	for i := range b.N {
		if err := send(u, data, i*chunk, chunk); err != nil {
			b.Fatal(err)
		}
	}
}
