package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"stationsync/server"
)

// FuzzFileLookups: whatever string stands for a hash, the store finds a
// file only by its exact name, only for a scope that covers a record
// naming it (FileInScope), and for the public only when a published
// disclosure within its window names it (PublicFile). The pages hand the
// path's {hash} to these as it came.
func FuzzFileLookups(f *testing.F) {
	ctx := context.Background()
	st, err := server.OpenSQLite(ctx, filepath.Join(f.TempDir(), "county.db"), "340123")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	name := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	visitA, visitB, public, draft := name("visit of A"), name("visit of B"), name("notice photo"), name("draft photo")
	db := st.DB().W
	for _, q := range []string{
		`INSERT INTO visits (id, village, person_id, photos, versions, origins, base_hlc, rev, created_at, created_origin, updated_at, received_at) VALUES
			('va', '340123101201', 'p1', '["` + visitA + `"]', '{}', '{}', 1, 1, 1, 'st_a', 1, 1),
			('vb', '340123102201', 'p2', '["` + visitB + `"]', '{}', '{}', 1, 1, 1, 'st_b', 1, 1)`,
		`INSERT INTO disclosures (id, village, title, attachments, status, publish_from, publish_until, versions, origins, base_hlc, rev, created_at, created_origin, updated_at, received_at) VALUES
			('d1', '340123102201', 't', '["` + public + `"]', 'published', '2026-12-01', '2026-12-10', '{}', '{}', 1, 1, 1, 'st_b', 1, 1),
			('d2', '340123102201', 't', '["` + draft + `"]', 'draft', '2026-12-01', '2026-12-10', '{}', '{}', 1, 1, 1, 'st_b', 1, 1)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			f.Fatal(err)
		}
	}
	for _, h := range []string{visitA, visitB, public, draft} {
		if _, err := db.ExecContext(ctx, `INSERT INTO files (hash, size, type, station, received_at) VALUES (?, 10, 'image/jpeg', 'st_a', 1)`, h); err != nil {
			f.Fatal(err)
		}
	}
	for _, h := range []string{visitA, visitB, public, draft} {
		for _, s := range []string{h, strings.ToUpper(h), h + "/", "../" + h, h + ".jpg", url.PathEscape(h), h + "\x00", h[:63], " " + h, h + "%", "%" + h[1:], h + "' OR '1'='1"} {
			f.Add(s, "340123101")
		}
	}
	f.Add(visitB, "")
	f.Add(visitB, "34012310%")
	f.Add(visitB, "340123102' OR '1")
	f.Fuzz(func(t *testing.T, hash, scope string) {
		fi, err := st.FileInScope(ctx, hash, scope)
		allowed := func(h, village string) bool {
			return hash == h && strings.Trim(scope, "0123456789") == "" && strings.HasPrefix(village, scope)
		}
		switch {
		case allowed(visitA, "340123101201"), allowed(visitB, "340123102201"), allowed(public, "340123102201"), allowed(draft, "340123102201"):
			if err != nil || fi.Hash != hash {
				t.Errorf("FileInScope(%q, %q): %v, want the file", hash, scope, err)
			}
		case !errors.Is(err, server.ErrNotFound):
			t.Errorf("FileInScope(%q, %q) = %+v, %v; want ErrNotFound", hash, scope, fi, err)
		}
		for _, day := range []string{"2026-12-05", "2026-12-11"} {
			fi, err := st.PublicFile(ctx, hash, day)
			if hash == public && day == "2026-12-05" {
				if err != nil || fi.Hash != public {
					t.Errorf("PublicFile(the notice's photo): %v", err)
				}
			} else if !errors.Is(err, server.ErrNotFound) {
				t.Errorf("PublicFile(%q, %s) = %+v, %v; want ErrNotFound", hash, day, fi, err)
			}
		}
	})
}
