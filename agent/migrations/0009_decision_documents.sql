-- Documents the county attaches to its decision on an application: a JSON
-- list of hashes (records.go, a County field). The station fetches the
-- files in the files phase of a round (attach_decision.go) and notes them
-- in attachments as acked. Never edit once shipped.
ALTER TABLE applications ADD COLUMN decision_documents TEXT;

-- A station of the release before this one pulled decisions whose
-- documents it could not keep (it ignores a field it does not know). If
-- it holds any decided application, it reads its village's feed once more
-- from the start, so that those documents come down too: records with
-- changes still queued here are skipped as always (applypage.go), the
-- rest are the county's current state.
UPDATE meta SET value = '0' WHERE key = 'cursor'
  AND EXISTS (SELECT 1 FROM applications WHERE status IN ('accepted', 'reviewing', 'approved', 'rejected', 'returned'));
