package web

import "unicode"

// csvSafe makes one CSV cell safe to open in a spreadsheet (CSV injection,
// OWASP "CSV Injection"): Excel, WPS and LibreOffice read a cell as a
// formula when it starts with = + - or @, and also when those follow
// leading white space, a tab or a carriage return — "\t=HYPERLINK(…)" is a
// link that sends whoever clicks it to an attacker's page. Text that a
// station typed reaches the county's exports unchanged, so every such cell
// gets a leading apostrophe, which the spreadsheets read as "this is
// text". The full-width ＝＋－＠ a Chinese input method gives are treated
// the same, as some spreadsheets normalise them.
//
// One exception: a plain decimal number with a minus sign ("-12", "-3.50")
// stays as it is. It cannot call anything, and an apostrophe would turn a
// figure into text that no longer adds up. xlsx exports need none of this:
// their cells are written as typed inline strings, never as formulas.
func csvSafe(s string) string {
	if s == "" {
		return s
	}
	if s[0] == '\t' || s[0] == '\r' {
		return "'" + s
	}
	for i, c := range s {
		if unicode.IsSpace(c) || unicode.Is(unicode.Cf, c) {
			continue // leading blanks (also zero-width ones) hide nothing
		}
		switch c {
		case '=', '+', '@', '＝', '＋', '－', '＠':
			return "'" + s
		case '-':
			if i == 0 && plainNumber(s[1:]) {
				return s
			}
			return "'" + s
		}
		return s
	}
	return s
}

// plainNumber: digits, optionally with one decimal point between digits.
func plainNumber(s string) bool {
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot && digits > 0 && i+1 < len(s):
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}
