package syncproto

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

const (
	testStation = "st_5f0c2a9e1b7d4c38"
	testEpoch   = "9b1e4c7a2d5f8e30"
	testVillage = "340123101201"
)

// sampleBatch returns n consecutive changes from seq first, of the kinds a
// station really sends.
//
// The batch is of protocol version 1, whose body is JSON: most decoder
// tests here are about JSON, which servers go on accepting from older
// agents. sampleBatchV makes one of another version.
func sampleBatch(first uint64, n int) *Batch { return sampleBatchV(1, first, n) }

func sampleBatchV(v int, first uint64, n int) *Batch {
	b := &Batch{Version: v, Station: testStation, Epoch: testEpoch, Village: testVillage,
		SentHLC: 117679717697060866, Pending: n, AgentVersion: "1.0.0"}
	for i := range n {
		seq := first + uint64(i)
		c := Change{Seq: seq, HLC: 117679717697060864 + seq, Kind: "visit", ID: fmt.Sprintf("01a21514-6a93-7323-8371-%012d", seq), Op: "upsert",
			Fields: map[string]json.RawMessage{
				"person_id":  json.RawMessage(`"01a21514-6a93-7323-8371-e289dff09ebc"`),
				"visited_on": json.RawMessage(`"2026-11-20"`),
				"visitors":   json.RawMessage(`["李明"]`),
				"method":     json.RawMessage(`"入户走访"`),
				"situation":  json.RawMessage(`"老人独居，身体尚可，冬季取暖需关注。"`),
				"risk":       json.RawMessage(`"关注"`),
			},
			By: "李明", At: 1795649989274}
		switch i % 3 {
		case 1:
			c.Kind, c.Fields = "person", map[string]json.RawMessage{"phone": json.RawMessage(`"13905510456"`)}
			c.Base, c.Rev = map[string]uint64{"phone": 117679717696602112}, 3
		case 2:
			c.Kind, c.Op, c.Fields, c.Rev = "application", "submit", map[string]json.RawMessage{"comment": json.RawMessage(`"材料已齐"`)}, 1
		}
		b.Changes = append(b.Changes, c)
	}
	return b
}

func seal(t testing.TB, b *Batch, l Level) []byte {
	t.Helper()
	env, err := SealBatch(b, FixtureKey(), l)
	if err != nil {
		t.Fatalf("SealBatch: %v", err)
	}
	return env
}

func fixturePub() ed25519.PublicKey { return FixtureKey().Public().(ed25519.PublicKey) }

// frame builds an envelope around any header and body bytes and signs it
// correctly, so that tests reach the checks after the signature.
func frame(hdr, body []byte) []byte {
	out := append([]byte("SSB1"), 0, 0)
	binary.BigEndian.PutUint16(out[4:], uint16(len(hdr)))
	out = append(out, hdr...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(body)))
	out = append(out, body...)
	return append(out, ed25519.Sign(FixtureKey(), out)...)
}

func headerJSON(b *Batch) []byte {
	h, _ := json.Marshal(EnvelopeHeader{Version: b.Version, Station: b.Station, Epoch: b.Epoch,
		First: b.Changes[0].Seq, Last: b.Changes[len(b.Changes)-1].Seq, Count: len(b.Changes), Encoding: EncodingJSON})
	return h
}

// frameBatch seals raw batch JSON under the header that batch b would get.
func frameBatch(b *Batch, raw []byte) []byte { return frame(headerJSON(b), Compress(raw, Fast)) }

func open(p []byte) (*Batch, error) {
	e, n, err := ParseEnvelope(p)
	if err != nil {
		return nil, err
	}
	if n != len(p) {
		return nil, fmt.Errorf("ParseEnvelope used %d of %d bytes", n, len(p))
	}
	return e.Open(fixturePub())
}

func TestSealOpenRoundTrip(t *testing.T) {
	for v := MinVersion; v <= Version; v++ {
		long := sampleBatchV(v, 1, 1)
		long.Changes[0].Fields["situation"] = json.RawMessage(`"` + strings.Repeat("走访", 2500) + `"`)
		intentOnly := sampleBatchV(v, 7, 1)
		intentOnly.Changes[0] = Change{Seq: 7, HLC: 1, Kind: "application", ID: "01a21514-6a93-7324-8252-919d47762059", Op: "withdraw"}
		backwards := sampleBatchV(v, 1, 4)
		backwards.Changes[1].HLC, backwards.Changes[2].At, backwards.Changes[3].HLC = 5, -1, ^uint64(0)
		for _, tc := range []struct {
			name string
			b    *Batch
			l    Level
		}{
			{"one change, fast", sampleBatchV(v, 1, 1), Fast},
			{"two changes, best", sampleBatchV(v, 2, 2), Best},
			{"mixed kinds, base and rev", sampleBatchV(v, 10, 9), Best},
			{"1000 changes", sampleBatchV(v, 1, 1000), Better},
			{"max changes", sampleBatchV(v, 1, MaxChanges), Fast},
			{"seq near the top of uint64", sampleBatchV(v, 1<<63, 3), Fast},
			{"hlc and at going back and to the ends of their range", backwards, Fast},
			{"5000-character text", long, Best},
			{"intent without fields", intentOnly, Fast},
			{"no village, no agent version", func() *Batch { b := sampleBatchV(v, 1, 2); b.Village, b.AgentVersion = "", ""; return b }(), Fast},
		} {
			t.Run(fmt.Sprintf("v%d/%s", v, tc.name), func(t *testing.T) {
				env := seal(t, tc.b, tc.l)
				if !bytes.HasPrefix(env, []byte("SSB1")) {
					t.Fatalf("envelope starts % x", env[:4])
				}
				e, n, err := ParseEnvelope(env)
				if err != nil {
					t.Fatalf("ParseEnvelope: %v", err)
				}
				if n != len(env) {
					t.Fatalf("ParseEnvelope used %d of %d bytes", n, len(env))
				}
				enc := map[int]string{1: EncodingJSON, 2: EncodingColumns}[v]
				want := EnvelopeHeader{Version: v, Station: tc.b.Station, Epoch: tc.b.Epoch, First: tc.b.Changes[0].Seq,
					Last: tc.b.Changes[len(tc.b.Changes)-1].Seq, Count: len(tc.b.Changes), Encoding: enc}
				if e.Header != want {
					t.Fatalf("header %+v, want %+v", e.Header, want)
				}
				if len(e.Signature) != ed25519.SignatureSize {
					t.Fatalf("signature of %d bytes", len(e.Signature))
				}
				got, err := e.Open(fixturePub())
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if !reflect.DeepEqual(got, tc.b) {
					t.Fatalf("batch changed in transit:\n got %+v\nwant %+v", got.Changes[0], tc.b.Changes[0])
				}
			})
		}
	}
}

// A USB bundle is envelopes one after another; ParseEnvelope's count lets
// a reader walk it.
func TestParseEnvelopeBundle(t *testing.T) {
	var bundle []byte
	var want []uint64
	for i, first := range []uint64{1, 4, 6} {
		bundle = append(bundle, seal(t, sampleBatch(first, 3-i), Best)...)
		want = append(want, first)
	}
	var got []uint64
	for p := bundle; len(p) > 0; {
		e, n, err := ParseEnvelope(p)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		b, err := e.Open(fixturePub())
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		got = append(got, b.Changes[0].Seq)
		p = p[n:]
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("walked %v, want %v", got, want)
	}
}

func TestSealBatchRefuses(t *testing.T) {
	tooMany := sampleBatch(1, 1)
	tooMany.Changes = make([]Change, MaxChanges+1)
	bigStation := sampleBatch(1, 1)
	bigStation.Station = strings.Repeat("s", MaxHeaderSize)
	hugeStation := sampleBatch(1, 1)
	hugeStation.Station = strings.Repeat("s", 70000) // would wrap the u16 length
	for _, tc := range []struct {
		name string
		b    *Batch
		want error
	}{
		{"empty batch", &Batch{Version: Version, Station: testStation, Epoch: testEpoch}, nil},
		{"too many changes", tooMany, ErrTooLarge},
		{"header over MaxHeaderSize", bigStation, ErrTooLarge},
		{"header over 64 KiB", hugeStation, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, err := SealBatch(tc.b, FixtureKey(), Fast)
			if err == nil {
				t.Fatalf("sealed %d bytes", len(env))
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

// TestParseEnvelopeErrors covers the frame and header checks, which run
// before any key is looked up.
func TestParseEnvelopeErrors(t *testing.T) {
	b := sampleBatch(1, 2)
	hdr := headerJSON(b)
	body := Compress([]byte(`{}`), Fast)
	withHeader := func(h string) []byte { return frame([]byte(h), body) }
	// A valid header followed by a body length and nothing else.
	bodyLength := func(bl uint32) []byte {
		p := binary.BigEndian.AppendUint16([]byte("SSB1"), uint16(len(hdr)))
		return binary.BigEndian.AppendUint32(append(p, hdr...), bl)
	}
	for _, tc := range []struct {
		name string
		p    []byte
		want error  // errors.Is, when set
		text string // in the message, when set
	}{
		{"empty", nil, ErrTruncated, ""},
		{"bad magic", append([]byte("SSB2"), seal(t, b, Fast)[4:]...), ErrBadMagic, ""},
		{"zip file", []byte("PK\x03\x04\x14\x00\x00\x00"), ErrBadMagic, ""},
		{"json instead of an envelope", []byte(`{"v":1,"station":"st_x"}`), ErrBadMagic, ""},
		{"header length over MaxHeaderSize", []byte("SSB1\x10\x01"), ErrTooLarge, ""},
		{"header length 0xffff", []byte("SSB1\xff\xff{}"), ErrTooLarge, ""},
		{"body length over MaxEnvelope", bodyLength(MaxEnvelope + 1), ErrTooLarge, ""},
		{"body length 0xffffffff", bodyLength(0xffffffff), ErrTooLarge, ""},
		{"body length says more than there is", bodyLength(100), ErrTruncated, ""},
		{"header length 0", frame(nil, body), nil, "envelope header"},
		{"header not JSON", withHeader(`SSB1`), nil, "envelope header"},
		{"header is a JSON array", withHeader(`[1,2]`), nil, "envelope header"},
		{"header with an unknown field", withHeader(`{"v":1,"station":"s","epoch":"e","first":1,"last":1,"count":1,"enc":"zstd","key":"x"}`), nil, "unknown field"},
		{"header with trailing data", withHeader(string(hdr) + `}`), nil, "trailing data"},
		{"header with a second object", withHeader(string(hdr) + `{}`), nil, "trailing data"},
		{"header field of the wrong type", withHeader(`{"v":"1","station":"s","epoch":"e","first":1,"last":1,"count":1,"enc":"zstd"}`), nil, "envelope header"},
		{"wrong encoding", withHeader(`{"v":1,"station":"s","epoch":"e","first":1,"last":1,"count":1,"enc":"gzip"}`), nil, "unknown encoding"},
		{"no encoding", withHeader(`{"v":1,"station":"s","epoch":"e","first":1,"last":1,"count":1}`), nil, "unknown encoding"},
		{"count 0", withHeader(`{"v":1,"station":"s","epoch":"e","first":1,"last":1,"count":0,"enc":"zstd"}`), nil, "bad change range"},
		{"count negative", withHeader(`{"v":1,"station":"s","epoch":"e","first":1,"last":1,"count":-1,"enc":"zstd"}`), nil, "bad change range"},
		{"count over MaxChanges", withHeader(`{"v":1,"station":"s","epoch":"e","first":1,"last":20001,"count":20001,"enc":"zstd"}`), nil, "bad change range"},
		{"last before first", withHeader(`{"v":1,"station":"s","epoch":"e","first":5,"last":4,"count":1,"enc":"zstd"}`), nil, "bad change range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, n, err := ParseEnvelope(tc.p)
			if err == nil {
				t.Fatalf("parsed %+v (%d bytes)", e.Header, n)
			}
			if e != nil || n != 0 {
				t.Fatalf("error %v came with an envelope or a length %d", err, n)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if tc.text != "" && !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err %q does not say %q", err, tc.text)
			}
		})
	}
}

// Every proper prefix of an envelope is truncated, whichever boundary it
// stops at: inside the magic, the header length, the header, the body
// length, the body or the signature.
func TestParseEnvelopeTruncated(t *testing.T) {
	env := seal(t, sampleBatch(1, 2), Best)
	hl := int(binary.BigEndian.Uint16(env[4:]))
	bl := int(binary.BigEndian.Uint32(env[6+hl:]))
	boundaries := map[string]int{"magic": 4, "header length": 6, "header": 6 + hl, "body length": 10 + hl, "body": 10 + hl + bl, "signature": len(env)}
	for name, at := range boundaries {
		for _, cut := range []int{at - 1, at} {
			if cut >= len(env) {
				continue
			}
			if _, _, err := ParseEnvelope(env[:cut]); !errors.Is(err, ErrTruncated) {
				t.Errorf("cut at %d (%s boundary): %v, want ErrTruncated", cut, name, err)
			}
		}
	}
	for cut := range len(env) {
		if _, _, err := ParseEnvelope(env[:cut]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("prefix of %d bytes: %v, want ErrTruncated", cut, err)
		}
	}
}

// TestOpenErrors covers what Open checks once the frame parsed: the
// signature, then the decompressed batch against the signed header.
func TestOpenErrors(t *testing.T) {
	b := sampleBatch(1, 2)
	env := seal(t, b, Best)
	hl := int(binary.BigEndian.Uint16(env[4:]))
	flip := func(i int) []byte {
		p := bytes.Clone(env)
		p[i] ^= 0x01
		return p
	}
	// A header byte changed so that it still parses: a letter of the station id.
	stationAt := 6 + bytes.Index(env[6:6+hl], []byte(testStation)) + 3
	otherKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	mut := func(f func(*Batch)) *Batch {
		c := sampleBatch(1, 2)
		f(c)
		return c
	}
	rawOf := func(x *Batch) []byte { r, _ := json.Marshal(x); return r }
	validRaw := string(rawOf(b))

	for _, tc := range []struct {
		name string
		p    []byte
		pub  ed25519.PublicKey
		want error
		text string
	}{
		{"tampered header byte", flip(stationAt), nil, ErrBadSignature, ""},
		{"tampered body byte", flip(10 + hl + 20), nil, ErrBadSignature, ""},
		{"tampered signature", flip(len(env) - 1), nil, ErrBadSignature, ""},
		{"signature zeroed", append(bytes.Clone(env[:len(env)-64]), make([]byte, 64)...), nil, ErrBadSignature, ""},
		{"another station's key", env, otherKey.Public().(ed25519.PublicKey), ErrBadSignature, ""},
		{"no key", env, ed25519.PublicKey{}, ErrBadSignature, ""},
		{"short key", env, fixturePub()[:31], ErrBadSignature, ""},
		{"body not zstd", frame(headerJSON(b), []byte(validRaw)), nil, nil, "decompress"},
		{"body empty", frame(headerJSON(b), nil), nil, nil, "decode batch"},
		{"batch not JSON", frameBatch(b, []byte("SSB1")), nil, nil, "decode batch"},
		{"header names another station", frame([]byte(strings.Replace(string(headerJSON(b)), testStation, "st_0000000000000000", 1)), Compress(rawOf(b), Fast)), nil, nil, "does not match"},
		{"header names another epoch", frame([]byte(strings.Replace(string(headerJSON(b)), testEpoch, "0000000000000000", 1)), Compress(rawOf(b), Fast)), nil, nil, "does not match"},
		{"batch names another version", frame(headerJSON(b), Compress(rawOf(mut(func(c *Batch) { c.Version = 2 })), Fast)), nil, nil, "does not match"},
		{"header count differs", frame([]byte(strings.Replace(string(headerJSON(b)), `"count":2`, `"count":3`, 1)), Compress(rawOf(b), Fast)), nil, nil, "does not match"},
		{"header first differs", frameBatch(mut(func(x *Batch) { x.Changes[0].Seq, x.Changes[1].Seq = 2, 3 }), []byte(validRaw)), nil, nil, "does not match"},
		{"header last differs", frame([]byte(strings.Replace(string(headerJSON(b)), `"last":2`, `"last":5`, 1)), Compress(rawOf(b), Fast)), nil, nil, "does not match"},
		{"seqs not consecutive", frameBatch(b, rawOf(mut(func(x *Batch) { x.Changes[1].Seq = 3 }))), nil, nil, "not consecutive"},
		{"seqs repeated", frameBatch(b, rawOf(mut(func(x *Batch) { x.Changes[1].Seq = 1 }))), nil, nil, "not consecutive"},
		{"seqs descending", frameBatch(b, rawOf(mut(func(x *Batch) { x.Changes[0].Seq, x.Changes[1].Seq = 2, 1 }))), nil, nil, "not consecutive"},
		{"unknown batch field", frameBatch(b, []byte(strings.Replace(validRaw, `"v":1,`, `"v":1,"priority":9,`, 1))), nil, nil, "unknown field"},
		{"unknown change field", frameBatch(b, []byte(strings.Replace(validRaw, `"seq":1,`, `"seq":1,"urgent":true,`, 1))), nil, nil, "unknown field"},
		{"trailing garbage", frameBatch(b, []byte(validRaw+` x`)), nil, nil, "trailing data"},
		{"trailing brace", frameBatch(b, []byte(validRaw+`}`)), nil, nil, "trailing data"},
		{"trailing bracket", frameBatch(b, []byte(validRaw+`]`)), nil, nil, "trailing data"},
		{"second batch", frameBatch(b, []byte(validRaw+validRaw)), nil, nil, "trailing data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _, err := ParseEnvelope(tc.p)
			if err != nil {
				t.Fatalf("ParseEnvelope: %v (the case must reach Open)", err)
			}
			pub := tc.pub
			if pub == nil {
				pub = fixturePub()
			}
			got, err := e.Open(pub)
			if err == nil {
				t.Fatalf("opened %d changes", len(got.Changes))
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if tc.want == nil && errors.Is(err, ErrBadSignature) {
				t.Fatalf("err %v: the frame is signed correctly", err)
			}
			if tc.text != "" && !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err %q does not say %q", err, tc.text)
			}
		})
	}
}

// No single changed byte anywhere in an envelope gets through.
func TestEnvelopeEveryByteCovered(t *testing.T) {
	env := seal(t, sampleBatch(1, 2), Best)
	for i := range env {
		for _, x := range []byte{0x01, 0x80} {
			p := bytes.Clone(env)
			p[i] ^= x
			if b, err := open(p); err == nil {
				t.Fatalf("byte %d ^ %#x: opened %+v", i, x, b.Changes[0])
			}
		}
	}
}

// A small body that decompresses past MaxBatchJSON is refused, whether or
// not the zstd frame declares its size.
func TestOpenZstdBomb(t *testing.T) {
	b := sampleBatch(1, 1)
	huge := make([]byte, MaxBatchJSON+1)
	copy(huge, `{"v":1,"station":"`)
	for i := len(`{"v":1,"station":"`); i < len(huge); i++ {
		huge[i] = 'a'
	}
	var stream bytes.Buffer
	w, err := zstd.NewWriter(&stream, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(huge)
	w.Close()
	for name, body := range map[string][]byte{
		"one frame with its size": Compress(huge, Fast),
		"streamed, size unknown":  stream.Bytes(),
	} {
		t.Run(name, func(t *testing.T) {
			if len(body) > 64<<10 {
				t.Fatalf("the bomb is %d bytes; it should be small", len(body))
			}
			env := frame(headerJSON(b), body)
			e, _, err := ParseEnvelope(env)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Open(fixturePub()); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Open: %v, want ErrTooLarge", err)
			}
			// With a wrong signature the bomb is never decompressed.
			env[len(env)-1] ^= 1
			e, _, _ = ParseEnvelope(env)
			if _, err := e.Open(fixturePub()); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("Open with a bad signature: %v", err)
			}
		})
	}
	// Exactly MaxBatchJSON is allowed by Decompress.
	if out, err := Decompress(Compress(huge[:MaxBatchJSON], Fast), MaxBatchJSON); err != nil || len(out) != MaxBatchJSON {
		t.Fatalf("MaxBatchJSON bytes: %d, %v", len(out), err)
	}
}

func TestDecodeBatchErrors(t *testing.T) {
	valid := func(f func(*Batch)) string {
		b := sampleBatch(1, 2)
		f(b)
		raw, _ := json.Marshal(b)
		return string(raw)
	}
	many := sampleBatch(1, 1)
	for i := 2; i <= MaxChanges+1; i++ {
		c := many.Changes[0]
		c.Seq, c.Fields = uint64(i), nil
		many.Changes = append(many.Changes, c)
	}
	tooMany, _ := json.Marshal(many)
	for _, tc := range []struct{ name, raw, text string }{
		{"empty", ``, "decode batch"},
		{"null", `null`, "1 to 20000"},
		{"array", `[]`, "decode batch"},
		{"no changes", valid(func(b *Batch) { b.Changes = nil }), "1 to 20000"},
		{"empty changes", valid(func(b *Batch) { b.Changes = []Change{} }), "1 to 20000"},
		{"too many changes", string(tooMany), "1 to 20000"},
		{"no station", valid(func(b *Batch) { b.Station = "" }), "without station"},
		{"no epoch", valid(func(b *Batch) { b.Epoch = "" }), "without station or epoch"},
		{"epoch over 64 bytes", valid(func(b *Batch) { b.Epoch = strings.Repeat("e", 65) }), "without station or epoch"},
		{"seq 0", valid(func(b *Batch) { b.Changes[0].Seq, b.Changes[1].Seq = 0, 1 }), "lacks seq"},
		{"no kind", valid(func(b *Batch) { b.Changes[1].Kind = "" }), "lacks seq, kind"},
		{"no id", valid(func(b *Batch) { b.Changes[0].ID = "" }), "lacks"},
		{"id over 64 bytes", valid(func(b *Batch) { b.Changes[0].ID = strings.Repeat("i", 65) }), "lacks"},
		{"no op", valid(func(b *Batch) { b.Changes[0].Op = "" }), "lacks"},
		{"seq wraps", valid(func(b *Batch) { b.Changes[0].Seq, b.Changes[1].Seq = 1<<64-1, 0 }), "lacks seq"},
		{"seq as a string", strings.Replace(valid(func(*Batch) {}), `"seq":1,`, `"seq":"1",`, 1), "decode batch"},
		{"negative seq", strings.Replace(valid(func(*Batch) {}), `"seq":1,`, `"seq":-1,`, 1), "decode batch"},
		{"fractional hlc", strings.Replace(valid(func(*Batch) {}), `"hlc":117679717697060865`, `"hlc":1.5`, 1), "decode batch"},
		{"unknown field", strings.Replace(valid(func(*Batch) {}), `{"v":1`, `{"v":1,"compressed":true`, 1), "unknown field"},
		{"unterminated", strings.TrimSuffix(valid(func(*Batch) {}), "}"), "decode batch"},
		{"trailing data", valid(func(*Batch) {}) + "\n0", "trailing data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := DecodeBatch([]byte(tc.raw))
			if err == nil {
				t.Fatalf("decoded %d changes", len(b.Changes))
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err %q does not say %q", err, tc.text)
			}
		})
	}
	// White space around the batch is not trailing data.
	if _, err := DecodeBatch([]byte("\n " + valid(func(*Batch) {}) + " \r\n\t")); err != nil {
		t.Fatalf("white space: %v", err)
	}
}

func TestCompressLevels(t *testing.T) {
	raw, _ := json.Marshal(sampleBatch(1, 500))
	fast, best := Compress(raw, Fast), Compress(raw, Best)
	if len(best) > len(fast) {
		t.Errorf("Best (%d bytes) is larger than Fast (%d)", len(best), len(fast))
	}
	for _, c := range [][]byte{fast, best} {
		out, err := Decompress(c, len(raw))
		if err != nil || !bytes.Equal(out, raw) {
			t.Fatalf("round trip: %v", err)
		}
		if _, err := Decompress(c, len(raw)-1); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("one byte under: %v", err)
		}
	}
	if _, err := Decompress([]byte("not zstd at all"), 100); err == nil || errors.Is(err, ErrTooLarge) {
		t.Fatalf("garbage: %v", err)
	}
}
