-- Attachments (PROTOCOL.md §15). The bytes live in the blob store beside
-- the database (server/files.go), named by their SHA-256; the database
-- knows which records name which file, and which files arrived.
-- Never edit once shipped.

-- Which records name which file: a visit's photos, an application's
-- documents, a disclosure's attachments. Kept by the triggers below from
-- the records themselves, so the merge needs no step of its own and the
-- association can never disagree with the record. A station may send only
-- files that a record of its own village names; staff see a file when
-- they may see a record that names it.
CREATE TABLE record_files (
  hash      TEXT NOT NULL,
  kind      TEXT NOT NULL,
  record_id TEXT NOT NULL,
  village   TEXT NOT NULL,
  PRIMARY KEY (hash, kind, record_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX record_files_record ON record_files(kind, record_id);
CREATE INDEX record_files_village ON record_files(village, hash);

-- Files that arrived whole and verified: who sent each first, and when.
-- type is what the county read in the file's first bytes.
CREATE TABLE files (
  hash        TEXT PRIMARY KEY,
  size        INTEGER NOT NULL,
  type        TEXT NOT NULL,
  station     TEXT NOT NULL,
  received_at INTEGER NOT NULL
) STRICT;

-- A value that is not a JSON list of hashes names nothing (the merge
-- validates what stations send; the guard keeps a trigger from ever
-- failing a write): list(x) is written out as a CASE, which SQLite
-- evaluates lazily, so json_type never sees invalid JSON.
INSERT OR IGNORE INTO record_files (hash, kind, record_id, village)
  SELECT j.value, 'visit', t.id, t.village FROM visits t, json_each(CASE WHEN json_valid(t.photos) THEN CASE json_type(t.photos) WHEN 'array' THEN t.photos END END) j
  WHERE t.photos IS NOT NULL AND j.type = 'text' AND length(j.value) = 64;
INSERT OR IGNORE INTO record_files (hash, kind, record_id, village)
  SELECT j.value, 'application', t.id, t.village FROM applications t, json_each(CASE WHEN json_valid(t.documents) THEN CASE json_type(t.documents) WHEN 'array' THEN t.documents END END) j
  WHERE t.documents IS NOT NULL AND j.type = 'text' AND length(j.value) = 64;
INSERT OR IGNORE INTO record_files (hash, kind, record_id, village)
  SELECT j.value, 'disclosure', t.id, t.village FROM disclosures t, json_each(CASE WHEN json_valid(t.attachments) THEN CASE json_type(t.attachments) WHEN 'array' THEN t.attachments END END) j
  WHERE t.attachments IS NOT NULL AND j.type = 'text' AND length(j.value) = 64;

CREATE TRIGGER visits_files_insert AFTER INSERT ON visits WHEN NEW.photos IS NOT NULL BEGIN
  INSERT OR IGNORE INTO record_files (hash, kind, record_id, village)
    SELECT value, 'visit', NEW.id, NEW.village FROM json_each(CASE WHEN json_valid(NEW.photos) THEN CASE json_type(NEW.photos) WHEN 'array' THEN NEW.photos END END)
    WHERE type = 'text' AND length(value) = 64;
END;
CREATE TRIGGER visits_files_update AFTER UPDATE OF photos, village ON visits
WHEN OLD.photos IS NOT NEW.photos OR OLD.village IS NOT NEW.village BEGIN
  DELETE FROM record_files WHERE kind = 'visit' AND record_id = OLD.id;
  INSERT OR IGNORE INTO record_files (hash, kind, record_id, village)
    SELECT value, 'visit', NEW.id, NEW.village FROM json_each(CASE WHEN json_valid(NEW.photos) THEN CASE json_type(NEW.photos) WHEN 'array' THEN NEW.photos END END)
    WHERE type = 'text' AND length(value) = 64;
END;
CREATE TRIGGER visits_files_delete AFTER DELETE ON visits BEGIN
  DELETE FROM record_files WHERE kind = 'visit' AND record_id = OLD.id;
END;

CREATE TRIGGER applications_files_insert AFTER INSERT ON applications WHEN NEW.documents IS NOT NULL BEGIN
  INSERT OR IGNORE INTO record_files (hash, kind, record_id, village)
    SELECT value, 'application', NEW.id, NEW.village FROM json_each(CASE WHEN json_valid(NEW.documents) THEN CASE json_type(NEW.documents) WHEN 'array' THEN NEW.documents END END)
    WHERE type = 'text' AND length(value) = 64;
END;
CREATE TRIGGER applications_files_update AFTER UPDATE OF documents, village ON applications
WHEN OLD.documents IS NOT NEW.documents OR OLD.village IS NOT NEW.village BEGIN
  DELETE FROM record_files WHERE kind = 'application' AND record_id = OLD.id;
  INSERT OR IGNORE INTO record_files (hash, kind, record_id, village)
    SELECT value, 'application', NEW.id, NEW.village FROM json_each(CASE WHEN json_valid(NEW.documents) THEN CASE json_type(NEW.documents) WHEN 'array' THEN NEW.documents END END)
    WHERE type = 'text' AND length(value) = 64;
END;
CREATE TRIGGER applications_files_delete AFTER DELETE ON applications BEGIN
  DELETE FROM record_files WHERE kind = 'application' AND record_id = OLD.id;
END;

CREATE TRIGGER disclosures_files_insert AFTER INSERT ON disclosures WHEN NEW.attachments IS NOT NULL BEGIN
  INSERT OR IGNORE INTO record_files (hash, kind, record_id, village)
    SELECT value, 'disclosure', NEW.id, NEW.village FROM json_each(CASE WHEN json_valid(NEW.attachments) THEN CASE json_type(NEW.attachments) WHEN 'array' THEN NEW.attachments END END)
    WHERE type = 'text' AND length(value) = 64;
END;
CREATE TRIGGER disclosures_files_update AFTER UPDATE OF attachments, village ON disclosures
WHEN OLD.attachments IS NOT NEW.attachments OR OLD.village IS NOT NEW.village BEGIN
  DELETE FROM record_files WHERE kind = 'disclosure' AND record_id = OLD.id;
  INSERT OR IGNORE INTO record_files (hash, kind, record_id, village)
    SELECT value, 'disclosure', NEW.id, NEW.village FROM json_each(CASE WHEN json_valid(NEW.attachments) THEN CASE json_type(NEW.attachments) WHEN 'array' THEN NEW.attachments END END)
    WHERE type = 'text' AND length(value) = 64;
END;
CREATE TRIGGER disclosures_files_delete AFTER DELETE ON disclosures BEGIN
  DELETE FROM record_files WHERE kind = 'disclosure' AND record_id = OLD.id;
END;
