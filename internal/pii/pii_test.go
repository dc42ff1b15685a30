package pii

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"stationsync/internal/gen"
	"stationsync/internal/idcard"
)

// The spellings of issue 13 item 4, each of which the old \b patterns let
// through to the public portal.
func TestMaskTextIssueSpellings(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ID340123201303075288", "ID340123********5288"},
		{"+8613175094058", "+86131****4058"},
		{"３４０１２３２０１３０３０７５２８８", "３４０１２３********５２８８"},
		{"340123 20130307 5288", "340123 ******** 5288"},
		{"131-7509-4058", "131-****-4058"},
		{"13175094058a", "131****4058a"},
		// and a few more of the same family
		{"身份证号：11010519491231002x。", "身份证号：110105********002x。"},
		{"电话：+86 131 7509 4058，身份证３４０１２３２０１３０３０７５２８８", "电话：+86 131 **** 4058，身份证３４０１２３********５２８８"},
		{"0086-131-7509-4058", "0086-131-****-4058"},
		{"13175094058/13905510456", "131****4058/139****0456"},
		{"1.13175094058 2.13905510456", "1.131****4058 2.139****0456"},
		{"幺三幺七五零九四零五八", "幺三幺****四零五八"},
		{"131\u200b7509\u200b4058", "131\u200b****\u200b4058"},
		{"tel13175094058ok", "tel131****4058ok"},
		{"340123\u300020130307\u30005288", "340123\u3000********\u30005288"},
		{"34012320130307528Ｘ", "340123********528Ｘ"},
	}
	for _, tt := range tests {
		if got := MaskText(tt.in); got != tt.want {
			t.Errorf("MaskText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// What the rules decide beyond the obvious, written down so that a change
// is a decision and not an accident.
func TestMaskTextDecisions(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"check digit wrong, province and birth date real: a mistyped number is still personal",
			"340123201303075289", "340123********5289"},
		{"one digit left out", "34012320130307528", "340123********528"},
		{"first-generation 15-digit number", "身份证110105491231002", "身份证110105******002"},
		{"17 digits and X, check character wrong", "11010519491231003X", "110105********003X"},
		{"glued to other digits, no separators", "1317509405812", "131******5812"},
		{"country code glued on", "8613175094058", "86131****4058"},
		{"landline: the committee's number is meant to be read", "村委会电话0551-65123456", "村委会电话0551-65123456"},
		{"18 digits, no province, wrong check: not an ID number", "999999201303075287", "999999201303075287"},
		{"digits glued in front of a spaced number are another number", "5131 7509 4058", "5131 7509 4058"},
		{"an already masked number stays as it is", "340123********5288 131****4058", "340123********5288 131****4058"},
		{"a comma ends a run: amounts", "13,175,094,058.00元", "13,175,094,058.00元"},
	}
	for _, tt := range tests {
		if got := MaskText(tt.in); got != tt.want {
			t.Errorf("%s: MaskText(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

// Ordinary figures must survive: a financial notice with its amounts masked
// would be useless.
func TestMaskTextKeepsOrdinaryFigures(t *testing.T) {
	for _, s := range []string{
		"2026-12-03", "2026年12月3日", "12月3日", "1500元", "共计1,500,000.00元", "13.5元/斤",
		"2026-11-01至2026-11-08", "2026-11-01~2026-11-08", "2026/11/01 13:00", "20261203",
		"第1组 第3组 第13组", "1500 1300 1800 2000 2200", "收入 1500 元，支出 1300 元，结余 200 元。",
		"一、二、三", "一九四九年十月一日", "十三亿", "300 元/月 × 12 个月", "No. 2026-0012-0031",
		"村委会电话 0551-65123456", "邮编 231200", "编号 340123101201", "面积 135 平方米，1317 元",
		"1-3月 支出 13,175 元", "2026-12-03 13:00 至 2026-12-03 17:00",
	} {
		if got := MaskText(s); got != s {
			t.Errorf("MaskText(%q) = %q, want it unchanged", s, got)
		}
	}
}

// Realistic notices, visit notes and registers of the test-data generator
// contain amounts, dates, counts and masked IDs but no full personal
// number: masking must leave every one of them as it is.
func TestMaskTextLeavesGeneratedTextAlone(t *testing.T) {
	for seed := range int64(200) {
		g := gen.New(seed)
		var texts []string
		for _, c := range []string{"党务公开", "村务公开", "财务公开", "救助对象公示"} {
			d := g.Disclosure(c)
			texts = append(texts, d["title"].(string), d["body"].(string))
		}
		p := g.Person("340123101201")
		texts = append(texts, p["address"].(string), p["health"].(string))
		v := g.Visit("p1", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
		for _, k := range []string{"situation", "measures"} {
			if s, ok := v[k].(string); ok {
				texts = append(texts, s)
			}
		}
		for _, s := range texts {
			if got := MaskText(s); got != s {
				t.Fatalf("seed %d: MaskText changed ordinary text\n in: %s\nout: %s", seed, s, got)
			}
		}
		// The register's own numbers, written into a note, are found.
		note := fmt.Sprintf("%s，身份证%s，电话%s。", p["name"], p["id_number"], p["phone"])
		got := MaskText(note)
		if strings.Contains(got, p["id_number"].(string)) || strings.Contains(got, p["phone"].(string)) {
			t.Fatalf("seed %d: %q masked to %q", seed, note, got)
		}
	}
}

// TestFindNumbers checks the spans: offsets into the original text, the
// number in ASCII and its masked form, as the publication check shows it.
func TestFindNumbers(t *testing.T) {
	s := "王秀英，身份证 ３４０１２３ 20130307 528x，电话+86 139-0551-0456。"
	got := FindNumbers(s)
	if len(got) != 2 {
		t.Fatalf("FindNumbers = %+v, want 2 spans", got)
	}
	id, mob := got[0], got[1]
	if id.Kind != IDNumber || id.Number != "34012320130307528X" || id.Masked != "340123********528X" ||
		s[id.Start:id.End] != "３４０１２３ 20130307 528x" {
		t.Errorf("ID span = %+v (%q)", id, s[id.Start:id.End])
	}
	if mob.Kind != Mobile || mob.Number != "13905510456" || mob.Masked != "139****0456" || s[mob.Start:mob.End] != "139-0551-0456" {
		t.Errorf("mobile span = %+v (%q)", mob, s[mob.Start:mob.End])
	}
	if IDNumber.Label() != "身份证号码" || Mobile.Label() != "手机号码" {
		t.Error("labels")
	}
	if got := Normalize("３４〇 1-2x元"); got != "34012X元" {
		t.Errorf("Normalize = %q", got)
	}
	if FindNumbers("2026-12-03 1500元") != nil {
		t.Error("numbers found in ordinary figures")
	}
}

// ---- the property test: every valid number, in any spelling ----

// provinces are the first two digits of real area codes.
var provinces = []int{11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65}

var mobilePrefixes = []string{"130", "131", "133", "135", "139", "145", "150", "158", "166", "170", "177", "180", "189", "191", "199"}

// separators people and paste put between digits.
var separators = []string{" ", "-", " - ", "\u3000", "\u00a0", "－", "‐", "–", ".", "·", "/", "\u200b", "\t", "  ", "\u2009", "\ufeff", "\u00ad", "_", "．"}

// contexts are what a number is written next to. The glued-digit forms are
// only used for numbers without separators (see spell).
var (
	idBefore     = []string{"", "ID", "ID:", "身份证号：", "身份证", "身份证号码是", "证件号", "No.", "(", "（", "编号12 ", "见附件", "abc", " "}
	mobileBefore = []string{"", "+86", "+86 ", "0086", "0086-", "86-", "86", "(+86)", "电话", "手机：", "Tel:", "tel", "联系人张三", "（", " "}
	after        = []string{"", "a", "号", "。", "，谢谢", " 2026-12-03", "）", "abc", "元", "\n", "、", "Tel"}
)

// spell writes number (ASCII, X possible at the end) the way a cadre or an
// attacker might.
func spell(r *rand.Rand, number string, ctxBefore []string) string {
	var b strings.Builder
	before := ctxBefore[r.IntN(len(ctxBefore))]
	style := r.IntN(6) // 0 ASCII, 1 full-width, 2 mixed, 3 other scripts mixed in, 4 Chinese numerals mixed in, 5 Chinese numerals
	if style >= 4 && strings.HasSuffix(before, "三") {
		// A switch between numerals and digits separates like a space
		// does, so the 三 of 张三 glued to 一三一… would be read as the
		// start of the number. Nobody writes a number that way.
		before += "："
	}
	b.WriteString(before)
	seps := r.IntN(4) // how many separators
	sepAt := map[int]string{}
	for range seps {
		sepAt[1+r.IntN(len(number)-1)] = separators[r.IntN(len(separators))]
	}
	for i, c := range number {
		if s, ok := sepAt[i]; ok {
			b.WriteString(s)
		}
		b.WriteString(spellDigit(r, c, style))
	}
	tail := after[r.IntN(len(after))]
	if len(sepAt) == 0 && style < 4 && r.IntN(6) == 0 {
		tail = fmt.Sprint(r.IntN(100)) + tail // glued digits after
	}
	b.WriteString(tail)
	return b.String()
}

func spellDigit(r *rand.Rand, c rune, style int) string {
	if c == 'X' {
		return []string{"X", "x", "Ｘ", "ｘ"}[r.IntN(4)]
	}
	d := int(c - '0')
	switch style {
	case 1:
		return string(rune('０' + d))
	case 2:
		if r.IntN(2) == 0 {
			return string(rune('０' + d))
		}
	case 3:
		switch r.IntN(4) {
		case 0:
			return string(rune('٠' + d)) // Arabic-Indic
		case 1:
			return string(rune('𝟎' + d)) // mathematical bold
		case 2:
			return string(rune('०' + d)) // Devanagari
		}
	case 4:
		if r.IntN(2) == 0 {
			return string([]rune("〇一二三四五六七八九")[d])
		}
	case 5:
		return string([]rune("零幺二三四五六七八九")[d])
	}
	return string(c)
}

func randomID(r *rand.Rand) string {
	area := fmt.Sprintf("%02d%04d", provinces[r.IntN(len(provinces))], r.IntN(10000))
	birth := time.Date(1900+r.IntN(126), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
	return idcard.Generate(area, birth, r.IntN(1000))
}

func randomMobile(r *rand.Rand) string {
	return mobilePrefixes[r.IntN(len(mobilePrefixes))] + fmt.Sprintf("%08d", r.IntN(100_000_000))
}

// TestNoNumberSurvivesAnySpelling generates valid ID and mobile numbers,
// writes them in many spellings, alone, repeated and inside Chinese text
// with ordinary figures, and checks that none of the numbers can be read
// from the masked text, that the figures around them are untouched, and
// that only digits were changed.
func TestNoNumberSurvivesAnySpelling(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 4))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	xs := 0
	for k := range n {
		var nums []string
		var parts []string
		for range 1 + r.IntN(3) {
			if r.IntN(2) == 0 {
				id := randomID(r)
				if id[17] == 'X' {
					xs++
				}
				nums = append(nums, id)
				parts = append(parts, spell(r, id, idBefore))
			} else {
				m := randomMobile(r)
				nums = append(nums, m)
				parts = append(parts, spell(r, m, mobileBefore))
			}
			if r.IntN(3) == 0 {
				parts = append(parts, parts[len(parts)-1]) // repeated
			}
		}
		filler := []string{"经村民代表会议评议，拟将王秀英纳入低保，每月1500元，", "公示期为2026-11-01至2026-11-08。", "联系人：", "，", " ", "。如有异议请于12月3日前反映。"}
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(filler[r.IntN(len(filler))])
			b.WriteString(p)
		}
		b.WriteString(filler[r.IntN(len(filler))])
		in := b.String()
		out := MaskText(in)
		norm := Normalize(out)
		for _, num := range nums {
			if strings.Contains(norm, num) {
				t.Fatalf("case %d: %s survives\n in: %q\nout: %q", k, num, in, out)
			}
		}
		for _, fig := range []string{"1500元", "2026-11-01至2026-11-08", "12月3日"} {
			if strings.Contains(in, fig) && !strings.Contains(out, fig) {
				t.Fatalf("case %d: ordinary figure %s was masked\n in: %q\nout: %q", k, fig, in, out)
			}
		}
		checkOnlyDigitsHidden(t, in, out)
	}
	if xs == 0 {
		t.Error("no generated ID number ended in X")
	}
}

// checkOnlyDigitsHidden: out is in with some digits (or a check
// character X) replaced by one '*' each, and holds nothing FindNumbers would
// find.
func checkOnlyDigitsHidden(t *testing.T, in, out string) {
	t.Helper()
	if utf8.ValidString(in) && utf8.RuneCountInString(in) != utf8.RuneCountInString(out) {
		t.Fatalf("rune count changed: %q -> %q", in, out)
	}
	i, o := 0, 0
	for i < len(in) && o < len(out) {
		ci, si := utf8.DecodeRuneInString(in[i:])
		co, so := utf8.DecodeRuneInString(out[o:])
		switch {
		case ci == co && in[i:i+si] == out[o:o+so]:
		case co == '*' && so == 1 && (digitValue(ci) >= 0 || isX(ci)):
		default:
			t.Fatalf("MaskText changed %q into %q (in %q -> %q)", in[i:i+si], out[o:o+so], in, out)
		}
		i, o = i+si, o+so
	}
	if i != len(in) || o != len(out) {
		t.Fatalf("lengths differ: %q -> %q", in, out)
	}
	if spans := FindNumbers(out); spans != nil {
		t.Fatalf("masked text still holds %+v: %q", spans, out)
	}
}

// FuzzMaskText: for any text, masking changes only digits (each into one
// '*'), leaves nothing FindNumbers would find, and hides every number
// FindNumbers finds in the input.
func FuzzMaskText(f *testing.F) {
	for _, s := range []string{
		"ID340123201303075288", "+8613175094058", "３４０１２３２０１３０３０７５２８８", "340123 20130307 5288",
		"131-7509-4058", "13175094058a", "2026-12-03", "1500元", "12月3日", "13905 340123201303075288",
		"1317509405812", "幺三幺七五零九四零五八", "\xff13175094058\xfe", "11010519491231002x", "110105491231002",
		"1 3 1 7 5 0 9 4 0 5 8", "8613175094058", "34012320130307528X4", "𝟏𝟑𝟏𝟕𝟓𝟎𝟗𝟒𝟎𝟓𝟖",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := MaskText(s)
		checkOnlyDigitsHidden(t, s, out)
		norm := Normalize(out)
		for _, sp := range FindNumbers(s) {
			if strings.Contains(norm, sp.Number) {
				t.Fatalf("%s %s survives: %q -> %q", sp.Kind.Label(), sp.Number, s, out)
			}
			if sp.Start < 0 || sp.End > len(s) || sp.Start >= sp.End {
				t.Fatalf("bad span %+v of %q", sp, s)
			}
		}
	})
}

func BenchmarkMaskText(b *testing.B) {
	g := gen.New(1)
	d := g.Disclosure("财务公开")
	plain := d["body"].(string)
	withNumbers := plain + "联系人电话13905510456，身份证340123195003070022。"
	raw, _ := json.Marshal(g.Person("340123101201"))
	for _, c := range []struct{ name, s string }{{"plain notice", plain}, {"notice with numbers", withNumbers}, {"person JSON", string(raw)}, {"address", "安徽省合肥市长丰县岗集镇大村村5组12号"}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				MaskText(c.s)
			}
		})
	}
}
