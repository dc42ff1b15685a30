package web

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"stationsync/internal/idcard"
	"stationsync/internal/pii"
	"stationsync/internal/records"
	"stationsync/internal/zone"
	"stationsync/server"
)

// What the pages show of the store's values. The store hands them over as
// stored (server.List, server.FollowUp: JSON lists, fen, unix milliseconds,
// status codes, numbers whole); here, in one place, they become what staff
// read: labels, lists joined with 、, money in yuan, times in the display
// zone, and ID and phone numbers masked for a user who may not see them
// whole.

// disclosureStatusLabel is the Chinese name of a disclosure status.
var disclosureStatusLabel = map[string]string{"draft": "草稿", "published": "已发布", "withdrawn": "已撤回"}

// listCells turns the cells of a list's row (server.Columns) from stored
// values into what staff read, in place: labels, lists joined, money in
// yuan, masked numbers.
func listCells(kind records.Kind, c []string, mask bool) {
	switch kind {
	case records.Person:
		if mask {
			c[2] = idcard.Mask(c[2])
			c[4] = maskPhone(c[4])
			c[5] = pii.MaskText(c[5])
		}
		c[3] = joinList(c[3])
	case records.Visit:
		c[4] = joinList(c[4])
		c[5] = joinList(c[5])
	case records.Application:
		c[3] = statusLabel(c[3])
		c[4] = fenText(c[4])
		c[5] = fenText(c[5])
		c[7] = msText(c[7])
	case records.Disclosure:
		if mask {
			// Title and reviewer are free text, and cadres write names
			// and numbers into them ("关于王秀英（3401…）的公示").
			c[2], c[5] = pii.MaskText(c[2]), pii.MaskText(c[5])
		}
		if l, ok := disclosureStatusLabel[c[6]]; ok {
			c[6] = l
		}
	}
}

// followCells does for a follow-up list's row (server.FollowUpColumns)
// what listCells does for a list's.
func followCells(k server.FollowUpKind, c []string, mask bool) {
	switch k {
	case server.FollowOverdue:
		c[2] = joinList(c[2])
		if c[3] == "" {
			c[3] = "从未走访"
		}
	case server.FollowUrgent:
		c[3] = joinList(c[3])
		if mask {
			c[4] = pii.MaskText(c[4])
		}
	case server.FollowReview:
		c[3] = fenText(c[3])
	}
}

// lastErrorText is a station's last failure as the stations page shows it.
func lastErrorText(e server.StationError) string {
	if e.At.IsZero() {
		return "" // none
	}
	return zone.In(e.At).Format("01-02 15:04") + " " + e.Reason
}

func maskPhone(s string) string {
	if s == "" {
		return ""
	}
	return idcard.MaskPhone(s)
}

func statusLabel(s string) string {
	if l, ok := records.StatusLabel[s]; ok {
		return l
	}
	return s
}

func joinList(s string) string {
	if s == "" {
		return ""
	}
	var list []string
	if json.Unmarshal([]byte(s), &list) != nil {
		return s
	}
	return strings.Join(list, "、")
}

func fenText(s string) string {
	if s == "" {
		return ""
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return s
	}
	return strconv.FormatFloat(float64(n)/100, 'f', 2, 64)
}

func msText(s string) string {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return s
	}
	return zone.MinuteMs(n)
}

// maskText masks every ID or mobile number inside free text, in any
// spelling (internal/pii, which the station's print view uses too).
func maskText(s string) string { return pii.MaskText(s) }

// displayValue turns a field's JSON value into text.
func displayValue(name string, raw json.RawMessage, mask bool) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch {
		case name == "status":
			if l, ok := records.StatusLabel[s]; ok {
				return l
			}
			if l, ok := disclosureStatusLabel[s]; ok {
				return l
			}
		case mask && name == "id_number":
			return idcard.Mask(s)
		case mask && name == "phone":
			return idcard.MaskPhone(s)
		case mask:
			return maskText(s)
		}
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		if isFileField(name) {
			// Hashes mean nothing to staff: the 附件 section shows the
			// files themselves.
			if len(list) == 0 {
				return ""
			}
			return strconv.Itoa(len(list)) + " 个文件"
		}
		return strings.Join(list, "、")
	}
	var n int64
	if json.Unmarshal(raw, &n) == nil && strings.HasSuffix(name, "_fen") {
		return fmt.Sprintf("%.2f 元", float64(n)/100)
	}
	out := string(records.Canonical(raw))
	if mask {
		out = maskText(out)
	}
	return out
}

func displayMask(name, s string) string {
	switch name {
	case "id_number":
		return idcard.Mask(s)
	case "phone":
		return idcard.MaskPhone(s)
	}
	return maskText(s)
}

// tableView is a JSON list of people (家庭成员, 外出务工, 监护人) as rows.
type tableView struct {
	Head []string
	Rows [][]string
}

// peopleColumns are the columns of each list of people, in order.
var peopleColumns = map[string][][2]string{
	"members":     {{"name", "姓名"}, {"relation", "关系"}, {"id_number", "公民身份号码"}, {"income_fen", "月收入"}},
	"family_away": {{"name", "姓名"}, {"relation", "关系"}, {"location", "务工地"}, {"phone", "联系电话"}},
	"guardian":    {{"name", "姓名"}, {"relation", "关系"}, {"phone", "联系电话"}},
}

// peopleTable turns a list (or one object) of people into a table, numbers
// masked unless full; nil when the value is not such a list.
func peopleTable(name string, raw json.RawMessage, mask bool) *tableView {
	cols, ok := peopleColumns[name]
	if !ok || len(raw) == 0 {
		return nil
	}
	var list []map[string]json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		var one map[string]json.RawMessage
		if json.Unmarshal(raw, &one) != nil || one == nil {
			return nil
		}
		list = []map[string]json.RawMessage{one}
	}
	if len(list) == 0 {
		return nil
	}
	t := &tableView{}
	for _, c := range cols {
		t.Head = append(t.Head, c[1])
	}
	for _, m := range list {
		var row []string
		for _, c := range cols {
			row = append(row, displayValue(c[0], m[c[0]], mask))
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}
