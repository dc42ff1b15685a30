package web

import (
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"stationsync/internal/records"
	"stationsync/internal/zone"
	"stationsync/server"
)

// The administrators' settings page and the audit log.

func (h *Handler) handleGetSettings(w http.ResponseWriter, r *http.Request, u *server.User) {
	p := h.Store.Policy(r.Context())
	type catDays struct {
		Cat  string
		Days int
	}
	var cats []catDays
	for _, c := range records.PersonCategories {
		cats = append(cats, catDays{c, p.Days[c]})
	}
	h.render(w, r, http.StatusOK, "settings", page{Title: "设置", Nav: "settings", Data: map[string]any{"Policy": p, "Cats": cats, "SilentDays": h.Store.SilentDays(r.Context())}})
}

func (h *Handler) handlePostSettings(w http.ResponseWriter, r *http.Request, u *server.User) {
	p := server.VisitPolicy{Days: map[string]int{}, DefaultDays: atoi(r.PostFormValue("default_days"), 90), ReviewMonth: atoi(r.PostFormValue("review_months"), 12)}
	var parts []string
	for _, c := range records.PersonCategories {
		if n := atoi(r.PostFormValue("days_"+c), 0); n > 0 {
			p.Days[c] = n
			parts = append(parts, fmt.Sprintf("%s %d天", c, n))
		}
	}
	if p.DefaultDays <= 0 || p.DefaultDays > 3650 || p.ReviewMonth <= 0 || p.ReviewMonth > 120 {
		h.fail(w, r, u, http.StatusBadRequest, "走访间隔应为1–3650天，复核周期应为1–120个月")
		return
	}
	silent := atoi(r.PostFormValue("silent_days"), 3)
	if err := h.Store.SetSetting(r.Context(), server.SettingVisitPolicy, p); err != nil {
		h.internal(w, r, err)
		return
	}
	if err := h.Store.SetSetting(r.Context(), server.SettingSilentDays, max(1, silent)); err != nil {
		h.internal(w, r, err)
		return
	}
	h.audit(r, u, server.AuditSettings, "visit_policy", fmt.Sprintf("默认%d天 %s 复核%d个月 失联%d天", p.DefaultDays, strings.Join(parts, " "), p.ReviewMonth, silent))
	http.Redirect(w, r, "/settings?msg=saved", http.StatusSeeOther)
}

func (h *Handler) handleGetAudit(w http.ResponseWriter, r *http.Request, u *server.User) {
	q := r.URL.Query()
	pg := max(1, atoi(q.Get("page"), 1))
	f := server.AuditFilter{Username: strings.TrimSpace(q.Get("user")), Action: q.Get("action"), Limit: 100, Offset: (pg - 1) * 100}
	if t, err := zone.ParseDate(q.Get("from")); err == nil {
		f.From = t
	}
	if t, err := zone.ParseDate(q.Get("to")); err == nil {
		f.To = t.AddDate(0, 0, 1)
	}
	entries, total, err := h.Store.AuditLog(r.Context(), f)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	var actions [][2]string
	for k, v := range server.AuditLabel {
		actions = append(actions, [2]string{k, v})
	}
	slices.SortFunc(actions, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	q.Del("page")
	data := map[string]any{"Entries": entries, "Total": total, "Page": pg, "Pages": max(1, (total+99)/100), "Q": q, "Query": template.URL(q.Encode()), "Actions": actions}
	h.render(w, r, http.StatusOK, "audit", page{Title: "审计日志", Nav: "audit", Data: data})
}
