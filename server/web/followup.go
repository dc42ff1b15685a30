package web

import (
	"html/template"
	"net/http"
	"strings"

	"stationsync/server"
)

// The follow-up lists: people overdue for a visit, 紧急 visits nobody
// followed up, recipients due for review; with counts per place. The
// store computes them once per change of the records (server.FollowUpPage).

var followLabels = map[server.FollowUpKind]string{server.FollowOverdue: "逾期未走访", server.FollowUrgent: "紧急情况未跟进", server.FollowReview: "待复核的救助对象（应退即退）"}

func followKind(s string) server.FollowUpKind {
	switch server.FollowUpKind(s) {
	case server.FollowUrgent, server.FollowReview:
		return server.FollowUpKind(s)
	}
	return server.FollowOverdue
}

func (h *Handler) handleGetFollowUp(w http.ResponseWriter, r *http.Request, u *server.User) {
	q := r.URL.Query()
	k := followKind(q.Get("k"))
	place := strings.TrimSpace(q.Get("place"))
	if !placeAllowed(u, place) {
		h.fail(w, r, u, http.StatusForbidden, "您只能查看本乡镇的村")
		return
	}
	pg := max(1, atoi(q.Get("page"), 1))
	d := listData{Kind: "followup", KindLabel: followLabels[k], Columns: server.FollowUpColumns(k), Follow: string(k), Filter: server.Filter{Place: place, Limit: 50}}
	rows, total, err := h.Store.FollowUpPage(r.Context(), k, u.Scope(), place, h.today(), 50, (pg-1)*50)
	for _, row := range rows {
		followCells(k, row.Cells, !u.FullNumbers)
	}
	d.Rows = rows
	if err == nil {
		d.Summary, err = h.Store.FollowUpSummary(r.Context(), k, u.Scope(), place, h.today())
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	d.Total, d.Page, d.Pages = total, pg, max(1, (total+49)/50)
	q.Del("page")
	q.Del("msg")
	q.Set("k", string(k))
	d.Query = template.URL(q.Encode())
	d.Villages = h.places(r, u)
	h.render(w, r, http.StatusOK, "followup", page{Title: "跟进", Nav: "followup", Data: d})
}
