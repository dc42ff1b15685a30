-- Eviction of files the county holds (attach_evict.go) and fetching them
-- back on demand (attach_fetch.go). Never edit once shipped.
--
-- A new state, evicted: the county acknowledged the file, and after the
-- configured time (config.json evict_files_after_days) the station took
-- its copy off the disk. The state is written before the file is removed,
-- so a crash between leaves a file the state already calls evicted (the
-- next pass removes it), never an acked row without its file.
-- evicted_at: when. fetched_at: when the file last came back from the
-- county; the time to eviction counts from it again.
ALTER TABLE attachments ADD COLUMN evicted_at INTEGER;
ALTER TABLE attachments ADD COLUMN fetched_at INTEGER;
CREATE INDEX attachments_acked ON attachments(state, acked_at);
