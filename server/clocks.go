package server

import (
	"database/sql"
	"fmt"
	"strconv"

	"stationsync/internal/hlc"
)

// The county's feed counter and HLC live in the service's memory
// (CountyStore.feedSeq, .clock), stored in every write transaction
// (persistClocks). Another process writing the same database has
// counters of its own: `county-server import` or `decide` beside a running
// service on SQLite, or a second county server on PostgreSQL. Without a
// catch-up, the next write here gave records feed positions the other had
// already given and a station had already pulled past (a decision never
// came down: tests/bundle TestImportBesideTheService), and stamped a
// decision with an HLC older than changes the other had merged, so it
// lost to them.

// catchUpClocks moves the feed counter and the HLC up to the ones stored.
// It runs first in every write transaction, under the writer lock
// (Database.Tx), so what it reads is what the last writer committed,
// whichever process it was.
func (s *CountyStore) catchUpClocks(tx *sql.Tx) error {
	rows, err := tx.Query(`SELECT key, value FROM meta WHERE key IN ('hlc', 'feed_seq')`)
	if err != nil {
		return fmt.Errorf("read clocks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return fmt.Errorf("read clocks: %w", err)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("meta %s = %q: %w", k, v, err)
		}
		switch k {
		case "feed_seq":
			if n > s.feedSeq {
				s.feedSeq = n
			}
		case "hlc":
			s.clock.Observe(hlc.Timestamp(n))
		}
	}
	return rows.Err()
}
