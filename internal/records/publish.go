package records

import (
	"encoding/json"
	"fmt"
	"slices"
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
// A mobile number the publisher marked as the notice's public contact
// (public_numbers, a 村会计's phone on a financial notice) is allowed; it
// is the one number the notice board and the portal show whole. ID
// numbers can never be marked.
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
	public := PublicNumbers(fields)
	for _, f := range []struct{ name, label string }{{"title", "标题"}, {"body", "正文"}, {"reviewer", "审核人"}} {
		if msg := numbersMessage(f.label, TextValue(fields, f.name), public); msg != "" {
			return &FieldError{Field: f.name, Message: msg}
		}
	}
	return nil
}

// MsgPublicNumberAdvice tells the publisher how a contact number stays.
const MsgPublicNumberAdvice = "如果其中有对外公开的联系电话（如村会计的电话），发布时勾选它即可完整显示。"

// numbersMessage names the personal numbers in text that public does not
// mark, masked, in a sentence that says what to do: "正文中有身份证号码
// （340123********123X），公开前请删去或只写后四位。" It returns "" when
// there are none.
func numbersMessage(where, text string, public []string) string {
	seen := map[string]bool{}
	var items []string
	mobile := false
	for _, s := range pii.FindNumbers(text) {
		if seen[s.Number] || s.Kind == pii.Mobile && slices.Contains(public, s.Number) {
			continue
		}
		seen[s.Number] = true
		mobile = mobile || s.Kind == pii.Mobile
		items = append(items, fmt.Sprintf("%s（%s）", s.Kind.Label(), s.Masked))
	}
	if len(items) == 0 {
		return ""
	}
	const show = 3
	list := strings.Join(items[:min(len(items), show)], "、")
	if len(items) > show {
		list += fmt.Sprintf("等%d个号码", len(items))
	}
	msg := where + "中有" + list + "，" + MsgNumberAdvice
	if mobile {
		msg += MsgPublicNumberAdvice
	}
	return msg
}

// maxPublicNumbers bounds public_numbers: a notice names a contact or
// two, not a phone book.
const maxPublicNumbers = 5

// PublicNumbers returns the mobile numbers a disclosure's publisher marked
// as public (public_numbers), as 11 ASCII digits each.
func PublicNumbers(fields Fields) []string {
	var l []string
	if json.Unmarshal(fields["public_numbers"], &l) != nil {
		return nil
	}
	return l
}

// PublicNumbersIn returns the mobile numbers found in a disclosure's
// title, body and reviewer (the ones a publisher may mark as public), in
// the order they appear, each once.
func PublicNumbersIn(title, body, reviewer string) []string {
	var out []string
	for _, t := range []string{title, body, reviewer} {
		for _, s := range pii.FindNumbers(t) {
			if s.Kind == pii.Mobile && !slices.Contains(out, s.Number) {
				out = append(out, s.Number)
			}
		}
	}
	return out
}

// MaskDisclosure masks text of a disclosure for the notice board and the
// portal: every personal number hidden but the ones its publisher marked.
func MaskDisclosure(fields Fields, text string) string {
	return pii.MaskTextExcept(text, PublicNumbers(fields))
}

// checkPublicNumbers: a short list of mobile numbers written as 11 ASCII
// digits (the form pii.FindNumbers reports them in), never an ID number.
func checkPublicNumbers(v any) string {
	list, ok := v.([]any)
	if !ok {
		return "公开的联系电话应为号码列表"
	}
	if len(list) > maxPublicNumbers {
		return fmt.Sprintf("公开的联系电话最多 %d 个", maxPublicNumbers)
	}
	for _, it := range list {
		s, _ := it.(string)
		if len(s) != 11 || s[0] != '1' || s[1] < '3' || strings.Trim(s, "0123456789") != "" {
			return "公开的联系电话只能是 11 位手机号码"
		}
	}
	return ""
}
