package records

import (
	"fmt"
	"strings"

	"stationsync/internal/pii"
)

// MsgNumberAdvice is what the cadre is told to do about a personal number
// in a notice.
const MsgNumberAdvice = "公开前请删去或只写后四位。"

// CheckPublication refuses a disclosure that is published (status
// "published") while its title, body or reviewer holds a citizen ID number or a
// mobile number in any spelling (see internal/pii). fields is the record as
// it will be after the change, not the change alone: publishing changes
// only the status, and editing a published notice only its text.
//
// The station calls it before saving, so the cadre learns at the notice
// board's own PC, before anything is printed or sent, which number to take
// out. The county's public portal masks numbers anyway, as a second line:
// an older station, or one that published before this check, may still
// send one.
//
// A contact number the publisher deliberately makes public (a 村会计's
// mobile on a financial notice, issue 14 item 14) is not supported yet;
// it would be a separate field, excluded here and from the portal's
// masking, rather than an exception inside the body text.
func CheckPublication(fields Fields) error {
	if TextValue(fields, "status") != "published" {
		return nil
	}
	if fe := PublicationProblem(fields); fe != nil {
		return fe
	}
	return nil
}

// PublicationProblem is why a disclosure could not be published as it
// stands, whatever its status, or nil: the station shows it on a draft, so
// the cadre can fix the text before the supervisor signs it off.
func PublicationProblem(fields Fields) *FieldError {
	for _, f := range []struct{ name, label string }{{"title", "标题"}, {"body", "正文"}, {"reviewer", "审核人"}} {
		if msg := numbersMessage(f.label, TextValue(fields, f.name)); msg != "" {
			return &FieldError{Field: f.name, Message: msg}
		}
	}
	return nil
}

// numbersMessage names the personal numbers in text, masked, in a sentence
// that says what to do: "正文中有身份证号码（340123********123X），公开前请删去
// 或只写后四位。" It returns "" when there are none.
func numbersMessage(where, text string) string {
	spans := pii.FindNumbers(text)
	if len(spans) == 0 {
		return ""
	}
	seen := map[string]bool{}
	var items []string
	for _, s := range spans {
		if seen[s.Number] {
			continue
		}
		seen[s.Number] = true
		items = append(items, fmt.Sprintf("%s（%s）", s.Kind.Label(), s.Masked))
	}
	const show = 3
	list := strings.Join(items[:min(len(items), show)], "、")
	if len(items) > show {
		list += fmt.Sprintf("等%d个号码", len(items))
	}
	return where + "中有" + list + "，" + MsgNumberAdvice
}
