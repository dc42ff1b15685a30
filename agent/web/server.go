package web

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"stationsync/agent"
	"stationsync/internal/loginguard"
	"stationsync/internal/pagebuf"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options are how the pages are served. Zero values take the defaults
// written beside each field.
type Options struct {
	// ConfigPath is the station's config.json (county address, sync
	// interval); default <data>/config.json.
	ConfigPath string
	// LogFile is the log file whose last lines the settings page shows; ""
	// or missing: the lines kept by Ring.
	LogFile string
	Ring    *LogRing
	// IdleTimeout logs a cadre out after this long without a request;
	// default 2 h (a long visit note is typed in one go). MaxSession ends
	// a session whatever happens; default 12 h.
	IdleTimeout, MaxSession time.Duration
	// SyncTimeout bounds the "立即同步" button's round; default 20 s.
	SyncTimeout time.Duration
	Now         func() time.Time
	Logger      *slog.Logger
}

// Server serves the station's pages.
type Server struct {
	a    *agent.Agent
	opts Options
	log  *slog.Logger
	tmpl map[string]*template.Template

	mu       sync.Mutex
	sessions map[string]*session
	pinTries *loginguard.Limiter // wrong PINs per account (login.go)
}

type session struct {
	account   agent.Account
	started   time.Time
	lastSeen  time.Time
	flash     string
	flashKind string
}

const cookieName = "stationsync_session"

// New returns the pages of agent a.
func New(a *agent.Agent, opts Options) (*Server, error) {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 2 * time.Hour
	}
	if opts.MaxSession <= 0 {
		opts.MaxSession = 12 * time.Hour
	}
	if opts.SyncTimeout <= 0 {
		opts.SyncTimeout = 20 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Ring == nil {
		opts.Ring = NewLogRing(200)
	}
	t, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	return &Server{a: a, opts: opts, log: opts.Logger.With("subsystem", "web"), tmpl: t,
		sessions: map[string]*session{}, pinTries: loginguard.NewLimiter(pinPolicy, opts.Now)}, nil
}

func parseTemplates() (map[string]*template.Template, error) {
	base := template.New("").Funcs(funcs)
	if _, err := base.ParseFS(templateFS, "templates/layout.html"); err != nil {
		return nil, fmt.Errorf("parse layout: %w", err)
	}
	pages, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := t.ParseFS(templateFS, p); err != nil {
			return nil, fmt.Errorf("parse %s: %w", p, err)
		}
		out[name] = t
	}
	return out, nil
}

// Handler returns every route behind the checks every request passes:
// the Host must be this PC (no DNS rebinding), and a form may only be
// posted from the station's own pages (CSRF).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))

	mux.HandleFunc("GET /setup", s.handleGetSetup)
	mux.HandleFunc("POST /setup", s.handlePostSetup)
	mux.HandleFunc("GET /login", s.handleGetLogin)
	mux.HandleFunc("POST /login", s.handlePostLogin)
	mux.HandleFunc("POST /logout", s.handlePostLogout)

	auth := func(pattern string, h func(http.ResponseWriter, *http.Request, *session)) {
		mux.HandleFunc(pattern, s.requireLogin(h))
	}
	// Enrolment only by a cadre who is logged in (enroll.go).
	auth("GET /enroll", s.handleGetEnroll)
	auth("POST /enroll", s.handlePostEnroll)
	auth("POST /enroll/confirm", s.handlePostEnrollConfirm)
	auth("POST /enroll/cancel", s.handlePostEnrollCancel)
	auth("GET /{$}", s.handleHome)
	auth("GET /accounts", s.handleGetAccounts)
	auth("POST /accounts", s.handlePostAccounts)
	auth("POST /accounts/pin", s.handlePostPIN)
	auth("POST /accounts/{id}/disable", s.handlePostAccountDisable)
	auth("POST /accounts/{id}/enable", s.handlePostAccountEnable)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, s.session(r), http.StatusNotFound, "error", page{Title: "出错了", Data: "没有这个页面，请从上方的菜单进入。"})
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })

	auth("GET /persons", s.handleGetPersons)
	auth("GET /persons/new", s.handleGetPersonNew)
	auth("POST /persons/new", s.handlePostPersonNew)
	auth("GET /persons/{id}", s.handleGetPerson)
	auth("GET /persons/{id}/edit", s.handleGetPersonEdit)
	auth("POST /persons/{id}/edit", s.handlePostPersonEdit)
	auth("POST /persons/{id}/exit", s.handlePostPersonExit)
	auth("POST /persons/{id}/return", s.handlePostPersonReturn)
	auth("GET /persons/{id}/visits/new", s.handleGetVisitNew)
	auth("POST /persons/{id}/visits/new", s.handlePostVisitNew)

	auth("GET /visits", s.handleGetVisits)
	auth("GET /visits/overdue", s.handleGetOverdue)
	auth("GET /visits/{id}", s.handleGetVisit)
	auth("GET /visits/{id}/edit", s.handleGetVisitEdit)
	auth("POST /visits/{id}/edit", s.handlePostVisitEdit)
	auth("POST /visits/{id}/void", s.handlePostVisitVoid)

	auth("GET /applications", s.handleGetApplications)
	auth("GET /applications/new", s.handleGetAppNew)
	auth("POST /applications/new", s.handlePostAppNew)
	auth("GET /applications/{id}", s.handleGetApp)
	auth("GET /applications/{id}/edit", s.handleGetAppEdit)
	auth("POST /applications/{id}/edit", s.handlePostAppEdit)
	auth("POST /applications/{id}/submit", s.handlePostAppSubmit)
	auth("POST /applications/{id}/withdraw", s.handlePostAppWithdraw)

	auth("GET /disclosures", s.handleGetDisclosures)
	auth("GET /disclosures/new", s.handleGetDiscNew)
	auth("POST /disclosures/new", s.handlePostDiscNew)
	auth("GET /disclosures/{id}", s.handleGetDisc)
	auth("GET /disclosures/{id}/edit", s.handleGetDiscEdit)
	auth("POST /disclosures/{id}/edit", s.handlePostDiscEdit)
	auth("POST /disclosures/{id}/publish", s.handlePostDiscPublish)
	auth("POST /disclosures/{id}/withdraw", s.handlePostDiscWithdraw)
	auth("GET /disclosures/{id}/print", s.handleGetDiscPrint)

	auth("GET /sync", s.handleGetSync)
	mux.HandleFunc("GET /sync/bar", s.handleGetSyncBar)
	auth("POST /sync", s.handlePostSync)
	auth("POST /rejected/{id}/dismiss", s.handlePostDismiss)
	auth("GET /settings", s.handleGetSettings)
	auth("POST /settings", s.handlePostSettings)

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "请求来自其他网站，已拒绝（防止跨站伪造）", http.StatusForbidden)
	}))
	return s.guardHost(cop.Handler(securityHeaders(mux)))
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		h.ServeHTTP(w, r)
	})
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// guardHost refuses requests addressed to a name other than this PC's
// loopback, so that a web page cannot rebind its own name to 127.0.0.1
// and read the register.
func (s *Server) guardHost(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		ip := net.ParseIP(strings.Trim(host, "[]"))
		if !(host == "localhost" || ip != nil) {
			http.Error(w, "只能从本机打开村站通", http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func newToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// session returns the request's live session, nil if none.
func (s *Server) session(r *http.Request) *session {
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
	if now.Sub(se.lastSeen) > s.opts.IdleTimeout || now.Sub(se.started) > s.opts.MaxSession {
		delete(s.sessions, c.Value)
		return nil
	}
	se.lastSeen = now
	return se
}

func (s *Server) startSession(w http.ResponseWriter, a agent.Account) *session {
	tok := newToken()
	now := s.opts.Now()
	s.mu.Lock()
	for k, se := range s.sessions { // drop expired ones
		if now.Sub(se.lastSeen) > s.opts.IdleTimeout || now.Sub(se.started) > s.opts.MaxSession {
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

// handleGetSyncBar serves the sync bar alone, for app.js to refresh an
// open page when the link comes and goes. It peeks at the session without
// extending it: a tab left open must not keep a login alive for ever.
func (s *Server) handleGetSyncBar(w http.ResponseWriter, r *http.Request) {
	se := s.peekSession(r)
	if se == nil {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	p := page{Sync: s.syncBar(r.Context()), User: se.account.Name, Path: safeNext(r.URL.Query().Get("back"))}
	p.Enrolled = p.Sync.Enrolled
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := pagebuf.Write(w, http.StatusOK, func(b io.Writer) error { return s.tmpl["home"].ExecuteTemplate(b, "syncbar", p) }); err != nil {
		s.log.Error("sync bar", "err", err)
	}
}

// peekSession is session without touching its idle time.
func (s *Server) peekSession(r *http.Request) *session {
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
	if now.Sub(se.lastSeen) > s.opts.IdleTimeout || now.Sub(se.started) > s.opts.MaxSession {
		return nil
	}
	return se
}

func (s *Server) requireLogin(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
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

// page is what every page's template gets.
type page struct {
	Page      string // the template's name, on <body> for styles and tests
	Back      string // where an error page's "返回上一页" leads
	Path      string // this page, for the sync button to come back to
	Title     string
	Nav       string
	User      string
	Sync      syncBar
	Flash     string
	FlashKind string
	Enrolled  bool
	Data      any
}

// syncBar is the strip on top of every page: can the county be reached,
// how much waits to go up, when did the last round succeed, and why the
// last one failed.
type syncBar struct {
	Enrolled      bool
	Unconfirmed   bool // enrolled; records wait for the county to be confirmed
	Online        bool
	Pending       int
	UrgentPending int
	LastOK        string
	Reason        string
	Rejected      int
	Conflicts     int
	Storage       string
	Raw           string // the error as the program wrote it, behind 详细
	// TownshipPhone is whom to phone while an urgent visit cannot go up.
	// Filled in the settings by the cadre or installer: the county sends
	// no settings down yet.
	TownshipPhone string
}

// metaTownshipPhone is the store meta key of the township's number.
const metaTownshipPhone = "township_phone"

func (s *Server) syncBar(ctx context.Context) syncBar {
	st, _ := s.a.Status(ctx)
	b := syncBar{Enrolled: st.Enrolled, Unconfirmed: st.Unconfirmed, Pending: st.Pending, Rejected: st.Rejected, Conflicts: st.Conflicts, Storage: st.StorageError}
	b.UrgentPending = s.a.Store.UrgentPending(ctx)
	b.TownshipPhone = s.a.Store.Meta(ctx, metaTownshipPhone)
	if ms, err := strconv.ParseInt(s.a.Store.Meta(ctx, "last_ok_at"), 10, 64); err == nil && ms > 0 {
		b.LastOK = fmtTime(ms)
	}
	lastErr := s.a.Store.Meta(ctx, "last_error")
	b.Online = st.Enrolled && lastErr == "" && b.LastOK != ""
	if st.Unconfirmed {
		b.Reason = PlainReason(agent.ErrUnconfirmed.Error())
	} else if lastErr != "" {
		b.Reason, b.Raw = PlainReason(lastErr), lastErr
	} else if !st.Enrolled {
		b.Reason = "站点尚未注册：可以先离线录入，联网后再完成注册"
	}
	return b
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, se *session, status int, name string, p page) {
	t := s.tmpl[name]
	ctx := r.Context()
	p.Sync = s.syncBar(ctx)
	if r.Method == http.MethodGet {
		p.Path = r.URL.RequestURI()
	}
	p.Enrolled = p.Sync.Enrolled
	if se != nil {
		p.User = se.account.Name
		if p.Flash == "" {
			p.Flash, p.FlashKind = s.takeFlash(se)
		}
	}
	p.Page, p.Back = name, backLink(r)
	if t == nil {
		s.renderFailed(w, r, name, p, fmt.Errorf("no template %q", name))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The whole page, or an error page: never half of one.
	if err := pagebuf.Write(w, status, func(b io.Writer) error { return t.ExecuteTemplate(b, "layout", p) }); err != nil {
		s.renderFailed(w, r, name, p, err)
	}
}

func (s *Server) renderPrint(w http.ResponseWriter, r *http.Request, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := pagebuf.Write(w, http.StatusOK, func(b io.Writer) error { return s.tmpl[name].ExecuteTemplate(b, "print", data) }); err != nil {
		s.renderFailed(w, r, name, page{}, err)
	}
}

// renderFailedMsg is what a cadre reads when a page could not be drawn.
const renderFailedMsg = "页面出错了，已记录。请返回上一页或联系县民政局信息员。"

// staticErrorPage is the answer when even the error page fails.
const staticErrorPage = `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>出错了</title></head><body><h1>出错了</h1><p>` + renderFailedMsg + `</p><p><a href="/">回到首页</a></p></body></html>`

// renderFailed logs a page that could not be drawn and answers 500 with
// the error page (the sync bar and the user of p kept), or a fixed page
// when that fails too.
func (s *Server) renderFailed(w http.ResponseWriter, r *http.Request, name string, p page, err error) {
	s.log.Error("render page failed", "template", name, "path", r.URL.Path, "err", err)
	if t := s.tmpl["error"]; t != nil && name != "error" {
		p.Page, p.Back, p.Title, p.Nav, p.Data, p.Flash, p.FlashKind = "error", backLink(r), "出错了", "", renderFailedMsg, "", ""
		if pagebuf.Write(w, http.StatusInternalServerError, func(b io.Writer) error { return t.ExecuteTemplate(b, "layout", p) }) == nil {
			return
		}
	}
	w.WriteHeader(http.StatusInternalServerError)
	io.WriteString(w, staticErrorPage)
}

// backLink is where "返回上一页" leads: the page the browser came from,
// when it is one of ours, else the home page (a javascript: link would be
// refused by the Content-Security-Policy).
func backLink(r *http.Request) string {
	ref, err := url.Parse(r.Referer())
	if err != nil || ref.Host != r.Host || !strings.HasPrefix(ref.Path, "/") || strings.HasPrefix(ref.Path, "//") || ref.RequestURI() == r.URL.RequestURI() {
		return "/"
	}
	return ref.RequestURI()
}

// fail shows an error page: the record does not exist, or the store failed.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, se *session, err error) {
	status, msg := http.StatusInternalServerError, "出错了："+err.Error()
	if errors.Is(err, agent.ErrNotFound) {
		status, msg = http.StatusNotFound, "找不到这条记录，可能已被删除或链接有误"
	} else {
		s.log.Error("page failed", "path", r.URL.Path, "err", err)
	}
	s.render(w, r, se, status, "error", page{Title: "出错了", Data: msg})
}

func (s *Server) redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// Serve listens on addr and serves until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			hs.Shutdown(sctx)
			cancel()
		case <-done:
		}
	}()
	err := hs.Serve(ln)
	close(done)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
