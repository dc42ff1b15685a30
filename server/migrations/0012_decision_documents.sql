-- Documents the county attaches to its decision on an application (a
-- return notice, an approval letter): a JSON list of hashes, a County
-- field (records.go), written by SQLiteStore.Decide in the decision's
-- transaction together with the files' rows. The files triggers of 0011
-- are rebuilt to name these files in record_files too, so that the
-- village's station may fetch them (PROTOCOL.md §15.5), staff of the
-- township see them, and a downlink carries them (§16); the portal never
-- shows them (PublicFile takes disclosures only). The versions trigger
-- keeps the new field in the history. Never edit once shipped.
ALTER TABLE applications ADD COLUMN decision_documents TEXT;

DROP TRIGGER applications_files_insert;
DROP TRIGGER applications_files_update;

CREATE TRIGGER applications_files_insert AFTER INSERT ON applications
WHEN NEW.documents IS NOT NULL OR NEW.decision_documents IS NOT NULL BEGIN
  INSERT OR IGNORE INTO record_files (hash, kind, record_id, village)
    SELECT value, 'application', NEW.id, NEW.village FROM json_each(CASE WHEN json_valid(NEW.documents) THEN CASE json_type(NEW.documents) WHEN 'array' THEN NEW.documents END END)
    WHERE type = 'text' AND length(value) = 64;
  INSERT OR IGNORE INTO record_files (hash, kind, record_id, village)
    SELECT value, 'application', NEW.id, NEW.village FROM json_each(CASE WHEN json_valid(NEW.decision_documents) THEN CASE json_type(NEW.decision_documents) WHEN 'array' THEN NEW.decision_documents END END)
    WHERE type = 'text' AND length(value) = 64;
END;
CREATE TRIGGER applications_files_update AFTER UPDATE OF documents, decision_documents, village ON applications
WHEN OLD.documents IS NOT NEW.documents OR OLD.decision_documents IS NOT NEW.decision_documents OR OLD.village IS NOT NEW.village BEGIN
  DELETE FROM record_files WHERE kind = 'application' AND record_id = OLD.id;
  INSERT OR IGNORE INTO record_files (hash, kind, record_id, village)
    SELECT value, 'application', NEW.id, NEW.village FROM json_each(CASE WHEN json_valid(NEW.documents) THEN CASE json_type(NEW.documents) WHEN 'array' THEN NEW.documents END END)
    WHERE type = 'text' AND length(value) = 64;
  INSERT OR IGNORE INTO record_files (hash, kind, record_id, village)
    SELECT value, 'application', NEW.id, NEW.village FROM json_each(CASE WHEN json_valid(NEW.decision_documents) THEN CASE json_type(NEW.decision_documents) WHEN 'array' THEN NEW.decision_documents END END)
    WHERE type = 'text' AND length(value) = 64;
END;

DROP TRIGGER applications_versions;
CREATE TRIGGER applications_versions AFTER UPDATE ON applications WHEN OLD.rev != NEW.rev BEGIN
  INSERT INTO record_versions (kind, record_id, rev, fields, versions, origins, base_hlc, created_origin, updated_by, updated_at, received_at)
    SELECT 'application', OLD.id, OLD.rev, json_object('applicant_id', OLD.applicant_id, 'type', OLD.type, 'members', json(OLD.members), 'household_income_fen', OLD.household_income_fen, 'reason', OLD.reason, 'amount_requested_fen', OLD.amount_requested_fen, 'documents', json(OLD.documents), 'status', OLD.status, 'reviewer_comment', OLD.reviewer_comment, 'approved_amount_fen', OLD.approved_amount_fen, 'approved_from', OLD.approved_from, 'decision_documents', json(OLD.decision_documents)), OLD.versions, OLD.origins, OLD.base_hlc, OLD.created_origin, OLD.updated_by, OLD.updated_at, OLD.received_at
    WHERE NOT EXISTS (SELECT 1 FROM record_versions WHERE kind = 'application' AND record_id = OLD.id AND rev = OLD.rev);
  INSERT INTO record_versions (kind, record_id, rev, fields, versions, origins, base_hlc, created_origin, updated_by, updated_at, received_at)
    SELECT 'application', NEW.id, NEW.rev, json_object('applicant_id', NEW.applicant_id, 'type', NEW.type, 'members', json(NEW.members), 'household_income_fen', NEW.household_income_fen, 'reason', NEW.reason, 'amount_requested_fen', NEW.amount_requested_fen, 'documents', json(NEW.documents), 'status', NEW.status, 'reviewer_comment', NEW.reviewer_comment, 'approved_amount_fen', NEW.approved_amount_fen, 'approved_from', NEW.approved_from, 'decision_documents', json(NEW.decision_documents)), NEW.versions, NEW.origins, NEW.base_hlc, NEW.created_origin, NEW.updated_by, NEW.updated_at, NEW.received_at
    WHERE NOT EXISTS (SELECT 1 FROM record_versions WHERE kind = 'application' AND record_id = NEW.id AND rev = NEW.rev);
END;
