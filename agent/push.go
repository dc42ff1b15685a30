package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"stationsync/internal/failpoint"
	"stationsync/internal/hlc"
	"stationsync/syncproto"
)

// Batch sizes when Config.BatchSize is zero.
const (
	defaultBatch = 1000
	minBatch     = 100
	// maxBatch bounds what the county holds in memory for one push (about
	// 6 MB of visit JSON).
	maxBatch = 10000
	// linkTarget is the upload time one push aims at: long enough that a
	// 2G round trip (0.6–2 s) costs little, short enough that a dropped
	// link loses little.
	linkTarget = 8 * time.Second
	// aheadBatch is the batch size on a fast link, where one batch goes
	// ahead while the county merges the one before (push): small enough
	// that a large backlog makes several turns, so that the station and
	// the county work at the same time, large enough to compress well.
	// Measured on the 10,000-visit catch-up: 2,000 → 25,000 records/s,
	// 3,400 → 26,100, 5,000 → 23,300.
	aheadBatch = 3400
	// bigBatch is the batch size from which Better compresses visits as
	// well as Best (measured: 1 % larger at 1,000 changes, 0.4 % at 2,000,
	// 1.5 % smaller at 10,000) for a third of the CPU time or less.
	bigBatch = 2000
)

// level is the compression effort for a batch of n changes.
func (a *Agent) level(n int) syncproto.Level {
	if a.cfg.Level == syncproto.Best && n >= bigBatch {
		return syncproto.Better
	}
	return a.cfg.Level
}

// batchSize is the number of changes of the next push. Larger batches cost
// fewer round trips and compress better (zstd finds more repeats in a
// larger window), so on a fast link the backlog goes up in a few large
// pushes; on 2G a push carries about linkTarget of upload.
func (a *Agent) batchSize() int {
	switch {
	case a.cfg.BatchSize > 0:
		return a.cfg.BatchSize
	case a.upBps <= 0 || a.perChange <= 0:
		return defaultBatch
	case a.fastLink():
		return aheadBatch
	}
	return int(max(minBatch, min(maxBatch, a.linkBatch())))
}

// linkBatch is the number of changes the link carried in linkTarget at the
// last push's pace.
func (a *Agent) linkBatch() float64 { return a.upBps * linkTarget.Seconds() / a.perChange }

// fastLink reports whether the last push showed a link that would carry
// maxBatch changes within linkTarget.
func (a *Agent) fastLink() bool {
	return a.upBps > 0 && a.perChange > 0 && a.linkBatch() >= maxBatch
}

// goAhead reports whether the next batch goes ahead of the county's answer
// to the one in flight.
func (a *Agent) goAhead() bool {
	switch a.cfg.Ahead {
	case AheadAlways:
		return true
	case AheadNever:
		return false
	}
	return a.fastLink()
}

// flight is a sealed batch on its way to the county; pr and err are set
// when done is closed.
type flight struct {
	epoch   string
	rows    []outboxRow
	version int
	size    int
	sent    time.Time
	// behind: sent while an earlier batch was unanswered. The county may
	// see it first and answer that it leaves a gap; that is no loss.
	behind bool
	done   chan struct{}
	pr     *syncproto.PushResult
	err    error
}

func (f *flight) lastSeq() uint64 { return f.rows[len(f.rows)-1].c.Seq }

// send reads the queued changes after seq after (0: from the first), seals
// them and sends them in the background. It returns nil when none are
// queued.
func (a *Agent) send(ctx context.Context, c *syncproto.Client, after uint64) (*flight, error) {
	epoch, rows, err := a.Store.nextBatch(ctx, a.batchSize(), after)
	if err != nil || len(rows) == 0 {
		// Changes of an older epoch (before a rotation) would be stuck:
		// there are none, since rotation renumbers them all.
		return nil, err
	}
	village, err := getMeta(ctx, a.Store.db.R, metaVillage)
	if err != nil {
		return nil, err
	}
	pending, _ := a.Store.Pending(ctx)
	b := &syncproto.Batch{
		Version: c.Speaks(), Station: c.Station, Epoch: epoch, Village: village,
		SentHLC: uint64(a.Store.Clock().Now()), Pending: pending, AgentVersion: Version,
		Changes: make([]syncproto.Change, len(rows)),
	}
	for i := range rows {
		b.Changes[i] = rows[i].c
	}
	env, err := syncproto.SealBatch(b, a.key, a.level(len(rows)))
	if err != nil {
		return nil, fmt.Errorf("seal batch: %w", err)
	}
	f := &flight{epoch: epoch, rows: rows, version: b.Version, size: len(env), sent: time.Now(), behind: after > 0, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		f.pr, f.err = c.Push(ctx, env)
	}()
	return f, nil
}

// acceptable reports whether f's answer may acknowledge its changes: it
// names f's epoch, and the county holds no change of it this database
// never made.
func (a *Agent) acceptable(ctx context.Context, f *flight) (bool, error) {
	if f.err != nil || f.pr.Epoch != f.epoch {
		return false, nil
	}
	last, err := a.Store.maxSeq(ctx)
	return err == nil && f.pr.HWM <= last, err
}

// push sends the queued changes until the county has acknowledged all of
// them. On a fast link one batch goes ahead: the next is read, sealed and
// sent while the county merges the one before, and the station saves an
// answer while the county merges the next, so that the two sides work at
// the same time instead of taking turns.
func (a *Agent) push(ctx context.Context, c *syncproto.Client, res *SyncResult) error {
	var ahead *flight
	defer func() {
		// Nothing is left running when the round ends; an unread answer
		// acknowledges nothing and its changes stay queued.
		if ahead != nil {
			<-ahead.done
		}
	}()
	for {
		cur := ahead
		ahead = nil
		if cur == nil {
			f, err := a.send(ctx, c, 0)
			if err != nil || f == nil {
				return err
			}
			cur = f
		}
		if a.goAhead() {
			f, err := a.send(ctx, c, cur.lastSeq())
			if err != nil {
				<-cur.done
				return err
			}
			ahead = f
		}
		<-cur.done
		if ahead != nil {
			ok, err := a.acceptable(ctx, cur)
			if err != nil {
				return err
			}
			if !ok {
				// Whatever this answer leads to (a new epoch, a batch sealed
				// again, the end of the round), the batch behind it is
				// settled first: acknowledged if the county took it,
				// dropped if not.
				<-ahead.done
				behind := ahead
				ahead = nil
				if ok, err := a.acceptable(ctx, behind); err != nil {
					return err
				} else if ok {
					if err := a.acknowledge(ctx, behind, res); err != nil {
						return err
					}
				}
			}
		}
		if err := a.answered(ctx, c, cur, res); err != nil {
			return err
		}
	}
}

// answered deals with the county's answer to f.
func (a *Agent) answered(ctx context.Context, c *syncproto.Client, f *flight, res *SyncResult) error {
	err := f.err
	if err == nil && !f.behind {
		// A busy county is not a slow link: without its own time taken
		// out, a county merging other stations' backlogs made every
		// station fall back to small batches, one at a time.
		link := time.Since(f.sent) - time.Duration(f.pr.ServerMs)*time.Millisecond
		a.upBps = float64(f.size) / max(link.Seconds(), 1e-3)
		a.perChange = float64(f.size) / float64(len(f.rows))
	}
	if syncproto.IsVersionMismatch(err) && c.Speaks() != f.version {
		// A county not upgraded yet: the batch is sealed again in its
		// version.
		return nil
	}
	var pe *syncproto.Error
	if errors.As(err, &pe) && pe.Code == syncproto.CodeEpochReused {
		// This database was restored from an older copy and reused seqs
		// for new changes. The county verified the changes up to HWM
		// as its own; everything after is renumbered and sent anew.
		if err := a.Store.dropThrough(ctx, f.epoch, pe.HWM); err != nil {
			return err
		}
		ne, err := a.Store.rotateEpoch(ctx)
		if err != nil {
			return err
		}
		a.logger.Warn("station database was restored from an older copy; changes renumbered under a new epoch", "old", f.epoch, "new", ne, "agreed_hwm", pe.HWM)
		return nil
	}
	if errors.As(err, &pe) && pe.Code == syncproto.CodeGap {
		if f.behind {
			// It reached the county before the batch in front of it; it
			// goes again after that one.
			return nil
		}
		return a.handleGap(ctx, pe.HWM, f.rows[0].c.Seq)
	}
	if err != nil {
		return err
	}
	failpoint.Inject(failpoint.AgentAfterAnswerRead)
	if f.pr.Epoch != f.epoch {
		return fmt.Errorf("push: answer names epoch %q, sent %q", f.pr.Epoch, f.epoch)
	}
	last, err := a.Store.maxSeq(ctx)
	if err != nil {
		return err
	}
	if f.pr.HWM > last {
		// The county holds changes of this epoch this database never
		// made: it was restored from an older copy. Acknowledging now
		// would drop new changes as "duplicates".
		ne, err := a.Store.rotateEpoch(ctx)
		if err != nil {
			return err
		}
		a.logger.Warn("station database was restored from an older copy; changes renumbered under a new epoch", "old", f.epoch, "new", ne, "county_hwm", f.pr.HWM)
		return nil
	}
	return a.acknowledge(ctx, f, res)
}

// acknowledge saves an acceptable answer: the changes it names leave the
// outbox.
func (a *Agent) acknowledge(ctx context.Context, f *flight, res *SyncResult) error {
	pr := f.pr
	if pr.ServerHLC != 0 {
		a.Store.Clock().Observe(hlc.Timestamp(min(pr.ServerHLC, uint64(hlc.FromTime(a.Store.Clock().Physical().Add(syncproto.SkewWindow))))))
	}
	n, err := a.Store.ack(ctx, f.epoch, f.rows, pr)
	if err != nil {
		return err
	}
	failpoint.Inject(failpoint.AgentAfterAckSaved)
	for _, r := range pr.Results {
		if r.Status == syncproto.Rejected {
			res.Rejected++
			a.logger.Warn("county rejected a change", "seq", r.Seq, "code", r.Code, "reason", r.Reason)
		}
	}
	res.Pushed += n
	if n == 0 {
		return errors.New("push: the county's answer acknowledged no change")
	}
	return nil
}

// handleGap deals with a county whose high-water mark is below the first
// change still queued here.
//
// If the station still holds change hwm+1 it simply resumes there (a
// reordered delivery). If not, the county lost changes it had acknowledged
// (its database was restored from an older copy): the station queues its
// whole state again under a new epoch, so that what the county lost comes
// back instead of the station waiting forever.
func (a *Agent) handleGap(ctx context.Context, hwm, first uint64) error {
	if hwm+1 >= first {
		return fmt.Errorf("push: county expects change %d, station sent from %d", hwm+1, first)
	}
	n, err := a.Store.requeueAll(ctx)
	if err != nil {
		return err
	}
	a.logger.Error("county lost acknowledged changes (restored from an older copy?); the station's records are sent again", "county_hwm", hwm, "station_next", first, "requeued", n)
	return nil
}
