package agent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
)

// metaKey names a value of the meta table: the station's identity and its
// sync state. The table holds text; T is what the text stands for, and
// getMeta refuses text that is not one instead of reading it as zero.
type metaKey[T metaType] string

type metaType interface{ string | int64 | uint64 }

// The station's identity, written at enrollment.
const (
	metaStationID    metaKey[string] = "station_id"
	metaServerURL    metaKey[string] = "server_url"
	metaVillage      metaKey[string] = "village" // 12-digit code
	metaCounty       metaKey[string] = "county"  // 6-digit code
	metaCountyName   metaKey[string] = "county_name"
	metaTownshipName metaKey[string] = "township_name"
	metaVillageName  metaKey[string] = "village_name"
	// metaTLSPin is the county CA's full fingerprint, learned at an
	// enrollment whose code carried a pin (pin.go).
	metaTLSPin metaKey[string] = "tls_pin"
)

// The sync state. Read wrong, it would give new changes ids the county
// already holds (which it drops as duplicates), skip or repeat the feed,
// or move the clock back.
const (
	// metaEpoch names this database's change ids; it is made with the
	// database and anew when a restored copy is detected.
	metaEpoch metaKey[string] = "epoch"
	// metaNextSeq is the seq the next change takes in the epoch, from 1.
	metaNextSeq metaKey[uint64] = "next_seq"
	// metaHLC is the last HLC issued or observed.
	metaHLC metaKey[uint64] = "hlc"
	// metaClockOffset is the county's clock minus this PC's, in ms.
	metaClockOffset metaKey[int64] = "clock_offset_ms"
	// metaCursor is the feed position pulled up to.
	metaCursor metaKey[int64] = "cursor"
	// metaFeedEpoch names the county database the cursor belongs to.
	metaFeedEpoch metaKey[string] = "feed_epoch"
)

// What `status` and the pages show of the last rounds; times in unix ms.
const (
	metaLastError     metaKey[string] = "last_error"
	metaLastErrorAt   metaKey[int64]  = "last_error_at"
	metaLastOKAt      metaKey[int64]  = "last_ok_at"
	metaLastAttemptAt metaKey[int64]  = "last_attempt_at"
)

// CorruptStateError says a value of the station's sync state is not what
// it must be. The sync and every save stop on it: read as zero, next_seq
// would give new changes ids the county already holds.
type CorruptStateError struct {
	Key, Value string
	Err        error
}

func (e *CorruptStateError) Error() string {
	return fmt.Sprintf("站点数据库中的同步状态已损坏（%s = %q），同步和保存已停止，以免重复使用编号；请联系县里的信息员（%v）", e.Key, e.Value, e.Err)
}

func (e *CorruptStateError) Unwrap() error { return e.Err }

func isCorrupt(err error) bool {
	var ce *CorruptStateError
	return errors.As(err, &ce)
}

// rowQuerier is a *sql.Tx or a *sql.DB.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// getMeta reads k: the zero value if it is unset or empty, an error if it
// cannot be read or is not a T.
func getMeta[T metaType](ctx context.Context, q rowQuerier, k metaKey[T]) (T, error) {
	var text string
	err := q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, string(k)).Scan(&text)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		var zero T
		return zero, fmt.Errorf("read %s: %w", k, err)
	}
	return parseMeta(k, text)
}

func parseMeta[T metaType](k metaKey[T], text string) (T, error) {
	var v T
	if text == "" {
		return v, nil
	}
	var err error
	switch p := any(&v).(type) {
	case *string:
		*p = text
	case *int64:
		*p, err = strconv.ParseInt(text, 10, 64)
	case *uint64:
		*p, err = strconv.ParseUint(text, 10, 64)
	}
	if err != nil {
		var zero T
		return zero, &CorruptStateError{Key: string(k), Value: text, Err: err}
	}
	return v, nil
}

func formatMeta[T metaType](v T) string {
	switch v := any(v).(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	}
	return any(v).(string)
}

// setMeta writes k inside tx.
func setMeta[T metaType](tx *sql.Tx, k metaKey[T], v T) error {
	return setMetaTx(tx, string(k), formatMeta(v))
}

func setMetaTx(tx *sql.Tx, key, value string) error {
	_, err := tx.Exec(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("set %s: %w", key, err)
	}
	return nil
}

// metaReader reads several values and keeps the first error.
type metaReader struct {
	ctx context.Context
	q   rowQuerier
	err error
}

func read[T metaType](r *metaReader, k metaKey[T]) T {
	v, err := getMeta(r.ctx, r.q, k)
	if err != nil && r.err == nil {
		r.err = err
	}
	return v
}

// checkSyncState reads every value of the sync state, so that a round
// stops before it sends or applies anything when one is corrupt.
func (s *Store) checkSyncState(ctx context.Context) error {
	r := metaReader{ctx: ctx, q: s.db.R}
	read(&r, metaEpoch)
	read(&r, metaNextSeq)
	read(&r, metaHLC)
	read(&r, metaClockOffset)
	read(&r, metaCursor)
	read(&r, metaFeedEpoch)
	return r.err
}

// metaValues collects values for Store.SetMeta, one transaction.
type metaValues map[string]string

// putMeta adds k = v to m.
func putMeta[T metaType](m metaValues, k metaKey[T], v T) metaValues {
	m[string(k)] = formatMeta(v)
	return m
}

// Meta reads a value as text for showing it ("" if unset or unreadable).
// The sync never reads its state through it: it uses the typed keys above,
// whose reads fail rather than give zero.
func (s *Store) Meta(ctx context.Context, key string) string {
	v, _ := getMeta(ctx, s.db.R, metaKey[string](key))
	return v
}

// text reads a text value for a message, a log line or a check for
// presence ("" if unset or unreadable); what the sync acts on is read
// with getMeta.
func (s *Store) text(ctx context.Context, k metaKey[string]) string { return s.Meta(ctx, string(k)) }

// SetMeta writes values of the station's meta table in one transaction.
func (s *Store) SetMeta(ctx context.Context, kv map[string]string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		for k, v := range kv {
			if err := setMetaTx(tx, k, v); err != nil {
				return err
			}
		}
		return nil
	})
}
