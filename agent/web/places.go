package web

import (
	"context"
	"strings"

	"stationsync/internal/divisions"
)

// metaVillageNameLocal is the store meta key of the village's name as
// typed on 设置, for a local change (a merged or renamed village) the
// official table and the county do not know yet.
const metaVillageNameLocal = "village_name_local"

// maxVillageName bounds a typed name in runes: the longest official
// names ("…社区居民委员会") are under 20.
const maxVillageName = 30

// villageName is the name the station's pages give a village code. For
// the station's own village (or a record made before enrolment, which
// has none yet): the name typed on 设置, else the one the county sent at
// enrolment, else the official one; for any other code the official one;
// "" when none is known.
func (s *Server) villageName(ctx context.Context, code string) string {
	own := s.a.Store.Meta(ctx, "village")
	if code == "" || code == own {
		for _, k := range []string{metaVillageNameLocal, "village_name"} {
			if n := strings.TrimSpace(s.a.Store.Meta(ctx, k)); n != "" {
				return n
			}
		}
		code = own
	}
	return divisions.Name(code)
}

// defaultVillageName is what the village is called when nothing is typed
// on 设置: the county's name for it, else the official one.
func (s *Server) defaultVillageName(ctx context.Context) string {
	if n := strings.TrimSpace(s.a.Store.Meta(ctx, "village_name")); n != "" {
		return n
	}
	return divisions.Name(s.a.Store.Meta(ctx, "village"))
}

// signer is the committee that signs a village's printed notice,
// "太华村村民委员会"; "" leaves the template's plain 村民委员会.
func (s *Server) signer(ctx context.Context, code string) string {
	return divisions.Committee(s.villageName(ctx, code))
}
