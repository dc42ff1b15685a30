package server

import (
	"database/sql"
	"time"
)

// The store's side of the metrics: each group commit (push.go) reports
// what it wrote and what it cost to an observer, a small interface the
// metrics implement, so the merge code holds no metrics of its own.

// GroupCommit is one group commit of pushes.
type GroupCommit struct {
	Pushes, Changes int
	// Conflicts are the field conflicts the merge recorded (counted only
	// when the commit succeeded).
	Conflicts int
	// Merge is the time from the transaction's start to the last write;
	// Commit from there to the commit's end (the fsyncs).
	Merge, Commit time.Duration
	Err           error
}

// PushObserver receives the store's group commits.
type PushObserver interface {
	GroupCommitted(GroupCommit)
}

// SetPushObserver makes o receive the group commits from now on; call it
// before serving.
func (s *CountyStore) SetPushObserver(o PushObserver) { s.obs = o }

// observeGroup reports the group commit of live, started at start, its
// writes done at merged (zero if it failed before), ending with err.
func (s *CountyStore) observeGroup(live []*pushReq, start, merged time.Time, err error) {
	if s.obs == nil {
		return
	}
	end := time.Now()
	g := GroupCommit{Err: err}
	if merged.IsZero() {
		merged = end
	}
	g.Merge, g.Commit = merged.Sub(start), end.Sub(merged)
	for _, r := range live {
		if r.b == nil {
			continue // a station's contact (Touch), no push
		}
		g.Pushes++
		g.Changes += len(r.b.Changes)
		if err == nil && r.err == nil {
			g.Conflicts += r.conflicts
		}
	}
	if g.Pushes == 0 {
		return // touches only: no group commit of pushes
	}
	s.obs.GroupCommitted(g)
}

// PushQueue is how many pushes wait for the writer (not the touches
// queued beside them).
func (s *CountyStore) PushQueue() int {
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	n := 0
	for _, r := range s.queue {
		if r.b != nil {
			n++
		}
	}
	return n
}

// Pools are the store's writer connection and reader pool (the metrics
// show their waits).
func (s *CountyStore) Pools() (writer, reader *sql.DB) { return s.db.W, s.db.R }
