package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// What the metrics (metrics.go) and the readiness probe (probes.go) read
// from the SQLite store.

// StationStats counts the enrolled, not revoked stations by the age of
// their last contact and by the backlog they last reported.
type StationStats struct {
	ContactLt1h, Contact1hTo1d, Contact1dTo7d, ContactGt7d, ContactNever int
	Backlog0, Backlog1To100, Backlog101To1000, BacklogGt1000             int
	BacklogChanges                                                       int64
}

// StationStats reads the counts in one pass over the stations table (a
// few thousand rows for a city; no index needed).
func (s *CountyStore) StationStats(ctx context.Context) (StationStats, error) {
	now := s.now()
	h1, d1, d7 := now.Add(-time.Hour).UnixMilli(), now.Add(-24*time.Hour).UnixMilli(), now.Add(-7*24*time.Hour).UnixMilli()
	var st StationStats
	err := s.db.R.QueryRowContext(ctx, `SELECT
		count(CASE WHEN last_contact_at >= ?1 THEN 1 END),
		count(CASE WHEN last_contact_at < ?1 AND last_contact_at >= ?2 THEN 1 END),
		count(CASE WHEN last_contact_at < ?2 AND last_contact_at >= ?3 THEN 1 END),
		count(CASE WHEN last_contact_at < ?3 THEN 1 END),
		count(CASE WHEN last_contact_at IS NULL THEN 1 END),
		count(CASE WHEN pending <= 0 THEN 1 END),
		count(CASE WHEN pending BETWEEN 1 AND 100 THEN 1 END),
		count(CASE WHEN pending BETWEEN 101 AND 1000 THEN 1 END),
		count(CASE WHEN pending > 1000 THEN 1 END),
		coalesce(sum(CASE WHEN pending > 0 THEN pending ELSE 0 END), 0)
		FROM stations WHERE revoked_at IS NULL`, h1, d1, d7).
		Scan(&st.ContactLt1h, &st.Contact1hTo1d, &st.Contact1dTo7d, &st.ContactGt7d, &st.ContactNever,
			&st.Backlog0, &st.Backlog1To100, &st.Backlog101To1000, &st.BacklogGt1000, &st.BacklogChanges)
	if err != nil {
		return StationStats{}, fmt.Errorf("station stats: %w", err)
	}
	return st, nil
}


// Ready answers whether the store can serve: it answers a query within
// ctx, and its schema is the one this build expects — every migration it
// carries applied, none it does not know. The error says which.
func (s *CountyStore) Ready(ctx context.Context) error {
	rows, err := s.db.R.QueryContext(ctx, `SELECT name FROM schema_migrations ORDER BY name`)
	if err != nil {
		return fmt.Errorf("store unreachable: %w", err)
	}
	defer rows.Close()
	var applied []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return fmt.Errorf("store unreachable: %w", err)
		}
		applied = append(applied, n)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store unreachable: %w", err)
	}
	known := s.db.Migrations()
	var missing, unknown []string
	for _, n := range known {
		if _, ok := slices.BinarySearch(applied, n); !ok {
			missing = append(missing, n)
		}
	}
	for _, n := range applied {
		if _, ok := slices.BinarySearch(known, n); !ok {
			unknown = append(unknown, n)
		}
	}
	switch {
	case len(missing) > 0:
		return fmt.Errorf("migrations not applied: %s", strings.Join(missing, ", "))
	case len(unknown) > 0:
		return fmt.Errorf("database is newer than this server (migrations %s)", strings.Join(unknown, ", "))
	}
	return nil
}
