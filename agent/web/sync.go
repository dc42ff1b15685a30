package web

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"stationsync/agent"
	"stationsync/internal/pagebuf"
)

// Sync: the bar on top of every page, the sync page with the changes the
// county refused and the conflicts, and the "立即同步" button.

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
