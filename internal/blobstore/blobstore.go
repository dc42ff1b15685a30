package blobstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"stationsync/internal/atomicfile"
	"stationsync/internal/fileperm"
)

// Errors. Callers branch on them with errors.Is; the county maps them to
// answers with a Chinese message in one place.
var (
	ErrNotFound   = errors.New("blobstore: no such blob")
	ErrCorrupt    = errors.New("blobstore: content does not match its hash")
	ErrTooLarge   = errors.New("blobstore: over the size limit")
	ErrBadHash    = errors.New("blobstore: not a lowercase hex SHA-256")
	ErrExists     = errors.New("blobstore: blob already stored")
	ErrNoUpload   = errors.New("blobstore: no such upload")
	ErrChunkHash  = errors.New("blobstore: chunk does not match its hash")
	ErrOffset     = errors.New("blobstore: chunk not at the upload's offset")
	ErrIncomplete = errors.New("blobstore: upload not complete")
)

// MaxChunk is the largest chunk WriteChunk takes. The protocol's chunks are
// 64–256 KiB; the cap bounds what one request can make the county hold.
const MaxChunk = 1 << 20

// staleTemp is how old a temporary file of Put must be before Open removes
// it: another process (station-agent attach) may be writing a younger one.
const staleTemp = time.Hour

// Store is a content-addressed file store in one folder. Its methods are
// safe for concurrent use.
type Store struct {
	dir, objects, uploads, tmp string

	// locks serialise what touches one hash — the commit of a Put, every
	// step of an upload — striped by the hash's first byte, so different
	// blobs rarely wait on each other and the same blob never races.
	locks [256]sync.Mutex
}

// Info describes a stored blob.
type Info struct {
	Hash    string
	Size    int64
	ModTime time.Time
}

// Usage is what a store holds on disk.
type Usage struct {
	Bytes       int64 // of whole blobs
	Count       int   // whole blobs
	UploadBytes int64 // of unfinished uploads
	Uploads     int
}

// Open opens the store in dir, making it (private, 0700) if needed.
func Open(dir string) (*Store, error) {
	s := &Store{
		dir:     dir,
		objects: filepath.Join(dir, "objects"),
		uploads: filepath.Join(dir, "uploads"),
		tmp:     filepath.Join(dir, "tmp"),
	}
	_, statErr := os.Stat(dir)
	if err := atomicfile.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open blob store: %w", err)
	}
	// A folder made here is closed at once (on Windows its protected DACL is
	// inherited by everything made in it later); one that was there is
	// walked only if it is not private, because the data folder's own
	// fileperm.Dir at start already walks every blob.
	if private, err := fileperm.Private(dir); errors.Is(statErr, fs.ErrNotExist) || err != nil || !private {
		if err := fileperm.Dir(dir); err != nil {
			return nil, fmt.Errorf("open blob store: %w", err)
		}
	}
	for _, d := range []string{s.objects, s.uploads, s.tmp} {
		if err := atomicfile.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open blob store: %w", err)
		}
	}
	s.removeStaleTemps(time.Now().Add(-staleTemp))
	return s, nil
}

// Dir is the folder the store lives in.
func (s *Store) Dir() string { return s.dir }

// removeStaleTemps removes what a crash left behind: Put's temporary
// files, and an upload state's (atomicfile's ".<name>.tmp…").
func (s *Store) removeStaleTemps(before time.Time) {
	list, _ := os.ReadDir(s.tmp)
	for _, e := range list {
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(before) {
			os.Remove(filepath.Join(s.tmp, e.Name()))
		}
	}
	list, _ = os.ReadDir(s.uploads)
	for _, e := range list {
		if !strings.HasPrefix(e.Name(), ".") || !strings.Contains(e.Name(), ".tmp") {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(before) {
			os.Remove(filepath.Join(s.uploads, e.Name()))
		}
	}
}

// ValidHash reports whether h is a SHA-256 as the store names blobs: 64
// lowercase hex digits. Every hash from outside passes here before it
// becomes part of a path.
func ValidHash(h string) bool {
	if len(h) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func checkHash(h string) error {
	if !ValidHash(h) {
		return fmt.Errorf("%w: %.80q", ErrBadHash, h)
	}
	return nil
}

func (s *Store) lock(h string) *sync.Mutex {
	b, _ := hex.DecodeString(h[:2])
	return &s.locks[b[0]]
}

func (s *Store) path(h string) string { return filepath.Join(s.objects, h[:2], h) }

// Put stores what r yields, at most limit bytes (more is ErrTooLarge and
// stores nothing), and returns its hash and size. Content already stored is
// not written again: the temporary copy is dropped before it is fsynced or
// renamed. ctx cancels a long read.
func (s *Store) Put(ctx context.Context, r io.Reader, limit int64) (string, int64, error) {
	if limit <= 0 {
		return "", 0, fmt.Errorf("put blob: limit %d", limit)
	}
	f, err := os.CreateTemp(s.tmp, "put-*")
	if err != nil {
		return "", 0, fmt.Errorf("put blob: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if f != nil {
			f.Close()
		}
		if tmp != "" {
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx, io.LimitReader(r, limit+1)})
	if err != nil {
		return "", 0, fmt.Errorf("put blob: %w", err)
	}
	if n > limit {
		return "", 0, fmt.Errorf("put blob: %w (%d bytes)", ErrTooLarge, limit)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	mu := s.lock(sum)
	mu.Lock()
	defer mu.Unlock()
	final := s.path(sum)
	// A stored blob of another size is damaged; the good copy replaces it.
	if fi, err := os.Stat(final); err == nil && fi.Size() == n {
		return sum, n, nil
	}
	if err := f.Sync(); err != nil {
		return "", 0, fmt.Errorf("put blob: %w", err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return "", 0, fmt.Errorf("put blob: %w", err)
	}
	if err := s.install(tmp, final, n); err != nil {
		return "", 0, fmt.Errorf("put blob: %w", err)
	}
	tmp = ""
	return sum, n, nil
}

// install renames a complete, fsynced file to its blob name, durably.
func (s *Store) install(from, final string, size int64) error {
	if err := atomicfile.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return err
	}
	if err := atomicfile.Rename(from, final); err != nil {
		// Another process renamed the same content first, and Windows
		// refuses to replace a file someone holds open: the blob is there.
		if fi, serr := os.Stat(final); serr == nil && fi.Size() == size {
			os.Remove(from)
			return nil
		}
		return err
	}
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Has reports whether the blob is stored.
func (s *Store) Has(h string) (bool, error) {
	_, err := s.Stat(h)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Stat describes a stored blob; ErrNotFound if there is none.
func (s *Store) Stat(h string) (Info, error) {
	if err := checkHash(h); err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(s.path(h))
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, fmt.Errorf("stat blob %s: %w", h, ErrNotFound)
	}
	if err != nil {
		return Info{}, fmt.Errorf("stat blob %s: %w", h, err)
	}
	return Info{Hash: h, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Remove deletes a blob; one that is not there is no error, so eviction
// can be repeated. On Windows a blob being read cannot be removed.
func (s *Store) Remove(h string) error {
	if err := checkHash(h); err != nil {
		return err
	}
	mu := s.lock(h)
	mu.Lock()
	defer mu.Unlock()
	if err := os.Remove(s.path(h)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove blob %s: %w", h, err)
	}
	return nil
}

// Reader reads a blob and checks it against its name as it goes. The read
// that would complete the blob first compares the hash and, on a mismatch,
// returns ErrCorrupt and withholds its bytes: even a caller that stops at
// the expected size (io.ReadFull, which drops a late error) never gets the
// whole of a damaged file without an error.
type Reader struct {
	f    *os.File
	h    hash.Hash
	want string
	size int64
	n    int64
	err  error
}

// Open opens a blob for reading; ErrNotFound if there is none.
func (s *Store) Open(h string) (*Reader, error) {
	if err := checkHash(h); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(h))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open blob %s: %w", h, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", h, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open blob %s: %w", h, err)
	}
	return &Reader{f: f, h: sha256.New(), want: h, size: fi.Size()}, nil
}

// Size is the blob's size on disk when it was opened.
func (r *Reader) Size() int64 { return r.size }

func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.f.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	switch {
	case r.n > r.size:
		r.err = fmt.Errorf("read blob %s: grew while read: %w", r.want, ErrCorrupt)
		return 0, r.err
	case r.n == r.size || err == io.EOF:
		if hex.EncodeToString(r.h.Sum(nil)) != r.want {
			r.err = fmt.Errorf("read blob %s: %w", r.want, ErrCorrupt)
			return 0, r.err
		}
		r.err = io.EOF
		return n, nil
	case err != nil:
		r.err = fmt.Errorf("read blob %s: %w", r.want, err)
		return 0, r.err
	}
	return n, nil
}

// Close closes the file.
func (r *Reader) Close() error { return r.f.Close() }

// Verify reads a whole blob and reports ErrCorrupt if it does not match
// its name: for the agent before it starts an upload, and for a periodic
// check of the disk.
func (s *Store) Verify(h string) error {
	r, err := s.Open(h)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.Copy(io.Discard, r)
	return err
}

// ReadAt reads part of a blob, unverified: the uploader sends a file in
// chunks from any offset, and the receiver checks the whole (Commit). The
// agent Verifies a blob before it starts sending it.
func (s *Store) ReadAt(h string, p []byte, off int64) (int, error) {
	if err := checkHash(h); err != nil {
		return 0, err
	}
	f, err := os.Open(s.path(h))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("read blob %s: %w", h, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("read blob %s: %w", h, err)
	}
	defer f.Close()
	n, err := f.ReadAt(p, off)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("read blob %s: %w", h, err)
	}
	return n, err
}

// List calls fn for every stored blob, in no particular order, until fn
// returns an error (which List returns).
func (s *Store) List(ctx context.Context, fn func(Info) error) error {
	fans, err := os.ReadDir(s.objects)
	if err != nil {
		return fmt.Errorf("list blobs: %w", err)
	}
	for _, fan := range fans {
		if !fan.IsDir() || len(fan.Name()) != 2 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		list, err := os.ReadDir(filepath.Join(s.objects, fan.Name()))
		if err != nil {
			return fmt.Errorf("list blobs: %w", err)
		}
		for _, e := range list {
			name := e.Name()
			if !e.Type().IsRegular() || !ValidHash(name) || !strings.HasPrefix(name, fan.Name()) {
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed meanwhile
			}
			if err != nil {
				return fmt.Errorf("list blobs: %w", err)
			}
			if err := fn(Info{Hash: name, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Usage adds up what the store holds. It reads every folder entry: a
// station's few thousand files take milliseconds; the county should not
// call it per page.
func (s *Store) Usage(ctx context.Context) (Usage, error) {
	var u Usage
	err := s.List(ctx, func(i Info) error {
		u.Bytes += i.Size
		u.Count++
		return nil
	})
	if err != nil {
		return Usage{}, err
	}
	list, err := os.ReadDir(s.uploads)
	if err != nil {
		return Usage{}, fmt.Errorf("usage: %w", err)
	}
	for _, e := range list {
		if name, ok := strings.CutSuffix(e.Name(), ".data"); ok && ValidHash(name) {
			if fi, err := e.Info(); err == nil {
				u.UploadBytes += fi.Size()
				u.Uploads++
			}
		}
	}
	return u, nil
}

// sameBytes reports whether f holds p at off.
func sameBytes(f *os.File, p []byte, off int64) (bool, error) {
	got := make([]byte, len(p))
	n, err := f.ReadAt(got, off)
	if n < len(p) {
		if err == io.EOF {
			return false, nil
		}
		return false, err
	}
	return bytes.Equal(got, p), nil
}
