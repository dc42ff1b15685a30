package pii

import "strings"

// Phone messages, each saying what to type instead.
const (
	MsgPhoneChars    = "电话号码只能填数字，例如手机 13905510456，座机 0551-66661234"
	MsgPhoneAreaCode = "座机号码请加上区号，例如 0551-66661234"
	MsgPhoneShape    = "请填 11 位手机号码（如 13905510456），或带区号的座机号码（如 0551-66661234）"
)

// Phone reads a contact number as a cadre types it and returns it in the
// form it is stored and shown: a mobile as 11 digits ("13905510456"), a
// landline as area code, dash, number ("0551-66661234"). It accepts
// full-width digits, spaces, dashes, dots and brackets between the digits,
// and +86, 86 or 0086 before a mobile. Anything else gets msg, a Chinese
// sentence naming what to type: a 7-digit number is somebody's landline
// without its area code, which nobody outside the township can dial.
//
// The rules are those of the numbering plan: a mobile has 11 digits and
// starts 13–19; a landline is 0, a 2-digit area code (10 Beijing, 20–29)
// or a 3-digit one (all others), then 7 or 8 digits.
//
// Only new entries are held to this: the county accepts whatever older
// stations stored (records.Validate), so nothing already recorded is
// refused on its way up.
func Phone(s string) (norm, msg string) {
	s = strings.TrimSpace(s)
	digits := make([]byte, 0, len(s))
	plus := false
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits = append(digits, byte(c-'0')+'0')
		case c >= '０' && c <= '９':
			digits = append(digits, byte(c-'０')+'0')
		case c == '+' || c == '＋':
			if len(digits) > 0 || plus {
				return "", MsgPhoneChars
			}
			plus = true
		case isSeparator(c):
		default:
			return "", MsgPhoneChars
		}
	}
	d := string(digits)
	if d == "" {
		return "", ""
	}
	// A country code in front of a mobile.
	switch {
	case len(d) == 13 && strings.HasPrefix(d, "86"):
		d = d[2:]
	case len(d) == 15 && strings.HasPrefix(d, "0086") && !plus:
		d = d[4:]
	case plus:
		return "", MsgPhoneShape
	}
	if len(d) == 11 && d[0] == '1' && d[1] >= '3' {
		return d, ""
	}
	if d[0] == '0' && len(d) > 2 {
		area := 4
		if d[1] == '1' || d[1] == '2' {
			area = 3
		}
		if n := len(d) - area; (d[1] != '1' || d[2] == '0') && n >= 7 && n <= 8 && d[area] != '0' && d[area] != '1' {
			return d[:area] + "-" + d[area:], ""
		}
		return "", MsgPhoneShape
	}
	if len(d) == 7 || len(d) == 8 {
		return "", MsgPhoneAreaCode
	}
	return "", MsgPhoneShape
}
