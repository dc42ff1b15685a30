package records

import (
	"encoding/json"
	"errors"
	"testing"
)

// marked sets a disclosure's public_numbers.
func marked(f Fields, numbers ...string) Fields {
	b, _ := json.Marshal(numbers)
	f["public_numbers"] = b
	return f
}

func TestCheckPublication(t *testing.T) {
	disc := func(status, title, body string) Fields {
		return Fields{"status": JSONText(status), "title": JSONText(title), "body": JSONText(body), "category": JSONText("救助对象公示")}
	}
	tests := []struct {
		name               string
		fields             Fields
		wantField, wantMsg string
	}{
		{"clean notice", disc("published", "2026年第四季度低保对象公示", "王秀英（身份证后四位0022），每月1500元。公示期2026-11-01至2026-11-08。"), "", ""},
		{"draft may hold anything", disc("draft", "t", "身份证340123195003070022"), "", ""},
		{"withdrawn may hold anything", disc("withdrawn", "t", "电话13905510456"), "", ""},
		{"the brief's example", disc("published", "t", "身份证 34012320130307512X"), "body", "正文中有身份证号码（340123********512X），公开前请删去或只写后四位。"},
		{"mobile with +86 and dashes", disc("published", "t", "联系电话+86 139-0551-0456"), "body", "正文中有手机号码（139****0456），公开前请删去或只写后四位。" + MsgPublicNumberAdvice},
		{"full-width in the title", disc("published", "关于王秀英（３４０１２３１９５００３０７００２２）的公示", "正文"), "title", "标题中有身份证号码（340123********0022），公开前请删去或只写后四位。"},
		{"the same number twice is named once", disc("published", "t", "13905510456，再说一遍：139 0551 0456"), "body", "正文中有手机号码（139****0456），公开前请删去或只写后四位。" + MsgPublicNumberAdvice},
		{"many numbers", disc("published", "t", "13905510451 13905510452 13905510453 13905510454"), "body",
			"正文中有手机号码（139****0451）、手机号码（139****0452）、手机号码（139****0453）等4个号码，公开前请删去或只写后四位。" + MsgPublicNumberAdvice},
		{"reviewer with a phone", Fields{"status": JSONText("published"), "title": JSONText("t"), "body": JSONText("b"), "reviewer": JSONText("陈德明13905510456")}, "reviewer",
			"审核人中有手机号码（139****0456），公开前请删去或只写后四位。" + MsgPublicNumberAdvice},
		{"already masked is fine", disc("published", "t", "王秀英 340123********0022 139****0456"), "", ""},
		{"a marked contact number", marked(disc("published", "村级财务公开", "咨询请找村会计，电话 139-0551-0456"), "13905510456"), "", ""},
		{"marked in any spelling", marked(disc("published", "t", "村会计 １３９ ０５５１ ０４５６"), "13905510456"), "", ""},
		{"an unmarked number beside a marked one", marked(disc("published", "t", "村会计 13905510456，王秀英 13800138000"), "13905510456"), "body",
			"正文中有手机号码（138****8000），公开前请删去或只写后四位。" + MsgPublicNumberAdvice},
		{"an ID number cannot be marked", marked(disc("published", "t", "身份证 34012320130307512X"), "34012320130307512X"), "body", "正文中有身份证号码（340123********512X），公开前请删去或只写后四位。"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPublication(tt.fields)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("CheckPublication = %v, want nil", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.wantField || fe.Message != tt.wantMsg {
				t.Fatalf("CheckPublication = %#v\nwant field %q message %q", err, tt.wantField, tt.wantMsg)
			}
		})
	}
}

func TestPublicNumbersField(t *testing.T) {
	for _, tc := range []struct {
		raw string
		ok  bool
	}{
		{`["13905510456"]`, true},
		{`[]`, true},
		{`["13905510456","13800138000"]`, true},
		{`["139 0551 0456"]`, false},
		{`["0551-66661234"]`, false},
		{`["34012320130307512X"]`, false},
		{`["12905510456"]`, false},
		{`["1","2","3","4","5","6"]`, false},
		{`{"a":"13905510456"}`, false},
	} {
		err := Validate(Disclosure, Fields{"public_numbers": json.RawMessage(tc.raw)}, false)
		if (err == nil) != tc.ok {
			t.Errorf("public_numbers %s: %v", tc.raw, err)
		}
	}
	if got := PublicNumbersIn("t", "村会计 139-0551-0456，再说一遍 13905510456；身份证 34012320130307512X", "陈德明 13800138000"); len(got) != 2 || got[0] != "13905510456" || got[1] != "13800138000" {
		t.Errorf("PublicNumbersIn = %q", got)
	}
}
