package server

import (
	"context"
	"database/sql"
	"sort"
	"strings"

	"stationsync/internal/divisions"
	"stationsync/internal/sqlitedb"
)

// PlaceName returns the name the county gives a division code (6, 9 or
// 12 digits): the one typed in its settings (names, from PlaceNames),
// else the official one embedded in internal/divisions, else "". A name
// typed as blank gives the official one back.
func PlaceName(names map[string]string, code string) string {
	if n := strings.TrimSpace(names[code]); n != "" {
		return n
	}
	return divisions.Name(code)
}

// PlaceNames returns the known names of townships and villages.
func (s *CountyStore) PlaceNames(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT code, name FROM places`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var c, n string
		if err := rows.Scan(&c, &n); err != nil {
			return nil, err
		}
		out[c] = n
	}
	return out, rows.Err()
}

// SetPlaceName names the county (6 digits), a township (9) or a village
// (12). The county's name goes to each station as it enrols, for the
// person who confirms it is their county.
func (s *CountyStore) SetPlaceName(ctx context.Context, code, name string) error {
	if len(code) != 6 && len(code) != 9 && len(code) != 12 || !validCode(code) {
		return ErrBadVillage
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO places (code, name) VALUES (?, ?) ON CONFLICT(code) DO UPDATE SET name = excluded.name`, code, strings.TrimSpace(name))
		return err
	})
}

// Villages returns every village code the county has heard of (stations
// and records), within scope.
func (s *CountyStore) Villages(ctx context.Context, scope string) ([]string, error) {
	w := scoped(scope, "village")
	out, err := sqlitedb.Column[string](ctx, s.db.R, `SELECT village FROM stations WHERE `+w.sql()+` UNION SELECT DISTINCT village FROM persons WHERE `+w.sql()+` UNION SELECT code FROM places WHERE length(code) = 12 AND `+strings.ReplaceAll(w.sql(), "village", "code"),
		append(append(append([]any{}, w.args...), w.args...), w.args...)...)
	if err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}
