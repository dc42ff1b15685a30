package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"stationsync/agent"
	"stationsync/internal/records"
)

// The forms that make and correct records go through the same steps for
// every kind: load the record and what it is about, read the post, save
// only what changed, and on a refusal show the form again with every
// value kept and each message by its box. The handlers below are those
// steps, written once; a recordForm says what differs by kind (persons.go,
// visits.go, applications.go, disclosures.go).

// recordForm is one kind's new and edit forms. The handlers call its
// functions in this order:
//
//	GET  …/new        aboutNew, blank, data
//	POST …/new        aboutNew, read, then created, or data to show it again
//	GET  …/{id}/edit  about, locked, fill, data
//	POST …/{id}/edit  about, read, then edited, or data to show it again
type recordForm struct {
	kind                records.Kind
	tmpl                string // the form's template
	newTitle, editTitle string
	newNav, editNav     string // the menu item lit
	show                string // a record's page is show + its id

	// aboutNew loads what a new record is about, named by its request (v:
	// the query of a GET, the posted form of a POST): the person visited,
	// the applicant. Nil: a kind about nothing. A detour sends the cadre
	// elsewhere instead.
	aboutNew func(r *http.Request, v url.Values) (*agent.Local, error)
	// about loads what a saved record is about; nil as for aboutNew.
	about func(ctx context.Context, rec *agent.Local) (*agent.Local, error)
	// blank is a new record's form, prefilled.
	blank func(se *session, about *agent.Local) *form
	// fill is the form of a saved record.
	fill func(rec *agent.Local) *form
	// locked, if set, says why a saved record can no longer be corrected
	// here, or "".
	locked func(rec *agent.Local) string
	// read reads a posted form: the fields, and the form with its messages.
	// rec is the record as saved, without an ID for a new one.
	read func(ctx context.Context, v url.Values, about, rec *agent.Local) (records.Fields, *form)
	// data is what the template gets.
	data func(f *form, about, rec *agent.Local) any
	// created says what the cadre reads once record id is saved, and
	// where the page goes.
	created func(ctx context.Context, about *agent.Local, fields records.Fields, id string) (kind, msg, to string)
	// edited, if set, follows an edit that was saved or changed nothing.
	edited func(fields records.Fields)
}

// detour sends the cadre elsewhere, saying why, where a form was asked
// for that cannot be had there.
type detour struct{ kind, msg, to string }

func (d detour) Error() string { return d.msg }

// stop answers a request whose form cannot be had: a detour, or the error
// page.
func (s *Server) stop(w http.ResponseWriter, r *http.Request, se *session, err error) {
	var d detour
	if errors.As(err, &d) {
		s.flash(se, d.kind, d.msg)
		s.redirect(w, r, d.to)
		return
	}
	s.fail(w, r, se, err)
}

func (rf *recordForm) loadNew(r *http.Request, v url.Values) (*agent.Local, error) {
	if rf.aboutNew == nil {
		return nil, nil
	}
	return rf.aboutNew(r, v)
}

func (rf *recordForm) load(s *Server, r *http.Request) (rec, about *agent.Local, err error) {
	ctx := r.Context()
	if rec, err = s.a.Store.Get(ctx, rf.kind, r.PathValue("id")); err != nil || rf.about == nil {
		return rec, nil, err
	}
	about, err = rf.about(ctx, rec)
	return rec, about, err
}

func (s *Server) handleGetNew(rf *recordForm) handler {
	return func(w http.ResponseWriter, r *http.Request, se *session) {
		about, err := rf.loadNew(r, r.URL.Query())
		if err != nil {
			s.stop(w, r, se, err)
			return
		}
		data := rf.data(rf.blank(se, about), about, &agent.Local{Kind: rf.kind})
		s.render(w, r, se, http.StatusOK, rf.tmpl, page{Title: rf.newTitle, Nav: rf.newNav, Data: data})
	}
}

func (s *Server) handlePostNew(rf *recordForm) handler {
	return func(w http.ResponseWriter, r *http.Request, se *session) {
		ctx := r.Context()
		v, ok := postedForm(w, r)
		if !ok {
			return
		}
		about, err := rf.loadNew(r, v)
		if err != nil {
			s.stop(w, r, se, err)
			return
		}
		rec := &agent.Local{Kind: rf.kind}
		fields, f := rf.read(ctx, v, about, rec)
		done := func(id string) (string, string, string) { return rf.created(ctx, about, fields, id) }
		if s.save(w, r, se, rec, fields, f, done) {
			return
		}
		s.render(w, r, se, http.StatusUnprocessableEntity, rf.tmpl, page{Title: rf.newTitle, Nav: rf.newNav, Data: rf.data(f, about, rec)})
	}
}

func (s *Server) handleGetEdit(rf *recordForm) handler {
	return func(w http.ResponseWriter, r *http.Request, se *session) {
		rec, about, err := rf.load(s, r)
		if err != nil {
			s.fail(w, r, se, err)
			return
		}
		if rf.locked != nil {
			if msg := rf.locked(rec); msg != "" {
				s.stop(w, r, se, detour{"error", msg, rf.show + rec.ID})
				return
			}
		}
		s.render(w, r, se, http.StatusOK, rf.tmpl, page{Title: rf.editTitle, Nav: rf.editNav, Data: rf.data(rf.fill(rec), about, rec)})
	}
}

func (s *Server) handlePostEdit(rf *recordForm) handler {
	return func(w http.ResponseWriter, r *http.Request, se *session) {
		rec, about, err := rf.load(s, r)
		if err != nil {
			s.fail(w, r, se, err)
			return
		}
		v, ok := postedForm(w, r)
		if !ok {
			return
		}
		fields, f := rf.read(r.Context(), v, about, rec)
		done := func(id string) (string, string, string) { return "ok", "已保存修改", rf.show + id }
		if s.save(w, r, se, rec, fields, f, done) {
			if rf.edited != nil && f.OK() {
				rf.edited(fields)
			}
			return
		}
		s.render(w, r, se, http.StatusUnprocessableEntity, rf.tmpl, page{Title: rf.editTitle, Nav: rf.editNav, Data: rf.data(f, about, rec)})
	}
}

// save saves what a form changed in rec (a new record when rec has no ID)
// and sends the cadre on with done's message. It reports false, having
// written nothing, when the form must be shown again: a field was wrong
// before or the store refused one.
func (s *Server) save(w http.ResponseWriter, r *http.Request, se *session, rec *agent.Local, fields records.Fields, f *form, done func(id string) (kind, msg, to string)) bool {
	if !f.OK() {
		return false
	}
	// Only what the cadre changed goes up, so an edit cannot undo an
	// untouched field somebody else changed meanwhile.
	ch := changed(rec.Fields, fields)
	if rec.ID != "" && len(ch) == 0 {
		_, _, to := done(rec.ID)
		s.flash(se, "ok", "没有改动")
		s.redirect(w, r, to)
		return true
	}
	id, err := s.a.Store.Save(r.Context(), rec.Kind, rec.ID, ch, se.account.Name)
	if err != nil {
		if fieldErr(f, err) {
			return false
		}
		s.fail(w, r, se, err)
		return true
	}
	kind, msg, to := done(id)
	s.flash(se, kind, msg)
	s.redirect(w, r, to)
	return true
}

// reasonedChange is a change to a saved record that needs its reason in
// words: a person leaving the register, a visit voided. Nothing is
// deleted: the change goes up as a new version, and the county keeps the
// one before.
type reasonedChange struct {
	kind    records.Kind
	box     string // the reason's box
	missing string // what the cadre reads when there is no reason
	show    string // the record's page is show + its id
	reason  func(v url.Values) string
	fields  func(reason string) records.Fields
	done    func(reason string) string
	// tmpl is the record's page, drawn again by pageData with the
	// refused form f.
	tmpl     string
	pageData func(ctx context.Context, id string, f *form) (page, error)
}

func (s *Server) handlePostReasoned(c reasonedChange) handler {
	return func(w http.ResponseWriter, r *http.Request, se *session) {
		ctx := r.Context()
		id := r.PathValue("id")
		v, ok := postedForm(w, r)
		if !ok {
			return
		}
		f := newForm(v)
		reason := c.reason(v)
		if reason == "" {
			f.fail(c.box, c.missing)
		}
		if f.OK() {
			_, err := s.a.Store.Save(ctx, c.kind, id, c.fields(reason), se.account.Name)
			if err == nil {
				s.flash(se, "ok", c.done(reason))
				s.redirect(w, r, c.show+id)
				return
			}
			if !fieldErr(f, err) {
				s.fail(w, r, se, err)
				return
			}
		}
		p, err := c.pageData(ctx, id, f)
		if err != nil {
			s.fail(w, r, se, err)
			return
		}
		s.render(w, r, se, http.StatusUnprocessableEntity, c.tmpl, p)
	}
}
