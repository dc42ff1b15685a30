package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/pgdb"
	"stationsync/internal/records"
)

// visitCeiling is the most the county's store takes of visits on this
// machine, the yardstick of the county's merge (issue 16 asks the merge
// for ≥ 0.8 of it): n visit-shaped rows, as the merge stores them, go
// straight into the visits table of a fresh county database — the same
// indexes and triggers — perTx rows a transaction. On SQLite (WAL,
// synchronous=FULL) through one prepared INSERT a row; on PostgreSQL
// (the server's own durability settings) through COPY (pgx's CopyFrom),
// the fastest way in PostgreSQL has, under the county's writer lock as
// every write of the county takes it; rowByRow puts PostgreSQL through
// SQLite's way instead, one prepared INSERT a row (the shape of the
// merge's statements, each a round trip to the server). It returns the
// time the inserts took.
func visitCeiling(tb testing.TB, kind storeKind, n, perTx int, rowByRow bool) time.Duration {
	tb.Helper()
	ctx := context.Background()
	c := newCountyOn(tb, tb.TempDir(), kind)
	g := gen.New(seed)
	clock := hlc.NewClock(time.Now, 0, 0)
	persons := make([]string, 300)
	for i := range persons {
		persons[i] = uuid.Must(uuid.NewV7()).String()
	}
	cols := []string{"person_id", "visited_on", "visitors", "method", "situation", "needs", "risk", "measures", "next_due", "photos"}
	rows := make([][]any, 0, n)
	for i := range n {
		v := g.Visit(persons[i%len(persons)], g.Date(visitsFrom, visitsTo))
		h := uint64(clock.Now())
		at := clock.Physical().UnixMilli()
		versions, origins := map[string]uint64{}, map[string]string{}
		row := []any{uuid.Must(uuid.NewV7()).String(), village}
		for _, col := range cols {
			versions[col], origins[col] = h, "st_0123456789abcdef"
			switch x := v[col].(type) {
			case nil:
				row = append(row, nil)
			case string:
				row = append(row, x)
			default:
				j, _ := json.Marshal(x)
				row = append(row, string(j))
			}
		}
		vj, _ := json.Marshal(versions)
		oj, _ := json.Marshal(origins)
		row = append(row, string(vj), string(oj), int64(h), int64(i+1), "", "村干部", at, "st_0123456789abcdef", "村干部", at, at)
		rows = append(rows, row)
	}
	if kind == onPostgres && !rowByRow {
		return copyCeiling(tb, c, append([]string{"id", "village"}, append(cols, "versions", "origins", "base_hlc", "rev", "synced_station",
			"created_by", "created_at", "created_origin", "updated_by", "updated_at", "received_at")...), rows, perTx)
	}
	insert := `INSERT INTO visits (id, village, ` + strings.Join(cols, ", ") +
		`, versions, origins, base_hlc, rev, synced_station, created_by, created_at, created_origin, updated_by, updated_at, received_at) VALUES (?` +
		strings.Repeat(", ?", len(cols)+12) + `)`
	w := c.store.DB().W
	start := time.Now()
	for i := 0; i < len(rows); i += perTx {
		tx, err := w.BeginTx(ctx, nil)
		must(tb, err, "begin")
		st, err := tx.PrepareContext(ctx, insert)
		must(tb, err, "prepare")
		for _, r := range rows[i:min(i+perTx, len(rows))] {
			_, err := st.ExecContext(ctx, r...)
			must(tb, err, "insert")
		}
		st.Close()
		must(tb, tx.Commit(), "commit")
	}
	took := time.Since(start)
	if got := c.count(tb, records.Visit); got != n {
		tb.Fatalf("%d visits in the table, want %d", got, n)
	}
	return took
}

// copyCeiling COPYs rows (columns cols) into the visits table of c's
// PostgreSQL store, perTx rows a transaction, each taking the county's
// writer lock first, and returns the time it took.
func copyCeiling(tb testing.TB, c *county, cols []string, rows [][]any, perTx int) time.Duration {
	tb.Helper()
	ctx := context.Background()
	conn, err := c.store.DB().W.Conn(ctx)
	must(tb, err, "connection")
	defer conn.Close()
	var took time.Duration
	err = pgdb.Raw(conn, func(pc *pgx.Conn) error {
		start := time.Now()
		for i := 0; i < len(rows); i += perTx {
			tx, err := pc.Begin(ctx)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgdb.WriterLockKey); err != nil {
				tx.Rollback(ctx)
				return err
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"visits"}, cols, pgx.CopyFromRows(rows[i:min(i+perTx, len(rows))])); err != nil {
				tx.Rollback(ctx)
				return fmt.Errorf("copy: %w", err)
			}
			if err := tx.Commit(ctx); err != nil {
				return err
			}
		}
		took = time.Since(start)
		return nil
	})
	must(tb, err, "COPY into visits")
	if got := c.count(tb, records.Visit); got != len(rows) {
		tb.Fatalf("%d visits in the table, want %d", got, len(rows))
	}
	return took
}
