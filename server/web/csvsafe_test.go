package web

import (
	"strings"
	"testing"
	"unicode"
)

func TestCSVSafe(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"普通标题", "普通标题"},
		{"=1+1", "'=1+1"},
		{"+1", "'+1"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"},
		{"\t=HYPERLINK(\"http://evil.example\",\"点我\")", "'\t=HYPERLINK(\"http://evil.example\",\"点我\")"},
		{"\r=1+1", "'\r=1+1"},
		{"\t普通标题", "'\t普通标题"}, // a leading tab or CR is escaped whatever follows
		{"\r\n", "'\r\n"},
		{"  =1+1", "'  =1+1"},
		{"\u3000@x", "'\u3000@x"},
		{"\u00a0+1", "'\u00a0+1"},
		{"\u200b=1", "'\u200b=1"},
		{"\n=1", "'\n=1"},
		{"＝1+1", "'＝1+1"},
		{"－1", "'－1"},
		{"-12", "-12"}, // a plain negative number stays a number
		{"-3.50", "-3.50"},
		{"-3.", "'-3."},
		{"-.5", "'-.5"},
		{"- 3", "'- 3"},
		{" -12", "' -12"},
		{"-", "'-"},
		{"2026-12-03", "2026-12-03"},
		{"a=1", "a=1"},
		{"王秀英 -12", "王秀英 -12"},
	}
	for _, tt := range tests {
		if got := csvSafe(tt.in); got != tt.want {
			t.Errorf("csvSafe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzCSVSafe: whatever a station typed, the cell either stays as it was
// and is no formula to a spreadsheet, or gains exactly one leading
// apostrophe.
func FuzzCSVSafe(f *testing.F) {
	for _, s := range []string{"", "=1", "\t=1", "\r=1", " =1", "\u3000@", "-12", "-1+1", "abc", "\u200b\u200b+1", "\xff=", "-", "-1.", "＋1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := csvSafe(s)
		switch {
		case out == s:
			if spreadsheetFormula(s) && !plainNegative(s) {
				t.Fatalf("csvSafe(%q) left a formula", s)
			}
		case out == "'"+s:
		default:
			t.Fatalf("csvSafe(%q) = %q: not the cell nor the cell with one apostrophe", s, out)
		}
	})
}

// spreadsheetFormula is written from OWASP's list, independently of
// csvSafe: a leading tab or CR, or = + - @ (or their full-width forms)
// after any white space or invisible characters.
func spreadsheetFormula(s string) bool {
	if strings.HasPrefix(s, "\t") || strings.HasPrefix(s, "\r") {
		return true
	}
	t := strings.TrimLeftFunc(s, func(c rune) bool { return unicode.IsSpace(c) || unicode.Is(unicode.Cf, c) })
	for _, p := range []string{"=", "+", "-", "@", "＝", "＋", "－", "＠"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

func plainNegative(s string) bool {
	if !strings.HasPrefix(s, "-") {
		return false
	}
	body := s[1:]
	whole, frac, dot := strings.Cut(body, ".")
	isDigits := func(x string) bool { return x != "" && strings.Trim(x, "0123456789") == "" }
	return isDigits(whole) && (!dot || isDigits(frac))
}
