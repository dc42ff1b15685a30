package records

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// ParseFields gives what encoding/json gives, for what the stores write and
// for what they never write.
func TestParseFieldsAgreesWithEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{}`, ` { } `, `{"a":1}`, `{"name":"王秀英","members":[{"name":"李明","relation":"本人"}],"income":42000,"x":null,"y":true,"z":false}`,
		`{"s":"a \"quoted\" \\ back}slash ] , :","n":-1.5e3,"o":{"p":[1,[2,{"q":"}"}]]}}`,
		`{ "a" : [ 1 , 2 ] , "b" : { } , "c" : "" }`,
		`{"a\u0062":1}`, `{"a":1,"a":2}`, `{"a":1,}`, `{"a" 1}`, `{"a":}`, `{"a":1`, `{"a":"x}`, `[1]`, `"s"`, `null`, ``, `{"a":1}x`,
		`{"a":[1,2}`, `{"a":tru e}`, `{"a":1 2}`,
	} {
		if msg := disagreement([]byte(in)); msg != "" {
			t.Error(msg)
		}
	}
	if f, _ := ParseFields([]byte(`{"a":[1]}`)); !reflect.DeepEqual(f, Fields{"a": json.RawMessage(`[1]`)}) {
		t.Fatalf("got %v", f)
	}
}

func FuzzParseFields(f *testing.F) {
	f.Add([]byte(`{"name":"王秀英","members":[{"name":"李明"}],"n":1}`))
	f.Add([]byte(`{"s":"a \"q\" ]}","o":{"p":[1,[2]]}}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		if msg := disagreement(p); msg != "" {
			t.Fatal(msg)
		}
	})
}

// disagreement says how ParseFields and encoding/json read p differently,
// or "" when they agree.
func disagreement(p []byte) string {
	got, gotErr := ParseFields(p)
	var want Fields
	wantErr := json.Unmarshal(p, &want)
	if (gotErr != nil) != (wantErr != nil) {
		return fmt.Sprintf("%q: error %v, encoding/json %v", p, gotErr, wantErr)
	}
	if gotErr != nil {
		return ""
	}
	if len(got) != len(want) {
		return fmt.Sprintf("%q: %d members, encoding/json %d", p, len(got), len(want))
	}
	for k, v := range want {
		if !Equal(got[k], v) {
			return fmt.Sprintf("%q: %q = %s, encoding/json %s", p, k, got[k], v)
		}
	}
	return ""
}

func BenchmarkParseFields(b *testing.B) {
	raw := []byte(`{"measures":"鼓励多与在外家人联系，下次走访再了解情况。","method":"电话联系","needs":[],"next_due":"2025-12-14","person_id":"01a215a3-e857-7734-9c03-fec75fc8d007","risk":"正常","situation":"电话回访，本人接听，语言清楚。身体状况良好，无明显病痛。子女每月按时寄回生活费。","visited_on":"2025-11-14","visitors":["王霞","黄红梅"]}`)
	b.Run("ParseFields", func(b *testing.B) {
		for b.Loop() {
			ParseFields(raw)
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		for b.Loop() {
			var f Fields
			json.Unmarshal(raw, &f)
		}
	})
}
