package agent

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"stationsync/internal/bundle"
	"stationsync/internal/photo"
	"stationsync/internal/records"
)

// The store's side of USB bundles (bundle.go).

// queuedRange returns the changes still queued under epoch with seqs
// first to last, in order.
func (s *Store) queuedRange(ctx context.Context, epoch string, first, last uint64) ([]outboxRow, error) {
	if first == 0 || last < first {
		return nil, nil
	}
	// nextBatch reads the current epoch only; an answer may name an
	// older one, which then has nothing queued (rotation renumbers all).
	cur, rows, err := s.nextBatch(ctx, int(last-first+1), first-1)
	if err != nil || cur != epoch {
		return nil, err
	}
	out := rows[:0]
	for _, r := range rows {
		if r.c.Seq <= last {
			out = append(out, r)
		}
	}
	return out, nil
}

// heldFiles lists the files the station holds on its disk, whatever
// their state: the county sends none of them back in a downlink. An
// evicted file is not held: a downlink whose records name it brings it
// back, as a fetch would, for a village that cannot fetch.
func (s *Store) heldFiles(ctx context.Context) ([]string, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT hash FROM attachments WHERE state NOT IN ('missing', 'evicted') ORDER BY hash`)
	if err != nil {
		return nil, fmt.Errorf("list attachments: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// noteCountyFile notes a file a downlink brought: the county holds it, so
// it is acknowledged from the start. One the station knew as evicted or
// missing is whole again.
func (s *Store) noteCountyFile(ctx context.Context, hash string, data []byte, ref bundle.FileRef) error {
	size := int64(len(data))
	now := s.clock.Physical().UnixMilli()
	typ := ref.Type
	if typ == "" {
		typ = map[string]string{"jpeg": "image/jpeg", "png": "image/png", "pdf": "application/pdf"}[photo.Sniff(data[:min(len(data), 16)])]
	}
	if typ == "" {
		typ = "application/octet-stream"
	}
	kind := ref.Kind
	if records.SchemaOf(records.Kind(kind)) == nil {
		kind = ""
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		// As a fetch does (attach_fetch.go): a file back on the disk
		// counts to eviction from now; the station's own files still on
		// their way keep their state (the summary acknowledges them).
		_, err := tx.Exec(`INSERT INTO attachments (hash, size, type, name, kind, record_id, state, created_at, acked_at, fetched_at, error)
			VALUES (?1, ?2, ?3, '', ?4, ?5, 'acked', ?6, ?6, ?6, '')
			ON CONFLICT (hash) DO UPDATE SET state = 'acked', error = '', evicted_at = NULL, fetched_at = ?6, acked_at = coalesce(acked_at, ?6)
			WHERE state IN ('evicted', 'missing', 'acked')`,
			hash, size, typ, kind, ref.RecordID, now)
		return err
	})
	return s.noteWrite(err)
}

// ackFiles marks the station's files the county holds as acknowledged, as
// a file status answer "have" does, and returns how many were waiting.
func (s *Store) ackFiles(ctx context.Context, hashes []string) (int, error) {
	if len(hashes) == 0 {
		return 0, nil
	}
	j, err := json.Marshal(hashes)
	if err != nil {
		return 0, err
	}
	now := s.clock.Physical().UnixMilli()
	var n int64
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.Exec(`UPDATE attachments SET state = 'acked', error = '', acked_at = coalesce(acked_at, ?)
			WHERE state IN ('pending', 'refused') AND hash IN (SELECT value FROM json_each(?))`, now, string(j))
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	return int(n), s.noteWrite(err)
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// bundleKeyText is how the county's bundle key is kept in meta: 64
// lowercase hex digits as the answers carry it, or empty for an answer
// without a sound key.
func bundleKeyText(k string) string {
	b, err := hex.DecodeString(k)
	if err != nil || len(b) != 32 {
		return ""
	}
	return hex.EncodeToString(b)
}

// applyDownPage applies one feed page of a downlink, reading the station's
// cursor in the same transaction: the service may be pulling beside the
// command that imports. A record's feed position only grows, so one at or
// below the cursor is one the station holds in that state or a later one,
// and is skipped; the cursor becomes max(cursor, next). end is the
// downlink's last next. stop says the rest of the feed is not for this
// station: another county database, or a reset the station has pulled
// past (PROTOCOL.md §16).
func (s *Store) applyDownPage(ctx context.Context, fp bundle.FeedPage, end int64) (applied, skipped int, stop bool, err error) {
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		applied, skipped, stop = 0, 0, false
		cursor, err := getMeta(ctx, tx, metaCursor)
		if err != nil {
			return err
		}
		feedEpoch, err := getMeta(ctx, tx, metaFeedEpoch)
		if err != nil {
			return err
		}
		p := fp.Page
		p.BundleKey = ""
		switch {
		case feedEpoch != "" && feedEpoch != p.FeedEpoch:
			stop = true
			return nil
		case p.Reset:
			// The county started the feed over (its database restored from
			// an older copy, or the station never pulled): taken as online,
			// unless the station has pulled from this feed since, back
			// within it.
			if feedEpoch == p.FeedEpoch && cursor <= end {
				stop = true
				return nil
			}
		default:
			keep := p.Records[:0:0]
			for j, r := range p.Records {
				if fp.Seqs[j] > cursor {
					keep = append(keep, r)
				} else {
					skipped++
				}
			}
			p.Records = keep
			p.Next = max(p.Next, cursor)
		}
		a, sk, err := s.applyPageTx(ctx, tx, &p)
		applied, skipped = a, skipped+sk
		return err
	})
	return applied, skipped, stop, err
}

// refuseFile marks a file the county will not take, with why, as a file
// status answer "refused" does; only one still waiting (never one the
// county has since acknowledged).
func (s *Store) refuseFile(ctx context.Context, hash, why string) error {
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE attachments SET state = 'refused', error = ? WHERE hash = ? AND state IN ('pending', 'refused')`, why, hash)
		return err
	})
	return s.noteWrite(err)
}
