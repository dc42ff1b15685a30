package syncproto

import (
	"strings"
	"testing"
)

func TestSplitEnrollCode(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	pin := ShortPin(fp)
	if len(strings.ReplaceAll(pin, "-", "")) != PinLen || strings.ContainsAny(pin, "01OIL") {
		t.Fatalf("short pin %q", pin)
	}
	tests := []struct {
		name, code, otp, pin string
	}{
		{"plain", "ABCDE-FGHJK", "ABCDE-FGHJK", ""},
		{"with pin", "ABCDE-FGHJK-" + pin, "ABCDE-FGHJK", strings.ReplaceAll(pin, "-", "")},
		{"typed loosely", " abcde fghjk " + strings.ToLower(strings.ReplaceAll(pin, "-", " ")), "ABCDE-FGHJK", strings.ReplaceAll(pin, "-", "")},
		{"too short to carry a pin", "ABCDE-FGHJK-22222", "ABCDE-FGHJK-22222", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			otp, p := SplitEnrollCode(tt.code)
			if otp != tt.otp || p != tt.pin {
				t.Errorf("got %q %q, want %q %q", otp, p, tt.otp, tt.pin)
			}
		})
	}
}

func TestShortPinDiffers(t *testing.T) {
	a, b := ShortPin(strings.Repeat("00", 32)), ShortPin("01"+strings.Repeat("00", 31))
	if a == b || a == "" {
		t.Errorf("pins %q %q", a, b)
	}
	if ShortPin("not hex") != "" {
		t.Error("bad fingerprint gave a pin")
	}
}
