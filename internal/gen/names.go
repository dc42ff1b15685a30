package gen

// era says which generation a name is for: given names follow fashions
// (建国 and 秀英 for grandparents, 子涵 for grandchildren), and a register
// where a child is called 桂英 looks fake at a glance in a demo.
type era int

const (
	eraOld   era = iota // born before about 1965
	eraMid              // born about 1965–2000
	eraYoung            // born after 2000
)

// commonSurnames are the twenty most frequent surnames (about half the
// population); they are drawn more often than the rest.
var commonSurnames = []string{
	"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周",
	"徐", "孙", "马", "朱", "胡", "郭", "何", "林", "罗", "高",
}

var otherSurnames = []string{
	"郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹",
	"彭", "曾", "肖", "田", "董", "袁", "潘", "蒋", "蔡", "余",
	"杜", "叶", "程", "魏", "苏", "吕", "丁", "任", "沈", "姚",
	"卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石",
	"廖", "贾", "夏", "韦", "方", "白", "邹", "孟", "熊", "秦",
	"邱", "江", "尹", "薛", "段", "雷", "侯", "史", "陶", "黎",
	"贺", "顾", "毛", "郝", "龚", "邵", "万", "钱", "严", "武",
	"戴", "孔", "汤", "葛", "桂", "鲍", "储", "檀", "操", "童",
}

// givenNames[era][male] holds one- and two-character given names.
var givenNames = [3][2][]string{
	eraOld: {
		0: {"秀英", "桂英", "玉兰", "秀兰", "桂兰", "凤英", "兰英", "玉梅", "素珍", "淑珍",
			"秀珍", "桂芳", "翠花", "金花", "玉珍", "桂香", "秀芳", "凤兰", "春兰", "兰", "英", "梅", "珍", "凤"},
		1: {"建国", "国强", "德明", "志强", "树林", "玉林", "长春", "有才", "金山", "永福",
			"保国", "文华", "学文", "德胜", "守业", "家福", "忠义", "正清", "明", "福", "贵", "林", "山", "成"},
	},
	eraMid: {
		0: {"丽", "芳", "娟", "敏", "静", "艳", "霞", "红", "燕", "萍", "玲", "琳", "婷", "慧",
			"丽娟", "海燕", "春梅", "晓燕", "秀云", "红梅", "丽华", "小芳", "雪梅", "艳红", "文静", "晓丽"},
		1: {"伟", "强", "磊", "军", "勇", "杰", "涛", "明", "超", "刚", "平", "辉", "鹏", "飞", "斌",
			"建华", "建军", "海涛", "志刚", "晓东", "文斌", "小龙", "国庆", "春生", "海波", "家宝"},
	},
	eraYoung: {
		0: {"欣怡", "子涵", "雨萱", "梓涵", "思彤", "诗涵", "佳怡", "可馨", "一诺", "语嫣",
			"欣妍", "梦琪", "雨桐", "若曦", "悦", "萱", "琪", "彤", "瑶", "涵"},
		1: {"子轩", "浩然", "宇轩", "梓豪", "俊杰", "博文", "浩宇", "一鸣", "子豪", "宇航",
			"晨阳", "皓轩", "家乐", "明哲", "睿", "泽", "浩", "宇", "凯", "博"},
	},
}

func (g *Generator) surname() string {
	if g.chance(60) {
		return g.pick(commonSurnames)
	}
	if g.coin() {
		return g.pick(commonSurnames)
	}
	return g.pick(otherSurnames)
}

// otherSurname returns a surname different from s, for someone who married
// into the family: Chinese women keep their own surname.
func (g *Generator) otherSurname(s string) string {
	for {
		if o := g.surname(); o != s {
			return o
		}
	}
}

func (g *Generator) given(male bool, e era) string {
	sex := 0
	if male {
		sex = 1
	}
	return g.pick(givenNames[e][sex])
}

func (g *Generator) name(male bool, e era) string {
	return g.surname() + g.given(male, e)
}

// eraOf returns the naming generation of someone born in year.
func eraOf(year int) era {
	switch {
	case year < 1965:
		return eraOld
	case year <= 2000:
		return eraMid
	}
	return eraYoung
}
