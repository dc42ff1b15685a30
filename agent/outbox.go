package agent

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/internal/sqlitedb"
	"stationsync/syncproto"
)

// enqueue adds a change to the outbox under the next seq of the epoch.
func (s *Store) enqueue(tx *sql.Tx, kind records.Kind, id string, op records.Op, fields records.Fields, base map[string]uint64, rev int64, h hlc.Timestamp, by string, at int64, urgent bool) error {
	seq, epoch, err := nextID(tx)
	if err != nil {
		return err
	}
	fj, _ := json.Marshal(fields)
	bj, _ := json.Marshal(base)
	if _, err := tx.Exec(`INSERT INTO outbox (epoch, seq, kind, record_id, op, fields, base, rev, hlc, by_name, at, urgent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		epoch, seq, string(kind), id, string(op), string(fj), string(bj), rev, int64(h), by, at, urgent); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return setMeta(tx, metaNextSeq, seq+1)
}

// nextID is the epoch and seq the next change takes. Unset, they are an
// error, not a first change: the store makes both with the database.
func nextID(tx *sql.Tx) (seq uint64, epoch string, err error) {
	ctx := context.Background()
	if seq, err = getMeta(ctx, tx, metaNextSeq); err != nil {
		return 0, "", err
	}
	if epoch, err = getMeta(ctx, tx, metaEpoch); err != nil {
		return 0, "", err
	}
	if seq == 0 || epoch == "" {
		return 0, "", errors.New("outbox: station store has no epoch")
	}
	return seq, epoch, nil
}

// Pending counts the changes waiting for the county.
func (s *Store) Pending(ctx context.Context) (int, error) {
	var n int
	err := s.db.R.QueryRowContext(ctx, `SELECT count(*) FROM outbox`).Scan(&n)
	return n, err
}

// outboxRow is one queued change.
type outboxRow struct {
	id int64
	c  syncproto.Change
}

// nextBatch returns up to n queued changes of the current epoch, in order.
func (s *Store) nextBatch(ctx context.Context, n int, after uint64) (epoch string, rows []outboxRow, err error) {
	if epoch, err = getMeta(ctx, s.db.R, metaEpoch); err != nil {
		return "", nil, err
	}
	q, err := s.db.R.QueryContext(ctx, `SELECT id, seq, kind, record_id, op, fields, base, rev, hlc, by_name, at FROM outbox WHERE epoch = ? AND seq > ? ORDER BY seq LIMIT ?`, epoch, after, n)
	if err != nil {
		return "", nil, fmt.Errorf("read outbox: %w", err)
	}
	defer q.Close()
	for q.Next() {
		var r outboxRow
		var fields, base string
		var h int64
		if err := q.Scan(&r.id, &r.c.Seq, &r.c.Kind, &r.c.ID, &r.c.Op, &fields, &base, &r.c.Rev, &h, &r.c.By, &r.c.At); err != nil {
			return "", nil, fmt.Errorf("read outbox: %w", err)
		}
		r.c.HLC = uint64(h)
		if fields != "null" && fields != "{}" {
			r.c.Fields, _ = records.ParseFields([]byte(fields))
		}
		if base != "null" && base != "{}" {
			json.Unmarshal([]byte(base), &r.c.Base)
		}
		rows = append(rows, r)
	}
	return epoch, rows, q.Err()
}

// ack applies the county's answer: every change it names leaves the
// outbox (a rejected one moves to the rejected table), in one transaction.
// Changes it does not name stay queued.
func (s *Store) ack(ctx context.Context, epoch string, rows []outboxRow, res *syncproto.PushResult) (acked int, err error) {
	bySeq := make(map[uint64]*outboxRow, len(rows))
	for i := range rows {
		bySeq[rows[i].c.Seq] = &rows[i]
	}
	now := s.clock.Physical().UnixMilli()
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		acked = 0
		// The county's revisions, per table as [[id, rev], …], written in
		// one statement each: a catch-up answer names thousands of changes.
		revs := map[records.Kind][][2]any{}
		var done []int64
		for _, r := range res.Results {
			row, ok := bySeq[r.Seq]
			if !ok {
				continue
			}
			switch r.Status {
			case syncproto.Applied, syncproto.Duplicate:
				if r.Clean && r.Rev > 0 && records.SchemaOf(records.Kind(row.c.Kind)) != nil {
					kind := records.Kind(row.c.Kind)
					revs[kind] = append(revs[kind], [2]any{row.c.ID, r.Rev})
				}
			case syncproto.Rejected:
				fields, _ := json.Marshal(row.c.Fields)
				if _, err := tx.Exec(`INSERT INTO rejected (epoch, seq, kind, record_id, op, fields, code, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					epoch, row.c.Seq, row.c.Kind, row.c.ID, row.c.Op, string(fields), r.Code, r.Reason, now); err != nil {
					return fmt.Errorf("ack: %w", err)
				}
			default:
				continue // an answer we do not understand acknowledges nothing
			}
			done = append(done, row.id)
			delete(bySeq, r.Seq) // a result named twice acknowledges once
		}
		for kind, list := range revs {
			j, err := json.Marshal(list)
			if err != nil {
				return err
			}
			// A record changed twice in the batch is named twice: its
			// highest revision counts.
			if _, err := tx.Exec(`INSERT INTO server_revs (kind, id, rev)
				SELECT ?, value->>0, max(value->>1) FROM json_each(?) WHERE true GROUP BY 2
				ON CONFLICT (kind, id) DO UPDATE SET rev = max(rev, excluded.rev)`, string(kind), string(j)); err != nil {
				return fmt.Errorf("ack: %w", err)
			}
		}
		ids, err := json.Marshal(done)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(?))`, string(ids)); err != nil {
			return fmt.Errorf("ack: %w", err)
		}
		acked = len(done)
		return nil
	})
	return acked, err
}

// dropThrough removes the queued changes of epoch up to seq, which the
// county has shown it holds.
func (s *Store) dropThrough(ctx context.Context, epoch string, seq uint64) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`DELETE FROM outbox WHERE epoch = ? AND seq <= ?`, epoch, seq)
		return err
	})
}

// maxSeq is the highest seq this database ever issued in its epoch.
func (s *Store) maxSeq(ctx context.Context) (uint64, error) {
	n, err := getMeta(ctx, s.db.R, metaNextSeq)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		// Unset: 0 - 1 would be the largest seq, and any county
		// high-water mark would pass for one this database made.
		return 0, errors.New("outbox: station store has no next_seq")
	}
	return n - 1, nil
}

// rotateEpoch starts a new epoch and renumbers the queued changes from 1.
// It runs when the county already holds more changes of this epoch than the
// database ever made: the database was restored from an old copy, and
// reusing those ids would make the county drop new changes as duplicates.
func (s *Store) rotateEpoch(ctx context.Context) (string, error) {
	epoch := newEpoch()
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		ids, err := sqlitedb.Column[int64](ctx, tx, `SELECT id FROM outbox ORDER BY epoch = (SELECT value FROM meta WHERE key = 'epoch'), seq, id`)
		if err != nil {
			return err
		}
		for i, id := range ids {
			if _, err := tx.Exec(`UPDATE outbox SET epoch = ?, seq = ? WHERE id = ?`, epoch, i+1, id); err != nil {
				return err
			}
		}
		if err := setMeta(tx, metaEpoch, epoch); err != nil {
			return err
		}
		return setMeta(tx, metaNextSeq, uint64(len(ids)+1))
	})
	if err != nil {
		return "", fmt.Errorf("rotate epoch: %w", err)
	}
	return epoch, nil
}

// requeueAll replaces the outbox with the station's whole state under a
// new epoch: one upsert per record of every field the station may set,
// and a submit for applications that are past their draft. Changes still
// queued are folded in, since the record already holds them. rev 0 makes
// every one of them come back from the county's feed, so the station ends
// up with whatever the county decides.
func (s *Store) requeueAll(ctx context.Context) (int, error) {
	n := 0
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`DELETE FROM outbox`); err != nil {
			return err
		}
		if err := setMeta(tx, metaEpoch, newEpoch()); err != nil {
			return err
		}
		if err := setMeta(tx, metaNextSeq, 1); err != nil {
			return err
		}
		by := "（重新发送）"
		for _, kind := range records.Kinds {
			sc := records.SchemaOf(kind)
			ids, err := sqlitedb.Column[string](ctx, tx, "SELECT id FROM "+sc.Table+" ORDER BY created_at, id")
			if err != nil {
				return err
			}
			for _, id := range ids {
				l, err := loadLocal(ctx, tx, kind, id)
				if err != nil {
					return err
				}
				fields := records.Fields{}
				base := map[string]uint64{}
				for name, v := range l.Fields {
					if f, ok := sc.Field(name); ok && f.Owner != records.County {
						fields[name] = v
						if f.Owner == records.Both {
							base[name] = l.Versions[name]
						}
					}
				}
				h, err := s.tick(tx)
				if err != nil {
					return err
				}
				if err := s.enqueue(tx, kind, id, records.OpUpsert, fields, base, 0, h, by, l.UpdatedAt, false); err != nil {
					return err
				}
				n++
				if status := records.TextValue(l.Fields, "status"); kind == records.Application && !records.StationEditable(status) {
					op := records.OpSubmit
					if status == records.StatusWithdrawn {
						op = records.OpWithdraw
					}
					if h, err = s.tick(tx); err != nil {
						return err
					}
					if err := s.enqueue(tx, kind, id, op, nil, nil, 0, h, by, l.UpdatedAt, false); err != nil {
						return err
					}
					n++
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("requeue: %w", err)
	}
	return n, nil
}
