package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"stationsync/agent"
	"stationsync/internal/loginguard"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Partials are drawn inside pages, never on their own
// (partials/attachments.html: a record's files).
//
//go:embed partials/*.html
var partialFS embed.FS

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
	// MaxUpload is what one posted form of files may carry; default
	// DefaultMaxUpload.
	MaxUpload int64
	Now       func() time.Time
	Logger    *slog.Logger
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
	if opts.MaxUpload <= 0 {
		opts.MaxUpload = DefaultMaxUpload
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
	if _, err := base.ParseFS(partialFS, "partials/*.html"); err != nil {
		return nil, fmt.Errorf("parse partials: %w", err)
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

	auth := func(pattern string, h handler) {
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

	// The new and edit forms of every kind go through the same four
	// handlers (recordform.go); each kind says what differs.
	persons, visits, apps, discs := s.personForm(), s.visitForm(), s.appForm(), s.discForm()

	auth("GET /persons", s.handleGetPersons)
	auth("GET /persons/new", s.handleGetNew(persons))
	auth("POST /persons/new", s.handlePostNew(persons))
	auth("GET /persons/{id}", s.handleGetPerson)
	auth("GET /persons/{id}/edit", s.handleGetEdit(persons))
	auth("POST /persons/{id}/edit", s.handlePostEdit(persons))
	auth("POST /persons/{id}/exit", s.handlePostReasoned(s.personExit()))
	auth("POST /persons/{id}/return", s.handlePostPersonReturn)
	auth("GET /persons/{id}/visits/new", s.handleGetNew(visits))
	auth("POST /persons/{id}/visits/new", s.handlePostNew(visits))

	auth("GET /visits", s.handleGetVisits)
	auth("GET /visits/overdue", s.handleGetOverdue)
	auth("GET /visits/{id}", s.handleGetVisit)
	auth("GET /visits/{id}/edit", s.handleGetEdit(visits))
	auth("POST /visits/{id}/edit", s.handlePostEdit(visits))
	auth("POST /visits/{id}/void", s.handlePostReasoned(s.visitVoid()))

	auth("GET /applications", s.handleGetApplications)
	auth("GET /applications/new", s.handleGetNew(apps))
	auth("POST /applications/new", s.handlePostNew(apps))
	auth("GET /applications/{id}", s.handleGetApp)
	auth("GET /applications/{id}/edit", s.handleGetEdit(apps))
	auth("POST /applications/{id}/edit", s.handlePostEdit(apps))
	auth("POST /applications/{id}/submit", s.handlePostAppSubmit)
	auth("POST /applications/{id}/withdraw", s.handlePostAppWithdraw)

	auth("GET /disclosures", s.handleGetDisclosures)
	auth("GET /disclosures/new", s.handleGetNew(discs))
	auth("POST /disclosures/new", s.handlePostNew(discs))
	auth("GET /disclosures/{id}", s.handleGetDisc)
	auth("GET /disclosures/{id}/edit", s.handleGetEdit(discs))
	auth("POST /disclosures/{id}/edit", s.handlePostEdit(discs))
	auth("POST /disclosures/{id}/publish", s.handlePostDiscPublish)
	auth("POST /disclosures/{id}/withdraw", s.handlePostDiscWithdraw)
	auth("GET /disclosures/{id}/print", s.handleGetDiscPrint)

	// Files of records (attachments.go).
	for _, fk := range fileKinds {
		auth("POST "+fk.base+"{id}/files", s.handlePostFiles(fk.kind, fk.base))
		auth("POST "+fk.base+"{id}/files/{hash}/delete", s.handlePostFileDelete(fk.kind, fk.base))
		auth("POST "+fk.base+"{id}/files/{hash}/fetch", s.handlePostFileFetch(fk.kind, fk.base))
	}
	auth("GET /files/{id}/{hash}", s.handleGetFile(false))
	auth("GET /files/{id}/{hash}/thumb", s.handleGetFile(true))

	auth("GET /sync", s.handleGetSync)
	mux.HandleFunc("GET /sync/bar", s.handleGetSyncBar)
	auth("POST /sync", s.handlePostSync)
	auth("POST /rejected/{id}/dismiss", s.handlePostDismiss)
	s.bundleRoutes(auth) // bundles.go: U盘传送
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
