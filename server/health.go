package server

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"stationsync/internal/zone"
)

// The stations' sync health over time (the reports' health chart) and
// the last failure of each station (the stations page).

// HealthDay is one day of the stations' sync health.
type HealthDay struct {
	Day                                     string
	Stations, Synced1d, Synced7d, Silent, N int
	Pending                                 int
}

// SnapshotHealth records today's sync health of the stations (once per
// day; later calls the same day overwrite it).
func (s *CountyStore) SnapshotHealth(ctx context.Context, silentAfter time.Duration) error {
	now := s.now()
	var h HealthDay
	err := s.db.R.QueryRowContext(ctx, `SELECT count(*),
		count(CASE WHEN last_push_at >= ? THEN 1 END), count(CASE WHEN last_push_at >= ? THEN 1 END),
		count(CASE WHEN coalesce(last_contact_at, 0) < ? THEN 1 END), coalesce(sum(pending), 0)
		FROM stations WHERE revoked_at IS NULL`,
		now.Add(-24*time.Hour).UnixMilli(), now.Add(-7*24*time.Hour).UnixMilli(), now.Add(-silentAfter).UnixMilli()).
		Scan(&h.Stations, &h.Synced1d, &h.Synced7d, &h.Silent, &h.Pending)
	if err != nil {
		return fmt.Errorf("health snapshot: %w", err)
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO station_health_daily (day, stations, synced_1d, synced_7d, silent, pending) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT(day) DO UPDATE SET stations = excluded.stations, synced_1d = excluded.synced_1d, synced_7d = excluded.synced_7d, silent = excluded.silent, pending = excluded.pending`,
			zone.Today(now), h.Stations, h.Synced1d, h.Synced7d, h.Silent, h.Pending)
		return err
	})
}

// HealthHistory returns the daily snapshots since from.
func (s *CountyStore) HealthHistory(ctx context.Context, from time.Time) ([]HealthDay, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT day, stations, synced_1d, synced_7d, silent, pending FROM station_health_daily WHERE day >= ? ORDER BY day`, from.Format("2006-01-02"))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []HealthDay
	for rows.Next() {
		var h HealthDay
		if err := rows.Scan(&h.Day, &h.Stations, &h.Synced1d, &h.Synced7d, &h.Silent, &h.Pending); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// StationError is the last thing that went wrong for a station's sync.
type StationError struct {
	Reason string
	At     time.Time
}

// LastErrors returns, per station, the newer of the last sync failure the
// station reported with a pull and the last rejection the merge gave it.
func (s *CountyStore) LastErrors(ctx context.Context) (map[string]StationError, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT station, reason, at FROM (
		SELECT station, reason, at, row_number() OVER (PARTITION BY station ORDER BY at DESC) AS n FROM (
			SELECT station, reason, at FROM rejected_changes
			UNION ALL SELECT id, last_error, last_error_at FROM stations WHERE last_error != '' AND last_error_at IS NOT NULL) AS e) AS r
		WHERE n = 1`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]StationError{}
	for rows.Next() {
		var st, reason string
		var at int64
		if err := rows.Scan(&st, &reason, &at); err != nil {
			return nil, err
		}
		out[st] = StationError{Reason: reason, At: time.UnixMilli(at)}
	}
	return out, rows.Err()
}
