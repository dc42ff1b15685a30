package web

import (
	"net/http"
	"time"

	"stationsync/internal/records"
	"stationsync/server"
)

// The home page, where staff land: what needs attention first. The same
// counts sit beside the menu's links on every page (render).

// homeCounts are what needs the county's attention now, for the home page
// and the menu.
type homeCounts struct {
	Urgent, Submitted, Silent int
}

// attention counts, within u's scope, 紧急 visits nobody has followed,
// applications waiting to be accepted, and stations silent for more than
// the configured days; silent lists those stations.
func (h *Handler) attention(r *http.Request, u *server.User) (homeCounts, []server.Station, int) {
	var c homeCounts
	ctx := r.Context()
	if _, n, err := h.Store.FollowUpPage(ctx, server.FollowUrgent, u.Scope(), "", h.today(), 1, 0); err == nil {
		c.Urgent = n
	}
	if st, err := h.Store.StatusCounts(ctx, u.Scope()); err == nil {
		c.Submitted = st[records.StatusSubmitted]
	}
	days := h.Store.SilentDays(ctx)
	since := h.Now().Add(-time.Duration(days) * 24 * time.Hour)
	var silent []server.Station
	if list, err := h.Store.StationsIn(ctx, u.Scope()); err == nil {
		for _, st := range list {
			if st.RevokedAt == nil && (st.LastContactAt == nil || st.LastContactAt.Before(since)) {
				silent = append(silent, st)
			}
		}
	}
	c.Silent = len(silent)
	return c, silent, days
}

// handleGetHome is where county staff land: what to do first.
func (h *Handler) handleGetHome(w http.ResponseWriter, r *http.Request, u *server.User) {
	c, silent, days := h.attention(r, u)
	urgent, _, err := h.Store.FollowUpPage(r.Context(), server.FollowUrgent, u.Scope(), "", h.today(), 10, 0)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	for _, row := range urgent {
		followCells(server.FollowUrgent, row.Cells, !u.FullNumbers)
	}
	data := map[string]any{"Counts": c, "Urgent": urgent, "UrgentCols": server.FollowUpColumns(server.FollowUrgent), "Silent": silent, "SilentDays": days}
	h.render(w, r, http.StatusOK, "home", page{Title: "首页", Nav: "home", Data: data})
}
