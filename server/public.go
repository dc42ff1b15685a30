package server

import (
	"context"
	"encoding/json"
	"fmt"
)

// The public portal's one read: published disclosures within their
// window. Nothing else of the county's data is reachable from the portal.

// PublicDisclosure is a published disclosure within its window.
type PublicDisclosure struct {
	ID, Village, Category, Title, Body, From, Until, Reviewer string
	// PublicNumbers are the mobile numbers its publisher marked as the
	// notice's contact (records.PublicNumbers), as JSON.
	PublicNumbers json.RawMessage
}

// PublicDisclosures returns the disclosures published and within their
// window on day, of one village or (village "") all.
func (s *SQLiteStore) PublicDisclosures(ctx context.Context, village, id, day string) ([]PublicDisclosure, error) {
	w := &where{}
	w.add("status = 'published'")
	w.add("(publish_from IS NULL OR publish_from = '' OR publish_from <= ?)", day)
	w.add("(publish_until IS NULL OR publish_until = '' OR publish_until >= ?)", day)
	if village != "" {
		w.add("village = ?", village)
	}
	if id != "" {
		w.add("id = ?", id)
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, village, coalesce(category, ''), coalesce(title, ''), coalesce(body, ''), coalesce(publish_from, ''), coalesce(publish_until, ''), coalesce(reviewer, ''), coalesce(public_numbers, '[]')
		FROM disclosures WHERE `+w.sql()+` ORDER BY village, publish_from DESC, id LIMIT 500`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("public disclosures: %w", err)
	}
	defer rows.Close()
	var out []PublicDisclosure
	for rows.Next() {
		var d PublicDisclosure
		var public string
		if err := rows.Scan(&d.ID, &d.Village, &d.Category, &d.Title, &d.Body, &d.From, &d.Until, &d.Reviewer, &public); err != nil {
			return nil, err
		}
		d.PublicNumbers = json.RawMessage(public)
		out = append(out, d)
	}
	return out, rows.Err()
}
