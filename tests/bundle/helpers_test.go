// Package bundle tests USB bundles between a county and its stations, in
// one process over real SQLite files (testsupport.County, Station): a
// station's uplink imported at the county, the county's downlink imported
// at the station, in any order with online sync, and every refusal.
package bundle

import (
	"bytes"
	"context"
	"database/sql"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"stationsync/internal/testsupport"
	"stationsync/server"
)

const village = "340123101201"

// pngPhoto is a small picture that normalises to a JPEG of its own.
func pngPhoto(t testing.TB, rng *rand.Rand) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 48, 32))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.IntN(256))
	}
	img.Set(0, 0, color.RGBA{1, 2, 3, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// countyState is what an import must not change when it refuses: the
// records, high-water marks, rejections and files.
func countyState(t testing.TB, c *testsupport.County) string {
	t.Helper()
	db := c.Store.DB().R
	var out string
	for _, q := range []string{
		`SELECT count(*) || '/' || coalesce(sum(rev), 0) || '/' || coalesce(max(feed_seq), 0) FROM persons`,
		`SELECT count(*) || '/' || coalesce(sum(rev), 0) FROM visits`,
		`SELECT coalesce(group_concat(station || ':' || epoch || ':' || hwm), '') FROM station_epochs`,
		`SELECT count(*) FROM rejected_changes`,
		`SELECT count(*) FROM files`,
	} {
		var s string
		if err := db.QueryRowContext(context.Background(), q).Scan(&s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out += s + " | "
	}
	return out
}

// stationState is what a station's refused import must not change.
func stationState(t testing.TB, s *testsupport.Station) string {
	t.Helper()
	db := s.Store.DB().R
	var out string
	for _, q := range []string{
		`SELECT count(*) || '/' || coalesce(max(seq), 0) FROM outbox`,
		`SELECT coalesce(group_concat(key || '=' || value), '') FROM (SELECT key, value FROM meta WHERE key IN ('cursor', 'feed_epoch', 'epoch', 'next_seq') ORDER BY key)`,
		`SELECT count(*) FROM persons`,
		`SELECT coalesce(group_concat(hash || state), '') FROM (SELECT hash, state FROM attachments ORDER BY hash)`,
	} {
		var v string
		if err := db.QueryRowContext(context.Background(), q).Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out += v + " | "
	}
	return out
}

// importAtCounty imports an uplink at the in-process county, writing the
// downlink into out.
func importAtCounty(ctx context.Context, c *testsupport.County, path, out string) (*server.BundleImportResult, error) {
	return c.Store.ImportBundle(ctx, server.BundleImport{Path: path, OutDir: out, By: "测试"})
}

// copyFile copies src to dst (a stick's file to another folder).
func copyFile(t testing.TB, src, dst string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// hasFile reports whether the county holds a file, whole, in its store
// and its table.
func hasFile(t testing.TB, c *testsupport.County, hash string) bool {
	t.Helper()
	var ok bool
	if err := c.Store.DB().R.QueryRow(`SELECT EXISTS (SELECT 1 FROM files WHERE hash = ?)`, hash).Scan(&ok); err != nil && err != sql.ErrNoRows {
		t.Fatal(err)
	}
	if !ok {
		return false
	}
	p := filepath.Join(filepath.Dir(c.Path), "files", "objects", hash[:2], hash)
	_, err := os.Stat(p)
	return err == nil
}
