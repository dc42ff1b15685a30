-- The county's store. Times are unix milliseconds; HLC values are the
-- 64-bit integers of internal/hlc. Never edit this file once shipped: add
-- 0002_….sql instead.

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

-- One-time enrolment codes; only a hash is kept.
CREATE TABLE enrol_codes (
  code_hash  TEXT PRIMARY KEY,
  village    TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER,
  used_by    TEXT
) STRICT;

CREATE TABLE stations (
  id              TEXT PRIMARY KEY,
  village         TEXT NOT NULL,
  public_key      BLOB NOT NULL,
  hostname        TEXT NOT NULL DEFAULT '',
  agent_version   TEXT NOT NULL DEFAULT '',
  enrolled_at     INTEGER NOT NULL,
  revoked_at      INTEGER,
  last_contact_at INTEGER,
  last_push_at    INTEGER,
  pending         INTEGER NOT NULL DEFAULT 0,
  clock_offset_ms INTEGER NOT NULL DEFAULT 0, -- station clock minus county clock
  clock_ahead     INTEGER NOT NULL DEFAULT 0  -- its HLC values had to be clamped
) STRICT;
CREATE INDEX stations_village ON stations(village);

-- Deduplication: a station's changes of one epoch are applied strictly in
-- sequence, so the highest applied seq is the whole dedup state, kept for as
-- long as the data exists.
CREATE TABLE station_epochs (
  id      INTEGER PRIMARY KEY,
  station TEXT NOT NULL REFERENCES stations(id),
  epoch   TEXT NOT NULL,
  hwm     INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX station_epochs_key ON station_epochs(station, epoch);

-- The HLC each applied change was sent with: a change is a duplicate only
-- if it is the same change. A station database restored from an older
-- copy reuses seqs for new changes; their HLCs differ, and the county
-- refuses to drop them as duplicates (epoch_reused).
CREATE TABLE change_ids (
  epoch_id INTEGER NOT NULL,
  seq      INTEGER NOT NULL,
  hlc      INTEGER NOT NULL,
  PRIMARY KEY (epoch_id, seq)
) STRICT, WITHOUT ROWID;

-- Changes the merge refused; both sides see them. Never retried by the
-- county; the station fixes the record and sends a new change.
CREATE TABLE rejected_changes (
  id        INTEGER PRIMARY KEY,
  station   TEXT NOT NULL,
  epoch     TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  village   TEXT NOT NULL,
  kind      TEXT NOT NULL,
  record_id TEXT NOT NULL,
  op        TEXT NOT NULL,
  fields    TEXT NOT NULL,
  code      TEXT NOT NULL,
  reason    TEXT NOT NULL,
  at        INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX rejected_changes_id ON rejected_changes(station, epoch, seq);

-- The change feed: one row per record, moved to a new seq at every change,
-- so a station that was away for weeks gets each record once.
-- skip_station names the station whose view already equals this state.
CREATE TABLE feed (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  village      TEXT NOT NULL,
  kind         TEXT NOT NULL,
  record_id    TEXT NOT NULL,
  skip_station TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE UNIQUE INDEX feed_record ON feed(kind, record_id);
CREATE INDEX feed_village ON feed(village, seq);

-- Record tables: columns after the common head are the fields of
-- internal/records, in order. versions/origins map each field to the HLC
-- and the origin (station id or "county") of its current value, listing
-- only those that differ from base_hlc (the creating change's HLC) and
-- created_origin: most records are never edited, and spelling out every
-- field's version doubled the size of each row.
CREATE TABLE persons (
  id TEXT PRIMARY KEY, village TEXT NOT NULL,
  name TEXT, id_number TEXT, categories TEXT, phone TEXT, address TEXT, guardian TEXT,
  family_away TEXT, health TEXT, status TEXT, exit_reason TEXT,
  versions TEXT NOT NULL, origins TEXT NOT NULL, base_hlc INTEGER NOT NULL, rev INTEGER NOT NULL,
  synced_station TEXT NOT NULL DEFAULT '',
  created_by TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL, created_origin TEXT NOT NULL,
  updated_by TEXT NOT NULL DEFAULT '', updated_at INTEGER NOT NULL, received_at INTEGER NOT NULL
) STRICT;
CREATE INDEX persons_village ON persons(village);
CREATE INDEX persons_name ON persons(name);
CREATE INDEX persons_id_number ON persons(id_number);

CREATE TABLE visits (
  id TEXT PRIMARY KEY, village TEXT NOT NULL,
  person_id TEXT, visited_on TEXT, visitors TEXT, method TEXT, situation TEXT, needs TEXT,
  risk TEXT, measures TEXT, next_due TEXT, photos TEXT,
  versions TEXT NOT NULL, origins TEXT NOT NULL, base_hlc INTEGER NOT NULL, rev INTEGER NOT NULL,
  synced_station TEXT NOT NULL DEFAULT '',
  created_by TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL, created_origin TEXT NOT NULL,
  updated_by TEXT NOT NULL DEFAULT '', updated_at INTEGER NOT NULL, received_at INTEGER NOT NULL
) STRICT;
CREATE INDEX visits_village ON visits(village, visited_on);
CREATE INDEX visits_person ON visits(person_id, visited_on);

CREATE TABLE applications (
  id TEXT PRIMARY KEY, village TEXT NOT NULL,
  applicant_id TEXT, type TEXT, members TEXT, household_income_fen INTEGER, reason TEXT,
  amount_requested_fen INTEGER, documents TEXT, status TEXT, reviewer_comment TEXT,
  approved_amount_fen INTEGER, approved_from TEXT,
  versions TEXT NOT NULL, origins TEXT NOT NULL, base_hlc INTEGER NOT NULL, rev INTEGER NOT NULL,
  synced_station TEXT NOT NULL DEFAULT '',
  created_by TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL, created_origin TEXT NOT NULL,
  updated_by TEXT NOT NULL DEFAULT '', updated_at INTEGER NOT NULL, received_at INTEGER NOT NULL
) STRICT;
CREATE INDEX applications_village ON applications(village, status);
CREATE INDEX applications_status ON applications(status);

CREATE TABLE disclosures (
  id TEXT PRIMARY KEY, village TEXT NOT NULL,
  category TEXT, title TEXT, body TEXT, attachments TEXT, publish_from TEXT, publish_until TEXT,
  reviewer TEXT, status TEXT,
  versions TEXT NOT NULL, origins TEXT NOT NULL, base_hlc INTEGER NOT NULL, rev INTEGER NOT NULL,
  synced_station TEXT NOT NULL DEFAULT '',
  created_by TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL, created_origin TEXT NOT NULL,
  updated_by TEXT NOT NULL DEFAULT '', updated_at INTEGER NOT NULL, received_at INTEGER NOT NULL
) STRICT;
CREATE INDEX disclosures_village ON disclosures(village, status);

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

-- Every losing value the merge kept.
CREATE TABLE conflicts (
  id            TEXT PRIMARY KEY,
  kind          TEXT NOT NULL,
  record_id     TEXT NOT NULL,
  village       TEXT NOT NULL,
  field         TEXT NOT NULL,
  winner        TEXT NOT NULL,
  winner_hlc    INTEGER NOT NULL,
  winner_origin TEXT NOT NULL,
  loser         TEXT NOT NULL,
  loser_hlc     INTEGER NOT NULL,
  loser_origin  TEXT NOT NULL,
  at            INTEGER NOT NULL,
  resolved_at   INTEGER
) STRICT;
CREATE INDEX conflicts_record ON conflicts(kind, record_id);
CREATE INDEX conflicts_village ON conflicts(village, resolved_at);
