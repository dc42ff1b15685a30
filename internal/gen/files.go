package gen

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
)

// Photo is a w×h JPEG at quality q that compresses as a camera's photo
// does, distinct per seed: a smooth scene with grain about 7 px across
// (detail that survives scaling down, as leaves and brickwork do) and a
// little sensor noise. Pure noise would compress far worse than a photo
// and smooth gradients far better; at 4000×3000 and quality 92 this is
// about 3 MB, and about 330 KB once a station scales it to 1,600 px.
func Photo(w, h int, seed uint64, q int) []byte {
	const cell = 7
	r := rand.New(rand.NewPCG(seed, 3))
	cw := w/cell + 1
	grain := make([]float64, cw*(h/cell+1))
	for i := range grain {
		grain[i] = r.NormFloat64() * 12
	}
	ph := r.Float64() * 6
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			v := 110 + 60*math.Sin(fx*9+fy*4+ph) + 40*math.Cos(fx*23*fy+fy*7) + 30*math.Sin(float64(x/40+y/55)) +
				grain[(y/cell)*cw+x/cell] + r.NormFloat64()*2
			c := func(o float64) uint8 { return uint8(max(0, min(255, v+o))) }
			img.SetRGBA(x, y, color.RGBA{c(10), c(-5), c(-20), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		panic("gen: encode a photo: " + err.Error()) // writing to memory does not fail
	}
	return buf.Bytes()
}

// PDF is a one-page PDF that a browser's viewer opens, showing text (ASCII).
func PDF(text string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	stream := "BT /F1 24 Tf 40 100 Td (" + text + ") Tj ET"
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(stream), stream),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}
