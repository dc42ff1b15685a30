package server

import (
	"context"
	"fmt"

	"stationsync/internal/bundle"
	"stationsync/syncproto"
)

// bundleFeed reads the station's feed after cursor as pages of a pull
// (Pull), each record with its feed position: a downlink is read by a
// station that may have pulled online since, and takes only what lies
// beyond its own cursor (PROTOCOL.md §16).
func (s *CountyStore) bundleFeed(ctx context.Context, st *Station, after int64, feedEpoch string) ([]bundle.FeedPage, error) {
	tx, err := s.db.ReadTx(ctx)
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
		seqs, err := s.readFeedPage(ctx, tx, st, after, MaxPullPage, &fp.Page)
		if err != nil {
			return nil, fmt.Errorf("bundle feed: %w", err)
		}
		fp.Seqs = append(fp.Seqs, seqs...)
		fp.Page.ServerHLC = uint64(s.clock.Now())
		fp.Page.ServerTime = s.now().UnixMilli()
		pages = append(pages, fp)
		if !fp.Page.More {
			return pages, nil
		}
		after = fp.Page.Next
	}
}
