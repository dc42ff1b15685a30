package photo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/disintegration/imaging"
)

var ctx = context.Background()

// scene draws a photo-like picture: smooth shading with some detail and
// noise, so that JPEG sizes are like a camera's rather than a flat fill's.
// The top-left 1/8 × 1/8 corner is pure red, the top-right pure blue, to
// tell where the picture's corners end up.
func scene(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	sx, cx := make([]float64, w), make([]float64, w)
	for x := range w {
		fx := float64(x) / float64(w)
		sx[x], cx[x] = math.Sin(fx*17), math.Cos(fx*43)
	}
	for y := range h {
		fy := float64(y) / float64(h)
		sy, cy := math.Cos(fy*5), math.Sin(fy*29)
		row := img.Pix[y*img.Stride:]
		for x := range w {
			v := 0.5 + 0.25*sx[x]*sy + 0.15*cx[x]*cy + 0.12*(r.Float64()-0.5)
			row[4*x+0] = uint8(clamp(v * 230))
			row[4*x+1] = uint8(clamp(v*180 + 40*fy))
			row[4*x+2] = uint8(clamp(v*120 + 60*float64(x)/float64(w)))
			row[4*x+3] = 255
		}
	}
	fill(img, image.Rect(0, 0, w/8, h/8), color.RGBA{255, 0, 0, 255})
	fill(img, image.Rect(w-w/8, 0, w, h/8), color.RGBA{0, 0, 255, 255})
	return img
}

// camera12MP is a 4000 × 3000 camera JPEG of quality 92, made once.
var camera12MP = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, scene(4000, 3000), &jpeg.Options{Quality: 92}); err != nil {
		panic(err)
	}
	return b.Bytes()
})

func clamp(v float64) float64 { return max(0, min(255, v)) }

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

func encJPEG(t testing.TB, img image.Image, q int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encPNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// exifSegment builds an APP1 segment as a camera writes it: IFD0 with
// Make, Model, Orientation and a pointer to a GPS IFD holding a latitude
// and longitude (a village in 安徽, to the second).
func exifSegment(orientation uint16) []byte {
	be := binary.BigEndian
	var t []byte
	t = append(t, "MM\x00\x2a\x00\x00\x00\x08"...)
	const ifd0Entries, gpsEntries = 4, 4
	ifd0End := 8 + 2 + ifd0Entries*12 + 4
	gpsStart := ifd0End + 16 // after Make and Model strings
	gpsEnd := gpsStart + 2 + gpsEntries*12 + 4
	makeOff, modelOff := ifd0End, ifd0End+6
	latOff, lonOff := gpsEnd, gpsEnd+24
	entry := func(tag, typ uint16, count, value uint32) {
		t = be.AppendUint16(t, tag)
		t = be.AppendUint16(t, typ)
		t = be.AppendUint32(t, count)
		t = be.AppendUint32(t, value)
	}
	t = be.AppendUint16(t, ifd0Entries)
	entry(0x010F, 2, 6, uint32(makeOff))   // Make
	entry(0x0110, 2, 10, uint32(modelOff)) // Model
	entry(0x0112, 3, 1, uint32(orientation)<<16)
	entry(0x8825, 4, 1, uint32(gpsStart)) // GPSInfo
	t = be.AppendUint32(t, 0)
	t = append(t, "Canon\x00"...)
	t = append(t, "EOS 80D\x00\x00\x00"...)
	t = be.AppendUint16(t, gpsEntries)
	entry(0x0001, 2, 2, uint32('N')<<24)
	entry(0x0002, 5, 3, uint32(latOff))
	entry(0x0003, 2, 2, uint32('E')<<24)
	entry(0x0004, 5, 3, uint32(lonOff))
	t = be.AppendUint32(t, 0)
	for _, v := range []uint32{31, 1, 51, 1, 2345, 100, 117, 1, 17, 1, 5678, 100} {
		t = be.AppendUint32(t, v)
	}
	seg := []byte{0xFF, 0xE1, 0, 0}
	seg = append(seg, "Exif\x00\x00"...)
	seg = append(seg, t...)
	be.PutUint16(seg[2:], uint16(len(seg)-2))
	return seg
}

// withEXIF puts the segment right after the JPEG's SOI, where cameras do.
func withEXIF(jpg []byte, orientation uint16) []byte {
	out := append([]byte(nil), jpg[:2]...)
	out = append(out, exifSegment(orientation)...)
	return append(out, jpg[2:]...)
}

// segments lists the marker bytes of a JPEG's segments up to the scan.
func segments(t testing.TB, b []byte) []byte {
	t.Helper()
	if !bytes.HasPrefix(b, []byte{0xFF, 0xD8}) {
		t.Fatal("not a JPEG")
	}
	var markers []byte
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			t.Fatalf("no marker at %d", i)
		}
		m := b[i+1]
		markers = append(markers, m)
		if m == 0xDA {
			break
		}
		i += 2 + int(binary.BigEndian.Uint16(b[i+2:]))
	}
	return markers
}

func decodeOut(t testing.TB, res *Result) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(res.Data))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != res.Width || b.Dy() != res.Height {
		t.Fatalf("Result says %d×%d, image is %v", res.Width, res.Height, b)
	}
	return img
}

// near reports whether the pixel at x, y is close to c.
func near(img image.Image, x, y int, c color.RGBA) bool {
	r, g, b, _ := img.At(x, y).RGBA()
	d := func(a uint32, b uint8) float64 { return math.Abs(float64(a>>8) - float64(b)) }
	return d(r, c.R) < 40 && d(g, c.G) < 40 && d(b, c.B) < 40
}

var (
	red  = color.RGBA{255, 0, 0, 255}
	blue = color.RGBA{0, 0, 255, 255}
)

// A camera photo stored sideways (orientation 6: turn 90° clockwise to
// view) with GPS and camera data comes out upright — taller than wide,
// the stored top-left corner at the top right — and without a trace of
// the metadata.
func TestPhotoTurnedUprightAndStripped(t *testing.T) {
	in := withEXIF(encJPEG(t, scene(800, 600), 90), 6)
	if !bytes.Contains(in, []byte("Canon")) {
		t.Fatal("test input lacks its EXIF")
	}
	res, err := Normalize(ctx, bytes.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Type != TypeJPEG || res.Source != "jpeg" || res.Width != 600 || res.Height != 800 {
		t.Fatalf("got %s from %s, %d×%d; want image/jpeg 600×800", res.Type, res.Source, res.Width, res.Height)
	}
	img := decodeOut(t, res)
	if !near(img, 600-20, 20, red) || !near(img, 600-20, 800-20, blue) {
		t.Errorf("corners not where orientation 6 puts them: top-right %v, bottom-right %v", img.At(580, 20), img.At(580, 780))
	}
	for _, m := range segments(t, res.Data) {
		if m >= 0xE1 && m <= 0xEF || m == 0xFE {
			t.Errorf("output keeps segment FF%02X", m)
		}
	}
	for _, s := range []string{"Exif", "Canon", "EOS", "MM\x00\x2a"} {
		if bytes.Contains(res.Data, []byte(s)) {
			t.Errorf("output contains %q", s)
		}
	}
}

// Every EXIF orientation ends upright: the red corner, stored top-left,
// goes where the orientation says, and the sides swap for 5–8.
func TestAllOrientations(t *testing.T) {
	// where the stored top-left corner is shown: 0 top-left, 1 top-right,
	// 2 bottom-right, 3 bottom-left
	want := map[uint16]int{1: 0, 2: 1, 3: 2, 4: 3, 5: 0, 6: 1, 7: 2, 8: 3}
	src := encJPEG(t, scene(320, 240), 90)
	for o := uint16(1); o <= 8; o++ {
		res, err := Normalize(ctx, bytes.NewReader(withEXIF(src, o)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		w, h := 320, 240
		if o >= 5 {
			w, h = h, w
		}
		if res.Width != w || res.Height != h {
			t.Errorf("orientation %d: %d×%d, want %d×%d", o, res.Width, res.Height, w, h)
			continue
		}
		img := decodeOut(t, res)
		corners := [4]image.Point{{8, 8}, {w - 8, 8}, {w - 8, h - 8}, {8, h - 8}}
		if p := corners[want[o]]; !near(img, p.X, p.Y, red) {
			t.Errorf("orientation %d: red corner not at %v (%v)", o, p, img.At(p.X, p.Y))
		}
	}
}

// A 12-megapixel photo (4000 × 3000; 2000 × 1500 under the race
// detector) comes out 1600 × 1200 — 1200 × 1600 when it was taken upright
// — and small; a small one is not enlarged.
func TestScaledToTheLongEdge(t *testing.T) {
	big := camera12MP()
	if raceEnabled {
		big = encJPEG(t, scene(2000, 1500), 92)
	}
	for _, c := range []struct {
		name  string
		in    []byte
		w, h  int
		limit int
	}{
		{"landscape", big, 1600, 1200, 600 << 10},
		{"portrait by EXIF", withEXIF(big, 8), 1200, 1600, 600 << 10},
		{"PNG screenshot", encPNG(t, scene(1800, 900)), 1600, 800, 400 << 10},
		{"small", encJPEG(t, scene(640, 480), 90), 640, 480, 100 << 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := Normalize(ctx, bytes.NewReader(c.in), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Width != c.w || res.Height != c.h {
				t.Fatalf("%d×%d, want %d×%d", res.Width, res.Height, c.w, c.h)
			}
			decodeOut(t, res)
			if len(res.Data) > c.limit || len(res.Data) < 10<<10 {
				t.Errorf("%d bytes from %d, want 10 KB–%d KB", len(res.Data), len(c.in), c.limit>>10)
			}
			t.Logf("%d KB → %d KB", len(c.in)>>10, len(res.Data)>>10)
		})
	}
}

// Transparent parts of a PNG become white, not JPEG's black.
func TestTransparentPNGOnWhite(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 200, 100))
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 0 // transparent black
	}
	for y := 40; y < 60; y++ {
		for x := 0; x < 200; x++ {
			img.SetNRGBA(x, y, color.NRGBA{0, 0, 0, 255})
		}
	}
	res, err := Normalize(ctx, bytes.NewReader(encPNG(t, img)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := decodeOut(t, res)
	if !near(out, 10, 10, color.RGBA{255, 255, 255, 255}) || !near(out, 10, 50, color.RGBA{0, 0, 0, 255}) {
		t.Errorf("background %v, line %v", out.At(10, 10), out.At(10, 50))
	}
}

const pdf = "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"

func TestPDFKeptByteForByte(t *testing.T) {
	for _, in := range []string{pdf, pdf + strings.Repeat("\x00", 100), pdf + "3 0 obj\n<<>>\nendobj\n%%EOF\r\n"} {
		res, err := Normalize(ctx, strings.NewReader(in), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Type != TypePDF || string(res.Data) != in || res.Width != 0 {
			t.Fatalf("PDF changed: %s %q", res.Type, res.Data)
		}
	}
}

func code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		if e.Message == "" || !strings.ContainsFunc(e.Message, func(r rune) bool { return r >= 0x4e00 && r <= 0x9fff }) {
			return "no Chinese message: " + e.Message
		}
		return e.Code
	}
	return "not *Error: " + err.Error()
}

// pngHeader is a PNG that claims w × h pixels in a valid IHDR: a few
// dozen bytes whose pixels would take gigabytes.
func pngHeader(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32([]byte("IHDR"), w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, 13)
	b = append(b, ihdr...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
	return append(b, make([]byte, 64)...)
}

// jpegClaiming rewrites the size in a small JPEG's frame header.
func jpegClaiming(t testing.TB, w, h uint16) []byte {
	b := encJPEG(t, scene(64, 64), 80)
	i := bytes.Index(b, []byte{0xFF, 0xC0})
	binary.BigEndian.PutUint16(b[i+5:], h)
	binary.BigEndian.PutUint16(b[i+7:], w)
	return b
}

// Everything refused gets its code and a Chinese message; the type
// refusal names what is accepted.
func TestRefusals(t *testing.T) {
	good := encJPEG(t, scene(100, 100), 80)
	cases := []struct {
		name, in, code string
		opt            Options
	}{
		{"empty", "", CodeEmpty, Options{}},
		{"text", "这不是照片", CodeType, Options{}},
		{"GIF", "GIF89a\x01\x00\x01\x00", CodeType, Options{}},
		{"WebP", "RIFF\x00\x00\x00\x00WEBPVP8 ", CodeType, Options{}},
		{"HEIC", "\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", CodeType, Options{}},
		{"Word", "PK\x03\x04\x14\x00\x06\x00", CodeType, Options{}},
		{"JPEG named by its extension only", "\xff\xd9" + string(good[2:]), CodeType, Options{}},
		{"over MaxBytes", string(good), CodeSize, Options{MaxBytes: int64(len(good) - 1)}},
		{"JPEG cut in half", string(good[:len(good)/2]), CodeDamaged, Options{}},
		{"JPEG header only", string(good[:20]), CodeDamaged, Options{}},
		{"PNG bomb", string(pngHeader(100000, 100000)), CodePixels, Options{}},
		{"PNG one row too long", string(pngHeader(40000, 1)), CodePixels, Options{}},
		{"JPEG bomb", string(jpegClaiming(t, 65000, 65000)), CodePixels, Options{}},
		{"over MaxPixels", string(good), CodePixels, Options{MaxPixels: 9999}},
		{"PDF without end", pdf[:len(pdf)-7], CodeDamaged, Options{}},
		{"PDF header only", "%PDF-1.7\n", CodeDamaged, Options{}},
	}
	for _, c := range cases {
		res, err := Normalize(ctx, strings.NewReader(c.in), c.opt)
		if err == nil {
			t.Errorf("%s: accepted as %s", c.name, res.Type)
			continue
		}
		if got := code(err); got != c.code {
			t.Errorf("%s: %s (%v), want %s", c.name, got, err, c.code)
		}
	}
	_, err := Normalize(ctx, strings.NewReader("GIF89a"), Options{})
	for _, s := range []string{"JPEG", "PNG", "PDF"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("type refusal %q does not name %s", err, s)
		}
	}
	_, err = Normalize(ctx, strings.NewReader("\x00\x00\x00\x18ftypheic"), Options{})
	if !strings.Contains(err.Error(), "JPEG") || !strings.Contains(err.Error(), "HEIC") {
		t.Errorf("HEIC refusal %q", err)
	}
}

// A bomb is refused from its header: the refusal allocates almost nothing
// and takes no time, where decoding it would take 40 GB.
func TestBombRefusedBeforeDecoding(t *testing.T) {
	for name, in := range map[string][]byte{"png": pngHeader(100000, 100000), "jpeg": jpegClaiming(t, 65000, 65000)} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		_, err := Normalize(ctx, bytes.NewReader(in), Options{})
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		if code(err) != CodePixels {
			t.Fatalf("%s: %v", name, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 || took > time.Second {
			t.Errorf("%s: refusal allocated %d bytes in %v", name, alloc, took)
		}
	}
}

// Twenty photos attached at once are all normalised, one decode at a time.
func TestOneDecodeAtATime(t *testing.T) {
	in := withEXIF(encJPEG(t, scene(400, 300), 90), 6)
	inflightMax.Store(0)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := Normalize(ctx, bytes.NewReader(in), Options{LongEdge: 200})
			if err != nil || res.Width != 150 || res.Height != 200 {
				t.Errorf("Normalize = %+v, %v", res, err)
			}
		}()
	}
	wg.Wait()
	if m := inflightMax.Load(); m != 1 {
		t.Fatalf("%d decodes at once, want 1", m)
	}
	// A caller that gives up while waiting for the slot is told so.
	slots <- struct{}{}
	c, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err := Normalize(c, bytes.NewReader(in), Options{})
	<-slots
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Normalize while the slot is held = %v", err)
	}
}

func TestThumbnail(t *testing.T) {
	res, err := Normalize(ctx, bytes.NewReader(encJPEG(t, scene(800, 600), 85)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	th, err := Thumbnail(ctx, res.Data, 240)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(th))
	if err != nil || cfg.Width != 240 || cfg.Height != 180 {
		t.Fatalf("thumbnail %d×%d %v", cfg.Width, cfg.Height, err)
	}
	if _, err := Thumbnail(ctx, []byte(pdf), 240); code(err) != CodeType {
		t.Fatalf("thumbnail of a PDF: %v", err)
	}
}

// BenchmarkNormalize12MP normalises a 12-megapixel camera photo (4000 ×
// 3000, about 3.8 MB), upright and stored sideways, and reports the CPU
// time (all threads) and the peak heap of one call beside the wall time.
func BenchmarkNormalize12MP(b *testing.B) {
	src := camera12MP()
	for _, c := range []struct {
		name string
		in   []byte
	}{{"upright", src}, {"orientation6", withEXIF(src, 6)}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var out int
			var peak uint64
			cpu := cpuTime()
			for b.Loop() {
				peak = max(peak, peakHeap(func() {
					res, err := Normalize(ctx, bytes.NewReader(c.in), Options{})
					if err != nil {
						b.Fatal(err)
					}
					out = len(res.Data)
				}))
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1e6, "cpu-ms/op")
			b.ReportMetric(float64(peak)/1e6, "peak-MB")
			b.ReportMetric(float64(len(c.in))/1e6, "MB-in")
			b.ReportMetric(float64(out)/1e3, "kB-out")
		})
	}
}

// Scaling first and turning after gives the picture imaging gives by
// turning the full-size image first (its AutoOrientation), for each of
// the eight orientations, to within rounding.
func TestTurnAfterScalingMatchesImaging(t *testing.T) {
	src := encJPEG(t, scene(600, 340), 90)
	for o := uint16(1); o <= 8; o++ {
		in := withEXIF(src, o)
		res, err := Normalize(ctx, bytes.NewReader(in), Options{LongEdge: 300})
		if err != nil {
			t.Fatal(err)
		}
		got := decodeOut(t, res)
		full, err := imaging.Decode(bytes.NewReader(in), imaging.AutoOrientation(true))
		if err != nil {
			t.Fatal(err)
		}
		want, err := jpeg.Decode(bytes.NewReader(encJPEG(t, imaging.Fit(full, 300, 300, imaging.Lanczos), DefaultQuality)))
		if err != nil {
			t.Fatal(err)
		}
		if got.Bounds() != want.Bounds() {
			t.Fatalf("orientation %d: %v, imaging gives %v", o, got.Bounds(), want.Bounds())
		}
		var diff float64
		b := got.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r1, g1, b1, _ := got.At(x, y).RGBA()
				r2, g2, b2, _ := want.At(x, y).RGBA()
				diff += math.Abs(float64(r1)-float64(r2)) + math.Abs(float64(g1)-float64(g2)) + math.Abs(float64(b1)-float64(b2))
			}
		}
		if mean := diff / 3 / 257 / float64(b.Dx()*b.Dy()); mean > 2 {
			t.Errorf("orientation %d: mean difference %.2f levels", o, mean)
		}
	}
}

// Only the first APP1 before the image counts, and only if it is EXIF
// (an XMP packet first means no orientation, as for imaging); a JPEG with
// broken segment lengths has none.
func TestOrientationSources(t *testing.T) {
	src := encJPEG(t, scene(64, 48), 90)
	xmp := []byte{0xFF, 0xE1, 0, 0}
	xmp = append(xmp, "http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta/>"...)
	binary.BigEndian.PutUint16(xmp[2:], uint16(len(xmp)-2))
	xmpFirst := append(append(append([]byte(nil), src[:2]...), xmp...), withEXIF(src, 6)[2:]...)
	broken := withEXIF(src, 6)
	binary.BigEndian.PutUint16(broken[4:], 0xFFFF)
	for name, c := range map[string]struct {
		in   []byte
		turn bool
	}{
		"none": {src, false}, "exif 6": {withEXIF(src, 6), true}, "exif 1": {withEXIF(src, 1), false},
		"xmp first": {xmpFirst, false}, "broken length": {broken, false}, "not a jpeg": {encPNG(t, scene(8, 8)), false},
	} {
		if got := orientation(c.in) != nil; got != c.turn {
			t.Errorf("%s: turned %v, want %v", name, got, c.turn)
		}
	}
}

// FuzzNormalize feeds Normalize what a camera card, a phone or a stranger
// may hand over. It never panics; whatever it accepts is a PDF kept as it
// was or a JPEG within the long edge, without metadata, that decodes.
func FuzzNormalize(f *testing.F) {
	small := encJPEG(f, scene(40, 30), 80)
	f.Add(withEXIF(small, 6))
	f.Add(small)
	f.Add(encPNG(f, scene(30, 20)))
	f.Add([]byte(pdf))
	f.Add(pngHeader(100000, 100000))
	f.Add([]byte("\x00\x00\x00\x18ftypheic"))
	opt := Options{MaxBytes: 1 << 20, MaxPixels: 1 << 20, LongEdge: 32}
	f.Fuzz(func(t *testing.T, in []byte) {
		start := time.Now()
		res, err := Normalize(ctx, bytes.NewReader(in), opt)
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("took %v", took)
		}
		if err != nil {
			var e *Error
			if errors.As(err, &e) && e.Message == "" {
				t.Fatalf("refusal without a message: %#v", e)
			}
			return
		}
		switch res.Type {
		case TypePDF:
			if !bytes.Equal(res.Data, in) {
				t.Fatal("PDF changed")
			}
		case TypeJPEG:
			img := decodeOut(t, res)
			if b := img.Bounds(); b.Dx() > 32 || b.Dy() > 32 {
				t.Fatalf("%v over the long edge", b)
			}
			for _, m := range segments(t, res.Data) {
				if m >= 0xE1 && m <= 0xEF || m == 0xFE {
					t.Fatalf("output keeps segment FF%02X", m)
				}
			}
		default:
			t.Fatalf("type %q", res.Type)
		}
	})
}
