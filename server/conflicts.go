package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"stationsync/internal/sqlitedb"
	"stationsync/syncproto"
)

// The conflicts the merge recorded, as the county's conflicts page and
// record page list them (resolve.go settles them).

// ConflictRow is a conflict the merge kept, with its record.
type ConflictRow struct {
	syncproto.Conflict
	Kind       string
	RecordID   string
	Village    string
	ResolvedAt *int64
}

// ConflictByID returns one conflict.
func (s *CountyStore) ConflictByID(ctx context.Context, id string) (*ConflictRow, error) {
	var c ConflictRow
	var w, l string
	var wh, lh int64
	var res sql.NullInt64
	err := s.db.R.QueryRowContext(ctx, `SELECT id, kind, record_id, village, field, winner, winner_hlc, winner_origin, loser, loser_hlc, loser_origin, at, resolved_at FROM conflicts WHERE id = ?`, id).
		Scan(&c.ID, &c.Kind, &c.RecordID, &c.Village, &c.Field, &w, &wh, &c.WinnerOrigin, &l, &lh, &c.LoserOrigin, &c.At, &res)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("conflict %s: %w", id, err)
	}
	c.Winner, c.Loser, c.WinnerHLC, c.LoserHLC = json.RawMessage(w), json.RawMessage(l), uint64(wh), uint64(lh)
	if res.Valid {
		c.ResolvedAt = &res.Int64
	}
	return &c, nil
}

// OpenConflicts lists unresolved conflicts in scope.
func (s *CountyStore) OpenConflicts(ctx context.Context, scope string, limit, offset int) ([]ConflictRow, int, error) {
	w := scoped(scope, "village")
	w.add("resolved_at IS NULL")
	var total int
	if err := s.db.R.QueryRowContext(ctx, `SELECT count(*) FROM conflicts WHERE `+w.sql(), w.args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	ids, err := sqlitedb.Column[string](ctx, s.db.R, `SELECT id FROM conflicts WHERE `+w.sql()+` ORDER BY at DESC, id LIMIT ? OFFSET ?`, append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("conflicts: %w", err)
	}
	var out []ConflictRow
	for _, id := range ids {
		c, err := s.ConflictByID(ctx, id)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *c)
	}
	return out, total, nil
}
