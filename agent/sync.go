package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"stationsync/internal/failpoint"
	"stationsync/syncproto"
)

func (a *Agent) newClient(serverURL, station string, key ed25519.PrivateKey) *syncproto.Client {
	c := syncproto.NewClientIdle(serverURL, a.cfg.IdleTimeout)
	c.Station, c.Key, c.Logger = station, key, a.logger.With("subsystem", "http")
	c.UsePin(a.pin(), a.learnPin) // pin.go
	if failpoint.Enabled {
		c.HTTP.Transport = failpointTransport{c.HTTP.Transport}
	}
	clock := a.Store.Clock()
	c.Now = clock.Physical
	c.OnServerTime = func(server time.Time, rtt time.Duration) {
		// The server stamped its answer about half a round trip ago.
		clock.SetOffset(server.Add(rtt / 2).Sub(a.cfg.Now()))
	}
	return c
}

func (a *Agent) syncClient(ctx context.Context) (*syncproto.Client, error) {
	if !a.Enrolled(ctx) {
		return nil, ErrNotEnrolled
	}
	// A reloaded config may have moved the county to a new address.
	server, err := getMeta(ctx, a.Store.db.R, metaServerURL)
	if err != nil {
		return nil, err
	}
	if a.client == nil || a.client.BaseURL != server {
		station, err := getMeta(ctx, a.Store.db.R, metaStationID)
		if err != nil {
			return nil, err
		}
		a.client = a.newClient(server, station, a.key)
	}
	return a.client, nil
}

// ErrNotEnrolled says the station has no identity yet; records are kept
// and go up once it enrolls.
var ErrNotEnrolled = errors.New("站点尚未注册：可以先离线录入，联网后再完成注册")

// Nudge asks for a sync round soon, e.g. right after a local change.
func (a *Agent) Nudge() {
	select {
	case a.nudge <- struct{}{}:
	default:
	}
}

// SyncResult summarises one round.
type SyncResult struct {
	Pushed, Rejected, Pulled, Skipped int
	Files                             int // attachments the county acknowledged
	Fetched                           int // decision documents fetched from the county
}

// SyncOnce runs one round: push everything queued, then pull the county's
// feed. It returns nil only when every queued change was acknowledged and
// the feed was read to its end.
func (a *Agent) SyncOnce(ctx context.Context) (SyncResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	res, err := a.syncOnce(ctx)
	now := time.Now().UnixMilli()
	meta := putMeta(putMeta(metaValues{}, metaLastAttemptAt, now), metaClockOffset, a.Store.Clock().Offset().Milliseconds())
	if err != nil {
		putMeta(putMeta(meta, metaLastError, err.Error()), metaLastErrorAt, now)
	} else {
		putMeta(putMeta(meta, metaLastOKAt, now), metaLastError, "")
	}
	if merr := a.Store.SetMeta(context.Background(), meta); merr != nil && err == nil {
		err = merr
	}
	return res, err
}

func (a *Agent) syncOnce(ctx context.Context) (SyncResult, error) {
	var res SyncResult
	if err := a.Store.checkSyncState(ctx); err != nil {
		return res, err
	}
	c, err := a.syncClient(ctx)
	if err != nil {
		return res, err
	}
	if unconfirmed, err := getMeta(ctx, a.Store.db.R, metaUnconfirmed); err != nil {
		return res, err
	} else if unconfirmed != "" {
		// Neither up nor down until a person has confirmed the county
		// (confirm.go): a wrong county's feed has no place here either.
		return res, ErrUnconfirmed
	}
	if err := a.push(ctx, c, &res); err != nil {
		return res, err
	}
	if err := a.pull(ctx, c, &res); err != nil {
		return res, err
	}
	// Files after the records, never before them (attach_upload.go).
	if err := a.uploadFiles(ctx, c, &res); err != nil {
		return res, err
	}
	// Then what the county's decisions carry down (attach_decision.go).
	a.fetchDecisionFiles(ctx, &res)
	// A clock that ran far ahead before the station ever heard from the
	// county stamped its changes in the future. Once all of them are
	// acknowledged nothing depends on those values, and the clock may
	// come back to the county's time.
	if n, _ := a.Store.Pending(ctx); n == 0 {
		clock := a.Store.Clock()
		if clock.Last().WallMs() > clock.Physical().Add(syncproto.SkewWindow).UnixMilli() {
			a.logger.Warn("station clock was ahead; HLC reset to the county's time", "last", clock.Last())
			clock.Reset()
			a.Store.SetMeta(ctx, putMeta(metaValues{}, metaHLC, uint64(clock.Last())))
		}
	}
	return res, nil
}

func (a *Agent) pull(ctx context.Context, c *syncproto.Client, res *SyncResult) error {
	for {
		// A cursor read as zero would pull the whole feed again, over
		// records with changes the county has not seen yet.
		cursor, err := getMeta(ctx, a.Store.db.R, metaCursor)
		if err != nil {
			return err
		}
		feedEpoch, err := getMeta(ctx, a.Store.db.R, metaFeedEpoch)
		if err != nil {
			return err
		}
		pending, err := a.Store.Pending(ctx)
		if err != nil {
			return err
		}
		// The previous round's failure, if any, goes to the county's health
		// page; it is cleared by this round's success.
		if c.LastError, err = getMeta(ctx, a.Store.db.R, metaLastError); err != nil {
			return err
		}
		p, err := c.Pull(ctx, cursor, feedEpoch, a.cfg.PageSize, pending, Version)
		var pe *syncproto.Error
		if errors.As(err, &pe) && pe.Code == syncproto.CodeClockSkew {
			// The answer carried the county's time; the client has taken the
			// new offset, so one more try is signed with a corrected clock.
			p, err = c.Pull(ctx, cursor, feedEpoch, a.cfg.PageSize, pending, Version)
		}
		if err != nil {
			return err
		}
		applied, skipped, err := a.Store.applyPage(ctx, p)
		if err != nil {
			return fmt.Errorf("apply pulled page: %w", err)
		}
		failpoint.Inject(failpoint.AgentAfterPageApplied)
		res.Pulled += applied
		res.Skipped += skipped
		if !p.More {
			return nil
		}
		// A 紧急 visit saved during a long catch-up goes up before the next
		// page instead of after the last. It cannot overtake changes queued
		// before it: the county takes seqs strictly in order (PROTOCOL §3)
		// and a visit may name a person still queued, so push sends the
		// outbox from its lowest seq as always; what it skips is the wait.
		if a.Store.UrgentPending(ctx) > 0 {
			if err := a.push(ctx, c, res); err != nil {
				return err
			}
		}
	}
}

// Run syncs until ctx ends or the agent is closed: after each local change
// (Nudge), every SyncInterval while all is well, and with capped, jittered
// backoff while the link or the county is down, so that the county's
// stations do not all return at the same second.
func (a *Agent) Run(ctx context.Context) error {
	ctx, leave, err := a.bg.Join(ctx)
	if err != nil {
		return fmt.Errorf("agent: run after close: %w", err)
	}
	defer leave(nil)
	// The outbox watch lives as long as the loop: Run waits for it.
	wctx, stopWatch := context.WithCancel(ctx)
	var watch sync.WaitGroup
	watch.Go(func() { a.watchOutbox(wctx) })
	watch.Go(func() { a.evictLoop(wctx) }) // attach_evict.go
	defer func() {
		stopWatch()
		watch.Wait()
	}()
	failures := 0
	wait := time.Duration(0)
	a.sealKeptCode(ctx) // enrollater.go: a code an older release kept in clear
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-a.nudge:
			// Also while failing: a cadre saving a change is rare, and an
			// urgent visit should try the link at once.
			t.Stop()
		case <-t.C:
		}
		a.loadKeyEnrolledElsewhere(ctx) // config.go
		if !a.Enrolled(ctx) && a.enrollPending(ctx) {
			a.logger.Info("station enrolled from a kept enrolment")
		}
		if !a.Enrolled(ctx) || a.Store.text(ctx, metaUnconfirmed) != "" {
			// Unconfirmed: ConfirmEnrollment nudges the loop.
			wait = a.syncInterval()
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
		res, err := a.SyncOnce(rctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			failures++
			wait = syncproto.RoundWait(failures, a.cfg.RetryCap, err)
			if failures == 1 || failures%20 == 0 {
				a.logger.Warn("sync failed; will retry", "err", err, "failures", failures, "next", wait.Round(time.Second))
			}
			continue
		}
		if failures > 0 {
			a.logger.Info("sync recovered", "after_failures", failures)
		}
		failures = 0
		if res.Pushed > 0 || res.Pulled > 0 {
			a.logger.Info("synced", "pushed", res.Pushed, "rejected", res.Rejected, "pulled", res.Pulled)
		}
		wait = a.syncInterval()
	}
}

// watchOutbox nudges a round when the outbox grows, also when the change
// was saved by another process on this PC (the command line beside the
// service, later the installer's tools).
func (a *Agent) watchOutbox(ctx context.Context) {
	// sqlite_sequence only grows, even when the outbox empties.
	const q = `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0)`
	var last int64
	if err := a.Store.db.R.QueryRowContext(ctx, q).Scan(&last); err != nil && ctx.Err() == nil {
		a.logger.Warn("outbox not watched until it can be read", "err", err)
	}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var id int64
		if err := a.Store.db.R.QueryRowContext(ctx, q).Scan(&id); err != nil {
			continue // the round loop's own reads report a database that fails
		}
		if id > last {
			a.Nudge()
		}
		last = id
	}
}
