package records

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

var fastSeeds = []string{
	`"王秀英"`, `""`, `"a\"b"`, `"a\\nb"`, `"\u00e9"`, "\"\xff\"", "\"a\x01\"", `"<b>&"`, "\"\u2028\"", ` "a"`, `"a" `,
	`0`, `-0`, `7`, `-12`, `007`, `1.0`, `1e3`, `123456789012345678`, `9223372036854775807`, `99999999999999999999`, `+1`, `-`,
	`[]`, `["农村留守儿童"]`, `["a","b"]`, `[ "a"]`, `["a",]`, `[,"a"]`, `["a""b"]`, `["a",1]`, `[["a"]]`, `["<"]`, `["a\"b"]`, `[""]`, `["a"]]`, `[`, `null`, `{}`, `{"a":"b"}`,
}

// FuzzPlainJSON: for any bytes, reading a field value the fast way gives
// what encoding/json gives, for every type of field, and Canonical keeps
// its meaning.
func FuzzPlainJSON(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if msg := plainDisagreement(raw); msg != "" {
			t.Fatal(msg)
		}
	})
}

func TestPlainJSONSeeds(t *testing.T) {
	for _, s := range fastSeeds {
		if msg := plainDisagreement([]byte(s)); msg != "" {
			t.Error(msg)
		}
	}
	// The fast paths are taken where they should be.
	if _, ok := plainString([]byte(`"王秀英"`)); !ok {
		t.Error("a plain string is not read the fast way")
	}
	if _, ok := plainInt([]byte(`-12`)); !ok {
		t.Error("a plain integer is not read the fast way")
	}
	if _, canonical, ok := plainStrings([]byte(`["农村留守儿童","困境儿童"]`)); !ok || !canonical {
		t.Error("a plain list is not read the fast way")
	}
}

func plainDisagreement(raw []byte) string {
	if s, ok := plainString(raw); ok {
		var want string
		if err := json.Unmarshal(raw, &want); err != nil || s != want {
			return fmt.Sprintf("%q: plain string %q, encoding/json %q (%v)", raw, s, want, err)
		}
	}
	if n, ok := plainInt(raw); ok {
		var want int64
		if err := json.Unmarshal(raw, &want); err != nil || n != want {
			return fmt.Sprintf("%q: plain int %d, encoding/json %d (%v)", raw, n, want, err)
		}
	}
	if items, canonical, ok := plainStrings(raw); ok {
		var want []any
		if err := json.Unmarshal(raw, &want); err != nil || !reflect.DeepEqual(items, want) {
			return fmt.Sprintf("%q: plain list %q, encoding/json %q (%v)", raw, items, want, err)
		}
		if marshalled, _ := json.Marshal(want); canonical && !bytes.Equal(marshalled, raw) {
			return fmt.Sprintf("%q: called canonical, json.Marshal writes %s", raw, marshalled)
		}
	}
	// Through the exported readers, for each type of field.
	for _, typ := range []Type{Text, Int, JSON} {
		f := Field{Name: "x", Type: typ}
		got, gotErr := Decode(f, raw)
		want, wantErr := slowDecode(f, raw)
		if (gotErr != nil) != (wantErr != nil) || (gotErr == nil && !reflect.DeepEqual(got, want)) {
			return fmt.Sprintf("%q as type %d: Decode %#v (%v), encoding/json %#v (%v)", raw, typ, got, gotErr, want, wantErr)
		}
	}
	if json.Valid(raw) {
		if got, want := Canonical(raw), canonicalJSON(raw); !bytes.Equal(got, want) {
			return fmt.Sprintf("%q: Canonical %s, encoding/json %s", raw, got, want)
		}
	}
	return ""
}

// slowDecode is Decode with encoding/json alone, as it was before the fast
// paths.
func slowDecode(f Field, raw json.RawMessage) (any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	switch f.Type {
	case Text:
		var s string
		return s, json.Unmarshal(raw, &s)
	case Int:
		var n int64
		return n, json.Unmarshal(raw, &n)
	}
	var v any
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&v); err != nil {
		return nil, err
	}
	switch v.(type) {
	case []any, map[string]any:
		return v, nil
	}
	return nil, fmt.Errorf("not a list or object")
}
