package photo

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"

	"github.com/disintegration/imaging"
)

// transform turns an image by one of the eight EXIF orientations.
type transform func(image.Image) *image.NRGBA

// transforms are the eight symmetries of a rectangle, as imaging has them.
var transforms = []transform{
	imaging.Clone, imaging.FlipH, imaging.FlipV, imaging.Rotate90,
	imaging.Rotate180, imaging.Rotate270, imaging.Transpose, imaging.Transverse,
}

// probe is a 16 × 16 grey JPEG whose four 8 × 8 quarters have four distinct
// levels: each quarter is one DCT block, so the levels survive the codec
// exactly enough, and the four labelled corners tell all eight symmetries
// apart.
var probe, probeImage = makeProbe()

func makeProbe() ([]byte, *image.Gray) {
	g := image.NewGray(image.Rect(0, 0, 16, 16))
	for y := range 16 {
		for x := range 16 {
			g.SetGray(x, y, color.Gray{Y: uint8(40 + 60*(y/8*2+x/8))})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, g, &jpeg.Options{Quality: 100}); err != nil {
		panic(err)
	}
	return b.Bytes(), g
}

// quarters reads the levels of an image's four quarters.
func quarters(img image.Image) [4]uint8 {
	var q [4]uint8
	for i, p := range [4]image.Point{{4, 4}, {12, 4}, {4, 12}, {12, 12}} {
		q[i] = color.GrayModel.Convert(img.At(p.X, p.Y)).(color.Gray).Y
	}
	return q
}

func closeTo(a, b [4]uint8) bool {
	for i := range a {
		if d := int(a[i]) - int(b[i]); d < -8 || d > 8 {
			return false
		}
	}
	return true
}

// orientation returns the turn imaging.AutoOrientation would give the JPEG
// in data, nil when there is none. Scaling first and turning after saves
// turning all 12 million pixels of a photo taken upright (a 48 MB copy),
// but imaging reads the orientation only while decoding. So imaging
// decodes the 16 × 16 probe carrying this photo's EXIF segment instead,
// and where the probe's quarters land is the photo's turn: the EXIF is
// read by imaging, not here. Only the JPEG's segment headers are walked,
// to find the first APP1 before the image data, as imaging would.
func orientation(data []byte) transform {
	seg := firstAPP1(data)
	if seg == nil {
		return nil
	}
	carrier := make([]byte, 0, 2+len(seg)+len(probe))
	carrier = append(carrier, probe[:2]...)
	carrier = append(carrier, seg...)
	carrier = append(carrier, probe[2:]...)
	turned, err := imaging.Decode(bytes.NewReader(carrier), imaging.AutoOrientation(true))
	if err != nil {
		return nil
	}
	got := quarters(turned)
	if closeTo(got, quarters(probeImage)) {
		return nil
	}
	for _, t := range transforms[1:] {
		if closeTo(got, quarters(t(probeImage))) {
			return t
		}
	}
	return nil
}

// firstAPP1 returns the first APP1 segment of a JPEG, marker and length
// included, if one comes before the first scan.
func firstAPP1(b []byte) []byte {
	if len(b) < 2 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			return nil
		}
		m := b[i+1]
		if m == 0xFF { // fill byte before a marker
			i++
			continue
		}
		if m == 0xDA || m == 0xD9 {
			return nil
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return nil
		}
		if m == 0xE1 {
			return b[i : i+2+n]
		}
		i += 2 + n
	}
	return nil
}
