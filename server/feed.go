package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"stationsync/internal/records"
	"stationsync/syncproto"
)

// MaxPullPage caps the records of one pull page.
const MaxPullPage = 2000

// Pull returns the next page of the station's village feed. Rows whose
// state the station already holds (its own clean changes) are skipped.
func (s *CountyStore) Pull(ctx context.Context, st *Station, after int64, feedEpoch string, limit int) (*syncproto.PullPage, error) {
	if limit <= 0 || limit > MaxPullPage {
		limit = MaxPullPage
	}
	page := &syncproto.PullPage{Version: syncproto.Version, FeedEpoch: s.feedEpoch, Records: []syncproto.Record{}}
	// One read transaction: the page and the cursor come from one snapshot.
	tx, err := s.db.ReadTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	defer tx.Rollback()
	var top int64
	if err := tx.QueryRowContext(ctx, feedTopSQL).Scan(&top); err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	// A cursor from another database, or beyond this feed's end (the
	// database was restored from an older copy): start over rather than
	// miss what the feed gives the numbers the station already passed.
	if feedEpoch != s.feedEpoch || after > top {
		page.Reset, after = true, 0
	}
	if _, err := s.readFeedPage(ctx, tx, st, after, limit, page); err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	page.ServerHLC = uint64(s.clock.Now())
	page.ServerTime = s.now().UnixMilli()
	return page, nil
}

// readFeedPage fills page (Records, Next, More) with up to limit records of
// the station's village feed after the cursor, as of tx's snapshot, and
// returns each record's feed position. Pull and the USB answer
// (bundleFeed) read the feed through it.
func (s *CountyStore) readFeedPage(ctx context.Context, tx *sql.Tx, st *Station, after int64, limit int, page *syncproto.PullPage) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, feedPageSQL, st.Village, after, st.ID, limit)
	if err != nil {
		return nil, err
	}
	type ref struct {
		seq      int64
		kind, id string
	}
	var refs []ref
	for rows.Next() {
		var r ref
		if err := rows.Scan(&r.seq, &r.kind, &r.id); err != nil {
			rows.Close()
			return nil, err
		}
		refs = append(refs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	page.Next = after
	if len(refs) == limit {
		page.More = true
		page.Next = refs[len(refs)-1].seq
	} else {
		// Everything left was skipped: move the cursor past it so the next
		// pull does not scan it again.
		var maxSeq sql.NullInt64
		if err := tx.QueryRowContext(ctx, feedEndSQL(s.db), st.Village).Scan(&maxSeq); err != nil {
			return nil, err
		}
		if maxSeq.Valid && maxSeq.Int64 > after {
			page.Next = maxSeq.Int64
		}
	}
	seqs := make([]int64, 0, len(refs))
	for _, r := range refs {
		rec, err := loadRecord(ctx, tx, records.Kind(r.kind), r.id)
		if err != nil {
			return nil, err
		}
		page.Records = append(page.Records, *rec)
		seqs = append(seqs, r.seq)
	}
	return seqs, nil
}

// The feed is the record tables' (village, feed_seq) indexes, read as
// one: a page merges the four kinds' runs after the cursor in seq order.
var (
	feedTopSQL  = `SELECT coalesce((SELECT CAST(value AS BIGINT) FROM meta WHERE key = 'feed_seq'), 0)`
	feedPageSQL = func() string {
		var arms []string
		for _, k := range records.Kinds {
			arms = append(arms, `SELECT feed_seq, '`+string(k)+`', id FROM `+records.SchemaOf(k).Table+
				` WHERE village = ?1 AND feed_seq > ?2 AND feed_skip != ?3`)
		}
		return strings.Join(arms, " UNION ALL ") + ` ORDER BY 1 LIMIT ?4`
	}()
)

// feedEndSQL is the last feed position of a village's records.
func feedEndSQL(d *Database) string {
	var arms []string
	for _, k := range records.Kinds {
		// SQLite's max() of several arguments is NULL if any is.
		arms = append(arms, `(SELECT coalesce(max(feed_seq), 0) FROM `+records.SchemaOf(k).Table+` WHERE village = ?1)`)
	}
	return `SELECT ` + d.greatest(arms...)
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func loadRecord(ctx context.Context, q querier, kind records.Kind, id string) (*syncproto.Record, error) {
	recs, err := queryRecords(ctx, q, kind, "id = ?", id)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("load %s %s: %w", kind, id, ErrNotFound)
	}
	return &recs[0], nil
}

func queryRecords(ctx context.Context, q querier, kind records.Kind, where string, args ...any) ([]syncproto.Record, error) {
	s := records.SchemaOf(kind)
	if s == nil {
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
	rows, err := q.QueryContext(ctx, "SELECT id, village, "+strings.Join(s.Columns(), ", ")+
		", versions, base_hlc, rev, created_by, created_at, updated_by, updated_at FROM "+s.Table+" WHERE "+where+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", s.Table, err)
	}
	var out []syncproto.Record
	for rows.Next() {
		r := syncproto.Record{Kind: string(kind)}
		targets := s.ScanTargets()
		var versions string
		var base int64
		dest := append([]any{&r.ID, &r.Village}, targets...)
		dest = append(dest, &versions, &base, &r.Rev, &r.CreatedBy, &r.CreatedAt, &r.UpdatedBy, &r.UpdatedAt)
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return nil, fmt.Errorf("query %s: %w", s.Table, err)
		}
		r.Fields = s.FromScan(targets)
		if err := json.Unmarshal([]byte(versions), &r.Versions); err != nil {
			rows.Close()
			return nil, fmt.Errorf("query %s versions: %w", s.Table, err)
		}
		expandVersions(r.Fields, r.Versions, uint64(base))
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if kind == records.Application {
			if out[i].History, err = records.ApplicationHistory(ctx, q, out[i].ID); err != nil {
				return nil, err
			}
		}
		if out[i].Conflicts, err = conflicts(ctx, q, "kind = ? AND record_id = ? AND resolved_at IS NULL", string(kind), out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func conflicts(ctx context.Context, q querier, where string, args ...any) ([]syncproto.Conflict, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, field, winner, winner_hlc, winner_origin, loser, loser_hlc, loser_origin, at FROM conflicts WHERE `+where+` ORDER BY at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("conflicts: %w", err)
	}
	defer rows.Close()
	var out []syncproto.Conflict
	for rows.Next() {
		var c syncproto.Conflict
		var w, l string
		var wh, lh int64
		if err := rows.Scan(&c.ID, &c.Field, &w, &wh, &c.WinnerOrigin, &l, &lh, &c.LoserOrigin, &c.At); err != nil {
			return nil, fmt.Errorf("conflicts: %w", err)
		}
		c.Winner, c.Loser, c.WinnerHLC, c.LoserHLC = json.RawMessage(w), json.RawMessage(l), uint64(wh), uint64(lh)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Records returns the merged records of a kind, of one village or (village
// "") all.
func (s *CountyStore) Records(ctx context.Context, kind records.Kind, village string) ([]syncproto.Record, error) {
	if village == "" {
		return queryRecords(ctx, s.db.R, kind, "1 = 1")
	}
	return queryRecords(ctx, s.db.R, kind, "village = ?", village)
}

// Conflicts returns the unresolved conflicts of a village, or all.
func (s *CountyStore) Conflicts(ctx context.Context, village string) ([]syncproto.Conflict, error) {
	if village == "" {
		return conflicts(ctx, s.db.R, "resolved_at IS NULL")
	}
	return conflicts(ctx, s.db.R, "village = ? AND resolved_at IS NULL", village)
}

// Rejected returns the changes the merge refused, of a village or all.
func (s *CountyStore) Rejected(ctx context.Context, village string) ([]Rejection, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT station, epoch, seq, kind, record_id, op, fields, code, reason, at FROM rejected_changes WHERE ? = '' OR village = ? ORDER BY id`, village, village)
	if err != nil {
		return nil, fmt.Errorf("rejected: %w", err)
	}
	defer rows.Close()
	var out []Rejection
	for rows.Next() {
		var r Rejection
		var f string
		if err := rows.Scan(&r.Station, &r.Epoch, &r.Seq, &r.Kind, &r.RecordID, &r.Op, &f, &r.Code, &r.Reason, &r.At); err != nil {
			return nil, fmt.Errorf("rejected: %w", err)
		}
		r.Fields = json.RawMessage(f)
		out = append(out, r)
	}
	return out, rows.Err()
}

// DataVersion changes whenever any record changes: every merged change,
// decision, edit and resolution moves its record to a new feed seq. Pages
// cache aggregates under it.
func (s *CountyStore) DataVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.db.R.QueryRowContext(ctx, feedTopSQL).Scan(&v)
	return v, err
}
