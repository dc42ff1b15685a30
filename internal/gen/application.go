package gen

import (
	"fmt"

	"stationsync/internal/idcard"
)

// Assistance types, verbatim from DOMAIN.md.
const (
	aidDibao    = "最低生活保障"
	aidTekun    = "特困人员救助供养"
	aidTemp     = "临时救助"
	aidMedical  = "医疗救助"
	aidSchool   = "教育救助"
	aidHousing  = "住房救助"
	aidJobs     = "就业救助"
	aidDisaster = "受灾人员救助"
)

var assistanceTypes = []string{aidDibao, aidTekun, aidTemp, aidMedical, aidSchool, aidHousing, aidJobs, aidDisaster}

// defaultVillage is used when Application is given no usable applicant.
const defaultVillage = "340121101201"

// household kinds, by the applicant's age.
const (
	hhChild = iota
	hhAdult
	hhElder
)

// typeWeights[kind] weighs assistanceTypes for a household: families with
// schoolchildren ask for education aid, the elderly for 特困 support and
// not for job placement.
var typeWeights = [3][8]int{
	hhChild: {30, 0, 20, 15, 25, 5, 0, 5},
	hhAdult: {30, 0, 20, 20, 10, 5, 10, 5},
	hhElder: {35, 20, 15, 20, 0, 5, 0, 5},
}

var introByKind = [3][]string{
	hhChild: {
		"申请人父母常年在外务工，收入微薄，现由年迈的祖父母抚养。",
		"申请人父亲因病长期卧床，母亲离家后失去联系，由祖母照看。",
		"申请人系农村留守儿童，与年过七旬的祖父母共同生活。",
	},
	hhAdult: {
		"申请人家中仅靠种植几亩薄田维持生活，收入很低。",
		"申请人配偶因病丧失劳动能力，家庭重担全靠申请人一人承担。",
		"申请人身患慢性病，无法外出务工，只能在家照顾老人和孩子。",
		"申请人家中上有老下有小，仅靠打零工维持生计。",
	},
	hhElder: {
		"申请人年老体弱，常年患病，已丧失劳动能力。",
		"申请人年过七旬，仅靠每月一百多元的养老金生活。",
		"申请人子女收入微薄，自顾不暇，无力赡养。",
	},
}

var (
	illnesses  = []string{"脑梗塞", "肺部感染", "股骨骨折", "冠心病", "慢性肾衰竭", "胆结石"}
	accidents  = []string{"突发火灾，烧毁部分家具和口粮", "主要劳动力突发疾病住院", "遭遇交通事故，花去大部分积蓄"}
	schools    = []string{"县第一中学", "市职业技术学院", "安徽农业大学", "合肥师范学院", "县职业高级中学"}
	disasters  = []string{"洪涝灾害", "冰雹灾害", "强降雨", "龙卷风"}
	cropsHit   = []string{"水稻", "小麦", "玉米", "油菜", "大豆"}
	askClosing = []string{"特申请%s，恳请予以帮助。", "现申请%s，望予以批准。", "特提出%s申请，请予审核。"}
)

// Application returns an assistance application by the person applicantID,
// whose person record is applicant (its name and id_number are used, so the
// applicant appears among the members as 本人). The household, its monthly
// income, the type of aid, the reason and the amount fit the applicant's
// age. If applicant is nil or lacks a valid id_number, a person is made up.
func (g *Generator) Application(applicantID string, applicant map[string]any) map[string]any {
	name, _ := applicant["name"].(string)
	id, _ := applicant["id_number"].(string)
	birth, err := idcard.BirthDate(id)
	if name == "" || err != nil {
		p := g.Person(defaultVillage)
		name, id = p["name"].(string), p["id_number"].(string)
		birth, _ = idcard.BirthDate(id)
	}
	id = idcard.Normalize(id)
	sex, _ := idcard.Sex(id)
	male := sex == "男"
	area := id[:6]
	surname := firstRune(name)
	by := birth.Year()

	kind := hhAdult
	switch {
	case by >= 2003:
		kind = hhChild
	case by <= 1965:
		kind = hhElder
	}

	members := []any{member(name, "本人", id, g.income(kind, by))}
	add := func(relation, surname string, male bool, born int) {
		born = min(max(born, 1935), 2023)
		b := g.Date(ymd(born, 1, 1), ymd(born, 12, 31))
		seq := g.r.IntN(500) * 2
		if male {
			seq++
		}
		mk := hhAdult
		switch {
		case born >= 2003:
			mk = hhChild
		case born <= 1965:
			mk = hhElder
		}
		members = append(members, member(surname+g.given(male, eraOf(born)), relation,
			idcard.Generate(area, b, seq), g.income(mk, born)))
	}

	hasSchoolchild := kind == hhChild
	switch kind {
	case hhChild:
		grandpa, grandma := g.chance(60), g.chance(80)
		if !grandpa && !grandma {
			grandma = true
		}
		if grandpa {
			add("祖父", surname, true, by-g.between(45, 60))
		}
		if grandma {
			add("祖母", g.otherSurname(surname), false, by-g.between(45, 58))
		}
		if g.chance(30) {
			add("父亲", surname, true, by-g.between(22, 35))
		}
		if g.chance(30) {
			older, brother := g.coin(), g.coin()
			var rel string
			switch {
			case older && brother:
				rel = "哥哥"
			case older:
				rel = "姐姐"
			case brother:
				rel = "弟弟"
			default:
				rel = "妹妹"
			}
			born := by + g.between(1, 6)
			if older {
				born = by - g.between(1, 6)
			}
			add(rel, surname, brother, born)
		}
	case hhAdult:
		spouseSurname := g.otherSurname(surname)
		if g.chance(75) {
			rel := "妻子"
			if !male {
				rel = "丈夫"
			}
			add(rel, spouseSurname, !male, by+g.between(-5, 5))
		}
		childSurname := surname
		if !male {
			childSurname = spouseSurname
		}
		for range g.r.IntN(3) {
			born := by + g.between(20, 35)
			if born > 2022 {
				continue // a child not born yet
			}
			son := g.coin()
			rel := "女儿"
			if son {
				rel = "儿子"
			}
			if born >= 2008 {
				hasSchoolchild = true
			}
			add(rel, childSurname, son, born)
		}
		if g.chance(30) {
			if g.coin() {
				add("父亲", surname, true, by-g.between(22, 32))
			} else {
				add("母亲", g.otherSurname(surname), false, by-g.between(20, 30))
			}
		}
	case hhElder:
		// A grandchild carries the surname of the elder's son, so of the
		// elder's husband when the elder is a woman.
		spouseSurname := g.otherSurname(surname)
		if g.chance(55) {
			rel := "妻子"
			if !male {
				rel = "丈夫"
			}
			add(rel, spouseSurname, !male, by+g.between(-5, 5))
		}
		if g.chance(25) {
			grandSurname := surname
			if !male {
				grandSurname = spouseSurname
			}
			son := g.coin()
			rel := "孙女"
			if son {
				rel = "孙子"
			}
			hasSchoolchild = true
			add(rel, grandSurname, son, g.between(2008, 2019))
		}
	}

	w := typeWeights[kind]
	if kind == hhElder && len(members) > 1 {
		w[1] = 0 // 特困 support is only for those with no one to support them
	}
	if !hasSchoolchild {
		w[4] = 0
	}
	typ := g.weighted(w[:]...)

	var household int64
	for _, m := range members {
		household += m.(map[string]any)["income_fen"].(int64)
	}

	return map[string]any{
		"applicant_id":         applicantID,
		"type":                 assistanceTypes[typ],
		"members":              members,
		"household_income_fen": household,
		"reason":               g.reason(kind, assistanceTypes[typ], len(members) == 1),
		"amount_requested_fen": g.amount(assistanceTypes[typ]),
	}
}

func member(name, relation, id string, income int64) map[string]any {
	return map[string]any{"name": name, "relation": relation, "id_number": id, "income_fen": income}
}

// income returns a monthly income in fen, rounded to whole yuan: children
// earn nothing, the elderly live on the rural basic pension (a little over
// 100 yuan in Anhui), adults on farming and odd jobs, often nothing at all
// in the households that apply.
func (g *Generator) income(kind, born int) int64 {
	switch kind {
	case hhChild:
		return 0
	case hhElder:
		return int64(g.between(130, 300)) * 100
	}
	if g.chance(35) {
		return 0
	}
	return int64(g.between(3, 25)) * 10000
}

func (g *Generator) reason(kind int, typ string, alone bool) string {
	intro := g.pick(introByKind[kind])
	if kind == hhElder && alone && (typ == aidTekun || g.coin()) {
		// 特困 support requires that no one is obliged to support the
		// applicant, so the reason must not mention children.
		intro = "申请人独自一人生活，无子女，无固定收入来源。"
	}
	var cause string
	month := g.between(1, 12)
	switch typ {
	case aidDibao:
		cause = "家庭人均月收入低于当地低保标准，日常生活难以维持。"
	case aidTekun:
		cause = "申请人无劳动能力、无生活来源，且无法定赡养义务人。"
	case aidTemp:
		cause = fmt.Sprintf("今年%d月家中%s，生活一时陷入困境。", month, g.pick(accidents))
	case aidMedical:
		total := g.between(2, 15) * 10000
		self := total * g.between(25, 45) / 100
		cause = fmt.Sprintf("今年%d月因%s住院治疗，医疗费用共计%d元，医保报销后个人仍需负担%d元。", month, g.pick(illnesses), total, self)
	case aidSchool:
		who := "孩子"
		if kind == hhChild {
			who = "申请人"
		}
		cause = fmt.Sprintf("%s今年考入%s，学费和生活费负担较重。", who, g.pick(schools))
	case aidHousing:
		cause = "现住房为上世纪八十年代建的土坯房，墙体开裂，雨季漏雨，经鉴定为C级危房。"
	case aidJobs:
		cause = "申请人有劳动能力和就业意愿，但缺乏技能，长期找不到稳定工作。"
	case aidDisaster:
		cause = fmt.Sprintf("今年%d月遭受%s，家中%d亩%s受灾，房屋部分受损。", month, g.pick(disasters), g.between(2, 12), g.pick(cropsHit))
	}
	return intro + cause + fmt.Sprintf(g.pick(askClosing), typ)
}

// amount returns a requested amount in fen, in whole tens of yuan, in the
// range a station would plausibly ask for each type of aid.
func (g *Generator) amount(typ string) int64 {
	lo, hi := 300, 800 // monthly 低保 / 特困 amounts, in yuan
	switch typ {
	case aidTekun:
		lo, hi = 600, 1000
	case aidTemp:
		lo, hi = 1000, 5000
	case aidMedical:
		lo, hi = 2000, 20000
	case aidSchool:
		lo, hi = 1000, 5000
	case aidHousing:
		lo, hi = 10000, 30000
	case aidJobs:
		lo, hi = 500, 3000
	case aidDisaster:
		lo, hi = 1000, 10000
	}
	return int64(g.between(lo/10, hi/10)) * 1000
}
