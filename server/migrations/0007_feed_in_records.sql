-- The feed moves into the record rows. A merged record used to be written
-- twice: its row, and its feed row (a table, its index by record and its
-- index by village and seq, and the AUTOINCREMENT counter) — about 16 % of
-- the county's time per ingested record. Each record row now carries its
-- feed position itself, and one index per table, (village, feed_seq),
-- takes new entries at the end of their village's run.
--
-- feed_seq: the record's place in its village's feed, from a county-wide
--   counter that never goes back: the county keeps it in memory under the
--   writer lock and stores its high-water mark in meta 'feed_seq' in every
--   write transaction, beside the HLC. 0: never in the feed.
-- feed_skip: the station whose view already equals this state (was
--   feed.skip_station); not always synced_station, since a rejection sends
--   the record back to the station that made the change.
-- Never edit once shipped.
ALTER TABLE persons ADD COLUMN feed_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE persons ADD COLUMN feed_skip TEXT NOT NULL DEFAULT '';
ALTER TABLE visits ADD COLUMN feed_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE visits ADD COLUMN feed_skip TEXT NOT NULL DEFAULT '';
ALTER TABLE applications ADD COLUMN feed_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE applications ADD COLUMN feed_skip TEXT NOT NULL DEFAULT '';
ALTER TABLE disclosures ADD COLUMN feed_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE disclosures ADD COLUMN feed_skip TEXT NOT NULL DEFAULT '';

UPDATE persons SET feed_seq = f.seq, feed_skip = f.skip_station
  FROM feed f WHERE f.kind = 'person' AND f.record_id = persons.id;
UPDATE visits SET feed_seq = f.seq, feed_skip = f.skip_station
  FROM feed f WHERE f.kind = 'visit' AND f.record_id = visits.id;
UPDATE applications SET feed_seq = f.seq, feed_skip = f.skip_station
  FROM feed f WHERE f.kind = 'application' AND f.record_id = applications.id;
UPDATE disclosures SET feed_seq = f.seq, feed_skip = f.skip_station
  FROM feed f WHERE f.kind = 'disclosure' AND f.record_id = disclosures.id;

-- The counter goes on from the highest seq the feed ever gave, which
-- stations may hold as their cursor, even if that row has moved since.
INSERT INTO meta (key, value)
  VALUES ('feed_seq', CAST(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'feed'), 0) AS TEXT))
  ON CONFLICT (key) DO UPDATE SET value = excluded.value;
DROP TABLE feed;

CREATE INDEX persons_feed ON persons(village, feed_seq);
CREATE INDEX visits_feed ON visits(village, feed_seq);
CREATE INDEX applications_feed ON applications(village, feed_seq);
CREATE INDEX disclosures_feed ON disclosures(village, feed_seq);
