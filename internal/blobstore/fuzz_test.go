package blobstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"
)

// FuzzUpload drives one upload with chunks as a station, or anyone who
// can reach the county, might send them: any offset, any length, bytes
// that are not the file's, hashes that do not match, restarts in between.
// Whatever arrives, the acknowledged offset never goes back or past the
// size, and Commit stores the blob only when its bytes are the file's.
func FuzzUpload(f *testing.F) {
	f.Add([]byte{0, 0, 0, 100, 0, 0, 100, 100, 0, 0, 200, 55, 0})
	f.Add([]byte{0, 0, 0, 255, 1, 0, 50, 10, 2, 0, 0, 255, 4})
	f.Add([]byte{0, 10, 0, 10, 0, 0, 0, 10, 0, 0, 10, 245, 8, 0, 0, 255, 0})
	data := content(40, 255)
	h := sum(data)
	f.Fuzz(func(t *testing.T, ops []byte) {
		dir := t.TempDir()
		s := mustOpen(t, dir)
		u, err := s.Begin(h, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		var last int64
		for len(ops) >= 5 {
			off := int64(int16(binary.BigEndian.Uint16(ops)))
			n := int(ops[2])
			flags := ops[3]
			ops = ops[5:]
			var chunk []byte
			if off >= 0 && int(off) < len(data) {
				chunk = append(chunk, data[off:min(int(off)+n, len(data))]...)
			}
			for len(chunk) < n {
				chunk = append(chunk, byte(len(chunk)))
			}
			if flags&1 != 0 && len(chunk) > 0 {
				chunk[len(chunk)/2] ^= 0x5A // other bytes, honestly hashed
			}
			ch := sum(chunk)
			if flags&2 != 0 {
				ch = sum(append(chunk, 0)) // a hash of something else
			}
			if flags&4 != 0 {
				s = mustOpen(t, dir)
				if u, err = s.Begin(h, int64(len(data))); err != nil {
					t.Fatal(err)
				}
			}
			werr := u.WriteChunk(off, chunk, ch)
			if flags&2 != 0 && !errors.Is(werr, ErrChunkHash) {
				t.Fatalf("chunk with a wrong hash: %v", werr)
			}
			o, err := u.Offset()
			if err != nil {
				t.Fatal(err)
			}
			if o < last || o > int64(len(data)) {
				t.Fatalf("offset went from %d to %d", last, o)
			}
			if werr != nil && o != last {
				t.Fatalf("refused chunk moved the offset from %d to %d", last, o)
			}
			last = o
		}
		stored, _ := readFileBytes(s.dataPath(h), last)
		cerr := u.Commit()
		want := last == int64(len(data)) && bytes.Equal(stored, data)
		if want != (cerr == nil) {
			t.Fatalf("Commit = %v with %d bytes acknowledged", cerr, last)
		}
		if cerr == nil && !bytes.Equal(readAll(t, s, h), data) {
			t.Fatal("committed blob differs")
		}
		if ok, _ := s.Has(h); ok != want {
			t.Fatalf("Has = %v after Commit %v", ok, cerr)
		}
	})
}

func readFileBytes(path string, n int64) ([]byte, error) {
	b, err := os.ReadFile(path)
	if int64(len(b)) > n {
		b = b[:n]
	}
	return b, err
}
