package blobstore

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"stationsync/internal/atomicfile"
)

// OffsetError says where an upload stands when a chunk does not continue
// it: the sender resumes from Offset. It matches ErrOffset.
type OffsetError struct {
	Offset int64 // bytes acknowledged so far
	Got    int64 // the chunk's offset
}

func (e *OffsetError) Error() string {
	return fmt.Sprintf("blobstore: chunk at %d, upload is at %d", e.Got, e.Offset)
}

func (e *OffsetError) Is(target error) bool { return target == ErrOffset }

// Upload is a blob arriving in chunks. It holds no open file and no state
// of its own: everything is on disk, so a handler may Begin the same hash
// in every request, and a process started anew carries on where the last
// acknowledged chunk ended.
type Upload struct {
	s    *Store
	hash string
	size int64
}

// uploadMeta is the acknowledged state of an upload, replaced atomically
// after each chunk's bytes are fsynced: the offset on disk never runs ahead
// of the data, so a power cut loses at most the chunk not yet answered.
type uploadMeta struct {
	Hash   string `json:"hash"`
	Size   int64  `json:"size"`
	Offset int64  `json:"offset"`
}

func (s *Store) dataPath(h string) string { return filepath.Join(s.uploads, h+".data") }
func (s *Store) metaPath(h string) string { return filepath.Join(s.uploads, h+".json") }

// Begin starts, or takes up again, the upload of the blob with this hash
// and size. A blob already stored is ErrExists: nothing needs sending. An
// unfinished upload of the same hash under another size is dropped and
// started afresh (one of the two claims is wrong, and the hash alone says
// which content is wanted).
func (s *Store) Begin(h string, size int64) (*Upload, error) {
	if err := checkHash(h); err != nil {
		return nil, err
	}
	if size < 0 {
		return nil, fmt.Errorf("begin upload %s: size %d", h, size)
	}
	mu := s.lock(h)
	mu.Lock()
	defer mu.Unlock()
	if _, err := os.Stat(s.path(h)); err == nil {
		s.dropUpload(h) // left by a crash between Commit's rename and its cleanup
		return nil, fmt.Errorf("begin upload %s: %w", h, ErrExists)
	}
	if m, err := s.readMeta(h); err == nil && m.Size == size {
		if _, err := os.Stat(s.dataPath(h)); err == nil {
			return &Upload{s: s, hash: h, size: size}, nil
		}
	}
	s.dropUpload(h)
	f, err := os.OpenFile(s.dataPath(h), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("begin upload %s: %w", h, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("begin upload %s: %w", h, err)
	}
	if err := s.writeMeta(uploadMeta{Hash: h, Size: size}); err != nil {
		return nil, fmt.Errorf("begin upload %s: %w", h, err)
	}
	return &Upload{s: s, hash: h, size: size}, nil
}

// Hash is the blob the upload makes.
func (u *Upload) Hash() string { return u.hash }

// Size is the blob's size.
func (u *Upload) Size() int64 { return u.size }

// Offset is how many bytes have been acknowledged: where the sender
// resumes.
func (u *Upload) Offset() (int64, error) {
	mu := u.s.lock(u.hash)
	mu.Lock()
	defer mu.Unlock()
	m, err := u.meta()
	if err != nil {
		return 0, err
	}
	return m.Offset, nil
}

// meta reads the upload's state and checks it is still this upload.
func (u *Upload) meta() (uploadMeta, error) {
	if _, err := os.Stat(u.s.path(u.hash)); err == nil {
		return uploadMeta{}, fmt.Errorf("upload %s: %w", u.hash, ErrExists)
	}
	m, err := u.s.readMeta(u.hash)
	if err != nil || m.Size != u.size {
		return uploadMeta{}, fmt.Errorf("upload %s: %w", u.hash, ErrNoUpload)
	}
	return m, nil
}

// WriteChunk stores data at offset after checking it against chunkHash
// (lowercase hex SHA-256 of data). When it returns nil the chunk is on the
// disk and the offset past it survives a crash: the caller may acknowledge
// it. A chunk beyond the acknowledged offset is an *OffsetError naming
// where to resume; a chunk resent after a lost answer, already stored with
// the same bytes, is accepted again without writing.
func (u *Upload) WriteChunk(offset int64, data []byte, chunkHash string) error {
	if len(data) > MaxChunk {
		return fmt.Errorf("upload %s: chunk of %d bytes: %w", u.hash, len(data), ErrTooLarge)
	}
	if !ValidHash(chunkHash) {
		return fmt.Errorf("upload %s: chunk hash: %w", u.hash, ErrBadHash)
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != chunkHash {
		return fmt.Errorf("upload %s: chunk at %d: %w", u.hash, offset, ErrChunkHash)
	}
	mu := u.s.lock(u.hash)
	mu.Lock()
	defer mu.Unlock()
	m, err := u.meta()
	if err != nil {
		return err
	}
	end := offset + int64(len(data))
	if offset < 0 || offset > m.Offset {
		return fmt.Errorf("upload %s: %w", u.hash, &OffsetError{Offset: m.Offset, Got: offset})
	}
	if end > m.Size {
		return fmt.Errorf("upload %s: chunk ends at %d past the size %d: %w", u.hash, end, m.Size, ErrTooLarge)
	}
	f, err := os.OpenFile(u.s.dataPath(u.hash), os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("upload %s: %w", u.hash, err)
	}
	defer f.Close()
	// The part already acknowledged must be what was sent before: a
	// different chunk over it is a sender that lost its place, told where
	// the upload stands.
	overlap := min(end, m.Offset) - offset
	if overlap > 0 {
		same, err := sameBytes(f, data[:overlap], offset)
		if err != nil {
			return fmt.Errorf("upload %s: %w", u.hash, err)
		}
		if !same {
			return fmt.Errorf("upload %s: chunk differs from the bytes acknowledged: %w", u.hash, &OffsetError{Offset: m.Offset, Got: offset})
		}
	}
	if end <= m.Offset {
		return nil
	}
	if _, err := f.WriteAt(data[overlap:], m.Offset); err != nil {
		return fmt.Errorf("upload %s: %w", u.hash, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("upload %s: %w", u.hash, err)
	}
	m.Offset = end
	if err := u.s.writeMeta(m); err != nil {
		return fmt.Errorf("upload %s: %w", u.hash, err)
	}
	return nil
}

// Commit makes the upload a blob once every byte is acknowledged, after
// reading the whole file back and checking it against the hash. A
// mismatch is ErrCorrupt and drops the upload: the sender sent other bytes
// than it named, and must start again. Committing an upload whose blob a
// concurrent Put or Commit already stored succeeds.
func (u *Upload) Commit() error {
	mu := u.s.lock(u.hash)
	mu.Lock()
	defer mu.Unlock()
	m, err := u.meta()
	if errors.Is(err, ErrExists) {
		u.s.dropUpload(u.hash)
		return nil
	}
	if err != nil {
		return err
	}
	if m.Offset != m.Size {
		return fmt.Errorf("commit upload %s: %d of %d bytes: %w", u.hash, m.Offset, m.Size, ErrIncomplete)
	}
	data := u.s.dataPath(u.hash)
	f, err := os.OpenFile(data, os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("commit upload %s: %w", u.hash, err)
	}
	h := sha256.New()
	_, err = io.Copy(h, io.NewSectionReader(f, 0, m.Size))
	if err == nil {
		// Bytes past the size cannot come from WriteChunk; drop any anyway.
		if fi, serr := f.Stat(); serr == nil && fi.Size() != m.Size {
			if err = f.Truncate(m.Size); err == nil {
				err = f.Sync()
			}
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("commit upload %s: %w", u.hash, err)
	}
	if hex.EncodeToString(h.Sum(nil)) != u.hash {
		u.s.dropUpload(u.hash)
		return fmt.Errorf("commit upload %s: %w", u.hash, ErrCorrupt)
	}
	if err := u.s.install(data, u.s.path(u.hash), m.Size); err != nil {
		return fmt.Errorf("commit upload %s: %w", u.hash, err)
	}
	os.Remove(u.s.metaPath(u.hash))
	return nil
}

// Abort drops the upload and what it received.
func (u *Upload) Abort() error {
	mu := u.s.lock(u.hash)
	mu.Lock()
	defer mu.Unlock()
	return u.s.dropUpload(u.hash)
}

func (s *Store) dropUpload(h string) error {
	var errs []error
	for _, p := range []string{s.metaPath(h), s.dataPath(h)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Store) readMeta(h string) (uploadMeta, error) {
	b, err := os.ReadFile(s.metaPath(h))
	if err != nil {
		return uploadMeta{}, err
	}
	var m uploadMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return uploadMeta{}, err
	}
	if m.Hash != h || m.Size < 0 || m.Offset < 0 || m.Offset > m.Size {
		return uploadMeta{}, fmt.Errorf("upload %s: bad state %s", h, b)
	}
	return m, nil
}

func (s *Store) writeMeta(m uploadMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return atomicfile.Write(s.metaPath(m.Hash), b, 0o600)
}

// PruneUploads drops unfinished uploads untouched since before: a county
// keeps the chunks of a station that went quiet for a while, not forever.
// It returns how many it dropped.
func (s *Store) PruneUploads(before time.Time) (int, error) {
	list, err := os.ReadDir(s.uploads)
	if err != nil {
		return 0, fmt.Errorf("prune uploads: %w", err)
	}
	n := 0
	for _, e := range list {
		h, ok := strings.CutSuffix(e.Name(), ".data")
		if !ok || !ValidHash(h) {
			continue
		}
		mu := s.lock(h)
		mu.Lock()
		// The data file's time is the last chunk's; the meta's would do too.
		if fi, err := os.Stat(s.dataPath(h)); err == nil && fi.ModTime().Before(before) {
			if s.dropUpload(h) == nil {
				n++
			}
		}
		mu.Unlock()
	}
	return n, nil
}
