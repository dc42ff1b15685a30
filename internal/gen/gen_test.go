package gen

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"stationsync/internal/idcard"
)

const (
	testPersonID = "0192f4a8-7c1e-7b3a-9d2e-5f6a7b8c9d0e" // 36 characters, like the store's ids
	testVillage  = "340121101201"
)

var categorySet = []string{"农村留守儿童", "困境儿童", "农村留守妇女", "农村留守老年人", "空巢老人", "高龄老人", "特困人员", "低保对象", "残疾人"}

// sample draws a mix of every record kind, so that a change in any
// generator shows up in the determinism test.
func sample(seed int64) []map[string]any {
	g := New(seed)
	var out []map[string]any
	for i := range 20 {
		p := g.Person(testVillage)
		out = append(out, p,
			g.Visit(testPersonID, g.Date(ymd(2025, 1, 1), ymd(2026, 6, 30))),
			g.Application(testPersonID, p),
			g.Disclosure(""),
			map[string]any{"name": g.Name(), "date": g.Date(ymd(2000, 1, 1), ymd(2030, 1, 1)).Format(time.DateOnly), "i": int64(i)})
	}
	return out
}

func encode(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	return string(b)
}

func TestDeterminism(t *testing.T) {
	tests := []struct {
		name     string
		a, b     int64
		wantSame bool
	}{
		{name: "same seed", a: 42, b: 42, wantSame: true},
		{name: "zero seed", a: 0, b: 0, wantSame: true},
		{name: "negative seed", a: -7, b: -7, wantSame: true},
		{name: "different seeds", a: 42, b: 43, wantSame: false},
		{name: "sign matters", a: 1, b: -1, wantSame: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := sample(tt.a), sample(tt.b)
			if same := encode(t, a) == encode(t, b); same != tt.wantSame {
				t.Fatalf("seeds %d and %d: same output = %v, want %v", tt.a, tt.b, same, tt.wantSame)
			}
			if !tt.wantSame {
				// Different seeds must differ record by record, not just
				// somewhere, or tests seeded per station would share data.
				differ := 0
				for i := range a {
					if encode(t, a[i]) != encode(t, b[i]) {
						differ++
					}
				}
				if differ < len(a)*9/10 {
					t.Errorf("only %d of %d records differ", differ, len(a))
				}
			}
		})
	}
}

// checkJSONValue fails unless v is made only of the types the brief allows,
// which is what lets records be compared after a JSON round trip.
func checkJSONValue(t *testing.T, path string, v any) {
	t.Helper()
	switch v := v.(type) {
	case string, int64, float64, bool:
	case []string:
	case []any:
		for i, x := range v {
			checkJSONValue(t, fmt.Sprintf("%s[%d]", path, i), x)
		}
	case map[string]any:
		for k, x := range v {
			checkJSONValue(t, path+"."+k, x)
		}
	default:
		t.Errorf("%s has type %T, not a JSON-compatible type", path, v)
	}
}

func checkKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s keys = %v, want %v", what, got, want)
	}
}

func isHanName(s string) bool {
	n := 0
	for _, r := range s {
		if !unicode.Is(unicode.Han, r) {
			return false
		}
		n++
	}
	return n >= 2 && n <= 3
}

var mobileRe = regexp.MustCompile(`^1[3589]\d{9}$`)

func checkPhone(t *testing.T, what string, v any) {
	t.Helper()
	if s, _ := v.(string); !mobileRe.MatchString(s) {
		t.Errorf("%s phone = %v, want an 11-digit mobile number starting 13/15/18/19", what, v)
	}
}

func TestPerson(t *testing.T) {
	g := New(1)
	villages := Villages("340121", 3)
	prefixes := map[string]string{}
	count := map[string]int{}
	for i := range 3000 {
		v := villages[i%len(villages)]
		p := g.Person(v)
		what := fmt.Sprintf("person %d", i)
		checkJSONValue(t, what, p)

		id := p["id_number"].(string)
		if err := idcard.Validate(id); err != nil || id != idcard.Normalize(id) || id[:6] != v[:6] {
			t.Fatalf("%s id_number %q: %v (area must be %s)", what, id, err, v[:6])
		}
		birth, _ := idcard.BirthDate(id)
		sex, _ := idcard.Sex(id)
		by := birth.Year()

		cats := p["categories"].([]string)
		if len(cats) < 1 || len(cats) > 2 || (len(cats) == 2 && cats[0] == cats[1]) {
			t.Fatalf("%s categories %v: want 1–2 distinct", what, cats)
		}
		for _, c := range cats {
			if !slices.Contains(categorySet, c) {
				t.Fatalf("%s category %q not allowed", what, c)
			}
			count[c]++
		}
		if i := slices.Index(categorySet, cats[0]); len(cats) == 2 && slices.Index(categorySet, cats[1]) < i {
			t.Errorf("%s categories %v not in canonical order", what, cats)
		}

		isChild := slices.Contains(cats, "农村留守儿童") || slices.Contains(cats, "困境儿童")
		switch {
		case isChild:
			if by < 2010 || by > 2020 {
				t.Errorf("%s child born %d", what, by)
			}
			checkKeys(t, what, p, "name", "id_number", "categories", "phone", "address", "guardian", "family_away", "health", "status")
			gd := p["guardian"].(map[string]any)
			checkKeys(t, what+" guardian", gd, "name", "relation", "phone")
			if !isHanName(gd["name"].(string)) || !slices.Contains([]string{"祖父", "祖母", "外祖父", "外祖母", "叔叔", "姑姑", "伯父", "舅舅"}, gd["relation"].(string)) {
				t.Errorf("%s guardian %v", what, gd)
			}
			checkPhone(t, what+" guardian", gd["phone"])
			if gd["phone"] != p["phone"] {
				t.Errorf("%s phone %v is not the guardian's %v", what, p["phone"], gd["phone"])
			}
			if r := gd["relation"].(string); (r == "祖父" || r == "叔叔" || r == "姑姑" || r == "伯父") && firstRune(gd["name"].(string)) != firstRune(p["name"].(string)) {
				t.Errorf("%s paternal guardian %v has another surname than %v", what, gd, p["name"])
			}
		case slices.Contains(cats, "农村留守妇女"):
			if by < 1970 || by > 1995 || sex != "女" {
				t.Errorf("%s left-behind woman born %d, sex %s", what, by, sex)
			}
		default:
			if by < 1935 || by > 1960 {
				t.Errorf("%s elder %v born %d", what, cats, by)
			}
		}
		if !isChild {
			if _, ok := p["guardian"]; ok {
				t.Errorf("%s is not a child but has a guardian", what)
			}
			checkPhone(t, what, p["phone"])
		}
		if slices.Contains(cats, "高龄老人") && by > veryOldBornBy {
			t.Errorf("%s is 高龄老人 but born %d", what, by)
		}

		if !isHanName(p["name"].(string)) || p["status"] != "在册" || p["health"] == "" {
			t.Errorf("%s name/status/health: %v %v %v", what, p["name"], p["status"], p["health"])
		}
		away := p["family_away"].([]any)
		if slices.Contains(cats, "特困人员") && len(away) != 0 {
			t.Errorf("%s is 特困人员 but has family working away", what)
		}
		for j, a := range away {
			m := a.(map[string]any)
			checkKeys(t, what+" family_away", m, "name", "relation", "location", "phone")
			if !isHanName(m["name"].(string)) || m["relation"] == "" || !strings.HasSuffix(m["location"].(string), "市") {
				t.Errorf("%s family_away[%d] = %v", what, j, m)
			}
			checkPhone(t, what+" family_away", m["phone"])
		}

		addr := p["address"].(string)
		if !strings.HasPrefix(addr, "安徽省合肥市长丰县") || !strings.HasSuffix(addr, "号") {
			t.Errorf("%s address %q", what, addr)
		}
		prefix := addr[:strings.Index(addr, "村")+len("村")]
		if old, ok := prefixes[v]; ok && old != prefix {
			t.Errorf("village %s has two names: %q and %q", v, old, prefix)
		}
		prefixes[v] = prefix
	}
	for _, c := range categorySet {
		if count[c] == 0 {
			t.Errorf("category %s never generated", c)
		}
	}
	if len(prefixes) != 3 || prefixes[villages[0]] == prefixes[villages[1]] {
		t.Errorf("villages do not get distinct names: %v", prefixes)
	}
}

func TestPersonPanicsOnBadVillage(t *testing.T) {
	for _, v := range []string{"", "340121", "34012110120x", "3401211012010"} {
		t.Run(v, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Person(%q) did not panic", v)
				}
			}()
			New(1).Person(v)
		})
	}
}

func TestVisit(t *testing.T) {
	g := New(2)
	const n = 10000
	risks := map[string]int{}
	methods := map[string]int{}
	situations := map[string]bool{}
	minSit, maxSit := 1000, 0
	for i := range n {
		date := g.Date(ymd(2025, 1, 1), ymd(2026, 12, 31))
		v := g.Visit(testPersonID, date.Add(15*time.Hour))
		what := fmt.Sprintf("visit %d", i)
		checkJSONValue(t, what, v)
		checkKeys(t, what, v, "person_id", "visited_on", "visitors", "method", "situation", "needs", "risk", "measures", "next_due")
		if v["person_id"] != testPersonID {
			t.Fatalf("%s person_id = %v", what, v["person_id"])
		}
		if v["visited_on"] != date.Format(time.DateOnly) {
			t.Fatalf("%s visited_on = %v, want %s", what, v["visited_on"], date.Format(time.DateOnly))
		}
		due, err := time.Parse(time.DateOnly, v["next_due"].(string))
		if d := due.Sub(date) / (24 * time.Hour); err != nil || d != 30 && d != 90 {
			t.Fatalf("%s next_due %v is %d days after %v", what, v["next_due"], d, v["visited_on"])
		}
		visitors := v["visitors"].([]string)
		if len(visitors) < 1 || len(visitors) > 2 || len(visitors) == 2 && visitors[0] == visitors[1] {
			t.Fatalf("%s visitors = %v", what, visitors)
		}
		for _, name := range visitors {
			if !isHanName(name) {
				t.Fatalf("%s visitor %q", what, name)
			}
		}
		method, risk := v["method"].(string), v["risk"].(string)
		if !slices.Contains(visitMethods, method) || !slices.Contains(riskLevels, risk) {
			t.Fatalf("%s method %q risk %q", what, method, risk)
		}
		methods[method]++
		risks[risk]++
		needs := v["needs"].([]string)
		if needs == nil {
			t.Fatalf("%s needs is nil; it must encode as [] not null", what)
		}
		last := -1
		for _, nd := range needs {
			j := slices.Index(visitNeeds, nd)
			if j <= last {
				t.Fatalf("%s needs %v: unknown, repeated or out of order", what, needs)
			}
			last = j
		}
		if risk != "正常" && len(needs) == 0 {
			t.Errorf("%s has risk %s but no needs", what, risk)
		}
		if risk != "正常" && due.Sub(date) != 30*24*time.Hour {
			t.Errorf("%s has risk %s but the next visit is in 90 days", what, risk)
		}
		if m := runes(v["measures"].(string)); m < 20 || m > 60 {
			t.Errorf("%s measures has %d characters: %q", what, m, v["measures"])
		}
		s := v["situation"].(string)
		minSit, maxSit = min(minSit, runes(s)), max(maxSit, runes(s))
		situations[s] = true
	}
	t.Logf("situation length %d–%d characters, %d distinct of %d", minSit, maxSit, len(situations), n)
	if len(situations) < n*9/10 {
		t.Errorf("only %d distinct situations in %d visits", len(situations), n)
	}
	for _, c := range []struct {
		risk     string
		lo, hi   int // per mille
		describe string
	}{
		{"正常", 820, 880, "~85%"}, {"关注", 100, 140, "~12%"}, {"紧急", 20, 45, "~3%"},
	} {
		if got := risks[c.risk] * 1000 / n; got < c.lo || got > c.hi {
			t.Errorf("risk %s: %d‰ of visits, want %s", c.risk, got, c.describe)
		}
	}
	if methods["入户走访"] < n/2 {
		t.Errorf("入户走访 is %d of %d visits, want most", methods["入户走访"], n)
	}
	for _, m := range visitMethods {
		if methods[m] == 0 {
			t.Errorf("method %s never generated", m)
		}
	}
}

// The protocol's bandwidth budget assumes a visit, with the envelope the
// store adds, is 500–650 bytes of JSON; see the package comment.
func TestVisitSize(t *testing.T) {
	g := New(3)
	const n = 1000
	total := 0
	for i := range n {
		v := g.Visit(testPersonID, g.Date(ymd(2025, 1, 1), ymd(2026, 12, 31)))
		rec := map[string]any{
			"id":         fmt.Sprintf("0192f4a8-7c1e-7b3a-9d2e-%012d", i),
			"village":    testVillage,
			"created_by": g.Name(),
			"created_at": time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC).UnixMilli() + int64(i)*60_000,
		}
		for k, x := range v {
			rec[k] = x
		}
		total += len(encode(t, rec))
	}
	mean := total / n
	t.Logf("mean encoded visit: %d bytes", mean)
	if mean < 500 || mean > 650 {
		t.Errorf("mean encoded visit is %d bytes, want 500–650", mean)
	}
}

func TestSituationPool(t *testing.T) {
	n := len(concerns) + len(emergencies)
	for _, o := range openers {
		n += len(o)
	}
	for _, tp := range topics {
		n += len(tp)
	}
	if n < 40 {
		t.Errorf("situation pool has %d fragments, want at least 40", n)
	}
	for _, need := range visitNeeds {
		if len(measuresFor[need]) == 0 {
			t.Errorf("no measure for need %s", need)
		}
	}
}

func TestApplication(t *testing.T) {
	g := New(4)
	types := map[string]int{}
	for i := range 2000 {
		what := fmt.Sprintf("application %d", i)
		var applicant map[string]any
		if i%10 != 9 {
			applicant = g.Person(testVillage)
		}
		a := g.Application(testPersonID, applicant)
		checkJSONValue(t, what, a)
		checkKeys(t, what, a, "applicant_id", "type", "members", "household_income_fen", "reason", "amount_requested_fen")
		typ := a["type"].(string)
		if !slices.Contains(assistanceTypes, typ) || a["applicant_id"] != testPersonID {
			t.Fatalf("%s type %q applicant %v", what, typ, a["applicant_id"])
		}
		types[typ]++
		members := a["members"].([]any)
		var sum int64
		ids := map[string]bool{}
		for j, m := range members {
			m := m.(map[string]any)
			checkKeys(t, what+" member", m, "name", "relation", "id_number", "income_fen")
			id := m["id_number"].(string)
			if err := idcard.Validate(id); err != nil || ids[id] {
				t.Fatalf("%s member %d id %q: %v (or repeated)", what, j, id, err)
			}
			ids[id] = true
			inc := m["income_fen"].(int64)
			if inc < 0 || inc%100 != 0 {
				t.Errorf("%s member income %d fen", what, inc)
			}
			sum += inc
			if !isHanName(m["name"].(string)) {
				t.Errorf("%s member name %q", what, m["name"])
			}
			if (j == 0) != (m["relation"] == "本人") {
				t.Errorf("%s member %d relation %q: the applicant, and only the applicant, comes first as 本人", what, j, m["relation"])
			}
		}
		if applicant != nil {
			self := members[0].(map[string]any)
			if self["name"] != applicant["name"] || self["id_number"] != applicant["id_number"] {
				t.Errorf("%s first member %v is not the applicant %v", what, self, applicant["name"])
			}
		}
		if got := a["household_income_fen"].(int64); got != sum {
			t.Errorf("%s household_income_fen %d, members sum to %d", what, got, sum)
		}
		if amt := a["amount_requested_fen"].(int64); amt <= 0 || amt%100 != 0 {
			t.Errorf("%s amount_requested_fen %d", what, amt)
		}
		reason := a["reason"].(string)
		if n := runes(reason); n < 60 || n > 150 || !strings.Contains(reason, typ) {
			t.Errorf("%s reason has %d characters (want 60–150) or does not name %s: %q", what, n, typ, reason)
		}
		if typ == "特困人员救助供养" && len(members) != 1 {
			t.Errorf("%s: 特困 application with %d members", what, len(members))
		}
	}
	for _, typ := range assistanceTypes {
		if types[typ] == 0 {
			t.Errorf("type %s never generated", typ)
		}
	}
}

var (
	longDigitsRe = regexp.MustCompile(`\d{11,}`)
	idLikeRe     = regexp.MustCompile(`\d{17}[\dX]`)
)

func TestDisclosure(t *testing.T) {
	g := New(5)
	for _, category := range []string{"", "党务公开", "村务公开", "财务公开", "救助对象公示"} {
		t.Run("category "+category, func(t *testing.T) {
			seen := map[string]bool{}
			for i := range 500 {
				d := g.Disclosure(category)
				what := fmt.Sprintf("disclosure %d", i)
				checkJSONValue(t, what, d)
				checkKeys(t, what, d, "category", "title", "body", "publish_from", "publish_until", "reviewer")
				c := d["category"].(string)
				if !slices.Contains(disclosureCategories, c) || category != "" && c != category {
					t.Fatalf("%s category %q, asked for %q", what, c, category)
				}
				seen[c] = true
				body, title := d["body"].(string), d["title"].(string)
				if n := runes(body); n < 100 || n > 400 {
					t.Errorf("%s body has %d characters, want 100–400: %q", what, n, body)
				}
				if title == "" || runes(title) > 60 {
					t.Errorf("%s title %q", what, title)
				}
				if longDigitsRe.MatchString(body+title) || idLikeRe.MatchString(body+title) {
					t.Errorf("%s shows a full ID or phone number: %q", what, body)
				}
				from, err1 := time.Parse(time.DateOnly, d["publish_from"].(string))
				until, err2 := time.Parse(time.DateOnly, d["publish_until"].(string))
				days := int(until.Sub(from) / (24 * time.Hour))
				if err1 != nil || err2 != nil || days < 7 || days > 30 {
					t.Errorf("%s publishes %v–%v (%d days)", what, d["publish_from"], d["publish_until"], days)
				}
				if c == "救助对象公示" && (days != 7 || !strings.Contains(body, "********")) {
					t.Errorf("%s: a 公示 lasts 7 days and lists masked ID numbers: %q", what, body)
				}
				if !isHanName(d["reviewer"].(string)) {
					t.Errorf("%s reviewer %q", what, d["reviewer"])
				}
			}
			if category == "" && len(seen) != len(disclosureCategories) {
				t.Errorf("random category covered only %v", seen)
			}
		})
	}
}

func TestDisclosurePanicsOnUnknownCategory(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Disclosure(\"通知\") did not panic")
		}
	}()
	New(1).Disclosure("通知")
}

func TestDate(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	tests := []struct {
		name     string
		from, to time.Time
		lo, hi   string
	}{
		{name: "range", from: ymd(2026, 1, 1), to: ymd(2026, 1, 10), lo: "2026-01-01", hi: "2026-01-10"},
		{name: "reversed", from: ymd(2026, 1, 10), to: ymd(2026, 1, 1), lo: "2026-01-01", hi: "2026-01-10"},
		{name: "one day", from: ymd(2026, 2, 28), to: ymd(2026, 2, 28), lo: "2026-02-28", hi: "2026-02-28"},
		{name: "times of day ignored", from: time.Date(2026, 3, 1, 23, 59, 0, 0, cst), to: time.Date(2026, 3, 2, 0, 1, 0, 0, cst), lo: "2026-03-01", hi: "2026-03-02"},
		{name: "across a leap day", from: ymd(2024, 2, 28), to: ymd(2024, 3, 1), lo: "2024-02-28", hi: "2024-03-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := New(6)
			seen := map[string]bool{}
			for range 500 {
				d := g.Date(tt.from, tt.to)
				s := d.Format(time.DateOnly)
				if s < tt.lo || s > tt.hi || d.Location() != time.UTC || d.Hour() != 0 || d.Minute() != 0 {
					t.Fatalf("Date = %v, want a UTC midnight in %s…%s", d, tt.lo, tt.hi)
				}
				seen[s] = true
			}
			if !seen[tt.lo] || !seen[tt.hi] {
				t.Errorf("endpoints not both reached: %v", seen)
			}
		})
	}
}

func TestName(t *testing.T) {
	g := New(7)
	names := map[string]bool{}
	for range 1000 {
		n := g.Name()
		if !isHanName(n) {
			t.Fatalf("Name() = %q", n)
		}
		names[n] = true
	}
	if len(names) < 500 {
		t.Errorf("only %d distinct names in 1000", len(names))
	}
}

func TestVillages(t *testing.T) {
	tests := []struct {
		name   string
		county string
		n      int
		want   []string // a prefix of the result
	}{
		{name: "none", county: "340121", n: 0, want: []string{}},
		{name: "negative", county: "340121", n: -1, want: []string{}},
		{name: "first ones", county: "340121", n: 3, want: []string{"340121101201", "340121101202", "340121101203"}},
		{name: "next township after twelve", county: "340123", n: 14, want: []string{
			"340123101201", "340123101202", "340123101203", "340123101204", "340123101205", "340123101206",
			"340123101207", "340123101208", "340123101209", "340123101210", "340123101211", "340123101212",
			"340123102201", "340123102202"}},
		{name: "many", county: "340124", n: 20000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Villages(tt.county, tt.n)
			if len(got) != max(tt.n, 0) {
				t.Fatalf("got %d villages, want %d", len(got), tt.n)
			}
			if tt.want != nil && !slices.Equal(got[:len(tt.want)], tt.want) {
				t.Errorf("Villages(%q, %d) = %v, want %v", tt.county, tt.n, got, tt.want)
			}
			seen := map[string]bool{}
			for _, v := range got {
				if len(v) != 12 || !allDigits(v) || v[:6] != tt.county || v[6:9] < "101" || v[9:] < "201" || seen[v] {
					t.Fatalf("bad or repeated village code %q", v)
				}
				seen[v] = true
			}
		})
	}
}

func TestVillagesPanics(t *testing.T) {
	for _, county := range []string{"", "34012", "3401211", "34012a"} {
		t.Run(county, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Villages(%q, 1) did not panic", county)
				}
			}()
			Villages(county, 1)
		})
	}
}

// Township and village names come from the code alone, and must be
// distinct within a county and a township, or two villages would share an
// address in a demo.
func TestPlaceNamesDistinct(t *testing.T) {
	for _, county := range []string{"340121", "320583", "110105"} {
		townships := map[string]string{}
		villages := map[string]string{}
		for _, code := range Villages(county, 40*villagesPerTownship) {
			prov, city, cty, town, vill := placePath(code)
			if prov == "" || cty == "" || town == "" || vill == "" || (city == "") != municipalities[county[:2]] {
				t.Fatalf("placePath(%s) = %q %q %q %q %q", code, prov, city, cty, town, vill)
			}
			if old, ok := townships[town]; ok && old != code[:9] {
				t.Errorf("townships %s and %s are both %s", old, code[:9], town)
			}
			townships[town] = code[:9]
			if old, ok := villages[code[:9]+vill]; ok && old != code {
				t.Errorf("villages %s and %s are both %s", old, code, vill)
			}
			villages[code[:9]+vill] = code
		}
	}
}

func ExampleVillages() {
	fmt.Println(Villages("340121", 2))
	// Output: [340121101201 340121101202]
}

func ExampleGenerator_Visit() {
	g := New(1)
	v := g.Visit("0192f4a8-7c1e-7b3a-9d2e-5f6a7b8c9d0e", time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	fmt.Println(v["visited_on"], v["method"], v["risk"], v["next_due"])
	// Output: 2026-05-01 集中活动 正常 2026-05-31
}
