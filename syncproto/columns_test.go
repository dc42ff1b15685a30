package syncproto

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// col builds a columnar body by hand, for inputs the encoder never makes.
type col []byte

func (c col) uv(v uint64) col  { return binary.AppendUvarint(c, v) }
func (c col) zv(v int64) col   { return binary.AppendVarint(c, v) }
func (c col) str(s string) col { return appendString(c, s) }
func (c col) strs(s ...string) col {
	for _, x := range s {
		c = c.str(x)
	}
	return c
}

const colHead = `{"v":2,"station":"s","epoch":"e","village":"","sent_hlc":0,"pending":0,"changes":null}`

// oneChange is a valid body of one change with two fields, cut before its
// field names so that cases can go on from there.
func oneChange() col {
	return col{}.str(colHead).uv(1).uv(7).zv(100).zv(5).zv(0).
		strs("visit", "upsert", "id-1", "李明", "")
}

func TestColumnsHandMade(t *testing.T) {
	good := oneChange().uv(2).strs("risk", "needs").uv(2).uv(0).uv(1).str(`"正常"`).str(`[]`)
	b, err := decodeColumns(good)
	if err != nil {
		t.Fatalf("valid body: %v", err)
	}
	want := Change{Seq: 7, HLC: 100, At: 5, Kind: "visit", Op: "upsert", ID: "id-1", By: "李明",
		Fields: map[string]json.RawMessage{"risk": json.RawMessage(`"正常"`), "needs": json.RawMessage(`[]`)}}
	if b.Version != 2 || b.Station != "s" || len(b.Changes) != 1 || !reflect.DeepEqual(b.Changes[0], want) {
		t.Fatalf("decoded %+v %+v", b, b.Changes)
	}
	for _, tc := range []struct {
		name string
		p    []byte
		text string
	}{
		{"empty", nil, "head"},
		{"head not JSON", col{}.str("{").uv(1), "head"},
		{"head with an unknown field", col{}.str(`{"v":2,"station":"s","epoch":"e","key":1}`).uv(1), "unknown field"},
		{"head with trailing data", col{}.str(colHead + `{}`).uv(1), "trailing"},
		{"head with changes", col{}.str(`{"v":2,"station":"s","epoch":"e","changes":[]}`).uv(1), "columns"},
		{"head too long", col{}.str(`{"v":2,"station":"` + strings.Repeat("s", 5000) + `"}`), "head"},
		{"no changes", col{}.str(colHead).uv(0), "1 to 20000"},
		{"too many changes", col{}.str(colHead).uv(MaxChanges + 1), "1 to 20000"},
		{"more changes than bytes", col{}.str(colHead).uv(MaxChanges).uv(1), "truncated"},
		{"seq 0", col{}.str(colHead).uv(1).uv(0).zv(1).zv(1).zv(0).strs("k", "o", "i", "", "").uv(0).uv(0), "lacks seq"},
		{"seqs past uint64", col{}.str(colHead).uv(2).uv(^uint64(0)).zv(1).zv(1).zv(1).zv(1).zv(0).zv(0).strs("k", "k", "o", "o", "i", "i", "", "", "", "").uv(0).uv(0).uv(0), "lacks seq"},
		{"varint cut", col{}.str(colHead).uv(1).uv(7).append(0x80), "truncated"},
		{"empty base", col{}.str(colHead).uv(1).uv(7).zv(1).zv(1).zv(0).strs("k", "o", "i", "", "{}").uv(0).uv(0), "base"},
		{"empty kind", col{}.str(colHead).uv(1).uv(7).zv(1).zv(1).zv(0).strs("", "o", "i", "", "").uv(0).uv(0), "lacks seq"},
		{"id too long", col{}.str(colHead).uv(1).uv(7).zv(1).zv(1).zv(0).strs("k", "o", strings.Repeat("i", 65), "", "").uv(0).uv(0), "id too long"},
		{"id not UTF-8", col{}.str(colHead).uv(1).uv(7).zv(1).zv(1).zv(0).strs("k", "o", "\xff", "", "").uv(0).uv(0), "UTF-8"},
		{"by not UTF-8", col{}.str(colHead).uv(1).uv(7).zv(1).zv(1).zv(0).strs("k", "o", "i", "\xc3", "").uv(0).uv(0), "UTF-8"},
		{"base not an object", col{}.str(colHead).uv(1).uv(7).zv(1).zv(1).zv(0).strs("k", "o", "i", "", "[1]").uv(0).uv(0), "base"},
		{"base of negative versions", col{}.str(colHead).uv(1).uv(7).zv(1).zv(1).zv(0).strs("k", "o", "i", "", `{"a":-1}`).uv(0).uv(0), "base"},
		{"too many field names", oneChange().uv(maxFieldNames + 1), "too many field names"},
		{"empty field name", oneChange().uv(1).str("").uv(1).uv(0).str(`1`), "field names"},
		{"field name twice", oneChange().uv(2).strs("a", "a").uv(1).uv(0).str(`1`), "field names"},
		{"field name too long", oneChange().uv(1).str(strings.Repeat("a", 65)).uv(1).uv(0).str(`1`), "field name"},
		{"set larger than the names", oneChange().uv(1).str("a").uv(2).uv(0).uv(0), "larger"},
		{"unknown field index", oneChange().uv(1).str("a").uv(1).uv(1).str(`1`), "ascending and known"},
		{"field index twice", oneChange().uv(2).strs("a", "b").uv(2).uv(0).uv(0), "ascending and known"},
		{"field indexes descending", oneChange().uv(2).strs("a", "b").uv(2).uv(1).uv(0), "ascending and known"},
		{"value not JSON", oneChange().uv(1).str("a").uv(1).uv(0).str(`{`), "not JSON"},
		{"value empty", oneChange().uv(1).str("a").uv(1).uv(0).str(``), "not JSON"},
		{"value missing", oneChange().uv(1).str("a").uv(1).uv(0), "value"},
		{"value longer than the body", oneChange().uv(1).str("a").uv(1).uv(0).uv(100).append('1'), "value"},
		{"trailing data", append(bytes.Clone(good), 0), "trailing"},
		{"a name no change uses, and its value", oneChange().uv(1).str("a").uv(0).str(`1`), "trailing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := decodeColumns(tc.p)
			if err == nil {
				t.Fatalf("decoded %+v", b)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("error %q does not say %q", err, tc.text)
			}
		})
	}
}

func (c col) append(b ...byte) col { return append(c, b...) }

// Every prefix of a valid body is refused without a panic.
func TestColumnsTruncated(t *testing.T) {
	raw, err := encodeColumns(sampleBatchV(2, 10, 9))
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		if b, err := decodeColumns(raw[:i]); err == nil {
			t.Fatalf("a body cut at %d of %d bytes decoded: %+v", i, len(raw), b)
		}
	}
}

// The encoder refuses what the decoder would refuse, instead of sealing a
// batch the county cannot open.
func TestColumnsEncoderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		mut  func(*Change)
	}{
		{"empty field name", func(c *Change) { c.Fields[""] = json.RawMessage(`1`) }},
		{"long field name", func(c *Change) { c.Fields[strings.Repeat("f", 65)] = json.RawMessage(`1`) }},
		{"empty value", func(c *Change) { c.Fields["risk"] = nil }},
		{"long kind", func(c *Change) { c.Kind = strings.Repeat("k", 65) }},
		{"by not UTF-8", func(c *Change) { c.By = "\xff" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := sampleBatchV(2, 1, 1)
			tc.mut(&b.Changes[0])
			if _, err := SealBatch(b, FixtureKey(), Fast); !errors.Is(err, errColumns) {
				t.Fatalf("SealBatch: %v", err)
			}
		})
	}
}

// FuzzDecodeColumns decodes arbitrary bytes as a columnar batch: nothing
// may panic, and whatever decodes must encode and decode to the same batch.
//
//	go test -run '^$' -fuzz '^FuzzDecodeColumns$' -fuzztime 30s ./syncproto/
func FuzzDecodeColumns(f *testing.F) {
	for _, b := range []*Batch{sampleBatchV(2, 1, 1), sampleBatchV(2, 10, 9), sampleBatchV(2, 1<<40, 4)} {
		raw, _ := encodeColumns(b)
		f.Add(raw)
	}
	f.Add([]byte(oneChange().uv(2).strs("risk", "needs").uv(2).uv(0).uv(1).str(`"正常"`).str(`[]`)))
	f.Fuzz(func(t *testing.T, p []byte) {
		b1, err := decodeColumns(p)
		if err != nil {
			return
		}
		assertBatchShape(t, b1)
		raw, err := encodeColumns(b1)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		b2, err := decodeColumns(raw)
		if err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
		if !reflect.DeepEqual(b1, b2) {
			t.Fatalf("changed by a round trip:\n%+v\n%+v", b1, b2)
		}
	})
}
