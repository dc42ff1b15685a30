-- The station's store. Times are unix milliseconds; HLC values are the
-- 64-bit integers of internal/hlc. Never edit this file once shipped: add
-- 0002_….sql instead.

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

-- The outbox: every local change, written in the same transaction as the
-- record it changes, kept until the county names it in an answer.
-- (epoch, seq) is the change id; seq is strictly increasing within an epoch.
CREATE TABLE outbox (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  epoch     TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  kind      TEXT NOT NULL,
  record_id TEXT NOT NULL,
  op        TEXT NOT NULL,
  fields    TEXT NOT NULL, -- JSON object of the fields set
  base      TEXT NOT NULL, -- JSON object: field -> version replaced
  rev       INTEGER NOT NULL, -- the county's revision last seen
  hlc       INTEGER NOT NULL,
  by_name   TEXT NOT NULL,
  at        INTEGER NOT NULL,
  urgent    INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE UNIQUE INDEX outbox_change ON outbox(epoch, seq);
CREATE INDEX outbox_record ON outbox(kind, record_id);

-- Changes the county refused, with its reason; shown to the cadre until
-- the record is fixed.
CREATE TABLE rejected (
  id        INTEGER PRIMARY KEY,
  epoch     TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  kind      TEXT NOT NULL,
  record_id TEXT NOT NULL,
  op        TEXT NOT NULL,
  fields    TEXT NOT NULL,
  code      TEXT NOT NULL,
  reason    TEXT NOT NULL,
  at        INTEGER NOT NULL,
  dismissed_at INTEGER
) STRICT;
CREATE INDEX rejected_record ON rejected(kind, record_id);

-- Record tables: columns after the common head are the fields of
-- internal/records, in order. versions maps each field to the HLC of its
-- value; server_rev is the county's revision this state matches (0: never
-- acknowledged).
CREATE TABLE persons (
  id TEXT PRIMARY KEY, village TEXT NOT NULL,
  name TEXT, id_number TEXT, categories TEXT, phone TEXT, address TEXT, guardian TEXT,
  family_away TEXT, health TEXT, status TEXT, exit_reason TEXT,
  versions TEXT NOT NULL, server_rev INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL,
  updated_by TEXT NOT NULL DEFAULT '', updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX persons_name ON persons(name);
CREATE INDEX persons_id_number ON persons(id_number);

CREATE TABLE visits (
  id TEXT PRIMARY KEY, village TEXT NOT NULL,
  person_id TEXT, visited_on TEXT, visitors TEXT, method TEXT, situation TEXT, needs TEXT,
  risk TEXT, measures TEXT, next_due TEXT, photos TEXT,
  versions TEXT NOT NULL, server_rev INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL,
  updated_by TEXT NOT NULL DEFAULT '', updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX visits_person ON visits(person_id, visited_on);
CREATE INDEX visits_due ON visits(next_due);

CREATE TABLE applications (
  id TEXT PRIMARY KEY, village TEXT NOT NULL,
  applicant_id TEXT, type TEXT, members TEXT, household_income_fen INTEGER, reason TEXT,
  amount_requested_fen INTEGER, documents TEXT, status TEXT, reviewer_comment TEXT,
  approved_amount_fen INTEGER, approved_from TEXT,
  versions TEXT NOT NULL, server_rev INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL,
  updated_by TEXT NOT NULL DEFAULT '', updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX applications_applicant ON applications(applicant_id);
CREATE INDEX applications_status ON applications(status);

CREATE TABLE disclosures (
  id TEXT PRIMARY KEY, village TEXT NOT NULL,
  category TEXT, title TEXT, body TEXT, attachments TEXT, publish_from TEXT, publish_until TEXT,
  reviewer TEXT, status TEXT,
  versions TEXT NOT NULL, server_rev INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL,
  updated_by TEXT NOT NULL DEFAULT '', updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX disclosures_status ON disclosures(status);

CREATE TABLE application_history (
  id             TEXT PRIMARY KEY,
  application_id TEXT NOT NULL,
  from_status    TEXT NOT NULL,
  to_status      TEXT NOT NULL,
  op             TEXT NOT NULL,
  by_name        TEXT NOT NULL,
  origin         TEXT NOT NULL,
  hlc            INTEGER NOT NULL,
  at             INTEGER NOT NULL,
  comment        TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX application_history_app ON application_history(application_id, hlc);

-- Conflicts the county's merge kept for this village's records.
CREATE TABLE conflicts (
  id            TEXT PRIMARY KEY,
  kind          TEXT NOT NULL,
  record_id     TEXT NOT NULL,
  field         TEXT NOT NULL,
  winner        TEXT NOT NULL,
  winner_hlc    INTEGER NOT NULL,
  winner_origin TEXT NOT NULL,
  loser         TEXT NOT NULL,
  loser_hlc     INTEGER NOT NULL,
  loser_origin  TEXT NOT NULL,
  at            INTEGER NOT NULL
) STRICT;
CREATE INDEX conflicts_record ON conflicts(kind, record_id);
