package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"stationsync/agent"
	"stationsync/internal/pagebuf"
)

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
	Files     *filesPart // attachments.go: a record's files, the sync page's counts
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
	p.Files = s.filesOf(r, name)
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

// safeNext keeps a page to go on to only when it is one of ours.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/"
	}
	return next
}

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
