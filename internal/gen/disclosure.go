package gen

import (
	"fmt"
	"strings"
	"time"

	"stationsync/internal/idcard"
)

// Disclosure categories, verbatim from DOMAIN.md.
const (
	discParty   = "党务公开"
	discVillage = "村务公开"
	discFinance = "财务公开"
	discAid     = "救助对象公示"
)

var disclosureCategories = []string{discParty, discVillage, discFinance, discAid}

var (
	studyTopics = []string{"党的二十届三中全会精神", "《中国共产党纪律处分条例》", "习近平总书记考察安徽重要讲话精神", "新修订的《中国共产党农村基层组织工作条例》"}
	services    = []string{"人居环境整治", "走访慰问困难群众", "防汛隐患排查", "秸秆禁烧宣传"}
	educations  = []string{"高中", "中专", "大专", "本科"}
	roles       = []string{"村民小组长", "村后备干部", "返乡创业青年", "村卫生室医生"}
	fundSources = []string{"县级财政衔接资金", "一事一议财政奖补资金", "村集体经济收入"}
)

// Disclosure returns a notice for the village notice board in category, one
// of 党务公开, 村务公开, 财务公开 and 救助对象公示, or a category chosen at
// random when category is "". Titles and bodies follow the wording of real
// notices, and a 救助对象公示 lists recipients with masked ID numbers, as the
// rules for public postings require; no body contains a full ID or phone
// number. The publication period starts between 2025 and late 2026 and
// lasts 7 days for a 公示 (the usual period) and 7–30 days otherwise. It
// panics on any other category, which is a bug in the caller.
func (g *Generator) Disclosure(category string) map[string]any {
	if category == "" {
		category = g.pick(disclosureCategories)
	}
	from := g.Date(ymd(2025, 1, 1), ymd(2026, 10, 31))
	var days int
	switch category {
	case discAid:
		days = 7
	case discFinance:
		days = g.between(15, 30)
	case discParty, discVillage:
		days = g.between(7, 30)
	default:
		panic(fmt.Sprintf("gen.Disclosure: unknown category %q, want one of %s", category, strings.Join(disclosureCategories, ", ")))
	}
	until := from.AddDate(0, 0, days)
	period := fmt.Sprintf("公开期限为%s至%s。", cnDate(from), cnDate(until))

	var title, body string
	switch category {
	case discParty:
		title, body = g.partyNotice(from)
	case discVillage:
		title, body = g.villageNotice(from)
	case discFinance:
		title, body = g.financeNotice(from)
	case discAid:
		title, body = g.aidNotice(from)
	}
	return map[string]any{
		"category":      category,
		"title":         title,
		"body":          body + period,
		"publish_from":  from.Format(time.DateOnly),
		"publish_until": until.Format(time.DateOnly),
		"reviewer":      g.Name(),
	}
}

func (g *Generator) partyNotice(from time.Time) (title, body string) {
	switch g.r.IntN(3) {
	case 0:
		held := from.AddDate(0, 0, -g.between(3, 10))
		members := g.between(25, 60)
		title = fmt.Sprintf("%d年%d月主题党日活动情况公开", held.Year(), int(held.Month()))
		body = fmt.Sprintf("%s，村党支部在党群服务中心开展主题党日活动，应到党员%d名，实到%d名。"+
			"活动集中学习了%s，开展了%s志愿服务，收集群众意见建议%d条，已逐条明确责任人和办理时限。"+
			"现将有关情况予以公开，欢迎党员群众监督。",
			cnDate(held), members, members-g.between(0, 5), g.pick(studyTopics), g.pick(services), g.between(3, 15))
	case 1:
		half, y := "上半年", from.Year()
		if from.Month() < time.July {
			half, y = "下半年", y-1
		}
		members := g.between(25, 60)
		dues := int64(members) * int64(g.between(120, 300)) * 100
		title = fmt.Sprintf("%d年%s党费收缴情况公开", y, half)
		body = fmt.Sprintf("根据党费收缴、使用和管理有关规定，现将本支部%d年%s党费收缴情况公开如下："+
			"全支部共有党员%d名，应缴党费%s元，实缴党费%s元，收缴率100%%，已全额上缴乡镇党委。"+
			"党员如对本人党费缴纳情况有疑问，可向支部组织委员查询。",
			y, half, members, yuan(dues), yuan(dues))
	default:
		male := g.chance(60)
		name := g.name(male, eraMid)
		sex := "女"
		if male {
			sex = "男"
		}
		title = fmt.Sprintf("关于拟发展%s同志为中共预备党员的公示", name)
		body = fmt.Sprintf("经个人申请、支部委员会审查和支部大会讨论，拟发展%s同志为中共预备党员。"+
			"%s，%s，%d年%d月出生，%s学历，现为本村%s。"+
			"公示期间，党员和群众如有意见，可通过来信、来访等方式向乡镇党委组织办反映，反映情况应实事求是。",
			name, name, sex, g.between(1985, 2000), g.between(1, 12), g.pick(educations), g.pick(roles))
	}
	return title, body
}

func (g *Generator) villageNotice(from time.Time) (title, body string) {
	y := from.Year()
	switch g.r.IntN(3) {
	case 0:
		a := g.between(1, 8)
		b := a + g.between(1, 4)
		done := from.AddDate(0, 0, -g.between(10, 40))
		start := done.AddDate(0, 0, -g.between(20, 60))
		title = fmt.Sprintf("关于%d组至%d组道路硬化工程实施情况的公开", a, b)
		body = fmt.Sprintf("经村民代表大会讨论通过，本村实施%d组至%d组道路硬化工程，全长%d米，路面宽%.1f米，"+
			"总投资%s元，资金来源为%s。工程于%s开工，%s完工，已通过乡镇组织的验收。"+
			"现将工程有关情况予以公开，接受村民监督，如有疑问请向村务监督委员会反映。",
			a, b, g.between(300, 2500), float64(g.between(35, 60))/10, yuan(int64(g.between(200, 1500))*100000),
			g.pick(fundSources), cnDate(start), cnDate(done))
	case 1:
		should := g.between(1200, 3800)
		did := should - g.between(5, 60)
		title = fmt.Sprintf("%d年度城乡居民医疗保险参保情况公开", y)
		body = fmt.Sprintf("本村%d年度城乡居民基本医疗保险应参保%d人，已参保%d人，参保率%.1f%%。"+
			"其中特困人员、低保对象等%d人的个人缴费由政府按规定给予资助。"+
			"尚未参保的村民请尽快到村便民服务站办理，以免影响住院报销。",
			y, should, did, float64(did)*100/float64(should), g.between(20, 120))
	default:
		households := g.between(300, 900)
		mu := households * g.between(3, 8)
		rate := g.between(80, 125)
		title = fmt.Sprintf("关于%d年耕地地力保护补贴发放情况的公开", y)
		body = fmt.Sprintf("根据县农业农村局通知，本村%d年耕地地力保护补贴已通过“一卡通”发放到户。"+
			"全村共有%d户享受补贴，补贴面积%d亩，补贴标准每亩%d元，发放金额合计%s元。"+
			"各户发放明细已在村公开栏张贴，如有疑问请向村委会或村务监督委员会反映。",
			y, households, mu, rate, yuan(int64(mu*rate)*100))
	}
	return title, body
}

// financeNotice reports the quarter before the one the notice is posted in,
// as villages do.
func (g *Generator) financeNotice(from time.Time) (title, body string) {
	q, y := (int(from.Month())-1)/3, from.Year()
	if q == 0 {
		q, y = 4, y-1
	}
	quarter := []string{"", "一", "二", "三", "四"}[q]
	transfer := int64(g.between(80, 300)) * 100000
	business := int64(g.between(10, 200))*10000 + int64(g.r.IntN(100))
	other := int64(g.between(0, 50)) * 10000
	in := transfer + business + other
	pay := int64(g.between(60, 120)) * 100000
	office := int64(g.between(5, 30)) * 10000
	public := int64(g.between(20, 200))*10000 + int64(g.r.IntN(100))
	out := pay + office + public
	title = fmt.Sprintf("%d年第%s季度村级财务收支情况公开", y, quarter)
	body = fmt.Sprintf("根据村务公开有关规定，现将本村%d年第%s季度财务收支情况公布如下："+
		"本季度收入合计%s元，其中上级转移支付%s元，村集体经营性收入%s元，其他收入%s元；"+
		"支出合计%s元，其中村干部报酬%s元，办公经费%s元，公益事业支出%s元。"+
		"收支明细账已经村务监督委员会审核，如有疑问，请在公开期内向村务监督委员会反映。",
		y, quarter, yuan(in), yuan(transfer), yuan(business), yuan(other), yuan(out), yuan(pay), yuan(office), yuan(public))
	return title, body
}

// aidNotice lists the households proposed for 低保 or 特困 support. Names are
// shown in full, as a 公示 must be, but ID numbers only masked.
func (g *Generator) aidNotice(from time.Time) (title, body string) {
	typ := aidDibao
	if g.chance(25) {
		typ = aidTekun
	}
	title = fmt.Sprintf("关于%d年%d月拟新增%s对象的公示", from.Year(), int(from.Month()), typ)
	var b strings.Builder
	n := g.between(1, 4)
	fmt.Fprintf(&b, "经本人申请、村级民主评议、乡镇人民政府审核，以下%d户拟纳入%s范围：", n, typ)
	for i := range n {
		male := g.coin()
		born := g.Date(ymd(1940, 1, 1), ymd(1985, 12, 31))
		seq := g.r.IntN(500) * 2
		if male {
			seq++
		}
		id := idcard.Generate("340121", born, seq)
		sep := "；"
		if i == n-1 {
			sep = "。"
		}
		fmt.Fprintf(&b, "%s（身份证号%s），家庭人口%d人，拟保障金额每月%d元%s",
			g.name(male, eraOf(born.Year())), idcard.Mask(id), g.between(1, 5), g.between(30, 90)*10, sep)
	}
	b.WriteString("如有异议，请在公示期内向乡镇民政办或县民政局反映。")
	return title, b.String()
}
