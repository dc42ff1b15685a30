package pgdb

import (
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// WriterLockKey is the transaction advisory lock every write transaction
// takes (DB.Tx). A tool that writes the county's tables outside Tx — a
// bulk copy over pgx — takes it too (pg_advisory_xact_lock), so a server
// starting meanwhile waits for it rather than writing between its rows.
const WriterLockKey int64 = writerLock

// Raw runs fn with the pgx connection under conn, for what database/sql
// cannot say (COPY FROM through pgx's CopyFrom). Statements fn runs on it
// are pgx's own: `?` is not rewritten there, use $1, $2 …. conn must stay
// unused by database/sql until fn returns.
func Raw(conn *sql.Conn, fn func(*pgx.Conn) error) error {
	return conn.Raw(func(dc any) error {
		switch c := dc.(type) {
		case *qmarkConn:
			return fn(c.Conn.Conn())
		case *stdlib.Conn:
			return fn(c.Conn())
		default:
			return fmt.Errorf("pgdb: %T is not a PostgreSQL connection", dc)
		}
	})
}
