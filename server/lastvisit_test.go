package server

import (
	"context"
	"strings"
	"testing"
)

// A person's last visit is read from the covering index, and the blank
// visits from their own small partial index: the query must repeat that
// index's WHERE terms, and nothing else holds it to that.
func TestLastVisitUsesTheIndexes(t *testing.T) {
	s := openTestStore(t)
	p := queryPlan(t, s, `SELECT p.id, ` + s.db.lastVisitSQL("p") + ` FROM persons p`)
	if !strings.Contains(p, "visits_blank") {
		t.Errorf("blank visits not read from visits_blank: %s", p)
	}
	// SQLite says COVERING; PostgreSQL, with no rows to read, plans an
	// index scan where a full table would get an index-only one.
	if !strings.Contains(p, "USING COVERING INDEX visits_person") && !(s.db.Postgres() && strings.Contains(p, "visits_person")) {
		t.Errorf("the last visit is not read from the covering visits_person: %s", p)
	}
}

// queryPlan is the engine's plan of q, one line per step. On PostgreSQL
// sequential scans are switched off first: the tables are empty, so the
// planner would scan them whole whatever the indexes; what this asks is
// whether a query's terms let an index be used at all (a partial index
// only when the query implies its WHERE).
func queryPlan(t *testing.T, s *CountyStore, q string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	c, err := s.db.R.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var plan []string
	if s.db.Postgres() {
		if _, err := c.ExecContext(ctx, `SET enable_seqscan = off`); err != nil {
			t.Fatal(err)
		}
		defer c.ExecContext(ctx, `RESET enable_seqscan`)
		rows, err := c.QueryContext(ctx, `EXPLAIN `+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, strings.TrimSpace(line))
		}
		return strings.Join(plan, "; ")
	}
	rows, err := c.QueryContext(ctx, `EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}
