package sqlitedb

import (
	"context"
	"database/sql"
	"fmt"

	"stationsync/syncproto"
)

// Querier is what Column needs: a *sql.DB, *sql.Tx or *sql.Conn.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Column returns the first column of every row query returns, in order.
// A scan or iteration error is an error: a list that silently stops short
// (of queued changes to renumber, of records to send again) loses data.
func Column[T any](ctx context.Context, q Querier, query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ApplicationHistory returns an application's status history, oldest
// first. The station and the county keep application_history with the
// same columns, and both send it in the same wire form.
func ApplicationHistory(ctx context.Context, q Querier, appID string) ([]syncproto.HistoryEntry, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, from_status, to_status, op, by_name, origin, hlc, at, comment FROM application_history WHERE application_id = ? ORDER BY hlc, id`, appID)
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", appID, err)
	}
	defer rows.Close()
	var out []syncproto.HistoryEntry
	for rows.Next() {
		var h syncproto.HistoryEntry
		var hv int64
		if err := rows.Scan(&h.ID, &h.From, &h.To, &h.Op, &h.By, &h.Origin, &hv, &h.At, &h.Comment); err != nil {
			return nil, fmt.Errorf("history %s: %w", appID, err)
		}
		h.HLC = uint64(hv)
		out = append(out, h)
	}
	return out, rows.Err()
}
