package records

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Field values are read for every change a county merges, and nearly all
// of them are plain: a string without escapes, a small integer, a list of
// such strings. These read them without encoding/json, which took most of
// a merged visit's CPU time; anything else goes to encoding/json. Each
// gives exactly what encoding/json gives, or false (fuzzed in
// fastjson_test.go).

// plainString returns the string a JSON string literal holds when the
// literal has no escapes and is valid UTF-8.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	for _, c := range body {
		if c == '"' || c == '\\' || c < 0x20 {
			return "", false
		}
	}
	if !utf8.Valid(body) {
		// encoding/json replaces invalid bytes with U+FFFD.
		return "", false
	}
	return string(body), true
}

// decodeText reads a JSON string, plain ones without encoding/json.
func decodeText(raw []byte) (string, error) {
	if s, ok := plainString(raw); ok {
		return s, nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// decodeInt reads a JSON integer, plain ones without encoding/json.
func decodeInt(raw []byte) (int64, error) {
	if n, ok := plainInt(raw); ok {
		return n, nil
	}
	var n int64
	err := json.Unmarshal(raw, &n)
	return n, err
}

// plainInt returns the value of a JSON integer of at most 18 digits (which
// cannot overflow an int64).
func plainInt(raw []byte) (int64, bool) {
	digits := raw
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 18 || (digits[0] == '0' && len(digits) > 1) {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return n, err == nil
}

// plainStrings reads a compact JSON array of plain strings. canonical
// reports whether raw is already what Canonical makes of it: json.Marshal
// escapes <, > and & and the line and paragraph separators.
func plainStrings(raw []byte) (items []any, canonical, ok bool) {
	if len(raw) < 2 || raw[0] != '[' || raw[len(raw)-1] != ']' {
		return nil, false, false
	}
	rest := raw[1 : len(raw)-1]
	items = []any{}
	for len(rest) > 0 {
		if rest[0] != '"' {
			return nil, false, false
		}
		end := bytes.IndexByte(rest[1:], '"')
		if end < 0 {
			return nil, false, false
		}
		lit := rest[:end+2]
		s, ok := plainString(lit)
		if !ok {
			return nil, false, false
		}
		items = append(items, s)
		rest = rest[len(lit):]
		if len(rest) > 0 {
			if rest[0] != ',' || len(rest) == 1 {
				return nil, false, false
			}
			rest = rest[1:]
		}
	}
	canonical = !bytes.ContainsAny(raw, "<>&\u2028\u2029")
	return items, canonical, true
}
