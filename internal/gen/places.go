package gen

import (
	"hash/fnv"
	"strconv"
)

// Place names are derived from the village code alone, never from the
// random sequence, so every person generated for one village shares the
// same address prefix and a village keeps its name across seeds, as it
// would on a real register.

var provinces = map[string]string{
	"11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
	"21": "辽宁省", "22": "吉林省", "23": "黑龙江省",
	"31": "上海市", "32": "江苏省", "33": "浙江省", "34": "安徽省", "35": "福建省", "36": "江西省", "37": "山东省",
	"41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区", "46": "海南省",
	"50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省", "54": "西藏自治区",
	"61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区", "65": "新疆维吾尔自治区",
}

// municipalities have no city level between province and district.
var municipalities = map[string]bool{"11": true, "12": true, "31": true, "50": true}

// cities and counties cover Anhui, the province of the policy this system
// serves; elsewhere names are made up from the roots below.
var cities = map[string]string{
	"3401": "合肥市", "3402": "芜湖市", "3403": "蚌埠市", "3404": "淮南市", "3405": "马鞍山市",
	"3406": "淮北市", "3407": "铜陵市", "3408": "安庆市", "3410": "黄山市", "3411": "滁州市",
	"3412": "阜阳市", "3413": "宿州市", "3415": "六安市", "3416": "亳州市", "3417": "池州市", "3418": "宣城市",
}

var counties = map[string]string{
	"340121": "长丰县", "340122": "肥东县", "340123": "肥西县", "340124": "庐江县", "340181": "巢湖市",
	"340822": "怀宁县", "340825": "太湖县", "340826": "宿松县", "340828": "岳西县",
	"341021": "歙县", "341122": "来安县", "341221": "临泉县", "341222": "太和县",
	"341321": "砀山县", "341322": "萧县", "341522": "霍邱县", "341523": "舒城县", "341524": "金寨县",
	"341621": "涡阳县", "341622": "蒙城县", "341623": "利辛县",
	"341721": "东至县", "341722": "石台县", "341723": "青阳县", "341821": "郎溪县", "341823": "泾县",
}

var placeRoots = []string{
	"东平", "南山", "清河", "永安", "兴隆", "安平", "临川", "长宁", "丰城", "新安",
	"宁远", "平江", "秀水", "德兴", "广丰", "瑞金", "崇义", "福安", "泰和", "云溪",
}

var townshipRoots = []string{
	"下塘", "水湖", "庄墓", "杨庙", "吴山", "岗集", "双墩", "朱巷", "造甲", "罗塘",
	"三河", "桃花", "官亭", "山南", "高刘", "严店", "铭传", "柏堰", "丰乐", "紫蓬",
	"花岗", "上派", "桃溪", "撮镇", "梁园", "石塘", "古城", "长临河", "白龙", "包公",
	"元疃", "响导", "杨店", "牌坊", "马湖", "众兴", "张集", "白山", "汤池", "万山",
	"金牛", "同大", "盛桥", "郭河", "泥河", "龙桥", "冶父山", "石头", "罗河", "陶楼",
}

var villageHeads = []string{
	"张", "李", "王", "刘", "陈", "杨", "大", "小", "新", "老",
	"东", "西", "南", "北", "桃", "柳", "黄", "马", "石", "高",
	"枣", "杏", "荷", "孙", "吴", "周", "朱", "胡", "何", "罗",
}

var villageTails = []string{"庄", "岗", "圩", "集", "湾", "店", "桥", "塘", "郢", "楼", "冲", "墩", "洼", "岭", "沟"}

func hashOf(s string) int {
	h := fnv.New32a()
	h.Write([]byte(s))
	return int(h.Sum32() & 0x7fffffff)
}

// placePath returns the names of province, city (empty for municipalities),
// county, township and village of a 12-digit code.
func placePath(code string) (province, city, county, township, village string) {
	province = provinces[code[:2]]
	if province == "" {
		province = placeRoots[hashOf(code[:2])%len(placeRoots)] + "省"
	}
	if !municipalities[code[:2]] {
		city = cities[code[:4]]
		if city == "" {
			city = placeRoots[hashOf(code[:4])%len(placeRoots)] + "市"
		}
	}
	county = counties[code[:6]]
	if county == "" {
		suffix := "县"
		if municipalities[code[:2]] {
			suffix = "区"
		}
		county = placeRoots[hashOf(code[:6])%len(placeRoots)] + suffix
	}
	// Offsetting by the township number keeps the townships of one county
	// distinct; stepping villages by a number coprime with the number of
	// combinations keeps the villages of one township distinct.
	t, _ := strconv.Atoi(code[6:9])
	ti := (hashOf(code[:6]) + t) % len(townshipRoots)
	township = townshipRoots[ti] + "镇"
	if ti%5 == 4 {
		township = townshipRoots[ti] + "乡"
	}
	v, _ := strconv.Atoi(code[9:12])
	combos := len(villageHeads) * len(villageTails)
	vi := (hashOf(code[:9]) + v*7) % combos
	village = villageHeads[vi/len(villageTails)] + villageTails[vi%len(villageTails)] + "村"
	return province, city, county, township, village
}
