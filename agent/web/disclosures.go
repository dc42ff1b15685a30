package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"stationsync/agent"
	"stationsync/internal/pii"
	"stationsync/internal/records"
	"stationsync/internal/zone"
)

// Village-affairs disclosures (村务公开): the list, a notice's page, the
// form that drafts and corrects one, publishing it with the contact
// numbers its publisher marks public, withdrawing it, and the sheet
// printed for the notice board.

type discsData struct {
	Rows   []agent.DisclosureRow
	Pager  pager
	Status string
}

func (s *Server) handleGetDisclosures(w http.ResponseWriter, r *http.Request, se *session) {
	pg := pageOf(r)
	st := r.URL.Query().Get("status")
	rows, total, err := s.a.Store.Disclosures(r.Context(), st, (pg-1)*perPage, perPage)
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	s.render(w, r, se, http.StatusOK, "disclosures", page{Title: "村务公开", Nav: "disclosures", Data: discsData{Rows: rows, Pager: newPager(r, pg, total), Status: st}})
}

type discData struct {
	D      *agent.Local
	Status string
	State  agent.RecordState
	Form   *form
}

func (s *Server) loadDisc(ctx context.Context, id string) (*discData, error) {
	d, err := s.a.Store.Get(ctx, records.Disclosure, id)
	if err != nil {
		return nil, err
	}
	out := &discData{D: d, Status: records.TextValue(d.Fields, "status"), Form: newForm(nil)}
	if out.Status == "" {
		out.Status = "draft"
	}
	out.State, err = s.a.Store.State(ctx, "disclosure", id)
	return out, err
}

func (s *Server) handleGetDisc(w http.ResponseWriter, r *http.Request, se *session) {
	d, err := s.loadDisc(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	s.render(w, r, se, http.StatusOK, "disclosure", page{Title: "村务公开", Nav: "disclosures", Data: d})
}

type discFormData struct {
	Form  *form
	ID    string
	Kinds []string
}

// discForm drafts and corrects a notice (recordform.go).
func (s *Server) discForm() *recordForm {
	return &recordForm{
		kind: records.Disclosure, tmpl: "disc_form", show: "/disclosures/",
		newTitle: "新建公开事项", editTitle: "修改公开事项", newNav: "disclosures", editNav: "disclosures",
		blank: func(*session, *agent.Local) *form {
			f := newForm(nil)
			now := s.opts.Now().In(zone.Location())
			f.Values.Set("publish_from", now.Format(time.DateOnly))
			f.Values.Set("publish_until", now.AddDate(0, 0, 7).Format(time.DateOnly))
			return f
		},
		fill: func(d *agent.Local) *form { return discFormFrom(d.Fields) },
		read: func(_ context.Context, v url.Values, _, d *agent.Local) (records.Fields, *form) {
			fields, f := discFields(v)
			if d.ID == "" {
				fields["status"] = jtext("draft")
			}
			return fields, f
		},
		data: func(f *form, _, d *agent.Local) any {
			return discFormData{Form: f, ID: d.ID, Kinds: records.DisclosureKinds}
		},
		created: func(_ context.Context, _ *agent.Local, _ records.Fields, id string) (string, string, string) {
			return "ok", "草稿已保存。请村务监督委员会成员审核后点「发布」", "/disclosures/" + id
		},
	}
}

func (s *Server) handlePostDiscPublish(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	id := r.PathValue("id")
	v, ok := postedForm(w, r)
	if !ok {
		return
	}
	d, err := s.loadDisc(ctx, id)
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	reviewer := trimmed(v, "reviewer")
	if reviewer == "" {
		reviewer = records.TextValue(d.D.Fields, "reviewer")
	}
	if reviewer == "" {
		d.Form = newForm(v)
		d.Form.fail("reviewer", "发布前请填写审核人（村务监督委员会成员）的姓名")
		s.render(w, r, se, http.StatusUnprocessableEntity, "disclosure", page{Title: "村务公开", Nav: "disclosures", Data: d})
		return
	}
	fields := records.Fields{"status": jtext("published"), "reviewer": jtext(reviewer)}
	// The publisher marks here which mobile numbers of the text are the
	// notice's public contact; the others still stop the publication.
	f := d.D.Fields
	nums := publicNumbers(v, records.TextValue(f, "title"), records.TextValue(f, "body"), records.TextValue(f, "reviewer"))
	fields["public_numbers"] = jvalue(nums)
	v["public_marked"] = nums
	if _, err := s.a.Store.Save(ctx, records.Disclosure, id, changed(d.D.Fields, fields), se.account.Name); err != nil {
		d.Form = newForm(v)
		if !fieldErr(d.Form, err) {
			s.fail(w, r, se, err)
			return
		}
		s.render(w, r, se, http.StatusUnprocessableEntity, "disclosure", page{Title: "村务公开", Nav: "disclosures", Data: d})
		return
	}
	s.a.Nudge()
	s.flash(se, "ok", "已发布。可以点「打印公示」贴到村务公开栏")
	s.redirect(w, r, "/disclosures/"+id)
}

func (s *Server) handlePostDiscWithdraw(w http.ResponseWriter, r *http.Request, se *session) {
	id := r.PathValue("id")
	if _, err := s.a.Store.Save(r.Context(), records.Disclosure, id, records.Fields{"status": jtext("withdrawn")}, se.account.Name); err != nil {
		s.fail(w, r, se, err)
		return
	}
	s.a.Nudge()
	s.flash(se, "ok", "已撤回")
	s.redirect(w, r, "/disclosures/"+id)
}

type printData struct {
	ID, Title, Category, Body, From, Until, Reviewer, Village, Printed, Status string
	Signer                                                                     string // "太华村村民委员会" (places.go)
}

func (s *Server) handleGetDiscPrint(w http.ResponseWriter, r *http.Request, se *session) {
	d, err := s.a.Store.Get(r.Context(), records.Disclosure, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	tv := func(n string) string { return records.TextValue(d.Fields, n) }
	// Every personal number masked but the contacts its publisher marked.
	mask := func(n string) string { return records.MaskDisclosure(d.Fields, tv(n)) }
	s.renderPrint(w, r, "print", printData{ID: d.ID, Title: mask("title"), Category: tv("category"), Body: mask("body"),
		From: tv("publish_from"), Until: tv("publish_until"), Reviewer: mask("reviewer"), Village: d.Village, Signer: pii.MaskText(s.signer(r.Context(), d.Village)),
		Printed: s.opts.Now().In(zone.Location()).Format("2006年1月2日"), Status: tv("status")})
}

func discFormFrom(fields records.Fields) *form {
	v := url.Values{}
	for _, n := range []string{"category", "title", "body", "publish_from", "publish_until", "reviewer"} {
		v.Set(n, records.TextValue(fields, n))
	}
	v["public_marked"] = records.PublicNumbers(fields)
	return newForm(v)
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
