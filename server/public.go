package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"stationsync/internal/blobstore"
)

// The public portal's one read: published disclosures within their
// window. Nothing else of the county's data is reachable from the portal.

// PublicDisclosure is a published disclosure within its window.
type PublicDisclosure struct {
	ID, Village, Category, Title, Body, From, Until, Reviewer string
	// PublicNumbers are the mobile numbers its publisher marked as the
	// notice's contact (records.PublicNumbers), as JSON.
	PublicNumbers json.RawMessage
	// Attachments are the hashes of the files it names (photos of the
	// notice board, scanned ledgers): public with it (PublicFile).
	Attachments []string
}

// PublicDisclosures returns the disclosures published and within their
// window on day, of one village or (village "") all.
func (s *CountyStore) PublicDisclosures(ctx context.Context, village, id, day string) ([]PublicDisclosure, error) {
	w := &where{}
	publicWhere(w, "", day)
	if village != "" {
		w.add("village = ?", village)
	}
	if id != "" {
		w.add("id = ?", id)
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, village, coalesce(category, ''), coalesce(title, ''), coalesce(body, ''), coalesce(publish_from, ''), coalesce(publish_until, ''), coalesce(reviewer, ''), coalesce(public_numbers, '[]'), coalesce(attachments, '[]')
		FROM disclosures WHERE `+w.sql()+` ORDER BY village, publish_from DESC, id LIMIT 500`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("public disclosures: %w", err)
	}
	defer rows.Close()
	var out []PublicDisclosure
	for rows.Next() {
		var d PublicDisclosure
		var public, files string
		if err := rows.Scan(&d.ID, &d.Village, &d.Category, &d.Title, &d.Body, &d.From, &d.Until, &d.Reviewer, &public, &files); err != nil {
			return nil, err
		}
		d.PublicNumbers = json.RawMessage(public)
		// Only hashes: the portal links nothing else (the merge checks
		// the field; a value that is not a list of hashes names nothing).
		var list []string
		json.Unmarshal([]byte(files), &list)
		for _, h := range list {
			if blobstore.ValidHash(h) {
				d.Attachments = append(d.Attachments, h)
			}
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// publicWhere is what makes a disclosure public on day: published, and
// within its window. The portal's list and its files ask the same.
func publicWhere(w *where, table, day string) {
	w.add(table + "status = 'published'")
	w.add("("+table+"publish_from IS NULL OR "+table+"publish_from = '' OR "+table+"publish_from <= ?)", day)
	w.add("("+table+"publish_until IS NULL OR "+table+"publish_until = '' OR "+table+"publish_until >= ?)", day)
}

// PublicFile returns the file if it arrived and a disclosure the portal
// shows on day (PublicDisclosures) names it; ErrNotFound otherwise. A
// visit's photo or an application's scan is never public, whoever knows
// its hash, unless a published disclosure names the same bytes.
func (s *CountyStore) PublicFile(ctx context.Context, hash, day string) (FileInfo, error) {
	if !blobstore.ValidHash(hash) {
		return FileInfo{}, ErrNotFound
	}
	w := &where{}
	w.add("r.hash = f.hash")
	w.add("r.kind = 'disclosure'")
	publicWhere(w, "d.", day)
	var fi FileInfo
	var at int64
	err := s.db.R.QueryRowContext(ctx, `SELECT hash, size, type, station, received_at FROM files f WHERE hash = ?
		AND EXISTS (SELECT 1 FROM record_files r JOIN disclosures d ON d.id = r.record_id WHERE `+w.sql()+`)`, append([]any{hash}, w.args...)...).
		Scan(&fi.Hash, &fi.Size, &fi.Type, &fi.Station, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return FileInfo{}, ErrNotFound
	}
	if err != nil {
		return FileInfo{}, fmt.Errorf("public file %s: %w", hash, err)
	}
	fi.ReceivedAt = time.UnixMilli(at)
	return fi, nil
}
