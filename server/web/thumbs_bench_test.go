package web

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"stationsync/internal/blobstore"
	"stationsync/internal/photo"
	"stationsync/server"
)

// BenchmarkThumbnail320 makes the record page's thumbnail of a photo as
// the station keeps it (a 4,000×3,000 camera picture normalised to
// 1,600×1,200 at quality 80): read back from the county's store with its
// hash checked, decoded, scaled to 320 px and encoded. A cached
// thumbnail costs none of it.
func BenchmarkThumbnail320(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	img := image.NewRGBA(image.Rect(0, 0, 4000, 3000))
	for y := range 3000 {
		for x := range 4000 {
			g := uint8(r.IntN(24))
			img.Set(x, y, color.RGBA{uint8(60+x*150/4000) + g, uint8(90+y*120/3000) + g, uint8((x^y)>>5) + g, 255})
		}
	}
	var cam bytes.Buffer
	jpeg.Encode(&cam, img, &jpeg.Options{Quality: 92})
	res, err := photo.Normalize(context.Background(), &cam, photo.Options{})
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(b.TempDir(), "files")
	bs, err := blobstore.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	hash, _, err := bs.Put(context.Background(), bytes.NewReader(res.Data), 1<<30)
	if err != nil {
		b.Fatal(err)
	}
	h := &Handler{FilesDir: dir}
	fi := server.FileInfo{Hash: hash, Size: int64(len(res.Data)), Type: "image/jpeg"}
	var out []byte
	for b.Loop() {
		if out, err = h.makeThumb(context.Background(), fi); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(res.Data))/1024, "photo-KB")
	b.ReportMetric(float64(len(out))/1024, "thumb-KB")
}
