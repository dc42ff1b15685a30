package server

import (
	"strings"

	"stationsync/internal/divisions"
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
