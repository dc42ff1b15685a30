package web

import (
	"strings"

	"stationsync/server"
)

// placeLabel is how pages show a division code: a village with its
// township, "三河镇太华村（340123101202）"; a village without a name of
// its own under its township's, "三河镇 340123101201"; a township or the
// county as "三河镇（340123101）"; the bare code when nothing is known.
// Names typed in the county's settings win over the official table.
func placeLabel(names map[string]string, code string) string {
	if len(code) == 12 {
		v, t := server.PlaceName(names, code), server.PlaceName(names, code[:9])
		switch {
		case v != "" && !strings.HasPrefix(v, t):
			return t + v + "（" + code + "）"
		case v != "":
			return v + "（" + code + "）"
		case t != "":
			return t + " " + code
		}
		return code
	}
	if n := server.PlaceName(names, code); n != "" {
		return n + "（" + code + "）"
	}
	return code
}

// placeName is the name of a division code, or the code when it has none.
func (h *Handler) placeName(names map[string]string, code string) string {
	if n := server.PlaceName(names, code); n != "" {
		return n
	}
	return code
}
