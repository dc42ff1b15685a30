package server

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/internal/sqlitedb"
	"stationsync/syncproto"
)

// Push applies a batch. Changes at or below the epoch's high-water mark
// are duplicates and change nothing; a batch that starts beyond the next
// expected seq is refused whole (GapError) so that a station's changes
// apply strictly in order.
//
// Pushes that arrive while another is being written are written together,
// in arrival order, in one transaction (group commit): a commit writes
// every index page its changes touched, and the visits' indexes take
// entries at random places, so one commit for several stations' batches
// writes fewer pages per record than one commit each. The outcome is that
// of applying the batches one after another.
func (s *CountyStore) Push(ctx context.Context, st *Station, b *syncproto.Batch) (*syncproto.PushResult, error) {
	req := &pushReq{ctx: ctx, st: st, b: b}
	s.write(req)
	return req.res, req.err
}

// write queues req for the writer and returns once it is written (or
// failed): whoever holds the writer lock writes what is queued, so a
// request may find itself written by an earlier holder.
func (s *CountyStore) write(req *pushReq) {
	s.queueMu.Lock()
	s.queue = append(s.queue, req)
	s.queueMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for !req.done {
		s.pushGroup(s.takeGroup())
	}
}

// pushReq is a batch waiting for the writer. res, err and done are set
// under s.mu.
type pushReq struct {
	ctx  context.Context
	st   *Station
	b    *syncproto.Batch
	res  *syncproto.PushResult
	err  error
	done bool
	// conflicts is how many field conflicts the batch's merge recorded.
	conflicts int
	// touch, instead of a batch (b nil), is a station's contact (Touch)
	// written in the group.
	touch *contact
}

// changes is how many changes the request writes.
func (r *pushReq) changes() int {
	if r.b == nil {
		return 0
	}
	return len(r.b.Changes)
}

// maxGroup bounds the changes written in one group commit: past a few
// thousand the pages a commit writes per record hardly fall, while the
// wait of the first station in the group grows.
const maxGroup = 16_384

// takeGroup takes the oldest queued pushes, up to maxGroup changes (at
// least one push).
func (s *CountyStore) takeGroup() []*pushReq {
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	n, changes := 0, 0
	for n < len(s.queue) && (n == 0 || changes+s.queue[n].changes() <= maxGroup) {
		changes += s.queue[n].changes()
		n++
	}
	group := slices.Clone(s.queue[:n])
	s.queue = slices.Delete(s.queue, 0, n)
	return group
}

// pushGroup writes group in one transaction and answers each push. A push
// refused whole (a gap, reused change ids) writes nothing and does not
// affect the others; a failure of the store aborts the transaction, and
// then each push is tried alone so that one bad batch fails only itself.
// It must run under s.mu.
func (s *CountyStore) pushGroup(group []*pushReq) {
	defer func() {
		// A panic (a bug) goes on to the push handler that holds the writer
		// lock, which answers 500; the other pushes of the group must not
		// wait for an answer that never comes.
		if p := recover(); p != nil {
			for _, r := range group {
				if !r.done {
					r.res, r.err, r.done = nil, fmt.Errorf("push failed: %v", p), true
				}
			}
			panic(p)
		}
	}()
	live := group[:0:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			// The station gave up waiting; it will send the batch again.
			r.err, r.done = err, true
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	now := s.now()
	start, merged := time.Now(), time.Time{}
	err := s.db.Tx(context.WithoutCancel(live[0].ctx), func(tx *sql.Tx) error {
		if err := s.catchUpClocks(tx); err != nil { // clocks.go
			return err
		}
		for _, r := range live {
			if r.touch != nil {
				if r.err = r.touch.save(tx); r.err != nil {
					return r.err
				}
				continue
			}
			r.res, r.err = s.pushOne(tx, now, r.st, r.b, &r.conflicts)
			if r.err != nil && !refusedWhole(r.err) {
				return r.err
			}
		}
		err := s.persistClocks(tx)
		merged = time.Now()
		return err
	})
	s.observeGroup(live, start, merged, err)
	if err != nil && len(live) > 1 {
		for _, r := range live {
			s.pushGroup([]*pushReq{r})
		}
		return
	}
	for _, r := range live {
		if err != nil {
			r.err = err
		}
		if r.touch != nil {
			// Nothing to answer but the error.
		} else if r.err == nil {
			r.res.ServerTime = now.UnixMilli()
			r.res.ServerHLC = uint64(s.clock.Now())
		} else {
			r.res = nil
		}
		r.done = true
	}
}

// refusedWhole reports whether err is an answer to the station that
// refuses its batch before anything of it was written.
func refusedWhole(err error) bool {
	var gap *GapError
	var reused *EpochReusedError
	return errors.As(err, &gap) || errors.As(err, &reused)
}

// pushOne applies one batch in tx. It returns a GapError or an
// EpochReusedError before writing anything; any other error is a failure
// of the store.
func (s *CountyStore) pushOne(tx *sql.Tx, now time.Time, st *Station, b *syncproto.Batch, conflicts *int) (*syncproto.PushResult, error) {
	res := &syncproto.PushResult{Version: syncproto.Version, Epoch: b.Epoch, Results: make([]syncproto.ChangeResult, 0, len(b.Changes))}
	var hwm uint64
	var epochID int64
	err := tx.QueryRow(`SELECT id, hwm FROM station_epochs WHERE station = ? AND epoch = ?`, st.ID, b.Epoch).Scan(&epochID, &hwm)
	known := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read hwm: %w", err)
	}
	if b.Changes[0].Seq > hwm+1 {
		return nil, &GapError{HWM: hwm}
	}
	if known {
		if err := checkDuplicates(tx, epochID, hwm, b.Changes); err != nil {
			return nil, err
		}
	} else if err := tx.QueryRow(`INSERT INTO station_epochs (station, epoch, hwm) VALUES (?, ?, 0) RETURNING id`, st.ID, b.Epoch).Scan(&epochID); err != nil {
		return nil, fmt.Errorf("add epoch: %w", err)
	}
	// The change ids go in after the merge, many rows a statement: on
	// PostgreSQL each statement is a round trip, and one a change was a
	// third of the push's time (bench/herd's CPU profile).
	ids := make([]any, 0, 3*len(b.Changes))
	m := newMerger(s.db, tx, now.UnixMilli(), &s.feedSeq)
	defer m.close()
	if i, _ := slices.BinarySearchFunc(b.Changes, hwm+1, func(c syncproto.Change, seq uint64) int { return cmp.Compare(c.Seq, seq) }); i < len(b.Changes) {
		if err := m.prefetch(b.Changes[i:]); err != nil {
			return nil, err
		}
		m.prepareAhead(b.Changes[i:])
	}
	limit := hlc.FromTime(now.Add(MaxFuture))
	for i := range b.Changes {
		c := &b.Changes[i]
		if c.Seq <= hwm {
			r, err := duplicateResult(tx, st.ID, b.Epoch, c.Seq)
			if err != nil {
				return nil, err
			}
			res.Results = append(res.Results, r)
			continue
		}
		mc := fromWire(st, b.Epoch, c)
		mc.pre = m.prepared(c)
		if mc.hlc > limit {
			mc.hlc, mc.clamped = s.clock.Now(), true
			res.ClockAhead = true
		} else {
			s.clock.Observe(mc.hlc)
		}
		o, err := m.apply(mc)
		if err != nil {
			return nil, err
		}
		if o.status == syncproto.Rejected {
			if err := m.saveRejected(st, b.Epoch, c, o); err != nil {
				return nil, err
			}
		}
		res.Results = append(res.Results, syncproto.ChangeResult{Seq: c.Seq, Status: o.status, Code: o.code, Reason: o.reason, Rev: o.rev, Clean: o.clean})
		ids = append(ids, epochID, c.Seq, int64(c.HLC))
		hwm = c.Seq
	}
	if err := insertRows(tx, `INSERT INTO change_ids (epoch_id, seq, hlc) VALUES `, 3, ids); err != nil {
		return nil, fmt.Errorf("record change ids: %w", err)
	}
	if _, err := tx.Exec(`UPDATE station_epochs SET hwm = ? WHERE id = ?`, hwm, epochID); err != nil {
		return nil, fmt.Errorf("save hwm: %w", err)
	}
	offset := hlc.Timestamp(b.SentHLC).Time().Sub(now)
	if _, err := tx.Exec(`UPDATE stations SET last_contact_at = ?, last_push_at = ?, pending = ?, agent_version = coalesce(nullif(?, ''), agent_version), clock_ahead = ?, clock_offset_ms = ? WHERE id = ?`,
		now.UnixMilli(), now.UnixMilli(), b.Pending, b.AgentVersion, res.ClockAhead, offset.Milliseconds(), st.ID); err != nil {
		return nil, fmt.Errorf("update station: %w", err)
	}
	res.HWM = hwm
	*conflicts = m.conflicts
	return res, nil
}

// insertRows runs insert (ending in VALUES) for the rows in args, each of
// width values, up to 300 rows a statement: under SQLite's 999-parameter
// floor of older builds and PostgreSQL's 65,535.
func insertRows(tx *sql.Tx, insert string, width int, args []any) error {
	const perStmt = 300
	row := "(" + sqlitedb.Placeholders(width) + ")"
	for len(args) > 0 {
		n := min(len(args)/width, perStmt)
		q := insert + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
		if _, err := tx.Exec(q, args[:n*width]...); err != nil {
			return err
		}
		args = args[n*width:]
	}
	return nil
}

// EpochReusedError says the batch holds, under a seq the county already
// applied, a different change: the station's database was restored from an
// older copy. The two sides agree up to HWM.
type EpochReusedError struct{ HWM uint64 }

// checkDuplicates verifies that the changes at or below hwm are the ones
// the county applied under those seqs.
func checkDuplicates(tx *sql.Tx, epochID int64, hwm uint64, changes []syncproto.Change) error {
	if changes[0].Seq > hwm {
		return nil
	}
	last := min(hwm, changes[len(changes)-1].Seq)
	rows, err := tx.Query(`SELECT seq, hlc FROM change_ids WHERE epoch_id = ? AND seq BETWEEN ? AND ? ORDER BY seq`, epochID, changes[0].Seq, last)
	if err != nil {
		return fmt.Errorf("read change ids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq uint64
		var h int64
		if err := rows.Scan(&seq, &h); err != nil {
			return fmt.Errorf("read change ids: %w", err)
		}
		if c := changes[seq-changes[0].Seq]; uint64(h) != c.HLC {
			return &EpochReusedError{HWM: seq - 1}
		}
	}
	return rows.Err()
}

func duplicateResult(tx *sql.Tx, station, epoch string, seq uint64) (syncproto.ChangeResult, error) {
	r := syncproto.ChangeResult{Seq: seq, Status: syncproto.Duplicate}
	err := tx.QueryRow(`SELECT code, reason FROM rejected_changes WHERE station = ? AND epoch = ? AND seq = ?`, station, epoch, seq).Scan(&r.Code, &r.Reason)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return r, nil
	case err != nil:
		return r, fmt.Errorf("read rejection: %w", err)
	}
	r.Status = syncproto.Rejected
	return r, nil
}

func (m *merger) saveRejected(st *Station, epoch string, c *syncproto.Change, o outcome) error {
	fields, _ := json.Marshal(c.Fields)
	_, err := m.tx.Exec(`INSERT INTO rejected_changes (station, epoch, seq, village, kind, record_id, op, fields, code, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		st.ID, epoch, c.Seq, st.Village, c.Kind, c.ID, c.Op, string(fields), o.code, o.reason, m.now)
	if err != nil {
		return fmt.Errorf("save rejection: %w", err)
	}
	// The station applied the change locally; send it the county's state of
	// the record so that it converges, with the rejection beside it.
	if o.code != syncproto.CodeWrongVillage {
		if s := records.SchemaOf(records.Kind(c.Kind)); s != nil {
			ok, err := m.exists(records.Kind(c.Kind), c.ID, st.Village)
			if err != nil {
				return err
			}
			if ok {
				return m.touchFeed(records.Kind(c.Kind), c.ID)
			}
		}
	}
	return nil
}

func fromWire(st *Station, epoch string, c *syncproto.Change) *change {
	mc := &change{
		origin: st.ID, village: st.Village, kind: records.Kind(c.Kind), id: c.ID, op: records.Op(c.Op),
		fields: records.Fields(c.Fields), base: c.Base, rev: c.Rev, hlc: hlc.Timestamp(c.HLC), by: c.By, at: c.At,
	}
	if mc.fields == nil {
		mc.fields = records.Fields{}
	}
	if records.IsIntent(mc.op) {
		// Only intents make history entries; formatting the id for every
		// change of a batch of visits showed in its profile.
		mc.histID = syncproto.HistoryID(st.ID, epoch, c.Seq)
		mc.comment = records.TextValue(mc.fields, "comment")
		mc.fields = nil
	}
	return mc
}
