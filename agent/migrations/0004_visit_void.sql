-- A visit recorded in error is voided, not deleted: it keeps its history
-- and goes to the county as a new version, but the next-visit summary no
-- longer counts it (nor, at the county, the follow-up lists).
ALTER TABLE visits ADD COLUMN void_reason TEXT;

DROP TRIGGER visit_summary_ins;
DROP TRIGGER visit_summary_upd;

CREATE TRIGGER visit_summary_ins AFTER INSERT ON visits BEGIN
  DELETE FROM visit_summary WHERE person_id = NEW.person_id;
  INSERT INTO visit_summary (person_id, last_visited_on, next_due, last_risk, visit_id)
    SELECT person_id, visited_on, next_due, risk, id FROM visits
    WHERE person_id = NEW.person_id AND visited_on IS NOT NULL AND coalesce(void_reason, '') = ''
    ORDER BY visited_on DESC, created_at DESC, id DESC LIMIT 1;
END;

CREATE TRIGGER visit_summary_upd AFTER UPDATE OF person_id, visited_on, next_due, risk, void_reason ON visits BEGIN
  DELETE FROM visit_summary WHERE person_id IN (OLD.person_id, NEW.person_id);
  INSERT INTO visit_summary (person_id, last_visited_on, next_due, last_risk, visit_id)
    SELECT person_id, visited_on, next_due, risk, id FROM visits
    WHERE person_id = NEW.person_id AND visited_on IS NOT NULL AND coalesce(void_reason, '') = ''
    ORDER BY visited_on DESC, created_at DESC, id DESC LIMIT 1;
  INSERT INTO visit_summary (person_id, last_visited_on, next_due, last_risk, visit_id)
    SELECT person_id, visited_on, next_due, risk, id FROM visits
    WHERE person_id = OLD.person_id AND OLD.person_id IS NOT NEW.person_id AND visited_on IS NOT NULL AND coalesce(void_reason, '') = ''
    ORDER BY visited_on DESC, created_at DESC, id DESC LIMIT 1;
END;
