package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"stationsync/agent"
	"stationsync/internal/idcard"
	"stationsync/internal/pii"
	"stationsync/internal/records"
	"stationsync/internal/zone"
	"stationsync/syncproto"
)

const perPage = 20

// pager is a list's position.
type pager struct {
	Page, Pages, Total int
	Prev, Next         string // query strings, "" at the ends
}

func pageOf(r *http.Request) int {
	p, _ := strconv.Atoi(r.URL.Query().Get("page"))
	return max(p, 1)
}

func newPager(r *http.Request, page, total int) pager {
	p := pager{Page: page, Total: total, Pages: max(1, (total+perPage-1)/perPage)}
	q := r.URL.Query()
	if page > 1 {
		q.Set("page", strconv.Itoa(page-1))
		p.Prev = "?" + q.Encode()
	}
	if page < p.Pages {
		q.Set("page", strconv.Itoa(page+1))
		p.Next = "?" + q.Encode()
	}
	return p
}

func (s *Server) today() string { return agent.Today(s.opts.Now()) }

// ---- first run, log-in, accounts ----

func (s *Server) handleGetSetup(w http.ResponseWriter, r *http.Request) {
	if n, _ := s.a.Store.AccountCount(r.Context()); n > 0 {
		s.redirect(w, r, "/login")
		return
	}
	s.render(w, r, nil, http.StatusOK, "setup", page{Title: "第一次使用", Data: newForm(nil)})
}

func (s *Server) handlePostSetup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if n, _ := s.a.Store.AccountCount(ctx); n > 0 {
		s.redirect(w, r, "/login")
		return
	}
	v, ok := postedForm(w, r)
	if !ok {
		return
	}
	f := newForm(v)
	v.Set("pin", pinText(v.Get("pin")))
	if msg := newPINProblem(v.Get("pin")); msg != "" {
		f.fail("pin", msg)
	} else if pinText(v.Get("pin2")) != v.Get("pin") {
		f.fail("pin2", "两次输入的密码不一样")
	}
	var acc *agent.Account
	var err error
	if f.OK() {
		acc, err = s.a.Store.CreateAccount(ctx, v.Get("name"), v.Get("pin"), "")
		if err != nil && !fieldErr(f, err) {
			s.fail(w, r, nil, err)
			return
		}
	}
	if !f.OK() {
		f.Values.Del("pin")
		f.Values.Del("pin2")
		s.render(w, r, nil, http.StatusUnprocessableEntity, "setup", page{Title: "第一次使用", Data: f})
		return
	}
	s.startSession(w, *acc)
	s.log.Info("first account created", "name", acc.Name)
	if !s.a.Enrolled(ctx) {
		s.redirect(w, r, "/enroll")
		return
	}
	s.redirect(w, r, "/")
}

type loginData struct {
	Accounts []agent.Account
	Form     *form
	Next     string
	Replay   string // a form posted after the session ended, to post again
	Expired  bool
}

// replayOf keeps a posted form for after the log-in, without any PIN.
func replayOf(v url.Values) string {
	keep := url.Values{}
	for k, x := range v {
		if !strings.Contains(k, "pin") {
			keep[k] = x
		}
	}
	return keep.Encode()
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, f *form, next, replay string, expired bool) {
	accs, err := s.a.Store.Accounts(r.Context())
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if len(accs) == 1 && f.Get("account") == "" {
		f.Values.Set("account", strconv.FormatInt(accs[0].ID, 10))
	}
	s.render(w, r, nil, status, "login", page{Title: "选择登录人", Data: loginData{Accounts: enabled(accs), Form: f, Next: next, Replay: replay, Expired: expired}})
}

type resumeData struct {
	Action string
	Fields []resumeField
}

type resumeField struct{ Name, Value string }

func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/"
	}
	return next
}

func (s *Server) handleGetLogin(w http.ResponseWriter, r *http.Request) {
	if n, _ := s.a.Store.AccountCount(r.Context()); n == 0 {
		s.redirect(w, r, "/setup")
		return
	}
	q := r.URL.Query()
	s.renderLogin(w, r, http.StatusOK, newForm(nil), safeNext(q.Get("next")), "", q.Get("expired") != "")
}

func enabled(accs []agent.Account) []agent.Account {
	var out []agent.Account
	for _, a := range accs {
		if !a.Disabled {
			out = append(out, a)
		}
	}
	return out
}

func (s *Server) handlePostLogout(w http.ResponseWriter, r *http.Request) {
	s.endSession(w, r)
	s.redirect(w, r, "/login")
}

type accountsData struct {
	Accounts []agent.Account
	Form     *form
	PIN      *form
}

func (s *Server) handleGetAccounts(w http.ResponseWriter, r *http.Request, se *session) {
	s.renderAccounts(w, r, se, http.StatusOK, newForm(nil), newForm(nil))
}

func (s *Server) renderAccounts(w http.ResponseWriter, r *http.Request, se *session, status int, f, pin *form) {
	accs, err := s.a.Store.Accounts(r.Context())
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	s.render(w, r, se, status, "accounts", page{Title: "村干部账号", Nav: "accounts", Data: accountsData{Accounts: accs, Form: f, PIN: pin}})
}

func (s *Server) handlePostAccounts(w http.ResponseWriter, r *http.Request, se *session) {
	v, ok := postedForm(w, r)
	if !ok {
		return
	}
	f := newForm(v)
	v.Set("pin", pinText(v.Get("pin")))
	if msg := newPINProblem(v.Get("pin")); msg != "" {
		f.fail("pin", msg)
	} else if pinText(v.Get("pin2")) != v.Get("pin") {
		f.fail("pin2", "两次输入的密码不一样")
	}
	if f.OK() {
		if _, err := s.a.Store.CreateAccount(r.Context(), v.Get("name"), v.Get("pin"), se.account.Name); err != nil && !fieldErr(f, err) {
			s.fail(w, r, se, err)
			return
		}
	}
	if !f.OK() {
		f.Values.Del("pin")
		f.Values.Del("pin2")
		s.renderAccounts(w, r, se, http.StatusUnprocessableEntity, f, newForm(nil))
		return
	}
	s.flash(se, "ok", "已添加账号「"+strings.TrimSpace(v.Get("name"))+"」，下次可以用这个名字登录")
	s.redirect(w, r, "/accounts")
}

func (s *Server) handlePostPIN(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	v, ok := postedForm(w, r)
	if !ok {
		return
	}
	f := newForm(v)
	// The old PIN is guessed at like a log-in: same count, same lock.
	status := http.StatusUnprocessableEntity
	c, err := s.checkPIN(ctx, se.account.ID, pinText(v.Get("old_pin")))
	switch {
	case err != nil:
		s.fail(w, r, se, err)
		return
	case c.wrong:
		f.fail("old_pin", "原密码不对")
	case c.acc == nil:
		status = c.refuse(w)
		f.fail("old_pin", c.msg)
	}
	newPIN := pinText(v.Get("new_pin"))
	if msg := newPINProblem(newPIN); msg != "" {
		f.fail("new_pin", msg)
	} else if pinText(v.Get("new_pin2")) != newPIN {
		f.fail("new_pin2", "两次输入的新密码不一样")
	}
	if f.OK() {
		if err := s.a.Store.SetPIN(ctx, se.account.ID, newPIN); err != nil {
			s.fail(w, r, se, err)
			return
		}
		s.flash(se, "ok", "密码已修改")
		s.redirect(w, r, "/accounts")
		return
	}
	f.Values = url.Values{}
	s.renderAccounts(w, r, se, status, newForm(nil), f)
}

func (s *Server) setDisabled(w http.ResponseWriter, r *http.Request, se *session, disabled bool) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if id == se.account.ID {
		s.flash(se, "error", "不能停用自己的账号")
		s.redirect(w, r, "/accounts")
		return
	}
	if err := s.a.Store.SetAccountDisabled(r.Context(), id, disabled); err != nil {
		s.fail(w, r, se, err)
		return
	}
	if disabled {
		// Whoever is logged in on that account is logged out.
		s.mu.Lock()
		for k, x := range s.sessions {
			if x.account.ID == id {
				delete(s.sessions, k)
			}
		}
		s.mu.Unlock()
		s.flash(se, "ok", "账号已停用；记录上的姓名保留")
	} else {
		s.flash(se, "ok", "账号已恢复")
	}
	s.redirect(w, r, "/accounts")
}

func (s *Server) handlePostAccountDisable(w http.ResponseWriter, r *http.Request, se *session) {
	s.setDisabled(w, r, se, true)
}

func (s *Server) handlePostAccountEnable(w http.ResponseWriter, r *http.Request, se *session) {
	s.setDisabled(w, r, se, false)
}

// ---- enrolment: enroll.go ----

// ---- home ----

type homeData struct {
	Counts  agent.Counts
	Urgent  []agent.VisitRow
	Overdue []agent.PersonRow
	Today   string
	// Decisions the county sent that no cadre has opened yet.
	Decisions      []agent.Decision
	DecisionsTotal int
}

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	today := s.today()
	c, err := s.a.Store.Counts(ctx, today)
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	urgent, _, err := s.a.Store.Visits(ctx, agent.VisitQuery{Risk: "紧急", Live: true, Limit: 5})
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	overdue, _, err := s.a.Store.SearchPersons(ctx, agent.PersonQuery{Overdue: true, Today: today, Limit: 5})
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	d := homeData{Counts: c, Urgent: urgent, Overdue: overdue, Today: today}
	if d.Decisions, d.DecisionsTotal, err = s.a.Store.NewDecisions(ctx, 10); err != nil {
		s.fail(w, r, se, err)
		return
	}
	s.render(w, r, se, http.StatusOK, "home", page{Title: "首页", Nav: "home", Data: d})
}

// ---- persons ----

type personsData struct {
	Rows       []agent.PersonRow
	Pager      pager
	Q, Cat     string
	Status     string
	Categories []string
	Today      string
}

func (s *Server) handleGetPersons(w http.ResponseWriter, r *http.Request, se *session) {
	q := r.URL.Query()
	pg := pageOf(r)
	status := q.Get("status")
	if !q.Has("status") {
		status = "在册"
	}
	rows, total, err := s.a.Store.SearchPersons(r.Context(), agent.PersonQuery{Q: q.Get("q"), Category: q.Get("cat"), Status: status,
		Today: s.today(), Offset: (pg - 1) * perPage, Limit: perPage})
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	s.render(w, r, se, http.StatusOK, "persons", page{Title: "关爱对象", Nav: "persons", Data: personsData{Rows: rows, Pager: newPager(r, pg, total),
		Q: q.Get("q"), Cat: q.Get("cat"), Status: status, Categories: records.PersonCategories, Today: s.today()}})
}

type personFormData struct {
	Form       *form
	ID         string
	Categories []string
	Duplicate  string // id of a person with the same ID number
}

func (s *Server) handleGetPersonNew(w http.ResponseWriter, r *http.Request, se *session) {
	f := newForm(nil)
	f.Rows = rowsFor(0, familyRows)
	s.render(w, r, se, http.StatusOK, "person_form", page{Title: "登记关爱对象", Nav: "persons", Data: personFormData{Form: f, Categories: records.PersonCategories}})
}

func (s *Server) handlePostPersonNew(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	v, ok := postedForm(w, r)
	if !ok {
		return
	}
	fields, f := personFields(v, true)
	var dup string
	if f.Err("id_number") == "" {
		if id, name := s.a.Store.PersonByIDNumber(ctx, records.TextValue(fields, "id_number")); id != "" {
			f.fail("id_number", "这个身份号码已登记（"+name+"），请勿重复登记")
			dup = id
		}
	}
	if f.OK() {
		id, err := s.a.Store.Save(ctx, records.Person, "", changed(records.Fields{}, fields), se.account.Name)
		if err == nil {
			s.flash(se, "ok", "已保存「"+records.TextValue(fields, "name")+"」")
			s.redirect(w, r, "/persons/"+id)
			return
		}
		if !fieldErr(f, err) {
			s.fail(w, r, se, err)
			return
		}
	}
	s.render(w, r, se, http.StatusUnprocessableEntity, "person_form", page{Title: "登记关爱对象", Nav: "persons",
		Data: personFormData{Form: f, Categories: records.PersonCategories, Duplicate: dup}})
}

type personData struct {
	P            *agent.Local
	Name, Status string
	Categories   []string
	Guardian     map[string]string
	Family       []map[string]string
	Visits       []agent.VisitRow
	VisitsTotal  int
	Apps         []agent.AppRow
	LastVisit    string
	Due          string
	Today        string
	State        agent.RecordState
	Exit         *form
}

func (s *Server) loadPerson(ctx context.Context, id string) (*personData, error) {
	p, err := s.a.Store.Get(ctx, records.Person, id)
	if err != nil {
		return nil, err
	}
	d := &personData{P: p, Name: records.TextValue(p.Fields, "name"), Status: records.TextValue(p.Fields, "status"), Today: s.today()}
	if d.Status == "" {
		d.Status = "在册"
	}
	json.Unmarshal(p.Fields["categories"], &d.Categories)
	json.Unmarshal(p.Fields["guardian"], &d.Guardian)
	json.Unmarshal(p.Fields["family_away"], &d.Family)
	if d.Visits, d.VisitsTotal, err = s.a.Store.Visits(ctx, agent.VisitQuery{PersonID: id, Limit: 50}); err != nil {
		return nil, err
	}
	if d.Apps, _, err = s.a.Store.Applications(ctx, agent.AppQuery{ApplicantID: id, Limit: 50}); err != nil {
		return nil, err
	}
	if d.LastVisit, d.Due, err = s.a.Store.PersonDue(ctx, id); err != nil {
		return nil, err
	}
	if d.State, err = s.a.Store.State(ctx, "person", id); err != nil {
		return nil, err
	}
	return d, nil
}

func (s *Server) handleGetPerson(w http.ResponseWriter, r *http.Request, se *session) {
	d, err := s.loadPerson(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	d.Exit = newForm(nil)
	s.render(w, r, se, http.StatusOK, "person", page{Title: d.Name, Nav: "persons", Data: d})
}

func (s *Server) handleGetPersonEdit(w http.ResponseWriter, r *http.Request, se *session) {
	id := r.PathValue("id")
	p, err := s.a.Store.Get(r.Context(), records.Person, id)
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	s.render(w, r, se, http.StatusOK, "person_form", page{Title: "修改关爱对象", Nav: "persons", Data: personFormData{Form: personFormFrom(p.Fields), ID: id, Categories: records.PersonCategories}})
}

func (s *Server) handlePostPersonEdit(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	id := r.PathValue("id")
	p, err := s.a.Store.Get(ctx, records.Person, id)
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	v, ok := postedForm(w, r)
	if !ok {
		return
	}
	fields, f := personFields(v, false)
	var dup string
	if n := records.TextValue(fields, "id_number"); f.Err("id_number") == "" && n != records.TextValue(p.Fields, "id_number") {
		if other, name := s.a.Store.PersonByIDNumber(ctx, n); other != "" && other != id {
			f.fail("id_number", "这个身份号码已登记（"+name+"），请勿重复登记")
			dup = other
		}
	}
	if s.saveEdit(w, r, se, p, fields, f, "/persons/"+id) {
		return
	}
	s.render(w, r, se, http.StatusUnprocessableEntity, "person_form", page{Title: "修改关爱对象", Nav: "persons",
		Data: personFormData{Form: f, ID: id, Categories: records.PersonCategories, Duplicate: dup}})
}

// saveEdit saves what an edit form changed in rec and sends the cadre back
// to the record, with a note of what happened. It reports false, having
// written nothing, when the form must be shown again: a field was wrong
// before or the store refused one.
func (s *Server) saveEdit(w http.ResponseWriter, r *http.Request, se *session, rec *agent.Local, fields records.Fields, f *form, back string) bool {
	if !f.OK() {
		return false
	}
	ch := changed(rec.Fields, fields)
	if len(ch) == 0 {
		s.flash(se, "ok", "没有改动")
		s.redirect(w, r, back)
		return true
	}
	if _, err := s.a.Store.Save(r.Context(), rec.Kind, rec.ID, ch, se.account.Name); err != nil {
		if fieldErr(f, err) {
			return false
		}
		s.fail(w, r, se, err)
		return true
	}
	s.flash(se, "ok", "已保存修改")
	s.redirect(w, r, back)
	return true
}

func (s *Server) handlePostPersonExit(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	id := r.PathValue("id")
	v, ok := postedForm(w, r)
	if !ok {
		return
	}
	reason := trimmed(v, "exit_reason")
	if v.Get("exit_preset") != "" && v.Get("exit_preset") != "其他" {
		if reason == "" {
			reason = v.Get("exit_preset")
		} else {
			reason = v.Get("exit_preset") + "：" + reason
		}
	}
	f := newForm(v)
	if reason == "" {
		f.fail("exit_reason", "请选择或填写退出原因")
	}
	if f.OK() {
		_, err := s.a.Store.Save(ctx, records.Person, id, records.Fields{"status": jtext("已退出"), "exit_reason": jtext(reason)}, se.account.Name)
		if err == nil {
			s.flash(se, "ok", "已标记为退出："+reason)
			s.redirect(w, r, "/persons/"+id)
			return
		}
		if !fieldErr(f, err) {
			s.fail(w, r, se, err)
			return
		}
	}
	d, err := s.loadPerson(ctx, id)
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	d.Exit = f
	s.render(w, r, se, http.StatusUnprocessableEntity, "person", page{Title: d.Name, Nav: "persons", Data: d})
}

func (s *Server) handlePostPersonReturn(w http.ResponseWriter, r *http.Request, se *session) {
	id := r.PathValue("id")
	if _, err := s.a.Store.Save(r.Context(), records.Person, id, records.Fields{"status": jtext("在册"), "exit_reason": jtext("")}, se.account.Name); err != nil {
		s.fail(w, r, se, err)
		return
	}
	s.flash(se, "ok", "已恢复在册")
	s.redirect(w, r, "/persons/"+id)
}

// ---- visits ----

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

func (s *Server) visitForm(p *agent.Local, f *form) visitFormData {
	var cats []string
	json.Unmarshal(p.Fields["categories"], &cats)
	return visitFormData{Form: f, Person: p, Name: records.TextValue(p.Fields, "name"), Methods: records.VisitMethods, Needs: records.VisitNeeds, Risks: records.RiskLevels, Every: agent.VisitEveryDays(cats)}
}

func (s *Server) handleGetVisitNew(w http.ResponseWriter, r *http.Request, se *session) {
	p, err := s.a.Store.Get(r.Context(), records.Person, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	// Prefilled so that an ordinary home visit takes a minute: today, the
	// cadre at the PC, a home visit, nothing wrong, the next due date by
	// the person's category.
	f := newForm(nil)
	d := s.visitForm(p, f)
	now := s.opts.Now().In(zone.Location())
	f.Values.Set("visited_on", now.Format(time.DateOnly))
	f.Values.Set("visitors", se.account.Name)
	f.Values.Set("method", "入户走访")
	f.Values.Set("risk", "正常")
	f.Values.Set("next_due", now.AddDate(0, 0, d.Every).Format(time.DateOnly))
	s.render(w, r, se, http.StatusOK, "visit_form", page{Title: "记录走访", Nav: "persons", Data: d})
}

func (s *Server) handlePostVisitNew(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	pid := r.PathValue("id")
	p, err := s.a.Store.Get(ctx, records.Person, pid)
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	v, ok := postedForm(w, r)
	if !ok {
		return
	}
	if v.Get("risk") == "紧急" {
		// An urgent case is seen again a week after the visit: the category's
		// default the form came with (or no date) gives way to it; a date
		// the cadre chose stands.
		now := s.opts.Now().In(zone.Location())
		due := trimmed(v, "next_due")
		if due == "" || due == now.AddDate(0, 0, s.visitForm(p, nil).Every).Format(time.DateOnly) {
			on, err := time.ParseInLocation(time.DateOnly, trimmed(v, "visited_on"), zone.Location())
			if err != nil {
				on = now
			}
			v.Set("next_due", on.AddDate(0, 0, urgentEveryDays).Format(time.DateOnly))
		}
	}
	fields, f := visitFields(v, pid, s.today())
	if f.OK() {
		_, err := s.a.Store.Save(ctx, records.Visit, "", changed(records.Fields{}, fields), se.account.Name)
		if err == nil {
			msg := "走访记录已保存"
			if v.Get("risk") == "紧急" {
				// An urgent visit starts a round at once; it cannot
				// overtake changes queued before it (see README, "urgent"),
				// so when the county is out of reach the cadre is told to
				// phone rather than led to believe it is on its way.
				s.a.Nudge()
				s.flash(se, "urgent", s.urgentMessage(ctx))
			} else {
				s.flash(se, "ok", msg)
			}
			s.redirect(w, r, "/persons/"+pid)
			return
		}
		if !fieldErr(f, err) {
			s.fail(w, r, se, err)
			return
		}
	}
	s.render(w, r, se, http.StatusUnprocessableEntity, "visit_form", page{Title: "记录走访", Nav: "persons", Data: s.visitForm(p, f)})
}

// A saved visit is corrected like any record the station owns: the
// changed fields go up as a new version with who and when, and the county
// keeps the version they replace (record_versions).
func (s *Server) loadVisitForEdit(ctx context.Context, id string) (*agent.Local, *agent.Local, error) {
	v, err := s.a.Store.Get(ctx, records.Visit, id)
	if err != nil {
		return nil, nil, err
	}
	p, err := s.a.Store.Get(ctx, records.Person, records.TextValue(v.Fields, "person_id"))
	if err != nil {
		return nil, nil, err
	}
	return v, p, nil
}

func (s *Server) handleGetVisitEdit(w http.ResponseWriter, r *http.Request, se *session) {
	v, p, err := s.loadVisitForEdit(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	d := s.visitForm(p, visitFormFrom(v.Fields))
	d.ID = v.ID
	s.render(w, r, se, http.StatusOK, "visit_form", page{Title: "修改走访记录", Nav: "visits", Data: d})
}

func (s *Server) handlePostVisitEdit(w http.ResponseWriter, r *http.Request, se *session) {
	v, p, err := s.loadVisitForEdit(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	vals, ok := postedForm(w, r)
	if !ok {
		return
	}
	// The visit stays with its person: the form cannot move it.
	fields, f := visitFields(vals, p.ID, s.today())
	if s.saveEdit(w, r, se, v, fields, f, "/visits/"+v.ID) {
		if vals.Get("risk") == "紧急" && f.OK() {
			s.a.Nudge()
		}
		return
	}
	d := s.visitForm(p, f)
	d.ID = v.ID
	s.render(w, r, se, http.StatusUnprocessableEntity, "visit_form", page{Title: "修改走访记录", Nav: "visits", Data: d})
}

// urgentEveryDays is the next-visit default of a 紧急 visit.
const urgentEveryDays = 7

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

func (s *Server) handleGetVisit(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	v, err := s.a.Store.Get(ctx, records.Visit, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	d := visitData{V: v}
	if p, err := s.a.Store.Get(ctx, records.Person, records.TextValue(v.Fields, "person_id")); err == nil {
		d.PersonName = records.TextValue(p.Fields, "name")
	}
	json.Unmarshal(v.Fields["visitors"], &d.Visitors)
	json.Unmarshal(v.Fields["needs"], &d.Needs)
	d.State, _ = s.a.Store.State(ctx, "visit", v.ID)
	d.VoidReason = records.TextValue(v.Fields, "void_reason")
	d.Void = newForm(nil)
	s.render(w, r, se, http.StatusOK, "visit", page{Title: "走访记录", Nav: "visits", Data: d})
}

// handlePostVisitVoid voids a visit recorded in error. Nothing is deleted:
// the reason goes up as a new version, and the county keeps the one before.
func (s *Server) handlePostVisitVoid(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	id := r.PathValue("id")
	vals, ok := postedForm(w, r)
	if !ok {
		return
	}
	f := newForm(vals)
	reason := trimmed(vals, "void_reason")
	if reason == "" {
		f.fail("void_reason", "请填写作废原因，例如「重复录入」「对象选错了」")
	}
	if f.OK() {
		_, err := s.a.Store.Save(ctx, records.Visit, id, records.Fields{"void_reason": jtext(reason)}, se.account.Name)
		if err == nil {
			s.flash(se, "ok", "已作废这条走访记录："+reason)
			s.redirect(w, r, "/visits/"+id)
			return
		}
		if !fieldErr(f, err) {
			s.fail(w, r, se, err)
			return
		}
	}
	v, err := s.a.Store.Get(ctx, records.Visit, id)
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	d := visitData{V: v, Void: f}
	if p, err := s.a.Store.Get(ctx, records.Person, records.TextValue(v.Fields, "person_id")); err == nil {
		d.PersonName = records.TextValue(p.Fields, "name")
	}
	json.Unmarshal(v.Fields["visitors"], &d.Visitors)
	json.Unmarshal(v.Fields["needs"], &d.Needs)
	d.State, _ = s.a.Store.State(ctx, "visit", v.ID)
	d.VoidReason = records.TextValue(v.Fields, "void_reason")
	s.render(w, r, se, http.StatusUnprocessableEntity, "visit", page{Title: "走访记录", Nav: "visits", Data: d})
}

// ---- applications ----

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

type appFormData struct {
	Form      *form
	ID        string
	Applicant *agent.Local
	Name      string
	Types     []string
	Status    string
}

func (s *Server) handleGetAppNew(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	pid := r.URL.Query().Get("person")
	if pid == "" {
		s.flash(se, "info", "请先找到申请人，在他（她）的页面上点「新建救助申请」")
		s.redirect(w, r, "/persons")
		return
	}
	p, err := s.a.Store.Get(ctx, records.Person, pid)
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	f := newForm(nil)
	f.Values.Set("m_name_0", records.TextValue(p.Fields, "name"))
	f.Values.Set("m_relation_0", "本人")
	f.Values.Set("m_id_0", records.TextValue(p.Fields, "id_number"))
	f.Rows = rowsFor(1, memberRows)
	s.render(w, r, se, http.StatusOK, "app_form", page{Title: "新建救助申请", Nav: "applications",
		Data: appFormData{Form: f, Applicant: p, Name: records.TextValue(p.Fields, "name"), Types: records.AssistanceTypes}})
}

func (s *Server) handlePostAppNew(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	v, ok := postedForm(w, r)
	if !ok {
		return
	}
	pid := v.Get("applicant_id")
	p, err := s.a.Store.Get(ctx, records.Person, pid)
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	fields, f := appFields(v, pid)
	if f.OK() {
		id, err := s.a.Store.Save(ctx, records.Application, "", changed(records.Fields{}, fields), se.account.Name)
		if err == nil {
			s.flash(se, "ok", "申请草稿已保存。核对无误后点「提交到县里」")
			s.redirect(w, r, "/applications/"+id)
			return
		}
		if !fieldErr(f, err) {
			s.fail(w, r, se, err)
			return
		}
	}
	s.render(w, r, se, http.StatusUnprocessableEntity, "app_form", page{Title: "新建救助申请", Nav: "applications",
		Data: appFormData{Form: f, Applicant: p, Name: records.TextValue(p.Fields, "name"), Types: records.AssistanceTypes}})
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

func (s *Server) handleGetAppEdit(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	id := r.PathValue("id")
	a, err := s.a.Store.Get(ctx, records.Application, id)
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	st := records.TextValue(a.Fields, "status")
	if !records.StationEditable(st) {
		s.flash(se, "error", "申请已提交（"+records.StatusLabel[st]+"），不能再修改；请等县里退回后再改")
		s.redirect(w, r, "/applications/"+id)
		return
	}
	d := appFormData{Form: appFormFrom(a.Fields), ID: id, Types: records.AssistanceTypes, Status: st}
	if p, err := s.a.Store.Get(ctx, records.Person, records.TextValue(a.Fields, "applicant_id")); err == nil {
		d.Applicant, d.Name = p, records.TextValue(p.Fields, "name")
	}
	s.render(w, r, se, http.StatusOK, "app_form", page{Title: "修改救助申请", Nav: "applications", Data: d})
}

func (s *Server) handlePostAppEdit(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	id := r.PathValue("id")
	a, err := s.a.Store.Get(ctx, records.Application, id)
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	v, ok := postedForm(w, r)
	if !ok {
		return
	}
	pid := records.TextValue(a.Fields, "applicant_id")
	fields, f := appFields(v, pid)
	if s.saveEdit(w, r, se, a, fields, f, "/applications/"+id) {
		return
	}
	d := appFormData{Form: f, ID: id, Types: records.AssistanceTypes, Status: records.TextValue(a.Fields, "status")}
	if p, err := s.a.Store.Get(ctx, records.Person, pid); err == nil {
		d.Applicant, d.Name = p, records.TextValue(p.Fields, "name")
	}
	s.render(w, r, se, http.StatusUnprocessableEntity, "app_form", page{Title: "修改救助申请", Nav: "applications", Data: d})
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

// ---- disclosures ----

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

type discFormData struct {
	Form  *form
	ID    string
	Kinds []string
}

func (s *Server) handleGetDiscNew(w http.ResponseWriter, r *http.Request, se *session) {
	f := newForm(nil)
	now := s.opts.Now().In(zone.Location())
	f.Values.Set("publish_from", now.Format(time.DateOnly))
	f.Values.Set("publish_until", now.AddDate(0, 0, 7).Format(time.DateOnly))
	s.render(w, r, se, http.StatusOK, "disc_form", page{Title: "新建公开事项", Nav: "disclosures", Data: discFormData{Form: f, Kinds: records.DisclosureKinds}})
}

func (s *Server) handlePostDiscNew(w http.ResponseWriter, r *http.Request, se *session) {
	v, ok := postedForm(w, r)
	if !ok {
		return
	}
	fields, f := discFields(v)
	if f.OK() {
		fields["status"] = jtext("draft")
		id, err := s.a.Store.Save(r.Context(), records.Disclosure, "", changed(records.Fields{}, fields), se.account.Name)
		if err == nil {
			s.flash(se, "ok", "草稿已保存。请村务监督委员会成员审核后点「发布」")
			s.redirect(w, r, "/disclosures/"+id)
			return
		}
		if !fieldErr(f, err) {
			s.fail(w, r, se, err)
			return
		}
	}
	s.render(w, r, se, http.StatusUnprocessableEntity, "disc_form", page{Title: "新建公开事项", Nav: "disclosures", Data: discFormData{Form: f, Kinds: records.DisclosureKinds}})
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

func (s *Server) handleGetDiscEdit(w http.ResponseWriter, r *http.Request, se *session) {
	id := r.PathValue("id")
	d, err := s.a.Store.Get(r.Context(), records.Disclosure, id)
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	s.render(w, r, se, http.StatusOK, "disc_form", page{Title: "修改公开事项", Nav: "disclosures", Data: discFormData{Form: discFormFrom(d.Fields), ID: id, Kinds: records.DisclosureKinds}})
}

func (s *Server) handlePostDiscEdit(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	id := r.PathValue("id")
	d, err := s.a.Store.Get(ctx, records.Disclosure, id)
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	v, ok := postedForm(w, r)
	if !ok {
		return
	}
	fields, f := discFields(v)
	if s.saveEdit(w, r, se, d, fields, f, "/disclosures/"+id) {
		return
	}
	s.render(w, r, se, http.StatusUnprocessableEntity, "disc_form", page{Title: "修改公开事项", Nav: "disclosures", Data: discFormData{Form: f, ID: id, Kinds: records.DisclosureKinds}})
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

// ---- sync, rejected changes, settings ----

type syncData struct {
	Status    agent.Status
	Rejected  []agent.RejectedChange
	Conflicts []agent.Conflict
}

func (s *Server) handleGetSync(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	st, _ := s.a.Status(ctx)
	rej, err := s.a.Store.RejectedChanges(ctx, 100)
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	conf, err := s.a.Store.Conflicts(ctx, 100)
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	s.render(w, r, se, http.StatusOK, "sync", page{Title: "同步情况", Nav: "sync", Data: syncData{Status: st, Rejected: rej, Conflicts: conf}})
}

func (s *Server) handlePostSync(w http.ResponseWriter, r *http.Request, se *session) {
	back := "/sync"
	if v, err := parseForm(r); err == nil && v.Get("back") != "" {
		back = safeNext(v.Get("back"))
	} else if ref, err := url.Parse(r.Referer()); err == nil && strings.HasPrefix(ref.Path, "/") && !strings.HasPrefix(ref.Path, "/login") {
		back = ref.RequestURI()
	}
	if !s.a.Enrolled(r.Context()) {
		s.flash(se, "error", "站点尚未注册：可以先离线录入，联网后在「站点注册」完成注册")
		s.redirect(w, r, back)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.SyncTimeout)
	res, err := s.a.SyncOnce(ctx)
	cancel()
	if err != nil {
		s.flash(se, "error", "同步没有成功："+PlainReason(err.Error()))
	} else {
		msg := "同步成功：上传 " + strconv.Itoa(res.Pushed) + " 条，收到县里 " + strconv.Itoa(res.Pulled) + " 条"
		if res.Rejected > 0 {
			msg += "；有 " + strconv.Itoa(res.Rejected) + " 条被县里退回，请在「同步情况」里修正"
		}
		s.flash(se, "ok", msg)
	}
	s.redirect(w, r, back)
}

func (s *Server) handlePostDismiss(w http.ResponseWriter, r *http.Request, se *session) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err := s.a.Store.DismissRejected(r.Context(), id); err != nil {
		s.fail(w, r, se, err)
		return
	}
	s.flash(se, "ok", "已标记为处理完毕")
	s.redirect(w, r, "/sync")
}

type settingsData struct {
	Form    *form
	Log     []string
	LogFrom string
	Status  agent.Status
	Version string
	DataDir string
	// The village's code, its name, and its name when nothing is typed (places.go).
	Village, VillageName, VillageDefault string
}

func (s *Server) configPath(ctx context.Context) string {
	if s.opts.ConfigPath != "" {
		return s.opts.ConfigPath
	}
	return filepath.Join(filepath.Dir(s.a.Store.DB().Path), agent.ConfigFileName)
}

func (s *Server) settingsData(ctx context.Context, f *form) settingsData {
	d := settingsData{Form: f, Version: agent.Version, DataDir: filepath.Dir(s.a.Store.DB().Path),
		Village: s.a.Store.Meta(ctx, "village"), VillageName: s.villageName(ctx, ""), VillageDefault: s.defaultVillageName(ctx)}
	d.Status, _ = s.a.Status(ctx)
	if s.opts.LogFile != "" {
		if lines, err := tailFile(s.opts.LogFile, 50); err == nil {
			d.Log, d.LogFrom = lines, s.opts.LogFile
		}
	}
	if d.Log == nil {
		lines := s.opts.Ring.Lines()
		if len(lines) > 50 {
			lines = lines[len(lines)-50:]
		}
		d.Log, d.LogFrom = lines, "本次运行以来（内存中）"
	}
	return d
}

func (s *Server) handleGetSettings(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	c, err := agent.ReadConfigFile(s.configPath(ctx))
	f := newForm(nil)
	if err != nil {
		f.fail("_form", "配置文件有误，保存后会被覆盖："+err.Error())
		c = agent.DefaultConfig()
	}
	server := c.Server
	if server == "" {
		server = s.a.Store.Meta(ctx, "server_url")
	}
	f.Values.Set("server", server)
	f.Values.Set("interval", strconv.Itoa(int(time.Duration(c.SyncInterval).Minutes())))
	if time.Duration(c.SyncInterval) < time.Minute {
		f.Values.Set("interval", "1")
	}
	f.Values.Set("township_phone", s.a.Store.Meta(ctx, metaTownshipPhone))
	f.Values.Set("village_name", s.a.Store.Meta(ctx, metaVillageNameLocal))
	s.render(w, r, se, http.StatusOK, "settings", page{Title: "设置", Nav: "settings", Data: s.settingsData(ctx, f)})
}

func (s *Server) handlePostSettings(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	v, ok := postedForm(w, r)
	if !ok {
		return
	}
	f := newForm(v)
	c, err := agent.ReadConfigFile(s.configPath(ctx))
	if err != nil {
		c = agent.DefaultConfig()
	}
	server := strings.TrimRight(trimmed(v, "server"), "/")
	if server != "" && !strings.Contains(server, "://") {
		server = "http://" + server
	}
	if server != "" {
		if u, err := url.Parse(server); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			f.fail("server", "地址格式不对，应像 http://10.1.2.3:8870")
		}
	}
	phone := checkPhone(f, "township_phone", v.Get("township_phone"))
	min, err := strconv.Atoi(trimmed(v, "interval"))
	if err != nil || min < 1 || min > 1440 {
		f.fail("interval", "同步间隔请填 1 到 1440 之间的分钟数")
	}
	vname := trimmed(v, "village_name")
	if len([]rune(vname)) > maxVillageName || strings.ContainsAny(vname, "\r\n") {
		f.fail("village_name", "村名最多 "+strconv.Itoa(maxVillageName)+" 个字，例如 太华村")
	}
	if f.OK() {
		c.Server = server
		c.SyncInterval = agent.Duration(time.Duration(min) * time.Minute)
		if err := s.a.Store.SetMeta(ctx, map[string]string{metaTownshipPhone: phone, metaVillageNameLocal: vname}); err != nil {
			f.fail("_form", "保存乡镇电话失败："+err.Error())
		} else if err := agent.WriteConfigFile(s.configPath(ctx), c); err != nil {
			f.fail("_form", "保存设置失败："+err.Error())
		} else if err := s.a.ApplyConfig(ctx, c); err != nil {
			f.fail("_form", "设置已保存，但未能立即生效："+err.Error())
		}
	}
	if !f.OK() {
		s.render(w, r, se, http.StatusUnprocessableEntity, "settings", page{Title: "设置", Nav: "settings", Data: s.settingsData(ctx, f)})
		return
	}
	s.log.Info("settings changed from the pages", "by", se.account.Name, "server", server, "interval_min", min)
	s.a.Nudge()
	s.flash(se, "ok", "设置已保存并生效")
	s.redirect(w, r, "/settings")
}

var _ = idcard.Mask
