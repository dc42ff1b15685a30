-- The station's own last sync failure, reported with its next pull, for the
-- stations page ("" while its last round succeeded).
ALTER TABLE stations ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE stations ADD COLUMN last_error_at INTEGER;
