-- Files attached to records (attach.go): the bytes live in the blob store
-- under the data folder (files/), named by their SHA-256; the record's
-- photos, documents or attachments list holds the hash, and this table
-- what the station knows of each file and how far it is on its way to the
-- county. Never edit once shipped.
--
-- state: pending — not yet acknowledged by the county (sent in chunks
-- after the records, resumed where the county's upload stands);
-- acked — the county holds it whole and verified (acked_at; the local
-- copy may be evicted after a configured time, later); refused — the
-- county will not take it (error, Chinese), asked again each round in
-- case its limits change; missing — the local copy is damaged or gone
-- (error).
CREATE TABLE attachments (
  hash       TEXT PRIMARY KEY,
  size       INTEGER NOT NULL,
  type       TEXT NOT NULL,
  name       TEXT NOT NULL DEFAULT '',
  kind       TEXT NOT NULL,
  record_id  TEXT NOT NULL,
  state      TEXT NOT NULL DEFAULT 'pending',
  created_at INTEGER NOT NULL,
  acked_at   INTEGER,
  error      TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX attachments_state ON attachments(state, created_at);
CREATE INDEX attachments_record ON attachments(kind, record_id);
