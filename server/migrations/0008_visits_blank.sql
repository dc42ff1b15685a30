-- Visits that record nothing, neither a situation nor measures: older
-- stations saved the visit form untouched. The follow-up lists and the
-- persons' last visit do not count them. This partial index holds only
-- them (nearly nothing, and nothing to write for a visit with content),
-- so that a person's last real visit is read from visits_person as before
-- unless the person has a blank one (lastVisitSQL in server/query.go).
-- Queries must repeat its WHERE terms in so many words. Never edit once
-- shipped.
CREATE INDEX visits_blank ON visits(person_id, visited_on)
  WHERE trim(coalesce(situation, ''), char(32, 9, 10, 13, 12288)) = ''
    AND trim(coalesce(measures, ''), char(32, 9, 10, 13, 12288)) = '';
