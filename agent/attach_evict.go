package agent

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Eviction keeps the station's disk bounded: a file the county has
// acknowledged (state acked, acked_at) leaves the station's disk once
// EvictAfter has passed, and comes back from the county when a page asks
// for it (attach_fetch.go). Only acked files go: a pending or refused one,
// or one whose record still has a change in the outbox, stays.
//
// The order makes a crash harmless: the rows are marked evicted in one
// transaction first, the files removed after. A crash between leaves
// files whose rows already say evicted — the next pass removes them — and
// never a row that says the file is here when it is not.

// FileEvicted is the state of a file the county holds and the station no
// longer keeps: fetched again on demand.
const FileEvicted = "evicted"

// DefaultEvictAfter is how long an acknowledged file stays on the station
// unless config.json says otherwise.
const DefaultEvictAfter = 30 * 24 * time.Hour

// evictBatch bounds the rows one transaction marks: a long write would
// hold up a cadre saving a visit.
const evictBatch = 500

// evictEvery is how often the running service looks for files to evict.
const evictEvery = time.Hour

// evictAfter is the configured time before an acknowledged file leaves
// the disk; 0 means never.
func (a *Agent) evictAfter() time.Duration {
	if v := a.live.evictAfter.Load(); v != 0 {
		return max(time.Duration(v), 0)
	}
	switch d := a.cfg.Attach.EvictAfter; {
	case d < 0:
		return 0
	case d == 0:
		return DefaultEvictAfter
	default:
		return d
	}
}

// EvictResult is what one eviction pass did.
type EvictResult struct {
	Files int   // files taken off the disk
	Bytes int64 // their size
}

// EvictFiles takes off the station's disk the files the county
// acknowledged longer ago than the configured time (or fetched back
// longer ago). It is safe to run beside a sync round and repeated.
func (a *Agent) EvictFiles(ctx context.Context) (EvictResult, error) {
	var res EvictResult
	after := a.evictAfter()
	if after <= 0 {
		return res, nil
	}
	return a.evictBefore(ctx, a.Store.clock.Physical().Add(-after))
}

func (a *Agent) evictBefore(ctx context.Context, cutoff time.Time) (EvictResult, error) {
	var res EvictResult
	if err := a.Store.guardWrite(); err != nil {
		return res, err
	}
	bs, err := a.blobs()
	if err != nil {
		return res, err
	}
	// One at a time with fetching: a file fetched back while its row is
	// being marked must not be removed under it.
	a.files.evictMu.Lock()
	defer a.files.evictMu.Unlock()
	if err := a.sweepEvicted(ctx); err != nil {
		return res, err
	}
	for {
		marked, size, err := a.Store.markEvicted(ctx, cutoff.UnixMilli())
		if err != nil {
			return res, err
		}
		for _, h := range marked {
			if err := bs.Remove(h); err != nil {
				// Windows keeps a file being read; the next pass removes it.
				a.logger.Warn("evicted attachment not removed yet", "hash", h, "err", err)
				a.files.unswept = true
			}
		}
		res.Files += len(marked)
		res.Bytes += size
		if len(marked) < evictBatch {
			break
		}
	}
	if res.Files > 0 {
		a.logger.Info("attachments the county holds taken off this PC", "files", res.Files, "bytes", res.Bytes, "acked_before", cutoff.Format(time.RFC3339))
	}
	return res, nil
}

// sweepEvicted removes the files of rows marked evicted that are still on
// the disk: once after a start (a crash between the mark and the removal)
// and after a removal failed.
func (a *Agent) sweepEvicted(ctx context.Context) error {
	if a.files.swept && !a.files.unswept {
		return nil
	}
	bs, err := a.blobs()
	if err != nil {
		return err
	}
	rows, err := a.Store.db.R.QueryContext(ctx, `SELECT hash FROM attachments WHERE state = 'evicted'`)
	if err != nil {
		return fmt.Errorf("evicted attachments: %w", err)
	}
	var hashes []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			rows.Close()
			return err
		}
		hashes = append(hashes, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	unswept := false
	for _, h := range hashes {
		if ok, err := bs.Has(h); err == nil && ok {
			if err := bs.Remove(h); err != nil {
				unswept = true
			}
		}
	}
	a.files.swept, a.files.unswept = true, unswept
	return nil
}

// markEvicted marks up to evictBatch acknowledged files, acknowledged or
// fetched back before cutoff (Unix ms), as evicted, and returns their
// hashes and total size. A file whose record (the one it was attached to)
// still has a change queued stays.
func (s *Store) markEvicted(ctx context.Context, cutoff int64) ([]string, int64, error) {
	var hashes []string
	var total int64
	now := s.clock.Physical().UnixMilli()
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		hashes, total = nil, 0
		rows, err := tx.QueryContext(ctx, `UPDATE attachments SET state = 'evicted', evicted_at = ?1
			WHERE hash IN (SELECT hash FROM attachments a WHERE state = 'acked' AND coalesce(fetched_at, acked_at) < ?2
				AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.kind = a.kind AND o.record_id = a.record_id)
				ORDER BY acked_at LIMIT ?3)
			RETURNING hash, size`, now, cutoff, evictBatch)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h string
			var n int64
			if err := rows.Scan(&h, &n); err != nil {
				return err
			}
			hashes, total = append(hashes, h), total+n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, s.noteWrite(fmt.Errorf("mark attachments evicted: %w", err))
	}
	return hashes, total, nil
}

// evictLoop runs an eviction pass at the start and every evictEvery until
// ctx ends.
func (a *Agent) evictLoop(ctx context.Context) {
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := a.EvictFiles(ctx); err != nil && ctx.Err() == nil {
			a.logger.Error("attachment eviction", "err", err)
		}
		t.Reset(evictEvery)
	}
}

// DiskUse is what the pages say of the station's attachments on disk.
type DiskUse struct {
	Held      int   // files on this PC
	HeldBytes int64 // their bytes
	Evicted   int   // files the county holds that this PC no longer keeps
	// EvictedBytes is what eviction freed.
	EvictedBytes int64
	// Free is the free space of the data folder's disk; -1 unknown.
	Free int64
	// EvictAfter is the configured time; 0 never.
	EvictAfter time.Duration
}

// DiskUse adds up the station's attachments and the disk's free space.
// It reads the attachments table, not the folder: a page must stay fast.
func (a *Agent) DiskUse(ctx context.Context) (DiskUse, error) {
	u := DiskUse{Free: -1, EvictAfter: a.evictAfter()}
	err := a.Store.db.R.QueryRowContext(ctx, `SELECT
		count(*) FILTER (WHERE state NOT IN ('evicted', 'missing')), coalesce(sum(size) FILTER (WHERE state NOT IN ('evicted', 'missing')), 0),
		count(*) FILTER (WHERE state = 'evicted'), coalesce(sum(size) FILTER (WHERE state = 'evicted'), 0)
		FROM attachments`).Scan(&u.Held, &u.HeldBytes, &u.Evicted, &u.EvictedBytes)
	if err != nil {
		return u, fmt.Errorf("disk use: %w", err)
	}
	if free, _, err := diskState(a.cfg.DataDir); err == nil {
		u.Free = int64(min(free, 1<<62))
	}
	return u, nil
}
