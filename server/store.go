package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"embed"
	"io/fs"
	"path/filepath"

	"stationsync/internal/hlc"
	"stationsync/internal/pgdb"
	"stationsync/internal/records"
	"stationsync/syncproto"
)

//go:embed migrations/*.sql migrations_postgres/*.sql
var migrationFS embed.FS

// Store is what the county's sync server needs from its database.
// CountyStore implements it on either engine (Database): SQLite, the
// embedded default, or PostgreSQL for several servers.
type Store interface {
	CreateCode(ctx context.Context, village string, ttl time.Duration) (string, error)
	Enroll(ctx context.Context, code string, pub []byte, hostname, agentVersion string) (*Station, error)
	Station(ctx context.Context, id string) (*Station, error)
	Stations(ctx context.Context) ([]Station, error)
	Revoke(ctx context.Context, id string) error
	Push(ctx context.Context, st *Station, b *syncproto.Batch) (*syncproto.PushResult, error)
	Pull(ctx context.Context, st *Station, after int64, feedEpoch string, limit int) (*syncproto.PullPage, error)
	Touch(ctx context.Context, id string, pending int, agentVersion, lastError string, offset time.Duration) error
	Decide(ctx context.Context, d Decision) error
	Records(ctx context.Context, kind records.Kind, village string) ([]syncproto.Record, error)
	Rejected(ctx context.Context, village string) ([]Rejection, error)
	Conflicts(ctx context.Context, village string) ([]syncproto.Conflict, error)
	Close() error
}

// Decision is a county staff member's change of an application's status.
type Decision struct {
	ApplicationID string
	Op            records.Op // accept, review, approve, reject, return
	By            string
	Comment       string
	AmountFen     int64  // approve
	FromMonth     string // approve, "2006-01"
	// Direct lets approve and reject start from 已提交: the write applies
	// 受理 and 进入审核 first, so each step is in the history.
	Direct bool
	// Documents go down with the decision (decision_files.go): their
	// bytes already in the county's blob store (StoreDocuments), their
	// rows in files and their hashes in the application's
	// decision_documents written in the decision's transaction.
	Documents []DecisionDocument
}

// Rejection is a change the merge refused.
type Rejection struct {
	Station  string          `json:"station"`
	Epoch    string          `json:"epoch"`
	Seq      uint64          `json:"seq"`
	Kind     string          `json:"kind"`
	RecordID string          `json:"record_id"`
	Op       string          `json:"op"`
	Fields   json.RawMessage `json:"fields"`
	Code     string          `json:"code"`
	Reason   string          `json:"reason"`
	At       int64           `json:"at"`
}

// Errors with a meaning for callers.
var (
	ErrCodeInvalid   = errors.New("server: enrollment code unknown")
	ErrCodeUsed      = errors.New("server: enrollment code already used")
	ErrCodeExpired   = errors.New("server: enrollment code expired")
	ErrNoStation     = errors.New("server: station unknown")
	ErrNotFound      = errors.New("server: record not found")
	ErrBadVillage    = errors.New("server: village code must be 12 digits of this county")
	ErrNotApplicable = errors.New("server: decision not allowed")
)

// GapError says a batch starts after the next expected sequence number.
type GapError struct{ HWM uint64 }

func (e *GapError) Error() string { return fmt.Sprintf("batch leaves a gap after seq %d", e.HWM) }

// MaxFuture is how far in the county's future a station's HLC may be before
// it is clamped: beyond it the station's clock is wrong, and its changes
// must not win every merge.
const MaxFuture = 2 * time.Minute

// CountyStore is the embedded store.
type CountyStore struct {
	db        *Database
	clock     *hlc.Clock
	feedEpoch string
	// feedSeq is the last feed position given to a record (merger.feedSeq);
	// guarded by mu, stored in every write transaction by persistClocks.
	feedSeq int64
	county  string
	now     func() time.Time
	mu      sync.Mutex // the writer lock: serialises writes so HLC clamping is ordered
	queueMu sync.Mutex // guards queue
	queue   []*pushReq // pushes waiting for the writer, oldest first
	// follow keeps the follow-up lists the pages page through, until a
	// record or the visit policy changes (followup.go).
	follow followCache
	// obs receives the group commits (pushobserve.go); nil: none.
	obs PushObserver
}

var _ Store = (*CountyStore)(nil)

// OpenSQLite opens or creates the county database at path for county (a
// 6-digit code; empty accepts any). The data directory is path's folder.
func OpenSQLite(ctx context.Context, path, county string) (*CountyStore, error) {
	db, err := openSQLiteDB(ctx, path)
	if err != nil {
		return nil, err
	}
	return openStore(ctx, db, county)
}

// OpenPostgres opens the county database at url (postgres://…), creating
// its tables if it has none; dir is the data directory for the county's
// files and keys, shared by every server on the database.
func OpenPostgres(ctx context.Context, url, dir, county string) (*CountyStore, error) {
	db, err := openPostgresDB(ctx, url, dir)
	if err != nil {
		return nil, err
	}
	return openStore(ctx, db, county)
}

// Open opens the county database target names: a postgres:// URL, or
// else county.db in the data directory dir.
func Open(ctx context.Context, target, dir, county string) (*CountyStore, error) {
	if pgdb.IsURL(target) {
		return OpenPostgres(ctx, target, dir, county)
	}
	if target == "" {
		target = filepath.Join(dir, "county.db")
	}
	return OpenSQLite(ctx, target, county)
}

func openStore(ctx context.Context, db *Database, county string) (*CountyStore, error) {
	s := &CountyStore{db: db, county: county, now: time.Now}
	var last string
	err := db.W.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'hlc'`).Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		db.Close()
		return nil, fmt.Errorf("read hlc: %w", err)
	}
	var lastN uint64
	if last != "" {
		// Read as zero, the clock would stamp decisions before changes it
		// already merged.
		if lastN, err = strconv.ParseUint(last, 10, 64); err != nil {
			db.Close()
			return nil, fmt.Errorf("县级数据库中的时钟状态已损坏（meta hlc = %q），服务器不启动，以免决定的顺序颠倒；请联系技术支持: %w", last, err)
		}
	}
	s.clock = hlc.NewClock(time.Now, 0, hlc.Timestamp(lastN))
	// The feed epoch changes when the database is made anew, so a station
	// whose cursor came from an older database starts over rather than
	// resuming blindly.
	err = db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO meta (key, value) VALUES ('feed_epoch', ?) ON CONFLICT DO NOTHING`, randomID(8)); err != nil {
			return err
		}
		return tx.QueryRow(`SELECT value FROM meta WHERE key = 'feed_epoch'`).Scan(&s.feedEpoch)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("feed epoch: %w", err)
	}
	if s.feedSeq, err = loadFeedSeq(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// loadFeedSeq returns the feed counter to go on from: the one stored, or
// a record's position if one is higher. A seq a station may hold as its
// cursor must never be given to another change, or the station would
// never pull that change.
func loadFeedSeq(ctx context.Context, db *Database) (int64, error) {
	args := []string{`coalesce((SELECT CAST(value AS BIGINT) FROM meta WHERE key = 'feed_seq'), 0)`}
	for _, k := range records.Kinds {
		args = append(args, `(SELECT coalesce(max(feed_seq), 0) FROM `+records.SchemaOf(k).Table+`)`)
	}
	var n int64
	if err := db.W.QueryRowContext(ctx, `SELECT `+db.greatest(args...)).Scan(&n); err != nil {
		return 0, fmt.Errorf("read feed counter: %w", err)
	}
	return n, nil
}

// SchemaMigrations names the SQLite county database's migrations, in
// order. A database that has not applied them all is upgraded at its next
// start.
func SchemaMigrations() []string { return migrationNames("migrations") }

// PostgresMigrations names the PostgreSQL county database's migrations.
func PostgresMigrations() []string { return migrationNames("migrations_postgres") }

// Migrations names the migrations this build carries for d's engine.
func (d *Database) Migrations() []string {
	if d.pg != nil {
		return PostgresMigrations()
	}
	return SchemaMigrations()
}

func migrationNames(dir string) []string {
	names, _ := fs.Glob(migrationFS, dir+"/*.sql")
	for i, n := range names {
		names[i] = strings.TrimPrefix(n, dir+"/")
	}
	slices.Sort(names)
	return names
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// DB exposes the database for integrity checks and tests.
func (s *CountyStore) DB() *Database { return s.db }

// DataDir is the folder of the county's files, keys and bundle answers.
func (s *CountyStore) DataDir() string { return s.db.Dir }

// Close closes the database.
func (s *CountyStore) Close() error { return s.db.Close() }

// SetClock replaces the store's clock; tests move it to expire sessions
// and locks.
func (s *CountyStore) SetClock(now func() time.Time) { s.now = now }

// reader returns a read connection for the scans of the county's pages:
// memory-mapped reads and a larger page cache (the pool's connections keep
// both once set), which halve the time of a query that seeks all over a
// million-row index.
func (s *CountyStore) reader(ctx context.Context) (*sql.Conn, error) {
	c, err := s.db.R.Conn(ctx)
	if err != nil || s.db.Postgres() {
		return c, err
	}
	if _, err := c.ExecContext(ctx, `PRAGMA mmap_size = 1073741824`); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := c.ExecContext(ctx, `PRAGMA cache_size = -32768`); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// countyWrite runs fn in one transaction under the writer lock, with a
// merger for the county's own changes, and stores the clocks before
// commit. Every write that merges or moves a record goes through it or
// through pushGroup.
func (s *CountyStore) countyWrite(ctx context.Context, fn func(tx *sql.Tx, m *merger) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.catchUpClocks(tx); err != nil { // clocks.go
			return err
		}
		m := newMerger(s.db, tx, s.now().UnixMilli(), &s.feedSeq)
		defer m.close()
		if err := fn(tx, m); err != nil {
			return err
		}
		return s.persistClocks(tx)
	})
}

// persistClocks stores the HLC and the feed counter, which must never go
// back after a restart: countyWrite and pushGroup call it before commit,
// under the writer lock.
func (s *CountyStore) persistClocks(tx *sql.Tx) error {
	_, err := tx.Exec(`INSERT INTO meta (key, value) VALUES ('hlc', ?), ('feed_seq', ?)
		ON CONFLICT(key) DO UPDATE SET value = CAST(`+s.db.greatest(`CAST(meta.value AS BIGINT)`, `CAST(excluded.value AS BIGINT)`)+` AS TEXT)`,
		strconv.FormatUint(uint64(s.clock.Last()), 10), strconv.FormatInt(s.feedSeq, 10))
	return err
}

func (e *EpochReusedError) Error() string {
	return fmt.Sprintf("change ids reused after seq %d", e.HWM)
}

// Decide applies a county decision to an application.
func (s *CountyStore) Decide(ctx context.Context, d Decision) error {
	if !records.IsCountyOp(d.Op) {
		return fmt.Errorf("%w: %q is not a county decision", ErrNotApplicable, d.Op)
	}
	fields := records.Fields{}
	if d.Comment != "" {
		fields["reviewer_comment"] = records.JSONText(d.Comment)
	}
	if d.Op == records.OpApprove {
		fields["approved_amount_fen"] = json.RawMessage(strconv.FormatInt(d.AmountFen, 10))
		fields["approved_from"] = records.JSONText(d.FromMonth)
	}
	if err := records.Validate(records.Application, fields, false); err != nil {
		return fmt.Errorf("%w: %v", ErrNotApplicable, err)
	}
	return s.countyWrite(ctx, func(tx *sql.Tx, m *merger) error {
		var village, status, docs string
		err := tx.QueryRow(`SELECT village, coalesce(status, ''), coalesce(decision_documents, '') FROM applications WHERE id = ?`, d.ApplicationID).Scan(&village, &status, &docs)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := withDocuments(tx, d, docs, fields, m.now); err != nil {
			return err
		}
		path, err := records.DecisionPath(d.Op, status, d.Direct)
		if err != nil {
			path = []records.Op{d.Op} // the merge refuses it with its reason
		}
		for i, op := range path {
			c := &change{
				origin: CountyOrigin, village: village, kind: records.Application, id: d.ApplicationID, op: op,
				hlc: s.clock.Now(), by: d.By, at: m.now, histID: "county." + randomID(8),
			}
			if i == len(path)-1 {
				c.fields, c.comment = fields, d.Comment
			}
			o, err := m.apply(c)
			if err != nil {
				return err
			}
			if o.status == syncproto.Rejected {
				return fmt.Errorf("%w: %s", ErrNotApplicable, o.reason)
			}
		}
		return nil
	})
}
