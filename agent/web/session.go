package web

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"

	"stationsync/agent"
)

// Sessions: a cookie names a session kept in memory, which ends after
// IdleTimeout without a request or MaxSession whatever happens. A restart
// logs everybody out.

type session struct {
	account   agent.Account
	started   time.Time
	lastSeen  time.Time
	flash     string
	flashKind string
}

const cookieName = "stationsync_session"

func newToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// expired reports whether se has ended by now.
func (s *Server) expired(se *session, now time.Time) bool {
	return now.Sub(se.lastSeen) > s.opts.IdleTimeout || now.Sub(se.started) > s.opts.MaxSession
}

// session returns the request's live session, nil if none; the request
// counts as the cadre's activity.
func (s *Server) session(r *http.Request) *session { return s.findSession(r, true) }

// peekSession is session without touching its idle time.
func (s *Server) peekSession(r *http.Request) *session { return s.findSession(r, false) }

func (s *Server) findSession(r *http.Request, touch bool) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.sessions[c.Value]
	if se == nil {
		return nil
	}
	now := s.opts.Now()
	if s.expired(se, now) {
		if touch {
			delete(s.sessions, c.Value)
		}
		return nil
	}
	if touch {
		se.lastSeen = now
	}
	return se
}

func (s *Server) startSession(w http.ResponseWriter, a agent.Account) *session {
	tok := newToken()
	now := s.opts.Now()
	s.mu.Lock()
	for k, se := range s.sessions { // drop expired ones
		if s.expired(se, now) {
			delete(s.sessions, k)
		}
	}
	se := &session{account: a, started: now, lastSeen: now}
	s.sessions[tok] = se
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return se
}

func (s *Server) endSession(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		s.mu.Lock()
		delete(s.sessions, c.Value)
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// endSessionsOf logs out whoever is logged in on account id.
func (s *Server) endSessionsOf(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, x := range s.sessions {
		if x.account.ID == id {
			delete(s.sessions, k)
		}
	}
}

// flash keeps a one-line message for the next page the session sees
// (POST/redirect/GET).
func (s *Server) flash(se *session, kind, msg string) {
	s.mu.Lock()
	se.flash, se.flashKind = msg, kind
	s.mu.Unlock()
}

func (s *Server) takeFlash(se *session) (string, string) {
	if se == nil {
		return "", ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, k := se.flash, se.flashKind
	se.flash, se.flashKind = "", ""
	return m, k
}

// handler is a page behind the log-in: it gets the cadre's session.
type handler = func(http.ResponseWriter, *http.Request, *session)

// requireLogin serves h to a cadre who is logged in, and sends anybody
// else to log in (or, on the first run, to make the first account).
func (s *Server) requireLogin(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		se := s.session(r)
		if se == nil {
			if n, _ := s.a.Store.AccountCount(r.Context()); n == 0 {
				http.Redirect(w, r, "/setup", http.StatusSeeOther)
				return
			}
			if r.Method == http.MethodPost && r.URL.Path != "/sync" && !strings.HasPrefix(r.URL.Path, "/rejected/") && !strings.HasPrefix(r.URL.Path, "/enroll") {
				// The session ended while a form was being filled in (a long
				// visit note): log in again and keep what was typed.
				if v, err := parseForm(r); err == nil && len(v) > 0 {
					s.renderLogin(w, r, http.StatusOK, newForm(nil), safeNext(r.URL.Path), replayOf(v), true)
					return
				}
			}
			next := r.URL.RequestURI()
			if r.Method != http.MethodGet {
				next = "/"
				if ref, err := url.Parse(r.Referer()); err == nil && strings.HasPrefix(ref.Path, "/") {
					next = ref.RequestURI()
				}
			}
			http.Redirect(w, r, "/login?expired=1&next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		h(w, r, se)
	}
}
