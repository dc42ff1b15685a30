package gen

import (
	"strings"
	"time"
)

// Visit vocabularies, verbatim from DOMAIN.md.
var (
	visitMethods = []string{"入户走访", "电话联系", "视频联系", "集中活动"}
	visitNeeds   = []string{"生活照料", "医疗健康", "教育", "心理关爱", "经济困难", "安全隐患", "法律援助"}
	riskLevels   = []string{"正常", "关注", "紧急"}
)

const (
	needCare   = "生活照料"
	needHealth = "医疗健康"
	needSchool = "教育"
	needMind   = "心理关爱"
	needMoney  = "经济困难"
	needSafety = "安全隐患"
	needLegal  = "法律援助"
)

// A fragment is one sentence of a visit's 基本情况, with the needs a cadre
// would tick after writing it, so that the tags agree with the text.
type fragment struct {
	text  string
	needs []string
}

// openers say how the visit went; they depend on the method so that a phone
// call does not describe the inside of the house.
var openers = [][]string{
	{ // 入户走访
		"入户走访时本人在家，精神状态较好。", "走访时家中只有祖孙二人在家。", "入户时本人正在院中晾晒衣物。",
		"入户查看了居住环境和生活情况。", "走访时本人刚从田里干活回来。",
	},
	{ // 电话联系
		"电话联系本人，交流顺畅。", "通过电话与本人及其家属沟通。", "电话回访，本人接听，语言清楚。",
	},
	{ // 视频联系
		"通过微信视频与本人交流。", "与本人及在外务工的子女视频通话。", "视频连线查看了屋内情况。",
	},
	{ // 集中活动
		"本人参加了村里组织的集中活动。", "在综合服务站集中活动中见面交流。", "本人参加了重阳节敬老集中活动。",
	},
}

// topics are the subjects a visit note covers. A note takes sentences from
// different topics, so a few dozen sentences give thousands of distinct
// notes.
var topics = [][]fragment{
	{ // living conditions
		{text: "生活能够自理，一日三餐正常。"},
		{text: "家中米面油充足，冬衣被褥已备齐。"},
		{text: "日常饮食较简单，主要自己做饭。"},
		{text: "衣被齐全，生活用品基本够用。"},
		{text: "平时由邻居帮忙照看，有事能及时联系。"},
		{text: "家里养了几只鸡鸭，蔬菜自给自足。"},
		{text: "年纪渐大，做饭洗衣已有些吃力。", needs: []string{needCare}},
	},
	{ // health
		{text: "患有高血压，一直按时服药，血压平稳。"},
		{text: "近来腰腿疼痛加重，行走需拄拐。", needs: []string{needCare}},
		{text: "身体状况良好，无明显病痛。"},
		{text: "视力下降明显，看东西模糊。", needs: []string{needHealth}},
		{text: "上月感冒已痊愈，精神恢复较好。"},
		{text: "已签约家庭医生，每季度上门随访。"},
		{text: "患有糖尿病，需长期服药控制血糖。", needs: []string{needHealth}},
		{text: "听力不太好，交流时需提高声音。"},
	},
	{ // school
		{text: "孙子在镇中心小学读四年级，成绩中等。"},
		{text: "孩子在村小读二年级，学习比较认真。"},
		{text: "孩子在县城初中住校，周末回家。"},
		{text: "孩子性格内向，与同学交流较少。", needs: []string{needMind}},
		{text: "孩子作业主要靠自己完成，家里无人辅导。", needs: []string{needSchool}},
		{text: "孩子已享受营养改善计划，在校吃饭正常。"},
	},
	{ // crops and income
		{text: "家中种有三亩水稻，今年收成一般。"},
		{text: "承包地已流转给种植大户，每年有租金收入。"},
		{text: "自家菜园种了青菜和萝卜，够日常食用。"},
		{text: "今年小麦长势较好，预计产量稳定。"},
		{text: "因劳力不足，部分土地已撂荒。", needs: []string{needMoney}},
		{text: "夏季干旱，玉米减产约三成。", needs: []string{needMoney}},
	},
	{ // family contact
		{text: "儿子在浙江务工，每周打一次电话。"},
		{text: "女儿在上海打工，春节才回家。"},
		{text: "父母在江苏苏州打工，每月寄钱回家。"},
		{text: "子女每月按时寄回生活费。"},
		{text: "与在外子女联系不多，平时较为孤单。", needs: []string{needMind}},
		{text: "母亲在外务工，常和孩子视频通话。"},
		{text: "丈夫在外地工地打工，收入不稳定。"},
	},
	{ // housing
		{text: "住房为砖混结构，安全无隐患。"},
		{text: "老房子屋顶有漏雨现象，已登记。", needs: []string{needSafety}},
		{text: "院内电线老化，存在安全隐患。", needs: []string{needSafety}},
		{text: "已完成农村危房改造，住房安全。"},
		{text: "厕所已完成改造，使用方便。"},
		{text: "门前道路已硬化，出行方便。"},
		{text: "冬季屋内较冷，取暖设施简陋。"},
	},
}

// housing is the topic a phone call cannot observe.
const housing = 5

var concerns = []fragment{
	{text: "近期情绪低落，话语较少。", needs: []string{needMind}},
	{text: "常独自在家，存在安全隐患。", needs: []string{needSafety, needCare}},
	{text: "药快吃完，需协助去卫生院开药。", needs: []string{needHealth}},
	{text: "孩子成绩下滑，与祖母常争执。", needs: []string{needSchool, needMind}},
	{text: "家庭收入下降，生活拮据。", needs: []string{needMoney}},
	{text: "与邻居因宅基地发生纠纷。", needs: []string{needLegal}},
}

var emergencies = []fragment{
	{text: "三天前在家摔倒，腿部受伤，无人照料。", needs: []string{needCare, needHealth}},
	{text: "发现独自在家发烧，意识不清。", needs: []string{needHealth}},
	{text: "房屋墙体开裂，有倒塌危险。", needs: []string{needSafety}},
	{text: "孩子多日未到校，监护人联系不上。", needs: []string{needSchool, needSafety}},
}

// measuresFor[need] are the steps a cadre records for that need.
var measuresFor = map[string][]string{
	needCare:   {"已安排邻居每日帮忙照看。", "联系其子女商量照料安排。"},
	needHealth: {"联系村医上门诊治并送药。", "协助预约家庭医生上门随访。"},
	needSchool: {"已与班主任沟通，请老师多关注。", "安排志愿者每周辅导作业。"},
	needMind:   {"安排志愿者定期上门陪伴谈心。", "鼓励多参加村里集体活动。"},
	needMoney:  {"指导申请临时救助，已报乡镇。", "介绍到附近企业打零工。"},
	needSafety: {"已请电工检修，督促尽快整改。", "已报乡镇，协调危房改造。"},
	needLegal:  {"已联系乡镇司法所调解。"},
}

var routineMeasures = []string{
	"继续定期走访，叮嘱注意身体，有事随时联系。",
	"已留村干部联系电话，提醒注意用火用电安全。",
	"按时上门走访，提醒天冷添衣、按时吃饭睡觉。",
	"鼓励多与在外家人联系，下次走访再了解情况。",
}

var emergencyMeasures = []string{
	"已拨打120送医，通知子女尽快返乡，并上报乡镇民政办。",
	"当即上报乡镇民政办，安排专人看护，启动临时救助。",
}

// Visit returns a visit to the person with id personID on date. Most visits
// are home visits that find nothing wrong; about one in eight needs
// attention and one in thirty is an emergency, and the needs and measures
// follow from what the note says. The note is a few short sentences (about
// 50 characters) rather than a long paragraph, because the bandwidth budget
// of the sync protocol is planned around a visit of 500–650 bytes of JSON
// with its envelope, and Chinese text costs 3 bytes a character in UTF-8.
func (g *Generator) Visit(personID string, date time.Time) map[string]any {
	method := g.weighted(70, 15, 8, 7)
	risk := g.weighted(85, 12, 3)

	var b strings.Builder
	b.WriteString(g.pick(openers[method]))
	// Notes of home visits run longer than those of calls, as they do in
	// real registers.
	n := 2
	if method == 0 && g.chance(60) || method > 0 && g.chance(20) {
		n++
	}
	if risk > 0 {
		n-- // the concern takes a sentence's place
	}
	var notes []fragment
	for _, t := range g.r.Perm(len(topics)) {
		if len(notes) == n {
			break
		}
		if t == housing && method == 1 {
			continue
		}
		notes = append(notes, topics[t][g.r.IntN(len(topics[t]))])
	}
	switch risk {
	case 1:
		notes = append(notes, concerns[g.r.IntN(len(concerns))])
	case 2:
		notes = append(notes, emergencies[g.r.IntN(len(emergencies))])
	}
	tagged := map[string]bool{}
	for _, f := range notes {
		b.WriteString(f.text)
		for _, nd := range f.needs {
			tagged[nd] = true
		}
	}
	needs := []string{}
	for _, nd := range visitNeeds {
		if tagged[nd] {
			needs = append(needs, nd)
		}
	}

	var m strings.Builder
	if risk == 2 {
		m.WriteString(g.pick(emergencyMeasures))
	}
	for _, nd := range needs {
		if runes(m.String()) >= 20 {
			break
		}
		m.WriteString(g.pick(measuresFor[nd]))
	}
	if runes(m.String()) < 20 {
		m.WriteString(g.pick(routineMeasures))
	}

	visitors := []string{g.Name()}
	if g.chance(40) {
		for {
			if v := g.Name(); v != visitors[0] {
				visitors = append(visitors, v)
				break
			}
		}
	}
	due := 90
	if risk > 0 || g.coin() {
		due = 30
	}
	date = day(date)
	return map[string]any{
		"person_id":  personID,
		"visited_on": date.Format(time.DateOnly),
		"visitors":   visitors,
		"method":     visitMethods[method],
		"situation":  b.String(),
		"needs":      needs,
		"risk":       riskLevels[risk],
		"measures":   m.String(),
		"next_due":   date.AddDate(0, 0, due).Format(time.DateOnly),
	}
}
