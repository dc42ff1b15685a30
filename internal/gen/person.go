package gen

import (
	"fmt"
	"time"

	"stationsync/internal/idcard"
)

// Person categories, verbatim from DOMAIN.md.
const (
	catLeftBehindChild = "农村留守儿童"
	catChildInNeed     = "困境儿童"
	catLeftBehindWoman = "农村留守妇女"
	catLeftBehindElder = "农村留守老年人"
	catEmptyNest       = "空巢老人"
	catVeryOld         = "高龄老人"
	catExtremePoor     = "特困人员"
	catDibao           = "低保对象"
	catDisabled        = "残疾人"
)

// categoryOrder is the order of DOMAIN.md; categories are listed in it so
// that equal sets compare equal.
var categoryOrder = []string{
	catLeftBehindChild, catChildInNeed, catLeftBehindWoman, catLeftBehindElder,
	catEmptyNest, catVeryOld, catExtremePoor, catDibao, catDisabled,
}

// veryOldBornBy: anyone born in or before this year is 80 or older from
// 2025 on, the threshold for 高龄老人. A fixed year rather than the clock
// keeps the output the same whenever it is generated.
const veryOldBornBy = 1945

var workPlaces = []string{
	"浙江省杭州市", "浙江省宁波市", "浙江省温州市", "江苏省苏州市", "江苏省南京市", "江苏省无锡市",
	"上海市", "广东省东莞市", "广东省深圳市", "广东省广州市", "北京市", "福建省厦门市", "安徽省合肥市",
}

var childHealth = []string{
	"身体健康", "身体健康", "身体健康，发育正常", "患有哮喘，换季时需注意", "视力下降，已配戴眼镜", "体质较弱，容易感冒",
}

var womanHealth = []string{
	"身体健康", "身体健康", "身体健康，在家务农", "患有腰椎间盘突出，不能干重活", "患有慢性胃炎，需注意饮食",
}

var elderHealth = []string{
	"身体健康", "身体基本健康，生活能自理", "患有高血压，需定期服药", "患有糖尿病，需长期服药",
	"患有慢性支气管炎，冬季易发作", "行动不便", "腿脚不便，需拄拐行走", "听力下降，交流需大声",
	"患有心脏病，需定期复查", "患有关节炎，阴雨天疼痛加重",
}

var disabledHealth = []string{
	"肢体残疾，行动不便", "视力残疾，生活需人照料", "听力残疾，佩戴助听器", "智力残疾，需专人照看",
}

var veryOldHealth = []string{"年老体弱，行动不便", "长期卧床，需专人照料", "患有高血压，需定期服药"}

// guardianKinds are the relations of a left-behind child's guardian, with
// how often each occurs: grandmothers far more than anyone else.
var guardianKinds = []struct {
	relation string
	male     bool
	side     int // 0: father's family, 1: mother's family, 2: married in
	weight   int
}{
	{"祖母", false, 2, 35}, {"祖父", true, 0, 25}, {"外祖母", false, 2, 15}, {"外祖父", true, 1, 10},
	{"叔叔", true, 0, 5}, {"姑姑", false, 0, 5}, {"伯父", true, 0, 3}, {"舅舅", true, 1, 2},
}

// Person returns a person on the register of village, a 12-digit village
// code whose first 6 digits become the area of the ID number and whose
// places make up the address. About a third are left-behind or vulnerable
// children, a fifth left-behind women and the rest elderly, each with
// categories, birth date, relatives and health that fit together. It panics
// if village is not 12 digits.
func (g *Generator) Person(village string) map[string]any {
	if len(village) != 12 || !allDigits(village) {
		panic(fmt.Sprintf("gen.Person: village must be a 12-digit code, got %q", village))
	}
	const (
		child = iota
		woman
		elder
	)
	kind := g.weighted(35, 20, 45)

	var birth time.Time
	var male bool
	switch kind {
	case child:
		birth = g.Date(ymd(2010, 1, 1), ymd(2020, 12, 31))
		male = g.coin()
	case woman:
		birth = g.Date(ymd(1970, 1, 1), ymd(1995, 12, 31))
	default:
		birth = g.Date(ymd(1935, 1, 1), ymd(1960, 12, 31))
		male = g.coin()
	}
	seq := g.r.IntN(500) * 2 // even: a woman
	if male {
		seq++
	}
	surname := g.surname()
	name := surname + g.given(male, eraOf(birth.Year()))

	p := map[string]any{
		"name":      name,
		"id_number": idcard.Generate(village[:6], birth, seq),
		"status":    "在册",
	}

	var cats []string
	var away []any
	switch kind {
	case child:
		cats = g.childCategories()
		motherSurname := g.otherSurname(surname)
		guardian := g.guardian(surname, motherSurname)
		p["guardian"] = guardian
		// A child has no phone of its own; the register lists the
		// guardian's, which is the number a cadre actually calls.
		p["phone"] = guardian["phone"]
		away = g.parentsAway(surname, motherSurname, has(cats, catLeftBehindChild))
		p["health"] = g.healthFor(cats, childHealth)
	case woman:
		cats = []string{catLeftBehindWoman}
		switch n := g.r.IntN(100); {
		case n < 10:
			cats = append(cats, catDibao)
		case n < 15:
			cats = append(cats, catDisabled)
		}
		p["phone"] = g.phone()
		away = append(away, g.relative("丈夫", g.otherSurname(surname), true, eraMid))
		if birth.Year() <= 1980 && g.chance(40) {
			husband := away[0].(map[string]any)["name"].(string)
			away = append(away, g.relative(g.sonOrDaughter(), firstRune(husband), g.coin(), eraOf(birth.Year()+25)))
		}
		p["health"] = g.healthFor(cats, womanHealth)
	default:
		cats = g.elderCategories(birth.Year())
		p["phone"] = g.phone()
		if !has(cats, catExtremePoor) {
			// Children carry the father's surname: the elder's own if he
			// is a man, an unknown husband's otherwise.
			childSurname := surname
			if !male {
				childSurname = g.otherSurname(surname)
			}
			for range g.between(1, 3) {
				rel := g.sonOrDaughter()
				away = append(away, g.relative(rel, childSurname, rel == "儿子", eraMid))
			}
		}
		health := elderHealth
		if has(cats, catVeryOld) {
			health = veryOldHealth
		}
		p["health"] = g.healthFor(cats, health)
	}
	if away == nil {
		// 特困人员 have, by definition, no family to support them.
		away = []any{}
	}
	p["categories"] = cats
	p["family_away"] = away
	p["address"] = g.address(village)
	return p
}

func ymd(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func firstRune(s string) string {
	for _, r := range s {
		return string(r)
	}
	return ""
}

func (g *Generator) childCategories() []string {
	if g.chance(75) {
		switch n := g.r.IntN(100); {
		case n < 15:
			return []string{catLeftBehindChild, catChildInNeed}
		case n < 20:
			return []string{catLeftBehindChild, catDisabled}
		}
		return []string{catLeftBehindChild}
	}
	if g.chance(20) {
		return []string{catChildInNeed, catDisabled}
	}
	return []string{catChildInNeed}
}

func (g *Generator) elderCategories(born int) []string {
	veryOld := born <= veryOldBornBy
	if g.chance(12) {
		cats := []string{catExtremePoor}
		switch {
		case veryOld && g.coin():
			cats = []string{catVeryOld, catExtremePoor}
		case g.chance(20):
			cats = append(cats, catDisabled)
		}
		return cats
	}
	primary := catLeftBehindElder
	switch g.weighted(50, 30, 20) {
	case 1:
		primary = catEmptyNest
	case 2:
		if veryOld {
			primary = catVeryOld
		}
	}
	if !g.chance(35) {
		return []string{primary}
	}
	second := []string{catDibao, catDisabled}
	if primary != catEmptyNest {
		second = append(second, catEmptyNest)
	}
	if veryOld && primary != catVeryOld {
		second = append(second, catVeryOld)
	}
	return inOrder(primary, g.pick(second))
}

// inOrder returns a and b in the order of categoryOrder.
func inOrder(a, b string) []string {
	out := make([]string, 0, 2)
	for _, c := range categoryOrder {
		if c == a || c == b {
			out = append(out, c)
		}
	}
	return out
}

func (g *Generator) healthFor(cats []string, pool []string) string {
	if has(cats, catDisabled) {
		return g.pick(disabledHealth)
	}
	return g.pick(pool)
}

func (g *Generator) guardian(surname, motherSurname string) map[string]any {
	w := make([]int, len(guardianKinds))
	for i, k := range guardianKinds {
		w[i] = k.weight
	}
	k := guardianKinds[g.weighted(w...)]
	var s string
	switch k.side {
	case 0:
		s = surname
	case 1:
		s = motherSurname
	default:
		s = g.otherSurname(surname)
	}
	e := eraOld
	if k.relation == "叔叔" || k.relation == "姑姑" || k.relation == "伯父" || k.relation == "舅舅" {
		e = eraMid
	}
	return map[string]any{
		"name":     s + g.given(k.male, e),
		"relation": k.relation,
		"phone":    g.phone(),
	}
}

// parentsAway lists a child's parents working away: usually both for a
// left-behind child, often only one for a child in need, whose other parent
// may be ill, gone or dead.
func (g *Generator) parentsAway(surname, motherSurname string, leftBehind bool) []any {
	father := g.relative("父亲", surname, true, eraMid)
	mother := g.relative("母亲", motherSurname, false, eraMid)
	switch {
	case leftBehind && g.chance(70):
		return []any{father, mother}
	case leftBehind || g.chance(60):
		if g.chance(70) {
			return []any{father}
		}
		return []any{mother}
	}
	return []any{}
}

func (g *Generator) sonOrDaughter() string {
	if g.chance(60) {
		return "儿子"
	}
	return "女儿"
}

func (g *Generator) relative(relation, surname string, male bool, e era) map[string]any {
	return map[string]any{
		"name":     surname + g.given(male, e),
		"relation": relation,
		"location": g.pick(workPlaces),
		"phone":    g.phone(),
	}
}

func (g *Generator) address(village string) string {
	province, city, county, township, vill := placePath(village)
	return fmt.Sprintf("%s%s%s%s%s%d组%d号", province, city, county, township, vill, g.between(1, 12), g.between(1, 80))
}
