package agent

import (
	"context"
	"errors"
	"time"
)

// Documents the county attached to its decisions (PROTOCOL.md §15.4): an
// application's decision_documents, a County field, names them. The files
// phase of a round, after the station's own files have gone up, fetches
// those this PC has never held (FetchFile, §15.5: resumable, checked
// against the hash) and notes them as acked, so that eviction and the
// pages treat them like any file the county holds. One evicted later is
// not fetched again by the round: the page brings it back on demand.

// decisionField is the application field naming the county's documents.
const decisionField = "decision_documents"

// decisionFetchBudget bounds one round's fetching: decisions go on coming
// down in the next round while a large scan crawls over 2G; what came is
// kept and the next round goes on from there.
const decisionFetchBudget = 5 * time.Minute

type wantedFile struct{ record, hash string }

// missingDecisionFiles lists the decision documents this PC never held
// (no row in attachments) or lost (missing), oldest application first.
func (s *Store) missingDecisionFiles(ctx context.Context) ([]wantedFile, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT a.id, j.value FROM applications a,
		json_each(CASE WHEN json_valid(a.decision_documents) THEN CASE json_type(a.decision_documents) WHEN 'array' THEN a.decision_documents END END) j
		WHERE a.decision_documents IS NOT NULL AND j.type = 'text' AND length(j.value) = 64
		AND NOT EXISTS (SELECT 1 FROM attachments t WHERE t.hash = j.value AND t.state != 'missing')
		ORDER BY a.updated_at, a.id, j.key`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []wantedFile
	for rows.Next() {
		var w wantedFile
		if err := rows.Scan(&w.record, &w.hash); err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// fetchDecisionFiles brings down the decision documents this PC lacks. It
// fails the round for nothing: a file that cannot come now (the link
// dropped, the county lost it) waits for the next round, and the page says
// 正在从县里下载 meanwhile.
func (a *Agent) fetchDecisionFiles(ctx context.Context, res *SyncResult) {
	todo, err := a.Store.missingDecisionFiles(ctx)
	if err != nil {
		a.logger.Error("decision documents to fetch", "err", err)
		return
	}
	if len(todo) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, decisionFetchBudget)
	defer cancel()
	for _, w := range todo {
		err := a.FetchFile(ctx, w.record, w.hash)
		switch {
		case err == nil:
			res.Fetched++
		case errors.Is(err, ErrFetchOffline) || ctx.Err() != nil:
			a.logger.Info("decision documents wait for the next round", "left", len(todo)-res.Fetched, "err", err)
			return
		default:
			a.logger.Warn("decision document not fetched", "application", w.record, "hash", w.hash, "err", err)
		}
	}
	if res.Fetched > 0 {
		a.logger.Info("decision documents fetched from the county", "files", res.Fetched)
	}
}
