-- County decisions (approved, rejected, returned) a cadre has seen, by the
-- history entry's id (the county's, stable across pulls): the home page
-- lists the ones not seen yet.
CREATE TABLE decisions_seen (
  history_id TEXT PRIMARY KEY,
  seen_by    TEXT NOT NULL,
  seen_at    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
