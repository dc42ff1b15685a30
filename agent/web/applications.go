package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"stationsync/agent"
	"stationsync/internal/idcard"
	"stationsync/internal/records"
	"stationsync/syncproto"
)

// Assistance applications: the list, an application's page with the
// county's decisions, the form that drafts and corrects one, and handing
// it to the county or taking it back.

type appsData struct {
	Rows     []agent.AppRow
	Pager    pager
	Status   string
	Statuses []string
}

func (s *Server) handleGetApplications(w http.ResponseWriter, r *http.Request, se *session) {
	pg := pageOf(r)
	st := r.URL.Query().Get("status")
	rows, total, err := s.a.Store.Applications(r.Context(), agent.AppQuery{Status: st, Offset: (pg - 1) * perPage, Limit: perPage})
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	s.render(w, r, se, http.StatusOK, "applications", page{Title: "救助申请", Nav: "applications", Data: appsData{Rows: rows, Pager: newPager(r, pg, total), Status: st, Statuses: records.AppStatuses}})
}

type appData struct {
	A        *agent.Local
	Name     string
	Status   string
	Members  []map[string]any
	History  []syncproto.HistoryEntry
	State    agent.RecordState
	Editable bool
	Form     *form
	Comment  string
	Decided  bool
	// Decision are the documents the county's decisions carried down
	// (decision_documents): fetched in the sync round, shown under
	// 县里的决定; Base is the page they are fetched back from.
	Decision []fileRow
	Base     string
}

func (s *Server) loadApp(ctx context.Context, id string) (*appData, error) {
	a, err := s.a.Store.Get(ctx, records.Application, id)
	if err != nil {
		return nil, err
	}
	d := &appData{A: a, Status: records.TextValue(a.Fields, "status"), Form: newForm(nil)}
	if p, err := s.a.Store.Get(ctx, records.Person, records.TextValue(a.Fields, "applicant_id")); err == nil {
		d.Name = records.TextValue(p.Fields, "name")
	}
	json.Unmarshal(a.Fields["members"], &d.Members)
	if d.History, err = s.a.Store.History(ctx, id); err != nil {
		return nil, err
	}
	if d.State, err = s.a.Store.State(ctx, "application", id); err != nil {
		return nil, err
	}
	d.Editable = records.StationEditable(d.Status)
	d.Comment = records.TextValue(a.Fields, "reviewer_comment")
	d.Base = "/applications/" + id
	if len(a.Fields["decision_documents"]) > 2 { // more than "[]"
		list, err := s.a.Attachments(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, at := range list {
			if at.Decision {
				d.Decision = append(d.Decision, newFileRow(at))
			}
		}
	}
	return d, nil
}

func (s *Server) handleGetApp(w http.ResponseWriter, r *http.Request, se *session) {
	d, err := s.loadApp(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	// The cadre sees the county's decisions here: the home page stops
	// announcing them. A failure only leaves them announced.
	if err := s.a.Store.MarkDecisionsSeen(r.Context(), r.PathValue("id"), se.account.Name); err != nil {
		s.log.Warn("mark decisions seen", "err", err)
	}
	s.render(w, r, se, http.StatusOK, "application", page{Title: "救助申请", Nav: "applications", Data: d})
}

type appFormData struct {
	Form      *form
	ID        string
	Applicant *agent.Local
	Name      string
	Types     []string
	Status    string
}

// appForm drafts an application for a person, from the person's page, and
// corrects it until it is handed to the county (recordform.go).
func (s *Server) appForm() *recordForm {
	return &recordForm{
		kind: records.Application, tmpl: "app_form", show: "/applications/",
		newTitle: "新建救助申请", editTitle: "修改救助申请", newNav: "applications", editNav: "applications",
		aboutNew: func(r *http.Request, v url.Values) (*agent.Local, error) {
			// The person's page links here naming the applicant; the
			// form posts the name on.
			pid := v.Get("applicant_id")
			if r.Method == http.MethodGet {
				if pid = v.Get("person"); pid == "" {
					return nil, detour{"info", "请先找到申请人，在他（她）的页面上点「新建救助申请」", "/persons"}
				}
			}
			return s.a.Store.Get(r.Context(), records.Person, pid)
		},
		// An application whose applicant cannot be read is still shown.
		about: func(ctx context.Context, a *agent.Local) (*agent.Local, error) {
			p, err := s.a.Store.Get(ctx, records.Person, records.TextValue(a.Fields, "applicant_id"))
			if err != nil {
				return nil, nil
			}
			return p, nil
		},
		blank: func(_ *session, p *agent.Local) *form {
			f := newForm(nil)
			f.Values.Set("m_name_0", records.TextValue(p.Fields, "name"))
			f.Values.Set("m_relation_0", "本人")
			f.Values.Set("m_id_0", records.TextValue(p.Fields, "id_number"))
			f.Rows = rowsFor(1, memberRows)
			return f
		},
		fill: func(a *agent.Local) *form { return appFormFrom(a.Fields) },
		locked: func(a *agent.Local) string {
			if st := records.TextValue(a.Fields, "status"); !records.StationEditable(st) {
				return "申请已提交（" + records.StatusLabel[st] + "），不能再修改；请等县里退回后再改"
			}
			return ""
		},
		read: func(_ context.Context, v url.Values, p, a *agent.Local) (records.Fields, *form) {
			// An application keeps the applicant it was drafted for.
			pid := records.TextValue(a.Fields, "applicant_id")
			if a.ID == "" {
				pid = p.ID
			}
			return appFields(v, pid)
		},
		data: func(f *form, p, a *agent.Local) any {
			d := appFormData{Form: f, ID: a.ID, Types: records.AssistanceTypes, Status: records.TextValue(a.Fields, "status")}
			if p != nil {
				d.Applicant, d.Name = p, records.TextValue(p.Fields, "name")
			}
			return d
		},
		created: func(_ context.Context, _ *agent.Local, _ records.Fields, id string) (string, string, string) {
			return "ok", "申请草稿已保存。核对无误后点「提交到县里」", "/applications/" + id
		},
	}
}

func (s *Server) appIntent(w http.ResponseWriter, r *http.Request, se *session, withdraw bool) {
	ctx := r.Context()
	id := r.PathValue("id")
	v, ok := postedForm(w, r)
	if !ok {
		return
	}
	a, err := s.a.Store.Get(ctx, records.Application, id)
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	op := records.OpSubmit
	switch {
	case withdraw:
		op = records.OpWithdraw
	case records.TextValue(a.Fields, "status") == records.StatusReturned:
		op = records.OpResubmit
	}
	comment := trimmed(v, "comment")
	if err := s.a.Store.Intent(ctx, id, op, comment, se.account.Name); err != nil {
		d, lerr := s.loadApp(ctx, id)
		if lerr != nil || !fieldErr(d.Form, err) {
			s.fail(w, r, se, err)
			return
		}
		d.Form.Values = v
		s.render(w, r, se, http.StatusUnprocessableEntity, "application", page{Title: "救助申请", Nav: "applications", Data: d})
		return
	}
	s.a.Nudge()
	if withdraw {
		s.flash(se, "ok", "申请已撤回")
	} else {
		s.flash(se, "ok", "已提交。联网后会送到县里，县里的决定会自动显示在这里")
	}
	s.redirect(w, r, "/applications/"+id)
}

func (s *Server) handlePostAppSubmit(w http.ResponseWriter, r *http.Request, se *session) {
	s.appIntent(w, r, se, false)
}

func (s *Server) handlePostAppWithdraw(w http.ResponseWriter, r *http.Request, se *session) {
	s.appIntent(w, r, se, true)
}

// memberRows is how many household-member rows a new form offers.
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
