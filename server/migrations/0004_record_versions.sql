-- Every version of a record that was changed after it was created, for
-- the record page's history: who made it, at which station or at the
-- county (origins), when it arrived. Written by triggers on UPDATE only:
-- most records are never edited, and a new record's single version is the
-- row itself, so ingesting new records costs nothing extra. Never edit
-- once shipped. (INSERT … WHERE NOT EXISTS, not INSERT OR IGNORE: inside a
-- trigger the outer upsert's conflict handling would override OR IGNORE.)
CREATE TABLE record_versions (
  kind        TEXT NOT NULL,
  record_id   TEXT NOT NULL,
  rev         INTEGER NOT NULL,
  fields      TEXT NOT NULL, -- JSON object of the field values of this version
  versions    TEXT NOT NULL, -- as in the record table (differences from base_hlc)
  origins     TEXT NOT NULL, -- as in the record table (differences from created_origin)
  base_hlc    INTEGER NOT NULL,
  created_origin TEXT NOT NULL,
  updated_by  TEXT NOT NULL,
  updated_at  INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (kind, record_id, rev)
) STRICT;

CREATE TRIGGER persons_versions AFTER UPDATE ON persons WHEN OLD.rev != NEW.rev BEGIN
  INSERT INTO record_versions (kind, record_id, rev, fields, versions, origins, base_hlc, created_origin, updated_by, updated_at, received_at)
    SELECT 'person', OLD.id, OLD.rev, json_object('name', OLD.name, 'id_number', OLD.id_number, 'categories', json(OLD.categories), 'phone', OLD.phone, 'address', OLD.address, 'guardian', json(OLD.guardian), 'family_away', json(OLD.family_away), 'health', OLD.health, 'status', OLD.status, 'exit_reason', OLD.exit_reason), OLD.versions, OLD.origins, OLD.base_hlc, OLD.created_origin, OLD.updated_by, OLD.updated_at, OLD.received_at
    WHERE NOT EXISTS (SELECT 1 FROM record_versions WHERE kind = 'person' AND record_id = OLD.id AND rev = OLD.rev);
  INSERT INTO record_versions (kind, record_id, rev, fields, versions, origins, base_hlc, created_origin, updated_by, updated_at, received_at)
    SELECT 'person', NEW.id, NEW.rev, json_object('name', NEW.name, 'id_number', NEW.id_number, 'categories', json(NEW.categories), 'phone', NEW.phone, 'address', NEW.address, 'guardian', json(NEW.guardian), 'family_away', json(NEW.family_away), 'health', NEW.health, 'status', NEW.status, 'exit_reason', NEW.exit_reason), NEW.versions, NEW.origins, NEW.base_hlc, NEW.created_origin, NEW.updated_by, NEW.updated_at, NEW.received_at
    WHERE NOT EXISTS (SELECT 1 FROM record_versions WHERE kind = 'person' AND record_id = NEW.id AND rev = NEW.rev);
END;

CREATE TRIGGER visits_versions AFTER UPDATE ON visits WHEN OLD.rev != NEW.rev BEGIN
  INSERT INTO record_versions (kind, record_id, rev, fields, versions, origins, base_hlc, created_origin, updated_by, updated_at, received_at)
    SELECT 'visit', OLD.id, OLD.rev, json_object('person_id', OLD.person_id, 'visited_on', OLD.visited_on, 'visitors', json(OLD.visitors), 'method', OLD.method, 'situation', OLD.situation, 'needs', json(OLD.needs), 'risk', OLD.risk, 'measures', OLD.measures, 'next_due', OLD.next_due, 'photos', json(OLD.photos)), OLD.versions, OLD.origins, OLD.base_hlc, OLD.created_origin, OLD.updated_by, OLD.updated_at, OLD.received_at
    WHERE NOT EXISTS (SELECT 1 FROM record_versions WHERE kind = 'visit' AND record_id = OLD.id AND rev = OLD.rev);
  INSERT INTO record_versions (kind, record_id, rev, fields, versions, origins, base_hlc, created_origin, updated_by, updated_at, received_at)
    SELECT 'visit', NEW.id, NEW.rev, json_object('person_id', NEW.person_id, 'visited_on', NEW.visited_on, 'visitors', json(NEW.visitors), 'method', NEW.method, 'situation', NEW.situation, 'needs', json(NEW.needs), 'risk', NEW.risk, 'measures', NEW.measures, 'next_due', NEW.next_due, 'photos', json(NEW.photos)), NEW.versions, NEW.origins, NEW.base_hlc, NEW.created_origin, NEW.updated_by, NEW.updated_at, NEW.received_at
    WHERE NOT EXISTS (SELECT 1 FROM record_versions WHERE kind = 'visit' AND record_id = NEW.id AND rev = NEW.rev);
END;

CREATE TRIGGER applications_versions AFTER UPDATE ON applications WHEN OLD.rev != NEW.rev BEGIN
  INSERT INTO record_versions (kind, record_id, rev, fields, versions, origins, base_hlc, created_origin, updated_by, updated_at, received_at)
    SELECT 'application', OLD.id, OLD.rev, json_object('applicant_id', OLD.applicant_id, 'type', OLD.type, 'members', json(OLD.members), 'household_income_fen', OLD.household_income_fen, 'reason', OLD.reason, 'amount_requested_fen', OLD.amount_requested_fen, 'documents', json(OLD.documents), 'status', OLD.status, 'reviewer_comment', OLD.reviewer_comment, 'approved_amount_fen', OLD.approved_amount_fen, 'approved_from', OLD.approved_from), OLD.versions, OLD.origins, OLD.base_hlc, OLD.created_origin, OLD.updated_by, OLD.updated_at, OLD.received_at
    WHERE NOT EXISTS (SELECT 1 FROM record_versions WHERE kind = 'application' AND record_id = OLD.id AND rev = OLD.rev);
  INSERT INTO record_versions (kind, record_id, rev, fields, versions, origins, base_hlc, created_origin, updated_by, updated_at, received_at)
    SELECT 'application', NEW.id, NEW.rev, json_object('applicant_id', NEW.applicant_id, 'type', NEW.type, 'members', json(NEW.members), 'household_income_fen', NEW.household_income_fen, 'reason', NEW.reason, 'amount_requested_fen', NEW.amount_requested_fen, 'documents', json(NEW.documents), 'status', NEW.status, 'reviewer_comment', NEW.reviewer_comment, 'approved_amount_fen', NEW.approved_amount_fen, 'approved_from', NEW.approved_from), NEW.versions, NEW.origins, NEW.base_hlc, NEW.created_origin, NEW.updated_by, NEW.updated_at, NEW.received_at
    WHERE NOT EXISTS (SELECT 1 FROM record_versions WHERE kind = 'application' AND record_id = NEW.id AND rev = NEW.rev);
END;

CREATE TRIGGER disclosures_versions AFTER UPDATE ON disclosures WHEN OLD.rev != NEW.rev BEGIN
  INSERT INTO record_versions (kind, record_id, rev, fields, versions, origins, base_hlc, created_origin, updated_by, updated_at, received_at)
    SELECT 'disclosure', OLD.id, OLD.rev, json_object('category', OLD.category, 'title', OLD.title, 'body', OLD.body, 'attachments', json(OLD.attachments), 'publish_from', OLD.publish_from, 'publish_until', OLD.publish_until, 'reviewer', OLD.reviewer, 'status', OLD.status), OLD.versions, OLD.origins, OLD.base_hlc, OLD.created_origin, OLD.updated_by, OLD.updated_at, OLD.received_at
    WHERE NOT EXISTS (SELECT 1 FROM record_versions WHERE kind = 'disclosure' AND record_id = OLD.id AND rev = OLD.rev);
  INSERT INTO record_versions (kind, record_id, rev, fields, versions, origins, base_hlc, created_origin, updated_by, updated_at, received_at)
    SELECT 'disclosure', NEW.id, NEW.rev, json_object('category', NEW.category, 'title', NEW.title, 'body', NEW.body, 'attachments', json(NEW.attachments), 'publish_from', NEW.publish_from, 'publish_until', NEW.publish_until, 'reviewer', NEW.reviewer, 'status', NEW.status), NEW.versions, NEW.origins, NEW.base_hlc, NEW.created_origin, NEW.updated_by, NEW.updated_at, NEW.received_at
    WHERE NOT EXISTS (SELECT 1 FROM record_versions WHERE kind = 'disclosure' AND record_id = NEW.id AND rev = NEW.rev);
END;
