package syncproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Run each for a while with a short minimisation, which otherwise takes
// up to a minute per new input (every input here goes through zstd):
//
//	go test -run '^$' -fuzz '^FuzzParseEnvelope$' -fuzztime 30s -fuzzminimizetime 2s ./syncproto/
//	go test -run '^$' -fuzz '^FuzzDecodeBatch$' -fuzztime 30s -fuzzminimizetime 2s ./syncproto/

// FuzzParseEnvelope feeds arbitrary bytes to ParseEnvelope and, when a
// frame parses, to Open with a fixed key. Nothing may panic, and whatever
// opens must satisfy every promise of the decoders.
func FuzzParseEnvelope(f *testing.F) {
	env := seal(f, sampleBatch(1, 2), Best)
	f.Add(env)
	f.Add(seal(f, sampleBatchV(2, 1, 2), Best))
	for _, v := range []string{"v1", "v2"} {
		if g, err := os.ReadFile(filepath.Join("testdata", v, "envelope.golden")); err == nil {
			f.Add(g)
		}
	}
	for _, cut := range []int{0, 3, 4, 5, 6, 20, len(env) - 65, len(env) - 64, len(env) - 1} {
		f.Add(env[:cut])
	}
	f.Add(append(bytes.Clone(env), env...)) // a two-envelope bundle
	f.Add([]byte("SSB1\x00\x02{}\x00\x00\x00\x00"))
	f.Add([]byte("SSB1\xff\xff"))
	pub := fixturePub()
	f.Fuzz(func(t *testing.T, p []byte) {
		e, n, err := ParseEnvelope(p)
		if err != nil {
			if e != nil || n != 0 {
				t.Fatalf("error %v with an envelope or a length %d", err, n)
			}
			return
		}
		if n <= 0 || n > len(p) || !bytes.Equal(p[:4], []byte("SSB1")) {
			t.Fatalf("used %d of %d bytes", n, len(p))
		}
		h := e.Header
		if enc, err := encodingOf(h.Version); err != nil || h.Encoding != enc || h.Count <= 0 || h.Count > MaxChanges || h.Last < h.First || len(e.Signature) != 64 {
			t.Fatalf("accepted header %+v", h)
		}
		b, err := e.Open(pub)
		if err != nil {
			return
		}
		if b.Station != h.Station || b.Epoch != h.Epoch || len(b.Changes) != h.Count ||
			b.Changes[0].Seq != h.First || b.Changes[len(b.Changes)-1].Seq != h.Last {
			t.Fatalf("batch does not match header %+v", h)
		}
		assertBatchShape(t, b)
	})
}

// FuzzDecodeBatch decodes arbitrary JSON; whatever decodes must re-encode
// to a fixed point and survive SealBatch → ParseEnvelope → Open unchanged.
func FuzzDecodeBatch(f *testing.F) {
	for _, b := range []*Batch{sampleBatch(1, 1), sampleBatch(2, 2), sampleBatch(1<<40, 4)} {
		raw, _ := json.Marshal(b)
		f.Add(raw)
	}
	if g, err := os.ReadFile(filepath.Join("testdata", "v1", "batch.golden")); err == nil {
		f.Add(g)
	}
	f.Add([]byte(`{"v":1,"station":"s","epoch":"e","changes":[{"seq":1,"kind":"k","id":"i","op":"o"}]}`))
	f.Add([]byte(`{"v":2,"station":"s","epoch":"e","changes":[{"seq":1,"hlc":5,"kind":"k","id":"i","op":"o","fields":{"b":[1],"a":"x"},"base":{"a":2}}]}`))
	f.Add([]byte(`{"v":1,"station":"s","epoch":"e","changes":[{"seq":1,"kind":"k","id":"i","op":"o","fields":{"a": [1, {"b" : null}]},"base":{"a":3}}]}`))
	f.Add([]byte(`{"v":1,"station":"s","epoch":"e","changes":[{"seq":1,"kind":"k","id":"i","op":"o"}]}]`))
	f.Add([]byte(`{"v":1,"station":"s\u00e9\ud800","epoch":"<e>","changes":[{"seq":18446744073709551615,"kind":"k","id":"i","op":"o"}]}`))
	key := FixtureKey()
	pub := fixturePub()
	f.Fuzz(func(t *testing.T, raw []byte) {
		b1, err := DecodeBatch(raw)
		if err != nil {
			return
		}
		assertBatchShape(t, b1)
		j1, err := json.Marshal(b1)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		b2, err := DecodeBatch(j1)
		if err != nil {
			t.Fatalf("re-encoded batch does not decode: %v\n%s", err, j1)
		}
		j2, _ := json.Marshal(b2)
		if !bytes.Equal(j1, j2) {
			t.Fatalf("not a fixed point:\n%s\n%s", j1, j2)
		}
		env, err := SealBatch(b2, key, Fast)
		var ve *VersionError
		if errors.Is(err, ErrTooLarge) || errors.Is(err, errColumns) || errors.As(err, &ve) {
			// A station id too long for the header, a field name or kind
			// the columnar layout cannot carry, a version no encoding
			// belongs to: refusing is right.
			return
		}
		if err != nil {
			t.Fatalf("SealBatch: %v", err)
		}
		e, n, err := ParseEnvelope(env)
		if err != nil || n != len(env) {
			t.Fatalf("ParseEnvelope of a sealed batch: %v (%d of %d bytes)", err, n, len(env))
		}
		b3, err := e.Open(pub)
		if err != nil {
			t.Fatalf("Open of a sealed batch: %v", err)
		}
		if j3, _ := json.Marshal(b3); !bytes.Equal(j1, j3) {
			t.Fatalf("changed in transit:\n%s\n%s", j1, j3)
		}
	})
}

// assertBatchShape asserts what DecodeBatch promises.
func assertBatchShape(t *testing.T, b *Batch) {
	t.Helper()
	if len(b.Changes) == 0 || len(b.Changes) > MaxChanges || b.Station == "" || b.Epoch == "" || len(b.Epoch) > 64 {
		t.Fatalf("accepted batch: %d changes, station %q, epoch %q", len(b.Changes), b.Station, b.Epoch)
	}
	for i, c := range b.Changes {
		if c.Seq == 0 || c.Kind == "" || c.ID == "" || len(c.ID) > 64 || c.Op == "" {
			t.Fatalf("accepted change %+v", c)
		}
		if i > 0 && c.Seq != b.Changes[i-1].Seq+1 {
			t.Fatalf("accepted seqs %d, %d", b.Changes[i-1].Seq, c.Seq)
		}
	}
}
