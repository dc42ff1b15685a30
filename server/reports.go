package server

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"stationsync/internal/zone"
)

// The figures of the reports page: counts by a key or two, each scoped,
// computed in SQL over the indexes the county's size needs.

// Count is one figure of a report, by a key or two.
type Count struct {
	Key, Sub string
	N        int
}

func (s *CountyStore) counts(ctx context.Context, q string, args ...any) ([]Count, error) {
	conn, err := s.reader(ctx)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer rows.Close()
	var out []Count
	for rows.Next() {
		var c Count
		var k, sub sql.NullString
		if err := rows.Scan(&k, &sub, &c.N); err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		c.Key, c.Sub = k.String, sub.String
		out = append(out, c)
	}
	return out, rows.Err()
}

// VisitsByMonth counts visits per township (Key) and month (Sub) from
// month from (2006-01) on.
func (s *CountyStore) VisitsByMonth(ctx context.Context, scope, from string) ([]Count, error) {
	w := scoped(scope, "village")
	w.add("visited_on >= ?", from) // "2006-01-02" >= "2006-01"
	// The inner query counts by day and village in the order of the index
	// visits_day, without sorting; only its few hundred thousand groups
	// are sorted into months and townships, not every visit. Voided and
	// blank visits are no visits: they are counted again, from the small
	// partial index visits_blank, and taken off.
	wb := scoped(scope, "b.village")
	wb.add(s.db.visitIsBlank("b"))
	wb.add("b.visited_on >= ?", from)
	return s.counts(ctx, `SELECT town, month, sum(n) FROM (
		SELECT substr(village, 1, 9) AS town, substr(visited_on, 1, 7) AS month, count(*) AS n
		FROM visits WHERE `+w.sql()+` GROUP BY visited_on, village
		UNION ALL
		SELECT substr(b.village, 1, 9), substr(b.visited_on, 1, 7), -count(*)
		FROM visits b `+s.db.indexedBy("visits_blank")+` WHERE `+wb.sql()+` GROUP BY 1, 2) AS d
		GROUP BY month, town HAVING sum(n) > 0`, append(w.args, wb.args...)...)
}

// Coverage returns, per township, the people on the register (Sub "all")
// and those visited since from (Sub "visited").
func (s *CountyStore) Coverage(ctx context.Context, scope, from string) ([]Count, error) {
	w := scoped(scope, "village")
	all, err := s.counts(ctx, `SELECT substr(village, 1, 9), 'all', count(*) FROM persons WHERE (status IS NULL OR status = '在册') AND `+w.sql()+` GROUP BY 1`, w.args...)
	if err != nil {
		return nil, err
	}
	// Of those, the ones visited since from: their last visit with
	// content, from visits_person unless they have a blank one.
	w2 := scoped(scope, "p.village")
	w2.add("(p.status IS NULL OR p.status = '在册')")
	w2.add(s.db.lastVisitSQL("p")+" >= ?", from) // a voided or blank visit is none
	vis, err := s.counts(ctx, `SELECT substr(p.village, 1, 9), 'visited', count(*) FROM persons p WHERE `+w2.sql()+` GROUP BY 1`, w2.args...)
	if err != nil {
		return nil, err
	}
	return append(all, vis...), nil
}

// ApplicationsByTypeStatus counts applications per type and status.
func (s *CountyStore) ApplicationsByTypeStatus(ctx context.Context, scope string) ([]Count, error) {
	w := scoped(scope, "village")
	return s.counts(ctx, `SELECT type, status, count(*) FROM applications WHERE `+w.sql()+` GROUP BY 1, 2 ORDER BY 1, 2`, w.args...)
}

// ApplicationsByMonth counts applications per month of creation (Key) and
// status (Sub) since from (unix ms).
func (s *CountyStore) ApplicationsByMonth(ctx context.Context, scope string, from time.Time) ([]Count, error) {
	w := scoped(scope, "village")
	w.add("created_at >= ?", from.UnixMilli())
	// The month in the display zone, not SQLite's 'localtime' (the
	// server's): its offset at from (Asia/Shanghai has one all year).
	return s.counts(ctx, `SELECT `+s.db.unixMonth("created_at / 1000 + ?")+`, status, count(*) FROM applications WHERE `+w.sql()+` GROUP BY 1, 2 ORDER BY 1, 2`,
		append([]any{zone.Offset(from)}, w.args...)...)
}

// StatusCounts counts the applications of each status in scope.
func (s *CountyStore) StatusCounts(ctx context.Context, scope string) (map[string]int, error) {
	w := scoped(scope, "village")
	rows, err := s.db.R.QueryContext(ctx, `SELECT status, count(*) FROM applications WHERE `+w.sql()+` GROUP BY status`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("status counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st sql.NullString
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("status counts: %w", err)
		}
		out[st.String] = n
	}
	return out, rows.Err()
}
