package jsonout

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

var snake = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// StyleProblems lists where printed JSON departs from this package's
// style: a key not in snake_case, a time that is not RFC 3339 with an
// offset (or null), an HLC printed as a number. Record content (the
// values under "fields", "winner" and "loser") is the user's, not the
// style's, and is not looked into. The tests of both command lines run
// their output through it.
func StyleProblems(b []byte) []string {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	var out []string
	walkStyle(v, "$", "", &out)
	return out
}

func walkStyle(v any, path, key string, out *[]string) {
	bad := func(format string, a ...any) { *out = append(*out, path+": "+fmt.Sprintf(format, a...)) }
	switch {
	case key == "at" || strings.HasSuffix(key, "_at") || key == "last_successful_sync" || key == "last_attempt":
		if v == nil {
			return
		}
		s, ok := v.(string)
		if !ok {
			bad("time %v is not a string", v)
			return
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil || !strings.Contains(s, "T") {
			bad("time %q is not RFC 3339", s)
		}
		return
	case key == "hlc" || strings.HasSuffix(key, "_hlc"):
		if v != nil || key == "hlc" {
			checkHLC(v, path, out)
		}
		return
	}
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !snake.MatchString(k) {
				bad("key %q is not snake_case", k)
			}
			switch k {
			case "fields", "winner", "loser":
				continue
			case "versions":
				m, ok := x[k].(map[string]any)
				if !ok {
					bad("versions %v is not an object", x[k])
					continue
				}
				for f, h := range m {
					checkHLC(h, path+".versions."+f, out)
				}
				continue
			}
			walkStyle(x[k], path+"."+k, k, out)
		}
	case []any:
		for i, e := range x {
			walkStyle(e, fmt.Sprintf("%s[%d]", path, i), "", out)
		}
	}
}

func checkHLC(v any, path string, out *[]string) {
	m, ok := v.(map[string]any)
	if _, logical := m["logical"]; !ok || !logical || len(m) != 2 {
		*out = append(*out, fmt.Sprintf("%s: HLC %v is not {at, logical}", path, v))
		return
	}
	walkStyle(m["at"], path+".at", "at", out)
}
