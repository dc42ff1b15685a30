package agent

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"stationsync/internal/failpoint"
	"stationsync/internal/sqlitedb"
)

// StorageError says the station's disk is full or its data folder cannot
// be written. The station then refuses new records (the cadre is told
// plainly, nothing is half-saved) and takes them again by itself once
// space or write access returns.
type StorageError struct {
	ReadOnly bool
	Dir      string
	Err      error
}

func (e *StorageError) Error() string {
	if e.ReadOnly {
		return "数据目录 " + e.Dir + " 不能写入（只读或没有权限），这条记录没有保存；已保存的记录不受影响。请联系县里的信息员检查电脑磁盘，恢复后会自动继续"
	}
	return "电脑磁盘空间已满，这条记录没有保存；已保存的记录不受影响。请删除不用的文件腾出空间，腾出后会自动继续"
}

func (e *StorageError) Unwrap() error { return e.Err }

// minFree is the free space below which the station stops taking new
// records: SQLite needs room for the WAL and a checkpoint, and a record
// refused whole is better than a save that fails half-way.
const minFree = 512 << 10

// probeEvery bounds how often a refused write probes the disk again.
const probeEvery = time.Second

// health is the store's knowledge of its disk.
type health struct {
	mu      sync.Mutex
	err     *StorageError // nil while the disk is fine
	since   time.Time
	checked time.Time
}

// probeDir checks that dir has room and can be written: a small file is
// written, synced and removed.
func probeDir(dir string) *StorageError {
	if free, readOnly, err := diskState(dir); err == nil {
		if readOnly {
			return &StorageError{ReadOnly: true, Dir: dir, Err: syscall.EROFS}
		}
		if free < minFree {
			return &StorageError{Dir: dir, Err: syscall.ENOSPC}
		}
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return classify(dir, err)
	}
	name := f.Name()
	defer os.Remove(name)
	_, err = f.Write(make([]byte, 16<<10))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return classify(dir, err)
	}
	return nil
}

// classify turns an error of the file system or SQLite into a
// StorageError, or returns nil if it is neither full nor read-only.
func classify(dir string, err error) *StorageError {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return &StorageError{Dir: dir, Err: err}
	case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return &StorageError{ReadOnly: true, Dir: dir, Err: err}
	}
	return nil
}

func (s *Store) dir() string { return filepath.Dir(s.db.Path) }

// StorageProblem probes the disk now and returns the problem, or nil. It
// also clears a problem recorded earlier once the disk is fine again.
func (s *Store) StorageProblem() *StorageError {
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	return s.probeLocked()
}

func (s *Store) probeLocked() *StorageError {
	s.health.checked = time.Now()
	p := probeDir(s.dir())
	if p == nil {
		s.health.err = nil
		return nil
	}
	if s.health.err == nil {
		s.health.since = time.Now()
	}
	s.health.err = p
	return p
}

// guardWrite refuses a cadre's write while the disk is known to be full or
// read-only; it probes again at most once a second, so the station takes
// records again by itself as soon as space returns.
func (s *Store) guardWrite() error {
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	if s.health.err == nil {
		return nil
	}
	if time.Since(s.health.checked) < probeEvery {
		return s.health.err
	}
	if p := s.probeLocked(); p != nil {
		return p
	}
	return nil
}

// noteWrite looks at the error of a write: a full disk, or a database or
// folder that cannot be written, becomes a StorageError the cadre can act
// on, and further writes are refused until the disk is fine again.
func (s *Store) noteWrite(err error) error {
	if err == nil {
		return nil
	}
	var se *StorageError
	if errors.As(err, &se) {
		return err
	}
	if !sqlitedb.IsFull(err) && classify(s.dir(), err) == nil {
		return err
	}
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	p := s.probeLocked()
	if p == nil {
		// The probe found room (another file was freed meanwhile, or the
		// I/O error was not about space): say what SQLite said.
		ro := errors.Is(err, syscall.EROFS) || isReadOnly(err)
		p = &StorageError{ReadOnly: ro, Dir: s.dir(), Err: err}
		s.health.err, s.health.since, s.health.checked = p, time.Now(), time.Now()
	}
	return p
}

func isReadOnly(err error) bool {
	return err != nil && (errors.Is(err, syscall.EROFS) || containsAny(err.Error(), "readonly", "read-only", "attempt to write a readonly database"))
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// openError explains why the store could not be opened when the cause is
// the disk: full, or a data folder that cannot be written.
func openError(dir string, err error) error {
	if p := probeDir(dir); p != nil {
		p.Err = err
		return p
	}
	if sqlitedb.IsFull(err) || isReadOnly(err) {
		return &StorageError{ReadOnly: isReadOnly(err), Dir: dir, Err: err}
	}
	return err
}

// failpointTransport stops the process at failpoint.AgentAfterPushSent:
// the batch has reached the county and its answer has not been read.
type failpointTransport struct{ http.RoundTripper }

func (t failpointTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.RoundTripper.RoundTrip(r)
	if err == nil && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/v1/push") {
		failpoint.Inject(failpoint.AgentAfterPushSent)
	}
	return resp, err
}
