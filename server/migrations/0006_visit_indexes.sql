-- Fewer indexes on visits, for ingest. Every merged visit puts an entry
-- into each index on visits, and an index keyed by date, person or risk
-- takes it at a random place: a batch of 1,000 visits dirtied most pages
-- of every such index, and the commit wrote them all to the WAL. With
-- five of them a visit cost the county's single writer about 25 µs; with
-- the two kept here (the person's visits, and visits by day) and a
-- partial index that holds only the 15 % of visits at risk, about 17 µs
-- (BenchmarkServerIngest). The pages that read the dropped indexes now
-- read these (server/query.go); BenchmarkCountyPages holds them to their
-- 300 ms at a million visits. Never edit once shipped.
--
-- (village, visited_on): a village's visits by date are read from
-- visits_day, which carries the village.
DROP INDEX visits_village;
-- (visited_on, village, person_id): coverage counts people through
-- visits_person instead, so the day index drops its widest column.
DROP INDEX visits_date;
-- (risk, visited_on): only visits at risk are looked up by risk.
DROP INDEX visits_risk;
-- (month, township): the report groups visits_day's days instead.
DROP INDEX visits_month_town;

CREATE INDEX visits_day ON visits(visited_on, village);
-- Queries that want it must say risk <> '正常' in so many words: SQLite
-- uses a partial index only when the query repeats its WHERE term.
CREATE INDEX visits_flagged ON visits(risk, visited_on) WHERE risk <> '正常';
