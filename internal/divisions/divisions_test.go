package divisions

import (
	"io/fs"
	"strings"
	"sync"
	"testing"
)

// The codes the demo, tests and README use must have their real names.
func TestNamesOfTheCodesWeUse(t *testing.T) {
	for code, want := range map[string]string{
		"34":           "安徽省",
		"3401":         "合肥市",
		"340121":       "长丰县",
		"340123":       "肥西县",
		"340124":       "庐江县",
		"340181":       "巢湖市",
		"340121101":    "庄墓镇",
		"340123101":    "三河镇",
		"340123102":    "", // not in the 2023 table
		"340123201":    "铭传乡",
		"340123101202": "太华村",
		"340123105213": "上圩村",
		"340123100001": "青年社区",
	} {
		if got := Name(code); got != want {
			t.Errorf("Name(%s) = %q, want %q", code, got, want)
		}
	}
	if got := Official("340123101202"); got != "太华村民委员会" {
		t.Errorf("Official(340123101202) = %q, want the table's 太华村民委员会", got)
	}
}

// A made-up village in a real township keeps every real level above it;
// codes of provinces not embedded, and malformed ones, have no name.
func TestPathFallsBackLevelByLevel(t *testing.T) {
	p, c, co, tw, v := Path("340123101201")
	if p != "安徽省" || c != "合肥市" || co != "肥西县" || tw != "三河镇" || v != "" {
		t.Errorf("Path(340123101201) = %q %q %q %q %q, want 安徽省 合肥市 肥西县 三河镇 and no village", p, c, co, tw, v)
	}
	p, c, co, tw, v = Path("340123101202")
	if tw != "三河镇" || v != "太华村" {
		t.Errorf("Path(340123101202) = %q %q %q %q %q", p, c, co, tw, v)
	}
	for _, code := range []string{"", "3", "99", "990000000000", "110101001001", "34012310120", "3401231012021", "３４0123101202"} {
		if n := Name(code); n != "" {
			t.Errorf("Name(%q) = %q, want none", code, n)
		}
	}
	if _, _, _, tw, v := Path("3401"); tw != "" || v != "" {
		t.Errorf("Path of a 4-digit code has township %q village %q", tw, v)
	}
}

// Every village of the embedded table gets a short name and a committee
// signature that read right, and every code's parent is in the table.
func TestEveryEmbeddedName(t *testing.T) {
	for _, p := range Provinces() {
		names, err := tables[p].load(p)
		if err != nil {
			t.Fatal(err)
		}
		villages := 0
		for code, official := range names {
			switch len(code) {
			case 2, 4, 6, 9, 12:
			default:
				t.Errorf("code %q of %d digits", code, len(code))
			}
			if parent := parentOf(code); parent != "" && names[parent] == "" {
				t.Errorf("%s %s: parent %s not in the table", code, official, parent)
			}
			if len(code) != 12 {
				continue
			}
			villages++
			short, sig := Name(code), Committee(Name(code))
			// Only a name with more after its committee, or an odd one
			// ("…社区委员会"), keeps the word.
			if short == "" || strings.HasSuffix(short, "委员会") && !strings.HasSuffix(official, "社区委员会") {
				t.Errorf("%s: Name(%q) = %q", code, official, short)
			}
			if !strings.Contains(sig, "委员会") {
				t.Errorf("%s: Committee(%q) = %q, want a committee", code, short, sig)
			}
			// The table's full form survives the round trip.
			if (strings.HasSuffix(official, "村村民委员会") || strings.HasSuffix(official, "社区居民委员会")) && sig != official {
				t.Errorf("%s: Committee(Name) = %q, want the table's %q", code, sig, official)
			}
		}
		if p == "34" && villages < 18000 {
			t.Errorf("Anhui has %d villages embedded, want the whole table (18,334 in 2023)", villages)
		}
	}
}

func parentOf(code string) string {
	switch len(code) {
	case 4:
		return code[:2]
	case 6:
		return code[:4]
	case 9:
		return code[:6]
	case 12:
		return code[:9]
	}
	return ""
}

func TestShortAndCommittee(t *testing.T) {
	for _, c := range []struct{ in, short, sig string }{
		{"大杨村民委员会", "大杨村", "大杨村村民委员会"},
		{"南河村村民委员会", "南河村", "南河村村民委员会"},
		{"邓店村委会", "邓店村", "邓店村村民委员会"},
		{"李村村委会", "李村", "李村村民委员会"},
		{"八里村民委会", "八里村", "八里村村民委员会"},
		{"填海巷社区居委会", "填海巷社区", "填海巷社区居民委员会"},
		{"小庙街道社区居民委员会", "小庙街道社区", "小庙街道社区居民委员会"},
		{"琼临居民委员会", "琼临居委会", "琼临居民委员会"},
		{"团山居委会", "团山居委会", "团山居民委员会"},
		{"龚湾社区", "龚湾社区", "龚湾社区居民委员会"},
		{"柏景湾社区委员会", "柏景湾社区委员会", "柏景湾社区委员会"},
		{"张庄村", "张庄村", "张庄村村民委员会"},
		{"张庄", "张庄", "张庄村民委员会"},
		{" 张庄村 ", " 张庄村 ", "张庄村村民委员会"},
		{"村民委员会", "村民委员会", "村民委员会"},
		{"东周村村民委员会（天河）", "东周村（天河）", "东周村（天河）村民委员会"},
		{"天寿社区居委员会", "天寿社区", "天寿社区居民委员会"},
		{"东湖渔业村民委员会虚拟生活区", "东湖渔业村民委员会虚拟生活区", "东湖渔业村民委员会虚拟生活区"},
		{"", "", ""},
	} {
		if got := Short(c.in); got != c.short {
			t.Errorf("Short(%q) = %q, want %q", c.in, got, c.short)
		}
		if got := Committee(c.in); got != c.sig {
			t.Errorf("Committee(%q) = %q, want %q", c.in, got, c.sig)
		}
	}
}

// The first look-ups of a province, from many goroutines at once, read
// the file once and all see the same table (run with -race).
func TestFirstLoadsAtOnce(t *testing.T) {
	tables["34"] = &provinceTable{} // as if nothing had been read yet
	start := make(chan struct{})
	var wg sync.WaitGroup
	got := make([]string, 64)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got[i] = Name("340123101202") + Name("340123")
		}()
	}
	close(start)
	wg.Wait()
	for i, g := range got {
		if g != "太华村肥西县" {
			t.Fatalf("goroutine %d read %q", i, g)
		}
	}
}

// The embedded table stays small enough for every station's binary: the
// budget is 2 MB for all provinces embedded.
func TestEmbeddedSize(t *testing.T) {
	total := int64(0)
	err := fs.WalkDir(data, "data", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("embedded: %d bytes, provinces %v", total, Provinces())
	if total > 2<<20 {
		t.Errorf("embedded division data is %d bytes, budget 2 MB", total)
	}
	if len(Provinces()) == 0 {
		t.Fatal("no province embedded")
	}
}

// BenchmarkFirstLoad is what the first look-up of a province costs.
func BenchmarkFirstLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := read("34"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkName(b *testing.B) {
	Name("340123101202")
	for b.Loop() {
		Name("340123101202")
	}
}
