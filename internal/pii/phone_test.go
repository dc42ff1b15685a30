package pii

import "testing"

func TestPhone(t *testing.T) {
	tests := []struct {
		in, want, msg string
	}{
		{in: "13905510456", want: "13905510456"},
		{in: " 139 0551 0456 ", want: "13905510456"},
		{in: "139-0551-0456", want: "13905510456"},
		{in: "１３９０５５１０４５６", want: "13905510456"},
		{in: "+86 139 0551 0456", want: "13905510456"},
		{in: "8613905510456", want: "13905510456"},
		{in: "0086-13905510456", want: "13905510456"},
		{in: "0551-66661234", want: "0551-66661234"},
		{in: "055166661234", want: "0551-66661234"},
		{in: "(0551) 6666 1234", want: "0551-66661234"},
		{in: "0551-6666123", want: "0551-6666123"},
		{in: "010-12345678", msg: MsgPhoneShape}, // a local number does not start with 1
		{in: "010-62345678", want: "010-62345678"},
		{in: "02162345678", want: "021-62345678"},
		{in: "", want: ""},
		{in: "   ", want: ""},

		{in: "6666123", msg: MsgPhoneAreaCode},
		{in: "66661234", msg: MsgPhoneAreaCode},
		{in: "1390551045", msg: MsgPhoneShape},   // 10 digits
		{in: "139055104567", msg: MsgPhoneShape}, // 12 digits
		{in: "12905510456", msg: MsgPhoneShape},  // no such mobile prefix
		{in: "011-62345678", msg: MsgPhoneShape}, // no such area code
		{in: "0551-666612345", msg: MsgPhoneShape},
		{in: "0551-666612", msg: MsgPhoneShape},
		{in: "+0551 66661234", msg: MsgPhoneShape},
		{in: "电话", msg: MsgPhoneChars},
		{in: "1390551045六", msg: MsgPhoneChars},
		{in: "13905510456 转 8", msg: MsgPhoneChars},
		{in: "139+05510456", msg: MsgPhoneChars},
	}
	for _, tt := range tests {
		norm, msg := Phone(tt.in)
		if norm != tt.want || msg != tt.msg {
			t.Errorf("Phone(%q) = %q, %q; want %q, %q", tt.in, norm, msg, tt.want, tt.msg)
		}
	}
}

// A number Phone accepts reads back as itself, and as the same mobile
// FindNumbers sees: the stored form is a fixed point.
func FuzzPhone(f *testing.F) {
	for _, s := range []string{"13905510456", "0551-66661234", "+86 139 0551 0456", "6666123", "０５５１－６６６６１２３４"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		norm, msg := Phone(s)
		if msg != "" && norm != "" {
			t.Fatalf("Phone(%q) = %q and %q", s, norm, msg)
		}
		if norm == "" {
			return
		}
		if again, m := Phone(norm); again != norm || m != "" {
			t.Fatalf("Phone(%q) = %q, but Phone(%q) = %q, %q", s, norm, norm, again, m)
		}
		if norm[0] == '1' {
			if sp := FindNumbers(norm); len(sp) != 1 || sp[0].Kind != Mobile || sp[0].Number != norm {
				t.Fatalf("mobile %q found as %+v", norm, sp)
			}
		}
	})
}
