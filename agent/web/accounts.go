package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"stationsync/agent"
)

// Cadres' accounts: the first one made on the first run, the others added
// by a cadre who is logged in, changing one's own PIN, and stopping an
// account. Accounts are the station's own: they never go to the county.

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
	acc, f, err := s.newAccount(ctx, v, "")
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if !f.OK() {
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

// newAccount makes an account from the new-account form (the first run's
// and the accounts page's): a name and a PIN typed twice. On a refusal
// the form comes back with its messages and without the PINs.
func (s *Server) newAccount(ctx context.Context, v url.Values, by string) (*agent.Account, *form, error) {
	f := newForm(v)
	v.Set("pin", checkNewPIN(f, "pin", "pin2", "两次输入的密码不一样"))
	var acc *agent.Account
	if f.OK() {
		var err error
		if acc, err = s.a.Store.CreateAccount(ctx, v.Get("name"), v.Get("pin"), by); err != nil && !fieldErr(f, err) {
			return nil, nil, err
		}
	}
	if !f.OK() {
		f.Values.Del("pin")
		f.Values.Del("pin2")
	}
	return acc, f, nil
}

// checkNewPIN checks a new PIN typed in box and again in box2, with the
// rule the store keeps (agent.CheckPINFormat). It returns the PIN as
// ASCII digits.
func checkNewPIN(f *form, box, box2, mismatch string) string {
	pin := pinText(f.Get(box))
	if msg := agent.CheckPINFormat(pin); msg != "" {
		f.fail(box, msg)
	} else if pinText(f.Get(box2)) != pin {
		f.fail(box2, mismatch)
	}
	return pin
}

// pinText turns the full-width digits of a Chinese input method into
// ASCII: every PIN ever set is ASCII digits, so nothing else changes.
func pinText(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '０' && r <= '９' {
			return r - '０' + '0'
		}
		return r
	}, s)
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
	_, f, err := s.newAccount(r.Context(), v, se.account.Name)
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	if !f.OK() {
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
	newPIN := checkNewPIN(f, "new_pin", "new_pin2", "两次输入的新密码不一样")
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
		s.endSessionsOf(id)
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
