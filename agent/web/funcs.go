package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"stationsync/internal/idcard"
	"stationsync/internal/pii"
	"stationsync/internal/records"
	"stationsync/internal/zone"
)

var funcs = template.FuncMap{
	"phoneTownship": phoneTownship,
	"maskID":        idcard.Mask,
	"maskPhone":     idcard.MaskPhone,
	"maskText":      pii.MaskText, // the county's pages and public portal use the same
	"time":          fmtTime,
	// stationClock: the station learned offsetMs = county − local, so a
	// positive offset is a clock running behind.
	"stationClock": func(offsetMs int64) string {
		return zone.ClockText("本机", -time.Duration(offsetMs)*time.Millisecond)
	},
	"yuanOpt": func(v any) string {
		if v == nil {
			return ""
		}
		return yuan(v)
	},
	"fen": func(raw json.RawMessage) string {
		var n int64
		if len(raw) == 0 || json.Unmarshal(raw, &n) != nil {
			return "—"
		}
		return yuan(n)
	},
	// appAmount is an application's amount with its meaning for the
	// type, as the county shows it: "每月 650.00 元，自 2026-01 起",
	// "一次性 800.00 元".
	"appAmount": func(f records.Fields, field string) string {
		var fen int64
		if raw := f[field]; len(raw) == 0 || json.Unmarshal(raw, &fen) != nil {
			return "—"
		}
		from := ""
		if field == "approved_amount_fen" {
			from = records.TextValue(f, "approved_from")
		}
		return records.AmountText(records.TextValue(f, "type"), fen, from)
	},
	// amount is appAmount for a list row: the amount asked for, by type.
	"amount":     func(typ string, fen int64) string { return records.AmountText(typ, fen, "") },
	"statusCN":   func(s string) string { return orDash(records.StatusLabel[s]) },
	"discStatus": discStatusLabel,
	"join":       func(l []string) string { return strings.Join(l, "、") },
	"has":        func(l []string, s string) bool { return contains(l, s) },
	"add":        func(a, b int) int { return a + b },
	"list":       func(s ...string) []string { return s },
	"fieldLabel": fieldLabel,
	"kindCN":     kindLabel,
	"opCN":       opLabel,
	"origin":     originLabel,
	"jsonText":   jsonText,
	"recordURL":  recordURL,
	"overdue":    func(due, today string) bool { return due != "" && due < today },
	"nl2br": func(s string) template.HTML {
		return template.HTML(strings.ReplaceAll(template.HTMLEscapeString(s), "\n", "<br>"))
	},
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
	// The contact numbers a publisher may mark as public, and a
	// disclosure's text as the notice board shows it (masked but those).
	// numberChoices offers the mobile numbers of a disclosure's text for
	// marking (forms.go); marked are the numbers already marked.
	"numberChoices": numberChoices,
	"choicesOf": func(f records.Fields, marked []string) []numberChoice {
		return numberChoices(records.TextValue(f, "title"), records.TextValue(f, "body"), records.TextValue(f, "reviewer"), append(marked, records.PublicNumbers(f)...))
	},
	"publicOf": records.PublicNumbers,
	"field":    records.TextValue,
	"maskDisc": func(f records.Fields, name string) string {
		return records.MaskDisclosure(f, records.TextValue(f, name))
	},
	// maskPublic is maskDisc for a list row, which carries the numbers
	// marked public beside its text.
	"maskPublic": pii.MaskTextExcept,
	"phoneGroups": func(n string) string {
		if len(n) == 11 {
			return n[:3] + " " + n[3:7] + " " + n[7:]
		}
		return n
	},
	// publishProblem is why a disclosure could not be published as it
	// stands (a personal number in its text), or "".
	"publishProblem": func(f records.Fields) string {
		if fe := records.PublicationProblem(f); fe != nil {
			return fe.Message
		}
		return ""
	},
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func fmtTime(ms int64) string {
	if ms <= 0 {
		return "—"
	}
	return zone.MinuteMs(ms)
}

func yuan(v any) string {
	var fen int64
	switch x := v.(type) {
	case int64:
		fen = x
	case int:
		fen = int64(x)
	case float64:
		fen = int64(x)
	default:
		return "—"
	}
	if fen%100 == 0 {
		return strconv.FormatInt(fen/100, 10) + " 元"
	}
	return fmt.Sprintf("%d.%02d 元", fen/100, fen%100)
}

var discStatusLabels = map[string]string{"": "草稿", "draft": "草稿", "published": "已发布", "withdrawn": "已撤回"}

func discStatusLabel(s string) string { return discStatusLabels[s] }

var kindLabels = map[string]string{"person": "关爱对象", "visit": "走访记录", "application": "救助申请", "disclosure": "村务公开"}

func kindLabel(k string) string { return orDash(kindLabels[k]) }

var opLabels = map[string]string{"upsert": "保存", "submit": "提交", "resubmit": "重新提交", "withdraw": "撤回",
	"accept": "受理", "review": "审核", "approve": "批准", "reject": "不予批准", "return": "退回补充"}

func opLabel(op string) string {
	if l, ok := opLabels[op]; ok {
		return l
	}
	return op
}

func originLabel(o string) string {
	switch {
	case o == "county":
		return "县里"
	case strings.HasPrefix(o, "st_"), o == "":
		return "村站"
	}
	return o
}

func fieldLabel(kind, field string) string {
	if sc := records.SchemaOf(records.Kind(kind)); sc != nil {
		if f, ok := sc.Field(field); ok {
			return f.Label
		}
	}
	return field
}

// jsonText shows a field value for a person: strings as they are, lists
// joined, anything else as compact JSON.
func jsonText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var l []string
	if json.Unmarshal(raw, &l) == nil {
		return strings.Join(l, "、")
	}
	if len(raw) == 0 || string(raw) == "null" {
		return "（空）"
	}
	return string(raw)
}

func recordURL(kind, id string) string {
	switch kind {
	case "person":
		return "/persons/" + id
	case "visit":
		return "/visits/" + id
	case "application":
		return "/applications/" + id
	case "disclosure":
		return "/disclosures/" + id
	}
	return "/"
}
