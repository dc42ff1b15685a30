package server

// The county's feed counter lives in the service's memory (SQLiteStore.
// feedSeq), stored in every write transaction. `county-server import` (and
// any command that writes, like decide) beside a running service is a
// second process with a counter of its own: without this, the service's
// next write gave records feed positions the command had already given
// and a station had already pulled past, and the county's decision never
// came down (tests/bundle TestImportBesideTheService).

// catchUpFeedSeq moves the counter up to the one stored, once per merger,
// before it gives its first position: inside the write transaction, so
// that what another process committed is seen. A read that fails leaves
// the counter as it is (and the write fails on its own).
func (m *merger) catchUpFeedSeq() {
	if m.caughtUp {
		return
	}
	m.caughtUp = true
	var stored int64
	if err := m.tx.QueryRow(`SELECT coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'feed_seq'), 0)`).Scan(&stored); err == nil && stored > *m.feedSeq {
		*m.feedSeq = stored
	}
}
