package pgdb

import "testing"

func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT 1`:                                              `SELECT 1`,
		`SELECT ? , ?`:                                          `SELECT $1 , $2`,
		`WHERE a = ?1 AND b > ?2 LIMIT ?4`:                      `WHERE a = $1 AND b > $2 LIMIT $4`,
		`WHERE a = '?' AND b = ?`:                               `WHERE a = '?' AND b = $1`,
		`WHERE a = 'it''s ?' AND b = ?`:                         `WHERE a = 'it''s ?' AND b = $1`,
		`SELECT "odd?col" FROM t WHERE x = ?`:                   `SELECT "odd?col" FROM t WHERE x = $1`,
		"SELECT ? -- what?\n, ?":                                "SELECT $1 -- what?\n, $2",
		`SELECT /* ? */ ?`:                                      `SELECT /* ? */ $1`,
		`btrim(x, E' \t') = ? AND y LIKE ? ESCAPE '\'`:          `btrim(x, E' \t') = $1 AND y LIKE $2 ESCAPE '\'`,
		`SELECT 'unterminated ?`:                                `SELECT 'unterminated ?`,
		`SELECT ?, 'a', ?, "b", ?`:                              `SELECT $1, 'a', $2, "b", $3`,
		`INSERT INTO t VALUES (?, ?, ?) ON CONFLICT DO NOTHING`: `INSERT INTO t VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
	} {
		if got := Rebind(in); got != want {
			t.Errorf("Rebind(%q) = %q, want %q", in, got, want)
		}
	}
}
