package records

import (
	"errors"
	"testing"
)

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
		{"mobile with +86 and dashes", disc("published", "t", "联系电话+86 139-0551-0456"), "body", "正文中有手机号码（139****0456），公开前请删去或只写后四位。"},
		{"full-width in the title", disc("published", "关于王秀英（３４０１２３１９５００３０７００２２）的公示", "正文"), "title", "标题中有身份证号码（340123********0022），公开前请删去或只写后四位。"},
		{"the same number twice is named once", disc("published", "t", "13905510456，再说一遍：139 0551 0456"), "body", "正文中有手机号码（139****0456），公开前请删去或只写后四位。"},
		{"many numbers", disc("published", "t", "13905510451 13905510452 13905510453 13905510454"), "body",
			"正文中有手机号码（139****0451）、手机号码（139****0452）、手机号码（139****0453）等4个号码，公开前请删去或只写后四位。"},
		{"reviewer with a phone", Fields{"status": JSONText("published"), "title": JSONText("t"), "body": JSONText("b"), "reviewer": JSONText("陈德明13905510456")}, "reviewer",
			"审核人中有手机号码（139****0456），公开前请删去或只写后四位。"},
		{"already masked is fine", disc("published", "t", "王秀英 340123********0022 139****0456"), "", ""},
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
