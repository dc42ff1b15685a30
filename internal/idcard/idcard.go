package idcard

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Length is the number of characters in a citizen ID number. The older
// 15-digit numbers have not been valid on any card since 2013, so they are
// rejected like any other wrong length.
const Length = 18

// Error codes of *Error. They are stable English words so that programs and
// tests can branch on them; the Chinese Message may be reworded.
const (
	CodeLength    = "length"    // not 18 characters (or empty)
	CodeChars     = "chars"     // something other than digits, or X not in last place
	CodeBirthDate = "birthdate" // characters 7–14 are not a real date from 1900-01-01 to today
	CodeChecksum  = "checksum"  // the check character does not match the first 17 digits
)

// Error says why a number was rejected. Message is a complete Simplified
// Chinese sentence meant to be shown to the cadre unchanged, so it says what
// to check rather than how the check is computed.
type Error struct {
	Code    string
	Message string
}

// Error returns Message, so that code which only prints errors still shows
// the cadre something readable.
func (e *Error) Error() string { return e.Message }

// weights are 2^(17-i) mod 11 for i = 0..16, as GB 11643 tabulates them.
var weights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// checkChars maps the weighted sum mod 11 to the check character.
const checkChars = "10X98765432"

// china is the zone "today" is judged in: a person born this morning in
// Anhui must be accepted even on a server running in UTC. A fixed zone avoids
// depending on tzdata, which Windows station PCs do not ship.
var china = time.FixedZone("CST", 8*60*60)

// now is replaced in tests to pin "today".
var now = time.Now

// Normalize returns s as it should be stored: white space and dashes
// removed wherever they stand (people copy the number off a card in
// groups — "340123 19900101 1234", "340123-19900101-1234" — and paste it
// from WeChat or Excel with the ideographic space U+3000 and zero-width
// characters around it), full-width digits from a Chinese input method
// turned into ASCII, and a lower-case or full-width x turned into X. It
// changes nothing else, so a wrong number stays wrong and Validate can say
// why: counting the spaces as characters told a cadre who typed 18
// characters in groups that the number had 20.
func Normalize(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || c == 'x' || c == ' ' || c == '-' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case isBlank(r), isDash(r):
			continue
		case r == 'x', r == 'ｘ', r == 'Ｘ':
			r = 'X'
		case r >= '０' && r <= '９':
			r = '0' + (r - '０')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isBlank(r rune) bool {
	return unicode.IsSpace(r) || r == '\u200b' || r == '\u200c' || r == '\u200d' || r == '\u2060' || r == '\ufeff'
}

// isDash: the hyphens and dashes a keyboard or an input method produces.
func isDash(r rune) bool {
	switch r {
	case '-', '‐', '‑', '‒', '–', '—', '―', '−', '﹣', '－':
		return true
	}
	return false
}

// Validate reports whether s, after Normalize, is a well-formed citizen ID
// number. It returns nil or an *Error. The checks run from the most to the
// least obvious mistake (length, characters, birth date, check character),
// so the cadre is told about the mistake that is easiest to see on the card.
func Validate(s string) error {
	_, err := parse(Normalize(s))
	return err
}

// CheckChar returns the check character ('0'–'9' or 'X') for the first 17
// digits of a number. It does not normalise its input, because it is meant
// for building numbers, where anything but 17 ASCII digits is a bug.
func CheckChar(first17 string) (byte, error) {
	if n := utf8.RuneCountInString(first17); n != Length-1 {
		return 0, &Error{Code: CodeLength, Message: fmt.Sprintf("计算校验位需要身份证号码的前17位，现在是%d位", n)}
	}
	sum := 0
	pos := 0
	for _, r := range first17 {
		if r < '0' || r > '9' {
			return 0, &Error{Code: CodeChars, Message: fmt.Sprintf("身份证号码的前17位只能是数字，请检查第%d位", pos+1)}
		}
		sum += int(r-'0') * weights[pos]
		pos++
	}
	return checkChars[sum%11], nil
}

// BirthDate returns the date of birth in s as midnight UTC, the convention
// for a calendar date without a time of day. It refuses a number that fails
// Validate: a date read from a mistyped number would be silently wrong.
func BirthDate(s string) (time.Time, error) {
	return parse(Normalize(s))
}

// Sex returns "男" or "女" from the parity of the sequence digits (odd for
// men). Like BirthDate it refuses a number that fails Validate.
func Sex(s string) (string, error) {
	n := Normalize(s)
	if _, err := parse(n); err != nil {
		return "", err
	}
	if (n[16]-'0')%2 == 1 {
		return "男", nil
	}
	return "女", nil
}

// parse validates a normalised number and returns its birth date.
func parse(n string) (time.Time, error) {
	count := utf8.RuneCountInString(n)
	if count == 0 {
		return time.Time{}, &Error{Code: CodeLength, Message: "身份证号码不能为空，请输入18位身份证号码"}
	}
	if count != Length {
		return time.Time{}, &Error{Code: CodeLength, Message: fmt.Sprintf("身份证号码应为18位，现在是%d位，请核对后重新输入", count)}
	}
	pos := 0
	for _, r := range n {
		pos++
		if r >= '0' && r <= '9' || r == 'X' && pos == Length {
			continue
		}
		// The position is named because a cadre compares against the card
		// character by character, and "第5位" is quicker to find than a
		// description of the rule.
		return time.Time{}, &Error{Code: CodeChars, Message: fmt.Sprintf("身份证号码只能包含数字，最后一位可以是X，请检查第%d位", pos)}
	}
	birth, err := birthDate(n[6:14])
	if err != nil {
		return time.Time{}, err
	}
	c, _ := CheckChar(n[:17]) // cannot fail: 17 digits checked above
	if n[17] != c {
		// The expected character is deliberately not shown: a failed check
		// usually means a mistyped digit somewhere else, and showing it would
		// invite "fixing" the last digit and storing a wrong number.
		return time.Time{}, &Error{Code: CodeChecksum, Message: "身份证号码校验位不正确，请对照证件逐位核对，特别是最后一位"}
	}
	return birth, nil
}

// birthDate checks the 8 digits YYYYMMDD.
func birthDate(d string) (time.Time, error) {
	y, _ := strconv.Atoi(d[0:4])
	m, _ := strconv.Atoi(d[4:6])
	day, _ := strconv.Atoi(d[6:8])
	t := time.Date(y, time.Month(m), day, 0, 0, 0, 0, time.UTC)
	// time.Date normalises 19900230 to March 2; a round trip catches it.
	if t.Year() != y || int(t.Month()) != m || t.Day() != day {
		return time.Time{}, &Error{Code: CodeBirthDate, Message: "身份证号码中的出生日期无效（第7至14位应为出生年月日，如19900101），请核对后重新输入"}
	}
	if y < 1900 {
		return time.Time{}, &Error{Code: CodeBirthDate, Message: "身份证号码中的出生日期早于1900年，不是有效日期，请核对第7至14位"}
	}
	ty, tm, td := now().In(china).Date()
	if t.After(time.Date(ty, tm, td, 0, 0, 0, 0, time.UTC)) {
		return time.Time{}, &Error{Code: CodeBirthDate, Message: "身份证号码中的出生日期晚于今天，不是有效日期，请核对第7至14位"}
	}
	return t, nil
}

// Mask hides the middle of an ID number for lists, printouts and the public
// portal, keeping the first 6 characters (the county, which a reader knows
// anyway) and the last 4 (enough to tell two people of the same name apart):
// 340123199001011234 becomes 340123********1234. Input that is not 18
// characters is still masked, keeping at most a third at the front and a
// quarter at the end, so that a truncated or mistyped number never shows more
// than a full one would. The result has one '*' per hidden character.
func Mask(s string) string {
	return maskRunes(Normalize(s), 6, 4)
}

// MaskPhone hides the middle of a phone number: an 11-digit mobile number
// keeps its first 3 and last 4 digits (13812345678 becomes 138****5678, the
// form Chinese banks and carriers print). Anything else keeps at most the
// first 3 and the last 2 characters, and less when it is short, because a
// landline with its area code is easier to guess from its ends.
func MaskPhone(s string) string {
	s = strings.TrimFunc(s, isBlank)
	if len(s) == 11 && s[0] == '1' && allDigits(s) {
		return s[:3] + "****" + s[7:]
	}
	return maskRunes(s, 3, 2)
}

// maskRunes keeps at most head runes at the front and tail at the back, but
// never more than a third and a quarter of the input respectively, so that
// at least 5/12 of any input is hidden.
func maskRunes(s string, head, tail int) string {
	r := []rune(s)
	n := len(r)
	head = min(head, n/3)
	tail = min(tail, n/4)
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(string(r[:head]))
	b.WriteString(strings.Repeat("*", n-head-tail))
	b.WriteString(string(r[n-tail:]))
	return b.String()
}

// Generate builds a number from its parts, computing the check character. It
// exists for test data and demos; it panics if area is not 6 ASCII digits or
// seq is outside 0–999, since that is a bug in the caller. The result passes
// Validate when birth lies between 1900-01-01 and today; the birth date is
// taken in birth's own location. An odd seq gives a man, an even one a woman.
func Generate(area string, birth time.Time, seq int) string {
	if len(area) != 6 || !allDigits(area) {
		panic(fmt.Sprintf("idcard.Generate: area must be 6 digits, got %q", area))
	}
	if seq < 0 || seq > 999 {
		panic(fmt.Sprintf("idcard.Generate: seq must be 0–999, got %d", seq))
	}
	y, m, d := birth.Date()
	if y < 0 || y > 9999 {
		panic(fmt.Sprintf("idcard.Generate: birth year %d does not fit in 4 digits", y))
	}
	first17 := fmt.Sprintf("%s%04d%02d%02d%03d", area, y, int(m), d, seq)
	c, err := CheckChar(first17)
	if err != nil {
		panic("idcard.Generate: " + err.Error())
	}
	return first17 + string(c)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
