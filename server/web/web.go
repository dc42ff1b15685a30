// Package web is the county's staff pages and public portal: server-rendered
// HTML in Simplified Chinese, with embedded CSS and server-drawn SVG charts,
// so it works on a county intranet with no internet at all.
//
// Every page runs behind a session (argon2id passwords, lockout, idle and
// absolute expiry) and http.CrossOriginProtection; every query takes the
// staff member's scope, so a township account can only ever read or change
// its own township's villages, in pages, exports and the JSON API alike.
package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"embed"
	"io/fs"
	"log/slog"
	"net"

	"stationsync/internal/pagebuf"
	"stationsync/internal/records"
	"stationsync/internal/zone"
	"stationsync/server"
)

//go:embed templates/*.html static/*
var assets embed.FS

// CookieName is the session cookie.
const CookieName = "ss_county"

// Handler serves the staff pages and the public portal.
type Handler struct {
	Store  *server.CountyStore
	Logger *slog.Logger
	Now    func() time.Time
	// Pin is appended to enrolment codes so that the station pins the
	// county's CA at enrolment (see syncproto.EnrolCode); empty without TLS.
	Pin string
	// PinSHA256 is the full fingerprint, written into enrolment files.
	PinSHA256 string
	// ServerURL is the address stations enrol with, shown with the codes.
	ServerURL string
	// FilesDir is where the county keeps the stations' files, if not
	// beside the database (server.FileConfig.Dir; the default is the
	// same).
	FilesDir string
	// ThumbCacheBytes bounds the thumbnails kept in memory (thumbs.go);
	// default 16 MiB.
	ThumbCacheBytes int64

	once  sync.Once
	mux   http.Handler
	pages map[string]*template.Template

	healthMu  sync.Mutex
	healthDay string
	login     loginGuards

	// charts caches drawn reports by chart, scope, day and data version:
	// an aggregate over a million visits is worth drawing once per change.
	chartMu sync.Mutex
	charts  map[string][]byte

	thumbs *thumbCache
}

// New returns the pages over store.
func New(store *server.CountyStore, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return &Handler{Store: store, Logger: logger, Now: time.Now}
}

// Run records the stations' sync health and refreshes the query planner's
// statistics when it starts and then once an hour (not in OpenSQLite,
// which every command-line call runs beside the server), and, within
// a minute of any change of the records, computes the county-wide
// follow-up lists ahead of the staff who will ask for them (a pass over
// every person of the county), until ctx ends.
func (h *Handler) Run(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	var lastHealth time.Time
	warmed := int64(-1)
	for {
		if time.Since(lastHealth) >= time.Hour {
			days := h.Store.SilentDays(ctx)
			if err := h.Store.SnapshotHealth(ctx, time.Duration(days)*24*time.Hour); err != nil && ctx.Err() == nil {
				h.Logger.Warn("station health snapshot", "err", err)
			}
			// The planner's statistics follow the county's growth.
			if err := h.Store.DB().Optimize(ctx); err != nil && ctx.Err() == nil {
				h.Logger.Warn("optimize", "err", err)
			}
			lastHealth = time.Now()
		}
		if v, err := h.Store.DataVersion(ctx); err == nil && v != warmed {
			for _, k := range []server.FollowUpKind{server.FollowOverdue, server.FollowUrgent, server.FollowReview} {
				h.Store.FollowUpPage(ctx, k, "", "", h.today(), 1, 0)
			}
			warmed = v
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(h.init)
	h.mux.ServeHTTP(w, r)
}

var funcs = template.FuncMap{
	"status": statusLabel, // display.go
	"role":   func(s string) string { return server.RoleLabel[s] },
	"audit":  func(s string) string { return orDefault(server.AuditLabel[s], s) },
	"time":   showTime,
	"add":    func(a, b int) int { return a + b },
	"pname":  placeLabel, // places.go
	// offset is a station's clock against the county's ("时钟准确",
	// "慢 3 分钟"), under the column heading 时钟偏差.
	"offset": func(ms int64) string { return zone.ClockText("", time.Duration(ms)*time.Millisecond) },
	"sub":    func(a, b int) int { return a - b },
	"eq2":    func(a, b string) bool { return a == b },
}

// showTime formats a time for a page in the display zone (zone.Name,
// Asia/Shanghai unless configured), whatever the server's own zone: the
// county and the stations show the same minute for the same event.
func showTime(t any) string {
	var s string
	switch t := t.(type) {
	case time.Time:
		if t.Unix() > 0 {
			s = zone.Minute(t)
		}
	case *time.Time:
		if t != nil && t.Unix() > 0 {
			s = zone.Minute(*t)
		}
	case int64:
		s = zone.MinuteMs(t)
	case *int64:
		if t != nil {
			s = zone.MinuteMs(*t)
		}
	default:
		return fmt.Sprint(t)
	}
	if s == "" {
		return "—"
	}
	return s
}

// today is now in the display zone: "today", the follow-up lists' dates
// and the charts' months are the users' calendar, not the server's.
func (h *Handler) today() time.Time { return zone.In(h.Now()) }

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (h *Handler) init() {
	h.pages = map[string]*template.Template{}
	if h.ThumbCacheBytes <= 0 {
		h.ThumbCacheBytes = defaultThumbBytes
	}
	h.thumbs = newThumbCache(h.ThumbCacheBytes)
	names, _ := fs.Glob(assets, "templates/*.html")
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", n))
		h.pages[base] = t
	}
	static, _ := fs.Sub(assets, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /login", h.handleGetLogin)
	mux.HandleFunc("POST /login", h.handlePostLogin)
	mux.HandleFunc("POST /logout", h.handlePostLogout)
	mux.HandleFunc("GET /{$}", h.auth(h.handleGetHome))
	mux.HandleFunc("GET /stations", h.auth(h.handleGetStations))
	mux.HandleFunc("POST /stations/codes", h.admin(h.handlePostCode))
	mux.HandleFunc("POST /stations/{id}/revoke", h.admin(h.handlePostRevoke))
	mux.HandleFunc("POST /places", h.admin(h.handlePostPlace))
	mux.HandleFunc("GET /records/{kind}", h.auth(h.handleGetList))
	mux.HandleFunc("GET /records/{kind}/{id}", h.auth(h.handleGetRecord))
	mux.HandleFunc("POST /records/{kind}/{id}", h.auth(h.handlePostEdit))
	mux.HandleFunc("GET /export/{kind}", h.auth(h.handleGetExport))
	mux.HandleFunc("GET /applications", h.auth(h.handleGetApplications))
	mux.HandleFunc("POST /applications/decide", h.auth(h.handlePostDecide))
	mux.HandleFunc("GET /applications/{id}/disclosure", h.auth(h.handleGetDisclosureForm))
	mux.HandleFunc("POST /applications/{id}/disclosure", h.auth(h.handlePostDisclosure))
	mux.HandleFunc("GET /followup", h.auth(h.handleGetFollowUp))
	mux.HandleFunc("GET /conflicts", h.auth(h.handleGetConflicts))
	mux.HandleFunc("POST /conflicts/{id}", h.auth(h.handlePostResolve))
	mux.HandleFunc("GET /reports", h.auth(h.handleGetReports))
	mux.HandleFunc("GET /reports/{chart}", h.auth(h.handleGetChart))
	mux.HandleFunc("GET /account", h.auth(h.handleGetAccount))
	mux.HandleFunc("POST /account", h.auth(h.handlePostAccount))
	mux.HandleFunc("GET /users", h.admin(h.handleGetUsers))
	mux.HandleFunc("POST /users", h.admin(h.handlePostUser))
	mux.HandleFunc("POST /users/{id}", h.admin(h.handlePostUserUpdate))
	mux.HandleFunc("GET /audit", h.admin(h.handleGetAudit))
	h.bundleRoutes(mux) // bundles.go: U盘数据包
	mux.HandleFunc("GET /settings", h.admin(h.handleGetSettings))
	mux.HandleFunc("POST /settings", h.admin(h.handlePostSettings))
	mux.HandleFunc("GET /api/records/{kind}", h.auth(h.handleAPIList))
	mux.HandleFunc("GET /api/records/{kind}/{id}", h.auth(h.handleAPIRecord))
	mux.HandleFunc("GET /public/{$}", h.handleGetPublic)
	mux.HandleFunc("GET /public/v/{village}", h.handleGetPublicVillage)
	mux.HandleFunc("GET /public/d/{id}", h.handleGetPublicItem)
	// Files by their hash (files.go): staff within their scope, the
	// public only a shown disclosure's.
	mux.HandleFunc("GET /files/{hash}", h.auth(h.handleGetFile(false)))
	mux.HandleFunc("GET /files/{hash}/thumb", h.auth(h.handleGetFile(true)))
	mux.HandleFunc("GET /public/f/{hash}", h.handleGetPublicFile(false))
	mux.HandleFunc("GET /public/f/{hash}/thumb", h.handleGetPublicFile(true))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, nil, http.StatusNotFound, "页面不存在")
	})
	// Same-origin forms only: a page of another site cannot make a
	// logged-in browser post here (Sec-Fetch-Site / Origin checks).
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, nil, http.StatusForbidden, "请求来自其他网站，已拒绝（跨站请求防护）。请从本系统的页面重新操作。")
	}))
	h.mux = h.secure(cop.Handler(mux))
}

// secure sets the headers every answer carries and times the request
// (Server-Timing, read by the benchmark and visible in the browser).
func (h *Handler) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
		if r.TLS != nil {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(&timed{ResponseWriter: w, start: start}, r)
	})
}

type timed struct {
	http.ResponseWriter
	start time.Time
	wrote bool
}

func (t *timed) WriteHeader(code int) {
	if !t.wrote {
		t.wrote = true
		t.Header().Set("Server-Timing", fmt.Sprintf("app;dur=%.1f", float64(time.Since(t.start).Microseconds())/1000))
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *timed) Write(b []byte) (int, error) {
	if !t.wrote {
		t.WriteHeader(http.StatusOK)
	}
	return t.ResponseWriter.Write(b)
}

func (t *timed) Flush() {
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (t *timed) Unwrap() http.ResponseWriter { return t.ResponseWriter }

type userHandler func(w http.ResponseWriter, r *http.Request, u *server.User)

type ctxKey struct{}

// auth runs next with the session's user, or sends the browser to log in.
func (h *Handler) auth(next userHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var token string
		if c, err := r.Cookie(CookieName); err == nil {
			token = c.Value
		}
		u, err := h.Store.Session(r.Context(), token)
		if err != nil {
			if !errors.Is(err, server.ErrNoSession) {
				h.fail(w, r, nil, http.StatusInternalServerError, "服务器内部错误")
				h.Logger.Error("session", "err", err)
				return
			}
			if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/") && !strings.HasPrefix(r.URL.Path, "/export/") {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			h.fail(w, r, nil, http.StatusUnauthorized, "登录已过期，请重新登录")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, u)), u)
	}
}

// admin is auth for administrators only.
func (h *Handler) admin(next userHandler) http.HandlerFunc {
	return h.auth(func(w http.ResponseWriter, r *http.Request, u *server.User) {
		if !u.Admin() {
			h.fail(w, r, u, http.StatusForbidden, "只有县级管理员可以使用这个功能")
			return
		}
		next(w, r, u)
	})
}

func remote(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (h *Handler) audit(r *http.Request, u *server.User, action, target, detail string) {
	name := ""
	if u != nil {
		name = u.Username
	}
	if err := h.Store.Audit(context.WithoutCancel(r.Context()), name, action, target, detail, remote(r)); err != nil {
		h.Logger.Error("audit", "err", err)
	}
}

// page is what every template gets.
type page struct {
	Page  string // the template's name, on <body> for styles and tests
	Back  string // where the error page's "返回上一页" leads
	Title string
	User  *server.User
	Nav   string
	Msg   string
	Err   string
	Data  any
	Names map[string]string
	Menu  *homeCounts // what waits, beside the menu's links (home.go attention)
}

var messages = map[string]string{
	"decided":  "已记录审核决定，村站下次同步时会收到。",
	"saved":    "已保存。",
	"resolved": "冲突已处理，村站下次同步时会收到结果。",
	"revoked":  "站点已停用。",
	"created":  "已创建。",
	"disc":     "已生成救助对象公示，村站下次同步时会收到。",
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if p.User == nil {
		p.User, _ = r.Context().Value(ctxKey{}).(*server.User)
	}
	t, ok := h.pages[name]
	if !ok {
		h.renderFailed(w, r, name, p.User, fmt.Errorf("no template %q", name))
		return
	}
	if p.Msg == "" {
		p.Msg = messages[r.URL.Query().Get("msg")]
	}
	if p.Names == nil {
		p.Names, _ = h.Store.PlaceNames(r.Context())
	}
	if p.User != nil && p.Menu == nil && name != "error" {
		c, _, _ := h.attention(r, p.User)
		p.Menu = &c
	}
	if p.Back == "" {
		p.Back = backLink(r)
	}
	p.Page = name
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The whole page, or an error page: never half of one.
	if err := pagebuf.Write(w, status, func(b io.Writer) error { return t.Execute(b, p) }); err != nil {
		h.renderFailed(w, r, name, p.User, err)
	}
}

// renderFailedMsg is what staff read when a page could not be drawn.
const renderFailedMsg = "页面出错了，已记录。请返回上一页或联系县民政局信息员。"

// staticErrorPage is the answer when even the error page fails.
const staticErrorPage = `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>出错了</title></head><body><h1>出错了</h1><p>` + renderFailedMsg + `</p><p><a href="/">回到首页</a></p></body></html>`

// renderFailed logs a page that could not be drawn and answers 500 with
// an error page that says so and leads back.
func (h *Handler) renderFailed(w http.ResponseWriter, r *http.Request, name string, u *server.User, err error) {
	h.Logger.Error("render page failed", "template", name, "path", r.URL.Path, "err", err)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if t, ok := h.pages["error"]; ok && name != "error" {
		p := page{Page: "error", Title: "出错了", User: u, Err: renderFailedMsg, Back: backLink(r), Names: map[string]string{}}
		if pagebuf.Write(w, http.StatusInternalServerError, func(b io.Writer) error { return t.Execute(b, p) }) == nil {
			return
		}
	}
	w.WriteHeader(http.StatusInternalServerError)
	io.WriteString(w, staticErrorPage)
}

// backLink is where "返回上一页" leads: the page the browser came from,
// when it is one of ours, else the home page. (A javascript: link would
// be refused by the Content-Security-Policy.)
func backLink(r *http.Request) string {
	ref, err := url.Parse(r.Referer())
	if err != nil || ref.Host != r.Host || !strings.HasPrefix(ref.Path, "/") || ref.RequestURI() == r.URL.RequestURI() {
		return "/"
	}
	return safeNext(ref.RequestURI())
}

// fail answers with a page (or JSON for the API) that says what went
// wrong, in Chinese.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, u *server.User, status int, msg string) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, "{\"error\":%q}\n", msg)
		return
	}
	if u == nil {
		u, _ = r.Context().Value(ctxKey{}).(*server.User)
	}
	h.render(w, r, status, "error", page{Title: "出错了", User: u, Err: msg, Names: map[string]string{}})
}

func (h *Handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	h.Logger.Error("county page failed", "path", r.URL.Path, "err", err)
	h.fail(w, r, nil, http.StatusInternalServerError, "服务器内部错误，请稍后再试；如反复出现请联系管理员")
}

func atoi(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}

// placeAllowed checks a place filter against the user's scope.
func placeAllowed(u *server.User, place string) bool {
	return place == "" || strings.HasPrefix(place, u.Scope())
}

func kindOf(s string) (records.Kind, bool) {
	k := records.Kind(s)
	return k, records.SchemaOf(k) != nil
}
