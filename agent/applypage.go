package agent

import (
	"context"
	"database/sql"

	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/syncproto"
)

// applyPage stores a page of the county's feed and advances the cursor in
// the same transaction. A record with changes still queued here is left
// alone: the county will send it again once those are acknowledged.
func (s *Store) applyPage(ctx context.Context, p *syncproto.PullPage) (applied, skipped int, err error) {
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		applied, skipped, err = s.applyPageTx(ctx, tx, p)
		return err
	})
	return applied, skipped, err
}

// applyPageTx is applyPage in the caller's transaction (bundle_store.go
// reads the cursor in the same one).
func (s *Store) applyPageTx(ctx context.Context, tx *sql.Tx, p *syncproto.PullPage) (applied, skipped int, err error) {
	err = func() error {
		applied, skipped = 0, 0
		// The clock goes on from the persisted value, which another
		// process may have moved; one that cannot be read stops the pull
		// before it is written over.
		last, err := getMeta(ctx, tx, metaHLC)
		if err != nil {
			return err
		}
		s.clock.Observe(hlc.Timestamp(last))
		if p.Reset {
			if err := setMeta(tx, metaCursor, 0); err != nil {
				return err
			}
		}
		pending, err := tx.Prepare(`SELECT count(*) FROM outbox WHERE kind = ? AND record_id = ?`)
		if err != nil {
			return err
		}
		defer pending.Close()
		for i := range p.Records {
			r := &p.Records[i]
			sc := records.SchemaOf(records.Kind(r.Kind))
			if sc == nil {
				continue // a kind this agent does not know yet (newer server)
			}
			var n int
			if err := pending.QueryRow(r.Kind, r.ID).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				skipped++
				continue
			}
			l := &Local{Kind: records.Kind(r.Kind), ID: r.ID, Village: r.Village, Fields: r.Fields, Versions: r.Versions, ServerRev: r.Rev,
				CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, UpdatedBy: r.UpdatedBy, UpdatedAt: r.UpdatedAt}
			if l.Fields == nil {
				l.Fields = records.Fields{}
			}
			if l.Versions == nil {
				l.Versions = map[string]uint64{}
			}
			if err := saveLocal(tx, l); err != nil {
				return err
			}
			if err := saveServerRev(tx, l.Kind, l.ID, l.ServerRev); err != nil {
				return err
			}
			if r.Kind == string(records.Application) {
				if _, err := tx.Exec(`DELETE FROM application_history WHERE application_id = ?`, r.ID); err != nil {
					return err
				}
				for _, h := range r.History {
					if _, err := tx.Exec(`INSERT OR REPLACE INTO application_history (id, application_id, from_status, to_status, op, by_name, origin, hlc, at, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
						h.ID, r.ID, h.From, h.To, h.Op, h.By, h.Origin, int64(h.HLC), h.At, h.Comment); err != nil {
						return err
					}
				}
			}
			if _, err := tx.Exec(`DELETE FROM conflicts WHERE kind = ? AND record_id = ?`, r.Kind, r.ID); err != nil {
				return err
			}
			for _, c := range r.Conflicts {
				if _, err := tx.Exec(`INSERT OR REPLACE INTO conflicts (id, kind, record_id, field, winner, winner_hlc, winner_origin, loser, loser_hlc, loser_origin, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					c.ID, r.Kind, r.ID, c.Field, string(c.Winner), int64(c.WinnerHLC), c.WinnerOrigin, string(c.Loser), int64(c.LoserHLC), c.LoserOrigin, c.At); err != nil {
					return err
				}
			}
			for _, v := range r.Versions {
				s.clock.Observe(hlc.Timestamp(v))
			}
			applied++
		}
		if err := setMeta(tx, metaCursor, p.Next); err != nil {
			return err
		}
		if err := setMeta(tx, metaFeedEpoch, p.FeedEpoch); err != nil {
			return err
		}
		if k := bundleKeyText(p.BundleKey); k != "" { // bundle.go: the county's downlink key
			if err := setMeta(tx, metaBundleKey, k); err != nil {
				return err
			}
		}
		return setMeta(tx, metaHLC, uint64(s.clock.Last()))
	}()
	return applied, skipped, err
}
