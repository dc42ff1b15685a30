package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"stationsync/agent"
	"stationsync/internal/records"
	"stationsync/internal/zone"
)

// Visits: the lists (all, overdue), a visit's page, the form that records
// and corrects a visit, and voiding one recorded in error.

type visitsData struct {
	Rows  []agent.VisitRow
	Pager pager
	Risk  string
	Risks []string
}

func (s *Server) handleGetVisits(w http.ResponseWriter, r *http.Request, se *session) {
	pg := pageOf(r)
	risk := r.URL.Query().Get("risk")
	rows, total, err := s.a.Store.Visits(r.Context(), agent.VisitQuery{Risk: risk, Offset: (pg - 1) * perPage, Limit: perPage})
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	s.render(w, r, se, http.StatusOK, "visits", page{Title: "走访记录", Nav: "visits", Data: visitsData{Rows: rows, Pager: newPager(r, pg, total), Risk: risk, Risks: records.RiskLevels}})
}

func (s *Server) handleGetOverdue(w http.ResponseWriter, r *http.Request, se *session) {
	pg := pageOf(r)
	rows, total, err := s.a.Store.SearchPersons(r.Context(), agent.PersonQuery{Overdue: true, Today: s.today(), Offset: (pg - 1) * perPage, Limit: perPage})
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	s.render(w, r, se, http.StatusOK, "overdue", page{Title: "逾期未走访", Nav: "overdue", Data: personsData{Rows: rows, Pager: newPager(r, pg, total), Today: s.today()}})
}

type visitData struct {
	V          *agent.Local
	PersonName string
	Visitors   []string
	Needs      []string
	State      agent.RecordState
	Void       *form
	VoidReason string // set: voided
}

// visitPage is a visit's page, with void as the form to void it.
func (s *Server) visitPage(ctx context.Context, id string, void *form) (page, error) {
	v, err := s.a.Store.Get(ctx, records.Visit, id)
	if err != nil {
		return page{}, err
	}
	d := visitData{V: v, Void: void}
	if p, err := s.a.Store.Get(ctx, records.Person, records.TextValue(v.Fields, "person_id")); err == nil {
		d.PersonName = records.TextValue(p.Fields, "name")
	}
	json.Unmarshal(v.Fields["visitors"], &d.Visitors)
	json.Unmarshal(v.Fields["needs"], &d.Needs)
	d.State, _ = s.a.Store.State(ctx, "visit", v.ID)
	d.VoidReason = records.TextValue(v.Fields, "void_reason")
	return page{Title: "走访记录", Nav: "visits", Data: d}, nil
}

func (s *Server) handleGetVisit(w http.ResponseWriter, r *http.Request, se *session) {
	p, err := s.visitPage(r.Context(), r.PathValue("id"), newForm(nil))
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	s.render(w, r, se, http.StatusOK, "visit", p)
}

// visitVoid voids a visit recorded in error, with the reason.
func (s *Server) visitVoid() reasonedChange {
	return reasonedChange{
		kind: records.Visit, box: "void_reason", missing: "请填写作废原因，例如「重复录入」「对象选错了」", show: "/visits/",
		reason: func(v url.Values) string { return trimmed(v, "void_reason") },
		fields: func(reason string) records.Fields { return records.Fields{"void_reason": jtext(reason)} },
		done:   func(reason string) string { return "已作废这条走访记录：" + reason },
		tmpl:   "visit", pageData: s.visitPage,
	}
}

type visitFormData struct {
	Form    *form
	Person  *agent.Local
	Name    string
	Methods []string
	Needs   []string
	Risks   []string
	Every   int
	// ID is the visit being corrected; empty on a new visit.
	ID string
}

// visitFormOf is the visit form f of person p.
func visitFormOf(p *agent.Local, f *form) visitFormData {
	var cats []string
	json.Unmarshal(p.Fields["categories"], &cats)
	return visitFormData{Form: f, Person: p, Name: records.TextValue(p.Fields, "name"), Methods: records.VisitMethods, Needs: records.VisitNeeds, Risks: records.RiskLevels, Every: agent.VisitEveryDays(cats)}
}

// visitForm records a visit to a person, from the person's page, and
// corrects a saved one (recordform.go). A saved visit is corrected like any
// record the station owns: the changed fields go up as a new version with
// who and when, and the county keeps the version they replace
// (record_versions).
func (s *Server) visitForm() *recordForm {
	return &recordForm{
		kind: records.Visit, tmpl: "visit_form", show: "/visits/",
		newTitle: "记录走访", editTitle: "修改走访记录", newNav: "persons", editNav: "visits",
		aboutNew: func(r *http.Request, _ url.Values) (*agent.Local, error) {
			return s.a.Store.Get(r.Context(), records.Person, r.PathValue("id"))
		},
		about: func(ctx context.Context, v *agent.Local) (*agent.Local, error) {
			return s.a.Store.Get(ctx, records.Person, records.TextValue(v.Fields, "person_id"))
		},
		// Prefilled so that an ordinary home visit takes a minute: today,
		// the cadre at the PC, a home visit, nothing wrong, the next due
		// date by the person's category.
		blank: func(se *session, p *agent.Local) *form {
			f := newForm(nil)
			now := s.opts.Now().In(zone.Location())
			f.Values.Set("visited_on", now.Format(time.DateOnly))
			f.Values.Set("visitors", se.account.Name)
			f.Values.Set("method", "入户走访")
			f.Values.Set("risk", "正常")
			f.Values.Set("next_due", now.AddDate(0, 0, visitFormOf(p, f).Every).Format(time.DateOnly))
			return f
		},
		fill: func(v *agent.Local) *form { return visitFormFrom(v.Fields) },
		read: func(_ context.Context, v url.Values, p, rec *agent.Local) (records.Fields, *form) {
			if rec.ID == "" {
				s.urgentDue(v, p)
			}
			// The visit stays with its person: the form cannot move it.
			return visitFields(v, p.ID, s.today())
		},
		data: func(f *form, p, v *agent.Local) any {
			d := visitFormOf(p, f)
			d.ID = v.ID
			return d
		},
		created: func(ctx context.Context, p *agent.Local, fields records.Fields, _ string) (string, string, string) {
			if records.TextValue(fields, "risk") != "紧急" {
				return "ok", "走访记录已保存", "/persons/" + p.ID
			}
			// An urgent visit starts a round at once; it cannot overtake
			// changes queued before it (see README, "urgent"), so when the
			// county is out of reach the cadre is told to phone rather
			// than led to believe it is on its way.
			s.a.Nudge()
			return "urgent", s.urgentMessage(ctx), "/persons/" + p.ID
		},
		edited: func(fields records.Fields) {
			if records.TextValue(fields, "risk") == "紧急" {
				s.a.Nudge()
			}
		},
	}
}

// urgentEveryDays is the next-visit default of a 紧急 visit.
const urgentEveryDays = 7

// urgentDue: an urgent case is seen again a week after the visit. The
// category's default the new-visit form came with (or no date) gives way
// to it; a date the cadre chose stands.
func (s *Server) urgentDue(v url.Values, p *agent.Local) {
	if v.Get("risk") != "紧急" {
		return
	}
	now := s.opts.Now().In(zone.Location())
	due := trimmed(v, "next_due")
	if due == "" || due == now.AddDate(0, 0, visitFormOf(p, nil).Every).Format(time.DateOnly) {
		on, err := time.ParseInLocation(time.DateOnly, trimmed(v, "visited_on"), zone.Location())
		if err != nil {
			on = now
		}
		v.Set("next_due", on.AddDate(0, 0, urgentEveryDays).Format(time.DateOnly))
	}
}

// urgentMessage tells the cadre what happens to an urgent visit just saved:
// on its way, or, with the county out of reach, to phone the township.
func (s *Server) urgentMessage(ctx context.Context) string {
	b := s.syncBar(ctx)
	if !b.Online {
		return "紧急走访已保存在本机，但县里现在连不上，还没有送到县里。" + phoneTownship(b.TownshipPhone)
	}
	return "紧急走访已保存，已开始上传到县里；页面顶部「待上传」里的紧急条数归零即已送到"
}

func phoneTownship(phone string) string {
	if phone == "" {
		return "请马上打电话告诉乡镇（乡镇电话还没有填写，请到「设置」里填上）"
	}
	return "请马上打电话告诉乡镇：" + phone
}

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
