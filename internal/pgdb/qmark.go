package pgdb

import (
	"context"
	"database/sql/driver"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/stdlib"
)

// The county's queries are written once, with SQLite's `?` placeholders;
// PostgreSQL numbers its parameters ($1, $2 …). A connector that rewrites
// each statement on its way to pgx lets the same query text run on both,
// instead of every call site knowing which database it talks to.

// Rebind rewrites each `?` placeholder of query as $1, $2 … in order, and
// a numbered one (?3) as the same number ($3). A `?`
// inside a string literal, a quoted identifier or a comment is left alone.
func Rebind(query string) string {
	if strings.IndexByte(query, '?') < 0 {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			// A doubled quote inside a literal ('it''s') closes and reopens
			// it, which this loop sees as two literals: same result.
			j := strings.IndexByte(query[i+1:], c)
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j+2])
			i += j + 1
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j+1])
			i += j
		case c == '/' && i+1 < len(query) && query[i+1] == '*':
			j := strings.Index(query[i+2:], "*/")
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j+4])
			i += j + 3
		case c == '?':
			// ?NNN is SQLite's numbered parameter: the same number here.
			j := i + 1
			for j < len(query) && query[j] >= '0' && query[j] <= '9' {
				j++
			}
			b.WriteByte('$')
			if j > i+1 {
				b.WriteString(query[i+1 : j])
				i = j - 1
				continue
			}
			n++
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// qmarkConnector hands out pgx connections that rebind every statement.
type qmarkConnector struct{ driver.Connector }

func (c qmarkConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &qmarkConn{Conn: conn.(*stdlib.Conn)}, nil
}

// qmarkConn is pgx's connection with its statements rebound. It implements
// every optional interface *stdlib.Conn does, so database/sql keeps using
// pgx's own paths (no client-side prepare, its value conversions, session
// reset).
type qmarkConn struct{ *stdlib.Conn }

func (c *qmarkConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(Rebind(query))
}

func (c *qmarkConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, Rebind(query))
}

func (c *qmarkConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, Rebind(query), args)
}

func (c *qmarkConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, Rebind(query), args)
}

// CheckNamedValue sends a Go bool as 0 or 1: the county's flags are
// integer columns on both engines, and SQLite's driver binds bools so.
func (c *qmarkConn) CheckNamedValue(nv *driver.NamedValue) error {
	if b, ok := nv.Value.(bool); ok {
		nv.Value = int64(0)
		if b {
			nv.Value = int64(1)
		}
		return nil
	}
	return c.Conn.CheckNamedValue(nv)
}

var (
	_ driver.ConnPrepareContext = (*qmarkConn)(nil)
	_ driver.ConnBeginTx        = (*qmarkConn)(nil)
	_ driver.ExecerContext      = (*qmarkConn)(nil)
	_ driver.QueryerContext     = (*qmarkConn)(nil)
	_ driver.Pinger             = (*qmarkConn)(nil)
	_ driver.SessionResetter    = (*qmarkConn)(nil)
	_ driver.NamedValueChecker  = (*qmarkConn)(nil)
)
