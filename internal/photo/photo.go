package photo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"sync/atomic"

	"github.com/disintegration/imaging"
)

// Types of a normalised file, as stored beside its hash in a record.
const (
	TypeJPEG = "image/jpeg"
	TypePDF  = "application/pdf"
)

// Options bound and shape the work. The zero value of a field means its
// default.
type Options struct {
	MaxBytes  int64 // largest input; default 32 MiB
	MaxPixels int   // largest image, width × height; default 50 million (a 48-megapixel phone)
	LongEdge  int   // longest side of the output image in pixels; default 1600
	Quality   int   // JPEG quality of the output; default 80
}

// Defaults.
const (
	DefaultMaxBytes  = 32 << 20
	DefaultMaxPixels = 50_000_000
	DefaultLongEdge  = 1600
	DefaultQuality   = 80
)

// maxSide refuses absurd shapes within the pixel budget (1 × 50,000,000),
// which scale to nothing and still cost a full decode.
const maxSide = 30000

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxPixels <= 0 {
		o.MaxPixels = DefaultMaxPixels
	}
	if o.LongEdge <= 0 {
		o.LongEdge = DefaultLongEdge
	}
	if o.Quality <= 0 || o.Quality > 100 {
		o.Quality = DefaultQuality
	}
	return o
}

// Result is a normalised file.
type Result struct {
	Data   []byte
	Type   string // TypeJPEG or TypePDF
	Source string // what the input was: "jpeg", "png" or "pdf"
	Width  int    // pixels, 0 for a PDF
	Height int
}

// Error codes of *Error: stable words for programs and tests; the Chinese
// Message may be reworded.
const (
	CodeType    = "type"    // not JPEG, PNG or PDF
	CodeEmpty   = "empty"   // no bytes
	CodeSize    = "size"    // more than MaxBytes
	CodePixels  = "pixels"  // more than MaxPixels, or a side over 30,000 px
	CodeDamaged = "damaged" // looks like a JPEG, PNG or PDF but cannot be read as one
)

// Error says why a file was refused. Message is a complete Simplified
// Chinese sentence for the cadre.
type Error struct {
	Code    string
	Message string
	Err     error // the decoder's own error, if any, for the log
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

// accepted is said whenever a type is refused.
const accepted = "只能添加 JPEG、PNG 格式的照片或 PDF 格式的扫描件"

func typeError(kind string) *Error {
	msg := "不支持这种文件，" + accepted + "。"
	switch kind {
	case "heic":
		msg = "这是苹果手机的 HEIC 照片，" + accepted + "：请在手机上把照片转成 JPEG 再添加（或在“设置→相机→格式”中选“兼容性最佳”）。"
	case "gif", "webp", "bmp", "tiff":
		msg = "不支持 " + map[string]string{"gif": "GIF", "webp": "WebP", "bmp": "BMP", "tiff": "TIFF"}[kind] + " 图片，" + accepted + "。"
	}
	return &Error{Code: CodeType, Message: msg}
}

// Sniff names the kind of a file from its first bytes: "jpeg", "png",
// "pdf", one of the refused image kinds ("heic", "gif", "webp", "bmp",
// "tiff"), or "" — never from its name, which a copy from a phone may
// have got wrong.
func Sniff(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("\xff\xd8\xff")):
		return "jpeg"
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return "pdf"
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return "gif"
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return "webp"
	case bytes.HasPrefix(head, []byte("BM")):
		return "bmp"
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return "tiff"
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		switch string(head[8:12]) {
		case "heic", "heix", "hevc", "heim", "heis", "mif1", "msf1", "avif":
			return "heic"
		}
	}
	return ""
}

// slots lets one image be decoded at a time: decoding and scaling a
// 12-megapixel photo peaks at about 50 MB of heap, a 48-megapixel one at
// four times that, and a station PC may have 4 GB for everything.
var slots = make(chan struct{}, 1)

// Normalize reads a file of at most opt.MaxBytes and returns what is to be
// stored: a JPEG or PNG image upright, scaled down to opt.LongEdge,
// re-encoded as a JPEG without any metadata; a PDF unchanged. Anything else
// is an *Error with a Chinese message. ctx bounds the wait for a decoding
// slot.
func Normalize(ctx context.Context, r io.Reader, opt Options) (*Result, error) {
	opt = opt.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, opt.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read file: %w", err)
	}
	if int64(len(data)) > opt.MaxBytes {
		return nil, &Error{Code: CodeSize, Message: fmt.Sprintf("文件太大，不能超过 %s。", mb(opt.MaxBytes))}
	}
	if len(data) == 0 {
		return nil, &Error{Code: CodeEmpty, Message: "文件是空的，请重新选择。"}
	}
	kind := Sniff(data)
	switch kind {
	case "pdf":
		if err := checkPDF(data); err != nil {
			return nil, err
		}
		return &Result{Data: data, Type: TypePDF, Source: kind}, nil
	case "jpeg", "png":
	default:
		return nil, typeError(kind)
	}
	if _, err := checkImage(data, kind, opt.MaxPixels); err != nil {
		return nil, err
	}
	if err := acquire(ctx); err != nil {
		return nil, err
	}
	defer release()
	img, err := decode(data, kind)
	if err != nil {
		return nil, damaged(err)
	}
	out := imaging.Fit(img, opt.LongEdge, opt.LongEdge, imaging.Lanczos)
	img = nil // the full-size pixels can go before the output is encoded
	if kind == "jpeg" {
		if turn := orientation(data); turn != nil {
			out = turn(out)
		}
	}
	b, err := encodeJPEG(out, opt.Quality)
	if err != nil {
		return nil, fmt.Errorf("encode photo: %w", err)
	}
	return &Result{Data: b, Type: TypeJPEG, Source: kind, Width: out.Rect.Dx(), Height: out.Rect.Dy()}, nil
}

// decode decodes the image as stored, not yet turned by its orientation.
func decode(data []byte, kind string) (image.Image, error) {
	if kind == "jpeg" {
		return jpeg.Decode(bytes.NewReader(data))
	}
	return png.Decode(bytes.NewReader(data))
}

// inflight counts decodes running, and inflightMax the most at once, for
// the test of the slot.
var inflight, inflightMax atomic.Int32

func acquire(ctx context.Context) error {
	select {
	case slots <- struct{}{}:
		n := inflight.Add(1)
		for m := inflightMax.Load(); n > m && !inflightMax.CompareAndSwap(m, n); m = inflightMax.Load() {
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func release() {
	inflight.Add(-1)
	<-slots
}

// checkImage reads the image's header only and refuses a damaged one or
// one too large to decode.
func checkImage(data []byte, kind string, maxPixels int) (image.Config, error) {
	var cfg image.Config
	var err error
	if kind == "jpeg" {
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
	} else {
		cfg, err = png.DecodeConfig(bytes.NewReader(data))
	}
	if err != nil {
		return cfg, damaged(err)
	}
	w, h := cfg.Width, cfg.Height
	if w <= 0 || h <= 0 {
		return cfg, damaged(errors.New("no pixels"))
	}
	if w > maxSide || h > maxSide || int64(w)*int64(h) > int64(maxPixels) {
		return cfg, &Error{Code: CodePixels, Message: fmt.Sprintf("图片太大（%d×%d 像素），最多 %d 万像素，请缩小后再添加。", w, h, maxPixels/10000)}
	}
	return cfg, nil
}

func damaged(err error) *Error {
	return &Error{Code: CodeDamaged, Message: "图片已损坏或不完整，无法打开，请重新拍摄或重新复制。", Err: err}
}

// checkPDF accepts a file that begins as a PDF and has the end-of-file
// mark near its end. A PDF cut short (a scan copied from a stick pulled
// early) has none; one updated incrementally has several, the last at the
// end. Readers look for it in the last 1024 bytes, and so does this.
func checkPDF(data []byte) error {
	tail := data[max(0, len(data)-1024):]
	if !bytes.HasPrefix(data, []byte("%PDF-")) || !bytes.Contains(tail, []byte("%%EOF")) {
		return &Error{Code: CodeDamaged, Message: "PDF 文件不完整或已损坏，请重新扫描或重新复制。"}
	}
	return nil
}

// encodeJPEG encodes an image as a baseline JPEG with no metadata at all:
// image/jpeg writes none, so nothing of the original's EXIF, XMP, ICC or
// comments survives. Transparent pixels of a PNG are put on white first
// (JPEG has no transparency and would show them black).
func encodeJPEG(img *image.NRGBA, quality int) ([]byte, error) {
	if !img.Opaque() {
		bg := imaging.New(img.Rect.Dx(), img.Rect.Dy(), color.White)
		img = imaging.Overlay(bg, img, image.Point{}, 1)
	}
	// An opaque NRGBA has the same bytes as an RGBA, for which the encoder
	// has a fast path (it reads other images pixel by pixel).
	rgba := &image.RGBA{Pix: img.Pix, Stride: img.Stride, Rect: img.Rect}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, rgba, &jpeg.Options{Quality: quality}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Thumbnail makes a small JPEG of a stored image, at most edge pixels on
// its long side, for the record pages. The input is a normalised JPEG (or
// PNG); the same size limits apply.
func Thumbnail(ctx context.Context, data []byte, edge int) ([]byte, error) {
	kind := Sniff(data)
	if kind != "jpeg" && kind != "png" {
		return nil, typeError(kind)
	}
	if _, err := checkImage(data, kind, DefaultMaxPixels); err != nil {
		return nil, err
	}
	if err := acquire(ctx); err != nil {
		return nil, err
	}
	defer release()
	img, err := decode(data, kind)
	if err != nil {
		return nil, damaged(err)
	}
	out := imaging.Fit(img, edge, edge, imaging.Linear)
	if kind == "jpeg" {
		if turn := orientation(data); turn != nil {
			out = turn(out)
		}
	}
	return encodeJPEG(out, 75)
}

func mb(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MB", n>>20)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}
