package server

import (
	"context"
	"database/sql"
	"fmt"

	"stationsync/internal/bundle"
	"stationsync/internal/records"
	"stationsync/syncproto"
)

// bundleFeed reads the station's feed after cursor as pages of a pull
// (Pull), each record with its feed position: a downlink is read by a
// station that may have pulled online since, and takes only what lies
// beyond its own cursor (PROTOCOL.md §16).
func (s *SQLiteStore) bundleFeed(ctx context.Context, st *Station, after int64, feedEpoch string) ([]bundle.FeedPage, error) {
	tx, err := s.db.R.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("bundle feed: %w", err)
	}
	defer tx.Rollback()
	var top int64
	if err := tx.QueryRowContext(ctx, feedTopSQL).Scan(&top); err != nil {
		return nil, fmt.Errorf("bundle feed: %w", err)
	}
	reset := false
	if feedEpoch != s.feedEpoch || after > top || after < 0 {
		reset, after = true, 0
	}
	var pages []bundle.FeedPage
	for {
		fp := bundle.FeedPage{After: after, Seqs: []int64{},
			Page: syncproto.PullPage{Version: syncproto.Version, FeedEpoch: s.feedEpoch, Reset: reset, Records: []syncproto.Record{}}}
		reset = false
		rows, err := tx.QueryContext(ctx, feedPageSQL, st.Village, after, st.ID, MaxPullPage)
		if err != nil {
			return nil, fmt.Errorf("bundle feed: %w", err)
		}
		type ref struct {
			seq      int64
			kind, id string
		}
		var refs []ref
		for rows.Next() {
			var r ref
			if err := rows.Scan(&r.seq, &r.kind, &r.id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("bundle feed: %w", err)
			}
			refs = append(refs, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("bundle feed: %w", err)
		}
		fp.Page.Next = after
		if len(refs) == MaxPullPage {
			fp.Page.More = true
			fp.Page.Next = refs[len(refs)-1].seq
		} else {
			var maxSeq sql.NullInt64
			if err := tx.QueryRowContext(ctx, feedEndSQL, st.Village).Scan(&maxSeq); err != nil {
				return nil, fmt.Errorf("bundle feed: %w", err)
			}
			if maxSeq.Valid && maxSeq.Int64 > after {
				fp.Page.Next = maxSeq.Int64
			}
		}
		for _, r := range refs {
			rec, err := loadRecord(ctx, tx, records.Kind(r.kind), r.id)
			if err != nil {
				return nil, err
			}
			fp.Page.Records = append(fp.Page.Records, *rec)
			fp.Seqs = append(fp.Seqs, r.seq)
		}
		fp.Page.ServerHLC = uint64(s.clock.Now())
		fp.Page.ServerTime = s.now().UnixMilli()
		pages = append(pages, fp)
		if !fp.Page.More {
			return pages, nil
		}
		after = fp.Page.Next
	}
}
