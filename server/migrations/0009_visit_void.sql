-- A visit the station voided (recorded in error) keeps its row and its
-- history but counts nowhere: the follow-up lists and a person's last
-- visit treat it like a blank visit, so the small partial index of blank
-- visits now also holds the voided ones (visitIsBlank in server/query.go
-- repeats this WHERE term for term). The versions trigger is rebuilt to
-- keep the new field in the history. Never edit once shipped.
ALTER TABLE visits ADD COLUMN void_reason TEXT;

DROP INDEX visits_blank;
CREATE INDEX visits_blank ON visits(person_id, visited_on)
  WHERE (trim(coalesce(situation, ''), char(32, 9, 10, 13, 12288)) = ''
    AND trim(coalesce(measures, ''), char(32, 9, 10, 13, 12288)) = '')
    OR coalesce(void_reason, '') <> '';

DROP TRIGGER visits_versions;
CREATE TRIGGER visits_versions AFTER UPDATE ON visits WHEN OLD.rev != NEW.rev BEGIN
  INSERT INTO record_versions (kind, record_id, rev, fields, versions, origins, base_hlc, created_origin, updated_by, updated_at, received_at)
    SELECT 'visit', OLD.id, OLD.rev, json_object('person_id', OLD.person_id, 'visited_on', OLD.visited_on, 'visitors', json(OLD.visitors), 'method', OLD.method, 'situation', OLD.situation, 'needs', json(OLD.needs), 'risk', OLD.risk, 'measures', OLD.measures, 'next_due', OLD.next_due, 'photos', json(OLD.photos), 'void_reason', OLD.void_reason), OLD.versions, OLD.origins, OLD.base_hlc, OLD.created_origin, OLD.updated_by, OLD.updated_at, OLD.received_at
    WHERE NOT EXISTS (SELECT 1 FROM record_versions WHERE kind = 'visit' AND record_id = OLD.id AND rev = OLD.rev);
  INSERT INTO record_versions (kind, record_id, rev, fields, versions, origins, base_hlc, created_origin, updated_by, updated_at, received_at)
    SELECT 'visit', NEW.id, NEW.rev, json_object('person_id', NEW.person_id, 'visited_on', NEW.visited_on, 'visitors', json(NEW.visitors), 'method', NEW.method, 'situation', NEW.situation, 'needs', json(NEW.needs), 'risk', NEW.risk, 'measures', NEW.measures, 'next_due', NEW.next_due, 'photos', json(NEW.photos), 'void_reason', NEW.void_reason), NEW.versions, NEW.origins, NEW.base_hlc, NEW.created_origin, NEW.updated_by, NEW.updated_at, NEW.received_at
    WHERE NOT EXISTS (SELECT 1 FROM record_versions WHERE kind = 'visit' AND record_id = NEW.id AND rev = NEW.rev);
END;
