-- The county's staff pages: accounts, sessions, the audit log, place names,
-- settings, and the indexes the list pages and reports need at 1,000,000
-- visits. Never edit once shipped.

-- Staff accounts. role: admin (县民政局管理员: everything, stations and
-- accounts), county (县民政局: every village), township (乡镇民政办: the
-- villages whose code starts with township, a 9-digit code).
CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  username      TEXT NOT NULL UNIQUE,
  display_name  TEXT NOT NULL,
  role          TEXT NOT NULL CHECK (role IN ('admin', 'county', 'township')),
  township      TEXT NOT NULL DEFAULT '',
  full_numbers  INTEGER NOT NULL DEFAULT 0, -- may see and export full ID and phone numbers
  password_hash TEXT NOT NULL,              -- argon2id, PHC string
  failed        INTEGER NOT NULL DEFAULT 0, -- failed logins since the last success
  locked_until  INTEGER NOT NULL DEFAULT 0, -- unix ms
  disabled_at   INTEGER,
  created_at    INTEGER NOT NULL
) STRICT;

-- Sessions: only a hash of the cookie's token is kept.
CREATE TABLE sessions (
  token_hash TEXT PRIMARY KEY,
  user_id    INTEGER NOT NULL REFERENCES users(id),
  created_at INTEGER NOT NULL,
  last_seen  INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  remote     TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX sessions_user ON sessions(user_id);

-- Every county-side change, login, export, enrolment, revocation and
-- account change: who, when, what, from where.
CREATE TABLE audit_log (
  id       INTEGER PRIMARY KEY,
  at       INTEGER NOT NULL,
  username TEXT NOT NULL,
  action   TEXT NOT NULL,
  target   TEXT NOT NULL DEFAULT '',
  detail   TEXT NOT NULL DEFAULT '',
  remote   TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_action ON audit_log(action, at);
CREATE INDEX audit_log_user ON audit_log(username, at);

-- Names of townships (9 digits) and villages (12 digits).
CREATE TABLE places (
  code TEXT PRIMARY KEY,
  name TEXT NOT NULL
) STRICT;

-- Settings of the pages (visit intervals per category, …) as JSON values.
CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

-- A daily snapshot of the stations' health, for the report over time.
CREATE TABLE station_health_daily (
  day        TEXT PRIMARY KEY, -- 2006-01-02
  stations   INTEGER NOT NULL,
  synced_1d  INTEGER NOT NULL,
  synced_7d  INTEGER NOT NULL,
  silent     INTEGER NOT NULL, -- no contact for more than the silent threshold
  pending    INTEGER NOT NULL
) STRICT;

-- Reports by month and township read visits by date, not by village.
CREATE INDEX visits_date ON visits(visited_on, village, person_id);
CREATE INDEX visits_risk ON visits(risk, visited_on);
CREATE INDEX persons_status ON persons(status, village);
CREATE INDEX applications_type ON applications(type, status);
CREATE INDEX conflicts_open ON conflicts(resolved_at, at);
