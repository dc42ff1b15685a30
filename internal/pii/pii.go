// Package pii finds and masks personal numbers — citizen ID numbers
// (GB 11643) and mainland mobile numbers — inside free text: notes, notices,
// addresses, anything a cadre types. It is the one place both the station
// and the county decide what "a number in the text" is, so that the print
// view, the staff pages of users without full-number rights and the public
// portal hide the same things.
//
// Why not a regular expression with \b: people do not type numbers the way
// a pattern expects. Numbers arrive in full-width digits from a Chinese
// input method, with spaces or dashes for readability ("131-7509-4058",
// "340123 20130307 5288"), with +86 in front, glued to a label ("ID3401…")
// or to a word after them, and \b sees none of these. So the text is walked
// rune by rune instead:
//
//  1. Digits in any script (ASCII, full-width, any Unicode decimal digit,
//     and the Chinese numerals 〇零一…九, 壹…玖 and 幺, which is how "1" is
//     read out in phone numbers) are collected into runs. Up to four
//     separator characters (white space of any kind, dashes and hyphens,
//     dots, slashes, middle dots, brackets, zero-width and other invisible
//     format characters) may stand between two digits of a run; an X or x
//     (also full-width) directly after a run ends it as an ID check
//     character. Anything else — a letter, a Chinese character, a comma,
//     "元" — ends the run, but never hides the number: there is no word
//     boundary test.
//  2. A run is made of chunks, the digits between separators. Numbers are
//     looked for in windows of the run's digits. A window inside one chunk
//     (the digits are written together) may start and end anywhere, so a
//     number glued to other digits is still found. A window across
//     separators must start at a chunk start (or after a leading 86 or
//     0086 in its first chunk) and end at a chunk end, because otherwise
//     "1500 1300 1800" — amounts in a table — would contain an 11-digit
//     mobile number.
//  3. A window is a citizen ID number if it has 18 characters whose check
//     character is right (MOD 11-2) and whose birth date (characters 7–14)
//     is a real date from 1900 to 2100, or if it is 17 digits followed by
//     an X. A mistyped real number is still personal data, so a window of
//     17 or 18 characters that starts and ends at chunk boundaries, begins
//     with a province code (11–82) and holds a real birth date is an ID
//     number too, whatever its check character; so is a 15-digit
//     first-generation number (province code, then a YYMMDD date).
//  4. A window is a mobile number if it has 11 digits starting 13–19.
//     Landlines are not masked: the committee's landline is the number a
//     notice is meant to give.
//
// Masking replaces each hidden digit with one '*' and leaves everything
// else — separators, prefixes, other text — as typed. An 18-character ID
// number keeps its first 6 and last 4 characters (340123********123X), a
// 17- or 15-digit one its first 6 and last 3, and a mobile number its first
// 3 and last 4 (131****4058), the forms printed on bank slips and carrier
// bills. Ordinary figures — amounts, dates, counts — are left alone; a run
// must hold at least 11 digits before anything is looked for.
package pii

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Kind says what a found number is.
type Kind int

const (
	// IDNumber is a citizen ID number (公民身份号码).
	IDNumber Kind = iota + 1
	// Mobile is a mainland mobile number.
	Mobile
)

// Label is the Chinese name of the kind, for messages a cadre reads.
func (k Kind) Label() string {
	if k == IDNumber {
		return "身份证号码"
	}
	return "手机号码"
}

// Span is one personal number found in a text.
type Span struct {
	// Start and End are byte offsets in the text: the number is
	// text[Start:End], separators and all.
	Start, End int
	Kind       Kind
	// Number is the number in ASCII digits without separators, X upper
	// case: "34012320130307528X", "13175094058".
	Number string
	// Masked is Number as lists and notices may show it:
	// "340123********528X", "131****4058".
	Masked string
}

// maxGap is how many separator characters may stand between two digits of
// one number (" - " is three).
const maxGap = 4

// minDigits is the shortest run in which a number is looked for: the
// shortest number found, a mobile, has 11 digits.
const minDigits = 11

// elem is one character of a run: a digit (0–9) or the check character X
// (10), where it is in the text and which chunk it belongs to.
type elem struct {
	start, end int // byte offsets
	val        int8
	cn         bool // a Chinese numeral
	chunk      int32
}

// run is a maximal sequence of digits (and separators between them), with
// an optional X at the end.
type run []elem

// FindNumbers returns the personal numbers in s, in the order they start.
// Numbers may overlap when the same digits read as two numbers (a mobile
// number inside a longer ID-like run), but a mobile number lying wholly
// inside an ID number is not reported.
func FindNumbers(s string) []Span {
	var spans []Span
	scan(s, func(r run) {
		spans = appendSpans(spans, s, r)
	})
	return spans
}

// MaskText returns s with the middle digits of every personal number
// replaced by '*'. Everything else is kept byte for byte. The result holds
// no number FindNumbers would find: masking can leave the visible ends of a
// number next to other digits in a way that reads as a new number, so it
// is repeated until nothing is found (each round hides at least one more
// digit, so this ends, usually after one round).
func MaskText(s string) string {
	for round := 1; ; round++ {
		// Crafted text could make each round find one new number in the
		// remains of the last; after a few rounds, whole runs go.
		out, changed := maskOnce(s, round > maxRounds)
		if !changed {
			return out
		}
		s = out
	}
}

// MaskTextExcept is MaskText keeping whole the mobile numbers listed in
// public (11 ASCII digits each, as Span.Number): the contact a notice is
// meant to give, marked by its publisher. A listed number is kept in
// whatever spelling it was typed; everything else is exactly what
// MaskText makes of s, and an ID number is always masked.
//
// A mark never reveals what MaskText hides: the listed number is kept only
// where, in MaskText's result, nothing else of its run (the digits and
// separators it is written in) was hidden, and only if the result then
// holds no number but listed ones. A listed number glued to another
// number is masked like any other.
func MaskTextExcept(s string, public []string) string {
	masked := MaskText(s)
	if len(public) == 0 || masked == s {
		return masked
	}
	// The characters MaskText hid, by their offset in s: each hidden
	// character became one '*'.
	hidden := map[int]bool{}
	for i, o := 0, 0; i < len(s) && o < len(masked); {
		ci, si := utf8.DecodeRuneInString(s[i:])
		co, so := utf8.DecodeRuneInString(masked[o:])
		if co == '*' && ci != '*' {
			hidden[i] = true
		}
		i, o = i+si, o+so
	}
	keep := map[int]bool{}
	var num []byte
	scan(s, func(r run) {
		inKept := make([]bool, len(r))
		found := false
		for _, w := range windows(r) {
			if w.kind != Mobile {
				continue
			}
			num = num[:0]
			for _, e := range r[w.i:w.j] {
				num = append(num, digitChar(e.val))
			}
			if slices.Contains(public, string(num)) {
				found = true
				for k := w.i; k < w.j; k++ {
					inKept[k] = true
				}
			}
		}
		if !found {
			return
		}
		for k, e := range r {
			if hidden[e.start] && !inKept[k] {
				return // something else in this run was hidden
			}
		}
		for k, e := range r {
			if inKept[k] {
				keep[e.start] = true
			}
		}
	})
	if len(keep) == 0 {
		return masked
	}
	var b strings.Builder
	b.Grow(len(s))
	for i, o := 0, 0; i < len(s) && o < len(masked); {
		_, si := utf8.DecodeRuneInString(s[i:])
		_, so := utf8.DecodeRuneInString(masked[o:])
		if keep[i] {
			b.WriteString(s[i : i+si])
		} else {
			b.WriteString(masked[o : o+so])
		}
		i, o = i+si, o+so
	}
	out := b.String()
	for _, sp := range FindNumbers(out) {
		if sp.Kind != Mobile || !slices.Contains(public, sp.Number) {
			return masked
		}
	}
	return out
}

// maxRounds bounds the masking rounds that keep the visible ends of
// numbers; real text needs one.
const maxRounds = 4

// Normalize returns s as a reader's eye joins it up: digits of any script
// in ASCII, X upper case, and the separators FindNumbers reads through
// removed. Tests use it to check that no number can be read from a page.
func Normalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, c := range s {
		switch v := digitValue(c); {
		case v >= 0:
			b.WriteByte('0' + byte(v))
		case isX(c):
			b.WriteByte('X')
		case isSeparator(c):
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// maskOnce hides the middle of every number found, or with whole set every
// digit of a run in which a number is found.
func maskOnce(s string, whole bool) (string, bool) {
	var hide []elem // characters to replace with '*', in text order
	var hidden []bool
	scan(s, func(r run) {
		ws := windows(r)
		if len(ws) == 0 {
			return
		}
		hidden = append(hidden[:0], make([]bool, len(r))...)
		for _, w := range ws {
			from, to := w.i+w.head, w.j-w.tail
			if whole {
				from, to = 0, len(r)
			}
			for k := from; k < to; k++ {
				hidden[k] = true
			}
		}
		for k, h := range hidden {
			if h {
				hide = append(hide, r[k])
			}
		}
	})
	if len(hide) == 0 {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, e := range hide {
		b.WriteString(s[last:e.start])
		b.WriteByte('*')
		last = e.end
	}
	b.WriteString(s[last:])
	return b.String(), true
}

// window is a found number: elements r[i:j] of a run, of which the first
// head and the last tail stay visible.
type window struct {
	i, j       int
	kind       Kind
	head, tail int
}

func appendSpans(spans []Span, s string, r run) []Span {
	for _, w := range windows(r) {
		num := make([]byte, 0, w.j-w.i)
		for _, e := range r[w.i:w.j] {
			num = append(num, digitChar(e.val))
		}
		masked := make([]byte, len(num))
		copy(masked, num)
		for k := w.head; k < len(num)-w.tail; k++ {
			masked[k] = '*'
		}
		spans = append(spans, Span{Start: r[w.i].start, End: r[w.j-1].end, Kind: w.kind, Number: string(num), Masked: string(masked)})
	}
	return spans
}

func digitChar(v int8) byte {
	if v == 10 {
		return 'X'
	}
	return '0' + byte(v)
}
