package agent

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"stationsync/internal/bytesize"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"stationsync/internal/blobstore"
	"stationsync/internal/photo"
	"stationsync/internal/records"
	"stationsync/syncproto"
)

// Attachments: photos of a visit, scans of an application's documents, a
// disclosure's attachments. At capture a file is normalised (internal/photo:
// scaled, metadata stripped; PDFs kept as they are), stored in the blob
// store under the data folder (files/) by its SHA-256, and its hash added
// to the record's list in the same transaction that queues the record's
// change and notes the file in the attachments table. The record travels
// in the outbox at once; the file goes after it (attach_upload.go).
//
// The record's field stays what it was: a JSON list of hashes
// (records.checkHashes), so no county needs upgrading to take the records.
// Size, type and name are the station's (attachments table) and the
// county's (read from the file itself).

// AttachConfig shapes the station's attachments. Zero values take the
// defaults written beside each field.
type AttachConfig struct {
	// Chunk is the bytes sent per upload request; default
	// syncproto.DefaultFileChunk (64 KiB), at most what the county takes.
	Chunk int
	// MaxSize is the largest file that may be attached, after
	// normalising; default syncproto.DefaultMaxFileSize (20 MiB), the
	// county's default limit.
	MaxSize int64
	// RoundBudget is how long one round may send files before it ends, so
	// that the next round pulls the county's decisions even while a large
	// scan crawls up a 2G link; the next round then starts at once and
	// goes on where this one stopped. Default 5 min.
	RoundBudget time.Duration
	// EvictAfter is how long a file the county acknowledged stays on the
	// station's disk before it is taken off (attach_evict.go); default
	// DefaultEvictAfter, negative never. config.json's
	// evict_files_after_days overrides it while the service runs.
	EvictAfter time.Duration
}

func (c AttachConfig) withDefaults() AttachConfig {
	if c.Chunk <= 0 {
		c.Chunk = syncproto.DefaultFileChunk
	}
	c.Chunk = min(c.Chunk, syncproto.MaxFileChunk)
	if c.MaxSize <= 0 {
		c.MaxSize = syncproto.DefaultMaxFileSize
	}
	if c.RoundBudget <= 0 {
		c.RoundBudget = 5 * time.Minute
	}
	return c
}

func (a *Agent) fileConfig() AttachConfig { return a.cfg.Attach.withDefaults() }

// attachState is the agent's part of attachments.
type attachState struct {
	mu    sync.Mutex
	store *blobstore.Store
	// The fields below belong to the sync round (guarded by Agent.mu).
	//
	// noFilesUntil: the county answered as a release without attachments
	// does; its files are kept and asked about again after this.
	noFilesUntil time.Time
	// verified are the files read whole and found sound since the agent
	// started: a resumed upload is not read twice.
	verified map[string]bool

	// evictMu keeps eviction and fetching apart (attach_evict.go,
	// attach_fetch.go); swept and unswept are guarded by it.
	evictMu        sync.Mutex
	swept, unswept bool
	fetching       sync.Mutex // one fetch from the county at a time
}

// blobs is the station's blob store, opened at first use, so that a
// station without attachments has no files/ folder.
func (a *Agent) blobs() (*blobstore.Store, error) {
	a.files.mu.Lock()
	defer a.files.mu.Unlock()
	if a.files.store == nil {
		bs, err := blobstore.Open(filepath.Join(a.cfg.DataDir, "files"))
		if err != nil {
			return nil, a.Store.noteWrite(fmt.Errorf("open attachments: %w", err))
		}
		a.files.store = bs
	}
	return a.files.store, nil
}

// fileFields is the field that lists a kind's files.
var fileFields = map[records.Kind]string{records.Visit: "photos", records.Application: "documents", records.Disclosure: "attachments"}

// Attachment states (attachments.state).
const (
	FilePending = "pending" // not yet acknowledged by the county
	FileAcked   = "acked"   // the county holds it, whole and verified
	FileRefused = "refused" // the county will not take it (Error says why)
	FileMissing = "missing" // the local copy is damaged or gone (Error)
)

// Attachment is a file attached to a record.
type Attachment struct {
	Hash      string
	Size      int64
	Type      string // image/jpeg or application/pdf
	Name      string // the file's name when it was attached
	Kind      records.Kind
	RecordID  string // the record it was first attached to
	State     string
	Error     string // Chinese, for FileRefused and FileMissing
	CreatedAt time.Time
	AckedAt   time.Time // zero until acknowledged
	// Decision: a document the county attached to its decision on the
	// application (decision_documents), fetched from the county
	// (attach_decision.go); never the station's to take off.
	Decision bool
}

// Attach normalises the file r yields (internal/photo), keeps it, and adds
// it to the files of record recordID (a visit, an application or a
// disclosure) as a change by the cadre by; name is the file's own name,
// kept for the pages. It returns the file's hash. The record's change is
// on disk and queued when Attach returns; the file goes up after it. A
// file the record already has is not added twice. Refusals are errors
// whose text is Chinese for the cadre (*photo.Error, *records.FieldError).
func (a *Agent) Attach(ctx context.Context, recordID, name, by string, r io.Reader) (string, error) {
	// A record that cannot take a file is refused before the costly part.
	kind, err := a.Store.fileRecord(ctx, recordID)
	if err != nil {
		return "", err
	}
	cfg := a.fileConfig()
	res, err := photo.Normalize(ctx, r, photo.Options{})
	if err != nil {
		return "", err
	}
	if int64(len(res.Data)) > cfg.MaxSize {
		return "", &records.FieldError{Field: fileFields[kind], Message: fmt.Sprintf("文件太大（%s），不能超过 %s；请缩小或分成几份后再添加。", bytesize.Text(int64(len(res.Data))), bytesize.Text(cfg.MaxSize))}
	}
	if err := a.Store.guardWrite(); err != nil {
		return "", err
	}
	bs, err := a.blobs()
	if err != nil {
		return "", err
	}
	hash, size, err := bs.Put(ctx, bytes.NewReader(res.Data), cfg.MaxSize)
	if err != nil {
		return "", a.Store.noteWrite(fmt.Errorf("keep attachment: %w", err))
	}
	name = fileName(name)
	err = a.Store.editFiles(ctx, recordID, by, func(list []string) []string {
		if slices.Contains(list, hash) {
			return list
		}
		return append(list, hash)
	}, func(tx *sql.Tx, kind records.Kind) error {
		// A file attached again after its copy went missing is sent
		// again; one attached again after it was evicted is here again
		// (and the county holds it); otherwise its state stays (an
		// acknowledged file is not sent twice).
		_, err := tx.Exec(`INSERT INTO attachments (hash, size, type, name, kind, record_id, state, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?7)
			ON CONFLICT (hash) DO UPDATE SET state = CASE state WHEN 'missing' THEN 'pending' ELSE 'acked' END, error = '',
				evicted_at = NULL, fetched_at = CASE state WHEN 'evicted' THEN ?7 ELSE fetched_at END
			WHERE state IN ('missing', 'evicted')`,
			hash, size, res.Type, name, string(kind), recordID, a.Store.clock.Physical().UnixMilli())
		return err
	})
	if err != nil {
		return "", err
	}
	return hash, nil
}

// Detach takes the file hash off record recordID's files, as a change by
// by. A file no record names any more and that the county has not
// acknowledged leaves the station. Taking off a file the record does not
// have changes nothing.
func (a *Agent) Detach(ctx context.Context, recordID, hash, by string) error {
	drop := false
	err := a.Store.editFiles(ctx, recordID, by, func(list []string) []string {
		return slices.DeleteFunc(list, func(h string) bool { return h == hash })
	}, func(tx *sql.Tx, _ records.Kind) error {
		if named, err := fileNamed(tx, hash); err != nil || named {
			return err
		}
		res, err := tx.Exec(`DELETE FROM attachments WHERE hash = ? AND state NOT IN ('acked', 'evicted')`, hash)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		drop = n > 0
		return nil
	})
	if err != nil || !drop {
		return err
	}
	bs, err := a.blobs()
	if err != nil {
		return err
	}
	return bs.Remove(hash)
}

// Attachments lists the files of record recordID, in the record's order.
// A hash the record names that this station does not know (attached at
// another station of the village) is listed with State "" and no size.
func (a *Agent) Attachments(ctx context.Context, recordID string) ([]Attachment, error) {
	l, err := findFileRecord(ctx, a.Store.db.R, recordID)
	if err != nil {
		return nil, err
	}
	kind := l.Kind
	hashes := hashList(l.Fields[fileFields[kind]])
	own := len(hashes)
	if kind == records.Application {
		// The county's decision documents follow the station's own.
		for _, h := range hashList(l.Fields[decisionField]) {
			if !slices.Contains(hashes, h) {
				hashes = append(hashes, h)
			}
		}
	}
	out := make([]Attachment, 0, len(hashes))
	for i, h := range hashes {
		at, err := a.Store.attachment(ctx, h)
		if errors.Is(err, sql.ErrNoRows) {
			at = Attachment{Hash: h, Kind: kind, RecordID: recordID}
		} else if err != nil {
			return nil, err
		}
		at.Decision = i >= own
		out = append(out, at)
	}
	return out, nil
}

// OpenAttachment opens a kept file for reading; the reader checks the
// bytes against the hash as it goes (blobstore.Reader). It is
// blobstore.ErrNotFound when the station does not hold the file.
func (a *Agent) OpenAttachment(hash string) (*blobstore.Reader, error) {
	bs, err := a.blobs()
	if err != nil {
		return nil, err
	}
	return bs.Open(hash)
}

// FileCounts is what the station holds of attachments, by state.
type FileCounts struct {
	Pending, Acked, Refused, Missing int
	Evicted                          int   // held by the county, no longer on this PC
	PendingBytes                     int64 // still to go up
}

// FileCounts counts the attachments by state.
func (s *Store) FileCounts(ctx context.Context) (FileCounts, error) {
	var c FileCounts
	rows, err := s.db.R.QueryContext(ctx, `SELECT state, count(*), sum(size) FROM attachments GROUP BY state`)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	for rows.Next() {
		var state string
		var n int
		var bytes int64
		if err := rows.Scan(&state, &n, &bytes); err != nil {
			return c, err
		}
		switch state {
		case FilePending:
			c.Pending, c.PendingBytes = n, bytes
		case FileAcked:
			c.Acked = n
		case FileRefused:
			c.Refused = n
		case FileMissing:
			c.Missing = n
		case FileEvicted:
			c.Evicted = n
		}
	}
	return c, rows.Err()
}

func (s *Store) attachment(ctx context.Context, hash string) (Attachment, error) {
	var at Attachment
	var kind string
	var created int64
	var acked sql.NullInt64
	err := s.db.R.QueryRowContext(ctx, `SELECT hash, size, type, name, kind, record_id, state, error, created_at, acked_at FROM attachments WHERE hash = ?`, hash).
		Scan(&at.Hash, &at.Size, &at.Type, &at.Name, &kind, &at.RecordID, &at.State, &at.Error, &created, &acked)
	if err != nil {
		return at, err
	}
	at.Kind, at.CreatedAt = records.Kind(kind), time.UnixMilli(created)
	if acked.Valid {
		at.AckedAt = time.UnixMilli(acked.Int64)
	}
	return at, nil
}

// fileRecord finds the kind of record id and checks that it may take a
// file now.
func (s *Store) fileRecord(ctx context.Context, id string) (records.Kind, error) {
	l, err := findFileRecord(ctx, s.db.R, id)
	if err != nil {
		return "", err
	}
	return l.Kind, checkFilesEditable(l)
}

func findFileRecord(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id string) (*Local, error) {
	for _, k := range []records.Kind{records.Visit, records.Application, records.Disclosure} {
		l, err := loadLocal(ctx, q, k, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		return l, err
	}
	return nil, ErrNotFound
}

func checkFilesEditable(l *Local) error {
	if l.Kind != records.Application {
		return nil
	}
	if st := records.TextValue(l.Fields, "status"); !records.StationEditable(st) {
		return &records.FieldError{Field: "documents", Message: "申请已提交（" + records.StatusLabel[st] + "），不能再修改证明材料；请等县里退回后再改"}
	}
	return nil
}

// editFiles changes the file list of record id by edit, as a change by
// by, and runs also in the same transaction. The record, its queued change
// and what also writes commit together or not at all. A list edit leaves
// unchanged queues nothing.
func (s *Store) editFiles(ctx context.Context, id, by string, edit func([]string) []string, also func(tx *sql.Tx, kind records.Kind) error) error {
	if err := s.guardWrite(); err != nil {
		return err
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		l, err := findFileRecord(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := checkFilesEditable(l); err != nil {
			return err
		}
		field := fileFields[l.Kind]
		old := hashList(l.Fields[field])
		next := edit(slices.Clone(old))
		if !slices.Equal(old, next) {
			if next == nil {
				next = []string{}
			}
			raw, _ := json.Marshal(next)
			fields := records.Fields{field: raw}
			if err := records.Validate(l.Kind, fields, false); err != nil {
				return err
			}
			if l.Kind == records.Disclosure {
				after := maps.Clone(l.Fields)
				maps.Copy(after, fields)
				if err := records.CheckPublication(after); err != nil {
					return err
				}
			}
			h, err := s.tick(tx)
			if err != nil {
				return err
			}
			now := s.clock.Physical().UnixMilli()
			l.Fields[field], l.Versions[field] = raw, uint64(h)
			l.UpdatedBy, l.UpdatedAt = by, now
			if err := saveLocal(tx, l); err != nil {
				return err
			}
			// A Station field: no base version (PROTOCOL.md §10.2).
			if err := s.enqueue(tx, l.Kind, id, records.OpUpsert, fields, map[string]uint64{}, l.ServerRev, h, by, now, false); err != nil {
				return err
			}
		}
		return also(tx, l.Kind)
	})
	return s.noteWrite(err)
}

// fileNamed reports whether any record names the file.
func fileNamed(tx *sql.Tx, hash string) (bool, error) {
	// Hashes are hex: nothing in them is special to LIKE. Rare (a file
	// taken off), so a scan is fine.
	var named bool
	err := tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM visits WHERE photos LIKE '%' || ?1 || '%')
		OR EXISTS (SELECT 1 FROM applications WHERE documents LIKE '%' || ?1 || '%')
		OR EXISTS (SELECT 1 FROM disclosures WHERE attachments LIKE '%' || ?1 || '%')`, hash).Scan(&named)
	return named, err
}

// hashList reads a record's file list; anything else reads as none.
func hashList(raw json.RawMessage) []string {
	var list []string
	if len(raw) == 0 || json.Unmarshal(raw, &list) != nil {
		return nil
	}
	return list
}

// fileName is the last part of a path as a browser or a command line gave
// it (a Windows path on any system), at most 200 bytes of valid UTF-8.
func fileName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.ToValidUTF8(strings.TrimSpace(name), "")
	for len(name) > 200 {
		_, n := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-n]
	}
	return name
}
