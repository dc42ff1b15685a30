package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"stationsync/agent"
	"stationsync/internal/idcard"
	"stationsync/internal/records"
)

// The care register: the list, a person's page, the form that registers
// and corrects a person, and leaving the register and coming back.

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

// personPage is a person's page, with exit as the form to take the person
// off the register.
func (s *Server) personPage(ctx context.Context, id string, exit *form) (page, error) {
	p, err := s.a.Store.Get(ctx, records.Person, id)
	if err != nil {
		return page{}, err
	}
	d := &personData{P: p, Name: records.TextValue(p.Fields, "name"), Status: records.TextValue(p.Fields, "status"), Today: s.today(), Exit: exit}
	if d.Status == "" {
		d.Status = "在册"
	}
	json.Unmarshal(p.Fields["categories"], &d.Categories)
	json.Unmarshal(p.Fields["guardian"], &d.Guardian)
	json.Unmarshal(p.Fields["family_away"], &d.Family)
	if d.Visits, d.VisitsTotal, err = s.a.Store.Visits(ctx, agent.VisitQuery{PersonID: id, Limit: 50}); err != nil {
		return page{}, err
	}
	if d.Apps, _, err = s.a.Store.Applications(ctx, agent.AppQuery{ApplicantID: id, Limit: 50}); err != nil {
		return page{}, err
	}
	if d.LastVisit, d.Due, err = s.a.Store.PersonDue(ctx, id); err != nil {
		return page{}, err
	}
	if d.State, err = s.a.Store.State(ctx, "person", id); err != nil {
		return page{}, err
	}
	return page{Title: d.Name, Nav: "persons", Data: d}, nil
}

func (s *Server) handleGetPerson(w http.ResponseWriter, r *http.Request, se *session) {
	p, err := s.personPage(r.Context(), r.PathValue("id"), newForm(nil))
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	s.render(w, r, se, http.StatusOK, "person", p)
}

type personFormData struct {
	Form       *form
	ID         string
	Categories []string
	Duplicate  string // id of a person with the same ID number
}

// personForm registers and corrects a person (recordform.go).
func (s *Server) personForm() *recordForm {
	return &recordForm{
		kind: records.Person, tmpl: "person_form", show: "/persons/",
		newTitle: "登记关爱对象", editTitle: "修改关爱对象", newNav: "persons", editNav: "persons",
		blank: func(*session, *agent.Local) *form {
			f := newForm(nil)
			f.Rows = rowsFor(0, familyRows)
			return f
		},
		fill: func(p *agent.Local) *form { return personFormFrom(p.Fields) },
		read: func(ctx context.Context, v url.Values, _, p *agent.Local) (records.Fields, *form) {
			fields, f := personFields(v, p.ID == "")
			// A person is registered once: an ID number on file under
			// somebody else is refused, with a link to that person.
			if n := records.TextValue(fields, "id_number"); f.Err("id_number") == "" && n != records.TextValue(p.Fields, "id_number") {
				if other, name := s.a.Store.PersonByIDNumber(ctx, n); other != "" && other != p.ID {
					f.fail("id_number", "这个身份号码已登记（"+name+"），请勿重复登记")
					f.dup = other
				}
			}
			return fields, f
		},
		data: func(f *form, _, p *agent.Local) any {
			return personFormData{Form: f, ID: p.ID, Categories: records.PersonCategories, Duplicate: f.dup}
		},
		created: func(_ context.Context, _ *agent.Local, fields records.Fields, id string) (string, string, string) {
			return "ok", "已保存「" + records.TextValue(fields, "name") + "」", "/persons/" + id
		},
	}
}

// personExit takes a person off the register, with the reason.
func (s *Server) personExit() reasonedChange {
	return reasonedChange{
		kind: records.Person, box: "exit_reason", missing: "请选择或填写退出原因", show: "/persons/",
		reason: func(v url.Values) string {
			reason := trimmed(v, "exit_reason")
			if p := v.Get("exit_preset"); p != "" && p != "其他" {
				if reason == "" {
					return p
				}
				return p + "：" + reason
			}
			return reason
		},
		fields: func(reason string) records.Fields {
			return records.Fields{"status": jtext("已退出"), "exit_reason": jtext(reason)}
		},
		done: func(reason string) string { return "已标记为退出：" + reason },
		tmpl: "person", pageData: s.personPage,
	}
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

// familyRows is how many family-away rows a new form offers.
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
