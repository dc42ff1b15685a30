package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"stationsync/agent"
	"stationsync/internal/idcard"
	"stationsync/internal/pii"
	"stationsync/internal/records"
)

// form is what a cadre typed and what is wrong with it: a rejected form is
// shown again with every value kept and each message next to its field.
type form struct {
	Values url.Values
	Errors map[string]string
	Rows   []int // indexes of repeated rows (family members …)
}

func newForm(v url.Values) *form {
	if v == nil {
		v = url.Values{}
	}
	return &form{Values: v, Errors: map[string]string{}}
}

// Get returns a typed value.
func (f *form) Get(name string) string { return f.Values.Get(name) }

// Row returns the value of a repeated field in row i.
func (f *form) Row(name string, i int) string { return f.Values.Get(name + "_" + strconv.Itoa(i)) }

// Has reports whether a checkbox or radio value is chosen.
func (f *form) Has(name, value string) bool { return contains(f.Values[name], value) }

// Err returns the message for a field, "" if it is fine.
func (f *form) Err(name string) string { return f.Errors[name] }

// OK reports whether nothing is wrong.
func (f *form) OK() bool { return len(f.Errors) == 0 }

func (f *form) fail(field, msg string) {
	if _, ok := f.Errors[field]; !ok {
		f.Errors[field] = msg
	}
}

// parseForm reads a posted form of at most 1 MiB.
func parseForm(r *http.Request) (url.Values, error) {
	r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	return r.PostForm, nil
}

// postedForm is parseForm for a handler that needs the form: it answers
// 400 itself when the form cannot be read and reports false.
func postedForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	v, err := parseForm(r)
	if err != nil {
		http.Error(w, "表单无法读取（内容太大或已损坏），请返回上一页重新填写。", http.StatusBadRequest)
		return nil, false
	}
	return v, true
}

func trimmed(v url.Values, name string) string { return strings.TrimSpace(v.Get(name)) }

func jtext(s string) json.RawMessage { return records.JSONText(s) }

func jvalue(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// validateFields checks each field on its own against the schema, so that
// every wrong field gets its message, not only the first.
func validateFields(kind records.Kind, fields records.Fields, f *form) {
	for name, v := range fields {
		if err := records.Validate(kind, records.Fields{name: v}, false); err != nil {
			var fe *records.FieldError
			if errors.As(err, &fe) {
				f.fail(name, fe.Message)
			} else {
				f.fail(name, err.Error())
			}
		}
	}
}

// fieldErr attaches an error returned by the store to its field, or to
// the form as a whole.
func fieldErr(f *form, err error) bool {
	var fe *records.FieldError
	if errors.As(err, &fe) {
		field := fe.Field
		if field == "" {
			field = "_form"
		}
		f.fail(field, fe.Message)
		return true
	}
	return false
}

// checkPhone checks a contact number and returns it in its stored form
// ("13905510456", "0551-66661234"), or fails field with what to type.
func checkPhone(f *form, field, v string) string {
	norm, msg := pii.Phone(v)
	if msg != "" {
		f.fail(field, msg)
		return v
	}
	f.Values.Set(field, norm)
	return norm
}

// pinText turns the full-width digits of a Chinese input method into
// ASCII: every PIN ever set is ASCII digits, so nothing else changes.
func pinText(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '０' && r <= '９' {
			return r - '０' + '0'
		}
		return r
	}, s)
}

// msgPINRule says what a PIN may be, for a PIN with anything but digits.
var msgPINRule = fmt.Sprintf("密码只能是 %d 到 %d 位数字（0–9），不能有字母、空格或符号", agent.MinPINDigits, agent.MaxPINDigits)

// newPINProblem is what is wrong with a new PIN, in words that say what is
// allowed, or "".
func newPINProblem(pin string) string {
	if strings.Trim(pin, "0123456789") != "" {
		return msgPINRule
	}
	if n := len(pin); n < agent.MinPINDigits || n > agent.MaxPINDigits {
		return fmt.Sprintf("密码应为 %d 到 %d 位数字，现在是 %d 位", agent.MinPINDigits, agent.MaxPINDigits, n)
	}
	return ""
}

func checkDate(f *form, field, v string) (time.Time, bool) {
	if v == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		f.fail(field, "日期格式应为 2026-01-31")
		return time.Time{}, false
	}
	return t, true
}

// parseYuan reads an amount typed in yuan ("300", "300.5", "￥300元") as
// fen; "" is no amount.
func parseYuan(f *form, field, s string) (int64, bool) {
	s = strings.TrimSpace(s)
	s = strings.NewReplacer("￥", "", "¥", "", "元", "", ",", "", "，", "", " ", "").Replace(s)
	if s == "" {
		return 0, false
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" {
		whole = "0"
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w < 0 || len(frac) > 2 || strings.Trim(frac, "0123456789") != "" {
		f.fail(field, "金额请填数字，如 300 或 300.50")
		return 0, false
	}
	for len(frac) < 2 {
		frac += "0"
	}
	c, _ := strconv.ParseInt(frac, 10, 64)
	if w > 100_000_000 {
		f.fail(field, "金额超出范围")
		return 0, false
	}
	return w*100 + c, true
}

func fenToYuan(raw json.RawMessage) string {
	var n int64
	if json.Unmarshal(raw, &n) != nil {
		return ""
	}
	if n%100 == 0 {
		return strconv.FormatInt(n/100, 10)
	}
	return fmt.Sprintf("%d.%02d", n/100, n%100)
}

// splitNames splits "张三、李四,王五" into names.
func splitNames(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool {
		return r == '、' || r == ',' || r == '，' || r == ' ' || r == '　' || r == ';' || r == '；'
	}) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// changed keeps the fields whose value differs from the record's, so an
// edit sends the county only what the cadre changed (and cannot lose an
// untouched field to somebody else's edit).
func changed(old, fields records.Fields) records.Fields {
	out := records.Fields{}
	for k, v := range fields {
		o, had := old[k]
		if had && records.Equal(o, v) {
			continue
		}
		if !had && (string(records.Canonical(v)) == `""` || string(records.Canonical(v)) == "[]" || string(records.Canonical(v)) == "{}" || string(records.Canonical(v)) == "null") {
			continue
		}
		out[k] = v
	}
	return out
}

// ---- persons ----

const familyRows = 4

func personFormFrom(fields records.Fields) *form {
	v := url.Values{}
	for _, n := range []string{"name", "id_number", "phone", "address", "health", "status", "exit_reason"} {
		v.Set(n, records.TextValue(fields, n))
	}
	var cats []string
	json.Unmarshal(fields["categories"], &cats)
	v["categories"] = cats
	var g map[string]string
	if json.Unmarshal(fields["guardian"], &g) == nil {
		v.Set("guardian_name", g["name"])
		v.Set("guardian_relation", g["relation"])
		v.Set("guardian_phone", g["phone"])
	}
	var fam []map[string]string
	json.Unmarshal(fields["family_away"], &fam)
	for i, m := range fam {
		for _, k := range []string{"name", "relation", "location", "phone"} {
			v.Set("fa_"+k+"_"+strconv.Itoa(i), m[k])
		}
	}
	f := newForm(v)
	f.Rows = rowsFor(len(fam), familyRows)
	return f
}

func rowsFor(have, min int) []int {
	n := have + 2
	if n < min {
		n = min
	}
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// personFields reads the person form; it returns the fields and the form
// with its messages.
func personFields(v url.Values, create bool) (records.Fields, *form) {
	f := newForm(v)
	fields := records.Fields{}
	name := trimmed(v, "name")
	fields["name"] = jtext(name)
	id := idcard.Normalize(v.Get("id_number"))
	v.Set("id_number", id)
	if id == "" {
		f.fail("id_number", "请填写公民身份号码")
	}
	fields["id_number"] = jtext(id)
	cats := v["categories"]
	if len(cats) == 0 {
		f.fail("categories", "请至少选择一个类别")
	}
	fields["categories"] = jvalue(nonNil(cats))
	fields["phone"] = jtext(checkPhone(f, "phone", v.Get("phone")))
	fields["address"] = jtext(trimmed(v, "address"))
	fields["health"] = jtext(trimmed(v, "health"))
	if gn := trimmed(v, "guardian_name"); gn != "" || trimmed(v, "guardian_phone") != "" {
		if gn == "" {
			f.fail("guardian_name", "请填写监护人姓名")
		}
		gp := checkPhone(f, "guardian_phone", v.Get("guardian_phone"))
		fields["guardian"] = jvalue(map[string]string{"name": gn, "relation": trimmed(v, "guardian_relation"), "phone": gp})
	} else if !create {
		fields["guardian"] = json.RawMessage("{}")
	}
	fam := []map[string]string{}
	n := 0
	for i := 0; i < 30; i++ {
		k := strconv.Itoa(i)
		row := map[string]string{}
		for _, c := range []string{"name", "relation", "location", "phone"} {
			row[c] = trimmed(v, "fa_"+c+"_"+k)
		}
		if v.Get("fa_name_"+k) != "" || row["relation"] != "" || row["location"] != "" || row["phone"] != "" {
			n = i + 1
			if row["name"] == "" {
				f.fail("fa_name_"+k, "请填写姓名")
			}
			row["phone"] = checkPhone(f, "fa_phone_"+k, row["phone"])
			if row["name"] != "" {
				m := map[string]string{"name": row["name"], "relation": row["relation"]}
				if row["location"] != "" {
					m["location"] = row["location"]
				}
				if row["phone"] != "" {
					m["phone"] = row["phone"]
				}
				fam = append(fam, m)
			}
		}
	}
	fields["family_away"] = jvalue(fam)
	f.Rows = rowsFor(n, familyRows)
	if create {
		fields["status"] = jtext("在册")
	}
	validateFields(records.Person, fields, f)
	return fields, f
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// ---- visits ----

// visitFormFrom fills the visit form from a saved visit, for a correction.
func visitFormFrom(fields records.Fields) *form {
	v := url.Values{}
	for _, n := range []string{"visited_on", "method", "situation", "risk", "measures", "next_due"} {
		v.Set(n, records.TextValue(fields, n))
	}
	var names, needs []string
	json.Unmarshal(fields["visitors"], &names)
	json.Unmarshal(fields["needs"], &needs)
	v.Set("visitors", strings.Join(names, "、"))
	v["needs"] = needs
	return newForm(v)
}

func visitFields(v url.Values, personID, today string) (records.Fields, *form) {
	f := newForm(v)
	fields := records.Fields{"person_id": jtext(personID)}
	on := trimmed(v, "visited_on")
	if t, ok := checkDate(f, "visited_on", on); ok && t.Format(time.DateOnly) > today {
		f.fail("visited_on", "走访日期不能晚于今天")
	}
	fields["visited_on"] = jtext(on)
	fields["visitors"] = jvalue(nonNil(splitNames(v.Get("visitors"))))
	fields["method"] = jtext(v.Get("method"))
	fields["situation"] = jtext(trimmed(v, "situation"))
	if trimmed(v, "situation") == "" {
		f.fail("situation", records.MsgVisitSituation)
	}
	fields["needs"] = jvalue(nonNil(v["needs"]))
	fields["risk"] = jtext(v.Get("risk"))
	fields["measures"] = jtext(trimmed(v, "measures"))
	due := trimmed(v, "next_due")
	if t, ok := checkDate(f, "next_due", due); ok && on != "" && t.Format(time.DateOnly) <= on {
		f.fail("next_due", "下次走访日期应晚于本次走访日期")
	}
	if due != "" {
		fields["next_due"] = jtext(due)
	}
	if v.Get("risk") == "紧急" && trimmed(v, "measures") == "" {
		f.fail("measures", "紧急情况请填写已采取的帮扶措施")
	}
	validateFields(records.Visit, fields, f)
	return fields, f
}

// ---- applications ----

const memberRows = 4

func appFormFrom(fields records.Fields) *form {
	v := url.Values{}
	v.Set("type", records.TextValue(fields, "type"))
	v.Set("reason", records.TextValue(fields, "reason"))
	v.Set("household_income", fenToYuan(fields["household_income_fen"]))
	v.Set("amount_requested", fenToYuan(fields["amount_requested_fen"]))
	var ms []map[string]any
	json.Unmarshal(fields["members"], &ms)
	for i, m := range ms {
		k := strconv.Itoa(i)
		s, _ := m["name"].(string)
		v.Set("m_name_"+k, s)
		s, _ = m["relation"].(string)
		v.Set("m_relation_"+k, s)
		s, _ = m["id_number"].(string)
		v.Set("m_id_"+k, s)
		if inc, ok := m["income_fen"].(float64); ok {
			v.Set("m_income_"+k, fenToYuan(jvalue(int64(inc))))
		}
	}
	f := newForm(v)
	f.Rows = rowsFor(len(ms), memberRows)
	return f
}

func appFields(v url.Values, applicantID string) (records.Fields, *form) {
	f := newForm(v)
	fields := records.Fields{"applicant_id": jtext(applicantID)}
	fields["type"] = jtext(v.Get("type"))
	fields["reason"] = jtext(trimmed(v, "reason"))
	if fen, ok := parseYuan(f, "household_income", v.Get("household_income")); ok {
		fields["household_income_fen"] = jvalue(fen)
	}
	if fen, ok := parseYuan(f, "amount_requested", v.Get("amount_requested")); ok {
		fields["amount_requested_fen"] = jvalue(fen)
	}
	members := []map[string]any{}
	n := 0
	for i := 0; i < 30; i++ {
		k := strconv.Itoa(i)
		name, rel := trimmed(v, "m_name_"+k), trimmed(v, "m_relation_"+k)
		id := idcard.Normalize(v.Get("m_id_" + k))
		inc := v.Get("m_income_" + k)
		if name == "" && rel == "" && id == "" && strings.TrimSpace(inc) == "" {
			continue
		}
		n = i + 1
		if name == "" {
			f.fail("m_name_"+k, "请填写姓名")
		}
		m := map[string]any{"name": name, "relation": rel}
		if id != "" {
			v.Set("m_id_"+k, id)
			if err := idcard.Validate(id); err != nil {
				f.fail("m_id_"+k, err.Error())
			}
			m["id_number"] = id
		}
		if fen, ok := parseYuan(f, "m_income_"+k, inc); ok {
			m["income_fen"] = fen
		}
		members = append(members, m)
	}
	fields["members"] = jvalue(members)
	f.Rows = rowsFor(n, memberRows)
	validateFields(records.Application, fields, f)
	if e, ok := f.Errors["household_income_fen"]; ok {
		f.fail("household_income", e)
	}
	if e, ok := f.Errors["amount_requested_fen"]; ok {
		f.fail("amount_requested", e)
	}
	return fields, f
}

// ---- disclosures ----

func discFormFrom(fields records.Fields) *form {
	v := url.Values{}
	for _, n := range []string{"category", "title", "body", "publish_from", "publish_until", "reviewer"} {
		v.Set(n, records.TextValue(fields, n))
	}
	v["public_marked"] = records.PublicNumbers(fields)
	return newForm(v)
}

// numberChoice is one mobile number of a disclosure's text, offered for
// its publisher to mark as the notice's public contact. The page shows it
// masked with the words before it ("村会计，电话 139****0456") and posts a
// keyed tag of it: a full number never stands in a station page that
// nobody marked public, not even in a box's value.
type numberChoice struct {
	Tag            string
	Before, Masked string
	Checked        bool
}

// numberChoices lists the mobile numbers of a disclosure's text in the
// order records.PublicNumbersIn finds them, those in marked ticked.
func numberChoices(title, body, reviewer string, marked []string) []numberChoice {
	var out []numberChoice
	seen := map[string]bool{}
	for _, t := range []string{title, body, reviewer} {
		for _, sp := range pii.FindNumbers(t) {
			if sp.Kind != pii.Mobile || seen[sp.Number] {
				continue
			}
			seen[sp.Number] = true
			out = append(out, numberChoice{Tag: numberTag(sp.Number), Before: wordsBefore(t[:sp.Start]), Masked: sp.Masked, Checked: contains(marked, sp.Number)})
		}
	}
	return out
}

// wordsBefore is what names a number: the words before it in its
// sentence, at most 12 characters, numbers in them masked.
func wordsBefore(s string) string {
	if i := strings.LastIndexAny(s, "。；;！!？?\n"); i >= 0 {
		_, size := utf8.DecodeRuneInString(s[i:])
		s = s[i+size:]
	}
	r := []rune(pii.MaskText(s))
	r = r[max(0, len(r)-12):]
	return strings.TrimLeft(strings.TrimSpace(string(r)), "，,、：:")
}

// tagKey keys the tags of offered numbers. Made at start: a page drawn
// before a restart asks for its boxes to be ticked again.
var tagKey = func() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(err)
	}
	return k
}()

// numberTag names a number in a page without giving it away: a keyed
// hash, so that the few digits a masked number hides cannot be guessed
// from it.
func numberTag(n string) string {
	m := hmac.New(sha256.New, tagKey)
	m.Write([]byte(n))
	return hex.EncodeToString(m.Sum(nil)[:10])
}

// publicNumbers reads the ticked 公开 boxes: the mobile numbers of the
// text that its publisher marks as the notice's contact. A tick counts
// only for a number the text (as it is saved now) still holds.
func publicNumbers(v url.Values, title, body, reviewer string) []string {
	out := []string{}
	ticked := v["public_numbers"]
	for _, n := range records.PublicNumbersIn(title, body, reviewer) {
		if contains(ticked, numberTag(n)) {
			out = append(out, n)
		}
	}
	return out
}

func discFields(v url.Values) (records.Fields, *form) {
	f := newForm(v)
	fields := records.Fields{}
	fields["category"] = jtext(v.Get("category"))
	fields["title"] = jtext(trimmed(v, "title"))
	fields["body"] = jtext(strings.TrimSpace(strings.ReplaceAll(v.Get("body"), "\r\n", "\n")))
	from, until := trimmed(v, "publish_from"), trimmed(v, "publish_until")
	_, okF := checkDate(f, "publish_from", from)
	_, okU := checkDate(f, "publish_until", until)
	if okF && okU && until < from {
		f.fail("publish_until", "公开截止日期不能早于开始日期")
	}
	fields["publish_from"] = jtext(from)
	fields["publish_until"] = jtext(until)
	fields["reviewer"] = jtext(trimmed(v, "reviewer"))
	nums := publicNumbers(v, trimmed(v, "title"), records.TextValue(fields, "body"), trimmed(v, "reviewer"))
	fields["public_numbers"] = jvalue(nums)
	v["public_marked"] = nums
	validateFields(records.Disclosure, fields, f)
	return fields, f
}
