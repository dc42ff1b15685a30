package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"stationsync/internal/records"
	"stationsync/server"
)

// Conflicts the merge kept, listed with both values and where each came
// from, and settled by staff: keep, take the other value, or type one.

type conflictView struct {
	server.ConflictRow
	Label, Winner, Loser, WinnerOrigin, LoserOrigin, WinnerRaw, LoserRaw string
	CountyMay                                                            bool
	Subject, KindLabel                                                   string // whose record it is
}

func (h *Handler) conflictViews(ctx context.Context, list []server.ConflictRow, mask bool, stations map[string]string) []conflictView {
	var out []conflictView
	for _, c := range list {
		v := conflictView{ConflictRow: c, WinnerOrigin: h.originLabel(stations, c.WinnerOrigin), LoserOrigin: h.originLabel(stations, c.LoserOrigin)}
		v.Subject = h.Store.SubjectName(ctx, records.Kind(c.Kind), c.RecordID)
		v.KindLabel = kindLabel(records.Kind(c.Kind))
		v.Label = c.Field
		if s := records.SchemaOf(records.Kind(c.Kind)); s != nil {
			if f, ok := s.Field(c.Field); ok {
				v.Label = f.Label
				v.CountyMay = f.Owner != records.Station
			}
		}
		v.Winner, v.Loser = displayValue(c.Field, c.Winner, mask), displayValue(c.Field, c.Loser, mask)
		v.WinnerRaw, v.LoserRaw = string(records.Canonical(c.Winner)), string(records.Canonical(c.Loser))
		out = append(out, v)
	}
	return out
}

func (h *Handler) handleGetConflicts(w http.ResponseWriter, r *http.Request, u *server.User) {
	pg := max(1, atoi(r.URL.Query().Get("page"), 1))
	list, total, err := h.Store.OpenConflicts(r.Context(), u.Scope(), 50, (pg-1)*50)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	data := map[string]any{"Conflicts": h.conflictViews(r.Context(), list, !u.FullNumbers, h.stationLabels(r.Context())), "Total": total, "Page": pg, "Pages": max(1, (total+49)/50)}
	h.render(w, r, http.StatusOK, "conflicts", page{Title: "冲突", Nav: "conflicts", Data: data})
}

func (h *Handler) handlePostResolve(w http.ResponseWriter, r *http.Request, u *server.User) {
	c, err := h.Store.ConflictByID(r.Context(), r.PathValue("id"))
	if errors.Is(err, server.ErrNotFound) || (err == nil && !u.CanSee(c.Village)) {
		h.fail(w, r, u, http.StatusNotFound, "没有这个冲突，或不在您负责的范围内")
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	var value json.RawMessage
	detail := ""
	switch r.PostFormValue("choice") {
	case "keep":
		detail = "保留现值"
	case "loser":
		value = c.Loser
		detail = "改用另一方的值"
	case "edit":
		v := strings.TrimSpace(r.PostFormValue("value"))
		if json.Valid([]byte(v)) && (strings.HasPrefix(v, "[") || strings.HasPrefix(v, "{") || strings.HasPrefix(v, "\"")) {
			value = json.RawMessage(v)
		} else {
			value = records.JSONText(v)
		}
		detail = "改为新值"
	default:
		h.fail(w, r, u, http.StatusBadRequest, "请选择如何处理这个冲突")
		return
	}
	if err := h.Store.ResolveConflict(r.Context(), c.ID, value, u.DisplayName); err != nil {
		if errors.Is(err, server.ErrNotEditable) || errors.Is(err, server.ErrNotApplicable) {
			h.fail(w, r, u, http.StatusConflict, "不能处理："+chineseReason(err))
			return
		}
		h.internal(w, r, err)
		return
	}
	h.audit(r, u, server.AuditResolve, c.Kind+"/"+c.RecordID, c.Field+"："+detail)
	back := "/conflicts?msg=resolved"
	if r.PostFormValue("back") == "record" {
		back = "/records/" + c.Kind + "/" + url.PathEscape(c.RecordID) + "?msg=resolved"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
