package pii

import (
	"unicode"
	"unicode/utf8"

	"stationsync/internal/idcard"
)

// The scanner: runs of digit-like characters, the windows in them that are
// ID or mobile numbers, and the checks a window must pass.

// scan walks s and calls fn for every run of at least minDigits
// characters. The run's backing array is reused between calls.
func scan(s string, fn func(run)) {
	var buf [64]elem
	r := buf[:0]
	chunk := int32(0)
	gap := 0 // separators since the last digit; -1 before the first digit
	flush := func() {
		if len(r) >= minDigits {
			fn(r)
		}
		r = r[:0]
		gap = 0
	}
	for i := 0; i < len(s); {
		c, size := rune(s[i]), 1
		if c >= utf8.RuneSelf {
			c, size = utf8.DecodeRuneInString(s[i:])
		}
		if v := digitValue(c); v >= 0 {
			cn := c >= 0x3000 && c < 0xff00 // 〇 and the CJK ideographs, not full-width digits
			// A switch between Chinese numerals and digits starts a new
			// chunk, as a separator does: the 三 of 张三 is part of a
			// name, not of the phone number written after it.
			if len(r) > 0 && (gap > 0 || r[len(r)-1].cn != cn) {
				chunk++
			}
			r = append(r, elem{start: i, end: i + size, val: int8(v), cn: cn, chunk: chunk})
			gap = 0
		} else if len(r) > 0 && isX(c) {
			if gap > 0 {
				chunk++
			}
			r = append(r, elem{start: i, end: i + size, val: 10, chunk: chunk})
			flush()
		} else if len(r) > 0 && isSeparator(c) && gap < maxGap {
			gap++
		} else if len(r) > 0 {
			flush()
		}
		i += size
	}
	flush()
}

// windows returns the numbers in one run.
func windows(r run) []window {
	n := len(r)
	var out []window
	hasX := r[n-1].val == 10
	nd := n // digits before a trailing X
	if hasX {
		nd = n - 1
	}
	// Citizen ID numbers, 18 characters.
	for i := 0; i+18 <= n; i++ {
		j := i + 18
		if !r.aligned(i, j) {
			continue
		}
		last := r[j-1].val // X can only be here: it ends a run
		strict := checkValue(r[i:j-1]) == last && r.dateOK(i+6)
		xForm := last == 10
		lax := r.bounded(i, j) && r.province(i) && r.dateOK(i+6)
		if strict || xForm || lax {
			out = append(out, window{i: i, j: j, kind: IDNumber, head: 6, tail: 4})
		}
	}
	// A mistyped ID number with one digit left out, and first-generation
	// 15-digit numbers: only as a whole between chunk boundaries.
	for i := 0; i < nd; i++ {
		if !r.chunkStart(i) || !r.province(i) {
			continue
		}
		if j := i + 17; j <= nd && r.chunkEnd(j) && r.dateOK(i+6) {
			out = append(out, window{i: i, j: j, kind: IDNumber, head: 6, tail: 3})
		}
		if j := i + 15; j <= nd && r.chunkEnd(j) && r.shortDateOK(i+6) {
			out = append(out, window{i: i, j: j, kind: IDNumber, head: 6, tail: 3})
		}
	}
	// Mobile numbers.
	for i := 0; i+11 <= nd; i++ {
		j := i + 11
		if r[i].val != 1 || r[i+1].val < 3 || !r.aligned(i, j) || within(out, i, j) {
			continue
		}
		out = append(out, window{i: i, j: j, kind: Mobile, head: 3, tail: 4})
	}
	if len(out) > 1 {
		sortWindows(out)
	}
	return out
}

// within reports whether r[i:j] lies inside an ID number already found.
func within(ws []window, i, j int) bool {
	for _, w := range ws {
		if w.kind == IDNumber && w.i <= i && j <= w.j {
			return true
		}
	}
	return false
}

// sortWindows orders windows by start (insertion sort: there are few).
func sortWindows(ws []window) {
	for a := 1; a < len(ws); a++ {
		for b := a; b > 0 && ws[b].i < ws[b-1].i; b-- {
			ws[b], ws[b-1] = ws[b-1], ws[b]
		}
	}
}

func (r run) chunkStart(i int) bool { return i == 0 || r[i].chunk != r[i-1].chunk }
func (r run) chunkEnd(j int) bool   { return j == len(r) || r[j].chunk != r[j-1].chunk }

// startOK: a window across separators starts at a chunk start, or after a
// country code 86 or 0086 written in front of it without a separator.
func (r run) startOK(i int) bool {
	if r.chunkStart(i) {
		return true
	}
	k := i
	for k > 0 && r[k-1].chunk == r[i].chunk {
		k--
	}
	switch i - k {
	case 2:
		return r[k].val == 8 && r[k+1].val == 6
	case 4:
		return r[k].val == 0 && r[k+1].val == 0 && r[k+2].val == 8 && r[k+3].val == 6
	}
	return false
}

// aligned: r[i:j] may be read as one number (see the package comment).
func (r run) aligned(i, j int) bool {
	if r[i].chunk == r[j-1].chunk {
		return true
	}
	return r.startOK(i) && r.chunkEnd(j)
}

// bounded: r[i:j] starts and ends at chunk boundaries (the typo rules).
func (r run) bounded(i, j int) bool { return r.startOK(i) && r.chunkEnd(j) }

// province: the first two digits are a province-level code of GB/T 2260
// (11 Beijing … 65 Xinjiang, 71 Taiwan, 81 Hong Kong, 82 Macao).
func (r run) province(i int) bool {
	if i+2 > len(r) || r[i].val > 9 || r[i+1].val > 9 {
		return false
	}
	p := int(r[i].val)*10 + int(r[i+1].val)
	switch {
	case p >= 11 && p <= 15, p >= 21 && p <= 23, p >= 31 && p <= 37, p >= 41 && p <= 46,
		p >= 50 && p <= 54, p >= 61 && p <= 65, p == 71, p == 81, p == 82:
		return true
	}
	return false
}

func (r run) num(i, n int) (int, bool) {
	v := 0
	for k := i; k < i+n; k++ {
		if k >= len(r) || r[k].val > 9 {
			return 0, false
		}
		v = v*10 + int(r[k].val)
	}
	return v, true
}

// dateOK: r[i:i+8] is a real date YYYYMMDD from 1900 to 2100. The upper
// bound is generous on purpose: masking must not depend on today's date.
func (r run) dateOK(i int) bool {
	y, ok1 := r.num(i, 4)
	m, ok2 := r.num(i+4, 2)
	d, ok3 := r.num(i+6, 2)
	return ok1 && ok2 && ok3 && y >= 1900 && y <= 2100 && realDate(y, m, d)
}

// shortDateOK: r[i:i+6] is a real date YYMMDD of the 1900s, the form of a
// first-generation number.
func (r run) shortDateOK(i int) bool {
	y, ok1 := r.num(i, 2)
	m, ok2 := r.num(i+2, 2)
	d, ok3 := r.num(i+4, 2)
	return ok1 && ok2 && ok3 && realDate(1900+y, m, d)
}

func realDate(y, m, d int) bool {
	if m < 1 || m > 12 || d < 1 {
		return false
	}
	days := [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m]
	if m == 2 && (y%4 == 0 && y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return d <= days
}

// checkValue is the GB 11643 check value (0–10, 10 written X) of 17
// digits, or -1 if one of them is not a digit.
func checkValue(e []elem) int8 {
	var first17 [17]byte
	for k := range first17 {
		if e[k].val > 9 {
			return -1
		}
		first17[k] = '0' + byte(e[k].val)
	}
	c, err := idcard.CheckChar(string(first17[:]))
	if err != nil {
		return -1
	}
	if c == 'X' {
		return 10
	}
	return int8(c - '0')
}

// digitValue is the value of a digit in any script, or -1.
func digitValue(c rune) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c < utf8.RuneSelf:
		return -1
	case c >= '０' && c <= '９':
		return int(c - '０')
	}
	switch c {
	case '〇', '零':
		return 0
	case '一', '壹', '幺':
		return 1
	case '二', '贰', '貳':
		return 2
	case '三', '叁', '參':
		return 3
	case '四', '肆':
		return 4
	case '五', '伍':
		return 5
	case '六', '陆', '陸':
		return 6
	case '七', '柒':
		return 7
	case '八', '捌':
		return 8
	case '九', '玖':
		return 9
	}
	if unicode.IsDigit(c) {
		// Unicode assigns decimal digits only in blocks of ten that run
		// from 0 to 9, so the value is the distance from the start of the
		// block (adjacent blocks, as in the mathematical digits, are each
		// ten long).
		first := c
		for first > 0 && c-first < 100 && unicode.IsDigit(first-1) {
			first--
		}
		return int(c-first) % 10
	}
	return -1
}

func isX(c rune) bool { return c == 'X' || c == 'x' || c == 'Ｘ' || c == 'ｘ' }

// isSeparator: characters people put between the digits of a number to
// make it readable, and invisible characters that paste or an attacker may
// slip in. Commas are not separators: "1,500,000" is an amount.
func isSeparator(c rune) bool {
	switch c {
	case '-', '.', '/', '_', '+', '(', ')', '[', ']', '·', '・', '．', '／', '＿', '－', '＋', '（', '）', '【', '】', '〔', '〕',
		'‐', '‑', '‒', '–', '—', '―', '−', '﹣':
		return true
	}
	if c < utf8.RuneSelf {
		return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
	}
	return unicode.IsSpace(c) || unicode.Is(unicode.Zs, c) || unicode.Is(unicode.Cf, c) || unicode.Is(unicode.Pd, c)
}
