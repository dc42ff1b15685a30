package records

import (
	"encoding/json"
	"unicode/utf8"
)

// ParseFields splits a JSON object of field values, as the stores keep it,
// into its members; the values are slices of raw. A station reads ten
// thousand of these for one catch-up push, and encoding/json's map decoding
// took 16 µs for each; checking the text with json.Valid and splitting it
// takes a fraction of that. Keys that are not plain ASCII, duplicate keys and anything
// that is not an object go through encoding/json, which also reports the
// errors.
func ParseFields(raw []byte) (Fields, error) {
	if !json.Valid(raw) {
		var f Fields
		return nil, json.Unmarshal(raw, &f)
	}
	if f, ok := splitObject(raw); ok {
		return f, nil
	}
	var f Fields
	err := json.Unmarshal(raw, &f)
	return f, err
}

func splitObject(p []byte) (Fields, bool) {
	i := skipSpace(p, 0)
	if i >= len(p) || p[i] != '{' {
		return nil, false
	}
	f := Fields{}
	i = skipSpace(p, i+1)
	if i < len(p) && p[i] == '}' {
		return f, skipSpace(p, i+1) == len(p)
	}
	for {
		// "key"
		if i >= len(p) || p[i] != '"' {
			return nil, false
		}
		k := i + 1
		for k < len(p) && p[k] != '"' {
			if p[k] == '\\' || p[k] < 0x20 || p[k] >= utf8.RuneSelf {
				return nil, false
			}
			k++
		}
		if k >= len(p) {
			return nil, false
		}
		key := string(p[i+1 : k])
		i = skipSpace(p, k+1)
		if i >= len(p) || p[i] != ':' {
			return nil, false
		}
		i = skipSpace(p, i+1)
		end, ok := skipValue(p, i)
		if !ok {
			return nil, false
		}
		if _, dup := f[key]; dup {
			return nil, false // encoding/json's rule for duplicates: the last wins
		}
		f[key] = json.RawMessage(p[i:end:end])
		i = skipSpace(p, end)
		if i >= len(p) {
			return nil, false
		}
		if p[i] == '}' {
			return f, skipSpace(p, i+1) == len(p)
		}
		if p[i] != ',' {
			return nil, false
		}
		i = skipSpace(p, i+1)
	}
}

func skipSpace(p []byte, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value starting at i, in text that
// json.Valid accepted.
func skipValue(p []byte, i int) (int, bool) {
	if i >= len(p) {
		return 0, false
	}
	switch p[i] {
	case '"':
		return skipString(p, i)
	case '{', '[':
		depth := 0
		for i < len(p) {
			switch p[i] {
			case '"':
				end, ok := skipString(p, i)
				if !ok {
					return 0, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return 0, false
	}
	start := i
	for i < len(p) {
		switch p[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i, i > start
		case '"', '{', '[', ':':
			return 0, false
		}
		i++
	}
	return i, i > start
}

// skipString returns the index after the string that starts at i.
func skipString(p []byte, i int) (int, bool) {
	for i++; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return 0, false
}
