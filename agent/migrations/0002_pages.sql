-- What the station's pages need: local cadre accounts, the next visit due
-- per person, and indexes for the lists and searches.

-- Cadre accounts of this PC. They never leave the station: a record names
-- its author by name (created_by/updated_by), not by account.
CREATE TABLE accounts (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  pin_hash   TEXT NOT NULL, -- argon2id, PHC string format
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL DEFAULT '',
  disabled   INTEGER NOT NULL DEFAULT 0
) STRICT;

-- The latest visit of each person, kept by triggers for both local saves
-- and records pulled from the county, so that "who is overdue" reads one
-- row per person instead of searching 50,000 visits.
CREATE TABLE visit_summary (
  person_id       TEXT PRIMARY KEY,
  last_visited_on TEXT NOT NULL,
  next_due        TEXT,     -- as typed on the latest visit; NULL: by policy
  last_risk       TEXT,
  visit_id        TEXT NOT NULL
) STRICT;

-- Plain DELETE + INSERT: a trigger's OR REPLACE gives way to the conflict
-- policy of the statement that fired it (the store's upsert), so it cannot
-- be relied on here.
CREATE TRIGGER visit_summary_ins AFTER INSERT ON visits BEGIN
  DELETE FROM visit_summary WHERE person_id = NEW.person_id;
  INSERT INTO visit_summary (person_id, last_visited_on, next_due, last_risk, visit_id)
    SELECT person_id, visited_on, next_due, risk, id FROM visits
    WHERE person_id = NEW.person_id AND visited_on IS NOT NULL
    ORDER BY visited_on DESC, created_at DESC, id DESC LIMIT 1;
END;

CREATE TRIGGER visit_summary_upd AFTER UPDATE OF person_id, visited_on, next_due, risk ON visits BEGIN
  DELETE FROM visit_summary WHERE person_id IN (OLD.person_id, NEW.person_id);
  INSERT INTO visit_summary (person_id, last_visited_on, next_due, last_risk, visit_id)
    SELECT person_id, visited_on, next_due, risk, id FROM visits
    WHERE person_id = NEW.person_id AND visited_on IS NOT NULL
    ORDER BY visited_on DESC, created_at DESC, id DESC LIMIT 1;
  INSERT INTO visit_summary (person_id, last_visited_on, next_due, last_risk, visit_id)
    SELECT person_id, visited_on, next_due, risk, id FROM visits
    WHERE person_id = OLD.person_id AND OLD.person_id IS NOT NEW.person_id AND visited_on IS NOT NULL
    ORDER BY visited_on DESC, created_at DESC, id DESC LIMIT 1;
END;

INSERT INTO visit_summary (person_id, last_visited_on, next_due, last_risk, visit_id)
  SELECT person_id, visited_on, next_due, risk, id FROM (
    SELECT person_id, visited_on, next_due, risk, id,
           row_number() OVER (PARTITION BY person_id ORDER BY visited_on DESC, created_at DESC, id DESC) AS rn
    FROM visits WHERE person_id IS NOT NULL AND visited_on IS NOT NULL)
  WHERE rn = 1;

-- Lists: recent visits (all, or only 紧急), applications and disclosures
-- by last change, the register by status and name.
CREATE INDEX visits_visited ON visits(visited_on, id);
CREATE INDEX visits_risk ON visits(risk, visited_on, id);
CREATE INDEX applications_updated ON applications(updated_at);
CREATE INDEX disclosures_updated ON disclosures(updated_at);
CREATE INDEX persons_status_name ON persons(status, name);
CREATE INDEX outbox_urgent ON outbox(urgent) WHERE urgent = 1;
