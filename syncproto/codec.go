package syncproto

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Limits every decoder enforces before it trusts a byte: a station's link
// is slow, but a malformed or hostile payload must not exhaust the county.
const (
	MaxEnvelope   = 16 << 20 // compressed bytes of one pushed envelope
	MaxBatchJSON  = 64 << 20 // decompressed bytes of one batch
	MaxChanges    = 20000    // changes in one batch
	MaxHeaderSize = 4096
)

var envelopeMagic = [4]byte{'S', 'S', 'B', '1'}

// EnvelopeHeader is the signed, uncompressed head of an envelope: enough to
// find the station's key before anything is decompressed.
type EnvelopeHeader struct {
	Version  int    `json:"v"`
	Station  string `json:"station"`
	Epoch    string `json:"epoch"`
	First    uint64 `json:"first"`
	Last     uint64 `json:"last"`
	Count    int    `json:"count"`
	Encoding string `json:"enc"` // EncodingJSON (v1) or EncodingColumns (v2)
}

// Errors of the decoders. Each is a *DecodeError so that the server maps
// them all to 400 in one place.
var (
	ErrBadMagic     = errors.New("syncproto: not a stationsync envelope")
	ErrTruncated    = errors.New("syncproto: envelope truncated")
	ErrTooLarge     = errors.New("syncproto: payload too large")
	ErrBadSignature = errors.New("syncproto: signature does not verify")
)

// Envelope is a parsed, not yet verified, envelope.
type Envelope struct {
	Header    EnvelopeHeader
	signed    []byte // magic through body: what the signature covers
	body      []byte // compressed batch
	Signature []byte
}

// Level picks the compression effort: Best for slow links, where every
// byte costs more than CPU; Better for fast links carrying large batches;
// Fast for small answers.
type Level int

// Compression levels. Best is the zero value.
//
// Measured on columnar batches of generated visits (bench/): Best is a few
// per cent smaller than Better, which matters on the 2G links that carry
// batches of 200 to 1,000 changes; at 10,000 visits Better is 40.7 bytes a
// visit against Best's 38.9 for a quarter of the CPU time.
const (
	Best Level = iota
	Fast
	Better
)

// coders keeps zstd coders between uses, up to a few per kind. Not a
// sync.Pool: a pool is emptied at every garbage collection, and building a
// coder with an 8 MiB window (tens of MB allocated and zeroed) cost more
// than compressing the 10,000-change batch it was built for.
type coders[T any] struct {
	idle  chan T
	build func() T
}

func newCoders[T any](keep int, build func() T) *coders[T] {
	return &coders[T]{idle: make(chan T, keep), build: build}
}

func (c *coders[T]) get() T {
	select {
	case x := <-c.idle:
		return x
	default:
		return c.build()
	}
}

func (c *coders[T]) put(x T) {
	select {
	case c.idle <- x:
	default: // enough are kept; this one goes to the collector
	}
}

// A station compresses one batch at a time with Best or Better; the county
// answers many at once with Fast and decodes many pushes at once.
var (
	encoders = map[Level]*coders[*zstd.Encoder]{
		Fast:   newCoders(4, func() *zstd.Encoder { return newEncoder(zstd.SpeedDefault) }),
		Better: newCoders(1, func() *zstd.Encoder { return newEncoder(zstd.SpeedBetterCompression) }),
		Best:   newCoders(1, func() *zstd.Encoder { return newEncoder(zstd.SpeedBestCompression) }),
	}
	decoders = newCoders(4, func() *zstd.Decoder {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxBatchJSON), zstd.WithDecoderMaxWindow(8<<20))
		if err != nil {
			panic(err) // only on invalid options, fixed at compile time
		}
		return d
	})
)

func newEncoder(l zstd.EncoderLevel) *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(l), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(8<<20))
	if err != nil {
		panic(err) // only on invalid options, fixed at compile time
	}
	return e
}

// Compress returns zstd(src).
func Compress(src []byte, l Level) []byte {
	p := encoders[l]
	e := p.get()
	defer p.put(e)
	return e.EncodeAll(src, make([]byte, 0, len(src)/4+64))
}

// Decompress returns the decompressed src, refusing more than max bytes.
func Decompress(src []byte, max int) ([]byte, error) {
	d := decoders.get()
	defer decoders.put(d)
	if err := d.Reset(bytes.NewReader(src)); err != nil {
		return nil, fmt.Errorf("syncproto: decompress: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(d, int64(max)+1))
	if err != nil {
		return nil, fmt.Errorf("syncproto: decompress: %w", err)
	}
	if len(out) > max {
		return nil, ErrTooLarge
	}
	return out, nil
}

// SealBatch encodes, compresses and signs a batch. The envelope is
//
//	"SSB1" | u16 header length | header JSON | u32 body length | zstd(batch JSON) | ed25519 signature (64)
//
// and the signature covers everything before it.
func SealBatch(b *Batch, key ed25519.PrivateKey, l Level) ([]byte, error) {
	if len(b.Changes) == 0 {
		return nil, errors.New("syncproto: empty batch")
	}
	if len(b.Changes) > MaxChanges {
		return nil, ErrTooLarge
	}
	enc, err := encodingOf(b.Version)
	if err != nil {
		return nil, err
	}
	var raw []byte
	if enc == EncodingColumns {
		raw, err = encodeColumns(b)
	} else {
		raw, err = json.Marshal(b)
	}
	if err != nil {
		return nil, fmt.Errorf("syncproto: encode batch: %w", err)
	}
	if len(raw) > MaxBatchJSON {
		return nil, ErrTooLarge
	}
	body := Compress(raw, l)
	if len(body) > MaxEnvelope {
		return nil, ErrTooLarge
	}
	h := EnvelopeHeader{
		Version: b.Version, Station: b.Station, Epoch: b.Epoch, Encoding: enc,
		First: b.Changes[0].Seq, Last: b.Changes[len(b.Changes)-1].Seq, Count: len(b.Changes),
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("syncproto: encode header: %w", err)
	}
	if len(hj) > MaxHeaderSize {
		// The u16 length would wrap, or ParseEnvelope would refuse it.
		return nil, fmt.Errorf("syncproto: envelope header of %d bytes: %w", len(hj), ErrTooLarge)
	}
	out := make([]byte, 0, 4+2+len(hj)+4+len(body)+ed25519.SignatureSize)
	out = append(out, envelopeMagic[:]...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(hj)))
	out = append(out, hj...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(body)))
	out = append(out, body...)
	out = append(out, ed25519.Sign(key, out)...)
	return out, nil
}

// ParseEnvelope reads an envelope's frame and header without trusting it.
// It returns the number of bytes used, so that a file of concatenated
// envelopes (a USB bundle) can be read one after another.
func ParseEnvelope(p []byte) (*Envelope, int, error) {
	if len(p) < 4 {
		return nil, 0, ErrTruncated
	}
	if !bytes.Equal(p[:4], envelopeMagic[:]) {
		return nil, 0, ErrBadMagic
	}
	if len(p) < 6 {
		return nil, 0, ErrTruncated
	}
	hl := int(binary.BigEndian.Uint16(p[4:6]))
	if hl > MaxHeaderSize {
		return nil, 0, ErrTooLarge
	}
	if len(p) < 6+hl+4 {
		return nil, 0, ErrTruncated
	}
	var h EnvelopeHeader
	dec := json.NewDecoder(bytes.NewReader(p[6 : 6+hl]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return nil, 0, fmt.Errorf("syncproto: envelope header: %w", err)
	}
	if !atEOF(dec) {
		return nil, 0, errors.New("syncproto: envelope header: trailing data")
	}
	bl := int(binary.BigEndian.Uint32(p[6+hl : 10+hl]))
	if bl > MaxEnvelope {
		return nil, 0, ErrTooLarge
	}
	end := 10 + hl + bl
	if len(p) < end+ed25519.SignatureSize {
		return nil, 0, ErrTruncated
	}
	if enc, err := encodingOf(h.Version); err != nil || h.Encoding != enc {
		return nil, 0, fmt.Errorf("syncproto: unknown encoding %q for version %d", h.Encoding, h.Version)
	}
	if h.Count <= 0 || h.Count > MaxChanges || h.Last < h.First {
		return nil, 0, fmt.Errorf("syncproto: envelope header: bad change range")
	}
	return &Envelope{
		Header:    h,
		signed:    p[:end],
		body:      p[10+hl : end],
		Signature: p[end : end+ed25519.SignatureSize],
	}, end + ed25519.SignatureSize, nil
}

// Open verifies the signature with the station's public key, then
// decompresses and decodes the batch and checks that it agrees with the
// signed header.
func (e *Envelope) Open(pub ed25519.PublicKey) (*Batch, error) {
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, e.signed, e.Signature) {
		return nil, ErrBadSignature
	}
	raw, err := Decompress(e.body, MaxBatchJSON)
	if err != nil {
		return nil, err
	}
	var b *Batch
	if e.Header.Encoding == EncodingColumns {
		b, err = decodeColumns(raw)
	} else {
		b, err = DecodeBatch(raw)
	}
	if err != nil {
		return nil, err
	}
	h := e.Header
	if b.Station != h.Station || b.Epoch != h.Epoch || b.Version != h.Version || len(b.Changes) != h.Count ||
		b.Changes[0].Seq != h.First || b.Changes[len(b.Changes)-1].Seq != h.Last {
		return nil, errors.New("syncproto: batch does not match its envelope header")
	}
	return b, nil
}

// DecodeBatch decodes and checks the shape of a batch: consecutive
// sequence numbers, known fields only, sane sizes.
func DecodeBatch(raw []byte) (*Batch, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var b Batch
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("syncproto: decode batch: %w", err)
	}
	if !atEOF(dec) {
		return nil, errors.New("syncproto: decode batch: trailing data")
	}
	if err := checkBatch(&b); err != nil {
		return nil, err
	}
	return &b, nil
}

// checkBatch checks what both encodings must hold: 1 to MaxChanges changes
// with consecutive seqs, each with a kind, an id and an op.
func checkBatch(b *Batch) error {
	if len(b.Changes) == 0 || len(b.Changes) > MaxChanges {
		return errors.New("syncproto: batch must hold 1 to 20000 changes")
	}
	if b.Station == "" || b.Epoch == "" || len(b.Epoch) > 64 {
		return errors.New("syncproto: batch without station or epoch")
	}
	for i, c := range b.Changes {
		if i > 0 && c.Seq != b.Changes[i-1].Seq+1 {
			return errors.New("syncproto: batch sequence numbers are not consecutive")
		}
		if c.Seq == 0 || c.Kind == "" || c.ID == "" || len(c.ID) > 64 || c.Op == "" {
			return fmt.Errorf("syncproto: change %d lacks seq, kind, id or op", c.Seq)
		}
	}
	return nil
}

// encodingOf is the body encoding of a batch of protocol version v.
func encodingOf(v int) (string, error) {
	switch {
	case v == 1:
		return EncodingJSON, nil
	case v == 2:
		return EncodingColumns, nil
	}
	return "", &VersionError{Peer: v, Local: Version}
}

// atEOF reports whether only white space follows the value dec decoded.
// (dec.More is not enough: it reports false before a stray ']' or '}'.)
func atEOF(dec *json.Decoder) bool {
	_, err := dec.Token()
	return err == io.EOF
}
