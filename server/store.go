package server

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/internal/sqlitedb"
	"stationsync/syncproto"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is what the county server needs from its database. SQLiteStore is
// the embedded default; a PostgreSQL store implements the same interface.
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

// Station is an enrolled station.
type Station struct {
	ID            string     `json:"id"`
	Village       string     `json:"village"`
	PublicKey     []byte     `json:"-"`
	Hostname      string     `json:"hostname"`
	AgentVersion  string     `json:"agent_version"`
	EnrolledAt    time.Time  `json:"enrolled_at"`
	RevokedAt     *time.Time `json:"revoked_at,omitempty"`
	LastContactAt *time.Time `json:"last_contact_at,omitempty"`
	LastPushAt    *time.Time `json:"last_push_at,omitempty"`
	Pending       int        `json:"pending"`
	ClockOffsetMs int64      `json:"clock_offset_ms"`
	ClockAhead    bool       `json:"clock_ahead"`
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
	ErrCodeInvalid   = errors.New("enrolment code unknown")
	ErrCodeUsed      = errors.New("enrolment code already used")
	ErrCodeExpired   = errors.New("enrolment code expired")
	ErrNoStation     = errors.New("station unknown")
	ErrNotFound      = errors.New("record not found")
	ErrBadVillage    = errors.New("village code must be 12 digits of this county")
	ErrNotApplicable = errors.New("decision not allowed")
)

// GapError says a batch starts after the next expected sequence number.
type GapError struct{ HWM uint64 }

func (e *GapError) Error() string { return fmt.Sprintf("batch leaves a gap after seq %d", e.HWM) }

// MaxFuture is how far in the county's future a station's HLC may be before
// it is clamped: beyond it the station's clock is wrong, and its changes
// must not win every merge.
const MaxFuture = 2 * time.Minute

// SQLiteStore is the embedded store.
type SQLiteStore struct {
	db        *sqlitedb.DB
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
}

var _ Store = (*SQLiteStore)(nil)

// OpenSQLite opens or creates the county database at path for county (a
// 6-digit code; empty accepts any).
func OpenSQLite(ctx context.Context, path, county string) (*SQLiteStore, error) {
	db, err := sqlitedb.Open(ctx, path, mustSub(migrationFS, "migrations"))
	if err != nil {
		return nil, err
	}
	if err := db.BackgroundCheckpoints(); err != nil {
		db.Close()
		return nil, err
	}
	s := &SQLiteStore{db: db, county: county, now: time.Now}
	var last string
	err = db.W.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'hlc'`).Scan(&last)
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
		if _, err := tx.Exec(`INSERT OR IGNORE INTO meta (key, value) VALUES ('feed_epoch', ?)`, randomID(8)); err != nil {
			return err
		}
		return tx.QueryRow(`SELECT value FROM meta WHERE key = 'feed_epoch'`).Scan(&s.feedEpoch)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("feed epoch: %w", err)
	}
	if s.feedSeq, err = loadFeedSeq(ctx, db.W); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// loadFeedSeq returns the feed counter to go on from: the one stored, or
// a record's position if one is higher. A seq a station may hold as its
// cursor must never be given to another change, or the station would
// never pull that change.
func loadFeedSeq(ctx context.Context, db *sql.DB) (int64, error) {
	q := `SELECT max(coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'feed_seq'), 0)`
	for _, k := range records.Kinds {
		q += `, (SELECT coalesce(max(feed_seq), 0) FROM ` + records.SchemaOf(k).Table + `)`
	}
	var n int64
	if err := db.QueryRowContext(ctx, q+`)`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read feed counter: %w", err)
	}
	return n, nil
}

// SchemaMigrations names the county database's migrations, in order. A
// database that has not applied them all is upgraded at its next start.
func SchemaMigrations() []string {
	names, _ := fs.Glob(migrationFS, "migrations/*.sql")
	for i, n := range names {
		names[i] = strings.TrimPrefix(n, "migrations/")
	}
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
func (s *SQLiteStore) DB() *sqlitedb.DB { return s.db }

// Close closes the database.
func (s *SQLiteStore) Close() error { return s.db.Close() }

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func hashCode(code string) string {
	h := sha256.Sum256([]byte(normalizeCode(code)))
	return hex.EncodeToString(h[:])
}

func normalizeCode(code string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(code)))
}

// codeAlphabet leaves out 0/O and 1/I/L, which cadres misread on paper.
const codeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// ValidVillage reports whether v is a 12-digit village code of county.
func ValidVillage(v, county string) bool {
	if len(v) != 12 || strings.Trim(v, "0123456789") != "" {
		return false
	}
	return county == "" || strings.HasPrefix(v, county)
}

// CreateCode makes a one-time enrolment code for a village.
func (s *SQLiteStore) CreateCode(ctx context.Context, village string, ttl time.Duration) (string, error) {
	if !ValidVillage(village, s.county) {
		return "", ErrBadVillage
	}
	b := make([]byte, 10)
	rand.Read(b)
	var sb strings.Builder
	for i, x := range b {
		if i == 5 {
			sb.WriteByte('-')
		}
		sb.WriteByte(codeAlphabet[int(x)%len(codeAlphabet)])
	}
	code := sb.String()
	now := s.now()
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO enrol_codes (code_hash, village, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			hashCode(code), village, now.UnixMilli(), now.Add(ttl).UnixMilli())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("create code: %w", err)
	}
	return code, nil
}

// Enroll exchanges a code for a station identity, once.
func (s *SQLiteStore) Enroll(ctx context.Context, code string, pub []byte, hostname, agentVersion string) (*Station, error) {
	var st *Station
	now := s.now()
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var village string
		var expires int64
		var used sql.NullInt64
		var usedBy sql.NullString
		err := tx.QueryRow(`SELECT village, expires_at, used_at, used_by FROM enrol_codes WHERE code_hash = ?`, hashCode(code)).Scan(&village, &expires, &used, &usedBy)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return ErrCodeInvalid
		case err != nil:
			return err
		case used.Valid:
			// The same station asking again (its first answer was lost on
			// the way back) gets the identity it already has.
			prev, err := scanStation(tx.QueryRow(`SELECT `+stationCols+` FROM stations WHERE id = ?`, usedBy.String))
			if err == nil && bytes.Equal(prev.PublicKey, pub) && prev.RevokedAt == nil {
				st = prev
				return nil
			}
			return ErrCodeUsed
		case now.UnixMilli() > expires:
			return ErrCodeExpired
		}
		st = &Station{ID: "st_" + randomID(8), Village: village, PublicKey: pub, Hostname: hostname, AgentVersion: agentVersion, EnrolledAt: now}
		if _, err := tx.Exec(`UPDATE enrol_codes SET used_at = ?, used_by = ? WHERE code_hash = ?`, now.UnixMilli(), st.ID, hashCode(code)); err != nil {
			return err
		}
		_, err = tx.Exec(`INSERT INTO stations (id, village, public_key, hostname, agent_version, enrolled_at, last_contact_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			st.ID, village, pub, hostname, agentVersion, now.UnixMilli(), now.UnixMilli())
		return err
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

const stationCols = `id, village, public_key, hostname, agent_version, enrolled_at, revoked_at, last_contact_at, last_push_at, pending, clock_offset_ms, clock_ahead`

func scanStation(sc interface{ Scan(...any) error }) (*Station, error) {
	var st Station
	var enrolled int64
	var revoked, contact, push sql.NullInt64
	if err := sc.Scan(&st.ID, &st.Village, &st.PublicKey, &st.Hostname, &st.AgentVersion, &enrolled, &revoked, &contact, &push, &st.Pending, &st.ClockOffsetMs, &st.ClockAhead); err != nil {
		return nil, err
	}
	st.EnrolledAt = time.UnixMilli(enrolled)
	st.RevokedAt, st.LastContactAt, st.LastPushAt = msPtr(revoked), msPtr(contact), msPtr(push)
	return &st, nil
}

func msPtr(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := time.UnixMilli(n.Int64)
	return &t
}

// Station returns one station, revoked or not.
func (s *SQLiteStore) Station(ctx context.Context, id string) (*Station, error) {
	st, err := scanStation(s.db.R.QueryRowContext(ctx, `SELECT `+stationCols+` FROM stations WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoStation
	}
	if err != nil {
		return nil, fmt.Errorf("station %s: %w", id, err)
	}
	return st, nil
}

// Stations lists every station.
func (s *SQLiteStore) Stations(ctx context.Context) ([]Station, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT `+stationCols+` FROM stations ORDER BY village, enrolled_at`)
	if err != nil {
		return nil, fmt.Errorf("list stations: %w", err)
	}
	defer rows.Close()
	var out []Station
	for rows.Next() {
		st, err := scanStation(rows)
		if err != nil {
			return nil, fmt.Errorf("list stations: %w", err)
		}
		out = append(out, *st)
	}
	return out, rows.Err()
}

// Revoke refuses every later request of a station.
func (s *SQLiteStore) Revoke(ctx context.Context, id string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE stations SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, s.now().UnixMilli(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNoStation
		}
		return nil
	})
}

// Touch records that a station was heard from.
// lastError is the station's own last sync failure ("" if it had none).
func (s *SQLiteStore) Touch(ctx context.Context, id string, pending int, agentVersion, lastError string, offset time.Duration) error {
	now := s.now().UnixMilli()
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE stations SET last_contact_at = ?, pending = ?, agent_version = coalesce(nullif(?, ''), agent_version), clock_offset_ms = ?,
			last_error = ?, last_error_at = CASE WHEN ? = '' THEN last_error_at ELSE ? END WHERE id = ?`,
			now, pending, agentVersion, offset.Milliseconds(), lastError, lastError, now, id)
		return err
	})
}

// countyWrite runs fn in one transaction under the writer lock, with a
// merger for the county's own changes, and stores the clocks before
// commit. Every write that merges or moves a record goes through it or
// through pushGroup.
func (s *SQLiteStore) countyWrite(ctx context.Context, fn func(tx *sql.Tx, m *merger) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		m := newMerger(tx, s.now().UnixMilli(), &s.feedSeq)
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
func (s *SQLiteStore) persistClocks(tx *sql.Tx) error {
	_, err := tx.Exec(`INSERT INTO meta (key, value) VALUES ('hlc', ?), ('feed_seq', ?)
		ON CONFLICT(key) DO UPDATE SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))`,
		strconv.FormatUint(uint64(s.clock.Last()), 10), strconv.FormatInt(s.feedSeq, 10))
	return err
}

// Push applies a batch. Changes at or below the epoch's high-water mark
// are duplicates and change nothing; a batch that starts beyond the next
// expected seq is refused whole (GapError) so that a station's changes
// apply strictly in order.
//
// Pushes that arrive while another is being written are written together,
// in arrival order, in one transaction (group commit): a commit writes
// every index page its changes touched, and the visits' indexes take
// entries at random places, so one commit for several stations' batches
// writes fewer pages per record than one commit each. The outcome is that
// of applying the batches one after another.
func (s *SQLiteStore) Push(ctx context.Context, st *Station, b *syncproto.Batch) (*syncproto.PushResult, error) {
	req := &pushReq{ctx: ctx, st: st, b: b}
	s.queueMu.Lock()
	s.queue = append(s.queue, req)
	s.queueMu.Unlock()

	// Whoever holds the writer lock writes what is queued; a push may find
	// its batch written by an earlier holder.
	s.mu.Lock()
	defer s.mu.Unlock()
	for !req.done {
		s.pushGroup(s.takeGroup())
	}
	return req.res, req.err
}

// pushReq is a batch waiting for the writer. res, err and done are set
// under s.mu.
type pushReq struct {
	ctx  context.Context
	st   *Station
	b    *syncproto.Batch
	res  *syncproto.PushResult
	err  error
	done bool
}

// maxGroup bounds the changes written in one group commit: past a few
// thousand the pages a commit writes per record hardly fall, while the
// wait of the first station in the group grows.
const maxGroup = 16_384

// takeGroup takes the oldest queued pushes, up to maxGroup changes (at
// least one push).
func (s *SQLiteStore) takeGroup() []*pushReq {
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	n, changes := 0, 0
	for n < len(s.queue) && (n == 0 || changes+len(s.queue[n].b.Changes) <= maxGroup) {
		changes += len(s.queue[n].b.Changes)
		n++
	}
	group := slices.Clone(s.queue[:n])
	s.queue = slices.Delete(s.queue, 0, n)
	return group
}

// pushGroup writes group in one transaction and answers each push. A push
// refused whole (a gap, reused change ids) writes nothing and does not
// affect the others; a failure of the store aborts the transaction, and
// then each push is tried alone so that one bad batch fails only itself.
// It must run under s.mu.
func (s *SQLiteStore) pushGroup(group []*pushReq) {
	defer func() {
		// A panic (a bug) goes on to the push handler that holds the writer
		// lock, which answers 500; the other pushes of the group must not
		// wait for an answer that never comes.
		if p := recover(); p != nil {
			for _, r := range group {
				if !r.done {
					r.res, r.err, r.done = nil, fmt.Errorf("push failed: %v", p), true
				}
			}
			panic(p)
		}
	}()
	live := group[:0:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			// The station gave up waiting; it will send the batch again.
			r.err, r.done = err, true
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	now := s.now()
	err := s.db.Tx(context.WithoutCancel(live[0].ctx), func(tx *sql.Tx) error {
		for _, r := range live {
			r.res, r.err = s.pushOne(tx, now, r.st, r.b)
			if r.err != nil && !refusedWhole(r.err) {
				return r.err
			}
		}
		return s.persistClocks(tx)
	})
	if err != nil && len(live) > 1 {
		for _, r := range live {
			s.pushGroup([]*pushReq{r})
		}
		return
	}
	for _, r := range live {
		if err != nil {
			r.err = err
		}
		if r.err == nil {
			r.res.ServerTime = now.UnixMilli()
			r.res.ServerHLC = uint64(s.clock.Now())
		} else {
			r.res = nil
		}
		r.done = true
	}
}

// refusedWhole reports whether err is an answer to the station that
// refuses its batch before anything of it was written.
func refusedWhole(err error) bool {
	var gap *GapError
	var reused *EpochReusedError
	return errors.As(err, &gap) || errors.As(err, &reused)
}

// pushOne applies one batch in tx. It returns a GapError or an
// EpochReusedError before writing anything; any other error is a failure
// of the store.
func (s *SQLiteStore) pushOne(tx *sql.Tx, now time.Time, st *Station, b *syncproto.Batch) (*syncproto.PushResult, error) {
	res := &syncproto.PushResult{Version: syncproto.Version, Epoch: b.Epoch, Results: make([]syncproto.ChangeResult, 0, len(b.Changes))}
	var hwm uint64
	var epochID int64
	err := tx.QueryRow(`SELECT id, hwm FROM station_epochs WHERE station = ? AND epoch = ?`, st.ID, b.Epoch).Scan(&epochID, &hwm)
	known := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read hwm: %w", err)
	}
	if b.Changes[0].Seq > hwm+1 {
		return nil, &GapError{HWM: hwm}
	}
	if known {
		if err := checkDuplicates(tx, epochID, hwm, b.Changes); err != nil {
			return nil, err
		}
	} else if err := tx.QueryRow(`INSERT INTO station_epochs (station, epoch, hwm) VALUES (?, ?, 0) RETURNING id`, st.ID, b.Epoch).Scan(&epochID); err != nil {
		return nil, fmt.Errorf("add epoch: %w", err)
	}
	addID, err := tx.Prepare(`INSERT INTO change_ids (epoch_id, seq, hlc) VALUES (?, ?, ?)`)
	if err != nil {
		return nil, err
	}
	defer addID.Close()
	m := newMerger(tx, now.UnixMilli(), &s.feedSeq)
	defer m.close()
	if i, _ := slices.BinarySearchFunc(b.Changes, hwm+1, func(c syncproto.Change, seq uint64) int { return cmp.Compare(c.Seq, seq) }); i < len(b.Changes) {
		if err := m.prefetch(b.Changes[i:]); err != nil {
			return nil, err
		}
		m.prepareAhead(b.Changes[i:])
	}
	limit := hlc.FromTime(now.Add(MaxFuture))
	for i := range b.Changes {
		c := &b.Changes[i]
		if c.Seq <= hwm {
			r, err := duplicateResult(tx, st.ID, b.Epoch, c.Seq)
			if err != nil {
				return nil, err
			}
			res.Results = append(res.Results, r)
			continue
		}
		mc := fromWire(st, b.Epoch, c)
		mc.pre = m.prepared(c)
		if mc.hlc > limit {
			mc.hlc, mc.clamped = s.clock.Now(), true
			res.ClockAhead = true
		} else {
			s.clock.Observe(mc.hlc)
		}
		o, err := m.apply(mc)
		if err != nil {
			return nil, err
		}
		if o.status == syncproto.Rejected {
			if err := m.saveRejected(st, b.Epoch, c, o); err != nil {
				return nil, err
			}
		}
		res.Results = append(res.Results, syncproto.ChangeResult{Seq: c.Seq, Status: o.status, Code: o.code, Reason: o.reason, Rev: o.rev, Clean: o.clean})
		if _, err := addID.Exec(epochID, c.Seq, int64(c.HLC)); err != nil {
			return nil, fmt.Errorf("record change id: %w", err)
		}
		hwm = c.Seq
	}
	if _, err := tx.Exec(`UPDATE station_epochs SET hwm = ? WHERE id = ?`, hwm, epochID); err != nil {
		return nil, fmt.Errorf("save hwm: %w", err)
	}
	offset := hlc.Timestamp(b.SentHLC).Time().Sub(now)
	if _, err := tx.Exec(`UPDATE stations SET last_contact_at = ?, last_push_at = ?, pending = ?, agent_version = coalesce(nullif(?, ''), agent_version), clock_ahead = ?, clock_offset_ms = ? WHERE id = ?`,
		now.UnixMilli(), now.UnixMilli(), b.Pending, b.AgentVersion, res.ClockAhead, offset.Milliseconds(), st.ID); err != nil {
		return nil, fmt.Errorf("update station: %w", err)
	}
	res.HWM = hwm
	return res, nil
}

// EpochReusedError says the batch holds, under a seq the county already
// applied, a different change: the station's database was restored from an
// older copy. The two sides agree up to HWM.
type EpochReusedError struct{ HWM uint64 }

func (e *EpochReusedError) Error() string {
	return fmt.Sprintf("change ids reused after seq %d", e.HWM)
}

// checkDuplicates verifies that the changes at or below hwm are the ones
// the county applied under those seqs.
func checkDuplicates(tx *sql.Tx, epochID int64, hwm uint64, changes []syncproto.Change) error {
	if changes[0].Seq > hwm {
		return nil
	}
	last := min(hwm, changes[len(changes)-1].Seq)
	rows, err := tx.Query(`SELECT seq, hlc FROM change_ids WHERE epoch_id = ? AND seq BETWEEN ? AND ? ORDER BY seq`, epochID, changes[0].Seq, last)
	if err != nil {
		return fmt.Errorf("read change ids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq uint64
		var h int64
		if err := rows.Scan(&seq, &h); err != nil {
			return fmt.Errorf("read change ids: %w", err)
		}
		if c := changes[seq-changes[0].Seq]; uint64(h) != c.HLC {
			return &EpochReusedError{HWM: seq - 1}
		}
	}
	return rows.Err()
}

func duplicateResult(tx *sql.Tx, station, epoch string, seq uint64) (syncproto.ChangeResult, error) {
	r := syncproto.ChangeResult{Seq: seq, Status: syncproto.Duplicate}
	err := tx.QueryRow(`SELECT code, reason FROM rejected_changes WHERE station = ? AND epoch = ? AND seq = ?`, station, epoch, seq).Scan(&r.Code, &r.Reason)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return r, nil
	case err != nil:
		return r, fmt.Errorf("read rejection: %w", err)
	}
	r.Status = syncproto.Rejected
	return r, nil
}

func (m *merger) saveRejected(st *Station, epoch string, c *syncproto.Change, o outcome) error {
	fields, _ := json.Marshal(c.Fields)
	_, err := m.tx.Exec(`INSERT INTO rejected_changes (station, epoch, seq, village, kind, record_id, op, fields, code, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		st.ID, epoch, c.Seq, st.Village, c.Kind, c.ID, c.Op, string(fields), o.code, o.reason, m.now)
	if err != nil {
		return fmt.Errorf("save rejection: %w", err)
	}
	// The station applied the change locally; send it the county's state of
	// the record so that it converges, with the rejection beside it.
	if o.code != syncproto.CodeWrongVillage {
		if s := records.SchemaOf(records.Kind(c.Kind)); s != nil {
			ok, err := m.exists(records.Kind(c.Kind), c.ID, st.Village)
			if err != nil {
				return err
			}
			if ok {
				return m.touchFeed(records.Kind(c.Kind), c.ID)
			}
		}
	}
	return nil
}

func fromWire(st *Station, epoch string, c *syncproto.Change) *change {
	mc := &change{
		origin: st.ID, village: st.Village, kind: records.Kind(c.Kind), id: c.ID, op: records.Op(c.Op),
		fields: records.Fields(c.Fields), base: c.Base, rev: c.Rev, hlc: hlc.Timestamp(c.HLC), by: c.By, at: c.At,
	}
	if mc.fields == nil {
		mc.fields = records.Fields{}
	}
	if records.IsIntent(mc.op) {
		// Only intents make history entries; formatting the id for every
		// change of a batch of visits showed in its profile.
		mc.histID = syncproto.HistoryID(st.ID, epoch, c.Seq)
		mc.comment = records.TextValue(mc.fields, "comment")
		mc.fields = nil
	}
	return mc
}

// Decide applies a county decision to an application.
func (s *SQLiteStore) Decide(ctx context.Context, d Decision) error {
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
		var village, status string
		err := tx.QueryRow(`SELECT village, status FROM applications WHERE id = ?`, d.ApplicationID).Scan(&village, &status)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
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
