// Package records is the domain both sides share: the four record kinds of
// DOMAIN.md, their fields, who owns each field, how each is validated, and
// the state machine of assistance applications.
//
// Field values travel as JSON. Every kind is stored in a table of its own
// whose columns are named after the fields, so that SQL written for pages
// and reports reads naturally.
package records

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"stationsync/internal/idcard"
)

// Kind names a record kind on the wire and in the stores.
type Kind string

// The record kinds.
const (
	Person      Kind = "person"
	Visit       Kind = "visit"
	Application Kind = "application"
	Disclosure  Kind = "disclosure"
)

// Kinds lists every kind, in an order in which references resolve (a visit
// refers to a person).
var Kinds = []Kind{Person, Visit, Application, Disclosure}

// Owner says which side may change a field.
type Owner int

const (
	// Station: only the station changes it.
	Station Owner = iota
	// County: only the county changes it (decisions).
	County
	// Both: either side may change it; concurrent edits merge by HLC
	// last-writer-wins and the losing value is kept as a conflict.
	Both
)

// Type is how a field's value is stored.
type Type int

const (
	Text Type = iota // a string, stored as TEXT
	Int              // an integer (money in fen), stored as INTEGER
	JSON             // a list or object, stored as JSON text
)

// Field describes one field of a kind.
type Field struct {
	Name     string
	Label    string // Chinese label, for messages a cadre reads
	Type     Type
	Owner    Owner
	Required bool
	Enum     []string // allowed values (for a JSON list: allowed items)
	MaxLen   int      // characters, for Text
	check    func(v any) string
}

// Schema is a kind's table and fields.
type Schema struct {
	Kind   Kind
	Table  string
	Label  string
	Fields []Field
	index  map[string]int
}

// Field returns the named field.
func (s *Schema) Field(name string) (Field, bool) {
	i, ok := s.index[name]
	if !ok {
		return Field{}, false
	}
	return s.Fields[i], true
}

// Columns returns the field names in order.
func (s *Schema) Columns() []string {
	out := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		out[i] = f.Name
	}
	return out
}

// RiskNormal is the risk of a visit that found nothing wrong; the county
// indexes only the others.
const RiskNormal = "正常"

// Vocabularies of DOMAIN.md, kept verbatim: they appear in exports.
var (
	PersonCategories   = []string{"农村留守儿童", "困境儿童", "农村留守妇女", "农村留守老年人", "空巢老人", "高龄老人", "特困人员", "低保对象", "残疾人"}
	PersonStatuses     = []string{"在册", "已退出"}
	VisitMethods       = []string{"入户走访", "电话联系", "视频联系", "集中活动"}
	VisitNeeds         = []string{"生活照料", "医疗健康", "教育", "心理关爱", "经济困难", "安全隐患", "法律援助"}
	RiskLevels         = []string{RiskNormal, "关注", "紧急"}
	AssistanceTypes    = []string{"最低生活保障", "特困人员救助供养", "临时救助", "医疗救助", "教育救助", "住房救助", "就业救助", "受灾人员救助"}
	DisclosureKinds    = []string{"党务公开", "村务公开", "财务公开", "救助对象公示"}
	DisclosureStatuses = []string{"draft", "published", "withdrawn"}
)

var (
	dateRe  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	monthRe = regexp.MustCompile(`^\d{4}-\d{2}$`)
	hashRe  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	idRe    = regexp.MustCompile(`^[0-9A-Za-z_-]{8,64}$`)
)

func checkDate(v any) string {
	if s, _ := v.(string); s != "" && !dateRe.MatchString(s) {
		return "日期格式应为 2006-01-02"
	}
	return ""
}

func checkMonth(v any) string {
	if s, _ := v.(string); s != "" && !monthRe.MatchString(s) {
		return "月份格式应为 2006-01"
	}
	return ""
}

func checkIDNumber(v any) string {
	s, _ := v.(string)
	if s == "" {
		return ""
	}
	if err := idcard.Validate(s); err != nil {
		var e *idcard.Error
		if errors.As(err, &e) {
			return e.Message
		}
		return err.Error()
	}
	return ""
}

func checkRef(v any) string {
	if s, _ := v.(string); !idRe.MatchString(s) {
		return "关联记录编号无效"
	}
	return ""
}

func checkHashes(v any) string {
	list, _ := v.([]any)
	for _, it := range list {
		if s, _ := it.(string); !hashRe.MatchString(s) {
			return "附件应以 sha256 标识"
		}
	}
	return ""
}

// MaxDecisionDocuments bounds an application's decision documents: a
// decision carries a letter or two, not a folder.
const MaxDecisionDocuments = 20

func checkDecisionDocuments(v any) string {
	if list, _ := v.([]any); len(list) > MaxDecisionDocuments {
		return fmt.Sprintf("县里的决定文件最多 %d 个", MaxDecisionDocuments)
	}
	return checkHashes(v)
}

func checkMoney(v any) string {
	if n, ok := v.(int64); ok && (n < 0 || n > 100_000_000_00) {
		return "金额超出范围"
	}
	return ""
}

func checkPhone(v any) string {
	s, _ := v.(string)
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r == '-' || r == ' ' || r == '+') {
			return "电话号码只能包含数字"
		}
	}
	if len(s) > 20 {
		return "电话号码过长"
	}
	return ""
}

func checkMembers(v any) string {
	list, _ := v.([]any)
	if len(list) > 30 {
		return "家庭成员过多"
	}
	for i, it := range list {
		m, ok := it.(map[string]any)
		if !ok {
			return fmt.Sprintf("第%d位家庭成员格式不正确", i+1)
		}
		if s, _ := m["name"].(string); strings.TrimSpace(s) == "" {
			return fmt.Sprintf("第%d位家庭成员缺少姓名", i+1)
		}
		if id, _ := m["id_number"].(string); id != "" {
			if msg := checkIDNumber(id); msg != "" {
				return fmt.Sprintf("第%d位家庭成员：%s", i+1, msg)
			}
		}
	}
	return ""
}

var schemas = map[Kind]*Schema{
	Person: {Kind: Person, Table: "persons", Label: "关爱对象", Fields: []Field{
		{Name: "name", Label: "姓名", Type: Text, Owner: Station, Required: true, MaxLen: 50},
		{Name: "id_number", Label: "公民身份号码", Type: Text, Owner: Station, Required: true, check: checkIDNumber},
		{Name: "categories", Label: "类别", Type: JSON, Owner: Both, Required: true, Enum: PersonCategories},
		{Name: "phone", Label: "联系电话", Type: Text, Owner: Both, check: checkPhone},
		{Name: "address", Label: "住址", Type: Text, Owner: Both, MaxLen: 200},
		{Name: "guardian", Label: "监护人", Type: JSON, Owner: Station},
		{Name: "family_away", Label: "外出务工家庭成员", Type: JSON, Owner: Station},
		{Name: "health", Label: "健康状况", Type: Text, Owner: Both, MaxLen: 500},
		{Name: "status", Label: "状态", Type: Text, Owner: Both, Enum: PersonStatuses},
		{Name: "exit_reason", Label: "退出原因", Type: Text, Owner: Both, MaxLen: 200},
	}},
	Visit: {Kind: Visit, Table: "visits", Label: "走访记录", Fields: []Field{
		{Name: "person_id", Label: "走访对象", Type: Text, Owner: Station, Required: true, check: checkRef},
		{Name: "visited_on", Label: "走访时间", Type: Text, Owner: Station, Required: true, check: checkDate},
		{Name: "visitors", Label: "走访人", Type: JSON, Owner: Station, Required: true},
		{Name: "method", Label: "方式", Type: Text, Owner: Station, Required: true, Enum: VisitMethods},
		{Name: "situation", Label: "基本情况", Type: Text, Owner: Station, MaxLen: 5000},
		{Name: "needs", Label: "需求", Type: JSON, Owner: Station, Enum: VisitNeeds},
		{Name: "risk", Label: "风险等级", Type: Text, Owner: Station, Required: true, Enum: RiskLevels},
		{Name: "measures", Label: "帮扶措施", Type: Text, Owner: Station, MaxLen: 2000},
		{Name: "next_due", Label: "下次走访日期", Type: Text, Owner: Station, check: checkDate},
		{Name: "photos", Label: "照片", Type: JSON, Owner: Station, check: checkHashes},
		// Set when the station voids a visit recorded in error: the visit
		// is kept, with its history, but no list counts it any more.
		{Name: "void_reason", Label: "作废原因", Type: Text, Owner: Station, MaxLen: 200},
	}},
	Application: {Kind: Application, Table: "applications", Label: "救助申请", Fields: []Field{
		{Name: "applicant_id", Label: "申请人", Type: Text, Owner: Station, Required: true, check: checkRef},
		{Name: "type", Label: "救助类型", Type: Text, Owner: Station, Required: true, Enum: AssistanceTypes},
		{Name: "members", Label: "家庭成员", Type: JSON, Owner: Station, check: checkMembers},
		{Name: "household_income_fen", Label: "家庭月收入", Type: Int, Owner: Station, check: checkMoney},
		{Name: "reason", Label: "申请理由", Type: Text, Owner: Station, Required: true, MaxLen: 2000},
		{Name: "amount_requested_fen", Label: "申请金额", Type: Int, Owner: Station, check: checkMoney},
		{Name: "documents", Label: "证明材料", Type: JSON, Owner: Station, check: checkHashes},
		{Name: "status", Label: "状态", Type: Text, Owner: County, Enum: AppStatuses},
		{Name: "reviewer_comment", Label: "审核意见", Type: Text, Owner: County, MaxLen: 2000},
		{Name: "approved_amount_fen", Label: "批准金额", Type: Int, Owner: County, check: checkMoney},
		{Name: "approved_from", Label: "起始月份", Type: Text, Owner: County, check: checkMonth},
		// Documents the county attached to its decisions (a return notice,
		// an approval letter): a JSON list of hashes like documents,
		// growing with each decision that carries one. The station fetches
		// them (PROTOCOL.md §15.5); they are never public.
		{Name: "decision_documents", Label: "县里的决定文件", Type: JSON, Owner: County, check: checkDecisionDocuments},
	}},
	Disclosure: {Kind: Disclosure, Table: "disclosures", Label: "村务公开", Fields: []Field{
		{Name: "category", Label: "类别", Type: Text, Owner: Station, Required: true, Enum: DisclosureKinds},
		{Name: "title", Label: "标题", Type: Text, Owner: Station, Required: true, MaxLen: 200},
		{Name: "body", Label: "正文", Type: Text, Owner: Station, Required: true, MaxLen: 20000},
		{Name: "attachments", Label: "附件", Type: JSON, Owner: Station, check: checkHashes},
		{Name: "publish_from", Label: "公开开始日期", Type: Text, Owner: Station, check: checkDate},
		{Name: "publish_until", Label: "公开截止日期", Type: Text, Owner: Station, check: checkDate},
		{Name: "reviewer", Label: "审核人", Type: Text, Owner: Station, MaxLen: 50},
		{Name: "status", Label: "状态", Type: Text, Owner: Both, Enum: DisclosureStatuses},
		// The mobile numbers in the text that the publisher marked as the
		// notice's public contact (a 村会计's phone on a financial notice):
		// shown whole on the notice board and the county's portal, while
		// every other personal number is masked as before (publish.go).
		{Name: "public_numbers", Label: "公开的联系电话", Type: JSON, Owner: Station, check: checkPublicNumbers},
	}},
}

func init() {
	for _, s := range schemas {
		s.index = make(map[string]int, len(s.Fields))
		for i, f := range s.Fields {
			s.index[f.Name] = i
		}
	}
}

// SchemaOf returns the schema of kind, or nil for an unknown kind.
func SchemaOf(k Kind) *Schema { return schemas[k] }

// FieldError is a validation failure of one field, with a message in
// Chinese that says what to do.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Fields are a record's values by field name, as JSON.
type Fields map[string]json.RawMessage

// Decode parses one field's JSON into the Go value used by validation:
// string, int64, []any or map[string]any; nil for JSON null.
func Decode(f Field, raw json.RawMessage) (any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	switch f.Type {
	case Text:
		s, err := decodeText(raw)
		if err != nil {
			return nil, fmt.Errorf("应为文字")
		}
		return s, nil
	case Int:
		n, err := decodeInt(raw)
		if err != nil {
			return nil, fmt.Errorf("应为整数")
		}
		return n, nil
	default:
		if items, _, ok := plainStrings(raw); ok {
			return items, nil
		}
		d := json.NewDecoder(bytes.NewReader(raw))
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, fmt.Errorf("格式不正确")
		}
		switch v.(type) {
		case []any, map[string]any:
			return v, nil
		}
		return nil, fmt.Errorf("应为列表或对象")
	}
}

// Validate checks the fields of a change against the schema. With create
// set, required fields must be present. It returns the first problem as a
// *FieldError.
func Validate(k Kind, fields Fields, create bool) error {
	s := SchemaOf(k)
	if s == nil {
		return &FieldError{Message: fmt.Sprintf("未知的记录类型 %q", k)}
	}
	for name := range fields {
		if _, ok := s.Field(name); !ok {
			return &FieldError{Field: name, Message: fmt.Sprintf("%s没有字段 %q", s.Label, name)}
		}
	}
	for _, f := range s.Fields {
		raw, present := fields[f.Name]
		v, err := Decode(f, raw)
		if err != nil {
			return &FieldError{Field: f.Name, Message: f.Label + err.Error()}
		}
		if f.Required && (create || present) && isEmpty(v) {
			// A choice is chosen, not written: the form shows it as a list
			// or as buttons, and the message names what to do there.
			if len(f.Enum) > 0 {
				return &FieldError{Field: f.Name, Message: "请选择" + f.Label}
			}
			return &FieldError{Field: f.Name, Message: "请填写" + f.Label}
		}
		if v == nil {
			continue
		}
		if msg := checkValue(f, v); msg != "" {
			return &FieldError{Field: f.Name, Message: msg}
		}
	}
	return nil
}

// MsgVisitSituation says what makes a visit a visit.
const MsgVisitSituation = "请填写基本情况：这次走访看到的情况。"

// CheckEntry applies the rules for a record entered at a station now, on
// top of Validate: a visit must say what the cadre saw (基本情况), or an
// untouched form would count as a visit and take the person off the
// overdue list. The county's merge does not apply these rules to what
// arrives: older stations saved records they refuse, and refusing those
// now would only strand them in the stations' outboxes; the county's
// follow-up lists do not count a visit without content instead.
func CheckEntry(k Kind, fields Fields, create bool) error {
	if k == Visit {
		if _, present := fields["situation"]; (create || present) && strings.TrimSpace(TextValue(fields, "situation")) == "" {
			return &FieldError{Field: "situation", Message: MsgVisitSituation}
		}
	}
	return nil
}

func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(v) == ""
	case []any:
		return len(v) == 0
	}
	return false
}

func checkValue(f Field, v any) string {
	switch v := v.(type) {
	case string:
		if f.MaxLen > 0 && utf8.RuneCountInString(v) > f.MaxLen {
			return fmt.Sprintf("%s不能超过%d个字", f.Label, f.MaxLen)
		}
		if !utf8.ValidString(v) {
			return f.Label + "含有无效字符"
		}
		if len(f.Enum) > 0 && v != "" && !slices.Contains(f.Enum, v) {
			return fmt.Sprintf("%s只能是：%s", f.Label, strings.Join(f.Enum, "、"))
		}
	case []any:
		if len(f.Enum) > 0 {
			for _, it := range v {
				s, _ := it.(string)
				if !slices.Contains(f.Enum, s) {
					return fmt.Sprintf("%s只能从以下选择：%s", f.Label, strings.Join(f.Enum, "、"))
				}
			}
		}
	}
	if f.check != nil {
		return f.check(v)
	}
	return ""
}

// Equal reports whether two JSON values are the same value (the encodings
// may differ in spacing).
func Equal(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	return bytes.Equal(Canonical(a), Canonical(b))
}

// Canonical re-encodes JSON compactly with sorted object keys, so that
// equal values compare equal; "" and null both mean no value.
func Canonical(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	if _, canonical, ok := plainStrings(raw); ok && canonical {
		return raw
	}
	return canonicalJSON(raw)
}

// canonicalJSON is Canonical through encoding/json, for any value.
func canonicalJSON(raw json.RawMessage) json.RawMessage {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return raw
	}
	out, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return out
}
