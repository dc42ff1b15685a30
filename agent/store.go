package agent

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"strings"
	"time"

	"github.com/google/uuid"

	"stationsync/internal/failpoint"
	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/internal/sqlitedb"
	"stationsync/syncproto"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is the station's SQLite database: records, outbox and sync state.
type Store struct {
	db     *sqlitedb.DB
	clock  *hlc.Clock
	health health // disk full or read-only (health.go)
}

// OpenStore opens or creates the station database. now is the station's
// clock source (tests inject a wrong one).
func OpenStore(ctx context.Context, path string, now func() time.Time) (*Store, error) {
	sub, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	sub = testMigrations(sub) // testhooks_on.go, only in -tags stationsync_test builds
	db, err := sqlitedb.Open(ctx, path, sub)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db}
	var offset int64
	var last uint64
	err = db.Tx(ctx, func(tx *sql.Tx) error {
		// The epoch names this database: made anew if the file is, so that
		// change ids of a recreated database never collide with old ones.
		if _, err := tx.Exec(`INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?), ('next_seq', '1')`, newEpoch()); err != nil {
			return err
		}
		// A value that does not parse leaves the store open, so that its
		// pages and `status` still say what is wrong: the offset is learned
		// again at the next contact, and every save and pull reads the
		// persisted HLC again and stops on it (tick, applyPage).
		var err error
		if offset, err = getMeta(ctx, tx, metaClockOffset); err != nil && !isCorrupt(err) {
			return err
		}
		if last, err = getMeta(ctx, tx, metaHLC); err != nil && !isCorrupt(err) {
			return err
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init station store: %w", err)
	}
	s.clock = hlc.NewClock(now, time.Duration(offset)*time.Millisecond, hlc.Timestamp(last))
	return s, nil
}

func newEpoch() string {
	u := uuid.New()
	return strings.ReplaceAll(u.String(), "-", "")[:16]
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// DB exposes the database for integrity checks and tests.
func (s *Store) DB() *sqlitedb.DB { return s.db }

// Clock is the station's hybrid logical clock.
func (s *Store) Clock() *hlc.Clock { return s.clock }

// tick issues an HLC value inside a write transaction. It first observes
// the persisted value, so another process writing the same database (the
// command line beside the service) never issues an earlier one, then
// persists the new value with the change it stamps.
func (s *Store) tick(tx *sql.Tx) (hlc.Timestamp, error) {
	last, err := getMeta(context.Background(), tx, metaHLC)
	if err != nil {
		return 0, err
	}
	s.clock.Observe(hlc.Timestamp(last))
	h := s.clock.Now()
	return h, setMeta(tx, metaHLC, uint64(h))
}

// ErrNotFound says a record does not exist at the station.
var ErrNotFound = errors.New("agent: record not found")

// ValidationError is a bad field a cadre typed; Message is Chinese.
type ValidationError = records.FieldError

// Local is a record as the station holds it.
type Local struct {
	Kind      records.Kind
	ID        string
	Village   string
	Fields    records.Fields
	Versions  map[string]uint64
	ServerRev int64
	CreatedBy string
	CreatedAt int64
	UpdatedBy string
	UpdatedAt int64
}

// localTail follows a kind's field columns in loadLocal; the one
// parameter is the kind.
const localTail = ", versions, coalesce((SELECT rev FROM server_revs r WHERE r.kind = ? AND r.id = t.id), 0), created_by, created_at, updated_by, updated_at"

func loadLocal(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, kind records.Kind, id string) (*Local, error) {
	sc := records.SchemaOf(kind)
	if sc == nil {
		return nil, &records.FieldError{Message: fmt.Sprintf("未知的记录类型 %q", kind)}
	}
	l := &Local{Kind: kind}
	targets := sc.ScanTargets()
	var versions string
	dest := append([]any{&l.ID, &l.Village}, targets...)
	dest = append(dest, &versions, &l.ServerRev, &l.CreatedBy, &l.CreatedAt, &l.UpdatedBy, &l.UpdatedAt)
	err := q.QueryRowContext(ctx, "SELECT id, village, "+strings.Join(sc.Columns(), ", ")+localTail+" FROM "+sc.Table+" t WHERE id = ?", string(kind), id).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load %s %s: %w", kind, id, err)
	}
	l.Fields = sc.FromScan(targets)
	if err := json.Unmarshal([]byte(versions), &l.Versions); err != nil {
		return nil, fmt.Errorf("load %s %s: %w", kind, id, err)
	}
	return l, nil
}

// Get returns one record.
func (s *Store) Get(ctx context.Context, kind records.Kind, id string) (*Local, error) {
	return loadLocal(ctx, s.db.R, kind, id)
}

func saveLocal(tx *sql.Tx, l *Local) error {
	sc := records.SchemaOf(l.Kind)
	cols := append(append([]string{"id", "village"}, sc.Columns()...), "versions", "created_by", "created_at", "updated_by", "updated_at")
	set := make([]string, 0, len(cols))
	for _, c := range cols[2:] {
		if c != "created_by" && c != "created_at" {
			set = append(set, c+" = excluded."+c)
		}
	}
	vals, err := sc.SQLValues(l.Fields)
	if err != nil {
		return err
	}
	versions, _ := json.Marshal(l.Versions)
	args := append([]any{l.ID, l.Village}, vals...)
	args = append(args, string(versions), l.CreatedBy, l.CreatedAt, l.UpdatedBy, l.UpdatedAt)
	_, err = tx.Exec("INSERT INTO "+sc.Table+" ("+strings.Join(cols, ", ")+") VALUES ("+sqlitedb.Placeholders(len(cols))+
		") ON CONFLICT(id) DO UPDATE SET "+strings.Join(set, ", "), args...)
	if err != nil {
		return fmt.Errorf("save %s %s: %w", l.Kind, l.ID, err)
	}
	return nil
}

// saveServerRev records the county's revision of a record (server_revs):
// a pulled record, whose state is now the county's. A local save never
// changes it; an acknowledgement writes a batch's at once (ack).
func saveServerRev(tx *sql.Tx, kind records.Kind, id string, rev int64) error {
	if _, err := tx.Exec(`INSERT INTO server_revs (kind, id, rev) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET rev = excluded.rev`, string(kind), id, rev); err != nil {
		return fmt.Errorf("save %s %s revision: %w", kind, id, err)
	}
	return nil
}

// Save creates (id "") or edits a record at the station and queues the
// change, in one transaction that is on disk when Save returns. It returns
// the record id.
func (s *Store) Save(ctx context.Context, kind records.Kind, id string, fields records.Fields, by string) (string, error) {
	sc := records.SchemaOf(kind)
	if sc == nil {
		return "", &records.FieldError{Message: fmt.Sprintf("未知的记录类型 %q", kind)}
	}
	for name := range fields {
		if f, ok := sc.Field(name); ok && f.Owner == records.County {
			return "", &records.FieldError{Field: name, Message: "「" + f.Label + "」由县里决定，村站不能修改"}
		}
	}
	create := id == ""
	if err := records.Validate(kind, fields, create); err != nil {
		return "", err
	}
	if err := records.CheckEntry(kind, fields, create); err != nil {
		return "", err
	}
	// The caller's map stays as given: a new application's status is added
	// to a copy.
	fields = maps.Clone(fields)
	if fields == nil {
		fields = records.Fields{}
	}
	if err := s.guardWrite(); err != nil {
		return "", err
	}
	if create {
		id = uuid.Must(uuid.NewV7()).String()
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		l, err := loadLocal(ctx, tx, kind, id)
		if errors.Is(err, ErrNotFound) {
			if !create {
				return ErrNotFound
			}
			village, err := getMeta(ctx, tx, metaVillage)
			if err != nil {
				return err
			}
			l = &Local{Kind: kind, ID: id, Village: village, Fields: records.Fields{}, Versions: map[string]uint64{}, CreatedBy: by}
		} else if err != nil {
			return err
		}
		if kind == records.Application {
			st := records.TextValue(l.Fields, "status")
			if !records.StationEditable(st) {
				return &records.FieldError{Field: "status", Message: "申请已提交（" + records.StatusLabel[st] + "），不能再修改；请等县里退回后再改"}
			}
			if create {
				fields["status"] = records.JSONText(records.StatusDraft)
			}
		}
		if ref, refKind := records.Reference(kind); ref != "" {
			if _, ok := fields[ref]; ok {
				if _, err := loadLocal(ctx, tx, refKind, records.TextValue(fields, ref)); err != nil {
					return &records.FieldError{Field: ref, Message: "找不到关联的关爱对象，请先登记该对象"}
				}
			}
		}
		if kind == records.Disclosure {
			// On the notice as it will be: publishing changes only the
			// status, editing a published notice only its text.
			next := maps.Clone(l.Fields)
			maps.Copy(next, fields)
			if err := records.CheckPublication(next); err != nil {
				return err
			}
		}
		h, err := s.tick(tx)
		if err != nil {
			return err
		}
		base := map[string]uint64{}
		changed := records.Fields{}
		for name, v := range fields {
			if name == "status" && kind == records.Application {
				// Set locally as the county will on create; never sent.
				l.Fields[name], l.Versions[name] = v, uint64(h)
				continue
			}
			if f, _ := sc.Field(name); f.Owner == records.Both {
				if ver, ok := l.Versions[name]; ok {
					base[name] = ver
				}
			}
			l.Fields[name], l.Versions[name] = v, uint64(h)
			changed[name] = v
		}
		now := s.clock.Physical().UnixMilli()
		if create {
			l.CreatedAt = now
		}
		l.UpdatedBy, l.UpdatedAt = by, now
		if err := saveLocal(tx, l); err != nil {
			return err
		}
		urgent := kind == records.Visit && records.TextValue(fields, "risk") == "紧急"
		return s.enqueue(tx, kind, id, records.OpUpsert, changed, base, l.ServerRev, h, by, now, urgent)
	})
	if err != nil {
		return "", s.noteWrite(err)
	}
	failpoint.Inject(failpoint.AgentAfterLocalCommit)
	return id, nil
}

// Intent asks the county for an application transition (submit, resubmit,
// withdraw). The station applies it locally at once, as the county will;
// if the county refuses, the refusal and the county's state come back.
func (s *Store) Intent(ctx context.Context, appID string, op records.Op, comment, by string) error {
	if !records.IsIntent(op) || records.IsCountyOp(op) {
		return &records.FieldError{Field: "status", Message: "村站只能提交、重新提交或撤回申请"}
	}
	if err := s.guardWrite(); err != nil {
		return err
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		l, err := loadLocal(ctx, tx, records.Application, appID)
		if err != nil {
			return err
		}
		from := records.TextValue(l.Fields, "status")
		to, err := records.Transition(op, from)
		if err != nil {
			return err
		}
		h, err := s.tick(tx)
		if err != nil {
			return err
		}
		now := s.clock.Physical().UnixMilli()
		seq, epoch, err := nextID(tx)
		if err != nil {
			return err
		}
		station, err := getMeta(ctx, tx, metaStationID)
		if err != nil {
			return err
		}
		l.Fields["status"], l.Versions["status"] = records.JSONText(to), uint64(h)
		l.UpdatedBy, l.UpdatedAt = by, now
		if err := saveLocal(tx, l); err != nil {
			return err
		}
		// The same id the county will give this history entry, so that the
		// two sides hold one entry, not two. Before enrollment the station id
		// is unknown; the county's copy replaces this one on the next pull.
		if _, err := tx.Exec(`INSERT INTO application_history (id, application_id, from_status, to_status, op, by_name, origin, hlc, at, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			syncproto.HistoryID(station, epoch, seq), appID, from, to, string(op), by, station, int64(h), now, comment); err != nil {
			return fmt.Errorf("history: %w", err)
		}
		var fields records.Fields
		if comment != "" {
			fields = records.Fields{"comment": records.JSONText(comment)}
		}
		return s.enqueue(tx, records.Application, appID, op, fields, nil, l.ServerRev, h, by, now, false)
	})
	if err != nil {
		return s.noteWrite(err)
	}
	failpoint.Inject(failpoint.AgentAfterLocalCommit)
	return nil
}

// List returns every record of a kind, ordered by id.
func (s *Store) List(ctx context.Context, kind records.Kind) ([]Local, error) {
	sc := records.SchemaOf(kind)
	if sc == nil {
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
	ids, err := sqlitedb.Column[string](ctx, s.db.R, "SELECT id FROM "+sc.Table+" ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", kind, err)
	}
	out := make([]Local, 0, len(ids))
	for _, id := range ids {
		l, err := s.Get(ctx, kind, id)
		if err != nil {
			return nil, err
		}
		out = append(out, *l)
	}
	return out, nil
}

// Rejection is a change the county refused.
type Rejection struct {
	Kind, RecordID, Op, Code, Reason string
	Seq                              uint64
	Fields                           json.RawMessage
	At                               int64
}

// Rejected lists the refused changes not yet dismissed.
func (s *Store) Rejected(ctx context.Context) ([]Rejection, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT kind, record_id, op, code, reason, seq, fields, at FROM rejected WHERE dismissed_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("rejected: %w", err)
	}
	defer rows.Close()
	var out []Rejection
	for rows.Next() {
		var r Rejection
		var f string
		if err := rows.Scan(&r.Kind, &r.RecordID, &r.Op, &r.Code, &r.Reason, &r.Seq, &f, &r.At); err != nil {
			return nil, err
		}
		r.Fields = json.RawMessage(f)
		out = append(out, r)
	}
	return out, rows.Err()
}

// History returns an application's status history.
func (s *Store) History(ctx context.Context, appID string) ([]syncproto.HistoryEntry, error) {
	return records.ApplicationHistory(ctx, s.db.R, appID)
}

// ConflictCount counts the conflicts recorded on this village's records.
func (s *Store) ConflictCount(ctx context.Context) (int, error) {
	var n int
	err := s.db.R.QueryRowContext(ctx, `SELECT count(*) FROM conflicts`).Scan(&n)
	return n, err
}
