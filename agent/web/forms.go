package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"stationsync/internal/pii"
	"stationsync/internal/records"
)

// form is what a cadre typed and what is wrong with it: a rejected form is
// shown again with every value kept and each message next to its field.
type form struct {
	Values url.Values
	Errors map[string]string
	Rows   []int // indexes of repeated rows (family members …)
	// dup is the record the values typed would register again (a person
	// whose ID number is on file), for the page to link to.
	dup string
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

// rowsFor numbers the repeated rows of a form: those filled in, two empty
// ones to add to, and at least min.
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

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
