-- The county's revision each record's state matches, beside the records
-- instead of in their rows (absent: 0, never acknowledged). An answer to a
-- catch-up names thousands of records; writing the revision into each wide
-- row rewrote every page of them, the largest part of saving the answer.
CREATE TABLE server_revs (
  kind TEXT NOT NULL,
  id   TEXT NOT NULL,
  rev  INTEGER NOT NULL,
  PRIMARY KEY (kind, id)
) STRICT, WITHOUT ROWID;

INSERT INTO server_revs SELECT 'person', id, server_rev FROM persons WHERE server_rev > 0;
INSERT INTO server_revs SELECT 'visit', id, server_rev FROM visits WHERE server_rev > 0;
INSERT INTO server_revs SELECT 'application', id, server_rev FROM applications WHERE server_rev > 0;
INSERT INTO server_revs SELECT 'disclosure', id, server_rev FROM disclosures WHERE server_rev > 0;

ALTER TABLE persons DROP COLUMN server_rev;
ALTER TABLE visits DROP COLUMN server_rev;
ALTER TABLE applications DROP COLUMN server_rev;
ALTER TABLE disclosures DROP COLUMN server_rev;
