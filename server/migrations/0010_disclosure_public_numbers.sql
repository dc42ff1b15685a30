-- The mobile numbers of a disclosure that its publisher marked as the
-- notice's public contact (a 村会计's phone): a JSON list, shown whole on
-- the public portal while every other number is masked
-- (records.PublicNumbers). The versions trigger is rebuilt to keep the new
-- field in the history. Never edit once shipped.
ALTER TABLE disclosures ADD COLUMN public_numbers TEXT;

DROP TRIGGER disclosures_versions;
CREATE TRIGGER disclosures_versions AFTER UPDATE ON disclosures WHEN OLD.rev != NEW.rev BEGIN
  INSERT INTO record_versions (kind, record_id, rev, fields, versions, origins, base_hlc, created_origin, updated_by, updated_at, received_at)
    SELECT 'disclosure', OLD.id, OLD.rev, json_object('category', OLD.category, 'title', OLD.title, 'body', OLD.body, 'attachments', json(OLD.attachments), 'publish_from', OLD.publish_from, 'publish_until', OLD.publish_until, 'reviewer', OLD.reviewer, 'status', OLD.status, 'public_numbers', json(OLD.public_numbers)), OLD.versions, OLD.origins, OLD.base_hlc, OLD.created_origin, OLD.updated_by, OLD.updated_at, OLD.received_at
    WHERE NOT EXISTS (SELECT 1 FROM record_versions WHERE kind = 'disclosure' AND record_id = OLD.id AND rev = OLD.rev);
  INSERT INTO record_versions (kind, record_id, rev, fields, versions, origins, base_hlc, created_origin, updated_by, updated_at, received_at)
    SELECT 'disclosure', NEW.id, NEW.rev, json_object('category', NEW.category, 'title', NEW.title, 'body', NEW.body, 'attachments', json(NEW.attachments), 'publish_from', NEW.publish_from, 'publish_until', NEW.publish_until, 'reviewer', NEW.reviewer, 'status', NEW.status, 'public_numbers', json(NEW.public_numbers)), NEW.versions, NEW.origins, NEW.base_hlc, NEW.created_origin, NEW.updated_by, NEW.updated_at, NEW.received_at
    WHERE NOT EXISTS (SELECT 1 FROM record_versions WHERE kind = 'disclosure' AND record_id = NEW.id AND rev = NEW.rev);
END;
