package records

import (
	"context"
	"database/sql"
	"fmt"

	"stationsync/syncproto"
)

// HistoryQuerier is what ApplicationHistory needs: a *sql.DB, *sql.Tx or
// *sql.Conn.
type HistoryQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// ApplicationHistory returns an application's status history, oldest
// first. The station and the county keep application_history with the
// same columns and send it in the same wire form, so both read it here.
func ApplicationHistory(ctx context.Context, q HistoryQuerier, appID string) ([]syncproto.HistoryEntry, error) {
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
